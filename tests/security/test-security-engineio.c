/* test-security-engineio.c: Engine.IO and Socket.IO packets a hostile
 * client can send: malformed packets of every type, heartbeats the wrong
 * way, events before CONNECT, attachments at and past the limit, a JSON
 * nesting bomb as big as a message may be, a megabyte event name, reserved
 * event names, ack ids at the edges of their range, binary frames nobody
 * announced.
 *
 * Already in tests/server (not repeated): 32 malformed forms incl. a client
 * "2"/"2probe", 11 attachments, 200-deep nesting, an ack id overflowing 64
 * bits and one stray binary frame [protocol/malformed]; an EVENT before
 * CONNECT [protocol/event-before-connect]; another namespace
 * [protocol/other-namespace]. */
#include <string.h>

#include "security-common.h"

static void
tweak_small (NatterServerConfig *config)
{
  config->max_message_bytes = 64 * 1024;
  config->send_rate = 0;
}

/* Sends @frame on a fresh signed-in connection and expects a close 1002. */
static void
expect_violation (const char *url,
                  const char *token,
                  const char *frame,
                  gsize       len)
{
  g_autoptr(NatterTestClient) mallory = sec_connect_token (url, token);

  g_test_message ("violation: %.80s", frame);
  if (len == 0)
    natter_test_client_send_text (mallory, frame);
  else
    natter_test_client_send_binary (mallory, frame, len);
  g_assert_true (natter_test_client_wait_closed (mallory, NATTER_TEST_TIMEOUT_MS));
  g_assert_cmpuint (natter_test_client_get_close_code (mallory), ==, 1002);
}

static void
test_malformed_by_type (SecFixture    *f,
                        gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "mallory");
  g_autoptr(NatterTestClient) bystander = sec_connect_user (f->ts->url, "bystander", NULL);
  guint i;
  /* One or more per packet type that protocol/malformed does not send. */
  const char *frames[] = {
    "7", "8", "-", "\x7f", " 4",                           /* Engine.IO types */
    "40[\"token\"]", "40\"token\"", "40{\"token\":", "401-{}",  /* CONNECT */
    "41{}", "41/,\"x\"",                                     /* DISCONNECT */
    "43", "431", "431{}", "431\"x\"", "43[]x",                /* ACK */
    "44", "44[1]",                                           /* CONNECT_ERROR */
    "42[{}]", "42[null]", "42[\"\"x]", "42[\"rooms\"]]",      /* EVENT */
    "45-[\"rooms\"]", "451[\"rooms\"]", "451-[\"rooms\",{\"_placeholder\":true,\"num\":1}]",
    "452-[\"rooms\",{\"_placeholder\":true,\"num\":2}]",
    "45999-[\"rooms\"]", "4518446744073709551617-[\"rooms\"]", /* BINARY_EVENT */
    "46", "461-", "461-7{}", "462-7[{\"_placeholder\":true,\"num\":2}]", /* BINARY_ACK */
    "4/", "4/x", "42/" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,[\"rooms\",{}]",
  };

  for (i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      g_autofree char *args = g_strdup_printf ("{\"room\":\"general\",\"cid\":\"b-%u\",\"text\":\"fine\"}", i);
      g_autoptr(JsonObject) ack = NULL;

      expect_violation (f->ts->url, token, frames[i], 0);
      ack = natter_test_client_call_json (bystander, "send", args);
      sec_assert_ok (ack);
    }
  g_assert_true (natter_test_client_is_open (bystander));
  sec_assert_fixture_ok (f);
}

static void
test_heartbeat_direction (SecFixture    *f,
                          gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "pinger");
  NatterTestRaw *raw = sec_raw_session (f->port, 0, NULL);
  NatterTestRaw *ws_ping = sec_raw_session (f->port, 0, token);
  int code;

  /* An Engine.IO ping from a client that has not even sent CONNECT. */
  sec_raw_frame (raw, 0x81, TRUE, "2", 1);
  code = sec_raw_wait_close_code (raw, NATTER_TEST_TIMEOUT_MS);
  g_assert_cmpint (code, ==, 1002);
  natter_test_raw_free (raw);

  /* A WebSocket ping (opcode 9) is legal whatever the direction: answered
   * with a pong of the same payload, the session lives on. */
  sec_raw_frame (ws_ping, 0x89, TRUE, "are you there", 13);
  {
    const char *rooms = "421[\"rooms\",{}]";

    sec_raw_frame (ws_ping, 0x81, TRUE, rooms, strlen (rooms));
    g_assert_true (sec_raw_wait_text (ws_ping, "431[{\"ok\":true", NATTER_TEST_TIMEOUT_MS));
  }
  {
    GByteArray *in = natter_test_raw_get_input (ws_ping);

    g_assert_nonnull (g_strstr_len ((const char *) in->data, in->len, "\x8a\x0d" "are you there"));
  }
  natter_test_raw_free (ws_ping);
  sec_assert_fixture_ok (f);
}

static void
test_before_connect (SecFixture    *f,
                     gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "early");
  const char *forms[] = {
    "451-[\"rooms\",{\"_placeholder\":true,\"num\":0}]", /* binary event, part follows */
    "42/admin,[\"rooms\",{}]",                         /* after a refused namespace */
    "421[\"rooms\",{}]",                              /* after a refused token */
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (forms); i++)
    {
      g_autoptr(NatterTestClient) client = natter_test_client_new (f->ts->url);
      g_autoptr(GError) error = NULL;
      GPtrArray *frames;
      guint j;

      g_assert_true (natter_test_client_open (client, NULL, &error));
      if (i == 1)
        {
          natter_test_client_send_text (client, "40/admin,{}");
          g_assert_cmpint (natter_test_client_wait_frame (client, "44/admin,", 0), >=, 0);
        }
      if (i == 2)
        {
          g_assert_false (natter_test_client_connect (client, "forged-token", &error));
          g_clear_error (&error);
        }
      natter_test_client_send_text (client, forms[i]);
      if (i == 0)
        natter_test_client_send_binary (client, "\x00\x01", 2);
      g_assert_true (natter_test_client_wait_closed (client, NATTER_TEST_TIMEOUT_MS));
      g_assert_cmpuint (natter_test_client_get_close_code (client), ==, 1002);
      frames = natter_test_client_get_frames (client);
      for (j = 0; j < frames->len; j++)
        g_assert_false (g_str_has_prefix (g_ptr_array_index (frames, j), "43"));
    }

  /* An ACK before CONNECT is answered by nothing, and CONNECT still works. */
  {
    g_autoptr(NatterTestClient) client = natter_test_client_new (f->ts->url);
    g_autoptr(GError) error = NULL;

    g_assert_true (natter_test_client_open (client, NULL, &error));
    natter_test_client_send_text (client, "431[{}]");
    g_assert_true (natter_test_client_connect (client, token, &error));
    g_assert_no_error (error);
  }
  sec_assert_fixture_ok (f);
}

static void
test_attachments (SecFixture    *f,
                  gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "binary");
  gsize part = f->ts->config->max_message_bytes - 16;
  g_autofree guint8 *bytes = g_malloc0 (part);
  g_autoptr(GString) head = g_string_new ("4510-7[\"rooms\",{\"parts\":[");
  guint i, round;

  for (i = 0; i < 10; i++)
    g_string_append_printf (head, "%s{\"_placeholder\":true,\"num\":%u}", i ? "," : "", i);
  g_string_append (head, "]}]");

  /* The most a packet may carry: ten parts each just under the message
   * limit. Decoded, answered, forgotten; again and again without growth. */
  for (round = 0; round < 8; round++)
    {
      g_autoptr(NatterTestClient) client = sec_connect_token (f->ts->url, token);

      natter_test_client_send_text (client, head->str);
      for (i = 0; i < 10; i++)
        natter_test_client_send_binary (client, bytes, part);
      g_assert_cmpint (natter_test_client_wait_frame (client, "437[{\"ok\":true", 0), >=, 0);

      /* Nine of ten, then gone: the pending parts go with the session. */
      natter_test_client_send_text (client, head->str);
      for (i = 0; i < 9; i++)
        natter_test_client_send_binary (client, bytes, part);
    }
  sec_assert_fixture_ok (f);
}

static void
test_nesting_bomb (SecFixture    *f,
                   gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "bomber");
  gsize size = f->ts->config->max_message_bytes - 64;
  g_autoptr(GString) arrays = g_string_new ("42[\"rooms\",");
  g_autoptr(GString) objects = g_string_new ("42[\"rooms\",");
  g_autoptr(GString) mixed = g_string_new ("42[\"rooms\",");
  gint64 start = g_get_monotonic_time ();

  /* As deep as a whole message allows, in three shapes. */
  while (arrays->len < size)
    g_string_append_c (arrays, '[');
  while (objects->len < size)
    g_string_append (objects, "{\"a\":");
  while (mixed->len < size)
    g_string_append (mixed, "[{\"\":");

  expect_violation (f->ts->url, token, arrays->str, 0);
  expect_violation (f->ts->url, token, objects->str, 0);
  expect_violation (f->ts->url, token, mixed->str, 0);
  g_test_message ("three %zu-byte bombs refused in %.2f s", size,
                  (g_get_monotonic_time () - start) / 1e6);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 20 * G_USEC_PER_SEC);
  sec_assert_fixture_ok (f);
}

static void
test_huge_event_name (SecFixture    *f,
                      gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "namer");
  g_autoptr(NatterTestClient) client = sec_connect_token (f->ts->url, token);
  gsize fits = f->ts->config->max_message_bytes - 32;
  g_autoptr(GString) frame = g_string_new ("429[\"");
  g_autofree char *mebibyte = NULL;
  GPtrArray *frames;
  int index;

  /* A name as long as a message allows: an unknown event like any other,
   * and the answer does not echo it back (no amplification). */
  while (frame->len < fits)
    g_string_append_c (frame, 'n');
  g_string_append (frame, "\",{}]");
  natter_test_client_send_text (client, frame->str);
  index = natter_test_client_wait_frame (client, "439[{\"ok\":false,\"error\":\"bad_request\"", 0);
  g_assert_cmpint (index, >=, 0);
  frames = natter_test_client_get_frames (client);
  g_assert_cmpuint (strlen (g_ptr_array_index (frames, index)), <, 256);
  g_assert_true (natter_test_client_is_open (client));

  /* A 1 MiB name is more than a message may be at all. */
  {
    g_autoptr(NatterTestClient) big = sec_connect_token (f->ts->url, token);
    gsize n = 1024 * 1024;

    mebibyte = g_malloc (n + 16);
    memcpy (mebibyte, "42[\"", 4);
    memset (mebibyte + 4, 'm', n);
    memcpy (mebibyte + 4 + n, "\",{}]", 6);
    natter_test_client_send_text (big, mebibyte);
    g_assert_true (natter_test_client_wait_closed (big, NATTER_TEST_TIMEOUT_MS));
    /* 1009, or no close frame at all when libsoup's own per-frame guard
     * (max + 1) sees the frame header first: refused either way. */
    g_test_message ("1 MiB name: close code %u", natter_test_client_get_close_code (big));
    g_assert_true (natter_test_client_get_close_code (big) == 1009 ||
                   natter_test_client_get_close_code (big) == 1006 ||
                   natter_test_client_get_close_code (big) == 0);
  }
  sec_assert_fixture_ok (f);
}

static void
test_reserved_names (SecFixture    *f,
                     gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "reserver");
  g_autoptr(NatterTestClient) bystander = sec_connect_user (f->ts->url, "bystander", NULL);
  g_autoptr(NatterTestClient) client = NULL;
  const char *reserved[] = { "connect", "connect_error", "disconnect", "disconnecting",
                             "newListener", "removeListener" };
  /* Names the server sends (a client must not be able to forge them to
   * others) and names that mean something to JavaScript objects. */
  const char *impostors[] = { "message", "member", "presence", "__proto__", "constructor",
                              "toString", "hasOwnProperty", "", "Send", "send " };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (reserved); i++)
    {
      g_autofree char *frame = g_strdup_printf ("421[\"%s\",{}]", reserved[i]);

      expect_violation (f->ts->url, token, frame, 0);
    }

  client = sec_connect_token (f->ts->url, token);
  for (i = 0; i < G_N_ELEMENTS (impostors); i++)
    {
      g_autoptr(JsonObject) ack =
        natter_test_client_call_json (client, impostors[i],
                                      "{\"room\":\"general\",\"seq\":1,\"ts\":1,\"from\":\"bystander\","
                                      "\"cid\":\"x\",\"text\":\"forged\",\"user\":\"bystander\","
                                      "\"online\":false,\"action\":\"leave\"}");

      g_test_message ("event \"%s\"", impostors[i]);
      sec_assert_error (ack, "bad_request");
    }
  g_assert_true (natter_test_client_is_open (client));
  /* Nothing of it reached anyone: a bystander's next message is its first. */
  {
    g_autoptr(JsonObject) ack = natter_test_client_call_json (bystander, "send",
                                                             "{\"room\":\"general\",\"cid\":\"real\",\"text\":\"real\"}");
    JsonObject *event;

    sec_assert_ok (ack);
    event = natter_test_client_wait_event (bystander, "message", 0);
    g_assert_cmpstr (json_object_get_string_member (event, "cid"), ==, "real");
    g_assert_cmpuint (natter_test_client_count_events (bystander, "member"), ==, 0);
  }
  sec_assert_fixture_ok (f);
}

static void
test_ack_ids (SecFixture    *f,
              gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "acker");
  g_autoptr(NatterTestClient) client = sec_connect_token (f->ts->url, token);
  const struct { const char *frame, *answer; } fine[] = {
    { "420[\"rooms\",{}]", "430[{\"ok\":true" },
    { "42007[\"rooms\",{}]", "437[{\"ok\":true" },
    { "429007199254740991[\"rooms\",{}]", "439007199254740991[{\"ok\":true" }, /* 2^53-1 */
  };
  const char *refused[] = {
    "429007199254740992[\"rooms\",{}]",      /* 2^53: not exact in JavaScript */
    "429223372036854775807[\"rooms\",{}]",   /* INT64_MAX */
    "4218446744073709551615[\"rooms\",{}]",  /* UINT64_MAX */
    "42-1[\"rooms\",{}]",
    "421.5[\"rooms\",{}]",
    "421e3[\"rooms\",{}]",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (fine); i++)
    {
      natter_test_client_send_text (client, fine[i].frame);
      g_assert_cmpint (natter_test_client_wait_frame (client, fine[i].answer, 0), >=, 0);
    }
  for (i = 0; i < G_N_ELEMENTS (refused); i++)
    expect_violation (f->ts->url, token, refused[i], 0);
  sec_assert_fixture_ok (f);
}

static void
test_unannounced_binary (SecFixture    *f,
                         gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "stray");

  /* One part too many after a complete binary packet. */
  {
    g_autoptr(NatterTestClient) client = sec_connect_token (f->ts->url, token);

    natter_test_client_send_text (client, "451-3[\"rooms\",{\"p\":{\"_placeholder\":true,\"num\":0}}]");
    natter_test_client_send_binary (client, "\x01", 1);
    g_assert_cmpint (natter_test_client_wait_frame (client, "433[{\"ok\":true", 0), >=, 0);
    natter_test_client_send_binary (client, "\x02", 1);
    g_assert_true (natter_test_client_wait_closed (client, NATTER_TEST_TIMEOUT_MS));
    g_assert_cmpuint (natter_test_client_get_close_code (client), ==, 1002);
  }
  /* A binary frame before anything else, and an empty one. */
  {
    g_autoptr(NatterTestClient) client = natter_test_client_new (f->ts->url);
    g_autoptr(GError) error = NULL;

    g_assert_true (natter_test_client_open (client, NULL, &error));
    natter_test_client_send_binary (client, "\xff", 1);
    g_assert_true (natter_test_client_wait_closed (client, NATTER_TEST_TIMEOUT_MS));
    g_assert_cmpuint (natter_test_client_get_close_code (client), ==, 1002);
  }
  {
    NatterTestRaw *raw = sec_raw_session (f->port, 0, token);

    sec_raw_frame (raw, 0x82, TRUE, NULL, 0);
    g_assert_cmpint (sec_raw_wait_close_code (raw, NATTER_TEST_TIMEOUT_MS), ==, 1002);
    natter_test_raw_free (raw);
  }
  sec_assert_fixture_ok (f);
}

int
main (int   argc,
      char *argv[])
{
  sec_init (&argc, &argv, "engineio");

  sec_add ("/security/eio/malformed-by-type", NULL, test_malformed_by_type);
  sec_add ("/security/eio/heartbeat-direction", NULL, test_heartbeat_direction);
  sec_add ("/security/eio/before-connect", NULL, test_before_connect);
  sec_add ("/security/eio/attachments", tweak_small, test_attachments);
  sec_add ("/security/eio/nesting-bomb", NULL, test_nesting_bomb);
  sec_add ("/security/eio/huge-event-name", NULL, test_huge_event_name);
  sec_add ("/security/eio/reserved-names", NULL, test_reserved_names);
  sec_add ("/security/eio/ack-ids", NULL, test_ack_ids);
  sec_add ("/security/eio/unannounced-binary", NULL, test_unannounced_binary);

  return sec_run ();
}
