/* test-eio-packet.c: Engine.IO v4 frames and the open handshake, checked
 * byte for byte against the protocol documentation's examples. */
#include "natter-protocol.h"

#include <string.h>

static void
test_decode_types (void)
{
  static const struct { const char *frame; NatterEioPacketType type; const char *payload; } cases[] = {
    { "2", NATTER_EIO_PING, "" },
    { "3", NATTER_EIO_PONG, "" },
    { "2probe", NATTER_EIO_PING, "probe" },
    { "4hello", NATTER_EIO_MESSAGE, "hello" },
    { "1", NATTER_EIO_CLOSE, "" },
    { "5", NATTER_EIO_UPGRADE, "" },
    { "6", NATTER_EIO_NOOP, "" },
    { "40{\"token\":\"t\"}", NATTER_EIO_MESSAGE, "0{\"token\":\"t\"}" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      NatterEioPacketType type;
      const char *payload;
      gsize len;

      g_assert_true (natter_eio_packet_decode (cases[i].frame, strlen (cases[i].frame),
                                               &type, &payload, &len, &error));
      g_assert_no_error (error);
      g_assert_cmpint (type, ==, cases[i].type);
      g_assert_cmpmem (payload, len, cases[i].payload, strlen (cases[i].payload));
    }
}

static void
test_decode_malformed (void)
{
  static const char * const frames[] = { "", "7", "9", "a", "b4", "\xff", " 2", "-1" };

  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      g_autoptr(GError) error = NULL;
      NatterEioPacketType type;

      g_assert_false (natter_eio_packet_decode (frames[i], strlen (frames[i]), &type, NULL, NULL, &error));
      g_assert_error (error, NATTER_PROTOCOL_ERROR,
                      (frames[i][0] == '\0' ? NATTER_PROTOCOL_ERROR_EMPTY : NATTER_PROTOCOL_ERROR_BAD_TYPE));
    }
}

static void
test_encode (void)
{
  g_autofree char *ping = natter_eio_packet_encode (NATTER_EIO_PING, NULL);
  g_autofree char *pong = natter_eio_packet_encode (NATTER_EIO_PONG, NULL);
  g_autofree char *message = natter_eio_packet_encode (NATTER_EIO_MESSAGE, "2[\"hello\"]");

  g_assert_cmpstr (ping, ==, "2");
  g_assert_cmpstr (pong, ==, "3");
  g_assert_cmpstr (message, ==, "42[\"hello\"]");
}

static void
test_open_encode (void)
{
  NatterEioOpen open = {
    .sid = (char *) "lv_VI97HAXpY6yYWAAAC",
    .ping_interval_ms = 25000,
    .ping_timeout_ms = 20000,
    .max_payload = 1000000,
  };
  g_autofree char *frame = natter_eio_open_encode (&open);

  g_assert_cmpstr (frame, ==,
                   "0{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[],"
                   "\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}");
}

static void
test_open_parse (void)
{
  /* The example of the Engine.IO v4 documentation, as a node server sends it. */
  static const char payload[] =
    "{\"sid\":\"lv_VI97HAXpY6yYWAAAC\",\"upgrades\":[\"websocket\"],"
    "\"pingInterval\":25000,\"pingTimeout\":20000,\"maxPayload\":1000000}";
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterEioOpen) open = natter_eio_open_parse (payload, strlen (payload), &error);

  g_assert_no_error (error);
  g_assert_nonnull (open);
  g_assert_cmpstr (open->sid, ==, "lv_VI97HAXpY6yYWAAAC");
  g_assert_cmpuint (open->ping_interval_ms, ==, 25000);
  g_assert_cmpuint (open->ping_timeout_ms, ==, 20000);
  g_assert_cmpuint (open->max_payload, ==, 1000000);
}

static void
test_open_malformed (void)
{
  static const char * const payloads[] = {
    "",
    "[]",
    "{",
    "null",
    "{\"pingInterval\":1,\"pingTimeout\":1,\"maxPayload\":1}",
    "{\"sid\":\"\",\"pingInterval\":1,\"pingTimeout\":1,\"maxPayload\":1}",
    "{\"sid\":5,\"pingInterval\":1,\"pingTimeout\":1,\"maxPayload\":1}",
    "{\"sid\":{},\"pingInterval\":1,\"pingTimeout\":1,\"maxPayload\":1}",   /* fuzz-eio: was a json-glib critical */
    "{\"sid\":[\"a\"],\"pingInterval\":1,\"pingTimeout\":1,\"maxPayload\":1}",
    "   ",                                                                    /* no root node at all */
    "{\"sid\":\"a\\u0000b\",\"pingInterval\":1,\"pingTimeout\":1,\"maxPayload\":1}",
    "{\"sid\":\"a\",\"pingInterval\":\"1\",\"pingTimeout\":1,\"maxPayload\":1}",
    "{\"sid\":\"a\",\"pingInterval\":-5,\"pingTimeout\":1,\"maxPayload\":1}",
    "{\"sid\":\"a\",\"pingInterval\":1.5,\"pingTimeout\":1,\"maxPayload\":1}",
    "{\"sid\":\"a\",\"pingInterval\":1,\"maxPayload\":1}",
    "{\"sid\":\"a\",\"pingInterval\":99999999999,\"pingTimeout\":1,\"maxPayload\":1}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (payloads); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(NatterEioOpen) open = natter_eio_open_parse (payloads[i], strlen (payloads[i]), &error);

      g_assert_null (open);
      g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/eio/decode/types", test_decode_types);
  g_test_add_func ("/protocol/eio/decode/malformed", test_decode_malformed);
  g_test_add_func ("/protocol/eio/encode", test_encode);
  g_test_add_func ("/protocol/eio/open/encode", test_open_encode);
  g_test_add_func ("/protocol/eio/open/parse", test_open_parse);
  g_test_add_func ("/protocol/eio/open/malformed", test_open_malformed);

  return g_test_run ();
}
