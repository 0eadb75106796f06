/*
 * prov/trust.h - minimal trust stores: pick the roots a device needs and write
 * them in the compact store format (schemas/truststore.cddl,
 * docs/truststore-format.md), or as DER, PEM or a C header.
 *
 * - An anchor is what a device needs to verify against a root: a 4-byte lookup
 *   key of the subject Name (SHA-256 over its DER, truncated), the public key in
 *   its smallest lossless form, notAfter, and the NameConstraints when the root
 *   has them.  Certificates whose key no anchor form can hold (DSA, Ed448, other
 *   curves) are dropped with a note, never silently.
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

#define PROV_TRUST_VERSION 1
#define PROV_TRUST_NAME_KEY_LEN 4
#define PROV_TRUST_INDEX_REC 6              /* name-key (4) || offset (2, big-endian) */
#define PROV_TRUST_ANCHORS_MAX 65535        /* offsets are 16 bits */
#define PROV_TRUST_STORE_MAX (PROV_TRUST_ANCHORS_MAX + 6 * 65535 + 16)
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
enum { PROV_TRUST_EXT_EXPONENT = 1, PROV_TRUST_EXT_NAME_CONSTRAINTS = 2 };

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
	uint8_t *record;         /* the encoded anchor item */
	size_t record_len;
} prov_trust_anchor;

/* Build the anchor of a certificate.  A key no anchor form holds ->
 * PROV_E_INPUT with the reason ("unsupported key: DSA"). */
prov_status prov_trust_anchor_from_cert(X509 *cert, prov_trust_anchor *a, prov_err *e);
/* Encode a->record from the other fields (done by _from_cert; exposed for tests). */
prov_status prov_trust_anchor_encode(prov_trust_anchor *a, prov_err *e);
void prov_trust_anchor_clear(prov_trust_anchor *a);

/* The name-key of a DER Name. */
void prov_trust_name_key(const uint8_t *name_der, size_t len, uint8_t out[PROV_TRUST_NAME_KEY_LEN]);

/* Encode a store from n anchors (their records must be encoded).  Sorts a copy
 * by (name-key, record); identical (name-key, record) pairs are written once.
 * More than PROV_TRUST_ANCHORS_MAX bytes of anchors -> PROV_E_INPUT. */
prov_status prov_trust_store_encode(const prov_trust_anchor *const *anchors, size_t n,
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
	const uint8_t *record;
	size_t record_len;
} prov_trust_view;

/* Check a store against every rule of the format.  On success *n is the number
 * of anchors and, if views is not NULL, *views a malloc'd array of them.
 * A malformed store -> PROV_E_INPUT naming the first defect. */
prov_status prov_trust_store_check(const uint8_t *buf, size_t len, prov_trust_view **views,
                                   size_t *n, prov_err *e);

/* Describe a (checked) store as JSON: {"version", "size", "count", "anchors": [...]},
 * each anchor {"name_key", "alg", "key_bits", "not_after" (ISO or null),
 * "name_constraints" (bool), "offset", "size"}. */
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
	int64_t at;                  /* roots expired at this time are dropped */
	prov_trust_format format;
} prov_trust_build_opts;

/* Build the output.  *report (also on most failures, NULL otherwise) records
 * every decision: inputs, anchors kept, roots dropped and why, selector
 * matches, chain coverage and the optimisation.  Errors: a selector matching
 * nothing -> PROV_E_NOTFOUND naming it; a chain no root validates ->
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
