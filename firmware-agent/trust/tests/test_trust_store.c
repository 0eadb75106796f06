/*
 * test_trust_store.c - the store reader (format v2): open's reject list, lookup
 * (binary search edges, collisions, many anchors), pins, path lengths, every
 * truncation and every single-bit flip.  Stores are written by store_builder.h
 * (libcbor), independent of the reader.
 */
#include "pa_trust.h"

#include "check.h"
#include "store_builder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_MAX 100000

static uint8_t rsa256[256], rsa512[512], p256a[33], p256b[33], p384[49], p521[67], ed[32];
static const uint8_t e3[] = { 0x03 };
static const uint8_t f4[] = { 0x01, 0x00, 0x01 };
static const uint8_t nc_der[] = { 0x30, 0x0b, 0xa0, 0x09, 0x30, 0x07, 0x82, 0x05, 'l', 'o', 'c', 'a', 'l' };

static uint32_t lcg = 12345;
static uint8_t rnd8(void)
{
	lcg = lcg * 1103515245u + 12345u;
	return (uint8_t)(lcg >> 16);
}

static void fill(uint8_t *p, size_t n, uint8_t first)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = rnd8();
	p[0] = first;
}

static void nk(uint8_t out[4], uint32_t v)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

static sb_anchor mk(uint32_t key, unsigned alg, const uint8_t *k, size_t klen)
{
	sb_anchor a;

	memset(&a, 0, sizeof(a));
	nk(a.nk, key);
	a.alg = alg;
	a.key = k;
	a.key_len = klen;
	a.has_na = 1;
	a.na = 2000000000u;
	return a;
}

static uint8_t buf[BUF_MAX], buf2[BUF_MAX];

/* A store with one of everything: both RSA forms, all curves, Ed25519, null and
 * 64-bit not-after, name constraints, a 3-way collision. */
static size_t rich_store(uint8_t *out)
{
	sb_anchor as[9];

	as[0] = mk(0x10000000, PA_TRUST_ALG_RSA_F4, rsa256, sizeof(rsa256));
	as[1] = mk(0x20000000, PA_TRUST_ALG_RSA, rsa256, sizeof(rsa256));
	as[1].e = e3;
	as[1].e_len = sizeof(e3);
	as[2] = mk(0x30000000, PA_TRUST_ALG_P256, p256a, sizeof(p256a));
	as[2].nc = nc_der;
	as[2].nc_len = sizeof(nc_der);
	as[3] = mk(0x30000000, PA_TRUST_ALG_P256, p256b, sizeof(p256b));
	as[3].has_na = 0;
	as[4] = mk(0x30000000, PA_TRUST_ALG_P384, p384, sizeof(p384));
	as[4].na = 0x1122334455ull;
	as[5] = mk(0x40000000, PA_TRUST_ALG_P521, p521, sizeof(p521));
	as[6] = mk(0x50000000, PA_TRUST_ALG_ED25519, ed, sizeof(ed));
	as[6].na = 5;
	as[7] = mk(0x60000000, PA_TRUST_ALG_RSA_F4, rsa512, sizeof(rsa512));
	as[8] = mk(0x00000001, PA_TRUST_ALG_P256, p256b, sizeof(p256b));
	return sb_store(as, 9, out, BUF_MAX);
}

static void test_rich(void)
{
	pa_trust_store st;
	pa_trust_anchor a;
	pa_trust_iter it;
	uint8_t key[4];
	size_t len = rich_store(buf), i, seen;

	CHECK(len > 0);
	CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_OK);
	CHECK(pa_trust_count(&st) == 9);
	/* every anchor decodes; sorted by name-key */
	for (i = 0; i < pa_trust_count(&st); i++) {
		CHECK(pa_trust_get(&st, i, &a) == PA_TRUST_OK);
		CHECK(a.record >= st.anchors && a.record + a.record_len <= st.anchors + st.anchors_len);
	}
	CHECK(pa_trust_get(&st, 9, &a) == PA_TRUST_ERR_ARG);

	nk(key, 0x20000000);
	CHECK(pa_trust_find(&st, key, &it) == PA_TRUST_OK);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_OK);
	CHECK(a.alg == PA_TRUST_ALG_RSA && a.key_len == 256 && memcmp(a.key, rsa256, 256) == 0);
	CHECK(a.rsa_e_len == 1 && a.rsa_e[0] == 3 && a.name_constraints == NULL);
	CHECK(a.has_not_after && a.not_after == 2000000000u);
	CHECK(memcmp(a.name_key, key, 4) == 0);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_ERR_NOT_FOUND);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_ERR_NOT_FOUND);

	/* the collision: three records, in record-byte order (the P-256 with ext
	 * [84 ...] sorts after the two without [83 ...]; 83 03 < 83 04) */
	nk(key, 0x30000000);
	CHECK(pa_trust_find(&st, key, &it) == PA_TRUST_OK);
	seen = 0;
	while (pa_trust_next(&it, &a) == PA_TRUST_OK) {
		seen++;
		if (seen == 1)
			CHECK(a.alg == PA_TRUST_ALG_P256 && !a.has_not_after && memcmp(a.key, p256b, 33) == 0);
		if (seen == 2)
			CHECK(a.alg == PA_TRUST_ALG_P384 && a.not_after == 0x1122334455ull);
		if (seen == 3)
			CHECK(a.alg == PA_TRUST_ALG_P256 && a.name_constraints_len == sizeof(nc_der) &&
			      memcmp(a.name_constraints, nc_der, sizeof(nc_der)) == 0);
	}
	CHECK(seen == 3);

	/* binary search edges: first, last, before first, after last, between */
	nk(key, 0x00000001);
	pa_trust_find(&st, key, &it);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_OK && it.pos == 1);
	nk(key, 0x60000000);
	pa_trust_find(&st, key, &it);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_OK && a.key_len == 512);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_ERR_NOT_FOUND);
	nk(key, 0x00000000);
	pa_trust_find(&st, key, &it);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_ERR_NOT_FOUND);
	nk(key, 0xffffffffu);
	pa_trust_find(&st, key, &it);
	CHECK(it.pos == 9 && pa_trust_next(&it, &a) == PA_TRUST_ERR_NOT_FOUND);
	nk(key, 0x30000001);
	pa_trust_find(&st, key, &it);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_ERR_NOT_FOUND);
	nk(key, 0x2fffffff);
	pa_trust_find(&st, key, &it);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_ERR_NOT_FOUND);

	/* time policy */
	nk(key, 0x50000000);
	pa_trust_find(&st, key, &it);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_OK);
	CHECK(!pa_trust_anchor_expired(&a, 0) && !pa_trust_anchor_expired(&a, 5) &&
	      pa_trust_anchor_expired(&a, 6));
	nk(key, 0x30000000);
	pa_trust_find(&st, key, &it);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_OK && !pa_trust_anchor_expired(&a, UINT64_MAX));
}

static void test_empty_and_args(void)
{
	pa_trust_store st;
	pa_trust_iter it;
	pa_trust_anchor a;
	uint8_t key[4] = { 0 };
	size_t len = sb_store(NULL, 0, buf, BUF_MAX);

	CHECK(len == 5 && memcmp(buf, "\x84\x02\x40\x40\x40", 5) == 0);
	CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_OK && pa_trust_count(&st) == 0);
	CHECK(pa_trust_find(&st, key, &it) == PA_TRUST_OK);
	CHECK(pa_trust_next(&it, &a) == PA_TRUST_ERR_NOT_FOUND);
	CHECK(pa_trust_open(NULL, buf, len) == PA_TRUST_ERR_ARG);
	CHECK(pa_trust_open(&st, NULL, 0) == PA_TRUST_ERR_ARG);
	CHECK(pa_trust_find(NULL, key, &it) == PA_TRUST_ERR_ARG);
	CHECK(pa_trust_count(NULL) == 0);
	CHECK(strcmp(pa_trust_strerror(PA_TRUST_ERR_ORDER), "records or pins unsorted or duplicated") == 0);
	CHECK(pa_trust_pin_count(&st) == 0 && pa_trust_pin_count(NULL) == 0 && !pa_trust_pinned(&st, buf));
}

static int open_bytes(const uint8_t *p, size_t n);

/* Pins: open's rules and the binary search. */
static void test_pins(void)
{
	enum { NP = 300 };
	static uint8_t pins[(NP + 1) * 32];
	pa_trust_store st;
	uint8_t probe[32];
	size_t len, i, found = 0, absent = 0;

	/* ascending: the first byte pair counts up */
	for (i = 0; i < NP; i++) {
		fill(pins + i * 32, 32, 0);
		pins[i * 32] = (uint8_t)(i >> 8);
		pins[i * 32 + 1] = (uint8_t)i;
	}
	sb_pins = pins;
	sb_n_pins = NP;
	len = sb_store(NULL, 0, buf, BUF_MAX);
	CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_OK && pa_trust_pin_count(&st) == NP &&
	      pa_trust_count(&st) == 0);
	for (i = 0; i < NP; i++) {
		found += pa_trust_pinned(&st, pins + i * 32);
		memcpy(probe, pins + i * 32, 32);
		probe[31] ^= 1;
		absent += !pa_trust_pinned(&st, probe);
	}
	CHECK(found == NP && absent == NP);
	/* with anchors beside them */
	{
		sb_anchor a = mk(1, PA_TRUST_ALG_P256, p256a, 33);

		len = sb_store(&a, 1, buf, BUF_MAX);
		CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_OK && pa_trust_count(&st) == 1 &&
		      pa_trust_pin_count(&st) == NP && pa_trust_pinned(&st, pins + 5 * 32));
	}
	/* a duplicate, an unsorted pair, a length not a multiple of 32 */
	memcpy(pins + 32, pins, 32);
	len = sb_store(NULL, 0, buf, BUF_MAX);
	CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_ERR_ORDER && st.n_pins == 0);
	pins[32] = 0xff;
	len = sb_store(NULL, 0, buf, BUF_MAX);
	CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_ERR_ORDER);
	{
		/* 84 02 40 40 58 21 <33 bytes> */
		uint8_t s[64] = { 0x84, 0x02, 0x40, 0x40, 0x58, 0x21 };

		CHECK(open_bytes(s, 6 + 33) == PA_TRUST_ERR_INDEX);
		s[5] = 0x20;
		CHECK(open_bytes(s, 6 + 32) == PA_TRUST_OK);
		s[4] = 0x60; /* pins as a text string */
		s[5] = 0x00;
		CHECK(open_bytes(s, 5) == PA_TRUST_ERR_CBOR);
	}
	/* at most 2047 pins */
	{
		static uint8_t many[2048 * 32];

		for (i = 0; i < 2048; i++) {
			memset(many + i * 32, 0, 32);
			many[i * 32] = (uint8_t)(i >> 8);
			many[i * 32 + 1] = (uint8_t)i;
		}
		sb_pins = many;
		sb_n_pins = 2047;
		len = sb_store(NULL, 0, buf, BUF_MAX);
		CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_OK && pa_trust_pin_count(&st) == 2047);
		sb_n_pins = 2048;
		len = sb_store(NULL, 0, buf, BUF_MAX);
		CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_ERR_INDEX);
	}
	sb_pins = NULL;
	sb_n_pins = 0;
}

/* Many anchors: every name-key is found with exactly its records. */
static void test_many(void)
{
	enum { N = 1400 };
	static sb_anchor as[N];
	static uint32_t keys[N];
	pa_trust_store st;
	pa_trust_iter it;
	pa_trust_anchor a;
	uint8_t key[4];
	size_t len, i, j, bad = 0, misses = 0;
	static uint8_t pts[N][33];

	for (i = 0; i < N; i++) {
		/* about one key in eight repeats an earlier one (collisions) */
		keys[i] = (i > 0 && rnd8() < 32) ? keys[rnd8() % i] : ((uint32_t)rnd8() << 24 | (uint32_t)rnd8() << 16 | (uint32_t)rnd8() << 8 | rnd8());
		fill(pts[i], 33, (uint8_t)(2 + (i & 1)));
		as[i] = mk(keys[i], PA_TRUST_ALG_P256, pts[i], 33);
	}
	keys[0] = 0;
	nk(as[0].nk, 0);
	keys[1] = 0xffffffffu;
	nk(as[1].nk, 0xffffffffu);
	len = sb_store(as, N, buf, BUF_MAX);
	CHECK(len > 60000);
	CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_OK && pa_trust_count(&st) == N);
	for (i = 0; i < N; i++) {
		size_t want = 0, got = 0, found_mine = 0;

		for (j = 0; j < N; j++)
			want += keys[j] == keys[i];
		nk(key, keys[i]);
		pa_trust_find(&st, key, &it);
		while (pa_trust_next(&it, &a) == PA_TRUST_OK) {
			got++;
			found_mine |= memcmp(a.key, pts[i], 33) == 0;
		}
		if (got != want || !found_mine)
			bad++;
		/* a neighbouring key that is absent finds nothing */
		nk(key, keys[i] + 1);
		for (j = 0; j < N && keys[j] != keys[i] + 1; j++)
			;
		if (j == N && keys[i] != 0xffffffffu) {
			pa_trust_find(&st, key, &it);
			misses += pa_trust_next(&it, &a) == PA_TRUST_ERR_NOT_FOUND;
		} else {
			misses++;
		}
	}
	CHECK_MSG(bad == 0, "%zu keys found wrongly", bad);
	CHECK(misses == N);

	/* more than 65535 bytes of anchors is refused */
	{
		static sb_anchor big[1600];
		static uint8_t bp[1600][33];

		for (i = 0; i < 1600; i++) {
			fill(bp[i], 33, 2);
			big[i] = mk((uint32_t)i, PA_TRUST_ALG_P256, bp[i], 33);
		}
		len = sb_store(big, 1600, buf, BUF_MAX);
		CHECK(len > 65535 + 1600 * 6);
		CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_ERR_INDEX);
	}
}

/* One anchor, encoded, wrapped in a store: expect err. */
static void expect_one(sb_anchor a, int err, int line)
{
	pa_trust_store st;
	size_t len = sb_store(&a, 1, buf, BUF_MAX);
	int got = pa_trust_open(&st, buf, len);

	CHECK_MSG(got == err, "line %d: got %d (%s), want %d", line, got, pa_trust_strerror(got), err);
	if (err != PA_TRUST_OK)
		CHECK(st.n == 0 && st.index == NULL);
}

#define EXPECT_ONE(a, err) expect_one((a), (err), __LINE__)

static void test_anchor_rejects(void)
{
	static const uint8_t e65537[] = { 0x01, 0x00, 0x01 }, e_even[] = { 0x04 }, e_lead0[] = { 0x00, 0x03 },
	                     e1[] = { 0x01 };
	uint8_t rsa_lead0[256], p256_04[33];
	sb_anchor a;

	memcpy(rsa_lead0, rsa256, 256);
	rsa_lead0[0] = 0;
	memcpy(p256_04, p256a, 33);
	p256_04[0] = 4;

	EXPECT_ONE(mk(1, PA_TRUST_ALG_P256, p256a, 33), PA_TRUST_OK);
	a = mk(1, 0, p256a, 33);
	EXPECT_ONE(a, PA_TRUST_ERR_ALG);
	a = mk(1, 7, p256a, 33);
	EXPECT_ONE(a, PA_TRUST_ERR_ALG);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_P256, p256a, 32), PA_TRUST_ERR_KEY);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_P256, p384, 49), PA_TRUST_ERR_KEY);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_P256, p256_04, 33), PA_TRUST_ERR_KEY);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_P384, p384, 48), PA_TRUST_ERR_KEY);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_P384, p384, 49), PA_TRUST_OK);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_P521, p521, 66), PA_TRUST_ERR_KEY);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_P521, p521, 67), PA_TRUST_OK);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_ED25519, ed, 31), PA_TRUST_ERR_KEY);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_ED25519, rsa256, 33), PA_TRUST_ERR_KEY);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_ED25519, ed, 32), PA_TRUST_OK);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_RSA_F4, rsa_lead0, 256), PA_TRUST_ERR_KEY);
	/* the host's limits: 128..1024 bytes (1024 to 8192 bits) */
	EXPECT_ONE(mk(1, PA_TRUST_ALG_RSA_F4, rsa256, 127), PA_TRUST_ERR_KEY);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_RSA_F4, rsa256, 128), PA_TRUST_OK);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_RSA_F4, rsa512, 512), PA_TRUST_OK);
	EXPECT_ONE(mk(1, PA_TRUST_ALG_RSA_F4, rsa256, 0), PA_TRUST_ERR_KEY);
	/* ext 1: required for alg 2, only there; a sane exponent */
	EXPECT_ONE(mk(1, PA_TRUST_ALG_RSA, rsa256, 256), PA_TRUST_ERR_EXT);
	a = mk(1, PA_TRUST_ALG_RSA_F4, rsa256, 256);
	a.e = f4;
	a.e_len = 3;
	EXPECT_ONE(a, PA_TRUST_ERR_EXT);
	a = mk(1, PA_TRUST_ALG_P256, p256a, 33);
	a.e = e3;
	a.e_len = 1;
	EXPECT_ONE(a, PA_TRUST_ERR_EXT);
	a = mk(1, PA_TRUST_ALG_RSA, rsa256, 256);
	a.e = e3;
	a.e_len = 1;
	EXPECT_ONE(a, PA_TRUST_OK);
	a.e = e65537;
	a.e_len = 3;
	EXPECT_ONE(a, PA_TRUST_ERR_KEY);
	a.e = e_even;
	a.e_len = 1;
	EXPECT_ONE(a, PA_TRUST_ERR_KEY);
	a.e = e_lead0;
	a.e_len = 2;
	EXPECT_ONE(a, PA_TRUST_ERR_KEY);
	a.e = e1;
	a.e_len = 1;
	EXPECT_ONE(a, PA_TRUST_ERR_KEY);
	a.e = e3;
	a.e_len = 0;
	EXPECT_ONE(a, PA_TRUST_ERR_EXT); /* a present ext is never empty */
	/* ext 2 */
	a = mk(1, PA_TRUST_ALG_P256, p256a, 33);
	a.nc = nc_der;
	a.nc_len = sizeof(nc_der);
	EXPECT_ONE(a, PA_TRUST_OK);
	a.nc_len = 0;
	EXPECT_ONE(a, PA_TRUST_ERR_EXT);
	a = mk(1, PA_TRUST_ALG_RSA, rsa256, 256);
	a.e = e3;
	a.e_len = 1;
	a.nc = nc_der;
	a.nc_len = sizeof(nc_der);
	EXPECT_ONE(a, PA_TRUST_OK);
	/* ext 3: a path length, any uint */
	a.has_pl = 1;
	a.pl = 0;
	EXPECT_ONE(a, PA_TRUST_OK);
	a = mk(1, PA_TRUST_ALG_P256, p256a, 33);
	a.has_pl = 1;
	a.pl = UINT64_MAX;
	EXPECT_ONE(a, PA_TRUST_OK);
	{
		pa_trust_store st;
		pa_trust_anchor got;
		size_t len;

		a.pl = 7;
		len = sb_store(&a, 1, buf, BUF_MAX);
		CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_OK && pa_trust_get(&st, 0, &got) == PA_TRUST_OK &&
		      got.has_path_len && got.path_len == 7);
		a.has_pl = 0;
		len = sb_store(&a, 1, buf, BUF_MAX);
		CHECK(pa_trust_open(&st, buf, len) == PA_TRUST_OK && pa_trust_get(&st, 0, &got) == PA_TRUST_OK &&
		      !got.has_path_len);
	}
}

/* Stores patched byte by byte where the builder cannot go. */
static int open_bytes(const uint8_t *p, size_t n)
{
	pa_trust_store st;

	return pa_trust_open(&st, p, n);
}

#define EXPECT_BYTES(p, n, err) \
	do { \
		int got_ = open_bytes((p), (n)); \
		CHECK_MSG(got_ == (err), "got %d (%s), want %d", got_, pa_trust_strerror(got_), (err)); \
	} while (0)

static void test_structure_rejects(void)
{
	sb_anchor as[2];
	sb_rec recs[3];
	size_t len, i;
	/* one P-256 record: 83 03 58 21 <33> 1a <4> = 2 + 2 + 33 + 5 = 42 bytes */
	uint8_t one[200];
	size_t one_len;

	as[0] = mk(0x01020304, PA_TRUST_ALG_P256, p256a, 33);
	as[1] = mk(0x01020305, PA_TRUST_ALG_P256, p256b, 33);
	one_len = sb_store(as, 1, one, sizeof(one));
	CHECK(one_len == 1 + 1 + 1 + 6 + 2 + 42 + 1);
	EXPECT_BYTES(one, one_len, PA_TRUST_OK);

	/* outer: not an array, 3 or 5 items, 2 items, indefinite, a tag */
	memcpy(buf, one, one_len);
	buf[0] = 0xa4;
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
	buf[0] = 0x83;
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
	buf[0] = 0x85;
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
	buf[0] = 0x82;
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
	buf[0] = 0x9f;
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
	buf[0] = 0xd8;
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
	/* version 0, 1 (a store made before anchors had to be CAs), 3, 24 (two
	 * bytes), and 2 written long (18 02) */
	memcpy(buf, one, one_len);
	buf[1] = 0x00;
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_VERSION);
	buf[1] = 0x01;
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_VERSION);
	buf[1] = 0x03;
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_VERSION);
	buf[1] = 0x41; /* a bstr where the version goes */
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
	buf[0] = 0x84;
	buf[1] = 0x18;
	buf[2] = 0x02;
	memcpy(buf + 3, one + 2, one_len - 2);
	EXPECT_BYTES(buf, one_len + 1, PA_TRUST_ERR_CBOR);
	buf[2] = 0x18;
	EXPECT_BYTES(buf, one_len + 1, PA_TRUST_ERR_VERSION);
	/* a whole version 1 store, as prov wrote them: three items, refused by version */
	{
		sb_rec r;
		uint8_t s[300];
		size_t n;

		r.len = sb_record(&as[0], &r.rec);
		memcpy(r.nk, as[0].nk, 4);
		n = sb_store_recs(&r, 1, 0, 1, s, sizeof(s));
		CHECK(s[0] == 0x83 && s[1] == 0x01);
		EXPECT_BYTES(s, n, PA_TRUST_ERR_VERSION);
		free(r.rec);
	}
	/* the index bstr length written long (58 06) */
	buf[0] = 0x84;
	buf[1] = 0x02;
	buf[2] = 0x58;
	buf[3] = 0x06;
	memcpy(buf + 4, one + 3, one_len - 3);
	EXPECT_BYTES(buf, one_len + 1, PA_TRUST_ERR_CBOR);
	/* indefinite-length bstr */
	buf[2] = 0x5f;
	EXPECT_BYTES(buf, one_len + 1, PA_TRUST_ERR_CBOR);
	/* trailing byte after the store */
	memcpy(buf, one, one_len);
	buf[one_len] = 0;
	EXPECT_BYTES(buf, one_len + 1, PA_TRUST_ERR_TRAILING);
	/* index of 5 and 7 bytes */
	memcpy(buf, one, one_len);
	buf[2] = 0x45;
	EXPECT_BYTES(buf, 3 + 5, PA_TRUST_ERR_TRUNCATED); /* the anchors bstr is cut */
	{
		uint8_t s[200];
		size_t n = 0;

		s[n++] = 0x84;
		s[n++] = 0x02;
		s[n++] = 0x45;
		memcpy(s + n, one + 3, 5);
		n += 5;
		memcpy(s + n, one + 9, one_len - 9);
		n += one_len - 9;
		EXPECT_BYTES(s, n, PA_TRUST_ERR_INDEX);
		n = 0;
		s[n++] = 0x84;
		s[n++] = 0x02;
		s[n++] = 0x47;
		memcpy(s + n, one + 3, 6);
		n += 6;
		s[n++] = 0;
		memcpy(s + n, one + 9, one_len - 9);
		n += one_len - 9;
		EXPECT_BYTES(s, n, PA_TRUST_ERR_INDEX);
	}
	/* offset pointing inside the record, and past the end */
	memcpy(buf, one, one_len);
	buf[8] = 1;
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_OFFSET);
	buf[7] = 0xff;
	buf[8] = 0xff;
	EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_OFFSET);
	/* an index record with no anchor: the anchors bstr stops after record 0 */
	{
		sb_rec r[2];
		uint8_t s[300];
		size_t n;

		r[0].len = sb_record(&as[0], &r[0].rec);
		memcpy(r[0].nk, as[0].nk, 4);
		r[1] = r[0];
		r[1].nk[3] = 9;
		n = sb_store_recs(r, 2, 0, 2, s, sizeof(s));
		EXPECT_BYTES(s, n, PA_TRUST_OK);
		/* drop the second record's bytes: shorten the anchors bstr */
		/* the anchors head 58 54 (84 bytes) becomes 58 2a; the empty pins
		 * (40) move up */
		CHECK(s[n - 1] == 0x40 && s[n - 1 - 84 - 1] == 84);
		s[n - 1 - 84 - 1] = 42;
		s[n - 1 - 84 + 42] = 0x40;
		EXPECT_BYTES(s, n - 42, PA_TRUST_ERR_OFFSET);
		free(r[0].rec);
	}
	/* bytes after the last record inside anchors */
	{
		sb_rec r[1];
		uint8_t s[300];
		size_t n;

		r[0].len = sb_record(&as[0], &r[0].rec);
		memcpy(r[0].nk, as[0].nk, 4);
		r[0].rec = realloc(r[0].rec, r[0].len + 1);
		r[0].rec[r[0].len++] = 0x00;
		n = sb_store_recs(r, 1, 0, 2, s, sizeof(s));
		EXPECT_BYTES(s, n, PA_TRUST_ERR_TRAILING);
		free(r[0].rec);
	}
	/* unsorted name-keys; duplicate records; same name-key in wrong record order */
	for (i = 0; i < 2; i++) {
		recs[i].len = sb_record(&as[i], &recs[i].rec);
		memcpy(recs[i].nk, as[i].nk, 4);
	}
	recs[2] = recs[0];
	{
		sb_rec r[2];

		r[0] = recs[1];
		r[1] = recs[0];
		len = sb_store_recs(r, 2, 0, 2, buf, BUF_MAX);
		EXPECT_BYTES(buf, len, PA_TRUST_ERR_ORDER);
		r[0] = recs[0];
		r[1] = recs[1];
		len = sb_store_recs(r, 2, 0, 2, buf, BUF_MAX);
		EXPECT_BYTES(buf, len, PA_TRUST_OK);
		r[0] = recs[0];
		r[1] = recs[0];
		len = sb_store_recs(r, 2, 0, 2, buf, BUF_MAX);
		EXPECT_BYTES(buf, len, PA_TRUST_ERR_ORDER);
		/* same name-key, records p256b then p256a: ordered only if p256b's bytes
		 * sort first */
		r[0] = recs[1];
		memcpy(r[0].nk, recs[0].nk, 4);
		r[1] = recs[0];
		len = sb_store_recs(r, 2, 0, 2, buf, BUF_MAX);
		EXPECT_BYTES(buf, len, memcmp(recs[1].rec, recs[0].rec, 42) < 0 ? PA_TRUST_OK : PA_TRUST_ERR_ORDER);
		r[0] = recs[0];
		r[1] = recs[1];
		memcpy(r[1].nk, recs[0].nk, 4);
		len = sb_store_recs(r, 2, 0, 2, buf, BUF_MAX);
		EXPECT_BYTES(buf, len, memcmp(recs[0].rec, recs[1].rec, 42) < 0 ? PA_TRUST_OK : PA_TRUST_ERR_ORDER);
	}
	for (i = 0; i < 2; i++)
		free(recs[i].rec);

	/* anchor records patched: 83 03 58 21 <33 bytes> 1a <4> */
	{
		size_t r0 = one_len - 1 - 42; /* where the record starts (the empty pins follow) */

		memcpy(buf, one, one_len);
		buf[r0] = 0x82; /* 2 items */
		EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
		buf[r0] = 0x85;
		EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
		buf[r0] = 0x84; /* says 4 items, has 3: the ext map is missing */
		EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_TRUNCATED);
		memcpy(buf, one, one_len);
		buf[r0 + 1] = 0x20; /* alg -1 */
		EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
		memcpy(buf, one, one_len);
		buf[r0 + 2] = 0x78; /* key as a text string */
		EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
		memcpy(buf, one, one_len);
		buf[r0 + 37] = 0xf7; /* not-after undefined */
		EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
		buf[r0 + 37] = 0x3a; /* not-after negative */
		EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
		buf[r0 + 37] = 0xf9; /* a half float */
		EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
		memcpy(buf, one, one_len);
		buf[r0 + 38] = 0; /* 1a 00 .. : a 4-byte uint below 65536 is not shortest */
		buf[r0 + 39] = 0;
		EXPECT_BYTES(buf, one_len, PA_TRUST_ERR_CBOR);
	}
	/* ext maps byte by byte: 84 03 58 21 <33> f6 a? ... */
	{
		uint8_t s[300];
		size_t n = 0, k;
		static const struct {
			const char *bytes;
			size_t len;
			int err;
		} ext[] = {
			{ "\xa0", 1, PA_TRUST_ERR_EXT },                        /* {}: present only when non-empty */
			{ "\xa1\x02\x41\x30", 4, PA_TRUST_OK },                  /* {2: h'30'} */
			{ "\xa1\x03\x00", 3, PA_TRUST_OK },                      /* {3: 0} */
			{ "\xa2\x02\x41\x30\x03\x05", 6, PA_TRUST_OK },          /* {2: h'30', 3: 5} */
			{ "\xa2\x03\x05\x02\x41\x30", 6, PA_TRUST_ERR_CBOR },    /* keys unsorted */
			{ "\xa1\x03\x41\x30", 4, PA_TRUST_ERR_EXT },             /* path length as a bstr */
			{ "\xa1\x03\x20", 3, PA_TRUST_ERR_EXT },                 /* path length -1 */
			{ "\xa1\x03\x18\x05", 4, PA_TRUST_ERR_EXT },             /* path length not shortest */
			{ "\xa1\x04\x00", 3, PA_TRUST_ERR_EXT },                 /* unknown key 4 */
			{ "\xa1\x00\x41\x30", 4, PA_TRUST_ERR_EXT },             /* unknown key 0 */
			{ "\xa1\x20\x41\x30", 4, PA_TRUST_ERR_EXT },             /* key -1 */
			{ "\xa1\x61\x61\x41\x30", 5, PA_TRUST_ERR_EXT },         /* key "a" */
			{ "\xa3\x02\x41\x30\x02\x41\x30\x02\x41\x30", 10, PA_TRUST_ERR_CBOR }, /* repeated */
			{ "\xa4\x01\x41\x03\x02\x41\x30\x03\x00\x04\x00", 11, PA_TRUST_ERR_EXT }, /* 4 keys */
			{ "\xa2\x02\x41\x30\x02\x41\x31", 7, PA_TRUST_ERR_CBOR }, /* duplicate key */
			{ "\xa1\x02\x61\x30", 4, PA_TRUST_ERR_CBOR },            /* text value */
			{ "\xa1\x18\x02\x41\x30", 5, PA_TRUST_ERR_EXT },         /* long-form key */
			{ "\xbf\x02\x41\x30\xff", 5, PA_TRUST_ERR_CBOR },        /* indefinite map */
			{ "\xa1\x02\x42\x30", 4, PA_TRUST_ERR_TRUNCATED },       /* value cut */
		};

		for (k = 0; k < sizeof(ext) / sizeof(ext[0]); k++) {
			n = 0;
			s[n++] = 0x84;
			s[n++] = 0x03;
			s[n++] = 0x58;
			s[n++] = 0x21;
			memcpy(s + n, p256a, 33);
			n += 33;
			s[n++] = 0xf6;
			memcpy(s + n, ext[k].bytes, ext[k].len);
			n += ext[k].len;
			{
				sb_rec r;
				int got;

				memcpy(r.nk, "\0\0\0\1", 4);
				r.rec = s;
				r.len = n;
				len = sb_store_recs(&r, 1, 0, 2, buf, BUF_MAX);
				got = open_bytes(buf, len);
				CHECK_MSG(got == ext[k].err, "ext case %zu: got %d (%s), want %d", k, got,
				          pa_trust_strerror(got), ext[k].err);
			}
		}
	}
}

/* Every truncation is rejected as truncated; every single-bit flip is either
 * rejected or yields a store whose every anchor is found again by its name-key.
 * Returns the counts for the report line. */
static void test_exhaustive(void)
{
	pa_trust_store st;
	size_t len = rich_store(buf), i, bit, trunc_ok = 0, flips = 0, rejected = 0, accepted = 0,
	       consistent = 0;
	int err;

	for (i = 0; i < len; i++) {
		/* a fresh copy of exactly i bytes, so ASan sees any read past the end */
		uint8_t *p = malloc(i ? i : 1);

		memcpy(p, buf, i);
		err = pa_trust_open(&st, p, i);
		trunc_ok += err == PA_TRUST_ERR_TRUNCATED;
		if (err != PA_TRUST_ERR_TRUNCATED)
			fprintf(stderr, "truncation to %zu: %s\n", i, pa_trust_strerror(err));
		free(p);
	}
	CHECK_MSG(trunc_ok == len, "%zu of %zu truncations rejected as truncated", trunc_ok, len);

	for (bit = 0; bit < len * 8; bit++) {
		uint8_t *p = malloc(len);

		memcpy(p, buf, len);
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		flips++;
		err = pa_trust_open(&st, p, len);
		if (err != PA_TRUST_OK) {
			rejected++;
			CHECK(st.n == 0);
		} else {
			size_t j, ok = 0;

			accepted++;
			for (j = 0; j < st.n; j++) {
				pa_trust_anchor a, b;
				pa_trust_iter it;
				int hit = 0;

				if (pa_trust_get(&st, j, &a) != PA_TRUST_OK)
					continue;
				pa_trust_find(&st, a.name_key, &it);
				while (pa_trust_next(&it, &b) == PA_TRUST_OK)
					hit |= b.record == a.record;
				ok += hit;
			}
			consistent += ok == st.n;
		}
		free(p);
	}
	CHECK(rejected + accepted == flips);
	CHECK(consistent == accepted);
	CHECK(rejected > 0 && accepted > 0);
	printf("exhaustive: store of %zu bytes: %zu truncations rejected, %zu bit flips: %zu rejected, "
	       "%zu accepted (key or date bits; all consistent)\n", len, trunc_ok, flips, rejected, accepted);
}

int main(void)
{
	fill(rsa256, sizeof(rsa256), 0xc3);
	fill(rsa512, sizeof(rsa512), 0xd1);
	fill(p256a, sizeof(p256a), 0x02);
	fill(p256b, sizeof(p256b), 0x03);
	fill(p384, sizeof(p384), 0x02);
	fill(p521, sizeof(p521), 0x03);
	fill(ed, sizeof(ed), 0x55);
	(void)buf2;

	test_rich();
	test_empty_and_args();
	test_pins();
	test_many();
	test_anchor_rejects();
	test_structure_rejects();
	test_exhaustive();
	return check_done("test_trust_store");
}
