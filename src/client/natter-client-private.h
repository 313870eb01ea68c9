/* natter-client-private.h: what the files of libnatter-client share with
 * each other (and with tests), not with the app. */
#pragma once

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "natter-client.h"
#include "natter-protocol.h"
#include "natter-cache.h"

G_BEGIN_DECLS

/* NatterMember */
NatterMember   *_natter_member_new              (const char         *user);
void            _natter_member_set_online       (NatterMember       *self,
                                                 gboolean            online);

/* NatterMessage */
NatterMessage  *_natter_message_new             (const NatterChatMessage *chat,
                                                 NatterMessageState  state,
                                                 const char         *me);
void            _natter_message_set_sent        (NatterMessage      *self,
                                                 gint64              seq,
                                                 gint64              ts);
void            _natter_message_set_failed      (NatterMessage      *self,
                                                 const char         *error);
void            _natter_message_set_pending     (NatterMessage      *self);
/* The row id in the outbox, 0 when not (or no longer) in it. */
gint64          _natter_message_get_outbox_id   (NatterMessage      *self);
void            _natter_message_set_outbox_id   (NatterMessage      *self,
                                                 gint64              id);

/* NatterRoom */
NatterRoom     *_natter_room_new                (NatterSession      *session,
                                                 const char         *name,
                                                 const char         *me);
NatterSession  *_natter_room_get_session        (NatterRoom         *self);
void            _natter_room_set_topic          (NatterRoom         *self,
                                                 const char         *topic);
void            _natter_room_set_joined         (NatterRoom         *self,
                                                 gboolean            joined);
void            _natter_room_set_last_seq       (NatterRoom         *self,
                                                 gint64              seq);
void            _natter_room_set_counts         (NatterRoom         *self,
                                                 guint               unread,
                                                 guint               mentions);
void            _natter_room_set_read_seq       (NatterRoom         *self,
                                                 gint64              seq);
void            _natter_room_set_n_members      (NatterRoom         *self,
                                                 guint               n);
void            _natter_room_set_last_ts        (NatterRoom         *self,
                                                 gint64              ts);
/* Replaces the members with @members (NatterMember, shared by the session). */
void            _natter_room_set_members        (NatterRoom         *self,
                                                 GPtrArray          *members);
void            _natter_room_add_member         (NatterRoom         *self,
                                                 NatterMember       *member);
void            _natter_room_remove_member      (NatterRoom         *self,
                                                 const char         *user);
void            _natter_room_set_user_typing    (NatterRoom         *self,
                                                 const char         *user,
                                                 gboolean            typing);
/* How long another user's "typing" shows without a refresh (default 6 s). */
void            _natter_room_set_typing_expiry  (guint               ms);
/* The timeline if one was created, else NULL (transfer none). */
NatterTimeline *_natter_room_peek_timeline      (NatterRoom         *self);

/* NatterTimeline */
NatterTimeline *_natter_timeline_new            (NatterSession      *session,
                                                 NatterRoom         *room);
/* A sent message arrived (live or from history) and is in the cache. */
void            _natter_timeline_add_sent       (NatterTimeline     *self,
                                                 NatterMessage      *message);
/* A pending message was added to the outbox. */
void            _natter_timeline_add_pending    (NatterTimeline     *self,
                                                 NatterMessage      *message);
/* @message (pending) got its seq: moves it among the sent ones. */
void            _natter_timeline_message_sent   (NatterTimeline     *self,
                                                 NatterMessage      *message);
void            _natter_timeline_remove         (NatterTimeline     *self,
                                                 NatterMessage      *message);

/* NatterSession, for the room and timeline */
NatterCache    *_natter_session_get_cache       (NatterSession      *self);
NatterMessage  *_natter_session_send_text       (NatterSession      *self,
                                                 NatterRoom         *room,
                                                 const char         *text);
void            _natter_session_send_typing     (NatterSession      *self,
                                                 NatterRoom         *room,
                                                 gboolean            typing);
void            _natter_session_mark_read       (NatterSession      *self,
                                                 NatterRoom         *room);
/* The outbox messages of @room, in order (transfer container). */
GPtrArray      *_natter_session_get_outbox_for  (NatterSession      *self,
                                                 const char         *room);
/* Handles a server event (name and argument) as if it came from the
 * socket: benchmarks feed live messages through the session's own path. */
void            _natter_session_receive_event   (NatterSession      *self,
                                                 const char         *name,
                                                 JsonNode           *arg);
/* A NatterMessage for a cached row, reusing the live object when there is
 * one (transfer full). */
NatterMessage  *_natter_session_wrap_message    (NatterSession      *self,
                                                 const NatterChatMessage *chat);

/* A test seam: how the session waits before reconnecting. @add returns a
 * non-zero id; @remove cancels it. The default is g_timeout_add(). */
typedef guint (*NatterTimerAddFunc)    (guint        delay_ms,
                                        GSourceFunc  func,
                                        gpointer     func_data,
                                        gpointer     user_data);
typedef void  (*NatterTimerRemoveFunc) (guint        id,
                                        gpointer     user_data);
void            _natter_session_set_timer       (NatterSession         *self,
                                                 NatterTimerAddFunc     add,
                                                 NatterTimerRemoveFunc  remove,
                                                 gpointer               user_data);
/* Queues the message of a finished upload under @cid, the upload's own:
 * if a message with @cid is queued already, returns that one. */
NatterMessage  *_natter_session_send_file       (NatterSession         *self,
                                                 NatterRoom            *room,
                                                 const char            *text,
                                                 const NatterChatFile  *file,
                                                 const char            *cid);
/* The session keeps its unsent uploads alive (natter_session_get_transfers). */
void            _natter_session_add_transfer    (NatterSession         *self,
                                                 NatterTransfer        *transfer);
void            _natter_session_remove_transfer (NatterSession         *self,
                                                 NatterTransfer        *transfer);

/* NatterTransfer */
/* Creates and starts a transfer for every upload the cache holds (a run
 * that ended before sending them); called once the cache is open. */
void            _natter_transfer_restore_uploads (NatterSession        *session);
/* The session is going: stop moving bytes, keep the upload in the cache. */
void            _natter_transfer_detach         (NatterTransfer        *self);

/* The session's bearer token, or NULL (natter-transfer.c). */
const char     *_natter_session_get_token       (NatterSession         *self);
/* The token to use, bypassing sign-in (tests). */
void            _natter_session_set_token       (NatterSession         *self,
                                                 const char            *token);

G_END_DECLS
