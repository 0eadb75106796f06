/* mint.c - registering devices and issuing credentials (see prov/mint.h). */
#include "prov/mint.h"

#include <jansson.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prov/bundle.h"
#include "prov/db.h"
#include "prov/secret.h"
#include "prov/thread.h"
#include "prov/util.h"

#define SERIAL_TRIES 4
#define MAX_PSK_BYTES 64
#define MAX_RAW_PRIV 64

static prov_status step_done(sqlite3 *db, sqlite3_stmt *s, const char *what, prov_err *e)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? PROV_OK : prov_db_fail(db, rc, what, e);
}

prov_status prov_template_store(prov_home *h, const prov_template *t, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO templates (digest, name, json, trust_der, created_at) "
		"VALUES (?, ?, ?, ?, ?) ON CONFLICT (digest) DO NOTHING";
	sqlite3_stmt *s;
	char hex[65];
	prov_status st = prov_db_cached(h->db, &h->stmts, sql, &s, e);

	if (st != PROV_OK)
		return st;
	prov_hex(t->digest, sizeof(t->digest), hex);
	sqlite3_bind_text(s, 1, hex, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, t->canonical, -1, SQLITE_STATIC);
	if (t->trust_der != NULL)
		sqlite3_bind_blob(s, 4, t->trust_der, (int)t->trust_der_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, prov_now());
	return step_done(h->db, s, "recording the template", e);
}

/* The device's key: from its CSR or public key file, or made here. */
static prov_status device_key(prov_keygen *g, const prov_template *t, const prov_mint_req *r,
                              EVP_PKEY **key, const char **origin, prov_err *e)
{
	X509_REQ *req = NULL;
	prov_key_type kt;
	prov_status st;

	*key = NULL;
	*origin = NULL;
	if (t->key_type == PROV_KEY_NONE) {
		if (r->csr_path != NULL || r->pubkey_path != NULL)
			return prov_err_set(e, PROV_E_USAGE,
			                    "template %s issues no certificate or raw public key: --csr and --pubkey do not apply",
			                    t->name);
		return PROV_OK;
	}
	if (r->csr_path != NULL && r->pubkey_path != NULL)
		return prov_err_set(e, PROV_E_USAGE, "give --csr or --pubkey, not both");
	if (r->csr_path != NULL || r->pubkey_path != NULL) {
		if (t->key_source == PROV_KEYSRC_HOST)
			return prov_err_set(e, PROV_E_USAGE,
			                    "template %s makes device keys on the host: --csr and --pubkey do not apply",
			                    t->name);
		if (r->csr_path != NULL) {
			st = prov_x509_csr_load(r->csr_path, &req, e);
			if (st != PROV_OK)
				return st;
			*key = X509_REQ_get_pubkey(req);
			X509_REQ_free(req);
			*origin = "csr";
		} else {
			st = prov_key_load_public(r->pubkey_path, key, e);
			if (st != PROV_OK)
				return st;
			*origin = "pubkey";
		}
		kt = prov_key_type_of(*key);
		if (kt != t->key_type) {
			st = prov_err_set(e, PROV_E_INPUT, "%s %s holds a %s key; template %s wants %s",
			                  *origin, r->csr_path != NULL ? r->csr_path : r->pubkey_path,
			                  prov_key_type_name(kt), t->name, prov_key_type_name(t->key_type));
			EVP_PKEY_free(*key);
			*key = NULL;
			return st;
		}
		return PROV_OK;
	}
	if (t->key_source == PROV_KEYSRC_DEVICE)
		return prov_err_set(e, PROV_E_USAGE,
		                    "template %s takes the key from the device: give --csr or --pubkey",
		                    t->name);
	*origin = "host";
	return prov_keygen_run(g, t->key_type, key, e);
}

static prov_status store_key(prov_home *h, const char *id, int gen, prov_key_type kt,
                             const char *origin, EVP_PKEY *key, const uint8_t *spki,
                             size_t spki_len, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO device_keys (device_id, generation, key_type, origin, spki, private_sealed, created_at) "
		"VALUES (?, ?, ?, ?, ?, ?, ?)";
	uint8_t raw[MAX_RAW_PRIV], sealed[MAX_RAW_PRIV + PROV_SEAL_OVERHEAD];
	size_t raw_len = 0;
	char aad[128];
	sqlite3_stmt *s;
	prov_status st;

	st = prov_db_cached(h->db, &h->stmts, sql, &s, e);
	if (st != PROV_OK)
		goto out;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, gen);
	sqlite3_bind_text(s, 3, prov_key_type_name(kt), -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, origin, -1, SQLITE_STATIC);
	sqlite3_bind_blob(s, 5, spki, (int)spki_len, SQLITE_STATIC);
	if (strcmp(origin, "host") == 0) {
		snprintf(aad, sizeof(aad), "key|%s|%d", id, gen);
		st = prov_key_raw_private(key, raw, sizeof(raw), &raw_len, e);
		if (st == PROV_OK)
			st = prov_seal(&h->kek, aad, raw, raw_len, sealed, e);
		if (st != PROV_OK)
			goto out;
		sqlite3_bind_blob(s, 6, sealed, (int)(raw_len + PROV_SEAL_OVERHEAD), SQLITE_STATIC);
	}
	sqlite3_bind_int64(s, 7, prov_now());
	st = step_done(h->db, s, "recording the device key", e);
out:
	prov_wipe(raw, sizeof(raw));
	return st;
}

static prov_status issue_cert(prov_home *h, const prov_template *t, const prov_tpl_cred *c,
                              const char *id, int gen, EVP_PKEY *key, const uint8_t *pub,
                              size_t pub_len, prov_mint_result *res, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO certificates (device_id, generation, slot, serial, subject, not_before, not_after, der, created_at) "
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
	prov_cert_profile p;
	uint8_t serial[PROV_SERIAL_LEN], *der = NULL;
	size_t der_len = 0;
	char *subject = prov_template_expand(c->subject, id);
	char nb[21], na[21];
	X509 *cert = NULL;
	sqlite3_stmt *s;
	prov_status st = PROV_OK;
	int64_t now = prov_now();

	(void)t;
	if (subject == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	memset(&p, 0, sizeof(p));
	p.subject = subject;
	p.not_before = now;
	p.not_after = now + (int64_t)c->validity_days * 86400;
	p.no_expiry = c->no_expiry;
	p.eku = c->eku;
	p.n_eku = c->n_eku;
	p.pub = pub;
	p.pub_len = pub_len;
	p.pub_type = t->key_type;
	if (h->ca_sign == NULL)
		h->ca_sign = prov_x509_sign_ctx_new(h->ca_key); /* NULL: per certificate */
	p.sign_ctx = h->ca_sign;
	if (!prov_x509_exts_match(h->cert_exts, c->eku, c->n_eku)) {
		prov_x509_exts_free(h->cert_exts);
		h->cert_exts = NULL;
		st = prov_x509_exts_new(h->ca, c->eku, c->n_eku, &h->cert_exts, e);
		if (st != PROV_OK)
			goto out;
	}
	p.exts = h->cert_exts;
	/* A serial is random; the UNIQUE constraint catches the astronomically rare
	 * repeat, and we draw again. */
	for (int tries = 0; tries < SERIAL_TRIES; tries++) {
		int rc;

		X509_free(cert);
		cert = NULL;
		OPENSSL_free(der);
		der = NULL;
		st = prov_x509_serial_new(serial, e);
		if (st == PROV_OK)
			st = prov_x509_issue(h->ca, h->ca_key, key, &p, serial, &cert, e);
		if (st == PROV_OK)
			st = prov_x509_der(cert, &der, &der_len, e);
		if (st == PROV_OK)
			st = prov_db_cached(h->db, &h->stmts, sql, &s, e);
		if (st != PROV_OK)
			goto out;
		prov_hex(serial, sizeof(serial), res->serial);
		sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int(s, 2, gen);
		sqlite3_bind_int64(s, 3, c->slot);
		sqlite3_bind_text(s, 4, res->serial, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, subject, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 6, prov_time_iso(now, nb), -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 7, c->no_expiry ? "9999-12-31T23:59:59Z" : prov_time_iso(p.not_after, na),
		                  -1, SQLITE_STATIC);
		sqlite3_bind_blob(s, 8, der, (int)der_len, SQLITE_STATIC);
		sqlite3_bind_int64(s, 9, now);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc == SQLITE_DONE) {
			res->has_cert = 1;
			goto out;
		}
		if (rc != SQLITE_CONSTRAINT) {
			st = prov_db_fail(h->db, rc, "recording the certificate", e);
			goto out;
		}
	}
	st = prov_err_set(e, PROV_E_INTERNAL, "no unique serial after %d tries", SERIAL_TRIES);
out:
	X509_free(cert);
	OPENSSL_free(der);
	free(subject);
	return st;
}

static prov_status issue_psk(prov_home *h, const prov_tpl_cred *c, const char *id, int gen,
                             prov_mint_result *res, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO psks (device_id, generation, slot, identity, bits, key_sealed, created_at) "
		"VALUES (?, ?, ?, ?, ?, ?, ?)";
	uint8_t key[MAX_PSK_BYTES], sealed[MAX_PSK_BYTES + PROV_SEAL_OVERHEAD];
	size_t n = (size_t)c->bits / 8;
	char *ident = prov_template_expand(c->identity, id);
	char aad[128];
	sqlite3_stmt *s;
	prov_status st;

	if (ident == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (strlen(ident) > PROV_PSK_IDENTITY_MAX || n > sizeof(key)) {
		st = prov_err_set(e, PROV_E_INPUT, "PSK identity for %s longer than %d bytes", id,
		                  PROV_PSK_IDENTITY_MAX);
		goto out;
	}
	snprintf(aad, sizeof(aad), "psk|%s|%d|%u", id, gen, (unsigned)c->slot);
	/* A thread-pskd is n joiner-credential characters (prov/thread.h). */
	st = c->pskd ? prov_thread_pskd_generate((char *)key, n, e) : prov_random(key, n, 1, e);
	if (st == PROV_OK)
		st = prov_seal(&h->kek, aad, key, n, sealed, e);
	if (st == PROV_OK)
		st = prov_db_cached(h->db, &h->stmts, sql, &s, e);
	if (st != PROV_OK)
		goto out;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, gen);
	sqlite3_bind_int64(s, 3, c->slot);
	sqlite3_bind_blob(s, 4, ident, (int)strlen(ident), SQLITE_STATIC);
	sqlite3_bind_int(s, 5, c->bits);
	sqlite3_bind_blob(s, 6, sealed, (int)(n + PROV_SEAL_OVERHEAD), SQLITE_STATIC);
	sqlite3_bind_int64(s, 7, prov_now());
	st = step_done(h->db, s, "recording the PSK", e);
	if (st == PROV_OK)
		snprintf(res->psk_identity, sizeof(res->psk_identity), "%s", ident);
out:
	prov_wipe(key, sizeof(key));
	free(ident);
	return st;
}

static prov_status issue_rpk(prov_home *h, const prov_tpl_cred *c, const char *id, int gen,
                             const uint8_t *spki, size_t spki_len, prov_err *e)
{
	static const char sql[] =
		"INSERT INTO raw_keys (device_id, generation, slot, own_spki, peer_spki, created_at) "
		"VALUES (?, ?, ?, ?, ?, ?)";
	sqlite3_stmt *s;
	prov_status st = prov_db_cached(h->db, &h->stmts, sql, &s, e);

	if (st != PROV_OK)
		return st;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, gen);
	sqlite3_bind_int64(s, 3, c->slot);
	sqlite3_bind_blob(s, 4, spki, (int)spki_len, SQLITE_STATIC);
	if (c->server_spki != NULL)
		sqlite3_bind_blob(s, 5, c->server_spki, (int)c->server_spki_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, prov_now());
	return step_done(h->db, s, "recording the raw public key", e);
}

/* Insert or advance the device row; returns its new generation. */
static prov_status register_device(prov_home *h, const prov_template *t, const prov_mint_req *r,
                                   EVP_PKEY *recipient, int *gen, int *rotated, int *existed,
                                   prov_err *e)
{
	static const char q_get[] = "SELECT generation FROM devices WHERE id = ?";
	static const char q_ins[] =
		"INSERT INTO devices (id, template, generation, recipient_spki, status, created_at, updated_at) "
		"VALUES (?, ?, 1, ?, 'minted', ?, ?)";
	static const char q_upd[] =
		"UPDATE devices SET template = ?, generation = generation + 1, "
		"recipient_spki = COALESCE(?, recipient_spki), status = 'minted', updated_at = ? "
		"WHERE id = ? RETURNING generation";
	uint8_t *spki = NULL;
	size_t spki_len = 0;
	char hex[65];
	sqlite3_stmt *s;
	int rc, old = 0;
	prov_status st;

	st = prov_db_cached(h->db, &h->stmts, q_get, &s, e);
	if (st != PROV_OK)
		return st;
	sqlite3_bind_text(s, 1, r->device_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		old = sqlite3_column_int(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return prov_db_fail(h->db, rc, "looking up the device", e);
	*existed = old > 0;
	if (old > 0 && !r->rotate)
		return prov_err_set(e, PROV_E_EXISTS,
		                    "device %s is already minted (use --rotate to issue new credentials)",
		                    r->device_id);
	if (recipient != NULL && recipient == r->recipient && r->recipient_spki != NULL) {
		spki = OPENSSL_memdup(r->recipient_spki, r->recipient_spki_len);
		spki_len = r->recipient_spki_len;
		if (spki == NULL)
			return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	} else if (recipient != NULL) {
		st = prov_key_spki(recipient, &spki, &spki_len, e);
		if (st != PROV_OK)
			return st;
	}
	prov_hex(t->digest, sizeof(t->digest), hex);
	st = prov_db_cached(h->db, &h->stmts, old > 0 ? q_upd : q_ins, &s, e);
	if (st != PROV_OK)
		goto out;
	if (old > 0) {
		sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
		if (spki != NULL)
			sqlite3_bind_blob(s, 2, spki, (int)spki_len, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, prov_now());
		sqlite3_bind_text(s, 4, r->device_id, -1, SQLITE_STATIC);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW)
			*gen = sqlite3_column_int(s, 0);
		sqlite3_reset(s);
		st = rc == SQLITE_ROW ? PROV_OK : prov_db_fail(h->db, rc, "rotating the device", e);
		*rotated = 1;
	} else {
		sqlite3_bind_text(s, 1, r->device_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, hex, -1, SQLITE_STATIC);
		if (spki != NULL)
			sqlite3_bind_blob(s, 3, spki, (int)spki_len, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, prov_now());
		sqlite3_bind_int64(s, 5, prov_now());
		st = step_done(h->db, s, "registering the device", e);
		*gen = 1;
		*rotated = 0;
	}
out:
	OPENSSL_free(spki);
	return st;
}

prov_status prov_mint_one(prov_home *h, const prov_template *t, const prov_mint_req *r,
                          prov_mint_result *res, prov_err *e)
{
	uint8_t pub[133], *spki = NULL;
	size_t pub_len = 0, spki_len = 0;
	EVP_PKEY *key = NULL, *recipient = r->recipient;
	const char *origin = NULL;
	json_t *detail = NULL;
	char *dtext = NULL;
	int gen = 0, rotated = 0;
	prov_status st;

	memset(res, 0, sizeof(*res));
	if (!prov_device_id_valid(r->device_id))
		return prov_err_set(e, PROV_E_INPUT,
		                    "bad device ID \"%s\": 1 to 64 characters from A-Z a-z 0-9 . _ : -, starting with a letter or digit",
		                    r->device_id);
	snprintf(res->device_id, sizeof(res->device_id), "%s", r->device_id);
	if (recipient != NULL && prov_key_type_of(recipient) != PROV_KEY_P256)
		return prov_err_set(e, PROV_E_INPUT, "recipient key must be P-256 (secrets use ECDH-ES on P-256)");
	st = device_key(&h->keygen, t, r, &key, &origin, e);
	if (st != PROV_OK)
		goto out;
	/* Secrets are encrypted to the device's own key when it made that key. */
	if (recipient == NULL && key != NULL && strcmp(origin, "host") != 0 &&
	    prov_key_type_of(key) == PROV_KEY_P256)
		recipient = key;
	st = register_device(h, t, r, recipient, &gen, &rotated, &res->existed, e);
	if (st != PROV_OK)
		goto out;
	res->generation = gen;
	res->rotated = rotated;
	res->key_origin = origin;
	if (key != NULL) {
		/* The point is converted once, for the database, the certificate and
		 * the raw public key credential alike. */
		st = prov_key_raw_public(key, pub, sizeof(pub), &pub_len, e);
		if (st == PROV_OK)
			st = prov_pub_to_spki(t->key_type, pub, pub_len, &spki, &spki_len, e);
		if (st == PROV_OK)
			st = store_key(h, r->device_id, gen, t->key_type, origin, key, spki, spki_len, e);
		if (st != PROV_OK)
			goto out;
	}
	for (size_t i = 0; i < t->n_creds && st == PROV_OK; i++) {
		const prov_tpl_cred *c = &t->creds[i];

		if (c->kind == PROV_CRED_CERT)
			st = issue_cert(h, t, c, r->device_id, gen, key, pub, pub_len, res, e);
		else if (c->kind == PROV_CRED_PSK)
			st = issue_psk(h, c, r->device_id, gen, res, e);
		else if (c->kind == PROV_CRED_RPK)
			st = issue_rpk(h, c, r->device_id, gen, spki, spki_len, e);
	}
	if (st != PROV_OK)
		goto out;
	detail = json_pack("{s:s, s:i}", "template", t->name, "generation", gen);
	if (detail != NULL && res->has_cert)
		json_object_set_new(detail, "serial", json_string(res->serial));
	if (detail != NULL && origin != NULL)
		json_object_set_new(detail, "key_origin", json_string(origin));
	if (detail != NULL && res->psk_identity[0] != 0)
		json_object_set_new(detail, "psk_identity", json_string(res->psk_identity));
	dtext = detail != NULL ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (dtext == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	st = prov_db_audit_cached(h->db, &h->stmts, rotated ? "rotate" : "mint", r->device_id, dtext, e);
out:
	if (st != PROV_OK)
		prov_err_wrap(e, "device %s", r->device_id);
	EVP_PKEY_free(key);
	OPENSSL_free(spki);
	json_decref(detail);
	free(dtext);
	return st;
}

/* One chunk: a transaction of up to o->chunk devices. */
static prov_status mint_chunk(prov_home *h, const prov_template *t, char *const *ids, size_t n,
                              const prov_batch_opts *o, prov_mint_result *res,
                              char **written, size_t *done, prov_batch_summary *sum, prov_err *e)
{
	prov_status st;

	*done = 0;
	memset(written, 0, n * sizeof(*written));
	st = prov_db_begin(h->db, e);
	if (st != PROV_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		prov_mint_req r;

		memset(&r, 0, sizeof(r));
		r.device_id = ids[i];
		r.rotate = o->rotate;
		r.recipient = o->recipient;
		r.recipient_spki = o->recipient_spki;
		r.recipient_spki_len = o->recipient_spki_len;
		st = prov_mint_one(h, t, &r, &res[i], e);
		if (st == PROV_E_EXISTS && res[i].existed && o->skip_existing) {
			memset(&res[i], 0, sizeof(res[i]));
			snprintf(res[i].device_id, sizeof(res[i].device_id), "%s", ids[i]);
			res[i].skipped = 1;
			*done = i + 1;
			continue;
		}
		if (st != PROV_OK) {
			sum->failed_id = ids[i];
			goto fail;
		}
		if (o->bundles || o->bundle_dir != NULL) {
			prov_bundle_opts bo;
			prov_bundle_info bi;
			uint8_t *buf = NULL;
			size_t len = 0;

			memset(&bo, 0, sizeof(bo));
			bo.recipient = o->recipient;
			bo.recipient_kid = o->recipient != NULL ? o->recipient_kid : NULL;
			bo.insecure_plaintext = o->insecure_plaintext;
			st = prov_bundle_build(h, ids[i], &bo, &buf, &len, &bi, e);
			if (st == PROV_OK && o->bundle_dir != NULL) {
				snprintf(res[i].bundle_path, sizeof(res[i].bundle_path), "%s/%s.cbor",
				         o->bundle_dir, ids[i]);
				st = prov_file_write_nosync(res[i].bundle_path, buf, len, 0600, e);
			}
			if (buf != NULL)
				prov_wipe(buf, len); /* lab bundles carry plaintext secrets */
			free(buf);
			if (st != PROV_OK) {
				sum->failed_id = ids[i];
				goto fail;
			}
			if (o->bundle_dir != NULL)
				written[i] = res[i].bundle_path;
			res[i].bundle_counter = bi.counter;
		}
		*done = i + 1;
	}
	/* The chunk's bundle files reach the disk before the database says so. */
	if (o->bundle_dir != NULL && (st = prov_dir_sync(o->bundle_dir, e)) != PROV_OK)
		goto fail;
	st = prov_db_commit(h->db, e);
	if (st == PROV_OK)
		return PROV_OK;
fail:
	prov_db_rollback(h->db);
	/* Nothing of a rolled-back chunk may remain: remove its bundle files. */
	for (size_t i = 0; i < n; i++)
		if (written[i] != NULL)
			remove(written[i]);
	*done = 0;
	return st;
}

prov_status prov_mint_batch(prov_home *h, const prov_template *t, char *const *ids, size_t n,
                            const prov_batch_opts *o, prov_batch_summary *sum, prov_err *e)
{
	size_t chunk = o->chunk != 0 ? o->chunk : 256;
	prov_mint_result *res = calloc(chunk, sizeof(*res));
	char **written = calloc(chunk, sizeof(*written));
	prov_status st = PROV_OK;

	prov_batch_opts oo = *o;
	uint8_t *spki = NULL, kid[8];
	size_t spki_len = 0;

	memset(sum, 0, sizeof(*sum));
	sum->requested = n;
	if (res == NULL || written == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	/* One recipient for the whole batch: encode it once, not per device. */
	if (o->recipient != NULL) {
		st = prov_key_spki(o->recipient, &spki, &spki_len, e);
		if (st == PROV_OK)
			st = prov_key_kid(o->recipient, kid, e);
		if (st != PROV_OK)
			goto out;
		oo.recipient_spki = spki;
		oo.recipient_spki_len = spki_len;
		oo.recipient_kid = kid;
	}
	o = &oo;
	st = prov_db_begin(h->db, e);
	if (st == PROV_OK)
		st = prov_template_store(h, t, e);
	if (st == PROV_OK)
		st = prov_db_commit(h->db, e);
	if (st != PROV_OK) {
		prov_db_rollback(h->db);
		goto out;
	}
	for (size_t base = 0; base < n; base += chunk) {
		size_t m = n - base < chunk ? n - base : chunk, done = 0;

		st = mint_chunk(h, t, ids + base, m, o, res, written, &done, sum, e);
		if (st != PROV_OK)
			goto out;
		for (size_t i = 0; i < m; i++) {
			if (res[i].skipped)
				sum->skipped++;
			else if (res[i].rotated)
				sum->rotated++;
			else
				sum->minted++;
			if (o->on_result != NULL)
				o->on_result(o->ctx, &res[i]);
		}
		if (o->on_progress != NULL)
			o->on_progress(o->ctx, base + m, n);
		/* Leave the write lock free for a moment between chunks, so other prov
		 * processes (polling every millisecond) get their turn. */
		if (base + m < n) {
			const struct timespec pause = {0, 2000000};

			nanosleep(&pause, NULL);
		}
	}
out:
	OPENSSL_free(spki);
	free(res);
	free(written);
	return st;
}
