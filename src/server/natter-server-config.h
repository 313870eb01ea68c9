/* natter-server-config.h: everything a NatterServer can be told, with the
 * defaults of docs/PROTOCOL.md. A plain boxed struct: fill it, hand it to
 * natter_server_new(), which keeps its own copy. */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

#define NATTER_SERVER_DEFAULT_PORT              7300
#define NATTER_SERVER_CONFORMANCE_PORT          3000

#define NATTER_TYPE_SERVER_CONFIG (natter_server_config_get_type ())

typedef struct
{
  char    *address;                     /* NULL: every interface */
  guint    port;                        /* 0: pick a free port */
  char    *data_dir;                    /* NULL: $XDG_DATA_HOME/natter-server */
  char   **allowed_origins;             /* NULL-terminated; NULL: none */
  char    *tls_cert_file;               /* PEM; both set: https/wss only */
  char    *tls_key_file;

  guint    ping_interval_ms;            /* 25000 */
  guint    ping_timeout_ms;             /* 20000 */
  guint    connect_timeout_ms;          /* 45000: open → Socket.IO CONNECT */
  guint    handshake_timeout_ms;        /* 10000: TCP accept → request read */

  guint    max_connections;             /* 1024 TCP connections in all */
  guint    max_connections_per_address; /* 64 */
  guint64  max_message_bytes;           /* 1000000: one reassembled WS message */
  guint64  max_backlog_bytes;           /* 4 MiB queued to one slow reader */
  guint64  max_http_body_bytes;         /* 65536 */

  guint    send_rate;                   /* 10 sends per second per user… */
  guint    send_burst;                  /* …with bursts of 50 */
  guint    event_rate;                  /* 50 other events per second per connection… */
  guint    event_burst;                 /* …with bursts of 200 */

  /* File transfers (natter-uploads.c) */
  guint64  max_file_bytes;              /* 1 GiB; 0: no limit */
  guint64  user_quota_bytes;            /* 10 GiB of uploads per user; 0: no limit */
  guint    upload_expiry_s;             /* 86400: unfinished uploads older go; 0: never */

  /* Storage ([store]) */
  gboolean store_synchronous_full;      /* TRUE: synchronous=full (an ok ack survives
                                         * a power cut); FALSE: normal */

  gboolean conformance;                 /* upstream protocol test-suite mode */
  gboolean fast_password_hashing;       /* tests only: argon2id MIN limits */
} NatterServerConfig;

GType               natter_server_config_get_type      (void) G_GNUC_CONST;

/* Returns a newly allocated config holding every default. */
NatterServerConfig *natter_server_config_new           (void);
NatterServerConfig *natter_server_config_copy          (const NatterServerConfig *config);
void                natter_server_config_free          (NatterServerConfig       *config);

/* Switches to the timings of the upstream test suites (pingInterval 300,
 * pingTimeout 200, connectTimeout 1000, port 3000 unless one was set). */
void                natter_server_config_set_conformance (NatterServerConfig     *config,
                                                          gboolean                conformance);

/* Reads the [server], [limits] and [store] groups of a key file; keys
 * absent from the file keep their current values. */
gboolean            natter_server_config_load_key_file (NatterServerConfig       *config,
                                                        const char               *path,
                                                        GError                  **error);

/* Returns the data directory in use, newly allocated. */
char               *natter_server_config_dup_data_dir  (const NatterServerConfig *config);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterServerConfig, natter_server_config_free)

G_END_DECLS
