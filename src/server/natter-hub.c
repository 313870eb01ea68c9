/* natter-hub.c: see the header. */
#include "natter-hub.h"

struct _NatterHub
{
  GObject     parent_instance;

  GHashTable *by_user; /* user → GPtrArray of NatterConnection (unowned) */

  /* Between batch_begin and batch_end: the connections corked so far. */
  GPtrArray  *corked;
  guint       batch_depth;
};

G_DEFINE_FINAL_TYPE (NatterHub, natter_hub, G_TYPE_OBJECT)

static void
natter_hub_finalize (GObject *object)
{
  NatterHub *self = NATTER_HUB (object);

  g_clear_pointer (&self->by_user, g_hash_table_unref);
  g_clear_pointer (&self->corked, g_ptr_array_unref);

  G_OBJECT_CLASS (natter_hub_parent_class)->finalize (object);
}

static void
natter_hub_class_init (NatterHubClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = natter_hub_finalize;
}

static void
natter_hub_init (NatterHub *self)
{
  self->by_user = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify) g_ptr_array_unref);
  self->corked = g_ptr_array_new_with_free_func (g_object_unref);
}

void
natter_hub_batch_begin (NatterHub *self)
{
  g_return_if_fail (NATTER_IS_HUB (self));

  self->batch_depth++;
}

void
natter_hub_batch_add (NatterHub        *self,
                      NatterConnection *connection)
{
  g_return_if_fail (NATTER_IS_HUB (self));

  if (self->batch_depth > 0 && natter_connection_cork (connection))
    g_ptr_array_add (self->corked, g_object_ref (connection));
}

void
natter_hub_batch_end (NatterHub *self)
{
  g_autoptr(GPtrArray) corked = NULL;
  guint i;

  g_return_if_fail (NATTER_IS_HUB (self));
  g_return_if_fail (self->batch_depth > 0);

  if (--self->batch_depth > 0)
    return;

  corked = g_steal_pointer (&self->corked);
  self->corked = g_ptr_array_new_with_free_func (g_object_unref);
  for (i = 0; i < corked->len; i++)
    natter_connection_uncork (g_ptr_array_index (corked, i));
}

NatterHub *
natter_hub_new (void)
{
  return g_object_new (NATTER_TYPE_HUB, NULL);
}

gboolean
natter_hub_add (NatterHub        *self,
                NatterConnection *connection)
{
  const char *user;
  GPtrArray *list;

  g_return_val_if_fail (NATTER_IS_HUB (self), FALSE);

  user = natter_connection_get_user (connection);
  g_return_val_if_fail (user != NULL, FALSE);

  list = g_hash_table_lookup (self->by_user, user);
  if (list == NULL)
    {
      list = g_ptr_array_new ();
      g_hash_table_insert (self->by_user, g_strdup (user), list);
    }
  if (g_ptr_array_find (list, connection, NULL))
    return FALSE;
  g_ptr_array_add (list, connection);
  return list->len == 1;
}

gboolean
natter_hub_remove (NatterHub        *self,
                   NatterConnection *connection)
{
  const char *user;
  GPtrArray *list;

  g_return_val_if_fail (NATTER_IS_HUB (self), FALSE);

  user = natter_connection_get_user (connection);
  if (user == NULL)
    return FALSE;

  list = g_hash_table_lookup (self->by_user, user);
  if (list == NULL || !g_ptr_array_remove (list, connection))
    return FALSE;
  if (list->len > 0)
    return FALSE;

  g_hash_table_remove (self->by_user, user);
  return TRUE;
}

gboolean
natter_hub_is_online (NatterHub  *self,
                      const char *user)
{
  g_return_val_if_fail (NATTER_IS_HUB (self), FALSE);

  return g_hash_table_contains (self->by_user, user);
}

guint
natter_hub_get_n_users_online (NatterHub *self)
{
  g_return_val_if_fail (NATTER_IS_HUB (self), 0);

  return g_hash_table_size (self->by_user);
}

static guint
publish_to_list (NatterHub        *hub,
                 GPtrArray        *list,
                 const char       *frame,
                 NatterConnection *except)
{
  g_autoptr(GPtrArray) copy = NULL;
  guint i, n = 0;

  if (list == NULL)
    return 0;

  /* Sending may cut off a slow reader, which changes @list under us. */
  copy = g_ptr_array_copy (list, (GCopyFunc) g_object_ref, NULL);
  g_ptr_array_set_free_func (copy, g_object_unref);

  for (i = 0; i < copy->len; i++)
    {
      NatterConnection *connection = g_ptr_array_index (copy, i);

      if (connection == except || natter_connection_is_closed (connection))
        continue;
      natter_hub_batch_add (hub, connection);
      natter_connection_send_frame (connection, frame);
      n++;
    }
  return n;
}

guint
natter_hub_publish (NatterHub        *self,
                    GPtrArray        *users,
                    const char       *frame,
                    NatterConnection *except)
{
  guint i, n = 0;

  g_return_val_if_fail (NATTER_IS_HUB (self), 0);

  for (i = 0; i < users->len; i++)
    n += publish_to_list (self, g_hash_table_lookup (self->by_user, g_ptr_array_index (users, i)),
                          frame, except);
  return n;
}

guint
natter_hub_publish_all (NatterHub        *self,
                        const char       *frame,
                        NatterConnection *except)
{
  g_autoptr(GPtrArray) users = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  gpointer key;

  g_return_val_if_fail (NATTER_IS_HUB (self), 0);

  g_hash_table_iter_init (&iter, self->by_user);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (users, g_strdup (key));
  return natter_hub_publish (self, users, frame, except);
}

GPtrArray *
natter_hub_dup_by_token (NatterHub  *self,
                         const char *token_hash)
{
  GPtrArray *result = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer value;
  guint i;

  g_return_val_if_fail (NATTER_IS_HUB (self), result);

  g_hash_table_iter_init (&iter, self->by_user);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      GPtrArray *list = value;

      for (i = 0; i < list->len; i++)
        {
          NatterConnection *connection = g_ptr_array_index (list, i);

          if (g_strcmp0 (natter_connection_get_token_hash (connection), token_hash) == 0)
            g_ptr_array_add (result, g_object_ref (connection));
        }
    }
  return result;
}
