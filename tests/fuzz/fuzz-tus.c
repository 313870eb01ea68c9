/* fuzz-tus.c: the tus headers natter-server reads from any client. The input
 * is split at the first newline: Upload-Offset before it, Upload-Metadata
 * after; every decoded value also goes through the name and type rules. */
#include "natter-tus-headers.h"

#include <string.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
LLVMFuzzerTestOneInput (const guint8 *data,
                        size_t        size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  char *newline = strchr (text, '\n');
  const char *metadata = "";
  GHashTable *table;
  guint64 offset;

  if (newline != NULL)
    {
      *newline = '\0';
      metadata = newline + 1;
    }

  if (natter_tus_parse_offset (text, &offset))
    g_assert (offset <= G_MAXINT64);

  table = natter_tus_parse_metadata (metadata);
  if (table != NULL)
    {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, table);
      while (g_hash_table_iter_next (&iter, NULL, &value))
        {
          (void) natter_tus_filename_is_valid (value);
          (void) natter_tus_mime_is_valid (value);
        }
      g_hash_table_unref (table);
    }

  return 0;
}
