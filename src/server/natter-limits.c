/* natter-limits.c: see the header. */
#include "natter-limits.h"

typedef struct
{
  double tokens;
  gint64 updated_us;
} Bucket;

struct _NatterRateLimiter
{
  guint       rate;
  guint       burst;
  GHashTable *buckets; /* key → Bucket */
};

NatterRateLimiter *
natter_rate_limiter_new (guint rate,
                         guint burst)
{
  NatterRateLimiter *limiter = g_new0 (NatterRateLimiter, 1);

  limiter->rate = rate;
  limiter->burst = MAX (burst, 1);
  limiter->buckets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  return limiter;
}

void
natter_rate_limiter_free (NatterRateLimiter *limiter)
{
  if (limiter == NULL)
    return;
  g_hash_table_unref (limiter->buckets);
  g_free (limiter);
}

void
natter_rate_limiter_forget (NatterRateLimiter *limiter,
                            const char        *key)
{
  g_return_if_fail (limiter != NULL);

  g_hash_table_remove (limiter->buckets, key);
}

gboolean
natter_rate_limiter_take (NatterRateLimiter *limiter,
                          const char        *key,
                          gint64             now_us)
{
  Bucket *bucket;

  g_return_val_if_fail (limiter != NULL, FALSE);

  if (limiter->rate == 0)
    return TRUE; /* unlimited */

  bucket = g_hash_table_lookup (limiter->buckets, key);
  if (bucket == NULL)
    {
      bucket = g_new0 (Bucket, 1);
      bucket->tokens = limiter->burst;
      bucket->updated_us = now_us;
      g_hash_table_insert (limiter->buckets, g_strdup (key), bucket);
    }

  bucket->tokens = MIN ((double) limiter->burst,
                        bucket->tokens + (now_us - bucket->updated_us) * limiter->rate / 1e6);
  bucket->updated_us = now_us;

  if (bucket->tokens < 1.0)
    return FALSE;

  bucket->tokens -= 1.0;
  return TRUE;
}

struct _NatterConnectionCounter
{
  gint        ref_count;
  guint       max_total;
  guint       max_per_address;
  guint       total;
  GHashTable *per_address; /* address → count */
};

NatterConnectionCounter *
natter_connection_counter_new (guint max_total,
                               guint max_per_address)
{
  NatterConnectionCounter *counter = g_new0 (NatterConnectionCounter, 1);

  counter->ref_count = 1;
  counter->max_total = max_total;
  counter->max_per_address = max_per_address;
  counter->per_address = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return counter;
}

NatterConnectionCounter *
natter_connection_counter_ref (NatterConnectionCounter *counter)
{
  g_atomic_int_inc (&counter->ref_count);
  return counter;
}

void
natter_connection_counter_unref (NatterConnectionCounter *counter)
{
  if (g_atomic_int_dec_and_test (&counter->ref_count))
    {
      g_hash_table_unref (counter->per_address);
      g_free (counter);
    }
}

gboolean
natter_connection_counter_add (NatterConnectionCounter *counter,
                               const char              *address)
{
  guint n;

  n = GPOINTER_TO_UINT (g_hash_table_lookup (counter->per_address, address)) + 1;
  g_hash_table_insert (counter->per_address, g_strdup (address), GUINT_TO_POINTER (n));
  counter->total++;

  return (counter->max_total == 0 || counter->total <= counter->max_total) &&
         (counter->max_per_address == 0 || n <= counter->max_per_address);
}

void
natter_connection_counter_remove (NatterConnectionCounter *counter,
                                  const char              *address)
{
  guint n = GPOINTER_TO_UINT (g_hash_table_lookup (counter->per_address, address));

  g_return_if_fail (n > 0 && counter->total > 0);

  counter->total--;
  if (n == 1)
    g_hash_table_remove (counter->per_address, address);
  else
    g_hash_table_insert (counter->per_address, g_strdup (address), GUINT_TO_POINTER (n - 1));
}

guint
natter_connection_counter_get_total (NatterConnectionCounter *counter)
{
  return counter->total;
}
