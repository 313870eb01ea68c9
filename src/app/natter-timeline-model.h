/* natter-timeline-model.h: a room's timeline as the timeline view wants it.
 * A message row looks at the message before it (day separator, sender
 * grouping), so when messages are inserted before a row, the model emits
 * ::context-changed (item, previous) for it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_TYPE_TIMELINE_MODEL (natter_timeline_model_get_type ())

G_DECLARE_FINAL_TYPE (NatterTimelineModel, natter_timeline_model, NATTER, TIMELINE_MODEL, GObject)

/* @model: a GListModel of NatterMessage, or NULL. */
NatterTimelineModel *natter_timeline_model_new       (GListModel          *model);
GListModel          *natter_timeline_model_get_model (NatterTimelineModel *self);

G_END_DECLS
