/* natter-test-util.c: shared fixtures of the client and cli tests. */
#include "natter-test-util.h"

#include <glib/gstdio.h>
#include <stdio.h>

gboolean
natter_test_tick (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

char *
natter_test_mkdtemp (void)
{
  g_autoptr(GError) error = NULL;
  char *dir = g_dir_make_tmp ("natter-test-XXXXXX", &error);

  g_assert_no_error (error);
  return dir;
}

void
natter_test_rm_rf (const char *path)
{
  g_autoptr(GFile) file = g_file_new_for_path (path);
  g_autoptr(GFileEnumerator) children = NULL;

  children = g_file_enumerate_children (file, G_FILE_ATTRIBUTE_STANDARD_NAME ","
                                        G_FILE_ATTRIBUTE_STANDARD_TYPE,
                                        G_FILE_QUERY_INFO_NOFOLLOW_SYMLINKS, NULL, NULL);
  if (children != NULL)
    {
      GFileInfo *info;

      while ((info = g_file_enumerator_next_file (children, NULL, NULL)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, g_file_info_get_name (info), NULL);

          if (g_file_info_get_file_type (info) == G_FILE_TYPE_DIRECTORY)
            natter_test_rm_rf (child);
          else
            g_unlink (child);
          g_object_unref (info);
        }
    }
  g_rmdir (path);
}

#define BLOCK_BYTES (1024 * 1024)

GFile *
natter_test_make_file (const char  *dir,
                       const char  *name,
                       gsize        size,
                       char       **out_sha256)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint32 *block = g_malloc (BLOCK_BYTES);
  guint32 x = (guint32) size | 1;
  FILE *out = fopen (path, "wb");
  gsize left = size;

  g_assert_nonnull (out);
  while (left > 0)
    {
      gsize n = MIN (left, (gsize) BLOCK_BYTES);

      for (gsize i = 0; i < BLOCK_BYTES / 4; i++)
        {
          x ^= x << 13;
          x ^= x >> 17;
          x ^= x << 5;
          block[i] = x;
        }
      g_assert_cmpuint (fwrite (block, 1, n, out), ==, n);
      g_checksum_update (sha, (guchar *) block, n);
      left -= n;
    }
  g_assert_cmpint (fclose (out), ==, 0);
  *out_sha256 = g_strdup (g_checksum_get_string (sha));
  return g_file_new_for_path (path);
}

char *
natter_test_file_sha256 (const char *path)
{
  g_autoptr(GChecksum) sha = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree guint8 *buffer = g_malloc (BLOCK_BYTES);
  FILE *in = fopen (path, "rb");
  gsize n;

  g_assert_nonnull (in);
  while ((n = fread (buffer, 1, BLOCK_BYTES, in)) > 0)
    g_checksum_update (sha, buffer, n);
  g_assert_false (ferror (in));
  fclose (in);
  return g_strdup (g_checksum_get_string (sha));
}

static void
start_server (NatterTestServer *ts,
              guint             port)
{
  g_autoptr(NatterServerConfig) config = natter_server_config_new ();
  g_autoptr(GError) error = NULL;

  g_free (config->address);
  config->address = g_strdup ("127.0.0.1");
  config->port = port;
  g_free (config->data_dir);
  config->data_dir = g_strdup (ts->data_dir);
  config->fast_password_hashing = TRUE;
  config->send_rate = 100000;
  config->send_burst = 100000;
  config->tls_cert_file = g_strdup (ts->tls_cert);
  config->tls_key_file = g_strdup (ts->tls_key);
  if (ts->ping_interval_ms > 0)
    {
      config->ping_interval_ms = ts->ping_interval_ms;
      config->ping_timeout_ms = ts->ping_timeout_ms;
    }

  /* The old listener of a restart may close on a later main-loop turn:
   * keep turning it until the port is free again, within a deadline. */
  {
    gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

    for (;;)
      {
        ts->server = natter_server_new (config);
        if (natter_server_start (ts->server, &error))
          break;
        if (port == 0 || g_get_monotonic_time () > deadline)
          g_error ("cannot start natter-server: %s", error->message);
        g_clear_error (&error);
        g_clear_object (&ts->server);
        g_main_context_iteration (NULL, FALSE);
      }
  }
  ts->port = natter_server_get_port (ts->server);
  g_free (ts->url);
  ts->url = natter_server_dup_base_url (ts->server);
}

NatterTestServer *
natter_test_server_new (guint ping_interval_ms,
                        guint ping_timeout_ms)
{
  NatterTestServer *ts = g_new0 (NatterTestServer, 1);

  ts->data_dir = natter_test_mkdtemp ();
  ts->ping_interval_ms = ping_interval_ms;
  ts->ping_timeout_ms = ping_timeout_ms;
  start_server (ts, 0);
  return ts;
}

NatterTestServer *
natter_test_server_new_tls (const char *cert,
                            const char *key)
{
  NatterTestServer *ts = g_new0 (NatterTestServer, 1);

  ts->data_dir = natter_test_mkdtemp ();
  ts->tls_cert = g_strdup (cert);
  ts->tls_key = g_strdup (key);
  start_server (ts, 0);
  return ts;
}

void
natter_test_server_stop (NatterTestServer *ts)
{
  if (ts->server == NULL)
    return;
  natter_server_stop (ts->server);
  g_clear_object (&ts->server);
}

void
natter_test_server_restart (NatterTestServer *ts)
{
  natter_test_server_stop (ts);
  start_server (ts, ts->port);
}

void
natter_test_server_free (NatterTestServer *ts)
{
  natter_test_server_stop (ts);
  natter_test_rm_rf (ts->data_dir);
  g_free (ts->data_dir);
  g_free (ts->url);
  g_free (ts->tls_cert);
  g_free (ts->tls_key);
  g_free (ts);
}

static void
store_result (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (result);
}

NatterSession *
natter_test_session_new (const char *url,
                         const char *user,
                         const char *cache_dir,
                         gboolean    login)
{
  g_autofree char *cache = NULL;
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  NatterSession *session;

  cache = cache_dir != NULL ? g_strdup_printf ("%s/%s.db", cache_dir, user) : g_strdup (":memory:");
  session = natter_session_new_full (url, user, NATTER_TOKEN_STORE_MEMORY, cache);
  if (login)
    natter_session_login_async (session, "secret-password", NULL, store_result, &result);
  else
    natter_session_register_async (session, "secret-password", NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 10000);
  if (login)
    natter_session_login_finish (session, result, &error);
  else
    natter_session_register_finish (session, result, &error);
  g_assert_no_error (error);

  g_assert_true (natter_session_start (session, &error));
  g_assert_no_error (error);
  natter_test_wait_until (natter_session_get_state (session) == NATTER_SESSION_STATE_ONLINE, 10000);
  return session;
}

NatterRoom *
natter_test_join (NatterSession *session,
                  const char    *name)
{
  g_autoptr(GAsyncResult) result = NULL;
  g_autoptr(GError) error = NULL;
  NatterRoom *room;

  natter_session_join_async (session, name, TRUE, NULL, NULL, store_result, &result);
  natter_test_wait_until (result != NULL, 10000);
  room = natter_session_join_finish (session, result, &error);
  g_assert_no_error (error);
  g_assert_nonnull (room);
  g_object_unref (room);  /* the session keeps it */
  return room;
}

static char *
line_for (NatterMessage *message)
{
  return g_strdup_printf ("%" G_GINT64_FORMAT ":%s:%s", natter_message_get_seq (message),
                          natter_message_get_from (message), natter_message_get_text (message));
}

GPtrArray *
natter_test_server_history (NatterSession *session,
                            const char    *room)
{
  g_autoptr(GPtrArray) pages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  gint64 before = 0;
  gboolean more = TRUE;

  /* Newest page first (no before), then back page by page. */
  while (more)
    {
      g_autoptr(GAsyncResult) result = NULL;
      g_autoptr(GError) error = NULL;
      GPtrArray *page;

      natter_session_history_async (session, room, before, 0, 200, NULL, store_result, &result);
      natter_test_wait_until (result != NULL, 10000);
      page = natter_session_history_finish (session, result, &more, &error);
      g_assert_no_error (error);
      g_ptr_array_insert (pages, 0, page);
      if (page->len == 0)
        break;
      before = natter_message_get_seq (g_ptr_array_index (page, 0));
    }
  for (guint p = 0; p < pages->len; p++)
    {
      GPtrArray *page = g_ptr_array_index (pages, p);

      for (guint i = 0; i < page->len; i++)
        g_ptr_array_add (lines, line_for (g_ptr_array_index (page, i)));
    }
  return lines;
}

GPtrArray *
natter_test_timeline_lines (NatterTimeline *timeline)
{
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (timeline));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(NatterMessage) message = g_list_model_get_item (G_LIST_MODEL (timeline), i);

      if (natter_message_get_state (message) == NATTER_MESSAGE_STATE_SENT)
        g_ptr_array_add (lines, line_for (message));
    }
  return lines;
}

/* ---- proxy ------------------------------------------------------------ */

struct _NatterTestProxy
{
  GSocketService *service;
  guint           port;
  guint           target;
  GPtrArray      *links;
};

typedef struct _Link Link;

typedef struct
{
  Link          *link;
  GInputStream  *in;
  GOutputStream *out;
  guint8         buf[16384];
} Pump;

struct _Link
{
  NatterTestProxy *proxy;
  GIOStream       *a;
  GIOStream       *b;
  Pump             up;
  Pump             down;
  gboolean         blackholed;
  gboolean         closed;
  guint            refs;
};

static void pump_read (Pump *pump);

static void
link_unref (Link *link)
{
  if (--link->refs > 0)
    return;
  g_clear_object (&link->a);
  g_clear_object (&link->b);
  g_free (link);
}

static void
link_close (Link *link)
{
  if (link->closed)
    return;
  link->closed = TRUE;
  g_io_stream_close (link->a, NULL, NULL);
  if (link->b != NULL)
    g_io_stream_close (link->b, NULL, NULL);
}

static void
pump_written (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Pump *pump = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result, NULL, NULL) ||
      pump->link->closed)
    {
      link_close (pump->link);
      link_unref (pump->link);
      return;
    }
  pump_read (pump);
  link_unref (pump->link);
}

static void
pump_got (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  Pump *pump = user_data;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, NULL);

  if (n <= 0 || pump->link->closed)
    {
      link_close (pump->link);
      link_unref (pump->link);
      return;
    }
  if (pump->link->blackholed)
    {
      /* Swallow: the peer sees an open, silent link. */
      pump_read (pump);
      link_unref (pump->link);
      return;
    }
  g_output_stream_write_all_async (pump->out, pump->buf, n, G_PRIORITY_DEFAULT, NULL,
                                   pump_written, pump);
}

static void
pump_read (Pump *pump)
{
  pump->link->refs++;
  g_input_stream_read_async (pump->in, pump->buf, sizeof pump->buf, G_PRIORITY_DEFAULT, NULL,
                             pump_got, pump);
}

static void
upstream_connected (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Link *link = user_data;
  GSocketConnection *conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (object), result, NULL);

  if (conn == NULL)
    {
      link_close (link);
      link_unref (link);
      return;
    }
  link->b = G_IO_STREAM (conn);
  link->up.link = link;
  link->up.in = g_io_stream_get_input_stream (link->a);
  link->up.out = g_io_stream_get_output_stream (link->b);
  link->down.link = link;
  link->down.in = g_io_stream_get_input_stream (link->b);
  link->down.out = g_io_stream_get_output_stream (link->a);
  pump_read (&link->up);
  pump_read (&link->down);
  link_unref (link);
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source,
             gpointer           user_data)
{
  NatterTestProxy *proxy = user_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  Link *link = g_new0 (Link, 1);

  link->proxy = proxy;
  link->a = g_object_ref (G_IO_STREAM (connection));
  link->refs = 2;  /* the proxy's list and the connect */
  g_ptr_array_add (proxy->links, link);
  g_socket_client_connect_to_host_async (client, "127.0.0.1", proxy->target, NULL,
                                         upstream_connected, link);
  return TRUE;
}

NatterTestProxy *
natter_test_proxy_new (guint port)
{
  NatterTestProxy *proxy = g_new0 (NatterTestProxy, 1);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  proxy->target = port;
  proxy->links = g_ptr_array_new ();
  proxy->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (proxy->service), address,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL,
                                 &effective, &error);
  g_assert_no_error (error);
  proxy->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_signal_connect (proxy->service, "incoming", G_CALLBACK (on_incoming), proxy);
  g_socket_service_start (proxy->service);
  return proxy;
}

guint
natter_test_proxy_get_port (NatterTestProxy *proxy)
{
  return proxy->port;
}

guint
natter_test_proxy_get_n_links (NatterTestProxy *proxy)
{
  return proxy->links->len;
}

void
natter_test_proxy_blackhole (NatterTestProxy *proxy)
{
  for (guint i = 0; i < proxy->links->len; i++)
    ((Link *) proxy->links->pdata[i])->blackholed = TRUE;
}

void
natter_test_proxy_cut (NatterTestProxy *proxy)
{
  for (guint i = 0; i < proxy->links->len; i++)
    link_close (proxy->links->pdata[i]);
}

void
natter_test_proxy_free (NatterTestProxy *proxy)
{
  g_socket_service_stop (proxy->service);
  g_socket_listener_close (G_SOCKET_LISTENER (proxy->service));
  g_clear_object (&proxy->service);
  for (guint i = 0; i < proxy->links->len; i++)
    {
      Link *link = proxy->links->pdata[i];

      link_close (link);
      link_unref (link);
    }
  g_ptr_array_unref (proxy->links);
  g_free (proxy);
}
