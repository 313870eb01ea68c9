/* natter-send-file-dialog.c: reads what is about to be sent (names, sizes,
 * a scaled image) in a worker thread, so a large photo or a slow portal
 * file never stalls the window, and only then enables Send. */

#include <glib/gi18n.h>
#include <gdk-pixbuf/gdk-pixbuf.h>

#include "natter-send-file-dialog.h"
#include "natter-text.h"

/* The preview's box; the image is scaled to fit it while it is decoded. */
#define PREVIEW_WIDTH  360
#define PREVIEW_HEIGHT 240
/* Larger images are not decoded for a preview: memory, not looks, decides. */
#define PREVIEW_MAX_BYTES (64 * 1024 * 1024)
/* Names listed in the body before "and N more". */
#define MAX_LISTED 5
/* The dialog shows up once it knows what it shows (a window that grows
 * after mapping keeps its first size without a window manager), or after
 * this long if reading is slow. */
#define SHOW_DELAY_MS 250

struct _NatterSendFileDialog
{
  AdwMessageDialog  parent_instance;

  GtkPicture       *preview;

  GListModel       *files;
  GCancellable     *cancellable;
  guint             show_id;
  GdkTexture       *texture;
  char             *error;
  gboolean          ready;
};

G_DEFINE_FINAL_TYPE (NatterSendFileDialog, natter_send_file_dialog, ADW_TYPE_MESSAGE_DIALOG)

enum {
  PROP_0,
  PROP_READY,
  N_PROPS
};

static GParamSpec *properties [N_PROPS];

/* What the worker found out. */
typedef struct
{
  GPtrArray *names;
  GArray    *sizes;    /* gint64 */
  char      *error;
  GdkPixbuf *pixbuf;
} Facts;

static void
facts_free (gpointer data)
{
  Facts *facts = data;

  g_ptr_array_unref (facts->names);
  g_array_unref (facts->sizes);
  g_free (facts->error);
  g_clear_object (&facts->pixbuf);
  g_free (facts);
}

static void
read_files_thread (GTask        *task,
                   gpointer      source,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  GPtrArray *files = task_data;
  Facts *facts = g_new0 (Facts, 1);
  const char *single_mime = NULL;
  g_autofree char *mime = NULL;

  facts->names = g_ptr_array_new_with_free_func (g_free);
  facts->sizes = g_array_new (FALSE, FALSE, sizeof (gint64));

  for (guint i = 0; i < files->len && facts->error == NULL; i++)
    {
      GFile *file = g_ptr_array_index (files, i);
      g_autoptr(GFileInfo) info = NULL;
      g_autoptr(GError) error = NULL;
      gint64 size;

      info = g_file_query_info (file,
                                G_FILE_ATTRIBUTE_STANDARD_DISPLAY_NAME ","
                                G_FILE_ATTRIBUTE_STANDARD_TYPE ","
                                G_FILE_ATTRIBUTE_STANDARD_SIZE ","
                                G_FILE_ATTRIBUTE_STANDARD_CONTENT_TYPE,
                                G_FILE_QUERY_INFO_NONE, cancellable, &error);
      if (info == NULL)
        {
          g_autofree char *name = g_file_get_basename (file);
          /* Translators: a file name, then why it cannot be read */
          facts->error = g_strdup_printf (_("Cannot read “%s”: %s"), name, error->message);
          break;
        }
      if (g_file_info_get_file_type (info) != G_FILE_TYPE_REGULAR)
        {
          /* Translators: %s is the name of a folder or other non-file */
          facts->error = g_strdup_printf (_("“%s” is not a file: only files can be sent"),
                                          g_file_info_get_display_name (info));
          break;
        }
      size = g_file_info_get_size (info);
      g_ptr_array_add (facts->names, g_strdup (g_file_info_get_display_name (info)));
      g_array_append_val (facts->sizes, size);
      if (files->len == 1 && g_file_info_get_content_type (info) != NULL)
        {
          mime = g_content_type_get_mime_type (g_file_info_get_content_type (info));
          if (mime != NULL && g_str_has_prefix (mime, "image/") && size <= PREVIEW_MAX_BYTES)
            single_mime = mime;
        }
    }

  if (facts->error == NULL && single_mime != NULL)
    {
      g_autoptr(GFileInputStream) stream = g_file_read (g_ptr_array_index (files, 0), cancellable, NULL);

      /* No preview is no error: the file is sent as it is. */
      if (stream != NULL)
        facts->pixbuf = gdk_pixbuf_new_from_stream_at_scale (G_INPUT_STREAM (stream),
                                                             PREVIEW_WIDTH, PREVIEW_HEIGHT, TRUE,
                                                             cancellable, NULL);
      if (facts->pixbuf != NULL)
        {
          /* Photos carry their orientation in EXIF. */
          GdkPixbuf *rotated = gdk_pixbuf_apply_embedded_orientation (facts->pixbuf);

          g_object_unref (facts->pixbuf);
          facts->pixbuf = rotated;
        }
    }

  g_task_return_pointer (task, facts, facts_free);
}

static char *
describe (Facts *facts)
{
  GString *text = g_string_new (NULL);
  gint64 total = 0;

  for (guint i = 0; i < facts->names->len; i++)
    {
      gint64 size = g_array_index (facts->sizes, gint64, i);
      g_autofree char *shown = natter_text_format_size (size);

      total += size;
      if (i < MAX_LISTED)
        {
          if (text->len > 0)
            g_string_append_c (text, '\n');
          /* Translators: a file about to be sent: its name and size */
          g_string_append_printf (text, _("%s (%s)"), (const char *) g_ptr_array_index (facts->names, i), shown);
        }
    }
  if (facts->names->len > MAX_LISTED)
    {
      guint more = facts->names->len - MAX_LISTED;

      g_string_append_c (text, '\n');
      g_string_append_printf (text, g_dngettext (GETTEXT_PACKAGE, "and %u more file", "and %u more files", more),
                              more);
    }
  if (facts->names->len > 1)
    {
      g_autofree char *shown = natter_text_format_size (total);

      g_string_append_c (text, '\n');
      /* Translators: %s is the size of all files together */
      g_string_append_printf (text, _("Total: %s"), shown);
    }
  return g_string_free (text, FALSE);
}

static gboolean
show_cb (gpointer user_data)
{
  NatterSendFileDialog *self = user_data;

  self->show_id = 0;
  gtk_window_present (GTK_WINDOW (self));
  return G_SOURCE_REMOVE;
}

static void
read_files_cb (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  NatterSendFileDialog *self;
  g_autoptr(GError) error = NULL;
  Facts *facts = g_task_propagate_pointer (G_TASK (result), &error);
  g_autofree char *body = NULL;

  if (facts == NULL)
    return;  /* cancelled: the dialog is gone */
  self = NATTER_SEND_FILE_DIALOG (source);
  if (self->show_id != 0)
    {
      g_clear_handle_id (&self->show_id, g_source_remove);
      g_idle_add_full (G_PRIORITY_DEFAULT, show_cb, g_object_ref (self), g_object_unref);
    }

  if (facts->error != NULL)
    {
      self->error = g_strdup (facts->error);
      gtk_widget_set_visible (GTK_WIDGET (self->preview), FALSE);
      adw_message_dialog_set_body (ADW_MESSAGE_DIALOG (self), facts->error);
      facts_free (facts);
      return;
    }

  body = describe (facts);
  adw_message_dialog_set_body (ADW_MESSAGE_DIALOG (self), body);
  if (facts->pixbuf != NULL)
    {
      /* Translators: the accessible description of an image preview, %s is its file name */
      g_autofree char *alt = g_strdup_printf (_("Preview of %s"), (const char *) g_ptr_array_index (facts->names, 0));

      self->texture = gdk_texture_new_for_pixbuf (facts->pixbuf);
      gtk_picture_set_paintable (self->preview, GDK_PAINTABLE (self->texture));
      gtk_picture_set_alternative_text (self->preview, alt);
      gtk_accessible_update_property (GTK_ACCESSIBLE (self->preview),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, alt, -1);
      gtk_widget_set_visible (GTK_WIDGET (self->preview), TRUE);
    }
  else
    gtk_widget_set_visible (GTK_WIDGET (self->preview), FALSE);
  facts_free (facts);

  self->ready = TRUE;
  adw_message_dialog_set_response_enabled (ADW_MESSAGE_DIALOG (self), "send", TRUE);
  g_object_notify_by_pspec (G_OBJECT (self), properties [PROP_READY]);
}

NatterSendFileDialog *
natter_send_file_dialog_new (GtkWindow  *parent,
                             GListModel *files)
{
  NatterSendFileDialog *self;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GPtrArray) copy = g_ptr_array_new_with_free_func (g_object_unref);
  guint n;

  g_return_val_if_fail (parent == NULL || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (G_IS_LIST_MODEL (files), NULL);
  g_return_val_if_fail (g_list_model_get_n_items (files) > 0, NULL);

  self = g_object_new (NATTER_TYPE_SEND_FILE_DIALOG, "transient-for", parent, NULL);
  self->files = g_object_ref (files);
  n = g_list_model_get_n_items (files);
  for (guint i = 0; i < n; i++)
    g_ptr_array_add (copy, g_list_model_get_item (files, i));

  if (n == 1)
    adw_message_dialog_set_heading (ADW_MESSAGE_DIALOG (self), _("Send File?"));
  else
    adw_message_dialog_format_heading (ADW_MESSAGE_DIALOG (self),
                                       g_dngettext (GETTEXT_PACKAGE, "Send %u File?", "Send %u Files?", n), n);
  adw_message_dialog_set_body (ADW_MESSAGE_DIALOG (self), _("Reading…"));

  /* Room for the preview from the start when the name says image (a guess
   * from the name costs no I/O), so a slow preview does not resize the
   * dialog under the user's pointer. */
  if (n == 1)
    {
      g_autoptr(GFile) file = g_list_model_get_item (files, 0);
      g_autofree char *name = g_file_get_basename (file);
      g_autofree char *guess = g_content_type_guess (name, NULL, 0, NULL);
      g_autofree char *mime = guess != NULL ? g_content_type_get_mime_type (guess) : NULL;

      if (mime != NULL && g_str_has_prefix (mime, "image/"))
        gtk_widget_set_visible (GTK_WIDGET (self->preview), TRUE);
    }

  /* The task holds the dialog until the worker is done; closing the dialog
   * cancels the worker, and then nothing is shown. */
  task = g_task_new (self, self->cancellable, read_files_cb, NULL);
  g_task_set_return_on_cancel (task, FALSE);
  g_task_set_task_data (task, g_steal_pointer (&copy), (GDestroyNotify) g_ptr_array_unref);
  g_task_run_in_thread (task, read_files_thread);
  self->show_id = g_timeout_add (SHOW_DELAY_MS, show_cb, self);
  return self;
}

GListModel *
natter_send_file_dialog_get_files (NatterSendFileDialog *self)
{
  g_return_val_if_fail (NATTER_IS_SEND_FILE_DIALOG (self), NULL);
  return self->files;
}

gboolean
natter_send_file_dialog_get_ready (NatterSendFileDialog *self)
{
  g_return_val_if_fail (NATTER_IS_SEND_FILE_DIALOG (self), FALSE);
  return self->ready;
}

const char *
natter_send_file_dialog_get_error (NatterSendFileDialog *self)
{
  g_return_val_if_fail (NATTER_IS_SEND_FILE_DIALOG (self), NULL);
  return self->error;
}

GdkPaintable *
natter_send_file_dialog_get_preview (NatterSendFileDialog *self)
{
  g_return_val_if_fail (NATTER_IS_SEND_FILE_DIALOG (self), NULL);
  return self->texture != NULL ? GDK_PAINTABLE (self->texture) : NULL;
}

static void
natter_send_file_dialog_response (AdwMessageDialog *dialog,
                                  const char       *response)
{
  NatterSendFileDialog *self = NATTER_SEND_FILE_DIALOG (dialog);

  AdwMessageDialogClass *parent_class = ADW_MESSAGE_DIALOG_CLASS (natter_send_file_dialog_parent_class);

  g_cancellable_cancel (self->cancellable);
  if (parent_class->response != NULL)
    parent_class->response (dialog, response);
}

static void
natter_send_file_dialog_dispose (GObject *object)
{
  NatterSendFileDialog *self = NATTER_SEND_FILE_DIALOG (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->show_id, g_source_remove);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_SEND_FILE_DIALOG);
  G_OBJECT_CLASS (natter_send_file_dialog_parent_class)->dispose (object);
}

static void
natter_send_file_dialog_finalize (GObject *object)
{
  NatterSendFileDialog *self = NATTER_SEND_FILE_DIALOG (object);

  g_clear_object (&self->cancellable);
  g_clear_object (&self->files);
  g_clear_object (&self->texture);
  g_clear_pointer (&self->error, g_free);
  G_OBJECT_CLASS (natter_send_file_dialog_parent_class)->finalize (object);
}

static void
natter_send_file_dialog_get_property (GObject    *object,
                                      guint       prop_id,
                                      GValue     *value,
                                      GParamSpec *pspec)
{
  NatterSendFileDialog *self = NATTER_SEND_FILE_DIALOG (object);

  switch (prop_id)
    {
    case PROP_READY:
      g_value_set_boolean (value, self->ready);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_send_file_dialog_class_init (NatterSendFileDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  AdwMessageDialogClass *dialog_class = ADW_MESSAGE_DIALOG_CLASS (klass);

  object_class->dispose = natter_send_file_dialog_dispose;
  object_class->finalize = natter_send_file_dialog_finalize;
  object_class->get_property = natter_send_file_dialog_get_property;
  dialog_class->response = natter_send_file_dialog_response;

  properties [PROP_READY] =
    g_param_spec_boolean ("ready", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  /* Escape is Cancel, here as in every dialog (close-response is "cancel"). */
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-send-file-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterSendFileDialog, preview);
}

static void
natter_send_file_dialog_init (NatterSendFileDialog *self)
{
  self->cancellable = g_cancellable_new ();
  gtk_widget_init_template (GTK_WIDGET (self));
}
