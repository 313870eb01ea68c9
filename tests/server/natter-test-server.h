/* natter-test-server.h: runs a NatterServer in the test process on
 * 127.0.0.1, a random port and a fresh temporary data directory. */
#pragma once

#include "natter-server.h"

G_BEGIN_DECLS

/* Defined in a build with AddressSanitizer, whose quarantine keeps freed
 * memory: tests that bound a process's RSS loosen or skip that check. gcc
 * defines __SANITIZE_ADDRESS__; clang 14 only answers __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
# define NATTER_TEST_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define NATTER_TEST_ASAN 1
# endif
#endif

typedef struct
{
  NatterServerConfig *config;
  NatterServer       *server;
  char               *data_dir;
  char               *url;
} NatterTestServer;

/* g_test_init() plus a log writer that drops debug messages unless
 * NATTER_TEST_DEBUG is set (libsoup logs every frame). */
void              natter_test_init           (int               *argc,
                                              char            ***argv);

/* Fills a config for tests: loopback, port 0, fast password hashing. */
NatterTestServer *natter_test_server_new     (void);
/* Starts (or restarts, on the same data dir) the server from ->config. */
void              natter_test_server_start   (NatterTestServer *ts);
void              natter_test_server_stop    (NatterTestServer *ts);
/* Stops, removes the data directory, frees. */
void              natter_test_server_free    (NatterTestServer *ts);

/* A child setup (GSubprocessLauncher, g_spawn_*) that has the child
 * killed when the test process dies, so that a crashed or aborted test
 * leaves no natter-server behind. @data is GINT_TO_POINTER (getpid ()) of
 * the test: a child whose parent already died exits at once. */
void              natter_test_die_with_parent (gpointer          data);
/* g_subprocess_launcher_new (@flags) with that child setup. */
GSubprocessLauncher *natter_test_launcher_new (GSubprocessFlags  flags);

/* Resident set size of this process in bytes. */
gsize             natter_test_get_rss        (void);

G_END_DECLS
