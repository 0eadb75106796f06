/* mint.c - registering devices and issuing credentials (see prov/mint.h). */
#include "prov/mint.h"

#include <jansson.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prov/records.h"
#include "prov/revoke.h"
#include "prov/secret.h"
#include "prov/thread.h"
#include "prov/util.h"
#include "prov/vault.h"

#define SERIAL_TRIES 4
#define MAX_PSK_BYTES PROV_VAULT_PSK_MAX
#define MAX_RAW_PRIV PROV_VAULT_KEY_MAX

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
	uint8_t raw[MAX_RAW_PRIV], sealed[MAX_RAW_PRIV + PROV_SEAL_OVERHEAD];
	size_t raw_len = 0;
	int host = strcmp(origin, "host") == 0;
	prov_status st = PROV_OK;

	if (host) {
		st = prov_key_raw_private(key, raw, sizeof(raw), &raw_len, e);
		if (st == PROV_OK)
			st = prov_vault_seal_key(&h->kek, id, gen, raw, raw_len, sealed, e);
	}
	if (st == PROV_OK)
		st = prov_records_key_add(h->db, id, gen, prov_key_type_name(kt), origin, spki, spki_len,
		                          host ? sealed : NULL, host ? raw_len + PROV_SEAL_OVERHEAD : 0, e);
	prov_wipe(raw, sizeof(raw));
	return st;
}

static prov_status issue_cert(prov_home *h, const prov_template *t, const prov_tpl_cred *c,
                              const char *id, int gen, EVP_PKEY *key, const uint8_t *pub,
                              size_t pub_len, prov_mint_result *res, prov_err *e)
{
	prov_cert_profile p;
	prov_rec_cert rec;
	uint8_t serial[PROV_SERIAL_LEN], *der = NULL;
	size_t der_len = 0;
	char *subject = prov_template_expand(c->subject, id);
	char nb[21], na[21];
	X509 *cert = NULL;
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
		X509_free(cert);
		cert = NULL;
		OPENSSL_free(der);
		der = NULL;
		st = prov_x509_serial_new(serial, e);
		if (st == PROV_OK)
			st = prov_x509_issue(h->ca, h->ca_key, key, &p, serial, &cert, e);
		if (st == PROV_OK)
			st = prov_x509_der(cert, &der, &der_len, e);
		if (st != PROV_OK)
			goto out;
		prov_hex(serial, sizeof(serial), res->serial);
		memset(&rec, 0, sizeof(rec));
		rec.device = id;
		rec.generation = gen;
		rec.slot = c->slot;
		rec.serial = res->serial;
		rec.subject = subject;
		rec.not_before = prov_time_iso(now, nb);
		rec.not_after = c->no_expiry ? "9999-12-31T23:59:59Z" : prov_time_iso(p.not_after, na);
		rec.der = der;
		rec.der_len = der_len;
		st = prov_records_cert_add(h->db, &rec, e);
		if (st == PROV_OK) {
			res->has_cert = 1;
			goto out;
		}
		if (st != PROV_E_EXISTS)
			goto out;
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
	uint8_t key[MAX_PSK_BYTES], sealed[MAX_PSK_BYTES + PROV_SEAL_OVERHEAD];
	size_t n = (size_t)c->bits / 8;
	char *ident = prov_template_expand(c->identity, id);
	prov_status st;

	if (ident == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (strlen(ident) > PROV_PSK_IDENTITY_MAX || n > sizeof(key)) {
		st = prov_err_set(e, PROV_E_INPUT, "PSK identity for %s longer than %d bytes", id,
		                  PROV_PSK_IDENTITY_MAX);
		goto out;
	}
	/* A thread-pskd is n joiner-credential characters (prov/thread.h). */
	st = c->pskd ? prov_thread_pskd_generate((char *)key, n, e) : prov_random(key, n, 1, e);
	if (st == PROV_OK)
		st = prov_vault_seal_psk(&h->kek, id, gen, c->slot, key, n, sealed, e);
	if (st == PROV_OK)
		st = prov_records_psk_add(h->db, id, gen, c->slot, (const uint8_t *)ident, strlen(ident), c->bits,
		                          sealed, n + PROV_SEAL_OVERHEAD, e);
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
	return prov_records_rpk_add(h->db, id, gen, c->slot, spki, spki_len, c->server_spki,
	                            c->server_spki_len, e);
}

/* Insert or advance the device row; returns its new generation. */
static prov_status register_device(prov_home *h, const prov_template *t, const prov_mint_req *r,
                                   EVP_PKEY *recipient, int *gen, int *rotated, int *existed,
                                   prov_err *e)
{
	uint8_t *spki = NULL;
	size_t spki_len = 0;
	char hex[65];
	int old = 0;
	prov_status st;

	st = prov_records_device_generation(h->db, r->device_id, &old, e);
	if (st != PROV_OK)
		return st;
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
	if (old > 0) {
		st = prov_records_device_rotate(h->db, r->device_id, hex, spki, spki_len, gen, e);
		*rotated = 1;
		/* Superseded, and revoked only when asked (a generation already
		 * revoked, e.g. for keyCompromise, keeps its reason). */
		if (st == PROV_OK && r->revoke_previous) {
			int revoked = 0, n = 0;

			st = prov_records_revoked(h->db, r->device_id, old, &revoked, e);
			if (st == PROV_OK && !revoked)
				st = prov_revoke_generation(h, r->device_id, old, "superseded", &n, e);
		}
	} else {
		st = prov_records_device_add(h->db, r->device_id, hex, spki, spki_len, e);
		*gen = 1;
		*rotated = 0;
	}
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
	st = prov_records_audit(h->db, rotated ? "rotate" : "mint", r->device_id, dtext, e);
out:
	if (st != PROV_OK)
		prov_err_wrap(e, "device %s", r->device_id);
	EVP_PKEY_free(key);
	OPENSSL_free(spki);
	json_decref(detail);
	free(dtext);
	return st;
}
