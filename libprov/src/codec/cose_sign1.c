/*
 * cose_sign1.c - COSE_Sign1 (RFC 9052 section 4.2): build, and verify against a
 * set of keys, with ES256, ES384 or EdDSA (see prov/cose.h; what it shares with
 * COSE_Encrypt is in cose_header.c).
 */
#include "prov/cose.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "prov/algs.h"
#include "prov/cbor.h"
#include "prov/util.h"

#include "cose_internal.h"

#define MAX_SIG 96                       /* ES384 r || s */

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
	const struct sign_alg *a = cose_sign_alg_find(prov_cose_sign_alg_for_key(key));

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
	return sign1_create(signer, cose_sign_alg_find(prov_cose_sign_alg_for_key(signer)), NULL, kid,
	                    kid_len, payload, payload_len, out, out_len, e);
}

prov_status prov_cose_sign1_create_with(const prov_cose_signer *s, const uint8_t *kid,
                                        size_t kid_len, const uint8_t *payload,
                                        size_t payload_len, uint8_t **out, size_t *out_len,
                                        prov_err *e)
{
	return sign1_create(s->key, cose_sign_alg_find(s->alg), s->tmpl, kid, kid_len, payload,
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
	if (!cose_is_array(body, 4)) {
		prov_err_set(e, st, "COSE_Sign1: not an array of 4 elements");
		goto out;
	}
	f = cbor_array_handle(body);
	if (!cose_is_bstr(f[0])) {
		prov_err_set(e, st, "COSE_Sign1: the protected header is not a byte string");
		goto out;
	}
	if (!cose_is_map(f[1])) {
		prov_err_set(e, st, "COSE_Sign1: the unprotected header is not a map");
		goto out;
	}
	if (cose_is_simple(f[2], CBOR_CTRL_NULL)) {
		prov_err_set(e, st, "COSE_Sign1: detached payload (nil): not supported");
		goto out;
	}
	if (!cose_is_bstr(f[2]) || !cose_is_bstr(f[3])) {
		prov_err_set(e, st, "COSE_Sign1: the %s is not a byte string",
		             cose_is_bstr(f[2]) ? "signature" : "payload");
		goto out;
	}
	unprot = f[1];
	st = sign1_locate(msg, msg_len, tagged, &v, e);
	if (st != PROV_OK)
		goto out;
	st = cose_decode_protected("COSE_Sign1", v.prot, v.prot_len, &prot, e);
	if (st != PROV_OK)
		goto out;
	st = cose_check_labels("COSE_Sign1", prot, unprot, e);
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
	cose_describe_alg(alg_item, desc, sizeof(desc));
	a = prov_cbor_get_int(alg_item, &alg) == 0 ? cose_sign_alg_find(alg) : NULL;
	if (a == NULL) {
		prov_err_set(e, st, "COSE_Sign1: unsupported alg %s: expected ES256 (-7), "
		             "ES384 (-35) or EdDSA (-8)", desc);
		goto out;
	}
	for (i = 0; i < nkeys; i++)
		fitting += cose_key_kind(keys[i]) == a->kind;
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
		if (cose_key_kind(keys[i]) == a->kind && verify_raw(keys[i], a, tbs, tbs_len, v.sig))
			break;
	if (i == nkeys) {
		prov_err_set(e, st, "COSE_Sign1: %s signature does not verify with %s", a->name,
		             nkeys == 1 ? "the key" : "any of the keys");
		goto out;
	}

	/* kid: a byte string in either bucket (we write it protected) */
	kid_item = prov_cbor_map_get_int(prot, HDR_KID);
	found = 0;
	if (kid_item != NULL && cose_is_bstr(kid_item))
		found = map_find_bstr(v.prot, v.prot_len, cbor_map_size(prot), HDR_KID, &kid,
		                      &kid_len);
	else if (kid_item == NULL && (kid_item = prov_cbor_map_get_int(unprot, HDR_KID)) != NULL &&
	         cose_is_bstr(kid_item))
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
