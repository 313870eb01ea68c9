/* natter-member.h: a person as seen by one session: name and presence.
 * A session keeps one NatterMember per user, shared by every room it is
 * in, so a presence change notifies once and shows everywhere. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define NATTER_TYPE_MEMBER (natter_member_get_type ())

G_DECLARE_FINAL_TYPE (NatterMember, natter_member, NATTER, MEMBER, GObject)

const char *natter_member_get_user   (NatterMember *self);
gboolean    natter_member_get_online (NatterMember *self);

G_END_DECLS
