/* natter-test-client.h: a raw Socket.IO client for tests, built from the
 * protocol codec over a libsoup WebSocket. It does only what a test tells
 * it (it can send any frame, malformed ones included), answers pings unless
 * told not to, and waits by iterating the main context up to a deadline. */
#pragma once

#include <libsoup/soup.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct _NatterTestClient NatterTestClient;

#define NATTER_TEST_TIMEOUT_MS 10000

/* Iterates the default main context until @cond returns TRUE or @timeout_ms
 * pass. Returns the last value of @cond. */
gboolean          natter_test_wait            (gboolean    (*cond) (gpointer data),
                                               gpointer      data,
                                               guint         timeout_ms);

/* @base_url: "http://127.0.0.1:PORT" (or https). */
NatterTestClient *natter_test_client_new      (const char        *base_url);
void              natter_test_client_free     (NatterTestClient  *client);

/* Extra request headers for the handshake (Origin…), before open(). */
void              natter_test_client_set_header (NatterTestClient *client,
                                                 const char       *name,
                                                 const char       *value);
void              natter_test_client_set_auto_pong (NatterTestClient *client,
                                                    gboolean          auto_pong);

/* WebSocket to @path_and_query (NULL: the normal Socket.IO endpoint) and
 * the Engine.IO open packet. On an HTTP refusal, @error carries the status
 * as its code in SOUP_HTTP_ERROR… use natter_test_client_get_http_status. */
gboolean          natter_test_client_open     (NatterTestClient  *client,
                                               const char        *path_and_query,
                                               GError           **error);
guint             natter_test_client_get_http_status (NatterTestClient *client);

/* open() then CONNECT with {"token":…}; FALSE with the CONNECT_ERROR
 * message in @error when refused. */
gboolean          natter_test_client_connect  (NatterTestClient  *client,
                                               const char        *token,
                                               GError           **error);

void              natter_test_client_send_text   (NatterTestClient *client,
                                                  const char       *frame);
void              natter_test_client_send_binary (NatterTestClient *client,
                                                  gconstpointer     data,
                                                  gsize             len);

/* Emits @event with @args (may be NULL for {}) and an ack id; returns the
 * ack's first argument (an object), or NULL on timeout or close. */
JsonObject       *natter_test_client_call     (NatterTestClient  *client,
                                               const char        *event,
                                               JsonObject        *args);
/* The same, @args given as JSON text. */
JsonObject       *natter_test_client_call_json (NatterTestClient *client,
                                                const char       *event,
                                                const char       *args_json);
/* Emits without an ack id. */
void              natter_test_client_emit_json (NatterTestClient *client,
                                                const char       *event,
                                                const char       *args_json);

/* Server events received so far with that name (first argument of each). */
guint             natter_test_client_count_events (NatterTestClient *client,
                                                   const char       *event);
JsonObject       *natter_test_client_get_event   (NatterTestClient  *client,
                                                  const char        *event,
                                                  guint              index);
/* Waits until more than @count events named @event have arrived; returns
 * the one at index @count (borrowed), or NULL on timeout. */
JsonObject       *natter_test_client_wait_event  (NatterTestClient  *client,
                                                  const char        *event,
                                                  guint              count);

/* Every text frame received, in order (for raw protocol checks). */
GPtrArray        *natter_test_client_get_frames  (NatterTestClient  *client);
/* Waits for a text frame that starts with @prefix, from index @from on;
 * returns its index or -1. */
int               natter_test_client_wait_frame  (NatterTestClient  *client,
                                                  const char        *prefix,
                                                  guint              from);
GPtrArray        *natter_test_client_get_binary_frames (NatterTestClient *client);

gboolean          natter_test_client_is_open     (NatterTestClient  *client);
gboolean          natter_test_client_wait_closed (NatterTestClient  *client,
                                                  guint              timeout_ms);
gushort           natter_test_client_get_close_code (NatterTestClient *client);
const char       *natter_test_client_get_sid     (NatterTestClient  *client);
void              natter_test_client_close       (NatterTestClient  *client);

/* HTTP JSON helpers. Returns the status; *out (may be NULL) the parsed body. */
guint             natter_test_http               (const char        *base_url,
                                                  const char        *method,
                                                  const char        *path,
                                                  const char        *body,
                                                  const char        *bearer,
                                                  JsonNode         **out);
/* GET @path; returns the body as text, newly allocated, and the status. */
char             *natter_test_http_get_text      (const char        *base_url,
                                                  const char        *path,
                                                  guint             *status);
/* Registers @user (password "secret-<user>") and returns the token. */
char             *natter_test_register           (const char        *base_url,
                                                  const char        *user);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterTestClient, natter_test_client_free)

G_END_DECLS
