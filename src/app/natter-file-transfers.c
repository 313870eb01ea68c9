/* natter-file-transfers.c: one download per file id and session. Two rows
 * showing the same file (or one row bound twice) must not start two
 * downloads into the same cache file. Only unfinished downloads are kept:
 * a transfer holds its session, and the session holds this. A finished
 * download is found again in the cache without a request. */

#include "natter-file-transfers.h"

/* Thumbnails kept in memory; past this the oldest half is dropped. */
#define MAX_THUMBNAILS 200

struct _NatterFileTransfers
{
  GObject        parent_instance;

  NatterSession *session;      /* not owned: it owns us */
  GHashTable    *transfers;    /* file id → NatterTransfer, unfinished */
  GHashTable    *thumbnails;   /* file id → GdkTexture */
  GQueue         thumbnail_order;
};

G_DEFINE_FINAL_TYPE (NatterFileTransfers, natter_file_transfers, G_TYPE_OBJECT)

enum {
  THUMBNAIL_READY,
  N_SIGNALS
};

static guint signals [N_SIGNALS];

static void
load_texture_thread (GTask        *task,
                     gpointer      source,
                     gpointer      task_data,
                     GCancellable *cancellable)
{
  GError *error = NULL;
  GdkTexture *texture = gdk_texture_new_from_file (task_data, &error);

  if (texture == NULL)
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, texture, g_object_unref);
}

static void
load_texture_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  NatterFileTransfers *self = NATTER_FILE_TRANSFERS (source);
  g_autofree char *file_id = user_data;
  g_autoptr(GError) error = NULL;
  GdkTexture *texture = g_task_propagate_pointer (G_TASK (result), &error);

  if (texture == NULL)
    {
      g_debug ("thumbnail of %s: %s", file_id, error->message);
      return;
    }
  if (g_queue_get_length (&self->thumbnail_order) >= MAX_THUMBNAILS)
    for (guint i = 0; i < MAX_THUMBNAILS / 2; i++)
      {
        g_autofree char *old = g_queue_pop_head (&self->thumbnail_order);
        g_hash_table_remove (self->thumbnails, old);
      }
  g_queue_push_tail (&self->thumbnail_order, g_strdup (file_id));
  g_hash_table_replace (self->thumbnails, g_strdup (file_id), texture);
  g_signal_emit (self, signals [THUMBNAIL_READY], 0, file_id);
}

static void
on_thumbnail (NatterFileTransfers *self,
              GParamSpec          *pspec,
              NatterTransfer      *transfer)
{
  GFile *thumbnail = natter_transfer_get_thumbnail (transfer);
  g_autoptr(GTask) task = NULL;

  if (thumbnail == NULL || natter_transfer_get_file_id (transfer) == NULL)
    return;
  /* Even a small PNG is file I/O and decoding: not on the main thread. */
  task = g_task_new (self, NULL, load_texture_cb, g_strdup (natter_transfer_get_file_id (transfer)));
  g_task_set_task_data (task, g_object_ref (thumbnail), g_object_unref);
  g_task_run_in_thread (task, load_texture_thread);
}

static gboolean
is_finished (NatterTransfer *transfer)
{
  NatterTransferState state = natter_transfer_get_state (transfer);

  return state == NATTER_TRANSFER_STATE_DONE || state == NATTER_TRANSFER_STATE_FAILED;
}

static gboolean
forget_finished_cb (gpointer user_data)
{
  NatterFileTransfers *self = user_data;
  GHashTableIter iter;
  gpointer transfer;

  if (self->transfers != NULL)
    {
      g_hash_table_iter_init (&iter, self->transfers);
      while (g_hash_table_iter_next (&iter, NULL, &transfer))
        if (is_finished (transfer))
          g_hash_table_iter_remove (&iter);
    }
  return G_SOURCE_REMOVE;
}

static void
on_state (NatterFileTransfers *self,
          GParamSpec          *pspec,
          NatterTransfer      *transfer)
{
  /* Not while the transfer is telling everyone its news. */
  if (is_finished (transfer))
    g_idle_add_full (G_PRIORITY_DEFAULT, forget_finished_cb, g_object_ref (self), g_object_unref);
}

static void
on_session_state (NatterFileTransfers *self)
{
  GHashTableIter iter;
  gpointer transfer;

  if (natter_session_get_state (self->session) != NATTER_SESSION_STATE_SIGNED_OUT)
    return;
  /* Signed out: nothing more will come down for this account. */
  g_hash_table_iter_init (&iter, self->transfers);
  while (g_hash_table_iter_next (&iter, NULL, &transfer))
    natter_transfer_cancel (transfer);
}

NatterTransfer *
natter_file_transfers_lookup (NatterFileTransfers *self,
                              const char          *file_id)
{
  g_return_val_if_fail (NATTER_IS_FILE_TRANSFERS (self), NULL);

  return file_id != NULL ? g_hash_table_lookup (self->transfers, file_id) : NULL;
}

NatterTransfer *
natter_file_transfers_download (NatterFileTransfers *self,
                                NatterMessage       *message)
{
  const char *file_id;
  NatterTransfer *transfer;

  g_return_val_if_fail (NATTER_IS_FILE_TRANSFERS (self), NULL);
  g_return_val_if_fail (NATTER_IS_MESSAGE (message), NULL);

  file_id = natter_message_get_file_id (message);
  g_return_val_if_fail (file_id != NULL, NULL);

  transfer = g_hash_table_lookup (self->transfers, file_id);
  if (transfer != NULL && !is_finished (transfer))
    {
      if (natter_transfer_get_state (transfer) == NATTER_TRANSFER_STATE_PAUSED)
        natter_transfer_resume (transfer);
      return g_object_ref (transfer);
    }

  transfer = natter_transfer_new_download (self->session, message, NULL);
  g_signal_connect_object (transfer, "notify::thumbnail", G_CALLBACK (on_thumbnail), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (transfer, "notify::state", G_CALLBACK (on_state), self, G_CONNECT_SWAPPED);
  natter_transfer_start (transfer);
  /* One found in the cache is done at once and need not be kept. */
  if (!is_finished (transfer))
    g_hash_table_replace (self->transfers, g_strdup (file_id), g_object_ref (transfer));
  return transfer;
}

GdkTexture *
natter_file_transfers_get_thumbnail (NatterFileTransfers *self,
                                     const char          *file_id)
{
  g_return_val_if_fail (NATTER_IS_FILE_TRANSFERS (self), NULL);

  return file_id != NULL ? g_hash_table_lookup (self->thumbnails, file_id) : NULL;
}

NatterFileTransfers *
natter_file_transfers_get (NatterSession *session)
{
  NatterFileTransfers *self;

  g_return_val_if_fail (NATTER_IS_SESSION (session), NULL);

  self = g_object_get_data (G_OBJECT (session), "natter-file-transfers");
  if (self == NULL)
    {
      self = g_object_new (NATTER_TYPE_FILE_TRANSFERS, NULL);
      self->session = session;
      g_signal_connect_object (session, "notify::state", G_CALLBACK (on_session_state), self, G_CONNECT_SWAPPED);
      g_object_set_data_full (G_OBJECT (session), "natter-file-transfers", self, g_object_unref);
    }
  return self;
}

static void
natter_file_transfers_dispose (GObject *object)
{
  NatterFileTransfers *self = NATTER_FILE_TRANSFERS (object);
  GHashTableIter iter;
  gpointer transfer;

  /* The session goes: so do its downloads. */
  if (self->transfers != NULL)
    {
      g_hash_table_iter_init (&iter, self->transfers);
      while (g_hash_table_iter_next (&iter, NULL, &transfer))
        natter_transfer_cancel (transfer);
    }
  g_clear_pointer (&self->transfers, g_hash_table_unref);
  g_clear_pointer (&self->thumbnails, g_hash_table_unref);
  g_queue_clear_full (&self->thumbnail_order, g_free);
  G_OBJECT_CLASS (natter_file_transfers_parent_class)->dispose (object);
}

static void
natter_file_transfers_class_init (NatterFileTransfersClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = natter_file_transfers_dispose;

  /* A thumbnail for the file id arrived (natter_file_transfers_get_thumbnail). */
  signals [THUMBNAIL_READY] =
    g_signal_new ("thumbnail-ready", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
natter_file_transfers_init (NatterFileTransfers *self)
{
  self->transfers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->thumbnails = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  g_queue_init (&self->thumbnail_order);
}
