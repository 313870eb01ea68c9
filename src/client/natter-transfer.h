/* natter-transfer.h: one file going up (tus 1.0 to /api/v1/uploads, then a
 * `send` with `file` through the session's outbox) or coming down
 * (GET /api/v1/files/{id} into a file), with progress a UI can bind to. */
#pragma once

#include <gio/gio.h>

#include "natter-message.h"
#include "natter-room.h"
#include "natter-session.h"

G_BEGIN_DECLS

/**
 * NatterTransferState:
 * @NATTER_TRANSFER_STATE_QUEUED: waiting to start: for the session to be
 *   online, or for the next attempt after the link broke
 * @NATTER_TRANSFER_STATE_RUNNING: bytes are moving
 * @NATTER_TRANSFER_STATE_PAUSED: stopped by natter_transfer_pause(); what
 *   was transferred is kept
 * @NATTER_TRANSFER_STATE_DONE: uploaded and sent, or downloaded
 * @NATTER_TRANSFER_STATE_FAILED: refused for good, or cancelled; see
 *   #NatterTransfer:error
 */
typedef enum
{
  NATTER_TRANSFER_STATE_QUEUED,
  NATTER_TRANSFER_STATE_RUNNING,
  NATTER_TRANSFER_STATE_PAUSED,
  NATTER_TRANSFER_STATE_DONE,
  NATTER_TRANSFER_STATE_FAILED,
} NatterTransferState;

typedef enum
{
  NATTER_TRANSFER_DIRECTION_UPLOAD,
  NATTER_TRANSFER_DIRECTION_DOWNLOAD,
} NatterTransferDirection;

GType natter_transfer_state_get_type     (void) G_GNUC_CONST;
GType natter_transfer_direction_get_type (void) G_GNUC_CONST;
#define NATTER_TYPE_TRANSFER_STATE     (natter_transfer_state_get_type ())
#define NATTER_TYPE_TRANSFER_DIRECTION (natter_transfer_direction_get_type ())

#define NATTER_TYPE_TRANSFER (natter_transfer_get_type ())

G_DECLARE_FINAL_TYPE (NatterTransfer, natter_transfer, NATTER, TRANSFER, GObject)

/* Uploads @file to @room and then sends it there with @text (may be NULL)
 * as one message. Starts with natter_transfer_start(). */
NatterTransfer          *natter_transfer_new_upload   (NatterSession  *session,
                                                       NatterRoom     *room,
                                                       GFile          *file,
                                                       const char     *text);
/* Downloads the file of @message. @destination NULL: into the cache
 * (g_get_user_cache_dir()/natter/files/ID/NAME), where a finished
 * download is found again instead of being fetched twice. */
NatterTransfer          *natter_transfer_new_download (NatterSession  *session,
                                                       NatterMessage  *message,
                                                       GFile          *destination);
/* The same from a bare file id (natter-cli download ID); @name may be NULL. */
NatterTransfer          *natter_transfer_new_download_id (NatterSession *session,
                                                          const char    *file_id,
                                                          const char    *name,
                                                          GFile         *destination);

/* An upload that starts is kept in the session's cache until its message
 * is queued (or it fails): if the client goes away first, the next session
 * on that cache resumes it (natter_session_get_transfers()). */
void                     natter_transfer_start        (NatterTransfer *self);
/* Stops moving bytes; natter_transfer_resume() continues from what the
 * server (upload) or the partial file (download) has. */
void                     natter_transfer_pause        (NatterTransfer *self);
void                     natter_transfer_resume       (NatterTransfer *self);
/* Stops for good: :state becomes FAILED with a "cancelled" error. */
void                     natter_transfer_cancel       (NatterTransfer *self);

NatterTransferDirection  natter_transfer_get_direction (NatterTransfer *self);
NatterTransferState      natter_transfer_get_state    (NatterTransfer *self);
/* Bytes transferred so far (a resumed transfer counts what it kept). */
gint64                   natter_transfer_get_bytes    (NatterTransfer *self);
/* The file's size; -1 while unknown. */
gint64                   natter_transfer_get_total    (NatterTransfer *self);
/* Bytes per second over the last moments; 0 when not running. */
double                   natter_transfer_get_rate     (NatterTransfer *self);
/* Why it failed (translated), or NULL. */
const char              *natter_transfer_get_error    (NatterTransfer *self);
/* Once FAILED, why, with a code a program can act on:
 * NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE (the message names the host
 * and the reasons, as the session's does; trust a private authority with
 * #NatterSession:tls-database and start a new transfer),
 * G_IO_ERROR_CANCELLED after natter_transfer_cancel(), else
 * NATTER_CLIENT_ERROR_FAILED. NULL while not failed. */
const GError            *natter_transfer_get_failure  (NatterTransfer *self);
/* The local file: the one uploaded, or where the download goes. */
GFile                   *natter_transfer_get_file     (NatterTransfer *self);
const char              *natter_transfer_get_file_name (NatterTransfer *self);
const char              *natter_transfer_get_mime_type (NatterTransfer *self);
/* The server's id of the file, once known (upload: once created). */
const char              *natter_transfer_get_file_id  (NatterTransfer *self);
/* Upload: the message that carries the file, once sent to the outbox. */
NatterMessage           *natter_transfer_get_message  (NatterTransfer *self);
/* The offset the last attempt started from: > 0 after a resume. */
gint64                   natter_transfer_get_resumed_at (NatterTransfer *self);
/* Download of an image: a PNG thumbnail (at most 256×256) made off the
 * main thread, once ready; NULL otherwise. */
GFile                   *natter_transfer_get_thumbnail (NatterTransfer *self);

G_END_DECLS
