/* natter-timeline.h: the messages of one room as a GListModel of
 * NatterMessage, oldest first: a window of the newest cached messages,
 * then the room's pending/failed messages from the outbox. Older pages come
 * from the SQLite cache first, then from the server's history, so a room
 * with 100,000 cached messages opens without loading them all. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_TYPE_TIMELINE (natter_timeline_get_type ())

G_DECLARE_FINAL_TYPE (NatterTimeline, natter_timeline, NATTER, TIMELINE, GObject)

/* The room's name. */
const char *natter_timeline_get_room        (NatterTimeline       *self);
/* TRUE while natter_timeline_load_older_async() works. */
gboolean    natter_timeline_get_loading     (NatterTimeline       *self);
/* TRUE once the first message of the room (seq 1) is in the model, or the
 * room is empty: there is nothing older to load. */
gboolean    natter_timeline_get_at_start    (NatterTimeline       *self);

/* Prepends up to one page (@count messages, 0 for the default of 50) of
 * older messages: from the cache when it has them, else from the server's
 * history (which needs the session online). Finishes TRUE when messages were
 * added or there were none left (see :at-start); FALSE with @error when the
 * server could not be asked. */
void        natter_timeline_load_older_async  (NatterTimeline       *self,
                                               guint                 count,
                                               GCancellable         *cancellable,
                                               GAsyncReadyCallback   callback,
                                               gpointer              user_data);
gboolean    natter_timeline_load_older_finish (NatterTimeline       *self,
                                               GAsyncResult         *result,
                                               GError              **error);

/* Forgets all but the newest @keep messages (e.g. when the view scrolled
 * back to the bottom), so memory stays bounded. */
void        natter_timeline_trim              (NatterTimeline       *self,
                                               guint                 keep);

G_END_DECLS
