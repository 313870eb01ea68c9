/* natter-message.h: one message of a room's timeline. Pending messages come
 * from the outbox and have no seq yet; the same object turns into a sent
 * message (seq, ts) when the server stores it, so a row bound to it just
 * updates. */
#pragma once

#include <glib-object.h>

#include "natter-client-types.h"

G_BEGIN_DECLS

#define NATTER_TYPE_MESSAGE (natter_message_get_type ())

G_DECLARE_FINAL_TYPE (NatterMessage, natter_message, NATTER, MESSAGE, GObject)

/* The room's name (not a NatterRoom: a message outlives no one). */
const char         *natter_message_get_room      (NatterMessage *self);
/* 0 while pending. */
gint64              natter_message_get_seq       (NatterMessage *self);
/* Milliseconds since the epoch: the server's time once sent, the local
 * time the message was written while pending. */
gint64              natter_message_get_ts        (NatterMessage *self);
/* A new GDateTime (local time zone) for @ts; free with g_date_time_unref. */
GDateTime          *natter_message_dup_datetime  (NatterMessage *self);
const char         *natter_message_get_from      (NatterMessage *self);
const char         *natter_message_get_cid       (NatterMessage *self);
const char         *natter_message_get_text      (NatterMessage *self);
/* The file, or NULL (then size is -1). */
const char         *natter_message_get_file_id   (NatterMessage *self);
const char         *natter_message_get_file_name (NatterMessage *self);
gint64              natter_message_get_file_size (NatterMessage *self);
const char         *natter_message_get_file_mime (NatterMessage *self);
NatterMessageState  natter_message_get_state     (NatterMessage *self);
/* Why the message failed (translated), or NULL. */
const char         *natter_message_get_error     (NatterMessage *self);
/* TRUE when the text mentions the session's user as "@user". */
gboolean            natter_message_get_mentions_me (NatterMessage *self);
/* TRUE when the session's user wrote it. */
gboolean            natter_message_get_outgoing  (NatterMessage *self);

G_END_DECLS
