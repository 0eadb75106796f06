/*
 * test_agent_cbor.c - the agent's bounded CBOR reader and writer, and the TLS
 * profile reader, on hand-made byte strings (RFC 8949 appendix A values).
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "verify/pa_cbor.h"
#include "verify/pa_verify.h"

static pa_cbor rd(const char *hex_bytes, size_t n)
{
	pa_cbor r;

	pa_cbor_init(&r, (const uint8_t *)hex_bytes, n);
	return r;
}

#define R(lit) rd(lit, sizeof(lit) - 1)

static void test_ints(void)
{
	pa_cbor r;

	r = R("\x00");
	CHECK(pa_cbor_uint(&r, 10) == 0 && pa_cbor_at_end(&r));
	r = R("\x17");
	CHECK(pa_cbor_uint(&r, 100) == 23 && pa_cbor_at_end(&r));
	r = R("\x18\x18");
	CHECK(pa_cbor_uint(&r, 100) == 24 && pa_cbor_at_end(&r));
	r = R("\x19\x03\xe8");
	CHECK(pa_cbor_uint(&r, UINT64_MAX) == 1000 && pa_cbor_at_end(&r));
	r = R("\x1b\xff\xff\xff\xff\xff\xff\xff\xff");
	CHECK(pa_cbor_uint(&r, UINT64_MAX) == UINT64_MAX && pa_cbor_at_end(&r));
	r = R("\x20");
	CHECK(pa_cbor_int(&r, -10, 10) == -1 && pa_cbor_at_end(&r));
	r = R("\x38\x63");
	CHECK(pa_cbor_int(&r, -1000, 0) == -100 && pa_cbor_at_end(&r));
	/* range and type verdicts */
	r = R("\x0b");
	CHECK(pa_cbor_uint(&r, 10) == 0 && pa_cbor_err(&r) == PA_CBOR_TYPE);
	r = R("\x20");
	CHECK(pa_cbor_uint(&r, 10) == 0 && pa_cbor_err(&r) == PA_CBOR_TYPE);
	r = R("\x3b\x80\x00\x00\x00\x00\x00\x00\x00");   /* below INT64_MIN */
	(void)pa_cbor_int(&r, INT64_MIN, INT64_MAX);
	CHECK(pa_cbor_err(&r) == PA_CBOR_TYPE);
}

static void test_not_shortest(void)
{
	pa_cbor r;

	r = R("\x18\x17");   /* 23 in two bytes */
	(void)pa_cbor_uint(&r, 100);
	CHECK(pa_cbor_err(&r) == PA_CBOR_MALFORMED);
	r = R("\x19\x00\xff");
	(void)pa_cbor_uint(&r, UINT64_MAX);
	CHECK(pa_cbor_err(&r) == PA_CBOR_MALFORMED);
	r = R("\x1a\x00\x00\xff\xff");
	(void)pa_cbor_uint(&r, UINT64_MAX);
	CHECK(pa_cbor_err(&r) == PA_CBOR_MALFORMED);
	r = R("\x1b\x00\x00\x00\x00\xff\xff\xff\xff");
	(void)pa_cbor_uint(&r, UINT64_MAX);
	CHECK(pa_cbor_err(&r) == PA_CBOR_MALFORMED);
	r = R("\x5f\x41\x00\xff");   /* indefinite bstr */
	{
		size_t n;

		CHECK(pa_cbor_bytes(&r, PA_CBOR_BSTR, 0, 10, &n) == NULL &&
		      pa_cbor_err(&r) == PA_CBOR_MALFORMED);
	}
	r = R("\x1c");   /* reserved additional information */
	(void)pa_cbor_uint(&r, 100);
	CHECK(pa_cbor_err(&r) == PA_CBOR_MALFORMED);
	r = R("\xf8\x10");   /* simple value below 32 in two bytes */
	(void)pa_cbor_bool(&r);
	CHECK(pa_cbor_err(&r) == PA_CBOR_MALFORMED);
	r = R("\xf9\x3c\x00");   /* a float: never in a bundle */
	(void)pa_cbor_bool(&r);
	CHECK(pa_cbor_err(&r) == PA_CBOR_MALFORMED);
}

static void test_truncated(void)
{
	static const uint8_t arr[] = { 0x83, 0x01, 0x43, 'a', 'b', 'c', 0x19, 0x01, 0x00 };
	size_t cut, n;

	/* every proper prefix of [1, h'616263', 256] is truncated, never more */
	for (cut = 0; cut < sizeof(arr); cut++) {
		pa_cbor r;
		uint64_t k;

		pa_cbor_init(&r, arr, cut);
		k = pa_cbor_head(&r, PA_CBOR_ARRAY);
		(void)k;
		(void)pa_cbor_uint(&r, 10);
		(void)pa_cbor_bytes(&r, PA_CBOR_BSTR, 0, 10, &n);
		(void)pa_cbor_uint(&r, 1000);
		CHECK_MSG(pa_cbor_err(&r) == PA_CBOR_TRUNCATED, "prefix %zu: %d", cut, pa_cbor_err(&r));
	}
	{
		pa_cbor r;

		pa_cbor_init(&r, arr, sizeof(arr));
		CHECK(pa_cbor_head(&r, PA_CBOR_ARRAY) == 3 && pa_cbor_uint(&r, 10) == 1);
		CHECK(memcmp(pa_cbor_bytes(&r, PA_CBOR_BSTR, 3, 3, &n), "abc", 3) == 0 && n == 3);
		CHECK(pa_cbor_uint(&r, 1000) == 256 && pa_cbor_at_end(&r));
	}
	/* a length beyond the input: truncated, before anything is read */
	{
		pa_cbor r = R("\x5a\xff\xff\xff\xff\x00");

		CHECK(pa_cbor_bytes(&r, PA_CBOR_BSTR, 0, SIZE_MAX, &n) == NULL &&
		      pa_cbor_err(&r) == PA_CBOR_TRUNCATED);
	}
}

static void test_sticky(void)
{
	pa_cbor r = R("\x20\x01");
	size_t n;

	(void)pa_cbor_uint(&r, 10);   /* TYPE */
	CHECK(pa_cbor_uint(&r, 10) == 0 && pa_cbor_err(&r) == PA_CBOR_TYPE);   /* sticks */
	r = R("\xd8\x60\x9a\xff\xff\xff\xff");   /* 96([...]) with 2^32-1 items */
	CHECK(pa_cbor_peek(&r) == PA_CBOR_TAG && pa_cbor_head(&r, PA_CBOR_TAG) == 96);
	CHECK(pa_cbor_head(&r, PA_CBOR_ARRAY) == 0xffffffffu && pa_cbor_peek(&r) == -1);
	CHECK(pa_cbor_uint(&r, 10) == 0 && pa_cbor_err(&r) == PA_CBOR_TRUNCATED);
	r = R("\x63\x61\x62\x63");
	CHECK(pa_cbor_bytes(&r, PA_CBOR_TSTR, 1, 2, &n) == NULL && pa_cbor_err(&r) == PA_CBOR_TYPE);
}

static void test_put_head(void)
{
	static const struct { int major; uint64_t v; const char *enc; size_t n; } t[] = {
		{ 0, 0, "\x00", 1 }, { 0, 23, "\x17", 1 }, { 0, 24, "\x18\x18", 2 },
		{ 0, 255, "\x18\xff", 2 }, { 0, 256, "\x19\x01\x00", 3 },
		{ 0, 65536, "\x1a\x00\x01\x00\x00", 5 },
		{ 0, 4294967296ull, "\x1b\x00\x00\x00\x01\x00\x00\x00\x00", 9 },
		{ 2, 32, "\x58\x20", 2 }, { 1, 24, "\x38\x18", 2 }, { 3, 10, "\x6a", 1 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t out[9];
		size_t n = pa_cbor_put_head(out, t[i].major, t[i].v);

		CHECK_EQ_HEX(out, n, t[i].enc, t[i].n);
	}
}

static void test_profile(void)
{
	/* {0: "coaps", 1: 1, 2: [771], 3: [49320], 5: 1024, 6: true, 7: 3600, 8: 1} */
	static const uint8_t ok[] = {
		0xa8, 0x00, 0x65, 'c', 'o', 'a', 'p', 's', 0x01, 0x01, 0x02, 0x81, 0x19, 0x03, 0x03,
		0x03, 0x81, 0x19, 0xc0, 0xa8, 0x05, 0x19, 0x04, 0x00, 0x06, 0xf5, 0x07, 0x19, 0x0e,
		0x10, 0x08, 0x01 };
	uint8_t bad[sizeof(ok)];
	pa_tls_profile p;
	pa_cbor r;

	pa_cbor_init(&r, ok, sizeof(ok));
	pa_profile_read(&r, &p);
	CHECK(pa_cbor_at_end(&r));
	CHECK(strcmp(p.protocol, "coaps") == 0 && p.transport == 1 && p.n_versions == 1 &&
	      p.versions[0] == 0x0303 && p.n_suites == 1 && p.suites[0] == 0xc0a8 &&
	      p.max_fragment_len == 1024 && p.resumption == 1 && p.ticket_lifetime == 3600 &&
	      p.time_check == 1 && !(p.present & (1u << 4)) && (p.present & (1u << 5)));
	memcpy(bad, ok, sizeof(ok));
	bad[23] = 0x01;   /* max_fragment_length 1025 */
	pa_cbor_init(&r, bad, sizeof(bad));
	pa_profile_read(&r, NULL);
	CHECK(pa_cbor_err(&r) == PA_CBOR_TYPE);
	memcpy(bad, ok, sizeof(ok));
	bad[14] = 0x05;   /* version 0x0305 */
	pa_cbor_init(&r, bad, sizeof(bad));
	pa_profile_read(&r, NULL);
	CHECK(pa_cbor_err(&r) == PA_CBOR_TYPE);
	memcpy(bad, ok, sizeof(ok));
	bad[8] = 0x02;   /* key 2 twice: 1 -> 2 makes keys unsorted */
	pa_cbor_init(&r, bad, sizeof(bad));
	pa_profile_read(&r, NULL);
	CHECK(pa_cbor_err(&r) != PA_CBOR_OK);
}

int main(void)
{
	test_ints();
	test_not_shortest();
	test_truncated();
	test_sticky();
	test_put_head();
	test_profile();
	return check_done("test_agent_cbor");
}
