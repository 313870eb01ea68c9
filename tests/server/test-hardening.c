/* test-hardening.c: each limit the server adds to libsoup, attacked:
 * Origin allow-list, connection caps (total and per address), the
 * handshake/idle timeout, the send backlog of a client that never reads
 * (with RSS kept bounded) and the per-user send rate. */
#include <string.h>

#include "natter-protocol.h"
#include "natter-test-client.h"
#include "natter-test-raw.h"
#include "natter-test-server.h"

typedef struct
{
  NatterTestServer *ts;
} Fixture;

typedef void (*Tweak) (NatterServerConfig *config);

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  Tweak tweak = (Tweak) data;

  f->ts = natter_test_server_new ();
  if (tweak != NULL)
    tweak (f->ts->config);
  natter_test_server_start (f->ts);
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  natter_test_server_free (f->ts);
}

static NatterTestClient *
connect_token (Fixture    *f,
               const char *token)
{
  NatterTestClient *client = natter_test_client_new (f->ts->url);
  g_autoptr(GError) error = NULL;

  natter_test_client_connect (client, token, &error);
  g_assert_no_error (error);
  return client;
}

typedef struct
{
  NatterServer *server;
  guint         n;
} CountWait;

static gboolean
connections_cond (gpointer data)
{
  CountWait *wait = data;

  return natter_server_get_n_connections (wait->server) == wait->n;
}

static gboolean
sessions_cond (gpointer data)
{
  CountWait *wait = data;

  return natter_server_get_n_sessions (wait->server) == wait->n;
}

/* ---- Origin ------------------------------------------------------------------ */

static void
tweak_origin (NatterServerConfig *config)
{
  const char *origins[] = { "https://chat.example.org", NULL };

  config->allowed_origins = g_strdupv ((char **) origins);
}

static void
test_origin (Fixture       *f,
             gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  g_autoptr(NatterTestClient) evil = natter_test_client_new (f->ts->url);
  g_autoptr(NatterTestClient) good = natter_test_client_new (f->ts->url);
  g_autoptr(NatterTestClient) native = NULL;
  g_autoptr(GError) error = NULL;
  NatterTestRaw *raw;
  GByteArray *input;

  /* Cross-site WebSocket hijacking: a page elsewhere opens a socket with
   * the victim's cookies. Refused before the upgrade. */
  natter_test_client_set_header (evil, "Origin", "https://evil.example.com");
  g_assert_false (natter_test_client_open (evil, NULL, &error));
  g_assert_cmpuint (natter_test_client_get_http_status (evil), ==, 403);
  g_clear_error (&error);

  raw = natter_test_raw_connect (natter_server_get_port (f->ts->server), 0);
  g_assert_cmpuint (natter_test_raw_upgrade (raw, "Origin: null\r\n"), ==, 403);
  natter_test_raw_wait_eof (raw, NATTER_TEST_TIMEOUT_MS);
  input = natter_test_raw_get_input (raw);
  g_assert_nonnull (g_strstr_len ((const char *) input->data, input->len, "\"error\":\"forbidden\""));
  natter_test_raw_free (raw);

  natter_test_client_set_header (good, "Origin", "https://chat.example.org");
  natter_test_client_connect (good, token, &error);
  g_assert_no_error (error);

  /* No Origin: not a browser, nothing to hijack. */
  native = connect_token (f, token);
  g_assert_true (natter_test_client_is_open (native));
}

/* ---- connection caps ----------------------------------------------------------- */

static void
tweak_per_address (NatterServerConfig *config)
{
  config->max_connections_per_address = 3;
}

static void
tweak_total (NatterServerConfig *config)
{
  config->max_connections = 3;
}

static void
test_connection_cap (Fixture       *f,
                     gconstpointer  data)
{
  guint port = natter_server_get_port (f->ts->server);
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  g_autoptr(NatterTestClient) over = natter_test_client_new (f->ts->url);
  g_autoptr(NatterTestClient) after = NULL;
  g_autoptr(GError) error = NULL;
  NatterTestRaw *raw[3];
  CountWait wait = { f->ts->server, 3 };
  guint i;

  /* Three idle TCP connections use the whole allowance… */
  for (i = 0; i < 3; i++)
    raw[i] = natter_test_raw_connect (port, 0);
  g_assert_true (natter_test_wait (connections_cond, &wait, NATTER_TEST_TIMEOUT_MS));

  /* … so the fourth is refused with 503 … */
  g_assert_false (natter_test_client_open (over, NULL, &error));
  g_assert_cmpuint (natter_test_client_get_http_status (over), ==, 503);
  g_clear_error (&error);
  {
    g_autoptr(JsonNode) reply = NULL;
    guint status = natter_test_http (f->ts->url, "GET", "/api/v1/health", NULL, NULL, &reply);

    g_assert_cmpuint (status, ==, 503);
    g_assert_cmpstr (natter_chat_json_get_string (json_node_get_object (reply), "error"), ==, "unavailable");
  }

  /* An idle connection over the cap is not kept for the whole handshake
   * timeout (10 s here): it gets about a second to ask for its 503. */
  {
    NatterTestRaw *flood = natter_test_raw_connect (port, 0);
    gint64 start = g_get_monotonic_time ();

    g_assert_true (natter_test_raw_wait_eof (flood, 5000));
    g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
    natter_test_raw_free (flood);
  }

  /* … until one goes away. */
  natter_test_raw_free (raw[0]);
  wait.n = 2;
  g_assert_true (natter_test_wait (connections_cond, &wait, NATTER_TEST_TIMEOUT_MS));
  after = connect_token (f, token);
  g_assert_true (natter_test_client_is_open (after));

  for (i = 1; i < 3; i++)
    natter_test_raw_free (raw[i]);
}

/* ---- handshake / idle timeout -------------------------------------------------- */

static void
tweak_idle (NatterServerConfig *config)
{
  config->handshake_timeout_ms = 300;
}

static void
test_idle_timeout (Fixture       *f,
                   gconstpointer  data)
{
  guint port = natter_server_get_port (f->ts->server);
  NatterTestRaw *silent = natter_test_raw_connect (port, 0);
  NatterTestRaw *partial = natter_test_raw_connect (port, 0);
  NatterTestRaw *trickle = natter_test_raw_connect (port, 0);
  const char *half = "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  CountWait wait = { f->ts->server, 0 };
  gint64 start = g_get_monotonic_time ();
  guint i;

  /* One says nothing, one sends half a request head, one a body that
   * never ends: each is cut when the handshake timeout passes. */
  natter_test_raw_write (partial, half, strlen (half));
  natter_test_raw_write (trickle, "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", 61);

  g_assert_true (natter_test_raw_wait_eof (silent, 5000));
  g_assert_true (natter_test_raw_wait_eof (partial, 5000));
  g_assert_true (natter_test_raw_wait_eof (trickle, 5000));
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 250 * 1000);

  for (i = 0; i < 3; i++)
    natter_test_raw_free (i == 0 ? silent : i == 1 ? partial : trickle);
  g_assert_true (natter_test_wait (connections_cond, &wait, NATTER_TEST_TIMEOUT_MS));

  /* A real request still goes through. */
  g_assert_cmpuint (natter_test_http (f->ts->url, "GET", "/api/v1/health", NULL, NULL, NULL), ==, 200);
}

/* ---- slow reader --------------------------------------------------------------- */

static void
tweak_backlog (NatterServerConfig *config)
{
  config->max_backlog_bytes = 256 * 1024;
  config->send_rate = 0;
}

static void
test_slow_reader (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *alice_token = natter_test_register (f->ts->url, "alice");
  g_autofree char *sloth_token = natter_test_register (f->ts->url, "sloth");
  g_autoptr(NatterTestClient) alice = connect_token (f, alice_token);
  g_autofree char *connect = g_strdup_printf ("40{\"token\":\"%s\"}", sloth_token);
  g_autofree char *text = g_strnfill (8 * 1024, 'z');
  NatterTestRaw *sloth = natter_test_raw_connect (natter_server_get_port (f->ts->server), 4096);
  CountWait two = { f->ts->server, 2 };
  CountWait one = { f->ts->server, 1 };
  gsize rss_before, rss_after;
  guint sent = 0, extra;

  g_assert_cmpuint (natter_test_raw_upgrade (sloth, NULL), ==, 101);
  natter_test_raw_send_frame (sloth, TRUE, 0x1, connect, strlen (connect));
  g_assert_true (natter_test_wait (sessions_cond, &two, NATTER_TEST_TIMEOUT_MS));
  /* From here on the sloth never reads again. */

  rss_before = natter_test_get_rss ();

  /* Alice talks in general, where the sloth is a member. */
  while (natter_server_get_n_sessions (f->ts->server) == 2 && sent < 6000)
    {
      g_autoptr(JsonObject) args = json_object_new ();
      g_autofree char *cid = g_strdup_printf ("flood-%u", sent);
      g_autoptr(JsonObject) ack = NULL;

      json_object_set_string_member (args, "room", "general");
      json_object_set_string_member (args, "cid", cid);
      json_object_set_string_member (args, "text", text);
      ack = natter_test_client_call (alice, "send", args);
      g_assert_nonnull (ack);
      g_assert_true (json_object_get_boolean_member (ack, "ok"));
      sent++;
    }
  g_test_message ("sloth cut off after %u messages (%u KiB)", sent, sent * 8);
  g_assert_true (natter_test_wait (sessions_cond, &one, NATTER_TEST_TIMEOUT_MS));

  /* The room stays busy; the server does not keep anything for the sloth. */
  for (extra = 0; extra < 200; extra++)
    {
      g_autoptr(JsonObject) args = json_object_new ();
      g_autofree char *cid = g_strdup_printf ("after-%u", extra);
      g_autoptr(JsonObject) ack = NULL;

      json_object_set_string_member (args, "room", "general");
      json_object_set_string_member (args, "cid", cid);
      json_object_set_string_member (args, "text", text);
      ack = natter_test_client_call (alice, "send", args);
      g_assert_true (json_object_get_boolean_member (ack, "ok"));
    }
  rss_after = natter_test_get_rss ();
  g_test_message ("RSS %zu KiB → %zu KiB", rss_before / 1024, rss_after / 1024);

  /* Without the limit the sloth's queue alone would hold every message
   * sent (≥ 6000 × 8 KiB = 48 MiB); with it, the whole process grows far
   * less than that (alice's own events are kept by the test client). */
  g_assert_cmpuint (sent, <, 6000);
#ifndef NATTER_TEST_ASAN
  g_assert_cmpuint (rss_after, <, rss_before + 40 * 1024 * 1024);
#else
  g_test_message ("AddressSanitizer keeps freed memory in quarantine: RSS not checked");
#endif
  g_assert_true (natter_test_client_is_open (alice));

  {
    guint status = 0;
    g_autofree char *metrics = natter_test_http_get_text (f->ts->url, "/metrics", &status);

    g_assert_nonnull (strstr (metrics, "\nnatter_slow_readers_dropped_total 1\n"));
  }
  natter_test_raw_free (sloth);
}

/* ---- a flood of connections --------------------------------------------------------- */

static void
tweak_flood (NatterServerConfig *config)
{
  config->handshake_timeout_ms = 2000;
}

typedef struct
{
  NatterTestRaw **raws;
  guint           n;
} Flood;

static gboolean
flood_closed_cond (gpointer data)
{
  Flood *flood = data;
  guint i;

  for (i = 0; i < flood->n; i++)
    if (natter_test_raw_pump (flood->raws[i]))
      return FALSE;
  return TRUE;
}

/* Hundreds of connections at once, from this very thread (which cannot
 * accept while it connects): the kernel must queue them all (libsoup's
 * own listen backlog is 10), and the server must then cut every one —
 * those over the cap within a second, the others at the handshake timeout. */
static void
test_flood (Fixture       *f,
            gconstpointer  data)
{
  guint port = natter_server_get_port (f->ts->server);
  Flood flood = { g_new0 (NatterTestRaw *, 300), 300 };
  CountWait zero = { f->ts->server, 0 };
  gint64 start = g_get_monotonic_time ();
  guint i;

  for (i = 0; i < flood.n; i++)
    flood.raws[i] = natter_test_raw_connect (port, 0);
  g_test_message ("%u connections in %.2f s", flood.n, (g_get_monotonic_time () - start) / 1e6);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 2 * G_USEC_PER_SEC);

  /* A client arriving meanwhile is answered at once (503 here: all of
   * them come from the same address). */
  g_assert_cmpuint (natter_test_http (f->ts->url, "GET", "/api/v1/health", NULL, NULL, NULL), ==, 503);

  g_assert_true (natter_test_wait (flood_closed_cond, &flood, 3 * f->ts->config->handshake_timeout_ms));
  g_assert_true (natter_test_wait (connections_cond, &zero, NATTER_TEST_TIMEOUT_MS));
  g_assert_cmpuint (natter_test_http (f->ts->url, "GET", "/api/v1/health", NULL, NULL, NULL), ==, 200);

  for (i = 0; i < flood.n; i++)
    natter_test_raw_free (flood.raws[i]);
  g_free (flood.raws);
}

/* ---- churn: nothing leaks ------------------------------------------------------ */

static guint
count_descriptors (void)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  while (dir != NULL && g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

/* libsoup 3.2 leaks the descriptor of a keep-alive connection the client
 * closes while idle; the server answers "Connection: close" to avoid that.
 * Many short HTTP requests and WebSocket sessions must leave nothing open. */
static void
test_churn (Fixture       *f,
            gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  CountWait zero = { f->ts->server, 0 };
  guint before, after, i;

  g_assert_true (natter_test_wait (connections_cond, &zero, NATTER_TEST_TIMEOUT_MS));
  before = count_descriptors ();

  for (i = 0; i < 60; i++)
    {
      g_autoptr(NatterTestClient) client = connect_token (f, token);
      g_autoptr(JsonObject) ack = natter_test_client_call_json (client, "rooms", "{}");

      g_assert_true (json_object_get_boolean_member (ack, "ok"));
      g_assert_cmpuint (natter_test_http (f->ts->url, "GET", "/api/v1/health", NULL, NULL, NULL), ==, 200);
      if (i % 3 == 0)
        {
          NatterTestRaw *raw = natter_test_raw_connect (natter_server_get_port (f->ts->server), 0);

          natter_test_raw_write (raw, "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n", 41);
          natter_test_raw_wait_eof (raw, NATTER_TEST_TIMEOUT_MS);
          natter_test_raw_free (raw);
        }
    }

  g_assert_true (natter_test_wait (connections_cond, &zero, NATTER_TEST_TIMEOUT_MS));
  g_assert_cmpuint (natter_server_get_n_sessions (f->ts->server), ==, 0);
  after = count_descriptors ();
  g_test_message ("descriptors: %u before, %u after", before, after);
  g_assert_cmpuint (after, <=, before + 4);
}

/* ---- rate limit ------------------------------------------------------------------ */

static void
tweak_rate (NatterServerConfig *config)
{
  config->send_rate = 2;
  config->send_burst = 5;
}

static void
test_rate_limit (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  g_autofree char *bob_token = natter_test_register (f->ts->url, "bob");
  g_autoptr(NatterTestClient) alice = connect_token (f, token);
  g_autoptr(NatterTestClient) alice2 = connect_token (f, token);
  g_autoptr(NatterTestClient) bob = connect_token (f, bob_token);
  g_autoptr(JsonObject) ack = NULL;
  guint i, ok = 0, limited = 0;
  gint64 start;

  /* The bucket is per user: two connections share it. */
  for (i = 0; i < 10; i++)
    {
      g_autofree char *args = g_strdup_printf ("{\"room\":\"general\",\"cid\":\"r-%u\",\"text\":\"spam\"}", i);
      g_autoptr(JsonObject) reply = natter_test_client_call_json (i % 2 ? alice2 : alice, "send", args);

      if (json_object_get_boolean_member (reply, "ok"))
        ok++;
      else
        {
          g_assert_cmpstr (json_object_get_string_member (reply, "error"), ==, "rate_limited");
          limited++;
        }
    }
  g_assert_cmpuint (ok, >=, 5);
  g_assert_cmpuint (ok, <=, 6); /* the burst, plus at most one refill */
  g_assert_cmpuint (limited, ==, 10 - ok);

  /* Others are not affected. */
  ack = natter_test_client_call_json (bob, "send", "{\"room\":\"general\",\"cid\":\"b-1\",\"text\":\"hi\"}");
  g_assert_true (json_object_get_boolean_member (ack, "ok"));

  /* And the bucket refills (2 per second). */
  start = g_get_monotonic_time ();
  for (;;)
    {
      g_autoptr(JsonObject) reply =
        natter_test_client_call_json (alice, "send", "{\"room\":\"general\",\"cid\":\"r-late\",\"text\":\"later\"}");

      if (json_object_get_boolean_member (reply, "ok"))
        break;
      g_assert_cmpint (g_get_monotonic_time () - start, <, 3 * G_USEC_PER_SEC);
      {
        gint64 until = g_get_monotonic_time () + 100 * 1000;

        while (g_get_monotonic_time () < until)
          g_main_context_iteration (NULL, FALSE);
      }
    }
}

static void
tweak_events (NatterServerConfig *config)
{
  config->event_rate = 5;
  config->event_burst = 20;
}

/* Every event, not only send, is limited per connection: a client asking
 * for history in a loop gets rate_limited, another connection does not. */
static void
test_event_rate (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  g_autoptr(NatterTestClient) greedy = connect_token (f, token);
  g_autoptr(NatterTestClient) other = connect_token (f, token);
  g_autoptr(JsonObject) ack = NULL;
  guint i, ok = 0, limited = 0;

  for (i = 0; i < 40; i++)
    {
      g_autoptr(JsonObject) reply = natter_test_client_call_json (greedy, "history", "{\"room\":\"general\"}");

      if (json_object_get_boolean_member (reply, "ok"))
        ok++;
      else
        {
          g_assert_cmpstr (json_object_get_string_member (reply, "error"), ==, "rate_limited");
          limited++;
        }
    }
  g_assert_cmpuint (ok, >=, 20);
  g_assert_cmpuint (ok, <, 30);
  g_assert_cmpuint (limited, ==, 40 - ok);

  ack = natter_test_client_call_json (other, "history", "{\"room\":\"general\"}");
  g_assert_true (json_object_get_boolean_member (ack, "ok"));
  g_assert_true (natter_test_client_is_open (greedy));
}

int
main (int   argc,
      char *argv[])
{
  natter_test_init (&argc, &argv);

  g_test_add ("/server/hardening/origin", Fixture, tweak_origin, setup, test_origin, teardown);
  g_test_add ("/server/hardening/cap-per-address", Fixture, tweak_per_address, setup,
              test_connection_cap, teardown);
  g_test_add ("/server/hardening/cap-total", Fixture, tweak_total, setup,
              test_connection_cap, teardown);
  g_test_add ("/server/hardening/idle-timeout", Fixture, tweak_idle, setup, test_idle_timeout, teardown);
  g_test_add ("/server/hardening/slow-reader", Fixture, tweak_backlog, setup, test_slow_reader, teardown);
  g_test_add ("/server/hardening/flood", Fixture, tweak_flood, setup, test_flood, teardown);
  g_test_add ("/server/hardening/churn", Fixture, NULL, setup, test_churn, teardown);
  g_test_add ("/server/hardening/event-rate", Fixture, tweak_events, setup, test_event_rate, teardown);
  g_test_add ("/server/hardening/rate-limit", Fixture, tweak_rate, setup, test_rate_limit, teardown);

  return g_test_run ();
}
