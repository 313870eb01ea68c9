/* natter-file-transfers.h: the downloads of one session, by file id, so that
 * a timeline row that is recycled and bound again finds its file's progress,
 * and image thumbnails loaded once. */
#pragma once

#include <gtk/gtk.h>
#include <natter-client.h>

G_BEGIN_DECLS

#define NATTER_TYPE_FILE_TRANSFERS (natter_file_transfers_get_type ())

G_DECLARE_FINAL_TYPE (NatterFileTransfers, natter_file_transfers, NATTER, FILE_TRANSFERS, GObject)

/* The one of @session, made on first use (transfer none). */
NatterFileTransfers *natter_file_transfers_get            (NatterSession       *session);
/* The download of @file_id, or NULL (transfer none). */
NatterTransfer      *natter_file_transfers_lookup         (NatterFileTransfers *self,
                                                           const char          *file_id);
/* Starts the download of @message's file into the cache, or returns the
 * one that runs; a file in the cache is done at once (transfer full). */
NatterTransfer      *natter_file_transfers_download       (NatterFileTransfers *self,
                                                           NatterMessage       *message);
/* The thumbnail of an image file, once downloaded and scaled, or NULL
 * (transfer none). ::thumbnail-ready tells when one arrives. */
GdkTexture          *natter_file_transfers_get_thumbnail  (NatterFileTransfers *self,
                                                           const char          *file_id);

G_END_DECLS
