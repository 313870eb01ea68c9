/* natter-auth.c: see the header. */
#include "natter-auth.h"

#include <sodium.h>
#include <string.h>

typedef struct
{
  char     *password;
  char     *hash;
  gboolean  fast;
} AuthJob;

static void
auth_job_free (AuthJob *job)
{
  if (job->password != NULL)
    sodium_memzero (job->password, strlen (job->password));
  g_free (job->password);
  g_free (job->hash);
  g_free (job);
}

gboolean
natter_auth_init (void)
{
  return sodium_init () >= 0;
}

static void
limits_for (gboolean             fast,
            unsigned long long  *ops,
            size_t              *mem)
{
  /* "fast" exists for test suites that register many users; it is still
   * argon2id, with the smallest limits libsodium allows. */
  *ops = fast ? crypto_pwhash_OPSLIMIT_MIN : crypto_pwhash_OPSLIMIT_INTERACTIVE;
  *mem = fast ? crypto_pwhash_MEMLIMIT_MIN : crypto_pwhash_MEMLIMIT_INTERACTIVE;
}

static void
hash_thread (GTask        *task,
             gpointer      source,
             gpointer      task_data,
             GCancellable *cancellable)
{
  AuthJob *job = task_data;
  char out[crypto_pwhash_STRBYTES];
  unsigned long long ops;
  size_t mem;

  limits_for (job->fast, &ops, &mem);
  if (crypto_pwhash_str (out, job->password, strlen (job->password), ops, mem) != 0)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                               "out of memory while hashing");
      return;
    }
  g_task_return_pointer (task, g_strdup (out), g_free);
}

void
natter_auth_hash_password_async (const char          *password,
                                 gboolean             fast,
                                 GCancellable        *cancellable,
                                 GAsyncReadyCallback  callback,
                                 gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  AuthJob *job = g_new0 (AuthJob, 1);

  g_task_set_source_tag (task, natter_auth_hash_password_async);
  job->password = g_strdup (password);
  job->fast = fast;
  g_task_set_task_data (task, job, (GDestroyNotify) auth_job_free);
  g_task_run_in_thread (task, hash_thread);
}

char *
natter_auth_hash_password_finish (GAsyncResult  *result,
                                  GError       **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}

static void
verify_thread (GTask        *task,
               gpointer      source,
               gpointer      task_data,
               GCancellable *cancellable)
{
  AuthJob *job = task_data;

  if (job->hash == NULL)
    {
      char out[crypto_pwhash_STRBYTES];
      unsigned long long ops;
      size_t mem;

      /* Spend the same time as a real check. */
      limits_for (job->fast, &ops, &mem);
      if (crypto_pwhash_str (out, job->password, strlen (job->password), ops, mem) != 0)
        g_debug ("auth: out of memory while hashing");
      g_task_return_boolean (task, FALSE);
      return;
    }

  g_task_return_boolean (task,
                         crypto_pwhash_str_verify (job->hash, job->password,
                                                   strlen (job->password)) == 0);
}

void
natter_auth_verify_password_async (const char          *hash,
                                   const char          *password,
                                   gboolean             fast,
                                   GCancellable        *cancellable,
                                   GAsyncReadyCallback  callback,
                                   gpointer             user_data)
{
  g_autoptr(GTask) task = g_task_new (NULL, cancellable, callback, user_data);
  AuthJob *job = g_new0 (AuthJob, 1);

  g_task_set_source_tag (task, natter_auth_verify_password_async);
  job->password = g_strdup (password);
  job->hash = g_strdup (hash);
  job->fast = fast;
  g_task_set_task_data (task, job, (GDestroyNotify) auth_job_free);
  g_task_run_in_thread (task, verify_thread);
}

gboolean
natter_auth_verify_password_finish (GAsyncResult  *result,
                                    GError       **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

char *
natter_auth_new_token (void)
{
  guint8 bytes[32];
  char out[sodium_base64_ENCODED_LEN (32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

  randombytes_buf (bytes, sizeof bytes);
  sodium_bin2base64 (out, sizeof out, bytes, sizeof bytes,
                     sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero (bytes, sizeof bytes);
  return g_strdup (out);
}

char *
natter_auth_hash_token (const char *token)
{
  g_return_val_if_fail (token != NULL, NULL);

  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, token, -1);
}
