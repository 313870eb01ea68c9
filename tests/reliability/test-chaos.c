/* test-chaos.c: the exactly-once promise (DESIGN.md) under chaos. 20
 * libnatter-client sessions in this process, each with its own cache file
 * and an in-memory token, write 500 numbered messages ("c07-0123") into 4
 * shared rooms (each client is in two of them, each room has ten writers)
 * at a steady pace, while
 *   - server-kills: the real natter-server binary is killed with SIGKILL 5
 *     times at pseudo-random moments and started again on the same port and
 *     data dir after a pseudo-random pause;
 *   - network-cuts: a proxy between clients and server blackholes, resets
 *     or delays a random half of the open links 12 times (heartbeat
 *     1000/1000 ms, so that a silent link is noticed).
 * Moments and choices come from a GRand whose seed is printed
 * (NATTER_CHAOS_SEED=N repeats a run's choices; the timing of the rest is
 * the machine's). Then: every message is in the server's history exactly
 * once, in the room it was written to, each sender's messages in the order
 * written, seqs gap-free, every client's timeline of its two rooms equal to
 * the server's history, and the database passes PRAGMA integrity_check.
 * NATTER_CHAOS_VERBOSE=1 prints progress every 2 s; NATTER_CHAOS_FAULTS=N
 * changes the number of faults. */
#include <stdio.h>
#include <stdlib.h>

#include "natter-client-private.h"
#include "natter-test-util.h"
#include "natter-fault-proxy.h"
#include "natter-reliability-util.h"

#define N_CLIENTS   20
#define N_MESSAGES  500
#define N_ROOMS     4

/* Short enough that a blackholed link is noticed in 2 s, long enough that
 * twenty clients sharing one busy main loop (a catch-up after a reset
 * stores hundreds of messages) do not miss pongs: with 300/200 ms most
 * disconnects in this test were spurious. */
#define HEARTBEAT_INTERVAL_MS 1000
#define HEARTBEAT_TIMEOUT_MS  1000

typedef enum
{
  MODE_KILLS,
  MODE_NETWORK,
} Mode;

typedef struct
{
  guint          index;
  char          *user;
  NatterSession *session;
  NatterRoom    *rooms[2];
  guint          written;
  guint          timer_id;
  guint          failed;
  guint          acked;
} Client;

typedef enum
{
  DIRECTOR_RUNNING,
  DIRECTOR_ARMED,      /* a fault fires at fire_at */
  DIRECTOR_KILLED,     /* waiting for the process to be gone */
  DIRECTOR_DOWN,       /* restart at restart_at */
} DirectorState;

typedef struct
{
  Mode              mode;
  NatterRelServer  *srv;
  NatterFaultProxy *proxy;
  char             *url;
  char             *cache_dir;
  GRand            *rand;
  Client            clients[N_CLIENTS];
  guint             written_total;
  guint             clients_done;

  guint            *thresholds;
  guint             n_faults;
  guint             next_fault;
  DirectorState     state;
  gint64            fire_at;
  gint64            restart_at;
  gint64            delay_ends_at;
  guint             director_id;
  GString          *fault_log;
} Chaos;

static char *
room_name (guint r)
{
  return g_strdup_printf ("room-%u", r);
}

/* Client i is in rooms i % 4 and (i + 1) % 4 and writes its messages into
 * them in turn: message k goes to room (i + k % 2) % 4. */
static guint
room_of (guint client,
         guint k)
{
  return (client + k % 2) % N_ROOMS;
}

static void
on_failed (NatterSession *session,
           NatterMessage *message,
           Client        *client)
{
  client->failed++;
  g_test_message ("%s: message %s failed: %s", client->user, natter_message_get_text (message),
                  natter_message_get_error (message));
}

static void
on_acked (NatterSession *session,
          NatterMessage *message,
          Client        *client)
{
  client->acked++;
}

static void director_check (Chaos *chaos);

typedef struct
{
  Chaos  *chaos;
  Client *client;
} WriteData;

static gboolean
write_next (gpointer user_data)
{
  WriteData *data = user_data;
  Chaos *chaos = data->chaos;
  Client *client = data->client;
  g_autofree char *text = NULL;
  g_autoptr(NatterMessage) message = NULL;
  guint k = client->written;

  text = g_strdup_printf ("c%02u-%04u", client->index, k);
  message = natter_room_send_text (client->rooms[k % 2], text);
  client->written++;
  chaos->written_total++;
  director_check (chaos);

  if (client->written == N_MESSAGES)
    {
      chaos->clients_done++;
      client->timer_id = 0;
      return G_SOURCE_REMOVE;
    }
  /* A steady pace with jitter: 500 messages in about 12 s per client. */
  client->timer_id = g_timeout_add (14 + g_rand_int_range (chaos->rand, 0, 20), write_next, data);
  return G_SOURCE_REMOVE;
}

/* ---- faults ------------------------------------------------------------- */

static void
log_fault (Chaos      *chaos,
           const char *format,
           ...) G_GNUC_PRINTF (2, 3);

static void
log_fault (Chaos      *chaos,
           const char *format,
           ...)
{
  va_list args;

  va_start (args, format);
  g_string_append_printf (chaos->fault_log, "[at %u written] ", chaos->written_total);
  g_string_append_vprintf (chaos->fault_log, format, args);
  g_string_append_c (chaos->fault_log, '\n');
  va_end (args);
}

static void
network_fault (Chaos *chaos)
{
  guint kind = g_rand_int_range (chaos->rand, 0, 3);
  guint n;

  switch (kind)
    {
    case 0:
      n = natter_fault_proxy_blackhole (chaos->proxy, chaos->rand, 0.5);
      log_fault (chaos, "blackhole %u links", n);
      break;
    case 1:
      n = natter_fault_proxy_reset (chaos->proxy, chaos->rand, 0.5);
      log_fault (chaos, "reset %u links", n);
      break;
    default:
      {
        guint delay = g_rand_int_range (chaos->rand, 20, 400);

        n = natter_fault_proxy_delay (chaos->proxy, chaos->rand, 0.5, delay);
        chaos->delay_ends_at = g_get_monotonic_time () +
                               g_rand_int_range (chaos->rand, 500, 2500) * 1000;
        log_fault (chaos, "delay %u links by %u ms", n, delay);
      }
      break;
    }
}

/* Runs on a 10 ms timer and after each write: fires the next fault once
 * the written count passes its threshold (plus a random 0–200 ms). */
static void
director_check (Chaos *chaos)
{
  gint64 now = g_get_monotonic_time ();

  if (chaos->delay_ends_at != 0 && now >= chaos->delay_ends_at)
    {
      natter_fault_proxy_delay (chaos->proxy, NULL, 0, 0);
      chaos->delay_ends_at = 0;
    }

  switch (chaos->state)
    {
    case DIRECTOR_RUNNING:
      if (chaos->next_fault < chaos->n_faults &&
          chaos->written_total >= chaos->thresholds[chaos->next_fault])
        {
          chaos->fire_at = now + g_rand_int_range (chaos->rand, 0, 200) * 1000;
          chaos->state = DIRECTOR_ARMED;
        }
      break;

    case DIRECTOR_ARMED:
      if (now < chaos->fire_at)
        break;
      chaos->next_fault++;
      if (chaos->mode == MODE_NETWORK)
        {
          network_fault (chaos);
          chaos->state = DIRECTOR_RUNNING;
          break;
        }
      log_fault (chaos, "SIGKILL natter-server");
      g_subprocess_force_exit (chaos->srv->proc);
      chaos->state = DIRECTOR_KILLED;
      break;

    case DIRECTOR_KILLED:
      if (!chaos->srv->exited)
        break;
      g_clear_object (&chaos->srv->proc);
      chaos->restart_at = now + g_rand_int_range (chaos->rand, 0, 1000) * 1000;
      chaos->state = DIRECTOR_DOWN;
      break;

    case DIRECTOR_DOWN:
      if (now < chaos->restart_at)
        break;
      log_fault (chaos, "restart natter-server");
      natter_rel_server_spawn (chaos->srv);
      chaos->state = DIRECTOR_RUNNING;
      break;

    default:
      g_assert_not_reached ();
    }
}

static gboolean
director_tick (gpointer user_data)
{
  Chaos *chaos = user_data;
  static gint64 last_report;
  gint64 now = g_get_monotonic_time ();

  if (now - last_report > 2 * G_USEC_PER_SEC && g_getenv ("NATTER_CHAOS_VERBOSE") != NULL)
    {
      guint pending = 0, online = 0;

      for (guint i = 0; i < N_CLIENTS; i++)
        {
          pending += natter_session_get_pending (chaos->clients[i].session);
          online += natter_session_get_state (chaos->clients[i].session) == NATTER_SESSION_STATE_ONLINE;
        }
      last_report = now;
      for (guint i = 0; i < N_CLIENTS; i++)
        if (natter_session_get_state (chaos->clients[i].session) != NATTER_SESSION_STATE_ONLINE)
          g_printerr ("  %s: state %d, retry in %.1f s, pending %u, error %s\n", chaos->clients[i].user,
                      natter_session_get_state (chaos->clients[i].session),
                      natter_session_get_retry_at (chaos->clients[i].session) != 0
                        ? (natter_session_get_retry_at (chaos->clients[i].session) - now) / 1e6 : 0.0,
                      natter_session_get_pending (chaos->clients[i].session),
                      natter_session_get_last_error (chaos->clients[i].session));
      g_printerr ("written %u, done %u, pending %u, online %u, fault %u/%u, state %d\n",
                  chaos->written_total, chaos->clients_done, pending, online,
                  chaos->next_fault, chaos->n_faults, chaos->state);
    }
  director_check (chaos);
  return G_SOURCE_CONTINUE;
}

static int
compare_uint (gconstpointer a,
              gconstpointer b)
{
  guint x = *(const guint *) a, y = *(const guint *) b;

  return x < y ? -1 : x > y;
}

/* ---- checks ------------------------------------------------------------- */

static guint64
progress (Chaos *chaos)
{
  guint64 n = chaos->written_total + chaos->next_fault;

  for (guint i = 0; i < N_CLIENTS; i++)
    n += chaos->clients[i].acked;
  return n;
}

/* Iterates the main context until @cond holds. A slow machine is not a
 * failure: the test fails when nothing was written or acked for 60 s
 * (meson's timeout bounds the whole run). */
#define STALL_US (60 * G_USEC_PER_SEC)
#define chaos_wait(chaos, cond)                                               \
  G_STMT_START {                                                              \
    guint64 _last = G_MAXUINT64;                                              \
    gint64 _since = 0;                                                        \
    guint _tick = g_timeout_add (20, natter_rel_tick, NULL);                  \
    while (!(cond))                                                           \
      {                                                                       \
        guint64 _now_progress = progress (chaos);                             \
        gint64 _now = g_get_monotonic_time ();                                \
        if (_now_progress != _last)                                           \
          {                                                                   \
            _last = _now_progress;                                            \
            _since = _now;                                                    \
          }                                                                   \
        else if (_now - _since > STALL_US)                                    \
          g_error ("%s:%d: no progress for 60 s waiting for %s",              \
                   __FILE__, __LINE__, #cond);                                \
        g_main_context_iteration (NULL, TRUE);                                \
      }                                                                       \
    g_source_remove (_tick);                                                  \
  } G_STMT_END

static gboolean
all_settled (Chaos *chaos)
{
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      NatterSession *s = chaos->clients[i].session;

      if (natter_session_get_pending (s) != 0 ||
          natter_session_get_state (s) != NATTER_SESSION_STATE_ONLINE)
        return FALSE;
    }
  return TRUE;
}

static void
store_result (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

static void
load_whole_timeline (NatterTimeline *timeline)
{
  while (!natter_timeline_get_at_start (timeline))
    {
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GError) error = NULL;

      natter_timeline_load_older_async (timeline, 200, NULL, store_result, &result);
      natter_rel_wait (result != NULL, 20000);
      natter_timeline_load_older_finish (timeline, result, &error);
      g_assert_no_error (error);
    }
}

static gboolean
lines_equal (GPtrArray *a,
             GPtrArray *b)
{
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++)
    if (g_strcmp0 (a->pdata[i], b->pdata[i]) != 0)
      return FALSE;
  return TRUE;
}

static void
verify (Chaos      *chaos,
        const char *label)
{
  g_autofree guint *count = g_new0 (guint, N_CLIENTS * N_MESSAGES);
  guint misplaced = 0, out_of_order = 0, seq_gaps = 0, foreign = 0;
  guint once = 0, lost = 0, duplicated = 0;
  GPtrArray *truth[N_ROOMS];
  g_autofree char *integrity = NULL;

  for (guint r = 0; r < N_ROOMS; r++)
    {
      g_autofree char *name = room_name (r);
      int last[N_CLIENTS];

      /* Client r is a member of room r. */
      truth[r] = natter_test_server_history (chaos->clients[r].session, name);
      for (guint i = 0; i < N_CLIENTS; i++)
        last[i] = -1;
      for (guint j = 0; j < truth[r]->len; j++)
        {
          const char *line = truth[r]->pdata[j];
          guint64 seq;
          guint c, k;
          char *rest;

          seq = g_ascii_strtoull (line, &rest, 10);
          if (seq != j + 1)
            seq_gaps++;
          /* "seq:cNN:cNN-KKKK" */
          if (sscanf (rest, ":c%*u:c%u-%u", &c, &k) != 2 || c >= N_CLIENTS || k >= N_MESSAGES)
            {
              foreign++;
              continue;
            }
          count[c * N_MESSAGES + k]++;
          if (room_of (c, k) != r)
            misplaced++;
          if ((int) k <= last[c])
            out_of_order++;
          last[c] = k;
        }
    }

  for (guint i = 0; i < N_CLIENTS * N_MESSAGES; i++)
    {
      if (count[i] == 1)
        once++;
      else if (count[i] == 0)
        lost++;
      else
        duplicated++;
    }

  g_test_message ("%s: messages sent %u / stored exactly once %u / lost %u / duplicated %u",
                  label, N_CLIENTS * N_MESSAGES, once, lost, duplicated);
  g_test_message ("%s: out of order %u, in the wrong room %u, seq gaps %u, unknown %u",
                  label, out_of_order, misplaced, seq_gaps, foreign);

  /* Every client's view of its rooms is the server's. */
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      Client *client = &chaos->clients[i];

      for (guint j = 0; j < 2; j++)
        {
          NatterTimeline *timeline = natter_room_get_timeline (client->rooms[j]);
          guint r = (i + j) % N_ROOMS;
          g_autoptr(GPtrArray) lines = NULL;

          natter_rel_wait (natter_room_get_last_seq (client->rooms[j]) >= (gint64) truth[r]->len, 30000);
          load_whole_timeline (timeline);
          lines = natter_test_timeline_lines (timeline);
          if (!lines_equal (lines, truth[r]) ||
              g_list_model_get_n_items (G_LIST_MODEL (timeline)) != lines->len)
            g_error ("%s: %s's timeline of room-%u (%u lines, %u items) differs from the server's (%u)",
                     label, client->user, r, lines->len,
                     g_list_model_get_n_items (G_LIST_MODEL (timeline)), truth[r]->len);
        }
    }
  g_test_message ("%s: all %u timelines equal the server's history", label, N_CLIENTS * 2);

  for (guint r = 0; r < N_ROOMS; r++)
    g_ptr_array_unref (truth[r]);

  /* After five SIGKILLs, a clean stop and a sound database. */
  natter_rel_server_stop (chaos->srv);
  integrity = natter_rel_integrity_check (chaos->srv->data_dir);
  g_assert_cmpstr (integrity, ==, "ok");

  g_assert_cmpuint (lost, ==, 0);
  g_assert_cmpuint (duplicated, ==, 0);
  g_assert_cmpuint (once, ==, N_CLIENTS * N_MESSAGES);
  g_assert_cmpuint (out_of_order, ==, 0);
  g_assert_cmpuint (misplaced, ==, 0);
  g_assert_cmpuint (seq_gaps, ==, 0);
  g_assert_cmpuint (foreign, ==, 0);
}

/* ---- the run ------------------------------------------------------------ */

static void
run_chaos (Mode mode)
{
  Chaos chaos = { 0 };
  WriteData writers[N_CLIENTS];
  const char *label = mode == MODE_KILLS ? "server kills" : "network cuts";
  const char *seed_env = g_getenv ("NATTER_CHAOS_SEED");
  guint32 seed = seed_env != NULL ? (guint32) g_ascii_strtoull (seed_env, NULL, 10) : g_random_int ();
  gint64 t0 = g_get_monotonic_time ();
  guint failed = 0;

  g_test_message ("%s: seed %u (NATTER_CHAOS_SEED=%u repeats it)", label, seed, seed);
  chaos.mode = mode;
  chaos.rand = g_rand_new_with_seed (seed);
  chaos.fault_log = g_string_new (NULL);
  if (mode == MODE_KILLS)
    chaos.srv = natter_rel_server_new (0, 0);
  else
    chaos.srv = natter_rel_server_new (HEARTBEAT_INTERVAL_MS, HEARTBEAT_TIMEOUT_MS);
  natter_rel_server_start (chaos.srv);
  if (mode == MODE_NETWORK)
    {
      chaos.proxy = natter_fault_proxy_new (chaos.srv->port);
      chaos.url = g_strdup_printf ("http://127.0.0.1:%u", natter_fault_proxy_get_port (chaos.proxy));
    }
  else
    chaos.url = g_strdup (chaos.srv->url);
  chaos.cache_dir = natter_test_mkdtemp ();

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      Client *client = &chaos.clients[i];

      client->index = i;
      client->user = g_strdup_printf ("c%02u", i);
      client->session = natter_test_session_new (chaos.url, client->user, chaos.cache_dir, FALSE);
      g_signal_connect (client->session, "message-failed", G_CALLBACK (on_failed), client);
      g_signal_connect (client->session, "message-acked", G_CALLBACK (on_acked), client);
    }
  for (guint i = 0; i < N_CLIENTS; i++)
    for (guint j = 0; j < 2; j++)
      {
        g_autofree char *name = room_name ((i + j) % N_ROOMS);

        chaos.clients[i].rooms[j] = natter_test_join (chaos.clients[i].session, name);
      }
  g_test_message ("%s: %u clients signed in and joined (%.1f s)", label, N_CLIENTS,
                  (g_get_monotonic_time () - t0) / 1e6);

  /* Fault moments: distinct written counts between 5 % and 90 % of all. */
  chaos.n_faults = mode == MODE_KILLS ? 5 : 12;
  if (g_getenv ("NATTER_CHAOS_FAULTS") != NULL)
    chaos.n_faults = atoi (g_getenv ("NATTER_CHAOS_FAULTS"));
  chaos.thresholds = g_new0 (guint, chaos.n_faults);
  for (guint f = 0; f < chaos.n_faults; f++)
    chaos.thresholds[f] = g_rand_int_range (chaos.rand, N_CLIENTS * N_MESSAGES / 20,
                                            N_CLIENTS * N_MESSAGES * 9 / 10);
  qsort (chaos.thresholds, chaos.n_faults, sizeof (guint), compare_uint);

  chaos.director_id = g_timeout_add (10, director_tick, &chaos);
  for (guint i = 0; i < N_CLIENTS; i++)
    {
      writers[i].chaos = &chaos;
      writers[i].client = &chaos.clients[i];
      chaos.clients[i].timer_id = g_timeout_add (1 + i, write_next, &writers[i]);
    }

  chaos_wait (&chaos, chaos.clients_done == N_CLIENTS && chaos.next_fault == chaos.n_faults &&
                      chaos.state == DIRECTOR_RUNNING);
  g_test_message ("%s: all written (%.1f s); faults:\n%s", label,
                  (g_get_monotonic_time () - t0) / 1e6, chaos.fault_log->str);
  /* Heal the network for good, then let everything drain. */
  natter_rel_wait (chaos.delay_ends_at == 0, 10000);
  chaos_wait (&chaos, all_settled (&chaos));
  g_clear_handle_id (&chaos.director_id, g_source_remove);
  g_test_message ("%s: every outbox empty (%.1f s)", label, (g_get_monotonic_time () - t0) / 1e6);

  for (guint i = 0; i < N_CLIENTS; i++)
    failed += chaos.clients[i].failed;
  g_assert_cmpuint (failed, ==, 0);

  verify (&chaos, label);
  g_test_message ("%s: done in %.1f s", label, (g_get_monotonic_time () - t0) / 1e6);

  for (guint i = 0; i < N_CLIENTS; i++)
    {
      Client *client = &chaos.clients[i];

      natter_session_stop (client->session);
      g_clear_object (&client->session);
      g_free (client->user);
    }
  g_clear_pointer (&chaos.proxy, natter_fault_proxy_free);
  natter_rel_server_free (chaos.srv);
  natter_test_rm_rf (chaos.cache_dir);
  g_free (chaos.cache_dir);
  g_free (chaos.url);
  g_free (chaos.thresholds);
  g_string_free (chaos.fault_log, TRUE);
  g_rand_free (chaos.rand);
}

static void
test_server_kills (void)
{
  run_chaos (MODE_KILLS);
}

static void
test_network_cuts (void)
{
  run_chaos (MODE_NETWORK);
}

/* libsoup logs every frame at debug level: far too slow for 10,000
 * messages times ten readers. NATTER_TEST_DEBUG=1 keeps them. */
static GLogWriterOutput
quiet_writer (GLogLevelFlags   level,
              const GLogField *fields,
              gsize            n_fields,
              gpointer         user_data)
{
  if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 && g_getenv ("NATTER_TEST_DEBUG") == NULL)
    return G_LOG_WRITER_HANDLED;
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static GLogFunc test_log_handler;

/* The test framework's handler of g_log() calls, which libsoup uses. */
static void
quiet_handler (const char     *domain,
               GLogLevelFlags  level,
               const char     *message,
               gpointer        user_data)
{
  if ((level & (G_LOG_LEVEL_DEBUG | G_LOG_LEVEL_INFO)) != 0 && g_getenv ("NATTER_TEST_DEBUG") == NULL)
    return;
  test_log_handler (domain, level, message, user_data);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_log_set_writer_func (quiet_writer, NULL, NULL);
  test_log_handler = g_log_set_default_handler (quiet_handler, NULL);
  g_setenv ("NATTER_NO_SYSTEM_BUS", "1", TRUE);

  g_test_add_func ("/reliability/chaos/server-kills", test_server_kills);
  g_test_add_func ("/reliability/chaos/network-cuts", test_network_cuts);

  return g_test_run ();
}
