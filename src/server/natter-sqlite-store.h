/* natter-sqlite-store.h: the default NatterStore, one SQLite file (WAL) in
 * the server's data directory. */
#pragma once

#include "natter-store.h"

G_BEGIN_DECLS

#define NATTER_TYPE_SQLITE_STORE (natter_sqlite_store_get_type ())

G_DECLARE_FINAL_TYPE (NatterSqliteStore, natter_sqlite_store, NATTER, SQLITE_STORE, GObject)

/* @path is the database file; it is created, with its directory, on open.
 * natter_sqlite_store_new() is fsync-safe (synchronous=FULL); with
 * @synchronous_full FALSE the WAL is synced only at checkpoints
 * (synchronous=NORMAL): faster, but a power cut may lose the last commits. */
NatterStore *natter_sqlite_store_new      (const char *path);
NatterStore *natter_sqlite_store_new_full (const char *path,
                                           gboolean    synchronous_full);

G_END_DECLS
