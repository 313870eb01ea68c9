/* natter-server-connection.c: see the header. GSocketClient has no
 * tls-database property of its own: the trust store goes onto each TLS
 * connection as its handshake begins. */
#include "natter-server-connection.h"

#define TLS_CONNECTION_KEY "natter-tls-connection"

/* @database, or the system's when NULL (transfer full either way). */
static GTlsDatabase *
ref_database_or_default (GTlsDatabase *database)
{
  return database != NULL ? g_object_ref (database)
                          : g_tls_backend_get_default_database (g_tls_backend_get_default ());
}

SoupSession *
_natter_server_soup_session_new (GTlsDatabase *database,
                                 guint         timeout_s)
{
  /* Without one of ours, libsoup takes the system's trust store when it
   * is first asked for it (a TLS connection), not here: reading it is
   * ~70 ms of CPU, which the app paid before its first frame although
   * a start from the cache makes no connection by then. */
  if (database == NULL)
    return soup_session_new_with_options ("timeout", timeout_s, NULL);
  return soup_session_new_with_options ("tls-database", database,
                                        "timeout", timeout_s,
                                        NULL);
}

gboolean
_natter_server_soup_session_set_tls_database (SoupSession  *soup,
                                              GTlsDatabase *database)
{
  g_autoptr(GTlsDatabase) trusted = ref_database_or_default (database);

  g_return_val_if_fail (SOUP_IS_SESSION (soup), FALSE);

  if (soup_session_get_tls_database (soup) == trusted)
    return FALSE;
  soup_session_set_tls_database (soup, trusted);
  return TRUE;
}

static void
database_unref (gpointer  data,
                GClosure *closure)
{
  g_object_unref (data);
}

static void
socket_client_event_cb (GSocketClient      *client,
                        GSocketClientEvent  event,
                        GSocketConnectable *connectable,
                        GIOStream          *connection,
                        gpointer            user_data)
{
  GTlsDatabase *database = user_data;

  if (event != G_SOCKET_CLIENT_TLS_HANDSHAKING || !G_IS_TLS_CLIENT_CONNECTION (connection))
    return;
  g_tls_connection_set_database (G_TLS_CONNECTION (connection), database);
  /* Kept to tell why a refused certificate was refused: the connect
   * error itself only says "unacceptable". */
  g_object_set_data_full (G_OBJECT (client), TLS_CONNECTION_KEY, g_object_ref (connection),
                          g_object_unref);
}

GSocketClient *
_natter_server_socket_client_new (const char   *url,
                                  GTlsDatabase *database)
{
  GSocketClient *client = g_socket_client_new ();

  g_return_val_if_fail (url != NULL, client);

  if (g_ascii_strncasecmp (url, "https:", 6) == 0)
    {
      g_socket_client_set_tls (client, TRUE);
      g_signal_connect_data (client, "event", G_CALLBACK (socket_client_event_cb),
                             ref_database_or_default (database), database_unref, 0);
    }
  return client;
}

GTlsCertificateFlags
_natter_server_socket_client_get_certificate_errors (GSocketClient *client)
{
  GTlsConnection *connection;

  g_return_val_if_fail (G_IS_SOCKET_CLIENT (client), 0);

  connection = g_object_get_data (G_OBJECT (client), TLS_CONNECTION_KEY);
  return connection != NULL ? g_tls_connection_get_peer_certificate_errors (connection) : 0;
}
