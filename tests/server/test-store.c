/* test-store.c: NatterSqliteStore's WAL upkeep. The main connection never
 * checkpoints (a checkpoint inside a COMMIT stalled the main loop for
 * hundreds of ms); a worker thread does, on its own connection, once the
 * WAL is large; and a store reopened after all that has every message.
 * Also its members cache: what it answers for a room's members and a
 * user's peers follows every join and leave. */
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "natter-sqlite-store.h"
#include "natter-test-client.h"
#include "natter-test-server.h"

typedef struct
{
  char        *dir;
  char        *db_path;
  NatterStore *store;
} Fixture;

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  f->dir = g_dir_make_tmp ("natter-store-test-XXXXXX", &error);
  g_assert_no_error (error);
  f->db_path = g_build_filename (f->dir, "natter.db", NULL);
  f->store = natter_sqlite_store_new_full (f->db_path, GPOINTER_TO_INT (data));
  g_assert_true (natter_store_open (f->store, &error));
  g_assert_no_error (error);
  g_assert_true (natter_store_add_user (f->store, "alice", "not-a-real-hash", &error));
  g_assert_no_error (error);
}

static void
remove_file (const char *dir,
             const char *name)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);

  g_remove (path);
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  if (f->store != NULL)
    {
      natter_store_close (f->store);
      g_clear_object (&f->store);
    }
  remove_file (f->dir, "natter.db");
  remove_file (f->dir, "natter.db-wal");
  remove_file (f->dir, "natter.db-shm");
  g_rmdir (f->dir);
  g_free (f->db_path);
  g_free (f->dir);
}

static goffset
file_size (const char *path)
{
  GStatBuf buf;

  return g_stat (path, &buf) == 0 ? (goffset) buf.st_size : -1;
}

static void
synced_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  gboolean *done = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (natter_store_sync_finish (NATTER_STORE (source), result, &error));
  g_assert_no_error (error);
  *done = TRUE;
}

static gboolean
is_true_cond (gpointer data)
{
  return *(gboolean *) data;
}

/* Stores @n_batches batches of 100 messages of 1 KiB as the chat service
 * does (one transaction each, then the WAL sync). */
static void
add_batches (Fixture *f,
             guint    first_batch,
             guint    n_batches)
{
  guint b, i;

  for (b = first_batch; b < first_batch + n_batches; b++)
    {
      NatterChatMessage *messages[100];
      NatterStoreAddResult results[100];
      g_autoptr(GError) error = NULL;
      gboolean synced = FALSE;

      for (i = 0; i < G_N_ELEMENTS (messages); i++)
        {
          messages[i] = natter_chat_message_new ();
          messages[i]->room = g_strdup ("general");
          messages[i]->from = g_strdup ("alice");
          messages[i]->cid = g_strdup_printf ("b%u-m%u", b, i);
          messages[i]->text = g_strnfill (1024, 'a' + i % 26);
        }
      g_assert_true (natter_store_add_messages (f->store, messages, G_N_ELEMENTS (messages),
                                                results, &error));
      g_assert_no_error (error);
      for (i = 0; i < G_N_ELEMENTS (messages); i++)
        {
          g_assert_cmpint (results[i], ==, NATTER_STORE_ADDED);
          natter_chat_message_free (messages[i]);
        }
      natter_store_sync_async (f->store, NULL, synced_cb, &synced);
      g_assert_true (natter_test_wait (is_true_cond, &synced, NATTER_TEST_TIMEOUT_MS));
    }
}

typedef struct
{
  const char *path;
  goffset     size;
} GrownArg;

static gboolean
grown_cond (gpointer data)
{
  GrownArg *arg = data;

  return file_size (arg->path) > arg->size;
}

static void
test_checkpoint_off_main (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *wal_path = g_strconcat (f->db_path, "-wal", NULL);
  GrownArg grown = { f->db_path, file_size (f->db_path) };
  goffset wal_size;

  /* 15 batches of ~100 KiB: some 500 pages of WAL, under the threshold.
   * The main connection does not checkpoint: the database file keeps its
   * size, the WAL holds everything. */
  add_batches (f, 0, 15);
  g_test_message ("after 15 batches: db %" G_GOFFSET_FORMAT ", WAL %" G_GOFFSET_FORMAT " bytes",
                  file_size (f->db_path), file_size (wal_path));
  g_assert_cmpint (file_size (f->db_path), ==, grown.size);

  /* Past 1,000 frames a worker checkpoints: the database file grows
   * without the main connection doing it. */
  add_batches (f, 15, 45);
  g_assert_true (natter_test_wait (grown_cond, &grown, NATTER_TEST_TIMEOUT_MS));
  wal_size = file_size (wal_path);
  g_test_message ("after 60 batches: db %" G_GOFFSET_FORMAT ", WAL %" G_GOFFSET_FORMAT " bytes",
                  file_size (f->db_path), wal_size);

  /* The WAL is then reused from its start, not grown for ever. */
  add_batches (f, 60, 60);
  g_test_message ("after 120 batches: db %" G_GOFFSET_FORMAT ", WAL %" G_GOFFSET_FORMAT " bytes",
                  file_size (f->db_path), file_size (wal_path));
  g_assert_cmpint (file_size (wal_path), <, 3 * wal_size);

  /* A restart has every message. */
  natter_store_close (f->store);
  g_clear_object (&f->store);
  f->store = natter_sqlite_store_new_full (f->db_path, GPOINTER_TO_INT (data));
  g_assert_true (natter_store_open (f->store, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (natter_store_count_messages (f->store), ==, 120 * 100);
}

/* Compares a list of names (taken) with "a,b,c". */
static void
assert_names (GPtrArray  *names,
              const char *expected)
{
  g_autoptr(GString) joined = g_string_new (NULL);
  guint i;

  for (i = 0; i < names->len; i++)
    g_string_append_printf (joined, "%s%s", i > 0 ? "," : "", (char *) g_ptr_array_index (names, i));
  g_ptr_array_unref (names);
  g_assert_cmpstr (joined->str, ==, expected);
}

static void
test_members_cache (Fixture       *f,
                    gconstpointer  data)
{
  const char * const users[] = { "zoe", "bob", "carol", "Ann" };
  g_autoptr(GPtrArray) before = NULL;
  g_autoptr(GError) error = NULL;
  guint i;

  g_assert_true (natter_store_add_room (f->store, "lobby", "", TRUE, &error));
  g_assert_no_error (error);
  assert_names (natter_store_list_members (f->store, "lobby"), "");
  g_assert_false (natter_store_is_member (f->store, "lobby", "alice"));

  /* Cached empty, then joined: the cache must not keep the old answer. */
  g_assert_true (natter_store_add_member (f->store, "lobby", "alice", NATTER_STORE_SYNC_NOW, &error));
  g_assert_true (natter_store_is_member (f->store, "lobby", "alice"));
  for (i = 0; i < G_N_ELEMENTS (users); i++)
    {
      g_assert_true (natter_store_add_user (f->store, users[i], "not-a-real-hash", &error));
      g_assert_true (natter_store_add_member (f->store, "lobby", users[i], NATTER_STORE_SYNC_NOW, &error));
      g_assert_no_error (error);
    }
  g_assert_false (natter_store_add_member (f->store, "lobby", "bob", NATTER_STORE_SYNC_NOW, &error));
  g_assert_no_error (error);
  /* Sorted byte-wise, as the lookup expects. */
  assert_names (natter_store_list_members (f->store, "lobby"), "Ann,alice,bob,carol,zoe");
  for (i = 0; i < G_N_ELEMENTS (users); i++)
    g_assert_true (natter_store_is_member (f->store, "lobby", users[i]));
  g_assert_false (natter_store_is_member (f->store, "lobby", "ann"));
  g_assert_false (natter_store_is_member (f->store, "lobby", "dave"));
  g_assert_false (natter_store_is_member (f->store, "nowhere", "bob"));
  assert_names (natter_store_list_members (f->store, "nowhere"), "");

  /* A list handed out earlier stays as it was; the next one follows. */
  before = natter_store_list_members (f->store, "lobby");
  g_assert_true (natter_store_remove_member (f->store, "lobby", "bob", NATTER_STORE_SYNC_NOW, &error));
  g_assert_false (natter_store_remove_member (f->store, "lobby", "bob", NATTER_STORE_SYNC_NOW, &error));
  g_assert_cmpuint (before->len, ==, 5);
  g_assert_cmpstr (g_ptr_array_index (before, 2), ==, "bob");
  assert_names (natter_store_list_members (f->store, "lobby"), "Ann,alice,carol,zoe");
  g_assert_false (natter_store_is_member (f->store, "lobby", "bob"));

  /* Joins at the start, middle and end of a cached list. */
  g_assert_true (natter_store_add_member (f->store, "lobby", "bob", NATTER_STORE_SYNC_NOW, &error));
  g_assert_true (natter_store_add_user (f->store, "AAA", "not-a-real-hash", &error));
  g_assert_true (natter_store_add_member (f->store, "lobby", "AAA", NATTER_STORE_SYNC_NOW, &error));
  g_assert_true (natter_store_add_user (f->store, "zzz", "not-a-real-hash", &error));
  g_assert_true (natter_store_add_member (f->store, "lobby", "zzz", NATTER_STORE_SYNC_NOW, &error));
  assert_names (natter_store_list_members (f->store, "lobby"), "AAA,Ann,alice,bob,carol,zoe,zzz");
  g_assert_true (natter_store_remove_member (f->store, "lobby", "AAA", NATTER_STORE_SYNC_NOW, &error));
  g_assert_true (natter_store_remove_member (f->store, "lobby", "zzz", NATTER_STORE_SYNC_NOW, &error));
  assert_names (natter_store_list_members (f->store, "lobby"), "Ann,alice,bob,carol,zoe");

  /* Peers: everyone sharing a room, each once, sorted, the user too. */
  g_assert_true (natter_store_add_room (f->store, "side", "", TRUE, &error));
  assert_names (natter_store_list_peers (f->store, "bob"), "Ann,alice,bob,carol,zoe");
  g_assert_true (natter_store_add_member (f->store, "side", "bob", NATTER_STORE_SYNC_NOW, &error));
  g_assert_true (natter_store_add_member (f->store, "side", "zzz", NATTER_STORE_SYNC_NOW, &error));
  g_assert_true (natter_store_add_member (f->store, "side", "alice", NATTER_STORE_SYNC_NOW, &error));
  assert_names (natter_store_list_peers (f->store, "bob"), "Ann,alice,bob,carol,zoe,zzz");
  assert_names (natter_store_list_peers (f->store, "zzz"), "alice,bob,zzz");
  assert_names (natter_store_list_peers (f->store, "AAA"), "");
  g_assert_true (natter_store_remove_member (f->store, "lobby", "bob", NATTER_STORE_SYNC_NOW, &error));
  assert_names (natter_store_list_peers (f->store, "bob"), "alice,bob,zzz");

  /* And the database agrees after a reopen (nothing only in the cache). */
  natter_store_close (f->store);
  g_assert_true (natter_store_open (f->store, &error));
  g_assert_no_error (error);
  assert_names (natter_store_list_members (f->store, "lobby"), "Ann,alice,carol,zoe");
  assert_names (natter_store_list_peers (f->store, "bob"), "alice,bob,zzz");
  assert_names (natter_store_list_peers (f->store, "carol"), "Ann,alice,carol,zoe");
}

int
main (int   argc,
      char *argv[])
{
  natter_test_init (&argc, &argv);

  g_test_add ("/server/store/checkpoint-off-main/full", Fixture, GINT_TO_POINTER (TRUE),
              setup, test_checkpoint_off_main, teardown);
  g_test_add ("/server/store/checkpoint-off-main/normal", Fixture, GINT_TO_POINTER (FALSE),
              setup, test_checkpoint_off_main, teardown);
  g_test_add ("/server/store/members-cache", Fixture, GINT_TO_POINTER (TRUE),
              setup, test_members_cache, teardown);

  return g_test_run ();
}
