/* natter-timeline-model.c: a window over the end of a timeline. It passes
 * items through with an offset (the hidden older items), announces appended
 * messages in batches, and tells which item got a new predecessor.
 * Reporting that item as removed and added again would make GtkListView
 * lose its scroll anchor when older messages are revealed, so rows listen
 * to ::context-changed instead. */

#include "natter-timeline-model.h"

struct _NatterTimelineModel
{
  GObject     parent_instance;

  GListModel *model;
  /* Exposed items are model[hidden .. hidden + n_items). Items after them
   * were appended and wait to be announced together: at 1,000 messages a
   * second, one change per message made the list view lay out every one. */
  guint       hidden;
  guint       n_items;
  guint       flush_source;
  gboolean    by_frame;
  gboolean    pending_signalled;
};

/* Without a frame to wait for: how long appended messages wait. */
#define APPEND_DELAY_MS 30

enum {
  CONTEXT_CHANGED,
  APPENDS_PENDING,
  N_SIGNALS
};

static guint signals [N_SIGNALS];

static void list_model_iface_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterTimelineModel, natter_timeline_model, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, list_model_iface_init))

static GType
get_item_type (GListModel *list)
{
  return G_TYPE_OBJECT;
}

static guint
get_n_items (GListModel *list)
{
  NatterTimelineModel *self = NATTER_TIMELINE_MODEL (list);

  return self->n_items;
}

static gpointer
get_item (GListModel *list,
          guint       position)
{
  NatterTimelineModel *self = NATTER_TIMELINE_MODEL (list);

  if (self->model == NULL || position >= self->n_items)
    return NULL;
  return g_list_model_get_item (self->model, self->hidden + position);
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = get_item_type;
  iface->get_n_items = get_n_items;
  iface->get_item = get_item;
}

/* The exposed item at @position now follows another one (or none). */
static void
emit_context_changed (NatterTimelineModel *self,
                      guint                position)
{
  g_autoptr(GObject) item = NULL;
  g_autoptr(GObject) previous = NULL;

  if (position >= self->n_items)
    return;
  item = get_item (G_LIST_MODEL (self), position);
  if (position > 0)
    previous = get_item (G_LIST_MODEL (self), position - 1);
  g_signal_emit (self, signals [CONTEXT_CHANGED], 0, item, previous);
}

guint
natter_timeline_model_flush (NatterTimelineModel *self)
{
  guint n, old;

  g_return_val_if_fail (NATTER_IS_TIMELINE_MODEL (self), 0);

  g_clear_handle_id (&self->flush_source, g_source_remove);
  self->pending_signalled = FALSE;
  n = self->model != NULL ? g_list_model_get_n_items (self->model) : 0;
  old = self->n_items;
  if (n <= self->hidden + old)
    return 0;
  self->n_items = n - self->hidden;
  g_list_model_items_changed (G_LIST_MODEL (self), old, 0, self->n_items - old);
  return self->n_items - old;
}

static gboolean
flush_cb (gpointer user_data)
{
  NatterTimelineModel *self = user_data;

  self->flush_source = 0;
  natter_timeline_model_flush (self);
  return G_SOURCE_REMOVE;
}

static void
queue_flush (NatterTimelineModel *self)
{
  if (self->by_frame)
    {
      if (!self->pending_signalled)
        {
          self->pending_signalled = TRUE;
          g_signal_emit (self, signals [APPENDS_PENDING], 0);
        }
    }
  else if (self->flush_source == 0)
    self->flush_source = g_timeout_add (APPEND_DELAY_MS, flush_cb, self);
}

static gboolean
appends_waiting (NatterTimelineModel *self)
{
  return self->flush_source != 0 || self->pending_signalled;
}

static void
on_items_changed (NatterTimelineModel *self,
                  guint                position,
                  guint                removed,
                  guint                added)
{
  guint n = g_list_model_get_n_items (self->model);
  guint exposed_end = self->hidden + self->n_items;

  /* Past the exposed items (appended, or a pending message moving among
   * the ones not announced yet): announced with the others shortly. */
  if (position >= exposed_end)
    {
      if (n > self->hidden + self->n_items)
        queue_flush (self);
      return;
    }

  /* Among the hidden older items (a page loaded from the cache, a trim):
   * nothing the view shows changed. */
  if (self->hidden > 0 && position + removed <= self->hidden)
    {
      self->hidden = self->hidden - removed + added;
      return;
    }

  if (position >= self->hidden && position + removed <= exposed_end)
    {
      guint vpos = position - self->hidden;

      if (appends_waiting (self))
        {
          /* Appends are still waiting: replace everything from the change
           * to the end in one go. Coarse, but only while messages pour in. */
          guint old = self->n_items;

          g_clear_handle_id (&self->flush_source, g_source_remove);
          self->pending_signalled = FALSE;
          self->n_items = n - self->hidden;
          g_list_model_items_changed (G_LIST_MODEL (self), vpos, old - vpos, self->n_items - vpos);
        }
      else
        {
          self->n_items = self->n_items - removed + added;
          g_list_model_items_changed (G_LIST_MODEL (self), vpos, removed, added);
        }
      /* The item after the change now has another predecessor. */
      emit_context_changed (self, vpos + added);
      return;
    }

  /* Across the edge of the hidden items: expose everything from the change
   * on, in one change. Rare (a message older than the view, arriving). */
  {
    guint old = self->n_items;

    g_clear_handle_id (&self->flush_source, g_source_remove);
    self->pending_signalled = FALSE;
    self->hidden = MIN (self->hidden, position);
    self->n_items = n - self->hidden;
    g_list_model_items_changed (G_LIST_MODEL (self), 0, old, self->n_items);
  }
}

NatterTimelineModel *
natter_timeline_model_new (GListModel *model,
                           guint       n_shown)
{
  NatterTimelineModel *self;

  g_return_val_if_fail (model == NULL || G_IS_LIST_MODEL (model), NULL);

  self = g_object_new (NATTER_TYPE_TIMELINE_MODEL, NULL);
  if (model != NULL)
    {
      guint n = g_list_model_get_n_items (model);

      self->model = g_object_ref (model);
      self->hidden = n > n_shown ? n - n_shown : 0;
      self->n_items = n - self->hidden;
      g_signal_connect_object (model, "items-changed",
                               G_CALLBACK (on_items_changed), self, G_CONNECT_SWAPPED);
    }
  return self;
}

GListModel *
natter_timeline_model_get_model (NatterTimelineModel *self)
{
  g_return_val_if_fail (NATTER_IS_TIMELINE_MODEL (self), NULL);
  return self->model;
}

guint
natter_timeline_model_get_n_hidden (NatterTimelineModel *self)
{
  g_return_val_if_fail (NATTER_IS_TIMELINE_MODEL (self), 0);
  return self->hidden;
}

guint
natter_timeline_model_reveal (NatterTimelineModel *self,
                              guint                count)
{
  guint k;

  g_return_val_if_fail (NATTER_IS_TIMELINE_MODEL (self), 0);

  k = MIN (count, self->hidden);
  if (k == 0)
    return 0;
  self->hidden -= k;
  self->n_items += k;
  g_list_model_items_changed (G_LIST_MODEL (self), 0, 0, k);
  /* The formerly first row now has a predecessor. */
  emit_context_changed (self, k);
  return k;
}

guint
natter_timeline_model_flush_keep (NatterTimelineModel *self,
                                  guint                keep)
{
  guint n, target_hidden, drop, added;

  g_return_val_if_fail (NATTER_IS_TIMELINE_MODEL (self), 0);

  n = self->model != NULL ? g_list_model_get_n_items (self->model) : 0;
  if (n - self->hidden <= keep)
    return natter_timeline_model_flush (self);

  g_clear_handle_id (&self->flush_source, g_source_remove);
  self->pending_signalled = FALSE;
  /* First the oldest shown rows go, then only the newest of the appended
   * ones are announced: the list view never builds a row for a message
   * that is hidden again in the same frame. */
  target_hidden = n - keep;
  drop = MIN (self->n_items, target_hidden - self->hidden);
  if (drop > 0)
    {
      self->hidden += drop;
      self->n_items -= drop;
      g_list_model_items_changed (G_LIST_MODEL (self), 0, drop, 0);
    }
  self->hidden = target_hidden;
  added = keep - self->n_items;
  self->n_items = keep;
  if (added > 0)
    g_list_model_items_changed (G_LIST_MODEL (self), keep - added, 0, added);
  /* The new first row has no predecessor shown. */
  emit_context_changed (self, 0);
  return added;
}

void
natter_timeline_model_set_flush_by_frame (NatterTimelineModel *self,
                                          gboolean             by_frame)
{
  gboolean waiting;

  g_return_if_fail (NATTER_IS_TIMELINE_MODEL (self));

  by_frame = !!by_frame;
  if (self->by_frame == by_frame)
    return;
  waiting = appends_waiting (self);
  g_clear_handle_id (&self->flush_source, g_source_remove);
  self->pending_signalled = FALSE;
  self->by_frame = by_frame;
  if (waiting)
    queue_flush (self);
}

static void
natter_timeline_model_dispose (GObject *object)
{
  NatterTimelineModel *self = NATTER_TIMELINE_MODEL (object);

  g_clear_handle_id (&self->flush_source, g_source_remove);
  if (self->model != NULL)
    g_signal_handlers_disconnect_by_data (self->model, self);
  g_clear_object (&self->model);
  G_OBJECT_CLASS (natter_timeline_model_parent_class)->dispose (object);
}

static void
natter_timeline_model_class_init (NatterTimelineModelClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = natter_timeline_model_dispose;

  /* ::context-changed (GObject *item, GObject *previous_or_null) */
  signals [CONTEXT_CHANGED] =
    g_signal_new ("context-changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_OBJECT, G_TYPE_OBJECT);

  /* ::appends-pending: with flush-by-frame, messages were appended and
   * wait for natter_timeline_model_flush(); emitted once per batch. */
  signals [APPENDS_PENDING] =
    g_signal_new ("appends-pending",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
natter_timeline_model_init (NatterTimelineModel *self)
{
}
