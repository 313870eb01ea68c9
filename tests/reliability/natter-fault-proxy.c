/* natter-fault-proxy.c: blackholes, resets and delays between the
 * reliability tests' clients and natter-server. */
#include "natter-fault-proxy.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

struct _NatterFaultProxy
{
  GSocketService *service;
  guint           port;
  guint           target;
  GPtrArray      *links;  /* Link, open ones (the list holds a reference) */
};

typedef struct _Link Link;

typedef struct
{
  Link          *link;
  GInputStream  *in;
  GOutputStream *out;
  guint8         buf[16384];
  gsize          len;
  gboolean       ended;
} Pump;

struct _Link
{
  NatterFaultProxy *proxy;
  GIOStream        *a;     /* the client's side */
  GIOStream        *b;     /* the server's side */
  GCancellable     *cancellable;
  Pump              up;
  Pump              down;
  gboolean          blackholed;
  gboolean          closed;
  guint             delay_ms;
  guint             refs;
};

static void pump_read (Pump *pump);

static void
link_unref (Link *link)
{
  if (--link->refs > 0)
    return;
  g_clear_object (&link->a);
  g_clear_object (&link->b);
  g_clear_object (&link->cancellable);
  g_free (link);
}

static void
set_linger_zero (GIOStream *stream)
{
  struct linger lg = { 1, 0 };
  GSocket *socket;

  if (stream == NULL)
    return;
  socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream));
  setsockopt (g_socket_get_fd (socket), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
}

/* Small writes go out at once: with Nagle, each hop of the proxy would
 * wait for the peer's delayed ACK (40 ms on Linux) before sending the next
 * small frame, and a send → ack round trip would cost 80 ms or more. */
static void
set_nodelay (GIOStream *stream)
{
  GSocket *socket = g_socket_connection_get_socket (G_SOCKET_CONNECTION (stream));

  g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
}

static void
link_close (Link    *link,
            gboolean reset)
{
  NatterFaultProxy *proxy = link->proxy;

  if (link->closed)
    return;
  link->closed = TRUE;
  g_cancellable_cancel (link->cancellable);
  if (reset)
    {
      set_linger_zero (link->a);
      set_linger_zero (link->b);
    }
  g_io_stream_close (link->a, NULL, NULL);
  if (link->b != NULL)
    g_io_stream_close (link->b, NULL, NULL);
  if (proxy != NULL && g_ptr_array_remove_fast (proxy->links, link))
    link_unref (link);
}

/* A direction ended (EOF or error). A blackholed link never passes that on:
 * the other end must find out by itself. */
static void
pump_ended (Pump *pump)
{
  Link *link = pump->link;

  pump->ended = TRUE;
  if (!link->blackholed || (link->up.ended && link->down.ended))
    link_close (link, FALSE);
}

static void
pump_written (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Pump *pump = user_data;
  Link *link = pump->link;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result, NULL, NULL))
    {
      if (!link->closed)
        pump_ended (pump);
    }
  else if (!link->closed)
    pump_read (pump);
  link_unref (link);
}

static void
pump_forward (Pump *pump)
{
  Link *link = pump->link;

  if (link->blackholed)
    {
      /* Swallowed: the peer sees an open, silent link. */
      pump_read (pump);
      return;
    }
  link->refs++;
  g_output_stream_write_all_async (pump->out, pump->buf, pump->len, G_PRIORITY_DEFAULT,
                                   link->cancellable, pump_written, pump);
}

static gboolean
delay_done (gpointer user_data)
{
  Pump *pump = user_data;
  Link *link = pump->link;

  if (!link->closed)
    pump_forward (pump);
  link_unref (link);
  return G_SOURCE_REMOVE;
}

static void
pump_got (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  Pump *pump = user_data;
  Link *link = pump->link;
  gssize n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, NULL);

  if (link->closed)
    {
      link_unref (link);
      return;
    }
  if (n <= 0)
    {
      pump_ended (pump);
      link_unref (link);
      return;
    }
  pump->len = n;
  if (link->delay_ms > 0 && !link->blackholed)
    {
      link->refs++;
      g_timeout_add (link->delay_ms, delay_done, pump);
    }
  else
    pump_forward (pump);
  link_unref (link);
}

static void
pump_read (Pump *pump)
{
  Link *link = pump->link;

  link->refs++;
  g_input_stream_read_async (pump->in, pump->buf, sizeof pump->buf, G_PRIORITY_DEFAULT,
                             link->cancellable, pump_got, pump);
}

static void
upstream_connected (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  Link *link = user_data;
  GSocketConnection *conn = g_socket_client_connect_finish (G_SOCKET_CLIENT (object), result, NULL);

  if (conn == NULL || link->closed)
    {
      if (conn != NULL)
        g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
      g_clear_object (&conn);
      link_close (link, TRUE);
      link_unref (link);
      return;
    }
  link->b = G_IO_STREAM (conn);
  set_nodelay (link->a);
  set_nodelay (link->b);
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
  NatterFaultProxy *proxy = user_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  Link *link = g_new0 (Link, 1);

  link->proxy = proxy;
  link->a = g_object_ref (G_IO_STREAM (connection));
  link->cancellable = g_cancellable_new ();
  link->refs = 2;  /* the proxy's list and the connect */
  g_ptr_array_add (proxy->links, link);
  g_socket_client_connect_to_host_async (client, "127.0.0.1", proxy->target, link->cancellable,
                                         upstream_connected, link);
  return TRUE;
}

NatterFaultProxy *
natter_fault_proxy_new (guint target_port)
{
  NatterFaultProxy *proxy = g_new0 (NatterFaultProxy, 1);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  proxy->target = target_port;
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
natter_fault_proxy_get_port (NatterFaultProxy *proxy)
{
  return proxy->port;
}

guint
natter_fault_proxy_get_n_live (NatterFaultProxy *proxy)
{
  guint n = 0;

  for (guint i = 0; i < proxy->links->len; i++)
    {
      Link *link = proxy->links->pdata[i];

      if (!link->blackholed && !link->closed)
        n++;
    }
  return n;
}

/* The live links, each drawn with probability @fraction (a copy: resets
 * change the list). */
static GPtrArray *
pick (NatterFaultProxy *proxy,
      GRand            *rand,
      double            fraction)
{
  GPtrArray *picked = g_ptr_array_new ();

  for (guint i = 0; i < proxy->links->len; i++)
    {
      Link *link = proxy->links->pdata[i];

      if (!link->blackholed && !link->closed && g_rand_double (rand) < fraction)
        g_ptr_array_add (picked, link);
    }
  return picked;
}

guint
natter_fault_proxy_blackhole (NatterFaultProxy *proxy,
                              GRand            *rand,
                              double            fraction)
{
  g_autoptr(GPtrArray) links = pick (proxy, rand, fraction);

  for (guint i = 0; i < links->len; i++)
    ((Link *) links->pdata[i])->blackholed = TRUE;
  return links->len;
}

guint
natter_fault_proxy_reset (NatterFaultProxy *proxy,
                          GRand            *rand,
                          double            fraction)
{
  g_autoptr(GPtrArray) links = pick (proxy, rand, fraction);

  for (guint i = 0; i < links->len; i++)
    link_close (links->pdata[i], TRUE);
  return links->len;
}

guint
natter_fault_proxy_delay (NatterFaultProxy *proxy,
                          GRand            *rand,
                          double            fraction,
                          guint             delay_ms)
{
  g_autoptr(GPtrArray) links = NULL;

  if (delay_ms == 0)
    {
      for (guint i = 0; i < proxy->links->len; i++)
        ((Link *) proxy->links->pdata[i])->delay_ms = 0;
      return proxy->links->len;
    }
  links = pick (proxy, rand, fraction);
  for (guint i = 0; i < links->len; i++)
    ((Link *) links->pdata[i])->delay_ms = delay_ms;
  return links->len;
}

void
natter_fault_proxy_free (NatterFaultProxy *proxy)
{
  g_socket_service_stop (proxy->service);
  g_socket_listener_close (G_SOCKET_LISTENER (proxy->service));
  g_clear_object (&proxy->service);
  while (proxy->links->len > 0)
    link_close (proxy->links->pdata[proxy->links->len - 1], FALSE);
  g_ptr_array_unref (proxy->links);
  g_free (proxy);
}
