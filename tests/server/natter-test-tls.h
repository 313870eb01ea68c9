/* natter-test-tls.h: a certificate authority and a server certificate it
 * signed, made with openssl inside a test (no key material in the tree),
 * for the TLS tests of every area. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Writes ca.pem, server.pem and server-key.pem in @dir: a CA, and a
 * certificate for IP 127.0.0.1 (serverAuth) it signed, valid two days.
 * Returns FALSE, making nothing, when openssl is not installed (the test
 * then skips); an openssl failure aborts the test. */
gboolean natter_test_make_ca_and_certificate (const char  *dir,
                                              char       **ca,
                                              char       **cert,
                                              char       **key);

G_END_DECLS
