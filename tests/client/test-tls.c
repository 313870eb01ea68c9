/* test-tls.c: NatterSession against a natter-server serving https/wss with
 * a certificate from a CA made in the test (openssl). Not trusted by
 * default: sign-in and the WebSocket both fail with
 * NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE naming the host and the reason,
 * the session keeps saying so while it retries; given the CA explicitly
 * (:tls-database) it signs in and chats, and sends and fetches files
 * (whose transfers follow the session's trust store, refusing the same
 * certificates with the same error). */
#include <string.h>

#include "natter-certificate-error.h"
#include "natter-client-private.h"
#include "natter-server-connection.h"
#include "natter-test-tls.h"
#include "natter-test-util.h"

typedef struct
{
  char             *dir;
  char             *ca;
  NatterTestServer *ts;
  GTlsDatabase     *ca_database;
} Fixture;

static void
setup (Fixture       *f,
       gconstpointer  data)
{
  g_autofree char *cert = NULL;
  g_autofree char *key = NULL;
  g_autoptr(GError) error = NULL;

  f->dir = natter_test_mkdtemp ();
  if (!natter_test_make_ca_and_certificate (f->dir, &f->ca, &cert, &key))
    return;
  f->ts = natter_test_server_new_tls (cert, key);
  g_assert_true (g_str_has_prefix (f->ts->url, "https://127.0.0.1:"));
  f->ca_database = g_tls_file_database_new (f->ca, &error);
  g_assert_no_error (error);
}

static void
teardown (Fixture       *f,
          gconstpointer  data)
{
  g_clear_object (&f->ca_database);
  g_clear_pointer (&f->ts, natter_test_server_free);
  natter_test_rm_rf (f->dir);
  g_free (f->dir);
  g_free (f->ca);
}

static gboolean
skip_without_openssl (Fixture *f)
{
  if (f->ts != NULL)
    return FALSE;
  g_test_skip ("openssl is needed to make a CA");
  return TRUE;
}

static void
store_result (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* Registers @user; returns whether it worked, with the error. */
static gboolean
register_user (NatterSession  *session,
               GError        **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  natter_session_register_async (session, "secret-password", NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 20000);
  return natter_session_register_finish (session, result, error);
}

/* A registered, started and online session that trusts @database. */
static NatterSession *
trusting_session (Fixture    *f,
                  const char *url,
                  const char *user)
{
  NatterSession *session = natter_session_new_full (url, user, NATTER_TOKEN_STORE_MEMORY, ":memory:");
  g_autoptr(GError) error = NULL;

  natter_session_set_tls_database (session, f->ca_database);
  g_assert_true (natter_session_get_tls_database (session) == f->ca_database);
  g_assert_true (register_user (session, &error));
  g_assert_no_error (error);
  g_assert_true (natter_session_start (session, &error));
  g_assert_no_error (error);
  natter_test_wait_until (natter_session_get_state (session) == NATTER_SESSION_STATE_ONLINE, 20000);
  return session;
}

/* The default trust store does not know the test CA: sign-in fails with
 * the certificate error, naming the host and the reason, nothing else. */
static void
test_untrusted_sign_in (Fixture       *f,
                        gconstpointer  data)
{
  g_autoptr(NatterSession) session = NULL;
  g_autoptr(GError) error = NULL;

  if (skip_without_openssl (f))
    return;

  session = natter_session_new_full (f->ts->url, "alice", NATTER_TOKEN_STORE_MEMORY, ":memory:");
  g_assert_nonnull (natter_session_get_tls_database (session));
  g_assert_false (register_user (session, &error));
  g_test_message ("register: %s", error->message);
  g_assert_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE);
  g_assert_nonnull (strstr (error->message, "The certificate of 127.0.0.1 is not trusted"));
  g_assert_nonnull (strstr (error->message, "unknown authority"));
  g_clear_error (&error);

  /* Nothing reached the server: the name is still free for a client that
   * trusts the CA. */
  {
    g_autoptr(NatterSession) trusting = trusting_session (f, f->ts->url, "alice");

    g_assert_cmpstr (natter_session_get_user (trusting), ==, "alice");
  }
}

/* A session whose certificate check fails on (re)connect keeps retrying
 * with backoff, but says why: :certificate-untrusted and :last-error. Once
 * the CA is trusted, the next attempt goes online and the flag clears. */
static void
test_untrusted_reconnect (Fixture       *f,
                          gconstpointer  data)
{
  g_autoptr(NatterSession) alice = NULL;
  g_autoptr(NatterSession) session = NULL;
  g_autoptr(GError) error = NULL;

  if (skip_without_openssl (f))
    return;

  /* A token obtained over a trusted link, then a session without the CA. */
  alice = trusting_session (f, f->ts->url, "alice");
  session = natter_session_new_full (f->ts->url, "alice", NATTER_TOKEN_STORE_MEMORY, ":memory:");
  _natter_session_set_token (session, _natter_session_get_token (alice));

  g_assert_true (natter_session_start (session, &error));
  g_assert_no_error (error);
  natter_test_wait_until (natter_session_get_state (session) == NATTER_SESSION_STATE_WAITING_TO_RETRY, 20000);
  g_assert_true (natter_session_get_certificate_untrusted (session));
  g_test_message ("last-error: %s", natter_session_get_last_error (session));
  g_assert_nonnull (strstr (natter_session_get_last_error (session), "The certificate of 127.0.0.1 is not trusted"));
  g_assert_nonnull (strstr (natter_session_get_last_error (session), "unknown authority"));
  g_assert_cmpint (natter_session_get_retry_at (session), >, 0);

  /* It goes on trying (the certificate might be renewed), and fails the
   * same way each time. */
  natter_session_retry_now (session);
  natter_test_wait_until (natter_session_get_state (session) == NATTER_SESSION_STATE_WAITING_TO_RETRY, 20000);
  g_assert_true (natter_session_get_certificate_untrusted (session));

  /* Trusting the CA is the explicit way out. */
  natter_session_set_tls_database (session, f->ca_database);
  natter_session_retry_now (session);
  natter_test_wait_until (natter_session_get_state (session) == NATTER_SESSION_STATE_ONLINE, 20000);
  g_assert_false (natter_session_get_certificate_untrusted (session));
  g_assert_null (natter_session_get_last_error (session));

  /* NULL goes back to the system's trust store, not to "trust anything". */
  natter_session_set_tls_database (session, NULL);
  g_assert_nonnull (natter_session_get_tls_database (session));
  g_assert_true (natter_session_get_tls_database (session) != f->ca_database);
  natter_session_stop (session);
  natter_session_start (session, NULL);
  natter_test_wait_until (natter_session_get_state (session) == NATTER_SESSION_STATE_WAITING_TO_RETRY, 20000);
  g_assert_true (natter_session_get_certificate_untrusted (session));
  natter_session_stop (session);
}

/* Trusting the CA, the certificate is still checked: the name must match
 * (it was issued for IP 127.0.0.1, not for "localhost"). */
static void
test_wrong_name (Fixture       *f,
                 gconstpointer  data)
{
  g_autoptr(NatterSession) session = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *url = NULL;

  if (skip_without_openssl (f))
    return;

  url = g_strdup_printf ("https://localhost:%u", f->ts->port);
  session = natter_session_new_full (url, "alice", NATTER_TOKEN_STORE_MEMORY, ":memory:");
  natter_session_set_tls_database (session, f->ca_database);
  g_assert_false (register_user (session, &error));
  g_test_message ("register: %s", error->message);
  g_assert_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE);
  g_assert_nonnull (strstr (error->message, "The certificate of localhost is not trusted"));
  g_assert_nonnull (strstr (error->message, "issued for another name"));
  g_assert_null (strstr (error->message, "unknown authority"));
}

/* With the CA given explicitly: sign in, join, chat both ways over wss. */
static void
test_trusted_chat (Fixture       *f,
                   gconstpointer  data)
{
  g_autoptr(NatterSession) alice = NULL;
  g_autoptr(NatterSession) bob = NULL;
  g_autoptr(NatterMessage) hello = NULL;
  g_autoptr(NatterMessage) got = NULL;
  NatterRoom *a_room, *b_room;
  NatterTimeline *b_tl;

  if (skip_without_openssl (f))
    return;

  alice = trusting_session (f, f->ts->url, "alice");
  bob = trusting_session (f, f->ts->url, "bob");
  g_assert_false (natter_session_get_certificate_untrusted (alice));
  a_room = natter_test_join (alice, "general");
  b_room = natter_test_join (bob, "general");
  b_tl = natter_room_get_timeline (b_room);

  hello = natter_room_send_text (a_room, "over wss 加密");
  natter_test_wait_until (natter_message_get_state (hello) == NATTER_MESSAGE_STATE_SENT, 20000);
  natter_test_wait_until (g_list_model_get_n_items (G_LIST_MODEL (b_tl)) == 1, 20000);
  got = g_list_model_get_item (G_LIST_MODEL (b_tl), 0);
  g_assert_cmpstr (natter_message_get_text (got), ==, "over wss 加密");
  g_assert_cmpstr (natter_message_get_from (got), ==, "alice");
}

static gboolean
transfer_ended (NatterTransfer *transfer)
{
  NatterTransferState state = natter_transfer_get_state (transfer);

  return state == NATTER_TRANSFER_STATE_DONE || state == NATTER_TRANSFER_STATE_FAILED;
}

static void
assert_untrusted (NatterTransfer *transfer,
                  const char     *host)
{
  const GError *failure = natter_transfer_get_failure (transfer);
  g_autofree char *expected = g_strdup_printf ("The certificate of %s is not trusted", host);

  g_assert_cmpint (natter_transfer_get_state (transfer), ==, NATTER_TRANSFER_STATE_FAILED);
  g_assert_nonnull (failure);
  g_test_message ("transfer: %s", failure->message);
  g_assert_error (failure, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE);
  g_assert_nonnull (strstr (failure->message, expected));
  g_assert_nonnull (strstr (failure->message, "unknown authority"));
  g_assert_cmpstr (natter_transfer_get_error (transfer), ==, failure->message);
}

/* With the CA given to the session, a file goes up (POST, HEAD, and the
 * PATCH written on its own TLS socket) and comes down over https, whole:
 * the transfers use the session's trust store. */
static void
test_trusted_transfer (Fixture       *f,
                       gconstpointer  data)
{
  g_autoptr(NatterSession) alice = NULL;
  g_autoptr(NatterSession) bob = NULL;
  g_autoptr(NatterTransfer) up = NULL;
  g_autoptr(NatterTransfer) down = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFile) destination = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *got_sha = NULL;
  g_autofree char *dest_path = NULL;
  NatterRoom *a_room;

  if (skip_without_openssl (f))
    return;

  alice = trusting_session (f, f->ts->url, "alice");
  bob = trusting_session (f, f->ts->url, "bob");
  a_room = natter_test_join (alice, "files");
  natter_test_join (bob, "files");

  /* More than one block of the PATCH (1 MiB), and not a round size. */
  file = natter_test_make_file (f->dir, "secret.bin", 3 * 1024 * 1024 + 17, &sha);
  up = natter_transfer_new_upload (alice, a_room, file, "over https");
  natter_transfer_start (up);
  natter_test_wait_until (transfer_ended (up), 30000);
  g_assert_null (natter_transfer_get_failure (up));
  g_assert_cmpint (natter_transfer_get_state (up), ==, NATTER_TRANSFER_STATE_DONE);
  g_assert_cmpint (natter_transfer_get_bytes (up), ==, 3 * 1024 * 1024 + 17);
  natter_test_wait_until (natter_session_get_pending (alice) == 0, 20000);

  dest_path = g_build_filename (f->dir, "fetched.bin", NULL);
  destination = g_file_new_for_path (dest_path);
  down = natter_transfer_new_download_id (bob, natter_transfer_get_file_id (up), NULL, destination);
  natter_transfer_start (down);
  natter_test_wait_until (transfer_ended (down), 30000);
  g_assert_null (natter_transfer_get_failure (down));
  g_assert_cmpint (natter_transfer_get_state (down), ==, NATTER_TRANSFER_STATE_DONE);
  got_sha = natter_test_file_sha256 (g_file_peek_path (destination));
  g_assert_cmpstr (got_sha, ==, sha);
}

/* Without the CA, a download fails at once (no retries) with the
 * session's certificate error; an upload of a session that stops trusting
 * the CA fails the same way, also when it is cut off half-way (the PATCH
 * opens its own TLS connection). Nothing of it reaches the room. */
static void
test_untrusted_transfer (Fixture       *f,
                         gconstpointer  data)
{
  g_autoptr(NatterSession) alice = NULL;
  g_autoptr(NatterSession) stranger = NULL;
  g_autoptr(NatterTransfer) first = NULL;
  g_autoptr(NatterTransfer) up = NULL;
  g_autoptr(NatterTransfer) cut = NULL;
  g_autoptr(NatterTransfer) down = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFile) big = NULL;
  g_autoptr(GFile) destination = NULL;
  g_autoptr(GPtrArray) history = NULL;
  g_autofree char *sha = NULL;
  g_autofree char *big_sha = NULL;
  g_autofree char *dest_path = NULL;
  NatterRoom *room;

  if (skip_without_openssl (f))
    return;

  alice = trusting_session (f, f->ts->url, "alice");
  room = natter_test_join (alice, "files");
  file = natter_test_make_file (f->dir, "note.txt", 1000, &sha);
  first = natter_transfer_new_upload (alice, room, file, NULL);
  natter_transfer_start (first);
  natter_test_wait_until (transfer_ended (first), 30000);
  g_assert_cmpint (natter_transfer_get_state (first), ==, NATTER_TRANSFER_STATE_DONE);
  natter_test_wait_until (natter_session_get_pending (alice) == 0, 20000);

  /* The same account on a session with the system's trust store only. */
  stranger = natter_session_new_full (f->ts->url, "alice", NATTER_TOKEN_STORE_MEMORY, ":memory:");
  _natter_session_set_token (stranger, _natter_session_get_token (alice));
  dest_path = g_build_filename (f->dir, "never.txt", NULL);
  destination = g_file_new_for_path (dest_path);
  down = natter_transfer_new_download_id (stranger, natter_transfer_get_file_id (first), NULL,
                                          destination);
  natter_transfer_start (down);
  natter_test_wait_until (transfer_ended (down), 20000);
  assert_untrusted (down, "127.0.0.1");
  g_assert_false (g_file_query_exists (destination, NULL));

  /* Alice's session drops the CA (its WebSocket stays up): the next
   * upload's first request is refused. */
  natter_session_set_tls_database (alice, NULL);
  up = natter_transfer_new_upload (alice, room, file, "never sent");
  natter_transfer_start (up);
  natter_test_wait_until (transfer_ended (up), 20000);
  assert_untrusted (up, "127.0.0.1");
  g_assert_null (natter_transfer_get_message (up));

  /* An upload under way when the CA is dropped: paused and resumed, it
   * asks again (HEAD, PATCH on a new connection) and is refused too. */
  natter_session_set_tls_database (alice, f->ca_database);
  big = natter_test_make_file (f->dir, "big.bin", 8 * 1024 * 1024, &big_sha);
  cut = natter_transfer_new_upload (alice, room, big, "never sent either");
  natter_transfer_start (cut);
  natter_test_wait_until (natter_transfer_get_bytes (cut) > 0 || transfer_ended (cut), 20000);
  g_assert_cmpint (natter_transfer_get_state (cut), ==, NATTER_TRANSFER_STATE_RUNNING);
  natter_transfer_pause (cut);
  natter_session_set_tls_database (alice, NULL);
  natter_transfer_resume (cut);
  natter_test_wait_until (transfer_ended (cut), 20000);
  assert_untrusted (cut, "127.0.0.1");
  g_assert_null (natter_transfer_get_message (cut));

  /* Only the first file's message is in the room. */
  natter_session_set_tls_database (alice, f->ca_database);
  history = natter_test_server_history (alice, "files");
  g_assert_cmpuint (history->len, ==, 1);
  natter_session_stop (alice);
}

static void
socket_connected (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

/* Connects @client to @url: the connection, or NULL and @error. */
static GSocketConnection *
connect_socket_client (GSocketClient  *client,
                       const char     *url,
                       GError        **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  g_socket_client_connect_to_uri_async (client, url, 443, NULL, socket_connected, &result);
  natter_test_wait_until (result != NULL, 20000);
  return g_socket_client_connect_to_uri_finish (client, result, error);
}

/* The bare socket a transfer's PATCH goes over checks the certificate as
 * the SoupSession does, and tells why it refused one. */
static void
test_socket_client (Fixture       *f,
                    gconstpointer  data)
{
  g_autoptr(GSocketClient) plain = NULL;
  g_autoptr(GSocketClient) trusting = NULL;
  g_autoptr(GSocketClient) wrong_name = NULL;
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *localhost = NULL;

  if (skip_without_openssl (f))
    return;

  plain = _natter_server_socket_client_new (f->ts->url, NULL);
  g_assert_cmpint (_natter_server_socket_client_get_certificate_errors (plain), ==, 0);
  g_assert_null (connect_socket_client (plain, f->ts->url, &error));
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_assert_true ((_natter_server_socket_client_get_certificate_errors (plain) &
                  G_TLS_CERTIFICATE_UNKNOWN_CA) != 0);
  g_clear_error (&error);

  trusting = _natter_server_socket_client_new (f->ts->url, f->ca_database);
  connection = connect_socket_client (trusting, f->ts->url, &error);
  g_assert_no_error (error);
  g_assert_nonnull (connection);
  g_assert_cmpint (_natter_server_socket_client_get_certificate_errors (trusting), ==, 0);
  g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);

  localhost = g_strdup_printf ("https://localhost:%u/api/v1/uploads/x", f->ts->port);
  wrong_name = _natter_server_socket_client_new (localhost, f->ca_database);
  g_assert_null (connect_socket_client (wrong_name, localhost, &error));
  g_assert_error (error, G_TLS_ERROR, G_TLS_ERROR_BAD_CERTIFICATE);
  g_assert_cmpint (_natter_server_socket_client_get_certificate_errors (wrong_name), ==,
                   G_TLS_CERTIFICATE_BAD_IDENTITY);
}

/* Every reason GTlsCertificateFlags can give is named, in flag order,
 * and the host comes from the URL (no port, no path). */
static void
test_reasons (void)
{
  const struct {
    GTlsCertificateFlags  flags;
    const char           *expected;
  } cases[] = {
    { G_TLS_CERTIFICATE_UNKNOWN_CA,
      "The certificate of chat.example.org is not trusted: it was issued by an unknown authority (or signed by itself)" },
    { G_TLS_CERTIFICATE_BAD_IDENTITY | G_TLS_CERTIFICATE_EXPIRED,
      "The certificate of chat.example.org is not trusted: it was issued for another name; it has expired" },
    { G_TLS_CERTIFICATE_NOT_ACTIVATED, "The certificate of chat.example.org is not trusted: it is not valid yet" },
    { G_TLS_CERTIFICATE_REVOKED, "The certificate of chat.example.org is not trusted: it has been revoked" },
    { G_TLS_CERTIFICATE_INSECURE, "The certificate of chat.example.org is not trusted: it uses an insecure algorithm" },
    { G_TLS_CERTIFICATE_GENERIC_ERROR, "The certificate of chat.example.org is not trusted: it could not be verified" },
    { 0, "The certificate of chat.example.org is not trusted: it could not be verified" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = _natter_certificate_error_new ("https://chat.example.org:8443/socket.io/?EIO=4",
                                                               cases[i].flags);

      g_assert_error (error, NATTER_CLIENT_ERROR, NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE);
      g_assert_cmpstr (error->message, ==, cases[i].expected);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  /* No system bus (logind's sleep signal) in a test. GIO modules stay:
   * glib-networking is the TLS backend under test. */
  g_setenv ("NATTER_NO_SYSTEM_BUS", "1", TRUE);
  g_setenv ("GIO_USE_VFS", "local", TRUE);

  g_test_add_func ("/client/tls/reasons", test_reasons);
  g_test_add ("/client/tls/untrusted-sign-in", Fixture, NULL, setup, test_untrusted_sign_in, teardown);
  g_test_add ("/client/tls/untrusted-reconnect", Fixture, NULL, setup, test_untrusted_reconnect, teardown);
  g_test_add ("/client/tls/wrong-name", Fixture, NULL, setup, test_wrong_name, teardown);
  g_test_add ("/client/tls/trusted-chat", Fixture, NULL, setup, test_trusted_chat, teardown);
  g_test_add ("/client/tls/socket-client", Fixture, NULL, setup, test_socket_client, teardown);
  g_test_add ("/client/tls/trusted-transfer", Fixture, NULL, setup, test_trusted_transfer, teardown);
  g_test_add ("/client/tls/untrusted-transfer", Fixture, NULL, setup, test_untrusted_transfer, teardown);

  return g_test_run ();
}
