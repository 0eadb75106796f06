/*
 * pa_trust.c - compact trust store: validation, binary search, anchor decoding.
 *
 * The store is read in place.  open() walks it once and checks everything a
 * lookup later relies on, so lookups only re-decode records already known good.
 * The CBOR is read with the agent's bounded reader (verify/pa_cbor.h), which
 * accepts exactly the deterministic encoding (RFC 8949 section 4.2.1) of the
 * types the format uses: shortest heads, definite lengths.
 */
#include "pa_trust.h"

#include <string.h>

#include "verify/pa_cbor.h"

#define CBOR_SIMPLE_NULL 22u /* major 7, simple value 22 (RFC 8949 section 3.3) */

#define RSA_F4 65537u

/* Store: [version, index, anchors, pins]; anchor record: [alg, key, not-after, ? ext] */
#define STORE_ITEMS 4u
#define ANCHOR_ITEMS_MIN 3u
#define ANCHOR_ITEMS_MAX 4u
#define EXT_RSA_E    1u
#define EXT_NC       2u
#define EXT_PATH_LEN 3u
#define EXT_KEYS_MAX 3u

/* The reader's first error as the store's: bytes that end inside an item are
 * truncated; anything else it refuses (a reserved or indefinite head, a
 * non-shortest argument, another type) is not deterministic CBOR of the type
 * the format wants. */
static int cbor_err(const pa_cbor *r)
{
	switch (pa_cbor_err(r)) {
	case PA_CBOR_OK: return PA_TRUST_OK;
	case PA_CBOR_TRUNCATED: return PA_TRUST_ERR_TRUNCATED;
	default: return PA_TRUST_ERR_CBOR;
	}
}

/* A byte string of any length (pa_cbor_bytes checks it against what remains). */
static const uint8_t *rd_bstr(pa_cbor *r, size_t *len)
{
	return pa_cbor_bytes(r, PA_CBOR_BSTR, 0, SIZE_MAX, len);
}

static int key_len_ok(unsigned alg, const uint8_t *key, size_t len)
{
	switch (alg) {
	case PA_TRUST_ALG_RSA_F4:
	case PA_TRUST_ALG_RSA:
		/* modulus, big-endian, no leading zero */
		return len >= PA_TRUST_RSA_MIN_BYTES && len <= PA_TRUST_RSA_MAX_BYTES && key[0] != 0;
	case PA_TRUST_ALG_P256:
		return len == 33 && (key[0] == 2 || key[0] == 3);
	case PA_TRUST_ALG_P384:
		return len == 49 && (key[0] == 2 || key[0] == 3);
	case PA_TRUST_ALG_P521:
		return len == 67 && (key[0] == 2 || key[0] == 3);
	case PA_TRUST_ALG_ED25519:
		return len == 32;
	default:
		return 0;
	}
}

/* An explicit RSA exponent (alg 2): minimal big-endian, odd, >= 3 and not 65537
 * (which alg 1 implies, so that one key has one encoding). */
static int rsa_e_ok(const uint8_t *e, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len < 1 || len > PA_TRUST_RSA_E_MAX_BYTES || e[0] == 0 || (e[len - 1] & 1u) == 0)
		return 0;
	for (i = 0; i < len; i++)
		v = (v << 8) | e[i];
	return v >= 3 && v != RSA_F4;
}

/* Decode one anchor record from p[0..left); *rlen is its encoded length. */
static int parse_anchor(const uint8_t *p, size_t left, pa_trust_anchor *a, size_t *rlen)
{
	pa_cbor r;
	uint64_t items, v, pairs, k, prev_k = 0;
	int err;

	memset(a, 0, sizeof(*a));
	pa_cbor_init(&r, p, left);
	items = pa_cbor_head(&r, PA_CBOR_ARRAY);
	if ((err = cbor_err(&r)) != PA_TRUST_OK)
		return err;
	if (items < ANCHOR_ITEMS_MIN || items > ANCHOR_ITEMS_MAX)
		return PA_TRUST_ERR_CBOR;

	v = pa_cbor_uint(&r, UINT64_MAX);
	if ((err = cbor_err(&r)) != PA_TRUST_OK)
		return err;
	if (v < PA_TRUST_ALG_RSA_F4 || v > PA_TRUST_ALG_ED25519)
		return PA_TRUST_ERR_ALG;
	a->alg = (unsigned)v;

	a->key = rd_bstr(&r, &a->key_len);
	if ((err = cbor_err(&r)) != PA_TRUST_OK)
		return err;
	if (!key_len_ok(a->alg, a->key, a->key_len))
		return PA_TRUST_ERR_KEY;

	/* not-after: null (no expiry) or a uint */
	if (pa_cbor_peek(&r) == PA_CBOR_SIMPLE) {
		if (pa_cbor_head(&r, PA_CBOR_SIMPLE) != CBOR_SIMPLE_NULL)
			pa_cbor_fail(&r, PA_CBOR_TYPE);
	} else {
		a->not_after = pa_cbor_uint(&r, UINT64_MAX);
		a->has_not_after = 1;
	}
	if ((err = cbor_err(&r)) != PA_TRUST_OK)
		return err;

	if (items == ANCHOR_ITEMS_MAX) {
		pairs = pa_cbor_head(&r, PA_CBOR_MAP);
		if ((err = cbor_err(&r)) != PA_TRUST_OK)
			return err;
		if (pairs == 0 || pairs > EXT_KEYS_MAX)
			return PA_TRUST_ERR_EXT; /* present only when non-empty; keys 1..3 */
		for (; pairs > 0; pairs--) {
			const uint8_t *val;
			size_t val_len;

			k = pa_cbor_uint(&r, UINT64_MAX);
			err = cbor_err(&r);
			if (err == PA_TRUST_ERR_CBOR)
				return PA_TRUST_ERR_EXT; /* a key of another type is unknown */
			if (err != PA_TRUST_OK)
				return err;
			if (k != EXT_RSA_E && k != EXT_NC && k != EXT_PATH_LEN)
				return PA_TRUST_ERR_EXT;
			if (k <= prev_k)
				return PA_TRUST_ERR_CBOR; /* keys ascending, no duplicates */
			prev_k = k;
			if (k == EXT_PATH_LEN) {
				a->path_len = pa_cbor_uint(&r, UINT64_MAX);
				err = cbor_err(&r);
				if (err == PA_TRUST_ERR_CBOR)
					return PA_TRUST_ERR_EXT; /* a path length is a uint */
				if (err != PA_TRUST_OK)
					return err;
				a->has_path_len = 1;
				continue;
			}
			val = rd_bstr(&r, &val_len);
			if ((err = cbor_err(&r)) != PA_TRUST_OK)
				return err;
			if (val_len == 0)
				return PA_TRUST_ERR_EXT; /* a present ext 1 or 2 is never empty */
			if (k == EXT_RSA_E) {
				a->rsa_e = val;
				a->rsa_e_len = val_len;
			} else {
				a->name_constraints = val;
				a->name_constraints_len = val_len;
			}
		}
	}
	/* ext 1 is required for alg 2 and forbidden elsewhere */
	if ((a->alg == PA_TRUST_ALG_RSA) != (a->rsa_e != NULL))
		return PA_TRUST_ERR_EXT;
	if (a->rsa_e != NULL && !rsa_e_ok(a->rsa_e, a->rsa_e_len))
		return PA_TRUST_ERR_KEY;

	a->record = p;
	a->record_len = r.pos;
	*rlen = a->record_len;
	return PA_TRUST_OK;
}

static size_t rec_offset(const uint8_t *rec)
{
	return ((size_t)rec[4] << 8) | rec[5];
}

/* Bytewise order of two CBOR records (neither is a proper prefix of the other,
 * since each is one complete item, but compare lengths anyway). */
static int rec_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

int pa_trust_open(pa_trust_store *st, const uint8_t *buf, size_t len)
{
	pa_cbor r;
	uint64_t items, version;
	const uint8_t *index = NULL, *anchors = NULL, *pins = NULL;
	size_t index_len = 0, anchors_len = 0, pins_len = 0, n, i, pos = 0;
	const uint8_t *prev_rec = NULL;
	size_t prev_len = 0;
	int err;

	if (st == NULL)
		return PA_TRUST_ERR_ARG;
	memset(st, 0, sizeof(*st));
	if (buf == NULL)
		return PA_TRUST_ERR_ARG;
	pa_cbor_init(&r, buf, len);

	items = pa_cbor_head(&r, PA_CBOR_ARRAY);
	version = pa_cbor_uint(&r, UINT64_MAX);
	if ((err = cbor_err(&r)) != PA_TRUST_OK)
		return err;
	/* the version first, so a version 1 store (3 items) says what it is */
	if (version != PA_TRUST_VERSION)
		return PA_TRUST_ERR_VERSION;
	if (items != STORE_ITEMS)
		return PA_TRUST_ERR_CBOR;
	index = rd_bstr(&r, &index_len);
	anchors = rd_bstr(&r, &anchors_len);
	pins = rd_bstr(&r, &pins_len);
	if ((err = cbor_err(&r)) != PA_TRUST_OK)
		return err;
	if (!pa_cbor_at_end(&r))
		return PA_TRUST_ERR_TRAILING;
	if (pins_len % PA_TRUST_PIN_LEN != 0 || pins_len / PA_TRUST_PIN_LEN > PA_TRUST_PINS_MAX)
		return PA_TRUST_ERR_INDEX;
	for (i = PA_TRUST_PIN_LEN; i < pins_len; i += PA_TRUST_PIN_LEN)
		if (memcmp(pins + i - PA_TRUST_PIN_LEN, pins + i, PA_TRUST_PIN_LEN) >= 0)
			return PA_TRUST_ERR_ORDER; /* strictly ascending: sorted, no duplicate */
	if (index_len % PA_TRUST_INDEX_REC_LEN != 0)
		return PA_TRUST_ERR_INDEX;
	if (anchors_len > PA_TRUST_ANCHORS_MAX)
		return PA_TRUST_ERR_INDEX; /* beyond what 16-bit offsets address */
	n = index_len / PA_TRUST_INDEX_REC_LEN;

	/* Records follow each other in index order: record i must start where
	 * record i-1 ended, which also proves every offset points at a record start
	 * and that the offsets (so the 6-byte index records) strictly increase within
	 * one name-key. */
	for (i = 0; i < n; i++) {
		const uint8_t *rec = index + i * PA_TRUST_INDEX_REC_LEN;
		pa_trust_anchor a;
		size_t rlen;

		if (rec_offset(rec) != pos)
			return PA_TRUST_ERR_OFFSET;
		if (pos >= anchors_len)
			return PA_TRUST_ERR_OFFSET; /* an index record with no anchor left */
		err = parse_anchor(anchors + pos, anchors_len - pos, &a, &rlen);
		if (err != PA_TRUST_OK)
			return err;
		if (i > 0) {
			int c = memcmp(rec - PA_TRUST_INDEX_REC_LEN, rec, PA_TRUST_NAME_KEY_LEN);

			if (c > 0)
				return PA_TRUST_ERR_ORDER;
			/* same name-key: ordered by record bytes, no duplicates */
			if (c == 0 && rec_cmp(prev_rec, prev_len, anchors + pos, rlen) >= 0)
				return PA_TRUST_ERR_ORDER;
		}
		prev_rec = anchors + pos;
		prev_len = rlen;
		pos += rlen;
	}
	if (pos != anchors_len)
		return PA_TRUST_ERR_TRAILING;

	st->index = index;
	st->anchors = anchors;
	st->n = n;
	st->anchors_len = anchors_len;
	st->pins = pins;
	st->n_pins = pins_len / PA_TRUST_PIN_LEN;
	return PA_TRUST_OK;
}

size_t pa_trust_count(const pa_trust_store *st)
{
	return st != NULL ? st->n : 0;
}

int pa_trust_get(const pa_trust_store *st, size_t i, pa_trust_anchor *a)
{
	const uint8_t *rec;
	size_t off, rlen;
	int err;

	if (st == NULL || a == NULL || i >= st->n)
		return PA_TRUST_ERR_ARG;
	rec = st->index + i * PA_TRUST_INDEX_REC_LEN;
	off = rec_offset(rec);
	if (off >= st->anchors_len)
		return PA_TRUST_ERR_OFFSET; /* cannot happen after open() */
	err = parse_anchor(st->anchors + off, st->anchors_len - off, a, &rlen);
	if (err != PA_TRUST_OK)
		return err;
	memcpy(a->name_key, rec, PA_TRUST_NAME_KEY_LEN);
	return PA_TRUST_OK;
}

int pa_trust_find(const pa_trust_store *st, const uint8_t name_key[PA_TRUST_NAME_KEY_LEN],
                  pa_trust_iter *it)
{
	size_t lo = 0, hi;

	if (st == NULL || name_key == NULL || it == NULL)
		return PA_TRUST_ERR_ARG;
	/* lower bound: the first record whose name-key is >= name_key */
	hi = st->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(st->index + mid * PA_TRUST_INDEX_REC_LEN, name_key, PA_TRUST_NAME_KEY_LEN) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	it->store = st;
	memcpy(it->name_key, name_key, PA_TRUST_NAME_KEY_LEN);
	it->pos = lo;
	return PA_TRUST_OK;
}

int pa_trust_next(pa_trust_iter *it, pa_trust_anchor *a)
{
	const pa_trust_store *st;
	int err;

	if (it == NULL || a == NULL || it->store == NULL)
		return PA_TRUST_ERR_ARG;
	st = it->store;
	if (it->pos >= st->n ||
	    memcmp(st->index + it->pos * PA_TRUST_INDEX_REC_LEN, it->name_key, PA_TRUST_NAME_KEY_LEN) != 0)
		return PA_TRUST_ERR_NOT_FOUND;
	err = pa_trust_get(st, it->pos, a);
	it->pos++;
	return err;
}

size_t pa_trust_pin_count(const pa_trust_store *st)
{
	return st != NULL ? st->n_pins : 0;
}

int pa_trust_pinned(const pa_trust_store *st, const uint8_t spki_sha256[PA_TRUST_PIN_LEN])
{
	size_t lo = 0, hi;

	if (st == NULL || spki_sha256 == NULL)
		return 0;
	hi = st->n_pins;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(st->pins + mid * PA_TRUST_PIN_LEN, spki_sha256, PA_TRUST_PIN_LEN);

		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int pa_trust_anchor_expired(const pa_trust_anchor *a, uint64_t now)
{
	/* RFC 5280 4.1.2.5: the validity period includes notAfter itself */
	return a != NULL && now != 0 && a->has_not_after && now > a->not_after;
}

const char *pa_trust_strerror(int err)
{
	switch (err) {
	case PA_TRUST_OK: return "ok";
	case PA_TRUST_ERR_ARG: return "bad argument";
	case PA_TRUST_ERR_TRUNCATED: return "truncated";
	case PA_TRUST_ERR_CBOR: return "not deterministic CBOR of the expected type";
	case PA_TRUST_ERR_VERSION: return "unsupported format version (not 2; a version 1 store must be rebuilt)";
	case PA_TRUST_ERR_INDEX: return "index or pins of a wrong length";
	case PA_TRUST_ERR_ORDER: return "records or pins unsorted or duplicated";
	case PA_TRUST_ERR_OFFSET: return "offset not at the start of a record";
	case PA_TRUST_ERR_TRAILING: return "trailing bytes";
	case PA_TRUST_ERR_ALG: return "unknown key algorithm";
	case PA_TRUST_ERR_KEY: return "key of the wrong length or form";
	case PA_TRUST_ERR_EXT: return "unknown, empty or misplaced extension";
	case PA_TRUST_ERR_NOT_FOUND: return "no anchor";
	default: return "unknown error";
	}
}
