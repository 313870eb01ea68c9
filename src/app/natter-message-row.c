/* natter-message-row.c: a timeline row. The list view may bind a row to
 * another message, so everything shown is recomputed in bind and undone in
 * unbind; the parts only some messages need are built for the first one. */

#include <glib/gi18n.h>

#include "natter-file-row.h"
#include "natter-message-row.h"
#include "natter-text.h"

/* Messages of one sender closer than this share one header. */
#define GROUP_GAP_MS (5 * 60 * 1000)
/* The most characters of one message a row lays out. */
#define MAX_SHOWN_CHARS 2000

struct _NatterMessageRow
{
  GtkWidget      parent_instance;

  /* Built in init: what every row shows. */
  GtkWidget     *message_box;
  GtkWidget     *content_box;
  GtkLabel      *text_label;

  /* Built the first time the row needs them. */
  GtkWidget     *day_box;
  GtkLabel      *day_label;
  GtkLabel      *avatar;
  GtkWidget     *header_box;
  GtkLabel      *sender_label;
  GtkLabel      *time_label;
  GtkImage      *state_icon;
  NatterFileRow *file_row;
  GtkWidget     *failed_box;
  GtkLabel      *error_label;

  NatterSession *session;
  NatterMessage *message;
  NatterMessage *previous;
  /* What the text's tooltip says, if anything (see query_text_tooltip). */
  char          *time_text;
  gboolean       new_group;
  gboolean       shortened;
};

G_DEFINE_FINAL_TYPE (NatterMessageRow, natter_message_row, GTK_TYPE_WIDGET)

NatterMessageRow *
natter_message_row_new (void)
{
  return g_object_new (NATTER_TYPE_MESSAGE_ROW, NULL);
}

NatterMessage *
natter_message_row_get_message (NatterMessageRow *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE_ROW (self), NULL);
  return self->message;
}

static gboolean
same_day (GDateTime *a,
          GDateTime *b)
{
  return g_date_time_get_year (a) == g_date_time_get_year (b) &&
         g_date_time_get_day_of_year (a) == g_date_time_get_day_of_year (b);
}

static GtkWidget *
day_separator_line (void)
{
  GtkWidget *line = gtk_separator_new (GTK_ORIENTATION_HORIZONTAL);

  gtk_widget_set_hexpand (line, TRUE);
  gtk_widget_set_valign (line, GTK_ALIGN_CENTER);
  return line;
}

/* "Today", between two lines, above the first message of a day. */
static void
ensure_day_box (NatterMessageRow *self)
{
  if (self->day_box != NULL)
    return;

  self->day_box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  gtk_widget_add_css_class (self->day_box, "day-separator");
  self->day_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_widget_add_css_class (GTK_WIDGET (self->day_label), "caption-heading");
  gtk_widget_add_css_class (GTK_WIDGET (self->day_label), "dim-label");
  gtk_box_append (GTK_BOX (self->day_box), day_separator_line ());
  gtk_box_append (GTK_BOX (self->day_box), GTK_WIDGET (self->day_label));
  gtk_box_append (GTK_BOX (self->day_box), day_separator_line ());
  gtk_widget_insert_before (self->day_box, GTK_WIDGET (self), self->message_box);
}

/* The avatar in the margin and the sender's name and time above the text,
 * for the first message of a group. The avatar is an overlay: no
 * horizontal box holds the wrapping text, at any depth. A box asks its
 * children for their width at its height on every allocation, and GTK 4.8
 * answers that for a wrapping label by laying the text out some twenty
 * times (a binary search). */
static void
ensure_header (NatterMessageRow *self)
{
  if (self->header_box != NULL)
    return;

  self->avatar = g_object_new (GTK_TYPE_LABEL,
                               "accessible-role", GTK_ACCESSIBLE_ROLE_PRESENTATION,
                               "halign", GTK_ALIGN_START,
                               "valign", GTK_ALIGN_START,
                               NULL);
  gtk_widget_add_css_class (GTK_WIDGET (self->avatar), "avatar-36");
  gtk_overlay_add_overlay (GTK_OVERLAY (self->message_box), GTK_WIDGET (self->avatar));

  self->header_box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 8);
  self->sender_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->sender_label, 0);
  gtk_label_set_ellipsize (self->sender_label, PANGO_ELLIPSIZE_END);
  gtk_widget_add_css_class (GTK_WIDGET (self->sender_label), "sender");
  self->time_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->time_label, 0);
  gtk_widget_add_css_class (GTK_WIDGET (self->time_label), "caption");
  gtk_widget_add_css_class (GTK_WIDGET (self->time_label), "dim-label");
  gtk_box_append (GTK_BOX (self->header_box), GTK_WIDGET (self->sender_label));
  gtk_box_append (GTK_BOX (self->header_box), GTK_WIDGET (self->time_label));
  gtk_box_prepend (GTK_BOX (self->content_box), self->header_box);
}

static void
update_context (NatterMessageRow *self)
{
  g_autoptr(GDateTime) datetime = NULL;
  g_autoptr(GDateTime) previous_datetime = NULL;
  g_autofree char *time = NULL;
  gboolean new_day, new_group;

  if (self->message == NULL)
    return;

  datetime = natter_text_dup_local_datetime (natter_message_get_ts (self->message));
  if (self->previous != NULL)
    previous_datetime = natter_text_dup_local_datetime (natter_message_get_ts (self->previous));

  new_day = previous_datetime == NULL || !same_day (datetime, previous_datetime);
  new_group = new_day ||
              g_strcmp0 (natter_message_get_from (self->previous),
                         natter_message_get_from (self->message)) != 0 ||
              natter_message_get_ts (self->message) - natter_message_get_ts (self->previous) > GROUP_GAP_MS;

  if (new_day)
    {
      g_autofree char *day = natter_text_format_day (datetime);

      ensure_day_box (self);
      gtk_label_set_label (self->day_label, day);
    }
  if (self->day_box != NULL)
    gtk_widget_set_visible (self->day_box, new_day);

  time = natter_text_format_time (datetime);
  if (new_group)
    {
      const char *from = natter_message_get_from (self->message);

      ensure_header (self);
      gtk_label_set_label (self->sender_label, from);
      gtk_label_set_label (self->time_label, time);
      natter_text_apply_avatar (self->avatar, from);
    }
  if (self->header_box != NULL)
    {
      gtk_widget_set_visible (self->header_box, new_group);
      gtk_widget_set_visible (GTK_WIDGET (self->avatar), new_group);
    }
  g_free (self->time_text);
  self->time_text = g_steal_pointer (&time);
  self->new_group = new_group;
  if (new_group)
    gtk_widget_add_css_class (GTK_WIDGET (self), "group-start");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self), "group-start");
}

/* The text's tooltip is asked for when the pointer rests on it, not set
 * on each bind: in GTK 4.8 setting a tooltip asks the X server where the
 * pointer is (two round trips), which was a third of the time spent on
 * new rows at 1,000 messages a second. */
static gboolean
query_text_tooltip (NatterMessageRow *self,
                    int               x,
                    int               y,
                    gboolean          keyboard_mode,
                    GtkTooltip       *tooltip)
{
  if (self->message == NULL)
    return FALSE;
  if (self->shortened)
    gtk_tooltip_set_text (tooltip, _("This message is too long to show in full"));
  else if (!self->new_group && self->time_text != NULL)
    /* A message under the previous one's header shows its own time here. */
    gtk_tooltip_set_text (tooltip, self->time_text);
  else
    return FALSE;
  return TRUE;
}

/* The error line and its buttons, made for the first failed message the
 * row shows. */
static void
ensure_failed_box (NatterMessageRow *self)
{
  GtkWidget *retry, *discard;

  if (self->failed_box != NULL)
    return;

  self->failed_box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  self->error_label = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (self->error_label, 0);
  gtk_label_set_wrap (self->error_label, TRUE);
  gtk_widget_set_hexpand (GTK_WIDGET (self->error_label), TRUE);
  gtk_widget_add_css_class (GTK_WIDGET (self->error_label), "error");
  gtk_widget_add_css_class (GTK_WIDGET (self->error_label), "caption");
  gtk_box_append (GTK_BOX (self->failed_box), GTK_WIDGET (self->error_label));

  retry = gtk_button_new_with_mnemonic (_("_Retry"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (retry), "message.retry");
  gtk_widget_set_tooltip_text (retry, _("Send this message again"));
  gtk_widget_add_css_class (retry, "flat");
  gtk_box_append (GTK_BOX (self->failed_box), retry);

  discard = gtk_button_new_with_mnemonic (_("_Discard"));
  gtk_actionable_set_action_name (GTK_ACTIONABLE (discard), "message.discard");
  gtk_widget_set_tooltip_text (discard, _("Delete this unsent message"));
  gtk_widget_add_css_class (discard, "destructive-action");
  gtk_box_append (GTK_BOX (self->failed_box), discard);

  gtk_box_append (GTK_BOX (self->content_box), self->failed_box);
}

/* The pending or failed mark lies over the end of the text's first line,
 * which leaves room for it while it shows (update_state). */
static gboolean
position_state_icon (NatterMessageRow *self,
                     GtkWidget        *widget,
                     GdkRectangle     *allocation)
{
  graphene_rect_t text;
  int width, height;

  if (widget != GTK_WIDGET (self->state_icon) ||
      !gtk_widget_get_visible (GTK_WIDGET (self->text_label)) ||
      !gtk_widget_compute_bounds (GTK_WIDGET (self->text_label), self->message_box, &text))
    return FALSE;

  gtk_widget_measure (widget, GTK_ORIENTATION_HORIZONTAL, -1, NULL, &width, NULL, NULL);
  gtk_widget_measure (widget, GTK_ORIENTATION_VERTICAL, width, NULL, &height, NULL, NULL);
  allocation->x = (int) (text.origin.x + text.size.width) +
                  gtk_widget_get_margin_end (GTK_WIDGET (self->text_label)) - width;
  allocation->y = (int) text.origin.y;
  allocation->width = width;
  allocation->height = height;
  return TRUE;
}

static void
ensure_state_icon (NatterMessageRow *self)
{
  if (self->state_icon != NULL)
    return;

  self->state_icon = GTK_IMAGE (gtk_image_new ());
  gtk_widget_set_halign (GTK_WIDGET (self->state_icon), GTK_ALIGN_END);
  gtk_widget_set_valign (GTK_WIDGET (self->state_icon), GTK_ALIGN_START);
  gtk_overlay_add_overlay (GTK_OVERLAY (self->message_box), GTK_WIDGET (self->state_icon));
}

static void
update_state (NatterMessageRow *self)
{
  NatterMessageState state;

  if (self->message == NULL)
    return;

  state = natter_message_get_state (self->message);
  if (state != NATTER_MESSAGE_STATE_SENT)
    ensure_state_icon (self);
  if (self->state_icon != NULL)
    gtk_widget_set_visible (GTK_WIDGET (self->state_icon), state != NATTER_MESSAGE_STATE_SENT);
  /* The icon lies over the end of the text: the text makes room for it. */
  gtk_widget_set_margin_end (GTK_WIDGET (self->text_label), state != NATTER_MESSAGE_STATE_SENT ? 22 : 0);
  if (state == NATTER_MESSAGE_STATE_FAILED)
    ensure_failed_box (self);
  if (self->failed_box != NULL)
    gtk_widget_set_visible (self->failed_box, state == NATTER_MESSAGE_STATE_FAILED);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "message.retry", state == NATTER_MESSAGE_STATE_FAILED);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "message.discard", state != NATTER_MESSAGE_STATE_SENT);

  gtk_widget_remove_css_class (GTK_WIDGET (self), "pending");
  gtk_widget_remove_css_class (GTK_WIDGET (self), "failed");

  switch (state)
    {
    case NATTER_MESSAGE_STATE_PENDING:
      gtk_image_set_from_icon_name (self->state_icon, "document-open-recent-symbolic");
      gtk_widget_set_tooltip_text (GTK_WIDGET (self->state_icon), _("Waiting to be sent"));
      gtk_accessible_update_property (GTK_ACCESSIBLE (self->state_icon),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, _("Waiting to be sent"), -1);
      gtk_widget_add_css_class (GTK_WIDGET (self), "pending");
      break;
    case NATTER_MESSAGE_STATE_FAILED:
      {
        const char *error = natter_message_get_error (self->message);

        gtk_image_set_from_icon_name (self->state_icon, "dialog-error-symbolic");
        gtk_widget_set_tooltip_text (GTK_WIDGET (self->state_icon), _("Not sent"));
        gtk_accessible_update_property (GTK_ACCESSIBLE (self->state_icon),
                                        GTK_ACCESSIBLE_PROPERTY_LABEL, _("Not sent"), -1);
        gtk_label_set_label (self->error_label,
                             error != NULL ? error : _("The server did not accept this message."));
        gtk_widget_add_css_class (GTK_WIDGET (self), "failed");
      }
      break;
    case NATTER_MESSAGE_STATE_SENT:
    default:
      break;
    }
}

static void
update_content (NatterMessageRow *self)
{
  const char *text = natter_message_get_text (self->message);
  const char *me = self->session != NULL ? natter_session_get_user (self->session) : NULL;
  g_autofree char *shown = NULL;
  g_autofree char *markup = NULL;
  const char *file_name = natter_message_get_file_name (self->message);

  /* A label lays out all of its text, several times, on the main loop: a
   * 16 KiB message without spaces froze the window for minutes. Very long
   * messages are shown shortened. */
  if (text != NULL && g_utf8_strlen (text, -1) > MAX_SHOWN_CHARS)
    {
      g_autofree char *head = g_utf8_substring (text, 0, MAX_SHOWN_CHARS);
      shown = g_strconcat (head, "…", NULL);
    }
  markup = natter_text_to_markup (shown != NULL ? shown : text, me);
  self->shortened = shown != NULL;

  gtk_label_set_markup (self->text_label, markup);
  gtk_widget_set_visible (GTK_WIDGET (self->text_label), text != NULL && text[0] != '\0');

  /* Made for the first file message the row shows: most are text only. */
  if (file_name != NULL && self->session != NULL)
    {
      if (self->file_row == NULL)
        {
          self->file_row = natter_file_row_new ();
          gtk_widget_set_hexpand (GTK_WIDGET (self->file_row), TRUE);
          gtk_box_insert_child_after (GTK_BOX (self->content_box), GTK_WIDGET (self->file_row),
                                      GTK_WIDGET (self->text_label));
        }
      natter_file_row_bind (self->file_row, self->session, self->message);
    }
  if (self->file_row != NULL)
    gtk_widget_set_visible (GTK_WIDGET (self->file_row), file_name != NULL);

  if (natter_message_get_mentions_me (self->message))
    gtk_widget_add_css_class (self->message_box, "mention");
  else
    gtk_widget_remove_css_class (self->message_box, "mention");
}

void
natter_message_row_bind (NatterMessageRow *self,
                         NatterSession    *session,
                         NatterMessage    *message,
                         NatterMessage    *previous)
{
  g_return_if_fail (NATTER_IS_MESSAGE_ROW (self));
  g_return_if_fail (NATTER_IS_MESSAGE (message));

  natter_message_row_unbind (self);
  g_set_object (&self->session, session);
  g_set_object (&self->message, message);
  g_set_object (&self->previous, previous);

  g_signal_connect_object (message, "notify::state", G_CALLBACK (update_state), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (message, "notify::error", G_CALLBACK (update_state), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (message, "notify::ts", G_CALLBACK (update_context), self, G_CONNECT_SWAPPED);

  update_content (self);
  update_context (self);
  update_state (self);
}

void
natter_message_row_set_previous (NatterMessageRow *self,
                                 NatterMessage    *previous)
{
  g_return_if_fail (NATTER_IS_MESSAGE_ROW (self));

  g_set_object (&self->previous, previous);
  update_context (self);
}

void
natter_message_row_unbind (NatterMessageRow *self)
{
  g_return_if_fail (NATTER_IS_MESSAGE_ROW (self));

  if (self->message != NULL)
    g_signal_handlers_disconnect_by_data (self->message, self);
  if (self->file_row != NULL)
    natter_file_row_unbind (self->file_row);
  g_clear_object (&self->message);
  g_clear_object (&self->previous);
  g_clear_object (&self->session);
}

static void
retry_action (GtkWidget  *widget,
              const char *action_name,
              GVariant   *parameter)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (widget);

  if (self->session != NULL && self->message != NULL)
    natter_session_retry_message (self->session, self->message);
}

static void
discard_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (widget);
  g_autoptr(NatterMessage) message = NULL;

  if (self->session == NULL || self->message == NULL)
    return;
  /* Discarding removes the row, which unbinds it under our feet. */
  message = g_object_ref (self->message);
  natter_session_discard_message (self->session, message);
}

static void
natter_message_row_dispose (GObject *object)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (object);
  GtkWidget *child;

  natter_message_row_unbind (self);
  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self))) != NULL)
    gtk_widget_unparent (child);
  /* They went with the boxes above. */
  self->message_box = self->content_box = self->day_box = self->header_box = self->failed_box = NULL;
  self->text_label = self->day_label = self->avatar = self->sender_label = NULL;
  self->time_label = self->error_label = NULL;
  self->state_icon = NULL;
  self->file_row = NULL;
  G_OBJECT_CLASS (natter_message_row_parent_class)->dispose (object);
}

static void
natter_message_row_finalize (GObject *object)
{
  NatterMessageRow *self = NATTER_MESSAGE_ROW (object);

  g_clear_pointer (&self->time_text, g_free);
  G_OBJECT_CLASS (natter_message_row_parent_class)->finalize (object);
}

static void
natter_message_row_class_init (NatterMessageRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_message_row_dispose;
  object_class->finalize = natter_message_row_finalize;

  gtk_widget_class_install_action (widget_class, "message.retry", NULL, retry_action);
  gtk_widget_class_install_action (widget_class, "message.discard", NULL, discard_action);

  gtk_widget_class_set_css_name (widget_class, "messagerow");
  gtk_widget_class_set_accessible_role (widget_class, GTK_ACCESSIBLE_ROLE_GROUP);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BOX_LAYOUT);
}

/* Built in code, not from a template: the list view makes a row for each
 * message that comes into view (GTK 4.8 does not reuse them), and a row
 * showing a message under the previous one's header is four widgets,
 * where the template made seventeen. */
static void
natter_message_row_init (NatterMessageRow *self)
{
  gtk_orientable_set_orientation (GTK_ORIENTABLE (gtk_widget_get_layout_manager (GTK_WIDGET (self))),
                                  GTK_ORIENTATION_VERTICAL);

  self->message_box = gtk_overlay_new ();
  gtk_widget_add_css_class (self->message_box, "message");
  g_signal_connect_swapped (self->message_box, "get-child-position", G_CALLBACK (position_state_icon), self);
  gtk_widget_set_parent (self->message_box, GTK_WIDGET (self));

  self->content_box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
  gtk_widget_set_hexpand (self->content_box, TRUE);
  gtk_widget_set_margin_start (self->content_box, 48);
  gtk_overlay_set_child (GTK_OVERLAY (self->message_box), self->content_box);

  self->text_label = g_object_new (GTK_TYPE_LABEL,
                                   "hexpand", TRUE,
                                   "xalign", 0.0f,
                                   "wrap", TRUE,
                                   "wrap-mode", PANGO_WRAP_WORD_CHAR,
                                   /* A floor for the minimum width: without it
                                    * GTK 4.8 lays the text out one character per
                                    * line to find it, which made opening a room
                                    * take seconds. */
                                   "width-chars", 20,
                                   "selectable", TRUE,
                                   "use-markup", TRUE,
                                   "has-tooltip", TRUE,
                                   NULL);
  gtk_widget_add_css_class (GTK_WIDGET (self->text_label), "message-text");
  g_signal_connect_swapped (self->text_label, "query-tooltip", G_CALLBACK (query_text_tooltip), self);
  gtk_box_append (GTK_BOX (self->content_box), GTK_WIDGET (self->text_label));
}
