/*
 * pa_tls.h - the Mbed TLS adapter: an mbedtls_ssl_config made from what the
 * agent installed in one slot, credentials by reference (docs/tls.md).
 *
 *     pa_tls t;  uint8_t work[PA_BUNDLE_MAX];
 *     pa_tls_setup(&t, &agent, slot, work, sizeof(work), mbedtls_ctr_drbg_random, &drbg,
 *                  now, &err);
 *     mbedtls_ssl_setup(&ssl, &t.conf);  pa_tls_set_hostname(&t, &ssl);
 *     ... handshake ...
 *     pa_tls_free(&t);
 *
 * Promises:
 * - Keys are used by reference: the device key is an opaque PSA key
 *   (mbedtls_pk_setup_opaque on the slot's private-key entry, or the identity
 *   key when the slot's certificate is for it) and the PSK an opaque PSA key
 *   (mbedtls_ssl_conf_psk_opaque).  No key byte is read out of PSA.
 * - The server is always checked (MBEDTLS_SSL_VERIFY_REQUIRED) against the
 *   compact trust store (firmware-agent/trust) or the installed CA
 *   certificates, from the slot itself or else from another slot of the set;
 *   a certificate slot with neither is refused (PA_TLS_E_NO_TRUST).
 * - Everything else comes from the set's TLS profile: transport, versions,
 *   cipher suites, max fragment length (or the nearest one under the record
 *   size limit), session tickets, time policy, server name.
 * - No heap in this code (Mbed TLS allocates its own); one pa_tls per
 *   configuration, and it must outlive every mbedtls_ssl_context using it.
 * - The caller lends one work buffer (the largest entry it may have to read:
 *   PA_BUNDLE_MAX covers any): setup reads the device certificate or the CA
 *   certificates into it (Mbed TLS copies what it parses), then the trust
 *   store, which stays there (its anchors point into it) until pa_tls_free.
 *   A device can lend RAM that is idle while TLS runs (the firmware lends
 *   the agent's bundle buffer, docs/tls.md).
 */
#ifndef PA_TLS_H
#define PA_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "pa/pa_agent.h"
#include "trust/pa_trust.h"
#include "trust/pa_trust_mbedtls.h"

/* Errors of pa_tls_setup (distinct from the agent's codes). */
enum pa_tls_err {
	PA_TLS_OK = 0,
	PA_TLS_E_ARGS = 70,         /* invalid argument */
	PA_TLS_E_NO_SLOT = 71,      /* the slot holds no TLS credential (or several slots: name one) */
	PA_TLS_E_NO_PROFILE = 72,   /* the set has no TLS profile */
	PA_TLS_E_PROFILE = 73,      /* the profile asks for what this build cannot do */
	PA_TLS_E_STORE = 74,        /* storage lookup failed */
	PA_TLS_E_CERT = 75,         /* an installed certificate does not parse */
	PA_TLS_E_KEY = 76,          /* the key is not usable, or not the certificate's */
	PA_TLS_E_NO_TRUST = 77,     /* nothing to check the server with */
	PA_TLS_E_TRUST_STORE = 78,  /* the installed trust store does not open */
	PA_TLS_E_MBEDTLS = 79,      /* Mbed TLS refused the configuration */
	PA_TLS_E_RPK = 80,          /* a raw-public-key slot: Mbed TLS 2.28 has no RFC 7250 */
	PA_TLS_E_RPK_KEY = 81       /* own-rpk is not the public half of the slot's key */
};

/* What a slot authenticates with (NONE: a slot with only a trust store or CA
 * certificates: the server is authenticated, the device is not). */
enum pa_tls_mode { PA_TLS_MODE_NONE = 0, PA_TLS_MODE_CERT, PA_TLS_MODE_PSK };

/* Where the server check comes from. */
enum pa_tls_trust { PA_TLS_TRUST_NONE = 0, PA_TLS_TRUST_STORE, PA_TLS_TRUST_CA };

#define PA_TLS_SUITES_MAX 16

typedef struct pa_tls {
	const pa_agent *agent;
	uint32_t slot;
	int mode;                       /* enum pa_tls_mode */
	int trust;                      /* enum pa_tls_trust */
	uint32_t trust_slot;
	pa_tls_profile prof;
	uint64_t now;                   /* effective time for date checks; 0 = none */
	int ciphersuites[PA_TLS_SUITES_MAX + 1];   /* 0-terminated, as Mbed TLS wants */
	size_t n_suites;
	uint16_t mfl;                   /* max fragment length configured, 0 none */
	psa_key_id_t key_id;            /* device key or PSK */
	mbedtls_ssl_config conf;
	mbedtls_x509_crt own_chain;
	mbedtls_pk_context own_key;
	mbedtls_x509_crt ca;
	pa_trust_store store;
	pa_trust_mbedtls tm;
	uint8_t psk_identity[128];
	size_t psk_identity_len;
	uint8_t *buf;                   /* the caller's work buffer: certificates, */
	size_t buf_cap;                 /* then the trust store (kept) */
} pa_tls;

/* The one slot of the set that holds the device's TLS credentials (device-cert,
 * private-key, psk or own-rpk), or, in a set without any, the one slot with a
 * trust store or CA certificates (server authentication only):
 * PA_TLS_E_NO_SLOT if none or more than one. */
int pa_tls_find_slot(const pa_agent *a, uint32_t *slot);

/* Configure t->conf for slot.  buf/cap: the work buffer (above), which must
 * outlive t.  rng: Mbed TLS's RNG callback.  now: POSIX time
 * of the device's clock, 0 if it has none; the profile's time policy decides
 * what is believed.  On failure *detail (may be NULL) gets an Mbed TLS or
 * agent error when there is one, and t is freed. */
int pa_tls_setup(pa_tls *t, const pa_agent *a, uint32_t slot, uint8_t *buf, size_t cap,
                 int (*rng)(void *, unsigned char *, size_t), void *p_rng, uint64_t now,
                 int *detail);

/* SNI and the server-name check, from the profile (nothing if it has none). */
int pa_tls_set_hostname(const pa_tls *t, mbedtls_ssl_context *ssl);

void pa_tls_free(pa_tls *t);

/* A short English reason for a pa_tls_err. */
const char *pa_tls_strerror(int err);

/* The installed key of a slot as SubjectPublicKeyInfo DER (from PSA's public
 * half) into buf[0..*len): the RPK a server pins. */
int pa_tls_key_spki(const pa_agent *a, uint32_t slot, uint8_t *buf, size_t cap, size_t *len);

/* Sign SHA-256(msg) with the slot's key through PSA (the opaque pk), DER
 * ECDSA signature into sig[0..*sig_len). */
int pa_tls_key_sign(const pa_agent *a, uint32_t slot, const uint8_t *msg, size_t msg_len,
                    uint8_t *sig, size_t cap, size_t *sig_len,
                    int (*rng)(void *, unsigned char *, size_t), void *p_rng);

#endif
