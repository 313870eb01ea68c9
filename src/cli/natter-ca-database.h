/* natter-ca-database.h: the system's certificate authorities plus those of
 * one PEM file (natter-cli --ca-file), for a server whose certificate comes
 * from a private authority. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define NATTER_TYPE_CA_DATABASE (natter_ca_database_get_type ())

G_DECLARE_FINAL_TYPE (NatterCaDatabase, natter_ca_database, NATTER, CA_DATABASE, GTlsDatabase)

/* Reads the authorities in @ca_file (PEM). Fails, with an error naming
 * the file, when it cannot be read or holds no certificate. */
GTlsDatabase *natter_ca_database_new (const char  *ca_file,
                                      GError     **error);

G_END_DECLS
