/* natter-eio-open.h: the Engine.IO OPEN handshake payload,
 * {"sid","upgrades","pingInterval","pingTimeout","maxPayload"}. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char   *sid;
  guint   ping_interval_ms;
  guint   ping_timeout_ms;
  guint64 max_payload;
} NatterEioOpen;

/* Returns the whole text frame, "0{...}", newly allocated. */
char          *natter_eio_open_encode (const NatterEioOpen  *open);

/* Parses the payload after the "0" digit. */
NatterEioOpen *natter_eio_open_parse  (const char           *payload,
                                       gsize                 payload_len,
                                       GError              **error);

void           natter_eio_open_free   (NatterEioOpen        *open);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterEioOpen, natter_eio_open_free)

G_END_DECLS
