/* natter-connection.c: one Engine.IO session over a WebSocket; see the
 * header for what it does and leaves to others. */
#include "natter-connection.h"

#include "natter-auth.h"
#include "natter-timer-queue.h"

struct _NatterConnection
{
  GObject                  parent_instance;

  NatterWebsocket         *ws;
  NatterSioDecoder        *decoder;
  NatterMetrics           *metrics;

  char                    *sid;
  char                    *remote_address;
  char                    *user;
  char                    *token_hash;

  guint                    ping_interval_ms;
  guint                    ping_timeout_ms;
  guint                    connect_timeout_ms;
  guint64                  max_message_bytes;
  guint64                  max_backlog_bytes;

  /* Heartbeat and timeouts live in the server's shared timer queue. */
  NatterTimerQueue        *timers;
  NatterTimer              ping;
  NatterTimer              pong;
  NatterTimer              connect;

  guint                    engine_only : 1;
  guint                    connected : 1;
  guint                    closing : 1;
  guint                    closed : 1;
};

G_DEFINE_FINAL_TYPE (NatterConnection, natter_connection, G_TYPE_OBJECT)

enum {
  PACKET,
  MESSAGE,
  CLOSED,
  N_SIGNALS
};

static guint signals [N_SIGNALS];

static void
natter_connection_clear_heartbeat (NatterConnection *self)
{
  if (self->timers == NULL)
    return;
  natter_timer_queue_remove (self->timers, &self->ping);
  natter_timer_queue_remove (self->timers, &self->pong);
  natter_timer_queue_remove (self->timers, &self->connect);
}

static void
natter_connection_dispose (GObject *object)
{
  NatterConnection *self = NATTER_CONNECTION (object);

  natter_connection_clear_heartbeat (self);

  if (self->ws != NULL)
    {
      natter_websocket_set_handler (self->ws, NULL, NULL);
      natter_websocket_abort (self->ws);
    }

  g_clear_object (&self->ws);
  g_clear_pointer (&self->timers, natter_timer_queue_unref);

  G_OBJECT_CLASS (natter_connection_parent_class)->dispose (object);
}

static void
natter_connection_finalize (GObject *object)
{
  NatterConnection *self = NATTER_CONNECTION (object);

  g_clear_pointer (&self->decoder, natter_sio_decoder_free);
  g_free (self->sid);
  g_free (self->remote_address);
  g_free (self->user);
  g_free (self->token_hash);

  G_OBJECT_CLASS (natter_connection_parent_class)->finalize (object);
}

static void
natter_connection_class_init (NatterConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_connection_dispose;
  object_class->finalize = natter_connection_finalize;

  /* A whole Socket.IO packet (transfer none: valid during the emission). */
  signals [PACKET] = g_signal_new ("packet", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                   0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_POINTER);
  /* engine-only sessions: a MESSAGE payload, as text (binary FALSE) or bytes. */
  signals [MESSAGE] = g_signal_new ("message", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                    0, NULL, NULL, NULL, G_TYPE_NONE, 2,
                                    G_TYPE_BOOLEAN, G_TYPE_BYTES);
  signals [CLOSED] = g_signal_new ("closed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                   0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
natter_connection_init (NatterConnection *self)
{
}

/* ---- closing ------------------------------------------------------------ */

void
natter_connection_abort (NatterConnection *self)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));

  /* The "closed" signal follows from a main-loop dispatch of its own. */
  natter_websocket_abort (self->ws);
}

void
natter_connection_close (NatterConnection *self,
                         gushort           code,
                         const char       *reason)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));

  if (self->closing || self->closed)
    return;
  self->closing = TRUE;

  natter_connection_clear_heartbeat (self);

  g_debug ("connection %s (%s): closing %u %s", self->sid, self->remote_address,
           code, reason != NULL ? reason : "");

  /* The WebSocket cuts the socket if the peer has not answered within
   * NATTER_WEBSOCKET_CLOSE_GRACE_MS. */
  natter_websocket_close (self->ws, code, reason);
}

gboolean
natter_connection_is_closed (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), TRUE);

  return self->closed || self->closing;
}

static void
ws_closed_cb (gpointer user_data)
{
  NatterConnection *self = user_data;

  if (self->closed)
    return;

  self->closed = TRUE;
  natter_connection_clear_heartbeat (self);
  g_debug ("connection %s (%s): closed", self->sid, self->remote_address);

  g_object_ref (self);
  g_signal_emit (self, signals [CLOSED], 0);
  g_object_unref (self);
}

static void
ws_refused_cb (gpointer    user_data,
               gushort     code,
               const char *why)
{
  NatterConnection *self = user_data;

  g_debug ("connection %s (%s): %s; closing %u", self->sid, self->remote_address, why, code);
  self->closing = TRUE;
  natter_connection_clear_heartbeat (self);
}

static void
protocol_violation (NatterConnection *self,
                    const char       *what)
{
  g_debug ("connection %s (%s): %s", self->sid, self->remote_address, what);
  natter_connection_close (self, NATTER_CLOSE_PROTOCOL_ERROR, what);
}

/* ---- sending ------------------------------------------------------------ */

guint64
natter_connection_get_backlog (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), 0);

  return natter_websocket_get_backlog (self->ws);
}

static gboolean
can_send (NatterConnection *self)
{
  return !self->closed && !self->closing &&
         natter_websocket_get_state (self->ws) == NATTER_WEBSOCKET_OPEN;
}

static void
send_message (NatterConnection        *self,
              NatterWebsocketDataType  type,
              const void              *data,
              gsize                    len)
{
  gsize backlog;

  if (!can_send (self) || !natter_websocket_send (self->ws, type, data, len))
    return;
  self->metrics->bytes_out_total += len;

  backlog = natter_websocket_get_backlog (self->ws);
  if (self->max_backlog_bytes > 0 && backlog > self->max_backlog_bytes)
    {
      g_message ("connection %s (%s): %" G_GSIZE_FORMAT " bytes not read by the peer, "
                 "cutting it off", self->sid, self->remote_address, backlog);
      self->metrics->backlog_disconnects_total++;
      self->closing = TRUE;
      natter_connection_clear_heartbeat (self);
      natter_websocket_abort (self->ws);
    }
}

void
natter_connection_send_frame (NatterConnection *self,
                              const char       *frame)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));
  g_return_if_fail (frame != NULL);

  send_message (self, NATTER_WEBSOCKET_TEXT, frame, strlen (frame));
}

gboolean
natter_connection_cork (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), FALSE);

  return can_send (self) && natter_websocket_cork (self->ws);
}

void
natter_connection_uncork (NatterConnection *self)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));

  natter_websocket_uncork (self->ws);
}

void
natter_connection_send_binary (NatterConnection *self,
                               GBytes           *bytes)
{
  gsize len;
  gconstpointer data;

  g_return_if_fail (NATTER_IS_CONNECTION (self));

  data = g_bytes_get_data (bytes, &len);
  send_message (self, NATTER_WEBSOCKET_BINARY, data, len);
}

void
natter_connection_send_packet (NatterConnection      *self,
                               const NatterSioPacket *packet)
{
  g_autofree char *text = NULL;
  g_autofree char *frame = NULL;
  guint i;

  g_return_if_fail (NATTER_IS_CONNECTION (self));
  g_return_if_fail (packet != NULL);

  text = natter_sio_packet_encode (packet);
  frame = natter_eio_packet_encode (NATTER_EIO_MESSAGE, text);
  natter_connection_send_frame (self, frame);

  if (packet->attachments != NULL)
    for (i = 0; i < packet->attachments->len; i++)
      natter_connection_send_binary (self, g_ptr_array_index (packet->attachments, i));
}

void
natter_connection_send_event (NatterConnection *self,
                              const char       *name,
                              JsonObject       *payload)
{
  g_autoptr(JsonArray) args = json_array_new ();
  g_autoptr(NatterSioPacket) packet = NULL;

  json_array_add_object_element (args, json_object_ref (payload));
  packet = natter_sio_packet_new_event ("/", -1, name, args);
  natter_connection_send_packet (self, packet);
}

void
natter_connection_send_ack (NatterConnection *self,
                            const char       *nsp,
                            gint64            id,
                            JsonObject       *payload)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_ARRAY);
  g_autoptr(JsonArray) args = json_array_new ();
  g_autoptr(NatterSioPacket) packet = NULL;

  if (id < 0)
    return;

  json_array_add_object_element (args, json_object_ref (payload));
  json_node_set_array (node, args);
  packet = natter_sio_packet_new (NATTER_SIO_ACK, nsp, id, node);
  natter_connection_send_packet (self, packet);
}

/* ---- heartbeat and timeouts ----------------------------------------------- */

static void
pong_timeout_cb (gpointer user_data)
{
  NatterConnection *self = user_data;

  g_debug ("connection %s (%s): no pong within %u ms", self->sid, self->remote_address,
           self->ping_timeout_ms);
  natter_connection_close (self, NATTER_CLOSE_POLICY, "ping timeout");
}

static void
ping_cb (gpointer user_data)
{
  NatterConnection *self = user_data;

  natter_timer_queue_add_periodic (self->timers, &self->ping, self->ping_interval_ms, ping_cb, self);
  natter_connection_send_frame (self, "2");
  if (!natter_timer_is_scheduled (&self->pong))
    natter_timer_queue_add (self->timers, &self->pong, self->ping_timeout_ms, pong_timeout_cb, self);
}

static void
connect_timeout_cb (gpointer user_data)
{
  NatterConnection *self = user_data;

  g_debug ("connection %s (%s): no CONNECT within %u ms", self->sid, self->remote_address,
           self->connect_timeout_ms);
  natter_connection_close (self, NATTER_CLOSE_POLICY, "connect timeout");
}

/* ---- receiving ------------------------------------------------------------ */

static void
deliver (NatterConnection *self,
         NatterSioPacket  *packet)
{
  g_object_ref (self);
  g_signal_emit (self, signals [PACKET], 0, packet);
  g_object_unref (self);
}

static void
handle_text (NatterConnection *self,
             const char       *data,
             gsize             len)
{
  g_autoptr(GError) error = NULL;
  NatterEioPacketType type;
  const char *payload;
  gsize payload_len;

  if (!natter_eio_packet_decode (data, len, &type, &payload, &payload_len, &error))
    {
      protocol_violation (self, error->message);
      return;
    }

  switch (type)
    {
    case NATTER_EIO_PONG:
      natter_timer_queue_remove (self->timers, &self->pong);
      break;

    case NATTER_EIO_CLOSE:
      natter_connection_close (self, NATTER_CLOSE_NORMAL, NULL);
      break;

    case NATTER_EIO_MESSAGE:
      if (self->engine_only)
        {
          g_autoptr(GBytes) bytes = g_bytes_new (payload, payload_len);

          g_signal_emit (self, signals [MESSAGE], 0, FALSE, bytes);
        }
      else
        {
          NatterSioPacket *packet = NULL;

          if (!natter_sio_decoder_feed_text (self->decoder, payload, payload_len, &packet, &error))
            protocol_violation (self, error->message);
          else if (packet != NULL)
            {
              deliver (self, packet);
              natter_sio_packet_free (packet);
            }
        }
      break;

    case NATTER_EIO_PING:
      /* Engine.IO v4: only the server pings. */
      protocol_violation (self, "ping from the client");
      break;

    case NATTER_EIO_OPEN:
    case NATTER_EIO_UPGRADE:
    case NATTER_EIO_NOOP:
    default:
      protocol_violation (self, "unexpected Engine.IO packet");
      break;
    }
}

static void
handle_binary (NatterConnection *self,
               GBytes           *bytes)
{
  g_autoptr(GError) error = NULL;
  NatterSioPacket *packet = NULL;

  if (self->engine_only)
    {
      g_signal_emit (self, signals [MESSAGE], 0, TRUE, bytes);
      return;
    }

  if (!natter_sio_decoder_feed_binary (self->decoder, bytes, &packet, &error))
    {
      protocol_violation (self, error->message);
      return;
    }
  if (packet != NULL)
    {
      deliver (self, packet);
      natter_sio_packet_free (packet);
    }
}

static void
ws_message_cb (gpointer                 user_data,
               NatterWebsocketDataType  type,
               const guint8            *data,
               gsize                    len)
{
  NatterConnection *self = user_data;

  if (self->closing || self->closed)
    return;

  self->metrics->bytes_in_total += len;

  if (type == NATTER_WEBSOCKET_TEXT)
    handle_text (self, (const char *) data, len);
  else
    {
      g_autoptr(GBytes) bytes = g_bytes_new (data, len);

      handle_binary (self, bytes);
    }
}

static const NatterWebsocketHandler ws_handler = {
  ws_message_cb,
  ws_refused_cb,
  ws_closed_cb,
};

/* ---- life ------------------------------------------------------------------ */

NatterConnection *
natter_connection_new (NatterWebsocket          *ws,
                       const char               *remote_address,
                       const NatterServerConfig *config,
                       NatterMetrics            *metrics,
                       NatterTimerQueue         *timers,
                       gboolean                  engine_only)
{
  NatterConnection *self;
  g_autofree char *token = NULL;

  g_return_val_if_fail (NATTER_IS_WEBSOCKET (ws), NULL);
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (metrics != NULL, NULL);
  g_return_val_if_fail (timers != NULL, NULL);

  self = g_object_new (NATTER_TYPE_CONNECTION, NULL);
  self->timers = natter_timer_queue_ref (timers);
  self->metrics = metrics;
  self->remote_address = g_strdup (remote_address);
  self->engine_only = !!engine_only;
  self->ping_interval_ms = MAX (config->ping_interval_ms, 1);
  self->ping_timeout_ms = MAX (config->ping_timeout_ms, 1);
  self->connect_timeout_ms = config->connect_timeout_ms;
  self->max_message_bytes = config->max_message_bytes;
  self->max_backlog_bytes = config->max_backlog_bytes;
  self->decoder = natter_sio_decoder_new ();

  token = natter_auth_new_token ();
  self->sid = g_strndup (token, 20);

  self->ws = g_object_ref (ws);
  natter_websocket_set_handler (self->ws, &ws_handler, self);

  return self;
}

void
natter_connection_start (NatterConnection *self)
{
  NatterEioOpen open = { 0, };
  g_autofree char *frame = NULL;

  g_return_if_fail (NATTER_IS_CONNECTION (self));

  open.sid = self->sid;
  open.ping_interval_ms = self->ping_interval_ms;
  open.ping_timeout_ms = self->ping_timeout_ms;
  open.max_payload = self->max_message_bytes;
  frame = natter_eio_open_encode (&open);
  natter_connection_send_frame (self, frame);

  natter_timer_queue_add_periodic (self->timers, &self->ping, self->ping_interval_ms, ping_cb, self);
  if (self->connect_timeout_ms > 0 && !self->engine_only)
    natter_timer_queue_add (self->timers, &self->connect, self->connect_timeout_ms,
                            connect_timeout_cb, self);

  /* Input only after the open packet: what the client sent ahead (libsoup
   * may have read it with the request) is answered in order. */
  g_object_ref (self);
  natter_websocket_start (self->ws);
  g_object_unref (self);
}

const char *
natter_connection_get_sid (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), NULL);
  return self->sid;
}

const char *
natter_connection_get_remote_address (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), NULL);
  return self->remote_address;
}

void
natter_connection_set_connected (NatterConnection *self)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));

  self->connected = TRUE;
  natter_timer_queue_remove (self->timers, &self->connect);
}

gboolean
natter_connection_get_connected (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), FALSE);
  return self->connected;
}

void
natter_connection_set_user (NatterConnection *self,
                            const char       *user,
                            const char       *token_hash)
{
  g_return_if_fail (NATTER_IS_CONNECTION (self));

  g_free (self->user);
  self->user = g_strdup (user);
  g_free (self->token_hash);
  self->token_hash = g_strdup (token_hash);
}

const char *
natter_connection_get_user (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), NULL);
  return self->user;
}

const char *
natter_connection_get_token_hash (NatterConnection *self)
{
  g_return_val_if_fail (NATTER_IS_CONNECTION (self), NULL);
  return self->token_hash;
}
