/*
 * test_db.c - the factory database (prov/db.h, the SQLite engine): creation and migration, refusing
 * what is not ours (a newer schema, a file that is not SQLite), the append-only
 * audit log and the only-growing bundle counter, settings, the lock timeout, and
 * the SQLite-result-to-status table.
 *
 * The database is inspected with the sqlite3 API directly (a second connection),
 * never only through the code under test.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "prov/db.h"
#include "prov/records.h"
#include "prov/util.h"
/* Statements and rows (private to libprov/src/factory/), and the engine's own
 * handle and result-code table (prov's connection seen from outside, through
 * the sqlite3 API). */
#include "../../libprov/src/factory/db_rows.h"
#include "../../libprov/src/factory/db_engine.h"

static char tmpdir[256];

static void tpath(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", tmpdir, name);
}

/* One integer from a query on a plain connection; -999 on error. */
static long long q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	long long v = -999;

	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

static int q_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
	sqlite3_stmt *s = NULL;
	int ok = 0;

	out[0] = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW &&
	    sqlite3_column_text(s, 0) != NULL) {
		snprintf(out, cap, "%s", (const char *)sqlite3_column_text(s, 0));
		ok = 1;
	}
	sqlite3_finalize(s);
	return ok;
}

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

/* Whether msg, with `path` cut out, names the number n as a whole token. */
static int names_number(const char *msg, const char *path, long n)
{
	char buf[1024];
	const char *at = strstr(msg, path);

	if (at != NULL)
		snprintf(buf, sizeof(buf), "%.*s%s", (int)(at - msg), msg, at + strlen(path));
	else
		snprintf(buf, sizeof(buf), "%s", msg);
	for (const char *p = buf; *p != 0;) {
		if (*p >= '0' && *p <= '9' &&
		    (p == buf || ((p[-1] < '0' || p[-1] > '9') && p[-1] != '-'))) {
			char *end;
			long v = strtol(p, &end, 10);

			if (v == n)
				return 1;
			p = end;
		} else {
			p++;
		}
	}
	return 0;
}

static const char *const tables[] = {"meta", "templates", "devices", "device_keys", "certificates",
                                     "psks", "raw_keys", "bundles", "installs", "audit"};

static const char *const triggers[] = {"audit_no_update", "audit_no_delete", "audit_no_replace",
                                        "devices_no_replace", "bundle_counter_grows"};

static void test_create_reopen(void)
{
	char path[512], mode[32];
	prov_db *db = NULL;
	sqlite3 *raw;
	prov_err e;
	struct stat sb;
	uint8_t *val = NULL;
	size_t len = 0;

	tpath(path, sizeof(path), "factory.db");
	CHECK_MSG(prov_db_open(path, 1, 1000, &db, &e) == PROV_OK, "create: %s", e.msg);
	if (db == NULL)
		return;
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600);
	CHECK(q_int(prov_db_native(db), "PRAGMA user_version") == PROV_DB_SCHEMA_VERSION);
	CHECK(q_text(prov_db_native(db), "PRAGMA journal_mode", mode, sizeof(mode)) && strcmp(mode, "wal") == 0);
	CHECK(q_int(prov_db_native(db), "PRAGMA foreign_keys") == 1);
	CHECK(prov_records_meta_set(db, "marker", "kept", 4, &e) == PROV_OK);
	prov_db_close(db);
	db = NULL;

	/* Seen from outside: WAL is a property of the file, the schema is all there. */
	raw = raw_open(path);
	CHECK(raw != NULL);
	if (raw != NULL) {
		CHECK(q_int(raw, "PRAGMA user_version") == PROV_DB_SCHEMA_VERSION);
		CHECK(q_text(raw, "PRAGMA journal_mode", mode, sizeof(mode)) && strcmp(mode, "wal") == 0);
		for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
			char sql[128];

			snprintf(sql, sizeof(sql),
			         "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'", tables[i]);
			CHECK_MSG(q_int(raw, sql) == 1, "table %s missing", tables[i]);
		}
		for (size_t i = 0; i < sizeof(triggers) / sizeof(triggers[0]); i++) {
			char sql[128];

			snprintf(sql, sizeof(sql),
			         "SELECT count(*) FROM sqlite_master WHERE type='trigger' AND name='%s'", triggers[i]);
			CHECK_MSG(q_int(raw, sql) == 1, "trigger %s missing", triggers[i]);
		}
		sqlite3_close(raw);
	}

	/* Creating again refuses; opening reuses what is there, unchanged. */
	memset(&e, 0, sizeof(e));
	CHECK(prov_db_open(path, 1, 1000, &db, &e) == PROV_E_EXISTS && db == NULL);
	CHECK_MSG(prov_db_open(path, 0, 1000, &db, &e) == PROV_OK, "reopen: %s", e.msg);
	if (db != NULL) {
		CHECK(q_int(prov_db_native(db), "PRAGMA user_version") == PROV_DB_SCHEMA_VERSION);
		CHECK(prov_records_meta_get(db, "marker", &val, &len, &e) == PROV_OK && len == 4 &&
		      memcmp(val, "kept", 4) == 0);
		free(val);
		prov_db_close(db);
		db = NULL;
	}
	/* And a third time (the no-migration path twice in a row). */
	CHECK(prov_db_open(path, 0, 1000, &db, &e) == PROV_OK);
	prov_db_close(db);
	db = NULL;

	tpath(path, sizeof(path), "missing.db");
	memset(&e, 0, sizeof(e));
	CHECK(prov_db_open(path, 0, 1000, &db, &e) == PROV_E_NOTFOUND && db == NULL);
	CHECK(access(path, F_OK) != 0);
	tpath(path, sizeof(path), "no/such/dir.db");
	CHECK(prov_db_open(path, 1, 1000, &db, &e) == PROV_E_IO && db == NULL);
}

static void test_newer_schema(void)
{
	static const struct {
		int version;
		const char *name;
	} cases[] = {
		{PROV_DB_SCHEMA_VERSION + 1, "next.db"},
		{99, "v99.db"},
		{-1, "negative.db"},
		{0, "foreign.db"}, /* another application's database: no provkit schema */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[512], sql[64];
		sqlite3 *raw;
		prov_db *db = NULL;
		prov_err e;
		prov_status st;

		tpath(path, sizeof(path), cases[i].name);
		raw = raw_open(path);
		CHECK(raw != NULL);
		if (raw == NULL)
			continue;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", cases[i].version);
		CHECK(sqlite3_exec(raw, "CREATE TABLE future (x)", NULL, NULL, NULL) == SQLITE_OK);
		CHECK(sqlite3_exec(raw, sql, NULL, NULL, NULL) == SQLITE_OK);
		sqlite3_close(raw);

		memset(&e, 0, sizeof(e));
		st = prov_db_open(path, 0, 1000, &db, &e);
		{
			/* A newer schema is exit 15 (wrong schema version), no schema or a
			 * bad version exit 6. */
			prov_status want = cases[i].version > PROV_DB_SCHEMA_VERSION ? PROV_E_SCHEMA : PROV_E_DB;

			CHECK_MSG(st == want && e.code == want && db == NULL,
			          "user_version %d: status %d \"%s\"", cases[i].version, st, e.msg);
		}
		if (cases[i].version > PROV_DB_SCHEMA_VERSION)
			CHECK_MSG(names_number(e.msg, path, cases[i].version) &&
			          names_number(e.msg, path, PROV_DB_SCHEMA_VERSION),
			          "message does not name versions %d and %d: \"%s\"", cases[i].version,
			          PROV_DB_SCHEMA_VERSION, e.msg);
		else if (cases[i].version < 0)
			CHECK_MSG(strstr(e.msg, "-1") != NULL, "message does not name version -1: \"%s\"", e.msg);
		prov_db_close(db);

		/* Refused means untouched: no migration ran. */
		raw = raw_open(path);
		if (raw != NULL) {
			CHECK(q_int(raw, "PRAGMA user_version") == cases[i].version);
			CHECK_MSG(q_int(raw, "SELECT count(*) FROM sqlite_master") == 1,
			          "user_version %d: tables were added", cases[i].version);
			sqlite3_close(raw);
		}
	}
}

static void test_not_a_database(void)
{
	static const struct {
		const char *name;
		size_t len;
		int random;
	} cases[] = {
		{"random.db", 4096, 1},
		{"random-small.db", 700, 1},
		{"text.db", 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[512];
		uint8_t buf[4096], *back = NULL;
		size_t n = cases[i].len, blen = 0;
		prov_db *db = NULL;
		prov_err e;
		prov_status st;

		tpath(path, sizeof(path), cases[i].name);
		if (cases[i].random) {
			CHECK(prov_random(buf, n, 0, NULL) == PROV_OK);
			buf[0] = 'X'; /* never the "SQLite format 3" magic */
		} else {
			n = (size_t)snprintf((char *)buf, sizeof(buf), "%s",
			                     "this is a text file, not a database, but it is long enough to "
			                     "fill what SQLite reads as its header; this is a text file, "
			                     "not a database.\n");
		}
		CHECK(prov_file_write(path, buf, n, 0600, 1, NULL) == PROV_OK);
		memset(&e, 0, sizeof(e));
		st = prov_db_open(path, 0, 1000, &db, &e);
		CHECK_MSG(st == PROV_E_DB && e.code == PROV_E_DB && db == NULL, "%s: status %d \"%s\"",
		          cases[i].name, st, e.msg);
		CHECK_MSG(strstr(e.msg, path) != NULL, "%s: message lacks the path: \"%s\"", cases[i].name, e.msg);
		prov_db_close(db);
		/* Not modified. */
		CHECK(prov_file_read(path, 2 * sizeof(buf), &back, &blen, NULL) == PROV_OK && blen == n &&
		      memcmp(back, buf, n) == 0);
		free(back);
	}
}

static int exec_fails_with(prov_db *db, const char *sql, const char *fragment)
{
	prov_err e;

	memset(&e, 0, sizeof(e));
	return prov_db_exec(db, sql, &e) != PROV_OK && strstr(e.msg, fragment) != NULL;
}

static void test_triggers(void)
{
	char path[512], txt[64];
	prov_db *db = NULL;
	prov_err e;

	tpath(path, sizeof(path), "triggers.db");
	CHECK(prov_db_open(path, 1, 1000, &db, &e) == PROV_OK);
	if (db == NULL)
		return;

	/* Audit: append works, its statement prepared once for the connection. */
	CHECK(prov_records_audit(db, "init", NULL, "{\"ca\":\"new\"}", &e) == PROV_OK);
	CHECK(prov_records_audit(db, "mint", "dev-1", NULL, &e) == PROV_OK);
	CHECK(prov_records_audit(db, "mint", "dev-2", NULL, &e) == PROV_OK);
	CHECK(prov_db_stmt_count(db) == 1);
	CHECK(q_int(prov_db_native(db), "SELECT count(*) FROM audit") == 3);

	/* ... and nothing else. */
	CHECK(exec_fails_with(db, "UPDATE audit SET action = 'forged' WHERE seq = 1", "append-only"));
	CHECK(exec_fails_with(db, "UPDATE audit SET detail = NULL", "append-only"));
	CHECK(exec_fails_with(db, "DELETE FROM audit WHERE seq = 2", "append-only"));
	CHECK(exec_fails_with(db, "DELETE FROM audit", "append-only"));
	/* A REPLACE deletes the old row without firing DELETE triggers unless
	 * recursive_triggers is on: the log must not be rewritable that way either. */
	prov_db_exec(db, "INSERT OR REPLACE INTO audit (seq, at, action) VALUES (1, 0, 'forged')", &e);
	CHECK(q_int(prov_db_native(db), "SELECT count(*) FROM audit") == 3);
	CHECK_MSG(q_text(prov_db_native(db), "SELECT action FROM audit WHERE seq = 1", txt, sizeof(txt)) &&
	          strcmp(txt, "init") == 0,
	          "INSERT OR REPLACE rewrote audit entry 1 (now \"%s\"): the log is not append-only", txt);
	CHECK(q_text(prov_db_native(db), "SELECT action FROM audit WHERE seq = 2", txt, sizeof(txt)) && strcmp(txt, "mint") == 0);

	/* Bundle counter: only grows. */
	CHECK(prov_db_exec(db,
	                   "INSERT INTO templates (digest, name, json, created_at) VALUES ('d1', 't', '{}', 0);"
	                   "INSERT INTO devices (id, template, bundle_counter, created_at, updated_at)"
	                   " VALUES ('dev-1', 'd1', 5, 0, 0)", &e) == PROV_OK);
	CHECK(exec_fails_with(db, "UPDATE devices SET bundle_counter = 4 WHERE id = 'dev-1'", "only grows"));
	CHECK(exec_fails_with(db, "UPDATE devices SET bundle_counter = 0 WHERE id = 'dev-1'", "only grows"));
	CHECK(exec_fails_with(db, "UPDATE devices SET bundle_counter = 5 WHERE id = 'dev-1'", "only grows"));
	CHECK(exec_fails_with(db, "UPDATE devices SET bundle_counter = bundle_counter - 1", "only grows"));
	CHECK(q_int(prov_db_native(db), "SELECT bundle_counter FROM devices WHERE id = 'dev-1'") == 5);
	CHECK(prov_db_exec(db, "UPDATE devices SET bundle_counter = 6 WHERE id = 'dev-1'", &e) == PROV_OK);
	CHECK(prov_db_exec(db, "UPDATE devices SET bundle_counter = 1000 WHERE id = 'dev-1'", &e) == PROV_OK);
	CHECK(q_int(prov_db_native(db), "SELECT bundle_counter FROM devices WHERE id = 'dev-1'") == 1000);
	/* A REPLACE of the device row (delete + insert, no UPDATE trigger fires)
	 * must not roll the counter back either, even with rows that reference it. */
	CHECK(prov_db_exec(db,
	                   "INSERT INTO device_keys (device_id, generation, key_type, origin, spki, created_at)"
	                   " VALUES ('dev-1', 1, 'p256', 'csr', x'00', 0)", &e) == PROV_OK);
	prov_db_exec(db,
	             "INSERT OR REPLACE INTO devices (id, template, bundle_counter, created_at, updated_at)"
	             " VALUES ('dev-1', 'd1', 0, 0, 0)", &e);
	CHECK_MSG(q_int(prov_db_native(db), "SELECT bundle_counter FROM devices WHERE id = 'dev-1'") == 1000,
	          "INSERT OR REPLACE set the bundle counter of dev-1 from 1000 to %lld",
	          q_int(prov_db_native(db), "SELECT bundle_counter FROM devices WHERE id = 'dev-1'"));
	/* Other columns still update. */
	CHECK(prov_db_exec(db, "UPDATE devices SET status = 'bundled' WHERE id = 'dev-1'", &e) == PROV_OK);

	/* Foreign keys are enforced on prov's connection. */
	CHECK(exec_fails_with(db,
	                      "INSERT INTO devices (id, template, created_at, updated_at)"
	                      " VALUES ('dev-x', 'no-such-template', 0, 0)", "FOREIGN KEY"));
	prov_db_close(db);
}

static void test_meta(void)
{
	char path[512];
	prov_db *db = NULL;
	prov_err e;
	uint8_t *v = NULL, bin[300], *big;
	size_t len = 0;

	tpath(path, sizeof(path), "meta.db");
	CHECK(prov_db_open(path, 1, 1000, &db, &e) == PROV_OK);
	if (db == NULL)
		return;
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)i; /* NUL bytes included */

	CHECK(prov_records_meta_set(db, "bin", bin, sizeof(bin), &e) == PROV_OK);
	CHECK(prov_records_meta_get(db, "bin", &v, &len, &e) == PROV_OK);
	CHECK_EQ_HEX(v, len, bin, sizeof(bin));
	free(v);

	/* Overwrite, shorter. */
	CHECK(prov_records_meta_set(db, "bin", "xy", 2, &e) == PROV_OK);
	CHECK(prov_records_meta_get(db, "bin", &v, &len, &e) == PROV_OK && len == 2 &&
	      memcmp(v, "xy", 2) == 0 && v[2] == 0);
	free(v);
	CHECK(q_int(prov_db_native(db), "SELECT count(*) FROM meta WHERE key = 'bin'") == 1);

	/* Empty value: present, zero length. */
	CHECK(prov_records_meta_set(db, "empty", "", 0, &e) == PROV_OK);
	v = NULL;
	CHECK(prov_records_meta_get(db, "empty", &v, &len, &e) == PROV_OK && len == 0 && v != NULL);
	free(v);

	/* Big value. */
	big = malloc(200000);
	CHECK(big != NULL);
	if (big != NULL) {
		for (size_t i = 0; i < 200000; i++)
			big[i] = (uint8_t)(i * 131);
		CHECK(prov_records_meta_set(db, "big", big, 200000, &e) == PROV_OK);
		CHECK(prov_records_meta_get(db, "big", &v, &len, &e) == PROV_OK && len == 200000 &&
		      memcmp(v, big, len) == 0);
		free(v);
		free(big);
	}

	/* Keys are exact. */
	memset(&e, 0, sizeof(e));
	v = (uint8_t *)1;
	len = 9;
	CHECK(prov_records_meta_get(db, "kek_salt", &v, &len, &e) == PROV_E_NOTFOUND && v == NULL && len == 0);
	CHECK(e.code == PROV_E_NOTFOUND && strstr(e.msg, "kek_salt") != NULL);
	CHECK(prov_records_meta_get(db, "BIN", &v, &len, &e) == PROV_E_NOTFOUND);
	CHECK(prov_records_meta_get(db, "bi", &v, &len, &e) == PROV_E_NOTFOUND);
	CHECK(prov_records_meta_get(db, "bin", &v, &len, NULL) == PROV_OK);
	free(v);
	prov_db_close(db);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void test_busy(void)
{
	char path[512];
	prov_db *db = NULL;
	sqlite3 *other = NULL;
	prov_err e;
	double t0, waited;

	tpath(path, sizeof(path), "busy.db");
	CHECK(prov_db_open(path, 1, 1000, &db, &e) == PROV_OK);
	prov_db_close(db);
	db = NULL;

	other = raw_open(path);
	CHECK(other != NULL && sqlite3_exec(other, "BEGIN EXCLUSIVE", NULL, NULL, NULL) == SQLITE_OK);
	/* Opening still works (readers are not blocked in WAL mode) ... */
	CHECK_MSG(prov_db_open(path, 0, 100, &db, &e) == PROV_OK, "open beside a writer: %s", e.msg);
	if (db != NULL && other != NULL) {
		/* ... but taking the write lock times out after about busy_ms. */
		memset(&e, 0, sizeof(e));
		t0 = now_ms();
		CHECK(prov_db_begin(db, &e) == PROV_E_BUSY);
		waited = now_ms() - t0;
		CHECK(e.code == PROV_E_BUSY && strstr(e.msg, "locked") != NULL);
		CHECK_MSG(waited >= 80 && waited < 5000, "waited %.0f ms for a 100 ms busy timeout", waited);
		CHECK(sqlite3_get_autocommit(prov_db_native(db)) == 1); /* no transaction left open */
		/* Writing a setting outside a transaction is refused the same way. */
		CHECK(prov_records_meta_set(db, "k", "v", 1, &e) == PROV_E_BUSY);

		CHECK(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
		CHECK(prov_db_begin(db, &e) == PROV_OK);
		CHECK(prov_records_meta_set(db, "k", "v", 1, &e) == PROV_OK);
		/* Now prov holds the lock: the other connection cannot write. */
		sqlite3_busy_timeout(other, 10);
		CHECK(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_BUSY);
		CHECK(prov_db_commit(db, &e) == PROV_OK);
		CHECK(q_int(other, "SELECT count(*) FROM meta WHERE key = 'k'") == 1);
		/* Rollback is a no-op outside a transaction, and undoes inside one. */
		prov_db_rollback(db);
		CHECK(prov_db_begin(db, &e) == PROV_OK);
		CHECK(prov_records_meta_set(db, "gone", "x", 1, &e) == PROV_OK);
		prov_db_rollback(db);
		CHECK(sqlite3_get_autocommit(prov_db_native(db)) == 1);
		CHECK(q_int(other, "SELECT count(*) FROM meta WHERE key = 'gone'") == 0);
	}
	prov_db_close(db);
	sqlite3_close(other);
}

static void test_fail_map(void)
{
	static const struct {
		int rc;
		prov_status want;
	} cases[] = {
		{SQLITE_BUSY, PROV_E_BUSY},
		{SQLITE_BUSY_SNAPSHOT, PROV_E_BUSY},
		{SQLITE_LOCKED, PROV_E_BUSY},
		{SQLITE_NOTADB, PROV_E_DB},
		{SQLITE_CORRUPT, PROV_E_DB},
		{SQLITE_CORRUPT_INDEX, PROV_E_DB},
		{SQLITE_SCHEMA, PROV_E_DB},
		{SQLITE_CONSTRAINT, PROV_E_EXISTS},
		{SQLITE_CONSTRAINT_UNIQUE, PROV_E_EXISTS},
		{SQLITE_IOERR, PROV_E_IO},
		{SQLITE_IOERR_FSYNC, PROV_E_IO},
		{SQLITE_CANTOPEN, PROV_E_IO},
		{SQLITE_READONLY, PROV_E_IO},
		{SQLITE_FULL, PROV_E_IO},
		{SQLITE_ERROR, PROV_E_DB},
		{SQLITE_MISMATCH, PROV_E_DB},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		prov_err e;
		prov_status st;

		memset(&e, 0, sizeof(e));
		st = prov_db_sqlite_fail(NULL, cases[i].rc, "what", &e);
		CHECK_MSG(st == cases[i].want && e.code == st && strncmp(e.msg, "what: ", 6) == 0,
		          "prov_db_sqlite_fail(%d) = %d \"%s\", want %d", cases[i].rc, st, e.msg, cases[i].want);
		CHECK(prov_db_sqlite_fail(NULL, cases[i].rc, "what", NULL) == cases[i].want);
	}
}

static void test_stmt_cache(void)
{
	char path[512], sql[PROV_DB_STMT_MAX + 1][32];
	prov_db *db = NULL;
	prov_db_stmt *a = NULL, *b = NULL;
	prov_err e;
	int row = 0;

	tpath(path, sizeof(path), "cache.db");
	CHECK(prov_db_open(path, 1, 1000, &db, &e) == PROV_OK);
	if (db == NULL)
		return;
	for (int i = 0; i <= PROV_DB_STMT_MAX; i++)
		snprintf(sql[i], sizeof(sql[i]), "SELECT %d", i);
	CHECK(prov_db_prepare(db, sql[0], &a, &e) == PROV_OK);
	CHECK(prov_db_step(a, &row, "step", &e) == PROV_OK && row == 1);
	/* The same text (by address) gives the same statement, reset. */
	CHECK(prov_db_prepare(db, sql[0], &b, &e) == PROV_OK && a == b);
	CHECK(prov_db_step(b, &row, "step", &e) == PROV_OK && row == 1 && prov_db_col_int(b, 0) == 0);
	for (int i = 1; i < PROV_DB_STMT_MAX; i++)
		CHECK(prov_db_prepare(db, sql[i], &a, &e) == PROV_OK);
	CHECK(prov_db_stmt_count(db) == PROV_DB_STMT_MAX);
	CHECK(prov_db_prepare(db, sql[PROV_DB_STMT_MAX], &a, &e) == PROV_E_INTERNAL);
	/* The connection finalizes every statement it keeps. */
	CHECK(prov_db_close(db) == 0);
	/* A bad statement is an error, not a cache entry. */
	db = NULL;
	CHECK(prov_db_open(path, 0, 1000, &db, &e) == PROV_OK);
	if (db == NULL)
		return;
	CHECK(prov_db_stmt_count(db) == 0);
	CHECK(prov_db_prepare(db, "SELECT FROM nowhere", &a, &e) == PROV_E_DB && prov_db_stmt_count(db) == 0);
	CHECK(prov_db_close(db) == 0); /* every statement was finalized */
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	char cmd[300];

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_db.XXXXXX", base != NULL && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_create_reopen();
	test_newer_schema();
	test_not_a_database();
	test_triggers();
	test_meta();
	test_busy();
	test_fail_map();
	test_stmt_cache();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return check_done("test_db");
}
