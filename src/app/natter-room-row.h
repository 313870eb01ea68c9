/* natter-room-row.h: one room in the sidebar: name (the person's name for a
 * DM), an unread badge that turns into the accent colour for mentions. */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_ROOM_ROW (natter_room_row_get_type ())

G_DECLARE_FINAL_TYPE (NatterRoomRow, natter_room_row, NATTER, ROOM_ROW, GtkWidget)

NatterRoom *natter_room_row_get_room (NatterRoomRow *self);
void        natter_room_row_set_room (NatterRoomRow *self,
                                      NatterRoom    *room);

G_END_DECLS
