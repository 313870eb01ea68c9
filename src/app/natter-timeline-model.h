/* natter-timeline-model.h: a room's timeline as the timeline view wants it.
 * It shows the newest part of the timeline only: GtkListView (GTK 4.8)
 * builds a row for every item near its anchor, up to 200, so what the model
 * exposes is what opening a room and following a busy room cost. Older
 * messages stay hidden until the view reveals them (scrolled to the top).
 *
 * A message row looks at the message before it (day separator, sender
 * grouping), so when the item before a row changes, the model emits
 * ::context-changed (item, previous) for it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_TYPE_TIMELINE_MODEL (natter_timeline_model_get_type ())

G_DECLARE_FINAL_TYPE (NatterTimelineModel, natter_timeline_model, NATTER, TIMELINE_MODEL, GObject)

/* @model: a GListModel of NatterMessage, or NULL. @n_shown: how many of
 * its newest items to expose at first (G_MAXUINT for all). */
NatterTimelineModel *natter_timeline_model_new          (GListModel          *model,
                                                         guint                n_shown);
GListModel          *natter_timeline_model_get_model    (NatterTimelineModel *self);

/* Items of the timeline before the exposed ones. */
guint                natter_timeline_model_get_n_hidden (NatterTimelineModel *self);
/* Exposes up to @count more of the hidden (older) items, in one change;
 * returns how many. */
guint                natter_timeline_model_reveal       (NatterTimelineModel *self,
                                                         guint                count);


/* Messages appended at the end are not announced one by one: by default
 * they wait a moment and are announced together. With @by_frame, the model
 * emits ::appends-pending once instead and waits for
 * natter_timeline_model_flush(), which the view calls once per frame. */
void                 natter_timeline_model_set_flush_by_frame (NatterTimelineModel *self,
                                                               gboolean             by_frame);
/* Announces the appended messages in one change; returns how many. */
guint                natter_timeline_model_flush        (NatterTimelineModel *self);
/* The same for a view that follows the newest messages: at most @keep
 * items stay exposed, the oldest hidden first, so no row is built for a
 * message hidden again at once. Returns how many were announced. */
guint                natter_timeline_model_flush_keep   (NatterTimelineModel *self,
                                                         guint                keep);

G_END_DECLS
