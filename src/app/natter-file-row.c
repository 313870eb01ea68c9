/* natter-file-row.c: a file message's body. The download belongs to the
 * session's NatterFileTransfers, not to the row: the list view recycles
 * rows, and a file keeps coming down while it is scrolled out of view.
 * Open and Save As… go through portals in Flatpak (the OpenURI portal is
 * handed the open file; the save chooser is a GtkFileChooserNative), so
 * the app needs no access to the user's files. */

#include <glib/gi18n.h>

#include "natter-app-private.h"
#include "natter-file-row.h"
#include "natter-file-transfers.h"
#include "natter-text.h"
#include "natter-window.h"

/* Images up to this size come down by themselves, for their thumbnail. */
#define AUTO_DOWNLOAD_MAX_BYTES (10 * 1024 * 1024)
/* The largest a thumbnail is shown. */
#define THUMBNAIL_MAX 256

struct _NatterFileRow
{
  GtkWidget            parent_instance;

  GtkWidget           *box;
  GtkPicture          *thumbnail;
  GtkImage            *icon;
  GtkLabel            *name_label;
  GtkLabel            *detail_label;
  GtkProgressBar      *progress;
  GtkWidget           *cancel_button;
  GtkWidget           *retry_button;
  GtkWidget           *open_button;
  GtkWidget           *save_button;

  NatterSession       *session;
  NatterMessage       *message;
  NatterFileTransfers *transfers;
  NatterTransfer      *transfer;
};

G_DEFINE_FINAL_TYPE (NatterFileRow, natter_file_row, GTK_TYPE_WIDGET)

NatterFileRow *
natter_file_row_new (void)
{
  return g_object_new (NATTER_TYPE_FILE_ROW, NULL);
}

NatterMessage *
natter_file_row_get_message (NatterFileRow *self)
{
  g_return_val_if_fail (NATTER_IS_FILE_ROW (self), NULL);
  return self->message;
}

NatterTransfer *
natter_file_row_get_transfer (NatterFileRow *self)
{
  g_return_val_if_fail (NATTER_IS_FILE_ROW (self), NULL);
  return self->transfer;
}

static void
toast (GtkWindow  *window,
       const char *text)
{
  if (NATTER_IS_WINDOW (window))
    natter_window_add_toast (NATTER_WINDOW (window), text);
  else
    g_message ("%s", text);
}

static gboolean
is_image (NatterMessage *message)
{
  const char *mime = natter_message_get_file_mime (message);

  return mime != NULL && g_str_has_prefix (mime, "image/");
}

static void
update_thumbnail (NatterFileRow *self)
{
  GdkTexture *texture = NULL;

  if (self->transfers != NULL && self->message != NULL)
    texture = natter_file_transfers_get_thumbnail (self->transfers, natter_message_get_file_id (self->message));

  gtk_picture_set_paintable (self->thumbnail, GDK_PAINTABLE (texture));
  gtk_widget_set_visible (GTK_WIDGET (self->thumbnail), texture != NULL);
  gtk_widget_set_visible (GTK_WIDGET (self->icon), texture == NULL);
  if (texture != NULL)
    {
      int width = gdk_texture_get_width (texture);
      int height = gdk_texture_get_height (texture);
      double scale = MIN (1.0, (double) THUMBNAIL_MAX / MAX (1, MAX (width, height)));

      gtk_widget_set_size_request (GTK_WIDGET (self->thumbnail), width * scale, height * scale);
      gtk_picture_set_alternative_text (self->thumbnail, natter_message_get_file_name (self->message));
    }
}

static void
update (NatterFileRow *self)
{
  NatterTransferState state = NATTER_TRANSFER_STATE_DONE;
  g_autofree char *size = NULL;
  g_autofree char *detail = NULL;
  gboolean moving, failed;
  gint64 total;

  if (self->message == NULL)
    return;

  total = natter_message_get_file_size (self->message);
  if (self->transfer != NULL)
    {
      state = natter_transfer_get_state (self->transfer);
      if (natter_transfer_get_total (self->transfer) >= 0)
        total = natter_transfer_get_total (self->transfer);
    }
  moving = self->transfer != NULL && (state == NATTER_TRANSFER_STATE_QUEUED ||
                                      state == NATTER_TRANSFER_STATE_RUNNING ||
                                      state == NATTER_TRANSFER_STATE_PAUSED);
  failed = self->transfer != NULL && state == NATTER_TRANSFER_STATE_FAILED;
  size = natter_text_format_size (total);

  if (moving)
    {
      g_autofree char *done = natter_text_format_size (natter_transfer_get_bytes (self->transfer));

      /* Translators: download progress: "1.2 MB of 5.0 MB" */
      detail = g_strdup_printf (_("%s of %s"), done, size);
      gtk_progress_bar_set_fraction (self->progress,
                                     total > 0 ? (double) natter_transfer_get_bytes (self->transfer) / total : 0);
    }
  else if (failed)
    {
      const char *error = natter_transfer_get_error (self->transfer);

      /* Translators: a download failed; %s says why */
      detail = g_strdup_printf (_("Download failed: %s"), error != NULL ? error : _("unknown error"));
    }
  else
    detail = g_steal_pointer (&size);

  gtk_label_set_label (self->detail_label, detail);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->detail_label), failed ? detail : NULL);
  if (failed)
    {
      gtk_widget_add_css_class (GTK_WIDGET (self->detail_label), "error");
      gtk_widget_remove_css_class (GTK_WIDGET (self->detail_label), "dim-label");
    }
  else
    {
      gtk_widget_remove_css_class (GTK_WIDGET (self->detail_label), "error");
      gtk_widget_add_css_class (GTK_WIDGET (self->detail_label), "dim-label");
    }

  gtk_widget_set_visible (GTK_WIDGET (self->progress), moving);
  gtk_widget_set_visible (self->cancel_button, moving);
  gtk_widget_set_visible (self->retry_button, failed);
  gtk_widget_set_visible (self->open_button, !moving);
  gtk_widget_set_visible (self->save_button, !moving);
}

static void
follow (NatterFileRow  *self,
        NatterTransfer *transfer)
{
  if (self->transfer == transfer)
    return;
  if (self->transfer != NULL)
    g_signal_handlers_disconnect_by_data (self->transfer, self);
  g_set_object (&self->transfer, transfer);
  if (transfer != NULL)
    {
      g_signal_connect_object (transfer, "notify::bytes", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (transfer, "notify::total", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (transfer, "notify::state", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (transfer, "notify::error", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
    }
  update (self);
}

static void
on_thumbnail_ready (NatterFileRow *self,
                    const char    *file_id)
{
  if (self->message != NULL && g_strcmp0 (file_id, natter_message_get_file_id (self->message)) == 0)
    update_thumbnail (self);
}

/* Downloads (or finds in the cache) and follows the file; TRUE if there is one. */
static gboolean
start_download (NatterFileRow *self)
{
  g_autoptr(NatterTransfer) transfer = NULL;

  if (self->transfers == NULL || self->message == NULL || natter_message_get_file_id (self->message) == NULL)
    return FALSE;
  transfer = natter_file_transfers_download (self->transfers, self->message);
  follow (self, transfer);
  return TRUE;
}

void
natter_file_row_bind (NatterFileRow *self,
                      NatterSession *session,
                      NatterMessage *message)
{
  g_autofree char *content_type = NULL;
  g_autoptr(GIcon) icon = NULL;
  const char *file_id;

  g_return_if_fail (NATTER_IS_FILE_ROW (self));
  g_return_if_fail (NATTER_IS_SESSION (session));
  g_return_if_fail (NATTER_IS_MESSAGE (message));

  natter_file_row_unbind (self);
  self->session = g_object_ref (session);
  self->message = g_object_ref (message);
  self->transfers = g_object_ref (natter_file_transfers_get (session));
  g_signal_connect_object (self->transfers, "thumbnail-ready", G_CALLBACK (on_thumbnail_ready), self, G_CONNECT_SWAPPED);

  file_id = natter_message_get_file_id (message);
  gtk_label_set_label (self->name_label, natter_message_get_file_name (message));
  content_type = g_content_type_from_mime_type (natter_message_get_file_mime (message) != NULL
                                                ? natter_message_get_file_mime (message)
                                                : "application/octet-stream");
  icon = content_type != NULL ? g_content_type_get_symbolic_icon (content_type) : NULL;
  if (icon != NULL)
    gtk_image_set_from_gicon (self->icon, icon);
  else
    gtk_image_set_from_icon_name (self->icon, "text-x-generic-symbolic");
  /* A file that is still on its way up has no id yet: nothing to get. */
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "file.open", file_id != NULL);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "file.save-as", file_id != NULL);

  update_thumbnail (self);
  follow (self, natter_file_transfers_lookup (self->transfers, file_id));
  if (self->transfer == NULL && file_id != NULL && is_image (message) &&
      natter_message_get_file_size (message) <= AUTO_DOWNLOAD_MAX_BYTES &&
      natter_file_transfers_get_thumbnail (self->transfers, file_id) == NULL)
    start_download (self);
  update (self);
}

void
natter_file_row_unbind (NatterFileRow *self)
{
  g_return_if_fail (NATTER_IS_FILE_ROW (self));

  follow (self, NULL);
  if (self->transfers != NULL)
    g_signal_handlers_disconnect_by_data (self->transfers, self);
  g_clear_object (&self->transfers);
  g_clear_object (&self->message);
  g_clear_object (&self->session);
}

/* Open and Save As… wait for the download; the row may show another
 * message by then, so what to do is kept apart from it. */
typedef struct
{
  GtkWindow *window;      /* weak */
  GFile     *destination; /* NULL: open */
  char      *name;
} Job;

static void
job_free (Job *job)
{
  g_clear_weak_pointer (&job->window);
  g_clear_object (&job->destination);
  g_free (job->name);
  g_free (job);
}

static void
show_uri_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!gtk_show_uri_full_finish (GTK_WINDOW (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      /* Translators: a received file could not be opened; %s says why */
      g_autofree char *text = g_strdup_printf (_("Could not open the file: %s"), error->message);
      toast (GTK_WINDOW (source), text);
    }
}

static void
copy_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Job *job = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_file_copy_finish (G_FILE (source), result, &error))
    {
      /* Translators: a received file could not be saved; %s says why */
      g_autofree char *text = g_strdup_printf (_("Could not save the file: %s"), error->message);
      toast (job->window, text);
    }
  else
    {
      /* Translators: %s is a file name */
      g_autofree char *text = g_strdup_printf (_("Saved “%s”"), job->name);
      toast (job->window, text);
    }
  job_free (job);
}

static void
job_run (Job            *job,
         NatterTransfer *transfer)
{
  if (job->destination == NULL)
    {
      g_autofree char *uri = g_file_get_uri (natter_transfer_get_file (transfer));

      if (job->window != NULL)
        gtk_show_uri_full (job->window, uri, GDK_CURRENT_TIME, NULL, show_uri_cb, NULL);
      job_free (job);
      return;
    }
  g_file_copy_async (natter_transfer_get_file (transfer), job->destination,
                     G_FILE_COPY_OVERWRITE, G_PRIORITY_DEFAULT, NULL, NULL, NULL, copy_cb, job);
}

static void
on_job_transfer_state (NatterTransfer *transfer,
                       GParamSpec     *pspec,
                       Job            *job)
{
  NatterTransferState state = natter_transfer_get_state (transfer);

  if (state != NATTER_TRANSFER_STATE_DONE && state != NATTER_TRANSFER_STATE_FAILED)
    return;
  g_signal_handlers_disconnect_by_data (transfer, job);
  /* A failed download shows its reason in the row; nothing more to say. */
  if (state == NATTER_TRANSFER_STATE_DONE)
    job_run (job, transfer);
  else
    job_free (job);
  g_object_unref (transfer);
}

static void
start_job (NatterFileRow *self,
           GFile         *destination)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  Job *job;

  if (!start_download (self))
    return;
  job = g_new0 (Job, 1);
  g_set_weak_pointer (&job->window, GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL);
  job->destination = destination != NULL ? g_object_ref (destination) : NULL;
  job->name = g_strdup (natter_message_get_file_name (self->message));

  if (natter_transfer_get_state (self->transfer) == NATTER_TRANSFER_STATE_DONE)
    job_run (job, self->transfer);
  else if (natter_transfer_get_state (self->transfer) == NATTER_TRANSFER_STATE_FAILED)
    job_free (job);  /* the row shows why */
  else
    g_signal_connect (g_object_ref (self->transfer), "notify::state", G_CALLBACK (on_job_transfer_state), job);
}

void
natter_file_row_save_to (NatterFileRow *self,
                         GFile         *destination)
{
  g_return_if_fail (NATTER_IS_FILE_ROW (self));
  g_return_if_fail (G_IS_FILE (destination));

  start_job (self, destination);
}

static void
open_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  start_job (NATTER_FILE_ROW (widget), NULL);
}

static void
on_save_response (GtkNativeDialog *chooser,
                  int              response,
                  NatterFileRow   *self)
{
  NatterMessage *message = g_object_get_data (G_OBJECT (chooser), "natter-message");

  /* Only if the row still shows the file the user meant. */
  if (response == GTK_RESPONSE_ACCEPT && self->message == message)
    {
      g_autoptr(GFile) destination = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (chooser));

      if (destination != NULL)
        natter_file_row_save_to (self, destination);
    }
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
  g_object_unref (self);
}

static void
save_as_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  NatterFileRow *self = NATTER_FILE_ROW (widget);
  GtkRoot *root = gtk_widget_get_root (widget);
  GtkFileChooserNative *chooser;

  if (self->message == NULL)
    return;
  /* A native chooser is the file chooser portal in Flatpak: the file the
   * user names is made writable for the app, and nothing else is. */
  chooser = gtk_file_chooser_native_new (_("Save File"),
                                         GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                         GTK_FILE_CHOOSER_ACTION_SAVE,
                                         _("_Save"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  gtk_file_chooser_set_current_name (GTK_FILE_CHOOSER (chooser), natter_message_get_file_name (self->message));
  g_object_set_data_full (G_OBJECT (chooser), "natter-message", g_object_ref (self->message), g_object_unref);
  g_signal_connect (chooser, "response", G_CALLBACK (on_save_response), g_object_ref (self));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static void
cancel_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  NatterFileRow *self = NATTER_FILE_ROW (widget);

  if (self->transfer != NULL)
    natter_transfer_cancel (self->transfer);
}

static void
retry_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  start_download (NATTER_FILE_ROW (widget));
}

static void
natter_file_row_dispose (GObject *object)
{
  NatterFileRow *self = NATTER_FILE_ROW (object);

  natter_file_row_unbind (self);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_FILE_ROW);
  G_OBJECT_CLASS (natter_file_row_parent_class)->dispose (object);
}

static void
natter_file_row_class_init (NatterFileRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_file_row_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-file-row.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterFileRow, box);
  gtk_widget_class_bind_template_child (widget_class, NatterFileRow, thumbnail);
  gtk_widget_class_bind_template_child (widget_class, NatterFileRow, icon);
  gtk_widget_class_bind_template_child (widget_class, NatterFileRow, name_label);
  gtk_widget_class_bind_template_child (widget_class, NatterFileRow, detail_label);
  gtk_widget_class_bind_template_child (widget_class, NatterFileRow, progress);
  gtk_widget_class_bind_template_child (widget_class, NatterFileRow, cancel_button);
  gtk_widget_class_bind_template_child (widget_class, NatterFileRow, retry_button);
  gtk_widget_class_bind_template_child (widget_class, NatterFileRow, open_button);
  gtk_widget_class_bind_template_child (widget_class, NatterFileRow, save_button);

  gtk_widget_class_install_action (widget_class, "file.open", NULL, open_action);
  gtk_widget_class_install_action (widget_class, "file.save-as", NULL, save_as_action);
  gtk_widget_class_install_action (widget_class, "file.cancel", NULL, cancel_action);
  gtk_widget_class_install_action (widget_class, "file.retry", NULL, retry_action);

  gtk_widget_class_set_css_name (widget_class, "filerow");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
natter_file_row_init (NatterFileRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/* Test hooks, see natter-app-private.h */

const char *
_natter_file_row_get_name (NatterFileRow *self)
{
  return gtk_label_get_label (self->name_label);
}

const char *
_natter_file_row_get_detail (NatterFileRow *self)
{
  return gtk_label_get_label (self->detail_label);
}

GdkPaintable *
_natter_file_row_get_thumbnail (NatterFileRow *self)
{
  if (!gtk_widget_get_visible (GTK_WIDGET (self->thumbnail)))
    return NULL;
  return gtk_picture_get_paintable (self->thumbnail);
}
