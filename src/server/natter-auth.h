/* natter-auth.h: passwords (argon2id through libsodium, hashed in a worker
 * thread so the main loop never waits ~100 ms) and bearer tokens (256
 * random bits, stored only as their SHA-256). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Call once before anything else here; FALSE when libsodium cannot start. */
gboolean  natter_auth_init                  (void);

void      natter_auth_hash_password_async   (const char           *password,
                                             gboolean              fast,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
/* Returns the encoded argon2id hash, newly allocated. */
char     *natter_auth_hash_password_finish  (GAsyncResult         *result,
                                             GError              **error);

/* @hash may be NULL (unknown user): the check then still costs one hash,
 * so a login cannot tell apart a wrong password and an unknown name. */
void      natter_auth_verify_password_async (const char           *hash,
                                             const char           *password,
                                             gboolean              fast,
                                             GCancellable         *cancellable,
                                             GAsyncReadyCallback   callback,
                                             gpointer              user_data);
gboolean  natter_auth_verify_password_finish (GAsyncResult        *result,
                                              GError             **error);

/* Returns a new token: 32 random bytes as unpadded base64url, newly allocated. */
char     *natter_auth_new_token             (void);
/* Returns the hex SHA-256 of @token, newly allocated: what the store keeps. */
char     *natter_auth_hash_token            (const char           *token);

G_END_DECLS
