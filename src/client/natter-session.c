/* natter-session.c: the session manager. State machine and reconnection,
 * sign-in and the token store, the cache-backed rooms and the outbox that
 * makes sending exactly-once (see DESIGN.md "Exactly once"). */
#include "natter-client-private.h"

#include <glib/gi18n-lib.h>
#include <libsecret/secret.h>

#include "natter-backoff.h"
#include "natter-certificate-error.h"
#include "natter-server-connection.h"
#include "natter-socket.h"

#define CATCH_UP_PAGE    200
#define FRESH_ROOM_PAGE  50
#define TRANSIENT_RETRY_MS 1000

struct _NatterSession
{
  GObject              parent_instance;

  char                *server;
  char                *user;
  NatterTokenStore     token_store;
  char                *cache_path;
  char                *token;

  NatterSessionState   state;
  gint64               retry_at;
  guint                pending;
  char                *last_error;
  gboolean             certificate_untrusted;
  gboolean             started;
  guint                ack_timeout_ms;

  SoupSession         *soup;
  NatterSocket        *socket;
  guint                generation;      /* counts connections: stale callbacks */
  NatterBackoff        backoff;
  guint                retry_id;
  NatterTimerAddFunc   timer_add;
  NatterTimerRemoveFunc timer_remove;
  gpointer             timer_data;
  GCancellable        *cancellable;

  NatterCache         *cache;
  GListStore          *rooms;
  GHashTable          *rooms_by_name;   /* name → NatterRoom (joined) */
  GHashTable          *members;         /* user → NatterMember */
  GHashTable          *left;            /* names of rooms left in this run */

  GQueue               outbox;          /* NatterMessage (ref), pending and failed */
  GHashTable          *outbox_by_cid;   /* cid → NatterMessage (borrowed from outbox) */
  NatterMessage       *in_flight;
  gboolean             rooms_ready;     /* re-joins done since the last connect */
  guint                joins_outstanding;
  guint                flush_retry_id;
  GListStore          *transfers;       /* NatterTransfer: uploads not sent yet */
  GPtrArray           *live;            /* NatterChatMessage: received, not yet cached */
  guint                live_flush_id;

  GNetworkMonitor     *monitor;
  GDBusConnection     *system_bus;
  guint                sleep_subscription;
};

G_DEFINE_FINAL_TYPE (NatterSession, natter_session, G_TYPE_OBJECT)

G_DEFINE_QUARK (natter-client-error-quark, natter_client_error)

enum {
  PROP_0,
  PROP_SERVER,
  PROP_USER,
  PROP_TOKEN_STORE,
  PROP_CACHE_PATH,
  PROP_STATE,
  PROP_RETRY_AT,
  PROP_PENDING,
  PROP_ROOMS,
  PROP_LAST_ERROR,
  PROP_SYNCED,
  PROP_TLS_DATABASE,
  PROP_CERTIFICATE_UNTRUSTED,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

enum { MESSAGE_RECEIVED, MESSAGE_ACKED, MESSAGE_FAILED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void connect_now        (NatterSession *self);
static void flush_outbox       (NatterSession *self);
static void rejoin_rooms       (NatterSession *self);
static void catch_up           (NatterSession *self,
                                NatterRoom    *room,
                                gint64         server_last_seq);

static const SecretSchema *
token_schema (void)
{
  static const SecretSchema schema = {
    "io.github.natter.Natter", SECRET_SCHEMA_NONE,
    {
      { "server", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { "user", SECRET_SCHEMA_ATTRIBUTE_STRING },
      { NULL, 0 },
    }
  };
  return &schema;
}

/* ---- state ------------------------------------------------------------ */

static void
set_state (NatterSession      *self,
           NatterSessionState  state)
{
  if (self->state == state)
    return;
  g_debug ("session %s: state %d → %d", self->user, self->state, state);
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_retry_at (NatterSession *self,
              gint64         retry_at)
{
  if (self->retry_at == retry_at)
    return;
  self->retry_at = retry_at;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RETRY_AT]);
}

static void
set_last_error (NatterSession *self,
                const char    *message)
{
  if (g_strcmp0 (self->last_error, message) == 0)
    return;
  g_free (self->last_error);
  self->last_error = g_strdup (message);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_ERROR]);
}

static void
set_certificate_untrusted (NatterSession *self,
                           gboolean       untrusted)
{
  if (self->certificate_untrusted == untrusted)
    return;
  self->certificate_untrusted = untrusted;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CERTIFICATE_UNTRUSTED]);
}

static void
set_pending (NatterSession *self,
             guint          pending)
{
  if (self->pending == pending)
    return;
  self->pending = pending;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PENDING]);
}

static void
recount_pending (NatterSession *self)
{
  guint n = 0;

  for (GList *l = self->outbox.head; l != NULL; l = l->next)
    if (natter_message_get_state (l->data) == NATTER_MESSAGE_STATE_PENDING)
      n++;
  set_pending (self, n);
}

/* ---- timers (a test seam) --------------------------------------------- */

static guint
default_timer_add (guint        delay_ms,
                   GSourceFunc  func,
                   gpointer     func_data,
                   gpointer     user_data)
{
  return g_timeout_add (delay_ms, func, func_data);
}

static void
default_timer_remove (guint    id,
                      gpointer user_data)
{
  g_source_remove (id);
}

void
_natter_session_set_timer (NatterSession         *self,
                           NatterTimerAddFunc     add,
                           NatterTimerRemoveFunc  remove,
                           gpointer               user_data)
{
  self->timer_add = add != NULL ? add : default_timer_add;
  self->timer_remove = remove != NULL ? remove : default_timer_remove;
  self->timer_data = user_data;
}

static void
cancel_retry (NatterSession *self)
{
  if (self->retry_id != 0)
    {
      self->timer_remove (self->retry_id, self->timer_data);
      self->retry_id = 0;
    }
  set_retry_at (self, 0);
}

/* ---- connection ------------------------------------------------------- */

static void
set_synced (NatterSession *self,
            gboolean       synced)
{
  if (self->rooms_ready == synced)
    return;
  self->rooms_ready = synced;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SYNCED]);
}

static void
drop_socket (NatterSession *self)
{
  g_autoptr(NatterSocket) socket = g_steal_pointer (&self->socket);

  set_synced (self, FALSE);
  self->joins_outstanding = 0;
  if (socket == NULL)
    return;
  g_signal_handlers_disconnect_by_data (socket, self);
  natter_socket_close (socket);
}

static gboolean
retry_timeout (gpointer data)
{
  NatterSession *self = data;

  self->retry_id = 0;
  set_retry_at (self, 0);
  connect_now (self);
  return G_SOURCE_REMOVE;
}

static void
schedule_retry (NatterSession *self)
{
  guint delay = natter_backoff_next (&self->backoff);

  cancel_retry (self);
  self->retry_id = self->timer_add (delay, retry_timeout, self, self->timer_data);
  set_retry_at (self, g_get_monotonic_time () + (gint64) delay * 1000);
  set_state (self, NATTER_SESSION_STATE_WAITING_TO_RETRY);
}

static void
on_socket_closed (NatterSocket  *socket,
                  const GError  *error,
                  NatterSession *self)
{
  g_autoptr(NatterSession) keep = g_object_ref (self);

  drop_socket (self);
  set_last_error (self, error->message);
  /* Retried with the usual backoff like any failure (the certificate may
   * be renewed, a captive portal may go away), but flagged so that a UI
   * says why instead of only "offline". */
  set_certificate_untrusted (self, g_error_matches (error, NATTER_CLIENT_ERROR,
                                                    NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE));

  if (g_error_matches (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_SIGNED_OUT))
    {
      cancel_retry (self);
      set_state (self, NATTER_SESSION_STATE_SIGNED_OUT);
      return;
    }
  if (self->started)
    schedule_retry (self);
  else
    set_state (self, NATTER_SESSION_STATE_DISCONNECTED);
}

static void on_socket_event (NatterSocket  *socket,
                             const char    *name,
                             JsonNode      *arg,
                             NatterSession *self);

static void
on_socket_connected (NatterSocket  *socket,
                     NatterSession *self)
{
  natter_backoff_reset (&self->backoff);
  set_last_error (self, NULL);
  set_certificate_untrusted (self, FALSE);
  set_state (self, NATTER_SESSION_STATE_ONLINE);
  rejoin_rooms (self);
}

static void
connect_now (NatterSession *self)
{
  g_autofree char *url = NULL;

  cancel_retry (self);
  drop_socket (self);

  if (self->token == NULL)
    {
      set_state (self, NATTER_SESSION_STATE_SIGNED_OUT);
      return;
    }

  url = natter_socket_build_url (self->server);
  if (url == NULL)
    {
      set_last_error (self, _("The server address is not valid"));
      set_state (self, NATTER_SESSION_STATE_DISCONNECTED);
      return;
    }

  set_state (self, NATTER_SESSION_STATE_CONNECTING);
  self->generation++;
  self->socket = natter_socket_new (self->soup, url, self->token);
  g_signal_connect (self->socket, "connected", G_CALLBACK (on_socket_connected), self);
  g_signal_connect (self->socket, "closed", G_CALLBACK (on_socket_closed), self);
  g_signal_connect (self->socket, "event", G_CALLBACK (on_socket_event), self);
  natter_socket_open (self->socket);
}

void
natter_session_retry_now (NatterSession *self)
{
  g_return_if_fail (NATTER_IS_SESSION (self));

  if (!self->started)
    return;
  if (self->state == NATTER_SESSION_STATE_WAITING_TO_RETRY ||
      self->state == NATTER_SESSION_STATE_DISCONNECTED)
    connect_now (self);
}

static void
on_network_changed (GNetworkMonitor *monitor,
                    gboolean         available,
                    NatterSession   *self)
{
  if (available && self->state == NATTER_SESSION_STATE_WAITING_TO_RETRY)
    natter_session_retry_now (self);
}

static void
on_prepare_for_sleep (GDBusConnection *connection,
                      const char      *sender,
                      const char      *path,
                      const char      *interface,
                      const char      *signal,
                      GVariant        *parameters,
                      gpointer         user_data)
{
  NatterSession *self = user_data;
  gboolean sleeping = TRUE;

  if (!g_variant_is_of_type (parameters, G_VARIANT_TYPE ("(b)")))
    return;
  g_variant_get (parameters, "(b)", &sleeping);
  if (sleeping || !self->started)
    return;
  /* After a suspend the old link is most likely dead and the backoff
   * timer meaningless: start over at once. */
  if (self->state == NATTER_SESSION_STATE_WAITING_TO_RETRY ||
      self->state == NATTER_SESSION_STATE_ONLINE ||
      self->state == NATTER_SESSION_STATE_CONNECTING)
    connect_now (self);
}

static void
system_bus_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *bus = g_bus_get_finish (result, &error);
  NatterSession *self;

  if (bus == NULL)
    {
      /* No system bus (containers, CI): no resume signal, no harm. */
      g_debug ("no system bus: %s", error->message);
      return;
    }
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_object_unref (bus);
      return;
    }

  /* g_bus_get() hands out the shared connection with exit-on-close set:
   * a library must never make its application exit (raise SIGTERM) just
   * because the system bus went away. */
  g_dbus_connection_set_exit_on_close (bus, FALSE);
  self = NATTER_SESSION (user_data);
  self->system_bus = bus;
  self->sleep_subscription =
    g_dbus_connection_signal_subscribe (bus, "org.freedesktop.login1",
                                        "org.freedesktop.login1.Manager",
                                        "PrepareForSleep", "/org/freedesktop/login1",
                                        NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                        on_prepare_for_sleep, self, NULL);
}

/* ---- rooms ------------------------------------------------------------ */

static NatterMember *
get_member (NatterSession *self,
            const char    *user)
{
  NatterMember *member = g_hash_table_lookup (self->members, user);

  if (member == NULL)
    {
      member = _natter_member_new (user);
      g_hash_table_insert (self->members, g_strdup (user), member);
    }
  return member;
}

static int
compare_rooms (gconstpointer a,
               gconstpointer b,
               gpointer      user_data)
{
  NatterRoom *ra = (NatterRoom *) a;
  NatterRoom *rb = (NatterRoom *) b;

  /* Newest activity first, as in every chat app; rooms and DMs mixed.
   * Rooms without messages follow, by the name shown. */
  if (natter_room_get_last_ts (ra) != natter_room_get_last_ts (rb))
    return natter_room_get_last_ts (ra) > natter_room_get_last_ts (rb) ? -1 : 1;
  return g_utf8_collate (natter_room_get_display_name (ra), natter_room_get_display_name (rb));
}

/* A room's newest message changed: it moves up the list. Most messages
 * arrive in the room already on top, which costs one comparison. */
static void
on_room_activity (NatterSession *self,
                  GParamSpec    *pspec,
                  NatterRoom    *room)
{
  GListModel *rooms = G_LIST_MODEL (self->rooms);
  guint position;

  {
    g_autoptr(NatterRoom) first = g_list_model_get_item (rooms, 0);

    if (first == room)
      return;
  }
  if (!g_list_store_find (self->rooms, room, &position))
    return;
  {
    g_autoptr(NatterRoom) before = g_list_model_get_item (rooms, position - 1);

    if (compare_rooms (before, room, NULL) <= 0)
      return;
  }
  g_object_ref (room);
  g_list_store_remove (self->rooms, position);
  g_list_store_insert_sorted (self->rooms, room, compare_rooms, NULL);
  g_object_unref (room);
}

static void
refresh_counts (NatterSession *self,
                NatterRoom    *room)
{
  guint unread = 0, mentions = 0;

  if (self->cache == NULL)
    return;
  natter_cache_count_unread (self->cache, natter_room_get_name (room),
                             natter_room_get_read_seq (room), self->user,
                             &unread, &mentions);
  _natter_room_set_counts (room, unread, mentions);
}

/* The joined room called @name, created (and cached as joined) when new. */
static NatterRoom *
ensure_room (NatterSession *self,
             const char    *name)
{
  NatterRoom *room = g_hash_table_lookup (self->rooms_by_name, name);
  g_autoptr(NatterCacheRoom) cached = NULL;

  if (room != NULL)
    return room;

  room = _natter_room_new (self, name, self->user);
  _natter_room_set_joined (room, TRUE);
  if (self->cache != NULL)
    {
      cached = natter_cache_get_room (self->cache, name);
      if (cached == NULL)
        natter_cache_put_room (self->cache, name, "", TRUE, 0, 0);
      else
        {
          natter_cache_set_joined (self->cache, name, TRUE);
          _natter_room_set_topic (room, cached->topic);
          _natter_room_set_last_seq (room, cached->last_seq);
          _natter_room_set_read_seq (room, cached->read_seq);
          _natter_room_set_last_ts (room, cached->last_ts);
          _natter_room_set_n_members (room, cached->n_members);
        }
      refresh_counts (self, room);
    }
  g_hash_table_insert (self->rooms_by_name, g_strdup (name), room);
  g_list_store_insert_sorted (self->rooms, room, compare_rooms, NULL);
  g_signal_connect_object (room, "notify::last-ts", G_CALLBACK (on_room_activity),
                           self, G_CONNECT_SWAPPED);
  return room;
}

static void
forget_room (NatterSession *self,
             const char    *name)
{
  NatterRoom *room = g_hash_table_lookup (self->rooms_by_name, name);
  guint position;

  if (room == NULL)
    return;
  /* A message already on its way must not bring the room back. */
  g_hash_table_add (self->left, g_strdup (name));
  if (self->cache != NULL)
    natter_cache_set_joined (self->cache, name, FALSE);
  _natter_room_set_joined (room, FALSE);
  g_signal_handlers_disconnect_by_func (room, on_room_activity, self);
  if (g_list_store_find (self->rooms, room, &position))
    g_list_store_remove (self->rooms, position);
  g_hash_table_remove (self->rooms_by_name, name);
}

/* Applies a room object of an ack ({name,topic,last_seq,members:[…]}). */
static NatterRoom *
apply_room_info (NatterSession *self,
                 JsonObject    *info)
{
  const char *name = json_object_get_string_member_with_default (info, "name", NULL);
  const char *topic = json_object_get_string_member_with_default (info, "topic", "");
  gint64 last_seq = json_object_get_int_member_with_default (info, "last_seq", 0);
  NatterRoom *room;

  if (name == NULL || !natter_chat_room_name_is_valid (name))
    return NULL;

  g_hash_table_remove (self->left, name);
  room = ensure_room (self, name);
  _natter_room_set_topic (room, topic);
  _natter_room_set_last_seq (room, last_seq);

  if (json_object_has_member (info, "members") &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (info, "members")))
    {
      JsonArray *array = json_object_get_array_member (info, "members");
      g_autoptr(GPtrArray) members = g_ptr_array_new ();

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *node = json_array_get_element (array, i);
          const char *user = NULL;

          if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
            user = json_node_get_string (node);
          else if (JSON_NODE_HOLDS_OBJECT (node))
            user = json_object_get_string_member_with_default (json_node_get_object (node),
                                                               "user", NULL);
          if (user != NULL)
            g_ptr_array_add (members, get_member (self, user));
        }
      _natter_room_set_members (room, members);
    }

  if (self->cache != NULL)
    natter_cache_put_room (self->cache, name, topic, TRUE, last_seq,
                           natter_room_get_n_members (room));
  return room;
}

/* ---- requests over the socket ---------------------------------------- */

typedef void (*AckHandler) (NatterSession *self,
                            GTask         *task,
                            JsonObject    *ack);

typedef struct
{
  GTask      *task;
  AckHandler  handler;
} Request;

static void
request_cb (JsonNode     *node,
            const GError *error,
            gpointer      user_data)
{
  Request *request = user_data;
  g_autoptr(GTask) task = request->task;
  NatterSession *self = g_task_get_source_object (task);
  AckHandler handler = request->handler;
  g_autoptr(GError) ack_error = NULL;

  g_free (request);

  if (error != NULL)
    {
      g_task_return_error (task, g_error_copy (error));
      return;
    }
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      g_task_return_new_error (task, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_BAD_RESPONSE,
                               _("The server sent an answer that makes no sense"));
      return;
    }
  if (!natter_chat_ack_check (node, &ack_error))
    {
      g_task_return_error (task, g_steal_pointer (&ack_error));
      return;
    }
  handler (self, task, json_node_get_object (node));
}

/* Sends @name with @payload (taken) and calls @handler with the ok ack;
 * errors (transport or ack) go to @task directly. */
static void
request (NatterSession *self,
         const char    *name,
         JsonObject    *payload,
         GTask         *task,
         AckHandler     handler)
{
  Request *req;

  if (self->socket == NULL || !natter_socket_is_connected (self->socket))
    {
      json_object_unref (payload);
      g_task_return_new_error (task, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_NOT_ONLINE,
                               _("You are offline"));
      g_object_unref (task);
      return;
    }

  req = g_new0 (Request, 1);
  req->task = task;
  req->handler = handler;
  natter_socket_emit (self->socket, name, payload, self->ack_timeout_ms, request_cb, req);
}

/* ---- messages --------------------------------------------------------- */

NatterMessage *
_natter_session_wrap_message (NatterSession           *self,
                              const NatterChatMessage *chat)
{
  NatterMessage *mine = NULL;

  if (chat->cid != NULL && g_strcmp0 (chat->from, self->user) == 0)
    mine = g_hash_table_lookup (self->outbox_by_cid, chat->cid);
  if (mine != NULL)
    {
      if (natter_message_get_state (mine) != NATTER_MESSAGE_STATE_SENT)
        _natter_message_set_sent (mine, chat->seq, chat->ts);
      return g_object_ref (mine);
    }
  return _natter_message_new (chat, NATTER_MESSAGE_STATE_SENT, self->user);
}

/* A stored message reached us (live or from history); it is cached. */
/* @announce: emit "message-received" when it is new here. */
static void
dispatch_message (NatterSession           *self,
                  NatterRoom              *room,
                  const NatterChatMessage *chat,
                  gboolean                 is_new,
                  gboolean                 announce)
{
  NatterMessage *mine = NULL;
  NatterTimeline *timeline = _natter_room_peek_timeline (room);

  _natter_room_set_last_seq (room, chat->seq);
  _natter_room_set_last_ts (room, chat->ts);

  if (chat->cid != NULL && g_strcmp0 (chat->from, self->user) == 0)
    mine = g_hash_table_lookup (self->outbox_by_cid, chat->cid);

  if (mine != NULL)
    {
      /* Our own message, stored: it is sent, whatever the ack says later. */
      if (natter_message_get_state (mine) != NATTER_MESSAGE_STATE_SENT)
        {
          _natter_message_set_sent (mine, chat->seq, chat->ts);
          if (timeline != NULL)
            _natter_timeline_message_sent (timeline, mine);
        }
      return;
    }

  /* Not new to the cache (a history page may have brought it first): no
   * notification, but the timeline may still miss it; it ignores a seq
   * it has. */
  if (timeline != NULL || (announce && is_new))
    {
      g_autoptr(NatterMessage) message = _natter_message_new (chat, NATTER_MESSAGE_STATE_SENT,
                                                              self->user);
      if (timeline != NULL)
        _natter_timeline_add_sent (timeline, message);
      if (announce && is_new)
        g_signal_emit (self, signals[MESSAGE_RECEIVED], 0, room, message);
    }
}

static void
advance_synced (NatterSession *self,
                const char    *room,
                gint64         from)
{
  g_autoptr(NatterCacheRoom) cached = NULL;
  gint64 synced;

  if (self->cache == NULL)
    return;
  cached = natter_cache_get_room (self->cache, room);
  if (cached == NULL || cached->synced_seq < from)
    return;
  synced = natter_cache_contiguous_from (self->cache, room, cached->synced_seq);
  if (synced != cached->synced_seq)
    natter_cache_set_synced_seq (self->cache, room, synced);
}

/* Live messages are cached and dispatched in batches: one transaction
 * for the messages of a few milliseconds, not one per message (at 1,000
 * messages a second the commits alone kept the main loop busy and the
 * window stopped drawing). A batch waits at most this long: */
#define LIVE_BATCH_MS  8
#define LIVE_BATCH_MAX 256

static void
process_live_messages (NatterSession *self,
                       GPtrArray     *batch)
{
  g_autoptr(GPtrArray) kept = g_ptr_array_new ();
  g_autoptr(GPtrArray) rooms = g_ptr_array_new ();
  g_autofree gboolean *is_new = NULL;
  g_autoptr(GHashTable) touched = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < batch->len; i++)
    {
      NatterChatMessage *chat = g_ptr_array_index (batch, i);
      NatterRoom *room = g_hash_table_lookup (self->rooms_by_name, chat->room);

      if (room == NULL && g_hash_table_contains (self->left, chat->room))
        continue;
      /* A DM someone else opened: it becomes one of our rooms. */
      if (room == NULL)
        room = ensure_room (self, chat->room);
      g_ptr_array_add (kept, chat);
      g_ptr_array_add (rooms, room);
    }
  if (kept->len == 0)
    return;

  is_new = g_new (gboolean, kept->len);
  for (guint i = 0; i < kept->len; i++)
    is_new[i] = TRUE;
  if (self->cache != NULL)
    {
      g_autoptr(GError) error = NULL;

      if (!natter_cache_insert_messages_full (self->cache, kept, self->user, is_new, &error))
        g_warning ("cache: %s", error->message);
      /* The synced range grows over what is now contiguous; after a gap
       * it stays put and the catch-up fills the gap. */
      for (guint i = 0; i < kept->len; i++)
        {
          NatterChatMessage *chat = g_ptr_array_index (kept, i);

          if (g_hash_table_add (touched, chat->room))
            advance_synced (self, chat->room, 0);
        }
    }

  for (guint i = 0; i < kept->len; i++)
    {
      NatterChatMessage *chat = g_ptr_array_index (kept, i);
      NatterRoom *room = g_ptr_array_index (rooms, i);

      /* Left meanwhile (a handler of an earlier message may leave). */
      if (g_hash_table_lookup (self->rooms_by_name, chat->room) != room)
        continue;
      if (is_new[i] && g_strcmp0 (chat->from, self->user) != 0 &&
          chat->seq > natter_room_get_read_seq (room))
        _natter_room_set_counts (room, natter_room_get_unread (room) + 1,
                                 natter_room_get_mentions (room) +
                                 (natter_chat_text_mentions (chat->text, self->user) ? 1 : 0));
      dispatch_message (self, room, chat, is_new[i], TRUE);
    }
}

/* Caches and dispatches the live messages received so far. */
static void
flush_live (NatterSession *self)
{
  g_autoptr(GPtrArray) batch = NULL;

  g_clear_handle_id (&self->live_flush_id, g_source_remove);
  if (self->live == NULL || self->live->len == 0)
    return;
  batch = g_steal_pointer (&self->live);
  self->live = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_chat_message_free);
  process_live_messages (self, batch);
}

static gboolean
flush_live_cb (gpointer user_data)
{
  NatterSession *self = user_data;

  self->live_flush_id = 0;
  flush_live (self);
  return G_SOURCE_REMOVE;
}

static void
handle_live_message (NatterSession *self,
                     JsonNode      *arg)
{
  g_autoptr(NatterChatMessage) chat = NULL;
  g_autoptr(GError) error = NULL;

  if (arg == NULL || !JSON_NODE_HOLDS_OBJECT (arg))
    return;
  chat = natter_chat_message_from_json (json_node_get_object (arg), &error);
  if (chat == NULL)
    {
      g_debug ("ignoring a bad message event: %s", error->message);
      return;
    }
  if (self->live == NULL)
    self->live = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_chat_message_free);
  g_ptr_array_add (self->live, g_steal_pointer (&chat));
  if (self->live->len >= LIVE_BATCH_MAX)
    flush_live (self);
  else if (self->live_flush_id == 0)
    self->live_flush_id = g_timeout_add (LIVE_BATCH_MS, flush_live_cb, self);
}

/* Parses and caches a history page; returns the messages (NatterChatMessage). */
static GPtrArray *
parse_history (NatterSession *self,
               JsonObject    *ack,
               const char    *room_name,
               gboolean      *more)
{
  GPtrArray *page = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_chat_message_free);
  JsonArray *array = NULL;

  *more = json_object_get_boolean_member_with_default (ack, "more", FALSE);
  if (json_object_has_member (ack, "messages") &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (ack, "messages")))
    array = json_object_get_array_member (ack, "messages");

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      NatterChatMessage *chat;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      chat = natter_chat_message_from_json (json_node_get_object (node), NULL);
      if (chat == NULL || g_strcmp0 (chat->room, room_name) != 0)
        {
          g_clear_pointer (&chat, natter_chat_message_free);
          continue;
        }
      g_ptr_array_add (page, chat);
    }
  return page;
}

/* ---- history (public) ------------------------------------------------- */

typedef struct
{
  char      *room;
  GPtrArray *messages;  /* NatterMessage */
  gboolean   more;
} HistoryData;

static void
history_data_free (HistoryData *data)
{
  g_free (data->room);
  g_clear_pointer (&data->messages, g_ptr_array_unref);
  g_free (data);
}

static JsonObject *
history_payload (const char *room,
                 gint64      before,
                 gint64      after,
                 guint       limit)
{
  JsonObject *payload = json_object_new ();

  json_object_set_string_member (payload, "room", room);
  if (before > 0)
    json_object_set_int_member (payload, "before", before);
  if (after > 0)
    json_object_set_int_member (payload, "after", after);
  json_object_set_int_member (payload, "limit", CLAMP (limit, 1, NATTER_CHAT_MAX_HISTORY_LIMIT));
  return payload;
}

static void
history_done (NatterSession *self,
              GTask         *task,
              JsonObject    *ack)
{
  HistoryData *data = g_task_get_task_data (task);
  g_autoptr(GPtrArray) page = parse_history (self, ack, data->room, &data->more);

  if (self->cache != NULL && g_hash_table_contains (self->rooms_by_name, data->room))
    natter_cache_insert_messages (self->cache, page, self->user, NULL, NULL);

  data->messages = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < page->len; i++)
    g_ptr_array_add (data->messages, _natter_session_wrap_message (self, g_ptr_array_index (page, i)));
  g_task_return_boolean (task, TRUE);
}

void
natter_session_history_async (NatterSession       *self,
                              const char          *room,
                              gint64               before,
                              gint64               after,
                              guint                limit,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  GTask *task;
  HistoryData *data;

  g_return_if_fail (NATTER_IS_SESSION (self));
  g_return_if_fail (room != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_session_history_async);
  data = g_new0 (HistoryData, 1);
  data->room = g_strdup (room);
  g_task_set_task_data (task, data, (GDestroyNotify) history_data_free);
  request (self, "history", history_payload (room, before, after, limit), task, history_done);
}

GPtrArray *
natter_session_history_finish (NatterSession  *self,
                               GAsyncResult   *result,
                               gboolean       *more,
                               GError        **error)
{
  HistoryData *data;

  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;
  data = g_task_get_task_data (G_TASK (result));
  if (more != NULL)
    *more = data->more;
  return g_steal_pointer (&data->messages);
}

/* ---- catch-up after (re)connect --------------------------------------- */

typedef struct
{
  NatterRoom *room;
  gboolean    fresh;
  gint64      from;
} CatchUp;

static void
catch_up_free (CatchUp *data)
{
  g_clear_object (&data->room);
  g_free (data);
}

static void catch_up_step (NatterSession *self, CatchUp *data);

static void
catch_up_done (NatterSession *self,
               GTask         *task,
               JsonObject    *ack)
{
  CatchUp *data = g_task_get_task_data (task);
  const char *name = natter_room_get_name (data->room);
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(GArray) is_new = NULL;
  gboolean more = FALSE;
  gint64 min_seq = G_MAXINT64, max_seq = 0;

  page = parse_history (self, ack, name, &more);
  is_new = g_array_sized_new (FALSE, TRUE, sizeof (gboolean), page->len);

  if (self->cache != NULL)
    {
      for (guint i = 0; i < page->len; i++)
        {
          const NatterChatMessage *chat = g_ptr_array_index (page, i);
          gboolean n = FALSE;

          if (!natter_cache_has_message (self->cache, name, chat->seq))
            n = TRUE;
          g_array_append_val (is_new, n);
        }
      natter_cache_insert_messages (self->cache, page, self->user, NULL, NULL);
    }

  for (guint i = 0; i < page->len; i++)
    {
      const NatterChatMessage *chat = g_ptr_array_index (page, i);

      min_seq = MIN (min_seq, chat->seq);
      max_seq = MAX (max_seq, chat->seq);
      if (g_hash_table_lookup (self->rooms_by_name, name) == data->room)
        {
          gboolean n = self->cache == NULL || g_array_index (is_new, gboolean, i);

          /* Missed while away: announce; the first page of a new room: not. */
          dispatch_message (self, data->room, chat, n, n && !data->fresh);
        }
    }

  if (self->cache != NULL && page->len > 0)
    {
      gint64 synced;

      if (data->fresh)
        synced = natter_cache_contiguous_from (self->cache, name, min_seq - 1);
      else
        synced = natter_cache_contiguous_from (self->cache, name, data->from);
      natter_cache_set_synced_seq (self->cache, name, synced);
      data->from = synced;
    }
  refresh_counts (self, data->room);

  if (!data->fresh && more && page->len > 0 && max_seq > 0)
    {
      /* Next page: keep the task's data, drop the task. */
      CatchUp *next = g_new0 (CatchUp, 1);

      next->room = g_object_ref (data->room);
      next->from = data->from;
      catch_up_step (self, next);
    }
  g_task_return_boolean (task, TRUE);
}

static void
catch_up_finished (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_debug ("catch-up: %s", error->message);
}

static void
catch_up_step (NatterSession *self,
               CatchUp       *data)
{
  GTask *task = g_task_new (self, self->cancellable, catch_up_finished, NULL);
  const char *name = natter_room_get_name (data->room);
  JsonObject *payload;

  g_task_set_task_data (task, data, (GDestroyNotify) catch_up_free);
  if (data->fresh)
    payload = history_payload (name, data->from, 0, FRESH_ROOM_PAGE);
  else
    payload = history_payload (name, 0, data->from, CATCH_UP_PAGE);
  request (self, "history", payload, task, catch_up_done);
}

static void
catch_up (NatterSession *self,
          NatterRoom    *room,
          gint64         server_last_seq)
{
  g_autoptr(NatterCacheRoom) cached = NULL;
  CatchUp *data = g_new0 (CatchUp, 1);

  data->room = g_object_ref (room);
  if (self->cache != NULL)
    cached = natter_cache_get_room (self->cache, natter_room_get_name (room));

  if (cached == NULL || cached->synced_seq == 0)
    {
      if (server_last_seq == 0)
        {
          catch_up_free (data);
          return;
        }
      /* Nothing known yet: the newest page; older ones on demand. */
      data->fresh = TRUE;
      data->from = server_last_seq + 1;
    }
  else
    {
      if (cached->synced_seq >= server_last_seq && server_last_seq > 0)
        {
          catch_up_free (data);
          return;
        }
      data->from = cached->synced_seq;
    }
  catch_up_step (self, data);
}

/* ---- joins, on demand and after every connect ------------------------ */

static void
members_done (NatterSession *self,
              GTask         *task,
              JsonObject    *ack)
{
  NatterRoom *room = g_task_get_task_data (task);
  JsonArray *array = NULL;
  g_autoptr(GPtrArray) members = g_ptr_array_new ();

  if (json_object_has_member (ack, "members") &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (ack, "members")))
    array = json_object_get_array_member (ack, "members");

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      JsonObject *object;
      const char *user;
      NatterMember *member;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      object = json_node_get_object (node);
      user = json_object_get_string_member_with_default (object, "user", NULL);
      if (user == NULL)
        continue;
      member = get_member (self, user);
      _natter_member_set_online (member, json_object_get_boolean_member_with_default (object, "online", FALSE));
      g_ptr_array_add (members, member);
    }
  if (array != NULL)
    _natter_room_set_members (room, members);
  g_task_return_boolean (task, TRUE);
}

void
natter_session_fetch_members_async (NatterSession       *self,
                                    NatterRoom          *room,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  GTask *task;
  JsonObject *payload;

  g_return_if_fail (NATTER_IS_SESSION (self));
  g_return_if_fail (NATTER_IS_ROOM (room));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_session_fetch_members_async);
  g_task_set_task_data (task, g_object_ref (room), g_object_unref);
  payload = json_object_new ();
  json_object_set_string_member (payload, "room", natter_room_get_name (room));
  request (self, "members", payload, task, members_done);
}

gboolean
natter_session_fetch_members_finish (NatterSession  *self,
                                     GAsyncResult   *result,
                                     GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
ignore_result (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_debug ("%s", error->message);
}

/* A join (or dm) ack: the room object. Used by join, dm and re-joins. */
static void
joined_done (NatterSession *self,
             GTask         *task,
             JsonObject    *ack)
{
  JsonObject *info = NULL;
  NatterRoom *room;

  if (json_object_has_member (ack, "room") &&
      JSON_NODE_HOLDS_OBJECT (json_object_get_member (ack, "room")))
    info = json_object_get_object_member (ack, "room");
  room = info != NULL ? apply_room_info (self, info) : NULL;
  if (room == NULL)
    {
      g_task_return_new_error (task, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_BAD_RESPONSE,
                               _("The server sent an answer that makes no sense"));
      return;
    }

  catch_up (self, room, json_object_get_int_member_with_default (info, "last_seq", 0));
  natter_session_fetch_members_async (self, room, self->cancellable, ignore_result, NULL);
  g_task_return_pointer (task, g_object_ref (room), g_object_unref);
}

static void
rejoin_finished (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  NatterSession *self = NATTER_SESSION (object);
  guint generation = GPOINTER_TO_UINT (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoom) room = g_task_propagate_pointer (G_TASK (result), &error);

  if (room == NULL)
    {
      const char *name = g_task_get_task_data (G_TASK (result));

      g_debug ("re-join %s: %s", name, error->message);
      /* The room is gone or we were removed: it is no longer joined. */
      if (g_error_matches (error, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_NO_SUCH_ROOM) ||
          g_error_matches (error, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_FORBIDDEN))
        forget_room (self, name);
    }

  /* A reconnect in between started a new round; this one is void. */
  if (generation != self->generation || self->joins_outstanding == 0)
    return;
  if (--self->joins_outstanding == 0)
    {
      set_synced (self, TRUE);
      flush_outbox (self);
    }
}

static void
send_join (NatterSession       *self,
           const char          *name,
           GAsyncReadyCallback  callback,
           gpointer             user_data)
{
  GTask *task = g_task_new (self, self->cancellable, callback, user_data);
  JsonObject *payload = json_object_new ();
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;

  g_task_set_task_data (task, g_strdup (name), g_free);
  if (natter_chat_dm_room_members (name, &a, &b))
    {
      json_object_set_string_member (payload, "user", g_strcmp0 (a, self->user) == 0 ? b : a);
      request (self, "dm", payload, task, joined_done);
    }
  else
    {
      json_object_set_string_member (payload, "room", name);
      request (self, "join", payload, task, joined_done);
    }
}

static void
rooms_listed (NatterSession *self,
              GTask         *task,
              JsonObject    *ack)
{
  JsonArray *array = NULL;

  if (json_object_has_member (ack, "rooms") &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (ack, "rooms")))
    array = json_object_get_array_member (ack, "rooms");

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      JsonObject *info;
      const char *name;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      info = json_node_get_object (node);
      name = json_object_get_string_member_with_default (info, "name", NULL);
      /* Joined from another device while we were away. */
      if (name != NULL && natter_chat_room_name_is_valid (name) &&
          json_object_get_boolean_member_with_default (info, "joined", FALSE))
        ensure_room (self, name);
    }
  g_task_return_boolean (task, TRUE);
}

static void
rooms_then_join (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  NatterSession *self = NATTER_SESSION (object);
  guint generation = GPOINTER_TO_UINT (user_data);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_debug ("rooms: %s", error->message);
  if (generation != self->generation || self->socket == NULL)
    return;

  g_hash_table_iter_init (&iter, self->rooms_by_name);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (names, g_strdup (key));

  if (names->len == 0)
    {
      set_synced (self, TRUE);
      flush_outbox (self);
      return;
    }
  self->joins_outstanding = names->len;
  for (guint i = 0; i < names->len; i++)
    send_join (self, g_ptr_array_index (names, i), rejoin_finished, user_data);
}

static void
rejoin_rooms (NatterSession *self)
{
  GTask *task = g_task_new (self, self->cancellable, rooms_then_join,
                            GUINT_TO_POINTER (self->generation));

  set_synced (self, FALSE);
  request (self, "rooms", json_object_new (), task, rooms_listed);
}

/* ---- server events ---------------------------------------------------- */

static void
on_socket_event (NatterSocket  *socket,
                 const char    *name,
                 JsonNode      *arg,
                 NatterSession *self)
{
  JsonObject *object;

  if (g_strcmp0 (name, "message") == 0)
    {
      handle_live_message (self, arg);
      return;
    }
  if (arg == NULL || !JSON_NODE_HOLDS_OBJECT (arg))
    return;
  object = json_node_get_object (arg);

  if (g_strcmp0 (name, "typing") == 0)
    {
      NatterRoom *room = g_hash_table_lookup (self->rooms_by_name,
                                              json_object_get_string_member_with_default (object, "room", ""));
      const char *user = json_object_get_string_member_with_default (object, "user", NULL);

      if (room != NULL && user != NULL)
        _natter_room_set_user_typing (room, user,
                                      json_object_get_boolean_member_with_default (object, "typing", FALSE));
    }
  else if (g_strcmp0 (name, "presence") == 0)
    {
      const char *user = json_object_get_string_member_with_default (object, "user", NULL);

      if (user != NULL)
        _natter_member_set_online (get_member (self, user),
                                   json_object_get_boolean_member_with_default (object, "online", FALSE));
    }
  else if (g_strcmp0 (name, "member") == 0)
    {
      const char *room_name = json_object_get_string_member_with_default (object, "room", "");
      const char *user = json_object_get_string_member_with_default (object, "user", NULL);
      const char *action = json_object_get_string_member_with_default (object, "action", "");
      NatterRoom *room = g_hash_table_lookup (self->rooms_by_name, room_name);

      if (user == NULL)
        return;
      if (g_strcmp0 (user, self->user) == 0)
        {
          /* Another device of ours joined or left. */
          if (g_strcmp0 (action, "leave") == 0)
            forget_room (self, room_name);
          else if (room == NULL && natter_chat_room_name_is_valid (room_name))
            send_join (self, room_name, ignore_result, NULL);
          return;
        }
      if (room == NULL)
        return;
      if (g_strcmp0 (action, "join") == 0)
        {
          NatterMember *member = get_member (self, user);

          _natter_member_set_online (member, TRUE);
          _natter_room_add_member (room, member);
        }
      else if (g_strcmp0 (action, "leave") == 0)
        {
          _natter_room_remove_member (room, user);
          _natter_room_set_user_typing (room, user, FALSE);
        }
    }
}

void
_natter_session_receive_event (NatterSession *self,
                               const char    *name,
                               JsonNode      *arg)
{
  on_socket_event (self->socket, name, arg, self);
}

/* ---- outbox ----------------------------------------------------------- */

static void
outbox_forget (NatterSession *self,
               NatterMessage *message)
{
  GList *link = g_queue_find (&self->outbox, message);

  if (self->cache != NULL && _natter_message_get_outbox_id (message) != 0)
    natter_cache_outbox_remove (self->cache, _natter_message_get_outbox_id (message));
  _natter_message_set_outbox_id (message, 0);
  g_hash_table_remove (self->outbox_by_cid, natter_message_get_cid (message));
  if (link != NULL)
    {
      g_queue_delete_link (&self->outbox, link);
      g_object_unref (message);
    }
  recount_pending (self);
}

static NatterTimeline *
timeline_for (NatterSession *self,
              NatterMessage *message)
{
  NatterRoom *room = g_hash_table_lookup (self->rooms_by_name, natter_message_get_room (message));

  return room != NULL ? _natter_room_peek_timeline (room) : NULL;
}

static void
mark_failed (NatterSession *self,
             NatterMessage *message,
             const char    *why)
{
  if (self->cache != NULL)
    natter_cache_outbox_set_failed (self->cache, _natter_message_get_outbox_id (message), TRUE, why);
  _natter_message_set_failed (message, why);
  recount_pending (self);
  g_signal_emit (self, signals[MESSAGE_FAILED], 0, message);
}

static gboolean
flush_retry (gpointer data)
{
  NatterSession *self = data;

  self->flush_retry_id = 0;
  flush_outbox (self);
  return G_SOURCE_REMOVE;
}

typedef struct
{
  NatterSession *self;
  NatterMessage *message;
  guint          generation;
} SendData;

/* Puts one of our messages, just stored by the server, into the cache. */
static void
cache_acked (NatterSession *self,
             NatterMessage *message)
{
  g_autoptr(NatterChatMessage) chat = natter_chat_message_new ();

  chat->room = g_strdup (natter_message_get_room (message));
  chat->seq = natter_message_get_seq (message);
  chat->ts = natter_message_get_ts (message);
  chat->from = g_strdup (self->user);
  chat->cid = g_strdup (natter_message_get_cid (message));
  chat->text = g_strdup (natter_message_get_text (message));
  if (natter_message_get_file_id (message) != NULL)
    {
      chat->file = g_new0 (NatterChatFile, 1);
      chat->file->id = g_strdup (natter_message_get_file_id (message));
      chat->file->name = g_strdup (natter_message_get_file_name (message));
      chat->file->size = natter_message_get_file_size (message);
      chat->file->mime = g_strdup (natter_message_get_file_mime (message));
    }
  natter_cache_insert_message (self->cache, chat, self->user, NULL);
}

static void
send_acked (JsonNode     *node,
            const GError *error,
            gpointer      user_data)
{
  SendData *data = user_data;
  g_autoptr(NatterSession) self = data->self;
  g_autoptr(NatterMessage) message = data->message;
  g_autoptr(GError) ack_error = NULL;
  gboolean current = data->generation == self->generation && self->socket != NULL;

  g_free (data);
  if (self->in_flight == message)
    self->in_flight = NULL;

  if (error != NULL)
    {
      /* Lost to a disconnect: it stays pending and goes again after the
       * next connect. A timeout on a live link: send it again now; the
       * server keeps (from, cid) unique, so this cannot double it. */
      g_debug ("send %s: %s", natter_message_get_cid (message), error->message);
      if (current && g_error_matches (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_TIMED_OUT))
        flush_outbox (self);
      return;
    }

  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    {
      mark_failed (self, message, _("The server sent an answer that makes no sense"));
      flush_outbox (self);
      return;
    }

  if (natter_chat_ack_check (node, &ack_error))
    {
      JsonObject *ack = json_node_get_object (node);
      gint64 seq = json_object_get_int_member_with_default (ack, "seq", 0);
      gint64 ts = json_object_get_int_member_with_default (ack, "ts", 0);
      NatterTimeline *timeline = timeline_for (self, message);
      NatterRoom *room = g_hash_table_lookup (self->rooms_by_name, natter_message_get_room (message));

      if (natter_message_get_state (message) != NATTER_MESSAGE_STATE_SENT)
        {
          _natter_message_set_sent (message, seq, ts);
          if (timeline != NULL)
            _natter_timeline_message_sent (timeline, message);
        }
      if (room != NULL)
        {
          _natter_room_set_last_seq (room, seq);
          _natter_room_set_last_ts (room, ts);
        }
      /* Cached before it leaves the outbox: until its echo comes (and if
       * the link dies first, until the next catch-up) it would otherwise be
       * in neither, so a timeline made now would not show it and the echo
       * would count as a message received (tests/reliability/test-ack-echo.c). */
      if (self->cache != NULL && room != NULL)
        cache_acked (self, message);
      outbox_forget (self, message);
      g_signal_emit (self, signals[MESSAGE_ACKED], 0, message);
      flush_outbox (self);
      return;
    }

  if (g_error_matches (ack_error, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_RATE_LIMITED) ||
      g_error_matches (ack_error, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_INTERNAL))
    {
      /* Transient: keep the order, try the same message again shortly. */
      if (self->flush_retry_id == 0)
        self->flush_retry_id = g_timeout_add (TRANSIENT_RETRY_MS, flush_retry, self);
      return;
    }

  mark_failed (self, message, ack_error->message);
  flush_outbox (self);
}

static void
flush_outbox (NatterSession *self)
{
  NatterMessage *next = NULL;
  JsonObject *payload;
  SendData *data;

  if (self->in_flight != NULL || self->flush_retry_id != 0 || !self->rooms_ready ||
      self->socket == NULL || !natter_socket_is_connected (self->socket))
    return;

  for (GList *l = self->outbox.head; l != NULL && next == NULL; l = l->next)
    if (natter_message_get_state (l->data) == NATTER_MESSAGE_STATE_PENDING ||
        (natter_message_get_state (l->data) == NATTER_MESSAGE_STATE_SENT &&
         _natter_message_get_outbox_id (l->data) != 0))
      next = l->data;
  if (next == NULL)
    return;

  /* One at a time, in order: a transient refusal of one message must not
   * let a later one overtake it. */
  self->in_flight = next;
  payload = json_object_new ();
  json_object_set_string_member (payload, "room", natter_message_get_room (next));
  json_object_set_string_member (payload, "cid", natter_message_get_cid (next));
  json_object_set_string_member (payload, "text", natter_message_get_text (next));
  if (natter_message_get_file_id (next) != NULL)
    {
      JsonObject *file = json_object_new ();

      json_object_set_string_member (file, "id", natter_message_get_file_id (next));
      json_object_set_string_member (file, "name", natter_message_get_file_name (next));
      json_object_set_int_member (file, "size", natter_message_get_file_size (next));
      json_object_set_string_member (file, "mime", natter_message_get_file_mime (next));
      json_object_set_object_member (payload, "file", file);
    }
  data = g_new0 (SendData, 1);
  data->self = g_object_ref (self);
  data->message = g_object_ref (next);
  data->generation = self->generation;
  natter_socket_emit (self->socket, "send", payload, self->ack_timeout_ms, send_acked, data);
}

static NatterMessage *
queue_message (NatterSession        *self,
               NatterRoom           *room,
               const char           *text,
               const NatterChatFile *file,
               const char           *cid)
{
  g_autoptr(NatterChatMessage) chat = natter_chat_message_new ();
  g_autoptr(GError) error = NULL;
  NatterMessage *message;
  NatterTimeline *timeline;
  NatterChatError why;
  gint64 id = 0;

  chat->room = g_strdup (natter_room_get_name (room));
  chat->from = g_strdup (self->user);
  chat->cid = cid != NULL ? g_strdup (cid) : g_uuid_string_random ();
  chat->text = g_strdup (text);
  chat->ts = g_get_real_time () / 1000;
  chat->file = file != NULL ? natter_chat_file_copy (file) : NULL;

  message = _natter_message_new (chat, NATTER_MESSAGE_STATE_PENDING, self->user);

  /* Written before it is ever sent: a crash or a lost link cannot lose it. */
  if (self->cache != NULL)
    {
      id = natter_cache_outbox_add (self->cache, chat->room, chat->cid, chat->text, chat->ts, &error);
      if (id == 0)
        g_warning ("outbox: %s", error->message);
      else if (file != NULL)
        natter_cache_outbox_set_file (self->cache, id, file);
    }
  _natter_message_set_outbox_id (message, id);
  g_queue_push_tail (&self->outbox, g_object_ref (message));
  g_hash_table_insert (self->outbox_by_cid, g_strdup (chat->cid), message);

  if (!natter_chat_text_is_valid (text, strlen (text), &why))
    mark_failed (self, message, why == NATTER_CHAT_ERROR_TOO_LARGE
                                  ? _("The message is too long")
                                  : _("The message is not valid text"));

  timeline = _natter_room_peek_timeline (room);
  if (timeline != NULL)
    _natter_timeline_add_pending (timeline, message);
  recount_pending (self);
  flush_outbox (self);
  return message;
}

NatterMessage *
_natter_session_send_text (NatterSession *self,
                           NatterRoom    *room,
                           const char    *text)
{
  return queue_message (self, room, text, NULL, NULL);
}

/* ---- files (issue 5; NatterTransfer uploads, the outbox sends) ------------- */

NatterMessage *
natter_session_send_file_message (NatterSession *self,
                                  NatterRoom    *room,
                                  const char    *text,
                                  const char    *file_id,
                                  const char    *file_name,
                                  gint64         file_size,
                                  const char    *file_mime)
{
  NatterChatFile file = { (char *) file_id, (char *) file_name, file_size, (char *) file_mime };

  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);
  g_return_val_if_fail (NATTER_IS_ROOM (room), NULL);
  g_return_val_if_fail (file_id != NULL && file_name != NULL && file_mime != NULL, NULL);

  return queue_message (self, room, text != NULL ? text : "", &file, NULL);
}

NatterMessage *
_natter_session_send_file (NatterSession        *self,
                           NatterRoom           *room,
                           const char           *text,
                           const NatterChatFile *file,
                           const char           *cid)
{
  NatterMessage *queued;

  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);
  g_return_val_if_fail (cid != NULL, NULL);

  /* An upload resumed after a restart may have queued its message before
   * the restart: that one goes out, not a second. */
  queued = self->outbox_by_cid != NULL ? g_hash_table_lookup (self->outbox_by_cid, cid) : NULL;
  if (queued != NULL)
    return queued;
  return queue_message (self, room, text != NULL ? text : "", file, cid);
}

GListModel *
natter_session_get_transfers (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);
  return G_LIST_MODEL (self->transfers);
}

void
_natter_session_add_transfer (NatterSession  *self,
                              NatterTransfer *transfer)
{
  guint position;

  g_return_if_fail (NATTER_IS_SESSION (self));
  if (self->transfers != NULL && !g_list_store_find (self->transfers, transfer, &position))
    g_list_store_append (self->transfers, transfer);
}

void
_natter_session_remove_transfer (NatterSession  *self,
                                 NatterTransfer *transfer)
{
  guint position;

  g_return_if_fail (NATTER_IS_SESSION (self));
  if (self->transfers != NULL && g_list_store_find (self->transfers, transfer, &position))
    g_list_store_remove (self->transfers, position);
}

const char *
_natter_session_get_token (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);
  return self->token;
}

void
natter_session_retry_message (NatterSession *self,
                              NatterMessage *message)
{
  g_return_if_fail (NATTER_IS_SESSION (self));
  g_return_if_fail (NATTER_IS_MESSAGE (message));

  if (natter_message_get_state (message) != NATTER_MESSAGE_STATE_FAILED ||
      g_queue_find (&self->outbox, message) == NULL)
    return;
  if (self->cache != NULL)
    natter_cache_outbox_set_failed (self->cache, _natter_message_get_outbox_id (message), FALSE, NULL);
  _natter_message_set_pending (message);
  recount_pending (self);
  flush_outbox (self);
}

void
natter_session_discard_message (NatterSession *self,
                                NatterMessage *message)
{
  NatterTimeline *timeline;

  g_return_if_fail (NATTER_IS_SESSION (self));
  g_return_if_fail (NATTER_IS_MESSAGE (message));

  if (g_queue_find (&self->outbox, message) == NULL || self->in_flight == message)
    return;
  timeline = timeline_for (self, message);
  if (timeline != NULL && natter_message_get_state (message) != NATTER_MESSAGE_STATE_SENT)
    _natter_timeline_remove (timeline, message);
  outbox_forget (self, message);
}

GPtrArray *
_natter_session_get_outbox_for (NatterSession *self,
                                const char    *room)
{
  GPtrArray *list = g_ptr_array_new ();

  for (GList *l = self->outbox.head; l != NULL; l = l->next)
    if (g_strcmp0 (natter_message_get_room (l->data), room) == 0 &&
        natter_message_get_state (l->data) != NATTER_MESSAGE_STATE_SENT)
      g_ptr_array_add (list, l->data);
  return list;
}

void
_natter_session_send_typing (NatterSession *self,
                             NatterRoom    *room,
                             gboolean       typing)
{
  JsonObject *payload;

  if (self->socket == NULL || !natter_socket_is_connected (self->socket))
    return;
  payload = json_object_new ();
  json_object_set_string_member (payload, "room", natter_room_get_name (room));
  json_object_set_boolean_member (payload, "typing", typing);
  natter_socket_emit (self->socket, "typing", payload, 0, NULL, NULL);
}

void
_natter_session_mark_read (NatterSession *self,
                           NatterRoom    *room)
{
  gint64 seq = natter_room_get_last_seq (room);

  if (self->cache != NULL)
    {
      seq = MAX (seq, natter_cache_max_seq (self->cache, natter_room_get_name (room)));
      natter_cache_set_read_seq (self->cache, natter_room_get_name (room), seq);
      natter_cache_set_meta (self->cache, "last-room", natter_room_get_name (room));
    }
  _natter_room_set_read_seq (room, seq);
  _natter_room_set_counts (room, 0, 0);
}

NatterCache *
_natter_session_get_cache (NatterSession *self)
{
  return self->cache;
}

void
_natter_session_set_token (NatterSession *self,
                           const char    *token)
{
  g_free (self->token);
  self->token = g_strdup (token);
}

/* ---- public room verbs ------------------------------------------------ */

static void
join_request (NatterSession       *self,
              const char          *event,
              JsonObject          *payload,
              gpointer             source_tag,
              GCancellable        *cancellable,
              GAsyncReadyCallback  callback,
              gpointer             user_data)
{
  GTask *task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, source_tag);
  request (self, event, payload, task, joined_done);
}

void
natter_session_join_async (NatterSession       *self,
                           const char          *room,
                           gboolean             create,
                           const char          *topic,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  JsonObject *payload;

  g_return_if_fail (NATTER_IS_SESSION (self));
  g_return_if_fail (room != NULL);

  payload = json_object_new ();
  json_object_set_string_member (payload, "room", room);
  if (create)
    json_object_set_boolean_member (payload, "create", TRUE);
  if (topic != NULL)
    json_object_set_string_member (payload, "topic", topic);
  join_request (self, "join", payload, natter_session_join_async, cancellable, callback, user_data);
}

NatterRoom *
natter_session_join_finish (NatterSession  *self,
                            GAsyncResult   *result,
                            GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

void
natter_session_dm_async (NatterSession       *self,
                         const char          *user,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  JsonObject *payload;

  g_return_if_fail (NATTER_IS_SESSION (self));
  g_return_if_fail (user != NULL);

  payload = json_object_new ();
  json_object_set_string_member (payload, "user", user);
  join_request (self, "dm", payload, natter_session_dm_async, cancellable, callback, user_data);
}

NatterRoom *
natter_session_dm_finish (NatterSession  *self,
                          GAsyncResult   *result,
                          GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
left_done (NatterSession *self,
           GTask         *task,
           JsonObject    *ack)
{
  const char *name = g_task_get_task_data (task);

  forget_room (self, name);
  g_task_return_boolean (task, TRUE);
}

void
natter_session_leave_async (NatterSession       *self,
                            NatterRoom          *room,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  GTask *task;
  JsonObject *payload;

  g_return_if_fail (NATTER_IS_SESSION (self));
  g_return_if_fail (NATTER_IS_ROOM (room));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_session_leave_async);
  g_task_set_task_data (task, g_strdup (natter_room_get_name (room)), g_free);
  payload = json_object_new ();
  json_object_set_string_member (payload, "room", natter_room_get_name (room));
  request (self, "leave", payload, task, left_done);
}

gboolean
natter_session_leave_finish (NatterSession  *self,
                             GAsyncResult   *result,
                             GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
list_rooms_done (NatterSession *self,
                 GTask         *task,
                 JsonObject    *ack)
{
  GListStore *store = g_list_store_new (NATTER_TYPE_ROOM);
  JsonArray *array = NULL;

  if (json_object_has_member (ack, "rooms") &&
      JSON_NODE_HOLDS_ARRAY (json_object_get_member (ack, "rooms")))
    array = json_object_get_array_member (ack, "rooms");

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);
      JsonObject *info;
      const char *name;
      NatterRoom *room;
      g_autoptr(NatterRoom) other = NULL;

      if (!JSON_NODE_HOLDS_OBJECT (node))
        continue;
      info = json_node_get_object (node);
      name = json_object_get_string_member_with_default (info, "name", NULL);
      if (name == NULL || !natter_chat_room_name_is_valid (name))
        continue;
      room = g_hash_table_lookup (self->rooms_by_name, name);
      if (room == NULL)
        {
          other = _natter_room_new (self, name, self->user);
          room = other;
          _natter_room_set_joined (room, json_object_get_boolean_member_with_default (info, "joined", FALSE));
        }
      _natter_room_set_topic (room, json_object_get_string_member_with_default (info, "topic", ""));
      _natter_room_set_last_seq (room, json_object_get_int_member_with_default (info, "last_seq", 0));
      if (json_object_has_member (info, "members") &&
          JSON_NODE_HOLDS_VALUE (json_object_get_member (info, "members")))
        _natter_room_set_n_members (room, json_object_get_int_member (info, "members"));
      g_list_store_append (store, room);
    }
  g_task_return_pointer (task, store, g_object_unref);
}

void
natter_session_list_rooms_async (NatterSession       *self,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  GTask *task;

  g_return_if_fail (NATTER_IS_SESSION (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_session_list_rooms_async);
  request (self, "rooms", json_object_new (), task, list_rooms_done);
}

GListModel *
natter_session_list_rooms_finish (NatterSession  *self,
                                  GAsyncResult   *result,
                                  GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  return g_task_propagate_pointer (G_TASK (result), error);
}

/* ---- sign-in ---------------------------------------------------------- */

typedef struct
{
  gboolean  registering;
  char     *password;
} LoginData;

static void
login_data_free (LoginData *data)
{
  if (data->password != NULL)
    memset (data->password, 0, strlen (data->password));
  g_free (data->password);
  g_free (data);
}

static void
token_stored (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  if (!secret_password_store_finish (result, &error))
    {
      g_task_return_new_error (task, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_NO_SECRET_SERVICE,
                               _("Signed in, but the token cannot be kept: no Secret Service is "
                                 "available (%s). Start a keyring such as gnome-keyring, or set "
                                 "NATTER_PASSWORD to sign in for one run without storing anything."),
                               error->message);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
login_response (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterSession *self = g_task_get_source_object (task);
  LoginData *data = g_task_get_task_data (task);
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (object), result);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *object_ = NULL;
  const char *token = NULL;
  const char *server_message = NULL;
  guint status;

  body = soup_session_send_and_read_finish (SOUP_SESSION (object), result, &error);
  if (body == NULL && _natter_certificate_error_matches (error))
    {
      g_task_return_error (task, _natter_certificate_error_new (self->server,
                                                                soup_message_get_tls_peer_certificate_errors (msg)));
      return;
    }
  if (body == NULL)
    {
      g_task_return_new_error (task, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNREACHABLE,
                               _("Cannot reach the server at %s: %s"), self->server, error->message);
      return;
    }

  status = soup_message_get_status (msg);
  if (json_parser_load_from_data (parser, g_bytes_get_data (body, NULL), g_bytes_get_size (body), NULL) &&
      JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      object_ = json_node_get_object (json_parser_get_root (parser));
      token = json_object_get_string_member_with_default (object_, "token", NULL);
      server_message = json_object_get_string_member_with_default (object_, "message", NULL);
    }

  if (status == SOUP_STATUS_UNAUTHORIZED)
    {
      g_task_return_new_error (task, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_BAD_CREDENTIALS,
                               _("Wrong user name or password"));
      return;
    }
  if (status == SOUP_STATUS_CONFLICT)
    {
      g_task_return_new_error (task, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_USER_TAKEN,
                               _("The user name “%s” is taken"), self->user);
      return;
    }
  if (!SOUP_STATUS_IS_SUCCESSFUL (status) || token == NULL)
    {
      if (SOUP_STATUS_IS_SUCCESSFUL (status))
        server_message = _("no token in the answer");
      g_task_return_new_error (task, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_BAD_RESPONSE,
                               _("The server refused: %s (HTTP %u)"),
                               server_message != NULL ? server_message : soup_message_get_reason_phrase (msg),
                               status);
      return;
    }

  g_free (self->token);
  self->token = g_strdup (token);
  (void) data;

  /* Signed out while running (a refused token): the new one goes in now. */
  if (self->started && self->state == NATTER_SESSION_STATE_SIGNED_OUT)
    connect_now (self);

  if (self->token_store == NATTER_TOKEN_STORE_MEMORY)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  {
    g_autofree char *label = g_strdup_printf (_("Natter sign-in for %s on %s"), self->user, self->server);
    secret_password_store (token_schema (), SECRET_COLLECTION_DEFAULT, label, token,
                           g_task_get_cancellable (task), token_stored, g_object_ref (task),
                           "server", self->server, "user", self->user, NULL);
  }
}

static void
post_credentials (NatterSession       *self,
                  gboolean             registering,
                  const char          *password,
                  gpointer             source_tag,
                  GCancellable        *cancellable,
                  GAsyncReadyCallback  callback,
                  gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autofree char *url = NULL;
  g_autofree char *json = NULL;
  LoginData *data;
  gsize len;

  g_task_set_source_tag (task, source_tag);
  data = g_new0 (LoginData, 1);
  data->registering = registering;
  data->password = g_strdup (password);
  g_task_set_task_data (task, data, (GDestroyNotify) login_data_free);

  url = g_strconcat (self->server, g_str_has_suffix (self->server, "/") ? "" : "/",
                     registering ? "api/v1/register" : "api/v1/login", NULL);
  msg = soup_message_new (SOUP_METHOD_POST, url);
  if (msg == NULL)
    {
      g_task_return_new_error (task, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNREACHABLE,
                               _("Not a valid server address: %s"), self->server);
      return;
    }

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "user");
  json_builder_add_string_value (builder, self->user);
  json_builder_set_member_name (builder, "password");
  json_builder_add_string_value (builder, password);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json = json_generator_to_data (generator, &len);
  body = g_bytes_new_take (g_steal_pointer (&json), len);
  soup_message_set_request_body_from_bytes (msg, "application/json", body);

  soup_session_send_and_read_async (self->soup, msg, G_PRIORITY_DEFAULT, cancellable,
                                    login_response, g_steal_pointer (&task));
}

void
natter_session_login_async (NatterSession       *self,
                            const char          *password,
                            GCancellable        *cancellable,
                            GAsyncReadyCallback  callback,
                            gpointer             user_data)
{
  g_return_if_fail (NATTER_IS_SESSION (self));
  g_return_if_fail (password != NULL);

  post_credentials (self, FALSE, password, natter_session_login_async, cancellable, callback, user_data);
}

gboolean
natter_session_login_finish (NatterSession  *self,
                             GAsyncResult   *result,
                             GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
natter_session_register_async (NatterSession       *self,
                               const char          *password,
                               GCancellable        *cancellable,
                               GAsyncReadyCallback  callback,
                               gpointer             user_data)
{
  g_return_if_fail (NATTER_IS_SESSION (self));
  g_return_if_fail (password != NULL);

  post_credentials (self, TRUE, password, natter_session_register_async, cancellable, callback, user_data);
}

gboolean
natter_session_register_finish (NatterSession  *self,
                                GAsyncResult   *result,
                                GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
token_cleared (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;

  secret_password_clear_finish (result, &error);
  if (error != NULL)
    g_debug ("clearing the token: %s", error->message);
  g_task_return_boolean (task, TRUE);
}

static void
logout_response (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterSession *self = g_task_get_source_object (task);
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (object), result, NULL);

  /* Whatever the server says, this device forgets the token. */
  if (self->token_store == NATTER_TOKEN_STORE_SECRET_SERVICE)
    secret_password_clear (token_schema (), NULL, token_cleared, g_steal_pointer (&task),
                           "server", self->server, "user", self->user, NULL);
  else
    g_task_return_boolean (task, TRUE);
}

void
natter_session_logout_async (NatterSession       *self,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *url = NULL;
  g_autofree char *bearer = NULL;

  g_return_if_fail (NATTER_IS_SESSION (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_session_logout_async);

  url = g_strconcat (self->server, g_str_has_suffix (self->server, "/") ? "" : "/",
                     "api/v1/logout", NULL);
  msg = soup_message_new (SOUP_METHOD_POST, url);
  natter_session_stop (self);
  set_state (self, NATTER_SESSION_STATE_SIGNED_OUT);
  if (msg == NULL || self->token == NULL)
    {
      g_clear_pointer (&self->token, g_free);
      g_task_return_boolean (task, TRUE);
      return;
    }
  bearer = g_strdup_printf ("Bearer %s", self->token);
  g_clear_pointer (&self->token, g_free);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization", bearer);
  soup_session_send_and_read_async (self->soup, msg, G_PRIORITY_DEFAULT, cancellable,
                                    logout_response, g_steal_pointer (&task));
}

gboolean
natter_session_logout_finish (NatterSession  *self,
                              GAsyncResult   *result,
                              GError        **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  return g_task_propagate_boolean (G_TASK (result), error);
}

/* ---- start / stop ----------------------------------------------------- */

static char *
default_cache_path (NatterSession *self)
{
  g_autoptr(GUri) uri = g_uri_parse (self->server, G_URI_FLAGS_NONE, NULL);
  g_autofree char *host = NULL;

  if (uri != NULL && g_uri_get_host (uri) != NULL)
    {
      if (g_uri_get_port (uri) > 0)
        host = g_strdup_printf ("%s_%d", g_uri_get_host (uri), g_uri_get_port (uri));
      else
        host = g_strdup (g_uri_get_host (uri));
    }
  else
    host = g_uri_escape_string (self->server, NULL, FALSE);
  /* Keep the folder name a plain file name. */
  g_strdelimit (host, "/\\:", '_');
  return g_build_filename (g_get_user_data_dir (), "natter", host, self->user, "cache.db", NULL);
}

static void
load_cache (NatterSession *self)
{
  g_autoptr(GPtrArray) rooms = natter_cache_list_rooms (self->cache);
  g_autoptr(GPtrArray) outbox = natter_cache_outbox_list (self->cache);

  for (guint i = 0; i < rooms->len; i++)
    {
      NatterCacheRoom *cached = g_ptr_array_index (rooms, i);

      ensure_room (self, cached->name);
    }

  for (guint i = 0; i < outbox->len; i++)
    {
      NatterOutboxItem *item = g_ptr_array_index (outbox, i);
      g_autoptr(NatterChatMessage) chat = natter_chat_message_new ();
      NatterMessage *message;

      chat->room = g_strdup (item->room);
      chat->from = g_strdup (self->user);
      chat->cid = g_strdup (item->cid);
      chat->text = g_strdup (item->text);
      chat->ts = item->created;
      chat->file = item->file != NULL ? natter_chat_file_copy (item->file) : NULL;
      message = _natter_message_new (chat, NATTER_MESSAGE_STATE_PENDING, self->user);
      _natter_message_set_outbox_id (message, item->id);
      if (item->failed)
        _natter_message_set_failed (message, item->error);
      g_queue_push_tail (&self->outbox, message);
      g_hash_table_insert (self->outbox_by_cid, g_strdup (item->cid), message);
    }
  recount_pending (self);
}

static void
token_found (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  NatterSession *self;
  g_autoptr(GError) error = NULL;
  g_autofree char *token = secret_password_lookup_finish (result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = NATTER_SESSION (user_data);
  if (!self->started)
    return;
  if (error != NULL)
    {
      g_autofree char *message =
        g_strdup_printf (_("No Secret Service is available to read the sign-in token (%s)"),
                         error->message);
      set_last_error (self, message);
      set_state (self, NATTER_SESSION_STATE_SIGNED_OUT);
      return;
    }
  if (token == NULL)
    {
      set_last_error (self, _("Not signed in"));
      set_state (self, NATTER_SESSION_STATE_SIGNED_OUT);
      return;
    }
  self->token = g_steal_pointer (&token);
  connect_now (self);
}

gboolean
natter_session_start (NatterSession  *self,
                      GError        **error)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), FALSE);

  if (self->cache == NULL)
    {
      if (self->cache_path == NULL)
        self->cache_path = default_cache_path (self);
      self->cache = natter_cache_open (self->cache_path, error);
      if (self->cache == NULL)
        return FALSE;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CACHE_PATH]);
      load_cache (self);
      /* After the outbox: an upload whose message is queued already is
       * not sent twice. They wait for the session to be online. */
      _natter_transfer_restore_uploads (self);
    }

  if (self->started)
    {
      if (self->state == NATTER_SESSION_STATE_SIGNED_OUT && self->token != NULL)
        connect_now (self);
      return TRUE;
    }
  self->started = TRUE;

  if (self->monitor == NULL)
    {
      self->monitor = g_object_ref (g_network_monitor_get_default ());
      g_signal_connect_object (self->monitor, "network-changed",
                               G_CALLBACK (on_network_changed), self, 0);
    }
  if (self->system_bus == NULL && g_getenv ("NATTER_NO_SYSTEM_BUS") == NULL)
    g_bus_get (G_BUS_TYPE_SYSTEM, self->cancellable, system_bus_cb, self);

  if (self->token != NULL)
    connect_now (self);
  else if (self->token_store == NATTER_TOKEN_STORE_SECRET_SERVICE)
    {
      set_state (self, NATTER_SESSION_STATE_CONNECTING);
      secret_password_lookup (token_schema (), self->cancellable, token_found, self,
                              "server", self->server, "user", self->user, NULL);
    }
  else
    {
      set_last_error (self, _("Not signed in"));
      set_state (self, NATTER_SESSION_STATE_SIGNED_OUT);
    }
  return TRUE;
}

void
natter_session_stop (NatterSession *self)
{
  g_return_if_fail (NATTER_IS_SESSION (self));

  self->started = FALSE;
  cancel_retry (self);
  g_clear_handle_id (&self->flush_retry_id, g_source_remove);
  drop_socket (self);
  /* What was received is kept, as if it had come a moment earlier. */
  flush_live (self);
  if (self->state != NATTER_SESSION_STATE_SIGNED_OUT)
    set_state (self, NATTER_SESSION_STATE_DISCONNECTED);
}

/* ---- GObject ---------------------------------------------------------- */

static void
natter_session_dispose (GObject *object)
{
  NatterSession *self = NATTER_SESSION (object);

  self->started = FALSE;
  cancel_retry (self);
  g_clear_handle_id (&self->flush_retry_id, g_source_remove);
  drop_socket (self);
  /* Not cached: the catch-up of the next session fetches them. */
  g_clear_handle_id (&self->live_flush_id, g_source_remove);
  g_clear_pointer (&self->live, g_ptr_array_unref);
  g_cancellable_cancel (self->cancellable);
  /* Uploads stop here and stay in the cache: the next session resumes them. */
  if (self->transfers != NULL)
    {
      while (g_list_model_get_n_items (G_LIST_MODEL (self->transfers)) > 0)
        {
          g_autoptr(NatterTransfer) transfer = g_list_model_get_item (G_LIST_MODEL (self->transfers), 0);

          g_list_store_remove (self->transfers, 0);
          _natter_transfer_detach (transfer);
        }
    }
  if (self->system_bus != NULL && self->sleep_subscription != 0)
    g_dbus_connection_signal_unsubscribe (self->system_bus, self->sleep_subscription);
  self->sleep_subscription = 0;
  g_clear_object (&self->system_bus);
  g_clear_object (&self->monitor);
  if (self->rooms != NULL)
    g_list_store_remove_all (self->rooms);
  g_clear_pointer (&self->rooms_by_name, g_hash_table_unref);
  g_clear_pointer (&self->outbox_by_cid, g_hash_table_unref);
  g_queue_clear_full (&self->outbox, g_object_unref);
  g_clear_pointer (&self->members, g_hash_table_unref);
  g_clear_pointer (&self->left, g_hash_table_unref);
  g_clear_object (&self->soup);
  G_OBJECT_CLASS (natter_session_parent_class)->dispose (object);
}

static void
natter_session_finalize (GObject *object)
{
  NatterSession *self = NATTER_SESSION (object);

  g_clear_object (&self->rooms);
  g_clear_object (&self->transfers);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->cache, natter_cache_free);
  natter_backoff_clear (&self->backoff);
  g_clear_pointer (&self->server, g_free);
  g_clear_pointer (&self->user, g_free);
  g_clear_pointer (&self->cache_path, g_free);
  g_clear_pointer (&self->token, g_free);
  g_clear_pointer (&self->last_error, g_free);
  G_OBJECT_CLASS (natter_session_parent_class)->finalize (object);
}

static void
natter_session_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  NatterSession *self = NATTER_SESSION (object);

  switch (prop_id)
    {
    case PROP_SERVER: g_value_set_string (value, self->server); break;
    case PROP_USER: g_value_set_string (value, self->user); break;
    case PROP_TOKEN_STORE: g_value_set_enum (value, self->token_store); break;
    case PROP_CACHE_PATH: g_value_set_string (value, self->cache_path); break;
    case PROP_STATE: g_value_set_enum (value, self->state); break;
    case PROP_RETRY_AT: g_value_set_int64 (value, self->retry_at); break;
    case PROP_PENDING: g_value_set_uint (value, self->pending); break;
    case PROP_ROOMS: g_value_set_object (value, self->rooms); break;
    case PROP_LAST_ERROR: g_value_set_string (value, self->last_error); break;
    case PROP_SYNCED: g_value_set_boolean (value, self->rooms_ready); break;
    case PROP_TLS_DATABASE: g_value_set_object (value, soup_session_get_tls_database (self->soup)); break;
    case PROP_CERTIFICATE_UNTRUSTED: g_value_set_boolean (value, self->certificate_untrusted); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_session_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  NatterSession *self = NATTER_SESSION (object);

  switch (prop_id)
    {
    case PROP_SERVER:
      g_free (self->server);
      self->server = g_value_dup_string (value);
      break;
    case PROP_USER:
      g_free (self->user);
      self->user = g_value_dup_string (value);
      break;
    case PROP_TOKEN_STORE:
      self->token_store = g_value_get_enum (value);
      break;
    case PROP_CACHE_PATH:
      g_free (self->cache_path);
      self->cache_path = g_value_dup_string (value);
      break;
    case PROP_TLS_DATABASE:
      natter_session_set_tls_database (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_session_class_init (NatterSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;
  const GParamFlags co = G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = natter_session_dispose;
  object_class->finalize = natter_session_finalize;
  object_class->get_property = natter_session_get_property;
  object_class->set_property = natter_session_set_property;

  properties[PROP_SERVER] = g_param_spec_string ("server", NULL, NULL, NULL, co);
  properties[PROP_USER] = g_param_spec_string ("user", NULL, NULL, NULL, co);
  properties[PROP_TOKEN_STORE] = g_param_spec_enum ("token-store", NULL, NULL, NATTER_TYPE_TOKEN_STORE,
                                                    NATTER_TOKEN_STORE_SECRET_SERVICE, co);
  properties[PROP_CACHE_PATH] = g_param_spec_string ("cache-path", NULL, NULL, NULL,
                                                     co | G_PARAM_EXPLICIT_NOTIFY);
  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, NATTER_TYPE_SESSION_STATE,
                                              NATTER_SESSION_STATE_DISCONNECTED, ro);
  properties[PROP_RETRY_AT] = g_param_spec_int64 ("retry-at", NULL, NULL, 0, G_MAXINT64, 0, ro);
  properties[PROP_PENDING] = g_param_spec_uint ("pending", NULL, NULL, 0, G_MAXUINT, 0, ro);
  properties[PROP_ROOMS] = g_param_spec_object ("rooms", NULL, NULL, G_TYPE_LIST_MODEL, ro);
  properties[PROP_LAST_ERROR] = g_param_spec_string ("last-error", NULL, NULL, NULL, ro);
  properties[PROP_SYNCED] = g_param_spec_boolean ("synced", NULL, NULL, FALSE, ro);
  properties[PROP_TLS_DATABASE] = g_param_spec_object ("tls-database", NULL, NULL, G_TYPE_TLS_DATABASE,
                                                       G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY |
                                                       G_PARAM_STATIC_STRINGS);
  properties[PROP_CERTIFICATE_UNTRUSTED] = g_param_spec_boolean ("certificate-untrusted", NULL, NULL,
                                                                 FALSE, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[MESSAGE_RECEIVED] =
    g_signal_new ("message-received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, NATTER_TYPE_ROOM, NATTER_TYPE_MESSAGE);
  signals[MESSAGE_ACKED] =
    g_signal_new ("message-acked", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, NATTER_TYPE_MESSAGE);
  signals[MESSAGE_FAILED] =
    g_signal_new ("message-failed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, NATTER_TYPE_MESSAGE);
}

static void
natter_session_init (NatterSession *self)
{
  self->ack_timeout_ms = NATTER_SESSION_DEFAULT_ACK_TIMEOUT_MS;
  self->soup = _natter_server_soup_session_new (NULL, 0);
  self->cancellable = g_cancellable_new ();
  self->rooms = g_list_store_new (NATTER_TYPE_ROOM);
  self->transfers = g_list_store_new (NATTER_TYPE_TRANSFER);
  self->rooms_by_name = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->left = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->outbox_by_cid = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_queue_init (&self->outbox);
  natter_backoff_init (&self->backoff);
  _natter_session_set_timer (self, NULL, NULL, NULL);
}

NatterSession *
natter_session_new (const char *server,
                    const char *user)
{
  return natter_session_new_full (server, user, NATTER_TOKEN_STORE_SECRET_SERVICE, NULL);
}

NatterSession *
natter_session_new_full (const char       *server,
                         const char       *user,
                         NatterTokenStore  token_store,
                         const char       *cache_path)
{
  g_return_val_if_fail (server != NULL, NULL);
  g_return_val_if_fail (user != NULL, NULL);

  return g_object_new (NATTER_TYPE_SESSION,
                       "server", server,
                       "user", user,
                       "token-store", token_store,
                       "cache-path", cache_path,
                       NULL);
}

const char *
natter_session_get_server (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);
  return self->server;
}

const char *
natter_session_get_user (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);
  return self->user;
}

NatterTokenStore
natter_session_get_token_store (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), NATTER_TOKEN_STORE_SECRET_SERVICE);
  return self->token_store;
}

const char *
natter_session_get_cache_path (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);
  return self->cache_path;
}

NatterSessionState
natter_session_get_state (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), NATTER_SESSION_STATE_DISCONNECTED);
  return self->state;
}

gint64
natter_session_get_retry_at (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), 0);
  return self->retry_at;
}

gboolean
natter_session_get_synced (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), FALSE);
  return self->rooms_ready;
}

guint
natter_session_get_pending (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), 0);
  return self->pending;
}

GListModel *
natter_session_get_rooms (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);
  return G_LIST_MODEL (self->rooms);
}

NatterRoom *
natter_session_lookup_room (NatterSession *self,
                            const char    *name)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);
  return g_hash_table_lookup (self->rooms_by_name, name);
}

NatterRoom *
natter_session_get_last_room (NatterSession *self)
{
  g_autofree char *name = NULL;

  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);

  if (self->cache == NULL)
    return NULL;
  name = natter_cache_dup_meta (self->cache, "last-room");
  return name != NULL ? g_hash_table_lookup (self->rooms_by_name, name) : NULL;
}

const char *
natter_session_get_last_error (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);
  return self->last_error;
}

gboolean
natter_session_get_certificate_untrusted (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), FALSE);
  return self->certificate_untrusted;
}

GTlsDatabase *
natter_session_get_tls_database (NatterSession *self)
{
  g_return_val_if_fail (NATTER_IS_SESSION (self), NULL);
  return soup_session_get_tls_database (self->soup);
}

void
natter_session_set_tls_database (NatterSession *self,
                                 GTlsDatabase  *database)
{
  g_return_if_fail (NATTER_IS_SESSION (self));
  g_return_if_fail (database == NULL || G_IS_TLS_DATABASE (database));

  if (_natter_server_soup_session_set_tls_database (self->soup, database))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TLS_DATABASE]);
}

void
natter_session_set_ack_timeout (NatterSession *self,
                                guint          timeout_ms)
{
  g_return_if_fail (NATTER_IS_SESSION (self));
  self->ack_timeout_ms = timeout_ms > 0 ? timeout_ms : NATTER_SESSION_DEFAULT_ACK_TIMEOUT_MS;
}
