/* main.c: the natter-server command line: options and an optional key
 * file become a NatterServerConfig; SIGINT/SIGTERM stop it cleanly. */
#include <glib-unix.h>
#include <locale.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <sys/resource.h>
#include <stdlib.h>

#include "natter-server.h"

/* Every connection is a descriptor; the usual soft limit (1024) is below
 * the default connection cap plus what the store and listeners use, and a
 * process that runs out of descriptors cannot even accept to refuse. */
static void
raise_descriptor_limit (guint max_connections)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
    return;
  if (limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
      getrlimit (RLIMIT_NOFILE, &limit);
    }
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < (rlim_t) max_connections + 64)
    g_warning ("natter-server: only %lu file descriptors for up to %u connections; "
               "lower max-connections or raise the limit",
               (unsigned long) limit.rlim_cur, max_connections);
}

/* glibc gives freed memory at the top of the heap back to the kernel as
 * soon as 128 KiB are free there, and takes it again with the next
 * message: free → systrim → brk on every send was 14 % of the store
 * profile (docs/PERFORMANCE.md), and every syscall is dear on a VM. Keep
 * a few MiB around instead. */
static void
tune_malloc (void)
{
#ifdef __GLIBC__
  mallopt (M_TRIM_THRESHOLD, 16 * 1024 * 1024);
  mallopt (M_TOP_PAD, 1024 * 1024);
#endif
}

static gboolean
quit_cb (gpointer user_data)
{
  GMainLoop *loop = user_data;

  g_message ("natter-server: signal received, shutting down");
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

static void
replace_str (char       **field,
             const char  *value)
{
  g_free (*field);
  *field = g_strdup (value);
}

static void
usage_error (const char *prgname,
             const char *message)
{
  g_printerr ("%s: %s (try --help)\n", prgname, message);
  exit (2);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterServerConfig) config = natter_server_config_new ();
  g_autoptr(NatterServer) server = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autofree char *address = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *config_file = NULL;
  g_autofree char *tls_cert = NULL;
  g_autofree char *tls_key = NULL;
  g_auto(GStrv) origins = NULL;
  int port = -1;
  int ping_interval = -1;
  int ping_timeout = -1;
  gint64 max_file_size = -1;
  gint64 user_quota = -1;
  gboolean conformance = FALSE;
  gboolean version = FALSE;
  gboolean verbose = FALSE;
  gboolean quiet = FALSE;
  const GOptionEntry entries[] = {
    { "address", 'a', 0, G_OPTION_ARG_STRING, &address,
      "Listen on ADDR only (default: every interface)", "ADDR" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port,
      "Listen on port N (default 7300; 3000 with --conformance; 0 picks one)", "N" },
    { "data-dir", 'd', 0, G_OPTION_ARG_FILENAME, &data_dir,
      "Keep the database in DIR (default $XDG_DATA_HOME/natter-server)", "DIR" },
    { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_file,
      "Read settings from a key file ([server] and [limits] groups); options win", "FILE" },
    { "tls-cert", 0, 0, G_OPTION_ARG_FILENAME, &tls_cert,
      "Serve https/wss with this PEM certificate", "FILE" },
    { "tls-key", 0, 0, G_OPTION_ARG_FILENAME, &tls_key,
      "The PEM private key of --tls-cert", "FILE" },
    { "allowed-origin", 'o', 0, G_OPTION_ARG_STRING_ARRAY, &origins,
      "Accept WebSocket handshakes from browsers at ORIGIN (repeatable)", "ORIGIN" },
    { "ping-interval", 0, 0, G_OPTION_ARG_INT, &ping_interval,
      "Engine.IO pingInterval in ms (default 25000)", "MS" },
    { "ping-timeout", 0, 0, G_OPTION_ARG_INT, &ping_timeout,
      "Engine.IO pingTimeout in ms (default 20000)", "MS" },
    { "max-file-size", 0, 0, G_OPTION_ARG_INT64, &max_file_size,
      "Largest file upload in bytes (default 1 GiB; 0: no limit)", "BYTES" },
    { "user-quota", 0, 0, G_OPTION_ARG_INT64, &user_quota,
      "Upload disk quota per user in bytes (default 10 GiB; 0: no limit)", "BYTES" },
    { "conformance", 0, 0, G_OPTION_ARG_NONE, &conformance,
      "Serve the upstream Engine.IO/Socket.IO protocol test suites", NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debugging messages", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Log warnings only", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version and exit", NULL },
    { NULL }
  };

  tune_malloc ();
  setlocale (LC_ALL, "");
  g_set_prgname ("natter-server");

  context = g_option_context_new ("— the Natter chat server");
  g_option_context_set_summary (context,
                                "Serves Natter chat (Socket.IO v4 over WebSocket) and its HTTP API.\n"
                                "Limits (connection caps, timeouts, sizes, rates) are set in the\n"
                                "[limits] group of --config; see docs/PROTOCOL.md for every key.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    usage_error ("natter-server", error->message);
  if (argc > 1)
    usage_error ("natter-server", "unexpected argument");

  if (version)
    {
      g_print ("natter-server %s\n", PACKAGE_VERSION);
      return 0;
    }

  if (verbose)
    g_setenv ("G_MESSAGES_DEBUG", "all", TRUE);
  else if (quiet)
    g_log_set_handler (NULL, G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO, g_log_default_handler, NULL);

  if (config_file != NULL && !natter_server_config_load_key_file (config, config_file, &error))
    usage_error ("natter-server", error->message);

  if (conformance)
    natter_server_config_set_conformance (config, TRUE);
  if (address != NULL)
    replace_str (&config->address, address);
  if (port >= 0)
    {
      if (port > 65535)
        usage_error ("natter-server", "--port: expected 0–65535");
      config->port = port;
    }
  if (data_dir != NULL)
    replace_str (&config->data_dir, data_dir);
  if (tls_cert != NULL)
    replace_str (&config->tls_cert_file, tls_cert);
  if (tls_key != NULL)
    replace_str (&config->tls_key_file, tls_key);
  if ((config->tls_cert_file == NULL) != (config->tls_key_file == NULL))
    usage_error ("natter-server", "--tls-cert and --tls-key go together");
  if (origins != NULL)
    {
      g_strfreev (config->allowed_origins);
      config->allowed_origins = g_steal_pointer (&origins);
    }
  if (ping_interval == 0 || ping_timeout == 0)
    usage_error ("natter-server", "ping timings must be positive");
  if (ping_interval > 0)
    config->ping_interval_ms = ping_interval;
  if (ping_timeout > 0)
    config->ping_timeout_ms = ping_timeout;
  if (max_file_size < -1 || user_quota < -1)
    usage_error ("natter-server", "sizes must not be negative");
  if (max_file_size >= 0)
    config->max_file_bytes = max_file_size;
  if (user_quota >= 0)
    config->user_quota_bytes = user_quota;

  raise_descriptor_limit (config->max_connections);

  server = natter_server_new (config);
  if (!natter_server_start (server, &error))
    {
      g_printerr ("natter-server: %s\n", error->message);
      return 1;
    }

  loop = g_main_loop_new (NULL, FALSE);
  g_unix_signal_add (SIGINT, quit_cb, loop);
  g_unix_signal_add (SIGTERM, quit_cb, loop);
  g_main_loop_run (loop);

  natter_server_stop (server);
  return 0;
}
