/* natter-connection.h: one Engine.IO v4 session over one WebSocket: the
 * open packet, the server-driven heartbeat, the connect timeout, Socket.IO
 * packet decoding (with binary attachments), and the limits on message
 * size and send backlog. What the packets mean is up to whoever handles
 * ::packet (the chat service, or the conformance endpoints). */
#pragma once

#include "natter-protocol.h"
#include "natter-server-config.h"
#include "natter-server-private.h"
#include "natter-timer-queue.h"
#include "natter-websocket.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CONNECTION (natter_connection_get_type ())

G_DECLARE_FINAL_TYPE (NatterConnection, natter_connection, NATTER, CONNECTION, GObject)

/* WebSocket close codes the server uses. */
#define NATTER_CLOSE_NORMAL          NATTER_WEBSOCKET_CLOSE_NORMAL
#define NATTER_CLOSE_GOING_AWAY      NATTER_WEBSOCKET_CLOSE_GOING_AWAY
#define NATTER_CLOSE_PROTOCOL_ERROR  NATTER_WEBSOCKET_CLOSE_PROTOCOL_ERROR
#define NATTER_CLOSE_POLICY          NATTER_WEBSOCKET_CLOSE_POLICY
#define NATTER_CLOSE_TOO_BIG         NATTER_WEBSOCKET_CLOSE_TOO_BIG

/* @ws is the WebSocket of the connection taken over from the HTTP
 * upgrade, not started yet. @engine_only: a bare Engine.IO session (the
 * conformance /engine.io/ endpoint) whose MESSAGE payloads go to ::message
 * instead of the Socket.IO decoder. */
NatterConnection *natter_connection_new            (NatterWebsocket          *ws,
                                                    const char               *remote_address,
                                                    const NatterServerConfig *config,
                                                    NatterMetrics            *metrics,
                                                    NatterTimerQueue         *timers,
                                                    gboolean                  engine_only);

/* Sends the open packet, starts the timers and starts reading. */
void              natter_connection_start          (NatterConnection         *self);

const char       *natter_connection_get_sid        (NatterConnection         *self);
const char       *natter_connection_get_remote_address (NatterConnection     *self);

/* The Socket.IO CONNECT was accepted: stop the connect timeout. */
void              natter_connection_set_connected  (NatterConnection         *self);
gboolean          natter_connection_get_connected  (NatterConnection         *self);

/* Who this connection belongs to once authenticated, and by which token. */
void              natter_connection_set_user       (NatterConnection         *self,
                                                    const char               *user,
                                                    const char               *token_hash);
const char       *natter_connection_get_user       (NatterConnection         *self);
const char       *natter_connection_get_token_hash (NatterConnection         *self);

/* Between cork and uncork, frames sent to this connection leave in one
 * write (natter-websocket.h). cork returns TRUE when it corked (FALSE:
 * corked already, or closing); every TRUE needs its uncork. A connection
 * whose backlog passes the configured limit is cut off. */
gboolean          natter_connection_cork           (NatterConnection         *self);
void              natter_connection_uncork         (NatterConnection         *self);

/* A whole Engine.IO text frame ("4…", "2", …). */
void              natter_connection_send_frame     (NatterConnection         *self,
                                                    const char               *frame);
void              natter_connection_send_binary    (NatterConnection         *self,
                                                    GBytes                   *bytes);
void              natter_connection_send_packet    (NatterConnection         *self,
                                                    const NatterSioPacket    *packet);
void              natter_connection_send_event     (NatterConnection         *self,
                                                    const char               *name,
                                                    JsonObject               *payload);
void              natter_connection_send_ack       (NatterConnection         *self,
                                                    const char               *nsp,
                                                    gint64                    id,
                                                    JsonObject               *payload);

/* Orderly close with @code; the socket is cut anyway if the peer has not
 * finished the close handshake within a second. */
void              natter_connection_close          (NatterConnection         *self,
                                                    gushort                   code,
                                                    const char               *reason);
/* Cut the socket now. */
void              natter_connection_abort          (NatterConnection         *self);
gboolean          natter_connection_is_closed      (NatterConnection         *self);

/* Bytes handed to the WebSocket and not yet written to the socket. */
guint64           natter_connection_get_backlog    (NatterConnection         *self);

G_END_DECLS
