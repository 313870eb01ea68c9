/* natter-transfer.c: see the header. Uploads speak tus 1.0: POST creates
 * the upload once, and every attempt asks the server's offset (HEAD) and
 * PATCHes the rest from there, so a cut link or a restarted server costs
 * only the bytes that were in flight. Downloads write to NAME.part and
 * continue it with a Range request; the rename makes a finished file. */
#include "natter-transfer.h"

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <string.h>

#if __has_include(<gdk-pixbuf/gdk-pixbuf.h>)
#include <gdk-pixbuf/gdk-pixbuf.h>
#define HAVE_THUMBNAILS 1
#endif

#include "natter-certificate-error.h"
#include "natter-client-private.h"
#include "natter-server-connection.h"

#define BLOCK_BYTES       (1024 * 1024)
#define UPLOAD_BLOCK_BYTES (1024 * 1024)
#define RATE_WINDOW_US    (250 * 1000)
#define RETRY_MIN_MS      500
#define RETRY_MAX_MS      5000
#define THUMBNAIL_SIZE    256
#define HTTP_TIMEOUT_S    60

struct _NatterTransfer
{
  GObject                  parent_instance;

  NatterSession           *session;      /* weak: the session keeps its uploads */
  NatterTransferDirection  direction;
  NatterTransferState      state;
  gboolean                 wanted;       /* started, not paused nor cancelled */

  NatterRoom              *room;         /* upload */
  char                    *text;
  GFile                   *file;         /* upload source, or download target */
  GFile                   *part;         /* download: FILE.part */
  gboolean                 cached;       /* download into the cache */
  gboolean                 name_unknown; /* cached, named after the id until the server tells */
  char                    *file_name;
  char                    *mime;
  char                    *file_id;
  char                    *upload_url;
  char                    *cid;          /* upload: its message's, fixed at the start */
  gboolean                 persisted;    /* upload: a row in the session's cache */
  NatterMessage           *message;
  GFile                   *thumbnail;
  char                    *error;
  GError                  *failure;      /* why it FAILED, with a code */

  gint64                   bytes;
  gint64                   total;
  gint64                   resumed_at;
  gint64                   attempt_start; /* offset the running attempt began at */
  double                   rate;
  gint64                   rate_time;
  gint64                   rate_bytes;

  SoupSession             *soup;
  GCancellable            *cancellable;  /* of the running attempt */
  gulong                   state_id;
  guint                    retry_id;
  guint                    retry_delay_ms;
  guint                    conflicts;    /* 409s in a row */
  gboolean                 new_attempt;  /* no PATCH sent since attempt() */

  /* the PATCH in flight (written by hand, see patch_connected_cb) */
  GSocketConnection       *connection;
  char                    *request_head;
  GBytes                  *block;
  gint64                   patch_left;
  GDataInputStream        *reply;
  guint                    reply_status;
  char                    *reply_phrase;
  char                    *reply_offset;
  char                    *reply_file_id;
  gint64                   reply_length;
  char                    *write_error;

  /* download streaming: one block is written while the next is read */
  GInputStream            *in;
  GOutputStream           *out;
  guint8                  *buffers[2];
  gboolean                 reading;
  gboolean                 writing;
  gboolean                 eof;
  guint                    read_index;   /* the buffer being read into */
  guint                    write_index;  /* the buffer being written out */
  gsize                    ready;        /* bytes read into read_index, waiting to be written */
  char                    *read_error;   /* the link broke while a block was being written */
};

G_DEFINE_FINAL_TYPE (NatterTransfer, natter_transfer, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (NatterTransferState, natter_transfer_state,
  G_DEFINE_ENUM_VALUE (NATTER_TRANSFER_STATE_QUEUED, "queued"),
  G_DEFINE_ENUM_VALUE (NATTER_TRANSFER_STATE_RUNNING, "running"),
  G_DEFINE_ENUM_VALUE (NATTER_TRANSFER_STATE_PAUSED, "paused"),
  G_DEFINE_ENUM_VALUE (NATTER_TRANSFER_STATE_DONE, "done"),
  G_DEFINE_ENUM_VALUE (NATTER_TRANSFER_STATE_FAILED, "failed"))

G_DEFINE_ENUM_TYPE (NatterTransferDirection, natter_transfer_direction,
  G_DEFINE_ENUM_VALUE (NATTER_TRANSFER_DIRECTION_UPLOAD, "upload"),
  G_DEFINE_ENUM_VALUE (NATTER_TRANSFER_DIRECTION_DOWNLOAD, "download"))

enum {
  PROP_0,
  PROP_DIRECTION,
  PROP_STATE,
  PROP_BYTES,
  PROP_TOTAL,
  PROP_RATE,
  PROP_ERROR,
  PROP_FILE,
  PROP_FILE_NAME,
  PROP_FILE_ID,
  PROP_MESSAGE,
  PROP_THUMBNAIL,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void attempt (NatterTransfer *self);

/* ---- state ------------------------------------------------------------------------- */

static void
set_state (NatterTransfer      *self,
           NatterTransferState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  if (state != NATTER_TRANSFER_STATE_RUNNING && self->rate != 0)
    {
      self->rate = 0;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RATE]);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_error (NatterTransfer *self,
           const char     *error)
{
  if (g_strcmp0 (self->error, error) == 0)
    return;
  g_free (self->error);
  self->error = g_strdup (error);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
}

static void
set_total (NatterTransfer *self,
           gint64          total)
{
  if (self->total == total)
    return;
  self->total = total;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOTAL]);
}

static void
set_bytes (NatterTransfer *self,
           gint64          bytes)
{
  gint64 now = g_get_monotonic_time ();

  if (self->bytes == bytes)
    return;
  self->bytes = bytes;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BYTES]);

  if (self->rate_time == 0 || bytes < self->rate_bytes)
    {
      self->rate_time = now;
      self->rate_bytes = bytes;
    }
  else if (now - self->rate_time >= RATE_WINDOW_US ||
           (self->rate == 0 && now - self->rate_time >= RATE_WINDOW_US / 10) ||
           (bytes == self->total && now > self->rate_time))
    {
      /* A first estimate early, then one per window, and one at the end
       * (a fast transfer may be over before the first). */
      self->rate = (double) (bytes - self->rate_bytes) * G_USEC_PER_SEC / (now - self->rate_time);
      self->rate_time = now;
      self->rate_bytes = bytes;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RATE]);
    }
}

static void patch_close (NatterTransfer *self);

/* ---- persistence: an unsent upload is a row in the session's cache, so a
 * later run resumes it (from the server's offset) and sends its message
 * under the same cid, which keeps it exactly once. */

static NatterCache *
session_cache (NatterTransfer *self)
{
  return self->session != NULL ? _natter_session_get_cache (self->session) : NULL;
}

static void
persist (NatterTransfer *self)
{
  NatterCache *cache = session_cache (self);
  g_autofree char *path = NULL;
  g_autoptr(GError) error = NULL;
  NatterCacheUpload row = { 0, };

  if (self->direction != NATTER_TRANSFER_DIRECTION_UPLOAD || cache == NULL ||
      (path = g_file_get_path (self->file)) == NULL)
    return;   /* not a local file: it uploads, but does not outlive the run */

  row.cid = self->cid;
  row.room = (char *) natter_room_get_name (self->room);
  row.path = path;
  row.name = self->file_name;
  row.mime = self->mime;
  row.text = self->text;
  row.url = self->upload_url;
  row.size = self->total;
  row.created = g_get_real_time () / 1000;
  row.paused = self->state == NATTER_TRANSFER_STATE_PAUSED;
  if (natter_cache_put_upload (cache, &row, &error))
    self->persisted = TRUE;
  else
    g_debug ("transfer %s: not kept for a restart: %s", self->file_name, error->message);
}

/* The upload is over (its message queued, or failed for good). */
static void
forget (NatterTransfer *self)
{
  NatterCache *cache = session_cache (self);

  if (self->direction != NATTER_TRANSFER_DIRECTION_UPLOAD)
    return;
  if (self->persisted && cache != NULL)
    natter_cache_remove_upload (cache, self->cid);
  self->persisted = FALSE;
  if (self->session != NULL)
    _natter_session_remove_transfer (self->session, self);
}

static void
stop_attempt (NatterTransfer *self)
{
  g_cancellable_cancel (self->cancellable);
  patch_close (self);
  g_clear_object (&self->cancellable);
  g_clear_handle_id (&self->retry_id, g_source_remove);
  if (self->out != NULL)
    g_output_stream_close (self->out, NULL, NULL);
  g_clear_object (&self->out);
  g_clear_object (&self->in);
  self->rate_time = 0;
}

/* Ends the transfer for good with @error (taken). */
static void
fail_with_error (NatterTransfer *self,
                 GError         *error)
{
  g_autoptr(NatterTransfer) keep = g_object_ref (self);   /* the session may hold the last ref */

  stop_attempt (self);
  self->wanted = FALSE;
  g_clear_error (&self->failure);
  self->failure = error;
  set_error (self, error->message);
  set_state (self, NATTER_TRANSFER_STATE_FAILED);
  forget (self);
}

static void
fail (NatterTransfer *self,
      const char     *reason)
{
  fail_with_error (self, g_error_new_literal (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_FAILED, reason));
}

/* A certificate the trust store refuses is not fixed by trying again
 * soon: the transfer fails, saying why as the session does. TRUE when
 * @error was that. */
static gboolean
fail_on_certificate (NatterTransfer       *self,
                     const GError         *error,
                     const char           *url,
                     GTlsCertificateFlags  flags)
{
  if (!_natter_certificate_error_matches (error))
    return FALSE;
  fail_with_error (self, _natter_certificate_error_new (url, flags));
  return TRUE;
}

static gboolean
retry_cb (gpointer user_data)
{
  NatterTransfer *self = user_data;

  self->retry_id = 0;
  attempt (self);
  return G_SOURCE_REMOVE;
}

/* The link broke (or the server is restarting): wait, then ask the server
 * where it got to. A reconnect of the session triggers the next attempt
 * at once (see session_state_cb). */
static void
retry_later (NatterTransfer *self,
             const char     *reason)
{
  stop_attempt (self);
  if (!self->wanted)
    return;
  g_debug ("transfer %s: %s; retrying", self->file_name, reason);
  set_error (self, reason);
  set_state (self, NATTER_TRANSFER_STATE_QUEUED);
  self->retry_delay_ms = CLAMP (self->retry_delay_ms * 2, RETRY_MIN_MS, RETRY_MAX_MS);
  self->retry_id = g_timeout_add (self->retry_delay_ms, retry_cb, self);
}

static void
session_state_cb (NatterSession  *session,
                  GParamSpec     *pspec,
                  NatterTransfer *self)
{
  if (natter_session_get_state (session) == NATTER_SESSION_STATE_ONLINE &&
      self->wanted && self->state == NATTER_TRANSFER_STATE_QUEUED)
    {
      g_clear_handle_id (&self->retry_id, g_source_remove);
      attempt (self);
    }
}

/* ---- HTTP ------------------------------------------------------------------------- */

static SoupMessage *
new_request (NatterTransfer *self,
             const char     *method,
             const char     *url_or_path)
{
  const char *token = _natter_session_get_token (self->session);
  g_autofree char *url = NULL;
  SoupMessage *msg;

  g_assert (self->session != NULL);   /* attempt() checks */
  if (g_str_has_prefix (url_or_path, "/"))
    url = g_strconcat (natter_session_get_server (self->session), url_or_path, NULL);
  else
    url = g_strdup (url_or_path);

  msg = soup_message_new (method, url);
  if (msg == NULL)
    return NULL;
  if (token != NULL)
    {
      g_autofree char *bearer = g_strconcat ("Bearer ", token, NULL);

      soup_message_headers_replace (soup_message_get_request_headers (msg), "Authorization",
                                    bearer);
    }
  if (self->direction == NATTER_TRANSFER_DIRECTION_UPLOAD)
    soup_message_headers_replace (soup_message_get_request_headers (msg), "Tus-Resumable",
                                  "1.0.0");
  return msg;
}

/* The server's {"message":…}, or a generic text for @status. */
static char *
server_reason (guint       status,
               const char *reason_phrase,
               GBytes     *body)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  gsize len = 0;
  const char *data = body != NULL ? g_bytes_get_data (body, &len) : NULL;

  if (data != NULL && len > 0 && len < 4096 && json_parser_load_from_data (parser, data, len, NULL) &&
      JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      JsonObject *object = json_node_get_object (json_parser_get_root (parser));
      const char *message = json_object_get_string_member_with_default (object, "message", NULL);

      if (message != NULL && status != SOUP_STATUS_UNAUTHORIZED && status != SOUP_STATUS_FORBIDDEN)
        return g_strdup (message);
    }

  switch (status)
    {
    case SOUP_STATUS_UNAUTHORIZED:
      return g_strdup (_("Signed out: sign in again to send files"));
    case SOUP_STATUS_FORBIDDEN:
      return g_strdup (_("Only members of the room can send or get its files"));
    case SOUP_STATUS_NOT_FOUND:
      return g_strdup (_("The file is not on the server"));
    case SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE:
      return g_strdup (_("File too large"));
    default:
      return g_strdup_printf (_("The server answered %u %s"), status,
                              reason_phrase != NULL ? reason_phrase : "");
    }
}

/* Server errors that a later attempt may not get. */
static gboolean
status_is_transient (guint status)
{
  return status == 0 || status == SOUP_STATUS_REQUEST_TIMEOUT ||
         status == 429 || status >= 500;
}

/* Handles a failed exchange: TRUE when it was one (and is dealt with). */
static gboolean
handle_status (NatterTransfer *self,
               guint           status,
               const char     *reason_phrase,
               GBytes         *body,
               GError         *error)
{
  g_autofree char *reason = NULL;

  if (error != NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        retry_later (self, error->message);
      return TRUE;
    }
  if (SOUP_STATUS_IS_SUCCESSFUL (status))
    return FALSE;

  reason = server_reason (status, reason_phrase, body);
  if (status_is_transient (status))
    retry_later (self, reason);
  else
    fail (self, reason);
  return TRUE;
}

static gboolean
handle_failure (NatterTransfer *self,
                SoupMessage    *msg,
                GBytes         *body,
                GError         *error)
{
  if (error != NULL)
    {
      g_autofree char *url = g_uri_to_string (soup_message_get_uri (msg));

      if (fail_on_certificate (self, error, url, soup_message_get_tls_peer_certificate_errors (msg)))
        return TRUE;
    }
  return handle_status (self, soup_message_get_status (msg), soup_message_get_reason_phrase (msg),
                        body, error);
}

/* ---- upload ------------------------------------------------------------------------ */

static void upload_head (NatterTransfer *self);

static void
upload_finished (NatterTransfer *self)
{
  g_autoptr(NatterTransfer) keep = g_object_ref (self);   /* the session may hold the last ref */
  NatterChatFile file = { self->file_id, self->file_name, self->total, self->mime };

  stop_attempt (self);
  set_bytes (self, self->total);

  /* Through the outbox, like text: stored before it is sent, resent after
   * a reconnect, dropped only on an ok ack — so exactly once. The cid is
   * the upload's: if a restart came between the outbox and forget(), the
   * message is found queued, and the server knows the cid if it was sent. */
  self->message = g_object_ref (_natter_session_send_file (self->session, self->room, self->text,
                                                           &file, self->cid));
  forget (self);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MESSAGE]);
  set_error (self, NULL);
  self->wanted = FALSE;
  set_state (self, NATTER_TRANSFER_STATE_DONE);
}

static void upload_patch (NatterTransfer *self, gint64 offset);

/* ---- upload: the PATCH, written by hand --------------------------------------------------
 * libsoup writes a request body 8 KiB per main-loop iteration (poll, send,
 * a GTask, again), which costs more CPU than moving the bytes. So the PATCH
 * goes straight to a socket in UPLOAD_BLOCK_BYTES writes, each block read
 * from the file by a worker thread first; the short answer is parsed here.
 * POST and HEAD stay with libsoup. */

static void
patch_close (NatterTransfer *self)
{
  g_clear_object (&self->reply);
  g_clear_pointer (&self->block, g_bytes_unref);
  if (self->connection != NULL)
    g_io_stream_close (G_IO_STREAM (self->connection), NULL, NULL);
  g_clear_object (&self->connection);
  g_clear_pointer (&self->reply_phrase, g_free);
  g_clear_pointer (&self->reply_file_id, g_free);
  g_clear_pointer (&self->reply_offset, g_free);
  g_clear_pointer (&self->write_error, g_free);
}

static void
patch_done (NatterTransfer *self,
            GBytes         *body)
{
  guint status = self->reply_status;
  g_autofree char *phrase = g_strdup (self->reply_phrase);
  g_autofree char *file_id = g_strdup (self->reply_file_id);
  g_autofree char *offset_text = g_strdup (self->reply_offset);
  guint64 offset;

  patch_close (self);
  if (status == SOUP_STATUS_CONFLICT && self->conflicts++ < 3)
    {
      /* Our idea of the offset was wrong: ask again. */
      upload_head (self);
      return;
    }
  if (handle_status (self, status, phrase, body, NULL))
    return;

  self->conflicts = 0;
  if (file_id != NULL)
    {
      g_free (self->file_id);
      self->file_id = g_steal_pointer (&file_id);
      upload_finished (self);
    }
  else if (offset_text != NULL &&
           g_ascii_string_to_unsigned (offset_text, 10, 0, self->total, &offset, NULL) &&
           (gint64) offset > self->attempt_start)
    upload_patch (self, offset);   /* the server kept part of it: go on from there */
  else
    upload_head (self);
}

/* The link broke while writing or reading the answer. */
static void
patch_broken (NatterTransfer *self,
              const char     *why)
{
  g_autofree char *reason = g_strdup (self->write_error != NULL ? self->write_error : why);

  patch_close (self);
  retry_later (self, reason);
}

static void
patch_body_read_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(NatterTransfer) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  patch_done (self, body);
}

static void
patch_reply_line_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(NatterTransfer) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source),
                                                                result, NULL, &error);
  char *colon;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL)
    {
      patch_broken (self, error != NULL ? error->message : _("The server closed the connection"));
      return;
    }

  if (self->reply_status == 0)
    {
      guint64 status = 0;
      char code[4] = { 0, };

      /* "HTTP/1.1 204 No Content" */
      if (strlen (line) >= 12)
        memcpy (code, line + 9, 3);
      if (!g_str_has_prefix (line, "HTTP/1.") || strlen (line) < 12 ||
          !g_ascii_string_to_unsigned (code, 10, 100, 599, &status, NULL))
        {
          patch_broken (self, _("The server answered something unexpected"));
          return;
        }
      self->reply_status = status;
      self->reply_phrase = g_strdup (g_strstrip (line + 12));
    }
  else if (*line == '\0')
    {
      /* The end of the headers; an error has a short JSON body. */
      if (!SOUP_STATUS_IS_SUCCESSFUL (self->reply_status) && self->reply_length > 0 &&
          self->reply_length <= 4096)
        g_input_stream_read_bytes_async (G_INPUT_STREAM (self->reply), self->reply_length,
                                         G_PRIORITY_DEFAULT, self->cancellable,
                                         patch_body_read_cb, g_object_ref (self));
      else
        patch_done (self, NULL);
      return;
    }
  else if ((colon = strchr (line, ':')) != NULL)
    {
      const char *value;

      *colon = '\0';
      value = g_strstrip (colon + 1);
      if (g_ascii_strcasecmp (line, "Upload-Offset") == 0)
        {
          g_free (self->reply_offset);
          self->reply_offset = g_strdup (value);
        }
      else if (g_ascii_strcasecmp (line, "Natter-File-Id") == 0)
        {
          g_free (self->reply_file_id);
          self->reply_file_id = g_strdup (value);
        }
      else if (g_ascii_strcasecmp (line, "Content-Length") == 0)
        self->reply_length = g_ascii_strtoll (value, NULL, 10);
    }

  if (self->reply_status != 0 && self->reply_length > 1000000)
    {
      patch_broken (self, _("The server answered something unexpected"));
      return;
    }
  g_data_input_stream_read_line_async (self->reply, G_PRIORITY_DEFAULT, self->cancellable,
                                       patch_reply_line_cb, g_object_ref (self));
}

static void
patch_read_reply (NatterTransfer *self)
{
  GInputStream *in = g_io_stream_get_input_stream (G_IO_STREAM (self->connection));

  self->reply = g_data_input_stream_new (in);
  g_data_input_stream_set_newline_type (self->reply, G_DATA_STREAM_NEWLINE_TYPE_CR_LF);
  /* Headers are short; a longer line is not an answer of ours. */
  g_buffered_input_stream_set_buffer_size (G_BUFFERED_INPUT_STREAM (self->reply), 8192);
  self->reply_status = 0;
  self->reply_length = 0;
  g_data_input_stream_read_line_async (self->reply, G_PRIORITY_DEFAULT, self->cancellable,
                                       patch_reply_line_cb, g_object_ref (self));
}

static void patch_next_block (NatterTransfer *self);

static void
patch_block_written_cb (GObject      *source,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  g_autoptr(NatterTransfer) self = user_data;
  g_autoptr(GError) error = NULL;
  gsize written = 0;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, &written, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
      /* The server may have refused the body (413) and closed: its
       * answer, if any, says why. */
      self->write_error = g_strdup (error->message);
      patch_read_reply (self);
      return;
    }
  g_clear_pointer (&self->block, g_bytes_unref);
  self->patch_left -= written;
  set_bytes (self, self->total - self->patch_left);
  patch_next_block (self);
}

static void
patch_block_read_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(NatterTransfer) self = user_data;
  g_autoptr(GError) error = NULL;
  GBytes *block = g_input_stream_read_bytes_finish (G_INPUT_STREAM (source), result, &error);
  gsize size;
  gconstpointer data;

  if (block == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        fail (self, error->message);
      return;
    }
  data = g_bytes_get_data (block, &size);
  if (size == 0)
    {
      g_bytes_unref (block);
      fail (self, _("The file got shorter while it was being sent"));
      return;
    }
  self->block = block;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (self->connection)),
                                   data, size, G_PRIORITY_DEFAULT, self->cancellable,
                                   patch_block_written_cb, g_object_ref (self));
}

static void
patch_next_block (NatterTransfer *self)
{
  if (self->patch_left == 0)
    {
      patch_read_reply (self);
      return;
    }
  g_input_stream_read_bytes_async (self->in, MIN (UPLOAD_BLOCK_BYTES, self->patch_left),
                                   G_PRIORITY_DEFAULT, self->cancellable, patch_block_read_cb,
                                   g_object_ref (self));
}

static void
patch_head_written_cb (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  g_autoptr(NatterTransfer) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        patch_broken (self, error->message);
      return;
    }
  patch_next_block (self);
}

static void
patch_connected_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(NatterTransfer) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GUri) uri = NULL;
  g_autofree char *host = NULL;
  const char *token = _natter_session_get_token (self->session);
  GSocketConnection *connection;

  connection = g_socket_client_connect_to_uri_finish (G_SOCKET_CLIENT (source), result, &error);
  if (connection == NULL)
    {
      GTlsCertificateFlags flags =
        _natter_server_socket_client_get_certificate_errors (G_SOCKET_CLIENT (source));

      if (!fail_on_certificate (self, error, self->upload_url, flags))
        handle_status (self, 0, NULL, NULL, error);
      return;
    }
  self->connection = connection;

  uri = g_uri_parse (self->upload_url, G_URI_FLAGS_ENCODED, NULL);
  if (uri == NULL)
    {
      fail (self, _("The server answered something unexpected"));
      return;
    }
  host = g_strdup_printf (strchr (g_uri_get_host (uri), ':') != NULL ? "[%s]" : "%s",
                          g_uri_get_host (uri));
  if (g_uri_get_port (uri) > 0)
    {
      char *with_port = g_strdup_printf ("%s:%d", host, g_uri_get_port (uri));

      g_free (host);
      host = with_port;
    }
  g_free (self->request_head);
  self->request_head =
    g_strdup_printf ("PATCH %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Authorization: Bearer %s\r\n"
                     "Tus-Resumable: 1.0.0\r\n"
                     "Upload-Offset: %" G_GINT64_FORMAT "\r\n"
                     "Content-Type: application/offset+octet-stream\r\n"
                     "Content-Length: %" G_GINT64_FORMAT "\r\n"
                     "Connection: close\r\n\r\n",
                     g_uri_get_path (uri), host, token != NULL ? token : "", self->attempt_start, self->patch_left);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                                   self->request_head, strlen (self->request_head),
                                   G_PRIORITY_DEFAULT, self->cancellable, patch_head_written_cb,
                                   g_object_ref (self));
}

/* PATCHes the rest of the file from @offset. */
static void
upload_patch (NatterTransfer *self,
              gint64          offset)
{
  g_autoptr(GSocketClient) client = NULL;
  g_autoptr(GError) error = NULL;

  if (offset == self->total)
    {
      /* Complete already: the answer to the last PATCH got lost. */
      upload_finished (self);
      return;
    }

  if (self->in == NULL)
    {
      self->in = G_INPUT_STREAM (g_file_read (self->file, self->cancellable, &error));
      if (self->in == NULL)
        {
          fail (self, error->message);
          return;
        }
    }
  if (!g_seekable_seek (G_SEEKABLE (self->in), offset, G_SEEK_SET, self->cancellable, &error))
    {
      fail (self, error->message);
      return;
    }

  if (self->new_attempt && offset > 0)
    self->resumed_at = offset;
  self->new_attempt = FALSE;
  self->attempt_start = offset;
  self->patch_left = self->total - offset;
  set_bytes (self, offset);

  client = _natter_server_socket_client_new (self->upload_url,
                                             natter_session_get_tls_database (self->session));
  g_socket_client_connect_to_uri_async (client, self->upload_url, 80, self->cancellable,
                                        patch_connected_cb, g_object_ref (self));
}

static void
upload_head_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(NatterTransfer) self = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  const char *offset_text;
  guint64 offset;

  if (error == NULL && soup_message_get_status (msg) == SOUP_STATUS_NOT_FOUND)
    {
      /* Expired on the server (abandoned for a day): start over. */
      g_clear_pointer (&self->upload_url, g_free);
      g_clear_pointer (&self->file_id, g_free);
      self->resumed_at = 0;
      if (self->persisted)
        persist (self);
      attempt (self);
      return;
    }
  if (handle_failure (self, msg, body, error))
    return;

  offset_text = soup_message_headers_get_one (soup_message_get_response_headers (msg),
                                              "Upload-Offset");
  if (offset_text == NULL ||
      !g_ascii_string_to_unsigned (offset_text, 10, 0, self->total, &offset, NULL))
    {
      fail (self, _("The server answered something unexpected"));
      return;
    }
  upload_patch (self, offset);
}

static void
upload_head (NatterTransfer *self)
{
  g_autoptr(SoupMessage) msg = new_request (self, "HEAD", self->upload_url);

  soup_session_send_and_read_async (self->soup, msg, G_PRIORITY_DEFAULT, self->cancellable,
                                    upload_head_cb, g_object_ref (self));
}

static void
upload_created_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(NatterTransfer) self = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &error);
  SoupMessageHeaders *headers;
  const char *location;
  const char *slash;

  if (handle_failure (self, msg, body, error))
    return;

  headers = soup_message_get_response_headers (msg);
  location = soup_message_headers_get_one (headers, "Location");
  if (location == NULL || (slash = strrchr (location, '/')) == NULL || slash[1] == '\0')
    {
      fail (self, _("The server answered something unexpected"));
      return;
    }
  self->upload_url = g_uri_resolve_relative (natter_session_get_server (self->session), location,
                                             G_URI_FLAGS_NONE, NULL);
  self->file_id = g_strdup (slash + 1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILE_ID]);
  if (self->upload_url == NULL)
    {
      fail (self, _("The server answered something unexpected"));
      return;
    }
  if (self->persisted)
    persist (self);   /* the url: a restart resumes this upload, not a new one */

  if (soup_message_headers_get_one (headers, "Natter-File-Id") != NULL)
    upload_finished (self);   /* an empty file is complete at creation */
  else
    upload_patch (self, 0);
}

static char *
upload_metadata (NatterTransfer *self)
{
  const char *room = natter_room_get_name (self->room);
  g_autofree char *r = g_base64_encode ((const guchar *) room, strlen (room));
  g_autofree char *n = g_base64_encode ((const guchar *) self->file_name, strlen (self->file_name));
  g_autofree char *m = g_base64_encode ((const guchar *) self->mime, strlen (self->mime));

  return g_strdup_printf ("room %s,filename %s,mime %s", r, n, m);
}

static void
upload_attempt (NatterTransfer *self)
{
  g_autoptr(SoupMessage) msg = NULL;
  g_autofree char *length = NULL;
  g_autofree char *metadata = NULL;

  if (self->upload_url != NULL)
    {
      upload_head (self);
      return;
    }

  if (self->total < 0)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GFileInfo) info = g_file_query_info (self->file, G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                                     G_FILE_QUERY_INFO_NONE, NULL, &error);

      if (info == NULL)
        {
          fail (self, error->message);
          return;
        }
      set_total (self, g_file_info_get_size (info));
    }

  msg = new_request (self, "POST", "/api/v1/uploads");
  length = g_strdup_printf ("%" G_GINT64_FORMAT, self->total);
  metadata = upload_metadata (self);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Upload-Length", length);
  soup_message_headers_replace (soup_message_get_request_headers (msg), "Upload-Metadata", metadata);
  soup_session_send_and_read_async (self->soup, msg, G_PRIORITY_DEFAULT, self->cancellable,
                                    upload_created_cb, g_object_ref (self));
}

/* ---- download ---------------------------------------------------------------------- */

#ifdef HAVE_THUMBNAILS
static void
thumbnail_thread (GTask        *task,
                  gpointer      source,
                  gpointer      task_data,
                  GCancellable *cancellable)
{
  GFile **files = task_data;  /* image, thumbnail */
  g_autofree char *image = g_file_get_path (files[0]);
  g_autofree char *thumb = g_file_get_path (files[1]);
  g_autofree char *dir = g_path_get_dirname (thumb);
  g_autoptr(GdkPixbuf) pixbuf = NULL;
  g_autoptr(GError) error = NULL;

  g_mkdir_with_parents (dir, 0700);
  pixbuf = gdk_pixbuf_new_from_file_at_scale (image, THUMBNAIL_SIZE, THUMBNAIL_SIZE, TRUE, &error);
  if (pixbuf == NULL || !gdk_pixbuf_save (pixbuf, thumb, "png", &error, NULL))
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_boolean (task, TRUE);
}

static void
thumbnail_done_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  NatterTransfer *self = NATTER_TRANSFER (source);
  GFile **files = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_debug ("thumbnail of %s: %s", self->file_name, error->message);
      return;
    }
  g_set_object (&self->thumbnail, files[1]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THUMBNAIL]);
}

static void
files_free (gpointer data)
{
  GFile **files = data;

  g_object_unref (files[0]);
  g_object_unref (files[1]);
  g_free (files);
}
#endif

static void
make_thumbnail (NatterTransfer *self)
{
#ifdef HAVE_THUMBNAILS
  g_autoptr(GTask) task = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  GFile **files;

  if (self->mime == NULL || !g_str_has_prefix (self->mime, "image/") || self->file_id == NULL)
    return;

  name = g_strconcat (self->file_id, ".png", NULL);
  path = g_build_filename (g_get_user_cache_dir (), "natter", "thumbnails", name, NULL);
  files = g_new0 (GFile *, 2);
  files[0] = g_object_ref (self->file);
  files[1] = g_file_new_for_path (path);
  if (g_file_query_exists (files[1], NULL))
    {
      g_set_object (&self->thumbnail, files[1]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THUMBNAIL]);
      files_free (files);
      return;
    }

  /* Decoding a large image takes long: never on the main thread. */
  task = g_task_new (self, NULL, thumbnail_done_cb, NULL);
  g_task_set_task_data (task, files, files_free);
  g_task_run_in_thread (task, thumbnail_thread);
#endif
}

static char *safe_file_name (const char *name, const char *fallback);

static void
download_finished (NatterTransfer *self)
{
  g_autoptr(GError) error = NULL;

  if (self->out != NULL && !g_output_stream_close (self->out, NULL, &error))
    {
      fail (self, error->message);
      return;
    }
  g_clear_object (&self->out);
  if (self->total >= 0 && self->bytes != self->total)
    {
      retry_later (self, _("The download ended early"));
      return;
    }
  if (!g_file_move (self->part, self->file, G_FILE_COPY_OVERWRITE, NULL, NULL, NULL, &error))
    {
      fail (self, error->message);
      return;
    }
  stop_attempt (self);
  set_total (self, self->bytes);
  set_error (self, NULL);
  self->wanted = FALSE;
  set_state (self, NATTER_TRANSFER_STATE_DONE);
  make_thumbnail (self);
}

static void download_pump (NatterTransfer *self);

static void
download_written_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(NatterTransfer) self = user_data;
  g_autoptr(GError) error = NULL;
  gsize written = 0;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, &written, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        fail (self, error->message);   /* a full disk is not fixed by retrying */
      return;
    }
  self->writing = FALSE;
  set_bytes (self, self->bytes + written);
  download_pump (self);
}

static void
download_read_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(NatterTransfer) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self->reading = FALSE;
  if (n < 0)
    {
      /* The retry reads the .part's size: the write in flight ends first. */
      g_free (self->read_error);
      self->read_error = g_strdup (error->message);
      self->eof = TRUE;
    }
  else if (n == 0)
    self->eof = TRUE;
  else
    self->ready = n;
  download_pump (self);
}

/* Starts what can start: the write of the block just read, and the read of
 * the next one into the other buffer. The network and the disk then work
 * at the same time; waiting for each in turn costs two thread handoffs per
 * block, which on a busy machine is most of the time spent. */
static void
download_pump (NatterTransfer *self)
{
  if (!self->writing && self->ready > 0)
    {
      gsize n = self->ready;

      self->ready = 0;
      self->writing = TRUE;
      self->write_index = self->read_index;
      g_output_stream_write_all_async (self->out, self->buffers[self->write_index], n,
                                       G_PRIORITY_DEFAULT, self->cancellable,
                                       download_written_cb, g_object_ref (self));
    }
  if (!self->reading && self->ready == 0 && !self->eof)
    {
      self->reading = TRUE;
      self->read_index = self->writing ? 1 - self->write_index : 0;
      g_input_stream_read_async (self->in, self->buffers[self->read_index], BLOCK_BYTES,
                                 G_PRIORITY_DEFAULT, self->cancellable, download_read_cb,
                                 g_object_ref (self));
    }
  if (self->eof && !self->reading && !self->writing && self->ready == 0)
    {
      g_autofree char *read_error = g_steal_pointer (&self->read_error);

      if (read_error != NULL)
        retry_later (self, read_error);
      else
        download_finished (self);
    }
}

static void
download_sent_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(NatterTransfer) self = user_data;
  SoupMessage *msg = soup_session_get_async_result_message (SOUP_SESSION (source), result);
  g_autoptr(GError) error = NULL;
  g_autoptr(GInputStream) in = soup_session_send_finish (SOUP_SESSION (source), result, &error);
  SoupMessageHeaders *headers;
  guint status;
  goffset start = 0, end = 0, total = -1;

  if (in == NULL)
    {
      handle_failure (self, msg, NULL, error);
      return;
    }

  status = soup_message_get_status (msg);
  headers = soup_message_get_response_headers (msg);
  if (status == SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE && self->bytes > 0)
    {
      /* The partial file is not a prefix of this file: start over. */
      g_file_delete (self->part, NULL, NULL);
      set_bytes (self, 0);
      attempt (self);
      return;
    }
  if (!SOUP_STATUS_IS_SUCCESSFUL (status))
    {
      g_autoptr(GBytes) body = g_input_stream_read_bytes (in, 4096, NULL, NULL);

      handle_failure (self, msg, body, NULL);
      return;
    }

  if (status == SOUP_STATUS_PARTIAL_CONTENT &&
      soup_message_headers_get_content_range (headers, &start, &end, &total) &&
      start == self->bytes)
    {
      self->out = G_OUTPUT_STREAM (g_file_append_to (self->part, G_FILE_CREATE_PRIVATE,
                                                     self->cancellable, &error));
    }
  else
    {
      total = soup_message_headers_get_content_length (headers);
      if (soup_message_headers_get_encoding (headers) != SOUP_ENCODING_CONTENT_LENGTH)
        total = -1;
      set_bytes (self, 0);
      self->out = G_OUTPUT_STREAM (g_file_replace (self->part, NULL, FALSE, G_FILE_CREATE_PRIVATE,
                                                   self->cancellable, &error));
    }
  if (self->out == NULL)
    {
      fail (self, error->message);
      return;
    }
  if (total >= 0)
    set_total (self, total);
  if (self->mime == NULL)
    {
      self->mime = g_strdup (soup_message_headers_get_content_type (headers, NULL));
      if (self->mime == NULL)
        self->mime = g_strdup ("application/octet-stream");
    }
  if (self->name_unknown)
    {
      g_autoptr(GHashTable) params = NULL;
      const char *name = NULL;

      /* libsoup decodes filename*=UTF-8''… into "filename". */
      if (soup_message_headers_get_content_disposition (headers, NULL, &params))
        name = g_hash_table_lookup (params, "filename");
      if (name != NULL)
        {
          g_autoptr(GFile) dir = g_file_get_parent (self->file);

          g_free (self->file_name);
          self->file_name = safe_file_name (name, self->file_id);
          g_object_unref (self->file);
          self->file = g_file_get_child (dir, self->file_name);
          g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILE]);
          g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_FILE_NAME]);
        }
      self->name_unknown = FALSE;
    }

  self->in = g_steal_pointer (&in);
  self->attempt_start = self->bytes;
  if (self->bytes > 0)
    self->resumed_at = self->bytes;
  self->reading = self->writing = self->eof = FALSE;
  self->ready = 0;
  g_clear_pointer (&self->read_error, g_free);
  download_pump (self);
}

static void
download_attempt (NatterTransfer *self)
{
  g_autofree char *path = g_strconcat ("/api/v1/files/", self->file_id, NULL);
  g_autoptr(SoupMessage) msg = new_request (self, "GET", path);
  g_autoptr(GFileInfo) info = NULL;

  /* What an earlier attempt left is continued, not fetched again. */
  info = g_file_query_info (self->part, G_FILE_ATTRIBUTE_STANDARD_SIZE, G_FILE_QUERY_INFO_NONE,
                            NULL, NULL);
  set_bytes (self, info != NULL ? g_file_info_get_size (info) : 0);
  if (self->bytes > 0)
    soup_message_headers_set_range (soup_message_get_request_headers (msg), self->bytes, -1);

  if (self->buffers[0] == NULL)
    {
      self->buffers[0] = g_malloc (BLOCK_BYTES);
      self->buffers[1] = g_malloc (BLOCK_BYTES);
    }
  soup_session_send_async (self->soup, msg, G_PRIORITY_DEFAULT, self->cancellable,
                           download_sent_cb, g_object_ref (self));
}

/* ---- control ----------------------------------------------------------------------- */

static void
attempt (NatterTransfer *self)
{
  if (!self->wanted || self->state == NATTER_TRANSFER_STATE_DONE ||
      self->state == NATTER_TRANSFER_STATE_FAILED)
    return;

  stop_attempt (self);

  /* The session went (detached): nothing to send with. */
  if (self->session == NULL)
    {
      set_state (self, NATTER_TRANSFER_STATE_QUEUED);
      return;
    }

  /* An upload waits for the session: started offline, it goes out on
   * reconnect. A download needs only HTTP and the token. */
  if (self->direction == NATTER_TRANSFER_DIRECTION_UPLOAD &&
      natter_session_get_state (self->session) != NATTER_SESSION_STATE_ONLINE)
    {
      set_state (self, NATTER_TRANSFER_STATE_QUEUED);
      return;
    }
  if (_natter_session_get_token (self->session) == NULL)
    {
      set_state (self, NATTER_TRANSFER_STATE_QUEUED);
      return;
    }

  /* The session's trust store, as it is now: it may have changed since
   * the last attempt (a private CA trusted after a failure). */
  if (self->soup == NULL)
    self->soup = _natter_server_soup_session_new (natter_session_get_tls_database (self->session),
                                                  HTTP_TIMEOUT_S);
  else
    _natter_server_soup_session_set_tls_database (self->soup,
                                                  natter_session_get_tls_database (self->session));

  self->cancellable = g_cancellable_new ();
  self->new_attempt = TRUE;
  g_clear_error (&self->failure);
  set_state (self, NATTER_TRANSFER_STATE_RUNNING);
  if (self->direction == NATTER_TRANSFER_DIRECTION_UPLOAD)
    upload_attempt (self);
  else
    download_attempt (self);
}

void
natter_transfer_start (NatterTransfer *self)
{
  g_return_if_fail (NATTER_IS_TRANSFER (self));

  if (self->state != NATTER_TRANSFER_STATE_QUEUED || self->wanted)
    return;

  if (self->direction == NATTER_TRANSFER_DIRECTION_DOWNLOAD && self->name_unknown)
    {
      /* Fetched before under the name the server gave it? */
      g_autoptr(GFile) dir = g_file_get_parent (self->file);
      g_autoptr(GFileEnumerator) children =
        g_file_enumerate_children (dir, G_FILE_ATTRIBUTE_STANDARD_NAME, G_FILE_QUERY_INFO_NONE,
                                   NULL, NULL);
      GFileInfo *child;

      while (children != NULL &&
             (child = g_file_enumerator_next_file (children, NULL, NULL)) != NULL)
        {
          const char *name = g_file_info_get_name (child);

          if (!g_str_has_suffix (name, ".part"))
            {
              g_free (self->file_name);
              self->file_name = g_strdup (name);
              g_object_unref (self->file);
              self->file = g_file_get_child (dir, name);
              self->name_unknown = FALSE;
            }
          g_object_unref (child);
          if (!self->name_unknown)
            break;
        }
    }

  if (self->direction == NATTER_TRANSFER_DIRECTION_DOWNLOAD && self->cached &&
      g_file_query_exists (self->file, NULL))
    {
      /* Fetched before: the cache has it. */
      g_autoptr(GFileInfo) info = g_file_query_info (self->file, G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                                     G_FILE_QUERY_INFO_NONE, NULL, NULL);

      if (info != NULL && (self->total < 0 || g_file_info_get_size (info) == self->total))
        {
          set_total (self, g_file_info_get_size (info));
          set_bytes (self, self->total);
          set_state (self, NATTER_TRANSFER_STATE_DONE);
          make_thumbnail (self);
          return;
        }
    }

  self->wanted = TRUE;
  self->retry_delay_ms = 0;
  if (self->direction == NATTER_TRANSFER_DIRECTION_UPLOAD && self->session != NULL)
    {
      if (self->cid == NULL)
        self->cid = g_uuid_string_random ();
      if (!self->persisted)
        persist (self);
      _natter_session_add_transfer (self->session, self);
    }
  attempt (self);
}

void
natter_transfer_pause (NatterTransfer *self)
{
  g_return_if_fail (NATTER_IS_TRANSFER (self));

  if (!self->wanted)
    return;
  self->wanted = FALSE;
  stop_attempt (self);
  set_state (self, NATTER_TRANSFER_STATE_PAUSED);
  if (self->persisted)
    persist (self);   /* a restart keeps it paused */
}

void
natter_transfer_resume (NatterTransfer *self)
{
  g_return_if_fail (NATTER_IS_TRANSFER (self));

  if (self->state != NATTER_TRANSFER_STATE_PAUSED)
    return;
  self->wanted = TRUE;
  self->retry_delay_ms = 0;
  set_state (self, NATTER_TRANSFER_STATE_QUEUED);
  if (self->persisted)
    persist (self);
  attempt (self);
}

void
natter_transfer_cancel (NatterTransfer *self)
{
  g_return_if_fail (NATTER_IS_TRANSFER (self));

  if (self->state == NATTER_TRANSFER_STATE_DONE || self->state == NATTER_TRANSFER_STATE_FAILED)
    return;
  fail_with_error (self, g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, _("Cancelled")));
  if (self->part != NULL)
    g_file_delete (self->part, NULL, NULL);
}

void
_natter_transfer_detach (NatterTransfer *self)
{
  g_return_if_fail (NATTER_IS_TRANSFER (self));

  /* Its cache row stays as it is: the next session resumes it. */
  if (self->wanted)
    {
      self->wanted = FALSE;
      stop_attempt (self);
      set_state (self, NATTER_TRANSFER_STATE_PAUSED);
    }
  if (self->session != NULL)
    {
      g_clear_signal_handler (&self->state_id, self->session);
      g_object_remove_weak_pointer (G_OBJECT (self->session), (gpointer *) &self->session);
      self->session = NULL;
    }
}

static NatterTransfer *transfer_new (NatterSession *session, NatterTransferDirection direction);

void
_natter_transfer_restore_uploads (NatterSession *session)
{
  NatterCache *cache = _natter_session_get_cache (session);
  g_autoptr(GPtrArray) rows = NULL;

  g_return_if_fail (NATTER_IS_SESSION (session));

  if (cache == NULL)
    return;
  rows = natter_cache_list_uploads (cache);
  for (guint i = 0; i < rows->len; i++)
    {
      NatterCacheUpload *row = g_ptr_array_index (rows, i);
      NatterRoom *room = natter_session_lookup_room (session, row->room);
      g_autoptr(GFile) file = g_file_new_for_path (row->path);
      g_autoptr(GFileInfo) info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_SIZE,
                                                     G_FILE_QUERY_INFO_NONE, NULL, NULL);
      g_autoptr(NatterTransfer) self = NULL;
      const char *slash;

      /* What cannot be sent as it was chosen is not sent at all. */
      if (room == NULL || info == NULL || g_file_info_get_size (info) != row->size)
        {
          g_debug ("upload of %s to %s not resumed: %s", row->path, row->room,
                   room == NULL ? "not a member of the room" :
                   info == NULL ? "the file is gone" : "the file changed");
          natter_cache_remove_upload (cache, row->cid);
          continue;
        }

      self = transfer_new (session, NATTER_TRANSFER_DIRECTION_UPLOAD);
      self->room = g_object_ref (room);
      self->file = g_steal_pointer (&file);
      self->text = g_strdup (row->text);
      self->file_name = g_strdup (row->name);
      self->mime = g_strdup (row->mime);
      self->total = row->size;
      self->cid = g_strdup (row->cid);
      self->upload_url = g_strdup (row->url);
      if (row->url != NULL && (slash = strrchr (row->url, '/')) != NULL && slash[1] != '\0')
        self->file_id = g_strdup (slash + 1);
      self->persisted = TRUE;

      if (row->paused)
        {
          set_state (self, NATTER_TRANSFER_STATE_PAUSED);
          _natter_session_add_transfer (session, self);
        }
      else
        natter_transfer_start (self);   /* waits for the session to be online */
    }
}

/* ---- construction ------------------------------------------------------------------- */

static void
natter_transfer_dispose (GObject *object)
{
  NatterTransfer *self = NATTER_TRANSFER (object);

  stop_attempt (self);
  if (self->session != NULL)
    {
      g_clear_signal_handler (&self->state_id, self->session);
      g_object_remove_weak_pointer (G_OBJECT (self->session), (gpointer *) &self->session);
      self->session = NULL;
    }
  g_clear_object (&self->room);
  g_clear_object (&self->message);
  g_clear_object (&self->soup);

  G_OBJECT_CLASS (natter_transfer_parent_class)->dispose (object);
}

static void
natter_transfer_finalize (GObject *object)
{
  NatterTransfer *self = NATTER_TRANSFER (object);

  g_clear_object (&self->file);
  g_clear_object (&self->part);
  g_clear_object (&self->thumbnail);
  g_free (self->text);
  g_free (self->file_name);
  g_free (self->mime);
  g_free (self->file_id);
  g_free (self->upload_url);
  g_free (self->cid);
  g_free (self->request_head);
  g_free (self->error);
  g_clear_error (&self->failure);
  g_free (self->read_error);
  g_free (self->buffers[0]);
  g_free (self->buffers[1]);

  G_OBJECT_CLASS (natter_transfer_parent_class)->finalize (object);
}

static void
natter_transfer_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  NatterTransfer *self = NATTER_TRANSFER (object);

  switch (prop_id)
    {
    case PROP_DIRECTION: g_value_set_enum (value, self->direction); break;
    case PROP_STATE: g_value_set_enum (value, self->state); break;
    case PROP_BYTES: g_value_set_int64 (value, self->bytes); break;
    case PROP_TOTAL: g_value_set_int64 (value, self->total); break;
    case PROP_RATE: g_value_set_double (value, self->rate); break;
    case PROP_ERROR: g_value_set_string (value, self->error); break;
    case PROP_FILE: g_value_set_object (value, self->file); break;
    case PROP_FILE_NAME: g_value_set_string (value, self->file_name); break;
    case PROP_FILE_ID: g_value_set_string (value, self->file_id); break;
    case PROP_MESSAGE: g_value_set_object (value, self->message); break;
    case PROP_THUMBNAIL: g_value_set_object (value, self->thumbnail); break;
    default: G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_transfer_class_init (NatterTransferClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->dispose = natter_transfer_dispose;
  object_class->finalize = natter_transfer_finalize;
  object_class->get_property = natter_transfer_get_property;

  properties[PROP_DIRECTION] =
    g_param_spec_enum ("direction", NULL, NULL, NATTER_TYPE_TRANSFER_DIRECTION,
                       NATTER_TRANSFER_DIRECTION_UPLOAD, flags);
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL, NATTER_TYPE_TRANSFER_STATE,
                       NATTER_TRANSFER_STATE_QUEUED, flags);
  properties[PROP_BYTES] = g_param_spec_int64 ("bytes", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_TOTAL] = g_param_spec_int64 ("total", NULL, NULL, -1, G_MAXINT64, -1, flags);
  properties[PROP_RATE] = g_param_spec_double ("rate", NULL, NULL, 0, G_MAXDOUBLE, 0, flags);
  properties[PROP_ERROR] = g_param_spec_string ("error", NULL, NULL, NULL, flags);
  properties[PROP_FILE] = g_param_spec_object ("file", NULL, NULL, G_TYPE_FILE, flags);
  properties[PROP_FILE_NAME] = g_param_spec_string ("file-name", NULL, NULL, NULL, flags);
  properties[PROP_FILE_ID] = g_param_spec_string ("file-id", NULL, NULL, NULL, flags);
  properties[PROP_MESSAGE] = g_param_spec_object ("message", NULL, NULL, NATTER_TYPE_MESSAGE, flags);
  properties[PROP_THUMBNAIL] = g_param_spec_object ("thumbnail", NULL, NULL, G_TYPE_FILE, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_transfer_init (NatterTransfer *self)
{
  self->total = -1;
  self->state = NATTER_TRANSFER_STATE_QUEUED;
}

static NatterTransfer *
transfer_new (NatterSession           *session,
              NatterTransferDirection  direction)
{
  NatterTransfer *self = g_object_new (NATTER_TYPE_TRANSFER, NULL);

  self->session = session;
  g_object_add_weak_pointer (G_OBJECT (session), (gpointer *) &self->session);
  self->direction = direction;
  self->state_id = g_signal_connect (session, "notify::state", G_CALLBACK (session_state_cb), self);
  return self;
}

NatterTransfer *
natter_transfer_new_upload (NatterSession *session,
                            NatterRoom    *room,
                            GFile         *file,
                            const char    *text)
{
  NatterTransfer *self;
  g_autoptr(GFileInfo) info = NULL;
  g_autofree char *content_type = NULL;

  g_return_val_if_fail (NATTER_IS_SESSION (session), NULL);
  g_return_val_if_fail (NATTER_IS_ROOM (room), NULL);
  g_return_val_if_fail (G_IS_FILE (file), NULL);

  self = transfer_new (session, NATTER_TRANSFER_DIRECTION_UPLOAD);
  self->room = g_object_ref (room);
  self->file = g_object_ref (file);
  self->text = g_strdup (text != NULL ? text : "");

  info = g_file_query_info (file, G_FILE_ATTRIBUTE_STANDARD_DISPLAY_NAME ","
                                  G_FILE_ATTRIBUTE_STANDARD_CONTENT_TYPE ","
                                  G_FILE_ATTRIBUTE_STANDARD_SIZE,
                            G_FILE_QUERY_INFO_NONE, NULL, NULL);
  if (info != NULL)
    {
      self->file_name = g_strdup (g_file_info_get_display_name (info));
      if (g_file_info_get_content_type (info) != NULL)
        content_type = g_strdup (g_file_info_get_content_type (info));
      self->total = g_file_info_get_size (info);
    }
  if (self->file_name == NULL)
    self->file_name = g_file_get_basename (file);
  if (content_type != NULL)
    self->mime = g_content_type_get_mime_type (content_type);
  if (self->mime == NULL)
    self->mime = g_strdup ("application/octet-stream");
  return self;
}

/* A file name from the server, made safe as one path component. */
static char *
safe_file_name (const char *name,
                const char *fallback)
{
  g_autofree char *base = NULL;
  char *p;

  if (name == NULL || *name == '\0' || !g_utf8_validate (name, -1, NULL))
    return g_strdup (fallback);
  base = g_strdup (name);
  for (p = base; *p != '\0'; p++)
    if (*p == '/' || *p == '\\' || (guchar) *p < 0x20)
      *p = '_';
  if (g_str_equal (base, ".") || g_str_equal (base, ".."))
    return g_strdup (fallback);
  return g_steal_pointer (&base);
}

NatterTransfer *
natter_transfer_new_download_id (NatterSession *session,
                                 const char    *file_id,
                                 const char    *name,
                                 GFile         *destination)
{
  NatterTransfer *self;
  g_autofree char *part_name = NULL;
  const char *p;

  g_return_val_if_fail (NATTER_IS_SESSION (session), NULL);
  g_return_val_if_fail (file_id != NULL && *file_id != '\0', NULL);

  self = transfer_new (session, NATTER_TRANSFER_DIRECTION_DOWNLOAD);
  /* The id goes into a URL path and a cache path: only plain characters. */
  for (p = file_id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      break;
  self->file_id = g_strdup (*p == '\0' ? file_id : "invalid");
  self->file_name = safe_file_name (name, self->file_id);

  if (destination != NULL)
    self->file = g_object_ref (destination);
  else
    {
      g_autofree char *path = g_build_filename (g_get_user_cache_dir (), "natter", "files",
                                                self->file_id, self->file_name, NULL);

      self->file = g_file_new_for_path (path);
      self->cached = TRUE;
      self->name_unknown = name == NULL;
    }

  {
    g_autofree char *path = g_file_get_path (self->file);
    g_autofree char *dir = path != NULL ? g_path_get_dirname (path) : NULL;

    if (dir != NULL)
      g_mkdir_with_parents (dir, 0700);
    part_name = g_strconcat (path != NULL ? path : "download", ".part", NULL);
    self->part = g_file_new_for_path (part_name);
  }
  return self;
}

NatterTransfer *
natter_transfer_new_download (NatterSession *session,
                              NatterMessage *message,
                              GFile         *destination)
{
  NatterTransfer *self;

  g_return_val_if_fail (NATTER_IS_MESSAGE (message), NULL);
  g_return_val_if_fail (natter_message_get_file_id (message) != NULL, NULL);

  self = natter_transfer_new_download_id (session, natter_message_get_file_id (message),
                                          natter_message_get_file_name (message), destination);
  self->total = natter_message_get_file_size (message);
  self->mime = g_strdup (natter_message_get_file_mime (message));
  return self;
}

/* ---- getters ------------------------------------------------------------------------ */

NatterTransferDirection
natter_transfer_get_direction (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), NATTER_TRANSFER_DIRECTION_UPLOAD);
  return self->direction;
}

NatterTransferState
natter_transfer_get_state (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), NATTER_TRANSFER_STATE_FAILED);
  return self->state;
}

gint64
natter_transfer_get_bytes (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), 0);
  return self->bytes;
}

gint64
natter_transfer_get_total (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), -1);
  return self->total;
}

double
natter_transfer_get_rate (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), 0);
  return self->rate;
}

const char *
natter_transfer_get_error (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), NULL);
  return self->error;
}

const GError *
natter_transfer_get_failure (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), NULL);
  return self->state == NATTER_TRANSFER_STATE_FAILED ? self->failure : NULL;
}

GFile *
natter_transfer_get_file (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), NULL);
  return self->file;
}

const char *
natter_transfer_get_file_name (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), NULL);
  return self->file_name;
}

const char *
natter_transfer_get_mime_type (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), NULL);
  return self->mime;
}

const char *
natter_transfer_get_file_id (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), NULL);
  return self->file_id;
}

NatterMessage *
natter_transfer_get_message (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), NULL);
  return self->message;
}

gint64
natter_transfer_get_resumed_at (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), 0);
  return self->resumed_at;
}

GFile *
natter_transfer_get_thumbnail (NatterTransfer *self)
{
  g_return_val_if_fail (NATTER_IS_TRANSFER (self), NULL);
  return self->thumbnail;
}
