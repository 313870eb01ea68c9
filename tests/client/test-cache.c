/* test-cache.c: the SQLite cache, the outbox and the timeline paged from
 * the cache, without any server. */
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "natter-client-private.h"
#include "natter-test-util.h"

typedef struct
{
  char *dir;
  char *path;
} Fixture;

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  f->dir = natter_test_mkdtemp ();
  f->path = g_build_filename (f->dir, "sub", "cache.db", NULL);
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  natter_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->path);
}

static NatterChatMessage *
make_message (const char *room,
              gint64      seq,
              const char *from,
              const char *text)
{
  NatterChatMessage *m = natter_chat_message_new ();

  m->room = g_strdup (room);
  m->seq = seq;
  m->ts = 1700000000000 + seq;
  m->from = g_strdup (from);
  m->cid = g_uuid_string_random ();
  m->text = g_strdup (text);
  return m;
}

static void
fill_room (NatterCache *cache,
           const char  *room,
           gint64       first,
           gint64       last,
           const char  *me)
{
  g_autoptr(GPtrArray) batch = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_chat_message_free);
  g_autoptr(GError) error = NULL;

  for (gint64 seq = first; seq <= last; seq++)
    {
      g_autofree char *text = g_strdup_printf ("message %" G_GINT64_FORMAT "%s", seq,
                                               seq % 100 == 0 ? " hey @me" : "");
      g_ptr_array_add (batch, make_message (room, seq, seq % 2 ? "alice" : "bob", text));
      if (batch->len == 500 || seq == last)
        {
          g_assert_true (natter_cache_insert_messages (cache, batch, me, NULL, &error));
          g_assert_no_error (error);
          g_ptr_array_set_size (batch, 0);
        }
    }
}

static void
test_schema (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  NatterCache *cache = natter_cache_open (f->path, &error);

  g_assert_no_error (error);
  g_assert_cmpint (natter_cache_get_schema_version (cache), ==, NATTER_CACHE_SCHEMA_VERSION);
  natter_cache_put_room (cache, "general", "Talk", TRUE, 5, 3);
  natter_cache_free (cache);

  /* Reopening migrates nothing twice and keeps the data. */
  cache = natter_cache_open (f->path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (natter_cache_get_schema_version (cache), ==, NATTER_CACHE_SCHEMA_VERSION);
  {
    g_autoptr(NatterCacheRoom) room = natter_cache_get_room (cache, "general");
    g_assert_nonnull (room);
    g_assert_cmpstr (room->topic, ==, "Talk");
    g_assert_cmpint (room->last_seq, ==, 5);
  }
  natter_cache_free (cache);
}

static void
test_newer_schema_refused (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  NatterCache *cache = natter_cache_open (f->path, &error);

  g_assert_no_error (error);
  natter_cache_free (cache);
  {
    /* Pretend a newer Natter wrote it. */
    sqlite3 *db;
    g_assert_cmpint (sqlite3_open (f->path, &db), ==, SQLITE_OK);
    g_assert_cmpint (sqlite3_exec (db, "PRAGMA user_version = 99", NULL, NULL, NULL), ==, SQLITE_OK);
    sqlite3_close (db);
  }
  cache = natter_cache_open (f->path, &error);
  g_assert_null (cache);
  g_assert_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_CACHE);
}

/* A batch in one transaction tells which of its messages were new: the
 * session counts and announces only those. */
static void
test_insert_batch_flags (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(NatterCache) cache = natter_cache_open (":memory:", NULL);
  g_autoptr(GPtrArray) batch = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_chat_message_free);
  g_autoptr(GError) error = NULL;
  gboolean is_new[4] = { FALSE, FALSE, FALSE, FALSE };

  natter_cache_put_room (cache, "r", "", TRUE, 0, 0);
  fill_room (cache, "r", 1, 2, "me");
  g_ptr_array_add (batch, make_message ("r", 2, "bob", "seen before"));
  g_ptr_array_add (batch, make_message ("r", 3, "bob", "new"));
  g_ptr_array_add (batch, make_message ("r", 3, "bob", "the same seq again"));
  g_ptr_array_add (batch, make_message ("r", 4, "alice", "new too"));

  g_assert_true (natter_cache_insert_messages_full (cache, batch, "me", is_new, &error));
  g_assert_no_error (error);
  g_assert_false (is_new[0]);
  g_assert_true (is_new[1]);
  g_assert_false (is_new[2]);
  g_assert_true (is_new[3]);
  g_assert_cmpuint (natter_cache_count_messages (cache, "r"), ==, 4);
  g_assert_cmpint (natter_cache_contiguous_from (cache, "r", 0), ==, 4);
}

static void
test_messages (Fixture       *f,
               gconstpointer  data)
{
  g_autoptr(NatterCache) cache = natter_cache_open (":memory:", NULL);
  g_autoptr(GPtrArray) page = NULL;
  g_autoptr(NatterChatMessage) again = make_message ("r", 3, "bob", "changed?");
  gboolean is_new = TRUE;
  guint unread, mentions;

  natter_cache_put_room (cache, "r", "", TRUE, 0, 0);
  fill_room (cache, "r", 1, 10, "me");
  fill_room (cache, "r", 20, 30, "me");

  /* The same (room, seq) twice changes nothing. */
  g_assert_true (natter_cache_insert_message (cache, again, "me", &is_new));
  g_assert_false (is_new);
  g_assert_cmpuint (natter_cache_count_messages (cache, "r"), ==, 21);

  page = natter_cache_messages_before (cache, "r", G_MAXINT64, 5);
  g_assert_cmpuint (page->len, ==, 5);
  g_assert_cmpint (((NatterChatMessage *) page->pdata[0])->seq, ==, 26);
  g_assert_cmpint (((NatterChatMessage *) page->pdata[4])->seq, ==, 30);
  g_clear_pointer (&page, g_ptr_array_unref);
  page = natter_cache_messages_before (cache, "r", 3, 50);
  g_assert_cmpuint (page->len, ==, 2);
  g_assert_cmpstr (((NatterChatMessage *) page->pdata[0])->text, ==, "message 1");

  g_assert_cmpint (natter_cache_contiguous_from (cache, "r", 0), ==, 10);
  g_assert_cmpint (natter_cache_contiguous_from (cache, "r", 19), ==, 30);
  g_assert_cmpint (natter_cache_contiguous_from (cache, "r", 12), ==, 12);
  g_assert_cmpint (natter_cache_max_seq (cache, "r"), ==, 30);

  /* Unread: others' messages after the read position; mentions of @me. */
  natter_cache_count_unread (cache, "r", 0, "bob", &unread, &mentions);
  g_assert_cmpuint (unread, ==, 10); /* alice has the odd seqs: 1..9 and 21..29 */
  natter_cache_count_unread (cache, "r", 25, "me", &unread, &mentions);
  g_assert_cmpuint (unread, ==, 5);
  g_assert_cmpuint (mentions, ==, 0);
}

static void
test_contiguous_long (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(NatterCache) cache = natter_cache_open (":memory:", NULL);

  fill_room (cache, "r", 1, 1000, "me");
  fill_room (cache, "r", 1002, 1100, "me");
  /* Crosses several 256-row pages and stops at the gap. */
  g_assert_cmpint (natter_cache_contiguous_from (cache, "r", 0), ==, 1000);
  g_assert_cmpint (natter_cache_contiguous_from (cache, "r", 1001), ==, 1100);
}

static void
test_outbox (Fixture       *f,
             gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  NatterCache *cache = natter_cache_open (f->path, &error);
  g_autoptr(GPtrArray) items = NULL;
  gint64 a, b, c;

  a = natter_cache_outbox_add (cache, "r", "cid-a", "one", 1, &error);
  b = natter_cache_outbox_add (cache, "r", "cid-b", "two", 2, &error);
  c = natter_cache_outbox_add (cache, "s", "cid-c", "three", 3, &error);
  g_assert_no_error (error);
  g_assert_cmpint (a, <, b);
  g_assert_cmpint (b, <, c);

  /* A cid is unique. */
  g_assert_cmpint (natter_cache_outbox_add (cache, "r", "cid-a", "dup", 4, &error), ==, 0);
  g_assert_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_CACHE);
  g_clear_error (&error);

  natter_cache_outbox_set_failed (cache, b, TRUE, "too large");
  natter_cache_free (cache);

  /* Survives a restart, in order, with its failure. */
  cache = natter_cache_open (f->path, &error);
  items = natter_cache_outbox_list (cache);
  g_assert_cmpuint (items->len, ==, 3);
  g_assert_cmpstr (((NatterOutboxItem *) items->pdata[0])->cid, ==, "cid-a");
  g_assert_false (((NatterOutboxItem *) items->pdata[0])->failed);
  g_assert_true (((NatterOutboxItem *) items->pdata[1])->failed);
  g_assert_cmpstr (((NatterOutboxItem *) items->pdata[1])->error, ==, "too large");
  g_assert_cmpstr (((NatterOutboxItem *) items->pdata[2])->text, ==, "three");
  g_clear_pointer (&items, g_ptr_array_unref);

  natter_cache_outbox_remove (cache, a);
  items = natter_cache_outbox_list (cache);
  g_assert_cmpuint (items->len, ==, 2);
  g_assert_cmpstr (((NatterOutboxItem *) items->pdata[0])->cid, ==, "cid-b");
  natter_cache_free (cache);
}

/* A session that can never connect (nothing listens on its port): the
 * cache alone must show rooms, messages and the outbox. */
static NatterSession *
offline_session (const char *path)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  NatterSession *session;
  guint16 port;

  /* A port that was free a moment ago and is closed now. */
  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  g_socket_listener_close (listener);
  url = g_strdup_printf ("http://127.0.0.1:%u", port);

  session = natter_session_new_full (url, "me", NATTER_TOKEN_STORE_MEMORY, path);
  _natter_session_set_token (session, "no-such-token");
  return session;
}

static void
test_offline_start (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  NatterCache *cache = natter_cache_open (f->path, &error);
  g_autoptr(NatterSession) session = NULL;
  NatterRoom *room;
  NatterTimeline *timeline;
  g_autoptr(NatterMessage) last = NULL;
  g_autoptr(NatterMessage) pending = NULL;

  natter_cache_put_room (cache, "general", "Talk here", TRUE, 40, 2);
  natter_cache_put_room (cache, "@bob+me", "", TRUE, 0, 2);
  natter_cache_put_room (cache, "old", "", FALSE, 0, 0);
  fill_room (cache, "general", 1, 40, "me");
  natter_cache_set_synced_seq (cache, "general", 40);
  natter_cache_set_read_seq (cache, "general", 30);
  natter_cache_outbox_add (cache, "general", "cid-1", "queued while away", 5, &error);
  natter_cache_free (cache);

  session = offline_session (f->path);
  g_assert_true (natter_session_start (session, &error));
  g_assert_no_error (error);

  /* At once, before any network answer. */
  g_assert_cmpuint (g_list_model_get_n_items (natter_session_get_rooms (session)), ==, 2);
  room = natter_session_lookup_room (session, "general");
  g_assert_nonnull (room);
  g_assert_cmpstr (natter_room_get_topic (room), ==, "Talk here");
  g_assert_cmpuint (natter_room_get_unread (room), ==, 10);  /* 31..40, all from others */
  g_assert_cmpuint (natter_room_get_mentions (room), ==, 0);
  g_assert_cmpuint (natter_session_get_pending (session), ==, 1);
  g_assert_cmpstr (natter_room_get_display_name (natter_session_lookup_room (session, "@bob+me")), ==, "bob");
  g_assert_true (natter_room_get_is_dm (natter_session_lookup_room (session, "@bob+me")));
  g_assert_null (natter_session_lookup_room (session, "old"));

  timeline = natter_room_get_timeline (room);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 41);
  last = g_list_model_get_item (G_LIST_MODEL (timeline), 39);
  g_assert_cmpint (natter_message_get_seq (last), ==, 40);
  pending = g_list_model_get_item (G_LIST_MODEL (timeline), 40);
  g_assert_cmpint (natter_message_get_state (pending), ==, NATTER_MESSAGE_STATE_PENDING);
  g_assert_cmpstr (natter_message_get_text (pending), ==, "queued while away");
  g_assert_true (natter_timeline_get_at_start (timeline));

  /* Marking read clears the counts and survives a restart. */
  natter_room_mark_read (room);
  g_assert_cmpuint (natter_room_get_unread (room), ==, 0);

  /* Offline: the session waits to retry instead of giving up. */
  natter_test_wait_until (natter_session_get_state (session) == NATTER_SESSION_STATE_WAITING_TO_RETRY, 5000);
  g_assert_cmpint (natter_session_get_retry_at (session), >, g_get_monotonic_time ());
  g_assert_nonnull (natter_session_get_last_error (session));

  natter_session_stop (session);
  g_assert_finalize_object (g_steal_pointer (&session));

  session = offline_session (f->path);
  g_assert_null (natter_session_get_last_room (session));
  g_assert_true (natter_session_start (session, NULL));
  g_assert_cmpuint (natter_room_get_unread (natter_session_lookup_room (session, "general")), ==, 0);
  g_assert_true (natter_session_get_last_room (session) == natter_session_lookup_room (session, "general"));
  natter_session_stop (session);
}

static void
test_send_offline_goes_to_outbox (Fixture       *f,
                                  gconstpointer  data)
{
  g_autoptr(NatterSession) session = offline_session (f->path);
  g_autoptr(NatterMessage) message = NULL;
  g_autoptr(NatterMessage) too_long = NULL;
  g_autoptr(NatterCache) cache = NULL;
  g_autoptr(GPtrArray) items = NULL;
  g_autofree char *huge = g_strnfill (NATTER_CHAT_MAX_TEXT_BYTES + 1, 'x');
  NatterRoom *room;
  NatterTimeline *timeline;
  g_autoptr(GError) error = NULL;

  cache = natter_cache_open (f->path, &error);
  natter_cache_put_room (cache, "general", "", TRUE, 0, 0);
  g_clear_pointer (&cache, natter_cache_free);

  g_assert_true (natter_session_start (session, NULL));
  room = natter_session_lookup_room (session, "general");
  timeline = natter_room_get_timeline (room);
  message = natter_room_send_text (room, "hello");
  g_assert_cmpint (natter_message_get_state (message), ==, NATTER_MESSAGE_STATE_PENDING);
  g_assert_true (g_uuid_string_is_valid (natter_message_get_cid (message)));
  g_assert_cmpuint (natter_session_get_pending (session), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 1);

  /* Refused before it goes anywhere, but kept and visible. */
  too_long = natter_room_send_text (room, huge);
  g_assert_cmpint (natter_message_get_state (too_long), ==, NATTER_MESSAGE_STATE_FAILED);
  g_assert_nonnull (natter_message_get_error (too_long));
  g_assert_cmpuint (natter_session_get_pending (session), ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 2);

  /* It is on disk already: the outbox is written before any send. */
  cache = natter_cache_open (f->path, &error);
  items = natter_cache_outbox_list (cache);
  g_assert_cmpuint (items->len, ==, 2);
  g_assert_cmpstr (((NatterOutboxItem *) items->pdata[0])->cid, ==, natter_message_get_cid (message));
  g_assert_true (((NatterOutboxItem *) items->pdata[1])->failed);
  g_clear_pointer (&items, g_ptr_array_unref);

  natter_session_discard_message (session, too_long);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 1);
  items = natter_cache_outbox_list (cache);
  g_assert_cmpuint (items->len, ==, 1);
  natter_session_stop (session);
}

static void
load_older_done (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (natter_timeline_load_older_finish (NATTER_TIMELINE (object), result, &error));
  g_assert_no_error (error);
  (*(guint *) user_data)++;
}

/* Resident set size in KiB (Linux), 0 elsewhere: for the cost report. */
static gint64
rss_kib (void)
{
  g_autofree char *status = NULL;
  const char *line;

  if (!g_file_get_contents ("/proc/self/status", &status, NULL, NULL))
    return 0;
  line = strstr (status, "VmRSS:");
  return line != NULL ? g_ascii_strtoll (line + 6, NULL, 10) : 0;
}

static void
test_timeline_paging_100k (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  NatterCache *cache = natter_cache_open (f->path, &error);
  g_autoptr(NatterSession) session = NULL;
  NatterTimeline *timeline;
  gint64 t0, t_open, rss0;
  guint done = 0;
  g_autoptr(NatterMessage) first = NULL;
  GStatBuf st;

  natter_cache_put_room (cache, "big", "", TRUE, 100000, 2);
  fill_room (cache, "big", 1, 99800, "me");
  {
    /* One catch-up page, the biggest unit of cache work on the main loop. */
    gint64 t = g_get_monotonic_time ();

    fill_room (cache, "big", 99801, 100000, "me");
    g_test_message ("one page of 200 messages written in %" G_GINT64_FORMAT " us",
                    g_get_monotonic_time () - t);
  }
  natter_cache_set_synced_seq (cache, "big", 100000);
  natter_cache_free (cache);
  g_assert_cmpint (g_stat (f->path, &st), ==, 0);
  g_test_message ("cache of 100,000 messages: %" G_GINT64_FORMAT " bytes on disk", (gint64) st.st_size);

  session = offline_session (f->path);
  rss0 = rss_kib ();
  t0 = g_get_monotonic_time ();
  g_assert_true (natter_session_start (session, NULL));
  timeline = natter_room_get_timeline (natter_session_lookup_room (session, "big"));
  t_open = g_get_monotonic_time () - t0;
  g_test_message ("opened a room of 100,000 messages in %" G_GINT64_FORMAT " us;"
                  " resident memory +%" G_GINT64_FORMAT " KiB", t_open, rss_kib () - rss0);

  /* A page, not the room. */
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 50);
  g_assert_false (natter_timeline_get_at_start (timeline));
  /* Bounded work: the count stops at NATTER_CACHE_MAX_UNREAD. */
  g_assert_cmpuint (natter_room_get_unread (natter_session_lookup_room (session, "big")), ==, NATTER_CACHE_MAX_UNREAD);

  natter_timeline_load_older_async (timeline, 200, NULL, load_older_done, &done);
  natter_test_wait_until (done == 1, 5000);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 250);
  first = g_list_model_get_item (G_LIST_MODEL (timeline), 0);
  g_assert_cmpint (natter_message_get_seq (first), ==, 100000 - 249);

  natter_timeline_trim (timeline, 50);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (timeline)), ==, 50);
  natter_session_stop (session);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_setenv ("NATTER_NO_SYSTEM_BUS", "1", TRUE);

  g_test_add ("/client/cache/schema", Fixture, NULL, setup, test_schema, teardown);
  g_test_add ("/client/cache/newer-schema", Fixture, NULL, setup, test_newer_schema_refused, teardown);
  g_test_add ("/client/cache/messages", Fixture, NULL, setup, test_messages, teardown);
  g_test_add ("/client/cache/insert-batch", Fixture, NULL, setup, test_insert_batch_flags, teardown);
  g_test_add ("/client/cache/contiguous", Fixture, NULL, setup, test_contiguous_long, teardown);
  g_test_add ("/client/cache/outbox", Fixture, NULL, setup, test_outbox, teardown);
  g_test_add ("/client/cache/offline-start", Fixture, NULL, setup, test_offline_start, teardown);
  g_test_add ("/client/cache/send-offline", Fixture, NULL, setup, test_send_offline_goes_to_outbox, teardown);
  g_test_add ("/client/cache/timeline-100k", Fixture, NULL, setup, test_timeline_paging_100k, teardown);
  return g_test_run ();
}
