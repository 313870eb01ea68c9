/* natter-eio-packet.c: Engine.IO v4 text frames. */
#include "natter-eio-packet.h"
#include "natter-protocol-error.h"

static const char * const type_names[] = {
  "open", "close", "ping", "pong", "message", "upgrade", "noop",
};

gboolean
natter_eio_packet_decode (const char           *frame,
                          gsize                 frame_len,
                          NatterEioPacketType  *type,
                          const char          **payload,
                          gsize                *payload_len,
                          GError              **error)
{
  g_return_val_if_fail (frame != NULL || frame_len == 0, FALSE);
  g_return_val_if_fail (type != NULL, FALSE);

  if (frame_len == 0)
    {
      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_EMPTY,
                           "Empty Engine.IO packet");
      return FALSE;
    }

  if (frame[0] < '0' || frame[0] > '6')
    {
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_TYPE,
                   "Unknown Engine.IO packet type 0x%02x", (guchar) frame[0]);
      return FALSE;
    }

  *type = (NatterEioPacketType) (frame[0] - '0');
  if (payload != NULL)
    *payload = frame + 1;
  if (payload_len != NULL)
    *payload_len = frame_len - 1;

  return TRUE;
}

char *
natter_eio_packet_encode (NatterEioPacketType  type,
                          const char          *payload)
{
  g_return_val_if_fail (type <= NATTER_EIO_NOOP, NULL);

  return g_strdup_printf ("%c%s", '0' + (int) type, payload != NULL ? payload : "");
}

const char *
natter_eio_packet_type_to_string (NatterEioPacketType type)
{
  if (type > NATTER_EIO_NOOP)
    return "invalid";
  return type_names[type];
}
