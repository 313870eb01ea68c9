/* natter-sqlite-store.c: NatterStore on SQLite. The schema grows by
 * migrations: each entry of `migrations` is applied once, in order, inside
 * a transaction, and schema_version remembers how far a database got. */
#include "natter-sqlite-store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "natter-chat.h"

/* The WAL is checkpointed once it holds this many frames (pages): SQLite's
 * own default for its automatic checkpoint. */
#define CHECKPOINT_FRAMES 1000

struct _NatterSqliteStore
{
  GObject  parent_instance;

  char    *path;
  sqlite3    *db;
  GHashTable *statements; /* SQL → sqlite3_stmt, while open */
  guint64     n_messages;
  gboolean    synchronous_full;

  /* room → its members, sorted (GPtrArray of GRefStrings, never changed
   * once handed out: a join or leave replaces it with an updated copy).
   * Every message goes to its room's members, every send checks
   * membership, and every connect and disconnect tells the user's peers:
   * one query per room instead of one (of up to thousands of rows) each
   * time. */
  GHashTable *members_by_room;

  /* Checkpoints run in a worker thread on a connection of its own. SQLite
   * would otherwise run them inside a COMMIT on the main loop, copying the
   * WAL into the database and syncing both files there: a stall of
   * 150–600 ms for every connection. */
  GMutex      checkpoint_lock;      /* guards checkpoint_db and closed */
  sqlite3    *checkpoint_db;
  gboolean    closed;
  gboolean    checkpoint_running;   /* main thread only */
};

static void natter_sqlite_store_iface_init (NatterStoreInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterSqliteStore, natter_sqlite_store, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (NATTER_TYPE_STORE,
                                                      natter_sqlite_store_iface_init))

static const char * const migrations[] = {
  /* 1: the first schema */
  "CREATE TABLE users ("
  "  name TEXT PRIMARY KEY NOT NULL,"
  "  password_hash TEXT NOT NULL,"
  "  created INTEGER NOT NULL);"
  "CREATE TABLE tokens ("
  "  hash TEXT PRIMARY KEY NOT NULL,"
  "  user TEXT NOT NULL REFERENCES users(name),"
  "  created INTEGER NOT NULL);"
  "CREATE INDEX tokens_user ON tokens(user);"
  "CREATE TABLE rooms ("
  "  name TEXT PRIMARY KEY NOT NULL,"
  "  topic TEXT NOT NULL DEFAULT '',"
  "  public INTEGER NOT NULL,"
  "  created INTEGER NOT NULL,"
  "  last_seq INTEGER NOT NULL DEFAULT 0);"
  "CREATE TABLE members ("
  "  room TEXT NOT NULL REFERENCES rooms(name),"
  "  user TEXT NOT NULL REFERENCES users(name),"
  "  joined INTEGER NOT NULL,"
  "  PRIMARY KEY (room, user));"
  "CREATE INDEX members_user ON members(user);"
  "CREATE TABLE messages ("
  "  room TEXT NOT NULL REFERENCES rooms(name),"
  "  seq INTEGER NOT NULL,"
  "  ts INTEGER NOT NULL,"
  "  sender TEXT NOT NULL,"
  "  cid TEXT NOT NULL,"
  "  text TEXT NOT NULL,"
  "  file_json TEXT,"
  "  PRIMARY KEY (room, seq),"
  "  UNIQUE (sender, cid));",
  /* 2: the default room */
  "INSERT OR IGNORE INTO rooms (name, topic, public, created)"
  "  VALUES ('" NATTER_CHAT_DEFAULT_ROOM "', '', 1, CAST(strftime('%s','now') AS INTEGER) * 1000);",
};

static gboolean
set_sqlite_error (NatterSqliteStore  *self,
                  GError            **error,
                  const char         *what)
{
  int code = sqlite3_extended_errcode (self->db);

  g_set_error (error, NATTER_STORE_ERROR,
               (code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE)
                 ? NATTER_STORE_ERROR_EXISTS : NATTER_STORE_ERROR_FAILED,
               "%s: %s", what, sqlite3_errmsg (self->db));
  return FALSE;
}

static gboolean
exec (NatterSqliteStore  *self,
      const char         *sql,
      GError            **error)
{
  char *msg = NULL;

  if (sqlite3_exec (self->db, sql, NULL, NULL, &msg) != SQLITE_OK)
    {
      g_set_error (error, NATTER_STORE_ERROR, NATTER_STORE_ERROR_FAILED, "%s", msg);
      sqlite3_free (msg);
      return FALSE;
    }
  return TRUE;
}

/* Each statement is compiled once per open database and kept, keyed by
 * its SQL; a caller borrows it and the cleanup below hands it back reset,
 * so nothing is compiled on the hot paths (send, history). */
static sqlite3_stmt *
prepare (NatterSqliteStore *self,
         const char        *sql)
{
  sqlite3_stmt *stmt = g_hash_table_lookup (self->statements, sql);

  if (stmt != NULL)
    return stmt;

  if (sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL) != SQLITE_OK)
    {
      g_warning ("store: cannot prepare %s: %s", sql, sqlite3_errmsg (self->db));
      return NULL;
    }
  g_hash_table_insert (self->statements, g_strdup (sql), stmt);
  return stmt;
}

static void
release_statement (sqlite3_stmt *stmt)
{
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
}

typedef sqlite3_stmt NatterStmt;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterStmt, release_statement)

static void
bind_text (sqlite3_stmt *stmt,
           int           index,
           const char   *text)
{
  if (text != NULL)
    sqlite3_bind_text (stmt, index, text, -1, SQLITE_TRANSIENT);
  else
    sqlite3_bind_null (stmt, index);
}

static gint64
now_ms (void)
{
  return g_get_real_time () / 1000;
}

static gboolean
migrate (NatterSqliteStore  *self,
         GError            **error)
{
  g_autoptr(NatterStmt) stmt = NULL;
  gint64 version = 0;
  guint i;

  if (!exec (self, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);", error))
    return FALSE;

  stmt = prepare (self, "SELECT MAX(version) FROM schema_version;");
  if (stmt != NULL && sqlite3_step (stmt) == SQLITE_ROW)
    version = sqlite3_column_int64 (stmt, 0);

  if (version > (gint64) G_N_ELEMENTS (migrations))
    {
      g_set_error (error, NATTER_STORE_ERROR, NATTER_STORE_ERROR_FAILED,
                   "database schema version %" G_GINT64_FORMAT " is newer than this server (%u)",
                   version, (guint) G_N_ELEMENTS (migrations));
      return FALSE;
    }

  for (i = version; i < G_N_ELEMENTS (migrations); i++)
    {
      g_autofree char *bump = g_strdup_printf ("INSERT INTO schema_version (version) VALUES (%u);",
                                               i + 1);

      if (!exec (self, "BEGIN IMMEDIATE;", error))
        return FALSE;
      if (!exec (self, migrations[i], error) || !exec (self, bump, error))
        {
          exec (self, "ROLLBACK;", NULL);
          g_prefix_error (error, "migration %u: ", i + 1);
          return FALSE;
        }
      if (!exec (self, "COMMIT;", error))
        return FALSE;
      g_debug ("store: migrated %s to schema %u", self->path, i + 1);
    }

  return TRUE;
}

/* ---- checkpoints, off the main loop ------------------------------------------ */

/* In a worker thread: a PASSIVE checkpoint (it waits for no reader and no
 * writer: what the main connection is reading stays in the WAL for the
 * next one), then the restart of the WAL (below). The connection's synchronous=FULL default syncs the database
 * file before SQLite may reuse the WAL, so no commit is ever only in a
 * WAL that is being overwritten. */
static void
checkpoint_thread (GTask        *task,
                   gpointer      source_object,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  NatterSqliteStore *self = source_object;
  int frames = 0, done = 0, rc;

  g_mutex_lock (&self->checkpoint_lock);
  if (self->closed)
    {
      g_mutex_unlock (&self->checkpoint_lock);
      g_task_return_boolean (task, TRUE);
      return;
    }
  /* A connection learns that the database is in WAL mode when it first
   * reads it; until then a checkpoint does nothing. */
  if (self->checkpoint_db == NULL &&
      (sqlite3_open_v2 (self->path, &self->checkpoint_db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK ||
       sqlite3_exec (self->checkpoint_db, "SELECT COUNT(*) FROM sqlite_master;",
                     NULL, NULL, NULL) != SQLITE_OK))
    {
      g_autofree char *message = g_strdup (sqlite3_errmsg (self->checkpoint_db));

      g_clear_pointer (&self->checkpoint_db, sqlite3_close);
      g_mutex_unlock (&self->checkpoint_lock);
      g_task_return_new_error (task, NATTER_STORE_ERROR, NATTER_STORE_ERROR_FAILED,
                               "checkpoint: %s", message);
      return;
    }
  rc = sqlite3_wal_checkpoint_v2 (self->checkpoint_db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                  &frames, &done);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY)
    {
      g_autofree char *message = g_strdup (sqlite3_errmsg (self->checkpoint_db));

      g_mutex_unlock (&self->checkpoint_lock);
      g_task_return_new_error (task, NATTER_STORE_ERROR, NATTER_STORE_ERROR_FAILED,
                               "checkpoint: %s", message);
      return;
    }
  /* SQLite starts the WAL over only when a write transaction begins while
   * every frame is in the database; with commits going on all the time
   * (each began while this ran) that moment never comes, and the WAL
   * grows for ever. So with all frames copied, a RESTART checkpoint
   * (nothing left to copy: no sync) takes the writer lock for a moment to
   * make the next write start from the top. Without a busy handler on
   * this connection, a commit in progress makes it give up at once. */
  if (rc == SQLITE_OK && frames > 0 && done == frames)
    rc = sqlite3_wal_checkpoint_v2 (self->checkpoint_db, NULL, SQLITE_CHECKPOINT_RESTART,
                                    &frames, &done);
  g_mutex_unlock (&self->checkpoint_lock);
  g_debug ("store: checkpointed %d of %d WAL frames%s", done, frames,
           rc == SQLITE_OK ? ", the WAL starts over" : "");
  g_task_return_boolean (task, TRUE);
}

static void
checkpoint_done_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (source);
  g_autoptr(GError) error = NULL;

  self->checkpoint_running = FALSE;
  if (!g_task_propagate_boolean (G_TASK (result), &error))
    g_warning ("store: %s", error->message);
}

/* After every commit of the main connection, with the frames now in the
 * WAL: past CHECKPOINT_FRAMES a checkpoint starts in a worker, one at a
 * time. The commits do not wait for it; a full checkpoint lets the next
 * writer start the WAL over from its beginning. */
static int
wal_committed_cb (void       *user_data,
                  sqlite3    *db,
                  const char *name,
                  int         frames)
{
  NatterSqliteStore *self = user_data;
  g_autoptr(GTask) task = NULL;

  if (frames < CHECKPOINT_FRAMES || self->checkpoint_running)
    return SQLITE_OK;

  self->checkpoint_running = TRUE;
  task = g_task_new (self, NULL, checkpoint_done_cb, NULL);
  g_task_set_source_tag (task, wal_committed_cb);
  g_task_run_in_thread (task, checkpoint_thread);
  return SQLITE_OK;
}

static gboolean
natter_sqlite_store_open (NatterStore  *store,
                          GError      **error)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  g_autofree char *dir = g_path_get_dirname (self->path);
  g_autoptr(NatterStmt) count = NULL;

  g_return_val_if_fail (self->db == NULL, FALSE);

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      int errsv = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errsv),
                   "cannot create %s: %s", dir, g_strerror (errsv));
      return FALSE;
    }

  if (sqlite3_open_v2 (self->path, &self->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                       NULL) != SQLITE_OK)
    {
      set_sqlite_error (self, error, self->path);
      g_clear_pointer (&self->db, sqlite3_close);
      return FALSE;
    }

  sqlite3_busy_timeout (self->db, 5000);
  self->statements = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) sqlite3_finalize);
  self->members_by_room = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                 (GDestroyNotify) g_ptr_array_unref);

  /* WAL with synchronous=FULL syncs the WAL at every commit, so an ok
   * ack survives a power cut; NORMAL syncs only at checkpoints and may
   * lose the last commits then (never corrupt the database). No automatic
   * checkpoint on this connection: see wal_committed_cb(). */
  if (!exec (self,
             self->synchronous_full
             ? "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
               "PRAGMA wal_autocheckpoint=0;"
             : "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
               "PRAGMA wal_autocheckpoint=0;",
             error) ||
      !migrate (self, error))
    {
      g_clear_pointer (&self->statements, g_hash_table_unref);
      g_clear_pointer (&self->members_by_room, g_hash_table_unref);
      g_clear_pointer (&self->db, sqlite3_close);
      return FALSE;
    }
  g_mutex_lock (&self->checkpoint_lock);
  self->closed = FALSE;
  g_mutex_unlock (&self->checkpoint_lock);
  sqlite3_wal_hook (self->db, wal_committed_cb, self);

  count = prepare (self, "SELECT COUNT(*) FROM messages;");
  if (count != NULL && sqlite3_step (count) == SQLITE_ROW)
    self->n_messages = sqlite3_column_int64 (count, 0);

  return TRUE;
}

static void
natter_sqlite_store_close (NatterStore *store)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);

  if (self->db == NULL)
    return;

  /* Waits for a checkpoint in flight, and keeps the next from starting. */
  g_mutex_lock (&self->checkpoint_lock);
  self->closed = TRUE;
  g_clear_pointer (&self->checkpoint_db, sqlite3_close);
  g_mutex_unlock (&self->checkpoint_lock);

  /* Fold the WAL back so the .db file alone holds everything. */
  g_clear_pointer (&self->statements, g_hash_table_unref);
  g_clear_pointer (&self->members_by_room, g_hash_table_unref);
  exec (self, "PRAGMA wal_checkpoint(TRUNCATE);", NULL);
  sqlite3_close_v2 (self->db);
  self->db = NULL;
}

static gboolean
natter_sqlite_store_add_user (NatterStore  *store,
                              const char   *user,
                              const char   *password_hash,
                              GError      **error)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  g_autoptr(NatterStmt) stmt =
    prepare (self, "INSERT INTO users (name, password_hash, created) VALUES (?, ?, ?);");

  if (stmt == NULL)
    return set_sqlite_error (self, error, "add user");

  bind_text (stmt, 1, user);
  bind_text (stmt, 2, password_hash);
  sqlite3_bind_int64 (stmt, 3, now_ms ());
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "add user");

  return TRUE;
}

static char *
get_one_text (NatterSqliteStore *self,
              const char        *sql,
              const char        *arg)
{
  g_autoptr(NatterStmt) stmt = prepare (self, sql);

  if (stmt == NULL)
    return NULL;
  bind_text (stmt, 1, arg);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return NULL;
  return g_strdup ((const char *) sqlite3_column_text (stmt, 0));
}

static char *
natter_sqlite_store_get_password_hash (NatterStore *store,
                                       const char  *user)
{
  return get_one_text (NATTER_SQLITE_STORE (store),
                       "SELECT password_hash FROM users WHERE name = ?;", user);
}

static gboolean
natter_sqlite_store_add_token (NatterStore  *store,
                               const char   *token_hash,
                               const char   *user,
                               GError      **error)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  g_autoptr(NatterStmt) stmt =
    prepare (self, "INSERT INTO tokens (hash, user, created) VALUES (?, ?, ?);");

  if (stmt == NULL)
    return set_sqlite_error (self, error, "add token");

  bind_text (stmt, 1, token_hash);
  bind_text (stmt, 2, user);
  sqlite3_bind_int64 (stmt, 3, now_ms ());
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "add token");

  return TRUE;
}

static char *
natter_sqlite_store_lookup_token (NatterStore *store,
                                  const char  *token_hash)
{
  return get_one_text (NATTER_SQLITE_STORE (store),
                       "SELECT user FROM tokens WHERE hash = ?;", token_hash);
}

static gboolean
natter_sqlite_store_remove_token (NatterStore *store,
                                  const char  *token_hash)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  g_autoptr(NatterStmt) stmt = prepare (self, "DELETE FROM tokens WHERE hash = ?;");

  if (stmt == NULL)
    return FALSE;
  bind_text (stmt, 1, token_hash);
  return sqlite3_step (stmt) == SQLITE_DONE && sqlite3_changes (self->db) > 0;
}

static NatterStoreRoom *
room_from_row (sqlite3_stmt *stmt)
{
  NatterStoreRoom *room = g_new0 (NatterStoreRoom, 1);

  room->name = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  room->topic = g_strdup ((const char *) sqlite3_column_text (stmt, 1));
  room->is_public = sqlite3_column_int (stmt, 2) != 0;
  room->created = sqlite3_column_int64 (stmt, 3);
  room->last_seq = sqlite3_column_int64 (stmt, 4);
  return room;
}

static NatterStoreRoom *
natter_sqlite_store_get_room (NatterStore *store,
                              const char  *name)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  g_autoptr(NatterStmt) stmt =
    prepare (self, "SELECT name, topic, public, created, last_seq FROM rooms WHERE name = ?;");

  if (stmt == NULL)
    return NULL;
  bind_text (stmt, 1, name);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return NULL;
  return room_from_row (stmt);
}

static gboolean
natter_sqlite_store_add_room (NatterStore  *store,
                              const char   *name,
                              const char   *topic,
                              gboolean      is_public,
                              GError      **error)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  g_autoptr(NatterStmt) stmt =
    prepare (self, "INSERT INTO rooms (name, topic, public, created) VALUES (?, ?, ?, ?);");

  if (stmt == NULL)
    return set_sqlite_error (self, error, "add room");

  bind_text (stmt, 1, name);
  bind_text (stmt, 2, topic != NULL ? topic : "");
  sqlite3_bind_int (stmt, 3, is_public ? 1 : 0);
  sqlite3_bind_int64 (stmt, 4, now_ms ());
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "add room");

  return TRUE;
}

static GPtrArray *
natter_sqlite_store_list_rooms (NatterStore *store,
                                const char  *user)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  GPtrArray *rooms = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_store_room_free);
  g_autoptr(NatterStmt) stmt =
    prepare (self,
             "SELECT name, topic, public, created, last_seq FROM rooms"
             " WHERE public = 1 OR name IN (SELECT room FROM members WHERE user = ?)"
             " ORDER BY name;");

  if (stmt == NULL)
    return rooms;
  bind_text (stmt, 1, user);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_ptr_array_add (rooms, room_from_row (stmt));
  return rooms;
}

static guint
natter_sqlite_store_count_rooms (NatterStore *store)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  g_autoptr(NatterStmt) stmt = prepare (self, "SELECT COUNT(*) FROM rooms;");

  if (stmt == NULL || sqlite3_step (stmt) != SQLITE_ROW)
    return 0;
  return sqlite3_column_int (stmt, 0);
}

/* The members of @room from the cache, read once when missing; NULL when
 * it has none. Not cached when the query fails (the next call tries
 * again), nor when the room has no members: a room name that does not
 * exist, which a client may send, must not take memory. */
static GPtrArray *
cached_members (NatterSqliteStore *self,
                const char        *room)
{
  GPtrArray *users;
  g_autoptr(NatterStmt) stmt = NULL;
  int rc;

  if (self->members_by_room == NULL)
    return NULL;
  users = g_hash_table_lookup (self->members_by_room, room);
  if (users != NULL)
    return users;

  /* ORDER BY uses SQLite's BINARY collation: the strcmp() order that
   * the lookups below search in. */
  stmt = prepare (self, "SELECT user FROM members WHERE room = ? ORDER BY user;");
  if (stmt == NULL)
    return NULL;
  bind_text (stmt, 1, room);
  users = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ref_string_release);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (users, g_ref_string_new ((const char *) sqlite3_column_text (stmt, 0)));
  if (rc != SQLITE_DONE || users->len == 0)
    {
      if (rc != SQLITE_DONE)
        g_warning ("store: members of %s: %s", room, sqlite3_errmsg (self->db));
      g_ptr_array_unref (users);
      return NULL;
    }
  g_hash_table_insert (self->members_by_room, g_strdup (room), users);
  return users;
}

/* Where @user is in the sorted @users, or where it would go. */
static guint
find_user (GPtrArray  *users,
           const char *user,
           gboolean   *found)
{
  guint low = 0, high = users->len;

  *found = FALSE;
  while (low < high)
    {
      guint mid = low + (high - low) / 2;
      int cmp = strcmp (user, g_ptr_array_index (users, mid));

      if (cmp == 0)
        {
          *found = TRUE;
          return mid;
        }
      if (cmp < 0)
        high = mid;
      else
        low = mid + 1;
    }
  return low;
}

/* After a join or leave the database committed: a cached list is replaced
 * by a copy with @user added or removed (a list handed out before stays
 * as it was), rather than dropped and read again, which for a room that
 * everybody is in (general) meant thousands of rows at every join. */
static void
update_cached_members (NatterSqliteStore *self,
                       const char        *room,
                       const char        *user,
                       gboolean           joined)
{
  GPtrArray *users = self->members_by_room != NULL
                     ? g_hash_table_lookup (self->members_by_room, room) : NULL;
  GPtrArray *updated;
  gboolean found;
  guint at, i;

  if (users == NULL)
    return;
  at = find_user (users, user, &found);
  if (found == joined)
    return;

  updated = g_ptr_array_new_full (users->len + 1, (GDestroyNotify) g_ref_string_release);
  for (i = 0; i < users->len; i++)
    {
      if (i == at && joined)
        g_ptr_array_add (updated, g_ref_string_new (user));
      if (i != at || joined)
        g_ptr_array_add (updated, g_ref_string_acquire (g_ptr_array_index (users, i)));
    }
  if (joined && at == users->len)
    g_ptr_array_add (updated, g_ref_string_new (user));
  g_hash_table_insert (self->members_by_room, g_strdup (room), updated);
}

/* With synchronous=FULL, a commit made between these two does not wait
 * for the disk: the caller has sync_async() fsync the WAL off the main
 * loop and answers after that. Every other write stays fsync-safe at its
 * own commit. */
static gboolean
begin_unsynced (NatterSqliteStore  *self,
                NatterStoreSync     sync,
                GError            **error)
{
  return !self->synchronous_full || sync == NATTER_STORE_SYNC_NOW ||
         exec (self, "PRAGMA synchronous=NORMAL;", error);
}

static void
end_unsynced (NatterSqliteStore *self,
              NatterStoreSync    sync)
{
  g_autoptr(GError) error = NULL;

  /* Should this ever fail, later synced writes would not be: say so. */
  if (self->synchronous_full && sync == NATTER_STORE_SYNC_LATER &&
      !exec (self, "PRAGMA synchronous=FULL;", &error))
    g_critical ("store: back to synchronous=FULL: %s", error->message);
}

/* One statement with @room and @user bound, committed as @sync says;
 * returns whether it changed a row, or FALSE with @error set. */
static gboolean
change_membership (NatterSqliteStore  *self,
                   const char         *sql,
                   const char         *room,
                   const char         *user,
                   NatterStoreSync     sync,
                   GError            **error)
{
  g_autoptr(NatterStmt) stmt = prepare (self, sql);
  gboolean changed;
  int rc;

  if (stmt == NULL)
    return set_sqlite_error (self, error, "membership");
  bind_text (stmt, 1, room);
  bind_text (stmt, 2, user);
  if (sqlite3_bind_parameter_count (stmt) == 3)
    sqlite3_bind_int64 (stmt, 3, now_ms ());

  if (!begin_unsynced (self, sync, error))
    return FALSE;
  rc = sqlite3_step (stmt);
  /* The error and the count before the PRAGMA below replaces them. */
  if (rc != SQLITE_DONE)
    set_sqlite_error (self, error, "membership");
  changed = rc == SQLITE_DONE && sqlite3_changes (self->db) > 0;
  end_unsynced (self, sync);
  return changed;
}

static gboolean
natter_sqlite_store_add_member (NatterStore      *store,
                                const char       *room,
                                const char       *user,
                                NatterStoreSync   sync,
                                GError          **error)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);

  if (!change_membership (self, "INSERT OR IGNORE INTO members (room, user, joined) VALUES (?, ?, ?);",
                          room, user, sync, error))
    return FALSE;
  update_cached_members (self, room, user, TRUE);
  return TRUE;
}

static gboolean
natter_sqlite_store_remove_member (NatterStore      *store,
                                   const char       *room,
                                   const char       *user,
                                   NatterStoreSync   sync,
                                   GError          **error)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);

  if (!change_membership (self, "DELETE FROM members WHERE room = ? AND user = ?;",
                          room, user, sync, error))
    return FALSE;
  update_cached_members (self, room, user, FALSE);
  return TRUE;
}

static gboolean
natter_sqlite_store_is_member (NatterStore *store,
                               const char  *room,
                               const char  *user)
{
  GPtrArray *users = cached_members (NATTER_SQLITE_STORE (store), room);
  gboolean found = FALSE;

  if (users != NULL)
    find_user (users, user, &found);
  return found;
}

static GPtrArray *
natter_sqlite_store_list_members (NatterStore *store,
                                  const char  *room)
{
  GPtrArray *users = cached_members (NATTER_SQLITE_STORE (store), room);

  return users != NULL ? g_ptr_array_ref (users) : g_ptr_array_new ();
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static GPtrArray *
natter_sqlite_store_list_peers (NatterStore *store,
                                const char  *user)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  g_autoptr(GPtrArray) rooms = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GHashTable) seen = NULL;
  g_autoptr(NatterStmt) stmt = prepare (self, "SELECT room FROM members WHERE user = ?;");
  GPtrArray *peers;
  guint i, j;

  if (stmt == NULL)
    return g_ptr_array_new ();
  bind_text (stmt, 1, user);
  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_ptr_array_add (rooms, g_strdup ((const char *) sqlite3_column_text (stmt, 0)));

  /* In one room only (everybody starts in general): its list as it is. */
  if (rooms->len == 1)
    {
      GPtrArray *members = cached_members (self, g_ptr_array_index (rooms, 0));

      return members != NULL ? g_ptr_array_ref (members) : g_ptr_array_new ();
    }

  seen = g_hash_table_new (g_str_hash, g_str_equal);
  peers = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ref_string_release);
  for (i = 0; i < rooms->len; i++)
    {
      GPtrArray *members = cached_members (self, g_ptr_array_index (rooms, i));

      for (j = 0; members != NULL && j < members->len; j++)
        {
          char *member = g_ptr_array_index (members, j);

          if (g_hash_table_add (seen, member))
            g_ptr_array_add (peers, g_ref_string_acquire (member));
        }
    }
  g_ptr_array_sort (peers, compare_names);
  return peers;
}

static NatterChatMessage *
message_from_row (sqlite3_stmt *stmt)
{
  NatterChatMessage *message = natter_chat_message_new ();
  const char *file_json = (const char *) sqlite3_column_text (stmt, 6);

  message->room = g_strdup ((const char *) sqlite3_column_text (stmt, 0));
  message->seq = sqlite3_column_int64 (stmt, 1);
  message->ts = sqlite3_column_int64 (stmt, 2);
  message->from = g_strdup ((const char *) sqlite3_column_text (stmt, 3));
  message->cid = g_strdup ((const char *) sqlite3_column_text (stmt, 4));
  message->text = g_strdup ((const char *) sqlite3_column_text (stmt, 5));

  if (file_json != NULL)
    {
      g_autoptr(JsonNode) node = json_from_string (file_json, NULL);

      if (node != NULL && JSON_NODE_HOLDS_OBJECT (node))
        message->file = natter_chat_file_from_json (json_node_get_object (node), NULL);
    }

  return message;
}

#define MESSAGE_COLUMNS "room, seq, ts, sender, cid, text, file_json"

static char *
file_to_json (const NatterChatFile *file)
{
  g_autoptr(JsonNode) node = NULL;

  if (file == NULL)
    return NULL;
  node = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (node, natter_chat_file_to_json (file));
  return json_to_string (node, FALSE);
}

/* One message inside the caller's transaction: the dedupe check, the
 * room's next seq and the insert, so seqs stay gap-free and (from, cid)
 * unique. Rows inserted earlier in the same transaction are visible to
 * the check, so a cid repeated within one batch is a duplicate too.
 * FALSE (with @error) means the transaction must be rolled back. */
static gboolean
insert_one (NatterSqliteStore     *self,
            NatterChatMessage     *message,
            NatterStoreAddResult  *result,
            GError               **error)
{
  g_autoptr(NatterStmt) find = NULL;
  g_autoptr(NatterStmt) bump = NULL;
  g_autoptr(NatterStmt) insert = NULL;
  g_autofree char *file_json = file_to_json (message->file);
  int rc;

  find = prepare (self, "SELECT " MESSAGE_COLUMNS " FROM messages WHERE sender = ? AND cid = ?;");
  if (find == NULL)
    return set_sqlite_error (self, error, "add message");
  bind_text (find, 1, message->from);
  bind_text (find, 2, message->cid);
  rc = sqlite3_step (find);
  if (rc == SQLITE_ROW)
    {
      g_autoptr(NatterChatMessage) old = message_from_row (find);

      g_free (message->room);
      message->room = g_strdup (old->room);
      message->seq = old->seq;
      message->ts = old->ts;
      g_free (message->text);
      message->text = g_strdup (old->text);
      *result = NATTER_STORE_DUPLICATE;
      return TRUE;
    }
  if (rc != SQLITE_DONE)
    return set_sqlite_error (self, error, "add message");

  bump = prepare (self, "UPDATE rooms SET last_seq = last_seq + 1 WHERE name = ? RETURNING last_seq;");
  if (bump == NULL)
    return set_sqlite_error (self, error, "add message");
  bind_text (bump, 1, message->room);
  rc = sqlite3_step (bump);
  if (rc == SQLITE_DONE)
    {
      *result = NATTER_STORE_NO_ROOM;
      return TRUE;
    }
  if (rc != SQLITE_ROW)
    return set_sqlite_error (self, error, "add message");
  message->seq = sqlite3_column_int64 (bump, 0);
  /* RETURNING finishes its write only when the statement is run to the end. */
  if (sqlite3_step (bump) != SQLITE_DONE)
    return set_sqlite_error (self, error, "add message");

  insert = prepare (self, "INSERT INTO messages (" MESSAGE_COLUMNS ") VALUES (?, ?, ?, ?, ?, ?, ?);");
  if (insert == NULL)
    return set_sqlite_error (self, error, "add message");
  message->ts = now_ms ();
  bind_text (insert, 1, message->room);
  sqlite3_bind_int64 (insert, 2, message->seq);
  sqlite3_bind_int64 (insert, 3, message->ts);
  bind_text (insert, 4, message->from);
  bind_text (insert, 5, message->cid);
  bind_text (insert, 6, message->text);
  bind_text (insert, 7, file_json);
  if (sqlite3_step (insert) != SQLITE_DONE)
    return set_sqlite_error (self, error, "add message");

  *result = NATTER_STORE_ADDED;
  return TRUE;
}

static gboolean
natter_sqlite_store_add_messages (NatterStore           *store,
                                  NatterChatMessage    **messages,
                                  guint                  n,
                                  NatterStoreAddResult  *results,
                                  GError               **error)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  guint i, added = 0;

  if (n == 0)
    return TRUE;

  /* The whole batch is one transaction: one commit however many messages
   * it holds; and if anything fails (a full disk fails at COMMIT), none of
   * them is stored. With synchronous=FULL the commit itself does not wait
   * for the disk: sync_async() fsyncs the WAL off the main loop, and the
   * caller answers only after that (so an fsync serves several batches). */
  if (!begin_unsynced (self, NATTER_STORE_SYNC_LATER, error))
    return FALSE;
  if (!exec (self, "BEGIN IMMEDIATE;", error))
    {
      end_unsynced (self, NATTER_STORE_SYNC_LATER);
      return FALSE;
    }

  for (i = 0; i < n; i++)
    {
      if (!insert_one (self, messages[i], &results[i], error))
        {
          exec (self, "ROLLBACK;", NULL);
          end_unsynced (self, NATTER_STORE_SYNC_LATER);
          return FALSE;
        }
      if (results[i] == NATTER_STORE_ADDED)
        added++;
    }

  if (!exec (self, "COMMIT;", error))
    {
      /* SQLite may have rolled back already; then this fails, harmlessly. */
      exec (self, "ROLLBACK;", NULL);
      end_unsynced (self, NATTER_STORE_SYNC_LATER);
      return FALSE;
    }
  end_unsynced (self, NATTER_STORE_SYNC_LATER);

  self->n_messages += added;
  return TRUE;
}

/* In a worker thread: fdatasync of the WAL, through a descriptor of our
 * own (fsync works on the file, whoever opened it), so that the main
 * loop's SQLite connection is never touched here. A commit's frames are
 * in the WAL until a checkpoint has copied them into the database file
 * and synced it, so once this returns, every earlier commit is on disk. */
static void
sync_thread (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  const char *wal_path = task_data;
  int fd = open (wal_path, O_RDONLY | O_CLOEXEC);
  int errsv;

  if (fd < 0 && errno == ENOENT)
    {
      /* No WAL: folded back into the database at close, synced then. */
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (fd < 0 || fdatasync (fd) != 0)
    {
      errsv = errno;
      if (fd >= 0)
        close (fd);
      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (errsv),
                               "sync %s: %s", wal_path, g_strerror (errsv));
      return;
    }
  close (fd);
  g_task_return_boolean (task, TRUE);
}

static void
natter_sqlite_store_sync_async (NatterStore         *store,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, natter_sqlite_store_sync_async);
  if (!self->synchronous_full)
    {
      /* synchronous=normal: durable at the next checkpoint, by choice. */
      g_task_return_boolean (task, TRUE);
      return;
    }
  g_task_set_task_data (task, g_strconcat (self->path, "-wal", NULL), g_free);
  g_task_run_in_thread (task, sync_thread);
}

static gboolean
natter_sqlite_store_sync_finish (NatterStore   *store,
                                 GAsyncResult  *result,
                                 GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static gboolean
natter_sqlite_store_add_message (NatterStore        *store,
                                 NatterChatMessage  *message,
                                 gboolean           *duplicate,
                                 GError            **error)
{
  NatterStoreAddResult result = NATTER_STORE_ADDED;

  *duplicate = FALSE;
  if (!natter_sqlite_store_add_messages (store, &message, 1, &result, error))
    return FALSE;

  if (result == NATTER_STORE_NO_ROOM)
    {
      g_set_error (error, NATTER_STORE_ERROR, NATTER_STORE_ERROR_NOT_FOUND,
                   "no room %s", message->room);
      return FALSE;
    }
  *duplicate = result == NATTER_STORE_DUPLICATE;
  return TRUE;
}

static GPtrArray *
natter_sqlite_store_get_history (NatterStore  *store,
                                 const char   *room,
                                 gint64        before,
                                 gint64        after,
                                 guint         limit,
                                 gboolean     *more,
                                 GError      **error)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (store);
  GPtrArray *messages = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_chat_message_free);
  g_autoptr(NatterStmt) stmt = NULL;
  /* after given: oldest first from there (catching up); otherwise the
   * newest page below @before, reversed at the end. */
  gboolean ascending = after > 0;

  stmt = prepare (self,
                  ascending
                  ? "SELECT " MESSAGE_COLUMNS " FROM messages WHERE room = ?1 AND seq > ?2 AND seq < ?3"
                    " ORDER BY seq ASC LIMIT ?4;"
                  : "SELECT " MESSAGE_COLUMNS " FROM messages WHERE room = ?1 AND seq > ?2 AND seq < ?3"
                    " ORDER BY seq DESC LIMIT ?4;");
  if (stmt == NULL)
    {
      set_sqlite_error (self, error, "history");
      g_ptr_array_unref (messages);
      return NULL;
    }

  bind_text (stmt, 1, room);
  sqlite3_bind_int64 (stmt, 2, MAX (after, 0));
  sqlite3_bind_int64 (stmt, 3, before > 0 ? before : G_MAXINT64);
  sqlite3_bind_int64 (stmt, 4, (gint64) limit + 1);

  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_ptr_array_add (messages, message_from_row (stmt));

  *more = messages->len > limit;
  if (*more)
    g_ptr_array_set_size (messages, limit);

  if (!ascending)
    {
      guint i;

      for (i = 0; i < messages->len / 2; i++)
        {
          gpointer tmp = messages->pdata[i];

          messages->pdata[i] = messages->pdata[messages->len - 1 - i];
          messages->pdata[messages->len - 1 - i] = tmp;
        }
    }

  return messages;
}

static guint64
natter_sqlite_store_count_messages (NatterStore *store)
{
  return NATTER_SQLITE_STORE (store)->n_messages;
}

static void
natter_sqlite_store_iface_init (NatterStoreInterface *iface)
{
  iface->open = natter_sqlite_store_open;
  iface->close = natter_sqlite_store_close;
  iface->add_user = natter_sqlite_store_add_user;
  iface->get_password_hash = natter_sqlite_store_get_password_hash;
  iface->add_token = natter_sqlite_store_add_token;
  iface->lookup_token = natter_sqlite_store_lookup_token;
  iface->remove_token = natter_sqlite_store_remove_token;
  iface->get_room = natter_sqlite_store_get_room;
  iface->add_room = natter_sqlite_store_add_room;
  iface->list_rooms = natter_sqlite_store_list_rooms;
  iface->count_rooms = natter_sqlite_store_count_rooms;
  iface->add_member = natter_sqlite_store_add_member;
  iface->remove_member = natter_sqlite_store_remove_member;
  iface->is_member = natter_sqlite_store_is_member;
  iface->list_members = natter_sqlite_store_list_members;
  iface->list_peers = natter_sqlite_store_list_peers;
  iface->add_message = natter_sqlite_store_add_message;
  iface->add_messages = natter_sqlite_store_add_messages;
  iface->sync_async = natter_sqlite_store_sync_async;
  iface->sync_finish = natter_sqlite_store_sync_finish;
  iface->get_history = natter_sqlite_store_get_history;
  iface->count_messages = natter_sqlite_store_count_messages;
}

static void
natter_sqlite_store_finalize (GObject *object)
{
  NatterSqliteStore *self = NATTER_SQLITE_STORE (object);

  natter_sqlite_store_close (NATTER_STORE (self));
  g_mutex_clear (&self->checkpoint_lock);
  g_free (self->path);

  G_OBJECT_CLASS (natter_sqlite_store_parent_class)->finalize (object);
}

static void
natter_sqlite_store_class_init (NatterSqliteStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = natter_sqlite_store_finalize;
}

static void
natter_sqlite_store_init (NatterSqliteStore *self)
{
  g_mutex_init (&self->checkpoint_lock);
  self->closed = TRUE;
}

NatterStore *
natter_sqlite_store_new_full (const char *path,
                              gboolean    synchronous_full)
{
  NatterSqliteStore *self;

  g_return_val_if_fail (path != NULL, NULL);

  self = g_object_new (NATTER_TYPE_SQLITE_STORE, NULL);
  self->path = g_strdup (path);
  self->synchronous_full = !!synchronous_full;
  return NATTER_STORE (self);
}

NatterStore *
natter_sqlite_store_new (const char *path)
{
  return natter_sqlite_store_new_full (path, TRUE);
}
