/* natter-preview-bench.c: how long the main loop stalls while the send
 * dialog reads a large photo for its preview (the decoding and scaling are
 * meant to happen in a worker thread). Not part of `meson test`.
 *
 *   xvfb-run natter-preview-bench PHOTO [ROUNDS]
 *
 * For each round it opens the dialog on PHOTO and prints how long until it
 * was ready, the longest gap between main-loop wakeups of a 1 ms timer while
 * it read (this includes showing the dialog after 250 ms, which is GTK's own
 * work), and the longest gap in the 300 ms after, with the preview shown. */

#include <adwaita.h>
#include <stdlib.h>

#include "natter-send-file-dialog.h"

static gint64 last_tick, worst_gap;

static gboolean
tick_cb (gpointer user_data)
{
  gint64 now = g_get_monotonic_time ();

  if (last_tick != 0 && now - last_tick > worst_gap)
    worst_gap = now - last_tick;
  last_tick = now;
  return G_SOURCE_CONTINUE;
}

static void
run_for (gint64 usec)
{
  gint64 end = g_get_monotonic_time () + usec;

  while (g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, TRUE);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GFile) file = NULL;
  GtkWidget *window;
  int rounds;

  if (argc < 2)
    {
      g_printerr ("usage: natter-preview-bench PHOTO [ROUNDS]\n");
      return 2;
    }
  rounds = argc > 2 ? atoi (argv[2]) : 3;
  file = g_file_new_for_commandline_arg (argv[1]);

  adw_init ();
  window = gtk_window_new ();
  gtk_window_present (GTK_WINDOW (window));
  /* Also keeps the loop waking up while nothing else happens. */
  g_timeout_add (1, tick_cb, NULL);
  run_for (200 * 1000);

  for (int i = 0; i < rounds; i++)
    {
      g_autoptr(GListStore) files = g_list_store_new (G_TYPE_FILE);
      NatterSendFileDialog *dialog;
      gint64 start, ready;
      double while_reading;

      g_list_store_append (files, file);
      last_tick = 0;
      worst_gap = 0;
      start = g_get_monotonic_time ();
      dialog = natter_send_file_dialog_new (GTK_WINDOW (window), G_LIST_MODEL (files));
      while (!natter_send_file_dialog_get_ready (dialog) && natter_send_file_dialog_get_error (dialog) == NULL)
        g_main_context_iteration (NULL, TRUE);
      ready = g_get_monotonic_time ();
      while_reading = worst_gap / 1000.0;
      worst_gap = 0;
      run_for (300 * 1000);
      g_print ("round %d: ready after %.1f ms (preview: %s); longest main-loop gap while reading %.1f ms, "
               "after %.1f ms\n", i + 1, (ready - start) / 1000.0,
               natter_send_file_dialog_get_preview (dialog) != NULL ? "yes" : "no",
               while_reading, worst_gap / 1000.0);
      gtk_window_destroy (GTK_WINDOW (dialog));
      run_for (100 * 1000);
    }
  gtk_window_destroy (GTK_WINDOW (window));
  return 0;
}
