/* natter-ca-database.c: see the header. A GTlsFileDatabase trusts only its
 * file; this asks it first and the system's store second, so --ca-file adds
 * an authority instead of replacing all the others. */
#include "natter-ca-database.h"

#include <glib/gi18n.h>

struct _NatterCaDatabase
{
  GTlsDatabase  parent_instance;

  GTlsDatabase *file;     /* the authorities of --ca-file */
  GTlsDatabase *system;
};

G_DEFINE_FINAL_TYPE (NatterCaDatabase, natter_ca_database, G_TYPE_TLS_DATABASE)

static GTlsCertificateFlags
natter_ca_database_verify_chain (GTlsDatabase             *database,
                                 GTlsCertificate          *chain,
                                 const char               *purpose,
                                 GSocketConnectable       *identity,
                                 GTlsInteraction          *interaction,
                                 GTlsDatabaseVerifyFlags   flags,
                                 GCancellable             *cancellable,
                                 GError                  **error)
{
  NatterCaDatabase *self = NATTER_CA_DATABASE (database);
  GTlsCertificateFlags by_file, by_system;

  by_file = g_tls_database_verify_chain (self->file, chain, purpose, identity, interaction, flags,
                                         cancellable, error);
  if (by_file == 0 || (error != NULL && *error != NULL))
    return by_file;
  by_system = g_tls_database_verify_chain (self->system, chain, purpose, identity, interaction,
                                           flags, cancellable, error);
  /* A reason stands only if neither store clears it: a certificate for
   * another name stays refused, an authority one of them knows does not. */
  return by_file & by_system;
}

static char *
natter_ca_database_create_certificate_handle (GTlsDatabase    *database,
                                              GTlsCertificate *certificate)
{
  return g_tls_database_create_certificate_handle (NATTER_CA_DATABASE (database)->system,
                                                   certificate);
}

static GTlsCertificate *
natter_ca_database_lookup_certificate_for_handle (GTlsDatabase             *database,
                                                  const char               *handle,
                                                  GTlsInteraction          *interaction,
                                                  GTlsDatabaseLookupFlags   flags,
                                                  GCancellable             *cancellable,
                                                  GError                  **error)
{
  return g_tls_database_lookup_certificate_for_handle (NATTER_CA_DATABASE (database)->system,
                                                       handle, interaction, flags, cancellable,
                                                       error);
}

static GTlsCertificate *
natter_ca_database_lookup_certificate_issuer (GTlsDatabase             *database,
                                              GTlsCertificate          *certificate,
                                              GTlsInteraction          *interaction,
                                              GTlsDatabaseLookupFlags   flags,
                                              GCancellable             *cancellable,
                                              GError                  **error)
{
  NatterCaDatabase *self = NATTER_CA_DATABASE (database);
  GTlsCertificate *issuer;

  issuer = g_tls_database_lookup_certificate_issuer (self->file, certificate, interaction, flags,
                                                     cancellable, error);
  if (issuer != NULL || (error != NULL && *error != NULL))
    return issuer;
  return g_tls_database_lookup_certificate_issuer (self->system, certificate, interaction, flags,
                                                   cancellable, error);
}

static GList *
natter_ca_database_lookup_certificates_issued_by (GTlsDatabase             *database,
                                                  GByteArray               *issuer_raw_dn,
                                                  GTlsInteraction          *interaction,
                                                  GTlsDatabaseLookupFlags   flags,
                                                  GCancellable             *cancellable,
                                                  GError                  **error)
{
  NatterCaDatabase *self = NATTER_CA_DATABASE (database);
  GList *from_file, *from_system;

  from_file = g_tls_database_lookup_certificates_issued_by (self->file, issuer_raw_dn, interaction,
                                                            flags, cancellable, error);
  if (error != NULL && *error != NULL)
    return from_file;
  from_system = g_tls_database_lookup_certificates_issued_by (self->system, issuer_raw_dn,
                                                              interaction, flags, cancellable,
                                                              error);
  return g_list_concat (from_file, from_system);
}

static void
natter_ca_database_dispose (GObject *object)
{
  NatterCaDatabase *self = NATTER_CA_DATABASE (object);

  g_clear_object (&self->file);
  g_clear_object (&self->system);

  G_OBJECT_CLASS (natter_ca_database_parent_class)->dispose (object);
}

static void
natter_ca_database_class_init (NatterCaDatabaseClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GTlsDatabaseClass *database_class = G_TLS_DATABASE_CLASS (klass);

  object_class->dispose = natter_ca_database_dispose;
  database_class->verify_chain = natter_ca_database_verify_chain;
  database_class->create_certificate_handle = natter_ca_database_create_certificate_handle;
  database_class->lookup_certificate_for_handle = natter_ca_database_lookup_certificate_for_handle;
  database_class->lookup_certificate_issuer = natter_ca_database_lookup_certificate_issuer;
  database_class->lookup_certificates_issued_by = natter_ca_database_lookup_certificates_issued_by;
}

static void
natter_ca_database_init (NatterCaDatabase *self)
{
}

GTlsDatabase *
natter_ca_database_new (const char  *ca_file,
                        GError     **error)
{
  g_autoptr(NatterCaDatabase) self = NULL;
  GList *certificates;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *display = NULL;

  g_return_val_if_fail (ca_file != NULL, NULL);

  display = g_filename_display_name (ca_file);
  /* GTlsFileDatabase takes a file without a certificate, or a missing
   * one, silently: then it would trust nothing, and the user would only
   * see a refused certificate later. Say what is wrong with the file. */
  certificates = g_tls_certificate_list_new_from_file (ca_file, &local_error);
  if (certificates == NULL)
    {
      if (local_error != NULL)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", display,
                     local_error->message);
      else
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     _("%s: no certificate in the file (PEM expected)"), display);
      return NULL;
    }
  g_list_free_full (certificates, g_object_unref);

  self = g_object_new (NATTER_TYPE_CA_DATABASE, NULL);
  self->file = g_tls_file_database_new (ca_file, &local_error);
  if (self->file == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", display,
                   local_error->message);
      return NULL;
    }
  self->system = g_tls_backend_get_default_database (g_tls_backend_get_default ());
  return G_TLS_DATABASE (g_steal_pointer (&self));
}
