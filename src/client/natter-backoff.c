/* natter-backoff.c: reconnection delays exactly as socket.io-client
 * computes them, so our client behaves like the reference one. */
#include "natter-backoff.h"

#include <math.h>

void
natter_backoff_init (NatterBackoff *backoff)
{
  backoff->min_ms = 1000;
  backoff->max_ms = 5000;
  backoff->factor = 2;
  backoff->jitter = 0.5;
  backoff->attempts = 0;
  backoff->rand = g_rand_new ();
}

void
natter_backoff_clear (NatterBackoff *backoff)
{
  g_clear_pointer (&backoff->rand, g_rand_free);
}

guint
natter_backoff_next_with (NatterBackoff *backoff,
                          double         rand)
{
  double ms;

  g_return_val_if_fail (rand >= 0.0 && rand < 1.0, backoff->max_ms);

  /* pow() of a growing attempt count overflows to +inf, which min() caps. */
  ms = backoff->min_ms * pow (backoff->factor, backoff->attempts);
  if (backoff->attempts < G_MAXUINT)
    backoff->attempts++;

  if (backoff->jitter > 0.0 && isfinite (ms))
    {
      double deviation = floor (rand * backoff->jitter * ms);

      if (((gint64) floor (rand * 10) & 1) == 0)
        ms -= deviation;
      else
        ms += deviation;
    }

  return (guint) MIN (ms, (double) backoff->max_ms);
}

guint
natter_backoff_next (NatterBackoff *backoff)
{
  return natter_backoff_next_with (backoff, g_rand_double (backoff->rand));
}

void
natter_backoff_reset (NatterBackoff *backoff)
{
  backoff->attempts = 0;
}
