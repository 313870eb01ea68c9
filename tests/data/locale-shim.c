/* locale-shim.c: preloaded into the app by check-zh-cn-screenshot.py so that
 * the uninstalled app finds its translations in the build tree: the app binds
 * its domain to LOCALEDIR, which only exists once installed. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif

#include <dlfcn.h>
#include <libintl.h>
#include <stdlib.h>
#include <string.h>

typedef char *(*BindFunc) (const char *domainname, const char *dirname);

char *
bindtextdomain (const char *domainname,
                const char *dirname)
{
  static BindFunc real_bindtextdomain = NULL;
  const char *override = getenv ("NATTER_TEST_LOCALEDIR");

  if (real_bindtextdomain == NULL)
    {
      void *sym = dlsym (RTLD_NEXT, "bindtextdomain");

      memcpy (&real_bindtextdomain, &sym, sizeof sym);
    }

  if (override != NULL && domainname != NULL && dirname != NULL &&
      strcmp (domainname, "natter") == 0)
    dirname = override;

  return real_bindtextdomain (domainname, dirname);
}
