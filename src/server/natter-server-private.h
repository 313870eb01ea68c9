/* natter-server-private.h: what the parts of the server share and nobody
 * outside src/server/ may use. */
#pragma once

#include <glib.h>
#include <libsoup/soup.h>

G_BEGIN_DECLS

/* Counters for GET /metrics; owned by NatterServer, written by the parts. */
typedef struct
{
  guint64 messages_delivered_total;  /* message events sent to connections */
  guint64 send_batches_total;        /* store transactions of sends (group commits) */
  guint64 store_syncs_total;         /* fsyncs of the group commit, each before its answers */
  guint64 bytes_in_total;            /* WebSocket payload bytes received */
  guint64 bytes_out_total;           /* WebSocket payload bytes sent */
  guint64 connections_refused_total; /* over a connection cap */
  guint64 backlog_disconnects_total; /* slow readers cut off */
} NatterMetrics;

/* Answers 413 by hand and closes, without reading the rest of the body
 * (natter-server.c); natter-uploads.c uses it for a PATCH that overflows. */
void _natter_server_reject_too_large (SoupServerMessage *msg);

G_END_DECLS
