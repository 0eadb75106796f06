/* db.c - schema, migrations and SQLite helpers (see prov/db.h). */
#include "prov/db.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "prov/util.h"

/* migrations[i] takes the schema from version i to i + 1.  Never edit a released
 * step: add a new one. */
static const char *const migrations[] = {
	/* 0 -> 1: the first schema. */
	"CREATE TABLE meta (\n"
	"  key   TEXT PRIMARY KEY,\n"
	"  value BLOB NOT NULL\n"
	");\n"
	"CREATE TABLE templates (\n"
	"  digest     TEXT PRIMARY KEY,          -- SHA-256 of json || trust_der\n"
	"  name       TEXT NOT NULL,\n"
	"  json       TEXT NOT NULL,\n"
	"  trust_der  BLOB,                      -- the template's trust anchors, DER concatenated\n"
	"  created_at INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE devices (\n"
	"  id             TEXT PRIMARY KEY,\n"
	"  template       TEXT NOT NULL REFERENCES templates(digest),\n"
	"  generation     INTEGER NOT NULL DEFAULT 1,   -- grows with every --rotate\n"
	"  bundle_counter INTEGER NOT NULL DEFAULT 0,   -- anti-rollback, only grows\n"
	"  recipient_spki BLOB,                         -- key secrets are encrypted to\n"
	"  status         TEXT NOT NULL DEFAULT 'minted'\n"
	"                 CHECK (status IN ('minted','bundled','installed')),\n"
	"  created_at     INTEGER NOT NULL,\n"
	"  updated_at     INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE device_keys (\n"
	"  id             INTEGER PRIMARY KEY,\n"
	"  device_id      TEXT NOT NULL REFERENCES devices(id),\n"
	"  generation     INTEGER NOT NULL,\n"
	"  key_type       TEXT NOT NULL,\n"
	"  origin         TEXT NOT NULL CHECK (origin IN ('csr','pubkey','host')),\n"
	"  spki           BLOB NOT NULL,\n"
	"  private_sealed BLOB,                         -- host-made keys only, sealed\n"
	"  created_at     INTEGER NOT NULL,\n"
	"  UNIQUE (device_id, generation)\n"
	");\n"
	"CREATE TABLE certificates (\n"
	"  id          INTEGER PRIMARY KEY,\n"
	"  device_id   TEXT NOT NULL REFERENCES devices(id),\n"
	"  generation  INTEGER NOT NULL,\n"
	"  slot        INTEGER NOT NULL,\n"
	"  serial      TEXT NOT NULL UNIQUE,            -- lower-case hex\n"
	"  subject     TEXT NOT NULL,\n"
	"  not_before  TEXT NOT NULL,\n"
	"  not_after   TEXT NOT NULL,\n"
	"  der         BLOB NOT NULL,\n"
	"  created_at  INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE psks (\n"
	"  id          INTEGER PRIMARY KEY,\n"
	"  device_id   TEXT NOT NULL REFERENCES devices(id),\n"
	"  generation  INTEGER NOT NULL,\n"
	"  slot        INTEGER NOT NULL,\n"
	"  identity    BLOB NOT NULL,\n"
	"  bits        INTEGER NOT NULL,\n"
	"  key_sealed  BLOB NOT NULL,\n"
	"  created_at  INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE raw_keys (\n"
	"  id          INTEGER PRIMARY KEY,\n"
	"  device_id   TEXT NOT NULL REFERENCES devices(id),\n"
	"  generation  INTEGER NOT NULL,\n"
	"  slot        INTEGER NOT NULL,\n"
	"  own_spki    BLOB NOT NULL,\n"
	"  peer_spki   BLOB,\n"
	"  created_at  INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE bundles (\n"
	"  id          INTEGER PRIMARY KEY,\n"
	"  device_id   TEXT NOT NULL REFERENCES devices(id),\n"
	"  counter     INTEGER NOT NULL,\n"
	"  generation  INTEGER NOT NULL,\n"
	"  nonce       BLOB,\n"
	"  sha256      TEXT NOT NULL,\n"
	"  size        INTEGER NOT NULL,\n"
	"  data        BLOB NOT NULL,                   -- the bundle (its secrets are encrypted)\n"
	"  created_at  INTEGER NOT NULL,\n"
	"  UNIQUE (device_id, counter)\n"
	");\n"
	"CREATE TABLE installs (\n"
	"  id              INTEGER PRIMARY KEY,\n"
	"  device_id       TEXT NOT NULL REFERENCES devices(id),\n"
	"  counter         INTEGER NOT NULL,\n"
	"  manifest_digest BLOB,\n"
	"  receipt         BLOB,\n"
	"  installed_at    INTEGER NOT NULL\n"
	");\n"
	"CREATE TABLE audit (\n"
	"  seq       INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"  at        INTEGER NOT NULL,\n"
	"  action    TEXT NOT NULL,\n"
	"  device_id TEXT,\n"
	"  detail    TEXT\n"
	");\n"
	"CREATE INDEX certificates_device ON certificates(device_id, generation);\n"
	"CREATE INDEX psks_device ON psks(device_id, generation);\n"
	"CREATE INDEX raw_keys_device ON raw_keys(device_id, generation);\n"
	"CREATE INDEX audit_device ON audit(device_id);\n"
	"CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit\n"
	"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;\n"
	"CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit\n"
	"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;\n"
	"-- INSERT OR REPLACE deletes without firing DELETE triggers: refuse it here.\n"
	"CREATE TRIGGER audit_no_replace BEFORE INSERT ON audit\n"
	"  WHEN NEW.seq IS NOT NULL AND EXISTS (SELECT 1 FROM audit WHERE seq = NEW.seq)\n"
	"  BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;\n"
	"-- INSERT OR REPLACE of a device would reset its counter: refuse it.\n"
	"CREATE TRIGGER devices_no_replace BEFORE INSERT ON devices\n"
	"  WHEN EXISTS (SELECT 1 FROM devices WHERE id = NEW.id)\n"
	"  BEGIN SELECT RAISE(ABORT, 'device exists: its bundle counter only grows'); END;\n"
	"CREATE TRIGGER bundle_counter_grows BEFORE UPDATE OF bundle_counter ON devices\n"
	"  WHEN NEW.bundle_counter <= OLD.bundle_counter\n"
	"  BEGIN SELECT RAISE(ABORT, 'bundle counter only grows'); END;\n",
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))

prov_status prov_db_fail(sqlite3 *db, int rc, const char *what, prov_err *e)
{
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

prov_status prov_db_exec(sqlite3 *db, const char *sql, prov_err *e)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? PROV_OK : prov_db_fail(db, rc, "database", e);
}

prov_status prov_db_begin(sqlite3 *db, prov_err *e)
{
	return prov_db_exec(db, "BEGIN IMMEDIATE", e);
}

prov_status prov_db_commit(sqlite3 *db, prov_err *e)
{
	return prov_db_exec(db, "COMMIT", e);
}

void prov_db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

prov_status prov_db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, prov_err *e)
{
	int rc = sqlite3_prepare_v2(db, sql, -1, st, NULL);

	return rc == SQLITE_OK ? PROV_OK : prov_db_fail(db, rc, "database", e);
}

prov_status prov_db_cached(sqlite3 *db, prov_stmt_cache *c, const char *sql,
                           sqlite3_stmt **st, prov_err *e)
{
	prov_status s;

	for (size_t i = 0; i < c->n; i++)
		if (c->ent[i].sql == sql) {
			sqlite3_reset(c->ent[i].st);
			sqlite3_clear_bindings(c->ent[i].st);
			*st = c->ent[i].st;
			return PROV_OK;
		}
	if (c->n == PROV_STMT_CACHE_MAX)
		return prov_err_set(e, PROV_E_INTERNAL, "statement cache full");
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return prov_db_fail(db, sqlite3_errcode(db), "database", e);
	s = PROV_OK;
	c->ent[c->n].sql = sql;
	c->ent[c->n].st = *st;
	c->n++;
	return s;
}

void prov_db_cache_clear(prov_stmt_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		sqlite3_finalize(c->ent[i].st);
	c->n = 0;
}

static prov_status schema_version(sqlite3 *db, int *version, prov_err *e)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL);
	prov_status st = PROV_OK;

	if (rc != SQLITE_OK || (rc = sqlite3_step(s)) != SQLITE_ROW)
		st = prov_db_fail(db, rc, "database", e);
	else
		*version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return st;
}

static prov_status migrate(sqlite3 *db, prov_err *e)
{
	sqlite3_stmt *s = NULL;
	int version = 0;
	prov_status st;

	/* The common case, an up-to-date schema, needs no write lock. */
	st = schema_version(db, &version, e);
	if (st != PROV_OK || version == (int)N_MIGRATIONS)
		return st;
	st = prov_db_begin(db, e);
	if (st == PROV_OK)
		st = schema_version(db, &version, e); /* another process may have migrated */
	if (st != PROV_OK)
		goto out;
	if (version > (int)N_MIGRATIONS) {
		st = prov_err_set(e, PROV_E_DB,
		                  "database schema version %d is newer than this prov supports (%d)",
		                  version, (int)N_MIGRATIONS);
		goto out;
	}
	if (version < 0) {
		st = prov_err_set(e, PROV_E_DB, "database has a bad schema version %d", version);
		goto out;
	}
	for (int v = version; v < (int)N_MIGRATIONS; v++) {
		char pragma[64];

		st = prov_db_exec(db, migrations[v], e);
		if (st != PROV_OK) {
			prov_err_wrap(e, "migrating schema %d -> %d", v, v + 1);
			goto out;
		}
		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", v + 1);
		st = prov_db_exec(db, pragma, e);
		if (st != PROV_OK)
			goto out;
	}
	st = prov_db_commit(db, e);
out:
	sqlite3_finalize(s);
	if (st != PROV_OK)
		prov_db_rollback(db);
	return st;
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
		st = prov_db_fail(*db, rc, path, e);
out:
	free(shm);
	free(wal);
	free(uri);
	return st;
}

prov_status prov_db_open(const char *path, int mode, int busy_ms, sqlite3 **out,
                         prov_err *e)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	int create = mode == PROV_DB_CREATE, readonly = mode == PROV_DB_READONLY, immutable = 0;
	int rc;
	prov_status st;

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
		rc = sqlite3_open_v2(path, &db, flags, NULL);
		if (rc != SQLITE_OK) {
			st = prov_db_fail(db, rc, path, e);
			goto out;
		}
	}
	sqlite3_busy_handler(db, busy_poll, (void *)(intptr_t)busy_ms);
	sqlite3_extended_result_codes(db, 0);
	if (!create) {
		/* Before anything writes: an existing file must already carry our schema.
		 * Version 0 is an empty file or another application's database, which
		 * must neither become an empty factory nor gain our tables. */
		int version = 0;

		st = schema_version(db, &version, e);
		if (st == PROV_E_IO && readonly && !immutable) {
			/* CANTOPEN or READONLY: the -shm file could not be made. */
			st = prov_err_set(e, PROV_E_IO,
			                  "%s: cannot be read without write access to its directory: SQLite "
			                  "makes a -shm file beside a WAL database to read it", path);
			goto out;
		}
		if (st == PROV_OK && version == 0)
			st = prov_err_set(e, PROV_E_DB, "not a provkit database (no provkit schema)");
		if (st == PROV_OK && readonly && version > (int)N_MIGRATIONS)
			st = prov_err_set(e, PROV_E_DB,
			                  "database schema version %d is newer than this prov supports (%d)",
			                  version, (int)N_MIGRATIONS);
		else if (st == PROV_OK && readonly && version != (int)N_MIGRATIONS)
			st = prov_err_set(e, PROV_E_DB,
			                  "database schema version %d is older than this prov's (%d): a command "
			                  "that writes migrates it, this one only reads", version, (int)N_MIGRATIONS);
		if (st != PROV_OK) {
			prov_err_wrap(e, "%s", path);
			goto out;
		}
	}
	if (readonly) {
		st = prov_db_exec(db, "PRAGMA foreign_keys = ON", e);
	} else {
		st = prov_db_exec(db, "PRAGMA journal_mode = WAL", e);
		if (st == PROV_OK)
			st = prov_db_exec(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", e);
		if (st == PROV_OK)
			st = migrate(db, e);
	}
	if (st != PROV_OK) {
		prov_err_wrap(e, "%s", path);
		goto out;
	}
	*out = db;
	db = NULL;
out:
	sqlite3_close(db);
	return st;
}

static const char audit_sql[] = "INSERT INTO audit (at, action, device_id, detail) VALUES (?, ?, ?, ?)";

prov_status prov_db_audit_cached(sqlite3 *db, prov_stmt_cache *c, const char *action,
                                 const char *device, const char *detail, prov_err *e)
{
	sqlite3_stmt *s = NULL;
	prov_status st = prov_db_cached(db, c, audit_sql, &s, e);
	int rc;

	if (st != PROV_OK)
		return st;
	sqlite3_bind_int64(s, 1, prov_now());
	sqlite3_bind_text(s, 2, action, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, device, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, detail, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? PROV_OK : prov_db_fail(db, rc, "writing the audit log", e);
}

prov_status prov_db_audit(sqlite3 *db, const char *action, const char *device,
                          const char *detail, prov_err *e)
{
	prov_stmt_cache c;
	prov_status st;

	/* A one-off entry: a cache of one statement, dropped at once. */
	memset(&c, 0, sizeof(c));
	st = prov_db_audit_cached(db, &c, action, device, detail, e);
	prov_db_cache_clear(&c);
	return st;
}

prov_status prov_db_meta_set(sqlite3 *db, const char *key, const void *val, size_t len,
                             prov_err *e)
{
	sqlite3_stmt *s = NULL;
	prov_status st = prov_db_prepare(db,
		"INSERT INTO meta (key, value) VALUES (?, ?) "
		"ON CONFLICT (key) DO UPDATE SET value = excluded.value", &s, e);
	int rc;

	if (st != PROV_OK)
		return st;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 2, val, (int)len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		st = prov_db_fail(db, rc, "writing settings", e);
	sqlite3_finalize(s);
	return st;
}

prov_status prov_db_meta_get(sqlite3 *db, const char *key, uint8_t **val, size_t *len,
                             prov_err *e)
{
	sqlite3_stmt *s = NULL;
	prov_status st = prov_db_prepare(db, "SELECT value FROM meta WHERE key = ?", &s, e);
	int rc;

	*val = NULL;
	*len = 0;
	if (st != PROV_OK)
		return st;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		int n = sqlite3_column_bytes(s, 0);
		const void *p = sqlite3_column_blob(s, 0);

		*val = malloc((size_t)n + 1);
		if (*val == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		} else {
			if (n > 0)
				memcpy(*val, p, (size_t)n);
			(*val)[n] = 0;
			*len = (size_t)n;
		}
	} else if (rc == SQLITE_DONE) {
		st = prov_err_set(e, PROV_E_NOTFOUND, "setting \"%s\" missing from the database", key);
	} else {
		st = prov_db_fail(db, rc, "reading settings", e);
	}
	sqlite3_finalize(s);
	return st;
}
