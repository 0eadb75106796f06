/*
 * prov/db.h - the factory database (SQLite).
 *
 * libprov owns the schema.  Its version is PRAGMA user_version; opening a database
 * applies the forward migrations it lacks in one transaction, and refuses a
 * database newer than this build.  The journal is WAL with a busy timeout, so many
 * prov processes can share one factory; writers take the lock up front
 * (BEGIN IMMEDIATE) so two of them never deadlock on a read-to-write upgrade.
 * The audit table is append-only (triggers abort UPDATE and DELETE).
 * Tables and columns are documented in docs/database.md.
 */
#ifndef PROV_DB_H
#define PROV_DB_H

#include <sqlite3.h>
#include <stdint.h>

#include "prov/err.h"

#define PROV_DB_SCHEMA_VERSION 1
#define PROV_DB_BUSY_MS_DEFAULT 30000

/* How prov_db_open opens. */
enum {
	PROV_DB_OPEN = 0,        /* an existing database, to read and write; migrated */
	PROV_DB_CREATE = 1,      /* a new file (failing if it exists) */
	/* Only to read: the connection cannot write, and nothing is migrated (a
	 * schema older than this build is an error).  On a read-only file system a
	 * WAL database without its -shm file is opened immutable (SQLite cannot
	 * make the file there), unless its -wal holds changes it could not see. */
	PROV_DB_READONLY = 2,
	/* To read and write where the file can be written, else as PROV_DB_READONLY:
	 * for a command that reads and records some reads (an audited export). */
	PROV_DB_READ_MOSTLY = 3,
};

/* Open (mode: PROV_DB_OPEN, _CREATE, _READONLY, _READ_MOSTLY) and migrate
 * (not when read-only).  A database the mode would write to but cannot
 * (read-only file system, no write permission) is PROV_E_IO with a message
 * saying so; a write on a read-only connection fails as PROV_E_IO naming it. */
prov_status prov_db_open(const char *path, int mode, int busy_ms, sqlite3 **out,
                         prov_err *e);

/* Map an SQLite result to a status and message: BUSY/LOCKED -> PROV_E_BUSY,
 * NOTADB/CORRUPT -> PROV_E_DB, CONSTRAINT -> PROV_E_EXISTS, I/O -> PROV_E_IO. */
prov_status prov_db_fail(sqlite3 *db, int rc, const char *what, prov_err *e);

prov_status prov_db_exec(sqlite3 *db, const char *sql, prov_err *e);
prov_status prov_db_begin(sqlite3 *db, prov_err *e);      /* BEGIN IMMEDIATE */
prov_status prov_db_commit(sqlite3 *db, prov_err *e);
void prov_db_rollback(sqlite3 *db);                        /* best effort */

prov_status prov_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, prov_err *e);

/* A cache of prepared statements, keyed by the address of the SQL text (use string
 * literals).  prov_db_cached returns the statement reset and with cleared
 * bindings; the cache finalizes them in prov_db_cache_clear. */
#define PROV_STMT_CACHE_MAX 48
typedef struct prov_stmt_cache {
	size_t n;
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} ent[PROV_STMT_CACHE_MAX];
} prov_stmt_cache;

prov_status prov_db_cached(sqlite3 *db, prov_stmt_cache *c, const char *sql,
                           sqlite3_stmt **st, prov_err *e);
void prov_db_cache_clear(prov_stmt_cache *c);

/* Append to the audit log. `detail` is a JSON text or NULL.  The _cached form
 * keeps its statement in `c` (for loops). */
prov_status prov_db_audit(sqlite3 *db, const char *action, const char *device,
                          const char *detail, prov_err *e);
prov_status prov_db_audit_cached(sqlite3 *db, prov_stmt_cache *c, const char *action,
                                 const char *device, const char *detail, prov_err *e);

/* Key/value settings in the meta table.  get: PROV_E_NOTFOUND if absent; *val is
 * malloc'd (caller frees). */
prov_status prov_db_meta_set(sqlite3 *db, const char *key, const void *val, size_t len,
                             prov_err *e);
prov_status prov_db_meta_get(sqlite3 *db, const char *key, uint8_t **val, size_t *len,
                             prov_err *e);

#endif
