/* fuzz-sio.c: the Socket.IO decoder with attachments. The input is split at
 * every 0xff byte: the first piece is the text packet, the rest arrive as
 * binary frames, as they would on one connection. */
#include "natter-protocol.h"

#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  NatterSioDecoder *decoder = natter_sio_decoder_new ();
  const guint8 *end = data + size;
  const guint8 *piece = data;
  gboolean first = TRUE;

  while (piece <= end)
    {
      const guint8 *next = memchr (piece, 0xff, (size_t) (end - piece));
      size_t len = (size_t) ((next != NULL ? next : end) - piece);
      NatterSioPacket *packet = NULL;
      gboolean ok;

      if (first)
        ok = natter_sio_decoder_feed_text (decoder, (const char *) piece, len, &packet, NULL);
      else
        {
          GBytes *bytes = g_bytes_new (piece, len);

          ok = natter_sio_decoder_feed_binary (decoder, bytes, &packet, NULL);
          g_bytes_unref (bytes);
        }
      first = FALSE;

      if (packet != NULL)
        {
          /* Whatever decodes must encode, and decode again to the same type. */
          char *text = natter_sio_packet_encode (packet);
          NatterSioPacket *again = natter_sio_packet_decode (text, strlen (text), NULL);

          g_assert (again != NULL);
          g_assert (again->type == packet->type);
          g_assert (again->id == packet->id);
          g_assert (g_strcmp0 (again->nsp, packet->nsp) == 0);
          (void) natter_sio_packet_get_event_name (again);
          (void) natter_sio_packet_get_arg (again, 0);
          natter_sio_packet_free (again);
          natter_sio_packet_free (packet);
          g_free (text);
        }

      if (!ok || next == NULL)
        break;
      piece = next + 1;
    }

  natter_sio_decoder_free (decoder);
  return 0;
}
