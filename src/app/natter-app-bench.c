/* natter-app-bench.c: measures the app's start and room opening against a
 * filled cache (issue 4's performance targets). Not part of `meson test`.
 *
 *   natter-app-bench [--rooms 50] [--messages 100000]
 *
 * Fills a cache (not timed), then runs itself again with --measure so that
 * "from process start" means a fresh process: it shows the real window with
 * the cached rooms (the server is unreachable: nothing comes from the
 * network), reports the first frame, then opens the room holding all the
 * messages and reports the frame that shows it, and the RSS after it. Run it
 * under X or Wayland (e.g. xvfb-run); GSK_RENDERER=cairo leaves out the GL
 * driver's own memory and start-up (llvmpipe under Xvfb). CPU times are
 * printed next to wall-clock times: on a loaded machine they are the fairer
 * figure.
 *
 * A desktop session always has a session bus. Without one (plain
 * xvfb-run), GApplication would start a bus itself through dbus-launch, a
 * second or more that a real start never pays: the bench then runs a
 * private bus for the measured process, on which nothing gets activated
 * (no portal start-up either); --no-bus measures without it.
 *
 * The live messages go through the session's own path (as if the socket
 * had received them): parsed, cached, counted, put in the timeline. */

#include <glib/gstdio.h>
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "natter-app-private.h"
#include "natter-application.h"
#include "natter-client-private.h"

#define BIG_ROOM "big-room"

static gint64 process_start_us;
static gint64 first_frame_us;
static gint64 open_start_us;
static gint64 open_frame_us;
static gint64 room_opened_us;
static gint64 room_frame_us;
static double room_frame_cpu_ms;
static gint64 open_settled_us;
static double open_settled_cpu_ms;
static NatterWindow *window;

/* Microseconds on CLOCK_BOOTTIME, the clock /proc/self/stat counts from. */
static gint64
boottime_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_BOOTTIME, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static gint64
read_process_start_us (void)
{
  g_autofree char *stat = NULL;
  g_auto(GStrv) fields = NULL;
  const char *after_name;

  if (!g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL))
    return boottime_us ();
  /* Field 22 (starttime), counted after the parenthesised command name. */
  after_name = strrchr (stat, ')');
  fields = g_strsplit (after_name + 2, " ", -1);
  return g_ascii_strtoll (fields[19], NULL, 10) * G_USEC_PER_SEC / sysconf (_SC_CLK_TCK);
}

/* CPU time of this process so far, in ms: on a loaded machine the wall
 * clock says more about the neighbours than about the app. */
static double
cpu_ms (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec * 1000.0 + usage.ru_utime.tv_usec / 1000.0 +
         usage.ru_stime.tv_sec * 1000.0 + usage.ru_stime.tv_usec / 1000.0;
}

static double first_frame_cpu_ms, open_cpu_start_ms, open_cpu_ms;

/* The room view rests on its newest message. */
static gboolean
view_at_newest (void)
{
  GtkWidget *view = _natter_room_view_get_timeline_view (_natter_window_get_room_view (window));
  GtkAdjustment *adjustment = gtk_scrollable_get_vadjustment (GTK_SCROLLABLE (view));

  return gtk_adjustment_get_upper (adjustment) > 0 &&
         gtk_adjustment_get_value (adjustment) + gtk_adjustment_get_page_size (adjustment) >=
         gtk_adjustment_get_upper (adjustment) - 1;
}

static gboolean
wake_up (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

static long
rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return -1;
  line = strstr (status, "VmRSS:");
  return line != NULL ? strtol (line + 6, NULL, 10) : -1;
}

static void
fill_cache (const char *path,
            guint       n_rooms,
            guint       n_messages)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterCache) cache = natter_cache_open (path, &error);
  gint64 now = g_get_real_time () / 1000;
  const char *senders[] = { "alice", "bob", "chen", "dana", "bench" };
  guint small_count = g_getenv ("NATTER_BENCH_SMALL") ? atoi (g_getenv ("NATTER_BENCH_SMALL")) : 40;

  g_assert_no_error (error);

  for (guint r = 0; r < n_rooms; r++)
    {
      g_autofree char *name = r == n_rooms - 1 ? g_strdup (BIG_ROOM) : g_strdup_printf ("room-%02u", r);
      g_autofree char *topic = g_strdup_printf ("Topic of %s", name);
      guint count = r == n_rooms - 1 ? n_messages : small_count;
      /* The big room is the oldest, so the window starts on a small one. */
      gint64 newest = now - (gint64) r * 60000 - (r == n_rooms - 1 ? 3600000 : 0);

      natter_cache_put_room (cache, name, topic, TRUE, count, 5);
      for (guint start = 0; start < count; start += 5000)
        {
          g_autoptr(GPtrArray) batch = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_chat_message_free);
          guint n;

          for (guint i = start; i < MIN (count, start + 5000); i++)
            {
              NatterChatMessage *message = natter_chat_message_new ();

              message->room = g_strdup (name);
              message->seq = i + 1;
              message->ts = newest - (gint64) (count - i) * 30000;
              message->from = g_strdup (senders[i % G_N_ELEMENTS (senders)]);
              message->cid = g_uuid_string_random ();
              message->text = g_strdup_printf ("Message %u of %s: a line of text about the weather, "
                                               "the build and https://example.org/%u", i + 1, name, i);
              g_ptr_array_add (batch, message);
            }
          natter_cache_insert_messages (cache, batch, "bench", &n, &error);
          g_assert_no_error (error);
        }
      natter_cache_set_synced_seq (cache, name, count);
      natter_cache_set_read_seq (cache, name, count);
    }
}

/* The live feed: messages arriving at 1,000 per second into the open
 * room, handed to the session as the socket would. */
typedef struct
{
  NatterSession *session;
  NatterRoom    *room;
  gint64         first_seq;
  gint64         next_seq;
  guint          sent;
  guint          total;
  gint64         start_us;
} Feed;

static gboolean feeding;
static gboolean fed;
static gint64 last_paint_us;
static gint64 max_gap_us;
static guint n_paints;

static gboolean
feed_cb (gpointer user_data)
{
  Feed *feed = user_data;
  /* Catch up with the wall clock: as many as are due by now. */
  guint due = MIN (feed->total, (guint) ((boottime_us () - feed->start_us) / 1000) + 1);

  for (; feed->sent < due; feed->sent++)
    {
      g_autoptr(NatterChatMessage) chat = natter_chat_message_new ();
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

      chat->room = g_strdup (natter_room_get_name (feed->room));
      chat->seq = feed->next_seq++;
      chat->ts = g_get_real_time () / 1000;
      chat->from = g_strdup ("alice");
      chat->cid = g_uuid_string_random ();
      chat->text = g_strdup_printf ("Live message %u, arriving with a thousand others this second", feed->sent);
      json_node_take_object (node, natter_chat_message_to_json (chat));
      _natter_session_receive_event (feed->session, "message", node);
    }
  if (feed->sent < feed->total)
    return G_SOURCE_CONTINUE;
  fed = TRUE;
  return G_SOURCE_REMOVE;
}

static void
after_paint (GdkFrameClock *clock,
             gpointer       user_data)
{
  if (feeding)
    {
      gint64 now = boottime_us ();

      if (last_paint_us != 0)
        max_gap_us = MAX (max_gap_us, now - last_paint_us);
      last_paint_us = now;
      n_paints++;
    }
  if (first_frame_us == 0)
    {
      first_frame_us = boottime_us ();
      first_frame_cpu_ms = cpu_ms ();
      /* Open the big room on the next main loop turn, as a click would. */
      open_start_us = -1;
      return;
    }
  if (room_opened_us > 0 && room_frame_us == 0)
    {
      room_frame_us = boottime_us ();
      room_frame_cpu_ms = cpu_ms ();
      return;
    }
  if (open_start_us > 0 && open_frame_us == 0)
    {
      open_frame_us = boottime_us ();
      open_cpu_ms = cpu_ms () - open_cpu_start_ms;
    }
  if (open_frame_us > 0 && open_settled_us == 0 && view_at_newest ())
    {
      open_settled_us = boottime_us ();
      open_settled_cpu_ms = cpu_ms () - open_cpu_start_ms;
    }
}

/* NATTER_BENCH_STEPS=1 prints where the time before the first frame goes. */
static void
step (const char *what,
      gint64      main_us)
{
  if (g_getenv ("NATTER_BENCH_STEPS") != NULL)
    g_printerr ("%s: %.1f ms from main, %.1f ms CPU\n", what,
                (boottime_us () - main_us) / 1000.0, cpu_ms ());
}

/* A session bus like a desktop session's, for the measured process only.
 * Nothing can be activated on it: a call to a portal or the accessibility
 * bus fails at once, about what a call to a running one costs. Returns
 * the address (and the daemon's pid), or NULL. */
static char *
start_session_bus (const char *dir,
                   GPid       *pid)
{
  static const char config[] =
    "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
    " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
    "<busconfig><type>session</type><listen>unix:tmpdir=/tmp</listen>"
    "<policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>"
    "<allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n";
  g_autofree char *config_path = g_build_filename (dir, "bus.conf", NULL);
  g_autofree char *config_arg = g_strconcat ("--config-file=", config_path, NULL);
  const char *bus_argv[] = { "dbus-daemon", config_arg, "--print-address", "--nofork", NULL };
  g_autoptr(GError) error = NULL;
  GString *address = g_string_new (NULL);
  int out = -1;
  char c;

  if (!g_file_set_contents (config_path, config, -1, &error) ||
      !g_spawn_async_with_pipes (NULL, (char **) bus_argv, NULL, G_SPAWN_SEARCH_PATH,
                                 NULL, NULL, pid, NULL, &out, NULL, &error))
    {
      g_printerr ("natter-app-bench: no session bus: %s\n", error->message);
      g_string_free (address, TRUE);
      return NULL;
    }
  while (read (out, &c, 1) == 1 && c != '\n')
    g_string_append_c (address, c);
  close (out);
  return g_string_free (address, address->len == 0);
}

static char *
load_average (void)
{
  static char text[128];
  g_autofree char *contents = NULL;

  if (!g_file_get_contents ("/proc/loadavg", &contents, NULL, NULL))
    return (char *) "?\n";
  g_strlcpy (text, contents, sizeof text);
  return text;
}

static int
measure (const char *cache_path)
{
  g_autoptr(NatterApplication) app = NULL;
  g_autoptr(NatterSession) session = NULL;
  g_autoptr(GError) error = NULL;
  GdkFrameClock *clock;
  gint64 main_us = boottime_us ();
  g_autofree char *first_room = NULL;
  long rss_before, rss_after, rss_fed;
  guint in_timeline = 0, shown = 0;
  double max_gap_ms = 0, first_frame_ms, open_ms;

  natter_application_prepare_display ();
  gtk_init ();
  step ("gtk_init", main_us);
  app = natter_application_new (NULL);
  g_application_set_flags (G_APPLICATION (app), G_APPLICATION_NON_UNIQUE);
  g_application_set_application_id (G_APPLICATION (app), "io.github.natter.Natter.Bench");
  if (!g_application_register (G_APPLICATION (app), NULL, &error))
    g_error ("%s", error->message);
  step ("application registered", main_us);

  /* Port 9 (discard) is closed: everything shown comes from the cache. A
   * token makes the session try to connect instead of signing out. */
  /* Start on a small room, as after a previous run; the big one is opened
   * (for the first time) once the window is up. */
  g_settings_set_string (natter_application_get_settings (app), "last-room", "room-00");
  session = natter_session_new_full ("http://127.0.0.1:9", "bench", NATTER_TOKEN_STORE_MEMORY, cache_path);
  _natter_session_set_token (session, "bench");
  natter_application_set_session (app, session);
  step ("session started", main_us);

  window = natter_window_new (app);
  step ("window built", main_us);
  gtk_window_set_default_size (GTK_WINDOW (window), 1100, 760);
  gtk_widget_realize (GTK_WIDGET (window));
  clock = gtk_widget_get_frame_clock (GTK_WIDGET (window));
  g_signal_connect (clock, "after-paint", G_CALLBACK (after_paint), NULL);
  gtk_window_present (GTK_WINDOW (window));
  step ("window presented", main_us);

  while (first_frame_us == 0)
    g_main_context_iteration (NULL, TRUE);
  /* The window opens the last room right after its first frame. */
  while (natter_window_get_room (window) == NULL)
    g_main_context_iteration (NULL, TRUE);
  room_opened_us = boottime_us ();
  first_room = g_strdup (natter_room_get_name (natter_window_get_room (window)));
  room_frame_us = 0;
  while (room_frame_us == 0)
    g_main_context_iteration (NULL, TRUE);
  /* Let the first room settle before measuring the switch. */
  for (int i = 0; i < 10; i++)
    g_main_context_iteration (NULL, FALSE);

  rss_before = rss_kib ();
  open_cpu_start_ms = cpu_ms ();
  open_start_us = boottime_us ();
  if (!natter_window_open_room (window, BIG_ROOM))
    g_error ("no room %s in the cache", BIG_ROOM);
  while (open_frame_us == 0)
    g_main_context_iteration (NULL, TRUE);
  {
    /* The frames that scroll it to the newest message, if it took more
     * than one; a timer wakes the loop should nothing be drawn. */
    gint64 deadline = boottime_us () + 5 * G_USEC_PER_SEC;
    guint wake = g_timeout_add (20, wake_up, NULL);

    while (open_settled_us == 0 && boottime_us () < deadline)
      g_main_context_iteration (NULL, TRUE);
    g_source_remove (wake);
  }
  rss_after = rss_kib ();
  in_timeline = g_list_model_get_n_items (G_LIST_MODEL (natter_room_get_timeline (natter_window_get_room (window))));
  shown = g_list_model_get_n_items (G_LIST_MODEL (gtk_list_view_get_model (
            GTK_LIST_VIEW (_natter_room_view_get_timeline_view (_natter_window_get_room_view (window))))));

  /* 1,000 messages in one second into the open room. */
  {
    Feed feed = { .session = session, .room = natter_window_get_room (window), .total = 1000 };
    double feed_cpu = cpu_ms ();
    gint64 feed_end;

    /* NATTER_BENCH_FEED_ROOM=room-01 feeds a room that is not in view: the
     * difference is what the view costs. */
    if (g_getenv ("NATTER_BENCH_FEED_ROOM") != NULL && g_getenv ("NATTER_BENCH_FEED_ROOM")[0] != '\0')
      feed.room = natter_session_lookup_room (session, g_getenv ("NATTER_BENCH_FEED_ROOM"));
    feed.next_seq = feed.first_seq = natter_room_get_last_seq (feed.room) + 1;
    feed.start_us = boottime_us ();
    feeding = TRUE;
    /* Network input comes in bursts: one tick every 10 ms. */
    g_timeout_add (10, feed_cb, &feed);
    /* Fed, and the last one arrived in the room. */
    while (!fed || natter_room_get_last_seq (feed.room) < feed.first_seq + feed.total - 1)
      g_main_context_iteration (NULL, TRUE);
    feeding = FALSE;
    feed_end = boottime_us ();
    max_gap_ms = max_gap_us / 1000.0;
    g_print ("1,000 live messages:          fed in %.1f ms, %u frames, longest gap between frames %.1f ms, %.1f ms CPU\n",
             (feed_end - feed.start_us) / 1000.0, n_paints, max_gap_ms, cpu_ms () - feed_cpu);
  }
  rss_fed = rss_kib ();

  g_print ("load average:                 %s", load_average ());
  g_print ("rooms in the list:            %u\n",
           g_list_model_get_n_items (natter_session_get_rooms (session)));
  g_print ("first frame:                  %.1f ms from process start (%.1f ms from main), %.1f ms CPU\n",
           (first_frame_us - process_start_us) / 1000.0, (first_frame_us - main_us) / 1000.0,
           first_frame_cpu_ms);
  g_print ("last room's timeline painted: %.1f ms from process start, %.1f ms CPU (%s)\n",
           (room_frame_us - process_start_us) / 1000.0, room_frame_cpu_ms, first_room);
  g_print ("open the %s room:        %.1f ms to its first frame, %.1f ms CPU (%u messages in the timeline, %u shown)\n",
           BIG_ROOM, (open_frame_us - open_start_us) / 1000.0, open_cpu_ms, in_timeline, shown);
  if (open_settled_us > 0)
    g_print ("  ...resting on its newest:   %.1f ms, %.1f ms CPU\n",
             (open_settled_us - open_start_us) / 1000.0, open_settled_cpu_ms);
  else
    g_print ("  ...resting on its newest:   not within 5 s\n");
  g_print ("RSS:                          %.1f MiB before opening, %.1f MiB after, %.1f MiB after the live messages\n",
           rss_before / 1024.0, rss_after / 1024.0, rss_fed / 1024.0);

  /* The targets of issue 4, wall clock (on a loaded machine, compare the
   * CPU times above too). */
  first_frame_ms = (first_frame_us - process_start_us) / 1000.0;
  open_ms = ((open_settled_us > 0 ? open_settled_us : open_frame_us) - open_start_us) / 1000.0;
  g_print ("target: first frame < 300 ms from process start:  %s (%.1f ms)\n",
           first_frame_ms < 300 ? "met" : "MISSED", first_frame_ms);
  g_print ("target: open a 100,000-message room < 100 ms:      %s (%.1f ms, resting on the newest)\n",
           open_ms < 100 ? "met" : "MISSED", open_ms);
  g_print ("target: RSS < 150 MB:                              %s (%.1f MB at most)\n",
           MAX (rss_after, rss_fed) * 1024.0 < 150e6 ? "met" : "MISSED",
           MAX (rss_after, rss_fed) * 1024.0 / 1e6);
  g_print ("target: no frame-clock gap > 50 ms at 1,000 msg/s: %s (%.1f ms)\n",
           max_gap_ms <= 50 ? "met" : "MISSED", max_gap_ms);

  natter_application_set_session (app, NULL);
  gtk_window_destroy (GTK_WINDOW (window));
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *measure_path = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *cache_path = NULL;
  g_autofree char *self = NULL;
  int rooms = 50, messages = 100000, status = 0;
  gboolean no_bus = FALSE;
  g_auto(GStrv) child_env = g_get_environ ();
  g_autofree char *bus_address = NULL;
  GPid bus_pid = 0;
  const GOptionEntry entries[] = {
    { "no-bus", 0, 0, G_OPTION_ARG_NONE, &no_bus,
      "Measure without a session bus of its own when there is none", NULL },
    { "rooms", 0, 0, G_OPTION_ARG_INT, &rooms, "Cached rooms (default 50)", "N" },
    { "messages", 0, 0, G_OPTION_ARG_INT, &messages, "Messages in the big room (default 100000)", "N" },
    { "measure", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_FILENAME, &measure_path, NULL, NULL },
    { NULL }
  };

  process_start_us = read_process_start_us ();

  context = g_option_context_new (NULL);
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("natter-app-bench: %s\n", error->message);
      return 2;
    }
  if (measure_path != NULL)
    return measure (measure_path);

  dir = g_dir_make_tmp ("natter-app-bench-XXXXXX", &error);
  g_assert_no_error (error);
  cache_path = g_build_filename (dir, "cache.db", NULL);
  g_print ("filling %s: %d rooms, %d messages in %s\n", cache_path, rooms, messages, BIG_ROOM);
  fill_cache (cache_path, MAX (rooms, 1), MAX (messages, 0));

  if (g_getenv ("DBUS_SESSION_BUS_ADDRESS") != NULL)
    g_print ("session bus: the caller's\n");
  else if (no_bus)
    g_print ("session bus: none (GApplication starts one through dbus-launch, in the measured time)\n");
  else if ((bus_address = start_session_bus (dir, &bus_pid)) != NULL)
    {
      g_print ("session bus: a private one, started before the measured process, nothing activatable\n");
      child_env = g_environ_setenv (child_env, "DBUS_SESSION_BUS_ADDRESS", bus_address, TRUE);
    }

  self = g_file_read_link ("/proc/self/exe", NULL);
  {
    const char *child_argv[] = { self, "--measure", cache_path, NULL };
    if (!g_spawn_sync (NULL, (char **) child_argv, child_env, G_SPAWN_CHILD_INHERITS_STDIN,
                       NULL, NULL, NULL, NULL, &status, &error))
      g_error ("%s", error->message);
  }
  if (bus_pid != 0)
    {
      g_autofree char *config_path = g_build_filename (dir, "bus.conf", NULL);

      kill (bus_pid, SIGTERM);
      g_spawn_close_pid (bus_pid);
      g_unlink (config_path);
    }

  if (g_getenv ("NATTER_BENCH_KEEP") != NULL)
    {
      g_print ("kept %s\n", cache_path);
      return 0;
    }
  g_unlink (cache_path);
  {
    g_autofree char *wal = g_strconcat (cache_path, "-wal", NULL);
    g_autofree char *shm = g_strconcat (cache_path, "-shm", NULL);
    g_unlink (wal);
    g_unlink (shm);
  }
  g_rmdir (dir);
  return g_spawn_check_wait_status (status, NULL) ? 0 : 1;
}
