/* test-faults.c: faults at the ends of the path, against the real
 * natter-server binary.
 *
 * client-killed: a client (natter-reliability-client, libnatter-client
 * with a fixed cache file) writes 100 messages while the server is down
 * and is killed with SIGKILL; started again with the server up it writes
 * 50 more and is killed again in the middle of sending; a third start
 * drains its outbox. Every message is stored exactly once, in order, and
 * the client's timeline shows each once, as sent.
 *
 * disk-full: how the disk is made full. A small tmpfs needs mount
 * privileges, and chmod of the data dir proves nothing: the server holds its
 * database files open already (permissions are checked at open, not at
 * write), and root ignores them anyway. Instead the test lowers the running
 * server's RLIMIT_FSIZE to 0 with prlimit(2) (allowed for a process of
 * the same user, root or not, no privileges needed; SIGXFSZ is ignored in
 * the child): from then on every write(2) to a regular file fails with
 * EFBIG, as a full disk makes writes fail with ENOSPC, and SQLite reports
 * an I/O error the way it would for ENOSPC. Then: sends are refused with
 * the `internal` ack and a log line (so are creating a room and a login,
 * with `internal` / HTTP 500), reads (history, rooms, members, a new
 * connection with an existing token) keep working, a libnatter-client
 * session keeps its 20 messages in the outbox and retries, and once the
 * limit is lifted ("space returns") the same cid is stored with the next
 * seq, no gap, and the session's messages arrive once each, in order;
 * after a clean stop PRAGMA integrity_check says ok. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "natter-test-client.h"
#include "natter-test-server.h"
#include "natter-reliability-util.h"

/* ---- the helper client as a child process -------------------------------- */

typedef struct
{
  GSubprocess      *proc;
  GDataInputStream *out;
  GPtrArray        *lines;
  guint             acked;
  gboolean          eof;
  gboolean          exited;
  int               status;
} Helper;

static void read_next_line (Helper *helper);

static void
line_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Helper *helper = user_data;
  char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (object), result,
                                                          NULL, NULL);

  if (line == NULL)
    {
      helper->eof = TRUE;
      return;
    }
  if (g_str_has_prefix (line, "acked "))
    helper->acked++;
  g_ptr_array_add (helper->lines, line);
  read_next_line (helper);
}

static void
read_next_line (Helper *helper)
{
  g_data_input_stream_read_line_async (helper->out, G_PRIORITY_DEFAULT, NULL, line_cb, helper);
}

static void
helper_exited (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Helper *helper = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (object), result, NULL);
  helper->status = g_subprocess_get_status (G_SUBPROCESS (object));
  helper->exited = TRUE;
}

static Helper *
helper_spawn (const char * const *argv)
{
  Helper *helper = g_new0 (Helper, 1);
  g_autoptr(GError) error = NULL;

  helper->lines = g_ptr_array_new_with_free_func (g_free);
  /* The client helper, like the server, must not outlive a crashed test. */
  {
    g_autoptr(GSubprocessLauncher) launcher = natter_test_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);

    helper->proc = g_subprocess_launcher_spawnv (launcher, argv, &error);
  }
  g_assert_no_error (error);
  helper->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (helper->proc));
  read_next_line (helper);
  g_subprocess_wait_async (helper->proc, NULL, helper_exited, helper);
  return helper;
}

static gboolean
helper_said (Helper     *helper,
             const char *line)
{
  for (guint i = 0; i < helper->lines->len; i++)
    if (g_str_equal (helper->lines->pdata[i], line))
      return TRUE;
  return FALSE;
}

static void
helper_free (Helper *helper)
{
  if (!helper->exited)
    {
      g_subprocess_force_exit (helper->proc);
      natter_rel_wait (helper->exited, 10000);
    }
  natter_rel_wait (helper->eof, 10000);
  g_clear_object (&helper->out);
  g_clear_object (&helper->proc);
  g_ptr_array_unref (helper->lines);
  g_free (helper);
}

/* ---- history through a raw Socket.IO client ----------------------------- */

/* The room's whole history as "seq:from:cid:text" lines. */
static GPtrArray *
history_lines (NatterTestClient *client,
               const char       *room)
{
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  gint64 after = 0;
  gboolean more = TRUE;

  while (more)
    {
      g_autofree char *args = g_strdup_printf ("{\"room\":\"%s\",\"after\":%" G_GINT64_FORMAT
                                               ",\"limit\":200}", room, after);
      g_autoptr(JsonObject) ack = natter_test_client_call_json (client, "history", args);
      JsonArray *messages;

      g_assert_nonnull (ack);
      g_assert_true (json_object_get_boolean_member (ack, "ok"));
      messages = json_object_get_array_member (ack, "messages");
      more = json_object_get_boolean_member (ack, "more");
      for (guint i = 0; i < json_array_get_length (messages); i++)
        {
          JsonObject *m = json_array_get_object_element (messages, i);

          after = json_object_get_int_member (m, "seq");
          g_ptr_array_add (lines, g_strdup_printf ("%" G_GINT64_FORMAT ":%s:%s:%s", after,
                                                   json_object_get_string_member (m, "from"),
                                                   json_object_get_string_member (m, "cid"),
                                                   json_object_get_string_member (m, "text")));
        }
      if (json_array_get_length (messages) == 0)
        break;
    }
  return lines;
}

static NatterTestClient *
raw_client (NatterRelServer *srv,
            const char      *token)
{
  NatterTestClient *client = natter_test_client_new (srv->url);
  g_autoptr(GError) error = NULL;

  natter_test_client_connect (client, token, &error);
  g_assert_no_error (error);
  return client;
}

static void
assert_ack_ok (JsonObject *ack)
{
  g_assert_nonnull (ack);
  if (!json_object_get_boolean_member (ack, "ok"))
    g_error ("ack not ok: %s: %s", json_object_get_string_member_with_default (ack, "error", "?"),
             json_object_get_string_member_with_default (ack, "message", "?"));
}

/* ---- client killed with a full outbox ----------------------------------- */

static void
test_client_killed (void)
{
  NatterRelServer *srv = natter_rel_server_new (0, 0);
  const char *exe = g_getenv ("NATTER_RELIABILITY_CLIENT");
  g_autofree char *token = NULL;
  g_autofree char *observer_token = NULL;
  g_autofree char *cache = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GPtrArray) timeline = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *integrity = NULL;
  NatterTestClient *observer;
  Helper *helper;
  guint acked_before_kill;

  g_assert_nonnull (exe);
  natter_rel_server_start (srv);
  token = natter_test_register (srv->url, "kim");
  observer_token = natter_test_register (srv->url, "obs");
  cache = g_build_filename (srv->dir, "kim-cache.db", NULL);

  {
    const char *argv[] = { exe, srv->url, "kim", token, cache, "outbox", "join", NULL };

    helper = helper_spawn (argv);
    natter_rel_wait (helper->exited, 20000);
    g_assert_true (helper_said (helper, "joined"));
    g_assert_true (g_spawn_check_wait_status (helper->status, NULL));
    helper_free (helper);
  }

  /* The server is gone: 100 messages go to the outbox only; SIGKILL. */
  natter_rel_server_kill (srv);
  {
    const char *argv[] = { exe, srv->url, "kim", token, cache, "outbox", "queue", "a", "100", NULL };

    helper = helper_spawn (argv);
    natter_rel_wait (helper_said (helper, "queued 100") || helper->exited, 20000);
    g_assert_true (helper_said (helper, "queued 100"));
    g_subprocess_force_exit (helper->proc);
    natter_rel_wait (helper->exited, 10000);
    g_assert_cmpuint (helper->acked, ==, 0);
    helper_free (helper);
  }

  /* The server is back: 50 more are written, and the client is killed
   * again while its outbox is being sent. */
  natter_rel_server_start (srv);
  {
    const char *argv[] = { exe, srv->url, "kim", token, cache, "outbox", "queue", "b", "50", NULL };

    helper = helper_spawn (argv);
    natter_rel_wait (helper->acked >= 40 || helper->exited, 30000);
    g_subprocess_force_exit (helper->proc);
    natter_rel_wait (helper->exited, 10000);
    acked_before_kill = helper->acked;
    g_assert_true (helper_said (helper, "queued 50"));
    g_assert_cmpuint (acked_before_kill, >=, 40);
    g_assert_cmpuint (acked_before_kill, <, 150);
    helper_free (helper);
  }

  /* A third start sends the rest. */
  {
    const char *argv[] = { exe, srv->url, "kim", token, cache, "outbox", "drain", NULL };

    helper = helper_spawn (argv);
    natter_rel_wait (helper->exited, 30000);
    g_assert_true (helper_said (helper, "drained"));
    g_assert_true (g_spawn_check_wait_status (helper->status, NULL));
    g_test_message ("client-killed: %u acked before the second SIGKILL, %u after the restart",
                    acked_before_kill, helper->acked);
    for (guint i = 0; i < helper->lines->len; i++)
      if (g_str_has_prefix (helper->lines->pdata[i], "timeline "))
        g_ptr_array_add (timeline, g_strdup ((char *) helper->lines->pdata[i] + strlen ("timeline ")));
    helper_free (helper);
  }

  observer = raw_client (srv, observer_token);
  assert_ack_ok (natter_test_client_call_json (observer, "join", "{\"room\":\"outbox\"}"));
  lines = history_lines (observer, "outbox");
  {
    guint once = 0;

    for (guint i = 0; i < 150; i++)
      {
        g_autofree char *text = i < 100 ? g_strdup_printf ("a-%04u", i) : g_strdup_printf ("b-%04u", i - 100);
        guint n = 0;

        for (guint j = 0; j < lines->len; j++)
          if (g_str_has_suffix (lines->pdata[j], text) &&
              ((const char *) lines->pdata[j])[strlen (lines->pdata[j]) - strlen (text) - 1] == ':')
            n++;
        if (n == 1)
          once++;
      }
    g_test_message ("client-killed: messages written 150 / stored exactly once %u / stored %u",
                    once, lines->len);
    g_assert_cmpuint (once, ==, 150);
  }
  g_assert_cmpuint (lines->len, ==, 150);
  /* The client's own timeline: the same 150, none pending, none twice. */
  if (timeline->len != 150)
    {
      g_autofree char *joined = NULL;

      g_ptr_array_add (timeline, NULL);
      joined = g_strjoinv (" ", (char **) timeline->pdata);
      g_error ("the client's timeline has %u messages, not 150: %s", timeline->len - 1, joined);
    }
  for (guint i = 0; i < 150; i++)
    {
      g_auto(GStrv) parts = g_strsplit (lines->pdata[i], ":", 4);
      g_autofree char *expected = g_strdup_printf ("%s:%s:%s", parts[0], parts[1], parts[3]);

      g_assert_cmpstr (timeline->pdata[i], ==, expected);
    }
  for (guint i = 0; i < 150; i++)
    {
      g_autofree char *text = i < 100 ? g_strdup_printf ("a-%04u", i) : g_strdup_printf ("b-%04u", i - 100);
      g_auto(GStrv) parts = g_strsplit (lines->pdata[i], ":", 4);

      /* In order, gap-free, from kim. */
      g_assert_cmpuint (g_ascii_strtoull (parts[0], NULL, 10), ==, i + 1);
      g_assert_cmpstr (parts[1], ==, "kim");
      g_assert_cmpstr (parts[3], ==, text);
    }
  natter_test_client_free (observer);

  natter_rel_server_stop (srv);
  integrity = natter_rel_integrity_check (srv->data_dir);
  g_assert_cmpstr (integrity, ==, "ok");
  natter_rel_server_free (srv);
}

/* ---- disk full ---------------------------------------------------------- */

static gboolean
set_file_size_limit (GPid    pid,
                     rlim_t  limit)
{
  struct rlimit old, new;

  if (prlimit (pid, RLIMIT_FSIZE, NULL, &old) != 0)
    return FALSE;
  new.rlim_cur = limit;
  new.rlim_max = old.rlim_max;
  return prlimit (pid, RLIMIT_FSIZE, &new, NULL) == 0;
}

static JsonObject *
send_text (NatterTestClient *client,
           const char       *cid,
           const char       *text)
{
  g_autofree char *args = g_strdup_printf ("{\"room\":\"disk\",\"cid\":\"%s\",\"text\":\"%s\"}",
                                           cid, text);

  return natter_test_client_call_json (client, "send", args);
}

static guint
count_lines (NatterRelServer *srv,
             const char      *needle)
{
  guint n = 0;

  for (const char *p = srv->log != NULL ? strstr (srv->log->str, needle) : NULL;
       p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

static void
test_disk_full (void)
{
  NatterRelServer *srv = natter_rel_server_new (0, 0);
  const char *exe = g_getenv ("NATTER_RELIABILITY_CLIENT");
  g_autofree char *cache = NULL;
  Helper *helper;
  g_autofree char *token = NULL;
  g_autofree char *log = NULL;
  g_autofree char *integrity = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  NatterTestClient *client, *reader;
  GPid pid;

  natter_rel_server_start (srv);
  pid = natter_rel_server_get_pid (srv);
  token = natter_test_register (srv->url, "dora");
  client = raw_client (srv, token);
  assert_ack_ok (natter_test_client_call_json (client, "join", "{\"room\":\"disk\",\"create\":true}"));
  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *cid = g_strdup_printf ("before-%u", i);
      g_autoptr(JsonObject) ack = send_text (client, cid, cid);

      assert_ack_ok (ack);
      g_assert_cmpint (json_object_get_int_member (ack, "seq"), ==, i + 1);
    }

  /* A libnatter-client session too, with the room in its cache. */
  cache = g_build_filename (srv->dir, "dora-cache.db", NULL);
  {
    const char *argv[] = { exe, srv->url, "dora", token, cache, "disk", "join", NULL };

    helper = helper_spawn (argv);
    natter_rel_wait (helper->exited, 20000);
    g_assert_true (helper_said (helper, "joined"));
    helper_free (helper);
  }

  /* The disk fills up. */
  if (!set_file_size_limit (pid, 0))
    {
      g_autofree char *why = g_strdup_printf ("prlimit(RLIMIT_FSIZE) on the server refused: %s",
                                              g_strerror (errno));

      g_test_skip (why);
      natter_test_client_free (client);
      natter_rel_server_free (srv);
      return;
    }
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *cid = g_strdup_printf ("during-%u", i);
      g_autoptr(JsonObject) ack = send_text (client, cid, cid);

      g_assert_nonnull (ack);
      g_assert_false (json_object_get_boolean_member (ack, "ok"));
      g_assert_cmpstr (json_object_get_string_member (ack, "error"), ==, "internal");
    }

  /* Other writes fail as cleanly: a new room, a new token. */
  {
    g_autoptr(JsonObject) ack = natter_test_client_call_json (client, "join",
                                                              "{\"room\":\"new-room\",\"create\":true}");
    g_autoptr(JsonNode) body = NULL;
    guint status;

    g_assert_nonnull (ack);
    g_assert_false (json_object_get_boolean_member (ack, "ok"));
    g_assert_cmpstr (json_object_get_string_member (ack, "error"), ==, "internal");
    status = natter_test_http (srv->url, "POST", "/api/v1/login",
                               "{\"user\":\"dora\",\"password\":\"secret-dora\"}", NULL, &body);
    g_assert_cmpuint (status, ==, 500);
    g_assert_cmpstr (json_object_get_string_member (json_node_get_object (body), "error"), ==, "internal");
  }

  /* Reads go on, for this connection and a new one. */
  lines = history_lines (client, "disk");
  g_assert_cmpuint (lines->len, ==, 5);
  g_clear_pointer (&lines, g_ptr_array_unref);
  reader = raw_client (srv, token);
  {
    g_autoptr(JsonObject) rooms = natter_test_client_call_json (reader, "rooms", "{}");
    g_autoptr(JsonObject) members = natter_test_client_call_json (reader, "members", "{\"room\":\"disk\"}");

    assert_ack_ok (rooms);
    assert_ack_ok (members);
  }
  lines = history_lines (reader, "disk");
  g_assert_cmpuint (lines->len, ==, 5);
  g_clear_pointer (&lines, g_ptr_array_unref);

  /* The library keeps its messages and tries again (`internal` is
   * transient for it) until the disk has room. */
  {
    const char *argv[] = { exe, srv->url, "dora", token, cache, "disk", "queue", "lib", "20", NULL };

    helper = helper_spawn (argv);
    natter_rel_wait (helper_said (helper, "queued 20") && count_lines (srv, "send:") >= 5, 20000);
    g_assert_cmpuint (helper->acked, ==, 0);
  }

  log = natter_rel_server_read_log (srv);
  if (strstr (log, "send:") == NULL)
    g_error ("no log line for the refused sends; the log:\n%s", log);
  {
    g_autofree char *line = g_strndup (strstr (log, "send:"), strcspn (strstr (log, "send:"), "\n"));

    g_test_message ("disk-full: sends refused with `internal`, reads served; the log says \"%s\"", line);
  }

  /* Space returns: the refused cid is stored now, right after the old ones. */
  g_assert_true (set_file_size_limit (pid, RLIM_INFINITY));
  {
    g_autoptr(JsonObject) again = send_text (client, "during-0", "during-0");
    g_autoptr(JsonObject) next = send_text (client, "after-0", "after-0");

    assert_ack_ok (again);
    g_assert_cmpint (json_object_get_int_member (again, "seq"), ==, 6);
    assert_ack_ok (next);
    g_assert_cmpint (json_object_get_int_member (next, "seq"), ==, 7);
  }
  natter_rel_wait (helper->acked == 20, 20000);
  helper_free (helper);
  lines = history_lines (reader, "disk");
  g_assert_cmpuint (lines->len, ==, 27);
  {
    guint next_lib = 0;

    for (guint i = 0; i < lines->len; i++)
      {
        g_auto(GStrv) parts = g_strsplit (lines->pdata[i], ":", 4);
        g_autofree char *expected = g_strdup_printf ("lib-%04u", next_lib);

        g_assert_cmpuint (g_ascii_strtoull (parts[0], NULL, 10), ==, i + 1);
        if (g_str_has_prefix (parts[3], "lib-"))
          {
            g_assert_cmpstr (parts[3], ==, expected);
            next_lib++;
          }
      }
    g_assert_cmpuint (next_lib, ==, 20);
  }

  natter_test_client_free (reader);
  natter_test_client_free (client);
  natter_rel_server_stop (srv);
  integrity = natter_rel_integrity_check (srv->data_dir);
  g_assert_cmpstr (integrity, ==, "ok");
  natter_rel_server_free (srv);
}

int
main (int   argc,
      char *argv[])
{
  natter_test_init (&argc, &argv);

  g_test_add_func ("/reliability/faults/client-killed", test_client_killed);
  g_test_add_func ("/reliability/faults/disk-full", test_disk_full);

  return g_test_run ();
}
