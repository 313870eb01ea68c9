/* test-protocol.c: the Engine.IO / Socket.IO layer under attack and at its
 * edges: malformed packets (each closes only its own connection while
 * another client keeps chatting), oversize messages, the heartbeat, the
 * connect timeout and the handshake's query checks. */
#include <string.h>

#include "natter-protocol.h"
#include "natter-test-client.h"
#include "natter-test-raw.h"
#include "natter-test-server.h"

typedef struct
{
  NatterTestServer *ts;
} Fixture;

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  f->ts = natter_test_server_new ();
  f->ts->config->ping_interval_ms = 200;
  f->ts->config->ping_timeout_ms = 200;
  f->ts->config->connect_timeout_ms = 500;
  f->ts->config->max_message_bytes = 64 * 1024;
  f->ts->config->send_rate = 0; /* this file is not about rates */
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

/* The bystander sends and hears itself: the server is fine. */
static void
assert_still_chatting (NatterTestClient *bystander,
                       guint             round)
{
  g_autofree char *args = g_strdup_printf ("{\"room\":\"general\",\"cid\":\"alive-%u\",\"text\":\"still here\"}",
                                           round);
  guint before = natter_test_client_count_events (bystander, "message");
  g_autoptr(JsonObject) ack = natter_test_client_call_json (bystander, "send", args);

  g_assert_nonnull (ack);
  g_assert_true (json_object_get_boolean_member (ack, "ok"));
  g_assert_nonnull (natter_test_client_wait_event (bystander, "message", before));
}

static void
test_malformed (Fixture       *f,
                gconstpointer  data)
{
  g_autofree char *alice_token = natter_test_register (f->ts->url, "alice");
  g_autofree char *mallory_token = natter_test_register (f->ts->url, "mallory");
  g_autoptr(NatterTestClient) alice = connect_token (f, alice_token);
  GString *deep = g_string_new ("42[\"e\",");
  guint i;
  const char *frames[] = {
    "",                                   /* empty frame */
    "9",                                  /* unknown Engine.IO type */
    "x{}",                                /* not a type digit */
    "2",                                  /* a ping from the client: v4 pings come from the server */
    "2probe",
    "0",                                  /* OPEN from the client */
    "5",                                  /* UPGRADE without a transport to upgrade */
    "6",                                  /* NOOP */
    "4",                                  /* MESSAGE with nothing in it */
    "49",                                 /* unknown Socket.IO type */
    "4x",
    "42",                                 /* EVENT without data */
    "42{",                                /* broken JSON */
    "42{\"a\":1}",                        /* EVENT must be an array */
    "42[]",                               /* … led by a name */
    "42[1,2]",
    "42[\"send\"",                        /* truncated */
    "42abc[\"rooms\",{}]",                /* junk ack id */
    "4299999999999999999999[\"rooms\",{}]", /* ack id overflow */
    "44{\"message\":\"x\"}",              /* CONNECT_ERROR is server → client */
    "41[\"x\"]",                          /* DISCONNECT carries nothing */
    "42/nsp[\"rooms\",{}]",               /* namespace without its comma */
    "42/elsewhere,[\"rooms\",{}]",        /* event on a namespace never joined */
    "45[\"e\"]",                          /* binary event without an attachment count */
    "451-",                               /* … without data */
    "4511-[\"e\",{\"_placeholder\":true,\"num\":0}]", /* over the attachment limit */
    "451-[\"e\",{\"_placeholder\":true,\"num\":0}]", /* then text instead of the part (below) */
    "42[\"rooms\",{}]extra",            /* trailing junk after the JSON */
    "42[\"send\",{\"room\":\"general\",\"cid\":\"n1\",\"text\":\"a\\u0000b\"}]", /* NUL would cut the text */
    "42[\"join\",{\"room\":\"general\\u0000evil\"}]", /* … or a name */
    NULL,                                 /* deep nesting, filled in below */
    NULL,                                 /* a binary frame nobody announced */
  };

  for (i = 0; i < 200; i++)
    g_string_append_c (deep, '[');
  for (i = 0; i < 200; i++)
    g_string_append_c (deep, ']');
  g_string_append_c (deep, ']');
  frames[G_N_ELEMENTS (frames) - 2] = deep->str;

  for (i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      g_autoptr(NatterTestClient) mallory = connect_token (f, mallory_token);
      gboolean last = i == G_N_ELEMENTS (frames) - 1;

      g_test_message ("bad frame %u: %.60s", i, last ? "(binary)" : frames[i]);
      if (last)
        natter_test_client_send_binary (mallory, "\x01\x02", 2);
      else
        {
          natter_test_client_send_text (mallory, frames[i]);
          if (g_str_has_prefix (frames[i], "451-"))
            natter_test_client_send_text (mallory, "42[\"rooms\",{}]");
        }

      g_assert_true (natter_test_client_wait_closed (mallory, NATTER_TEST_TIMEOUT_MS));
      assert_still_chatting (alice, i);
      g_assert_true (natter_test_client_is_open (alice));
    }

  g_string_free (deep, TRUE);
}

static void
test_event_before_connect (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(NatterTestClient) client = natter_test_client_new (f->ts->url);
  g_autoptr(GError) error = NULL;

  natter_test_client_open (client, NULL, &error);
  g_assert_no_error (error);
  natter_test_client_send_text (client, "420[\"rooms\",{}]");
  g_assert_true (natter_test_client_wait_closed (client, NATTER_TEST_TIMEOUT_MS));
  /* No ack leaked out before the close. */
  {
    GPtrArray *frames = natter_test_client_get_frames (client);
    guint i;

    for (i = 0; i < frames->len; i++)
      g_assert_false (g_str_has_prefix (g_ptr_array_index (frames, i), "43"));
  }
}

static void
test_other_namespace (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(NatterTestClient) client = natter_test_client_new (f->ts->url);
  g_autoptr(GError) error = NULL;
  int index;

  natter_test_client_open (client, NULL, &error);
  g_assert_no_error (error);
  natter_test_client_send_text (client, "40/admin,{\"token\":\"x\"}");
  index = natter_test_client_wait_frame (client, "44/admin,", 0);
  g_assert_cmpint (index, >=, 0);
  g_assert_true (natter_test_client_is_open (client));
}

static void
test_oversize_frame (Fixture       *f,
                     gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  g_autofree char *bob_token = natter_test_register (f->ts->url, "bob");
  g_autoptr(NatterTestClient) alice = connect_token (f, token);
  g_autoptr(NatterTestClient) bob = connect_token (f, bob_token);
  gsize size = f->ts->config->max_message_bytes + 1;
  g_autofree char *frame = g_malloc (size + 1);

  /* One frame of max+1 bytes, valid JSON and all: only its size is wrong. */
  memset (frame, ' ', size);
  memcpy (frame, "42[\"rooms\",{}]", 14);
  frame[size] = '\0';
  natter_test_client_send_text (bob, frame);
  g_assert_true (natter_test_client_wait_closed (bob, NATTER_TEST_TIMEOUT_MS));
  g_assert_cmpuint (natter_test_client_get_close_code (bob), ==, 1009);

  assert_still_chatting (alice, 0);
}

/* The close code of the first close frame among the server's frames, or -1. */
static int
find_close_code (GByteArray *input)
{
  const guint8 *p = input->data;
  gsize at = 0;

  while (at + 2 <= input->len)
    {
      guint8 opcode = p[at] & 0x0f;
      gsize len = p[at + 1] & 0x7f, hdr = 2;

      if (len == 126)
        {
          if (at + 4 > input->len)
            break;
          len = (p[at + 2] << 8) | p[at + 3];
          hdr = 4;
        }
      if (at + hdr + len > input->len)
        break;
      if (opcode == 0x8 && len >= 2)
        return (p[at + hdr] << 8) | p[at + hdr + 1];
      at += hdr + len;
    }
  return -1;
}

static void
test_oversize_fragmented (Fixture       *f,
                          gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  g_autoptr(NatterTestClient) alice = connect_token (f, token);
  NatterTestRaw *raw = natter_test_raw_connect (natter_server_get_port (f->ts->server), 0);
  guint8 chunk[8192];
  guint i, j;
  gsize sent = 0;
  int code = -1;

  g_assert_cmpuint (natter_test_raw_upgrade (raw, NULL), ==, 101);

  /* Many small fragments of one message: every frame is fine, their sum
   * is not. libsoup 3.2 alone would buffer all of it until the last one. */
  memset (chunk, 'a', sizeof chunk);
  natter_test_raw_send_frame (raw, FALSE, 0x1, "4", 1);
  for (i = 0; i < 64 && code < 0; i++)
    {
      natter_test_raw_send_frame (raw, FALSE, 0x0, chunk, sizeof chunk);
      sent += sizeof chunk;
      for (j = 0; j < 20 && code < 0; j++)
        {
          g_main_context_iteration (NULL, FALSE);
          natter_test_raw_pump (raw);
          code = find_close_code (natter_test_raw_get_input (raw));
        }
    }
  g_test_message ("close %d after %zu bytes of fragments", code, sent);

  /* Refused with 1009 as soon as the sum passed the limit, not at the end. */
  g_assert_cmpint (code, ==, 1009);
  g_assert_cmpuint (sent, <=, f->ts->config->max_message_bytes + 4 * sizeof chunk);
  g_assert_true (natter_test_raw_wait_eof (raw, NATTER_TEST_TIMEOUT_MS));
  natter_test_raw_free (raw);

  assert_still_chatting (alice, 0);
}

/* Frame headers RFC 6455 forbids, several of which libsoup 3.2 lets
 * through: each is answered with 1002 and the connection ends. */
static void
test_bad_frames (Fixture       *f,
                 gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  g_autoptr(NatterTestClient) alice = connect_token (f, token);
  guint8 big[200];
  guint i;
  const struct { guint8 first; gboolean masked; gsize len; const char *what; } cases[] = {
    { 0x8a, TRUE, 200, "pong of 200 bytes" },
    { 0x89, TRUE, 126, "ping of 126 bytes" },
    { 0x88, TRUE, 126, "close of 126 bytes" },
    { 0x09, TRUE, 4, "ping without FIN" },
    { 0xc1, TRUE, 1, "RSV1 on a text frame" },
    { 0xa1, TRUE, 1, "RSV2" },
    { 0x91, TRUE, 1, "RSV3" },
    { 0x83, TRUE, 1, "opcode 3" },
    { 0x8b, TRUE, 1, "opcode 0xb" },
    { 0x81, FALSE, 1, "unmasked text frame" },
    { 0x80, TRUE, 1, "continuation of nothing" },
  };

  memset (big, '3', sizeof big);
  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      NatterTestRaw *raw = natter_test_raw_connect (natter_server_get_port (f->ts->server), 0);
      int code = -1;
      guint j;

      g_test_message ("%s", cases[i].what);
      g_assert_cmpuint (natter_test_raw_upgrade (raw, NULL), ==, 101);
      natter_test_raw_send_raw_frame (raw, cases[i].first, cases[i].masked, big, cases[i].len);
      for (j = 0; j < 500 && code < 0 && natter_test_raw_pump (raw); j++)
        {
          g_main_context_iteration (NULL, TRUE);
          code = find_close_code (natter_test_raw_get_input (raw));
        }
      if (code < 0)
        code = find_close_code (natter_test_raw_get_input (raw));
      g_assert_cmpint (code, ==, 1002);
      g_assert_true (natter_test_raw_wait_eof (raw, NATTER_TEST_TIMEOUT_MS));
      natter_test_raw_free (raw);
    }

  /* A new message while a fragmented one is open. */
  {
    NatterTestRaw *raw = natter_test_raw_connect (natter_server_get_port (f->ts->server), 0);

    g_assert_cmpuint (natter_test_raw_upgrade (raw, NULL), ==, 101);
    natter_test_raw_send_frame (raw, FALSE, 0x1, "42", 2);
    natter_test_raw_send_frame (raw, TRUE, 0x1, "3", 1);
    g_assert_true (natter_test_raw_wait_eof (raw, NATTER_TEST_TIMEOUT_MS));
    g_assert_cmpint (find_close_code (natter_test_raw_get_input (raw)), ==, 1002);
    natter_test_raw_free (raw);
  }

  assert_still_chatting (alice, 0);
}

static void
test_heartbeat (Fixture       *f,
                gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  g_autoptr(NatterTestClient) good = connect_token (f, token);
  g_autoptr(NatterTestClient) deaf = natter_test_client_new (f->ts->url);
  g_autoptr(GError) error = NULL;
  GPtrArray *frames;
  guint i, pings = 0;

  natter_test_client_set_auto_pong (deaf, FALSE);
  natter_test_client_connect (deaf, token, &error);
  g_assert_no_error (error);

  /* The open packet tells the timings. */
  frames = natter_test_client_get_frames (good);
  g_assert_true (g_str_has_prefix (g_ptr_array_index (frames, 0), "0{"));
  g_assert_nonnull (strstr (g_ptr_array_index (frames, 0), "\"pingInterval\":200"));
  g_assert_nonnull (strstr (g_ptr_array_index (frames, 0), "\"pingTimeout\":200"));
  g_assert_nonnull (strstr (g_ptr_array_index (frames, 0), "\"upgrades\":[]"));

  /* No pong: closed after pingInterval + pingTimeout. */
  g_assert_true (natter_test_client_wait_closed (deaf, 2000));

  /* Pongs keep the other one alive through several pings. */
  for (i = 0; i < 4; i++)
    g_assert_cmpint (natter_test_client_wait_frame (good, "2", natter_test_client_get_frames (good)->len), >=, 0);
  for (i = 0; i < frames->len; i++)
    if (g_str_equal (g_ptr_array_index (frames, i), "2"))
      pings++;
  g_assert_cmpuint (pings, >=, 4);
  g_assert_true (natter_test_client_is_open (good));
}

static void
test_connect_timeout (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(NatterTestClient) silent = natter_test_client_new (f->ts->url);
  g_autoptr(GError) error = NULL;
  gint64 start;

  natter_test_client_open (silent, NULL, &error);
  g_assert_no_error (error);
  start = g_get_monotonic_time ();
  g_assert_true (natter_test_client_wait_closed (silent, 3000));
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 400 * 1000);
}

static void
test_handshake_query (Fixture       *f,
                      gconstpointer  data)
{
  guint i;
  const struct { const char *path; int code; } cases[] = {
    { "/socket.io/?EIO=3&transport=websocket", 5 },
    { "/socket.io/?transport=websocket", 5 },
    { "/socket.io/?EIO=4&transport=polling", 0 },
    { "/socket.io/?EIO=4", 0 },
    { "/socket.io/?EIO=4&transport=websocket&sid=abc", 1 },
  };

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonNode) reply = NULL;
      guint status = natter_test_http (f->ts->url, "GET", cases[i].path, NULL, NULL, &reply);
      gint64 code = -1;

      g_test_message ("%s → %u", cases[i].path, status);
      g_assert_cmpuint (status, ==, 400);
      g_assert_nonnull (reply);
      g_assert_true (natter_chat_json_get_int (json_node_get_object (reply), "code", &code));
      g_assert_cmpint (code, ==, cases[i].code);
      g_assert_nonnull (natter_chat_json_get_string (json_node_get_object (reply), "error"));
    }

  /* And the websocket client sees the refusal as such. */
  {
    g_autoptr(NatterTestClient) client = natter_test_client_new (f->ts->url);
    g_autoptr(GError) error = NULL;

    g_assert_false (natter_test_client_open (client, "/socket.io/?EIO=3&transport=websocket", &error));
    g_assert_cmpuint (natter_test_client_get_http_status (client), ==, 400);
  }
}

static void
test_client_close_packet (Fixture       *f,
                          gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  g_autoptr(NatterTestClient) client = connect_token (f, token);
  g_autoptr(NatterTestClient) other = connect_token (f, token);

  natter_test_client_send_text (client, "41");
  g_assert_true (natter_test_client_wait_closed (client, NATTER_TEST_TIMEOUT_MS));

  natter_test_client_send_text (other, "1");
  g_assert_true (natter_test_client_wait_closed (other, NATTER_TEST_TIMEOUT_MS));
  g_assert_cmpuint (natter_test_client_get_close_code (other), ==, 1000);
}

static gboolean
frames_after_head_cond (gpointer data)
{
  NatterTestRaw *raw = data;
  GByteArray *input = natter_test_raw_get_input (raw);

  natter_test_raw_pump (raw);
  return input->len > 0 &&
         g_strstr_len ((const char *) input->data, input->len, "40{\"sid\"") != NULL;
}

static void
test_frames_with_upgrade (Fixture       *f,
                          gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  g_autofree char *connect = g_strdup_printf ("40{\"token\":\"%s\"}", token);
  g_autofree char *request =
    g_strdup_printf ("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n");
  NatterTestRaw *raw = natter_test_raw_connect (natter_server_get_port (f->ts->server), 0);
  GByteArray *input;

  /* A client that does not wait for the 101: its CONNECT comes in the
   * same read as the request, so libsoup has it in its buffer when the
   * server takes the connection over. It must be answered all the same,
   * after the open packet. */
  natter_test_raw_write (raw, request, strlen (request));
  natter_test_raw_send_frame (raw, TRUE, 0x1, connect, strlen (connect));
  g_assert_true (natter_test_wait (frames_after_head_cond, raw, NATTER_TEST_TIMEOUT_MS));

  input = natter_test_raw_get_input (raw);
  g_assert_true (g_str_has_prefix ((const char *) input->data, "HTTP/1.1 101 "));
  g_assert_nonnull (g_strstr_len ((const char *) input->data, input->len, "\"maxPayload\""));
  g_assert_true (g_strstr_len ((const char *) input->data, input->len, "\"maxPayload\"") <
                 g_strstr_len ((const char *) input->data, input->len, "40{\"sid\""));
  natter_test_raw_free (raw);
}

int
main (int   argc,
      char *argv[])
{
  natter_test_init (&argc, &argv);

#define ADD(path, func) g_test_add (path, Fixture, NULL, setup, func, teardown)
  ADD ("/server/protocol/malformed", test_malformed);
  ADD ("/server/protocol/event-before-connect", test_event_before_connect);
  ADD ("/server/protocol/other-namespace", test_other_namespace);
  ADD ("/server/protocol/oversize-frame", test_oversize_frame);
  ADD ("/server/protocol/oversize-fragmented", test_oversize_fragmented);
  ADD ("/server/protocol/bad-frames", test_bad_frames);
  ADD ("/server/protocol/heartbeat", test_heartbeat);
  ADD ("/server/protocol/connect-timeout", test_connect_timeout);
  ADD ("/server/protocol/handshake-query", test_handshake_query);
  ADD ("/server/protocol/close-packets", test_client_close_packet);
  ADD ("/server/protocol/frames-with-the-upgrade", test_frames_with_upgrade);
#undef ADD

  return g_test_run ();
}
