/* fuzz-json-body.c: the gate every JSON body from the network goes through
 * (HTTP API requests and Socket.IO payloads alike), then the reads the API
 * makes of a {user,password} body. */
#include "natter-protocol.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  JsonNode *root = natter_json_parse_untrusted ((const char *) data, size, NULL);

  if (root == NULL)
    return 0;

  if (JSON_NODE_HOLDS_OBJECT (root))
    {
      JsonObject *object = json_node_get_object (root);
      const char *user = natter_chat_json_get_string (object, "user");
      gint64 number;

      (void) natter_chat_user_name_is_valid (user);
      (void) natter_chat_json_get_string (object, "password");
      (void) natter_chat_json_get_int (object, "limit", &number);
      (void) natter_chat_json_get_boolean (object, "create", FALSE);
      (void) natter_chat_json_get_object (object, "file");
    }

  json_node_unref (root);
  return 0;
}
