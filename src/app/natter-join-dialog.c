/* natter-join-dialog.c: lists the server's rooms, filters them as the user
 * types, and joins or creates one. Errors stay in the dialog, next to what
 * caused them. */

#include <glib/gi18n.h>

#include "natter-join-dialog.h"
#include "natter-text.h"

struct _NatterJoinDialog
{
  AdwWindow           parent_instance;

  GtkSearchEntry     *entry;
  GtkRevealer        *create_revealer;
  GtkLabel           *create_label;
  GtkRevealer        *error_revealer;
  GtkLabel           *error_label;
  GtkStack           *stack;
  GtkSpinner         *spinner;
  GtkListView        *list_view;
  AdwStatusPage      *empty_page;

  NatterSession      *session;
  GCancellable       *cancellable;
  GListModel         *rooms;
  GtkCustomFilter    *filter;
  GtkSingleSelection *selection;
  char               *query;
  gboolean            busy;
};

G_DEFINE_FINAL_TYPE (NatterJoinDialog, natter_join_dialog, ADW_TYPE_WINDOW)

static char *
format_members (GtkListItem *item,
                guint        n_members,
                gboolean     joined)
{
  if (joined)
    /* Translators: member count of a room the user is in */
    return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u member · joined", "%u members · joined", n_members),
                            n_members);
  return g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u member", "%u members", n_members), n_members);
}

static gboolean
filter_func (gpointer item,
             gpointer user_data)
{
  NatterJoinDialog *self = user_data;

  /* Direct conversations are started from a member, not joined from here. */
  if (natter_room_get_is_dm (item))
    return FALSE;
  return natter_text_fuzzy_score (self->query, natter_room_get_name (item)) > 0 ||
         natter_text_fuzzy_score (self->query, natter_room_get_topic (item)) > 0;
}

static gboolean
valid_room_name (const char *name)
{
  glong len = g_utf8_strlen (name, -1);

  if (len < 1 || len > 64 || name[0] == '@')
    return FALSE;
  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

static gboolean
exists (NatterJoinDialog *self,
        const char       *name)
{
  guint n = self->rooms != NULL ? g_list_model_get_n_items (self->rooms) : 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterRoom) room = g_list_model_get_item (self->rooms, i);
      if (g_strcmp0 (natter_room_get_name (room), name) == 0)
        return TRUE;
    }
  return natter_session_lookup_room (self->session, name) != NULL;
}

static void
update (NatterJoinDialog *self)
{
  gboolean can_create = !self->busy && self->rooms != NULL &&
                        valid_room_name (self->query) && !exists (self, self->query);
  gboolean has_selection = self->selection != NULL &&
                           gtk_single_selection_get_selected_item (self->selection) != NULL;

  if (can_create)
    {
      /* Translators: %s is the room name typed in the search */
      g_autofree char *label = g_strdup_printf (_("Create a room named “%s”"), self->query);
      gtk_label_set_label (self->create_label, label);
    }
  gtk_revealer_set_reveal_child (self->create_revealer, can_create);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "join.create", can_create);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "join.join", !self->busy && has_selection);

  if (self->selection != NULL)
    gtk_stack_set_visible_child_name (self->stack,
                                      g_list_model_get_n_items (G_LIST_MODEL (self->selection)) > 0 ? "list" : "empty");
}

static void
show_error (NatterJoinDialog *self,
            const char       *message)
{
  if (message != NULL)
    gtk_label_set_label (self->error_label, message);
  gtk_revealer_set_reveal_child (self->error_revealer, message != NULL);
}

void
natter_join_dialog_set_query (NatterJoinDialog *self,
                              const char       *query)
{
  g_return_if_fail (NATTER_IS_JOIN_DIALOG (self));

  g_free (self->query);
  self->query = g_strstrip (g_strdup (query != NULL ? query : ""));
  gtk_filter_changed (GTK_FILTER (self->filter), GTK_FILTER_CHANGE_DIFFERENT);
  show_error (self, NULL);
  update (self);
}

GListModel *
natter_join_dialog_get_rooms (NatterJoinDialog *self)
{
  g_return_val_if_fail (NATTER_IS_JOIN_DIALOG (self), NULL);
  return self->selection != NULL ? G_LIST_MODEL (self->selection) : NULL;
}

static void
join_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(NatterJoinDialog) self = user_data;
  g_autoptr(NatterRoom) room = NULL;
  g_autoptr(GError) error = NULL;
  GtkWindow *parent;

  room = natter_session_join_finish (NATTER_SESSION (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self->busy = FALSE;
  gtk_spinner_set_spinning (self->spinner, FALSE);
  if (room == NULL)
    {
      /* Translators: %s is the reason */
      g_autofree char *text = g_strdup_printf (_("Could not join: %s"), error->message);
      show_error (self, text);
      update (self);
      return;
    }

  parent = gtk_window_get_transient_for (GTK_WINDOW (self));
  if (parent != NULL)
    gtk_widget_activate_action (GTK_WIDGET (parent), "win.open-room", "s", natter_room_get_name (room));
  gtk_window_close (GTK_WINDOW (self));
}

static void
join_room (NatterJoinDialog *self,
           const char       *name,
           gboolean          create)
{
  GtkWindow *parent = gtk_window_get_transient_for (GTK_WINDOW (self));

  if (self->busy)
    return;
  if (!create && natter_session_lookup_room (self->session, name) != NULL)
    {
      if (parent != NULL)
        gtk_widget_activate_action (GTK_WIDGET (parent), "win.open-room", "s", name);
      gtk_window_close (GTK_WINDOW (self));
      return;
    }
  self->busy = TRUE;
  show_error (self, NULL);
  update (self);
  natter_session_join_async (self->session, name, create, NULL, self->cancellable,
                             join_cb, g_object_ref (self));
}

static void
join_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  NatterJoinDialog *self = NATTER_JOIN_DIALOG (widget);
  NatterRoom *room = gtk_single_selection_get_selected_item (self->selection);

  if (room != NULL)
    join_room (self, natter_room_get_name (room), FALSE);
}

static void
create_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  NatterJoinDialog *self = NATTER_JOIN_DIALOG (widget);

  join_room (self, self->query, TRUE);
}

static void
on_search_changed (NatterJoinDialog *self)
{
  natter_join_dialog_set_query (self, gtk_editable_get_text (GTK_EDITABLE (self->entry)));
}

static void
on_entry_activate (NatterJoinDialog *self)
{
  if (gtk_widget_is_sensitive (GTK_WIDGET (self->create_revealer)) &&
      gtk_revealer_get_reveal_child (self->create_revealer))
    gtk_widget_activate_action (GTK_WIDGET (self), "join.create", NULL);
  else
    gtk_widget_activate_action (GTK_WIDGET (self), "join.join", NULL);
}

static void
on_stop_search (NatterJoinDialog *self)
{
  gtk_window_close (GTK_WINDOW (self));
}

static void
on_list_activate (NatterJoinDialog *self,
                  guint             position)
{
  g_autoptr(NatterRoom) room = g_list_model_get_item (G_LIST_MODEL (self->selection), position);

  if (room != NULL)
    join_room (self, natter_room_get_name (room), FALSE);
}

static void
list_rooms_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(NatterJoinDialog) self = user_data;
  g_autoptr(GError) error = NULL;
  GListModel *rooms;
  GtkFilterListModel *filtered;

  rooms = natter_session_list_rooms_finish (NATTER_SESSION (object), result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  gtk_spinner_set_spinning (self->spinner, FALSE);

  if (rooms == NULL)
    {
      adw_status_page_set_title (self->empty_page, _("Cannot Load Rooms"));
      if (g_error_matches (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_NOT_ONLINE))
        adw_status_page_set_description (self->empty_page, _("You are offline. Try again once connected."));
      else
        adw_status_page_set_description (self->empty_page, error->message);
      gtk_stack_set_visible_child_name (self->stack, "empty");
      return;
    }

  self->rooms = rooms;
  filtered = gtk_filter_list_model_new (g_object_ref (rooms), GTK_FILTER (g_object_ref (self->filter)));
  self->selection = gtk_single_selection_new (G_LIST_MODEL (filtered));
  g_signal_connect_object (self->selection, "notify::selected-item", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->selection, "items-changed", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  gtk_list_view_set_model (self->list_view, GTK_SELECTION_MODEL (self->selection));
  update (self);
}

NatterJoinDialog *
natter_join_dialog_new (GtkWindow     *parent,
                        NatterSession *session)
{
  NatterJoinDialog *self;

  g_return_val_if_fail (NATTER_IS_SESSION (session), NULL);

  self = g_object_new (NATTER_TYPE_JOIN_DIALOG,
                       "transient-for", parent,
                       "application", parent != NULL ? gtk_window_get_application (parent) : NULL,
                       NULL);
  self->session = g_object_ref (session);
  gtk_spinner_set_spinning (self->spinner, TRUE);
  gtk_widget_grab_focus (GTK_WIDGET (self->entry));
  natter_session_list_rooms_async (session, self->cancellable, list_rooms_cb, g_object_ref (self));
  return self;
}

static void
natter_join_dialog_dispose (GObject *object)
{
  NatterJoinDialog *self = NATTER_JOIN_DIALOG (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->list_view != NULL)
    gtk_list_view_set_model (self->list_view, NULL);
  g_clear_object (&self->selection);
  g_clear_object (&self->rooms);
  g_clear_object (&self->filter);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_JOIN_DIALOG);
  G_OBJECT_CLASS (natter_join_dialog_parent_class)->dispose (object);
}

static void
natter_join_dialog_finalize (GObject *object)
{
  NatterJoinDialog *self = NATTER_JOIN_DIALOG (object);

  g_clear_pointer (&self->query, g_free);
  G_OBJECT_CLASS (natter_join_dialog_parent_class)->finalize (object);
}

static void
natter_join_dialog_class_init (NatterJoinDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_join_dialog_dispose;
  object_class->finalize = natter_join_dialog_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-join-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterJoinDialog, entry);
  gtk_widget_class_bind_template_child (widget_class, NatterJoinDialog, create_revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterJoinDialog, create_label);
  gtk_widget_class_bind_template_child (widget_class, NatterJoinDialog, error_revealer);
  gtk_widget_class_bind_template_child (widget_class, NatterJoinDialog, error_label);
  gtk_widget_class_bind_template_child (widget_class, NatterJoinDialog, stack);
  gtk_widget_class_bind_template_child (widget_class, NatterJoinDialog, spinner);
  gtk_widget_class_bind_template_child (widget_class, NatterJoinDialog, list_view);
  gtk_widget_class_bind_template_child (widget_class, NatterJoinDialog, empty_page);
  gtk_widget_class_bind_template_callback (widget_class, on_search_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_entry_activate);
  gtk_widget_class_bind_template_callback (widget_class, on_stop_search);
  gtk_widget_class_bind_template_callback (widget_class, on_list_activate);

  gtk_widget_class_install_action (widget_class, "join.join", NULL, join_action);
  gtk_widget_class_install_action (widget_class, "join.create", NULL, create_action);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
natter_join_dialog_init (NatterJoinDialog *self)
{
  g_autoptr(GtkBuilderScope) scope = NULL;
  g_autoptr(GtkListItemFactory) factory = NULL;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->query = g_strdup ("");
  self->cancellable = g_cancellable_new ();
  self->filter = gtk_custom_filter_new (filter_func, self, NULL);

  scope = gtk_builder_cscope_new ();
  gtk_builder_cscope_add_callback_symbol (GTK_BUILDER_CSCOPE (scope), "format_members",
                                          G_CALLBACK (format_members));
  factory = gtk_builder_list_item_factory_new_from_resource (scope, "/io/github/natter/Natter/natter-join-dialog-item.ui");
  gtk_list_view_set_factory (self->list_view, factory);

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "join.join", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "join.create", FALSE);
}
