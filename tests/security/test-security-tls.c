/* test-security-tls.c: https and wss with a certificate signed by a CA
 * made in the test (openssl): trusted through a GTlsDatabase holding the
 * CA, refused with G_TLS_ERROR_BAD_CERTIFICATE by the default database (no
 * accept-certificate handler anywhere, so no silent bypass), and TCP peers
 * that never finish a TLS handshake cut by the handshake timeout.
 *
 * Already in tests/server: a self-signed round trip the test client accepts
 * on purpose, plain HTTP to the TLS port, a bad certificate file
 * [tls/wss-round-trip, tls/bad-certificate]. */
#include <string.h>

#include "natter-test-tls.h"
#include "security-common.h"

/* ---- TLS ---------------------------------------------------------------------------------------- */

typedef struct
{
  SoupWebsocketConnection *ws;
  GError                  *error;
  gboolean                 done;
} WsOpen;

static void
ws_open_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  WsOpen *open = user_data;

  open->ws = soup_session_websocket_connect_finish (SOUP_SESSION (source), result, &open->error);
  open->done = TRUE;
}

static gboolean
ws_open_cond (gpointer data)
{
  return ((WsOpen *) data)->done;
}

/* A wss handshake with @session; no accept-certificate handler anywhere. */
static gboolean
wss_connect (SoupSession *session,
             const char  *base_url,
             GError     **error)
{
  g_autofree char *url = g_strconcat (base_url, "/socket.io/?EIO=4&transport=websocket", NULL);
  g_autoptr(SoupMessage) msg = soup_message_new ("GET", url);
  WsOpen open = { 0, };

  soup_session_websocket_connect_async (session, msg, NULL, NULL, G_PRIORITY_DEFAULT, NULL,
                                        ws_open_cb, &open);
  g_assert_true (natter_test_wait (ws_open_cond, &open, NATTER_TEST_TIMEOUT_MS));
  if (open.ws == NULL)
    {
      g_propagate_error (error, open.error);
      return FALSE;
    }
  soup_websocket_connection_close (open.ws, 1000, NULL);
  g_object_unref (open.ws);
  return TRUE;
}

static void
test_tls_ca (SecFixture    *f,
             gconstpointer  data)
{
  NatterTestServer *ts = natter_test_server_new ();
  g_autofree char *ca = NULL;
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autoptr(GTlsDatabase) database = NULL;
  g_autoptr(SoupSession) trusting = NULL;
  g_autoptr(SoupSession) plain = soup_session_new ();
  g_autoptr(GError) error = NULL;

  if (!natter_test_make_ca_and_certificate (ts->data_dir, &ca, &cert, &key))
    {
      natter_test_server_free (ts);
      g_test_skip ("openssl is needed to make a CA");
      return;
    }
  ts->config->tls_cert_file = g_strdup (cert);
  ts->config->tls_key_file = g_strdup (key);
  ts->config->handshake_timeout_ms = 5000; /* RSA handshakes under a sanitizer and load */
  natter_test_server_start (ts);

  database = g_tls_file_database_new (ca, &error);
  g_assert_no_error (error);
  trusting = soup_session_new_with_options ("tls-database", database, NULL);

  /* Trusting the CA: https and wss work, certificate checked for real. */
  {
    g_autoptr(SoupMessage) msg = sec_api_message (ts->url, "POST", "/api/v1/register",
                                              "{\"user\":\"tls\",\"password\":\"p\"}", NULL, NULL);

    guint status = sec_send_message (trusting, msg, NULL, &error);

    g_assert_no_error (error);
    g_assert_cmpuint (status, ==, 201);
    g_assert_true (wss_connect (trusting, ts->url, &error));
    g_assert_no_error (error);
  }

  /* The default database does not know the CA: refused, no bypass. */
  {
    g_autoptr(SoupMessage) msg = sec_api_message (ts->url, "GET", "/api/v1/health", NULL, NULL, NULL);

    g_assert_cmpuint (sec_send_message (plain, msg, NULL, &error), ==, 0);
    g_test_message ("default database, https: %s", error->message);
    g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
    g_clear_error (&error);
    g_assert_false (wss_connect (plain, ts->url, &error));
    g_test_message ("default database, wss: %s", error->message);
    g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
    g_clear_error (&error);
  }

  /* A TCP connection to the TLS port that never starts its handshake is
   * cut by the handshake timeout like any other. */
  {
    NatterTestRaw *silent = natter_test_raw_connect (natter_server_get_port (ts->server), 0);
    NatterTestRaw *half = natter_test_raw_connect (natter_server_get_port (ts->server), 0);
    gint64 start = g_get_monotonic_time ();

    natter_test_raw_write (half, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
    g_assert_true (natter_test_raw_wait_eof (silent, 20000));
    g_assert_true (natter_test_raw_wait_eof (half, 20000));
    g_test_message ("silent TLS peers cut after %.1f s", (g_get_monotonic_time () - start) / 1e6);
    natter_test_raw_free (silent);
    natter_test_raw_free (half);
  }

  /* Still serving the trusting client. */
  {
    g_autoptr(SoupMessage) msg = sec_api_message (ts->url, "GET", "/api/v1/health", NULL, NULL, NULL);

    g_assert_cmpuint (sec_send_message (trusting, msg, NULL, &error), ==, 200);
  }
  natter_test_server_free (ts);
  sec_assert_fixture_ok (f);
}

int
main (int   argc,
      char *argv[])
{
  sec_init (&argc, &argv, "tls");

  sec_add ("/security/tls/ca-signed", NULL, test_tls_ca);

  return sec_run ();
}
