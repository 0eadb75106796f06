/*
 * mbedtls_config_m4_tls.h - the TLS image's additions to the Cortex-M
 * configuration (included by mbedtls_config_m4.h when PA_FW_TLS is defined;
 * `scripts/mbedtls.sh --target m4-tls`; docs/tls.md, "On the device").
 *
 * The provisioning image's PSA Crypto (P-256, SHA-256, AES-CCM/GCM, HKDF,
 * persistent keys over the flash store) plus a (D)TLS 1.2 client for the
 * RFC 7925 profiles the templates install:
 *   - TLS_PSK_WITH_AES_128_CCM_8 and the other PSK AEAD suites; the PSK stays
 *     in PSA (mbedtls_ssl_conf_psk_opaque: the master secret is derived there);
 *   - ECDHE-ECDSA with AES-GCM / CCM / CCM_8 on P-256, the device key an opaque
 *     PSA key (mbedtls_pk_setup_opaque, MBEDTLS_USE_PSA_CRYPTO);
 *   - X.509 parsing of the server's chain, checked by the compact trust store's
 *     verify callback (firmware-agent/trust/) or installed CA certificates, and
 *     the server certificate's keyUsage and extendedKeyUsage;
 *   - max_fragment_length (RFC 6066), session tickets (RFC 5077), SNI,
 *     extended master secret, DTLS HelloVerifyRequest and anti-replay.
 * Left out: RSA (unless PA_TLS_RSA: a measurement variant, docs/benchmarks.md),
 * SHA-384 suites and signatures, CBC, renegotiation, Mbed TLS's debug and
 * error strings (the firmware reports numbers), and the peer certificate kept
 * in the session (a digest of it is kept instead: 32 bytes, not the chain).
 *
 * The record buffers are compile-time: PA_TLS_CONTENT_LEN (default 4096, the
 * mqtt-mtls profile's max fragment length) for what the peer sends, and
 * PA_TLS_OUT_CONTENT_LEN (default the same) for what the device sends.  A
 * peer must agree to that fragment length (the profile asks for it), or
 * records longer than the buffer are refused.  The output buffer may be
 * smaller: it must hold the largest handshake message the device sends (its
 * Certificate message with the chain, about 1 KB for a factory certificate
 * and CA) and bounds the records it writes; Mbed TLS 2.28 then asks for no
 * max fragment length above it (MBEDTLS_TLS_EXT_ADV_CONTENT_LEN is the
 * smaller of the two), so it only helps with servers that ignore the
 * extension.  PA_TLS_VARBUF=1 adds
 * MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH (buffers shrink to the negotiated length
 * after the handshake; in 2.28 they grow back to the full size for each
 * handshake, so the handshake's peak does not change).
 */
#ifndef PROVKIT_MBEDTLS_CONFIG_M4_TLS_H
#define PROVKIT_MBEDTLS_CONFIG_M4_TLS_H

#ifndef PA_TLS_CONTENT_LEN
#define PA_TLS_CONTENT_LEN 4096
#endif
#ifndef PA_TLS_OUT_CONTENT_LEN
#define PA_TLS_OUT_CONTENT_LEN PA_TLS_CONTENT_LEN
#endif
#ifndef PA_TLS_RSA
#define PA_TLS_RSA 0
#endif
#ifndef PA_TLS_VARBUF
#define PA_TLS_VARBUF 0
#endif

/* ---- keys through PSA ------------------------------------------------------- */
#define MBEDTLS_USE_PSA_CRYPTO

/* ---- certificates ------------------------------------------------------------ */
#define MBEDTLS_OID_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_PK_WRITE_C                /* USE_PSA_CRYPTO with ECDSA: opaque keys' public half */
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
/* the server's certificate must be one for a TLS server: keyUsage
 * digitalSignature (ECDHE-ECDSA), extendedKeyUsage serverAuth (either passes
 * when the extension is absent; anyExtendedKeyUsage passes); CA certificates
 * in the chain need keyCertSign (docs/tls.md) */
#define MBEDTLS_X509_CHECK_KEY_USAGE
#define MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE
#if PA_TLS_RSA
/* RSA signatures in the server's chain (an RSA-2048 intermediate): verify only */
#define MBEDTLS_RSA_C
#define MBEDTLS_PKCS1_V15
#define MBEDTLS_PKCS1_V21
#undef MBEDTLS_MPI_MAX_SIZE
#define MBEDTLS_MPI_MAX_SIZE 512          /* bytes: RSA-4096 anchors */
#endif

/* ---- the (D)TLS 1.2 client --------------------------------------------------- */
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
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES

/* the record buffers (MBEDTLS_SSL_IN/OUT_BUFFER_LEN add 13 bytes of header
 * and 32 of AEAD explicit nonce and tag to these) */
#define MBEDTLS_SSL_IN_CONTENT_LEN PA_TLS_CONTENT_LEN
#define MBEDTLS_SSL_OUT_CONTENT_LEN PA_TLS_OUT_CONTENT_LEN
#if PA_TLS_VARBUF
#define MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH
#endif

#endif
