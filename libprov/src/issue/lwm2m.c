/* lwm2m.c - the LwM2M Security object of a device (see prov/lwm2m.h). */
#include "prov/lwm2m.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/db.h"
#include "prov/keys.h"
#include "prov/secret.h"
#include "prov/template.h"
#include "prov/util.h"

#define MAX_RAW 64

/* A hex JSON string of n bytes (public values only: never a secret). */
static json_t *hex_json(const uint8_t *p, size_t n)
{
	char *hex = malloc(2 * n + 1);
	json_t *j;

	if (hex == NULL)
		return NULL;
	prov_hex(p, n, hex);
	j = json_string(hex);
	free(hex);
	return j;
}

/* One row of a query on (device, generation); 1 row, 0 none, -1 error. */
static int row(prov_home *h, const char *sql, const char *id, int gen, sqlite3_stmt **s, prov_err *e)
{
	int rc;

	if (prov_db_prepare(h->db, sql, s, e) != PROV_OK)
		return -1;
	sqlite3_bind_text(*s, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(*s, 2, gen);
	rc = sqlite3_step(*s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	prov_db_fail(h->db, rc, "reading the device's credentials", e);
	return -1;
}

/* The host-made private key of the device as PKCS#8 DER into *secret, or a note. */
static prov_status secret_key(prov_home *h, const char *id, int gen, prov_lwm2m_secret *secret,
                              json_t *notes, prov_err *e)
{
	sqlite3_stmt *s = NULL;
	uint8_t raw[MAX_RAW];
	size_t n = 0;
	char aad[128];
	EVP_PKEY *k = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *der = NULL;
	int dl = 0, r = row(h, "SELECT origin, private_sealed, key_type FROM device_keys "
	                       "WHERE device_id = ?1 AND generation = ?2", id, gen, &s, e);
	prov_status st = PROV_OK;

	if (r < 0) {
		st = e != NULL ? e->code : PROV_E_DB;
		goto out;
	}
	if (r == 0 || sqlite3_column_type(s, 1) != SQLITE_BLOB) {
		json_array_append_new(notes, json_string("resource 5: the private key was made on the device and never left it"));
		goto out;
	}
	snprintf(aad, sizeof(aad), "key|%s|%d", id, gen);
	if ((size_t)sqlite3_column_bytes(s, 1) > MAX_RAW + PROV_SEAL_OVERHEAD) {
		st = prov_err_set(e, PROV_E_DB, "stored private key of %s is malformed", id);
		goto out;
	}
	st = prov_open(&h->kek, aad, sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1), raw, &n, e);
	if (st == PROV_OK)
		st = prov_key_from_raw_private(prov_key_type_parse((const char *)sqlite3_column_text(s, 2)), raw, n, &k, e);
	if (st != PROV_OK)
		goto out;
	p8 = EVP_PKEY2PKCS8(k);
	dl = p8 != NULL ? i2d_PKCS8_PRIV_KEY_INFO(p8, &der) : -1;
	if (dl <= 0 || (size_t)dl > sizeof(secret->bytes)) {
		st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode the private key of %s", id);
		goto out;
	}
	memcpy(secret->bytes, der, (size_t)dl);
	secret->len = (size_t)dl;
	secret->present = 1;
out:
	if (der != NULL) {
		prov_wipe(der, (size_t)dl);
		OPENSSL_free(der);
	}
	PKCS8_PRIV_KEY_INFO_free(p8);
	EVP_PKEY_free(k);
	prov_wipe(raw, sizeof(raw));
	sqlite3_finalize(s);
	return st;
}

static prov_status fill(prov_home *h, const char *id, int gen, const prov_template *t,
                        prov_lwm2m_secret *secret, json_t *o, json_t *res, json_t *notes, prov_err *e)
{
	static const char *const modes[] = {"psk", "rpk", "certificate"};
	json_t *suites = t->tls != NULL ? json_object_get(t->tls, "cipher_suites") : NULL;
	sqlite3_stmt *s = NULL;
	prov_status st = PROV_OK;
	int r;

	json_object_set_new(o, "security_mode", json_string(modes[t->lwm2m_mode]));
	json_object_set_new(res, "0", json_string(t->lwm2m_uri));
	json_object_set_new(res, "1", json_boolean(t->lwm2m_bootstrap));
	json_object_set_new(res, "2", json_integer(t->lwm2m_mode));
	if (t->lwm2m_ssid != 0)
		json_object_set_new(res, "10", json_integer(t->lwm2m_ssid));
	if (suites != NULL) {
		json_t *a = json_array();

		for (size_t i = 0; i < json_array_size(suites); i++)
			json_array_append_new(a, json_integer(prov_tls_suite_code(json_string_value(json_array_get(suites, i)))));
		json_object_set_new(res, "16", a);
	}
	if (t->lwm2m_mode == PROV_LWM2M_PSK) {
		uint8_t key[MAX_RAW];
		size_t n = 0;
		char aad[128];

		r = row(h, "SELECT identity, key_sealed, slot FROM psks WHERE device_id = ?1 AND generation = ?2",
		        id, gen, &s, e);
		if (r <= 0) {
			st = r < 0 ? (e != NULL ? e->code : PROV_E_DB)
			           : prov_err_set(e, PROV_E_DB, "device %s lacks its PSK", id);
			goto out;
		}
		{
			char *ident = strndup(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0));

			json_object_set_new(o, "psk_identity", json_string(ident != NULL ? ident : ""));
			free(ident);
		}
		json_object_set_new(res, "3", hex_json(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0)));
		if (secret != NULL) {
			snprintf(aad, sizeof(aad), "psk|%s|%d|%d", id, gen, sqlite3_column_int(s, 2));
			if ((size_t)sqlite3_column_bytes(s, 1) > MAX_RAW + PROV_SEAL_OVERHEAD)
				st = prov_err_set(e, PROV_E_DB, "stored PSK of %s is malformed", id);
			else
				st = prov_open(&h->kek, aad, sqlite3_column_blob(s, 1),
				               (size_t)sqlite3_column_bytes(s, 1), key, &n, e);
			if (st == PROV_OK) {
				memcpy(secret->bytes, key, n);
				secret->len = n;
				secret->present = 1;
			}
			prov_wipe(key, sizeof(key));
		}
	} else if (t->lwm2m_mode == PROV_LWM2M_RPK) {
		r = row(h, "SELECT own_spki, peer_spki FROM raw_keys WHERE device_id = ?1 AND generation = ?2",
		        id, gen, &s, e);
		if (r <= 0) {
			st = r < 0 ? (e != NULL ? e->code : PROV_E_DB)
			           : prov_err_set(e, PROV_E_DB, "device %s lacks its raw public key", id);
			goto out;
		}
		json_object_set_new(res, "3", hex_json(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0)));
		if (sqlite3_column_type(s, 1) == SQLITE_BLOB)
			json_object_set_new(res, "4", hex_json(sqlite3_column_blob(s, 1), (size_t)sqlite3_column_bytes(s, 1)));
		if (secret != NULL)
			st = secret_key(h, id, gen, secret, notes, e);
	} else {
		const prov_tpl_cred *tr = prov_template_find(t, PROV_CRED_TRUST);

		r = row(h, "SELECT der FROM certificates WHERE device_id = ?1 AND generation = ?2 ORDER BY slot LIMIT 1",
		        id, gen, &s, e);
		if (r <= 0) {
			st = r < 0 ? (e != NULL ? e->code : PROV_E_DB)
			           : prov_err_set(e, PROV_E_DB, "device %s lacks its certificate", id);
			goto out;
		}
		json_object_set_new(res, "3", hex_json(sqlite3_column_blob(s, 0), (size_t)sqlite3_column_bytes(s, 0)));
		if (tr != NULL && !tr->store && tr->n_anchors == 1) {
			/* The one anchor the device trusts: a trust anchor assertion. */
			json_object_set_new(res, "4", hex_json(t->trust_der, t->trust_der_len));
			json_object_set_new(res, "15", json_integer(2));
		} else {
			char note[160];

			snprintf(note, sizeof(note),
			         "resource 4: the trust slot holds %d anchor%s%s; give the server's CA alone with --trust to pin it",
			         tr != NULL ? tr->n_anchors : 0, tr != NULL && tr->n_anchors == 1 ? "" : "s",
			         tr != NULL && tr->store ? " as a compact store" : "");
			json_array_append_new(notes, json_string(note));
		}
		if (secret != NULL)
			st = secret_key(h, id, gen, secret, notes, e);
	}
out:
	sqlite3_finalize(s);
	return st;
}

prov_status prov_lwm2m_security(prov_home *h, const char *device_id, prov_lwm2m_secret *secret,
                                json_t **out, prov_err *e)
{
	sqlite3_stmt *s = NULL;
	prov_template *t = NULL;
	json_t *o = NULL, *res = NULL, *notes = NULL;
	prov_status st;
	int gen, rc;

	*out = NULL;
	st = prov_db_prepare(h->db,
	                     "SELECT d.generation, t.json, t.trust_der FROM devices d "
	                     "JOIN templates t ON t.digest = d.template WHERE d.id = ?1",
	                     &s, e);
	if (st != PROV_OK)
		return st;
	sqlite3_bind_text(s, 1, device_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		return rc == SQLITE_DONE ? prov_err_set(e, PROV_E_NOTFOUND, "unknown device %s", device_id)
		                         : prov_db_fail(h->db, rc, "reading the device", e);
	}
	gen = sqlite3_column_int(s, 0);
	st = prov_template_from_db((const char *)sqlite3_column_text(s, 1), sqlite3_column_blob(s, 2),
	                           (size_t)sqlite3_column_bytes(s, 2), &t, e);
	sqlite3_finalize(s);
	if (st != PROV_OK)
		return st;
	if (t->lwm2m_mode == PROV_LWM2M_NONE) {
		st = prov_err_set(e, PROV_E_INPUT, "device %s was minted with template %s, which fills no LwM2M Security object",
		                  device_id, t->name);
		goto out;
	}
	o = json_pack("{s:s, s:s, s:i}", "device", device_id, "template", t->name, "generation", gen);
	res = json_object();
	notes = json_array();
	if (o == NULL || res == NULL || notes == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	if (secret != NULL) {
		prov_wipe(secret, sizeof(*secret));
		secret->present = 0;
	}
	st = fill(h, device_id, gen, t, secret, o, res, notes, e);
	if (st != PROV_OK)
		goto out;
	json_object_set(o, "resources", res);
	if (json_array_size(notes) > 0)
		json_object_set(o, "notes", notes);
	*out = o;
	o = NULL;
out:
	if (st != PROV_OK && secret != NULL)
		prov_wipe(secret, sizeof(*secret));
	json_decref(o);
	json_decref(res);
	json_decref(notes);
	prov_template_free(t);
	return st;
}
