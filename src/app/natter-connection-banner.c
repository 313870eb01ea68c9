/* natter-connection-banner.c: follows the session's state; while waiting to
 * retry, a timer counts the seconds down to :retry-at. When the server's
 * certificate is not trusted it says that (host and reason), not "offline":
 * waiting will not fix it, the server's admin or the user's trust must. */

#include <glib/gi18n.h>

#include "natter-connection-banner.h"

struct _NatterConnectionBanner
{
  GtkWidget      parent_instance;

  GtkRevealer   *revealer;
  GtkSpinner    *spinner;
  GtkWidget     *offline_icon;
  GtkLabel      *label;
  GtkWidget     *retry_button;

  NatterSession *session;
  guint          countdown;
  int            seconds_shown;
};

G_DEFINE_FINAL_TYPE (NatterConnectionBanner, natter_connection_banner, GTK_TYPE_WIDGET)

gboolean
natter_connection_banner_get_revealed (NatterConnectionBanner *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION_BANNER (self), FALSE);
  return gtk_revealer_get_reveal_child (self->revealer);
}

const char *
natter_connection_banner_get_text (NatterConnectionBanner *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION_BANNER (self), NULL);
  return gtk_label_get_label (self->label);
}

static void
update_countdown (NatterConnectionBanner *self)
{
  gint64 retry_at = natter_session_get_retry_at (self->session);
  gint64 left = retry_at - g_get_monotonic_time ();
  int seconds = (int) MAX (0, (left + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);

  if (seconds != self->seconds_shown)
    {
      g_autofree char *text = NULL;

      if (natter_session_get_certificate_untrusted (self->session) &&
          natter_session_get_last_error (self->session) != NULL)
        /* Translators: %s says which server's certificate is not trusted
         * and why; %d is a number of seconds, "s" their symbol */
        text = g_strdup_printf (_("%s — retrying in %d s"),
                                natter_session_get_last_error (self->session), seconds);
      else
        /* Translators: %d is a number of seconds, "s" their symbol */
        text = g_strdup_printf (_("Offline — retrying in %d s"), seconds);

      self->seconds_shown = seconds;
      gtk_label_set_label (self->label, text);
      /* The certificate's sentence is long and all of it matters: wrap it
       * rather than cut it; the tooltip keeps it whole in any case. */
      gtk_label_set_wrap (self->label, natter_session_get_certificate_untrusted (self->session));
      gtk_label_set_ellipsize (self->label, natter_session_get_certificate_untrusted (self->session)
                                              ? PANGO_ELLIPSIZE_NONE : PANGO_ELLIPSIZE_END);
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->label), text);
    }
}

static gboolean
countdown_cb (gpointer user_data)
{
  update_countdown (user_data);
  return G_SOURCE_CONTINUE;
}

static void
update (NatterConnectionBanner *self)
{
  NatterSessionState state = self->session != NULL ? natter_session_get_state (self->session)
                                                    : NATTER_SESSION_STATE_DISCONNECTED;
  gboolean waiting = state == NATTER_SESSION_STATE_WAITING_TO_RETRY;
  gboolean connecting = state == NATTER_SESSION_STATE_CONNECTING;

  g_clear_handle_id (&self->countdown, g_source_remove);
  self->seconds_shown = -1;

  gtk_widget_set_visible (self->retry_button, waiting);
  gtk_widget_set_visible (GTK_WIDGET (self->spinner), connecting);
  gtk_spinner_set_spinning (self->spinner, connecting);
  gtk_widget_set_visible (self->offline_icon, waiting);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "banner.retry-now", waiting);

  if (waiting)
    {
      update_countdown (self);
      /* A quarter second keeps the count within a glance of the truth. */
      self->countdown = g_timeout_add (250, countdown_cb, self);
    }
  else if (connecting)
    {
      gtk_label_set_label (self->label, _("Connecting…"));
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->label), NULL);
    }

  gtk_revealer_set_reveal_child (self->revealer, waiting || connecting);
}

static void
retry_now_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  NatterConnectionBanner *self = NATTER_CONNECTION_BANNER (widget);

  if (self->session != NULL)
    natter_session_retry_now (self->session);
}

void
natter_connection_banner_set_session (NatterConnectionBanner *self,
                                      NatterSession          *session)
{
  g_return_if_fail (NATTER_IS_CONNECTION_BANNER (self));

  if (self->session == session)
    return;
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_set_object (&self->session, session);
  if (session != NULL)
    {
      g_signal_connect_object (session, "notify::state", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (session, "notify::retry-at", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (session, "notify::certificate-untrusted", G_CALLBACK (update), self,
                               G_CONNECT_SWAPPED);
    }
  update (self);
}

static void
natter_connection_banner_dispose (GObject *object)
{
  NatterConnectionBanner *self = NATTER_CONNECTION_BANNER (object);

  g_clear_handle_id (&self->countdown, g_source_remove);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_CONNECTION_BANNER);
  G_OBJECT_CLASS (natter_connection_banner_parent_class)->dispose (object);
}

static void
natter_connection_banner_class_init (NatterConnectionBannerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_connection_banner_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-connection-banner.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterConnectionBanner, revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterConnectionBanner, spinner);
  gtk_widget_class_bind_template_child (widget_class, NatterConnectionBanner, offline_icon);
  gtk_widget_class_bind_template_child (widget_class, NatterConnectionBanner, label);
  gtk_widget_class_bind_template_child (widget_class, NatterConnectionBanner, retry_button);

  gtk_widget_class_install_action (widget_class, "banner.retry-now", NULL, retry_now_action);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
natter_connection_banner_init (NatterConnectionBanner *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  self->seconds_shown = -1;
  update (self);
}
