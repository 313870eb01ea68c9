/* natter-sio-packet.c: Socket.IO v5 packet encoder and decoder. The decoder
 * follows socket.io-parser's grammar and payload checks, and adds the limits
 * a server facing untrusted peers needs (nesting depth, attachment count,
 * namespace length, ack id range) before anything reaches json-glib. */
#include "natter-sio-packet.h"
#include "natter-protocol-error.h"
#include "natter-json.h"

#include <string.h>

static const char * const type_names[] = {
  "CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK",
};

/* Event names the Socket.IO client library keeps for itself; a peer must
 * not be able to fire them remotely. */
static const char * const reserved_events[] = {
  "connect", "connect_error", "disconnect", "disconnecting",
  "newListener", "removeListener",
};

static gboolean
is_binary_type (NatterSioPacketType type)
{
  return type == NATTER_SIO_BINARY_EVENT || type == NATTER_SIO_BINARY_ACK;
}

NatterSioPacket *
natter_sio_packet_new (NatterSioPacketType  type,
                       const char          *nsp,
                       gint64               id,
                       JsonNode            *data)
{
  NatterSioPacket *packet;

  g_return_val_if_fail (type <= NATTER_SIO_BINARY_ACK, NULL);
  g_return_val_if_fail (nsp == NULL || nsp[0] == '/', NULL);

  packet = g_new0 (NatterSioPacket, 1);
  packet->type = type;
  packet->nsp = g_strdup (nsp != NULL ? nsp : "/");
  packet->id = id < 0 ? -1 : id;
  packet->data = data != NULL ? json_node_ref (data) : NULL;
  packet->attachments = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  return packet;
}

NatterSioPacket *
natter_sio_packet_new_event (const char *nsp,
                             gint64      id,
                             const char *name,
                             JsonArray  *args)
{
  g_autoptr(JsonArray) array = json_array_new ();
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_ARRAY);

  g_return_val_if_fail (name != NULL, NULL);

  json_array_add_string_element (array, name);
  if (args != NULL)
    {
      guint n = json_array_get_length (args);

      for (guint i = 0; i < n; i++)
        json_array_add_element (array, json_node_copy (json_array_get_element (args, i)));
    }

  json_node_set_array (node, array);

  return natter_sio_packet_new (NATTER_SIO_EVENT, nsp, id, node);
}

void
natter_sio_packet_free (NatterSioPacket *packet)
{
  if (packet == NULL)
    return;

  g_free (packet->nsp);
  g_clear_pointer (&packet->data, json_node_unref);
  g_clear_pointer (&packet->attachments, g_ptr_array_unref);
  g_free (packet);
}

char *
natter_sio_packet_encode (const NatterSioPacket *packet)
{
  GString *out;

  g_return_val_if_fail (packet != NULL, NULL);

  out = g_string_new (NULL);
  g_string_append_c (out, '0' + (int) packet->type);

  if (is_binary_type (packet->type))
    g_string_append_printf (out, "%u-", packet->attachments != NULL ? packet->attachments->len : 0);

  if (packet->nsp != NULL && strcmp (packet->nsp, "/") != 0)
    {
      g_string_append (out, packet->nsp);
      g_string_append_c (out, ',');
    }

  if (packet->id >= 0)
    g_string_append_printf (out, "%" G_GINT64_FORMAT, packet->id);

  if (packet->data != NULL)
    {
      g_autofree char *json = json_to_string (packet->data, FALSE);
      g_string_append (out, json);
    }

  return g_string_free (out, FALSE);
}

static gboolean
payload_is_valid (NatterSioPacketType  type,
                  JsonNode            *data)
{
  switch (type)
    {
    case NATTER_SIO_CONNECT:
      return data == NULL || JSON_NODE_HOLDS_OBJECT (data);

    case NATTER_SIO_DISCONNECT:
      return data == NULL;

    case NATTER_SIO_CONNECT_ERROR:
      return data != NULL &&
             (JSON_NODE_HOLDS_OBJECT (data) ||
              (JSON_NODE_HOLDS_VALUE (data) && json_node_get_value_type (data) == G_TYPE_STRING));

    case NATTER_SIO_EVENT:
    case NATTER_SIO_BINARY_EVENT:
      {
        JsonArray *array;
        JsonNode *first;
        const char *name;

        if (data == NULL || !JSON_NODE_HOLDS_ARRAY (data))
          return FALSE;
        array = json_node_get_array (data);
        if (json_array_get_length (array) == 0)
          return FALSE;
        first = json_array_get_element (array, 0);
        if (!JSON_NODE_HOLDS_VALUE (first) || json_node_get_value_type (first) != G_TYPE_STRING)
          return FALSE;
        name = json_node_get_string (first);
        for (guint i = 0; i < G_N_ELEMENTS (reserved_events); i++)
          if (strcmp (name, reserved_events[i]) == 0)
            return FALSE;
        return TRUE;
      }

    case NATTER_SIO_ACK:
    case NATTER_SIO_BINARY_ACK:
      return data != NULL && JSON_NODE_HOLDS_ARRAY (data);

    default:
      return FALSE;
    }
}

/* Sets @error and returns NULL, so a decoder step can fail in one line. */
static gpointer
fail (GError     **error,
      int          code,
      const char  *message)
{
  g_set_error_literal (error, NATTER_PROTOCOL_ERROR, code, message);
  return NULL;
}

NatterSioPacket *
natter_sio_packet_decode (const char  *text,
                          gsize        len,
                          GError     **error)
{
  g_autoptr(NatterSioPacket) packet = NULL;
  NatterSioPacketType type;
  gsize i = 0;
  guint n_attachments = 0;
  g_autofree char *nsp = NULL;
  gint64 id = -1;
  g_autoptr(JsonNode) data = NULL;

  g_return_val_if_fail (text != NULL || len == 0, NULL);

  if (len == 0)
    return fail (error, NATTER_PROTOCOL_ERROR_EMPTY, "Empty Socket.IO packet");

  if (text[0] < '0' || text[0] > '6')
    return fail (error, NATTER_PROTOCOL_ERROR_BAD_TYPE, "Unknown Socket.IO packet type");
  type = (NatterSioPacketType) (text[0] - '0');
  i = 1;

  if (is_binary_type (type))
    {
      gsize start = i;
      guint64 count = 0;

      while (i < len && g_ascii_isdigit (text[i]) && i - start < 3)
        count = count * 10 + (guint64) (text[i++] - '0');
      if (i == start || i >= len || text[i] != '-')
        return fail (error, NATTER_PROTOCOL_ERROR_BAD_FORMAT,
                     "Binary packet without a valid attachment count");
      if (count > NATTER_SIO_MAX_ATTACHMENTS)
        return fail (error, NATTER_PROTOCOL_ERROR_TOO_LARGE, "Too many attachments");
      n_attachments = (guint) count;
      i++;
    }

  if (i < len && text[i] == '/')
    {
      gsize start = i;

      while (i < len && text[i] != ',')
        i++;
      if (i - start > NATTER_SIO_MAX_NSP_LEN)
        return fail (error, NATTER_PROTOCOL_ERROR_TOO_LARGE, "Namespace too long");
      nsp = g_strndup (text + start, i - start);
      if (!g_utf8_validate (nsp, -1, NULL) || strlen (nsp) != i - start)
        return fail (error, NATTER_PROTOCOL_ERROR_BAD_FORMAT, "Namespace is not valid UTF-8");
      if (i < len)
        i++; /* the ',' */
    }

  if (i < len && g_ascii_isdigit (text[i]))
    {
      gsize start = i;
      guint64 value = 0;

      while (i < len && g_ascii_isdigit (text[i]))
        {
          if (i - start >= 16)
            return fail (error, NATTER_PROTOCOL_ERROR_TOO_LARGE, "Ack id out of range");
          value = value * 10 + (guint64) (text[i++] - '0');
        }
      if (value > (guint64) NATTER_SIO_MAX_ACK_ID)
        return fail (error, NATTER_PROTOCOL_ERROR_TOO_LARGE, "Ack id out of range");
      id = (gint64) value;
    }

  if (i < len)
    {
      data = natter_json_parse_untrusted (text + i, len - i, error);
      if (data == NULL)
        return NULL;
    }

  if (!payload_is_valid (type, data))
    {
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                   "Invalid payload for a %s packet", type_names[type]);
      return NULL;
    }

  packet = natter_sio_packet_new (type, nsp, id, data);
  packet->n_attachments = n_attachments;

  return g_steal_pointer (&packet);
}

const char *
natter_sio_packet_get_event_name (const NatterSioPacket *packet)
{
  JsonArray *array;
  JsonNode *first;

  g_return_val_if_fail (packet != NULL, NULL);

  if (packet->type != NATTER_SIO_EVENT && packet->type != NATTER_SIO_BINARY_EVENT)
    return NULL;
  if (packet->data == NULL || !JSON_NODE_HOLDS_ARRAY (packet->data))
    return NULL;

  array = json_node_get_array (packet->data);
  if (json_array_get_length (array) == 0)
    return NULL;
  first = json_array_get_element (array, 0);
  if (!JSON_NODE_HOLDS_VALUE (first) || json_node_get_value_type (first) != G_TYPE_STRING)
    return NULL;

  return json_node_get_string (first);
}

JsonNode *
natter_sio_packet_get_arg (const NatterSioPacket *packet,
                           guint                  index)
{
  JsonArray *array;
  guint offset;

  g_return_val_if_fail (packet != NULL, NULL);

  if (packet->data == NULL || !JSON_NODE_HOLDS_ARRAY (packet->data))
    return NULL;

  /* Events lead with their name; acks carry arguments only. */
  offset = (packet->type == NATTER_SIO_EVENT || packet->type == NATTER_SIO_BINARY_EVENT) ? 1 : 0;
  array = json_node_get_array (packet->data);
  if (index + offset >= json_array_get_length (array))
    return NULL;

  return json_array_get_element (array, index + offset);
}

gboolean
natter_sio_is_placeholder (JsonNode *node,
                           guint    *num)
{
  JsonObject *object;
  JsonNode *flag, *number;

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return FALSE;

  object = json_node_get_object (node);
  flag = json_object_get_member (object, "_placeholder");
  number = json_object_get_member (object, "num");
  if (flag == NULL || !JSON_NODE_HOLDS_VALUE (flag) ||
      json_node_get_value_type (flag) != G_TYPE_BOOLEAN || !json_node_get_boolean (flag))
    return FALSE;
  if (number == NULL || !JSON_NODE_HOLDS_VALUE (number) ||
      json_node_get_value_type (number) != G_TYPE_INT64 || json_node_get_int (number) < 0 ||
      json_node_get_int (number) > G_MAXINT)
    return FALSE;

  if (num != NULL)
    *num = (guint) json_node_get_int (number);

  return TRUE;
}

const char *
natter_sio_packet_type_to_string (NatterSioPacketType type)
{
  if (type > NATTER_SIO_BINARY_ACK)
    return "INVALID";
  return type_names[type];
}
