/* natter-socket.h: one Socket.IO connection over one WebSocket: Engine.IO
 * handshake, heartbeat answers, our own liveness timer, the namespace
 * CONNECT with the token, events out and in, and acks with timeouts.
 * It never reconnects: NatterSession makes a new one. */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

#define NATTER_TYPE_SOCKET (natter_socket_get_type ())

G_DECLARE_FINAL_TYPE (NatterSocket, natter_socket, NATTER, SOCKET, GObject)

/* Called exactly once: with the ack's first argument, or with an error
 * (NATTER_CLIENT_ERROR_TIMED_OUT, _DISCONNECTED, _NOT_ONLINE). */
typedef void (*NatterAckFunc) (JsonNode     *ack,
                               const GError *error,
                               gpointer      user_data);

/* How long the WebSocket, Engine.IO and Socket.IO handshakes may take. */
#define NATTER_SOCKET_HANDSHAKE_TIMEOUT_MS 20000

/* The ws:// or wss:// URL of the Socket.IO endpoint for a server base
 * URL ("http://host:port"); NULL if @server is not an http(s) URL. */
char         *natter_socket_build_url   (const char    *server);

NatterSocket *natter_socket_new         (SoupSession   *soup,
                                         const char    *url,
                                         const char    *token);
/* Connects; emits "connected" once the namespace accepted the token, or
 * "closed" (const GError *) when anything fails or the link dies later.
 * "event" (const char *name, JsonNode *arg) for each server event. */
void          natter_socket_open        (NatterSocket  *self);
/* Closes without emitting "closed"; pending acks fail with
 * NATTER_CLIENT_ERROR_DISCONNECTED. */
void          natter_socket_close       (NatterSocket  *self);
gboolean      natter_socket_is_connected (NatterSocket *self);
/* The link's liveness window (pingInterval + pingTimeout), 0 before open. */
guint         natter_socket_get_liveness_ms (NatterSocket *self);

/* Sends 42[@name,@payload] (42N… with an ack id when @func is set).
 * Takes ownership of @payload. */
void          natter_socket_emit        (NatterSocket  *self,
                                         const char    *name,
                                         JsonObject    *payload,
                                         guint          timeout_ms,
                                         NatterAckFunc  func,
                                         gpointer       user_data);

G_END_DECLS
