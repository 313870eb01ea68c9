/* natter-fanout-floor: what one room's fan-out costs this machine's kernel
 * with no server at all.
 *
 * A broadcaster (pinned to one CPU) holds N loopback TCP connections to a
 * receiver process (pinned to another) and writes each message to every
 * connection, as a chat server's broadcast must: one send() per connection
 * per round, and when it falls behind, every message due so far goes in that
 * one send (the same coalescing natter-server does with its cork). No
 * protocol, no parsing, no storage, no allocation on the hot path. Each
 * message carries the time it became due; the receiver reads with epoll, as
 * natter-load does, and records the latency of every delivery.
 *
 * So each step's p99 is the least any single-threaded server can reach on
 * this machine for that load, and the broadcaster's CPU per 1,000 deliveries
 * is the kernel's price of a delivery. docs/PERFORMANCE.md compares
 * natter-server with it. Output: one JSON line per step on stdout.
 */
#define _GNU_SOURCE 1
#include <glib.h>
#include <glib-unix.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define END_STEP G_MAXUINT32

typedef struct
{
  guint32 step;
  guint32 pad;
  guint64 due_ns;
} RecordHeader;

static int n_connections = 1000;
static int msg_bytes = 100;
static double step_seconds = 4;
static int sender_cpu = 0;
static int receiver_cpu = 1;
static char *rates_arg = NULL;

static GOptionEntry entries[] = {
  { "connections", 'n', 0, G_OPTION_ARG_INT, &n_connections, "Connections (room members)", "N" },
  { "msg-bytes", 0, 0, G_OPTION_ARG_INT, &msg_bytes, "Bytes per message", "B" },
  { "rates", 'r', 0, G_OPTION_ARG_STRING, &rates_arg, "Comma-separated rates (messages/s), one step each", "R1,R2,…" },
  { "step-seconds", 0, 0, G_OPTION_ARG_DOUBLE, &step_seconds, "Seconds per step", "S" },
  { "sender-cpu", 0, 0, G_OPTION_ARG_INT, &sender_cpu, "CPU of the broadcaster", "C" },
  { "receiver-cpu", 0, 0, G_OPTION_ARG_INT, &receiver_cpu, "CPU of the receiver", "C" },
  { NULL }
};

static guint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (guint64) ts.tv_sec * G_GUINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static double
cpu_seconds (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void
pin (int cpu)
{
  cpu_set_t set;

  CPU_ZERO (&set);
  CPU_SET (cpu, &set);
  if (sched_setaffinity (0, sizeof set, &set) != 0)
    g_printerr ("natter-fanout-floor: cannot pin to CPU %d: %s\n", cpu, g_strerror (errno));
}

static void
set_nonblocking_nodelay (int fd)
{
  int one = 1;

  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  g_unix_set_fd_nonblocking (fd, TRUE, NULL);
}

static int
compare_float (const void *a, const void *b)
{
  float x = *(const float *) a, y = *(const float *) b;

  return (x > y) - (x < y);
}

static double
percentile (GArray *sorted, double p)
{
  if (sorted->len == 0)
    return -1;
  return g_array_index (sorted, float, (guint) MIN (sorted->len - 1, p * sorted->len));
}

/* ---- receiver ------------------------------------------------------------ */

typedef struct
{
  int     fd;
  guint8 *partial;    /* the start of a record split across reads */
  gsize   partial_len;
  gboolean ended;
} Member;

static void
receive_record (const guint8 *record,
                GPtrArray    *latencies,
                Member       *member,
                guint64       now)
{
  RecordHeader header;

  memcpy (&header, record, sizeof header);
  if (header.step == END_STEP)
    {
      member->ended = TRUE;
      return;
    }
  if (header.step < latencies->len)
    {
      float ms = (now - header.due_ns) / 1e6;

      g_array_append_val (g_ptr_array_index (latencies, header.step), ms);
    }
}

static void
run_receiver (guint16 port,
              guint   n_steps,
              int     ready_fd,
              int     result_fd)
{
  g_autofree Member *members = g_new0 (Member, n_connections);
  g_autoptr(GPtrArray) latencies = g_ptr_array_new_with_free_func ((GDestroyNotify) g_array_unref);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons (port) };
  g_autofree guint8 *buffer = g_malloc (256 * 1024);
  struct epoll_event events[256];
  int epfd = epoll_create1 (EPOLL_CLOEXEC);
  int ended = 0;
  double cpu_start;
  FILE *out;
  guint i;

  pin (receiver_cpu);
  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  for (i = 0; i < n_steps; i++)
    g_ptr_array_add (latencies, g_array_new (FALSE, FALSE, sizeof (float)));

  for (i = 0; i < (guint) n_connections; i++)
    {
      struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
      int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

      if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0)
        g_error ("receiver: connect: %s", g_strerror (errno));
      set_nonblocking_nodelay (fd);
      members[i].fd = fd;
      members[i].partial = g_malloc (msg_bytes);
      epoll_ctl (epfd, EPOLL_CTL_ADD, fd, &ev);
    }
  if (write (ready_fd, "r", 1) != 1)
    g_error ("receiver: ready pipe: %s", g_strerror (errno));

  cpu_start = cpu_seconds ();
  while (ended < n_connections)
    {
      int n = epoll_wait (epfd, events, G_N_ELEMENTS (events), 10000);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        g_error ("receiver: no data for 10 s");
      for (int e = 0; e < n; e++)
        {
          Member *member = &members[events[e].data.u32];
          ssize_t got;

          while ((got = recv (member->fd, buffer, 256 * 1024, 0)) > 0)
            {
              guint64 now = now_ns ();
              gsize offset = 0;

              if (member->partial_len > 0)
                {
                  gsize need = MIN ((gsize) got, msg_bytes - member->partial_len);

                  memcpy (member->partial + member->partial_len, buffer, need);
                  member->partial_len += need;
                  offset = need;
                  if (member->partial_len == (gsize) msg_bytes)
                    {
                      receive_record (member->partial, latencies, member, now);
                      member->partial_len = 0;
                    }
                }
              for (; offset + msg_bytes <= (gsize) got; offset += msg_bytes)
                receive_record (buffer + offset, latencies, member, now);
              if (offset < (gsize) got)
                {
                  member->partial_len = got - offset;
                  memcpy (member->partial, buffer + offset, member->partial_len);
                }
            }
          if (got == 0)
            g_error ("receiver: connection closed early");
          if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            g_error ("receiver: recv: %s", g_strerror (errno));
          if (member->ended && member->fd >= 0)
            {
              epoll_ctl (epfd, EPOLL_CTL_DEL, member->fd, NULL);
              close (member->fd);
              member->fd = -1;
              ended++;
            }
        }
    }

  out = fdopen (result_fd, "w");
  for (i = 0; i < n_steps; i++)
    {
      GArray *step = g_ptr_array_index (latencies, i);

      qsort (step->data, step->len, sizeof (float), compare_float);
      fprintf (out, "%u %.3f %.3f %.3f %.3f\n", step->len, percentile (step, 0.5),
               percentile (step, 0.9), percentile (step, 0.99),
               step->len > 0 ? g_array_index (step, float, step->len - 1) : -1.0);
    }
  fprintf (out, "cpu %.3f\n", cpu_seconds () - cpu_start);
  fclose (out);
  for (i = 0; i < (guint) n_connections; i++)
    g_free (members[i].partial);
  close (epfd);
}

/* ---- broadcaster --------------------------------------------------------- */

typedef struct
{
  int     fd;
  GString *pending;   /* what the socket did not take yet */
} Peer;

/* Writes what @peer still owes, then @data; keeps the rest for later. */
static void
send_to_peer (Peer         *peer,
              const guint8 *data,
              gsize         len)
{
  if (peer->pending->len > 0)
    {
      ssize_t n = send (peer->fd, peer->pending->str, peer->pending->len, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n > 0)
        g_string_erase (peer->pending, 0, n);
      if (peer->pending->len > 0)
        {
          g_string_append_len (peer->pending, (const char *) data, len);
          return;
        }
    }
  if (len > 0)
    {
      ssize_t n = send (peer->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        g_error ("broadcaster: send: %s", g_strerror (errno));
      n = MAX (n, 0);
      if ((gsize) n < len)
        g_string_append_len (peer->pending, (const char *) data + n, len - n);
    }
}

static void
sleep_until (guint64 ns)
{
  struct timespec ts = { ns / 1000000000, ns % 1000000000 };

  while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

int
main (int    argc,
      char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("- loopback fan-out floor of this machine");
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) rate_strings = NULL;
  g_autofree Peer *peers = NULL;
  g_autofree double *sender_cpu_s = NULL;
  g_autofree guint64 *sent = NULL;
  g_autoptr(GByteArray) round = g_byte_array_new ();
  struct sockaddr_in addr = { .sin_family = AF_INET };
  socklen_t addr_len = sizeof addr;
  int ready_pipe[2], result_pipe[2];
  int listener, status;
  guint n_steps, s, i;
  char ready;
  pid_t child;
  FILE *results;
  char line[256];

  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("natter-fanout-floor: %s\n", error->message);
      return 2;
    }
  if (rates_arg == NULL)
    rates_arg = g_strdup ("5,100,200,400,600,800,1120,1600");
  if (msg_bytes < (int) sizeof (RecordHeader) || n_connections < 1 || step_seconds <= 0)
    {
      g_printerr ("natter-fanout-floor: --msg-bytes must be at least %zu, -n and --step-seconds positive\n",
                  sizeof (RecordHeader));
      return 2;
    }
  rate_strings = g_strsplit (rates_arg, ",", -1);
  n_steps = g_strv_length (rate_strings);

  /* Both processes hold one descriptor per connection (and the receiver
   * inherits the limit): up to the hard limit, past the usual 1,024. */
  {
    struct rlimit limit;

    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
      {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
      }
  }

  addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  listener = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0 || bind (listener, (struct sockaddr *) &addr, sizeof addr) != 0 ||
      listen (listener, 4096) != 0 || getsockname (listener, (struct sockaddr *) &addr, &addr_len) != 0)
    g_error ("listen: %s", g_strerror (errno));
  if (pipe (ready_pipe) != 0 || pipe (result_pipe) != 0)
    g_error ("pipe: %s", g_strerror (errno));

  child = fork ();
  if (child == 0)
    {
      close (ready_pipe[0]);
      close (result_pipe[0]);
      close (listener);
      run_receiver (ntohs (addr.sin_port), n_steps, ready_pipe[1], result_pipe[1]);
      _exit (0);
    }
  close (ready_pipe[1]);
  close (result_pipe[1]);
  pin (sender_cpu);

  peers = g_new0 (Peer, n_connections);
  for (i = 0; i < (guint) n_connections; i++)
    {
      peers[i].fd = accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
      if (peers[i].fd < 0)
        g_error ("accept: %s", g_strerror (errno));
      set_nonblocking_nodelay (peers[i].fd);
      peers[i].pending = g_string_new (NULL);
    }
  if (read (ready_pipe[0], &ready, 1) != 1)
    g_error ("the receiver did not start");

  sender_cpu_s = g_new0 (double, n_steps);
  sent = g_new0 (guint64, n_steps);
  for (s = 0; s < n_steps; s++)
    {
      double rate = g_ascii_strtod (rate_strings[s], NULL);
      guint64 interval = rate > 0 ? (guint64) (1e9 / rate) : 0;
      guint64 start = now_ns ();
      guint64 end = start + (guint64) (step_seconds * 1e9);
      guint64 next = start;
      double cpu_start = cpu_seconds ();

      if (interval == 0)
        g_error ("bad rate %s", rate_strings[s]);
      while (next < end)
        {
          guint64 now = now_ns ();

          if (next > now)
            {
              sleep_until (next);
              now = now_ns ();
            }
          /* Every message due by now, coalesced into one write per member. */
          g_byte_array_set_size (round, 0);
          while (next <= now && next < end)
            {
              RecordHeader header = { s, 0, next };
              guint old = round->len;

              g_byte_array_set_size (round, old + msg_bytes);
              memset (round->data + old, 'x', msg_bytes);
              memcpy (round->data + old, &header, sizeof header);
              next += interval;
              sent[s]++;
            }
          for (i = 0; i < (guint) n_connections; i++)
            send_to_peer (&peers[i], round->data, round->len);
        }
      sender_cpu_s[s] = cpu_seconds () - cpu_start;
    }

  /* The end mark, and everything still pending, to every member. */
  {
    RecordHeader header = { END_STEP, 0, 0 };

    g_byte_array_set_size (round, msg_bytes);
    memset (round->data, 0, msg_bytes);
    memcpy (round->data, &header, sizeof header);
    for (i = 0; i < (guint) n_connections; i++)
      {
        send_to_peer (&peers[i], round->data, round->len);
        g_unix_set_fd_nonblocking (peers[i].fd, FALSE, NULL);
        while (peers[i].pending->len > 0)
          {
            ssize_t n = send (peers[i].fd, peers[i].pending->str, peers[i].pending->len, MSG_NOSIGNAL);

            if (n <= 0)
              g_error ("broadcaster: send: %s", g_strerror (errno));
            g_string_erase (peers[i].pending, 0, n);
          }
      }
  }

  results = fdopen (result_pipe[0], "r");
  for (s = 0; s < n_steps && fgets (line, sizeof line, results) != NULL; s++)
    {
      guint delivered;
      double p50, p90, p99, max;
      double rate = g_ascii_strtod (rate_strings[s], NULL);

      if (sscanf (line, "%u %lf %lf %lf %lf", &delivered, &p50, &p90, &p99, &max) != 5)
        g_error ("bad result line from the receiver: %s", line);
      printf ("{\"event\":\"step\",\"rate\":%.1f,\"seconds\":%.3f,\"connections\":%d,\"sent\":%" G_GUINT64_FORMAT
              ",\"expected\":%" G_GUINT64_FORMAT ",\"delivered\":%u,\"deliveries_per_s\":%.1f,"
              "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
              "\"sender_cpu_s\":%.3f,\"sender_cpu_ms_per_1k_deliveries\":%.3f}\n",
              rate, step_seconds, n_connections, sent[s], sent[s] * n_connections, delivered,
              delivered / step_seconds, p50, p90, p99, max, sender_cpu_s[s],
              delivered > 0 ? sender_cpu_s[s] * 1e6 / delivered : -1.0);
    }
  if (fgets (line, sizeof line, results) != NULL && g_str_has_prefix (line, "cpu "))
    printf ("{\"event\":\"receiver\",\"cpu_s\":%s}\n", g_strstrip (line + 4));
  fclose (results);
  waitpid (child, &status, 0);
  for (i = 0; i < (guint) n_connections; i++)
    {
      close (peers[i].fd);
      g_string_free (peers[i].pending, TRUE);
    }
  close (listener);
  g_free (rates_arg);
  return WIFEXITED (status) && WEXITSTATUS (status) == 0 ? 0 : 1;
}
