/* natter-timeline.c: a room's messages as a GListModel, paged from the
 * cache. Items are the loaded window of sent messages (seq order) followed
 * by the room's outbox messages (pending or failed, in outbox order). */
#include "natter-client-private.h"

#define DEFAULT_PAGE 50

struct _NatterTimeline
{
  GObject        parent_instance;
  NatterSession *session;     /* weak */
  NatterRoom    *room;        /* weak: the room owns the timeline */
  char          *room_name;
  GPtrArray     *sent;        /* NatterMessage, seq order */
  GPtrArray     *pending;     /* NatterMessage, outbox order */
  gboolean       server_exhausted;
  gboolean       loading;
};

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterTimeline, natter_timeline, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

enum { PROP_0, PROP_ROOM, PROP_LOADING, PROP_AT_START, PROP_N_ITEMS, N_PROPS };
static GParamSpec *properties[N_PROPS];

static GType
get_item_type (GListModel *model)
{
  return NATTER_TYPE_MESSAGE;
}

static guint
get_n_items (GListModel *model)
{
  NatterTimeline *self = NATTER_TIMELINE (model);

  return self->sent->len + self->pending->len;
}

static gpointer
get_item (GListModel *model,
          guint       position)
{
  NatterTimeline *self = NATTER_TIMELINE (model);

  if (position < self->sent->len)
    return g_object_ref (g_ptr_array_index (self->sent, position));
  position -= self->sent->len;
  if (position < self->pending->len)
    return g_object_ref (g_ptr_array_index (self->pending, position));
  return NULL;
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = get_item_type;
  iface->get_n_items = get_n_items;
  iface->get_item = get_item;
}

static void
natter_timeline_dispose (GObject *object)
{
  NatterTimeline *self = NATTER_TIMELINE (object);

  if (self->session != NULL)
    g_object_remove_weak_pointer (G_OBJECT (self->session), (gpointer *) &self->session);
  self->session = NULL;
  if (self->room != NULL)
    g_object_remove_weak_pointer (G_OBJECT (self->room), (gpointer *) &self->room);
  self->room = NULL;
  G_OBJECT_CLASS (natter_timeline_parent_class)->dispose (object);
}

static void
natter_timeline_finalize (GObject *object)
{
  NatterTimeline *self = NATTER_TIMELINE (object);

  g_clear_pointer (&self->sent, g_ptr_array_unref);
  g_clear_pointer (&self->pending, g_ptr_array_unref);
  g_clear_pointer (&self->room_name, g_free);
  G_OBJECT_CLASS (natter_timeline_parent_class)->finalize (object);
}

static void
natter_timeline_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  NatterTimeline *self = NATTER_TIMELINE (object);

  switch (prop_id)
    {
    case PROP_ROOM: g_value_set_string (value, self->room_name); break;
    case PROP_LOADING: g_value_set_boolean (value, self->loading); break;
    case PROP_AT_START: g_value_set_boolean (value, natter_timeline_get_at_start (self)); break;
    case PROP_N_ITEMS: g_value_set_uint (value, get_n_items (G_LIST_MODEL (self))); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_timeline_class_init (NatterTimelineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = natter_timeline_dispose;
  object_class->finalize = natter_timeline_finalize;
  object_class->get_property = natter_timeline_get_property;

  properties[PROP_ROOM] = g_param_spec_string ("room", NULL, NULL, NULL, flags);
  properties[PROP_LOADING] = g_param_spec_boolean ("loading", NULL, NULL, FALSE, flags);
  properties[PROP_AT_START] = g_param_spec_boolean ("at-start", NULL, NULL, FALSE, flags);
  properties[PROP_N_ITEMS] = g_param_spec_uint ("n-items", NULL, NULL, 0, G_MAXUINT, 0, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_timeline_init (NatterTimeline *self)
{
  self->sent = g_ptr_array_new_with_free_func (g_object_unref);
  self->pending = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
items_changed (NatterTimeline *self,
               guint           position,
               guint           removed,
               guint           added)
{
  gboolean at_start_before = natter_timeline_get_at_start (self);

  g_list_model_items_changed (G_LIST_MODEL (self), position, removed, added);
  if (removed != added)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
  if (at_start_before != natter_timeline_get_at_start (self))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_AT_START]);
}

static gint64
first_seq (NatterTimeline *self)
{
  if (self->sent->len == 0)
    return 0;
  return natter_message_get_seq (g_ptr_array_index (self->sent, 0));
}

/* Prepends the tail of @page (seq order) that is contiguous with the
 * window; returns how many were added. */
static guint
prepend_page (NatterTimeline *self,
              GPtrArray      *page)
{
  gint64 expected = self->sent->len > 0 ? first_seq (self) - 1 : G_MAXINT64;
  guint start = page->len;
  g_autoptr(GPtrArray) add = NULL;

  while (start > 0)
    {
      const NatterChatMessage *m = g_ptr_array_index (page, start - 1);

      if (expected != G_MAXINT64 && m->seq != expected)
        break;
      expected = m->seq - 1;
      start--;
    }

  if (start == page->len)
    return 0;

  add = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = start; i < page->len; i++)
    g_ptr_array_add (add, _natter_session_wrap_message (self->session, g_ptr_array_index (page, i)));
  /* The new page goes in front of the window: append the window to it and
   * swap, which moves pointers without touching references. */
  g_ptr_array_extend_and_steal (add, g_steal_pointer (&self->sent));
  self->sent = g_steal_pointer (&add);
  items_changed (self, 0, 0, page->len - start);
  return page->len - start;
}

NatterTimeline *
_natter_timeline_new (NatterSession *session,
                      NatterRoom    *room)
{
  NatterTimeline *self = g_object_new (NATTER_TYPE_TIMELINE, NULL);
  NatterCache *cache = _natter_session_get_cache (session);
  g_autoptr(GPtrArray) outbox = NULL;

  self->session = session;
  g_object_add_weak_pointer (G_OBJECT (session), (gpointer *) &self->session);
  self->room = room;
  g_object_add_weak_pointer (G_OBJECT (room), (gpointer *) &self->room);
  self->room_name = g_strdup (natter_room_get_name (room));

  if (cache != NULL)
    {
      g_autoptr(GPtrArray) page = natter_cache_messages_before (cache, self->room_name,
                                                                G_MAXINT64, DEFAULT_PAGE);
      prepend_page (self, page);
    }

  outbox = _natter_session_get_outbox_for (session, self->room_name);
  for (guint i = 0; i < outbox->len; i++)
    g_ptr_array_add (self->pending, g_object_ref (g_ptr_array_index (outbox, i)));

  return self;
}

/* Index where a message with @seq goes; *found when one is there. */
static guint
find_seq (NatterTimeline *self,
          gint64          seq,
          gboolean       *found)
{
  guint lo = 0, hi = self->sent->len;

  *found = FALSE;
  while (lo < hi)
    {
      guint mid = (lo + hi) / 2;
      gint64 s = natter_message_get_seq (g_ptr_array_index (self->sent, mid));

      if (s == seq)
        {
          *found = TRUE;
          return mid;
        }
      if (s < seq)
        lo = mid + 1;
      else
        hi = mid;
    }
  return lo;
}

static gboolean
insert_sent (NatterTimeline *self,
             NatterMessage  *message)
{
  gint64 seq = natter_message_get_seq (message);
  gboolean found;
  guint position;

  /* Older than the window: it will come with the page that holds it. */
  if (self->sent->len > 0 && seq < first_seq (self))
    return FALSE;
  position = find_seq (self, seq, &found);
  if (found)
    return FALSE;
  g_ptr_array_insert (self->sent, position, g_object_ref (message));
  items_changed (self, position, 0, 1);
  return TRUE;
}

void
_natter_timeline_add_sent (NatterTimeline *self,
                           NatterMessage  *message)
{
  insert_sent (self, message);
}

void
_natter_timeline_add_pending (NatterTimeline *self,
                              NatterMessage  *message)
{
  guint index;

  if (g_ptr_array_find (self->pending, message, &index))
    return;
  g_ptr_array_add (self->pending, g_object_ref (message));
  items_changed (self, self->sent->len + self->pending->len - 1, 0, 1);
}

void
_natter_timeline_remove (NatterTimeline *self,
                         NatterMessage  *message)
{
  guint index;

  if (g_ptr_array_find (self->pending, message, &index))
    {
      g_ptr_array_remove_index (self->pending, index);
      items_changed (self, self->sent->len + index, 1, 0);
    }
  else if (g_ptr_array_find (self->sent, message, &index))
    {
      g_ptr_array_remove_index (self->sent, index);
      items_changed (self, index, 1, 0);
    }
}

void
_natter_timeline_message_sent (NatterTimeline *self,
                               NatterMessage  *message)
{
  g_autoptr(NatterMessage) keep = g_object_ref (message);
  guint index;

  if (g_ptr_array_find (self->pending, message, &index))
    {
      g_ptr_array_remove_index (self->pending, index);
      items_changed (self, self->sent->len + index, 1, 0);
    }
  insert_sent (self, message);
}

const char *
natter_timeline_get_room (NatterTimeline *self)
{
  g_return_val_if_fail (NATTER_IS_TIMELINE (self), NULL);
  return self->room_name;
}

gboolean
natter_timeline_get_loading (NatterTimeline *self)
{
  g_return_val_if_fail (NATTER_IS_TIMELINE (self), FALSE);
  return self->loading;
}

gboolean
natter_timeline_get_at_start (NatterTimeline *self)
{
  g_return_val_if_fail (NATTER_IS_TIMELINE (self), FALSE);

  if (self->sent->len > 0)
    return first_seq (self) <= 1 || self->server_exhausted;
  return self->server_exhausted ||
         (self->room != NULL && natter_room_get_last_seq (self->room) == 0);
}

static void
set_loading (NatterTimeline *self,
             gboolean        loading)
{
  if (self->loading == loading)
    return;
  self->loading = loading;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LOADING]);
}

static void
history_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  NatterTimeline *self = g_task_get_source_object (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  g_autoptr(GPtrArray) page = NULL;
  gboolean more = FALSE;
  guint added;

  set_loading (self, FALSE);
  messages = natter_session_history_finish (NATTER_SESSION (object), result, &more, &error);
  if (messages == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  /* The session cached them; page them in from the cache so that the
   * window stays contiguous whatever order they came in. */
  page = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_chat_message_free);
  for (guint i = 0; i < messages->len; i++)
    {
      NatterMessage *m = g_ptr_array_index (messages, i);
      NatterChatMessage *chat = natter_chat_message_new ();

      chat->room = g_strdup (natter_message_get_room (m));
      chat->seq = natter_message_get_seq (m);
      chat->ts = natter_message_get_ts (m);
      chat->from = g_strdup (natter_message_get_from (m));
      chat->cid = g_strdup (natter_message_get_cid (m));
      chat->text = g_strdup (natter_message_get_text (m));
      if (natter_message_get_file_id (m) != NULL)
        {
          chat->file = g_new0 (NatterChatFile, 1);
          chat->file->id = g_strdup (natter_message_get_file_id (m));
          chat->file->name = g_strdup (natter_message_get_file_name (m));
          chat->file->size = natter_message_get_file_size (m);
          chat->file->mime = g_strdup (natter_message_get_file_mime (m));
        }
      g_ptr_array_add (page, chat);
    }

  added = prepend_page (self, page);
  if (!more || (added == 0 && messages->len == 0))
    {
      gboolean before = natter_timeline_get_at_start (self);

      self->server_exhausted = TRUE;
      if (!before)
        g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_AT_START]);
    }
  g_task_return_boolean (task, TRUE);
}

void
natter_timeline_load_older_async (NatterTimeline      *self,
                                  guint                count,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  NatterCache *cache;
  gint64 before;

  g_return_if_fail (NATTER_IS_TIMELINE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, natter_timeline_load_older_async);

  if (count == 0)
    count = DEFAULT_PAGE;
  count = MIN (count, NATTER_CHAT_MAX_HISTORY_LIMIT);

  if (self->session == NULL || natter_timeline_get_at_start (self))
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  before = self->sent->len > 0 ? first_seq (self) : G_MAXINT64;
  cache = _natter_session_get_cache (self->session);
  if (cache != NULL)
    {
      g_autoptr(GPtrArray) page = natter_cache_messages_before (cache, self->room_name,
                                                                before, count);
      if (prepend_page (self, page) > 0)
        {
          g_task_return_boolean (task, TRUE);
          return;
        }
    }

  if (before == G_MAXINT64)
    before = self->room != NULL ? natter_room_get_last_seq (self->room) + 1 : 0;

  set_loading (self, TRUE);
  natter_session_history_async (self->session, self->room_name, before, 0, count,
                                cancellable, history_cb, g_steal_pointer (&task));
}

gboolean
natter_timeline_load_older_finish (NatterTimeline  *self,
                                   GAsyncResult    *result,
                                   GError         **error)
{
  g_return_val_if_fail (NATTER_IS_TIMELINE (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

void
natter_timeline_trim (NatterTimeline *self,
                      guint           keep)
{
  guint removed;

  g_return_if_fail (NATTER_IS_TIMELINE (self));

  if (self->sent->len <= keep)
    return;
  removed = self->sent->len - keep;
  g_ptr_array_remove_range (self->sent, 0, removed);
  self->server_exhausted = FALSE;
  items_changed (self, 0, removed, 0);
}
