/* natter-test-util.h: what the client and cli tests share: an in-process
 * natter-server on loopback, a TCP proxy that can blackhole its links, and
 * waits that iterate the main context until a condition or a deadline. */
#pragma once

#include <gio/gio.h>

#include "natter-client.h"
#include "natter-server.h"

G_BEGIN_DECLS

/* Iterates the default main context until @cond holds; aborts the test
 * with the condition's text after @timeout_ms. Never sleeps. */
#define natter_test_wait_until(cond, timeout_ms)                              \
  G_STMT_START {                                                              \
    gint64 _deadline = g_get_monotonic_time () + (gint64) (timeout_ms) * 1000; \
    guint _tick = g_timeout_add (10, natter_test_tick, NULL);                 \
    while (!(cond))                                                           \
      {                                                                       \
        if (g_get_monotonic_time () > _deadline)                              \
          g_error ("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #cond); \
        g_main_context_iteration (NULL, TRUE);                                \
      }                                                                       \
    g_source_remove (_tick);                                                  \
  } G_STMT_END

gboolean natter_test_tick (gpointer data);

typedef struct
{
  NatterServer *server;
  char         *data_dir;
  guint         port;
  char         *url;
  guint         ping_interval_ms;
  guint         ping_timeout_ms;
  char         *tls_cert;        /* https/wss when set */
  char         *tls_key;
} NatterTestServer;

/* Starts a server on 127.0.0.1, a free port, a fresh data dir, fast
 * password hashing and no send rate limit that tests would hit.
 * @ping_interval_ms 0 keeps the default timings. */
NatterTestServer *natter_test_server_new     (guint             ping_interval_ms,
                                              guint             ping_timeout_ms);
/* The same serving https and wss with @cert and @key (PEM files; see
 * natter_test_make_ca_and_certificate()). */
NatterTestServer *natter_test_server_new_tls (const char       *cert,
                                              const char       *key);
void              natter_test_server_stop    (NatterTestServer *ts);
/* Starts again on the same port and data dir. */
void              natter_test_server_restart (NatterTestServer *ts);
void              natter_test_server_free    (NatterTestServer *ts);

/* A temporary directory, removed with its contents by natter_test_rm_rf(). */
char             *natter_test_mkdtemp        (void);
void              natter_test_rm_rf          (const char       *path);

/* @dir/@name filled with @size pseudo-random bytes (written 1 MiB at a
 * time), and their SHA-256 in @out_sha256; and the SHA-256 of a file. */
GFile            *natter_test_make_file      (const char       *dir,
                                              const char       *name,
                                              gsize             size,
                                              char            **out_sha256);
char             *natter_test_file_sha256    (const char       *path);

/* A session for @user against @url (memory token store, cache in
 * @cache_dir/<user>.db, or in memory when @cache_dir is NULL), registered
 * (or signed in when @login) and started; waits until it is online. */
NatterSession    *natter_test_session_new    (const char       *url,
                                              const char       *user,
                                              const char       *cache_dir,
                                              gboolean          login);

/* Joins (creating) @room and waits. */
NatterRoom       *natter_test_join           (NatterSession    *session,
                                              const char       *room);

/* All of a room's history from the server, oldest first, as "seq:from:text"
 * lines: the truth that timelines are compared with. */
GPtrArray        *natter_test_server_history (NatterSession    *session,
                                              const char       *room);
/* The same lines from a timeline (sent messages only). */
GPtrArray        *natter_test_timeline_lines (NatterTimeline   *timeline);

/* A TCP proxy to 127.0.0.1:@port. natter_test_proxy_blackhole() makes
 * every link open now silently drop all bytes both ways (no FIN, no RST);
 * links opened later forward normally. */
typedef struct _NatterTestProxy NatterTestProxy;

NatterTestProxy  *natter_test_proxy_new       (guint            port);
guint             natter_test_proxy_get_port  (NatterTestProxy *proxy);
void              natter_test_proxy_blackhole (NatterTestProxy *proxy);
guint             natter_test_proxy_get_n_links (NatterTestProxy *proxy);
/* Closes every link open now (the peers see the connection end). */
void              natter_test_proxy_cut       (NatterTestProxy *proxy);
void              natter_test_proxy_free      (NatterTestProxy *proxy);

G_END_DECLS
