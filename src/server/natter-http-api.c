/* natter-http-api.c: see the header. Password hashing runs in a worker
 * thread (natter-auth.c); the message is paused meanwhile, so the main loop
 * keeps serving everyone else. */
#include "natter-http-api.h"

#include <string.h>

#include "natter-auth.h"
#include "natter-chat.h"
#include "natter-json.h"

#define MAX_PASSWORD_BYTES 1024

struct _NatterHttpApi
{
  GObject            parent_instance;

  NatterStore       *store;
  NatterChatService *chat;
  gboolean           fast_hashing;
  gboolean           stopped;
};

G_DEFINE_FINAL_TYPE (NatterHttpApi, natter_http_api, G_TYPE_OBJECT)

static void
natter_http_api_finalize (GObject *object)
{
  NatterHttpApi *self = NATTER_HTTP_API (object);

  g_clear_object (&self->store);
  g_clear_object (&self->chat);

  G_OBJECT_CLASS (natter_http_api_parent_class)->finalize (object);
}

static void
natter_http_api_class_init (NatterHttpApiClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = natter_http_api_finalize;
}

static void
natter_http_api_init (NatterHttpApi *self)
{
}

NatterHttpApi *
natter_http_api_new (NatterStore              *store,
                     NatterChatService        *chat,
                     const NatterServerConfig *config)
{
  NatterHttpApi *self = g_object_new (NATTER_TYPE_HTTP_API, NULL);

  self->store = g_object_ref (store);
  self->chat = g_object_ref (chat);
  self->fast_hashing = config->fast_password_hashing;
  return self;
}

void
natter_http_api_shutdown (NatterHttpApi *self)
{
  g_return_if_fail (NATTER_IS_HTTP_API (self));

  self->stopped = TRUE;
}

/* ---- replies ---------------------------------------------------------------- */

void
natter_http_reply_json (SoupServerMessage *msg,
                        guint              status,
                        JsonObject        *object)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  char *body;

  json_node_set_object (node, object);
  body = json_to_string (node, FALSE);
  soup_server_message_set_status (msg, status, NULL);
  soup_server_message_set_response (msg, "application/json", SOUP_MEMORY_TAKE,
                                    body, strlen (body));
}

void
natter_http_reply_error (SoupServerMessage *msg,
                         guint              status,
                         const char        *code,
                         const char        *message)
{
  g_autoptr(JsonObject) object = json_object_new ();

  json_object_set_string_member (object, "error", code);
  json_object_set_string_member (object, "message", message);
  natter_http_reply_json (msg, status, object);
}

/* ---- pending requests ----------------------------------------------------------- */

typedef struct
{
  NatterHttpApi     *self;
  SoupServerMessage *msg;
  char              *user;
  char              *password;
  gboolean           finished;
  gulong             finished_id;
} Pending;

static void
pending_msg_finished_cb (SoupServerMessage *msg,
                         Pending           *pending)
{
  pending->finished = TRUE;
}

static Pending *
pending_new (NatterHttpApi     *self,
             SoupServerMessage *msg,
             const char        *user,
             const char        *password)
{
  Pending *pending = g_new0 (Pending, 1);

  pending->self = g_object_ref (self);
  pending->msg = g_object_ref (msg);
  pending->user = g_strdup (user);
  pending->password = g_strdup (password);
  pending->finished_id = g_signal_connect (msg, "finished",
                                           G_CALLBACK (pending_msg_finished_cb), pending);
  soup_server_message_pause (msg);
  return pending;
}

/* Returns TRUE when the message can still be answered. */
static gboolean
pending_usable (Pending *pending)
{
  if (pending->finished)
    return FALSE;
  if (pending->self->stopped)
    {
      natter_http_reply_error (pending->msg, SOUP_STATUS_SERVICE_UNAVAILABLE,
                               "internal", "the server is shutting down");
      return FALSE;
    }
  return TRUE;
}

static void
pending_done (Pending *pending)
{
  g_signal_handler_disconnect (pending->msg, pending->finished_id);
  if (!pending->finished)
    soup_server_message_unpause (pending->msg);
  g_object_unref (pending->msg);
  g_object_unref (pending->self);
  g_free (pending->user);
  g_free (pending->password);
  g_free (pending);
}

static void
reply_with_new_token (Pending *pending,
                      guint    status)
{
  g_autofree char *token = natter_auth_new_token ();
  g_autofree char *token_hash = natter_auth_hash_token (token);
  g_autoptr(JsonObject) object = json_object_new ();
  g_autoptr(GError) error = NULL;

  if (!natter_store_add_token (pending->self->store, token_hash, pending->user, &error))
    {
      g_warning ("token: %s", error->message);
      natter_http_reply_error (pending->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR,
                               "internal", "cannot store the token");
      return;
    }

  json_object_set_string_member (object, "user", pending->user);
  json_object_set_string_member (object, "token", token);
  natter_http_reply_json (pending->msg, status, object);
}

/* ---- handlers ----------------------------------------------------------------- */

static gboolean
read_credentials (SoupServerMessage  *msg,
                  JsonNode          **out_node,
                  const char        **user,
                  const char        **password)
{
  SoupMessageBody *body = soup_server_message_get_request_body (msg);
  g_autoptr(GBytes) bytes = soup_message_body_flatten (body);
  g_autoptr(JsonNode) root = NULL;
  gsize len;
  const char *data = g_bytes_get_data (bytes, &len);
  JsonObject *object;

  root = natter_json_parse_untrusted (data, len, NULL);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      natter_http_reply_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                               "the body must be a JSON object {user,password}");
      return FALSE;
    }

  *out_node = g_steal_pointer (&root);
  object = json_node_get_object (*out_node);
  *user = natter_chat_json_get_string (object, "user");
  *password = natter_chat_json_get_string (object, "password");

  if (*user == NULL || !natter_chat_user_name_is_valid (*user))
    {
      natter_http_reply_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                               "user: 1–32 of a-z 0-9 _ . -");
      return FALSE;
    }
  if (*password == NULL || **password == '\0' || strlen (*password) > MAX_PASSWORD_BYTES)
    {
      natter_http_reply_error (msg, SOUP_STATUS_BAD_REQUEST, "bad_request",
                               "password: 1–1024 bytes");
      return FALSE;
    }
  return TRUE;
}

static void
register_hashed_cb (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Pending *pending = user_data;
  g_autofree char *hash = natter_auth_hash_password_finish (result, NULL);
  g_autoptr(GError) error = NULL;

  if (!pending_usable (pending))
    goto out;

  if (hash == NULL)
    {
      natter_http_reply_error (pending->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR,
                               "internal", "cannot hash the password");
      goto out;
    }

  if (!natter_store_add_user (pending->self->store, pending->user, hash, &error))
    {
      if (g_error_matches (error, NATTER_STORE_ERROR, NATTER_STORE_ERROR_EXISTS))
        natter_http_reply_error (pending->msg, SOUP_STATUS_CONFLICT, "taken",
                                 "that user name is taken");
      else
        natter_http_reply_error (pending->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR,
                                 "internal", "cannot store the user");
      goto out;
    }

  /* Everyone starts in the default room. */
  g_clear_error (&error);
  if (!natter_store_add_member (pending->self->store, NATTER_CHAT_DEFAULT_ROOM,
                                pending->user, NATTER_STORE_SYNC_NOW, &error) && error != NULL)
    g_warning ("register: %s", error->message);

  reply_with_new_token (pending, SOUP_STATUS_CREATED);

out:
  pending_done (pending);
}

static void
handle_register (NatterHttpApi     *self,
                 SoupServerMessage *msg)
{
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *existing = NULL;
  const char *user, *password;

  if (!read_credentials (msg, &node, &user, &password))
    return;

  existing = natter_store_get_password_hash (self->store, user);
  if (existing != NULL)
    {
      natter_http_reply_error (msg, SOUP_STATUS_CONFLICT, "taken", "that user name is taken");
      return;
    }

  natter_auth_hash_password_async (password, self->fast_hashing, NULL, register_hashed_cb,
                                   pending_new (self, msg, user, password));
}

static void
login_verified_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  Pending *pending = user_data;

  if (!pending_usable (pending))
    goto out;

  if (!natter_auth_verify_password_finish (result, NULL))
    natter_http_reply_error (pending->msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                             "wrong user name or password");
  else
    reply_with_new_token (pending, SOUP_STATUS_OK);

out:
  pending_done (pending);
}

static void
handle_login (NatterHttpApi     *self,
              SoupServerMessage *msg)
{
  g_autoptr(JsonNode) node = NULL;
  g_autofree char *hash = NULL;
  const char *user, *password;

  if (!read_credentials (msg, &node, &user, &password))
    {
      /* A malformed name cannot exist: that is a failed login, not a 400. */
      if (soup_server_message_get_status (msg) == SOUP_STATUS_BAD_REQUEST && node != NULL)
        natter_http_reply_error (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                                 "wrong user name or password");
      return;
    }

  hash = natter_store_get_password_hash (self->store, user);
  natter_auth_verify_password_async (hash, password, self->fast_hashing, NULL,
                                     login_verified_cb, pending_new (self, msg, user, password));
}

static char *
bearer_token (SoupServerMessage *msg)
{
  const char *header = soup_message_headers_get_one (soup_server_message_get_request_headers (msg),
                                                     "Authorization");

  if (header == NULL || g_ascii_strncasecmp (header, "Bearer ", 7) != 0)
    return NULL;
  header += 7;
  while (*header == ' ')
    header++;
  return *header != '\0' ? g_strdup (header) : NULL;
}

static void
handle_logout (NatterHttpApi     *self,
               SoupServerMessage *msg)
{
  g_autofree char *token = bearer_token (msg);
  g_autofree char *token_hash = NULL;

  if (token == NULL)
    {
      natter_http_reply_error (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized",
                               "Authorization: Bearer TOKEN is required");
      return;
    }

  token_hash = natter_auth_hash_token (token);
  if (!natter_store_remove_token (self->store, token_hash))
    {
      natter_http_reply_error (msg, SOUP_STATUS_UNAUTHORIZED, "unauthorized", "unknown token");
      return;
    }

  natter_chat_service_drop_token (self->chat, token_hash);
  soup_server_message_set_status (msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static void
handle_health (NatterHttpApi     *self,
               SoupServerMessage *msg)
{
  g_autoptr(JsonObject) object = json_object_new ();

  json_object_set_string_member (object, "status", "ok");
  natter_http_reply_json (msg, SOUP_STATUS_OK, object);
}

static const struct
{
  const char *path;
  const char *method;
  void      (*handle) (NatterHttpApi *self, SoupServerMessage *msg);
} routes[] = {
  { "/api/v1/register", "POST", handle_register },
  { "/api/v1/login", "POST", handle_login },
  { "/api/v1/logout", "POST", handle_logout },
  { "/api/v1/health", "GET", handle_health },
};

void
natter_http_api_handle (NatterHttpApi     *self,
                        SoupServerMessage *msg,
                        const char        *path)
{
  const char *method = soup_server_message_get_method (msg);
  guint i;

  g_return_if_fail (NATTER_IS_HTTP_API (self));

  for (i = 0; i < G_N_ELEMENTS (routes); i++)
    {
      if (g_strcmp0 (routes[i].path, path) != 0)
        continue;
      if (g_strcmp0 (routes[i].method, method) != 0 &&
          !(g_strcmp0 (routes[i].method, "GET") == 0 && g_strcmp0 (method, "HEAD") == 0))
        {
          soup_message_headers_replace (soup_server_message_get_response_headers (msg),
                                        "Allow", routes[i].method);
          natter_http_reply_error (msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "bad_request",
                                   "method not allowed");
          return;
        }
      routes[i].handle (self, msg);
      return;
    }

  /* Resumable uploads (tus 1.0) and file downloads land here next. */
  if (g_str_has_prefix (path, "/api/v1/uploads") || g_str_has_prefix (path, "/api/v1/files/"))
    {
      natter_http_reply_error (msg, SOUP_STATUS_NOT_IMPLEMENTED, "internal",
                               "file transfer is not available on this server yet");
      return;
    }

  natter_http_reply_error (msg, SOUP_STATUS_NOT_FOUND, "bad_request", "no such endpoint");
}
