/* natter-sio-decoder.h: turns the stream of Engine.IO MESSAGE payloads of one
 * connection into whole Socket.IO packets, gathering the binary attachments
 * that follow a BINARY_EVENT / BINARY_ACK. One decoder per connection. */
#pragma once

#include "natter-sio-packet.h"

G_BEGIN_DECLS

typedef struct _NatterSioDecoder NatterSioDecoder;

NatterSioDecoder *natter_sio_decoder_new       (void);
void              natter_sio_decoder_free      (NatterSioDecoder  *decoder);

/* Feed one text MESSAGE payload. Returns TRUE on success; *out_packet is set
 * to a whole packet, or NULL when the packet waits for binary parts.
 * Text while parts are awaited is an error (the peer broke framing). */
gboolean          natter_sio_decoder_feed_text   (NatterSioDecoder  *decoder,
                                                  const char        *text,
                                                  gsize              len,
                                                  NatterSioPacket  **out_packet,
                                                  GError           **error);

/* Feed one binary MESSAGE payload. Binary when none is awaited is an error. */
gboolean          natter_sio_decoder_feed_binary (NatterSioDecoder  *decoder,
                                                  GBytes            *bytes,
                                                  NatterSioPacket  **out_packet,
                                                  GError           **error);

/* TRUE while a binary packet waits for parts. */
gboolean          natter_sio_decoder_is_waiting  (NatterSioDecoder  *decoder);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterSioDecoder, natter_sio_decoder_free)

G_END_DECLS
