/*
 * prov/db.h - the factory database connection, whatever engine holds it.
 *
 * Engine-neutral: nothing here names an engine's types.  A prov_db is one
 * connection to one engine (today SQLite, libprov/src/factory/db_sqlite.c; a
 * second engine implements libprov/src/factory/db_engine.h, docs/database.md).
 * Only the records layer (prov/records.h) writes SQL; everything else asks it
 * for what it means.  This header is what the records layer and transactions
 * need: open and close, transactions, prepared statements, and the mapping of
 * an engine's failures to a prov_status.
 *
 * The schema is defined once, as data (libprov/src/factory/schema.c), with its
 * version kept by the engine (SQLite: PRAGMA user_version).  Opening applies
 * the forward migrations the database lacks in one transaction, and refuses a
 * database newer than this build, or a file with no provkit schema.  Writers
 * take the write lock up front (prov_db_begin), so two of them never deadlock
 * on a read-to-write upgrade; a lock held beyond the busy timeout is
 * PROV_E_BUSY.  The audit table is append-only, and a device's bundle counter
 * only grows, both enforced in the database.  Tables and columns:
 * docs/database.md.
 *
 * Statements.  prov_db_prepare returns the connection's prepared statement for an
 * SQL text, prepared once and kept in a per-connection cache keyed by the
 * text's ADDRESS (pass static strings), reset and with its bindings cleared:
 * a batch reuses every statement.  Bound text and blobs are not copied: they
 * must stay valid until the statement is stepped to its end or reset.  Column
 * values are valid until the next step or reset of that statement.
 * A prov_db is used by one thread at a time.
 */
#ifndef PROV_DB_H
#define PROV_DB_H

#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"

#define PROV_DB_SCHEMA_VERSION 3
#define PROV_DB_BUSY_MS_DEFAULT 30000
/* Statements one connection keeps prepared (the records layer has fewer). */
#define PROV_DB_STMT_MAX 96

/* How prov_db_open opens. */
enum {
	PROV_DB_OPEN = 0,        /* an existing database, to read and write; migrated */
	PROV_DB_CREATE = 1,      /* a new database (failing if it exists) */
	/* Only to read: the connection cannot write, and nothing is migrated (a
	 * schema older than this build is an error).  On a read-only file system a
	 * WAL database without its -shm file is opened immutable (SQLite cannot
	 * make the file there), unless its -wal holds changes it could not see. */
	PROV_DB_READONLY = 2,
	/* To read and write where the database can be written, else as
	 * PROV_DB_READONLY: for a command that reads and records some reads (an
	 * audited export). */
	PROV_DB_READ_MOSTLY = 3,
};

/* Column types, as the engine reports them (a boolean is an INT). */
enum { PROV_DB_NULL = 0, PROV_DB_INT, PROV_DB_FLOAT, PROV_DB_TEXT, PROV_DB_BLOB };

typedef struct prov_db prov_db;
typedef struct prov_db_stmt prov_db_stmt;

/* Open (mode: PROV_DB_OPEN, _CREATE, _READONLY, _READ_MOSTLY) and migrate (not
 * when read-only).  `path` names the database: a file for SQLite.  A database
 * the mode would write to but cannot (read-only file system, no write
 * permission) is PROV_E_IO with a message saying so; a write on a read-only
 * connection fails as PROV_E_IO naming it. */
prov_status prov_db_open(const char *path, int mode, int busy_ms, prov_db **out, prov_err *e);
/* Finalize every cached statement and close; NULL is a no-op.  0, or -1 when
 * the engine could not close cleanly (a statement outside the cache is open). */
int prov_db_close(prov_db *db);

/* 1 if `name` names a database server (postgresql://... or postgres://...),
 * 0 for an SQLite file. */
int prov_db_is_server(const char *name);
/* 1 if a server name carries a password (a home never stores one). */
int prov_db_name_has_password(const char *name);

/* The station this connection writes as (audit rows name it); "main" until
 * set.  At most PROV_DB_STATION_MAX bytes. */
#define PROV_DB_STATION_MAX 64
void prov_db_set_station(prov_db *db, const char *station);
const char *prov_db_station(const prov_db *db);

/* 1 if a read that a write depends on must lock its row (an engine whose
 * writers run side by side: PostgreSQL, not read-only); 0 for SQLite, whose
 * writers take the database's lock at begin. */
int prov_db_row_locks(const prov_db *db);

/* 1 if the last failure was a collision with another station's concurrent
 * transaction (a unique key it took first, a serialization failure, a
 * deadlock): after a rollback, running the transaction again sees what the
 * other committed and ends as it would have if they had taken turns.  Always
 * 0 on SQLite.  Reading it clears it. */
int prov_db_conflict(prov_db *db);

/* What the records layer may keep of one read (a device's credentials, read
 * in one statement for the bundle builder's several lookups): one slot per
 * connection, with the free function for it.  It is valid only while the
 * connection stays in the same transaction and writes nothing: the epoch
 * changes at every begin, commit and rollback, and at prov_db_touch (the
 * records layer's writes). */
void prov_db_set_memo(prov_db *db, void *p, void (*free_fn)(void *p));
void *prov_db_memo(const prov_db *db);
uint64_t prov_db_epoch(const prov_db *db);
void prov_db_touch(prov_db *db);
/* 1 between prov_db_begin and its commit or rollback. */
int prov_db_in_transaction(const prov_db *db);
/* Changes at every begin, commit and rollback only: what a transaction wrote
 * and holds locked stays known to it until then. */
uint64_t prov_db_tx_epoch(const prov_db *db);

/* 1 if the connection cannot write (opened read-only, or fell back to it). */
int prov_db_readonly(const prov_db *db);
/* "sqlite" or "postgresql" (the engine's name, for messages and docs). */
const char *prov_db_engine_name(const prov_db *db);

/* Transactions: begin takes the write lock at once (SQLite: BEGIN IMMEDIATE). */
prov_status prov_db_begin(prov_db *db, prov_err *e);
prov_status prov_db_commit(prov_db *db, prov_err *e);
void prov_db_rollback(prov_db *db);                        /* best effort; no-op outside one */

/* Run SQL text with no result rows (one or more statements). */
prov_status prov_db_exec(prov_db *db, const char *sql, prov_err *e);

/* The connection's statement for `sql`, cached (see above).  A full cache is PROV_E_INTERNAL;
 * SQL the engine refuses is PROV_E_DB and is not cached. */
prov_status prov_db_prepare(prov_db *db, const char *sql, prov_db_stmt **st, prov_err *e);
/* How many statements the connection keeps prepared. */
size_t prov_db_stmt_count(const prov_db *db);

/* Parameters count from 1 (the SQL says ?1, ?2, ...).  text NULL binds NULL;
 * blob NULL binds NULL, a non-NULL blob of length 0 an empty blob. */
void prov_db_bind_int(prov_db_stmt *st, int i, int64_t v);
void prov_db_bind_text(prov_db_stmt *st, int i, const char *s);
void prov_db_bind_blob(prov_db_stmt *st, int i, const void *p, size_t n);

/* Step: *row is 1 with a row to read, 0 when done (the statement is then
 * reset: it holds no transaction open).  A failure is mapped to a
 * status (busy -> PROV_E_BUSY, a constraint -> PROV_E_EXISTS, corrupt or not a
 * database -> PROV_E_DB, I/O or read-only -> PROV_E_IO) with the message
 * "<what>: <the engine's reason>", and the statement is reset. */
prov_status prov_db_step(prov_db_stmt *st, int *row, const char *what, prov_err *e);
/* Step a statement that returns no row, then reset it. */
prov_status prov_db_done(prov_db_stmt *st, const char *what, prov_err *e);
/* Back to the start (the bindings stay until the next prov_db_prepare). */
void prov_db_reset(prov_db_stmt *st);

/* Columns count from 0.  text and blob: NULL for an SQL NULL (a zero-length
 * blob may also read as NULL: test *len); *len is the byte count. */
int prov_db_col_count(prov_db_stmt *st);
const char *prov_db_col_name(prov_db_stmt *st, int i);
int prov_db_col_type(prov_db_stmt *st, int i);
int64_t prov_db_col_int(prov_db_stmt *st, int i);
const char *prov_db_col_text(prov_db_stmt *st, int i, size_t *len);
const uint8_t *prov_db_col_blob(prov_db_stmt *st, int i, size_t *len);

#endif
