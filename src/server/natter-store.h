/* natter-store.h: what the server keeps across restarts — users, tokens,
 * rooms, memberships, messages — as an interface, so that a PostgreSQL
 * store for several server processes can be added beside the SQLite one
 * (natter-sqlite-store.c) without touching the callers.
 *
 * Calls are synchronous and meant to be small (one row or one page); the
 * SQLite store runs them on the main loop in WAL mode. Messages are stored
 * in batches (add_messages): one transaction, so one commit (and with
 * synchronous=FULL one fsync) for every send that arrived together. */
#pragma once

#include <gio/gio.h>

#include "natter-chat-message.h"

G_BEGIN_DECLS

#define NATTER_STORE_ERROR (natter_store_error_quark ())

typedef enum
{
  NATTER_STORE_ERROR_FAILED,
  NATTER_STORE_ERROR_EXISTS,
  NATTER_STORE_ERROR_NOT_FOUND,
} NatterStoreError;

GQuark natter_store_error_quark (void);

/* What became of one message of a batch (add_messages). */
typedef enum
{
  NATTER_STORE_ADDED,        /* stored: seq and ts are new */
  NATTER_STORE_DUPLICATE,    /* (from, cid) was stored before: the first seq and ts */
  NATTER_STORE_NO_ROOM,      /* the room does not exist: nothing stored for it */
} NatterStoreAddResult;

/* When a write reaches the disk (with [store] synchronous=full; with
 * normal no commit waits for the disk anyway). */
typedef enum
{
  NATTER_STORE_SYNC_NOW,     /* the commit waits for the disk */
  NATTER_STORE_SYNC_LATER,   /* it does not: the caller answers after sync_async() */
} NatterStoreSync;

typedef struct
{
  char    *name;
  char    *topic;
  gboolean is_public;
  gint64   created;   /* ms since the epoch */
  gint64   last_seq;
} NatterStoreRoom;

void natter_store_room_free (NatterStoreRoom *room);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterStoreRoom, natter_store_room_free)

#define NATTER_TYPE_STORE (natter_store_get_type ())

G_DECLARE_INTERFACE (NatterStore, natter_store, NATTER, STORE, GObject)

struct _NatterStoreInterface
{
  GTypeInterface parent_iface;

  gboolean          (*open)           (NatterStore *self, GError **error);
  void              (*close)          (NatterStore *self);

  gboolean          (*add_user)       (NatterStore *self, const char *user,
                                       const char *password_hash, GError **error);
  char             *(*get_password_hash) (NatterStore *self, const char *user);

  gboolean          (*add_token)      (NatterStore *self, const char *token_hash,
                                       const char *user, GError **error);
  char             *(*lookup_token)   (NatterStore *self, const char *token_hash);
  gboolean          (*remove_token)   (NatterStore *self, const char *token_hash);

  NatterStoreRoom  *(*get_room)       (NatterStore *self, const char *name);
  gboolean          (*add_room)       (NatterStore *self, const char *name, const char *topic,
                                       gboolean is_public, GError **error);
  /* Public rooms and the rooms @user is a member of, sorted by name. */
  GPtrArray        *(*list_rooms)     (NatterStore *self, const char *user);
  guint             (*count_rooms)    (NatterStore *self);

  /* TRUE when the row was added or removed; FALSE with @error unset when
   * it was so already, with @error set when it failed. */
  gboolean          (*add_member)     (NatterStore *self, const char *room, const char *user,
                                       NatterStoreSync sync, GError **error);
  gboolean          (*remove_member)  (NatterStore *self, const char *room, const char *user,
                                       NatterStoreSync sync, GError **error);
  gboolean          (*is_member)      (NatterStore *self, const char *room, const char *user);
  /* The members, sorted. The array may be shared with the store and other
   * callers: read it, unref it, never change it. */
  GPtrArray        *(*list_members)   (NatterStore *self, const char *room);
  /* Everyone who shares at least one room with @user, @user included,
   * sorted; as with list_members, the array may be shared: read only. */
  GPtrArray        *(*list_peers)     (NatterStore *self, const char *user);

  /* Stores @message (room, from, cid, text, file set): fills seq and ts.
   * When (from, cid) exists, fills them from the stored message instead and
   * sets *duplicate. */
  gboolean          (*add_message)    (NatterStore *self, NatterChatMessage *message,
                                       gboolean *duplicate, GError **error);
  /* Stores @n messages in one transaction, in order, as add_message would
   * one by one (a repeated (from, cid) also within the batch answers the
   * first one's seq and ts); results[i] says what became of messages[i].
   * FALSE: nothing of the batch is stored and results are meaningless.
   * The commit may reach the disk only with the next sync (below). */
  gboolean          (*add_messages)   (NatterStore *self, NatterChatMessage **messages,
                                       guint n, NatterStoreAddResult *results,
                                       GError **error);
  /* Messages with before > seq > after, the newest @limit of them when only
   * @before (or nothing) is given, the oldest @limit after @after; always in
   * ascending seq order. *more tells whether the range holds more. */
  GPtrArray        *(*get_history)    (NatterStore *self, const char *room, gint64 before,
                                       gint64 after, guint limit, gboolean *more,
                                       GError **error);
  guint64           (*count_messages) (NatterStore *self);

  /* Makes every add_messages commit so far durable (as durable as the
   * store is configured to be), without blocking the main loop. */
  void              (*sync_async)     (NatterStore *self, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
  gboolean          (*sync_finish)    (NatterStore *self, GAsyncResult *result,
                                       GError **error);
};

gboolean          natter_store_open              (NatterStore        *self,
                                                  GError            **error);
void              natter_store_close             (NatterStore        *self);
gboolean          natter_store_add_user          (NatterStore        *self,
                                                  const char         *user,
                                                  const char         *password_hash,
                                                  GError            **error);
char             *natter_store_get_password_hash (NatterStore        *self,
                                                  const char         *user);
gboolean          natter_store_add_token         (NatterStore        *self,
                                                  const char         *token_hash,
                                                  const char         *user,
                                                  GError            **error);
char             *natter_store_lookup_token      (NatterStore        *self,
                                                  const char         *token_hash);
gboolean          natter_store_remove_token      (NatterStore        *self,
                                                  const char         *token_hash);
NatterStoreRoom  *natter_store_get_room          (NatterStore        *self,
                                                  const char         *name);
gboolean          natter_store_add_room          (NatterStore        *self,
                                                  const char         *name,
                                                  const char         *topic,
                                                  gboolean            is_public,
                                                  GError            **error);
GPtrArray        *natter_store_list_rooms        (NatterStore        *self,
                                                  const char         *user);
guint             natter_store_count_rooms       (NatterStore        *self);
gboolean          natter_store_add_member        (NatterStore        *self,
                                                  const char         *room,
                                                  const char         *user,
                                                  NatterStoreSync     sync,
                                                  GError            **error);
gboolean          natter_store_remove_member     (NatterStore        *self,
                                                  const char         *room,
                                                  const char         *user,
                                                  NatterStoreSync     sync,
                                                  GError            **error);
gboolean          natter_store_is_member         (NatterStore        *self,
                                                  const char         *room,
                                                  const char         *user);
GPtrArray        *natter_store_list_members      (NatterStore        *self,
                                                  const char         *room);
GPtrArray        *natter_store_list_peers        (NatterStore        *self,
                                                  const char         *user);
gboolean          natter_store_add_message       (NatterStore        *self,
                                                  NatterChatMessage  *message,
                                                  gboolean           *duplicate,
                                                  GError            **error);
gboolean          natter_store_add_messages      (NatterStore        *self,
                                                  NatterChatMessage **messages,
                                                  guint               n,
                                                  NatterStoreAddResult *results,
                                                  GError            **error);
GPtrArray        *natter_store_get_history       (NatterStore        *self,
                                                  const char         *room,
                                                  gint64              before,
                                                  gint64              after,
                                                  guint               limit,
                                                  gboolean           *more,
                                                  GError            **error);
guint64           natter_store_count_messages    (NatterStore        *self);
void              natter_store_sync_async        (NatterStore        *self,
                                                  GCancellable       *cancellable,
                                                  GAsyncReadyCallback callback,
                                                  gpointer            user_data);
gboolean          natter_store_sync_finish       (NatterStore        *self,
                                                  GAsyncResult       *result,
                                                  GError            **error);

G_END_DECLS
