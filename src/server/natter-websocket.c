/* natter-websocket.c: see the header. Input is parsed in place in the
 * buffer it was read into (payloads unmasked there): a message whose frame
 * came whole in one read is handed over from that buffer without a copy;
 * only fragments and frames split across reads are gathered. Output
 * frames are written with one sendmsg() when nothing waits, and appended
 * to the output buffer otherwise (corked, or the socket is full). */
#include "natter-websocket.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* One read takes at most this much, into a buffer all connections share
 * (the main loop reads one socket at a time). A connection with more to
 * read is reported ready again by the next wakeup. */
#define READ_BUFFER_SIZE (64 * 1024)

/* Reads of a TLS stream per wakeup (GnuTLS may hold decrypted records). */
#define TLS_READS_PER_WAKEUP 4

/* The smallest output buffer worth allocating, and the first size of a
 * buffer gathering a message from fragments. */
#define OUTPUT_MIN_ALLOC  256
#define MESSAGE_MIN_ALLOC 1024

#define CONTROL_MAX 125

enum {
  OPCODE_CONTINUATION = 0x0,
  OPCODE_TEXT         = 0x1,
  OPCODE_BINARY       = 0x2,
  OPCODE_CLOSE        = 0x8,
  OPCODE_PING         = 0x9,
  OPCODE_PONG         = 0xa,
};

#define FIN 0x80

struct _NatterWebsocket
{
  GObject                       parent_instance;

  const NatterWebsocketHandler *handler;
  gpointer                      handler_data;

  /* Plain: @fd is our dup of the socket's descriptor, and @stream and
   * @socket are only held until start. TLS: @fd is -1 and both are used
   * until the end. */
  int                           fd;
  GIOStream                    *stream;
  GSocket                      *socket;
  GSource                      *input_source;   /* TLS */
  GSource                      *output_source;  /* TLS, while output waits */
  NatterSocketWatch            *watch;
  NatterSocketWatchEntry        entry;
  NatterTimerQueue             *timers;
  NatterTimer                   grace;

  guint64                       max_message;
  guint64                       bytes_read;
  guint64                       bytes_written;

  /* The frame being read. */
  guint8                        header[14];
  guint8                        header_len;
  guint8                        header_need;
  guint8                        frame_opcode;
  guint8                        message_type;   /* of a fragmented message in progress, else 0 */
  guint64                       frame_left;     /* payload bytes still to come */
  guint64                       frame_read;     /* payload bytes read (the mask's phase) */
  guint64                       message_bytes;  /* all data frames of the message so far */

  /* Gathered payloads: a message across frames or reads, a control frame. */
  guint8                       *message;
  gsize                         message_len;
  gsize                         message_alloc;
  guint8                       *control;
  guint8                        control_len;

  /* Incremental UTF-8 check of the text message being read. */
  guint8                        utf8_need;
  guint8                        utf8_low;
  guint8                        utf8_high;

  /* Output: bytes [out_start, out_end) of @out are still to be written. */
  guint8                       *out;
  gsize                         out_start;
  gsize                         out_end;
  gsize                         out_alloc;

  gushort                       peer_close_code;
  guint                         state : 2;
  guint                         tls : 1;
  guint                         started : 1;
  guint                         in_payload : 1;
  guint                         frame_fin : 1;
  guint                         corked : 1;
  guint                         close_sent : 1;
  guint                         close_received : 1;
  guint                         input_refused : 1;
  guint                         write_shut : 1;
  guint                         notified : 1;
};

G_DEFINE_FINAL_TYPE (NatterWebsocket, natter_websocket, G_TYPE_OBJECT)

static void socket_ready_cb (gpointer              user_data,
                             NatterSocketCondition condition);
static void flush           (NatterWebsocket      *self);

/* ---- the shared read buffer ---------------------------------------------- */

static guint8   shared_read_buffer[READ_BUFFER_SIZE];
static gboolean shared_read_buffer_busy;

/* A handler that iterated the main loop from inside a read would find the
 * shared buffer taken; it then gets one of its own. */
static guint8 *
read_buffer_acquire (void)
{
  if (shared_read_buffer_busy)
    return g_malloc (READ_BUFFER_SIZE);
  shared_read_buffer_busy = TRUE;
  return shared_read_buffer;
}

static void
read_buffer_release (guint8 *buffer)
{
  if (buffer == shared_read_buffer)
    shared_read_buffer_busy = FALSE;
  else
    g_free (buffer);
}

/* ---- UTF-8 ---------------------------------------------------------------- */

/* RFC 3629 as a small state machine, so that a text message can be checked
 * fragment by fragment: @need continuation bytes are still expected, the
 * next one within [@low, @high] (which excludes overlong forms, surrogates
 * and code points past U+10FFFF). NUL is valid UTF-8 and passes. */
static gboolean
utf8_check (guint8       *need,
            guint8       *low,
            guint8       *high,
            const guint8 *data,
            gsize         len)
{
  guint8 n = *need, lo = *low, hi = *high;
  gsize i;

  for (i = 0; i < len; i++)
    {
      guint8 c = data[i];

      if (n > 0)
        {
          if (c < lo || c > hi)
            return FALSE;
          lo = 0x80;
          hi = 0xbf;
          n--;
          continue;
        }
      if (c < 0x80)
        continue;

      lo = 0x80;
      hi = 0xbf;
      if (c >= 0xc2 && c <= 0xdf)
        n = 1;
      else if (c == 0xe0)
        n = 2, lo = 0xa0;
      else if (c == 0xed)
        n = 2, hi = 0x9f;
      else if (c >= 0xe1 && c <= 0xef)
        n = 2;
      else if (c == 0xf0)
        n = 3, lo = 0x90;
      else if (c == 0xf4)
        n = 3, hi = 0x8f;
      else if (c >= 0xf1 && c <= 0xf3)
        n = 3;
      else
        return FALSE;
    }

  *need = n;
  *low = lo;
  *high = hi;
  return TRUE;
}

static gboolean
utf8_is_valid (const guint8 *data,
               gsize         len)
{
  guint8 need = 0, low = 0x80, high = 0xbf;

  return utf8_check (&need, &low, &high, data, len) && need == 0;
}

/* ---- output ----------------------------------------------------------------- */

static gsize
encode_header (guint8 *header,
               guint8  first_byte,
               gsize   len)
{
  guint i;

  header[0] = first_byte;
  if (len < 126)
    {
      header[1] = len;
      return 2;
    }
  if (len <= 0xffff)
    {
      header[1] = 126;
      header[2] = len >> 8;
      header[3] = len & 0xff;
      return 4;
    }
  header[1] = 127;
  for (i = 0; i < 8; i++)
    header[2 + i] = ((guint64) len >> (56 - 8 * i)) & 0xff;
  return 10;
}

static void
output_append (NatterWebsocket *self,
               const guint8    *data,
               gsize            len)
{
  if (len == 0)
    return;

  if (self->out_end + len > self->out_alloc && self->out_start > 0)
    {
      memmove (self->out, self->out + self->out_start, self->out_end - self->out_start);
      self->out_end -= self->out_start;
      self->out_start = 0;
    }
  if (self->out_end + len > self->out_alloc)
    {
      gsize alloc = MAX (MAX (self->out_alloc * 2, self->out_end + len), OUTPUT_MIN_ALLOC);

      self->out = g_realloc (self->out, alloc);
      self->out_alloc = alloc;
    }
  memcpy (self->out + self->out_end, data, len);
  self->out_end += len;
}

static void
output_free (NatterWebsocket *self)
{
  g_clear_pointer (&self->out, g_free);
  self->out_start = self->out_end = self->out_alloc = 0;
}

static gboolean tls_writable_cb (GObject  *stream,
                                 gpointer  user_data);

/* Asks to hear when the socket takes output again, or stops asking. */
static void
want_writable (NatterWebsocket *self,
               gboolean         writable)
{
  if (self->state == NATTER_WEBSOCKET_CLOSED)
    return;

  if (!self->tls)
    {
      natter_socket_watch_set_conditions (self->watch, &self->entry,
                                          NATTER_SOCKET_READABLE |
                                          (writable ? NATTER_SOCKET_WRITABLE : 0));
      return;
    }

  if (writable && self->output_source == NULL)
    {
      GOutputStream *output = g_io_stream_get_output_stream (self->stream);

      self->output_source = g_pollable_output_stream_create_source (G_POLLABLE_OUTPUT_STREAM (output),
                                                                    NULL);
      g_source_set_callback (self->output_source, G_SOURCE_FUNC (tls_writable_cb), self, NULL);
      g_source_attach (self->output_source, g_main_context_get_thread_default ());
    }
  else if (!writable && self->output_source != NULL)
    {
      g_source_destroy (self->output_source);
      g_clear_pointer (&self->output_source, g_source_unref);
    }
}

/* Cuts the socket and tells the owner from the next dispatch. */
static void
finish (NatterWebsocket *self)
{
  if (self->state == NATTER_WEBSOCKET_CLOSED)
    return;
  self->state = NATTER_WEBSOCKET_CLOSED;

  natter_timer_queue_remove (self->timers, &self->grace);
  natter_socket_watch_remove (self->watch, &self->entry);
  if (self->fd >= 0)
    {
      close (self->fd);
      self->fd = -1;
    }
  if (self->input_source != NULL)
    {
      g_source_destroy (self->input_source);
      g_clear_pointer (&self->input_source, g_source_unref);
    }
  if (self->output_source != NULL)
    {
      g_source_destroy (self->output_source);
      g_clear_pointer (&self->output_source, g_source_unref);
    }
  if (self->socket != NULL && !g_socket_is_closed (self->socket))
    {
      g_socket_shutdown (self->socket, TRUE, TRUE, NULL);
      g_socket_close (self->socket, NULL);
    }
  g_clear_object (&self->stream);
  g_clear_object (&self->socket);

  output_free (self);
  g_clear_pointer (&self->message, g_free);
  self->message_len = self->message_alloc = 0;
  g_clear_pointer (&self->control, g_free);

  natter_socket_watch_defer (self->watch, &self->entry);
}

/* Called when every queued byte is written: the steps of the close
 * handshake that waited for it. */
static void
output_drained (NatterWebsocket *self)
{
  if (!self->close_sent || self->state == NATTER_WEBSOCKET_CLOSED)
    return;

  /* Both close frames went: the server ends the TCP connection
   * (RFC 6455 §7.1.1). */
  if (self->close_received)
    {
      finish (self);
      return;
    }

  /* Ours went: the peer sees it followed by the end of our stream, and
   * has the grace period to answer; we read on for its close frame. */
  if (!self->write_shut && !self->tls && self->fd >= 0)
    {
      self->write_shut = TRUE;
      shutdown (self->fd, SHUT_WR);
    }
}

static gboolean
would_block (int error_number)
{
  return error_number == EAGAIN || error_number == EWOULDBLOCK;
}

static void
flush (NatterWebsocket *self)
{
  while (self->out_start < self->out_end)
    {
      gssize n;

      if (self->tls)
        {
          g_autoptr(GError) error = NULL;
          GOutputStream *output = g_io_stream_get_output_stream (self->stream);

          n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (output),
                                                          self->out + self->out_start,
                                                          self->out_end - self->out_start,
                                                          NULL, &error);
          if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            {
              want_writable (self, TRUE);
              return;
            }
        }
      else
        {
          n = send (self->fd, self->out + self->out_start, self->out_end - self->out_start,
                    MSG_NOSIGNAL | MSG_DONTWAIT);
          if (n < 0 && errno == EINTR)
            continue;
          if (n < 0 && would_block (errno))
            {
              want_writable (self, TRUE);
              return;
            }
        }

      if (n <= 0)
        {
          finish (self);
          return;
        }
      self->out_start += n;
      self->bytes_written += n;
    }

  output_free (self);
  want_writable (self, FALSE);
  output_drained (self);
}

static void
queue_frame (NatterWebsocket *self,
             guint8           first_byte,
             const guint8    *payload,
             gsize            len)
{
  guint8 header[10];
  gsize header_len = encode_header (header, first_byte, len);

  if (self->state == NATTER_WEBSOCKET_CLOSED)
    return;

  /* Nothing waits before it: straight to the socket, header and payload
   * in one call, and only what it did not take is copied. */
  if (!self->corked && !self->tls && self->fd >= 0 && self->out_start == self->out_end)
    {
      struct iovec iov[2] = { { header, header_len }, { (void *) payload, len } };
      struct msghdr msg = { 0, };
      gssize n;

      msg.msg_iov = iov;
      msg.msg_iovlen = len > 0 ? 2 : 1;
      do
        n = sendmsg (self->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
      while (n < 0 && errno == EINTR);

      if (n < 0 && !would_block (errno))
        {
          finish (self);
          return;
        }
      n = MAX (n, 0);
      self->bytes_written += n;
      if ((gsize) n == header_len + len)
        {
          output_drained (self);
          return;
        }
      if ((gsize) n < header_len)
        {
          output_append (self, header + n, header_len - n);
          output_append (self, payload, len);
        }
      else
        output_append (self, payload + (n - header_len), len - (n - header_len));
      want_writable (self, TRUE);
      return;
    }

  output_append (self, header, header_len);
  output_append (self, payload, len);
  if (!self->corked)
    flush (self);
}

static void
grace_expired_cb (gpointer user_data)
{
  NatterWebsocket *self = user_data;

  g_object_ref (self);
  finish (self);
  g_object_unref (self);
}

static void
send_close (NatterWebsocket *self,
            gushort          code,
            const char      *reason)
{
  guint8 payload[CONTROL_MAX];
  gsize len = 0;

  if (self->close_sent || self->state == NATTER_WEBSOCKET_CLOSED)
    return;
  self->close_sent = TRUE;
  self->state = NATTER_WEBSOCKET_CLOSING;

  /* 1005 means "no code": the close frame then carries none. */
  if (code != 1005)
    {
      payload[0] = code >> 8;
      payload[1] = code & 0xff;
      len = 2;
      if (reason != NULL)
        {
          const char *end = NULL;

          /* Cut at a character boundary: the reason must stay UTF-8. */
          g_utf8_validate (reason, MIN (strlen (reason), sizeof payload - 2), &end);
          memcpy (payload + 2, reason, end - reason);
          len += end - reason;
        }
    }

  if (!natter_timer_is_scheduled (&self->grace))
    natter_timer_queue_add (self->timers, &self->grace, NATTER_WEBSOCKET_CLOSE_GRACE_MS,
                            grace_expired_cb, self);
  queue_frame (self, FIN | OPCODE_CLOSE, payload, len);
}

/* ---- input ---------------------------------------------------------------- */

static void
drop_message (NatterWebsocket *self)
{
  g_clear_pointer (&self->message, g_free);
  self->message_len = self->message_alloc = 0;
  self->message_type = 0;
  self->message_bytes = 0;
  self->utf8_need = 0;
  self->utf8_low = 0x80;
  self->utf8_high = 0xbf;
}

/* The peer broke the protocol: answer with @code, read nothing more of
 * what it sends (the stream cannot be trusted), and let it go. Returns
 * FALSE, for the parser to stop with. */
static gboolean
refuse (NatterWebsocket *self,
        gushort          code,
        const char      *why)
{
  if (self->input_refused)
    return FALSE;
  self->input_refused = TRUE;
  drop_message (self);
  g_clear_pointer (&self->control, g_free);

  send_close (self, code, why);
  if (self->handler != NULL && self->handler->refused != NULL)
    self->handler->refused (self->handler_data, code, why);
  return FALSE;
}

static gboolean
input_stopped (NatterWebsocket *self)
{
  return self->input_refused || self->state == NATTER_WEBSOCKET_CLOSED;
}

static gboolean
close_code_is_valid (guint code)
{
  /* RFC 6455 §7.4: 1004–1006 and 1015 are never sent; 1012–1014 are
   * registered since; 3000–4999 are for libraries and applications. */
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

static void
handle_close_frame (NatterWebsocket *self,
                    const guint8    *payload,
                    gsize            len)
{
  guint code = 1005;

  if (len == 1)
    {
      refuse (self, NATTER_WEBSOCKET_CLOSE_PROTOCOL_ERROR, "close frame of one byte");
      return;
    }
  if (len >= 2)
    {
      code = (payload[0] << 8) | payload[1];
      if (!close_code_is_valid (code))
        {
          refuse (self, NATTER_WEBSOCKET_CLOSE_PROTOCOL_ERROR, "invalid close code");
          return;
        }
      if (!utf8_is_valid (payload + 2, len - 2))
        {
          refuse (self, NATTER_WEBSOCKET_CLOSE_BAD_DATA, "close reason not UTF-8");
          return;
        }
    }

  self->peer_close_code = code;
  self->close_received = TRUE;
  if (self->state == NATTER_WEBSOCKET_OPEN)
    self->state = NATTER_WEBSOCKET_CLOSING;

  /* Input is read outside the chat service's batches, so nothing is
   * corked here: the echo leaves at once, or the flush of what is queued
   * finishes the close (output_drained). */
  if (!self->close_sent)
    send_close (self, code, NULL);  /* echo the code (RFC 6455 §5.5.1) */
  else if (self->out_start == self->out_end)
    output_drained (self);
}

static void
handle_control_frame (NatterWebsocket *self,
                      const guint8    *payload,
                      gsize            len)
{
  switch (self->frame_opcode)
    {
    case OPCODE_PING:
      if (!self->close_sent)
        queue_frame (self, FIN | OPCODE_PONG, payload, len);
      break;

    case OPCODE_PONG:
      break;

    case OPCODE_CLOSE:
      handle_close_frame (self, payload, len);
      break;

    default:
      g_assert_not_reached ();
    }
}

static void
deliver (NatterWebsocket *self,
         guint8           type,
         const guint8    *data,
         gsize            len)
{
  /* After our close frame, messages are read to find the peer's close
   * frame, not acted upon. */
  gboolean dropped = self->close_sent;

  if (!dropped && type == OPCODE_TEXT && self->utf8_need != 0)
    {
      refuse (self, NATTER_WEBSOCKET_CLOSE_BAD_DATA, "text message ends inside a character");
      return;
    }
  self->message_type = 0;
  self->message_bytes = 0;
  self->utf8_need = 0;

  if (dropped || self->handler == NULL || self->handler->message == NULL)
    return;
  self->handler->message (self->handler_data,
                          type == OPCODE_TEXT ? NATTER_WEBSOCKET_TEXT : NATTER_WEBSOCKET_BINARY,
                          data, len);
}

static gboolean
message_append (NatterWebsocket *self,
                const guint8    *data,
                gsize            len)
{
  if (self->message_len + len > self->message_alloc)
    {
      gsize alloc = MAX (MAX (self->message_alloc * 2, self->message_len + len), MESSAGE_MIN_ALLOC);
      guint8 *grown;

      if (self->max_message > 0)
        alloc = MIN (alloc, MAX (self->max_message, self->message_len + len));
      grown = g_try_realloc (self->message, alloc);
      if (grown == NULL)
        {
          refuse (self, NATTER_WEBSOCKET_CLOSE_TOO_BIG, "no memory for the message");
          return FALSE;
        }
      self->message = grown;
      self->message_alloc = alloc;
    }
  memcpy (self->message + self->message_len, data, len);
  self->message_len += len;
  return TRUE;
}

/* The last payload byte of a frame has been read. */
static void
frame_complete (NatterWebsocket *self)
{
  self->in_payload = FALSE;
  self->header_len = 0;

  if (self->frame_opcode >= OPCODE_CLOSE)
    {
      g_autofree guint8 *control = g_steal_pointer (&self->control);
      guint8 len = self->control_len;

      self->control_len = 0;
      handle_control_frame (self, control, len);
      return;
    }

  if (self->frame_fin && self->message_type != 0)
    {
      g_autofree guint8 *message = g_steal_pointer (&self->message);
      gsize len = self->message_len;

      self->message_len = self->message_alloc = 0;
      deliver (self, self->message_type, message != NULL ? message : (const guint8 *) "", len);
    }
}

/* The first two bytes of a header: everything RFC 6455 §5.2 lets a server
 * check before the length and the mask. */
static gboolean
header_start (NatterWebsocket *self)
{
  guint8 first = self->header[0], second = self->header[1];
  guint8 opcode = first & 0x0f;
  guint8 len7 = second & 0x7f;
  gboolean fin = (first & FIN) != 0;

  /* No extension was negotiated, so no RSV bit may be set. */
  if ((first & 0x70) != 0)
    return refuse (self, NATTER_WEBSOCKET_CLOSE_PROTOCOL_ERROR, "reserved bit set");
  if ((second & 0x80) == 0)
    return refuse (self, NATTER_WEBSOCKET_CLOSE_PROTOCOL_ERROR, "unmasked client frame");
  if (opcode != OPCODE_CONTINUATION && opcode != OPCODE_TEXT && opcode != OPCODE_BINARY &&
      opcode != OPCODE_CLOSE && opcode != OPCODE_PING && opcode != OPCODE_PONG)
    return refuse (self, NATTER_WEBSOCKET_CLOSE_PROTOCOL_ERROR, "unknown opcode");
  if (opcode >= OPCODE_CLOSE && (!fin || len7 > CONTROL_MAX))
    return refuse (self, NATTER_WEBSOCKET_CLOSE_PROTOCOL_ERROR,
                   "control frame fragmented or over 125 bytes");
  if (opcode == OPCODE_CONTINUATION && self->message_type == 0)
    return refuse (self, NATTER_WEBSOCKET_CLOSE_PROTOCOL_ERROR, "continuation of nothing");
  if ((opcode == OPCODE_TEXT || opcode == OPCODE_BINARY) && self->message_type != 0)
    return refuse (self, NATTER_WEBSOCKET_CLOSE_PROTOCOL_ERROR,
                   "new message inside a fragmented one");

  self->header_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
  return TRUE;
}

static gboolean
header_complete (NatterWebsocket *self)
{
  guint8 len7 = self->header[1] & 0x7f;
  guint8 opcode = self->header[0] & 0x0f;
  guint64 len = len7;
  guint i;

  if (len7 == 126)
    len = ((guint64) self->header[2] << 8) | self->header[3];
  else if (len7 == 127)
    {
      for (i = 0, len = 0; i < 8; i++)
        len = (len << 8) | self->header[2 + i];
      if (len >> 63)
        return refuse (self, NATTER_WEBSOCKET_CLOSE_PROTOCOL_ERROR,
                       "64-bit length with its top bit set");
    }

  self->frame_opcode = opcode;
  self->frame_fin = (self->header[0] & FIN) != 0;
  self->frame_left = len;
  self->frame_read = 0;
  self->in_payload = TRUE;

  if (opcode < OPCODE_CLOSE)
    {
      if (opcode != OPCODE_CONTINUATION)
        {
          self->message_type = opcode;
          self->message_bytes = 0;
        }
      /* The running size of the message, known from the headers: a message
       * over the limit is refused before its payload is read, however it
       * is cut into fragments. */
      if (self->max_message > 0 && len > self->max_message - MIN (self->message_bytes, self->max_message))
        return refuse (self, NATTER_WEBSOCKET_CLOSE_TOO_BIG, "message too big");
      self->message_bytes += len;
    }
  else
    {
      self->control = g_malloc (MAX (len, 1));
      self->control_len = 0;
    }
  return TRUE;
}

static void
unmask (NatterWebsocket *self,
        guint8          *data,
        gsize            len)
{
  const guint8 *mask = self->header + self->header_need - 4;
  guint phase = self->frame_read & 3;
  gsize i;

  for (i = 0; i < len; i++)
    data[i] ^= mask[(phase + i) & 3];
}

/* Parses @len bytes read from the socket, unmasking payloads in place. */
static void
feed (NatterWebsocket *self,
      guint8          *data,
      gsize            len)
{
  while (len > 0 && !input_stopped (self))
    {
      if (!self->in_payload)
        {
          guint need = self->header_len < 2 ? 2 : self->header_need;
          gsize take = MIN (len, need - self->header_len);

          memcpy (self->header + self->header_len, data, take);
          self->header_len += take;
          data += take;
          len -= take;

          if (self->header_len < 2)
            continue;
          if (need == 2 && !header_start (self))
            return;
          if (self->header_len < self->header_need)
            continue;
          if (!header_complete (self))
            return;
          if (self->frame_left == 0)
            frame_complete (self);
          continue;
        }

      {
        gsize chunk = MIN ((guint64) len, self->frame_left);
        gboolean whole = self->frame_read == 0 && chunk == self->frame_left;

        unmask (self, data, chunk);
        self->frame_read += chunk;
        self->frame_left -= chunk;

        if (self->frame_opcode >= OPCODE_CLOSE)
          {
            memcpy (self->control + self->control_len, data, chunk);
            self->control_len += chunk;
          }
        else if (!self->close_sent)
          {
            if (self->message_type == OPCODE_TEXT &&
                !utf8_check (&self->utf8_need, &self->utf8_low, &self->utf8_high, data, chunk))
              {
                refuse (self, NATTER_WEBSOCKET_CLOSE_BAD_DATA, "invalid UTF-8 in a text message");
                return;
              }

            /* A whole unfragmented frame in this read: handed over from here. */
            if (whole && self->frame_fin && self->message_len == 0)
              {
                self->in_payload = FALSE;
                self->header_len = 0;
                deliver (self, self->message_type, data, chunk);
                data += chunk;
                len -= chunk;
                continue;
              }
            if (!message_append (self, data, chunk))
              return;
          }

        data += chunk;
        len -= chunk;
        if (self->frame_left == 0)
          frame_complete (self);
      }
    }
}

/* Bytes for the parser, or to be dropped once input is refused. */
static void
take_input (NatterWebsocket *self,
            guint8          *data,
            gsize            len)
{
  self->bytes_read += len;
  if (!input_stopped (self))
    feed (self, data, len);
}

static void
read_socket (NatterWebsocket *self)
{
  guint8 *buffer = read_buffer_acquire ();
  gssize n;

  do
    n = recv (self->fd, buffer, READ_BUFFER_SIZE, MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);

  if (n > 0)
    take_input (self, buffer, n);
  else if (n == 0 || !would_block (errno))
    finish (self);  /* the peer is gone, with or without a close frame */

  read_buffer_release (buffer);
}

/* Reads @input until it would block (at most @max_reads times); FALSE
 * when the connection ended. */
static gboolean
read_stream (NatterWebsocket *self,
             GInputStream    *input,
             guint            max_reads)
{
  guint8 *buffer = read_buffer_acquire ();
  gboolean alive = TRUE;
  guint i;

  for (i = 0; i < max_reads && self->state != NATTER_WEBSOCKET_CLOSED; i++)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (input),
                                                           buffer, READ_BUFFER_SIZE, NULL, &error);

      if (n > 0)
        {
          take_input (self, buffer, n);
          continue;
        }
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        break;
      finish (self);
      alive = FALSE;
      break;
    }

  read_buffer_release (buffer);
  return alive && self->state != NATTER_WEBSOCKET_CLOSED;
}

static gboolean
tls_readable_cb (GObject  *stream,
                 gpointer  user_data)
{
  NatterWebsocket *self = user_data;
  gboolean alive;

  g_object_ref (self);
  alive = read_stream (self, G_INPUT_STREAM (stream), TLS_READS_PER_WAKEUP);
  g_object_unref (self);
  return alive ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean
tls_writable_cb (GObject  *stream,
                 gpointer  user_data)
{
  NatterWebsocket *self = user_data;

  g_object_ref (self);
  /* flush() drops this source (want_writable FALSE) once all is out. */
  flush (self);
  g_object_unref (self);
  return G_SOURCE_CONTINUE;
}

static void
socket_ready_cb (gpointer              user_data,
                 NatterSocketCondition condition)
{
  NatterWebsocket *self = user_data;

  g_object_ref (self);

  if (condition & NATTER_SOCKET_DEFERRED)
    {
      if (self->state == NATTER_WEBSOCKET_CLOSED && !self->notified)
        {
          self->notified = TRUE;
          if (self->handler != NULL && self->handler->closed != NULL)
            self->handler->closed (self->handler_data);
        }
    }
  else
    {
      if ((condition & NATTER_SOCKET_WRITABLE) && self->state != NATTER_WEBSOCKET_CLOSED)
        flush (self);
      if ((condition & NATTER_SOCKET_READABLE) && self->state != NATTER_WEBSOCKET_CLOSED)
        read_socket (self);
    }

  g_object_unref (self);
}

/* ---- life ------------------------------------------------------------------ */

static void
natter_websocket_dispose (GObject *object)
{
  NatterWebsocket *self = NATTER_WEBSOCKET (object);

  self->handler = NULL;
  self->handler_data = NULL;

  if (self->watch != NULL)
    {
      finish (self);
      /* Nobody is left to tell. */
      natter_socket_watch_remove (self->watch, &self->entry);
    }
  g_clear_object (&self->stream);
  g_clear_object (&self->socket);
  g_clear_pointer (&self->watch, natter_socket_watch_unref);
  g_clear_pointer (&self->timers, natter_timer_queue_unref);

  G_OBJECT_CLASS (natter_websocket_parent_class)->dispose (object);
}

static void
natter_websocket_finalize (GObject *object)
{
  NatterWebsocket *self = NATTER_WEBSOCKET (object);

  g_free (self->out);
  g_free (self->message);
  g_free (self->control);

  G_OBJECT_CLASS (natter_websocket_parent_class)->finalize (object);
}

static void
natter_websocket_class_init (NatterWebsocketClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_websocket_dispose;
  object_class->finalize = natter_websocket_finalize;
}

static void
natter_websocket_init (NatterWebsocket *self)
{
  self->fd = -1;
  self->utf8_low = 0x80;
  self->utf8_high = 0xbf;
  self->state = NATTER_WEBSOCKET_OPEN;
  natter_socket_watch_init_entry (&self->entry, socket_ready_cb, self);
}

static NatterWebsocket *
websocket_new (NatterSocketWatch *watch,
               NatterTimerQueue  *timers,
               guint64            max_message_bytes)
{
  NatterWebsocket *self = g_object_new (NATTER_TYPE_WEBSOCKET, NULL);

  self->watch = natter_socket_watch_ref (watch);
  self->timers = natter_timer_queue_ref (timers);
  self->max_message = max_message_bytes;
  return self;
}

/* A chat event is a small write that must leave at once. With Nagle's
 * algorithm on, a second event to a member whose first is not yet acked
 * waits for that ack, and the reader delays its acks (up to 40 ms):
 * latency the server did not cause. Node's http server turns it off too. */
static void
disable_nagle (GSocket *socket)
{
  g_autoptr(GError) error = NULL;

  if (socket != NULL && g_socket_get_family (socket) != G_SOCKET_FAMILY_UNIX &&
      !g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, &error))
    g_debug ("TCP_NODELAY: %s", error->message);
}

NatterWebsocket *
natter_websocket_new_for_socket (GSocket            *socket,
                                 GIOStream          *stolen,
                                 NatterSocketWatch  *watch,
                                 NatterTimerQueue   *timers,
                                 guint64             max_message_bytes,
                                 GError            **error)
{
  NatterWebsocket *self;
  int fd;

  g_return_val_if_fail (G_IS_SOCKET (socket), NULL);
  g_return_val_if_fail (stolen == NULL || G_IS_IO_STREAM (stolen), NULL);
  g_return_val_if_fail (watch != NULL, NULL);
  g_return_val_if_fail (timers != NULL, NULL);

  /* Our own descriptor for the connection, so that the GSocket and the
   * stream objects around it (some 1.5 KiB) can go once libsoup's
   * read-ahead is taken. Non-blocking mode is shared with the original. */
  fd = fcntl (g_socket_get_fd (socket), F_DUPFD_CLOEXEC, 0);
  if (fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "dup of the connection's descriptor: %s", g_strerror (saved));
      return NULL;
    }
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
  disable_nagle (socket);

  self = websocket_new (watch, timers, max_message_bytes);
  self->fd = fd;
  self->socket = g_object_ref (socket);
  self->stream = stolen != NULL ? g_object_ref (stolen) : NULL;
  return self;
}

NatterWebsocket *
natter_websocket_new_for_stream (GIOStream         *stream,
                                 GSocket           *socket,
                                 NatterSocketWatch *watch,
                                 NatterTimerQueue  *timers,
                                 guint64            max_message_bytes)
{
  NatterWebsocket *self;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  g_return_val_if_fail (socket == NULL || G_IS_SOCKET (socket), NULL);
  g_return_val_if_fail (watch != NULL, NULL);
  g_return_val_if_fail (timers != NULL, NULL);

  disable_nagle (socket);
  self = websocket_new (watch, timers, max_message_bytes);
  self->tls = TRUE;
  self->stream = g_object_ref (stream);
  self->socket = socket != NULL ? g_object_ref (socket) : NULL;
  return self;
}

void
natter_websocket_set_handler (NatterWebsocket              *self,
                              const NatterWebsocketHandler *handler,
                              gpointer                      user_data)
{
  g_return_if_fail (NATTER_IS_WEBSOCKET (self));

  self->handler = handler;
  self->handler_data = handler != NULL ? user_data : NULL;
}

void
natter_websocket_start (NatterWebsocket *self)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (NATTER_IS_WEBSOCKET (self));
  g_return_if_fail (!self->started);

  self->started = TRUE;
  if (self->state == NATTER_WEBSOCKET_CLOSED)
    return;

  g_object_ref (self);

  if (self->tls)
    {
      GInputStream *input = g_io_stream_get_input_stream (self->stream);

      /* What libsoup read ahead comes first: one read empties its buffer
       * (it hands out all it holds), and with the buffer empty the
       * stream's source is the TLS stream's own. */
      if (read_stream (self, input, TLS_READS_PER_WAKEUP))
        {
          self->input_source = g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (input),
                                                                      NULL);
          g_source_set_callback (self->input_source, G_SOURCE_FUNC (tls_readable_cb), self, NULL);
          g_source_attach (self->input_source, g_main_context_get_thread_default ());
        }
      g_object_unref (self);
      return;
    }

  if (self->stream != NULL)
    {
      /* One read takes all that libsoup read ahead (its buffer hands out
       * everything it holds); what follows is read from the descriptor. */
      gboolean alive = read_stream (self, g_io_stream_get_input_stream (self->stream), 1);

      /* The original descriptor closes here; ours stays. */
      if (self->socket != NULL)
        g_socket_close (self->socket, NULL);
      g_clear_object (&self->stream);
      if (!alive)
        {
          g_clear_object (&self->socket);
          g_object_unref (self);
          return;
        }
    }
  g_clear_object (&self->socket);

  if (self->state != NATTER_WEBSOCKET_CLOSED &&
      !natter_socket_watch_add (self->watch, &self->entry, self->fd,
                                NATTER_SOCKET_READABLE |
                                (self->out_start < self->out_end ? NATTER_SOCKET_WRITABLE : 0),
                                &error))
    {
      g_warning ("websocket: %s", error->message);
      finish (self);
    }
  g_object_unref (self);
}

gboolean
natter_websocket_send (NatterWebsocket         *self,
                       NatterWebsocketDataType  type,
                       const void              *data,
                       gsize                    len)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), FALSE);
  g_return_val_if_fail (type == NATTER_WEBSOCKET_TEXT || type == NATTER_WEBSOCKET_BINARY, FALSE);
  g_return_val_if_fail (data != NULL || len == 0, FALSE);

  if (self->state != NATTER_WEBSOCKET_OPEN)
    return FALSE;
  queue_frame (self, FIN | (type == NATTER_WEBSOCKET_TEXT ? OPCODE_TEXT : OPCODE_BINARY),
               data, len);
  return TRUE;
}

gboolean
natter_websocket_cork (NatterWebsocket *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), FALSE);

  if (self->corked || self->state != NATTER_WEBSOCKET_OPEN)
    return FALSE;
  self->corked = TRUE;
  return TRUE;
}

void
natter_websocket_uncork (NatterWebsocket *self)
{
  g_return_if_fail (NATTER_IS_WEBSOCKET (self));

  if (!self->corked)
    return;
  self->corked = FALSE;
  if (self->state != NATTER_WEBSOCKET_CLOSED)
    {
      g_object_ref (self);
      flush (self);
      g_object_unref (self);
    }
}

void
natter_websocket_close (NatterWebsocket *self,
                        gushort          code,
                        const char      *reason)
{
  g_return_if_fail (NATTER_IS_WEBSOCKET (self));

  g_object_ref (self);
  send_close (self, code, reason);
  g_object_unref (self);
}

void
natter_websocket_abort (NatterWebsocket *self)
{
  g_return_if_fail (NATTER_IS_WEBSOCKET (self));

  finish (self);
}

NatterWebsocketState
natter_websocket_get_state (NatterWebsocket *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), NATTER_WEBSOCKET_CLOSED);

  return self->state;
}

gsize
natter_websocket_get_backlog (NatterWebsocket *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), 0);

  return self->out_end - self->out_start;
}

guint64
natter_websocket_get_bytes_read (NatterWebsocket *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), 0);

  return self->bytes_read;
}

guint64
natter_websocket_get_bytes_written (NatterWebsocket *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), 0);

  return self->bytes_written;
}

gushort
natter_websocket_get_peer_close_code (NatterWebsocket *self)
{
  g_return_val_if_fail (NATTER_IS_WEBSOCKET (self), 0);

  return self->peer_close_code;
}
