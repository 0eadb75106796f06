/*
 * pa_verify.h - verifying a bundle before anything of it is used (internal).
 *
 * pa_sign1_check: the COSE_Sign1 envelope and its ES256 signature by a trusted
 *   signer; only then is the payload handed on.
 * pa_payload_check: the signed payload against schemas/bundle.cddl and this
 *   device's state (version, device ID, counter, nonce, entries, limits).
 * pa_secrets_open: decrypt and authenticate the COSE_Encrypt of secrets, in
 *   place: the secret-list replaces its ciphertext in the bundle buffer.
 * pa_keys_check: every secret imports as the key its entry says.
 * Each returns PA_OK or a pa_verify_err; none touches storage.
 */
#ifndef PA_VERIFY_H
#define PA_VERIFY_H

#include "pa/pa_agent.h"
#include "verify/pa_cbor.h"

/* What the payload is checked against. */
typedef struct pa_check {
	const char *device_id;
	size_t device_id_len;
	uint64_t installed;         /* installed counter, 0 if none */
	const uint8_t *nonce;       /* session nonce, NULL if none */
	size_t nonce_len;
} pa_check;

int pa_sign1_check(const uint8_t *msg, size_t len, const pa_signer *signers, size_t n,
                   const uint8_t **payload, size_t *payload_len);
int pa_payload_check(const uint8_t *p, size_t len, const pa_check *c, pa_manifest *m);
/* A tls-profile map at the reader's position; out may be NULL (validate only).
 * Sets the reader's error on anything bundle.cddl does not allow. */
void pa_profile_read(pa_cbor *r, pa_tls_profile *out);
/* buf, len: the writable bundle that m's pointers (m->secrets) point into; on
 * success m->secret[] point into it, at the decrypted list.  Whatever the
 * outcome the caller wipes buf (it may hold plaintext). */
int pa_secrets_open(pa_manifest *m, psa_key_id_t device_key, const uint8_t kid[8],
                    uint8_t *buf, size_t len);
int pa_keys_check(const pa_manifest *m);
/* Attributes of the key a secret entry becomes (volatile; store/ makes them
 * persistent): PSK -> DERIVE, usage derive; private key -> SECP_R1, usage sign. */
int pa_key_attributes(const pa_entry *e, size_t len, psa_key_attributes_t *at);
/* Zero memory that held a secret, in a way the compiler cannot drop. */
void pa_wipe(void *p, size_t n);

/* Shared COSE helpers (verify/pa_cose.c). */
/* Write a CBOR head (shortest form) to out (9 bytes suffice); returns its size. */
size_t pa_cbor_put_head(uint8_t *out, int major, uint64_t v);
/* SHA-256 of Sig_structure ["Signature1", prot, h'', payload] (RFC 9052 4.4). */
int pa_cose_sig1_hash(const uint8_t *prot, size_t prot_len, const uint8_t *payload,
                      size_t payload_len, uint8_t hash[32]);
/* Key attributes for the agent's key kinds. */
void pa_attr_p256_public(psa_key_attributes_t *at);

#endif
