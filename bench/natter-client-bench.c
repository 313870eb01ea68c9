/* natter-client-bench: does libnatter-client keep up with 10,000 messages a
 * second into one room (issue 8, client side)? Not part of meson test.
 *
 * It starts a natter-server of the same build (limits raised as bench/run.py
 * raises them, and [store] synchronous=normal so that the server's fsyncs
 * do not bound the rate), signs in a NatterSession with a cache of its own
 * in a temporary directory and its token in memory (no Secret Service), joins
 * one room and opens its timeline as the app would, then runs natter-load
 * (this build's bench/natter-load) with a few sender connections in that
 * room sending at --rate for --seconds. Each message's text carries its send
 * time (CLOCK_MONOTONIC, which both processes share): the lag is from there
 * to the session's hand-over ("message-received"). It prints a line per
 * second (messages handed over, lag p50/p99/max, CPU and RSS of this
 * process, which is only the client: the server and the senders are other
 * processes), then a summary: received against stored, lag, whether the lag
 * kept from growing, CPU per 1,000 messages, and whether the cache holds
 * every message exactly once.
 *
 *   bench/natter-client-bench [--rate 10000] [--seconds 10] [--senders 2]
 */
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "natter-client.h"

#define ROOM "bench-c-0"   /* natter-load's first room with --prefix c */
#define READER "reader"
#define PASSWORD "bench-reader-password"

static const char server_config[] =
  "[limits]\n"
  "max-connections=1000\n"
  "max-connections-per-address=1000\n"
  "send-rate=1000000\n"
  "send-burst=1000000\n"
  "event-rate=1000000\n"
  "event-burst=1000000\n"
  "[store]\n"
  "synchronous=normal\n";

typedef struct
{
  guint   received;
  GArray *lags;       /* guint32 µs */
  double  cpu_s;      /* this process, at the end of the second */
  gint64  rss_kib;
} Second;

typedef struct
{
  NatterSession *session;
  NatterRoom    *room;
  GListModel    *timeline;
  GPtrArray     *seconds;      /* Second, by second since the first message */
  GArray        *lags;         /* all of them */
  gint64         first_us;     /* monotonic: the first hand-over */
  gint64         last_us;
  guint          received;
  guint          unparsed;
  gint64         rss_start_kib;
  gint64         rss_max_kib;
  double         cpu_start_s;
  double         cpu_first_s;  /* at the first message */
  gboolean       load_done;
  char          *load_output;
} Bench;

static double opt_rate = 10000;
static double opt_seconds = 10;
static int opt_senders = 2;
static gboolean opt_no_timeline;
static char *opt_server;
static char *opt_load;

static double
cpu_seconds (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static gint64
rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL) ||
      (line = strstr (status, "\nVmRSS:")) == NULL)
    return -1;
  return g_ascii_strtoll (line + strlen ("\nVmRSS:"), NULL, 10);
}

static void
second_free (gpointer data)
{
  Second *second = data;

  g_array_unref (second->lags);
  g_free (second);
}

static Second *
second_at (Bench  *bench,
           gint64  now)
{
  guint index = (guint) ((now - bench->first_us) / G_USEC_PER_SEC);

  while (bench->seconds->len <= index)
    {
      Second *second = g_new0 (Second, 1);

      second->lags = g_array_new (FALSE, FALSE, sizeof (guint32));
      second->rss_kib = -1;
      g_ptr_array_add (bench->seconds, second);
    }
  return g_ptr_array_index (bench->seconds, index);
}

static int
compare_u32 (gconstpointer a,
             gconstpointer b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;

  return x < y ? -1 : x > y;
}

/* The @fraction quantile of @lags (sorted here), in ms. */
static double
quantile_ms (GArray *lags,
             double  fraction)
{
  guint i;

  if (lags->len == 0)
    return 0;
  g_array_sort (lags, compare_u32);
  i = MIN ((guint) (fraction * lags->len), lags->len - 1);
  return g_array_index (lags, guint32, i) / 1000.0;
}

static void
on_message_received (NatterSession *session,
                     NatterRoom    *room,
                     NatterMessage *message,
                     Bench         *bench)
{
  gint64 now = g_get_monotonic_time ();
  const char *text = natter_message_get_text (message);
  const char *colon;
  gint64 sent_us;
  guint32 lag;
  Second *second;

  /* natter-load's text: T<step>:<send time in µs>:<padding> */
  if (room != bench->room || text == NULL || text[0] != 'T' ||
      (colon = strchr (text, ':')) == NULL ||
      (sent_us = g_ascii_strtoll (colon + 1, NULL, 10)) <= 0)
    {
      bench->unparsed++;
      return;
    }
  if (bench->first_us == 0)
    {
      bench->first_us = now;
      bench->cpu_first_s = cpu_seconds ();
    }
  bench->last_us = now;
  lag = (guint32) CLAMP (now - sent_us, 0, G_MAXUINT32);
  second = second_at (bench, now);
  second->received++;
  g_array_append_val (second->lags, lag);
  g_array_append_val (bench->lags, lag);
  bench->received++;
}

static gboolean
sample_cb (gpointer user_data)
{
  Bench *bench = user_data;
  gint64 rss = rss_kib ();

  bench->rss_max_kib = MAX (bench->rss_max_kib, rss);
  if (bench->first_us != 0)
    {
      Second *second = second_at (bench, g_get_monotonic_time ());

      second->cpu_s = cpu_seconds ();
      second->rss_kib = rss;
    }
  return G_SOURCE_CONTINUE;
}

/* ---- waiting ------------------------------------------------------------ */

static gboolean
tick_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates the main context until *@flag or @timeout_s pass. */
static gboolean
wait_for (const gboolean *flag,
          double          timeout_s)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) (timeout_s * G_USEC_PER_SEC);
  guint tick = g_timeout_add (50, tick_cb, NULL);

  while (!*flag && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return *flag;
}

typedef struct
{
  gboolean      done;
  GAsyncResult *result;
} Pending;

static void
pending_done (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Pending *pending = user_data;

  pending->result = g_object_ref (result);
  pending->done = TRUE;
}

/* ---- set-up --------------------------------------------------------------- */

/* The server and the senders go when the benchmark does, however it ends. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static GSubprocess *
spawn (GSubprocessFlags     flags,
       const char * const  *argv)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (flags);
  g_autoptr(GError) error = NULL;
  GSubprocess *process;

  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (process == NULL)
    g_error ("%s: %s", argv[0], error->message);
  return process;
}

static void
state_changed (NatterSession *session,
               GParamSpec    *pspec,
               gboolean      *online)
{
  *online = natter_session_get_state (session) == NATTER_SESSION_STATE_ONLINE;
}

static guint
free_port (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                            G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  if (socket == NULL || !g_socket_bind (socket, any, TRUE, NULL) ||
      (bound = g_socket_get_local_address (socket, NULL)) == NULL)
    g_error ("no free port on 127.0.0.1");
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* A program of this build: bench/../src/server/natter-server, bench/natter-load. */
static char *
build_program (const char *relative)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *bench_dir = self != NULL ? g_path_get_dirname (self) : g_strdup (".");

  return g_build_filename (bench_dir, relative, NULL);
}

/* Registers the reader, retrying while the server is still starting. */
static void
register_reader (NatterSession *session)
{
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;

  for (;;)
    {
      Pending pending = { 0, };
      g_autoptr(GError) error = NULL;
      gboolean ok;

      natter_session_register_async (session, PASSWORD, NULL, pending_done, &pending);
      wait_for (&pending.done, 30);
      ok = natter_session_register_finish (session, pending.result, &error);
      g_clear_object (&pending.result);
      if (ok)
        return;
      if (!g_error_matches (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNREACHABLE) ||
          g_get_monotonic_time () > deadline)
        g_error ("registering the reader: %s", error->message);
      g_usleep (G_USEC_PER_SEC / 10);   /* the server is starting: nothing else to do */
    }
}

static void
load_output_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Bench *bench = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_subprocess_communicate_utf8_finish (G_SUBPROCESS (object), result, &bench->load_output,
                                             NULL, &error))
    g_error ("natter-load: %s", error->message);
  bench->load_done = TRUE;
}

/* natter-load's "step" line: what it sent and the server stored. */
static void
parse_load_step (const char *output,
                 gint64     *sent,
                 gint64     *acked,
                 double     *load_cpu_pct,
                 double     *server_cpu_s)
{
  g_auto(GStrv) lines = g_strsplit (output != NULL ? output : "", "\n", -1);

  *sent = *acked = -1;
  *load_cpu_pct = *server_cpu_s = -1;
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *object;

      if (lines[i][0] != '{' || !json_parser_load_from_data (parser, lines[i], -1, NULL) ||
          json_parser_get_root (parser) == NULL ||
          !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
        continue;
      object = json_node_get_object (json_parser_get_root (parser));
      if (g_strcmp0 (json_object_get_string_member_with_default (object, "event", ""), "step") != 0)
        continue;
      *sent = json_object_get_int_member_with_default (object, "sent", -1);
      *acked = json_object_get_int_member_with_default (object, "acked", -1);
      *load_cpu_pct = json_object_get_double_member_with_default (object, "gen_cpu_pct", -1);
      *server_cpu_s = json_object_get_double_member_with_default (object, "server_cpu_s", -1);
    }
}

/* What the cache holds for the room: rows, distinct cids, and the seqs. */
static void
check_cache (const char *path,
             gint64     *rows,
             gint64     *cids,
             gint64     *min_seq,
             gint64     *max_seq)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;

  *rows = *cids = *min_seq = *max_seq = -1;
  if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2 (db, "SELECT COUNT(*), COUNT(DISTINCT cid), MIN(seq), MAX(seq)"
                              " FROM messages WHERE room = ?", -1, &stmt, NULL) == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, ROOM, -1, SQLITE_STATIC);
      if (sqlite3_step (stmt) == SQLITE_ROW)
        {
          *rows = sqlite3_column_int64 (stmt, 0);
          *cids = sqlite3_column_int64 (stmt, 1);
          *min_seq = sqlite3_column_int64 (stmt, 2);
          *max_seq = sqlite3_column_int64 (stmt, 3);
        }
    }
  else
    g_printerr ("natter-client-bench: cache %s: %s\n", path, db != NULL ? sqlite3_errmsg (db) : "?");
  sqlite3_finalize (stmt);
  sqlite3_close (db);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

int
main (int   argc,
      char *argv[])
{
  GOptionEntry entries[] = {
    { "rate", 'r', 0, G_OPTION_ARG_DOUBLE, &opt_rate, "Messages per second into the room (default 10000)", "R" },
    { "seconds", 's', 0, G_OPTION_ARG_DOUBLE, &opt_seconds, "Seconds of sending (default 10)", "S" },
    { "senders", 'n', 0, G_OPTION_ARG_INT, &opt_senders, "Sender connections (default 2)", "N" },
    { "no-timeline", 0, 0, G_OPTION_ARG_NONE, &opt_no_timeline, "Do not open the room's timeline (what it costs)", NULL },
    { "server", 0, 0, G_OPTION_ARG_FILENAME, &opt_server, "natter-server to start (default: this build's)", "PATH" },
    { "load", 0, 0, G_OPTION_ARG_FILENAME, &opt_load, "natter-load to send with (default: this build's)", "PATH" },
    { NULL }
  };
  g_autoptr(GOptionContext) context = g_option_context_new ("- libnatter-client receiving a flood");
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *config = NULL;
  g_autofree char *cache = NULL;
  g_autofree char *url = NULL;
  g_autofree char *port_text = NULL;
  g_autofree char *server_pid = NULL;
  g_autofree char *rate_text = NULL;
  g_autofree char *seconds_text = NULL;
  g_autofree char *senders_text = NULL;
  g_autoptr(GSubprocess) server = NULL;
  g_autoptr(GSubprocess) load = NULL;
  g_autoptr(NatterRoom) room = NULL;
  Bench bench = { 0, };
  Pending joined = { 0, };
  gboolean online = FALSE;
  gint64 sent, acked, rows, cids, min_seq, max_seq;
  double load_cpu_pct, server_cpu_s, cpu_total_s, span_s;
  guint timeline_items;
  guint port, full_seconds = 0;
  gboolean all_in, once, kept_up;
  double first_p99 = 0, last_p99 = 0, rate_min = G_MAXDOUBLE, rate_sum = 0;

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("natter-client-bench: %s\n", error->message);
      return 2;
    }
  if (opt_rate <= 0 || opt_seconds <= 0 || opt_senders < 1 || opt_senders > 100)
    {
      g_printerr ("natter-client-bench: --rate and --seconds must be positive, --senders 1–100\n");
      return 2;
    }
  if (opt_server == NULL)
    opt_server = build_program ("../src/server/natter-server");
  if (opt_load == NULL)
    opt_load = build_program ("natter-load");
  /* No keyring, no system bus, no proxy lookups: the library alone. */
  g_setenv ("NATTER_NO_SYSTEM_BUS", "1", TRUE);
  g_setenv ("GIO_USE_PROXY_RESOLVER", "dummy", TRUE);

  tmp = g_dir_make_tmp ("natter-client-bench-XXXXXX", &error);
  if (tmp == NULL)
    g_error ("%s", error->message);
  data_dir = g_build_filename (tmp, "data", NULL);
  config = g_build_filename (tmp, "natter.conf", NULL);
  cache = g_build_filename (tmp, "reader.db", NULL);
  if (!g_file_set_contents (config, server_config, -1, &error))
    g_error ("%s", error->message);

  port = free_port ();
  port_text = g_strdup_printf ("%u", port);
  url = g_strdup_printf ("http://127.0.0.1:%u", port);
  {
    const char *argv_server[] = { opt_server, "--address", "127.0.0.1", "--port", port_text,
                                  "--data-dir", data_dir, "--config", config, "--quiet", NULL };

    server = spawn (G_SUBPROCESS_FLAGS_NONE, argv_server);
  }
  server_pid = g_strdup (g_subprocess_get_identifier (server));

  bench.seconds = g_ptr_array_new_with_free_func (second_free);
  bench.lags = g_array_new (FALSE, FALSE, sizeof (guint32));
  bench.session = natter_session_new_full (url, READER, NATTER_TOKEN_STORE_MEMORY, cache);
  register_reader (bench.session);
  g_signal_connect (bench.session, "notify::state", G_CALLBACK (state_changed), &online);
  if (!natter_session_start (bench.session, &error))
    g_error ("starting the session: %s", error->message);
  if (!wait_for (&online, 20))
    g_error ("the reader did not get online: %s", natter_session_get_last_error (bench.session));
  natter_session_join_async (bench.session, ROOM, TRUE, NULL, NULL, pending_done, &joined);
  if (!wait_for (&joined.done, 20))
    g_error ("the reader did not join %s", ROOM);
  room = natter_session_join_finish (bench.session, joined.result, &error);
  g_clear_object (&joined.result);
  if (room == NULL)
    g_error ("joining %s: %s", ROOM, error->message);
  bench.room = room;
  /* The app keeps the open room's timeline: so does the benchmark. */
  if (!opt_no_timeline)
    bench.timeline = G_LIST_MODEL (natter_room_get_timeline (room));
  g_signal_connect (bench.session, "message-received", G_CALLBACK (on_message_received), &bench);

  bench.cpu_start_s = cpu_seconds ();
  bench.rss_start_kib = bench.rss_max_kib = rss_kib ();
  g_timeout_add (1000, sample_cb, &bench);

  rate_text = g_strdup_printf ("%.0f", opt_rate);
  seconds_text = g_strdup_printf ("%g", opt_seconds);
  senders_text = g_strdup_printf ("%d", opt_senders);
  g_printerr ("natter-client-bench: %s senders -> %s messages/s for %s s into %s (server %s, pid %s)\n",
              senders_text, rate_text, seconds_text, ROOM, url, server_pid);
  {
    const char *argv_load[] = { opt_load, "--host", "127.0.0.1", "-p", port_text,
                                "-n", senders_text, "-u", senders_text, "-k", senders_text,
                                "--prefix", "c", "--rates", rate_text,
                                "--step-seconds", seconds_text, "--drain-seconds", "10",
                                "--server-pid", server_pid, NULL };

    load = spawn (G_SUBPROCESS_FLAGS_STDOUT_PIPE, argv_load);
  }
  g_subprocess_communicate_utf8_async (load, NULL, NULL, load_output_cb, &bench);
  wait_for (&bench.load_done, opt_seconds + 120);
  parse_load_step (bench.load_output, &sent, &acked, &load_cpu_pct, &server_cpu_s);

  /* What the server stored and has not reached the session yet gets a
   * last chance, then the count stands. */
  {
    gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
    guint tick = g_timeout_add (50, tick_cb, NULL);

    while (acked > 0 && bench.received < acked && g_get_monotonic_time () < deadline)
      g_main_context_iteration (NULL, TRUE);
    g_source_remove (tick);
  }
  sample_cb (&bench);
  cpu_total_s = cpu_seconds () - bench.cpu_start_s;

  /* ---- the table ---- */
  g_print ("# natter-client-bench: %s messages/s for %s s from %s natter-load senders, one room;\n"
           "# natter-server with [store] synchronous=normal and raised rate limits\n",
           rate_text, seconds_text, senders_text);
  g_print ("%-6s %9s %9s %9s %9s %8s %9s\n", "second", "received", "p50 ms", "p99 ms", "max ms",
           "CPU %", "RSS MiB");
  for (guint i = 0; i < bench.seconds->len; i++)
    {
      Second *second = g_ptr_array_index (bench.seconds, i);
      Second *before = i > 0 ? g_ptr_array_index (bench.seconds, i - 1) : NULL;
      double cpu = second->cpu_s > 0 ? second->cpu_s - (before != NULL && before->cpu_s > 0
                                                          ? before->cpu_s : bench.cpu_first_s) : -1;
      double p99 = quantile_ms (second->lags, 0.99);

      g_print ("%-6u %9u %9.1f %9.1f %9.1f %8.0f %9.1f\n", i, second->received,
               quantile_ms (second->lags, 0.5), p99, quantile_ms (second->lags, 1.0),
               cpu >= 0 ? cpu * 100 : -1, second->rss_kib / 1024.0);
      /* Whole seconds of sending only: not the ramp at either end. */
      if (i >= 1 && i + 1 < (guint) opt_seconds && second->received > 0)
        {
          if (full_seconds == 0)
            first_p99 = p99;
          last_p99 = p99;
          rate_min = MIN (rate_min, second->received);
          rate_sum += second->received;
          full_seconds++;
        }
    }

  timeline_items = bench.timeline != NULL ? g_list_model_get_n_items (bench.timeline) : 0;
  natter_session_stop (bench.session);
  g_clear_object (&room);
  g_clear_object (&bench.session);
  check_cache (cache, &rows, &cids, &min_seq, &max_seq);

  span_s = bench.last_us > bench.first_us ? (bench.last_us - bench.first_us) / 1e6 : 0;
  all_in = acked > 0 && bench.received == (guint) acked;
  once = rows == acked && cids == rows && min_seq == 1 && max_seq == acked;
  /* Kept up: everything came, and the lag at the end of the flood is not
   * above its start (a client falling behind shows a lag that grows by
   * the backlog, second after second). */
  kept_up = all_in && full_seconds > 0 && last_p99 <= MAX (2 * first_p99, first_p99 + 50);

  g_print ("\n");
  g_print ("sent by natter-load / stored (acked) / handed over by the session: %" G_GINT64_FORMAT
           " / %" G_GINT64_FORMAT " / %u%s\n", sent, acked, bench.received,
           bench.unparsed > 0 ? " (+ unparsed)" : "");
  g_print ("messages/s handed over: %.0f over the whole flood (%.1f s); whole seconds: mean %.0f, lowest %.0f\n",
           span_s > 0 ? bench.received / span_s : 0, span_s,
           full_seconds > 0 ? rate_sum / full_seconds : 0, full_seconds > 0 ? rate_min : 0);
  g_print ("lag send -> hand-over: p50 %.1f ms, p99 %.1f ms, max %.1f ms; p99 of the first / last whole second %.1f / %.1f ms\n",
           quantile_ms (bench.lags, 0.5), quantile_ms (bench.lags, 0.99), quantile_ms (bench.lags, 1.0),
           first_p99, last_p99);
  g_print ("client CPU: %.2f s (%.1f ms per 1,000 messages); RSS %.1f MiB before, %.1f MiB at most\n",
           cpu_total_s, bench.received > 0 ? cpu_total_s * 1e6 / bench.received : 0,
           bench.rss_start_kib / 1024.0, bench.rss_max_kib / 1024.0);
  g_print ("server CPU %.2f s, natter-load %.0f %% of a core (natter-load's own figures)\n",
           server_cpu_s, load_cpu_pct);
  g_print ("cache: %" G_GINT64_FORMAT " rows, %" G_GINT64_FORMAT " distinct cids, seq %" G_GINT64_FORMAT
           "-%" G_GINT64_FORMAT ": %s\n", rows, cids, min_seq, max_seq,
           once ? "every stored message exactly once" : "NOT every message exactly once");
  if (bench.timeline != NULL)
    g_print ("timeline items (in memory): %u\n", timeline_items);
  else
    g_print ("timeline not opened (--no-timeline)\n");
  g_print ("kept up: %s\n", kept_up ? "yes" : "NO");

  g_subprocess_send_signal (server, SIGTERM);
  g_subprocess_wait (server, NULL, NULL);
  remove_tree (tmp);
  g_ptr_array_unref (bench.seconds);
  g_array_unref (bench.lags);
  g_free (bench.load_output);
  return kept_up && once ? 0 : 1;
}
