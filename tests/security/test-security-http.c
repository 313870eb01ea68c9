/* test-security-http.c: the HTTP side: tokens that are not what they
 * claim (forged, altered, from another server, from a replaced database),
 * lying and oversize request lengths, malformed JSON bodies, file ids and
 * Range headers (when /api/v1/files is served), wrong Origins, passwords
 * in the most verbose log.
 *
 * Already in tests/server (not repeated): a bogus and an empty token on
 * CONNECT [chat/wrong-token]; a logged-out token on CONNECT and logout
 * [chat/logout]; "not json", "[1,2]", NUL in names [http/api]; a body one
 * byte over the cap [http/api]; a wrong Origin and "null" on the upgrade
 * [hardening/origin]; tus offsets, Range past the end, nine traversal ids
 * [uploads/wrong-offset, uploads/range, uploads/traversal]. */
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "security-common.h"

/* ---- plumbing -------------------------------------------------------------------------- */

/* One request by hand on a fresh TCP connection; returns the status of
 * the answer (0: closed without one) once the server hung up. */
static guint
raw_request (guint       port,
             const char *request,
             gsize       len,
             gint64     *out_usec)
{
  NatterTestRaw *raw = natter_test_raw_connect (port, 0);
  gint64 start = g_get_monotonic_time ();
  GByteArray *input;
  guint status = 0;

  natter_test_raw_write (raw, request, len);
  natter_test_raw_wait_eof (raw, NATTER_TEST_TIMEOUT_MS);
  if (out_usec != NULL)
    *out_usec = g_get_monotonic_time () - start;
  input = natter_test_raw_get_input (raw);
  /* The input is raw bytes, not a C string: read the three digits only. */
  if (input->len > 12 && memcmp (input->data, "HTTP/1.1 ", 9) == 0)
    {
      char digits[4] = { 0 };

      memcpy (digits, input->data + 9, 3);
      status = (guint) g_ascii_strtoull (digits, NULL, 10);
    }
  natter_test_raw_free (raw);
  return status;
}

/* ---- tokens ------------------------------------------------------------------------------- */

static void
test_tokens (SecFixture    *f,
             gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  g_autofree char *upper = g_ascii_strup (token, -1);
  g_autofree char *shorter = g_strndup (token, strlen (token) - 1);
  g_autofree char *longer = g_strconcat (token, "A", NULL);
  g_autofree char *spaced = g_strconcat (" ", token, " ", NULL);
  g_autofree char *prefix = g_strndup (token, 8);
  g_autofree char *huge = g_strnfill (512 * 1024, 'A');
  g_autofree char *hashed = NULL;
  const char *forged[] = { "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", upper, shorter, longer,
                           spaced, prefix, huge, "null", "undefined", "*", "%", "' OR '1'='1" };
  guint i;

  /* The store keeps SHA-256(token): the hash itself is no token either. */
  {
    g_autoptr(GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);

    g_checksum_update (sum, (const guchar *) token, strlen (token));
    hashed = g_strdup (g_checksum_get_string (sum));
  }

  for (i = 0; i <= G_N_ELEMENTS (forged); i++)
    {
      const char *bad = i < G_N_ELEMENTS (forged) ? forged[i] : hashed;
      g_autoptr(NatterTestClient) client = natter_test_client_new (f->ts->url);
      g_autoptr(GError) error = NULL;

      g_test_message ("forged token %.40s", bad);
      g_assert_false (natter_test_client_connect (client, bad, &error));
      g_assert_nonnull (error);
      /* (HTTP trims white space around header values: " T " is T there.) */
      if (strlen (bad) < 1000 && bad != spaced)
        g_assert_cmpuint (natter_test_http (f->ts->url, "POST", "/api/v1/logout", NULL, bad, NULL), ==, 401);
    }

  /* Authorization headers in other shapes. */
  {
    g_autofree char *basic = g_strconcat ("Basic ", token, NULL);
    g_autofree char *twice = g_strconcat ("Bearer ", token, ", Bearer ", token, NULL);
    g_autofree char *glued = g_strconcat ("Bearer", token, NULL);
    const char *shapes[] = { basic, twice, glued, "Bearer", "Bearer ", token };

    for (i = 0; i < G_N_ELEMENTS (shapes); i++)
      {
        g_autoptr(SoupMessage) msg = sec_api_message (f->ts->url, "POST", "/api/v1/logout", NULL,
                                                  "Authorization", shapes[i]);

        g_assert_cmpuint (sec_send_message (NULL, msg, NULL, NULL), ==, 401);
      }
  }

  /* None of it revoked or weakened the real token. */
  {
    g_autoptr(NatterTestClient) real = sec_connect_token (f->ts->url, token);

    g_assert_true (natter_test_client_is_open (real));
  }

  /* Tokens do not expire by design (DESIGN.md: logout revokes them); the
   * nearest thing, a token whose database was replaced, is dead. */
  {
    g_autofree char *old_dir = g_strdup (f->ts->config->data_dir);
    g_autofree char *new_dir = g_build_filename (old_dir, "replaced", NULL);
    g_autoptr(NatterTestClient) client = NULL;
    g_autoptr(GError) error = NULL;

    g_assert_cmpint (g_mkdir (new_dir, 0700), ==, 0);
    natter_test_server_stop (f->ts);
    g_free (f->ts->config->data_dir);
    f->ts->config->data_dir = g_strdup (new_dir);
    natter_test_server_start (f->ts);
    client = natter_test_client_new (f->ts->url);
    g_assert_false (natter_test_client_connect (client, token, &error));
    g_assert_cmpstr (error->message, ==, "unauthorized");
    g_assert_cmpuint (natter_test_http (f->ts->url, "POST", "/api/v1/logout", NULL, token, NULL), ==, 401);
  }
  sec_assert_fixture_ok (f);
}

static void
test_foreign_token (SecFixture    *f,
                    gconstpointer  data)
{
  NatterTestServer *other = natter_test_server_new ();
  g_autofree char *here = natter_test_register (f->ts->url, "alice");
  g_autofree char *there = NULL;

  natter_test_server_start (other);
  there = natter_test_register (other->url, "alice");
  g_assert_cmpstr (here, !=, there);

  /* The same user name on another server: its token means nothing here,
   * on the socket or the API, and the reverse. */
  {
    g_autoptr(NatterTestClient) a = natter_test_client_new (f->ts->url);
    g_autoptr(NatterTestClient) b = natter_test_client_new (other->url);
    g_autoptr(GError) error = NULL;

    g_assert_false (natter_test_client_connect (a, there, &error));
    g_clear_error (&error);
    g_assert_false (natter_test_client_connect (b, here, &error));
    g_assert_cmpuint (natter_test_http (f->ts->url, "POST", "/api/v1/logout", NULL, there, NULL), ==, 401);
    g_assert_cmpuint (natter_test_http (other->url, "POST", "/api/v1/logout", NULL, here, NULL), ==, 401);
  }
  /* Both still work where they belong. */
  {
    g_autoptr(NatterTestClient) a = sec_connect_token (f->ts->url, here);
    g_autoptr(NatterTestClient) b = sec_connect_token (other->url, there);

    g_assert_true (natter_test_client_is_open (a) && natter_test_client_is_open (b));
  }
  natter_test_server_free (other);
  sec_assert_fixture_ok (f);
}

/* ---- lengths and bodies ------------------------------------------------------------------------ */

static void
test_content_length (SecFixture    *f,
                     gconstpointer  data)
{
  const char *head = "POST /api/v1/register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";
  g_autofree char *ten_gb = g_strdup_printf ("%sContent-Length: 10737418240\r\n\r\n"
                                             "{\"user\":\"big\",\"password\":\"x\"}", head);
  g_autoptr(GString) chunked = g_string_new (head);
  gint64 usec = 0;
  guint status, i;
  /* (A Content-Length that is not a number, "-1" included, two that
   * disagree, or an unknown transfer coding: see bad-length-leak; libsoup
   * keeps memory for each.) */
  const char *lies[] = {
    "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  };

  /* 10 GB announced, 30 bytes sent: refused from the head, at once. */
  status = raw_request (f->port, ten_gb, strlen (ten_gb), &usec);
  g_test_message ("10 GB Content-Length → %u in %.2f s", status, usec / 1e6);
  g_assert_cmpuint (status, ==, 413);
  g_assert_cmpint (usec, <, 3 * G_USEC_PER_SEC);

  /* A chunked body (no length announced) that passes the cap. */
  g_string_append (chunked, "Transfer-Encoding: chunked\r\n\r\n");
  for (i = 0; i < 20; i++)
    {
      g_string_append_printf (chunked, "%x\r\n", 8192);
      g_string_append_len (chunked, "", 0);
      {
        g_autofree char *block = g_strnfill (8192, ' ');

        g_string_append (chunked, block);
      }
      g_string_append (chunked, "\r\n");
    }
  g_string_append (chunked, "0\r\n\r\n");
  status = raw_request (f->port, chunked->str, chunked->len, NULL);
  g_test_message ("chunked 160 KiB → %u", status);
  g_assert_cmpuint (status, ==, 413);

  /* Lengths that lie, overflow or contradict: never a 201. */
  for (i = 0; i < G_N_ELEMENTS (lies); i++)
    {
      g_autofree char *request = g_strconcat (head, lies[i], NULL);

      status = raw_request (f->port, request, strlen (request), NULL);
      g_test_message ("lie %u → %u", i, status);
      g_assert_true (status == 0 || (status >= 400 && status < 500) || status == 501);
    }
  sec_assert_fixture_ok (f);
}

/* libsoup 3.2.3 keeps the method and path of a request whose
 * Content-Length is not a number (soup_headers_parse_request's error path):
 * with a long path, every such request leaks kilobytes, unauthenticated.
 * Measured on the binary; reported as a known failure until it is fixed
 * (upstream or by a guard in front of libsoup's parser). */
static void
test_bad_length_leak (SecFixture    *f,
                      gconstpointer  data)
{
  SecProcess *process = sec_process_start (NULL, NULL);
  g_autofree char *path = g_strnfill (4000, 'p');
  g_autofree char *request = g_strdup_printf ("POST /api/v1/%s HTTP/1.1\r\nHost: x\r\n"
                                              "Content-Length: abc\r\n\r\n{}", path);
  guint n = sec_scaled (500), i, refused = 0;
  gsize before, after;

  sec_assert_healthy (sec_process_get_url (process));
  before = sec_process_get_rss (process);
  for (i = 0; i < n; i++)
    refused += raw_request (sec_process_get_port (process), request, strlen (request), NULL) == 400;
  after = sec_process_get_rss (process);
  g_test_message ("%u requests with Content-Length: abc (4 KB path): %u answered 400, RSS %zu → %zu KiB",
                  n, refused, before / 1024, after / 1024);
  g_assert_cmpuint (refused, ==, n);
  sec_assert_healthy (sec_process_get_url (process));
  sec_process_kill (process); /* its leak report at exit is this case's subject */
  if (after > before + n * 2048)
    g_test_incomplete ("libsoup 3.2.3 leaks the request line of every request with a non-numeric "
                       "Content-Length (about 2 KiB or more each here)");
}

static void
test_malformed_json (SecFixture    *f,
                     gconstpointer  data)
{
  g_autoptr(GString) arrays = g_string_new (NULL);
  g_autoptr(GString) objects = g_string_new (NULL);
  g_autofree char *p1025 = g_strnfill (1025, 'p');
  g_autofree char *long_password = g_strdup_printf ("{\"user\":\"lp\",\"password\":\"%s\"}", p1025);
  guint i;
  const char *bodies[] = {
    "", " ", "null", "0", "\"user\"", "{", "{}", "{\"user\":5,\"password\":\"p\"}",
    "{\"user\":\"ok\",\"password\":{}}", "{\"user\":\"ok\",\"password\":[\"p\"]}",
    "{\"user\":\"ok\",\"password\":true}", "{\"user\":[\"ok\"],\"password\":\"p\"}",
    "{\"user\":\"ok\",\"password\":\"p\"", "{\"user\":\"ok\",\"password\":\"p\"}{}",
    "{\"user\":\"o\xffk\",\"password\":\"p\"}", "{\"user\":\"ok\",\"password\":\"\xc0\xaf\"}",
    "{\"user\":\"ok\",\"password\":\"\\ud800\"}", "{\"user\":\"ok\",\"password\":1e999999}",
    "{'user':'ok','password':'p'}", NULL, NULL, NULL,
  };

  while (arrays->len < 60000)
    g_string_append_c (arrays, '[');
  while (objects->len < 60000)
    g_string_append (objects, "{\"user\":");
  bodies[G_N_ELEMENTS (bodies) - 3] = arrays->str;
  bodies[G_N_ELEMENTS (bodies) - 2] = objects->str;
  bodies[G_N_ELEMENTS (bodies) - 1] = long_password;

  for (i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      guint reg = natter_test_http (f->ts->url, "POST", "/api/v1/register", bodies[i], NULL, NULL);
      guint login = natter_test_http (f->ts->url, "POST", "/api/v1/login", bodies[i], NULL, NULL);

      g_test_message ("body %u → register %u, login %u", i, reg, login);
      g_assert_cmpuint (reg, ==, 400);
      g_assert_true (login == 400 || login == 401);
    }
  /* And the name "ok" was never created by any of them. */
  g_assert_cmpuint (natter_test_http (f->ts->url, "POST", "/api/v1/register",
                                      "{\"user\":\"ok\",\"password\":\"p\"}", NULL, NULL), ==, 201);
  sec_assert_fixture_ok (f);
}

/* A request whose whole head and body arrived in time is answered even if
 * answering takes longer than the handshake timeout (a real password hash
 * here, under the test's own load). */
static void
tweak_slow_hash (NatterServerConfig *config)
{
  config->handshake_timeout_ms = 150;
  config->fast_password_hashing = FALSE;
}

static void
test_slow_answer (SecFixture    *f,
                  gconstpointer  data)
{
  gint64 start = g_get_monotonic_time ();
  g_autoptr(SoupMessage) msg = sec_api_message (f->ts->url, "POST", "/api/v1/register",
                                            "{\"user\":\"patient\",\"password\":\"a real argon2id hash\"}",
                                            NULL, NULL);
  g_autoptr(GError) error = NULL;
  guint status = sec_send_message (NULL, msg, NULL, &error);

  g_test_message ("register with a real hash took %.0f ms (handshake timeout 150 ms)",
                  (g_get_monotonic_time () - start) / 1e3);
  g_assert_no_error (error);
  g_assert_cmpuint (status, ==, 201);
  sec_assert_fixture_ok (f);
}

/* ---- files and ranges ----------------------------------------------------------------------- */

static char *
b64 (const char *text)
{
  return g_base64_encode ((const guchar *) text, strlen (text));
}

static void
test_files (SecFixture    *f,
            gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "filer");
  g_autoptr(SoupMessage) probe = sec_api_message (f->ts->url, "GET", "/api/v1/files/probe", NULL, NULL, NULL);
  guint status = sec_send_message (NULL, probe, NULL, NULL);
  g_autofree char *room = b64 ("general");
  g_autofree char *name = b64 ("r.bin");
  g_autofree char *mime = b64 ("application/octet-stream");
  g_autofree char *meta = g_strdup_printf ("room %s,filename %s,mime %s", room, name, mime);
  g_autofree char *bearer = g_strconcat ("Bearer ", token, NULL);
  g_autofree char *id = NULL;
  guint i;

  /* Served only once the files work lands: 401 without a token means the
   * route is there; 404/501 that it is not yet. */
  if (status != 401)
    {
      g_test_skip ("GET /api/v1/files/… is not served by this server yet");
      return;
    }

  {
    g_autoptr(SoupMessage) create = sec_api_message (f->ts->url, "POST", "/api/v1/uploads", NULL,
                                                 "Authorization", bearer);
    SoupMessageHeaders *headers = soup_message_get_request_headers (create);
    g_autoptr(SoupMessage) patch = NULL;
    g_autoptr(GBytes) bytes = g_bytes_new_static ("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"
                                                 "klmnopqrstuvwxyz0123456789abcdefghijklmnopqrst", 100);
    g_autofree char *path = NULL;
    const char *location;

    soup_message_headers_replace (headers, "Tus-Resumable", "1.0.0");
    soup_message_headers_replace (headers, "Upload-Length", "100");
    soup_message_headers_replace (headers, "Upload-Metadata", meta);
    g_assert_cmpuint (sec_send_message (NULL, create, NULL, NULL), ==, 201);
    location = soup_message_headers_get_one (soup_message_get_response_headers (create), "Location");
    id = g_strdup (strrchr (location, '/') + 1);
    path = g_strconcat ("/api/v1/uploads/", id, NULL);
    patch = sec_api_message (f->ts->url, "PATCH", path, NULL, "Authorization", bearer);
    headers = soup_message_get_request_headers (patch);
    soup_message_headers_replace (headers, "Tus-Resumable", "1.0.0");
    soup_message_headers_replace (headers, "Upload-Offset", "0");
    soup_message_set_request_body_from_bytes (patch, "application/offset+octet-stream", bytes);
    g_assert_cmpuint (sec_send_message (NULL, patch, NULL, NULL), ==, 204);
  }

  /* Ids that try to leave the files directory or name something else. */
  {
    g_autofree char *long_id = g_strnfill (4096, 'a');
    g_autofree char *with_slash = g_strconcat (id, "%2F..%2F..%2Fnatter.db", NULL);
    g_autofree char *with_dot = g_strconcat (id, "/..", NULL);
    const char *ids[] = { "%252e%252e%252fnatter.db", "..%5c..%5cnatter.db", "....//....//natter.db",
                          "%2F", "natter.db", "natter.db-wal", "uploads", "files", ".%2e/.%2e/natter.db",
                          "%c0%ae%c0%ae/natter.db", "~", "*", long_id, with_slash, with_dot };

    for (i = 0; i < G_N_ELEMENTS (ids); i++)
      {
        g_autofree char *path = g_strconcat ("/api/v1/files/", ids[i], NULL);
        g_autoptr(SoupMessage) get = sec_api_message (f->ts->url, "GET", path, NULL, "Authorization", bearer);

        if (get == NULL)
          continue;
        status = sec_send_message (NULL, get, NULL, NULL);
        g_test_message ("file id %.40s → %u", ids[i], status);
        g_assert_true (status == 400 || status == 404 || status == 414);
      }
  }

  /* Ranges at and past the edges of a 100-byte file. */
  {
    g_autofree char *path = g_strconcat ("/api/v1/files/", id, NULL);
    /* Never more than the file, never an error of the server's own; an
     * unparsable Range may be ignored (200), one past the end is 416. */
    const struct { const char *range; guint a, b, c; gsize len; } ranges[] = {
      { "bytes=0-99999999999999999999", 206, 200, 416, 100 },
      { "bytes=18446744073709551615-", 416, 200, 416, 0 },
      { "bytes=5-2", 416, 200, 416, 100 },
      { "bytes=-0", 416, 200, 416, 0 },
      { "bytes=-99999999999", 206, 200, 416, 100 },
      { "bytes=99-", 206, 206, 206, 1 },
      { "bytes=100-100", 416, 416, 416, 0 },
      { "bytes=0-0,2-3", 200, 416, 206, 100 },
      { "bytes=--1", 200, 416, 416, 100 },
      { "items=0-1", 200, 200, 200, 100 },
      { "bytes=0x10-", 200, 416, 416, 100 },
    };

    for (i = 0; i < G_N_ELEMENTS (ranges); i++)
      {
        g_autoptr(SoupMessage) get = sec_api_message (f->ts->url, "GET", path, NULL, "Authorization", bearer);
        g_autoptr(GBytes) body = NULL;

        soup_message_headers_replace (soup_message_get_request_headers (get), "Range", ranges[i].range);
        status = sec_send_message (NULL, get, &body, NULL);
        g_test_message ("Range %s → %u, %zu bytes", ranges[i].range, status,
                        body != NULL ? g_bytes_get_size (body) : 0);
        g_assert_true (status == ranges[i].a || status == ranges[i].b || status == ranges[i].c);
        if (status == 206 || status == 200)
          g_assert_cmpuint (g_bytes_get_size (body), <=, 100);
        if (status == 200)
          g_assert_cmpuint (g_bytes_get_size (body), ==, 100);
        if (status == 206 && ranges[i].len == 1)
          g_assert_cmpuint (g_bytes_get_size (body), ==, 1);
      }
  }
  sec_assert_fixture_ok (f);
}

/* ---- Origin ------------------------------------------------------------------------------------ */

static void
tweak_origin (NatterServerConfig *config)
{
  const char *origins[] = { "https://chat.example.org", NULL };

  config->allowed_origins = g_strdupv ((char **) origins);
}

static void
test_origin (SecFixture    *f,
             gconstpointer  data)
{
  g_autofree char *token = natter_test_register (f->ts->url, "alice");
  const char *wrong[] = { "https://evil.example.com", "https://chat.example.org.evil.com",
                          "https://chat.example.org:8443", "http://chat.example.org",
                          "https://chat.example.org/", "HTTPS://CHAT.EXAMPLE.ORG",
                          "https://chat.example.or", " https://evil.example.com", "file://" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (wrong); i++)
    {
      g_autoptr(NatterTestClient) ws = natter_test_client_new (f->ts->url);
      g_autoptr(SoupMessage) login = sec_api_message (f->ts->url, "POST", "/api/v1/login",
                                                  "{\"user\":\"alice\",\"password\":\"secret-alice\"}",
                                                  "Origin", wrong[i]);
      g_autoptr(SoupMessage) reg = sec_api_message (f->ts->url, "POST", "/api/v1/register",
                                                "{\"user\":\"csrf\",\"password\":\"p\"}",
                                                "Origin", wrong[i]);
      g_autoptr(SoupMessage) logout = sec_api_message (f->ts->url, "POST", "/api/v1/logout", NULL,
                                                   "Origin", wrong[i]);
      g_autofree char *bearer = g_strconcat ("Bearer ", token, NULL);
      g_autoptr(GError) error = NULL;

      g_test_message ("Origin: %s", wrong[i]);
      natter_test_client_set_header (ws, "Origin", wrong[i]);
      g_assert_false (natter_test_client_open (ws, NULL, &error));
      g_assert_cmpuint (natter_test_client_get_http_status (ws), ==, 403);

      /* The API too: a page elsewhere must not log in, register or log
       * out through the user's browser. */
      soup_message_headers_replace (soup_message_get_request_headers (logout), "Authorization", bearer);
      g_assert_cmpuint (sec_send_message (NULL, login, NULL, NULL), ==, 403);
      g_assert_cmpuint (sec_send_message (NULL, reg, NULL, NULL), ==, 403);
      g_assert_cmpuint (sec_send_message (NULL, logout, NULL, NULL), ==, 403);
    }

  /* The allowed origin, and no Origin at all, work; the token survived. */
  {
    g_autoptr(SoupMessage) login = sec_api_message (f->ts->url, "POST", "/api/v1/login",
                                                "{\"user\":\"alice\",\"password\":\"secret-alice\"}",
                                                "Origin", "https://chat.example.org");
    g_autoptr(NatterTestClient) ws = natter_test_client_new (f->ts->url);
    g_autoptr(GError) error = NULL;

    g_assert_cmpuint (sec_send_message (NULL, login, NULL, NULL), ==, 200);
    natter_test_client_set_header (ws, "Origin", "https://chat.example.org");
    g_assert_true (natter_test_client_connect (ws, token, &error));
    g_assert_no_error (error);
  }
  sec_assert_fixture_ok (f);
}

/* ---- passwords never logged ----------------------------------------------------------------- */

static void
test_passwords_not_logged (SecFixture    *f,
                           gconstpointer  data)
{
  const char *verbose[] = { "--verbose", NULL };
  SecProcess *process = sec_process_start (NULL, verbose);
  const char *url = sec_process_get_url (process);
  const char *secrets[] = { "Pw-7f3a9c-distinctive", "Wrong-7f3a9c-distinctive", "Dup-7f3a9c-distinctive",
                            "Bad-7f3a9c-distinctive", "Long-7f3a9c-distinctive" };
  g_autofree char *padding = g_strnfill (1100, 'x');
  g_autofree char *long_body = g_strdup_printf ("{\"user\":\"logged\",\"password\":\"%s%s\"}", secrets[4],
                                                padding);
  g_autofree char *ok_body = g_strdup_printf ("{\"user\":\"logged\",\"password\":\"%s\"}", secrets[0]);
  g_autofree char *wrong_body = g_strdup_printf ("{\"user\":\"logged\",\"password\":\"%s\"}", secrets[1]);
  g_autofree char *dup_body = g_strdup_printf ("{\"user\":\"logged\",\"password\":\"%s\"}", secrets[2]);
  g_autofree char *bad_body = g_strdup_printf ("{\"user\":\"Logged!\",\"password\":\"%s\"", secrets[3]);
  g_autoptr(JsonNode) reply = NULL;
  const char *output;
  guint i;

  g_assert_cmpuint (natter_test_http (url, "POST", "/api/v1/register", ok_body, NULL, &reply), ==, 201);
  g_assert_cmpuint (natter_test_http (url, "POST", "/api/v1/login", ok_body, NULL, NULL), ==, 200);
  g_assert_cmpuint (natter_test_http (url, "POST", "/api/v1/login", wrong_body, NULL, NULL), ==, 401);
  g_assert_cmpuint (natter_test_http (url, "POST", "/api/v1/register", dup_body, NULL, NULL), ==, 409);
  g_assert_cmpuint (natter_test_http (url, "POST", "/api/v1/register", bad_body, NULL, NULL), ==, 400);
  g_assert_cmpuint (natter_test_http (url, "POST", "/api/v1/register", long_body, NULL, NULL), ==, 400);
  {
    /* Passwords where they do not belong: in socket events. */
    const char *token = json_object_get_string_member (json_node_get_object (reply), "token");
    g_autoptr(NatterTestClient) client = sec_connect_token (url, token);
    g_autofree char *args = g_strdup_printf ("{\"password\":\"%s\"}", secrets[0]);
    g_autoptr(JsonObject) ack = natter_test_client_call_json (client, "login", args);

    sec_assert_error (ack, "bad_request");
  }
  sec_assert_healthy (url);
  output = sec_process_get_output (process);
  /* The most verbose log is on (it shows the debug lines of every frame)… */
  g_assert_nonnull (strstr (output, "DEBUG"));
  g_test_message ("%zu bytes of verbose log checked", strlen (output));
  /* … and holds none of the passwords. */
  for (i = 0; i < G_N_ELEMENTS (secrets); i++)
    if (strstr (output, secrets[i]) != NULL)
      g_error ("password %s found in the server's output", secrets[i]);
  sec_process_stop (process);
}

int
main (int   argc,
      char *argv[])
{
  sec_init (&argc, &argv, "http");

  sec_add ("/security/http/tokens", NULL, test_tokens);
  sec_add ("/security/http/foreign-token", NULL, test_foreign_token);
  sec_add ("/security/http/content-length", NULL, test_content_length);
  sec_add ("/security/http/bad-length-leak", NULL, test_bad_length_leak);
  sec_add ("/security/http/malformed-json", NULL, test_malformed_json);
  sec_add ("/security/http/slow-answer", tweak_slow_hash, test_slow_answer);
  sec_add ("/security/http/files", NULL, test_files);
  sec_add ("/security/http/origin", tweak_origin, test_origin);
  sec_add ("/security/http/passwords-not-logged", NULL, test_passwords_not_logged);

  return sec_run ();
}
