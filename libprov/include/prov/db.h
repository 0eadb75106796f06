/*
 * prov/db.h - the factory database connection, whatever engine holds it.
 *
 * Engine-neutral: nothing here names an engine's types.  A prov_db is one
 * connection to one engine: SQLite (libprov/src/factory/db_sqlite.c) or
 * PostgreSQL (db_pg.c), each implementing libprov/src/factory/db_engine.h
 * (docs/database.md).
 * Only the records layer (prov/records.h) writes SQL;
 * everything else asks it for what it means.  This header is what a caller
 * of the records layer needs: open and close, transactions, and what a failed
 * transaction means.  Statements and rows are the records layer's alone
 * (libprov/src/factory/db_rows.h, not installed): no caller outside
 * libprov/src/factory/ asks for a row (scripts/layers.sh checks it).
 *
 * The schema is defined once, as data (libprov/src/factory/schema.c), with its
 * version kept by the engine (SQLite: PRAGMA user_version; PostgreSQL: a
 * provkit_schema table).  Opening applies
 * the forward migrations the database lacks in one transaction, and refuses a
 * database newer than this build, or a file with no provkit schema.  Writers
 * take the write lock up front (prov_db_begin), so two of them never deadlock
 * on a read-to-write upgrade; a lock held beyond the busy timeout is
 * PROV_E_BUSY.  The audit table is append-only, and a device's bundle counter
 * only grows, both enforced in the database.  Tables and columns:
 * docs/database.md.
 *
 * A prov_db is used by one thread at a time.
 */
#ifndef PROV_DB_H
#define PROV_DB_H

#include "prov/err.h"

#define PROV_DB_BUSY_MS_DEFAULT 30000

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

typedef struct prov_db prov_db;

/* Open (mode: PROV_DB_OPEN, _CREATE, _READONLY, _READ_MOSTLY) and migrate (not
 * when read-only).  `path` names the database: a file for SQLite, a postgresql:// URI
 * for PostgreSQL.  A database
 * the mode would write to but cannot (read-only file system, no write
 * permission) is PROV_E_IO with a message saying so; a write on a read-only
 * connection fails as PROV_E_IO naming it. */
prov_status prov_db_open(const char *path, int mode, int busy_ms, prov_db **out, prov_err *e);
/* Finalize every cached statement and close; NULL is a no-op.  0, or -1 when
 * the engine could not close cleanly (a statement outside the cache is open). */
int prov_db_close(prov_db *db);

/* The station a connection writes as (audit rows name it; prov/home.h sets
 * it): at most PROV_DB_STATION_MAX bytes. */
#define PROV_DB_STATION_MAX 64

/* 1 if the last failure was a collision with another station's concurrent
 * transaction (a unique key it took first, a serialization failure, a
 * deadlock): after a rollback, running the transaction again sees what the
 * other committed and ends as it would have if they had taken turns.  Always
 * 0 on SQLite.  Reading it clears it. */
int prov_db_conflict(prov_db *db);

/* 1 if the connection cannot write (opened read-only, or fell back to it). */
int prov_db_readonly(const prov_db *db);
/* "sqlite" or "postgresql" (the engine's name, for messages and docs). */
const char *prov_db_engine_name(const prov_db *db);

/* Transactions: begin takes the write lock at once (SQLite: BEGIN IMMEDIATE). */
prov_status prov_db_begin(prov_db *db, prov_err *e);
prov_status prov_db_commit(prov_db *db, prov_err *e);
void prov_db_rollback(prov_db *db);                        /* best effort; no-op outside one */

#endif
