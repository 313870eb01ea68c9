/* natter-socket.c: Engine.IO v4 + Socket.IO v5 client side over a
 * SoupWebsocketConnection. libsoup 3.2 has no pong timeout, so the link's
 * liveness is our own timer, reset by every server ping. */
#include "natter-socket.h"

#include <glib/gi18n-lib.h>

#include "natter-certificate-error.h"
#include "natter-client-types.h"
#include "natter-protocol.h"

struct _NatterSocket
{
  GObject                  parent_instance;
  SoupSession             *soup;
  char                    *url;
  char                    *token;
  GCancellable            *cancellable;
  SoupMessage             *handshake;     /* until connected: its TLS errors */
  SoupWebsocketConnection *conn;
  NatterSioDecoder        *decoder;
  GHashTable              *acks;          /* id → Ack */
  gint64                   next_ack_id;
  guint                    handshake_id;
  guint                    liveness_id;
  guint                    liveness_ms;
  gboolean                 opened;        /* Engine.IO OPEN seen */
  gboolean                 connected;     /* Socket.IO CONNECT accepted */
  gboolean                 closed;
};

typedef struct
{
  NatterSocket  *socket;
  gint64         id;
  NatterAckFunc  func;
  gpointer       user_data;
  guint          timeout_id;
} Ack;

G_DEFINE_FINAL_TYPE (NatterSocket, natter_socket, G_TYPE_OBJECT)

enum { CONNECTED, CLOSED, EVENT, N_SIGNALS };
static guint signals[N_SIGNALS];

static void fail (NatterSocket *self, GError *error);

static void
ack_free (gpointer data)
{
  Ack *ack = data;

  g_clear_handle_id (&ack->timeout_id, g_source_remove);
  g_free (ack);
}

static void
natter_socket_dispose (GObject *object)
{
  NatterSocket *self = NATTER_SOCKET (object);

  natter_socket_close (self);
  g_clear_object (&self->handshake);
  g_clear_object (&self->soup);
  g_clear_object (&self->cancellable);
  G_OBJECT_CLASS (natter_socket_parent_class)->dispose (object);
}

static void
natter_socket_finalize (GObject *object)
{
  NatterSocket *self = NATTER_SOCKET (object);

  g_clear_pointer (&self->acks, g_hash_table_unref);
  g_clear_pointer (&self->decoder, natter_sio_decoder_free);
  g_clear_pointer (&self->url, g_free);
  g_clear_pointer (&self->token, g_free);
  G_OBJECT_CLASS (natter_socket_parent_class)->finalize (object);
}

static void
natter_socket_class_init (NatterSocketClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_socket_dispose;
  object_class->finalize = natter_socket_finalize;

  signals[CONNECTED] = g_signal_new ("connected", G_TYPE_FROM_CLASS (klass),
                                     G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                     G_TYPE_NONE, 0);
  signals[CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass),
                                  G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                  G_TYPE_NONE, 1, G_TYPE_ERROR);
  signals[EVENT] = g_signal_new ("event", G_TYPE_FROM_CLASS (klass),
                                 G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                 G_TYPE_NONE, 2, G_TYPE_STRING, JSON_TYPE_NODE);
}

static void
natter_socket_init (NatterSocket *self)
{
  self->acks = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, ack_free);
  self->decoder = natter_sio_decoder_new ();
  self->cancellable = g_cancellable_new ();
}

char *
natter_socket_build_url (const char *server)
{
  g_autoptr(GUri) uri = NULL;
  const char *scheme;
  const char *ws;

  if (server == NULL)
    return NULL;
  uri = g_uri_parse (server, G_URI_FLAGS_NONE, NULL);
  if (uri == NULL || g_uri_get_host (uri) == NULL)
    return NULL;
  scheme = g_uri_get_scheme (uri);
  if (g_ascii_strcasecmp (scheme, "http") == 0 || g_ascii_strcasecmp (scheme, "ws") == 0)
    ws = "ws";
  else if (g_ascii_strcasecmp (scheme, "https") == 0 || g_ascii_strcasecmp (scheme, "wss") == 0)
    ws = "wss";
  else
    return NULL;

  return g_uri_join (G_URI_FLAGS_NONE, ws, NULL, g_uri_get_host (uri), g_uri_get_port (uri),
                     "/socket.io/", "EIO=4&transport=websocket", NULL);
}

NatterSocket *
natter_socket_new (SoupSession *soup,
                   const char  *url,
                   const char  *token)
{
  NatterSocket *self = g_object_new (NATTER_TYPE_SOCKET, NULL);

  self->soup = g_object_ref (soup);
  self->url = g_strdup (url);
  self->token = g_strdup (token);
  return self;
}

gboolean
natter_socket_is_connected (NatterSocket *self)
{
  return self->connected && !self->closed;
}

guint
natter_socket_get_liveness_ms (NatterSocket *self)
{
  return self->liveness_ms;
}

static void
send_text (NatterSocket *self,
           const char   *text)
{
  if (self->conn == NULL ||
      soup_websocket_connection_get_state (self->conn) != SOUP_WEBSOCKET_STATE_OPEN)
    return;
  soup_websocket_connection_send_text (self->conn, text);
}

static void
send_sio (NatterSocket    *self,
          NatterSioPacket *packet)
{
  g_autofree char *text = natter_sio_packet_encode (packet);
  g_autofree char *frame = natter_eio_packet_encode (NATTER_EIO_MESSAGE, text);

  send_text (self, frame);
}

static gboolean
liveness_expired (gpointer data)
{
  NatterSocket *self = data;

  self->liveness_id = 0;
  fail (self, g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_TIMED_OUT,
                           _("The server stopped answering")));
  return G_SOURCE_REMOVE;
}

static void
reset_liveness (NatterSocket *self)
{
  g_clear_handle_id (&self->liveness_id, g_source_remove);
  if (self->liveness_ms > 0)
    self->liveness_id = g_timeout_add (self->liveness_ms, liveness_expired, self);
}

static gboolean
handshake_expired (gpointer data)
{
  NatterSocket *self = data;

  self->handshake_id = 0;
  fail (self, g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNREACHABLE,
                           _("The server did not answer in time")));
  return G_SOURCE_REMOVE;
}

static void
complete_ack (NatterSocket *self,
              gint64        id,
              JsonNode     *node,
              const GError *error)
{
  Ack *ack;
  NatterAckFunc func;
  gpointer user_data;

  ack = g_hash_table_lookup (self->acks, &id);
  if (ack == NULL)
    return;
  func = ack->func;
  user_data = ack->user_data;
  g_hash_table_remove (self->acks, &id);
  func (node, error, user_data);
}

static gboolean
ack_expired (gpointer data)
{
  Ack *ack = data;
  g_autoptr(GError) error = NULL;

  ack->timeout_id = 0;
  error = g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_TIMED_OUT,
                       _("The server did not answer in time"));
  complete_ack (ack->socket, ack->id, NULL, error);
  return G_SOURCE_REMOVE;
}

static void
handle_sio (NatterSocket    *self,
            NatterSioPacket *packet)
{
  if (g_strcmp0 (packet->nsp, "/") != 0)
    return;

  switch (packet->type)
    {
    case NATTER_SIO_CONNECT:
      if (self->connected)
        return;
      self->connected = TRUE;
      g_clear_handle_id (&self->handshake_id, g_source_remove);
      g_signal_emit (self, signals[CONNECTED], 0);
      break;

    case NATTER_SIO_CONNECT_ERROR:
      {
        const char *message = NULL;

        if (packet->data != NULL && JSON_NODE_HOLDS_OBJECT (packet->data))
          message = json_object_get_string_member_with_default (json_node_get_object (packet->data),
                                                                "message", NULL);
        if (g_strcmp0 (message, "unauthorized") == 0)
          fail (self, g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_SIGNED_OUT,
                                   _("The server did not accept the sign-in; sign in again")));
        else
          fail (self, g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_FAILED,
                                   _("The server refused the connection: %s"),
                                   message != NULL ? message : "?"));
      }
      break;

    case NATTER_SIO_DISCONNECT:
      fail (self, g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_DISCONNECTED,
                               _("The server closed the session")));
      break;

    case NATTER_SIO_EVENT:
    case NATTER_SIO_BINARY_EVENT:
      {
        const char *name = natter_sio_packet_get_event_name (packet);

        if (name != NULL && self->connected)
          g_signal_emit (self, signals[EVENT], 0, name, natter_sio_packet_get_arg (packet, 0));
      }
      break;

    case NATTER_SIO_ACK:
    case NATTER_SIO_BINARY_ACK:
      {
        JsonNode *arg = NULL;

        if (packet->data != NULL && JSON_NODE_HOLDS_ARRAY (packet->data) &&
            json_array_get_length (json_node_get_array (packet->data)) > 0)
          arg = json_array_get_element (json_node_get_array (packet->data), 0);
        complete_ack (self, packet->id, arg, NULL);
      }
      break;

    default:
      break;
    }
}

static void
on_message (SoupWebsocketConnection *conn,
            SoupWebsocketDataType    type,
            GBytes                  *bytes,
            NatterSocket            *self)
{
  g_autoptr(NatterSioPacket) packet = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterSocket) keep = g_object_ref (self);
  NatterEioPacketType eio_type;
  const char *payload;
  gsize payload_len;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);

  if (self->closed)
    return;

  if (type == SOUP_WEBSOCKET_DATA_BINARY)
    {
      if (!natter_sio_decoder_feed_binary (self->decoder, bytes, &packet, &error))
        {
          fail (self, g_steal_pointer (&error));
          return;
        }
      if (packet != NULL)
        handle_sio (self, packet);
      return;
    }

  if (!natter_eio_packet_decode (data, len, &eio_type, &payload, &payload_len, &error))
    {
      fail (self, g_steal_pointer (&error));
      return;
    }

  switch (eio_type)
    {
    case NATTER_EIO_OPEN:
      {
        g_autoptr(NatterEioOpen) open = NULL;
        g_autoptr(JsonObject) auth = json_object_new ();
        g_autoptr(JsonNode) node = NULL;
        g_autoptr(NatterSioPacket) connect = NULL;

        if (self->opened)
          {
            fail (self, g_error_new (NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_UNEXPECTED,
                                     "second Engine.IO open packet"));
            return;
          }
        open = natter_eio_open_parse (payload, payload_len, &error);
        if (open == NULL)
          {
            fail (self, g_steal_pointer (&error));
            return;
          }
        self->opened = TRUE;
        if (open->max_payload > 0)
          soup_websocket_connection_set_max_incoming_payload_size (conn, open->max_payload);
        self->liveness_ms = open->ping_interval_ms + open->ping_timeout_ms;
        reset_liveness (self);

        json_object_set_string_member (auth, "token", self->token != NULL ? self->token : "");
        node = json_node_init_object (json_node_alloc (), auth);
        connect = natter_sio_packet_new (NATTER_SIO_CONNECT, "/", -1, node);
        send_sio (self, connect);
      }
      break;

    case NATTER_EIO_PING:
      reset_liveness (self);
      send_text (self, "3");
      break;

    case NATTER_EIO_CLOSE:
      fail (self, g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_DISCONNECTED,
                               _("The server closed the connection")));
      break;

    case NATTER_EIO_MESSAGE:
      if (!natter_sio_decoder_feed_text (self->decoder, payload, payload_len, &packet, &error))
        {
          fail (self, g_steal_pointer (&error));
          return;
        }
      if (packet != NULL)
        handle_sio (self, packet);
      break;

    case NATTER_EIO_PONG:
    case NATTER_EIO_UPGRADE:
    case NATTER_EIO_NOOP:
    default:
      break;
    }
}

static void
on_closed (SoupWebsocketConnection *conn,
           NatterSocket            *self)
{
  fail (self, g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_DISCONNECTED,
                           _("The connection to the server was lost")));
}

static void
drop_connection (NatterSocket *self,
                 gboolean      politely)
{
  g_autoptr(SoupWebsocketConnection) conn = g_steal_pointer (&self->conn);

  if (conn == NULL)
    return;
  g_signal_handlers_disconnect_by_data (conn, self);
  if (soup_websocket_connection_get_state (conn) == SOUP_WEBSOCKET_STATE_OPEN)
    {
      if (politely)
        soup_websocket_connection_close (conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
      else
        /* A dead link would never answer a close frame: drop the stream. */
        g_io_stream_close (soup_websocket_connection_get_io_stream (conn), NULL, NULL);
    }
}

static void
fail_all_acks (NatterSocket *self,
               const GError *error)
{
  GHashTable *acks = g_steal_pointer (&self->acks);
  g_autoptr(GPtrArray) list = g_ptr_array_new_with_free_func (ack_free);
  GHashTableIter iter;
  gpointer key, value;

  self->acks = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, ack_free);

  g_hash_table_iter_init (&iter, acks);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      /* Stealing keeps the Ack for the list; its key is ours to free. */
      g_ptr_array_add (list, value);
      g_hash_table_iter_steal (&iter);
      g_free (key);
    }
  g_hash_table_unref (acks);

  /* In the order they were asked. */
  for (guint i = 1; i < list->len; i++)
    for (guint j = i; j > 0 && ((Ack *) list->pdata[j - 1])->id > ((Ack *) list->pdata[j])->id; j--)
      {
        gpointer tmp = list->pdata[j];
        list->pdata[j] = list->pdata[j - 1];
        list->pdata[j - 1] = tmp;
      }

  for (guint i = 0; i < list->len; i++)
    {
      Ack *ack = list->pdata[i];

      g_clear_handle_id (&ack->timeout_id, g_source_remove);
      ack->func (NULL, error, ack->user_data);
    }
}

static void
shut_down (NatterSocket *self,
           gboolean      politely)
{
  g_autoptr(GError) disconnected = NULL;

  self->closed = TRUE;
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->handshake_id, g_source_remove);
  g_clear_handle_id (&self->liveness_id, g_source_remove);
  drop_connection (self, politely);

  disconnected = g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_DISCONNECTED,
                              _("The connection to the server was lost"));
  fail_all_acks (self, disconnected);
}

/* Takes @error. */
static void
fail (NatterSocket *self,
      GError       *error)
{
  g_autoptr(NatterSocket) keep = g_object_ref (self);
  g_autoptr(GError) owned = error;

  if (self->closed)
    return;
  g_debug ("socket: %s", error->message);
  shut_down (self, FALSE);
  g_signal_emit (self, signals[CLOSED], 0, owned);
}

void
natter_socket_close (NatterSocket *self)
{
  g_return_if_fail (NATTER_IS_SOCKET (self));

  if (self->closed)
    return;
  shut_down (self, TRUE);
}

static void
connect_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(NatterSocket) self = user_data;
  g_autoptr(GError) error = NULL;
  SoupWebsocketConnection *conn;

  conn = soup_session_websocket_connect_finish (SOUP_SESSION (object), result, &error);
  if (conn == NULL)
    {
      g_autoptr(SoupMessage) handshake = g_steal_pointer (&self->handshake);

      if (self->closed)
        return;
      /* Said apart from "unreachable": retrying will not help until
       * someone fixes the certificate or trusts its authority. */
      if (_natter_certificate_error_matches (error))
        fail (self, _natter_certificate_error_new (self->url,
                                                   handshake != NULL ? soup_message_get_tls_peer_certificate_errors (handshake) : 0));
      else
        fail (self, g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNREACHABLE,
                                 _("Cannot reach the server: %s"), error->message));
      return;
    }
  g_clear_object (&self->handshake);
  if (self->closed)
    {
      soup_websocket_connection_close (conn, SOUP_WEBSOCKET_CLOSE_GOING_AWAY, NULL);
      g_object_unref (conn);
      return;
    }

  self->conn = conn;
  /* The server sends pings; libsoup's own keepalive would only add noise. */
  soup_websocket_connection_set_keepalive_interval (conn, 0);
  g_signal_connect (conn, "message", G_CALLBACK (on_message), self);
  g_signal_connect (conn, "closed", G_CALLBACK (on_closed), self);
}

void
natter_socket_open (NatterSocket *self)
{
  g_autoptr(SoupMessage) msg = NULL;

  g_return_if_fail (NATTER_IS_SOCKET (self));
  g_return_if_fail (self->conn == NULL && !self->closed);

  msg = soup_message_new (SOUP_METHOD_GET, self->url);
  if (msg == NULL)
    {
      fail (self, g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNREACHABLE,
                               _("Not a valid server address: %s"), self->url));
      return;
    }

  self->handshake_id = g_timeout_add (NATTER_SOCKET_HANDSHAKE_TIMEOUT_MS, handshake_expired, self);
  g_set_object (&self->handshake, msg);
  soup_session_websocket_connect_async (self->soup, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        self->cancellable, connect_cb, g_object_ref (self));
}

typedef struct
{
  NatterAckFunc  func;
  gpointer       user_data;
  GError        *error;
} LateFailure;

static gboolean
late_failure (gpointer data)
{
  LateFailure *late = data;

  late->func (NULL, late->error, late->user_data);
  g_error_free (late->error);
  g_free (late);
  return G_SOURCE_REMOVE;
}

void
natter_socket_emit (NatterSocket  *self,
                    const char    *name,
                    JsonObject    *payload,
                    guint          timeout_ms,
                    NatterAckFunc  func,
                    gpointer       user_data)
{
  g_autoptr(JsonObject) owned = payload;
  g_autoptr(JsonArray) args = json_array_new ();
  g_autoptr(NatterSioPacket) packet = NULL;
  gint64 id = -1;

  g_return_if_fail (NATTER_IS_SOCKET (self));

  if (!natter_socket_is_connected (self))
    {
      if (func != NULL)
        {
          LateFailure *late = g_new0 (LateFailure, 1);

          /* Never call back from inside the call. */
          late->func = func;
          late->user_data = user_data;
          late->error = g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_NOT_ONLINE,
                                     _("Not connected to the server"));
          g_idle_add (late_failure, late);
        }
      return;
    }

  json_array_add_object_element (args, g_steal_pointer (&owned));
  if (func != NULL)
    {
      Ack *ack = g_new0 (Ack, 1);

      id = self->next_ack_id++;
      ack->socket = self;
      ack->id = id;
      ack->func = func;
      ack->user_data = user_data;
      if (timeout_ms > 0)
        ack->timeout_id = g_timeout_add (timeout_ms, ack_expired, ack);
      g_hash_table_insert (self->acks, g_memdup2 (&id, sizeof id), ack);
    }

  packet = natter_sio_packet_new_event ("/", id, name, args);
  send_sio (self, packet);
}
