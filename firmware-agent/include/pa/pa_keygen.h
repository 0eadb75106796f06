/*
 * pa_keygen.h - keys made on the device and their CSRs (optional module,
 * firmware-agent/keygen/; the SMP keygen command uses it).
 *
 * A key is made inside PSA for a slot (P-256, persistent, not exportable,
 * usage SIGN_HASH with ECDSA(SHA-256)) at one of PA_KEYGEN_MAX pool key IDs
 * (PA_KEY_ID_KEYGEN(j)) and stays *pending* (record PA_UID_KEYGEN: a bit mask
 * and the slots) until the next committed set:
 * - the set adopts it, atomically with the rest, when its device-cert entry for
 *   that slot holds the key's SubjectPublicKeyInfo and it has no private-key
 *   entry for the slot: the index gains a private-key entry (usage sign, ES256)
 *   naming the pool key ID;
 * - otherwise it is destroyed right after that commit.
 * A pool key that is neither pending nor held by the committed set (a keygen
 * cut short, a set that replaced the one holding it) is destroyed at
 * pa_keygen_start and after every commit.  While a key is pending, keygen for
 * its slot returns it again.
 *
 * Heap-free; crypto through PSA; the CSR is written with Mbed TLS's ASN.1
 * writer (mbedtls/asn1write.h) and signed with psa_sign_hash.
 */
#ifndef PA_KEYGEN_H
#define PA_KEYGEN_H

#include "pa/pa_agent.h"

/* After pa_agent_start: load the pending keys, remove pool keys nobody holds,
 * and hook adoption into the agent's installs.  PA_A_STATE on a read-only agent
 * (pa_agent_open_readonly): this writes. */
int pa_keygen_start(pa_agent *a);
/* The pending key of slot (made now unless one is pending).  PA_V_LIMIT when
 * every pool ID is pending or held, PA_S_KEY/PA_S_IO/PA_S_POWER on a write. */
int pa_keygen(pa_agent *a, uint32_t slot, psa_key_id_t *id);
/* A PKCS#10 CertificationRequest (DER) for key id, subject CN=cn (1..64 bytes
 * of UTF-8), no attributes, ecdsa-with-SHA256.  Written at out[0..*len). */
#define PA_CSR_MAX 300
int pa_keygen_csr(psa_key_id_t id, const char *cn, size_t cn_len, uint8_t *out, size_t cap,
                  size_t *len);

#endif
