/*
 * psa_config_m4.h - the PSA Crypto algorithms and key types of the
 * provisioning image (MBEDTLS_PSA_CRYPTO_CONFIG_FILE of mbedtls_config_m4.h
 * without PA_FW_TLS; docs/firmware.md, "Size").
 *
 * Without MBEDTLS_PSA_CRYPTO_CONFIG, Mbed TLS 2.28 builds into PSA every
 * algorithm its legacy modules allow (HMAC as a MAC, CTR, CBC and ECB ciphers,
 * the TLS 1.2 PRFs, P-384 and P-521 keys...), and PSA's dispatch keeps them in
 * the image whether called or not.  Here PSA has only what an install runs:
 *   - P-256 keys, pairs and public: ECDSA sign (receipts, CSRs) and verify (the
 *     bundle), ECDH (the secrets' ECDH-ES), key generation;
 *   - SHA-256; HKDF (COSE's HKDF-256 after ECDH; it brings HMAC inside PSA);
 *   - AES with CCM and GCM (the secrets container);
 *   - derive keys (a PSK entry is checked by importing it as one).
 * The DRBG is Mbed TLS's CTR_DRBG (mbedtls_config_m4.h), not a PSA_WANT.
 * Anything else a bundle asks of PSA fails as not supported: a P-384
 * private-key entry is refused at the key check (PA_V_BAD_KEY), before
 * anything is stored.
 */
#ifndef PROVKIT_PSA_CONFIG_M4_H
#define PROVKIT_PSA_CONFIG_M4_H

#define PSA_WANT_ALG_ECDSA                 1
#define PSA_WANT_ALG_ECDH                  1
#define PSA_WANT_ALG_SHA_256               1
#define PSA_WANT_ALG_HKDF                  1
#define PSA_WANT_ALG_CCM                   1
#define PSA_WANT_ALG_GCM                   1

#define PSA_WANT_ECC_SECP_R1_256           1
#define PSA_WANT_KEY_TYPE_ECC_KEY_PAIR     1
#define PSA_WANT_KEY_TYPE_ECC_PUBLIC_KEY   1
#define PSA_WANT_KEY_TYPE_AES              1
#define PSA_WANT_KEY_TYPE_DERIVE           1

#endif
