/* natter-client-types.h: the enums and the error domain of libnatter-client.
 * The enums are registered as GEnum types (natter-client-enums.h) so that a
 * UI can bind to them and GObject properties can carry them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * NatterSessionState:
 * @NATTER_SESSION_STATE_DISCONNECTED: not started, or stopped on purpose
 * @NATTER_SESSION_STATE_CONNECTING: a connection attempt is under way
 * @NATTER_SESSION_STATE_ONLINE: connected and signed in to the namespace
 * @NATTER_SESSION_STATE_WAITING_TO_RETRY: the link is down; the next attempt
 *   happens at #NatterSession:retry-at
 * @NATTER_SESSION_STATE_SIGNED_OUT: there is no token, or the server refused
 *   it; nothing is retried until the user signs in again
 */
typedef enum
{
  NATTER_SESSION_STATE_DISCONNECTED,
  NATTER_SESSION_STATE_CONNECTING,
  NATTER_SESSION_STATE_ONLINE,
  NATTER_SESSION_STATE_WAITING_TO_RETRY,
  NATTER_SESSION_STATE_SIGNED_OUT,
} NatterSessionState;

/**
 * NatterMessageState:
 * @NATTER_MESSAGE_STATE_PENDING: in the outbox, not yet acknowledged
 * @NATTER_MESSAGE_STATE_SENT: stored by the server (it has a seq)
 * @NATTER_MESSAGE_STATE_FAILED: the server refused it for good; see
 *   #NatterMessage:error. natter_session_retry_message() or
 *   natter_session_discard_message() resolve it.
 */
typedef enum
{
  NATTER_MESSAGE_STATE_PENDING,
  NATTER_MESSAGE_STATE_SENT,
  NATTER_MESSAGE_STATE_FAILED,
} NatterMessageState;

/**
 * NatterTokenStore:
 * @NATTER_TOKEN_STORE_SECRET_SERVICE: the token is kept in the Secret
 *   Service (libsecret, schema "io.github.natter.Natter", attributes
 *   "server" and "user"). If no Secret Service runs, signing in fails with
 *   %NATTER_CLIENT_ERROR_NO_SECRET_SERVICE; there is no plain-file fallback.
 * @NATTER_TOKEN_STORE_MEMORY: the token lives only in this NatterSession and
 *   is forgotten with it (natter-cli under NATTER_PASSWORD, tests).
 */
typedef enum
{
  NATTER_TOKEN_STORE_SECRET_SERVICE,
  NATTER_TOKEN_STORE_MEMORY,
} NatterTokenStore;

#define NATTER_CLIENT_ERROR (natter_client_error_quark ())

/**
 * NatterClientError:
 * @NATTER_CLIENT_ERROR_FAILED: anything else
 * @NATTER_CLIENT_ERROR_UNREACHABLE: the server could not be reached
 * @NATTER_CLIENT_ERROR_BAD_CREDENTIALS: wrong user name or password (401)
 * @NATTER_CLIENT_ERROR_USER_TAKEN: register: the name is taken (409)
 * @NATTER_CLIENT_ERROR_SIGNED_OUT: there is no token, or the server refused it
 * @NATTER_CLIENT_ERROR_NO_SECRET_SERVICE: no Secret Service to keep the token
 * @NATTER_CLIENT_ERROR_DISCONNECTED: the link went down before the answer came
 * @NATTER_CLIENT_ERROR_TIMED_OUT: no answer (ack) in time
 * @NATTER_CLIENT_ERROR_NOT_ONLINE: the request needs the session to be online
 * @NATTER_CLIENT_ERROR_BAD_RESPONSE: the server answered something unexpected
 * @NATTER_CLIENT_ERROR_CACHE: the local cache could not be read or written
 * @NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE: the server's TLS certificate
 *   failed verification (unknown authority, expired, for another name…);
 *   the message names the host and the reasons. Nothing was sent. There is
 *   no switch that accepts it anyway: trust a private authority with
 *   #NatterSession:tls-database.
 *
 * Errors the server reports in an ack come in the NATTER_CHAT_ERROR domain
 * of the protocol library (forbidden, no_such_room, not_member, …).
 */
typedef enum
{
  NATTER_CLIENT_ERROR_FAILED,
  NATTER_CLIENT_ERROR_UNREACHABLE,
  NATTER_CLIENT_ERROR_BAD_CREDENTIALS,
  NATTER_CLIENT_ERROR_USER_TAKEN,
  NATTER_CLIENT_ERROR_SIGNED_OUT,
  NATTER_CLIENT_ERROR_NO_SECRET_SERVICE,
  NATTER_CLIENT_ERROR_DISCONNECTED,
  NATTER_CLIENT_ERROR_TIMED_OUT,
  NATTER_CLIENT_ERROR_NOT_ONLINE,
  NATTER_CLIENT_ERROR_BAD_RESPONSE,
  NATTER_CLIENT_ERROR_CACHE,
  NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE,
} NatterClientError;

GQuark natter_client_error_quark (void);

G_END_DECLS
