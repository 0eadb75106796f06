/* bundle.c - building the signed credential bundle (see prov/bundle.h). */
#include "prov/algs.h"
#include "prov/bundle.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/cbor.h"
#include "prov/db.h"
#include "prov/keys.h"
#include "prov/records.h"
#include "prov/secret.h"
#include "prov/template.h"
#include "prov/util.h"
#include "prov/vault.h"

#define MAX_SECRET 64
_Static_assert(MAX_SECRET >= PROV_VAULT_PSK_MAX && MAX_SECRET >= PROV_VAULT_KEY_MAX,
               "an entry holds any secret the vault opens");

const char *prov_entry_type_name(int type)
{
	switch (type) {
	case PROV_ENT_CA_CERTS: return "ca-certs";
	case PROV_ENT_DEVICE_CERT: return "device-cert";
	case PROV_ENT_PRIVATE_KEY: return "private-key";
	case PROV_ENT_PSK: return "psk";
	case PROV_ENT_OWN_RPK: return "own-rpk";
	case PROV_ENT_PEER_RPK: return "peer-rpk";
	case PROV_ENT_TRUST_STORE: return "trust-store";
	}
	return NULL;
}

/* What the bundle of a device's current generation is built from, read from
 * the records: its row, its key, and each slot's credential as it is needed
 * (a PSK's identity stays here while the entries borrow it). */
typedef struct dev_data {
	prov_rec_device dev;
	prov_rec_key key;             /* key.spki NULL: no device key */
	EVP_PKEY *recipient;
	prov_rec_psk psk[PROV_TPL_MAX_CREDS];
} dev_data;

static void dev_data_free(dev_data *d)
{
	prov_rec_device_free(&d->dev);
	prov_rec_key_free(&d->key);
	EVP_PKEY_free(d->recipient);
	for (size_t i = 0; i < PROV_TPL_MAX_CREDS; i++)
		prov_rec_psk_free(&d->psk[i]);
}

static prov_status load_device(prov_home *h, const char *id, int want_recipient, dev_data *d,
                               prov_err *e)
{
	int found = 0;
	prov_status st = prov_records_device(h->db, id, &d->dev, e);

	if (st != PROV_OK)
		return st;
	if (want_recipient && d->dev.recipient_spki != NULL) {
		st = prov_key_from_spki(d->dev.recipient_spki, d->dev.recipient_spki_len, &d->recipient, e);
		if (st != PROV_OK) {
			prov_err_wrap(e, "stored recipient key of %s", id);
			return st;
		}
	}
	return prov_records_key(h->db, id, d->dev.generation, &d->key, &found, e);
}

static prov_status missing_slot(const char *id, const dev_data *d, const prov_tpl_cred *c, prov_err *e)
{
	return prov_err_set(e, PROV_E_DB, "device %s generation %d lacks its slot %u credential", id,
	                    d->dev.generation, (unsigned)c->slot);
}

/* One credential entry before encoding.  A secret entry holds its secret here
 * (wiped after use) and becomes an index into the bundle's secrets. */
typedef struct entry {
	uint32_t slot;
	int type;
	int alg;
	unsigned usage;
	cbor_item_t *value;            /* public value (bstr), or NULL for a secret */
	uint8_t secret[MAX_SECRET];
	size_t secret_len;
	const uint8_t *ident;          /* PSK identity, borrowed */
	size_t ident_len;
} entry;

static int entry_cmp(const void *a, const void *b)
{
	const entry *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return (x->type > y->type) - (x->type < y->type);
}

static void entries_free(entry *ents, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ents[i].value != NULL)
			cbor_decref(&ents[i].value);
		prov_wipe(ents[i].secret, sizeof(ents[i].secret));
	}
}

static entry *new_entry(entry *ents, size_t *n, uint32_t slot, int type, int alg, unsigned usage,
                        prov_err *e)
{
	entry *x;

	if (*n == PROV_BUNDLE_MAX_ENTRIES) {
		prov_err_set(e, PROV_E_INPUT, "more than %d bundle entries", PROV_BUNDLE_MAX_ENTRIES);
		return NULL;
	}
	x = &ents[(*n)++];
	memset(x, 0, sizeof(*x));
	x->slot = slot;
	x->type = type;
	x->alg = alg;
	x->usage = usage;
	return x;
}

static prov_status add_public(entry *ents, size_t *n, uint32_t slot, int type, int alg,
                              unsigned usage, cbor_item_t *value, prov_err *e)
{
	entry *x;

	if (value == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	x = new_entry(ents, n, slot, type, alg, usage, e);
	if (x == NULL) {
		cbor_decref(&value);
		return e != NULL ? e->code : PROV_E_INPUT;
	}
	x->value = value;
	return PROV_OK;
}

/* A new secret entry, its value opened by the vault straight into it: the
 * PSK of (device, generation, slot), or the host-made key (slot < 0). */
static prov_status add_secret(prov_home *h, entry *ents, size_t *n, const char *id, int gen,
                              int64_t psk_slot, uint32_t slot, int type, int alg, unsigned usage,
                              const uint8_t *sealed, size_t sealed_len, prov_err *e)
{
	entry *x = new_entry(ents, n, slot, type, alg, usage, e);

	if (x == NULL)
		return e != NULL ? e->code : PROV_E_INPUT;
	if (psk_slot >= 0)
		return prov_vault_open_psk(&h->kek, id, gen, psk_slot, sealed, sealed_len, x->secret,
		                           &x->secret_len, e);
	return prov_vault_open_key(&h->kek, id, gen, sealed, sealed_len, x->secret, &x->secret_len, e);
}

static int key_alg(const char *key_type)
{
	prov_key_type t = prov_key_type_parse(key_type);

	return t == PROV_KEY_P256 ? PROV_COSE_ALG_ES256
	       : t == PROV_KEY_P384 ? PROV_COSE_ALG_ES384
	       : t == PROV_KEY_ED25519 ? PROV_COSE_ALG_EDDSA : 0;
}

/* The device certificate followed by the CA chain (when the template asks). */
static cbor_item_t *cert_value(prov_home *h, const prov_tpl_cred *c, const uint8_t *der,
                               size_t der_len)
{
	size_t total = der_len;
	uint8_t *buf, *p;
	cbor_item_t *v;

	if (c->include_chain && h->ca_chain != NULL)
		for (int i = 0; i < sk_X509_num(h->ca_chain); i++)
			total += (size_t)i2d_X509(sk_X509_value(h->ca_chain, i), NULL);
	buf = malloc(total);
	if (buf == NULL)
		return NULL;
	memcpy(buf, der, der_len);
	p = buf + der_len;
	if (c->include_chain && h->ca_chain != NULL)
		for (int i = 0; i < sk_X509_num(h->ca_chain); i++)
			i2d_X509(sk_X509_value(h->ca_chain, i), &p);
	v = prov_cbor_bytes(buf, total);
	free(buf);
	return v;
}

static prov_status collect_entries(prov_home *h, const char *id, const prov_template *t,
                                   dev_data *d, entry *ents, size_t *n, prov_err *e)
{
	const int gen = d->dev.generation;
	uint32_t key_slots[2];
	size_t n_key_slots = 0;
	prov_status st = PROV_OK;

	for (size_t i = 0; i < t->n_creds && st == PROV_OK; i++) {
		const prov_tpl_cred *c = &t->creds[i];
		prov_rec_rpk rpk;
		uint8_t *der = NULL;
		size_t der_len = 0;
		int found = 0;

		switch (c->kind) {
		case PROV_CRED_CERT:
			st = prov_records_cert(h->db, id, gen, c->slot, &der, &der_len, &found, e);
			if (st == PROV_OK && !found)
				st = missing_slot(id, d, c, e);
			if (st == PROV_OK)
				st = add_public(ents, n, c->slot, PROV_ENT_DEVICE_CERT, key_alg(d->key.key_type),
				                PROV_USE_PRESENT, cert_value(h, c, der, der_len), e);
			free(der);
			key_slots[n_key_slots++] = c->slot;
			break;
		case PROV_CRED_RPK:
			st = prov_records_rpk(h->db, id, gen, c->slot, &rpk, &found, e);
			if (st == PROV_OK && !found)
				st = missing_slot(id, d, c, e);
			if (st == PROV_OK)
				st = add_public(ents, n, c->slot, PROV_ENT_OWN_RPK, key_alg(d->key.key_type),
				                PROV_USE_PRESENT, prov_cbor_bytes(rpk.own_spki, rpk.own_len), e);
			if (st == PROV_OK && rpk.peer_spki != NULL)
				st = add_public(ents, n, c->slot, PROV_ENT_PEER_RPK, 0, PROV_USE_TRUST,
				                prov_cbor_bytes(rpk.peer_spki, rpk.peer_len), e);
			prov_rec_rpk_free(&rpk);
			if (n_key_slots == 0 || key_slots[0] != c->slot)
				key_slots[n_key_slots++] = c->slot;
			break;
		case PROV_CRED_PSK:
			st = prov_records_psk(h->db, id, gen, c->slot, &d->psk[i], &found, e);
			if (st == PROV_OK && !found)
				st = missing_slot(id, d, c, e);
			if (st != PROV_OK)
				break;
			st = add_secret(h, ents, n, id, gen, c->slot, c->slot, PROV_ENT_PSK, 0, PROV_USE_DERIVE,
			                d->psk[i].sealed, d->psk[i].sealed_len, e);
			if (st == PROV_OK) {
				ents[*n - 1].ident = d->psk[i].identity;
				ents[*n - 1].ident_len = d->psk[i].identity_len;
			}
			break;
		case PROV_CRED_TRUST:
			st = add_public(ents, n, c->slot, c->store ? PROV_ENT_TRUST_STORE : PROV_ENT_CA_CERTS, 0, PROV_USE_TRUST,
			                prov_cbor_bytes(t->trust_der, t->trust_der_len), e);
			break;
		}
	}
	/* A host-made device key travels (encrypted) to each slot that uses it. */
	if (strcmp(d->key.origin, "host") == 0)
		for (size_t k = 0; k < n_key_slots && st == PROV_OK; k++)
			st = add_secret(h, ents, n, id, gen, -1, key_slots[k], PROV_ENT_PRIVATE_KEY,
			                key_alg(d->key.key_type), PROV_USE_SIGN, d->key.sealed, d->key.sealed_len, e);
	return st;
}

/* The entries array, in (slot, type) order; secret entries become the index of
 * their secret in `secrets` (a CBOR array of byte strings, in the same order). */
static prov_status encode_entries(entry *ents, size_t n, cbor_item_t **arr, cbor_item_t **secrets,
                                  int *n_secrets, prov_err *e)
{
	int bad = 0, k = 0;

	qsort(ents, n, sizeof(ents[0]), entry_cmp);
	*arr = cbor_new_definite_array(n);
	*secrets = NULL;
	for (size_t i = 0; i < n; i++)
		k += ents[i].value == NULL;
	*n_secrets = k;
	if (k > 0)
		*secrets = cbor_new_definite_array((size_t)k);
	if (*arr == NULL || (k > 0 && *secrets == NULL))
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	k = 0;
	for (size_t i = 0; i < n && !bad; i++) {
		entry *x = &ents[i];
		cbor_item_t *m = cbor_new_definite_map(6), *v;

		if (m == NULL)
			return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		if (x->value != NULL) {
			v = x->value;
			x->value = NULL;
		} else {
			/* The copy of the secret: if the push fails, wipe it before it goes. */
			cbor_item_t *sec = prov_cbor_bytes(x->secret, x->secret_len);

			v = prov_cbor_uint((uint64_t)k++);
			if (sec == NULL || !cbor_array_push(*secrets, sec))
				bad = 1;
			prov_cbor_decref_wipe(&sec); /* wipes only if the array did not take it */
		}
		bad |= prov_cbor_map_put_int(m, PROV_EK_SLOT, prov_cbor_uint(x->slot));
		bad |= prov_cbor_map_put_int(m, PROV_EK_TYPE, prov_cbor_uint((uint64_t)x->type));
		if (x->alg != 0)
			bad |= prov_cbor_map_put_int(m, PROV_EK_ALG, prov_cbor_int(x->alg));
		bad |= prov_cbor_map_put_int(m, PROV_EK_USAGE, prov_cbor_uint(x->usage));
		bad |= prov_cbor_map_put_int(m, PROV_EK_VALUE, v);
		if (x->ident != NULL)
			bad |= prov_cbor_map_put_int(m, PROV_EK_IDENTITY, prov_cbor_bytes(x->ident, x->ident_len));
		bad |= prov_cbor_array_push(*arr, m);
	}
	return bad ? prov_err_set(e, PROV_E_INTERNAL, "out of memory") : PROV_OK;
}

/* Wipe the secret bytes held by an array of byte strings, then release it. */
static void secrets_release(cbor_item_t **secrets)
{
	if (*secrets == NULL)
		return;
	for (size_t i = 0; i < cbor_array_size(*secrets); i++) {
		cbor_item_t *b = cbor_array_get(*secrets, i);

		if (b != NULL && cbor_isa_bytestring(b))
			prov_wipe(cbor_bytestring_handle(b), cbor_bytestring_length(b));
		if (b != NULL)
			cbor_decref(&b);
	}
	cbor_decref(secrets);
}

/* The bundle's secrets, one COSE_Encrypt to the recipient: one ECDH-ES per
 * bundle, on the host and on the device. */
static prov_status seal_secrets(prov_home *h, EVP_PKEY *recipient, const uint8_t *kid,
                                cbor_item_t *secrets, cbor_item_t **out, prov_err *e)
{
	prov_cose_enc_fixed opts;
	uint8_t *pt = NULL;
	size_t pt_len = 0;
	prov_status st;

	memset(&opts, 0, sizeof(opts));
	st = prov_keygen_ctx(&h->keygen, PROV_KEY_P256, &opts.keygen, e);
	if (st == PROV_OK)
		st = prov_cbor_encode(secrets, &pt, &pt_len, e);
	if (st == PROV_OK)
		st = prov_cose_encrypt_ecdh_es(recipient, PROV_COSE_ALG_AES_CCM_16_64_128, kid, 8, pt,
		                               pt_len, NULL, 0, &opts, out, e);
	if (pt != NULL) {
		prov_wipe(pt, pt_len);
		free(pt);
	}
	return st;
}

static cbor_item_t *tls_profile(const prov_template *t)
{
	const json_t *tls = t->tls;
	cbor_item_t *m = cbor_new_definite_map(11), *a;
	json_t *v;
	int bad = 0;

	if (m == NULL)
		return NULL;
	bad |= prov_cbor_map_put_int(m, PROV_T_PROTOCOL, prov_cbor_text(t->protocol));
	if ((v = json_object_get(tls, "transport")) != NULL)
		bad |= prov_cbor_map_put_int(m, PROV_T_TRANSPORT,
		                             prov_cbor_uint(strcmp(json_string_value(v), "dtls") == 0));
	if ((v = json_object_get(tls, "versions")) != NULL) {
		/* Wire codes (RFC 8446 4.2.1): 0x0303 is TLS 1.2, 0x0304 TLS 1.3; sorted. */
		int has12 = 0, has13 = 0;

		for (size_t i = 0; i < json_array_size(v); i++) {
			const char *s = json_string_value(json_array_get(v, i));

			has12 |= strcmp(s, "1.2") == 0;
			has13 |= strcmp(s, "1.3") == 0;
		}
		a = cbor_new_definite_array((size_t)(has12 + has13));
		if (a != NULL && has12)
			bad |= prov_cbor_array_push(a, prov_cbor_uint(0x0303));
		if (a != NULL && has13)
			bad |= prov_cbor_array_push(a, prov_cbor_uint(0x0304));
		bad |= prov_cbor_map_put_int(m, PROV_T_VERSIONS, a);
	}
	if ((v = json_object_get(tls, "cipher_suites")) != NULL) {
		/* In the template's order: it is the preference order. */
		a = cbor_new_definite_array(json_array_size(v));
		for (size_t i = 0; a != NULL && i < json_array_size(v); i++)
			bad |= prov_cbor_array_push(
				a, prov_cbor_uint(prov_tls_suite_code(json_string_value(json_array_get(v, i)))));
		bad |= prov_cbor_map_put_int(m, PROV_T_SUITES, a);
	}
	if ((v = json_object_get(tls, "record_size_limit")) != NULL)
		bad |= prov_cbor_map_put_int(m, PROV_T_RECORD_LIMIT, prov_cbor_uint((uint64_t)json_integer_value(v)));
	if ((v = json_object_get(tls, "max_fragment_length")) != NULL)
		bad |= prov_cbor_map_put_int(m, PROV_T_MAX_FRAG, prov_cbor_uint((uint64_t)json_integer_value(v)));
	if ((v = json_object_get(tls, "resumption")) != NULL) {
		json_t *lt = json_object_get(v, "ticket_lifetime");

		bad |= prov_cbor_map_put_int(m, PROV_T_RESUMPTION,
		                             cbor_build_bool(json_is_true(json_object_get(v, "allowed"))));
		if (lt != NULL)
			bad |= prov_cbor_map_put_int(m, PROV_T_TICKET_LIFETIME,
			                             prov_cbor_uint((uint64_t)json_integer_value(lt)));
	}
	if ((v = json_object_get(tls, "time_check")) != NULL) {
		const char *s = json_string_value(v);

		bad |= prov_cbor_map_put_int(m, PROV_T_TIME_CHECK,
		                             prov_cbor_uint(strcmp(s, "skip") == 0 ? 1 : strcmp(s, "floor") == 0 ? 2 : 0));
	}
	if ((v = json_object_get(tls, "time_floor")) != NULL) {
		struct tm tm;
		const char *s = json_string_value(v);

		/* The schema fixes the form YYYY-MM-DDTHH:MM:SSZ. */
		memset(&tm, 0, sizeof(tm));
		if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		           &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
			bad = 1;
		} else {
			tm.tm_year -= 1900;
			tm.tm_mon -= 1;
		}
		if (!bad)
			bad |= prov_cbor_map_put_int(m, PROV_T_TIME_FLOOR, prov_cbor_uint((uint64_t)timegm(&tm)));
	}
	if ((v = json_object_get(tls, "server_name")) != NULL)
		bad |= prov_cbor_map_put_int(m, PROV_T_SERVER_NAME, prov_cbor_text(json_string_value(v)));
	if (bad) {
		cbor_decref(&m);
		return NULL;
	}
	return m;
}

static prov_status record_bundle(prov_home *h, const char *id, const dev_data *d,
                                 const prov_bundle_opts *o, const prov_bundle_info *info,
                                 const uint8_t *data, size_t len, prov_err *e)
{
	prov_rec_bundle b;
	char hex[65], detail[256];
	prov_status st;

	prov_hex(info->sha256, sizeof(info->sha256), hex);
	memset(&b, 0, sizeof(b));
	b.counter = info->counter;
	b.generation = d->dev.generation;
	b.nonce = (uint8_t *)o->nonce;
	b.nonce_len = o->nonce_len;
	b.sha256 = hex;
	/* A lab bundle holds secrets in the clear: the database never does. */
	b.data = info->plaintext_secrets ? NULL : (uint8_t *)data;
	b.data_len = info->plaintext_secrets ? 0 : len;
	st = prov_records_device_bundled(h->db, id, info->counter, e);
	if (st == PROV_OK)
		st = prov_records_bundle_add(h->db, id, &b, len, e);
	if (st != PROV_OK)
		return st;
	snprintf(detail, sizeof(detail),
	         "{\"counter\":%llu,\"plaintext_secrets\":%s,\"secrets\":%d,\"sha256\":\"%s\"}",
	         info->counter, info->plaintext_secrets ? "true" : "false", info->n_secrets, hex);
	return prov_records_audit(h->db, o->wipe ? "wipe" : "bundle", id, detail, e);
}

/* --trust: the device's template with other anchors in its trust slot, recorded
 * in the database and made the device's template. */
static prov_status override_trust(prov_home *h, const char *id, const prov_template *t,
                                  const char *path, prov_template **own, prov_err *e)
{
	char hex[65];
	prov_status st = prov_template_dup(t, own, e);

	if (st == PROV_OK)
		st = prov_template_set_trust(*own, path, e);
	if (st == PROV_OK)
		st = prov_template_store(h, *own, e);
	if (st != PROV_OK)
		return st;
	prov_hex((*own)->digest, sizeof((*own)->digest), hex);
	return prov_records_device_set_template(h->db, id, hex, e);
}

prov_status prov_bundle_build(prov_home *h, const char *device_id, const prov_bundle_opts *o,
                              uint8_t **out, size_t *out_len, prov_bundle_info *info,
                              prov_err *e)
{
	dev_data d;
	const prov_template *t = NULL;
	prov_template *own_tpl = NULL;
	entry ents[PROV_BUNDLE_MAX_ENTRIES];
	size_t n = 0;
	cbor_item_t *payload = NULL, *arr = NULL, *tls = NULL, *secrets = NULL, *sealed = NULL;
	uint8_t *pbuf = NULL;
	size_t plen = 0;
	EVP_PKEY *recipient;
	uint8_t kid[8] = {0};
	int plaintext = 0, bad = 0;
	prov_status st;

	*out = NULL;
	*out_len = 0;
	memset(&d, 0, sizeof(d));
	memset(info, 0, sizeof(*info));
	if (o->nonce != NULL && (o->nonce_len < PROV_NONCE_MIN || o->nonce_len > PROV_NONCE_MAX))
		return prov_err_set(e, PROV_E_USAGE, "nonce must be %d to %d bytes", PROV_NONCE_MIN,
		                    PROV_NONCE_MAX);
	st = load_device(h, device_id, o->recipient == NULL && !o->wipe, &d, e);
	/* A revoked generation's credentials are not sent again; a wipe is. */
	if (st == PROV_OK && !o->wipe) {
		int revoked = 0;

		st = prov_records_revoked(h->db, device_id, d.dev.generation, &revoked, e);
		if (st == PROV_OK && revoked)
			st = prov_err_set(e, PROV_E_USAGE, "device %s is revoked (generation %d): only a wipe "
			                  "bundle (--wipe), or new credentials first (prov mint --rotate)",
			                  device_id, d.dev.generation);
	}
	if (st == PROV_OK && !o->wipe)
		st = prov_template_recorded(h, d.dev.template_digest, &t, e);
	if (st == PROV_OK && !o->wipe && o->trust_file != NULL &&
	    (st = override_trust(h, device_id, t, o->trust_file, &own_tpl, e)) == PROV_OK)
		t = own_tpl;
	if (st != PROV_OK)
		goto out;
	if (o->wipe) {
		/* A wipe bundle carries no credentials: entries [], no TLS profile, no
		 * secrets, and 9 => true (schemas/bundle.cddl, wipe-payload). */
		arr = cbor_new_definite_array(0);
		if (arr == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
			goto out;
		}
		goto payload;
	}
	recipient = o->recipient != NULL ? o->recipient : d.recipient;
	plaintext = o->insecure_plaintext && o->recipient == NULL;
	{
		int has_secrets = prov_template_find(t, PROV_CRED_PSK) != NULL ||
		                  strcmp(d.key.origin, "host") == 0;

		if (has_secrets && recipient == NULL && !plaintext) {
			st = prov_err_set(e, PROV_E_USAGE,
			                  "device %s has secrets and no recipient key to encrypt them to: "
			                  "give --recipient-key (or --insecure-plaintext-secrets, lab only)",
			                  device_id);
			goto out;
		}
		if (!has_secrets)
			plaintext = 0;
		if (has_secrets && !plaintext && prov_key_type_of(recipient) != PROV_KEY_P256) {
			st = prov_err_set(e, PROV_E_INPUT, "recipient key must be P-256 (ECDH-ES)");
			goto out;
		}
		if (has_secrets && !plaintext) {
			if (o->recipient_kid != NULL && recipient == o->recipient)
				memcpy(kid, o->recipient_kid, sizeof(kid));
			else if ((st = prov_key_kid(recipient, kid, e)) != PROV_OK)
				goto out;
		}
	}
	st = collect_entries(h, device_id, t, &d, ents, &n, e);
	if (st == PROV_OK)
		st = encode_entries(ents, n, &arr, &secrets, &info->n_secrets, e);
	if (st == PROV_OK && secrets != NULL && !plaintext)
		st = seal_secrets(h, recipient, kid, secrets, &sealed, e);
	if (st != PROV_OK)
		goto out;
payload:
	info->counter = d.dev.bundle_counter + 1;
	info->n_entries = n;
	info->plaintext_secrets = plaintext && info->n_secrets > 0;
	payload = cbor_new_definite_map(8);
	if (payload == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	bad |= prov_cbor_map_put_int(payload, PROV_B_VERSION, prov_cbor_uint(PROV_BUNDLE_VERSION));
	bad |= prov_cbor_map_put_int(payload, PROV_B_DEVICE, prov_cbor_text(device_id));
	bad |= prov_cbor_map_put_int(payload, PROV_B_COUNTER, prov_cbor_uint(info->counter));
	if (o->nonce != NULL)
		bad |= prov_cbor_map_put_int(payload, PROV_B_NONCE, prov_cbor_bytes(o->nonce, o->nonce_len));
	bad |= prov_cbor_map_put_int(payload, PROV_B_ISSUED_AT, prov_cbor_uint((uint64_t)prov_now()));
	bad |= prov_cbor_map_put_int(payload, PROV_B_ENTRIES, arr);
	arr = NULL;
	if (o->wipe)
		bad |= prov_cbor_map_put_int(payload, PROV_B_WIPE, cbor_build_bool(true));
	if (t != NULL && t->tls != NULL) {
		tls = tls_profile(t);
		bad |= tls == NULL || prov_cbor_map_put_int(payload, PROV_B_TLS, tls);
		tls = NULL;
	}
	if (sealed != NULL) {
		bad |= prov_cbor_map_put_int(payload, PROV_B_SECRETS, sealed);
		sealed = NULL;
	} else if (secrets != NULL) {
		/* Lab mode: the bare array.  The reference stays ours, to wipe it. */
		bad |= prov_cbor_map_put_int(payload, PROV_B_SECRETS, cbor_incref(secrets));
	}
	if (bad) {
		st = prov_err_set(e, PROV_E_INTERNAL, "cannot build the bundle payload");
		goto out;
	}
	st = prov_cbor_encode(payload, &pbuf, &plen, e);
	if (st == PROV_OK && h->bundle_signer.key == NULL)
		st = prov_cose_signer_init(&h->bundle_signer, h->signer, e);
	if (st == PROV_OK)
		st = prov_cose_sign1_create_with(&h->bundle_signer, h->signer_kid, sizeof(h->signer_kid),
		                                 pbuf, plen, out, out_len, e);
	if (st != PROV_OK)
		goto out;
	if (*out_len > PROV_BUNDLE_MAX) {
		st = prov_err_set(e, PROV_E_INPUT, "bundle of %zu bytes exceeds the %d-byte limit", *out_len,
		                  PROV_BUNDLE_MAX);
		goto out;
	}
	EVP_Digest(*out, *out_len, info->sha256, NULL, prov_md_sha256(), NULL);
	st = record_bundle(h, device_id, &d, o, info, *out, *out_len, e);
out:
	if (st != PROV_OK) {
		if (*out != NULL)
			prov_wipe(*out, *out_len);
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	entries_free(ents, n);
	secrets_release(&secrets);
	if (sealed != NULL)
		cbor_decref(&sealed);
	if (payload != NULL)
		cbor_decref(&payload);
	if (arr != NULL)
		cbor_decref(&arr);
	if (pbuf != NULL) {
		prov_wipe(pbuf, plen); /* may hold plaintext secrets in lab mode */
		free(pbuf);
	}
	dev_data_free(&d);
	prov_template_free(own_tpl);
	return st;
}
