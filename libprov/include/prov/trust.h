/*
 * prov/trust.h - minimal trust stores: pick the roots a device needs and write
 * them in the compact store format (schemas/truststore.cddl,
 * docs/truststore-format.md), or as DER, PEM or a C header.
 *
 * - An anchor is a CA the device lets sign servers' certificates: a 4-byte
 *   lookup key of the subject Name (SHA-256 over its DER, truncated), the public
 *   key in its smallest lossless form, notAfter, and the path length and
 *   NameConstraints when the root has them.  Only a CA by RFC 5280 becomes an
 *   anchor (prov_trust_ca_check); every certificate that does not, and every one
 *   whose key no anchor form can hold (DSA, Ed448, other curves), is dropped
 *   with its reason, never silently.
 * - A pin is one server's key (SHA-256 of its DER SubjectPublicKeyInfo): the
 *   device accepts a server whose own key is pinned and never anything signed
 *   by it.
 * - A store is one deterministic CBOR item; the same set of anchors always gives
 *   the same bytes, whatever the input order.
 * - prov_trust_store_check is the strict host-side reader: it rejects everything
 *   the format forbids, and never reads past the buffer.
 * - A signed store (prov_trust_sign) is a COSE_Sign1 by the factory's bundle
 *   signer over a payload that no bundle can be mistaken for (key 0 = "prov-trust").
 *
 * All X.509 work is OpenSSL's and all CBOR libcbor's.  Returned buffers are
 * malloc'd (free with free()); JSON reports are jansson references the caller
 * decrefs.  Reentrant; no global state.
 */
#ifndef PROV_TRUST_H
#define PROV_TRUST_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"
#include "prov/home.h"

/* Format version 2 (docs/truststore-format.md): anchors are CAs, pins exist.
 * Version 1 stores are refused with "rebuild it" (they may hold non-CAs). */
#define PROV_TRUST_VERSION 2
#define PROV_TRUST_NAME_KEY_LEN 4
#define PROV_TRUST_INDEX_REC 6              /* name-key (4) || offset (2, big-endian) */
#define PROV_TRUST_ANCHORS_MAX 65535        /* offsets are 16 bits */
#define PROV_TRUST_PIN_LEN 32               /* SHA-256 of a DER SubjectPublicKeyInfo */
#define PROV_TRUST_PINS_MAX 2047            /* pins bytes stay below 65,536 */
#define PROV_TRUST_STORE_MAX (PROV_TRUST_ANCHORS_MAX + 6 * 65535 + PROV_TRUST_PIN_LEN * PROV_TRUST_PINS_MAX + 16)
#define PROV_TRUST_RSA_MIN 128              /* modulus bytes: 1024 .. 8192 bits */
#define PROV_TRUST_RSA_MAX 1024
#define PROV_TRUST_MAX_CHAINS 64            /* --chain files (a bit each) */
#define PROV_TRUST_EXACT_MAX 20             /* candidates searched exactly (2^20 subsets) */

/* Anchor algorithms (the `alg` field). */
typedef enum prov_trust_alg {
	PROV_TRUST_RSA = 1,       /* exponent 65537; key = modulus */
	PROV_TRUST_RSA_EXP = 2,   /* other exponent in ext 1 */
	PROV_TRUST_P256 = 3,      /* SEC1 compressed point, 33 bytes */
	PROV_TRUST_P384 = 4,      /* 49 bytes */
	PROV_TRUST_P521 = 5,      /* 67 bytes */
	PROV_TRUST_ED25519 = 6,   /* 32 bytes */
} prov_trust_alg;

/* Ext map keys of an anchor. */
enum { PROV_TRUST_EXT_EXPONENT = 1, PROV_TRUST_EXT_NAME_CONSTRAINTS = 2, PROV_TRUST_EXT_PATH_LEN = 3 };

/* Payload keys of a signed store (docs/truststore-format.md, "Signed stores"). */
enum {
	PROV_TS_KIND = 0,        /* "prov-trust": never present in a bundle */
	PROV_TS_VERSION = 1,
	PROV_TS_DEVICE = 2,
	PROV_TS_COUNTER = 3,
	PROV_TS_ISSUED_AT = 5,
	PROV_TS_STORE = 10,
};
#define PROV_TS_KIND_MARKER "prov-trust"
#define PROV_TS_PAYLOAD_VERSION 1
#define PROV_TS_META_COUNTER "trust_counter"   /* meta key of the factory-wide counter */

const char *prov_trust_alg_name(int alg);

/* One anchor as the host builds it from a certificate. */
typedef struct prov_trust_anchor {
	uint8_t name_key[PROV_TRUST_NAME_KEY_LEN];
	int alg;
	uint8_t *key;            /* modulus / compressed point / raw Ed25519 key */
	size_t key_len;
	uint8_t *exponent;       /* alg 2 only */
	size_t exponent_len;
	int64_t not_after;       /* POSIX seconds; ignored when no_expiry */
	int no_expiry;           /* notAfter 99991231235959Z: encoded as null */
	uint8_t *name_constraints; /* DER of the NameConstraints extension value, or NULL */
	size_t nc_len;
	int has_path_len;        /* basicConstraints pathLenConstraint present */
	uint64_t path_len;
	uint8_t *record;         /* the encoded anchor item */
	size_t record_len;
} prov_trust_anchor;

/* Build the anchor of a certificate (its key, notAfter, path length and name
 * constraints; whether it may be an anchor at all is prov_trust_ca_check's
 * question).  A key no anchor form holds -> PROV_E_INPUT with the reason
 * ("unsupported key: DSA"). */
prov_status prov_trust_anchor_from_cert(X509 *cert, prov_trust_anchor *a, prov_err *e);

/* Why a certificate may not be an anchor. */
typedef enum prov_trust_refusal {
	PROV_TRUST_CA_OK = 0,
	PROV_TRUST_NOT_CA,        /* no basicConstraints, cA FALSE, keyUsage without keyCertSign */
	PROV_TRUST_V1,            /* version 1 and allow_v1 not set */
	PROV_TRUST_CRITICAL_EXT,  /* a critical extension the device does not process */
	PROV_TRUST_MALFORMED,     /* against RFC 5280's certificate profile (empty names, ...) */
} prov_trust_refusal;

/* Is cert a CA by RFC 5280, usable as an anchor: version 3 (or version 1 when
 * allow_v1), basicConstraints cA TRUE, keyUsage (if present) with keyCertSign,
 * no critical extension other than basicConstraints, keyUsage and
 * nameConstraints, non-empty subject and issuer, the same signature algorithm
 * inside and outside the signed part, well-formed extensions.  Returns the
 * refusal and writes why (one line, ASCII) into why[cap]. */
prov_trust_refusal prov_trust_ca_check(X509 *cert, int allow_v1, char *why, size_t cap);
const char *prov_trust_refusal_name(prov_trust_refusal r);

/* The pin of a DER SubjectPublicKeyInfo. */
void prov_trust_pin(const uint8_t *spki_der, size_t len, uint8_t out[PROV_TRUST_PIN_LEN]);
/* Encode a->record from the other fields (done by _from_cert; exposed for tests). */
prov_status prov_trust_anchor_encode(prov_trust_anchor *a, prov_err *e);
void prov_trust_anchor_clear(prov_trust_anchor *a);

/* The name-key of a DER Name. */
void prov_trust_name_key(const uint8_t *name_der, size_t len, uint8_t out[PROV_TRUST_NAME_KEY_LEN]);

/* Encode a store from n anchors (their records must be encoded) and n_pins
 * pins (n_pins * PROV_TRUST_PIN_LEN bytes, any order).  Sorts a copy of each
 * by (name-key, record) and by pin; identical entries are written once.  More
 * than PROV_TRUST_ANCHORS_MAX bytes of anchors or PROV_TRUST_PINS_MAX pins ->
 * PROV_E_INPUT. */
prov_status prov_trust_store_encode(const prov_trust_anchor *const *anchors, size_t n,
                                    const uint8_t *pins, size_t n_pins,
                                    uint8_t **out, size_t *out_len, prov_err *e);

/* A checked anchor of a store: pointers into the caller's buffer. */
typedef struct prov_trust_view {
	uint8_t name_key[PROV_TRUST_NAME_KEY_LEN];
	size_t offset;
	int alg;
	const uint8_t *key;
	size_t key_len;
	int has_not_after;
	uint64_t not_after;
	const uint8_t *exponent;
	size_t exponent_len;
	const uint8_t *name_constraints;
	size_t nc_len;
	int has_path_len;
	uint64_t path_len;
	const uint8_t *record;
	size_t record_len;
} prov_trust_view;

/* Check a store against every rule of the format ("What a reader rejects" in
 * docs/truststore-format.md; the device's pa_trust_check applies the same list).
 * On success *n is the number of anchors and, if views is not NULL, *views a
 * malloc'd array of them.  A malformed store -> PROV_E_INPUT naming the first
 * defect. */
prov_status prov_trust_store_check(const uint8_t *buf, size_t len, prov_trust_view **views,
                                   size_t *n, prov_err *e);

/* The pins of a store that passed prov_trust_store_check: *pins points into buf
 * (n * PROV_TRUST_PIN_LEN bytes, ascending).  -1 if buf is not such a store. */
int prov_trust_store_pins(const uint8_t *buf, size_t len, const uint8_t **pins, size_t *n);

/* Describe a (checked) store as JSON: {"version", "size", "count" (anchors),
 * "anchors": [...], "pin_count", "pins": [{"spki_sha256"}]}, each anchor
 * {"name_key", "alg", "key_bits", "not_after" (ISO or null), "path_len" (or
 * null), "name_constraints" (bool), "offset", "size"}. */
json_t *prov_trust_store_describe(const uint8_t *buf, size_t len, const prov_trust_view *v,
                                  size_t n);

/* ---- prov trust build ---- */

typedef enum prov_trust_format {
	PROV_TRUST_FMT_STORE = 0,
	PROV_TRUST_FMT_DER,
	PROV_TRUST_FMT_PEM,
	PROV_TRUST_FMT_C,
} prov_trust_format;

/* "store" | "der" | "pem" | "c"; -1 if unknown. */
int prov_trust_format_parse(const char *s);
const char *prov_trust_format_name(prov_trust_format f);

typedef struct prov_trust_build_opts {
	const char *const *from;     /* files (PEM bundles, DER) or directories */
	size_t n_from;
	int all;                     /* exactly one of all / select / chains */
	const char *const *select;   /* CN, full DN (RFC 2253 text), or SHA-256 fingerprint */
	size_t n_select;
	const char *const *chains;   /* served chains (leaf first), PEM or DER */
	size_t n_chains;
	const char *const *pins;     /* servers' certificates or PEM public keys to pin */
	size_t n_pins;
	int allow_v1;                /* version 1 roots may be anchors */
	int64_t at;                  /* roots expired at this time are dropped */
	prov_trust_format format;
} prov_trust_build_opts;

/* Build the output.  *report (also on most failures, NULL otherwise) records
 * every decision: inputs, anchors kept, pins, certificates dropped and why,
 * selector matches, chain coverage and the optimisation.  With no --from
 * (n_from 0) the store holds pins only.  Errors: a selector matching nothing
 * -> PROV_E_NOTFOUND naming it; a selector matching a certificate that cannot
 * be an anchor -> PROV_E_INPUT naming it and why; a chain no root validates ->
 * PROV_E_VERIFY naming the file; nothing left to write, garbage input ->
 * PROV_E_INPUT; unreadable input -> PROV_E_IO / PROV_E_NOTFOUND. */
prov_status prov_trust_build(const prov_trust_build_opts *o, uint8_t **out, size_t *out_len,
                             json_t **report, prov_err *e);

/* The C header form of a store (what --format c writes). */
prov_status prov_trust_c_header(const uint8_t *store, size_t len, size_t n_anchors,
                                char **out, size_t *out_len, prov_err *e);

/* ---- signed stores ---- */

typedef struct prov_trust_sign_info {
	uint64_t counter;
	int64_t issued_at;
	size_t n_anchors;
	size_t n_pins;
} prov_trust_sign_info;

/* Inside the caller's transaction: take the next value of the factory-wide
 * trust counter, sign the store (needs PROV_NEED_SIGNER) and record it in the
 * audit log.  `device` may be NULL (any device of the factory). */
prov_status prov_trust_sign(prov_home *h, const uint8_t *store, size_t len, const char *device,
                            uint8_t **out, size_t *out_len, prov_trust_sign_info *info,
                            prov_err *e);

/* True if buf looks like a COSE_Sign1 (tag 18) rather than a bare store. */
int prov_trust_is_signed(const uint8_t *buf, size_t len);

/* Verify a signed store against the signer keys, check its payload and store,
 * and describe it: the store's description plus "signed": {"status", "kid",
 * "counter", "issued_at", "device"}.  Bad signature -> PROV_E_VERIFY (*out
 * still set, "status": "invalid" and nothing from the payload); malformed ->
 * PROV_E_INPUT. */
prov_status prov_trust_signed_inspect(const uint8_t *buf, size_t len, EVP_PKEY *const *signers,
                                      size_t n_signers, json_t **out, prov_err *e);

#endif
