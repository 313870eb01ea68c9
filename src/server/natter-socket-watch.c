/* natter-socket-watch.c: see the header. One GSource polls the epoll
 * descriptor; its dispatch runs the deferred calls, then asks epoll what
 * is ready (without waiting) and calls each socket's owner. */
#include "natter-socket-watch.h"

#include <errno.h>
#include <gio/gio.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Sockets handled per dispatch; the rest stay ready (level-triggered) and
 * come in the next one, after timers and other sources had their turn. */
#define MAX_EVENTS 256

/* An epoll_wait() result being handled. Kept in a list so that removing
 * an entry can blank its events that have not been handled yet, also in
 * a dispatch further up the stack. */
typedef struct _DispatchFrame DispatchFrame;
struct _DispatchFrame
{
  struct epoll_event *events;
  int                 n_events;
  int                 next;
  DispatchFrame      *outer;
};

struct _NatterSocketWatch
{
  gatomicrefcount         ref_count;
  int                     epoll_fd;
  GSource                *source;
  gpointer                epoll_tag;
  guint                   n_sockets;
  NatterSocketWatchEntry *deferred_head;
  NatterSocketWatchEntry *deferred_tail;
  DispatchFrame          *frames;
};

typedef struct
{
  GSource            parent;
  NatterSocketWatch *watch;   /* unowned: the watch owns the source */
} WatchSource;

static NatterSocketWatchEntry *
pop_deferred (NatterSocketWatch *watch)
{
  NatterSocketWatchEntry *entry = watch->deferred_head;

  if (entry == NULL)
    return NULL;
  watch->deferred_head = entry->next_deferred;
  if (watch->deferred_head == NULL)
    watch->deferred_tail = NULL;
  entry->next_deferred = NULL;
  entry->deferred = FALSE;
  return entry;
}

static void
unlink_deferred (NatterSocketWatch      *watch,
                 NatterSocketWatchEntry *entry)
{
  NatterSocketWatchEntry **link = &watch->deferred_head;
  NatterSocketWatchEntry *previous = NULL;

  /* Deferred calls are few at a time (closes), so a walk is fine. */
  while (*link != NULL && *link != entry)
    {
      previous = *link;
      link = &(*link)->next_deferred;
    }
  if (*link == NULL)
    return;
  *link = entry->next_deferred;
  if (watch->deferred_tail == entry)
    watch->deferred_tail = previous;
  entry->next_deferred = NULL;
  entry->deferred = FALSE;
}

static void
run_deferred (NatterSocketWatch *watch)
{
  NatterSocketWatchEntry *last = watch->deferred_tail;
  NatterSocketWatchEntry *entry;

  /* Only what was asked for before this dispatch: a call that defers
   * again runs in the next one, not in a loop here. */
  while (last != NULL && (entry = pop_deferred (watch)) != NULL)
    {
      gboolean was_last = entry == last;

      entry->func (entry->user_data, NATTER_SOCKET_DEFERRED);
      if (was_last)
        break;
    }
}

static guint
condition_from_events (NatterSocketWatchEntry *entry,
                       guint32                 events)
{
  guint condition = 0;

  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
    condition |= NATTER_SOCKET_READABLE;
  if ((events & EPOLLOUT) ||
      ((events & (EPOLLHUP | EPOLLERR)) && (entry->conditions & NATTER_SOCKET_WRITABLE)))
    condition |= NATTER_SOCKET_WRITABLE;
  return condition;
}

static void
run_ready (NatterSocketWatch *watch)
{
  struct epoll_event events[MAX_EVENTS];
  DispatchFrame frame = { events, 0, 0, watch->frames };
  int n;

  do
    n = epoll_wait (watch->epoll_fd, events, MAX_EVENTS, 0);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return;

  frame.n_events = n;
  watch->frames = &frame;
  while (frame.next < frame.n_events)
    {
      struct epoll_event *event = &events[frame.next++];
      NatterSocketWatchEntry *entry = event->data.ptr;
      guint condition;

      if (entry == NULL)
        continue; /* removed by an earlier call of this dispatch */
      condition = condition_from_events (entry, event->events);
      if (condition != 0)
        entry->func (entry->user_data, condition);
    }
  watch->frames = frame.outer;
}

static gboolean
watch_source_dispatch (GSource     *source,
                       GSourceFunc  callback,
                       gpointer     user_data)
{
  NatterSocketWatch *watch = ((WatchSource *) source)->watch;
  gboolean ready;

  natter_socket_watch_ref (watch);

  if (watch->deferred_head == NULL)
    g_source_set_ready_time (source, -1);
  ready = (g_source_query_unix_fd (source, watch->epoll_tag) & G_IO_IN) != 0;

  run_deferred (watch);
  if (ready)
    run_ready (watch);

  if (watch->deferred_head != NULL)
    g_source_set_ready_time (source, 0);

  natter_socket_watch_unref (watch);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs watch_source_funcs = {
  NULL, NULL, watch_source_dispatch, NULL, NULL, NULL,
};

NatterSocketWatch *
natter_socket_watch_new (GError **error)
{
  NatterSocketWatch *watch;
  int epoll_fd = epoll_create1 (EPOLL_CLOEXEC);

  if (epoll_fd < 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "epoll_create1: %s", g_strerror (saved));
      return NULL;
    }

  watch = g_new0 (NatterSocketWatch, 1);
  g_atomic_ref_count_init (&watch->ref_count);
  watch->epoll_fd = epoll_fd;
  watch->source = g_source_new (&watch_source_funcs, sizeof (WatchSource));
  ((WatchSource *) watch->source)->watch = watch;
  g_source_set_static_name (watch->source, "natter-socket-watch");
  /* GLib would otherwise "block" the source around each dispatch: take
   * its fd out of the context's poll list and put it back. Nothing it
   * calls iterates the main context, and the dispatch frames make it
   * safe if something did. */
  g_source_set_can_recurse (watch->source, TRUE);
  watch->epoll_tag = g_source_add_unix_fd (watch->source, epoll_fd, G_IO_IN);
  g_source_attach (watch->source, g_main_context_get_thread_default ());
  return watch;
}

NatterSocketWatch *
natter_socket_watch_ref (NatterSocketWatch *watch)
{
  g_return_val_if_fail (watch != NULL, NULL);

  g_atomic_ref_count_inc (&watch->ref_count);
  return watch;
}

void
natter_socket_watch_unref (NatterSocketWatch *watch)
{
  g_return_if_fail (watch != NULL);

  if (!g_atomic_ref_count_dec (&watch->ref_count))
    return;

  g_source_destroy (watch->source);
  g_source_unref (watch->source);
  close (watch->epoll_fd);
  g_free (watch);
}

void
natter_socket_watch_init_entry (NatterSocketWatchEntry *entry,
                                NatterSocketReadyFunc   func,
                                gpointer                user_data)
{
  g_return_if_fail (entry != NULL);

  *entry = (NatterSocketWatchEntry) { 0, };
  entry->func = func;
  entry->user_data = user_data;
  entry->fd = -1;
}

static guint32
events_for (guint conditions)
{
  guint32 events = EPOLLRDHUP;

  if (conditions & NATTER_SOCKET_READABLE)
    events |= EPOLLIN;
  if (conditions & NATTER_SOCKET_WRITABLE)
    events |= EPOLLOUT;
  return events;
}

gboolean
natter_socket_watch_add (NatterSocketWatch      *watch,
                         NatterSocketWatchEntry *entry,
                         int                     fd,
                         guint                   conditions,
                         GError                **error)
{
  struct epoll_event event = { 0, };

  g_return_val_if_fail (watch != NULL, FALSE);
  g_return_val_if_fail (entry != NULL && entry->func != NULL, FALSE);
  g_return_val_if_fail (!entry->registered, FALSE);
  g_return_val_if_fail (fd >= 0, FALSE);

  event.events = events_for (conditions);
  event.data.ptr = entry;
  if (epoll_ctl (watch->epoll_fd, EPOLL_CTL_ADD, fd, &event) != 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "epoll_ctl: %s", g_strerror (saved));
      return FALSE;
    }
  entry->fd = fd;
  entry->conditions = conditions;
  entry->registered = TRUE;
  watch->n_sockets++;
  return TRUE;
}

void
natter_socket_watch_set_conditions (NatterSocketWatch      *watch,
                                    NatterSocketWatchEntry *entry,
                                    guint                   conditions)
{
  struct epoll_event event = { 0, };

  g_return_if_fail (watch != NULL);
  g_return_if_fail (entry != NULL);

  if (!entry->registered || entry->conditions == conditions)
    return;

  event.events = events_for (conditions);
  event.data.ptr = entry;
  if (epoll_ctl (watch->epoll_fd, EPOLL_CTL_MOD, entry->fd, &event) != 0)
    g_warning ("epoll_ctl (MOD, %d): %s", entry->fd, g_strerror (errno));
  else
    entry->conditions = conditions;
}

void
natter_socket_watch_remove (NatterSocketWatch      *watch,
                            NatterSocketWatchEntry *entry)
{
  DispatchFrame *frame;

  g_return_if_fail (watch != NULL);
  g_return_if_fail (entry != NULL);

  if (entry->deferred)
    unlink_deferred (watch, entry);

  if (!entry->registered)
    return;

  /* The owner closes the fd after this; a closed fd would leave the
   * kernel's entry behind while a dup of it lives. */
  if (epoll_ctl (watch->epoll_fd, EPOLL_CTL_DEL, entry->fd, NULL) != 0 && errno != EBADF)
    g_warning ("epoll_ctl (DEL, %d): %s", entry->fd, g_strerror (errno));
  entry->registered = FALSE;
  entry->conditions = 0;
  watch->n_sockets--;

  for (frame = watch->frames; frame != NULL; frame = frame->outer)
    {
      int i;

      for (i = frame->next; i < frame->n_events; i++)
        if (frame->events[i].data.ptr == entry)
          frame->events[i].data.ptr = NULL;
    }
}

void
natter_socket_watch_defer (NatterSocketWatch      *watch,
                           NatterSocketWatchEntry *entry)
{
  g_return_if_fail (watch != NULL);
  g_return_if_fail (entry != NULL && entry->func != NULL);

  if (entry->deferred)
    return;

  entry->deferred = TRUE;
  entry->next_deferred = NULL;
  if (watch->deferred_tail != NULL)
    watch->deferred_tail->next_deferred = entry;
  else
    watch->deferred_head = entry;
  watch->deferred_tail = entry;
  g_source_set_ready_time (watch->source, 0);
}

guint
natter_socket_watch_get_n_sockets (NatterSocketWatch *watch)
{
  g_return_val_if_fail (watch != NULL, 0);

  return watch->n_sockets;
}
