/* natter-window.c: the main window. It follows the application's session:
 * without one it shows the sign-in page, with one the room list and the room
 * in view. Room navigation and the dialogs are window actions, so the menu,
 * the shortcuts and the tests all go through the same code. */

#include <glib/gi18n.h>

#include "natter-app-private.h"
#include "natter-join-dialog.h"
#include "natter-quick-switcher.h"
#include "natter-room-row.h"
#include "natter-room-view.h"
#include "natter-sign-in-page.h"
#include "natter-window.h"

struct _NatterWindow
{
  AdwApplicationWindow  parent_instance;

  AdwToastOverlay      *toast_overlay;
  GtkStack             *stack;
  NatterSignInPage     *sign_in_page;
  AdwLeaflet           *leaflet;
  AdwWindowTitle       *sidebar_title;
  GtkStack             *sidebar_stack;
  AdwStatusPage        *no_rooms_page;
  GtkListView          *room_list;
  NatterRoomView       *room_view;
  GtkWindow            *shortcuts_window;

  NatterApplication    *application;
  GSettings            *settings;
  NatterSession        *session;
  GtkSingleSelection   *selection;
  NatterRoom           *room;
  guint                 resync_idle;
  gboolean              syncing;
  gboolean              reopen_pending;
};

G_DEFINE_FINAL_TYPE (NatterWindow, natter_window, ADW_TYPE_APPLICATION_WINDOW)

static void set_room (NatterWindow *self, NatterRoom *room);
static void reopen_last_room (NatterWindow *self);

static void setup (NatterWindow *self);

NatterWindow *
natter_window_new (NatterApplication *application)
{
  NatterWindow *self;

  g_return_val_if_fail (NATTER_IS_APPLICATION (application), NULL);

  self = g_object_new (NATTER_TYPE_WINDOW, "application", application, NULL);
  setup (self);
  return self;
}

NatterRoom *
natter_window_get_room (NatterWindow *self)
{
  g_return_val_if_fail (NATTER_IS_WINDOW (self), NULL);
  return self->room;
}

void
natter_window_add_toast (NatterWindow *self,
                         const char   *text)
{
  g_return_if_fail (NATTER_IS_WINDOW (self));
  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (text));
}

static GListModel *
get_rooms (NatterWindow *self)
{
  if (self->session == NULL)
    return NULL;
  return natter_session_get_rooms (self->session);
}

static guint
find_room (NatterWindow *self,
           NatterRoom   *room)
{
  GListModel *rooms = get_rooms (self);
  guint n = rooms != NULL ? g_list_model_get_n_items (rooms) : 0;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterRoom) item = g_list_model_get_item (rooms, i);
      if (item == room)
        return i;
    }
  return GTK_INVALID_LIST_POSITION;
}

static void
sync_selection (NatterWindow *self)
{
  guint position = self->room != NULL ? find_room (self, self->room) : GTK_INVALID_LIST_POSITION;

  if (self->selection == NULL)
    return;
  self->syncing = TRUE;
  gtk_single_selection_set_selected (self->selection, position);
  self->syncing = FALSE;
}

static void
update_title (NatterWindow *self)
{
  if (self->room != NULL)
    {
      /* Translators: the window title, %s is a room name */
      g_autofree char *title = g_strdup_printf (_("%s – Natter"),
                                                natter_room_get_display_name (self->room));
      gtk_window_set_title (GTK_WINDOW (self), title);
    }
  else
    gtk_window_set_title (GTK_WINDOW (self), _("Natter"));
}

static void
set_room (NatterWindow *self,
          NatterRoom   *room)
{
  if (self->room == room)
    return;

  if (self->room != NULL)
    g_signal_handlers_disconnect_by_data (self->room, self);
  g_set_object (&self->room, room);
  if (room != NULL)
    g_signal_connect_object (room, "notify::display-name",
                             G_CALLBACK (update_title), self, G_CONNECT_SWAPPED);

  natter_room_view_set_room (self->room_view, room);
  update_title (self);
  sync_selection (self);

  if (room != NULL)
    {
      g_autofree char *id = g_strdup_printf ("room:%s", natter_room_get_name (room));

      g_application_withdraw_notification (G_APPLICATION (self->application), id);
      g_settings_set_string (self->settings, "last-room", natter_room_get_name (room));
    }
}

gboolean
natter_window_open_room (NatterWindow *self,
                         const char   *name)
{
  NatterRoom *room;

  g_return_val_if_fail (NATTER_IS_WINDOW (self), FALSE);
  g_return_val_if_fail (name != NULL, FALSE);

  if (self->session == NULL)
    return FALSE;
  room = natter_session_lookup_room (self->session, name);
  if (room == NULL)
    return FALSE;

  set_room (self, room);
  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_FORWARD);
  natter_room_view_focus_composer (self->room_view);
  return TRUE;
}

static void
on_selected_item_changed (NatterWindow *self)
{
  NatterRoom *room;

  if (self->syncing)
    return;
  room = gtk_single_selection_get_selected_item (self->selection);
  if (room != NULL && room != self->room)
    natter_window_open_room (self, natter_room_get_name (room));
}

static void
on_room_list_activate (NatterWindow *self,
                       guint         position)
{
  g_autoptr(NatterRoom) room = g_list_model_get_item (get_rooms (self), position);

  if (room != NULL)
    natter_window_open_room (self, natter_room_get_name (room));
}

static gboolean
resync_idle_cb (gpointer user_data)
{
  NatterWindow *self = user_data;

  self->resync_idle = 0;
  if (self->room != NULL && find_room (self, self->room) == GTK_INVALID_LIST_POSITION)
    set_room (self, NULL);
  else
    sync_selection (self);

  /* Rooms arrived (first sign-in) or the room in view was left: show one,
   * unless the leaflet is folded and the list is what the user looks at. */
  if (self->room == NULL && !self->reopen_pending && !adw_leaflet_get_folded (self->leaflet))
    reopen_last_room (self);
  return G_SOURCE_REMOVE;
}

static void
on_rooms_changed (NatterWindow *self)
{
  GListModel *rooms = get_rooms (self);

  if (g_list_model_get_n_items (rooms) == 0)
    adw_status_page_set_icon_name (self->no_rooms_page, "chat-message-new-symbolic");
  gtk_stack_set_visible_child_name (self->sidebar_stack,
                                    g_list_model_get_n_items (rooms) > 0 ? "rooms" : "empty");
  /* The list reorders as messages arrive: keep the room in view selected
   * (and notice when it was left), once the model settled. */
  if (self->resync_idle == 0)
    self->resync_idle = g_idle_add (resync_idle_cb, self);
}

static void
update_sidebar_subtitle (NatterWindow *self)
{
  const char *subtitle = "";

  if (self->session != NULL)
    {
      switch (natter_session_get_state (self->session))
        {
        case NATTER_SESSION_STATE_ONLINE:
          subtitle = natter_session_get_user (self->session);
          break;
        case NATTER_SESSION_STATE_CONNECTING:
          subtitle = _("Connecting…");
          break;
        case NATTER_SESSION_STATE_WAITING_TO_RETRY:
        case NATTER_SESSION_STATE_DISCONNECTED:
          subtitle = _("Offline");
          break;
        case NATTER_SESSION_STATE_SIGNED_OUT:
        default:
          break;
        }
    }
  adw_window_title_set_subtitle (self->sidebar_title, subtitle);
}

static void
show_sign_in (NatterWindow *self)
{
  const char *server_option = natter_application_get_server_option (self->application);
  g_autofree char *server = g_settings_get_string (self->settings, "last-server");
  g_autofree char *user = g_settings_get_string (self->settings, "last-user");

  /* Built on first use: a hidden stack page is still styled and measured
   * with every layout of the window. */
  if (self->sign_in_page == NULL)
    {
      self->sign_in_page = g_object_new (NATTER_TYPE_SIGN_IN_PAGE, NULL);
      gtk_stack_add_named (self->stack, GTK_WIDGET (self->sign_in_page), "sign-in");
    }
  natter_sign_in_page_prefill (self->sign_in_page,
                               server_option != NULL ? server_option : server,
                               user);
  gtk_stack_set_visible_child_name (self->stack, "sign-in");
  natter_sign_in_page_focus (self->sign_in_page);
}

/* Reopens the room of the last run, from the cache. */
static void
reopen_last_room (NatterWindow *self)
{
  g_autofree char *last_room = g_settings_get_string (self->settings, "last-room");

  self->reopen_pending = FALSE;
  if (self->session == NULL || self->room != NULL)
    return;
  if (last_room[0] == '\0' || !natter_window_open_room (self, last_room))
    {
      g_autoptr(NatterRoom) first = g_list_model_get_item (get_rooms (self), 0);

      if (first != NULL && !adw_leaflet_get_folded (self->leaflet))
        natter_window_open_room (self, natter_room_get_name (first));
    }
  /* None to open: the room view says so. */
  if (self->room == NULL)
    natter_room_view_set_room (self->room_view, NULL);
}

static void
on_after_paint (GdkFrameClock *clock,
                NatterWindow  *self)
{
  g_signal_handlers_disconnect_by_func (clock, on_after_paint, self);
  if (self->reopen_pending)
    reopen_last_room (self);
}

static void
natter_window_map (GtkWidget *widget)
{
  NatterWindow *self = NATTER_WINDOW (widget);

  GTK_WIDGET_CLASS (natter_window_parent_class)->map (widget);

  /* At start-up the window first shows the cached room list, at its final
   * size; the room's timeline follows in the next frame. Laying the
   * timeline out while the window still settles its size cost seconds. */
  if (self->reopen_pending)
    g_signal_connect_object (gtk_widget_get_frame_clock (widget), "after-paint",
                             G_CALLBACK (on_after_paint), self, 0);
}

static void
on_session_changed (NatterWindow *self)
{
  NatterSession *session = natter_application_get_session (self->application);

  if (session == self->session)
    return;

  set_room (self, NULL);
  if (self->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);
      g_signal_handlers_disconnect_by_data (get_rooms (self), self);
    }
  gtk_list_view_set_model (self->room_list, NULL);
  g_clear_object (&self->selection);
  g_set_object (&self->session, session);
  natter_room_view_set_session (self->room_view, session);

  if (session == NULL)
    {
      update_sidebar_subtitle (self);
      show_sign_in (self);
      return;
    }

  self->selection = gtk_single_selection_new (g_object_ref (get_rooms (self)));
  gtk_single_selection_set_autoselect (self->selection, FALSE);
  gtk_single_selection_set_can_unselect (self->selection, TRUE);
  gtk_single_selection_set_selected (self->selection, GTK_INVALID_LIST_POSITION);
  g_signal_connect_object (self->selection, "notify::selected-item",
                           G_CALLBACK (on_selected_item_changed), self, G_CONNECT_SWAPPED);
  gtk_list_view_set_model (self->room_list, GTK_SELECTION_MODEL (self->selection));

  g_signal_connect_object (get_rooms (self), "items-changed",
                           G_CALLBACK (on_rooms_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (session, "notify::state",
                           G_CALLBACK (update_sidebar_subtitle), self, G_CONNECT_SWAPPED);
  update_sidebar_subtitle (self);
  on_rooms_changed (self);

  gtk_stack_set_visible_child_name (self->stack, "main");

  if (gtk_widget_get_mapped (GTK_WIDGET (self)))
    reopen_last_room (self);
  else
    self->reopen_pending = TRUE;
}

/* Room navigation */

static void
move_to_room (NatterWindow *self,
              int           step,
              gboolean      unread_only)
{
  GListModel *rooms = get_rooms (self);
  guint n, position;

  if (rooms == NULL || (n = g_list_model_get_n_items (rooms)) == 0)
    return;

  position = self->room != NULL ? find_room (self, self->room) : GTK_INVALID_LIST_POSITION;
  if (position == GTK_INVALID_LIST_POSITION)
    position = step > 0 ? n - 1 : 0;

  for (guint tried = 0; tried < n; tried++)
    {
      g_autoptr(NatterRoom) room = NULL;

      position = (position + n + step) % n;
      /* Plain next/previous stop at the ends; unread search wraps. */
      if (!unread_only && tried == 0 &&
          ((step > 0 && position == 0 && self->room != NULL) ||
           (step < 0 && position == n - 1 && self->room != NULL)))
        return;
      room = g_list_model_get_item (rooms, position);
      if (room == self->room)
        return;
      if (!unread_only || natter_room_get_unread (room) > 0)
        {
          natter_window_open_room (self, natter_room_get_name (room));
          return;
        }
    }
}

static void
prev_room_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  move_to_room (user_data, -1, FALSE);
}

static void
next_room_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  move_to_room (user_data, 1, FALSE);
}

static void
prev_unread_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  move_to_room (user_data, -1, TRUE);
}

static void
next_unread_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  move_to_room (user_data, 1, TRUE);
}

static void
join_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterWindow *self = user_data;
  NatterJoinDialog *dialog;

  if (self->session == NULL)
    return;
  dialog = natter_join_dialog_new (GTK_WINDOW (self), self->session);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
quick_switcher_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterWindow *self = user_data;
  NatterQuickSwitcher *switcher;

  if (self->session == NULL)
    return;
  switcher = natter_quick_switcher_new (GTK_WINDOW (self), self->session);
  gtk_window_present (GTK_WINDOW (switcher));
}

static void
show_sidebar_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterWindow *self = user_data;

  adw_leaflet_navigate (self->leaflet, ADW_NAVIGATION_DIRECTION_BACK);
}

static void
leave_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(NatterWindow) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_session_leave_finish (NATTER_SESSION (object), result, &error))
    {
      /* Translators: %s is an error message */
      g_autofree char *text = g_strdup_printf (_("Could not leave the room: %s"), error->message);
      natter_window_add_toast (self, text);
    }
}

static void
leave_room_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterWindow *self = user_data;

  if (self->session == NULL || self->room == NULL)
    return;
  natter_session_leave_async (self->session, self->room, NULL, leave_cb, g_object_ref (self));
}

static void
dm_cb (GObject      *object,
       GAsyncResult *result,
       gpointer      user_data)
{
  g_autoptr(NatterWindow) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoom) room = NULL;

  room = natter_session_dm_finish (NATTER_SESSION (object), result, &error);
  if (room == NULL)
    {
      /* Translators: %s is an error message */
      g_autofree char *text = g_strdup_printf (_("Could not start the conversation: %s"),
                                               error->message);
      natter_window_add_toast (self, text);
      return;
    }
  natter_window_open_room (self, natter_room_get_name (room));
}

static void
start_dm_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterWindow *self = user_data;
  const char *user = g_variant_get_string (parameter, NULL);

  if (self->session == NULL)
    return;
  natter_session_dm_async (self->session, user, NULL, dm_cb, g_object_ref (self));
}

static void
open_room_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  natter_window_open_room (user_data, g_variant_get_string (parameter, NULL));
}

/* The shortcuts window is built the first time it is asked for, then
 * hidden on close and shown again: GtkApplication's own help overlay
 * would be built with every window, before its first frame. */
static void
show_help_overlay_action (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  NatterWindow *self = user_data;

  if (self->shortcuts_window == NULL)
    {
      g_autoptr(GtkBuilder) builder =
        gtk_builder_new_from_resource ("/io/github/natter/Natter/natter-shortcuts-window.ui");

      self->shortcuts_window = g_object_ref (GTK_WINDOW (gtk_builder_get_object (builder, "help_overlay")));
      gtk_window_set_transient_for (self->shortcuts_window, GTK_WINDOW (self));
      gtk_window_set_hide_on_close (self->shortcuts_window, TRUE);
    }
  gtk_window_present (self->shortcuts_window);
}

static const GActionEntry win_actions[] = {
  { "prev-room", prev_room_action },
  { "next-room", next_room_action },
  { "prev-unread", prev_unread_action },
  { "next-unread", next_unread_action },
  { "join", join_action },
  { "quick-switcher", quick_switcher_action },
  { "show-sidebar", show_sidebar_action },
  { "leave-room", leave_room_action },
  { "start-dm", start_dm_action, "s" },
  { "open-room", open_room_action, "s" },
  { "show-help-overlay", show_help_overlay_action },
};

static gboolean
natter_window_close_request (GtkWindow *window)
{
  NatterWindow *self = NATTER_WINDOW (window);
  int width, height;

  gtk_window_get_default_size (window, &width, &height);
  g_settings_delay (self->settings);
  g_settings_set_int (self->settings, "window-width", width);
  g_settings_set_int (self->settings, "window-height", height);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
  g_settings_apply (self->settings);

  return GTK_WINDOW_CLASS (natter_window_parent_class)->close_request (window);
}

/* After construction: GtkWindow:application is not a construct property. */
static void
setup (NatterWindow *self)
{
  self->application = NATTER_APPLICATION (gtk_window_get_application (GTK_WINDOW (self)));
  self->settings = g_object_ref (natter_application_get_settings (self->application));

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  g_signal_connect_object (self->application, "notify::session",
                           G_CALLBACK (on_session_changed), self, G_CONNECT_SWAPPED);
  on_session_changed (self);
  if (self->session == NULL)
    show_sign_in (self);
}

static void
natter_window_dispose (GObject *object)
{
  NatterWindow *self = NATTER_WINDOW (object);

  g_clear_handle_id (&self->resync_idle, g_source_remove);
  if (self->shortcuts_window != NULL)
    gtk_window_destroy (self->shortcuts_window);
  g_clear_object (&self->shortcuts_window);
  if (self->room != NULL)
    g_signal_handlers_disconnect_by_data (self->room, self);
  g_clear_object (&self->room);
  if (self->room_list != NULL)
    gtk_list_view_set_model (self->room_list, NULL);
  g_clear_object (&self->selection);
  g_clear_object (&self->session);
  g_clear_object (&self->settings);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_WINDOW);
  G_OBJECT_CLASS (natter_window_parent_class)->dispose (object);
}

static void
natter_window_class_init (NatterWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->dispose = natter_window_dispose;
  window_class->close_request = natter_window_close_request;
  widget_class->map = natter_window_map;

  g_type_ensure (NATTER_TYPE_ROOM_VIEW);
  g_type_ensure (NATTER_TYPE_ROOM_ROW);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-window.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, stack);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, leaflet);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, sidebar_title);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, sidebar_stack);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, no_rooms_page);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, room_list);
  gtk_widget_class_bind_template_child (widget_class, NatterWindow, room_view);
}

static void
natter_window_init (NatterWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  g_action_map_add_action_entries (G_ACTION_MAP (self), win_actions,
                                   G_N_ELEMENTS (win_actions), self);
  g_signal_connect_swapped (self->room_list, "activate",
                            G_CALLBACK (on_room_list_activate), self);

  if (g_str_equal (PROFILE, "development"))
    gtk_widget_add_css_class (GTK_WIDGET (self), "devel");
}

/* Test hooks, see natter-app-private.h */

const char *
_natter_window_get_page (NatterWindow *self)
{
  return gtk_stack_get_visible_child_name (self->stack);
}

NatterSignInPage *
_natter_window_get_sign_in_page (NatterWindow *self)
{
  return self->sign_in_page;
}

NatterRoomView *
_natter_window_get_room_view (NatterWindow *self)
{
  return self->room_view;
}

GtkWidget *
_natter_window_get_room_list (NatterWindow *self)
{
  return GTK_WIDGET (self->room_list);
}
