/*
 * pa_secrets.c - open the bundle's secrets: one COSE_Encrypt (RFC 9052 5.1,
 * tag 96) to the device's identity key with ECDH-ES + HKDF-256 (RFC 9053
 * 6.3.1) and AES-CCM-16-64-128 or A128GCM, whose plaintext is the
 * deterministic CBOR secret-list (schemas/bundle.cddl).  The content key is
 * derived inside PSA as a volatile key and never seen, and so is the ECDH
 * secret.  Also checks that every secret imports as the key its entry names.
 * Decryption is in place: the plaintext (the ciphertext less its tag) over
 * the ciphertext in the bundle buffer, so the device needs no second buffer
 * for it (PSA allows the same buffer for input and output; Mbed TLS 2.28's
 * CCM and GCM read each block before writing it).
 */
#include <string.h>

#include "verify/pa_verify.h"

#define COSE_TAG_ENCRYPT 96
#define HDR_ALG 1
#define HDR_KID 4
#define HDR_IV 5
#define HDR_EPK (-1)
#define ALG_A128GCM 1
#define ALG_CCM_16_64_128 10
/* COSE_Key labels and values (RFC 9053 section 7.1). */
#define KEY_KTY 1
#define KEY_CRV (-1)
#define KEY_X (-2)
#define KEY_Y (-3)
#define KTY_EC2 2
#define CRV_P256 1
#define COORD 32
#define KID_LEN 8
#define SECRET_MIN 16

/* The parts of the COSE_Encrypt that decryption needs. */
typedef struct enc_view {
	uint8_t alg;
	const uint8_t *prot, *iv, *ct, *rprot, *kid, *x, *y;
	size_t prot_len, iv_len, ct_len, rprot_len;
} enc_view;

/* Read an integer that must be exactly v (a label or a fixed value). */
static void expect(pa_cbor *r, int64_t v)
{
	(void)pa_cbor_int(r, v, v);
}

/* The payload is deterministic CBOR (bundle.cddl), so every map here has one
 * encoding, read in order: the protected headers byte for byte,
 *   [<< {1: alg} >>, {5: iv}, ciphertext,
 *    [[<< {1: -25} >>, {? 4: kid, -1: {1: 2, -1: 1, -2: x, -3: y}}, h'']]] */
static int parse_encrypt(const uint8_t *p, size_t len, enc_view *v)
{
	static const uint8_t rprot[] = { 0xa1, 0x01, 0x38, 0x18 };   /* {1: -25} */
	pa_cbor r;
	size_t iv_want, tag_len, n;

	memset(v, 0, sizeof(*v));
	pa_cbor_init(&r, p, len);
	if (pa_cbor_head(&r, PA_CBOR_TAG) != COSE_TAG_ENCRYPT ||
	    pa_cbor_head(&r, PA_CBOR_ARRAY) != 4)
		goto bad;
	v->prot = pa_cbor_bytes(&r, PA_CBOR_BSTR, 3, 3, &v->prot_len);
	if (v->prot == NULL || v->prot[0] != 0xa1 || v->prot[1] != HDR_ALG ||
	    (v->prot[2] != ALG_CCM_16_64_128 && v->prot[2] != ALG_A128GCM))
		goto bad;
	v->alg = v->prot[2];
	iv_want = v->alg == ALG_CCM_16_64_128 ? 13 : 12;
	tag_len = v->alg == ALG_CCM_16_64_128 ? 8 : 16;
	if (pa_cbor_head(&r, PA_CBOR_MAP) != 1)
		goto bad;
	expect(&r, HDR_IV);
	v->iv = pa_cbor_bytes(&r, PA_CBOR_BSTR, iv_want, iv_want, &v->iv_len);
	v->ct = pa_cbor_bytes(&r, PA_CBOR_BSTR, tag_len, PA_SECRETS_BUF + tag_len, &v->ct_len);
	if (pa_cbor_head(&r, PA_CBOR_ARRAY) != 1 || pa_cbor_head(&r, PA_CBOR_ARRAY) != 3)
		goto bad;
	v->rprot = pa_cbor_bytes(&r, PA_CBOR_BSTR, sizeof(rprot), sizeof(rprot), &v->rprot_len);
	if (v->rprot == NULL || memcmp(v->rprot, rprot, sizeof(rprot)) != 0)
		goto bad;
	n = (size_t)pa_cbor_head(&r, PA_CBOR_MAP);
	if (n == 2) {
		expect(&r, HDR_KID);
		v->kid = pa_cbor_bytes(&r, PA_CBOR_BSTR, KID_LEN, KID_LEN, &n);
	} else if (n != 1) {
		goto bad;
	}
	expect(&r, HDR_EPK);
	if (pa_cbor_head(&r, PA_CBOR_MAP) != 4)
		goto bad;
	expect(&r, KEY_KTY);
	expect(&r, KTY_EC2);
	expect(&r, KEY_CRV);
	expect(&r, CRV_P256);
	expect(&r, KEY_X);
	v->x = pa_cbor_bytes(&r, PA_CBOR_BSTR, COORD, COORD, &n);
	expect(&r, KEY_Y);
	v->y = pa_cbor_bytes(&r, PA_CBOR_BSTR, COORD, COORD, &n);
	if (pa_cbor_head(&r, PA_CBOR_BSTR) != 0 || !pa_cbor_at_end(&r))
		goto bad;
	return PA_OK;
bad:
	return PA_V_BAD_SECRETS;
}

/* CEK = HKDF-SHA-256(IKM = ECDH x, no salt, info = COSE_KDF_Context) as a
 * volatile AES-128 key for the content alg (RFC 9053 sections 5.1, 5.2).  The
 * agreement feeds HKDF inside PSA (PSA_ALG_KEY_AGREEMENT), so the shared secret
 * never reaches our memory, and PSA lets a derivation fed that way output a key
 * (one fed by psa_raw_key_agreement's bytes may not). */
static int derive_cek(const enc_view *v, psa_key_id_t device_key, psa_algorithm_t aead,
                      psa_key_id_t *cek)
{
	/* [alg, [null, null, null], [null, null, null], [128, << recipient prot >>]] */
	static const uint8_t nils[] = { 0x83, 0xf6, 0xf6, 0xf6, 0x83, 0xf6, 0xf6, 0xf6,
	                                0x82, 0x18, 0x80 };
	psa_key_derivation_operation_t op = PSA_KEY_DERIVATION_OPERATION_INIT;
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	uint8_t peer[1 + 2 * COORD], info[40];
	size_t ilen = 0;
	psa_status_t st;
	int rc = PA_V_CRYPTO;

	peer[0] = 0x04;   /* SEC 1 uncompressed point */
	memcpy(peer + 1, v->x, COORD);
	memcpy(peer + 1 + COORD, v->y, COORD);
	info[ilen++] = 0x84;
	info[ilen++] = v->alg;   /* 1 or 10: a one-byte unsigned integer */
	memcpy(info + ilen, nils, sizeof(nils));
	ilen += sizeof(nils);
	ilen += pa_cbor_put_head(info + ilen, PA_CBOR_BSTR, v->rprot_len);
	memcpy(info + ilen, v->rprot, v->rprot_len);   /* rprot_len <= 16 (parse) */
	ilen += v->rprot_len;
	psa_set_key_type(&at, PSA_KEY_TYPE_AES);
	psa_set_key_bits(&at, 128);
	psa_set_key_usage_flags(&at, PSA_KEY_USAGE_DECRYPT);
	psa_set_key_algorithm(&at, aead);
	if (psa_key_derivation_setup(&op, PSA_ALG_KEY_AGREEMENT(PSA_ALG_ECDH,
	                                                        PSA_ALG_HKDF(PSA_ALG_SHA_256))) !=
	    PSA_SUCCESS)
		goto out;
	/* PSA checks that the peer point is on the curve */
	st = psa_key_derivation_key_agreement(&op, PSA_KEY_DERIVATION_INPUT_SECRET, device_key,
	                                      peer, sizeof(peer));
	if (st != PSA_SUCCESS) {
		rc = st == PSA_ERROR_INVALID_ARGUMENT ? PA_V_BAD_SECRETS : PA_V_CRYPTO;
		goto out;
	}
	if (psa_key_derivation_input_bytes(&op, PSA_KEY_DERIVATION_INPUT_INFO, info, ilen) !=
	        PSA_SUCCESS ||
	    psa_key_derivation_output_key(&at, &op, cek) != PSA_SUCCESS)
		goto out;
	rc = PA_OK;
out:
	psa_key_derivation_abort(&op);
	return rc;
}

/* The plaintext secret-list: exactly `want` byte strings of 16..64 bytes. */
static int read_secret_list(pa_manifest *m, const uint8_t *p, size_t len)
{
	pa_cbor r;
	uint64_t i;
	size_t n;

	pa_cbor_init(&r, p, len);
	if (pa_cbor_head(&r, PA_CBOR_ARRAY) != m->n_secrets)
		return PA_V_BAD_SECRETS;
	for (i = 0; i < m->n_secrets; i++) {
		m->secret[i] = pa_cbor_bytes(&r, PA_CBOR_BSTR, SECRET_MIN, PA_SECRET_MAX, &n);
		m->secret_len[i] = (uint8_t)n;
	}
	return pa_cbor_at_end(&r) ? PA_OK : PA_V_BAD_SECRETS;
}

PA_NOINLINE int pa_secrets_open(pa_manifest *m, psa_key_id_t device_key, const uint8_t kid[8],
                                uint8_t *buf, size_t len)
{
	enc_view v;
	psa_key_id_t cek = 0;
	psa_algorithm_t aead;
	uint8_t aad[1 + 8 + 1 + 16 + 1];
	uint8_t *ct;
	size_t alen = 0, plen = 0, off;
	int rc;

	if (m->n_secrets == 0)
		return PA_OK;
	if (m->secrets_len == 0)
		return PA_V_BAD_SECRETS;
	if (m->secrets[0] >> 5 == PA_CBOR_ARRAY)   /* lab bundle, if this build allows it */
		return PA_ALLOW_PLAINTEXT_SECRETS ? read_secret_list(m, m->secrets, m->secrets_len)
		                                  : PA_V_PLAINTEXT;
	rc = parse_encrypt(m->secrets, m->secrets_len, &v);
	if (rc != PA_OK)
		goto out;
	rc = PA_V_WRONG_RECIPIENT;
	if (v.kid != NULL && memcmp(v.kid, kid, KID_LEN) != 0)
		goto out;
	aead = v.alg == ALG_CCM_16_64_128 ? PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_CCM, 8)
	                                  : PSA_ALG_GCM;
	rc = derive_cek(&v, device_key, aead, &cek);
	if (rc != PA_OK)
		goto out;
	/* Enc_structure = ["Encrypt", protected, h''] (RFC 9052 section 5.3) */
	aad[alen++] = 0x83;
	aad[alen++] = 0x67;
	memcpy(aad + alen, "Encrypt", 7);
	alen += 7;
	alen += pa_cbor_put_head(aad + alen, PA_CBOR_BSTR, v.prot_len);
	memcpy(aad + alen, v.prot, v.prot_len);   /* prot_len <= 16 (parse) */
	alen += v.prot_len;
	aad[alen++] = 0x40;
	/* the ciphertext's bytes in the caller's writable bundle (m points into
	 * it: a caller error, not the bundle's, if it does not) */
	rc = PA_A_ARGS;
	off = (size_t)(v.ct - buf);
	if (off > len || v.ct_len > len - off)
		goto out;
	ct = buf + off;
	rc = PA_V_DECRYPT;
	if (psa_aead_decrypt(cek, aead, v.iv, v.iv_len, aad, alen, ct, v.ct_len, ct, v.ct_len,
	                     &plen) != PSA_SUCCESS)
		goto out;
	rc = read_secret_list(m, ct, plen);
out:
	psa_destroy_key(cek);
	return rc;
}

/* Key attributes for a secret entry (store/ adds the persistent ID). */
int pa_key_attributes(const pa_entry *e, size_t len, psa_key_attributes_t *at)
{
	*at = psa_key_attributes_init();
	if (e->type == PA_T_PSK) {
		psa_set_key_type(at, PSA_KEY_TYPE_DERIVE);
		psa_set_key_bits(at, len * 8);
		psa_set_key_usage_flags(at, PSA_KEY_USAGE_DERIVE);
		psa_set_key_algorithm(at, PSA_ALG_TLS12_PSK_TO_MS(PSA_ALG_SHA_256));
		return PA_OK;
	}
	if (e->alg != PA_ALG_ES256 && e->alg != PA_ALG_ES384)
		return PA_V_UNSUPPORTED;
	psa_set_key_type(at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
	psa_set_key_bits(at, e->alg == PA_ALG_ES256 ? 256 : 384);
	psa_set_key_usage_flags(at, PSA_KEY_USAGE_SIGN_HASH);
	psa_set_key_algorithm(at, PSA_ALG_ECDSA(e->alg == PA_ALG_ES256 ? PSA_ALG_SHA_256
	                                                                : PSA_ALG_SHA_384));
	return PA_OK;
}

/* Every secret must import as its key (right size, scalar in range) before
 * anything is written: a volatile import, destroyed at once. */
int pa_keys_check(const pa_manifest *m)
{
	psa_key_attributes_t at;
	size_t i;
	int rc = PA_OK;

	for (i = 0; i < m->n && rc == PA_OK; i++) {
		const pa_entry *e = &m->e[i];
		psa_key_id_t k = 0;

		if (e->value != NULL)
			continue;
		rc = pa_key_attributes(e, m->secret_len[e->secret], &at);
		if (rc == PA_OK && psa_import_key(&at, m->secret[e->secret],
		                                  m->secret_len[e->secret], &k) != PSA_SUCCESS)
			rc = PA_V_BAD_KEY;
		psa_destroy_key(k);
		psa_reset_key_attributes(&at);
	}
	return rc;
}
