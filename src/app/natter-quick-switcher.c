/* natter-quick-switcher.c: the joined rooms filtered and ranked by a fuzzy
 * match on their display names. Up and Down move in the list while the
 * search entry keeps the focus. */

#include <glib/gi18n.h>

#include "natter-quick-switcher.h"
#include "natter-room-row.h"
#include "natter-text.h"

struct _NatterQuickSwitcher
{
  AdwWindow           parent_instance;

  GtkSearchEntry     *entry;
  GtkStack           *stack;
  GtkListView        *list_view;

  NatterSession      *session;
  GtkCustomFilter    *filter;
  GtkCustomSorter    *sorter;
  GtkSingleSelection *selection;
  char               *query;
};

G_DEFINE_FINAL_TYPE (NatterQuickSwitcher, natter_quick_switcher, ADW_TYPE_WINDOW)

static guint
score (NatterQuickSwitcher *self,
       NatterRoom          *room)
{
  return MAX (natter_text_fuzzy_score (self->query, natter_room_get_display_name (room)),
              natter_text_fuzzy_score (self->query, natter_room_get_name (room)));
}

static gboolean
filter_func (gpointer item,
             gpointer user_data)
{
  return score (user_data, item) > 0;
}

static int
sort_func (gconstpointer a,
           gconstpointer b,
           gpointer      user_data)
{
  guint sa = score (user_data, NATTER_ROOM ((gpointer) a));
  guint sb = score (user_data, NATTER_ROOM ((gpointer) b));

  if (sa != sb)
    return sa > sb ? -1 : 1;
  /* Equal matches keep the room list's order: newest activity first. */
  return 0;
}

static void
update_stack (NatterQuickSwitcher *self)
{
  gboolean empty = g_list_model_get_n_items (G_LIST_MODEL (self->selection)) == 0;

  gtk_stack_set_visible_child_name (self->stack, empty ? "empty" : "list");
  if (!empty)
    gtk_single_selection_set_selected (self->selection, 0);
}

void
natter_quick_switcher_set_query (NatterQuickSwitcher *self,
                                 const char          *query)
{
  g_return_if_fail (NATTER_IS_QUICK_SWITCHER (self));

  if (g_strcmp0 (gtk_editable_get_text (GTK_EDITABLE (self->entry)), query) != 0)
    gtk_editable_set_text (GTK_EDITABLE (self->entry), query != NULL ? query : "");
  g_free (self->query);
  self->query = g_strdup (query != NULL ? query : "");
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  gtk_sorter_changed (GTK_SORTER (self->sorter), GTK_SORTER_CHANGE_DIFFERENT);
  update_stack (self);
}

GListModel *
natter_quick_switcher_get_matches (NatterQuickSwitcher *self)
{
  g_return_val_if_fail (NATTER_IS_QUICK_SWITCHER (self), NULL);
  return G_LIST_MODEL (self->selection);
}

static void
on_search_changed (NatterQuickSwitcher *self)
{
  natter_quick_switcher_set_query (self, gtk_editable_get_text (GTK_EDITABLE (self->entry)));
}

static void
open_room (NatterQuickSwitcher *self,
           NatterRoom          *room)
{
  GtkWindow *parent = gtk_window_get_transient_for (GTK_WINDOW (self));

  if (room == NULL)
    return;
  if (parent != NULL)
    gtk_widget_activate_action (GTK_WIDGET (parent), "win.open-room", "s", natter_room_get_name (room));
  gtk_window_close (GTK_WINDOW (self));
}

static void
open_selected_action (GtkWidget  *widget,
                      const char *action_name,
                      GVariant   *parameter)
{
  NatterQuickSwitcher *self = NATTER_QUICK_SWITCHER (widget);

  open_room (self, gtk_single_selection_get_selected_item (self->selection));
}

static void
on_entry_activate (NatterQuickSwitcher *self)
{
  gtk_widget_activate_action (GTK_WIDGET (self), "switcher.open-selected", NULL);
}

static void
on_list_activate (NatterQuickSwitcher *self,
                  guint                position)
{
  g_autoptr(NatterRoom) room = g_list_model_get_item (G_LIST_MODEL (self->selection), position);

  open_room (self, room);
}

static void
on_stop_search (NatterQuickSwitcher *self)
{
  gtk_window_close (GTK_WINDOW (self));
}

static gboolean
on_key_pressed (NatterQuickSwitcher *self,
                guint                keyval,
                guint                keycode,
                GdkModifierType      state)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->selection));
  guint selected = gtk_single_selection_get_selected (self->selection);

  if (n == 0)
    return GDK_EVENT_PROPAGATE;
  if (keyval == GDK_KEY_Down || keyval == GDK_KEY_KP_Down)
    {
      selected = selected == GTK_INVALID_LIST_POSITION ? 0 : MIN (selected + 1, n - 1);
    }
  else if (keyval == GDK_KEY_Up || keyval == GDK_KEY_KP_Up)
    {
      selected = selected == GTK_INVALID_LIST_POSITION || selected == 0 ? 0 : selected - 1;
    }
  else
    return GDK_EVENT_PROPAGATE;

  gtk_single_selection_set_selected (self->selection, selected);
  gtk_widget_activate_action (GTK_WIDGET (self->list_view), "list.scroll-to-item", "u", selected);
  return GDK_EVENT_STOP;
}

NatterQuickSwitcher *
natter_quick_switcher_new (GtkWindow     *parent,
                           NatterSession *session)
{
  NatterQuickSwitcher *self;
  GtkFilterListModel *filtered;
  GtkSortListModel *sorted;

  g_return_val_if_fail (NATTER_IS_SESSION (session), NULL);

  self = g_object_new (NATTER_TYPE_QUICK_SWITCHER,
                       "transient-for", parent,
                       "application", parent != NULL ? gtk_window_get_application (parent) : NULL,
                       NULL);
  self->session = g_object_ref (session);

  filtered = gtk_filter_list_model_new (g_object_ref (natter_session_get_rooms (session)),
                                        GTK_FILTER (g_object_ref (self->filter)));
  sorted = gtk_sort_list_model_new (G_LIST_MODEL (filtered), GTK_SORTER (g_object_ref (self->sorter)));
  self->selection = gtk_single_selection_new (G_LIST_MODEL (sorted));
  gtk_single_selection_set_autoselect (self->selection, TRUE);
  gtk_list_view_set_model (self->list_view, GTK_SELECTION_MODEL (self->selection));
  update_stack (self);

  return self;
}

static void
natter_quick_switcher_dispose (GObject *object)
{
  NatterQuickSwitcher *self = NATTER_QUICK_SWITCHER (object);

  if (self->list_view != NULL)
    gtk_list_view_set_model (self->list_view, NULL);
  g_clear_object (&self->selection);
  g_clear_object (&self->filter);
  g_clear_object (&self->sorter);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_QUICK_SWITCHER);
  G_OBJECT_CLASS (natter_quick_switcher_parent_class)->dispose (object);
}

static void
natter_quick_switcher_finalize (GObject *object)
{
  NatterQuickSwitcher *self = NATTER_QUICK_SWITCHER (object);

  g_clear_pointer (&self->query, g_free);
  G_OBJECT_CLASS (natter_quick_switcher_parent_class)->finalize (object);
}

static void
natter_quick_switcher_class_init (NatterQuickSwitcherClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_quick_switcher_dispose;
  object_class->finalize = natter_quick_switcher_finalize;

  g_type_ensure (NATTER_TYPE_ROOM_ROW);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-quick-switcher.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterQuickSwitcher, entry);
  gtk_widget_class_bind_template_child (widget_class, NatterQuickSwitcher, stack);
  gtk_widget_class_bind_template_child (widget_class, NatterQuickSwitcher, list_view);
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_entry_activate);
  gtk_widget_class_bind_template_callback (widget_class, on_list_activate);
  gtk_widget_class_bind_template_callback (widget_class, on_stop_search);

  gtk_widget_class_install_action (widget_class, "switcher.open-selected", NULL, open_selected_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
natter_quick_switcher_init (NatterQuickSwitcher *self)
{
  GtkEventController *controller;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->query = g_strdup ("");
  self->filter = gtk_custom_filter_new (filter_func, self, NULL);
  self->sorter = gtk_custom_sorter_new (sort_func, self, NULL);

  controller = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (controller, GTK_PHASE_CAPTURE);
  g_signal_connect_swapped (controller, "key-pressed", G_CALLBACK (on_key_pressed), self);
  gtk_widget_add_controller (GTK_WIDGET (self->entry), controller);

  gtk_search_entry_set_key_capture_widget (self->entry, GTK_WIDGET (self));
}
