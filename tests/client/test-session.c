/* test-session.c: NatterSession against a real natter-server on loopback,
 * in one process: sign-in, rooms, messages, typing, presence, history
 * paging, and the exactly-once guarantee across a server restart and
 * across a link that goes silent so that only the heartbeat notices. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "natter-client-private.h"
#include "natter-test-util.h"

static void
store_result (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

typedef struct
{
  NatterTestServer *ts;
  char             *cache_dir;
} Fixture;

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  f->ts = natter_test_server_new (0, 0);
  f->cache_dir = natter_test_mkdtemp ();
}

static void
setup_fast_ping (Fixture       *f,
                 gconstpointer  data)
{
  f->ts = natter_test_server_new (300, 200);
  f->cache_dir = natter_test_mkdtemp ();
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  natter_test_server_free (f->ts);
  natter_test_rm_rf (f->cache_dir);
  g_free (f->cache_dir);
}

static void
count_signal (gpointer instance,
              gpointer a,
              gpointer b)
{
  (*(guint *) b)++;
}

static guint received;

static void
on_received (NatterSession *session,
             NatterRoom    *room,
             NatterMessage *message,
             gpointer       user_data)
{
  received++;
}

static gboolean
strv_has (const char * const *strv,
          const char         *s)
{
  return strv != NULL && g_strv_contains (strv, s);
}

static NatterMember *
find_member (NatterRoom *room,
             const char *user)
{
  GListModel *members = natter_room_get_members (room);

  for (guint i = 0; i < g_list_model_get_n_items (members); i++)
    {
      g_autoptr(NatterMember) m = g_list_model_get_item (members, i);

      if (g_strcmp0 (natter_member_get_user (m), user) == 0)
        return m;
    }
  return NULL;
}

static void
test_basic (Fixture       *f,
            gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) bob = natter_test_session_new (f->ts->url, "bob", f->cache_dir, FALSE);
  g_autoptr(NatterMessage) hello = NULL;
  g_autoptr(NatterMessage) got = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoom) dm = NULL;
  g_autoptr(GListModel) listed = NULL;
  NatterRoom *a_room, *b_room, *b_dm;
  NatterTimeline *a_tl, *b_tl;
  NatterMember *alice_seen_by_bob;

  a_room = natter_test_join (alice, "general");
  b_room = natter_test_join (bob, "general");
  g_assert_cmpuint (g_list_model_get_n_items (natter_session_get_rooms (alice)), ==, 1);
  a_tl = natter_room_get_timeline (a_room);
  b_tl = natter_room_get_timeline (b_room);

  received = 0;
  g_signal_connect (bob, "message-received", G_CALLBACK (on_received), NULL);

  /* Send: pending at once, sent after the ack, received by the other. */
  hello = natter_room_send_text (a_room, "hello @bob");
  g_assert_cmpint (natter_message_get_state (hello), ==, NATTER_MESSAGE_STATE_PENDING);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (a_tl)), ==, 1);
  natter_test_wait_until (natter_message_get_state (hello) == NATTER_MESSAGE_STATE_SENT, 5000);
  g_assert_cmpint (natter_message_get_seq (hello), ==, 1);
  natter_test_wait_until (natter_session_get_pending (alice) == 0, 5000);
  natter_test_wait_until (g_list_model_get_n_items (G_LIST_MODEL (b_tl)) == 1, 5000);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (a_tl)), ==, 1);
  got = g_list_model_get_item (G_LIST_MODEL (b_tl), 0);
  g_assert_cmpstr (natter_message_get_text (got), ==, "hello @bob");
  g_assert_cmpstr (natter_message_get_from (got), ==, "alice");
  g_assert_cmpstr (natter_message_get_cid (got), ==, natter_message_get_cid (hello));
  g_assert_true (natter_message_get_mentions_me (got));
  g_assert_cmpuint (received, ==, 1);
  g_assert_cmpuint (natter_room_get_unread (b_room), ==, 1);
  g_assert_cmpuint (natter_room_get_mentions (b_room), ==, 1);
  g_assert_cmpuint (natter_room_get_unread (a_room), ==, 0);
  natter_room_mark_read (b_room);
  g_assert_cmpuint (natter_room_get_unread (b_room), ==, 0);
  g_assert_cmpint (natter_room_get_read_seq (b_room), ==, 1);

  /* Typing, seen by the other only. */
  natter_room_set_typing (a_room, TRUE);
  natter_test_wait_until (strv_has (natter_room_get_typing_users (b_room), "alice"), 5000);
  g_assert_nonnull (natter_room_get_typing_text (b_room));
  natter_room_set_typing (a_room, FALSE);
  natter_test_wait_until (!strv_has (natter_room_get_typing_users (b_room), "alice"), 5000);
  g_assert_null (natter_room_get_typing_text (b_room));

  /* A typist who vanishes without "typing: false" expires. */
  _natter_room_set_typing_expiry (300);
  natter_room_set_typing (a_room, TRUE);
  natter_test_wait_until (strv_has (natter_room_get_typing_users (b_room), "alice"), 5000);
  natter_test_wait_until (!strv_has (natter_room_get_typing_users (b_room), "alice"), 5000);
  natter_room_set_typing (a_room, FALSE);
  _natter_room_set_typing_expiry (6000);

  /* Members with presence. */
  natter_test_wait_until (find_member (b_room, "alice") != NULL, 5000);
  alice_seen_by_bob = find_member (b_room, "alice");
  natter_test_wait_until (natter_member_get_online (alice_seen_by_bob), 5000);
  g_assert_cmpuint (natter_room_get_n_members (b_room), ==, 2);

  /* DMs show the other person's name, on both sides. */
  natter_session_dm_async (alice, "bob", NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 5000);
  dm = natter_session_dm_finish (alice, result, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (natter_room_get_name (dm), ==, "@alice+bob");
  g_assert_cmpstr (natter_room_get_display_name (dm), ==, "bob");
  g_assert_true (natter_room_get_is_dm (dm));
  g_clear_object (&result);
  g_clear_object (&got);
  got = natter_room_send_text (dm, "psst");
  natter_test_wait_until (natter_session_lookup_room (bob, "@alice+bob") != NULL, 5000);
  b_dm = natter_session_lookup_room (bob, "@alice+bob");
  g_assert_cmpstr (natter_room_get_display_name (b_dm), ==, "alice");
  natter_test_wait_until (natter_room_get_unread (b_dm) == 1, 5000);

  /* The room list for a join dialog. */
  natter_session_join_async (alice, "random", TRUE, "Anything goes", NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 5000);
  g_clear_object (&dm);
  dm = natter_session_join_finish (alice, result, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (natter_room_get_topic (dm), ==, "Anything goes");
  g_clear_object (&result);
  natter_session_list_rooms_async (bob, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 5000);
  listed = natter_session_list_rooms_finish (bob, result, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (listed), >=, 2);
  g_clear_object (&result);

  /* Unknown rooms are a clear error. */
  natter_session_join_async (bob, "nowhere", FALSE, NULL, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 5000);
  g_assert_null (natter_session_join_finish (bob, result, &error));
  g_assert_error (error, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_NO_SUCH_ROOM);
  g_clear_error (&error);
  g_clear_object (&result);

  /* Leaving removes the room from the list. */
  natter_session_leave_async (bob, b_room, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 5000);
  g_assert_true (natter_session_leave_finish (bob, result, &error));
  g_assert_no_error (error);
  g_assert_null (natter_session_lookup_room (bob, "general"));
  g_clear_object (&result);

  /* Presence: alice goes away, bob sees it in the DM's members. */
  natter_test_wait_until (find_member (b_dm, "alice") != NULL, 5000);
  natter_session_stop (alice);
  natter_test_wait_until (!natter_member_get_online (find_member (b_dm, "alice")), 5000);

  natter_session_stop (bob);
}

static void
test_sign_in_errors (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", NULL, FALSE);
  g_autoptr(NatterSession) again = natter_session_new_full (f->ts->url, "alice", NATTER_TOKEN_STORE_MEMORY, ":memory:");
  g_autoptr(NatterSession) nowhere = natter_session_new_full ("http://127.0.0.1:1", "alice", NATTER_TOKEN_STORE_MEMORY, ":memory:");
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;

  natter_session_register_async (again, "whatever-pass", NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 5000);
  g_assert_false (natter_session_register_finish (again, result, &error));
  g_assert_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_USER_TAKEN);
  g_clear_error (&error);
  g_clear_object (&result);

  natter_session_login_async (again, "wrong-password", NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 5000);
  g_assert_false (natter_session_login_finish (again, result, &error));
  g_assert_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_BAD_CREDENTIALS);
  g_clear_error (&error);
  g_clear_object (&result);

  natter_session_login_async (nowhere, "secret-password", NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 5000);
  g_assert_false (natter_session_login_finish (nowhere, result, &error));
  g_assert_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNREACHABLE);
  g_clear_error (&error);
  g_clear_object (&result);

  natter_session_stop (alice);
}

/* A message the server refuses for good is marked failed, visible, and
 * can be retried or discarded; it never blocks the messages after it. */
static void
test_refused_message (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) bob = natter_test_session_new (f->ts->url, "bob", f->cache_dir, FALSE);
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) listed = NULL;
  g_autoptr(NatterRoom) elsewhere = NULL;
  g_autoptr(NatterMessage) refused = NULL;
  g_autoptr(NatterMessage) fine = NULL;
  g_autoptr(NatterCache) cache = NULL;
  g_autoptr(GPtrArray) items = NULL;
  g_autofree char *path = g_strdup_printf ("%s/bob.db", f->cache_dir);
  NatterRoom *mine;
  guint failed = 0;

  natter_test_join (alice, "private-talk");
  mine = natter_test_join (bob, "bobs-room");
  g_signal_connect (bob, "message-failed", G_CALLBACK (count_signal), &failed);

  /* A room bob sees in the list but is not in. */
  natter_session_list_rooms_async (bob, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 5000);
  listed = natter_session_list_rooms_finish (bob, result, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < g_list_model_get_n_items (listed); i++)
    {
      g_autoptr(NatterRoom) room = g_list_model_get_item (listed, i);

      if (g_strcmp0 (natter_room_get_name (room), "private-talk") == 0)
        elsewhere = g_object_ref (room);
    }
  g_assert_nonnull (elsewhere);
  g_assert_false (natter_room_get_joined (elsewhere));

  refused = natter_room_send_text (elsewhere, "let me in");
  fine = natter_room_send_text (mine, "after the refused one");
  natter_test_wait_until (natter_message_get_state (refused) == NATTER_MESSAGE_STATE_FAILED, 5000);
  natter_test_wait_until (natter_message_get_state (fine) == NATTER_MESSAGE_STATE_SENT, 5000);
  g_assert_nonnull (natter_message_get_error (refused));
  g_assert_cmpuint (failed, ==, 1);
  g_assert_cmpuint (natter_session_get_pending (bob), ==, 0);

  /* Kept in the outbox until the user decides. */
  cache = natter_cache_open (path, &error);
  g_assert_no_error (error);
  items = natter_cache_outbox_list (cache);
  g_assert_cmpuint (items->len, ==, 1);
  g_assert_true (((NatterOutboxItem *) items->pdata[0])->failed);
  g_clear_pointer (&items, g_ptr_array_unref);

  /* Retry: pending again, refused again. */
  natter_session_retry_message (bob, refused);
  g_assert_cmpint (natter_message_get_state (refused), ==, NATTER_MESSAGE_STATE_PENDING);
  natter_test_wait_until (failed == 2, 5000);
  g_assert_cmpint (natter_message_get_state (refused), ==, NATTER_MESSAGE_STATE_FAILED);

  /* Discard: gone from the outbox. */
  natter_session_discard_message (bob, refused);
  items = natter_cache_outbox_list (cache);
  g_assert_cmpuint (items->len, ==, 0);

  natter_session_stop (alice);
  natter_session_stop (bob);
}

typedef struct
{
  GArray      *delays;
  GSourceFunc  func;
  gpointer     data;
  guint        pending;
  guint        next_id;
} FakeTimer;

static guint
fake_add (guint        delay_ms,
          GSourceFunc  func,
          gpointer     func_data,
          gpointer     user_data)
{
  FakeTimer *t = user_data;

  g_array_append_val (t->delays, delay_ms);
  t->func = func;
  t->data = func_data;
  t->pending = ++t->next_id;
  return t->pending;
}

static void
fake_remove (guint    id,
             gpointer user_data)
{
  FakeTimer *t = user_data;

  if (t->pending == id)
    t->pending = 0;
}

static void
fake_fire (FakeTimer *t)
{
  g_assert_cmpuint (t->pending, !=, 0);
  t->pending = 0;
  t->func (t->data);
}

static void
assert_delay_in_bounds (guint delay,
                        guint attempt)
{
  double base = 1000.0 * (1u << MIN (attempt, 10));

  g_assert_cmpuint (delay, >=, (guint) MIN (base * 0.5, 5000.0));
  g_assert_cmpuint (delay, <=, (guint) MIN (base * 1.5, 5000.0));
}

static void
test_backoff_and_reset (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", NULL, FALSE);
  FakeTimer timer = { g_array_new (FALSE, FALSE, sizeof (guint)), NULL, NULL, 0, 0 };

  _natter_session_set_timer (alice, fake_add, fake_remove, &timer);

  /* The server goes away: each failed attempt waits per the formula. */
  natter_test_server_stop (f->ts);
  for (guint attempt = 0; attempt < 6; attempt++)
    {
      natter_test_wait_until (timer.pending != 0, 5000);
      g_assert_cmpint (natter_session_get_state (alice), ==, NATTER_SESSION_STATE_WAITING_TO_RETRY);
      g_assert_cmpuint (timer.delays->len, ==, attempt + 1);
      assert_delay_in_bounds (g_array_index (timer.delays, guint, attempt), attempt);
      g_assert_cmpint (natter_session_get_retry_at (alice), >, 0);
      fake_fire (&timer);
      g_assert_cmpint (natter_session_get_state (alice), ==, NATTER_SESSION_STATE_CONNECTING);
    }

  /* It comes back: the next attempt succeeds… */
  natter_test_wait_until (timer.pending != 0, 5000);
  natter_test_server_restart (f->ts);
  fake_fire (&timer);
  natter_test_wait_until (natter_session_get_state (alice) == NATTER_SESSION_STATE_ONLINE, 5000);
  g_assert_cmpint (natter_session_get_retry_at (alice), ==, 0);

  /* …and the count starts over: the next failure waits about 1 s again. */
  natter_test_server_stop (f->ts);
  natter_test_wait_until (timer.pending != 0, 5000);
  g_assert_cmpuint (timer.delays->len, ==, 8);
  assert_delay_in_bounds (g_array_index (timer.delays, guint, 7), 0);

  /* retry-now skips the wait. */
  natter_test_server_restart (f->ts);
  {
    gint64 t0 = g_get_monotonic_time ();

    natter_session_retry_now (alice);
    g_assert_cmpuint (timer.pending, ==, 0);
    natter_test_wait_until (natter_session_get_state (alice) == NATTER_SESSION_STATE_ONLINE, 5000);
    g_test_message ("retry-now to online (WebSocket, Engine.IO, CONNECT): %" G_GINT64_FORMAT " us",
                    g_get_monotonic_time () - t0);
  }

  natter_session_stop (alice);
  g_array_unref (timer.delays);
}

static void
test_unauthorized_signs_out (Fixture       *f,
                             gconstpointer  data)
{
  g_autoptr(NatterSession) session = natter_session_new_full (f->ts->url, "alice", NATTER_TOKEN_STORE_MEMORY, ":memory:");
  FakeTimer timer = { g_array_new (FALSE, FALSE, sizeof (guint)), NULL, NULL, 0, 0 };

  _natter_session_set_timer (session, fake_add, fake_remove, &timer);
  _natter_session_set_token (session, "not-a-real-token");
  g_assert_true (natter_session_start (session, NULL));
  natter_test_wait_until (natter_session_get_state (session) == NATTER_SESSION_STATE_SIGNED_OUT, 5000);
  /* No retry: a refused token will not get better by trying again. */
  g_assert_cmpuint (timer.delays->len, ==, 0);
  g_assert_nonnull (natter_session_get_last_error (session));
  natter_session_stop (session);
  g_array_unref (timer.delays);
}

static void
test_history_paging (Fixture       *f,
                     gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) bob = NULL;
  g_autoptr(GPtrArray) truth = NULL;
  g_autoptr(GPtrArray) lines = NULL;
  NatterRoom *room = natter_test_join (alice, "big");
  NatterTimeline *timeline;
  guint rounds = 0;

  for (guint i = 0; i < 260; i++)
    {
      g_autofree char *text = g_strdup_printf ("line %u", i);
      g_autoptr(NatterMessage) m = natter_room_send_text (room, text);
    }
  natter_test_wait_until (natter_session_get_pending (alice) == 0, 20000);

  /* A newcomer gets the newest page at once and the rest on demand. */
  bob = natter_test_session_new (f->ts->url, "bob", f->cache_dir, FALSE);
  room = natter_test_join (bob, "big");
  timeline = natter_room_get_timeline (room);
  natter_test_wait_until (g_list_model_get_n_items (G_LIST_MODEL (timeline)) == 50, 5000);
  g_assert_false (natter_timeline_get_at_start (timeline));

  while (!natter_timeline_get_at_start (timeline))
    {
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GError) error = NULL;

      natter_timeline_load_older_async (timeline, 100, NULL, store_result, &result);
      natter_test_wait_until (result != NULL, 5000);
      g_assert_true (natter_timeline_load_older_finish (timeline, result, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (++rounds, <, 10);
    }
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 260);

  truth = natter_test_server_history (bob, "big");
  lines = natter_test_timeline_lines (timeline);
  g_assert_cmpuint (truth->len, ==, 260);
  g_ptr_array_add (truth, NULL);
  g_ptr_array_add (lines, NULL);
  g_assert_cmpstrv ((const char * const *) lines->pdata, (const char * const *) truth->pdata);

  /* Now the cache has them: a fresh timeline pages without the server. */
  natter_session_stop (bob);
  g_clear_object (&bob);
  natter_session_stop (alice);
}

/* Sends @n messages "@prefix%03u" through @room, iterating between them. */
static void
send_some (NatterRoom *room,
           const char *prefix,
           guint       first,
           guint       n)
{
  for (guint i = first; i < first + n; i++)
    {
      g_autofree char *text = g_strdup_printf ("%s%03u", prefix, i);
      g_autoptr(NatterMessage) m = natter_room_send_text (room, text);

      g_main_context_iteration (NULL, FALSE);
    }
}

/* The server's history is m000…m(N-1), once each, in order, and every
 * timeline shows exactly that. */
static void
assert_exactly_once (NatterSession *reader,
                     const char    *room,
                     guint          n,
                     GPtrArray     *timelines)
{
  g_autoptr(GPtrArray) truth = natter_test_server_history (reader, room);

  g_ptr_array_add (truth, NULL);
  g_assert_cmpuint (truth->len - 1, ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *want = g_strdup_printf ("%u:alice:m%03u", i + 1, i);
      g_assert_cmpstr (g_ptr_array_index (truth, i), ==, want);
    }
  for (guint t = 0; t < timelines->len; t++)
    {
      NatterTimeline *timeline = g_ptr_array_index (timelines, t);
      g_autoptr(GPtrArray) lines = NULL;

      natter_test_wait_until (g_list_model_get_n_items (G_LIST_MODEL (timeline)) >= n, 10000);
      lines = natter_test_timeline_lines (timeline);
      g_ptr_array_add (lines, NULL);
      g_assert_cmpstrv ((const char * const *) lines->pdata, (const char * const *) truth->pdata);
    }
}

static void
test_server_restart_exactly_once (Fixture       *f,
                                  gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) bob = natter_test_session_new (f->ts->url, "bob", f->cache_dir, FALSE);
  g_autoptr(GPtrArray) timelines = g_ptr_array_new ();
  NatterRoom *a_room = natter_test_join (alice, "ops");
  NatterRoom *b_room = natter_test_join (bob, "ops");
  guint acked = 0;
  gint64 t_back, t_online;

  g_ptr_array_add (timelines, natter_room_get_timeline (a_room));
  g_ptr_array_add (timelines, natter_room_get_timeline (b_room));
  g_signal_connect_swapped (alice, "message-acked", G_CALLBACK (count_signal), NULL);
  g_signal_handlers_disconnect_matched (alice, G_SIGNAL_MATCH_FUNC, 0, 0, NULL, count_signal, NULL);
  g_signal_connect (alice, "message-acked", G_CALLBACK (count_signal), &acked);

  /* Mid-send: stop the server while messages are in flight. */
  send_some (a_room, "m", 0, 40);
  natter_test_wait_until (acked >= 10, 10000);
  natter_test_server_stop (f->ts);
  g_test_message ("server stopped with %u of 40 acked", acked);
  send_some (a_room, "m", 40, 20);   /* written to the outbox while down */
  natter_test_wait_until (natter_session_get_state (alice) == NATTER_SESSION_STATE_WAITING_TO_RETRY, 10000);
  natter_test_wait_until (natter_session_get_state (bob) == NATTER_SESSION_STATE_WAITING_TO_RETRY, 10000);
  g_assert_cmpuint (natter_session_get_pending (alice), >, 0);

  natter_test_server_restart (f->ts);
  t_back = g_get_monotonic_time ();
  natter_test_wait_until (natter_session_get_state (alice) == NATTER_SESSION_STATE_ONLINE, 15000);
  t_online = g_get_monotonic_time ();
  g_test_message ("reconnected %" G_GINT64_FORMAT " ms after the server came back",
                  (t_online - t_back) / 1000);
  send_some (a_room, "m", 60, 20);
  natter_test_wait_until (natter_session_get_pending (alice) == 0, 20000);
  natter_test_wait_until (natter_session_get_state (bob) == NATTER_SESSION_STATE_ONLINE, 15000);

  assert_exactly_once (alice, "ops", 80, timelines);
  natter_session_stop (alice);
  natter_session_stop (bob);
}

static void
test_blackhole_heartbeat (Fixture       *f,
                          gconstpointer  data)
{
  NatterTestProxy *proxy = natter_test_proxy_new (f->ts->port);
  g_autofree char *via = g_strdup_printf ("http://127.0.0.1:%u", natter_test_proxy_get_port (proxy));
  g_autoptr(NatterSession) alice = natter_test_session_new (via, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) bob = natter_test_session_new (f->ts->url, "bob", f->cache_dir, FALSE);
  g_autoptr(GPtrArray) timelines = g_ptr_array_new ();
  NatterRoom *a_room = natter_test_join (alice, "ops");
  NatterRoom *b_room = natter_test_join (bob, "ops");
  guint acked = 0;
  guint links;
  gint64 t0;

  /* With a short ack timeout the silent link also makes sends time out
   * (and go again, same cid) before the heartbeat gives up on it. */
  if (GPOINTER_TO_UINT (data) == 1)
    natter_session_set_ack_timeout (alice, 50);

  g_ptr_array_add (timelines, natter_room_get_timeline (a_room));
  g_ptr_array_add (timelines, natter_room_get_timeline (b_room));
  g_signal_connect (alice, "message-acked", G_CALLBACK (count_signal), &acked);

  send_some (a_room, "m", 0, 30);
  natter_test_wait_until (acked >= 5, 10000);
  /* Silence, no FIN, no RST: only the missing pings can tell. */
  links = natter_test_proxy_get_n_links (proxy);
  natter_test_proxy_blackhole (proxy);
  t0 = g_get_monotonic_time ();
  send_some (a_room, "m", 30, 20);
  natter_test_wait_until (natter_session_get_state (alice) != NATTER_SESSION_STATE_ONLINE, 10000);
  g_test_message ("dead link noticed after %" G_GINT64_FORMAT " ms (pingInterval 300 + pingTimeout 200)",
                  (g_get_monotonic_time () - t0) / 1000);
  natter_test_wait_until (natter_session_get_state (alice) == NATTER_SESSION_STATE_ONLINE, 15000);
  g_assert_cmpuint (natter_test_proxy_get_n_links (proxy), >, links);
  natter_test_wait_until (natter_session_get_pending (alice) == 0, 20000);

  assert_exactly_once (bob, "ops", 50, timelines);
  natter_session_stop (alice);
  natter_session_stop (bob);
  g_clear_object (&alice);
  natter_test_proxy_free (proxy);
}

static void
test_catch_up_after_restart (Fixture       *f,
                             gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) bob = natter_test_session_new (f->ts->url, "bob", f->cache_dir, FALSE);
  g_autoptr(GPtrArray) timelines = g_ptr_array_new ();
  NatterRoom *a_room = natter_test_join (alice, "ops");
  NatterRoom *b_room = natter_test_join (bob, "ops");

  send_some (a_room, "m", 0, 10);
  natter_test_wait_until (g_list_model_get_n_items (G_LIST_MODEL (natter_room_get_timeline (b_room))) == 10, 10000);

  /* Bob quits; 450 messages later he comes back with the same cache and
   * pages through what he missed (200 + 200 + 50). */
  natter_session_stop (bob);
  g_clear_object (&bob);
  send_some (a_room, "m", 10, 450);
  natter_test_wait_until (natter_session_get_pending (alice) == 0, 30000);

  bob = natter_test_session_new (f->ts->url, "bob", f->cache_dir, TRUE);
  b_room = natter_session_lookup_room (bob, "ops");
  g_assert_nonnull (b_room);
  natter_test_wait_until (natter_room_get_last_seq (b_room) == 460 &&
                          natter_room_get_unread (b_room) == 460, 10000);
  {
    g_autoptr(NatterCache) cache = NULL;
    g_autofree char *path = g_strdup_printf ("%s/bob.db", f->cache_dir);

    cache = natter_cache_open (path, NULL);
    natter_test_wait_until (natter_cache_count_messages (cache, "ops") == 460, 10000);
  }
  /* The timeline opens with one page; the cache holds the rest. */
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (natter_room_get_timeline (b_room))), ==, 50);
  /* Older pages come from the cache alone: stop the server to prove it. */
  natter_test_server_stop (f->ts);
  while (!natter_timeline_get_at_start (natter_room_get_timeline (b_room)))
    {
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GError) error = NULL;

      natter_timeline_load_older_async (natter_room_get_timeline (b_room), 200, NULL, store_result, &result);
      natter_test_wait_until (result != NULL, 5000);
      g_assert_true (natter_timeline_load_older_finish (natter_room_get_timeline (b_room), result, &error));
      g_assert_no_error (error);
    }
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (natter_room_get_timeline (b_room))), ==, 460);
  natter_test_server_restart (f->ts);
  natter_test_wait_until (natter_session_get_state (alice) == NATTER_SESSION_STATE_ONLINE, 15000);
  g_ptr_array_add (timelines, natter_room_get_timeline (b_room));
  assert_exactly_once (alice, "ops", 460, timelines);
  natter_session_stop (alice);
  natter_session_stop (bob);
}

/* A GNetworkMonitor the test controls: installed as the default before
 * anything asks for one, so "network-changed" can be emitted at will. */
typedef struct { GObject parent_instance; } FakeMonitor;
typedef struct { GObjectClass parent_class; } FakeMonitorClass;

static void fake_monitor_iface_init (GNetworkMonitorInterface *iface) { }
static gboolean fake_monitor_init_sync (GInitable *initable, GCancellable *c, GError **e) { return TRUE; }
static void fake_initable_iface_init (GInitableIface *iface) { iface->init = fake_monitor_init_sync; }

static GType fake_monitor_get_type (void);
G_DEFINE_TYPE_WITH_CODE (FakeMonitor, fake_monitor, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (G_TYPE_INITABLE, fake_initable_iface_init)
                         G_IMPLEMENT_INTERFACE (G_TYPE_NETWORK_MONITOR, fake_monitor_iface_init))

enum { FAKE_PROP_0, FAKE_PROP_AVAILABLE, FAKE_PROP_METERED, FAKE_PROP_CONNECTIVITY };

static void
fake_monitor_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  switch (prop_id)
    {
    case FAKE_PROP_AVAILABLE: g_value_set_boolean (value, TRUE); break;
    case FAKE_PROP_METERED: g_value_set_boolean (value, FALSE); break;
    case FAKE_PROP_CONNECTIVITY: g_value_set_enum (value, G_NETWORK_CONNECTIVITY_FULL); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
fake_monitor_class_init (FakeMonitorClass *klass)
{
  G_OBJECT_CLASS (klass)->get_property = fake_monitor_get_property;
  g_object_class_override_property (G_OBJECT_CLASS (klass), FAKE_PROP_AVAILABLE, "network-available");
  g_object_class_override_property (G_OBJECT_CLASS (klass), FAKE_PROP_METERED, "network-metered");
  g_object_class_override_property (G_OBJECT_CLASS (klass), FAKE_PROP_CONNECTIVITY, "connectivity");
}

static void
fake_monitor_init (FakeMonitor *self)
{
}

static void
new_session (gpointer data)
{
  setsid ();
  /* A test that aborts must not leave its bus behind. */
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

static void
name_acquired (GDBusConnection *connection,
               const char      *name,
               gpointer         user_data)
{
  *(gboolean *) user_data = TRUE;
}

/* The wait is skipped when the network comes back or the machine wakes:
 * with a fake timer that never fires, only those can reconnect. */
static void
test_network_and_resume (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(GSubprocess) daemon = NULL;
  g_autoptr(GDataInputStream) daemon_out = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autofree char *address = NULL;
  g_autofree char *dbus_daemon = g_find_program_in_path ("dbus-daemon");
  gboolean owned = FALSE;
  NatterTestProxy *proxy;
  g_autofree char *via = NULL;
  g_autoptr(GDBusConnection) login1 = NULL;
  g_autoptr(NatterSession) alice = NULL;
  g_autoptr(GError) error = NULL;
  FakeTimer timer = { g_array_new (FALSE, FALSE, sizeof (guint)), NULL, NULL, 0, 0 };
  GNetworkMonitor *monitor = g_network_monitor_get_default ();

  g_assert_true (G_TYPE_CHECK_INSTANCE_TYPE (monitor, fake_monitor_get_type ()));

  if (dbus_daemon == NULL)
    {
      g_test_skip ("dbus-daemon missing");
      return;
    }

  /* A private bus stands in for the system bus, with us as logind. */
  {
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);

    /* Its own session: a signal it sends its process group stays there. */
    g_subprocess_launcher_set_child_setup (launcher, new_session, NULL, NULL);
    daemon = g_subprocess_launcher_spawn (launcher, &error, dbus_daemon,
                                          "--session", "--nofork", "--print-address=1", NULL);
  }
  g_assert_no_error (error);
  daemon_out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (daemon));
  g_data_input_stream_read_line_async (daemon_out, G_PRIORITY_DEFAULT, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 10000);
  address = g_data_input_stream_read_line_finish_utf8 (daemon_out, result, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (address);
  g_setenv ("DBUS_SYSTEM_BUS_ADDRESS", address, TRUE);
  g_unsetenv ("NATTER_NO_SYSTEM_BUS");
  login1 = g_dbus_connection_new_for_address_sync (address,
                                                   G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT |
                                                   G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                   NULL, NULL, &error);
  g_assert_no_error (error);
  g_bus_own_name_on_connection (login1, "org.freedesktop.login1", G_BUS_NAME_OWNER_FLAGS_NONE,
                                name_acquired, NULL, &owned, NULL);
  natter_test_wait_until (owned, 5000);

  proxy = natter_test_proxy_new (f->ts->port);
  via = g_strdup_printf ("http://127.0.0.1:%u", natter_test_proxy_get_port (proxy));
  alice = natter_test_session_new (via, "alice", NULL, FALSE);
  _natter_session_set_timer (alice, fake_add, fake_remove, &timer);

  /* The link breaks; the session waits; the network "comes back". */
  natter_test_proxy_cut (proxy);
  natter_test_wait_until (timer.pending != 0, 5000);
  g_signal_emit_by_name (monitor, "network-changed", TRUE);
  natter_test_wait_until (natter_session_get_state (alice) == NATTER_SESSION_STATE_ONLINE, 5000);
  g_assert_cmpuint (timer.pending, ==, 0);

  /* Broken again; then logind says the machine woke up. */
  natter_test_proxy_cut (proxy);
  natter_test_wait_until (timer.pending != 0, 5000);
  /* The session subscribes asynchronously: say it until it is heard. */
  for (guint i = 0; natter_session_get_state (alice) == NATTER_SESSION_STATE_WAITING_TO_RETRY; i++)
    {
      gint64 until = g_get_monotonic_time () + 200 * 1000;

      g_assert_cmpuint (i, <, 50);
      g_dbus_connection_emit_signal (login1, NULL, "/org/freedesktop/login1",
                                     "org.freedesktop.login1.Manager", "PrepareForSleep",
                                     g_variant_new ("(b)", FALSE), &error);
      g_assert_no_error (error);
      natter_test_wait_until (natter_session_get_state (alice) != NATTER_SESSION_STATE_WAITING_TO_RETRY ||
                              g_get_monotonic_time () > until, 1000);
    }
  natter_test_wait_until (natter_session_get_state (alice) == NATTER_SESSION_STATE_ONLINE, 5000);
  g_assert_cmpuint (timer.pending, ==, 0);
  g_assert_cmpuint (timer.delays->len, ==, 2);

  natter_session_stop (alice);
  g_clear_object (&alice);
  g_clear_object (&login1);
  natter_test_proxy_free (proxy);
  g_subprocess_force_exit (daemon);
  g_unsetenv ("DBUS_SYSTEM_BUS_ADDRESS");
  g_setenv ("NATTER_NO_SYSTEM_BUS", "1", TRUE);
  g_array_unref (timer.delays);
}

static void
on_term (int        sig,
         siginfo_t *info,
         void      *context)
{
  char path[64], cmd[256] = "";
  int fd;
  ssize_t n;

  snprintf (path, sizeof path, "/proc/%d/cmdline", (int) info->si_pid);
  fd = open (path, O_RDONLY);
  if (fd >= 0)
    {
      n = read (fd, cmd, sizeof cmd - 1);
      close (fd);
      for (ssize_t i = 0; i < n; i++)
        if (cmd[i] == '\0')
          cmd[i] = ' ';
    }
  fprintf (stderr, "SIGTERM from pid %d (%s), we are %d\n", (int) info->si_pid, cmd, (int) getpid ());
  _exit (143);
}

int
main (int   argc,
      char *argv[])
{
  struct sigaction sa = { 0 };

  sa.sa_sigaction = on_term;
  sa.sa_flags = SA_SIGINFO;
  sigaction (SIGTERM, &sa, NULL);
  g_test_init (&argc, &argv, NULL);
  g_setenv ("NATTER_NO_SYSTEM_BUS", "1", TRUE);
  /* Asking for any GIO default registers the extension points (and picks
   * no network monitor yet). No GIO modules, no gvfs: nothing here may
   * autolaunch a session bus. */
  g_setenv ("GIO_USE_VFS", "local", TRUE);
  g_setenv ("GIO_MODULE_DIR", "/nonexistent", TRUE);
  g_vfs_get_default ();
  g_io_extension_point_implement (G_NETWORK_MONITOR_EXTENSION_POINT_NAME,
                                  fake_monitor_get_type (), "natter-test-fake", 10000);

  g_test_add ("/client/session/basic", Fixture, NULL, setup, test_basic, teardown);
  g_test_add ("/client/session/refused", Fixture, NULL, setup, test_refused_message, teardown);
  g_test_add ("/client/session/sign-in-errors", Fixture, NULL, setup, test_sign_in_errors, teardown);
  g_test_add ("/client/session/unauthorized", Fixture, NULL, setup, test_unauthorized_signs_out, teardown);
  g_test_add ("/client/session/backoff", Fixture, NULL, setup, test_backoff_and_reset, teardown);
  g_test_add ("/client/session/history-paging", Fixture, NULL, setup, test_history_paging, teardown);
  g_test_add ("/client/session/catch-up", Fixture, NULL, setup, test_catch_up_after_restart, teardown);
  g_test_add ("/client/session/server-restart", Fixture, NULL, setup, test_server_restart_exactly_once, teardown);
  g_test_add ("/client/session/blackhole", Fixture, NULL, setup_fast_ping, test_blackhole_heartbeat, teardown);
  g_test_add ("/client/session/blackhole-ack-timeout", Fixture, GUINT_TO_POINTER (1), setup_fast_ping, test_blackhole_heartbeat, teardown);
  g_test_add ("/client/session/network-and-resume", Fixture, NULL, setup, test_network_and_resume, teardown);
  return g_test_run ();
}
