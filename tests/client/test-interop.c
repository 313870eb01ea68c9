/* test-interop.c: libnatter-client against the official Node socket.io 4.8
 * server (tests/interop/reference-server.js, in memory): our Engine.IO and
 * Socket.IO side proven against upstream, not only against our own server.
 * Skips when node or tests/interop/node_modules is missing. */
#include <signal.h>
#include <sys/prctl.h>

#include "natter-client-private.h"
#include "natter-test-util.h"

typedef struct
{
  GSubprocess *node;
  char        *url;
  guint        port;
} Fixture;

static char *
reference_script (void)
{
  const char *src = g_getenv ("NATTER_SOURCE_DIR");

  return src != NULL ? g_build_filename (src, "tests", "interop", "reference-server.js", NULL) : NULL;
}

static gboolean
reference_available (void)
{
  const char *src = g_getenv ("NATTER_SOURCE_DIR");
  g_autofree char *program = g_find_program_in_path ("node");
  g_autofree char *modules = NULL;

  if (src == NULL || program == NULL)
    return FALSE;
  modules = g_build_filename (src, "tests", "interop", "node_modules", "socket.io", NULL);
  return g_file_test (modules, G_FILE_TEST_IS_DIR);
}

static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static void
store_result (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autofree char *script = reference_script ();
  g_autofree char *line = NULL;
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  if (!reference_available ())
    return;

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  f->node = g_subprocess_launcher_spawn (launcher, &error, "node", script, "--port", "0",
                                         "--host", "127.0.0.1", "--ping-interval", "300",
                                         "--ping-timeout", "200", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (f->node));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 20000);
  line = g_data_input_stream_read_line_finish_utf8 (out, result, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (line != NULL && g_str_has_prefix (line, "listening on "));
  f->port = (guint) g_ascii_strtoull (line + strlen ("listening on "), NULL, 10);
  g_assert_cmpuint (f->port, >, 0);
  f->url = g_strdup_printf ("http://127.0.0.1:%u", f->port);
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  if (f->node != NULL)
    {
      g_autoptr(GAsyncResult) result = NULL;

      g_subprocess_send_signal (f->node, SIGTERM);
      g_subprocess_wait_async (f->node, NULL, store_result, &result);
      natter_test_wait_until (result != NULL, 10000);
      g_clear_object (&f->node);
    }
  g_free (f->url);
}

#define SKIP_UNLESS_REFERENCE()                                                \
  G_STMT_START {                                                               \
    if (f->node == NULL)                                                       \
      {                                                                        \
        g_test_skip ("node or tests/interop/node_modules missing (npm ci there)"); \
        return;                                                                \
      }                                                                        \
  } G_STMT_END

static gboolean
strv_has (const char * const *strv,
          const char         *s)
{
  return strv != NULL && g_strv_contains (strv, s);
}

static void
test_chat (Fixture       *f,
           gconstpointer  data)
{
  g_autoptr(NatterSession) alice = NULL;
  g_autoptr(NatterSession) bob = NULL;
  g_autoptr(GPtrArray) truth = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoom) dm = NULL;
  NatterRoom *a_room, *b_room;
  NatterTimeline *timeline;

  SKIP_UNLESS_REFERENCE ();

  alice = natter_test_session_new (f->url, "alice", NULL, FALSE);
  bob = natter_test_session_new (f->url, "bob", NULL, FALSE);
  a_room = natter_test_join (alice, "lobby");

  for (guint i = 0; i < 130; i++)
    {
      g_autofree char *text = g_strdup_printf ("line %u", i);
      g_autoptr(NatterMessage) m = natter_room_send_text (a_room, text);
    }
  natter_test_wait_until (natter_session_get_pending (alice) == 0, 20000);

  /* Bob joins late: the newest page, then older pages from the server. */
  b_room = natter_test_join (bob, "lobby");
  timeline = natter_room_get_timeline (b_room);
  natter_test_wait_until (g_list_model_get_n_items (G_LIST_MODEL (timeline)) == 50, 5000);
  while (!natter_timeline_get_at_start (timeline))
    {
      g_clear_object (&result);
      natter_timeline_load_older_async (timeline, 100, NULL, store_result, &result);
      natter_test_wait_until (result != NULL, 5000);
      g_assert_true (natter_timeline_load_older_finish (timeline, result, &error));
      g_assert_no_error (error);
    }
  truth = natter_test_server_history (bob, "lobby");
  lines = natter_test_timeline_lines (timeline);
  g_assert_cmpuint (truth->len, ==, 130);
  g_ptr_array_add (truth, NULL);
  g_ptr_array_add (lines, NULL);
  g_assert_cmpstrv ((const char * const *) lines->pdata, (const char * const *) truth->pdata);

  /* Live: bob receives, typing shows. */
  {
    g_autoptr(NatterMessage) m = natter_room_send_text (a_room, "hi @bob");
  }
  natter_test_wait_until (natter_room_get_mentions (b_room) == 1, 5000);
  natter_room_set_typing (a_room, TRUE);
  natter_test_wait_until (strv_has (natter_room_get_typing_users (b_room), "alice"), 5000);

  /* DMs. */
  g_clear_object (&result);
  natter_session_dm_async (bob, "alice", NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 5000);
  dm = natter_session_dm_finish (bob, result, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (natter_room_get_display_name (dm), ==, "alice");

  natter_session_stop (alice);
  natter_session_stop (bob);
}

static void
test_heartbeat_blackhole (Fixture       *f,
                          gconstpointer  data)
{
  NatterTestProxy *proxy;
  g_autofree char *via = NULL;
  g_autoptr(NatterSession) alice = NULL;
  g_autoptr(GPtrArray) truth = NULL;
  NatterRoom *room;

  SKIP_UNLESS_REFERENCE ();

  proxy = natter_test_proxy_new (f->port);
  via = g_strdup_printf ("http://127.0.0.1:%u", natter_test_proxy_get_port (proxy));
  alice = natter_test_session_new (via, "alice", NULL, FALSE);
  room = natter_test_join (alice, "ops");

  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *text = g_strdup_printf ("m%03u", i);
      g_autoptr(NatterMessage) m = natter_room_send_text (room, text);

      if (i == 10)
        natter_test_proxy_blackhole (proxy);
    }
  /* Upstream engine.io pings every 300 ms; ours notices the silence. */
  natter_test_wait_until (natter_session_get_state (alice) != NATTER_SESSION_STATE_ONLINE, 5000);
  natter_test_wait_until (natter_session_get_state (alice) == NATTER_SESSION_STATE_ONLINE, 15000);
  natter_test_wait_until (natter_session_get_pending (alice) == 0, 15000);

  truth = natter_test_server_history (alice, "ops");
  g_assert_cmpuint (truth->len, ==, 20);
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *want = g_strdup_printf ("%u:alice:m%03u", i + 1, i);
      g_assert_cmpstr (g_ptr_array_index (truth, i), ==, want);
    }
  natter_session_stop (alice);
  g_clear_object (&alice);
  natter_test_proxy_free (proxy);
}

static void
test_unauthorized (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(NatterSession) session = NULL;

  SKIP_UNLESS_REFERENCE ();

  session = natter_session_new_full (f->url, "alice", NATTER_TOKEN_STORE_MEMORY, ":memory:");
  _natter_session_set_token (session, "forged");
  g_assert_true (natter_session_start (session, NULL));
  natter_test_wait_until (natter_session_get_state (session) == NATTER_SESSION_STATE_SIGNED_OUT, 5000);
  g_assert_cmpint (natter_session_get_retry_at (session), ==, 0);
  natter_session_stop (session);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("NATTER_NO_SYSTEM_BUS", "1", TRUE);

  g_test_add ("/client/interop/chat", Fixture, NULL, setup, test_chat, teardown);
  g_test_add ("/client/interop/heartbeat-blackhole", Fixture, NULL, setup, test_heartbeat_blackhole, teardown);
  g_test_add ("/client/interop/unauthorized", Fixture, NULL, setup, test_unauthorized, teardown);
  return g_test_run ();
}
