/* fuzz-chat.c: chat-event validation: an event packet's argument object read
 * as a message, and every name/text rule applied to its strings. */
#include "natter-protocol.h"

#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

static void
check_strings (JsonObject *object)
{
  JsonObjectIter iter;
  const char *name;
  JsonNode *member;

  json_object_iter_init (&iter, object);
  while (json_object_iter_next (&iter, &name, &member))
    {
      const char *value = natter_chat_json_get_string (object, name);

      if (value == NULL)
        continue;
      (void) natter_chat_user_name_is_valid (value);
      (void) natter_chat_room_name_is_valid (value);
      (void) natter_chat_cid_is_valid (value);
      (void) natter_chat_text_is_valid (value, strlen (value), NULL);
      (void) natter_chat_text_mentions (value, "bob");
      if (natter_chat_room_name_is_dm (value))
        {
          char *a = NULL, *b = NULL;

          if (natter_chat_dm_room_members (value, &a, &b))
            {
              char *again = natter_chat_dm_room_name (a, b);

              g_assert (g_strcmp0 (again, value) == 0);
              g_free (again);
            }
          g_free (a);
          g_free (b);
        }
    }
}

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  NatterSioPacket *packet = natter_sio_packet_decode ((const char *) data, size, NULL);
  JsonNode *arg;

  if (packet == NULL)
    return 0;

  arg = natter_sio_packet_get_arg (packet, 0);
  if (arg != NULL && JSON_NODE_HOLDS_OBJECT (arg))
    {
      JsonObject *object = json_node_get_object (arg);
      NatterChatMessage *message = natter_chat_message_from_json (object, NULL);

      check_strings (object);
      (void) natter_chat_ack_check (arg, NULL);
      if (message != NULL)
        {
          JsonObject *back = natter_chat_message_to_json (message);

          json_object_unref (back);
          natter_chat_message_free (message);
        }
    }

  natter_sio_packet_free (packet);
  return 0;
}
