/*
 * pa_cbor.c - bounded CBOR reader (see pa_cbor.h).
 */
#include "verify/pa_cbor.h"

/* Additional information values (RFC 8949 section 3). */
#define AI_1BYTE 24
#define AI_8BYTE 27
#define AI_INDEF 31
#define SIMPLE_FALSE 20
#define SIMPLE_TRUE 21
#define SIMPLE_NULL 22

void pa_cbor_init(pa_cbor *r, const uint8_t *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->pos = 0;
	r->err = buf == NULL && len > 0 ? PA_CBOR_MALFORMED : PA_CBOR_OK;
}

void pa_cbor_fail(pa_cbor *r, int err)
{
	if (r->err == PA_CBOR_OK)
		r->err = err;
}

int pa_cbor_err(const pa_cbor *r)
{
	return r->err;
}

int pa_cbor_at_end(const pa_cbor *r)
{
	return r->err == PA_CBOR_OK && r->pos == r->len;
}

int pa_cbor_peek(pa_cbor *r)
{
	if (r->err != PA_CBOR_OK || r->pos >= r->len)
		return -1;
	return r->buf[r->pos] >> 5;
}

/* Read any head: major type and argument.  Returns -1 on error. */
static int read_head(pa_cbor *r, uint64_t *arg)
{
	unsigned ib, ai, n, i;
	uint64_t v;

	*arg = 0;
	if (r->err != PA_CBOR_OK)
		return -1;
	if (r->pos >= r->len) {
		r->err = PA_CBOR_TRUNCATED;
		return -1;
	}
	ib = r->buf[r->pos];
	ai = ib & 0x1fu;
	if (ai < AI_1BYTE) {
		r->pos++;
		*arg = ai;
		return (int)(ib >> 5);
	}
	if (ai > AI_8BYTE) {   /* 28..30 reserved, 31 indefinite: not accepted */
		r->err = PA_CBOR_MALFORMED;
		return -1;
	}
	n = 1u << (ai - AI_1BYTE);   /* 1, 2, 4 or 8 argument bytes */
	if (r->len - r->pos - 1 < n) {
		r->err = PA_CBOR_TRUNCATED;
		return -1;
	}
	v = 0;
	for (i = 0; i < n; i++)
		v = (v << 8) | r->buf[r->pos + 1 + i];
	/* shortest form only (RFC 8949 section 4.2.1); for simple values, a
	 * two-byte encoding of a value below 32 is not well-formed (3.3) */
	if ((n == 1 && v < AI_1BYTE) || (n == 2 && v <= 0xffu) ||
	    (n == 4 && v <= 0xffffu) || (n == 8 && v <= 0xffffffffu)) {
		r->err = PA_CBOR_MALFORMED;
		return -1;
	}
	r->pos += 1 + n;
	*arg = v;
	return (int)(ib >> 5);
}

uint64_t pa_cbor_head(pa_cbor *r, int major)
{
	uint64_t v;
	int m = read_head(r, &v);

	if (m < 0)
		return 0;
	if (m != major) {
		r->err = PA_CBOR_TYPE;
		return 0;
	}
	if (m == PA_CBOR_SIMPLE && v != SIMPLE_FALSE && v != SIMPLE_TRUE && v != SIMPLE_NULL) {
		r->err = v >= AI_1BYTE ? PA_CBOR_MALFORMED : PA_CBOR_TYPE;   /* floats, others */
		return 0;
	}
	return v;
}

uint64_t pa_cbor_uint(pa_cbor *r, uint64_t max)
{
	uint64_t v = pa_cbor_head(r, PA_CBOR_UINT);

	if (r->err == PA_CBOR_OK && v > max) {
		r->err = PA_CBOR_TYPE;
		return 0;
	}
	return v;
}

int64_t pa_cbor_int(pa_cbor *r, int64_t min, int64_t max)
{
	uint64_t v;
	int64_t s;
	int m = read_head(r, &v);

	if (m < 0)
		return 0;
	if ((m != PA_CBOR_UINT && m != PA_CBOR_NINT) || v > (uint64_t)INT64_MAX) {
		r->err = PA_CBOR_TYPE;
		return 0;
	}
	s = m == PA_CBOR_UINT ? (int64_t)v : -1 - (int64_t)v;
	if (s < min || s > max) {
		r->err = PA_CBOR_TYPE;
		return 0;
	}
	return s;
}

const uint8_t *pa_cbor_bytes(pa_cbor *r, int major, size_t min, size_t max, size_t *len)
{
	const uint8_t *p;
	uint64_t n;

	*len = 0;
	n = pa_cbor_head(r, major);   /* major: PA_CBOR_BSTR or PA_CBOR_TSTR */
	if (r->err != PA_CBOR_OK)
		return NULL;
	/* n is attacker-controlled: check it against what remains first */
	if (n > r->len - r->pos) {
		r->err = PA_CBOR_TRUNCATED;
		return NULL;
	}
	if (n < min || n > max) {
		r->err = PA_CBOR_TYPE;
		return NULL;
	}
	p = r->buf + r->pos;
	r->pos += (size_t)n;
	*len = (size_t)n;
	return p;
}

int pa_cbor_bool(pa_cbor *r)
{
	uint64_t v = pa_cbor_head(r, PA_CBOR_SIMPLE);

	if (r->err == PA_CBOR_OK && v != SIMPLE_FALSE && v != SIMPLE_TRUE)
		r->err = PA_CBOR_TYPE;
	return r->err == PA_CBOR_OK && v == SIMPLE_TRUE;
}
