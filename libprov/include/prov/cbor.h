/*
 * prov/cbor.h - deterministic CBOR (RFC 8949 section 4.2.1) on top of libcbor.
 *
 * libcbor encodes an integer with the width the item was built with and keeps map
 * pairs in insertion order, so these helpers build integers in their shortest form
 * and sort every definite map by the bytewise order of its encoded keys before
 * serialising.  Items are libcbor items (reference counted; the caller owns what a
 * builder returns and releases it with cbor_decref).  Not thread-safe per item.
 */
#ifndef PROV_CBOR_H
#define PROV_CBOR_H

#include <cbor.h>
#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"

/* Shortest-form integers (major type 0 for v >= 0, 1 for v < 0).  NULL on OOM. */
cbor_item_t *prov_cbor_uint(uint64_t v);
cbor_item_t *prov_cbor_int(int64_t v);
/* A definite byte / text string holding a copy of the bytes. */
cbor_item_t *prov_cbor_bytes(const void *p, size_t n);
cbor_item_t *prov_cbor_text(const char *s);
cbor_item_t *prov_cbor_textn(const char *s, size_t n);

/* Add key -> value to a definite map, taking ownership of both (they are decref'd
 * even on failure).  Returns 0 or -1 (OOM / map full). */
int prov_cbor_map_put(cbor_item_t *map, cbor_item_t *key, cbor_item_t *value);
/* Convenience: integer key.  Same ownership rule for value. */
int prov_cbor_map_put_int(cbor_item_t *map, int64_t key, cbor_item_t *value);
/* Push onto a definite array, taking ownership of the item.  0 or -1. */
int prov_cbor_array_push(cbor_item_t *array, cbor_item_t *item);

/* Serialise deterministically: recursively sorts map pairs by encoded key bytes,
 * rejects (PROV_E_INTERNAL) indefinite-length items, duplicate map keys and floats.
 * On success *out is malloc'd (free with free(); wipe it first if the item held
 * secrets).  Every buffer and copy it makes on the way is wiped before it is
 * freed, so encoding a tree with secrets leaves none behind. */
prov_status prov_cbor_encode(cbor_item_t *item, uint8_t **out, size_t *out_len,
                             prov_err *e);

/* cbor_decref for a tree that may hold secrets: first wipe the bytes of every
 * byte and text string the decref frees (those not also held elsewhere).  Sets
 * *item to NULL; NULL is allowed. */
void prov_cbor_decref_wipe(cbor_item_t **item);

/* Decode exactly one well-formed item occupying all of buf (trailing bytes are an
 * error, PROV_E_INPUT).  The caller decrefs *out. */
prov_status prov_cbor_decode(const uint8_t *buf, size_t len, cbor_item_t **out,
                             prov_err *e);

/* Length of the one well-formed item that starts buf; bytes after it are allowed
 * and not examined (to walk a sequence, or to find an item inside a larger
 * encoding).  Errors as for prov_cbor_decode (PROV_E_INPUT). */
prov_status prov_cbor_item_len(const uint8_t *buf, size_t len, size_t *item_len,
                               prov_err *e);

/* True if buf holds one item encoded exactly as prov_cbor_encode would encode it
 * (shortest forms, definite lengths, sorted unique map keys, no trailing bytes). */
int prov_cbor_is_deterministic(const uint8_t *buf, size_t len);

/* Map lookup by integer key; NULL if absent.  Borrowed pointer (no decref). */
cbor_item_t *prov_cbor_map_get_int(const cbor_item_t *map, int64_t key);
/* Read an integer item of either sign into *v; -1 if not an integer or out of range. */
int prov_cbor_get_int(const cbor_item_t *item, int64_t *v);

#endif
