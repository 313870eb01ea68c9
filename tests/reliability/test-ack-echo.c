/* test-ack-echo.c: the moment between a send's ok ack and the message's
 * own echo (the server acks first, then broadcasts to every member, the
 * sender included). Found by the client-killed test, whose drain printed a
 * timeline made right after the last ack and missed that message: an
 * acked message was neither in the outbox any more nor in the cache until
 * the echo came (and if the link died first, until the next catch-up), and
 * the echo then counted as a new message "received" by the session that
 * sent it, which natter-session.h says it never is. */
#include "natter-client-private.h"
#include "natter-test-util.h"

typedef struct
{
  guint acked;
  guint shown;           /* acked messages a timeline made in the ack handler shows */
  guint own_received;    /* "message-received" for this session's own messages */
} Check;

static void
on_acked (NatterSession *session,
          NatterMessage *message,
          Check         *check)
{
  NatterRoom *room = natter_session_lookup_room (session, natter_message_get_room (message));
  /* Made now, between the ack and the echo, as a UI opening the room would. */
  NatterTimeline *timeline = natter_room_get_timeline (room);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (timeline));

  check->acked++;
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterMessage) m = g_list_model_get_item (G_LIST_MODEL (timeline), i);

      if (natter_message_get_state (m) == NATTER_MESSAGE_STATE_SENT &&
          natter_message_get_seq (m) == natter_message_get_seq (message))
        {
          check->shown++;
          break;
        }
    }
}

static void
on_received (NatterSession *session,
             NatterRoom    *room,
             NatterMessage *message,
             Check         *check)
{
  if (natter_message_get_outgoing (message))
    check->own_received++;
}

static void
test_acked_before_echo (void)
{
  NatterTestServer *ts = natter_test_server_new (0, 0);
  g_autofree char *cache_dir = natter_test_mkdtemp ();
  g_autoptr(NatterSession) session = natter_test_session_new (ts->url, "ann", cache_dir, FALSE);
  NatterRoom *room = natter_test_join (session, "acks");
  g_autoptr(NatterMessage) one = NULL;
  g_autoptr(NatterMessage) two = NULL;
  Check check = { 0 };

  g_signal_connect (session, "message-acked", G_CALLBACK (on_acked), &check);
  g_signal_connect (session, "message-received", G_CALLBACK (on_received), &check);

  one = natter_room_send_text (room, "one");
  natter_test_wait_until (check.acked == 1, 10000);
  /* The echo of "one" comes before the ack of "two" on the same link. */
  two = natter_room_send_text (room, "two");
  natter_test_wait_until (check.acked == 2, 10000);

  g_assert_cmpuint (check.shown, ==, 2);
  g_assert_cmpuint (check.own_received, ==, 0);

  natter_session_stop (session);
  g_clear_object (&session);
  natter_test_server_free (ts);
  natter_test_rm_rf (cache_dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("NATTER_NO_SYSTEM_BUS", "1", TRUE);

  g_test_add_func ("/reliability/session/acked-before-echo", test_acked_before_echo);

  return g_test_run ();
}
