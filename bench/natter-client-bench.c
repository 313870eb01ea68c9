/* natter-client-bench: libnatter-client receiving 10,000 messages/s (issue
 * 8, client side). Being written; see docs/PERFORMANCE.md. */
#include <glib.h>

int
main (int   argc,
      char *argv[])
{
  g_printerr ("natter-client-bench: not written yet\n");
  return 1;
}
