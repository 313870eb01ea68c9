/* natter-test-tls.c: see the header. */
#include "natter-test-tls.h"

static void
run_openssl (const char         *openssl,
             const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  int status = 0;

  g_ptr_array_add (argv, (gpointer) openssl);
  for (; *args != NULL; args++)
    g_ptr_array_add (argv, (gpointer) *args);
  g_ptr_array_add (argv, NULL);
  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                NULL, &err, &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("openssl %s failed: %s", (char *) argv->pdata[1], err);
}

gboolean
natter_test_make_ca_and_certificate (const char  *dir,
                                     char       **ca,
                                     char       **cert,
                                     char       **key)
{
  g_autofree char *openssl = g_find_program_in_path ("openssl");
  g_autofree char *ca_key = g_build_filename (dir, "ca-key.pem", NULL);
  g_autofree char *csr = g_build_filename (dir, "server.csr", NULL);
  g_autofree char *ext = g_build_filename (dir, "ext.cnf", NULL);

  if (openssl == NULL)
    return FALSE;

  *ca = g_build_filename (dir, "ca.pem", NULL);
  *cert = g_build_filename (dir, "server.pem", NULL);
  *key = g_build_filename (dir, "server-key.pem", NULL);
  g_assert_true (g_file_set_contents (ext, "subjectAltName=IP:127.0.0.1\n"
                                           "basicConstraints=CA:FALSE\n"
                                           "extendedKeyUsage=serverAuth\n", -1, NULL));
  {
    const char *args[] = { "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                           "-subj", "/CN=Natter Test CA", "-keyout", ca_key, "-out", *ca, NULL };
    run_openssl (openssl, args);
  }
  {
    const char *args[] = { "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                           "-keyout", *key, "-out", csr, NULL };
    run_openssl (openssl, args);
  }
  {
    const char *args[] = { "x509", "-req", "-in", csr, "-CA", *ca, "-CAkey", ca_key,
                           "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", *cert, NULL };
    run_openssl (openssl, args);
  }
  return TRUE;
}
