/*
 * pa_receipt.h - the install receipt (internal): a COSE_Sign1 by the device's
 * identity key that the factory verifies (`prov receipt verify`):
 *   18([<< {1: -7, 4: kid} >>, {},
 *       << {1: 1, 2: device-id, 3: counter, 4: manifest digest, ? 5: nonce} >>,
 *       r || s])
 * kid = SHA-256(DER SPKI of the device key)[0..8]; the payload is
 * deterministic CBOR; 5 is present iff the bundle carried a nonce.
 */
#ifndef PA_RECEIPT_H
#define PA_RECEIPT_H

#include "pa/pa_agent.h"

typedef struct pa_receipt_in {
	psa_key_id_t key;
	const uint8_t *kid;         /* 8 bytes */
	const char *device_id;
	size_t device_id_len;
	uint64_t counter;
	const uint8_t *digest;      /* 32 bytes */
	const uint8_t *nonce;       /* NULL if none */
	size_t nonce_len;
} pa_receipt_in;

int pa_receipt_make(const pa_receipt_in *in, uint8_t *out, size_t cap, size_t *len);

#endif
