/* natter-uploads.h: resumable uploads over tus 1.0 (core + creation) under
 * /api/v1/uploads, the bytes streamed to disk as they arrive, and the
 * finished files kept content-addressed in <data-dir>/files/. */
#pragma once

#include <libsoup/soup.h>

#include "natter-server-config.h"
#include "natter-store.h"

G_BEGIN_DECLS

/* What a finished upload is, for GET /api/v1/files/{id} (natter-files.c). */
typedef struct
{
  char   *id;
  char   *owner;
  char   *room;
  char   *filename;
  char   *mime;
  char   *sha256;  /* hex */
  char   *path;    /* of the content-addressed blob */
  gint64  size;
} NatterUploadsFile;

void natter_uploads_file_free (NatterUploadsFile *file);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterUploadsFile, natter_uploads_file_free)

#define NATTER_TYPE_UPLOADS (natter_uploads_get_type ())

G_DECLARE_FINAL_TYPE (NatterUploads, natter_uploads, NATTER, UPLOADS, GObject)

/* Opens (or creates) <data_dir>/files.db, <data_dir>/uploads/ and
 * <data_dir>/files/, and sweeps abandoned uploads once now and then hourly. */
NatterUploads     *natter_uploads_new           (NatterStore              *store,
                                                 const NatterServerConfig *config,
                                                 const char               *data_dir,
                                                 GError                  **error);

/* Called from a message's "got-headers": returns TRUE when @msg is a
 * request whose body (or response) streams and is handled here — an
 * authorised PATCH of an upload, or a file download — so that the
 * server's whole-body cap and request timeout must not apply to it. */
gboolean           natter_uploads_claim_message (NatterUploads            *self,
                                                 SoupServerMessage        *msg);

/* The SoupServer handler for /api/v1/uploads[/{id}]. */
void               natter_uploads_handle        (NatterUploads            *self,
                                                 SoupServerMessage        *msg,
                                                 const char               *path);

/* Removes the unfinished uploads created before @now_ms minus the expiry,
 * with their temporary files; returns how many went. */
guint              natter_uploads_expire        (NatterUploads            *self,
                                                 gint64                    now_ms);

/* Returns the user of the request's "Authorization: Bearer" token, newly
 * allocated, or NULL. */
char              *natter_uploads_authenticate  (NatterUploads            *self,
                                                 SoupServerMessage        *msg);

/* Returns the finished upload @id, or NULL when there is none. */
NatterUploadsFile *natter_uploads_lookup_file   (NatterUploads            *self,
                                                 const char               *id);

NatterStore       *natter_uploads_get_store     (NatterUploads            *self);

/* TRUE when @id is made of the id alphabet only (so it is safe in a path). */
gboolean           natter_uploads_id_is_valid   (const char               *id);

G_END_DECLS
