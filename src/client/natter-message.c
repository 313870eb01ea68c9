/* natter-message.c: one timeline entry. Immutable once sent, except that a
 * pending message turns into a sent or failed one in place. */
#include "natter-client-private.h"

struct _NatterMessage
{
  GObject             parent_instance;
  char               *room;
  gint64              seq;
  gint64              ts;
  char               *from;
  char               *cid;
  char               *text;
  NatterChatFile     *file;
  NatterMessageState  state;
  char               *error;
  gboolean            mentions_me;
  gboolean            outgoing;
  gint64              outbox_id;
};

G_DEFINE_FINAL_TYPE (NatterMessage, natter_message, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_ROOM,
  PROP_SEQ,
  PROP_TS,
  PROP_FROM,
  PROP_CID,
  PROP_TEXT,
  PROP_FILE_ID,
  PROP_FILE_NAME,
  PROP_FILE_SIZE,
  PROP_FILE_MIME,
  PROP_STATE,
  PROP_ERROR,
  PROP_MENTIONS_ME,
  PROP_OUTGOING,
  N_PROPS
};
static GParamSpec *properties[N_PROPS];

static void
natter_message_finalize (GObject *object)
{
  NatterMessage *self = NATTER_MESSAGE (object);

  g_clear_pointer (&self->room, g_free);
  g_clear_pointer (&self->from, g_free);
  g_clear_pointer (&self->cid, g_free);
  g_clear_pointer (&self->text, g_free);
  g_clear_pointer (&self->file, natter_chat_file_free);
  g_clear_pointer (&self->error, g_free);
  G_OBJECT_CLASS (natter_message_parent_class)->finalize (object);
}

static void
natter_message_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  NatterMessage *self = NATTER_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_ROOM: g_value_set_string (value, self->room); break;
    case PROP_SEQ: g_value_set_int64 (value, self->seq); break;
    case PROP_TS: g_value_set_int64 (value, self->ts); break;
    case PROP_FROM: g_value_set_string (value, self->from); break;
    case PROP_CID: g_value_set_string (value, self->cid); break;
    case PROP_TEXT: g_value_set_string (value, self->text); break;
    case PROP_FILE_ID: g_value_set_string (value, natter_message_get_file_id (self)); break;
    case PROP_FILE_NAME: g_value_set_string (value, natter_message_get_file_name (self)); break;
    case PROP_FILE_SIZE: g_value_set_int64 (value, natter_message_get_file_size (self)); break;
    case PROP_FILE_MIME: g_value_set_string (value, natter_message_get_file_mime (self)); break;
    case PROP_STATE: g_value_set_enum (value, self->state); break;
    case PROP_ERROR: g_value_set_string (value, self->error); break;
    case PROP_MENTIONS_ME: g_value_set_boolean (value, self->mentions_me); break;
    case PROP_OUTGOING: g_value_set_boolean (value, self->outgoing); break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
natter_message_class_init (NatterMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = natter_message_finalize;
  object_class->get_property = natter_message_get_property;

  properties[PROP_ROOM] = g_param_spec_string ("room", NULL, NULL, NULL, flags);
  properties[PROP_SEQ] = g_param_spec_int64 ("seq", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_TS] = g_param_spec_int64 ("ts", NULL, NULL, 0, G_MAXINT64, 0, flags);
  properties[PROP_FROM] = g_param_spec_string ("from", NULL, NULL, NULL, flags);
  properties[PROP_CID] = g_param_spec_string ("cid", NULL, NULL, NULL, flags);
  properties[PROP_TEXT] = g_param_spec_string ("text", NULL, NULL, NULL, flags);
  properties[PROP_FILE_ID] = g_param_spec_string ("file-id", NULL, NULL, NULL, flags);
  properties[PROP_FILE_NAME] = g_param_spec_string ("file-name", NULL, NULL, NULL, flags);
  properties[PROP_FILE_SIZE] = g_param_spec_int64 ("file-size", NULL, NULL, -1, G_MAXINT64, -1, flags);
  properties[PROP_FILE_MIME] = g_param_spec_string ("file-mime", NULL, NULL, NULL, flags);
  properties[PROP_STATE] = g_param_spec_enum ("state", NULL, NULL, NATTER_TYPE_MESSAGE_STATE,
                                              NATTER_MESSAGE_STATE_PENDING, flags);
  properties[PROP_ERROR] = g_param_spec_string ("error", NULL, NULL, NULL, flags);
  properties[PROP_MENTIONS_ME] = g_param_spec_boolean ("mentions-me", NULL, NULL, FALSE, flags);
  properties[PROP_OUTGOING] = g_param_spec_boolean ("outgoing", NULL, NULL, FALSE, flags);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
natter_message_init (NatterMessage *self)
{
}

NatterMessage *
_natter_message_new (const NatterChatMessage *chat,
                     NatterMessageState       state,
                     const char              *me)
{
  NatterMessage *self = g_object_new (NATTER_TYPE_MESSAGE, NULL);

  self->room = g_strdup (chat->room);
  self->seq = chat->seq;
  self->ts = chat->ts;
  self->from = g_strdup (chat->from);
  self->cid = g_strdup (chat->cid);
  self->text = g_strdup (chat->text != NULL ? chat->text : "");
  self->file = chat->file != NULL ? natter_chat_file_copy (chat->file) : NULL;
  self->state = state;
  self->outgoing = me != NULL && g_strcmp0 (chat->from, me) == 0;
  self->mentions_me = me != NULL && !self->outgoing &&
                      natter_chat_text_mentions (self->text, me);
  return self;
}

void
_natter_message_set_sent (NatterMessage *self,
                          gint64         seq,
                          gint64         ts)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (self->seq != seq)
    {
      self->seq = seq;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SEQ]);
    }
  if (self->ts != ts)
    {
      self->ts = ts;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TS]);
    }
  if (self->error != NULL)
    {
      g_clear_pointer (&self->error, g_free);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
    }
  if (self->state != NATTER_MESSAGE_STATE_SENT)
    {
      self->state = NATTER_MESSAGE_STATE_SENT;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

void
_natter_message_set_failed (NatterMessage *self,
                            const char    *error)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (g_strcmp0 (self->error, error) != 0)
    {
      g_free (self->error);
      self->error = g_strdup (error);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
    }
  if (self->state != NATTER_MESSAGE_STATE_FAILED)
    {
      self->state = NATTER_MESSAGE_STATE_FAILED;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

void
_natter_message_set_pending (NatterMessage *self)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (self->error != NULL)
    {
      g_clear_pointer (&self->error, g_free);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
    }
  if (self->state != NATTER_MESSAGE_STATE_PENDING)
    {
      self->state = NATTER_MESSAGE_STATE_PENDING;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

gint64
_natter_message_get_outbox_id (NatterMessage *self)
{
  return self->outbox_id;
}

void
_natter_message_set_outbox_id (NatterMessage *self,
                               gint64         id)
{
  self->outbox_id = id;
}

const char *
natter_message_get_room (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->room;
}

gint64
natter_message_get_seq (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), 0);
  return self->seq;
}

gint64
natter_message_get_ts (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), 0);
  return self->ts;
}

GDateTime *
natter_message_dup_datetime (NatterMessage *self)
{
  g_autoptr(GDateTime) utc = NULL;

  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);

  utc = g_date_time_new_from_unix_utc (self->ts / 1000);
  if (utc == NULL)
    return NULL;
  return g_date_time_to_local (utc);
}

const char *
natter_message_get_from (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->from;
}

const char *
natter_message_get_cid (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->cid;
}

const char *
natter_message_get_text (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->text;
}

const char *
natter_message_get_file_id (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->file != NULL ? self->file->id : NULL;
}

const char *
natter_message_get_file_name (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->file != NULL ? self->file->name : NULL;
}

gint64
natter_message_get_file_size (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), -1);
  return self->file != NULL ? self->file->size : -1;
}

const char *
natter_message_get_file_mime (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->file != NULL ? self->file->mime : NULL;
}

NatterMessageState
natter_message_get_state (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NATTER_MESSAGE_STATE_PENDING);
  return self->state;
}

const char *
natter_message_get_error (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), NULL);
  return self->error;
}

gboolean
natter_message_get_mentions_me (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), FALSE);
  return self->mentions_me;
}

gboolean
natter_message_get_outgoing (NatterMessage *self)
{
  g_return_val_if_fail (NATTER_IS_MESSAGE (self), FALSE);
  return self->outgoing;
}
