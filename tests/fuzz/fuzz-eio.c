/* fuzz-eio.c: the Engine.IO frame decoder and the open handshake parser. */
#include "natter-protocol.h"

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  NatterEioPacketType type;
  const char *payload;
  gsize payload_len;

  if (natter_eio_packet_decode ((const char *) data, size, &type, &payload, &payload_len, NULL) &&
      type == NATTER_EIO_OPEN)
    {
      NatterEioOpen *open = natter_eio_open_parse (payload, payload_len, NULL);

      if (open != NULL)
        {
          char *again = natter_eio_open_encode (open);

          g_assert (again != NULL && again[0] == '0');
          g_free (again);
          natter_eio_open_free (open);
        }
    }

  return 0;
}
