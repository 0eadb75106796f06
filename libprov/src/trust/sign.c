/* trust_sign.c - signed trust stores: a device's roots updated on their own,
 * without a credential bundle (see prov/trust.h, docs/truststore-format.md). */
#include "prov/escape.h"
#include "prov/trust.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/cbor.h"
#include "prov/cose.h"
#include "prov/records.h"
#include "prov/util.h"

int prov_trust_is_signed(const uint8_t *buf, size_t len)
{
	/* tag 18 (0xd2) then a 4-item array (0x84): RFC 9052 COSE_Sign1_Tagged */
	return len >= 2 && buf[0] == 0xd2 && buf[1] == 0x84;
}

static prov_status next_counter(prov_home *h, uint64_t *counter, prov_err *e)
{
	uint8_t *v = NULL;
	size_t n = 0;
	char txt[32];
	uint64_t c = 0;
	prov_status st = prov_records_meta_get(h->db, PROV_TS_META_COUNTER, &v, &n, e);

	if (st == PROV_E_NOTFOUND) {
		st = PROV_OK;
	} else if (st == PROV_OK) {
		char *end = NULL;

		if (n == 0 || n >= sizeof(txt)) {
			free(v);
			return prov_err_set(e, PROV_E_DB, "meta %s: corrupt", PROV_TS_META_COUNTER);
		}
		memcpy(txt, v, n);
		txt[n] = 0;
		c = strtoull(txt, &end, 10);
		if (*end != 0 || c == UINT64_MAX) {
			free(v);
			return prov_err_set(e, PROV_E_DB, "meta %s: corrupt", PROV_TS_META_COUNTER);
		}
	}
	free(v);
	if (st != PROV_OK)
		return st;
	*counter = c + 1;
	n = (size_t)snprintf(txt, sizeof(txt), "%" PRIu64, *counter);
	return prov_records_meta_set(h->db, PROV_TS_META_COUNTER, txt, n, e);
}

static prov_status device_known(prov_home *h, const char *device, prov_err *e)
{
	int gen = 0;
	prov_status st = prov_records_device_generation(h->db, device, &gen, e);

	if (st == PROV_OK && gen == 0)
		st = prov_err_set(e, PROV_E_NOTFOUND, "no such device: %s", device);
	return st;
}

prov_status prov_trust_sign(prov_home *h, const uint8_t *store, size_t len, const char *device,
                            uint8_t **out, size_t *out_len, prov_trust_sign_info *info,
                            prov_err *e)
{
	cbor_item_t *m = NULL;
	uint8_t *payload = NULL, md[32];
	const uint8_t *pins = NULL;
	size_t plen = 0, n = 0;
	char detail[256], hex[65];
	prov_status st;
	int bad;

	*out = NULL;
	*out_len = 0;
	memset(info, 0, sizeof(*info));
	st = prov_trust_store_check(store, len, NULL, &n, e);
	if (st != PROV_OK)
		return st;
	if (device != NULL && !prov_device_id_valid(device))
		return prov_err_set(e, PROV_E_INPUT, "not a valid device ID: %s", device);
	if (device != NULL && (st = device_known(h, device, e)) != PROV_OK)
		return st;
	if ((st = next_counter(h, &info->counter, e)) != PROV_OK)
		return st;
	info->issued_at = prov_now();
	info->n_anchors = n;
	(void)prov_trust_store_pins(store, len, &pins, &info->n_pins); /* a checked store has them */
	m = cbor_new_definite_map(device != NULL ? 6 : 5);
	bad = m == NULL;
	bad = bad || prov_cbor_map_put_int(m, PROV_TS_KIND, prov_cbor_text(PROV_TS_KIND_MARKER)) != 0;
	bad = bad || prov_cbor_map_put_int(m, PROV_TS_VERSION, prov_cbor_uint(PROV_TS_PAYLOAD_VERSION)) != 0;
	if (device != NULL)
		bad = bad || prov_cbor_map_put_int(m, PROV_TS_DEVICE, prov_cbor_text(device)) != 0;
	bad = bad || prov_cbor_map_put_int(m, PROV_TS_COUNTER, prov_cbor_uint(info->counter)) != 0;
	bad = bad || prov_cbor_map_put_int(m, PROV_TS_ISSUED_AT, prov_cbor_uint((uint64_t)info->issued_at)) != 0;
	bad = bad || prov_cbor_map_put_int(m, PROV_TS_STORE, prov_cbor_bytes(store, len)) != 0;
	if (bad) {
		st = prov_err_set(e, PROV_E_INTERNAL, "signed trust store: out of memory");
		goto out;
	}
	st = prov_cbor_encode(m, &payload, &plen, e);
	if (st == PROV_OK)
		st = prov_cose_sign1_create(h->signer, h->signer_kid, sizeof(h->signer_kid), payload, plen, out,
		                            out_len, e);
	if (st == PROV_OK) {
		EVP_Digest(*out, *out_len, md, NULL, EVP_sha256(), NULL);
		snprintf(detail, sizeof(detail),
		         "{\"counter\":%" PRIu64 ",\"anchors\":%zu,\"store_size\":%zu,\"sha256\":\"%s\"}",
		         info->counter, n, len, prov_hex(md, sizeof(md), hex));
		st = prov_records_audit(h->db, "trust-sign", device, detail, e);
	}
	if (st != PROV_OK) {
		free(*out);
		*out = NULL;
	}
out:
	if (m != NULL)
		cbor_decref(&m);
	free(payload);
	return st;
}

static int is_uint_item(const cbor_item_t *x)
{
	return x != NULL && cbor_isa_uint(x);
}

prov_status prov_trust_signed_inspect(const uint8_t *buf, size_t len, EVP_PKEY *const *signers,
                                      size_t n_signers, json_t **out, prov_err *e)
{
	prov_cose_sign1_info si;
	cbor_item_t *p = NULL, *x;
	prov_trust_view *v = NULL;
	const uint8_t *store;
	size_t n = 0, store_len, kind_len = strlen(PROV_TS_KIND_MARKER);
	char kid[17], iso[32], dev[65];
	prov_status st;
	json_t *j;

	*out = NULL;
	st = prov_cose_sign1_verify(signers, n_signers, buf, len, NULL, 0, 0, &si, e);
	if (st == PROV_E_VERIFY) {
		*out = json_pack("{s:{s:s}}", "signed", "status", "invalid");
		return st;
	}
	if (st != PROV_OK)
		return st;
	/* Verified: now the payload may be read. */
	if (prov_cbor_decode(si.payload, si.payload_len, &p, e) != PROV_OK)
		return prov_err_wrap(e, "signed trust store: payload");
	if (!prov_cbor_is_deterministic(si.payload, si.payload_len) || !cbor_isa_map(p)) {
		st = prov_err_set(e, PROV_E_INPUT, "signed trust store: payload is not a deterministic map");
		goto out;
	}
	x = prov_cbor_map_get_int(p, PROV_TS_KIND);
	if (x == NULL || !cbor_isa_string(x) || cbor_string_length(x) != kind_len ||
	    memcmp(cbor_string_handle(x), PROV_TS_KIND_MARKER, kind_len) != 0) {
		st = prov_err_set(e, PROV_E_INPUT, "signed trust store: payload is not a trust store (kind marker missing)");
		goto out;
	}
	for (size_t k = 0; k < cbor_map_size(p); k++) {
		cbor_item_t *key = cbor_map_handle(p)[k].key;
		uint64_t kv = cbor_isa_uint(key) ? cbor_get_int(key) : 99;

		if (kv != PROV_TS_KIND && kv != PROV_TS_VERSION && kv != PROV_TS_DEVICE && kv != PROV_TS_COUNTER &&
		    kv != PROV_TS_ISSUED_AT && kv != PROV_TS_STORE) {
			st = prov_err_set(e, PROV_E_INPUT, "signed trust store: unknown payload key");
			goto out;
		}
	}
	x = prov_cbor_map_get_int(p, PROV_TS_VERSION);
	if (!is_uint_item(x) || cbor_get_int(x) != PROV_TS_PAYLOAD_VERSION) {
		st = prov_err_set(e, PROV_E_INPUT, "signed trust store: version is not %d", PROV_TS_PAYLOAD_VERSION);
		goto out;
	}
	x = prov_cbor_map_get_int(p, PROV_TS_COUNTER);
	if (!is_uint_item(x) || cbor_get_int(x) == 0 || !is_uint_item(prov_cbor_map_get_int(p, PROV_TS_ISSUED_AT))) {
		st = prov_err_set(e, PROV_E_INPUT, "signed trust store: counter or issued-at missing");
		goto out;
	}
	dev[0] = 0;
	x = prov_cbor_map_get_int(p, PROV_TS_DEVICE);
	if (x != NULL) {
		size_t dl = cbor_isa_string(x) ? cbor_string_length(x) : 0;

		if (dl < 1 || dl > 64) {
			st = prov_err_set(e, PROV_E_INPUT, "signed trust store: device is not 1..64 characters");
			goto out;
		}
		memcpy(dev, cbor_string_handle(x), dl);
		dev[dl] = 0;
		if (!prov_device_id_valid(dev)) {
			st = prov_err_set(e, PROV_E_INPUT, "signed trust store: not a valid device ID");
			goto out;
		}
	}
	x = prov_cbor_map_get_int(p, PROV_TS_STORE);
	if (x == NULL || !cbor_isa_bytestring(x) || !cbor_bytestring_is_definite(x)) {
		st = prov_err_set(e, PROV_E_INPUT, "signed trust store: store missing");
		goto out;
	}
	store = cbor_bytestring_handle(x);
	store_len = cbor_bytestring_length(x);
	st = prov_trust_store_check(store, store_len, &v, &n, e);
	if (st != PROV_OK) {
		prov_err_wrap(e, "signed trust store");
		goto out;
	}
	j = prov_trust_store_describe(store, store_len, v, n);
	prov_hex(si.kid != NULL && si.kid_len == 8 ? si.kid : (const uint8_t *)"\0\0\0\0\0\0\0\0", 8, kid);
	json_object_set_new(j, "signed",
	                    json_pack("{s:s, s:s, s:s, s:o, s:s, s:o, s:I}", "status", "valid", "alg",
	                              si.alg == PROV_COSE_ALG_ES256 ? "ES256" : si.alg == PROV_COSE_ALG_ES384 ? "ES384" : "EdDSA",
	                              "kid", kid, "counter",
	                              prov_json_u64(cbor_get_int(prov_cbor_map_get_int(p, PROV_TS_COUNTER))), "issued_at",
	                              prov_time_iso((int64_t)cbor_get_int(prov_cbor_map_get_int(p, PROV_TS_ISSUED_AT)), iso),
	                              "device", dev[0] != 0 ? json_string(dev) : json_null(), "size",
	                              (json_int_t)len));
	*out = j;
out:
	free(v);
	cbor_decref(&p);
	return st;
}
