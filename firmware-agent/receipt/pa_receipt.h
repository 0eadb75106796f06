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

/* The receipt of the install of a->m (counter, nonce) whose manifest digest is
 * `digest`, signed by the identity key (PA_KEY_ID_DEVICE), written to out. */
int pa_receipt_make(const pa_agent *a, const uint8_t digest[32], uint8_t *out, size_t cap,
                    size_t *len);

#endif
