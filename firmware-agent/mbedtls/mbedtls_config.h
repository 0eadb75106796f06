/*
 * mbedtls_config.h - provkit's Mbed TLS 2.28 configuration (MBEDTLS_CONFIG_FILE).
 *
 * One file for the host build (scripts/mbedtls.sh builds Debian's mbedtls source
 * package with it into build-mbedtls/: agent-sim, the agent's tests and fuzz
 * targets, the trust module's trust-client and tests) and the model of a
 * Cortex-M build of the agent and its TLS adapter (firmware-agent/tls/; the
 * QEMU images have their own, mbedtls_config_m4.h).  What the adapter needs:
 *
 *   - PSA Crypto with persistent keys (storage + ITS) and MBEDTLS_USE_PSA_CRYPTO,
 *     so TLS signs with an opaque PSA key (mbedtls_pk_setup_opaque) and derives
 *     the PSK master secret inside PSA (mbedtls_ssl_conf_psk_opaque): the agent's
 *     installed keys are used by reference and are never exported;
 *   - a TLS 1.2 and DTLS 1.2 client (RFC 7925 profile): PSK and ECDHE-ECDSA key
 *     exchanges, AES-CCM, AES-CCM_8 and AES-GCM;
 *   - X.509 parsing for the server's chain (the compact trust store's verify
 *     callback, firmware-agent/trust/, or installed CA certificates), and the
 *     server certificate's keyUsage / extendedKeyUsage checked in the handshake;
 *   - max_fragment_length (RFC 6066), session tickets (RFC 5077), SNI.
 *
 * What a target build changes is marked "TARGET:" below.  In short: drop
 * MBEDTLS_FS_IO, MBEDTLS_NET_C, MBEDTLS_TIMING_C, MBEDTLS_DEBUG_C and
 * MBEDTLS_PSA_ITS_FILE_C (the platform supplies psa_its_* over its flash, or a
 * TF-M / secure-element PSA implementation replaces MBEDTLS_PSA_CRYPTO_C
 * altogether with MBEDTLS_PSA_CRYPTO_SPM); add MBEDTLS_NO_PLATFORM_ENTROPY with a
 * hardware entropy source (MBEDTLS_ENTROPY_HARDWARE_ALT); without a real-time
 * clock drop MBEDTLS_HAVE_TIME_DATE (certificate dates are then not checked,
 * the profile's "skip" time policy); shrink MBEDTLS_SSL_IN/OUT_CONTENT_LEN to
 * the profile's max fragment length.
 */
#ifndef PROVKIT_MBEDTLS_CONFIG_H
#define PROVKIT_MBEDTLS_CONFIG_H

/* ---- system ---------------------------------------------------------------- */
#define MBEDTLS_HAVE_ASM
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE        /* TARGET: drop without an RTC */
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_FS_IO                 /* TARGET: drop (host: PSA ITS files) */
#define MBEDTLS_NET_C                 /* TARGET: drop (host sockets for agent-tls) */
#define MBEDTLS_TIMING_C              /* TARGET: drop, supply DTLS timers */
#define MBEDTLS_ERROR_C
#define MBEDTLS_VERSION_C
#define MBEDTLS_DEBUG_C               /* TARGET: drop; host: agent-tls --verbose */

/* ---- randomness ------------------------------------------------------------- */
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_CTR_DRBG_C
/* TARGET: #define MBEDTLS_NO_PLATFORM_ENTROPY and MBEDTLS_ENTROPY_HARDWARE_ALT */

/* ---- PSA Crypto --------------------------------------------------------------- */
#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_PSA_CRYPTO_STORAGE_C
#define MBEDTLS_PSA_ITS_FILE_C        /* TARGET: the platform's psa_its_* instead */
#define MBEDTLS_USE_PSA_CRYPTO

/* ---- primitives ------------------------------------------------------------- */
#define MBEDTLS_AES_C
#define MBEDTLS_CCM_C
#define MBEDTLS_GCM_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_MD_C
#define MBEDTLS_HKDF_C                /* PSA HKDF: the agent's COSE ECDH-ES+HKDF-256 secrets */
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA512_C              /* SHA-384: P-384 keys and *_SHA384 suites */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_DP_SECP384R1_ENABLED
#define MBEDTLS_ECP_DP_SECP521R1_ENABLED  /* P-521 trust anchors; TARGET: optional */
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
#define MBEDTLS_RSA_C                 /* RSA server chains and anchors */
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21
#define MBEDTLS_OID_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C            /* opaque keys: public part as SPKI */
#define MBEDTLS_PEM_PARSE_C           /* TARGET: drop (certificates arrive as DER) */
#define MBEDTLS_BASE64_C

/* ---- X.509 -------------------------------------------------------------------- */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
/* The handshake checks the server's certificate is for a TLS server: keyUsage
 * digitalSignature for ECDHE-ECDSA (ssl_tls.c, mbedtls_ssl_check_cert_usage),
 * extendedKeyUsage serverAuth; a certificate without the extension passes
 * either check, as does anyExtendedKeyUsage.  CHECK_KEY_USAGE also asks
 * keyCertSign of every CA certificate in the chain (docs/tls.md). */
#define MBEDTLS_X509_CHECK_KEY_USAGE
#define MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE
/* Host only (firmware-agent/trust/tests/test_trust_mbedtls.c makes its test
 * chains with the certificate writer); TARGET: drop.  Linked only into what
 * calls it (its own objects in libmbedx509.a). */
#define MBEDTLS_X509_CREATE_C
#define MBEDTLS_X509_CRT_WRITE_C
/* MBEDTLS_X509_TRUSTED_CERTIFICATE_CALLBACK is not needed: the compact trust
 * store plugs in through the verify callback (firmware-agent/trust/README.md),
 * which also works with Debian's stock build. */

/* ---- TLS / DTLS client ---------------------------------------------------------- */
#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_DTLS
#define MBEDTLS_SSL_DTLS_HELLO_VERIFY
#define MBEDTLS_SSL_DTLS_ANTI_REPLAY
#define MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_SSL_MAX_FRAGMENT_LENGTH
#define MBEDTLS_SSL_SESSION_TICKETS
#define MBEDTLS_SSL_SERVER_NAME_INDICATION
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_KEEP_PEER_CERTIFICATE
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
/* TARGET: the record buffers follow the profile's max fragment length, e.g.
 *   #define MBEDTLS_SSL_IN_CONTENT_LEN  4096
 *   #define MBEDTLS_SSL_OUT_CONTENT_LEN 4096
 * (the input buffer can only shrink if every server honours the extension). */

#include "mbedtls/check_config.h"

#endif
