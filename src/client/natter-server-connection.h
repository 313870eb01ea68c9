/* natter-server-connection.h: the one place that sets up how libnatter-client
 * connects to a Natter server, so the HTTP API, the WebSocket and the file
 * transfers check the server's certificate against the same trust store. */
#pragma once

#include <gio/gio.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* A new SoupSession (transfer full) that verifies certificates against
 * @database (NULL: the system's). @timeout_s 0 waits as long as libsoup
 * does by default; transfers pass a bound so a dead link is noticed. */
SoupSession          *_natter_server_soup_session_new    (GTlsDatabase  *database,
                                                          guint          timeout_s);

/* Points @soup at @database (NULL: the system's) if it is not already;
 * connections opened from then on use it. TRUE if that changed it. */
gboolean              _natter_server_soup_session_set_tls_database (SoupSession  *soup,
                                                                    GTlsDatabase *database);

/* A new GSocketClient (transfer full) for a bare HTTP/1.1 exchange with
 * the server at @url: TLS when @url is https, verified against @database
 * like the SoupSession, for the same host name. */
GSocketClient        *_natter_server_socket_client_new   (const char    *url,
                                                          GTlsDatabase  *database);

/* Why the certificate of @client's last TLS handshake was refused; 0 when
 * there was none or it was accepted. */
GTlsCertificateFlags  _natter_server_socket_client_get_certificate_errors (GSocketClient *client);

G_END_DECLS
