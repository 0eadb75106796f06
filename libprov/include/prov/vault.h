/*
 * prov/vault.h - the factory's secrets at rest: sealed for their row, opened
 * for their row.
 *
 * The one module that seals and opens a database row's secret (a PSK, a
 * host-made private key) and the factory's check value, over prov_seal /
 * prov_open (prov/secret.h: AES-256-GCM under the key-encryption key).  It
 * alone knows how a sealed value is bound to its row: the AAD names the kind
 * of secret, the device, the generation and (for a PSK) the slot, so a value
 * copied to another row does not open there.  The records layer
 * (prov/records.h) stores and returns sealed values and never opens one.
 *
 * A value that does not open under a KEK that opened the check value
 * (k->checked) is reported as that row being damaged (or moved from another
 * row), naming the device (escaped), generation and slot: PROV_E_DB.  Under an
 * unchecked KEK it is PROV_E_AUTH (wrong key-encryption key or passphrase).
 * A sealed value longer than the largest secret of its kind is damaged too.
 * Every output buffer that held a secret is wiped on failure.
 */
#ifndef PROV_VAULT_H
#define PROV_VAULT_H

#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"
#include "prov/secret.h"

#define PROV_VAULT_PSK_MAX 64          /* bytes of the largest PSK */
#define PROV_VAULT_KEY_MAX 64          /* bytes of the largest raw private key */
/* The check value sealed at init and opened by every prov_home_open that needs the KEK. */
#define PROV_VAULT_CHECK_LEN (29 + PROV_SEAL_OVERHEAD)

/* Seal a PSK (n <= PROV_VAULT_PSK_MAX) for row (device, gen, slot): out holds
 * n + PROV_SEAL_OVERHEAD bytes. */
prov_status prov_vault_seal_psk(const prov_kek *k, const char *device, int64_t gen, int64_t slot,
                                const uint8_t *psk, size_t n, uint8_t *out, prov_err *e);
/* Open the PSK of row (device, gen, slot) into psk (PROV_VAULT_PSK_MAX bytes). */
prov_status prov_vault_open_psk(const prov_kek *k, const char *device, int64_t gen, int64_t slot,
                                const uint8_t *sealed, size_t len, uint8_t *psk, size_t *n,
                                prov_err *e);

/* The same for a host-made private key (raw encoding, prov/keys.h) of row (device, gen). */
prov_status prov_vault_seal_key(const prov_kek *k, const char *device, int64_t gen, const uint8_t *raw,
                                size_t n, uint8_t *out, prov_err *e);
prov_status prov_vault_open_key(const prov_kek *k, const char *device, int64_t gen,
                                const uint8_t *sealed, size_t len, uint8_t *raw, size_t *n,
                                prov_err *e);

/* The factory's check value: a constant sealed under the KEK at init.  open:
 * PROV_OK when k opens it (the KEK is right), else PROV_E_AUTH. */
prov_status prov_vault_check_seal(const prov_kek *k, uint8_t out[PROV_VAULT_CHECK_LEN], prov_err *e);
prov_status prov_vault_check_open(const prov_kek *k, const uint8_t *v, size_t len, prov_err *e);

#endif
