/*
 * cose_internal.h - what the three parts of libprov's COSE code share (codec/:
 * cose_header.c, cose_sign1.c, cose_encrypt.c; the public API is prov/cose.h):
 * header labels, the algorithms provkit implements, and the header-bucket and
 * CBOR-shape helpers (RFC 9052 section 3).  Internal to libprov: not installed.
 */
#ifndef PROV_COSE_INTERNAL_H
#define PROV_COSE_INTERNAL_H

#include <cbor.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"

/* Header labels (RFC 9052 section 3.1, RFC 9053 section 6.4.1). */
#define HDR_ALG 1
#define HDR_CRIT 2
#define HDR_KID 4
#define HDR_IV 5
#define HDR_PARTIAL_IV 6
#define HDR_EPK (-1)

/* ---- algorithms and keys (cose_header.c) ---- */

enum key_kind { KEY_OTHER, KEY_P256, KEY_P384, KEY_ED25519 };

struct sign_alg {
	int alg;
	const char *name;
	enum key_kind kind;
	size_t sig_len;   /* raw r || s for ECDSA (RFC 9053 section 2.1), 64 for Ed25519 */
};

struct content_alg {
	int alg;
	const char *name;
	size_t iv_len;
	size_t tag_len;
};

/* The signing or content algorithm with that COSE number, or NULL. */
const struct sign_alg *cose_sign_alg_find(int64_t alg);
const struct content_alg *cose_content_alg_find(int64_t alg);
/* A name for any COSE algorithm number we know of (implemented or not), or NULL. */
const char *cose_alg_name(int64_t alg);
/* A printable description of an alg header value, for error messages. */
void cose_describe_alg(const cbor_item_t *item, char *buf, size_t cap);
/* P-256, P-384, Ed25519 or other (explicit curve parameters included). */
enum key_kind cose_key_kind(EVP_PKEY *key);

/* ---- CBOR shapes and header buckets (cose_header.c) ---- */

int cose_is_bstr(const cbor_item_t *it);
/* A simple value (libcbor's cbor_is_null / cbor_is_bool assert on a float). */
int cose_is_simple(const cbor_item_t *it, int value);
int cose_is_map(const cbor_item_t *it);
int cose_is_array(const cbor_item_t *it, size_t n);
/* A map holding just {1: alg}, encoded: the protected headers we write. */
prov_status cose_encode_alg_header(int alg, uint8_t **out, size_t *out_len, prov_err *e);
/* The protected bucket is a bstr wrapping a map; a zero-length bstr is the empty
 * map (RFC 9052 section 3).  *map is NULL for empty. */
prov_status cose_decode_protected(const char *what, const uint8_t *p, size_t n,
                                  cbor_item_t **map, prov_err *e);
/* Labels are integers or text and unique within and across the two buckets
 * (RFC 9052 section 3); `prot` may be NULL (empty). */
prov_status cose_check_labels(const char *what, const cbor_item_t *prot,
                              const cbor_item_t *unprot, prov_err *e);

#endif
