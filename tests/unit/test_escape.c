/*
 * test_escape.c - prov/escape.h and the escaping of error messages (prov/err.h).
 *
 * Data-driven: each row is an input and the exact text expected.  Then every
 * byte value alone and in every cut position (the result is printable ASCII,
 * one line, never longer than the buffer, cut only at an escape boundary and
 * then marked "..."), the JSON helpers (invalid UTF-8 escaped rather than lost,
 * uint64 exact through prov_json_dump, read back by jansson), and
 * prov_err_set/_wrap/_ssl on hostile arguments.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prov/err.h"
#include "prov/escape.h"

static const struct {
	const char *in;
	size_t len;
	const char *want;
} rows[] = {
	{"plain", 5, "plain"},
	{"", 0, ""},
	{"a b~", 4, "a b~"},
	{"back\\slash", 10, "back\\\\slash"},
	{"nl\ncr\rtab\t", 10, "nl\\ncr\\rtab\\t"},
	{"\x1b]0;pwned\x07", 10, "\\x1b]0;pwned\\x07"},
	{"\x1b[2J", 4, "\\x1b[2J"},
	{"del\x7f", 4, "del\\x7f"},
	{"nul\0after", 9, "nul\\x00after"},
	{"\xc3\xa9t\xc3\xa9", 5, "\\xc3\\xa9t\\xc3\\xa9"}, /* UTF-8 "été": escaped too */
	{"\xc2\x9b" "31m", 5, "\\xc2\\x9b31m"},            /* U+009B, a C1 CSI */
	{"\xe2\x80\xae" "abc", 6, "\\xe2\\x80\\xaeabc"},    /* U+202E, RIGHT-TO-LEFT OVERRIDE */
	{"\xff\xfe", 2, "\\xff\\xfe"},
};

static int printable_line(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

/* The length of the escaped text of in (no cut); msg: a message's escape,
 * which keeps a backslash. */
static size_t full_len_of(const unsigned char *in, size_t n, int msg)
{
	size_t t = 0;

	for (size_t i = 0; i < n; i++)
		t += in[i] == '\\'                                   ? (msg ? 1 : 2)
		     : in[i] == '\n' || in[i] == '\r' || in[i] == '\t' ? 2
		     : in[i] >= 0x20 && in[i] <= 0x7e                 ? 1
		                                                       : 4;
	return t;
}


static void table(void)
{
	char out[256];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		prov_escape(out, sizeof(out), rows[i].in, rows[i].len);
		CHECK_MSG(strcmp(out, rows[i].want) == 0, "row %zu: got \"%s\", want \"%s\"", i, out, rows[i].want);
	}
	CHECK(strcmp(prov_escape_str(out, sizeof(out), NULL), "(null)") == 0);
	CHECK(strcmp(prov_escape_str(out, sizeof(out), "a\nb"), "a\\nb") == 0);
}

/* Every byte: printable ASCII only, and exactly the documented escape. */
static void every_byte(void)
{
	char out[16], want[8];

	for (int c = 0; c < 256; c++) {
		unsigned char b = (unsigned char)c;

		prov_escape(out, sizeof(out), &b, 1);
		if (c == '\\')
			strcpy(want, "\\\\");
		else if (c == '\n')
			strcpy(want, "\\n");
		else if (c == '\r')
			strcpy(want, "\\r");
		else if (c == '\t')
			strcpy(want, "\\t");
		else if (c >= 0x20 && c <= 0x7e)
			snprintf(want, sizeof(want), "%c", c);
		else
			snprintf(want, sizeof(want), "\\x%02x", c);
		CHECK_MSG(strcmp(out, want) == 0 && printable_line(out), "byte %02x: \"%s\"", c, out);
	}
}

/* The escape boundaries of the whole escape of in: bounds[k] is where the
 * escape of byte k starts; bounds[n] the end. */
static void boundaries(const unsigned char *in, size_t n, size_t *bounds, int msg)
{
	bounds[0] = 0;
	for (size_t i = 0; i < n; i++)
		bounds[i + 1] = bounds[i] + full_len_of(in + i, 1, msg);
}

static int is_bound(const size_t *bounds, size_t n, size_t at)
{
	for (size_t i = 0; i <= n; i++)
		if (bounds[i] == at)
			return 1;
	return 0;
}

/* A hostile text into every buffer size, cut at the end (prov_escape) and in
 * the middle (prov_escape_msg): never overrun, printable, and when it does not
 * fit, whole escapes of the full escape around one "..." mark, as many as fit. */
static void cuts(void)
{
	static const unsigned char in[] = "ab\x1b[2J\ncd\\e\xff" "fgh\x07" "0123456789";
	size_t n = sizeof(in) - 1, full, bounds[sizeof(in)];
	char whole[256], buf[256];
	int cases = 0;

	/* middle 0: prov_escape; 1: prov_escape_msg (a backslash kept, cut in the middle) */
	for (int middle = 0; middle < 2; middle++) {
		full = full_len_of(in, n, middle);
		boundaries(in, n, bounds, middle);
		if (middle)
			prov_escape_msg(whole, sizeof(whole), in, n);
		else
			prov_escape(whole, sizeof(whole), in, n);
		CHECK(strlen(whole) == full);
		for (size_t cap = 0; cap <= full + 2; cap++) {
			size_t got, head, tail;
			const char *mark;

			memset(buf, 'Z', sizeof(buf));
			if (middle)
				prov_escape_msg(buf, cap, in, n);
			else
				prov_escape(buf, cap, in, n);
			cases++;
			if (cap == 0) {
				CHECK(buf[0] == 'Z'); /* nothing written */
				continue;
			}
			got = strlen(buf);
			CHECK_MSG(got <= cap - 1 && buf[cap] == 'Z', "cap %zu: overrun", cap);
			CHECK_MSG(printable_line(buf), "cap %zu: not printable", cap);
			if (cap - 1 >= full) {
				CHECK_MSG(strcmp(buf, whole) == 0, "cap %zu: cut though it fits", cap);
				continue;
			}
			if (cap - 1 < 3) {
				CHECK_MSG(strncmp(buf, "...", got) == 0 && got == cap - 1, "cap %zu: \"%s\"", cap, buf);
				continue;
			}
			/* head "..." tail: head a prefix and tail a suffix of the whole
			 * escape, both at escape boundaries, filling the buffer as far as
			 * whole escapes go. */
			mark = middle ? strstr(buf, "...") : buf + got - 3;
			CHECK_MSG(mark != NULL && strncmp(mark, "...", 3) == 0, "cap %zu/%d: no mark: \"%s\"", cap, middle, buf);
			if (mark == NULL)
				continue;
			head = (size_t)(mark - buf);
			tail = got - head - 3;
			CHECK_MSG(strncmp(buf, whole, head) == 0 && strcmp(buf + head + 3, whole + full - tail) == 0,
			          "cap %zu/%d: not whole's head and tail: \"%s\"", cap, middle, buf);
			CHECK_MSG(is_bound(bounds, n, head) && is_bound(bounds, n, full - tail),
			          "cap %zu/%d: cut inside an escape", cap, middle);
			CHECK_MSG(middle || tail == 0, "cap %zu: prov_escape kept an end", cap);
			/* One more escape on either side would not have fit. */
			for (size_t k = 0; k < n; k++) {
				if (bounds[k] == head)
					CHECK_MSG(head + full_len_of(in + k, 1, middle) + 3 + tail > cap - 1, "cap %zu/%d: room left at the head", cap, middle);
				if (middle && bounds[k + 1] == full - tail)
					CHECK_MSG(head + 3 + tail + full_len_of(in + k, 1, middle) > cap - 1, "cap %zu/%d: room left at the tail", cap, middle);
			}
			/* A middle cut keeps a tail when there is room for one escape. */
			CHECK_MSG(!middle || tail > 0 || (cap - 1 - 3) / 2 < full_len_of(in + n - 1, 1, middle),
			          "cap %zu: prov_escape_msg dropped the end", cap);
		}
	}
	printf("escape: %d buffer sizes of a hostile text, cut at the end and in the middle\n", cases);
}

static void json_helpers(void)
{
	static const uint64_t nums[] = {0, 1, 42, (uint64_t)INT64_MAX, (uint64_t)INT64_MAX + 1,
	                                UINT64_C(18446744073709551614), UINT64_MAX};
	json_t *j, *o, *back;
	json_error_t je;
	char *s;
	uint64_t v;

	/* Valid UTF-8 stays itself, controls included (jansson escapes them). */
	j = prov_json_text("\xc3\xa9\x1b", 3);
	CHECK(j != NULL && json_string_length(j) == 3 && memcmp(json_string_value(j), "\xc3\xa9\x1b", 3) == 0);
	json_decref(j);
	/* Invalid UTF-8 and NUL: escaped, never NULL (json_string would be). */
	CHECK(json_string("\xff\xfe") == NULL);
	j = prov_json_text("id\xff\xfe", 4);
	CHECK(j != NULL && strcmp(json_string_value(j), "id\\xff\\xfe") == 0);
	json_decref(j);
	j = prov_json_text("a\0b", 3);
	CHECK(j != NULL && strcmp(json_string_value(j), "a\\x00b") == 0);
	json_decref(j);
	j = prov_json_text("\xc0\xaf", 2); /* overlong "/" */
	CHECK(j != NULL && strcmp(json_string_value(j), "\\xc0\\xaf") == 0);
	json_decref(j);

	/* uint64: exact numbers in the dump, read back by jansson's own parser
	 * (as a signed integer where it fits, else as text compared digit for digit). */
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		char want[64], *p;

		o = json_pack("{s:o, s:s}", "n", prov_json_u64(nums[i]), "x", "y");
		CHECK(o != NULL && prov_json_get_u64(json_object_get(o, "n"), &v) == 0 && v == nums[i]);
		s = prov_json_dump(o, JSON_COMPACT | JSON_SORT_KEYS);
		snprintf(want, sizeof(want), "{\"n\":%llu,\"x\":\"y\"}", (unsigned long long)nums[i]);
		CHECK_MSG(s != NULL && strcmp(s, want) == 0, "u64 %zu: %s", i, s ? s : "(null)");
		back = s != NULL ? json_loads(s, JSON_DECODE_INT_AS_REAL, &je) : NULL;
		CHECK(back != NULL && json_is_number(json_object_get(back, "n")));
		p = s != NULL ? strstr(s, "\"n\":") : NULL;
		CHECK(p != NULL && strtoull(p + 4, NULL, 10) == nums[i]);
		json_decref(back);
		free(s);
		json_decref(o);
	}
	/* Indented output too; and a text that only looks like a marker stays text. */
	o = json_pack("{s:o, s:o}", "n", prov_json_u64(UINT64_MAX), "t", prov_json_text("\\u0000u64:5\"", 12));
	s = prov_json_dump(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	CHECK(s != NULL && strstr(s, "\"n\": 18446744073709551615") != NULL && strstr(s, "u64:5") != NULL);
	back = s != NULL ? json_loads(s, JSON_DECODE_INT_AS_REAL, &je) : NULL;
	CHECK_MSG(back != NULL && strcmp(json_string_value(json_object_get(back, "t")), "\\u0000u64:5\"") == 0, "%s", s);
	json_decref(back);
	free(s);
	json_decref(o);
	/* Not a uint64: a negative integer, a plain string, a marker with junk. */
	o = json_pack("{s:i, s:s, s:o}", "neg", -1, "str", "u64:5", "bad", json_stringn("\0u64:5x", 7));
	CHECK(prov_json_get_u64(json_object_get(o, "neg"), &v) == -1);
	CHECK(prov_json_get_u64(json_object_get(o, "str"), &v) == -1);
	CHECK(prov_json_get_u64(json_object_get(o, "bad"), &v) == -1);
	json_decref(o);
}

static void errors(void)
{
	char big[3000];
	prov_err e;

	/* A message keeps a backslash: quoting an escaped text (a JSON value, a
	 * message) again changes nothing.  Everything else as prov_escape. */
	prov_err_set(&e, PROV_E_INPUT, "value %s", "\"a\\\"b\\n\"");
	CHECK_MSG(strcmp(e.msg, "value \"a\\\"b\\n\"") == 0, "%s", e.msg);
	{
		prov_err inner, outer;

		prov_err_set(&inner, PROV_E_INPUT, "id %s", "a\x1b\\b\xff");
		CHECK_MSG(strcmp(inner.msg, "id a\\x1b\\b\\xff") == 0, "%s", inner.msg);
		prov_err_set(&outer, PROV_E_VERIFY, "%s", inner.msg);
		CHECK(strcmp(outer.msg, inner.msg) == 0);
	}
	prov_err_set(&e, PROV_E_INPUT, "unknown device %s", "\x1b[31mx\ninstalled OK\r");
	CHECK_MSG(strcmp(e.msg, "unknown device \\x1b[31mx\\ninstalled OK\\r") == 0, "%s", e.msg);
	CHECK(e.code == PROV_E_INPUT);
	/* The prefix is escaped, the old message kept as it is (no doubled backslashes). */
	prov_err_wrap(&e, "port %s", "/dev/\x07tty");
	CHECK_MSG(strcmp(e.msg, "port /dev/\\x07tty: unknown device \\x1b[31mx\\ninstalled OK\\r") == 0, "%s", e.msg);
	/* Too long: cut to the buffer in the middle, marked, the reason kept. */
	memset(big, '\x1b', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	prov_err_set(&e, PROV_E_INPUT, "id %s: the reason", big);
	{
		size_t n = strlen(e.msg);
		const char *mark = strstr(e.msg, "...");

		CHECK(n <= sizeof(e.msg) - 1 && n > sizeof(e.msg) - 1 - 4 && printable_line(e.msg));
		CHECK(strncmp(e.msg, "id \\x1b\\x1b", 11) == 0 && strcmp(e.msg + n - 16, "\\x1b: the reason") == 0);
		/* whole escapes on both sides of the one mark */
		CHECK(mark != NULL && (mark - e.msg - 3) % 4 == 0 && (e.msg + n - 12 - (mark + 3)) % 4 == 0);
		CHECK(mark != NULL && strstr(mark + 3, "...") == NULL);
	}
	/* A long old message under a wrap: the prefix first, the old message cut
	 * in its middle at escape boundaries, its reason kept. */
	memset(big, '\x1b', 185);
	big[185] = 0;
	prov_err_set(&e, PROV_E_INPUT, "id %s: the reason", big); /* 755 characters: fits */
	CHECK(strlen(e.msg) == 3 + 185 * 4 + 12 && strstr(e.msg, "...") == NULL);
	prov_err_wrap(&e, "prefix-%s", "0123456789"); /* 19 more: too long */
	{
		size_t n = strlen(e.msg);
		const char *mark = strstr(e.msg, "...");

		CHECK(n <= sizeof(e.msg) - 1 && n > sizeof(e.msg) - 1 - 4 && printable_line(e.msg));
		CHECK(strncmp(e.msg, "prefix-0123456789: id \\x1b", 26) == 0 &&
		      strcmp(e.msg + n - 16, "\\x1b: the reason") == 0);
		CHECK(mark != NULL && (mark - e.msg - 22) % 4 == 0 && (e.msg + n - 12 - (mark + 3)) % 4 == 0);
		CHECK(mark != NULL && strstr(mark + 3, "...") == NULL);
	}
	/* A long message made through the heap keeps its end exactly. */
	{
		static char huge[20000];

		memset(huge, 'A', sizeof(huge) - 1);
		prov_err_set(&e, PROV_E_INPUT, "name %s is too long", huge);
		CHECK(strlen(e.msg) == sizeof(e.msg) - 1 && strcmp(e.msg + strlen(e.msg) - 16, "AAA is too long") != 0);
		CHECK(strcmp(e.msg + strlen(e.msg) - 15, "AAA is too long") == 0 && strncmp(e.msg, "name AAA", 8) == 0);
	}
	prov_err_ssl(&e, PROV_E_CRYPTO, "file %s", "a\nb");
	CHECK(strcmp(e.msg, "file a\\nb") == 0);
}

int main(void)
{
	table();
	every_byte();
	cuts();
	json_helpers();
	errors();
	return check_done("test_escape");
}
