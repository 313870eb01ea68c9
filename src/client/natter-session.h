/* natter-session.h: one account on one server, kept alive on the GLib main
 * loop. Signs in over HTTP, holds a Socket.IO connection with heartbeat and
 * reconnect backoff, keeps the SQLite cache and the outbox, and exposes the
 * joined rooms as a GListModel for a UI to bind to. */
#pragma once

#include <gio/gio.h>

#include "natter-client-types.h"
#include "natter-member.h"
#include "natter-message.h"
#include "natter-room.h"

G_BEGIN_DECLS

#define NATTER_TYPE_SESSION (natter_session_get_type ())

G_DECLARE_FINAL_TYPE (NatterSession, natter_session, NATTER, SESSION, GObject)

/* The default acknowledgement timeout, in milliseconds. */
#define NATTER_SESSION_DEFAULT_ACK_TIMEOUT_MS 10000

/* @server: the base URL, "http://host:port" or "https://host" (the
 * WebSocket URL is derived from it); @user: the user name.
 * Token store: NATTER_TOKEN_STORE_SECRET_SERVICE; cache: the default path
 * (see :cache-path). */
NatterSession      *natter_session_new            (const char        *server,
                                                   const char        *user);
/* The same with every construct option explicit. @cache_path NULL means
 * g_get_user_data_dir()/natter/<server-host[_port]>/<user>/cache.db;
 * ":memory:" keeps the cache in memory only. */
NatterSession      *natter_session_new_full       (const char        *server,
                                                   const char        *user,
                                                   NatterTokenStore   token_store,
                                                   const char        *cache_path);

const char         *natter_session_get_server     (NatterSession     *self);
const char         *natter_session_get_user       (NatterSession     *self);
NatterTokenStore    natter_session_get_token_store (NatterSession    *self);
const char         *natter_session_get_cache_path (NatterSession     *self);
NatterSessionState  natter_session_get_state      (NatterSession     *self);
/* When the next connection attempt happens, in g_get_monotonic_time()
 * microseconds; 0 unless :state is WAITING_TO_RETRY. A UI shows
 * "retrying in N s" as (retry_at - g_get_monotonic_time ()) / G_USEC_PER_SEC. */
gint64              natter_session_get_retry_at   (NatterSession     *self);
/* Messages in the outbox still to be acknowledged (failed ones excluded). */
guint               natter_session_get_pending    (NatterSession     *self);
/* Transfer none: the joined rooms (GListModel of NatterRoom), newest
 * activity (:last-ts) first, rooms and DMs mixed; rooms without messages
 * last, by display name. A room moves up when a message arrives in it.
 * Filled from the cache by natter_session_start() before the network
 * answers. */
GListModel         *natter_session_get_rooms      (NatterSession     *self);
/* Transfer none: the joined room called @name, or NULL. */
NatterRoom         *natter_session_lookup_room    (NatterSession     *self,
                                                   const char        *name);
/* TRUE once, after a connect, every joined room was joined again and the
 * outbox started flushing: the room list is the server's. FALSE while
 * offline. */
gboolean            natter_session_get_synced     (NatterSession     *self);
/* The room the user last read (natter_room_mark_read()), kept in the
 * cache: a window can open it at start, before the network answers. NULL
 * when none, or when it is no longer joined. */
NatterRoom         *natter_session_get_last_room  (NatterSession     *self);
/* The last connection or sign-in error (translated), or NULL. */
const char         *natter_session_get_last_error (NatterSession     *self);
/* TRUE while the last connection attempt failed because the server's
 * certificate is not trusted (NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE;
 * :last-error says why). The session keeps retrying with the usual
 * backoff, so a renewed certificate is picked up; a UI shows this rather
 * than a plain "offline". */
gboolean            natter_session_get_certificate_untrusted (NatterSession *self);
/* The certificate authorities the session trusts for https/wss (transfer
 * none). By default the system's; set one holding a private CA
 * (g_tls_file_database_new()) to trust that too, or NULL for the system's
 * again. Certificates are always verified: there is no switch that
 * accepts an untrusted one. */
GTlsDatabase       *natter_session_get_tls_database (NatterSession   *self);
void                natter_session_set_tls_database (NatterSession   *self,
                                                     GTlsDatabase    *database);
/* Acknowledgement timeout in ms (default NATTER_SESSION_DEFAULT_ACK_TIMEOUT_MS). */
void                natter_session_set_ack_timeout (NatterSession    *self,
                                                   guint              timeout_ms);

/* Signs in (POST /api/v1/login) or registers (POST /api/v1/register) and
 * keeps the token in the token store. Errors: NATTER_CLIENT_ERROR_BAD_CREDENTIALS,
 * _USER_TAKEN, _UNREACHABLE, _UNTRUSTED_CERTIFICATE, _NO_SECRET_SERVICE,
 * _BAD_RESPONSE. */
void                natter_session_login_async     (NatterSession       *self,
                                                    const char          *password,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean            natter_session_login_finish    (NatterSession       *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);
void                natter_session_register_async  (NatterSession       *self,
                                                    const char          *password,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean            natter_session_register_finish (NatterSession       *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);
/* Tells the server (POST /api/v1/logout), forgets the token and goes to
 * SIGNED_OUT. The cache stays. */
void                natter_session_logout_async    (NatterSession       *self,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean            natter_session_logout_finish   (NatterSession       *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);

/* Opens the cache (cached rooms and messages appear at once), looks the
 * token up and connects; from then on keeps the session connected,
 * retrying with backoff, until natter_session_stop(). Without a token the
 * state becomes SIGNED_OUT. Returns FALSE only if the cache cannot be
 * opened. */
gboolean            natter_session_start           (NatterSession       *self,
                                                    GError             **error);
/* Closes the connection and stops retrying (state DISCONNECTED). */
void                natter_session_stop            (NatterSession       *self);
/* Skips the backoff wait: connects now (when WAITING_TO_RETRY or
 * DISCONNECTED after a start). */
void                natter_session_retry_now       (NatterSession       *self);

/* The rooms the server lists (public rooms and the user's own), as a
 * GListModel of NatterRoom (transfer full); joined ones are the session's
 * own room objects. Needs the session online. */
void                natter_session_list_rooms_async  (NatterSession       *self,
                                                      GCancellable        *cancellable,
                                                      GAsyncReadyCallback  callback,
                                                      gpointer             user_data);
GListModel         *natter_session_list_rooms_finish (NatterSession       *self,
                                                      GAsyncResult        *result,
                                                      GError             **error);
/* Joins (or with @create, creates with @topic) a room; the room is added
 * to :rooms and its recent history fetched. Finishes with the room
 * (transfer full). Server errors in the NATTER_CHAT_ERROR domain. */
void                natter_session_join_async      (NatterSession       *self,
                                                    const char          *room,
                                                    gboolean             create,
                                                    const char          *topic,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
NatterRoom         *natter_session_join_finish     (NatterSession       *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);
/* Leaves the room; it is removed from :rooms (the cache keeps its
 * messages until the room is joined again). */
void                natter_session_leave_async     (NatterSession       *self,
                                                    NatterRoom          *room,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
gboolean            natter_session_leave_finish    (NatterSession       *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);
/* Opens (creating when needed) the direct-message room with @user. */
void                natter_session_dm_async        (NatterSession       *self,
                                                    const char          *user,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
NatterRoom         *natter_session_dm_finish       (NatterSession       *self,
                                                    GAsyncResult        *result,
                                                    GError             **error);
/* Asks the server for the room's members and their presence; the room's
 * members model is updated. */
void                natter_session_fetch_members_async  (NatterSession       *self,
                                                         NatterRoom          *room,
                                                         GCancellable        *cancellable,
                                                         GAsyncReadyCallback  callback,
                                                         gpointer             user_data);
gboolean            natter_session_fetch_members_finish (NatterSession       *self,
                                                         GAsyncResult        *result,
                                                         GError             **error);
/* One raw page of the server's history of @room (which need not be
 * joined locally): @before and @after are seqs, 0 for none; @limit ≤ 200.
 * Finishes with a GPtrArray of NatterMessage in seq order (transfer full)
 * and whether more exist in that direction. The messages are cached when
 * the room is joined. */
void                natter_session_history_async   (NatterSession       *self,
                                                    const char          *room,
                                                    gint64               before,
                                                    gint64               after,
                                                    guint                limit,
                                                    GCancellable        *cancellable,
                                                    GAsyncReadyCallback  callback,
                                                    gpointer             user_data);
GPtrArray          *natter_session_history_finish  (NatterSession       *self,
                                                    GAsyncResult        *result,
                                                    gboolean            *more,
                                                    GError             **error);

/* Sends a message carrying an uploaded file (see NatterTransfer, which
 * calls this once the upload is complete) through the outbox: exactly once,
 * in order with text. Returns the pending message (transfer none). */
NatterMessage      *natter_session_send_file_message (NatterSession     *self,
                                                      NatterRoom        *room,
                                                      const char        *text,
                                                      const char        *file_id,
                                                      const char        *file_name,
                                                      gint64             file_size,
                                                      const char        *file_mime);

/* The uploads this session is sending and has not sent yet
 * (GListModel of NatterTransfer, transfer none): the ones started in this
 * run and the ones restored from the cache, which an earlier run left
 * unfinished (they resume from the server's offset once online). A
 * transfer leaves the list when its message is queued, or when it fails. */
GListModel         *natter_session_get_transfers   (NatterSession       *self);

/* Puts a failed message back in the outbox (same cid) and sends it again. */
void                natter_session_retry_message   (NatterSession       *self,
                                                    NatterMessage       *message);
/* Removes a failed (or pending) message from the outbox and its timeline. */
void                natter_session_discard_message (NatterSession       *self,
                                                    NatterMessage       *message);

/* Signals:
 * "message-received" (NatterRoom *room, NatterMessage *message): a message
 *   new to this device arrived, live or from the catch-up after a
 *   reconnect (not from the first page of a room just joined, nor from
 *   scrolling back), and it is not one this session sent. It may be the
 *   user's own from another device: check natter_message_get_outgoing()
 *   before notifying.
 * "message-acked" (NatterMessage *message): the server stored one of
 *   ours (ok ack).
 * "message-failed" (NatterMessage *message): the server refused one of
 *   ours for good. */

G_END_DECLS
