/* escape.c - outside text and numbers made safe to print (see prov/escape.h). */
#include "prov/escape.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How a text is escaped and cut. */
enum {
	CUT_MIDDLE = 1,     /* keep the end too (messages) */
	KEEP_BACKSLASH = 2, /* a backslash stays one (messages: idempotent) */
};

/* The escape of one byte into piece (PROV_ESCAPE_MAX + 1 bytes); its length. */
static size_t escape_byte(unsigned char c, char piece[PROV_ESCAPE_MAX + 1], unsigned how)
{
	static const char hex[] = "0123456789abcdef";

	switch (c) {
	case '\\':
		if (how & KEEP_BACKSLASH)
			break;
		memcpy(piece, "\\\\", 3);
		return 2;
	case '\n': memcpy(piece, "\\n", 3); return 2;
	case '\r': memcpy(piece, "\\r", 3); return 2;
	case '\t': memcpy(piece, "\\t", 3); return 2;
	default: break;
	}
	if (c >= 0x20 && c <= 0x7e) {
		piece[0] = (char)c;
		piece[1] = 0;
		return 1;
	}
	piece[0] = '\\';
	piece[1] = 'x';
	piece[2] = hex[c >> 4];
	piece[3] = hex[c & 15];
	piece[4] = 0;
	return 4;
}

/* Escape into out; when the whole does not fit, whole escapes from the start
 * (and, with middle, from the end) around the mark of the cut. */
static char *escape_cut(char *out, size_t cap, const unsigned char *p, size_t len, unsigned how)
{
	int middle = (how & CUT_MIDDLE) != 0;
	char piece[PROV_ESCAPE_MAX + 1];
	size_t total = 0, pos = 0, room, cut = sizeof(PROV_ESCAPE_CUT) - 1, head, tail = 0, from = len;

	if (cap == 0)
		return out;
	room = cap - 1;
	for (size_t i = 0; i < len && total <= room; i++)
		total += escape_byte(p[i], piece, how);
	if (total <= room) {
		for (size_t i = 0; i < len; i++)
			pos += escape_byte(p[i], out + pos, how);
		out[pos] = 0;
		return out;
	}
	if (cut > room) {
		/* a buffer of fewer than 4 bytes holds part of the mark */
		memcpy(out, PROV_ESCAPE_CUT, room);
		out[room] = 0;
		return out;
	}
	head = middle ? (room - cut) / 2 : room - cut;
	if (middle) {
		/* The end first: whole escapes back from the last byte. */
		size_t budget = room - cut - head;

		while (from > 0 && tail + escape_byte(p[from - 1], piece, how) <= budget)
			tail += escape_byte(p[from - 1], piece, how), from--;
		head = room - cut - tail; /* the start may use what the end left */
	}
	for (size_t i = 0; i < from; i++) {
		size_t n = escape_byte(p[i], piece, how);

		if (pos + n > head)
			break;
		memcpy(out + pos, piece, n);
		pos += n;
	}
	/* What the start could not use (a wide escape stopped it) goes to the end.
	 * The two never meet: then the whole would have fitted. */
	while (middle && from > 0 && pos + cut + tail + escape_byte(p[from - 1], piece, how) <= room)
		tail += escape_byte(p[from - 1], piece, how), from--;
	memcpy(out + pos, PROV_ESCAPE_CUT, cut);
	pos += cut;
	for (size_t i = from; i < len; i++)
		pos += escape_byte(p[i], out + pos, how);
	out[pos] = 0;
	return out;
}

char *prov_escape(char *out, size_t cap, const void *in, size_t len)
{
	return escape_cut(out, cap, in, len, 0);
}

char *prov_escape_msg(char *out, size_t cap, const void *in, size_t len)
{
	return escape_cut(out, cap, in, len, CUT_MIDDLE | KEEP_BACKSLASH);
}

char *prov_escape_str(char *out, size_t cap, const char *s)
{
	if (s == NULL)
		s = "(null)";
	return prov_escape(out, cap, s, strlen(s));
}

json_t *prov_json_text(const void *in, size_t len)
{
	json_t *j;
	char *esc;
	size_t cap;

	/* jansson checks UTF-8 (shortest forms, no surrogates) and refuses what is
	 * not; a NUL would end the text for every C reader of the output. */
	if (memchr(in, 0, len) == NULL && (j = json_stringn(in, len)) != NULL)
		return j;
	if (len > (SIZE_MAX - 1) / PROV_ESCAPE_MAX)
		return NULL;
	cap = len * PROV_ESCAPE_MAX + 1;
	esc = malloc(cap);
	if (esc == NULL)
		return NULL;
	j = json_string(prov_escape(esc, cap, in, len));
	free(esc);
	return j;
}

/* The marker of a uint64 above INT64_MAX: NUL, "u64:", the digits. */
#define U64_TAG "u64:"
#define U64_TAG_LEN (sizeof(U64_TAG) - 1)
/* How the marker's first bytes look in jansson's output. */
#define U64_DUMPED "\"\\u0000" U64_TAG

json_t *prov_json_u64(uint64_t v)
{
	char buf[1 + U64_TAG_LEN + 21];
	int n;

	if (v <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)v);
	n = snprintf(buf, sizeof(buf), "%c" U64_TAG "%" PRIu64, 0, v);
	return json_stringn(buf, (size_t)n);
}

int prov_json_get_u64(const json_t *j, uint64_t *v)
{
	const char *s;
	size_t n;
	char *end;

	if (json_is_integer(j) && json_integer_value(j) >= 0) {
		*v = (uint64_t)json_integer_value(j);
		return 0;
	}
	if (!json_is_string(j))
		return -1;
	s = json_string_value(j);
	n = json_string_length(j);
	if (n < 2 + U64_TAG_LEN || s[0] != 0 || memcmp(s + 1, U64_TAG, U64_TAG_LEN) != 0)
		return -1;
	*v = strtoull(s + 1 + U64_TAG_LEN, &end, 10);
	return end == s + n ? 0 : -1;
}

char *prov_json_dump(const json_t *j, size_t flags)
{
	char *s = json_dumps(j, flags), *r, *w;

	if (s == NULL)
		return NULL;
	/* In place: a marker "\u0000u64:DIGITS" (quotes included) becomes DIGITS. */
	for (r = w = s; *r != 0;) {
		size_t d;

		if (strncmp(r, U64_DUMPED, sizeof(U64_DUMPED) - 1) == 0) {
			const char *digits = r + sizeof(U64_DUMPED) - 1;

			d = strspn(digits, "0123456789");
			if (d > 0 && digits[d] == '"') {
				memmove(w, digits, d);
				w += d;
				r = (char *)digits + d + 1;
				continue;
			}
		}
		*w++ = *r++;
	}
	*w = 0;
	return s;
}
