/* natter-connection-banner.h: "Offline — retrying in 4 s [Retry now]" or
 * "Connecting…" under the header while the session is not online. A
 * GtkRevealer, as libadwaita 1.2 has no AdwBanner. */
#pragma once

#include <adwaita.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_CONNECTION_BANNER (natter_connection_banner_get_type ())

G_DECLARE_FINAL_TYPE (NatterConnectionBanner, natter_connection_banner, NATTER, CONNECTION_BANNER, GtkWidget)

void        natter_connection_banner_set_session (NatterConnectionBanner *self,
                                                  NatterSession          *session);
gboolean    natter_connection_banner_get_revealed (NatterConnectionBanner *self);
const char *natter_connection_banner_get_text     (NatterConnectionBanner *self);

G_END_DECLS
