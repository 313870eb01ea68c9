/* natter-member-row.c: keeps the presence dot in step with the member. */

#include <glib/gi18n.h>

#include "natter-member-row.h"
#include "natter-text.h"

struct _NatterMemberRow
{
  GtkWidget     parent_instance;

  GtkWidget    *box;
  GtkLabel     *avatar;
  GtkWidget    *presence;
  GtkLabel     *name_label;
  GtkWidget    *message_button;

  NatterMember *member;
};

G_DEFINE_FINAL_TYPE (NatterMemberRow, natter_member_row, GTK_TYPE_WIDGET)

NatterMemberRow *
natter_member_row_new (void)
{
  return g_object_new (NATTER_TYPE_MEMBER_ROW, NULL);
}

static void
update_presence (NatterMemberRow *self)
{
  gboolean online = self->member != NULL && natter_member_get_online (self->member);
  const char *user = self->member != NULL ? natter_member_get_user (self->member) : "";
  /* Translators: a member's presence, read by screen readers: "alice, online" */
  g_autofree char *label = g_strdup_printf (online ? _("%s, online") : _("%s, offline"), user);

  if (online)
    {
      gtk_widget_add_css_class (self->presence, "online");
      gtk_widget_set_tooltip_text (self->presence, _("Online"));
    }
  else
    {
      gtk_widget_remove_css_class (self->presence, "online");
      gtk_widget_set_tooltip_text (self->presence, _("Offline"));
    }
  gtk_accessible_update_property (GTK_ACCESSIBLE (self),
                                  GTK_ACCESSIBLE_PROPERTY_LABEL, label, -1);
}

void
natter_member_row_set_member (NatterMemberRow *self,
                              NatterMember    *member,
                              const char      *me)
{
  g_return_if_fail (NATTER_IS_MEMBER_ROW (self));

  if (self->member != NULL)
    g_signal_handlers_disconnect_by_data (self->member, self);
  g_set_object (&self->member, member);
  if (member != NULL)
    {
      const char *user = natter_member_get_user (member);
      /* Translators: tooltip of the button that opens a direct conversation */
      g_autofree char *tooltip = g_strdup_printf (_("Message %s"), user);

      g_signal_connect_object (member, "notify::online", G_CALLBACK (update_presence), self, G_CONNECT_SWAPPED);
      gtk_label_set_label (self->name_label, user);
      natter_text_apply_avatar (self->avatar, user);
      gtk_widget_set_tooltip_text (self->message_button, tooltip);
      gtk_accessible_update_property (GTK_ACCESSIBLE (self->message_button),
                                      GTK_ACCESSIBLE_PROPERTY_LABEL, tooltip, -1);
      gtk_widget_set_visible (self->message_button, g_strcmp0 (user, me) != 0);
    }
  update_presence (self);
}

static void
message_action (GtkWidget  *widget,
                const char *action_name,
                GVariant   *parameter)
{
  NatterMemberRow *self = NATTER_MEMBER_ROW (widget);
  GtkWidget *popover;

  if (self->member == NULL)
    return;
  gtk_widget_activate_action (widget, "win.start-dm", "s", natter_member_get_user (self->member));
  popover = gtk_widget_get_ancestor (widget, GTK_TYPE_POPOVER);
  if (popover != NULL)
    gtk_popover_popdown (GTK_POPOVER (popover));
}

static void
natter_member_row_dispose (GObject *object)
{
  NatterMemberRow *self = NATTER_MEMBER_ROW (object);

  if (self->member != NULL)
    g_signal_handlers_disconnect_by_data (self->member, self);
  g_clear_object (&self->member);
  gtk_widget_dispose_template (GTK_WIDGET (self), NATTER_TYPE_MEMBER_ROW);
  G_OBJECT_CLASS (natter_member_row_parent_class)->dispose (object);
}

static void
natter_member_row_class_init (NatterMemberRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = natter_member_row_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, "/io/github/natter/Natter/natter-member-row.ui");
  gtk_widget_class_bind_template_child (widget_class, NatterMemberRow, box);
  gtk_widget_class_bind_template_child (widget_class, NatterMemberRow, avatar);
  gtk_widget_class_bind_template_child (widget_class, NatterMemberRow, presence);
  gtk_widget_class_bind_template_child (widget_class, NatterMemberRow, name_label);
  gtk_widget_class_bind_template_child (widget_class, NatterMemberRow, message_button);

  gtk_widget_class_install_action (widget_class, "member.message", NULL, message_action);

  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
}

static void
natter_member_row_init (NatterMemberRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
