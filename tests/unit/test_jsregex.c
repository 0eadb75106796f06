/*
 * test_jsregex.c - prov/jsregex.h: the ECMA-262 regular expressions of JSON
 * Schema, checked exhaustively where that is cheap.
 *
 * - Every code point set (".", \d \D \w \W \s \S, ranges at the UTF-8 length
 *   boundaries and around the surrogates, negated classes, random classes)
 *   against all 1,112,064 Unicode scalar values: a string of every code point the
 *   set holds must match ^(?:SET)*$, and the set must match nowhere in a string
 *   of all the others.  The expected sets are written out here from ECMA-262, not
 *   taken from the translator.
 * - Every ASCII character as \xHH, in a class, and in random classes (with the
 *   characters special in POSIX brackets), against every ASCII character.
 * - The same after setlocale(LC_ALL, "C.UTF-8"): the program's locale must not
 *   change a verdict.  Several threads share one compiled expression.
 * - The limits of prov/jsregex.h, just inside and just outside.
 * The verdicts of whole patterns are in tests/vectors/jsonschema/regex.json.
 *
 * With "--eval FILE" (FILE a JSON array of [pattern, string] pairs) it prints one
 * line per pair instead: 1 or 0 for a match or none, or "refused: <message>".
 * tests/js/regex_differential.js compares these with V8.
 */
#include <jansson.h>
#include <locale.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/jsregex.h"

#include "check.h"

#define CP_MAX 0x10FFFFu

static int is_surrogate(uint32_t c)
{
	return c >= 0xD800 && c <= 0xDFFF;
}

static size_t put_utf8(uint32_t c, char *p)
{
	unsigned char *b = (unsigned char *)p;

	if (c < 0x80) {
		b[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		b[0] = (unsigned char)(0xC0 | (c >> 6));
		b[1] = (unsigned char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		b[0] = (unsigned char)(0xE0 | (c >> 12));
		b[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
		b[2] = (unsigned char)(0x80 | (c & 0x3F));
		return 3;
	}
	b[0] = (unsigned char)(0xF0 | (c >> 18));
	b[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
	b[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
	b[3] = (unsigned char)(0x80 | (c & 0x3F));
	return 4;
}

/* Compile or fail the check; NULL when refused. */
static prov_jsregex *compile(const char *pattern, size_t len)
{
	prov_jsregex *re = NULL;
	prov_err e;
	prov_status st = prov_jsregex_compile(pattern, len, &re, &e);

	CHECK_MSG(st == PROV_OK && re != NULL, "compile \"%s\": %s", pattern, st == PROV_OK ? "" : e.msg);
	return re;
}

/* 1 match, 0 no match, -1 error (a failed check). */
static int search(const prov_jsregex *re, const char *s, size_t n)
{
	prov_err e;
	int m = -1;

	if (prov_jsregex_search(re, s, n, &m, &e) != PROV_OK) {
		CHECK_MSG(0, "search: %s", e.msg);
		return -1;
	}
	return m;
}

/* ---- Code point sets against every scalar value. ---- */

struct range {
	uint32_t lo, hi;
};

/* Expected sets, from ECMA-262 22.2.2.9 (\d \w), 12.2 and 12.3 (\s: WhiteSpace,
 * with Unicode's Space_Separator, and LineTerminator), 22.2.2.7 ("." without s). */
static const struct range digit[] = { { '0', '9' } };
static const struct range word[] = { { '0', '9' }, { 'A', 'Z' }, { '_', '_' }, { 'a', 'z' } };
static const struct range space[] = {
	{ 0x0009, 0x0009 }, { 0x000A, 0x000A }, { 0x000B, 0x000B }, { 0x000C, 0x000C },
	{ 0x000D, 0x000D }, { 0x0020, 0x0020 }, { 0x00A0, 0x00A0 }, { 0x1680, 0x1680 },
	{ 0x2000, 0x200A }, { 0x2028, 0x2028 }, { 0x2029, 0x2029 }, { 0x202F, 0x202F },
	{ 0x205F, 0x205F }, { 0x3000, 0x3000 }, { 0xFEFF, 0xFEFF },
};
static const struct range line_terminator[] = {
	{ 0x000A, 0x000A }, { 0x000D, 0x000D }, { 0x2028, 0x2028 }, { 0x2029, 0x2029 },
};

struct set_case {
	const char *atom;          /* ECMA-262 syntax */
	const struct range *r;     /* the code points it holds ... */
	size_t n;
	int negated;               /* ... or all others */
};

#define R(a) a, sizeof(a) / sizeof((a)[0])

static const struct range space_digit[] = {
	{ 0x0009, 0x000D }, { 0x0020, 0x0020 }, { '0', '9' }, { 0x00A0, 0x00A0 }, { 0x1680, 0x1680 },
	{ 0x2000, 0x200A }, { 0x2028, 0x2029 }, { 0x202F, 0x202F }, { 0x205F, 0x205F },
	{ 0x3000, 0x3000 }, { 0xFEFF, 0xFEFF },
};
static const struct range r_a[] = { { 'a', 'a' } };
static const struct range r_2byte[] = { { 0x80, 0x7FF } };
static const struct range r_3byte[] = { { 0x800, 0xFFFF } };
static const struct range r_4byte[] = { { 0x10000, CP_MAX } };
static const struct range r_edges[] = { { 0x7F, 0x80 }, { 0x7FF, 0x800 }, { 0xFFFF, 0x10000 } };
static const struct range r_around_surrogates[] = { { 0xD7FF, 0xE000 } };
static const struct range r_mid[] = { { 0x3A, 0x40 }, { 0x5B, 0x60 }, { 0x100, 0x17F }, { 0xFFFD, 0x1F600 } };
static const struct range r_all[] = { { 0, CP_MAX } };

static const struct set_case set_cases[] = {
	{ ".", R(line_terminator), 1 },
	{ "\\d", R(digit), 0 },
	{ "\\D", R(digit), 1 },
	{ "\\w", R(word), 0 },
	{ "\\W", R(word), 1 },
	{ "\\s", R(space), 0 },
	{ "\\S", R(space), 1 },
	{ "[\\s\\d]", R(space_digit), 0 },
	{ "[^a]", R(r_a), 1 },
	{ "[\\x80-\\u07ff]", R(r_2byte), 0 },
	{ "[\\u0800-\\uffff]", R(r_3byte), 0 },
	{ "[\\u{10000}-\\u{10ffff}]", R(r_4byte), 0 },
	{ "[^\\u{10000}-\\u{10ffff}]", R(r_4byte), 1 },
	{ "[\\x7f-\\x80\\u07ff-\\u0800\\uffff-\\u{10000}]", R(r_edges), 0 },
	{ "[^\\x7f-\\x80\\u07ff-\\u0800\\uffff-\\u{10000}]", R(r_edges), 1 },
	{ "[\\ud7ff-\\ue000]", R(r_around_surrogates), 0 },
	{ "[:-@[-`\\u0100-\\u017f\\ufffd-\\u{1f600}]", R(r_mid), 0 },
	{ "[^:-@[-`\\u0100-\\u017f\\ufffd-\\u{1f600}]", R(r_mid), 1 },
	{ "[\\0-\\u{10ffff}]", R(r_all), 0 },
	{ "[^]", NULL, 0, 1 },
	{ "[]", NULL, 0, 0 },
};

static int in_ranges(const struct range *r, size_t n, uint32_t c)
{
	for (size_t i = 0; i < n; i++) {
		if (c >= r[i].lo && c <= r[i].hi)
			return 1;
	}
	return 0;
}

static int set_holds(const struct set_case *sc, uint32_t c)
{
	int in = in_ranges(sc->r, sc->n, c);

	return sc->negated ? !in : in;
}

/* Buffers for all scalar values, 4 bytes each at most. */
static char *in_buf, *out_buf;

/* ^(?:SET)*$ matches the string of all members; SET matches nowhere in the
 * string of all non-members. */
static void check_set_exact(const char *atom, int (*holds)(const void *, uint32_t), const void *arg)
{
	char pat[512];
	size_t in_len = 0, out_len = 0;
	prov_jsregex *all, *one;

	for (uint32_t c = 0; c <= CP_MAX; c++) {
		if (is_surrogate(c))
			continue;
		if (holds(arg, c))
			in_len += put_utf8(c, in_buf + in_len);
		else
			out_len += put_utf8(c, out_buf + out_len);
	}
	snprintf(pat, sizeof(pat), "^(?:%s)*$", atom);
	all = compile(pat, strlen(pat));
	one = compile(atom, strlen(atom));
	if (all != NULL)
		CHECK_MSG(search(all, in_buf, in_len) == 1, "%s: a member does not match", atom);
	if (one != NULL)
		CHECK_MSG(search(one, out_buf, out_len) == 0, "%s: a non-member matches", atom);
	prov_jsregex_free(all);
	prov_jsregex_free(one);
}

static int holds_case(const void *arg, uint32_t c)
{
	return set_holds(arg, c);
}

struct random_set {
	struct range r[8];
	size_t n;
	int negated;
};

static int holds_random(const void *arg, uint32_t c)
{
	const struct random_set *rs = arg;
	int in = in_ranges(rs->r, rs->n, c);

	return rs->negated ? !in : in;
}

static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

/* A random code point, often next to an encoding boundary. */
static uint32_t random_cp(void)
{
	static const uint32_t edges[] = { 0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF,
	                                  0x10000, 0x3FFFF, 0x40000, CP_MAX };
	uint32_t c;

	if (rng() % 3 == 0) {
		c = edges[rng() % (sizeof(edges) / sizeof(edges[0]))];
		if (rng() % 2 == 0 && c > 0 && c < CP_MAX)
			c += rng() % 2 ? 1 : (uint32_t)-1;
	} else {
		c = rng() % (CP_MAX + 1);
	}
	return is_surrogate(c) ? 0xD7FF : c;
}

static void test_sets(const char *when)
{
	for (size_t i = 0; i < sizeof(set_cases) / sizeof(set_cases[0]); i++)
		check_set_exact(set_cases[i].atom, holds_case, &set_cases[i]);
	for (int k = 0; k < 12; k++) {
		struct random_set rs;
		char atom[400];
		size_t len;

		rs.n = 1 + rng() % 8;
		rs.negated = rng() % 2;
		len = (size_t)snprintf(atom, sizeof(atom), "[%s", rs.negated ? "^" : "");
		for (size_t j = 0; j < rs.n; j++) {
			uint32_t a = random_cp(), b = random_cp();

			rs.r[j].lo = a < b ? a : b;
			rs.r[j].hi = a < b ? b : a;
			len += (size_t)snprintf(atom + len, sizeof(atom) - len, "\\u{%X}-\\u{%X}",
			                        (unsigned)rs.r[j].lo, (unsigned)rs.r[j].hi);
		}
		snprintf(atom + len, sizeof(atom) - len, "]");
		check_set_exact(atom, holds_random, &rs);
	}
	printf("code point sets (%s): %zu fixed and 12 random, each against all scalar values\n",
	       when, sizeof(set_cases) / sizeof(set_cases[0]));
}

/* ---- ASCII, and the characters special in POSIX brackets. ---- */

/* Whether pattern ^ATOM$ matches exactly the one-character strings in `want`
 * (a 128-bit map), checked for every ASCII character, NUL included. */
static void check_ascii(const char *atom, const uint8_t *want)
{
	char pat[1024];
	prov_jsregex *re;

	snprintf(pat, sizeof(pat), "^%s$", atom);
	re = compile(pat, strlen(pat));
	if (re == NULL)
		return;
	for (unsigned c = 0; c < 128; c++) {
		char s = (char)c;
		int expect = (want[c >> 3] >> (c & 7)) & 1;

		CHECK_MSG(search(re, &s, 1) == expect, "%s on U+%04X: want %d", pat, c, expect);
	}
	prov_jsregex_free(re);
}

/* An ASCII character as a class member: itself where ECMA-262 allows, else
 * escaped. */
static size_t put_member(char *p, unsigned c)
{
	if (c > 0x20 && c < 0x7F && strchr("\\]-^[", (int)c) == NULL && rng() % 2 == 0) {
		p[0] = (char)c;
		return 1;
	}
	if (c != 0 && strchr("\\]-^[", (int)c) != NULL && rng() % 2 == 0) {
		p[0] = '\\';
		p[1] = (char)c;
		return 2;
	}
	return (size_t)sprintf(p, "\\x%02X", c);
}

static void test_ascii(void)
{
	uint8_t want[16];
	char atom[1024];
	int checked = 0;

	for (unsigned c = 0; c < 128; c++) {
		memset(want, 0, sizeof(want));
		want[c >> 3] = (uint8_t)(1u << (c & 7));
		snprintf(atom, sizeof(atom), "\\x%02X", c);
		check_ascii(atom, want);
		snprintf(atom, sizeof(atom), "[\\x%02X]", c);
		check_ascii(atom, want);
		checked += 2;
	}
	for (int k = 0; k < 300; k++) {
		int negated = k % 2;
		size_t len = (size_t)sprintf(atom, "[%s", negated ? "^" : "");

		memset(want, 0, sizeof(want));
		for (unsigned c = 0; c < 128; c++) {
			/* sparse sets, and sets of the bracket specials */
			int pick = k % 3 == 0 ? strchr("]-^[\\", (int)c) != NULL && c != 0 && rng() % 2
			                      : rng() % 9 == 0;

			if (!pick)
				continue;
			want[c >> 3] |= (uint8_t)(1u << (c & 7));
			len += put_member(atom + len, c);
		}
		sprintf(atom + len, "]");
		if (negated) {
			for (size_t i = 0; i < sizeof(want); i++)
				want[i] = (uint8_t)~want[i];
		}
		check_ascii(atom, want);
		checked++;
	}
	printf("ASCII: %d patterns, each against all 128 characters\n", checked);
}

/* ---- Threads share a compiled expression. ---- */

static prov_jsregex *shared;

static void *thread_main(void *arg)
{
	long bad = 0;

	(void)arg;
	for (int i = 0; i < 2000; i++) {
		int m1 = -1, m2 = -1;
		prov_err e;

		prov_jsregex_search(shared, "x\xc3\xa9\xc3\xa9y", 6, &m1, &e);
		prov_jsregex_search(shared, "x\xc3\xa9" "e", 4, &m2, &e);
		bad += m1 != 1 || m2 != 0;
	}
	return (void *)bad;
}

static void test_threads(void)
{
	pthread_t t[4];
	int started = 0;

	shared = compile("\xc3\xa9{2}", 5);
	for (int i = 0; i < 4 && shared != NULL; i++)
		started += pthread_create(&t[i], NULL, thread_main, NULL) == 0;
	CHECK(started == 4);
	for (int i = 0; i < started; i++) {
		void *bad = NULL;

		CHECK(pthread_join(t[i], &bad) == 0 && bad == NULL);
	}
	prov_jsregex_free(shared);
}

/* ---- Limits and errors. ---- */

static void expect_refused(const char *pattern, size_t len, const char *msg)
{
	prov_jsregex *re = (prov_jsregex *)&re;  /* must be set to NULL */
	prov_err e;

	CHECK_MSG(prov_jsregex_compile(pattern, len, &re, &e) == PROV_E_INPUT && re == NULL &&
	          e.code == PROV_E_INPUT && strcmp(e.msg, msg) == 0,
	          "got \"%s\", want \"%s\"", e.msg, msg);
	CHECK(prov_jsregex_compile(pattern, len, &re, NULL) == PROV_E_INPUT && re == NULL);
}

static void test_limits(void)
{
	char buf[PROV_JSREGEX_MAX_LEN + 2];
	size_t n = 0;
	prov_jsregex *re;
	prov_err e;
	int m;

	memset(buf, 'a', sizeof(buf));
	re = compile(buf, PROV_JSREGEX_MAX_LEN);
	if (re != NULL)
		CHECK(search(re, buf, PROV_JSREGEX_MAX_LEN) == 1 && search(re, buf, 10) == 0);
	prov_jsregex_free(re);
	expect_refused(buf, PROV_JSREGEX_MAX_LEN + 1, "too large at offset 1024: longer than 1024 bytes");

	prov_jsregex_free(compile("a{1000}", 7));
	expect_refused("a{1001}", 7, "too large at offset 1: repeat count above 1000");
	expect_refused("a{99999999999999999999}", 23, "too large at offset 1: repeat count above 1000");

	/* "." counts 40, the anchor 1 */
	prov_jsregex_free(compile(".{249}$", 7));
	expect_refused(".{250}$", 7, "too large at offset 6: expands beyond the size limit of 10000");
	expect_refused("(?:.{100}){3}", 13, "too large at offset 10: expands beyond the size limit of 10000");

	/* ^ and $, counted with their copies */
	memset(buf, '$', PROV_JSREGEX_MAX_ANCHORS + 1);
	prov_jsregex_free(compile(buf, PROV_JSREGEX_MAX_ANCHORS));
	expect_refused(buf, PROV_JSREGEX_MAX_ANCHORS + 1,
	               "too large at offset 16: more than 16 ^ and $ once repetition is expanded");
	prov_jsregex_free(compile("(?:^a|b$){8}", 12));
	expect_refused("(?:^a|b$){8}$", 13,
	               "too large at offset 12: more than 16 ^ and $ once repetition is expanded");
	/* loops whose body can match "" */
	expect_refused("(?:a|$)*", 8, "not supported at offset 7: *, + or {n,} on a group that can match the empty string");
	expect_refused("(?:(?:$)?){2,}", 14,
	               "not supported at offset 10: *, + or {n,} on a group that can match the empty string");
	expect_refused("(?:a?b?)+", 9, "not supported at offset 8: *, + or {n,} on a group that can match the empty string");
	expect_refused("(?:){0,20}(?:a?)*", 17,
	               "not supported at offset 16: *, + or {n,} on a group that can match the empty string");
	prov_jsregex_free(compile("(?:a$)*(?:a?b)+(?:|c){2}", 24));

	for (int i = 0; i < PROV_JSREGEX_MAX_DEPTH; i++)
		buf[n++] = '(';
	for (int i = 0; i < PROV_JSREGEX_MAX_DEPTH; i++)
		buf[n++] = ')';
	prov_jsregex_free(compile(buf, n));
	memmove(buf + 1, buf, n);
	buf[0] = '(';
	buf[++n] = ')';
	expect_refused(buf, n + 1, "too large at offset 32: groups nested deeper than 32");

	/* The subject must be UTF-8; an error pointer may be NULL. */
	re = compile("a", 1);
	if (re != NULL) {
		CHECK(prov_jsregex_search(re, "a\xff", 2, &m, &e) == PROV_E_INTERNAL && m == 0 &&
		      strcmp(e.msg, "regular expression: subject is not UTF-8") == 0);
		CHECK(prov_jsregex_search(re, "\xed\xa0\x80" "a", 4, &m, NULL) == PROV_E_INTERNAL);
		CHECK(prov_jsregex_search(re, "a", 1, &m, NULL) == PROV_OK && m == 1);
	}
	prov_jsregex_free(re);
	prov_jsregex_free(NULL);
	/* A pattern that is not UTF-8 is a syntax error, not a crash. */
	expect_refused("a\xc3", 2, "syntax error at offset 1: not UTF-8");
	expect_refused("[\xe2\x82]", 4, "syntax error at offset 1: not UTF-8");
}

static int eval_pairs(const char *path)
{
	json_error_t jerr;
	json_t *pairs = json_load_file(path, JSON_ALLOW_NUL, &jerr);

	if (!json_is_array(pairs)) {
		fprintf(stderr, "test_jsregex: %s:%d: %s\n", path, jerr.line, jerr.text);
		json_decref(pairs);
		return 2;
	}
	for (size_t i = 0; i < json_array_size(pairs); i++) {
		const json_t *p = json_array_get(json_array_get(pairs, i), 0);
		const json_t *s = json_array_get(json_array_get(pairs, i), 1);
		prov_jsregex *re = NULL;
		prov_err e;
		int m;

		if (!json_is_string(p) || !json_is_string(s)) {
			printf("malformed\n");
		} else if (prov_jsregex_compile(json_string_value(p), json_string_length(p), &re, &e) != PROV_OK) {
			printf("refused: %s\n", e.msg);
		} else if (prov_jsregex_search(re, json_string_value(s), json_string_length(s), &m, &e) != PROV_OK) {
			printf("error: %s\n", e.msg);
		} else {
			printf("%d\n", m);
		}
		prov_jsregex_free(re);
	}
	json_decref(pairs);
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--eval") == 0)
		return eval_pairs(argv[2]);
	in_buf = malloc(4 * (CP_MAX + 1));
	out_buf = malloc(4 * (CP_MAX + 1));
	CHECK(in_buf != NULL && out_buf != NULL);
	if (in_buf != NULL && out_buf != NULL) {
		test_sets("C locale");
		test_ascii();
		/* The program's locale must not matter: the library runs regcomp and
		 * regexec in a "C" locale of the calling thread. */
		CHECK(setlocale(LC_ALL, "C.UTF-8") != NULL);
		test_sets("after setlocale C.UTF-8");
		test_ascii();
	}
	free(in_buf);
	free(out_buf);
	test_threads();
	test_limits();
	return check_done("test_jsregex");
}
