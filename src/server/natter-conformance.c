/* natter-conformance.c: see the header. No token is asked for here: the
 * test suites connect without one. */
#include "natter-conformance.h"

struct _NatterConformance
{
  GObject parent_instance;
};

G_DEFINE_FINAL_TYPE (NatterConformance, natter_conformance, G_TYPE_OBJECT)

static void
natter_conformance_class_init (NatterConformanceClass *klass)
{
}

static void
natter_conformance_init (NatterConformance *self)
{
}

NatterConformance *
natter_conformance_new (void)
{
  return g_object_new (NATTER_TYPE_CONFORMANCE, NULL);
}

static GHashTable *
namespaces_of (NatterConnection *connection)
{
  GHashTable *set = g_object_get_data (G_OBJECT (connection), "natter-namespaces");

  if (set == NULL)
    {
      set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_object_set_data_full (G_OBJECT (connection), "natter-namespaces", set,
                              (GDestroyNotify) g_hash_table_unref);
    }
  return set;
}

static JsonArray *
args_after_name (NatterSioPacket *packet)
{
  JsonArray *all = json_node_get_array (packet->data);
  JsonArray *rest = json_array_new ();
  guint i;

  for (i = 1; i < json_array_get_length (all); i++)
    json_array_add_element (rest, json_node_copy (json_array_get_element (all, i)));
  return rest;
}

static void
copy_attachments (NatterSioPacket *to,
                  NatterSioPacket *from)
{
  guint i;

  if (from->attachments == NULL || from->attachments->len == 0)
    return;

  if (to->attachments == NULL)
    to->attachments = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  for (i = 0; i < from->attachments->len; i++)
    g_ptr_array_add (to->attachments, g_bytes_ref (g_ptr_array_index (from->attachments, i)));
  to->n_attachments = to->attachments->len;
  to->type = to->type == NATTER_SIO_ACK ? NATTER_SIO_BINARY_ACK : NATTER_SIO_BINARY_EVENT;
}

static void
handle_connect (NatterConnection *connection,
                NatterSioPacket  *packet)
{
  g_autoptr(JsonObject) reply = json_object_new ();
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr(NatterSioPacket) answer = NULL;
  g_autoptr(JsonArray) args = json_array_new ();
  g_autoptr(NatterSioPacket) auth = NULL;

  if (g_strcmp0 (packet->nsp, "/") != 0 && g_strcmp0 (packet->nsp, "/custom") != 0)
    {
      g_autoptr(JsonObject) error = json_object_new ();
      g_autoptr(JsonNode) error_node = json_node_new (JSON_NODE_OBJECT);
      g_autoptr(NatterSioPacket) refusal = NULL;

      json_object_set_string_member (error, "message", "Invalid namespace");
      json_node_set_object (error_node, error);
      refusal = natter_sio_packet_new (NATTER_SIO_CONNECT_ERROR, packet->nsp, -1, error_node);
      natter_connection_send_packet (connection, refusal);
      return;
    }

  g_hash_table_add (namespaces_of (connection), g_strdup (packet->nsp));
  natter_connection_set_connected (connection);

  json_object_set_string_member (reply, "sid", natter_connection_get_sid (connection));
  json_node_set_object (node, reply);
  answer = natter_sio_packet_new (NATTER_SIO_CONNECT, packet->nsp, -1, node);
  natter_connection_send_packet (connection, answer);

  if (packet->data != NULL)
    json_array_add_element (args, json_node_copy (packet->data));
  else
    json_array_add_object_element (args, json_object_new ());
  auth = natter_sio_packet_new_event (packet->nsp, -1, "auth", args);
  natter_connection_send_packet (connection, auth);
}

static void
packet_cb (NatterConnection  *connection,
           NatterSioPacket   *packet,
           NatterConformance *self)
{
  const char *name;

  switch (packet->type)
    {
    case NATTER_SIO_CONNECT:
      handle_connect (connection, packet);
      return;

    case NATTER_SIO_DISCONNECT:
      g_hash_table_remove (namespaces_of (connection), packet->nsp);
      return;

    case NATTER_SIO_EVENT:
    case NATTER_SIO_BINARY_EVENT:
      break;

    case NATTER_SIO_ACK:
    case NATTER_SIO_BINARY_ACK:
      return;

    case NATTER_SIO_CONNECT_ERROR:
    default:
      natter_connection_close (connection, NATTER_CLOSE_PROTOCOL_ERROR, "unexpected packet");
      return;
    }

  if (!g_hash_table_contains (namespaces_of (connection), packet->nsp))
    {
      natter_connection_close (connection, NATTER_CLOSE_PROTOCOL_ERROR, "event before CONNECT");
      return;
    }

  name = natter_sio_packet_get_event_name (packet);
  if (g_strcmp0 (name, "message") == 0)
    {
      g_autoptr(JsonArray) args = args_after_name (packet);
      g_autoptr(NatterSioPacket) echo = natter_sio_packet_new_event (packet->nsp, -1,
                                                                     "message-back", args);

      copy_attachments (echo, packet);
      natter_connection_send_packet (connection, echo);
    }
  else if (g_strcmp0 (name, "message-with-ack") == 0 && packet->id >= 0)
    {
      g_autoptr(JsonArray) args = args_after_name (packet);
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_ARRAY);
      g_autoptr(NatterSioPacket) ack = NULL;

      json_node_set_array (node, args);
      ack = natter_sio_packet_new (NATTER_SIO_ACK, packet->nsp, packet->id, node);
      copy_attachments (ack, packet);
      natter_connection_send_packet (connection, ack);
    }
}

static void
message_cb (NatterConnection *connection,
            gboolean          binary,
            GBytes           *bytes,
            gpointer          user_data)
{
  if (binary)
    natter_connection_send_binary (connection, bytes);
  else
    {
      gsize len;
      const char *data = g_bytes_get_data (bytes, &len);
      g_autofree char *payload = g_strndup (data, len);
      g_autofree char *frame = natter_eio_packet_encode (NATTER_EIO_MESSAGE, payload);

      natter_connection_send_frame (connection, frame);
    }
}

static void
closed_cb (NatterConnection  *connection,
           NatterConformance *self)
{
  g_signal_handlers_disconnect_by_data (connection, self);
}

void
natter_conformance_attach (NatterConformance *self,
                           NatterConnection  *connection)
{
  g_return_if_fail (NATTER_IS_CONFORMANCE (self));

  g_signal_connect_object (connection, "packet", G_CALLBACK (packet_cb), self, 0);
  g_signal_connect_object (connection, "message", G_CALLBACK (message_cb), self, 0);
  g_signal_connect_object (connection, "closed", G_CALLBACK (closed_cb), self, 0);
}
