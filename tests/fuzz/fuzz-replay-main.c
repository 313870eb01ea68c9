/* fuzz-replay-main.c: runs a fuzz target over its corpus without libFuzzer,
 * so every build (and the sanitizer build) replays the seeds and every crash
 * ever found as regression cases. */
#include <glib.h>
#include <stdio.h>

int LLVMFuzzerTestOneInput (const guint8 *data, size_t size);

int
main (int   argc,
      char *argv[])
{
  guint count = 0;

  if (argc != 2)
    {
      g_printerr ("usage: %s CORPUS-DIR\n", argv[0]);
      return 2;
    }

  printf ("TAP version 13\n");
  {
    g_autoptr(GDir) dir = g_dir_open (argv[1], 0, NULL);
    const char *name;

    if (dir == NULL)
      {
        printf ("Bail out! no corpus at %s\n", argv[1]);
        return 1;
      }

    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *path = g_build_filename (argv[1], name, NULL);
        g_autofree char *contents = NULL;
        gsize len;

        if (!g_file_get_contents (path, &contents, &len, NULL))
          continue;
        LLVMFuzzerTestOneInput ((const guint8 *) contents, len);
        printf ("ok %u %s\n", ++count, name);
      }
  }
  printf ("1..%u\n", count);

  return count > 0 ? 0 : 1;
}
