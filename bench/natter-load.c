/* natter-load: a Socket.IO load generator for Natter's chat protocol.
 *
 * One thread, one epoll loop, raw non-blocking sockets: HTTP/1.1 for
 * register/login, RFC 6455 WebSocket framing written here, and the
 * project's protocol codec (src/protocol) for the Engine.IO open packet,
 * CONNECT, join and every ack. The one hot path that skips the codec is an
 * incoming `message` event: its send timestamp is found by a memmem() for
 * the marker this tool put in the text, so that the generator is not the
 * bottleneck when one message fans out to a thousand connections. The tool
 * reports its own CPU use (getrusage) beside every measurement.
 *
 * Phases: register (or reuse tokens from --tokens FILE), open N Socket.IO
 * connections (CONNECT with the token, join the connection's room), then
 * optionally hold them idle (--hold), optionally time history calls
 * (--history), then one send step per --rates entry.
 * Each step sends at the given rate (messages/s in total, round-robin over
 * the connections) for --step-seconds, waits for the deliveries to drain,
 * and prints one JSON line: latency percentiles (send timestamp carried in
 * the message text), deliveries/s, errors, server CPU and RSS (--server-pid).
 * Results go to stdout as JSON lines; progress to stderr.
 *
 * Only loopback targets are accepted (127.0.0.0/8).
 */
#define _GNU_SOURCE 1
#include <natter-protocol.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define PASSWORD "bench-password-1"
#define MARKER "\"text\":\"T"

typedef enum
{
  ST_NONE,
  ST_HTTP,          /* register/login request in flight */
  ST_WS_CONNECT,    /* TCP connect in flight */
  ST_WS_UPGRADE,    /* waiting for 101 */
  ST_EIO_OPEN,      /* waiting for the Engine.IO open packet */
  ST_SIO_CONNECT,   /* CONNECT sent, waiting for 40 */
  ST_LEAVING,       /* leave general sent, waiting for its ack */
  ST_JOINING,       /* join sent, waiting for its ack */
  ST_JOINED,
  ST_DEAD,
} ConnState;

typedef struct
{
  char  *data;
  size_t len;
  size_t cap;
} Buf;

typedef struct
{
  int        fd;
  ConnState  state;
  int        index;     /* connection index, or user index for HTTP */
  int        user;
  int        room;
  gboolean   login;     /* HTTP: login instead of register */
  Buf        in;
  Buf        out;
  GString   *frag;      /* a fragmented WebSocket message being gathered */
  guint32    mask;
  gint64     next_id;
  gint64     join_id;
} Conn;

typedef struct
{
  /* options */
  char       *host;
  int         port;
  int         n_conns;
  int         n_users;
  int         room_size;
  int         n_sources;
  char       *rates;
  double      step_seconds;
  double      drain_seconds;
  int         msg_bytes;
  double      hold_seconds;
  gboolean    storm;
  int         server_pid;
  char       *prefix;
  char       *tokens_file;
  gboolean    register_only;
  double      p99_stop_ms;
  int         http_concurrency;
  int         connect_concurrency;
  double      setup_timeout;
  gboolean    stay_in_general;
  int         history_calls;
  int         history_limit;

  /* state */
  int         epfd;
  struct sockaddr_in target;
  char      **tokens;        /* per user */
  int         users_done;
  int         users_failed;
  int         http_next;
  int         http_inflight;
  Conn      **conns;
  int         ws_next;
  int         ws_inflight;
  int         joined;
  int         failed;
  int        *room_conns;    /* joined connections per room */
  int         n_rooms;
  char        first_error[256];

  /* the current step */
  int         step;
  gint64      expected;
  gint64      delivered;
  gint64      sent;
  gint64      acked_ok;
  gint64      acked_err;
  gint64      closed;
  gint64      last_delivery_us;
  guint32    *lat;
  size_t      lat_len;
  size_t      lat_cap;
  GHashTable *ack_errors;    /* code → count */
  gint64      other_events;

  /* --history: the call in flight */
  gint64      history_id;
  gboolean    history_waiting;
  gboolean    history_ok;
  int         history_messages;
} Load;

static Load L;
static char rbuf[256 * 1024];

static gint64
now_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
note_error (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
note_error (const char *fmt, ...)
{
  va_list ap;

  if (L.first_error[0] != '\0')
    return;
  va_start (ap, fmt);
  vsnprintf (L.first_error, sizeof L.first_error, fmt, ap);
  va_end (ap);
}

/* ------------------------------------------------------------------ buffers */

static void
buf_reserve (Buf *b, size_t extra)
{
  if (b->len + extra <= b->cap)
    return;
  b->cap = MAX (b->cap * 2, b->len + extra + 1024);
  b->data = g_realloc (b->data, b->cap);
}

static void
buf_append (Buf *b, const void *data, size_t len)
{
  buf_reserve (b, len);
  memcpy (b->data + b->len, data, len);
  b->len += len;
}

static void
buf_consume (Buf *b, size_t n)
{
  if (n >= b->len)
    {
      b->len = 0;
      if (b->cap > 65536)
        {
          g_free (b->data);
          b->data = NULL;
          b->cap = 0;
        }
      return;
    }
  memmove (b->data, b->data + n, b->len - n);
  b->len -= n;
}

static void
buf_clear (Buf *b)
{
  g_free (b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

/* ------------------------------------------------------- /proc of the server */

static gint64
server_rss_kb (void)
{
  char path[64], line[256];
  FILE *f;
  gint64 kb = -1;

  if (L.server_pid <= 0)
    return -1;
  snprintf (path, sizeof path, "/proc/%d/status", L.server_pid);
  f = fopen (path, "r");
  if (f == NULL)
    return -1;
  while (fgets (line, sizeof line, f))
    if (strncmp (line, "VmRSS:", 6) == 0)
      {
        kb = g_ascii_strtoll (line + 6, NULL, 10);
        break;
      }
  fclose (f);
  return kb;
}

/* utime + stime of the server, in seconds */
static double
server_cpu_s (void)
{
  char path[64], text[2048];
  FILE *f;
  size_t n;
  char *p;
  unsigned long utime = 0, stime = 0;

  if (L.server_pid <= 0)
    return -1;
  snprintf (path, sizeof path, "/proc/%d/stat", L.server_pid);
  f = fopen (path, "r");
  if (f == NULL)
    return -1;
  n = fread (text, 1, sizeof text - 1, f);
  fclose (f);
  text[n] = '\0';
  p = strrchr (text, ')');
  if (p == NULL)
    return -1;
  /* after ") " come fields 3..: state ppid pgrp session tty tpgid flags
   * minflt cminflt majflt cmajflt utime stime */
  if (sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
              &utime, &stime) != 2)
    return -1;
  return (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
}

/* Seconds the server's main thread spent runnable but waiting for a CPU
 * (/proc/PID/schedstat): other load on the server's core shows up here. */
static double
server_wait_s (void)
{
  char path[64];
  FILE *f;
  unsigned long long run = 0, wait = 0;
  int n;

  if (L.server_pid <= 0)
    return -1;
  snprintf (path, sizeof path, "/proc/%d/schedstat", L.server_pid);
  f = fopen (path, "r");
  if (f == NULL)
    return -1;
  n = fscanf (f, "%llu %llu", &run, &wait);
  fclose (f);
  return n == 2 ? wait / 1e9 : -1;
}

static double
self_cpu_s (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------ sockets */

static void conn_kill (Conn *c, const char *why);

static void
conn_flush (Conn *c)
{
  while (c->out.len > 0)
    {
      ssize_t n = send (c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);

      if (n < 0)
        {
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
          if (errno == EINTR)
            continue;
          conn_kill (c, g_strerror (errno));
          return;
        }
      buf_consume (&c->out, (size_t) n);
    }
}

static void
conn_write (Conn *c, const void *data, size_t len)
{
  if (c->state == ST_DEAD)
    return;
  buf_append (&c->out, data, len);
  if (c->state != ST_WS_CONNECT)
    conn_flush (c);
}

static int
open_socket (int conn_index)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;

  if (fd < 0)
    return -1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (L.n_sources > 1)
    {
      struct sockaddr_in src = { 0 };

      /* 127.0.0.1, 127.0.0.2, …: each address has its own ephemeral ports */
      src.sin_family = AF_INET;
      src.sin_addr.s_addr = htonl (0x7f000001u + (guint32) (conn_index % L.n_sources));
      setsockopt (fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      if (bind (fd, (struct sockaddr *) &src, sizeof src) < 0)
        {
          close (fd);
          return -1;
        }
    }
  if (connect (fd, (struct sockaddr *) &L.target, sizeof L.target) < 0 &&
      errno != EINPROGRESS)
    {
      close (fd);
      return -1;
    }
  return fd;
}

static Conn *
conn_new (ConnState state, int index)
{
  Conn *c = g_new0 (Conn, 1);
  struct epoll_event ev = { 0 };

  c->index = index;
  c->state = state;
  c->fd = open_socket (index);
  c->mask = g_random_int ();
  if (c->fd < 0)
    {
      note_error ("socket/connect: %s", g_strerror (errno));
      c->state = ST_DEAD;
      return c;
    }
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = c;
  epoll_ctl (L.epfd, EPOLL_CTL_ADD, c->fd, &ev);
  return c;
}

/* ---------------------------------------------------------------- WebSocket */

static void
ws_send_text (Conn *c, const char *text, size_t len)
{
  guint8 hdr[14];
  size_t h = 0;
  guint8 m[4];
  size_t base;

  hdr[h++] = 0x81;
  if (len < 126)
    hdr[h++] = 0x80 | (guint8) len;
  else if (len < 65536)
    {
      hdr[h++] = 0x80 | 126;
      hdr[h++] = (guint8) (len >> 8);
      hdr[h++] = (guint8) len;
    }
  else
    {
      hdr[h++] = 0x80 | 127;
      for (int i = 7; i >= 0; i--)
        hdr[h++] = (guint8) ((guint64) len >> (8 * i));
    }
  m[0] = (guint8) (c->mask >> 24);
  m[1] = (guint8) (c->mask >> 16);
  m[2] = (guint8) (c->mask >> 8);
  m[3] = (guint8) c->mask;
  memcpy (hdr + h, m, 4);
  h += 4;

  buf_reserve (&c->out, h + len);
  memcpy (c->out.data + c->out.len, hdr, h);
  base = c->out.len + h;
  for (size_t i = 0; i < len; i++)
    c->out.data[base + i] = (char) ((guint8) text[i] ^ m[i & 3]);
  c->out.len = base + len;
  conn_flush (c);
}

static void
ws_send_control (Conn *c, guint8 opcode, const char *payload, size_t len)
{
  guint8 frame[2 + 4 + 125];

  if (len > 125)
    len = 125;
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | (guint8) len;
  memset (frame + 2, 0, 4); /* a zero mask: the payload goes as is */
  memcpy (frame + 6, payload, len);
  conn_write (c, frame, 6 + len);
}

/* Sends one Socket.IO packet (codec-encoded) as an Engine.IO MESSAGE. */
static void
sio_send (Conn *c, NatterSioPacket *packet)
{
  g_autofree char *text = natter_sio_packet_encode (packet);
  g_autofree char *frame = g_strconcat ("4", text, NULL);

  ws_send_text (c, frame, strlen (frame));
}

static char *
room_name (int room)
{
  return g_strdup_printf ("bench-%s-%d", L.prefix, room);
}

static void
send_join (Conn *c)
{
  g_autoptr(JsonArray) args = json_array_new ();
  JsonObject *o = json_object_new ();
  g_autoptr(NatterSioPacket) packet = NULL;
  g_autofree char *name = room_name (c->room);

  json_object_set_string_member (o, "room", name);
  json_object_set_boolean_member (o, "create", TRUE);
  json_array_add_object_element (args, o);
  c->join_id = c->next_id++;
  packet = natter_sio_packet_new_event ("/", c->join_id, "join", args);
  sio_send (c, packet);
  c->state = ST_JOINING;
}

static void
send_leave_general (Conn *c)
{
  g_autoptr(JsonArray) args = json_array_new ();
  JsonObject *o = json_object_new ();
  g_autoptr(NatterSioPacket) packet = NULL;

  json_object_set_string_member (o, "room", NATTER_CHAT_DEFAULT_ROOM);
  json_array_add_object_element (args, o);
  c->join_id = c->next_id++;
  packet = natter_sio_packet_new_event ("/", c->join_id, "leave", args);
  sio_send (c, packet);
  c->state = ST_LEAVING;
}

static void
handle_sio (Conn *c, const char *text, size_t len)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(NatterSioPacket) packet = NULL;

  /* The hot path: a chat message carrying our send timestamp. */
  if (len > 13 && memcmp (text, "2[\"message\",", 12) == 0)
    {
      const char *p = memmem (text, len, MARKER, strlen (MARKER));

      if (p != NULL)
        {
          int step = 0;
          gint64 sent_us = 0;

          p += strlen (MARKER);
          step = (int) strtol (p, (char **) &p, 10);
          if (*p == ':')
            sent_us = g_ascii_strtoll (p + 1, NULL, 10);
          if (step == L.step && sent_us > 0)
            {
              gint64 now = now_us ();
              gint64 d = now - sent_us;

              if (L.lat_len == L.lat_cap)
                {
                  L.lat_cap = MAX (L.lat_cap * 2, 65536);
                  L.lat = g_renew (guint32, L.lat, L.lat_cap);
                }
              L.lat[L.lat_len++] = (guint32) CLAMP (d, 0, G_MAXUINT32);
              L.delivered++;
              L.last_delivery_us = now;
            }
          return;
        }
    }
  if (len > 3 && text[0] == '2' && text[1] == '[' && text[2] == '"')
    {
      /* member, presence, typing: counted, not decoded */
      L.other_events++;
      return;
    }

  packet = natter_sio_packet_decode (text, len, &error);
  if (packet == NULL)
    {
      note_error ("bad Socket.IO packet: %s", error->message);
      conn_kill (c, "bad packet");
      return;
    }

  switch (packet->type)
    {
    case NATTER_SIO_CONNECT:
      if (c->state == ST_SIO_CONNECT)
        {
          /* New users are members of "general" (natter-server and the
           * reference alike); a user's first connection leaves it, so that
           * presence and member events of N users stay within the bench
           * rooms instead of reaching all N users (O(N²) at connect). */
          if (!L.stay_in_general && c->index < L.n_users)
            send_leave_general (c);
          else
            send_join (c);
        }
      break;

    case NATTER_SIO_CONNECT_ERROR:
      note_error ("connect_error: %.*s", (int) MIN (len, 200), text);
      conn_kill (c, "connect_error");
      break;

    case NATTER_SIO_ACK:
      {
        JsonNode *ack = NULL;
        g_autoptr(GError) ack_error = NULL;
        gboolean ok;

        if (packet->data != NULL && JSON_NODE_HOLDS_ARRAY (packet->data) &&
            json_array_get_length (json_node_get_array (packet->data)) > 0)
          ack = json_array_get_element (json_node_get_array (packet->data), 0);
        ok = ack != NULL && natter_chat_ack_check (ack, &ack_error);

        if (packet->id == c->join_id && c->state == ST_LEAVING)
          send_join (c); /* ok, or not_member when it already left */
        else if (packet->id == c->join_id && c->state == ST_JOINING)
          {
            if (!ok)
              {
                note_error ("join refused: %s", ack_error ? ack_error->message : "no ack");
                conn_kill (c, "join refused");
                return;
              }
            c->state = ST_JOINED;
            L.joined++;
            L.ws_inflight--;
            L.room_conns[c->room]++;
          }
        else if (L.history_waiting && packet->id == L.history_id)
          {
            JsonArray *messages = NULL;

            L.history_waiting = FALSE;
            L.history_ok = ok;
            if (ok && JSON_NODE_HOLDS_OBJECT (ack) &&
                json_object_has_member (json_node_get_object (ack), "messages"))
              messages = json_object_get_array_member (json_node_get_object (ack), "messages");
            L.history_messages = messages != NULL ? (int) json_array_get_length (messages) : -1;
            if (!ok)
              note_error ("history refused: %s", ack_error ? ack_error->message : "no ack");
          }
        else if (ok)
          L.acked_ok++;
        else
          {
            const char *code = "none";
            gpointer old;

            if (ack != NULL && JSON_NODE_HOLDS_OBJECT (ack) &&
                json_object_has_member (json_node_get_object (ack), "error"))
              code = json_object_get_string_member_with_default (json_node_get_object (ack),
                                                                 "error", "none");
            old = g_hash_table_lookup (L.ack_errors, code);
            g_hash_table_insert (L.ack_errors, g_strdup (code),
                                 GINT_TO_POINTER (GPOINTER_TO_INT (old) + 1));
            L.acked_err++;
          }
      }
      break;

    case NATTER_SIO_DISCONNECT:
      conn_kill (c, "server disconnect");
      break;

    case NATTER_SIO_EVENT:
    case NATTER_SIO_BINARY_EVENT:
    case NATTER_SIO_BINARY_ACK:
    default:
      L.other_events++;
      break;
    }
}

static void
handle_eio (Conn *c, const char *text, size_t len)
{
  NatterEioPacketType type;
  const char *payload;
  gsize payload_len;
  g_autoptr(GError) error = NULL;

  if (!natter_eio_packet_decode (text, len, &type, &payload, &payload_len, &error))
    {
      note_error ("bad Engine.IO packet: %s", error->message);
      conn_kill (c, "bad eio");
      return;
    }
  switch (type)
    {
    case NATTER_EIO_PING:
      ws_send_text (c, "3", 1);
      break;
    case NATTER_EIO_OPEN:
      {
        g_autoptr(NatterEioOpen) eio_open = natter_eio_open_parse (payload, payload_len, &error);
        g_autoptr(JsonNode) auth = NULL;
        g_autoptr(NatterSioPacket) connect_packet = NULL;
        JsonObject *o;

        if (eio_open == NULL)
          {
            note_error ("bad open packet: %s", error->message);
            conn_kill (c, "bad open");
            return;
          }
        o = json_object_new ();
        json_object_set_string_member (o, "token", L.tokens[c->user]);
        auth = json_node_init_object (json_node_alloc (), o);
        json_object_unref (o);
        connect_packet = natter_sio_packet_new (NATTER_SIO_CONNECT, "/", -1, auth);
        sio_send (c, connect_packet);
        c->state = ST_SIO_CONNECT;
      }
      break;
    case NATTER_EIO_MESSAGE:
      handle_sio (c, payload, payload_len);
      break;
    case NATTER_EIO_CLOSE:
      conn_kill (c, "engine.io close");
      break;
    case NATTER_EIO_PONG:
    case NATTER_EIO_UPGRADE:
    case NATTER_EIO_NOOP:
    default:
      break;
    }
}

/* Parses the WebSocket frames in c->in. */
static void
ws_parse (Conn *c)
{
  size_t pos = 0;

  while (c->state != ST_DEAD && c->in.len - pos >= 2)
    {
      const guint8 *b = (const guint8 *) c->in.data + pos;
      size_t avail = c->in.len - pos;
      gboolean fin = (b[0] & 0x80) != 0;
      int opcode = b[0] & 0x0f;
      gboolean masked = (b[1] & 0x80) != 0;
      guint64 plen = b[1] & 0x7f;
      size_t h = 2;
      const char *payload;

      if (plen == 126)
        {
          if (avail < 4)
            break;
          plen = ((guint64) b[2] << 8) | b[3];
          h = 4;
        }
      else if (plen == 127)
        {
          if (avail < 10)
            break;
          plen = 0;
          for (int i = 0; i < 8; i++)
            plen = (plen << 8) | b[2 + i];
          h = 10;
        }
      if (masked)
        h += 4;
      if (plen > 64 * 1024 * 1024)
        {
          conn_kill (c, "frame too large");
          return;
        }
      if (avail < h + plen)
        break;
      payload = (const char *) b + h;
      if (masked)
        {
          char *p = (char *) payload;
          for (guint64 i = 0; i < plen; i++)
            p[i] ^= (char) b[h - 4 + (i & 3)];
        }

      switch (opcode)
        {
        case 0x0: /* continuation */
        case 0x1: /* text */
        case 0x2: /* binary */
          if (!fin || c->frag != NULL)
            {
              if (c->frag == NULL)
                c->frag = g_string_new (NULL);
              g_string_append_len (c->frag, payload, (gssize) plen);
              if (fin)
                {
                  GString *whole = c->frag;
                  c->frag = NULL;
                  handle_eio (c, whole->str, whole->len);
                  g_string_free (whole, TRUE);
                }
            }
          else if (opcode == 0x1)
            handle_eio (c, payload, plen);
          break;
        case 0x8:
          conn_kill (c, "websocket close");
          return;
        case 0x9:
          ws_send_control (c, 0xA, payload, plen);
          break;
        default:
          break;
        }
      pos += h + plen;
    }
  if (c->state != ST_DEAD)
    buf_consume (&c->in, pos);
}

static void
ws_start (int index)
{
  Conn *c = conn_new (ST_WS_CONNECT, index);
  g_autofree char *req = NULL;

  c->user = index % L.n_users;
  c->room = c->user / L.room_size;
  c->next_id = 1;
  L.conns[index] = c;
  L.ws_inflight++;
  if (c->state == ST_DEAD)
    {
      L.failed++;
      L.ws_inflight--;
      return;
    }
  req = g_strdup_printf ("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                         "Host: %s:%d\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Key: bmF0dGVyLWxvYWQtMDAwMA==\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "\r\n", L.host, L.port);
  buf_append (&c->out, req, strlen (req));
}

static void
ws_on_readable_upgrade (Conn *c)
{
  char *end = g_strstr_len (c->in.data, (gssize) c->in.len, "\r\n\r\n");

  if (end == NULL)
    return;
  if (c->in.len < 12 || strncmp (c->in.data + 9, "101", 3) != 0)
    {
      note_error ("websocket upgrade refused: %.*s", (int) MIN (c->in.len, 120), c->in.data);
      conn_kill (c, "upgrade refused");
      return;
    }
  buf_consume (&c->in, (size_t) (end + 4 - c->in.data));
  c->state = ST_EIO_OPEN;
  ws_parse (c);
}

/* ------------------------------------------------------------------- HTTP */

static void
http_start (int user, gboolean login)
{
  Conn *c = conn_new (ST_HTTP, user);
  g_autofree char *body = NULL;
  g_autofree char *req = NULL;

  c->user = user;
  c->login = login;
  L.http_inflight++;
  if (c->state == ST_DEAD)
    {
      L.users_failed++;
      L.users_done++;
      L.http_inflight--;
      g_free (c);
      return;
    }
  body = g_strdup_printf ("{\"user\":\"b%s_%d\",\"password\":\"" PASSWORD "\"}", L.prefix, user);
  req = g_strdup_printf ("POST /api/v1/%s HTTP/1.1\r\n"
                         "Host: %s:%d\r\n"
                         "Content-Type: application/json\r\n"
                         "Content-Length: %zu\r\n"
                         "Connection: close\r\n"
                         "\r\n%s", login ? "login" : "register",
                         L.host, L.port, strlen (body), body);
  buf_append (&c->out, req, strlen (req));
}

static void
http_finish (Conn *c)
{
  char *end;
  int status = 0;
  g_autoptr(JsonParser) parser = NULL;
  const char *headers_cl;
  size_t body_len;
  gboolean retry_login = FALSE;

  end = g_strstr_len (c->in.data, (gssize) c->in.len, "\r\n\r\n");
  if (end == NULL)
    return;
  headers_cl = g_strstr_len (c->in.data, end - c->in.data, "ontent-Length:");
  if (headers_cl == NULL)
    headers_cl = g_strstr_len (c->in.data, end - c->in.data, "ontent-length:");
  body_len = c->in.len - (size_t) (end + 4 - c->in.data);
  if (headers_cl != NULL && body_len < (size_t) g_ascii_strtoull (headers_cl + 14, NULL, 10))
    return; /* wait for the rest */

  sscanf (c->in.data, "HTTP/1.%*d %d", &status);
  parser = json_parser_new ();
  if ((status == 200 || status == 201) &&
      json_parser_load_from_data (parser, end + 4, (gssize) body_len, NULL) &&
      JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    {
      JsonObject *o = json_node_get_object (json_parser_get_root (parser));
      const char *token = json_object_get_string_member_with_default (o, "token", NULL);

      if (token != NULL)
        L.tokens[c->user] = g_strdup (token);
    }
  else if (status == 409 && !c->login)
    retry_login = TRUE;
  else
    note_error ("HTTP %s: %.*s", c->login ? "login" : "register",
                (int) MIN (c->in.len, 200), c->in.data);

  epoll_ctl (L.epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  L.http_inflight--;
  if (retry_login)
    http_start (c->user, TRUE);
  else
    {
      if (L.tokens[c->user] == NULL)
        L.users_failed++;
      L.users_done++;
    }
  buf_clear (&c->in);
  buf_clear (&c->out);
  c->state = ST_DEAD;
  c->fd = -1;
  /* freed by the event loop after this event */
}

/* ---------------------------------------------------------------- the loop */

static GPtrArray *graveyard;

static void
conn_kill (Conn *c, const char *why)
{
  if (c->state == ST_DEAD)
    return;
  if (c->state == ST_HTTP)
    {
      note_error ("HTTP connection failed: %s", why);
      L.http_inflight--;
      L.users_failed++;
      L.users_done++;
      epoll_ctl (L.epfd, EPOLL_CTL_DEL, c->fd, NULL);
      close (c->fd);
      c->fd = -1;
      c->state = ST_DEAD;
      g_ptr_array_add (graveyard, c);
      return;
    }
  if (c->state == ST_JOINED)
    {
      L.closed++;
      L.joined--;
      L.room_conns[c->room]--;
    }
  else
    {
      note_error ("connection %d failed while setting up: %s", c->index, why);
      L.failed++;
      L.ws_inflight--;
    }
  epoll_ctl (L.epfd, EPOLL_CTL_DEL, c->fd, NULL);
  close (c->fd);
  c->fd = -1;
  c->state = ST_DEAD;
  buf_clear (&c->in);
  buf_clear (&c->out);
}

static void
on_event (Conn *c, guint32 events)
{
  if (c->state == ST_DEAD)
    return;
  if (events & EPOLLOUT)
    {
      if (c->state == ST_WS_CONNECT)
        {
          int err = 0;
          socklen_t len = sizeof err;

          getsockopt (c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0)
            {
              conn_kill (c, g_strerror (err));
              return;
            }
          c->state = ST_WS_UPGRADE;
        }
      conn_flush (c);
      if (c->state == ST_DEAD)
        return;
    }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    {
      gboolean eof = FALSE;

      for (;;)
        {
          ssize_t n = recv (c->fd, rbuf, sizeof rbuf, 0);

          if (n > 0)
            {
              buf_append (&c->in, rbuf, (size_t) n);
              /* A short read drained the socket: edge-triggered epoll will
               * report the next data, so skip the recv() that would say
               * EAGAIN. */
              if ((size_t) n < sizeof rbuf && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                break;
              continue;
            }
          if (n == 0)
            eof = TRUE;
          else if (errno == EINTR)
            continue;
          else if (errno != EAGAIN && errno != EWOULDBLOCK)
            eof = TRUE;
          break;
        }
      if (c->state == ST_HTTP)
        {
          http_finish (c);
          if (c->state == ST_DEAD)
            {
              g_ptr_array_add (graveyard, c);
              return;
            }
          if (eof)
            conn_kill (c, "closed before the response");
          return;
        }
      if (c->in.len > 0)
        {
          if (c->state == ST_WS_UPGRADE || c->state == ST_WS_CONNECT)
            ws_on_readable_upgrade (c);
          else
            ws_parse (c);
        }
      if (eof && c->state != ST_DEAD)
        conn_kill (c, "connection closed by the server");
    }
}

static void
run_loop_once (int timeout_ms)
{
  struct epoll_event evs[512];
  int n = epoll_wait (L.epfd, evs, G_N_ELEMENTS (evs), timeout_ms);

  for (int i = 0; i < n; i++)
    on_event (evs[i].data.ptr, evs[i].events);
  if (graveyard->len > 0)
    g_ptr_array_set_size (graveyard, 0);
}

/* ----------------------------------------------------------------- phases */

static gboolean
load_tokens (void)
{
  g_autofree char *text = NULL;
  g_auto(GStrv) lines = NULL;
  int n = 0;

  if (L.tokens_file == NULL || !g_file_get_contents (L.tokens_file, &text, NULL, NULL))
    return FALSE;
  lines = g_strsplit (text, "\n", -1);
  for (int i = 0; lines[i] != NULL && n < L.n_users; i++)
    if (lines[i][0] != '\0')
      L.tokens[n++] = g_strdup (lines[i]);
  if (n < L.n_users)
    {
      for (int i = 0; i < n; i++)
        g_clear_pointer (&L.tokens[i], g_free);
      return FALSE;
    }
  return TRUE;
}

static void
save_tokens (void)
{
  GString *s = g_string_new (NULL);

  if (L.tokens_file == NULL)
    return;
  for (int i = 0; i < L.n_users; i++)
    g_string_append_printf (s, "%s\n", L.tokens[i] ? L.tokens[i] : "");
  g_file_set_contents (L.tokens_file, s->str, (gssize) s->len, NULL);
  g_string_free (s, TRUE);
}

static void
print_json (const char *fmt, ...) G_GNUC_PRINTF (1, 2);

static void
print_json (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

static gboolean
phase_register (void)
{
  gint64 t0 = now_us ();
  gint64 deadline = t0 + (gint64) (L.setup_timeout * 1e6);
  gboolean reused = load_tokens ();

  if (!reused)
    {
      while (L.users_done < L.n_users && now_us () < deadline)
        {
          while (L.http_inflight < L.http_concurrency && L.http_next < L.n_users)
            http_start (L.http_next++, FALSE);
          run_loop_once (20);
        }
      save_tokens ();
    }
  print_json ("{\"event\":\"register\",\"users\":%d,\"failed\":%d,\"reused_tokens\":%s,"
              "\"seconds\":%.3f,\"server_rss_kb\":%" G_GINT64_FORMAT "}",
              L.n_users, reused ? 0 : L.n_users - (L.users_done - L.users_failed),
              reused ? "true" : "false", (now_us () - t0) / 1e6, server_rss_kb ());
  return reused || (L.users_failed == 0 && L.users_done == L.n_users);
}

static gboolean
phase_connect (void)
{
  gint64 t0 = now_us ();
  gint64 deadline = t0 + (gint64) (L.setup_timeout * 1e6);
  double cpu0 = self_cpu_s ();
  double scpu0 = server_cpu_s ();
  double wait0 = server_wait_s ();
  gint64 rss0 = server_rss_kb ();
  int limit = L.storm ? L.n_conns : L.connect_concurrency;

  while (L.joined + L.failed < L.n_conns && now_us () < deadline)
    {
      while (L.ws_inflight < limit && L.ws_next < L.n_conns)
        ws_start (L.ws_next++);
      run_loop_once (20);
    }
  {
    double secs = (now_us () - t0) / 1e6;
    gint64 rss1 = server_rss_kb ();

    print_json ("{\"event\":\"connect\",\"connections\":%d,\"joined\":%d,\"failed\":%d,"
                "\"rooms\":%d,\"storm\":%s,\"seconds\":%.3f,\"gen_cpu_s\":%.3f,"
                "\"server_cpu_s\":%.3f,\"server_rss_before_kb\":%" G_GINT64_FORMAT ","
                "\"server_rss_after_kb\":%" G_GINT64_FORMAT ",\"server_runqueue_wait_s\":%.3f,"
                "\"first_error\":\"%s\"}",
                L.n_conns, L.joined, L.failed, L.n_rooms, L.storm ? "true" : "false", secs,
                self_cpu_s () - cpu0, scpu0 >= 0 ? server_cpu_s () - scpu0 : -1.0,
                rss0, rss1, wait0 >= 0 ? server_wait_s () - wait0 : -1.0,
                g_strescape (L.first_error, NULL));
  }
  return L.joined == L.n_conns;
}

static void
phase_hold (void)
{
  gint64 t0 = now_us ();
  gint64 end = t0 + (gint64) (L.hold_seconds * 1e6);
  double scpu0 = server_cpu_s ();

  while (now_us () < end)
    run_loop_once (100);
  print_json ("{\"event\":\"hold\",\"seconds\":%.1f,\"joined\":%d,\"closed\":%" G_GINT64_FORMAT ","
              "\"server_rss_kb\":%" G_GINT64_FORMAT ",\"server_cpu_s\":%.3f}",
              L.hold_seconds, L.joined, L.closed, server_rss_kb (),
              scpu0 >= 0 ? server_cpu_s () - scpu0 : -1.0);
}

static int cmp_u32 (const void *a, const void *b);

/* --history N: N history calls (the newest --history-limit messages of the
 * first connection's room), one after the other, each timed from the
 * send of the event to its ack. */
static void
phase_history (void)
{
  Conn *c = NULL;
  g_autofree guint32 *lat = g_new0 (guint32, MAX (L.history_calls, 1));
  g_autofree char *name = NULL;
  double scpu0 = server_cpu_s ();
  int i, done = 0, messages = -1;
  double sum = 0;

  for (i = 0; i < L.n_conns && c == NULL; i++)
    if (L.conns[i] != NULL && L.conns[i]->state == ST_JOINED)
      c = L.conns[i];
  if (c == NULL)
    return;
  name = room_name (c->room);

  for (i = 0; i < L.history_calls; i++)
    {
      g_autoptr(JsonArray) args = json_array_new ();
      JsonObject *o = json_object_new ();
      g_autoptr(NatterSioPacket) packet = NULL;
      gint64 t0, deadline;

      json_object_set_string_member (o, "room", name);
      json_object_set_int_member (o, "limit", L.history_limit);
      json_array_add_object_element (args, o);
      L.history_id = c->next_id++;
      L.history_waiting = TRUE;
      packet = natter_sio_packet_new_event ("/", L.history_id, "history", args);
      t0 = now_us ();
      deadline = t0 + 10 * G_USEC_PER_SEC;
      sio_send (c, packet);
      while (L.history_waiting && now_us () < deadline)
        run_loop_once (10);
      if (L.history_waiting || !L.history_ok)
        break;
      lat[done++] = (guint32) MIN (now_us () - t0, G_MAXUINT32);
      sum += now_us () - t0;
      messages = L.history_messages;
    }

  qsort (lat, done, sizeof *lat, cmp_u32);
  print_json ("{\"event\":\"history\",\"room\":\"%s\",\"calls\":%d,\"limit\":%d,"
              "\"messages_per_call\":%d,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
              "\"mean_ms\":%.3f,\"server_cpu_s\":%.3f}",
              name, done, L.history_limit, messages,
              done > 0 ? lat[done / 2] / 1000.0 : -1.0,
              done > 0 ? lat[MIN (done - 1, (int) (done * 0.99))] / 1000.0 : -1.0,
              done > 0 ? lat[done - 1] / 1000.0 : -1.0,
              done > 0 ? sum / done / 1000.0 : -1.0,
              scpu0 >= 0 ? server_cpu_s () - scpu0 : -1.0);
}

static int
cmp_u32 (const void *a, const void *b)
{
  guint32 x = *(const guint32 *) a, y = *(const guint32 *) b;
  return x < y ? -1 : x > y;
}

static double
pct_ms (double p)
{
  size_t i;

  if (L.lat_len == 0)
    return -1;
  i = (size_t) (p * (double) (L.lat_len - 1) + 0.5);
  return L.lat[i] / 1000.0;
}

/* One step: send at @rate messages/s for step_seconds, then drain. */
static gboolean
phase_step (double rate)
{
  gint64 t0, send_end, drain_end, now;
  double cpu0, scpu0, wait0;
  int rr = 0;
  char *pad;
  GString *errs = g_string_new (NULL);
  GHashTableIter it;
  gpointer k, v;
  gboolean go_on;
  double secs, p99;

  L.step++;
  L.expected = L.delivered = L.sent = L.acked_ok = L.acked_err = 0;
  L.lat_len = 0;
  L.last_delivery_us = 0;
  g_hash_table_remove_all (L.ack_errors);
  pad = g_malloc (L.msg_bytes + 1);
  memset (pad, 'x', L.msg_bytes);
  pad[L.msg_bytes] = '\0';

  cpu0 = self_cpu_s ();
  scpu0 = server_cpu_s ();
  wait0 = server_wait_s ();
  t0 = now_us ();
  send_end = t0 + (gint64) (L.step_seconds * 1e6);
  while ((now = now_us ()) < send_end)
    {
      gint64 due = (gint64) ((double) (now - t0) * rate / 1e6);

      while (L.sent < due)
        {
          Conn *c = NULL;
          char frame[128 + 4096];
          char head[64];
          int hl, fl, pad_len;

          for (int tries = 0; tries < L.n_conns; tries++)
            {
              Conn *cand = L.conns[rr];

              rr = (rr + 1) % L.n_conns;
              if (cand != NULL && cand->state == ST_JOINED)
                {
                  c = cand;
                  break;
                }
            }
          if (c == NULL)
            break;
          /* The text: T<step>:<send time µs>: then padding up to msg_bytes. */
          hl = snprintf (head, sizeof head, "T%d:%" G_GINT64_FORMAT ":", L.step, now_us ());
          pad_len = MAX (0, MIN (L.msg_bytes - hl, 4000));
          fl = snprintf (frame, sizeof frame,
                         "42%" G_GINT64_FORMAT "[\"send\",{\"room\":\"bench-%s-%d\","
                         "\"cid\":\"%d-%d-%" G_GINT64_FORMAT "\",\"text\":\"%s%.*s\"}]",
                         c->next_id, L.prefix, c->room, L.step, c->index, c->next_id,
                         head, pad_len, pad);
          c->next_id++;
          if (fl <= 0 || (size_t) fl >= sizeof frame)
            {
              note_error ("message frame too long");
              break;
            }
          ws_send_text (c, frame, (size_t) fl);
          L.sent++;
          L.expected += L.room_conns[c->room];
        }
      run_loop_once (1);
    }
  drain_end = now_us () + (gint64) (L.drain_seconds * 1e6);
  while (now_us () < drain_end &&
         (L.delivered < L.expected || L.acked_ok + L.acked_err < L.sent))
    run_loop_once (5);

  secs = ((L.last_delivery_us > 0 ? L.last_delivery_us : now_us ()) - t0) / 1e6;
  secs = MAX (secs, L.step_seconds);
  qsort (L.lat, L.lat_len, sizeof (guint32), cmp_u32);
  g_hash_table_iter_init (&it, L.ack_errors);
  while (g_hash_table_iter_next (&it, &k, &v))
    g_string_append_printf (errs, "%s\"%s\":%d", errs->len ? "," : "", (char *) k,
                            GPOINTER_TO_INT (v));
  p99 = pct_ms (0.99);
  {
    double scpu = scpu0 >= 0 ? server_cpu_s () - scpu0 : -1.0;

    print_json ("{\"event\":\"step\",\"step\":%d,\"rate\":%.1f,\"seconds\":%.3f,"
                "\"sent\":%" G_GINT64_FORMAT ",\"acked\":%" G_GINT64_FORMAT ","
                "\"ack_errors\":{%s},\"expected\":%" G_GINT64_FORMAT ","
                "\"delivered\":%" G_GINT64_FORMAT ",\"deliveries_per_s\":%.1f,\"acks_per_s\":%.1f,"
                "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
                "\"closed\":%" G_GINT64_FORMAT ",\"joined\":%d,"
                "\"server_cpu_s\":%.3f,\"server_cpu_ms_per_1k_deliveries\":%.3f,"
                "\"server_rss_kb\":%" G_GINT64_FORMAT ",\"gen_cpu_pct\":%.1f,"
                "\"server_runqueue_wait_s\":%.3f}",
                L.step, rate, secs, L.sent, L.acked_ok, errs->str, L.expected, L.delivered,
                L.delivered / secs, L.acked_ok / secs, pct_ms (0.50), pct_ms (0.90), p99,
                L.lat_len ? L.lat[L.lat_len - 1] / 1000.0 : -1.0,
                L.closed, L.joined, scpu,
                (scpu >= 0 && L.delivered > 0) ? scpu * 1000.0 * 1000.0 / L.delivered : -1.0,
                server_rss_kb (),
                100.0 * (self_cpu_s () - cpu0) / ((now_us () - t0) / 1e6),
                wait0 >= 0 ? server_wait_s () - wait0 : -1.0);
  }
  go_on = p99 >= 0 && p99 <= L.p99_stop_ms && L.delivered >= L.expected * 0.99 &&
          L.joined > 0;
  g_string_free (errs, TRUE);
  g_free (pad);
  return go_on;
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) ctx = NULL;
  g_autoptr(GError) error = NULL;
  struct rlimit rl;
  g_auto(GStrv) rates = NULL;
  int status = 0;
  GOptionEntry entries[] = {
    { "host", 0, 0, G_OPTION_ARG_STRING, &L.host, "Server address (127.0.0.0/8 only)", "ADDR" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &L.port, "Server port", "N" },
    { "connections", 'n', 0, G_OPTION_ARG_INT, &L.n_conns, "Socket.IO connections", "N" },
    { "users", 'u', 0, G_OPTION_ARG_INT, &L.n_users, "Distinct users (connection i signs in as user i mod U; default N)", "U" },
    { "room-size", 'k', 0, G_OPTION_ARG_INT, &L.room_size, "Users per room", "K" },
    { "sources", 0, 0, G_OPTION_ARG_INT, &L.n_sources, "Spread connections over 127.0.0.1..M", "M" },
    { "rates", 'r', 0, G_OPTION_ARG_STRING, &L.rates, "Comma-separated send rates (messages/s in total), one step each", "R1,R2,…" },
    { "step-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &L.step_seconds, "Seconds per step", "S" },
    { "drain-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &L.drain_seconds, "Longest wait for deliveries after a step", "S" },
    { "msg-bytes", 0, 0, G_OPTION_ARG_INT, &L.msg_bytes, "Message text size", "B" },
    { "hold", 0, 0, G_OPTION_ARG_DOUBLE, &L.hold_seconds, "Hold the connections idle this long before the steps", "S" },
    { "storm", 0, 0, G_OPTION_ARG_NONE, &L.storm, "Open every connection at once", NULL },
    { "server-pid", 0, 0, G_OPTION_ARG_INT, &L.server_pid, "Server process for CPU and RSS from /proc", "PID" },
    { "prefix", 0, 0, G_OPTION_ARG_STRING, &L.prefix, "User and room name prefix", "STR" },
    { "tokens", 0, 0, G_OPTION_ARG_FILENAME, &L.tokens_file, "Reuse tokens from FILE, or save them there", "FILE" },
    { "register-only", 0, 0, G_OPTION_ARG_NONE, &L.register_only, "Only register the users", NULL },
    { "p99-stop-ms", 0, 0, G_OPTION_ARG_DOUBLE, &L.p99_stop_ms, "Stop the steps once p99 passes this", "MS" },
    { "http-concurrency", 0, 0, G_OPTION_ARG_INT, &L.http_concurrency, "Parallel register requests", "N" },
    { "connect-concurrency", 0, 0, G_OPTION_ARG_INT, &L.connect_concurrency, "Parallel connection set-ups (without --storm)", "N" },
    { "setup-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &L.setup_timeout, "Longest time for registering and for connecting", "S" },
    { "stay-in-general", 0, 0, G_OPTION_ARG_NONE, &L.stay_in_general, "Do not leave the default room \"general\" on connect", NULL },
    { "history", 0, 0, G_OPTION_ARG_INT, &L.history_calls, "Time N history calls on the first connection's room", "N" },
    { "history-limit", 0, 0, G_OPTION_ARG_INT, &L.history_limit, "Messages per history call (default 50)", "N" },
    { NULL }
  };

  L.host = g_strdup ("127.0.0.1");
  L.port = 7300;
  L.n_conns = 100;
  L.room_size = 100;
  L.n_sources = 1;
  L.step_seconds = 5;
  L.drain_seconds = 5;
  L.msg_bytes = 100;
  L.prefix = g_strdup ("x");
  L.p99_stop_ms = 100;
  L.http_concurrency = 8;
  L.connect_concurrency = 256;
  L.setup_timeout = 600;
  L.history_limit = 50;

  ctx = g_option_context_new ("- load generator for natter-server and the reference");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      fprintf (stderr, "natter-load: %s\n", error->message);
      return 2;
    }
  if (L.n_users <= 0 || L.n_users > L.n_conns)
    L.n_users = MAX (L.n_conns, 1);
  if (L.room_size <= 0 || L.n_sources <= 0 || L.n_sources > 250 || L.msg_bytes < 0)
    {
      fprintf (stderr, "natter-load: bad --room-size, --sources or --msg-bytes\n");
      return 2;
    }
  L.target.sin_family = AF_INET;
  L.target.sin_port = htons ((guint16) L.port);
  if (inet_pton (AF_INET, L.host, &L.target.sin_addr) != 1 ||
      (ntohl (L.target.sin_addr.s_addr) >> 24) != 127)
    {
      fprintf (stderr, "natter-load: --host must be an IPv4 address in 127.0.0.0/8\n");
      return 2;
    }

  getrlimit (RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit (RLIMIT_NOFILE, &rl);
  if ((rlim_t) L.n_conns + 64 > rl.rlim_cur)
    {
      fprintf (stderr, "natter-load: %d connections need more than the %lu open files allowed\n",
               L.n_conns, (unsigned long) rl.rlim_cur);
      return 2;
    }

  L.epfd = epoll_create1 (EPOLL_CLOEXEC);
  graveyard = g_ptr_array_new_with_free_func (g_free);
  L.tokens = g_new0 (char *, L.n_users);
  L.conns = g_new0 (Conn *, L.n_conns);
  L.n_rooms = (L.n_users + L.room_size - 1) / L.room_size;
  L.room_conns = g_new0 (int, L.n_rooms);
  L.ack_errors = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  if (!phase_register ())
    {
      fprintf (stderr, "natter-load: registration failed: %s\n", L.first_error);
      return 1;
    }
  if (L.register_only)
    return 0;
  if (!phase_connect ())
    {
      fprintf (stderr, "natter-load: not every connection joined (%d of %d): %s\n",
               L.joined, L.n_conns, L.first_error);
      status = 1;
    }
  if (L.hold_seconds > 0)
    phase_hold ();
  if (L.history_calls > 0 && L.joined > 0)
    phase_history ();
  if (L.rates != NULL && L.joined > 0)
    {
      rates = g_strsplit (L.rates, ",", -1);
      for (int i = 0; rates[i] != NULL; i++)
        {
          double rate = g_ascii_strtod (rates[i], NULL);

          if (rate <= 0)
            continue;
          if (!phase_step (rate))
            break;
        }
    }
  return status;
}
