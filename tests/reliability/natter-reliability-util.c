/* natter-reliability-util.c: spawning, killing and restarting the real
 * natter-server binary for the reliability tests. */
#include "natter-reliability-util.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

gboolean
natter_rel_tick (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static guint
free_port (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_socket_bind (socket, address, TRUE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

NatterRelServer *
natter_rel_server_new (guint ping_interval_ms,
                       guint ping_timeout_ms)
{
  NatterRelServer *srv = g_new0 (NatterRelServer, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) config = g_string_new (NULL);
  const char *exe = g_getenv ("NATTER_SERVER_BIN");

  if (exe == NULL)
    g_error ("NATTER_SERVER_BIN is not set (run under meson test)");
  srv->exe = g_strdup (exe);
  srv->dir = g_dir_make_tmp ("natter-rel-XXXXXX", &error);
  g_assert_no_error (error);
  srv->data_dir = g_build_filename (srv->dir, "data", NULL);
  g_assert_cmpint (g_mkdir (srv->data_dir, 0700), ==, 0);
  srv->config_path = g_build_filename (srv->dir, "natter-server.conf", NULL);
  srv->port = free_port ();
  srv->url = g_strdup_printf ("http://127.0.0.1:%u", srv->port);

  g_string_append_printf (config,
                          "[server]\naddress=127.0.0.1\nport=%u\ndata-dir=%s\n"
                          "[limits]\nsend-rate=0\n",
                          srv->port, srv->data_dir);
  if (ping_interval_ms > 0)
    g_string_append_printf (config, "ping-interval-ms=%u\nping-timeout-ms=%u\n",
                            ping_interval_ms, ping_timeout_ms);
  g_file_set_contents (srv->config_path, config->str, -1, &error);
  g_assert_no_error (error);
  return srv;
}

/* Runs in the child between fork and exec. The server dies with the test
 * (a crashed test leaves no natter-server behind); one whose test died
 * before this ran exits at once. */
static void
child_setup (gpointer data)
{
  signal (SIGXFSZ, SIG_IGN);
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != (pid_t) GPOINTER_TO_INT (data))
    _exit (1);
}

static void
exited_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  NatterRelServer *srv = user_data;
  GSubprocess *proc = G_SUBPROCESS (object);

  g_subprocess_wait_finish (proc, result, NULL);
  if (proc == srv->proc)
    {
      srv->exited = TRUE;
      srv->exit_status = g_subprocess_get_status (proc);
    }
  g_object_unref (proc);
}

/* Collects the output of one run into srv->log until EOF. */
typedef struct
{
  NatterRelServer *srv;
  guint            generation;
  GInputStream    *stream;
  char             buf[4096];
} LogReader;

static void log_read (LogReader *reader);

static void
log_got (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  LogReader *reader = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, NULL);

  if (n <= 0)
    {
      g_object_unref (reader->stream);
      reader->srv->log_readers--;
      g_free (reader);
      return;
    }
  if (reader->generation == reader->srv->starts)
    g_string_append_len (reader->srv->log, reader->buf, n);
  log_read (reader);
}

static void
log_read (LogReader *reader)
{
  g_input_stream_read_async (reader->stream, reader->buf, sizeof reader->buf, G_PRIORITY_DEFAULT,
                             NULL, log_got, reader);
}

static gboolean
accepts_connections (NatterRelServer *srv)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, srv->port);

  /* Loopback: a refusal is immediate, so a blocking connect is fine. */
  return socket != NULL && g_socket_connect (socket, address, NULL, NULL);
}

void
natter_rel_server_spawn (NatterRelServer *srv)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  LogReader *reader;

  g_assert_null (srv->proc);
  srv->starts++;
  /* A pipe, not a file: a file size limit must not silence the log. */
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_child_setup (launcher, child_setup, GINT_TO_POINTER (getpid ()), NULL);
  srv->exited = FALSE;
  srv->proc = g_subprocess_launcher_spawn (launcher, &error, srv->exe,
                                           "--config", srv->config_path, NULL);
  g_assert_no_error (error);
  g_subprocess_wait_async (g_object_ref (srv->proc), NULL, exited_cb, srv);

  if (srv->log == NULL)
    srv->log = g_string_new (NULL);
  g_string_truncate (srv->log, 0);
  reader = g_new0 (LogReader, 1);
  reader->srv = srv;
  reader->generation = srv->starts;
  reader->stream = g_object_ref (g_subprocess_get_stdout_pipe (srv->proc));
  srv->log_readers++;
  log_read (reader);
}

void
natter_rel_server_start (NatterRelServer *srv)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  natter_rel_server_spawn (srv);
  while (!accepts_connections (srv))
    {
      guint tick;

      if (srv->exited)
        {
          g_autofree char *log = natter_rel_server_read_log (srv);
          g_error ("natter-server exited at start (status %d):\n%s", srv->exit_status, log);
        }
      if (g_get_monotonic_time () > deadline)
        g_error ("natter-server did not listen on port %u within 20 s", srv->port);
      tick = g_timeout_add (5, natter_rel_tick, NULL);
      g_main_context_iteration (NULL, TRUE);
      g_source_remove (tick);
    }
}

static void
wait_exited (NatterRelServer *srv)
{
  natter_rel_wait (srv->exited, 20000);
  g_clear_object (&srv->proc);
}

void
natter_rel_server_kill (NatterRelServer *srv)
{
  g_assert_nonnull (srv->proc);
  g_subprocess_force_exit (srv->proc);
  wait_exited (srv);
  g_assert_true (WIFSIGNALED (srv->exit_status));
  g_assert_cmpint (WTERMSIG (srv->exit_status), ==, SIGKILL);
}

void
natter_rel_server_stop (NatterRelServer *srv)
{
  g_assert_nonnull (srv->proc);
  g_subprocess_send_signal (srv->proc, SIGTERM);
  wait_exited (srv);
  g_assert_true (WIFEXITED (srv->exit_status));
  g_assert_cmpint (WEXITSTATUS (srv->exit_status), ==, 0);
}

GPid
natter_rel_server_get_pid (NatterRelServer *srv)
{
  const char *id;

  g_assert_nonnull (srv->proc);
  id = g_subprocess_get_identifier (srv->proc);
  g_assert_nonnull (id);
  return (GPid) g_ascii_strtoll (id, NULL, 10);
}

char *
natter_rel_server_read_log (NatterRelServer *srv)
{
  return g_strdup (srv->log != NULL ? srv->log->str : "");
}

static void
rm_rf (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        rm_rf (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

void
natter_rel_server_free (NatterRelServer *srv)
{
  if (srv->proc != NULL)
    {
      g_subprocess_force_exit (srv->proc);
      wait_exited (srv);
    }
  /* The readers end at EOF, which the exit brings. */
  natter_rel_wait (srv->log_readers == 0, 10000);
  rm_rf (srv->dir);
  g_free (srv->exe);
  g_free (srv->dir);
  g_free (srv->data_dir);
  g_free (srv->config_path);
  g_free (srv->url);
  if (srv->log != NULL)
    g_string_free (srv->log, TRUE);
  g_free (srv);
}

char *
natter_rel_integrity_check (const char *data_dir)
{
  g_autofree char *path = g_build_filename (data_dir, "natter.db", NULL);
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  char *result;

  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    {
      result = g_strdup_printf ("cannot open: %s", db != NULL ? sqlite3_errmsg (db) : "?");
      sqlite3_close (db);
      return result;
    }
  if (sqlite3_prepare_v2 (db, "PRAGMA integrity_check;", -1, &stmt, NULL) == SQLITE_OK &&
      sqlite3_step (stmt) == SQLITE_ROW)
    result = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  else
    result = g_strdup_printf ("failed: %s", sqlite3_errmsg (db));
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return result;
}
