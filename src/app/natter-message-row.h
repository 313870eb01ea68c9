/* natter-message-row.h: one message in the timeline: an optional day
 * separator, the sender and time when a new group starts, the text, and the
 * pending (clock) or failed (error, Retry, Discard) state. */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_MESSAGE_ROW (natter_message_row_get_type ())

G_DECLARE_FINAL_TYPE (NatterMessageRow, natter_message_row, NATTER, MESSAGE_ROW, GtkWidget)

NatterMessageRow *natter_message_row_new          (void);
NatterMessage    *natter_message_row_get_message  (NatterMessageRow *self);
/* Shows @message; @previous (or NULL) decides on the day separator and
 * whether the sender is shown again. */
void              natter_message_row_bind         (NatterMessageRow *self,
                                                   NatterSession    *session,
                                                   NatterMessage    *message,
                                                   NatterMessage    *previous);
void              natter_message_row_set_previous (NatterMessageRow *self,
                                                   NatterMessage    *previous);
void              natter_message_row_unbind       (NatterMessageRow *self);

G_END_DECLS
