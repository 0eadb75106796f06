/* lwm2m.c - the LwM2M Security object of a device (see prov/lwm2m.h). */
#include "prov/lwm2m.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/keys.h"
#include "prov/records.h"
#include "prov/template.h"
#include "prov/util.h"
#include "prov/vault.h"

#define MAX_RAW PROV_VAULT_KEY_MAX

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

/* The host-made private key of the device as PKCS#8 DER into *secret, or a note. */
static prov_status secret_key(prov_home *h, const char *id, int gen, prov_lwm2m_secret *secret,
                              json_t *notes, prov_err *e)
{
	prov_rec_key key;
	uint8_t raw[MAX_RAW];
	size_t n = 0;
	EVP_PKEY *k = NULL;
	PKCS8_PRIV_KEY_INFO *p8 = NULL;
	unsigned char *der = NULL;
	int dl = 0, found = 0;
	prov_status st = prov_records_key(h->db, id, gen, &key, &found, e);

	if (st != PROV_OK)
		goto out;
	if (!found || key.sealed == NULL) {
		json_array_append_new(notes, json_string("resource 5: the private key was made on the device and never left it"));
		goto out;
	}
	st = prov_vault_open_key(&h->kek, id, gen, key.sealed, key.sealed_len, raw, &n, e);
	if (st == PROV_OK)
		st = prov_key_from_raw_private(prov_key_type_parse(key.key_type), raw, n, &k, e);
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
	prov_rec_key_free(&key);
	return st;
}

static prov_status fill(prov_home *h, const char *id, int gen, const prov_template *t,
                        prov_lwm2m_secret *secret, json_t *o, json_t *res, json_t *notes, prov_err *e)
{
	static const char *const modes[] = {"psk", "rpk", "certificate"};
	json_t *suites = t->tls != NULL ? json_object_get(t->tls, "cipher_suites") : NULL;
	prov_status st = PROV_OK;
	int found = 0;

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
		prov_rec_psk psk;
		uint8_t key[MAX_RAW];
		size_t n = 0;

		st = prov_records_psk(h->db, id, gen, -1, &psk, &found, e);
		if (st == PROV_OK && !found)
			st = prov_err_set(e, PROV_E_DB, "device %s lacks its PSK", id);
		if (st == PROV_OK) {
			char *ident = strndup((const char *)psk.identity, psk.identity_len);

			json_object_set_new(o, "psk_identity", json_string(ident != NULL ? ident : ""));
			free(ident);
			json_object_set_new(res, "3", hex_json(psk.identity, psk.identity_len));
		}
		if (st == PROV_OK && secret != NULL) {
			st = prov_vault_open_psk(&h->kek, id, gen, psk.slot, psk.sealed, psk.sealed_len, key, &n, e);
			if (st == PROV_OK) {
				memcpy(secret->bytes, key, n);
				secret->len = n;
				secret->present = 1;
			}
			prov_wipe(key, sizeof(key));
		}
		prov_rec_psk_free(&psk);
	} else if (t->lwm2m_mode == PROV_LWM2M_RPK) {
		prov_rec_rpk rpk;

		st = prov_records_rpk(h->db, id, gen, -1, &rpk, &found, e);
		if (st == PROV_OK && !found)
			st = prov_err_set(e, PROV_E_DB, "device %s lacks its raw public key", id);
		if (st == PROV_OK) {
			json_object_set_new(res, "3", hex_json(rpk.own_spki, rpk.own_len));
			if (rpk.peer_spki != NULL)
				json_object_set_new(res, "4", hex_json(rpk.peer_spki, rpk.peer_len));
		}
		prov_rec_rpk_free(&rpk);
		if (st == PROV_OK && secret != NULL)
			st = secret_key(h, id, gen, secret, notes, e);
	} else {
		const prov_tpl_cred *tr = prov_template_find(t, PROV_CRED_TRUST);
		uint8_t *der = NULL;
		size_t der_len = 0;

		st = prov_records_cert(h->db, id, gen, -1, &der, &der_len, &found, e);
		if (st == PROV_OK && !found)
			st = prov_err_set(e, PROV_E_DB, "device %s lacks its certificate", id);
		if (st == PROV_OK)
			json_object_set_new(res, "3", hex_json(der, der_len));
		free(der);
		if (st != PROV_OK)
			return st;
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
	return st;
}

prov_status prov_lwm2m_security(prov_home *h, const char *device_id, prov_lwm2m_secret *secret,
                                json_t **out, prov_err *e)
{
	const prov_template *t = NULL;
	prov_rec_device d;
	json_t *o = NULL, *res = NULL, *notes = NULL;
	prov_status st;
	int gen;

	*out = NULL;
	st = prov_records_device(h->db, device_id, &d, e);
	gen = d.generation;
	if (st == PROV_OK)
		st = prov_template_recorded(h, d.template_digest, &t, e);
	prov_rec_device_free(&d);
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
	return st;
}
