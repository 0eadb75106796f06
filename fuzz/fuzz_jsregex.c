/*
 * fuzz_jsregex.c - libFuzzer target for JSON Schema regular expressions
 * (prov/jsregex.h): the ECMA-262 translator and the searches it sets up.
 *
 * Input: two bytes of pattern length (big-endian, taken modulo what is left),
 * the pattern, then the string to search.  Both may hold any bytes.
 * Properties:
 *  - a refused pattern gets PROV_E_INPUT with "<kind> at offset N: ..." in
 *    printable ASCII only; PROV_E_INTERNAL (a translation regcomp refuses) is a
 *    bug;
 *  - an accepted pattern searches any UTF-8 string, and refuses one that is not;
 *  - the same verdict from (?:P), P|[] and (?:P){1}, whenever those compile.
 * The verdicts themselves are compared with V8 by tests/js/regex_differential.js.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/jsregex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "fuzz_jsregex: %s: %s\n", what, msg);
	abort();
}

static int is_utf8(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t c = s[i], min;
		size_t len;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			len = 2, c &= 0x1F, min = 0x80;
		else if (c >= 0xE0 && c <= 0xEF)
			len = 3, c &= 0x0F, min = 0x800;
		else if (c >= 0xF0 && c <= 0xF4)
			len = 4, c &= 0x07, min = 0x10000;
		else
			return 0;
		if (n - i < len)
			return 0;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			c = (c << 6) | (s[i + k] & 0x3F);
		}
		if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
			return 0;
		i += len;
	}
	return 1;
}

/* Compile; NULL when refused (checked to be a proper refusal). */
static prov_jsregex *compile(const uint8_t *p, size_t n)
{
	prov_jsregex *re = NULL;
	prov_err e;
	prov_status st = prov_jsregex_compile((const char *)p, n, &re, &e);

	if (st == PROV_OK) {
		if (re == NULL)
			die("compile", "PROV_OK without an expression");
		return re;
	}
	if (st != PROV_E_INPUT || re != NULL)
		die("compile", e.msg);
	if (strncmp(e.msg, "syntax error at offset ", 23) != 0 &&
	    strncmp(e.msg, "not supported at offset ", 24) != 0 &&
	    strncmp(e.msg, "too large at offset ", 20) != 0)
		die("refusal without its kind", e.msg);
	for (const char *m = e.msg; *m != '\0'; m++) {
		if (*m < 0x20 || *m > 0x7E)
			die("refusal message not printable ASCII", e.msg);
	}
	return NULL;
}

/* 1, 0, or -1 for a string that is not UTF-8. */
static int search(const prov_jsregex *re, const uint8_t *s, size_t n)
{
	prov_err e;
	int m = -1;
	prov_status st = prov_jsregex_search(re, (const char *)s, n, &m, &e);

	if (is_utf8(s, n)) {
		if (st != PROV_OK || (m != 0 && m != 1))
			die("search", st == PROV_OK ? "no verdict" : e.msg);
		return m;
	}
	if (st != PROV_E_INTERNAL || m != 0)
		die("search", "a string that is not UTF-8 was searched");
	return -1;
}

/* prefix + P + suffix gives the same verdict as P, if it compiles. */
static void same_as(const uint8_t *p, size_t n, const char *prefix, const char *suffix,
                    const uint8_t *s, size_t sn, int want)
{
	size_t pl = strlen(prefix), sl = strlen(suffix);
	uint8_t *q = malloc(pl + n + sl);
	prov_jsregex *re;

	if (q == NULL)
		return;
	memcpy(q, prefix, pl);
	memcpy(q + pl, p, n);
	memcpy(q + pl + n, suffix, sl);
	re = compile(q, pl + n + sl);
	if (re != NULL && search(re, s, sn) != want)
		die("rewritten pattern", prefix);
	prov_jsregex_free(re);
	free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p, *s;
	size_t pn, sn;
	prov_jsregex *re;
	int m;

	if (size < 2)
		return 0;
	pn = ((size_t)data[0] << 8 | data[1]) % (size - 1);
	p = data + 2;
	s = p + pn;
	sn = size - 2 - pn;
	re = compile(p, pn);
	if (re == NULL)
		return 0;
	m = search(re, s, sn);
	search(re, (const uint8_t *)"", 0);
	search(re, p, pn);
	prov_jsregex_free(re);
	if (m < 0)
		return 0;
	same_as(p, pn, "(?:", ")", s, sn, m);
	same_as(p, pn, "", "|[]", s, sn, m);
	same_as(p, pn, "(?:", "){1}", s, sn, m);
	return 0;
}
