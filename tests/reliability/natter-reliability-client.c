/* natter-reliability-client.c: a tiny libnatter-client program for
 * test-faults, so that a client with a fixed cache file can be killed with
 * SIGKILL and started again. It reports on stdout, one line each:
 * "joined", "queued N", "acked TEXT", "timeline …", "drained".
 *
 *   natter-reliability-client URL USER TOKEN CACHE ROOM join
 *   natter-reliability-client URL USER TOKEN CACHE ROOM queue PREFIX N
 *   natter-reliability-client URL USER TOKEN CACHE ROOM drain
 *
 * join: joins (creating) ROOM, exits 0. queue: writes N messages
 * "PREFIX-0000"… to ROOM's outbox (the room comes from the cache, so the
 * server may be unreachable), then keeps the session running until killed.
 * drain: runs until the outbox is empty, prints ROOM's whole timeline
 * ("timeline SEQ:FROM:TEXT" lines), exits 0. The token is set
 * directly (as a Secret Service lookup would), so no sign-in is needed. */
#include <stdio.h>
#include <stdlib.h>

#include "natter-client-private.h"
#include "natter-client.h"

static GMainLoop *loop;
static int status = 1;

static void
say (const char *format,
     ...) G_GNUC_PRINTF (1, 2);

static void
say (const char *format,
     ...)
{
  va_list args;

  va_start (args, format);
  vprintf (format, args);
  va_end (args);
  putchar ('\n');
  fflush (stdout);
}

static void
on_acked (NatterSession *session,
          NatterMessage *message,
          gpointer       user_data)
{
  say ("acked %s", natter_message_get_text (message));
}

static void
on_failed (NatterSession *session,
           NatterMessage *message,
           gpointer       user_data)
{
  say ("failed %s: %s", natter_message_get_text (message), natter_message_get_error (message));
}

static void
joined (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoom) room = natter_session_join_finish (NATTER_SESSION (object), result, &error);

  if (room == NULL)
    {
      say ("error %s", error->message);
      g_main_loop_quit (loop);
      return;
    }
  say ("joined");
  status = 0;
  g_main_loop_quit (loop);
}

static void
on_state (NatterSession *session,
          GParamSpec    *pspec,
          const char    *room)
{
  if (natter_session_get_state (session) == NATTER_SESSION_STATE_ONLINE &&
      g_object_get_data (G_OBJECT (session), "joining") == NULL)
    {
      g_object_set_data (G_OBJECT (session), "joining", GINT_TO_POINTER (1));
      natter_session_join_async (session, room, TRUE, NULL, NULL, joined, NULL);
    }
}

static void load_older (NatterTimeline *timeline);

static void
loaded (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!natter_timeline_load_older_finish (NATTER_TIMELINE (object), result, &error))
    {
      say ("error %s", error->message);
      g_main_loop_quit (loop);
      return;
    }
  load_older (NATTER_TIMELINE (object));
}

/* Pages the whole timeline in, then prints it: "timeline SEQ:FROM:TEXT",
 * or "timeline pending:TEXT" for what is not sent. */
static void
load_older (NatterTimeline *timeline)
{
  guint n;

  if (!natter_timeline_get_at_start (timeline))
    {
      natter_timeline_load_older_async (timeline, 200, NULL, loaded, NULL);
      return;
    }
  n = g_list_model_get_n_items (G_LIST_MODEL (timeline));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterMessage) m = g_list_model_get_item (G_LIST_MODEL (timeline), i);

      if (natter_message_get_state (m) == NATTER_MESSAGE_STATE_SENT)
        say ("timeline %" G_GINT64_FORMAT ":%s:%s", natter_message_get_seq (m),
             natter_message_get_from (m), natter_message_get_text (m));
      else
        say ("timeline pending:%s", natter_message_get_text (m));
    }
  say ("drained");
  status = 0;
  g_main_loop_quit (loop);
}

static void
check_drained (NatterSession *session,
               GParamSpec    *pspec,
               const char    *room_name)
{
  NatterRoom *room;

  if (natter_session_get_pending (session) != 0 ||
      natter_session_get_state (session) != NATTER_SESSION_STATE_ONLINE ||
      g_object_get_data (G_OBJECT (session), "draining") != NULL)
    return;
  g_object_set_data (G_OBJECT (session), "draining", GINT_TO_POINTER (1));
  room = natter_session_lookup_room (session, room_name);
  if (room == NULL)
    {
      say ("error no room %s", room_name);
      g_main_loop_quit (loop);
      return;
    }
  load_older (natter_room_get_timeline (room));
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(NatterSession) session = NULL;
  g_autoptr(GError) error = NULL;
  const char *room_name, *command;

  if (argc < 7)
    {
      fprintf (stderr, "usage: %s URL USER TOKEN CACHE ROOM join|queue PREFIX N|drain\n", argv[0]);
      return 2;
    }
  g_setenv ("NATTER_NO_SYSTEM_BUS", "1", TRUE);
  room_name = argv[5];
  command = argv[6];
  loop = g_main_loop_new (NULL, FALSE);

  session = natter_session_new_full (argv[1], argv[2], NATTER_TOKEN_STORE_MEMORY, argv[4]);
  _natter_session_set_token (session, argv[3]);
  g_signal_connect (session, "message-acked", G_CALLBACK (on_acked), NULL);
  g_signal_connect (session, "message-failed", G_CALLBACK (on_failed), NULL);
  if (!natter_session_start (session, &error))
    {
      say ("error %s", error->message);
      return 1;
    }

  if (g_str_equal (command, "join"))
    {
      g_signal_connect (session, "notify::state", G_CALLBACK (on_state), (gpointer) room_name);
      on_state (session, NULL, room_name);
    }
  else if (g_str_equal (command, "queue") && argc == 9)
    {
      NatterRoom *room = natter_session_lookup_room (session, room_name);
      guint n = atoi (argv[8]);

      if (room == NULL)
        {
          say ("error no room %s in the cache", room_name);
          return 1;
        }
      for (guint i = 0; i < n; i++)
        {
          g_autofree char *text = g_strdup_printf ("%s-%04u", argv[7], i);
          g_autoptr(NatterMessage) message = natter_room_send_text (room, text);
        }
      say ("queued %u", n);
    }
  else if (g_str_equal (command, "drain"))
    {
      g_signal_connect (session, "notify::pending", G_CALLBACK (check_drained), (gpointer) room_name);
      g_signal_connect (session, "notify::state", G_CALLBACK (check_drained), (gpointer) room_name);
    }
  else
    {
      fprintf (stderr, "%s: unknown command %s\n", argv[0], command);
      return 2;
    }

  g_main_loop_run (loop);
  natter_session_stop (session);
  g_main_loop_unref (loop);
  return status;
}
