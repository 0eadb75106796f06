/*
 * cose_encrypt.c - COSE_Encrypt (RFC 9052 section 5.1) with one recipient by
 * direct key agreement ECDH-ES + HKDF-256 on P-256 (RFC 9053 section 6.3),
 * content AES-CCM-16-64-128 or A128GCM (see prov/cose.h; what it shares with
 * COSE_Sign1 is in cose_header.c).  Key material is wiped (OPENSSL_cleanse).
 */
#include "prov/cose.h"

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

#include "prov/algs.h"
#include "prov/cbor.h"

#include "cose_internal.h"

/* COSE_Key labels and values (RFC 9053 section 7.1). */
#define KEY_KTY 1
#define KEY_CRV (-1)
#define KEY_X (-2)
#define KEY_Y (-3)
#define KTY_EC2 2
#define CRV_P256 1

#define P256_COORD 32
#define P256_POINT (1 + 2 * P256_COORD)  /* 04 || x || y */
#define CEK_LEN 16                       /* both content algs use AES-128 */
#define CEK_BITS 128                     /* keyDataLength, RFC 9053 section 5.2 */
#define MAX_IV 13
#define MAX_TAG 16
/* AES-CCM-16-64-128 has a 13-byte nonce, so L = 2 bytes of length (RFC 3610). */
#define CCM_MAX_PT 65535u

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
	const struct content_alg *ca = cose_content_alg_find(content_alg);
	EVP_PKEY *eph = NULL;
	uint8_t iv[MAX_IV], cek[CEK_LEN], x[P256_COORD], y[P256_COORD];
	uint8_t *prot = NULL, *rprot = NULL, *aad = NULL, *ct = NULL;
	size_t prot_len = 0, rprot_len = 0, aad_enc_len = 0, ct_len = 0;
	char desc[64];

	*out = NULL;
	memset(cek, 0, sizeof(cek));
	if (ca == NULL) {
		const char *name = cose_alg_name(content_alg);

		snprintf(desc, sizeof(desc), "%s%s%d%s", name != NULL ? name : "",
		         name != NULL ? " (" : "", content_alg, name != NULL ? ")" : "");
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Encrypt: unsupported content alg %s: "
		                  "expected A128GCM (1) or AES-CCM-16-64-128 (10)", desc);
		goto out;
	}
	if (cose_key_kind(recipient) != KEY_P256) {
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
	st = cose_encode_alg_header(PROV_COSE_ALG_ECDH_ES_HKDF_256, &rprot, &rprot_len, e);
	if (st != PROV_OK)
		goto out;
	st = cose_encode_alg_header(ca->alg, &prot, &prot_len, e);
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
	prov_status st = cose_decode_protected(what, cbor_bytestring_handle(prot_b),
	                                  cbor_bytestring_length(prot_b), prot, e);

	if (st == PROV_OK)
		st = cose_check_labels(what, *prot, unprot, e);
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
	if (!cose_is_map(k)) {
		st = prov_err_set(e, PROV_E_INPUT, "COSE_Encrypt: ephemeral key: not a COSE_Key map");
		goto out;
	}
	st = cose_check_labels("COSE_Encrypt: ephemeral key", NULL, k, e);
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
	if (!cose_is_bstr(x) || cbor_bytestring_length(x) != P256_COORD) {
		prov_err_set(e, st, "COSE_Encrypt: ephemeral key: x is not a %d-byte string",
		             P256_COORD);
		goto out;
	}
	if (cose_is_bstr(y) && cbor_bytestring_length(y) == P256_COORD)
		st = p256_pub_from_coords(cbor_bytestring_handle(x), cbor_bytestring_handle(y), 0,
		                          out, e);
	else if (cose_is_simple(y, CBOR_CTRL_TRUE) || cose_is_simple(y, CBOR_CTRL_FALSE))
		st = p256_pub_from_coords(cbor_bytestring_handle(x), NULL,
		                          cose_is_simple(y, CBOR_CTRL_TRUE), out, e);
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
	if (cose_key_kind(recipient_priv) != KEY_P256) {
		prov_err_set(e, st, "COSE_Encrypt: recipient key is not a P-256 key");
		goto out;
	}
	if (msg == NULL || !cbor_isa_tag(msg) || cbor_tag_value(msg) != PROV_COSE_TAG_ENCRYPT) {
		prov_err_set(e, st, "COSE_Encrypt: not tagged with %d", PROV_COSE_TAG_ENCRYPT);
		goto out;
	}
	body = cbor_tag_item(msg);
	if (!cose_is_array(body, 4)) {
		prov_err_set(e, st, "COSE_Encrypt: not an array of 4 elements");
		goto out;
	}
	f = cbor_array_handle(body);
	if (!cose_is_bstr(f[0]) || !cose_is_map(f[1]) || !cose_is_bstr(f[2])) {
		prov_err_set(e, st, "COSE_Encrypt: expected [protected bstr, unprotected map, "
		             "ciphertext bstr, recipients]%s",
		             cose_is_simple(f[2], CBOR_CTRL_NULL) ? ": detached ciphertext is not supported" : "");
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
	cose_describe_alg(alg_item, desc, sizeof(desc));
	if (alg_item == NULL || prov_cbor_get_int(alg_item, &alg) != 0 ||
	    (ca = cose_content_alg_find(alg)) == NULL) {
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
	if (!cose_is_bstr(iv) || cbor_bytestring_length(iv) != ca->iv_len) {
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

		if (!cose_is_array(rcpt, 3)) {
			prov_err_set(e, st, "COSE_Encrypt: recipient: not an array of 3 elements");
			goto out;
		}
		r = cbor_array_handle(rcpt);
	}
	if (!cose_is_bstr(r[0]) || !cose_is_map(r[1]) || !cose_is_bstr(r[2]) ||
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
		cose_describe_alg(ralg, desc, sizeof(desc));
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
