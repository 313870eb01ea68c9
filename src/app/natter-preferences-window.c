/* natter-preferences-window.c: the switches are bound straight to GSettings,
 * so changes apply at once and there is nothing to save. */

#include <glib/gi18n.h>

#include "natter-preferences-window.h"

struct _NatterPreferencesWindow
{
  AdwPreferencesWindow  parent_instance;

  GtkSwitch            *notifications_switch;
  GtkSwitch            *enter_sends_switch;
  AdwActionRow         *account_row;
  GtkWidget            *sign_out_button;

  NatterApplication    *application;
};

G_DEFINE_FINAL_TYPE (NatterPreferencesWindow, natter_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static void
update_account (NatterPreferencesWindow *self)
{
  NatterSession *session = natter_application_get_session (self->application);

  if (session != NULL)
    {
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->account_row),
                                     natter_session_get_user (session));
      adw_action_row_set_subtitle (self->account_row, natter_session_get_server (session));
    }
  else
    {
      adw_preferences_row_set_title (ADW_PREFERENCES_ROW (self->account_row), _("Not signed in"));
      adw_action_row_set_subtitle (self->account_row, "");
    }
  gtk_widget_set_visible (self->sign_out_button, session != NULL);
}

NatterPreferencesWindow *
natter_preferences_window_new (NatterApplication *application)
{
  NatterPreferencesWindow *self;
  GSettings *settings;

  g_return_val_if_fail (NATTER_IS_APPLICATION (application), NULL);

  self = g_object_new (NATTER_TYPE_PREFERENCES_WINDOW, NULL);
  self->application = g_object_ref (application);
  settings = natter_application_get_settings (application);
  g_settings_bind (settings, "notifications-enabled", self->notifications_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "enter-sends", self->enter_sends_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_signal_connect_object (application, "notify::session", G_CALLBACK (update_account), self, G_CONNECT_SWAPPED);
  update_account (self);
  return self;
}

static void
natter_preferences_window_dispose (GObject *object)
{
  NatterPreferencesWindow *self = NATTER_PREFERENCES_WINDOW (object);

  g_clear_object (&self->application);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_PREFERENCES_WINDOW);
  G_OBJECT_CLASS (natter_preferences_window_parent_class)->dispose (object);
}

static void
natter_preferences_window_class_init (NatterPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_preferences_window_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, notifications_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, enter_sends_switch);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, account_row);
  gtk_widget_class_bind_template_child (widget_class, NatterPreferencesWindow, sign_out_button);
  /* AdwPreferencesWindow already closes on Escape. */
}

static void
natter_preferences_window_init (NatterPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
