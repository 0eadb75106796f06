/*
 * cbor.c - deterministic CBOR on top of libcbor (see prov/cbor.h).
 *
 * Encoding: libcbor serialises an integer with the width its item was built with
 * and keeps map pairs in insertion order, so prov_cbor_encode first builds a
 * normalised copy of the tree (shortest integers, definite lengths only, every
 * map's pairs sorted by the bytes of their encoded keys, RFC 8949 section 4.2.1)
 * and serialises that copy with cbor_serialize_alloc.  Heads of strings, arrays,
 * maps and tags are always written in shortest form by libcbor itself.
 *
 * Decoding: before cbor_load builds a tree, a pass with libcbor's streaming decoder
 * checks that the input is exactly one well-formed item, bounds the nesting depth
 * (cbor_load and cbor_decref recurse) and checks every declared array / map count
 * against the bytes that remain, so a few hostile bytes cannot make cbor_load
 * allocate gigabytes for a count it will never fill.  The same pass works around
 * libcbor 0.8's refusal of tags 6..20 (see SHORT_TAG_FIRST).
 */
#include "prov/cbor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prov/escape.h"
#include "prov/util.h"

/* First buffer size tried by prov_cbor_encode (bytes), and the largest. */
#define ENCODE_FIRST_TRY 8192
#define ENCODE_MAX (1 << 30)

/* Deeper than anything provkit builds (a COSE_Encrypt inside a bundle is < 10). */
#define PROV_CBOR_MAX_DEPTH 64

/* Simple values 20..23 are false, true, null and undefined (RFC 8949 3.3). */
#define CBOR_SIMPLE_FALSE 20
#define CBOR_SIMPLE_UNDEF 23

/* ---- builders --------------------------------------------------------------- */

cbor_item_t *prov_cbor_uint(uint64_t v)
{
	if (v <= UINT8_MAX)
		return cbor_build_uint8((uint8_t)v);
	if (v <= UINT16_MAX)
		return cbor_build_uint16((uint16_t)v);
	if (v <= UINT32_MAX)
		return cbor_build_uint32((uint32_t)v);
	return cbor_build_uint64(v);
}

/* Major type 1 carrying n, i.e. the integer -1 - n, in its shortest width. */
static cbor_item_t *negint_shortest(uint64_t n)
{
	if (n <= UINT8_MAX)
		return cbor_build_negint8((uint8_t)n);
	if (n <= UINT16_MAX)
		return cbor_build_negint16((uint16_t)n);
	if (n <= UINT32_MAX)
		return cbor_build_negint32((uint32_t)n);
	return cbor_build_negint64(n);
}

cbor_item_t *prov_cbor_int(int64_t v)
{
	if (v >= 0)
		return prov_cbor_uint((uint64_t)v);
	/* -1 - v without overflow, also for INT64_MIN */
	return negint_shortest((uint64_t)(-(v + 1)));
}

cbor_item_t *prov_cbor_bytes(const void *p, size_t n)
{
	static const unsigned char none[1];

	/* libcbor memcpy()s from the handle even for n == 0: never hand it NULL */
	return cbor_build_bytestring(n > 0 ? (cbor_data)p : none, n);
}

cbor_item_t *prov_cbor_text(const char *s)
{
	return s != NULL ? cbor_build_stringn(s, strlen(s)) : NULL;
}

cbor_item_t *prov_cbor_textn(const char *s, size_t n)
{
	static const char none[1];

	return cbor_build_stringn(n > 0 ? s : none, n);
}

int prov_cbor_map_put(cbor_item_t *map, cbor_item_t *key, cbor_item_t *value)
{
	int rc = -1;

	if (map == NULL || key == NULL || value == NULL || !cbor_isa_map(map))
		goto out;
	/* cbor_map_add takes its own references; it fails when a definite map is full */
	if (!cbor_map_add(map, (struct cbor_pair){ .key = key, .value = value }))
		goto out;
	rc = 0;
out:
	if (key != NULL)
		cbor_decref(&key);
	if (value != NULL)
		cbor_decref(&value);
	return rc;
}

int prov_cbor_map_put_int(cbor_item_t *map, int64_t key, cbor_item_t *value)
{
	return prov_cbor_map_put(map, prov_cbor_int(key), value);
}

int prov_cbor_array_push(cbor_item_t *array, cbor_item_t *item)
{
	int rc = -1;

	if (array == NULL || item == NULL || !cbor_isa_array(array))
		goto out;
	if (!cbor_array_push(array, item))   /* takes its own reference */
		goto out;
	rc = 0;
out:
	if (item != NULL)
		cbor_decref(&item);
	return rc;
}

/* ---- lookups ------------------------------------------------------------------ */

int prov_cbor_get_int(const cbor_item_t *item, int64_t *v)
{
	uint64_t n;

	if (item == NULL || !cbor_is_int(item))
		return -1;
	n = cbor_get_int(item);
	if (n > (uint64_t)INT64_MAX)
		return -1;
	*v = cbor_isa_uint(item) ? (int64_t)n : -1 - (int64_t)n;
	return 0;
}

cbor_item_t *prov_cbor_map_get_int(const cbor_item_t *map, int64_t key)
{
	struct cbor_pair *pairs;
	size_t i, n;

	if (map == NULL || !cbor_isa_map(map))
		return NULL;
	pairs = cbor_map_handle(map);
	n = cbor_map_size(map);
	for (i = 0; i < n; i++) {
		int64_t k;

		if (prov_cbor_get_int(pairs[i].key, &k) == 0 && k == key)
			return pairs[i].value;
	}
	return NULL;
}

/* ---- deterministic encoding ---------------------------------------------------- */

static prov_status normalize(const cbor_item_t *in, cbor_item_t **out, int depth,
                             prov_err *e);

/* One map pair with its key's deterministic encoding, for sorting. */
struct sort_pair {
	unsigned char *key_enc;     /* malloc'd, or NULL when the key fits `small` */
	size_t key_len;
	struct cbor_pair pair;
	unsigned char small[24];    /* integer and short text keys: no allocation */
};

/* Bytewise lexicographic order of the encoded keys; a proper prefix sorts first. */
static int sort_pair_cmp(const void *a, const void *b)
{
	const struct sort_pair *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	/* qsort moves the structs: never keep a pointer into `small` */
	int c = memcmp(x->key_enc != NULL ? x->key_enc : x->small,
	               y->key_enc != NULL ? y->key_enc : y->small, n);

	if (c != 0)
		return c;
	return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Sort the pairs of a normalised definite map in place and reject duplicate keys.
 * Keys are already normalised, so equal keys have equal encodings. */
static prov_status sort_map(cbor_item_t *map, prov_err *e)
{
	prov_status st = PROV_E_INTERNAL;
	struct cbor_pair *pairs = cbor_map_handle(map);
	size_t i, n = cbor_map_size(map);
	struct sort_pair *sp = NULL;

	if (n < 2)
		return PROV_OK;
	sp = calloc(n, sizeof(*sp));
	if (sp == NULL) {
		prov_err_set(e, PROV_E_INTERNAL, "cbor encode: sorting a map: out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		size_t cap;

		sp[i].pair = pairs[i];
		sp[i].key_len = cbor_serialize(pairs[i].key, sp[i].small, sizeof(sp[i].small));
		if (sp[i].key_len > 0)
			continue;
		sp[i].key_len = cbor_serialize_alloc(pairs[i].key, &sp[i].key_enc, &cap);
		if (sp[i].key_len == 0) {
			prov_err_set(e, PROV_E_INTERNAL,
			             "cbor encode: serialising a map key: out of memory");
			goto out;
		}
	}
	qsort(sp, n, sizeof(*sp), sort_pair_cmp);
	for (i = 1; i < n; i++) {
		if (sort_pair_cmp(&sp[i - 1], &sp[i]) == 0) {
			prov_err_set(e, PROV_E_INTERNAL,
			             "cbor encode: duplicate map key: deterministic CBOR "
			             "requires unique keys");
			goto out;
		}
	}
	/* only now rewrite the pairs: the map must stay intact on failure */
	for (i = 0; i < n; i++)
		pairs[i] = sp[i].pair;
	st = PROV_OK;
out:
	if (sp != NULL) {
		for (i = 0; i < n; i++)
			free(sp[i].key_enc);
		free(sp);
	}
	return st;
}

static prov_status normalize_array(const cbor_item_t *in, cbor_item_t **out, int depth,
                                   prov_err *e)
{
	prov_status st = PROV_E_INTERNAL;
	cbor_item_t *arr = NULL, **items = cbor_array_handle(in);
	size_t i, n = cbor_array_size(in);

	if (!cbor_array_is_definite(in)) {
		prov_err_set(e, PROV_E_INTERNAL,
		             "cbor encode: indefinite-length array: not allowed in "
		             "deterministic CBOR");
		goto out;
	}
	arr = cbor_new_definite_array(n);
	if (arr == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		cbor_item_t *c = NULL;

		st = normalize(items[i], &c, depth + 1, e);
		if (st != PROV_OK)
			goto out;
		if (prov_cbor_array_push(arr, c) != 0)
			goto oom;
	}
	*out = arr;
	arr = NULL;
	st = PROV_OK;
	goto out;
oom:
	st = prov_err_set(e, PROV_E_INTERNAL, "cbor encode: copying an array: out of memory");
out:
	if (arr != NULL)
		cbor_decref(&arr);
	return st;
}

static prov_status normalize_map(const cbor_item_t *in, cbor_item_t **out, int depth,
                                 prov_err *e)
{
	prov_status st = PROV_E_INTERNAL;
	cbor_item_t *map = NULL;
	struct cbor_pair *pairs = cbor_map_handle(in);
	size_t i, n = cbor_map_size(in);

	if (!cbor_map_is_definite(in)) {
		prov_err_set(e, PROV_E_INTERNAL,
		             "cbor encode: indefinite-length map: not allowed in "
		             "deterministic CBOR");
		goto out;
	}
	map = cbor_new_definite_map(n);
	if (map == NULL)
		goto oom;
	for (i = 0; i < n; i++) {
		cbor_item_t *k = NULL, *v = NULL;

		st = normalize(pairs[i].key, &k, depth + 1, e);
		if (st != PROV_OK)
			goto out;
		st = normalize(pairs[i].value, &v, depth + 1, e);
		if (st != PROV_OK) {
			cbor_decref(&k);
			goto out;
		}
		if (prov_cbor_map_put(map, k, v) != 0)
			goto oom;
	}
	st = sort_map(map, e);
	if (st != PROV_OK)
		goto out;
	*out = map;
	map = NULL;
	goto out;
oom:
	st = prov_err_set(e, PROV_E_INTERNAL, "cbor encode: copying a map: out of memory");
out:
	if (map != NULL)
		cbor_decref(&map);
	return st;
}

static prov_status normalize_tag(const cbor_item_t *in, cbor_item_t **out, int depth,
                                 prov_err *e)
{
	prov_status st;
	cbor_item_t *inner = cbor_tag_item(in);   /* a new reference */
	cbor_item_t *c = NULL;

	st = normalize(inner, &c, depth + 1, e);
	cbor_decref(&inner);
	if (st != PROV_OK)
		return st;
	*out = cbor_build_tag(cbor_tag_value(in), c);   /* takes its own reference */
	cbor_decref(&c);
	if (*out == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "cbor encode: copying a tag: out of memory");
	return PROV_OK;
}

/* A deep copy of `in` in deterministic form, or an error for what has none. */
static prov_status normalize(const cbor_item_t *in, cbor_item_t **out, int depth,
                             prov_err *e)
{
	*out = NULL;
	if (depth > PROV_CBOR_MAX_DEPTH)
		return prov_err_set(e, PROV_E_INTERNAL,
		                    "cbor encode: item nested deeper than %d levels",
		                    PROV_CBOR_MAX_DEPTH);
	switch (cbor_typeof(in)) {
	case CBOR_TYPE_UINT:
		*out = prov_cbor_uint(cbor_get_int(in));
		break;
	case CBOR_TYPE_NEGINT:
		*out = negint_shortest(cbor_get_int(in));
		break;
	case CBOR_TYPE_BYTESTRING:
		if (!cbor_bytestring_is_definite(in))
			return prov_err_set(e, PROV_E_INTERNAL,
			                    "cbor encode: indefinite-length byte string: not "
			                    "allowed in deterministic CBOR");
		*out = prov_cbor_bytes(cbor_bytestring_handle(in), cbor_bytestring_length(in));
		break;
	case CBOR_TYPE_STRING:
		if (!cbor_string_is_definite(in))
			return prov_err_set(e, PROV_E_INTERNAL,
			                    "cbor encode: indefinite-length text string: not "
			                    "allowed in deterministic CBOR");
		*out = prov_cbor_textn((const char *)cbor_string_handle(in),
		                       cbor_string_length(in));
		break;
	case CBOR_TYPE_ARRAY:
		return normalize_array(in, out, depth, e);
	case CBOR_TYPE_MAP:
		return normalize_map(in, out, depth, e);
	case CBOR_TYPE_TAG:
		return normalize_tag(in, out, depth, e);
	case CBOR_TYPE_FLOAT_CTRL:
		if (!cbor_float_ctrl_is_ctrl(in))
			return prov_err_set(e, PROV_E_INTERNAL,
			                    "cbor encode: floating-point value: provkit's "
			                    "deterministic CBOR has no floats");
		if (cbor_ctrl_value(in) < CBOR_SIMPLE_FALSE || cbor_ctrl_value(in) > CBOR_SIMPLE_UNDEF)
			return prov_err_set(e, PROV_E_INTERNAL,
			                    "cbor encode: simple value %u: only false, true, null "
			                    "and undefined are supported",
			                    (unsigned)cbor_ctrl_value(in));
		*out = cbor_build_ctrl(cbor_ctrl_value(in));
		break;
	default:
		return prov_err_set(e, PROV_E_INTERNAL, "cbor encode: unknown item type");
	}
	if (*out == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "cbor encode: copying an item: out of memory");
	return PROV_OK;
}

static cbor_int_width shortest_width(uint64_t v)
{
	return v <= UINT8_MAX ? CBOR_INT_8 : v <= UINT16_MAX ? CBOR_INT_16
	       : v <= UINT32_MAX ? CBOR_INT_32 : CBOR_INT_64;
}

/* 1 if `in` serialises deterministically as it is once its maps are sorted:
 * every integer in its shortest width (as the prov_cbor builders make them),
 * definite lengths, no floats.  Then the encoder sorts in place instead of
 * deep-copying the tree, which cost more than the rest of the encoding. */
static int encodable_in_place(const cbor_item_t *in, int depth)
{
	if (depth > PROV_CBOR_MAX_DEPTH)
		return 0;
	switch (cbor_typeof(in)) {
	case CBOR_TYPE_UINT:
	case CBOR_TYPE_NEGINT:
		return cbor_int_get_width(in) == shortest_width(cbor_get_int(in));
	case CBOR_TYPE_BYTESTRING:
		return cbor_bytestring_is_definite(in);
	case CBOR_TYPE_STRING:
		return cbor_string_is_definite(in);
	case CBOR_TYPE_ARRAY: {
		cbor_item_t **items = cbor_array_handle(in);

		if (!cbor_array_is_definite(in))
			return 0;
		for (size_t i = 0; i < cbor_array_size(in); i++)
			if (!encodable_in_place(items[i], depth + 1))
				return 0;
		return 1;
	}
	case CBOR_TYPE_MAP: {
		struct cbor_pair *pairs = cbor_map_handle(in);

		if (!cbor_map_is_definite(in))
			return 0;
		for (size_t i = 0; i < cbor_map_size(in); i++)
			if (!encodable_in_place(pairs[i].key, depth + 1) ||
			    !encodable_in_place(pairs[i].value, depth + 1))
				return 0;
		return 1;
	}
	case CBOR_TYPE_TAG: {
		cbor_item_t *inner = cbor_tag_item(in);
		int ok = encodable_in_place(inner, depth + 1);

		cbor_decref(&inner);
		return ok;
	}
	case CBOR_TYPE_FLOAT_CTRL:
		return cbor_float_ctrl_is_ctrl(in) && cbor_ctrl_value(in) >= CBOR_SIMPLE_FALSE &&
		       cbor_ctrl_value(in) <= CBOR_SIMPLE_UNDEF;
	default:
		return 0;
	}
}

/* Sort every map of an encodable_in_place tree, innermost first. */
static prov_status sort_in_place(cbor_item_t *in, prov_err *e)
{
	prov_status st = PROV_OK;

	switch (cbor_typeof(in)) {
	case CBOR_TYPE_ARRAY: {
		cbor_item_t **items = cbor_array_handle(in);

		for (size_t i = 0; i < cbor_array_size(in) && st == PROV_OK; i++)
			st = sort_in_place(items[i], e);
		return st;
	}
	case CBOR_TYPE_MAP: {
		struct cbor_pair *pairs = cbor_map_handle(in);

		for (size_t i = 0; i < cbor_map_size(in) && st == PROV_OK; i++) {
			st = sort_in_place(pairs[i].key, e);
			if (st == PROV_OK)
				st = sort_in_place(pairs[i].value, e);
		}
		return st == PROV_OK ? sort_map(in, e) : st;
	}
	case CBOR_TYPE_TAG: {
		cbor_item_t *inner = cbor_tag_item(in);

		st = sort_in_place(inner, e);
		cbor_decref(&inner);
		return st;
	}
	default:
		return PROV_OK;
	}
}

prov_status prov_cbor_encode(cbor_item_t *item, uint8_t **out, size_t *out_len, prov_err *e)
{
	prov_status st;
	cbor_item_t *norm = NULL;
	unsigned char *buf = NULL;
	size_t cap = 0, n;

	*out = NULL;
	*out_len = 0;
	if (item == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "cbor encode: no item (out of memory earlier?)");
		goto out;
	}
	if (encodable_in_place(item, 0)) {
		st = sort_in_place(item, e);
		if (st != PROV_OK)
			goto out;
	} else {
		st = normalize(item, &norm, 0, e);
		if (st != PROV_OK)
			goto out;
	}
	/* libcbor 0.8 has no "serialised size": serialise into a buffer, and into
	 * one twice as large while it does not fit.  What provkit encodes is almost
	 * always smaller than ENCODE_FIRST_TRY, so one pass is the rule.  The item
	 * may hold secrets (a lab bundle's payload): a buffer given up on is wiped
	 * before it is freed, which is why this is not cbor_serialize_alloc (whose
	 * realloc frees the partly written buffer as it is). */
	for (cap = ENCODE_FIRST_TRY;; cap *= 2) {
		buf = malloc(cap);
		if (buf == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "cbor encode: serialising: out of memory");
			goto out;
		}
		n = cbor_serialize(norm != NULL ? norm : item, buf, cap);
		if (n > 0)
			break;
		prov_wipe(buf, cap);
		free(buf);
		buf = NULL;
		if (cap >= ENCODE_MAX) {
			st = prov_err_set(e, PROV_E_INTERNAL, "cbor encode: item larger than %d bytes",
			                  ENCODE_MAX);
			goto out;
		}
	}
	*out = buf;
	*out_len = n;
	buf = NULL;
out:
	free(buf);
	prov_cbor_decref_wipe(&norm);
	return st;
}

/* Wipe the string bytes of `item` and of everything under it that is held only
 * through it (refcount at most `refs`: a decref frees exactly those). */
static void wipe_tree(cbor_item_t *item, size_t refs, int depth)
{
	if (item == NULL || depth > PROV_CBOR_MAX_DEPTH || cbor_refcount(item) > refs)
		return;
	switch (cbor_typeof(item)) {
	case CBOR_TYPE_BYTESTRING:
		if (cbor_bytestring_is_definite(item))
			prov_wipe(cbor_bytestring_handle(item), cbor_bytestring_length(item));
		else
			for (size_t i = 0; i < cbor_bytestring_chunk_count(item); i++)
				wipe_tree(cbor_bytestring_chunks_handle(item)[i], 1, depth + 1);
		break;
	case CBOR_TYPE_STRING:
		if (cbor_string_is_definite(item))
			prov_wipe(cbor_string_handle(item), cbor_string_length(item));
		else
			for (size_t i = 0; i < cbor_string_chunk_count(item); i++)
				wipe_tree(cbor_string_chunks_handle(item)[i], 1, depth + 1);
		break;
	case CBOR_TYPE_ARRAY:
		for (size_t i = 0; i < cbor_array_size(item); i++)
			wipe_tree(cbor_array_handle(item)[i], 1, depth + 1);
		break;
	case CBOR_TYPE_MAP:
		for (size_t i = 0; i < cbor_map_size(item); i++) {
			wipe_tree(cbor_map_handle(item)[i].key, 1, depth + 1);
			wipe_tree(cbor_map_handle(item)[i].value, 1, depth + 1);
		}
		break;
	case CBOR_TYPE_TAG: {
		cbor_item_t *inner = cbor_tag_item(item); /* one more reference, ours */

		wipe_tree(inner, 2, depth + 1);
		cbor_decref(&inner);
		break;
	}
	default:
		break;
	}
}

void prov_cbor_decref_wipe(cbor_item_t **item)
{
	if (item == NULL || *item == NULL)
		return;
	wipe_tree(*item, 1, 0);
	cbor_decref(item);
}

/* ---- decoding ------------------------------------------------------------------ */

/* What one step of libcbor's streaming decoder saw. */
enum scan_kind {
	SCAN_LEAF,         /* int, float, simple value */
	SCAN_BSTR,         /* definite byte string (whole) */
	SCAN_TSTR,         /* definite text string (whole) */
	SCAN_BSTR_INDEF,
	SCAN_TSTR_INDEF,
	SCAN_ARRAY,
	SCAN_ARRAY_INDEF,
	SCAN_MAP,
	SCAN_MAP_INDEF,
	SCAN_TAG,
	SCAN_BREAK,
};

struct scan_event {
	enum scan_kind kind;
	size_t count;      /* SCAN_ARRAY / SCAN_MAP */
	cbor_data text;    /* SCAN_TSTR: its bytes, checked for UTF-8 by the scan */
	size_t text_len;
};

/* How many leading bytes of s[0..n) are well-formed UTF-8 (RFC 3629 section 4:
 * no overlong form, no surrogate, nothing above U+10FFFF): n if all are.  What
 * libcbor's cbor_load refuses in a text string, found here so that the error
 * can say where. */
static size_t utf8_prefix(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i], lo = 0x80, hi = 0xbf;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			lo = c == 0xe0 ? 0xa0 : 0x80;   /* overlong */
			hi = c == 0xed ? 0x9f : 0xbf;   /* surrogates */
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			lo = c == 0xf0 ? 0x90 : 0x80;   /* overlong */
			hi = c == 0xf4 ? 0x8f : 0xbf;   /* above U+10FFFF */
		} else {
			return i;
		}
		if (n - i - 1 < k || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t j = 2; j <= k; j++)
			if (s[i + j] < 0x80 || s[i + j] > 0xbf)
				return i;
		i += k + 1;
	}
	return n;
}

static void ev_leaf(struct scan_event *ev)
{
	ev->kind = SCAN_LEAF;
}
static void ev_u8(void *c, uint8_t v) { (void)v; ev_leaf(c); }
static void ev_u16(void *c, uint16_t v) { (void)v; ev_leaf(c); }
static void ev_u32(void *c, uint32_t v) { (void)v; ev_leaf(c); }
static void ev_u64(void *c, uint64_t v) { (void)v; ev_leaf(c); }
static void ev_f2(void *c, float v) { (void)v; ev_leaf(c); }
static void ev_f8(void *c, double v) { (void)v; ev_leaf(c); }
static void ev_simple(void *c) { ev_leaf(c); }
static void ev_bool(void *c, bool v) { (void)v; ev_leaf(c); }
static void ev_bstr(void *c, cbor_data d, size_t n)
{
	(void)d;
	(void)n;
	((struct scan_event *)c)->kind = SCAN_BSTR;
}
static void ev_tstr(void *c, cbor_data d, size_t n)
{
	((struct scan_event *)c)->kind = SCAN_TSTR;
	((struct scan_event *)c)->text = d;
	((struct scan_event *)c)->text_len = n;
}
static void ev_bstr_indef(void *c) { ((struct scan_event *)c)->kind = SCAN_BSTR_INDEF; }
static void ev_tstr_indef(void *c) { ((struct scan_event *)c)->kind = SCAN_TSTR_INDEF; }
static void ev_array_indef(void *c) { ((struct scan_event *)c)->kind = SCAN_ARRAY_INDEF; }
static void ev_map_indef(void *c) { ((struct scan_event *)c)->kind = SCAN_MAP_INDEF; }
static void ev_break(void *c) { ((struct scan_event *)c)->kind = SCAN_BREAK; }
static void ev_tag(void *c, uint64_t v) { (void)v; ((struct scan_event *)c)->kind = SCAN_TAG; }
static void ev_array(void *c, size_t n)
{
	((struct scan_event *)c)->kind = SCAN_ARRAY;
	((struct scan_event *)c)->count = n;
}
static void ev_map(void *c, size_t n)
{
	((struct scan_event *)c)->kind = SCAN_MAP;
	((struct scan_event *)c)->count = n;
}

static const struct cbor_callbacks scan_callbacks = {
	.uint8 = ev_u8, .uint16 = ev_u16, .uint32 = ev_u32, .uint64 = ev_u64,
	.negint8 = ev_u8, .negint16 = ev_u16, .negint32 = ev_u32, .negint64 = ev_u64,
	.byte_string_start = ev_bstr_indef, .byte_string = ev_bstr,
	.string = ev_tstr, .string_start = ev_tstr_indef,
	.indef_array_start = ev_array_indef, .array_start = ev_array,
	.indef_map_start = ev_map_indef, .map_start = ev_map,
	.tag = ev_tag,
	.float2 = ev_f2, .float4 = ev_f2, .float8 = ev_f8,
	.undefined = ev_simple, .null = ev_simple, .boolean = ev_bool,
	.indef_break = ev_break,
};

/* An open container during the scan. */
struct scan_frame {
	enum scan_kind kind;   /* SCAN_ARRAY (also maps and tags: counted), or an _INDEF */
	size_t left;           /* counted: items still expected; indefinite map: items seen */
};

/* libcbor 0.8 rejects the one-byte heads of tags 6..20 (0xc6..0xd4) as "unassigned"
 * in both its streaming decoder and cbor_load (PJK/libcbor issue #307), yet COSE
 * uses tags 16, 17 and 18 (RFC 9052 section 2).  The scan recognises those heads
 * itself, and prov_cbor_decode hands cbor_load a copy in which each is rewritten
 * as the equivalent two-byte head 0xd8 nn.  Counts are in items, not bytes, so
 * the longer head changes nothing else. */
#define SHORT_TAG_FIRST 0xc6
#define SHORT_TAG_LAST 0xd4
#define TAG_HEAD_1BYTE 0xd8

/* Where the rewritten copy goes (NULL when only counting). */
struct tag_patch {
	uint8_t *out;
	size_t out_pos;   /* bytes written to out */
	size_t in_pos;    /* bytes of the input copied so far */
};

/* Check that buf starts with one well-formed item, nested at most
 * PROV_CBOR_MAX_DEPTH deep, with plausible counts; *item_len gets its length.
 * Trailing bytes are an error unless allow_trailing.  *short_tags counts the
 * one-byte heads of tags 6..20; `patch`, when given, receives the rewritten copy. */
static prov_status scan(const uint8_t *buf, size_t len, int allow_trailing, size_t *item_len,
                        size_t *short_tags, struct tag_patch *patch, prov_err *e)
{
	struct scan_frame st[PROV_CBOR_MAX_DEPTH];
	size_t depth = 0, pos = 0;

	*item_len = 0;
	*short_tags = 0;
	for (;;) {
		struct scan_event ev = { .kind = SCAN_LEAF, .count = 0, .text = NULL, .text_len = 0 };
		struct cbor_decoder_result r = { .read = 0, .status = CBOR_DECODER_ERROR };
		int complete = 0;

		if (pos >= len)
			return prov_err_set(e, PROV_E_INPUT,
			                    "cbor decode: truncated input: the item is incomplete "
			                    "after %zu bytes", len);
		if (buf[pos] >= SHORT_TAG_FIRST && buf[pos] <= SHORT_TAG_LAST) {
			ev.kind = SCAN_TAG;
			r.read = 1;
			r.status = CBOR_DECODER_FINISHED;
			(*short_tags)++;
			if (patch != NULL) {
				memcpy(patch->out + patch->out_pos, buf + patch->in_pos,
				       pos - patch->in_pos);
				patch->out_pos += pos - patch->in_pos;
				patch->out[patch->out_pos++] = TAG_HEAD_1BYTE;
				patch->out[patch->out_pos++] = (uint8_t)(buf[pos] & 0x1f);
				patch->in_pos = pos + 1;
			}
		} else {
			r = cbor_stream_decode(buf + pos, len - pos, &scan_callbacks, &ev);
		}
		if (r.status == CBOR_DECODER_NEDATA)
			return prov_err_set(e, PROV_E_INPUT,
			                    "cbor decode: truncated input: %zu bytes, more needed "
			                    "at byte %zu", len, pos);
		if (r.status != CBOR_DECODER_FINISHED || r.read == 0)
			return prov_err_set(e, PROV_E_INPUT,
			                    "cbor decode: malformed item at byte %zu", pos);
		pos += r.read;
		/* a text string (or a chunk of one, RFC 8949 section 3.2.3) is UTF-8 */
		if (ev.kind == SCAN_TSTR && ev.text_len > 0) {
			size_t ok = utf8_prefix(ev.text, ev.text_len);

			if (ok < ev.text_len) {
				char shown[64];
				size_t from = ok > 8 ? ok - 8 : 0;

				prov_escape(shown, sizeof(shown), ev.text + from,
				                ev.text_len - from < 16 ? ev.text_len - from : 16);
				return prov_err_set(e, PROV_E_INPUT,
				                    "cbor decode: text string at byte %zu is not UTF-8 "
				                    "(byte %zu of it: \"%s%s\")", pos - r.read, ok,
				                    from > 0 ? "..." : "", shown);
			}
		}

		/* inside an indefinite string only definite chunks of its type, or break */
		if (depth > 0 && (st[depth - 1].kind == SCAN_BSTR_INDEF ||
		                  st[depth - 1].kind == SCAN_TSTR_INDEF)) {
			enum scan_kind chunk = st[depth - 1].kind == SCAN_BSTR_INDEF ? SCAN_BSTR
			                                                             : SCAN_TSTR;
			if (ev.kind == chunk)
				continue;
			if (ev.kind != SCAN_BREAK)
				return prov_err_set(e, PROV_E_INPUT,
				                    "cbor decode: malformed indefinite string at byte "
				                    "%zu: chunks must be definite strings of its type",
				                    pos - r.read);
		}

		switch (ev.kind) {
		case SCAN_BREAK:
			if (depth == 0 || st[depth - 1].kind == SCAN_ARRAY)
				return prov_err_set(e, PROV_E_INPUT,
				                    "cbor decode: unexpected break at byte %zu",
				                    pos - r.read);
			if (st[depth - 1].kind == SCAN_MAP_INDEF && st[depth - 1].left % 2 != 0)
				return prov_err_set(e, PROV_E_INPUT,
				                    "cbor decode: map at byte %zu has a key without "
				                    "a value", pos - r.read);
			depth--;
			complete = 1;
			break;
		case SCAN_ARRAY:
		case SCAN_MAP:
			/* the count is attacker-controlled: every item needs at least one
			 * byte, so a count larger than what remains cannot be honest */
			if (ev.count > (len - pos) / (ev.kind == SCAN_MAP ? 2 : 1))
				return prov_err_set(e, PROV_E_INPUT,
				                    "cbor decode: truncated input: %s at byte %zu "
				                    "declares %zu entries, only %zu bytes follow",
				                    ev.kind == SCAN_MAP ? "map" : "array",
				                    pos - r.read, ev.count, len - pos);
			if (ev.count == 0) {
				complete = 1;
				break;
			}
			/* fall through */
		case SCAN_TAG:
		case SCAN_ARRAY_INDEF:
		case SCAN_MAP_INDEF:
		case SCAN_BSTR_INDEF:
		case SCAN_TSTR_INDEF:
			if (depth >= PROV_CBOR_MAX_DEPTH)
				return prov_err_set(e, PROV_E_INPUT,
				                    "cbor decode: nested deeper than %d levels at "
				                    "byte %zu", PROV_CBOR_MAX_DEPTH, pos - r.read);
			if (ev.kind == SCAN_ARRAY || ev.kind == SCAN_MAP || ev.kind == SCAN_TAG) {
				st[depth].kind = SCAN_ARRAY;
				st[depth].left = ev.kind == SCAN_TAG ? 1
				                 : ev.kind == SCAN_MAP ? 2 * ev.count : ev.count;
			} else {
				st[depth].kind = ev.kind;
				st[depth].left = 0;
			}
			depth++;
			break;
		default:
			complete = 1;
			break;
		}

		/* a finished item may finish its counted parents in turn */
		while (complete) {
			if (depth == 0) {
				if (pos != len && !allow_trailing)
					return prov_err_set(e, PROV_E_INPUT,
					                    "cbor decode: %zu trailing bytes after the "
					                    "item", len - pos);
				if (patch != NULL) {
					memcpy(patch->out + patch->out_pos, buf + patch->in_pos,
					       pos - patch->in_pos);
					patch->out_pos += pos - patch->in_pos;
					patch->in_pos = pos;
				}
				*item_len = pos;
				return PROV_OK;
			}
			if (st[depth - 1].kind == SCAN_ARRAY) {
				if (--st[depth - 1].left == 0) {
					depth--;
					continue;
				}
			} else {
				st[depth - 1].left++;   /* indefinite: count for map parity */
			}
			complete = 0;
		}
	}
}

prov_status prov_cbor_item_len(const uint8_t *buf, size_t len, size_t *item_len, prov_err *e)
{
	size_t short_tags;

	return scan(buf, len, 1, item_len, &short_tags, NULL, e);
}

prov_status prov_cbor_decode(const uint8_t *buf, size_t len, cbor_item_t **out, prov_err *e)
{
	prov_status st;
	struct cbor_load_result res;
	cbor_item_t *item = NULL;
	struct tag_patch patch = { .out = NULL, .out_pos = 0, .in_pos = 0 };
	const uint8_t *src = buf;
	size_t item_len = 0, short_tags = 0, src_len = len;

	*out = NULL;
	st = scan(buf, len, 0, &item_len, &short_tags, NULL, e);
	if (st != PROV_OK)
		goto out;
	if (short_tags > 0) {
		/* one extra byte per rewritten tag head (see SHORT_TAG_FIRST) */
		patch.out = malloc(len + short_tags);
		if (patch.out == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "cbor decode: out of memory");
			goto out;
		}
		st = scan(buf, len, 0, &item_len, &short_tags, &patch, e);
		if (st != PROV_OK)
			goto out;
		src = patch.out;
		src_len = patch.out_pos;
	}
	item = cbor_load(src, src_len, &res);
	if (item == NULL) {
		st = prov_err_set(e, res.error.code == CBOR_ERR_MEMERROR ? PROV_E_INTERNAL
		                                                         : PROV_E_INPUT,
		                  "cbor decode: %s",
		                  res.error.code == CBOR_ERR_MEMERROR ? "out of memory"
		                  : res.error.code == CBOR_ERR_NOTENOUGHDATA ? "truncated input"
		                  : "malformed item");
		goto out;
	}
	if (res.read != src_len) {
		st = prov_err_set(e, PROV_E_INPUT, "cbor decode: trailing bytes after the item");
		goto out;
	}
	*out = item;
	item = NULL;
out:
	free(patch.out);
	if (item != NULL)
		cbor_decref(&item);
	return st;
}

int prov_cbor_is_deterministic(const uint8_t *buf, size_t len)
{
	cbor_item_t *item = NULL;
	uint8_t *enc = NULL;
	size_t enc_len = 0;
	int ok = 0;

	/* Deterministic encoding is unique: the input is deterministic exactly when
	 * re-encoding what it decodes to gives the same bytes back. */
	if (prov_cbor_decode(buf, len, &item, NULL) != PROV_OK)
		goto out;
	if (prov_cbor_encode(item, &enc, &enc_len, NULL) != PROV_OK)
		goto out;
	ok = enc_len == len && memcmp(enc, buf, len) == 0;
out:
	free(enc);
	if (item != NULL)
		cbor_decref(&item);
	return ok;
}
