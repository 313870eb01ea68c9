/* natter-room.c: one room of a session: what a room row and a room view
 * show. The session feeds it; the UI only reads and calls the few verbs. */
#include "natter-client-private.h"

#include <glib/gi18n-lib.h>

/* How long a "typing" lasts without a refresh (tests shorten it). */
static guint typing_expiry_ms = 6000;
#define TYPING_RESEND_US   (3 * G_USEC_PER_SEC)

struct _NatterRoom
{
  GObject         parent_instance;
  NatterSession  *session;      /* weak */
  char           *name;
  char           *me;
  char           *dm_user;
  char           *topic;
  gboolean        joined;
  gint64          last_seq;
  gint64          read_seq;
  guint           unread;
  guint           mentions;
  guint           n_members;
  gint64          last_ts;
  NatterTimeline *timeline;
  GListStore     *members;
  GHashTable     *typing;       /* user → expiry source id */
  char          **typing_users;
  char           *typing_text;
  gboolean        my_typing;
  gint64          my_typing_sent;
};

G_DEFINE_FINAL_TYPE (NatterRoom, natter_room, G_TYPE_OBJECT)

static void unwatch_members (NatterRoom *self);

enum {
  PROP_0,
  PROP_NAME,
  PROP_DISPLAY_NAME,
  PROP_TOPIC,
  PROP_IS_DM,
  PROP_DM_USER,
  PROP_JOINED,
  PROP_LAST_SEQ,
  PROP_READ_SEQ,
  PROP_UNREAD,
  PROP_MENTIONS,
  PROP_N_MEMBERS,
  PROP_LAST_TS,
  PROP_TIMELINE,
  PROP_MEMBERS,
  PROP_TYPING_USERS,
  PROP_TYPING_TEXT,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

static void
natter_room_dispose (GObject *object)
{
  NatterRoom *self = NATTER_ROOM (object);

  if (self->session != NULL)
    g_object_remove_weak_pointer (G_OBJECT (self->session), (gpointer *) &self->session);
  self->session = NULL;
  g_clear_object (&self->timeline);
  if (self->members != NULL)
    unwatch_members (self);
  g_clear_object (&self->members);
  if (self->typing != NULL)
    {
      GHashTableIter iter;
      gpointer id;

      g_hash_table_iter_init (&iter, self->typing);
      while (g_hash_table_iter_next (&iter, NULL, &id))
        g_source_remove (GPOINTER_TO_UINT (id));
      g_clear_pointer (&self->typing, g_hash_table_unref);
    }
  G_OBJECT_CLASS (natter_room_parent_class)->dispose (object);
}

static void
natter_room_finalize (GObject *object)
{
  NatterRoom *self = NATTER_ROOM (object);

  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->me, g_free);
  g_clear_pointer (&self->dm_user, g_free);
  g_clear_pointer (&self->topic, g_free);
  g_clear_pointer (&self->typing_users, g_strfreev);
  g_clear_pointer (&self->typing_text, g_free);
  G_OBJECT_CLASS (natter_room_parent_class)->finalize (object);
}

static void
natter_room_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  NatterRoom *self = NATTER_ROOM (object);

  switch (prop_id)
    {
    case PROP_NAME: g_value_set_string (value, self->name); break;
    case PROP_DISPLAY_NAME: g_value_set_string (value, natter_room_get_display_name (self)); break;
    case PROP_TOPIC: g_value_set_string (value, self->topic); break;
    case PROP_IS_DM: g_value_set_boolean (value, self->dm_user != NULL); break;
    case PROP_DM_USER: g_value_set_string (value, self->dm_user); break;
    case PROP_JOINED: g_value_set_boolean (value, self->joined); break;
    case PROP_LAST_SEQ: g_value_set_int64 (value, self->last_seq); break;
    case PROP_READ_SEQ: g_value_set_int64 (value, self->read_seq); break;
    case PROP_UNREAD: g_value_set_uint (value, self->unread); break;
    case PROP_MENTIONS: g_value_set_uint (value, self->mentions); break;
    case PROP_N_MEMBERS: g_value_set_uint (value, self->n_members); break;
    case PROP_LAST_TS: g_value_set_int64 (value, self->last_ts); break;
    case PROP_TIMELINE: g_value_set_object (value, natter_room_get_timeline (self)); break;
    case PROP_MEMBERS: g_value_set_object (value, self->members); break;
    case PROP_TYPING_USERS: g_value_set_boxed (value, self->typing_users); break;
    case PROP_TYPING_TEXT: g_value_set_string (value, self->typing_text); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_room_class_init (NatterRoomClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = natter_room_dispose;
  object_class->finalize = natter_room_finalize;
  object_class->get_property = natter_room_get_property;

  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, flags);
  properties[PROP_DISPLAY_NAME] = g_param_spec_string ("display-name", NULL, NULL, NULL, flags);
  properties[PROP_TOPIC] = g_param_spec_string ("topic", NULL, NULL, NULL, flags);
  properties[PROP_IS_DM] = g_param_spec_boolean ("is-dm", NULL, NULL, FALSE, flags);
  properties[PROP_DM_USER] = g_param_spec_string ("dm-user", NULL, NULL, NULL, flags);
  properties[PROP_JOINED] = g_param_spec_boolean ("joined", NULL, NULL, FALSE, flags);
  properties[PROP_LAST_SEQ] = g_param_spec_int64 ("last-seq", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_READ_SEQ] = g_param_spec_int64 ("read-seq", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_UNREAD] = g_param_spec_uint ("unread", NULL, NULL, 0, G_MAXUINT, 0, flags);
  properties[PROP_MENTIONS] = g_param_spec_uint ("mentions", NULL, NULL, 0, G_MAXUINT, 0, flags);
  properties[PROP_N_MEMBERS] = g_param_spec_uint ("n-members", NULL, NULL, 0, G_MAXUINT, 0, flags);
  properties[PROP_LAST_TS] = g_param_spec_int64 ("last-ts", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_TIMELINE] = g_param_spec_object ("timeline", NULL, NULL, NATTER_TYPE_TIMELINE, flags);
  properties[PROP_MEMBERS] = g_param_spec_object ("members", NULL, NULL, G_TYPE_LIST_MODEL, flags);
  properties[PROP_TYPING_USERS] = g_param_spec_boxed ("typing-users", NULL, NULL, G_TYPE_STRV, flags);
  properties[PROP_TYPING_TEXT] = g_param_spec_string ("typing-text", NULL, NULL, NULL, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_room_init (NatterRoom *self)
{
  self->members = g_list_store_new (NATTER_TYPE_MEMBER);
  self->typing = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->topic = g_strdup ("");
  self->typing_users = g_new0 (char *, 1);
}

NatterRoom *
_natter_room_new (NatterSession *session,
                  const char    *name,
                  const char    *me)
{
  NatterRoom *self = g_object_new (NATTER_TYPE_ROOM, NULL);
  g_autofree char *a = NULL;
  g_autofree char *b = NULL;

  self->session = session;
  if (session != NULL)
    g_object_add_weak_pointer (G_OBJECT (session), (gpointer *) &self->session);
  self->name = g_strdup (name);
  self->me = g_strdup (me);
  if (natter_chat_dm_room_members (name, &a, &b))
    self->dm_user = g_strdup (g_strcmp0 (a, me) == 0 ? b : a);
  return self;
}

NatterSession *
_natter_room_get_session (NatterRoom *self)
{
  return self->session;
}

#define SET_AND_NOTIFY(field, value, prop) \
  G_STMT_START { \
    if (self->field != (value)) \
      { \
        self->field = (value); \
        g_object_notify_by_pspec (G_OBJECT (self), properties[prop]); \
      } \
  } G_STMT_END

void
_natter_room_set_topic (NatterRoom *self,
                        const char *topic)
{
  if (topic == NULL)
    topic = "";
  if (g_strcmp0 (self->topic, topic) == 0)
    return;
  g_free (self->topic);
  self->topic = g_strdup (topic);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOPIC]);
}

void
_natter_room_set_joined (NatterRoom *self,
                         gboolean    joined)
{
  SET_AND_NOTIFY (joined, !!joined, PROP_JOINED);
}

void
_natter_room_set_last_seq (NatterRoom *self,
                           gint64      seq)
{
  if (seq > self->last_seq)
    SET_AND_NOTIFY (last_seq, seq, PROP_LAST_SEQ);
}

void
_natter_room_set_counts (NatterRoom *self,
                         guint       unread,
                         guint       mentions)
{
  SET_AND_NOTIFY (unread, unread, PROP_UNREAD);
  SET_AND_NOTIFY (mentions, mentions, PROP_MENTIONS);
}

void
_natter_room_set_read_seq (NatterRoom *self,
                           gint64      seq)
{
  SET_AND_NOTIFY (read_seq, seq, PROP_READ_SEQ);
}

void
_natter_room_set_n_members (NatterRoom *self,
                            guint       n)
{
  SET_AND_NOTIFY (n_members, n, PROP_N_MEMBERS);
}

void
_natter_room_set_last_ts (NatterRoom *self,
                          gint64      ts)
{
  if (ts > self->last_ts)
    SET_AND_NOTIFY (last_ts, ts, PROP_LAST_TS);
}

static gboolean
find_member (NatterRoom *self,
             const char *user,
             guint      *position)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->members));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterMember) member = g_list_model_get_item (G_LIST_MODEL (self->members), i);

      if (g_strcmp0 (natter_member_get_user (member), user) == 0)
        {
          *position = i;
          return TRUE;
        }
    }
  return FALSE;
}

/* Online first, then by name: who can answer now comes first. */
static int
compare_members (gconstpointer a,
                 gconstpointer b,
                 gpointer      user_data)
{
  NatterMember *ma = (NatterMember *) a;
  NatterMember *mb = (NatterMember *) b;

  if (natter_member_get_online (ma) != natter_member_get_online (mb))
    return natter_member_get_online (ma) ? -1 : 1;
  return g_strcmp0 (natter_member_get_user (ma), natter_member_get_user (mb));
}

static int
compare_member_ptrs (gconstpointer a,
                     gconstpointer b,
                     gpointer      user_data)
{
  return compare_members (*(gconstpointer *) a, *(gconstpointer *) b, user_data);
}

/* A member came online or went offline: it moves to its new place, as
 * one removal and one insertion, and only when its place changed. */
static void
on_member_online (NatterRoom   *self,
                  GParamSpec   *pspec,
                  NatterMember *member)
{
  GListModel *model = G_LIST_MODEL (self->members);
  guint n = g_list_model_get_n_items (model);
  guint position;
  gboolean in_order = TRUE;

  if (!g_list_store_find (self->members, member, &position))
    return;
  if (position > 0)
    {
      g_autoptr(NatterMember) before = g_list_model_get_item (model, position - 1);
      in_order = compare_members (before, member, NULL) < 0;
    }
  if (in_order && position + 1 < n)
    {
      g_autoptr(NatterMember) after = g_list_model_get_item (model, position + 1);
      in_order = compare_members (member, after, NULL) < 0;
    }
  if (in_order)
    return;

  g_object_ref (member);
  g_list_store_remove (self->members, position);
  g_list_store_insert_sorted (self->members, member, compare_members, NULL);
  g_object_unref (member);
}

static void
watch_member (NatterRoom   *self,
              NatterMember *member)
{
  g_signal_connect_object (member, "notify::online", G_CALLBACK (on_member_online),
                           self, G_CONNECT_SWAPPED);
}

static void
unwatch_members (NatterRoom *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->members));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterMember) member = g_list_model_get_item (G_LIST_MODEL (self->members), i);
      g_signal_handlers_disconnect_by_func (member, on_member_online, self);
    }
}

void
_natter_room_set_members (NatterRoom *self,
                          GPtrArray  *members)
{
  unwatch_members (self);
  g_ptr_array_sort_with_data (members, compare_member_ptrs, NULL);
  g_list_store_splice (self->members, 0,
                       g_list_model_get_n_items (G_LIST_MODEL (self->members)),
                       members->pdata, members->len);
  for (guint i = 0; i < members->len; i++)
    watch_member (self, g_ptr_array_index (members, i));
  _natter_room_set_n_members (self, members->len);
}

void
_natter_room_add_member (NatterRoom   *self,
                         NatterMember *member)
{
  guint position;

  if (find_member (self, natter_member_get_user (member), &position))
    return;
  g_list_store_insert_sorted (self->members, member, compare_members, NULL);
  watch_member (self, member);
  _natter_room_set_n_members (self, self->n_members + 1);
}

void
_natter_room_remove_member (NatterRoom *self,
                            const char *user)
{
  guint position;
  g_autoptr(NatterMember) member = NULL;

  if (!find_member (self, user, &position))
    return;
  member = g_list_model_get_item (G_LIST_MODEL (self->members), position);
  g_signal_handlers_disconnect_by_func (member, on_member_online, self);
  g_list_store_remove (self->members, position);
  if (self->n_members > 0)
    _natter_room_set_n_members (self, self->n_members - 1);
}

static void
update_typing (NatterRoom *self)
{
  g_autofree char **users = (char **) g_hash_table_get_keys_as_array (self->typing, NULL);
  char *text = NULL;
  guint n;

  n = g_strv_length (users);
  /* A handful of names at most: an insertion sort keeps the text stable. */
  for (guint i = 1; i < n; i++)
    for (guint j = i; j > 0 && g_strcmp0 (users[j - 1], users[j]) > 0; j--)
      {
        char *tmp = users[j];
        users[j] = users[j - 1];
        users[j - 1] = tmp;
      }

  if (n == 1)
    text = g_strdup_printf (_("%s is typing…"), users[0]);
  else if (n == 2)
    text = g_strdup_printf (_("%s and %s are typing…"), users[0], users[1]);
  else if (n > 2)
    text = g_strdup (_("Several people are typing…"));

  g_strfreev (self->typing_users);
  self->typing_users = g_strdupv (users);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TYPING_USERS]);

  if (g_strcmp0 (text, self->typing_text) != 0)
    {
      g_free (self->typing_text);
      self->typing_text = g_steal_pointer (&text);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TYPING_TEXT]);
    }
  g_free (text);
}

typedef struct
{
  NatterRoom *room;
  char       *user;
} TypingExpiry;

static void
typing_expiry_free (gpointer data)
{
  TypingExpiry *expiry = data;

  g_free (expiry->user);
  g_free (expiry);
}

static gboolean
typing_expired (gpointer data)
{
  TypingExpiry *expiry = data;

  g_hash_table_remove (expiry->room->typing, expiry->user);
  update_typing (expiry->room);
  return G_SOURCE_REMOVE;
}

void
_natter_room_set_user_typing (NatterRoom *self,
                              const char *user,
                              gboolean    typing)
{
  gpointer id;
  gboolean was = g_hash_table_lookup_extended (self->typing, user, NULL, &id);

  if (g_strcmp0 (user, self->me) == 0)
    return;
  if (was)
    {
      g_source_remove (GPOINTER_TO_UINT (id));
      g_hash_table_remove (self->typing, user);
    }
  if (typing)
    {
      TypingExpiry *expiry = g_new0 (TypingExpiry, 1);
      guint source;

      expiry->room = self;
      expiry->user = g_strdup (user);
      source = g_timeout_add_full (G_PRIORITY_DEFAULT, typing_expiry_ms, typing_expired,
                                   expiry, typing_expiry_free);
      g_hash_table_insert (self->typing, g_strdup (user), GUINT_TO_POINTER (source));
    }
  if (was != !!typing)
    update_typing (self);
}

void
_natter_room_set_typing_expiry (guint ms)
{
  typing_expiry_ms = ms;
}

NatterTimeline *
_natter_room_peek_timeline (NatterRoom *self)
{
  return self->timeline;
}

const char *
natter_room_get_name (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return self->name;
}

const char *
natter_room_get_display_name (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return self->dm_user != NULL ? self->dm_user : self->name;
}

const char *
natter_room_get_topic (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return self->topic;
}

gboolean
natter_room_get_is_dm (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), FALSE);
  return self->dm_user != NULL;
}

const char *
natter_room_get_dm_user (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return self->dm_user;
}

gboolean
natter_room_get_joined (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), FALSE);
  return self->joined;
}

gint64
natter_room_get_last_seq (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), 0);
  return self->last_seq;
}

guint
natter_room_get_unread (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), 0);
  return self->unread;
}

guint
natter_room_get_mentions (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), 0);
  return self->mentions;
}

gint64
natter_room_get_read_seq (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), 0);
  return self->read_seq;
}

guint
natter_room_get_n_members (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), 0);
  return self->n_members;
}

gint64
natter_room_get_last_ts (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), 0);
  return self->last_ts;
}

NatterTimeline *
natter_room_get_timeline (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);

  /* Created on first use: a room list of hundreds of rooms costs no
   * timeline until one is opened. */
  if (self->timeline == NULL && self->session != NULL)
    self->timeline = _natter_timeline_new (self->session, self);
  return self->timeline;
}

GListModel *
natter_room_get_members (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return G_LIST_MODEL (self->members);
}

const char * const *
natter_room_get_typing_users (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return (const char * const *) self->typing_users;
}

const char *
natter_room_get_typing_text (NatterRoom *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  return self->typing_text;
}

NatterMessage *
natter_room_send_text (NatterRoom *self,
                       const char *text)
{
  g_return_val_if_fail (NATTER_IS_ROOM (self), NULL);
  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (self->session != NULL, NULL);

  return _natter_session_send_text (self->session, self, text);
}

void
natter_room_set_typing (NatterRoom *self,
                        gboolean    typing)
{
  gint64 now = g_get_monotonic_time ();

  g_return_if_fail (NATTER_IS_ROOM (self));

  typing = !!typing;
  if (self->session == NULL)
    return;
  if (typing == self->my_typing &&
      (!typing || now - self->my_typing_sent < TYPING_RESEND_US))
    return;
  self->my_typing = typing;
  self->my_typing_sent = now;
  _natter_session_send_typing (self->session, self, typing);
}

void
natter_room_mark_read (NatterRoom *self)
{
  g_return_if_fail (NATTER_IS_ROOM (self));

  if (self->session != NULL)
    _natter_session_mark_read (self->session, self);
}
