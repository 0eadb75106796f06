/*
 * pa_cose.c - the bits of COSE shared by verification and receipts: CBOR heads
 * written in shortest form, and the Sig_structure digest.
 */
#include <string.h>

#include "verify/pa_verify.h"

size_t pa_cbor_put_head(uint8_t *out, int major, uint64_t v)
{
	uint8_t mt = (uint8_t)(major << 5);
	size_t n, i;

	if (v < 24) {
		out[0] = (uint8_t)(mt | v);
		return 1;
	}
	if (v <= 0xffu)
		n = 1;
	else if (v <= 0xffffu)
		n = 2;
	else if (v <= 0xffffffffu)
		n = 4;
	else
		n = 8;
	out[0] = (uint8_t)(mt | (n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27));
	for (i = 0; i < n; i++)
		out[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return 1 + n;
}

/* Sig_structure = ["Signature1", body_protected, external_aad = h'', payload],
 * hashed as it is encoded, without building it. */
int pa_cose_sig1_hash(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                      size_t payload_len, uint8_t hash[32])
{
	static const uint8_t start[] = {
		0x84, 0x6a, 'S', 'i', 'g', 'n', 'a', 't', 'u', 'r', 'e', '1'
	};
	static const uint8_t empty_bstr = 0x40;
	psa_hash_operation_t op = PSA_HASH_OPERATION_INIT;
	uint8_t head[9];
	size_t n, hlen = 0;
	int rc = PA_V_CRYPTO;

	if (psa_hash_setup(&op, PSA_ALG_SHA_256) != PSA_SUCCESS ||
	    psa_hash_update(&op, start, sizeof(start)) != PSA_SUCCESS)
		goto out;
	n = pa_cbor_put_head(head, 2, prot_len);
	if (psa_hash_update(&op, head, n) != PSA_SUCCESS ||
	    psa_hash_update(&op, prot, prot_len) != PSA_SUCCESS ||
	    psa_hash_update(&op, &empty_bstr, 1) != PSA_SUCCESS)
		goto out;
	n = pa_cbor_put_head(head, 2, payload_len);
	if (psa_hash_update(&op, head, n) != PSA_SUCCESS ||
	    psa_hash_update(&op, payload, payload_len) != PSA_SUCCESS ||
	    psa_hash_finish(&op, hash, 32, &hlen) != PSA_SUCCESS || hlen != 32)
		goto out;
	rc = PA_OK;
out:
	psa_hash_abort(&op);
	return rc;
}

void pa_attr_p256_public(psa_key_attributes_t *at)
{
	*at = psa_key_attributes_init();
	psa_set_key_type(at, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1));
	psa_set_key_bits(at, 256);
	psa_set_key_usage_flags(at, PSA_KEY_USAGE_VERIFY_HASH);
	psa_set_key_algorithm(at, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
}

void pa_wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	while (n-- > 0)
		*v++ = 0;
}
