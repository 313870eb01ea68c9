/* natter-websocket.h: the server side of RFC 6455 on one connection taken
 * over from the HTTP upgrade: frames read and parsed as they arrive,
 * messages reassembled within a size limit, pings answered, the close
 * handshake, and frames written straight into one output buffer per
 * connection (corked while the chat service sends a batch).
 *
 * A plain connection is read and written on its descriptor, watched by
 * the server's one NatterSocketWatch; a TLS connection goes through its
 * GIOStream with a source of its own. An idle connection keeps no buffer:
 * input is read into one buffer shared by all of them, and the output
 * buffer and a partial message's buffer are freed once empty. */
#pragma once

#include <gio/gio.h>

#include "natter-socket-watch.h"
#include "natter-timer-queue.h"

G_BEGIN_DECLS

#define NATTER_TYPE_WEBSOCKET (natter_websocket_get_type ())

G_DECLARE_FINAL_TYPE (NatterWebsocket, natter_websocket, NATTER, WEBSOCKET, GObject)

/* Close codes (RFC 6455 §7.4.1) the server sends. */
#define NATTER_WEBSOCKET_CLOSE_NORMAL          1000
#define NATTER_WEBSOCKET_CLOSE_GOING_AWAY      1001
#define NATTER_WEBSOCKET_CLOSE_PROTOCOL_ERROR  1002
#define NATTER_WEBSOCKET_CLOSE_BAD_DATA        1007
#define NATTER_WEBSOCKET_CLOSE_POLICY          1008
#define NATTER_WEBSOCKET_CLOSE_TOO_BIG         1009

/* How long the peer has to answer our close frame before the socket is
 * cut. */
#define NATTER_WEBSOCKET_CLOSE_GRACE_MS 1000

typedef enum
{
  NATTER_WEBSOCKET_TEXT   = 0x1,
  NATTER_WEBSOCKET_BINARY = 0x2,
} NatterWebsocketDataType;

typedef enum
{
  NATTER_WEBSOCKET_OPEN,     /* messages flow both ways */
  NATTER_WEBSOCKET_CLOSING,  /* a close frame was sent or received */
  NATTER_WEBSOCKET_CLOSED,   /* the socket is gone */
} NatterWebsocketState;

/* What the owner hears. Every function may be NULL. */
typedef struct
{
  /* One whole message; @data is valid during the call only (text is
   * valid UTF-8, not NUL-terminated). */
  void (*message) (gpointer                 user_data,
                   NatterWebsocketDataType  type,
                   const guint8            *data,
                   gsize                    len);
  /* The peer broke RFC 6455 or the size limit: the socket is closing
   * with @code already. For the owner's log. */
  void (*refused) (gpointer                 user_data,
                   gushort                  code,
                   const char              *why);
  /* The socket is closed (always from a main-loop dispatch of its own,
   * never from inside a call of the owner's); nothing else follows. */
  void (*closed)  (gpointer                 user_data);
} NatterWebsocketHandler;

/* A plain TCP connection. @stolen is the stream libsoup handed over: what
 * libsoup read past the request head is taken from it at start, then it
 * and @socket are let go (the connection lives on a dup of the
 * descriptor). @max_message_bytes: 0 for no limit. */
NatterWebsocket      *natter_websocket_new_for_socket (GSocket                      *socket,
                                                       GIOStream                    *stolen,
                                                       NatterSocketWatch            *watch,
                                                       NatterTimerQueue             *timers,
                                                       guint64                       max_message_bytes,
                                                       GError                      **error);
/* A connection whose bytes only @stream can read and write (TLS); @socket
 * is its socket, shut down to cut it. */
NatterWebsocket      *natter_websocket_new_for_stream (GIOStream                    *stream,
                                                       GSocket                      *socket,
                                                       NatterSocketWatch            *watch,
                                                       NatterTimerQueue             *timers,
                                                       guint64                       max_message_bytes);

/* Replaces the owner's functions; NULL @handler forgets the owner. */
void                  natter_websocket_set_handler    (NatterWebsocket              *self,
                                                       const NatterWebsocketHandler *handler,
                                                       gpointer                      user_data);
/* Starts reading. */
void                  natter_websocket_start          (NatterWebsocket              *self);

/* Queues one whole message; FALSE (and nothing sent) unless OPEN. */
gboolean              natter_websocket_send           (NatterWebsocket              *self,
                                                       NatterWebsocketDataType       type,
                                                       const void                   *data,
                                                       gsize                         len);

/* While corked, frames only go to the output buffer; uncork writes them
 * with one write. cork returns TRUE when it corked (FALSE: corked already,
 * or not OPEN); every TRUE needs its uncork. */
gboolean              natter_websocket_cork           (NatterWebsocket              *self);
void                  natter_websocket_uncork         (NatterWebsocket              *self);

/* Sends a close frame with @code and @reason (cut to fit a control frame)
 * and waits NATTER_WEBSOCKET_CLOSE_GRACE_MS for the peer's. */
void                  natter_websocket_close          (NatterWebsocket              *self,
                                                       gushort                       code,
                                                       const char                   *reason);
/* Cuts the socket now, dropping unsent output. */
void                  natter_websocket_abort          (NatterWebsocket              *self);

NatterWebsocketState  natter_websocket_get_state      (NatterWebsocket              *self);
/* Bytes queued (frame headers included) and not yet taken by the socket. */
gsize                 natter_websocket_get_backlog    (NatterWebsocket              *self);
/* Bytes read from and written to the socket (for TLS: plain text). */
guint64               natter_websocket_get_bytes_read    (NatterWebsocket           *self);
guint64               natter_websocket_get_bytes_written (NatterWebsocket           *self);

/* The close code the peer sent (0: none yet, 1005: a close without one). */
gushort               natter_websocket_get_peer_close_code (NatterWebsocket         *self);

G_END_DECLS
