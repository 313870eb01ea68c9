/* natter-tus-headers.h: parsing the tus 1.0 headers of an upload. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Upload-Offset / Upload-Length: a non-negative decimal, strictly (no sign,
 * no spaces, at most 2^63-1). */
gboolean    natter_tus_parse_offset        (const char *value,
                                            guint64    *out);
/* Upload-Metadata: "key base64,key base64,…". Returns key → decoded value
 * (a key without a value maps to ""), or NULL when a key repeats or a value
 * holds a NUL. NULL @header gives an empty table. */
GHashTable *natter_tus_parse_metadata      (const char *header);
/* A file name is metadata only: 1–255 bytes of UTF-8, no control characters. */
gboolean    natter_tus_filename_is_valid   (const char *name);
/* type "/" subtype of RFC 9110 token characters, at most 127 bytes. */
gboolean    natter_tus_mime_is_valid       (const char *mime);

G_END_DECLS
