/*
 * pa_trust.h - the device's compact trust store: open, look up, read anchors.
 *
 * A store (format v2, docs/truststore-format.md; the device side is described in
 * firmware-agent/trust/README.md) is one deterministic CBOR item
 *
 *     [2, index: bstr, anchors: bstr, pins: bstr]
 *
 * where index is n sorted 6-byte records name-key(4) || offset(2, big-endian),
 * anchors the n records [alg, key, not-after / null, ? {1: e, 2: nc, 3: pathlen}]
 * in index order (every anchor is a CA: prov trust build admits nothing else), and
 * pins m sorted SHA-256 hashes of servers' DER SubjectPublicKeyInfo.  A version 1
 * store (made before anchors had to be CAs) is refused: rebuild it.
 *
 * Promises:
 * - No heap.  The caller owns every object; a pa_trust_store only points into the
 *   caller's buffer (for example a const array in flash), which must outlive it.
 * - pa_trust_open() validates the whole store once (every rule of the format's
 *   reject list, canonical CBOR, record order) and fails closed: on any error the
 *   store is left empty.  After a successful open, lookups cannot fail on malformed
 *   bytes; they only walk what open() checked.  The one rule it cannot check
 *   without crypto, that an EC anchor's point is on its curve, is
 *   pa_trust_check()'s (pa_trust_check.h), which the agent runs at install.
 * - Lookup is a binary search on the index (O(log n)) and iteration over records
 *   that share a name-key is bounded by the number of records.
 * - No crypto here: the caller hashes names (SHA-256, first 4 bytes) and checks
 *   signatures (pa_trust_mbedtls.h does both with Mbed TLS).
 * - Thread-safety: an opened store is read-only and may be shared; an iterator
 *   belongs to one thread.
 */
#ifndef PA_TRUST_H
#define PA_TRUST_H

#include <stddef.h>
#include <stdint.h>

#define PA_TRUST_VERSION       2u
#define PA_TRUST_NAME_KEY_LEN  4u /* first bytes of SHA-256(subject Name DER) */
#define PA_TRUST_INDEX_REC_LEN 6u /* name-key || offset (big-endian) */
#define PA_TRUST_ANCHORS_MAX   65535u /* offsets are 16 bits */
#define PA_TRUST_PIN_LEN       32u /* SHA-256 of a DER SubjectPublicKeyInfo */
#define PA_TRUST_PINS_MAX      2047u

/* RSA moduli accepted by open(), the host's limits (prov_trust_store_check); a
 * port may narrow these (refusing more than the host, never less). */
#ifndef PA_TRUST_RSA_MIN_BYTES
#define PA_TRUST_RSA_MIN_BYTES 128u  /* 1024 bits */
#endif
#ifndef PA_TRUST_RSA_MAX_BYTES
#define PA_TRUST_RSA_MAX_BYTES 1024u /* 8192 bits, Mbed TLS's MBEDTLS_MPI_MAX_SIZE */
#endif
/* RSA public exponents (alg 2) up to this many bytes. */
#ifndef PA_TRUST_RSA_E_MAX_BYTES
#define PA_TRUST_RSA_E_MAX_BYTES 8u
#endif

/* Key algorithms (format v2). */
enum pa_trust_alg {
	PA_TRUST_ALG_RSA_F4 = 1,  /* RSA, e = 65537, key = modulus */
	PA_TRUST_ALG_RSA = 2,     /* RSA, e in ext 1 */
	PA_TRUST_ALG_P256 = 3,    /* SEC1 compressed point, 33 bytes */
	PA_TRUST_ALG_P384 = 4,    /* 49 bytes */
	PA_TRUST_ALG_P521 = 5,    /* 67 bytes */
	PA_TRUST_ALG_ED25519 = 6  /* 32 bytes */
};

enum pa_trust_err {
	PA_TRUST_OK = 0,
	PA_TRUST_ERR_ARG,        /* NULL pointer or bad argument */
	PA_TRUST_ERR_TRUNCATED,  /* the bytes end inside an item */
	PA_TRUST_ERR_CBOR,       /* not the expected CBOR type, or not deterministic */
	PA_TRUST_ERR_VERSION,    /* format version is not 2 (version 1: rebuild the store) */
	PA_TRUST_ERR_INDEX,      /* index length not a multiple of 6, anchors > 65535 bytes,
	                            pins not a multiple of 32 bytes or more than 2047 */
	PA_TRUST_ERR_ORDER,      /* index, records or pins not sorted, or a duplicate */
	PA_TRUST_ERR_OFFSET,     /* an offset not at the start of the next record */
	PA_TRUST_ERR_TRAILING,   /* bytes after the store or after the last record */
	PA_TRUST_ERR_ALG,        /* alg outside 1..6 */
	PA_TRUST_ERR_KEY,        /* key of the wrong length or form for its alg (or, for
	                            pa_trust_check, an EC point not on its curve) */
	PA_TRUST_ERR_EXT,        /* unknown ext key, empty ext, or ext 1 missing / misplaced */
	PA_TRUST_ERR_NOT_FOUND   /* lookup: no (more) anchors for the name-key */
};

/* An opened store: pointers into the caller's buffer. */
typedef struct {
	const uint8_t *index;   /* n * 6 bytes */
	const uint8_t *anchors; /* the anchor records */
	size_t n;               /* number of anchors */
	size_t anchors_len;
	const uint8_t *pins;    /* n_pins * 32 bytes, ascending */
	size_t n_pins;
} pa_trust_store;

/* One anchor, decoded; every pointer points into the store's buffer. */
typedef struct {
	uint8_t name_key[PA_TRUST_NAME_KEY_LEN];
	unsigned alg;               /* enum pa_trust_alg */
	const uint8_t *key;
	size_t key_len;
	int has_not_after;          /* 0: null, no expiry */
	uint64_t not_after;         /* POSIX seconds, when has_not_after */
	const uint8_t *rsa_e;       /* alg 2: exponent, big-endian; else NULL */
	size_t rsa_e_len;
	const uint8_t *name_constraints; /* DER NameConstraints value, or NULL */
	size_t name_constraints_len;
	int has_path_len;           /* ext 3: the CA's pathLenConstraint */
	uint64_t path_len;
	const uint8_t *record;      /* the whole CBOR record */
	size_t record_len;
} pa_trust_anchor;

/* Iterator over the anchors that share one name-key. */
typedef struct {
	const pa_trust_store *store;
	uint8_t name_key[PA_TRUST_NAME_KEY_LEN];
	size_t pos; /* next index position to return */
} pa_trust_iter;

/* Validate buf[0..len) as a whole store and point st into it.  Returns PA_TRUST_OK
 * or the first defect found; st is empty (n = 0) on failure. */
int pa_trust_open(pa_trust_store *st, const uint8_t *buf, size_t len);

/* Number of anchors in an opened store. */
size_t pa_trust_count(const pa_trust_store *st);

/* The anchor at index position i (0 <= i < count). */
int pa_trust_get(const pa_trust_store *st, size_t i, pa_trust_anchor *a);

/* Start iterating over the anchors whose name-key equals name_key (binary search for
 * the first).  Always succeeds on valid arguments; pa_trust_next() then returns
 * PA_TRUST_ERR_NOT_FOUND when there are none (left). */
int pa_trust_find(const pa_trust_store *st, const uint8_t name_key[PA_TRUST_NAME_KEY_LEN],
                  pa_trust_iter *it);
int pa_trust_next(pa_trust_iter *it, pa_trust_anchor *a);

/* Number of pins, and whether a server key (SHA-256 of its DER SubjectPublicKeyInfo)
 * is pinned (1) or not (0): a binary search. */
size_t pa_trust_pin_count(const pa_trust_store *st);
int pa_trust_pinned(const pa_trust_store *st, const uint8_t spki_sha256[PA_TRUST_PIN_LEN]);

/* Whether an anchor is expired at time now (POSIX seconds).  now = 0 means the
 * device has no trustworthy clock: expiry is then not checked (see README.md). */
int pa_trust_anchor_expired(const pa_trust_anchor *a, uint64_t now);

/* A short English name for an error code. */
const char *pa_trust_strerror(int err);

#endif
