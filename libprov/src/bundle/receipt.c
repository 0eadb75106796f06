/* receipt.c - install receipts: build, verify, record (see prov/receipt.h). */
#include "prov/receipt.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/bundle.h"
#include "prov/cbor.h"
#include "prov/cose.h"
#include "prov/keys.h"
#include "prov/records.h"
#include "prov/util.h"

#define KID_LEN 8
#define ES256_SIG_LEN 64 /* r || s, RFC 9053 section 2.1 */
#define DEVICE_ID_MAX 64

static int is_bytes(const cbor_item_t *i, size_t min, size_t max)
{
	return i != NULL && cbor_isa_bytestring(i) && cbor_bytestring_is_definite(i) &&
	       cbor_bytestring_length(i) >= min && cbor_bytestring_length(i) <= max;
}

static int is_text(const cbor_item_t *i, size_t min, size_t max)
{
	return i != NULL && cbor_isa_string(i) && cbor_string_is_definite(i) &&
	       cbor_string_length(i) >= min && cbor_string_length(i) <= max;
}

/* The payload bstr of a tagged COSE_Sign1, borrowed from `top` (decoded by the
 * caller).  NULL if the shape is wrong. */
static cbor_item_t *sign1_field(cbor_item_t *top, size_t i)
{
	cbor_item_t *a, *f;

	if (!cbor_isa_tag(top) || cbor_tag_value(top) != PROV_COSE_TAG_SIGN1)
		return NULL;
	a = cbor_tag_item(top);
	f = cbor_isa_array(a) && cbor_array_is_definite(a) && cbor_array_size(a) == 4
	    ? cbor_array_handle(a)[i] : NULL;
	cbor_decref(&a); /* the tag keeps its own reference */
	return f;
}

prov_status prov_receipt_manifest_digest(const uint8_t *bundle, size_t len,
                                         uint8_t digest[PROV_RECEIPT_DIGEST_LEN], prov_err *e)
{
	cbor_item_t *top = NULL, *p;
	prov_status st = prov_cbor_decode(bundle, len, &top, e);

	if (st != PROV_OK)
		return prov_err_wrap(e, "bundle");
	p = sign1_field(top, 2);
	if (!is_bytes(p, 0, len)) {
		st = prov_err_set(e, PROV_E_INPUT, "bundle: not a COSE_Sign1 with a payload");
	} else if (EVP_Digest(cbor_bytestring_handle(p), cbor_bytestring_length(p), digest, NULL,
	                      EVP_sha256(), NULL) != 1) {
		st = prov_err_ssl(e, PROV_E_CRYPTO, "SHA-256");
	}
	cbor_decref(&top);
	return st;
}

prov_status prov_receipt_build(EVP_PKEY *device_key, const char *device_id,
                               unsigned long long counter,
                               const uint8_t digest[PROV_RECEIPT_DIGEST_LEN],
                               const uint8_t *nonce, size_t nonce_len, uint8_t **out,
                               size_t *out_len, prov_err *e)
{
	cbor_item_t *m = cbor_new_definite_map(5);
	uint8_t kid[KID_LEN], *pl = NULL;
	size_t pl_len = 0;
	prov_status st;
	int bad = 0;

	*out = NULL;
	*out_len = 0;
	if (m == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	bad |= prov_cbor_map_put_int(m, PROV_R_VERSION, prov_cbor_uint(PROV_RECEIPT_VERSION));
	bad |= prov_cbor_map_put_int(m, PROV_R_DEVICE, prov_cbor_text(device_id));
	bad |= prov_cbor_map_put_int(m, PROV_R_COUNTER, prov_cbor_uint(counter));
	bad |= prov_cbor_map_put_int(m, PROV_R_DIGEST, prov_cbor_bytes(digest, PROV_RECEIPT_DIGEST_LEN));
	if (nonce != NULL)
		bad |= prov_cbor_map_put_int(m, PROV_R_NONCE, prov_cbor_bytes(nonce, nonce_len));
	st = bad ? prov_err_set(e, PROV_E_INTERNAL, "out of memory") : prov_cbor_encode(m, &pl, &pl_len, e);
	if (st == PROV_OK)
		st = prov_key_kid(device_key, kid, e);
	if (st == PROV_OK)
		st = prov_cose_sign1_create(device_key, kid, sizeof(kid), pl, pl_len, out, out_len, e);
	free(pl);
	cbor_decref(&m);
	return st;
}

/* ---- reading ---------------------------------------------------------------------- */

/* The envelope, checked against schemas/receipt.cddl before any key is used:
 * tag 18, [<< {1: -7, 4: kid} >>, {}, payload, 64-byte signature].  Fills the kid
 * and returns the decoded (not yet trusted) payload map in *payload. */
static prov_status read_envelope(const uint8_t *buf, size_t len, prov_receipt *r,
                                 cbor_item_t **top, cbor_item_t **payload, prov_err *e)
{
	cbor_item_t *prot = NULL, *alg, *kid, *f;
	int64_t a;
	prov_status st;

	*payload = NULL;
	st = prov_cbor_decode(buf, len, top, e);
	if (st != PROV_OK)
		return prov_err_wrap(e, "not a receipt");
	if (sign1_field(*top, 0) == NULL)
		return prov_err_set(e, PROV_E_INPUT, "not a receipt: not a tagged COSE_Sign1 (tag 18, 4 elements)");
	f = sign1_field(*top, 0);
	if (!is_bytes(f, 1, 64) ||
	    prov_cbor_decode(cbor_bytestring_handle(f), cbor_bytestring_length(f), &prot, NULL) != PROV_OK)
		return prov_err_set(e, PROV_E_INPUT, "not a receipt: the protected header is not a CBOR map");
	alg = cbor_isa_map(prot) ? prov_cbor_map_get_int(prot, 1) : NULL;
	kid = cbor_isa_map(prot) ? prov_cbor_map_get_int(prot, 4) : NULL;
	if (!cbor_isa_map(prot) || cbor_map_size(prot) != 2 || alg == NULL || prov_cbor_get_int(alg, &a) != 0 ||
	    a != PROV_COSE_ALG_ES256 || !is_bytes(kid, KID_LEN, KID_LEN)) {
		cbor_decref(&prot);
		return prov_err_set(e, PROV_E_INPUT,
		                    "not a receipt: the protected header is not {1: -7 (ES256), 4: 8-byte kid}");
	}
	memcpy(r->kid, cbor_bytestring_handle(kid), KID_LEN);
	cbor_decref(&prot);
	f = sign1_field(*top, 1);
	if (!cbor_isa_map(f) || cbor_map_size(f) != 0)
		return prov_err_set(e, PROV_E_INPUT, "not a receipt: the unprotected header is not empty");
	if (!is_bytes(sign1_field(*top, 3), ES256_SIG_LEN, ES256_SIG_LEN))
		return prov_err_set(e, PROV_E_INPUT, "not a receipt: the signature is not 64 bytes (r || s)");
	f = sign1_field(*top, 2);
	if (!is_bytes(f, 1, PROV_RECEIPT_MAX) ||
	    prov_cbor_decode(cbor_bytestring_handle(f), cbor_bytestring_length(f), payload, NULL) != PROV_OK ||
	    !cbor_isa_map(*payload))
		return prov_err_set(e, PROV_E_INPUT, "not a receipt: the payload is not a CBOR map");
	return PROV_OK;
}

/* Only the device ID, to find the key that must have signed: nothing else of the
 * payload is looked at before the signature verifies. */
static prov_status peek_device(const cbor_item_t *payload, prov_receipt *r, prov_err *e)
{
	const cbor_item_t *d = prov_cbor_map_get_int(payload, PROV_R_DEVICE);

	if (!is_text(d, 1, DEVICE_ID_MAX))
		return prov_err_set(e, PROV_E_INPUT, "receipt payload: device (2): missing or not 1..64 characters");
	memcpy(r->device, cbor_string_handle(d), cbor_string_length(d));
	r->device[cbor_string_length(d)] = 0;
	if (!prov_device_id_valid(r->device) || strlen(r->device) != cbor_string_length(d))
		return prov_err_set(e, PROV_E_INPUT, "receipt payload: device (2): not a device ID");
	return PROV_OK;
}

/* Every rule of the payload (schemas/receipt.cddl), after the signature. */
static prov_status check_payload(const cbor_item_t *p, const uint8_t *raw, size_t raw_len,
                                 prov_receipt *r, prov_err *e)
{
	struct cbor_pair *kv = cbor_map_handle(p);
	const cbor_item_t *v;

	if (!prov_cbor_is_deterministic(raw, raw_len))
		return prov_err_set(e, PROV_E_INPUT, "receipt payload: not deterministic CBOR (RFC 8949 4.2.1)");
	for (size_t i = 0; i < cbor_map_size(p); i++)
		if (!cbor_isa_uint(kv[i].key) || cbor_get_int(kv[i].key) < PROV_R_VERSION ||
		    cbor_get_int(kv[i].key) > PROV_R_NONCE)
			return prov_err_set(e, PROV_E_INPUT, "receipt payload: unknown key");
	v = prov_cbor_map_get_int(p, PROV_R_VERSION);
	if (v == NULL || !cbor_isa_uint(v) || cbor_get_int(v) != PROV_RECEIPT_VERSION)
		return prov_err_set(e, PROV_E_INPUT, "receipt payload: version (1): missing or not %d",
		                    PROV_RECEIPT_VERSION);
	v = prov_cbor_map_get_int(p, PROV_R_COUNTER);
	if (v == NULL || !cbor_isa_uint(v) || cbor_get_int(v) == 0)
		return prov_err_set(e, PROV_E_INPUT, "receipt payload: counter (3): missing or zero");
	r->counter = (unsigned long long)cbor_get_int(v);
	v = prov_cbor_map_get_int(p, PROV_R_DIGEST);
	if (!is_bytes(v, PROV_RECEIPT_DIGEST_LEN, PROV_RECEIPT_DIGEST_LEN))
		return prov_err_set(e, PROV_E_INPUT, "receipt payload: digest (4): missing or not 32 bytes");
	memcpy(r->digest, cbor_bytestring_handle(v), PROV_RECEIPT_DIGEST_LEN);
	v = prov_cbor_map_get_int(p, PROV_R_NONCE);
	if (v != NULL && !is_bytes(v, PROV_NONCE_MIN, PROV_NONCE_MAX))
		return prov_err_set(e, PROV_E_INPUT, "receipt payload: nonce (5): not %d to %d bytes",
		                    PROV_NONCE_MIN, PROV_NONCE_MAX);
	if (v != NULL) {
		r->nonce_len = cbor_bytestring_length(v);
		memcpy(r->nonce, cbor_bytestring_handle(v), r->nonce_len);
	}
	return PROV_OK;
}

/* The device's registered key (its recipient key). */
static prov_status device_key(prov_home *h, const char *id, EVP_PKEY **key, prov_err *e)
{
	prov_rec_device d;
	prov_status st = prov_records_device(h->db, id, &d, e);

	if (st == PROV_OK && d.recipient_spki == NULL)
		st = prov_err_set(e, PROV_E_NOTFOUND,
		                  "device %s has no registered key to check its receipt against: "
		                  "mint it with --recipient-key (the agent's identity key)", id);
	else if (st == PROV_OK &&
	         (st = prov_key_from_spki(d.recipient_spki, d.recipient_spki_len, key, e)) != PROV_OK)
		prov_err_wrap(e, "stored key of %s", id);
	prov_rec_device_free(&d);
	return st;
}

/* The bundle the receipt names: its manifest digest and nonce. */
static prov_status issued_bundle(prov_home *h, prov_receipt *r, uint8_t digest[32],
                                 uint8_t nonce[PROV_NONCE_MAX], size_t *nonce_len, prov_err *e)
{
	prov_rec_bundle b;
	cbor_item_t *top = NULL, *pl, *payload = NULL;
	int found = 0;
	prov_status st = prov_records_bundle(h->db, r->device, r->counter, &b, &found, e);

	*nonce_len = 0;
	if (st != PROV_OK)
		goto out;
	if (!found || r->counter == 0) {
		st = prov_err_set(e, PROV_E_NOTFOUND, "no bundle with counter %llu was issued to %s",
		                  r->counter, r->device);
		goto out;
	}
	if (b.nonce != NULL) {
		if (b.nonce_len > PROV_NONCE_MAX) {
			st = prov_err_set(e, PROV_E_DB, "bundle %llu of %s: stored nonce too long", r->counter,
			                  r->device);
			goto out;
		}
		memcpy(nonce, b.nonce, b.nonce_len);
		*nonce_len = b.nonce_len;
	}
	if (b.data_len == 0) {
		st = prov_err_set(e, PROV_E_NOTFOUND,
		                  "bundle %llu of %s was not stored (a lab bundle with plaintext secrets): "
		                  "its manifest digest cannot be checked", r->counter, r->device);
		goto out;
	}
	st = prov_receipt_manifest_digest(b.data, b.data_len, digest, e);
	if (st != PROV_OK) {
		prov_err_wrap(e, "stored bundle %llu of %s", r->counter, r->device);
		goto out;
	}
	/* Whether it was a wipe bundle, for the audit trail. */
	if (prov_cbor_decode(b.data, b.data_len, &top, NULL) == PROV_OK && (pl = sign1_field(top, 2)) != NULL &&
	    cbor_isa_bytestring(pl) &&
	    prov_cbor_decode(cbor_bytestring_handle(pl), cbor_bytestring_length(pl), &payload, NULL) == PROV_OK &&
	    cbor_isa_map(payload))
		r->wipe = prov_cbor_map_get_int(payload, PROV_B_WIPE) != NULL;
out:
	if (payload != NULL)
		cbor_decref(&payload);
	if (top != NULL)
		cbor_decref(&top);
	prov_rec_bundle_free(&b);
	return st;
}

static prov_status record(prov_home *h, prov_receipt *r, const uint8_t *buf, size_t len,
                          prov_err *e)
{
	char dhex[2 * PROV_RECEIPT_DIGEST_LEN + 1], nhex[2 * PROV_NONCE_MAX + 1], detail[256];
	int has = 0;
	prov_status st = prov_records_install_has(h->db, r->device, r->counter, &has, e);

	if (st != PROV_OK)
		return st;
	if (has) {
		r->already = 1;
		return PROV_OK;
	}
	st = prov_records_install_add(h->db, r->device, r->counter, r->digest, PROV_RECEIPT_DIGEST_LEN, buf,
	                              len, e);
	if (st == PROV_OK)
		st = prov_records_device_installed(h->db, r->device, e);
	if (st != PROV_OK)
		return st;
	prov_hex(r->digest, PROV_RECEIPT_DIGEST_LEN, dhex);
	prov_hex(r->nonce, r->nonce_len, nhex);
	snprintf(detail, sizeof(detail), "{\"counter\":%llu,\"digest\":\"%s\",\"nonce\":%s%s%s,\"wipe\":%s}",
	         r->counter, dhex, r->nonce_len ? "\"" : "", r->nonce_len ? nhex : "null",
	         r->nonce_len ? "\"" : "", r->wipe ? "true" : "false");
	return prov_records_audit(h->db, "install", r->device, detail, e);
}

/* The size limit, the envelope and the device ID: what is read before a key. */
static prov_status open_receipt(const uint8_t *buf, size_t len, prov_receipt *r, cbor_item_t **top,
                                cbor_item_t **payload, prov_err *e)
{
	prov_status st;

	memset(r, 0, sizeof(*r));
	*top = NULL;
	*payload = NULL;
	if (len > PROV_RECEIPT_MAX)
		return prov_err_set(e, PROV_E_INPUT, "not a receipt: %zu bytes, more than the %d-byte limit",
		                    len, PROV_RECEIPT_MAX);
	st = read_envelope(buf, len, r, top, payload, e);
	if (st == PROV_OK)
		st = peek_device(*payload, r, e);
	return st;
}

prov_status prov_receipt_parse(const uint8_t *buf, size_t len, prov_receipt *r, prov_err *e)
{
	cbor_item_t *top, *payload;
	prov_status st = open_receipt(buf, len, r, &top, &payload, e);

	if (payload != NULL)
		cbor_decref(&payload);
	if (top != NULL)
		cbor_decref(&top);
	return st;
}

prov_status prov_receipt_check(EVP_PKEY *key, const uint8_t *buf, size_t len, prov_receipt *r,
                               prov_err *e)
{
	cbor_item_t *top, *payload, *pl;
	uint8_t kid[KID_LEN];
	char a[2 * KID_LEN + 1], b[2 * KID_LEN + 1];
	prov_err verr;
	prov_status st;

	st = open_receipt(buf, len, r, &top, &payload, e);
	if (st == PROV_OK)
		st = prov_key_kid(key, kid, e);
	if (st != PROV_OK)
		goto out;
	if (memcmp(kid, r->kid, KID_LEN) != 0) {
		prov_hex(r->kid, KID_LEN, a);
		prov_hex(kid, KID_LEN, b);
		st = prov_err_set(e, PROV_E_VERIFY,
		                  "receipt for %s is signed by another key: kid %s, the device's key is %s",
		                  r->device, a, b);
		goto out;
	}
	memset(&verr, 0, sizeof(verr));
	if (prov_cose_sign1_verify(&key, 1, buf, len, NULL, 0, 0, NULL, &verr) != PROV_OK) {
		st = prov_err_set(e, PROV_E_VERIFY, "receipt signature does not verify with the key of %s: %s",
		                  r->device, verr.msg);
		goto out;
	}
	/* Verified: now the payload is the device's word. */
	pl = sign1_field(top, 2);
	st = check_payload(payload, cbor_bytestring_handle(pl), cbor_bytestring_length(pl), r, e);
out:
	if (payload != NULL)
		cbor_decref(&payload);
	if (top != NULL)
		cbor_decref(&top);
	return st;
}

prov_status prov_receipt_record(prov_home *h, const uint8_t *buf, size_t len, prov_receipt *r,
                                prov_err *e)
{
	EVP_PKEY *key = NULL;
	uint8_t want[PROV_RECEIPT_DIGEST_LEN], nonce[PROV_NONCE_MAX];
	size_t nonce_len = 0;
	char a[2 * PROV_NONCE_MAX + 1], b[2 * PROV_NONCE_MAX + 1];
	prov_status st;

	st = prov_receipt_parse(buf, len, r, e);
	if (st == PROV_OK)
		st = device_key(h, r->device, &key, e);
	if (st == PROV_OK)
		st = prov_receipt_check(key, buf, len, r, e);
	if (st == PROV_OK)
		st = issued_bundle(h, r, want, nonce, &nonce_len, e);
	if (st != PROV_OK)
		goto out;
	if (memcmp(want, r->digest, sizeof(want)) != 0) {
		st = prov_err_set(e, PROV_E_VERIFY,
		                  "manifest digest does not match bundle %llu of %s: the device installed "
		                  "something else", r->counter, r->device);
		goto out;
	}
	if (nonce_len != r->nonce_len || memcmp(nonce, r->nonce, nonce_len) != 0) {
		st = prov_err_set(e, PROV_E_VERIFY, "nonce does not match bundle %llu of %s: receipt has %s, "
		                  "the bundle had %s", r->counter, r->device,
		                  r->nonce_len ? prov_hex(r->nonce, r->nonce_len, a) : "none",
		                  nonce_len ? prov_hex(nonce, nonce_len, b) : "none");
		goto out;
	}
	st = record(h, r, buf, len, e);
out:
	EVP_PKEY_free(key);
	return st;
}
