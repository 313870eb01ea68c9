/* natter-members-popover.h: the members of the room in view, online ones
 * first, with a "Message" button each. */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_MEMBERS_POPOVER (natter_members_popover_get_type ())

G_DECLARE_FINAL_TYPE (NatterMembersPopover, natter_members_popover, NATTER, MEMBERS_POPOVER, GtkPopover)

void natter_members_popover_set_session (NatterMembersPopover *self,
                                         NatterSession        *session);
void natter_members_popover_set_room    (NatterMembersPopover *self,
                                         NatterRoom           *room);

G_END_DECLS
