/* natter-socket-watch.h: every connection socket of the server behind one
 * epoll descriptor, which is the only descriptor GLib polls for them. GLib
 * 2.74 polls and walks every fd and source of a context on each main-loop
 * wakeup; with one GSource per socket an idle server with N connections
 * paid O(N) per wakeup, and set-up paid it per handshake step. Here the
 * kernel keeps the interest list and a wakeup costs what is ready.
 *
 * The watch also runs deferred calls: an owner that must tell its own
 * owner something (a socket was cut in the middle of a send) asks for a
 * call from the next dispatch, when no caller's stack holds it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _NatterSocketWatch NatterSocketWatch;

/* What a socket became: NATTER_SOCKET_READABLE and NATTER_SOCKET_WRITABLE
 * (a hang-up or an error is reported as both, so the next read or write
 * finds it), or NATTER_SOCKET_DEFERRED for a call asked for with
 * natter_socket_watch_defer(). */
typedef enum
{
  NATTER_SOCKET_READABLE = 1 << 0,
  NATTER_SOCKET_WRITABLE = 1 << 1,
  NATTER_SOCKET_DEFERRED = 1 << 2,
} NatterSocketCondition;

typedef void (*NatterSocketReadyFunc) (gpointer              user_data,
                                       NatterSocketCondition condition);

/* Embedded in its owner; zero-initialised means not watched. The owner
 * must remove it before the memory goes. */
typedef struct _NatterSocketWatchEntry NatterSocketWatchEntry;
struct _NatterSocketWatchEntry
{
  NatterSocketReadyFunc   func;
  gpointer                user_data;
  int                     fd;           /* -1: no socket (deferred calls only) */
  guint                   conditions;   /* readable/writable asked for now */
  guint                   registered : 1;
  guint                   deferred : 1;
  NatterSocketWatchEntry *next_deferred;
};

/* Attached to the caller's thread-default main context. */
NatterSocketWatch *natter_socket_watch_new          (GError                **error);
NatterSocketWatch *natter_socket_watch_ref          (NatterSocketWatch      *watch);
void               natter_socket_watch_unref        (NatterSocketWatch      *watch);

void               natter_socket_watch_init_entry   (NatterSocketWatchEntry *entry,
                                                     NatterSocketReadyFunc   func,
                                                     gpointer                user_data);

/* Watches @fd (non-blocking) for @conditions, level-triggered: a socket
 * that still has input is reported again on the next wakeup. */
gboolean           natter_socket_watch_add          (NatterSocketWatch      *watch,
                                                     NatterSocketWatchEntry *entry,
                                                     int                     fd,
                                                     guint                   conditions,
                                                     GError                **error);
void               natter_socket_watch_set_conditions (NatterSocketWatch    *watch,
                                                       NatterSocketWatchEntry *entry,
                                                       guint                 conditions);
/* Stops watching and forgets a pending deferred call; safe from inside a
 * dispatch, also for an entry whose event is still to come in it. */
void               natter_socket_watch_remove       (NatterSocketWatch      *watch,
                                                     NatterSocketWatchEntry *entry);

/* Calls the entry's func with NATTER_SOCKET_DEFERRED from the next
 * dispatch (once, however often it is asked before). */
void               natter_socket_watch_defer        (NatterSocketWatch      *watch,
                                                     NatterSocketWatchEntry *entry);

guint              natter_socket_watch_get_n_sockets (NatterSocketWatch     *watch);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterSocketWatch, natter_socket_watch_unref)

G_END_DECLS
