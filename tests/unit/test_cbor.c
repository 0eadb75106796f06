/*
 * test_cbor.c - deterministic CBOR (prov/cbor.h): shortest forms at every width
 * boundary, RFC 8949 4.2.1 map order, rejection of what has no deterministic
 * form, and a decoder that refuses truncation and trailing bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prov/cbor.h"

static size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	while (s[0] != '\0' && s[1] != '\0' && n < cap) {
		unsigned v;

		if (s[0] == ' ') {
			s++;
			continue;
		}
		if (sscanf(s, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

/* Encode `it` (consumed) and compare with the expected hex. */
static void expect_enc(const char *what, cbor_item_t *it, const char *hex)
{
	uint8_t want[600];
	size_t want_len = unhex(hex, want, sizeof(want));
	uint8_t *got = NULL;
	size_t got_len = 0;
	prov_err e = { 0 };
	prov_status st = prov_cbor_encode(it, &got, &got_len, &e);

	CHECK_MSG(st == PROV_OK, "%s: %s", what, e.msg);
	if (st == PROV_OK) {
		CHECK_MSG(got_len == want_len && memcmp(got, want, want_len) == 0,
		          "%s: encoding differs", what);
		if (got_len != want_len || memcmp(got, want, want_len) != 0) {
			check_hex_("got ", got, got_len);
			check_hex_("want", want, want_len);
		}
		CHECK_MSG(prov_cbor_is_deterministic(got, got_len), "%s: own output", what);
	}
	free(got);
	if (it != NULL)
		cbor_decref(&it);
}

/* Encoding of `it` (consumed) must fail with PROV_E_INTERNAL. */
static void expect_enc_fail(const char *what, cbor_item_t *it)
{
	uint8_t *got = NULL;
	size_t got_len = 0;
	prov_err e = { 0 };
	prov_status st = prov_cbor_encode(it, &got, &got_len, &e);

	CHECK_MSG(st == PROV_E_INTERNAL && got == NULL, "%s: expected rejection", what);
	CHECK_MSG(strchr(e.msg, ':') != NULL, "%s: message \"%s\"", what, e.msg);
	free(got);
	if (it != NULL)
		cbor_decref(&it);
}

static int det_hex(const char *hex)
{
	uint8_t b[300];
	size_t n = unhex(hex, b, sizeof(b));

	return prov_cbor_is_deterministic(b, n);
}

static prov_status decode_hex(const char *hex, cbor_item_t **out, prov_err *e)
{
	uint8_t b[300];
	size_t n = unhex(hex, b, sizeof(b));

	return prov_cbor_decode(b, n, out, e);
}

static void test_ints(void)
{
	static const struct {
		uint64_t v;
		const char *hex;
	} u[] = {
		{ 0, "00" }, { 1, "01" }, { 23, "17" }, { 24, "1818" }, { 255, "18ff" },
		{ 256, "190100" }, { 65535, "19ffff" }, { 65536, "1a00010000" },
		{ 4294967295u, "1affffffff" }, { 4294967296u, "1b0000000100000000" },
		{ UINT64_MAX, "1bffffffffffffffff" },
	};
	static const struct {
		int64_t v;
		const char *hex;
	} s[] = {
		{ -1, "20" }, { -24, "37" }, { -25, "3818" }, { -256, "38ff" },
		{ -257, "390100" }, { -65536, "39ffff" }, { -65537, "3a00010000" },
		{ -4294967296LL, "3affffffff" }, { -4294967297LL, "3b0000000100000000" },
		{ INT64_MIN, "3b7fffffffffffffff" }, { 0, "00" }, { 24, "1818" },
		{ INT64_MAX, "1b7fffffffffffffff" },
	};
	size_t i;

	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		char what[64];

		snprintf(what, sizeof(what), "uint %llu", (unsigned long long)u[i].v);
		expect_enc(what, prov_cbor_uint(u[i].v), u[i].hex);
	}
	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		char what[64];
		cbor_item_t *it = prov_cbor_int(s[i].v), *back = NULL;
		uint8_t b[16];
		size_t n = unhex(s[i].hex, b, sizeof(b));
		int64_t v = 0;

		snprintf(what, sizeof(what), "int %lld", (long long)s[i].v);
		CHECK_MSG(prov_cbor_get_int(it, &v) == 0 && v == s[i].v, "%s: get_int", what);
		expect_enc(what, it, s[i].hex);
		/* and back through the decoder */
		CHECK_MSG(prov_cbor_decode(b, n, &back, NULL) == PROV_OK &&
		          prov_cbor_get_int(back, &v) == 0 && v == s[i].v, "%s: decode", what);
		if (back != NULL)
			cbor_decref(&back);
	}

	/* items built wider than needed are narrowed by the encoder */
	expect_enc("uint64(1)", cbor_build_uint64(1), "01");
	expect_enc("uint32(255)", cbor_build_uint32(255), "18ff");
	expect_enc("negint64(0)", cbor_build_negint64(0), "20");
	expect_enc("negint16(24)", cbor_build_negint16(24), "3818");

	/* get_int range */
	{
		cbor_item_t *it = NULL;
		int64_t v = 0;

		CHECK(decode_hex("1bffffffffffffffff", &it, NULL) == PROV_OK);
		CHECK(prov_cbor_get_int(it, &v) == -1);
		cbor_decref(&it);
		CHECK(decode_hex("3b8000000000000000", &it, NULL) == PROV_OK);
		CHECK(prov_cbor_get_int(it, &v) == -1);
		cbor_decref(&it);
		CHECK(decode_hex("4100", &it, NULL) == PROV_OK);
		CHECK(prov_cbor_get_int(it, &v) == -1);
		cbor_decref(&it);
		CHECK(prov_cbor_get_int(NULL, &v) == -1);
	}
}

static void test_maps(void)
{
	cbor_item_t *m, *inner, *arr;

	/* {1:0, -1:0, 100:0}, inserted out of order.  RFC 8949 4.2.1 sorts keys by
	 * the bytes of their encodings: 01 < 18 64 < 20, so 100 comes before -1 (the
	 * RFC's own example list has "100, encoded as 0x1864" before "-1, encoded as
	 * 0x20").  a3 01 00 20 00 18 64 00, the value given in REFERENCES.md, is the
	 * length-first order of RFC 7049 3.9 / RFC 8949 4.2.3, which is not what
	 * prov/cbor.h promises; test_is_deterministic checks it is rejected. */
	m = cbor_new_definite_map(3);
	CHECK(prov_cbor_map_put_int(m, 100, prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_map_put_int(m, -1, prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_map_put_int(m, 1, prov_cbor_uint(0)) == 0);
	expect_enc("{1:0, -1:0, 100:0}", m, "a3 01 00 18 64 00 20 00");

	/* bytewise, not length-first: 24 (18 18) sorts before -1 (20) */
	m = cbor_new_definite_map(2);
	CHECK(prov_cbor_map_put_int(m, -1, prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_map_put_int(m, 24, prov_cbor_uint(0)) == 0);
	expect_enc("{24:0, -1:0}", m, "a2 1818 00 20 00");

	/* mixed key types: 10 (0a), -5 (24), h'00' (41 00), "a" (61 61), "b" (61 62),
	 * "aa" (62 61 61) */
	m = cbor_new_definite_map(6);
	CHECK(prov_cbor_map_put(m, prov_cbor_text("aa"), prov_cbor_uint(6)) == 0);
	CHECK(prov_cbor_map_put(m, prov_cbor_text("b"), prov_cbor_uint(1)) == 0);
	CHECK(prov_cbor_map_put(m, prov_cbor_text("a"), prov_cbor_uint(2)) == 0);
	CHECK(prov_cbor_map_put(m, prov_cbor_bytes("\0", 1), prov_cbor_uint(5)) == 0);
	CHECK(prov_cbor_map_put_int(m, -5, prov_cbor_uint(4)) == 0);
	CHECK(prov_cbor_map_put_int(m, 10, prov_cbor_uint(3)) == 0);
	expect_enc("mixed keys", m, "a6 0a03 2404 410005 616102 616201 62616106");

	/* nested: {2: {3:0, 1:0}, 1: [{5:0, 4:0}]} */
	m = cbor_new_definite_map(2);
	inner = cbor_new_definite_map(2);
	CHECK(prov_cbor_map_put_int(inner, 3, prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_map_put_int(inner, 1, prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_map_put_int(m, 2, inner) == 0);
	arr = cbor_new_definite_array(1);
	inner = cbor_new_definite_map(2);
	CHECK(prov_cbor_map_put_int(inner, 5, prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_map_put_int(inner, 4, prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_array_push(arr, inner) == 0);
	CHECK(prov_cbor_map_put_int(m, 1, arr) == 0);
	expect_enc("nested maps", m, "a2 01 81 a2 0400 0500 02 a2 0100 0300");

	/* map keys that are maps sort by their own deterministic encoding */
	m = cbor_new_definite_map(2);
	inner = cbor_new_definite_map(2);
	CHECK(prov_cbor_map_put_int(inner, 2, prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_map_put_int(inner, 1, prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_map_put(m, inner, prov_cbor_uint(7)) == 0);
	CHECK(prov_cbor_map_put_int(m, 0, prov_cbor_uint(8)) == 0);
	expect_enc("map as key", m, "a2 0008 a2010002 00 07");

	/* lookups */
	m = cbor_new_definite_map(3);
	CHECK(prov_cbor_map_put_int(m, -1, prov_cbor_text("minus one")) == 0);
	CHECK(prov_cbor_map_put_int(m, 4, prov_cbor_bytes("kid", 3)) == 0);
	CHECK(prov_cbor_map_put(m, prov_cbor_text("4"), prov_cbor_uint(4)) == 0);
	CHECK(prov_cbor_map_get_int(m, -1) != NULL &&
	      cbor_isa_string(prov_cbor_map_get_int(m, -1)));
	CHECK(prov_cbor_map_get_int(m, 4) != NULL &&
	      cbor_isa_bytestring(prov_cbor_map_get_int(m, 4)));
	CHECK(prov_cbor_map_get_int(m, 5) == NULL);
	CHECK(prov_cbor_map_get_int(NULL, 4) == NULL);
	/* full map: put fails and still releases both items (ASan checks the leak) */
	CHECK(prov_cbor_map_put_int(m, 9, prov_cbor_uint(9)) == -1);
	CHECK(prov_cbor_map_put_int(m, 9, NULL) == -1);
	CHECK(prov_cbor_map_get_int(m, 9) == NULL);
	cbor_decref(&m);

	/* full array */
	arr = cbor_new_definite_array(1);
	CHECK(prov_cbor_array_push(arr, prov_cbor_uint(1)) == 0);
	CHECK(prov_cbor_array_push(arr, prov_cbor_uint(2)) == -1);
	CHECK(prov_cbor_array_push(arr, NULL) == -1);
	CHECK(prov_cbor_array_push(NULL, prov_cbor_uint(3)) == -1);
	expect_enc("full array", arr, "81 01");
}

static void test_strings(void)
{
	static const struct {
		size_t n;
		const char *bhead, *thead;
	} lens[] = {
		{ 0, "40", "60" }, { 23, "57", "77" }, { 24, "5818", "7818" },
		{ 255, "58ff", "78ff" }, { 256, "590100", "790100" },
		{ 65535, "59ffff", "79ffff" }, { 65536, "5a00010000", "7a00010000" },
	};
	size_t i;
	char *buf = malloc(65536);

	CHECK(buf != NULL);
	if (buf == NULL)
		return;
	memset(buf, 'x', 65536);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = lens[i].n, hl;
		uint8_t head[8], *got = NULL;
		size_t got_len = 0;
		cbor_item_t *b = prov_cbor_bytes(buf, n), *t = prov_cbor_textn(buf, n);

		hl = unhex(lens[i].bhead, head, sizeof(head));
		CHECK(prov_cbor_encode(b, &got, &got_len, NULL) == PROV_OK);
		CHECK_MSG(got_len == hl + n && memcmp(got, head, hl) == 0 &&
		          (n == 0 || memcmp(got + hl, buf, n) == 0), "bstr of %zu", n);
		CHECK_MSG(prov_cbor_is_deterministic(got, got_len), "bstr of %zu", n);
		free(got);
		got = NULL;
		hl = unhex(lens[i].thead, head, sizeof(head));
		CHECK(prov_cbor_encode(t, &got, &got_len, NULL) == PROV_OK);
		CHECK_MSG(got_len == hl + n && memcmp(got, head, hl) == 0, "tstr of %zu", n);
		free(got);
		cbor_decref(&b);
		cbor_decref(&t);
	}
	free(buf);

	expect_enc("text", prov_cbor_text("IETF"), "64 49455446");
	expect_enc("empty bytes (NULL)", prov_cbor_bytes(NULL, 0), "40");

	/* array lengths 23 / 24 */
	{
		cbor_item_t *a23 = cbor_new_definite_array(23), *a24 = cbor_new_definite_array(24);
		char want[128] = "97";

		for (i = 0; i < 24; i++) {
			if (i < 23) {
				CHECK(prov_cbor_array_push(a23, prov_cbor_uint(0)) == 0);
				strcat(want, "00");
			}
			CHECK(prov_cbor_array_push(a24, prov_cbor_uint(0)) == 0);
		}
		expect_enc("array of 23", a23, want);
		want[0] = '9';
		want[1] = '8';
		memmove(want + 4, want + 2, strlen(want + 2) + 1);
		want[2] = '1';
		want[3] = '8';
		strcat(want, "00");
		expect_enc("array of 24", a24, want);
	}

	/* tags: shortest heads, contents normalised */
	expect_enc("tag 18", cbor_build_tag(18, cbor_move(prov_cbor_uint(1))), "d2 01");
	{
		cbor_item_t *in = cbor_build_uint64(5);
		cbor_item_t *t = cbor_build_tag(96, in);

		cbor_decref(&in);
		expect_enc("tag 96 (wide content)", t, "d860 05");
	}
	{
		cbor_item_t *in = prov_cbor_uint(0);
		cbor_item_t *t = cbor_build_tag(256, in);

		cbor_decref(&in);
		expect_enc("tag 256", t, "d90100 00");
	}
	expect_enc("true", cbor_build_bool(true), "f5");
	expect_enc("null", cbor_new_null(), "f6");
}

static void test_rejections(void)
{
	cbor_item_t *m, *ind, *chunk;

	/* duplicate keys, also when only the widths differed */
	m = cbor_new_definite_map(2);
	CHECK(prov_cbor_map_put_int(m, 1, prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_map_put_int(m, 1, prov_cbor_uint(1)) == 0);
	expect_enc_fail("duplicate key", m);
	m = cbor_new_definite_map(2);
	CHECK(prov_cbor_map_put(m, cbor_build_uint64(1), prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_map_put(m, prov_cbor_uint(1), prov_cbor_uint(1)) == 0);
	expect_enc_fail("duplicate key (different widths)", m);
	m = cbor_new_definite_map(2);
	CHECK(prov_cbor_map_put(m, prov_cbor_text("k"), prov_cbor_uint(0)) == 0);
	CHECK(prov_cbor_map_put(m, prov_cbor_text("k"), prov_cbor_uint(1)) == 0);
	expect_enc_fail("duplicate text key", m);

	/* indefinite lengths */
	ind = cbor_new_indefinite_array();
	CHECK(cbor_array_push(ind, cbor_move(prov_cbor_uint(1))));
	expect_enc_fail("indefinite array", ind);
	expect_enc_fail("indefinite map", cbor_new_indefinite_map());
	ind = cbor_new_indefinite_bytestring();
	chunk = prov_cbor_bytes("ab", 2);
	CHECK(cbor_bytestring_add_chunk(ind, chunk));
	cbor_decref(&chunk);
	expect_enc_fail("indefinite bytes", ind);
	expect_enc_fail("indefinite text", cbor_new_indefinite_string());
	/* nested inside otherwise fine structures */
	m = cbor_new_definite_map(1);
	CHECK(prov_cbor_map_put_int(m, 1, cbor_new_indefinite_array()) == 0);
	expect_enc_fail("indefinite array in a map", m);

	/* floats */
	expect_enc_fail("float", cbor_build_float8(1.5));
	expect_enc_fail("half float", cbor_build_float2(1.0f));
	expect_enc_fail("NULL item", NULL);
}

static void test_decode(void)
{
	/* a sample with every major type and several widths */
	static const char *sample =
		"d8 60 a5 01 1903e8 20 3a00010000 0a 83 f5 f6 41ff 62 6964 c2 45 0102030405"
		" 63 6b6579 a1 18 2a 1b0000000100000000";
	uint8_t b[300], *enc = NULL;
	size_t n = unhex(sample, b, sizeof(b)), i, enc_len = 0, rejected = 0;
	cbor_item_t *it = NULL;
	prov_err e = { 0 };
	prov_status st;

	st = prov_cbor_decode(b, n, &it, &e);
	CHECK_MSG(st == PROV_OK, "sample: %s", e.msg);
	if (st == PROV_OK) {
		CHECK(cbor_isa_tag(it) && cbor_tag_value(it) == 96);
		CHECK(prov_cbor_encode(it, &enc, &enc_len, &e) == PROV_OK);
		CHECK(prov_cbor_is_deterministic(enc, enc_len));
		free(enc);
		cbor_decref(&it);
	}
	/* every truncation is an error, never a crash or a shorter item */
	for (i = 0; i < n; i++) {
		memset(&e, 0, sizeof(e));
		it = NULL;
		st = prov_cbor_decode(b, i, &it, &e);
		if (st == PROV_E_INPUT && it == NULL && strstr(e.msg, "truncated") != NULL)
			rejected++;
		else
			CHECK_MSG(0, "truncation to %zu bytes: status %d \"%s\"", i, st, e.msg);
		if (it != NULL)
			cbor_decref(&it);
	}
	CHECK_MSG(rejected == n, "%zu of %zu truncations rejected", rejected, n);
	printf("test_cbor: %zu of %zu truncations of a %zu-byte sample rejected\n",
	       rejected, n, n);

	/* trailing bytes */
	memset(&e, 0, sizeof(e));
	CHECK(decode_hex("01 00", &it, &e) == PROV_E_INPUT && it == NULL);
	CHECK(strstr(e.msg, "trailing") != NULL);
	b[n] = 0x00;
	CHECK(prov_cbor_decode(b, n + 1, &it, NULL) == PROV_E_INPUT && it == NULL);

	/* malformed */
	CHECK(decode_hex("ff", &it, NULL) == PROV_E_INPUT);          /* stray break */
	CHECK(decode_hex("1c", &it, NULL) == PROV_E_INPUT);          /* reserved info */
	CHECK(decode_hex("82 01 ff", &it, NULL) == PROV_E_INPUT);    /* break in definite */
	CHECK(decode_hex("bf 01 ff", &it, NULL) == PROV_E_INPUT);    /* key without value */
	CHECK(decode_hex("5f 61 61 ff", &it, NULL) == PROV_E_INPUT); /* text chunk in bytes */
	/* counts no input can honour: refused before anything is allocated */
	CHECK(decode_hex("9b ffffffffffffffff", &it, NULL) == PROV_E_INPUT);
	CHECK(decode_hex("bb 7fffffffffffffff 00", &it, NULL) == PROV_E_INPUT);
	CHECK(decode_hex("9a 00000003 01 02", &it, NULL) == PROV_E_INPUT);
	CHECK(decode_hex("5b ffffffffffffffff 00", &it, NULL) == PROV_E_INPUT);
	CHECK(prov_cbor_decode(NULL, 0, &it, NULL) == PROV_E_INPUT && it == NULL);

	/* well-formed indefinite items decode (they are just not deterministic) */
	CHECK(decode_hex("9f 01 02 ff", &it, NULL) == PROV_OK && cbor_array_size(it) == 2);
	cbor_decref(&it);
	CHECK(decode_hex("5f 41 61 41 62 ff", &it, NULL) == PROV_OK);
	cbor_decref(&it);

	/* nesting depth: 64 levels decode, 65 do not */
	{
		uint8_t deep[200];

		memset(deep, 0x81, sizeof(deep));
		deep[64] = 0x00;
		CHECK(prov_cbor_decode(deep, 65, &it, NULL) == PROV_OK);
		if (it != NULL)
			cbor_decref(&it);
		deep[64] = 0x81;
		deep[65] = 0x00;
		memset(&e, 0, sizeof(e));
		CHECK(prov_cbor_decode(deep, 66, &it, &e) == PROV_E_INPUT && it == NULL);
		CHECK(strstr(e.msg, "deeper") != NULL);
		deep[199] = 0x00;
		CHECK(prov_cbor_decode(deep, 200, &it, NULL) == PROV_E_INPUT);
	}
}

/* Tags 6..20 have one-byte heads c6..d4, which libcbor 0.8 refuses to decode
 * (PJK/libcbor issue #307); COSE_Sign1 is tag 18 (d2). */
static void test_small_tags(void)
{
	unsigned t;
	cbor_item_t *it = NULL;
	uint8_t b[8], *enc = NULL;
	size_t enc_len = 0, n = 0;
	prov_err e = { 0 };

	for (t = 0; t < 24; t++) {
		b[0] = (uint8_t)(0xc0 | t);
		b[1] = 0x01;
		it = NULL;
		CHECK_MSG(prov_cbor_decode(b, 2, &it, &e) == PROV_OK && cbor_isa_tag(it) &&
		          cbor_tag_value(it) == t, "tag %u: %s", t, e.msg);
		if (it == NULL)
			continue;
		CHECK_MSG(prov_cbor_encode(it, &enc, &enc_len, &e) == PROV_OK && enc_len == 2 &&
		          memcmp(enc, b, 2) == 0, "tag %u re-encodes", t);
		CHECK_MSG(prov_cbor_is_deterministic(b, 2), "tag %u deterministic", t);
		free(enc);
		enc = NULL;
		cbor_decref(&it);
	}
	/* several, nested, with other items around them */
	CHECK(decode_hex("83 d2 84 40 a0 d0 01 40 d4 f5 d1 a1 01 d3 02", &it, &e) == PROV_OK);
	if (it != NULL) {
		cbor_item_t *t18 = cbor_array_handle(it)[0], *t17 = cbor_array_handle(it)[2];

		CHECK(cbor_tag_value(t18) == 18 && cbor_tag_value(t17) == 17);
		CHECK(prov_cbor_encode(it, &enc, &enc_len, &e) == PROV_OK);
		CHECK(det_hex("83 d2 84 40 a0 d0 01 40 d4 f5 d1 a1 01 d3 02"));
		free(enc);
		cbor_decref(&it);
	}
	CHECK(decode_hex("d2", &it, NULL) == PROV_E_INPUT && it == NULL);
	CHECK(decode_hex("d2 01 00", &it, NULL) == PROV_E_INPUT && it == NULL);
	CHECK(!det_hex("d8 12 01"));   /* tag 18 with a two-byte head */

	/* prov_cbor_item_len: the first item, trailing bytes allowed */
	n = unhex("d2 82 01 02 ff ff", b, sizeof(b));
	CHECK(prov_cbor_item_len(b, n, &enc_len, NULL) == PROV_OK && enc_len == 4);
	n = unhex("01 02", b, sizeof(b));
	CHECK(prov_cbor_item_len(b, n, &enc_len, NULL) == PROV_OK && enc_len == 1);
	n = unhex("82 01", b, sizeof(b));
	CHECK(prov_cbor_item_len(b, n, &enc_len, &e) == PROV_E_INPUT);
	CHECK(prov_cbor_item_len(b, 0, &enc_len, NULL) == PROV_E_INPUT);
}

static void test_is_deterministic(void)
{
	/* shortest forms accepted; bytewise key order, not length-first */
	CHECK(det_hex("a3 01 00 18 64 00 20 00"));
	CHECK(!det_hex("a3 01 00 20 00 18 64 00"));
	CHECK(det_hex("17"));
	CHECK(det_hex("1818"));
	CHECK(det_hex("d2 84 40 a0 40 40"));
	/* non-shortest integers, lengths and tags */
	CHECK(!det_hex("18 17"));
	CHECK(!det_hex("19 00ff"));
	CHECK(!det_hex("1a 0000ffff"));
	CHECK(!det_hex("1b 00000000ffffffff"));
	CHECK(!det_hex("38 00"));
	CHECK(!det_hex("39 00ff"));
	CHECK(!det_hex("58 01 41"));
	CHECK(!det_hex("78 01 41"));
	CHECK(!det_hex("98 01 00"));
	CHECK(!det_hex("b8 01 00 00"));
	CHECK(!det_hex("d8 12 00"));
	CHECK(!det_hex("a1 01 18 05"));          /* deep inside */
	/* unsorted, length-first order, duplicates */
	CHECK(!det_hex("a2 02 00 01 00"));
	CHECK(!det_hex("a3 20 00 01 00 18 64 00"));
	CHECK(!det_hex("a2 20 00 18 18 00"));   /* RFC 7049 canonical, not RFC 8949 */
	CHECK(det_hex("a2 18 18 00 20 00"));
	CHECK(!det_hex("a2 01 00 01 00"));
	/* indefinite items */
	CHECK(!det_hex("9f ff"));
	CHECK(!det_hex("bf ff"));
	CHECK(!det_hex("5f 41 00 ff"));
	CHECK(!det_hex("7f 61 61 ff"));
	CHECK(!det_hex("81 9f ff"));
	/* trailing bytes, truncation, floats, nothing */
	CHECK(!det_hex("01 00"));
	CHECK(!det_hex("82 01"));
	CHECK(!det_hex("f9 3c00"));
	CHECK(!det_hex("fb 3ff8000000000000"));
	CHECK(!prov_cbor_is_deterministic(NULL, 0));
}

/* Text strings must be UTF-8 (RFC 8949 section 3.1, major type 3): the scan
 * says which byte is not, and agrees with libcbor's own cbor_load (an
 * independent UTF-8 decoder) on every 1- and 2-byte string, every 3-byte string
 * with a lead byte >= 0xc0, and 4-byte strings with leads 0xf0..0xf7 over the
 * edges of the continuation range. */
static int utf8_agree(const uint8_t *t, size_t n, long *accepted)
{
	uint8_t buf[8];
	struct cbor_load_result res;
	cbor_item_t *item;
	size_t il = 0;
	int ours, theirs;

	buf[0] = (uint8_t)(0x60 | n);
	memcpy(buf + 1, t, n);
	ours = prov_cbor_item_len(buf, n + 1, &il, NULL) == PROV_OK;
	item = cbor_load(buf, n + 1, &res);
	theirs = item != NULL;
	if (item != NULL)
		cbor_decref(&item);
	*accepted += ours;
	return ours == theirs;
}

static void test_utf8(void)
{
	static const struct {
		const char *bytes;
		size_t len;
		int ok;
	} cases[] = {
		{"", 0, 1}, {"A", 1, 1}, {"\xc2\x80", 2, 1}, {"\xdf\xbf", 2, 1},
		{"\xe0\xa0\x80", 3, 1}, {"\xed\x9f\xbf", 3, 1}, {"\xee\x80\x80", 3, 1},
		{"\xf0\x90\x80\x80", 4, 1}, {"\xf4\x8f\xbf\xbf", 4, 1},
		{"\xff", 1, 0}, {"\x80", 1, 0}, {"\xc0\x80", 2, 0} /* overlong NUL */,
		{"\xc1\xbf", 2, 0}, {"\xe0\x9f\xbf", 3, 0} /* overlong */,
		{"\xed\xa0\x80", 3, 0} /* surrogate */, {"\xf4\x90\x80\x80", 4, 0} /* > U+10FFFF */,
		{"\xf5\x80\x80\x80", 4, 0}, {"\xe2\x82", 2, 0} /* cut */, {"ab\xe2\x82", 4, 0},
	};
	uint8_t t[4], buf[16];
	long total = 0, agree = 0, accepted = 0;
	prov_err e;
	cbor_item_t *item = NULL;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t il;

		buf[0] = (uint8_t)(0x60 | cases[i].len);
		memcpy(buf + 1, cases[i].bytes, cases[i].len);
		CHECK_MSG((prov_cbor_item_len(buf, cases[i].len + 1, &il, NULL) == PROV_OK) == cases[i].ok,
		          "case %zu", i);
	}
	/* the message names the string's position and the bad byte, escaped */
	memcpy(buf, "\xa1\x63" "dev" "\x66" "dev-\xff\x1b", 12);
	CHECK(prov_cbor_decode(buf, 12, &item, &e) == PROV_E_INPUT && item == NULL);
	CHECK_MSG(strcmp(e.msg, "cbor decode: text string at byte 5 is not UTF-8 (byte 4 of it: "
	                        "\"dev-\\xff\\x1b\")") == 0, "%s", e.msg);
	for (unsigned a = 0; a < 256; a++) {
		t[0] = (uint8_t)a;
		total++, agree += utf8_agree(t, 1, &accepted);
		for (unsigned b = 0; b < 256; b++) {
			t[1] = (uint8_t)b;
			total++, agree += utf8_agree(t, 2, &accepted);
			if (a < 0xc0)
				continue;
			for (unsigned c = 0; c < 256; c++) {
				t[2] = (uint8_t)c;
				total++, agree += utf8_agree(t, 3, &accepted);
				if (a < 0xf0 || a > 0xf7 || ((b & 0x0f) > 1 && (b & 0x0f) < 0x0e) ||
				    ((c & 0x0f) > 1 && (c & 0x0f) < 0x0e))
					continue;
				for (unsigned d = 0x7e; d <= 0xc1; d++) {
					t[3] = (uint8_t)d;
					total++, agree += utf8_agree(t, 4, &accepted);
				}
			}
		}
	}
	CHECK_MSG(agree == total, "%ld of %ld strings: the scan and libcbor disagree", total - agree, total);
	CHECK(accepted > 300000);   /* valid strings of every length ran too */
	printf("utf8: %ld strings, %ld accepted, scan and cbor_load agree on %ld\n", total, accepted, agree);
}

int main(void)
{
	test_ints();
	test_maps();
	test_strings();
	test_rejections();
	test_decode();
	test_small_tags();
	test_is_deterministic();
	test_utf8();
	return check_done("test_cbor");
}
