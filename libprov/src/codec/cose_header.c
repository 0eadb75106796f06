/*
 * cose_header.c - what COSE_Sign1 and COSE_Encrypt share (see prov/cose.h,
 * cose_internal.h): the algorithms and keys provkit knows, and the header buckets
 * (RFC 9052 section 3): bstr-wrapped protected maps, label rules, CBOR shapes.
 *
 * RFC 9052 (structures), RFC 9053 (algorithms).  CBOR goes through prov/cbor.h
 * (libcbor underneath); every primitive is OpenSSL 3 EVP.  Messages we build are
 * deterministic CBOR; messages we read may use any valid encoding, because what
 * is signed or authenticated is the protected header's bytes as received.
 */
#include "prov/cose.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "prov/cbor.h"

#include "cose_internal.h"

#define MAX_HEADER_LABELS 64             /* per header map; ours have two */

/* ---- algorithms and keys --------------------------------------------------------- */

static const struct sign_alg sign_algs[] = {
	{ PROV_COSE_ALG_ES256, "ES256", KEY_P256, 64 },
	{ PROV_COSE_ALG_ES384, "ES384", KEY_P384, 96 },
	{ PROV_COSE_ALG_EDDSA, "EdDSA", KEY_ED25519, 64 },
};

static const struct content_alg content_algs[] = {
	{ PROV_COSE_ALG_AES_CCM_16_64_128, "AES-CCM-16-64-128", 13, 8 },
	{ PROV_COSE_ALG_A128GCM, "A128GCM", 12, 16 },
};

/* Names of algorithms we do not implement, so an error can say what it saw. */
static const struct {
	int alg;
	const char *name;
} other_algs[] = {
	{ -36, "ES512" }, { -37, "PS256" }, { -38, "PS384" }, { -39, "PS512" },
	{ -47, "ES256K" }, { -257, "RS256" }, { -258, "RS384" }, { -259, "RS512" },
	{ -26, "ECDH-ES + HKDF-512" }, { -27, "ECDH-SS + HKDF-256" }, { -29, "ECDH-ES + A128KW" },
	{ -6, "direct" }, { 2, "A192GCM" }, { 3, "A256GCM" }, { 11, "AES-CCM-16-64-256" },
	{ 24, "ChaCha20/Poly1305" },
};

const struct sign_alg *cose_sign_alg_find(int64_t alg)
{
	size_t i;

	for (i = 0; i < sizeof(sign_algs) / sizeof(sign_algs[0]); i++)
		if (sign_algs[i].alg == alg)
			return &sign_algs[i];
	return NULL;
}

const struct content_alg *cose_content_alg_find(int64_t alg)
{
	size_t i;

	for (i = 0; i < sizeof(content_algs) / sizeof(content_algs[0]); i++)
		if (content_algs[i].alg == alg)
			return &content_algs[i];
	return NULL;
}

const char *cose_alg_name(int64_t alg)
{
	const struct sign_alg *s = cose_sign_alg_find(alg);
	const struct content_alg *c = cose_content_alg_find(alg);
	size_t i;

	if (s != NULL)
		return s->name;
	if (c != NULL)
		return c->name;
	if (alg == PROV_COSE_ALG_ECDH_ES_HKDF_256)
		return "ECDH-ES + HKDF-256";
	for (i = 0; i < sizeof(other_algs) / sizeof(other_algs[0]); i++)
		if (other_algs[i].alg == alg)
			return other_algs[i].name;
	return NULL;
}

void cose_describe_alg(const cbor_item_t *item, char *buf, size_t cap)
{
	int64_t v;

	if (item == NULL) {
		snprintf(buf, cap, "(none)");
	} else if (cbor_isa_string(item) && cbor_string_is_definite(item)) {
		const unsigned char *s = cbor_string_handle(item);
		size_t i, n = cbor_string_length(item), o = 0;

		if (cap < 4)
			return;
		buf[o++] = '"';
		for (i = 0; i < n && o + 2 < cap && i < 40; i++)
			buf[o++] = s[i] >= 0x20 && s[i] < 0x7f ? (char)s[i] : '?';
		buf[o++] = '"';
		buf[o] = '\0';
	} else if (prov_cbor_get_int(item, &v) == 0) {
		const char *name = cose_alg_name(v);

		if (name != NULL)
			snprintf(buf, cap, "%s (%" PRId64 ")", name, v);
		else
			snprintf(buf, cap, "%" PRId64, v);
	} else {
		snprintf(buf, cap, "(neither an integer nor text)");
	}
}

enum key_kind cose_key_kind(EVP_PKEY *key)
{
	char group[80];
	size_t len = 0;
	int nid;

	if (key == NULL)
		return KEY_OTHER;
	if (EVP_PKEY_is_a(key, "ED25519"))
		return KEY_ED25519;
	if (!EVP_PKEY_is_a(key, "EC"))
		return KEY_OTHER;
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group,
	                                   sizeof(group), &len) != 1) {
		ERR_clear_error();   /* explicit curve parameters: not supported */
		return KEY_OTHER;
	}
	nid = OBJ_sn2nid(group);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(group);
	if (nid == NID_X9_62_prime256v1)
		return KEY_P256;
	if (nid == NID_secp384r1)
		return KEY_P384;
	return KEY_OTHER;
}

int prov_cose_sign_alg_for_key(EVP_PKEY *key)
{
	enum key_kind k = cose_key_kind(key);
	size_t i;

	for (i = 0; i < sizeof(sign_algs) / sizeof(sign_algs[0]); i++)
		if (k != KEY_OTHER && sign_algs[i].kind == k)
			return sign_algs[i].alg;
	return 0;
}

/* ---- CBOR helpers ------------------------------------------------------------------ */

int cose_is_bstr(const cbor_item_t *it)
{
	return it != NULL && cbor_isa_bytestring(it) && cbor_bytestring_is_definite(it);
}

/* libcbor's cbor_is_null / cbor_is_bool assert (abort) when given a float. */
int cose_is_simple(const cbor_item_t *it, int value)
{
	return it != NULL && cbor_isa_float_ctrl(it) && cbor_float_ctrl_is_ctrl(it) &&
	       cbor_ctrl_value(it) == value;
}

int cose_is_map(const cbor_item_t *it)
{
	return it != NULL && cbor_isa_map(it) && cbor_map_is_definite(it);
}

int cose_is_array(const cbor_item_t *it, size_t n)
{
	return it != NULL && cbor_isa_array(it) && cbor_array_is_definite(it) &&
	       cbor_array_size(it) == n;
}

/* A map holding just {1: alg}, encoded: the protected headers we write. */
prov_status cose_encode_alg_header(int alg, uint8_t **out, size_t *out_len, prov_err *e)
{
	prov_status st;
	cbor_item_t *m = cbor_new_definite_map(1);

	if (m == NULL || prov_cbor_map_put_int(m, HDR_ALG, prov_cbor_int(alg)) != 0) {
		st = prov_err_set(e, PROV_E_INTERNAL, "COSE header: out of memory");
		goto out;
	}
	st = prov_cbor_encode(m, out, out_len, e);
out:
	if (m != NULL)
		cbor_decref(&m);
	return st;
}

/* The protected bucket is a bstr wrapping a map; a zero-length bstr is the empty
 * map (RFC 9052 section 3).  *map is NULL for empty. */
prov_status cose_decode_protected(const char *what, const uint8_t *p, size_t n,
                                    cbor_item_t **map, prov_err *e)
{
	prov_status st = PROV_OK;

	*map = NULL;
	if (n == 0)
		goto out;
	st = prov_cbor_decode(p, n, map, e);
	if (st != PROV_OK) {
		prov_err_wrap(e, "%s: protected header", what);
		goto out;
	}
	if (!cose_is_map(*map)) {
		st = prov_err_set(e, PROV_E_INPUT, "%s: protected header: not a map", what);
		cbor_decref(map);
	}
out:
	return st;
}

static int label_eq(const cbor_item_t *a, const cbor_item_t *b)
{
	if (cbor_is_int(a) && cbor_is_int(b))
		return cbor_isa_uint(a) == cbor_isa_uint(b) && cbor_get_int(a) == cbor_get_int(b);
	if (cbor_isa_string(a) && cbor_isa_string(b))
		return cbor_string_length(a) == cbor_string_length(b) &&
		       memcmp(cbor_string_handle(a), cbor_string_handle(b),
		              cbor_string_length(a)) == 0;
	return 0;
}

/* Labels are integers or text and unique within and across the two buckets
 * (RFC 9052 section 3); `prot` may be NULL (empty). */
prov_status cose_check_labels(const char *what, const cbor_item_t *prot,
                                const cbor_item_t *unprot, prov_err *e)
{
	const cbor_item_t *labels[2 * MAX_HEADER_LABELS];
	const cbor_item_t *maps[2] = { prot, unprot };
	size_t m, i, j, n = 0;

	for (m = 0; m < 2; m++) {
		struct cbor_pair *pairs;

		if (maps[m] == NULL)
			continue;
		if (cbor_map_size(maps[m]) > MAX_HEADER_LABELS)
			return prov_err_set(e, PROV_E_INPUT, "%s: header has %zu labels: at most %d "
			                    "are accepted", what, cbor_map_size(maps[m]),
			                    MAX_HEADER_LABELS);
		pairs = cbor_map_handle(maps[m]);
		for (i = 0; i < cbor_map_size(maps[m]); i++) {
			const cbor_item_t *k = pairs[i].key;

			if (!cbor_is_int(k) &&
			    !(cbor_isa_string(k) && cbor_string_is_definite(k)))
				return prov_err_set(e, PROV_E_INPUT, "%s: header label is neither "
				                    "an integer nor text", what);
			for (j = 0; j < n; j++)
				if (label_eq(labels[j], k))
					return prov_err_set(e, PROV_E_INPUT, "%s: duplicate header "
					                    "label", what);
			labels[n++] = k;
		}
	}
	return PROV_OK;
}
