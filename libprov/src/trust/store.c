/* trust_store.c - the compact trust store: anchors from certificates, the
 * encoder and the strict reader (see prov/trust.h, docs/truststore-format.md). */
#include "prov/trust.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
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
	if (st == PROV_OK && X509_get_pathlen(cert) >= 0) {
		/* only meaningful on a CA, which prov_trust_ca_check decides */
		a->has_path_len = 1;
		a->path_len = (uint64_t)X509_get_pathlen(cert);
	}
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
	int has_ext = a->exponent != NULL || a->name_constraints != NULL || a->has_path_len;
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
		ext = cbor_new_definite_map((size_t)(a->exponent != NULL) + (a->name_constraints != NULL) +
		                            (a->has_path_len != 0));
		bad = ext == NULL;
		if (!bad && a->exponent != NULL)
			bad = prov_cbor_map_put_int(ext, PROV_TRUST_EXT_EXPONENT,
			                            prov_cbor_bytes(a->exponent, a->exponent_len)) != 0;
		if (!bad && a->name_constraints != NULL)
			bad = prov_cbor_map_put_int(ext, PROV_TRUST_EXT_NAME_CONSTRAINTS,
			                            prov_cbor_bytes(a->name_constraints, a->nc_len)) != 0;
		if (!bad && a->has_path_len)
			bad = prov_cbor_map_put_int(ext, PROV_TRUST_EXT_PATH_LEN, prov_cbor_uint(a->path_len)) != 0;
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

static int pin_cmp(const void *x, const void *y)
{
	return memcmp(x, y, PROV_TRUST_PIN_LEN);
}

void prov_trust_pin(const uint8_t *spki_der, size_t len, uint8_t out[PROV_TRUST_PIN_LEN])
{
	EVP_Digest(spki_der, len, out, NULL, EVP_sha256(), NULL);
}

prov_status prov_trust_store_encode(const prov_trust_anchor *const *anchors, size_t n,
                                    const uint8_t *pins, size_t n_pins,
                                    uint8_t **out, size_t *out_len, prov_err *e)
{
	const prov_trust_anchor **s = NULL;
	uint8_t *index = NULL, *body = NULL, *pv = NULL;
	size_t ni = 0, nb = 0, np = 0, total = 0;
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
	pv = malloc(n_pins * PROV_TRUST_PIN_LEN + 1);
	if (s == NULL || index == NULL || body == NULL || pv == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "trust store: out of memory");
		goto out;
	}
	if (n > 0)
		memcpy(s, anchors, n * sizeof(*s)); /* anchors may be NULL for a store of pins */
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
	if (n_pins > 0)
		memcpy(pv, pins, n_pins * PROV_TRUST_PIN_LEN);
	qsort(pv, n_pins, PROV_TRUST_PIN_LEN, pin_cmp);
	for (size_t i = 0; i < n_pins; i++) {
		const uint8_t *p = pv + i * PROV_TRUST_PIN_LEN;

		if (np > 0 && memcmp(pv + (np - 1) * PROV_TRUST_PIN_LEN, p, PROV_TRUST_PIN_LEN) == 0)
			continue; /* the same key pinned twice */
		if (np == PROV_TRUST_PINS_MAX) {
			st = prov_err_set(e, PROV_E_INPUT, "trust store too large: more than %d pins",
			                  PROV_TRUST_PINS_MAX);
			goto out;
		}
		memmove(pv + np * PROV_TRUST_PIN_LEN, p, PROV_TRUST_PIN_LEN);
		np++;
	}
	arr = cbor_new_definite_array(4);
	bad = arr == NULL;
	bad = bad || prov_cbor_array_push(arr, prov_cbor_uint(PROV_TRUST_VERSION)) != 0;
	bad = bad || prov_cbor_array_push(arr, prov_cbor_bytes(index, ni)) != 0;
	bad = bad || prov_cbor_array_push(arr, prov_cbor_bytes(body, nb)) != 0;
	bad = bad || prov_cbor_array_push(arr, prov_cbor_bytes(pv, np * PROV_TRUST_PIN_LEN)) != 0;
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
	free(pv);
	return st;
}

/* ---- which certificates may be anchors ---- */

const char *prov_trust_refusal_name(prov_trust_refusal r)
{
	switch (r) {
	case PROV_TRUST_CA_OK: return "ok";
	case PROV_TRUST_NOT_CA: return "not-ca";
	case PROV_TRUST_V1: return "v1";
	case PROV_TRUST_CRITICAL_EXT: return "critical-extension";
	case PROV_TRUST_MALFORMED: return "malformed";
	}
	return "unknown";
}

static prov_trust_refusal refuse(prov_trust_refusal r, char *why, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static prov_trust_refusal refuse(prov_trust_refusal r, char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (cap > 0)
		vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return r;
}

/* The one critical extension the device does not process, or NULL: the
 * anchor's own constraints the store keeps are basicConstraints (cA, path
 * length), keyUsage (checked here) and nameConstraints (kept; the device skips
 * such anchors).  RFC 5280 4.2: an unrecognised or unprocessable critical
 * extension makes the certificate unusable. */
static int critical_other(X509 *cert, char *oid, size_t cap)
{
	for (int i = 0; i < X509_get_ext_count(cert); i++) {
		X509_EXTENSION *x = X509_get_ext(cert, i);
		int nid;

		if (!X509_EXTENSION_get_critical(x))
			continue;
		nid = OBJ_obj2nid(X509_EXTENSION_get_object(x));
		if (nid == NID_basic_constraints || nid == NID_key_usage || nid == NID_name_constraints)
			continue;
		if (nid != NID_undef)
			snprintf(oid, cap, "%s", OBJ_nid2sn(nid));
		else if (OBJ_obj2txt(oid, (int)cap, X509_EXTENSION_get_object(x), 1) <= 0)
			snprintf(oid, cap, "?");
		return nid;
	}
	return -1;
}

prov_trust_refusal prov_trust_ca_check(X509 *cert, int allow_v1, char *why, size_t cap)
{
	uint32_t flags = X509_get_extension_flags(cert); /* also decodes and caches them */
	const X509_ALGOR *outer = NULL;
	BASIC_CONSTRAINTS *bc;
	char oid[128];
	int crit = -1, nid, ca;
	long ver = X509_get_version(cert);

	if ((flags & EXFLAG_INVALID) != 0)
		return refuse(PROV_TRUST_MALFORMED, why, cap, "malformed: an extension is undecodable or repeated");
	X509_get0_signature(NULL, &outer, cert);
	if (outer == NULL || X509_ALGOR_cmp(outer, X509_get0_tbs_sigalg(cert)) != 0)
		return refuse(PROV_TRUST_MALFORMED, why, cap,
		              "malformed: signatureAlgorithm differs from the signature field it signs (RFC 5280 4.1.1.2)");
	if (X509_NAME_entry_count(X509_get_subject_name(cert)) == 0)
		return refuse(PROV_TRUST_MALFORMED, why, cap, "malformed: empty subject (RFC 5280 4.1.2.6: a CA names itself)");
	if (X509_NAME_entry_count(X509_get_issuer_name(cert)) == 0)
		return refuse(PROV_TRUST_MALFORMED, why, cap, "malformed: empty issuer (RFC 5280 4.1.2.4)");
	if (ver == X509_VERSION_1) {
		if (X509_get_ext_count(cert) > 0)
			return refuse(PROV_TRUST_MALFORMED, why, cap, "malformed: a version 1 certificate with extensions");
		if (!allow_v1)
			return refuse(PROV_TRUST_V1, why, cap,
			              "version 1 certificate: it cannot say it is a CA (--allow-v1-roots admits it)");
		return refuse(PROV_TRUST_CA_OK, why, cap, "ok (version 1, allowed)");
	}
	if (ver != X509_VERSION_3)
		return refuse(PROV_TRUST_NOT_CA, why, cap, "version %ld certificate: only version 3 says it is a CA",
		              ver + 1);
	nid = critical_other(cert, oid, sizeof(oid));
	if (nid == NID_authority_key_identifier || nid == NID_subject_key_identifier)
		return refuse(PROV_TRUST_CRITICAL_EXT, why, cap, "critical %s (RFC 5280 %s: it must be non-critical)", oid,
		              nid == NID_authority_key_identifier ? "4.2.1.1" : "4.2.1.2");
	if (nid != -1)
		return refuse(PROV_TRUST_CRITICAL_EXT, why, cap, "critical extension %s that the device does not process",
		              oid);
	bc = X509_get_ext_d2i(cert, NID_basic_constraints, &crit, NULL);
	ca = bc != NULL && bc->ca != 0;
	BASIC_CONSTRAINTS_free(bc);
	ERR_clear_error();
	if (crit == -1)
		return refuse(PROV_TRUST_NOT_CA, why, cap, "not a CA: no basicConstraints (RFC 5280 4.2.1.9)");
	if (!ca)
		return refuse(PROV_TRUST_NOT_CA, why, cap, "not a CA: basicConstraints cA is FALSE");
	if ((flags & EXFLAG_KUSAGE) != 0 && (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) == 0)
		return refuse(PROV_TRUST_NOT_CA, why, cap, "not a CA: keyUsage without keyCertSign (RFC 5280 4.2.1.3)");
	return refuse(PROV_TRUST_CA_OK, why, cap, "ok");
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
		uint64_t prev = 0;
		size_t np;

		x = cbor_array_get(it, 3);
		if (!cbor_isa_map(x) || !cbor_map_is_definite(x) || cbor_map_size(x) == 0) {
			st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: ext is not a non-empty map", i);
			goto out;
		}
		np = cbor_map_size(x);
		if (np > 3) {
			st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: ext has more than 3 keys", i);
			goto out;
		}
		/* after the key, the not-after item; then the map: its head is one
		 * byte (at most 3 pairs), each key one byte (1..3) */
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
			     key != PROV_TRUST_EXT_NAME_CONSTRAINTS && key != PROV_TRUST_EXT_PATH_LEN)) {
				st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: unknown ext key", i);
				goto out;
			}
			if (key <= prev) { /* deterministic order was checked; keys are distinct */
				st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: ext keys not ascending", i);
				goto out;
			}
			prev = key;
			if (key == PROV_TRUST_EXT_PATH_LEN) {
				if (!cbor_isa_uint(pr->value)) {
					st = prov_err_set(e, PROV_E_INPUT, "anchor %zu: ext 3 (path length) is not a uint", i);
					goto out;
				}
				v->has_path_len = 1;
				v->path_len = cbor_get_int(pr->value);
				if (prov_cbor_item_len(r + pos + 1, rlen - pos - 1, &n, e) != PROV_OK)
					goto out;
				pos += 1 + n;
				continue;
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
	const uint8_t *idx = NULL, *body = NULL, *pins = NULL;
	size_t idx_len = 0, body_len = 0, pins_len = 0, next, count, pos = 0;
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
	if (!cbor_isa_array(top) || cbor_array_size(top) < 1) {
		st = prov_err_set(e, PROV_E_INPUT, "not a trust store: not an array");
		goto out;
	}
	x = cbor_array_get(top, 0);
	if (cbor_isa_uint(x) && cbor_get_int(x) == 1) {
		st = prov_err_set(e, PROV_E_INPUT,
		                  "trust store: format version 1, made before anchors had to be CAs: "
		                  "rebuild it with prov trust build (docs/truststore-format.md)");
		goto out;
	}
	if (!cbor_isa_uint(x) || cbor_get_int(x) != PROV_TRUST_VERSION) {
		st = prov_err_set(e, PROV_E_INPUT, "trust store: version is not %d", PROV_TRUST_VERSION);
		goto out;
	}
	if (cbor_array_size(top) != 4) {
		st = prov_err_set(e, PROV_E_INPUT, "not a trust store: not an array of 4 items");
		goto out;
	}
	/* deterministic: array head and version are one byte each */
	if (!bstr_at(buf, len, 2, &idx, &idx_len, &next) || !bstr_at(buf, len, next, &body, &body_len, &next) ||
	    !bstr_at(buf, len, next, &pins, &pins_len, &next)) {
		st = prov_err_set(e, PROV_E_INPUT, "trust store: index, anchors and pins must be byte strings");
		goto out;
	}
	if (pins_len % PROV_TRUST_PIN_LEN != 0 || pins_len / PROV_TRUST_PIN_LEN > PROV_TRUST_PINS_MAX) {
		st = prov_err_set(e, PROV_E_INPUT, "trust store: pins of %zu bytes (a multiple of %d, at most %d pins)",
		                  pins_len, PROV_TRUST_PIN_LEN, PROV_TRUST_PINS_MAX);
		goto out;
	}
	for (size_t i = PROV_TRUST_PIN_LEN; i < pins_len; i += PROV_TRUST_PIN_LEN)
		if (memcmp(pins + i - PROV_TRUST_PIN_LEN, pins + i, PROV_TRUST_PIN_LEN) >= 0) {
			st = prov_err_set(e, PROV_E_INPUT, "trust store: pin %zu is unsorted or a duplicate",
			                  i / PROV_TRUST_PIN_LEN);
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

int prov_trust_store_pins(const uint8_t *buf, size_t len, const uint8_t **pins, size_t *n)
{
	size_t next = 0, l = 0;
	const uint8_t *p = NULL;

	*pins = NULL;
	*n = 0;
	/* [2, index, anchors, pins]: heads of one byte, then three byte strings */
	if (len < 2 || buf[0] != 0x84 || buf[1] != PROV_TRUST_VERSION || !bstr_at(buf, len, 2, &p, &l, &next) ||
	    !bstr_at(buf, len, next, &p, &l, &next) || !bstr_at(buf, len, next, &p, &l, &next) || next != len ||
	    l % PROV_TRUST_PIN_LEN != 0)
		return -1;
	*pins = p;
	*n = l / PROV_TRUST_PIN_LEN;
	return 0;
}

json_t *prov_trust_store_describe(const uint8_t *buf, size_t len, const prov_trust_view *v, size_t n)
{
	json_t *a = json_array(), *pa = json_array(), *j;
	char hex[2 * PROV_TRUST_NAME_KEY_LEN + 1], phex[2 * PROV_TRUST_PIN_LEN + 1], iso[32];
	const uint8_t *pins = NULL;
	size_t np = 0;

	if (prov_trust_store_pins(buf, len, &pins, &np) == 0)
		for (size_t i = 0; i < np && pa != NULL; i++)
			json_array_append_new(pa, json_pack("{s:s}", "spki_sha256",
			                                    prov_hex(pins + i * PROV_TRUST_PIN_LEN, PROV_TRUST_PIN_LEN, phex)));
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
		json_object_set_new(j, "path_len", v[i].has_path_len && v[i].path_len <= (uint64_t)INT64_MAX
		                                       ? json_integer((json_int_t)v[i].path_len) : json_null());
		if (v[i].exponent != NULL) {
			uint64_t x = 0;

			for (size_t k = 0; k < v[i].exponent_len; k++)
				x = x << 8 | v[i].exponent[k];
			json_object_set_new(j, "exponent", json_integer((json_int_t)x));
		}
		json_array_append_new(a, j);
	}
	return json_pack("{s:i, s:I, s:I, s:o, s:I, s:o}", "version", PROV_TRUST_VERSION, "size", (json_int_t)len,
	                 "count", (json_int_t)n, "anchors", a, "pin_count", (json_int_t)np, "pins", pa);
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
