/* natter-certificate-error.h: one wording for "the server's certificate is
 * not trusted", shared by the HTTP API calls and the WebSocket connect. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* TRUE when @error says a TLS peer certificate was refused. */
gboolean  _natter_certificate_error_matches (const GError         *error);

/* A new NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE error (transfer full)
 * naming the host of @url and each reason in @flags, in the user's
 * language. @flags 0 (the TLS layer did not say) still names the host. */
GError   *_natter_certificate_error_new     (const char           *url,
                                             GTlsCertificateFlags  flags);

G_END_DECLS
