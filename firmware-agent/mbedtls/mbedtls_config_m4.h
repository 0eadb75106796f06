/*
 * mbedtls_config_m4.h - Mbed TLS 2.28 configuration of the provisioning image
 * on a Cortex-M (MBEDTLS_CONFIG_FILE for `scripts/mbedtls.sh --target m4`,
 * libmbedcrypto only; docs/firmware.md).
 *
 * Only what a bundle install needs, through PSA Crypto:
 *   - P-256 (secp256r1): ECDSA verify (bundle signature) and sign (receipts,
 *     CSRs), ECDH (the secrets' ECDH-ES), key generation (identity and keygen
 *     keys); SHA-256; HKDF-SHA-256 (COSE ECDH-ES + HKDF-256); AES-CCM and
 *     AES-GCM (the secrets container); the ASN.1 writer (keygen's CSR);
 *   - persistent keys in PSA storage over psa_its_* that the platform provides
 *     (the flash store, firmware-agent/its/, whose psa/ directory has the two
 *     headers psa_crypto_storage.c then includes): no MBEDTLS_PSA_ITS_FILE_C;
 *   - a CTR_DRBG seeded from the board's entropy source through
 *     mbedtls_hardware_poll (MBEDTLS_ENTROPY_HARDWARE_ALT; firmware-agent/board/
 *     pa_fw_mbedtls.c maps it onto pa_board_entropy);
 *   - memory from Mbed TLS's own allocator over a static array
 *     (MBEDTLS_MEMORY_BUFFER_ALLOC_C, mbedtls_memory_buffer_alloc_init in the
 *     firmware), never the C library's heap.
 * Keys of other curves (a P-384 private-key entry) are refused by this build
 * at the key check (PA_V_BAD_KEY), before anything is stored.  PSA has only
 * these algorithms (MBEDTLS_PSA_CRYPTO_CONFIG, psa_config_m4.h); the TLS
 * image (PA_FW_TLS) keeps the legacy derivation and adds P-384 and P-521.
 *
 * Size choices: a 2-bit ECP window without fixed-point tables, AES tables in
 * ROM and only one of each, AES without its decryption direction, the
 * smaller SHA-256, ECP bounded to 256 bits (the TLS image: 521), 4 PSA key
 * slots (the TLS image: 8; a cache: persistent keys are loaded on use and
 * evicted), one entropy source, CTR_DRBG seed buffers of 64 bytes.
 * The host's configuration (mbedtls_config.h, the TLS client) is separate and
 * unchanged.
 */
#ifndef PROVKIT_MBEDTLS_CONFIG_M4_H
#define PROVKIT_MBEDTLS_CONFIG_M4_H

/* ---- system ---------------------------------------------------------------- */
#define MBEDTLS_HAVE_ASM                  /* bignum multiply in Thumb-2 assembly */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY           /* mbedtls_calloc/free: the buffer allocator */
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS /* no printf, no calloc, no exit from libc */
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C
/* The allocator stops the device on a corrupted heap: the firmware's panic. */
void pa_fw_mbedtls_exit(int status);
#define MBEDTLS_PLATFORM_EXIT_MACRO pa_fw_mbedtls_exit

/* ---- randomness ------------------------------------------------------------- */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_ENTROPY_FORCE_SHA256      /* no SHA-512 just for the entropy pool */
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT      /* mbedtls_hardware_poll: the board's source */
#define MBEDTLS_CTR_DRBG_C

/* ---- PSA Crypto ---------------------------------------------------------------- */
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_PSA_CRYPTO_STORAGE_C      /* persistent keys: psa_its_* of the platform */

/* ---- primitives ------------------------------------------------------------- */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_AES_FEWER_TABLES
/* Encryption only: CCM, GCM and CTR_DRBG never run the inverse cipher, so
 * the firmware gives failing stubs for its key schedule and block function
 * (board/pa_fw_mbedtls.c) and its code and tables stay out of the image. */
#define MBEDTLS_AES_SETKEY_DEC_ALT
#define MBEDTLS_AES_DECRYPT_ALT
#define MBEDTLS_CCM_C
#define MBEDTLS_GCM_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_HKDF_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER
#define MBEDTLS_BIGNUM_C
/* bytes: P-521, for the bignum check that a trust store's P-384 and P-521
 * anchors are on their curves (trust/pa_trust_check.c: p and b of the curve,
 * no ECP group) */
#define MBEDTLS_MPI_MAX_SIZE 66
#define MBEDTLS_MPI_WINDOW_SIZE 1
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM            /* fast P-256 reduction: ~5x faster for ~1 KB */
#define MBEDTLS_ECP_WINDOW_SIZE 2
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_ASN1_PARSE_C              /* ECDSA's prerequisite (unused paths are dropped) */
#define MBEDTLS_ASN1_WRITE_C              /* keygen's CSR */

#if !defined(PA_FW_TLS)
/* ---- the provisioning image ----------------------------------------------------- */
/* PSA with only the algorithms an install runs (psa_config_m4.h; found on
 * the include path: -Ifirmware-agent/mbedtls) */
#define MBEDTLS_PSA_CRYPTO_CONFIG
#define MBEDTLS_PSA_CRYPTO_CONFIG_FILE "psa_config_m4.h"
#define MBEDTLS_ECP_MAX_BITS 256
/* No blinding DRBG inside ECP for a multiplication called without a random
 * source: in this image only ECDSA verification (the bundle's signature:
 * public key, public signature) does that; signing, ECDH, key generation and
 * a public key computed from a stored private key pass PSA's DRBG and stay
 * blinded.  Saves the internal DRBG's code and its 1.2 KB seeding frame on
 * the verification's stack. */
#define MBEDTLS_ECP_NO_INTERNAL_RNG
/* The most a CTR_DRBG (re)seed takes in: entropy (32 bytes: SHA-256
 * entropy pool), the nonce at the first seeding (16) and PSA's "PSA" (3).
 * The default, 384, puts two 400-byte buffers on the stack at each reseed:
 * the image's deepest frame. */
#define MBEDTLS_CTR_DRBG_MAX_SEED_INPUT 64
/* One entropy source, the board's (mbedtls_hardware_poll): room for 20 is
 * 380 bytes of PSA's static state. */
#define MBEDTLS_ENTROPY_MAX_SOURCES 1
/* PSA's key slots (40 bytes each), a cache: persistent keys are loaded on
 * use and evicted when a slot is wanted; an install holds at most three at
 * once (the identity key, a derived or checked volatile key, the key being
 * stored). */
#define MBEDTLS_PSA_KEY_SLOT_COUNT 4
#include "mbedtls/config_psa.h"
#else
/* The TLS image (docs/tls.md, "On the device") builds with -DPA_FW_TLS=1 and
 * adds its TLS client on top of the above; its chains may end at P-384 and
 * P-521 anchors, which it verifies with the whole curves. */
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_SECP521R1_ENABLED
#define MBEDTLS_ECP_MAX_BITS 521
#define MBEDTLS_PSA_KEY_SLOT_COUNT 8
#include "mbedtls_config_m4_tls.h"
#endif

#include "mbedtls/check_config.h"

#endif
