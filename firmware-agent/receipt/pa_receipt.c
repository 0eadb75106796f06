/*
 * pa_receipt.c - build and sign the install receipt (see pa_receipt.h).
 *
 * Written straight into the caller's buffer: the envelope's head, then the
 * payload in place, then the signature over the Sig_structure.
 */
#include <string.h>

#include "receipt/pa_receipt.h"
#include "verify/pa_verify.h"

#define SIG_LEN 64
/* 18([<< {1: -7, 4: h'<kid>'} >>, {}, ...: tag, array(4), bstr(13) {1: -7, 4: bstr(8) */
static const uint8_t envelope_head[] = { 0xd2, 0x84, 0x4d, 0xa2, 0x01, 0x26, 0x04, 0x48 };
#define PROT_OFFSET 3
#define PROT_LEN 13

/* The largest receipt (payload: map head, 1: 1, 2: id, 3: u64, 4: digest,
 * 5: nonce; then the envelope) fits PA_RECEIPT_MAX: the commit record and
 * SMP's copy are sized by it (store/pa_store.c, smp/pa_smp.c). */
#define PAYLOAD_WORST (1 + 2 + 1 + 2 + PA_DEVICE_ID_MAX + 1 + 9 + 1 + 2 + 32 + 1 + 2 + PA_NONCE_MAX)
#if PA_DEVICE_ID_MAX > 255 || PA_NONCE_MAX > 255 || \
	8 + 8 + 1 + 3 + PAYLOAD_WORST + 2 + SIG_LEN > PA_RECEIPT_MAX
#error "the largest receipt does not fit PA_RECEIPT_MAX"
#endif

/* The payload map; returns its length, or 0 if it does not fit cap. */
static size_t put_payload(const pa_agent *a, const uint8_t *digest, uint8_t *out, size_t cap)
{
	const pa_manifest *m = &a->m;
	size_t need = 1 + 2 + 1 + 1 + a->device_id_len + 1 + 9 + 1 + 2 + 32 +
	              (m->nonce != NULL ? 1 + 1 + m->nonce_len : 0);
	size_t n = 0;

	if (need > cap)
		return 0;
	out[n++] = m->nonce != NULL ? 0xa5 : 0xa4;
	out[n++] = 0x01;   /* 1: version 1 */
	out[n++] = 0x01;
	out[n++] = 0x02;   /* 2: device ID */
	n += pa_cbor_put_head(out + n, 3, a->device_id_len);
	memcpy(out + n, a->device_id, a->device_id_len);
	n += a->device_id_len;
	out[n++] = 0x03;   /* 3: counter */
	n += pa_cbor_put_head(out + n, 0, m->counter);
	out[n++] = 0x04;   /* 4: manifest digest */
	n += pa_cbor_put_head(out + n, 2, 32);
	memcpy(out + n, digest, 32);
	n += 32;
	if (m->nonce != NULL) {
		out[n++] = 0x05;   /* 5: nonce */
		n += pa_cbor_put_head(out + n, 2, m->nonce_len);
		memcpy(out + n, m->nonce, m->nonce_len);
		n += m->nonce_len;
	}
	return n;
}

PA_NOINLINE int pa_receipt_make(const pa_agent *a, const uint8_t digest[32], uint8_t *out, size_t cap,
                                size_t *len)
{
	uint8_t payload[PA_RECEIPT_MAX], hash[32];
	size_t plen, n = 0, slen = 0;
	int rc = PA_R_BUFFER;

	*len = 0;
	if (a->m.nonce_len > PA_NONCE_MAX || a->device_id_len > PA_DEVICE_ID_MAX)
		goto out;
	plen = put_payload(a, digest, payload, sizeof(payload));
	/* head + kid, unprotected, payload bstr head (<= 3 bytes), payload, sig */
	if (plen == 0 || cap < sizeof(envelope_head) + 8 + 1 + 3 + plen + 2 + SIG_LEN)
		goto out;
	memcpy(out, envelope_head, sizeof(envelope_head));
	n = sizeof(envelope_head);
	memcpy(out + n, a->kid, 8);
	n += 8;
	out[n++] = 0xa0;   /* unprotected: {} */
	n += pa_cbor_put_head(out + n, 2, plen);
	memcpy(out + n, payload, plen);
	n += plen;
	out[n++] = 0x58;   /* bstr(64): the signature */
	out[n++] = SIG_LEN;
	rc = pa_cose_sig1_hash(out + PROT_OFFSET, PROT_LEN, payload, plen, hash);
	if (rc != PA_OK)
		goto out;
	rc = PA_R_SIGN;
	if (psa_sign_hash(PA_KEY_ID_DEVICE, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, sizeof(hash), out + n,
	                  SIG_LEN, &slen) != PSA_SUCCESS || slen != SIG_LEN)
		goto out;
	*len = n + SIG_LEN;
	rc = PA_OK;
out:
	return rc;
}
