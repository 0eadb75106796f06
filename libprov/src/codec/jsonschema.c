/*
 * jsonschema.c - a JSON Schema draft 2020-12 subset validator over jansson (see
 * prov/jsonschema.h for the keywords it knows).
 *
 * Two passes.  check_schema() first walks the whole schema, $defs included, and
 * rejects an unknown keyword or a malformed keyword value with PROV_E_INTERNAL,
 * whatever the instance: a schema never silently means less than it says.  Then
 * validate() walks the instance and stops at the first error.
 *
 * Which error is "first" is fixed.  At each instance value the keywords of a
 * schema are applied in this order, whatever their order in the schema text:
 *
 *   type, const, enum;
 *   minimum, exclusiveMinimum, maximum, exclusiveMaximum, multipleOf;
 *   minLength, maxLength, pattern;
 *   minItems, maxItems, uniqueItems, then the items by index (prefixItems, items);
 *   required (in the order of its array), then the members in document order
 *   (jansson keeps insertion order), each against properties, then every
 *   matching patternProperties entry (in schema order), else additionalProperties;
 *   $ref, allOf, anyOf, oneOf, not, if/then/else.
 *
 * That is: the value's own constraints, then its contents, then composition.
 *
 * Messages are "<instance path>: <what is wrong>", the path written as
 * "$.credentials[1].slot" with members that are not C identifiers written as
 * $["odd key"].  Object-level problems are reported at the object and name the
 * member: `$: missing required property "name"`, `$: unexpected property "x"`.
 * For anyOf/oneOf with no matching alternative, alternatives that fail on a
 * discriminator (type, const or enum of the value or of one of its members) are
 * set aside: if exactly one alternative got past its discriminator its error is
 * reported; if all failed on discriminators at one path the expectations are
 * merged (`$.kind: must be one of "a", "b"`, `$.v: must be "none" or an object`);
 * otherwise "matches no anyOf alternative".
 *
 * "pattern" and "patternProperties" are ECMA-262 regular expressions, as JSON
 * Schema says: prov/jsregex.h translates the subset it accepts and refuses the
 * rest when the schema is checked.  Each is compiled once per validation, in
 * check_schema(), and found again by its address in the schema.
 */
#include "prov/jsonschema.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/jsregex.h"

/* Instance nesting validate() accepts; deeper documents are rejected rather than
 * risking the C stack (jansson's parser allows 2048 levels). */
#define JS_MAX_DEPTH 128
/* $ref applications in a row at one instance location.  More means a $ref cycle
 * that never reaches a child value, such as {"$ref": "#"}, which would recurse
 * forever. */
#define JS_MAX_REFS 32
/* Schema nesting check_schema() accepts. */
#define JS_MAX_SCHEMA_DEPTH 256
/* multipleOf takes integers up to 2^53, which a double holds exactly, so the test
 * of a real instance is exact. */
#define JS_MAX_MULTIPLE 9007199254740992LL
/* Values listed in a merged anyOf/oneOf message before ", ...". */
#define JS_MAX_VALUES 16
/* Message length after which value lists and nested values are cut with "...". */
#define JS_LIST_CUT 320
/* Bytes of a regular expression quoted in a schema error, and of a member name
 * in a schema path, before they are cut with "...". */
#define JS_PATTERN_CUT 80
/* 2^63 as a double: the bounds of json_int_t. */
#define JS_TWO63 9223372036854775808.0

#define JS_DIALECT "https://json-schema.org/draft/2020-12/schema"

/* ---- A bounded string builder: writes past the end are dropped. ---- */

struct sbuf {
	char *p;
	size_t cap;  /* bytes at p, including the terminating NUL */
	size_t len;  /* always < cap */
};

static void sb_init(struct sbuf *b, char *p, size_t cap)
{
	b->p = p;
	b->cap = cap;
	b->len = 0;
	p[0] = '\0';
}

static void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	size_t room = b->cap - 1 - b->len;

	if (n > room)
		n = room;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void sb_printf(struct sbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	size_t room = b->cap - b->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->p[b->len] = '\0';
		return;
	}
	b->len += (size_t)n < room ? (size_t)n : room - 1;
}

/* A JSON string literal, escaped as jansson writes it. */
static void sb_quote(struct sbuf *b, const char *s, size_t n)
{
	sb_putn(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		switch (ch) {
		case '"': sb_puts(b, "\\\""); break;
		case '\\': sb_puts(b, "\\\\"); break;
		case '\b': sb_puts(b, "\\b"); break;
		case '\f': sb_puts(b, "\\f"); break;
		case '\n': sb_puts(b, "\\n"); break;
		case '\r': sb_puts(b, "\\r"); break;
		case '\t': sb_puts(b, "\\t"); break;
		default:
			if (ch < 0x20)
				sb_printf(b, "\\u%04x", ch);
			else
				sb_putn(b, &s[i], 1);
		}
	}
	sb_putn(b, "\"", 1);
}

/* The shortest of %.15g..%.17g that reads back as d, with ".0" on whole values
 * so that 1.0 is not shown as the integer 1. */
static void sb_real(struct sbuf *b, double d)
{
	char tmp[40];

	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	sb_puts(b, tmp);
	if (strpbrk(tmp, ".e") == NULL)
		sb_puts(b, ".0");
}

/* jansson's iteration API takes non-const pointers; nothing here modifies. */
static json_t *js_mut(const json_t *v)
{
	return (json_t *)(uintptr_t)v;
}

/* Compact JSON for messages, cut with "..." when long or deep. */
static void sb_value(struct sbuf *b, const json_t *v, int depth)
{
	if (depth > 8 || b->len > JS_LIST_CUT) {
		sb_puts(b, "...");
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *sep = "";

		sb_puts(b, "{");
		for (void *it = json_object_iter(js_mut(v)); it != NULL;
		     it = json_object_iter_next(js_mut(v), it)) {
			const char *k = json_object_iter_key(it);

			sb_puts(b, sep);
			sb_quote(b, k, strlen(k));
			sb_puts(b, ":");
			sb_value(b, json_object_iter_value(it), depth + 1);
			sep = ",";
		}
		sb_puts(b, "}");
		break;
	}
	case JSON_ARRAY:
		sb_puts(b, "[");
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i > 0)
				sb_puts(b, ",");
			sb_value(b, json_array_get(v, i), depth + 1);
		}
		sb_puts(b, "]");
		break;
	case JSON_STRING:
		sb_quote(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		sb_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		sb_real(b, json_real_value(v));
		break;
	case JSON_TRUE: sb_puts(b, "true"); break;
	case JSON_FALSE: sb_puts(b, "false"); break;
	case JSON_NULL: sb_puts(b, "null"); break;
	}
}

/* "must be X", or "must be one of X, Y, Z" (", ..." when more were left out). */
static void sb_value_list(struct sbuf *b, const json_t *const *vals, size_t n, int more)
{
	if (n == 1 && !more) {
		sb_puts(b, "must be ");
		sb_value(b, vals[0], 0);
		return;
	}
	sb_puts(b, "must be one of ");
	for (size_t i = 0; i < n; i++) {
		if (b->len > JS_LIST_CUT) {
			more = 1;
			break;
		}
		if (i > 0)
			sb_puts(b, ", ");
		sb_value(b, vals[i], 0);
	}
	if (more)
		sb_puts(b, ", ...");
}

/* ---- Paths: chains of stack frames, rendered only when there is an error. ---- */

/* A location in the instance. */
struct ipath {
	const struct ipath *up;  /* NULL for the root "$" */
	const char *key;         /* member name, or NULL for an array index */
	size_t idx;
	size_t depth;            /* 0 for the root */
};

/* A location in the schema, written as a JSON pointer fragment "#/a/0". */
struct spath {
	const struct spath *up;  /* NULL for the root "#" */
	const char *key;         /* keyword or member name, or NULL for an index */
	size_t idx;
};

static int is_ident(const char *k)
{
	if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || *k == '_'))
		return 0;
	for (k++; *k != '\0'; k++) {
		if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
		      (*k >= '0' && *k <= '9') || *k == '_'))
			return 0;
	}
	return 1;
}

static void sb_ipath(struct sbuf *b, const struct ipath *at)
{
	if (at->up == NULL) {
		sb_puts(b, "$");
		return;
	}
	sb_ipath(b, at->up);
	if (at->key == NULL) {
		sb_printf(b, "[%zu]", at->idx);
	} else if (is_ident(at->key)) {
		sb_puts(b, ".");
		sb_puts(b, at->key);
	} else {
		sb_puts(b, "[");
		sb_quote(b, at->key, strlen(at->key));
		sb_puts(b, "]");
	}
}

static void sb_spath(struct sbuf *b, const struct spath *at)
{
	size_t end;

	if (at->up == NULL) {
		sb_puts(b, "#");
		return;
	}
	sb_spath(b, at->up);
	sb_puts(b, "/");
	if (at->key == NULL) {
		sb_printf(b, "%zu", at->idx);
		return;
	}
	end = strlen(at->key);
	if (end > JS_PATTERN_CUT) {  /* long names are cut on a character boundary */
		end = JS_PATTERN_CUT;
		while (end > 0 && ((unsigned char)at->key[end] & 0xC0) == 0x80)
			end--;
	}
	for (const char *k = at->key; k < at->key + end; k++) {  /* RFC 6901 section 3 */
		unsigned char ch = (unsigned char)*k;

		if (ch == '~')
			sb_puts(b, "~0");
		else if (ch == '/')
			sb_puts(b, "~1");
		else if (ch < 0x20 || ch == 0x7F || ch == '%')  /* as in the URI form, section 6 */
			sb_printf(b, "%%%02X", ch);
		else
			sb_putn(b, k, 1);
	}
	if (at->key[end] != '\0')
		sb_puts(b, "...");
}

/* ---- Numbers, equality, strings, regular expressions. ---- */

enum {
	T_NULL = 1, T_BOOLEAN = 2, T_OBJECT = 4, T_ARRAY = 8,
	T_NUMBER = 16, T_STRING = 32, T_INTEGER = 64,
};

/* In the order messages list them. */
static const struct {
	const char *name;
	unsigned bit;
	const char *phrase;
} type_names[] = {
	{ "object", T_OBJECT, "an object" },
	{ "array", T_ARRAY, "an array" },
	{ "string", T_STRING, "a string" },
	{ "number", T_NUMBER, "a number" },
	{ "integer", T_INTEGER, "an integer" },
	{ "boolean", T_BOOLEAN, "a boolean" },
	{ "null", T_NULL, "null" },
};

#define N_TYPES (sizeof(type_names) / sizeof(type_names[0]))

static unsigned type_bit(const json_t *name)
{
	for (size_t i = 0; i < N_TYPES; i++) {
		if (json_is_string(name) && strcmp(json_string_value(name), type_names[i].name) == 0)
			return type_names[i].bit;
	}
	return 0;
}

static unsigned schema_types(const json_t *t)
{
	unsigned mask = 0;

	if (json_is_string(t))
		return type_bit(t);
	for (size_t i = 0; i < json_array_size(t); i++)
		mask |= type_bit(json_array_get(t, i));
	return mask;
}

/* "X, Y or Z": the values, "..." when some were left out, then the types (a
 * number covers the integers): `"no-expiry" or an object`, "a string or null". */
static void sb_alternatives(struct sbuf *b, const json_t *const *vals, size_t n, int more,
                            unsigned mask)
{
	size_t total = n + (more != 0), k = 0;

	if (mask & T_NUMBER)
		mask &= ~(unsigned)T_INTEGER;
	for (size_t i = 0; i < N_TYPES; i++)
		total += (mask & type_names[i].bit) != 0;
	for (size_t i = 0; i < n + (more != 0); i++, k++) {
		if (k > 0)
			sb_puts(b, k + 1 == total ? " or " : ", ");
		if (i == n)
			sb_puts(b, "...");
		else
			sb_value(b, vals[i], 0);
	}
	for (size_t i = 0; i < N_TYPES; i++) {
		if (!(mask & type_names[i].bit))
			continue;
		if (k > 0)
			sb_puts(b, k + 1 == total ? " or " : ", ");
		sb_puts(b, type_names[i].phrase);
		k++;
	}
}

static void sb_types(struct sbuf *b, unsigned mask)
{
	sb_alternatives(b, NULL, 0, 0, mask);
}

/* Whether a finite double has no fractional part.  Beyond 2^63 every double is
 * a whole number. */
static int real_is_integral(double d)
{
	if (d >= JS_TWO63 || d < -JS_TWO63)
		return 1;
	return (double)(json_int_t)d == d;
}

static int type_matches(unsigned mask, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return (mask & T_OBJECT) != 0;
	case JSON_ARRAY: return (mask & T_ARRAY) != 0;
	case JSON_STRING: return (mask & T_STRING) != 0;
	case JSON_INTEGER: return (mask & (T_NUMBER | T_INTEGER)) != 0;
	case JSON_REAL:
		/* JSON Schema counts 1.0 as an integer; jansson keeps it a real. */
		return (mask & T_NUMBER) != 0 ||
		       ((mask & T_INTEGER) != 0 && real_is_integral(json_real_value(v)));
	case JSON_TRUE:
	case JSON_FALSE: return (mask & T_BOOLEAN) != 0;
	case JSON_NULL: return (mask & T_NULL) != 0;
	}
	return 0;
}

/* Exact comparison of an integer with a finite double. */
static int cmp_int_real(json_int_t i, double d)
{
	json_int_t t;
	double frac;

	if (d >= JS_TWO63)
		return -1;
	if (d < -JS_TWO63)
		return 1;
	t = (json_int_t)d;  /* truncates toward zero, in range */
	if (i != t)
		return i < t ? -1 : 1;
	frac = d - (double)t;  /* exact: 0 once |d| >= 2^52 */
	return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

/* Compare two JSON numbers by value: <0, 0, >0. */
static int num_cmp(const json_t *a, const json_t *b)
{
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);

		return x < y ? -1 : x > y;
	}
	if (json_is_real(a) && json_is_real(b)) {
		double x = json_real_value(a), y = json_real_value(b);

		return x < y ? -1 : x > y;
	}
	if (json_is_integer(a))
		return cmp_int_real(json_integer_value(a), json_real_value(b));
	return -cmp_int_real(json_integer_value(b), json_real_value(a));
}

/* JSON Schema equality: like json_equal, but numbers compare by value, so
 * 1 == 1.0 (jansson's json_equal says no).  true is not 1. */
static int js_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return num_cmp(a, b) == 0;
	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++) {
			if (!js_equal(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		}
		return 1;
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return 0;
		for (void *it = json_object_iter(js_mut(a)); it != NULL;
		     it = json_object_iter_next(js_mut(a), it)) {
			const json_t *bv = json_object_get(b, json_object_iter_key(it));

			if (bv == NULL || !js_equal(json_object_iter_value(it), bv))
				return 0;
		}
		return 1;
	case JSON_STRING:
		return json_equal(a, b);
	default:
		return 1;  /* true, false, null: the type is the value */
	}
}

/* A count-valued keyword (minLength, multipleOf, ...): a non-negative integer,
 * possibly written as a whole real.  -1 when it is not one. */
static json_int_t count_value(const json_t *v)
{
	if (json_is_integer(v))
		return json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (d >= 0 && d < JS_TWO63 && real_is_integral(d))
			return (json_int_t)d;
	}
	return -1;
}

/* Whether the number v is a multiple of m (1 <= m <= 2^53). */
static int is_multiple(const json_t *v, json_int_t m)
{
	double r, t, md = (double)m;

	if (json_is_integer(v))
		return json_integer_value(v) % m == 0;
	r = json_real_value(v);
	if (!real_is_integral(r))
		return 0;
	if (r > -JS_TWO63 && r < JS_TWO63)
		return (json_int_t)r % m == 0;
	/* Binary long division; each subtraction is exact because t <= r < 2t. */
	if (r < 0)
		r = -r;
	for (t = md; t <= r / 2; t *= 2)
		;
	for (; t >= md; t /= 2) {
		if (r >= t)
			r -= t;
	}
	return r == 0;
}

/* Length in code points: jansson strings are UTF-8, so count the bytes that do
 * not continue a sequence. */
static size_t utf8_length(const json_t *s)
{
	const unsigned char *p = (const unsigned char *)json_string_value(s);
	size_t n = json_string_length(s), count = 0;

	for (size_t i = 0; i < n; i++)
		count += (p[i] & 0xC0) != 0x80;
	return count;
}

/* The compiled regular expressions of one schema, by the address of their
 * text in it (a "pattern" value or a "patternProperties" key). */
struct re_entry {
	const char *text;
	prov_jsregex *re;
};

struct re_cache {
	struct re_entry *v;
	size_t n, cap;
};

static int re_entry_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)((const struct re_entry *)a)->text;
	uintptr_t y = (uintptr_t)((const struct re_entry *)b)->text;

	return x < y ? -1 : x > y;
}

static const prov_jsregex *re_cache_find(const struct re_cache *rc, const char *text)
{
	struct re_entry key = { text, NULL };
	const struct re_entry *hit;

	if (rc->n == 0)
		return NULL;
	hit = bsearch(&key, rc->v, rc->n, sizeof(rc->v[0]), re_entry_cmp);
	return hit != NULL ? hit->re : NULL;
}

static void re_cache_free(struct re_cache *rc)
{
	for (size_t i = 0; i < rc->n; i++)
		prov_jsregex_free(rc->v[i].re);
	free(rc->v);
}

/* A pattern for a message: quoted, escaped, cut after JS_PATTERN_CUT bytes (on a
 * character boundary) with "..." after the closing quote. */
static void sb_pattern(struct sbuf *b, const char *s, size_t n)
{
	size_t cut = n;

	if (n > JS_PATTERN_CUT) {
		cut = JS_PATTERN_CUT;
		while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
			cut--;
	}
	sb_quote(b, s, cut);
	if (cut < n)
		sb_puts(b, "...");
}

/* Whether a $ref token (RFC 6901 escaped, up to the end of the string) names
 * `key`.  Percent-encoding is not supported (check_schema rejects '%'). */
static int token_is(const char *tok, const char *key)
{
	for (; *tok != '\0'; tok++, key++) {
		char ch = *tok;

		if (ch == '~') {
			tok++;
			if (*tok != '0' && *tok != '1')
				return 0;
			ch = *tok == '0' ? '~' : '/';
		}
		if (*key != ch)
			return 0;
	}
	return *key == '\0';
}

/* Whether `ref` has a supported form: "#" or "#/$defs/NAME". */
static int ref_supported(const char *ref)
{
	static const char prefix[] = "#/$defs/";

	if (strcmp(ref, "#") == 0)
		return 1;
	if (strncmp(ref, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	for (const char *p = ref + sizeof(prefix) - 1; *p != '\0'; p++) {
		if (*p == '/' || *p == '%' || (*p == '~' && p[1] != '0' && p[1] != '1'))
			return 0;
	}
	return 1;
}

/* The schema a local $ref names, or NULL. */
static const json_t *ref_target(const json_t *root, const char *ref)
{
	const json_t *defs = json_object_get(root, "$defs");

	if (!ref_supported(ref))
		return NULL;
	if (strcmp(ref, "#") == 0)
		return root;
	for (void *it = json_object_iter(js_mut(defs)); it != NULL;
	     it = json_object_iter_next(js_mut(defs), it)) {
		if (token_is(ref + strlen("#/$defs/"), json_object_iter_key(it)))
			return json_object_iter_value(it);
	}
	return NULL;
}

/* ---- Pass 1: the schema. ---- */

enum kwarg {
	KA_TYPE, KA_VALUE, KA_ENUM, KA_EXAMPLES, KA_STRING, KA_DIALECT, KA_ID, KA_REF,
	KA_PATTERN, KA_COUNT, KA_NUMBER, KA_MULTIPLE, KA_BOOL, KA_REQUIRED,
	KA_SCHEMA, KA_SCHEMA_MAP, KA_PATTERN_MAP, KA_SCHEMA_LIST,
};

static const struct keyword {
	const char *name;
	enum kwarg arg;
} keywords[] = {
	{ "type", KA_TYPE },
	{ "enum", KA_ENUM },
	{ "const", KA_VALUE },
	{ "properties", KA_SCHEMA_MAP },
	{ "required", KA_REQUIRED },
	{ "additionalProperties", KA_SCHEMA },
	{ "patternProperties", KA_PATTERN_MAP },
	{ "items", KA_SCHEMA },
	{ "prefixItems", KA_SCHEMA_LIST },
	{ "minItems", KA_COUNT },
	{ "maxItems", KA_COUNT },
	{ "uniqueItems", KA_BOOL },
	{ "minimum", KA_NUMBER },
	{ "maximum", KA_NUMBER },
	{ "exclusiveMinimum", KA_NUMBER },
	{ "exclusiveMaximum", KA_NUMBER },
	{ "multipleOf", KA_MULTIPLE },
	{ "minLength", KA_COUNT },
	{ "maxLength", KA_COUNT },
	{ "pattern", KA_PATTERN },
	{ "format", KA_STRING },  /* an annotation: not asserted */
	{ "allOf", KA_SCHEMA_LIST },
	{ "anyOf", KA_SCHEMA_LIST },
	{ "oneOf", KA_SCHEMA_LIST },
	{ "not", KA_SCHEMA },
	{ "if", KA_SCHEMA },
	{ "then", KA_SCHEMA },
	{ "else", KA_SCHEMA },
	{ "$ref", KA_REF },
	{ "$defs", KA_SCHEMA_MAP },
	{ "$schema", KA_DIALECT },
	{ "$id", KA_ID },
	{ "title", KA_STRING },
	{ "description", KA_STRING },
	{ "default", KA_VALUE },
	{ "examples", KA_EXAMPLES },
	{ "$comment", KA_STRING },
};

struct sctx {
	const json_t *root;
	prov_err *e;
	struct re_cache *re;  /* check_schema() adds every pattern it meets */
};

static prov_status schema_fail(const struct sctx *c, const struct spath *at,
                               const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* PROV_E_INTERNAL with "schema #/path: <why>". */
static prov_status schema_fail(const struct sctx *c, const struct spath *at,
                               const char *fmt, ...)
{
	char buf[sizeof(c->e->msg)];
	struct sbuf b;
	va_list ap;
	int n;

	sb_init(&b, buf, sizeof(buf));
	sb_puts(&b, "schema ");
	sb_spath(&b, at);
	sb_puts(&b, ": ");
	va_start(ap, fmt);
	n = vsnprintf(buf + b.len, sizeof(buf) - b.len, fmt, ap);
	va_end(ap);
	if (n < 0)
		buf[b.len] = '\0';
	return prov_err_set(c->e, PROV_E_INTERNAL, "%s", buf);
}

static const struct keyword *find_keyword(const char *name)
{
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (strcmp(keywords[i].name, name) == 0)
			return &keywords[i];
	}
	return NULL;
}

static prov_status check_schema(const struct sctx *c, const json_t *s,
                                const struct spath *at, size_t depth);

static prov_status check_type_kw(const struct sctx *c, const json_t *v, const struct spath *at)
{
	unsigned seen = 0;

	if (json_is_string(v)) {
		if (type_bit(v) == 0)
			return schema_fail(c, at, "unknown type \"%s\"", json_string_value(v));
		return PROV_OK;
	}
	if (!json_is_array(v) || json_array_size(v) == 0)
		return schema_fail(c, at, "must be a type name or a non-empty array of them");
	for (size_t i = 0; i < json_array_size(v); i++) {
		const json_t *t = json_array_get(v, i);
		unsigned bit = type_bit(t);

		if (bit == 0)
			return schema_fail(c, at, "unknown type at index %zu", i);
		if (seen & bit)
			return schema_fail(c, at, "duplicate type \"%s\"", json_string_value(t));
		seen |= bit;
	}
	return PROV_OK;
}

static prov_status check_required_kw(const struct sctx *c, const json_t *v, const struct spath *at)
{
	if (!json_is_array(v))
		return schema_fail(c, at, "must be an array of distinct strings");
	for (size_t i = 0; i < json_array_size(v); i++) {
		const json_t *name = json_array_get(v, i);

		if (!json_is_string(name))
			return schema_fail(c, at, "must be an array of distinct strings");
		for (size_t j = 0; j < i; j++) {
			if (json_equal(json_array_get(v, j), name))
				return schema_fail(c, at, "must be an array of distinct strings");
		}
	}
	return PROV_OK;
}

/* Compile a regular expression into the cache; a refused one is a schema error
 * naming the pattern and the reason: "regular expression "a(?=b)": not supported
 * at offset 1: lookahead (?=". */
static prov_status check_pattern(const struct sctx *c, const char *pattern, size_t len,
                                 const struct spath *at)
{
	struct re_cache *rc = c->re;
	prov_jsregex *re;
	prov_err why;
	prov_status st;

	if (rc->n == rc->cap) {
		size_t cap = rc->cap != 0 ? rc->cap * 2 : 8;
		struct re_entry *v = realloc(rc->v, cap * sizeof(*v));

		if (v == NULL)
			return prov_err_set(c->e, PROV_E_INTERNAL, "jsonschema: out of memory");
		rc->v = v;
		rc->cap = cap;
	}
	st = prov_jsregex_compile(pattern, len, &re, &why);
	if (st == PROV_E_INPUT) {
		char quoted[JS_PATTERN_CUT * 6 + 8];
		struct sbuf b;

		sb_init(&b, quoted, sizeof(quoted));
		sb_pattern(&b, pattern, len);
		return schema_fail(c, at, "regular expression %s: %s", quoted, why.msg);
	}
	if (st != PROV_OK)
		return prov_err_set(c->e, st, "jsonschema: %s", why.msg);
	rc->v[rc->n].text = pattern;
	rc->v[rc->n].re = re;
	rc->n++;
	return PROV_OK;
}

/* Every member of an object is a schema ("properties", "$defs"), or every key is
 * also a regular expression ("patternProperties"). */
static prov_status check_schema_map(const struct sctx *c, const json_t *v, const struct spath *at,
                                    size_t depth, int keys_are_patterns)
{
	if (!json_is_object(v))
		return schema_fail(c, at, "must be an object");
	for (void *it = json_object_iter(js_mut(v)); it != NULL;
	     it = json_object_iter_next(js_mut(v), it)) {
		const char *key = json_object_iter_key(it);
		struct spath here = { at, key, 0 };
		prov_status st;

		if (keys_are_patterns) {
			st = check_pattern(c, key, json_object_iter_key_len(it), &here);
			if (st != PROV_OK)
				return st;
		}
		st = check_schema(c, json_object_iter_value(it), &here, depth + 1);
		if (st != PROV_OK)
			return st;
	}
	return PROV_OK;
}

static prov_status check_schema_list(const struct sctx *c, const json_t *v, const struct spath *at,
                                     size_t depth)
{
	if (!json_is_array(v) || json_array_size(v) == 0)
		return schema_fail(c, at, "must be a non-empty array of schemas");
	for (size_t i = 0; i < json_array_size(v); i++) {
		struct spath here = { at, NULL, i };
		prov_status st = check_schema(c, json_array_get(v, i), &here, depth + 1);

		if (st != PROV_OK)
			return st;
	}
	return PROV_OK;
}

/* The value of one keyword; `at` is the keyword's own path. */
static prov_status check_keyword(const struct sctx *c, const struct keyword *kw, const json_t *v,
                                 const struct spath *at, size_t depth)
{
	int at_root = at->up->up == NULL;

	switch (kw->arg) {
	case KA_TYPE:
		return check_type_kw(c, v, at);
	case KA_VALUE:
		return PROV_OK;
	case KA_ENUM:
		if (!json_is_array(v) || json_array_size(v) == 0)
			return schema_fail(c, at, "must be a non-empty array");
		return PROV_OK;
	case KA_EXAMPLES:
		return json_is_array(v) ? PROV_OK : schema_fail(c, at, "must be an array");
	case KA_STRING:
		return json_is_string(v) ? PROV_OK : schema_fail(c, at, "must be a string");
	case KA_DIALECT:
		/* Another dialect would give keywords other meanings (draft-07 "items"). */
		if (!at_root)
			return schema_fail(c, at, "only supported at the root");
		if (!json_is_string(v) || (strcmp(json_string_value(v), JS_DIALECT) != 0 &&
		                           strcmp(json_string_value(v), JS_DIALECT "#") != 0))
			return schema_fail(c, at, "unsupported dialect (only \"%s\")", JS_DIALECT);
		return PROV_OK;
	case KA_ID:
		/* A nested $id would change what "#/$defs/..." refers to beneath it. */
		if (!at_root)
			return schema_fail(c, at, "only supported at the root");
		return json_is_string(v) ? PROV_OK : schema_fail(c, at, "must be a string");
	case KA_REF:
		if (!json_is_string(v))
			return schema_fail(c, at, "must be a string");
		if (!ref_supported(json_string_value(v)))
			return schema_fail(c, at, "unsupported reference \"%s\" (only \"#\" and \"#/$defs/NAME\")",
			                   json_string_value(v));
		if (ref_target(c->root, json_string_value(v)) == NULL)
			return schema_fail(c, at, "no such definition \"%s\"", json_string_value(v));
		return PROV_OK;
	case KA_PATTERN:
		if (!json_is_string(v))
			return schema_fail(c, at, "must be a string");
		return check_pattern(c, json_string_value(v), json_string_length(v), at);
	case KA_COUNT:
		return count_value(v) >= 0 ? PROV_OK : schema_fail(c, at, "must be a non-negative integer");
	case KA_NUMBER:
		return json_is_number(v) ? PROV_OK : schema_fail(c, at, "must be a number");
	case KA_MULTIPLE:
		if (count_value(v) < 1 || count_value(v) > JS_MAX_MULTIPLE)
			return schema_fail(c, at, "must be a positive integer (at most 2^53)");
		return PROV_OK;
	case KA_BOOL:
		return json_is_boolean(v) ? PROV_OK : schema_fail(c, at, "must be a boolean");
	case KA_REQUIRED:
		return check_required_kw(c, v, at);
	case KA_SCHEMA:
		return check_schema(c, v, at, depth + 1);
	case KA_SCHEMA_MAP:
		return check_schema_map(c, v, at, depth, 0);
	case KA_PATTERN_MAP:
		return check_schema_map(c, v, at, depth, 1);
	case KA_SCHEMA_LIST:
		return check_schema_list(c, v, at, depth);
	}
	return schema_fail(c, at, "unhandled keyword");
}

static prov_status check_schema(const struct sctx *c, const json_t *s,
                                const struct spath *at, size_t depth)
{
	if (json_is_boolean(s))
		return PROV_OK;
	if (!json_is_object(s))
		return schema_fail(c, at, "must be an object or a boolean");
	if (depth > JS_MAX_SCHEMA_DEPTH)
		return schema_fail(c, at, "nested too deeply");
	for (void *it = json_object_iter(js_mut(s)); it != NULL;
	     it = json_object_iter_next(js_mut(s), it)) {
		const char *key = json_object_iter_key(it);
		const struct keyword *kw = find_keyword(key);
		struct spath here = { at, key, 0 };
		prov_status st;

		if (kw == NULL) {
			char quoted[256];
			struct sbuf b;

			sb_init(&b, quoted, sizeof(quoted));
			sb_quote(&b, key, strlen(key));
			return schema_fail(c, at, "unsupported keyword %s", quoted);
		}
		st = check_keyword(c, kw, json_object_iter_value(it), &here, depth);
		if (st != PROV_OK)
			return st;
	}
	return PROV_OK;
}

/* ---- Pass 2: the instance. ---- */

enum vkind {
	VK_OTHER,
	VK_TYPE,   /* "type" failed: `types` holds what was expected */
	VK_VALUE,  /* "const" or "enum" failed: `want` holds the value or the array */
};

/* One validation error, kept apart from the caller's prov_err so that anyOf,
 * oneOf, not and if can try alternatives quietly. */
struct verr {
	prov_status code;
	int fatal;            /* a schema problem or a limit: never "just no match" */
	enum vkind kind;
	size_t depth;         /* instance depth of the failing value */
	unsigned types;       /* VK_TYPE */
	const json_t *want;   /* VK_VALUE: borrowed from the schema */
	int want_is_enum;     /* VK_VALUE: `want` is the enum array */
	size_t path_len;      /* text[0..path_len) is the instance path */
	char text[sizeof(((prov_err *)0)->msg)];
};

struct vctx {
	const json_t *root;
	const struct re_cache *re;  /* every pattern of the schema, compiled */
};

/* Start an error at `at`: writes "<path>: " and returns the builder for the rest. */
static struct sbuf fail_begin(struct verr *out, const struct ipath *at, enum vkind kind)
{
	struct sbuf b;

	out->code = PROV_E_INPUT;
	out->fatal = 0;
	out->kind = kind;
	out->depth = at->depth;
	out->types = 0;
	out->want = NULL;
	out->want_is_enum = 0;
	sb_init(&b, out->text, sizeof(out->text));
	sb_ipath(&b, at);
	out->path_len = b.len;
	sb_puts(&b, ": ");
	return b;
}

/* Start a fatal schema error found while validating (PROV_E_INTERNAL, no path
 * prefix): returns the builder for the message. */
static struct sbuf fail_internal(struct verr *out)
{
	struct sbuf b;

	out->code = PROV_E_INTERNAL;
	out->fatal = 1;
	out->kind = VK_OTHER;
	out->depth = 0;
	out->types = 0;
	out->want = NULL;
	out->want_is_enum = 0;
	out->path_len = 0;
	sb_init(&b, out->text, sizeof(out->text));
	sb_puts(&b, "schema: ");
	return b;
}

static prov_status fail(struct verr *out, const struct ipath *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static prov_status fail(struct verr *out, const struct ipath *at, const char *fmt, ...)
{
	struct sbuf b = fail_begin(out, at, VK_OTHER);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b.p + b.len, b.cap - b.len, fmt, ap);
	va_end(ap);
	if (n < 0)
		b.p[b.len] = '\0';
	return PROV_E_INPUT;
}

static prov_status validate(const struct vctx *c, const json_t *s, const json_t *v,
                            const struct ipath *at, unsigned refs, struct verr *out);

static prov_status v_type(const json_t *s, const json_t *v, const struct ipath *at,
                          struct verr *out)
{
	const json_t *t = json_object_get(s, "type");
	struct sbuf b;

	if (t == NULL || type_matches(schema_types(t), v))
		return PROV_OK;
	b = fail_begin(out, at, VK_TYPE);
	out->types = schema_types(t);
	sb_puts(&b, "must be ");
	sb_types(&b, out->types);
	return PROV_E_INPUT;
}

static prov_status v_const_enum(const json_t *s, const json_t *v, const struct ipath *at,
                                struct verr *out)
{
	const json_t *k = json_object_get(s, "const");
	const json_t *list = json_object_get(s, "enum");
	const json_t *vals[JS_MAX_VALUES];
	size_t n;
	struct sbuf b;

	if (k != NULL && !js_equal(k, v)) {
		b = fail_begin(out, at, VK_VALUE);
		out->want = k;
		sb_value_list(&b, &k, 1, 0);
		return PROV_E_INPUT;
	}
	if (list == NULL)
		return PROV_OK;
	for (size_t i = 0; i < json_array_size(list); i++) {
		if (js_equal(json_array_get(list, i), v))
			return PROV_OK;
	}
	b = fail_begin(out, at, VK_VALUE);
	out->want = list;
	out->want_is_enum = 1;
	for (n = 0; n < json_array_size(list) && n < JS_MAX_VALUES; n++)
		vals[n] = json_array_get(list, n);
	sb_value_list(&b, vals, n, json_array_size(list) > n);
	return PROV_E_INPUT;
}

/* "must be >= 0" and the like. */
static prov_status fail_bound(struct verr *out, const struct ipath *at, const char *op,
                              const json_t *bound)
{
	struct sbuf b = fail_begin(out, at, VK_OTHER);

	sb_printf(&b, "must be %s ", op);
	sb_value(&b, bound, 0);
	return PROV_E_INPUT;
}

static prov_status v_number(const json_t *s, const json_t *v, const struct ipath *at,
                            struct verr *out)
{
	const json_t *k;

	if (!json_is_number(v))
		return PROV_OK;
	if ((k = json_object_get(s, "minimum")) != NULL && num_cmp(v, k) < 0)
		return fail_bound(out, at, ">=", k);
	if ((k = json_object_get(s, "exclusiveMinimum")) != NULL && num_cmp(v, k) <= 0)
		return fail_bound(out, at, ">", k);
	if ((k = json_object_get(s, "maximum")) != NULL && num_cmp(v, k) > 0)
		return fail_bound(out, at, "<=", k);
	if ((k = json_object_get(s, "exclusiveMaximum")) != NULL && num_cmp(v, k) >= 0)
		return fail_bound(out, at, "<", k);
	if ((k = json_object_get(s, "multipleOf")) != NULL && !is_multiple(v, count_value(k)))
		return fail(out, at, "must be a multiple of %" JSON_INTEGER_FORMAT, count_value(k));
	return PROV_OK;
}

/* Search `n` bytes of `str` for the schema's regular expression `text`:
 * PROV_OK with *matched, or a fatal error in `out` naming `kw`. */
static prov_status re_match(const struct vctx *c, const char *kw, const char *text,
                            size_t text_len, const char *str, size_t n, int *matched,
                            struct verr *out)
{
	const prov_jsregex *re = re_cache_find(c->re, text);
	prov_err why;
	struct sbuf b;

	if (re != NULL && prov_jsregex_search(re, str, n, matched, &why) == PROV_OK)
		return PROV_OK;
	b = fail_internal(out);
	sb_printf(&b, "%s ", kw);
	sb_pattern(&b, text, text_len);
	sb_printf(&b, ": %s", re != NULL ? why.msg : "not compiled");
	return PROV_E_INTERNAL;
}

static prov_status v_string(const struct vctx *c, const json_t *s, const json_t *v,
                            const struct ipath *at, struct verr *out)
{
	const json_t *k;
	size_t len;

	if (!json_is_string(v))
		return PROV_OK;
	len = utf8_length(v);
	if ((k = json_object_get(s, "minLength")) != NULL && (json_int_t)len < count_value(k))
		return fail(out, at, "must have at least %" JSON_INTEGER_FORMAT " character%s",
		            count_value(k), count_value(k) == 1 ? "" : "s");
	if ((k = json_object_get(s, "maxLength")) != NULL && (json_int_t)len > count_value(k))
		return fail(out, at, "must have at most %" JSON_INTEGER_FORMAT " character%s",
		            count_value(k), count_value(k) == 1 ? "" : "s");
	if ((k = json_object_get(s, "pattern")) != NULL) {
		prov_status st;
		struct sbuf b;
		int matched;

		st = re_match(c, "pattern", json_string_value(k), json_string_length(k),
		              json_string_value(v), json_string_length(v), &matched, out);
		if (st != PROV_OK)
			return st;
		if (!matched) {
			b = fail_begin(out, at, VK_OTHER);
			sb_puts(&b, "must match pattern ");
			sb_quote(&b, json_string_value(k), json_string_length(k));
			return PROV_E_INPUT;
		}
	}
	return PROV_OK;
}

static prov_status v_array(const struct vctx *c, const json_t *s, const json_t *v,
                           const struct ipath *at, struct verr *out)
{
	const json_t *k, *prefix = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
	size_t n, np = json_array_size(prefix);

	if (!json_is_array(v))
		return PROV_OK;
	n = json_array_size(v);
	if ((k = json_object_get(s, "minItems")) != NULL && (json_int_t)n < count_value(k))
		return fail(out, at, "must have at least %" JSON_INTEGER_FORMAT " item%s",
		            count_value(k), count_value(k) == 1 ? "" : "s");
	if ((k = json_object_get(s, "maxItems")) != NULL && (json_int_t)n > count_value(k))
		return fail(out, at, "must have at most %" JSON_INTEGER_FORMAT " item%s",
		            count_value(k), count_value(k) == 1 ? "" : "s");
	if (json_is_true(json_object_get(s, "uniqueItems"))) {
		for (size_t j = 1; j < n; j++) {
			for (size_t i = 0; i < j; i++) {
				if (js_equal(json_array_get(v, i), json_array_get(v, j)))
					return fail(out, at, "must have unique items ([%zu] and [%zu] are equal)",
					            i, j);
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		const json_t *sub = i < np ? json_array_get(prefix, i) : items;
		struct ipath child = { at, NULL, i, at->depth + 1 };
		prov_status st;

		if (sub == NULL)
			break;
		if (i >= np && json_is_false(sub))
			return fail(out, at, "must have at most %zu item%s", np, np == 1 ? "" : "s");
		st = validate(c, sub, json_array_get(v, i), &child, 0, out);
		if (st != PROV_OK)
			return st;
	}
	return PROV_OK;
}

/* One member against one subschema; a false subschema forbids the member. */
static prov_status v_member(const struct vctx *c, const json_t *sub, const json_t *val,
                            const struct ipath *obj, const struct ipath *child, struct verr *out)
{
	struct sbuf b;

	if (json_is_false(sub)) {
		b = fail_begin(out, obj, VK_OTHER);
		sb_puts(&b, "unexpected property ");
		sb_quote(&b, child->key, strlen(child->key));
		return PROV_E_INPUT;
	}
	return validate(c, sub, val, child, 0, out);
}

static prov_status v_members(const struct vctx *c, const json_t *s, const json_t *v,
                             const struct ipath *at, struct verr *out)
{
	const json_t *props = json_object_get(s, "properties");
	const json_t *pats = json_object_get(s, "patternProperties");
	const json_t *addl = json_object_get(s, "additionalProperties");

	if (props == NULL && pats == NULL && addl == NULL)
		return PROV_OK;
	for (void *it = json_object_iter(js_mut(v)); it != NULL;
	     it = json_object_iter_next(js_mut(v), it)) {
		const char *key = json_object_iter_key(it);
		const json_t *val = json_object_iter_value(it), *sub = json_object_get(props, key);
		struct ipath child = { at, key, 0, at->depth + 1 };
		int matched = sub != NULL;
		prov_status st;

		if (sub != NULL && (st = v_member(c, sub, val, at, &child, out)) != PROV_OK)
			return st;
		for (void *pi = json_object_iter(js_mut(pats)); pi != NULL;
		     pi = json_object_iter_next(js_mut(pats), pi)) {
			int hit;

			st = re_match(c, "patternProperties", json_object_iter_key(pi),
			              json_object_iter_key_len(pi), key, json_object_iter_key_len(it),
			              &hit, out);
			if (st != PROV_OK)
				return st;
			if (!hit)
				continue;
			matched = 1;
			st = v_member(c, json_object_iter_value(pi), val, at, &child, out);
			if (st != PROV_OK)
				return st;
		}
		if (!matched && addl != NULL && (st = v_member(c, addl, val, at, &child, out)) != PROV_OK)
			return st;
	}
	return PROV_OK;
}

static prov_status v_object(const struct vctx *c, const json_t *s, const json_t *v,
                            const struct ipath *at, struct verr *out)
{
	const json_t *req = json_object_get(s, "required");

	if (!json_is_object(v))
		return PROV_OK;
	for (size_t i = 0; i < json_array_size(req); i++) {
		const json_t *name = json_array_get(req, i);

		if (json_object_get(v, json_string_value(name)) == NULL) {
			struct sbuf b = fail_begin(out, at, VK_OTHER);

			sb_puts(&b, "missing required property ");
			sb_quote(&b, json_string_value(name), json_string_length(name));
			return PROV_E_INPUT;
		}
	}
	return v_members(c, s, v, at, out);
}

static prov_status v_ref(const struct vctx *c, const json_t *s, const json_t *v,
                         const struct ipath *at, unsigned refs, struct verr *out)
{
	const json_t *ref = json_object_get(s, "$ref");
	const json_t *target;
	struct sbuf b;

	if (ref == NULL)
		return PROV_OK;
	target = ref_target(c->root, json_string_value(ref));
	if (refs < JS_MAX_REFS && target != NULL)
		return validate(c, target, v, at, refs + 1, out);
	/* A schema error, but it still says where in the instance it happened. */
	b = fail_internal(out);
	sb_puts(&b, "$ref ");
	sb_quote(&b, json_string_value(ref), json_string_length(ref));
	sb_puts(&b, target == NULL ? ": no such definition at " : ": recursion too deep at ");
	sb_ipath(&b, at);
	return PROV_E_INTERNAL;
}

/* Validate without reporting: *matched says whether v matches s.  Only a fatal
 * error (a schema problem or a limit) is reported, in `out`, and returned.  The
 * scratch error lives on the heap: these nest once per level of composition. */
static prov_status v_quiet(const struct vctx *c, const json_t *s, const json_t *v,
                           const struct ipath *at, unsigned refs, int *matched,
                           struct verr *out)
{
	struct verr *tmp = malloc(sizeof(*tmp));
	prov_status st;

	*matched = 0;
	if (tmp == NULL) {
		struct sbuf b = fail_internal(out);

		sb_puts(&b, "out of memory");
		return PROV_E_INTERNAL;
	}
	st = validate(c, s, v, at, refs, tmp);
	if (st == PROV_OK) {
		*matched = 1;
	} else if (tmp->fatal) {
		*out = *tmp;
	} else {
		st = PROV_OK;
	}
	free(tmp);
	return st;
}

/* ---- anyOf and oneOf: which error to report when no alternative matched. ----
 *
 * An alternative that rejects the value by a discriminator - type, const or enum
 * of the value itself or of one of its members listed in "properties" (looking
 * through $ref and allOf) - is "not about this value".  probe_*() find such a
 * rejection independently of the order in which validate() reports errors, so
 * a missing required property does not hide a non-matching "kind". */

static int probe_value(const struct vctx *c, const json_t *s, const json_t *v,
                       const struct ipath *at, unsigned refs, struct verr *out)
{
	const json_t *k;

	if (!json_is_object(s))
		return 0;
	if (v_type(s, v, at, out) != PROV_OK || v_const_enum(s, v, at, out) != PROV_OK)
		return 1;
	k = json_object_get(s, "$ref");
	if (k != NULL && refs < JS_MAX_REFS &&
	    probe_value(c, ref_target(c->root, json_string_value(k)), v, at, refs + 1, out))
		return 1;
	k = json_object_get(s, "allOf");
	for (size_t i = 0; i < json_array_size(k); i++) {
		if (probe_value(c, json_array_get(k, i), v, at, refs, out))
			return 1;
	}
	return 0;
}

static int probe_members(const struct vctx *c, const json_t *s, const json_t *v,
                         const struct ipath *at, unsigned refs, struct verr *out)
{
	const json_t *props = json_object_get(s, "properties"), *k;

	if (!json_is_object(s) || !json_is_object(v))
		return 0;
	for (void *it = json_object_iter(js_mut(v)); props != NULL && it != NULL;
	     it = json_object_iter_next(js_mut(v), it)) {
		const char *key = json_object_iter_key(it);
		const json_t *sub = json_object_get(props, key);
		struct ipath child = { at, key, 0, at->depth + 1 };

		if (sub != NULL && probe_value(c, sub, json_object_iter_value(it), &child, 0, out))
			return 1;
	}
	k = json_object_get(s, "$ref");
	if (k != NULL && refs < JS_MAX_REFS &&
	    probe_members(c, ref_target(c->root, json_string_value(k)), v, at, refs + 1, out))
		return 1;
	k = json_object_get(s, "allOf");
	for (size_t i = 0; i < json_array_size(k); i++) {
		if (probe_members(c, json_array_get(k, i), v, at, refs, out))
			return 1;
	}
	return 0;
}

/* What anyOf/oneOf learn from their failing alternatives. */
struct alt_summary {
	size_t applicable;          /* alternatives not rejected by a discriminator */
	struct verr first_applicable;
	int have_disc, disc_conflict;
	struct verr disc;           /* the deepest discriminator rejection seen */
	unsigned types;             /* merged VK_TYPE expectations at disc's path */
	const json_t *vals[JS_MAX_VALUES];  /* merged VK_VALUE expectations */
	size_t nvals;
	int more_vals;
};

/* Scratch space for one anyOf/oneOf, on the heap (about 3 KiB). */
struct alt_work {
	struct verr err, probe;
	struct alt_summary sum;
};

static void summary_add_value(struct alt_summary *sum, const json_t *val)
{
	for (size_t i = 0; i < sum->nvals; i++) {
		if (js_equal(sum->vals[i], val))
			return;
	}
	if (sum->nvals == JS_MAX_VALUES)
		sum->more_vals = 1;
	else
		sum->vals[sum->nvals++] = val;
}

static void summary_merge(struct alt_summary *sum, const struct verr *e)
{
	if (e->kind == VK_TYPE) {
		sum->types |= e->types;
	} else if (e->want_is_enum) {
		for (size_t i = 0; i < json_array_size(e->want); i++)
			summary_add_value(sum, json_array_get(e->want, i));
	} else {
		summary_add_value(sum, e->want);
	}
}

/* Keep the deepest rejections: a member's "kind" says more than the value's
 * type.  Rejections at one depth merge when they agree on path and kind. */
static void summary_add_disc(struct alt_summary *sum, const struct verr *e)
{
	if (!sum->have_disc || e->depth > sum->disc.depth) {
		sum->have_disc = 1;
		sum->disc_conflict = 0;
		sum->disc = *e;
		sum->types = 0;
		sum->nvals = 0;
		sum->more_vals = 0;
		summary_merge(sum, e);
	} else if (e->depth == sum->disc.depth) {
		if (e->path_len != sum->disc.path_len ||
		    memcmp(e->text, sum->disc.text, e->path_len) != 0)
			sum->disc_conflict = 1;
		else
			summary_merge(sum, e);
	}
}

static void summary_add_applicable(struct alt_summary *sum, const struct verr *e)
{
	if (sum->applicable++ == 0)
		sum->first_applicable = *e;
}

/* The error for "no alternative matched". */
static prov_status summary_fail(const struct alt_summary *sum, const char *kw,
                                const struct ipath *at, struct verr *out)
{
	struct sbuf b;

	if (sum->applicable == 1) {
		*out = sum->first_applicable;
		return out->code;
	}
	if (sum->applicable > 0 || !sum->have_disc || sum->disc_conflict)
		return fail(out, at, "matches no %s alternative", kw);
	*out = sum->disc;
	/* Keep disc's path, replace its message. */
	b.p = out->text;
	b.cap = sizeof(out->text);
	b.len = out->path_len;
	out->text[b.len] = '\0';
	sb_puts(&b, ": ");
	out->want_is_enum = 0;
	if (sum->nvals == 0) {
		out->kind = VK_TYPE;
		out->types = sum->types;
		sb_puts(&b, "must be ");
		sb_types(&b, sum->types);
	} else if (sum->types == 0) {
		/* A merged list is no longer one const or enum. */
		out->kind = sum->nvals == 1 && !sum->more_vals ? VK_VALUE : VK_OTHER;
		out->want = sum->vals[0];
		sb_value_list(&b, sum->vals, sum->nvals, sum->more_vals);
	} else {
		out->kind = VK_OTHER;
		sb_puts(&b, "must be ");
		sb_alternatives(&b, sum->vals, sum->nvals, sum->more_vals, sum->types);
	}
	return out->code;
}

static prov_status v_alternatives(const struct vctx *c, const json_t *list, int one,
                                  const json_t *v, const struct ipath *at, unsigned refs,
                                  struct verr *out)
{
	struct alt_work *w = calloc(1, sizeof(*w));
	size_t matched = 0, first = 0;
	prov_status st = PROV_OK;

	if (w == NULL) {
		struct sbuf b = fail_internal(out);

		sb_puts(&b, "out of memory");
		return PROV_E_INTERNAL;
	}
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *alt = json_array_get(list, i);

		if (validate(c, alt, v, at, refs, &w->err) == PROV_OK) {
			if (!one)
				goto out;  /* st is PROV_OK */
			if (matched++ > 0) {
				st = fail(out, at, "matches more than one oneOf alternative (%zu and %zu)",
				          first, i);
				goto out;
			}
			first = i;
		} else if (w->err.fatal) {
			*out = w->err;
			st = w->err.code;
			goto out;
		} else if (probe_value(c, alt, v, at, refs, &w->probe) ||
		           probe_members(c, alt, v, at, refs, &w->probe)) {
			summary_add_disc(&w->sum, &w->probe);
		} else {
			summary_add_applicable(&w->sum, &w->err);
		}
	}
	if (matched != 1)
		st = summary_fail(&w->sum, one ? "oneOf" : "anyOf", at, out);
out:
	free(w);
	return st;
}

static prov_status v_compose(const struct vctx *c, const json_t *s, const json_t *v,
                             const struct ipath *at, unsigned refs, struct verr *out)
{
	const json_t *k, *branch;
	prov_status st;
	int matched;

	if ((k = json_object_get(s, "allOf")) != NULL) {
		for (size_t i = 0; i < json_array_size(k); i++) {
			st = validate(c, json_array_get(k, i), v, at, refs, out);
			if (st != PROV_OK)
				return st;
		}
	}
	if ((k = json_object_get(s, "anyOf")) != NULL &&
	    (st = v_alternatives(c, k, 0, v, at, refs, out)) != PROV_OK)
		return st;
	if ((k = json_object_get(s, "oneOf")) != NULL &&
	    (st = v_alternatives(c, k, 1, v, at, refs, out)) != PROV_OK)
		return st;
	if ((k = json_object_get(s, "not")) != NULL) {
		if ((st = v_quiet(c, k, v, at, refs, &matched, out)) != PROV_OK)
			return st;
		if (matched)
			return fail(out, at, "must not match the \"not\" schema");
	}
	if ((k = json_object_get(s, "if")) != NULL) {
		if ((st = v_quiet(c, k, v, at, refs, &matched, out)) != PROV_OK)
			return st;
		branch = json_object_get(s, matched ? "then" : "else");
		if (branch != NULL)
			return validate(c, branch, v, at, refs, out);
	}
	return PROV_OK;
}

/* `refs` counts the $refs followed at this instance location (see JS_MAX_REFS). */
static prov_status validate(const struct vctx *c, const json_t *s, const json_t *v,
                            const struct ipath *at, unsigned refs, struct verr *out)
{
	prov_status st;

	if (json_is_true(s))
		return PROV_OK;
	if (json_is_false(s))
		return fail(out, at, "not allowed");
	if (at->depth > JS_MAX_DEPTH) {
		fail(out, at, "nested too deeply (limit %d levels)", JS_MAX_DEPTH);
		out->fatal = 1;
		return PROV_E_INPUT;
	}
	if ((st = v_type(s, v, at, out)) != PROV_OK ||
	    (st = v_const_enum(s, v, at, out)) != PROV_OK ||
	    (st = v_number(s, v, at, out)) != PROV_OK ||
	    (st = v_string(c, s, v, at, out)) != PROV_OK ||
	    (st = v_array(c, s, v, at, out)) != PROV_OK ||
	    (st = v_object(c, s, v, at, out)) != PROV_OK ||
	    (st = v_ref(c, s, v, at, refs, out)) != PROV_OK)
		return st;
	return v_compose(c, s, v, at, refs, out);
}

prov_status prov_jsonschema_validate(const json_t *schema, const json_t *instance,
                                     prov_err *e)
{
	prov_err scratch;
	struct re_cache rc = { NULL, 0, 0 };
	struct sctx sc = { schema, e != NULL ? e : &scratch, &rc };
	struct spath sroot = { NULL, NULL, 0 };
	struct vctx vc = { schema, &rc };
	struct ipath iroot = { NULL, NULL, 0, 0 };
	struct verr ve;
	prov_status st;

	if (schema == NULL || instance == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "jsonschema: no schema or no instance");
	st = check_schema(&sc, schema, &sroot, 0);
	if (st == PROV_OK) {
		if (rc.n > 0)
			qsort(rc.v, rc.n, sizeof(rc.v[0]), re_entry_cmp);
		st = validate(&vc, schema, instance, &iroot, 0, &ve);
		if (st != PROV_OK)
			prov_err_set(e, st, "%s", ve.text);
	}
	re_cache_free(&rc);
	return st;
}
