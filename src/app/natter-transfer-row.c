/* natter-transfer-row.c: follows one NatterTransfer's progress and state. */

#include <glib/gi18n.h>

#include "natter-text.h"
#include "natter-transfer-row.h"

struct _NatterTransferRow
{
  GtkWidget       parent_instance;

  GtkWidget      *box;
  GtkLabel       *label;
  GtkProgressBar *progress;
  GtkWidget      *retry_button;
  GtkWidget      *button;

  NatterTransfer *transfer;
};

G_DEFINE_FINAL_TYPE (NatterTransferRow, natter_transfer_row, GTK_TYPE_WIDGET)

NatterTransferRow *
natter_transfer_row_new (void)
{
  return g_object_new (NATTER_TYPE_TRANSFER_ROW, NULL);
}

static void
update (NatterTransferRow *self)
{
  g_autofree char *text = NULL;
  g_autofree char *size = NULL;
  const char *name;
  gint64 bytes, total;

  if (self->transfer == NULL)
    return;

  name = natter_transfer_get_file_name (self->transfer);
  bytes = natter_transfer_get_bytes (self->transfer);
  total = natter_transfer_get_total (self->transfer);
  size = natter_text_format_size (total);

  switch (natter_transfer_get_state (self->transfer))
    {
    case NATTER_TRANSFER_STATE_QUEUED:
      /* Translators: %s is a file name */
      text = g_strdup_printf (_("%s — waiting to upload"), name);
      break;
    case NATTER_TRANSFER_STATE_FAILED:
      /* Translators: a file name, then why it could not be sent */
      text = g_strdup_printf (_("%s — not sent: %s"), name,
                              natter_transfer_get_error (self->transfer) != NULL
                              ? natter_transfer_get_error (self->transfer) : _("unknown error"));
      break;
    case NATTER_TRANSFER_STATE_RUNNING:
      {
        g_autofree char *done = natter_text_format_size (bytes);

        if (natter_transfer_get_rate (self->transfer) > 0)
          {
            g_autofree char *rate = natter_text_format_size ((gint64) natter_transfer_get_rate (self->transfer));

            /* Translators: an upload: file name, bytes sent, size, speed ("2.1 MB/s") */
            text = g_strdup_printf (_("%s — %s of %s, %s/s"), name, done, size, rate);
          }
        else
          /* Translators: an upload: file name, bytes sent, size */
          text = g_strdup_printf (_("%s — %s of %s"), name, done, size);
      }
      break;
    case NATTER_TRANSFER_STATE_PAUSED:
    case NATTER_TRANSFER_STATE_DONE:
    default:
      /* Translators: a file name and its size */
      text = g_strdup_printf (_("%s (%s)"), name, size);
      break;
    }

  gtk_label_set_label (self->label, text);
  gtk_progress_bar_set_fraction (self->progress, total > 0 ? (double) bytes / total : 0);
  gtk_widget_set_visible (GTK_WIDGET (self->progress),
                          natter_transfer_get_state (self->transfer) != NATTER_TRANSFER_STATE_FAILED);
  /* Retry needs the room, which the room view keeps on the transfers it
   * started; one restored from an earlier run can only be dismissed. */
  gtk_widget_set_visible (self->retry_button,
                          natter_transfer_get_state (self->transfer) == NATTER_TRANSFER_STATE_FAILED &&
                          g_object_get_data (G_OBJECT (self->transfer), "natter-room") != NULL);
  /* The reason may be longer than the row is wide. */
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->label),
                               natter_transfer_get_state (self->transfer) == NATTER_TRANSFER_STATE_FAILED
                               ? text : NULL);
  if (natter_transfer_get_state (self->transfer) == NATTER_TRANSFER_STATE_FAILED)
    {
      gtk_widget_add_css_class (GTK_WIDGET (self->label), "error");
      gtk_widget_set_tooltip_text (self->button, _("Dismiss"));
      gtk_accessible_update_property (GTK_ACCESSIBLE (self->button),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, _("Dismiss"), -1);
    }
}

void
natter_transfer_row_set_transfer (NatterTransferRow *self,
                                  NatterTransfer    *transfer)
{
  g_return_if_fail (NATTER_IS_TRANSFER_ROW (self));

  if (self->transfer != NULL)
    g_signal_handlers_disconnect_by_data (self->transfer, self);
  g_set_object (&self->transfer, transfer);
  gtk_widget_remove_css_class (GTK_WIDGET (self->label), "error");
  if (transfer != NULL)
    {
      g_signal_connect_object (transfer, "notify::bytes", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (transfer, "notify::total", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (transfer, "notify::state", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (transfer, "notify::rate", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
      update (self);
    }
}

static void
cancel_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  NatterTransferRow *self = NATTER_TRANSFER_ROW (widget);

  if (self->transfer == NULL)
    return;
  if (natter_transfer_get_state (self->transfer) == NATTER_TRANSFER_STATE_FAILED)
    /* The room view drops failed transfers it is told about. */
    gtk_widget_activate_action (widget, "room.dismiss-transfer", "s",
                                natter_transfer_get_file_name (self->transfer));
  else
    natter_transfer_cancel (self->transfer);
}

static void
retry_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  NatterTransferRow *self = NATTER_TRANSFER_ROW (widget);
  g_autofree char *uri = NULL;

  if (self->transfer == NULL ||
      natter_transfer_get_state (self->transfer) != NATTER_TRANSFER_STATE_FAILED)
    return;
  /* The room view starts it anew, in the room it was meant for. */
  uri = g_file_get_uri (natter_transfer_get_file (self->transfer));
  gtk_widget_activate_action (widget, "room.retry-upload", "s", uri);
}

static void
natter_transfer_row_dispose (GObject *object)
{
  NatterTransferRow *self = NATTER_TRANSFER_ROW (object);

  if (self->transfer != NULL)
    g_signal_handlers_disconnect_by_data (self->transfer, self);
  g_clear_object (&self->transfer);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_TRANSFER_ROW);
  G_OBJECT_CLASS (natter_transfer_row_parent_class)->dispose (object);
}

static void
natter_transfer_row_class_init (NatterTransferRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_transfer_row_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-transfer-row.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterTransferRow, box);
  gtk_widget_class_bind_template_child (widget_class, NatterTransferRow, label);
  gtk_widget_class_bind_template_child (widget_class, NatterTransferRow, progress);
  gtk_widget_class_bind_template_child (widget_class, NatterTransferRow, retry_button);
  gtk_widget_class_bind_template_child (widget_class, NatterTransferRow, button);

  gtk_widget_class_install_action (widget_class, "transfer.cancel", NULL, cancel_action);
  gtk_widget_class_install_action (widget_class, "transfer.retry", NULL, retry_action);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
natter_transfer_row_init (NatterTransferRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
