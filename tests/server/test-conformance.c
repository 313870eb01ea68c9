/* test-conformance.c: --conformance mode, checked with the exact frames
 * the upstream Socket.IO v5 and Engine.IO v4 protocol test suites send and
 * expect over WebSocket (their long-polling cases are out of scope). */
#include <string.h>

#include "natter-protocol.h"
#include "natter-test-client.h"
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
  natter_server_config_set_conformance (f->ts->config, TRUE);
  natter_test_server_start (f->ts);
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  natter_test_server_free (f->ts);
}

static NatterTestClient *
open_client (Fixture    *f,
             const char *path)
{
  NatterTestClient *client = natter_test_client_new (f->ts->url);
  g_autoptr(GError) error = NULL;

  natter_test_client_open (client, path, &error);
  g_assert_no_error (error);
  return client;
}

/* The next non-ping frame from index *at on; advances *at past it. */
static const char *
next_frame (NatterTestClient *client,
            guint            *at)
{
  GPtrArray *frames = natter_test_client_get_frames (client);

  for (;;)
    {
      int index = natter_test_client_wait_frame (client, "", *at);

      g_assert_cmpint (index, >=, 0);
      *at = index + 1;
      if (!g_str_equal (g_ptr_array_index (frames, index), "2"))
        return g_ptr_array_index (frames, index);
    }
}

static void
test_open_packet (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(NatterTestClient) client = open_client (f, NULL);
  const char *open = g_ptr_array_index (natter_test_client_get_frames (client), 0);
  g_autoptr(NatterEioOpen) parsed = natter_eio_open_parse (open + 1, strlen (open + 1), NULL);

  g_assert_nonnull (parsed);
  g_assert_cmpuint (parsed->ping_interval_ms, ==, 300);
  g_assert_cmpuint (parsed->ping_timeout_ms, ==, 200);
  g_assert_cmpuint (parsed->max_payload, ==, 1000000);
  g_assert_nonnull (strstr (open, "\"upgrades\":[]"));
}

static void
test_connect (Fixture       *f,
              gconstpointer  data)
{
  const struct { const char *send, *reply_prefix, *auth; } cases[] = {
    { "40", "40{\"sid\":", "42[\"auth\",{}]" },
    { "40{\"token\":\"123\"}", "40{\"sid\":", "42[\"auth\",{\"token\":\"123\"}]" },
    { "40/custom,", "40/custom,{\"sid\":", "42/custom,[\"auth\",{}]" },
    { "40/custom,{\"token\":\"abc\"}", "40/custom,{\"sid\":", "42/custom,[\"auth\",{\"token\":\"abc\"}]" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(NatterTestClient) client = open_client (f, NULL);
      guint at = 1;

      natter_test_client_send_text (client, cases[i].send);
      g_assert_true (g_str_has_prefix (next_frame (client, &at), cases[i].reply_prefix));
      g_assert_cmpstr (next_frame (client, &at), ==, cases[i].auth);
    }

  {
    g_autoptr(NatterTestClient) client = open_client (f, NULL);
    guint at = 1;

    natter_test_client_send_text (client, "40/random");
    g_assert_cmpstr (next_frame (client, &at), ==, "44/random,{\"message\":\"Invalid namespace\"}");
  }
}

static NatterTestClient *
connected_client (Fixture *f,
                  guint   *at)
{
  NatterTestClient *client = open_client (f, NULL);

  *at = 1;
  natter_test_client_send_text (client, "40");
  g_assert_true (g_str_has_prefix (next_frame (client, at), "40{"));
  g_assert_cmpstr (next_frame (client, at), ==, "42[\"auth\",{}]");
  return client;
}

static void
test_messages (Fixture       *f,
               gconstpointer  data)
{
  guint at;
  g_autoptr(NatterTestClient) client = connected_client (f, &at);
  GPtrArray *binary;

  natter_test_client_send_text (client, "42[\"message\",1,\"2\",{\"3\":[true]}]");
  g_assert_cmpstr (next_frame (client, &at), ==, "42[\"message-back\",1,\"2\",{\"3\":[true]}]");

  natter_test_client_send_text (client, "42456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]");
  g_assert_cmpstr (next_frame (client, &at), ==, "43456[1,\"2\",{\"3\":[false]}]");

  natter_test_client_send_text (client,
                                "452-[\"message\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
  natter_test_client_send_binary (client, "\x01\x02\x03", 3);
  natter_test_client_send_binary (client, "\x04\x05\x06", 3);
  g_assert_cmpstr (next_frame (client, &at), ==,
                   "452-[\"message-back\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");

  natter_test_client_send_text (client,
                                "452-789[\"message-with-ack\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");
  natter_test_client_send_binary (client, "\x07\x08\x09", 3);
  natter_test_client_send_binary (client, "\x0a\x0b\x0c", 3);
  g_assert_cmpstr (next_frame (client, &at), ==,
                   "462-789[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]");

  binary = natter_test_client_get_binary_frames (client);
  g_assert_cmpuint (binary->len, ==, 4);
  g_assert_cmpmem (g_bytes_get_data (g_ptr_array_index (binary, 0), NULL), 3, "\x01\x02\x03", 3);
  g_assert_cmpmem (g_bytes_get_data (g_ptr_array_index (binary, 1), NULL), 3, "\x04\x05\x06", 3);
  g_assert_cmpmem (g_bytes_get_data (g_ptr_array_index (binary, 2), NULL), 3, "\x07\x08\x09", 3);
  g_assert_cmpmem (g_bytes_get_data (g_ptr_array_index (binary, 3), NULL), 3, "\x0a\x0b\x0c", 3);

  /* Leaving a namespace keeps the session. */
  natter_test_client_send_text (client, "40/custom,");
  g_assert_true (g_str_has_prefix (next_frame (client, &at), "40/custom,{"));
  g_assert_cmpstr (next_frame (client, &at), ==, "42/custom,[\"auth\",{}]");
  natter_test_client_send_text (client, "41/custom,");
  natter_test_client_send_text (client, "42[\"message\",\"message to main namespace\"]");
  g_assert_cmpstr (next_frame (client, &at), ==, "42[\"message-back\",\"message to main namespace\"]");
  g_assert_true (natter_test_client_is_open (client));
}

static void
test_invalid_closes (Fixture       *f,
                     gconstpointer  data)
{
  const char *frames[] = { "4abc", "42{}", "42abc[\"message-with-ack\",1,\"2\",{\"3\":[false]}]" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      guint at;
      g_autoptr(NatterTestClient) client = connected_client (f, &at);

      natter_test_client_send_text (client, frames[i]);
      g_assert_true (natter_test_client_wait_closed (client, NATTER_TEST_TIMEOUT_MS));
    }

  /* "4abc" before any CONNECT, too. */
  {
    g_autoptr(NatterTestClient) client = open_client (f, NULL);

    natter_test_client_send_text (client, "4abc");
    g_assert_true (natter_test_client_wait_closed (client, NATTER_TEST_TIMEOUT_MS));
  }
}

static void
test_timeouts (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(NatterTestClient) no_handshake = open_client (f, NULL);
  g_autoptr(NatterTestClient) no_pong = natter_test_client_new (f->ts->url);
  g_autoptr(NatterTestClient) closer = open_client (f, NULL);
  g_autoptr(GError) error = NULL;

  /* No CONNECT within connectTimeout (1000 ms). */
  g_assert_true (natter_test_client_wait_closed (no_handshake, 3000));

  /* No pong: closed after pingInterval + pingTimeout. */
  natter_test_client_set_auto_pong (no_pong, FALSE);
  natter_test_client_open (no_pong, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (natter_test_client_wait_closed (no_pong, 2000));

  /* "1" closes the session. */
  natter_test_client_send_text (closer, "1");
  g_assert_true (natter_test_client_wait_closed (closer, 2000));
}

static gboolean
has_binary_cond (gpointer data)
{
  return ((GPtrArray *) data)->len > 0;
}

static void
test_engine_echo (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(NatterTestClient) client = open_client (f, "/engine.io/?EIO=4&transport=websocket");
  GPtrArray *binary;
  guint at = 1, i;

  natter_test_client_send_text (client, "4hello");
  g_assert_cmpstr (next_frame (client, &at), ==, "4hello");
  natter_test_client_send_text (client, "4€uro and 汉字");
  g_assert_cmpstr (next_frame (client, &at), ==, "4€uro and 汉字");

  natter_test_client_send_binary (client, "\x00\x01\x02\x03", 4);
  binary = natter_test_client_get_binary_frames (client);
  g_assert_true (natter_test_wait (has_binary_cond, binary, NATTER_TEST_TIMEOUT_MS));
  g_assert_cmpuint (binary->len, ==, 1);
  g_assert_cmpmem (g_bytes_get_data (g_ptr_array_index (binary, 0), NULL), 4, "\x00\x01\x02\x03", 4);

  /* Three heartbeats answered keep it open; the engine endpoint has no
   * Socket.IO connect timeout. */
  for (i = 0; i < 3; i++)
    g_assert_cmpint (natter_test_client_wait_frame (client, "2",
                                                    natter_test_client_get_frames (client)->len), >=, 0);
  g_assert_true (natter_test_client_is_open (client));

  {
    g_autoptr(JsonNode) reply = NULL;

    g_assert_cmpuint (natter_test_http (f->ts->url, "GET", "/engine.io/?EIO=4&transport=polling",
                                        NULL, NULL, &reply), ==, 400);
  }
}

int
main (int   argc,
      char *argv[])
{
  natter_test_init (&argc, &argv);

#define ADD(path, func) g_test_add (path, Fixture, NULL, setup, func, teardown)
  ADD ("/server/conformance/open-packet", test_open_packet);
  ADD ("/server/conformance/connect", test_connect);
  ADD ("/server/conformance/messages", test_messages);
  ADD ("/server/conformance/invalid-closes", test_invalid_closes);
  ADD ("/server/conformance/timeouts", test_timeouts);
  ADD ("/server/conformance/engine-echo", test_engine_echo);
#undef ADD

  return g_test_run ();
}
