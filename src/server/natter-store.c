/* natter-store.c: the NatterStore interface and its dispatching wrappers. */
#include "natter-store.h"

G_DEFINE_QUARK (natter-store-error-quark, natter_store_error)
G_DEFINE_INTERFACE (NatterStore, natter_store, G_TYPE_OBJECT)

static void
natter_store_default_init (NatterStoreInterface *iface)
{
}

void
natter_store_room_free (NatterStoreRoom *room)
{
  if (room == NULL)
    return;
  g_free (room->name);
  g_free (room->topic);
  g_free (room);
}

gboolean
natter_store_open (NatterStore *self,
                   GError     **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  return NATTER_STORE_GET_IFACE (self)->open (self, error);
}

void
natter_store_close (NatterStore *self)
{
  g_return_if_fail (NATTER_IS_STORE (self));

  NATTER_STORE_GET_IFACE (self)->close (self);
}

gboolean
natter_store_add_user (NatterStore *self,
                       const char  *user,
                       const char  *password_hash,
                       GError     **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  return NATTER_STORE_GET_IFACE (self)->add_user (self, user, password_hash, error);
}

char *
natter_store_get_password_hash (NatterStore *self,
                                const char  *user)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  return NATTER_STORE_GET_IFACE (self)->get_password_hash (self, user);
}

gboolean
natter_store_add_token (NatterStore *self,
                        const char  *token_hash,
                        const char  *user,
                        GError     **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  return NATTER_STORE_GET_IFACE (self)->add_token (self, token_hash, user, error);
}

char *
natter_store_lookup_token (NatterStore *self,
                           const char  *token_hash)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  return NATTER_STORE_GET_IFACE (self)->lookup_token (self, token_hash);
}

gboolean
natter_store_remove_token (NatterStore *self,
                           const char  *token_hash)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  return NATTER_STORE_GET_IFACE (self)->remove_token (self, token_hash);
}

NatterStoreRoom *
natter_store_get_room (NatterStore *self,
                       const char  *name)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  return NATTER_STORE_GET_IFACE (self)->get_room (self, name);
}

gboolean
natter_store_add_room (NatterStore *self,
                       const char  *name,
                       const char  *topic,
                       gboolean     is_public,
                       GError     **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  return NATTER_STORE_GET_IFACE (self)->add_room (self, name, topic, is_public, error);
}

GPtrArray *
natter_store_list_rooms (NatterStore *self,
                         const char  *user)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  return NATTER_STORE_GET_IFACE (self)->list_rooms (self, user);
}

guint
natter_store_count_rooms (NatterStore *self)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  return NATTER_STORE_GET_IFACE (self)->count_rooms (self);
}

gboolean
natter_store_add_member (NatterStore     *self,
                         const char      *room,
                         const char      *user,
                         NatterStoreSync  sync,
                         GError         **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  return NATTER_STORE_GET_IFACE (self)->add_member (self, room, user, sync, error);
}

gboolean
natter_store_remove_member (NatterStore      *self,
                            const char       *room,
                            const char       *user,
                            NatterStoreSync   sync,
                            GError          **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  return NATTER_STORE_GET_IFACE (self)->remove_member (self, room, user, sync, error);
}

gboolean
natter_store_is_member (NatterStore *self,
                        const char  *room,
                        const char  *user)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  return NATTER_STORE_GET_IFACE (self)->is_member (self, room, user);
}

GPtrArray *
natter_store_list_members (NatterStore *self,
                           const char  *room)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  return NATTER_STORE_GET_IFACE (self)->list_members (self, room);
}

gboolean
natter_store_add_message (NatterStore       *self,
                          NatterChatMessage *message,
                          gboolean          *duplicate,
                          GError           **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  return NATTER_STORE_GET_IFACE (self)->add_message (self, message, duplicate, error);
}

gboolean
natter_store_add_messages (NatterStore           *self,
                           NatterChatMessage    **messages,
                           guint                  n,
                           NatterStoreAddResult  *results,
                           GError               **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);
  g_return_val_if_fail (n == 0 || (messages != NULL && results != NULL), FALSE);

  return NATTER_STORE_GET_IFACE (self)->add_messages (self, messages, n, results, error);
}

GPtrArray *
natter_store_get_history (NatterStore *self,
                          const char  *room,
                          gint64       before,
                          gint64       after,
                          guint        limit,
                          gboolean    *more,
                          GError     **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  return NATTER_STORE_GET_IFACE (self)->get_history (self, room, before, after, limit, more, error);
}

guint64
natter_store_count_messages (NatterStore *self)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), 0);

  return NATTER_STORE_GET_IFACE (self)->count_messages (self);
}

GPtrArray *
natter_store_list_peers (NatterStore *self,
                         const char  *user)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), NULL);

  return NATTER_STORE_GET_IFACE (self)->list_peers (self, user);
}

void
natter_store_sync_async (NatterStore         *self,
                         GCancellable        *cancellable,
                         GAsyncReadyCallback  callback,
                         gpointer             user_data)
{
  g_return_if_fail (NATTER_IS_STORE (self));

  NATTER_STORE_GET_IFACE (self)->sync_async (self, cancellable, callback, user_data);
}

gboolean
natter_store_sync_finish (NatterStore   *self,
                          GAsyncResult  *result,
                          GError       **error)
{
  g_return_val_if_fail (NATTER_IS_STORE (self), FALSE);

  return NATTER_STORE_GET_IFACE (self)->sync_finish (self, result, error);
}
