/* security-common.c: see the header. */
#include "security-common.h"

#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

static guint n_cases;
static const char *area_name;

void
sec_init (int          *argc,
          char       ***argv,
          const char   *area)
{
  natter_test_init (argc, argv);
  area_name = area;
}

guint
sec_scaled (guint n)
{
  const char *env = g_getenv ("NATTER_SECURITY_SCALE");
  double scale = env != NULL ? g_ascii_strtod (env, NULL) : 1.0;

  if (scale <= 0)
    scale = 1.0;
  return MAX (1, (guint) (n * scale));
}

/* ---- fixture ------------------------------------------------------------------------ */

static void
fixture_setup (SecFixture    *f,
               gconstpointer  data)
{
  SecTweak tweak = (SecTweak) data;

  f->ts = natter_test_server_new ();
  if (tweak != NULL)
    tweak (f->ts->config);
  natter_test_server_start (f->ts);
  f->port = natter_server_get_port (f->ts->server);
  f->rss_start = natter_test_get_rss ();
}

static void
fixture_teardown (SecFixture    *f,
                  gconstpointer  data)
{
  natter_test_server_free (f->ts);
}

void
sec_add (const char *path,
         SecTweak    tweak,
         SecCase     func)
{
  n_cases++;
  g_test_add (path, SecFixture, (gconstpointer) tweak, fixture_setup,
              (void (*) (SecFixture *, gconstpointer)) func, fixture_teardown);
}

int
sec_run (void)
{
  int status;

  g_test_message ("security/%s: %u bad-input cases", area_name, n_cases);
  status = g_test_run ();
  g_print ("# security/%s: %u bad-input cases, each followed by a healthy-client check\n",
           area_name, n_cases);
  return status;
}

/* ---- health ------------------------------------------------------------------------------ */

void
sec_assert_ok (JsonObject *ack)
{
  g_assert_nonnull (ack);
  if (!json_object_get_boolean_member_with_default (ack, "ok", FALSE))
    g_error ("expected ok, got %s: %s",
             json_object_get_string_member_with_default (ack, "error", "?"),
             json_object_get_string_member_with_default (ack, "message", "?"));
}

void
sec_assert_error (JsonObject *ack,
                  const char *code)
{
  g_assert_nonnull (ack);
  g_assert_false (json_object_get_boolean_member_with_default (ack, "ok", TRUE));
  g_assert_cmpstr (json_object_get_string_member_with_default (ack, "error", ""), ==, code);
}

NatterTestClient *
sec_connect_token (const char *url,
                   const char *token)
{
  NatterTestClient *client = natter_test_client_new (url);
  g_autoptr(GError) error = NULL;

  natter_test_client_connect (client, token, &error);
  g_assert_no_error (error);
  return client;
}

NatterTestClient *
sec_connect_user (const char  *url,
                  const char  *user,
                  char       **out_token)
{
  g_autofree char *token = natter_test_register (url, user);
  NatterTestClient *client = sec_connect_token (url, token);

  if (out_token != NULL)
    *out_token = g_steal_pointer (&token);
  return client;
}

void
sec_assert_healthy (const char *url)
{
  static guint round;
  g_autofree char *user = g_strdup_printf ("healthy%u.%u", (guint) getpid () % 1000, round);
  g_autofree char *room = g_strdup_printf ("health-%u", round);
  g_autofree char *join = g_strdup_printf ("{\"room\":\"%s\",\"create\":true}", room);
  g_autofree char *send = g_strdup_printf ("{\"room\":\"%s\",\"cid\":\"h-%u\",\"text\":\"alive %u\"}",
                                           room, round, round);
  g_autofree char *hist = g_strdup_printf ("{\"room\":\"%s\"}", room);
  g_autoptr(NatterTestClient) client = NULL;
  g_autoptr(JsonObject) joined = NULL;
  g_autoptr(JsonObject) sent = NULL;
  g_autoptr(JsonObject) history = NULL;
  JsonObject *event;
  JsonArray *messages;

  round++;
  client = sec_connect_user (url, user, NULL);
  joined = natter_test_client_call_json (client, "join", join);
  sec_assert_ok (joined);
  sent = natter_test_client_call_json (client, "send", send);
  sec_assert_ok (sent);
  event = natter_test_client_wait_event (client, "message", 0);
  g_assert_nonnull (event);
  g_assert_cmpstr (json_object_get_string_member (event, "room"), ==, room);
  history = natter_test_client_call_json (client, "history", hist);
  sec_assert_ok (history);
  messages = json_object_get_array_member (history, "messages");
  g_assert_cmpuint (json_array_get_length (messages), ==, 1);
  g_assert_true (natter_test_client_is_open (client));
}

void
sec_assert_fixture_ok (SecFixture *f)
{
  gsize rss;

  sec_assert_healthy (f->ts->url);
  rss = natter_test_get_rss ();
  g_test_message ("RSS %zu KiB → %zu KiB", f->rss_start / 1024, rss / 1024);
  g_assert_cmpuint (rss, <, f->rss_start + SEC_RSS_SLACK);
}

/* ---- a natter-server process ----------------------------------------------------------------- */

struct _SecProcess
{
  GSubprocess      *process;
  GDataInputStream *lines;
  GString          *output;
  char             *dir;
  char             *url;
  guint             port;
  gboolean          exited;
  gboolean          eof;
};

static void
process_line_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  SecProcess *process = user_data;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source),
                                                                result, NULL, NULL);
  const char *at;

  if (line == NULL)
    {
      process->eof = TRUE;
      return;
    }
  g_string_append_printf (process->output, "%s\n", line);
  at = strstr (line, "listening on 127.0.0.1:");
  if (at != NULL && process->port == 0)
    process->port = atoi (at + strlen ("listening on 127.0.0.1:"));
  g_data_input_stream_read_line_async (process->lines, G_PRIORITY_DEFAULT, NULL,
                                       process_line_cb, process);
}

static void
process_exited_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  SecProcess *process = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  process->exited = TRUE;
}

static gboolean
process_port_cond (gpointer data)
{
  SecProcess *process = data;

  return process->port != 0 || process->exited;
}

static gboolean
process_done_cond (gpointer data)
{
  SecProcess *process = data;

  return process->exited && process->eof;
}

SecProcess *
sec_process_start (const char         *limits,
                   const char * const *extra_args)
{
  SecProcess *process = g_new0 (SecProcess, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree char *conf = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *data_dir = NULL;
  const char *bin = g_getenv ("NATTER_SERVER_BIN");

  if (bin == NULL)
    g_error ("NATTER_SERVER_BIN is not set (run through meson test)");

  process->dir = g_dir_make_tmp ("natter-security-XXXXXX", &error);
  g_assert_no_error (error);
  conf = g_build_filename (process->dir, "natter.conf", NULL);
  data_dir = g_build_filename (process->dir, "data", NULL);
  contents = g_strdup_printf ("[server]\naddress=127.0.0.1\nport=0\ndata-dir=%s\n[limits]\n%s",
                              data_dir, limits != NULL ? limits : "");
  g_file_set_contents (conf, contents, -1, &error);
  g_assert_no_error (error);

  g_ptr_array_add (argv, (gpointer) bin);
  g_ptr_array_add (argv, (gpointer) "--config");
  g_ptr_array_add (argv, conf);
  for (; extra_args != NULL && *extra_args != NULL; extra_args++)
    g_ptr_array_add (argv, (gpointer) *extra_args);
  g_ptr_array_add (argv, NULL);

  process->output = g_string_new (NULL);
  {
    g_autoptr(GSubprocessLauncher) launcher =
      natter_test_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
#ifdef NATTER_TEST_ASAN
    /* The server's RSS is measured: keep AddressSanitizer's quarantine of
     * freed memory small, so that growth means memory really kept. */
    const char *asan = g_getenv ("ASAN_OPTIONS");
    g_autofree char *options = g_strconcat (asan != NULL && *asan != '\0' ? asan : "",
                                            asan != NULL && *asan != '\0' ? ":" : "",
                                            "quarantine_size_mb=16", NULL);

    g_subprocess_launcher_setenv (launcher, "ASAN_OPTIONS", options, TRUE);
#endif
    process->process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  }
  g_assert_no_error (error);
  process->lines = g_data_input_stream_new (g_subprocess_get_stdout_pipe (process->process));
  g_data_input_stream_read_line_async (process->lines, G_PRIORITY_DEFAULT, NULL,
                                       process_line_cb, process);
  g_subprocess_wait_async (process->process, NULL, process_exited_cb, process);

  g_assert_true (natter_test_wait (process_port_cond, process, 4 * NATTER_TEST_TIMEOUT_MS));
  if (process->exited || process->port == 0)
    g_error ("natter-server did not start:\n%s", process->output->str);
  process->url = g_strdup_printf ("http://127.0.0.1:%u", process->port);
  return process;
}

static void
remove_dir (const char *dir)
{
  const char *argv[] = { "rm", "-rf", dir, NULL };

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL, NULL);
}

void
sec_process_stop (SecProcess *process)
{
  if (process == NULL)
    return;

  if (!process->exited)
    g_subprocess_send_signal (process->process, SIGTERM);
  if (!natter_test_wait (process_done_cond, process, 6 * NATTER_TEST_TIMEOUT_MS))
    {
      g_subprocess_force_exit (process->process);
      g_error ("natter-server did not stop on SIGTERM:\n%s", process->output->str);
    }
  if (!g_subprocess_get_if_exited (process->process) ||
      g_subprocess_get_exit_status (process->process) != 0)
    g_error ("natter-server did not exit cleanly:\n%s", process->output->str);

  remove_dir (process->dir);
  g_clear_object (&process->lines);
  g_clear_object (&process->process);
  g_string_free (process->output, TRUE);
  g_free (process->dir);
  g_free (process->url);
  g_free (process);
}

void
sec_process_kill (SecProcess *process)
{
  if (process == NULL)
    return;

  g_subprocess_force_exit (process->process);
  natter_test_wait (process_done_cond, process, 6 * NATTER_TEST_TIMEOUT_MS);
  remove_dir (process->dir);
  g_clear_object (&process->lines);
  g_clear_object (&process->process);
  g_string_free (process->output, TRUE);
  g_free (process->dir);
  g_free (process->url);
  g_free (process);
}

const char *
sec_process_get_url (SecProcess *process)
{
  return process->url;
}

guint
sec_process_get_port (SecProcess *process)
{
  return process->port;
}

const char *
sec_process_get_output (SecProcess *process)
{
  return process->output->str;
}

gsize
sec_process_get_rss (SecProcess *process)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status",
                                           g_subprocess_get_identifier (process->process));
  g_autofree char *status = NULL;
  const char *at;

  if (!g_file_get_contents (path, &status, NULL, NULL))
    return 0;
  at = strstr (status, "\nVmRSS:");
  if (at == NULL)
    return 0;
  return g_ascii_strtoull (at + strlen ("\nVmRSS:"), NULL, 10) * 1024;
}

guint
sec_process_count_fds (SecProcess *process)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/fd",
                                           g_subprocess_get_identifier (process->process));
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  guint n = 0;

  if (dir == NULL)
    return 0;
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}

typedef struct
{
  SecProcess *process;
  guint       n;
} FdWait;

static gboolean
fds_cond (gpointer data)
{
  FdWait *wait = data;

  return sec_process_count_fds (wait->process) <= wait->n;
}

gboolean
sec_process_wait_fds_at_most (SecProcess *process,
                              guint       n,
                              guint       timeout_ms)
{
  FdWait wait = { process, n };

  return natter_test_wait (fds_cond, &wait, timeout_ms);
}

/* ---- raw frames ------------------------------------------------------------------------------ */

void
sec_frame_append (GByteArray  *out,
                  guint8       first,
                  gboolean     mask,
                  guint64      declared_len,
                  const void  *payload,
                  gsize        len)
{
  static const guint8 key[4] = { 0x37, 0xfa, 0x21, 0x3d };
  guint8 header[14];
  gsize n = 0, i, start;

  header[n++] = first;
  if (declared_len < 126)
    header[n++] = (mask ? 0x80 : 0) | (guint8) declared_len;
  else if (declared_len <= 0xffff)
    {
      header[n++] = (mask ? 0x80 : 0) | 126;
      header[n++] = (guint8) (declared_len >> 8);
      header[n++] = (guint8) declared_len;
    }
  else
    {
      header[n++] = (mask ? 0x80 : 0) | 127;
      for (i = 0; i < 8; i++)
        header[n++] = (guint8) (declared_len >> (56 - 8 * i));
    }
  if (mask)
    for (i = 0; i < 4; i++)
      header[n++] = key[i];
  g_byte_array_append (out, header, n);

  start = out->len;
  if (len > 0)
    g_byte_array_append (out, payload, len);
  if (mask)
    for (i = 0; i < len; i++)
      out->data[start + i] ^= key[i % 4];
}

void
sec_raw_frame (NatterTestRaw *raw,
               guint8         first,
               gboolean       mask,
               const void    *payload,
               gsize          len)
{
  g_autoptr(GByteArray) frame = g_byte_array_new ();

  sec_frame_append (frame, first, mask, len, payload, len);
  natter_test_raw_write (raw, frame->data, frame->len);
}

void
sec_parse_frames (GByteArray   *input,
                  SecFrameFunc  func,
                  gpointer      data)
{
  const guint8 *p = input->data;
  gsize at = 0;

  while (at + 2 <= input->len)
    {
      guint8 opcode = p[at] & 0x0f;
      guint64 len = p[at + 1] & 0x7f;
      gsize hdr = 2, i;

      if (len == 126)
        {
          if (at + 4 > input->len)
            return;
          len = ((guint64) p[at + 2] << 8) | p[at + 3];
          hdr = 4;
        }
      else if (len == 127)
        {
          if (at + 10 > input->len)
            return;
          len = 0;
          for (i = 0; i < 8; i++)
            len = (len << 8) | p[at + 2 + i];
          hdr = 10;
        }
      if (len > input->len || at + hdr + len > input->len)
        return;
      func (opcode, p + at + hdr, (gsize) len, data);
      at += hdr + len;
    }
}

static void
close_code_cb (guint8        opcode,
               const guint8 *payload,
               gsize         len,
               gpointer      data)
{
  int *code = data;

  if (opcode != 0x8 || *code != -1)
    return;
  *code = len >= 2 ? (payload[0] << 8) | payload[1] : 0;
}

int
sec_raw_wait_close_code (NatterTestRaw *raw,
                         guint          timeout_ms)
{
  int code = -1;

  natter_test_raw_wait_eof (raw, timeout_ms);
  sec_parse_frames (natter_test_raw_get_input (raw), close_code_cb, &code);
  return code;
}

typedef struct
{
  NatterTestRaw *raw;
  const char    *prefix;
  gboolean       found;
} TextWait;

static void
text_cb (guint8        opcode,
         const guint8 *payload,
         gsize         len,
         gpointer      data)
{
  TextWait *wait = data;
  gsize n = strlen (wait->prefix);

  if (opcode == 0x1 && len >= n && memcmp (payload, wait->prefix, n) == 0)
    wait->found = TRUE;
}

static gboolean
text_cond (gpointer data)
{
  TextWait *wait = data;
  gboolean open = natter_test_raw_pump (wait->raw);

  wait->found = FALSE;
  sec_parse_frames (natter_test_raw_get_input (wait->raw), text_cb, wait);
  return wait->found || !open;
}

gboolean
sec_raw_wait_text (NatterTestRaw *raw,
                   const char    *prefix,
                   guint          timeout_ms)
{
  TextWait wait = { raw, prefix, FALSE };

  natter_test_wait (text_cond, &wait, timeout_ms);
  return wait.found;
}

NatterTestRaw *
sec_raw_session (guint       port,
                 int         rcvbuf,
                 const char *token)
{
  NatterTestRaw *raw = natter_test_raw_connect (port, rcvbuf);

  g_assert_cmpuint (natter_test_raw_upgrade (raw, NULL), ==, 101);
  g_assert_true (sec_raw_wait_text (raw, "0{", NATTER_TEST_TIMEOUT_MS));
  if (token != NULL)
    {
      g_autofree char *connect = g_strdup_printf ("40{\"token\":\"%s\"}", token);

      sec_raw_frame (raw, 0x81, TRUE, connect, strlen (connect));
      g_assert_true (sec_raw_wait_text (raw, "40{\"sid\"", NATTER_TEST_TIMEOUT_MS));
    }
  return raw;
}

/* ---- HTTP requests --------------------------------------------------------------------- */

typedef struct
{
  GBytes  *body;
  GError  *error;
  gboolean done;
} Reply;

static void
reply_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Reply *reply = user_data;

  reply->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &reply->error);
  reply->done = TRUE;
}

static gboolean
reply_cond (gpointer data)
{
  return ((Reply *) data)->done;
}

/* Sends @msg on @session (a new default one when NULL); returns the status,
 * 0 with @error set on a transport failure. */
guint
sec_send_message (SoupSession  *session,
                  SoupMessage  *msg,
                  GBytes      **out_body,
                  GError      **error)
{
  g_autoptr(SoupSession) own = session == NULL ? soup_session_new () : NULL;
  Reply reply = { 0, };

  soup_session_send_and_read_async (session != NULL ? session : own, msg, G_PRIORITY_DEFAULT, NULL,
                                    reply_cb, &reply);
  g_assert_true (natter_test_wait (reply_cond, &reply, NATTER_TEST_TIMEOUT_MS));
  if (reply.error != NULL)
    {
      g_propagate_error (error, reply.error);
      return 0;
    }
  if (out_body != NULL)
    *out_body = g_steal_pointer (&reply.body);
  g_clear_pointer (&reply.body, g_bytes_unref);
  return soup_message_get_status (msg);
}

SoupMessage *
sec_api_message (const char *url,
                 const char *method,
                 const char *path,
                 const char *body,
                 const char *header,
                 const char *value)
{
  g_autofree char *full = g_strconcat (url, path, NULL);
  SoupMessage *msg = soup_message_new (method, full);

  g_assert_nonnull (msg);
  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }
  if (header != NULL)
    soup_message_headers_replace (soup_message_get_request_headers (msg), header, value);
  return msg;
}
