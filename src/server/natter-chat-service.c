/* natter-chat-service.c: see the header. Every handler checks its input
 * with natter-chat.h's rules, answers exactly one ack object and only then
 * broadcasts, so that a sender sees its ack before its own message event
 * never matters for correctness (both carry seq). */
#include "natter-chat-service.h"

#include "natter-auth.h"

#define DEFAULT_HISTORY_LIMIT 50

/* Sends wait for the next group commit at most until this many are
 * queued: bounds the memory and the latency of one batch under load. */
#define MAX_SEND_BATCH 512

/* A validated send waiting for its batch to be committed. */
typedef struct
{
  NatterConnection  *connection;
  gint64             ack_id;
  NatterChatMessage *message;
} PendingSend;

static void
pending_send_free (PendingSend *pending)
{
  g_clear_object (&pending->connection);
  g_clear_pointer (&pending->message, natter_chat_message_free);
  g_free (pending);
}

/* A join or leave, committed without waiting for the disk: answered, and
 * told to the room, by the group commit once its fsync is done, in commit
 * order with the sends around it. */
typedef struct
{
  NatterConnection *connection;
  gint64            ack_id;
  char             *user;
  char             *room;
  gboolean          joined;   /* else left */
  gboolean          changed;  /* FALSE: it was so already; nothing to tell the room */
  GPtrArray        *members;  /* the room's members right after the change */
} MembershipChange;

static void
membership_change_free (MembershipChange *change)
{
  g_clear_pointer (&change->members, g_ptr_array_unref);
  g_clear_object (&change->connection);
  g_free (change->user);
  g_free (change->room);
  g_free (change);
}

/* The sends of one group commit, with what became of each; or, with no
 * sends, one join or leave. Who hears of it is taken at the commit, not
 * when it is answered after the fsync: a join or leave committed in
 * between must not change who gets a message committed before it. */
typedef struct
{
  GPtrArray            *sends;    /* PendingSend */
  NatterStoreAddResult *results;
  GHashTable           *members;  /* room → its members at the commit */
  MembershipChange     *change;
} Batch;

static void
batch_free (Batch *batch)
{
  g_clear_pointer (&batch->members, g_hash_table_unref);
  g_ptr_array_unref (batch->sends);
  g_free (batch->results);
  g_clear_pointer (&batch->change, membership_change_free);
  g_free (batch);
}

struct _NatterChatService
{
  GObject             parent_instance;

  NatterStore        *store;
  NatterHub          *hub;
  NatterMetrics      *metrics;
  NatterRateLimiter  *send_limiter;   /* per user, on send */
  NatterRateLimiter  *event_limiter;  /* per connection, on every event */
  NatterRateLimiter  *typing_limiter; /* per user, on typing */
  NatterUploads      *uploads;
  gboolean            fast_hashing;

  GPtrArray          *pending;        /* PendingSend, for the next commit */
  guint               flush_id;
  GPtrArray          *unsynced;       /* Batch: committed, waiting for a sync */
  GPtrArray          *syncing;        /* Batch: committed, in the running sync */
  gboolean            sync_running;
};

G_DEFINE_FINAL_TYPE (NatterChatService, natter_chat_service, G_TYPE_OBJECT)

static void
natter_chat_service_finalize (GObject *object)
{
  NatterChatService *self = NATTER_CHAT_SERVICE (object);

  /* Sends still queued are neither stored nor acked: their clients send
   * them again (same cid) after reconnecting. natter_server_stop()
   * flushes before it gets here. */
  g_clear_handle_id (&self->flush_id, g_source_remove);
  g_clear_pointer (&self->pending, g_ptr_array_unref);
  g_clear_pointer (&self->unsynced, g_ptr_array_unref);
  g_clear_pointer (&self->syncing, g_ptr_array_unref);
  g_clear_object (&self->store);
  g_clear_object (&self->hub);
  g_clear_object (&self->uploads);
  g_clear_pointer (&self->send_limiter, natter_rate_limiter_free);
  g_clear_pointer (&self->event_limiter, natter_rate_limiter_free);
  g_clear_pointer (&self->typing_limiter, natter_rate_limiter_free);

  G_OBJECT_CLASS (natter_chat_service_parent_class)->finalize (object);
}

static void
natter_chat_service_class_init (NatterChatServiceClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = natter_chat_service_finalize;
}

static void
natter_chat_service_init (NatterChatService *self)
{
  self->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) pending_send_free);
  self->unsynced = g_ptr_array_new_with_free_func ((GDestroyNotify) batch_free);
  self->syncing = g_ptr_array_new_with_free_func ((GDestroyNotify) batch_free);
}

NatterChatService *
natter_chat_service_new (NatterStore              *store,
                         NatterHub                *hub,
                         const NatterServerConfig *config,
                         NatterMetrics            *metrics)
{
  NatterChatService *self = g_object_new (NATTER_TYPE_CHAT_SERVICE, NULL);

  self->store = g_object_ref (store);
  self->hub = g_object_ref (hub);
  self->metrics = metrics;
  self->send_limiter = natter_rate_limiter_new (config->send_rate, config->send_burst);
  self->event_limiter = natter_rate_limiter_new (config->event_rate, config->event_burst);
  self->typing_limiter = natter_rate_limiter_new (NATTER_TYPING_RATE, NATTER_TYPING_BURST);
  self->fast_hashing = config->fast_password_hashing;
  return self;
}

/* ---- helpers ------------------------------------------------------------------ */

typedef struct
{
  NatterChatService *self;
  NatterConnection  *connection;
  const char        *user;
  gint64             ack_id;
  JsonObject        *args;
} Request;

static void
reply_ok (Request    *req,
          JsonObject *ok)
{
  natter_connection_send_ack (req->connection, "/", req->ack_id, ok);
}

static void
reply_error (Request         *req,
             NatterChatError  code,
             const char      *message)
{
  g_autoptr(JsonObject) ack = natter_chat_ack_error_new (code, message);

  natter_connection_send_ack (req->connection, "/", req->ack_id, ack);
}

static char *
encode_event_frame (const char *name,
                    JsonObject *payload)
{
  g_autoptr(JsonArray) args = json_array_new ();
  g_autoptr(NatterSioPacket) packet = NULL;
  g_autofree char *text = NULL;

  json_array_add_object_element (args, json_object_ref (payload));
  packet = natter_sio_packet_new_event ("/", -1, name, args);
  text = natter_sio_packet_encode (packet);
  return natter_eio_packet_encode (NATTER_EIO_MESSAGE, text);
}

static guint
publish_to_room (NatterChatService *self,
                 const char        *room,
                 const char        *event,
                 JsonObject        *payload,
                 const char        *except_user)
{
  g_autoptr(GPtrArray) members = natter_store_list_members (self->store, room);
  g_autoptr(GPtrArray) others = NULL;
  g_autofree char *frame = encode_event_frame (event, payload);
  guint i;

  if (except_user == NULL)
    return natter_hub_publish (self->hub, members, frame, NULL);

  /* The store's list is shared: the others go into a list of our own. */
  others = g_ptr_array_sized_new (members->len);
  for (i = 0; i < members->len; i++)
    if (!g_str_equal (g_ptr_array_index (members, i), except_user))
      g_ptr_array_add (others, g_ptr_array_index (members, i));
  return natter_hub_publish (self->hub, others, frame, NULL);
}

/* Tells @members (NULL: the room's members now) that @user joined or
 * left @room, and @also_to, a leaver, who is no longer one of them. */
static void
publish_member (NatterChatService *self,
                GPtrArray         *members,
                const char        *room,
                const char        *user,
                const char        *action,
                const char        *also_to)
{
  g_autoptr(JsonObject) event = json_object_new ();
  g_autoptr(GPtrArray) to = NULL;
  g_autofree char *frame = NULL;

  json_object_set_string_member (event, "room", room);
  json_object_set_string_member (event, "user", user);
  json_object_set_string_member (event, "action", action);
  frame = encode_event_frame ("member", event);
  to = members != NULL ? g_ptr_array_ref (members) : natter_store_list_members (self->store, room);
  natter_hub_publish (self->hub, to, frame, NULL);

  if (also_to != NULL)
    {
      g_autoptr(GPtrArray) one = g_ptr_array_new ();

      g_ptr_array_add (one, (gpointer) also_to);
      natter_hub_publish (self->hub, one, frame, NULL);
    }
}

/* Presence goes to the people who share a room with @user: whether
 * someone is online is not everybody's business. */
static void
publish_presence (NatterChatService *self,
                  const char        *user,
                  gboolean           online,
                  NatterConnection  *except)
{
  g_autoptr(JsonObject) event = json_object_new ();
  g_autoptr(GPtrArray) peers = natter_store_list_peers (self->store, user);
  g_autofree char *frame = NULL;

  json_object_set_string_member (event, "user", user);
  json_object_set_boolean_member (event, "online", online);
  frame = encode_event_frame ("presence", event);
  natter_hub_publish (self->hub, peers, frame, except);
}

static JsonObject *
room_to_json (NatterChatService     *self,
              const NatterStoreRoom *room)
{
  JsonObject *object = json_object_new ();
  g_autoptr(GPtrArray) members = natter_store_list_members (self->store, room->name);
  JsonArray *array = json_array_new ();
  guint i;

  for (i = 0; i < members->len; i++)
    json_array_add_string_element (array, g_ptr_array_index (members, i));

  json_object_set_string_member (object, "name", room->name);
  json_object_set_string_member (object, "topic", room->topic != NULL ? room->topic : "");
  json_object_set_int_member (object, "last_seq", room->last_seq);
  json_object_set_array_member (object, "members", array);
  return object;
}

/* Reads args.room and checks the caller may use it. On failure the error
 * ack is already sent and NULL returned. */
static NatterStoreRoom *
require_member_room (Request *req)
{
  const char *name = natter_chat_json_get_string (req->args, "room");
  NatterStoreRoom *room;

  if (name == NULL || !natter_chat_room_name_is_valid (name))
    {
      reply_error (req, NATTER_CHAT_ERROR_BAD_REQUEST, "room: a valid room name is required");
      return NULL;
    }

  room = natter_store_get_room (req->self->store, name);
  if (room == NULL)
    {
      reply_error (req, NATTER_CHAT_ERROR_NO_SUCH_ROOM, "no such room");
      return NULL;
    }

  if (!natter_store_is_member (req->self->store, name, req->user))
    {
      if (natter_chat_room_name_is_dm (name))
        reply_error (req, NATTER_CHAT_ERROR_FORBIDDEN, "a direct message between others");
      else
        reply_error (req, NATTER_CHAT_ERROR_NOT_MEMBER, "join the room first");
      natter_store_room_free (room);
      return NULL;
    }

  return room;
}

/* ---- events ------------------------------------------------------------------- */

static void
handle_rooms (Request *req)
{
  g_autoptr(GPtrArray) rooms = natter_store_list_rooms (req->self->store, req->user);
  g_autoptr(JsonObject) ok = natter_chat_ack_ok_new ();
  JsonArray *array = json_array_new ();
  guint i;

  for (i = 0; i < rooms->len; i++)
    {
      NatterStoreRoom *room = g_ptr_array_index (rooms, i);
      g_autoptr(GPtrArray) members = natter_store_list_members (req->self->store, room->name);
      JsonObject *object = json_object_new ();

      json_object_set_string_member (object, "name", room->name);
      json_object_set_string_member (object, "topic", room->topic);
      json_object_set_int_member (object, "members", members->len);
      json_object_set_int_member (object, "last_seq", room->last_seq);
      json_object_set_boolean_member (object, "joined",
                                      g_ptr_array_find_with_equal_func (members, req->user,
                                                                        g_str_equal, NULL));
      json_array_add_object_element (array, object);
    }

  json_object_set_array_member (ok, "rooms", array);
  reply_ok (req, ok);
}

static gboolean
user_in_dm (const char *room,
            const char *user)
{
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;

  if (!natter_chat_dm_room_members (room, &a, &b))
    return FALSE;
  return g_strcmp0 (a, user) == 0 || g_strcmp0 (b, user) == 0;
}

static void
send_room_ack (Request    *req,
               const char *name)
{
  g_autoptr(NatterStoreRoom) room = natter_store_get_room (req->self->store, name);
  g_autoptr(JsonObject) ok = natter_chat_ack_ok_new ();

  if (room == NULL)
    {
      reply_error (req, NATTER_CHAT_ERROR_INTERNAL, "room vanished");
      return;
    }
  json_object_set_object_member (ok, "room", room_to_json (req->self, room));
  reply_ok (req, ok);
}

static void flush_sends (NatterChatService *self);
static void queue_membership_change (Request    *req,
                                     const char *room,
                                     gboolean    joined,
                                     gboolean    changed);

static void
handle_join (Request *req)
{
  NatterChatService *self = req->self;
  const char *name = natter_chat_json_get_string (req->args, "room");
  const char *topic = natter_chat_json_get_string (req->args, "topic");
  gboolean create = natter_chat_json_get_boolean (req->args, "create", FALSE);
  g_autoptr(NatterStoreRoom) room = NULL;
  g_autoptr(GError) error = NULL;
  gboolean changed;

  if (name == NULL || !natter_chat_room_name_is_valid (name))
    {
      reply_error (req, NATTER_CHAT_ERROR_BAD_REQUEST, "room: a valid room name is required");
      return;
    }
  if (json_object_has_member (req->args, "topic") &&
      (topic == NULL || strlen (topic) > NATTER_CHAT_MAX_TOPIC_BYTES ||
       !g_utf8_validate (topic, -1, NULL)))
    {
      reply_error (req, NATTER_CHAT_ERROR_BAD_REQUEST, "topic: a string of at most 1 KiB");
      return;
    }

  /* DM rooms are made by "dm" and admit exactly their two people. */
  if (natter_chat_room_name_is_dm (name))
    {
      if (!user_in_dm (name, req->user) ||
          (room = natter_store_get_room (self->store, name)) == NULL)
        {
          reply_error (req, NATTER_CHAT_ERROR_FORBIDDEN, "a direct message between others");
          return;
        }
    }
  else
    {
      room = natter_store_get_room (self->store, name);
      if (room == NULL && !create)
        {
          reply_error (req, NATTER_CHAT_ERROR_NO_SUCH_ROOM, "no such room");
          return;
        }
      if (room == NULL &&
          !natter_store_add_room (self->store, name, topic, TRUE, &error) &&
          !g_error_matches (error, NATTER_STORE_ERROR, NATTER_STORE_ERROR_EXISTS))
        {
          g_warning ("join: %s", error->message);
          reply_error (req, NATTER_CHAT_ERROR_INTERNAL, "cannot create the room");
          return;
        }
    }

  g_clear_error (&error);
  flush_sends (self);
  changed = natter_store_add_member (self->store, name, req->user, NATTER_STORE_SYNC_LATER, &error);
  if (!changed && error != NULL)
    {
      g_warning ("join: %s", error->message);
      reply_error (req, NATTER_CHAT_ERROR_INTERNAL, "cannot join");
      return;
    }
  /* Already a member too: that join may still be on its way to the disk. */
  queue_membership_change (req, name, TRUE, changed);
}

static void
handle_leave (Request *req)
{
  g_autoptr(NatterStoreRoom) room = require_member_room (req);
  g_autoptr(GError) error = NULL;
  gboolean changed;

  if (room == NULL)
    return;

  flush_sends (req->self);
  changed = natter_store_remove_member (req->self->store, room->name, req->user,
                                        NATTER_STORE_SYNC_LATER, &error);
  if (!changed && error != NULL)
    {
      g_warning ("leave: %s", error->message);
      reply_error (req, NATTER_CHAT_ERROR_INTERNAL, "cannot leave");
      return;
    }
  queue_membership_change (req, room->name, FALSE, changed);
}

static void
handle_dm (Request *req)
{
  NatterChatService *self = req->self;
  const char *other = natter_chat_json_get_string (req->args, "user");
  g_autofree char *name = NULL;
  g_autofree char *other_hash = NULL;
  g_autoptr(GError) error = NULL;
  const char *both[2];
  guint i;

  if (other == NULL || !natter_chat_user_name_is_valid (other) ||
      g_strcmp0 (other, req->user) == 0)
    {
      reply_error (req, NATTER_CHAT_ERROR_BAD_REQUEST, "user: another valid user name is required");
      return;
    }

  other_hash = natter_store_get_password_hash (self->store, other);
  if (other_hash == NULL)
    {
      reply_error (req, NATTER_CHAT_ERROR_NO_SUCH_ROOM, "no such user");
      return;
    }

  name = natter_chat_dm_room_name (req->user, other);
  if (name == NULL)
    {
      reply_error (req, NATTER_CHAT_ERROR_BAD_REQUEST, "cannot name that conversation");
      return;
    }

  if (!natter_store_add_room (self->store, name, "", FALSE, &error) &&
      !g_error_matches (error, NATTER_STORE_ERROR, NATTER_STORE_ERROR_EXISTS))
    {
      g_warning ("dm: %s", error->message);
      reply_error (req, NATTER_CHAT_ERROR_INTERNAL, "cannot create the conversation");
      return;
    }

  both[0] = req->user;
  both[1] = other;
  for (i = 0; i < G_N_ELEMENTS (both); i++)
    {
      g_clear_error (&error);
      if (natter_store_add_member (self->store, name, both[i], NATTER_STORE_SYNC_NOW, &error))
        publish_member (self, NULL, name, both[i], "join", NULL);
      else if (error != NULL)
        {
          g_warning ("dm: %s", error->message);
          reply_error (req, NATTER_CHAT_ERROR_INTERNAL, "cannot join the conversation");
          return;
        }
    }

  send_room_ack (req, name);
}

/* ---- group commit of sends ----------------------------------------------- */

/* Every send that arrives before the next main-loop iteration goes into
 * one store transaction, and one fsync (off the main loop, in the store's
 * sync) serves every batch committed while the previous one ran. Acks and
 * broadcasts go out only after that, so an ok ack still means stored on
 * disk; if the commit fails, every send of the batch is answered
 * `internal` and none is stored. Joins and leaves commit at once (sends
 * received before them first) and wait in the same queue for the same
 * fsyncs, so the main loop never waits for the disk for them either. */
static void
refuse_batch (NatterChatService *self,
              Batch             *batch,
              const char        *why)
{
  guint i;

  if (batch->change != NULL)
    {
      MembershipChange *change = batch->change;
      Request req = { self, change->connection, change->user, change->ack_id, NULL };

      g_warning ("%s: %s of %s not known to be stored: %s", change->joined ? "join" : "leave",
                 change->room, change->user, why);
      reply_error (&req, NATTER_CHAT_ERROR_INTERNAL, change->joined ? "cannot join" : "cannot leave");
      /* It is committed, and the server acts on it from now on (a retry
       * finds it done): the room hears of it as it would have. */
      if (change->changed)
        publish_member (self, change->members, change->room, change->user,
                        change->joined ? "join" : "leave", change->joined ? NULL : change->user);
      return;
    }

  for (i = 0; i < batch->sends->len; i++)
    {
      PendingSend *pending = g_ptr_array_index (batch->sends, i);
      Request req = { self, pending->connection, NULL, pending->ack_id, NULL };

      /* One line per refused send: an operator counts them. */
      g_warning ("send: %s: cid %s of %s not stored (batch of %u): %s",
                 pending->message->room, pending->message->cid, pending->message->from,
                 batch->sends->len, why);
      reply_error (&req, NATTER_CHAT_ERROR_INTERNAL, "cannot store the message");
    }
}

static void
answer_change (NatterChatService *self,
               MembershipChange  *change)
{
  Request req = { self, change->connection, change->user, change->ack_id, NULL };

  natter_hub_batch_add (self->hub, change->connection);
  if (change->joined)
    send_room_ack (&req, change->room);
  else
    {
      g_autoptr(JsonObject) ok = natter_chat_ack_ok_new ();

      reply_ok (&req, ok);
    }

  if (change->changed)
    publish_member (self, change->members, change->room, change->user,
                    change->joined ? "join" : "leave", change->joined ? NULL : change->user);
}

static void
answer_batch (NatterChatService *self,
              Batch             *batch)
{
  guint i;

  if (batch->change != NULL)
    {
      answer_change (self, batch->change);
      return;
    }

  for (i = 0; i < batch->sends->len; i++)
    {
      PendingSend *pending = g_ptr_array_index (batch->sends, i);
      NatterChatMessage *message = pending->message;
      Request req = { self, pending->connection, NULL, pending->ack_id, NULL };
      g_autoptr(JsonObject) ok = NULL;
      g_autoptr(JsonObject) event = NULL;
      g_autofree char *frame = NULL;
      GPtrArray *to;

      natter_hub_batch_add (self->hub, pending->connection);
      if (batch->results[i] == NATTER_STORE_NO_ROOM)
        {
          reply_error (&req, NATTER_CHAT_ERROR_NO_SUCH_ROOM, "no such room");
          continue;
        }

      ok = natter_chat_ack_ok_new ();
      json_object_set_int_member (ok, "seq", message->seq);
      json_object_set_int_member (ok, "ts", message->ts);
      json_object_set_string_member (ok, "cid", message->cid);
      reply_ok (&req, ok);

      if (batch->results[i] == NATTER_STORE_DUPLICATE)
        continue;

      to = g_hash_table_lookup (batch->members, message->room);
      if (to == NULL)
        continue;
      /* Encoded once, written to every member's connections. */
      event = natter_chat_message_to_json (message);
      frame = encode_event_frame ("message", event);
      self->metrics->messages_delivered_total += natter_hub_publish (self->hub, to, frame, NULL);
    }
}

static void kick_sync (NatterChatService *self);

static void
synced_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(NatterChatService) self = user_data;
  g_autoptr(GPtrArray) batches = g_steal_pointer (&self->syncing);
  g_autoptr(GError) error = NULL;
  guint i;

  self->syncing = g_ptr_array_new_with_free_func ((GDestroyNotify) batch_free);
  self->metrics->store_syncs_total++;
  if (!natter_store_sync_finish (NATTER_STORE (source), result, &error))
    {
      /* Committed but maybe not on disk: refused, so the clients send
       * them again, and the store answers the same seq (exactly once). */
      for (i = 0; i < batches->len; i++)
        refuse_batch (self, g_ptr_array_index (batches, i), error->message);
    }
  else
    {
      /* Each connection gets all its acks and messages in one write. */
      natter_hub_batch_begin (self->hub);
      for (i = 0; i < batches->len; i++)
        answer_batch (self, g_ptr_array_index (batches, i));
      natter_hub_batch_end (self->hub);
    }

  self->sync_running = FALSE;
  kick_sync (self);
}

/* One sync at a time; what commits meanwhile waits for the next one. */
static void
kick_sync (NatterChatService *self)
{
  GPtrArray *tmp;

  if (self->sync_running || self->unsynced->len == 0)
    return;

  tmp = self->syncing;
  self->syncing = self->unsynced;
  self->unsynced = tmp;
  self->sync_running = TRUE;
  natter_store_sync_async (self->store, NULL, synced_cb, g_object_ref (self));
}

static void
flush_sends (NatterChatService *self)
{
  g_autofree NatterChatMessage **messages = NULL;
  g_autoptr(GError) error = NULL;
  Batch *batch;
  guint i;

  g_clear_handle_id (&self->flush_id, g_source_remove);
  if (self->pending->len == 0)
    return;

  batch = g_new0 (Batch, 1);
  batch->sends = g_steal_pointer (&self->pending);
  self->pending = g_ptr_array_new_with_free_func ((GDestroyNotify) pending_send_free);
  batch->results = g_new0 (NatterStoreAddResult, batch->sends->len);

  messages = g_new (NatterChatMessage *, batch->sends->len);
  for (i = 0; i < batch->sends->len; i++)
    messages[i] = ((PendingSend *) g_ptr_array_index (batch->sends, i))->message;

  self->metrics->send_batches_total++;
  if (!natter_store_add_messages (self->store, messages, batch->sends->len, batch->results, &error))
    {
      natter_hub_batch_begin (self->hub);
      refuse_batch (self, batch, error->message);
      natter_hub_batch_end (self->hub);
      batch_free (batch);
      return;
    }

  /* Who gets each message: the rooms' members as of this commit, read
   * once per room (the store's lists are shared, so this copies nothing). */
  batch->members = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) g_ptr_array_unref);
  for (i = 0; i < batch->sends->len; i++)
    if (!g_hash_table_contains (batch->members, messages[i]->room))
      g_hash_table_insert (batch->members, g_strdup (messages[i]->room),
                           natter_store_list_members (self->store, messages[i]->room));

  g_ptr_array_add (self->unsynced, batch);
  kick_sync (self);
}

static void
queue_membership_change (Request    *req,
                         const char *room,
                         gboolean    joined,
                         gboolean    changed)
{
  MembershipChange *change = g_new0 (MembershipChange, 1);
  Batch *batch = g_new0 (Batch, 1);

  change->connection = g_object_ref (req->connection);
  change->ack_id = req->ack_id;
  change->user = g_strdup (req->user);
  change->room = g_strdup (room);
  change->joined = joined;
  change->changed = changed;
  change->members = natter_store_list_members (req->self->store, room);
  batch->sends = g_ptr_array_new ();
  batch->change = change;
  g_ptr_array_add (req->self->unsynced, batch);
  kick_sync (req->self);
}

static gboolean
flush_sends_cb (gpointer user_data)
{
  NatterChatService *self = user_data;

  self->flush_id = 0;
  flush_sends (self);
  return G_SOURCE_REMOVE;
}

static void
queue_send (NatterChatService *self,
            Request           *req,
            NatterChatMessage *message)
{
  PendingSend *pending = g_new0 (PendingSend, 1);

  pending->connection = g_object_ref (req->connection);
  pending->ack_id = req->ack_id;
  pending->message = message;
  g_ptr_array_add (self->pending, pending);

  if (self->pending->len >= MAX_SEND_BATCH)
    flush_sends (self);
  else if (self->flush_id == 0)
    /* At default priority, the idle runs after the sockets that are ready
     * in the next iteration: what they bring joins the same batch. */
    self->flush_id = g_idle_add_full (G_PRIORITY_DEFAULT, flush_sends_cb, self, NULL);
}

void
natter_chat_service_flush (NatterChatService *self)
{
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  g_return_if_fail (NATTER_IS_CHAT_SERVICE (self));

  flush_sends (self);
  while ((self->sync_running || self->unsynced->len > 0) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
}

static void
handle_send (Request *req)
{
  NatterChatService *self = req->self;
  const char *cid = natter_chat_json_get_string (req->args, "cid");
  const char *text = natter_chat_json_get_string (req->args, "text");
  JsonObject *file_json = NULL;
  g_autoptr(NatterChatFile) file = NULL;
  g_autoptr(NatterStoreRoom) room = NULL;
  g_autoptr(NatterChatMessage) message = NULL;
  NatterChatError why = NATTER_CHAT_ERROR_BAD_REQUEST;

  if (!natter_rate_limiter_take (self->send_limiter, req->user, g_get_monotonic_time ()))
    {
      reply_error (req, NATTER_CHAT_ERROR_RATE_LIMITED, "slow down");
      return;
    }

  if (cid == NULL || !natter_chat_cid_is_valid (cid))
    {
      reply_error (req, NATTER_CHAT_ERROR_BAD_REQUEST, "cid: 1–64 printable ASCII characters");
      return;
    }
  if (text == NULL)
    {
      reply_error (req, NATTER_CHAT_ERROR_BAD_REQUEST, "text: a string is required");
      return;
    }
  if (!natter_chat_text_is_valid (text, strlen (text), &why))
    {
      reply_error (req, why, why == NATTER_CHAT_ERROR_TOO_LARGE
                               ? "text: at most 16 KiB" : "text: valid UTF-8 is required");
      return;
    }
  if (json_object_has_member (req->args, "file"))
    {
      file_json = natter_chat_json_get_object (req->args, "file");
      if (file_json == NULL || (file = natter_chat_file_from_json (file_json, NULL)) == NULL)
        {
          reply_error (req, NATTER_CHAT_ERROR_BAD_REQUEST, "file: {id,name,size,mime}");
          return;
        }
    }

  room = require_member_room (req);
  if (room == NULL)
    return;

  /* A file reference must be real: a finished upload to this very room,
   * of the size claimed. Otherwise members would be shown files that are
   * not there, or that only another room may fetch. */
  if (file != NULL && self->uploads != NULL)
    {
      g_autoptr(NatterUploadsFile) upload = natter_uploads_id_is_valid (file->id)
                                            ? natter_uploads_lookup_file (self->uploads, file->id)
                                            : NULL;

      if (upload == NULL || g_strcmp0 (upload->room, room->name) != 0 || upload->size != file->size)
        {
          reply_error (req, NATTER_CHAT_ERROR_BAD_REQUEST,
                       "file: not a finished upload of this room");
          return;
        }
    }

  message = natter_chat_message_new ();
  message->room = g_strdup (room->name);
  message->from = g_strdup (req->user);
  message->cid = g_strdup (cid);
  message->text = g_strdup (text);
  message->file = g_steal_pointer (&file);

  queue_send (self, req, g_steal_pointer (&message));
}

static gboolean
read_optional_int (Request    *req,
                   const char *member,
                   gint64     *value)
{
  if (!json_object_has_member (req->args, member))
    return TRUE;
  if (natter_chat_json_get_int (req->args, member, value))
    return TRUE;

  reply_error (req, NATTER_CHAT_ERROR_BAD_REQUEST, "before, after and limit are integers");
  return FALSE;
}

static void
handle_history (Request *req)
{
  gint64 before = 0, after = 0, limit = DEFAULT_HISTORY_LIMIT;
  g_autoptr(NatterStoreRoom) room = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(JsonObject) ok = NULL;
  g_autoptr(GError) error = NULL;
  JsonArray *array;
  gboolean more = FALSE;
  guint i;

  if (!read_optional_int (req, "before", &before) ||
      !read_optional_int (req, "after", &after) ||
      !read_optional_int (req, "limit", &limit))
    return;
  if (before < 0 || after < 0 || limit < 1)
    {
      reply_error (req, NATTER_CHAT_ERROR_BAD_REQUEST, "before, after ≥ 0 and limit ≥ 1");
      return;
    }
  limit = MIN (limit, NATTER_CHAT_MAX_HISTORY_LIMIT);

  room = require_member_room (req);
  if (room == NULL)
    return;

  messages = natter_store_get_history (req->self->store, room->name, before, after,
                                       (guint) limit, &more, &error);
  if (messages == NULL)
    {
      g_warning ("history: %s", error->message);
      reply_error (req, NATTER_CHAT_ERROR_INTERNAL, "cannot read history");
      return;
    }

  array = json_array_new ();
  for (i = 0; i < messages->len; i++)
    json_array_add_object_element (array,
                                   natter_chat_message_to_json (g_ptr_array_index (messages, i)));

  ok = natter_chat_ack_ok_new ();
  json_object_set_array_member (ok, "messages", array);
  json_object_set_boolean_member (ok, "more", more);
  reply_ok (req, ok);
}

static void
handle_members (Request *req)
{
  g_autoptr(NatterStoreRoom) room = require_member_room (req);
  g_autoptr(GPtrArray) members = NULL;
  g_autoptr(JsonObject) ok = NULL;
  JsonArray *array;
  guint i;

  if (room == NULL)
    return;

  members = natter_store_list_members (req->self->store, room->name);
  array = json_array_new ();
  for (i = 0; i < members->len; i++)
    {
      const char *user = g_ptr_array_index (members, i);
      JsonObject *object = json_object_new ();

      json_object_set_string_member (object, "user", user);
      json_object_set_boolean_member (object, "online", natter_hub_is_online (req->self->hub, user));
      json_array_add_object_element (array, object);
    }

  ok = natter_chat_ack_ok_new ();
  json_object_set_array_member (ok, "members", array);
  reply_ok (req, ok);
}

static void
handle_typing (Request *req)
{
  g_autoptr(NatterStoreRoom) room = NULL;
  g_autoptr(JsonObject) event = NULL;
  g_autoptr(JsonObject) ok = NULL;

  /* Over the limit: dropped before any lookup. A client that asked for an
   * ack hears `rate_limited`; the usual one (no ack) hears nothing, and a
   * "typing" state it missed expires on the other side by itself. */
  if (!natter_rate_limiter_take (req->self->typing_limiter, req->user, g_get_monotonic_time ()))
    {
      reply_error (req, NATTER_CHAT_ERROR_RATE_LIMITED, "slow down");
      return;
    }
  room = require_member_room (req);
  if (room == NULL)
    return;

  event = json_object_new ();
  json_object_set_string_member (event, "room", room->name);
  json_object_set_string_member (event, "user", req->user);
  json_object_set_boolean_member (event, "typing",
                                  natter_chat_json_get_boolean (req->args, "typing", FALSE));
  publish_to_room (req->self, room->name, "typing", event, req->user);

  ok = natter_chat_ack_ok_new ();
  reply_ok (req, ok);
}

static const struct
{
  const char *name;
  void      (*handle) (Request *req);
} events[] = {
  { "rooms", handle_rooms },
  { "join", handle_join },
  { "leave", handle_leave },
  { "dm", handle_dm },
  { "send", handle_send },
  { "history", handle_history },
  { "members", handle_members },
  { "typing", handle_typing },
};

/* ---- packets ------------------------------------------------------------------ */

static void
send_connect_error (NatterConnection *connection,
                    const char       *nsp,
                    const char       *message)
{
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autoptr(NatterSioPacket) packet = NULL;

  json_object_set_string_member (object, "message", message);
  json_node_set_object (node, object);
  packet = natter_sio_packet_new (NATTER_SIO_CONNECT_ERROR, nsp, -1, node);
  natter_connection_send_packet (connection, packet);
}

static void
handle_connect (NatterChatService *self,
                NatterConnection  *connection,
                NatterSioPacket   *packet)
{
  g_autoptr(JsonObject) reply = NULL;
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(NatterSioPacket) answer = NULL;
  g_autofree char *token_hash = NULL;
  g_autofree char *user = NULL;
  const char *token = NULL;

  if (g_strcmp0 (packet->nsp, "/") != 0)
    {
      send_connect_error (connection, packet->nsp, "Invalid namespace");
      return;
    }
  if (natter_connection_get_connected (connection))
    return; /* a repeated CONNECT changes nothing */

  if (packet->data != NULL && JSON_NODE_HOLDS_OBJECT (packet->data))
    token = natter_chat_json_get_string (json_node_get_object (packet->data), "token");
  if (token != NULL && *token != '\0')
    {
      token_hash = natter_auth_hash_token (token);
      user = natter_store_lookup_token (self->store, token_hash);
    }
  if (user == NULL)
    {
      send_connect_error (connection, "/", "unauthorized");
      return;
    }

  natter_connection_set_user (connection, user, token_hash);
  natter_connection_set_connected (connection);

  reply = json_object_new ();
  json_object_set_string_member (reply, "sid", natter_connection_get_sid (connection));
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_set_object (node, reply);
  answer = natter_sio_packet_new (NATTER_SIO_CONNECT, "/", -1, node);
  natter_connection_send_packet (connection, answer);

  if (natter_hub_add (self->hub, connection))
    publish_presence (self, user, TRUE, connection);
}

static void
packet_cb (NatterConnection  *connection,
           NatterSioPacket   *packet,
           NatterChatService *self)
{
  Request req = { self, connection, NULL, packet->id, NULL };
  g_autoptr(JsonObject) empty = NULL;
  const char *name;
  JsonNode *arg;
  guint i;

  switch (packet->type)
    {
    case NATTER_SIO_CONNECT:
      handle_connect (self, connection, packet);
      return;

    case NATTER_SIO_DISCONNECT:
      natter_connection_close (connection, NATTER_CLOSE_NORMAL, NULL);
      return;

    case NATTER_SIO_ACK:
    case NATTER_SIO_BINARY_ACK:
      return; /* the server never asks for acks */

    case NATTER_SIO_EVENT:
    case NATTER_SIO_BINARY_EVENT:
      break;

    case NATTER_SIO_CONNECT_ERROR:
    default:
      natter_connection_close (connection, NATTER_CLOSE_PROTOCOL_ERROR, "unexpected packet");
      return;
    }

  if (!natter_connection_get_connected (connection) || g_strcmp0 (packet->nsp, "/") != 0)
    {
      natter_connection_close (connection, NATTER_CLOSE_PROTOCOL_ERROR, "event before CONNECT");
      return;
    }

  req.user = natter_connection_get_user (connection);
  name = natter_sio_packet_get_event_name (packet);

  /* Asking is cheap for a client and not for the server (a history page
   * is up to 200 messages): every request counts against the connection.
   * Not send and not typing: each has its own limit per user, below. */
  if (g_strcmp0 (name, "send") != 0 && g_strcmp0 (name, "typing") != 0 &&
      !natter_rate_limiter_take (self->event_limiter, natter_connection_get_sid (connection),
                                 g_get_monotonic_time ()))
    {
      reply_error (&req, NATTER_CHAT_ERROR_RATE_LIMITED, "slow down");
      return;
    }
  arg = natter_sio_packet_get_arg (packet, 0);

  if (arg == NULL)
    {
      empty = json_object_new ();
      req.args = empty;
    }
  else if (JSON_NODE_HOLDS_OBJECT (arg))
    req.args = json_node_get_object (arg);
  else
    {
      reply_error (&req, NATTER_CHAT_ERROR_BAD_REQUEST, "the argument must be an object");
      return;
    }

  for (i = 0; i < G_N_ELEMENTS (events); i++)
    if (g_strcmp0 (events[i].name, name) == 0)
      {
        events[i].handle (&req);
        return;
      }

  reply_error (&req, NATTER_CHAT_ERROR_BAD_REQUEST, "unknown event");
}

static void
closed_cb (NatterConnection  *connection,
           NatterChatService *self)
{
  const char *user = natter_connection_get_user (connection);

  g_signal_handlers_disconnect_by_data (connection, self);
  natter_rate_limiter_forget (self->event_limiter, natter_connection_get_sid (connection));
  if (user != NULL && natter_hub_remove (self->hub, connection))
    publish_presence (self, user, FALSE, NULL);
}

void
natter_chat_service_attach (NatterChatService *self,
                            NatterConnection  *connection)
{
  g_return_if_fail (NATTER_IS_CHAT_SERVICE (self));
  g_return_if_fail (NATTER_IS_CONNECTION (connection));

  g_signal_connect (connection, "packet", G_CALLBACK (packet_cb), self);
  g_signal_connect (connection, "closed", G_CALLBACK (closed_cb), self);
}

void
natter_chat_service_set_uploads (NatterChatService *self,
                                 NatterUploads     *uploads)
{
  g_return_if_fail (NATTER_IS_CHAT_SERVICE (self));

  g_set_object (&self->uploads, uploads);
}

void
natter_chat_service_drop_token (NatterChatService *self,
                                const char        *token_hash)
{
  g_autoptr(GPtrArray) connections = NULL;
  guint i;

  g_return_if_fail (NATTER_IS_CHAT_SERVICE (self));

  connections = natter_hub_dup_by_token (self->hub, token_hash);
  for (i = 0; i < connections->len; i++)
    {
      NatterConnection *connection = g_ptr_array_index (connections, i);

      natter_connection_send_frame (connection, "41");
      natter_connection_close (connection, NATTER_CLOSE_NORMAL, "signed out");
    }
}
