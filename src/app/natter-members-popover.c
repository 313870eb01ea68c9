/* natter-members-popover.c: asks the server for fresh presence each time it
 * opens; the room's member model updates the rows live afterwards. The room
 * keeps its members in order (online first, then by name) as presence
 * changes, so the list shows that model as it is. */

#include <glib/gi18n.h>

#include "natter-member-row.h"
#include "natter-members-popover.h"

struct _NatterMembersPopover
{
  GtkPopover      parent_instance;

  GtkLabel       *heading;
  GtkListView    *list_view;

  NatterSession  *session;
  NatterRoom     *room;
  GListModel     *members;
  GCancellable   *cancellable;
};

G_DEFINE_FINAL_TYPE (NatterMembersPopover, natter_members_popover, GTK_TYPE_POPOVER)

static void
update_heading (NatterMembersPopover *self)
{
  guint n = self->members != NULL ? g_list_model_get_n_items (self->members) : 0;
  g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u Member", "%u Members", n), n);

  gtk_label_set_label (self->heading, text);
}

static void
setup_row (GtkSignalListItemFactory *factory,
           GtkListItem              *list_item,
           gpointer                  user_data)
{
  gtk_list_item_set_activatable (list_item, FALSE);
  gtk_list_item_set_child (list_item, GTK_WIDGET (natter_member_row_new ()));
}

static void
bind_row (GtkSignalListItemFactory *factory,
          GtkListItem              *list_item,
          NatterMembersPopover     *self)
{
  natter_member_row_set_member (NATTER_MEMBER_ROW (gtk_list_item_get_child (list_item)),
                                gtk_list_item_get_item (list_item),
                                self->session != NULL ? natter_session_get_user (self->session) : NULL);
}

static void
unbind_row (GtkSignalListItemFactory *factory,
            GtkListItem              *list_item,
            gpointer                  user_data)
{
  natter_member_row_set_member (NATTER_MEMBER_ROW (gtk_list_item_get_child (list_item)), NULL, NULL);
}

static void
fetch_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_session_fetch_members_finish (NATTER_SESSION (object), result, &error))
    g_debug ("Could not fetch members: %s", error->message);
}

static void
natter_members_popover_show (GtkWidget *widget)
{
  NatterMembersPopover *self = NATTER_MEMBERS_POPOVER (widget);

  GTK_WIDGET_CLASS (natter_members_popover_parent_class)->show (widget);

  if (self->session != NULL && self->room != NULL &&
      natter_session_get_state (self->session) == NATTER_SESSION_STATE_ONLINE)
    natter_session_fetch_members_async (self->session, self->room, self->cancellable,
                                        fetch_cb, NULL);
}

void
natter_members_popover_set_session (NatterMembersPopover *self,
                                    NatterSession        *session)
{
  g_return_if_fail (NATTER_IS_MEMBERS_POPOVER (self));
  g_set_object (&self->session, session);
}

void
natter_members_popover_set_room (NatterMembersPopover *self,
                                 NatterRoom           *room)
{
  g_return_if_fail (NATTER_IS_MEMBERS_POPOVER (self));

  if (self->room == room)
    return;
  g_set_object (&self->room, room);

  gtk_list_view_set_model (self->list_view, NULL);
  if (self->members != NULL)
    g_signal_handlers_disconnect_by_data (self->members, self);
  g_clear_object (&self->members);
  if (room == NULL)
    {
      update_heading (self);
      return;
    }

  self->members = g_object_ref (natter_room_get_members (room));
  g_signal_connect_object (self->members, "items-changed", G_CALLBACK (update_heading), self, G_CONNECT_SWAPPED);
  gtk_list_view_set_model (self->list_view,
                           GTK_SELECTION_MODEL (gtk_no_selection_new (g_object_ref (self->members))));
  update_heading (self);
}

static void
natter_members_popover_dispose (GObject *object)
{
  NatterMembersPopover *self = NATTER_MEMBERS_POPOVER (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->list_view != NULL)
    gtk_list_view_set_model (self->list_view, NULL);
  if (self->members != NULL)
    g_signal_handlers_disconnect_by_data (self->members, self);
  g_clear_object (&self->members);
  g_clear_object (&self->room);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_MEMBERS_POPOVER);
  G_OBJECT_CLASS (natter_members_popover_parent_class)->dispose (object);
}

static void
natter_members_popover_class_init (NatterMembersPopoverClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_members_popover_dispose;
  widget_class->show = natter_members_popover_show;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-members-popover.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, heading);
  gtk_widget_class_bind_template_child (widget_class, NatterMembersPopover, list_view);
}

static void
natter_members_popover_init (NatterMembersPopover *self)
{
  g_autoptr(GtkListItemFactory) factory = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));
  self->cancellable = g_cancellable_new ();

  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (setup_row), self);
  g_signal_connect (factory, "bind", G_CALLBACK (bind_row), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (unbind_row), self);
  gtk_list_view_set_factory (self->list_view, factory);
  update_heading (self);
}
