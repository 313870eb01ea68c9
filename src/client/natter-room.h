/* natter-room.h: one joined room (or DM) of a session, with what the room
 * list and the room view bind to: names, topic, unread and mention counts,
 * the timeline, the members and who is typing. */
#pragma once

#include <gio/gio.h>

#include "natter-message.h"
#include "natter-timeline.h"

G_BEGIN_DECLS

#define NATTER_TYPE_ROOM (natter_room_get_type ())

G_DECLARE_FINAL_TYPE (NatterRoom, natter_room, NATTER, ROOM, GObject)

/* The room's name on the wire ("general", "@alice+bob"). */
const char     *natter_room_get_name          (NatterRoom   *self);
/* What to show: the name, or for a DM the other person's user name. */
const char     *natter_room_get_display_name  (NatterRoom   *self);
const char     *natter_room_get_topic         (NatterRoom   *self);
gboolean        natter_room_get_is_dm         (NatterRoom   *self);
/* For a DM, the other person; NULL otherwise. */
const char     *natter_room_get_dm_user       (NatterRoom   *self);
/* TRUE while the session's user is a member (rooms from
 * natter_session_list_rooms_async() may not be joined). */
gboolean        natter_room_get_joined        (NatterRoom   *self);
/* The highest seq known for the room (server's last_seq or cache). */
gint64          natter_room_get_last_seq      (NatterRoom   *self);
/* Messages from others after the read position, and those mentioning
 * "@user" among them. Computed from the cache at start and after each
 * catch-up, counted up live; at most 9999 (show "9999+"). */
guint           natter_room_get_unread        (NatterRoom   *self);
guint           natter_room_get_mentions      (NatterRoom   *self);
/* The seq up to which the user has read. */
gint64          natter_room_get_read_seq      (NatterRoom   *self);
/* Member count as last reported by the server. */
guint           natter_room_get_n_members     (NatterRoom   *self);
/* Milliseconds since the epoch of the newest message, 0 if none: sorts the
 * room list. */
gint64          natter_room_get_last_ts       (NatterRoom   *self);

/* Transfer none: the room's timeline (GListModel of NatterMessage). */
NatterTimeline *natter_room_get_timeline      (NatterRoom   *self);
/* Transfer none: GListModel of NatterMember, kept up to date from member
 * and presence events once the room is joined; online members first, then
 * by name, re-sorted when someone's presence changes. */
GListModel     *natter_room_get_members       (NatterRoom   *self);
/* The users typing now (not the session's user), NULL-terminated; owned by
 * the room. Each entry expires 6 s after its last "typing" event. */
const char * const *natter_room_get_typing_users (NatterRoom *self);
/* A translated line for the typing users ("alice is typing…"), or NULL. */
const char     *natter_room_get_typing_text   (NatterRoom   *self);

/* Writes @text to the outbox and sends it as soon as the session is online.
 * Returns the new message (transfer full) in the pending state; it is also
 * appended to the timeline at once. */
NatterMessage  *natter_room_send_text         (NatterRoom   *self,
                                               const char   *text);
/* Tells the others that the user types (or stopped). Cheap to call on
 * every key press: it only sends when the value changes, and re-sends a
 * true value at most every 3 s. */
void            natter_room_set_typing        (NatterRoom   *self,
                                               gboolean      typing);
/* Moves the read position to the newest message and clears the unread and
 * mention counts. */
void            natter_room_mark_read         (NatterRoom   *self);

G_END_DECLS
