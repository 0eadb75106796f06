/*
 * pa_trust_mbedtls.h - verify a TLS server's chain against a compact trust store
 * with Mbed TLS 2.28 (verify callback; see README.md for why and how).
 *
 * Use:
 *     pa_trust_store st;            pa_trust_open(&st, flash_buf, flash_len);
 *     pa_trust_mbedtls tm;          pa_trust_mbedtls_init(&tm, &st);
 *     pa_trust_mbedtls_set_time(&tm, now);    (0: no trustworthy clock)
 *     pa_trust_mbedtls_conf(&tm, &conf);      (before mbedtls_ssl_setup)
 *     ... handshake; mbedtls_ssl_get_verify_result() tells why a chain failed ...
 *     pa_trust_mbedtls_free(&tm);
 *
 * Promises:
 * - No heap in this code.  Mbed TLS's bignum (mbedtls_mpi) allocates internally
 *   while a signature is checked or a point decompressed; nothing is kept.
 * - A chain is trusted only if, going down from the top of the chain Mbed TLS
 *   built, some certificate either (a) is signed by an anchor filed under its
 *   issuer's name-key, or (b) is not the leaf and carries an anchor's subject
 *   name-key and public key (a served copy or cross-certificate of a root the
 *   device holds), or (c) is the leaf and its key is pinned (SHA-256 of its
 *   SubjectPublicKeyInfo among the store's pins).  A pin never signs: nothing is
 *   checked against a pinned key.  An anchor's path length (ext 3) limits the
 *   non-self-issued intermediates below it.  Everything else Mbed TLS checks
 *   (signatures below, dates, host name, key usage, profile) still applies.
 * - Anchors with name constraints are not used (Mbed TLS 2.28 cannot enforce
 *   them): fail closed.  Ed25519 anchors never match (Mbed TLS 2.28 has no
 *   Ed25519 certificates).
 * - One pa_trust_mbedtls serves one handshake at a time (it keeps the state of
 *   the verification in progress); the store it points to may be shared.
 */
#ifndef PA_TRUST_MBEDTLS_H
#define PA_TRUST_MBEDTLS_H

#include "pa_trust.h"
#include "pa_trust_check.h"
#include "pa_trust_ec.h"

#include <mbedtls/ecp.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

/* Anchors tried per name-key (collisions); bounds the signature checks per
 * certificate. */
#ifndef PA_TRUST_MAX_CANDIDATES
#define PA_TRUST_MAX_CANDIDATES 8
#endif
/* Smallest RSA anchor accepted for signatures (Mbed TLS's default profile). */
#ifndef PA_TRUST_RSA_MIN_BITS
#define PA_TRUST_RSA_MIN_BITS 2048
#endif

/* How the last verification found its anchor. */
enum pa_trust_match {
	PA_TRUST_MATCH_NONE = 0,
	PA_TRUST_MATCH_ISSUER, /* (a) an anchor's key verified the certificate */
	PA_TRUST_MATCH_SELF,   /* (b) the certificate carries an anchor's name and key */
	PA_TRUST_MATCH_PIN     /* (c) the leaf's key is pinned */
};

/* Results of pa_trust_mbedtls_check_signature / _same_key. */
enum pa_trust_sig {
	PA_TRUST_SIG_OK = 0,
	PA_TRUST_SIG_MISMATCH,  /* the anchor's algorithm cannot have signed it / other key */
	PA_TRUST_SIG_BAD,       /* the signature does not verify */
	PA_TRUST_SIG_WEAK,      /* RSA anchor smaller than PA_TRUST_RSA_MIN_BITS */
	PA_TRUST_SIG_BAD_KEY,   /* EC point not on the curve, or unusable key */
	PA_TRUST_SIG_ERROR      /* Mbed TLS failed (out of memory, ...) */
};

typedef struct {
	const pa_trust_store *store;
	uint64_t now;                    /* POSIX seconds; 0 = no clock */
	mbedtls_x509_crt placeholder;    /* empty CA list, see README.md */
	/* state of the verification in progress (the callback runs top-down) */
	int expect_depth;                /* -1: idle */
	int anchored;
	uint32_t pending;                /* flags of certificates above any anchor */
	int has_path_len;                /* the anchor's path length, if it has one */
	uint64_t path_len;
	uint64_t below;                  /* non-self-issued intermediates below it so far */
	/* result of the last verification, for diagnostics and tests */
	int match;                       /* enum pa_trust_match */
	int match_depth;
	int anchor_expired;
	int path_len_exceeded;
} pa_trust_mbedtls;

void pa_trust_mbedtls_init(pa_trust_mbedtls *tm, const pa_trust_store *st);
void pa_trust_mbedtls_set_time(pa_trust_mbedtls *tm, uint64_t now);
/* Install on a configuration: the verify callback, the empty CA placeholder and
 * MBEDTLS_SSL_VERIFY_REQUIRED. */
void pa_trust_mbedtls_conf(pa_trust_mbedtls *tm, mbedtls_ssl_config *conf);
void pa_trust_mbedtls_free(pa_trust_mbedtls *tm);

/* The verify callback itself (mbedtls_ssl_conf_verify / mbedtls_x509_crt_verify);
 * always returns 0, the verdict is in *flags. */
int pa_trust_mbedtls_verify_cb(void *tm, mbedtls_x509_crt *crt, int depth, uint32_t *flags);

/* Building blocks, exposed for tests. */
int pa_trust_mbedtls_name_key(const unsigned char *name_der, size_t len,
                              uint8_t out[PA_TRUST_NAME_KEY_LEN]);
/* Does the anchor's key verify crt's signature?  enum pa_trust_sig. */
int pa_trust_mbedtls_check_signature(const pa_trust_anchor *a, const mbedtls_x509_crt *crt);
/* Is crt's public key the anchor's key?  PA_TRUST_SIG_OK or _MISMATCH. */
int pa_trust_mbedtls_same_key(const pa_trust_anchor *a, const mbedtls_x509_crt *crt);
#endif
