/* natter-test-raw.h: a bare TCP peer for attacks the WebSocket client
 * cannot make: saying nothing, half a request, hand-made frames (fragments,
 * lies about lengths), never reading. Non-blocking; every wait iterates the
 * main context (the server runs in the same thread). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _NatterTestRaw NatterTestRaw;

/* Connects to 127.0.0.1:@port; @rcvbuf > 0 shrinks the receive buffer
 * before connecting (a peer that reads slowly, or not at all). */
NatterTestRaw *natter_test_raw_connect       (guint          port,
                                              int            rcvbuf);
void           natter_test_raw_free          (NatterTestRaw *raw);

void           natter_test_raw_write         (NatterTestRaw *raw,
                                              const void    *data,
                                              gsize          len);
/* Sends the WebSocket upgrade for the Socket.IO endpoint (with @extra_headers,
 * "Name: value\r\n" lines, may be NULL) and waits for the response head.
 * Returns the status code, 0 on timeout or close. */
guint          natter_test_raw_upgrade       (NatterTestRaw *raw,
                                              const char    *extra_headers);
/* One masked client frame. */
void           natter_test_raw_send_frame    (NatterTestRaw *raw,
                                              gboolean       fin,
                                              guint8         opcode,
                                              const void    *payload,
                                              gsize          len);
/* Any frame: @first_byte is FIN|RSV|opcode as sent; @masked FALSE sends
 * the payload in clear (which a client must never do). */
void           natter_test_raw_send_raw_frame (NatterTestRaw *raw,
                                               guint8         first_byte,
                                               gboolean       masked,
                                               const void    *payload,
                                               gsize          len);
/* Reads whatever is there (without waiting); FALSE once the peer closed. */
gboolean       natter_test_raw_pump          (NatterTestRaw *raw);
/* Waits until the server closes the connection. */
gboolean       natter_test_raw_wait_eof      (NatterTestRaw *raw,
                                              guint          timeout_ms);
/* Everything read so far. */
GByteArray    *natter_test_raw_get_input     (NatterTestRaw *raw);

G_END_DECLS
