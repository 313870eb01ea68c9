/* security-common.h: what the bad-input battery shares on top of the server
 * tests' helpers (tests/server/natter-test-*.h): a natter-server process to
 * measure from outside (/proc/PID: RSS and descriptors), hand-made
 * WebSocket frames (unmasked, reserved bits, lying lengths), reading the
 * server's close code, the "still healthy" check that follows every case,
 * and the scale knob NATTER_SECURITY_SCALE. */
#pragma once

#include "natter-protocol.h"
#include "natter-test-client.h"
#include "natter-test-raw.h"
#include "natter-test-server.h"

G_BEGIN_DECLS

/* How much a case may grow the server's RSS. AddressSanitizer keeps freed
 * memory in quarantine (256 MiB by default), so the bound is looser there:
 * it still tells "bounded" from "grows with the attack". */
#ifdef NATTER_TEST_ASAN
# define SEC_RSS_SLACK ((gsize) 320 * 1024 * 1024)
#else
# define SEC_RSS_SLACK ((gsize) 48 * 1024 * 1024)
#endif

/* g_test_init plus the summary line; every test file calls it. */
void      sec_init                (int          *argc,
                                   char       ***argv,
                                   const char   *area);
/* Registers a case (a GTest of the fixture below) and counts it. */
typedef struct _SecFixture SecFixture;
typedef void (*SecTweak) (NatterServerConfig *config);
typedef void (*SecCase)  (SecFixture *f, gconstpointer data);

void      sec_add                 (const char   *path,
                                   SecTweak      tweak,
                                   SecCase       func);
/* Runs the tests and prints "# security/AREA: N bad-input cases". */
int       sec_run                 (void);

/* @n scaled by NATTER_SECURITY_SCALE (default 1), at least 1. */
guint     sec_scaled              (guint         n);

/* ---- an in-process server -------------------------------------------------------- */

struct _SecFixture
{
  NatterTestServer *ts;
  gsize             rss_start;
  guint             port;
};

/* Registers @user (password "secret-USER") and connects; asserts success. */
NatterTestClient *sec_connect_user (const char  *url,
                                    const char  *user,
                                    char       **out_token);
NatterTestClient *sec_connect_token (const char *url,
                                     const char *token);

/* The server still serves a new user end to end: register, connect, join a
 * new room, send, receive the message event, read it back from history.
 * Every call uses fresh names. */
void      sec_assert_healthy      (const char   *url);
/* Healthy, and the process RSS grew less than SEC_RSS_SLACK since setup. */
void      sec_assert_fixture_ok   (SecFixture   *f);

void      sec_assert_ok           (JsonObject   *ack);
void      sec_assert_error        (JsonObject   *ack,
                                   const char   *code);

/* ---- a natter-server process ------------------------------------------------------ */

typedef struct _SecProcess SecProcess;

/* Starts the natter-server binary on 127.0.0.1, a free port and a fresh
 * data dir, with @limits ("key=value\n" lines for [limits], may be NULL)
 * and @extra_args (may be NULL). */
SecProcess *sec_process_start     (const char          *limits,
                                   const char * const  *extra_args);
/* SIGTERM, waits, checks exit status 0, removes the data dir. */
void        sec_process_stop      (SecProcess          *process);
/* SIGKILL (for a process whose exit report is not the point), cleans up. */
void        sec_process_kill      (SecProcess          *process);
const char *sec_process_get_url   (SecProcess          *process);
guint       sec_process_get_port  (SecProcess          *process);
/* Everything the process wrote to stdout and stderr so far. */
const char *sec_process_get_output (SecProcess         *process);
gsize       sec_process_get_rss   (SecProcess          *process);
guint       sec_process_count_fds (SecProcess          *process);
/* Waits until the process holds at most @n descriptors. */
gboolean    sec_process_wait_fds_at_most (SecProcess   *process,
                                          guint         n,
                                          guint         timeout_ms);

/* ---- raw frames ----------------------------------------------------------------------- */

/* Appends one frame: @first is the whole first byte (FIN, RSV1-3, opcode),
 * @declared_len the length the header announces (usually @len), masked
 * with a fixed key when @mask. */
void      sec_frame_append        (GByteArray   *out,
                                   guint8        first,
                                   gboolean      mask,
                                   guint64       declared_len,
                                   const void   *payload,
                                   gsize         len);
/* Writes one frame to @raw (see above, with declared_len = len). */
void      sec_raw_frame           (NatterTestRaw *raw,
                                   guint8         first,
                                   gboolean       mask,
                                   const void    *payload,
                                   gsize          len);
/* Server frames in @input: calls back for each complete one. */
typedef void (*SecFrameFunc) (guint8 opcode, const guint8 *payload, gsize len, gpointer data);
void      sec_parse_frames        (GByteArray   *input,
                                   SecFrameFunc  func,
                                   gpointer      data);
/* Waits for the server to close the TCP connection; returns the code of
 * its close frame, 0 for a close frame without code, -1 for none. */
int       sec_raw_wait_close_code (NatterTestRaw *raw,
                                   guint          timeout_ms);
/* Waits for a text frame from the server starting with @prefix. */
gboolean  sec_raw_wait_text       (NatterTestRaw *raw,
                                   const char    *prefix,
                                   guint          timeout_ms);
/* Raw TCP, upgrade (101 asserted), open packet, CONNECT with @token (NULL:
 * no CONNECT) acknowledged. */
NatterTestRaw *sec_raw_session    (guint          port,
                                   int            rcvbuf,
                                   const char    *token);

/* One HTTP request: sends @msg on @session (a new default one when NULL)
 * and returns the status, 0 with @error set on a transport failure. */
guint        sec_send_message  (SoupSession   *session,
                                SoupMessage   *msg,
                                GBytes       **out_body,
                                GError       **error);
/* A request to @url @path with an optional JSON @body and one extra header. */
SoupMessage *sec_api_message   (const char    *url,
                                const char    *method,
                                const char    *path,
                                const char    *body,
                                const char    *header,
                                const char    *value);

G_END_DECLS
