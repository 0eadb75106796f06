/*
 * pa_trust.c - compact trust store: validation, binary search, anchor decoding.
 *
 * The store is read in place.  open() walks it once and checks everything a
 * lookup later relies on, so lookups only re-decode records already known good.
 * The CBOR reader below accepts exactly the deterministic encoding (RFC 8949
 * section 4.2.1) of the types the format uses: shortest heads, definite lengths.
 */
#include "pa_trust.h"

#include <string.h>

#define CBOR_UINT  0u
#define CBOR_BSTR  2u
#define CBOR_ARRAY 4u
#define CBOR_MAP   5u
#define CBOR_NULL  0xf6u /* major 7, simple value 22 */

#define RSA_F4 65537u

/* Store: [version, index, anchors, pins]; anchor record: [alg, key, not-after, ? ext] */
#define STORE_ITEMS 4u
#define ANCHOR_ITEMS_MIN 3u
#define ANCHOR_ITEMS_MAX 4u
#define EXT_RSA_E    1u
#define EXT_NC       2u
#define EXT_PATH_LEN 3u
#define EXT_KEYS_MAX 3u

typedef struct {
	const uint8_t *p;
	size_t left;
} rd;

/* One CBOR head: major type and argument.  Indefinite lengths, reserved
 * additional information and non-shortest arguments are refused. */
static int rd_head(rd *r, unsigned *major, uint64_t *arg)
{
	unsigned ai;
	size_t n, i;
	uint64_t v;

	if (r->left < 1)
		return PA_TRUST_ERR_TRUNCATED;
	*major = r->p[0] >> 5;
	ai = r->p[0] & 0x1fu;
	if (ai < 24) {
		*arg = ai;
		r->p++;
		r->left--;
		return PA_TRUST_OK;
	}
	if (ai > 27)
		return PA_TRUST_ERR_CBOR; /* 28..30 reserved, 31 indefinite */
	n = (size_t)1 << (ai - 24);
	if (r->left - 1 < n)
		return PA_TRUST_ERR_TRUNCATED;
	v = 0;
	for (i = 0; i < n; i++)
		v = (v << 8) | r->p[1 + i];
	/* shortest form: the value must not fit the next smaller width */
	if ((n == 1 && v < 24) || (n == 2 && v <= 0xffu) || (n == 4 && v <= 0xffffu) ||
	    (n == 8 && v <= 0xffffffffu))
		return PA_TRUST_ERR_CBOR;
	*arg = v;
	r->p += 1 + n;
	r->left -= 1 + n;
	return PA_TRUST_OK;
}

/* A head of the expected major type.  On a type mismatch nothing is consumed. */
static int rd_expect(rd *r, unsigned want, uint64_t *arg)
{
	rd save = *r;
	unsigned major;
	int err = rd_head(r, &major, arg);

	if (err != PA_TRUST_OK)
		return err;
	if (major != want) {
		*r = save;
		return PA_TRUST_ERR_CBOR;
	}
	return PA_TRUST_OK;
}

static int rd_bstr(rd *r, const uint8_t **p, size_t *len)
{
	uint64_t n;
	int err = rd_expect(r, CBOR_BSTR, &n);

	if (err != PA_TRUST_OK)
		return err;
	/* attacker-controlled length: checked against what remains */
	if (n > r->left)
		return PA_TRUST_ERR_TRUNCATED;
	*p = r->p;
	*len = (size_t)n;
	r->p += n;
	r->left -= (size_t)n;
	return PA_TRUST_OK;
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
	rd r = { p, left };
	uint64_t items, v, pairs, k, prev_k = 0;
	int err;

	memset(a, 0, sizeof(*a));
	err = rd_expect(&r, CBOR_ARRAY, &items);
	if (err != PA_TRUST_OK)
		return err;
	if (items < ANCHOR_ITEMS_MIN || items > ANCHOR_ITEMS_MAX)
		return PA_TRUST_ERR_CBOR;

	err = rd_expect(&r, CBOR_UINT, &v);
	if (err != PA_TRUST_OK)
		return err;
	if (v < PA_TRUST_ALG_RSA_F4 || v > PA_TRUST_ALG_ED25519)
		return PA_TRUST_ERR_ALG;
	a->alg = (unsigned)v;

	err = rd_bstr(&r, &a->key, &a->key_len);
	if (err != PA_TRUST_OK)
		return err;
	if (!key_len_ok(a->alg, a->key, a->key_len))
		return PA_TRUST_ERR_KEY;

	if (r.left < 1)
		return PA_TRUST_ERR_TRUNCATED;
	if (r.p[0] == CBOR_NULL) {
		r.p++;
		r.left--;
	} else {
		err = rd_expect(&r, CBOR_UINT, &a->not_after);
		if (err != PA_TRUST_OK)
			return err;
		a->has_not_after = 1;
	}

	if (items == ANCHOR_ITEMS_MAX) {
		err = rd_expect(&r, CBOR_MAP, &pairs);
		if (err != PA_TRUST_OK)
			return err;
		if (pairs == 0 || pairs > EXT_KEYS_MAX)
			return PA_TRUST_ERR_EXT; /* present only when non-empty; keys 1..3 */
		for (; pairs > 0; pairs--) {
			const uint8_t *val;
			size_t val_len;

			err = rd_expect(&r, CBOR_UINT, &k);
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
				err = rd_expect(&r, CBOR_UINT, &a->path_len);
				if (err == PA_TRUST_ERR_CBOR)
					return PA_TRUST_ERR_EXT; /* a path length is a uint */
				if (err != PA_TRUST_OK)
					return err;
				a->has_path_len = 1;
				continue;
			}
			err = rd_bstr(&r, &val, &val_len);
			if (err != PA_TRUST_OK)
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
	a->record_len = left - r.left;
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
	rd r;
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
	r.p = buf;
	r.left = len;

	err = rd_expect(&r, CBOR_ARRAY, &items);
	if (err != PA_TRUST_OK)
		return err;
	err = rd_expect(&r, CBOR_UINT, &version);
	if (err != PA_TRUST_OK)
		return err;
	/* the version first, so a version 1 store (3 items) says what it is */
	if (version != PA_TRUST_VERSION)
		return PA_TRUST_ERR_VERSION;
	if (items != STORE_ITEMS)
		return PA_TRUST_ERR_CBOR;
	err = rd_bstr(&r, &index, &index_len);
	if (err != PA_TRUST_OK)
		return err;
	err = rd_bstr(&r, &anchors, &anchors_len);
	if (err != PA_TRUST_OK)
		return err;
	err = rd_bstr(&r, &pins, &pins_len);
	if (err != PA_TRUST_OK)
		return err;
	if (r.left != 0)
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
