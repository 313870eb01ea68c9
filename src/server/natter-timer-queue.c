/* natter-timer-queue.c: see the header. A binary min-heap of deadlines;
 * the GSource's ready time is the earliest one. */
#include "natter-timer-queue.h"

struct _NatterTimerQueue
{
  gatomicrefcount  ref_count;
  GPtrArray       *heap;    /* NatterTimer, heap-ordered by deadline */
  GSource         *source;
};

typedef struct
{
  GSource           parent;
  NatterTimerQueue *queue;
} QueueSource;

static gboolean
earlier (NatterTimerQueue *queue,
         guint             a,
         guint             b)
{
  return ((NatterTimer *) queue->heap->pdata[a])->deadline <
         ((NatterTimer *) queue->heap->pdata[b])->deadline;
}

static void
swap (NatterTimerQueue *queue,
      guint             a,
      guint             b)
{
  NatterTimer *ta = queue->heap->pdata[a];
  NatterTimer *tb = queue->heap->pdata[b];

  queue->heap->pdata[a] = tb;
  queue->heap->pdata[b] = ta;
  tb->index = a;
  ta->index = b;
}

static void
sift_up (NatterTimerQueue *queue,
         guint             i)
{
  while (i > 0 && earlier (queue, i, (i - 1) / 2))
    {
      swap (queue, i, (i - 1) / 2);
      i = (i - 1) / 2;
    }
}

static void
sift_down (NatterTimerQueue *queue,
           guint             i)
{
  for (;;)
    {
      guint left = 2 * i + 1, right = left + 1, least = i;

      if (left < queue->heap->len && earlier (queue, left, least))
        least = left;
      if (right < queue->heap->len && earlier (queue, right, least))
        least = right;
      if (least == i)
        return;
      swap (queue, i, least);
      i = least;
    }
}

static void
update_ready_time (NatterTimerQueue *queue)
{
  gint64 ready = queue->heap->len > 0 ? ((NatterTimer *) queue->heap->pdata[0])->deadline : -1;

  if (g_source_get_ready_time (queue->source) != ready)
    g_source_set_ready_time (queue->source, ready);
}

static void
heap_remove (NatterTimerQueue *queue,
             NatterTimer      *timer)
{
  guint i = timer->index, last = queue->heap->len - 1;

  g_assert (i < queue->heap->len && queue->heap->pdata[i] == timer);

  if (i != last)
    swap (queue, i, last);
  g_ptr_array_set_size (queue->heap, last);
  if (i < queue->heap->len)
    {
      sift_up (queue, i);
      sift_down (queue, i);
    }
  timer->deadline = 0;
}

static gboolean
queue_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  NatterTimerQueue *queue = ((QueueSource *) source)->queue;
  gint64 now = g_source_get_time (source);

  /* A callback may add or remove timers, its own included. */
  while (queue->heap->len > 0 && ((NatterTimer *) queue->heap->pdata[0])->deadline <= now)
    {
      NatterTimer *timer = queue->heap->pdata[0];

      heap_remove (queue, timer);
      timer->func (timer->user_data);
    }
  update_ready_time (queue);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs queue_source_funcs = {
  NULL, NULL, queue_source_dispatch, NULL, NULL, NULL,
};

NatterTimerQueue *
natter_timer_queue_new (void)
{
  NatterTimerQueue *queue = g_new0 (NatterTimerQueue, 1);

  g_atomic_ref_count_init (&queue->ref_count);
  queue->heap = g_ptr_array_new ();
  queue->source = g_source_new (&queue_source_funcs, sizeof (QueueSource));
  ((QueueSource *) queue->source)->queue = queue;
  g_source_set_static_name (queue->source, "natter-timer-queue");
  g_source_attach (queue->source, g_main_context_get_thread_default ());
  return queue;
}

NatterTimerQueue *
natter_timer_queue_ref (NatterTimerQueue *queue)
{
  g_return_val_if_fail (queue != NULL, NULL);

  g_atomic_ref_count_inc (&queue->ref_count);
  return queue;
}

void
natter_timer_queue_unref (NatterTimerQueue *queue)
{
  guint i;

  g_return_if_fail (queue != NULL);

  if (!g_atomic_ref_count_dec (&queue->ref_count))
    return;

  for (i = 0; i < queue->heap->len; i++)
    ((NatterTimer *) queue->heap->pdata[i])->deadline = 0;
  g_source_destroy (queue->source);
  g_source_unref (queue->source);
  g_ptr_array_unref (queue->heap);
  g_free (queue);
}

static void
schedule (NatterTimerQueue *queue,
          NatterTimer      *timer,
          gint64            deadline,
          NatterTimerFunc   func,
          gpointer          user_data)
{
  if (natter_timer_is_scheduled (timer))
    heap_remove (queue, timer);

  timer->deadline = MAX (deadline, 1);
  timer->func = func;
  timer->user_data = user_data;
  timer->index = queue->heap->len;
  g_ptr_array_add (queue->heap, timer);
  sift_up (queue, timer->index);
  update_ready_time (queue);
}

void
natter_timer_queue_add (NatterTimerQueue *queue,
                        NatterTimer      *timer,
                        guint             delay_ms,
                        NatterTimerFunc   func,
                        gpointer          user_data)
{
  gint64 grid, deadline;

  g_return_if_fail (queue != NULL);
  g_return_if_fail (timer != NULL && func != NULL);

  /* Late by at most an eighth of the delay, so that many timers share a
   * wakeup. */
  grid = CLAMP ((gint64) delay_ms * 1000 / 8, 1000, G_USEC_PER_SEC);
  deadline = g_get_monotonic_time () + (gint64) delay_ms * 1000;
  deadline = (deadline + grid - 1) / grid * grid;
  schedule (queue, timer, deadline, func, user_data);
}

void
natter_timer_queue_add_periodic (NatterTimerQueue *queue,
                                 NatterTimer      *timer,
                                 guint             period_ms,
                                 NatterTimerFunc   func,
                                 gpointer          user_data)
{
  gint64 grid, now, deadline;

  g_return_if_fail (queue != NULL);
  g_return_if_fail (timer != NULL && func != NULL);
  g_return_if_fail (period_ms > 0);

  /* Early, not late: the peer counts on one tick per period at most. On
   * a grid of a quarter period, so every timer of this period falls into
   * one of four phases and they fire together, a round each. */
  grid = MAX ((gint64) period_ms * 1000 / 4, 1000);
  now = g_get_monotonic_time ();
  deadline = (now + (gint64) period_ms * 1000) / grid * grid;
  if (deadline <= now)
    deadline += grid;
  schedule (queue, timer, deadline, func, user_data);
}

void
natter_timer_queue_remove (NatterTimerQueue *queue,
                           NatterTimer      *timer)
{
  g_return_if_fail (queue != NULL);
  g_return_if_fail (timer != NULL);

  if (!natter_timer_is_scheduled (timer))
    return;
  heap_remove (queue, timer);
  update_ready_time (queue);
}

guint
natter_timer_queue_get_size (NatterTimerQueue *queue)
{
  g_return_val_if_fail (queue != NULL, 0);

  return queue->heap->len;
}
