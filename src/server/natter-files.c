/* natter-files.c: see the header. The response body is not accumulated:
 * each "wrote-chunk" appends the next block read from the blob, so a
 * download holds one block in memory however large the file. libsoup's own
 * Range handling needs an accumulated body, so ranges are served here. */
#include "natter-files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "natter-http-api.h"

#define READ_BLOCK_BYTES (256 * 1024)

typedef struct
{
  int      fd;
  guint64  position;  /* next byte to read */
  guint64  end;       /* one past the last byte to send */
} Download;

static void
download_free (Download *download)
{
  if (download->fd >= 0)
    close (download->fd);
  g_free (download);
}

/* Appends the next block, or completes the body at the end. Reading a
 * block of a local file blocks for microseconds (page cache) and keeps the
 * code simple; a GInputStream read in a thread would not be faster here. */
static void
download_feed (SoupServerMessage *msg,
               Download          *download)
{
  SoupMessageBody *body = soup_server_message_get_response_body (msg);
  gsize want;
  guint8 *block;
  gssize n;

  if (download->position >= download->end)
    {
      soup_message_body_complete (body);
      return;
    }

  want = MIN ((guint64) READ_BLOCK_BYTES, download->end - download->position);
  block = g_malloc (want);
  do
    n = pread (download->fd, block, want, download->position);
  while (n < 0 && errno == EINTR);

  if (n <= 0)
    {
      GSocket *socket = soup_server_message_get_socket (msg);

      /* The headers promised more bytes: the only honest end is a cut. */
      g_warning ("files: read failed at %" G_GUINT64_FORMAT ": %s", download->position,
                 n < 0 ? g_strerror (errno) : "unexpected end of file");
      g_free (block);
      if (socket != NULL && !g_socket_is_closed (socket))
        g_socket_shutdown (socket, TRUE, TRUE, NULL);
      return;
    }

  download->position += n;
  soup_message_body_append_take (body, block, n);
}

static void
download_wrote_chunk_cb (SoupServerMessage *msg,
                         gpointer           user_data)
{
  Download *download = user_data;

  /* Appending before libsoup looks for the next chunk means it never
   * runs dry, so it never pauses and needs no unpause. */
  download_feed (msg, download);
}

static gboolean
is_attr_char (guchar c)
{
  /* RFC 8187 attr-char */
  return g_ascii_isalnum (c) || (c != '\0' && strchr ("!#$&+-.^_`|~", c) != NULL);
}

char *
natter_files_content_disposition (const char *disposition,
                                  const char *filename)
{
  GString *out = g_string_new (disposition);
  const guchar *p;

  g_string_append (out, "; filename=\"");
  for (p = (const guchar *) filename; *p != '\0'; p++)
    {
      if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' && *p != '/' && *p != '%')
        g_string_append_c (out, *p);
      else if (*p < 0x80 || (*p & 0xc0) == 0xc0)
        g_string_append_c (out, '_'); /* one '_' per character, not per byte */
    }
  g_string_append (out, "\"; filename*=UTF-8''");
  for (p = (const guchar *) filename; *p != '\0'; p++)
    {
      if (is_attr_char (*p))
        g_string_append_c (out, *p);
      else
        g_string_append_printf (out, "%%%02X", *p);
    }
  return g_string_free (out, FALSE);
}

void
natter_files_handle (NatterUploads     *uploads,
                     SoupServerMessage *msg,
                     const char        *path)
{
  static const char prefix[] = "/api/v1/files/";
  SoupMessageHeaders *request = soup_server_message_get_request_headers (msg);
  SoupMessageHeaders *response = soup_server_message_get_response_headers (msg);
  const char *method = soup_server_message_get_method (msg);
  const char *id = g_str_has_prefix (path, prefix) ? path + strlen (prefix) : NULL;
  g_autoptr(NatterUploadsFile) file = NULL;
  g_autofree char *user = NULL;
  g_autofree char *disposition = NULL;
  Download *download;
  guint64 start = 0, end;
  guint status = SOUP_STATUS_OK;
  int fd;

  if (g_strcmp0 (method, "GET") != 0 && g_strcmp0 (method, "HEAD") != 0)
    {
      soup_message_headers_replace (response, "Allow", "GET, HEAD");
      natter_http_reply_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "bad_request",
                               "method not allowed");
      return;
    }

  user = natter_uploads_authenticate (uploads, msg);
  if (user == NULL)
    {
      soup_message_headers_replace (response, "WWW-Authenticate", "Bearer");
      natter_http_reply_error (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                               "Authorization: Bearer TOKEN is required");
      return;
    }

  /* Ids are checked against their alphabet before they get near a path. */
  if (id == NULL || (file = natter_uploads_lookup_file (uploads, id)) == NULL)
    {
      natter_http_reply_error (msg, SOUP_STATUS_NOT_FOUND, "bad_request", "no such file");
      return;
    }
  if (!natter_store_is_member (natter_uploads_get_store (uploads), file->room, user))
    {
      natter_http_reply_error (msg, SOUP_STATUS_FORBIDDEN, "not_member",
                               "only members of the file's room may fetch it");
      return;
    }

  end = file->size;
  if (soup_message_headers_get_one (request, "Range") != NULL)
    {
      SoupRange *ranges = NULL;
      int n_ranges = 0;

      if (file->size == 0)
        status = SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE;
      else if (soup_message_headers_get_ranges (request, file->size, &ranges, &n_ranges))
        {
          /* Several ranges would need multipart/byteranges; a server may
           * answer the whole file instead (RFC 9110 14.2). */
          if (n_ranges == 1)
            {
              if ((guint64) ranges[0].start >= (guint64) file->size)
                status = SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE;
              else
                {
                  start = ranges[0].start;
                  end = MIN ((guint64) ranges[0].end + 1, (guint64) file->size);
                  status = SOUP_STATUS_PARTIAL_CONTENT;
                }
            }
          soup_message_headers_free_ranges (request, ranges);
        }
      else
        {
          /* libsoup refuses what it cannot parse, and also a start past
           * the end; only the latter is 416. */
          const char *range = soup_message_headers_get_one (request, "Range");
          g_autofree char *digits = NULL;
          guint64 first;

          if (g_str_has_prefix (range, "bytes="))
            digits = g_strndup (range + 6, strcspn (range + 6, "-,"));
          if (digits != NULL &&
              g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT64, &first, NULL) &&
              first >= (guint64) file->size)
            status = SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE;
        }
    }

  if (status == SOUP_STATUS_REQUESTED_RANGE_NOT_SATISFIABLE)
    {
      g_autofree char *content_range = g_strdup_printf ("bytes */%" G_GINT64_FORMAT, file->size);

      soup_message_headers_replace (response, "Content-Range", content_range);
      natter_http_reply_error (msg, status, "bad_request", "the range is past the end");
      return;
    }

  fd = open (file->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      g_warning ("files: %s: %s", file->path, g_strerror (errno));
      natter_http_reply_error (msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "internal",
                               "the file's data is missing");
      return;
    }

  disposition = natter_files_content_disposition ("attachment", file->filename);
  soup_message_headers_replace (response, "Content-Disposition", disposition);
  soup_message_headers_replace (response, "Content-Type", file->mime);
  soup_message_headers_replace (response, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace (response, "Accept-Ranges", "bytes");
  soup_message_headers_replace (response, "ETag", file->sha256);
  soup_message_headers_replace (response, "Cache-Control", "private, max-age=31536000, immutable");
  if (status == SOUP_STATUS_PARTIAL_CONTENT)
    soup_message_headers_set_content_range (response, start, end - 1, file->size);
  soup_message_headers_set_content_length (response, end - start);
  soup_server_message_set_status (msg, status, NULL);

  if (g_strcmp0 (method, "HEAD") == 0 || end == start)
    {
      close (fd);
      return;
    }

  download = g_new0 (Download, 1);
  download->fd = fd;
  download->position = start;
  download->end = end;
  soup_message_body_set_accumulate (soup_server_message_get_response_body (msg), FALSE);
  g_object_set_data_full (G_OBJECT (msg), "natter-download", download,
                          (GDestroyNotify) download_free);
  g_signal_connect (msg, "wrote-chunk", G_CALLBACK (download_wrote_chunk_cb), download);
  download_feed (msg, download);
}
