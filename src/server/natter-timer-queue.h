/* natter-timer-queue.h: the timers of all connections (heartbeat, pong and
 * CONNECT timeouts) in one heap behind one GSource, instead of a GSource
 * per timer: GLib walks every attached source on every main-loop wakeup,
 * so per-connection timers made idle connections cost O(N) per wakeup and
 * N wakeups per ping interval. Deadlines are rounded to a grid, so that
 * many timers fire in the same wakeup. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _NatterTimerQueue NatterTimerQueue;

typedef void (*NatterTimerFunc) (gpointer user_data);

/* Embedded in its owner; zero-initialised means not scheduled. */
typedef struct
{
  gint64          deadline;  /* monotonic µs, 0 when not scheduled */
  guint           index;     /* position in the heap */
  NatterTimerFunc func;
  gpointer        user_data;
} NatterTimer;

/* Runs its timers from the thread-default main context of the caller. */
NatterTimerQueue *natter_timer_queue_new     (void);
NatterTimerQueue *natter_timer_queue_ref     (NatterTimerQueue *queue);
void              natter_timer_queue_unref   (NatterTimerQueue *queue);

/* (Re)schedules @timer to call @func once, @delay_ms from now (rounded up
 * to the grid). */
void              natter_timer_queue_add     (NatterTimerQueue *queue,
                                              NatterTimer      *timer,
                                              guint             delay_ms,
                                              NatterTimerFunc   func,
                                              gpointer          user_data);
/* Schedules @timer for at most @period_ms from now, on a grid of a
 * quarter period shared by every timer of that period: a heartbeat
 * re-armed from its own callback then ticks exactly every period, and N
 * connections' heartbeats make 4 rounds per period, not N wakeups. */
void              natter_timer_queue_add_periodic (NatterTimerQueue *queue,
                                                   NatterTimer      *timer,
                                                   guint             period_ms,
                                                   NatterTimerFunc   func,
                                                   gpointer          user_data);
/* Unschedules @timer; nothing happens if it is not scheduled. */
void              natter_timer_queue_remove  (NatterTimerQueue *queue,
                                              NatterTimer      *timer);
guint             natter_timer_queue_get_size (NatterTimerQueue *queue);

static inline gboolean
natter_timer_is_scheduled (const NatterTimer *timer)
{
  return timer->deadline != 0;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterTimerQueue, natter_timer_queue_unref)

G_END_DECLS
