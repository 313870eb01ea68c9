/* natter-eio-open.c: the Engine.IO OPEN handshake payload. */
#include "natter-eio-open.h"
#include "natter-chat.h"
#include "natter-json.h"
#include "natter-protocol-error.h"

#include <json-glib/json-glib.h>

char *
natter_eio_open_encode (const NatterEioOpen *open)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *json = NULL;

  g_return_val_if_fail (open != NULL, NULL);
  g_return_val_if_fail (open->sid != NULL, NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "sid");
  json_builder_add_string_value (builder, open->sid);
  /* WebSocket is the only transport, so there is nothing to upgrade to. */
  json_builder_set_member_name (builder, "upgrades");
  json_builder_begin_array (builder);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "pingInterval");
  json_builder_add_int_value (builder, open->ping_interval_ms);
  json_builder_set_member_name (builder, "pingTimeout");
  json_builder_add_int_value (builder, open->ping_timeout_ms);
  json_builder_set_member_name (builder, "maxPayload");
  json_builder_add_int_value (builder, (gint64) open->max_payload);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json = json_to_string (root, FALSE);

  return g_strconcat ("0", json, NULL);
}

static gboolean
read_positive_int (JsonObject  *object,
                   const char  *member,
                   gint64       max,
                   gint64      *out,
                   GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64 ||
      json_node_get_int (node) <= 0 || json_node_get_int (node) > max)
    {
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                   "Open packet: \"%s\" must be a positive integer", member);
      return FALSE;
    }

  *out = json_node_get_int (node);
  return TRUE;
}

NatterEioOpen *
natter_eio_open_parse (const char  *payload,
                       gsize        payload_len,
                       GError     **error)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(NatterEioOpen) open = g_new0 (NatterEioOpen, 1);
  JsonObject *object;
  const char *sid;
  gint64 interval, timeout, max_payload;

  g_return_val_if_fail (payload != NULL || payload_len == 0, NULL);

  /* The open packet comes from whatever server the user typed in: it goes
   * through the same gate as every other untrusted JSON. */
  if (payload_len > 0)
    root = natter_json_parse_untrusted (payload, payload_len, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                           "Open packet: payload is not a JSON object");
      return NULL;
    }

  object = json_node_get_object (root);
  sid = natter_chat_json_get_string (object, "sid");
  if (sid == NULL || *sid == '\0')
    {
      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                           "Open packet: no \"sid\"");
      return NULL;
    }

  if (!read_positive_int (object, "pingInterval", G_MAXINT, &interval, error) ||
      !read_positive_int (object, "pingTimeout", G_MAXINT, &timeout, error) ||
      !read_positive_int (object, "maxPayload", G_MAXINT64, &max_payload, error))
    return NULL;

  open->sid = g_strdup (sid);
  open->ping_interval_ms = (guint) interval;
  open->ping_timeout_ms = (guint) timeout;
  open->max_payload = (guint64) max_payload;

  return g_steal_pointer (&open);
}

void
natter_eio_open_free (NatterEioOpen *open)
{
  if (open == NULL)
    return;
  g_free (open->sid);
  g_free (open);
}
