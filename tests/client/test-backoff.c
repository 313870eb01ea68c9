/* test-backoff.c: the reconnection delays follow socket.io-client's
 * formula, stay within its bounds and start over after a success. */
#include "natter-backoff.h"

static void
bounds_for (guint   attempt,
            guint  *lo,
            guint  *hi)
{
  double base = 1000.0 * (1u << MIN (attempt, 20));

  *lo = (guint) MIN (base - base * 0.5, 5000.0);
  *hi = (guint) MIN (base + base * 0.5, 5000.0);
}

static void
test_exact_values (void)
{
  NatterBackoff b;

  natter_backoff_init (&b);
  /* rand 0: no deviation. */
  g_assert_cmpuint (natter_backoff_next_with (&b, 0.0), ==, 1000);
  g_assert_cmpuint (natter_backoff_next_with (&b, 0.0), ==, 2000);
  g_assert_cmpuint (natter_backoff_next_with (&b, 0.0), ==, 4000);
  g_assert_cmpuint (natter_backoff_next_with (&b, 0.0), ==, 5000);
  g_assert_cmpuint (natter_backoff_next_with (&b, 0.0), ==, 5000);
  natter_backoff_reset (&b);
  /* rand 0.15: floor(1.5) = 1 is odd → plus floor(0.15*0.5*1000) = 75. */
  g_assert_cmpuint (natter_backoff_next_with (&b, 0.15), ==, 1075);
  /* rand 0.25: floor(2.5) = 2 is even → minus floor(0.25*0.5*2000) = 250. */
  g_assert_cmpuint (natter_backoff_next_with (&b, 0.25), ==, 1750);
  /* rand 0.99: odd → 4000 + 1980, capped at 5000. */
  g_assert_cmpuint (natter_backoff_next_with (&b, 0.99), ==, 5000);
  natter_backoff_clear (&b);
}

static void
test_random_within_bounds (void)
{
  NatterBackoff b;
  guint seen_low = 0, seen_high = 0;

  natter_backoff_init (&b);
  for (guint round = 0; round < 2000; round++)
    {
      for (guint attempt = 0; attempt < 8; attempt++)
        {
          guint lo, hi, d = natter_backoff_next (&b);

          bounds_for (attempt, &lo, &hi);
          g_assert_cmpuint (d, >=, lo);
          g_assert_cmpuint (d, <=, hi);
          if (attempt == 0 && d < 1000)
            seen_low++;
          if (attempt == 0 && d > 1000)
            seen_high++;
        }
      /* A success: the next failure starts from 1 s again. */
      natter_backoff_reset (&b);
      g_assert_cmpuint (b.attempts, ==, 0);
    }
  /* The jitter really goes both ways. */
  g_assert_cmpuint (seen_low, >, 100);
  g_assert_cmpuint (seen_high, >, 100);
  natter_backoff_clear (&b);
}

static void
test_many_attempts_do_not_overflow (void)
{
  NatterBackoff b;

  natter_backoff_init (&b);
  for (guint i = 0; i < 5000; i++)
    g_assert_cmpuint (natter_backoff_next (&b), <=, 5000);
  g_assert_cmpuint (natter_backoff_next_with (&b, 0.0), ==, 5000);
  natter_backoff_clear (&b);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/client/backoff/exact", test_exact_values);
  g_test_add_func ("/client/backoff/bounds", test_random_within_bounds);
  g_test_add_func ("/client/backoff/overflow", test_many_attempts_do_not_overflow);
  return g_test_run ();
}
