/* natter-sio-decoder.c: reassembles binary Socket.IO packets from the text
 * header and the binary frames that follow it on one connection. */
#include "natter-sio-decoder.h"
#include "natter-protocol-error.h"

struct _NatterSioDecoder
{
  NatterSioPacket *pending;   /* a binary packet still waiting for parts */
};

NatterSioDecoder *
natter_sio_decoder_new (void)
{
  return g_new0 (NatterSioDecoder, 1);
}

void
natter_sio_decoder_free (NatterSioDecoder *decoder)
{
  if (decoder == NULL)
    return;
  g_clear_pointer (&decoder->pending, natter_sio_packet_free);
  g_free (decoder);
}

gboolean
natter_sio_decoder_is_waiting (NatterSioDecoder *decoder)
{
  g_return_val_if_fail (decoder != NULL, FALSE);

  return decoder->pending != NULL;
}

/* Every placeholder must name a part that was announced, so a handler can
 * look parts up without checking bounds again. */
static gboolean
placeholders_are_valid (JsonNode *node,
                        guint     n_attachments)
{
  guint num;

  if (node == NULL)
    return TRUE;

  if (natter_sio_is_placeholder (node, &num))
    return num < n_attachments;

  /* Something that claims to be a placeholder but is not a valid one (a
   * negative or missing "num") is an error, not an ordinary object. */
  if (JSON_NODE_HOLDS_OBJECT (node) &&
      json_object_has_member (json_node_get_object (node), "_placeholder"))
    return FALSE;

  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);
      guint n = json_array_get_length (array);

      for (guint i = 0; i < n; i++)
        if (!placeholders_are_valid (json_array_get_element (array, i), n_attachments))
          return FALSE;
    }
  else if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObjectIter iter;
      JsonNode *member;

      json_object_iter_init (&iter, json_node_get_object (node));
      while (json_object_iter_next (&iter, NULL, &member))
        if (!placeholders_are_valid (member, n_attachments))
          return FALSE;
    }

  return TRUE;
}

gboolean
natter_sio_decoder_feed_text (NatterSioDecoder  *decoder,
                              const char        *text,
                              gsize              len,
                              NatterSioPacket  **out_packet,
                              GError           **error)
{
  g_autoptr(NatterSioPacket) packet = NULL;

  g_return_val_if_fail (decoder != NULL, FALSE);
  g_return_val_if_fail (out_packet != NULL, FALSE);

  *out_packet = NULL;

  if (decoder->pending != NULL)
    {
      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_UNEXPECTED,
                           "Text packet while binary attachments were expected");
      return FALSE;
    }

  packet = natter_sio_packet_decode (text, len, error);
  if (packet == NULL)
    return FALSE;

  if (!placeholders_are_valid (packet->data, packet->n_attachments))
    {
      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_FORMAT,
                           "Placeholder refers to an attachment that was not announced");
      return FALSE;
    }

  if (packet->n_attachments > 0)
    decoder->pending = g_steal_pointer (&packet);
  else
    *out_packet = g_steal_pointer (&packet);

  return TRUE;
}

gboolean
natter_sio_decoder_feed_binary (NatterSioDecoder  *decoder,
                                GBytes            *bytes,
                                NatterSioPacket  **out_packet,
                                GError           **error)
{
  g_return_val_if_fail (decoder != NULL, FALSE);
  g_return_val_if_fail (bytes != NULL, FALSE);
  g_return_val_if_fail (out_packet != NULL, FALSE);

  *out_packet = NULL;

  if (decoder->pending == NULL)
    {
      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_UNEXPECTED,
                           "Binary data without a packet announcing it");
      return FALSE;
    }

  g_ptr_array_add (decoder->pending->attachments, g_bytes_ref (bytes));
  if (decoder->pending->attachments->len == decoder->pending->n_attachments)
    *out_packet = g_steal_pointer (&decoder->pending);

  return TRUE;
}
