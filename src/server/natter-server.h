/* natter-server.h: the Natter chat server as an object, so that the binary,
 * the client library's tests and the app's tests can all run one in-process:
 *
 *   g_autoptr(NatterServerConfig) config = natter_server_config_new ();
 *   config->address = g_strdup ("127.0.0.1");
 *   config->data_dir = g_strdup (tmpdir);
 *   server = natter_server_new (config);
 *   natter_server_start (server, &error);
 *   port = natter_server_get_port (server);
 *   …
 *   natter_server_stop (server);
 */
#pragma once

#include <gio/gio.h>

#include "natter-server-config.h"

G_BEGIN_DECLS

#define NATTER_TYPE_SERVER (natter_server_get_type ())

G_DECLARE_FINAL_TYPE (NatterServer, natter_server, NATTER, SERVER, GObject)

#define NATTER_SERVER_ERROR (natter_server_error_quark ())

typedef enum
{
  NATTER_SERVER_ERROR_FAILED,
  NATTER_SERVER_ERROR_STORE,
  NATTER_SERVER_ERROR_TLS,
} NatterServerError;

GQuark        natter_server_error_quark        (void);

/* Copies @config. */
NatterServer *natter_server_new                (const NatterServerConfig *config);

/* Opens the store and listens. Returns FALSE with @error set when the store
 * cannot be opened, the TLS files cannot be read or the port is taken. */
gboolean      natter_server_start              (NatterServer             *self,
                                                GError                  **error);

/* Stops listening, closes every WebSocket with 1001 ("going away") and every
 * other connection, and closes the store. Safe to call twice. */
void          natter_server_stop               (NatterServer             *self);

gboolean      natter_server_is_running         (NatterServer             *self);

/* The port actually listened on (useful with port 0); 0 when not running. */
guint         natter_server_get_port           (NatterServer             *self);

/* "http://127.0.0.1:PORT" or "https://…", newly allocated; NULL when not
 * running. The host is the configured address, or 127.0.0.1 for "all". */
char         *natter_server_dup_base_url       (NatterServer             *self);

const NatterServerConfig *
              natter_server_get_config         (NatterServer             *self);

/* Engine.IO sessions open right now (authenticated or not). */
guint         natter_server_get_n_sessions     (NatterServer             *self);

/* TCP connections the server is counting against its caps right now. */
guint         natter_server_get_n_connections  (NatterServer             *self);

G_END_DECLS
