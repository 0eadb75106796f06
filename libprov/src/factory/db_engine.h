/*
 * db_engine.h - what a database engine implements for libprov (internal).
 *
 * prov/db.h and db_rows.h are the engine-neutral face; db.c keeps the
 * statement cache, the schema gate and the migrations, and calls an engine
 * only through this table.  An engine is one file (db_sqlite.c today; a PostgreSQL engine over
 * libpq for docs/database.md's "Another engine") and the only file that calls
 * its client library.  Its promises:
 *   - open connects without writing anything (the schema gate runs first);
 *     configure then sets what a writer needs (SQLite: WAL, foreign keys).
 *   - begin takes the write lock at once; rollback is a no-op outside a
 *     transaction.
 *   - SQL reaches it with ?N placeholders (records.c); an engine whose client
 *     wants $N translates them in prepare.
 *   - every failure becomes a prov_status with "<what>: <reason>", the same
 *     table for every engine: lock wait beyond the busy timeout PROV_E_BUSY,
 *     a constraint PROV_E_EXISTS, corrupt / not ours / schema PROV_E_DB, I/O,
 *     a full disk or a read-only database PROV_E_IO.
 *   - the schema version lives where the engine keeps it (SQLite: PRAGMA
 *     user_version); 0 means "no provkit schema".
 */
#ifndef PROV_DB_ENGINE_H
#define PROV_DB_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "prov/db.h"
#include "prov/err.h"

#include "db_rows.h"

/* Engines, as schema statements name them. */
enum { PROV_DB_ANY = 0, PROV_DB_SQLITE = 1, PROV_DB_POSTGRESQL = 2 };

typedef struct prov_db_engine {
	const char *name;
	int id;                                    /* PROV_DB_SQLITE, ... */
	/* Connect (mode as prov_db_open); *readonly: the connection cannot write
	 * (asked for, or PROV_DB_READ_MOSTLY where the database cannot be written). */
	prov_status (*open)(const char *path, int mode, int busy_ms, void **conn, int *readonly,
	                    prov_err *e);
	prov_status (*configure)(void *conn, int readonly, prov_err *e);
	int (*close)(void *conn);                  /* 0: closed, every statement finalized */
	prov_status (*schema_version)(void *conn, int *version, prov_err *e);
	prov_status (*set_schema_version)(void *conn, int version, prov_err *e);
	prov_status (*exec)(void *conn, const char *sql, prov_err *e);
	prov_status (*begin)(void *conn, prov_err *e);
	prov_status (*commit)(void *conn, prov_err *e);
	void (*rollback)(void *conn);
	/* A statement kept for the connection's life (the cache). */
	prov_status (*prepare)(void *conn, const char *sql, void **stmt, prov_err *e);
	void (*finalize)(void *stmt);
	void (*reset)(void *stmt, int clear_bindings);
	void (*bind_int)(void *stmt, int i, int64_t v);
	void (*bind_text)(void *stmt, int i, const char *s);
	void (*bind_blob)(void *stmt, int i, const void *p, size_t n);
	/* On failure: mapped, and the statement reset. */
	prov_status (*step)(void *conn, void *stmt, int *row, const char *what, prov_err *e);
	int (*col_count)(void *stmt);
	const char *(*col_name)(void *stmt, int i);
	int (*col_type)(void *stmt, int i);        /* PROV_DB_NULL, ... */
	int64_t (*col_int)(void *stmt, int i);
	const char *(*col_text)(void *stmt, int i, size_t *len);
	const uint8_t *(*col_blob)(void *stmt, int i, size_t *len);
	/* 1 if the last failure was a collision with another writer that running
	 * the transaction again may resolve (PostgreSQL: a unique key taken by a
	 * concurrent transaction, a serialization failure, a deadlock), and
	 * forget it.  NULL: never (SQLite's writers take turns at begin). */
	int (*conflict)(void *conn);
	/* How messages name the open database, or NULL for its name as given (a
	 * server's URI is never printed: PostgreSQL names host, port, database). */
	const char *(*describe)(void *conn);
	/* A schema type word ({blob}, {int}, {id}, {seq}) in this engine's SQL. */
	const char *(*type_word)(const char *word, size_t len);
} prov_db_engine;

extern const prov_db_engine prov_db_sqlite;
extern const prov_db_engine prov_db_postgresql;

/* 1 if a PostgreSQL URI carries a password (db_pg.c). */
int prov_db_pg_uri_has_password(const char *uri);

/* The engine's own connection (sqlite3 * for SQLite): for tests that look at
 * it from outside, never for code above the engine. */
void *prov_db_native(prov_db *db);

/* The SQLite engine's result-code table (tests): rc -> status and message. */
prov_status prov_db_sqlite_fail(void *conn, int rc, const char *what, prov_err *e);

/* ---- the schema, as data (schema.c) ------------------------------------------- */

/* The schema version this build migrates to: the number of steps (schema.c
 * asserts it). */
#define PROV_DB_SCHEMA_VERSION 3

/* One statement of a migration step: for every engine (PROV_DB_ANY, written in
 * the SQL both accept, with {type} words the engine maps) or for one only
 * (triggers: SQLite's RAISE, PostgreSQL's trigger functions). */
typedef struct prov_schema_stmt {
	int engine;
	const char *sql;
} prov_schema_stmt;

/* Step i takes the schema from version i to i + 1.  A released step never
 * changes for an engine that has run it: add a step. */
typedef struct prov_schema_step {
	const prov_schema_stmt *stmts;
	size_t n;
} prov_schema_step;

extern const prov_schema_step prov_schema_steps[];
extern const size_t prov_schema_n_steps;

/* The PostgreSQL engine's own statements (schema.c: the one place for SQL
 * besides records.c): its schema version table, the migration lock, and the
 * test for a database that holds someone else's tables. */
extern const char prov_schema_pg_has_version[];
extern const char prov_schema_pg_version[];
extern const char prov_schema_pg_set_version[]; /* then "(version)" */
extern const char prov_schema_pg_migration_lock[];
extern const char prov_schema_pg_foreign_tables[];

#endif
