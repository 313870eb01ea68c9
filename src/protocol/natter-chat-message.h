/* natter-chat-message.h: one chat message as it travels and is stored,
 * {room, seq, ts, from, cid, text, file?}, with file {id,name,size,mime}. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

typedef struct
{
  char   *id;
  char   *name;
  gint64  size;
  char   *mime;
} NatterChatFile;

typedef struct
{
  char           *room;
  gint64          seq;
  gint64          ts;       /* milliseconds since the epoch */
  char           *from;
  char           *cid;
  char           *text;
  NatterChatFile *file;     /* NULL when the message carries no file */
} NatterChatMessage;

NatterChatMessage *natter_chat_message_new        (void);
NatterChatMessage *natter_chat_message_copy       (const NatterChatMessage *message);
void               natter_chat_message_free       (NatterChatMessage       *message);

JsonObject        *natter_chat_message_to_json    (const NatterChatMessage *message);
/* Validates every field against natter-chat.h's rules. */
NatterChatMessage *natter_chat_message_from_json  (JsonObject              *object,
                                                   GError                 **error);

NatterChatFile    *natter_chat_file_copy          (const NatterChatFile    *file);
void               natter_chat_file_free          (NatterChatFile          *file);
JsonObject        *natter_chat_file_to_json       (const NatterChatFile    *file);
NatterChatFile    *natter_chat_file_from_json     (JsonObject              *object,
                                                   GError                 **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterChatMessage, natter_chat_message_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (NatterChatFile, natter_chat_file_free)

G_END_DECLS
