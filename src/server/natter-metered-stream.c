/* natter-metered-stream.c: see the header. The input side follows the
 * WebSocket framing (RFC 6455 §5.2) byte by byte without copying payloads,
 * so it knows the running size of a fragmented message before libsoup has
 * buffered it. Two small stream types live here because nothing else may
 * use them: they only make sense as the halves of NatterMeteredStream. */
#include "natter-metered-stream.h"

#include <string.h>

/* libsoup reads until EWOULDBLOCK before it parses anything; handing it at
 * most this much per main-loop dispatch bounds what it buffers at once. */
#define READ_BUDGET (64 * 1024)

/* While corked, the output keeps up to this much in memory; past it,
 * libsoup hears "would block" and queues in its own buffers as before. */
#define CORK_LIMIT (64 * 1024)

/* ---- input ------------------------------------------------------------ */

#define NATTER_TYPE_METERED_INPUT (natter_metered_input_get_type ())
G_DECLARE_FINAL_TYPE (NatterMeteredInput, natter_metered_input, NATTER, METERED_INPUT, GInputStream)

struct _NatterMeteredInput
{
  GInputStream  parent_instance;

  GInputStream *base;
  guint64       max_message;
  guint64       bytes_read;
  gsize         budget_used;

  /* frame tracker */
  guint8        header[14];
  guint         header_len;
  guint         header_need;
  guint64       payload_left;
  guint64       message_bytes;
  gboolean      in_message;
  gboolean      over;
  gboolean      discard;

  NatterMeteredOverLimitFunc over_limit;
  gpointer                   over_limit_data;

  /* libsoup 3.2 destroys its input source after every read and makes a
   * new one (soup_websocket_connection_read), and GLib adds and removes a
   * polled fd by walking a sorted list of every fd of the context and
   * waking the loop: O(N) twice per received frame with N connections.
   * So the fd is polled by one long-lived @watch, and the sources handed
   * to libsoup have no fd: the watch makes the current one ready. */
  GSource                   *watch;
  GSource                   *consumer;
};

static void natter_metered_input_pollable_init (GPollableInputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterMeteredInput, natter_metered_input, G_TYPE_INPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_INPUT_STREAM,
                                                      natter_metered_input_pollable_init))

static void
metered_input_flag (NatterMeteredInput   *self,
                    NatterMeteredProblem  problem)
{
  if (self->over)
    return;
  self->over = TRUE;
  if (self->over_limit != NULL)
    self->over_limit (problem, self->over_limit_data);
}

static void
metered_input_header_done (NatterMeteredInput *self)
{
  guint8 opcode = self->header[0] & 0x0f;
  guint8 len7 = self->header[1] & 0x7f;
  gboolean fin = (self->header[0] & 0x80) != 0;
  gboolean masked = (self->header[1] & 0x80) != 0;
  guint64 len = len7;
  guint i;

  if (len7 == 126)
    len = ((guint64) self->header[2] << 8) | self->header[3];
  else if (len7 == 127)
    for (i = 0, len = 0; i < 8; i++)
      len = (len << 8) | self->header[2 + i];

  /* RFC 6455 §5.2, §5.4, §5.5: no extension is negotiated, so no RSV bit;
   * client frames are masked; only the six defined opcodes; control
   * frames are whole and at most 125 bytes; a continuation continues
   * something, and nothing new starts before the last one ended. */
  if ((self->header[0] & 0x70) != 0 || !masked ||
      (opcode > 0x2 && opcode < 0x8) || opcode > 0xa ||
      (opcode >= 0x8 && (!fin || len > 125)) ||
      (opcode == 0x0 && !self->in_message) ||
      ((opcode == 0x1 || opcode == 0x2) && self->in_message))
    {
      metered_input_flag (self, NATTER_METERED_PROTOCOL_ERROR);
      return;
    }

  /* Control frames (opcode ≥ 8) are not part of the message. */
  if (opcode < 8)
    {
      if (opcode != 0)
        self->message_bytes = 0;
      self->message_bytes += len;
      self->in_message = !fin;
      if (self->max_message > 0 && self->message_bytes > self->max_message)
        metered_input_flag (self, NATTER_METERED_TOO_BIG);
    }

  self->payload_left = len;
  self->header_len = 0;
  self->header_need = 2;
}

static void
metered_input_track (NatterMeteredInput *self,
                     const guint8       *data,
                     gsize               len)
{
  while (len > 0 && !self->over)
    {
      if (self->payload_left > 0)
        {
          guint64 skip = MIN (self->payload_left, (guint64) len);

          self->payload_left -= skip;
          data += skip;
          len -= skip;
          continue;
        }

      self->header[self->header_len++] = *data++;
      len--;

      if (self->header_len == 2)
        {
          guint8 len7 = self->header[1] & 0x7f;
          gboolean masked = (self->header[1] & 0x80) != 0;

          self->header_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
        }
      if (self->header_len >= 2 && self->header_len == self->header_need)
        metered_input_header_done (self);
    }
}

static gssize
metered_input_account (NatterMeteredInput *self,
                       void               *buffer,
                       gssize              count)
{
  if (count <= 0)
    return count;

  self->bytes_read += count;
  self->budget_used += count;

  if (self->discard || self->over)
    return -2; /* swallowed */

  metered_input_track (self, buffer, count);
  return count;
}

static gssize
natter_metered_input_read (GInputStream  *stream,
                           void          *buffer,
                           gsize          count,
                           GCancellable  *cancellable,
                           GError       **error)
{
  NatterMeteredInput *self = NATTER_METERED_INPUT (stream);

  for (;;)
    {
      gssize n = g_input_stream_read (self->base, buffer, count, cancellable, error);

      n = metered_input_account (self, buffer, n);
      if (n != -2)
        return n;
    }
}

static gssize
natter_metered_input_read_nonblocking (GPollableInputStream  *stream,
                                       void                  *buffer,
                                       gsize                  count,
                                       GError               **error)
{
  NatterMeteredInput *self = NATTER_METERED_INPUT (stream);
  gssize n;

  if (self->budget_used >= READ_BUDGET)
    {
      self->budget_used = 0;
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "read budget spent");
      return -1;
    }

  n = g_pollable_input_stream_read_nonblocking (G_POLLABLE_INPUT_STREAM (self->base),
                                                buffer, count, NULL, error);
  if (n < 0)
    self->budget_used = 0;

  n = metered_input_account (self, buffer, n);
  if (n == -2)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "input discarded");
      return -1;
    }
  return n;
}

static gboolean
natter_metered_input_close (GInputStream  *stream,
                            GCancellable  *cancellable,
                            GError       **error)
{
  /* The base belongs to the base GIOStream, which NatterMeteredStream closes. */
  return TRUE;
}

static gboolean
natter_metered_input_can_poll (GPollableInputStream *stream)
{
  NatterMeteredInput *self = NATTER_METERED_INPUT (stream);

  return g_pollable_input_stream_can_poll (G_POLLABLE_INPUT_STREAM (self->base));
}

static gboolean
natter_metered_input_is_readable (GPollableInputStream *stream)
{
  NatterMeteredInput *self = NATTER_METERED_INPUT (stream);

  return g_pollable_input_stream_is_readable (G_POLLABLE_INPUT_STREAM (self->base));
}

typedef struct
{
  GSource  parent;
  GObject *stream;
} ConsumerSource;

static gboolean
consumer_source_dispatch (GSource     *source,
                          GSourceFunc  callback,
                          gpointer     user_data)
{
  gboolean again;

  if (callback == NULL)
    return G_SOURCE_REMOVE;
  again = ((GPollableSourceFunc) callback) (((ConsumerSource *) source)->stream, user_data);
  /* Ready once per wakeup of the watch, not from now on. (libsoup drops
   * its sources after each dispatch; resetting costs a loop wakeup.) */
  if (again)
    g_source_set_ready_time (source, -1);
  return again;
}

static void
consumer_source_finalize (GSource *source)
{
  g_clear_object (&((ConsumerSource *) source)->stream);
}

static GSourceFuncs consumer_source_funcs = {
  NULL, NULL, consumer_source_dispatch, consumer_source_finalize, NULL, NULL,
};

static void
metered_input_stop_watch (NatterMeteredInput *self)
{
  if (self->watch != NULL)
    {
      g_source_destroy (self->watch);
      g_clear_pointer (&self->watch, g_source_unref);
    }
  g_clear_pointer (&self->consumer, g_source_unref);
}

static gboolean
metered_input_watch_cb (GObject  *base,
                        gpointer  user_data)
{
  NatterMeteredInput *self = user_data;

  if (self->consumer != NULL && !g_source_is_destroyed (self->consumer))
    {
      g_source_set_ready_time (self->consumer, 0);
      return G_SOURCE_CONTINUE;
    }

  /* Nobody waits for input (closing): stop polling, or a readable or
   * closed fd would wake the loop for ever. */
  g_clear_pointer (&self->consumer, g_source_unref);
  g_clear_pointer (&self->watch, g_source_unref);
  return G_SOURCE_REMOVE;
}

static GSource *
natter_metered_input_create_source (GPollableInputStream *stream,
                                    GCancellable         *cancellable)
{
  NatterMeteredInput *self = NATTER_METERED_INPUT (stream);
  GSource *source;

  if (cancellable != NULL)
    {
      g_autoptr(GSource) base_source =
        g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (self->base), NULL);

      return g_pollable_source_new_full (stream, base_source, cancellable);
    }

  source = g_source_new (&consumer_source_funcs, sizeof (ConsumerSource));
  g_source_set_static_name (source, "natter-metered-input");
  ((ConsumerSource *) source)->stream = g_object_ref (G_OBJECT (stream));
  g_clear_pointer (&self->consumer, g_source_unref);
  self->consumer = g_source_ref (source);

  if (self->watch == NULL)
    {
      self->watch = g_pollable_input_stream_create_source (G_POLLABLE_INPUT_STREAM (self->base), NULL);
      g_source_set_callback (self->watch, G_SOURCE_FUNC (metered_input_watch_cb), self, NULL);
      /* GLib "blocks" a source while it is dispatched: removes its fd from
       * the context and adds it back after, O(N) and a loop wakeup each.
       * The watch's callback cannot recurse into the loop, so it may skip
       * that. */
      g_source_set_can_recurse (self->watch, TRUE);
      g_source_attach (self->watch, g_main_context_get_thread_default ());
    }
  return source;
}

static void
natter_metered_input_dispose (GObject *object)
{
  metered_input_stop_watch (NATTER_METERED_INPUT (object));

  G_OBJECT_CLASS (natter_metered_input_parent_class)->dispose (object);
}

static void
natter_metered_input_finalize (GObject *object)
{
  NatterMeteredInput *self = NATTER_METERED_INPUT (object);

  g_clear_object (&self->base);

  G_OBJECT_CLASS (natter_metered_input_parent_class)->finalize (object);
}

static void
natter_metered_input_class_init (NatterMeteredInputClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS (klass);

  object_class->dispose = natter_metered_input_dispose;
  object_class->finalize = natter_metered_input_finalize;
  stream_class->read_fn = natter_metered_input_read;
  stream_class->close_fn = natter_metered_input_close;
}

static void
natter_metered_input_pollable_init (GPollableInputStreamInterface *iface)
{
  iface->can_poll = natter_metered_input_can_poll;
  iface->is_readable = natter_metered_input_is_readable;
  iface->create_source = natter_metered_input_create_source;
  iface->read_nonblocking = natter_metered_input_read_nonblocking;
}

static void
natter_metered_input_init (NatterMeteredInput *self)
{
  self->header_need = 2;
}

/* ---- output ----------------------------------------------------------- */

#define NATTER_TYPE_METERED_OUTPUT (natter_metered_output_get_type ())
G_DECLARE_FINAL_TYPE (NatterMeteredOutput, natter_metered_output, NATTER, METERED_OUTPUT, GOutputStream)

struct _NatterMeteredOutput
{
  GOutputStream  parent_instance;

  GOutputStream *base;
  guint64        bytes_written;

  /* Corking: frames written while corked are kept in @pending and go to
   * the socket in one write at uncork, instead of one send() each. What
   * the socket does not take then waits for it to become writable. */
  GByteArray    *pending;
  GSource       *flush_source;
  gboolean       corked;
  gboolean       broken;
  gboolean       blocked;  /* the socket's last write would have blocked */
};

static void natter_metered_output_pollable_init (GPollableOutputStreamInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (NatterMeteredOutput, natter_metered_output, G_TYPE_OUTPUT_STREAM,
                               G_IMPLEMENT_INTERFACE (G_TYPE_POLLABLE_OUTPUT_STREAM,
                                                      natter_metered_output_pollable_init))

static gssize
natter_metered_output_write (GOutputStream  *stream,
                             const void     *buffer,
                             gsize           count,
                             GCancellable   *cancellable,
                             GError        **error)
{
  NatterMeteredOutput *self = NATTER_METERED_OUTPUT (stream);
  gssize n = g_output_stream_write (self->base, buffer, count, cancellable, error);

  if (n > 0)
    self->bytes_written += n;
  return n;
}

/* Writes what it can of @pending; FALSE when some is left. */
static gboolean
metered_output_flush_pending (NatterMeteredOutput *self)
{
  while (self->pending->len > 0 && !self->broken)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (self->base),
                                                             self->pending->data, self->pending->len,
                                                             NULL, &error);

      if (n > 0)
        {
          self->bytes_written += n;
          self->blocked = FALSE;
          g_byte_array_remove_range (self->pending, 0, n);
        }
      else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          self->blocked = TRUE;
          return FALSE;
        }
      else
        {
          /* Told to libsoup at its next write, which then closes. */
          self->broken = TRUE;
          g_byte_array_set_size (self->pending, 0);
        }
    }
  return TRUE;
}

static gssize
natter_metered_output_write_nonblocking (GPollableOutputStream  *stream,
                                         const void             *buffer,
                                         gsize                   count,
                                         GError                **error)
{
  NatterMeteredOutput *self = NATTER_METERED_OUTPUT (stream);
  gssize n;

  if (self->broken)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE, "connection broken");
      return -1;
    }

  if (self->corked && self->pending->len + count <= CORK_LIMIT)
    {
      g_byte_array_append (self->pending, buffer, count);
      return count;
    }

  /* Bytes must leave in order: what is pending goes first. */
  if (!metered_output_flush_pending (self))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "earlier frames pending");
      return -1;
    }

  n = g_pollable_output_stream_write_nonblocking (G_POLLABLE_OUTPUT_STREAM (self->base),
                                                  buffer, count, NULL, error);
  if (n > 0)
    {
      self->bytes_written += n;
      self->blocked = FALSE;
    }
  else if (n < 0 && error != NULL && g_error_matches (*error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    self->blocked = TRUE;
  return n;
}

static gboolean
natter_metered_output_flush (GOutputStream  *stream,
                             GCancellable   *cancellable,
                             GError        **error)
{
  NatterMeteredOutput *self = NATTER_METERED_OUTPUT (stream);

  return g_output_stream_flush (self->base, cancellable, error);
}

static gboolean
natter_metered_output_close (GOutputStream  *stream,
                             GCancellable   *cancellable,
                             GError        **error)
{
  return TRUE;
}

static gboolean
natter_metered_output_can_poll (GPollableOutputStream *stream)
{
  NatterMeteredOutput *self = NATTER_METERED_OUTPUT (stream);

  return g_pollable_output_stream_can_poll (G_POLLABLE_OUTPUT_STREAM (self->base));
}

static gboolean
natter_metered_output_is_writable (GPollableOutputStream *stream)
{
  NatterMeteredOutput *self = NATTER_METERED_OUTPUT (stream);

  if (self->pending->len > 0 && !self->corked)
    return FALSE;
  return g_pollable_output_stream_is_writable (G_POLLABLE_OUTPUT_STREAM (self->base));
}

static GSource *
natter_metered_output_create_source (GPollableOutputStream *stream,
                                     GCancellable          *cancellable)
{
  NatterMeteredOutput *self = NATTER_METERED_OUTPUT (stream);
  g_autoptr(GSource) base_source = NULL;

  /* libsoup 3.2 asks for an output source for frames it queues, and
   * GLib adds and removes the source's fd by walking the sorted list of
   * every polled fd (O(N) twice per frame with N connections). While the
   * socket has room, a source that is simply ready does the same without
   * any fd; only a peer that does not read gets a real poll. */
  if (!self->blocked && self->pending->len == 0 && cancellable == NULL)
    {
      GSource *source = g_source_new (&consumer_source_funcs, sizeof (ConsumerSource));

      g_source_set_static_name (source, "natter-metered-output");
      ((ConsumerSource *) source)->stream = g_object_ref (G_OBJECT (stream));
      g_source_set_ready_time (source, 0);
      return source;
    }

  base_source = g_pollable_output_stream_create_source (G_POLLABLE_OUTPUT_STREAM (self->base), NULL);
  return g_pollable_source_new_full (stream, base_source, cancellable);
}

static void
metered_output_stop_flushing (NatterMeteredOutput *self)
{
  if (self->flush_source != NULL)
    {
      g_source_destroy (self->flush_source);
      g_clear_pointer (&self->flush_source, g_source_unref);
    }
}

static gboolean
metered_output_writable_cb (GObject  *base,
                            gpointer  user_data)
{
  NatterMeteredOutput *self = user_data;

  if (!metered_output_flush_pending (self))
    return G_SOURCE_CONTINUE;

  g_clear_pointer (&self->flush_source, g_source_unref);
  return G_SOURCE_REMOVE;
}

static void
metered_output_uncork (NatterMeteredOutput *self)
{
  self->corked = FALSE;
  if (metered_output_flush_pending (self) || self->flush_source != NULL)
    return;

  /* The peer reads slowly: finish when the socket has room. */
  self->flush_source = g_pollable_output_stream_create_source (G_POLLABLE_OUTPUT_STREAM (self->base),
                                                               NULL);
  g_source_set_callback (self->flush_source, G_SOURCE_FUNC (metered_output_writable_cb),
                         self, NULL);
  g_source_attach (self->flush_source, g_main_context_get_thread_default ());
}

static void
natter_metered_output_dispose (GObject *object)
{
  metered_output_stop_flushing (NATTER_METERED_OUTPUT (object));

  G_OBJECT_CLASS (natter_metered_output_parent_class)->dispose (object);
}

static void
natter_metered_output_finalize (GObject *object)
{
  NatterMeteredOutput *self = NATTER_METERED_OUTPUT (object);

  g_clear_object (&self->base);
  g_clear_pointer (&self->pending, g_byte_array_unref);

  G_OBJECT_CLASS (natter_metered_output_parent_class)->finalize (object);
}

static void
natter_metered_output_class_init (NatterMeteredOutputClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GOutputStreamClass *stream_class = G_OUTPUT_STREAM_CLASS (klass);

  object_class->dispose = natter_metered_output_dispose;
  object_class->finalize = natter_metered_output_finalize;
  stream_class->write_fn = natter_metered_output_write;
  stream_class->flush = natter_metered_output_flush;
  stream_class->close_fn = natter_metered_output_close;
}

static void
natter_metered_output_pollable_init (GPollableOutputStreamInterface *iface)
{
  iface->can_poll = natter_metered_output_can_poll;
  iface->is_writable = natter_metered_output_is_writable;
  iface->create_source = natter_metered_output_create_source;
  iface->write_nonblocking = natter_metered_output_write_nonblocking;
}

static void
natter_metered_output_init (NatterMeteredOutput *self)
{
  self->pending = g_byte_array_new ();
}

/* ---- the pair ----------------------------------------------------------- */

struct _NatterMeteredStream
{
  GIOStream            parent_instance;

  GIOStream           *base;
  NatterMeteredInput  *input;
  NatterMeteredOutput *output;
};

G_DEFINE_FINAL_TYPE (NatterMeteredStream, natter_metered_stream, G_TYPE_IO_STREAM)

static GInputStream *
natter_metered_stream_get_input_stream (GIOStream *stream)
{
  return G_INPUT_STREAM (NATTER_METERED_STREAM (stream)->input);
}

static GOutputStream *
natter_metered_stream_get_output_stream (GIOStream *stream)
{
  return G_OUTPUT_STREAM (NATTER_METERED_STREAM (stream)->output);
}

static gboolean
natter_metered_stream_close (GIOStream     *stream,
                             GCancellable  *cancellable,
                             GError       **error)
{
  NatterMeteredStream *self = NATTER_METERED_STREAM (stream);

  metered_input_stop_watch (self->input);
  return g_io_stream_close (self->base, cancellable, error);
}

static void
base_closed_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (g_io_stream_close_finish (G_IO_STREAM (source), result, &error))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_error (task, error);
}

static void
natter_metered_stream_close_async (GIOStream           *stream,
                                   int                  io_priority,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  NatterMeteredStream *self = NATTER_METERED_STREAM (stream);
  GTask *task = g_task_new (stream, cancellable, callback, user_data);

  g_task_set_source_tag (task, natter_metered_stream_close_async);
  metered_input_stop_watch (self->input);
  g_io_stream_close_async (self->base, io_priority, cancellable, base_closed_cb, task);
}

static gboolean
natter_metered_stream_close_finish (GIOStream     *stream,
                                    GAsyncResult  *result,
                                    GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
natter_metered_stream_finalize (GObject *object)
{
  NatterMeteredStream *self = NATTER_METERED_STREAM (object);

  g_clear_object (&self->input);
  g_clear_object (&self->output);
  g_clear_object (&self->base);

  G_OBJECT_CLASS (natter_metered_stream_parent_class)->finalize (object);
}

static void
natter_metered_stream_class_init (NatterMeteredStreamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GIOStreamClass *stream_class = G_IO_STREAM_CLASS (klass);

  object_class->finalize = natter_metered_stream_finalize;
  stream_class->get_input_stream = natter_metered_stream_get_input_stream;
  stream_class->get_output_stream = natter_metered_stream_get_output_stream;
  stream_class->close_fn = natter_metered_stream_close;
  stream_class->close_async = natter_metered_stream_close_async;
  stream_class->close_finish = natter_metered_stream_close_finish;
}

static void
natter_metered_stream_init (NatterMeteredStream *self)
{
}

NatterMeteredStream *
natter_metered_stream_new (GIOStream                  *base,
                           guint64                     max_message_bytes,
                           NatterMeteredOverLimitFunc  over_limit,
                           gpointer                    user_data)
{
  NatterMeteredStream *self;

  g_return_val_if_fail (G_IS_IO_STREAM (base), NULL);

  self = g_object_new (NATTER_TYPE_METERED_STREAM, NULL);
  self->base = g_object_ref (base);

  self->input = g_object_new (NATTER_TYPE_METERED_INPUT, NULL);
  self->input->base = g_object_ref (g_io_stream_get_input_stream (base));
  self->input->max_message = max_message_bytes;
  self->input->over_limit = over_limit;
  self->input->over_limit_data = user_data;

  self->output = g_object_new (NATTER_TYPE_METERED_OUTPUT, NULL);
  self->output->base = g_object_ref (g_io_stream_get_output_stream (base));

  return self;
}

void
natter_metered_stream_disarm (NatterMeteredStream *self)
{
  g_return_if_fail (NATTER_IS_METERED_STREAM (self));

  self->input->over_limit = NULL;
  self->input->over_limit_data = NULL;
}

void
natter_metered_stream_discard_input (NatterMeteredStream *self)
{
  g_return_if_fail (NATTER_IS_METERED_STREAM (self));

  self->input->discard = TRUE;
}

guint64
natter_metered_stream_get_bytes_read (NatterMeteredStream *self)
{
  g_return_val_if_fail (NATTER_IS_METERED_STREAM (self), 0);

  return self->input->bytes_read;
}

gboolean
natter_metered_stream_cork (NatterMeteredStream *self)
{
  g_return_val_if_fail (NATTER_IS_METERED_STREAM (self), FALSE);

  if (self->output->corked)
    return FALSE;
  self->output->corked = TRUE;
  return TRUE;
}

void
natter_metered_stream_uncork (NatterMeteredStream *self)
{
  g_return_if_fail (NATTER_IS_METERED_STREAM (self));

  if (self->output->corked)
    metered_output_uncork (self->output);
}

guint64
natter_metered_stream_get_bytes_written (NatterMeteredStream *self)
{
  g_return_val_if_fail (NATTER_IS_METERED_STREAM (self), 0);

  return self->output->bytes_written;
}
