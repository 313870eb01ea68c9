/* test-transfer.c: NatterTransfer against an in-process natter-server:
 * an upload with progress whose file message reaches the other client
 * exactly once, a cached download, an upload that survives a server
 * restart by resuming at the server's offset, one started offline, pause
 * and resume, and a refusal with its reason; and uploads that outlive the
 * client: running, queued offline, paused, or sent just before it went,
 * each resumed or finished once by the next session on the same cache. */
#include <glib/gstdio.h>

#if __has_include(<gdk-pixbuf/gdk-pixbuf.h>)
#include <gdk-pixbuf/gdk-pixbuf.h>
#define HAVE_THUMBNAILS 1
#endif

#include "natter-client-private.h"
#include "natter-test-util.h"

#define MiB (1024 * 1024)

typedef struct
{
  NatterTestServer *ts;
  char             *cache_dir;
  char             *files_dir;
} Fixture;

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  f->ts = natter_test_server_new (0, 0);
  f->cache_dir = natter_test_mkdtemp ();
  f->files_dir = natter_test_mkdtemp ();
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  natter_test_server_free (f->ts);
  natter_test_rm_rf (f->cache_dir);
  natter_test_rm_rf (f->files_dir);
  g_free (f->cache_dir);
  g_free (f->files_dir);
}

/* Messages in @room's timeline that carry the file @file_id. */
static guint
count_file_messages (NatterRoom *room,
                     const char *file_id)
{
  GListModel *timeline = G_LIST_MODEL (natter_room_get_timeline (room));
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (timeline); i++)
    {
      g_autoptr(NatterMessage) message = g_list_model_get_item (timeline, i);

      if (g_strcmp0 (natter_message_get_file_id (message), file_id) == 0)
        n++;
    }
  return n;
}

/* Lines of the server's history that carry @text. */
static guint
count_server_lines (NatterSession *session,
                    const char    *room,
                    const char    *text)
{
  g_autoptr(GPtrArray) lines = natter_test_server_history (session, room);
  g_autofree char *suffix = g_strconcat (":", text, NULL);
  guint n = 0;

  for (guint i = 0; i < lines->len; i++)
    if (g_str_has_suffix (g_ptr_array_index (lines, i), suffix))
      n++;
  return n;
}

typedef struct
{
  guint  notifies;
  gint64 last;
  gboolean backwards;
  double max_rate;
} Progress;

static void
on_bytes (NatterTransfer *transfer,
          GParamSpec     *pspec,
          Progress       *progress)
{
  gint64 bytes = natter_transfer_get_bytes (transfer);

  if (bytes < progress->last)
    progress->backwards = TRUE;
  progress->last = bytes;
  progress->notifies++;
  progress->max_rate = MAX (progress->max_rate, natter_transfer_get_rate (transfer));
}

static gboolean
is_done (NatterTransfer *transfer)
{
  NatterTransferState state = natter_transfer_get_state (transfer);

  if (state == NATTER_TRANSFER_STATE_FAILED)
    g_error ("transfer failed: %s", natter_transfer_get_error (transfer));
  return state == NATTER_TRANSFER_STATE_DONE;
}

static void
test_upload_download (Fixture       *f,
                      gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) bob = natter_test_session_new (f->ts->url, "bob", f->cache_dir, FALSE);
  NatterRoom *a_room = natter_test_join (alice, "files");
  NatterRoom *b_room = natter_test_join (bob, "files");
  g_autofree char *sha = NULL;
  g_autoptr(GFile) file = natter_test_make_file (f->files_dir, "report.bin", 20 * MiB + 3, &sha);
  g_autoptr(NatterTransfer) up = natter_transfer_new_upload (alice, a_room, file, "the report");
  g_autoptr(NatterTransfer) down = NULL;
  g_autoptr(NatterTransfer) again = NULL;
  g_autofree char *got_sha = NULL;
  Progress progress = { 0, };
  NatterMessage *received = NULL;
  GListModel *b_timeline = G_LIST_MODEL (natter_room_get_timeline (b_room));

  g_assert_cmpint (natter_transfer_get_total (up), ==, 20 * MiB + 3);
  g_assert_cmpstr (natter_transfer_get_file_name (up), ==, "report.bin");
  g_signal_connect (up, "notify::bytes", G_CALLBACK (on_bytes), &progress);
  natter_transfer_start (up);
  natter_test_wait_until (is_done (up), 30000);

  /* Progress came in steps, forward only, to the whole file. */
  g_assert_cmpuint (progress.notifies, >, 10);
  g_assert_false (progress.backwards);
  g_assert_cmpint (natter_transfer_get_bytes (up), ==, 20 * MiB + 3);
  g_assert_cmpfloat (progress.max_rate, >, 0);
  g_assert_nonnull (natter_transfer_get_file_id (up));
  g_assert_nonnull (natter_transfer_get_message (up));

  /* The message goes out through the outbox and reaches Bob once. */
  natter_test_wait_until (natter_session_get_pending (alice) == 0, 10000);
  natter_test_wait_until (count_file_messages (b_room, natter_transfer_get_file_id (up)) > 0, 10000);
  g_assert_cmpuint (count_file_messages (b_room, natter_transfer_get_file_id (up)), ==, 1);
  g_assert_cmpuint (count_server_lines (alice, "files", "the report"), ==, 1);

  for (guint i = 0; i < g_list_model_get_n_items (b_timeline) && received == NULL; i++)
    {
      g_autoptr(NatterMessage) message = g_list_model_get_item (b_timeline, i);

      if (g_strcmp0 (natter_message_get_file_id (message), natter_transfer_get_file_id (up)) == 0)
        received = message;
    }
  g_assert_nonnull (received);
  g_assert_cmpstr (natter_message_get_file_name (received), ==, "report.bin");
  g_assert_cmpint (natter_message_get_file_size (received), ==, 20 * MiB + 3);

  /* Bob downloads it into the cache, with progress. */
  down = natter_transfer_new_download (bob, received, NULL);
  progress = (Progress) { 0, };
  g_signal_connect (down, "notify::bytes", G_CALLBACK (on_bytes), &progress);
  natter_transfer_start (down);
  natter_test_wait_until (is_done (down), 30000);
  g_assert_cmpuint (progress.notifies, >, 10);
  g_assert_false (progress.backwards);
  got_sha = natter_test_file_sha256 (g_file_peek_path (natter_transfer_get_file (down)));
  g_assert_cmpstr (got_sha, ==, sha);

  /* A second download of the same id is served by the cache at once. */
  again = natter_transfer_new_download (bob, received, NULL);
  natter_transfer_start (again);
  g_assert_cmpint (natter_transfer_get_state (again), ==, NATTER_TRANSFER_STATE_DONE);
  g_assert_true (g_file_equal (natter_transfer_get_file (again), natter_transfer_get_file (down)));

  natter_session_stop (alice);
  natter_session_stop (bob);
}

static void
test_resume_after_restart (Fixture       *f,
                           gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) bob = natter_test_session_new (f->ts->url, "bob", f->cache_dir, FALSE);
  NatterRoom *a_room = natter_test_join (alice, "files");
  NatterRoom *b_room = natter_test_join (bob, "files");
  g_autofree char *sha = NULL;
  g_autoptr(GFile) file = natter_test_make_file (f->files_dir, "big.bin", 96 * MiB, &sha);
  g_autoptr(NatterTransfer) up = natter_transfer_new_upload (alice, a_room, file, "big one");
  g_autoptr(NatterTransfer) down = NULL;
  g_autofree char *got_sha = NULL;
  gint64 resumed_at;

  natter_transfer_start (up);
  natter_test_wait_until (natter_transfer_get_bytes (up) >= 16 * MiB, 30000);
  g_assert_cmpint (natter_transfer_get_state (up), ==, NATTER_TRANSFER_STATE_RUNNING);

  natter_test_server_stop (f->ts);
  natter_test_wait_until (natter_transfer_get_state (up) == NATTER_TRANSFER_STATE_QUEUED, 10000);
  natter_test_server_restart (f->ts);
  natter_test_wait_until (is_done (up), 60000);

  /* It went on from what the server had, not from zero. */
  resumed_at = natter_transfer_get_resumed_at (up);
  g_test_message ("resumed at %" G_GINT64_FORMAT " of %d", resumed_at, 96 * MiB);
  g_assert_cmpint (resumed_at, >, 0);
  g_assert_cmpint (resumed_at, <, 96 * MiB);

  natter_test_wait_until (natter_session_get_pending (alice) == 0, 20000);
  natter_test_wait_until (count_file_messages (b_room, natter_transfer_get_file_id (up)) > 0, 20000);
  g_assert_cmpuint (count_file_messages (b_room, natter_transfer_get_file_id (up)), ==, 1);
  g_assert_cmpuint (count_server_lines (alice, "files", "big one"), ==, 1);

  down = natter_transfer_new_download_id (bob, natter_transfer_get_file_id (up), "big.bin", NULL);
  natter_transfer_start (down);
  natter_test_wait_until (is_done (down), 60000);
  got_sha = natter_test_file_sha256 (g_file_peek_path (natter_transfer_get_file (down)));
  g_assert_cmpstr (got_sha, ==, sha);

  natter_session_stop (alice);
  natter_session_stop (bob);
}

/* The client goes away mid-upload (its session freed, as when the app
 * quits): a new session on the same cache finds the upload, resumes it
 * from the server's offset and sends its message once. A finished
 * download is not fetched again by the new session either. */
static void
test_resume_after_client_restart (Fixture       *f,
                                  gconstpointer  data)
{
  NatterSession *alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) alice2 = NULL;
  g_autoptr(NatterSession) bob = natter_test_session_new (f->ts->url, "bob", f->cache_dir, FALSE);
  g_autoptr(NatterSession) bob2 = NULL;
  NatterRoom *b_room = natter_test_join (bob, "files");
  g_autofree char *sha = NULL;
  g_autoptr(GFile) file = NULL;
  NatterTransfer *up;
  g_autoptr(NatterTransfer) restored = NULL;
  g_autoptr(NatterTransfer) down = NULL;
  g_autoptr(NatterTransfer) again = NULL;
  g_autoptr(GPtrArray) rows = NULL;
  g_autofree char *got_sha = NULL;
  g_autofree char *file_id = NULL;
  gint64 total = 64 * MiB + 5, resumed_at;

  natter_test_join (alice, "files");
  file = natter_test_make_file (f->files_dir, "restart.bin", total, &sha);
  up = natter_transfer_new_upload (alice, natter_session_lookup_room (alice, "files"), file,
                                   "after the restart");
  natter_transfer_start (up);
  g_assert_cmpuint (g_list_model_get_n_items (natter_session_get_transfers (alice)), ==, 1);
  natter_test_wait_until (natter_transfer_get_bytes (up) >= 8 * MiB, 30000);
  g_assert_cmpint (natter_transfer_get_state (up), ==, NATTER_TRANSFER_STATE_RUNNING);

  /* The session goes first, then the app's reference: the upload stops
   * moving bytes and stays in the cache. */
  natter_session_stop (alice);
  g_object_add_weak_pointer (G_OBJECT (alice), (gpointer *) &alice);
  g_object_unref (alice);
  natter_test_wait_until (alice == NULL, 10000);
  g_assert_cmpint (natter_transfer_get_state (up), ==, NATTER_TRANSFER_STATE_PAUSED);
  /* Its cancelled operations let go of it as they finish. */
  g_object_add_weak_pointer (G_OBJECT (up), (gpointer *) &up);
  g_object_unref (up);
  natter_test_wait_until (up == NULL, 10000);

  alice2 = natter_test_session_new (f->ts->url, "alice", f->cache_dir, TRUE);
  g_assert_cmpuint (g_list_model_get_n_items (natter_session_get_transfers (alice2)), ==, 1);
  restored = g_list_model_get_item (natter_session_get_transfers (alice2), 0);
  g_assert_cmpstr (natter_transfer_get_file_name (restored), ==, "restart.bin");
  g_assert_cmpint (natter_transfer_get_total (restored), ==, total);
  natter_test_wait_until (is_done (restored), 60000);

  /* Only what the server lacked went again. */
  resumed_at = natter_transfer_get_resumed_at (restored);
  g_test_message ("resumed at %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT, resumed_at, total);
  g_assert_cmpint (resumed_at, >=, 8 * MiB);
  g_assert_cmpint (resumed_at, <, total);
  g_assert_cmpuint (g_list_model_get_n_items (natter_session_get_transfers (alice2)), ==, 0);
  rows = natter_cache_list_uploads (_natter_session_get_cache (alice2));
  g_assert_cmpuint (rows->len, ==, 0);

  /* Sent once, and intact. */
  file_id = g_strdup (natter_transfer_get_file_id (restored));
  natter_test_wait_until (natter_session_get_pending (alice2) == 0, 20000);
  natter_test_wait_until (count_file_messages (b_room, file_id) > 0, 20000);
  g_assert_cmpuint (count_file_messages (b_room, file_id), ==, 1);
  g_assert_cmpuint (count_server_lines (alice2, "files", "after the restart"), ==, 1);

  down = natter_transfer_new_download_id (bob, file_id, "restart.bin", NULL);
  natter_transfer_start (down);
  natter_test_wait_until (is_done (down), 60000);
  got_sha = natter_test_file_sha256 (g_file_peek_path (natter_transfer_get_file (down)));
  g_assert_cmpstr (got_sha, ==, sha);

  /* Bob restarts too: the finished download is found, not fetched. */
  natter_session_stop (bob);
  g_clear_object (&bob);
  bob2 = natter_test_session_new (f->ts->url, "bob", f->cache_dir, TRUE);
  again = natter_transfer_new_download_id (bob2, file_id, NULL, NULL);
  natter_transfer_start (again);
  g_assert_cmpint (natter_transfer_get_state (again), ==, NATTER_TRANSFER_STATE_DONE);
  g_assert_cmpint (natter_transfer_get_resumed_at (again), ==, 0);
  g_assert_true (g_file_equal (natter_transfer_get_file (again), natter_transfer_get_file (down)));

  natter_session_stop (alice2);
  natter_session_stop (bob2);
}

/* The client died after the upload's message was sent but before the
 * upload left the cache (the row is put back by hand): the next session
 * finds the upload complete on the server and sends the message again
 * under the same cid, which the server recognises. One message. */
static void
test_restart_after_message_sent (Fixture       *f,
                                 gconstpointer  data)
{
  NatterSession *alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) alice2 = NULL;
  g_autofree char *sha = NULL;
  g_autoptr(GFile) file = natter_test_make_file (f->files_dir, "twice.bin", MiB + 3, &sha);
  g_autofree char *path = g_file_get_path (file);
  g_autoptr(NatterTransfer) up = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;
  g_autofree char *cid = NULL;
  NatterTransfer *restored;
  NatterCacheUpload row = { 0, };

  natter_test_join (alice, "files");
  up = natter_transfer_new_upload (alice, natter_session_lookup_room (alice, "files"), file,
                                   "only once");
  natter_transfer_start (up);
  natter_test_wait_until (is_done (up), 30000);
  natter_test_wait_until (natter_session_get_pending (alice) == 0, 20000);
  g_assert_cmpuint (count_server_lines (alice, "files", "only once"), ==, 1);

  cid = g_strdup (natter_message_get_cid (natter_transfer_get_message (up)));
  url = g_strconcat (f->ts->url, "/api/v1/uploads/", natter_transfer_get_file_id (up), NULL);
  row.cid = cid;
  row.room = (char *) "files";
  row.path = path;
  row.name = (char *) "twice.bin";
  row.mime = (char *) "application/octet-stream";
  row.text = (char *) "only once";
  row.url = url;
  row.size = MiB + 3;
  g_assert_true (natter_cache_put_upload (_natter_session_get_cache (alice), &row, &error));
  g_assert_no_error (error);

  natter_session_stop (alice);
  g_object_add_weak_pointer (G_OBJECT (alice), (gpointer *) &alice);
  g_object_unref (alice);
  natter_test_wait_until (alice == NULL, 10000);

  alice2 = natter_test_session_new (f->ts->url, "alice", f->cache_dir, TRUE);
  g_assert_cmpuint (g_list_model_get_n_items (natter_session_get_transfers (alice2)), ==, 1);
  restored = g_list_model_get_item (natter_session_get_transfers (alice2), 0);
  natter_test_wait_until (is_done (restored), 30000);
  /* Nothing was sent again: the server had it all. */
  g_assert_cmpint (natter_transfer_get_resumed_at (restored), ==, 0);
  g_assert_cmpstr (natter_message_get_cid (natter_transfer_get_message (restored)), ==, cid);
  natter_test_wait_until (natter_session_get_pending (alice2) == 0, 20000);
  g_object_unref (restored);
  g_assert_cmpuint (count_server_lines (alice2, "files", "only once"), ==, 1);
  natter_session_stop (alice2);
}

/* A paused upload stays paused across a restart, and resumes from the
 * server's offset when asked. */
static void
test_paused_survives_client_restart (Fixture       *f,
                                     gconstpointer  data)
{
  NatterSession *alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) alice2 = NULL;
  g_autofree char *sha = NULL;
  g_autoptr(GFile) file = natter_test_make_file (f->files_dir, "paused.bin", 48 * MiB, &sha);
  g_autoptr(NatterTransfer) up = NULL;
  g_autoptr(NatterTransfer) restored = NULL;
  g_autoptr(NatterTransfer) down = NULL;
  g_autofree char *got_sha = NULL;

  natter_test_join (alice, "files");
  up = natter_transfer_new_upload (alice, natter_session_lookup_room (alice, "files"), file, NULL);
  natter_transfer_start (up);
  natter_test_wait_until (natter_transfer_get_bytes (up) >= 4 * MiB, 30000);
  natter_transfer_pause (up);
  g_clear_object (&up);

  natter_session_stop (alice);
  g_object_add_weak_pointer (G_OBJECT (alice), (gpointer *) &alice);
  g_object_unref (alice);
  natter_test_wait_until (alice == NULL, 10000);

  alice2 = natter_test_session_new (f->ts->url, "alice", f->cache_dir, TRUE);
  g_assert_cmpuint (g_list_model_get_n_items (natter_session_get_transfers (alice2)), ==, 1);
  restored = g_list_model_get_item (natter_session_get_transfers (alice2), 0);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (natter_transfer_get_state (restored), ==, NATTER_TRANSFER_STATE_PAUSED);

  natter_transfer_resume (restored);
  natter_test_wait_until (is_done (restored), 30000);
  g_assert_cmpint (natter_transfer_get_resumed_at (restored), >=, 4 * MiB);
  down = natter_transfer_new_download_id (alice2, natter_transfer_get_file_id (restored), NULL, NULL);
  natter_transfer_start (down);
  natter_test_wait_until (is_done (down), 30000);
  got_sha = natter_test_file_sha256 (g_file_peek_path (natter_transfer_get_file (down)));
  g_assert_cmpstr (got_sha, ==, sha);
  natter_session_stop (alice2);
}

/* An upload queued offline (never created on the server) when the client
 * quits is created and sent by the next session. */
static void
test_queued_survives_client_restart (Fixture       *f,
                                     gconstpointer  data)
{
  NatterSession *alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) alice2 = NULL;
  g_autofree char *sha = NULL;
  g_autoptr(GFile) file = natter_test_make_file (f->files_dir, "queued.bin", 3 * MiB + 1, &sha);
  NatterTransfer *up;
  NatterTransfer *restored;
  g_autoptr(NatterTransfer) down = NULL;
  g_autofree char *got_sha = NULL;

  natter_test_join (alice, "files");
  natter_test_server_stop (f->ts);
  natter_test_wait_until (natter_session_get_state (alice) == NATTER_SESSION_STATE_WAITING_TO_RETRY,
                          10000);
  up = natter_transfer_new_upload (alice, natter_session_lookup_room (alice, "files"), file,
                                   "queued on the train");
  natter_transfer_start (up);
  g_assert_cmpint (natter_transfer_get_state (up), ==, NATTER_TRANSFER_STATE_QUEUED);
  g_object_unref (up);   /* the session keeps it */
  g_assert_cmpuint (g_list_model_get_n_items (natter_session_get_transfers (alice)), ==, 1);

  natter_session_stop (alice);
  g_object_add_weak_pointer (G_OBJECT (alice), (gpointer *) &alice);
  g_object_unref (alice);
  natter_test_wait_until (alice == NULL, 10000);

  natter_test_server_restart (f->ts);
  alice2 = natter_test_session_new (f->ts->url, "alice", f->cache_dir, TRUE);
  g_assert_cmpuint (g_list_model_get_n_items (natter_session_get_transfers (alice2)), ==, 1);
  restored = g_list_model_get_item (natter_session_get_transfers (alice2), 0);
  natter_test_wait_until (is_done (restored), 30000);
  g_assert_cmpint (natter_transfer_get_resumed_at (restored), ==, 0);
  natter_test_wait_until (natter_session_get_pending (alice2) == 0, 20000);
  g_assert_cmpuint (count_server_lines (alice2, "files", "queued on the train"), ==, 1);

  down = natter_transfer_new_download_id (alice2, natter_transfer_get_file_id (restored), NULL, NULL);
  g_object_unref (restored);
  natter_transfer_start (down);
  natter_test_wait_until (is_done (down), 30000);
  got_sha = natter_test_file_sha256 (g_file_peek_path (natter_transfer_get_file (down)));
  g_assert_cmpstr (got_sha, ==, sha);
  natter_session_stop (alice2);
}

static void
test_offline_start (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  g_autoptr(NatterSession) bob = natter_test_session_new (f->ts->url, "bob", f->cache_dir, FALSE);
  NatterRoom *a_room = natter_test_join (alice, "files");
  NatterRoom *b_room = natter_test_join (bob, "files");
  g_autofree char *sha = NULL;
  g_autoptr(GFile) file = natter_test_make_file (f->files_dir, "offline.bin", 1000, &sha);
  g_autoptr(NatterTransfer) up = NULL;

  natter_test_server_stop (f->ts);
  natter_test_wait_until (natter_session_get_state (alice) == NATTER_SESSION_STATE_WAITING_TO_RETRY,
                          10000);

  up = natter_transfer_new_upload (alice, a_room, file, "from the train");
  natter_transfer_start (up);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (natter_transfer_get_state (up), ==, NATTER_TRANSFER_STATE_QUEUED);
  g_assert_cmpint (natter_transfer_get_bytes (up), ==, 0);

  natter_test_server_restart (f->ts);
  natter_test_wait_until (is_done (up), 30000);
  natter_test_wait_until (count_file_messages (b_room, natter_transfer_get_file_id (up)) > 0, 20000);
  g_assert_cmpuint (count_file_messages (b_room, natter_transfer_get_file_id (up)), ==, 1);

  natter_session_stop (alice);
  natter_session_stop (bob);
}

static void
test_pause_resume (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  NatterRoom *a_room = natter_test_join (alice, "files");
  g_autofree char *sha = NULL;
  g_autoptr(GFile) file = natter_test_make_file (f->files_dir, "paused.bin", 64 * MiB, &sha);
  g_autoptr(NatterTransfer) up = natter_transfer_new_upload (alice, a_room, file, NULL);
  g_autoptr(NatterTransfer) down = NULL;
  g_autofree char *got_sha = NULL;
  gint64 at_pause;

  natter_transfer_start (up);
  natter_test_wait_until (natter_transfer_get_bytes (up) >= 8 * MiB, 30000);
  natter_transfer_pause (up);
  g_assert_cmpint (natter_transfer_get_state (up), ==, NATTER_TRANSFER_STATE_PAUSED);
  at_pause = natter_transfer_get_bytes (up);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_cmpint (natter_transfer_get_bytes (up), ==, at_pause);
  g_assert_cmpfloat (natter_transfer_get_rate (up), ==, 0);

  natter_transfer_resume (up);
  natter_test_wait_until (is_done (up), 30000);
  g_assert_cmpint (natter_transfer_get_resumed_at (up), >, 0);

  down = natter_transfer_new_download_id (alice, natter_transfer_get_file_id (up), NULL, NULL);
  natter_transfer_start (down);
  natter_test_wait_until (is_done (down), 30000);
  got_sha = natter_test_file_sha256 (g_file_peek_path (natter_transfer_get_file (down)));
  g_assert_cmpstr (got_sha, ==, sha);
  natter_session_stop (alice);
}

static void
test_too_large (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  NatterRoom *a_room = natter_test_join (alice, "files");
  g_autofree char *path = g_build_filename (f->files_dir, "huge.iso", NULL);
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileOutputStream) out = g_file_replace (file, NULL, FALSE, G_FILE_CREATE_NONE, NULL, NULL);
  g_autoptr(NatterTransfer) up = NULL;
  g_autoptr(GPtrArray) rows = NULL;

  /* Sparse: the server refuses it from its announced length alone. */
  g_assert_nonnull (out);
  g_assert_true (g_seekable_truncate (G_SEEKABLE (out), ((goffset) 1 << 30) + 1, NULL, NULL));
  g_assert_true (g_output_stream_close (G_OUTPUT_STREAM (out), NULL, NULL));

  up = natter_transfer_new_upload (alice, a_room, file, NULL);
  natter_transfer_start (up);
  natter_test_wait_until (natter_transfer_get_state (up) == NATTER_TRANSFER_STATE_FAILED, 10000);
  g_assert_cmpstr (natter_transfer_get_error (up), ==, "File too large: limit is 1 GiB");
  g_assert_cmpint (natter_transfer_get_bytes (up), ==, 0);
  g_assert_cmpuint (natter_session_get_pending (alice), ==, 0);
  /* Refused for good: nothing is left for a restart to try again. */
  g_assert_cmpuint (g_list_model_get_n_items (natter_session_get_transfers (alice)), ==, 0);
  rows = natter_cache_list_uploads (_natter_session_get_cache (alice));
  g_assert_cmpuint (rows->len, ==, 0);
  natter_session_stop (alice);
}

#ifdef HAVE_THUMBNAILS
/* A received image gets a thumbnail (made in a worker thread) no larger
 * than 256×256, keeping its aspect. */
static void
test_thumbnail (Fixture       *f,
                gconstpointer  data)
{
  g_autoptr(NatterSession) alice = natter_test_session_new (f->ts->url, "alice", f->cache_dir, FALSE);
  NatterRoom *a_room = natter_test_join (alice, "files");
  g_autofree char *path = g_build_filename (f->files_dir, "wide.png", NULL);
  g_autoptr(GdkPixbuf) image = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, 1024, 512);
  g_autoptr(GdkPixbuf) thumb = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(NatterTransfer) up = NULL;
  g_autoptr(NatterTransfer) down = NULL;
  g_autofree char *thumb_path = NULL;
  NatterMessage *message;

  gdk_pixbuf_fill (image, 0x3366ccff);
  g_assert_true (gdk_pixbuf_save (image, path, "png", NULL, NULL));
  file = g_file_new_for_path (path);

  up = natter_transfer_new_upload (alice, a_room, file, NULL);
  g_assert_cmpstr (natter_transfer_get_mime_type (up), ==, "image/png");
  natter_transfer_start (up);
  natter_test_wait_until (is_done (up), 30000);
  message = natter_transfer_get_message (up);
  g_assert_cmpstr (natter_message_get_file_mime (message), ==, "image/png");

  down = natter_transfer_new_download (alice, message, NULL);
  natter_transfer_start (down);
  natter_test_wait_until (natter_transfer_get_thumbnail (down) != NULL, 30000);
  g_assert_cmpint (natter_transfer_get_state (down), ==, NATTER_TRANSFER_STATE_DONE);
  thumb_path = g_file_get_path (natter_transfer_get_thumbnail (down));
  thumb = gdk_pixbuf_new_from_file (thumb_path, NULL);
  g_assert_nonnull (thumb);
  g_assert_cmpint (gdk_pixbuf_get_width (thumb), ==, 256);
  g_assert_cmpint (gdk_pixbuf_get_height (thumb), ==, 128);
  natter_session_stop (alice);
}
#endif

int
main (int   argc,
      char *argv[])
{
  g_autofree char *cache_home = natter_test_mkdtemp ();
  int ret;

  /* Downloads into the cache land in a directory of this test's own. */
  g_setenv ("XDG_CACHE_HOME", cache_home, TRUE);
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/client/transfer/upload-download", Fixture, NULL, setup, test_upload_download, teardown);
  g_test_add ("/client/transfer/resume-after-restart", Fixture, NULL, setup, test_resume_after_restart, teardown);
  g_test_add ("/client/transfer/resume-after-client-restart", Fixture, NULL, setup, test_resume_after_client_restart, teardown);
  g_test_add ("/client/transfer/queued-survives-client-restart", Fixture, NULL, setup, test_queued_survives_client_restart, teardown);
  g_test_add ("/client/transfer/restart-after-message-sent", Fixture, NULL, setup, test_restart_after_message_sent, teardown);
  g_test_add ("/client/transfer/paused-survives-client-restart", Fixture, NULL, setup, test_paused_survives_client_restart, teardown);
  g_test_add ("/client/transfer/offline-start", Fixture, NULL, setup, test_offline_start, teardown);
  g_test_add ("/client/transfer/pause-resume", Fixture, NULL, setup, test_pause_resume, teardown);
  g_test_add ("/client/transfer/too-large", Fixture, NULL, setup, test_too_large, teardown);
#ifdef HAVE_THUMBNAILS
  g_test_add ("/client/transfer/thumbnail", Fixture, NULL, setup, test_thumbnail, teardown);
#endif

  ret = g_test_run ();
  natter_test_rm_rf (cache_home);
  return ret;
}
