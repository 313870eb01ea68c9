/* natter-cli.c: a headless Natter client for scripts, bots and tests, on
 * libnatter-client. One command per run; see --help for the exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <termios.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "natter-ca-database.h"
#include "natter-client.h"
#include "natter-protocol.h"

enum
{
  EXIT_OK = 0,
  EXIT_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_UNREACHABLE = 3,
  EXIT_AUTH = 4,
  EXIT_NO_ROOM = 5,
  EXIT_NO_SECRETS = 6,
  EXIT_UNTRUSTED_CERTIFICATE = 7,
};

#define DEFAULT_SERVER "http://localhost:7300"

typedef struct
{
  GMainLoop      *loop;
  int             status;
  NatterSession  *session;
  char          **args;       /* after the command */
  const char     *command;
  gboolean        ever_online;
  gboolean        started_command;
  gboolean        listening;
  /* send */
  guint           outstanding;
  guint           failed;
  gboolean        input_done;
  GDataInputStream *input;
  NatterRoom     *room;
  GHashTable     *ours;       /* NatterMessage set */
  GPtrArray      *history;    /* NatterMessage, oldest first */
  /* upload, download */
  NatterTransfer *transfer;
  gint64          shown_at;   /* when progress was last printed */
  gboolean        told_resume;
  gboolean        awaiting_queued; /* upload: a killed run's message is in the outbox */
} Cli;

static char    *opt_server;
static char    *opt_user;
static int      opt_limit = -1;
static gboolean opt_create;
static char    *opt_topic;
static char    *opt_ca_file;
static gboolean opt_version;

/* The server's help names DEFAULT_SERVER in one literal, so that xgettext
 * sees the whole sentence. */
static GOptionEntry entries[] = {
  { "server", 's', 0, G_OPTION_ARG_STRING, &opt_server,
    N_("The server's address (default: the one of the last login, else http://localhost:7300)"), N_("URL") },
  { "user", 'u', 0, G_OPTION_ARG_STRING, &opt_user, N_("The user name (default: the one of the last login)"), N_("NAME") },
  { "limit", 'n', 0, G_OPTION_ARG_INT, &opt_limit, N_("history: how many messages (default 50)"), "N" },
  { "create", 'c', 0, G_OPTION_ARG_NONE, &opt_create, N_("join: create the room if it does not exist"), NULL },
  { "topic", 't', 0, G_OPTION_ARG_STRING, &opt_topic, N_("join --create: the new room's topic"), N_("TEXT") },
  { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_ca_file,
    N_("Also trust the certificate authorities in FILE (PEM), for a server whose certificate a private authority issued"), N_("FILE") },
  { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version, N_("Print the version and exit"), NULL },
  { NULL }
};

static void
finish (Cli *cli,
        int  status)
{
  cli->status = status;
  g_main_loop_quit (cli->loop);
}

static void
fail (Cli        *cli,
      int         status,
      const char *format,
      ...) G_GNUC_PRINTF (3, 4);

static void
fail (Cli        *cli,
      int         status,
      const char *format,
      ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("natter-cli: %s\n", message);
  finish (cli, status);
}

static int
status_for_error (const GError *error)
{
  if (error->domain == NATTER_CLIENT_ERROR)
    switch (error->code)
      {
      case NATTER_CLIENT_ERROR_UNREACHABLE:
      case NATTER_CLIENT_ERROR_NOT_ONLINE:
      case NATTER_CLIENT_ERROR_DISCONNECTED:
      case NATTER_CLIENT_ERROR_TIMED_OUT:
        return EXIT_UNREACHABLE;
      case NATTER_CLIENT_ERROR_BAD_CREDENTIALS:
      case NATTER_CLIENT_ERROR_SIGNED_OUT:
        return EXIT_AUTH;
      case NATTER_CLIENT_ERROR_NO_SECRET_SERVICE:
        return EXIT_NO_SECRETS;
      case NATTER_CLIENT_ERROR_UNTRUSTED_CERTIFICATE:
        return EXIT_UNTRUSTED_CERTIFICATE;
      default:
        return EXIT_FAILED;
      }
  if (error->domain == NATTER_CHAT_ERROR)
    switch (error->code)
      {
      case NATTER_CHAT_ERROR_NO_SUCH_ROOM:
      case NATTER_CHAT_ERROR_NOT_MEMBER:
        return EXIT_NO_ROOM;
      case NATTER_CHAT_ERROR_UNAUTHORIZED:
        return EXIT_AUTH;
      default:
        return EXIT_FAILED;
      }
  return EXIT_FAILED;
}

static void
fail_with_error (Cli          *cli,
                 const GError *error)
{
  if (g_error_matches (error, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_NO_SUCH_ROOM))
    fail (cli, EXIT_NO_ROOM, _("No such room (use join --create to make one): %s"), error->message);
  else if (g_error_matches (error, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_NOT_MEMBER))
    fail (cli, EXIT_NO_ROOM, _("Not a member of that room (join it first): %s"), error->message);
  else
    fail (cli, status_for_error (error), "%s", error->message);
}

/* ---- settings of the last login (not secret: server and user only) ---- */

static char *
settings_path (void)
{
  return g_build_filename (g_get_user_config_dir (), "natter", "cli.conf", NULL);
}

static void
load_defaults (char **server,
               char **user)
{
  g_autoptr(GKeyFile) keys = g_key_file_new ();
  g_autofree char *path = settings_path ();

  if (!g_key_file_load_from_file (keys, path, G_KEY_FILE_NONE, NULL))
    return;
  if (*server == NULL)
    *server = g_key_file_get_string (keys, "login", "server", NULL);
  if (*user == NULL)
    *user = g_key_file_get_string (keys, "login", "user", NULL);
}

static void
save_defaults (const char *server,
               const char *user)
{
  g_autoptr(GKeyFile) keys = g_key_file_new ();
  g_autofree char *path = settings_path ();
  g_autofree char *dir = g_path_get_dirname (path);
  g_autoptr(GError) error = NULL;

  g_key_file_set_string (keys, "login", "server", server);
  g_key_file_set_string (keys, "login", "user", user);
  if (g_mkdir_with_parents (dir, 0700) != 0 ||
      !g_key_file_save_to_file (keys, path, &error))
    g_printerr ("natter-cli: %s: %s\n", path, error != NULL ? error->message : g_strerror (errno));
}

/* ---- password --------------------------------------------------------- */

static char *
read_password (void)
{
  g_autoptr(GString) line = g_string_new (NULL);
  struct termios saved, quiet;
  gboolean tty = isatty (STDIN_FILENO);
  int c;

  if (tty)
    {
      g_printerr ("%s", _("Password: "));
      tcgetattr (STDIN_FILENO, &saved);
      quiet = saved;
      quiet.c_lflag &= ~ECHO;
      tcsetattr (STDIN_FILENO, TCSANOW, &quiet);
    }
  while ((c = getchar ()) != EOF && c != '\n')
    g_string_append_c (line, (char) c);
  if (tty)
    {
      tcsetattr (STDIN_FILENO, TCSANOW, &saved);
      g_printerr ("\n");
    }
  return g_string_free (g_steal_pointer (&line), FALSE);
}

/* ---- output ----------------------------------------------------------- */

static void
print_message_json (NatterMessage *message)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "room");
  json_builder_add_string_value (builder, natter_message_get_room (message));
  json_builder_set_member_name (builder, "seq");
  json_builder_add_int_value (builder, natter_message_get_seq (message));
  json_builder_set_member_name (builder, "ts");
  json_builder_add_int_value (builder, natter_message_get_ts (message));
  json_builder_set_member_name (builder, "from");
  json_builder_add_string_value (builder, natter_message_get_from (message));
  json_builder_set_member_name (builder, "cid");
  json_builder_add_string_value (builder, natter_message_get_cid (message));
  json_builder_set_member_name (builder, "text");
  json_builder_add_string_value (builder, natter_message_get_text (message));
  if (natter_message_get_file_id (message) != NULL)
    {
      json_builder_set_member_name (builder, "file");
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "id");
      json_builder_add_string_value (builder, natter_message_get_file_id (message));
      json_builder_set_member_name (builder, "name");
      json_builder_add_string_value (builder, natter_message_get_file_name (message));
      json_builder_set_member_name (builder, "size");
      json_builder_add_int_value (builder, natter_message_get_file_size (message));
      json_builder_set_member_name (builder, "mime");
      json_builder_add_string_value (builder, natter_message_get_file_mime (message));
      json_builder_end_object (builder);
    }
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);
  g_print ("%s\n", text);
  fflush (stdout);
}

/* ---- commands --------------------------------------------------------- */

static void
rooms_listed (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Cli *cli = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GListModel) rooms = natter_session_list_rooms_finish (cli->session, result, &error);

  if (rooms == NULL)
    {
      fail_with_error (cli, error);
      return;
    }
  for (guint i = 0; i < g_list_model_get_n_items (rooms); i++)
    {
      g_autoptr(NatterRoom) room = g_list_model_get_item (rooms, i);

      g_print ("%s\t%u\t%s\t%s\n", natter_room_get_name (room), natter_room_get_n_members (room),
               natter_room_get_joined (room) ? "joined" : "-", natter_room_get_topic (room));
    }
  finish (cli, EXIT_OK);
}

static void
joined (GObject      *object,
        GAsyncResult *result,
        gpointer      user_data)
{
  Cli *cli = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoom) room = natter_session_join_finish (cli->session, result, &error);

  if (room == NULL)
    {
      fail_with_error (cli, error);
      return;
    }
  g_print (_("Joined %s\n"), natter_room_get_name (room));
  finish (cli, EXIT_OK);
}

static void
left (GObject      *object,
      GAsyncResult *result,
      gpointer      user_data)
{
  Cli *cli = user_data;
  g_autoptr(GError) error = NULL;

  if (!natter_session_leave_finish (cli->session, result, &error))
    {
      fail_with_error (cli, error);
      return;
    }
  g_print (_("Left %s\n"), cli->args[0]);
  finish (cli, EXIT_OK);
}

static void
history_page (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Cli *cli = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) page = NULL;
  gboolean more = FALSE;
  guint wanted = opt_limit > 0 ? (guint) opt_limit : 50;

  page = natter_session_history_finish (cli->session, result, &more, &error);
  if (page == NULL)
    {
      fail_with_error (cli, error);
      return;
    }

  /* Pages come newest first; keep them, oldest page in front. */
  g_ptr_array_extend_and_steal (page, g_steal_pointer (&cli->history));
  cli->history = g_steal_pointer (&page);

  if (more && cli->history->len > 0 && cli->history->len < wanted)
    {
      guint left = wanted - cli->history->len;

      natter_session_history_async (cli->session, cli->args[0],
                                    natter_message_get_seq (g_ptr_array_index (cli->history, 0)), 0,
                                    MIN (left, NATTER_CHAT_MAX_HISTORY_LIMIT), NULL, history_page, cli);
      return;
    }
  for (guint i = 0; i < cli->history->len; i++)
    print_message_json (g_ptr_array_index (cli->history, i));
  finish (cli, EXIT_OK);
}

static void
check_send_done (Cli *cli)
{
  if (!cli->input_done || cli->outstanding > 0)
    return;
  if (cli->failed > 0)
    finish (cli, EXIT_FAILED);
  else
    finish (cli, EXIT_OK);
}

static void
on_acked (NatterSession *session,
          NatterMessage *message,
          Cli           *cli)
{
  if (!g_hash_table_remove (cli->ours, message))
    return;
  cli->outstanding--;
  check_send_done (cli);
}

static void
on_failed (NatterSession *session,
           NatterMessage *message,
           Cli           *cli)
{
  if (!g_hash_table_remove (cli->ours, message))
    return;
  g_printerr (_("natter-cli: not sent: “%s”: %s\n"), natter_message_get_text (message),
              natter_message_get_error (message));
  cli->failed++;
  cli->outstanding--;
  check_send_done (cli);
}

static void
send_one (Cli        *cli,
          const char *text)
{
  g_autoptr(NatterMessage) message = natter_room_send_text (cli->room, text);

  if (natter_message_get_state (message) == NATTER_MESSAGE_STATE_FAILED)
    {
      g_printerr (_("natter-cli: not sent: %s\n"), natter_message_get_error (message));
      cli->failed++;
      return;
    }
  g_hash_table_add (cli->ours, g_object_ref (message));
  cli->outstanding++;
}

static void
line_read (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Cli *cli = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (object),
                                                                     result, NULL, &error);

  if (error != NULL)
    {
      fail (cli, EXIT_FAILED, _("Cannot read the standard input: %s"), error->message);
      return;
    }
  if (line == NULL)
    {
      cli->input_done = TRUE;
      check_send_done (cli);
      return;
    }
  if (line[0] != '\0')
    send_one (cli, line);
  g_data_input_stream_read_line_async (cli->input, G_PRIORITY_DEFAULT, NULL, line_read, cli);
}

static gboolean
need_joined_room (Cli        *cli,
                  const char *name)
{
  cli->room = natter_session_lookup_room (cli->session, name);
  if (cli->room == NULL)
    {
      fail (cli, EXIT_NO_ROOM, _("You are not in the room “%s” (natter-cli join %s)"), name, name);
      return FALSE;
    }
  return TRUE;
}

static void
start_sending (Cli        *cli,
               const char *text)
{
  cli->ours = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  g_signal_connect (cli->session, "message-acked", G_CALLBACK (on_acked), cli);
  g_signal_connect (cli->session, "message-failed", G_CALLBACK (on_failed), cli);

  if (text != NULL)
    {
      send_one (cli, text);
      cli->input_done = TRUE;
      check_send_done (cli);
      return;
    }
  {
    g_autoptr(GInputStream) in = g_unix_input_stream_new (STDIN_FILENO, FALSE);

    cli->input = g_data_input_stream_new (in);
    g_data_input_stream_read_line_async (cli->input, G_PRIORITY_DEFAULT, NULL, line_read, cli);
  }
}

static void
dm_opened (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Cli *cli = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterRoom) room = natter_session_dm_finish (cli->session, result, &error);

  if (room == NULL)
    {
      fail_with_error (cli, error);
      return;
    }
  cli->room = room;
  start_sending (cli, cli->args[1]);
}

static void
on_message (NatterSession *session,
            NatterRoom    *room,
            NatterMessage *message,
            Cli           *cli)
{
  if (g_strv_contains ((const char * const *) cli->args, natter_room_get_name (room)))
    print_message_json (message);
}

/* ---- upload, download (issue 5) --------------------------------------------- */

static void
show_progress (NatterTransfer *transfer,
               GParamSpec     *pspec,
               Cli            *cli)
{
  gint64 now = g_get_monotonic_time ();
  gint64 bytes = natter_transfer_get_bytes (transfer);
  gint64 total = natter_transfer_get_total (transfer);
  g_autofree char *done = NULL;
  g_autofree char *all = NULL;
  g_autofree char *rate = NULL;

  if (!cli->told_resume && natter_transfer_get_resumed_at (transfer) > 0)
    {
      /* Scripts too: it says what a killed or cut run cost. */
      g_autofree char *at = g_strdup_printf ("%" G_GINT64_FORMAT, natter_transfer_get_resumed_at (transfer));
      g_autofree char *of = g_strdup_printf ("%" G_GINT64_FORMAT, total);

      cli->told_resume = TRUE;
      /* Translators: "resuming FILE at byte N of M"; the server kept N bytes */
      g_printerr (_("natter-cli: resuming %s at byte %s of %s (what the server has)\n"),
                  natter_transfer_get_file_name (transfer), at, of);
    }

  /* A bar only for a person watching; scripts get the final line alone. */
  if (!isatty (STDERR_FILENO) || (now - cli->shown_at < G_USEC_PER_SEC / 10 && bytes != total))
    return;
  cli->shown_at = now;
  done = g_format_size (bytes);
  all = total >= 0 ? g_format_size (total) : g_strdup ("?");
  rate = g_format_size ((guint64) natter_transfer_get_rate (transfer));
  g_printerr ("\r\033[K%s  %3d%%  %s / %s  %s/s", natter_transfer_get_file_name (transfer),
              total > 0 ? (int) (bytes * 100 / total) : 100, done, all, rate);
}

static void
end_progress (Cli *cli)
{
  if (isatty (STDERR_FILENO) && cli->shown_at != 0)
    g_printerr ("\n");
}

/* The message of our upload: the running transfer's, or, after a run
 * killed between the upload and the ack, the one its outbox kept. */
static gboolean
is_upload_message (Cli           *cli,
                   NatterMessage *message)
{
  if (cli->transfer != NULL)
    return message == natter_transfer_get_message (cli->transfer);
  return cli->awaiting_queued && natter_message_get_file_id (message) != NULL;
}

static void
upload_message_acked (NatterSession *session,
                      NatterMessage *message,
                      Cli           *cli)
{
  if (!is_upload_message (cli, message))
    return;
  /* stdout: the file id, for scripts ("natter-cli download ID"). */
  g_print ("%s\n", natter_message_get_file_id (message));
  finish (cli, EXIT_OK);
}

static void
upload_message_failed (NatterSession *session,
                       NatterMessage *message,
                       Cli           *cli)
{
  if (!is_upload_message (cli, message))
    return;
  fail (cli, EXIT_FAILED, _("Uploaded, but the message was refused: %s"),
        natter_message_get_error (message));
}

static void
transfer_state_changed (NatterTransfer *transfer,
                        GParamSpec     *pspec,
                        Cli            *cli)
{
  switch (natter_transfer_get_state (transfer))
    {
    case NATTER_TRANSFER_STATE_DONE:
      end_progress (cli);
      if (natter_transfer_get_direction (transfer) == NATTER_TRANSFER_DIRECTION_DOWNLOAD)
        {
          g_autofree char *path = g_file_get_path (natter_transfer_get_file (transfer));

          g_print ("%s\n", path);
          finish (cli, EXIT_OK);
        }
      /* An upload is done once its message is acknowledged. */
      break;
    case NATTER_TRANSFER_STATE_FAILED:
      end_progress (cli);
      /* A refused certificate exits 7 here as at sign-in. */
      fail (cli, status_for_error (natter_transfer_get_failure (transfer)), "%s",
            natter_transfer_get_error (transfer));
      break;
    case NATTER_TRANSFER_STATE_QUEUED:
      if (natter_transfer_get_error (transfer) != NULL)
        {
          end_progress (cli);
          g_printerr (_("natter-cli: interrupted, resuming: %s\n"),
                      natter_transfer_get_error (transfer));
          cli->shown_at = 0;
        }
      break;
    case NATTER_TRANSFER_STATE_RUNNING:
    case NATTER_TRANSFER_STATE_PAUSED:
    default:
      break;
    }
}

static void
watch_transfer (Cli *cli)
{
  g_signal_connect (cli->transfer, "notify::bytes", G_CALLBACK (show_progress), cli);
  g_signal_connect (cli->transfer, "notify::state", G_CALLBACK (transfer_state_changed), cli);
}

/* upload: what a run killed before the end left in this upload's cache,
 * right after the cache is read (before the session goes online and
 * moves it on): the upload itself, which the library resumes from the
 * server's offset, or its message waiting in the outbox. */
static void
adopt_unfinished_upload (Cli *cli)
{
  GListModel *transfers = natter_session_get_transfers (cli->session);
  g_autoptr(GFile) file = g_file_new_for_commandline_arg (cli->args[1]);

  for (guint i = 0; i < g_list_model_get_n_items (transfers) && cli->transfer == NULL; i++)
    {
      g_autoptr(NatterTransfer) transfer = g_list_model_get_item (transfers, i);

      if (g_file_equal (natter_transfer_get_file (transfer), file))
        cli->transfer = g_steal_pointer (&transfer);
    }
  if (cli->transfer != NULL)
    {
      watch_transfer (cli);
      if (natter_transfer_get_state (cli->transfer) == NATTER_TRANSFER_STATE_PAUSED)
        natter_transfer_resume (cli->transfer);
    }
  else if (natter_session_get_pending (cli->session) > 0)
    cli->awaiting_queued = TRUE;   /* uploaded; the message goes out on connect */

  g_signal_connect (cli->session, "message-acked", G_CALLBACK (upload_message_acked), cli);
  g_signal_connect (cli->session, "message-failed", G_CALLBACK (upload_message_failed), cli);
}

static void
run_transfer (Cli *cli)
{
  if (g_str_equal (cli->command, "upload"))
    {
      g_autoptr(GFile) file = g_file_new_for_commandline_arg (cli->args[1]);

      if (!need_joined_room (cli, cli->args[0]))
        return;
      if (cli->transfer != NULL || cli->awaiting_queued)
        return;   /* a killed run's upload goes on (adopt_unfinished_upload) */
      if (g_file_query_file_type (file, G_FILE_QUERY_INFO_NONE, NULL) != G_FILE_TYPE_REGULAR)
        {
          fail (cli, EXIT_FAILED, _("Not a file: %s"), cli->args[1]);
          return;
        }
      cli->transfer = natter_transfer_new_upload (cli->session, cli->room, file, NULL);
    }
  else
    {
      g_autoptr(GFile) destination = cli->args[1] != NULL
                                     ? g_file_new_for_commandline_arg (cli->args[1]) : NULL;

      cli->transfer = natter_transfer_new_download_id (cli->session, cli->args[0], NULL,
                                                       destination);
    }
  watch_transfer (cli);
  /* A download found in the cache is DONE at once: notify::state says so. */
  natter_transfer_start (cli->transfer);
}

static void
run_command (Cli *cli)
{
  const char *cmd = cli->command;

  cli->started_command = TRUE;

  if (g_str_equal (cmd, "rooms"))
    natter_session_list_rooms_async (cli->session, NULL, rooms_listed, cli);
  else if (g_str_equal (cmd, "join"))
    natter_session_join_async (cli->session, cli->args[0], opt_create, opt_topic, NULL, joined, cli);
  else if (g_str_equal (cmd, "leave"))
    {
      if (need_joined_room (cli, cli->args[0]))
        natter_session_leave_async (cli->session, cli->room, NULL, left, cli);
    }
  else if (g_str_equal (cmd, "history"))
    {
      cli->history = g_ptr_array_new_with_free_func (g_object_unref);
      natter_session_history_async (cli->session, cli->args[0], 0, 0,
                                    MIN (opt_limit > 0 ? (guint) opt_limit : 50, NATTER_CHAT_MAX_HISTORY_LIMIT),
                                    NULL, history_page, cli);
    }
  else if (g_str_equal (cmd, "send"))
    {
      if (need_joined_room (cli, cli->args[0]))
        start_sending (cli, cli->args[1]);
    }
  else if (g_str_equal (cmd, "dm"))
    natter_session_dm_async (cli->session, cli->args[0], NULL, dm_opened, cli);
  else if (g_str_equal (cmd, "upload") || g_str_equal (cmd, "download"))
    run_transfer (cli);
  else if (g_str_equal (cmd, "listen"))
    {
      for (guint i = 0; cli->args[i] != NULL; i++)
        if (!need_joined_room (cli, cli->args[i]))
          return;
      cli->listening = TRUE;
      g_signal_connect (cli->session, "message-received", G_CALLBACK (on_message), cli);
      {
        g_autofree char *rooms = g_strjoinv (", ", cli->args);

        /* On stderr: stdout carries only messages, one JSON object a line. */
        g_printerr (_("natter-cli: listening to %s\n"), rooms);
      }
    }
  else
    g_assert_not_reached ();
}

static void
on_state (NatterSession *session,
          GParamSpec    *pspec,
          Cli           *cli)
{
  NatterSessionState state = natter_session_get_state (session);

  if (state == NATTER_SESSION_STATE_ONLINE)
    cli->ever_online = TRUE;
  else if (state == NATTER_SESSION_STATE_SIGNED_OUT)
    fail (cli, EXIT_AUTH, _("Not signed in: %s (run natter-cli login, or set NATTER_PASSWORD)"),
          natter_session_get_last_error (session) != NULL ? natter_session_get_last_error (session) : "?");
  /* The library's message names the host and the reason already; with a
   * saved token this is where a bad certificate first shows. */
  else if (state == NATTER_SESSION_STATE_WAITING_TO_RETRY && !cli->ever_online &&
           natter_session_get_certificate_untrusted (session))
    fail (cli, EXIT_UNTRUSTED_CERTIFICATE, "%s", natter_session_get_last_error (session));
  else if (state == NATTER_SESSION_STATE_WAITING_TO_RETRY && !cli->ever_online)
    fail (cli, EXIT_UNREACHABLE, _("Cannot reach the server at %s: %s"),
          natter_session_get_server (session),
          natter_session_get_last_error (session) != NULL ? natter_session_get_last_error (session) : "?");
  else if (state == NATTER_SESSION_STATE_WAITING_TO_RETRY && cli->listening)
    g_printerr (_("natter-cli: connection lost, retrying: %s\n"),
                natter_session_get_last_error (session));
}

static void
on_synced (NatterSession *session,
           GParamSpec    *pspec,
           Cli           *cli)
{
  if (natter_session_get_synced (session) && !cli->started_command)
    run_command (cli);
}

static void
start_session (Cli *cli)
{
  g_autoptr(GError) error = NULL;

  g_signal_connect (cli->session, "notify::state", G_CALLBACK (on_state), cli);
  g_signal_connect (cli->session, "notify::synced", G_CALLBACK (on_synced), cli);
  if (!natter_session_start (cli->session, &error))
    {
      fail (cli, EXIT_FAILED, "%s", error->message);
      return;
    }
  if (g_str_equal (cli->command, "upload"))
    adopt_unfinished_upload (cli);
}

/* ---- upload's own cache ------------------------------------------------
 * Every other command works in a cache in memory. An upload keeps one on
 * disk, for this server, user, room and file only: if the run is killed,
 * the library's record of the upload (and of its message, once queued)
 * is there for the next run of the same command, which resumes from the
 * server's offset and sends the message once. Other uploads never see it,
 * and a lock keeps two runs off the same one. */

static char *
upload_cache_path (const char *server,
                   const char *user,
                   const char *room,
                   const char *file_arg)
{
  g_autoptr(GFile) file = g_file_new_for_commandline_arg (file_arg);
  g_autofree char *path = g_file_get_path (file);
  g_autofree char *key = g_strjoin ("\n", server, user, room, path != NULL ? path : file_arg, NULL);
  g_autofree char *digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, key, -1);
  g_autofree char *name = g_strconcat (digest, ".db", NULL);

  return g_build_filename (g_get_user_cache_dir (), "natter", "cli-uploads", name, NULL);
}

/* Takes the lock of the upload cache at @path: FALSE if another run holds it. */
static gboolean
lock_upload_cache (const char  *path,
                   GError     **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *lock_path = g_strconcat (path, ".lock", NULL);
  int fd;

  if (g_mkdir_with_parents (dir, 0700) != 0 ||
      (fd = g_open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
    {
      int saved = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", lock_path,
                   g_strerror (saved));
      return FALSE;
    }
  /* Held until the process ends, however it ends. */
  if (flock (fd, LOCK_EX | LOCK_NB) != 0)
    {
      close (fd);
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_BUSY,
                           _("another natter-cli is uploading this file to this room"));
      return FALSE;
    }
  return TRUE;
}

/* Nothing left to resume: the cache goes. */
static void
remove_upload_cache (const char *path)
{
  const char *suffixes[] = { "", "-wal", "-shm", "-journal", ".lock" };

  for (guint i = 0; i < G_N_ELEMENTS (suffixes); i++)
    {
      g_autofree char *file = g_strconcat (path, suffixes[i], NULL);

      g_unlink (file);
    }
}

static void
signed_in (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Cli *cli = user_data;
  g_autoptr(GError) error = NULL;
  gboolean ok;

  if (g_str_equal (cli->command, "register"))
    ok = natter_session_register_finish (cli->session, result, &error);
  else
    ok = natter_session_login_finish (cli->session, result, &error);
  if (!ok)
    {
      fail (cli, status_for_error (error), "%s", error->message);
      return;
    }

  if (g_str_equal (cli->command, "login") || g_str_equal (cli->command, "register"))
    {
      save_defaults (natter_session_get_server (cli->session), natter_session_get_user (cli->session));
      if (g_str_equal (cli->command, "register"))
        g_print (_("Registered %s on %s\n"), natter_session_get_user (cli->session),
                 natter_session_get_server (cli->session));
      else
        g_print (_("Signed in as %s on %s\n"), natter_session_get_user (cli->session),
                 natter_session_get_server (cli->session));
      finish (cli, EXIT_OK);
      return;
    }
  start_session (cli);
}

static gboolean
on_signal (gpointer user_data)
{
  Cli *cli = user_data;

  finish (cli, cli->listening ? EXIT_OK : EXIT_FAILED);
  return G_SOURCE_REMOVE;
}

static int
usage_error (const char *format,
             ...) G_GNUC_PRINTF (1, 2);

static int
usage_error (const char *format,
             ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("natter-cli: ");
  g_printerr (_("%s (see natter-cli --help)\n"), message);
  return EXIT_USAGE;
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(NatterSession) session = NULL;
  g_autoptr(GTlsDatabase) ca_database = NULL;
  g_autofree char *server = NULL;
  g_autofree char *user = NULL;
  g_autofree char *password = NULL;
  const char *env_password;
  const char *cache_path = ":memory:";
  g_autofree char *upload_cache = NULL;
  const char *cmd;
  guint n_args;
  Cli cli = { 0 };
  struct { const char *name; guint min, max; } commands[] = {
    { "login", 1, 1 }, { "register", 1, 1 }, { "rooms", 0, 0 }, { "join", 1, 1 },
    { "leave", 1, 1 }, { "send", 1, 2 }, { "listen", 1, G_MAXUINT }, { "history", 1, 1 },
    { "dm", 2, 2 }, { "upload", 2, 2 }, { "download", 1, 2 },
  };
  gboolean known = FALSE;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  context = g_option_context_new (_("COMMAND [ARGUMENT…]"));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_summary (context,
    _("Commands:\n"
      "  login USER            sign in and keep the token in the Secret Service\n"
      "  register USER         create an account (and sign in)\n"
      "  rooms                 list public rooms and yours: name, members,\n"
      "                        joined or -, topic (tab-separated)\n"
      "  join ROOM             join a room (--create [--topic TEXT] to make it)\n"
      "  leave ROOM            leave a room\n"
      "  send ROOM [TEXT]      send TEXT, or each line of the standard input;\n"
      "                        exits once every message is acknowledged\n"
      "  listen ROOM…          print each new message as a JSON line, until\n"
      "                        interrupted; keeps going through reconnects\n"
      "  history ROOM          print the newest messages, oldest first, as JSON\n"
      "                        lines (--limit N, default 50)\n"
      "  dm USER TEXT          send a direct message\n"
      "  upload ROOM FILE      send a file to a room (resumes if cut); prints\n"
      "                        its id, and progress on a terminal\n"
      "  download ID [PATH]    fetch a file to PATH (default: the cache);\n"
      "                        prints where it went"));
  g_option_context_set_description (context,
    _("The password comes from NATTER_PASSWORD when it is set: then natter-cli\n"
      "signs in for this run only and stores nothing. Otherwise it uses the\n"
      "token that “natter-cli login” kept in the Secret Service.\n"
      "\n"
      "Exit status: 0 done, 1 failed (e.g. a message was refused), 2 bad\n"
      "arguments, 3 server unreachable, 4 wrong password or not signed in,\n"
      "5 no such room or not a member, 6 no Secret Service for the token,\n"
      "7 the server's certificate is not trusted (a server with a private\n"
      "certificate authority: --ca-file FILE)."));

  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage_error ("%s", error->message);
  if (opt_version)
    {
      g_print ("natter-cli %s\n", PACKAGE_VERSION);
      return EXIT_OK;
    }
  if (argc < 2)
    return usage_error ("%s", _("no command given"));

  cmd = argv[1];
  n_args = argc - 2;
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_str_equal (cmd, commands[i].name))
      {
        known = TRUE;
        if (n_args < commands[i].min || n_args > commands[i].max)
          return usage_error (_("wrong number of arguments for “%s”"), cmd);
      }
  if (!known)
    return usage_error (_("unknown command “%s”"), cmd);
  if (opt_limit != -1 && !g_str_equal (cmd, "history"))
    return usage_error ("%s", _("--limit only goes with history"));
  if (opt_limit != -1 && (opt_limit < 1 || opt_limit > 100000))
    return usage_error (_("--limit must be between 1 and %d"), 100000);
  if ((opt_create || opt_topic != NULL) && !g_str_equal (cmd, "join"))
    return usage_error ("%s", _("--create and --topic only go with join"));
  if (opt_topic != NULL && !opt_create)
    return usage_error ("%s", _("--topic needs --create"));
  if (opt_ca_file != NULL && (ca_database = natter_ca_database_new (opt_ca_file, &error)) == NULL)
    return usage_error (_("--ca-file: %s"), error->message);

  server = g_strdup (opt_server);
  user = g_strdup (opt_user);
  if (g_str_equal (cmd, "login") || g_str_equal (cmd, "register"))
    {
      g_free (user);
      user = g_strdup (argv[2]);
    }
  if (server == NULL && g_getenv ("NATTER_SERVER") != NULL)
    server = g_strdup (g_getenv ("NATTER_SERVER"));
  if (user == NULL && g_getenv ("NATTER_USER") != NULL)
    user = g_strdup (g_getenv ("NATTER_USER"));
  load_defaults (&server, &user);
  if (server == NULL)
    server = g_strdup (DEFAULT_SERVER);
  if (user == NULL)
    return usage_error ("%s", _("no user: pass --user NAME, or run natter-cli login USER first"));
  if (!natter_chat_user_name_is_valid (user))
    return usage_error (_("“%s” is not a valid user name (1–32 of a-z 0-9 _ . -)"), user);
  if ((g_str_equal (cmd, "join") || g_str_equal (cmd, "leave") || g_str_equal (cmd, "send") ||
       g_str_equal (cmd, "history") || g_str_equal (cmd, "upload")) &&
      !natter_chat_room_name_is_valid (argv[2]))
    return usage_error (_("“%s” is not a valid room name"), argv[2]);
  if (g_str_equal (cmd, "dm") && !natter_chat_user_name_is_valid (argv[2]))
    return usage_error (_("“%s” is not a valid user name"), argv[2]);

  if (g_str_equal (cmd, "upload") &&
      g_file_test (argv[3], G_FILE_TEST_IS_REGULAR))
    {
      upload_cache = upload_cache_path (server, user, argv[2], argv[3]);
      if (!lock_upload_cache (upload_cache, &error))
        {
          g_printerr ("natter-cli: %s\n", error->message);
          return EXIT_FAILED;
        }
      cache_path = upload_cache;
    }

  env_password = g_getenv ("NATTER_PASSWORD");
  loop = g_main_loop_new (NULL, FALSE);
  cli.loop = loop;
  cli.command = cmd;
  cli.args = argv + 2;

  if (g_str_equal (cmd, "login") || g_str_equal (cmd, "register"))
    {
      /* login keeps the token; register does too unless NATTER_PASSWORD
       * says this is a one-off (scripts, tests). */
      NatterTokenStore store = NATTER_TOKEN_STORE_SECRET_SERVICE;

      if (g_str_equal (cmd, "register") && env_password != NULL)
        store = NATTER_TOKEN_STORE_MEMORY;
      password = env_password != NULL ? g_strdup (env_password) : read_password ();
      session = natter_session_new_full (server, user, store, ":memory:");
    }
  else if (env_password != NULL)
    {
      password = g_strdup (env_password);
      session = natter_session_new_full (server, user, NATTER_TOKEN_STORE_MEMORY, cache_path);
    }
  else
    session = natter_session_new_full (server, user, NATTER_TOKEN_STORE_SECRET_SERVICE, cache_path);
  cli.session = session;
  if (ca_database != NULL)
    natter_session_set_tls_database (session, ca_database);

  g_unix_signal_add (SIGINT, on_signal, &cli);
  g_unix_signal_add (SIGTERM, on_signal, &cli);

  if (g_str_equal (cmd, "register"))
    natter_session_register_async (session, password, NULL, signed_in, &cli);
  else if (password != NULL)
    natter_session_login_async (session, password, NULL, signed_in, &cli);
  else
    start_session (&cli);

  g_main_loop_run (loop);

  natter_session_stop (session);
  g_clear_pointer (&cli.ours, g_hash_table_unref);
  g_clear_pointer (&cli.history, g_ptr_array_unref);
  g_clear_object (&cli.transfer);
  g_clear_object (&cli.input);
  if (upload_cache != NULL)
    {
      gboolean unfinished = g_list_model_get_n_items (natter_session_get_transfers (session)) > 0 ||
                            natter_session_get_pending (session) > 0;

      g_clear_object (&session);
      if (!unfinished)
        remove_upload_cache (upload_cache);
    }
  if (password != NULL)
    memset (password, 0, strlen (password));
  return cli.status;
}
