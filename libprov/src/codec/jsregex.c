/*
 * jsregex.c - JSON Schema (ECMA-262, "u" flag) regular expressions translated to
 * POSIX EREs over UTF-8 bytes (see prov/jsregex.h for the accepted subset).
 *
 * The translation is a recursive descent over ECMA-262's pattern grammar
 * (ECMA-262 section 22.2.1, [+UnicodeMode]) that writes the ERE as it goes:
 *
 *  - Every set of code points (a literal, ".", \d, a class, ...) is normalised to
 *    sorted ranges and written as an alternation of UTF-8 byte sequences, e.g.
 *    U+0080..U+07FF as [\xC2-\xDF][\x80-\xBF].  Byte ranges are safe in the "C"
 *    locale, where regcomp compares bytes; glibc cannot take multibyte range ends
 *    at all (C.UTF-8 gives REG_ECOLLATE), and a UTF-8 locale's ranges would follow
 *    collation.  The subject is valid UTF-8 (jansson checks), so a match of whole
 *    sequences is a match of code points.  U+0000 cannot be written in a C-string
 *    ERE; [^\x01-\xFF] matches exactly that byte.  The empty set is ($a): "$"
 *    is an anchor anywhere in an ERE, so nothing can follow it.
 *  - The search is written as one anchored match, ^(any code point)*(P):
 *    glibc's own unanchored search restarts at every position and is quadratic
 *    ((a|aa)*b takes 13 s on 100 KB of "a"); this form is a single DFA pass, and
 *    P starts on a code point boundary as ECMA-262 with "u" starts it.
 *  - ^ and $ are ERE anchors at the ends of the subject (REG_NEWLINE is off), as
 *    ECMA-262's without the "m" flag.  But glibc's DFA still lets "$" match before
 *    a "\n" that the expression goes on to consume, and "^" after one ("$\n"
 *    finds "a\n"), so U+000A is written as the byte 0xFE in the expression and in
 *    a copy of the subject: UTF-8 never holds 0xFE, and no "\n" byte is left.
 *  - regcomp sees no + and no {}: they are written out as copies (see
 *    parse_quantifier), since glibc's own copies of a group lose its anchors.
 *  - Lazy quantifiers become greedy: a search that only asks whether a match
 *    exists has the same answer.
 *
 * These are checked against V8 on about a million random patterns and strings
 * (tests/js/regex_differential.js), and every code point set against every
 * scalar value (tests/unit/test_jsregex.c).
 *
 * Size: every parse function returns the size of the ERE it wrote, copies
 * included: the byte matchers of each set, but at least ATOM_MIN_SIZE for any
 * atom, since regcomp's epsilon closures grow with the square of the optional
 * copies in a row ((?:(?:(?:a|b){0,20}){0,20}){0,12}, 4,800 copies, takes 1.1 GB).
 * PROV_JSREGEX_MAX_SIZE bounds the total, PROV_JSREGEX_MAX_ANCHORS the ^ and $.
 */
#include "prov/jsregex.h"

#include <locale.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CP_MAX 0x10FFFFu
/* The byte that stands for U+000A on both sides (see above). */
#define NL_BYTE 0xFEu
/* The size every atom counts at least (see "Size" above). */
#define ATOM_MIN_SIZE 8
#define SURR_LO 0xD800u
#define SURR_HI 0xDFFFu

struct prov_jsregex {
	regex_t re;
};

/* ---- The output: a growing C string. ---- */

struct obuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void ob_putn(struct obuf *o, const char *s, size_t n)
{
	if (o->oom)
		return;
	if (o->len + n + 1 > o->cap) {
		size_t cap = o->cap != 0 ? o->cap : 256;
		char *p;

		while (o->len + n + 1 > cap)
			cap *= 2;
		p = realloc(o->p, cap);
		if (p == NULL) {
			o->oom = 1;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void ob_puts(struct obuf *o, const char *s)
{
	ob_putn(o, s, strlen(s));
}

static void ob_putc(struct obuf *o, unsigned char c)
{
	char ch = (char)c;

	ob_putn(o, &ch, 1);
}

/* ---- Sets of code points: ranges, normalised to sorted and disjoint. ---- */

struct range {
	uint32_t lo, hi;
};

struct cpset {
	struct range *r;
	size_t n, cap;
	int oom;
};

static void cpset_add(struct cpset *s, uint32_t lo, uint32_t hi)
{
	if (s->oom)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap != 0 ? s->cap * 2 : 8;
		struct range *r = realloc(s->r, cap * sizeof(*r));

		if (r == NULL) {
			s->oom = 1;
			return;
		}
		s->r = r;
		s->cap = cap;
	}
	s->r[s->n].lo = lo;
	s->r[s->n].hi = hi;
	s->n++;
}

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Sort, then merge overlapping and adjacent ranges. */
static void cpset_normalize(struct cpset *s)
{
	size_t k = 0;

	if (s->n == 0)
		return;
	qsort(s->r, s->n, sizeof(s->r[0]), range_cmp);
	for (size_t i = 1; i < s->n; i++) {
		if (s->r[i].lo <= s->r[k].hi + 1) {
			if (s->r[i].hi > s->r[k].hi)
				s->r[k].hi = s->r[i].hi;
		} else {
			s->r[++k] = s->r[i];
		}
	}
	s->n = k + 1;
}

/* Replace a normalised set by its complement in U+0000..U+10FFFF. */
static void cpset_complement(struct cpset *s)
{
	struct cpset c = { NULL, 0, 0, 0 };
	uint32_t next = 0;

	for (size_t i = 0; i < s->n; i++) {
		if (s->r[i].lo > next)
			cpset_add(&c, next, s->r[i].lo - 1);
		next = s->r[i].hi + 1;
	}
	if (next <= CP_MAX)
		cpset_add(&c, next, CP_MAX);
	c.oom |= s->oom;
	free(s->r);
	*s = c;
}

/* Remove U+D800..U+DFFF from a normalised set: no UTF-8 string holds them, and
 * they have no UTF-8 form to write. */
static void cpset_drop_surrogates(struct cpset *s)
{
	struct cpset c = { NULL, 0, 0, 0 };

	for (size_t i = 0; i < s->n; i++) {
		uint32_t lo = s->r[i].lo, hi = s->r[i].hi;

		if (hi < SURR_LO || lo > SURR_HI) {
			cpset_add(&c, lo, hi);
			continue;
		}
		if (lo < SURR_LO)
			cpset_add(&c, lo, SURR_LO - 1);
		if (hi > SURR_HI)
			cpset_add(&c, SURR_HI + 1, hi);
	}
	c.oom |= s->oom;
	free(s->r);
	*s = c;
}

/* ECMA-262 22.2.2.9 CharacterClassEscape, without the "i" flag. */
static const struct range digit_ranges[] = { { '0', '9' } };
static const struct range word_ranges[] = {
	{ '0', '9' }, { 'A', 'Z' }, { '_', '_' }, { 'a', 'z' },
};
/* WhiteSpace (12.2: TAB VT FF SP NBSP ZWNBSP and the Space_Separator code points
 * of Unicode 15) and LineTerminator (12.3: LF CR LS PS). */
static const struct range space_ranges[] = {
	{ 0x09, 0x0D }, { 0x20, 0x20 }, { 0xA0, 0xA0 }, { 0x1680, 0x1680 },
	{ 0x2000, 0x200A }, { 0x2028, 0x2029 }, { 0x202F, 0x202F }, { 0x205F, 0x205F },
	{ 0x3000, 0x3000 }, { 0xFEFF, 0xFEFF },
};
/* "." without the "s" flag: everything but the LineTerminators. */
static const struct range line_ranges[] = {
	{ 0x0A, 0x0A }, { 0x0D, 0x0D }, { 0x2028, 0x2029 },
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Add \d \D \w \W \s \S (letter) or "." to s. */
static void cpset_add_escape(struct cpset *s, int letter)
{
	struct cpset tmp = { NULL, 0, 0, 0 };
	const struct range *r;
	size_t n;
	int negate = letter == 'D' || letter == 'W' || letter == 'S' || letter == '.';

	switch (letter) {
	case 'd': case 'D': r = digit_ranges; n = N_OF(digit_ranges); break;
	case 'w': case 'W': r = word_ranges; n = N_OF(word_ranges); break;
	case 's': case 'S': r = space_ranges; n = N_OF(space_ranges); break;
	default: r = line_ranges; n = N_OF(line_ranges); break;
	}
	for (size_t i = 0; i < n; i++)
		cpset_add(&tmp, r[i].lo, r[i].hi);
	if (negate)
		cpset_complement(&tmp);
	for (size_t i = 0; i < tmp.n; i++)
		cpset_add(s, tmp.r[i].lo, tmp.r[i].hi);
	s->oom |= tmp.oom;
	free(tmp.r);
}

/* ---- Writing sets as EREs over bytes. ---- */

static int is_alnum(unsigned c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/* One byte (not 0) as an ERE atom.  In a C-locale ERE, control bytes and bytes
 * above 0x7F are ordinary characters; punctuation goes in a bracket, where only
 * "]" first, "^" first and "[" before ".:=" are special, none of which a
 * one-byte bracket has, except "^", which is escaped. */
static void put_byte_atom(struct obuf *o, unsigned c)
{
	if (is_alnum(c) || c < 0x20 || c >= 0x7F) {
		ob_putc(o, (unsigned char)c);
	} else if (c == '^') {
		ob_puts(o, "\\^");
	} else {
		ob_putc(o, '[');
		ob_putc(o, (unsigned char)c);
		ob_putc(o, ']');
	}
}

static int bit_get(const uint8_t *map, unsigned c)
{
	return (map[c >> 3] >> (c & 7)) & 1;
}

/* A set of bytes 1..0xFF as one ERE atom.  POSIX brackets have no escapes, so
 * the characters special in them are placed where they are literal: "]" first,
 * "[" followed by "^", "-" or "]" only, "^" not first, "-" last. */
static void put_byte_set(struct obuf *o, const uint8_t *map)
{
	static const char special[] = "]^-[";
	unsigned count = 0, only = 0;

	for (unsigned c = 1; c < 256; c++) {
		if (bit_get(map, c)) {
			count++;
			only = c;
		}
	}
	if (count == 1) {
		put_byte_atom(o, only);
		return;
	}
	if (count == 2 && bit_get(map, '^') && bit_get(map, '-')) {
		ob_puts(o, "[-^]");  /* "^" would otherwise come first */
		return;
	}
	ob_putc(o, '[');
	if (bit_get(map, ']'))
		ob_putc(o, ']');
	for (unsigned c = 1; c < 256; c++) {
		unsigned end = c;

		if (!bit_get(map, c) || strchr(special, (int)c) != NULL)
			continue;
		while (end + 1 < 256 && bit_get(map, end + 1) && strchr(special, (int)(end + 1)) == NULL)
			end++;
		ob_putc(o, (unsigned char)c);
		if (end > c + 1)
			ob_putc(o, '-');
		if (end > c)
			ob_putc(o, (unsigned char)end);
		c = end;
	}
	if (bit_get(map, '['))
		ob_putc(o, '[');
	if (bit_get(map, '^'))
		ob_putc(o, '^');
	if (bit_get(map, '-'))
		ob_putc(o, '-');
	ob_putc(o, ']');
}

static size_t utf8_encode(uint32_t c, unsigned char *b)
{
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

/* Write lo..hi (non-ASCII, one encoded length, no surrogates) as alternatives,
 * each a sequence of byte ranges: split until every byte position of the range
 * varies independently (the construction of RE2's and Rust regex's UTF-8
 * automata).  Returns the byte matchers written. */
static size_t put_utf8_range(struct obuf *o, uint32_t lo, uint32_t hi, size_t *nalts)
{
	unsigned char a[4], b[4];
	size_t n = utf8_encode(lo, a);

	for (size_t i = 1; i < n; i++) {
		uint32_t m = (1u << (6 * i)) - 1;

		if ((lo & ~m) == (hi & ~m))
			continue;
		if ((lo & m) != 0)
			return put_utf8_range(o, lo, lo | m, nalts) +
			       put_utf8_range(o, (lo | m) + 1, hi, nalts);
		if ((hi & m) != m)
			return put_utf8_range(o, lo, (hi & ~m) - 1, nalts) +
			       put_utf8_range(o, hi & ~m, hi, nalts);
	}
	utf8_encode(hi, b);
	if ((*nalts)++ > 0)
		ob_putc(o, '|');
	for (size_t k = 0; k < n; k++) {
		if (a[k] == b[k]) {
			ob_putc(o, a[k]);
		} else {
			ob_putc(o, '[');
			ob_putc(o, a[k]);
			ob_putc(o, '-');
			ob_putc(o, b[k]);
			ob_putc(o, ']');
		}
	}
	return n;
}

/* A normalised set without surrogates as one ERE atom; returns its size. */
static size_t put_set(struct obuf *o, const struct cpset *s)
{
	static const uint32_t len_end[] = { 0x7FF, 0xFFFF, CP_MAX };  /* 2, 3, 4 bytes */
	uint8_t ascii[32];
	int nul = 0, any_ascii = 0, multi = 0;
	size_t size = 0, nalts = 0;

	memset(ascii, 0, sizeof(ascii));
	for (size_t i = 0; i < s->n; i++) {
		if (s->r[i].lo == 0)
			nul = 1;
		for (uint32_t c = s->r[i].lo > 0 ? s->r[i].lo : 1; c <= s->r[i].hi && c < 0x80; c++) {
			uint32_t b = c == 0x0A ? NL_BYTE : c;

			ascii[b >> 3] |= (uint8_t)(1u << (b & 7));
			any_ascii = 1;
		}
		if (s->r[i].hi >= 0x80)
			multi = 1;
	}
	if (s->n == 0) {
		ob_puts(o, "($a)");
		return 1;
	}
	if (!nul && !multi) {
		put_byte_set(o, ascii);
		return 1;
	}
	ob_putc(o, '(');
	if (nul) {
		ob_puts(o, "[^\x01-\xff]");
		nalts++;
		size++;
	}
	if (any_ascii) {
		if (nalts++ > 0)
			ob_putc(o, '|');
		put_byte_set(o, ascii);
		size++;
	}
	for (size_t i = 0; i < s->n; i++) {
		uint32_t lo = s->r[i].lo < 0x80 ? 0x80 : s->r[i].lo;

		for (size_t k = 0; k < N_OF(len_end) && lo <= s->r[i].hi; k++) {
			uint32_t hi = s->r[i].hi < len_end[k] ? s->r[i].hi : len_end[k];

			if (lo > len_end[k])
				continue;
			size += put_utf8_range(o, lo, hi, &nalts);
			lo = hi + 1;
		}
	}
	ob_putc(o, ')');
	return size;
}

/* ---- The parser. ---- */

struct tr {
	const unsigned char *p;
	size_t len, pos;
	struct obuf out;
	prov_err *e;
	prov_status st;  /* PROV_OK until the first error, which is kept */
	size_t assertions;  /* ^ and $ in the ERE so far, copies included */
};

static size_t sat_add(size_t a, size_t b)
{
	return a + b < a ? SIZE_MAX : a + b;
}

static size_t sat_mul(size_t a, size_t b)
{
	return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

/* Code points before byte `at`: the offset in messages. */
static size_t cp_offset(const struct tr *t, size_t at)
{
	size_t n = 0;

	for (size_t i = 0; i < at && i < t->len; i++)
		n += (t->p[i] & 0xC0) != 0x80;
	return n;
}

static void tr_fail(struct tr *t, size_t at, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "<kind> at offset N: <what>".  The first error wins. */
static void tr_fail(struct tr *t, size_t at, const char *kind, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	if (t->st != PROV_OK)
		return;
	va_start(ap, fmt);
	if (vsnprintf(what, sizeof(what), fmt, ap) < 0)
		what[0] = '\0';
	va_end(ap);
	t->st = prov_err_set(t->e, PROV_E_INPUT, "%s at offset %zu: %s", kind, cp_offset(t, at), what);
}

static void tr_oom(struct tr *t)
{
	if (t->st == PROV_OK)
		t->st = prov_err_set(t->e, PROV_E_INTERNAL, "regular expression: out of memory");
}

#define SYNTAX "syntax error"
#define UNSUPPORTED "not supported"
#define TOO_LARGE "too large"

static int peek(const struct tr *t, size_t k)
{
	return t->pos + k < t->len ? t->p[t->pos + k] : -1;
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ECMA-262 SyntaxCharacter, and "/": what "\" may escape as itself with "u". */
static int is_identity_escape(int c)
{
	return c >= 0 && c != 0 && strchr("^$\\.*+?()[]{}|/", c) != NULL;
}

static int is_quantifier(int c)
{
	return c == '*' || c == '+' || c == '?' || c == '{';
}

/* Decode one UTF-8 character of s[0..left), left > 0, strictly: no overlong
 * forms, no surrogates.  0 if the bytes are not UTF-8. */
static int utf8_decode(const unsigned char *s, size_t left, uint32_t *cp, size_t *n)
{
	uint32_t c = s[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		*n = 1;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		len = 2, c &= 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3, c &= 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (left < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > CP_MAX || (c >= SURR_LO && c <= SURR_HI))
		return 0;
	*cp = c;
	*n = len;
	return 1;
}

/* The character at t->pos (which is before the end). */
static int decode(const struct tr *t, uint32_t *cp, size_t *n)
{
	return utf8_decode(t->p + t->pos, t->len - t->pos, cp, n);
}

/* The character after "\" at t->pos, for a message: \q, or "\ before U+00E9". */
static void escape_name(const struct tr *t, char *buf, size_t len)
{
	uint32_t c;
	size_t n;

	if (t->pos < t->len && decode(t, &c, &n) && c > 0x20 && c < 0x7F)
		snprintf(buf, len, "\\%c", (char)c);
	else if (t->pos < t->len && decode(t, &c, &n))
		snprintf(buf, len, "\\ before U+%04X", (unsigned)c);
	else
		snprintf(buf, len, "\\ before a byte that is not UTF-8");
}

/* Four hex digits at t->pos + k, or -1. */
static long hex4(const struct tr *t, size_t k)
{
	long v = 0;

	for (size_t i = 0; i < 4; i++) {
		int h = hex_value(peek(t, k + i));

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* \u escapes, t->pos at the "u"; `at` is the "\".  RegExpUnicodeEscapeSequence
 * with "u": \uHHHH, a surrogate pair \uHHHH\uHHHH, or \u{H...}. */
static uint32_t parse_unicode_escape(struct tr *t, size_t at)
{
	long v;

	if (peek(t, 1) == '{') {
		uint32_t c = 0;
		size_t k = 2;

		if (hex_value(peek(t, k)) < 0) {
			tr_fail(t, at, SYNTAX, "\\u{ without hex digits");
			return 0;
		}
		for (; hex_value(peek(t, k)) >= 0; k++) {
			c = c * 16 + (uint32_t)hex_value(peek(t, k));
			if (c > CP_MAX) {
				tr_fail(t, at, SYNTAX, "\\u{...} above U+10FFFF");
				return 0;
			}
		}
		if (peek(t, k) != '}') {
			tr_fail(t, at, SYNTAX, "\\u{ without its }");
			return 0;
		}
		if (c >= SURR_LO && c <= SURR_HI) {
			tr_fail(t, at, UNSUPPORTED, "lone surrogate \\u{%X}", (unsigned)c);
			return 0;
		}
		t->pos += k + 1;
		return c;
	}
	if ((v = hex4(t, 1)) < 0) {
		tr_fail(t, at, SYNTAX, "\\u needs four hex digits or {...}");
		return 0;
	}
	if (v >= 0xD800 && v <= 0xDBFF && peek(t, 5) == '\\' && peek(t, 6) == 'u') {
		long lo = hex4(t, 7);

		if (lo >= 0xDC00 && lo <= 0xDFFF) {
			t->pos += 11;
			return 0x10000 + (((uint32_t)v - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
		}
	}
	if (v >= (long)SURR_LO && v <= (long)SURR_HI) {
		tr_fail(t, at, UNSUPPORTED, "lone surrogate \\u%04lX", v);
		return 0;
	}
	t->pos += 5;
	return (uint32_t)v;
}

/* CharacterEscape (and, in a class, \b and \-), t->pos after the "\" at `at`. */
static uint32_t parse_char_escape(struct tr *t, size_t at, int in_class)
{
	int c = peek(t, 0);
	char name[48];

	switch (c) {
	case 'f': t->pos++; return 0x0C;
	case 'n': t->pos++; return 0x0A;
	case 'r': t->pos++; return 0x0D;
	case 't': t->pos++; return 0x09;
	case 'v': t->pos++; return 0x0B;
	case 'c': {
		int l = peek(t, 1);

		if ((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z')) {
			t->pos += 2;
			return (uint32_t)l % 32;
		}
		tr_fail(t, at, SYNTAX, "\\c not followed by an ASCII letter");
		return 0;
	}
	case '0':
		if (is_digit(peek(t, 1))) {
			tr_fail(t, at, SYNTAX, "\\0 followed by a digit");
			return 0;
		}
		t->pos++;
		return 0;
	case 'x': {
		int h1 = hex_value(peek(t, 1)), h2 = hex_value(peek(t, 2));

		if (h1 < 0 || h2 < 0) {
			tr_fail(t, at, SYNTAX, "\\x needs two hex digits");
			return 0;
		}
		t->pos += 3;
		return (uint32_t)(h1 * 16 + h2);
	}
	case 'u':
		return parse_unicode_escape(t, at);
	default:
		break;
	}
	if (in_class && (c == 'b' || c == '-')) {
		t->pos++;
		return c == 'b' ? 0x08 : '-';
	}
	if (is_identity_escape(c)) {
		t->pos++;
		return (uint32_t)c;
	}
	escape_name(t, name, sizeof(name));
	tr_fail(t, at, SYNTAX, "unknown escape %s", name);
	return 0;
}

/* A set as the next atom: normalise, drop surrogates, write. */
static size_t emit_set(struct tr *t, struct cpset *s)
{
	size_t size;

	cpset_normalize(s);
	cpset_drop_surrogates(s);
	if (s->oom) {
		tr_oom(t);
		return 0;
	}
	size = put_set(&t->out, s);
	if (size < ATOM_MIN_SIZE)
		size = ATOM_MIN_SIZE;
	free(s->r);
	s->r = NULL;
	s->n = s->cap = 0;
	return size;
}

static size_t emit_one(struct tr *t, uint32_t c)
{
	struct cpset s = { NULL, 0, 0, 0 };

	cpset_add(&s, c, c);
	return emit_set(t, &s);
}

static size_t emit_escape_set(struct tr *t, int letter)
{
	struct cpset s = { NULL, 0, 0, 0 };

	cpset_add_escape(&s, letter);
	return emit_set(t, &s);
}

/* One ClassAtom: a code point, or a class escape (its letter in *escape). */
struct class_atom {
	size_t at;
	int escape;  /* 'd', 'D', 'w', 'W', 's', 'S' or 0 */
	uint32_t cp;
};

static void parse_class_atom(struct tr *t, struct class_atom *a)
{
	size_t n;

	a->at = t->pos;
	a->escape = 0;
	a->cp = 0;
	if (peek(t, 0) == '\\') {
		int c = peek(t, 1);

		t->pos++;
		if (c < 0) {
			tr_fail(t, a->at, SYNTAX, "\\ at the end of the pattern");
		} else if (c != 0 && strchr("dDwWsS", c) != NULL) {
			a->escape = c;
			t->pos++;
		} else if (c == 'p' || c == 'P') {
			tr_fail(t, a->at, UNSUPPORTED, "Unicode property escape \\%c", c);
		} else {
			a->cp = parse_char_escape(t, a->at, 1);
		}
		return;
	}
	if (!decode(t, &a->cp, &n)) {
		tr_fail(t, a->at, SYNTAX, "not UTF-8");
		return;
	}
	t->pos += n;
}

static void class_add(struct cpset *s, const struct class_atom *a)
{
	if (a->escape != 0)
		cpset_add_escape(s, a->escape);
	else
		cpset_add(s, a->cp, a->cp);
}

/* CharacterClass, t->pos at the "[". */
static size_t parse_class(struct tr *t)
{
	struct cpset s = { NULL, 0, 0, 0 };
	size_t at = t->pos;
	int negate = 0;

	t->pos++;
	if (peek(t, 0) == '^') {
		negate = 1;
		t->pos++;
	}
	while (t->st == PROV_OK) {
		struct class_atom a, b;

		if (peek(t, 0) < 0) {
			tr_fail(t, at, SYNTAX, "[ without its ]");
			break;
		}
		if (peek(t, 0) == ']') {
			t->pos++;
			break;
		}
		parse_class_atom(t, &a);
		if (t->st != PROV_OK)
			break;
		if (peek(t, 0) != '-' || peek(t, 1) == ']' || peek(t, 1) < 0) {
			class_add(&s, &a);
			continue;
		}
		t->pos++;
		parse_class_atom(t, &b);
		if (t->st != PROV_OK)
			break;
		if (a.escape != 0 || b.escape != 0)
			tr_fail(t, a.at, SYNTAX, "class escape as a range end");
		else if (a.cp > b.cp)
			tr_fail(t, a.at, SYNTAX, "range out of order");
		else
			cpset_add(&s, a.cp, b.cp);
	}
	if (t->st != PROV_OK) {
		free(s.r);
		return 0;
	}
	cpset_normalize(&s);
	if (negate)
		cpset_complement(&s);
	return emit_set(t, &s);
}

static size_t parse_disjunction(struct tr *t, unsigned depth, int *nullable);

/* AtomEscape outside a class, t->pos at the "\". */
static size_t parse_atom_escape(struct tr *t)
{
	size_t at = t->pos;
	int c = peek(t, 1);
	uint32_t cp;

	t->pos++;
	if (c < 0) {
		tr_fail(t, at, SYNTAX, "\\ at the end of the pattern");
		return 0;
	}
	if (c != 0 && strchr("dDwWsS", c) != NULL) {
		t->pos++;
		return emit_escape_set(t, c);
	}
	if (c == 'p' || c == 'P') {
		tr_fail(t, at, UNSUPPORTED, "Unicode property escape \\%c", c);
		return 0;
	}
	if (c >= '1' && c <= '9') {
		tr_fail(t, at, UNSUPPORTED, "backreference \\%c", c);
		return 0;
	}
	if (c == 'k') {
		tr_fail(t, at, UNSUPPORTED, "named backreference \\k");
		return 0;
	}
	cp = parse_char_escape(t, at, 0);
	if (t->st != PROV_OK)
		return 0;
	return emit_one(t, cp);
}

/* A group, t->pos at the "(".  *nullable: whether it can match "". */
static size_t parse_group(struct tr *t, unsigned depth, int *nullable)
{
	size_t at = t->pos, size;

	if (peek(t, 1) == '?') {
		int c = peek(t, 2);

		if (c == '=' || c == '!') {
			tr_fail(t, at, UNSUPPORTED, "lookahead (?%c", c);
			return 0;
		}
		if (c == '<' && (peek(t, 3) == '=' || peek(t, 3) == '!')) {
			tr_fail(t, at, UNSUPPORTED, "lookbehind (?<%c", peek(t, 3));
			return 0;
		}
		if (c == '<') {
			tr_fail(t, at, UNSUPPORTED, "named group (?<name>");
			return 0;
		}
		if (c != ':') {
			tr_fail(t, at, UNSUPPORTED, "group syntax (? other than (?:");
			return 0;
		}
		t->pos += 3;
	} else {
		t->pos++;
	}
	if (depth >= PROV_JSREGEX_MAX_DEPTH) {
		tr_fail(t, at, TOO_LARGE, "groups nested deeper than %d", PROV_JSREGEX_MAX_DEPTH);
		return 0;
	}
	ob_putc(&t->out, '(');
	size = parse_disjunction(t, depth + 1, nullable);
	if (t->st != PROV_OK)
		return 0;
	if (peek(t, 0) != ')') {
		tr_fail(t, at, SYNTAX, "( without its )");
		return 0;
	}
	t->pos++;
	ob_putc(&t->out, ')');
	return size > ATOM_MIN_SIZE ? size : ATOM_MIN_SIZE;
}

/* An atom; *nullable: whether it can match "" (only a group can). */
static size_t parse_atom(struct tr *t, unsigned depth, int *nullable)
{
	int c = peek(t, 0);
	uint32_t cp;
	size_t n;

	*nullable = 0;
	switch (c) {
	case '.':
		t->pos++;
		return emit_escape_set(t, '.');
	case '(':
		return parse_group(t, depth, nullable);
	case '[':
		return parse_class(t);
	case '\\':
		return parse_atom_escape(t);
	case '*':
	case '+':
	case '?':
	case '{':
		tr_fail(t, t->pos, SYNTAX, "nothing to repeat before %c", c);
		return 0;
	case '}':
	case ']':
		tr_fail(t, t->pos, SYNTAX, "unescaped %c", c);
		return 0;
	default:
		break;
	}
	if (!decode(t, &cp, &n)) {
		tr_fail(t, t->pos, SYNTAX, "not UTF-8");
		return 0;
	}
	t->pos += n;
	return emit_one(t, cp);
}

/* Decimal digits at t->pos, saturating above the repeat limit. */
static unsigned long parse_count(struct tr *t)
{
	unsigned long v = 0;

	while (is_digit(peek(t, 0))) {
		if (v <= PROV_JSREGEX_MAX_REPEAT)
			v = v * 10 + (unsigned long)(peek(t, 0) - '0');
		t->pos++;
	}
	return v;
}

/* An optional quantifier after the atom written at t->out.p[atom_at..], of size
 * `size` and holding `anchors` ^ and $.  Only * and ? reach regcomp: x+ and x{n,m} are written
 * out as copies (xx*, xxx?x?), because glibc's own copies of a repeated group
 * lose anchors in it: it finds "(a+$){2}" in "aa", but not "(a+$)(a+$)". */
static size_t parse_quantifier(struct tr *t, size_t atom_at, size_t size, size_t anchors,
                               int *nullable)
{
	size_t at = t->pos, factor, atom_len;
	unsigned long lo, hi;
	int bounded = 1, c = peek(t, 0);
	char *atom;

	if (c == '*' || c == '+' || c == '?') {
		t->pos++;
		lo = c == '+';
		hi = c == '?';
		bounded = c == '?';
	} else if (c == '{') {
		t->pos++;
		if (!is_digit(peek(t, 0))) {
			tr_fail(t, at, SYNTAX, "incomplete quantifier {");
			return 0;
		}
		lo = hi = parse_count(t);
		if (peek(t, 0) == ',') {
			t->pos++;
			bounded = is_digit(peek(t, 0));
			if (bounded)
				hi = parse_count(t);
		}
		if (peek(t, 0) != '}') {
			tr_fail(t, at, SYNTAX, "incomplete quantifier {");
			return 0;
		}
		t->pos++;
		if (bounded && lo > hi) {
			tr_fail(t, at, SYNTAX, "numbers out of order in {} quantifier");
			return 0;
		}
		if (lo > PROV_JSREGEX_MAX_REPEAT || (bounded && hi > PROV_JSREGEX_MAX_REPEAT)) {
			tr_fail(t, at, TOO_LARGE, "repeat count above %d", PROV_JSREGEX_MAX_REPEAT);
			return 0;
		}
	} else {
		return size;
	}
	if (peek(t, 0) == '?')
		t->pos++;  /* lazy: the same verdict */
	if (is_quantifier(peek(t, 0))) {
		tr_fail(t, t->pos, SYNTAX, "nothing to repeat before %c", peek(t, 0));
		return 0;
	}
	if (*nullable && !bounded) {
		/* A loop of empty steps in regcomp's NFA: its epsilon closures are then
		 * recomputed along every path into the loop, exponentially
		 * ("(?:){0,20}(?:a?)*" takes 2.9 s, each further "(?:)?" doubles it). */
		tr_fail(t, at, UNSUPPORTED,
		        "*, + or {n,} on a group that can match the empty string");
		return 0;
	}
	if (lo == 0)
		*nullable = 1;
	/* copies written: lo, then hi - lo optional ones or one starred */
	factor = bounded ? hi : lo + 1;
	size = sat_mul(size, factor > 0 ? factor : 1);
	if (size > PROV_JSREGEX_MAX_SIZE) {
		tr_fail(t, at, TOO_LARGE, "expands beyond the size limit of %d",
		        PROV_JSREGEX_MAX_SIZE);
		return 0;
	}
	/* the atom's anchors are copied with it */
	t->assertions -= anchors;
	if (anchors > 0 && sat_mul(anchors, factor) > PROV_JSREGEX_MAX_ANCHORS) {
		tr_fail(t, at, TOO_LARGE, "more than %d ^ and $ once repetition is expanded",
		        PROV_JSREGEX_MAX_ANCHORS);
		return 0;
	}
	t->assertions += anchors * factor;
	if (t->assertions > PROV_JSREGEX_MAX_ANCHORS) {
		tr_fail(t, at, TOO_LARGE, "more than %d ^ and $ once repetition is expanded",
		        PROV_JSREGEX_MAX_ANCHORS);
		return 0;
	}
	if (t->out.oom)
		return size;
	if (lo == 0 && (!bounded || hi == 1)) {
		ob_putc(&t->out, bounded ? '?' : '*');
		return size;
	}
	atom_len = t->out.len - atom_at;
	atom = malloc(atom_len + 1);
	if (atom == NULL) {
		tr_oom(t);
		return 0;
	}
	memcpy(atom, t->out.p + atom_at, atom_len);
	t->out.len = atom_at;
	if (hi == 0)
		ob_puts(&t->out, "()");  /* x{0}: the empty string */
	for (unsigned long i = 0; i < lo; i++)
		ob_putn(&t->out, atom, atom_len);
	if (!bounded) {
		ob_putn(&t->out, atom, atom_len);
		ob_putc(&t->out, '*');
	}
	for (unsigned long i = lo; bounded && i < hi; i++) {
		ob_putn(&t->out, atom, atom_len);
		ob_putc(&t->out, '?');
	}
	free(atom);
	return size;
}

/* Term: an assertion, or an atom with an optional quantifier. */
/* *nullable: whether the term can match "" (an assertion can: it takes no
 * character). */
static size_t parse_term(struct tr *t, unsigned depth, int *nullable)
{
	int c = peek(t, 0);
	size_t size, atom_at, assertions;

	if (c == '^' || c == '$') {
		if (++t->assertions > PROV_JSREGEX_MAX_ANCHORS) {
			tr_fail(t, t->pos, TOO_LARGE, "more than %d ^ and $ once repetition is expanded",
			        PROV_JSREGEX_MAX_ANCHORS);
			return 0;
		}
		t->pos++;
		ob_putc(&t->out, (unsigned char)c);
		*nullable = 1;
		if (is_quantifier(peek(t, 0)))
			tr_fail(t, t->pos, SYNTAX, "nothing to repeat before %c", peek(t, 0));
		return 1;
	}
	if (c == '\\' && (peek(t, 1) == 'b' || peek(t, 1) == 'B')) {
		/* glibc's \b would be exact in the C locale, but regcomp's time and
		 * memory grow steeply with the word assertions in reach of each other
		 * (32 times "a*\b": 133 MB), beyond what PROV_JSREGEX_MAX_SIZE bounds. */
		tr_fail(t, t->pos, UNSUPPORTED, "word boundary assertion \\%c", peek(t, 1));
		return 0;
	}
	atom_at = t->out.len;
	assertions = t->assertions;
	size = parse_atom(t, depth, nullable);
	if (t->st != PROV_OK)
		return 0;
	return parse_quantifier(t, atom_at, size, t->assertions - assertions, nullable);
}

static size_t parse_alternative(struct tr *t, unsigned depth, int *nullable)
{
	size_t size = 0;

	*nullable = 1;
	while (t->st == PROV_OK && peek(t, 0) >= 0 && peek(t, 0) != '|' && peek(t, 0) != ')') {
		size_t at = t->pos;

		int term_nullable = 0;

		size = sat_add(size, parse_term(t, depth, &term_nullable));
		*nullable &= term_nullable;
		if (size > PROV_JSREGEX_MAX_SIZE)
			tr_fail(t, at, TOO_LARGE, "expands beyond the size limit of %d",
			        PROV_JSREGEX_MAX_SIZE);
	}
	return size;
}

static size_t parse_disjunction(struct tr *t, unsigned depth, int *nullable)
{
	size_t size = parse_alternative(t, depth, nullable);

	while (t->st == PROV_OK && peek(t, 0) == '|') {
		size_t at = t->pos;

		t->pos++;
		ob_putc(&t->out, '|');
		int alt_nullable;

		size = sat_add(size, parse_alternative(t, depth, &alt_nullable));
		*nullable |= alt_nullable;
		if (size > PROV_JSREGEX_MAX_SIZE)
			tr_fail(t, at, TOO_LARGE, "expands beyond the size limit of %d",
			        PROV_JSREGEX_MAX_SIZE);
	}
	return size;
}

/* The whole pattern as an anchored ERE (see the top of this file), in *ere. */
static prov_status translate(const char *pattern, size_t len, char **ere, prov_err *e)
{
	struct range scalars[] = { { 0, SURR_LO - 1 }, { SURR_HI + 1, CP_MAX } };
	struct cpset all = { scalars, 2, 2, 0 };
	struct tr t;
	int nullable;

	*ere = NULL;
	memset(&t, 0, sizeof(t));
	t.p = (const unsigned char *)pattern;
	t.len = len;
	t.e = e;
	t.st = PROV_OK;
	if (len > PROV_JSREGEX_MAX_LEN) {
		tr_fail(&t, PROV_JSREGEX_MAX_LEN, TOO_LARGE, "longer than %d bytes",
		        PROV_JSREGEX_MAX_LEN);
		return t.st;
	}
	/* ^(any code point)*(pattern): see the top of this file */
	ob_putc(&t.out, '^');
	put_set(&t.out, &all);
	ob_puts(&t.out, "*(");
	parse_disjunction(&t, 0, &nullable);
	if (t.st == PROV_OK && peek(&t, 0) == ')')
		tr_fail(&t, t.pos, SYNTAX, ") without its (");
	ob_putc(&t.out, ')');
	if (t.st == PROV_OK && t.out.oom)
		tr_oom(&t);
	if (t.st != PROV_OK) {
		free(t.out.p);
		return t.st;
	}
	*ere = t.out.p;
	return PROV_OK;
}

/* ---- regcomp and regexec in the "C" locale of this thread only. ---- */

struct c_locale {
	locale_t c, old;
};

static int c_locale_enter(struct c_locale *l)
{
	l->c = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (l->c == (locale_t)0)
		return 0;
	l->old = uselocale(l->c);
	return 1;
}

static void c_locale_leave(struct c_locale *l)
{
	uselocale(l->old);
	freelocale(l->c);
}

prov_status prov_jsregex_compile(const char *pattern, size_t len, prov_jsregex **out,
                                 prov_err *e)
{
	struct c_locale loc;
	prov_jsregex *re;
	prov_status st;
	char *ere;
	int rc;

	*out = NULL;
	st = translate(pattern, len, &ere, e);
	if (st != PROV_OK)
		return st;
	re = malloc(sizeof(*re));
	if (re == NULL || !c_locale_enter(&loc)) {
		free(re);
		free(ere);
		return prov_err_set(e, PROV_E_INTERNAL, "regular expression: out of memory");
	}
	rc = regcomp(&re->re, ere, REG_EXTENDED | REG_NOSUB);
	c_locale_leave(&loc);
	free(ere);
	if (rc != 0) {
		char why[128];

		regerror(rc, &re->re, why, sizeof(why));
		free(re);
		/* A translation regcomp refuses is a bug here, or memory ran out. */
		return prov_err_set(e, PROV_E_INTERNAL, "regular expression: regcomp: %s", why);
	}
	*out = re;
	return PROV_OK;
}

prov_status prov_jsregex_search(const prov_jsregex *re, const char *s, size_t n,
                                int *matched, prov_err *e)
{
	const unsigned char *u = (const unsigned char *)s;
	struct c_locale loc;
	regmatch_t m[1];
	char *copy;
	int rc;

	*matched = 0;
	/* regoff_t is an int in glibc. */
	if (n > (size_t)INT32_MAX)
		return prov_err_set(e, PROV_E_INTERNAL, "regular expression: subject longer than 2 GiB");
	/* The translation matches UTF-8 only, and 0xFE must mean U+000A. */
	for (size_t i = 0, len; i < n; i += len) {
		uint32_t cp;

		if (!utf8_decode(u + i, n - i, &cp, &len))
			return prov_err_set(e, PROV_E_INTERNAL, "regular expression: subject is not UTF-8");
	}
#ifndef REG_STARTEND
	if (memchr(s, '\0', n) != NULL)
		return prov_err_set(e, PROV_E_INTERNAL,
		                    "regular expression: this C library cannot search strings holding U+0000");
#endif
	/* A copy with U+000A as NL_BYTE, and NUL-terminated: regexec itself stops
	 * at rm_eo, but sanitizers' interceptors of it read up to a NUL. */
	copy = malloc(n + 1);
	if (copy == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "regular expression: out of memory");
	for (size_t i = 0; i < n; i++)
		copy[i] = s[i] == '\n' ? (char)NL_BYTE : s[i];
	copy[n] = '\0';
	if (!c_locale_enter(&loc)) {
		free(copy);
		return prov_err_set(e, PROV_E_INTERNAL, "regular expression: out of memory");
	}
#ifdef REG_STARTEND
	/* Bounds by length: a string holding U+0000 is searched whole. */
	m[0].rm_so = 0;
	m[0].rm_eo = (regoff_t)n;
	rc = regexec(&re->re, copy, 1, m, REG_STARTEND);
#else
	(void)m;
	rc = regexec(&re->re, copy, 0, NULL, 0);
#endif
	c_locale_leave(&loc);
	free(copy);
	if (rc == 0) {
		*matched = 1;
		return PROV_OK;
	}
	if (rc == REG_NOMATCH)
		return PROV_OK;
	return prov_err_set(e, PROV_E_INTERNAL, "regular expression: regexec failed (out of memory)");
}

void prov_jsregex_free(prov_jsregex *re)
{
	if (re == NULL)
		return;
	regfree(&re->re);
	free(re);
}
