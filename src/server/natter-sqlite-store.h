/* natter-sqlite-store.h: the default NatterStore, one SQLite file (WAL) in
 * the server's data directory. */
#pragma once

#include "natter-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_SQLITE_STORE (natter_sqlite_store_get_type ())

G_DECLARE_FINAL_TYPE (NatterSqliteStore, natter_sqlite_store, NATTER, SQLITE_STORE, GObject)

/* @path is the database file; it is created, with its directory, on open. */
NatterStore *natter_sqlite_store_new (const char *path);

G_END_DECLS
