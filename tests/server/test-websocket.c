/* test-websocket.c: NatterWebsocket, the server's own RFC 6455 layer, on
 * one end of a socket pair, the test playing the client on the other end
 * byte for byte: the examples of RFC 6455 §5.7 in both directions, the
 * same frames cut at every byte, fragments, ping/pong, corking, a peer
 * that reads late, the close handshake, and malformed frames, each of
 * which must be answered with its close code and the end of the stream.
 * And over TCP, that the connection is set to write without delay. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natter-socket-watch.h"
#include "natter-test-client.h"
#include "natter-test-server.h"
#include "natter-timer-queue.h"
#include "natter-websocket.h"

#define MAX_MESSAGE (64 * 1024)

typedef struct
{
  NatterSocketWatch *watch;
  NatterTimerQueue  *timers;
  NatterWebsocket   *ws;
  int                peer;          /* the client's end */
  GPtrArray         *messages;      /* GBytes, the type in front */
  GByteArray        *peer_input;    /* what the client read */
  gboolean           peer_eof;
  guint              n_closed;
  gushort            refused_code;
} Fixture;

/* The masking key of RFC 6455 §5.7's examples. */
static const guint8 rfc_mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

static void
message_cb (gpointer                 user_data,
            NatterWebsocketDataType  type,
            const guint8            *data,
            gsize                    len)
{
  Fixture *f = user_data;
  GByteArray *copy = g_byte_array_new ();
  guint8 tag = type;

  g_byte_array_append (copy, &tag, 1);
  g_byte_array_append (copy, data, len);
  g_ptr_array_add (f->messages, g_byte_array_free_to_bytes (copy));
}

static void
refused_cb (gpointer    user_data,
            gushort     code,
            const char *why)
{
  Fixture *f = user_data;

  g_test_message ("refused with %u: %s", code, why);
  f->refused_code = code;
}

static void
closed_cb (gpointer user_data)
{
  Fixture *f = user_data;

  f->n_closed++;
}

static const NatterWebsocketHandler handler = { message_cb, refused_cb, closed_cb };

static void
setup_with_limit (Fixture *f,
                  guint64  max_message)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) socket = NULL;
  int pair[2];

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), ==, 0);
  f->peer = pair[1];
  socket = g_socket_new_from_fd (pair[0], &error);
  g_assert_no_error (error);

  f->watch = natter_socket_watch_new (&error);
  g_assert_no_error (error);
  f->timers = natter_timer_queue_new ();
  f->ws = natter_websocket_new_for_socket (socket, NULL, f->watch, f->timers, max_message, &error);
  g_assert_no_error (error);
  f->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  f->peer_input = g_byte_array_new ();
  natter_websocket_set_handler (f->ws, &handler, f);
  natter_websocket_start (f->ws);
}

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  setup_with_limit (f, MAX_MESSAGE);
}

static void
setup_one_mib (Fixture       *f,
               gconstpointer  data)
{
  setup_with_limit (f, 1024 * 1024);
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  g_assert_finalize_object (f->ws);
  g_clear_pointer (&f->timers, natter_timer_queue_unref);
  g_clear_pointer (&f->watch, natter_socket_watch_unref);
  g_ptr_array_unref (f->messages);
  g_byte_array_unref (f->peer_input);
  close (f->peer);
}

/* ---- the client's side ------------------------------------------------------- */

/* Reads what the server wrote so far, without waiting. */
static void
peer_pump (Fixture *f)
{
  guint8 chunk[16384];

  while (!f->peer_eof)
    {
      gssize n = recv (f->peer, chunk, sizeof chunk, MSG_DONTWAIT);

      if (n > 0)
        g_byte_array_append (f->peer_input, chunk, n);
      else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        f->peer_eof = TRUE;
      else
        break;
    }
}

static gboolean
iterate_until (Fixture  *f,
               gboolean (*cond) (Fixture *f, gconstpointer arg),
               gconstpointer arg)
{
  gint64 deadline = g_get_monotonic_time () + NATTER_TEST_TIMEOUT_MS * 1000;

  for (;;)
    {
      peer_pump (f);
      if (cond (f, arg))
        return TRUE;
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_main_context_iteration (NULL, FALSE);
    }
}

static gboolean
has_input_cond (Fixture       *f,
                gconstpointer  arg)
{
  return f->peer_input->len >= GPOINTER_TO_UINT (arg);
}

static gboolean
n_messages_cond (Fixture       *f,
                 gconstpointer  arg)
{
  return f->messages->len >= GPOINTER_TO_UINT (arg);
}

static gboolean
bytes_read_cond (Fixture       *f,
                 gconstpointer  arg)
{
  return natter_websocket_get_bytes_read (f->ws) >= GPOINTER_TO_UINT (arg);
}

static gboolean
closed_and_eof_cond (Fixture       *f,
                     gconstpointer  arg)
{
  return f->n_closed > 0 && f->peer_eof;
}

static gboolean
eof_cond (Fixture       *f,
          gconstpointer  arg)
{
  return f->peer_eof;
}

static gboolean
backlog_empty_cond (Fixture       *f,
                    gconstpointer  arg)
{
  return natter_websocket_get_backlog (f->ws) == 0;
}

/* Writes @len bytes, letting the server read while the pair is full. */
static void
peer_write (Fixture    *f,
            const void *data,
            gsize       len)
{
  const guint8 *p = data;
  gint64 deadline = g_get_monotonic_time () + NATTER_TEST_TIMEOUT_MS * 1000;

  while (len > 0)
    {
      gssize n = send (f->peer, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);

      if (n > 0)
        {
          p += n;
          len -= n;
          continue;
        }
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        return; /* the server hung up: what it said is in its input */
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      peer_pump (f);
      g_main_context_iteration (NULL, FALSE);
    }
}

/* Appends one client frame: @first_byte as given, masked with @mask
 * (NULL: sent in clear, which RFC 6455 forbids a client). The declared
 * length is @len unless @declared is larger. */
static void
frame_append (GByteArray   *out,
              guint8        first_byte,
              const guint8 *mask,
              const void   *payload,
              gsize         len,
              guint64       declared)
{
  guint8 header[14];
  gsize n = 0, i;
  guint64 length = MAX ((guint64) len, declared);

  header[n++] = first_byte;
  if (length < 126)
    header[n++] = (mask != NULL ? 0x80 : 0) | length;
  else if (length <= 0xffff)
    {
      header[n++] = (mask != NULL ? 0x80 : 0) | 126;
      header[n++] = length >> 8;
      header[n++] = length & 0xff;
    }
  else
    {
      header[n++] = (mask != NULL ? 0x80 : 0) | 127;
      for (i = 0; i < 8; i++)
        header[n++] = (length >> (56 - 8 * i)) & 0xff;
    }
  if (mask != NULL)
    for (i = 0; i < 4; i++)
      header[n++] = mask[i];
  g_byte_array_append (out, header, n);

  for (i = 0; i < len; i++)
    {
      guint8 byte = ((const guint8 *) payload)[i] ^ (mask != NULL ? mask[i & 3] : 0);

      g_byte_array_append (out, &byte, 1);
    }
}

static void
assert_message (Fixture                 *f,
                guint                    index,
                NatterWebsocketDataType  type,
                const void              *data,
                gsize                    len)
{
  GBytes *message;
  const guint8 *bytes;
  gsize size;

  g_assert_cmpuint (f->messages->len, >, index);
  message = g_ptr_array_index (f->messages, index);
  bytes = g_bytes_get_data (message, &size);
  g_assert_cmpuint (bytes[0], ==, type);
  g_assert_cmpmem (bytes + 1, size - 1, data, len);
}

/* The close code of the server's first close frame, -1 if none. */
static int
peer_close_code (Fixture *f)
{
  const guint8 *p = f->peer_input->data;
  gsize at = 0;

  while (at + 2 <= f->peer_input->len)
    {
      gsize len = p[at + 1] & 0x7f, header = 2;

      if (len == 126)
        {
          if (at + 4 > f->peer_input->len)
            return -1;
          len = (p[at + 2] << 8) | p[at + 3];
          header = 4;
        }
      g_assert_cmpuint (len, !=, 127); /* no test makes the server send 64 KiB here */
      if (at + header + len > f->peer_input->len)
        return -1;
      if ((p[at] & 0x0f) == 0x8)
        return len >= 2 ? (p[at + header] << 8) | p[at + header + 1] : 1005;
      at += header + len;
    }
  return -1;
}

/* ---- RFC 6455 §5.7, client to server ---------------------------------------------- */

static const guint8 rfc_masked_hello[] = {
  0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58
};

static void
test_masked_hello (Fixture       *f,
                   gconstpointer  data)
{
  peer_write (f, rfc_masked_hello, sizeof rfc_masked_hello);
  g_assert_true (iterate_until (f, n_messages_cond, GUINT_TO_POINTER (1)));
  assert_message (f, 0, NATTER_WEBSOCKET_TEXT, "Hello", 5);
  g_assert_cmpuint (natter_websocket_get_bytes_read (f->ws), ==, sizeof rfc_masked_hello);
  g_assert_cmpint (natter_websocket_get_state (f->ws), ==, NATTER_WEBSOCKET_OPEN);
}

static void
test_byte_by_byte (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  guint i;

  /* The same frame twice, then the fragmented "Hel" + "lo" of §5.7
   * (masked, as a client must), each byte in a read of its own. */
  g_byte_array_append (wire, rfc_masked_hello, sizeof rfc_masked_hello);
  g_byte_array_append (wire, rfc_masked_hello, sizeof rfc_masked_hello);
  frame_append (wire, 0x01, rfc_mask, "Hel", 3, 0);
  frame_append (wire, 0x80, rfc_mask, "lo", 2, 0);

  for (i = 0; i < wire->len; i++)
    {
      peer_write (f, wire->data + i, 1);
      g_assert_true (iterate_until (f, bytes_read_cond, GUINT_TO_POINTER (i + 1)));
      if (i + 1 < sizeof rfc_masked_hello)
        g_assert_cmpuint (f->messages->len, ==, 0);
    }
  g_assert_cmpuint (f->messages->len, ==, 3);
  for (i = 0; i < 3; i++)
    assert_message (f, i, NATTER_WEBSOCKET_TEXT, "Hello", 5);
}

static void
test_fragmented (Fixture       *f,
                 gconstpointer  data)
{
  static const guint8 rfc_unmasked_pong[] = { 0x8a, 0x05, 'H', 'e', 'l', 'l', 'o' };
  g_autoptr(GByteArray) wire = g_byte_array_new ();

  /* "Hel" + "lo", with a ping between the fragments (control frames may
   * come inside a fragmented message): its pong leaves at once, the
   * message when its last fragment is in. */
  frame_append (wire, 0x01, rfc_mask, "Hel", 3, 0);
  frame_append (wire, 0x89, rfc_mask, "Hello", 5, 0);
  frame_append (wire, 0x80, rfc_mask, "lo", 2, 0);
  peer_write (f, wire->data, wire->len);

  g_assert_true (iterate_until (f, n_messages_cond, GUINT_TO_POINTER (1)));
  assert_message (f, 0, NATTER_WEBSOCKET_TEXT, "Hello", 5);
  g_assert_true (iterate_until (f, has_input_cond, GUINT_TO_POINTER (7)));
  /* §5.7's pong: the ping's payload, unmasked as a server's frames are. */
  g_assert_cmpmem (f->peer_input->data, f->peer_input->len, rfc_unmasked_pong, sizeof rfc_unmasked_pong);
}

static void
test_lengths (Fixture       *f,
              gconstpointer  data)
{
  g_autofree guint8 *payload = g_malloc (65536);
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  guint i;

  for (i = 0; i < 65536; i++)
    payload[i] = i * 7 + (i >> 8);

  /* 256 bytes: the 16-bit length (0x7e 0x0100); 65536: the 64-bit one. */
  frame_append (wire, 0x82, rfc_mask, payload, 256, 0);
  g_assert_cmpuint (wire->data[1], ==, 0x80 | 126);
  g_assert_cmpuint (wire->data[2], ==, 0x01);
  g_assert_cmpuint (wire->data[3], ==, 0x00);
  frame_append (wire, 0x82, rfc_mask, payload, 65536, 0);
  peer_write (f, wire->data, wire->len);

  g_assert_true (iterate_until (f, n_messages_cond, GUINT_TO_POINTER (2)));
  assert_message (f, 0, NATTER_WEBSOCKET_BINARY, payload, 256);
  assert_message (f, 1, NATTER_WEBSOCKET_BINARY, payload, 65536);
}

static void
test_nul_is_utf8 (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();

  /* U+0000 is a character like any other; and a 4-byte one across two
   * fragments. */
  frame_append (wire, 0x81, rfc_mask, "a\0b", 3, 0);
  frame_append (wire, 0x01, rfc_mask, "\xf0\x9f", 2, 0);
  frame_append (wire, 0x80, rfc_mask, "\x92\xac", 2, 0);
  peer_write (f, wire->data, wire->len);
  g_assert_true (iterate_until (f, n_messages_cond, GUINT_TO_POINTER (2)));
  assert_message (f, 0, NATTER_WEBSOCKET_TEXT, "a\0b", 3);
  assert_message (f, 1, NATTER_WEBSOCKET_TEXT, "\xf0\x9f\x92\xac", 4);
}

static void
test_many_fragments (Fixture       *f,
                     gconstpointer  data)
{
  guint n = 100000, i;
  g_autoptr(GByteArray) wire = g_byte_array_new ();
  g_autofree char *expected = g_malloc (n);

  /* One message of 100,000 one-byte fragments, within the limit. */
  for (i = 0; i < n; i++)
    {
      expected[i] = 'a' + i % 26;
      frame_append (wire, (i == 0 ? 0x02 : 0x00) | (i == n - 1 ? 0x80 : 0), rfc_mask,
                    expected + i, 1, 0);
    }
  peer_write (f, wire->data, wire->len);
  g_assert_true (iterate_until (f, n_messages_cond, GUINT_TO_POINTER (1)));
  assert_message (f, 0, NATTER_WEBSOCKET_BINARY, expected, n);
}

/* ---- RFC 6455 §5.7, server to client ----------------------------------------------- */

static void
test_writer (Fixture       *f,
             gconstpointer  data)
{
  static const guint8 rfc_unmasked_hello[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
  static const guint8 header_256[] = { 0x82, 0x7e, 0x01, 0x00 };
  static const guint8 header_64k[] = { 0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00 };
  g_autofree guint8 *payload = g_malloc (65536);
  gsize total = sizeof rfc_unmasked_hello + sizeof header_256 + 256 + sizeof header_64k + 65536;
  const guint8 *in;
  guint i;

  for (i = 0; i < 65536; i++)
    payload[i] = i ^ (i >> 8);

  g_assert_true (natter_websocket_send (f->ws, NATTER_WEBSOCKET_TEXT, "Hello", 5));
  g_assert_true (natter_websocket_send (f->ws, NATTER_WEBSOCKET_BINARY, payload, 256));
  g_assert_true (natter_websocket_send (f->ws, NATTER_WEBSOCKET_BINARY, payload, 65536));
  g_assert_true (iterate_until (f, has_input_cond, GSIZE_TO_POINTER (total)));
  g_assert_cmpuint (f->peer_input->len, ==, total);

  in = f->peer_input->data;
  g_assert_cmpmem (in, sizeof rfc_unmasked_hello, rfc_unmasked_hello, sizeof rfc_unmasked_hello);
  in += sizeof rfc_unmasked_hello;
  g_assert_cmpmem (in, sizeof header_256, header_256, sizeof header_256);
  in += sizeof header_256;
  g_assert_cmpmem (in, 256, payload, 256);
  in += 256;
  g_assert_cmpmem (in, sizeof header_64k, header_64k, sizeof header_64k);
  in += sizeof header_64k;
  g_assert_cmpmem (in, 65536, payload, 65536);
  g_assert_cmpuint (natter_websocket_get_bytes_written (f->ws), ==, total);
  g_assert_cmpuint (natter_websocket_get_backlog (f->ws), ==, 0);
}

static void
test_ping (Fixture       *f,
           gconstpointer  data)
{
  /* §5.7: a masked ping with "Hello" is answered by the unmasked pong
   * 0x8a 0x05 "Hello"; a pong from the client is taken silently. */
  static const guint8 ping[] = { 0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
  static const guint8 pong[] = { 0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
  g_autoptr(GByteArray) unsolicited = g_byte_array_new ();

  frame_append (unsolicited, 0x8a, rfc_mask, "x", 1, 0);
  peer_write (f, unsolicited->data, unsolicited->len);
  peer_write (f, ping, sizeof ping);
  g_assert_true (iterate_until (f, has_input_cond, GUINT_TO_POINTER (sizeof pong)));
  g_assert_cmpmem (f->peer_input->data, f->peer_input->len, pong, sizeof pong);
  g_assert_cmpuint (f->messages->len, ==, 0);
  g_assert_cmpint (natter_websocket_get_state (f->ws), ==, NATTER_WEBSOCKET_OPEN);
}

static void
test_cork (Fixture       *f,
           gconstpointer  data)
{
  g_assert_true (natter_websocket_cork (f->ws));
  g_assert_false (natter_websocket_cork (f->ws)); /* corked already */
  g_assert_true (natter_websocket_send (f->ws, NATTER_WEBSOCKET_TEXT, "one", 3));
  g_assert_true (natter_websocket_send (f->ws, NATTER_WEBSOCKET_TEXT, "two", 3));
  g_assert_true (natter_websocket_send (f->ws, NATTER_WEBSOCKET_TEXT, "three", 5));
  g_assert_cmpuint (natter_websocket_get_backlog (f->ws), ==, 5 + 5 + 7);

  /* Nothing leaves while corked … */
  g_main_context_iteration (NULL, FALSE);
  peer_pump (f);
  g_assert_cmpuint (f->peer_input->len, ==, 0);

  /* … then all of it, in order, in one write. */
  natter_websocket_uncork (f->ws);
  g_assert_cmpuint (natter_websocket_get_backlog (f->ws), ==, 0);
  g_assert_true (iterate_until (f, has_input_cond, GUINT_TO_POINTER (17)));
  g_assert_cmpmem (f->peer_input->data, f->peer_input->len,
                   "\x81\x03one\x81\x03two\x81\x05three", 17);
}

static void
test_late_reader (Fixture       *f,
                  gconstpointer  data)
{
  g_autofree char *payload = g_strnfill (60000, 'z');
  gsize sent = 0, frame = 4 + 60000;
  guint i;

  /* The client reads nothing: the socket fills, the rest waits in the
   * output buffer (the backlog), and goes out as the client reads. */
  for (i = 0; i < 64 && natter_websocket_get_backlog (f->ws) == 0; i++)
    {
      g_assert_true (natter_websocket_send (f->ws, NATTER_WEBSOCKET_TEXT, payload, 60000));
      sent++;
    }
  g_assert_cmpuint (natter_websocket_get_backlog (f->ws), >, 0);
  for (i = 0; i < 3; i++, sent++)
    g_assert_true (natter_websocket_send (f->ws, NATTER_WEBSOCKET_TEXT, payload, 60000));
  g_test_message ("%zu frames sent, %zu bytes waiting", sent, natter_websocket_get_backlog (f->ws));

  g_assert_true (iterate_until (f, has_input_cond, GSIZE_TO_POINTER (sent * frame)));
  g_assert_true (iterate_until (f, backlog_empty_cond, NULL));
  g_assert_cmpuint (f->peer_input->len, ==, sent * frame);
  for (i = 0; i < sent; i++)
    {
      const guint8 *at = f->peer_input->data + i * frame;

      g_assert_cmpuint (at[0], ==, 0x81);
      g_assert_cmpuint (at[1], ==, 126);
      g_assert_cmpuint ((at[2] << 8) | at[3], ==, 60000);
      g_assert_cmpuint (at[4], ==, 'z');
      g_assert_cmpuint (at[frame - 1], ==, 'z');
    }
}

/* ---- the close handshake -------------------------------------------------------------- */

static void
test_peer_closes (Fixture       *f,
                  gconstpointer  data)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();

  /* 1000 with a reason: echoed, then the server ends the TCP connection. */
  frame_append (wire, 0x88, rfc_mask, "\x03\xe8" "bye", 5, 0);
  peer_write (f, wire->data, wire->len);
  g_assert_true (iterate_until (f, closed_and_eof_cond, NULL));
  g_assert_cmpmem (f->peer_input->data, f->peer_input->len, "\x88\x02\x03\xe8", 4);
  g_assert_cmpuint (natter_websocket_get_peer_close_code (f->ws), ==, 1000);
  g_assert_cmpint (natter_websocket_get_state (f->ws), ==, NATTER_WEBSOCKET_CLOSED);
  g_assert_cmpuint (f->n_closed, ==, 1);
  g_assert_false (natter_websocket_send (f->ws, NATTER_WEBSOCKET_TEXT, "late", 4));
}

static void
test_server_closes (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GByteArray) wire = g_byte_array_new ();

  natter_websocket_close (f->ws, 1001, "going away");
  g_assert_cmpint (natter_websocket_get_state (f->ws), ==, NATTER_WEBSOCKET_CLOSING);
  g_assert_false (natter_websocket_send (f->ws, NATTER_WEBSOCKET_TEXT, "late", 4));

  /* Our close frame, then the end of our stream … */
  g_assert_true (iterate_until (f, eof_cond, NULL));
  g_assert_cmpmem (f->peer_input->data, f->peer_input->len, "\x88\x0c\x03\xe9going away", 14);
  g_assert_cmpuint (f->n_closed, ==, 0);

  /* … a message in flight is not delivered; the client's close ends it. */
  frame_append (wire, 0x81, rfc_mask, "in flight", 9, 0);
  frame_append (wire, 0x88, rfc_mask, "\x03\xe9", 2, 0);
  peer_write (f, wire->data, wire->len);
  g_assert_true (iterate_until (f, closed_and_eof_cond, NULL));
  g_assert_cmpuint (f->messages->len, ==, 0);
  g_assert_cmpuint (natter_websocket_get_peer_close_code (f->ws), ==, 1001);
}

static void
test_close_grace (Fixture       *f,
                  gconstpointer  data)
{
  gint64 start = g_get_monotonic_time ();

  /* A client that never answers is cut after the grace period. */
  natter_websocket_close (f->ws, 1000, NULL);
  g_assert_true (iterate_until (f, closed_and_eof_cond, NULL));
  g_assert_cmpint (g_get_monotonic_time () - start, >=, NATTER_WEBSOCKET_CLOSE_GRACE_MS * 1000 / 2);
  g_assert_cmpint (peer_close_code (f), ==, 1000);
}

static void
test_abort (Fixture       *f,
            gconstpointer  data)
{
  g_assert_true (natter_websocket_cork (f->ws));
  g_assert_true (natter_websocket_send (f->ws, NATTER_WEBSOCKET_TEXT, "dropped", 7));

  /* Cut now: unsent output goes, and the owner hears of it from the next
   * dispatch, not from inside the call. */
  natter_websocket_abort (f->ws);
  g_assert_cmpuint (f->n_closed, ==, 0);
  g_assert_cmpint (natter_websocket_get_state (f->ws), ==, NATTER_WEBSOCKET_CLOSED);
  natter_websocket_uncork (f->ws);
  g_assert_true (iterate_until (f, closed_and_eof_cond, NULL));
  g_assert_cmpuint (f->peer_input->len, ==, 0);
  g_assert_cmpuint (f->n_closed, ==, 1);
}

/* ---- malformed input ------------------------------------------------------------------ */

typedef struct
{
  const char *what;
  int         code;
  void      (*build) (GByteArray *wire);
} BadCase;

static void
build_rfc_unmasked_fragment (GByteArray *wire)
{
  /* §5.7's first fragment "Hel", unmasked as a server would send it. */
  static const guint8 bytes[] = { 0x01, 0x03, 0x48, 0x65, 0x6c };

  g_byte_array_append (wire, bytes, sizeof bytes);
}

static void
build_unmasked_continuation (GByteArray *wire)
{
  frame_append (wire, 0x01, rfc_mask, "Hel", 3, 0);
  frame_append (wire, 0x80, NULL, "lo", 2, 0);
}

static void
build_rsv1 (GByteArray *wire)
{
  frame_append (wire, 0xc1, rfc_mask, "x", 1, 0);
}

static void
build_rsv3_on_ping (GByteArray *wire)
{
  frame_append (wire, 0x99, rfc_mask, "x", 1, 0);
}

static void
build_opcode_3 (GByteArray *wire)
{
  frame_append (wire, 0x83, rfc_mask, "x", 1, 0);
}

static void
build_opcode_b (GByteArray *wire)
{
  frame_append (wire, 0x8b, rfc_mask, "x", 1, 0);
}

static void
build_long_ping (GByteArray *wire)
{
  guint8 payload[126] = { 0, };

  frame_append (wire, 0x89, rfc_mask, payload, sizeof payload, 0);
}

static void
build_ping_without_fin (GByteArray *wire)
{
  frame_append (wire, 0x09, rfc_mask, "ping", 4, 0);
}

static void
build_orphan_continuation (GByteArray *wire)
{
  frame_append (wire, 0x80, rfc_mask, "x", 1, 0);
}

static void
build_text_inside_fragments (GByteArray *wire)
{
  frame_append (wire, 0x01, rfc_mask, "He", 2, 0);
  frame_append (wire, 0x81, rfc_mask, "llo", 3, 0);
}

static void
build_length_top_bit (GByteArray *wire)
{
  static const guint8 header[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0x10, 1, 2, 3, 4 };

  g_byte_array_append (wire, header, sizeof header);
}

static void
build_invalid_utf8 (GByteArray *wire)
{
  frame_append (wire, 0x81, rfc_mask, "a\xc0\xaf", 3, 0);
}

static void
build_surrogate (GByteArray *wire)
{
  frame_append (wire, 0x81, rfc_mask, "\xed\xa0\x80", 3, 0);
}

static void
build_utf8_cut_across_fragments (GByteArray *wire)
{
  frame_append (wire, 0x01, rfc_mask, "\xe2\x82", 2, 0);
  frame_append (wire, 0x80, rfc_mask, "(", 1, 0);
}

static void
build_utf8_cut_at_end (GByteArray *wire)
{
  frame_append (wire, 0x81, rfc_mask, "ok\xe2\x82", 4, 0);
}

static void
build_declared_too_big (GByteArray *wire)
{
  /* The header alone announces one byte over the limit: refused before
   * any of its payload is sent. */
  frame_append (wire, 0x82, rfc_mask, "x", 1, MAX_MESSAGE + 1);
  g_byte_array_set_size (wire, wire->len - 1);
}

static void
build_fragments_too_big (GByteArray *wire)
{
  g_autofree char *chunk = g_strnfill (8192, 'f');
  guint i;

  /* Each fragment is small, their sum is not. */
  for (i = 0; i < MAX_MESSAGE / 8192 + 1; i++)
    frame_append (wire, i == 0 ? 0x01 : 0x00, rfc_mask, chunk, 8192, 0);
}

static void
build_close_code_1005 (GByteArray *wire)
{
  frame_append (wire, 0x88, rfc_mask, "\x03\xed", 2, 0);
}

static void
build_close_code_2999 (GByteArray *wire)
{
  frame_append (wire, 0x88, rfc_mask, "\x0b\xb7", 2, 0);
}

static void
build_close_one_byte (GByteArray *wire)
{
  frame_append (wire, 0x88, rfc_mask, "\x03", 1, 0);
}

static void
build_close_reason_not_utf8 (GByteArray *wire)
{
  frame_append (wire, 0x88, rfc_mask, "\x03\xe8\xff", 3, 0);
}

static const BadCase bad_cases[] = {
  { "unmasked fragment (RFC 6455 §5.7)", 1002, build_rfc_unmasked_fragment },
  { "unmasked continuation", 1002, build_unmasked_continuation },
  { "RSV1", 1002, build_rsv1 },
  { "RSV3 on a ping", 1002, build_rsv3_on_ping },
  { "opcode 3", 1002, build_opcode_3 },
  { "opcode 0xb", 1002, build_opcode_b },
  { "ping of 126 bytes", 1002, build_long_ping },
  { "ping without FIN", 1002, build_ping_without_fin },
  { "continuation of nothing", 1002, build_orphan_continuation },
  { "text frame inside a fragmented message", 1002, build_text_inside_fragments },
  { "64-bit length with the top bit set", 1002, build_length_top_bit },
  { "overlong UTF-8", 1007, build_invalid_utf8 },
  { "UTF-16 surrogate", 1007, build_surrogate },
  { "UTF-8 broken across fragments", 1007, build_utf8_cut_across_fragments },
  { "text ending inside a character", 1007, build_utf8_cut_at_end },
  { "a header declaring one byte over the limit", 1009, build_declared_too_big },
  { "fragments over the limit", 1009, build_fragments_too_big },
  { "close code 1005", 1002, build_close_code_1005 },
  { "close code 2999", 1002, build_close_code_2999 },
  { "close payload of one byte", 1002, build_close_one_byte },
  { "close reason not UTF-8", 1007, build_close_reason_not_utf8 },
};

static void
test_malformed (void)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      Fixture fixture = { 0, }, *f = &fixture;
      g_autoptr(GByteArray) wire = g_byte_array_new ();

      g_test_message ("%s", bad_cases[i].what);
      setup (f, NULL);
      /* A good message first: it is delivered, the bad one is not. */
      g_byte_array_append (wire, rfc_masked_hello, sizeof rfc_masked_hello);
      bad_cases[i].build (wire);
      peer_write (f, wire->data, wire->len);

      g_assert_true (iterate_until (f, eof_cond, NULL));
      g_assert_cmpint (peer_close_code (f), ==, bad_cases[i].code);
      g_assert_cmpuint (f->refused_code, ==, bad_cases[i].code);
      g_assert_cmpuint (f->messages->len, ==, 1);
      assert_message (f, 0, NATTER_WEBSOCKET_TEXT, "Hello", 5);
      g_assert_cmpint (natter_websocket_get_state (f->ws), !=, NATTER_WEBSOCKET_OPEN);

      /* The client hangs up (the server reads no frame after a bad one);
       * the connection ends without waiting for the grace period. */
      shutdown (f->peer, SHUT_WR);
      g_assert_true (iterate_until (f, closed_and_eof_cond, NULL));
      g_assert_cmpuint (f->n_closed, ==, 1);
      teardown (f, NULL);
    }
}

static void
test_peer_vanishes (Fixture       *f,
                    gconstpointer  data)
{
  /* Half a frame, then the client is gone without a close frame. */
  peer_write (f, rfc_masked_hello, 5);
  g_assert_true (iterate_until (f, bytes_read_cond, GUINT_TO_POINTER (5)));
  shutdown (f->peer, SHUT_WR);
  g_assert_true (iterate_until (f, closed_and_eof_cond, NULL));
  g_assert_cmpuint (f->messages->len, ==, 0);
  g_assert_cmpuint (natter_websocket_get_peer_close_code (f->ws), ==, 0);
}

/* Over TCP the server's writes leave at once: Nagle's algorithm would hold
 * an event to a member until the member acked the previous one. */
static void
test_tcp_no_delay (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocket) listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                              G_SOCKET_PROTOCOL_TCP, &error);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) client = NULL;
  g_autoptr(GSocket) accepted = NULL;
  g_autoptr(NatterSocketWatch) watch = NULL;
  g_autoptr(NatterWebsocket) ws = NULL;
  NatterTimerQueue *timers = natter_timer_queue_new ();
  int value = -1;

  g_assert_no_error (error);
  g_assert_true (g_socket_bind (listener, any_port, FALSE, &error));
  g_assert_true (g_socket_listen (listener, &error));
  bound = g_socket_get_local_address (listener, &error);
  client = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_true (g_socket_connect (client, bound, NULL, &error));
  accepted = g_socket_accept (listener, NULL, &error);
  g_assert_no_error (error);

  g_assert_true (g_socket_get_option (accepted, IPPROTO_TCP, TCP_NODELAY, &value, &error));
  g_assert_cmpint (value, ==, 0);

  watch = natter_socket_watch_new (&error);
  g_assert_no_error (error);
  ws = natter_websocket_new_for_socket (accepted, NULL, watch, timers, MAX_MESSAGE, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_get_option (accepted, IPPROTO_TCP, TCP_NODELAY, &value, &error));
  g_assert_no_error (error);
  g_assert_cmpint (value, !=, 0);

  g_clear_object (&ws);
  natter_timer_queue_unref (timers);
}

int
main (int   argc,
      char *argv[])
{
  natter_test_init (&argc, &argv);

#define ADD(path, func) g_test_add (path, Fixture, NULL, setup, func, teardown)
  ADD ("/server/websocket/rfc-masked-hello", test_masked_hello);
  ADD ("/server/websocket/byte-by-byte", test_byte_by_byte);
  ADD ("/server/websocket/fragmented-with-ping", test_fragmented);
  ADD ("/server/websocket/lengths-256-64k", test_lengths);
  ADD ("/server/websocket/nul-and-4-byte-utf8", test_nul_is_utf8);
  g_test_add ("/server/websocket/100000-fragments", Fixture, NULL, setup_one_mib,
              test_many_fragments, teardown);
  ADD ("/server/websocket/writer-rfc-frames", test_writer);
  ADD ("/server/websocket/ping-pong", test_ping);
  ADD ("/server/websocket/cork", test_cork);
  ADD ("/server/websocket/late-reader", test_late_reader);
  ADD ("/server/websocket/peer-closes", test_peer_closes);
  ADD ("/server/websocket/server-closes", test_server_closes);
  ADD ("/server/websocket/close-grace", test_close_grace);
  ADD ("/server/websocket/abort", test_abort);
  ADD ("/server/websocket/peer-vanishes", test_peer_vanishes);
#undef ADD
  g_test_add_func ("/server/websocket/malformed", test_malformed);
  g_test_add_func ("/server/websocket/tcp-no-delay", test_tcp_no_delay);

  return g_test_run ();
}
