/* natter-chat-message.c: a chat message and its file, to and from JSON. */
#include "natter-chat-message.h"
#include "natter-chat.h"

#include <string.h>

NatterChatMessage *
natter_chat_message_new (void)
{
  return g_new0 (NatterChatMessage, 1);
}

NatterChatMessage *
natter_chat_message_copy (const NatterChatMessage *message)
{
  NatterChatMessage *copy;

  g_return_val_if_fail (message != NULL, NULL);

  copy = natter_chat_message_new ();
  copy->room = g_strdup (message->room);
  copy->seq = message->seq;
  copy->ts = message->ts;
  copy->from = g_strdup (message->from);
  copy->cid = g_strdup (message->cid);
  copy->text = g_strdup (message->text);
  copy->file = message->file != NULL ? natter_chat_file_copy (message->file) : NULL;

  return copy;
}

void
natter_chat_message_free (NatterChatMessage *message)
{
  if (message == NULL)
    return;

  g_free (message->room);
  g_free (message->from);
  g_free (message->cid);
  g_free (message->text);
  g_clear_pointer (&message->file, natter_chat_file_free);
  g_free (message);
}

JsonObject *
natter_chat_message_to_json (const NatterChatMessage *message)
{
  JsonObject *object;

  g_return_val_if_fail (message != NULL, NULL);

  object = json_object_new ();
  json_object_set_string_member (object, "room", message->room);
  json_object_set_int_member (object, "seq", message->seq);
  json_object_set_int_member (object, "ts", message->ts);
  json_object_set_string_member (object, "from", message->from);
  json_object_set_string_member (object, "cid", message->cid);
  json_object_set_string_member (object, "text", message->text != NULL ? message->text : "");
  if (message->file != NULL)
    json_object_set_object_member (object, "file", natter_chat_file_to_json (message->file));

  return object;
}

static gpointer
fail (GError     **error,
      const char  *what)
{
  g_set_error (error, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_BAD_REQUEST,
               "Invalid message: %s", what);
  return NULL;
}

NatterChatMessage *
natter_chat_message_from_json (JsonObject  *object,
                               GError     **error)
{
  g_autoptr(NatterChatMessage) message = natter_chat_message_new ();
  const char *room, *from, *cid, *text;
  JsonObject *file;

  if (object == NULL)
    return fail (error, "not an object");

  room = natter_chat_json_get_string (object, "room");
  from = natter_chat_json_get_string (object, "from");
  cid = natter_chat_json_get_string (object, "cid");
  text = natter_chat_json_get_string (object, "text");

  if (!natter_chat_room_name_is_valid (room))
    return fail (error, "room");
  if (!natter_chat_json_get_int (object, "seq", &message->seq) || message->seq < 1)
    return fail (error, "seq");
  if (!natter_chat_json_get_int (object, "ts", &message->ts) || message->ts < 0)
    return fail (error, "ts");
  if (!natter_chat_user_name_is_valid (from))
    return fail (error, "from");
  if (!natter_chat_cid_is_valid (cid))
    return fail (error, "cid");
  if (text == NULL || !natter_chat_text_is_valid (text, strlen (text), NULL))
    return fail (error, "text");

  message->room = g_strdup (room);
  message->from = g_strdup (from);
  message->cid = g_strdup (cid);
  message->text = g_strdup (text);

  if (json_object_has_member (object, "file"))
    {
      file = natter_chat_json_get_object (object, "file");
      if (file == NULL)
        return fail (error, "file");
      message->file = natter_chat_file_from_json (file, error);
      if (message->file == NULL)
        return NULL;
    }

  return g_steal_pointer (&message);
}

NatterChatFile *
natter_chat_file_copy (const NatterChatFile *file)
{
  NatterChatFile *copy;

  g_return_val_if_fail (file != NULL, NULL);

  copy = g_new0 (NatterChatFile, 1);
  copy->id = g_strdup (file->id);
  copy->name = g_strdup (file->name);
  copy->size = file->size;
  copy->mime = g_strdup (file->mime);

  return copy;
}

void
natter_chat_file_free (NatterChatFile *file)
{
  if (file == NULL)
    return;

  g_free (file->id);
  g_free (file->name);
  g_free (file->mime);
  g_free (file);
}

JsonObject *
natter_chat_file_to_json (const NatterChatFile *file)
{
  JsonObject *object;

  g_return_val_if_fail (file != NULL, NULL);

  object = json_object_new ();
  json_object_set_string_member (object, "id", file->id);
  json_object_set_string_member (object, "name", file->name);
  json_object_set_int_member (object, "size", file->size);
  json_object_set_string_member (object, "mime", file->mime != NULL ? file->mime : "application/octet-stream");

  return object;
}

NatterChatFile *
natter_chat_file_from_json (JsonObject  *object,
                            GError     **error)
{
  g_autoptr(NatterChatFile) file = g_new0 (NatterChatFile, 1);
  const char *id, *name, *mime;

  id = natter_chat_json_get_string (object, "id");
  name = natter_chat_json_get_string (object, "name");
  mime = natter_chat_json_get_string (object, "mime");

  /* File ids name content on the server; keep them to a safe alphabet so an
   * id can never become a path. */
  if (id == NULL || *id == '\0' || strlen (id) > 128 ||
      strspn (id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen (id))
    return fail (error, "file id");
  if (name == NULL || *name == '\0' || strlen (name) > 255 || !g_utf8_validate (name, -1, NULL))
    return fail (error, "file name");
  if (!natter_chat_json_get_int (object, "size", &file->size) || file->size < 0)
    return fail (error, "file size");
  if (mime == NULL || strlen (mime) > 255 || !g_utf8_validate (mime, -1, NULL))
    return fail (error, "file type");

  file->id = g_strdup (id);
  file->name = g_strdup (name);
  file->mime = g_strdup (mime);

  return g_steal_pointer (&file);
}
