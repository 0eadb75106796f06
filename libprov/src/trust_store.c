/* trust_store.c - the compact trust store: anchors from certificates, the
 * encoder and the strict reader (see prov/trust.h, docs/truststore-format.md). */
#include "prov/trust.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prov/cbor.h"
#include "prov/util.h"
#include "prov/x509.h"

/* RFC 8017 / common practice: F4, the exponent alg 1 implies. */
#define RSA_F4_VALUE 65537

const char *prov_trust_alg_name(int alg)
{
	switch (alg) {
	case PROV_TRUST_RSA: return "rsa";
	case PROV_TRUST_RSA_EXP: return "rsa-exp";
	case PROV_TRUST_P256: return "p256";
	case PROV_TRUST_P384: return "p384";
	case PROV_TRUST_P521: return "p521";
	case PROV_TRUST_ED25519: return "ed25519";
	}
	return "unknown";
}

/* Compressed point lengths (SEC1 2.3.3): 1 + field size. */
static size_t ec_key_len(int alg)
{
	switch (alg) {
	case PROV_TRUST_P256: return 33;
	case PROV_TRUST_P384: return 49;
	case PROV_TRUST_P521: return 67;
	case PROV_TRUST_ED25519: return 32;
	}
	return 0;
}

static int ec_nid(int alg)
{
	switch (alg) {
	case PROV_TRUST_P256: return NID_X9_62_prime256v1;
	case PROV_TRUST_P384: return NID_secp384r1;
	case PROV_TRUST_P521: return NID_secp521r1;
	}
	return NID_undef;
}

void prov_trust_name_key(const uint8_t *name_der, size_t len, uint8_t out[PROV_TRUST_NAME_KEY_LEN])
{
	uint8_t md[32];

	EVP_Digest(name_der, len, md, NULL, EVP_sha256(), NULL);
	memcpy(out, md, PROV_TRUST_NAME_KEY_LEN);
}

void prov_trust_anchor_clear(prov_trust_anchor *a)
{
	if (a == NULL)
		return;
	free(a->key);
	free(a->exponent);
	free(a->name_constraints);
	free(a->record);
	memset(a, 0, sizeof(*a));
}

static uint8_t *bn_bytes(const BIGNUM *bn, size_t *len)
{
	int n = BN_num_bytes(bn);
	uint8_t *p = malloc(n > 0 ? (size_t)n : 1);

	if (p == NULL)
		return NULL;
	*len = (size_t)BN_bn2bin(bn, p);
	return p;
}

static prov_status rsa_key(EVP_PKEY *pk, prov_trust_anchor *a, prov_err *e)
{
	BIGNUM *n = NULL, *x = NULL;
	prov_status st = PROV_OK;

	if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &x)) {
		st = prov_err_ssl(e, PROV_E_INPUT, "unreadable RSA key");
		goto out;
	}
	a->key = bn_bytes(n, &a->key_len);
	if (a->key == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	if (a->key_len < PROV_TRUST_RSA_MIN || a->key_len > PROV_TRUST_RSA_MAX) {
		st = prov_err_set(e, PROV_E_INPUT, "unsupported key: RSA-%zu (%d to %d bits)",
		                  (size_t)BN_num_bits(n), PROV_TRUST_RSA_MIN * 8, PROV_TRUST_RSA_MAX * 8);
		goto out;
	}
	if (BN_is_word(x, RSA_F4_VALUE)) {
		a->alg = PROV_TRUST_RSA;
	} else {
		a->alg = PROV_TRUST_RSA_EXP;
		a->exponent = bn_bytes(x, &a->exponent_len);
		if (a->exponent == NULL || a->exponent_len == 0)
			st = prov_err_set(e, PROV_E_INPUT, "unsupported key: RSA exponent 0");
	}
out:
	BN_free(n);
	BN_free(x);
	return st;
}

static prov_status ec_key(EVP_PKEY *pk, prov_trust_anchor *a, prov_err *e)
{
	char grp[64];
	uint8_t pub[200];
	size_t pub_len = 0;
	EC_GROUP *g = NULL;
	EC_POINT *pt = NULL;
	int nid;
	prov_status st = PROV_OK;

	if (!EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, grp, sizeof(grp), NULL))
		return prov_err_ssl(e, PROV_E_INPUT, "unsupported key: EC key without a named curve");
	nid = OBJ_sn2nid(grp);
	if (nid == NID_undef)
		nid = EC_curve_nist2nid(grp);
	a->alg = nid == NID_X9_62_prime256v1 ? PROV_TRUST_P256
	         : nid == NID_secp384r1      ? PROV_TRUST_P384
	         : nid == NID_secp521r1      ? PROV_TRUST_P521
	                                     : 0;
	if (a->alg == 0)
		return prov_err_set(e, PROV_E_INPUT, "unsupported key: EC curve %s", grp);
	if (!EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &pub_len))
		return prov_err_ssl(e, PROV_E_INPUT, "unreadable EC public key");
	g = EC_GROUP_new_by_curve_name(nid);
	pt = g != NULL ? EC_POINT_new(g) : NULL;
	a->key_len = ec_key_len(a->alg);
	a->key = malloc(a->key_len);
	if (pt == NULL || a->key == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	if (!EC_POINT_oct2point(g, pt, pub, pub_len, NULL) ||
	    EC_POINT_point2oct(g, pt, POINT_CONVERSION_COMPRESSED, a->key, a->key_len, NULL) != a->key_len)
		st = prov_err_ssl(e, PROV_E_INPUT, "EC public key is not a point of %s", grp);
out:
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	return st;
}

static prov_status ed25519_key(EVP_PKEY *pk, prov_trust_anchor *a, prov_err *e)
{
	size_t n = 32;

	a->alg = PROV_TRUST_ED25519;
	a->key = malloc(n);
	if (a->key == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (!EVP_PKEY_get_raw_public_key(pk, a->key, &n) || n != 32)
		return prov_err_ssl(e, PROV_E_INPUT, "unreadable Ed25519 key");
	a->key_len = n;
	return PROV_OK;
}

/* notAfter as POSIX seconds, or no_expiry for 99991231235959Z (RFC 5280 4.1.2.5). */
static prov_status not_after(X509 *cert, prov_trust_anchor *a, prov_err *e)
{
	const ASN1_TIME *t = X509_get0_notAfter(cert);
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return prov_err_ssl(e, PROV_E_INPUT, "unreadable notAfter");
	if (tm.tm_year + 1900 == 9999 && tm.tm_mon == 11 && tm.tm_mday == 31 && tm.tm_hour == 23 &&
	    tm.tm_min == 59 && tm.tm_sec == 59) {
		a->no_expiry = 1;
		return PROV_OK;
	}
	a->not_after = (int64_t)timegm(&tm);
	if (a->not_after < 0)
		return prov_err_set(e, PROV_E_INPUT, "notAfter before 1970");
	return PROV_OK;
}

prov_status prov_trust_anchor_from_cert(X509 *cert, prov_trust_anchor *a, prov_err *e)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);
	const unsigned char *der = NULL;
	size_t der_len = 0;
	int idx;
	prov_status st;

	memset(a, 0, sizeof(*a));
	if (pk == NULL)
		return prov_err_ssl(e, PROV_E_INPUT, "unsupported key: unreadable public key");
	if (!X509_NAME_get0_der(X509_get_subject_name(cert), &der, &der_len))
		return prov_err_ssl(e, PROV_E_INPUT, "unreadable subject name");
	prov_trust_name_key(der, der_len, a->name_key);
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		st = rsa_key(pk, a, e);
		break;
	case EVP_PKEY_EC:
		st = ec_key(pk, a, e);
		break;
	case EVP_PKEY_ED25519:
		st = ed25519_key(pk, a, e);
		break;
	default:
		st = prov_err_set(e, PROV_E_INPUT, "unsupported key: %s",
		                  EVP_PKEY_get0_type_name(pk) != NULL ? EVP_PKEY_get0_type_name(pk) : "unknown type");
		break;
	}
	if (st == PROV_OK)
		st = not_after(cert, a, e);
	if (st == PROV_OK && (idx = X509_get_ext_by_NID(cert, NID_name_constraints, -1)) >= 0) {
		ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(cert, idx));

		a->nc_len = (size_t)ASN1_STRING_length(v);
		a->name_constraints = malloc(a->nc_len > 0 ? a->nc_len : 1);
		if (a->name_constraints == NULL)
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		else if (a->nc_len == 0)
			st = prov_err_set(e, PROV_E_INPUT, "empty NameConstraints extension");
		else
			memcpy(a->name_constraints, ASN1_STRING_get0_data(v), a->nc_len);
	}
	if (st == PROV_OK)
		st = prov_trust_anchor_encode(a, e);
	if (st != PROV_OK)
		prov_trust_anchor_clear(a);
	return st;
}

prov_status prov_trust_anchor_encode(prov_trust_anchor *a, prov_err *e)
{
	int has_ext = a->exponent != NULL || a->name_constraints != NULL;
	cbor_item_t *arr = cbor_new_definite_array(has_ext ? 4 : 3), *ext = NULL;
	int bad = arr == NULL;
	prov_status st;

	free(a->record);
	a->record = NULL;
	bad = bad || prov_cbor_array_push(arr, prov_cbor_uint((uint64_t)a->alg)) != 0;
	bad = bad || prov_cbor_array_push(arr, prov_cbor_bytes(a->key, a->key_len)) != 0;
	bad = bad || prov_cbor_array_push(arr, a->no_expiry ? cbor_new_null()
	                                                     : prov_cbor_uint((uint64_t)a->not_after)) != 0;
	if (!bad && has_ext) {
		ext = cbor_new_definite_map((a->exponent != NULL) + (a->name_constraints != NULL));
		bad = ext == NULL;
		if (!bad && a->exponent != NULL)
			bad = prov_cbor_map_put_int(ext, PROV_TRUST_EXT_EXPONENT,
			                            prov_cbor_bytes(a->exponent, a->exponent_len)) != 0;
		if (!bad && a->name_constraints != NULL)
			bad = prov_cbor_map_put_int(ext, PROV_TRUST_EXT_NAME_CONSTRAINTS,
			                            prov_cbor_bytes(a->name_constraints, a->nc_len)) != 0;
		if (!bad) {
			bad = prov_cbor_array_push(arr, ext) != 0;
			ext = NULL;
		}
	}
	if (ext != NULL)
		cbor_decref(&ext);
	if (bad) {
		if (arr != NULL)
			cbor_decref(&arr);
		return prov_err_set(e, PROV_E_INTERNAL, "trust anchor: out of memory");
	}
	st = prov_cbor_encode(arr, &a->record, &a->record_len, e);
	cbor_decref(&arr);
	return st;
}

static int anchor_cmp(const void *x, const void *y)
{
	const prov_trust_anchor *a = *(const prov_trust_anchor *const *)x;
	const prov_trust_anchor *b = *(const prov_trust_anchor *const *)y;
	size_t n = a->record_len < b->record_len ? a->record_len : b->record_len;
	int c = memcmp(a->name_key, b->name_key, PROV_TRUST_NAME_KEY_LEN);

	if (c != 0)
		return c;
	c = memcmp(a->record, b->record, n);
	if (c != 0)
		return c;
	return a->record_len < b->record_len ? -1 : a->record_len > b->record_len;
}

prov_status prov_trust_store_encode(const prov_trust_anchor *const *anchors, size_t n,
                                    uint8_t **out, size_t *out_len, prov_err *e)
{
	const prov_trust_anchor **s = NULL;
	uint8_t *index = NULL, *body = NULL;
	size_t ni = 0, nb = 0, total = 0;
	cbor_item_t *arr = NULL;
	prov_status st = PROV_OK;
	int bad;

	*out = NULL;
	*out_len = 0;
	for (size_t i = 0; i < n; i++)
		total += anchors[i]->record_len;
	s = malloc((n > 0 ? n : 1) * sizeof(*s));
	index = malloc(n * PROV_TRUST_INDEX_REC + 1);
	body = malloc(total + 1);
	if (s == NULL || index == NULL || body == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "trust store: out of memory");
		goto out;
	}
	memcpy(s, anchors, n * sizeof(*s));
	qsort(s, n, sizeof(*s), anchor_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && anchor_cmp(&s[i - 1], &s[i]) == 0)
			continue; /* the same record under the same name-key: once is enough */
		if (nb + s[i]->record_len > PROV_TRUST_ANCHORS_MAX) {
			st = prov_err_set(e, PROV_E_INPUT,
			                  "trust store too large: more than %d bytes of anchors (offsets are 16 bits)",
			                  PROV_TRUST_ANCHORS_MAX);
			goto out;
		}
		memcpy(index + ni, s[i]->name_key, PROV_TRUST_NAME_KEY_LEN);
		index[ni + 4] = (uint8_t)(nb >> 8);
		index[ni + 5] = (uint8_t)nb;
		ni += PROV_TRUST_INDEX_REC;
		memcpy(body + nb, s[i]->record, s[i]->record_len);
		nb += s[i]->record_len;
	}
	arr = cbor_new_definite_array(3);
	bad = arr == NULL;
	bad = bad || prov_cbor_array_push(arr, prov_cbor_uint(PROV_TRUST_VERSION)) != 0;
	bad = bad || prov_cbor_array_push(arr, prov_cbor_bytes(index, ni)) != 0;
	bad = bad || prov_cbor_array_push(arr, prov_cbor_bytes(body, nb)) != 0;
	if (bad) {
		st = prov_err_set(e, PROV_E_INTERNAL, "trust store: out of memory");
		goto out;
	}
	st = prov_cbor_encode(arr, out, out_len, e);
out:
	if (arr != NULL)
		cbor_decref(&arr);
	free(s);
	free(index);
	free(body);
	return st;
}

/* ---- the reader ---- */

/* Release a borrowed item (cbor_decref clears the pointer only when it frees). */
static void drop(cbor_item_t **x)
{
	if (*x != NULL) {
		cbor_decref(x);
		*x = NULL;
	}
}

/* The byte string item at buf[pos..]: its content as a pointer into buf (the
 * item is deterministic, so its content is its last `length` bytes). */
static int bstr_at(const uint8_t *buf, size_t len, size_t pos, const uint8_t **p, size_t *n,
                   size_t *next)
{
	size_t il = 0;
	cbor_item_t *it = NULL;
	int ok;

	if (pos >= len || prov_cbor_item_len(buf + pos, len - pos, &il, NULL) != PROV_OK)
		return 0;
	if (prov_cbor_decode(buf + pos, il, &it, NULL) != PROV_OK)
		return 0;
	ok = cbor_isa_bytestring(it) && cbor_bytestring_is_definite(it);
	if (ok) {
		*n = cbor_bytestring_length(it);
		*p = buf + pos + il - *n;
	}
	cbor_decref(&it);
	*next = pos + il;
	return ok;
}

static prov_status check_point(int alg, const uint8_t *k, size_t n, prov_err *e, size_t i)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(ec_nid(alg));
	EC_POINT *pt = g != NULL ? EC_POINT_new(g) : NULL;
	int ok = pt != NULL && EC_POINT_oct2point(g, pt, k, n, NULL) == 1;

	EC_POINT_free(pt);
	EC_GROUP_free(g);
	ERR_clear_error();
	if (!ok)
		return prov_err_set(e, PROV_E_INPUT, "anchor %zu: key is not a point on the %s curve", i,
		                    prov_trust_alg_name(alg));
	return PROV_OK;
}

/* One anchor record (already known to be a deterministic item of rlen bytes). */
static prov_status check_anchor(const uint8_t *r, size_t rlen, size_t i, prov_trust_view *v,
                                prov_err *e)
{
	cbor_item_t *it = NULL, *x = NULL;
	size_t pos, next;
	prov_status st = PROV_OK;
	uint64_t alg;

	if (prov_cbor_decode(r, rlen, &it, e) != PROV_OK)
		return prov_err_wrap(e, "anchor %zu", i);
	if (!prov_cbor_is_deterministic(r, rlen)) {
		st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: not deterministic CBOR", i);
		goto out;
	}
	if (!cbor_isa_array(it) || !cbor_array_is_definite(it) ||
	    (cbor_array_size(it) != 3 && cbor_array_size(it) != 4)) {
		st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: not an array of 3 or 4 items", i);
		goto out;
	}
	x = cbor_array_get(it, 0);
	if (!cbor_isa_uint(x) || (alg = cbor_get_int(x)) < PROV_TRUST_RSA || alg > PROV_TRUST_ED25519) {
		st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: alg outside 1..6", i);
		goto out;
	}
	drop(&x);
	v->alg = (int)alg;
	/* array head and alg are one byte each (<= 23) in a deterministic record */
	if (!bstr_at(r, rlen, 2, &v->key, &v->key_len, &next)) {
		st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: key is not a byte string", i);
		goto out;
	}
	if (alg <= PROV_TRUST_RSA_EXP) {
		if (v->key_len < PROV_TRUST_RSA_MIN || v->key_len > PROV_TRUST_RSA_MAX || v->key[0] == 0) {
			st = prov_err_set(e, PROV_E_INPUT,
			                  "anchor %zu: RSA modulus of %zu bytes (%d..%d, no leading zero)", i,
			                  v->key_len, PROV_TRUST_RSA_MIN, PROV_TRUST_RSA_MAX);
			goto out;
		}
	} else if (v->key_len != ec_key_len(v->alg)) {
		st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: %s key of %zu bytes (must be %zu)", i,
		                  prov_trust_alg_name(v->alg), v->key_len, ec_key_len(v->alg));
		goto out;
	} else if (v->alg != PROV_TRUST_ED25519) {
		if ((st = check_point(v->alg, v->key, v->key_len, e, i)) != PROV_OK)
			goto out;
	}
	x = cbor_array_get(it, 2);
	if (cbor_isa_uint(x)) {
		v->has_not_after = 1;
		v->not_after = cbor_get_int(x);
	} else if (!cbor_is_null(x)) {
		st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: not-after is neither uint nor null", i);
		goto out;
	}
	drop(&x);
	if (cbor_array_size(it) == 4) {
		size_t np;

		x = cbor_array_get(it, 3);
		if (!cbor_isa_map(x) || !cbor_map_is_definite(x) || cbor_map_size(x) == 0) {
			st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: ext is not a non-empty map", i);
			goto out;
		}
		np = cbor_map_size(x);
		/* after the key, the not-after item; then the map: its head and keys
		 * are one byte each */
		pos = next;
		if (prov_cbor_item_len(r + pos, rlen - pos, &next, e) != PROV_OK)
			goto out;
		pos += next + 1;
		for (size_t k = 0; k < np; k++) {
			struct cbor_pair *pr = cbor_map_handle(x) + k;
			uint64_t key;
			const uint8_t *p = NULL;
			size_t n = 0;

			if (!cbor_isa_uint(pr->key) ||
			    ((key = cbor_get_int(pr->key)) != PROV_TRUST_EXT_EXPONENT &&
			     key != PROV_TRUST_EXT_NAME_CONSTRAINTS)) {
				st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: unknown ext key", i);
				goto out;
			}
			if (!bstr_at(r, rlen, pos + 1, &p, &n, &pos) || n == 0) {
				st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: ext %llu is not a non-empty byte string",
				                  i, (unsigned long long)key);
				goto out;
			}
			if (key == PROV_TRUST_EXT_EXPONENT) {
				v->exponent = p;
				v->exponent_len = n;
			} else {
				v->name_constraints = p;
				v->nc_len = n;
			}
		}
	}
	if ((v->alg == PROV_TRUST_RSA_EXP) != (v->exponent != NULL)) {
		st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: %s", i,
		                  v->exponent != NULL ? "an exponent (ext 1) only with alg 2"
		                                      : "alg 2 needs its exponent (ext 1)");
		goto out;
	}
	if (v->exponent != NULL &&
	    (v->exponent[0] == 0 || (v->exponent[v->exponent_len - 1] & 1) == 0 || v->exponent_len > 8 ||
	     (v->exponent_len == 3 && v->exponent[0] == 1 && v->exponent[1] == 0 && v->exponent[2] == 1) ||
	     (v->exponent_len == 1 && v->exponent[0] == 1))) {
		st = prov_err_set(e, PROV_E_INPUT,
		                  "anchor %zu: exponent must be odd, > 1, without leading zero, not 65537 (alg 1)", i);
		goto out;
	}
out:
	drop(&x);
	drop(&it);
	return st;
}

prov_status prov_trust_store_check(const uint8_t *buf, size_t len, prov_trust_view **views,
                                   size_t *n, prov_err *e)
{
	cbor_item_t *top = NULL, *x = NULL;
	const uint8_t *idx = NULL, *body = NULL;
	size_t idx_len = 0, body_len = 0, next, count, pos = 0;
	prov_trust_view *v = NULL;
	prov_status st = PROV_OK;

	if (views != NULL)
		*views = NULL;
	*n = 0;
	if (prov_cbor_decode(buf, len, &top, e) != PROV_OK)
		return prov_err_wrap(e, "not a trust store");
	if (!prov_cbor_is_deterministic(buf, len)) {
		st = prov_err_set(e, PROV_E_INPUT, "not a trust store: not deterministic CBOR");
		goto out;
	}
	if (!cbor_isa_array(top) || cbor_array_size(top) != 3) {
		st = prov_err_set(e, PROV_E_INPUT, "not a trust store: not an array of 3 items");
		goto out;
	}
	x = cbor_array_get(top, 0);
	if (!cbor_isa_uint(x) || cbor_get_int(x) != PROV_TRUST_VERSION) {
		st = prov_err_set(e, PROV_E_INPUT, "trust store: version is not %d", PROV_TRUST_VERSION);
		goto out;
	}
	/* deterministic: array head and version are one byte each */
	if (!bstr_at(buf, len, 2, &idx, &idx_len, &next) || !bstr_at(buf, len, next, &body, &body_len, &next)) {
		st = prov_err_set(e, PROV_E_INPUT, "trust store: index and anchors must be byte strings");
		goto out;
	}
	if (idx_len % PROV_TRUST_INDEX_REC != 0) {
		st = prov_err_set(e, PROV_E_INPUT, "trust store: index length %zu is not a multiple of %d",
		                  idx_len, PROV_TRUST_INDEX_REC);
		goto out;
	}
	if (body_len > PROV_TRUST_ANCHORS_MAX) {
		st = prov_err_set(e, PROV_E_INPUT, "trust store: anchors longer than %d bytes", PROV_TRUST_ANCHORS_MAX);
		goto out;
	}
	count = idx_len / PROV_TRUST_INDEX_REC;
	v = calloc(count > 0 ? count : 1, sizeof(*v));
	if (v == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		const uint8_t *rec = idx + i * PROV_TRUST_INDEX_REC;
		size_t off = ((size_t)rec[4] << 8) | rec[5], rl = 0;

		if (i > 0 && memcmp(rec - PROV_TRUST_INDEX_REC, rec, PROV_TRUST_INDEX_REC) >= 0) {
			st = prov_err_set(e, PROV_E_INPUT, "trust store: index record %zu is unsorted or a duplicate", i);
			goto out;
		}
		if (off != pos) {
			st = prov_err_set(e, PROV_E_INPUT,
			                  "trust store: index record %zu: offset %zu is not the start of anchor %zu (%zu)",
			                  i, off, i, pos);
			goto out;
		}
		if (pos >= body_len || prov_cbor_item_len(body + pos, body_len - pos, &rl, e) != PROV_OK) {
			st = prov_err_set(e, PROV_E_INPUT, "trust store: anchor %zu at offset %zu is not a well-formed item", i, off);
			goto out;
		}
		memcpy(v[i].name_key, rec, PROV_TRUST_NAME_KEY_LEN);
		v[i].offset = off;
		v[i].record = body + pos;
		v[i].record_len = rl;
		if ((st = check_anchor(body + pos, rl, i, &v[i], e)) != PROV_OK)
			goto out;
		if (i > 0 && memcmp(v[i - 1].name_key, v[i].name_key, PROV_TRUST_NAME_KEY_LEN) == 0) {
			size_t m = v[i - 1].record_len < rl ? v[i - 1].record_len : rl;
			int c = memcmp(v[i - 1].record, v[i].record, m);

			if (c > 0 || (c == 0 && v[i - 1].record_len >= rl)) {
				st = prov_err_set(e, PROV_E_INPUT,
				                  "trust store: anchors %zu and %zu share a name-key but are not in record order",
				                  i - 1, i);
				goto out;
			}
		}
		pos += rl;
	}
	if (pos != body_len) {
		st = prov_err_set(e, PROV_E_INPUT, "trust store: %zu trailing bytes after the last anchor",
		                  body_len - pos);
		goto out;
	}
	*n = count;
	if (views != NULL) {
		*views = v;
		v = NULL;
	}
out:
	free(v);
	drop(&x);
	drop(&top);
	return st;
}

json_t *prov_trust_store_describe(const uint8_t *buf, size_t len, const prov_trust_view *v, size_t n)
{
	json_t *a = json_array(), *j;
	char hex[2 * PROV_TRUST_NAME_KEY_LEN + 1], iso[32];

	(void)buf;
	for (size_t i = 0; i < n && a != NULL; i++) {
		size_t bits = v[i].alg <= PROV_TRUST_RSA_EXP ? v[i].key_len * 8 : 0;

		if (bits > 0) {
			/* exact modulus size: leading zero bits of the first byte */
			for (uint8_t b = v[i].key[0]; (b & 0x80) == 0; b = (uint8_t)(b << 1))
				bits--;
		} else {
			bits = v[i].alg == PROV_TRUST_P256 ? 256 : v[i].alg == PROV_TRUST_P384 ? 384
			       : v[i].alg == PROV_TRUST_P521 ? 521 : 255;
		}
		j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:b}", "name_key",
		              prov_hex(v[i].name_key, PROV_TRUST_NAME_KEY_LEN, hex), "alg",
		              prov_trust_alg_name(v[i].alg), "key_bits", (json_int_t)bits, "offset",
		              (json_int_t)v[i].offset, "size", (json_int_t)v[i].record_len,
		              "name_constraints", v[i].name_constraints != NULL);
		if (j == NULL)
			break;
		json_object_set_new(j, "not_after",
		                    v[i].has_not_after && v[i].not_after <= (uint64_t)INT64_MAX
		                        ? json_string(prov_time_iso((int64_t)v[i].not_after, iso))
		                        : json_null());
		if (v[i].exponent != NULL) {
			uint64_t x = 0;

			for (size_t k = 0; k < v[i].exponent_len; k++)
				x = x << 8 | v[i].exponent[k];
			json_object_set_new(j, "exponent", json_integer((json_int_t)x));
		}
		json_array_append_new(a, j);
	}
	return json_pack("{s:i, s:I, s:I, s:o}", "version", PROV_TRUST_VERSION, "size", (json_int_t)len,
	                 "count", (json_int_t)n, "anchors", a);
}

prov_status prov_trust_c_header(const uint8_t *store, size_t len, size_t n_anchors, char **out,
                                size_t *out_len, prov_err *e)
{
	/* header ~300 bytes, then at most 6 characters per byte plus line ends */
	size_t cap = 512 + len * 6 + len / 12 * 2 + 16, n = 0;
	char *s = malloc(cap);

	*out = NULL;
	if (s == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	n += (size_t)snprintf(s + n, cap - n,
	                      "/* Compact trust store v%d (docs/truststore-format.md): %zu anchors, %zu bytes.\n"
	                      " * Written by prov trust build; do not edit. */\n"
	                      "#ifndef PROV_TRUST_STORE_H\n#define PROV_TRUST_STORE_H\n\n"
	                      "#define PROV_TRUST_STORE_LEN %zuu\n\n"
	                      "static const unsigned char prov_trust_store[PROV_TRUST_STORE_LEN] = {",
	                      PROV_TRUST_VERSION, n_anchors, len, len);
	for (size_t i = 0; i < len; i++)
		n += (size_t)snprintf(s + n, cap - n, "%s0x%02x,", i % 12 == 0 ? "\n\t" : " ", store[i]);
	n += (size_t)snprintf(s + n, cap - n, "\n};\n\n#endif\n");
	*out = s;
	*out_len = n;
	return PROV_OK;
}
