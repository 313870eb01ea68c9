/* natter-file-row.h: a file in the timeline: its name and size, a type icon
 * or a thumbnail, progress while it comes down, Cancel, Retry with the
 * reason it failed, and Open and Save As… */
#pragma once

#include <gtk/gtk.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_FILE_ROW (natter_file_row_get_type ())

G_DECLARE_FINAL_TYPE (NatterFileRow, natter_file_row, NATTER, FILE_ROW, GtkWidget)

NatterFileRow  *natter_file_row_new          (void);
/* Shows the file of @message (which must carry one). */
void            natter_file_row_bind         (NatterFileRow *self,
                                              NatterSession *session,
                                              NatterMessage *message);
void            natter_file_row_unbind       (NatterFileRow *self);
NatterMessage  *natter_file_row_get_message  (NatterFileRow *self);
/* The download shown, or NULL. */
NatterTransfer *natter_file_row_get_transfer (NatterFileRow *self);
/* Downloads the file (if it is not in the cache) and copies it to
 * @destination: what Save As… does with the place the user picked. */
void            natter_file_row_save_to      (NatterFileRow *self,
                                              GFile         *destination);

G_END_DECLS
