/* natter-test-server.c: see the header. */
#include "natter-test-server.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

static GLogWriterOutput
quiet_writer (GLogLevelFlags   level,
              const GLogField *fields,
              gsize            n_fields,
              gpointer         user_data)
{
  if ((level & G_LOG_LEVEL_DEBUG) != 0 && g_getenv ("NATTER_TEST_DEBUG") == NULL)
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static GLogFunc test_log_handler;

static void
quiet_handler (const char     *domain,
               GLogLevelFlags  level,
               const char     *message,
               gpointer        user_data)
{
  if ((level & G_LOG_LEVEL_DEBUG) != 0 && g_getenv ("NATTER_TEST_DEBUG") == NULL)
    return;
  test_log_handler (domain, level, message, user_data);
}

void
natter_test_init (int    *argc,
                  char ***argv)
{
  g_test_init (argc, argv, NULL);
  g_log_set_writer_func (quiet_writer, NULL, NULL);
  test_log_handler = g_log_set_default_handler (quiet_handler, NULL);
}

NatterTestServer *
natter_test_server_new (void)
{
  NatterTestServer *ts = g_new0 (NatterTestServer, 1);
  g_autoptr(GError) error = NULL;

  ts->data_dir = g_dir_make_tmp ("natter-server-test-XXXXXX", &error);
  g_assert_no_error (error);

  ts->config = natter_server_config_new ();
  ts->config->address = g_strdup ("127.0.0.1");
  ts->config->port = 0;
  ts->config->data_dir = g_strdup (ts->data_dir);
  ts->config->fast_password_hashing = TRUE;
  return ts;
}

void
natter_test_server_start (NatterTestServer *ts)
{
  g_autoptr(GError) error = NULL;

  g_assert_null (ts->server);
  ts->server = natter_server_new (ts->config);
  natter_server_start (ts->server, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (natter_server_get_port (ts->server), >, 0);
  g_free (ts->url);
  ts->url = natter_server_dup_base_url (ts->server);
}

void
natter_test_server_stop (NatterTestServer *ts)
{
  if (ts->server == NULL)
    return;
  natter_server_stop (ts->server);
  g_assert_finalize_object (ts->server);
  ts->server = NULL;
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

void
natter_test_server_free (NatterTestServer *ts)
{
  natter_test_server_stop (ts);
  remove_tree (ts->data_dir);
  natter_server_config_free (ts->config);
  g_free (ts->data_dir);
  g_free (ts->url);
  g_free (ts);
}

void
natter_test_die_with_parent (gpointer data)
{
  /* Runs in the child between fork and exec: system calls only. SIGKILL,
   * not SIGTERM: a wedged server must go too. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != (pid_t) GPOINTER_TO_INT (data))
    _exit (1);
}

GSubprocessLauncher *
natter_test_launcher_new (GSubprocessFlags flags)
{
  GSubprocessLauncher *launcher = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_child_setup (launcher, natter_test_die_with_parent,
                                         GINT_TO_POINTER (getpid ()), NULL);
  return launcher;
}

gsize
natter_test_get_rss (void)
{
  g_autofree char *statm = NULL;
  g_auto(GStrv) fields = NULL;

  if (!g_file_get_contents ("/proc/self/statm", &statm, NULL, NULL))
    return 0;
  fields = g_strsplit (statm, " ", 3);
  return g_ascii_strtoull (fields[1], NULL, 10) * (gsize) sysconf (_SC_PAGESIZE);
}
