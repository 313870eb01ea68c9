/* natter-member.c: a user and their presence, shared across rooms. */
#include "natter-client-private.h"

struct _NatterMember
{
  GObject   parent_instance;
  char     *user;
  gboolean  online;
};

G_DEFINE_FINAL_TYPE (NatterMember, natter_member, G_TYPE_OBJECT)

enum { PROP_0, PROP_USER, PROP_ONLINE, N_PROPS };
static GParamSpec *properties[N_PROPS];

static void
natter_member_finalize (GObject *object)
{
  NatterMember *self = NATTER_MEMBER (object);

  g_clear_pointer (&self->user, g_free);
  G_OBJECT_CLASS (natter_member_parent_class)->finalize (object);
}

static void
natter_member_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  NatterMember *self = NATTER_MEMBER (object);

  switch (prop_id)
    {
    case PROP_USER:
      g_value_set_string (value, self->user);
      break;
    case PROP_ONLINE:
      g_value_set_boolean (value, self->online);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_member_class_init (NatterMemberClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = natter_member_finalize;
  object_class->get_property = natter_member_get_property;

  properties[PROP_USER] =
    g_param_spec_string ("user", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ONLINE] =
    g_param_spec_boolean ("online", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_member_init (NatterMember *self)
{
}

NatterMember *
_natter_member_new (const char *user)
{
  NatterMember *self = g_object_new (NATTER_TYPE_MEMBER, NULL);

  self->user = g_strdup (user);
  return self;
}

void
_natter_member_set_online (NatterMember *self,
                           gboolean      online)
{
  online = !!online;
  if (self->online == online)
    return;
  self->online = online;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ONLINE]);
}

const char *
natter_member_get_user (NatterMember *self)
{
  g_return_val_if_fail (NATTER_IS_MEMBER (self), NULL);
  return self->user;
}

gboolean
natter_member_get_online (NatterMember *self)
{
  g_return_val_if_fail (NATTER_IS_MEMBER (self), FALSE);
  return self->online;
}
