/* natter-room-view.c: shows one room. The timeline follows new messages
 * while it is scrolled to the bottom, and asks for older pages when it is
 * scrolled near the top. */

#include <glib/gi18n.h>

#include "natter-app-private.h"
#include "natter-composer.h"
#include "natter-connection-banner.h"
#include "natter-members-popover.h"
#include "natter-message-row.h"
#include "natter-room-view.h"
#include "natter-send-file-dialog.h"
#include "natter-timeline-model.h"
#include "natter-transfer-row.h"

/* How close to an edge (in pixels) counts as being at it. */
#define EDGE_DISTANCE 48
/* Messages a timeline keeps when the view leaves it. */
#define TRIM_KEEP 100
/* The view shows the newest messages only (GtkListView builds a row for
 * each shown one): this many more per step when scrolled to the top. */
#define REVEAL_PAGE 30
/* The smallest height of a row (one line, no header): opening a room shows
 * enough rows to fill the view with those. */
#define MIN_ROW_HEIGHT 20
/* Older messages a timeline keeps in memory while the view follows. */
#define FOLLOW_HIDDEN_MAX 500

struct _NatterRoomView
{
  GtkWidget               parent_instance;

  GtkWidget              *box;
  AdwHeaderBar           *header_bar;
  AdwWindowTitle         *title;
  GtkMenuButton          *members_button;
  NatterMembersPopover   *members_popover;
  GtkLabel               *unsent_label;
  NatterConnectionBanner *banner;
  GtkStack               *stack;
  AdwStatusPage          *no_room_page;
  GtkScrolledWindow      *scroller;
  GtkListView            *timeline_view;
  GtkSpinner             *loading_spinner;
  GtkWidget              *jump_button;
  GtkLabel               *typing_label;
  GtkListView            *uploads_view;
  NatterComposer         *composer;

  GListStore             *uploads;

  NatterSession          *session;
  NatterRoom             *room;
  NatterTimelineModel    *model;
  GCancellable           *cancellable;
  guint                   scroll_idle;
  guint                   flush_tick;
  gint64                  kept_frame;
  guint                   mark_read_idle;
  double                  last_upper;
  gboolean                settling;
  gboolean                switching;
  gboolean                folded;
  gboolean                at_bottom;
};

G_DEFINE_FINAL_TYPE (NatterRoomView, natter_room_view, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_FOLDED,
  N_PROPS
};

static GParamSpec *properties [N_PROPS];

static NatterTimeline *
get_timeline (NatterRoomView *self)
{
  return self->room != NULL ? natter_room_get_timeline (self->room) : NULL;
}

gboolean
natter_room_view_get_at_bottom (NatterRoomView *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM_VIEW (self), FALSE);
  return self->at_bottom;
}

static gboolean
window_is_active (NatterRoomView *self)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));

  return GTK_IS_WINDOW (root) && gtk_window_is_active (GTK_WINDOW (root));
}

static void
maybe_mark_read (NatterRoomView *self)
{
  if (self->room != NULL && self->at_bottom && window_is_active (self) &&
      (natter_room_get_unread (self->room) > 0 || natter_room_get_mentions (self->room) > 0))
    natter_room_mark_read (self->room);
}

static gboolean
mark_read_idle_cb (gpointer user_data)
{
  NatterRoomView *self = user_data;

  self->mark_read_idle = 0;
  maybe_mark_read (self);
  return G_SOURCE_REMOVE;
}

/* The unread count changes with every message from someone else; marking
 * the room read (a cache write) once the frame is drawn is enough. */
static void
queue_mark_read (NatterRoomView *self)
{
  if (self->mark_read_idle == 0)
    self->mark_read_idle = g_idle_add (mark_read_idle_cb, self);
}

static void
scroll_to_bottom (NatterRoomView *self)
{
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (self->scroller);
  guint n = self->model != NULL ? g_list_model_get_n_items (G_LIST_MODEL (self->model)) : 0;

  /* Scrolling to the item makes the list view create the last rows rather
   * than every row on the way down. */
  if (n > 0 && gtk_adjustment_get_value (adjustment) + gtk_adjustment_get_page_size (adjustment) <
               gtk_adjustment_get_upper (adjustment) - EDGE_DISTANCE)
    gtk_widget_activate_action (GTK_WIDGET (self->timeline_view), "list.scroll-to-item", "u", n - 1);
  gtk_adjustment_set_value (adjustment,
                            gtk_adjustment_get_upper (adjustment) -
                            gtk_adjustment_get_page_size (adjustment));
}

static gboolean
scroll_idle_cb (gpointer user_data)
{
  NatterRoomView *self = user_data;

  self->scroll_idle = 0;
  if (self->at_bottom)
    {
      GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (self->scroller);

      scroll_to_bottom (self);
      /* Opening a room ends once the view rests on its newest message. */
      if (gtk_adjustment_get_value (adjustment) + gtk_adjustment_get_page_size (adjustment) >=
          gtk_adjustment_get_upper (adjustment) - 1)
        self->settling = FALSE;
    }
  return G_SOURCE_REMOVE;
}

static void
queue_scroll_to_bottom (NatterRoomView *self)
{
  if (self->scroll_idle == 0)
    self->scroll_idle = g_idle_add_full (GTK_PRIORITY_RESIZE + 10, scroll_idle_cb, self, NULL);
}

static void
load_older_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  g_autoptr(NatterRoomView) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_timeline_load_older_finish (NATTER_TIMELINE (object), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_debug ("Could not load older messages: %s", error->message);
}

static void
maybe_load_older (NatterRoomView *self)
{
  NatterTimeline *timeline = get_timeline (self);
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (self->scroller);

  if (timeline == NULL || self->model == NULL)
    return;
  /* Only near the top edge, and only once there is something to scroll. */
  if (gtk_adjustment_get_value (adjustment) > EDGE_DISTANCE * 4 ||
      gtk_adjustment_get_upper (adjustment) <= gtk_adjustment_get_page_size (adjustment) * 0.5)
    {
      if (g_list_model_get_n_items (G_LIST_MODEL (self->model)) > 0 &&
          gtk_adjustment_get_upper (adjustment) > gtk_adjustment_get_page_size (adjustment))
        return;
    }

  /* Older messages already in memory come first: no query, one change. */
  if (natter_timeline_model_reveal (self->model, REVEAL_PAGE) > 0)
    return;
  if (natter_timeline_get_loading (timeline) || natter_timeline_get_at_start (timeline))
    return;

  natter_timeline_load_older_async (timeline, 0, self->cancellable, load_older_cb, g_object_ref (self));
}

static void
on_value_changed (NatterRoomView *self,
                  GtkAdjustment  *adjustment)
{
  double value = gtk_adjustment_get_value (adjustment);
  double upper = gtk_adjustment_get_upper (adjustment);
  double page = gtk_adjustment_get_page_size (adjustment);

  if (self->switching)
    return;

  /* While a room opens, the view starts at the top and moves to the
   * bottom: that is neither the user scrolling nor a reason to load older
   * messages. */
  if (self->settling)
    {
      self->last_upper = upper;
      queue_scroll_to_bottom (self);
      return;
    }

  /* The list view reconfigures the adjustment as rows are measured; that
   * is not the user scrolling away from the bottom. */
  if (upper != self->last_upper)
    {
      self->last_upper = upper;
      if (self->at_bottom)
        {
          queue_scroll_to_bottom (self);
          return;
        }
    }

  self->at_bottom = value + page >= upper - EDGE_DISTANCE;
  gtk_widget_set_visible (self->jump_button, !self->at_bottom);
  if (value <= EDGE_DISTANCE * 4)
    maybe_load_older (self);
  maybe_mark_read (self);
}

/* TRUE during the frame in which flush_tick_cb() kept the view to a
 * screenful of the newest messages. */
static gboolean
in_kept_frame (NatterRoomView *self)
{
  GdkFrameClock *clock = gtk_widget_get_frame_clock (GTK_WIDGET (self->timeline_view));

  return clock != NULL && self->kept_frame == gdk_frame_clock_get_frame_counter (clock);
}

static void
on_upper_changed (NatterRoomView *self)
{
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (self->scroller);

  self->last_upper = gtk_adjustment_get_upper (adjustment);
  /* The content grew (new messages, rows measured): stay at the bottom. */
  if (self->at_bottom)
    queue_scroll_to_bottom (self);
  /* The rows shown do not fill the view: show older ones too. Not in the
   * frame that just replaced them with a screenful of new ones: their
   * heights are estimates until they are laid out. */
  if (self->model != NULL && gtk_adjustment_get_page_size (adjustment) > 0 &&
      !in_kept_frame (self) &&
      gtk_adjustment_get_upper (adjustment) <= gtk_adjustment_get_page_size (adjustment) &&
      natter_timeline_model_get_n_hidden (self->model) > 0)
    maybe_load_older (self);
}

/* What the view shows changed: once per frame at most while messages pour
 * in, since appended ones are announced in batches. */
static void
on_model_items_changed (NatterRoomView *self,
                        guint           position,
                        guint           removed,
                        guint           added)
{
  if (self->at_bottom)
    queue_scroll_to_bottom (self);
  queue_mark_read (self);
}

/* Rows enough to fill the view with the smallest ones. */
static guint
rows_to_fill (NatterRoomView *self)
{
  int height = gtk_widget_get_height (GTK_WIDGET (self->scroller));

  if (height <= 0)
    height = gtk_widget_get_height (GTK_WIDGET (self));
  if (height <= 0)
    return REVEAL_PAGE;
  return CLAMP (height / MIN_ROW_HEIGHT + 2, 10, 200);
}

/* Once per frame while messages arrive: announce them in one change and,
 * while the view follows the newest, keep it to the rows of one screen:
 * GtkListView (GTK 4.8) builds a row for up to 200 items before its
 * anchor, so at 1,000 messages a second it laid out hundreds of new rows
 * per frame. Scrolling up reveals the hidden ones again. The anchor moves
 * to the newest message here, so the layout of this same frame shows it at
 * the bottom. */
static gboolean
flush_tick_cb (GtkWidget     *widget,
               GdkFrameClock *clock,
               gpointer       user_data)
{
  NatterRoomView *self = user_data;
  NatterTimeline *timeline = get_timeline (self);
  guint n;

  self->flush_tick = 0;
  if (self->model == NULL)
    return G_SOURCE_REMOVE;
  if (!self->at_bottom)
    {
      natter_timeline_model_flush (self->model);
      return G_SOURCE_REMOVE;
    }
  if (natter_timeline_model_flush_keep (self->model, rows_to_fill (self)) == 0)
    return G_SOURCE_REMOVE;
  self->kept_frame = gdk_frame_clock_get_frame_counter (clock);
  /* Memory stays bounded however long the room keeps talking. */
  if (timeline != NULL && natter_timeline_model_get_n_hidden (self->model) > FOLLOW_HIDDEN_MAX)
    natter_timeline_trim (timeline, rows_to_fill (self) + REVEAL_PAGE);
  n = g_list_model_get_n_items (G_LIST_MODEL (self->model));
  if (n > 0)
    gtk_widget_activate_action (GTK_WIDGET (self->timeline_view), "list.scroll-to-item", "u", n - 1);
  return G_SOURCE_REMOVE;
}

static void
on_appends_pending (NatterRoomView *self)
{
  if (self->flush_tick == 0)
    self->flush_tick = gtk_widget_add_tick_callback (GTK_WIDGET (self->timeline_view),
                                                     flush_tick_cb, self, NULL);
}

static void
clear_flush_tick (NatterRoomView *self)
{
  if (self->flush_tick != 0 && self->timeline_view != NULL)
    gtk_widget_remove_tick_callback (GTK_WIDGET (self->timeline_view), self->flush_tick);
  self->flush_tick = 0;
}


static void
on_loading_changed (NatterRoomView *self)
{
  NatterTimeline *timeline = get_timeline (self);
  gboolean loading = timeline != NULL && natter_timeline_get_loading (timeline);

  gtk_widget_set_visible (GTK_WIDGET (self->loading_spinner), loading);
  gtk_spinner_set_spinning (self->loading_spinner, loading);
}

static void
update_typing (NatterRoomView *self)
{
  const char *text = self->room != NULL ? natter_room_get_typing_text (self->room) : NULL;

  /* The line keeps its height when empty, so the timeline does not jump. */
  gtk_label_set_label (self->typing_label, text != NULL ? text : " ");
}

static void
update_header (NatterRoomView *self)
{
  const char *topic;

  if (self->room == NULL)
    {
      adw_window_title_set_title (self->title, "");
      adw_window_title_set_subtitle (self->title, "");
      return;
    }

  topic = natter_room_get_topic (self->room);
  adw_window_title_set_title (self->title, natter_room_get_display_name (self->room));
  if (natter_room_get_is_dm (self->room))
    adw_window_title_set_subtitle (self->title, _("Direct message"));
  else
    adw_window_title_set_subtitle (self->title, topic != NULL ? topic : "");
}

static void
update_unsent (NatterRoomView *self)
{
  guint pending = self->session != NULL ? natter_session_get_pending (self->session) : 0;

  gtk_widget_set_visible (GTK_WIDGET (self->unsent_label), pending > 0);
  if (pending > 0)
    {
      g_autofree char *text = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u unsent", "%u unsent", pending),
                                               pending);
      gtk_label_set_label (self->unsent_label, text);
    }
}

/* Timeline rows */

static void
on_context_changed (GtkListItem *list_item,
                    GObject     *item,
                    GObject     *previous)
{
  if (gtk_list_item_get_item (list_item) == (gpointer) item)
    natter_message_row_set_previous (NATTER_MESSAGE_ROW (gtk_list_item_get_child (list_item)),
                                     NATTER_MESSAGE (previous));
}

static void
setup_row (GtkSignalListItemFactory *factory,
           GtkListItem              *list_item,
           NatterRoomView           *self)
{
  gtk_list_item_set_activatable (list_item, FALSE);
  gtk_list_item_set_selectable (list_item, FALSE);
  gtk_list_item_set_child (list_item, GTK_WIDGET (natter_message_row_new ()));
}

static void
bind_row (GtkSignalListItemFactory *factory,
          GtkListItem              *list_item,
          NatterRoomView           *self)
{
  NatterMessageRow *row = NATTER_MESSAGE_ROW (gtk_list_item_get_child (list_item));
  NatterMessage *message = gtk_list_item_get_item (list_item);
  guint position = gtk_list_item_get_position (list_item);
  g_autoptr(NatterMessage) previous = NULL;

  if (position > 0)
    previous = g_list_model_get_item (G_LIST_MODEL (self->model), position - 1);
  natter_message_row_bind (row, self->session, message, previous);
  g_signal_connect_object (self->model, "context-changed",
                           G_CALLBACK (on_context_changed), list_item, G_CONNECT_SWAPPED);
}

static void
unbind_row (GtkSignalListItemFactory *factory,
            GtkListItem              *list_item,
            NatterRoomView           *self)
{
  NatterMessageRow *row = NATTER_MESSAGE_ROW (gtk_list_item_get_child (list_item));

  if (self->model != NULL)
    g_signal_handlers_disconnect_by_func (self->model, on_context_changed, list_item);
  natter_message_row_unbind (row);
}

/* Files */

static void
update_uploads_visible (NatterRoomView *self)
{
  gtk_widget_set_visible (GTK_WIDGET (self->uploads_view),
                          g_list_model_get_n_items (G_LIST_MODEL (self->uploads)) > 0);
}

static void
on_transfer_state (NatterRoomView *self,
                   GParamSpec     *pspec,
                   NatterTransfer *transfer)
{
  guint position;

  /* Done: the file is a message in the timeline now. Failed ones stay,
   * with their reason, until dismissed. */
  if (natter_transfer_get_state (transfer) == NATTER_TRANSFER_STATE_DONE &&
      g_list_store_find (self->uploads, transfer, &position))
    g_list_store_remove (self->uploads, position);
  update_uploads_visible (self);
}

static void
add_upload (NatterRoomView *self,
            NatterTransfer *transfer)
{
  if (g_list_store_find (self->uploads, transfer, NULL))
    return;
  g_signal_connect_object (transfer, "notify::state", G_CALLBACK (on_transfer_state), self, G_CONNECT_SWAPPED);
  g_list_store_append (self->uploads, transfer);
  update_uploads_visible (self);
}

static void
upload_to (NatterRoomView *self,
           NatterRoom     *room,
           GFile          *file)
{
  g_autoptr(NatterTransfer) transfer = NULL;

  if (self->session == NULL || room == NULL)
    return;

  transfer = natter_transfer_new_upload (self->session, room, file, NULL);
  /* For Retry: a transfer does not tell its room. */
  g_object_set_data_full (G_OBJECT (transfer), "natter-room", g_object_ref (room), g_object_unref);
  add_upload (self, transfer);
  natter_transfer_start (transfer);
}

/* Uploads the session restored from an earlier run (or that others
 * started) show here too, with their progress. */
static void
on_session_transfers_changed (NatterRoomView *self,
                              guint           position,
                              guint           removed,
                              guint           added,
                              GListModel     *transfers)
{
  for (guint i = position; i < position + added; i++)
    {
      g_autoptr(NatterTransfer) transfer = g_list_model_get_item (transfers, i);

      if (natter_transfer_get_state (transfer) != NATTER_TRANSFER_STATE_DONE)
        add_upload (self, transfer);
    }
}

void
_natter_room_view_upload_file (NatterRoomView *self,
                               GFile          *file)
{
  upload_to (self, self->room, file);
}

static void
on_send_file_response (NatterSendFileDialog *dialog,
                       const char           *response,
                       NatterRoomView       *self)
{
  NatterRoom *room = g_object_get_data (G_OBJECT (dialog), "natter-room");
  GListModel *files = natter_send_file_dialog_get_files (dialog);

  if (g_strcmp0 (response, "send") != 0 || !natter_send_file_dialog_get_ready (dialog))
    return;
  for (guint i = 0; i < g_list_model_get_n_items (files); i++)
    {
      g_autoptr(GFile) file = g_list_model_get_item (files, i);
      upload_to (self, room, file);
    }
}

/* Nothing leaves the machine before the user saw what it is: the chooser,
 * a drop and a paste all end here. */
static void
confirm_send (NatterRoomView *self,
              GListModel     *files)
{
  GtkRoot *root = gtk_widget_get_root (GTK_WIDGET (self));
  NatterSendFileDialog *dialog;

  if (self->room == NULL || g_list_model_get_n_items (files) == 0)
    return;
  dialog = natter_send_file_dialog_new (GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL, files);
  /* The files go to the room they were meant for, even if the view moved on. */
  g_object_set_data_full (G_OBJECT (dialog), "natter-room", g_object_ref (self->room), g_object_unref);
  g_signal_connect_object (dialog, "response", G_CALLBACK (on_send_file_response), self, 0);
}

static void
send_file_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  NatterRoomView *self = NATTER_ROOM_VIEW (widget);
  g_autoptr(GListStore) files = g_list_store_new (G_TYPE_FILE);
  g_autoptr(GFile) file = g_file_new_for_commandline_arg (g_variant_get_string (parameter, NULL));

  g_list_store_append (files, file);
  confirm_send (self, G_LIST_MODEL (files));
}

static void
dismiss_transfer_action (GtkWidget  *widget,
                         const char *action_name,
                         GVariant   *parameter)
{
  NatterRoomView *self = NATTER_ROOM_VIEW (widget);
  const char *name = g_variant_get_string (parameter, NULL);

  for (guint i = g_list_model_get_n_items (G_LIST_MODEL (self->uploads)); i > 0; i--)
    {
      g_autoptr(NatterTransfer) transfer = g_list_model_get_item (G_LIST_MODEL (self->uploads), i - 1);

      if (natter_transfer_get_state (transfer) == NATTER_TRANSFER_STATE_FAILED &&
          g_strcmp0 (natter_transfer_get_file_name (transfer), name) == 0)
        g_list_store_remove (self->uploads, i - 1);
    }
  update_uploads_visible (self);
}

static void
retry_upload_action (GtkWidget  *widget,
                     const char *action_name,
                     GVariant   *parameter)
{
  NatterRoomView *self = NATTER_ROOM_VIEW (widget);
  const char *uri = g_variant_get_string (parameter, NULL);

  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->uploads)); i++)
    {
      g_autoptr(NatterTransfer) transfer = g_list_model_get_item (G_LIST_MODEL (self->uploads), i);
      g_autofree char *transfer_uri = g_file_get_uri (natter_transfer_get_file (transfer));

      if (natter_transfer_get_state (transfer) == NATTER_TRANSFER_STATE_FAILED &&
          g_strcmp0 (transfer_uri, uri) == 0)
        {
          /* A failed upload does not resume: a new one asks the server anew. */
          g_list_store_remove (self->uploads, i);
          upload_to (self, g_object_get_data (G_OBJECT (transfer), "natter-room"),
                     natter_transfer_get_file (transfer));
          return;
        }
    }
}

static void
on_chooser_response (GtkNativeDialog *chooser,
                     int              response,
                     NatterRoomView  *self)
{
  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr(GListModel) files = gtk_file_chooser_get_files (GTK_FILE_CHOOSER (chooser));

      confirm_send (self, files);
    }
  gtk_native_dialog_destroy (chooser);
  g_object_unref (chooser);
  g_object_unref (self);
}

static void
attach_action (GtkWidget  *widget,
               const char *action_name,
               GVariant   *parameter)
{
  NatterRoomView *self = NATTER_ROOM_VIEW (widget);
  GtkRoot *root = gtk_widget_get_root (widget);
  GtkFileChooserNative *chooser;

  if (self->room == NULL)
    return;
  /* A native chooser goes through the file chooser portal in Flatpak. */
  chooser = gtk_file_chooser_native_new (_("Send Files"),
                                         GTK_IS_WINDOW (root) ? GTK_WINDOW (root) : NULL,
                                         GTK_FILE_CHOOSER_ACTION_OPEN,
                                         _("_Send"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (chooser), TRUE);
  gtk_file_chooser_set_select_multiple (GTK_FILE_CHOOSER (chooser), TRUE);
  g_signal_connect (chooser, "response", G_CALLBACK (on_chooser_response), g_object_ref (self));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

static gboolean
on_drop (GtkDropTarget  *target,
         const GValue   *value,
         double          x,
         double          y,
         NatterRoomView *self)
{
  g_autoptr(GListStore) files = g_list_store_new (G_TYPE_FILE);

  if (self->room == NULL || !G_VALUE_HOLDS (value, GDK_TYPE_FILE_LIST))
    return FALSE;
  for (GSList *l = g_value_get_boxed (value); l != NULL; l = l->next)
    g_list_store_append (files, l->data);
  confirm_send (self, G_LIST_MODEL (files));
  return TRUE;
}

static void
setup_upload_row (GtkSignalListItemFactory *factory,
                  GtkListItem              *list_item,
                  gpointer                  user_data)
{
  gtk_list_item_set_activatable (list_item, FALSE);
  gtk_list_item_set_child (list_item, GTK_WIDGET (natter_transfer_row_new ()));
}

static void
bind_upload_row (GtkSignalListItemFactory *factory,
                 GtkListItem              *list_item,
                 gpointer                  user_data)
{
  natter_transfer_row_set_transfer (NATTER_TRANSFER_ROW (gtk_list_item_get_child (list_item)),
                                    gtk_list_item_get_item (list_item));
}

static void
unbind_upload_row (GtkSignalListItemFactory *factory,
                   GtkListItem              *list_item,
                   gpointer                  user_data)
{
  natter_transfer_row_set_transfer (NATTER_TRANSFER_ROW (gtk_list_item_get_child (list_item)), NULL);
}

/* Public API */

NatterRoom *
natter_room_view_get_room (NatterRoomView *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM_VIEW (self), NULL);
  return self->room;
}

void
natter_room_view_set_session (NatterRoomView *self,
                              NatterSession  *session)
{
  g_return_if_fail (NATTER_IS_ROOM_VIEW (self));

  if (self->session == session)
    return;

  /* Only to leave a room of the old session: without one the view still
   * waits to be told what to show. */
  if (self->room != NULL)
    natter_room_view_set_room (self, NULL);
  if (self->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);
      g_signal_handlers_disconnect_by_data (natter_session_get_transfers (self->session), self);
    }
  g_set_object (&self->session, session);
  /* Another account's uploads are not this one's business. */
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->uploads)); i++)
    {
      g_autoptr(NatterTransfer) transfer = g_list_model_get_item (G_LIST_MODEL (self->uploads), i);
      g_signal_handlers_disconnect_by_data (transfer, self);
    }
  g_list_store_remove_all (self->uploads);
  if (session != NULL)
    {
      GListModel *transfers = natter_session_get_transfers (session);

      g_signal_connect_object (session, "notify::pending",
                               G_CALLBACK (update_unsent), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (transfers, "items-changed",
                               G_CALLBACK (on_session_transfers_changed), self, G_CONNECT_SWAPPED);
      on_session_transfers_changed (self, 0, 0, g_list_model_get_n_items (transfers), transfers);
    }
  update_uploads_visible (self);
  natter_connection_banner_set_session (self->banner, session);
  natter_members_popover_set_session (self->members_popover, session);
  update_unsent (self);
}

static void
show_no_room (NatterRoomView *self)
{
  adw_status_page_set_icon_name (self->no_room_page, "chat-message-new-symbolic");
  gtk_stack_set_visible_child_name (self->stack, "empty");
}

void
natter_room_view_set_room (NatterRoomView *self,
                           NatterRoom     *room)
{
  g_autoptr(GtkNoSelection) selection = NULL;

  g_return_if_fail (NATTER_IS_ROOM_VIEW (self));

  if (self->room == room)
    {
      /* Told that there is none to show, rather than not told yet. */
      if (room == NULL)
        show_no_room (self);
      return;
    }

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_handle_id (&self->scroll_idle, g_source_remove);
  g_clear_handle_id (&self->mark_read_idle, g_source_remove);
  clear_flush_tick (self);
  /* Before the list view lets go of the rows: what that does to the
   * adjustment is not about the new room. */
  if (self->model != NULL)
    g_signal_handlers_disconnect_by_data (self->model, self);
  g_clear_object (&self->model);
  /* GTK 4.8's list view looks up the row at the adjustment's value
   * whenever the value changes. Left where the old room was (far down), a
   * change before the new rows are laid out (a scroll, a test holding it at
   * the top) finds no row there and warns. Start the adjustment at the top,
   * unseen by the list view: its next layout sets the value from its own
   * anchor anyway. */
  {
    GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (self->scroller);

    self->switching = TRUE;
    g_signal_handlers_block_matched (adjustment, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, self->timeline_view);
    gtk_adjustment_set_value (adjustment, 0);
    g_signal_handlers_unblock_matched (adjustment, G_SIGNAL_MATCH_DATA, 0, 0, NULL, NULL, self->timeline_view);
    self->switching = FALSE;
  }

  if (self->room != NULL)
    {
      NatterTimeline *old_timeline = natter_room_get_timeline (self->room);

      natter_room_set_typing (self->room, FALSE);
      g_signal_handlers_disconnect_by_data (self->room, self);
      g_signal_handlers_disconnect_by_data (old_timeline, self);
      gtk_list_view_set_model (self->timeline_view, NULL);
      /* Memory stays bounded however far back the user scrolled. */
      natter_timeline_trim (old_timeline, TRIM_KEEP);
    }
  g_clear_object (&self->model);
  g_set_object (&self->room, room);

  natter_composer_set_room (self->composer, room);
  natter_members_popover_set_room (self->members_popover, room);

  if (room == NULL)
    {
      show_no_room (self);
      gtk_widget_set_visible (GTK_WIDGET (self->members_button), FALSE);
      update_header (self);
      update_typing (self);
      gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.scroll-to-bottom", FALSE);
      gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.attach", FALSE);
      gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.send-file", FALSE);
      return;
    }

  self->cancellable = g_cancellable_new ();
  self->model = natter_timeline_model_new (G_LIST_MODEL (natter_room_get_timeline (room)),
                                           rows_to_fill (self));
  natter_timeline_model_set_flush_by_frame (self->model, TRUE);
  g_signal_connect_object (self->model, "items-changed",
                           G_CALLBACK (on_model_items_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (self->model, "appends-pending",
                           G_CALLBACK (on_appends_pending), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (natter_room_get_timeline (room), "notify::loading",
                           G_CALLBACK (on_loading_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::display-name", G_CALLBACK (update_header), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::topic", G_CALLBACK (update_header), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::typing-text", G_CALLBACK (update_typing), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (room, "notify::unread", G_CALLBACK (queue_mark_read), self, G_CONNECT_SWAPPED);

  selection = gtk_no_selection_new (g_object_ref (G_LIST_MODEL (self->model)));
  self->at_bottom = TRUE;
  self->settling = TRUE;
  gtk_widget_set_visible (self->jump_button, FALSE);
  gtk_list_view_set_model (self->timeline_view, GTK_SELECTION_MODEL (selection));
  gtk_stack_set_visible_child_name (self->stack, "room");
  gtk_widget_set_visible (GTK_WIDGET (self->members_button), TRUE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.scroll-to-bottom", TRUE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.attach", TRUE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.send-file", TRUE);

  update_header (self);
  update_typing (self);
  on_loading_changed (self);
  queue_scroll_to_bottom (self);
  maybe_mark_read (self);

  /* A room with only a few cached messages fills the view from history. */
  if (natter_timeline_model_get_n_hidden (self->model) == 0 &&
      g_list_model_get_n_items (G_LIST_MODEL (self->model)) < 20)
    maybe_load_older (self);
}

void
natter_room_view_focus_composer (NatterRoomView *self)
{
  g_return_if_fail (NATTER_IS_ROOM_VIEW (self));

  if (self->room != NULL)
    natter_composer_grab_focus (self->composer);
}

static void
scroll_to_bottom_action (GtkWidget  *widget,
                         const char *action_name,
                         GVariant   *parameter)
{
  NatterRoomView *self = NATTER_ROOM_VIEW (widget);

  self->at_bottom = TRUE;
  scroll_to_bottom (self);
  queue_scroll_to_bottom (self);
}

static void
on_root_active_changed (NatterRoomView *self)
{
  maybe_mark_read (self);
}

static void
natter_room_view_root (GtkWidget *widget)
{
  GTK_WIDGET_CLASS (natter_room_view_parent_class)->root (widget);

  g_signal_connect_object (gtk_widget_get_root (widget), "notify::is-active",
                           G_CALLBACK (on_root_active_changed), widget, G_CONNECT_SWAPPED);
}

static void
natter_room_view_unroot (GtkWidget *widget)
{
  g_signal_handlers_disconnect_by_func (gtk_widget_get_root (widget), on_root_active_changed, widget);

  GTK_WIDGET_CLASS (natter_room_view_parent_class)->unroot (widget);
}

static void
natter_room_view_dispose (GObject *object)
{
  NatterRoomView *self = NATTER_ROOM_VIEW (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_handle_id (&self->scroll_idle, g_source_remove);
  g_clear_handle_id (&self->mark_read_idle, g_source_remove);
  clear_flush_tick (self);
  if (self->model != NULL)
    g_signal_handlers_disconnect_by_data (self->model, self);
  if (self->room != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->room, self);
      g_signal_handlers_disconnect_by_data (natter_room_get_timeline (self->room), self);
    }
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  if (self->timeline_view != NULL)
    gtk_list_view_set_model (self->timeline_view, NULL);
  if (self->uploads_view != NULL)
    gtk_list_view_set_model (self->uploads_view, NULL);
  g_clear_object (&self->uploads);
  g_clear_object (&self->model);
  g_clear_object (&self->room);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_ROOM_VIEW);
  G_OBJECT_CLASS (natter_room_view_parent_class)->dispose (object);
}

static void
natter_room_view_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  NatterRoomView *self = NATTER_ROOM_VIEW (object);

  switch (prop_id)
    {
    case PROP_FOLDED:
      g_value_set_boolean (value, self->folded);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_room_view_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  NatterRoomView *self = NATTER_ROOM_VIEW (object);

  switch (prop_id)
    {
    case PROP_FOLDED:
      if (self->folded != g_value_get_boolean (value))
        {
          self->folded = g_value_get_boolean (value);
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_room_view_class_init (NatterRoomViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_room_view_dispose;
  object_class->get_property = natter_room_view_get_property;
  object_class->set_property = natter_room_view_set_property;
  widget_class->root = natter_room_view_root;
  widget_class->unroot = natter_room_view_unroot;

  /* Bound to the leaflet: the header shows a back button when folded. */
  properties [PROP_FOLDED] =
    g_param_spec_boolean ("folded", NULL, NULL, FALSE,
                          G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  g_type_ensure (NATTER_TYPE_COMPOSER);
  g_type_ensure (NATTER_TYPE_CONNECTION_BANNER);
  g_type_ensure (NATTER_TYPE_MEMBERS_POPOVER);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-room-view.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, box);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, header_bar);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, title);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, members_button);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, members_popover);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, unsent_label);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, banner);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, stack);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, no_room_page);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, scroller);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, timeline_view);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, loading_spinner);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, jump_button);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, typing_label);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, uploads_view);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomView, composer);

  gtk_widget_class_install_action (widget_class, "room.attach", NULL, attach_action);
  gtk_widget_class_install_action (widget_class, "room.dismiss-transfer", "s", dismiss_transfer_action);
  gtk_widget_class_install_action (widget_class, "room.retry-upload", "s", retry_upload_action);
  /* A path or URI: asks, then sends it (the chooser, drop and paste do). */
  gtk_widget_class_install_action (widget_class, "room.send-file", "s", send_file_action);

  gtk_widget_class_install_action (widget_class, "room.scroll-to-bottom", NULL, scroll_to_bottom_action);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
natter_room_view_init (NatterRoomView *self)
{
  g_autoptr(GtkListItemFactory) factory = NULL;
  GtkAdjustment *adjustment;

  gtk_widget_init_template (GTK_WIDGET (self));

  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (setup_row), self);
  g_signal_connect (factory, "bind", G_CALLBACK (bind_row), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (unbind_row), self);
  gtk_list_view_set_factory (self->timeline_view, factory);
  g_clear_object (&factory);

  self->uploads = g_list_store_new (NATTER_TYPE_TRANSFER);
  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (setup_upload_row), self);
  g_signal_connect (factory, "bind", G_CALLBACK (bind_upload_row), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (unbind_upload_row), self);
  gtk_list_view_set_factory (self->uploads_view, factory);
  g_clear_object (&factory);
  gtk_list_view_set_model (self->uploads_view,
                           GTK_SELECTION_MODEL (gtk_no_selection_new (g_object_ref (G_LIST_MODEL (self->uploads)))));

  /* Files dropped anywhere on the room are sent to it. */
  {
    GtkDropTarget *target = gtk_drop_target_new (GDK_TYPE_FILE_LIST, GDK_ACTION_COPY);

    g_signal_connect (target, "drop", G_CALLBACK (on_drop), self);
    gtk_widget_add_controller (GTK_WIDGET (self->stack), GTK_EVENT_CONTROLLER (target));
  }

  adjustment = gtk_scrolled_window_get_vadjustment (self->scroller);
  g_signal_connect_object (adjustment, "value-changed", G_CALLBACK (on_value_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (adjustment, "notify::upper", G_CALLBACK (on_upper_changed), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (adjustment, "notify::page-size", G_CALLBACK (on_upper_changed), self, G_CONNECT_SWAPPED);

  self->at_bottom = TRUE;
  self->kept_frame = -1;
  gtk_widget_set_visible (GTK_WIDGET (self->members_button), FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.scroll-to-bottom", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.attach", FALSE);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "room.send-file", FALSE);
  update_typing (self);
}

/* Test hooks, see natter-app-private.h */

NatterComposer *
_natter_room_view_get_composer (NatterRoomView *self)
{
  return self->composer;
}

NatterConnectionBanner *
_natter_room_view_get_banner (NatterRoomView *self)
{
  return self->banner;
}

const char *
_natter_room_view_get_unsent (NatterRoomView *self)
{
  if (!gtk_widget_get_visible (GTK_WIDGET (self->unsent_label)))
    return NULL;
  return gtk_label_get_label (self->unsent_label);
}

const char *
_natter_room_view_get_page (NatterRoomView *self)
{
  return gtk_stack_get_visible_child_name (self->stack);
}

GtkWidget *
_natter_room_view_get_timeline_view (NatterRoomView *self)
{
  return GTK_WIDGET (self->timeline_view);
}

const char *
_natter_room_view_get_typing (NatterRoomView *self)
{
  const char *text = gtk_label_get_label (self->typing_label);

  return g_strcmp0 (text, " ") == 0 ? "" : text;
}

GListModel *
_natter_room_view_get_uploads (NatterRoomView *self)
{
  return G_LIST_MODEL (self->uploads);
}
