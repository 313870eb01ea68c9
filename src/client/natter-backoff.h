/* natter-backoff.h: socket.io-client's reconnection backoff (its Backoff
 * class): ms = min * factor^attempts, then ± floor(rand * jitter * ms)
 * (minus when floor(rand * 10) is even), capped at max, attempts++.
 * reset() sets attempts back to 0 after a successful connection. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  guint   min_ms;     /* 1000 */
  guint   max_ms;     /* 5000 */
  guint   factor;     /* 2 */
  double  jitter;     /* 0.5 */
  guint   attempts;
  GRand  *rand;
} NatterBackoff;

void   natter_backoff_init        (NatterBackoff *backoff);
void   natter_backoff_clear       (NatterBackoff *backoff);
/* The next delay in ms with a random draw from [0, 1). */
guint  natter_backoff_next        (NatterBackoff *backoff);
/* The same with the draw given: the formula itself, for tests. */
guint  natter_backoff_next_with   (NatterBackoff *backoff,
                                   double         rand);
void   natter_backoff_reset       (NatterBackoff *backoff);

G_END_DECLS
