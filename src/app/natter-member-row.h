/* natter-member-row.h: a member in the members popover: presence, name and
 * a "Message" button that starts a direct conversation. */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_MEMBER_ROW (natter_member_row_get_type ())

G_DECLARE_FINAL_TYPE (NatterMemberRow, natter_member_row, NATTER, MEMBER_ROW, GtkWidget)

NatterMemberRow *natter_member_row_new        (void);
/* @me: the session's user, who gets no "Message" button. */
void             natter_member_row_set_member (NatterMemberRow *self,
                                               NatterMember    *member,
                                               const char      *me);

G_END_DECLS
