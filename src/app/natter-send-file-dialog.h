/* natter-send-file-dialog.h: "Send this?" before a file leaves the machine:
 * the name and size of each file, and a preview of a single image. Used by
 * the file chooser, drag and drop and paste alike. */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define NATTER_TYPE_SEND_FILE_DIALOG (natter_send_file_dialog_get_type ())

G_DECLARE_FINAL_TYPE (NatterSendFileDialog, natter_send_file_dialog, NATTER, SEND_FILE_DIALOG, AdwMessageDialog)

/* @files: GListModel of GFile (at least one). The dialog presents itself
 * once it has read the files (or soon, if that is slow), and answers with
 * the AdwMessageDialog::response "send" or "cancel" (also Escape). */
NatterSendFileDialog *natter_send_file_dialog_new         (GtkWindow            *parent,
                                                           GListModel           *files);
GListModel           *natter_send_file_dialog_get_files   (NatterSendFileDialog *self);
/* TRUE once the files were read and can be sent ("send" is enabled). */
gboolean              natter_send_file_dialog_get_ready   (NatterSendFileDialog *self);
/* Why the files cannot be sent (translated), or NULL. */
const char           *natter_send_file_dialog_get_error   (NatterSendFileDialog *self);
/* The scaled image shown for a single image, or NULL. */
GdkPaintable         *natter_send_file_dialog_get_preview (NatterSendFileDialog *self);

G_END_DECLS
