/* natter-reliability-util.h: the real natter-server binary as a child
 * process of a reliability test: a fixed data dir and port, so that it can
 * be killed with SIGKILL and started again where it was; plus a deadline
 * wait that iterates the main context. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct
{
  char        *exe;            /* natter-server (NATTER_SERVER_BIN) */
  char        *dir;            /* temp dir: data/, config, logs */
  char        *data_dir;
  char        *config_path;
  guint        port;
  char        *url;            /* http://127.0.0.1:PORT */
  GSubprocess *proc;
  gboolean     exited;
  int          exit_status;    /* as from waitpid() */
  guint        starts;
  GString     *log;            /* stderr+stdout of the current run */
  guint        log_readers;
} NatterRelServer;

/* A config file with a free port, a data dir in a fresh temp dir, no send
 * rate limit and (when @ping_interval_ms > 0) the given heartbeat timings.
 * Not started yet. */
NatterRelServer *natter_rel_server_new        (guint            ping_interval_ms,
                                               guint            ping_timeout_ms);
/* Spawns the binary and waits until it accepts TCP connections. SIGXFSZ is
 * ignored in the child so that a file size limit makes writes fail with
 * EFBIG instead of killing it. */
void             natter_rel_server_start      (NatterRelServer *srv);
/* The same without waiting (the clients' reconnects will find it). */
void             natter_rel_server_spawn      (NatterRelServer *srv);
/* SIGKILL, and waits until the process is gone. */
void             natter_rel_server_kill       (NatterRelServer *srv);
/* SIGTERM (clean shutdown), waits; asserts exit status 0. */
void             natter_rel_server_stop       (NatterRelServer *srv);
GPid             natter_rel_server_get_pid    (NatterRelServer *srv);
/* The text of the current run's log, newly allocated. */
char            *natter_rel_server_read_log   (NatterRelServer *srv);
/* Kills a running server, removes the temp dir, frees. */
void             natter_rel_server_free       (NatterRelServer *srv);

/* Opens DATA_DIR/natter.db read-only and runs PRAGMA integrity_check;
 * returns its first row ("ok" when sound), newly allocated. */
char            *natter_rel_integrity_check   (const char      *data_dir);

/* Iterates the default main context until @cond (a gboolean expression)
 * holds; fails the test with its text after @timeout_ms. */
#define natter_rel_wait(cond, timeout_ms)                                     \
  G_STMT_START {                                                              \
    gint64 _deadline = g_get_monotonic_time () + (gint64) (timeout_ms) * 1000; \
    guint _tick = g_timeout_add (20, natter_rel_tick, NULL);                  \
    while (!(cond))                                                           \
      {                                                                       \
        if (g_get_monotonic_time () > _deadline)                              \
          g_error ("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond); \
        g_main_context_iteration (NULL, TRUE);                                \
      }                                                                       \
    g_source_remove (_tick);                                                  \
  } G_STMT_END

gboolean         natter_rel_tick              (gpointer         data);

G_END_DECLS
