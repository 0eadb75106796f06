/* db_pg.c - the PostgreSQL engine (db_engine.h): the one file that calls
 * libpq (PQ*).  A database name "postgresql://..." (or "postgres://...") picks
 * it; the name is a libpq connection URI, and libpq's own environment
 * (PGPASSWORD, PGPASSFILE, ~/.pgpass, PGSSLMODE...) applies.  Messages name the
 * server as libpq reports it (host or socket directory, port, database), never
 * the URI (which could carry a password).
 *
 * Statements: ?N is translated to $N and prepared once per connection (a named
 * statement); parameters are sent as text (integers, text) or binary (blobs:
 * bytea), results are read in binary (integers, booleans as PROV_DB_INT,
 * bytea as blobs, text as its bytes).
 *
 * Round trips.  Outside a transaction every statement is one round trip.
 * Inside one (prov_db_begin), a statement that returns no columns (a write) is
 * only sent, in libpq's pipeline mode, and its result is collected at the next
 * point that needs an answer: a statement with columns (it travels in the same
 * round trip, after the writes), prov_db_exec, or the commit (which travels
 * with them too).  A write that failed is then reported there, with its own
 * "what"; the transaction is already void on the server, and the caller rolls
 * back as for any failure.
 *
 * Failures (the same table for every engine, db_engine.h): lock wait beyond
 * the busy timeout (lock_timeout, 55P03), serialization failure (40001) and
 * deadlock (40P01) PROV_E_BUSY; an integrity violation (class 23, and the
 * schema's triggers, which raise 23000) PROV_E_EXISTS; a refused login
 * (class 28, or the server asking for a password we do not have)
 * PROV_E_DBAUTH; a server that cannot be reached, or that went away (class 08,
 * 57P01-57P03, a connection libpq reports bad) PROV_E_DBCONN; no such database
 * PROV_E_NOTFOUND; a read-only transaction or a full disk PROV_E_IO; anything
 * else PROV_E_DB. */
#include <libpq-fe.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_engine.h"

/* Writes sent before their results are collected (a drain at this many).
 * Bounded so the server's answers (~40 bytes a write) fit the socket's
 * buffer: a client that only sends, in blocking mode, while the server is
 * blocked sending answers nobody reads, would wait forever. */
#define PG_QUEUE_MAX 1024

/* Type OIDs (pg_type.h, stable across releases). */
enum {
	PG_BOOL = 16, PG_BYTEA = 17, PG_INT8 = 20, PG_INT2 = 21, PG_INT4 = 23, PG_OID = 26,
	PG_FLOAT4 = 700, PG_FLOAT8 = 701, PG_NUMERIC = 1700,
};

typedef struct pg_conn {
	PGconn *c;
	char where[300];          /* "PostgreSQL server HOST port N, database D" */
	int pipeline;             /* in pipeline mode: writes in flight */
	size_t queued;            /* results owed by the server */
	const char *qwhat[PG_QUEUE_MAX];
	unsigned next_id;         /* statement names */
	int conflict;             /* the last failure was a collision (see db_engine.h) */
} pg_conn;

typedef struct pg_stmt {
	pg_conn *pc;
	char name[16];
	int nparams, nfields;
	const char **vals;
	int *lens, *fmts;
	char (*ints)[24];
	PGresult *res;            /* the current result, NULL before the first step */
	int row, nrows;
} pg_stmt;

static void quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* The server a connection is to, as libpq has it. */
static void set_where(pg_conn *pc)
{
	const char *host = PQhost(pc->c), *port = PQport(pc->c), *db = PQdb(pc->c);

	snprintf(pc->where, sizeof(pc->where), "PostgreSQL server %s%s port %s, database %s",
	         host != NULL && host[0] == '/' ? "socket " : "", host != NULL && *host ? host : "localhost",
	         port != NULL && *port ? port : "5432", db != NULL ? db : "?");
}

/* The last line of libpq's message, without its "ERROR:  " or "FATAL:  ". */
static void reason(const char *msg, char *out, size_t cap)
{
	size_t n;

	if (msg == NULL)
		msg = "";
	if (strncmp(msg, "ERROR:  ", 8) == 0 || strncmp(msg, "FATAL:  ", 8) == 0)
		msg += 8;
	n = strcspn(msg, "\n");
	if (n == 0) {
		msg = "no reason given";
		n = strlen(msg);
	}
	snprintf(out, cap, "%.*s", (int)n, msg);
}

/* A failure as a prov_status: res may be NULL (a send that failed). */
static prov_status pg_fail(pg_conn *pc, const PGresult *res, const char *what, prov_err *e)
{
	const char *code = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res != NULL ? PQresultErrorMessage(res) : NULL;
	char why[400];

	if (msg == NULL || *msg == 0)
		msg = PQerrorMessage(pc->c);
	reason(msg, why, sizeof(why));
	if (PQstatus(pc->c) == CONNECTION_BAD || (code != NULL && (strncmp(code, "08", 2) == 0 ||
	    strcmp(code, "57P01") == 0 || strcmp(code, "57P02") == 0 || strcmp(code, "57P03") == 0)))
		return prov_err_set(e, PROV_E_DBCONN, "%s: lost the connection to the %s (the server "
		                    "was restarted or is unreachable; nothing uncommitted was kept): %s",
		                    what, pc->where, why);
	if (code == NULL)
		return prov_err_set(e, PROV_E_DB, "%s: %s: %s", what, pc->where, why);
	if (strcmp(code, "23505") == 0 || strcmp(code, "40001") == 0 || strcmp(code, "40P01") == 0)
		pc->conflict = 1;
	if (strcmp(code, "40001") == 0 || strcmp(code, "40P01") == 0 || strcmp(code, "55P03") == 0)
		return prov_err_set(e, PROV_E_BUSY, "%s: the database is locked by another station or "
		                    "process (waited for the busy timeout): %s", what, why);
	if (strncmp(code, "23", 2) == 0)
		return prov_err_set(e, PROV_E_EXISTS, "%s: %s", what, why);
	if (strncmp(code, "28", 2) == 0)
		return prov_err_set(e, PROV_E_DBAUTH, "%s: the %s refused the login: %s", what, pc->where, why);
	if (strcmp(code, "25006") == 0 || strcmp(code, "53100") == 0)
		return prov_err_set(e, PROV_E_IO, "%s: %s", what, why);
	return prov_err_set(e, PROV_E_DB, "%s: %s", what, why);
}

/* A result is good when it is what a statement returns (rows, or none). */
static int good(const PGresult *r)
{
	ExecStatusType s = PQresultStatus(r);

	return s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK;
}

/* Collect every result owed: the writes in flight, then (keep != NULL) the
 * result of the statement sent last, which is kept in *keep.  The first
 * failure is reported with the "what" of the statement that failed.  Leaves
 * pipeline mode. */
static prov_status drain(pg_conn *pc, PGresult **keep, prov_err *e)
{
	prov_status st = PROV_OK;
	size_t i = 0, nulls = 0;

	if (keep != NULL)
		*keep = NULL;
	if (!pc->pipeline)
		return PROV_OK;
	if (PQpipelineSync(pc->c) != 1) {
		st = pg_fail(pc, NULL, pc->queued > 0 ? pc->qwhat[0] : "database", e);
		goto out;
	}
	for (;;) {
		PGresult *r = PQgetResult(pc->c);

		if (r == NULL) {
			/* The end of one statement's results. */
			if (PQstatus(pc->c) == CONNECTION_BAD || ++nulls > pc->queued + 2) {
				if (st == PROV_OK)
					st = pg_fail(pc, NULL, i < pc->queued ? pc->qwhat[i] : "database", e);
				break;
			}
			i++;
			continue;
		}
		if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			break;
		}
		if (st == PROV_OK && PQresultStatus(r) != PGRES_PIPELINE_ABORTED && !good(r))
			st = pg_fail(pc, r, i < pc->queued ? pc->qwhat[i] : "database", e);
		if (keep != NULL && i + 1 == pc->queued && st == PROV_OK) {
			PQclear(*keep);
			*keep = r;
		} else {
			PQclear(r);
		}
	}
out:
	if (PQstatus(pc->c) != CONNECTION_BAD)
		PQexitPipelineMode(pc->c);
	pc->pipeline = 0;
	pc->queued = 0;
	if (st != PROV_OK && keep != NULL) {
		PQclear(*keep);
		*keep = NULL;
	}
	return st;
}

/* One statement outside pipeline mode (after a drain). */
static prov_status exec1(pg_conn *pc, const char *sql, const char *what, prov_err *e)
{
	prov_status st = drain(pc, NULL, e);
	PGresult *r;

	if (st != PROV_OK)
		return st;
	r = PQexec(pc->c, sql);
	st = r != NULL && good(r) ? PROV_OK : pg_fail(pc, r, what, e);
	PQclear(r);
	return st;
}

static prov_status pg_exec(void *conn, const char *sql, prov_err *e)
{
	return exec1(conn, sql, "database", e);
}

/* A query of one row and one column, as text; NULL when there is no row. */
static prov_status query1(pg_conn *pc, const char *sql, char *out, size_t cap, int *found, prov_err *e)
{
	prov_status st = drain(pc, NULL, e);
	PGresult *r;

	*found = 0;
	if (st != PROV_OK)
		return st;
	r = PQexec(pc->c, sql);
	if (r == NULL || !good(r)) {
		st = pg_fail(pc, r, "database", e);
	} else if (PQntuples(r) > 0 && PQnfields(r) > 0 && !PQgetisnull(r, 0, 0)) {
		*found = 1;
		snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	return st;
}

static prov_status pg_schema_version(void *conn, int *version, prov_err *e)
{
	pg_conn *pc = conn;
	char v[32];
	int found = 0;
	prov_status st = PROV_OK;

	*version = 0;
	/* Inside a transaction this is a migration: one at a time. */
	if (PQtransactionStatus(pc->c) != PQTRANS_IDLE || pc->pipeline)
		st = query1(pc, prov_schema_pg_migration_lock, v, sizeof(v), &found, e);
	if (st == PROV_OK)
		st = query1(pc, prov_schema_pg_has_version, v, sizeof(v), &found, e);
	if (st != PROV_OK || !found || strcmp(v, "t") != 0)
		return st;
	st = query1(pc, prov_schema_pg_version, v, sizeof(v), &found, e);
	if (st == PROV_OK && found)
		*version = atoi(v);
	return st;
}

static prov_status pg_set_schema_version(void *conn, int version, prov_err *e)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "%s(%d)", prov_schema_pg_set_version, version);
	return exec1(conn, sql, "recording the schema version", e);
}

static prov_status pg_begin(void *conn, prov_err *e)
{
	/* READ COMMITTED: rows a transaction changes are locked as they are
	 * written, and the one row whose value a write depends on (a device's
	 * bundle counter) is read FOR UPDATE (records.c); the unique constraints
	 * catch any other collision between stations. */
	return exec1(conn, "BEGIN", "starting a transaction", e);
}

static prov_status pg_commit(void *conn, prov_err *e)
{
	pg_conn *pc = conn;
	PGresult *r = NULL;
	prov_status st;

	if (pc->pipeline) {
		/* The commit travels with the writes in flight: one round trip. */
		if (PQsendQueryParams(pc->c, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) != 1)
			return pg_fail(pc, NULL, "committing", e);
		pc->qwhat[pc->queued++] = "committing";
		st = drain(pc, &r, e);
	} else {
		st = PROV_OK;
		r = PQexec(pc->c, "COMMIT");
		if (r == NULL || !good(r))
			st = pg_fail(pc, r, "committing", e);
	}
	/* A transaction that had failed ends in a rollback, not a commit. */
	if (st == PROV_OK && (r == NULL || strcmp(PQcmdStatus(r), "COMMIT") != 0))
		st = prov_err_set(e, PROV_E_DB, "committing: the %s rolled the transaction back", pc->where);
	PQclear(r);
	return st;
}

static void pg_rollback(void *conn)
{
	pg_conn *pc = conn;

	drain(pc, NULL, NULL);
	if (PQstatus(pc->c) == CONNECTION_OK && PQtransactionStatus(pc->c) != PQTRANS_IDLE)
		PQclear(PQexec(pc->c, "ROLLBACK"));
}

/* Whether a URI names a password (a home refuses to store one:
 * docs/database.md). */
int prov_db_pg_uri_has_password(const char *uri)
{
	PQconninfoOption *o = PQconninfoParse(uri, NULL);
	int has = 0;

	if (o == NULL)
		return 0;
	for (PQconninfoOption *p = o; p->keyword != NULL; p++)
		if (strcmp(p->keyword, "password") == 0 && p->val != NULL && *p->val != 0)
			has = 1;
	PQconninfoFree(o);
	return has;
}

static prov_status pg_open(const char *path, int mode, int busy_ms, void **out, int *readonly,
                           prov_err *e)
{
	pg_conn *pc = calloc(1, sizeof(*pc));
	char *err = NULL, sql[96], v[32];
	PQconninfoOption *o;
	prov_status st = PROV_OK;
	int found = 0;

	*out = NULL;
	if (pc == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	o = PQconninfoParse(path, &err);
	if (o == NULL) {
		char why[200];

		reason(err, why, sizeof(why));
		PQfreemem(err);
		free(pc);
		return prov_err_set(e, PROV_E_USAGE, "not a PostgreSQL connection URI: %s", why);
	}
	PQconninfoFree(o);
	pc->c = PQconnectdb(path);
	if (pc->c == NULL) {
		free(pc);
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	}
	set_where(pc);
	if (PQstatus(pc->c) != CONNECTION_OK) {
		char why[400];
		const char *m = PQerrorMessage(pc->c);

		/* The last line that says something: libpq lists every address tried. */
		const char *last = m, *p;

		for (p = m; (p = strstr(p, "FATAL:  ")) != NULL; p++)
			last = p;
		reason(last, why, sizeof(why));
		if (PQconnectionNeedsPassword(pc->c) || strstr(m, "authentication failed") != NULL ||
		    strstr(m, "no pg_hba.conf entry") != NULL || (strstr(m, "role \"") != NULL &&
		    strstr(m, "does not exist") != NULL))
			st = prov_err_set(e, PROV_E_DBAUTH, "the %s refused the login: %s", pc->where, why);
		else if (strstr(m, "database \"") != NULL && strstr(m, "does not exist") != NULL)
			st = prov_err_set(e, PROV_E_NOTFOUND, "no such database at the %s: %s", pc->where, why);
		else
			st = prov_err_set(e, PROV_E_DBCONN, "cannot reach the %s: %s", pc->where, why);
		goto out;
	}
	PQsetNoticeProcessor(pc->c, quiet, NULL);
	snprintf(sql, sizeof(sql), "SET lock_timeout = %d", busy_ms > 0 ? busy_ms : 1);
	st = exec1(pc, sql, "database", e);
	if (st == PROV_OK && mode == PROV_DB_READONLY)
		st = exec1(pc, "SET default_transaction_read_only = on", "database", e);
	if (st == PROV_OK && mode == PROV_DB_CREATE) {
		/* A database for a new factory holds nothing but, possibly, the
		 * schema of an init that died before its first station. */
		st = query1(pc, prov_schema_pg_foreign_tables, v, sizeof(v), &found, e);
		if (st == PROV_OK && found && atoi(v) > 0)
			st = prov_err_set(e, PROV_E_DB, "the %s holds tables that are not provkit's: give "
			                  "provkit an empty database of its own", pc->where);
	}
	if (st != PROV_OK)
		goto out;
	*readonly = mode == PROV_DB_READONLY;
	*out = pc;
	pc = NULL;
out:
	if (pc != NULL) {
		PQfinish(pc->c);
		free(pc);
	}
	return st;
}

static prov_status pg_configure(void *conn, int readonly, prov_err *e)
{
	(void)conn;
	(void)readonly;
	(void)e;
	return PROV_OK;
}

static int pg_close(void *conn)
{
	pg_conn *pc = conn;

	drain(pc, NULL, NULL);
	PQfinish(pc->c);
	free(pc);
	return 0;
}

/* ?N -> $N, outside quoted strings. */
static char *translate(const char *sql)
{
	char *out = malloc(strlen(sql) + 1), *w = out;
	char quote = 0;

	if (out == NULL)
		return NULL;
	for (const char *p = sql; *p != 0; p++) {
		if (quote != 0) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '\'' || *p == '"') {
			quote = *p;
		} else if (*p == '?' && p[1] >= '0' && p[1] <= '9') {
			*w++ = '$';
			continue;
		}
		*w++ = *p;
	}
	*w = 0;
	return out;
}

static void pg_finalize(void *stmt)
{
	pg_stmt *s = stmt;

	if (s == NULL)
		return;
	PQclear(s->res);
	/* The server forgets the statement with the connection. */
	free(s->vals);
	free(s->lens);
	free(s->fmts);
	free(s->ints);
	free(s);
}

static prov_status pg_prepare(void *conn, const char *sql, void **stmt, prov_err *e)
{
	pg_conn *pc = conn;
	pg_stmt *s = calloc(1, sizeof(*s));
	char *text = translate(sql);
	PGresult *r = NULL;
	prov_status st = drain(pc, NULL, e);

	if (st == PROV_OK && (s == NULL || text == NULL))
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (st != PROV_OK)
		goto out;
	s->pc = pc;
	snprintf(s->name, sizeof(s->name), "p%u", pc->next_id++);
	r = PQprepare(pc->c, s->name, text, 0, NULL);
	if (r == NULL || !good(r)) {
		st = pg_fail(pc, r, "database", e);
		goto out;
	}
	PQclear(r);
	r = PQdescribePrepared(pc->c, s->name);
	if (r == NULL || !good(r)) {
		st = pg_fail(pc, r, "database", e);
		goto out;
	}
	s->nparams = PQnparams(r);
	s->nfields = PQnfields(r);
	if (s->nparams > 0) {
		s->vals = calloc((size_t)s->nparams, sizeof(*s->vals));
		s->lens = calloc((size_t)s->nparams, sizeof(*s->lens));
		s->fmts = calloc((size_t)s->nparams, sizeof(*s->fmts));
		s->ints = calloc((size_t)s->nparams, sizeof(*s->ints));
		if (s->vals == NULL || s->lens == NULL || s->fmts == NULL || s->ints == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	*stmt = s;
	s = NULL;
out:
	PQclear(r);
	free(text);
	pg_finalize(s);
	return st;
}

static void pg_reset(void *stmt, int clear_bindings)
{
	pg_stmt *s = stmt;

	PQclear(s->res);
	s->res = NULL;
	s->row = s->nrows = 0;
	if (clear_bindings && s->nparams > 0) {
		memset(s->vals, 0, (size_t)s->nparams * sizeof(*s->vals));
		memset(s->lens, 0, (size_t)s->nparams * sizeof(*s->lens));
		memset(s->fmts, 0, (size_t)s->nparams * sizeof(*s->fmts));
	}
}

static void pg_bind_int(void *stmt, int i, int64_t v)
{
	pg_stmt *s = stmt;

	if (i < 1 || i > s->nparams)
		return;
	snprintf(s->ints[i - 1], sizeof(s->ints[i - 1]), "%lld", (long long)v);
	s->vals[i - 1] = s->ints[i - 1];
	s->lens[i - 1] = 0;
	s->fmts[i - 1] = 0;
}

static void pg_bind_text(void *stmt, int i, const char *t)
{
	pg_stmt *s = stmt;

	if (i < 1 || i > s->nparams)
		return;
	s->vals[i - 1] = t;
	s->lens[i - 1] = 0;
	s->fmts[i - 1] = 0;
}

static void pg_bind_blob(void *stmt, int i, const void *p, size_t n)
{
	pg_stmt *s = stmt;

	if (i < 1 || i > s->nparams)
		return;
	/* A non-NULL empty blob is an empty bytea, not NULL. */
	s->vals[i - 1] = p == NULL ? NULL : n == 0 ? "" : p;
	s->lens[i - 1] = (int)n;
	s->fmts[i - 1] = 1;
}

static prov_status pg_step(void *conn, void *stmt, int *row, const char *what, prov_err *e)
{
	pg_conn *pc = conn;
	pg_stmt *s = stmt;
	prov_status st = PROV_OK;

	*row = 0;
	if (s->res != NULL) {
		/* The next row of a result already here. */
		if (++s->row < s->nrows) {
			*row = 1;
			return PROV_OK;
		}
		pg_reset(s, 0);
		return PROV_OK;
	}
	if (s->nfields == 0 && PQtransactionStatus(pc->c) != PQTRANS_IDLE) {
		/* A write inside a transaction: sent now, its result collected later. */
		if (!pc->pipeline && PQenterPipelineMode(pc->c) != 1)
			return pg_fail(pc, NULL, what, e);
		pc->pipeline = 1;
		if (PQsendQueryPrepared(pc->c, s->name, s->nparams, s->vals, s->lens, s->fmts, 1) != 1) {
			st = pg_fail(pc, NULL, what, e);
			drain(pc, NULL, NULL);
			return st;
		}
		pc->qwhat[pc->queued++] = what;
		return pc->queued == PG_QUEUE_MAX ? drain(pc, NULL, e) : PROV_OK;
	}
	if (pc->pipeline) {
		/* A read: it travels after the writes in flight, one round trip for all. */
		if (PQsendQueryPrepared(pc->c, s->name, s->nparams, s->vals, s->lens, s->fmts, 1) != 1) {
			st = pg_fail(pc, NULL, what, e);
			drain(pc, NULL, NULL);
			return st;
		}
		pc->qwhat[pc->queued++] = what;
		st = drain(pc, &s->res, e);
	} else {
		s->res = PQexecPrepared(pc->c, s->name, s->nparams, s->vals, s->lens, s->fmts, 1);
		if (s->res == NULL || !good(s->res))
			st = pg_fail(pc, s->res, what, e);
	}
	if (st != PROV_OK) {
		pg_reset(s, 0);
		return st;
	}
	s->nrows = PQntuples(s->res);
	s->row = 0;
	if (s->nrows > 0)
		*row = 1;
	else
		pg_reset(s, 0);
	return PROV_OK;
}

static int pg_col_count(void *stmt)
{
	pg_stmt *s = stmt;

	return s->res != NULL ? PQnfields(s->res) : s->nfields;
}

static const char *pg_col_name(void *stmt, int i)
{
	pg_stmt *s = stmt;

	return s->res != NULL ? PQfname(s->res, i) : NULL;
}

static int pg_col_type(void *stmt, int i)
{
	pg_stmt *s = stmt;

	if (s->res == NULL || i < 0 || i >= PQnfields(s->res) || PQgetisnull(s->res, s->row, i))
		return PROV_DB_NULL;
	switch (PQftype(s->res, i)) {
	case PG_BOOL: case PG_INT2: case PG_INT4: case PG_INT8: case PG_OID: return PROV_DB_INT;
	case PG_FLOAT4: case PG_FLOAT8: case PG_NUMERIC: return PROV_DB_FLOAT;
	case PG_BYTEA: return PROV_DB_BLOB;
	default: return PROV_DB_TEXT;
	}
}

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int64_t pg_col_int(void *stmt, int i)
{
	pg_stmt *s = stmt;
	const unsigned char *p;
	int n;

	if (pg_col_type(s, i) == PROV_DB_NULL)
		return 0;
	p = (const unsigned char *)PQgetvalue(s->res, s->row, i);
	n = PQgetlength(s->res, s->row, i);
	switch (PQftype(s->res, i)) {
	case PG_BOOL: return n == 1 && p[0] != 0;
	case PG_INT2: return n == 2 ? (int16_t)be(p, 2) : 0;
	case PG_INT4: return n == 4 ? (int32_t)be(p, 4) : 0;
	case PG_OID: return n == 4 ? (int64_t)be(p, 4) : 0;
	case PG_INT8: return n == 8 ? (int64_t)be(p, 8) : 0;
	case PG_FLOAT8: {
		uint64_t b = be(p, 8);
		double d;

		memcpy(&d, &b, sizeof(d));
		return n == 8 ? (int64_t)d : 0;
	}
	default: return strtoll((const char *)p, NULL, 10);
	}
}

static const char *pg_col_text(void *stmt, int i, size_t *len)
{
	pg_stmt *s = stmt;

	*len = 0;
	if (pg_col_type(s, i) == PROV_DB_NULL)
		return NULL;
	/* libpq ends every value with a NUL, binary ones too. */
	*len = (size_t)PQgetlength(s->res, s->row, i);
	return PQgetvalue(s->res, s->row, i);
}

static const uint8_t *pg_col_blob(void *stmt, int i, size_t *len)
{
	return (const uint8_t *)pg_col_text(stmt, i, len);
}

static const char *pg_describe(void *conn)
{
	return ((pg_conn *)conn)->where;
}

static int pg_conflict(void *conn)
{
	pg_conn *pc = conn;
	int c = pc->conflict;

	pc->conflict = 0;
	return c;
}

static const char *pg_type_word(const char *w, size_t n)
{
	static const char *const map[][2] = {
		{"blob", "BYTEA"},
		{"int", "BIGINT"},
		/* ALWAYS: no INSERT chooses an id (prov db migrate says OVERRIDING). */
		{"id", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
		{"seq", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i][0]) == n && memcmp(map[i][0], w, n) == 0)
			return map[i][1];
	return NULL;
}

const prov_db_engine prov_db_postgresql = {
	.name = "postgresql",
	.id = PROV_DB_POSTGRESQL,
	.open = pg_open,
	.configure = pg_configure,
	.close = pg_close,
	.schema_version = pg_schema_version,
	.set_schema_version = pg_set_schema_version,
	.exec = pg_exec,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.prepare = pg_prepare,
	.finalize = pg_finalize,
	.reset = pg_reset,
	.bind_int = pg_bind_int,
	.bind_text = pg_bind_text,
	.bind_blob = pg_bind_blob,
	.step = pg_step,
	.col_count = pg_col_count,
	.col_name = pg_col_name,
	.col_type = pg_col_type,
	.col_int = pg_col_int,
	.col_text = pg_col_text,
	.col_blob = pg_col_blob,
	.conflict = pg_conflict,
	.describe = pg_describe,
	.type_word = pg_type_word,
};
