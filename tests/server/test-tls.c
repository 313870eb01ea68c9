/* test-tls.c: https and wss with a self-signed certificate made by the
 * test (openssl), a whole chat round trip over it, and a plain-HTTP
 * client refused. */
#include <string.h>

#include "natter-protocol.h"
#include "natter-test-client.h"
#include "natter-test-raw.h"
#include "natter-test-server.h"

static gboolean
make_certificate (const char *dir,
                  char      **cert,
                  char      **key)
{
  g_autofree char *openssl = g_find_program_in_path ("openssl");
  g_autoptr(GError) error = NULL;
  int status = 0;

  if (openssl == NULL)
    return FALSE;

  *cert = g_build_filename (dir, "cert.pem", NULL);
  *key = g_build_filename (dir, "key.pem", NULL);
  {
    const char *argv[] = {
      openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
      "-subj", "/CN=127.0.0.1", "-keyout", *key, "-out", *cert, NULL
    };

    g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                  NULL, NULL, NULL, NULL, &status, &error);
  }
  g_assert_no_error (error);
  return g_spawn_check_wait_status (status, NULL);
}

static void
test_wss_round_trip (void)
{
  NatterTestServer *ts = natter_test_server_new ();
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autofree char *alice_token = NULL;
  g_autofree char *bob_token = NULL;
  g_autofree char *plain_url = NULL;
  g_autoptr(NatterTestClient) alice = NULL;
  g_autoptr(NatterTestClient) bob = NULL;
  g_autoptr(JsonObject) ack = NULL;
  g_autoptr(GError) error = NULL;
  JsonObject *message;

  if (!make_certificate (ts->data_dir, &cert, &key))
    {
      g_test_skip ("openssl is needed to make a certificate");
      natter_test_server_free (ts);
      return;
    }

  ts->config->tls_cert_file = g_strdup (cert);
  ts->config->tls_key_file = g_strdup (key);
  natter_test_server_start (ts);
  g_assert_true (g_str_has_prefix (ts->url, "https://"));

  alice_token = natter_test_register (ts->url, "alice");
  bob_token = natter_test_register (ts->url, "bob");

  alice = natter_test_client_new (ts->url);
  natter_test_client_connect (alice, alice_token, &error);
  g_assert_no_error (error);
  bob = natter_test_client_new (ts->url);
  natter_test_client_connect (bob, bob_token, &error);
  g_assert_no_error (error);

  ack = natter_test_client_call_json (alice, "send", "{\"room\":\"general\",\"cid\":\"t1\",\"text\":\"over TLS 加密\"}");
  g_assert_true (json_object_get_boolean_member (ack, "ok"));
  message = natter_test_client_wait_event (bob, "message", 0);
  g_assert_nonnull (message);
  g_assert_cmpstr (json_object_get_string_member (message, "text"), ==, "over TLS 加密");

  /* A message far over the 64 KiB the metered stream hands libsoup per
   * dispatch: data buffered inside the TLS layer must not stall. */
  {
    g_autofree char *pad = g_strnfill (300 * 1024, 'p');
    g_autofree char *args = g_strdup_printf ("{\"room\":\"general\",\"cid\":\"t2\",\"text\":\"big\",\"pad\":\"%s\"}", pad);
    g_autoptr(JsonObject) big = natter_test_client_call_json (alice, "send", args);

    g_assert_nonnull (big);
    g_assert_true (json_object_get_boolean_member (big, "ok"));
    g_assert_nonnull (natter_test_client_wait_event (bob, "message", 1));
  }

  /* Plain HTTP to the TLS port gets nowhere. */
  plain_url = g_strdup_printf ("http://127.0.0.1:%u", natter_server_get_port (ts->server));
  {
    g_autoptr(NatterTestClient) plain = natter_test_client_new (plain_url);

    g_assert_false (natter_test_client_connect (plain, alice_token, &error));
    g_clear_error (&error);
  }

  g_clear_pointer (&alice, natter_test_client_free);
  g_clear_pointer (&bob, natter_test_client_free);
  natter_test_server_free (ts);
}

/* A client that opens TCP and never starts TLS is timed out (and counted)
 * like any other. */
static void
test_silent_before_tls (void)
{
  NatterTestServer *ts = natter_test_server_new ();
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  NatterTestRaw *raw;

  if (!make_certificate (ts->data_dir, &cert, &key))
    {
      g_test_skip ("openssl is needed to make a certificate");
      natter_test_server_free (ts);
      return;
    }
  ts->config->tls_cert_file = g_strdup (cert);
  ts->config->tls_key_file = g_strdup (key);
  ts->config->handshake_timeout_ms = 300;
  natter_test_server_start (ts);

  raw = natter_test_raw_connect (natter_server_get_port (ts->server), 0);
  g_assert_true (natter_test_raw_wait_eof (raw, 5000));
  natter_test_raw_free (raw);
  natter_test_server_free (ts);
}

static void
test_bad_certificate (void)
{
  NatterTestServer *ts = natter_test_server_new ();
  g_autofree char *bogus = g_build_filename (ts->data_dir, "bogus.pem", NULL);
  g_autoptr(NatterServer) server = NULL;
  g_autoptr(GError) error = NULL;

  g_file_set_contents (bogus, "not a certificate", -1, &error);
  g_assert_no_error (error);
  ts->config->tls_cert_file = g_strdup (bogus);
  ts->config->tls_key_file = g_strdup (bogus);

  server = natter_server_new (ts->config);
  g_assert_false (natter_server_start (server, &error));
  g_assert_nonnull (error);
  g_assert_false (natter_server_is_running (server));
  natter_test_server_free (ts);
}

int
main (int   argc,
      char *argv[])
{
  natter_test_init (&argc, &argv);

  g_test_add_func ("/server/tls/wss-round-trip", test_wss_round_trip);
  g_test_add_func ("/server/tls/bad-certificate", test_bad_certificate);
  g_test_add_func ("/server/tls/silent-before-tls", test_silent_before_tls);

  return g_test_run ();
}
