/* natter-limits.h: the small counters behind the server's hardening: a
 * token bucket per key (sends per user) and live connection counts, in
 * all and per remote address. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _NatterRateLimiter NatterRateLimiter;

/* typing events per user, all connections together (docs/PROTOCOL.md §6):
 * a client sends one when the state changes and a refresh every few
 * seconds, so 2 a second with 10 saved up is far above honest use, and
 * bounds what a flood makes the server fan out to every member of a room. */
#define NATTER_TYPING_RATE  2
#define NATTER_TYPING_BURST 10

/* @rate tokens per second, at most @burst saved up. */
NatterRateLimiter *natter_rate_limiter_new     (guint              rate,
                                                guint              burst);
void               natter_rate_limiter_free    (NatterRateLimiter *limiter);
/* Drops what is known about @key (a connection that went away). */
void               natter_rate_limiter_forget  (NatterRateLimiter *limiter,
                                                const char        *key);
/* Takes one token for @key at @now_us (monotonic µs); FALSE when none is left. */
gboolean           natter_rate_limiter_take    (NatterRateLimiter *limiter,
                                                const char        *key,
                                                gint64             now_us);

typedef struct _NatterConnectionCounter NatterConnectionCounter;

NatterConnectionCounter *natter_connection_counter_new    (guint max_total,
                                                           guint max_per_address);
NatterConnectionCounter *natter_connection_counter_ref    (NatterConnectionCounter *counter);
void                     natter_connection_counter_unref  (NatterConnectionCounter *counter);
/* Counts one connection from @address. Returns FALSE when that passes a
 * cap; the connection is counted either way and must be released. */
gboolean                 natter_connection_counter_add    (NatterConnectionCounter *counter,
                                                           const char              *address);
void                     natter_connection_counter_remove (NatterConnectionCounter *counter,
                                                           const char              *address);
guint                    natter_connection_counter_get_total (NatterConnectionCounter *counter);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterRateLimiter, natter_rate_limiter_free)

G_END_DECLS
