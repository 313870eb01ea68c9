/* natter-json.c: the one gate JSON from the network goes through. */
#include "natter-json.h"
#include "natter-protocol-error.h"

#include <math.h>
#include <string.h>

/* One pass over the text, tracking strings: checks the nesting depth and
 * finds escaped NULs, before json-glib allocates anything. */
static gboolean
scan (const char  *json,
      gsize        len,
      GError     **error)
{
  guint depth = 0;
  gboolean in_string = FALSE;
  gboolean closed = FALSE; /* an array or object at the top has ended */

  for (gsize i = 0; i < len; i++)
    {
      char c = json[i];

      if (in_string)
        {
          if (c == '\\')
            {
              /* json-glib's scanner also takes escapes JSON does not have,
               * such as the octal \666, which decodes to a byte that is not
               * UTF-8: only JSON's own escapes pass. */
              char next = i + 1 < len ? json[i + 1] : '\0';

              if (next == 'u')
                {
                  if (i + 5 >= len ||
                      !g_ascii_isxdigit (json[i + 2]) || !g_ascii_isxdigit (json[i + 3]) ||
                      !g_ascii_isxdigit (json[i + 4]) || !g_ascii_isxdigit (json[i + 5]))
                    {
                      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                                           "Bad \\u escape in a JSON string");
                      return FALSE;
                    }
                  if (memcmp (json + i + 2, "0000", 4) == 0)
                    {
                      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                                           "JSON string contains a NUL character");
                      return FALSE;
                    }
                }
              else if (next == '\0' || strchr ("\"\\/bfnrt", next) == NULL)
                {
                  g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                                       "Bad escape in a JSON string");
                  return FALSE;
                }
              i++;
            }
          else if (c == '"')
            in_string = FALSE;
          else if ((guchar) c < 0x20)
            {
              g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                                   "Control character in a JSON string");
              return FALSE;
            }
          continue;
        }

      /* json-glib is lenient where JSON is not: it takes the first of
       * several values ("{…}{…}") and ignores the rest, and it accepts
       * 'single-quoted' strings. Either would let this server read a body
       * differently from anything strict in front of it. Outside strings,
       * JSON (RFC 8259) has only these characters. */
      if ((closed && !g_ascii_isspace (c)) ||
          strchr ("{}[],:-+.0123456789eEtrufalsn \t\r\n\"", c) == NULL)
        {
          g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                               "Not strict JSON");
          return FALSE;
        }

      switch (c)
        {
        case '"':
          in_string = TRUE;
          break;
        case '[':
        case '{':
          if (++depth > NATTER_JSON_MAX_DEPTH)
            {
              g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_TOO_DEEP,
                                   "JSON nested too deeply");
              return FALSE;
            }
          break;
        case ']':
        case '}':
          if (depth > 0 && --depth == 0)
            closed = TRUE;
          break;
        default:
          break;
        }
    }

  return TRUE;
}

/* Every number we accept must survive being written out again, since the
 * server relays and stores what it reads. json-glib reads 1e999 as infinity,
 * which no JSON text can carry; and json-glib 1.6 writes a double with "%.17g"
 * and appends ".0" when there is no '.', so 3e81 comes out as "3e+81.0", which
 * is not JSON. Both kinds are out of range. */
static gboolean
number_can_be_written (double value)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];

  if (!isfinite (value))
    return FALSE;

  g_ascii_formatd (buffer, sizeof buffer, "%.17g", value);
  return strchr (buffer, 'e') == NULL || strchr (buffer, '.') != NULL;
}

/* Every number can be written back and every string (member names too) is
 * UTF-8. The walk is bounded by the depth limit. */
static gboolean
values_are_writable (JsonNode *node)
{
  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_VALUE:
      if (json_node_get_value_type (node) == G_TYPE_DOUBLE)
        return number_can_be_written (json_node_get_double (node));
      /* A lone low surrogate ("\udc00") decodes to bytes that are not
       * UTF-8, however valid the text around it was. */
      if (json_node_get_value_type (node) == G_TYPE_STRING)
        return g_utf8_validate (json_node_get_string (node), -1, NULL);
      return TRUE;

    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint n = json_array_get_length (array);

        for (guint i = 0; i < n; i++)
          if (!values_are_writable (json_array_get_element (array, i)))
            return FALSE;
        return TRUE;
      }

    case JSON_NODE_OBJECT:
      {
        JsonObjectIter iter;
        JsonNode *member;
        const char *name;

        json_object_iter_init (&iter, json_node_get_object (node));
        while (json_object_iter_next (&iter, &name, &member))
          if (!g_utf8_validate (name, -1, NULL) || !values_are_writable (member))
            return FALSE;
        return TRUE;
      }

    case JSON_NODE_NULL:
    default:
      return TRUE;
    }
}

JsonNode *
natter_json_parse_untrusted (const char  *text,
                             gsize        len,
                             GError     **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) json_error = NULL;
  JsonNode *root;

  g_return_val_if_fail (text != NULL || len == 0, NULL);

  if (!scan (text, len, error))
    return NULL;

  if (!g_utf8_validate_len (text, len, NULL))
    {
      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                           "JSON is not valid UTF-8");
      return NULL;
    }

  parser = json_parser_new_immutable ();
  if (!json_parser_load_from_data (parser, text, (gssize) len, &json_error))
    {
      g_set_error (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                   "Not JSON: %s", json_error->message);
      return NULL;
    }

  /* White space alone parses to no root at all. */
  root = json_parser_get_root (parser);
  if (root == NULL)
    {
      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                           "Empty JSON");
      return NULL;
    }

  if (!values_are_writable (root))
    {
      g_set_error_literal (error, NATTER_PROTOCOL_ERROR, NATTER_PROTOCOL_ERROR_BAD_JSON,
                           "JSON number out of range or string not UTF-8");
      return NULL;
    }

  return json_node_ref (root);
}
