/*
 * db_rows.h - the factory connection's statements and rows, and what the
 * records layer keeps on a connection (internal to libprov/src/factory/, never
 * installed).
 *
 * prov/db.h is the public half: open and close, transactions, conflicts.  This
 * is the half only factory/ uses: records.c asks for rows here and answers
 * every other caller with what it means (prov/records.h); home.c names the
 * station and tells a server from a file; db.c implements it over an engine
 * (db_engine.h); tests/unit/test_db.c tests it.  No file outside factory/
 * includes it or calls prov_db_exec, _prepare, _bind_*, _step, _done, _reset
 * or _col_* (scripts/layers.sh).
 *
 * Statements.  prov_db_prepare returns the connection's prepared statement for an
 * SQL text, prepared once and kept in a per-connection cache keyed by the
 * text's ADDRESS (pass static strings), reset and with its bindings cleared:
 * a batch reuses every statement.  Bound text and blobs are not copied: they
 * must stay valid until the statement is stepped to its end or reset.  Column
 * values are valid until the next step or reset of that statement.
 */
#ifndef PROV_DB_ROWS_H
#define PROV_DB_ROWS_H

#include <stddef.h>
#include <stdint.h>

#include "prov/db.h"
#include "prov/err.h"

/* Statements one connection keeps prepared (the records layer has fewer). */
#define PROV_DB_STMT_MAX 96

/* Column types, as the engine reports them (a boolean is an INT). */
enum { PROV_DB_NULL = 0, PROV_DB_INT, PROV_DB_FLOAT, PROV_DB_TEXT, PROV_DB_BLOB };

typedef struct prov_db_stmt prov_db_stmt;

/* 1 if `name` names a database server (postgresql://... or postgres://...),
 * 0 for an SQLite file. */
int prov_db_is_server(const char *name);
/* 1 if a server name carries a password (a home never stores one). */
int prov_db_name_has_password(const char *name);

/* The station this connection writes as (audit rows name it); "main" until
 * set.  At most PROV_DB_STATION_MAX bytes (prov/db.h). */
void prov_db_set_station(prov_db *db, const char *station);
const char *prov_db_station(const prov_db *db);

/* 1 if a read that a write depends on must lock its row (an engine whose
 * writers run side by side: PostgreSQL, not read-only); 0 for SQLite, whose
 * writers take the database's lock at begin. */
int prov_db_row_locks(const prov_db *db);

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
