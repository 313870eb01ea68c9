/* test-sio-packet.c: Socket.IO v5 packets, byte for byte against the
 * protocol documentation's examples, and every malformed form we know. */
#include "natter-protocol.h"

#include <string.h>

static NatterSioPacket *
decode_ok (const char *text)
{
  g_autoptr(GError) error = NULL;
  NatterSioPacket *packet = natter_sio_packet_decode (text, strlen (text), &error);

  g_assert_no_error (error);
  g_assert_nonnull (packet);

  return packet;
}

static char *
data_to_string (const NatterSioPacket *packet)
{
  return packet->data != NULL ? json_to_string (packet->data, FALSE) : NULL;
}

/* Decoding then encoding a canonical packet must give back the same bytes. */
static void
test_round_trip (void)
{
  static const char * const canonical[] = {
    "0",
    "0/admin,",
    "0{\"token\":\"123\"}",
    "0/admin,{\"token\":\"123\"}",
    "0{\"sid\":\"oSO0OpakMV_3jnilAAAA\"}",
    "1/admin,",
    "2[\"hello\",1]",
    "2[\"e\",{}]",
    "2/admin,456[\"project:delete\",123]",
    "213[\"e\"]",
    "313[{\"ok\":true}]",
    "3/admin,456[]",
    "4{\"message\":\"Not authorized\"}",
    "4/custom,{\"message\":\"unauthorized\"}",
    "51-[\"e\",{\"_placeholder\":true,\"num\":0}]",
    "61-/admin,456[{\"_placeholder\":true,\"num\":0}]",
    "52-[\"two\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]",
  };

  for (guint i = 0; i < G_N_ELEMENTS (canonical); i++)
    {
      g_autoptr(NatterSioPacket) packet = decode_ok (canonical[i]);
      g_autofree char *encoded = NULL;
      guint expected = packet->n_attachments;

      /* The encoder announces the parts it carries; give it as many. */
      for (guint n = 0; n < expected; n++)
        g_ptr_array_add (packet->attachments, g_bytes_new_static ("\x01\x02", 2));

      encoded = natter_sio_packet_encode (packet);
      g_assert_cmpstr (encoded, ==, canonical[i]);
    }
}

static void
test_decode_fields (void)
{
  g_autoptr(NatterSioPacket) connect = decode_ok ("0/custom,");
  g_autoptr(NatterSioPacket) event = decode_ok ("2/admin,456[\"project:delete\",123]");
  g_autoptr(NatterSioPacket) ack = decode_ok ("313[{\"ok\":true,\"seq\":4}]");
  g_autoptr(NatterSioPacket) error = decode_ok ("4{\"message\":\"unauthorized\"}");
  g_autoptr(NatterSioPacket) binary = decode_ok ("51-[\"e\",{\"_placeholder\":true,\"num\":0}]");
  g_autoptr(NatterSioPacket) no_comma = decode_ok ("1/custom");
  g_autofree char *error_data = NULL;
  JsonNode *arg;
  guint num;

  g_assert_cmpint (connect->type, ==, NATTER_SIO_CONNECT);
  g_assert_cmpstr (connect->nsp, ==, "/custom");
  g_assert_cmpint (connect->id, ==, -1);
  g_assert_null (connect->data);

  g_assert_cmpint (event->type, ==, NATTER_SIO_EVENT);
  g_assert_cmpstr (event->nsp, ==, "/admin");
  g_assert_cmpint (event->id, ==, 456);
  g_assert_cmpstr (natter_sio_packet_get_event_name (event), ==, "project:delete");
  arg = natter_sio_packet_get_arg (event, 0);
  g_assert_nonnull (arg);
  g_assert_cmpint (json_node_get_int (arg), ==, 123);
  g_assert_null (natter_sio_packet_get_arg (event, 1));

  g_assert_cmpint (ack->type, ==, NATTER_SIO_ACK);
  g_assert_cmpint (ack->id, ==, 13);
  g_assert_null (natter_sio_packet_get_event_name (ack));
  g_assert_true (natter_chat_ack_check (natter_sio_packet_get_arg (ack, 0), NULL));

  g_assert_cmpint (error->type, ==, NATTER_SIO_CONNECT_ERROR);
  error_data = data_to_string (error);
  g_assert_cmpstr (error_data, ==, "{\"message\":\"unauthorized\"}");

  g_assert_cmpint (binary->type, ==, NATTER_SIO_BINARY_EVENT);
  g_assert_cmpuint (binary->n_attachments, ==, 1);
  g_assert_true (natter_sio_is_placeholder (natter_sio_packet_get_arg (binary, 0), &num));
  g_assert_cmpuint (num, ==, 0);

  /* socket.io-parser reads a namespace up to a ',' or the end. */
  g_assert_cmpint (no_comma->type, ==, NATTER_SIO_DISCONNECT);
  g_assert_cmpstr (no_comma->nsp, ==, "/custom");
}

static void
test_encode_event (void)
{
  g_autoptr(JsonArray) args = json_array_new ();
  g_autoptr(NatterSioPacket) packet = NULL;
  g_autoptr(NatterSioPacket) plain = NULL;
  g_autofree char *text = NULL;
  g_autofree char *plain_text = NULL;
  JsonObject *payload = json_object_new ();

  json_object_set_string_member (payload, "room", "general");
  json_array_add_object_element (args, payload);
  packet = natter_sio_packet_new_event (NULL, 7, "join", args);
  text = natter_sio_packet_encode (packet);
  g_assert_cmpstr (text, ==, "27[\"join\",{\"room\":\"general\"}]");

  plain = natter_sio_packet_new_event ("/custom", -1, "e", NULL);
  plain_text = natter_sio_packet_encode (plain);
  g_assert_cmpstr (plain_text, ==, "2/custom,[\"e\"]");
}

static char *
nested (guint depth)
{
  GString *s = g_string_new ("2[\"e\",");

  for (guint i = 0; i < depth; i++)
    g_string_append_c (s, '[');
  for (guint i = 0; i < depth; i++)
    g_string_append_c (s, ']');
  g_string_append_c (s, ']');

  return g_string_free (s, FALSE);
}

static void
test_decode_malformed (void)
{
  g_autofree char *long_nsp = NULL;
  g_autofree char *bomb = NULL;
  g_autofree char *deep_string = NULL;
  GPtrArray *cases = g_ptr_array_new ();
  static const char * const fixed[] = {
    "",                         /* nothing */
    "7",                        /* unknown type */
    "x[\"e\"]",                 /* not a digit */
    "2",                        /* event without payload */
    "2{}",                      /* event payload not an array */
    "2[]",                      /* event without a name */
    "2[1]",                     /* event name not a string */
    "2[null]",
    "2[\"connect\"]",           /* reserved names */
    "2[\"disconnect\"]",
    "2[\"newListener\"]",
    "2[\"e\"",                  /* truncated JSON */
    "2[\"e\"]]",                /* trailing garbage */
    "2[\"e\"] x",
    "2abc",                     /* not JSON at all */
    "2[\"a\",\"\xff\xfe\"]",    /* invalid UTF-8 inside JSON */
    "2/admin",                  /* namespace, then nothing */
    "2/adm\xffin,[\"e\"]",      /* namespace not UTF-8 */
    "299999999999999999[\"e\"]",   /* ack id past 2^53 */
    "29007199254740992[\"e\"]",    /* 2^53 exactly */
    "3",                        /* ack without payload */
    "3{}",                      /* ack payload not an array */
    "3\"x\"",
    "1{}",                      /* disconnect with payload */
    "1[]",
    "0[]",                      /* connect payload not an object */
    "0\"token\"",
    "0 ",
    "4",                        /* connect error without payload */
    "4[1]",
    "5[\"e\"]",                 /* binary without attachment count */
    "5-[\"e\"]",
    "5a-[\"e\"]",
    "51[\"e\"]",                /* count not ended by '-' */
    "511-[\"e\"]",              /* more attachments than allowed */
    "51000000-[\"e\"]",
    "61-{}",
    "2[\"send\",{\"text\":\"a\\u0000b\"}]",   /* NUL would cut the string */
    "2[\"na\\u0000me\"]",
    "0{\"token\":\"abc\\u0000\"}",
    "2[\"e\",6e8888888888881]",                   /* infinity: cannot be encoded back */
    "2[\"e\",{\"n\":-1e999}]",
    "2[\"e\",3e81]",                            /* json-glib 1.6 would write "3e+81.0" */
    "2[\"e\",{\"n\":-2e20}]",
    "4\"\\666666666666666666662\"",          /* octal escape: json-glib decodes a non-UTF-8 byte */
    "2[\"e\",\"\\x41\"]",                       /* escapes JSON does not have */
    "2[\"e\",\"\\'\"]",
    "2[\"e\",\"\\u12\"]",
    "2[\"e\",\"\\udc00x\"]",                    /* lone low surrogate */
    "2[\"e\",{\"\\udc00\":1}]",                 /* ... in a member name */
    "2[\"e\",\"a\tb\"]",                         /* raw control character in a string */
  };

  for (guint i = 0; i < G_N_ELEMENTS (fixed); i++)
    g_ptr_array_add (cases, (gpointer) fixed[i]);

  long_nsp = g_strdup_printf ("2/%0300d,[\"e\"]", 0);
  bomb = nested (100000);
  deep_string = nested (NATTER_SIO_MAX_JSON_DEPTH);
  g_ptr_array_add (cases, long_nsp);
  g_ptr_array_add (cases, bomb);
  g_ptr_array_add (cases, deep_string);

  for (guint i = 0; i < cases->len; i++)
    {
      const char *text = g_ptr_array_index (cases, i);
      g_autoptr(GError) error = NULL;
      g_autoptr(NatterSioPacket) packet = natter_sio_packet_decode (text, strlen (text), &error);

      if (packet != NULL)
        g_error ("case %u (%.60s) was accepted", i, text);
      g_assert_error (error, NATTER_PROTOCOL_ERROR, error->code);
      g_assert_true (error->domain == NATTER_PROTOCOL_ERROR);
    }

  g_ptr_array_unref (cases);
}

static void
test_depth_limit_boundary (void)
{
  /* The event array is level 1, so this payload sits exactly at the limit. */
  g_autofree char *at_limit = nested (NATTER_SIO_MAX_JSON_DEPTH - 1);
  g_autoptr(NatterSioPacket) packet = decode_ok (at_limit);
  /* Brackets inside strings are text, not nesting. */
  g_autoptr(NatterSioPacket) in_string = decode_ok ("2[\"e\",\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[[[[[[\"]");

  /* An escaped backslash before "u0000" is text, not a NUL. */
  g_autoptr(NatterSioPacket) backslash = decode_ok ("2[\"e\",\"\\\\u0000\"]");

  g_assert_nonnull (packet);
  g_assert_nonnull (in_string);
  g_assert_cmpstr (json_node_get_string (natter_sio_packet_get_arg (backslash, 0)), ==, "\\u0000");
}

static void
test_decoder_attachments (void)
{
  g_autoptr(NatterSioDecoder) decoder = natter_sio_decoder_new ();
  g_autoptr(GBytes) part0 = g_bytes_new_static ("\x00\x01\x02", 3);
  g_autoptr(GBytes) part1 = g_bytes_new_static ("\xff", 1);
  g_autoptr(NatterSioPacket) packet = NULL;
  g_autoptr(GError) error = NULL;
  static const char header[] =
    "52-[\"upload\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";

  g_assert_true (natter_sio_decoder_feed_text (decoder, header, strlen (header), &packet, &error));
  g_assert_no_error (error);
  g_assert_null (packet);
  g_assert_true (natter_sio_decoder_is_waiting (decoder));

  g_assert_true (natter_sio_decoder_feed_binary (decoder, part0, &packet, &error));
  g_assert_null (packet);
  g_assert_true (natter_sio_decoder_feed_binary (decoder, part1, &packet, &error));
  g_assert_no_error (error);
  g_assert_nonnull (packet);
  g_assert_false (natter_sio_decoder_is_waiting (decoder));

  g_assert_cmpstr (natter_sio_packet_get_event_name (packet), ==, "upload");
  g_assert_cmpuint (packet->attachments->len, ==, 2);
  g_assert_true (g_bytes_equal (g_ptr_array_index (packet->attachments, 0), part0));
  g_assert_true (g_bytes_equal (g_ptr_array_index (packet->attachments, 1), part1));
}

static void
test_decoder_plain (void)
{
  g_autoptr(NatterSioDecoder) decoder = natter_sio_decoder_new ();
  g_autoptr(NatterSioPacket) packet = NULL;
  g_autoptr(NatterSioPacket) zero = NULL;

  g_assert_true (natter_sio_decoder_feed_text (decoder, "2[\"e\"]", 6, &packet, NULL));
  g_assert_nonnull (packet);
  g_assert_cmpint (packet->type, ==, NATTER_SIO_EVENT);

  /* A binary packet that announces no parts is whole at once. */
  g_assert_true (natter_sio_decoder_feed_text (decoder, "50-[\"e\"]", 8, &zero, NULL));
  g_assert_nonnull (zero);
  g_assert_false (natter_sio_decoder_is_waiting (decoder));
}

static void
test_decoder_bad_placeholders (void)
{
  static const char * const bad[] = {
    "51-[\"e\",{\"_placeholder\":true,\"num\":-1}]",
    "51-[\"e\",{\"_placeholder\":true}]",
    "51-[\"e\",{\"_placeholder\":true,\"num\":\"0\"}]",
    "51-[\"e\",{\"_placeholder\":false,\"num\":0}]",
    "51-[\"e\",{\"a\":[{\"_placeholder\":1,\"num\":0}]}]",
    "2[\"e\",{\"_placeholder\":true,\"num\":0}]",   /* no parts announced */
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(NatterSioDecoder) decoder = natter_sio_decoder_new ();
      g_autoptr(NatterSioPacket) packet = NULL;
      g_autoptr(GError) error = NULL;

      if (natter_sio_decoder_feed_text (decoder, bad[i], strlen (bad[i]), &packet, &error))
        g_error ("bad placeholder case %u accepted", i);
      g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FORMAT);
      g_assert_false (natter_sio_decoder_is_waiting (decoder));
    }
}

static void
test_decoder_framing_errors (void)
{
  g_autoptr(GBytes) part = g_bytes_new_static ("x", 1);
  static const char header[] = "51-[\"e\",{\"_placeholder\":true,\"num\":0}]";
  static const char bad_num[] = "51-[\"e\",{\"_placeholder\":true,\"num\":1}]";

  {
    g_autoptr(NatterSioDecoder) decoder = natter_sio_decoder_new ();
    g_autoptr(NatterSioPacket) packet = NULL;
    g_autoptr(GError) error = NULL;

    /* Binary with nothing announced. */
    g_assert_false (natter_sio_decoder_feed_binary (decoder, part, &packet, &error));
    g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_UNEXPECTED);
  }

  {
    g_autoptr(NatterSioDecoder) decoder = natter_sio_decoder_new ();
    g_autoptr(NatterSioPacket) packet = NULL;
    g_autoptr(GError) error = NULL;

    /* Text while a part is still owed. */
    g_assert_true (natter_sio_decoder_feed_text (decoder, header, strlen (header), &packet, NULL));
    g_assert_false (natter_sio_decoder_feed_text (decoder, "2[\"e\"]", 6, &packet, &error));
    g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_UNEXPECTED);
  }

  {
    g_autoptr(NatterSioDecoder) decoder = natter_sio_decoder_new ();
    g_autoptr(NatterSioPacket) packet = NULL;
    g_autoptr(GError) error = NULL;

    /* A placeholder pointing past the announced parts. */
    g_assert_false (natter_sio_decoder_feed_text (decoder, bad_num, strlen (bad_num), &packet, &error));
    g_assert_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FORMAT);
    g_assert_false (natter_sio_decoder_is_waiting (decoder));
  }
}

/* Every truncation of valid packets must decode or fail cleanly, never
 * crash; run under the sanitizer build this is a cheap fuzz pass. */
static void
test_truncations (void)
{
  static const char * const valid[] = {
    "2/admin,456[\"project:delete\",{\"a\":[1,2,{\"b\":\"c\"}]}]",
    "61-/admin,456[{\"_placeholder\":true,\"num\":0}]",
    "0/custom,{\"token\":\"abc\"}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (valid); i++)
    for (gsize len = 0; len <= strlen (valid[i]); len++)
      {
        g_autofree char *copy = g_strndup (valid[i], len);
        g_autoptr(NatterSioPacket) packet = natter_sio_packet_decode (copy, len, NULL);
        (void) packet;
      }
}

/* The strict escape check must not refuse JSON's own escapes. */
static void
test_decode_escapes (void)
{
  static const char text[] =
    "2[\"e\",\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00\",1e16,0.5]";
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterSioPacket) packet = natter_sio_packet_decode (text, strlen (text), &error);
  JsonNode *arg;

  g_assert_no_error (error);
  g_assert_nonnull (packet);
  arg = natter_sio_packet_get_arg (packet, 0);
  g_assert_nonnull (arg);
  g_assert_cmpstr (json_node_get_string (arg), ==, "q\" b\\ s/ \b\f\n\r\t \u00e9 \U0001F600");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/sio/round-trip", test_round_trip);
  g_test_add_func ("/protocol/sio/decode/fields", test_decode_fields);
  g_test_add_func ("/protocol/sio/encode/event", test_encode_event);
  g_test_add_func ("/protocol/sio/decode/malformed", test_decode_malformed);
  g_test_add_func ("/protocol/sio/decode/escapes", test_decode_escapes);
  g_test_add_func ("/protocol/sio/decode/depth-boundary", test_depth_limit_boundary);
  g_test_add_func ("/protocol/sio/decoder/attachments", test_decoder_attachments);
  g_test_add_func ("/protocol/sio/decoder/plain", test_decoder_plain);
  g_test_add_func ("/protocol/sio/decoder/framing-errors", test_decoder_framing_errors);
  g_test_add_func ("/protocol/sio/decoder/bad-placeholders", test_decoder_bad_placeholders);
  g_test_add_func ("/protocol/sio/decode/truncations", test_truncations);

  return g_test_run ();
}
