/* natter-test-client.c: see the header. */
#include "natter-test-client.h"

#include <string.h>

#include "natter-protocol.h"

struct _NatterTestClient
{
  char                    *base_url;
  SoupSession             *session;
  SoupWebsocketConnection *ws;
  GPtrArray               *headers;       /* name, value, name, value… */
  GPtrArray               *frames;        /* char *: every text frame */
  GPtrArray               *binary_frames; /* GBytes */
  GHashTable              *events;        /* name → GPtrArray of JsonObject */
  GHashTable              *acks;          /* id → JsonObject */
  NatterEioOpen           *open;
  char                    *sid;
  gint64                   next_id;
  guint                    http_status;
  gushort                  close_code;
  gboolean                 auto_pong;
  gboolean                 closed;
  gboolean                 connect_done;
  char                    *connect_error;
  GError                  *open_error;
  gboolean                 open_done;
};

static gboolean
tick_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

gboolean
natter_test_wait (gboolean (*cond) (gpointer data),
                  gpointer   data,
                  guint      timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  /* Wakes the blocking iteration now and then, so the deadline is seen
   * even when nothing else happens. */
  guint tick = g_timeout_add (10, tick_cb, NULL);

  while (!cond (data) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);

  g_source_remove (tick);
  return cond (data);
}

static gboolean
accept_any_certificate (SoupMessage          *msg,
                        GTlsCertificate      *cert,
                        GTlsCertificateFlags  errors,
                        gpointer              user_data)
{
  return TRUE; /* tests use a self-signed certificate made on the spot */
}

NatterTestClient *
natter_test_client_new (const char *base_url)
{
  NatterTestClient *client = g_new0 (NatterTestClient, 1);

  client->base_url = g_strdup (base_url);
  client->session = soup_session_new ();
  client->headers = g_ptr_array_new_with_free_func (g_free);
  client->frames = g_ptr_array_new_with_free_func (g_free);
  client->binary_frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  client->events = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) g_ptr_array_unref);
  client->acks = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free,
                                        (GDestroyNotify) json_object_unref);
  client->auto_pong = TRUE;
  client->next_id = 1;
  return client;
}

static gboolean
is_closed_cond (gpointer data)
{
  return ((NatterTestClient *) data)->closed;
}

void
natter_test_client_close (NatterTestClient *client)
{
  if (client->ws == NULL || client->closed)
    return;
  if (soup_websocket_connection_get_state (client->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_close (client->ws, 1000, NULL);
  natter_test_wait (is_closed_cond, client, 3000);
}

void
natter_test_client_free (NatterTestClient *client)
{
  if (client == NULL)
    return;

  natter_test_client_close (client);
  if (client->ws != NULL)
    g_signal_handlers_disconnect_by_data (client->ws, client);
  g_clear_object (&client->ws);
  g_clear_object (&client->session);
  g_ptr_array_unref (client->headers);
  g_ptr_array_unref (client->frames);
  g_ptr_array_unref (client->binary_frames);
  g_hash_table_unref (client->events);
  g_hash_table_unref (client->acks);
  g_clear_pointer (&client->open, natter_eio_open_free);
  g_clear_error (&client->open_error);
  g_free (client->sid);
  g_free (client->connect_error);
  g_free (client->base_url);
  g_free (client);
}

void
natter_test_client_set_header (NatterTestClient *client,
                               const char       *name,
                               const char       *value)
{
  g_ptr_array_add (client->headers, g_strdup (name));
  g_ptr_array_add (client->headers, g_strdup (value));
}

void
natter_test_client_set_auto_pong (NatterTestClient *client,
                                  gboolean          auto_pong)
{
  client->auto_pong = auto_pong;
}

/* ---- receiving ---------------------------------------------------------------- */

static void
handle_sio (NatterTestClient *client,
            NatterSioPacket  *packet)
{
  switch (packet->type)
    {
    case NATTER_SIO_CONNECT:
      if (packet->data != NULL && JSON_NODE_HOLDS_OBJECT (packet->data))
        {
          const char *sid = natter_chat_json_get_string (json_node_get_object (packet->data), "sid");

          g_free (client->sid);
          client->sid = g_strdup (sid);
        }
      client->connect_done = TRUE;
      break;

    case NATTER_SIO_CONNECT_ERROR:
      {
        const char *message = NULL;

        if (packet->data != NULL && JSON_NODE_HOLDS_OBJECT (packet->data))
          message = natter_chat_json_get_string (json_node_get_object (packet->data), "message");
        g_free (client->connect_error);
        client->connect_error = g_strdup (message != NULL ? message : "?");
        client->connect_done = TRUE;
      }
      break;

    case NATTER_SIO_ACK:
    case NATTER_SIO_BINARY_ACK:
      {
        JsonArray *args = packet->data != NULL && JSON_NODE_HOLDS_ARRAY (packet->data)
                          ? json_node_get_array (packet->data) : NULL;
        JsonNode *first = args != NULL && json_array_get_length (args) > 0
                          ? json_array_get_element (args, 0) : NULL;
        gint64 *key = g_new (gint64, 1);

        *key = packet->id;
        g_hash_table_replace (client->acks, key,
                              first != NULL && JSON_NODE_HOLDS_OBJECT (first)
                              ? json_object_ref (json_node_get_object (first))
                              : json_object_new ());
      }
      break;

    case NATTER_SIO_EVENT:
    case NATTER_SIO_BINARY_EVENT:
      {
        const char *name = natter_sio_packet_get_event_name (packet);
        JsonNode *arg = natter_sio_packet_get_arg (packet, 0);
        GPtrArray *list = g_hash_table_lookup (client->events, name);

        if (list == NULL)
          {
            list = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
            g_hash_table_insert (client->events, g_strdup (name), list);
          }
        g_ptr_array_add (list, arg != NULL && JSON_NODE_HOLDS_OBJECT (arg)
                               ? json_object_ref (json_node_get_object (arg))
                               : json_object_new ());
      }
      break;

    case NATTER_SIO_DISCONNECT:
    default:
      break;
    }
}

static void
message_cb (SoupWebsocketConnection *ws,
            SoupWebsocketDataType    type,
            GBytes                  *message,
            NatterTestClient        *client)
{
  gsize len;
  const char *data = g_bytes_get_data (message, &len);
  NatterEioPacketType eio_type;
  const char *payload;
  gsize payload_len;

  if (type == SOUP_WEBSOCKET_DATA_BINARY)
    {
      g_ptr_array_add (client->binary_frames, g_bytes_ref (message));
      return;
    }

  g_ptr_array_add (client->frames, g_strndup (data, len));

  if (!natter_eio_packet_decode (data, len, &eio_type, &payload, &payload_len, NULL))
    return;

  switch (eio_type)
    {
    case NATTER_EIO_OPEN:
      client->open = natter_eio_open_parse (payload, payload_len, NULL);
      break;
    case NATTER_EIO_PING:
      /* A ping may still arrive while our own close is under way. */
      if (client->auto_pong &&
          soup_websocket_connection_get_state (ws) == SOUP_WEBSOCKET_STATE_OPEN)
        soup_websocket_connection_send_text (ws, "3");
      break;
    case NATTER_EIO_MESSAGE:
      {
        g_autoptr(NatterSioPacket) packet = natter_sio_packet_decode (payload, payload_len, NULL);

        if (packet != NULL)
          handle_sio (client, packet);
      }
      break;
    case NATTER_EIO_CLOSE:
    case NATTER_EIO_PONG:
    case NATTER_EIO_UPGRADE:
    case NATTER_EIO_NOOP:
    default:
      break;
    }
}

static void
closed_cb (SoupWebsocketConnection *ws,
           NatterTestClient        *client)
{
  client->closed = TRUE;
  client->close_code = soup_websocket_connection_get_close_code (ws);
}

static void
connected_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  NatterTestClient *client = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);

  client->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result,
                                                      &client->open_error);
  client->http_status = msg != NULL ? soup_message_get_status (msg) : 0;
  if (client->ws != NULL)
    {
      /* Unlimited: tests send oversize messages on purpose and must see
       * what the server does about them, not what libsoup does. */
      soup_websocket_connection_set_max_incoming_payload_size (client->ws, 0);
      g_signal_connect (client->ws, "message", G_CALLBACK (message_cb), client);
      g_signal_connect (client->ws, "closed", G_CALLBACK (closed_cb), client);
    }
  client->open_done = TRUE;
}

static gboolean
open_done_cond (gpointer data)
{
  NatterTestClient *client = data;

  return client->open_done && (client->ws == NULL || client->open != NULL || client->closed);
}

gboolean
natter_test_client_open (NatterTestClient  *client,
                         const char        *path_and_query,
                         GError           **error)
{
  g_autofree char *url = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  guint i;

  g_return_val_if_fail (client->ws == NULL, FALSE);

  url = g_strconcat (client->base_url,
                     path_and_query != NULL ? path_and_query : "/socket.io/?EIO=4&transport=websocket",
                     NULL);
  msg = soup_message_new ("GET", url);
  for (i = 0; i + 1 < client->headers->len; i += 2)
    soup_message_headers_replace (soup_message_get_request_headers (msg),
                                  g_ptr_array_index (client->headers, i),
                                  g_ptr_array_index (client->headers, i + 1));
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any_certificate), NULL);

  soup_session_websocket_connect_async (client->session, msg, NULL, NULL, G_PRIORITY_DEFAULT,
                                        NULL, connected_cb, client);
  if (!natter_test_wait (open_done_cond, client, NATTER_TEST_TIMEOUT_MS))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no open packet");
      return FALSE;
    }
  if (client->ws == NULL)
    {
      g_propagate_error (error, g_steal_pointer (&client->open_error));
      return FALSE;
    }
  if (client->open == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CLOSED, "closed before the open packet");
      return FALSE;
    }
  return TRUE;
}

guint
natter_test_client_get_http_status (NatterTestClient *client)
{
  return client->http_status;
}

static gboolean
connect_done_cond (gpointer data)
{
  NatterTestClient *client = data;

  return client->connect_done || client->closed;
}

gboolean
natter_test_client_connect (NatterTestClient  *client,
                            const char        *token,
                            GError           **error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) auth = NULL;
  g_autofree char *json = NULL;
  g_autofree char *frame = NULL;

  if (client->ws == NULL && !natter_test_client_open (client, NULL, error))
    return FALSE;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "token");
  json_builder_add_string_value (builder, token != NULL ? token : "");
  json_builder_end_object (builder);
  auth = json_builder_get_root (builder);
  json = json_to_string (auth, FALSE);
  frame = g_strconcat ("40", json, NULL);

  client->connect_done = FALSE;
  natter_test_client_send_text (client, frame);
  if (!natter_test_wait (connect_done_cond, client, NATTER_TEST_TIMEOUT_MS) || client->closed)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "no answer to CONNECT");
      return FALSE;
    }
  if (client->connect_error != NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, client->connect_error);
      return FALSE;
    }
  return TRUE;
}

/* ---- sending ------------------------------------------------------------------ */

void
natter_test_client_send_text (NatterTestClient *client,
                              const char       *frame)
{
  if (client->ws != NULL &&
      soup_websocket_connection_get_state (client->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_send_text (client->ws, frame);
}

void
natter_test_client_send_binary (NatterTestClient *client,
                                gconstpointer     data,
                                gsize             len)
{
  if (client->ws != NULL &&
      soup_websocket_connection_get_state (client->ws) == SOUP_WEBSOCKET_STATE_OPEN)
    soup_websocket_connection_send_binary (client->ws, data, len);
}

static void
emit (NatterTestClient *client,
      const char       *event,
      JsonObject       *args,
      gint64            id)
{
  g_autoptr(JsonArray) array = json_array_new ();
  g_autoptr(NatterSioPacket) packet = NULL;
  g_autofree char *text = NULL;
  g_autofree char *frame = NULL;

  json_array_add_object_element (array, args != NULL ? json_object_ref (args) : json_object_new ());
  packet = natter_sio_packet_new_event ("/", id, event, array);
  text = natter_sio_packet_encode (packet);
  frame = g_strconcat ("4", text, NULL);
  natter_test_client_send_text (client, frame);
}

typedef struct
{
  NatterTestClient *client;
  gint64            id;
} AckWait;

static gboolean
ack_cond (gpointer data)
{
  AckWait *wait = data;

  return wait->client->closed || g_hash_table_contains (wait->client->acks, &wait->id);
}

JsonObject *
natter_test_client_call (NatterTestClient *client,
                         const char       *event,
                         JsonObject       *args)
{
  AckWait wait = { client, client->next_id++ };
  JsonObject *ack;

  emit (client, event, args, wait.id);
  natter_test_wait (ack_cond, &wait, NATTER_TEST_TIMEOUT_MS);
  ack = g_hash_table_lookup (client->acks, &wait.id);
  return ack != NULL ? json_object_ref (ack) : NULL;
}

static JsonObject *
parse_object (const char *json)
{
  g_autoptr(JsonNode) node = json_from_string (json, NULL);

  g_assert_nonnull (node);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (node));
  return json_object_ref (json_node_get_object (node));
}

JsonObject *
natter_test_client_call_json (NatterTestClient *client,
                              const char       *event,
                              const char       *args_json)
{
  g_autoptr(JsonObject) args = parse_object (args_json);

  return natter_test_client_call (client, event, args);
}

void
natter_test_client_emit_json (NatterTestClient *client,
                              const char       *event,
                              const char       *args_json)
{
  g_autoptr(JsonObject) args = parse_object (args_json);

  emit (client, event, args, -1);
}

/* ---- events ------------------------------------------------------------------- */

guint
natter_test_client_count_events (NatterTestClient *client,
                                 const char       *event)
{
  GPtrArray *list = g_hash_table_lookup (client->events, event);

  return list != NULL ? list->len : 0;
}

JsonObject *
natter_test_client_get_event (NatterTestClient *client,
                              const char       *event,
                              guint             index)
{
  GPtrArray *list = g_hash_table_lookup (client->events, event);

  return list != NULL && index < list->len ? g_ptr_array_index (list, index) : NULL;
}

typedef struct
{
  NatterTestClient *client;
  const char       *event;
  guint             count;
} EventWait;

static gboolean
event_cond (gpointer data)
{
  EventWait *wait = data;

  return natter_test_client_count_events (wait->client, wait->event) > wait->count;
}

JsonObject *
natter_test_client_wait_event (NatterTestClient *client,
                               const char       *event,
                               guint             count)
{
  EventWait wait = { client, event, count };

  if (!natter_test_wait (event_cond, &wait, NATTER_TEST_TIMEOUT_MS))
    return NULL;
  return natter_test_client_get_event (client, event, count);
}

GPtrArray *
natter_test_client_get_frames (NatterTestClient *client)
{
  return client->frames;
}

GPtrArray *
natter_test_client_get_binary_frames (NatterTestClient *client)
{
  return client->binary_frames;
}

typedef struct
{
  NatterTestClient *client;
  const char       *prefix;
  guint             from;
  int               found;
} FrameWait;

static gboolean
frame_cond (gpointer data)
{
  FrameWait *wait = data;
  guint i;

  for (i = wait->from; i < wait->client->frames->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (wait->client->frames, i), wait->prefix))
      {
        wait->found = i;
        return TRUE;
      }
  return FALSE;
}

int
natter_test_client_wait_frame (NatterTestClient *client,
                               const char       *prefix,
                               guint             from)
{
  FrameWait wait = { client, prefix, from, -1 };

  natter_test_wait (frame_cond, &wait, NATTER_TEST_TIMEOUT_MS);
  return wait.found;
}

gboolean
natter_test_client_is_open (NatterTestClient *client)
{
  return client->ws != NULL && !client->closed &&
         soup_websocket_connection_get_state (client->ws) == SOUP_WEBSOCKET_STATE_OPEN;
}

gboolean
natter_test_client_wait_closed (NatterTestClient *client,
                                guint             timeout_ms)
{
  return natter_test_wait (is_closed_cond, client, timeout_ms);
}

gushort
natter_test_client_get_close_code (NatterTestClient *client)
{
  return client->close_code;
}

const char *
natter_test_client_get_sid (NatterTestClient *client)
{
  return client->sid;
}

/* ---- HTTP --------------------------------------------------------------------- */

typedef struct
{
  GBytes  *body;
  GError  *error;
  gboolean done;
} HttpWait;

static void
http_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  HttpWait *wait = user_data;

  wait->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &wait->error);
  wait->done = TRUE;
}

static gboolean
http_cond (gpointer data)
{
  return ((HttpWait *) data)->done;
}

guint
natter_test_http (const char  *base_url,
                  const char  *method,
                  const char  *path,
                  const char  *body,
                  const char  *bearer,
                  JsonNode   **out)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *url = g_strconcat (base_url, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new (method, url);
  HttpWait wait = { 0, };
  guint status;

  g_assert_nonnull (msg);
  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any_certificate), NULL);
  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }
  if (bearer != NULL)
    {
      g_autofree char *value = g_strconcat ("Bearer ", bearer, NULL);

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", value);
    }

  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, http_done_cb, &wait);
  g_assert_true (natter_test_wait (http_cond, &wait, NATTER_TEST_TIMEOUT_MS));
  g_assert_no_error (wait.error);

  status = soup_message_get_status (msg);
  if (out != NULL)
    {
      gsize len;
      const char *data = g_bytes_get_data (wait.body, &len);
      g_autofree char *text = g_strndup (data, len);

      *out = len > 0 ? json_from_string (text, NULL) : NULL;
    }
  g_bytes_unref (wait.body);
  return status;
}

char *
natter_test_http_get_text (const char *base_url,
                           const char *path,
                           guint      *status)
{
  g_autoptr(SoupSession) session = soup_session_new ();
  g_autofree char *url = g_strconcat (base_url, path, NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  HttpWait wait = { 0, };
  char *text;

  g_signal_connect (msg, "accept-certificate", G_CALLBACK (accept_any_certificate), NULL);
  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, NULL, http_done_cb, &wait);
  g_assert_true (natter_test_wait (http_cond, &wait, NATTER_TEST_TIMEOUT_MS));
  g_assert_no_error (wait.error);
  *status = soup_message_get_status (msg);
  text = g_strndup (g_bytes_get_data (wait.body, NULL), g_bytes_get_size (wait.body));
  g_bytes_unref (wait.body);
  return text;
}

char *
natter_test_register (const char *base_url,
                      const char *user)
{
  g_autofree char *body = g_strdup_printf ("{\"user\":\"%s\",\"password\":\"secret-%s\"}", user, user);
  g_autoptr(JsonNode) reply = NULL;
  guint status = natter_test_http (base_url, "POST", "/api/v1/register", body, NULL, &reply);

  g_assert_cmpuint (status, ==, 201);
  g_assert_nonnull (reply);
  return g_strdup (natter_chat_json_get_string (json_node_get_object (reply), "token"));
}
