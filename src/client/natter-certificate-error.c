/* natter-certificate-error.c: turns GTlsCertificateFlags into a sentence a
 * person can act on, naming the server, so that neither natter-cli nor the
 * app shows GnuTLS's "Unacceptable TLS certificate" alone. */
#include "natter-certificate-error.h"

#include <glib/gi18n-lib.h>

#include "natter-client-types.h"

gboolean
_natter_certificate_error_matches (const GError *error)
{
  return error != NULL &&
         (g_error_matches (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE) ||
          g_error_matches (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE));
}

GError *
_natter_certificate_error_new (const char           *url,
                               GTlsCertificateFlags  flags)
{
  static const struct {
    GTlsCertificateFlags  flag;
    const char           *reason;
  } reasons[] = {
    /* Translators: the end of "The certificate of HOST is not trusted: …" */
    { G_TLS_CERTIFICATE_UNKNOWN_CA, N_("it was issued by an unknown authority (or signed by itself)") },
    { G_TLS_CERTIFICATE_BAD_IDENTITY, N_("it was issued for another name") },
    { G_TLS_CERTIFICATE_NOT_ACTIVATED, N_("it is not valid yet") },
    { G_TLS_CERTIFICATE_EXPIRED, N_("it has expired") },
    { G_TLS_CERTIFICATE_REVOKED, N_("it has been revoked") },
    { G_TLS_CERTIFICATE_INSECURE, N_("it uses an insecure algorithm") },
  };
  g_autoptr(GUri) uri = url != NULL ? g_uri_parse (url, G_URI_FLAGS_NONE, NULL) : NULL;
  const char *host = uri != NULL && g_uri_get_host (uri) != NULL ? g_uri_get_host (uri) : url;
  g_autoptr(GString) why = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (reasons); i++)
    if ((flags & reasons[i].flag) != 0)
      {
        if (why->len > 0)
          /* Translators: between two reasons a certificate is not trusted */
          g_string_append (why, _("; "));
        g_string_append (why, _(reasons[i].reason));
      }
  if (why->len == 0)
    g_string_append (why, _("it could not be verified"));

  /* Translators: the first %s is the server's host name, the second one
   * or more reasons, e.g. "it has expired" */
  return g_error_new (NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE,
                      _("The certificate of %s is not trusted: %s"),
                      host != NULL ? host : "?", why->str);
}
