/* natter-test-raw.c: see the header. */
#include "natter-test-raw.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "natter-test-client.h"

struct _NatterTestRaw
{
  GSocket    *socket;
  GByteArray *input;
  gboolean    eof;
};

NatterTestRaw *
natter_test_raw_connect (guint port,
                         int   rcvbuf)
{
  NatterTestRaw *raw = g_new0 (NatterTestRaw, 1);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new_from_string ("127.0.0.1", port);
  g_autoptr(GError) error = NULL;

  raw->socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                              G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  if (rcvbuf > 0)
    {
      g_socket_set_option (raw->socket, SOL_SOCKET, SO_RCVBUF, rcvbuf, &error);
      g_assert_no_error (error);
    }
  /* Loopback connect completes in the kernel; the server accepts later.
   * The timeout turns a full accept queue into a failure, not a hang. */
  g_socket_set_timeout (raw->socket, 5);
  g_socket_connect (raw->socket, address, NULL, &error);
  g_assert_no_error (error);
  g_socket_set_timeout (raw->socket, 0);
  g_socket_set_blocking (raw->socket, FALSE);
  raw->input = g_byte_array_new ();
  return raw;
}

void
natter_test_raw_free (NatterTestRaw *raw)
{
  if (raw == NULL)
    return;
  g_socket_close (raw->socket, NULL);
  g_object_unref (raw->socket);
  g_byte_array_unref (raw->input);
  g_free (raw);
}

void
natter_test_raw_write (NatterTestRaw *raw,
                       const void    *data,
                       gsize          len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_send (raw->socket, (const char *) p, len, NULL, &error);

      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_main_context_iteration (NULL, FALSE);
          continue;
        }
      if (n < 0)
        return; /* the server may have cut us off; the test checks that */
      p += n;
      len -= n;
    }
}

gboolean
natter_test_raw_pump (NatterTestRaw *raw)
{
  guint8 buffer[16384];

  while (!raw->eof)
    {
      g_autoptr(GError) error = NULL;
      gssize n = g_socket_receive (raw->socket, (char *) buffer, sizeof buffer, NULL, &error);

      if (n > 0)
        g_byte_array_append (raw->input, buffer, n);
      else if (n == 0 || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        raw->eof = TRUE;
      else
        break;
    }
  return !raw->eof;
}

static gboolean
head_cond (gpointer data)
{
  NatterTestRaw *raw = data;

  natter_test_raw_pump (raw);
  return raw->eof ||
         (raw->input->len > 0 &&
          g_strstr_len ((const char *) raw->input->data, raw->input->len, "\r\n\r\n") != NULL);
}

guint
natter_test_raw_upgrade (NatterTestRaw *raw,
                         const char    *extra_headers)
{
  g_autofree char *request =
    g_strdup_printf ("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                     "Host: 127.0.0.1\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "%s\r\n", extra_headers != NULL ? extra_headers : "");
  const char *end;
  guint status = 0;

  natter_test_raw_write (raw, request, strlen (request));
  if (!natter_test_wait (head_cond, raw, NATTER_TEST_TIMEOUT_MS))
    return 0;
  if (raw->input->len < 12 || sscanf ((const char *) raw->input->data, "HTTP/1.1 %u", &status) != 1)
    return 0;

  /* Keep only what follows the head (the first frames, maybe). */
  end = g_strstr_len ((const char *) raw->input->data, raw->input->len, "\r\n\r\n");
  if (end != NULL)
    g_byte_array_remove_range (raw->input, 0, (end + 4) - (const char *) raw->input->data);
  return status;
}

void
natter_test_raw_send_raw_frame (NatterTestRaw *raw,
                                guint8         first_byte,
                                gboolean       masked,
                                const void    *payload,
                                gsize          len)
{
  g_autoptr(GByteArray) frame = g_byte_array_sized_new (len + 14);
  guint8 header[10];
  guint8 mask[4] = { 0x12, 0x34, 0x56, 0x78 };
  guint8 mask_bit = masked ? 0x80 : 0;
  gsize header_len, i;
  const guint8 *p = payload;

  header[0] = first_byte;
  if (len < 126)
    {
      header[1] = mask_bit | len;
      header_len = 2;
    }
  else if (len <= 0xffff)
    {
      header[1] = mask_bit | 126;
      header[2] = len >> 8;
      header[3] = len & 0xff;
      header_len = 4;
    }
  else
    {
      header[1] = mask_bit | 127;
      for (i = 0; i < 8; i++)
        header[2 + i] = ((guint64) len >> (56 - 8 * i)) & 0xff;
      header_len = 10;
    }

  g_byte_array_append (frame, header, header_len);
  if (masked)
    g_byte_array_append (frame, mask, 4);
  for (i = 0; i < len; i++)
    {
      guint8 b = masked ? p[i] ^ mask[i % 4] : p[i];

      g_byte_array_append (frame, &b, 1);
    }
  natter_test_raw_write (raw, frame->data, frame->len);
}

void
natter_test_raw_send_frame (NatterTestRaw *raw,
                            gboolean       fin,
                            guint8         opcode,
                            const void    *payload,
                            gsize          len)
{
  natter_test_raw_send_raw_frame (raw, (fin ? 0x80 : 0) | (opcode & 0x0f), TRUE, payload, len);
}

static gboolean
eof_cond (gpointer data)
{
  NatterTestRaw *raw = data;

  natter_test_raw_pump (raw);
  return raw->eof;
}

gboolean
natter_test_raw_wait_eof (NatterTestRaw *raw,
                          guint          timeout_ms)
{
  return natter_test_wait (eof_cond, raw, timeout_ms);
}

GByteArray *
natter_test_raw_get_input (NatterTestRaw *raw)
{
  return raw->input;
}
