/* natter-fill: puts N messages into one room of a natter-server data dir,
 * through the server's own store (NatterSqliteStore, group commits of
 * --batch messages), so that history can be timed over the wire on a room
 * far larger than any bench could fill through the protocol. The server
 * must not be running on that data dir.
 *
 *   natter-fill --data-dir DIR --room NAME --user NAME --count N
 *
 * The user must exist (register it first); the room is created if it does
 * not exist and the user made a member. Prints one JSON line. */
#include <stdio.h>
#include <stdlib.h>

#include "natter-sqlite-store.h"

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
  int count = 1000000, batch = 10000, done = 0;
  gint64 t0;
  GOptionEntry entries[] = {
    { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &data_dir, "natter-server data directory", "DIR" },
    { "room", 0, 0, G_OPTION_ARG_STRING, &room, "Room to fill", "NAME" },
    { "user", 0, 0, G_OPTION_ARG_STRING, &user, "Sender (an existing user)", "NAME" },
    { "count", 0, 0, G_OPTION_ARG_INT, &count, "Messages to add (default 1000000)", "N" },
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "Messages per transaction (default 10000)", "N" },
    { NULL }
  };

  context = g_option_context_new ("- fill a room of a natter-server data dir");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error) ||
      data_dir == NULL || room == NULL || user == NULL || count < 0 || batch < 1)
    {
      fprintf (stderr, "natter-fill: %s\n",
               error != NULL ? error->message : "--data-dir, --room and --user are required");
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
  natter_store_add_member (store, room, user, NULL);

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
