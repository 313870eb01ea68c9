/* natter-application.c: the app object, its session and its app-wide
 * actions, and notifications for messages the user does not see. */

#include <glib/gi18n.h>

#include "natter-application.h"
#include "natter-preferences-window.h"
#include "natter-window.h"

struct _NatterApplication
{
  AdwApplication    parent_instance;

  GSettings        *settings;
  NatterSession    *session;
  char             *server_option;
  NatterTokenStore  token_store;
  guint             signed_out_idle;
};

G_DEFINE_FINAL_TYPE (NatterApplication, natter_application, ADW_TYPE_APPLICATION)

enum {
  PROP_0,
  PROP_SESSION,
  N_PROPS
};

static GParamSpec *properties [N_PROPS];

static void
append_env (const char *variable,
            const char *value)
{
  const char *old = g_getenv (variable);
  g_autofree char *joined = NULL;

  if (old != NULL && old[0] != '\0')
    joined = g_strconcat (old, ",", value, NULL);
  g_setenv (variable, joined != NULL ? joined : value, TRUE);
}

void
natter_application_prepare_display (void)
{
  /* GDK on X11 loads the GL driver as it opens the display, to choose a
   * visual, whatever renderer draws later. When the cairo renderer is
   * chosen nothing draws with GL: skipping the driver saved 150 ms of CPU
   * at start and 55 MiB of memory (Mesa's llvmpipe under Xvfb). */
  if (g_strcmp0 (g_getenv ("GSK_RENDERER"), "cairo") != 0)
    return;
#if GTK_CHECK_VERSION (4, 16, 0)
  append_env ("GDK_DISABLE", "gl");
#else
  append_env ("GDK_DEBUG", "gl-disable");
#endif
}

NatterApplication *
natter_application_new (const char *server)
{
  NatterApplication *self;

  self = g_object_new (NATTER_TYPE_APPLICATION,
                       "application-id", APPLICATION_ID,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       "resource-base-path", "/io/github/natter/Natter",
                       NULL);
  self->server_option = g_strdup (server);
  return self;
}

GSettings *
natter_application_get_settings (NatterApplication *self)
{
  g_return_val_if_fail (NATTER_IS_APPLICATION (self), NULL);
  return self->settings;
}

NatterSession *
natter_application_get_session (NatterApplication *self)
{
  g_return_val_if_fail (NATTER_IS_APPLICATION (self), NULL);
  return self->session;
}

const char *
natter_application_get_server_option (NatterApplication *self)
{
  g_return_val_if_fail (NATTER_IS_APPLICATION (self), NULL);
  return self->server_option;
}

NatterSession *
natter_application_create_session (NatterApplication *self,
                                   const char        *server,
                                   const char        *user)
{
  g_return_val_if_fail (NATTER_IS_APPLICATION (self), NULL);
  return natter_session_new_full (server, user, self->token_store, NULL);
}

static NatterWindow *
get_window (NatterApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (NATTER_IS_WINDOW (window))
    return NATTER_WINDOW (window);
  return NULL;
}

static NatterWindow *
ensure_window (NatterApplication *self)
{
  NatterWindow *window = get_window (self);

  if (window == NULL)
    window = natter_window_new (self);
  return window;
}

static gboolean
signed_out_idle_cb (gpointer user_data)
{
  NatterApplication *self = user_data;

  self->signed_out_idle = 0;
  if (self->session != NULL &&
      natter_session_get_state (self->session) == NATTER_SESSION_STATE_SIGNED_OUT)
    natter_application_set_session (self, NULL);
  return G_SOURCE_REMOVE;
}

static void
on_session_state_changed (NatterApplication *self)
{
  /* The token is gone or refused: back to the sign-in page, but not from
   * inside the session's own notification. */
  if (natter_session_get_state (self->session) == NATTER_SESSION_STATE_SIGNED_OUT &&
      self->signed_out_idle == 0)
    self->signed_out_idle = g_idle_add (signed_out_idle_cb, self);
}

static void
on_message_received (NatterApplication *self,
                     NatterRoom        *room,
                     NatterMessage     *message)
{
  g_autoptr(GNotification) notification = NULL;
  g_autofree char *id = NULL;
  g_autofree char *title = NULL;
  g_autofree char *body = NULL;
  NatterWindow *window;
  gboolean mention;

  if (!g_settings_get_boolean (self->settings, "notifications-enabled"))
    return;

  mention = natter_message_get_mentions_me (message);
  window = get_window (self);
  if (window != NULL &&
      gtk_window_is_active (GTK_WINDOW (window)) &&
      natter_window_get_room (window) == room)
    return;

  if (mention)
    /* Translators: the first %s is a user name, the second a room name */
    title = g_strdup_printf (_("%s mentioned you in %s"),
                             natter_message_get_from (message),
                             natter_room_get_display_name (room));
  else if (natter_room_get_is_dm (room))
    title = g_strdup (natter_message_get_from (message));
  else
    /* Translators: the first %s is a user name, the second a room name */
    title = g_strdup_printf (_("%s in %s"),
                             natter_message_get_from (message),
                             natter_room_get_display_name (room));

  if (natter_message_get_file_name (message) != NULL &&
      (natter_message_get_text (message) == NULL || natter_message_get_text (message)[0] == '\0'))
    /* Translators: %s is a file name */
    body = g_strdup_printf (_("Sent %s"), natter_message_get_file_name (message));
  else
    body = g_utf8_substring (natter_message_get_text (message), 0,
                             MIN (200, g_utf8_strlen (natter_message_get_text (message), -1)));

  notification = g_notification_new (title);
  g_notification_set_body (notification, body);
  g_notification_set_priority (notification,
                               mention ? G_NOTIFICATION_PRIORITY_HIGH
                                       : G_NOTIFICATION_PRIORITY_NORMAL);
  g_notification_set_default_action_and_target (notification, "app.open-room", "s",
                                                 natter_room_get_name (room));
  /* One notification per room: a newer message replaces the older one. */
  id = g_strdup_printf ("room:%s", natter_room_get_name (room));
  g_application_send_notification (G_APPLICATION (self), id, notification);
}

void
natter_application_set_session (NatterApplication *self,
                                NatterSession     *session)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (NATTER_IS_APPLICATION (self));
  g_return_if_fail (session == NULL || NATTER_IS_SESSION (session));

  if (self->session == session)
    return;

  if (self->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);
      natter_session_stop (self->session);
      g_clear_object (&self->session);
    }
  g_clear_handle_id (&self->signed_out_idle, g_source_remove);

  if (session != NULL)
    {
      self->session = g_object_ref (session);
      g_settings_set_string (self->settings, "last-server", natter_session_get_server (session));
      g_settings_set_string (self->settings, "last-user", natter_session_get_user (session));
      g_signal_connect_object (session, "notify::state",
                               G_CALLBACK (on_session_state_changed), self,
                               G_CONNECT_SWAPPED);
      g_signal_connect_object (session, "message-received",
                               G_CALLBACK (on_message_received), self,
                               G_CONNECT_SWAPPED);
      if (!natter_session_start (session, &error))
        {
          g_warning ("Cannot open the cache: %s", error->message);
          g_signal_handlers_disconnect_by_data (self->session, self);
          g_clear_object (&self->session);
        }
      else
        on_session_state_changed (self);
    }

  g_object_notify_by_pspec (G_OBJECT (self), properties [PROP_SESSION]);
}

static void
open_room_action (GSimpleAction *action,
                  GVariant      *parameter,
                  gpointer       user_data)
{
  NatterApplication *self = user_data;
  NatterWindow *window = ensure_window (self);
  const char *name = g_variant_get_string (parameter, NULL);

  natter_window_open_room (window, name);
  gtk_window_present (GTK_WINDOW (window));
}

static void
preferences_action (GSimpleAction *action,
                    GVariant      *parameter,
                    gpointer       user_data)
{
  NatterApplication *self = user_data;
  NatterPreferencesWindow *prefs;

  prefs = natter_preferences_window_new (self);
  gtk_window_set_transient_for (GTK_WINDOW (prefs),
                                gtk_application_get_active_window (GTK_APPLICATION (self)));
  gtk_window_present (GTK_WINDOW (prefs));
}

static void
logout_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(NatterApplication) self = user_data;
  g_autoptr(GError) error = NULL;

  /* Signing out works offline too: the token is forgotten either way. */
  if (!natter_session_logout_finish (NATTER_SESSION (object), result, &error))
    g_debug ("Logout: %s", error->message);
  if (self->session == NATTER_SESSION (object))
    natter_application_set_session (self, NULL);
}

static void
sign_out_action (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  NatterApplication *self = user_data;

  if (self->session == NULL)
    return;
  g_settings_set_string (self->settings, "last-room", "");
  natter_session_logout_async (self->session, NULL, logout_cb, g_object_ref (self));
}

static void
about_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  NatterApplication *self = user_data;
  const char *developers[] = { "The Natter developers", NULL };

  adw_show_about_window (gtk_application_get_active_window (GTK_APPLICATION (self)),
                         "application-name", _("Natter"),
                         "application-icon", APPLICATION_ID,
                         "version", PACKAGE_VERSION,
                         "developers", developers,
                         "license-type", GTK_LICENSE_GPL_3_0,
                         "translator-credits", _("translator-credits"),
                         NULL);
}

static void
quit_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  NatterApplication *self = user_data;
  GList *windows = gtk_application_get_windows (GTK_APPLICATION (self));

  /* Closing the windows saves their state; then the app ends. */
  for (GList *l = windows; l != NULL; )
    {
      GtkWindow *window = l->data;
      l = l->next;
      gtk_window_close (window);
    }
  g_application_quit (G_APPLICATION (self));
}

static const GActionEntry app_actions[] = {
  { "open-room", open_room_action, "s" },
  { "preferences", preferences_action },
  { "sign-out", sign_out_action },
  { "about", about_action },
  { "quit", quit_action },
};

static void
natter_application_startup (GApplication *app)
{
  NatterApplication *self = NATTER_APPLICATION (app);
  static const struct {
    const char *action;
    const char *accels[3];
  } accels[] = {
    { "app.quit", { "<Control>q", NULL } },
    { "app.preferences", { "<Control>comma", NULL } },
    { "win.quick-switcher", { "<Control>k", NULL } },
    { "win.join", { "<Control><Shift>j", NULL } },
    { "win.prev-room", { "<Alt>Up", NULL } },
    { "win.next-room", { "<Alt>Down", NULL } },
    { "win.prev-unread", { "<Alt><Shift>Up", NULL } },
    { "win.next-unread", { "<Alt><Shift>Down", NULL } },
    { "win.show-help-overlay", { "<Control>question", NULL } },
  };

  G_APPLICATION_CLASS (natter_application_parent_class)->startup (app);

  self->settings = g_settings_new ("io.github.natter.Natter");
  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions,
                                   G_N_ELEMENTS (app_actions), self);
  for (guint i = 0; i < G_N_ELEMENTS (accels); i++)
    gtk_application_set_accels_for_action (GTK_APPLICATION (self),
                                           accels[i].action, accels[i].accels);
}

static void
natter_application_activate (GApplication *app)
{
  NatterApplication *self = NATTER_APPLICATION (app);
  NatterWindow *window = get_window (self);

  if (window == NULL && self->session == NULL)
    {
      g_autofree char *server = g_settings_get_string (self->settings, "last-server");
      g_autofree char *user = g_settings_get_string (self->settings, "last-user");

      /* Later starts go straight to the rooms from the cache, unless
       * --server names another server. */
      if (server[0] != '\0' && user[0] != '\0' &&
          (self->server_option == NULL || g_str_equal (self->server_option, server)))
        {
          g_autoptr(NatterSession) session = natter_application_create_session (self, server, user);
          natter_application_set_session (self, session);
        }
    }

  window = ensure_window (self);
  gtk_window_present (GTK_WINDOW (window));
}

static void
natter_application_shutdown (GApplication *app)
{
  NatterApplication *self = NATTER_APPLICATION (app);

  if (self->session != NULL)
    natter_session_stop (self->session);
  G_APPLICATION_CLASS (natter_application_parent_class)->shutdown (app);
}

static void
natter_application_dispose (GObject *object)
{
  NatterApplication *self = NATTER_APPLICATION (object);

  g_clear_handle_id (&self->signed_out_idle, g_source_remove);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->session);
  g_clear_object (&self->settings);
  G_OBJECT_CLASS (natter_application_parent_class)->dispose (object);
}

static void
natter_application_finalize (GObject *object)
{
  NatterApplication *self = NATTER_APPLICATION (object);

  g_clear_pointer (&self->server_option, g_free);
  G_OBJECT_CLASS (natter_application_parent_class)->finalize (object);
}

static void
natter_application_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  NatterApplication *self = NATTER_APPLICATION (object);

  switch (prop_id)
    {
    case PROP_SESSION:
      g_value_set_object (value, self->session);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_application_class_init (NatterApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = natter_application_dispose;
  object_class->finalize = natter_application_finalize;
  object_class->get_property = natter_application_get_property;
  app_class->startup = natter_application_startup;
  app_class->activate = natter_application_activate;
  app_class->shutdown = natter_application_shutdown;

  properties [PROP_SESSION] =
    g_param_spec_object ("session", NULL, NULL, NATTER_TYPE_SESSION,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_application_init (NatterApplication *self)
{
  const char *store = g_getenv ("NATTER_TOKEN_STORE");

  /* NATTER_TOKEN_STORE=memory keeps the token in this process only: for
   * tests and for machines without a Secret Service. */
  if (g_strcmp0 (store, "memory") == 0)
    self->token_store = NATTER_TOKEN_STORE_MEMORY;
  else
    self->token_store = NATTER_TOKEN_STORE_SECRET_SERVICE;
}
