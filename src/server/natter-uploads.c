/* natter-uploads.c: tus 1.0 core + creation for chat files. A PATCH body is
 * never accumulated: natter_uploads_claim_message() turns accumulation off
 * at "got-headers", and then takes an accepted PATCH's connection from
 * libsoup to read its body in 1 MiB blocks (a chunked one stays with
 * libsoup, "got-chunk" by "got-chunk"). The bytes go to
 * <data-dir>/uploads/ID.part and into a running SHA-256 in a writer
 * thread, so completing an upload costs a rename, not a pass over the file.
 * Before the rename the file is fsynced, and the directory after it, and
 * then files.db marks the upload complete with a synced commit, all in a
 * worker thread: a file the server acknowledged survives a power cut, and
 * the main loop never waits for the disk for it.
 *
 * The metadata lives in its own small SQLite database, <data-dir>/files.db,
 * rather than in NatterStore: uploads are a separate concern with their own
 * life cycle (expiry, quotas, the hash state of half-done uploads), the
 * NatterStore interface stays about chat, and a future PostgreSQL store for
 * chat does not have to carry blob bookkeeping that is local to one
 * machine's disk anyway. Membership and tokens still come from NatterStore. */
#define _GNU_SOURCE 1   /* sync_file_range */
#include "natter-uploads.h"
#include "natter-tus-headers.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <nettle/sha2.h>
#include <sodium.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "natter-auth.h"
#include "natter-http-api.h"
#include "natter-server-private.h"

#define TUS_VERSION        "1.0.0"
#define ID_ALPHABET        "abcdefghijklmnopqrstuvwxyz0123456789"
#define ID_LENGTH          24
#define WRITE_BUFFER_BYTES (256 * 1024)
#define SAVE_INTERVAL_BYTES (G_GUINT64_CONSTANT (64) * 1024 * 1024)
#define WRITEBACK_BYTES    (8 * 1024 * 1024)
#define MAX_QUEUED_BYTES   (8 * 1024 * 1024)
#define MAX_IOV            64
#define SWEEP_INTERVAL_S   3600
#define IDLE_CHECK_S       5

struct _NatterUploads
{
  GObject      parent_instance;

  NatterStore *store;
  sqlite3     *db;
  char        *db_path;
  char        *uploads_dir;
  char        *files_dir;
  guint64      max_file_bytes;
  guint64      user_quota_bytes;
  gint64       expiry_ms;
  gint64       idle_timeout_us;

  GHashTable  *active;     /* id → Patch, the uploads with a PATCH in flight */
  guint        sweep_id;
  guint        idle_id;
};

G_DEFINE_FINAL_TYPE (NatterUploads, natter_uploads, G_TYPE_OBJECT)

/* One PATCH in flight: decided at "got-headers", fed by "got-chunk",
 * answered by the handler, saved at "finished". */
typedef struct
{
  NatterUploads     *self;        /* not owned; the Patch dies first */
  SoupServerMessage *msg;         /* not owned */
  char              *id;
  int                fd;
  guint64            offset;      /* bytes received, buffered ones included */
  guint64            length;
  GPtrArray         *batch;       /* GBytes as libsoup gave them: no copy */
  gsize              batch_bytes;
  struct sha256_ctx  sha;
  gint64             last_activity;
  gboolean           registered;  /* in self->active */
  gboolean           completing;  /* the last byte came; being made durable */
  gboolean           answer_waits; /* libsoup's handler paused for that */
  gboolean           completed;
  char              *sha256;
  guint64            saved_offset;  /* where the saved hash state is */

  /* The writer thread writes the buffers to the file and hashes them, so
   * that SHA-256 runs beside the network I/O; ->sha and ->disk_offset are
   * its own while it runs (patch_drain() joins it). */
  GThread           *writer;
  GAsyncQueue       *queue;         /* batches (GPtrArray of GBytes), then &writer_stop */
  GMutex             lock;
  GCond              drained;
  gsize              queued;        /* bytes handed over, not yet written */
  guint64            disk_offset;   /* bytes in the file (and in ->sha) */
  guint64            writeback_offset; /* the disk was asked to write up to here */
  /* Every SAVE_INTERVAL_BYTES the writer leaves a copy of its hash state
   * here (under ->lock) for the main thread to save, so that saving never
   * waits for the writer. */
  struct sha256_ctx  snapshot_sha;
  guint64            snapshot_offset;
  gboolean           snapshot_ready;
  int                write_failed;  /* atomic */
  int                write_errno;

  guint              status;      /* nonzero: the answer is an error */
  char              *error_code;
  char              *error_message;

  /* A PATCH with a Content-Length is taken from libsoup after its headers
   * (see patch_take_connection): its body is read here, 1 MiB at a time,
   * and the answer written by hand. The Patch then belongs to the one
   * operation in flight on ->stream, whose callback frees it at the end. */
  GIOStream         *stream;
  GSocket           *socket;
  GCancellable      *cancellable;
  guint64            body_left;
  char              *answer;
  struct _Block     *reading;     /* the block the read in flight fills */
  GAsyncQueue       *spare;       /* blocks back from the writer, for reuse */
} Patch;

static void patch_release (Patch *patch);

/* ---- small helpers ---------------------------------------------------------------- */

void
natter_uploads_file_free (NatterUploadsFile *file)
{
  if (file == NULL)
    return;
  g_free (file->id);
  g_free (file->owner);
  g_free (file->room);
  g_free (file->filename);
  g_free (file->mime);
  g_free (file->sha256);
  g_free (file->path);
  g_free (file);
}

gboolean
natter_uploads_id_is_valid (const char *id)
{
  gsize i;

  if (id == NULL || strlen (id) != ID_LENGTH)
    return FALSE;
  for (i = 0; i < ID_LENGTH; i++)
    if (strchr (ID_ALPHABET, id[i]) == NULL || id[i] == '\0')
      return FALSE;
  return TRUE;
}

static char *
new_id (void)
{
  char *id = g_malloc (ID_LENGTH + 1);
  gsize i;

  /* 24 of 36 symbols: 124 bits, unguessable; the alphabet has no '/' or '.'. */
  for (i = 0; i < ID_LENGTH; i++)
    id[i] = ID_ALPHABET[randombytes_uniform (sizeof ID_ALPHABET - 1)];
  id[ID_LENGTH] = '\0';
  return id;
}

static char *
part_path (NatterUploads *self,
           const char    *id)
{
  g_autofree char *name = g_strconcat (id, ".part", NULL);

  g_assert (natter_uploads_id_is_valid (id));
  return g_build_filename (self->uploads_dir, name, NULL);
}

static char *
blob_path (NatterUploads *self,
           const char    *sha256)
{
  char prefix[3] = { sha256[0], sha256[1], '\0' };

  return g_build_filename (self->files_dir, prefix, sha256 + 2, NULL);
}

static void
set_tus_headers (SoupServerMessage *msg)
{
  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Tus-Resumable", TUS_VERSION);
}

static void
reply_error (SoupServerMessage *msg,
             guint              status,
             const char        *code,
             const char        *message)
{
  set_tus_headers (msg);
  natter_http_reply_error (msg, status, code, message);
}

static gboolean
check_tus_resumable (SoupServerMessage *msg)
{
  const char *version = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                      "Tus-Resumable");

  if (g_strcmp0 (version, TUS_VERSION) == 0)
    return TRUE;

  soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                "Tus-Version", TUS_VERSION);
  reply_error (msg, SOUP_STATUS_PRECONDITION_FAILED, "bad_request",
               "Tus-Resumable: 1.0.0 is required");
  return FALSE;
}

static const char *
id_from_path (const char *path)
{
  static const char prefix[] = "/api/v1/uploads/";

  if (!g_str_has_prefix (path, prefix))
    return NULL;
  return path + strlen (prefix);
}

char *
natter_uploads_authenticate (NatterUploads     *self,
                             SoupServerMessage *msg)
{
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Authorization");
  g_autofree char *token_hash = NULL;

  g_return_val_if_fail (NATTER_IS_UPLOADS (self), NULL);

  if (header == NULL || g_ascii_strncasecmp (header, "Bearer ", 7) != 0)
    return NULL;
  header += 7;
  while (*header == ' ')
    header++;
  if (*header == '\0' || strlen (header) > 256)
    return NULL;

  token_hash = natter_auth_hash_token (header);
  return natter_store_lookup_token (self->store, token_hash);
}

NatterStore *
natter_uploads_get_store (NatterUploads *self)
{
  g_return_val_if_fail (NATTER_IS_UPLOADS (self), NULL);
  return self->store;
}

/* ---- the database ------------------------------------------------------------------ */

static gboolean
db_exec (NatterUploads  *self,
         const char     *sql,
         GError        **error)
{
  char *message = NULL;

  if (sqlite3_exec (self->db, sql, NULL, NULL, &message) == SQLITE_OK)
    return TRUE;
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "files.db: %s", message);
  sqlite3_free (message);
  return FALSE;
}

static sqlite3_stmt *
db_prepare (NatterUploads *self,
            const char    *sql)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      g_warning ("files.db: %s: %s", sql, sqlite3_errmsg (self->db));
      return NULL;
    }
  return stmt;
}

static void
stmt_finalize (sqlite3_stmt *stmt)
{
  sqlite3_finalize (stmt);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, stmt_finalize)

typedef struct
{
  char    *owner;
  char    *room;
  char    *filename;
  char    *mime;
  guint64  length;
  gint64   created;
  char    *sha256;       /* NULL while unfinished */
  GBytes  *hash_state;   /* NULL: none saved */
  guint64  hash_offset;
} UploadRow;

static void
upload_row_free (UploadRow *row)
{
  g_free (row->owner);
  g_free (row->room);
  g_free (row->filename);
  g_free (row->mime);
  g_free (row->sha256);
  g_clear_pointer (&row->hash_state, g_bytes_unref);
  g_free (row);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UploadRow, upload_row_free)

static char *
column_strdup (sqlite3_stmt *stmt,
               int           column)
{
  return g_strdup ((const char *) sqlite3_column_text (stmt, column));
}

static UploadRow *
db_get_upload (NatterUploads *self,
               const char    *id)
{
  g_autoptr(sqlite3_stmt) stmt =
    db_prepare (self, "SELECT owner, room, filename, mime, length, created, sha256,"
                      " hash_state, hash_offset FROM uploads WHERE id = ?");
  UploadRow *row;

  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return NULL;

  row = g_new0 (UploadRow, 1);
  row->owner = column_strdup (stmt, 0);
  row->room = column_strdup (stmt, 1);
  row->filename = column_strdup (stmt, 2);
  row->mime = column_strdup (stmt, 3);
  row->length = sqlite3_column_int64 (stmt, 4);
  row->created = sqlite3_column_int64 (stmt, 5);
  row->sha256 = column_strdup (stmt, 6);
  if (sqlite3_column_type (stmt, 7) == SQLITE_BLOB)
    row->hash_state = g_bytes_new (sqlite3_column_blob (stmt, 7), sqlite3_column_bytes (stmt, 7));
  row->hash_offset = sqlite3_column_int64 (stmt, 8);
  return row;
}

static void
db_save_hash_state (NatterUploads           *self,
                    const char              *id,
                    const struct sha256_ctx *sha,
                    guint64                  offset)
{
  g_autoptr(sqlite3_stmt) stmt =
    db_prepare (self, "UPDATE uploads SET hash_state = ?, hash_offset = ? WHERE id = ?");

  if (stmt == NULL)
    return;
  sqlite3_bind_blob (stmt, 1, sha, sizeof *sha, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 2, offset);
  sqlite3_bind_text (stmt, 3, id, -1, SQLITE_TRANSIENT);
  if (sqlite3_step (stmt) != SQLITE_DONE)
    g_warning ("files.db: saving the hash state: %s", sqlite3_errmsg (self->db));
}

/* Marks upload @id complete in files.db, durably: the upload is answered
 * after this, so this one commit is synced (synchronous=FULL), as the file
 * was before it. It goes through a connection of its own, so that it can
 * run in the completion's worker thread instead of holding the main loop
 * for the sync. The main connection's commits stay NORMAL: with the file's
 * data synced already, this sync is short, where a sync of every
 * hash-state save would wait on the upload's dirty pages (ext4 orders them
 * into the same journal commit). Thread-safe. */
static gboolean
mark_completed (const char  *db_path,
                const char  *id,
                const char  *sha256,
                GError     **error)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gboolean done = FALSE;

  if (sqlite3_open_v2 (db_path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
      sqlite3_busy_timeout (db, 5000) == SQLITE_OK &&
      sqlite3_exec (db, "PRAGMA synchronous=FULL", NULL, NULL, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2 (db, "UPDATE uploads SET sha256 = ?, completed = ?, hash_state = NULL"
                              " WHERE id = ?", -1, &stmt, NULL) == SQLITE_OK)
    {
      sqlite3_bind_text (stmt, 1, sha256, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 2, g_get_real_time () / 1000);
      sqlite3_bind_text (stmt, 3, id, -1, SQLITE_TRANSIENT);
      done = sqlite3_step (stmt) == SQLITE_DONE;
    }
  if (!done)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "files.db: %s",
                 db != NULL ? sqlite3_errmsg (db) : "cannot open");
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return done;
}

/* Bytes @user has on this server or has announced: finished uploads and
 * the full length of unfinished ones (so that parallel uploads cannot
 * overshoot the quota). */
static guint64
db_user_usage (NatterUploads *self,
               const char    *user)
{
  g_autoptr(sqlite3_stmt) stmt =
    db_prepare (self, "SELECT COALESCE(SUM(length), 0) FROM uploads WHERE owner = ?");

  if (stmt == NULL)
    return G_MAXUINT64;
  sqlite3_bind_text (stmt, 1, user, -1, SQLITE_TRANSIENT);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return G_MAXUINT64;
  return sqlite3_column_int64 (stmt, 0);
}

static const char schema[] =
  "CREATE TABLE IF NOT EXISTS uploads ("
  "  id TEXT PRIMARY KEY NOT NULL,"
  "  owner TEXT NOT NULL,"
  "  room TEXT NOT NULL,"
  "  filename TEXT NOT NULL,"
  "  mime TEXT NOT NULL,"
  "  length INTEGER NOT NULL,"
  "  created INTEGER NOT NULL,"      /* ms since the epoch */
  "  hash_state BLOB,"               /* a nettle sha256_ctx at hash_offset */
  "  hash_offset INTEGER NOT NULL DEFAULT 0,"
  "  sha256 TEXT,"                   /* hex; set when finished */
  "  completed INTEGER);"            /* ms; NULL while unfinished */
  "CREATE INDEX IF NOT EXISTS uploads_owner ON uploads(owner);"
  "CREATE INDEX IF NOT EXISTS uploads_unfinished ON uploads(created) WHERE completed IS NULL;";

/* ---- the object ---------------------------------------------------------------------- */

static void
natter_uploads_dispose (GObject *object)
{
  NatterUploads *self = NATTER_UPLOADS (object);

  g_clear_handle_id (&self->sweep_id, g_source_remove);
  g_clear_handle_id (&self->idle_id, g_source_remove);

  /* The server is going: what PATCHes in flight received is saved now
   * (bytes and hash state), and they stop writing. */
  if (self->active != NULL)
    {
      g_autoptr(GList) patches = g_hash_table_get_values (self->active);
      GList *l;

      for (l = patches; l != NULL; l = l->next)
        {
          Patch *patch = l->data;

          patch_release (patch);
          /* A connection taken from libsoup is closed here; its pending
           * operation then ends and frees the Patch. */
          if (patch->cancellable != NULL)
            g_cancellable_cancel (patch->cancellable);
        }
    }

  G_OBJECT_CLASS (natter_uploads_parent_class)->dispose (object);
}

static void
natter_uploads_finalize (GObject *object)
{
  NatterUploads *self = NATTER_UPLOADS (object);

  g_clear_pointer (&self->active, g_hash_table_unref);
  g_clear_pointer (&self->db, sqlite3_close);
  g_clear_object (&self->store);
  g_free (self->db_path);
  g_free (self->uploads_dir);
  g_free (self->files_dir);

  G_OBJECT_CLASS (natter_uploads_parent_class)->finalize (object);
}

static void
natter_uploads_class_init (NatterUploadsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_uploads_dispose;
  object_class->finalize = natter_uploads_finalize;
}

static void
natter_uploads_init (NatterUploads *self)
{
  self->active = g_hash_table_new (g_str_hash, g_str_equal);
}

static gboolean
sweep_cb (gpointer user_data)
{
  NatterUploads *self = user_data;

  natter_uploads_expire (self, g_get_real_time () / 1000);
  return G_SOURCE_CONTINUE;
}

static gboolean
idle_check_cb (gpointer user_data)
{
  NatterUploads *self = user_data;
  gint64 now = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer value;

  /* The server's request timeout is lifted for uploads (they may take
   * hours); a PATCH that stops sending is cut here instead. */
  g_hash_table_iter_init (&iter, self->active);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Patch *patch = value;
      GSocket *socket;

      if (now - patch->last_activity < self->idle_timeout_us ||
          (patch->msg == NULL && patch->socket == NULL))
        continue;
      socket = patch->msg != NULL ? soup_server_message_get_socket (patch->msg) : patch->socket;
      g_debug ("uploads: %s idle, closing its connection", patch->id);
      if (socket != NULL && !g_socket_is_closed (socket))
        g_socket_shutdown (socket, TRUE, TRUE, NULL);
    }
  return G_SOURCE_CONTINUE;
}

NatterUploads *
natter_uploads_new (NatterStore              *store,
                    const NatterServerConfig *config,
                    const char               *data_dir,
                    GError                  **error)
{
  g_autoptr(NatterUploads) self = NULL;

  g_return_val_if_fail (NATTER_IS_STORE (store), NULL);
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (data_dir != NULL, NULL);

  self = g_object_new (NATTER_TYPE_UPLOADS, NULL);
  self->store = g_object_ref (store);
  self->max_file_bytes = config->max_file_bytes;
  self->user_quota_bytes = config->user_quota_bytes;
  self->expiry_ms = (gint64) config->upload_expiry_s * 1000;
  self->idle_timeout_us = (gint64) MAX (config->handshake_timeout_ms, 30000) * 1000;
  self->uploads_dir = g_build_filename (data_dir, "uploads", NULL);
  self->files_dir = g_build_filename (data_dir, "files", NULL);

  if (g_mkdir_with_parents (self->uploads_dir, 0700) != 0 ||
      g_mkdir_with_parents (self->files_dir, 0700) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "%s: %s", data_dir, g_strerror (saved));
      return NULL;
    }

  self->db_path = g_build_filename (data_dir, "files.db", NULL);
  if (sqlite3_open_v2 (self->db_path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                       NULL) != SQLITE_OK)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s: %s", self->db_path,
                   self->db != NULL ? sqlite3_errmsg (self->db) : "cannot open");
      return NULL;
    }
  sqlite3_busy_timeout (self->db, 1000);
  /* NORMAL: a commit lost in a power cut costs a re-upload at most, except
   * the one that marks an upload complete (mark_completed). */
  if (!db_exec (self, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", error) ||
      !db_exec (self, schema, error))
    return NULL;

  natter_uploads_expire (self, g_get_real_time () / 1000);
  self->sweep_id = g_timeout_add_seconds (SWEEP_INTERVAL_S, sweep_cb, self);
  self->idle_id = g_timeout_add_seconds (IDLE_CHECK_S, idle_check_cb, self);

  return g_steal_pointer (&self);
}

guint
natter_uploads_expire (NatterUploads *self,
                       gint64         now_ms)
{
  g_autoptr(sqlite3_stmt) select = NULL;
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);
  guint i, removed = 0;

  g_return_val_if_fail (NATTER_IS_UPLOADS (self), 0);

  if (self->expiry_ms <= 0)
    return 0;

  select = db_prepare (self, "SELECT id FROM uploads WHERE completed IS NULL AND created < ?");
  if (select == NULL)
    return 0;
  sqlite3_bind_int64 (select, 1, now_ms - self->expiry_ms);
  while (sqlite3_step (select) == SQLITE_ROW)
    g_ptr_array_add (ids, column_strdup (select, 0));

  for (i = 0; i < ids->len; i++)
    {
      const char *id = g_ptr_array_index (ids, i);
      g_autoptr(sqlite3_stmt) delete = NULL;
      g_autofree char *path = NULL;

      if (g_hash_table_contains (self->active, id) || !natter_uploads_id_is_valid (id))
        continue;
      delete = db_prepare (self, "DELETE FROM uploads WHERE id = ?");
      if (delete == NULL)
        continue;
      sqlite3_bind_text (delete, 1, id, -1, SQLITE_TRANSIENT);
      if (sqlite3_step (delete) != SQLITE_DONE)
        continue;
      path = part_path (self, id);
      g_unlink (path);
      removed++;
    }
  if (removed > 0)
    g_message ("uploads: removed %u abandoned upload(s)", removed);
  return removed;
}

NatterUploadsFile *
natter_uploads_lookup_file (NatterUploads *self,
                            const char    *id)
{
  g_autoptr(UploadRow) row = NULL;
  NatterUploadsFile *file;

  g_return_val_if_fail (NATTER_IS_UPLOADS (self), NULL);

  if (!natter_uploads_id_is_valid (id))
    return NULL;
  row = db_get_upload (self, id);
  if (row == NULL || row->sha256 == NULL)
    return NULL;

  file = g_new0 (NatterUploadsFile, 1);
  file->id = g_strdup (id);
  file->owner = g_steal_pointer (&row->owner);
  file->room = g_steal_pointer (&row->room);
  file->filename = g_steal_pointer (&row->filename);
  file->mime = g_steal_pointer (&row->mime);
  file->size = row->length;
  file->path = blob_path (self, row->sha256);
  file->sha256 = g_steal_pointer (&row->sha256);
  return file;
}

/* ---- finishing an upload ------------------------------------------------------------ */

static char *
sha256_hex (struct sha256_ctx *sha)
{
  guint8 digest[SHA256_DIGEST_SIZE];
  char *hex = g_malloc (2 * SHA256_DIGEST_SIZE + 1);
  gsize i;

  sha256_digest (sha, sizeof digest, digest);
  for (i = 0; i < sizeof digest; i++)
    {
      hex[2 * i] = "0123456789abcdef"[digest[i] >> 4];
      hex[2 * i + 1] = "0123456789abcdef"[digest[i] & 0xf];
    }
  hex[2 * SHA256_DIGEST_SIZE] = '\0';
  return hex;
}

/* Sets @error from errno for @path. */
static void
set_errno_error (GError     **error,
                 int          saved,
                 const char  *what,
                 const char  *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s %s: %s", what, path,
               g_strerror (saved));
}

/* Flushes the directory @path itself: a rename into it, or a new entry,
 * survives a power cut only once the directory is on disk. */
static gboolean
sync_directory (const char  *path,
                GError     **error)
{
  int fd = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int saved;

  if (fd < 0)
    {
      set_errno_error (error, errno, "open", path);
      return FALSE;
    }
  if (fsync (fd) != 0)
    {
      saved = errno;
      close (fd);
      set_errno_error (error, saved, "fsync", path);
      return FALSE;
    }
  close (fd);
  return TRUE;
}

/* Makes the finished temp file @from (open as @fd, which this closes) the
 * blob @to, durably: its bytes reach the disk before its name does, then
 * the name (and a new prefix directory) too. If the same content is
 * stored already, the temp file just goes (dedupe). Thread-safe: blocking
 * disk work, run off the main loop for every upload that has bytes. */
static gboolean
store_blob (int          fd,
            const char  *from,
            const char  *to,
            GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (to);
  g_autofree char *files_dir = g_path_get_dirname (dir);
  gboolean new_dir = !g_file_test (dir, G_FILE_TEST_IS_DIR);

  if (fsync (fd) != 0)
    {
      set_errno_error (error, errno, "fsync", from);
      close (fd);
      return FALSE;
    }
  close (fd);

  if (g_mkdir_with_parents (dir, 0700) != 0)
    {
      set_errno_error (error, errno, "mkdir", dir);
      return FALSE;
    }
  if (new_dir && !sync_directory (files_dir, error))
    return FALSE;

  if (g_file_test (to, G_FILE_TEST_EXISTS))
    {
      g_unlink (from);   /* the same bytes are already stored */
      return TRUE;
    }
  if (g_rename (from, to) != 0)
    {
      set_errno_error (error, errno, "rename to", to);
      return FALSE;
    }
  return sync_directory (dir, error);
}

/* Stores the empty file of upload @id at once (no bytes ever came, so
 * nothing is worth a thread) and marks the upload done. Returns the hex
 * SHA-256, newly allocated, or NULL on failure. */
static char *
complete_empty_upload (NatterUploads  *self,
                       const char     *id,
                       GError        **error)
{
  struct sha256_ctx sha;
  g_autofree char *hex = NULL;
  g_autofree char *from = part_path (self, id);
  g_autofree char *to = NULL;
  int fd;

  sha256_init (&sha);
  hex = sha256_hex (&sha);
  to = blob_path (self, hex);
  fd = open (from, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      set_errno_error (error, errno, "open", from);
      return NULL;
    }
  if (!store_blob (fd, from, to, error) || !mark_completed (self->db_path, id, hex, error))
    return NULL;
  return g_steal_pointer (&hex);
}

/* ---- PATCH: streaming -------------------------------------------------------------- */

static void
patch_fail (Patch      *patch,
            guint       status,
            const char *code,
            const char *message)
{
  if (patch->status != 0)
    return;
  patch->status = status;
  patch->error_code = g_strdup (code);
  patch->error_message = g_strdup (message);
}

static int writer_stop;   /* its address ends the writer's queue */

/* Writes @batch at the end of the file (writev, resuming after short
 * writes); returns how many bytes reached it, setting *error_out on failure. */
static gsize
write_batch (int        fd,
             GPtrArray *batch,
             int       *error_out)
{
  gsize written = 0;
  guint first = 0;
  gsize skip = 0;   /* bytes of batch[first] already written */

  while (first < batch->len)
    {
      struct iovec iov[MAX_IOV];
      int n_iov = 0;
      gssize n;
      guint k;

      for (k = first; k < batch->len && n_iov < MAX_IOV; k++, n_iov++)
        {
          gsize size;
          const guint8 *data = g_bytes_get_data (g_ptr_array_index (batch, k), &size);

          iov[n_iov].iov_base = (void *) (data + (k == first ? skip : 0));
          iov[n_iov].iov_len = size - (k == first ? skip : 0);
        }
      n = writev (fd, iov, n_iov);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        {
          *error_out = n < 0 ? errno : ENOSPC;
          return written;
        }
      written += n;
      /* Advance past what was written. */
      while (n > 0 && first < batch->len)
        {
          gsize left = g_bytes_get_size (g_ptr_array_index (batch, first)) - skip;

          if ((gsize) n >= left)
            {
              n -= left;
              first++;
              skip = 0;
            }
          else
            {
              skip += n;
              n = 0;
            }
        }
    }
  return written;
}

static gpointer
writer_thread (gpointer data)
{
  Patch *patch = data;
  gpointer item;

  while ((item = g_async_queue_pop (patch->queue)) != &writer_stop)
    {
      GPtrArray *batch = item;
      gsize total = 0, written = 0, hashed = 0;
      guint k;

      for (k = 0; k < batch->len; k++)
        total += g_bytes_get_size (g_ptr_array_index (batch, k));

      if (!g_atomic_int_get (&patch->write_failed))
        {
          int error = 0;

          written = write_batch (patch->fd, batch, &error);
          if (error != 0)
            {
              patch->write_errno = error;
              g_atomic_int_set (&patch->write_failed, TRUE);
            }
        }
      /* Only what reached the file is hashed: the saved state always
       * matches the bytes on disk. */
      for (k = 0; k < batch->len && hashed < written; k++)
        {
          gsize size;
          const guint8 *bytes = g_bytes_get_data (g_ptr_array_index (batch, k), &size);
          gsize n = MIN (size, written - hashed);

          sha256_update (&patch->sha, n, bytes);
          hashed += n;
        }
      patch->disk_offset += written;
      /* The disk starts on what was written while the rest arrives, so
       * that the fsync at the end (store_blob) waits for a tail, not for
       * the whole file sitting in the page cache. A hint: errors are
       * the fsync's to report. */
      if (patch->disk_offset - patch->writeback_offset >= WRITEBACK_BYTES)
        {
          sync_file_range (patch->fd, patch->writeback_offset,
                           patch->disk_offset - patch->writeback_offset, SYNC_FILE_RANGE_WRITE);
          patch->writeback_offset = patch->disk_offset;
        }

      g_mutex_lock (&patch->lock);
      if (patch->disk_offset - patch->snapshot_offset >= SAVE_INTERVAL_BYTES)
        {
          patch->snapshot_sha = patch->sha;
          patch->snapshot_offset = patch->disk_offset;
          patch->snapshot_ready = TRUE;
        }
      patch->queued -= total;
      g_cond_signal (&patch->drained);
      g_mutex_unlock (&patch->lock);
      g_ptr_array_unref (batch);
    }
  return NULL;
}

/* Hands the batch to the writer thread (started on demand). Waits while
 * more than MAX_QUEUED_BYTES are pending, so a slow disk slows the upload
 * down instead of filling memory. FALSE once a write failed. */
static gboolean
patch_flush (Patch *patch)
{
  gsize size = patch->batch_bytes;

  if (size > 0 && !g_atomic_int_get (&patch->write_failed))
    {
      GPtrArray *batch = g_steal_pointer (&patch->batch);

      if (patch->writer == NULL)
        {
          patch->queue = g_async_queue_new ();
          patch->writer = g_thread_new ("natter-upload", writer_thread, patch);
        }
      patch->batch = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      patch->batch_bytes = 0;

      g_mutex_lock (&patch->lock);
      while (patch->queued > 0 && patch->queued + size > MAX_QUEUED_BYTES)
        g_cond_wait (&patch->drained, &patch->lock);
      patch->queued += size;
      g_mutex_unlock (&patch->lock);
      g_async_queue_push (patch->queue, batch);
    }
  else
    {
      g_ptr_array_set_size (patch->batch, 0);
      patch->batch_bytes = 0;
    }
  return !g_atomic_int_get (&patch->write_failed);
}

/* Writes out everything and stops the writer: ->sha and ->disk_offset are
 * then the main thread's again. On a failed write the offset falls back to
 * what reached the disk and the PATCH fails. */
static gboolean
patch_drain (Patch *patch)
{
  patch_flush (patch);
  if (patch->writer != NULL)
    {
      g_async_queue_push (patch->queue, &writer_stop);
      g_thread_join (patch->writer);
      patch->writer = NULL;
      g_clear_pointer (&patch->queue, g_async_queue_unref);
    }
  if (!g_atomic_int_get (&patch->write_failed))
    return TRUE;

  if (patch->offset != patch->disk_offset)
    {
      g_autofree char *message = g_strdup_printf ("cannot store the upload: %s",
                                                  g_strerror (patch->write_errno));

      g_warning ("uploads: %s: %s", patch->id, g_strerror (patch->write_errno));
      patch->offset = patch->disk_offset;
      patch_fail (patch, patch->write_errno == ENOSPC ? SOUP_STATUS_INSUFFICIENT_STORAGE
                                                      : SOUP_STATUS_INTERNAL_SERVER_ERROR,
                  "internal", message);
    }
  return FALSE;
}

/* Saves what the upload is now: bytes on disk, and the hash state for them
 * so that a resumed upload (even after a restart) need not hash again. */
static void
patch_release (Patch *patch)
{
  if (patch->fd >= 0)
    {
      patch_drain (patch);
      if (patch->self != NULL && !patch->completed)
        db_save_hash_state (patch->self, patch->id, &patch->sha, patch->disk_offset);
      close (patch->fd);
      patch->fd = -1;
    }
  if (patch->registered && patch->self != NULL)
    g_hash_table_remove (patch->self->active, patch->id);
  patch->registered = FALSE;
  patch->msg = NULL;
  /* Patches hold no reference: a message that finishes after the server
   * went must not reach back. */
  patch->self = NULL;
}

static void
patch_free (Patch *patch)
{
  patch_release (patch);
  g_clear_pointer (&patch->batch, g_ptr_array_unref);
  g_mutex_clear (&patch->lock);
  g_cond_clear (&patch->drained);
  g_free (patch->id);
  g_free (patch->sha256);
  g_free (patch->error_code);
  g_free (patch->error_message);
  if (patch->stream != NULL)
    g_io_stream_close (patch->stream, NULL, NULL);
  g_clear_object (&patch->stream);
  g_clear_object (&patch->socket);
  g_clear_object (&patch->cancellable);
  g_free (patch->answer);
  g_free (patch->reading);
  /* The blocks still out (none: the writer is joined, the batch gone)
   * would keep the queue, which frees what it holds when the last goes. */
  g_clear_pointer (&patch->spare, g_async_queue_unref);
  g_free (patch);
}

/* A finished upload on its way into storage (store_blob, then
 * mark_completed, in a thread). */
typedef struct
{
  NatterUploads     *uploads;   /* owned */
  SoupServerMessage *msg;       /* owned, keeps a libsoup-read Patch alive; or NULL */
  Patch             *patch;     /* alive until answered (see patch_stored_cb) */
  int                fd;
  char              *from;
  char              *to;
  char              *hex;
  char              *id;        /* copies, for the thread */
  char              *db_path;
} Completion;

static void
completion_free (Completion *completion)
{
  g_clear_object (&completion->uploads);
  g_clear_object (&completion->msg);
  if (completion->fd >= 0)
    close (completion->fd);
  g_free (completion->from);
  g_free (completion->to);
  g_free (completion->hex);
  g_free (completion->id);
  g_free (completion->db_path);
  g_free (completion);
}

static void
store_blob_thread (GTask        *task,
                   gpointer      source,
                   gpointer      task_data,
                   GCancellable *cancellable)
{
  Completion *completion = task_data;
  GError *error = NULL;
  int fd = completion->fd;

  completion->fd = -1;   /* store_blob closes it */
  if (store_blob (fd, completion->from, completion->to, &error) &&
      mark_completed (completion->db_path, completion->id, completion->hex, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void patch_stream_answer (Patch *patch);
static void patch_reply (SoupServerMessage *msg, Patch *patch);

static void
patch_stored_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  Completion *completion = g_task_get_task_data (G_TASK (result));
  Patch *patch = completion->patch;
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_warning ("uploads: %s: %s", patch->id, error->message);
      patch_fail (patch, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                  "cannot store the finished file");
    }
  else
    {
      patch->sha256 = g_strdup (completion->hex);
      patch->completed = TRUE;
    }
  patch->completing = FALSE;

  /* Only now the client hears that its file is stored. */
  if (patch->stream != NULL)
    patch_stream_answer (patch);
  else if (patch->answer_waits && patch->msg != NULL)
    {
      patch_reply (patch->msg, patch);
      soup_server_message_unpause (patch->msg);
    }
}

/* The last byte came: the writer stops, and the file goes into storage
 * off the main loop (an fsync of a large file takes seconds); the answer
 * waits for it. */
static void
patch_complete (Patch *patch)
{
  g_autoptr(GTask) task = NULL;
  Completion *completion;

  if (!patch_drain (patch))
    return;

  completion = g_new0 (Completion, 1);
  completion->uploads = g_object_ref (patch->self);
  completion->msg = patch->msg != NULL ? g_object_ref (patch->msg) : NULL;
  completion->patch = patch;
  completion->fd = patch->fd;
  completion->hex = sha256_hex (&patch->sha);
  completion->from = part_path (patch->self, patch->id);
  completion->to = blob_path (patch->self, completion->hex);
  completion->id = g_strdup (patch->id);
  completion->db_path = g_strdup (patch->self->db_path);
  patch->fd = -1;   /* the thread's now: nothing is saved on release */
  patch->completing = TRUE;

  task = g_task_new (NULL, NULL, patch_stored_cb, NULL);
  g_task_set_task_data (task, completion, (GDestroyNotify) completion_free);
  g_task_run_in_thread (task, store_blob_thread);
}

/* Takes the next bytes of the body: to the writer thread, and the upload
 * completed when they are the last. */
static void
patch_take (Patch  *patch,
            GBytes *chunk)
{
  gsize size = g_bytes_get_size (chunk);
  gboolean flushed;

  g_assert (size <= patch->length - patch->offset);

  g_ptr_array_add (patch->batch, g_bytes_ref (chunk));
  patch->batch_bytes += size;
  patch->offset += size;
  flushed = patch->batch_bytes >= WRITE_BUFFER_BYTES || patch->batch->len >= MAX_IOV;
  if (flushed && !patch_flush (patch))
    {
      patch_drain (patch);   /* a write failed: fail the PATCH now */
      return;
    }

  if (patch->offset == patch->length)
    {
      patch_complete (patch);
      return;
    }

  /* A crash loses the hash state of the PATCH in flight, and the resume
   * hashes again what arrived since the last save: keep that short. The
   * writer thread leaves a state every SAVE_INTERVAL_BYTES; stopping it to
   * take one would stall the main loop each time. (Looked for once per
   * batch, not per 8 KiB chunk.) */
  if (flushed && patch->writer != NULL)
    {
      struct sha256_ctx sha;
      guint64 offset = 0;

      memset (&sha, 0, sizeof sha);
      g_mutex_lock (&patch->lock);
      if (patch->snapshot_ready)
        {
          sha = patch->snapshot_sha;
          offset = patch->snapshot_offset;
          patch->snapshot_ready = FALSE;
        }
      g_mutex_unlock (&patch->lock);
      if (offset > patch->saved_offset)
        {
          db_save_hash_state (patch->self, patch->id, &sha, offset);
          patch->saved_offset = offset;
        }
    }
}

static void
patch_got_chunk_cb (SoupServerMessage *msg,
                    GBytes            *chunk,
                    gpointer           user_data)
{
  Patch *patch = user_data;
  gsize size = g_bytes_get_size (chunk);

  if (patch->status != 0 || patch->fd < 0 || patch->self == NULL || size == 0)
    return;

  patch->last_activity = g_get_monotonic_time ();

  if (size > patch->length - patch->offset)
    {
      /* More than Upload-Length (a chunked body says its size only at the
       * end): this chunk is dropped whole, so the upload stays resumable at
       * its offset, and the rest is refused without being read. */
      patch_fail (patch, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                  "the body goes past Upload-Length");
      patch_release (patch);
      _natter_server_reject_too_large (msg);
      return;
    }
  patch_take (patch, chunk);
}

/* ---- PATCH: the body read here, not by libsoup -------------------------------------
 * libsoup 3.2 reads a request body 8 KiB at a time, each read a recv()
 * with its share of TCP work and a "got-chunk": that was most of the main
 * loop's time during an upload. Once a PATCH is accepted (headers checked,
 * offset right, a Content-Length within Upload-Length), its connection is
 * taken from libsoup, as natter-server does for a 413, and the body read
 * in 1 MiB reads. Bytes libsoup read ahead with the headers are not lost:
 * the stream it gives back is the one it read the headers from. */

#define BODY_READ_BYTES (1024 * 1024)

/* The body is read into 1 MiB blocks that are used again once the writer
 * is done with them: a fresh 1 MiB buffer per read is an mmap() and 256
 * page faults, which cost more than the copy they save. A read that fills
 * less than half a block is copied out instead, so that memory stays
 * within twice the writer's queue limit. */
typedef struct _Block
{
  GAsyncQueue *spare;   /* owned: where the block goes back to */
  guint8       data[BODY_READ_BYTES];
} Block;

static void
block_give_back (gpointer data)
{
  Block *block = data;
  GAsyncQueue *spare = block->spare;

  /* The writer thread frees its GBytes: a queue, not the Patch. */
  g_async_queue_push (spare, block);
  g_async_queue_unref (spare);
}

static void patch_stream_read (Patch *patch);

static void
patch_stream_done (Patch *patch)
{
  /* The last operation on the stream ended: the Patch goes with it. */
  patch_free (patch);
}

static void
patch_answer_written_cb (GObject      *source,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  Patch *patch = user_data;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL);
  if (patch->socket != NULL && !g_socket_is_closed (patch->socket))
    g_socket_shutdown (patch->socket, FALSE, TRUE, NULL);
  patch_stream_done (patch);
}

/* Answers as handle_patch() would, by hand: the connection is ours. */
static void
patch_stream_answer (Patch *patch)
{
  GString *answer = g_string_new (NULL);

  /* Saved and out of ->active first: a HEAD right after the answer must
   * see the upload as it is. */
  patch_release (patch);

  if (patch->status != 0)
    {
      g_autoptr(JsonObject) object = json_object_new ();
      g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
      g_autofree char *body = NULL;

      json_object_set_string_member (object, "error", patch->error_code);
      json_object_set_string_member (object, "message", patch->error_message);
      json_node_set_object (node, object);
      body = json_to_string (node, FALSE);
      g_string_append_printf (answer, "HTTP/1.1 %u %s\r\n"
                                      "Tus-Resumable: " TUS_VERSION "\r\n"
                                      "Content-Type: application/json\r\n"
                                      "Content-Length: %zu\r\n"
                                      "Connection: close\r\n\r\n%s",
                              patch->status, soup_status_get_phrase (patch->status),
                              strlen (body), body);
    }
  else
    {
      g_string_append_printf (answer, "HTTP/1.1 204 No Content\r\n"
                                      "Tus-Resumable: " TUS_VERSION "\r\n"
                                      "Upload-Offset: %" G_GUINT64_FORMAT "\r\n",
                              patch->offset);
      if (patch->completed)
        g_string_append_printf (answer, "Natter-File-Id: %s\r\nNatter-File-Sha256: %s\r\n",
                                patch->id, patch->sha256);
      g_string_append (answer, "Connection: close\r\n\r\n");
    }
  patch->answer = g_string_free (answer, FALSE);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (patch->stream), patch->answer,
                                   strlen (patch->answer), G_PRIORITY_DEFAULT, patch->cancellable,
                                   patch_answer_written_cb, patch);
}

static void
patch_stream_read_cb (GObject      *source,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  Patch *patch = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  gsize size = n > 0 ? (gsize) n : 0;

  if (size >= BODY_READ_BYTES / 2)
    {
      Block *block = g_steal_pointer (&patch->reading);

      block->spare = g_async_queue_ref (patch->spare);
      bytes = g_bytes_new_with_free_func (block->data, size, block_give_back, block);
    }
  else if (size > 0)
    bytes = g_bytes_new (patch->reading->data, size);

  /* Cut (by the client, the idle check, a newer PATCH or the server
   * going): what arrived is kept, and nobody waits for an answer. */
  if (size == 0 || patch->self == NULL)
    {
      patch_release (patch);
      patch_stream_done (patch);
      return;
    }

  patch->last_activity = g_get_monotonic_time ();
  patch->body_left -= size;
  /* After a failure the rest of the body is read and dropped, so that
   * the client hears the answer instead of a reset. */
  if (patch->status == 0 && patch->fd >= 0)
    patch_take (patch, bytes);

  if (patch->completing)
    return;   /* patch_stored_cb answers */
  if (patch->body_left == 0 || patch->completed)
    patch_stream_answer (patch);
  else
    patch_stream_read (patch);
}

static void
patch_stream_read (Patch *patch)
{
  if (patch->spare == NULL)
    patch->spare = g_async_queue_new_full (g_free);
  if (patch->reading == NULL)
    patch->reading = g_async_queue_try_pop (patch->spare);
  if (patch->reading == NULL)
    patch->reading = g_new (Block, 1);
  g_input_stream_read_async (g_io_stream_get_input_stream (patch->stream), patch->reading->data,
                             MIN ((guint64) BODY_READ_BYTES, patch->body_left),
                             G_PRIORITY_DEFAULT, patch->cancellable, patch_stream_read_cb, patch);
}

static void
patch_continue_written_cb (GObject      *source,
                           GAsyncResult *result,
                           gpointer      user_data)
{
  Patch *patch = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL) ||
      patch->self == NULL)
    {
      patch_release (patch);
      patch_stream_done (patch);
      return;
    }
  patch_stream_read (patch);
}

/* Takes @msg's connection for the body (see above). FALSE when libsoup
 * would not give it: the PATCH then goes on through libsoup. */
static gboolean
patch_take_connection (Patch             *patch,
                       SoupServerMessage *msg,
                       guint64            content_length)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  gboolean expects_continue =
    (soup_message_headers_get_expectations (headers) & SOUP_EXPECTATION_CONTINUE) != 0;
  GSocket *socket = soup_server_message_get_socket (msg);

  /* Over TLS, libsoup keeps the body: ending a TLS session by hand (its
   * close_notify after the answer) is not done here, nor tested. */
  if (socket == NULL || g_strcmp0 (g_uri_get_scheme (soup_server_message_get_uri (msg)), "https") == 0)
    return FALSE;
  patch->socket = g_object_ref (socket);
  /* From here the Patch is not the message's any more. */
  g_object_steal_data (G_OBJECT (msg), "natter-upload-patch");
  patch->stream = soup_server_message_steal_connection (msg);
  if (patch->stream == NULL)
    {
      g_clear_object (&patch->socket);
      g_object_set_data_full (G_OBJECT (msg), "natter-upload-patch", patch,
                              (GDestroyNotify) patch_free);
      return FALSE;
    }
  patch->msg = NULL;
  patch->cancellable = g_cancellable_new ();
  patch->body_left = content_length;

  /* libsoup would have said "go on" when it started on the body. */
  if (expects_continue)
    {
      static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";

      g_output_stream_write_all_async (g_io_stream_get_output_stream (patch->stream), go_on,
                                       sizeof go_on - 1, G_PRIORITY_DEFAULT, patch->cancellable,
                                       patch_continue_written_cb, patch);
    }
  else
    patch_stream_read (patch);
  return TRUE;
}

static void
patch_finished_cb (SoupServerMessage *msg,
                   gpointer           user_data)
{
  Patch *patch = user_data;

  /* Interrupted or answered: either way what arrived is kept. */
  patch_release (patch);
}

/* Hashes the bytes of the temp file from @from to @to into @sha. The hash
 * state is saved after every PATCH, so this reads only what arrived after
 * the last save — bytes of a PATCH cut by a crash, none after a clean stop. */
static gboolean
hash_file_range (int                fd,
                 struct sha256_ctx *sha,
                 guint64            from,
                 guint64            to)
{
  g_autofree guint8 *buffer = g_malloc (WRITE_BUFFER_BYTES);

  while (from < to)
    {
      gssize n = pread (fd, buffer, MIN ((guint64) WRITE_BUFFER_BYTES, to - from), from);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      sha256_update (sha, n, buffer);
      from += n;
    }
  return TRUE;
}

/* Opens the upload for appending and restores its hash state: fills
 * @patch->fd, ->offset and ->sha, or sets an error on @patch. */
static void
patch_open (Patch     *patch,
            UploadRow *row)
{
  NatterUploads *self = patch->self;
  g_autofree char *path = part_path (self, patch->id);
  struct stat st;

  patch->fd = open (path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (patch->fd < 0 || fstat (patch->fd, &st) != 0)
    {
      g_warning ("uploads: %s: %s", path, g_strerror (errno));
      patch_fail (patch, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                  "the upload's data is gone");
      return;
    }
  patch->offset = st.st_size;
  patch->disk_offset = st.st_size;
  patch->writeback_offset = st.st_size;
  patch->saved_offset = st.st_size;
  patch->snapshot_offset = st.st_size;

  if (row->hash_state != NULL && g_bytes_get_size (row->hash_state) == sizeof patch->sha &&
      row->hash_offset <= (guint64) st.st_size)
    memcpy (&patch->sha, g_bytes_get_data (row->hash_state, NULL), sizeof patch->sha);
  else
    {
      sha256_init (&patch->sha);
      row->hash_offset = 0;
    }

  if (row->hash_offset < (guint64) st.st_size)
    {
      int rfd = open (path, O_RDONLY | O_CLOEXEC);
      gboolean ok = rfd >= 0 && hash_file_range (rfd, &patch->sha, row->hash_offset, st.st_size);

      if (rfd >= 0)
        close (rfd);
      if (!ok)
        patch_fail (patch, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                    "cannot read the upload back");
    }
}

gboolean
natter_uploads_claim_message (NatterUploads     *self,
                              SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *path = g_uri_get_path (soup_server_message_get_uri (msg));
  const char *id;
  const char *content_type;
  goffset content_length = -1;
  g_autofree char *user = NULL;
  g_autoptr(UploadRow) row = NULL;
  guint64 client_offset;
  Patch *patch;

  g_return_val_if_fail (NATTER_IS_UPLOADS (self), FALSE);

  /* Downloads stream their response; they only need the timeout lifted. */
  if (g_str_has_prefix (path, "/api/v1/files/") &&
      (g_strcmp0 (method, "GET") == 0 || g_strcmp0 (method, "HEAD") == 0))
    return TRUE;

  if (g_strcmp0 (method, "PATCH") != 0 || (id = id_from_path (path)) == NULL)
    return FALSE;

  /* Strangers and unknown ids are not claimed: the server's body cap
   * keeps applying to them, and the handler answers 401/404. */
  if (!natter_uploads_id_is_valid (id) ||
      (user = natter_uploads_authenticate (self, msg)) == NULL ||
      (row = db_get_upload (self, id)) == NULL ||
      g_strcmp0 (row->owner, user) != 0)
    return FALSE;

  patch = g_new0 (Patch, 1);
  patch->self = self;
  patch->msg = msg;
  patch->id = g_strdup (id);
  patch->fd = -1;
  patch->length = row->length;
  patch->batch = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_mutex_init (&patch->lock);
  g_cond_init (&patch->drained);
  patch->last_activity = g_get_monotonic_time ();
  g_object_set_data_full (G_OBJECT (msg), "natter-upload-patch", patch,
                          (GDestroyNotify) patch_free);

  /* Whatever happens, the body is not kept in memory. */
  soup_message_body_set_accumulate (soup_server_message_get_request_body (msg), FALSE);

  content_type = soup_message_headers_get_content_type (headers, NULL);
  if (soup_message_headers_get_encoding (headers) == SOUP_ENCODING_CONTENT_LENGTH)
    content_length = soup_message_headers_get_content_length (headers);

  if (g_strcmp0 (soup_message_headers_get_one (headers, "Tus-Resumable"), TUS_VERSION) != 0)
    {
      patch_fail (patch, SOUP_STATUS_PRECONDITION_FAILED, "bad_request",
                  "Tus-Resumable: 1.0.0 is required");
      return TRUE;
    }
  if (g_strcmp0 (content_type, "application/offset+octet-stream") != 0)
    {
      patch_fail (patch, SOUP_STATUS_UNSUPPORTED_MEDIA_TYPE, "bad_request",
                  "Content-Type: application/offset+octet-stream is required");
      return TRUE;
    }
  if (!natter_tus_parse_offset (soup_message_headers_get_one (headers, "Upload-Offset"),
                            &client_offset))
    {
      patch_fail (patch, SOUP_STATUS_BAD_REQUEST, "bad_request", "Upload-Offset is required");
      return TRUE;
    }
  if (row->sha256 != NULL)
    {
      patch_fail (patch, SOUP_STATUS_CONFLICT, "bad_request", "the upload is already complete");
      return TRUE;
    }
  if (g_hash_table_contains (self->active, id))
    {
      Patch *old = g_hash_table_lookup (self->active, id);
      GSocket *socket = old->msg != NULL ? soup_server_message_get_socket (old->msg) : old->socket;

      /* A client resumes when it believes its last PATCH died, which the
       * server may not have noticed yet (a dead NAT mapping, say): the
       * new PATCH wins, as in tusd. The old one keeps what it stored. */
      patch_fail (old, SOUP_STATUS_CONFLICT, "bad_request", "superseded by a newer PATCH");
      if (socket != NULL && !g_socket_is_closed (socket))
        g_socket_shutdown (socket, TRUE, TRUE, NULL);
      patch_release (old);
    }

  patch_open (patch, row);
  if (patch->status != 0)
    return TRUE;

  if (client_offset != patch->offset)
    {
      patch_fail (patch, SOUP_STATUS_CONFLICT, "bad_request",
                  "Upload-Offset does not match the upload's offset");
      return TRUE;
    }
  if (content_length > 0 && (guint64) content_length > patch->length - patch->offset)
    {
      patch_fail (patch, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large",
                  "the body goes past Upload-Length");
      return TRUE;
    }

  g_hash_table_insert (self->active, patch->id, patch);
  patch->registered = TRUE;
  if (content_length > 0 && patch_take_connection (patch, msg, (guint64) content_length))
    return TRUE;
  g_signal_connect (msg, "got-chunk", G_CALLBACK (patch_got_chunk_cb), patch);
  g_signal_connect (msg, "finished", G_CALLBACK (patch_finished_cb), patch);
  return TRUE;
}

/* ---- the handler ---------------------------------------------------------------------- */

static void
handle_options (NatterUploads     *self,
                SoupServerMessage *msg)
{
  SoupMessageHeaders *headers = soup_server_message_get_response_headers (msg);
  g_autofree char *max = g_strdup_printf ("%" G_GUINT64_FORMAT, self->max_file_bytes);

  set_tus_headers (msg);
  soup_message_headers_replace (headers, "Tus-Version", TUS_VERSION);
  soup_message_headers_replace (headers, "Tus-Extension", "creation");
  if (self->max_file_bytes > 0)
    soup_message_headers_replace (headers, "Tus-Max-Size", max);
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

/* "1 GiB", "500 MiB", "1500000 bytes": exact, and shown to users as the
 * reason of a refusal (so no rounding, and plain spaces). */
static char *
format_limit (guint64 bytes)
{
  static const char * const units[] = { "GiB", "MiB", "KiB" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (units); i++)
    {
      guint64 unit = G_GUINT64_CONSTANT (1) << (10 * (3 - i));

      if (bytes >= unit && bytes % unit == 0)
        return g_strdup_printf ("%" G_GUINT64_FORMAT " %s", bytes / unit, units[i]);
    }
  return g_strdup_printf ("%" G_GUINT64_FORMAT " bytes", bytes);
}

static const char *
metadata_first (GHashTable  *metadata,
                const char  *first,
                const char  *second)
{
  const char *value = g_hash_table_lookup (metadata, first);

  return value != NULL ? value : g_hash_table_lookup (metadata, second);
}

static void
handle_create (NatterUploads     *self,
               SoupServerMessage *msg,
               const char        *user)
{
  SoupMessageHeaders *headers = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *response = soup_server_message_get_response_headers (msg);
  g_autoptr(GHashTable) metadata = NULL;
  g_autoptr(sqlite3_stmt) insert = NULL;
  g_autofree char *id = NULL;
  g_autofree char *path = NULL;
  g_autofree char *location = NULL;
  const char *room, *filename, *mime;
  guint64 length;
  int fd;

  if (soup_message_headers_get_one (headers, "Upload-Defer-Length") != NULL)
    {
      reply_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                   "Upload-Defer-Length is not supported: give Upload-Length");
      return;
    }
  if (!natter_tus_parse_offset (soup_message_headers_get_one (headers, "Upload-Length"), &length))
    {
      reply_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request", "Upload-Length is required");
      return;
    }
  if (self->max_file_bytes > 0 && length > self->max_file_bytes)
    {
      g_autofree char *size = format_limit (self->max_file_bytes);
      g_autofree char *message = g_strdup_printf ("File too large: limit is %s", size);

      reply_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "too_large", message);
      return;
    }

  metadata = natter_tus_parse_metadata (soup_message_headers_get_one (headers, "Upload-Metadata"));
  if (metadata == NULL)
    {
      reply_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request", "Upload-Metadata is malformed");
      return;
    }
  room = g_hash_table_lookup (metadata, "room");
  filename = metadata_first (metadata, "filename", "name");
  mime = metadata_first (metadata, "mime", "filetype");
  if (filename == NULL || *filename == '\0')
    filename = "file";
  if (mime == NULL || *mime == '\0')
    mime = "application/octet-stream";

  if (room == NULL || *room == '\0')
    {
      reply_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                   "Upload-Metadata must name the room");
      return;
    }
  if (!natter_tus_filename_is_valid (filename))
    {
      reply_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                   "filename: 1–255 bytes of UTF-8 without control characters");
      return;
    }
  if (!natter_tus_mime_is_valid (mime))
    {
      reply_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request", "mime: not a media type");
      return;
    }
  if (!natter_store_is_member (self->store, room, user))
    {
      reply_error (msg, SOUP_STATUS_FORBIDDEN, "not_member",
                   "only a member of the room may upload to it");
      return;
    }
  if (self->user_quota_bytes > 0)
    {
      guint64 usage = db_user_usage (self, user);

      if (usage > self->user_quota_bytes || length > self->user_quota_bytes - usage)
        {
          g_autofree char *size = format_limit (self->user_quota_bytes);
          g_autofree char *message = g_strdup_printf ("Disk quota exceeded: limit is %s", size);

          reply_error (msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "quota", message);
          return;
        }
    }

  id = new_id ();
  path = part_path (self, id);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      g_warning ("uploads: %s: %s", path, g_strerror (errno));
      reply_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", "cannot create the upload");
      return;
    }
  close (fd);

  insert = db_prepare (self, "INSERT INTO uploads (id, owner, room, filename, mime, length,"
                             " created) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (insert != NULL)
    {
      sqlite3_bind_text (insert, 1, id, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (insert, 2, user, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (insert, 3, room, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (insert, 4, filename, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text (insert, 5, mime, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (insert, 6, length);
      sqlite3_bind_int64 (insert, 7, g_get_real_time () / 1000);
    }
  if (insert == NULL || sqlite3_step (insert) != SQLITE_DONE)
    {
      g_warning ("uploads: files.db: %s", sqlite3_errmsg (self->db));
      g_unlink (path);
      reply_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal", "cannot create the upload");
      return;
    }

  if (length == 0)
    {
      /* Nothing will ever be PATCHed: the empty file is complete now. */
      g_autoptr(GError) error = NULL;
      g_autofree char *hex = NULL;

      hex = complete_empty_upload (self, id, &error);
      if (hex == NULL)
        {
          g_warning ("uploads: %s: %s", id, error->message);
          reply_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                       "cannot store the file");
          return;
        }
      soup_message_headers_replace (response, "Natter-File-Id", id);
      soup_message_headers_replace (response, "Natter-File-Sha256", hex);
    }

  location = g_strconcat ("/api/v1/uploads/", id, NULL);
  set_tus_headers (msg);
  soup_message_headers_replace (response, "Location", location);
  soup_message_headers_replace (response, "Upload-Offset", "0");
  soup_server_message_set_status (msg, SOUP_STATUS_CREATED, NULL);
}

static void
handle_head (NatterUploads     *self,
             SoupServerMessage *msg,
             const char        *id,
             UploadRow         *row)
{
  SoupMessageHeaders *response = soup_server_message_get_response_headers (msg);
  g_autofree char *offset = NULL;
  g_autofree char *length = g_strdup_printf ("%" G_GUINT64_FORMAT, row->length);
  Patch *active = g_hash_table_lookup (self->active, id);

  if (row->sha256 != NULL)
    offset = g_strdup (length);
  else if (active != NULL)
    offset = g_strdup_printf ("%" G_GUINT64_FORMAT, active->offset);
  else
    {
      g_autofree char *path = part_path (self, id);
      GStatBuf st;

      if (g_stat (path, &st) != 0)
        {
          reply_error (msg, SOUP_STATUS_NOT_FOUND, "bad_request", "no such upload");
          return;
        }
      offset = g_strdup_printf ("%" G_GUINT64_FORMAT, (guint64) st.st_size);
    }

  set_tus_headers (msg);
  soup_message_headers_replace (response, "Upload-Offset", offset);
  soup_message_headers_replace (response, "Upload-Length", length);
  soup_message_headers_replace (response, "Cache-Control", "no-store");
  soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
}

/* Answers a PATCH that libsoup read, once its bytes are stored. */
static void
patch_reply (SoupServerMessage *msg,
             Patch             *patch)
{
  SoupMessageHeaders *response = soup_server_message_get_response_headers (msg);
  g_autofree char *offset = NULL;

  if (patch->status != 0)
    {
      reply_error (msg, patch->status, patch->error_code, patch->error_message);
      return;
    }

  offset = g_strdup_printf ("%" G_GUINT64_FORMAT, patch->offset);
  set_tus_headers (msg);
  soup_message_headers_replace (response, "Upload-Offset", offset);
  if (patch->completed)
    {
      soup_message_headers_replace (response, "Natter-File-Id", patch->id);
      soup_message_headers_replace (response, "Natter-File-Sha256", patch->sha256);
    }
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static void
handle_patch (NatterUploads     *self,
              SoupServerMessage *msg)
{
  Patch *patch = g_object_get_data (G_OBJECT (msg), "natter-upload-patch");

  /* Not claimed at "got-headers" (the token died meanwhile, say). */
  if (patch == NULL)
    {
      reply_error (msg, SOUP_STATUS_CONFLICT, "bad_request", "the upload cannot take this PATCH");
      return;
    }
  if (patch->completing)
    {
      /* The file is being made durable: patch_stored_cb answers. */
      patch->answer_waits = TRUE;
      soup_server_message_pause (msg);
      return;
    }
  patch_reply (msg, patch);
}

void
natter_uploads_handle (NatterUploads     *self,
                       SoupServerMessage *msg,
                       const char        *path)
{
  const char *method = soup_server_message_get_method (msg);
  const char *id = id_from_path (path);
  g_autofree char *user = NULL;
  g_autoptr(UploadRow) row = NULL;

  g_return_if_fail (NATTER_IS_UPLOADS (self));

  /* OPTIONS tells what the server speaks, to anyone (tus 1.0). */
  if (g_strcmp0 (method, "OPTIONS") == 0)
    {
      handle_options (self, msg);
      return;
    }

  if (!check_tus_resumable (msg))
    return;

  user = natter_uploads_authenticate (self, msg);
  if (user == NULL)
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "WWW-Authenticate", "Bearer");
      reply_error (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                   "Authorization: Bearer TOKEN is required");
      return;
    }

  if (g_strcmp0 (path, "/api/v1/uploads") == 0 || g_strcmp0 (path, "/api/v1/uploads/") == 0)
    {
      if (g_strcmp0 (method, "POST") == 0)
        handle_create (self, msg, user);
      else
        {
          soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                        "Allow", "OPTIONS, POST");
          reply_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "bad_request", "method not allowed");
        }
      return;
    }

  /* Someone else's upload is as unknown as a made-up id. */
  if (id == NULL || !natter_uploads_id_is_valid (id) ||
      (row = db_get_upload (self, id)) == NULL || g_strcmp0 (row->owner, user) != 0)
    {
      reply_error (msg, SOUP_STATUS_NOT_FOUND, "bad_request", "no such upload");
      return;
    }

  if (g_strcmp0 (method, "HEAD") == 0)
    handle_head (self, msg, id, row);
  else if (g_strcmp0 (method, "PATCH") == 0)
    handle_patch (self, msg);
  else
    {
      soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                    "Allow", "OPTIONS, HEAD, PATCH");
      reply_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "bad_request", "method not allowed");
    }
}
