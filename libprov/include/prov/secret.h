/*
 * prov/secret.h - secrets at rest in the factory database.
 *
 * Every secret (PSK, host-made private key) is stored sealed with AES-256-GCM
 * under the factory's key-encryption key (KEK).  The KEK is either 32 CSPRNG bytes
 * in the home's `kek` file (mode 0600), or derived from PROV_PASSPHRASE with scrypt
 * (N=2^15, r=8, p=1) and a random salt kept in the database.  A sealed blob is
 *   version (1 byte, 1) || nonce (12) || ciphertext || tag (16)
 * and its AAD names what it is ("psk|<device>|<generation>|<slot>"), so a blob
 * moved to another row does not open.  The KEK lives in locked-down memory only
 * as long as the prov_kek object; prov_kek_free wipes it.
 */
#ifndef PROV_SECRET_H
#define PROV_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"

#define PROV_KEK_LEN 32
#define PROV_SEAL_OVERHEAD (1 + 12 + 16)

typedef struct prov_kek {
	uint8_t key[PROV_KEK_LEN];
} prov_kek;

/* Derive a KEK from a passphrase and salt (scrypt). */
prov_status prov_kek_derive(const char *passphrase, const uint8_t *salt, size_t salt_len,
                            prov_kek *out, prov_err *e);
void prov_kek_wipe(prov_kek *k);

/* Seal: out must hold len + PROV_SEAL_OVERHEAD bytes. */
prov_status prov_seal(const prov_kek *k, const char *aad, const uint8_t *pt, size_t len,
                      uint8_t *out, prov_err *e);
/* Open: pt must hold len - PROV_SEAL_OVERHEAD bytes; authentication failure is
 * PROV_E_AUTH (wrong KEK or passphrase) . */
prov_status prov_open(const prov_kek *k, const char *aad, const uint8_t *in, size_t len,
                      uint8_t *pt, size_t *pt_len, prov_err *e);

#endif
