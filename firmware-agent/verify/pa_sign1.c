/*
 * pa_sign1.c - the bundle's COSE_Sign1 envelope (RFC 9052 section 4.2):
 *   18([<< {1: -7, 4: kid} >>, {}, << payload >>, r || s])
 * Checked in full, and the signature verified with the trusted signer the kid
 * names, before the payload is looked at.
 */
#include <string.h>

#include "verify/pa_verify.h"

#define COSE_TAG_SIGN1 18
#define KID_LEN 8
#define SIG_LEN 64

static int cbor_verdict(const pa_cbor *r, int type_err)
{
	switch (pa_cbor_err(r)) {
	case PA_CBOR_OK:
		return PA_OK;
	case PA_CBOR_TRUNCATED:
		return PA_V_TRUNCATED;
	case PA_CBOR_TYPE:
		return type_err;
	default:
		return PA_V_MALFORMED;
	}
}

/* The protected header {1: -7, 4: kid}.  Bundles are deterministic CBOR
 * (bundle.cddl), so it has one encoding: compared byte for byte. */
static const uint8_t prot_head[] = { 0xa2, 0x01, 0x26, 0x04, 0x48 };
#define PROT_LEN (sizeof(prot_head) + KID_LEN)

static int verify_es256(const pa_signer *s, const uint8_t hash[32], const uint8_t *sig)
{
	psa_key_attributes_t at;
	psa_key_id_t key = 0;
	psa_status_t st;
	int rc = PA_V_CRYPTO;

	pa_attr_p256_public(&at);
	if (psa_import_key(&at, s->pub, sizeof(s->pub), &key) != PSA_SUCCESS)
		goto out;
	st = psa_verify_hash(key, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, SIG_LEN);
	rc = st == PSA_SUCCESS ? PA_OK : PA_V_BAD_SIGNATURE;
out:
	psa_destroy_key(key);
	psa_reset_key_attributes(&at);
	return rc;
}

int pa_sign1_check(const uint8_t *msg, size_t len, const pa_signer *signers, size_t n,
                   const uint8_t **payload, size_t *payload_len)
{
	pa_cbor r;
	const uint8_t *prot, *kid, *body, *sig;
	size_t prot_len, body_len, sig_len, i;
	uint8_t hash[32];
	int rc;

	*payload = NULL;
	*payload_len = 0;
	pa_cbor_init(&r, msg, len);
	if (pa_cbor_head(&r, PA_CBOR_TAG) != COSE_TAG_SIGN1)
		pa_cbor_fail(&r, PA_CBOR_MALFORMED);
	if (pa_cbor_head(&r, PA_CBOR_ARRAY) != 4)
		pa_cbor_fail(&r, PA_CBOR_MALFORMED);
	prot = pa_cbor_bytes(&r, PA_CBOR_BSTR, 0, SIZE_MAX, &prot_len);
	rc = cbor_verdict(&r, PA_V_MALFORMED);
	if (rc != PA_OK)
		goto out;
	rc = PA_V_BAD_HEADER;
	if (prot_len != PROT_LEN || memcmp(prot, prot_head, sizeof(prot_head)) != 0)
		goto out;
	kid = prot + sizeof(prot_head);
	if (pa_cbor_head(&r, PA_CBOR_MAP) != 0)   /* unprotected: {} */
		pa_cbor_fail(&r, PA_CBOR_TYPE);
	rc = cbor_verdict(&r, PA_V_BAD_HEADER);
	if (rc != PA_OK)
		goto out;
	body = pa_cbor_bytes(&r, PA_CBOR_BSTR, 0, SIZE_MAX, &body_len);
	sig = pa_cbor_bytes(&r, PA_CBOR_BSTR, SIG_LEN, SIG_LEN, &sig_len);
	rc = cbor_verdict(&r, PA_V_MALFORMED);
	if (rc == PA_OK && !pa_cbor_at_end(&r))
		rc = PA_V_MALFORMED;   /* trailing bytes */
	if (rc != PA_OK)
		goto out;
	rc = PA_V_UNKNOWN_SIGNER;
	for (i = 0; i < n; i++)
		if (memcmp(signers[i].kid, kid, KID_LEN) == 0)
			break;
	if (i == n)
		goto out;
	rc = pa_cose_sig1_hash(prot, prot_len, body, body_len, hash);
	if (rc != PA_OK)
		goto out;
	rc = verify_es256(&signers[i], hash, sig);
	if (rc != PA_OK)
		goto out;
	*payload = body;
	*payload_len = body_len;
out:
	return rc;
}
