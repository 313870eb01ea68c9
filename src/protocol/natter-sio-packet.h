/* natter-sio-packet.h: Socket.IO v5 packets, carried inside Engine.IO
 * MESSAGE packets. Text form: <type>[<attachments>-][<nsp>,][<id>][<json>].
 *
 * Binary packets keep their {"_placeholder":true,"num":N} objects in @data;
 * the binary parts travel beside them in @attachments, in order. That keeps
 * @data plain JSON and lets an echo re-send a packet as it came. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "natter-json.h"

G_BEGIN_DECLS

typedef enum
{
  NATTER_SIO_CONNECT = 0,
  NATTER_SIO_DISCONNECT = 1,
  NATTER_SIO_EVENT = 2,
  NATTER_SIO_ACK = 3,
  NATTER_SIO_CONNECT_ERROR = 4,
  NATTER_SIO_BINARY_EVENT = 5,
  NATTER_SIO_BINARY_ACK = 6,
} NatterSioPacketType;

/* Limits the decoder enforces; a packet over them is rejected, not truncated. */
#define NATTER_SIO_MAX_ATTACHMENTS 10
#define NATTER_SIO_MAX_JSON_DEPTH  NATTER_JSON_MAX_DEPTH
#define NATTER_SIO_MAX_NSP_LEN     256
#define NATTER_SIO_MAX_ACK_ID      G_GINT64_CONSTANT (9007199254740991) /* 2^53-1 */

typedef struct
{
  NatterSioPacketType  type;
  char                *nsp;           /* never NULL; "/" by default */
  gint64               id;            /* -1 when the packet has no ack id */
  JsonNode            *data;          /* NULL when the packet has no payload */
  guint                n_attachments; /* announced count (binary types) */
  GPtrArray           *attachments;   /* of GBytes; filled by the decoder */
} NatterSioPacket;

/* Takes a reference on @data (may be NULL); @nsp NULL means "/". */
NatterSioPacket *natter_sio_packet_new      (NatterSioPacketType  type,
                                             const char          *nsp,
                                             gint64               id,
                                             JsonNode            *data);

/* An EVENT ["name", args…]: @args is a JSON array of the arguments after
 * the name, or NULL for none. */
NatterSioPacket *natter_sio_packet_new_event (const char         *nsp,
                                              gint64              id,
                                              const char         *name,
                                              JsonArray          *args);

void             natter_sio_packet_free     (NatterSioPacket     *packet);

/* Returns the text part, newly allocated, without the Engine.IO "4".
 * Binary packets announce @attachments->len parts; the caller sends each
 * GBytes of @attachments as a binary frame after it. */
char            *natter_sio_packet_encode   (const NatterSioPacket *packet);

/* Parses the text part (after the Engine.IO "4"). Validates the header, the
 * JSON (depth-limited before parsing) and the payload shape each type must
 * have: CONNECT an object or nothing, CONNECT_ERROR an object, EVENT an
 * array led by a string, ACK an array, DISCONNECT nothing. A binary packet
 * comes back with @attachments empty, waiting for its parts. */
NatterSioPacket *natter_sio_packet_decode   (const char          *text,
                                             gsize                len,
                                             GError             **error);

/* For events: the name (NULL if not an event) and the argument at @index
 * after the name (NULL when absent). */
const char      *natter_sio_packet_get_event_name (const NatterSioPacket *packet);
JsonNode        *natter_sio_packet_get_arg        (const NatterSioPacket *packet,
                                                   guint                  index);

/* TRUE for the placeholder objects of binary packets. */
gboolean         natter_sio_is_placeholder  (JsonNode            *node,
                                             guint               *num);

const char      *natter_sio_packet_type_to_string (NatterSioPacketType type);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterSioPacket, natter_sio_packet_free)

G_END_DECLS
