/*
 * prov/jsregex.h - the regular expressions of JSON Schema ("pattern",
 * "patternProperties"): ECMA-262 syntax and meaning, run by the C library's
 * POSIX regex engine.
 *
 * JSON Schema 2020-12 patterns are ECMA-262 regular expressions with the "u"
 * flag, searched (not anchored) in the instance string.  POSIX EREs read many of
 * the same characters differently (\d, \t, [\d], \x41; bytes instead of code
 * points), so a pattern is never handed to regcomp as written:
 * prov_jsregex_compile() parses it with ECMA-262's grammar and translates the
 * subset below into an ERE over the UTF-8 bytes of the subject, which glibc's
 * regcomp/regexec run in a thread-local "C" locale (the program's locale does not
 * matter; setlocale is never called).  Each code point set becomes an
 * alternation of UTF-8 byte sequences, so "." and classes match whole code points.
 *
 * Accepted, with exactly ECMA-262's meaning:
 *   literal characters (any code point, U+0000 included); . (any code point but
 *   \n \r U+2028 U+2029); ^ and $ (the ends of the string only: no "m" flag);
 *   | ; groups (...) and (?:...); quantifiers * + ? {n} {n,} {n,m} and their lazy
 *   forms (*? ...: the same verdict, since only "is there a match" is asked);
 *   classes [...] [^...] with ranges; \d \D \w \W \s \S (ASCII digits, ASCII word
 *   characters, ECMA-262 WhiteSpace and LineTerminator); \t \n \v \f \r \0 \cX
 *   \xHH \uHHHH (a surrogate pair \uD83D\uDC32 is one code point) \u{H...};
 *   \ before a syntax character or "/"; in a class also \b (U+0008) and \-.
 * Refused as "not supported": lookahead and lookbehind, backreferences \1 \k<..>,
 * named groups, other (? groups, \b and \B assertions, \p{..} \P{..}, lone
 * surrogates, and *, + or {n,} on a group that can match the empty string such
 * as (?:a|)* (regcomp's time is exponential in some of those).
 * Refused as "syntax error": whatever ECMA-262 rejects with the "u" flag (an
 * unknown escape \a, a lone { } or ], a range out of order, ...).
 * Refused as "too large": the limits below.
 *
 * Errors read "<kind> at offset N: <construct>", N counting code points from 0,
 * and hold no byte of the pattern but printable ASCII.
 *
 * Thread-safe: a compiled expression may be searched from several threads.
 */
#ifndef PROV_JSREGEX_H
#define PROV_JSREGEX_H

#include <stddef.h>

#include "prov/err.h"

/* Pattern length in bytes. */
#define PROV_JSREGEX_MAX_LEN 1024
/* Largest count in {n}, {n,}, {n,m}. */
#define PROV_JSREGEX_MAX_REPEAT 1000
/* Size of the translated expression with every repetition written out: each
 * set counts its UTF-8 byte matchers, any atom at least 8.  "." is 40, so
 * ".{0,250}" fits and ".{0,251}" does not; "a" is 8, so "a{0,1000}" fits.
 * Bounds regcomp's time and memory (docs/template-format.md). */
#define PROV_JSREGEX_MAX_SIZE 10000
/* Nesting of groups. */
#define PROV_JSREGEX_MAX_DEPTH 32
/* ^ and $ in the translated expression, repetition expanded.  regcomp's time
 * and memory grow with about the fourth power of the anchors that can reach each
 * other through optional parts: 64 times "(?:^|$|a*)" take 650 MB, 16 take 7 MB. */
#define PROV_JSREGEX_MAX_ANCHORS 16

typedef struct prov_jsregex prov_jsregex;

/* Compile pattern[0..len) (UTF-8, may hold U+0000).  PROV_E_INPUT with the reason
 * when the pattern is refused; PROV_E_INTERNAL when memory or the engine fails. */
prov_status prov_jsregex_compile(const char *pattern, size_t len, prov_jsregex **out,
                                 prov_err *e);

/* Whether the pattern matches anywhere in s[0..n) (UTF-8, may hold U+0000):
 * *matched is 1 or 0.  PROV_E_INTERNAL if the engine fails. */
prov_status prov_jsregex_search(const prov_jsregex *re, const char *s, size_t n,
                                int *matched, prov_err *e);

void prov_jsregex_free(prov_jsregex *re);

#endif
