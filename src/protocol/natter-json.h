/* natter-json.h: parsing JSON that came from the network. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define NATTER_JSON_MAX_DEPTH 32

/* Parses @len bytes of JSON from an untrusted peer and returns the root, or
 * NULL with an error in NATTER_PROTOCOL_ERROR. On top of json-glib it
 * refuses: nesting deeper than NATTER_JSON_MAX_DEPTH (json-glib's parser
 * recurses, so a nesting bomb would reach the stack first), invalid UTF-8,
 * and "\u0000" inside strings (json-glib hands strings out as C strings, so
 * a NUL would silently cut a name, a text or a cid short). */
JsonNode *natter_json_parse_untrusted (const char  *text,
                                       gsize        len,
                                       GError     **error);

G_END_DECLS
