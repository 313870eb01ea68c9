/* natter-chat.h: the chat layer of DESIGN.md on top of Socket.IO: limits,
 * name and text rules, error codes and the ack shapes. Server and client
 * apply the same rules from here, so they can never disagree. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define NATTER_CHAT_MAX_TEXT_BYTES     (16 * 1024)
#define NATTER_CHAT_MAX_ROOM_CHARS     64
#define NATTER_CHAT_MAX_USER_CHARS     32
#define NATTER_CHAT_MAX_CID_CHARS      64
#define NATTER_CHAT_MAX_TOPIC_BYTES    1024
#define NATTER_CHAT_MAX_HISTORY_LIMIT  200
#define NATTER_CHAT_DEFAULT_ROOM       "general"

/* The ack error codes of DESIGN.md, in the order they are listed there. */
typedef enum
{
  NATTER_CHAT_ERROR_BAD_REQUEST,
  NATTER_CHAT_ERROR_UNAUTHORIZED,
  NATTER_CHAT_ERROR_FORBIDDEN,
  NATTER_CHAT_ERROR_NO_SUCH_ROOM,
  NATTER_CHAT_ERROR_NOT_MEMBER,
  NATTER_CHAT_ERROR_TOO_LARGE,
  NATTER_CHAT_ERROR_RATE_LIMITED,
  NATTER_CHAT_ERROR_INTERNAL,
} NatterChatError;

#define NATTER_CHAT_ERROR (natter_chat_error_quark ())
GQuark           natter_chat_error_quark          (void);

const char      *natter_chat_error_to_code        (NatterChatError  error);
/* Unknown codes map to NATTER_CHAT_ERROR_INTERNAL. */
NatterChatError  natter_chat_error_from_code      (const char      *code);

/* 1–32 of [a-z0-9_.-] */
gboolean         natter_chat_user_name_is_valid   (const char      *name);
/* 1–64 characters of valid UTF-8, no control characters. A name that starts
 * with '@' is a DM room and must also be a well-formed DM name. */
gboolean         natter_chat_room_name_is_valid   (const char      *name);
gboolean         natter_chat_room_name_is_dm      (const char      *name);
/* Returns "@a+b" with the two users sorted; NULL if either name is invalid
 * or they are the same user. */
char            *natter_chat_dm_room_name         (const char      *user_a,
                                                   const char      *user_b);
/* Splits a DM name into its two users; FALSE if @name is not one. */
gboolean         natter_chat_dm_room_members      (const char      *name,
                                                   char           **user_a,
                                                   char           **user_b);
/* Valid UTF-8, at most NATTER_CHAT_MAX_TEXT_BYTES, no NUL. */
gboolean         natter_chat_text_is_valid        (const char      *text,
                                                   gsize            len,
                                                   NatterChatError *why);
/* 1–64 printable ASCII characters. */
gboolean         natter_chat_cid_is_valid         (const char      *cid);

/* TRUE when @text mentions @user as "@user" (not inside a longer name). */
gboolean         natter_chat_text_mentions        (const char      *text,
                                                   const char      *user);

/* Ack payloads: {"ok":true} to add members to, and
 * {"ok":false,"error":CODE,"message":TEXT}. */
JsonObject      *natter_chat_ack_ok_new           (void);
JsonObject      *natter_chat_ack_error_new        (NatterChatError  error,
                                                   const char      *message);
/* Reads an ack object back: TRUE when ok; otherwise sets @error in the
 * NATTER_CHAT_ERROR domain with the code and message it carried. */
gboolean         natter_chat_ack_check            (JsonNode        *ack,
                                                   GError         **error);

/* Type-checked readers for objects that came from the network: they return
 * NULL / FALSE / the default on a missing member or a wrong type, and never
 * warn (json-glib's own getters emit criticals on a type mismatch). */
const char      *natter_chat_json_get_string      (JsonObject      *object,
                                                   const char      *member);
gboolean         natter_chat_json_get_int         (JsonObject      *object,
                                                   const char      *member,
                                                   gint64          *value);
gboolean         natter_chat_json_get_boolean     (JsonObject      *object,
                                                   const char      *member,
                                                   gboolean         default_value);
JsonObject      *natter_chat_json_get_object      (JsonObject      *object,
                                                   const char      *member);

G_END_DECLS
