/* test-cli.c: the natter-server binary: --help, --version, bad arguments
 * (one line, exit 2), a key-file --config, and a clean shutdown on SIGTERM
 * (sockets closed with 1001, data kept). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "natter-protocol.h"
#include "natter-test-client.h"
#include "natter-test-server.h"

static const char *
server_bin (void)
{
  const char *bin = g_getenv ("NATTER_SERVER_BIN");

  if (bin == NULL)
    g_error ("NATTER_SERVER_BIN is not set (run through meson test)");
  return bin;
}

static int
run (const char * const *args,
     char              **out,
     char              **err)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  int status = 0;

  g_ptr_array_add (argv, (gpointer) server_bin ());
  for (; *args != NULL; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);

  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT,
                natter_test_die_with_parent, GINT_TO_POINTER (getpid ()),
                out, err, &status, &error);
  g_assert_no_error (error);
  g_assert_true (WIFEXITED (status));
  return WEXITSTATUS (status);
}

static void
test_help_version (void)
{
  const char *help[] = { "--help", NULL };
  const char *version[] = { "--version", NULL };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  guint i;
  const char *options[] = { "--address", "--port", "--data-dir", "--config", "--tls-cert",
                            "--tls-key", "--allowed-origin", "--conformance", "--version" };

  g_assert_cmpint (run (help, &out, &err), ==, 0);
  for (i = 0; i < G_N_ELEMENTS (options); i++)
    g_assert_nonnull (strstr (out, options[i]));

  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run (version, &out, &err), ==, 0);
  g_assert_cmpstr (out, ==, "natter-server " PACKAGE_VERSION "\n");
}

static void
test_bad_arguments (void)
{
  const char *cases[][3] = {
    { "--bogus", NULL, NULL },
    { "--port", "seven", NULL },
    { "--port", "70000", NULL },
    { "stray", NULL, NULL },
    { "--tls-cert", "/nonexistent.pem", NULL },
    { "--config", "/nonexistent/natter.conf", NULL },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;

      g_test_message ("natter-server %s %s", cases[i][0], cases[i][1] ? cases[i][1] : "");
      g_assert_cmpint (run (cases[i], &out, &err), ==, 2);
      g_assert_cmpstr (out, ==, "");
      /* One line, naming the program. */
      g_assert_true (g_str_has_prefix (err, "natter-server: "));
      g_assert_nonnull (strchr (err, '\n'));
      g_assert_cmpstr (strchr (err, '\n') + 1, ==, "");
    }
}

/* ---- a running binary ------------------------------------------------------------ */

typedef struct
{
  GSubprocess      *process;
  GDataInputStream *stderr_lines;
  guint             port;
  gboolean          exited;
  GString          *log;
} Running;

static void
line_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Running *running = user_data;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source),
                                                                     result, NULL, NULL);
  const char *at;

  if (line == NULL)
    return;
  g_string_append_printf (running->log, "%s\n", line);
  at = strstr (line, "listening on 127.0.0.1:");
  if (at != NULL)
    running->port = atoi (at + strlen ("listening on 127.0.0.1:"));
  g_data_input_stream_read_line_async (running->stderr_lines, G_PRIORITY_DEFAULT, NULL, line_cb, running);
}

static void
exited_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Running *running = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  running->exited = TRUE;
}

static gboolean
port_cond (gpointer data)
{
  Running *running = data;

  return running->port != 0 || running->exited;
}

static gboolean
exited_cond (gpointer data)
{
  return ((Running *) data)->exited;
}

static void
start_binary (Running            *running,
              const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;

  g_ptr_array_add (argv, (gpointer) server_bin ());
  for (; *args != NULL; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);

  running->log = g_string_new (NULL);
  {
    g_autoptr(GSubprocessLauncher) launcher =
      natter_test_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE | G_SUBPROCESS_FLAGS_STDOUT_SILENCE);

    running->process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  }
  g_assert_no_error (error);
  running->stderr_lines = g_data_input_stream_new (g_subprocess_get_stderr_pipe (running->process));
  g_data_input_stream_read_line_async (running->stderr_lines, G_PRIORITY_DEFAULT, NULL, line_cb, running);
  g_subprocess_wait_async (running->process, NULL, exited_cb, running);

  g_assert_true (natter_test_wait (port_cond, running, NATTER_TEST_TIMEOUT_MS));
  if (running->exited)
    g_error ("natter-server exited early:\n%s", running->log->str);
}

static void
running_clear (Running *running)
{
  if (!running->exited)
    {
      g_subprocess_force_exit (running->process);
      natter_test_wait (exited_cond, running, NATTER_TEST_TIMEOUT_MS);
    }
  g_clear_object (&running->stderr_lines);
  g_clear_object (&running->process);
  g_string_free (running->log, TRUE);
}

static void
test_config_and_sigterm (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("natter-cli-test-XXXXXX", &error);
  g_autofree char *conf = g_build_filename (dir, "natter.conf", NULL);
  g_autofree char *data_dir = g_build_filename (dir, "data", NULL);
  g_autofree char *contents = g_strdup_printf ("[server]\n"
                                               "address=127.0.0.1\n"
                                               "port=0\n"
                                               "data-dir=%s\n"
                                               "[limits]\n"
                                               "ping-interval-ms=1234\n"
                                               "ping-timeout-ms=4321\n", data_dir);
  const char *args[] = { "--config", conf, NULL };
  Running running = { 0, };
  g_autofree char *url = NULL;
  g_autofree char *token = NULL;
  g_autoptr(NatterTestClient) client = NULL;
  g_autoptr(JsonObject) ack = NULL;
  g_autofree char *db = g_build_filename (data_dir, "natter.db", NULL);
  GPtrArray *frames;

  g_assert_no_error (error);
  g_file_set_contents (conf, contents, -1, &error);
  g_assert_no_error (error);

  start_binary (&running, args);
  url = g_strdup_printf ("http://127.0.0.1:%u", running.port);
  token = natter_test_register (url, "alice");

  client = natter_test_client_new (url);
  natter_test_client_connect (client, token, &error);
  g_assert_no_error (error);
  frames = natter_test_client_get_frames (client);
  g_assert_nonnull (strstr (g_ptr_array_index (frames, 0), "\"pingInterval\":1234"));
  g_assert_nonnull (strstr (g_ptr_array_index (frames, 0), "\"pingTimeout\":4321"));

  ack = natter_test_client_call_json (client, "send", "{\"room\":\"general\",\"cid\":\"k1\",\"text\":\"kept\"}");
  g_assert_true (json_object_get_boolean_member (ack, "ok"));

  g_subprocess_send_signal (running.process, SIGTERM);
  g_assert_true (natter_test_client_wait_closed (client, NATTER_TEST_TIMEOUT_MS));
  g_assert_cmpuint (natter_test_client_get_close_code (client), ==, 1001);
  g_assert_true (natter_test_wait (exited_cond, &running, NATTER_TEST_TIMEOUT_MS));
  g_assert_true (g_subprocess_get_if_exited (running.process));
  g_assert_cmpint (g_subprocess_get_exit_status (running.process), ==, 0);
  g_assert_true (g_file_test (db, G_FILE_TEST_EXISTS));
  running_clear (&running);

  /* It comes back with the message. */
  {
    Running again = { 0, };
    g_autoptr(NatterTestClient) back = NULL;
    g_autoptr(JsonObject) history = NULL;
    g_autofree char *url2 = NULL;

    start_binary (&again, args);
    url2 = g_strdup_printf ("http://127.0.0.1:%u", again.port);
    back = natter_test_client_new (url2);
    natter_test_client_connect (back, token, &error);
    g_assert_no_error (error);
    history = natter_test_client_call_json (back, "history", "{\"room\":\"general\"}");
    g_assert_cmpuint (json_array_get_length (json_object_get_array_member (history, "messages")), ==, 1);
    natter_test_client_close (back);

    g_subprocess_send_signal (again.process, SIGINT);
    g_assert_true (natter_test_wait (exited_cond, &again, NATTER_TEST_TIMEOUT_MS));
    g_assert_cmpint (g_subprocess_get_exit_status (again.process), ==, 0);
    running_clear (&again);
  }

  {
    g_autofree char *rm = g_strdup_printf ("rm -rf '%s'", dir);

    g_spawn_command_line_sync (rm, NULL, NULL, NULL, NULL);
  }
}

int
main (int   argc,
      char *argv[])
{
  natter_test_init (&argc, &argv);

  g_test_add_func ("/server/cli/help-version", test_help_version);
  g_test_add_func ("/server/cli/bad-arguments", test_bad_arguments);
  g_test_add_func ("/server/cli/config-and-sigterm", test_config_and_sigterm);

  return g_test_run ();
}
