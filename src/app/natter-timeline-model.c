/* natter-timeline-model.c: a pass-through GListModel that announces
 * appended messages in batches and tells which item got a new predecessor. Reporting that item as removed and added again
 * would make GtkListView lose its scroll anchor when older messages are
 * prepended, so rows listen to ::context-changed instead. */

#include "natter-timeline-model.h"

struct _NatterTimelineModel
{
  GObject     parent_instance;

  GListModel *model;
  /* Items the view has been told about. Messages appended at the end are
   * announced together a moment later: at 1,000 messages a second, one
   * change per message made the list view build a row for each. */
  guint       n_items;
  guint       flush_source;
};

/* How long appended messages wait to be announced together. */
#define APPEND_DELAY_MS 30

enum {
  CONTEXT_CHANGED,
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
  return g_list_model_get_item (self->model, position);
}

static void
flush_appended (NatterTimelineModel *self)
{
  guint n = self->model != NULL ? g_list_model_get_n_items (self->model) : 0;
  guint old = self->n_items;

  g_clear_handle_id (&self->flush_source, g_source_remove);
  if (n > old)
    {
      self->n_items = n;
      g_list_model_items_changed (G_LIST_MODEL (self), old, 0, n - old);
    }
}

static gboolean
flush_cb (gpointer user_data)
{
  NatterTimelineModel *self = user_data;

  self->flush_source = 0;
  flush_appended (self);
  return G_SOURCE_REMOVE;
}

static void
list_model_iface_init (GListModelInterface *iface)
{
  iface->get_item_type = get_item_type;
  iface->get_n_items = get_n_items;
  iface->get_item = get_item;
}

static void
on_items_changed (NatterTimelineModel *self,
                  guint                position,
                  guint                removed,
                  guint                added)
{
  guint n = g_list_model_get_n_items (self->model);

  /* Appended at the very end: announced with the others shortly. */
  if (removed == 0 && position == n - added && position >= self->n_items)
    {
      if (self->flush_source == 0)
        self->flush_source = g_timeout_add (APPEND_DELAY_MS, flush_cb, self);
      return;
    }

  if (self->flush_source != 0)
    {
      /* Appends are still waiting: replace everything from the change to
       * the end in one go. Coarse, but only while messages pour in. */
      guint old = self->n_items;
      guint start = MIN (position, old);

      g_clear_handle_id (&self->flush_source, g_source_remove);
      self->n_items = n;
      g_list_model_items_changed (G_LIST_MODEL (self), start, old - start, n - start);
    }
  else
    {
      self->n_items = n;
      g_list_model_items_changed (G_LIST_MODEL (self), position, removed, added);
    }

  /* The item after the change now has another predecessor. */
  if (position + added < n)
    {
      g_autoptr(GObject) item = g_list_model_get_item (self->model, position + added);
      g_autoptr(GObject) previous = NULL;

      if (position + added > 0)
        previous = g_list_model_get_item (self->model, position + added - 1);
      g_signal_emit (self, signals [CONTEXT_CHANGED], 0, item, previous);
    }
}

NatterTimelineModel *
natter_timeline_model_new (GListModel *model)
{
  NatterTimelineModel *self;

  g_return_val_if_fail (model == NULL || G_IS_LIST_MODEL (model), NULL);

  self = g_object_new (NATTER_TYPE_TIMELINE_MODEL, NULL);
  if (model != NULL)
    {
      self->model = g_object_ref (model);
      self->n_items = g_list_model_get_n_items (model);
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
}

static void
natter_timeline_model_init (NatterTimelineModel *self)
{
}
