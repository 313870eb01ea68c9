/* natter-metered-stream.h: a GIOStream that sits between a stolen HTTP
 * connection and SoupWebsocketConnection and counts what libsoup cannot
 * tell us: bytes really written to the socket (so send backlog = bytes we
 * queued − bytes written) and the size of the WebSocket message being
 * reassembled (libsoup 3.2 only limits single frames). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_TYPE_METERED_STREAM (natter_metered_stream_get_type ())

G_DECLARE_FINAL_TYPE (NatterMeteredStream, natter_metered_stream, NATTER, METERED_STREAM, GIOStream)

typedef enum
{
  NATTER_METERED_TOO_BIG,        /* the current message passed the limit */
  NATTER_METERED_PROTOCOL_ERROR, /* a frame header RFC 6455 forbids */
} NatterMeteredProblem;

/* Called once, from inside a read, when the peer's current message (all
 * its data frames so far) passes the limit, or a frame header breaks the
 * rules libsoup 3.2 does not check itself (control frames over 125 bytes
 * or fragmented, reserved bits, unknown opcodes, unmasked client frames,
 * continuations out of place). Input is discarded from then on. */
typedef void (*NatterMeteredOverLimitFunc) (NatterMeteredProblem problem,
                                            gpointer             user_data);

NatterMeteredStream *natter_metered_stream_new            (GIOStream                  *base,
                                                           guint64                     max_message_bytes,
                                                           NatterMeteredOverLimitFunc  over_limit,
                                                           gpointer                    user_data);

/* Forget the callback (its user data is going away). */
void                 natter_metered_stream_disarm         (NatterMeteredStream        *self);

/* From now on incoming data is read and thrown away; EOF still passes. */
void                 natter_metered_stream_discard_input  (NatterMeteredStream        *self);

/* Corks the output: what libsoup writes from now on (up to 64 KiB) is kept
 * and written in one go at uncork, so a burst of frames for one
 * connection costs one send() instead of one each. Returns FALSE if it
 * was corked already. Bytes kept count as not written (backlog). */
gboolean             natter_metered_stream_cork           (NatterMeteredStream        *self);
void                 natter_metered_stream_uncork         (NatterMeteredStream        *self);

guint64              natter_metered_stream_get_bytes_read    (NatterMeteredStream     *self);
guint64              natter_metered_stream_get_bytes_written (NatterMeteredStream     *self);

G_END_DECLS
