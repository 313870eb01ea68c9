/* natter-files.h: GET /api/v1/files/{id}: a finished upload's bytes, to
 * members of the room it was uploaded for, streamed from disk in chunks
 * with single-range support. */
#pragma once

#include <libsoup/soup.h>

#include "natter-uploads.h"

G_BEGIN_DECLS

/* The SoupServer handler for /api/v1/files/{id}. */
void   natter_files_handle                 (NatterUploads     *uploads,
                                            SoupServerMessage *msg,
                                            const char        *path);

/* Returns a Content-Disposition value for @filename, newly allocated:
 * an ASCII fallback in filename="…" and the exact name in RFC 6266/8187
 * filename*=UTF-8''…; neither can carry a quote, a slash or a newline. */
char  *natter_files_content_disposition    (const char        *disposition,
                                            const char        *filename);

G_END_DECLS
