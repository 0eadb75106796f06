/*
 * store_builder.h - the unit tests' trust store writer (host side, over libcbor).
 *
 * Builds a format v2 store from anchor specs with any name-keys the test wants
 * (collisions included), sorted as the format requires: by (name-key, record
 * bytes), and pins.  sb_store() returns the length written to out, 0 on
 * overflow.  A version other than 2 writes the items a version 1 store had
 * (no pins), so tests can make an old store.
 */
#ifndef PA_TRUST_TEST_STORE_BUILDER_H
#define PA_TRUST_TEST_STORE_BUILDER_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

typedef struct {
	uint8_t nk[4];
	unsigned alg;
	const uint8_t *key;
	size_t key_len;
	int has_na;
	uint64_t na;
	const uint8_t *e;  /* ext 1 */
	size_t e_len;
	const uint8_t *nc; /* ext 2 */
	size_t nc_len;
	int has_pl;        /* ext 3 */
	uint64_t pl;
	int raw_alg;       /* alg is written even when outside 1..6 */
} sb_anchor;

typedef struct {
	uint8_t nk[4];
	unsigned char *rec;
	size_t len;
} sb_rec;

/* shortest-form unsigned integer */
static inline cbor_item_t *sb_uint(uint64_t v)
{
	if (v <= 0xffu)
		return cbor_build_uint8((uint8_t)v);
	if (v <= 0xffffu)
		return cbor_build_uint16((uint16_t)v);
	if (v <= 0xffffffffu)
		return cbor_build_uint32((uint32_t)v);
	return cbor_build_uint64(v);
}

static inline size_t sb_serialize(cbor_item_t *it, unsigned char **out)
{
	size_t cap = 0, n = cbor_serialize_alloc(it, out, &cap);

	cbor_decref(&it);
	return n;
}

static inline void sb_push(cbor_item_t *arr, cbor_item_t *v)
{
	cbor_array_push(arr, v);
	cbor_decref(&v);
}

static inline void sb_map_add(cbor_item_t *map, uint64_t k, const uint8_t *v, size_t len)
{
	struct cbor_pair p;

	p.key = sb_uint(k);
	p.value = cbor_build_bytestring(v, len);
	cbor_map_add(map, p);
	cbor_decref(&p.key);
	cbor_decref(&p.value);
}

/* One anchor record. */
static inline size_t sb_record(const sb_anchor *a, unsigned char **out)
{
	int ext = a->e != NULL || a->nc != NULL || a->has_pl;
	cbor_item_t *arr = cbor_new_definite_array(ext ? 4 : 3);

	sb_push(arr, sb_uint(a->alg));
	sb_push(arr, cbor_build_bytestring(a->key, a->key_len));
	sb_push(arr, a->has_na ? sb_uint(a->na) : cbor_new_null());
	if (ext) {
		cbor_item_t *m = cbor_new_definite_map((size_t)(a->e != NULL) + (a->nc != NULL) + (a->has_pl != 0));

		if (a->e != NULL)
			sb_map_add(m, 1, a->e, a->e_len);
		if (a->nc != NULL)
			sb_map_add(m, 2, a->nc, a->nc_len);
		if (a->has_pl) {
			struct cbor_pair p;

			p.key = sb_uint(3);
			p.value = sb_uint(a->pl);
			cbor_map_add(m, p);
			cbor_decref(&p.key);
			cbor_decref(&p.value);
		}
		sb_push(arr, m);
	}
	return sb_serialize(arr, out);
}

static inline int sb_rec_cmp(const void *pa, const void *pb)
{
	const sb_rec *a = pa, *b = pb;
	int c = memcmp(a->nk, b->nk, 4);

	if (c != 0)
		return c;
	c = memcmp(a->rec, b->rec, a->len < b->len ? a->len : b->len);
	if (c != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

/* Pins for the next store written (sb_store_recs), n * 32 bytes as given. */
static const uint8_t *sb_pins;
static size_t sb_n_pins;

/* The whole store from pre-encoded records (kept in the given order when
 * sorted == 0, to make unsorted stores). */
static inline size_t sb_store_recs(sb_rec *recs, size_t n, int sorted, unsigned version,
                                   uint8_t *out, size_t cap)
{
	unsigned char *index = malloc(n * 6 + 1), *anchors, *enc = NULL;
	size_t i, total = 0, len;
	cbor_item_t *arr;

	for (i = 0; i < n; i++)
		total += recs[i].len;
	anchors = malloc(total + 1);
	if (sorted)
		qsort(recs, n, sizeof(*recs), sb_rec_cmp);
	total = 0;
	for (i = 0; i < n; i++) {
		memcpy(index + 6 * i, recs[i].nk, 4);
		index[6 * i + 4] = (uint8_t)(total >> 8);
		index[6 * i + 5] = (uint8_t)total;
		memcpy(anchors + total, recs[i].rec, recs[i].len);
		total += recs[i].len;
	}
	arr = cbor_new_definite_array(version == 2 ? 4 : 3);
	sb_push(arr, sb_uint(version));
	sb_push(arr, cbor_build_bytestring(index, n * 6));
	sb_push(arr, cbor_build_bytestring(anchors, total));
	if (version == 2)
		sb_push(arr, cbor_build_bytestring(sb_pins != NULL ? sb_pins : (const uint8_t *)"", sb_n_pins * 32));
	len = sb_serialize(arr, &enc);
	free(index);
	free(anchors);
	if (len > cap) {
		free(enc);
		return 0;
	}
	memcpy(out, enc, len);
	free(enc);
	return len;
}

static inline size_t sb_store(const sb_anchor *as, size_t n, uint8_t *out, size_t cap)
{
	sb_rec *recs = calloc(n + 1, sizeof(*recs));
	size_t i, len;

	for (i = 0; i < n; i++) {
		memcpy(recs[i].nk, as[i].nk, 4);
		recs[i].len = sb_record(&as[i], &recs[i].rec);
	}
	len = sb_store_recs(recs, n, 1, 2, out, cap);
	for (i = 0; i < n; i++)
		free(recs[i].rec);
	free(recs);
	return len;
}

#endif
