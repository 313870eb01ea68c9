/* natter-join-dialog.h: the server's public rooms with member counts and a
 * search; join one, or create a room with the name typed. */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_JOIN_DIALOG (natter_join_dialog_get_type ())

G_DECLARE_FINAL_TYPE (NatterJoinDialog, natter_join_dialog, NATTER, JOIN_DIALOG, AdwWindow)

NatterJoinDialog *natter_join_dialog_new       (GtkWindow        *parent,
                                                NatterSession    *session);
void              natter_join_dialog_set_query (NatterJoinDialog *self,
                                                const char       *query);
/* The rooms shown (GListModel of NatterRoom), after the search. */
GListModel       *natter_join_dialog_get_rooms (NatterJoinDialog *self);

G_END_DECLS
