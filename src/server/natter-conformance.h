/* natter-conformance.h: what `natter-server --conformance` serves for the
 * upstream Engine.IO v4 / Socket.IO v5 protocol test suites: a bare
 * Engine.IO echo at /engine.io/ and, at /socket.io/, namespaces "/" and
 * "/custom" that emit "auth" on connect, echo "message" as "message-back"
 * and ack "message-with-ack" with its arguments (binary parts included). */
#pragma once

#include "natter-connection.h"

G_BEGIN_DECLS

#define NATTER_TYPE_CONFORMANCE (natter_conformance_get_type ())

G_DECLARE_FINAL_TYPE (NatterConformance, natter_conformance, NATTER, CONFORMANCE, GObject)

NatterConformance *natter_conformance_new    (void);
void               natter_conformance_attach (NatterConformance *self,
                                              NatterConnection  *connection);

G_END_DECLS
