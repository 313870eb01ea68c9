/* test-uploads.c: tus 1.0 uploads and file downloads (issue 5) against an
 * in-process NatterServer: round trips with SHA-256 equality, a resume
 * after a restart mid-upload, ranges, membership, limits, bad offsets,
 * tokens and path traversal. Files stream from and to disk on both sides;
 * nothing here holds a large file in memory. */
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>

#include "natter-files.h"
#include "natter-sqlite-store.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "natter-uploads.h"

#define MiB (1024 * 1024)

typedef struct
{
  NatterTestServer *ts;
  SoupSession      *session;
  char             *tmp_dir;
  char             *alice;   /* tokens */
  char             *bob;
} Fixture;

typedef struct
{
  guint64 max_file_bytes;
  guint64 user_quota_bytes;
} Limits;

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  const Limits *limits = data;
  g_autoptr(GError) error = NULL;

  f->ts = natter_test_server_new ();
  if (limits != NULL)
    {
      f->ts->config->max_file_bytes = limits->max_file_bytes;
      f->ts->config->user_quota_bytes = limits->user_quota_bytes;
    }
  natter_test_server_start (f->ts);
  f->session = soup_session_new_with_options ("timeout", 60, NULL);
  f->tmp_dir = g_dir_make_tmp ("natter-uploads-test-XXXXXX", &error);
  g_assert_no_error (error);
  f->alice = natter_test_register (f->ts->url, "alice");
  f->bob = natter_test_register (f->ts->url, "bob");
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir == NULL)
    return;
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  g_clear_object (&f->session);
  natter_test_server_free (f->ts);
  remove_tree (f->tmp_dir);
  g_free (f->tmp_dir);
  g_free (f->alice);
  g_free (f->bob);
}

/* ---- files on disk ----------------------------------------------------------- */

/* Writes @size pseudo-random bytes (xorshift, seeded by @seed) to a new
 * file in the temp dir, 1 MiB at a time; returns its path and SHA-256. */
static char *
make_file (Fixture  *f,
           goffset   size,
           guint64   seed,
           char    **out_sha256)
{
  g_autofree char *name = g_strdup_printf ("in-%" G_GINT64_FORMAT "-%" G_GUINT64_FORMAT, size, seed);
  char *path = g_build_filename (f->tmp_dir, name, NULL);
  g_autoptr(GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint64 *block = g_malloc (MiB);
  guint64 x = seed * 0x9e3779b97f4a7c15ULL + 1;
  FILE *out = fopen (path, "wb");
  goffset left = size;

  g_assert_nonnull (out);
  while (left > 0)
    {
      gsize n = MIN (left, MiB);
      gsize i;

      for (i = 0; i < MiB / 8; i++)
        {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          block[i] = x;
        }
      g_assert_cmpuint (fwrite (block, 1, n, out), ==, n);
      g_checksum_update (sha, (guchar *) block, n);
      left -= n;
    }
  g_assert_cmpint (fclose (out), ==, 0);
  *out_sha256 = g_strdup (g_checksum_get_string (sha));
  return path;
}

/* ---- HTTP --------------------------------------------------------------------- */

typedef struct
{
  GBytes   *body;
  GError   *error;
  gboolean  done;
} Wait;

static gboolean
wait_done (gpointer data)
{
  return ((Wait *) data)->done;
}

static void
send_done_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Wait *wait = user_data;

  wait->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &wait->error);
  wait->done = TRUE;
}

/* Builds a request: @headers are name, value pairs ending with NULL. */
static SoupMessage *
request_new (Fixture    *f,
             const char *method,
             const char *path,
             const char *token,
             ...)
{
  g_autofree char *url = g_strconcat (f->ts->url, path, NULL);
  SoupMessage *msg = soup_message_new (method, url);
  SoupMessageHeaders *headers;
  const char *name;
  va_list args;

  g_assert_nonnull (msg);
  headers = soup_message_get_request_headers (msg);
  if (token != NULL)
    {
      g_autofree char *value = g_strconcat ("Bearer ", token, NULL);

      soup_message_headers_replace (headers, "Authorization", value);
    }
  va_start (args, token);
  while ((name = va_arg (args, const char *)) != NULL)
    soup_message_headers_replace (headers, name, va_arg (args, const char *));
  va_end (args);
  return msg;
}

/* Sends @msg and waits; returns the status, and the body in *out_body. */
static guint
request_send (Fixture      *f,
              SoupMessage  *msg,
              GBytes      **out_body)
{
  Wait wait = { 0, };

  soup_session_send_and_read_async (f->session, msg, G_PRIORITY_DEFAULT, NULL, send_done_cb, &wait);
  g_assert_true (natter_test_wait (wait_done, &wait, 120000));
  if (wait.error != NULL && out_body == NULL)
    {
      /* The server may close after answering an over-long body. */
      g_clear_error (&wait.error);
      g_clear_pointer (&wait.body, g_bytes_unref);
      return soup_message_get_status (msg);
    }
  g_assert_no_error (wait.error);
  if (out_body != NULL)
    *out_body = wait.body;
  else
    g_bytes_unref (wait.body);
  return soup_message_get_status (msg);
}

static const char *
response_header (SoupMessage *msg,
                 const char  *name)
{
  return soup_message_headers_get_one (soup_message_get_response_headers (msg), name);
}

static char *
metadata (const char *room,
          const char *filename,
          const char *mime)
{
  g_autofree char *r = g_base64_encode ((const guchar *) room, strlen (room));
  g_autofree char *n = g_base64_encode ((const guchar *) filename, strlen (filename));
  g_autofree char *m = g_base64_encode ((const guchar *) mime, strlen (mime));

  return g_strdup_printf ("room %s,filename %s,mime %s", r, n, m);
}

/* POST /api/v1/uploads; returns the status and the new id in *out_id. */
static guint
create_upload (Fixture     *f,
               const char  *token,
               const char  *room,
               const char  *filename,
               goffset      length,
               char       **out_id)
{
  g_autofree char *meta = metadata (room, filename, "application/octet-stream");
  g_autofree char *len = g_strdup_printf ("%" G_GINT64_FORMAT, length);
  g_autoptr(SoupMessage) msg = request_new (f, "POST", "/api/v1/uploads", token,
                                            "Tus-Resumable", "1.0.0",
                                            "Upload-Length", len,
                                            "Upload-Metadata", meta, NULL);
  guint status = request_send (f, msg, NULL);

  if (status == SOUP_STATUS_CREATED)
    {
      const char *location = response_header (msg, "Location");

      g_assert_true (g_str_has_prefix (location, "/api/v1/uploads/"));
      g_assert_cmpstr (response_header (msg, "Tus-Resumable"), ==, "1.0.0");
      if (out_id != NULL)
        *out_id = g_strdup (location + strlen ("/api/v1/uploads/"));
    }
  return status;
}

/* PATCHes @length bytes of @path from @offset; returns the status and the
 * completing headers (NULL unless the upload completed). */
static guint
patch_file (Fixture     *f,
            const char  *token,
            const char  *id,
            const char  *path,
            goffset      offset,
            goffset      length,
            char       **out_file_id,
            char       **out_sha256,
            goffset     *out_offset)
{
  g_autofree char *url_path = g_strconcat ("/api/v1/uploads/", id, NULL);
  g_autofree char *offset_text = g_strdup_printf ("%" G_GINT64_FORMAT, offset);
  g_autoptr(SoupMessage) msg = request_new (f, "PATCH", url_path, token,
                                            "Tus-Resumable", "1.0.0",
                                            "Upload-Offset", offset_text, NULL);
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileInputStream) stream = g_file_read (file, NULL, NULL);
  guint status;

  g_assert_nonnull (stream);
  if (offset > 0)
    g_assert_true (g_seekable_seek (G_SEEKABLE (stream), offset, G_SEEK_SET, NULL, NULL));
  soup_message_set_request_body (msg, "application/offset+octet-stream",
                                 G_INPUT_STREAM (stream), length);
  status = request_send (f, msg, NULL);
  if (out_file_id != NULL)
    *out_file_id = g_strdup (response_header (msg, "Natter-File-Id"));
  if (out_sha256 != NULL)
    *out_sha256 = g_strdup (response_header (msg, "Natter-File-Sha256"));
  if (out_offset != NULL && response_header (msg, "Upload-Offset") != NULL)
    *out_offset = g_ascii_strtoll (response_header (msg, "Upload-Offset"), NULL, 10);
  return status;
}

static goffset
head_offset (Fixture    *f,
             const char *token,
             const char *id)
{
  g_autofree char *path = g_strconcat ("/api/v1/uploads/", id, NULL);
  g_autoptr(SoupMessage) msg = request_new (f, "HEAD", path, token,
                                            "Tus-Resumable", "1.0.0", NULL);

  g_assert_cmpuint (request_send (f, msg, NULL), ==, 200);
  g_assert_cmpstr (response_header (msg, "Cache-Control"), ==, "no-store");
  g_assert_nonnull (response_header (msg, "Upload-Length"));
  return g_ascii_strtoll (response_header (msg, "Upload-Offset"), NULL, 10);
}

/* Streams GET /api/v1/files/@id through a SHA-256; returns the status. */
typedef struct
{
  GInputStream *stream;
  GChecksum    *sha;
  guint8        buffer[64 * 1024];
  goffset       received;
  GError       *error;
  gboolean      done;
} Download;

static void download_read_cb (GObject *source, GAsyncResult *result, gpointer user_data);

static void
download_next (Download *d)
{
  g_input_stream_read_async (d->stream, d->buffer, sizeof d->buffer, G_PRIORITY_DEFAULT, NULL,
                             download_read_cb, d);
}

static void
download_read_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Download *d = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &d->error);

  if (n <= 0)
    {
      d->done = TRUE;
      return;
    }
  g_checksum_update (d->sha, d->buffer, n);
  d->received += n;
  download_next (d);
}

static void
download_sent_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Download *d = user_data;

  d->stream = soup_session_send_finish (SOUP_SESSION (source), result, &d->error);
  if (d->stream == NULL)
    d->done = TRUE;
  else
    download_next (d);
}

static gboolean
download_done (gpointer data)
{
  return ((Download *) data)->done;
}

static guint
download (Fixture     *f,
          const char  *token,
          const char  *id,
          const char  *range,
          char       **out_sha256,
          goffset     *out_size,
          SoupMessage **out_msg)
{
  g_autofree char *path = g_strconcat ("/api/v1/files/", id, NULL);
  g_autoptr(SoupMessage) msg = request_new (f, "GET", path, token,
                                            range != NULL ? "Range" : NULL, range, NULL);
  Download *d = g_new0 (Download, 1);
  guint status;

  d->sha = g_checksum_new (G_CHECKSUM_SHA256);
  soup_session_send_async (f->session, msg, G_PRIORITY_DEFAULT, NULL, download_sent_cb, d);
  g_assert_true (natter_test_wait (download_done, d, 120000));
  g_assert_no_error (d->error);
  status = soup_message_get_status (msg);
  if (out_sha256 != NULL)
    *out_sha256 = g_strdup (g_checksum_get_string (d->sha));
  if (out_size != NULL)
    *out_size = d->received;
  if (out_msg != NULL)
    *out_msg = g_object_ref (msg);
  g_clear_object (&d->stream);
  g_checksum_free (d->sha);
  g_free (d);
  return status;
}

/* ---- tests ------------------------------------------------------------------------ */

static void
test_options (Fixture       *f,
              gconstpointer  data)
{
  g_autoptr(SoupMessage) msg = request_new (f, "OPTIONS", "/api/v1/uploads", NULL, NULL);

  g_assert_cmpuint (request_send (f, msg, NULL), ==, 204);
  g_assert_cmpstr (response_header (msg, "Tus-Version"), ==, "1.0.0");
  g_assert_cmpstr (response_header (msg, "Tus-Extension"), ==, "creation");
  g_assert_cmpstr (response_header (msg, "Tus-Max-Size"), ==, "1073741824");
}

static void
round_trip (Fixture *f,
            goffset  size)
{
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, size, size + 1, &sha);
  g_autofree char *id = NULL;
  g_autofree char *file_id = NULL;
  g_autofree char *file_sha = NULL;
  g_autofree char *got_sha = NULL;
  g_autoptr(SoupMessage) got = NULL;
  goffset got_size = -1;
  gsize rss_before = natter_test_get_rss ();

  g_assert_cmpuint (create_upload (f, f->alice, "general", "data.bin", size, &id), ==, 201);
  if (size > 0)
    {
      goffset offset = -1;

      g_assert_cmpuint (patch_file (f, f->alice, id, path, 0, size, &file_id, &file_sha, &offset),
                        ==, 204);
      g_assert_cmpint (offset, ==, size);
      g_assert_cmpstr (file_id, ==, id);
      g_assert_cmpstr (file_sha, ==, sha);
    }
  g_assert_cmpint (head_offset (f, f->alice, id), ==, size);

  /* Bob is in "general" too (everyone starts there). */
  g_assert_cmpuint (download (f, f->bob, id, NULL, &got_sha, &got_size, &got), ==, 200);
  g_assert_cmpint (got_size, ==, size);
  g_assert_cmpstr (got_sha, ==, sha);
  g_assert_cmpstr (soup_message_headers_get_content_type (soup_message_get_response_headers (got),
                                                          NULL), ==, "application/octet-stream");

  /* Streams on both ends: neither the server nor this client (one
   * process) grew by anything like the file. (Not under AddressSanitizer:
   * its quarantine keeps up to 256 MiB of freed memory resident.) */
#ifndef NATTER_TEST_ASAN
  if (size >= 100 * MiB)
    g_assert_cmpuint (natter_test_get_rss (), <, rss_before + 48 * MiB);
#else
  (void) rss_before;
#endif
}

static void
test_round_trip_0 (Fixture *f, gconstpointer data)
{
  round_trip (f, 0);
}

static void
test_round_trip_1 (Fixture *f, gconstpointer data)
{
  round_trip (f, 1);
}

static void
test_round_trip_5m (Fixture *f, gconstpointer data)
{
  round_trip (f, 5 * MiB);
}

static void
test_round_trip_200m (Fixture *f, gconstpointer data)
{
  round_trip (f, 200 * MiB);
}

/* ---- resume after a restart ------------------------------------------------------ */

typedef struct
{
  GSocketConnection *connection;
  char              *request;
  gboolean           written;
  GError            *error;
} Raw;

static void
raw_connected_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Raw *raw = user_data;

  raw->connection = g_socket_client_connect_to_uri_finish (G_SOCKET_CLIENT (source), result,
                                                           &raw->error);
  raw->written = raw->connection == NULL;
}

static gboolean
raw_connected (gpointer data)
{
  Raw *raw = data;

  return raw->connection != NULL || raw->error != NULL;
}

static void
raw_written_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Raw *raw = user_data;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &raw->error);
  raw->written = TRUE;
}

static gboolean
raw_written (gpointer data)
{
  return ((Raw *) data)->written;
}

/* Opens a TCP connection and writes @head then @body_len bytes of @body,
 * without finishing the request. */
static Raw *
raw_send (Fixture      *f,
          const char   *head,
          const guint8 *body,
          gsize         body_len)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  Raw *raw = g_new0 (Raw, 1);
  GOutputStream *out;

  g_socket_client_connect_to_uri_async (client, f->ts->url, 80, NULL, raw_connected_cb, raw);
  g_assert_true (natter_test_wait (raw_connected, raw, NATTER_TEST_TIMEOUT_MS));
  g_assert_no_error (raw->error);
  out = g_io_stream_get_output_stream (G_IO_STREAM (raw->connection));

  raw->written = FALSE;
  g_output_stream_write_all_async (out, head, strlen (head), G_PRIORITY_DEFAULT, NULL,
                                   raw_written_cb, raw);
  g_assert_true (natter_test_wait (raw_written, raw, NATTER_TEST_TIMEOUT_MS));
  g_assert_no_error (raw->error);
  if (body_len > 0)
    {
      raw->written = FALSE;
      g_output_stream_write_all_async (out, body, body_len, G_PRIORITY_DEFAULT, NULL,
                                       raw_written_cb, raw);
      g_assert_true (natter_test_wait (raw_written, raw, NATTER_TEST_TIMEOUT_MS));
      g_assert_no_error (raw->error);
    }
  return raw;
}

static void
raw_free (Raw *raw)
{
  if (raw->connection != NULL)
    g_io_stream_close (G_IO_STREAM (raw->connection), NULL, NULL);
  g_clear_object (&raw->connection);
  g_clear_error (&raw->error);
  g_free (raw);
}

typedef struct
{
  Fixture    *f;
  const char *id;
  goffset     want;
} OffsetWait;

static gboolean
offset_reached (gpointer data)
{
  OffsetWait *w = data;
  g_autofree char *path = g_strconcat ("/api/v1/uploads/", w->id, NULL);
  g_autoptr(SoupMessage) msg = request_new (w->f, "HEAD", path, w->f->alice,
                                            "Tus-Resumable", "1.0.0", NULL);

  return request_send (w->f, msg, NULL) == 200 &&
         g_ascii_strtoll (response_header (msg, "Upload-Offset"), NULL, 10) >= w->want;
}

static void
test_resume_after_restart (Fixture       *f,
                           gconstpointer  data)
{
  const goffset size = 5 * MiB, first = 2 * MiB;
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, size, 7, &sha);
  g_autofree char *id = NULL;
  g_autofree char *head = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *file_sha = NULL;
  g_autofree char *got_sha = NULL;
  gsize len;
  goffset offset;
  OffsetWait w;
  Raw *raw;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpuint (create_upload (f, f->alice, "general", "resume.bin", size, &id), ==, 201);

  /* A PATCH that announces all 5 MiB, sends 2 MiB, and then the server
   * goes away under it. */
  head = g_strdup_printf ("PATCH /api/v1/uploads/%s HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"
                          "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                          "Content-Length: %" G_GINT64_FORMAT "\r\n\r\n", id, f->alice, size);
  raw = raw_send (f, head, (const guint8 *) contents, first);
  w = (OffsetWait) { f, id, first };
  g_assert_true (natter_test_wait (offset_reached, &w, NATTER_TEST_TIMEOUT_MS));

  natter_test_server_stop (f->ts);
  raw_free (raw);
  natter_test_server_start (f->ts);

  /* Exactly what arrived survived, and only the rest is sent again. */
  offset = head_offset (f, f->alice, id);
  g_assert_cmpint (offset, ==, first);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, offset, size - offset, NULL, &file_sha,
                                NULL), ==, 204);
  g_assert_cmpstr (file_sha, ==, sha);
  g_assert_cmpuint (download (f, f->alice, id, NULL, &got_sha, NULL, NULL), ==, 200);
  g_assert_cmpstr (got_sha, ==, sha);
}

/* The hash state saved while a long PATCH is still streaming (every
 * 64 MiB, taken by the writer thread) is right for its offset: a crash that
 * lost every later save (simulated by putting that state back after a
 * clean stop) still resumes to the right SHA-256, hashing again only the
 * bytes after it. */
static void
test_resume_from_saved_hash_state (Fixture       *f,
                                   gconstpointer  data)
{
  const goffset size = 88 * MiB, first = 80 * MiB;
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, size, 9, &sha);
  g_autofree char *db_path = g_build_filename (f->ts->data_dir, "files.db", NULL);
  g_autofree char *id = NULL;
  g_autofree char *head = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *file_sha = NULL;
  g_autoptr(GBytes) state = NULL;
  gint64 state_offset = 0;
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gsize len;
  OffsetWait w;
  Raw *raw;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpuint (create_upload (f, f->alice, "general", "long.bin", size, &id), ==, 201);
  head = g_strdup_printf ("PATCH /api/v1/uploads/%s HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"
                          "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                          "Content-Length: %" G_GINT64_FORMAT "\r\n\r\n", id, f->alice, size);
  raw = raw_send (f, head, (const guint8 *) contents, first);
  w = (OffsetWait) { f, id, first };
  g_assert_true (natter_test_wait (offset_reached, &w, NATTER_TEST_TIMEOUT_MS));

  /* The PATCH is still open: what files.db holds now was saved mid-way. */
  g_assert_cmpint (sqlite3_open_v2 (db_path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "SELECT hash_state, hash_offset FROM uploads WHERE id = ?",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, id, -1, SQLITE_TRANSIENT);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  g_assert_cmpint (sqlite3_column_type (stmt, 0), ==, SQLITE_BLOB);
  state = g_bytes_new (sqlite3_column_blob (stmt, 0), sqlite3_column_bytes (stmt, 0));
  state_offset = sqlite3_column_int64 (stmt, 1);
  sqlite3_finalize (stmt);
  g_test_message ("hash state saved mid-PATCH at %" G_GINT64_FORMAT, state_offset);
  g_assert_cmpint (state_offset, >=, 64 * MiB);
  g_assert_cmpint (state_offset, <=, first);

  natter_test_server_stop (f->ts);
  raw_free (raw);

  /* As if the server had crashed after that save. */
  g_assert_cmpint (sqlite3_prepare_v2 (db, "UPDATE uploads SET hash_state = ?, hash_offset = ?"
                                           " WHERE id = ?", -1, &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_blob (stmt, 1, g_bytes_get_data (state, NULL), g_bytes_get_size (state),
                     SQLITE_TRANSIENT);
  sqlite3_bind_int64 (stmt, 2, state_offset);
  sqlite3_bind_text (stmt, 3, id, -1, SQLITE_TRANSIENT);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_DONE);
  sqlite3_finalize (stmt);
  sqlite3_close (db);

  natter_test_server_start (f->ts);
  g_assert_cmpint (head_offset (f, f->alice, id), ==, first);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, first, size - first, NULL, &file_sha, NULL),
                    ==, 204);
  g_assert_cmpstr (file_sha, ==, sha);
}

/* A client that thinks its PATCH died sends a new one while the server
 * still holds the first: the new one wins, goes on from what the first
 * stored, and the first connection is closed. */
static void
test_resume_supersedes (Fixture       *f,
                        gconstpointer  data)
{
  const goffset size = 4 * MiB, first = 3 * MiB / 2;
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, size, 10, &sha);
  g_autofree char *id = NULL;
  g_autofree char *head = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *file_sha = NULL;
  g_autoptr(GError) error = NULL;
  guint8 byte;
  gssize n;
  gsize len;
  goffset offset;
  OffsetWait w;
  Raw *raw;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpuint (create_upload (f, f->alice, "general", "twice.bin", size, &id), ==, 201);
  head = g_strdup_printf ("PATCH /api/v1/uploads/%s HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"
                          "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                          "Content-Length: %" G_GINT64_FORMAT "\r\n\r\n", id, f->alice, size);
  raw = raw_send (f, head, (const guint8 *) contents, first);
  w = (OffsetWait) { f, id, first };
  g_assert_true (natter_test_wait (offset_reached, &w, NATTER_TEST_TIMEOUT_MS));

  offset = head_offset (f, f->alice, id);
  g_assert_cmpint (offset, ==, first);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, offset, size - offset, NULL, &file_sha,
                                NULL), ==, 204);
  g_assert_cmpstr (file_sha, ==, sha);

  /* The first PATCH's connection was closed under it (a blocking read:
   * the server has already done it, or never will). */
  g_socket_set_timeout (g_socket_connection_get_socket (raw->connection), 5);
  n = g_input_stream_read (g_io_stream_get_input_stream (G_IO_STREAM (raw->connection)),
                           &byte, 1, NULL, &error);
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
  g_assert_cmpint (n, <=, 0);
  raw_free (raw);
}

/* An upload cut without a restart resumes from the server's offset too. */
static void
test_resume_after_cut (Fixture       *f,
                       gconstpointer  data)
{
  const goffset size = 3 * MiB, first = MiB + 12345;
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, size, 8, &sha);
  g_autofree char *id = NULL;
  g_autofree char *head = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *file_sha = NULL;
  gsize len;
  OffsetWait w;
  Raw *raw;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpuint (create_upload (f, f->alice, "general", "cut.bin", size, &id), ==, 201);
  head = g_strdup_printf ("PATCH /api/v1/uploads/%s HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"
                          "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                          "Content-Length: %" G_GINT64_FORMAT "\r\n\r\n", id, f->alice, size);
  raw = raw_send (f, head, (const guint8 *) contents, first);
  w = (OffsetWait) { f, id, first };
  g_assert_true (natter_test_wait (offset_reached, &w, NATTER_TEST_TIMEOUT_MS));
  raw_free (raw);

  /* Once the server saw the cut, the offset is where the bytes stopped. */
  g_assert_cmpint (head_offset (f, f->alice, id), ==, first);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, first, size - first, NULL, &file_sha, NULL),
                    ==, 204);
  g_assert_cmpstr (file_sha, ==, sha);
}

/* ---- ranges ---------------------------------------------------------------------- */

static void
test_range (Fixture       *f,
            gconstpointer  data)
{
  const goffset size = 100000;
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, size, 3, &sha);
  g_autofree char *id = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *want = NULL;
  g_autofree char *got_sha = NULL;
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(SoupMessage) past = NULL;
  g_autoptr(SoupMessage) tail = NULL;
  goffset got_size;
  gsize len;

  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpuint (create_upload (f, f->alice, "general", "r.bin", size, &id), ==, 201);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, 0, size, NULL, NULL, NULL), ==, 204);

  g_assert_cmpuint (download (f, f->alice, id, "bytes=1000-1999", &got_sha, &got_size, &msg),
                    ==, 206);
  g_assert_cmpint (got_size, ==, 1000);
  want = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guchar *) contents + 1000, 1000);
  g_assert_cmpstr (got_sha, ==, want);
  g_assert_cmpstr (response_header (msg, "Content-Range"), ==, "bytes 1000-1999/100000");

  g_clear_pointer (&got_sha, g_free);
  g_clear_pointer (&want, g_free);
  g_assert_cmpuint (download (f, f->alice, id, "bytes=-10", &got_sha, &got_size, &tail), ==, 206);
  want = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (guchar *) contents + size - 10, 10);
  g_assert_cmpint (got_size, ==, 10);
  g_assert_cmpstr (got_sha, ==, want);

  g_assert_cmpuint (download (f, f->alice, id, "bytes=100000-", NULL, NULL, &past), ==, 416);
  g_assert_cmpstr (response_header (past, "Content-Range"), ==, "bytes */100000");
}

/* ---- who may ------------------------------------------------------------------------ */

static void
test_non_member (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(NatterTestClient) client = natter_test_client_new (f->ts->url);
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) ack = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, 1000, 4, &sha);
  g_autofree char *id = NULL;

  natter_test_client_connect (client, f->alice, &error);
  g_assert_no_error (error);
  ack = natter_test_client_call_json (client, "join", "{\"room\":\"secret\",\"create\":true}");
  g_assert_nonnull (ack);
  g_assert_true (json_object_get_boolean_member (ack, "ok"));

  g_assert_cmpuint (create_upload (f, f->bob, "secret", "x", 10, NULL), ==, 403);
  g_assert_cmpuint (create_upload (f, f->bob, "no-such-room", "x", 10, NULL), ==, 403);

  g_assert_cmpuint (create_upload (f, f->alice, "secret", "s.bin", 1000, &id), ==, 201);
  /* Bob can neither see nor touch Alice's upload… */
  g_assert_cmpint (patch_file (f, f->bob, id, path, 0, 1000, NULL, NULL, NULL), ==, 404);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, 0, 1000, NULL, NULL, NULL), ==, 204);
  /* … nor fetch the file of a room he is not in. */
  g_assert_cmpuint (download (f, f->bob, id, NULL, NULL, NULL, NULL), ==, 403);
  g_assert_cmpuint (download (f, f->alice, id, NULL, NULL, NULL, NULL), ==, 200);
  g_assert_cmpuint (download (f, f->alice, "aaaaaaaaaaaaaaaaaaaaaaaa", NULL, NULL, NULL, NULL),
                    ==, 404);
}

static void
test_auth (Fixture       *f,
           gconstpointer  data)
{
  g_autofree char *id = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, 10, 5, &sha);
  g_autofree char *upload_path = NULL;
  g_autoptr(SoupMessage) head = NULL;
  g_autoptr(SoupMessage) wrong_version = NULL;

  g_assert_cmpuint (create_upload (f, NULL, "general", "x", 10, NULL), ==, 401);
  g_assert_cmpuint (create_upload (f, "not-a-token", "general", "x", 10, NULL), ==, 401);

  g_assert_cmpuint (create_upload (f, f->alice, "general", "x", 10, &id), ==, 201);
  upload_path = g_strconcat ("/api/v1/uploads/", id, NULL);
  head = request_new (f, "HEAD", upload_path, NULL, "Tus-Resumable", "1.0.0", NULL);
  g_assert_cmpuint (request_send (f, head, NULL), ==, 401);
  g_assert_cmpuint (patch_file (f, NULL, id, path, 0, 10, NULL, NULL, NULL), ==, 401);
  g_assert_cmpuint (patch_file (f, "bogus", id, path, 0, 10, NULL, NULL, NULL), ==, 401);
  g_assert_cmpint (head_offset (f, f->alice, id), ==, 0);

  wrong_version = request_new (f, "HEAD", upload_path, f->alice, "Tus-Resumable", "0.2.2", NULL);
  g_assert_cmpuint (request_send (f, wrong_version, NULL), ==, 412);
  g_assert_cmpstr (response_header (wrong_version, "Tus-Version"), ==, "1.0.0");

  g_assert_cmpuint (patch_file (f, f->alice, id, path, 0, 10, NULL, NULL, NULL), ==, 204);
  g_assert_cmpuint (download (f, NULL, id, NULL, NULL, NULL, NULL), ==, 401);
  g_assert_cmpuint (download (f, "bogus", id, NULL, NULL, NULL, NULL), ==, 401);
}

static void
test_wrong_offset (Fixture       *f,
                   gconstpointer  data)
{
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, 4096, 6, &sha);
  g_autofree char *id = NULL;
  g_autofree char *file_sha = NULL;

  g_assert_cmpuint (create_upload (f, f->alice, "general", "o.bin", 4096, &id), ==, 201);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, 5, 4091, NULL, NULL, NULL), ==, 409);
  g_assert_cmpint (head_offset (f, f->alice, id), ==, 0);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, 0, 1000, NULL, NULL, NULL), ==, 204);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, 0, 1000, NULL, NULL, NULL), ==, 409);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, 2000, 2096, NULL, NULL, NULL), ==, 409);
  g_assert_cmpint (head_offset (f, f->alice, id), ==, 1000);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, 1000, 3096, NULL, &file_sha, NULL), ==, 204);
  g_assert_cmpstr (file_sha, ==, sha);
}

/* ---- limits ---------------------------------------------------------------------------- */

static const Limits small_limits = { 1000000, 1500000 };

typedef struct
{
  GInputStream *in;
  GString      *got;
  guint8        buffer[4096];
  gboolean      done;
} RawRead;

static void
raw_read_cb (GObject      *source,
             GAsyncResult *result,
             gpointer      user_data)
{
  RawRead *r = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (n <= 0)
    {
      r->done = TRUE;
      return;
    }
  g_string_append_len (r->got, (char *) r->buffer, n);
  g_input_stream_read_async (r->in, r->buffer, sizeof r->buffer, G_PRIORITY_DEFAULT, NULL,
                             raw_read_cb, r);
}

static gboolean
raw_read_done (gpointer data)
{
  return ((RawRead *) data)->done;
}

static void
test_oversize (Fixture       *f,
               gconstpointer  data)
{
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, 1000000, 9, &sha);
  g_autofree char *id = NULL;
  g_autofree char *id2 = NULL;
  g_autofree char *head = NULL;
  g_autofree guint8 *junk = g_malloc0 (600000);
  g_autofree char *chunk = NULL;
  RawRead r = { 0, };
  Raw *raw;

  /* At creation: */
  g_assert_cmpuint (create_upload (f, f->alice, "general", "big", 1000001, NULL), ==, 413);
  g_assert_cmpuint (create_upload (f, f->alice, "general", "big", G_MAXINT64, NULL), ==, 413);

  /* A body longer than Upload-Length, announced: */
  g_assert_cmpuint (create_upload (f, f->alice, "general", "ok", 500000, &id), ==, 201);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, 0, 600000, NULL, NULL, NULL), ==, 413);
  g_assert_cmpint (head_offset (f, f->alice, id), ==, 0);

  /* … and not announced (chunked): refused while streaming. */
  head = g_strdup_printf ("PATCH /api/v1/uploads/%s HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: Bearer %s\r\nTus-Resumable: 1.0.0\r\n"
                          "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n", id, f->alice);
  raw = raw_send (f, head, NULL, 0);
  chunk = g_strdup_printf ("%x\r\n", 600000);
  raw->written = FALSE;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (raw->connection)),
                                   chunk, strlen (chunk), G_PRIORITY_DEFAULT, NULL, raw_written_cb,
                                   raw);
  g_assert_true (natter_test_wait (raw_written, raw, NATTER_TEST_TIMEOUT_MS));
  raw->written = FALSE;
  g_output_stream_write_all_async (g_io_stream_get_output_stream (G_IO_STREAM (raw->connection)),
                                   junk, 600000, G_PRIORITY_DEFAULT, NULL, raw_written_cb, raw);
  r.in = g_io_stream_get_input_stream (G_IO_STREAM (raw->connection));
  r.got = g_string_new (NULL);
  g_input_stream_read_async (r.in, r.buffer, sizeof r.buffer, G_PRIORITY_DEFAULT, NULL,
                             raw_read_cb, &r);
  g_assert_true (natter_test_wait (raw_read_done, &r, NATTER_TEST_TIMEOUT_MS));
  g_assert_true (g_str_has_prefix (r.got->str, "HTTP/1.1 413"));
  g_assert_true (natter_test_wait (raw_written, raw, NATTER_TEST_TIMEOUT_MS));
  g_string_free (r.got, TRUE);
  raw_free (raw);

  /* The upload is intact and still resumable where it was. */
  g_assert_cmpint (head_offset (f, f->alice, id), <=, 500000);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, head_offset (f, f->alice, id),
                                500000 - head_offset (f, f->alice, id), NULL, NULL, NULL), ==, 204);

  /* The quota (1.5 MB) counts what Alice already has (500 kB). */
  g_assert_cmpuint (create_upload (f, f->alice, "general", "q", 1000000, &id2), ==, 201);
  g_assert_cmpuint (create_upload (f, f->alice, "general", "q", 1, NULL), ==, 413);
  g_assert_cmpuint (create_upload (f, f->bob, "general", "q", 1000000, NULL), ==, 201);
}

/* ---- hostile names ----------------------------------------------------------------------- */

static void
test_traversal (Fixture       *f,
                gconstpointer  data)
{
  static const char * const bad_ids[] = {
    "..%2F..%2Fnatter.db", "../../natter.db", "..", "%2e%2e", "aaaaaaaaaaaaaaaaaaaaaaa/",
    "AAAAAAAAAAAAAAAAAAAAAAAA", "aaaaaaaaaaaaaaaaaaaaaaa.", "files.db", "%00",
  };
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, 100, 10, &sha);
  g_autofree char *id = NULL;
  g_autofree char *outside = g_build_filename (f->ts->data_dir, "..", "etc", NULL);
  g_autoptr(SoupMessage) got = NULL;
  const char *disposition;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad_ids); i++)
    {
      g_autofree char *files_path = g_strconcat ("/api/v1/files/", bad_ids[i], NULL);
      g_autofree char *uploads_path = g_strconcat ("/api/v1/uploads/", bad_ids[i], NULL);
      g_autoptr(SoupMessage) get = request_new (f, "GET", files_path, f->alice, NULL);
      g_autoptr(SoupMessage) head = request_new (f, "HEAD", uploads_path, f->alice,
                                                 "Tus-Resumable", "1.0.0", NULL);
      guint status;

      if (get == NULL || head == NULL)
        continue;
      status = request_send (f, get, NULL);
      g_assert_true (status == 404 || status == 400);
      status = request_send (f, head, NULL);
      g_assert_true (status == 404 || status == 400);
    }

  /* A filename is metadata: it names nothing on disk. */
  g_assert_cmpuint (create_upload (f, f->alice, "general", "../../etc/passwd", 100, &id), ==, 201);
  g_assert_cmpuint (patch_file (f, f->alice, id, path, 0, 100, NULL, NULL, NULL), ==, 204);
  g_assert_false (g_file_test (outside, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (download (f, f->alice, id, NULL, NULL, NULL, &got), ==, 200);
  disposition = response_header (got, "Content-Disposition");
  g_assert_cmpstr (disposition, ==,
                   "attachment; filename=\".._.._etc_passwd\"; "
                   "filename*=UTF-8''..%2F..%2Fetc%2Fpasswd");

  /* Control characters and quotes cannot reach a header. */
  g_assert_cmpuint (create_upload (f, f->alice, "general", "a\r\nX-Evil: 1", 1, NULL), ==, 400);
}

static void
test_content_disposition (void)
{
  g_autofree char *plain = natter_files_content_disposition ("attachment", "report.pdf");
  g_autofree char *chinese = natter_files_content_disposition ("attachment", "报告 \"v2\".txt");

  g_assert_cmpstr (plain, ==, "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf");
  g_assert_cmpstr (chinese, ==,
                   "attachment; filename=\"__ _v2_.txt\"; "
                   "filename*=UTF-8''%E6%8A%A5%E5%91%8A%20%22v2%22.txt");
}

/* Unfinished uploads older than the expiry go, with their bytes; finished
 * files stay. */
static void
test_expire (Fixture       *f,
             gconstpointer  data)
{
  g_autofree char *sha = NULL;
  g_autofree char *path = make_file (f, 100, 11, &sha);
  g_autofree char *done_id = NULL;
  g_autofree char *stale_id = NULL;
  g_autofree char *stale_part = NULL;
  g_autofree char *db_path = g_build_filename (f->ts->data_dir, "natter.db", NULL);
  g_autoptr(NatterStore) store = NULL;
  g_autoptr(NatterUploads) uploads = NULL;
  g_autoptr(GError) error = NULL;
  NatterUploadsFile *done;
  gint64 now = g_get_real_time () / 1000;

  g_assert_cmpuint (create_upload (f, f->alice, "general", "done", 100, &done_id), ==, 201);
  g_assert_cmpuint (patch_file (f, f->alice, done_id, path, 0, 100, NULL, NULL, NULL), ==, 204);
  g_assert_cmpuint (create_upload (f, f->alice, "general", "stale", 100, &stale_id), ==, 201);
  g_assert_cmpuint (patch_file (f, f->alice, stale_id, path, 0, 50, NULL, NULL, NULL), ==, 204);
  stale_part = g_strdup_printf ("%s/uploads/%s.part", f->ts->data_dir, stale_id);
  g_assert_true (g_file_test (stale_part, G_FILE_TEST_EXISTS));
  natter_test_server_stop (f->ts);

  store = natter_sqlite_store_new (db_path);
  g_assert_true (natter_store_open (store, &error));
  uploads = natter_uploads_new (store, f->ts->config, f->ts->data_dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (natter_uploads_expire (uploads, now + 60 * 60 * 1000), ==, 0);
  g_assert_cmpuint (natter_uploads_expire (uploads, now + 25 * 60 * 60 * 1000), ==, 1);
  g_assert_false (g_file_test (stale_part, G_FILE_TEST_EXISTS));
  done = natter_uploads_lookup_file (uploads, done_id);
  g_assert_nonnull (done);
  natter_uploads_file_free (done);
  g_clear_object (&uploads);
  natter_store_close (store);
}

int
main (int   argc,
      char *argv[])
{
  natter_test_init (&argc, &argv);

#define ADD(name, fn, data) g_test_add ("/uploads/" name, Fixture, data, setup, fn, teardown)
  ADD ("options", test_options, NULL);
  ADD ("round-trip/0", test_round_trip_0, NULL);
  ADD ("round-trip/1", test_round_trip_1, NULL);
  ADD ("round-trip/5MiB", test_round_trip_5m, NULL);
  ADD ("round-trip/200MiB", test_round_trip_200m, NULL);
  ADD ("resume/after-restart", test_resume_after_restart, NULL);
  ADD ("resume/after-cut", test_resume_after_cut, NULL);
  ADD ("resume/supersedes", test_resume_supersedes, NULL);
  ADD ("resume/saved-hash-state", test_resume_from_saved_hash_state, NULL);
  ADD ("range", test_range, NULL);
  ADD ("non-member", test_non_member, NULL);
  ADD ("auth", test_auth, NULL);
  ADD ("wrong-offset", test_wrong_offset, NULL);
  ADD ("oversize", test_oversize, &small_limits);
  ADD ("traversal", test_traversal, NULL);
  ADD ("expire", test_expire, NULL);
#undef ADD
  g_test_add_func ("/uploads/content-disposition", test_content_disposition);

  return g_test_run ();
}
