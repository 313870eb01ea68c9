/* natter-cache.h: the per-account SQLite cache (WAL): rooms, messages,
 * outbox and read positions, with a versioned schema. Every call does a
 * bounded amount of work (indexed lookups, pages of at most a few hundred
 * rows in one transaction), so the session may call it from the main loop. */
#pragma once

#include <glib.h>

#include "natter-chat-message.h"

G_BEGIN_DECLS

typedef struct _NatterCache NatterCache;

#define NATTER_CACHE_SCHEMA_VERSION 3

/* Unread counts stop at this many (a UI shows "9999+"): counting is then
 * bounded work however long the user stayed away. */
#define NATTER_CACHE_MAX_UNREAD 9999

typedef struct
{
  char    *name;
  char    *topic;
  gboolean joined;
  gint64   last_seq;    /* the newest seq the server reported */
  gint64   synced_seq;  /* the cache holds every message up to this one */
  gint64   read_seq;
  guint    n_members;
  gint64   last_ts;
} NatterCacheRoom;

typedef struct
{
  gint64  id;           /* outbox order */
  char   *room;
  char   *cid;
  char   *text;
  gint64  created;      /* ms since the epoch */
  gboolean failed;
  char   *error;
  NatterChatFile *file; /* a message carrying an uploaded file, else NULL */
} NatterOutboxItem;

/* An upload not sent yet (natter-transfer.c): what it takes to resume it
 * after a restart. */
typedef struct
{
  char    *cid;         /* the message will be sent under this cid */
  char    *room;
  char    *path;        /* the local file */
  char    *name;
  char    *mime;
  char    *text;
  char    *url;         /* the tus upload, once created; else NULL */
  gint64   size;
  gint64   created;     /* ms since the epoch */
  gboolean paused;
} NatterCacheUpload;

void         natter_cache_room_free          (NatterCacheRoom *room);
void         natter_cache_upload_free        (NatterCacheUpload *upload);
void         natter_outbox_item_free         (NatterOutboxItem *item);

/* Creates the file and its folder when needed; ":memory:" for no file. */
NatterCache *natter_cache_open               (const char      *path,
                                              GError         **error);
void         natter_cache_free               (NatterCache     *cache);
int          natter_cache_get_schema_version (NatterCache     *cache);

/* Rooms */
GPtrArray   *natter_cache_list_rooms         (NatterCache     *cache);   /* joined only */
NatterCacheRoom *natter_cache_get_room       (NatterCache     *cache,
                                              const char      *name);
/* Insert or update name/topic/joined/last_seq/n_members; keeps the rest. */
void         natter_cache_put_room           (NatterCache     *cache,
                                              const char      *name,
                                              const char      *topic,
                                              gboolean         joined,
                                              gint64           last_seq,
                                              guint            n_members);
void         natter_cache_set_joined         (NatterCache     *cache,
                                              const char      *name,
                                              gboolean         joined);
void         natter_cache_set_synced_seq     (NatterCache     *cache,
                                              const char      *name,
                                              gint64           seq);
void         natter_cache_set_read_seq       (NatterCache     *cache,
                                              const char      *name,
                                              gint64           seq);

/* Messages. Inserting a (room, seq) already there changes nothing.
 * @n_new: how many were new. @me flags mentions. */
gboolean     natter_cache_insert_messages    (NatterCache     *cache,
                                              GPtrArray       *messages,
                                              const char      *me,
                                              guint           *n_new,
                                              GError         **error);
/* The same in one transaction, telling for each message (in @is_new, an
 * array of messages->len) whether it was new. */
gboolean     natter_cache_insert_messages_full (NatterCache   *cache,
                                              GPtrArray       *messages,
                                              const char      *me,
                                              gboolean        *is_new,
                                              GError         **error);
gboolean     natter_cache_insert_message     (NatterCache     *cache,
                                              const NatterChatMessage *message,
                                              const char      *me,
                                              gboolean        *is_new);
gboolean     natter_cache_has_message        (NatterCache     *cache,
                                              const char      *room,
                                              gint64           seq);
/* Up to @limit messages with seq < @before (G_MAXINT64 for the newest), in
 * seq order (transfer full, of NatterChatMessage). */
GPtrArray   *natter_cache_messages_before    (NatterCache     *cache,
                                              const char      *room,
                                              gint64           before,
                                              guint            limit);
gint64       natter_cache_max_seq            (NatterCache     *cache,
                                              const char      *room);
/* Walks up from @from while seq+1 is cached; returns the last one. */
gint64       natter_cache_contiguous_from    (NatterCache     *cache,
                                              const char      *room,
                                              gint64           from);
guint        natter_cache_count_messages     (NatterCache     *cache,
                                              const char      *room);
void         natter_cache_count_unread       (NatterCache     *cache,
                                              const char      *room,
                                              gint64           read_seq,
                                              const char      *me,
                                              guint           *unread,
                                              guint           *mentions);
gint64       natter_cache_last_ts            (NatterCache     *cache,
                                              const char      *room);

/* Outbox, in insertion order. */
gint64       natter_cache_outbox_add         (NatterCache     *cache,
                                              const char      *room,
                                              const char      *cid,
                                              const char      *text,
                                              gint64           created,
                                              GError         **error);
GPtrArray   *natter_cache_outbox_list        (NatterCache     *cache);
/* Attaches the uploaded file a queued message carries (natter-transfer.c). */
void         natter_cache_outbox_set_file    (NatterCache     *cache,
                                              gint64           id,
                                              const NatterChatFile *file);
void         natter_cache_outbox_remove      (NatterCache     *cache,
                                              gint64           id);
void         natter_cache_outbox_set_failed  (NatterCache     *cache,
                                              gint64           id,
                                              gboolean         failed,
                                              const char      *error);

/* Uploads not sent yet, in creation order. Putting a cid already there
 * updates only its url and paused. */
gboolean     natter_cache_put_upload         (NatterCache     *cache,
                                              const NatterCacheUpload *upload,
                                              GError         **error);
GPtrArray   *natter_cache_list_uploads       (NatterCache     *cache);
void         natter_cache_remove_upload      (NatterCache     *cache,
                                              const char      *cid);

/* Small key/value settings ("last-room"). */
char        *natter_cache_dup_meta           (NatterCache     *cache,
                                              const char      *key);
void         natter_cache_set_meta           (NatterCache     *cache,
                                              const char      *key,
                                              const char      *value);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterCache, natter_cache_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterCacheRoom, natter_cache_room_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterCacheUpload, natter_cache_upload_free)

G_END_DECLS
