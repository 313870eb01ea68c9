/* test-app.c: UI tests of the Natter app. Each test builds the real
 * application and window against a natter-server running in this process
 * on loopback, drives it through actions and widgets, and waits by
 * iterating the main context until a condition holds (never by sleeping).
 * Snapshots of the main states go to $NATTER_SNAPSHOT_DIR as PNGs. */

#include <glib/gstdio.h>
#include <time.h>
#include <utime.h>
#include <string.h>
#include <gtk/gtk.h>

#include "natter-app-private.h"
#include "natter-application.h"
#include "natter-join-dialog.h"
#include "natter-message-row.h"
#include "natter-quick-switcher.h"
#include "natter-text.h"
#include "natter-send-file-dialog.h"
#include "natter-transfer-row.h"
#include "natter-server.h"
#include "natter-test-tls.h"

#define WAIT_SECONDS 30

static char *tmp_dir;
static guint user_counter;

/* A stand-in notification server on the test's session bus: it records
 * what the app shows and can "click" a notification. */
typedef struct
{
  guint  id;
  char  *summary;
  char  *body;
} Notification;

static GPtrArray *notifications;
static GDBusConnection *bus;

static const char notifications_xml[] =
  "<node><interface name='org.freedesktop.Notifications'>"
  "<method name='Notify'><arg type='s' direction='in'/><arg type='u' direction='in'/>"
  "<arg type='s' direction='in'/><arg type='s' direction='in'/><arg type='s' direction='in'/>"
  "<arg type='as' direction='in'/><arg type='a{sv}' direction='in'/><arg type='i' direction='in'/>"
  "<arg type='u' direction='out'/></method>"
  "<method name='GetCapabilities'><arg type='as' direction='out'/></method>"
  "<method name='CloseNotification'><arg type='u' direction='in'/></method>"
  "<method name='GetServerInformation'><arg type='s' direction='out'/><arg type='s' direction='out'/>"
  "<arg type='s' direction='out'/><arg type='s' direction='out'/></method>"
  "<signal name='ActionInvoked'><arg type='u'/><arg type='s'/></signal>"
  "<signal name='NotificationClosed'><arg type='u'/><arg type='u'/></signal>"
  "</interface></node>";

static void
notification_free (gpointer data)
{
  Notification *notification = data;

  g_free (notification->summary);
  g_free (notification->body);
  g_free (notification);
}

static void
notifications_method_call (GDBusConnection       *connection,
                           const char            *sender,
                           const char            *object_path,
                           const char            *interface_name,
                           const char            *method_name,
                           GVariant              *parameters,
                           GDBusMethodInvocation *invocation,
                           gpointer               user_data)
{
  if (g_str_equal (method_name, "Notify"))
    {
      Notification *notification = g_new0 (Notification, 1);
      guint replaces;

      g_variant_get (parameters, "(&su&sss@as@a{sv}i)", NULL, &replaces, NULL,
                     &notification->summary, &notification->body, NULL, NULL, NULL);
      notification->id = replaces != 0 ? replaces : notifications->len + 1000;
      g_ptr_array_add (notifications, notification);
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(u)", notification->id));
    }
  else if (g_str_equal (method_name, "GetCapabilities"))
    {
      const char *caps[] = { "actions", "body", NULL };
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(^as)", caps));
    }
  else if (g_str_equal (method_name, "GetServerInformation"))
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(ssss)", "test", "natter", "1", "1.2"));
  else
    g_dbus_method_invocation_return_value (invocation, NULL);
}

static const GDBusInterfaceVTable notifications_vtable = { notifications_method_call, NULL, NULL, { 0 } };

static void
start_notification_server (void)
{
  g_autoptr(GDBusNodeInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;

  notifications = g_ptr_array_new_with_free_func (notification_free);
  bus = g_bus_get_sync (G_BUS_TYPE_SESSION, NULL, &error);
  g_assert_no_error (error);
  info = g_dbus_node_info_new_for_xml (notifications_xml, &error);
  g_assert_no_error (error);
  g_dbus_connection_register_object (bus, "/org/freedesktop/Notifications", info->interfaces[0],
                                     &notifications_vtable, NULL, NULL, &error);
  g_assert_no_error (error);
  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "RequestName",
                                       g_variant_new ("(su)", "org.freedesktop.Notifications", 4),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  g_assert_no_error (error);
}

static Notification *
find_notification (const char *summary_part)
{
  for (guint i = notifications->len; i > 0; i--)
    {
      Notification *notification = g_ptr_array_index (notifications, i - 1);
      if (strstr (notification->summary, summary_part) != NULL)
        return notification;
    }
  return NULL;
}

static void
click_notification (Notification *notification)
{
  g_dbus_connection_emit_signal (bus, NULL, "/org/freedesktop/Notifications",
                                 "org.freedesktop.Notifications", "ActionInvoked",
                                 g_variant_new ("(us)", notification->id, "default"), NULL);
}

typedef struct
{
  char              *data_dir;
  NatterServer      *server;
  guint              port;
  char              *url;
  const char        *tls_cert;  /* https/wss with these when set (borrowed) */
  const char        *tls_key;
  guint64            max_file_bytes; /* the server's file limit when not 0 */
  NatterApplication *app;
  NatterWindow      *window;
  GPtrArray         *peers;     /* NatterSession: other people, via the library */
} Fixture;

/* Removes @path and everything under it: tests leave nothing in /tmp. */
static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
          remove_tree (child);
        else
          g_unlink (child);
      }
  g_rmdir (path);
}

static gboolean
wake_up (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates the main context until @cond holds; fails the test after
 * WAIT_SECONDS. A short timer only makes sure the loop wakes up to look. */
#define WAIT_UNTIL(cond) G_STMT_START {                                    \
  gint64 wait_end_ = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC; \
  guint wake_ = g_timeout_add (20, wake_up, NULL);                         \
  while (!(cond))                                                          \
    {                                                                      \
      if (g_get_monotonic_time () > wait_end_)                             \
        g_error ("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond); \
      g_main_context_iteration (NULL, TRUE);                               \
    }                                                                      \
  g_source_remove (wake_);                                                 \
} G_STMT_END

static void
spin (guint frames)
{
  /* Lets a few frames be laid out and drawn (for snapshots). */
  gint64 end = g_get_monotonic_time () + frames * 20 * 1000;
  guint wake = g_timeout_add (10, wake_up, NULL);

  while (g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (wake);
}

static char *
new_user_name (const char *prefix)
{
  return g_strdup_printf ("%s%u", prefix, ++user_counter);
}

static void
start_server (Fixture *fixture)
{
  g_autoptr(NatterServerConfig) config = natter_server_config_new ();
  g_autoptr(GError) error = NULL;

  g_free (config->address);
  config->address = g_strdup ("127.0.0.1");
  config->port = fixture->port;
  config->data_dir = g_strdup (fixture->data_dir);
  config->fast_password_hashing = TRUE;
  config->send_rate = 1000;
  config->send_burst = 1000;
  config->tls_cert_file = g_strdup (fixture->tls_cert);
  config->tls_key_file = g_strdup (fixture->tls_key);
  if (fixture->max_file_bytes != 0)
    config->max_file_bytes = fixture->max_file_bytes;

  fixture->server = natter_server_new (config);
  g_assert_true (natter_server_start (fixture->server, &error));
  g_assert_no_error (error);
  fixture->port = natter_server_get_port (fixture->server);
  if (fixture->url == NULL)
    fixture->url = natter_server_dup_base_url (fixture->server);
}

static void
stop_server (Fixture *fixture)
{
  natter_server_stop (fixture->server);
  g_clear_object (&fixture->server);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  fixture->data_dir = g_dir_make_tmp ("natter-app-server-XXXXXX", &error);
  g_assert_no_error (error);
  start_server (fixture);

  fixture->peers = g_ptr_array_new_with_free_func (g_object_unref);
  fixture->app = natter_application_new (fixture->url);
  g_application_set_flags (G_APPLICATION (fixture->app), G_APPLICATION_NON_UNIQUE);
  /* Each test exports its own app object on the bus. */
  {
    static guint n_apps;
    g_autofree char *app_id = g_strdup_printf ("io.github.natter.Natter.Test%u", ++n_apps);
    g_application_set_application_id (G_APPLICATION (fixture->app), app_id);
  }
  g_assert_true (g_application_register (G_APPLICATION (fixture->app), NULL, &error));
  g_assert_no_error (error);
  g_application_activate (G_APPLICATION (fixture->app));
  fixture->window = NATTER_WINDOW (gtk_application_get_active_window (GTK_APPLICATION (fixture->app)));
  g_assert_nonnull (fixture->window);
  g_object_ref (fixture->window);
  WAIT_UNTIL (gtk_widget_get_mapped (GTK_WIDGET (fixture->window)));
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  for (guint i = 0; i < fixture->peers->len; i++)
    natter_session_stop (g_ptr_array_index (fixture->peers, i));
  g_clear_pointer (&fixture->peers, g_ptr_array_unref);

  natter_application_set_session (fixture->app, NULL);
  gtk_window_destroy (GTK_WINDOW (fixture->window));
  g_clear_object (&fixture->window);
  g_application_quit (G_APPLICATION (fixture->app));
  g_clear_object (&fixture->app);

  if (fixture->server != NULL)
    stop_server (fixture);
  g_clear_pointer (&fixture->url, g_free);
  remove_tree (fixture->data_dir);
  g_clear_pointer (&fixture->data_dir, g_free);
  spin (2);
}

/* TRUE when no stack or revealer under @widget is still animating. */
static gboolean
settled (GtkWidget *widget)
{
  if (GTK_IS_STACK (widget) && gtk_stack_get_transition_running (GTK_STACK (widget)))
    return FALSE;
  if (GTK_IS_REVEALER (widget) &&
      gtk_revealer_get_child_revealed (GTK_REVEALER (widget)) != gtk_revealer_get_reveal_child (GTK_REVEALER (widget)))
    return FALSE;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    if (!settled (child))
      return FALSE;
  return TRUE;
}

static GskRenderNode *
snapshot_node (GdkPaintable *paintable,
               int           width,
               int           height)
{
  GtkSnapshot *snapshot = gtk_snapshot_new ();

  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  return gtk_snapshot_free_to_node (snapshot);
}

static void
save_snapshot (GtkWidget  *widget,
               const char *name)
{
  const char *dir = g_getenv ("NATTER_SNAPSHOT_DIR");
  g_autoptr(GdkPaintable) paintable = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *path = NULL;
  GskRenderNode *node;
  GskRenderer *renderer;
  int width, height;

  if (dir == NULL)
    return;

  WAIT_UNTIL (gtk_widget_get_mapped (widget) && gtk_widget_get_width (widget) > 0);
  /* Let animations end, but a banner that keeps coming and going (a
   * reconnect loop) must not stop the picture. */
  {
    gint64 end = g_get_monotonic_time () + 3 * G_USEC_PER_SEC;
    guint wake = g_timeout_add (20, wake_up, NULL);

    while (!settled (widget) && g_get_monotonic_time () < end)
      g_main_context_iteration (NULL, TRUE);
    g_source_remove (wake);
  }
  spin (2);
  width = gtk_widget_get_width (widget);
  height = gtk_widget_get_height (widget);
  paintable = gtk_widget_paintable_new (widget);
  /* The first frames may not have been drawn yet. */
  WAIT_UNTIL ((node = snapshot_node (paintable, width, height)) != NULL);
  renderer = gtk_native_get_renderer (gtk_widget_get_native (widget));
  texture = gsk_renderer_render_texture (renderer, node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  gsk_render_node_unref (node);

  path = g_strdup_printf ("%s/%s.png", dir, name);
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("snapshot: %s", path);
}

/* Helpers that drive the window */

static NatterSignInPage *
sign_in_page (Fixture *fixture)
{
  return _natter_window_get_sign_in_page (fixture->window);
}

static NatterRoomView *
room_view (Fixture *fixture)
{
  return _natter_window_get_room_view (fixture->window);
}

static void
sign_in (Fixture    *fixture,
         const char *user,
         const char *password,
         gboolean    create)
{
  _natter_sign_in_page_fill (sign_in_page (fixture), fixture->url, user, password);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (sign_in_page (fixture)),
                                             create ? "sign-in.register" : "sign-in.log-in", NULL));
}

static void
sign_up_and_wait (Fixture    *fixture,
                  const char *user)
{
  g_assert_cmpstr (_natter_window_get_page (fixture->window), ==, "sign-in");
  sign_in (fixture, user, "correct horse", TRUE);
  WAIT_UNTIL (g_strcmp0 (_natter_window_get_page (fixture->window), "main") == 0);
  WAIT_UNTIL (natter_session_get_state (natter_application_get_session (fixture->app)) ==
              NATTER_SESSION_STATE_ONLINE);
}

static GtkWindow *
find_toplevel (GType type)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GtkWindow) window = g_list_model_get_item (toplevels, i);
      if (G_TYPE_CHECK_INSTANCE_TYPE (window, type) && gtk_widget_get_visible (GTK_WIDGET (window)))
        return window;
    }
  return NULL;
}

static const char *
current_room_name (Fixture *fixture)
{
  NatterRoom *room = natter_window_get_room (fixture->window);

  return room != NULL ? natter_room_get_name (room) : NULL;
}

static void
create_room_through_dialog (Fixture    *fixture,
                            const char *name)
{
  NatterJoinDialog *dialog;

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.join", NULL));
  WAIT_UNTIL ((dialog = (NatterJoinDialog *) find_toplevel (NATTER_TYPE_JOIN_DIALOG)) != NULL);
  WAIT_UNTIL (natter_join_dialog_get_rooms (dialog) != NULL);
  natter_join_dialog_set_query (dialog, name);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dialog), "join.create", NULL));
  WAIT_UNTIL (g_strcmp0 (current_room_name (fixture), name) == 0);
  WAIT_UNTIL (find_toplevel (NATTER_TYPE_JOIN_DIALOG) == NULL);
}

static NatterMessage *
find_message (NatterRoom *room,
              const char *from,
              const char *text)
{
  GListModel *timeline = G_LIST_MODEL (natter_room_get_timeline (room));
  guint n = g_list_model_get_n_items (timeline);

  for (guint i = n; i > 0; i--)
    {
      g_autoptr(NatterMessage) message = g_list_model_get_item (timeline, i - 1);
      if (g_strcmp0 (natter_message_get_from (message), from) == 0 &&
          g_strcmp0 (natter_message_get_text (message), text) == 0)
        return message;
    }
  return NULL;
}

static gboolean
message_sent (NatterRoom *room,
              const char *from,
              const char *text)
{
  NatterMessage *message = find_message (room, from, text);

  return message != NULL && natter_message_get_state (message) == NATTER_MESSAGE_STATE_SENT;
}

static void
type_and_send (Fixture    *fixture,
               const char *text)
{
  NatterComposer *composer = _natter_room_view_get_composer (room_view (fixture));

  natter_composer_set_text (composer, text);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (composer), "composer.send", NULL));
  {
    g_autofree char *left = natter_composer_dup_text (composer);
    g_assert_cmpstr (left, ==, "");
  }
}

static gboolean
composer_is_empty (NatterComposer *composer)
{
  g_autofree char *text = natter_composer_dup_text (composer);

  return text[0] == '\0';
}

static void
press_enter_in_composer (Fixture    *fixture,
                         const char *text)
{
  NatterComposer *composer = _natter_room_view_get_composer (room_view (fixture));
  g_autofree char *with_newline = g_strconcat (text, "\n", NULL);
  g_autofree char *typed = NULL;

  /* Shift+Enter starts a new line and sends nothing... */
  natter_composer_set_text (composer, text);
  _natter_composer_press_enter (composer, GDK_SHIFT_MASK);
  typed = natter_composer_dup_text (composer);
  g_assert_cmpstr (typed, ==, with_newline);

  /* ...Enter sends (once the main loop ran). */
  _natter_composer_press_enter (composer, 0);
  WAIT_UNTIL (composer_is_empty (composer));
}

static void
store_result (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static NatterSession *
add_peer (Fixture    *fixture,
          const char *user,
          const char *room)
{
  g_autoptr(NatterSession) peer = natter_session_new_full (fixture->url, user,
                                                           NATTER_TOKEN_STORE_MEMORY, ":memory:");
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  natter_session_register_async (peer, "correct horse", NULL,
                                 store_result, &result);
  WAIT_UNTIL (result != NULL);
  g_assert_true (natter_session_register_finish (peer, result, &error));
  g_assert_no_error (error);
  g_clear_object (&result);

  g_assert_true (natter_session_start (peer, &error));
  WAIT_UNTIL (natter_session_get_state (peer) == NATTER_SESSION_STATE_ONLINE);

  if (room != NULL)
    {
      g_autoptr(NatterRoom) joined = NULL;

      natter_session_join_async (peer, room, FALSE, NULL, NULL,
                                 store_result, &result);
      WAIT_UNTIL (result != NULL);
      joined = natter_session_join_finish (peer, result, &error);
      g_assert_no_error (error);
      g_assert_nonnull (joined);
    }

  g_ptr_array_add (fixture->peers, g_object_ref (peer));
  return peer;
}

/* Tests */

static void
test_sign_in_errors (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autofree char *user = new_user_name ("erin");
  g_autofree char *taken = new_user_name ("frank");

  save_snapshot (GTK_WIDGET (fixture->window), "sign-in");

  /* A name someone else has. */
  add_peer (fixture, taken, NULL);
  sign_in (fixture, taken, "something else", TRUE);
  WAIT_UNTIL (_natter_sign_in_page_get_error (sign_in_page (fixture)) != NULL);
  g_assert_nonnull (strstr (_natter_sign_in_page_get_error (sign_in_page (fixture)), "taken"));
  g_assert_cmpstr (_natter_window_get_page (fixture->window), ==, "sign-in");

  /* The wrong password. */
  sign_in (fixture, taken, "wrong password", FALSE);
  WAIT_UNTIL (!_natter_sign_in_page_get_busy (sign_in_page (fixture)));
  g_assert_nonnull (strstr (_natter_sign_in_page_get_error (sign_in_page (fixture)), "Wrong"));
  save_snapshot (GTK_WIDGET (fixture->window), "sign-in-error");

  /* A server that is not there. */
  stop_server (fixture);
  sign_in (fixture, user, "correct horse", FALSE);
  WAIT_UNTIL (!_natter_sign_in_page_get_busy (sign_in_page (fixture)));
  g_assert_nonnull (strstr (_natter_sign_in_page_get_error (sign_in_page (fixture)), "cannot be reached"));

  /* A user name the server would refuse is caught before asking. */
  start_server (fixture);
  sign_in (fixture, "Not Valid", "correct horse", TRUE);
  g_assert_nonnull (strstr (_natter_sign_in_page_get_error (sign_in_page (fixture)), "32 characters"));

  /* And then it works. */
  sign_up_and_wait (fixture, user);
}

/* A server whose certificate the system does not trust: the sign-in page
 * says so inline, naming the host and the reason; a signed-in session
 * whose server comes back with an untrusted certificate gets a banner
 * that says that, not just "offline". */
static void
test_untrusted_certificate (Fixture       *fixture,
                            gconstpointer  user_data)
{
  g_autofree char *user = new_user_name ("ivan");
  g_autofree char *dir1 = g_build_filename (fixture->data_dir, "ca1", NULL);
  g_autofree char *dir2 = g_build_filename (fixture->data_dir, "ca2", NULL);
  g_autofree char *ca1 = NULL, *cert1 = NULL, *key1 = NULL;
  g_autofree char *ca2 = NULL, *cert2 = NULL, *key2 = NULL;
  g_autoptr(GTlsDatabase) trusted = NULL;
  g_autoptr(NatterSession) session = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  NatterConnectionBanner *banner;
  const char *shown;

  g_assert_cmpint (g_mkdir (dir1, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (dir2, 0700), ==, 0);
  if (!natter_test_make_ca_and_certificate (dir1, &ca1, &cert1, &key1) ||
      !natter_test_make_ca_and_certificate (dir2, &ca2, &cert2, &key2))
    {
      g_test_skip ("openssl is needed to make a CA");
      return;
    }

  /* The same server, now over https with a certificate from CA 1. */
  stop_server (fixture);
  g_clear_pointer (&fixture->url, g_free);
  fixture->tls_cert = cert1;
  fixture->tls_key = key1;
  start_server (fixture);
  g_assert_true (g_str_has_prefix (fixture->url, "https://127.0.0.1:"));

  sign_in (fixture, user, "correct horse", TRUE);
  WAIT_UNTIL (!_natter_sign_in_page_get_busy (sign_in_page (fixture)));
  shown = _natter_sign_in_page_get_error (sign_in_page (fixture));
  g_test_message ("sign-in page: %s", shown);
  g_assert_nonnull (shown);
  g_assert_nonnull (strstr (shown, "The certificate of 127.0.0.1 is not trusted"));
  g_assert_nonnull (strstr (shown, "unknown authority"));
  g_assert_cmpstr (_natter_window_get_page (fixture->window), ==, "sign-in");
  save_snapshot (GTK_WIDGET (fixture->window), "sign-in-untrusted-certificate");

  /* Signed in by a session told to trust CA 1 (the app has no such
   * switch: this stands for a CA the system trusts). */
  trusted = g_tls_file_database_new (ca1, &error);
  g_assert_no_error (error);
  session = natter_application_create_session (fixture->app, fixture->url, user);
  natter_session_set_tls_database (session, trusted);
  natter_session_register_async (session, "correct horse", NULL, store_result, &result);
  WAIT_UNTIL (result != NULL);
  g_assert_true (natter_session_register_finish (session, result, &error));
  g_assert_no_error (error);
  natter_application_set_session (fixture->app, session);
  WAIT_UNTIL (g_strcmp0 (_natter_window_get_page (fixture->window), "main") == 0);
  WAIT_UNTIL (natter_session_get_state (session) == NATTER_SESSION_STATE_ONLINE);
  banner = _natter_room_view_get_banner (room_view (fixture));
  g_assert_false (natter_connection_banner_get_revealed (banner));

  /* The server comes back with a certificate from CA 2, which nobody
   * trusts: the reconnect fails on it and the banner says so. */
  stop_server (fixture);
  fixture->tls_cert = cert2;
  fixture->tls_key = key2;
  start_server (fixture);
  WAIT_UNTIL (natter_session_get_certificate_untrusted (session));
  WAIT_UNTIL (natter_session_get_state (session) == NATTER_SESSION_STATE_WAITING_TO_RETRY);
  WAIT_UNTIL (natter_connection_banner_get_revealed (banner));
  WAIT_UNTIL (strstr (natter_connection_banner_get_text (banner), "not trusted") != NULL);
  g_test_message ("banner: %s", natter_connection_banner_get_text (banner));
  g_assert_nonnull (strstr (natter_connection_banner_get_text (banner), "The certificate of 127.0.0.1"));
  g_assert_nonnull (strstr (natter_connection_banner_get_text (banner), "retrying in"));
  save_snapshot (GTK_WIDGET (fixture->window), "untrusted-certificate-banner");

  natter_application_set_session (fixture->app, NULL);
  fixture->tls_cert = NULL;
  fixture->tls_key = NULL;
}

static void
test_conversation (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("alice");
  g_autofree char *them = new_user_name ("bob");
  g_autofree char *room_name = g_strdup_printf ("lobby-%s", me);
  NatterSession *peer;
  NatterRoom *peer_room;
  NatterRoom *room;
  g_autoptr(NatterMessage) answer = NULL;
  g_autoptr(NatterMessage) mention = NULL;
  g_autofree char *mention_text = NULL;

  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, room_name);
  room = natter_window_get_room (fixture->window);

  /* Through the composer: the action, then Enter. */
  type_and_send (fixture, "Hello from the app");
  WAIT_UNTIL (message_sent (room, me, "Hello from the app"));
  press_enter_in_composer (fixture, "Enter sends this one");
  WAIT_UNTIL (message_sent (room, me, "Enter sends this one"));

  /* Someone else, on the library, sees them and answers. */
  peer = add_peer (fixture, them, room_name);
  peer_room = natter_session_lookup_room (peer, room_name);
  g_assert_nonnull (peer_room);
  WAIT_UNTIL (find_message (peer_room, me, "Enter sends this one") != NULL);

  /* The typing line names who types. */
  natter_room_set_typing (peer_room, TRUE);
  WAIT_UNTIL (strstr (_natter_room_view_get_typing (room_view (fixture)), them) != NULL);
  natter_room_set_typing (peer_room, FALSE);
  WAIT_UNTIL (_natter_room_view_get_typing (room_view (fixture))[0] == '\0');
  answer = natter_room_send_text (peer_room, "Hi! Look at https://gitlab.gnome.org, it is nice.");
  WAIT_UNTIL (message_sent (room, them, "Hi! Look at https://gitlab.gnome.org, it is nice."));
  mention_text = g_strdup_printf ("@%s are you there?", me);
  mention = natter_room_send_text (peer_room, mention_text);
  WAIT_UNTIL (find_message (room, them, mention_text) != NULL);
  g_assert_true (natter_message_get_mentions_me (find_message (room, them, mention_text)));

  /* Mentions are notified; clicking the notification opens the room. */
  {
    g_autofree char *summary = g_strdup_printf ("%s mentioned you in %s", them, room_name);
    Notification *notification;

    WAIT_UNTIL ((notification = find_notification (summary)) != NULL);
    g_assert_cmpstr (notification->body, ==, mention_text);
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.open-room", "s", "general"));
    g_assert_cmpstr (current_room_name (fixture), ==, "general");
    click_notification (notification);
    WAIT_UNTIL (g_strcmp0 (current_room_name (fixture), room_name) == 0);
  }

  WAIT_UNTIL (natter_room_view_get_at_bottom (room_view (fixture)));
  save_snapshot (GTK_WIDGET (fixture->window), "main-window");
}

static void
test_offline_and_pending (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("carol");
  g_autofree char *them = new_user_name ("dave");
  g_autofree char *room_name = g_strdup_printf ("ops-%s", me);
  NatterConnectionBanner *banner;
  NatterSession *session;
  NatterSession *peer;
  NatterRoom *room;
  NatterMessage *pending;

  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, room_name);
  room = natter_window_get_room (fixture->window);
  session = natter_application_get_session (fixture->app);
  banner = _natter_room_view_get_banner (room_view (fixture));
  peer = add_peer (fixture, them, room_name);
  g_assert_false (natter_connection_banner_get_revealed (banner));

  /* The server goes away: the banner says so and counts down. */
  stop_server (fixture);
  WAIT_UNTIL (natter_session_get_state (session) == NATTER_SESSION_STATE_WAITING_TO_RETRY);
  WAIT_UNTIL (natter_connection_banner_get_revealed (banner));
  g_assert_nonnull (strstr (natter_connection_banner_get_text (banner), "retrying in"));

  /* A message written now waits, greyed, and is counted in the header. */
  type_and_send (fixture, "Written while offline");
  pending = find_message (room, me, "Written while offline");
  g_assert_nonnull (pending);
  g_assert_cmpint (natter_message_get_state (pending), ==, NATTER_MESSAGE_STATE_PENDING);
  WAIT_UNTIL (_natter_room_view_get_unsent (room_view (fixture)) != NULL);
  g_assert_cmpstr (_natter_room_view_get_unsent (room_view (fixture)), ==, "1 unsent");
  save_snapshot (GTK_WIDGET (fixture->window), "offline");

  /* Back: "Retry now" connects at once, the banner goes and the message is
   * delivered to the other member. */
  start_server (fixture);
  WAIT_UNTIL (natter_session_get_state (session) != NATTER_SESSION_STATE_CONNECTING);
  if (natter_session_get_state (session) == NATTER_SESSION_STATE_WAITING_TO_RETRY)
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (banner), "banner.retry-now", NULL));
  WAIT_UNTIL (natter_session_get_state (session) == NATTER_SESSION_STATE_ONLINE);
  WAIT_UNTIL (!natter_connection_banner_get_revealed (banner));
  WAIT_UNTIL (natter_message_get_state (pending) == NATTER_MESSAGE_STATE_SENT);
  WAIT_UNTIL (_natter_room_view_get_unsent (room_view (fixture)) == NULL);
  if (natter_session_get_state (peer) == NATTER_SESSION_STATE_WAITING_TO_RETRY)
    natter_session_retry_now (peer);
  WAIT_UNTIL (natter_session_get_state (peer) == NATTER_SESSION_STATE_ONLINE);
  WAIT_UNTIL (find_message (natter_session_lookup_room (peer, room_name), me, "Written while offline") != NULL);
}

static void
test_quick_switcher (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("gina");
  g_autofree char *first = g_strdup_printf ("kitchen-%s", me);
  g_autofree char *second = g_strdup_printf ("garden-%s", me);
  NatterQuickSwitcher *switcher;
  GListModel *matches;
  g_autoptr(NatterRoom) best = NULL;

  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, first);
  create_room_through_dialog (fixture, second);
  g_assert_cmpstr (current_room_name (fixture), ==, second);

  /* Ctrl+K, "ktch", Enter. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.quick-switcher", NULL));
  WAIT_UNTIL ((switcher = (NatterQuickSwitcher *) find_toplevel (NATTER_TYPE_QUICK_SWITCHER)) != NULL);
  natter_quick_switcher_set_query (switcher, "ktch");
  matches = natter_quick_switcher_get_matches (switcher);
  g_assert_cmpuint (g_list_model_get_n_items (matches), ==, 1);
  best = g_list_model_get_item (matches, 0);
  g_assert_cmpstr (natter_room_get_name (best), ==, first);
  save_snapshot (GTK_WIDGET (switcher), "quick-switcher");
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (switcher), "switcher.open-selected", NULL));
  WAIT_UNTIL (g_strcmp0 (current_room_name (fixture), first) == 0);
  WAIT_UNTIL (find_toplevel (NATTER_TYPE_QUICK_SWITCHER) == NULL);

  /* Alt+Up / Alt+Down walk the list (newest activity first). */
  {
    GListModel *rooms = natter_session_get_rooms (natter_application_get_session (fixture->app));
    guint n = g_list_model_get_n_items (rooms), position = 0;
    g_autoptr(NatterRoom) neighbour = NULL;
    gboolean forward;

    for (guint i = 0; i < n; i++)
      {
        g_autoptr(NatterRoom) room = g_list_model_get_item (rooms, i);
        if (g_strcmp0 (natter_room_get_name (room), first) == 0)
          position = i;
      }
    forward = position + 1 < n;
    neighbour = g_list_model_get_item (rooms, forward ? position + 1 : position - 1);
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window),
                                               forward ? "win.next-room" : "win.prev-room", NULL));
    g_assert_cmpstr (current_room_name (fixture), ==, natter_room_get_name (neighbour));
    g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window),
                                               forward ? "win.prev-room" : "win.next-room", NULL));
    g_assert_cmpstr (current_room_name (fixture), ==, first);
  }

  /* Ctrl+? shows the shortcuts window: built when first asked for (not
   * with the window), shown again after it was closed. */
  {
    g_auto(GStrv) accels = gtk_application_get_accels_for_action (GTK_APPLICATION (fixture->app),
                                                                  "win.show-help-overlay");
    GtkWindow *shortcuts;

    g_assert_nonnull (accels[0]);
    g_assert_cmpstr (accels[0], ==, "<Control>question");
    g_assert_null (find_toplevel (GTK_TYPE_SHORTCUTS_WINDOW));
    for (int round = 0; round < 2; round++)
      {
        g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.show-help-overlay", NULL));
        WAIT_UNTIL ((shortcuts = find_toplevel (GTK_TYPE_SHORTCUTS_WINDOW)) != NULL);
        g_assert_true (gtk_window_get_transient_for (shortcuts) == GTK_WINDOW (fixture->window));
        gtk_window_close (shortcuts);
        WAIT_UNTIL (find_toplevel (GTK_TYPE_SHORTCUTS_WINDOW) == NULL);
      }
  }

  /* Signing out (preferences, main menu) returns to the sign-in page. */
  g_action_group_activate_action (G_ACTION_GROUP (fixture->app), "sign-out", NULL);
  WAIT_UNTIL (natter_application_get_session (fixture->app) == NULL);
  WAIT_UNTIL (g_strcmp0 (_natter_window_get_page (fixture->window), "sign-in") == 0);
}

/* When GTK reports a widget that measures inconsistently, names it and its
 * ancestors: the pointer alone says nothing. */
static void
test_direct_message_and_leave (Fixture       *fixture,
                               gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("hana");
  g_autofree char *them = new_user_name ("ivan");
  g_autofree char *temporary = g_strdup_printf ("temp-%s", me);
  NatterSession *session;
  NatterRoom *room;

  sign_up_and_wait (fixture, me);
  session = natter_application_get_session (fixture->app);
  add_peer (fixture, them, "general");

  /* "Message" in the members popover: a DM, listed by the person's name. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.start-dm", "s", them));
  WAIT_UNTIL ((room = natter_window_get_room (fixture->window)) != NULL && natter_room_get_is_dm (room));
  g_assert_cmpstr (natter_room_get_dm_user (room), ==, them);
  g_assert_cmpstr (natter_room_get_display_name (room), ==, them);
  type_and_send (fixture, "Hello in private");
  WAIT_UNTIL (message_sent (room, me, "Hello in private"));

  /* Leave: the room goes from the list and the view moves on. */
  create_room_through_dialog (fixture, temporary);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.leave-room", NULL));
  WAIT_UNTIL (natter_session_lookup_room (session, temporary) == NULL);
  WAIT_UNTIL (g_strcmp0 (current_room_name (fixture), temporary) != 0);
}

/* The name of the room at @position of the room list. */
static char *
dup_room_at (Fixture *fixture,
             guint    position)
{
  GListModel *rooms = natter_session_get_rooms (natter_application_get_session (fixture->app));
  g_autoptr(NatterRoom) room = g_list_model_get_item (rooms, position);

  return room != NULL ? g_strdup (natter_room_get_name (room)) : NULL;
}

static gboolean
room_is_first (Fixture    *fixture,
               const char *name)
{
  g_autofree char *first = dup_room_at (fixture, 0);

  return g_strcmp0 (first, name) == 0;
}

/* TRUE when the room list shows @name selected. */
static gboolean
selected_room_is (Fixture    *fixture,
                  const char *name)
{
  GtkListView *list = GTK_LIST_VIEW (_natter_window_get_room_list (fixture->window));
  GtkSelectionModel *selection = gtk_list_view_get_model (list);
  NatterRoom *room;

  if (!GTK_IS_SINGLE_SELECTION (selection))
    return FALSE;
  room = gtk_single_selection_get_selected_item (GTK_SINGLE_SELECTION (selection));
  return room != NULL && g_strcmp0 (natter_room_get_name (room), name) == 0;
}

static void
test_rooms_by_activity (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("lena");
  g_autofree char *them = new_user_name ("milo");
  g_autofree char *quiet = g_strdup_printf ("quiet-%s", me);
  g_autofree char *busy = g_strdup_printf ("busy-%s", me);
  NatterSession *peer;
  g_autoptr(NatterMessage) first = NULL;
  g_autoptr(NatterMessage) second = NULL;
  NatterRoom *room;

  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, busy);
  create_room_through_dialog (fixture, quiet);
  type_and_send (fixture, "The quiet room speaks first");
  WAIT_UNTIL (room_is_first (fixture, quiet));

  /* Someone else writes in the other room: it moves to the top, and the
   * room in view stays the selected one. */
  peer = add_peer (fixture, them, busy);
  first = natter_room_send_text (natter_session_lookup_room (peer, busy), "Anyone here?");
  WAIT_UNTIL (room_is_first (fixture, busy));
  g_assert_cmpstr (current_room_name (fixture), ==, quiet);
  {
    g_autofree char *next = dup_room_at (fixture, 1);
    g_assert_cmpstr (next, ==, quiet);
  }
  WAIT_UNTIL (selected_room_is (fixture, quiet));

  /* Writing in the quiet one brings it back up. */
  room = natter_window_get_room (fixture->window);
  type_and_send (fixture, "Back on top");
  WAIT_UNTIL (message_sent (room, me, "Back on top"));
  WAIT_UNTIL (room_is_first (fixture, quiet));

  /* Older activity stays below newer: the peer's next message in the busy
   * room moves it up again, without touching the others' order. */
  second = natter_room_send_text (natter_session_lookup_room (peer, busy), "Still here");
  WAIT_UNTIL (room_is_first (fixture, busy));
  {
    g_autofree char *next = dup_room_at (fixture, 1);
    g_assert_cmpstr (next, ==, quiet);
  }
  save_snapshot (GTK_WIDGET (fixture->window), "rooms-by-activity");
}

/* TRUE when @room's members are exactly @users, in that order. */
static gboolean
members_are (NatterRoom         *room,
             const char * const *users)
{
  GListModel *members = natter_room_get_members (room);
  guint n = g_list_model_get_n_items (members);

  if (n != g_strv_length ((char **) users))
    return FALSE;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterMember) member = g_list_model_get_item (members, i);
      if (g_strcmp0 (natter_member_get_user (member), users[i]) != 0)
        return FALSE;
    }
  return TRUE;
}

static void
test_members_by_presence (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("mia");
  g_autofree char *early = new_user_name ("aaron");
  g_autofree char *late = new_user_name ("zed");
  g_autofree char *room_name = g_strdup_printf ("team-%s", me);
  NatterSession *session;
  NatterSession *leaving;
  NatterRoom *room;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  sign_up_and_wait (fixture, me);
  session = natter_application_get_session (fixture->app);
  create_room_through_dialog (fixture, room_name);
  room = natter_window_get_room (fixture->window);
  leaving = add_peer (fixture, early, room_name);
  add_peer (fixture, late, room_name);

  /* Everyone online: by name. */
  natter_session_fetch_members_async (session, room, NULL, store_result, &result);
  WAIT_UNTIL (result != NULL);
  g_assert_true (natter_session_fetch_members_finish (session, result, &error));
  g_assert_no_error (error);
  {
    const char *order[] = { early, me, late, NULL };
    WAIT_UNTIL (members_are (room, order));
  }

  /* One of them goes offline: below the ones online, and back on top of
   * the list when they return. */
  natter_session_stop (leaving);
  {
    const char *order[] = { me, late, early, NULL };
    WAIT_UNTIL (members_are (room, order));
  }
  g_assert_true (natter_session_start (leaving, &error));
  g_assert_no_error (error);
  {
    const char *order[] = { early, me, late, NULL };
    WAIT_UNTIL (members_are (room, order));
  }
}

static void
test_load_older (Fixture       *fixture,
                 gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("jo");
  g_autofree char *them = new_user_name ("kai");
  g_autofree char *room_name = g_strdup_printf ("history-%s", me);
  g_autoptr(GPtrArray) sent = g_ptr_array_new_with_free_func (g_object_unref);
  NatterSession *peer;
  NatterRoom *peer_room;
  NatterRoom *room;
  NatterTimeline *timeline;
  GtkAdjustment *adjustment;
  guint n_before;
  const guint n_messages = 160;

  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, room_name);
  room = natter_window_get_room (fixture->window);
  timeline = natter_room_get_timeline (room);
  peer = add_peer (fixture, them, room_name);
  peer_room = natter_session_lookup_room (peer, room_name);

  for (guint i = 1; i <= n_messages; i++)
    {
      g_autofree char *text = g_strdup_printf ("History line %u", i);
      g_ptr_array_add (sent, natter_room_send_text (peer_room, text));
    }
  WAIT_UNTIL (find_message (room, them, "History line 160") != NULL);
  WAIT_UNTIL (natter_room_view_get_at_bottom (room_view (fixture)));

  /* Leaving the view trims the timeline; coming back shows the newest. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.open-room", "s", "general"));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (fixture->window), "win.open-room", "s", room_name));
  n_before = g_list_model_get_n_items (G_LIST_MODEL (timeline));
  g_assert_cmpuint (n_before, <, n_messages);
  g_assert_false (natter_timeline_get_at_start (timeline));
  /* The list view gets a window over the end of the timeline: rows to fill
   * it, not a row for every message in memory. */
  {
    GtkListView *view = GTK_LIST_VIEW (_natter_room_view_get_timeline_view (room_view (fixture)));

    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (gtk_list_view_get_model (view))), <, n_before);
  }

  /* Scrolled to the top edge, older pages come in until the first one. */
  adjustment = gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (_natter_room_view_get_timeline_view (room_view (fixture))));
  while (!natter_timeline_get_at_start (timeline))
    {
      guint n = g_list_model_get_n_items (G_LIST_MODEL (timeline));

      /* Held at the top, as a user dragging the scrollbar up would. */
      WAIT_UNTIL ((gtk_adjustment_set_value (adjustment, 0),
                   g_list_model_get_n_items (G_LIST_MODEL (timeline)) > n ||
                   natter_timeline_get_at_start (timeline)));
    }
  g_assert_nonnull (find_message (room, them, "History line 1"));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), >, n_before);
  g_assert_false (natter_room_view_get_at_bottom (room_view (fixture)));

  /* "Jump to the newest message" goes back down. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (room_view (fixture)), "room.scroll-to-bottom", NULL));
  WAIT_UNTIL (gtk_adjustment_get_value (adjustment) + gtk_adjustment_get_page_size (adjustment) >=
              gtk_adjustment_get_upper (adjustment) - 1);
}

static NatterMessage *
find_file_message (NatterRoom *room,
                   const char *file_name)
{
  GListModel *timeline = G_LIST_MODEL (natter_room_get_timeline (room));

  for (guint i = g_list_model_get_n_items (timeline); i > 0; i--)
    {
      g_autoptr(NatterMessage) message = g_list_model_get_item (timeline, i - 1);
      if (g_strcmp0 (natter_message_get_file_name (message), file_name) == 0)
        return message;
    }
  return NULL;
}

static void
test_send_file (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("lena");
  g_autofree char *them = new_user_name ("milo");
  g_autofree char *room_name = g_strdup_printf ("files-%s", me);
  g_autofree char *path = g_build_filename (tmp_dir, "meeting-notes.txt", NULL);
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GError) error = NULL;
  NatterSession *peer;
  NatterRoom *room;
  NatterMessage *message;

  g_assert_true (g_file_set_contents (path, "Agenda: ship it.\n", -1, &error));
  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, room_name);
  room = natter_window_get_room (fixture->window);
  peer = add_peer (fixture, them, room_name);

  /* What the attach button and a drop do with the chosen file. */
  _natter_room_view_upload_file (room_view (fixture), file);
  WAIT_UNTIL ((message = find_file_message (room, "meeting-notes.txt")) != NULL &&
              natter_message_get_state (message) == NATTER_MESSAGE_STATE_SENT);
  g_assert_cmpint (natter_message_get_file_size (message), ==, 17);
  WAIT_UNTIL (find_file_message (natter_session_lookup_room (peer, room_name), "meeting-notes.txt") != NULL);
  save_snapshot (GTK_WIDGET (fixture->window), "file-sent");
}

static GtkWidget *
find_row_for (GtkWidget     *widget,
              NatterMessage *message)
{
  if (NATTER_IS_MESSAGE_ROW (widget) &&
      natter_message_row_get_message (NATTER_MESSAGE_ROW (widget)) == message)
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_row_for (child, message);
      if (found != NULL)
        return found;
    }
  return NULL;
}

static void
test_failed_message (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("nora");
  g_autofree char *room_name = g_strdup_printf ("limits-%s", me);
  g_autoptr(NatterMessage) failed = NULL;
  g_autofree char *huge = NULL;
  NatterRoom *room;
  GtkWidget *row;

  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, room_name);
  room = natter_window_get_room (fixture->window);

  /* The composer refuses text over the server's 16 KiB limit itself; the
   * library does not, so the server says no and the message fails. */
  huge = g_strnfill (17 * 1024, 'x');
  failed = natter_room_send_text (room, huge);
  WAIT_UNTIL (natter_message_get_state (failed) == NATTER_MESSAGE_STATE_FAILED);
  WAIT_UNTIL ((row = find_row_for (_natter_room_view_get_timeline_view (room_view (fixture)), failed)) != NULL);
  WAIT_UNTIL (natter_session_get_state (natter_application_get_session (fixture->app)) == NATTER_SESSION_STATE_ONLINE);
  save_snapshot (GTK_WIDGET (fixture->window), "failed-message");

  /* Discard, from the row's own button action. */
  g_assert_true (gtk_widget_activate_action (row, "message.discard", NULL));
  WAIT_UNTIL (find_message (room, me, huge) == NULL);
}

/* Files: confirmation, progress, file rows */

static GtkWidget *
find_button (GtkWidget  *widget,
             const char *label)
{
  if (GTK_IS_BUTTON (widget) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (widget)), label) == 0)
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_button (child, label);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* The drop target that takes files dropped on the room view. */
static GtkDropTarget *
find_drop_target (GtkWidget *widget)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (widget);

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GtkEventController) controller = g_list_model_get_item (controllers, i);

      if (GTK_IS_DROP_TARGET (controller))
        return GTK_DROP_TARGET (controller);
    }
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      GtkDropTarget *found = find_drop_target (child);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* Presses Escape on @window as its key bindings see it: the shortcut the
 * class installed for Escape runs. FALSE if there is none. */
static gboolean
press_escape (GtkWidget *window)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (window);

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GtkEventController) controller = g_list_model_get_item (controllers, i);

      if (!GTK_IS_SHORTCUT_CONTROLLER (controller))
        continue;
      for (guint j = 0; j < g_list_model_get_n_items (G_LIST_MODEL (controller)); j++)
        {
          g_autoptr(GtkShortcut) shortcut = g_list_model_get_item (G_LIST_MODEL (controller), j);
          GtkShortcutTrigger *trigger = gtk_shortcut_get_trigger (shortcut);

          if (GTK_IS_KEYVAL_TRIGGER (trigger) &&
              gtk_keyval_trigger_get_keyval (GTK_KEYVAL_TRIGGER (trigger)) == GDK_KEY_Escape &&
              gtk_keyval_trigger_get_modifiers (GTK_KEYVAL_TRIGGER (trigger)) == 0)
            return gtk_shortcut_action_activate (gtk_shortcut_get_action (shortcut), GTK_SHORTCUT_ACTION_EXCLUSIVE,
                                                 window, gtk_shortcut_get_arguments (shortcut));
        }
    }
  return FALSE;
}

static void
write_test_image (const char *path,
                  int         width,
                  int         height)
{
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  g_autoptr(GError) error = NULL;

  gdk_pixbuf_fill (pixbuf, 0x3584e4ff);
  g_assert_true (gdk_pixbuf_save (pixbuf, path, "png", &error, NULL));
  g_assert_no_error (error);
}

static gint64
file_size (const char *path)
{
  GStatBuf buf;

  g_assert_cmpint (g_stat (path, &buf), ==, 0);
  return buf.st_size;
}

static void
test_send_file_confirm (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("iris");
  g_autofree char *them = new_user_name ("otto");
  g_autofree char *room_name = g_strdup_printf ("photos-%s", me);
  g_autofree char *path = g_build_filename (tmp_dir, "harbour.png", NULL);
  g_autofree char *size = NULL;
  g_autofree char *folder = g_build_filename (tmp_dir, "a-folder", NULL);
  NatterSendFileDialog *dialog;
  NatterSession *peer;
  NatterRoom *room;
  NatterMessage *message;
  GtkWidget *send;

  write_test_image (path, 1600, 1200);
  size = g_format_size (file_size (path));
  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, room_name);
  room = natter_window_get_room (fixture->window);
  peer = add_peer (fixture, them, room_name);

  /* What the chooser, a drop and a paste do with a file: ask first. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (room_view (fixture)), "room.send-file", "s", path));
  WAIT_UNTIL ((dialog = (NatterSendFileDialog *) find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG)) != NULL);
  g_assert_false (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "send") &&
                  !natter_send_file_dialog_get_ready (dialog));
  WAIT_UNTIL (natter_send_file_dialog_get_ready (dialog));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)), "harbour.png"));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)), size));
  /* The preview is scaled down in the worker, not decoded at full size. */
  g_assert_nonnull (natter_send_file_dialog_get_preview (dialog));
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (natter_send_file_dialog_get_preview (dialog)), <=, 360);
  g_assert_cmpint (gdk_paintable_get_intrinsic_height (natter_send_file_dialog_get_preview (dialog)), <=, 240);
  save_snapshot (GTK_WIDGET (dialog), "send-file-dialog");

  /* Escape cancels: nothing is sent. */
  g_assert_true (press_escape (GTK_WIDGET (dialog)));
  WAIT_UNTIL (find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG) == NULL);
  spin (5);
  g_assert_null (find_file_message (room, "harbour.png"));

  /* Two files dropped on the room: one question for both, with the total. */
  {
    g_autofree char *second = g_build_filename (tmp_dir, "notes.txt", NULL);
    g_autoptr(GFile) first_file = g_file_new_for_path (path);
    g_autoptr(GFile) second_file = g_file_new_for_path (second);
    GSList *list = NULL;
    GValue value = G_VALUE_INIT;
    GtkDropTarget *target = find_drop_target (GTK_WIDGET (room_view (fixture)));
    gboolean accepted = FALSE;

    g_assert_nonnull (target);
    g_assert_true (g_file_set_contents (second, "two\n", -1, NULL));
    list = g_slist_append (list, first_file);
    list = g_slist_append (list, second_file);
    g_value_init (&value, GDK_TYPE_FILE_LIST);
    g_value_set_boxed (&value, list);
    g_signal_emit_by_name (target, "drop", &value, 10.0, 10.0, &accepted);
    g_value_unset (&value);
    g_slist_free (list);
    g_assert_true (accepted);
    WAIT_UNTIL ((dialog = (NatterSendFileDialog *) find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG)) != NULL);
    WAIT_UNTIL (natter_send_file_dialog_get_ready (dialog));
    g_assert_cmpstr (adw_message_dialog_get_heading (ADW_MESSAGE_DIALOG (dialog)), ==, "Send 2 Files?");
    g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)), "notes.txt"));
    g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)), "Total: "));
    g_assert_null (natter_send_file_dialog_get_preview (dialog));
    g_assert_true (press_escape (GTK_WIDGET (dialog)));
    WAIT_UNTIL (find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG) == NULL);
  }

  /* A folder is refused with a reason, and Send stays off. */
  g_assert_cmpint (g_mkdir (folder, 0700), ==, 0);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (room_view (fixture)), "room.send-file", "s", folder));
  WAIT_UNTIL ((dialog = (NatterSendFileDialog *) find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG)) != NULL);
  WAIT_UNTIL (natter_send_file_dialog_get_error (dialog) != NULL);
  g_assert_nonnull (strstr (natter_send_file_dialog_get_error (dialog), "a-folder"));
  g_assert_false (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "send"));
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (dialog), "window.close", NULL));
  WAIT_UNTIL (find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG) == NULL);

  /* Again, and Send: the file goes to the room. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (room_view (fixture)), "room.send-file", "s", path));
  WAIT_UNTIL ((dialog = (NatterSendFileDialog *) find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG)) != NULL);
  WAIT_UNTIL (natter_send_file_dialog_get_ready (dialog));
  send = find_button (GTK_WIDGET (dialog), "_Send");
  g_assert_nonnull (send);
  g_signal_emit_by_name (send, "clicked");
  WAIT_UNTIL (find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG) == NULL);
  WAIT_UNTIL ((message = find_file_message (room, "harbour.png")) != NULL &&
              natter_message_get_state (message) == NATTER_MESSAGE_STATE_SENT);
  g_assert_cmpint (natter_message_get_file_size (message), ==, file_size (path));
  g_assert_cmpstr (natter_message_get_file_mime (message), ==, "image/png");
  WAIT_UNTIL (find_file_message (natter_session_lookup_room (peer, room_name), "harbour.png") != NULL);
}

/* The newest message of @timeline (the timeline keeps it), or NULL. */
static NatterMessage *
last_message (GListModel *timeline)
{
  guint n = g_list_model_get_n_items (timeline);
  g_autoptr(NatterMessage) message = n > 0 ? g_list_model_get_item (timeline, n - 1) : NULL;

  return message;
}

static void
test_paste_image (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("pia");
  g_autofree char *room_name = g_strdup_printf ("paste-%s", me);
  g_autoptr(GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, TRUE, 8, 400, 300);
  g_autoptr(GdkTexture) texture = NULL;
  NatterComposer *composer;
  GdkClipboard *clipboard;
  NatterSendFileDialog *dialog;
  NatterRoom *room;
  GListModel *timeline;
  NatterMessage *message = NULL;
  GtkWidget *send;
  g_autofree char *pasted_dir = NULL;
  g_autofree char *old_paste = NULL;
  g_autofree char *recent_paste = NULL;

  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, room_name);
  room = natter_window_get_room (fixture->window);
  composer = _natter_room_view_get_composer (room_view (fixture));
  clipboard = gtk_widget_get_clipboard (GTK_WIDGET (composer));

  /* Text on the clipboard pastes as text, no dialog. */
  gdk_clipboard_set_text (clipboard, "just words");
  _natter_composer_paste (composer);
  WAIT_UNTIL (!composer_is_empty (composer));
  {
    g_autofree char *text = natter_composer_dup_text (composer);
    g_assert_cmpstr (text, ==, "just words");
  }
  g_assert_null (find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG));
  natter_composer_set_text (composer, "");

  /* Images pasted long ago are cleaned up; recent ones are kept. */
  pasted_dir = g_build_filename (g_get_user_cache_dir (), "natter", "pasted", NULL);
  old_paste = g_build_filename (pasted_dir, "Pasted image old.png", NULL);
  recent_paste = g_build_filename (pasted_dir, "Pasted image recent.png", NULL);
  g_assert_cmpint (g_mkdir_with_parents (pasted_dir, 0700), ==, 0);
  g_assert_true (g_file_set_contents (old_paste, "old", -1, NULL));
  g_assert_true (g_file_set_contents (recent_paste, "recent", -1, NULL));
  {
    struct utimbuf times = { .actime = time (NULL) - 8 * 24 * 3600, .modtime = time (NULL) - 8 * 24 * 3600 };
    g_assert_cmpint (g_utime (old_paste, &times), ==, 0);
  }

  /* An image (a screenshot, say) is saved as a PNG and confirmed first. */
  gdk_pixbuf_fill (pixbuf, 0xe01b24ff);
  texture = gdk_texture_new_for_pixbuf (pixbuf);
  gdk_clipboard_set_texture (clipboard, texture);
  _natter_composer_paste (composer);
  WAIT_UNTIL ((dialog = (NatterSendFileDialog *) find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG)) != NULL);
  WAIT_UNTIL (natter_send_file_dialog_get_ready (dialog));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)), "Pasted image "));
  g_assert_nonnull (natter_send_file_dialog_get_preview (dialog));
  g_assert_true (composer_is_empty (composer));
  save_snapshot (GTK_WIDGET (dialog), "paste-image-dialog");
  send = find_button (GTK_WIDGET (dialog), "_Send");
  g_signal_emit_by_name (send, "clicked");

  timeline = G_LIST_MODEL (natter_room_get_timeline (room));
  WAIT_UNTIL ((message = last_message (timeline)) != NULL &&
              natter_message_get_file_name (message) != NULL &&
              natter_message_get_state (message) == NATTER_MESSAGE_STATE_SENT);
  g_assert_true (g_str_has_prefix (natter_message_get_file_name (message), "Pasted image "));
  g_assert_true (g_str_has_suffix (natter_message_get_file_name (message), ".png"));
  g_assert_cmpstr (natter_message_get_file_mime (message), ==, "image/png");
  g_assert_cmpint (natter_message_get_file_size (message), >, 0);
  g_assert_false (g_file_test (old_paste, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (recent_paste, G_FILE_TEST_EXISTS));
}

static GtkWidget *
find_widget_of_type (GtkWidget *widget,
                     GType      type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_widget_of_type (child, type);
      if (found != NULL)
        return found;
    }
  return NULL;
}

/* The file row showing @file_name under @widget, or NULL. */
static NatterFileRow *
find_file_row (GtkWidget  *widget,
               const char *file_name)
{
  if (NATTER_IS_FILE_ROW (widget) && gtk_widget_get_mapped (widget) &&
      natter_file_row_get_message (NATTER_FILE_ROW (widget)) != NULL &&
      g_strcmp0 (natter_message_get_file_name (natter_file_row_get_message (NATTER_FILE_ROW (widget))), file_name) == 0)
    return NATTER_FILE_ROW (widget);
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL; child = gtk_widget_get_next_sibling (child))
    {
      NatterFileRow *found = find_file_row (child, file_name);
      if (found != NULL)
        return found;
    }
  return NULL;
}

typedef struct
{
  GtkWidget *window;
  guint      partial;     /* updates seen with 0 < fraction < 1, shown */
} ProgressSeen;

/* Runs after the row's own handler (connected later): what the user sees
 * while bytes move. */
static void
on_upload_bytes (NatterTransfer *transfer,
                 GParamSpec     *pspec,
                 ProgressSeen   *seen)
{
  GtkWidget *row = find_widget_of_type (seen->window, NATTER_TYPE_TRANSFER_ROW);
  GtkWidget *bar = row != NULL ? find_widget_of_type (row, GTK_TYPE_PROGRESS_BAR) : NULL;
  GtkWidget *label = row != NULL ? find_widget_of_type (row, GTK_TYPE_LABEL) : NULL;
  double fraction = bar != NULL ? gtk_progress_bar_get_fraction (GTK_PROGRESS_BAR (bar)) : 0;

  /* The bar moves, and the text says how far ("report.bin — 1.0 MB of 6.3 MB"). */
  if (bar != NULL && gtk_widget_get_visible (bar) && fraction > 0 && fraction < 1 &&
      strstr (gtk_label_get_label (GTK_LABEL (label)), " of ") != NULL)
    seen->partial++;
}

static void
on_download_bytes (NatterTransfer *transfer,
                   GParamSpec     *pspec,
                   ProgressSeen   *seen)
{
  NatterFileRow *row = find_file_row (seen->window, natter_transfer_get_file_name (transfer));
  GtkWidget *bar = row != NULL ? find_widget_of_type (GTK_WIDGET (row), GTK_TYPE_PROGRESS_BAR) : NULL;
  double fraction = bar != NULL ? gtk_progress_bar_get_fraction (GTK_PROGRESS_BAR (bar)) : 0;

  if (bar != NULL && gtk_widget_get_visible (bar) && fraction > 0 && fraction < 1)
    seen->partial++;
}

static char *
sha256_of_file (const char *path)
{
  g_autofree char *contents = NULL;
  gsize length = 0;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_file_get_contents (path, &contents, &length, &error));
  g_assert_no_error (error);
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) contents, length);
}

/* The UI test: a file chosen in the app shows its progress, then
 * arrives as a file row in a second client (a room view of its own, on
 * another person's session), whose download is the same bytes. */
static void
test_file_to_second_client (Fixture       *fixture,
                            gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("ada");
  g_autofree char *them = new_user_name ("bo");
  g_autofree char *room_name = g_strdup_printf ("reports-%s", me);
  g_autofree char *path = g_build_filename (tmp_dir, "report.bin", NULL);
  g_autofree char *saved_path = g_build_filename (tmp_dir, "saved-report.bin", NULL);
  g_autoptr(GFile) saved = g_file_new_for_path (saved_path);
  g_autofree char *size = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *saved_sha = NULL;
  g_autofree guint32 *data = NULL;
  g_autoptr(GError) error = NULL;
  const gsize n_words = 6 * 1024 * 1024 / sizeof (guint32);
  ProgressSeen up = { NULL, 0 }, down = { NULL, 0 };
  NatterSendFileDialog *dialog;
  NatterSession *peer;
  NatterRoomView *other_view;
  GtkWidget *other;
  NatterFileRow *row;
  NatterTransfer *upload;
  NatterTransfer *download;

  data = g_new (guint32, n_words);
  for (gsize i = 0; i < n_words; i++)
    data[i] = g_random_int ();
  g_assert_true (g_file_set_contents (path, (const char *) data, n_words * sizeof (guint32), &error));
  g_assert_no_error (error);
  sha = sha256_of_file (path);
  size = g_format_size (n_words * sizeof (guint32));

  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, room_name);
  peer = add_peer (fixture, them, room_name);

  /* The second client: another window showing the room on their session. */
  other = gtk_window_new ();
  gtk_window_set_default_size (GTK_WINDOW (other), 720, 560);
  other_view = g_object_new (NATTER_TYPE_ROOM_VIEW, NULL);
  gtk_window_set_child (GTK_WINDOW (other), GTK_WIDGET (other_view));
  natter_room_view_set_session (other_view, peer);
  natter_room_view_set_room (other_view, natter_session_lookup_room (peer, room_name));
  gtk_window_present (GTK_WINDOW (other));
  WAIT_UNTIL (gtk_widget_get_mapped (other));

  /* Chosen (the chooser's answer goes through the same action), confirmed. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (room_view (fixture)), "room.send-file", "s", path));
  WAIT_UNTIL ((dialog = (NatterSendFileDialog *) find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG)) != NULL);
  WAIT_UNTIL (natter_send_file_dialog_get_ready (dialog));
  g_assert_null (natter_send_file_dialog_get_preview (dialog));
  g_assert_nonnull (strstr (adw_message_dialog_get_body (ADW_MESSAGE_DIALOG (dialog)), size));
  g_signal_emit_by_name (find_button (GTK_WIDGET (dialog), "_Send"), "clicked");

  /* It goes up with a progress bar above the composer. */
  g_assert_cmpuint (g_list_model_get_n_items (_natter_room_view_get_uploads (room_view (fixture))), ==, 1);
  upload = g_list_model_get_item (_natter_room_view_get_uploads (room_view (fixture)), 0);
  up.window = GTK_WIDGET (fixture->window);
  g_signal_connect (upload, "notify::bytes", G_CALLBACK (on_upload_bytes), &up);
  WAIT_UNTIL (natter_transfer_get_state (upload) == NATTER_TRANSFER_STATE_DONE);
  g_signal_handlers_disconnect_by_data (upload, &up);
  g_object_unref (upload);
  g_assert_cmpuint (up.partial, >, 0);

  /* ...and arrives on the other side as a file row with name and size. */
  WAIT_UNTIL ((row = find_file_row (other, "report.bin")) != NULL &&
              natter_message_get_state (natter_file_row_get_message (row)) == NATTER_MESSAGE_STATE_SENT);
  g_assert_cmpstr (_natter_file_row_get_name (row), ==, "report.bin");
  g_assert_cmpstr (_natter_file_row_get_detail (row), ==, size);
  g_assert_null (natter_file_row_get_transfer (row));
  save_snapshot (other, "file-received");
  save_snapshot (GTK_WIDGET (fixture->window), "file-sent-row");

  /* Save As… (the chooser answered with @saved): downloaded with progress
   * in the row, then copied; the bytes are the ones sent. */
  natter_file_row_save_to (row, saved);
  download = natter_file_row_get_transfer (row);
  g_assert_nonnull (download);
  down.window = other;
  g_signal_connect (download, "notify::bytes", G_CALLBACK (on_download_bytes), &down);
  WAIT_UNTIL (natter_transfer_get_state (download) == NATTER_TRANSFER_STATE_DONE);
  g_signal_handlers_disconnect_by_data (download, &down);
  g_assert_cmpuint (down.partial, >, 0);
  WAIT_UNTIL (g_file_test (saved_path, G_FILE_TEST_EXISTS) &&
              file_size (saved_path) == (gint64) (n_words * sizeof (guint32)));
  saved_sha = sha256_of_file (saved_path);
  g_assert_cmpstr (saved_sha, ==, sha);
  {
    g_autofree char *cached = g_file_get_path (natter_transfer_get_file (download));
    g_autofree char *cached_sha = sha256_of_file (cached);
    g_assert_cmpstr (cached_sha, ==, sha);
  }
  g_assert_cmpstr (_natter_file_row_get_detail (row), ==, size);

  natter_room_view_set_room (other_view, NULL);
  natter_room_view_set_session (other_view, NULL);
  gtk_window_destroy (GTK_WINDOW (other));
}

/* An upload the server refuses shows why, and Retry sends it again. */
static void
test_upload_refused_and_retried (Fixture       *fixture,
                                 gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("cleo");
  g_autofree char *room_name = g_strdup_printf ("big-%s", me);
  g_autofree char *path = g_build_filename (tmp_dir, "big-scan.bin", NULL);
  g_autofree char *data = g_malloc0 (2 * 1024 * 1024);
  g_autoptr(NatterTransfer) upload = NULL;
  g_autoptr(GError) error = NULL;
  GListModel *uploads;
  NatterSendFileDialog *dialog;
  GtkWidget *row;
  GtkWidget *label;
  NatterMessage *message;
  NatterRoom *room;

  g_assert_true (g_file_set_contents (path, data, 2 * 1024 * 1024, &error));
  g_assert_no_error (error);
  /* A server that takes files up to 1 MiB. */
  stop_server (fixture);
  fixture->max_file_bytes = 1024 * 1024;
  start_server (fixture);

  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, room_name);
  room = natter_window_get_room (fixture->window);

  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (room_view (fixture)), "room.send-file", "s", path));
  WAIT_UNTIL ((dialog = (NatterSendFileDialog *) find_toplevel (NATTER_TYPE_SEND_FILE_DIALOG)) != NULL);
  WAIT_UNTIL (natter_send_file_dialog_get_ready (dialog));
  g_signal_emit_by_name (find_button (GTK_WIDGET (dialog), "_Send"), "clicked");

  uploads = _natter_room_view_get_uploads (room_view (fixture));
  g_assert_cmpuint (g_list_model_get_n_items (uploads), ==, 1);
  upload = g_list_model_get_item (uploads, 0);
  WAIT_UNTIL (natter_transfer_get_state (upload) == NATTER_TRANSFER_STATE_FAILED);
  WAIT_UNTIL ((row = find_widget_of_type (GTK_WIDGET (fixture->window), NATTER_TYPE_TRANSFER_ROW)) != NULL &&
              gtk_widget_get_mapped (row));
  label = find_widget_of_type (row, GTK_TYPE_LABEL);
  g_assert_nonnull (strstr (gtk_label_get_label (GTK_LABEL (label)), "big-scan.bin"));
  g_assert_nonnull (strstr (gtk_label_get_label (GTK_LABEL (label)), "File too large: limit is"));
  g_assert_nonnull (find_button (row, "_Retry"));
  g_assert_true (gtk_widget_get_visible (find_button (row, "_Retry")));
  save_snapshot (GTK_WIDGET (fixture->window), "upload-refused");
  g_assert_null (find_file_message (room, "big-scan.bin"));

  /* The limit is raised; Retry starts it anew and it arrives. */
  stop_server (fixture);
  fixture->max_file_bytes = 0;
  start_server (fixture);
  WAIT_UNTIL (natter_session_get_state (natter_application_get_session (fixture->app)) == NATTER_SESSION_STATE_ONLINE);
  g_assert_true (gtk_widget_activate_action (row, "transfer.retry", NULL));
  WAIT_UNTIL ((message = find_file_message (room, "big-scan.bin")) != NULL &&
              natter_message_get_state (message) == NATTER_MESSAGE_STATE_SENT);
  g_assert_cmpint (natter_message_get_file_size (message), ==, 2 * 1024 * 1024);
  /* The failed one is gone from the list; the new one is done and gone too. */
  WAIT_UNTIL (g_list_model_get_n_items (uploads) == 0);
}

/* A second client: its own window with a room view on @peer's session. */
static GtkWidget *
open_second_client (NatterSession *peer,
                    const char    *room_name)
{
  GtkWidget *window = gtk_window_new ();
  NatterRoomView *view = g_object_new (NATTER_TYPE_ROOM_VIEW, NULL);

  gtk_window_set_default_size (GTK_WINDOW (window), 720, 560);
  gtk_window_set_child (GTK_WINDOW (window), GTK_WIDGET (view));
  natter_room_view_set_session (view, peer);
  natter_room_view_set_room (view, natter_session_lookup_room (peer, room_name));
  gtk_window_present (GTK_WINDOW (window));
  WAIT_UNTIL (gtk_widget_get_mapped (window));
  return window;
}

static void
close_second_client (GtkWidget *window)
{
  NatterRoomView *view = NATTER_ROOM_VIEW (gtk_window_get_child (GTK_WINDOW (window)));

  natter_room_view_set_room (view, NULL);
  natter_room_view_set_session (view, NULL);
  gtk_window_destroy (GTK_WINDOW (window));
}

/* Someone else (the library) sends @path to @room_name. */
static void
peer_sends_file (NatterSession *peer,
                 const char    *room_name,
                 const char    *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(NatterTransfer) upload = natter_transfer_new_upload (peer, natter_session_lookup_room (peer, room_name),
                                                                 file, NULL);

  natter_transfer_start (upload);
  WAIT_UNTIL (natter_transfer_get_state (upload) == NATTER_TRANSFER_STATE_DONE);
}

/* An image someone sends shows inline as a thumbnail, made off the main
 * thread; a download can be stopped, shows why, and Retry gets it. */
static void
test_received_image_and_download_cancel (Fixture       *fixture,
                                         gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("dora");
  g_autofree char *them = new_user_name ("emil");
  g_autofree char *room_name = g_strdup_printf ("album-%s", me);
  g_autofree char *image_path = g_build_filename (tmp_dir, "lighthouse.png", NULL);
  g_autofree char *big_path = g_build_filename (tmp_dir, "archive.bin", NULL);
  g_autofree char *saved_path = g_build_filename (tmp_dir, "saved-archive.bin", NULL);
  g_autoptr(GFile) saved = g_file_new_for_path (saved_path);
  g_autofree guint32 *data = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *cached_path = NULL;
  g_autofree char *cached_sha = NULL;
  g_autoptr(GError) error = NULL;
  const gsize n_words = 8 * 1024 * 1024 / sizeof (guint32);
  NatterSession *peer;
  NatterFileRow *row;
  NatterTransfer *download;
  GdkPaintable *thumbnail;

  write_test_image (image_path, 1600, 1200);
  data = g_new (guint32, n_words);
  for (gsize i = 0; i < n_words; i++)
    data[i] = g_random_int ();
  g_assert_true (g_file_set_contents (big_path, (const char *) data, n_words * sizeof (guint32), &error));
  g_assert_no_error (error);
  sha = sha256_of_file (big_path);

  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, room_name);
  peer = add_peer (fixture, them, room_name);

  peer_sends_file (peer, room_name, image_path);
  WAIT_UNTIL ((row = find_file_row (GTK_WIDGET (fixture->window), "lighthouse.png")) != NULL);
  WAIT_UNTIL ((thumbnail = _natter_file_row_get_thumbnail (row)) != NULL);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (thumbnail), <=, 256);
  g_assert_cmpint (gdk_paintable_get_intrinsic_height (thumbnail), <=, 256);
  g_assert_cmpint (gdk_paintable_get_intrinsic_width (thumbnail), >, 0);

  /* A large file is not fetched until asked for. */
  peer_sends_file (peer, room_name, big_path);
  WAIT_UNTIL ((row = find_file_row (GTK_WIDGET (fixture->window), "archive.bin")) != NULL);
  g_assert_null (natter_file_row_get_transfer (row));
  save_snapshot (GTK_WIDGET (fixture->window), "file-rows");

  /* Save As…, then Stop at once: the row says so and offers Retry. */
  natter_file_row_save_to (row, saved);
  download = natter_file_row_get_transfer (row);
  g_assert_nonnull (download);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (row), "file.cancel", NULL));
  WAIT_UNTIL (natter_transfer_get_state (download) == NATTER_TRANSFER_STATE_FAILED);
  g_assert_nonnull (strstr (_natter_file_row_get_detail (row), "Download failed: "));
  g_assert_true (gtk_widget_get_visible (find_button (GTK_WIDGET (row), "_Retry")));
  save_snapshot (GTK_WIDGET (fixture->window), "download-stopped");
  spin (5);
  g_assert_false (g_file_test (saved_path, G_FILE_TEST_EXISTS));

  /* Retry: the whole file, the same bytes. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (row), "file.retry", NULL));
  download = natter_file_row_get_transfer (row);
  WAIT_UNTIL (natter_transfer_get_state (download) == NATTER_TRANSFER_STATE_DONE);
  cached_path = g_file_get_path (natter_transfer_get_file (download));
  cached_sha = sha256_of_file (cached_path);
  g_assert_cmpstr (cached_sha, ==, sha);
  g_assert_false (gtk_widget_get_visible (find_button (GTK_WIDGET (row), "_Retry")));

  /* The other client's view of the same room shows the same rows. */
  {
    GtkWidget *other = open_second_client (peer, room_name);
    NatterFileRow *other_row;

    WAIT_UNTIL ((other_row = find_file_row (other, "lighthouse.png")) != NULL &&
                _natter_file_row_get_thumbnail (other_row) != NULL);
    close_second_client (other);
  }
}

/* An upload the session runs without the room view starting it (one
 * restored from an earlier run) shows its progress there too. */
static void
test_session_upload_shows (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autofree char *me = new_user_name ("fay");
  g_autofree char *room_name = g_strdup_printf ("restored-%s", me);
  g_autofree char *path = g_build_filename (tmp_dir, "left-over.txt", NULL);
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(NatterTransfer) upload = NULL;
  GListModel *uploads;
  NatterMessage *message;
  NatterRoom *room;

  g_assert_true (g_file_set_contents (path, "from the last run\n", -1, NULL));
  sign_up_and_wait (fixture, me);
  create_room_through_dialog (fixture, room_name);
  room = natter_window_get_room (fixture->window);
  uploads = _natter_room_view_get_uploads (room_view (fixture));
  g_assert_cmpuint (g_list_model_get_n_items (uploads), ==, 0);

  upload = natter_transfer_new_upload (natter_application_get_session (fixture->app), room, file, NULL);
  natter_transfer_start (upload);
  g_assert_cmpuint (g_list_model_get_n_items (uploads), ==, 1);
  WAIT_UNTIL ((message = find_file_message (room, "left-over.txt")) != NULL &&
              natter_message_get_state (message) == NATTER_MESSAGE_STATE_SENT);
  WAIT_UNTIL (g_list_model_get_n_items (uploads) == 0);
}

static GLogWriterOutput
debug_writer (GLogLevelFlags   level,
              const GLogField *fields,
              gsize            n_fields,
              gpointer         user_data)
{
  for (gsize i = 0; i < n_fields; i++)
    if (g_str_equal (fields[i].key, "MESSAGE") && strstr (fields[i].value, "reports a minimum") != NULL)
      {
        gpointer widget = NULL;
        sscanf (strstr (fields[i].value, "0x"), "%p", &widget);
        for (GtkWidget *w = widget; w != NULL; w = gtk_widget_get_parent (w))
          g_printerr ("  in %s %s\n", G_OBJECT_TYPE_NAME (w), gtk_widget_get_css_classes (w)[0] ? gtk_widget_get_css_classes (w)[0] : "");
        for (GtkWidget *c = gtk_widget_get_first_child (widget); c != NULL; c = gtk_widget_get_next_sibling (c))
          g_printerr ("  child %s visible=%d\n", G_OBJECT_TYPE_NAME (c), gtk_widget_get_visible (c));
      }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

/* The room view shows nothing until told which room, if any, to show:
 * at start-up the window's first frame comes before the room it reopens,
 * and the "no room" page (with its large icon) is for when there is none. */
static GtkWidget *
find_descendant (GtkWidget *widget,
                 GType      type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_descendant (child, type);
      if (found != NULL)
        return found;
    }
  return NULL;
}

static void
test_room_view_pages (void)
{
  NatterRoomView *view = g_object_ref_sink (g_object_new (NATTER_TYPE_ROOM_VIEW, NULL));
  AdwStatusPage *no_room = ADW_STATUS_PAGE (find_descendant (GTK_WIDGET (view), ADW_TYPE_STATUS_PAGE));

  g_autoptr(NatterSession) session = natter_session_new_full ("http://127.0.0.1:9", "someone",
                                                              NATTER_TOKEN_STORE_MEMORY, NULL);

  g_assert_cmpstr (_natter_room_view_get_page (view), ==, "opening");
  /* A session alone says nothing about which room. */
  natter_room_view_set_session (view, session);
  g_assert_cmpstr (_natter_room_view_get_page (view), ==, "opening");
  g_assert_null (adw_status_page_get_icon_name (no_room));
  natter_room_view_set_room (view, NULL);
  g_assert_cmpstr (_natter_room_view_get_page (view), ==, "empty");
  g_assert_cmpstr (adw_status_page_get_icon_name (no_room), ==, "chat-message-new-symbolic");
  natter_room_view_set_session (view, NULL);
  g_assert_finalize_object (view);
}

/* Rows show times in the local zone, looked up once a minute rather than
 * per row: the same day and time as GLib's own local conversion. */
static void
test_local_datetime (void)
{
  const gint64 stamps_ms[] = { 0, 1700000000123, 1719792000000, -86400000 };

  for (guint i = 0; i < G_N_ELEMENTS (stamps_ms); i++)
    {
      g_autoptr(GDateTime) ours = natter_text_dup_local_datetime (stamps_ms[i]);
      g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (stamps_ms[i] / 1000);
      g_autoptr(GDateTime) glibs = g_date_time_to_local (utc);

      g_assert_nonnull (ours);
      g_assert_true (g_date_time_equal (ours, glibs));
      g_assert_cmpint (g_date_time_get_utc_offset (ours), ==, g_date_time_get_utc_offset (glibs));
      g_assert_cmpint (g_date_time_get_day_of_year (ours), ==, g_date_time_get_day_of_year (glibs));
    }
  /* Beyond what GDateTime holds: no date, as before. */
  g_assert_null (natter_text_dup_local_datetime (G_MAXINT64));
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  g_autofree char *xdg = NULL;
  int ret;

  /* Before anything caches the user directories. */
  tmp_dir = g_dir_make_tmp ("natter-app-test-XXXXXX", &error);
  g_assert_no_error (error);
  xdg = g_build_filename (tmp_dir, "data", NULL);
  g_setenv ("XDG_DATA_HOME", xdg, TRUE);
  {
    /* Downloads and thumbnails go to the cache: the test's, not the user's. */
    g_autofree char *cache = g_build_filename (tmp_dir, "cache", NULL);
    g_setenv ("XDG_CACHE_HOME", cache, TRUE);
  }
  g_setenv ("NATTER_TOKEN_STORE", "memory", TRUE);
  g_setenv ("GSETTINGS_BACKEND", "memory", TRUE);

  g_log_set_writer_func (debug_writer, NULL, NULL);
  gtk_test_init (&argc, &argv, NULL);
  g_log_set_debug_enabled (FALSE);
  start_notification_server ();
  /* Without a window manager the window is never "active", and a blinking
   * cursor in an unfocused entry warns (fatally in tests). */
  g_object_set (gtk_settings_get_default (), "gtk-cursor-blink", FALSE, NULL);

  g_test_add_func ("/app/room-view/pages", test_room_view_pages);
  g_test_add_func ("/app/text/local-datetime", test_local_datetime);
  g_test_add ("/app/sign-in/errors", Fixture, NULL, fixture_set_up, test_sign_in_errors, fixture_tear_down);
  g_test_add ("/app/sign-in/untrusted-certificate", Fixture, NULL, fixture_set_up, test_untrusted_certificate, fixture_tear_down);
  g_test_add ("/app/conversation", Fixture, NULL, fixture_set_up, test_conversation, fixture_tear_down);
  g_test_add ("/app/offline-and-pending", Fixture, NULL, fixture_set_up, test_offline_and_pending, fixture_tear_down);
  g_test_add ("/app/direct-message-and-leave", Fixture, NULL, fixture_set_up, test_direct_message_and_leave, fixture_tear_down);
  g_test_add ("/app/load-older", Fixture, NULL, fixture_set_up, test_load_older, fixture_tear_down);
  g_test_add ("/app/send-file", Fixture, NULL, fixture_set_up, test_send_file, fixture_tear_down);
  g_test_add ("/app/failed-message", Fixture, NULL, fixture_set_up, test_failed_message, fixture_tear_down);
  g_test_add ("/app/files/confirm", Fixture, NULL, fixture_set_up, test_send_file_confirm, fixture_tear_down);
  g_test_add ("/app/files/paste-image", Fixture, NULL, fixture_set_up, test_paste_image, fixture_tear_down);
  g_test_add ("/app/files/to-second-client", Fixture, NULL, fixture_set_up, test_file_to_second_client, fixture_tear_down);
  g_test_add ("/app/files/received-image-and-download-cancel", Fixture, NULL, fixture_set_up, test_received_image_and_download_cancel, fixture_tear_down);
  g_test_add ("/app/files/session-upload-shows", Fixture, NULL, fixture_set_up, test_session_upload_shows, fixture_tear_down);
  g_test_add ("/app/files/upload-refused-and-retried", Fixture, NULL, fixture_set_up, test_upload_refused_and_retried, fixture_tear_down);
  g_test_add ("/app/quick-switcher", Fixture, NULL, fixture_set_up, test_quick_switcher, fixture_tear_down);
  g_test_add ("/app/lists/rooms-by-activity", Fixture, NULL, fixture_set_up, test_rooms_by_activity, fixture_tear_down);
  g_test_add ("/app/lists/members-by-presence", Fixture, NULL, fixture_set_up, test_members_by_presence, fixture_tear_down);

  ret = g_test_run ();
  remove_tree (tmp_dir);
  g_clear_pointer (&notifications, g_ptr_array_unref);
  g_clear_object (&bus);
  g_free (tmp_dir);
  return ret;
}
