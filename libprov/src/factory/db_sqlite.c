/* db_sqlite.c - the SQLite engine (db_engine.h): the one file that calls
 * sqlite3_*.  A factory is one file in the home, in WAL mode, shared by many
 * prov processes; the specifics of SQLite live here: files and their -wal and
 * -shm companions, read-only and immutable opens, the busy handler, PRAGMAs,
 * BEGIN IMMEDIATE, and the result-code table. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "db_engine.h"

prov_status prov_db_sqlite_fail(void *conn, int rc, const char *what, prov_err *e)
{
	sqlite3 *db = conn;
	const char *m = db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
	prov_status s;

	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED: s = PROV_E_BUSY; break;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
	case SQLITE_SCHEMA: s = PROV_E_DB; break;
	case SQLITE_CONSTRAINT: s = PROV_E_EXISTS; break;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_FULL: s = PROV_E_IO; break;
	default: s = PROV_E_DB; break;
	}
	if (s == PROV_E_BUSY)
		return prov_err_set(e, s, "%s: database is locked by another process (waited for the busy timeout)", what);
	if ((rc & 0xff) == SQLITE_NOTADB)
		return prov_err_set(e, s, "%s: not a provkit database (%s)", what, m);
	if ((rc & 0xff) == SQLITE_READONLY)
		return prov_err_set(e, s, "%s: the factory database is read-only here (a read-only file "
		                    "system, or no write permission): %s", what, m);
	return prov_err_set(e, s, "%s: %s", what, m);
}

static prov_status sq_exec(void *conn, const char *sql, prov_err *e)
{
	int rc = sqlite3_exec(conn, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? PROV_OK : prov_db_sqlite_fail(conn, rc, "database", e);
}

static prov_status sq_begin(void *conn, prov_err *e)
{
	/* The write lock up front: two writers never deadlock on an upgrade. */
	return sq_exec(conn, "BEGIN IMMEDIATE", e);
}

static prov_status sq_commit(void *conn, prov_err *e)
{
	return sq_exec(conn, "COMMIT", e);
}

static void sq_rollback(void *conn)
{
	if (!sqlite3_get_autocommit(conn))
		sqlite3_exec(conn, "ROLLBACK", NULL, NULL, NULL);
}

static prov_status sq_schema_version(void *conn, int *version, prov_err *e)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(conn, "PRAGMA user_version", -1, &s, NULL);
	prov_status st = PROV_OK;

	if (rc != SQLITE_OK || (rc = sqlite3_step(s)) != SQLITE_ROW)
		st = prov_db_sqlite_fail(conn, rc, "database", e);
	else
		*version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return st;
}

static prov_status sq_set_schema_version(void *conn, int version, prov_err *e)
{
	char pragma[64];

	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version);
	return sq_exec(conn, pragma, e);
}

/* SQLite's own busy handler sleeps up to 100 ms between tries, so a waiter
 * almost never sees the short gap between two chunks of a long batch and times
 * out while the batch commits hundreds of times.  Poll every millisecond
 * instead, up to the timeout (busy_ms is passed as the handler's argument). */
static int busy_poll(void *arg, int tries)
{
	const struct timespec ms = {0, 1000000};

	if ((long)tries >= (long)(intptr_t)arg)
		return 0;
	nanosleep(&ms, NULL);
	return 1;
}

/* path + suffix, malloc'd. */
static char *path_with(const char *path, const char *suffix)
{
	size_t n = strlen(path) + strlen(suffix) + 1;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s%s", path, suffix);
	return p;
}

/* Why the database at path cannot be written (a static text), or NULL when
 * it can: the file, and its directory for the WAL's -wal and -shm files. */
static const char *why_unwritable(const char *path)
{
	struct statvfs sv;
	char *dir;
	int dir_ok;

	if (statvfs(path, &sv) == 0 && (sv.f_flag & ST_RDONLY) != 0)
		return "it is on a read-only file system";
	if (access(path, W_OK) != 0)
		return "the file is not writable";
	dir = strdup(path);
	if (dir == NULL)
		return NULL;
	{
		char *slash = strrchr(dir, '/');

		if (slash == NULL)
			strcpy(dir, ".");
		else if (slash == dir)
			dir[1] = 0;
		else
			*slash = 0;
	}
	dir_ok = access(dir, W_OK) == 0;
	free(dir);
	return dir_ok ? NULL : "its directory is not writable (SQLite keeps its -wal and -shm files there)";
}

/* "file:" and path as a URI (RFC 3986: every byte but the unreserved ones and
 * "/" percent-encoded), then "?" query; malloc'd. */
static char *path_uri(const char *path, const char *query)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path);
	char *u = malloc(5 + 3 * n + 1 + strlen(query) + 1), *w;

	if (u == NULL)
		return NULL;
	w = u + 5;
	memcpy(u, "file:", 5);
	for (const unsigned char *p = (const unsigned char *)path; *p != 0; p++) {
		int keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		           *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == '/';

		if (keep) {
			*w++ = (char)*p;
		} else {
			*w++ = '%';
			*w++ = hex[*p >> 4];
			*w++ = hex[*p & 15];
		}
	}
	*w++ = '?';
	strcpy(w, query);
	return u;
}

/* A read-only connection.  SQLite reads a WAL database through its -shm file
 * and makes that file when it is missing; on a read-only file system it
 * cannot, so there the database is opened immutable (no locks, no -shm), which
 * is sound because nothing can change it, as long as no -wal holds changes the
 * main file lacks (immutable ignores the -wal: those would be silently lost).
 * *immutable says which way it went. */
static prov_status open_readonly(const char *path, sqlite3 **db, int *immutable, prov_err *e)
{
	char *shm = path_with(path, "-shm"), *wal = path_with(path, "-wal"), *uri = NULL;
	struct statvfs sv;
	struct stat sb;
	prov_status st = PROV_OK;
	int rc;

	*immutable = 0;
	if (shm == NULL || wal == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	if (statvfs(path, &sv) == 0 && (sv.f_flag & ST_RDONLY) != 0 && stat(shm, &sb) != 0) {
		if (stat(wal, &sb) == 0 && sb.st_size > 0) {
			st = prov_err_set(e, PROV_E_IO,
			                  "%s: cannot be read on this read-only file system: its write-ahead log "
			                  "%s holds changes that SQLite applies only through a %s file, which it "
			                  "cannot create here; checkpoint the log where the home is writable "
			                  "(PRAGMA wal_checkpoint)", path, wal, shm);
			goto out;
		}
		*immutable = 1;
		uri = path_uri(path, "immutable=1");
		if (uri == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
			goto out;
		}
	}
	rc = sqlite3_open_v2(uri != NULL ? uri : path, db,
	                     SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | (uri != NULL ? SQLITE_OPEN_URI : 0),
	                     NULL);
	if (rc != SQLITE_OK)
		st = prov_db_sqlite_fail(*db, rc, path, e);
out:
	free(shm);
	free(wal);
	free(uri);
	return st;
}

static prov_status sq_open(const char *path, int mode, int busy_ms, void **out, int *readonly_out,
                           prov_err *e)
{
	sqlite3 *db = NULL;
	int create = mode == PROV_DB_CREATE, readonly = mode == PROV_DB_READONLY, immutable = 0;
	int rc;
	prov_status st = PROV_OK;

	*out = NULL;
	if (create) {
		int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);

		if (fd < 0)
			return prov_err_set(e, errno == EEXIST ? PROV_E_EXISTS : PROV_E_IO,
			                    "cannot create %s: %s", path, strerror(errno));
		close(fd);
	} else if (access(path, F_OK) != 0) {
		return prov_err_set(e, PROV_E_NOTFOUND, "no database at %s", path);
	} else if (!readonly) {
		const char *why = why_unwritable(path);

		if (why != NULL && mode == PROV_DB_READ_MOSTLY)
			readonly = 1;
		else if (why != NULL)
			return prov_err_set(e, PROV_E_IO, "%s: cannot be written: %s, and this command writes to "
			                    "the database", path, why);
	}
	if (readonly) {
		st = open_readonly(path, &db, &immutable, e);
		if (st != PROV_OK)
			goto out;
	} else {
		rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
		if (rc != SQLITE_OK) {
			st = prov_db_sqlite_fail(db, rc, path, e);
			goto out;
		}
	}
	sqlite3_busy_handler(db, busy_poll, (void *)(intptr_t)busy_ms);
	sqlite3_extended_result_codes(db, 0);
	if (!create) {
		/* Read the file once before anything writes: a file that is not
		 * SQLite fails here, and so does a read where the -shm cannot be made. */
		int version = 0;

		st = sq_schema_version(db, &version, e);
		if (st == PROV_E_IO && readonly && !immutable) {
			/* CANTOPEN or READONLY: the -shm file could not be made. */
			st = prov_err_set(e, PROV_E_IO,
			                  "%s: cannot be read without write access to its directory: SQLite "
			                  "makes a -shm file beside a WAL database to read it", path);
			goto out;
		}
		if (st != PROV_OK) {
			prov_err_wrap(e, "%s", path);
			goto out;
		}
	}
	*out = db;
	*readonly_out = readonly;
	db = NULL;
out:
	sqlite3_close(db);
	return st;
}

static prov_status sq_configure(void *conn, int readonly, prov_err *e)
{
	prov_status st;

	if (readonly)
		return sq_exec(conn, "PRAGMA foreign_keys = ON", e);
	st = sq_exec(conn, "PRAGMA journal_mode = WAL", e);
	if (st == PROV_OK)
		st = sq_exec(conn, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", e);
	return st;
}

static int sq_close(void *conn)
{
	return sqlite3_close(conn) == SQLITE_OK ? 0 : -1;
}

static prov_status sq_prepare(void *conn, const char *sql, void **stmt, prov_err *e)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v3(conn, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK)
		return prov_db_sqlite_fail(conn, sqlite3_errcode(conn), "database", e);
	*stmt = s;
	return PROV_OK;
}

static void sq_finalize(void *stmt)
{
	sqlite3_finalize(stmt);
}

static void sq_reset(void *stmt, int clear_bindings)
{
	sqlite3_reset(stmt);
	if (clear_bindings)
		sqlite3_clear_bindings(stmt);
}

static void sq_bind_int(void *stmt, int i, int64_t v)
{
	sqlite3_bind_int64(stmt, i, (sqlite3_int64)v);
}

static void sq_bind_text(void *stmt, int i, const char *s)
{
	sqlite3_bind_text(stmt, i, s, -1, SQLITE_STATIC);
}

static void sq_bind_blob(void *stmt, int i, const void *p, size_t n)
{
	if (p == NULL)
		sqlite3_bind_null(stmt, i);
	else
		sqlite3_bind_blob64(stmt, i, p, (sqlite3_uint64)n, SQLITE_STATIC);
}

static prov_status sq_step(void *conn, void *stmt, int *row, const char *what, prov_err *e)
{
	int rc = sqlite3_step(stmt);
	prov_status st;

	*row = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW)
		return PROV_OK;
	if (rc == SQLITE_DONE) {
		/* Finished: reset now, so no read transaction outlives it. */
		sqlite3_reset(stmt);
		return PROV_OK;
	}
	st = prov_db_sqlite_fail(conn, rc, what, e);
	sqlite3_reset(stmt);
	return st;
}

static int sq_col_count(void *stmt)
{
	return sqlite3_column_count(stmt);
}

static const char *sq_col_name(void *stmt, int i)
{
	return sqlite3_column_name(stmt, i);
}

static int sq_col_type(void *stmt, int i)
{
	switch (sqlite3_column_type(stmt, i)) {
	case SQLITE_INTEGER: return PROV_DB_INT;
	case SQLITE_FLOAT: return PROV_DB_FLOAT;
	case SQLITE_TEXT: return PROV_DB_TEXT;
	case SQLITE_BLOB: return PROV_DB_BLOB;
	default: return PROV_DB_NULL;
	}
}

static int64_t sq_col_int(void *stmt, int i)
{
	return (int64_t)sqlite3_column_int64(stmt, i);
}

static const char *sq_col_text(void *stmt, int i, size_t *len)
{
	const char *t = (const char *)sqlite3_column_text(stmt, i);

	*len = t != NULL ? (size_t)sqlite3_column_bytes(stmt, i) : 0;
	return t;
}

static const uint8_t *sq_col_blob(void *stmt, int i, size_t *len)
{
	const uint8_t *b = sqlite3_column_blob(stmt, i);

	*len = b != NULL ? (size_t)sqlite3_column_bytes(stmt, i) : 0;
	return b;
}

static const char *sq_type_word(const char *w, size_t n)
{
	static const char *const map[][2] = {
		{"blob", "BLOB"},
		{"int", "INTEGER"},
		{"id", "INTEGER PRIMARY KEY"},
		/* AUTOINCREMENT: an audit seq is never reused, even after the newest
		 * row is gone (it cannot be: the log is append-only). */
		{"seq", "INTEGER PRIMARY KEY AUTOINCREMENT"},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i][0]) == n && memcmp(map[i][0], w, n) == 0)
			return map[i][1];
	return NULL;
}

const prov_db_engine prov_db_sqlite = {
	.name = "sqlite",
	.id = PROV_DB_SQLITE,
	.open = sq_open,
	.configure = sq_configure,
	.close = sq_close,
	.schema_version = sq_schema_version,
	.set_schema_version = sq_set_schema_version,
	.exec = sq_exec,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.prepare = sq_prepare,
	.finalize = sq_finalize,
	.reset = sq_reset,
	.bind_int = sq_bind_int,
	.bind_text = sq_bind_text,
	.bind_blob = sq_bind_blob,
	.step = sq_step,
	.col_count = sq_col_count,
	.col_name = sq_col_name,
	.col_type = sq_col_type,
	.col_int = sq_col_int,
	.col_text = sq_col_text,
	.col_blob = sq_col_blob,
	.type_word = sq_type_word,
};
