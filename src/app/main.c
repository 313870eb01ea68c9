/* main.c: the natter binary. Parses the command line itself so that bad
 * arguments exit with status 2, as every Natter binary does. */

#include <glib/gi18n.h>
#include <locale.h>

#include "natter-application.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(NatterApplication) app = NULL;
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *server = NULL;
  gboolean version = FALSE;
  char *app_argv[] = { argv[0], NULL };
  const GOptionEntry entries[] = {
    { "server", 0, 0, G_OPTION_ARG_STRING, &server,
      N_("Offer this server on the sign-in page"), N_("URL") },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version,
      N_("Show the version and exit"), NULL },
    { NULL }
  };

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  context = g_option_context_new (NULL);
  g_option_context_set_summary (context, _("Chat on a Natter server."));
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("natter: %s\n", error->message);
      return 2;
    }
  if (argc > 1)
    {
      g_printerr (_("natter: unexpected argument “%s”\n"), argv[1]);
      return 2;
    }
  if (version)
    {
      g_print ("natter %s\n", PACKAGE_VERSION);
      return 0;
    }

  natter_application_prepare_display ();
  app = natter_application_new (server);
  return g_application_run (G_APPLICATION (app), 1, app_argv);
}
