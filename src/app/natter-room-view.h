/* natter-room-view.h: the room in view: header with title, topic, members
 * and unsent count; the connection banner; the timeline; who is typing; the
 * composer. */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_ROOM_VIEW (natter_room_view_get_type ())

G_DECLARE_FINAL_TYPE (NatterRoomView, natter_room_view, NATTER, ROOM_VIEW, GtkWidget)

void        natter_room_view_set_session    (NatterRoomView *self,
                                             NatterSession  *session);
NatterRoom *natter_room_view_get_room       (NatterRoomView *self);
void        natter_room_view_set_room       (NatterRoomView *self,
                                             NatterRoom     *room);
void        natter_room_view_focus_composer (NatterRoomView *self);
/* TRUE when the timeline shows its newest message (it follows new ones). */
gboolean    natter_room_view_get_at_bottom  (NatterRoomView *self);

G_END_DECLS
