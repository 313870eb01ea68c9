/* natter-room-row.c: keeps the row's badge and the accessible description
 * in step with the room's unread and mention counts. */

#include <glib/gi18n.h>

#include "natter-room-row.h"
#include "natter-text.h"

struct _NatterRoomRow
{
  GtkWidget   parent_instance;

  GtkWidget  *box;
  GtkLabel   *avatar;
  GtkLabel   *name_label;
  GtkLabel   *badge;

  NatterRoom *room;
};

G_DEFINE_FINAL_TYPE (NatterRoomRow, natter_room_row, GTK_TYPE_WIDGET)

enum {
  PROP_0,
  PROP_ROOM,
  N_PROPS
};

static GParamSpec *properties [N_PROPS];

static void
update_badge (NatterRoomRow *self)
{
  guint unread = 0, mentions = 0;
  g_autofree char *description = NULL;

  if (self->room != NULL)
    {
      unread = natter_room_get_unread (self->room);
      mentions = natter_room_get_mentions (self->room);
    }

  gtk_widget_set_visible (GTK_WIDGET (self->badge), unread > 0 || mentions > 0);
  if (mentions > 0)
    {
      g_autofree char *text = g_strdup_printf ("@%u", mentions);
      gtk_label_set_label (self->badge, text);
      gtk_widget_add_css_class (GTK_WIDGET (self->badge), "mention");
    }
  else
    {
      g_autofree char *text = unread > 999 ? g_strdup ("999+") : g_strdup_printf ("%u", unread);
      gtk_label_set_label (self->badge, text);
      gtk_widget_remove_css_class (GTK_WIDGET (self->badge), "mention");
    }

  if (unread > 0)
    gtk_widget_add_css_class (GTK_WIDGET (self->name_label), "unread");
  else
    gtk_widget_remove_css_class (GTK_WIDGET (self->name_label), "unread");

  if (mentions > 0)
    /* Translators: read by screen readers on a room in the list */
    description = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u unread message, %u mentioning you",
                                                "%u unread messages, %u mentioning you", unread),
                                   unread, mentions);
  else if (unread > 0)
    description = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u unread message",
                                                "%u unread messages", unread), unread);
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_DESCRIPTION,
                                  description != NULL ? description : "",
                                  -1);
}

NatterRoom *
natter_room_row_get_room (NatterRoomRow *self)
{
  g_return_val_if_fail (NATTER_IS_ROOM_ROW (self), NULL);
  return self->room;
}

void
natter_room_row_set_room (NatterRoomRow *self,
                          NatterRoom    *room)
{
  g_return_if_fail (NATTER_IS_ROOM_ROW (self));
  g_return_if_fail (room == NULL || NATTER_IS_ROOM (room));

  if (self->room == room)
    return;

  if (self->room != NULL)
    g_signal_handlers_disconnect_by_data (self->room, self);
  g_set_object (&self->room, room);
  if (room != NULL)
    {
      natter_text_apply_avatar (self->avatar, natter_room_get_display_name (room));
      g_signal_connect_object (room, "notify::unread", G_CALLBACK (update_badge), self, G_CONNECT_SWAPPED);
      g_signal_connect_object (room, "notify::mentions", G_CALLBACK (update_badge), self, G_CONNECT_SWAPPED);
      gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL,
                                      natter_room_get_display_name (room),
                                      -1);
    }
  update_badge (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties [PROP_ROOM]);
}

static void
natter_room_row_dispose (GObject *object)
{
  NatterRoomRow *self = NATTER_ROOM_ROW (object);

  if (self->room != NULL)
    g_signal_handlers_disconnect_by_data (self->room, self);
  g_clear_object (&self->room);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_ROOM_ROW);
  G_OBJECT_CLASS (natter_room_row_parent_class)->dispose (object);
}

static void
natter_room_row_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  NatterRoomRow *self = NATTER_ROOM_ROW (object);

  switch (prop_id)
    {
    case PROP_ROOM:
      g_value_set_object (value, self->room);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_room_row_set_property (GObject      *object,
                              guint         prop_id,
                              const GValue *value,
                              GParamSpec   *pspec)
{
  NatterRoomRow *self = NATTER_ROOM_ROW (object);

  switch (prop_id)
    {
    case PROP_ROOM:
      natter_room_row_set_room (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_room_row_class_init (NatterRoomRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_room_row_dispose;
  object_class->get_property = natter_room_row_get_property;
  object_class->set_property = natter_room_row_set_property;

  properties [PROP_ROOM] =
    g_param_spec_object ("room", NULL, NULL, NATTER_TYPE_ROOM,
                         G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-room-row.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterRoomRow, box);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomRow, avatar);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomRow, name_label);
  gtk_widget_class_bind_template_child (widget_class, NatterRoomRow, badge);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
natter_room_row_init (NatterRoomRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
