/* natter-cache.c: the per-account SQLite cache. One connection, WAL,
 * synchronous=NORMAL: a crash may lose the last transaction of the cache,
 * never corrupt it; the outbox is written before a message is sent. */
#include "natter-cache.h"

#include <errno.h>
#include <sqlite3.h>
#include <glib/gstdio.h>

#include "natter-chat.h"
#include "natter-client-types.h"

struct _NatterCache
{
  sqlite3 *db;
};

/* Migrations: entry N brings the schema from version N to N+1. Never edit
 * one that shipped; append. */
static const char * const migrations[] = {
  /* 0 → 1 */
  "CREATE TABLE rooms ("
  "  name TEXT PRIMARY KEY,"
  "  topic TEXT NOT NULL DEFAULT '',"
  "  joined INTEGER NOT NULL DEFAULT 1,"
  "  last_seq INTEGER NOT NULL DEFAULT 0,"
  "  synced_seq INTEGER NOT NULL DEFAULT 0,"
  "  n_members INTEGER NOT NULL DEFAULT 0);"
  "CREATE TABLE messages ("
  "  room TEXT NOT NULL,"
  "  seq INTEGER NOT NULL,"
  "  ts INTEGER NOT NULL,"
  "  sender TEXT NOT NULL,"
  "  cid TEXT,"
  "  text TEXT NOT NULL,"
  "  file_id TEXT, file_name TEXT, file_size INTEGER, file_mime TEXT,"
  "  mention INTEGER NOT NULL DEFAULT 0,"
  "  PRIMARY KEY (room, seq));"
  "CREATE TABLE outbox ("
  "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
  "  room TEXT NOT NULL,"
  "  cid TEXT NOT NULL UNIQUE,"
  "  text TEXT NOT NULL,"
  "  created INTEGER NOT NULL,"
  "  failed INTEGER NOT NULL DEFAULT 0,"
  "  error TEXT);"
  "CREATE TABLE read_positions ("
  "  room TEXT PRIMARY KEY,"
  "  seq INTEGER NOT NULL);"
  "CREATE TABLE meta ("
  "  key TEXT PRIMARY KEY,"
  "  value TEXT);",
  /* 1 → 2: messages with a file wait in the outbox too (issue 5) */
  "ALTER TABLE outbox ADD COLUMN file_id TEXT;"
  "ALTER TABLE outbox ADD COLUMN file_name TEXT;"
  "ALTER TABLE outbox ADD COLUMN file_size INTEGER;"
  "ALTER TABLE outbox ADD COLUMN file_mime TEXT;",
  /* 2 → 3: uploads not yet sent, so that they resume after a restart
   * (issue 5); the cid is the one their message will be sent under */
  "CREATE TABLE uploads ("
  "  cid TEXT PRIMARY KEY,"
  "  room TEXT NOT NULL,"
  "  path TEXT NOT NULL,"
  "  name TEXT NOT NULL,"
  "  mime TEXT NOT NULL,"
  "  size INTEGER NOT NULL,"
  "  text TEXT NOT NULL,"
  "  url TEXT,"
  "  paused INTEGER NOT NULL DEFAULT 0,"
  "  created INTEGER NOT NULL);",
};

G_STATIC_ASSERT (G_N_ELEMENTS (migrations) == NATTER_CACHE_SCHEMA_VERSION);

static gboolean
exec (NatterCache  *cache,
      const char   *sql,
      GError      **error)
{
  char *msg = NULL;

  if (sqlite3_exec (cache->db, sql, NULL, NULL, &msg) != SQLITE_OK)
    {
      g_set_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_CACHE,
                   "%s", msg != NULL ? msg : sqlite3_errmsg (cache->db));
      sqlite3_free (msg);
      return FALSE;
    }
  return TRUE;
}

static sqlite3_stmt *
prepare (NatterCache *cache,
         const char  *sql)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (cache->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    g_error ("cache: cannot prepare “%s”: %s", sql, sqlite3_errmsg (cache->db));
  return stmt;
}

static void
step_done (NatterCache  *cache,
           sqlite3_stmt *stmt)
{
  int rc = sqlite3_step (stmt);

  if (rc != SQLITE_DONE && rc != SQLITE_ROW)
    g_warning ("cache: %s", sqlite3_errmsg (cache->db));
  sqlite3_finalize (stmt);
}

static char *
column_dup (sqlite3_stmt *stmt,
            int           col)
{
  const unsigned char *text = sqlite3_column_text (stmt, col);

  return text != NULL ? g_strdup ((const char *) text) : NULL;
}

int
natter_cache_get_schema_version (NatterCache *cache)
{
  sqlite3_stmt *stmt = prepare (cache, "PRAGMA user_version");
  int version = 0;

  if (sqlite3_step (stmt) == SQLITE_ROW)
    version = sqlite3_column_int (stmt, 0);
  sqlite3_finalize (stmt);
  return version;
}

static gboolean
migrate (NatterCache  *cache,
         GError      **error)
{
  int version = natter_cache_get_schema_version (cache);

  if (version > NATTER_CACHE_SCHEMA_VERSION)
    {
      g_set_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_CACHE,
                   "the cache was written by a newer version (schema %d)", version);
      return FALSE;
    }

  for (; version < NATTER_CACHE_SCHEMA_VERSION; version++)
    {
      g_autofree char *bump = g_strdup_printf ("PRAGMA user_version = %d", version + 1);

      if (!exec (cache, "BEGIN IMMEDIATE", error))
        return FALSE;
      if (!exec (cache, migrations[version], error) || !exec (cache, bump, error))
        {
          exec (cache, "ROLLBACK", NULL);
          return FALSE;
        }
      if (!exec (cache, "COMMIT", error))
        return FALSE;
    }

  return TRUE;
}

NatterCache *
natter_cache_open (const char  *path,
                   GError     **error)
{
  g_autoptr(NatterCache) cache = g_new0 (NatterCache, 1);

  g_return_val_if_fail (path != NULL, NULL);

  if (g_strcmp0 (path, ":memory:") != 0)
    {
      g_autofree char *dir = g_path_get_dirname (path);

      if (g_mkdir_with_parents (dir, 0700) != 0)
        {
          int saved = errno;
          g_set_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_CACHE,
                       "%s: %s", dir, g_strerror (saved));
          return NULL;
        }
    }

  if (sqlite3_open_v2 (path, &cache->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                       NULL) != SQLITE_OK)
    {
      g_set_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_CACHE,
                   "%s: %s", path,
                   cache->db != NULL ? sqlite3_errmsg (cache->db) : "out of memory");
      return NULL;
    }

  sqlite3_busy_timeout (cache->db, 2000);
  if (!exec (cache, "PRAGMA journal_mode = WAL", error) ||
      !exec (cache, "PRAGMA synchronous = NORMAL", error) ||
      !exec (cache, "PRAGMA foreign_keys = ON", error) ||
      !migrate (cache, error))
    return NULL;

  return g_steal_pointer (&cache);
}

void
natter_cache_free (NatterCache *cache)
{
  if (cache == NULL)
    return;
  if (cache->db != NULL)
    sqlite3_close (cache->db);
  g_free (cache);
}

void
natter_cache_room_free (NatterCacheRoom *room)
{
  if (room == NULL)
    return;
  g_free (room->name);
  g_free (room->topic);
  g_free (room);
}

void
natter_outbox_item_free (NatterOutboxItem *item)
{
  if (item == NULL)
    return;
  g_free (item->room);
  g_free (item->cid);
  g_free (item->text);
  g_free (item->error);
  g_clear_pointer (&item->file, natter_chat_file_free);
  g_free (item);
}

#define ROOM_COLUMNS \
  "r.name, r.topic, r.joined, r.last_seq, r.synced_seq, r.n_members," \
  " COALESCE((SELECT seq FROM read_positions p WHERE p.room = r.name), 0)," \
  " COALESCE((SELECT ts FROM messages m WHERE m.room = r.name ORDER BY seq DESC LIMIT 1), 0)"

static NatterCacheRoom *
room_from_row (sqlite3_stmt *stmt)
{
  NatterCacheRoom *room = g_new0 (NatterCacheRoom, 1);

  room->name = column_dup (stmt, 0);
  room->topic = column_dup (stmt, 1);
  room->joined = sqlite3_column_int (stmt, 2) != 0;
  room->last_seq = sqlite3_column_int64 (stmt, 3);
  room->synced_seq = sqlite3_column_int64 (stmt, 4);
  room->n_members = sqlite3_column_int (stmt, 5);
  room->read_seq = sqlite3_column_int64 (stmt, 6);
  room->last_ts = sqlite3_column_int64 (stmt, 7);
  return room;
}

GPtrArray *
natter_cache_list_rooms (NatterCache *cache)
{
  GPtrArray *rooms = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_cache_room_free);
  sqlite3_stmt *stmt = prepare (cache,
                                "SELECT " ROOM_COLUMNS " FROM rooms r WHERE r.joined"
                                " ORDER BY r.name");

  while (sqlite3_step (stmt) == SQLITE_ROW)
    g_ptr_array_add (rooms, room_from_row (stmt));
  sqlite3_finalize (stmt);
  return rooms;
}

NatterCacheRoom *
natter_cache_get_room (NatterCache *cache,
                       const char  *name)
{
  sqlite3_stmt *stmt = prepare (cache, "SELECT " ROOM_COLUMNS " FROM rooms r WHERE r.name = ?");
  NatterCacheRoom *room = NULL;

  sqlite3_bind_text (stmt, 1, name, -1, SQLITE_TRANSIENT);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    room = room_from_row (stmt);
  sqlite3_finalize (stmt);
  return room;
}

void
natter_cache_put_room (NatterCache *cache,
                       const char  *name,
                       const char  *topic,
                       gboolean     joined,
                       gint64       last_seq,
                       guint        n_members)
{
  sqlite3_stmt *stmt = prepare (cache,
    "INSERT INTO rooms (name, topic, joined, last_seq, n_members) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET topic = excluded.topic, joined = excluded.joined,"
    " last_seq = MAX(last_seq, excluded.last_seq), n_members = excluded.n_members");

  sqlite3_bind_text (stmt, 1, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 2, topic != NULL ? topic : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_int (stmt, 3, joined ? 1 : 0);
  sqlite3_bind_int64 (stmt, 4, last_seq);
  sqlite3_bind_int (stmt, 5, n_members);
  step_done (cache, stmt);
}

static void
update_room_int (NatterCache *cache,
                 const char  *sql,
                 const char  *name,
                 gint64       value)
{
  sqlite3_stmt *stmt = prepare (cache, sql);

  sqlite3_bind_int64 (stmt, 1, value);
  sqlite3_bind_text (stmt, 2, name, -1, SQLITE_TRANSIENT);
  step_done (cache, stmt);
}

void
natter_cache_set_joined (NatterCache *cache,
                         const char  *name,
                         gboolean     joined)
{
  update_room_int (cache, "UPDATE rooms SET joined = ? WHERE name = ?", name, joined ? 1 : 0);
}

void
natter_cache_set_synced_seq (NatterCache *cache,
                             const char  *name,
                             gint64       seq)
{
  update_room_int (cache, "UPDATE rooms SET synced_seq = ?1,"
                          " last_seq = MAX(last_seq, ?1) WHERE name = ?2", name, seq);
}

void
natter_cache_set_read_seq (NatterCache *cache,
                           const char  *name,
                           gint64       seq)
{
  sqlite3_stmt *stmt = prepare (cache,
    "INSERT INTO read_positions (room, seq) VALUES (?, ?)"
    " ON CONFLICT (room) DO UPDATE SET seq = MAX(seq, excluded.seq)");

  sqlite3_bind_text (stmt, 1, name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 2, seq);
  step_done (cache, stmt);
}

static gboolean
insert_one (NatterCache             *cache,
            sqlite3_stmt            *stmt,
            const NatterChatMessage *message,
            const char              *me,
            gboolean                *is_new)
{
  gboolean mention = me != NULL && message->text != NULL &&
                     g_strcmp0 (message->from, me) != 0 &&
                     natter_chat_text_mentions (message->text, me);

  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  sqlite3_bind_text (stmt, 1, message->room, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, message->seq);
  sqlite3_bind_int64 (stmt, 3, message->ts);
  sqlite3_bind_text (stmt, 4, message->from, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, message->cid, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 6, message->text != NULL ? message->text : "", -1, SQLITE_STATIC);
  if (message->file != NULL)
    {
      sqlite3_bind_text (stmt, 7, message->file->id, -1, SQLITE_STATIC);
      sqlite3_bind_text (stmt, 8, message->file->name, -1, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 9, message->file->size);
      sqlite3_bind_text (stmt, 10, message->file->mime, -1, SQLITE_STATIC);
    }
  sqlite3_bind_int (stmt, 11, mention ? 1 : 0);

  if (sqlite3_step (stmt) != SQLITE_DONE)
    return FALSE;
  if (is_new != NULL)
    *is_new = sqlite3_changes (cache->db) > 0;
  return TRUE;
}

#define INSERT_MESSAGE \
  "INSERT OR IGNORE INTO messages (room, seq, ts, sender, cid, text," \
  " file_id, file_name, file_size, file_mime, mention)" \
  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"

gboolean
natter_cache_insert_messages (NatterCache  *cache,
                              GPtrArray    *messages,
                              const char   *me,
                              guint        *n_new,
                              GError      **error)
{
  g_autofree gboolean *is_new = g_new0 (gboolean, MAX (messages->len, 1));
  guint count = 0;

  if (!natter_cache_insert_messages_full (cache, messages, me, is_new, error))
    return FALSE;
  for (guint i = 0; i < messages->len; i++)
    count += is_new[i] ? 1 : 0;
  if (n_new != NULL)
    *n_new = count;
  return TRUE;
}

gboolean
natter_cache_insert_messages_full (NatterCache  *cache,
                                   GPtrArray    *messages,
                                   const char   *me,
                                   gboolean     *is_new,
                                   GError      **error)
{
  sqlite3_stmt *stmt;

  if (!exec (cache, "BEGIN", error))
    return FALSE;

  stmt = prepare (cache, INSERT_MESSAGE);
  for (guint i = 0; i < messages->len; i++)
    {
      gboolean one_new = FALSE;

      if (!insert_one (cache, stmt, g_ptr_array_index (messages, i), me, &one_new))
        {
          g_set_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_CACHE,
                       "%s", sqlite3_errmsg (cache->db));
          sqlite3_finalize (stmt);
          exec (cache, "ROLLBACK", NULL);
          return FALSE;
        }
      if (is_new != NULL)
        is_new[i] = one_new;
    }
  sqlite3_finalize (stmt);

  return exec (cache, "COMMIT", error);
}

gboolean
natter_cache_insert_message (NatterCache             *cache,
                             const NatterChatMessage *message,
                             const char              *me,
                             gboolean                *is_new)
{
  sqlite3_stmt *stmt = prepare (cache, INSERT_MESSAGE);
  gboolean ok = insert_one (cache, stmt, message, me, is_new);

  if (!ok)
    g_warning ("cache: %s", sqlite3_errmsg (cache->db));
  sqlite3_finalize (stmt);
  return ok;
}

gboolean
natter_cache_has_message (NatterCache *cache,
                          const char  *room,
                          gint64       seq)
{
  sqlite3_stmt *stmt = prepare (cache, "SELECT 1 FROM messages WHERE room = ? AND seq = ?");
  gboolean found;

  sqlite3_bind_text (stmt, 1, room, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 2, seq);
  found = sqlite3_step (stmt) == SQLITE_ROW;
  sqlite3_finalize (stmt);
  return found;
}

GPtrArray *
natter_cache_messages_before (NatterCache *cache,
                              const char  *room,
                              gint64       before,
                              guint        limit)
{
  GPtrArray *messages = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_chat_message_free);
  sqlite3_stmt *stmt = prepare (cache,
    "SELECT seq, ts, sender, cid, text, file_id, file_name, file_size, file_mime"
    " FROM messages WHERE room = ? AND seq < ? ORDER BY seq DESC LIMIT ?");

  sqlite3_bind_text (stmt, 1, room, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 2, before);
  sqlite3_bind_int (stmt, 3, limit);

  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      NatterChatMessage *m = natter_chat_message_new ();

      m->room = g_strdup (room);
      m->seq = sqlite3_column_int64 (stmt, 0);
      m->ts = sqlite3_column_int64 (stmt, 1);
      m->from = column_dup (stmt, 2);
      m->cid = column_dup (stmt, 3);
      m->text = column_dup (stmt, 4);
      if (sqlite3_column_type (stmt, 5) != SQLITE_NULL)
        {
          m->file = g_new0 (NatterChatFile, 1);
          m->file->id = column_dup (stmt, 5);
          m->file->name = column_dup (stmt, 6);
          m->file->size = sqlite3_column_int64 (stmt, 7);
          m->file->mime = column_dup (stmt, 8);
        }
      g_ptr_array_add (messages, m);
    }
  sqlite3_finalize (stmt);

  /* Newest first from the index; the caller wants seq order. */
  for (guint i = 0; i < messages->len / 2; i++)
    {
      gpointer tmp = messages->pdata[i];
      messages->pdata[i] = messages->pdata[messages->len - 1 - i];
      messages->pdata[messages->len - 1 - i] = tmp;
    }
  return messages;
}

static gint64
query_int64 (NatterCache *cache,
             const char  *sql,
             const char  *room,
             gint64       arg)
{
  sqlite3_stmt *stmt = prepare (cache, sql);
  gint64 value = 0;

  sqlite3_bind_text (stmt, 1, room, -1, SQLITE_TRANSIENT);
  if (sqlite3_bind_parameter_count (stmt) > 1)
    sqlite3_bind_int64 (stmt, 2, arg);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  return value;
}

gint64
natter_cache_max_seq (NatterCache *cache,
                      const char  *room)
{
  return query_int64 (cache, "SELECT COALESCE(MAX(seq), 0) FROM messages WHERE room = ?", room, 0);
}

gint64
natter_cache_contiguous_from (NatterCache *cache,
                              const char  *room,
                              gint64       from)
{
  sqlite3_stmt *stmt = prepare (cache,
    "SELECT seq FROM messages WHERE room = ? AND seq > ? ORDER BY seq LIMIT 256");
  gint64 last = from;
  gboolean again = TRUE;

  /* Pages of 256 keep each step short even after a long catch-up. */
  while (again)
    {
      guint rows = 0;

      again = FALSE;
      sqlite3_reset (stmt);
      sqlite3_bind_text (stmt, 1, room, -1, SQLITE_TRANSIENT);
      sqlite3_bind_int64 (stmt, 2, last);
      while (sqlite3_step (stmt) == SQLITE_ROW)
        {
          gint64 seq = sqlite3_column_int64 (stmt, 0);

          if (seq != last + 1)
            break;
          last = seq;
          rows++;
        }
      again = rows == 256;
    }
  sqlite3_finalize (stmt);
  return last;
}

guint
natter_cache_count_messages (NatterCache *cache,
                             const char  *room)
{
  return (guint) query_int64 (cache, "SELECT COUNT(*) FROM messages WHERE room = ?", room, 0);
}

void
natter_cache_count_unread (NatterCache *cache,
                           const char  *room,
                           gint64       read_seq,
                           const char  *me,
                           guint       *unread,
                           guint       *mentions)
{
  sqlite3_stmt *stmt = prepare (cache,
    "SELECT COUNT(*), COALESCE(SUM(mention), 0) FROM"
    " (SELECT mention FROM messages WHERE room = ? AND seq > ? AND sender != ?"
    "  ORDER BY seq DESC LIMIT " G_STRINGIFY (NATTER_CACHE_MAX_UNREAD) ")");

  sqlite3_bind_text (stmt, 1, room, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 2, read_seq);
  sqlite3_bind_text (stmt, 3, me != NULL ? me : "", -1, SQLITE_TRANSIENT);
  *unread = *mentions = 0;
  if (sqlite3_step (stmt) == SQLITE_ROW)
    {
      *unread = sqlite3_column_int (stmt, 0);
      *mentions = sqlite3_column_int (stmt, 1);
    }
  sqlite3_finalize (stmt);
}

gint64
natter_cache_last_ts (NatterCache *cache,
                      const char  *room)
{
  return query_int64 (cache,
                      "SELECT COALESCE((SELECT ts FROM messages WHERE room = ?"
                      " ORDER BY seq DESC LIMIT 1), 0)", room, 0);
}

gint64
natter_cache_outbox_add (NatterCache  *cache,
                         const char   *room,
                         const char   *cid,
                         const char   *text,
                         gint64        created,
                         GError      **error)
{
  sqlite3_stmt *stmt = prepare (cache,
    "INSERT INTO outbox (room, cid, text, created) VALUES (?, ?, ?, ?)");
  gint64 id = 0;

  sqlite3_bind_text (stmt, 1, room, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 2, cid, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 3, text, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 4, created);
  if (sqlite3_step (stmt) == SQLITE_DONE)
    id = sqlite3_last_insert_rowid (cache->db);
  else
    g_set_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_CACHE,
                 "%s", sqlite3_errmsg (cache->db));
  sqlite3_finalize (stmt);
  return id;
}

GPtrArray *
natter_cache_outbox_list (NatterCache *cache)
{
  GPtrArray *items = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_outbox_item_free);
  sqlite3_stmt *stmt = prepare (cache,
    "SELECT id, room, cid, text, created, failed, error,"
    " file_id, file_name, file_size, file_mime FROM outbox ORDER BY id");

  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      NatterOutboxItem *item = g_new0 (NatterOutboxItem, 1);

      item->id = sqlite3_column_int64 (stmt, 0);
      item->room = column_dup (stmt, 1);
      item->cid = column_dup (stmt, 2);
      item->text = column_dup (stmt, 3);
      item->created = sqlite3_column_int64 (stmt, 4);
      item->failed = sqlite3_column_int (stmt, 5) != 0;
      item->error = column_dup (stmt, 6);
      if (sqlite3_column_type (stmt, 7) != SQLITE_NULL)
        {
          item->file = g_new0 (NatterChatFile, 1);
          item->file->id = column_dup (stmt, 7);
          item->file->name = column_dup (stmt, 8);
          item->file->size = sqlite3_column_int64 (stmt, 9);
          item->file->mime = column_dup (stmt, 10);
        }
      g_ptr_array_add (items, item);
    }
  sqlite3_finalize (stmt);
  return items;
}

void
natter_cache_outbox_remove (NatterCache *cache,
                            gint64       id)
{
  sqlite3_stmt *stmt = prepare (cache, "DELETE FROM outbox WHERE id = ?");

  sqlite3_bind_int64 (stmt, 1, id);
  step_done (cache, stmt);
}

void
natter_cache_outbox_set_failed (NatterCache *cache,
                                gint64       id,
                                gboolean     failed,
                                const char  *error)
{
  sqlite3_stmt *stmt = prepare (cache, "UPDATE outbox SET failed = ?, error = ? WHERE id = ?");

  sqlite3_bind_int (stmt, 1, failed ? 1 : 0);
  sqlite3_bind_text (stmt, 2, error, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 3, id);
  step_done (cache, stmt);
}

void
natter_cache_outbox_set_file (NatterCache          *cache,
                              gint64                id,
                              const NatterChatFile *file)
{
  sqlite3_stmt *stmt = prepare (cache, "UPDATE outbox SET file_id = ?, file_name = ?,"
                                       " file_size = ?, file_mime = ? WHERE id = ?");

  sqlite3_bind_text (stmt, 1, file->id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 2, file->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 3, file->size);
  sqlite3_bind_text (stmt, 4, file->mime, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 5, id);
  step_done (cache, stmt);
}

void
natter_cache_upload_free (NatterCacheUpload *upload)
{
  if (upload == NULL)
    return;
  g_free (upload->cid);
  g_free (upload->room);
  g_free (upload->path);
  g_free (upload->name);
  g_free (upload->mime);
  g_free (upload->text);
  g_free (upload->url);
  g_free (upload);
}

gboolean
natter_cache_put_upload (NatterCache              *cache,
                         const NatterCacheUpload  *upload,
                         GError                  **error)
{
  sqlite3_stmt *stmt = prepare (cache,
    "INSERT INTO uploads (cid, room, path, name, mime, size, text, url, paused, created)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (cid) DO UPDATE SET url = excluded.url, paused = excluded.paused");
  gboolean ok;

  sqlite3_bind_text (stmt, 1, upload->cid, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 2, upload->room, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 3, upload->path, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 4, upload->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 5, upload->mime, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 6, upload->size);
  sqlite3_bind_text (stmt, 7, upload->text != NULL ? upload->text : "", -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 8, upload->url, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int (stmt, 9, upload->paused ? 1 : 0);
  sqlite3_bind_int64 (stmt, 10, upload->created);
  ok = sqlite3_step (stmt) == SQLITE_DONE;
  if (!ok)
    g_set_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_CACHE,
                 "%s", sqlite3_errmsg (cache->db));
  sqlite3_finalize (stmt);
  return ok;
}

GPtrArray *
natter_cache_list_uploads (NatterCache *cache)
{
  GPtrArray *uploads = g_ptr_array_new_with_free_func ((GDestroyNotify) natter_cache_upload_free);
  sqlite3_stmt *stmt = prepare (cache,
    "SELECT cid, room, path, name, mime, size, text, url, paused, created FROM uploads"
    " ORDER BY created, rowid");

  while (sqlite3_step (stmt) == SQLITE_ROW)
    {
      NatterCacheUpload *upload = g_new0 (NatterCacheUpload, 1);

      upload->cid = column_dup (stmt, 0);
      upload->room = column_dup (stmt, 1);
      upload->path = column_dup (stmt, 2);
      upload->name = column_dup (stmt, 3);
      upload->mime = column_dup (stmt, 4);
      upload->size = sqlite3_column_int64 (stmt, 5);
      upload->text = column_dup (stmt, 6);
      upload->url = column_dup (stmt, 7);
      upload->paused = sqlite3_column_int (stmt, 8) != 0;
      upload->created = sqlite3_column_int64 (stmt, 9);
      g_ptr_array_add (uploads, upload);
    }
  sqlite3_finalize (stmt);
  return uploads;
}

void
natter_cache_remove_upload (NatterCache *cache,
                            const char  *cid)
{
  sqlite3_stmt *stmt = prepare (cache, "DELETE FROM uploads WHERE cid = ?");

  sqlite3_bind_text (stmt, 1, cid, -1, SQLITE_TRANSIENT);
  step_done (cache, stmt);
}

char *
natter_cache_dup_meta (NatterCache *cache,
                       const char  *key)
{
  sqlite3_stmt *stmt = prepare (cache, "SELECT value FROM meta WHERE key = ?");
  char *value = NULL;

  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_TRANSIENT);
  if (sqlite3_step (stmt) == SQLITE_ROW)
    value = column_dup (stmt, 0);
  sqlite3_finalize (stmt);
  return value;
}

void
natter_cache_set_meta (NatterCache *cache,
                       const char  *key,
                       const char  *value)
{
  sqlite3_stmt *stmt = prepare (cache,
    "INSERT INTO meta (key, value) VALUES (?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value");

  sqlite3_bind_text (stmt, 1, key, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text (stmt, 2, value, -1, SQLITE_TRANSIENT);
  step_done (cache, stmt);
}
