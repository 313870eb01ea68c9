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

/* Called once, from inside a read, when the peer's current message (all
 * its data frames so far) passes the limit. */
typedef void (*NatterMeteredOverLimitFunc) (gpointer user_data);

NatterMeteredStream *natter_metered_stream_new            (GIOStream                  *base,
                                                           guint64                     max_message_bytes,
                                                           NatterMeteredOverLimitFunc  over_limit,
                                                           gpointer                    user_data);

/* Forget the callback (its user data is going away). */
void                 natter_metered_stream_disarm         (NatterMeteredStream        *self);

/* From now on incoming data is read and thrown away; EOF still passes. */
void                 natter_metered_stream_discard_input  (NatterMeteredStream        *self);

guint64              natter_metered_stream_get_bytes_read    (NatterMeteredStream     *self);
guint64              natter_metered_stream_get_bytes_written (NatterMeteredStream     *self);

G_END_DECLS
