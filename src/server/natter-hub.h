/* natter-hub.h: who is connected, and fan-out of already encoded frames to
 * every connection of a set of users. One process holds every connection
 * today; spreading over several processes means publishing the same frames
 * through Redis here (as Socket.IO's redis adapter does), while the callers
 * keep asking the hub and never walk connections themselves. */
#pragma once

#include "natter-connection.h"

G_BEGIN_DECLS

#define NATTER_TYPE_HUB (natter_hub_get_type ())

G_DECLARE_FINAL_TYPE (NatterHub, natter_hub, NATTER, HUB, GObject)

NatterHub *natter_hub_new                (void);

/* An authenticated connection joins or leaves the hub. Each returns TRUE
 * when that changed whether its user is online. */
gboolean   natter_hub_add                (NatterHub        *self,
                                          NatterConnection *connection);
gboolean   natter_hub_remove             (NatterHub        *self,
                                          NatterConnection *connection);

gboolean   natter_hub_is_online          (NatterHub        *self,
                                          const char       *user);
guint      natter_hub_get_n_users_online (NatterHub        *self);

/* Sends @frame to every connection of every user in @users (an array of
 * user names) except @except (may be NULL). Returns the connections reached. */
guint      natter_hub_publish            (NatterHub        *self,
                                          GPtrArray        *users,
                                          const char       *frame,
                                          NatterConnection *except);
/* The same to every connected user. */
guint      natter_hub_publish_all        (NatterHub        *self,
                                          const char       *frame,
                                          NatterConnection *except);

/* A batch of publishes (the messages of one group commit): every
 * connection written to between begin and end, and those given to
 * batch_add, is corked and gets its frames in one write at end.
 * Batches nest; the outermost end uncorks. */
void       natter_hub_batch_begin        (NatterHub        *self);
void       natter_hub_batch_add          (NatterHub        *self,
                                          NatterConnection *connection);
void       natter_hub_batch_end          (NatterHub        *self);

/* Returns the connections of @token_hash, a new array holding references. */
GPtrArray *natter_hub_dup_by_token       (NatterHub        *self,
                                          const char       *token_hash);

G_END_DECLS
