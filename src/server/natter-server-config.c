/* natter-server-config.c: defaults, copying and the key-file form of the
 * server's configuration. */
#include "natter-server-config.h"

G_DEFINE_BOXED_TYPE (NatterServerConfig, natter_server_config,
                     natter_server_config_copy, natter_server_config_free)

NatterServerConfig *
natter_server_config_new (void)
{
  NatterServerConfig *config = g_new0 (NatterServerConfig, 1);

  config->port = NATTER_SERVER_DEFAULT_PORT;
  config->ping_interval_ms = 25000;
  config->ping_timeout_ms = 20000;
  config->connect_timeout_ms = 45000;
  config->handshake_timeout_ms = 10000;
  config->max_connections = 1024;
  config->max_connections_per_address = 64;
  config->max_message_bytes = 1000000;
  config->max_backlog_bytes = 4 * 1024 * 1024;
  config->max_http_body_bytes = 64 * 1024;
  config->send_rate = 10;
  config->send_burst = 50;
  config->event_rate = 50;
  config->event_burst = 200;
  config->max_file_bytes = G_GUINT64_CONSTANT (1) << 30;
  config->user_quota_bytes = G_GUINT64_CONSTANT (10) << 30;
  config->upload_expiry_s = 24 * 60 * 60;
  config->store_synchronous_full = TRUE;

  return config;
}

NatterServerConfig *
natter_server_config_copy (const NatterServerConfig *config)
{
  NatterServerConfig *copy;

  g_return_val_if_fail (config != NULL, NULL);

  copy = g_memdup2 (config, sizeof *config);
  copy->address = g_strdup (config->address);
  copy->data_dir = g_strdup (config->data_dir);
  copy->allowed_origins = g_strdupv (config->allowed_origins);
  copy->tls_cert_file = g_strdup (config->tls_cert_file);
  copy->tls_key_file = g_strdup (config->tls_key_file);

  return copy;
}

void
natter_server_config_free (NatterServerConfig *config)
{
  if (config == NULL)
    return;

  g_free (config->address);
  g_free (config->data_dir);
  g_strfreev (config->allowed_origins);
  g_free (config->tls_cert_file);
  g_free (config->tls_key_file);
  g_free (config);
}

void
natter_server_config_set_conformance (NatterServerConfig *config,
                                      gboolean            conformance)
{
  g_return_if_fail (config != NULL);

  config->conformance = !!conformance;
  if (!conformance)
    return;

  /* The values the upstream Engine.IO / Socket.IO test suites assert. */
  config->ping_interval_ms = 300;
  config->ping_timeout_ms = 200;
  config->connect_timeout_ms = 1000;
  config->max_message_bytes = 1000000;
  if (config->port == NATTER_SERVER_DEFAULT_PORT)
    config->port = NATTER_SERVER_CONFORMANCE_PORT;
}

char *
natter_server_config_dup_data_dir (const NatterServerConfig *config)
{
  g_return_val_if_fail (config != NULL, NULL);

  if (config->data_dir != NULL && config->data_dir[0] != '\0')
    return g_strdup (config->data_dir);

  return g_build_filename (g_get_user_data_dir (), "natter-server", NULL);
}

static gboolean
read_uint (GKeyFile    *kf,
           const char  *group,
           const char  *key,
           guint64      max,
           guint64     *out,
           GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  guint64 value;

  if (!g_key_file_has_key (kf, group, key, NULL))
    return TRUE;

  value = g_key_file_get_uint64 (kf, group, key, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  if (value > max)
    {
      g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                   "%s.%s: %" G_GUINT64_FORMAT " is larger than %" G_GUINT64_FORMAT,
                   group, key, value, max);
      return FALSE;
    }

  *out = value;
  return TRUE;
}

#define READ_UINT(group, key, field, max)                                 \
  G_STMT_START {                                                          \
    guint64 v_ = config->field;                                           \
    if (!read_uint (kf, group, key, max, &v_, error))                     \
      return FALSE;                                                       \
    config->field = v_;                                                   \
  } G_STMT_END

static void
replace_string (GKeyFile    *kf,
                const char  *group,
                const char  *key,
                char       **field)
{
  char *value = g_key_file_get_string (kf, group, key, NULL);

  if (value != NULL)
    {
      g_free (*field);
      *field = value;
    }
}

gboolean
natter_server_config_load_key_file (NatterServerConfig  *config,
                                    const char          *path,
                                    GError             **error)
{
  g_autoptr(GKeyFile) kf = g_key_file_new ();

  g_return_val_if_fail (config != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  if (!g_key_file_load_from_file (kf, path, G_KEY_FILE_NONE, error))
    return FALSE;

  replace_string (kf, "server", "address", &config->address);
  READ_UINT ("server", "port", port, 65535);
  replace_string (kf, "server", "data-dir", &config->data_dir);
  replace_string (kf, "server", "tls-cert", &config->tls_cert_file);
  replace_string (kf, "server", "tls-key", &config->tls_key_file);
  if (g_key_file_has_key (kf, "server", "allowed-origins", NULL))
    {
      g_strfreev (config->allowed_origins);
      config->allowed_origins = g_key_file_get_string_list (kf, "server", "allowed-origins",
                                                            NULL, NULL);
    }
  if (g_key_file_has_key (kf, "server", "conformance", NULL))
    {
      g_autoptr(GError) local_error = NULL;
      gboolean on = g_key_file_get_boolean (kf, "server", "conformance", &local_error);

      if (local_error != NULL)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      natter_server_config_set_conformance (config, on);
    }

  READ_UINT ("limits", "ping-interval-ms", ping_interval_ms, G_MAXINT);
  READ_UINT ("limits", "ping-timeout-ms", ping_timeout_ms, G_MAXINT);
  READ_UINT ("limits", "connect-timeout-ms", connect_timeout_ms, G_MAXINT);
  READ_UINT ("limits", "handshake-timeout-ms", handshake_timeout_ms, G_MAXINT);
  READ_UINT ("limits", "max-connections", max_connections, G_MAXINT);
  READ_UINT ("limits", "max-connections-per-address", max_connections_per_address, G_MAXINT);
  READ_UINT ("limits", "max-message-bytes", max_message_bytes, G_MAXINT);
  READ_UINT ("limits", "max-backlog-bytes", max_backlog_bytes, G_MAXINT64);
  READ_UINT ("limits", "max-http-body-bytes", max_http_body_bytes, G_MAXINT);
  READ_UINT ("limits", "send-rate", send_rate, 1000000);
  READ_UINT ("limits", "send-burst", send_burst, 1000000);
  READ_UINT ("limits", "event-rate", event_rate, 1000000);
  READ_UINT ("limits", "event-burst", event_burst, 1000000);
  READ_UINT ("limits", "max-file-bytes", max_file_bytes, G_MAXINT64);
  READ_UINT ("limits", "user-quota-bytes", user_quota_bytes, G_MAXINT64);
  READ_UINT ("limits", "upload-expiry-s", upload_expiry_s, G_MAXINT);

  if (g_key_file_has_key (kf, "store", "synchronous", NULL))
    {
      g_autofree char *mode = g_key_file_get_string (kf, "store", "synchronous", NULL);

      if (g_strcmp0 (mode, "full") == 0)
        config->store_synchronous_full = TRUE;
      else if (g_strcmp0 (mode, "normal") == 0)
        config->store_synchronous_full = FALSE;
      else
        {
          g_set_error (error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                       "store.synchronous: \"%s\" is neither full nor normal",
                       mode != NULL ? mode : "");
          return FALSE;
        }
    }

  return TRUE;
}
