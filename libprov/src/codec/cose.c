/*
 * cose.c - COSE_Sign1 and COSE_Encrypt with ECDH-ES + HKDF-256 (see prov/cose.h).
 *
 * RFC 9052 (structures), RFC 9053 (algorithms).  CBOR goes through prov/cbor.h
 * (libcbor underneath); every primitive is OpenSSL 3 EVP.  Messages we build are
 * deterministic CBOR; messages we read may use any valid encoding, because what
 * is signed or authenticated is the protected header's bytes as received.
 */
#include "prov/algs.h"
#include "prov/cose.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "prov/cbor.h"
#include "prov/util.h"

/* Header labels (RFC 9052 section 3.1, RFC 9053 section 6.4.1). */
#define HDR_ALG 1
#define HDR_CRIT 2
#define HDR_KID 4
#define HDR_IV 5
#define HDR_PARTIAL_IV 6
#define HDR_EPK (-1)
/* COSE_Key labels and values (RFC 9053 section 7.1). */
#define KEY_KTY 1
#define KEY_CRV (-1)
#define KEY_X (-2)
#define KEY_Y (-3)
#define KTY_EC2 2
#define CRV_P256 1

#define P256_COORD 32
#define P256_POINT (1 + 2 * P256_COORD)  /* 04 || x || y */
#define MAX_SIG 96                       /* ES384 r || s */
#define CEK_LEN 16                       /* both content algs use AES-128 */
#define CEK_BITS 128                     /* keyDataLength, RFC 9053 section 5.2 */
#define MAX_IV 13
#define MAX_TAG 16
#define MAX_HEADER_LABELS 64             /* per header map; ours have two */
/* AES-CCM-16-64-128 has a 13-byte nonce, so L = 2 bytes of length (RFC 3610). */
#define CCM_MAX_PT 65535u

/* ---- algorithms and keys --------------------------------------------------------- */

enum key_kind { KEY_OTHER, KEY_P256, KEY_P384, KEY_ED25519 };

struct sign_alg {
	int alg;
	const char *name;
	enum key_kind kind;
	size_t sig_len;   /* raw r || s for ECDSA (RFC 9053 section 2.1), 64 for Ed25519 */
};

static const struct sign_alg sign_algs[] = {
	{ PROV_COSE_ALG_ES256, "ES256", KEY_P256, 64 },
	{ PROV_COSE_ALG_ES384, "ES384", KEY_P384, 96 },
	{ PROV_COSE_ALG_EDDSA, "EdDSA", KEY_ED25519, 64 },
};

struct content_alg {
	int alg;
	const char *name;
	size_t iv_len;
	size_t tag_len;
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

static const struct sign_alg *sign_alg_find(int64_t alg)
{
	size_t i;

	for (i = 0; i < sizeof(sign_algs) / sizeof(sign_algs[0]); i++)
		if (sign_algs[i].alg == alg)
			return &sign_algs[i];
	return NULL;
}

static const struct content_alg *content_alg_find(int64_t alg)
{
	size_t i;

	for (i = 0; i < sizeof(content_algs) / sizeof(content_algs[0]); i++)
		if (content_algs[i].alg == alg)
			return &content_algs[i];
	return NULL;
}

static const char *alg_name(int64_t alg)
{
	const struct sign_alg *s = sign_alg_find(alg);
	const struct content_alg *c = content_alg_find(alg);
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

/* A printable description of an alg header value, for error messages. */
static void describe_alg(const cbor_item_t *item, char *buf, size_t cap)
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
		const char *name = alg_name(v);

		if (name != NULL)
			snprintf(buf, cap, "%s (%" PRId64 ")", name, v);
		else
			snprintf(buf, cap, "%" PRId64, v);
	} else {
		snprintf(buf, cap, "(neither an integer nor text)");
	}
}

static enum key_kind key_kind(EVP_PKEY *key)
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
	enum key_kind k = key_kind(key);
	size_t i;

	for (i = 0; i < sizeof(sign_algs) / sizeof(sign_algs[0]); i++)
		if (k != KEY_OTHER && sign_algs[i].kind == k)
			return sign_algs[i].alg;
	return 0;
}

/* ---- CBOR helpers ------------------------------------------------------------------ */

static int is_bstr(const cbor_item_t *it)
{
	return it != NULL && cbor_isa_bytestring(it) && cbor_bytestring_is_definite(it);
}

/* libcbor's cbor_is_null / cbor_is_bool assert (abort) when given a float. */
static int is_simple(const cbor_item_t *it, int value)
{
	return it != NULL && cbor_isa_float_ctrl(it) && cbor_float_ctrl_is_ctrl(it) &&
	       cbor_ctrl_value(it) == value;
}

static int is_map(const cbor_item_t *it)
{
	return it != NULL && cbor_isa_map(it) && cbor_map_is_definite(it);
}

static int is_array(const cbor_item_t *it, size_t n)
{
	return it != NULL && cbor_isa_array(it) && cbor_array_is_definite(it) &&
	       cbor_array_size(it) == n;
}

/* A map holding just {1: alg}, encoded: the protected headers we write. */
static prov_status encode_alg_header(int alg, uint8_t **out, size_t *out_len, prov_err *e)
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
static prov_status decode_protected(const char *what, const uint8_t *p, size_t n,
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
	if (!is_map(*map)) {
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
static prov_status check_labels(const char *what, const cbor_item_t *prot,
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

/* ---- locating fields inside the caller's buffer ------------------------------------- */

/* prov_cose_sign1_info points into the caller's message, while libcbor's items own
 * copies, so the fields are located again, in input that prov_cbor_decode has
 * already validated, with libcbor's streaming decoder: it hands over a definite
 * byte string as a pointer into the input. */
struct locate_ev {
	int is_bstr;
	cbor_data ptr;
	size_t len;
};

static void locate_bstr(void *ctx, cbor_data data, size_t len)
{
	struct locate_ev *ev = ctx;

	ev->is_bstr = 1;
	ev->ptr = data;
	ev->len = len;
}

static const struct cbor_callbacks locate_callbacks = {
	.uint8 = cbor_null_uint8_callback, .uint16 = cbor_null_uint16_callback,
	.uint32 = cbor_null_uint32_callback, .uint64 = cbor_null_uint64_callback,
	.negint64 = cbor_null_negint64_callback, .negint32 = cbor_null_negint32_callback,
	.negint16 = cbor_null_negint16_callback, .negint8 = cbor_null_negint8_callback,
	.byte_string_start = cbor_null_byte_string_start_callback,
	.byte_string = locate_bstr,
	.string = cbor_null_string_callback, .string_start = cbor_null_string_start_callback,
	.indef_array_start = cbor_null_indef_array_start_callback,
	.array_start = cbor_null_array_start_callback,
	.indef_map_start = cbor_null_indef_map_start_callback,
	.map_start = cbor_null_map_start_callback,
	.tag = cbor_null_tag_callback,
	.float2 = cbor_null_float2_callback, .float4 = cbor_null_float4_callback,
	.float8 = cbor_null_float8_callback, .undefined = cbor_null_undefined_callback,
	.null = cbor_null_null_callback, .boolean = cbor_null_boolean_callback,
	.indef_break = cbor_null_indef_break_callback,
};

/* Consume one head (tag, array, map) or one whole definite string at buf[*pos]. */
static int step(const uint8_t *buf, size_t len, size_t *pos, struct locate_ev *ev)
{
	struct cbor_decoder_result r;

	memset(ev, 0, sizeof(*ev));
	if (*pos >= len)
		return -1;
	/* libcbor 0.8 refuses the one-byte heads of tags 6..20, among them 18
	 * (PJK/libcbor issue #307); prov_cbor_decode has already validated them */
	if (buf[*pos] >= 0xc6 && buf[*pos] <= 0xd4) {
		(*pos)++;
		return 0;
	}
	r = cbor_stream_decode(buf + *pos, len - *pos, &locate_callbacks, ev);
	if (r.status != CBOR_DECODER_FINISHED)
		return -1;
	*pos += r.read;
	return 0;
}

/* Skip one whole item at buf[*pos]. */
static int skip_item(const uint8_t *buf, size_t len, size_t *pos)
{
	size_t n = 0;

	if (*pos > len || prov_cbor_item_len(buf + *pos, len - *pos, &n, NULL) != PROV_OK)
		return -1;
	*pos += n;
	return 0;
}

/* buf holds one validated definite map of npairs pairs: point *p at the byte string
 * under integer label `label`.  1 found, 0 absent, -1 unexpected structure. */
static int map_find_bstr(const uint8_t *buf, size_t len, size_t npairs, int64_t label,
                         const uint8_t **p, size_t *n)
{
	struct locate_ev ev;
	size_t i, pos = 0;

	if (step(buf, len, &pos, &ev) != 0)   /* the map head */
		return -1;
	for (i = 0; i < npairs; i++) {
		cbor_item_t *k = NULL;
		size_t start = pos;
		int64_t v;
		int hit;

		if (skip_item(buf, len, &pos) != 0 ||
		    prov_cbor_decode(buf + start, pos - start, &k, NULL) != PROV_OK)
			return -1;
		hit = prov_cbor_get_int(k, &v) == 0 && v == label;
		cbor_decref(&k);
		if (!hit) {
			if (skip_item(buf, len, &pos) != 0)
				return -1;
			continue;
		}
		if (step(buf, len, &pos, &ev) != 0 || !ev.is_bstr)
			return -1;
		*p = ev.ptr;
		*n = ev.len;
		return 1;
	}
	return 0;
}

/* The four fields of a COSE_Sign1, as bytes of the caller's message. */
struct sign1_view {
	const uint8_t *prot, *unprot, *payload, *sig;
	size_t prot_len, unprot_len, payload_len, sig_len;
};

static prov_status sign1_locate(const uint8_t *msg, size_t len, int tagged,
                                struct sign1_view *v, prov_err *e)
{
	struct locate_ev ev;
	size_t start, pos = 0;

	if (tagged && step(msg, len, &pos, &ev) != 0)          /* tag 18 */
		goto fail;
	if (step(msg, len, &pos, &ev) != 0)                    /* array(4) */
		goto fail;
	if (step(msg, len, &pos, &ev) != 0 || !ev.is_bstr)    /* protected */
		goto fail;
	v->prot = ev.ptr;
	v->prot_len = ev.len;
	start = pos;                                           /* unprotected */
	if (skip_item(msg, len, &pos) != 0)
		goto fail;
	v->unprot = msg + start;
	v->unprot_len = pos - start;
	if (step(msg, len, &pos, &ev) != 0 || !ev.is_bstr)    /* payload */
		goto fail;
	v->payload = ev.ptr;
	v->payload_len = ev.len;
	if (step(msg, len, &pos, &ev) != 0 || !ev.is_bstr)    /* signature */
		goto fail;
	v->sig = ev.ptr;
	v->sig_len = ev.len;
	if (pos != len)
		goto fail;
	return PROV_OK;
fail:
	return prov_err_set(e, PROV_E_INTERNAL, "COSE_Sign1: locating the fields: "
	                    "unexpected structure after validation");
}

/* ---- COSE_Sign1 ---------------------------------------------------------------------- */

/* Sig_structure = ["Signature1", body_protected, external_aad, payload]
 * (RFC 9052 section 4.4), encoded deterministically. */
static prov_status sig_structure(const uint8_t *prot, size_t prot_len, const uint8_t *aad,
                                 size_t aad_len, const uint8_t *payload, size_t payload_len,
                                 uint8_t **out, size_t *out_len, prov_err *e)
{
	prov_status st;
	cbor_item_t *a = cbor_new_definite_array(4);

	if (a == NULL || prov_cbor_array_push(a, prov_cbor_text("Signature1")) != 0 ||
	    prov_cbor_array_push(a, prov_cbor_bytes(prot, prot_len)) != 0 ||
	    prov_cbor_array_push(a, prov_cbor_bytes(aad, aad_len)) != 0 ||
	    prov_cbor_array_push(a, prov_cbor_bytes(payload, payload_len)) != 0) {
		st = prov_err_set(e, PROV_E_INTERNAL, "COSE_Sign1: Sig_structure: out of memory");
		goto out;
	}
	st = prov_cbor_encode(a, out, out_len, e);
out:
	/* The payload may carry secrets (a lab bundle): wipe the copy. */
	prov_cbor_decref_wipe(&a);
	return st;
}

static const EVP_MD *sign_md(const struct sign_alg *a)
{
	switch (a->alg) {
	case PROV_COSE_ALG_ES256: return prov_md_sha256();
	case PROV_COSE_ALG_ES384: return prov_md_sha384();
	default: return NULL;   /* pure EdDSA hashes internally */
	}
}

/* Sign tbs; write the COSE form (raw r || s, or the Ed25519 signature) to sig. */
static prov_status sign_raw(EVP_PKEY *key, EVP_MD_CTX *tmpl, const struct sign_alg *a,
                            const uint8_t *tbs, size_t tbs_len, uint8_t *sig, prov_err *e)
{
	prov_status st = PROV_E_CRYPTO;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	const unsigned char *p;
	ECDSA_SIG *es = NULL;
	const BIGNUM *r, *s;
	size_t der_len = 0;
	int half = (int)(a->sig_len / 2);

	if (md == NULL || (tmpl != NULL ? EVP_MD_CTX_copy_ex(md, tmpl)
	                                : EVP_DigestSignInit(md, NULL, sign_md(a), NULL, key)) != 1) {
		prov_err_ssl(e, PROV_E_CRYPTO, "COSE_Sign1: cannot start %s signing", a->name);
		goto out;
	}
	if (a->kind == KEY_ED25519) {
		der_len = a->sig_len;
		if (EVP_DigestSign(md, sig, &der_len, tbs, tbs_len) != 1 || der_len != a->sig_len) {
			prov_err_ssl(e, PROV_E_CRYPTO, "COSE_Sign1: EdDSA signing failed");
			goto out;
		}
		st = PROV_OK;
		goto out;
	}
	if (EVP_DigestSign(md, NULL, &der_len, tbs, tbs_len) != 1 ||
	    (der = OPENSSL_malloc(der_len)) == NULL ||
	    EVP_DigestSign(md, der, &der_len, tbs, tbs_len) != 1) {
		prov_err_ssl(e, PROV_E_CRYPTO, "COSE_Sign1: %s signing failed", a->name);
		goto out;
	}
	/* OpenSSL gives DER; COSE wants r and s left-padded to the coordinate size */
	p = der;
	es = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
	if (es == NULL) {
		prov_err_ssl(e, PROV_E_CRYPTO, "COSE_Sign1: %s signing: cannot parse the DER "
		             "signature", a->name);
		goto out;
	}
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, half) != half || BN_bn2binpad(s, sig + half, half) != half) {
		prov_err_ssl(e, PROV_E_CRYPTO, "COSE_Sign1: %s signing: r or s does not fit "
		             "%d bytes", a->name, half);
		goto out;
	}
	st = PROV_OK;
out:
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return st;
}

/* 1 if sig (COSE form, a->sig_len bytes) is a valid signature of tbs by key. */
static int verify_raw(EVP_PKEY *key, const struct sign_alg *a, const uint8_t *tbs,
                      size_t tbs_len, const uint8_t *sig)
{
	int ok = 0, der_len, half = (int)(a->sig_len / 2);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *der = NULL;

	if (md == NULL || EVP_DigestVerifyInit(md, NULL, sign_md(a), NULL, key) != 1)
		goto out;
	if (a->kind == KEY_ED25519) {
		ok = EVP_DigestVerify(md, sig, a->sig_len, tbs, tbs_len) == 1;
		goto out;
	}
	r = BN_bin2bn(sig, half, NULL);
	s = BN_bin2bn(sig + half, half, NULL);
	es = ECDSA_SIG_new();
	if (r == NULL || s == NULL || es == NULL || ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL;   /* owned by es now */
	der_len = i2d_ECDSA_SIG(es, &der);
	if (der_len <= 0)
		goto out;
	ok = EVP_DigestVerify(md, der, (size_t)der_len, tbs, tbs_len) == 1;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	BN_free(r);
	BN_free(s);
	EVP_MD_CTX_free(md);
	return ok;
}

prov_status prov_cose_signer_init(prov_cose_signer *s, EVP_PKEY *key, prov_err *e)
{
	const struct sign_alg *a = sign_alg_find(prov_cose_sign_alg_for_key(key));

	memset(s, 0, sizeof(*s));
	if (a == NULL)
		return prov_err_set(e, PROV_E_INPUT, "COSE_Sign1: unsupported signing key: "
		                    "need P-256 (ES256), P-384 (ES384) or Ed25519 (EdDSA)");
	s->key = key;
	s->alg = a->alg;
	/* ECDSA contexts copy cheaply; EdDSA ones are made per message. */
	if (a->kind != KEY_ED25519) {
		s->tmpl = EVP_MD_CTX_new();
		if (s->tmpl == NULL || EVP_DigestSignInit(s->tmpl, NULL, sign_md(a), NULL, key) != 1) {
			EVP_MD_CTX_free(s->tmpl);
			s->tmpl = NULL;
			return prov_err_ssl(e, PROV_E_CRYPTO, "COSE_Sign1: cannot start %s signing", a->name);
		}
	}
	return PROV_OK;
}

void prov_cose_signer_free(prov_cose_signer *s)
{
	EVP_MD_CTX_free(s->tmpl);
	memset(s, 0, sizeof(*s));
}

static prov_status sign1_create(EVP_PKEY *signer, const struct sign_alg *a, EVP_MD_CTX *tmpl,
                                const uint8_t *kid, size_t kid_len, const uint8_t *payload,
                                size_t payload_len, uint8_t **out, size_t *out_len, prov_err *e);

prov_status prov_cose_sign1_create(EVP_PKEY *signer, const uint8_t *kid, size_t kid_len,
                                   const uint8_t *payload, size_t payload_len,
                                   uint8_t **out, size_t *out_len, prov_err *e)
{
	return sign1_create(signer, sign_alg_find(prov_cose_sign_alg_for_key(signer)), NULL, kid,
	                    kid_len, payload, payload_len, out, out_len, e);
}

prov_status prov_cose_sign1_create_with(const prov_cose_signer *s, const uint8_t *kid,
                                        size_t kid_len, const uint8_t *payload,
                                        size_t payload_len, uint8_t **out, size_t *out_len,
                                        prov_err *e)
{
	return sign1_create(s->key, sign_alg_find(s->alg), s->tmpl, kid, kid_len, payload,
	                    payload_len, out, out_len, e);
}

static prov_status sign1_create(EVP_PKEY *signer, const struct sign_alg *a, EVP_MD_CTX *tmpl,
                                const uint8_t *kid, size_t kid_len, const uint8_t *payload,
                                size_t payload_len, uint8_t **out, size_t *out_len, prov_err *e)
{
	prov_status st;
	cbor_item_t *prot = NULL, *arr = NULL, *msg = NULL;
	uint8_t *prot_enc = NULL, *tbs = NULL;
	size_t prot_len = 0, tbs_len = 0;
	uint8_t sig[MAX_SIG];

	*out = NULL;
	*out_len = 0;
	if (a == NULL) {
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Sign1: unsupported signing key: "
		                  "need P-256 (ES256), P-384 (ES384) or Ed25519 (EdDSA)");
		goto out;
	}
	if ((kid == NULL && kid_len > 0) || (payload == NULL && payload_len > 0)) {
		st = prov_err_set(e, PROV_E_INTERNAL, "COSE_Sign1: NULL buffer with a length");
		goto out;
	}
	/* protected {1: alg, 4: kid}; kid only when given (non-empty) */
	prot = cbor_new_definite_map(kid_len > 0 ? 2 : 1);
	if (prot == NULL || prov_cbor_map_put_int(prot, HDR_ALG, prov_cbor_int(a->alg)) != 0 ||
	    (kid_len > 0 &&
	     prov_cbor_map_put_int(prot, HDR_KID, prov_cbor_bytes(kid, kid_len)) != 0)) {
		st = prov_err_set(e, PROV_E_INTERNAL, "COSE_Sign1: header: out of memory");
		goto out;
	}
	st = prov_cbor_encode(prot, &prot_enc, &prot_len, e);
	if (st != PROV_OK)
		goto out;
	st = sig_structure(prot_enc, prot_len, NULL, 0, payload, payload_len, &tbs, &tbs_len, e);
	if (st != PROV_OK)
		goto out;
	st = sign_raw(signer, tmpl, a, tbs, tbs_len, sig, e);
	if (st != PROV_OK)
		goto out;
	arr = cbor_new_definite_array(4);
	if (arr == NULL || prov_cbor_array_push(arr, prov_cbor_bytes(prot_enc, prot_len)) != 0 ||
	    prov_cbor_array_push(arr, cbor_new_definite_map(0)) != 0 ||
	    prov_cbor_array_push(arr, prov_cbor_bytes(payload, payload_len)) != 0 ||
	    prov_cbor_array_push(arr, prov_cbor_bytes(sig, a->sig_len)) != 0 ||
	    (msg = cbor_build_tag(PROV_COSE_TAG_SIGN1, arr)) == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "COSE_Sign1: message: out of memory");
		goto out;
	}
	st = prov_cbor_encode(msg, out, out_len, e);
out:
	/* The payload may carry secrets (a lab bundle): wipe every copy of it.
	 * msg first: then arr is held only by `arr` and is wiped with it. */
	prov_cbor_decref_wipe(&msg);
	prov_cbor_decref_wipe(&arr);
	if (prot != NULL)
		cbor_decref(&prot);
	free(prot_enc);
	if (tbs != NULL)
		prov_wipe(tbs, tbs_len);
	free(tbs);
	return st;
}

prov_status prov_cose_sign1_verify(EVP_PKEY *const *keys, size_t nkeys,
                                   const uint8_t *msg, size_t msg_len,
                                   const uint8_t *external_aad, size_t aad_len,
                                   int allow_untagged, prov_cose_sign1_info *info,
                                   prov_err *e)
{
	prov_status st = PROV_E_VERIFY;
	cbor_item_t *top = NULL, *body = NULL, *prot = NULL;
	cbor_item_t **f;
	const cbor_item_t *unprot, *alg_item, *kid_item;
	const struct sign_alg *a;
	struct sign1_view v = { 0 };
	uint8_t *tbs = NULL;
	size_t i, tbs_len = 0, fitting = 0, kid_len = 0;
	const uint8_t *kid = NULL;
	char desc[64];
	int64_t alg;
	int tagged = 0, found;

	if ((msg == NULL && msg_len > 0) || (external_aad == NULL && aad_len > 0) ||
	    (keys == NULL && nkeys > 0)) {
		st = prov_err_set(e, PROV_E_INTERNAL, "COSE_Sign1: NULL buffer with a length");
		goto out;
	}
	st = prov_cbor_decode(msg, msg_len, &top, e);
	if (st != PROV_OK) {
		prov_err_wrap(e, "COSE_Sign1");
		goto out;
	}
	if (cbor_isa_tag(top)) {
		if (cbor_tag_value(top) != PROV_COSE_TAG_SIGN1) {
			st = prov_err_set(e, PROV_E_INPUT, "COSE_Sign1: unexpected CBOR tag %" PRIu64
			                  ": expected %d", cbor_tag_value(top), PROV_COSE_TAG_SIGN1);
			goto out;
		}
		tagged = 1;
		body = cbor_tag_item(top);
	} else if (allow_untagged) {
		body = cbor_incref(top);
	} else {
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Sign1: the message is not tagged: "
		                  "expected tag %d", PROV_COSE_TAG_SIGN1);
		goto out;
	}
	st = PROV_E_INPUT;
	if (!is_array(body, 4)) {
		prov_err_set(e, st, "COSE_Sign1: not an array of 4 elements");
		goto out;
	}
	f = cbor_array_handle(body);
	if (!is_bstr(f[0])) {
		prov_err_set(e, st, "COSE_Sign1: the protected header is not a byte string");
		goto out;
	}
	if (!is_map(f[1])) {
		prov_err_set(e, st, "COSE_Sign1: the unprotected header is not a map");
		goto out;
	}
	if (is_simple(f[2], CBOR_CTRL_NULL)) {
		prov_err_set(e, st, "COSE_Sign1: detached payload (nil): not supported");
		goto out;
	}
	if (!is_bstr(f[2]) || !is_bstr(f[3])) {
		prov_err_set(e, st, "COSE_Sign1: the %s is not a byte string",
		             is_bstr(f[2]) ? "signature" : "payload");
		goto out;
	}
	unprot = f[1];
	st = sign1_locate(msg, msg_len, tagged, &v, e);
	if (st != PROV_OK)
		goto out;
	st = decode_protected("COSE_Sign1", v.prot, v.prot_len, &prot, e);
	if (st != PROV_OK)
		goto out;
	st = check_labels("COSE_Sign1", prot, unprot, e);
	if (st != PROV_OK)
		goto out;
	if (prov_cbor_map_get_int(unprot, HDR_CRIT) != NULL) {
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Sign1: crit in the unprotected header: "
		                  "it must be protected");
		goto out;
	}

	/* From here on a problem is a verification failure. */
	st = PROV_E_VERIFY;
	if (prov_cbor_map_get_int(prot, HDR_CRIT) != NULL) {
		prov_err_set(e, st, "COSE_Sign1: critical header parameters: not supported");
		goto out;
	}
	alg_item = prov_cbor_map_get_int(prot, HDR_ALG);
	if (alg_item == NULL) {
		prov_err_set(e, st, "COSE_Sign1: %s",
		             prov_cbor_map_get_int(unprot, HDR_ALG) != NULL
		             ? "alg is in the unprotected header: it must be protected"
		             : "no alg in the protected header");
		goto out;
	}
	describe_alg(alg_item, desc, sizeof(desc));
	a = prov_cbor_get_int(alg_item, &alg) == 0 ? sign_alg_find(alg) : NULL;
	if (a == NULL) {
		prov_err_set(e, st, "COSE_Sign1: unsupported alg %s: expected ES256 (-7), "
		             "ES384 (-35) or EdDSA (-8)", desc);
		goto out;
	}
	for (i = 0; i < nkeys; i++)
		fitting += key_kind(keys[i]) == a->kind;
	if (fitting == 0) {
		prov_err_set(e, st, "COSE_Sign1: alg %s does not fit %s", a->name,
		             nkeys == 1 ? "the key" : "any of the keys");
		goto out;
	}
	if (v.sig_len != a->sig_len) {
		prov_err_set(e, st, "COSE_Sign1: %s signature is %zu bytes: expected %zu",
		             a->name, v.sig_len, a->sig_len);
		goto out;
	}
	st = sig_structure(v.prot, v.prot_len, external_aad, aad_len, v.payload,
	                   v.payload_len, &tbs, &tbs_len, e);
	if (st != PROV_OK)
		goto out;
	st = PROV_E_VERIFY;
	for (i = 0; i < nkeys; i++)
		if (key_kind(keys[i]) == a->kind && verify_raw(keys[i], a, tbs, tbs_len, v.sig))
			break;
	if (i == nkeys) {
		prov_err_set(e, st, "COSE_Sign1: %s signature does not verify with %s", a->name,
		             nkeys == 1 ? "the key" : "any of the keys");
		goto out;
	}

	/* kid: a byte string in either bucket (we write it protected) */
	kid_item = prov_cbor_map_get_int(prot, HDR_KID);
	found = 0;
	if (kid_item != NULL && is_bstr(kid_item))
		found = map_find_bstr(v.prot, v.prot_len, cbor_map_size(prot), HDR_KID, &kid,
		                      &kid_len);
	else if (kid_item == NULL && (kid_item = prov_cbor_map_get_int(unprot, HDR_KID)) != NULL &&
	         is_bstr(kid_item))
		found = map_find_bstr(v.unprot, v.unprot_len, cbor_map_size(unprot), HDR_KID,
		                      &kid, &kid_len);
	if (kid_item != NULL && found != 1) {
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Sign1: kid is not a byte string");
		goto out;
	}
	if (info != NULL) {
		info->alg = a->alg;
		info->kid = kid;
		info->kid_len = kid_len;
		info->payload = v.payload;
		info->payload_len = v.payload_len;
		info->key_index = i;
	}
	st = PROV_OK;
out:
	free(tbs);
	if (prot != NULL)
		cbor_decref(&prot);
	if (body != NULL)
		cbor_decref(&body);
	if (top != NULL)
		cbor_decref(&top);
	return st;
}

/* ---- ECDH-ES + HKDF-256 -------------------------------------------------------------- */

/* P-256 key pair from a scalar (test hook): priv plus the computed public point. */
static prov_status p256_key_from_scalar(const uint8_t *d, EVP_PKEY **out, prov_err *e)
{
	prov_status st = PROV_E_CRYPTO;
	BIGNUM *bn = BN_secure_new();   /* OSSL_PARAM_free then wipes its copy */
	EC_GROUP *grp = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *pt = grp != NULL ? EC_POINT_new(grp) : NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	uint8_t pub[P256_POINT];

	*out = NULL;
	if (bn == NULL || pt == NULL || bld == NULL || ctx == NULL ||
	    BN_bin2bn(d, P256_COORD, bn) == NULL) {
		prov_err_ssl(e, PROV_E_INTERNAL, "COSE_Encrypt: ephemeral key: out of memory");
		goto out;
	}
	if (BN_is_zero(bn) || BN_cmp(bn, EC_GROUP_get0_order(grp)) >= 0) {
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Encrypt: ephemeral key: the scalar is "
		                  "not in [1, n-1]");
		goto out;
	}
	if (EC_POINT_mul(grp, pt, bn, NULL, NULL, NULL) != 1 ||
	    EC_POINT_point2oct(grp, pt, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub),
	                       NULL) != sizeof(pub) ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	                                    SN_X9_62_prime256v1, 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, bn) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
	                                     sizeof(pub)) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) != 1) {
		prov_err_ssl(e, PROV_E_CRYPTO, "COSE_Encrypt: ephemeral key: cannot build the "
		             "P-256 key pair");
		goto out;
	}
	st = PROV_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(pt);
	EC_GROUP_free(grp);
	BN_clear_free(bn);
	return st;
}

/* P-256 public key from x and y, or from x and the sign bit of y (point
 * compression, RFC 9053 section 7.1.1) when y is NULL.  Checks the point. */
static prov_status p256_pub_from_coords(const uint8_t *x, const uint8_t *y, int y_bit,
                                        EVP_PKEY **out, prov_err *e)
{
	prov_status st = PROV_E_INPUT;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL), *check = NULL;
	uint8_t pub[P256_POINT];
	size_t pub_len;

	*out = NULL;
	pub[0] = y != NULL ? 0x04 : (uint8_t)(0x02 | (y_bit & 1));   /* SEC 1, 2.3.3 */
	memcpy(pub + 1, x, P256_COORD);
	if (y != NULL)
		memcpy(pub + 1 + P256_COORD, y, P256_COORD);
	pub_len = y != NULL ? P256_POINT : 1 + P256_COORD;
	if (bld == NULL || ctx == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	                                    SN_X9_62_prime256v1, 0) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, pub_len) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1) {
		st = prov_err_ssl(e, PROV_E_INTERNAL, "COSE_Encrypt: ephemeral key: out of memory");
		goto out;
	}
	if (EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) != 1 ||
	    (check = EVP_PKEY_CTX_new_from_pkey(NULL, *out, NULL)) == NULL ||
	    EVP_PKEY_public_check(check) != 1) {
		EVP_PKEY_free(*out);
		*out = NULL;
		st = prov_err_ssl(e, PROV_E_INPUT, "COSE_Encrypt: ephemeral key: not a valid "
		                  "P-256 point");
		goto out;
	}
	st = PROV_OK;
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return st;
}

static prov_status p256_coords(EVP_PKEY *key, uint8_t *x, uint8_t *y, prov_err *e)
{
	uint8_t pt[P256_POINT];
	size_t n = 0;

	/* One parameter read: the uncompressed point 04 || x || y (SEC 1, 2.3.3). */
	if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt),
	                                    &n) != 1 ||
	    n != P256_POINT || pt[0] != 0x04)
		return prov_err_ssl(e, PROV_E_CRYPTO, "COSE_Encrypt: ephemeral key: cannot read the public point");
	memcpy(x, pt + 1, P256_COORD);
	memcpy(y, pt + 1 + P256_COORD, P256_COORD);
	return PROV_OK;
}

/* The ECDH shared secret: the x coordinate of d * Q (RFC 9053 section 6.3.1). */
static prov_status ecdh_secret(EVP_PKEY *priv, EVP_PKEY *peer, uint8_t *secret,
                               prov_err *e)
{
	prov_status st = PROV_E_CRYPTO;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	size_t n = P256_COORD;

	/* No second public-key check here (validate_peer 0): every key reaching
	 * this point was decoded by OpenSSL (d2i, oct2point), which refuses points
	 * off the curve, and the full check doubled the cost of an ECDH. */
	if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) != 1 ||
	    EVP_PKEY_derive(ctx, secret, &n) != 1 || n != P256_COORD) {
		OPENSSL_cleanse(secret, P256_COORD);
		prov_err_ssl(e, st, "COSE_Encrypt: ECDH key agreement failed");
		goto out;
	}
	st = PROV_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	return st;
}

static cbor_item_t *party_info_nil(void)
{
	cbor_item_t *a = cbor_new_definite_array(3);

	if (a == NULL || prov_cbor_array_push(a, cbor_new_null()) != 0 ||
	    prov_cbor_array_push(a, cbor_new_null()) != 0 ||
	    prov_cbor_array_push(a, cbor_new_null()) != 0) {
		if (a != NULL)
			cbor_decref(&a);
		return NULL;
	}
	return a;
}

/* COSE_KDF_Context = [AlgorithmID, PartyUInfo [nil, nil, nil], PartyVInfo [nil, nil,
 * nil], SuppPubInfo [keyDataLength, protected]] (RFC 9053 section 5.2). */
static prov_status kdf_context(int content_alg, const uint8_t *rprot, size_t rprot_len,
                               uint8_t **out, size_t *out_len, prov_err *e)
{
	prov_status st;
	cbor_item_t *ctx = cbor_new_definite_array(4), *supp = cbor_new_definite_array(2);

	if (ctx == NULL || supp == NULL ||
	    prov_cbor_array_push(supp, prov_cbor_uint(CEK_BITS)) != 0 ||
	    prov_cbor_array_push(supp, prov_cbor_bytes(rprot, rprot_len)) != 0 ||
	    prov_cbor_array_push(ctx, prov_cbor_int(content_alg)) != 0 ||
	    prov_cbor_array_push(ctx, party_info_nil()) != 0 ||
	    prov_cbor_array_push(ctx, party_info_nil()) != 0 ||
	    prov_cbor_array_push(ctx, cbor_incref(supp)) != 0) {
		st = prov_err_set(e, PROV_E_INTERNAL, "COSE_Encrypt: KDF context: out of memory");
		goto out;
	}
	st = prov_cbor_encode(ctx, out, out_len, e);
out:
	if (supp != NULL)
		cbor_decref(&supp);
	if (ctx != NULL)
		cbor_decref(&ctx);
	return st;
}

/* CEK = HKDF-SHA256(IKM = ECDH secret, no salt, info = COSE_KDF_Context, L = 16). */
static prov_status derive_cek(EVP_PKEY *priv, EVP_PKEY *peer, int content_alg,
                              const uint8_t *rprot, size_t rprot_len, uint8_t *cek,
                              prov_err *e)
{
	static char digest[] = "SHA256";
	prov_status st;
	uint8_t secret[P256_COORD];
	uint8_t *info = NULL;
	size_t info_len = 0;
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[4];

	st = ecdh_secret(priv, peer, secret, e);
	if (st != PROV_OK)
		goto out;
	st = kdf_context(content_alg, rprot, rprot_len, &info, &info_len, e);
	if (st != PROV_OK)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, secret, sizeof(secret));
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len);
	params[3] = OSSL_PARAM_construct_end();
	/* the process-wide HKDF (prov/algs.h), else one of our own, freed below */
	if (prov_kdf_hkdf() == NULL)
		kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	kctx = prov_kdf_hkdf() != NULL ? EVP_KDF_CTX_new(prov_kdf_hkdf())
	                              : kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	if (kctx == NULL || EVP_KDF_derive(kctx, cek, CEK_LEN, params) != 1) {
		OPENSSL_cleanse(cek, CEK_LEN);
		st = prov_err_ssl(e, PROV_E_CRYPTO, "COSE_Encrypt: HKDF-SHA256 failed");
		goto out;
	}
	st = PROV_OK;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	free(info);
	return st;
}

/* Enc_structure = ["Encrypt", protected, external_aad] (RFC 9052 section 5.3). */
static prov_status enc_structure(const uint8_t *prot, size_t prot_len, const uint8_t *aad,
                                 size_t aad_len, uint8_t **out, size_t *out_len, prov_err *e)
{
	prov_status st;
	cbor_item_t *a = cbor_new_definite_array(3);

	if (a == NULL || prov_cbor_array_push(a, prov_cbor_text("Encrypt")) != 0 ||
	    prov_cbor_array_push(a, prov_cbor_bytes(prot, prot_len)) != 0 ||
	    prov_cbor_array_push(a, prov_cbor_bytes(aad, aad_len)) != 0) {
		st = prov_err_set(e, PROV_E_INTERNAL, "COSE_Encrypt: Enc_structure: out of memory");
		goto out;
	}
	st = prov_cbor_encode(a, out, out_len, e);
out:
	if (a != NULL)
		cbor_decref(&a);
	return st;
}

/* ct gets pt_len bytes of ciphertext followed by the tag. */
static prov_status aead_seal(const struct content_alg *ca, const uint8_t *key,
                             const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                             const uint8_t *pt, size_t pt_len, uint8_t *ct, prov_err *e)
{
	prov_status st = PROV_E_CRYPTO;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int ccm = ca->alg == PROV_COSE_ALG_AES_CCM_16_64_128, n = 0;
	/* OpenSSL's CCM reads a NULL input as "finish": give empty data an address */
	static const uint8_t empty[1];
	const uint8_t *in = pt_len > 0 ? pt : empty;

	if (pt_len > INT_MAX || aad_len > INT_MAX) {
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Encrypt: plaintext or AAD too large");
		goto out;
	}
	if (c == NULL ||
	    EVP_EncryptInit_ex(c, ccm ? prov_cipher_aes_128_ccm() : prov_cipher_aes_128_gcm(), NULL, NULL,
	                       NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, (int)ca->iv_len, NULL) != 1 ||
	    (ccm && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, (int)ca->tag_len, NULL) != 1) ||
	    EVP_EncryptInit_ex(c, NULL, NULL, key, iv) != 1 ||
	    (ccm && EVP_EncryptUpdate(c, NULL, &n, NULL, (int)pt_len) != 1) ||
	    EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1 ||
	    ((ccm || pt_len > 0) && EVP_EncryptUpdate(c, ct, &n, in, (int)pt_len) != 1) ||
	    EVP_EncryptFinal_ex(c, ct + pt_len, &n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, (int)ca->tag_len, ct + pt_len) != 1) {
		prov_err_ssl(e, st, "COSE_Encrypt: %s encryption failed", ca->name);
		goto out;
	}
	st = PROV_OK;
out:
	EVP_CIPHER_CTX_free(c);   /* wipes the key schedule */
	return st;
}

/* ct_len includes the tag; pt receives ct_len - tag_len bytes, wiped on failure. */
static prov_status aead_open(const struct content_alg *ca, const uint8_t *key,
                             const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                             const uint8_t *ct, size_t ct_len, uint8_t *pt, prov_err *e)
{
	prov_status st = PROV_E_CRYPTO;
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int ccm = ca->alg == PROV_COSE_ALG_AES_CCM_16_64_128, n = 0, ok;
	size_t body = ct_len - ca->tag_len;
	uint8_t tag[MAX_TAG], scratch[1];
	uint8_t *o = body > 0 ? pt : scratch;

	memcpy(tag, ct + body, ca->tag_len);
	if (body > INT_MAX || aad_len > INT_MAX) {
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Encrypt: ciphertext or AAD too large");
		goto out;
	}
	if (c == NULL ||
	    EVP_DecryptInit_ex(c, ccm ? prov_cipher_aes_128_ccm() : prov_cipher_aes_128_gcm(), NULL, NULL,
	                       NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, (int)ca->iv_len, NULL) != 1 ||
	    (ccm && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, (int)ca->tag_len, tag) != 1) ||
	    EVP_DecryptInit_ex(c, NULL, NULL, key, iv) != 1 ||
	    (ccm && EVP_DecryptUpdate(c, NULL, &n, NULL, (int)body) != 1) ||
	    EVP_DecryptUpdate(c, NULL, &n, aad, (int)aad_len) != 1) {
		prov_err_ssl(e, st, "COSE_Encrypt: %s decryption setup failed", ca->name);
		goto out;
	}
	if (ccm) {
		/* CCM checks the tag in this call (ct is never NULL: it holds the tag) */
		ok = EVP_DecryptUpdate(c, o, &n, ct, (int)body) == 1;
	} else {
		ok = (body == 0 || EVP_DecryptUpdate(c, o, &n, ct, (int)body) == 1) &&
		     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, (int)ca->tag_len, tag) == 1 &&
		     EVP_DecryptFinal_ex(c, o + (body > 0 ? body : 0), &n) == 1;
	}
	if (!ok) {
		if (body > 0)
			OPENSSL_cleanse(pt, body);   /* no unauthenticated plaintext escapes */
		ERR_clear_error();
		st = prov_err_set(e, PROV_E_VERIFY, "COSE_Encrypt: %s authentication failed: "
		                  "tampered, or encrypted to another key", ca->name);
		goto out;
	}
	st = PROV_OK;
out:
	EVP_CIPHER_CTX_free(c);
	return st;
}

/* The COSE_Encrypt item (tag 96).  Pairs go in deterministic order (4 before -1:
 * 0x04 < 0x20) so that even a plain libcbor serialisation is canonical. */
static prov_status encrypt_item(const uint8_t *prot, size_t prot_len, const uint8_t *iv,
                                size_t iv_len, const uint8_t *ct, size_t ct_len,
                                const uint8_t *rprot, size_t rprot_len, const uint8_t *x,
                                const uint8_t *y, const uint8_t *kid, size_t kid_len,
                                cbor_item_t **out, prov_err *e)
{
	cbor_item_t *arr = cbor_new_definite_array(4);
	cbor_item_t *unprot = cbor_new_definite_map(1);
	cbor_item_t *recips = cbor_new_definite_array(1);
	cbor_item_t *rcpt = cbor_new_definite_array(3);
	cbor_item_t *runprot = cbor_new_definite_map(kid_len > 0 ? 2 : 1);
	cbor_item_t *epk = cbor_new_definite_map(4);
	int bad;

	bad = arr == NULL || unprot == NULL || recips == NULL || rcpt == NULL ||
	      runprot == NULL || epk == NULL;
	/* the ephemeral COSE_Key {1: EC2, -1: P-256, -2: x, -3: y} */
	bad = bad || prov_cbor_map_put_int(epk, KEY_KTY, prov_cbor_int(KTY_EC2)) != 0 ||
	      prov_cbor_map_put_int(epk, KEY_CRV, prov_cbor_int(CRV_P256)) != 0 ||
	      prov_cbor_map_put_int(epk, KEY_X, prov_cbor_bytes(x, P256_COORD)) != 0 ||
	      prov_cbor_map_put_int(epk, KEY_Y, prov_cbor_bytes(y, P256_COORD)) != 0;
	bad = bad || (kid_len > 0 &&
	              prov_cbor_map_put_int(runprot, HDR_KID, prov_cbor_bytes(kid, kid_len)) != 0);
	bad = bad || prov_cbor_map_put_int(runprot, HDR_EPK, cbor_incref(epk)) != 0;
	bad = bad || prov_cbor_array_push(rcpt, prov_cbor_bytes(rprot, rprot_len)) != 0 ||
	      prov_cbor_array_push(rcpt, cbor_incref(runprot)) != 0 ||
	      prov_cbor_array_push(rcpt, prov_cbor_bytes(NULL, 0)) != 0 ||
	      prov_cbor_array_push(recips, cbor_incref(rcpt)) != 0;
	bad = bad || prov_cbor_map_put_int(unprot, HDR_IV, prov_cbor_bytes(iv, iv_len)) != 0;
	bad = bad || prov_cbor_array_push(arr, prov_cbor_bytes(prot, prot_len)) != 0 ||
	      prov_cbor_array_push(arr, cbor_incref(unprot)) != 0 ||
	      prov_cbor_array_push(arr, prov_cbor_bytes(ct, ct_len)) != 0 ||
	      prov_cbor_array_push(arr, cbor_incref(recips)) != 0;
	if (!bad) {
		*out = cbor_build_tag(PROV_COSE_TAG_ENCRYPT, arr);
		bad = *out == NULL;
	}
	if (epk != NULL)
		cbor_decref(&epk);
	if (runprot != NULL)
		cbor_decref(&runprot);
	if (rcpt != NULL)
		cbor_decref(&rcpt);
	if (recips != NULL)
		cbor_decref(&recips);
	if (unprot != NULL)
		cbor_decref(&unprot);
	if (arr != NULL)
		cbor_decref(&arr);
	if (bad)
		return prov_err_set(e, PROV_E_INTERNAL, "COSE_Encrypt: message: out of memory");
	return PROV_OK;
}

prov_status prov_cose_encrypt_ecdh_es(EVP_PKEY *recipient, int content_alg,
                                      const uint8_t *kid, size_t kid_len,
                                      const uint8_t *pt, size_t pt_len,
                                      const uint8_t *external_aad, size_t aad_len,
                                      const prov_cose_enc_fixed *fixed,
                                      cbor_item_t **out, prov_err *e)
{
	prov_status st;
	const struct content_alg *ca = content_alg_find(content_alg);
	EVP_PKEY *eph = NULL;
	uint8_t iv[MAX_IV], cek[CEK_LEN], x[P256_COORD], y[P256_COORD];
	uint8_t *prot = NULL, *rprot = NULL, *aad = NULL, *ct = NULL;
	size_t prot_len = 0, rprot_len = 0, aad_enc_len = 0, ct_len = 0;
	char desc[64];

	*out = NULL;
	memset(cek, 0, sizeof(cek));
	if (ca == NULL) {
		const char *name = alg_name(content_alg);

		snprintf(desc, sizeof(desc), "%s%s%d%s", name != NULL ? name : "",
		         name != NULL ? " (" : "", content_alg, name != NULL ? ")" : "");
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Encrypt: unsupported content alg %s: "
		                  "expected A128GCM (1) or AES-CCM-16-64-128 (10)", desc);
		goto out;
	}
	if (key_kind(recipient) != KEY_P256) {
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Encrypt: recipient key is not a P-256 "
		                  "key: ECDH-ES + HKDF-256 here is P-256 only");
		goto out;
	}
	if ((kid == NULL && kid_len > 0) || (pt == NULL && pt_len > 0) ||
	    (external_aad == NULL && aad_len > 0)) {
		st = prov_err_set(e, PROV_E_INTERNAL, "COSE_Encrypt: NULL buffer with a length");
		goto out;
	}
	if (ca->alg == PROV_COSE_ALG_AES_CCM_16_64_128 && pt_len > CCM_MAX_PT) {
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Encrypt: plaintext of %zu bytes: "
		                  "AES-CCM-16-64-128 carries at most %u", pt_len, CCM_MAX_PT);
		goto out;
	}
	if (fixed != NULL && fixed->eph_priv != NULL) {
		st = p256_key_from_scalar(fixed->eph_priv, &eph, e);
		if (st != PROV_OK)
			goto out;
	} else if (fixed != NULL && fixed->keygen != NULL ? EVP_PKEY_generate(fixed->keygen, &eph) != 1
	           : (eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL) {
		st = prov_err_ssl(e, PROV_E_CRYPTO, "COSE_Encrypt: cannot generate the ephemeral key");
		goto out;
	}
	if (fixed != NULL && fixed->iv != NULL) {
		memcpy(iv, fixed->iv, ca->iv_len);
	} else if (RAND_bytes(iv, (int)ca->iv_len) != 1) {
		st = prov_err_ssl(e, PROV_E_CRYPTO, "COSE_Encrypt: cannot generate the IV");
		goto out;
	}
	st = p256_coords(eph, x, y, e);
	if (st != PROV_OK)
		goto out;
	st = encode_alg_header(PROV_COSE_ALG_ECDH_ES_HKDF_256, &rprot, &rprot_len, e);
	if (st != PROV_OK)
		goto out;
	st = encode_alg_header(ca->alg, &prot, &prot_len, e);
	if (st != PROV_OK)
		goto out;
	st = derive_cek(eph, recipient, ca->alg, rprot, rprot_len, cek, e);
	if (st != PROV_OK)
		goto out;
	st = enc_structure(prot, prot_len, external_aad, aad_len, &aad, &aad_enc_len, e);
	if (st != PROV_OK)
		goto out;
	ct_len = pt_len + ca->tag_len;
	ct = malloc(ct_len);
	if (ct == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "COSE_Encrypt: out of memory");
		goto out;
	}
	st = aead_seal(ca, cek, iv, aad, aad_enc_len, pt, pt_len, ct, e);
	if (st != PROV_OK)
		goto out;
	st = encrypt_item(prot, prot_len, iv, ca->iv_len, ct, ct_len, rprot, rprot_len, x, y,
	                  kid, kid_len, out, e);
out:
	OPENSSL_cleanse(cek, sizeof(cek));
	EVP_PKEY_free(eph);   /* clears the ephemeral scalar */
	free(ct);
	free(aad);
	free(prot);
	free(rprot);
	return st;
}

/* One COSE_Encrypt layer's headers: the protected map decoded, labels checked
 * across both maps, and no critical parameters (none are understood here). */
static prov_status layer_headers(const char *what, const cbor_item_t *prot_b,
                                 const cbor_item_t *unprot, cbor_item_t **prot, prov_err *e)
{
	prov_status st = decode_protected(what, cbor_bytestring_handle(prot_b),
	                                  cbor_bytestring_length(prot_b), prot, e);

	if (st == PROV_OK)
		st = check_labels(what, *prot, unprot, e);
	if (st == PROV_OK && (prov_cbor_map_get_int(*prot, HDR_CRIT) != NULL ||
	                      prov_cbor_map_get_int(unprot, HDR_CRIT) != NULL))
		st = prov_err_set(e, PROV_E_INPUT, "%s: critical header parameters: not supported", what);
	return st;
}

/* Read the sender's ephemeral COSE_Key: EC2 on P-256, x and y (or y's sign bit). */
static prov_status epk_from_cose_key(const cbor_item_t *k, EVP_PKEY **out, prov_err *e)
{
	prov_status st;
	const cbor_item_t *x, *y;
	int64_t kty = 0, crv = 0;

	*out = NULL;
	if (!is_map(k)) {
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Encrypt: ephemeral key: not a COSE_Key map");
		goto out;
	}
	st = check_labels("COSE_Encrypt: ephemeral key", NULL, k, e);
	if (st != PROV_OK)
		goto out;
	st = PROV_E_INPUT;
	if (prov_cbor_get_int(prov_cbor_map_get_int(k, KEY_KTY), &kty) != 0 || kty != KTY_EC2) {
		prov_err_set(e, st, "COSE_Encrypt: ephemeral key: kty is not EC2 (2)");
		goto out;
	}
	if (prov_cbor_get_int(prov_cbor_map_get_int(k, KEY_CRV), &crv) != 0 || crv != CRV_P256) {
		prov_err_set(e, st, "COSE_Encrypt: ephemeral key: curve is not P-256 (1)");
		goto out;
	}
	x = prov_cbor_map_get_int(k, KEY_X);
	y = prov_cbor_map_get_int(k, KEY_Y);
	if (!is_bstr(x) || cbor_bytestring_length(x) != P256_COORD) {
		prov_err_set(e, st, "COSE_Encrypt: ephemeral key: x is not a %d-byte string",
		             P256_COORD);
		goto out;
	}
	if (is_bstr(y) && cbor_bytestring_length(y) == P256_COORD)
		st = p256_pub_from_coords(cbor_bytestring_handle(x), cbor_bytestring_handle(y), 0,
		                          out, e);
	else if (is_simple(y, CBOR_CTRL_TRUE) || is_simple(y, CBOR_CTRL_FALSE))
		st = p256_pub_from_coords(cbor_bytestring_handle(x), NULL,
		                          is_simple(y, CBOR_CTRL_TRUE), out, e);
	else
		prov_err_set(e, st, "COSE_Encrypt: ephemeral key: y is neither a %d-byte string "
		             "nor a sign bit", P256_COORD);
out:
	return st;
}

prov_status prov_cose_decrypt_ecdh_es(EVP_PKEY *recipient_priv, const cbor_item_t *msg,
                                      const uint8_t *external_aad, size_t aad_len,
                                      uint8_t *pt, size_t pt_cap, size_t *pt_len,
                                      prov_err *e)
{
	prov_status st = PROV_E_INPUT;
	cbor_item_t *body = NULL, *prot = NULL, *rprot = NULL;
	cbor_item_t **f, **r;
	const cbor_item_t *alg_item, *iv, *ralg;
	const struct content_alg *ca = NULL;
	EVP_PKEY *eph = NULL;
	uint8_t cek[CEK_LEN];
	uint8_t *aad = NULL;
	size_t aad_enc_len = 0, ct_len, body_len;
	int64_t alg;
	char desc[64];

	*pt_len = 0;
	memset(cek, 0, sizeof(cek));
	if (external_aad == NULL && aad_len > 0) {
		st = prov_err_set(e, PROV_E_INTERNAL, "COSE_Encrypt: NULL buffer with a length");
		goto out;
	}
	if (key_kind(recipient_priv) != KEY_P256) {
		prov_err_set(e, st, "COSE_Encrypt: recipient key is not a P-256 key");
		goto out;
	}
	if (msg == NULL || !cbor_isa_tag(msg) || cbor_tag_value(msg) != PROV_COSE_TAG_ENCRYPT) {
		prov_err_set(e, st, "COSE_Encrypt: not tagged with %d", PROV_COSE_TAG_ENCRYPT);
		goto out;
	}
	body = cbor_tag_item(msg);
	if (!is_array(body, 4)) {
		prov_err_set(e, st, "COSE_Encrypt: not an array of 4 elements");
		goto out;
	}
	f = cbor_array_handle(body);
	if (!is_bstr(f[0]) || !is_map(f[1]) || !is_bstr(f[2])) {
		prov_err_set(e, st, "COSE_Encrypt: expected [protected bstr, unprotected map, "
		             "ciphertext bstr, recipients]%s",
		             is_simple(f[2], CBOR_CTRL_NULL) ? ": detached ciphertext is not supported" : "");
		goto out;
	}
	if (!cbor_isa_array(f[3]) || !cbor_array_is_definite(f[3]) ||
	    cbor_array_size(f[3]) != 1) {
		prov_err_set(e, st, "COSE_Encrypt: recipients: expected an array with exactly "
		             "one recipient");
		goto out;
	}

	/* layer 0: {1: content alg} protected, {5: IV} unprotected */
	st = layer_headers("COSE_Encrypt", f[0], f[1], &prot, e);
	if (st != PROV_OK)
		goto out;
	st = PROV_E_INPUT;
	alg_item = prov_cbor_map_get_int(prot, HDR_ALG);
	describe_alg(alg_item, desc, sizeof(desc));
	if (alg_item == NULL || prov_cbor_get_int(alg_item, &alg) != 0 ||
	    (ca = content_alg_find(alg)) == NULL) {
		prov_err_set(e, st, "COSE_Encrypt: %s content alg %s in the protected header: "
		             "expected A128GCM (1) or AES-CCM-16-64-128 (10)",
		             alg_item == NULL ? "no" : "unsupported", desc);
		goto out;
	}
	if (prov_cbor_map_get_int(prot, HDR_PARTIAL_IV) != NULL ||
	    prov_cbor_map_get_int(f[1], HDR_PARTIAL_IV) != NULL) {
		prov_err_set(e, st, "COSE_Encrypt: Partial IV: not supported (the full IV goes "
		             "in label 5)");
		goto out;
	}
	iv = prov_cbor_map_get_int(f[1], HDR_IV);
	if (!is_bstr(iv) || cbor_bytestring_length(iv) != ca->iv_len) {
		prov_err_set(e, st, "COSE_Encrypt: %s needs a %zu-byte IV in the unprotected "
		             "header", ca->name, ca->iv_len);
		goto out;
	}
	ct_len = cbor_bytestring_length(f[2]);
	if (ct_len < ca->tag_len) {
		prov_err_set(e, st, "COSE_Encrypt: ciphertext of %zu bytes is shorter than the "
		             "%zu-byte %s tag", ct_len, ca->tag_len, ca->name);
		goto out;
	}
	body_len = ct_len - ca->tag_len;
	if (body_len > pt_cap || (pt == NULL && body_len > 0)) {
		prov_err_set(e, st, "COSE_Encrypt: plaintext of %zu bytes does not fit the "
		             "%zu-byte buffer", body_len, pt_cap);
		goto out;
	}

	/* the recipient: [{1: -25} protected, {-1: ephemeral key, 4: kid}, h''] */
	{
		const cbor_item_t *rcpt = cbor_array_handle(f[3])[0];

		if (!is_array(rcpt, 3)) {
			prov_err_set(e, st, "COSE_Encrypt: recipient: not an array of 3 elements");
			goto out;
		}
		r = cbor_array_handle(rcpt);
	}
	if (!is_bstr(r[0]) || !is_map(r[1]) || !is_bstr(r[2]) ||
	    cbor_bytestring_length(r[2]) != 0) {
		prov_err_set(e, st, "COSE_Encrypt: recipient: expected [protected bstr, "
		             "unprotected map, empty bstr] for direct key agreement");
		goto out;
	}
	st = layer_headers("COSE_Encrypt recipient", r[0], r[1], &rprot, e);
	if (st != PROV_OK)
		goto out;
	st = PROV_E_INPUT;
	ralg = prov_cbor_map_get_int(rprot, HDR_ALG);
	if (prov_cbor_get_int(ralg, &alg) != 0 || alg != PROV_COSE_ALG_ECDH_ES_HKDF_256) {
		describe_alg(ralg, desc, sizeof(desc));
		prov_err_set(e, st, "COSE_Encrypt recipient: alg %s in the protected header: "
		             "expected ECDH-ES + HKDF-256 (-25)", desc);
		goto out;
	}
	st = epk_from_cose_key(prov_cbor_map_get_int(r[1], HDR_EPK), &eph, e);
	if (st != PROV_OK)
		goto out;

	st = derive_cek(recipient_priv, eph, ca->alg, cbor_bytestring_handle(r[0]),
	                cbor_bytestring_length(r[0]), cek, e);
	if (st != PROV_OK)
		goto out;
	st = enc_structure(cbor_bytestring_handle(f[0]), cbor_bytestring_length(f[0]),
	                   external_aad, aad_len, &aad, &aad_enc_len, e);
	if (st != PROV_OK)
		goto out;
	st = aead_open(ca, cek, cbor_bytestring_handle(iv), aad, aad_enc_len,
	               cbor_bytestring_handle(f[2]), ct_len, pt, e);
	if (st != PROV_OK)
		goto out;
	*pt_len = body_len;
out:
	OPENSSL_cleanse(cek, sizeof(cek));
	EVP_PKEY_free(eph);
	free(aad);
	if (rprot != NULL)
		cbor_decref(&rprot);
	if (prot != NULL)
		cbor_decref(&prot);
	if (body != NULL)
		cbor_decref(&body);
	return st;
}
