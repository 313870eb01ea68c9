/* natter-chat.c: names, text and ack rules of the chat layer. */
#include "natter-chat.h"

#include <string.h>

G_DEFINE_QUARK (natter-chat-error-quark, natter_chat_error)

static const char * const error_codes[] = {
  "bad_request", "unauthorized", "forbidden", "no_such_room",
  "not_member", "too_large", "rate_limited", "internal",
};

const char *
natter_chat_error_to_code (NatterChatError error)
{
  if ((guint) error >= G_N_ELEMENTS (error_codes))
    return "internal";
  return error_codes[error];
}

NatterChatError
natter_chat_error_from_code (const char *code)
{
  if (code != NULL)
    for (guint i = 0; i < G_N_ELEMENTS (error_codes); i++)
      if (strcmp (code, error_codes[i]) == 0)
        return (NatterChatError) i;

  return NATTER_CHAT_ERROR_INTERNAL;
}

static gboolean
is_user_char (char c)
{
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '-';
}

static gboolean
user_name_is_valid_len (const char *name,
                        gsize       len)
{
  if (len == 0 || len > NATTER_CHAT_MAX_USER_CHARS)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    if (!is_user_char (name[i]))
      return FALSE;

  return TRUE;
}

gboolean
natter_chat_user_name_is_valid (const char *name)
{
  if (name == NULL)
    return FALSE;

  return user_name_is_valid_len (name, strlen (name));
}

gboolean
natter_chat_dm_room_members (const char  *name,
                             char       **user_a,
                             char       **user_b)
{
  const char *plus;
  gsize len_a, len_b;

  if (name == NULL || name[0] != '@')
    return FALSE;

  plus = strchr (name + 1, '+');
  if (plus == NULL)
    return FALSE;

  len_a = (gsize) (plus - (name + 1));
  len_b = strlen (plus + 1);
  if (!user_name_is_valid_len (name + 1, len_a) ||
      !user_name_is_valid_len (plus + 1, len_b))
    return FALSE;

  /* Sorted and distinct, so that one pair of people has exactly one name. */
  {
    int order = strncmp (name + 1, plus + 1, MIN (len_a, len_b));

    if (order > 0 || (order == 0 && len_a >= len_b))
      return FALSE;
  }

  if (user_a != NULL)
    *user_a = g_strndup (name + 1, len_a);
  if (user_b != NULL)
    *user_b = g_strndup (plus + 1, len_b);

  return TRUE;
}

gboolean
natter_chat_room_name_is_dm (const char *name)
{
  return name != NULL && name[0] == '@';
}

gboolean
natter_chat_room_name_is_valid (const char *name)
{
  glong n_chars;

  if (name == NULL || *name == '\0')
    return FALSE;
  if (!g_utf8_validate (name, -1, NULL))
    return FALSE;

  n_chars = g_utf8_strlen (name, -1);
  if (n_chars > NATTER_CHAT_MAX_ROOM_CHARS)
    return FALSE;

  /* " @alice+bob" would pass for a DM in a list, and "general " for
   * "general": names neither start nor end with white space. */
  if (g_unichar_isspace (g_utf8_get_char (name)) ||
      g_unichar_isspace (g_utf8_get_char (g_utf8_find_prev_char (name, name + strlen (name)))))
    return FALSE;

  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      /* Control and format characters (including bidi overrides) would let
       * one name pose as another. */
      if (g_unichar_iscntrl (c) || g_unichar_type (c) == G_UNICODE_FORMAT ||
          g_unichar_type (c) == G_UNICODE_LINE_SEPARATOR ||
          g_unichar_type (c) == G_UNICODE_PARAGRAPH_SEPARATOR)
        return FALSE;
    }

  if (natter_chat_room_name_is_dm (name))
    return natter_chat_dm_room_members (name, NULL, NULL);

  return TRUE;
}

char *
natter_chat_dm_room_name (const char *user_a,
                          const char *user_b)
{
  int order;

  if (!natter_chat_user_name_is_valid (user_a) || !natter_chat_user_name_is_valid (user_b))
    return NULL;

  order = strcmp (user_a, user_b);
  if (order == 0)
    return NULL;

  return order < 0 ? g_strdup_printf ("@%s+%s", user_a, user_b)
                   : g_strdup_printf ("@%s+%s", user_b, user_a);
}

gboolean
natter_chat_text_is_valid (const char      *text,
                           gsize            len,
                           NatterChatError *why)
{
  NatterChatError reason = NATTER_CHAT_ERROR_BAD_REQUEST;
  gboolean valid = FALSE;

  if (text == NULL)
    reason = NATTER_CHAT_ERROR_BAD_REQUEST;
  else if (len > NATTER_CHAT_MAX_TEXT_BYTES)
    reason = NATTER_CHAT_ERROR_TOO_LARGE;
  else
    valid = g_utf8_validate_len (text, len, NULL); /* also refuses NUL */

  if (!valid && why != NULL)
    *why = reason;

  return valid;
}

gboolean
natter_chat_cid_is_valid (const char *cid)
{
  gsize len;

  if (cid == NULL)
    return FALSE;

  len = strlen (cid);
  if (len == 0 || len > NATTER_CHAT_MAX_CID_CHARS)
    return FALSE;

  for (gsize i = 0; i < len; i++)
    if (cid[i] < 0x21 || cid[i] > 0x7e)
      return FALSE;

  return TRUE;
}

gboolean
natter_chat_text_mentions (const char *text,
                           const char *user)
{
  gsize user_len;

  if (text == NULL || !natter_chat_user_name_is_valid (user))
    return FALSE;

  user_len = strlen (user);
  for (const char *p = strchr (text, '@'); p != NULL; p = strchr (p + 1, '@'))
    {
      const char *end = p + 1 + user_len;

      if (p > text && is_user_char (p[-1]))
        continue;
      if (strncmp (p + 1, user, user_len) != 0)
        continue;

      if (!is_user_char (*end))
        return TRUE;

      /* "@bob." and "@bob-" end a sentence; "@bob.smith" is someone else. */
      while (*end == '.' || *end == '-')
        end++;
      if (end > p + 1 + user_len && !is_user_char (*end))
        return TRUE;
    }

  return FALSE;
}

JsonObject *
natter_chat_ack_ok_new (void)
{
  JsonObject *object = json_object_new ();

  json_object_set_boolean_member (object, "ok", TRUE);

  return object;
}

JsonObject *
natter_chat_ack_error_new (NatterChatError  error,
                           const char      *message)
{
  JsonObject *object = json_object_new ();

  json_object_set_boolean_member (object, "ok", FALSE);
  json_object_set_string_member (object, "error", natter_chat_error_to_code (error));
  json_object_set_string_member (object, "message", message != NULL ? message : "");

  return object;
}

gboolean
natter_chat_ack_check (JsonNode  *ack,
                       GError   **error)
{
  JsonObject *object;
  const char *code, *message;

  if (ack == NULL || !JSON_NODE_HOLDS_OBJECT (ack))
    {
      g_set_error_literal (error, NATTER_CHAT_ERROR, NATTER_CHAT_ERROR_INTERNAL,
                           "The server answered with something that is not an ack");
      return FALSE;
    }

  object = json_node_get_object (ack);
  if (natter_chat_json_get_boolean (object, "ok", FALSE))
    return TRUE;

  code = natter_chat_json_get_string (object, "error");
  if (code == NULL)
    code = "internal";
  message = natter_chat_json_get_string (object, "message");
  if (message == NULL)
    message = code;
  g_set_error_literal (error, NATTER_CHAT_ERROR, natter_chat_error_from_code (code), message);

  return FALSE;
}

/* json-glib's typed getters emit criticals on a type mismatch; input from
 * the network must never be able to do that, so these check first. */
const char *
natter_chat_json_get_string (JsonObject *object,
                             const char *member)
{
  JsonNode *node;

  if (object == NULL || member == NULL)
    return NULL;

  node = json_object_get_member (object, member);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;

  return json_node_get_string (node);
}

gboolean
natter_chat_json_get_int (JsonObject *object,
                          const char *member,
                          gint64     *value)
{
  JsonNode *node;

  if (object == NULL || member == NULL)
    return FALSE;

  node = json_object_get_member (object, member);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;

  if (value != NULL)
    *value = json_node_get_int (node);

  return TRUE;
}

gboolean
natter_chat_json_get_boolean (JsonObject *object,
                              const char *member,
                              gboolean    default_value)
{
  JsonNode *node;

  if (object == NULL || member == NULL)
    return default_value;

  node = json_object_get_member (object, member);
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return default_value;

  return json_node_get_boolean (node);
}

JsonObject *
natter_chat_json_get_object (JsonObject *object,
                             const char *member)
{
  JsonNode *node;

  if (object == NULL || member == NULL)
    return NULL;

  node = json_object_get_member (object, member);
  if (node == NULL || !JSON_NODE_HOLDS_OBJECT (node))
    return NULL;

  return json_node_get_object (node);
}
