/* test-security-websocket.c: the WebSocket layer under hand-made frames
 * (RFC 6455 §5): lying lengths, 100,000 fragments, invalid UTF-8, unmasked
 * and reserved-bit frames, unknown opcodes, bad close codes, oversize and
 * fragmented control frames; and floods of TCP connections measured from
 * outside the natter-server process (descriptors and RSS from /proc).
 *
 * Already in tests/server (not repeated here): one frame over the limit
 * [protocol/oversize-frame], a fragmented message over the limit
 * [protocol/oversize-fragmented], a client that never reads while the room
 * is busy [hardening/slow-reader], silent/half/trickling single
 * connections [hardening/idle-timeout]. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "security-common.h"

/* Opens a session, writes @bytes, expects the server to close with one of
 * @codes (0-terminated) and then to hang up. */
static void
expect_close (SecFixture *f,
              GByteArray *bytes,
              const int  *codes,
              const char *what)
{
  NatterTestRaw *raw = sec_raw_session (f->port, 0, NULL);
  int code, i;
  gboolean expected = FALSE;

  natter_test_raw_write (raw, bytes->data, bytes->len);
  code = sec_raw_wait_close_code (raw, NATTER_TEST_TIMEOUT_MS);
  g_test_message ("%s → close %d", what, code);
  for (i = 0; codes[i] != 0; i++)
    expected |= code == codes[i];
  if (!expected)
    g_error ("%s: the server answered close code %d", what, code);
  g_assert_false (natter_test_raw_pump (raw)); /* and hung up */
  natter_test_raw_free (raw);
}

static const int protocol_error[] = { 1002, 0 };

/* ---- lengths --------------------------------------------------------------------------- */

static void
test_declared_length (SecFixture    *f,
                      gconstpointer  data)
{
  /* libsoup's own per-frame guard may see the header first and drop the
   * connection without a close frame (-1): refused all the same. */
  static const int too_big[] = { 1009, -1, 0 };
  static const int refused[] = { 1002, 1009, -1, 0 };
  guint8 junk[1000];
  g_autoptr(GByteArray) ten_gb = g_byte_array_new ();
  g_autoptr(GByteArray) msb = g_byte_array_new ();
  g_autoptr(GByteArray) binary = g_byte_array_new ();
  gint64 start = g_get_monotonic_time ();

  memset (junk, 'x', sizeof junk);

  /* A header announcing 10 GB and a trickle of payload: refused from the
   * header, without waiting for (or buffering toward) the rest. */
  sec_frame_append (ten_gb, 0x81, TRUE, G_GUINT64_CONSTANT (10) << 30, junk, sizeof junk);
  expect_close (f, ten_gb, too_big, "text frame declaring 10 GB");

  sec_frame_append (binary, 0x82, TRUE, G_GUINT64_CONSTANT (1) << 40, junk, sizeof junk);
  expect_close (f, binary, too_big, "binary frame declaring 1 TB");

  /* RFC 6455 §5.2: the most significant bit of a 64-bit length must be 0. */
  sec_frame_append (msb, 0x81, TRUE, G_GUINT64_CONSTANT (0x8000000000000010), junk, 16);
  expect_close (f, msb, refused, "64-bit length with its top bit set");

  g_assert_cmpint (g_get_monotonic_time () - start, <, 15 * G_USEC_PER_SEC);
  sec_assert_fixture_ok (f);
}

/* ---- 100,000 fragments -------------------------------------------------------------------- */

static void
tweak_no_rate (NatterServerConfig *config)
{
  config->send_rate = 0;
}

static void
test_fragments_100k (SecFixture    *f,
                     gconstpointer  data)
{
  guint n_frames = sec_scaled (100000);
  g_autofree char *token = natter_test_register (f->ts->url, "frag");
  NatterTestRaw *raw = sec_raw_session (f->port, 0, token);
  const char *head = "421[\"send\",";
  const char *tail = "{\"room\":\"general\",\"cid\":\"frag-1\",\"text\":\"in 100000 pieces\"}]";
  g_autoptr(GString) message = g_string_new (head);
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autoptr(NatterTestClient) watcher = NULL;
  gint64 start;
  guint i;

  /* One valid event of n_frames bytes (JSON white space pads it), one byte
   * per frame: every frame and the sum are within the limits, so it must be
   * reassembled and answered, in bounded time and memory. */
  g_assert_cmpuint (n_frames, >, strlen (head) + strlen (tail));
  while (message->len < n_frames - strlen (tail))
    g_string_append_c (message, ' ');
  g_string_append (message, tail);
  g_assert_cmpuint (message->len, ==, n_frames);

  for (i = 0; i < message->len; i++)
    {
      guint8 first = (i == 0 ? 0x1 : 0x0) | (i == message->len - 1 ? 0x80 : 0);

      sec_frame_append (wire, first, TRUE, 1, message->str + i, 1);
    }

  watcher = sec_connect_user (f->ts->url, "watcher", NULL);
  start = g_get_monotonic_time ();
  natter_test_raw_write (raw, wire->data, wire->len);
  g_assert_true (sec_raw_wait_text (raw, "431[{\"ok\":true", 60000));
  g_test_message ("%u frames (%u bytes on the wire) answered in %.1f s", n_frames, wire->len,
                  (g_get_monotonic_time () - start) / 1e6);
  g_assert_nonnull (natter_test_client_wait_event (watcher, "message", 0));
  g_assert_cmpstr (json_object_get_string_member (natter_test_client_get_event (watcher, "message", 0),
                                                  "text"), ==, "in 100000 pieces");
  natter_test_raw_free (raw);
  sec_assert_fixture_ok (f);
}

/* ---- frame-level violations --------------------------------------------------------------- */

static void
test_invalid_utf8 (SecFixture    *f,
                   gconstpointer  data)
{
  static const int bad_data[] = { 1007, 0 };
  const struct { const char *bytes; gsize len; const char *what; } cases[] = {
    { "4\xff", 2, "0xff" },
    { "42[\"\xc0\xaf\"]", 8, "overlong '/'" },
    { "42[\"\xed\xa0\x80\"]", 9, "UTF-16 surrogate" },
    { "42[\"\xf4\x90\x80\x80\"]", 10, "above U+10FFFF" },
    { "42[\"\xe2\x82\"]", 7, "truncated sequence" },
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GByteArray) frame = g_byte_array_new ();

      sec_frame_append (frame, 0x81, TRUE, cases[i].len, cases[i].bytes, cases[i].len);
      expect_close (f, frame, bad_data, cases[i].what);
    }

  /* Valid pieces that only make an invalid whole across fragments. */
  {
    g_autoptr(GByteArray) frames = g_byte_array_new ();

    sec_frame_append (frames, 0x01, TRUE, 6, "42[\"\xe2\x82", 6);
    sec_frame_append (frames, 0x80, TRUE, 3, "(\"]", 3);
    expect_close (f, frames, bad_data, "sequence broken across fragments");
  }
  sec_assert_fixture_ok (f);
}

static void
test_unmasked (SecFixture    *f,
               gconstpointer  data)
{
  g_autoptr(GByteArray) pong = g_byte_array_new ();
  g_autoptr(GByteArray) fragment = g_byte_array_new ();

  /* RFC 6455 §5.1: a server must close on an unmasked client frame. */
  sec_frame_append (pong, 0x81, FALSE, 1, "3", 1);
  expect_close (f, pong, protocol_error, "unmasked text frame");

  /* … also when only a later fragment is unmasked. */
  sec_frame_append (fragment, 0x01, TRUE, 2, "42", 2);
  sec_frame_append (fragment, 0x80, FALSE, 14, "[\"rooms\",{}]  ", 14);
  expect_close (f, fragment, protocol_error, "unmasked continuation");
  sec_assert_fixture_ok (f);
}

static void
test_unknown_opcodes (SecFixture    *f,
                      gconstpointer  data)
{
  static const guint8 opcodes[] = { 0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (opcodes); i++)
    {
      g_autoptr(GByteArray) frame = g_byte_array_new ();
      g_autofree char *what = g_strdup_printf ("opcode 0x%x", opcodes[i]);

      sec_frame_append (frame, 0x80 | opcodes[i], TRUE, 1, "3", 1);
      expect_close (f, frame, protocol_error, what);
    }
  sec_assert_fixture_ok (f);
}

static void
test_reserved_bits (SecFixture    *f,
                    gconstpointer  data)
{
  /* No extension is negotiated (permessage-deflate is declined), so every
   * RSV bit is a violation, on data and control frames alike. */
  static const guint8 firsts[] = { 0x80 | 0x40 | 0x1, 0x80 | 0x20 | 0x1, 0x80 | 0x10 | 0x1,
                                   0x80 | 0x70 | 0x2, 0x80 | 0x40 | 0x9 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (firsts); i++)
    {
      g_autoptr(GByteArray) frame = g_byte_array_new ();
      g_autofree char *what = g_strdup_printf ("first byte 0x%02x", firsts[i]);

      sec_frame_append (frame, firsts[i], TRUE, 1, "3", 1);
      expect_close (f, frame, protocol_error, what);
    }
  sec_assert_fixture_ok (f);
}

static void
test_bad_close_codes (SecFixture    *f,
                      gconstpointer  data)
{
  /* RFC 6455 §7.4: 0–999 are unused, 1004–1006 and 1015 are reserved and
   * never sent, 1016–2999 are unassigned, 5000+ do not exist. */
  static const guint codes[] = { 0, 999, 1004, 1005, 1006, 1016, 1015, 2999, 5000, 65535 };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (codes); i++)
    {
      g_autoptr(GByteArray) frame = g_byte_array_new ();
      g_autofree char *what = g_strdup_printf ("close code %u", codes[i]);
      guint8 payload[2] = { codes[i] >> 8, codes[i] & 0xff };

      sec_frame_append (frame, 0x88, TRUE, 2, payload, 2);
      expect_close (f, frame, protocol_error, what);
    }

  /* A one-byte close payload cannot hold a code. */
  {
    g_autoptr(GByteArray) frame = g_byte_array_new ();

    sec_frame_append (frame, 0x88, TRUE, 1, "\x03", 1);
    expect_close (f, frame, protocol_error, "one-byte close payload");
  }
  /* A reason that is not UTF-8. */
  {
    static const int refused[] = { 1002, 1007, 0 };
    g_autoptr(GByteArray) frame = g_byte_array_new ();

    sec_frame_append (frame, 0x88, TRUE, 4, "\x03\xe8\xff\xfe", 4);
    expect_close (f, frame, refused, "close reason not UTF-8");
  }
  sec_assert_fixture_ok (f);
}

static void
test_control_frames (SecFixture    *f,
                     gconstpointer  data)
{
  static const int too_long[] = { 1002, 1009, 0 };
  guint8 big[200];
  g_autoptr(GByteArray) ping = g_byte_array_new ();
  g_autoptr(GByteArray) pong = g_byte_array_new ();
  g_autoptr(GByteArray) close = g_byte_array_new ();
  g_autoptr(GByteArray) fragmented = g_byte_array_new ();

  memset (big, 'p', sizeof big);
  big[0] = 0x03;
  big[1] = 0xe8; /* a valid close code (1000) in front of the long reason */

  /* RFC 6455 §5.5: control frames carry at most 125 bytes and are never
   * fragmented. (1009, "too big", is a fair answer to the former.) */
  sec_frame_append (ping, 0x89, TRUE, 126, big, 126);
  expect_close (f, ping, too_long, "ping of 126 bytes");
  sec_frame_append (pong, 0x8a, TRUE, 200, big, 200);
  expect_close (f, pong, too_long, "pong of 200 bytes");
  sec_frame_append (close, 0x88, TRUE, 126, big, 126);
  expect_close (f, close, too_long, "close of 126 bytes");
  sec_frame_append (fragmented, 0x09, TRUE, 4, "ping", 4);
  expect_close (f, fragmented, protocol_error, "ping without FIN");
  sec_assert_fixture_ok (f);
}

static void
test_bad_continuation (SecFixture    *f,
                       gconstpointer  data)
{
  g_autoptr(GByteArray) orphan = g_byte_array_new ();
  g_autoptr(GByteArray) interleaved = g_byte_array_new ();

  /* A continuation with no message to continue. */
  sec_frame_append (orphan, 0x80, TRUE, 1, "3", 1);
  expect_close (f, orphan, protocol_error, "orphan continuation");

  /* A new data frame while a fragmented message is still open. */
  sec_frame_append (interleaved, 0x01, TRUE, 2, "42", 2);
  sec_frame_append (interleaved, 0x81, TRUE, 1, "3", 1);
  expect_close (f, interleaved, protocol_error, "text frame inside a fragmented message");
  sec_assert_fixture_ok (f);
}

/* ---- floods of connections, measured from outside ------------------------------------------------ */

/* The server is another process here, so these loops use plain blocking
 * sockets and poll(2): nothing in this process needs its main loop, and a
 * cycle costs what the server needs, not a main-loop tick. */

static const char upgrade_request[] =
  "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
  "Host: 127.0.0.1\r\n"
  "Upgrade: websocket\r\n"
  "Connection: Upgrade\r\n"
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
  "Sec-WebSocket-Version: 13\r\n\r\n";

static int
tcp_connect (guint port)
{
  struct sockaddr_in address = { 0, };
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;

  g_assert_cmpint (fd, >=, 0);
  address.sin_family = AF_INET;
  address.sin_port = htons (port);
  address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect (fd, (struct sockaddr *) &address, sizeof address) != 0)
    g_error ("connect: %s", g_strerror (errno));
  return fd;
}

static void
fd_write (int         fd,
          const void *data,
          gsize       len)
{
  const char *p = data;

  while (len > 0)
    {
      gssize n = send (fd, p, len, MSG_NOSIGNAL);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      p += n;
      len -= n;
    }
}

static gboolean
contains (GString    *buffer,
          const char *needle)
{
  gsize n = strlen (needle), i;

  for (i = 0; i + n <= buffer->len; i++)
    if (memcmp (buffer->str + i, needle, n) == 0)
      return TRUE;
  return FALSE;
}

/* Reads until @needle is in @buffer (TRUE), EOF or the deadline (FALSE);
 * @needle NULL: until EOF (TRUE). */
static gboolean
fd_read_until (int         fd,
               GString    *buffer,
               const char *needle,
               int         timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (;;)
    {
      struct pollfd pfd = { fd, POLLIN, 0 };
      char chunk[4096];
      gssize n;
      int left = (int) ((deadline - g_get_monotonic_time ()) / 1000);

      if (needle != NULL && contains (buffer, needle))
        return TRUE;
      if (left <= 0 || poll (&pfd, 1, left) <= 0)
        return FALSE;
      n = recv (fd, chunk, sizeof chunk, 0);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return needle == NULL;
      g_string_append_len (buffer, chunk, n);
    }
}

static void
fd_frame (int         fd,
          guint8      first,
          const char *payload,
          gsize       len)
{
  g_autoptr(GByteArray) frame = g_byte_array_new ();

  sec_frame_append (frame, first, TRUE, len, payload, len);
  fd_write (fd, frame->data, frame->len);
}

static guint
baseline_fds (SecProcess *process)
{
  /* Let the health check's connections go, then take the count. */
  guint n = sec_process_count_fds (process);

  sec_process_wait_fds_at_most (process, n - 1, 300);
  return sec_process_count_fds (process);
}

static void
test_connect_cycles (SecFixture    *f,
                     gconstpointer  data)
{
  SecProcess *process = sec_process_start (NULL, NULL);
  guint port = sec_process_get_port (process);
  guint cycles = sec_scaled (10000), i, fds_before, fds_after;
  g_autofree char *token = NULL;
  g_autofree char *connect_packet = NULL;
  gsize rss_before, rss_after;
  gint64 start;

  sec_assert_healthy (sec_process_get_url (process));
  token = natter_test_register (sec_process_get_url (process), "cycler");
  connect_packet = g_strdup_printf ("40{\"token\":\"%s\"}", token);
  fds_before = baseline_fds (process);
  rss_before = sec_process_get_rss (process);

  /* Default caps (64 per address): the server must also let go of each
   * connection fast enough for a sequential flood to never hit them. */
  start = g_get_monotonic_time ();
  for (i = 0; i < cycles; i++)
    {
      g_autoptr(GString) in = g_string_new (NULL);
      int fd = tcp_connect (port);

      fd_write (fd, upgrade_request, strlen (upgrade_request));
      if (!fd_read_until (fd, in, "\"maxPayload\"", NATTER_TEST_TIMEOUT_MS))
        g_error ("cycle %u: no upgrade and open packet: %.200s", i, in->str);
      g_assert_true (g_str_has_prefix (in->str, "HTTP/1.1 101 "));
      switch (i % 4)
        {
        case 0: /* vanish without a word */
          break;
        case 1: /* an orderly close */
          fd_frame (fd, 0x88, "\x03\xe8", 2);
          g_assert_true (fd_read_until (fd, in, NULL, NATTER_TEST_TIMEOUT_MS));
          break;
        case 2: /* sign in, then vanish */
          fd_frame (fd, 0x81, connect_packet, strlen (connect_packet));
          g_assert_true (fd_read_until (fd, in, "40{\"sid\"", NATTER_TEST_TIMEOUT_MS));
          break;
        default: /* the Engine.IO close packet, then answer the server's close */
          fd_frame (fd, 0x81, "1", 1);
          g_assert_true (fd_read_until (fd, in, "\x88\x02\x03\xe8", NATTER_TEST_TIMEOUT_MS));
          fd_frame (fd, 0x88, "\x03\xe8", 2);
          g_assert_true (fd_read_until (fd, in, NULL, NATTER_TEST_TIMEOUT_MS));
          break;
        }
      close (fd);
    }
  g_test_message ("%u connect/disconnect cycles in %.1f s", cycles,
                  (g_get_monotonic_time () - start) / 1e6);
  g_assert_cmpint (g_get_monotonic_time () - start, <, 150 * G_USEC_PER_SEC);

  /* Every descriptor comes back (a few seconds for the last closes). */
  if (!sec_process_wait_fds_at_most (process, fds_before, 5000))
    g_error ("natter-server holds %u descriptors after %u cycles, %u before",
             sec_process_count_fds (process), cycles, fds_before);
  fds_after = sec_process_count_fds (process);
  rss_after = sec_process_get_rss (process);
  g_test_message ("descriptors %u → %u, RSS %zu KiB → %zu KiB", fds_before, fds_after,
                  rss_before / 1024, rss_after / 1024);
  g_assert_cmpuint (rss_after, <, rss_before + SEC_RSS_SLACK);

  sec_assert_healthy (sec_process_get_url (process));
  sec_process_stop (process);
}

/* Holds @n TCP connections that each send a slice of @prefix (NULL:
 * nothing), checks the server keeps serving meanwhile, that its idle
 * timeout closes them all, and that its descriptors come back. */
static void
hold_connections (const char *prefix,
                  guint       n)
{
  SecProcess *process = sec_process_start ("handshake-timeout-ms=1500\n"
                                           "max-connections=4096\n"
                                           "max-connections-per-address=4096\n", NULL);
  g_autofree struct pollfd *fds = g_new0 (struct pollfd, n);
  guint i, open, fds_before, fds_held;
  gsize rss_before, rss_held;
  gint64 start, deadline;

  sec_assert_healthy (sec_process_get_url (process));
  fds_before = baseline_fds (process);
  rss_before = sec_process_get_rss (process);

  start = g_get_monotonic_time ();
  for (i = 0; i < n; i++)
    {
      fds[i].fd = tcp_connect (sec_process_get_port (process));
      fds[i].events = POLLIN;
      if (prefix != NULL)
        fd_write (fds[i].fd, prefix, 1 + i % (strlen (prefix) - 1));
    }
  /* Meanwhile a real client is served. */
  sec_assert_healthy (sec_process_get_url (process));
  fds_held = sec_process_count_fds (process);
  rss_held = sec_process_get_rss (process);
  g_test_message ("%u connections held; server descriptors %u → %u, RSS %zu → %zu KiB",
                  n, fds_before, fds_held, rss_before / 1024, rss_held / 1024);

  /* All of them are closed by the idle timeout: none is kept. */
  deadline = start + 30 * G_USEC_PER_SEC;
  open = n;
  while (open > 0 && g_get_monotonic_time () < deadline)
    {
      if (poll (fds, n, 100) <= 0)
        continue;
      for (i = 0; i < n; i++)
        if (fds[i].fd >= 0 && fds[i].revents != 0)
          {
            char chunk[1024];
            gssize got = recv (fds[i].fd, chunk, sizeof chunk, MSG_DONTWAIT);

            if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
              {
                close (fds[i].fd);
                fds[i].fd = -1;
                open--;
              }
          }
    }
  g_test_message ("%u of %u closed by the server %.1f s after the first connect", n - open, n,
                  (g_get_monotonic_time () - start) / 1e6);
  for (i = 0; i < n; i++)
    if (fds[i].fd >= 0)
      close (fds[i].fd);
  g_assert_cmpuint (open, ==, 0);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, 1000 * 1000);

  if (!sec_process_wait_fds_at_most (process, fds_before, 5000))
    g_error ("natter-server holds %u descriptors, %u before", sec_process_count_fds (process),
             fds_before);
  g_assert_cmpuint (sec_process_get_rss (process), <, rss_before + SEC_RSS_SLACK);

  sec_assert_healthy (sec_process_get_url (process));
  sec_process_stop (process);
}

static void
test_idle_connections (SecFixture    *f,
                       gconstpointer  data)
{
  /* Slowloris: connect and never send a byte. */
  hold_connections (NULL, sec_scaled (1000));
}

static void
test_half_handshakes (SecFixture    *f,
                      gconstpointer  data)
{
  /* Each connection stops somewhere inside the upgrade request's head. */
  hold_connections (upgrade_request, sec_scaled (1000));
}

/* ---- a client that never reads its own answers ------------------------------------------------- */

static void
tweak_backlog (NatterServerConfig *config)
{
  config->max_backlog_bytes = 256 * 1024;
  config->send_rate = 0;
}

static gboolean
sessions_at_most_cond (NatterServer *server,
                       guint         n)
{
  return natter_server_get_n_sessions (server) <= n;
}

static gboolean
one_session_cond (gpointer data)
{
  return sessions_at_most_cond (data, 1);
}

static gboolean
no_session_cond (gpointer data)
{
  return sessions_at_most_cond (data, 0);
}

static void
test_never_reads_history (SecFixture    *f,
                          gconstpointer  data)
{
  g_autofree char *token = NULL;
  g_autoptr(NatterTestClient) alice = sec_connect_user (f->ts->url, "alice", NULL);
  g_autofree char *text = g_strnfill (NATTER_CHAT_MAX_TEXT_BYTES, 'h');
  g_autoptr(JsonObject) joined = natter_test_client_call_json (alice, "join", "{\"room\":\"big\",\"create\":true}");
  NatterTestRaw *sloth;
  gsize rss_before, rss_after;
  guint i, asked = 0;

  /* A room with 200 messages of 16 KiB: one history page is 3.2 MB. */
  sec_assert_ok (joined);
  for (i = 0; i < 200; i++)
    {
      g_autoptr(JsonObject) args = json_object_new ();
      g_autofree char *cid = g_strdup_printf ("big-%u", i);
      g_autoptr(JsonObject) ack = NULL;

      json_object_set_string_member (args, "room", "big");
      json_object_set_string_member (args, "cid", cid);
      json_object_set_string_member (args, "text", text);
      ack = natter_test_client_call (alice, "send", args);
      sec_assert_ok (ack);
    }
  natter_test_client_close (alice);

  token = natter_test_register (f->ts->url, "sloth");
  sloth = sec_raw_session (f->port, 4096, token);
  {
    const char *join = "421[\"join\",{\"room\":\"big\"}]";

    sec_raw_frame (sloth, 0x81, TRUE, join, strlen (join));
    g_assert_true (sec_raw_wait_text (sloth, "431[{\"ok\":true", NATTER_TEST_TIMEOUT_MS));
  }
  /* Only the sloth's session is left. */
  g_assert_true (natter_test_wait (one_session_cond, f->ts->server, NATTER_TEST_TIMEOUT_MS));
  rss_before = natter_test_get_rss ();

  /* It asks for the whole page again and again and reads nothing: without
   * the backlog limit the server would queue 3.2 MB per request. */
  while (natter_server_get_n_sessions (f->ts->server) > 0 && asked < 300)
    {
      g_autofree char *ask = g_strdup_printf ("42%u[\"history\",{\"room\":\"big\",\"limit\":200}]",
                                              100 + asked);

      sec_raw_frame (sloth, 0x81, TRUE, ask, strlen (ask));
      asked++;
      for (i = 0; i < 5; i++)
        g_main_context_iteration (NULL, FALSE);
    }
  g_assert_true (natter_test_wait (no_session_cond, f->ts->server, NATTER_TEST_TIMEOUT_MS));
  rss_after = natter_test_get_rss ();
  g_test_message ("cut off after %u history requests; RSS %zu KiB → %zu KiB", asked,
                  rss_before / 1024, rss_after / 1024);
  g_assert_cmpuint (asked, <, 300);
  g_assert_cmpuint (rss_after, <, rss_before + SEC_RSS_SLACK);
  g_assert_true (natter_test_raw_wait_eof (sloth, NATTER_TEST_TIMEOUT_MS));
  natter_test_raw_free (sloth);

  {
    guint status = 0;
    g_autofree char *metrics = natter_test_http_get_text (f->ts->url, "/metrics", &status);

    g_assert_nonnull (strstr (metrics, "\nnatter_slow_readers_dropped_total 1\n"));
  }
  sec_assert_fixture_ok (f);
}

int
main (int   argc,
      char *argv[])
{
  sec_init (&argc, &argv, "websocket");

  sec_add ("/security/ws/declared-length", NULL, test_declared_length);
  sec_add ("/security/ws/fragments-100000", tweak_no_rate, test_fragments_100k);
  sec_add ("/security/ws/invalid-utf8", NULL, test_invalid_utf8);
  sec_add ("/security/ws/unmasked", NULL, test_unmasked);
  sec_add ("/security/ws/unknown-opcodes", NULL, test_unknown_opcodes);
  sec_add ("/security/ws/reserved-bits", NULL, test_reserved_bits);
  sec_add ("/security/ws/bad-close-codes", NULL, test_bad_close_codes);
  sec_add ("/security/ws/control-frames", NULL, test_control_frames);
  sec_add ("/security/ws/bad-continuation", NULL, test_bad_continuation);
  sec_add ("/security/ws/connect-cycles", NULL, test_connect_cycles);
  sec_add ("/security/ws/idle-connections", NULL, test_idle_connections);
  sec_add ("/security/ws/half-handshakes", NULL, test_half_handshakes);
  sec_add ("/security/ws/never-reads-history", tweak_backlog, test_never_reads_history);

  return sec_run ();
}
