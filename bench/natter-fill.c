/* natter-fill: fills a natter-server data dir through the server's own
 * store, for what a bench could not set up through the protocol in
 * reasonable time. The server must not be running on that data dir.
 *
 *   natter-fill --data-dir DIR --room NAME --user NAME --count N
 *
 * puts N messages into one room (group commits of --batch messages), so
 * that history can be timed over the wire on a room of 1,000,000. The user
 * must exist; the room is created if it does not exist and the user made
 * a member.
 *
 *   natter-fill --data-dir DIR --users N --prefix P --password PW --tokens FILE
 *
 * creates users bP_0 … bP_{N-1} as registration does (member of the
 * default room, one token each; line i of FILE is user i's token, as
 * natter-load reads it), all with one argon2id hash of their common
 * password: the hash carries its salt, so it verifies for every one of
 * them, and the bench template costs one hash instead of N (8–20 minutes
 * for 5,000 at libsodium's interactive limits). What a bench measures is
 * the same: it signs in with the tokens. Prints one JSON line. */
#include <stdio.h>
#include <stdlib.h>

#include "natter-auth.h"
#include "natter-chat.h"
#include "natter-sqlite-store.h"

static void
hashed_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  char **hash = user_data;
  g_autoptr(GError) error = NULL;

  *hash = natter_auth_hash_password_finish (result, &error);
  if (*hash == NULL)
    {
      fprintf (stderr, "natter-fill: cannot hash the password: %s\n", error->message);
      exit (1);
    }
}

static int
add_users (NatterStore *store,
           int          n_users,
           const char  *prefix,
           const char  *password,
           const char  *tokens_path)
{
  g_autoptr(GString) tokens = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *hash = NULL;
  gint64 t0 = g_get_monotonic_time ();
  int i;

  if (!natter_auth_init ())
    {
      fprintf (stderr, "natter-fill: libsodium could not be initialised\n");
      return 1;
    }
  natter_auth_hash_password_async (password, FALSE, NULL, hashed_cb, &hash);
  while (hash == NULL)
    g_main_context_iteration (NULL, TRUE);

  for (i = 0; i < n_users; i++)
    {
      g_autofree char *user = g_strdup_printf ("b%s_%d", prefix, i);
      g_autofree char *token = natter_auth_new_token ();
      g_autofree char *token_hash = natter_auth_hash_token (token);

      if (!natter_store_add_user (store, user, hash, &error) ||
          !natter_store_add_token (store, token_hash, user, &error))
        {
          fprintf (stderr, "natter-fill: %s: %s\n", user, error->message);
          return 1;
        }
      if (!natter_store_add_member (store, NATTER_CHAT_DEFAULT_ROOM, user, NATTER_STORE_SYNC_NOW,
                                    &error) && error != NULL)
        {
          fprintf (stderr, "natter-fill: %s: %s\n", user, error->message);
          return 1;
        }
      g_string_append_printf (tokens, "%s\n", token);
    }

  if (!g_file_set_contents (tokens_path, tokens->str, tokens->len, &error))
    {
      fprintf (stderr, "natter-fill: %s\n", error->message);
      return 1;
    }
  printf ("{\"event\":\"users\",\"added\":%d,\"seconds\":%.3f}\n", n_users,
          (g_get_monotonic_time () - t0) / 1e6);
  return 0;
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *data_dir = NULL;
  g_autofree char *room = NULL;
  g_autofree char *user = NULL;
  g_autofree char *db_path = NULL;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterStore) store = NULL;
  g_autofree char *hash = NULL;
  g_autofree char *prefix = NULL;
  g_autofree char *password = NULL;
  g_autofree char *tokens = NULL;
  int count = 1000000, batch = 10000, done = 0, n_users = 0;
  gint64 t0;
  GOptionEntry entries[] = {
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "natter-server data directory", "DIR" },
    { "room", 0, 0, G_OPTION_ARG_STRING, &room, "Room to fill", "NAME" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user, "Sender (an existing user)", "NAME" },
    { "count", 0, 0, G_OPTION_ARG_INT, &count, "Messages to add (default 1000000)", "N" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "Messages per transaction (default 10000)", "N" },
    { "users", 0, 0, G_OPTION_ARG_INT, &n_users, "Create N users instead of messages", "N" },
    { "prefix", 0, 0, G_OPTION_ARG_STRING, &prefix, "Their names are bPREFIX_i", "PREFIX" },
    { "password", 0, 0, G_OPTION_ARG_STRING, &password, "Their common password", "PW" },
    { "tokens", 0, 0, G_OPTION_ARG_FILENAME, &tokens, "Where their tokens go, one a line", "FILE" },
    { NULL }
  };

  context = g_option_context_new ("- fill a room of a natter-server data dir");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) || data_dir == NULL ||
      (n_users == 0 && (room == NULL || user == NULL)) ||
      (n_users != 0 && (n_users < 0 || prefix == NULL || password == NULL || *password == '\0' ||
                        tokens == NULL)) ||
      count < 0 || batch < 1)
    {
      fprintf (stderr, "natter-fill: %s\n",
               error != NULL ? error->message
               : "--data-dir with --room and --user, or with --users, --prefix, --password "
                 "and --tokens, is required");
      return 2;
    }

  db_path = g_build_filename (data_dir, "natter.db", NULL);
  /* Filling is not what is measured: no fsync per batch. */
  store = natter_sqlite_store_new_full (db_path, FALSE);
  if (!natter_store_open (store, &error))
    {
      fprintf (stderr, "natter-fill: %s: %s\n", db_path, error->message);
      return 1;
    }
  if (n_users > 0)
    {
      int status = add_users (store, n_users, prefix, password, tokens);

      natter_store_close (store);
      return status;
    }
  hash = natter_store_get_password_hash (store, user);
  if (hash == NULL)
    {
      fprintf (stderr, "natter-fill: no user %s in %s\n", user, db_path);
      return 1;
    }
  if (!natter_store_add_room (store, room, "", TRUE, &error) &&
      !g_error_matches (error, NATTER_STORE_ERROR, NATTER_STORE_ERROR_EXISTS))
    {
      fprintf (stderr, "natter-fill: %s\n", error->message);
      return 1;
    }
  g_clear_error (&error);
  natter_store_add_member (store, room, user, NATTER_STORE_SYNC_NOW, NULL);

  t0 = g_get_monotonic_time ();
  while (done < count)
    {
      guint n = MIN (batch, count - done), i;
      g_autofree NatterChatMessage **messages = g_new0 (NatterChatMessage *, n);
      g_autofree NatterStoreAddResult *results = g_new0 (NatterStoreAddResult, n);
      gboolean ok;

      for (i = 0; i < n; i++)
        {
          messages[i] = natter_chat_message_new ();
          messages[i]->room = g_strdup (room);
          messages[i]->from = g_strdup (user);
          messages[i]->cid = g_strdup_printf ("fill-%s-%d", room, done + i);
          /* 100 bytes of text, as the other scenarios send. */
          messages[i]->text = g_strdup_printf ("%-100d", done + i);
        }
      ok = natter_store_add_messages (store, messages, n, results, &error);
      for (i = 0; i < n; i++)
        natter_chat_message_free (messages[i]);
      if (!ok)
        {
          fprintf (stderr, "natter-fill: %s\n", error->message);
          return 1;
        }
      done += n;
    }

  printf ("{\"event\":\"fill\",\"room\":\"%s\",\"added\":%d,\"seconds\":%.3f,\"stored_total\":%"
          G_GUINT64_FORMAT "}\n", room, done, (g_get_monotonic_time () - t0) / 1e6,
          natter_store_count_messages (store));
  natter_store_close (store);
  return 0;
}
