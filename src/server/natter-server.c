/* natter-server.c: the SoupServer and what libsoup does not do for us:
 * counting TCP connections against caps, timing out clients that say
 * nothing, capping request bodies, checking Origin, and taking each
 * WebSocket over from libsoup once its upgrade is answered: from there the
 * server speaks RFC 6455 itself (natter-websocket.c), every plain socket
 * watched through one epoll descriptor (natter-socket-watch.c). */
#include "natter-server.h"

#include <libsoup/soup.h>
#include <string.h>

#include "natter-auth.h"
#include "natter-chat-service.h"
#include "natter-conformance.h"
#include "natter-connection.h"
#include "natter-http-api.h"
#include "natter-hub.h"
#include "natter-limits.h"
#include "natter-server-private.h"
#include "natter-sqlite-store.h"
#include "natter-files.h"
#include "natter-socket-watch.h"
#include "natter-uploads.h"
#include "natter-websocket.h"

/* How long stop() waits for WebSocket close handshakes before cutting. */
#define STOP_DEADLINE_US (2 * G_USEC_PER_SEC)

/* How long a connection over a cap may take to send the request its 503
 * answers. */
#define OVER_CAP_GRACE_MS 1000

/* Pending connections the kernel may hold for us (capped by somaxconn).
 * libsoup accepts one connection per main-loop dispatch of its listener:
 * in a storm of thousands of clients the queue fills, and past it the
 * kernel answers with SYN cookies, some of which fail (a reset for the
 * client). 4096, Linux's default somaxconn, let a storm of 5,000 in
 * where 1024 lost 5-9 % of them. */
#define LISTEN_BACKLOG 4096

struct _NatterServer
{
  GObject                  parent_instance;

  NatterServerConfig      *config;
  SoupServer              *soup;
  NatterStore             *store;
  NatterHub               *hub;
  NatterTimerQueue        *timers;   /* every connection's heartbeat and timeouts */
  NatterSocketWatch       *watch;    /* every WebSocket's descriptor */
  NatterChatService       *chat;
  NatterHttpApi           *api;
  NatterConformance       *conformance;
  NatterUploads           *uploads;
  NatterConnectionCounter *counter;
  NatterMetrics            metrics;

  /* NatterConnection → its SocketSlot, both owned: a WebSocket counts
   * against the caps for as long as its session lives. */
  GHashTable              *connections;
  /* GSocket → SocketSlot, both owned: connections libsoup still serves. */
  GHashTable              *sockets;
  guint                    port;
  gboolean                 running;
};

G_DEFINE_FINAL_TYPE (NatterServer, natter_server, G_TYPE_OBJECT)

G_DEFINE_QUARK (natter-server-error-quark, natter_server_error)

static void
natter_server_dispose (GObject *object)
{
  NatterServer *self = NATTER_SERVER (object);

  natter_server_stop (self);

  G_OBJECT_CLASS (natter_server_parent_class)->dispose (object);
}

static void
natter_server_finalize (GObject *object)
{
  NatterServer *self = NATTER_SERVER (object);

  g_clear_pointer (&self->connections, g_hash_table_unref);
  g_clear_pointer (&self->sockets, g_hash_table_unref);
  g_clear_pointer (&self->counter, natter_connection_counter_unref);
  g_clear_pointer (&self->config, natter_server_config_free);

  G_OBJECT_CLASS (natter_server_parent_class)->finalize (object);
}

static void
natter_server_class_init (NatterServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_server_dispose;
  object_class->finalize = natter_server_finalize;
}

static void socket_slot_free (gpointer data);

static void
natter_server_init (NatterServer *self)
{
  self->connections = g_hash_table_new_full (NULL, NULL, g_object_unref, socket_slot_free);
}

NatterServer *
natter_server_new (const NatterServerConfig *config)
{
  NatterServer *self;

  g_return_val_if_fail (config != NULL, NULL);

  self = g_object_new (NATTER_TYPE_SERVER, NULL);
  self->config = natter_server_config_copy (config);
  self->counter = natter_connection_counter_new (config->max_connections,
                                                 config->max_connections_per_address);
  self->sockets = g_hash_table_new_full (NULL, NULL, g_object_unref, socket_slot_free);
  return self;
}

/* ---- TCP connections: caps and the handshake timeout ------------------------------ */

typedef struct
{
  NatterConnectionCounter *counter;
  char                    *address;
  gboolean                 over;
} SocketSlot;

static void
socket_slot_free (gpointer data)
{
  SocketSlot *slot = data;

  if (slot == NULL)
    return;
  natter_connection_counter_remove (slot->counter, slot->address);
  natter_connection_counter_unref (slot->counter);
  g_free (slot->address);
  g_free (slot);
}

/* libsoup 3.2 does not say when it is done with a connection, and does not
 * always drop its last reference to the GSocket either; it does close it.
 * So closed sockets are swept out before every count is used. (WebSockets
 * are not in the table: their slots go with their sessions, so the sweep
 * walks only what libsoup serves.) */
static void
sweep_sockets (NatterServer *self)
{
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, self->sockets);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    if (g_socket_is_closed (key))
      g_hash_table_iter_remove (&iter);
}

typedef struct
{
  GSocket *socket;
  guint    timeout_id;
  guint64  body_bytes;
  guint64  max_body;
} MessageGuard;

static void
message_guard_free (MessageGuard *guard)
{
  g_clear_handle_id (&guard->timeout_id, g_source_remove);
  g_clear_object (&guard->socket);
  g_free (guard);
}

static gboolean
handshake_timeout_cb (gpointer user_data)
{
  MessageGuard *guard = user_data;

  guard->timeout_id = 0;
  g_debug ("server: no complete request within the handshake timeout; closing");
  /* shutdown, not close: libsoup reads EOF and cleans up after itself. */
  if (!g_socket_is_closed (guard->socket))
    g_socket_shutdown (guard->socket, TRUE, TRUE, NULL);
  return G_SOURCE_REMOVE;
}

static void
message_finished_cb (SoupServerMessage *msg,
                     gpointer           user_data)
{
  g_object_set_data (G_OBJECT (msg), "natter-guard", NULL);
}

/* The handshake timeout is the client's time to send its request. Once the
 * whole request is in, the time the server takes to answer (a password
 * hash queued behind others under load) must not cut the connection. */
static void
message_got_body_cb (SoupServerMessage *msg,
                     gpointer           user_data)
{
  MessageGuard *guard = g_object_get_data (G_OBJECT (msg), "natter-guard");

  if (guard != NULL)
    g_clear_handle_id (&guard->timeout_id, g_source_remove);
}

/* libsoup reads a whole request body before anyone may answer, and keeps
 * it in memory. A body over the cap is refused by taking the connection
 * over: answer 413 by hand, stop writing, drain what the client still
 * sends for a moment (closing with unread data would reset the connection
 * and could destroy the answer in flight), then close. */
typedef struct
{
  GIOStream    *stream;
  GSocket      *socket;
  GCancellable *cancellable;
  guint         timeout_id;
  char         *response;
  char          buffer[4096];
} Rejection;

static void
rejection_free (Rejection *rejection)
{
  g_clear_handle_id (&rejection->timeout_id, g_source_remove);
  g_io_stream_close (rejection->stream, NULL, NULL);
  g_clear_object (&rejection->stream);
  g_clear_object (&rejection->socket);
  g_clear_object (&rejection->cancellable);
  g_free (rejection->response);
  g_free (rejection);
}

static void rejection_drain (Rejection *rejection);

static void
rejection_read_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Rejection *rejection = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0)
    rejection_free (rejection);
  else
    rejection_drain (rejection);
}

static void
rejection_drain (Rejection *rejection)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (rejection->stream),
                             rejection->buffer, sizeof rejection->buffer, G_PRIORITY_DEFAULT,
                             rejection->cancellable, rejection_read_cb, rejection);
}

static gboolean
rejection_timeout_cb (gpointer user_data)
{
  Rejection *rejection = user_data;

  rejection->timeout_id = 0;
  g_cancellable_cancel (rejection->cancellable); /* the pending read frees it */
  return G_SOURCE_REMOVE;
}

static void
rejection_written_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  Rejection *rejection = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    {
      rejection_free (rejection);
      return;
    }
  if (!g_socket_is_closed (rejection->socket))
    g_socket_shutdown (rejection->socket, FALSE, TRUE, NULL);
  rejection->timeout_id = g_timeout_add (1000, rejection_timeout_cb, rejection);
  rejection_drain (rejection);
}

void
_natter_server_reject_too_large (SoupServerMessage *msg)
{
  static const char body[] = "{\"error\":\"too_large\",\"message\":\"the request body is too large\"}";
  GSocket *socket = soup_server_message_get_socket (msg);
  Rejection *rejection;
  GIOStream *stream;

  g_object_set_data (G_OBJECT (msg), "natter-guard", NULL);
  if (socket == NULL)
    return;
  g_object_ref (socket);
  stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    {
      g_object_unref (socket);
      return;
    }

  rejection = g_new0 (Rejection, 1);
  rejection->stream = stream;
  rejection->socket = socket;
  rejection->cancellable = g_cancellable_new ();
  rejection->response = g_strdup_printf ("HTTP/1.1 413 Request Entity Too Large\r\n"
                                         "Content-Type: application/json\r\n"
                                         "Content-Length: %zu\r\n"
                                         "Connection: close\r\n\r\n%s",
                                         strlen (body), body);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (stream),
                                   rejection->response, strlen (rejection->response),
                                   G_PRIORITY_DEFAULT, rejection->cancellable,
                                   rejection_written_cb, rejection);
}

static void
message_got_headers_cb (SoupServerMessage *msg,
                        NatterServer      *self)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  goffset length = soup_message_headers_get_content_length (headers);

  /* File transfers stream to and from disk (natter-uploads.c): no body cap,
   * and a transfer may outlast the request timeout (uploads have their own
   * idle timeout). */
  if (self->uploads != NULL && natter_uploads_claim_message (self->uploads, msg))
    {
      MessageGuard *guard = g_object_get_data (G_OBJECT (msg), "natter-guard");

      if (guard != NULL)
        {
          guard->max_body = 0;
          g_clear_handle_id (&guard->timeout_id, g_source_remove);
        }
      return;
    }

  if (self->config->max_http_body_bytes > 0 &&
      soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH &&
      (guint64) length > self->config->max_http_body_bytes)
    _natter_server_reject_too_large (msg);
}

static void
message_got_chunk_cb (SoupServerMessage *msg,
                      GBytes            *chunk,
                      NatterServer      *self)
{
  MessageGuard *guard = g_object_get_data (G_OBJECT (msg), "natter-guard");

  if (guard == NULL)
    return;

  /* A chunked body announces no length: count it as it comes. */
  guard->body_bytes += g_bytes_get_size (chunk);
  if (guard->max_body > 0 && guard->body_bytes > guard->max_body)
    _natter_server_reject_too_large (msg);
}

static void
request_started_cb (SoupServer        *soup,
                    SoupServerMessage *msg,
                    NatterServer      *self)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  MessageGuard *guard;
  SocketSlot *slot;

  if (socket == NULL)
    return;

  sweep_sockets (self);
  slot = g_hash_table_lookup (self->sockets, socket);
  if (slot == NULL)
    {
      const char *host = soup_server_message_get_remote_host (msg);

      /* A new TCP connection: count it for as long as the socket lives. */
      slot = g_new0 (SocketSlot, 1);
      slot->counter = natter_connection_counter_ref (self->counter);
      slot->address = g_strdup (host != NULL ? host : "?");
      slot->over = !natter_connection_counter_add (self->counter, slot->address);
      g_hash_table_insert (self->sockets, g_object_ref (socket), slot);
      if (slot->over)
        self->metrics.connections_refused_total++;
    }

  guard = g_new0 (MessageGuard, 1);
  guard->socket = g_object_ref (socket);
  guard->max_body = self->config->max_http_body_bytes;
  /* Over a cap, a connection only gets the time to hear its 503: a flood
   * must not hold descriptors for the whole handshake timeout. */
  if (self->config->handshake_timeout_ms > 0)
    guard->timeout_id = g_timeout_add (slot->over
                                       ? MIN (self->config->handshake_timeout_ms, OVER_CAP_GRACE_MS)
                                       : self->config->handshake_timeout_ms,
                                       handshake_timeout_cb, guard);
  g_object_set_data_full (G_OBJECT (msg), "natter-guard", guard,
                          (GDestroyNotify) message_guard_free);

  /* libsoup 3.2 leaks the socket (and its descriptor) of every keep-alive
   * connection that the client closes while idle (fixed upstream in 3.3 by
   * commit d20c6601). Closing after each response avoids the idle state;
   * the WebSocket handshake replaces this with "Connection: Upgrade". */
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");

  g_signal_connect (msg, "finished", G_CALLBACK (message_finished_cb), NULL);
  g_signal_connect (msg, "got-body", G_CALLBACK (message_got_body_cb), NULL);
  g_signal_connect_object (msg, "got-headers", G_CALLBACK (message_got_headers_cb), self, 0);
  g_signal_connect_object (msg, "got-chunk", G_CALLBACK (message_got_chunk_cb), self, 0);
}

/* Answers 503 and returns TRUE when this TCP connection is over a cap. */
static gboolean
refuse_if_over_cap (NatterServer      *self,
                    SoupServerMessage *msg)
{
  GSocket *socket = soup_server_message_get_socket (msg);
  SocketSlot *slot = socket != NULL ? g_hash_table_lookup (self->sockets, socket) : NULL;

  if (slot == NULL || !slot->over)
    return FALSE;

  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Connection", "close");
  natter_http_reply_error (msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "unavailable",
                           "too many connections");
  return TRUE;
}

/* ---- WebSocket sessions --------------------------------------------------------------- */

static void
connection_closed_cb (NatterConnection *connection,
                      NatterServer     *self)
{
  g_signal_handlers_disconnect_by_data (connection, self);
  g_hash_table_remove (self->connections, connection);
}

typedef struct
{
  NatterServer *self;
  gboolean      engine_only;
} Upgrade;

static NatterWebsocket *
websocket_new (NatterServer *self,
               gboolean      tls,
               GIOStream    *stream,
               GSocket      *socket)
{
  g_autoptr(GError) error = NULL;
  NatterWebsocket *ws;

  /* A TLS stream has no descriptor to read plain text from: it keeps its
   * GIOStream (the rare case; plain sockets are the lean path). */
  if (tls)
    return natter_websocket_new_for_stream (stream, socket, self->watch, self->timers,
                                            self->config->max_message_bytes);

  ws = natter_websocket_new_for_socket (socket, stream, self->watch, self->timers,
                                        self->config->max_message_bytes, &error);
  if (ws == NULL)
    {
      g_warning ("server: cannot take over a WebSocket: %s", error->message);
      g_socket_shutdown (socket, TRUE, TRUE, NULL);
    }
  return ws;
}

static void
upgrade_written_cb (SoupServerMessage *msg,
                    gpointer           user_data)
{
  Upgrade *upgrade = user_data;
  NatterServer *self = upgrade->self;
  g_autoptr(GIOStream) stream = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(NatterWebsocket) ws = NULL;
  g_autofree char *remote_address = NULL;
  NatterConnection *connection;
  gpointer stolen_socket = NULL;
  gpointer slot = NULL;
  gboolean tls;

  g_signal_handlers_disconnect_by_func (msg, upgrade_written_cb, user_data);
  g_object_set_data (G_OBJECT (msg), "natter-guard", NULL);

  if (soup_server_message_get_status (msg) != SOUP_STATUS_SWITCHING_PROTOCOLS)
    return;

  /* Everything needed from @msg first: stealing may free it. */
  socket = g_object_ref (soup_server_message_get_socket (msg));
  remote_address = g_strdup (soup_server_message_get_remote_host (msg));
  tls = g_strcmp0 (g_uri_get_scheme (soup_server_message_get_uri (msg)), "https") == 0;
  stream = soup_server_message_steal_connection (msg);
  if (stream == NULL)
    return;
  ws = websocket_new (self, tls, stream, socket);
  if (ws == NULL)
    return;

  /* The TCP connection's place under the caps now goes with the session. */
  if (g_hash_table_steal_extended (self->sockets, socket, &stolen_socket, &slot))
    g_object_unref (stolen_socket);

  connection = natter_connection_new (ws, remote_address, self->config, &self->metrics,
                                      self->timers, upgrade->engine_only);
  g_hash_table_insert (self->connections, connection, slot);
  g_signal_connect (connection, "closed", G_CALLBACK (connection_closed_cb), self);

  if (self->config->conformance)
    natter_conformance_attach (self->conformance, connection);
  else
    natter_chat_service_attach (self->chat, connection);

  natter_connection_start (connection);
}

static gboolean
origin_allowed (NatterServer      *self,
                SoupServerMessage *msg)
{
  const char *origin = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Origin");

  /* Browsers always send Origin on a WebSocket handshake; other programs
   * (natter-cli, the GTK app) need not, and are not at risk of
   * cross-site WebSocket hijacking. */
  if (origin == NULL || self->config->conformance)
    return TRUE;

  return self->config->allowed_origins != NULL &&
         g_strv_contains ((const char * const *) self->config->allowed_origins, origin);
}

static void
reply_engine_error (SoupServerMessage *msg,
                    int                code,
                    const char        *message)
{
  g_autoptr(JsonObject) object = json_object_new ();

  /* Engine.IO's own error shape, plus the "error" member of our API. */
  json_object_set_int_member (object, "code", code);
  json_object_set_string_member (object, "message", message);
  json_object_set_string_member (object, "error", "bad_request");
  natter_http_reply_json (msg, SOUP_STATUS_BAD_REQUEST, object);
}

static void
engine_handler (SoupServer        *soup,
                SoupServerMessage *msg,
                const char        *path,
                GHashTable        *query,
                gpointer           user_data)
{
  NatterServer *self = user_data;
  gboolean engine_only = g_str_has_prefix (path, "/engine.io");
  const char *eio = query != NULL ? g_hash_table_lookup (query, "EIO") : NULL;
  const char *transport = query != NULL ? g_hash_table_lookup (query, "transport") : NULL;
  Upgrade *upgrade;

  if (refuse_if_over_cap (self, msg))
    return;

  if (!origin_allowed (self, msg))
    {
      natter_http_reply_error (msg, SOUP_STATUS_FORBIDDEN, "forbidden", "origin not allowed");
      return;
    }

  if (g_strcmp0 (transport, "websocket") != 0)
    {
      reply_engine_error (msg, 0, "Transport unknown");
      return;
    }
  if (g_strcmp0 (eio, "4") != 0)
    {
      reply_engine_error (msg, 5, "Unsupported protocol version");
      return;
    }
  if (query != NULL && g_hash_table_contains (query, "sid"))
    {
      /* Upgrades from long-polling: there is no polling session to upgrade. */
      reply_engine_error (msg, 1, "Session ID unknown");
      return;
    }
  if (g_strcmp0 (soup_server_message_get_method (msg), "GET") != 0)
    {
      reply_engine_error (msg, 2, "Bad handshake method");
      return;
    }

  if (!soup_websocket_server_process_handshake (msg, NULL, NULL, NULL, NULL))
    {
      if (soup_server_message_get_status (msg) == 0)
        reply_engine_error (msg, 3, "Bad request");
      return;
    }

  upgrade = g_new0 (Upgrade, 1);
  upgrade->self = self;
  upgrade->engine_only = engine_only;
  g_signal_connect_data (msg, "wrote-informational", G_CALLBACK (upgrade_written_cb),
                         upgrade, (GClosureNotify) (void (*) (void)) g_free, 0);
}

/* ---- HTTP ------------------------------------------------------------------------------ */

static void
api_handler (SoupServer        *soup,
             SoupServerMessage *msg,
             const char        *path,
             GHashTable        *query,
             gpointer           user_data)
{
  NatterServer *self = user_data;
  SoupMessageBody *body = soup_server_message_get_request_body (msg);

  if (refuse_if_over_cap (self, msg))
    return;

  /* The API answers browsers too: a page elsewhere must not register, log
   * in or log out through a visitor's browser (the same allow-list as the
   * WebSocket upgrade; no Origin, no browser). */
  if (!origin_allowed (self, msg))
    {
      natter_http_reply_error (msg, SOUP_STATUS_FORBIDDEN, "forbidden", "origin not allowed");
      return;
    }

  if (self->config->max_http_body_bytes > 0 &&
      (guint64) body->length > self->config->max_http_body_bytes)
    {
      natter_http_reply_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                               "the request body is too large");
      return;
    }

  natter_http_api_handle (self->api, msg, path);
}

static void
uploads_handler (SoupServer        *soup,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  NatterServer *self = user_data;

  if (!refuse_if_over_cap (self, msg))
    natter_uploads_handle (self->uploads, msg, path);
}

static void
files_handler (SoupServer        *soup,
               SoupServerMessage *msg,
               const char        *path,
               GHashTable        *query,
               gpointer           user_data)
{
  NatterServer *self = user_data;

  if (!refuse_if_over_cap (self, msg))
    natter_files_handle (self->uploads, msg, path);
}

static void
append_metric (GString    *out,
               const char *name,
               const char *type,
               const char *help,
               guint64     value)
{
  g_string_append_printf (out, "# HELP %s %s\n# TYPE %s %s\n%s %" G_GUINT64_FORMAT "\n",
                          name, help, name, type, name, value);
}

static void
metrics_handler (SoupServer        *soup,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  NatterServer *self = user_data;
  GString *out;
  gsize len;

  if (refuse_if_over_cap (self, msg))
    return;

  sweep_sockets (self);
  out = g_string_new (NULL);
  append_metric (out, "natter_connections", "gauge", "Open Engine.IO sessions.",
                 g_hash_table_size (self->connections));
  append_metric (out, "natter_tcp_connections", "gauge", "TCP connections counted against the caps.",
                 natter_connection_counter_get_total (self->counter));
  append_metric (out, "natter_rooms", "gauge", "Rooms, DMs included.",
                 self->store != NULL ? natter_store_count_rooms (self->store) : 0);
  append_metric (out, "natter_users_online", "gauge", "Users with at least one signed-in socket.",
                 natter_hub_get_n_users_online (self->hub));
  append_metric (out, "natter_messages_stored_total", "counter", "Messages in the store.",
                 self->store != NULL ? natter_store_count_messages (self->store) : 0);
  append_metric (out, "natter_messages_delivered_total", "counter",
                 "Message events handed to connections.", self->metrics.messages_delivered_total);
  append_metric (out, "natter_send_batches_total", "counter",
                 "Store transactions of sent messages (sends that arrive together share one).",
                 self->metrics.send_batches_total);
  append_metric (out, "natter_store_syncs_total", "counter",
                 "Store fsyncs that acks waited for (sends, joins and leaves in between share one).",
                 self->metrics.store_syncs_total);
  append_metric (out, "natter_bytes_in_total", "counter", "WebSocket payload bytes received.",
                 self->metrics.bytes_in_total);
  append_metric (out, "natter_bytes_out_total", "counter", "WebSocket payload bytes sent.",
                 self->metrics.bytes_out_total);
  append_metric (out, "natter_connections_refused_total", "counter",
                 "TCP connections refused over a cap.", self->metrics.connections_refused_total);
  append_metric (out, "natter_slow_readers_dropped_total", "counter",
                 "Connections cut off for not reading.", self->metrics.backlog_disconnects_total);

  len = out->len;
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
  soup_server_message_set_response (msg, "text/plain; version=0.0.4", SOUP_MEMORY_TAKE,
                                    g_string_free (out, FALSE), len);
}

static void
default_handler (SoupServer        *soup,
                 SoupServerMessage *msg,
                 const char        *path,
                 GHashTable        *query,
                 gpointer           user_data)
{
  NatterServer *self = user_data;

  if (refuse_if_over_cap (self, msg))
    return;

  natter_http_reply_error (msg, SOUP_STATUS_NOT_FOUND, "bad_request", "no such endpoint");
}

/* ---- life ---------------------------------------------------------------------------------- */

/* libsoup listens with GSocket's default backlog of 10: under a flood of
 * connections the kernel then drops handshakes and every client, honest
 * ones included, waits out SYN retransmissions (1 s, 3 s, 7 s …). The
 * listening socket is made here with a real backlog instead; NULL
 * @address means every interface (IPv6 with IPv4 mapped, or IPv4 alone). */
static GSocket *
listen_socket_new (const char  *address,
                   guint        port,
                   GError     **error)
{
  g_autoptr(GInetAddress) inet = NULL;
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GSocket) socket = NULL;

  if (address == NULL || *address == '\0')
    {
      inet = g_inet_address_new_any (G_SOCKET_FAMILY_IPV6);
      socket = g_socket_new (G_SOCKET_FAMILY_IPV6, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
      if (socket == NULL)
        {
          g_clear_object (&inet);
          inet = g_inet_address_new_any (G_SOCKET_FAMILY_IPV4);
        }
    }
  else
    {
      inet = g_inet_address_new_from_string (address);
      if (inet == NULL)
        {
          g_set_error (error, NATTER_SERVER_ERROR, NATTER_SERVER_ERROR_FAILED,
                       "not an IP address: %s", address);
          return NULL;
        }
    }

  if (socket == NULL)
    socket = g_socket_new (g_inet_address_get_family (inet), G_SOCKET_TYPE_STREAM,
                           G_SOCKET_PROTOCOL_TCP, error);
  if (socket == NULL)
    return NULL;

  socket_address = g_inet_socket_address_new (inet, port);
  g_socket_set_listen_backlog (socket, LISTEN_BACKLOG);
  if (!g_socket_bind (socket, socket_address, TRUE, error) || !g_socket_listen (socket, error))
    return NULL;

  return g_steal_pointer (&socket);
}

gboolean
natter_server_start (NatterServer  *self,
                     GError       **error)
{
  g_autofree char *data_dir = NULL;
  g_autofree char *db_path = NULL;
  g_autoptr(GSList) uris = NULL;
  SoupServerListenOptions options = 0;
  g_autoptr(GSocket) listener = NULL;

  g_return_val_if_fail (NATTER_IS_SERVER (self), FALSE);
  g_return_val_if_fail (!self->running, FALSE);

  if (!natter_auth_init ())
    {
      g_set_error_literal (error, NATTER_SERVER_ERROR, NATTER_SERVER_ERROR_FAILED,
                           "libsodium could not be initialised");
      return FALSE;
    }

  data_dir = natter_server_config_dup_data_dir (self->config);
  db_path = g_build_filename (data_dir, "natter.db", NULL);
  self->store = natter_sqlite_store_new_full (db_path, self->config->store_synchronous_full);
  if (!natter_store_open (self->store, error))
    {
      g_prefix_error (error, "%s: ", db_path);
      g_clear_object (&self->store);
      return FALSE;
    }

  self->hub = natter_hub_new ();
  self->timers = natter_timer_queue_new ();
  self->watch = natter_socket_watch_new (error);
  if (self->watch == NULL)
    goto failed;
  self->chat = natter_chat_service_new (self->store, self->hub, self->config, &self->metrics);
  self->api = natter_http_api_new (self->store, self->chat, self->config);
  self->conformance = natter_conformance_new ();
  self->uploads = natter_uploads_new (self->store, self->config, data_dir, error);
  if (self->uploads == NULL)
    goto failed;
  natter_chat_service_set_uploads (self->chat, self->uploads);

  self->soup = soup_server_new ("server-header", "natter-server/" PACKAGE_VERSION " ", NULL);

  if (self->config->tls_cert_file != NULL || self->config->tls_key_file != NULL)
    {
      g_autoptr(GTlsCertificate) cert = NULL;

      if (self->config->tls_cert_file == NULL || self->config->tls_key_file == NULL)
        {
          g_set_error_literal (error, NATTER_SERVER_ERROR, NATTER_SERVER_ERROR_TLS,
                               "TLS needs both a certificate and a key");
          goto failed;
        }
      cert = g_tls_certificate_new_from_files (self->config->tls_cert_file,
                                               self->config->tls_key_file, error);
      if (cert == NULL)
        goto failed;
      soup_server_set_tls_certificate (self->soup, cert);
      options |= SOUP_SERVER_LISTEN_HTTPS;
    }

  g_signal_connect (self->soup, "request-started", G_CALLBACK (request_started_cb), self);
  soup_server_add_handler (self->soup, NULL, default_handler, self, NULL);
  soup_server_add_handler (self->soup, "/socket.io", engine_handler, self, NULL);
  if (self->config->conformance)
    soup_server_add_handler (self->soup, "/engine.io", engine_handler, self, NULL);
  soup_server_add_handler (self->soup, "/api", api_handler, self, NULL);
  soup_server_add_handler (self->soup, "/metrics", metrics_handler, self, NULL);
  soup_server_add_handler (self->soup, "/api/v1/uploads", uploads_handler, self, NULL);
  soup_server_add_handler (self->soup, "/api/v1/files", files_handler, self, NULL);

  listener = listen_socket_new (self->config->address, self->config->port, error);
  if (listener == NULL ||
      !soup_server_listen_socket (self->soup, listener, options, error))
    goto failed;

  uris = soup_server_get_uris (self->soup);
  self->port = uris != NULL ? g_uri_get_port (uris->data) : 0;
  g_slist_foreach (uris, (GFunc) g_uri_unref, NULL);

  self->running = TRUE;
  g_message ("natter-server %s listening on %s:%u (data in %s)%s", PACKAGE_VERSION,
             self->config->address != NULL ? self->config->address : "*", self->port, data_dir,
             self->config->conformance ? " in conformance mode" : "");
  return TRUE;

failed:
  g_clear_object (&self->soup);
  g_clear_object (&self->uploads);
  g_clear_object (&self->conformance);
  g_clear_object (&self->api);
  g_clear_object (&self->chat);
  g_clear_object (&self->hub);
  g_clear_pointer (&self->timers, natter_timer_queue_unref);
  g_clear_pointer (&self->watch, natter_socket_watch_unref);
  natter_store_close (self->store);
  g_clear_object (&self->store);
  return FALSE;
}

void
natter_server_stop (NatterServer *self)
{
  GList *connections, *l;
  gint64 deadline;

  g_return_if_fail (NATTER_IS_SERVER (self));

  if (!self->running)
    return;
  self->running = FALSE;

  natter_http_api_shutdown (self->api);
  /* Sends waiting for their group commit are stored and acked first. */
  natter_chat_service_flush (self->chat);

  /* Stop accepting, drop plain HTTP connections … */
  soup_server_disconnect (self->soup);

  /* … say goodbye on every WebSocket, and give the peers a moment. */
  connections = g_hash_table_get_keys (self->connections);
  for (l = connections; l != NULL; l = l->next)
    natter_connection_close (l->data, NATTER_CLOSE_GOING_AWAY, "server shutting down");
  g_list_free (connections);

  deadline = g_get_monotonic_time () + STOP_DEADLINE_US;
  while (g_hash_table_size (self->connections) > 0 && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, FALSE);

  connections = g_hash_table_get_keys (self->connections);
  for (l = connections; l != NULL; l = l->next)
    {
      g_signal_handlers_disconnect_by_data (l->data, self);
      natter_connection_abort (l->data);
    }
  g_list_free (connections);
  g_hash_table_remove_all (self->connections);

  g_clear_object (&self->soup);
  g_clear_object (&self->uploads);
  g_clear_object (&self->conformance);
  g_clear_object (&self->api);
  g_clear_object (&self->chat);
  g_clear_object (&self->hub);
  g_clear_pointer (&self->timers, natter_timer_queue_unref);
  g_clear_pointer (&self->watch, natter_socket_watch_unref);
  g_hash_table_remove_all (self->sockets);

  natter_store_close (self->store);
  g_clear_object (&self->store);
  self->port = 0;

  g_message ("natter-server stopped");
}

gboolean
natter_server_is_running (NatterServer *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER (self), FALSE);
  return self->running;
}

guint
natter_server_get_port (NatterServer *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER (self), 0);
  return self->port;
}

char *
natter_server_dup_base_url (NatterServer *self)
{
  const char *host;

  g_return_val_if_fail (NATTER_IS_SERVER (self), NULL);

  if (!self->running)
    return NULL;

  host = self->config->address;
  if (host == NULL || *host == '\0' || g_str_equal (host, "0.0.0.0") || g_str_equal (host, "::"))
    host = "127.0.0.1";

  return g_strdup_printf ("%s://%s%s%s:%u",
                          self->config->tls_cert_file != NULL ? "https" : "http",
                          strchr (host, ':') != NULL ? "[" : "", host,
                          strchr (host, ':') != NULL ? "]" : "", self->port);
}

const NatterServerConfig *
natter_server_get_config (NatterServer *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER (self), NULL);
  return self->config;
}

guint
natter_server_get_n_sessions (NatterServer *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER (self), 0);
  return g_hash_table_size (self->connections);
}

guint
natter_server_get_n_connections (NatterServer *self)
{
  g_return_val_if_fail (NATTER_IS_SERVER (self), 0);

  sweep_sockets (self);
  return natter_connection_counter_get_total (self->counter);
}
