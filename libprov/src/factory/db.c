/* db.c - the engine-neutral connection (see prov/db.h, db_rows.h): the statement cache,
 * the schema gate and the migrations; everything an engine does goes through
 * its table (db_engine.h). */
#include "prov/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_engine.h"
#include "db_rows.h"

struct prov_db_stmt {
	prov_db *db;
	void *h;                  /* the engine's statement */
	const char *sql;          /* the cache key: the text's address */
};

struct prov_db {
	const prov_db_engine *eng;
	void *conn;
	int readonly;
	char station[PROV_DB_STATION_MAX + 1];
	int in_tx;
	uint64_t epoch, tx_epoch;
	void *memo;
	void (*memo_free)(void *p);
	size_t n;
	prov_db_stmt st[PROV_DB_STMT_MAX];
};

int prov_db_is_server(const char *name)
{
	return strncmp(name, "postgresql://", 13) == 0 || strncmp(name, "postgres://", 11) == 0;
}

int prov_db_name_has_password(const char *name)
{
	return prov_db_is_server(name) && prov_db_pg_uri_has_password(name);
}

/* The engine a database name asks for: a postgresql:// URI the PostgreSQL
 * engine, anything else an SQLite file (docs/database.md). */
static const prov_db_engine *engine_for(const char *path)
{
	return prov_db_is_server(path) ? &prov_db_postgresql : &prov_db_sqlite;
}

void prov_db_set_station(prov_db *db, const char *station)
{
	snprintf(db->station, sizeof(db->station), "%s", station);
}

const char *prov_db_station(const prov_db *db)
{
	return db->station;
}

/* A schema statement in the engine's words: each {word} replaced. */
static char *expand(const prov_db_engine *eng, const char *sql, prov_err *e)
{
	size_t cap = strlen(sql) + 1, n = 0;
	char *out;

	for (const char *p = sql; *p != 0; p++)
		if (*p == '{')
			cap += 64;
	out = malloc(cap);
	if (out == NULL) {
		prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		return NULL;
	}
	for (const char *p = sql; *p != 0;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		const char *w = close != NULL ? eng->type_word(p + 1, (size_t)(close - p - 1)) : NULL;

		if (*p == '{' && (w == NULL || strlen(w) > 64)) {
			prov_err_set(e, PROV_E_INTERNAL, "schema: no %s type for \"%.*s\"", eng->name,
			             close != NULL ? (int)(close - p + 1) : 8, p);
			free(out);
			return NULL;
		}
		if (w != NULL) {
			memcpy(out + n, w, strlen(w));
			n += strlen(w);
			p = close + 1;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = 0;
	return out;
}

static prov_status apply_step(prov_db *db, const prov_schema_step *step, prov_err *e)
{
	prov_status st = PROV_OK;

	for (size_t i = 0; i < step->n && st == PROV_OK; i++) {
		char *sql;

		if (step->stmts[i].engine != PROV_DB_ANY && step->stmts[i].engine != db->eng->id)
			continue;
		sql = expand(db->eng, step->stmts[i].sql, e);
		st = sql != NULL ? db->eng->exec(db->conn, sql, e) : PROV_E_INTERNAL;
		free(sql);
	}
	return st;
}

static prov_status migrate(prov_db *db, prov_err *e)
{
	const int target = (int)prov_schema_n_steps;
	int version = 0;
	prov_status st;

	/* The common case, an up-to-date schema, needs no write lock. */
	st = db->eng->schema_version(db->conn, &version, e);
	if (st != PROV_OK || version == target)
		return st;
	st = db->eng->begin(db->conn, e);
	if (st == PROV_OK)
		st = db->eng->schema_version(db->conn, &version, e); /* another process may have migrated */
	if (st != PROV_OK)
		goto out;
	if (version > target) {
		st = prov_err_set(e, PROV_E_SCHEMA, "database schema version %d is newer than this prov supports (%d)",
		                  version, target);
		goto out;
	}
	if (version < 0) {
		st = prov_err_set(e, PROV_E_DB, "database has a bad schema version %d", version);
		goto out;
	}
	for (int v = version; v < target; v++) {
		st = apply_step(db, &prov_schema_steps[v], e);
		if (st != PROV_OK) {
			prov_err_wrap(e, "migrating schema %d -> %d", v, v + 1);
			goto out;
		}
		st = db->eng->set_schema_version(db->conn, v + 1, e);
		if (st != PROV_OK)
			goto out;
	}
	st = db->eng->commit(db->conn, e);
out:
	if (st != PROV_OK)
		db->eng->rollback(db->conn);
	return st;
}

/* An existing database must already carry our schema, at a version this
 * build can use, before anything writes to it.  Version 0 is an empty file or
 * another application's database, which must neither become an empty factory
 * nor gain our tables. */
static prov_status gate(prov_db *db, prov_err *e)
{
	const int target = (int)prov_schema_n_steps;
	int version = 0;
	prov_status st = db->eng->schema_version(db->conn, &version, e);

	if (st == PROV_OK && version == 0)
		st = prov_err_set(e, PROV_E_DB, "not a provkit database (no provkit schema)");
	if (st == PROV_OK && db->readonly && version > target)
		st = prov_err_set(e, PROV_E_SCHEMA, "database schema version %d is newer than this prov supports (%d)",
		                  version, target);
	else if (st == PROV_OK && db->readonly && version != target)
		st = prov_err_set(e, PROV_E_SCHEMA,
		                  "database schema version %d is older than this prov's (%d): a command "
		                  "that writes migrates it, this one only reads", version, target);
	return st;
}

prov_status prov_db_open(const char *path, int mode, int busy_ms, prov_db **out, prov_err *e)
{
	prov_db *db = calloc(1, sizeof(*db));
	prov_status st;

	*out = NULL;
	if (db == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	db->eng = engine_for(path);
	strcpy(db->station, "main");
	st = db->eng->open(path, mode, busy_ms, &db->conn, &db->readonly, e);
	if (st != PROV_OK)
		goto out;
	if (db->eng->describe != NULL)
		path = db->eng->describe(db->conn);
	if (mode != PROV_DB_CREATE && (st = gate(db, e)) != PROV_OK) {
		prov_err_wrap(e, "%s", path);
		goto out;
	}
	st = db->eng->configure(db->conn, db->readonly, e);
	if (st == PROV_OK && !db->readonly)
		st = migrate(db, e);
	if (st != PROV_OK) {
		prov_err_wrap(e, "%s", path);
		goto out;
	}
	*out = db;
	db = NULL;
out:
	prov_db_close(db);
	return st;
}

int prov_db_close(prov_db *db)
{
	int rc = 0;

	if (db == NULL)
		return 0;
	if (db->memo_free != NULL)
		db->memo_free(db->memo);
	for (size_t i = 0; i < db->n; i++)
		db->eng->finalize(db->st[i].h);
	if (db->conn != NULL)
		rc = db->eng->close(db->conn);
	free(db);
	return rc;
}

void *prov_db_native(prov_db *db)
{
	return db->conn;
}

int prov_db_row_locks(const prov_db *db)
{
	return db->eng->id == PROV_DB_POSTGRESQL && !db->readonly;
}

int prov_db_conflict(prov_db *db)
{
	return db != NULL && db->eng->conflict != NULL && db->eng->conflict(db->conn);
}

int prov_db_readonly(const prov_db *db)
{
	return db->readonly;
}

const char *prov_db_engine_name(const prov_db *db)
{
	return db->eng->name;
}

void prov_db_set_memo(prov_db *db, void *p, void (*free_fn)(void *p))
{
	if (db->memo_free != NULL)
		db->memo_free(db->memo);
	db->memo = p;
	db->memo_free = free_fn;
}

void *prov_db_memo(const prov_db *db)
{
	return db->memo;
}

uint64_t prov_db_epoch(const prov_db *db)
{
	return db->epoch;
}

void prov_db_touch(prov_db *db)
{
	db->epoch++;
}

uint64_t prov_db_tx_epoch(const prov_db *db)
{
	return db->tx_epoch;
}

int prov_db_in_transaction(const prov_db *db)
{
	return db->in_tx;
}

prov_status prov_db_begin(prov_db *db, prov_err *e)
{
	prov_status st = db->eng->begin(db->conn, e);

	db->epoch++;
	db->tx_epoch++;
	db->in_tx = st == PROV_OK;
	return st;
}

prov_status prov_db_commit(prov_db *db, prov_err *e)
{
	db->epoch++;
	db->tx_epoch++;
	db->in_tx = 0;
	return db->eng->commit(db->conn, e);
}

void prov_db_rollback(prov_db *db)
{
	db->epoch++;
	db->tx_epoch++;
	db->in_tx = 0;
	db->eng->rollback(db->conn);
}

prov_status prov_db_exec(prov_db *db, const char *sql, prov_err *e)
{
	return db->eng->exec(db->conn, sql, e);
}

prov_status prov_db_prepare(prov_db *db, const char *sql, prov_db_stmt **st, prov_err *e)
{
	prov_status s;

	for (size_t i = 0; i < db->n; i++)
		if (db->st[i].sql == sql) {
			db->eng->reset(db->st[i].h, 1);
			*st = &db->st[i];
			return PROV_OK;
		}
	if (db->n == PROV_DB_STMT_MAX)
		return prov_err_set(e, PROV_E_INTERNAL, "statement cache full");
	s = db->eng->prepare(db->conn, sql, &db->st[db->n].h, e);
	if (s != PROV_OK)
		return s;
	db->st[db->n].db = db;
	db->st[db->n].sql = sql;
	*st = &db->st[db->n++];
	return PROV_OK;
}

size_t prov_db_stmt_count(const prov_db *db)
{
	return db->n;
}

void prov_db_bind_int(prov_db_stmt *st, int i, int64_t v)
{
	st->db->eng->bind_int(st->h, i, v);
}

void prov_db_bind_text(prov_db_stmt *st, int i, const char *s)
{
	st->db->eng->bind_text(st->h, i, s);
}

void prov_db_bind_blob(prov_db_stmt *st, int i, const void *p, size_t n)
{
	st->db->eng->bind_blob(st->h, i, p, n);
}

prov_status prov_db_step(prov_db_stmt *st, int *row, const char *what, prov_err *e)
{
	return st->db->eng->step(st->db->conn, st->h, row, what, e);
}

prov_status prov_db_done(prov_db_stmt *st, const char *what, prov_err *e)
{
	int row = 0;
	prov_status s = prov_db_step(st, &row, what, e);

	st->db->eng->reset(st->h, 0);
	return s;
}

void prov_db_reset(prov_db_stmt *st)
{
	st->db->eng->reset(st->h, 0);
}

int prov_db_col_count(prov_db_stmt *st)
{
	return st->db->eng->col_count(st->h);
}

const char *prov_db_col_name(prov_db_stmt *st, int i)
{
	return st->db->eng->col_name(st->h, i);
}

int prov_db_col_type(prov_db_stmt *st, int i)
{
	return st->db->eng->col_type(st->h, i);
}

int64_t prov_db_col_int(prov_db_stmt *st, int i)
{
	return st->db->eng->col_int(st->h, i);
}

const char *prov_db_col_text(prov_db_stmt *st, int i, size_t *len)
{
	return st->db->eng->col_text(st->h, i, len);
}

const uint8_t *prov_db_col_blob(prov_db_stmt *st, int i, size_t *len)
{
	return st->db->eng->col_blob(st->h, i, len);
}
