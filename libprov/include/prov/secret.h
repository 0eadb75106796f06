/*
 * prov/secret.h - secrets at rest in the factory database.
 *
 * Every secret (PSK, host-made private key) is stored sealed with AES-256-GCM
 * under the factory's key-encryption key (KEK).  The KEK is either 32 CSPRNG bytes
 * in the home's `kek` file (mode 0600), or derived from PROV_PASSPHRASE with scrypt
 * (N=2^15, r=8, p=1) and a random salt kept in the database.  A sealed blob is
 *   version (1 byte, 1) || nonce (12) || ciphertext || tag (16)
 * and its AAD names what it is (the vault, prov/vault.h, binds each to its
 * database row), so a blob moved to another row does not open.
 *
 * Memory.  prov_secure_heap_init sets up OpenSSL's secure heap
 * (CRYPTO_secure_malloc_init, PROV_SECURE_HEAP_SIZE bytes: mlock'd, MADV_DONTDUMP,
 * guard pages).  prov_home_open allocates the prov_home, and with it the KEK and
 * the copy of PROV_PASSPHRASE, from it.  If the heap cannot be locked
 * (RLIMIT_MEMLOCK below its size, and no CAP_IPC_LOCK) OpenSSL still uses it,
 * unlocked: provkit goes on and prov_secure_heap_init returns 2.  If it cannot be
 * set up at all, those allocations come from the ordinary heap (0).  Either way
 * they are wiped before they are freed (prov_kek_wipe, prov_home_close).
 * prov_memory_init, called by prov's main before anything else, also makes
 * OpenSSL's allocator wipe every block it frees: OpenSSL 3.0 frees some
 * encodings of private keys (i2d_ECPrivateKey's octet string) without
 * cleansing them.
 *
 * A KEK that opened the factory's check value (sealed at init, kept in the
 * database) is "checked": when a blob then fails to open under it, the blob is
 * damaged (or was moved from another row), and prov_open says so
 * (PROV_E_DB) instead of blaming the KEK (PROV_E_AUTH).
 */
#ifndef PROV_SECRET_H
#define PROV_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"

#define PROV_KEK_LEN 32
#define PROV_SEAL_OVERHEAD (1 + 12 + 16)
/* OpenSSL's secure heap: a power of two; PROV_SECURE_HEAP_MIN its smallest block.
 * It holds each open home (about 1 KiB, a 2 KiB block: prov install opens one per
 * port, up to 64) and OpenSSL's own secure allocations (private scalars). */
#define PROV_SECURE_HEAP_SIZE (1024 * 1024)
#define PROV_SECURE_HEAP_MIN 16
/* scrypt cost of the KEK (RFC 7914): N = 2^15, r = 8, p = 1 (32 MiB). */
#define PROV_KEK_SCRYPT_N (1u << 15)
#define PROV_KEK_SCRYPT_R 8
#define PROV_KEK_SCRYPT_P 1

typedef struct prov_kek {
	uint8_t key[PROV_KEK_LEN];
	int checked; /* it opened the factory's check value (see above) */
} prov_kek;

/* Once per process, before any other OpenSSL call: OpenSSL's allocator wipes
 * what it frees (CRYPTO_set_mem_functions), then prov_secure_heap_init.  Returns
 * what prov_secure_heap_init returns, or -1 when OpenSSL had already allocated
 * (the allocator could not be replaced; the secure heap is still set up). */
int prov_memory_init(void);
/* Set up OpenSSL's secure heap once (thread-safe; later calls return the first
 * result): 1 locked and kept out of core dumps, 2 in use but not locked
 * (RLIMIT_MEMLOCK), 0 not available (ordinary heap). */
int prov_secure_heap_init(void);

/* Derive a KEK from a passphrase and salt (scrypt, PROV_KEK_SCRYPT_*). */
prov_status prov_kek_derive(const char *passphrase, const uint8_t *salt, size_t salt_len,
                            prov_kek *out, prov_err *e);
void prov_kek_wipe(prov_kek *k);

/* Seal: out must hold len + PROV_SEAL_OVERHEAD bytes. */
prov_status prov_seal(const prov_kek *k, const char *aad, const uint8_t *pt, size_t len,
                      uint8_t *out, prov_err *e);
/* Open: pt must hold len - PROV_SEAL_OVERHEAD bytes.  A blob that fails to
 * authenticate: PROV_E_DB ("<name> is damaged: ...") when k->checked, else
 * PROV_E_AUTH (wrong KEK or passphrase).  A blob too short or of another
 * version: PROV_E_DB.  `name` says what the blob is in messages, made safe by
 * the caller ("the PSK of device "d" (generation 1, slot 2)"); prov_open names
 * it "sealed secret "<aad>"", the AAD escaped. */
prov_status prov_open(const prov_kek *k, const char *aad, const uint8_t *in, size_t len,
                      uint8_t *pt, size_t *pt_len, prov_err *e);
prov_status prov_open_named(const prov_kek *k, const char *aad, const char *name, const uint8_t *in,
                            size_t len, uint8_t *pt, size_t *pt_len, prov_err *e);

#endif
