/* test-chat.c: the chat layer's names, text, acks and message JSON. */
#include "natter-protocol.h"

#include <string.h>

static void
test_user_names (void)
{
  static const char * const good[] = { "a", "alice", "bob_2", "li.wei", "x-y", "0123456789abcdef0123456789abcdef" };
  static const char * const bad[] = {
    "", "Alice", "al ice", "a+b", "@a", "名字", "a/b", "../etc", "a\nb",
    "0123456789abcdef0123456789abcdefg", /* 33 */
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    g_assert_true (natter_chat_user_name_is_valid (good[i]));
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    g_assert_false (natter_chat_user_name_is_valid (bad[i]));
  g_assert_false (natter_chat_user_name_is_valid (NULL));
}

static void
test_room_names (void)
{
  static const char * const good[] = {
    "general", "Rust & C", "中文频道", "../etc/passwd" /* a name, never a path */,
    "@alice+bob", "x",
    "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四", /* 64 */
  };
  static const char * const bad[] = {
    "", "tab\there", "new\nline", "bell\a", "del\x7f", "\xff\xfe",
    "bidi\xe2\x80\xaeoverride", "zero\xe2\x80\x8bwidth", "line\xe2\x80\xa8sep",
    " @alice+bob" /* looks like a DM */, "general ", " general", "general\xe3\x80\x80" /* ideographic space */,
    "@bob+alice" /* unsorted */, "@alice+alice", "@alice", "@alice+", "@+bob", "@Alice+bob",
    "一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五六七八九十一二三四五", /* 65 */
  };

  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    if (!natter_chat_room_name_is_valid (good[i]))
      g_error ("good room name %u refused", i);
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    if (natter_chat_room_name_is_valid (bad[i]))
      g_error ("bad room name %u accepted", i);
}

static void
test_dm_names (void)
{
  g_autofree char *ab = natter_chat_dm_room_name ("bob", "alice");
  g_autofree char *ba = natter_chat_dm_room_name ("alice", "bob");
  g_autofree char *prefix = natter_chat_dm_room_name ("al", "alice");
  g_autofree char *a = NULL, *b = NULL;

  g_assert_cmpstr (ab, ==, "@alice+bob");
  g_assert_cmpstr (ba, ==, "@alice+bob");
  g_assert_cmpstr (prefix, ==, "@al+alice");
  g_assert_true (natter_chat_room_name_is_valid (prefix));
  g_assert_null (natter_chat_dm_room_name ("alice", "alice"));
  g_assert_null (natter_chat_dm_room_name ("alice", "Bob"));

  g_assert_true (natter_chat_dm_room_members ("@alice+bob", &a, &b));
  g_assert_cmpstr (a, ==, "alice");
  g_assert_cmpstr (b, ==, "bob");
  g_assert_false (natter_chat_dm_room_members ("general", NULL, NULL));
  g_assert_false (natter_chat_dm_room_members ("@alice+al", NULL, NULL));
}

static void
test_text (void)
{
  g_autofree char *max = g_malloc (NATTER_CHAT_MAX_TEXT_BYTES + 1);
  NatterChatError why = NATTER_CHAT_ERROR_INTERNAL;

  memset (max, 'a', NATTER_CHAT_MAX_TEXT_BYTES + 1);
  g_assert_true (natter_chat_text_is_valid (max, NATTER_CHAT_MAX_TEXT_BYTES, NULL));
  g_assert_false (natter_chat_text_is_valid (max, NATTER_CHAT_MAX_TEXT_BYTES + 1, &why));
  g_assert_cmpint (why, ==, NATTER_CHAT_ERROR_TOO_LARGE);

  g_assert_true (natter_chat_text_is_valid ("你好，世界", strlen ("你好，世界"), NULL));
  g_assert_true (natter_chat_text_is_valid ("", 0, NULL));
  g_assert_false (natter_chat_text_is_valid ("\xc3\x28", 2, &why));
  g_assert_cmpint (why, ==, NATTER_CHAT_ERROR_BAD_REQUEST);
  g_assert_false (natter_chat_text_is_valid ("a\0b", 3, NULL));
  g_assert_false (natter_chat_text_is_valid ("\xed\xa0\x80", 3, NULL)); /* a lone surrogate */
}

static void
test_cid (void)
{
  g_assert_true (natter_chat_cid_is_valid ("0b5e9a30-2d6f-4a4e-9a7e-3c3c0f6c7f11"));
  g_assert_false (natter_chat_cid_is_valid (""));
  g_assert_false (natter_chat_cid_is_valid ("with space"));
  g_assert_false (natter_chat_cid_is_valid ("0123456789012345678901234567890123456789012345678901234567890123x"));
  g_assert_false (natter_chat_cid_is_valid (NULL));
}

static void
test_mentions (void)
{
  g_assert_true (natter_chat_text_mentions ("hi @bob", "bob"));
  g_assert_true (natter_chat_text_mentions ("@bob: look", "bob"));
  g_assert_true (natter_chat_text_mentions ("thanks @bob.", "bob"));
  g_assert_true (natter_chat_text_mentions ("你好@bob", "bob"));
  g_assert_false (natter_chat_text_mentions ("hi @bobby", "bob"));
  g_assert_false (natter_chat_text_mentions ("mail bob@bob.org", "bob"));
  g_assert_false (natter_chat_text_mentions ("@bob.smith", "bob"));
  g_assert_false (natter_chat_text_mentions ("hi bob", "bob"));
  g_assert_true (natter_chat_text_mentions ("@bobby and @bob", "bob"));
}

static void
test_errors_and_acks (void)
{
  g_autoptr(JsonNode) ok = json_node_init_object (json_node_alloc (), natter_chat_ack_ok_new ());
  g_autoptr(JsonObject) failed = natter_chat_ack_error_new (NATTER_CHAT_ERROR_NOT_MEMBER, "Join the room first");
  g_autoptr(JsonNode) failed_node = json_node_init_object (json_node_alloc (), failed);
  g_autoptr(JsonNode) string = json_from_string ("\"ok\"", NULL);
  g_autoptr(JsonNode) weird = json_from_string ("{\"ok\":\"yes\",\"error\":[1],\"message\":{}}", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) error2 = NULL;
  g_autoptr(GError) error3 = NULL;

  for (int e = NATTER_CHAT_ERROR_BAD_REQUEST; e <= NATTER_CHAT_ERROR_INTERNAL; e++)
    g_assert_cmpint (natter_chat_error_from_code (natter_chat_error_to_code (e)), ==, e);
  g_assert_cmpstr (natter_chat_error_to_code (NATTER_CHAT_ERROR_RATE_LIMITED), ==, "rate_limited");
  g_assert_cmpint (natter_chat_error_from_code ("nonsense"), ==, NATTER_CHAT_ERROR_INTERNAL);

  g_assert_true (natter_chat_ack_check (ok, NULL));
  g_assert_false (natter_chat_ack_check (failed_node, &error));
  g_assert_error (error, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_NOT_MEMBER);
  g_assert_cmpstr (error->message, ==, "Join the room first");
  g_assert_false (natter_chat_ack_check (string, &error2));
  g_assert_error (error2, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_INTERNAL);
  /* Wrong types from a peer give an error, never a critical. */
  g_assert_false (natter_chat_ack_check (weird, &error3));
  g_assert_error (error3, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_INTERNAL);
}

static void
test_message_json (void)
{
  static const char json[] =
    "{\"room\":\"general\",\"seq\":42,\"ts\":1700000000000,\"from\":\"alice\","
    "\"cid\":\"0b5e9a30-2d6f-4a4e-9a7e-3c3c0f6c7f11\",\"text\":\"你好\","
    "\"file\":{\"id\":\"f1\",\"name\":\"cat.png\",\"size\":1234,\"mime\":\"image/png\"}}";
  g_autoptr(JsonNode) node = json_from_string (json, NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterChatMessage) message = natter_chat_message_from_json (json_node_get_object (node), &error);
  g_autoptr(NatterChatMessage) copy = NULL;
  g_autoptr(JsonNode) back = NULL;
  g_autofree char *text = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (message->room, ==, "general");
  g_assert_cmpint (message->seq, ==, 42);
  g_assert_cmpint (message->ts, ==, 1700000000000);
  g_assert_cmpstr (message->file->name, ==, "cat.png");
  g_assert_cmpint (message->file->size, ==, 1234);

  copy = natter_chat_message_copy (message);
  back = json_node_init_object (json_node_alloc (), natter_chat_message_to_json (copy));
  text = json_to_string (back, FALSE);
  g_assert_cmpstr (text, ==, json);
}

static void
test_message_json_malformed (void)
{
  static const char * const bad[] = {
    "{}",
    "{\"room\":\"general\",\"seq\":0,\"ts\":1,\"from\":\"a\",\"cid\":\"c\",\"text\":\"\"}",
    "{\"room\":\"general\",\"seq\":\"1\",\"ts\":1,\"from\":\"a\",\"cid\":\"c\",\"text\":\"\"}",
    "{\"room\":\"general\",\"seq\":1,\"ts\":1,\"from\":\"A\",\"cid\":\"c\",\"text\":\"\"}",
    "{\"room\":\"\",\"seq\":1,\"ts\":1,\"from\":\"a\",\"cid\":\"c\",\"text\":\"\"}",
    "{\"room\":\"general\",\"seq\":1,\"ts\":1,\"from\":\"a\",\"cid\":\"\",\"text\":\"\"}",
    "{\"room\":\"general\",\"seq\":1,\"ts\":1,\"from\":\"a\",\"cid\":\"c\",\"text\":5}",
    "{\"room\":\"general\",\"seq\":1,\"ts\":1,\"from\":\"a\",\"cid\":\"c\",\"text\":\"\",\"file\":3}",
    "{\"room\":\"general\",\"seq\":1,\"ts\":1,\"from\":\"a\",\"cid\":\"c\",\"text\":\"\",\"file\":{\"id\":\"../x\",\"name\":\"n\",\"size\":1,\"mime\":\"m\"}}",
    "{\"room\":\"general\",\"seq\":1,\"ts\":1,\"from\":\"a\",\"cid\":\"c\",\"text\":\"\",\"file\":{\"id\":\"x\",\"name\":\"n\",\"size\":-1,\"mime\":\"m\"}}",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(JsonNode) node = json_from_string (bad[i], NULL);
      g_autoptr(GError) error = NULL;
      g_autoptr(NatterChatMessage) message = natter_chat_message_from_json (json_node_get_object (node), &error);

      if (message != NULL)
        g_error ("bad message %u accepted", i);
      g_assert_error (error, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_BAD_REQUEST);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/chat/user-names", test_user_names);
  g_test_add_func ("/protocol/chat/room-names", test_room_names);
  g_test_add_func ("/protocol/chat/dm-names", test_dm_names);
  g_test_add_func ("/protocol/chat/text", test_text);
  g_test_add_func ("/protocol/chat/cid", test_cid);
  g_test_add_func ("/protocol/chat/mentions", test_mentions);
  g_test_add_func ("/protocol/chat/errors-and-acks", test_errors_and_acks);
  g_test_add_func ("/protocol/chat/message-json", test_message_json);
  g_test_add_func ("/protocol/chat/message-json-malformed", test_message_json_malformed);

  return g_test_run ();
}
