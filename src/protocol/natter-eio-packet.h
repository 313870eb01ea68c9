/* natter-eio-packet.h: Engine.IO v4 packets as carried by WebSocket frames.
 * A text frame is one packet: a type digit and an optional payload. A binary
 * frame is always a MESSAGE whose payload is the frame's bytes, so it needs
 * no decoding here. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  NATTER_EIO_OPEN = 0,
  NATTER_EIO_CLOSE = 1,
  NATTER_EIO_PING = 2,
  NATTER_EIO_PONG = 3,
  NATTER_EIO_MESSAGE = 4,
  NATTER_EIO_UPGRADE = 5,
  NATTER_EIO_NOOP = 6,
} NatterEioPacketType;

/* Splits one text frame into its type and payload. The payload points into
 * @frame (no copy) and may be empty. Fails on an empty frame or an unknown
 * type digit. */
gboolean     natter_eio_packet_decode   (const char           *frame,
                                         gsize                 frame_len,
                                         NatterEioPacketType  *type,
                                         const char          **payload,
                                         gsize                *payload_len,
                                         GError              **error);

/* Returns a newly allocated text frame: the type digit then @payload
 * (which may be NULL). */
char        *natter_eio_packet_encode   (NatterEioPacketType   type,
                                         const char           *payload);

const char  *natter_eio_packet_type_to_string (NatterEioPacketType type);

G_END_DECLS
