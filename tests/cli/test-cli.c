/* test-cli.c: natter-cli end to end, through its real binary, against an
 * in-process natter-server on loopback. */
#include <signal.h>
#include <sys/prctl.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "natter-client-private.h"
#include "natter-test-tls.h"
#include "natter-test-util.h"

typedef struct
{
  NatterTestServer *ts;
  char             *home;
  char             *cli;
} Fixture;

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  const char *build = g_getenv ("NATTER_BUILD_DIR");

  g_assert_nonnull (build);
  f->cli = g_build_filename (build, "src", "cli", "natter-cli", NULL);
  g_assert_true (g_file_test (f->cli, G_FILE_TEST_IS_EXECUTABLE));
  f->ts = natter_test_server_new (0, 0);
  f->home = natter_test_mkdtemp ();
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  natter_test_server_free (f->ts);
  natter_test_rm_rf (f->home);
  g_free (f->home);
  g_free (f->cli);
}

/* A test that aborts must not leave a listener behind. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static GSubprocessLauncher *
launcher_for (Fixture    *f,
              const char *password,
              GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);
  g_autofree char *config = g_build_filename (f->home, "config", NULL);
  g_autofree char *data = g_build_filename (f->home, "data", NULL);
  g_autofree char *cache = g_build_filename (f->home, "cache", NULL);

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, "XDG_CONFIG_HOME", config, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_DATA_HOME", data, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_CACHE_HOME", cache, TRUE);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  /* No Secret Service reachable: the cli must say so, not fall back. */
  g_subprocess_launcher_unsetenv (launcher, "DBUS_SESSION_BUS_ADDRESS");
  g_subprocess_launcher_unsetenv (launcher, "DISPLAY");
  g_subprocess_launcher_unsetenv (launcher, "NATTER_SERVER");
  g_subprocess_launcher_unsetenv (launcher, "NATTER_USER");
  if (password != NULL)
    g_subprocess_launcher_setenv (launcher, "NATTER_PASSWORD", password, TRUE);
  else
    g_subprocess_launcher_unsetenv (launcher, "NATTER_PASSWORD");
  return launcher;
}

static void
store_result (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* Runs natter-cli with @argv (after the program name, NULL-terminated),
 * iterating the main loop (the server lives in this process). */
static int
run_cli (Fixture     *f,
         const char  *password,
         const char  *input,
         char       **out,
         char       **err,
         ...)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *o = NULL;
  g_autofree char *e = NULL;
  const char *arg;
  va_list args;

  g_ptr_array_add (argv, f->cli);
  va_start (args, err);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (char *) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  launcher = launcher_for (f, password, G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  proc = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, input != NULL ? input : "", NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 30000);
  g_subprocess_communicate_utf8_finish (proc, result, &o, &e, &error);
  g_assert_no_error (error);
  g_clear_object (&result);
  g_subprocess_wait_async (proc, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 30000);
  g_subprocess_wait_finish (proc, result, &error);
  g_assert_no_error (error);

  /* A child killed by a signal (a sanitizer's abort, a crash) says why on
   * its stderr, which the caller's assertion would not show. */
  if (!g_subprocess_get_if_exited (proc))
    g_test_message ("natter-cli died by signal %d; its stderr:\n%s",
                    g_subprocess_get_term_sig (proc), e != NULL ? e : "");

  if (out != NULL)
    *out = g_steal_pointer (&o);
  if (err != NULL)
    *err = g_steal_pointer (&e);
  return g_subprocess_get_if_exited (proc) ? g_subprocess_get_exit_status (proc) : -1;
}

static guint
count_lines (const char *text)
{
  guint n = 0;

  for (const char *p = text; *p != '\0'; p++)
    n += *p == '\n';
  return n;
}

static void
test_usage (Fixture       *f,
            gconstpointer  data)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_assert_cmpint (run_cli (f, NULL, NULL, &out, NULL, "--help", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "listen ROOM"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (f, NULL, NULL, &out, NULL, "--version", NULL), ==, 0);
  g_assert_true (g_str_has_prefix (out, "natter-cli "));

#define USAGE(...)                                                           \
  G_STMT_START {                                                             \
    g_clear_pointer (&err, g_free);                                          \
    g_assert_cmpint (run_cli (f, NULL, NULL, NULL, &err, __VA_ARGS__, NULL), ==, 2); \
    g_assert_cmpuint (count_lines (err), ==, 1);                             \
  } G_STMT_END
  USAGE ("--server", f->ts->url);                  /* no command */
  USAGE ("frobnicate");
  USAGE ("--bogus", "rooms");
  USAGE ("--user", "alice", "send");               /* missing ROOM */
  USAGE ("--user", "alice", "dm", "bob");          /* missing TEXT */
  USAGE ("--user", "alice", "history", "general", "--limit", "0");
  USAGE ("--user", "alice", "history", "general", "--limit", "many");
  USAGE ("--user", "alice", "rooms", "--limit", "5");
  USAGE ("--user", "Not Valid", "rooms");
  USAGE ("rooms");                                 /* no user known */
#undef USAGE
}

static void
test_end_to_end (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;
  /* A copy: a restart gives the fixture a new (equal) URL string. */
  g_autofree char *url = g_strdup (f->ts->url);

#define CLI(password, input, ...) run_cli (f, password, input, &out, &err, "--server", url, __VA_ARGS__, NULL)
#define RESET() G_STMT_START { g_clear_pointer (&out, g_free); g_clear_pointer (&err, g_free); } G_STMT_END

  g_assert_cmpint (CLI ("pass-alice", NULL, "register", "alice"), ==, 0);
  RESET ();
  g_assert_cmpint (CLI ("pass-bob", NULL, "register", "bob"), ==, 0);
  RESET ();
  /* Taken. */
  g_assert_cmpint (CLI ("pass-bob", NULL, "register", "bob"), ==, 1);
  g_assert_nonnull (strstr (err, "taken"));
  RESET ();

  /* A wrong password and an unreachable server say so, distinctly. */
  g_assert_cmpint (CLI ("wrong", NULL, "--user", "alice", "rooms"), ==, 4);
  g_assert_nonnull (strstr (err, "Wrong user name or password"));
  RESET ();
  g_assert_cmpint (run_cli (f, "pass-alice", NULL, &out, &err, "--server", "http://127.0.0.1:1",
                            "--user", "alice", "rooms", NULL), ==, 3);
  g_assert_nonnull (strstr (err, "reach"));
  RESET ();

  /* Unknown room. */
  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "join", "nowhere"), ==, 5);
  g_assert_cmpuint (count_lines (err), ==, 1);
  RESET ();
  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "send", "nowhere", "hi"), ==, 5);
  RESET ();

  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "join", "--create", "--topic", "Hello", "lobby"), ==, 0);
  RESET ();
  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "join", "general"), ==, 0);
  RESET ();
  g_assert_cmpint (CLI ("pass-bob", NULL, "--user", "bob", "join", "general"), ==, 0);
  RESET ();
  g_assert_cmpint (CLI ("pass-bob", NULL, "--user", "bob", "rooms"), ==, 0);
  if (strstr (out, "lobby\t1\t-\tHello\n") == NULL || strstr (out, "general\t2\tjoined\t") == NULL)
    g_error ("rooms printed: %s", out);
  RESET ();

  /* One message from the command line, three from stdin (blank skipped). */
  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "send", "general", "first"), ==, 0);
  RESET ();
  g_assert_cmpint (CLI ("pass-alice", "second\n\nthird\nfourth ünïcødé\n", "--user", "alice", "send", "general"), ==, 0);
  RESET ();
  /* Too long: refused, reported, non-zero, the others still sent. */
  {
    g_autofree char *huge = g_strnfill (17 * 1024, 'x');
    g_autofree char *input = g_strdup_printf ("fifth\n%s\n", huge);

    g_assert_cmpint (CLI ("pass-alice", input, "--user", "alice", "send", "general"), ==, 1);
    g_assert_nonnull (strstr (err, "not sent"));
    RESET ();
  }

  g_assert_cmpint (CLI ("pass-bob", NULL, "--user", "bob", "history", "general", "--limit", "3"), ==, 0);
  lines = g_strsplit (out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 4);
  {
    const char *want[] = { "third", "fourth ünïcødé", "fifth" };

    for (guint i = 0; i < 3; i++)
      {
        g_autoptr(JsonParser) parser = json_parser_new ();
        JsonObject *object;

        g_assert_true (json_parser_load_from_data (parser, lines[i], -1, NULL));
        object = json_node_get_object (json_parser_get_root (parser));
        g_assert_cmpstr (json_object_get_string_member (object, "text"), ==, want[i]);
        g_assert_cmpstr (json_object_get_string_member (object, "from"), ==, "alice");
        g_assert_cmpint (json_object_get_int_member (object, "seq"), ==, i + 3);
      }
  }
  g_clear_pointer (&lines, g_strfreev);
  RESET ();

  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "dm", "bob", "psst"), ==, 0);
  RESET ();
  g_assert_cmpint (CLI ("pass-bob", NULL, "--user", "bob", "history", "@alice+bob"), ==, 0);
  g_assert_nonnull (strstr (out, "\"psst\""));
  RESET ();

  g_assert_cmpint (CLI ("pass-bob", NULL, "--user", "bob", "leave", "general"), ==, 0);
  RESET ();
  g_assert_cmpint (CLI ("pass-bob", NULL, "--user", "bob", "send", "general", "hi"), ==, 5);
  RESET ();
  g_assert_cmpint (CLI ("pass-bob", NULL, "--user", "bob", "history", "general"), ==, 5);
  RESET ();

  /* login keeps the token in the Secret Service; there is none here. */
  g_assert_cmpint (CLI ("pass-alice", NULL, "login", "alice"), ==, 6);
  g_assert_nonnull (strstr (err, "Secret Service"));
  RESET ();
  /* And without NATTER_PASSWORD there is no token to use. */
  g_assert_cmpint (CLI (NULL, NULL, "--user", "alice", "rooms"), ==, 4);
  RESET ();
#undef CLI
#undef RESET
}

typedef struct
{
  GDataInputStream *in;
  GPtrArray        *lines;
  gboolean          eof;
} Reader;

static void
line_read (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Reader *r = user_data;
  char *line = g_data_input_stream_read_line_finish_utf8 (r->in, result, NULL, NULL);

  if (line == NULL)
    {
      r->eof = TRUE;
      return;
    }
  g_ptr_array_add (r->lines, line);
  g_data_input_stream_read_line_async (r->in, G_PRIORITY_DEFAULT, NULL, line_read, r);
}

static gboolean
has_line_with (Reader     *r,
               const char *needle)
{
  for (guint i = 0; i < r->lines->len; i++)
    if (strstr (g_ptr_array_index (r->lines, i), needle) != NULL)
      return TRUE;
  return FALSE;
}

static guint
count_json_lines (Reader *r)
{
  guint n = 0;

  for (guint i = 0; i < r->lines->len; i++)
    n += g_str_has_prefix (g_ptr_array_index (r->lines, i), "{") ? 1 : 0;
  return n;
}

static void
test_listen_through_restart (Fixture       *f,
                             gconstpointer  data)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) listener = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  Reader r = { NULL, g_ptr_array_new_with_free_func (g_free), FALSE };
  /* A copy: a restart gives the fixture a new (equal) URL string. */
  g_autofree char *url = g_strdup (f->ts->url);

  g_assert_cmpint (run_cli (f, "pass-alice", NULL, NULL, NULL, "--server", url, "register", "alice", NULL), ==, 0);
  g_assert_cmpint (run_cli (f, "pass-bob", NULL, NULL, NULL, "--server", url, "register", "bob", NULL), ==, 0);
  g_assert_cmpint (run_cli (f, "pass-alice", NULL, NULL, NULL, "--server", url, "--user", "alice", "join", "--create", "ops", NULL), ==, 0);
  g_assert_cmpint (run_cli (f, "pass-bob", NULL, NULL, NULL, "--server", url, "--user", "bob", "join", "ops", NULL), ==, 0);

  launcher = launcher_for (f, "pass-bob", G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  listener = g_subprocess_launcher_spawn (launcher, &error, f->cli, "--server", url,
                                          "--user", "bob", "listen", "ops", NULL);
  g_assert_no_error (error);
  r.in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (listener));
  g_data_input_stream_read_line_async (r.in, G_PRIORITY_DEFAULT, NULL, line_read, &r);

  /* It says when it listens (on stderr, merged here). */
  natter_test_wait_until (has_line_with (&r, "listening to ops"), 20000);
  g_assert_cmpint (run_cli (f, "pass-alice", NULL, NULL, NULL, "--server", url, "--user", "alice", "send", "ops", "before", NULL), ==, 0);
  natter_test_wait_until (has_line_with (&r, "\"before\""), 20000);

  /* The server goes away and comes back; a message sent meanwhile on the
   * new server reaches the same listener. */
  natter_test_server_restart (f->ts);
  g_assert_cmpint (run_cli (f, "pass-alice", NULL, NULL, NULL, "--server", url, "--user", "alice", "send", "ops", "after", NULL), ==, 0);
  natter_test_wait_until (has_line_with (&r, "\"after\""), 20000);
  g_assert_false (r.eof);
  g_assert_cmpuint (count_json_lines (&r), ==, 2);

  g_subprocess_send_signal (listener, SIGTERM);
  g_subprocess_wait_async (listener, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 10000);
  g_assert_true (g_subprocess_wait_finish (listener, result, NULL));
  g_assert_true (g_subprocess_get_if_exited (listener));
  g_assert_cmpint (g_subprocess_get_exit_status (listener), ==, 0);

  natter_test_wait_until (r.eof, 5000);
  g_object_unref (r.in);
  g_ptr_array_unref (r.lines);
}

/* natter-cli send exits only when every line is acknowledged, even when
 * the server restarts in the middle; each line is stored exactly once. */
static void
test_send_through_restart (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) sender = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) batch = g_string_new (NULL);
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  g_autoptr(NatterSession) bob = NULL;
  NatterTimeline *timeline;
  GOutputStream *in;
  /* A copy: a restart gives the fixture a new (equal) URL string. */
  g_autofree char *url = g_strdup (f->ts->url);

  g_assert_cmpint (run_cli (f, "pass-alice", NULL, NULL, NULL, "--server", url, "register", "alice", NULL), ==, 0);
  g_assert_cmpint (run_cli (f, "pass-alice", NULL, NULL, NULL, "--server", url, "--user", "alice",
                            "join", "--create", "ops", NULL), ==, 0);

  /* Bob watches from here, through the library. */
  g_assert_cmpint (run_cli (f, "secret-password", NULL, NULL, NULL, "--server", url, "register", "bob", NULL), ==, 0);
  bob = natter_test_session_new (url, "bob", NULL, TRUE);
  timeline = natter_room_get_timeline (natter_test_join (bob, "ops"));

  launcher = launcher_for (f, "pass-alice", G_SUBPROCESS_FLAGS_STDIN_PIPE);
  sender = g_subprocess_launcher_spawn (launcher, &error, f->cli, "--server", url,
                                        "--user", "alice", "send", "ops", NULL);
  g_assert_no_error (error);
  in = g_subprocess_get_stdin_pipe (sender);

  for (guint i = 0; i < 120; i++)
    g_string_append_printf (batch, "m%03u\n", i);
  g_assert_true (g_output_stream_write_all (in, batch->str, batch->len, NULL, NULL, &error));
  g_assert_no_error (error);
  /* Once the server has stored some, pull the rug. */
  natter_test_wait_until (g_list_model_get_n_items (G_LIST_MODEL (timeline)) >= 20, 30000);
  g_test_message ("restarting with %u of 120 stored",
                  g_list_model_get_n_items (G_LIST_MODEL (timeline)));
  natter_test_server_restart (f->ts);

  g_string_truncate (batch, 0);
  for (guint i = 120; i < 250; i++)
    g_string_append_printf (batch, "m%03u\n", i);
  g_assert_true (g_output_stream_write_all (in, batch->str, batch->len, NULL, NULL, &error));
  g_assert_true (g_output_stream_close (in, NULL, &error));

  g_subprocess_wait_async (sender, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 60000);
  g_assert_true (g_subprocess_wait_finish (sender, result, &error));
  g_assert_true (g_subprocess_get_if_exited (sender));
  g_assert_cmpint (g_subprocess_get_exit_status (sender), ==, 0);

  /* More than one page of history, oldest first. */
  g_assert_cmpint (run_cli (f, "pass-alice", NULL, &out, NULL, "--server", url, "--user", "alice",
                            "history", "ops", "--limit", "1000", NULL), ==, 0);
  lines = g_strsplit (out, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, 251);
  for (guint i = 0; i < 250; i++)
    {
      g_autofree char *want = g_strdup_printf ("\"seq\":%u,", i + 1);
      g_autofree char *text = g_strdup_printf ("\"text\":\"m%03u\"", i);

      g_assert_nonnull (strstr (lines[i], want));
      g_assert_nonnull (strstr (lines[i], text));
    }
  natter_test_wait_until (g_list_model_get_n_items (G_LIST_MODEL (timeline)) == 250, 10000);
  natter_session_stop (bob);
}

/* Runs @script under sh in a private session bus whose Secret Service is
 * a gnome-keyring the script unlocks first, with CLI, URL and (if given) CA
 * in its environment; returns what it printed (stdout and stderr). NULL,
 * and the test skipped, where dbus-run-session or gnome-keyring-daemon is
 * missing or the keyring cannot start here. */
static char *
run_in_keyring_session (Fixture    *f,
                        const char *url,
                        const char *ca,
                        const char *script_body)
{
  g_autofree char *dbus_run = g_find_program_in_path ("dbus-run-session");
  g_autofree char *keyring = g_find_program_in_path ("gnome-keyring-daemon");
  g_autofree char *runtime = g_build_filename (f->home, "run", NULL);
  g_autofree char *script = g_strconcat (
    "printf keyring-pass | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 || exit 99\n",
    script_body, NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;

  if (dbus_run == NULL || keyring == NULL)
    {
      g_test_skip ("dbus-run-session or gnome-keyring-daemon missing");
      return NULL;
    }

  launcher = launcher_for (f, NULL, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_mkdir_with_parents (runtime, 0700);
  g_subprocess_launcher_setenv (launcher, "HOME", f->home, TRUE);
  g_subprocess_launcher_setenv (launcher, "XDG_RUNTIME_DIR", runtime, TRUE);
  g_subprocess_launcher_setenv (launcher, "CLI", f->cli, TRUE);
  g_subprocess_launcher_setenv (launcher, "URL", url, TRUE);
  if (ca != NULL)
    g_subprocess_launcher_setenv (launcher, "CA", ca, TRUE);
  proc = g_subprocess_launcher_spawn (launcher, &error, dbus_run, "--", "sh", "-c", script, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 60000);
  g_subprocess_communicate_utf8_finish (proc, result, &out, NULL, &error);
  g_assert_no_error (error);
  if (strstr (out, "login=") == NULL)
    {
      g_test_skip ("no usable keyring in this environment");
      return NULL;
    }
  g_test_message ("%s", out);
  return g_steal_pointer (&out);
}

/* The real token path: natter-cli login keeps the token in a Secret
 * Service (gnome-keyring on a private session bus) and a later run without
 * NATTER_PASSWORD uses it. Skipped where those programs are missing. */
static void
test_secret_service (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *out = NULL;

  g_assert_cmpint (run_cli (f, "pass-erin", NULL, NULL, NULL, "--server", f->ts->url, "register", "erin", NULL), ==, 0);

  out = run_in_keyring_session (f, f->ts->url, NULL,
    "NATTER_PASSWORD=wrong-pass \"$CLI\" --server \"$URL\" login erin; echo \"wrong=$?\"\n"
    "NATTER_PASSWORD=pass-erin \"$CLI\" --server \"$URL\" login erin; echo \"login=$?\"\n"
    "\"$CLI\" join --create kept; echo \"join=$?\"\n"
    "\"$CLI\" send kept 'with the stored token'; echo \"send=$?\"\n");
  if (out == NULL)
    return;
  g_assert_nonnull (strstr (out, "wrong=4"));
  g_assert_nonnull (strstr (out, "login=0"));
  g_assert_nonnull (strstr (out, "join=0"));
  g_assert_nonnull (strstr (out, "send=0"));
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_cli (f, "pass-erin", NULL, &out, NULL, "--server", f->ts->url, "--user", "erin",
                            "history", "kept", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "with the stored token"));
}

/* upload and download (issue 5): the id on stdout, the same bytes back,
 * and the usual exit statuses. */
static void
test_files (Fixture       *f,
            gconstpointer  data)
{
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *in_path = g_build_filename (f->home, "photo.jpg", NULL);
  g_autofree char *out_path = g_build_filename (f->home, "copy.jpg", NULL);
  g_autofree char *sent = NULL;
  g_autofree char *got = NULL;
  g_autofree char *id = NULL;
  gsize sent_len, got_len;
  /* A copy: a restart gives the fixture a new (equal) URL string. */
  g_autofree char *url = g_strdup (f->ts->url);
  GString *content = g_string_new (NULL);

#define CLI(password, input, ...) run_cli (f, password, input, &out, &err, "--server", url, __VA_ARGS__, NULL)
#define RESET() G_STMT_START { g_clear_pointer (&out, g_free); g_clear_pointer (&err, g_free); } G_STMT_END

  for (guint i = 0; i < 300000; i++)
    g_string_append_c (content, (char) (i * 7 + i / 251));
  g_assert_true (g_file_set_contents (in_path, content->str, content->len, NULL));
  g_string_free (content, TRUE);

  g_assert_cmpint (CLI ("pass-alice", NULL, "register", "alice"), ==, 0);
  RESET ();
  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "upload", "general", in_path), ==, 0);
  id = g_strstrip (g_strdup (out));
  g_assert_cmpuint (strlen (id), ==, 24);
  RESET ();

  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "download", id, out_path), ==, 0);
  g_assert_true (g_str_has_suffix (g_strstrip (out), "copy.jpg"));
  RESET ();
  g_assert_true (g_file_get_contents (in_path, &sent, &sent_len, NULL));
  g_assert_true (g_file_get_contents (out_path, &got, &got_len, NULL));
  g_assert_cmpmem (sent, sent_len, got, got_len);

  /* Without PATH: into the cache, under the name it was sent with; a
   * second run finds it there. */
  {
    g_autofree char *cache = g_build_filename (f->home, "cache", NULL);
    g_autofree char *first = NULL;
    g_autofree char *cached = NULL;
    gsize cached_len;

    g_setenv ("XDG_CACHE_HOME", cache, TRUE);
    g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "download", id), ==, 0);
    first = g_strdup (g_strstrip (out));
    g_assert_true (g_str_has_prefix (first, cache));
    g_assert_true (g_str_has_suffix (first, "/photo.jpg"));
    g_assert_true (g_file_get_contents (first, &cached, &cached_len, NULL));
    g_assert_cmpmem (sent, sent_len, cached, cached_len);
    RESET ();
    g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "download", id), ==, 0);
    g_assert_cmpstr (g_strstrip (out), ==, first);
    RESET ();
    g_unsetenv ("XDG_CACHE_HOME");
  }

  /* The file went out in a message of the room. */
  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "history", "general"), ==, 0);
  g_assert_nonnull (strstr (out, id));
  g_assert_nonnull (strstr (out, "\"name\":\"photo.jpg\""));
  RESET ();

  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "upload", "elsewhere", in_path), ==, 5);
  RESET ();
  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "upload", "general", "/nonexistent"), ==, 1);
  RESET ();
  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "download",
                        "aaaaaaaaaaaaaaaaaaaaaaaa", out_path), ==, 1);
  RESET ();
  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "upload", "general"), ==, 2);
  RESET ();
  g_assert_cmpint (CLI ("pass-alice", NULL, "--user", "alice", "download"), ==, 2);
  RESET ();
#undef CLI
#undef RESET
}

/* A TLS server whose certificate comes from a new private CA made in
 * @dir (the CA's certificate in @out_ca); NULL, with the test skipped,
 * where openssl is missing. */
static NatterTestServer *
private_ca_server_new (const char  *dir,
                       char       **out_ca)
{
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;

  if (!natter_test_make_ca_and_certificate (dir, out_ca, &cert, &key))
    {
      g_test_skip ("openssl is needed to make a CA");
      return NULL;
    }
  return natter_test_server_new_tls (cert, key);
}

/* A server whose certificate comes from a CA the system does not know:
 * register and sign-in stop at once with exit status 7 and one line that
 * names the host and the reason, not a generic "unreachable". */
static void
test_untrusted_certificate (Fixture       *f,
                            gconstpointer  data)
{
  g_autofree char *dir = natter_test_mkdtemp ();
  g_autofree char *ca = NULL;
  NatterTestServer *tls = private_ca_server_new (dir, &ca);

  if (tls == NULL)
    {
      natter_test_rm_rf (dir);
      return;
    }

  {
    g_autofree char *err = NULL;

    g_assert_cmpint (run_cli (f, "pass-alice", NULL, NULL, &err,
                              "--server", tls->url, "register", "alice", NULL), ==, 7);
    g_test_message ("register: %s", err);
    g_assert_cmpuint (count_lines (err), ==, 1);
    g_assert_true (g_str_has_prefix (err, "natter-cli: The certificate of 127.0.0.1 is not trusted: "));
    g_assert_nonnull (strstr (err, "unknown authority"));
  }
  {
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;

    g_assert_cmpint (run_cli (f, "pass-alice", NULL, &out, &err,
                              "--server", tls->url, "--user", "alice", "rooms", NULL), ==, 7);
    g_assert_cmpstr (out, ==, "");
    g_assert_cmpuint (count_lines (err), ==, 1);
    g_assert_nonnull (strstr (err, "The certificate of 127.0.0.1 is not trusted"));
  }

  natter_test_server_free (tls);
  natter_test_rm_rf (dir);
}

/* --ca-file trusts a private authority for this run: sign-in, chat and
 * files over https/wss (the transfers use it too); without it the same
 * commands exit 7; a file that holds no certificate is a usage error. */
static void
test_ca_file (Fixture       *f,
              gconstpointer  data)
{
  g_autofree char *dir = natter_test_mkdtemp ();
  g_autofree char *ca = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *in_path = g_build_filename (dir, "plan.txt", NULL);
  g_autofree char *out_path = g_build_filename (dir, "plan-copy.txt", NULL);
  g_autofree char *not_pem = g_build_filename (dir, "not-a-ca.txt", NULL);
  g_autofree char *missing = g_build_filename (dir, "missing.pem", NULL);
  g_autofree char *id = NULL;
  g_autofree char *sent = NULL;
  g_autofree char *got = NULL;
  gsize sent_len, got_len;
  NatterTestServer *tls = private_ca_server_new (dir, &ca);
  GString *content;

  if (tls == NULL)
    {
      natter_test_rm_rf (dir);
      return;
    }

#define CLI(...) run_cli (f, "pass-alice", NULL, &out, &err, "--server", tls->url, __VA_ARGS__, NULL)
#define RESET() G_STMT_START { g_clear_pointer (&out, g_free); g_clear_pointer (&err, g_free); } G_STMT_END

  /* 1.5 MiB: the upload's PATCH takes more than one block. */
  content = g_string_new (NULL);
  for (guint i = 0; i < 1536 * 1024; i++)
    g_string_append_c (content, (char) ('a' + i % 26));
  g_assert_true (g_file_set_contents (in_path, content->str, content->len, NULL));
  g_string_free (content, TRUE);
  g_assert_true (g_file_set_contents (not_pem, "not a certificate\n", -1, NULL));

  g_assert_cmpint (CLI ("--ca-file", ca, "register", "alice"), ==, 0);
  RESET ();
  g_assert_cmpint (CLI ("--ca-file", ca, "--user", "alice", "join", "--create", "vault"), ==, 0);
  RESET ();
  g_assert_cmpint (CLI ("--ca-file", ca, "--user", "alice", "send", "vault", "hello over wss"), ==, 0);
  RESET ();
  g_assert_cmpint (CLI ("--ca-file", ca, "--user", "alice", "upload", "vault", in_path), ==, 0);
  id = g_strstrip (g_strdup (out));
  g_assert_cmpuint (strlen (id), ==, 24);
  RESET ();
  g_assert_cmpint (CLI ("--ca-file", ca, "--user", "alice", "download", id, out_path), ==, 0);
  RESET ();
  g_assert_true (g_file_get_contents (in_path, &sent, &sent_len, NULL));
  g_assert_true (g_file_get_contents (out_path, &got, &got_len, NULL));
  g_assert_cmpmem (sent, sent_len, got, got_len);
  g_assert_cmpint (CLI ("--ca-file", ca, "--user", "alice", "history", "vault"), ==, 0);
  g_assert_nonnull (strstr (out, "hello over wss"));
  g_assert_nonnull (strstr (out, id));
  RESET ();

  /* The same without the option: refused, exit 7, one line. */
  g_assert_cmpint (CLI ("--user", "alice", "rooms"), ==, 7);
  g_assert_cmpstr (out, ==, "");
  g_assert_cmpuint (count_lines (err), ==, 1);
  g_assert_nonnull (strstr (err, "The certificate of 127.0.0.1 is not trusted"));
  RESET ();
  g_assert_cmpint (CLI ("--user", "alice", "upload", "vault", in_path), ==, 7);
  RESET ();
  g_assert_cmpint (CLI ("--user", "alice", "download", id, out_path), ==, 7);
  RESET ();

  /* Bad files: a usage error naming the file, nothing sent. */
  g_assert_cmpint (CLI ("--ca-file", not_pem, "--user", "alice", "send", "vault", "not sent"), ==, 2);
  g_assert_cmpuint (count_lines (err), ==, 1);
  g_assert_nonnull (strstr (err, "not-a-ca.txt"));
  RESET ();
  g_assert_cmpint (CLI ("--ca-file", missing, "--user", "alice", "send", "vault", "not sent"), ==, 2);
  g_assert_cmpuint (count_lines (err), ==, 1);
  g_assert_nonnull (strstr (err, "missing.pem"));
  RESET ();
  g_assert_cmpint (CLI ("--ca-file", ca, "--user", "alice", "history", "vault"), ==, 0);
  g_assert_null (strstr (out, "not sent"));
  RESET ();
#undef CLI
#undef RESET

  natter_test_server_free (tls);
  natter_test_rm_rf (dir);
}

/* The saved-token path: "login" over a trusted link keeps the token in a
 * Secret Service (gnome-keyring on a private bus); a later run with that
 * token and no --ca-file meets the untrusted certificate on the WebSocket
 * and exits 7 with the reason, not 3 ("unreachable"); with --ca-file it
 * works. Skipped where those programs are missing. */
static void
test_saved_token_untrusted (Fixture       *f,
                            gconstpointer  data)
{
  g_autofree char *dir = natter_test_mkdtemp ();
  g_autofree char *ca = NULL;
  g_autofree char *out = NULL;
  NatterTestServer *tls = private_ca_server_new (dir, &ca);

  if (tls == NULL)
    {
      natter_test_rm_rf (dir);
      return;
    }
  g_assert_cmpint (run_cli (f, "pass-erin", NULL, NULL, NULL, "--server", tls->url, "--ca-file", ca,
                            "register", "erin", NULL), ==, 0);

  out = run_in_keyring_session (f, tls->url, ca,
    "NATTER_PASSWORD=pass-erin \"$CLI\" --server \"$URL\" --ca-file \"$CA\" login erin; echo \"login=$?\"\n"
    "\"$CLI\" rooms; echo \"untrusted=$?\"\n"
    "\"$CLI\" --ca-file \"$CA\" join --create kept; echo \"trusted=$?\"\n");
  natter_test_server_free (tls);
  natter_test_rm_rf (dir);
  if (out == NULL)
    return;
  g_assert_nonnull (strstr (out, "login=0"));
  g_assert_nonnull (strstr (out, "natter-cli: The certificate of 127.0.0.1 is not trusted: "));
  g_assert_nonnull (strstr (out, "unknown authority"));
  g_assert_nonnull (strstr (out, "untrusted=7"));
  g_assert_nonnull (strstr (out, "trusted=0"));
}

/* The size of the only upload under way in @ts's data dir (its .part
 * file), and its id; -1 while there is none. */
static gint64
part_size (NatterTestServer  *ts,
           char             **id)
{
  g_autofree char *dir_path = g_build_filename (ts->data_dir, "uploads", NULL);
  g_autoptr(GDir) dir = g_dir_open (dir_path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".part"))
      {
        g_autofree char *path = g_build_filename (dir_path, name, NULL);
        GStatBuf st;

        if (g_stat (path, &st) != 0)
          continue;
        if (id != NULL)
          {
            g_free (*id);
            *id = g_strndup (name, strlen (name) - strlen (".part"));
          }
        return st.st_size;
      }
  return -1;
}

/* The server's Upload-Offset for @id (tus HEAD), as @session's user. */
static gint64
server_offset (NatterSession *session,
               const char    *url,
               const char    *id)
{
  g_autoptr(SoupSession) soup = soup_session_new ();
  g_autofree char *upload = g_strconcat (url, "/api/v1/uploads/", id, NULL);
  g_autofree char *bearer = g_strconcat ("Bearer ", _natter_session_get_token (session), NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("HEAD", upload);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  const char *offset;

  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", bearer);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Tus-Resumable", "1.0.0");
  soup_session_send_and_read_async (soup, msg, G_PRIORITY_DEFAULT, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 10000);
  body = soup_session_send_and_read_finish (soup, result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (soup_message_get_status (msg), ==, 200);
  offset = soup_message_headers_get_one (soup_message_get_response_headers (msg), "Upload-Offset");
  g_assert_nonnull (offset);
  return g_ascii_strtoll (offset, NULL, 10);
}

/* natter-cli upload killed (SIGKILL) half-way, then run again with the
 * same file: it resumes from the server's offset, so only the missing
 * bytes go, the file arrives whole, and its message is sent once. A
 * second run while the first still goes is refused. */
static void
test_upload_resume (Fixture       *f,
                    gconstpointer  data)
{
  const gint64 size = 64 * 1024 * 1024;
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", NULL, FALSE);
  g_autofree char *url = g_strdup (f->ts->url);
  g_autofree char *in_path = g_build_filename (f->home, "video.bin", NULL);
  g_autofree char *out_path = g_build_filename (f->home, "video-copy.bin", NULL);
  g_autofree char *cache_dir = g_build_filename (f->home, "cache", "natter", "cli-uploads", NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) proc = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) history = NULL;
  g_autoptr(GDir) leftovers = NULL;
  g_autofree char *id = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autofree char *want = NULL;
  g_autofree char *sent_sha = NULL;
  g_autofree char *got_sha = NULL;
  g_autofree guchar *content = g_malloc (size);
  gint64 before;
  gint64 resumed_at;
  const char *at;

  for (gint64 i = 0; i < size; i++)
    content[i] = (guchar) (i * 31 + i / 4093);
  g_assert_true (g_file_set_contents (in_path, (const char *) content, size, NULL));
  sent_sha = g_compute_checksum_for_data (G_CHECKSUM_SHA256, content, size);
  g_clear_pointer (&content, g_free);
  natter_test_join (alice, "general");

  /* The first run, killed once the server holds a quarter of the file. */
  launcher = launcher_for (f, "secret-password", G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                 G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  proc = g_subprocess_launcher_spawn (launcher, &error, f->cli, "--server", url, "--user", "alice",
                                      "upload", "general", in_path, NULL);
  g_assert_no_error (error);

  /* While it runs (held still), a second run for the same file and room
   * is turned away rather than uploading it twice. */
  natter_test_wait_until (part_size (f->ts, NULL) > 0, 30000);
  g_subprocess_send_signal (proc, SIGSTOP);
  g_assert_cmpint (run_cli (f, "secret-password", NULL, &out, &err, "--server", url, "--user", "alice",
                            "upload", "general", in_path, NULL), ==, 1);
  g_assert_cmpstr (out, ==, "");
  g_assert_cmpstr (err, ==, "natter-cli: another natter-cli is uploading this file to this room\n");
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_subprocess_send_signal (proc, SIGCONT);

  natter_test_wait_until (part_size (f->ts, &id) > size / 4, 30000);
  g_subprocess_force_exit (proc);
  g_subprocess_wait_async (proc, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 10000);
  g_assert_true (g_subprocess_wait_finish (proc, result, NULL));
  g_assert_false (g_subprocess_get_if_exited (proc));

  /* Once the server has written out what it got, its offset is where
   * the next run must start. */
  natter_test_wait_until (server_offset (alice, url, id) == part_size (f->ts, NULL), 10000);
  before = server_offset (alice, url, id);
  g_test_message ("killed with %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " bytes on the server",
                  before, size);
  g_assert_cmpint (before, >, size / 4);
  g_assert_cmpint (before, <, size);

  /* The second run resumes there, and ends with the file's id. */
  g_assert_cmpint (run_cli (f, "secret-password", NULL, &out, &err, "--server", url, "--user", "alice",
                            "upload", "general", in_path, NULL), ==, 0);
  g_test_message ("%s", err);
  g_assert_cmpstr (g_strstrip (out), ==, id);
  at = strstr (err, "resuming video.bin at byte ");
  g_assert_nonnull (at);
  resumed_at = g_ascii_strtoll (at + strlen ("resuming video.bin at byte "), NULL, 10);
  g_assert_cmpint (resumed_at, ==, before);
  want = g_strdup_printf ("of %" G_GINT64_FORMAT, size);
  g_assert_nonnull (strstr (at, want));
  g_assert_cmpint (server_offset (alice, url, id), ==, size);

  /* The file whole, its message once; nothing left to resume. */
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_cli (f, "secret-password", NULL, &out, &err, "--server", url, "--user", "alice",
                            "download", id, out_path, NULL), ==, 0);
  got_sha = natter_test_file_sha256 (out_path);
  g_assert_cmpstr (got_sha, ==, sent_sha);
  history = natter_test_server_history (alice, "general");
  g_assert_cmpuint (history->len, ==, 1);
  g_assert_nonnull (strstr (g_ptr_array_index (history, 0), ":alice:"));
  leftovers = g_dir_open (cache_dir, 0, NULL);
  g_assert_true (leftovers == NULL || g_dir_read_name (leftovers) == NULL);
  natter_session_stop (alice);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/cli/usage", Fixture, NULL, setup, test_usage, teardown);
  g_test_add ("/cli/end-to-end", Fixture, NULL, setup, test_end_to_end, teardown);
  g_test_add ("/cli/listen-restart", Fixture, NULL, setup, test_listen_through_restart, teardown);
  g_test_add ("/cli/files", Fixture, NULL, setup, test_files, teardown);
  g_test_add ("/cli/upload-resume", Fixture, NULL, setup, test_upload_resume, teardown);
  g_test_add ("/cli/send-through-restart", Fixture, NULL, setup, test_send_through_restart, teardown);
  g_test_add ("/cli/secret-service", Fixture, NULL, setup, test_secret_service, teardown);
  g_test_add ("/cli/untrusted-certificate", Fixture, NULL, setup, test_untrusted_certificate, teardown);
  g_test_add ("/cli/ca-file", Fixture, NULL, setup, test_ca_file, teardown);
  g_test_add ("/cli/saved-token-untrusted", Fixture, NULL, setup, test_saved_token_untrusted, teardown);
  return g_test_run ();
}
