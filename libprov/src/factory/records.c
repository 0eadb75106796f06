/* records.c - every SQL statement of the factory (see prov/records.h).
 *
 * The SQL is the subset SQLite 3.40 and PostgreSQL 15 both accept: ?N
 * placeholders (an engine that wants $N translates them), INSERT ... ON
 * CONFLICT instead of INSERT OR IGNORE / REPLACE, RETURNING, explicit column
 * lists, no rowid: rows are ordered by their declared id columns.  A statement
 * that only one engine accepts says so in a comment beside it (the device
 * read FOR UPDATE; the schema's triggers are in schema.c).  Each text is a static array:
 * its address is its key in the connection's statement cache (db_rows.h). */
#include "prov/records.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/escape.h"
#include "prov/util.h"

#include "db_rows.h"

static prov_status oom(prov_err *e)
{
	return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
}

/* A malloc'd copy of a column (NUL-terminated, the NUL not counted); *p NULL
 * for SQL NULL, or for any other type than a blob when only_blob.  -1: no memory. */
static int col_copy(prov_db_stmt *s, int i, int only_blob, uint8_t **p, size_t *n)
{
	int type = prov_db_col_type(s, i);
	const uint8_t *v;
	size_t len = 0;

	*p = NULL;
	*n = 0;
	if (type == PROV_DB_NULL || (only_blob && type != PROV_DB_BLOB))
		return 0;
	v = prov_db_col_blob(s, i, &len);
	*p = malloc(len + 1);
	if (*p == NULL)
		return -1;
	if (len > 0)
		memcpy(*p, v, len);
	(*p)[len] = 0;
	*n = len;
	return 0;
}

/* A text column into a fixed buffer ("" for NULL), cut to fit. */
static void col_str(prov_db_stmt *s, int i, char *out, size_t cap)
{
	size_t len = 0;
	const char *t = prov_db_col_text(s, i, &len);

	snprintf(out, cap, "%.*s", t != NULL ? (int)(len < cap ? len : cap - 1) : 0, t != NULL ? t : "");
}

/* Bind a statement's parameters, one letter each in fmt, from ?1 on:
 * t text (const char *, NULL binds NULL), b blob (const void *, size_t; NULL
 * binds NULL), i integer (int64_t), n the time now (no argument). */
static void bind_args(prov_db_stmt *s, const char *fmt, va_list ap)
{
	for (int i = 1; *fmt != 0; fmt++, i++) {
		if (*fmt == 't') {
			prov_db_bind_text(s, i, va_arg(ap, const char *));
		} else if (*fmt == 'b') {
			const void *p = va_arg(ap, const void *);

			prov_db_bind_blob(s, i, p, va_arg(ap, size_t));
		} else if (*fmt == 'i') {
			prov_db_bind_int(s, i, va_arg(ap, int64_t));
		} else {
			prov_db_bind_int(s, i, prov_now());
		}
	}
}

/* Run a statement that returns no row (a write). */
static prov_status run(prov_db *db, const char *sql, const char *what, prov_err *e, const char *fmt, ...)
{
	prov_db_stmt *s;
	prov_status st = prov_db_prepare(db, sql, &s, e);
	va_list ap;

	if (st != PROV_OK)
		return st;
	prov_db_touch(db); /* a write: a credential memo (below) is stale */
	va_start(ap, fmt);
	bind_args(s, fmt, ap);
	va_end(ap);
	return prov_db_done(s, what, e);
}

/* Run a query to its first row: *found 1 with the row to read in *s (the
 * caller resets *s when done), 0 without one. */
static prov_status row(prov_db *db, const char *sql, prov_db_stmt **s, int *found, const char *what,
                       prov_err *e, const char *fmt, ...)
{
	prov_status st = prov_db_prepare(db, sql, s, e);
	va_list ap;

	*found = 0;
	if (st != PROV_OK)
		return st;
	va_start(ap, fmt);
	bind_args(*s, fmt, ap);
	va_end(ap);
	st = prov_db_step(*s, found, what, e);
	if (st == PROV_OK && !*found)
		prov_db_reset(*s);
	return st;
}

/* The row of a device's credential in a slot, or (slot < 0) its first. */
static prov_status slot_row(prov_db *db, const char *q_slot, const char *q_first, const char *id, int gen,
                            int64_t slot, prov_db_stmt **s, int *found, prov_err *e)
{
	if (slot >= 0)
		return row(db, q_slot, s, found, "reading the device's credentials", e, "tii", id, (int64_t)gen,
		           slot);
	return row(db, q_first, s, found, "reading the device's credentials", e, "ti", id, (int64_t)gen);
}

/* ---- settings and the audit log ----------------------------------------------- */

prov_status prov_records_meta_set(prov_db *db, const char *key, const void *val, size_t len,
                                  prov_err *e)
{
	static const char sql[] =
		"INSERT INTO meta (key, value) VALUES (?1, ?2) "
		"ON CONFLICT (key) DO UPDATE SET value = excluded.value";

	return run(db, sql, "writing settings", e, "tb", key, val != NULL ? val : (const void *)"", len);
}

prov_status prov_records_meta_add(prov_db *db, const char *key, const void *val, size_t len,
                                  prov_err *e)
{
	static const char sql[] = "INSERT INTO meta (key, value) VALUES (?1, ?2)";

	return run(db, sql, "writing settings", e, "tb", key, val != NULL ? val : (const void *)"", len);
}

prov_status prov_records_meta_get(prov_db *db, const char *key, uint8_t **val, size_t *len,
                                  prov_err *e)
{
	static const char sql[] = "SELECT value FROM meta WHERE key = ?1";
	prov_db_stmt *s;
	int found = 0;
	prov_status st = row(db, sql, &s, &found, "reading settings", e, "t", key);

	*val = NULL;
	*len = 0;
	if (st != PROV_OK)
		return st;
	if (!found)
		return prov_err_set(e, PROV_E_NOTFOUND, "setting \"%s\" missing from the database", key);
	/* A setting is a blob: its bytes, NUL-terminated, even when empty. */
	if (col_copy(s, 0, 0, val, len) != 0 || (*val == NULL && (*val = calloc(1, 1)) == NULL))
		st = oom(e);
	prov_db_reset(s);
	return st;
}

prov_status prov_records_audit(prov_db *db, const char *action, const char *device,
                               const char *detail, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO audit (at, action, device_id, detail, station) VALUES (?1, ?2, ?3, ?4, ?5)";

	return run(db, sql, "writing the audit log", e, "ntttt", action, device, detail, prov_db_station(db));
}

/* ---- stations ------------------------------------------------------------------- */

prov_status prov_records_station_add(prov_db *db, const char *name, const char *detail, prov_err *e)
{
	static const char sql[] = "INSERT INTO stations (name, created_at, detail) VALUES (?1, ?2, ?3)";

	return run(db, sql, "registering the station", e, "tnt", name, detail);
}

prov_status prov_records_station_count(prov_db *db, const char *name, long long *n, prov_err *e)
{
	/* CAST: PostgreSQL infers a parameter's type from its first use. */
	static const char sql[] =
		"SELECT COUNT(*) FROM stations WHERE CAST(?1 AS TEXT) IS NULL OR name = ?1";
	prov_db_stmt *s;
	int found = 0;
	prov_status st = row(db, sql, &s, &found, "reading the stations", e, "t", name);

	*n = 0;
	if (st == PROV_OK && found) {
		*n = prov_db_col_int(s, 0);
		prov_db_reset(s);
	}
	return st;
}

/* ---- templates ------------------------------------------------------------------ */

prov_status prov_records_template_add(prov_db *db, const prov_rec_template *t, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO templates (digest, name, json, trust_der, created_at) "
		"VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (digest) DO NOTHING";

	return run(db, sql, "recording the template", e, "tttbn", t->digest, t->name, t->json,
	           (const void *)t->trust_der, t->trust_len);
}

prov_status prov_records_template(prov_db *db, const char *digest, char **json, uint8_t **trust,
                                  size_t *trust_len, prov_err *e)
{
	static const char sql[] = "SELECT json, trust_der FROM templates WHERE digest = ?1";
	prov_db_stmt *s;
	uint8_t *j = NULL;
	size_t n = 0;
	int found = 0;
	prov_status st = row(db, sql, &s, &found, "reading the template", e, "t", digest);

	*json = NULL;
	*trust = NULL;
	*trust_len = 0;
	if (st != PROV_OK)
		return st;
	if (!found)
		return prov_err_set(e, PROV_E_DB, "template %s missing", digest);
	if (col_copy(s, 0, 0, &j, &n) != 0 || col_copy(s, 1, 0, trust, trust_len) != 0)
		st = oom(e);
	prov_db_reset(s);
	*json = (char *)j;
	if (st == PROV_OK && *json == NULL)
		st = prov_err_set(e, PROV_E_DB, "template %s has no JSON", digest);
	if (st != PROV_OK) {
		free(*json);
		free(*trust);
		*json = NULL;
		*trust = NULL;
		*trust_len = 0;
	}
	return st;
}

static int dup_blob(const uint8_t *p, size_t n, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (p == NULL)
		return 0;
	*out = malloc(n + 1);
	if (*out == NULL)
		return -1;
	if (n > 0)
		memcpy(*out, p, n);
	(*out)[n] = 0;
	*out_len = n;
	return 0;
}

/* ---- the memo ---------------------------------------------------------------------- */

/* What the records layer keeps of its reads and writes for the bundle
 * builder, in the connection's memo slot (prov/db.h):
 *
 * - a device generation's credentials, read in one statement when the
 *   builder asks for its key inside a transaction, for its next lookups of
 *   certificates, PSKs and raw public keys: one round trip instead of one per
 *   credential.  Valid in the same transaction with no write since (the
 *   epoch), for the same device and generation; it answers as the queries
 *   would (a slot's row; without a slot the lowest slot for a certificate,
 *   the first row for the others).
 * - the row of a device this transaction registered (prov_records_device_add):
 *   the transaction holds it (no other sees it before the commit) and nothing
 *   but this transaction's own updates of it, which forget it, changes it, so
 *   the builder's read of it is answered here until the commit or rollback. */
enum { MEMO_KEY = 0, MEMO_CERT = 1, MEMO_PSK = 2, MEMO_RPK = 3 };

typedef struct memo_row {
	int kind;
	int64_t slot, n;               /* n: a PSK's bits */
	uint8_t *a, *b;                /* key: spki, sealed; cert: der; psk: identity, sealed; rpk: own, peer */
	size_t a_len, b_len;
	char t1[32], t2[16];           /* key: key_type, origin */
} memo_row;

typedef struct cred_memo {
	/* the credentials of (id, gen), valid while epoch is the connection's */
	int valid;
	uint64_t epoch;
	char id[72];
	int gen;
	size_t n, cap;
	memo_row *rows;
	/* or: the credentials of (id, gen) as transaction wt_tx writes them, all of
	 * them: the device was registered or rotated to gen in that transaction */
	int wt;
	uint64_t wt_tx;
	/* the device row registered in transaction dev_tx */
	int dev_valid;
	uint64_t dev_tx;
	char dev_id[72];
	char dev_template[65];
	uint8_t *dev_spki;
	size_t dev_spki_len;
	/* the generations of a chunk's devices, read at once in transaction gen_tx
	 * (0: not registered), sorted by ID */
	int gen_valid;
	uint64_t gen_tx;
	size_t n_gens;
	struct memo_gen {
		char *id;
		int gen;
	} *gens;
} cred_memo;

static void memo_clear_rows(cred_memo *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->rows[i].a);
		free(m->rows[i].b);
	}
	m->n = 0;
	m->valid = 0;
	m->wt = 0;
}

static void memo_forget_gens(cred_memo *m)
{
	for (size_t i = 0; i < m->n_gens; i++)
		free(m->gens[i].id);
	free(m->gens);
	m->gens = NULL;
	m->n_gens = 0;
	m->gen_valid = 0;
}

static void memo_forget_device(cred_memo *m)
{
	free(m->dev_spki);
	m->dev_spki = NULL;
	m->dev_spki_len = 0;
	m->dev_valid = 0;
}

static void memo_free(void *p)
{
	cred_memo *m = p;

	if (m == NULL)
		return;
	memo_clear_rows(m);
	memo_forget_device(m);
	memo_forget_gens(m);
	free(m->rows);
	free(m);
}

/* The connection's memo, made on first use (NULL: no memory, and no memo). */
static cred_memo *memo_get(prov_db *db)
{
	cred_memo *m = prov_db_memo(db);

	if (m == NULL && (m = calloc(1, sizeof(*m))) != NULL)
		prov_db_set_memo(db, m, memo_free);
	return m;
}

/* The memo for (id, gen) when it may answer, else NULL. */
static const cred_memo *memo_for(prov_db *db, const char *id, int gen)
{
	const cred_memo *m = prov_db_memo(db);

	if (m == NULL || !prov_db_in_transaction(db) || m->gen != gen || strcmp(m->id, id) != 0)
		return NULL;
	if ((m->valid && m->epoch == prov_db_epoch(db)) || (m->wt && m->wt_tx == prov_db_tx_epoch(db)))
		return m;
	return NULL;
}

/* A device registered or rotated to gen in this transaction: its credentials
 * of gen are the ones this transaction is about to write. */
static void memo_start_writes(prov_db *db, const char *id, int gen)
{
	cred_memo *m = prov_db_in_transaction(db) ? memo_get(db) : NULL;

	if (m == NULL)
		return;
	memo_clear_rows(m);
	if (strlen(id) >= sizeof(m->id))
		return;
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->gen = gen;
	m->wt = 1;
	m->wt_tx = prov_db_tx_epoch(db);
}

/* A credential this transaction wrote, into the memo of its device's
 * generation (when that is the one being written). */
static void memo_add_row(prov_db *db, int kind, const char *id, int gen, int64_t slot, int64_t n,
                         const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len, const char *t1,
                         const char *t2)
{
	cred_memo *m = prov_db_memo(db);
	memo_row *r;

	if (m == NULL || !m->wt || m->wt_tx != prov_db_tx_epoch(db) || m->gen != gen || strcmp(m->id, id) != 0)
		return;
	if (m->n == m->cap) {
		size_t cap = m->cap ? 2 * m->cap : 8;
		memo_row *g = realloc(m->rows, cap * sizeof(*g));

		if (g == NULL) {
			memo_clear_rows(m); /* no memo: the queries answer */
			return;
		}
		m->rows = g;
		m->cap = cap;
	}
	r = &m->rows[m->n];
	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->slot = slot;
	r->n = n;
	if (dup_blob(a, a_len, &r->a, &r->a_len) != 0 || dup_blob(b, b_len, &r->b, &r->b_len) != 0) {
		free(r->a);
		memo_clear_rows(m);
		return;
	}
	snprintf(r->t1, sizeof(r->t1), "%s", t1 != NULL ? t1 : "");
	snprintf(r->t2, sizeof(r->t2), "%s", t2 != NULL ? t2 : "");
	m->n++;
}

static int gen_cmp(const void *a, const void *b)
{
	return strcmp(((const struct memo_gen *)a)->id, ((const struct memo_gen *)b)->id);
}

/* The prefetched generation of a device, or NULL when the memo does not know it. */
static struct memo_gen *memo_gen_of(prov_db *db, const char *id)
{
	cred_memo *m = prov_db_memo(db);
	struct memo_gen key;

	if (m == NULL || !m->gen_valid || m->gen_tx != prov_db_tx_epoch(db) || !prov_db_in_transaction(db))
		return NULL;
	key.id = (char *)id;
	return bsearch(&key, m->gens, m->n_gens, sizeof(*m->gens), gen_cmp);
}

/* The device row this transaction registered, or NULL. */
static const cred_memo *memo_device(prov_db *db, const char *id)
{
	const cred_memo *m = prov_db_memo(db);

	if (m == NULL || !m->dev_valid || m->dev_tx != prov_db_tx_epoch(db) || !prov_db_in_transaction(db) ||
	    strcmp(m->dev_id, id) != 0)
		return NULL;
	return m;
}

/* A write to a device's row: what the memo knows of it is stale. */
static void memo_device_changed(prov_db *db)
{
	cred_memo *m = prov_db_memo(db);

	if (m != NULL)
		memo_forget_device(m);
}

/* The row of a kind the queries would return: the slot's, or (slot < 0) the
 * lowest slot (certificates) or the first by id (the others). */
static const memo_row *memo_find(const cred_memo *m, int kind, int64_t slot)
{
	const memo_row *best = NULL;

	for (size_t i = 0; i < m->n; i++) {
		const memo_row *r = &m->rows[i];

		if (r->kind != kind || (slot >= 0 && r->slot != slot))
			continue;
		if (best == NULL || (slot < 0 && kind == MEMO_CERT && r->slot < best->slot))
			best = r;
	}
	return best;
}


/* Read every credential of (id, gen) into the memo. */
static prov_status memo_fill(prov_db *db, const char *id, int gen, prov_err *e)
{
	/* Rows ordered by kind, then id: the order the single queries use. */
	static const char sql[] =
		"SELECT 0, 0, generation, spki, private_sealed, key_type, origin, 0 FROM device_keys "
		"WHERE device_id = ?1 AND generation = ?2 "
		"UNION ALL SELECT 1, id, slot, der, NULL, NULL, NULL, 0 FROM certificates "
		"WHERE device_id = ?1 AND generation = ?2 "
		"UNION ALL SELECT 2, id, slot, identity, key_sealed, NULL, NULL, bits FROM psks "
		"WHERE device_id = ?1 AND generation = ?2 "
		"UNION ALL SELECT 3, id, slot, own_spki, peer_spki, NULL, NULL, 0 FROM raw_keys "
		"WHERE device_id = ?1 AND generation = ?2 ORDER BY 1, 2";
	cred_memo *m = memo_get(db);
	prov_db_stmt *s;
	int more = 0;
	prov_status st;

	if (m == NULL)
		return oom(e);
	memo_clear_rows(m);
	if (strlen(id) >= sizeof(m->id))
		return PROV_OK; /* no memo: the single queries answer */
	st = row(db, sql, &s, &more, "reading the device's credentials", e, "ti", id, (int64_t)gen);
	while (st == PROV_OK && more) {
		memo_row *r;

		if (m->n == m->cap) {
			size_t cap = m->cap ? 2 * m->cap : 8;
			memo_row *g = realloc(m->rows, cap * sizeof(*g));

			if (g == NULL) {
				st = oom(e);
				break;
			}
			m->rows = g;
			m->cap = cap;
		}
		r = &m->rows[m->n++];
		memset(r, 0, sizeof(*r));
		r->kind = (int)prov_db_col_int(s, 0);
		r->slot = prov_db_col_int(s, 2);
		r->n = prov_db_col_int(s, 7);
		/* As the single queries copy them: a PSK's sealed key whatever its type,
		 * a key's sealed private key and a peer SPKI only as blobs. */
		if (col_copy(s, 3, 0, &r->a, &r->a_len) != 0 ||
		    col_copy(s, 4, r->kind != MEMO_PSK, &r->b, &r->b_len) != 0) {
			st = oom(e);
			break;
		}
		col_str(s, 5, r->t1, sizeof(r->t1));
		col_str(s, 6, r->t2, sizeof(r->t2));
		st = prov_db_step(s, &more, "reading the device's credentials", e);
	}
	if (more)
		prov_db_reset(s);
	if (st != PROV_OK) {
		memo_clear_rows(m);
		return st;
	}
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->gen = gen;
	m->epoch = prov_db_epoch(db);
	m->valid = 1;
	return PROV_OK;
}

/* ---- devices -------------------------------------------------------------------- */

void prov_rec_device_free(prov_rec_device *d)
{
	free(d->recipient_spki);
	d->recipient_spki = NULL;
	d->recipient_spki_len = 0;
}

prov_status prov_records_device(prov_db *db, const char *id, prov_rec_device *d, prov_err *e)
{
	static const char sql[] =
		"SELECT template, generation, bundle_counter, recipient_spki FROM devices WHERE id = ?1";
	/* PostgreSQL only (SQLite has no FOR UPDATE, and needs none: its writers
	 * take the whole database's lock at BEGIN): a writer reads the device's
	 * row locked, so two stations bundling one device take turns and each
	 * sees the counter the other left, as on SQLite. */
	static const char sql_locked[] =
		"SELECT template, generation, bundle_counter, recipient_spki FROM devices WHERE id = ?1 "
		"FOR UPDATE";
	prov_db_stmt *s;
	const cred_memo *m = memo_device(db, id);
	int found = 0;
	prov_status st;

	memset(d, 0, sizeof(*d));
	if (m != NULL) {
		/* Registered by this transaction, and only it sees and holds the row. */
		snprintf(d->template_digest, sizeof(d->template_digest), "%s", m->dev_template);
		d->generation = 1;
		d->bundle_counter = 0;
		return dup_blob(m->dev_spki, m->dev_spki_len, &d->recipient_spki, &d->recipient_spki_len) != 0
		       ? oom(e) : PROV_OK;
	}
	st = row(db, prov_db_row_locks(db) ? sql_locked : sql, &s, &found, "reading the device", e, "t", id);
	if (st != PROV_OK)
		return st;
	if (!found)
		return prov_err_set(e, PROV_E_NOTFOUND, "unknown device %s", id);
	col_str(s, 0, d->template_digest, sizeof(d->template_digest));
	d->generation = (int)prov_db_col_int(s, 1);
	d->bundle_counter = (unsigned long long)prov_db_col_int(s, 2);
	if (col_copy(s, 3, 1, &d->recipient_spki, &d->recipient_spki_len) != 0)
		st = oom(e);
	prov_db_reset(s);
	return st;
}

prov_status prov_records_device_generation(prov_db *db, const char *id, int *gen, prov_err *e)
{
	static const char sql[] = "SELECT generation FROM devices WHERE id = ?1";
	prov_db_stmt *s;
	int found = 0;
	const struct memo_gen *g = memo_gen_of(db, id);
	prov_status st;

	*gen = 0;
	if (g != NULL) {
		*gen = g->gen;
		return PROV_OK;
	}
	st = row(db, sql, &s, &found, "looking up the device", e, "t", id);
	if (st == PROV_OK && found) {
		*gen = (int)prov_db_col_int(s, 0);
		prov_db_reset(s);
	}
	return st;
}

/* 64 IDs a statement (unused ones bound NULL, which matches nothing). */
#define GEN_BATCH 64

prov_status prov_records_device_generations(prov_db *db, char *const *ids, size_t n, prov_err *e)
{
	static const char sql[] =
		"SELECT id, generation FROM devices WHERE id IN (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
		"?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, "
		"?32, ?33, ?34, ?35, ?36, ?37, ?38, ?39, ?40, ?41, ?42, ?43, ?44, ?45, ?46, ?47, ?48, ?49, ?50, "
		"?51, ?52, ?53, ?54, ?55, ?56, ?57, ?58, ?59, ?60, ?61, ?62, ?63, ?64)";
	cred_memo *m;
	prov_status st = PROV_OK;

	if (!prov_db_in_transaction(db) || (m = memo_get(db)) == NULL)
		return PROV_OK; /* nothing kept: each lookup asks */
	memo_forget_gens(m);
	m->gens = calloc(n > 0 ? n : 1, sizeof(*m->gens));
	if (m->gens == NULL)
		return oom(e);
	for (size_t i = 0; i < n; i++) {
		m->gens[i].id = strdup(ids[i]);
		if (m->gens[i].id == NULL) {
			m->n_gens = i;
			memo_forget_gens(m);
			return oom(e);
		}
	}
	m->n_gens = n;
	qsort(m->gens, n, sizeof(*m->gens), gen_cmp);
	for (size_t base = 0; base < n && st == PROV_OK; base += GEN_BATCH) {
		prov_db_stmt *s;
		int more = 0;

		st = prov_db_prepare(db, sql, &s, e);
		for (size_t k = 0; k < GEN_BATCH && st == PROV_OK; k++)
			prov_db_bind_text(s, (int)k + 1, base + k < n ? ids[base + k] : NULL);
		if (st == PROV_OK)
			st = prov_db_step(s, &more, "looking up the devices", e);
		while (st == PROV_OK && more) {
			size_t len = 0;
			const char *id = prov_db_col_text(s, 0, &len);
			struct memo_gen key, *g;

			key.id = (char *)(id != NULL ? id : "");
			g = bsearch(&key, m->gens, m->n_gens, sizeof(*m->gens), gen_cmp);
			if (g != NULL)
				g->gen = (int)prov_db_col_int(s, 1);
			st = prov_db_step(s, &more, "looking up the devices", e);
		}
		if (more)
			prov_db_reset(s);
	}
	if (st != PROV_OK) {
		memo_forget_gens(m);
		return st;
	}
	m->gen_tx = prov_db_tx_epoch(db);
	m->gen_valid = 1;
	return PROV_OK;
}

prov_status prov_records_device_add(prov_db *db, const char *id, const char *template_digest,
                                    const uint8_t *recipient_spki, size_t spki_len, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO devices (id, template, generation, recipient_spki, status, created_at, updated_at) "
		"VALUES (?1, ?2, 1, ?3, 'minted', ?4, ?4)";

	prov_status st = run(db, sql, "registering the device", e, "ttbn", id, template_digest,
	                     (const void *)recipient_spki, spki_len);
	cred_memo *m;

	/* Remember the row for the bundle builder (the memo, above). */
	memo_device_changed(db);
	if (st == PROV_OK) {
		struct memo_gen *g = memo_gen_of(db, id);

		if (g != NULL)
			g->gen = 1;
		memo_start_writes(db, id, 1);
	}
	if (st == PROV_OK && prov_db_in_transaction(db) && strlen(id) < sizeof(m->dev_id) &&
	    strlen(template_digest) < sizeof(m->dev_template) && (m = memo_get(db)) != NULL &&
	    dup_blob(recipient_spki, spki_len, &m->dev_spki, &m->dev_spki_len) == 0) {
		snprintf(m->dev_id, sizeof(m->dev_id), "%s", id);
		snprintf(m->dev_template, sizeof(m->dev_template), "%s", template_digest);
		m->dev_tx = prov_db_tx_epoch(db);
		m->dev_valid = 1;
	}
	return st;
}

prov_status prov_records_device_rotate(prov_db *db, const char *id, const char *template_digest,
                                       const uint8_t *recipient_spki, size_t spki_len, int *gen,
                                       prov_err *e)
{
	static const char sql[] =
		"UPDATE devices SET template = ?1, generation = generation + 1, "
		"recipient_spki = COALESCE(?2, recipient_spki), status = 'minted', updated_at = ?3 "
		"WHERE id = ?4 RETURNING generation";
	prov_db_stmt *s;
	int found = 0;
	prov_status st;

	prov_db_touch(db);
	memo_device_changed(db);
	st = row(db, sql, &s, &found, "rotating the device", e, "tbnt", template_digest,
	         (const void *)recipient_spki, spki_len, id);

	*gen = 0;
	if (st != PROV_OK)
		return st;
	if (!found)
		return prov_err_set(e, PROV_E_NOTFOUND, "rotating the device: unknown device %s", id);
	*gen = (int)prov_db_col_int(s, 0);
	prov_db_reset(s);
	{
		struct memo_gen *g = memo_gen_of(db, id);

		if (g != NULL)
			g->gen = *gen;
	}
	memo_start_writes(db, id, *gen);
	return PROV_OK;
}

prov_status prov_records_device_bundled(prov_db *db, const char *id, unsigned long long counter,
                                        prov_err *e)
{
	static const char sql[] =
		"UPDATE devices SET bundle_counter = ?1, updated_at = ?2, "
		"status = CASE status WHEN 'installed' THEN 'installed' ELSE 'bundled' END WHERE id = ?3";

	memo_device_changed(db);
	return run(db, sql, "advancing the bundle counter", e, "int", (int64_t)counter, id);
}

prov_status prov_records_device_set_template(prov_db *db, const char *id,
                                             const char *template_digest, prov_err *e)
{
	static const char sql[] = "UPDATE devices SET template = ?1, updated_at = ?2 WHERE id = ?3";

	memo_device_changed(db);
	return run(db, sql, "recording the device's trust anchors", e, "tnt", template_digest, id);
}

prov_status prov_records_device_installed(prov_db *db, const char *id, prov_err *e)
{
	static const char sql[] = "UPDATE devices SET status = 'installed', updated_at = ?1 WHERE id = ?2";

	memo_device_changed(db);
	return run(db, sql, "updating the device status", e, "nt", id);
}

prov_status prov_records_devices(prov_db *db, const char *status, const char *station,
                                 prov_status (*cb)(void *ctx, const prov_rec_listed *d, prov_err *e),
                                 void *ctx, prov_err *e)
{
	/* CAST: PostgreSQL infers a parameter's type from its first use. */
	static const char sql[] =
		"SELECT d.id, d.status, d.generation, d.bundle_counter, d.name, d.created_at, d.updated_at "
		"FROM (SELECT d.id, CASE WHEN EXISTS (SELECT 1 FROM revocations r WHERE r.device_id = d.id "
		"AND r.generation = d.generation) THEN 'revoked' ELSE d.status END AS status, d.generation, "
		"d.bundle_counter, t.name, d.created_at, d.updated_at "
		"FROM devices d JOIN templates t ON t.digest = d.template) d "
		"WHERE (CAST(?1 AS TEXT) IS NULL OR d.status = ?1 OR (?1 = 'pending' AND d.bundle_counter > "
		"COALESCE((SELECT MAX(i.counter) FROM installs i WHERE i.device_id = d.id), 0))) "
		"AND (CAST(?2 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM audit a WHERE a.device_id = d.id "
		"AND a.action = 'mint' AND a.station = ?2)) ORDER BY d.id";
	prov_db_stmt *s;
	int more = 0;
	prov_status st = row(db, sql, &s, &more, "listing devices", e, "tt", status, station);

	while (st == PROV_OK && more) {
		prov_rec_listed d;

		memset(&d, 0, sizeof(d));
		d.id = prov_db_col_text(s, 0, &d.id_len);
		d.status = prov_db_col_text(s, 1, &d.status_len);
		d.generation = prov_db_col_int(s, 2);
		d.bundle_counter = prov_db_col_int(s, 3);
		d.template_name = prov_db_col_text(s, 4, &d.template_name_len);
		d.created_at = prov_db_col_int(s, 5);
		d.updated_at = prov_db_col_int(s, 6);
		st = cb(ctx, &d, e);
		if (st == PROV_OK)
			st = prov_db_step(s, &more, "listing devices", e);
	}
	if (more)
		prov_db_reset(s);
	return st;
}

/* One column of a report row as JSON (public data only). */
static json_t *col_json(prov_db_stmt *s, int i)
{
	size_t n = 0;

	switch (prov_db_col_type(s, i)) {
	case PROV_DB_INT: return json_integer((json_int_t)prov_db_col_int(s, i));
	case PROV_DB_TEXT: {
		/* Rows are outside data too: invalid UTF-8 is given escaped, not lost. */
		const char *t = prov_db_col_text(s, i, &n);

		return prov_json_text(t, n);
	}
	case PROV_DB_NULL: return json_null();
	default: {
		/* Blobs are public data here (SPKI, identity, digests): show a digest or hex. */
		const uint8_t *p = prov_db_col_blob(s, i, &n);
		char hex[2 * 128 + 1];

		if (n <= 128)
			return json_string(prov_hex(p, n, hex));
		{
			unsigned char md[32];

			EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL);
			return json_pack("{s:s, s:i}", "sha256", prov_hex(md, 32, hex), "size", (int)n);
		}
	}
	}
}

/* A report query bound to the device ID: its rows as objects, by column name. */
static prov_status report_rows(prov_db *db, const char *sql, const char *id, json_t **out, prov_err *e)
{
	prov_db_stmt *s;
	prov_status st = prov_db_prepare(db, sql, &s, e);
	int row = 1;

	*out = json_array();
	if (st != PROV_OK)
		return st;
	prov_db_bind_text(s, 1, id);
	while ((st = prov_db_step(s, &row, "reading the device", e)) == PROV_OK && row) {
		json_t *o = json_object();

		for (int i = 0; i < prov_db_col_count(s); i++) {
			const char *name = prov_db_col_name(s, i);
			int type = prov_db_col_type(s, i);
			size_t n = 0;

			if (strcmp(name, "identity") == 0 && type == PROV_DB_BLOB) {
				const uint8_t *b = prov_db_col_blob(s, i, &n);

				json_object_set_new(o, name, prov_json_text(b, n));
			} else if (strcmp(name, "detail") == 0 && type == PROV_DB_TEXT) {
				json_t *d = json_loads(prov_db_col_text(s, i, &n), 0, NULL);

				json_object_set_new(o, name, d != NULL ? d : col_json(s, i));
			} else if (strcmp(name, "current") == 0 || strcmp(name, "has_recipient_key") == 0 ||
			           strcmp(name, "has_receipt") == 0) {
				json_object_set_new(o, name, json_boolean(prov_db_col_int(s, i)));
			} else if (strstr(name, "_at") != NULL && type == PROV_DB_INT) {
				char iso[21];

				json_object_set_new(o, name, json_string(prov_time_iso(prov_db_col_int(s, i), iso)));
			} else {
				json_object_set_new(o, name, col_json(s, i));
			}
		}
		json_array_append_new(*out, o);
	}
	prov_db_reset(s);
	return st;
}

prov_status prov_records_device_report(prov_db *db, const char *id, json_t **out, prov_err *e)
{
	static const char q_device[] =
		"SELECT d.id, CASE WHEN EXISTS (SELECT 1 FROM revocations r WHERE r.device_id = d.id "
		"AND r.generation = d.generation) THEN 'revoked' ELSE d.status END AS status, "
		"d.generation, d.bundle_counter, t.name AS template, "
		"d.recipient_spki IS NOT NULL AS has_recipient_key, d.created_at, d.updated_at, "
		"(SELECT MAX(b.counter) FROM bundles b WHERE b.device_id = d.id AND b.counter > "
		"COALESCE((SELECT MAX(i.counter) FROM installs i WHERE i.device_id = d.id), 0)) AS pending_bundle "
		"FROM devices d JOIN templates t ON t.digest = d.template WHERE d.id = ?1";
	static const char q_keys[] =
		"SELECT k.generation, k.key_type, k.origin, k.spki, k.created_at, "
		"k.generation = d.generation AS current "
		"FROM device_keys k JOIN devices d ON d.id = k.device_id WHERE k.device_id = ?1 ORDER BY k.generation";
	static const char q_certs[] =
		"SELECT c.generation, c.slot, c.serial, c.subject, c.not_before, c.not_after, c.created_at, "
		"c.generation = d.generation AS current "
		"FROM certificates c JOIN devices d ON d.id = c.device_id WHERE c.device_id = ?1 ORDER BY c.id";
	static const char q_psks[] =
		"SELECT p.generation, p.slot, p.identity, p.bits, p.created_at, p.generation = d.generation AS current "
		"FROM psks p JOIN devices d ON d.id = p.device_id WHERE p.device_id = ?1 ORDER BY p.id";
	static const char q_rpks[] =
		"SELECT r.generation, r.slot, r.own_spki, r.peer_spki, r.created_at, r.generation = d.generation AS current "
		"FROM raw_keys r JOIN devices d ON d.id = r.device_id WHERE r.device_id = ?1 ORDER BY r.id";
	static const char q_bundles[] =
		"SELECT counter, generation, nonce, sha256, size, created_at FROM bundles WHERE device_id = ?1 "
		"ORDER BY counter";
	static const char q_installs[] =
		"SELECT counter, manifest_digest, installed_at, receipt IS NOT NULL AS has_receipt, "
		"length(receipt) AS receipt_size FROM installs WHERE device_id = ?1 ORDER BY id";
	static const char q_revocations[] =
		"SELECT r.generation, r.serial, r.reason, r.revoked_at, r.generation = d.generation AS current "
		"FROM revocations r JOIN devices d ON d.id = r.device_id WHERE r.device_id = ?1 ORDER BY r.id";
	static const char q_audit[] =
		"SELECT seq, at AS logged_at, action, station, detail FROM audit WHERE device_id = ?1 ORDER BY seq";
	static const struct {
		const char *key, *sql;
	} parts[] = {
		{"device", q_device}, {"keys", q_keys}, {"certificates", q_certs}, {"psks", q_psks},
		{"raw_keys", q_rpks}, {"bundles", q_bundles}, {"installs", q_installs},
		{"revocations", q_revocations}, {"audit", q_audit},
	};
	json_t *o = json_object();
	prov_status st = o != NULL ? PROV_OK : oom(e);

	*out = NULL;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && st == PROV_OK; i++) {
		json_t *r = NULL;

		st = report_rows(db, parts[i].sql, id, &r, e);
		if (st == PROV_OK && r == NULL)
			st = oom(e);
		if (st == PROV_OK && i == 0 && json_array_size(r) == 0)
			st = prov_err_set(e, PROV_E_NOTFOUND, "unknown device %s", id);
		if (st == PROV_OK && i == 0)
			json_object_update(o, json_array_get(r, 0));
		else if (st == PROV_OK)
			json_object_set(o, parts[i].key, r);
		json_decref(r);
	}
	if (st != PROV_OK) {
		json_decref(o);
		return st;
	}
	*out = o;
	return PROV_OK;
}

/* ---- credentials ---------------------------------------------------------------- */

void prov_rec_key_free(prov_rec_key *k)
{
	free(k->spki);
	free(k->sealed);
	k->spki = k->sealed = NULL;
	k->spki_len = k->sealed_len = 0;
}

prov_status prov_records_key_add(prov_db *db, const char *id, int gen, const char *key_type,
                                 const char *origin, const uint8_t *spki, size_t spki_len,
                                 const uint8_t *sealed, size_t sealed_len, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO device_keys (device_id, generation, key_type, origin, spki, private_sealed, created_at) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

	prov_status st = run(db, sql, "recording the device key", e, "tittbbn", id, (int64_t)gen, key_type,
	                     origin, (const void *)spki, spki_len, (const void *)sealed, sealed_len);

	if (st == PROV_OK)
		memo_add_row(db, MEMO_KEY, id, gen, gen, 0, spki, spki_len, sealed, sealed_len, key_type, origin);
	return st;
}

prov_status prov_records_key(prov_db *db, const char *id, int gen, prov_rec_key *k, int *found,
                             prov_err *e)
{
	static const char q_gen[] =
		"SELECT key_type, origin, spki, private_sealed, generation FROM device_keys "
		"WHERE device_id = ?1 AND generation = ?2";
	static const char q_newest[] =
		"SELECT key_type, origin, spki, private_sealed, generation FROM device_keys "
		"WHERE device_id = ?1 ORDER BY generation DESC LIMIT 1";
	prov_db_stmt *s;
	const cred_memo *m;
	prov_status st;

	memset(k, 0, sizeof(*k));
	*found = 0;
	/* Inside a transaction, a generation's key comes with all its credentials. */
	if (gen > 0 && prov_db_in_transaction(db) && memo_for(db, id, gen) == NULL &&
	    (st = memo_fill(db, id, gen, e)) != PROV_OK)
		return st;
	if (gen > 0 && (m = memo_for(db, id, gen)) != NULL) {
		const memo_row *r = memo_find(m, MEMO_KEY, -1);

		if (r == NULL)
			return PROV_OK;
		*found = 1;
		snprintf(k->key_type, sizeof(k->key_type), "%s", r->t1);
		snprintf(k->origin, sizeof(k->origin), "%s", r->t2);
		k->generation = (int)r->slot;
		if (dup_blob(r->a, r->a_len, &k->spki, &k->spki_len) != 0 ||
		    dup_blob(r->b, r->b_len, &k->sealed, &k->sealed_len) != 0) {
			prov_rec_key_free(k);
			*found = 0;
			return oom(e);
		}
		return PROV_OK;
	}
	st = gen > 0 ? row(db, q_gen, &s, found, "reading the device key", e, "ti", id, (int64_t)gen)
	             : row(db, q_newest, &s, found, "reading the device key", e, "t", id);
	if (st != PROV_OK || !*found)
		return st;
	col_str(s, 0, k->key_type, sizeof(k->key_type));
	col_str(s, 1, k->origin, sizeof(k->origin));
	k->generation = (int)prov_db_col_int(s, 4);
	if (col_copy(s, 2, 0, &k->spki, &k->spki_len) != 0 || col_copy(s, 3, 1, &k->sealed, &k->sealed_len) != 0)
		st = oom(e);
	prov_db_reset(s);
	return st;
}

prov_status prov_records_cert_add(prov_db *db, const prov_rec_cert *c, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO certificates (device_id, generation, slot, serial, subject, not_before, not_after, der, created_at) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

	prov_status st = run(db, sql, "recording the certificate", e, "tiittttbn", c->device,
	                     (int64_t)c->generation, c->slot, c->serial, c->subject, c->not_before, c->not_after,
	                     (const void *)c->der, c->der_len);

	if (st == PROV_OK)
		memo_add_row(db, MEMO_CERT, c->device, c->generation, c->slot, 0, c->der, c->der_len, NULL, 0,
		             NULL, NULL);
	return st;
}

prov_status prov_records_cert(prov_db *db, const char *id, int gen, int64_t slot, uint8_t **der,
                              size_t *der_len, int *found, prov_err *e)
{
	static const char q_slot[] =
		"SELECT der FROM certificates WHERE device_id = ?1 AND generation = ?2 AND slot = ?3";
	static const char q_first[] =
		"SELECT der FROM certificates WHERE device_id = ?1 AND generation = ?2 ORDER BY slot LIMIT 1";
	prov_db_stmt *s;
	const cred_memo *m = memo_for(db, id, gen);
	prov_status st;

	*der = NULL;
	*der_len = 0;
	if (m != NULL) {
		const memo_row *r = memo_find(m, MEMO_CERT, slot);

		*found = r != NULL;
		return r != NULL && dup_blob(r->a, r->a_len, der, der_len) != 0 ? oom(e) : PROV_OK;
	}
	st = slot_row(db, q_slot, q_first, id, gen, slot, &s, found, e);
	if (st != PROV_OK || !*found)
		return st;
	if (col_copy(s, 0, 0, der, der_len) != 0)
		st = oom(e);
	prov_db_reset(s);
	return st;
}

void prov_rec_psk_free(prov_rec_psk *p)
{
	free(p->identity);
	free(p->sealed);
	p->identity = p->sealed = NULL;
	p->identity_len = p->sealed_len = 0;
}

prov_status prov_records_psk_add(prov_db *db, const char *id, int gen, int64_t slot,
                                 const uint8_t *identity, size_t identity_len, int bits,
                                 const uint8_t *sealed, size_t sealed_len, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO psks (device_id, generation, slot, identity, bits, key_sealed, created_at) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

	prov_status st = run(db, sql, "recording the PSK", e, "tiibibn", id, (int64_t)gen, slot,
	                     (const void *)identity, identity_len, (int64_t)bits, (const void *)sealed, sealed_len);

	if (st == PROV_OK)
		memo_add_row(db, MEMO_PSK, id, gen, slot, bits, identity, identity_len, sealed, sealed_len, NULL,
		             NULL);
	return st;
}

prov_status prov_records_psk(prov_db *db, const char *id, int gen, int64_t slot, prov_rec_psk *p,
                             int *found, prov_err *e)
{
	static const char q_slot[] =
		"SELECT identity, key_sealed, slot, bits FROM psks WHERE device_id = ?1 AND generation = ?2 AND slot = ?3";
	static const char q_first[] =
		"SELECT identity, key_sealed, slot, bits FROM psks WHERE device_id = ?1 AND generation = ?2 "
		"ORDER BY id LIMIT 1";
	prov_db_stmt *s;
	const cred_memo *m = memo_for(db, id, gen);
	prov_status st;

	memset(p, 0, sizeof(*p));
	if (m != NULL) {
		const memo_row *r = memo_find(m, MEMO_PSK, slot);

		*found = r != NULL;
		if (r == NULL)
			return PROV_OK;
		p->slot = r->slot;
		p->bits = (int)r->n;
		if (dup_blob(r->a, r->a_len, &p->identity, &p->identity_len) != 0 ||
		    dup_blob(r->b, r->b_len, &p->sealed, &p->sealed_len) != 0) {
			prov_rec_psk_free(p);
			*found = 0;
			return oom(e);
		}
		return PROV_OK;
	}
	st = slot_row(db, q_slot, q_first, id, gen, slot, &s, found, e);
	if (st != PROV_OK || !*found)
		return st;
	p->slot = prov_db_col_int(s, 2);
	p->bits = (int)prov_db_col_int(s, 3);
	if (col_copy(s, 0, 0, &p->identity, &p->identity_len) != 0 || col_copy(s, 1, 0, &p->sealed, &p->sealed_len) != 0)
		st = oom(e);
	prov_db_reset(s);
	return st;
}

prov_status prov_records_current_psks(prov_db *db,
                                      prov_status (*cb)(void *ctx, const prov_rec_psk_row *r,
                                                        prov_err *e),
                                      void *ctx, prov_err *e)
{
	static const char sql[] =
		"SELECT d.id, p.identity, p.key_sealed, p.generation, p.slot FROM psks p "
		"JOIN devices d ON d.id = p.device_id AND p.generation = d.generation "
		"WHERE NOT EXISTS (SELECT 1 FROM revocations r WHERE r.device_id = d.id "
		"AND r.generation = d.generation) ORDER BY p.identity";
	prov_db_stmt *s;
	int more = 0;
	prov_status st = row(db, sql, &s, &more, "reading PSKs", e, "");

	while (st == PROV_OK && more) {
		prov_rec_psk_row r;
		size_t n = 0;

		memset(&r, 0, sizeof(r));
		r.device = prov_db_col_text(s, 0, &n);
		r.identity = prov_db_col_blob(s, 1, &r.identity_len);
		r.sealed = prov_db_col_blob(s, 2, &r.sealed_len);
		r.generation = prov_db_col_int(s, 3);
		r.slot = prov_db_col_int(s, 4);
		st = cb(ctx, &r, e);
		if (st == PROV_OK)
			st = prov_db_step(s, &more, "reading PSKs", e);
	}
	if (more)
		prov_db_reset(s);
	return st;
}

void prov_rec_rpk_free(prov_rec_rpk *r)
{
	free(r->own_spki);
	free(r->peer_spki);
	r->own_spki = r->peer_spki = NULL;
	r->own_len = r->peer_len = 0;
}

prov_status prov_records_rpk_add(prov_db *db, const char *id, int gen, int64_t slot,
                                 const uint8_t *own_spki, size_t own_len, const uint8_t *peer_spki,
                                 size_t peer_len, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO raw_keys (device_id, generation, slot, own_spki, peer_spki, created_at) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

	prov_status st = run(db, sql, "recording the raw public key", e, "tiibbn", id, (int64_t)gen, slot,
	                     (const void *)own_spki, own_len, (const void *)peer_spki, peer_len);

	if (st == PROV_OK)
		memo_add_row(db, MEMO_RPK, id, gen, slot, 0, own_spki, own_len, peer_spki, peer_len, NULL, NULL);
	return st;
}

prov_status prov_records_rpk(prov_db *db, const char *id, int gen, int64_t slot, prov_rec_rpk *r,
                             int *found, prov_err *e)
{
	static const char q_slot[] =
		"SELECT own_spki, peer_spki FROM raw_keys WHERE device_id = ?1 AND generation = ?2 AND slot = ?3";
	static const char q_first[] =
		"SELECT own_spki, peer_spki FROM raw_keys WHERE device_id = ?1 AND generation = ?2 "
		"ORDER BY id LIMIT 1";
	prov_db_stmt *s;
	const cred_memo *m = memo_for(db, id, gen);
	prov_status st;

	memset(r, 0, sizeof(*r));
	if (m != NULL) {
		const memo_row *mr = memo_find(m, MEMO_RPK, slot);

		*found = mr != NULL;
		if (mr == NULL)
			return PROV_OK;
		if (dup_blob(mr->a, mr->a_len, &r->own_spki, &r->own_len) != 0 ||
		    dup_blob(mr->b, mr->b_len, &r->peer_spki, &r->peer_len) != 0) {
			prov_rec_rpk_free(r);
			*found = 0;
			return oom(e);
		}
		return PROV_OK;
	}
	st = slot_row(db, q_slot, q_first, id, gen, slot, &s, found, e);
	if (st != PROV_OK || !*found)
		return st;
	if (col_copy(s, 0, 0, &r->own_spki, &r->own_len) != 0 || col_copy(s, 1, 1, &r->peer_spki, &r->peer_len) != 0)
		st = oom(e);
	prov_db_reset(s);
	return st;
}

/* ---- bundles and installs ------------------------------------------------------- */

void prov_rec_bundle_free(prov_rec_bundle *b)
{
	free(b->nonce);
	free(b->data);
	b->nonce = b->data = NULL;
	b->nonce_len = b->data_len = 0;
}

prov_status prov_records_bundle_add(prov_db *db, const char *id, const prov_rec_bundle *b,
                                    size_t size, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO bundles (device_id, counter, generation, nonce, sha256, size, created_at, data) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

	/* A lab bundle holds secrets in the clear: the database never does (an
	 * empty blob, not NULL: the column is NOT NULL). */
	return run(db, sql, "recording the bundle", e, "tiibtinb", id, (int64_t)b->counter, (int64_t)b->generation,
	           (const void *)b->nonce, b->nonce_len, b->sha256, (int64_t)size,
	           b->data != NULL ? (const void *)b->data : (const void *)"", b->data != NULL ? b->data_len : 0);
}

prov_status prov_records_bundle(prov_db *db, const char *id, unsigned long long counter,
                                prov_rec_bundle *b, int *found, prov_err *e)
{
	static const char q_counter[] =
		"SELECT nonce, data, counter, generation FROM bundles WHERE device_id = ?1 AND counter = ?2";
	static const char q_newest[] =
		"SELECT nonce, data, counter, generation FROM bundles WHERE device_id = ?1 "
		"ORDER BY counter DESC LIMIT 1";
	prov_db_stmt *s;
	prov_status st = counter > 0 ? row(db, q_counter, &s, found, "reading the bundle", e, "ti", id, (int64_t)counter)
	                             : row(db, q_newest, &s, found, "reading the bundle", e, "t", id);

	memset(b, 0, sizeof(*b));
	if (st != PROV_OK || !*found)
		return st;
	b->counter = (unsigned long long)prov_db_col_int(s, 2);
	b->generation = (int)prov_db_col_int(s, 3);
	if (col_copy(s, 0, 1, &b->nonce, &b->nonce_len) != 0 || col_copy(s, 1, 0, &b->data, &b->data_len) != 0)
		st = oom(e);
	prov_db_reset(s);
	return st;
}

prov_status prov_records_install_has(prov_db *db, const char *id, unsigned long long counter,
                                     int *has, prov_err *e)
{
	static const char sql[] = "SELECT 1 FROM installs WHERE device_id = ?1 AND counter = ?2";
	prov_db_stmt *s;
	prov_status st = row(db, sql, &s, has, "looking up installs", e, "ti", id, (int64_t)counter);

	if (st == PROV_OK && *has)
		prov_db_reset(s);
	return st;
}

prov_status prov_records_install_add(prov_db *db, const char *id, unsigned long long counter,
                                     const uint8_t *digest, size_t digest_len,
                                     const uint8_t *receipt, size_t receipt_len, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO installs (device_id, counter, manifest_digest, receipt, installed_at) "
		"VALUES (?1, ?2, ?3, ?4, ?5)";

	return run(db, sql, "recording the install", e, "tibbn", id, (int64_t)counter, (const void *)digest,
	           digest_len, (const void *)receipt, receipt_len);
}

prov_status prov_records_install_newest(prov_db *db, const char *id, unsigned long long *counter,
                                        uint8_t digest[32], size_t *digest_len, int *found,
                                        prov_err *e)
{
	static const char sql[] =
		"SELECT counter, manifest_digest FROM installs WHERE device_id = ?1 "
		"ORDER BY counter DESC LIMIT 1";
	prov_db_stmt *s;
	prov_status st = row(db, sql, &s, found, "reading the installs", e, "t", id);
	size_t n = 0;
	const uint8_t *d;

	*counter = 0;
	*digest_len = 0;
	if (st != PROV_OK || !*found)
		return st;
	d = prov_db_col_type(s, 1) == PROV_DB_BLOB ? prov_db_col_blob(s, 1, &n) : NULL;
	*counter = (unsigned long long)prov_db_col_int(s, 0);
	if (d != NULL && n == 32) {
		memcpy(digest, d, 32);
		*digest_len = 32;
	}
	prov_db_reset(s);
	return st;
}

/* ---- revocation and CRLs ------------------------------------------------------------ */

prov_status prov_records_revoked(prov_db *db, const char *id, int gen, int *revoked, prov_err *e)
{
	static const char sql[] =
		"SELECT 1 FROM revocations WHERE device_id = ?1 AND generation = ?2";
	prov_db_stmt *s;
	prov_status st;

	/* A device this transaction registered (the memo) is at generation 1 and
	 * no revocation names it: a revocation references an existing device row
	 * (schema), and one written since forgets the memo (prov_records_revoke).
	 * The answer is known without a round trip, which a batch would otherwise
	 * pay for every device it mints with a bundle. */
	if (gen == 1 && memo_device(db, id) != NULL) {
		*revoked = 0;
		return PROV_OK;
	}
	st = row(db, sql, &s, revoked, "looking up revocations", e, "ti", id, (int64_t)gen);
	if (st == PROV_OK && *revoked)
		prov_db_reset(s);
	return st;
}

prov_status prov_records_revoke(prov_db *db, const char *id, int gen, const char *reason,
                                int *n_certs, prov_err *e)
{
	static const char q_certs[] =
		"INSERT INTO revocations (device_id, generation, serial, reason, revoked_at) "
		"SELECT device_id, generation, serial, ?3, ?4 FROM certificates "
		"WHERE device_id = ?1 AND generation = ?2 ORDER BY id RETURNING serial";
	static const char q_none[] =
		"INSERT INTO revocations (device_id, generation, serial, reason, revoked_at) "
		"VALUES (?1, ?2, NULL, ?3, ?4)";
	prov_db_stmt *s;
	int more = 0;
	prov_status st;

	memo_device_changed(db); /* prov_records_revoked must ask the database now */
	st = row(db, q_certs, &s, &more, "recording the revocation", e, "titn", id, (int64_t)gen, reason);

	*n_certs = 0;
	while (st == PROV_OK && more) {
		(*n_certs)++;
		st = prov_db_step(s, &more, "recording the revocation", e);
	}
	if (more)
		prov_db_reset(s);
	if (st == PROV_OK && *n_certs == 0)
		st = run(db, q_none, "recording the revocation", e, "titn", id, (int64_t)gen, reason);
	return st;
}

prov_status prov_records_revoked_certs(prov_db *db,
                                       prov_status (*cb)(void *ctx, const prov_rec_revoked *r,
                                                         prov_err *e),
                                       void *ctx, prov_err *e)
{
	static const char sql[] =
		"SELECT serial, reason, revoked_at FROM revocations WHERE serial IS NOT NULL ORDER BY id";
	prov_db_stmt *s;
	int more = 0;
	prov_status st = row(db, sql, &s, &more, "reading revocations", e, "");

	while (st == PROV_OK && more) {
		prov_rec_revoked r;

		memset(&r, 0, sizeof(r));
		r.serial = prov_db_col_text(s, 0, &r.serial_len);
		r.reason = prov_db_col_text(s, 1, &r.reason_len);
		r.revoked_at = prov_db_col_int(s, 2);
		st = cb(ctx, &r, e);
		if (st == PROV_OK)
			st = prov_db_step(s, &more, "reading revocations", e);
	}
	if (more)
		prov_db_reset(s);
	return st;
}

prov_status prov_records_crl_next(prov_db *db, int64_t *number, prov_err *e)
{
	static const char sql[] = "SELECT COALESCE(MAX(crl_number), 0) + 1 FROM crls";
	prov_db_stmt *s;
	int found = 0;
	prov_status st = row(db, sql, &s, &found, "reading the CRL number", e, "");

	*number = 0;
	if (st == PROV_OK && found) {
		*number = prov_db_col_int(s, 0);
		prov_db_reset(s);
	}
	return st;
}

prov_status prov_records_crl_add(prov_db *db, int64_t number, int64_t this_update,
                                 int64_t next_update, int64_t entries, const char *sha256,
                                 prov_err *e)
{
	static const char sql[] =
		"INSERT INTO crls (crl_number, this_update, next_update, entries, sha256, created_at) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

	return run(db, sql, "recording the CRL", e, "iiiitn", number, this_update, next_update, entries,
	           sha256);
}

/* ---- copying a factory into PostgreSQL (prov db migrate) ---------------------- */

/* Every table in the order its references need, with its columns' kinds
 * (t text, i integer, b blob): read from the source in id order, written
 * with the same ids.  OVERRIDING SYSTEM VALUE and setval are PostgreSQL only:
 * the target of a copy is always a PostgreSQL database (its identity columns
 * are GENERATED ALWAYS, schema.c). */
static const struct {
	const char *table, *kinds, *select, *insert, *count, *ids;
} copy_tables[] = {
	{"meta", "tb", "SELECT key, value FROM meta ORDER BY key",
	 "INSERT INTO meta (key, value) VALUES (?1, ?2)", "SELECT COUNT(*) FROM meta", NULL},
	{"templates", "tttbi", "SELECT digest, name, json, trust_der, created_at FROM templates ORDER BY digest",
	 "INSERT INTO templates (digest, name, json, trust_der, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
	 "SELECT COUNT(*) FROM templates", NULL},
	{"devices", "ttiibtii",
	 "SELECT id, template, generation, bundle_counter, recipient_spki, status, created_at, updated_at "
	 "FROM devices ORDER BY id",
	 "INSERT INTO devices (id, template, generation, bundle_counter, recipient_spki, status, created_at, "
	 "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", "SELECT COUNT(*) FROM devices", NULL},
	{"device_keys", "itittbbi",
	 "SELECT id, device_id, generation, key_type, origin, spki, private_sealed, created_at "
	 "FROM device_keys ORDER BY id",
	 "INSERT INTO device_keys (id, device_id, generation, key_type, origin, spki, private_sealed, created_at) "
	 "OVERRIDING SYSTEM VALUE VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	 "SELECT COUNT(*) FROM device_keys",
	 "SELECT setval(pg_get_serial_sequence('device_keys', 'id'), (SELECT MAX(id) FROM device_keys))"},
	{"certificates", "itiittttbi",
	 "SELECT id, device_id, generation, slot, serial, subject, not_before, not_after, der, created_at "
	 "FROM certificates ORDER BY id",
	 "INSERT INTO certificates (id, device_id, generation, slot, serial, subject, not_before, not_after, der, "
	 "created_at) OVERRIDING SYSTEM VALUE VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	 "SELECT COUNT(*) FROM certificates",
	 "SELECT setval(pg_get_serial_sequence('certificates', 'id'), (SELECT MAX(id) FROM certificates))"},
	{"psks", "itiibibi",
	 "SELECT id, device_id, generation, slot, identity, bits, key_sealed, created_at FROM psks ORDER BY id",
	 "INSERT INTO psks (id, device_id, generation, slot, identity, bits, key_sealed, created_at) "
	 "OVERRIDING SYSTEM VALUE VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	 "SELECT COUNT(*) FROM psks",
	 "SELECT setval(pg_get_serial_sequence('psks', 'id'), (SELECT MAX(id) FROM psks))"},
	{"raw_keys", "itiibbi",
	 "SELECT id, device_id, generation, slot, own_spki, peer_spki, created_at FROM raw_keys ORDER BY id",
	 "INSERT INTO raw_keys (id, device_id, generation, slot, own_spki, peer_spki, created_at) "
	 "OVERRIDING SYSTEM VALUE VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	 "SELECT COUNT(*) FROM raw_keys",
	 "SELECT setval(pg_get_serial_sequence('raw_keys', 'id'), (SELECT MAX(id) FROM raw_keys))"},
	{"bundles", "itiibtibi",
	 "SELECT id, device_id, counter, generation, nonce, sha256, size, data, created_at FROM bundles ORDER BY id",
	 "INSERT INTO bundles (id, device_id, counter, generation, nonce, sha256, size, data, created_at) "
	 "OVERRIDING SYSTEM VALUE VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	 "SELECT COUNT(*) FROM bundles",
	 "SELECT setval(pg_get_serial_sequence('bundles', 'id'), (SELECT MAX(id) FROM bundles))"},
	{"installs", "itibbi",
	 "SELECT id, device_id, counter, manifest_digest, receipt, installed_at FROM installs ORDER BY id",
	 "INSERT INTO installs (id, device_id, counter, manifest_digest, receipt, installed_at) "
	 "OVERRIDING SYSTEM VALUE VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	 "SELECT COUNT(*) FROM installs",
	 "SELECT setval(pg_get_serial_sequence('installs', 'id'), (SELECT MAX(id) FROM installs))"},
	{"revocations", "ititti",
	 "SELECT id, device_id, generation, serial, reason, revoked_at FROM revocations ORDER BY id",
	 "INSERT INTO revocations (id, device_id, generation, serial, reason, revoked_at) "
	 "OVERRIDING SYSTEM VALUE VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	 "SELECT COUNT(*) FROM revocations",
	 "SELECT setval(pg_get_serial_sequence('revocations', 'id'), (SELECT MAX(id) FROM revocations))"},
	{"crls", "iiiiti",
	 "SELECT crl_number, this_update, next_update, entries, sha256, created_at FROM crls ORDER BY crl_number",
	 "INSERT INTO crls (crl_number, this_update, next_update, entries, sha256, created_at) "
	 "VALUES (?1, ?2, ?3, ?4, ?5, ?6)", "SELECT COUNT(*) FROM crls", NULL},
	{"stations", "tit", "SELECT name, created_at, detail FROM stations ORDER BY name",
	 "INSERT INTO stations (name, created_at, detail) VALUES (?1, ?2, ?3)", "SELECT COUNT(*) FROM stations",
	 NULL},
	{"audit", "iitttt", "SELECT seq, at, action, device_id, detail, station FROM audit ORDER BY seq",
	 "INSERT INTO audit (seq, at, action, device_id, detail, station) "
	 "OVERRIDING SYSTEM VALUE VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	 "SELECT COUNT(*) FROM audit",
	 "SELECT setval(pg_get_serial_sequence('audit', 'seq'), (SELECT MAX(seq) FROM audit))"},
};

static prov_status count_rows(prov_db *db, const char *sql, long long *n, prov_err *e)
{
	prov_db_stmt *s;
	int found = 0;
	prov_status st = row(db, sql, &s, &found, "counting rows", e, "");

	*n = 0;
	if (st == PROV_OK && found) {
		*n = prov_db_col_int(s, 0);
		prov_db_reset(s);
	}
	return st;
}

prov_status prov_records_copy(prov_db *src, prov_db *dst, prov_rec_copied *out, size_t *n_out, prov_err *e)
{
	prov_status st = PROV_OK;
	size_t n = 0;

	for (size_t t = 0; t < sizeof(copy_tables) / sizeof(copy_tables[0]) && st == PROV_OK; t++) {
		const char *kinds = copy_tables[t].kinds;
		prov_db_stmt *s = NULL, *ins = NULL;
		int more = 0;
		long long rows = 0, there = 0;

		st = row(src, copy_tables[t].select, &s, &more, "reading the factory to copy", e, "");
		while (st == PROV_OK && more) {
			st = prov_db_prepare(dst, copy_tables[t].insert, &ins, e);
			for (int i = 0; st == PROV_OK && kinds[i] != 0; i++) {
				size_t len = 0;

				if (prov_db_col_type(s, i) == PROV_DB_NULL)
					prov_db_bind_text(ins, i + 1, NULL);
				else if (kinds[i] == 'i')
					prov_db_bind_int(ins, i + 1, prov_db_col_int(s, i));
				else if (kinds[i] == 't')
					prov_db_bind_text(ins, i + 1, prov_db_col_text(s, i, &len));
				else {
					const uint8_t *b = prov_db_col_blob(s, i, &len);

					prov_db_bind_blob(ins, i + 1, b != NULL ? b : (const uint8_t *)"", len);
				}
			}
			/* The bound values live in the source's row: sent before it moves. */
			if (st == PROV_OK)
				st = prov_db_done(ins, "copying the factory", e);
			if (st == PROV_OK) {
				rows++;
				st = prov_db_step(s, &more, "reading the factory to copy", e);
			}
		}
		if (more)
			prov_db_reset(s);
		if (st == PROV_OK && copy_tables[t].ids != NULL) {
			prov_db_stmt *q = NULL;
			int found = 0;

			st = row(dst, copy_tables[t].ids, &q, &found, "copying the factory", e, "");
			if (st == PROV_OK && found)
				prov_db_reset(q);
		}
		/* Counted on both sides after the copy. */
		if (st == PROV_OK)
			st = count_rows(src, copy_tables[t].count, &rows, e);
		if (st == PROV_OK)
			st = count_rows(dst, copy_tables[t].count, &there, e);
		if (st == PROV_OK && rows != there)
			st = prov_err_set(e, PROV_E_DB, "copying the factory: table %s has %lld rows here and %lld "
			                  "in the copy", copy_tables[t].table, rows, there);
		if (st == PROV_OK && n < *n_out) {
			out[n].table = copy_tables[t].table;
			out[n].rows = rows;
			n++;
		}
	}
	*n_out = n;
	return st;
}
