/* natter-tus-headers.c: the tus 1.0 request headers natter-server reads,
 * parsed by pure functions so that they can be fuzzed on their own. */
#include "natter-tus-headers.h"

#include <string.h>

#define MAX_FILENAME_BYTES 255
#define MAX_MIME_BYTES     127

/* Parses a non-negative decimal header value strictly (no sign, no spaces). */
gboolean
natter_tus_parse_offset (const char *value,
                     guint64    *out)
{
  if (value == NULL || *value == '\0' || strlen (value) > 19)
    return FALSE;
  return g_ascii_string_to_unsigned (value, 10, 0, G_MAXINT64, out, NULL);
}

/* Upload-Metadata: "key base64,key base64,…" (tus 1.0 "creation"). */
GHashTable *
natter_tus_parse_metadata (const char *header)
{
  g_autoptr(GHashTable) table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto(GStrv) pairs = NULL;
  guint i;

  if (header == NULL)
    return g_steal_pointer (&table);

  pairs = g_strsplit (header, ",", 64);
  for (i = 0; pairs[i] != NULL; i++)
    {
      g_autofree char *pair = g_strstrip (g_strdup (pairs[i]));
      char *space = strchr (pair, ' ');
      g_autofree guchar *value = NULL;
      gsize len = 0;

      if (*pair == '\0')
        continue;
      if (space != NULL)
        {
          *space = '\0';
          value = g_base64_decode (space + 1, &len);
        }
      if (g_hash_table_contains (table, pair))
        return NULL;
      /* Values become text; a NUL inside would cut it short. */
      if (value != NULL && memchr (value, '\0', len) != NULL)
        return NULL;
      g_hash_table_insert (table, g_strdup (pair),
                           value != NULL ? g_strndup ((char *) value, len) : g_strdup (""));
    }
  return g_steal_pointer (&table);
}

gboolean
natter_tus_filename_is_valid (const char *name)
{
  const char *p;

  if (name == NULL || *name == '\0' || strlen (name) > MAX_FILENAME_BYTES ||
      !g_utf8_validate (name, -1, NULL))
    return FALSE;
  for (p = name; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;
  return TRUE;
}

/* type "/" subtype, of RFC 9110 token characters: safe in a header. */
gboolean
natter_tus_mime_is_valid (const char *mime)
{
  static const char tchar[] = "!#$%&'*+-.^_`|~";
  gboolean slash = FALSE;
  const char *p;

  if (mime == NULL || *mime == '\0' || *mime == '/' || strlen (mime) > MAX_MIME_BYTES)
    return FALSE;
  for (p = mime; *p != '\0'; p++)
    {
      if (*p == '/' && !slash && p[1] != '\0')
        slash = TRUE;
      else if (!g_ascii_isalnum (*p) && strchr (tchar, *p) == NULL)
        return FALSE;
    }
  return slash;
}

