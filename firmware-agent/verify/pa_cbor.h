/*
 * pa_cbor.h - a bounded, heap-free CBOR reader for the agent (RFC 8949).
 *
 * Reads one data item head at a time from a buffer it does not own, checking
 * every length against what remains before anything is read.  It accepts only
 * what a bundle may hold: definite lengths, shortest-form heads (deterministic
 * encoding, RFC 8949 section 4.2.1), no floats, simple values false/true/null.
 * Errors stick: after the first one every call returns a zero value and
 * pa_cbor_err() reports it, so a parser checks once at the end of a block.
 * Why not libcbor's cbor_stream_decode: docs/agent.md ("CBOR").
 */
#ifndef PA_CBOR_H
#define PA_CBOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum pa_cbor_status {
	PA_CBOR_OK = 0,
	PA_CBOR_TRUNCATED = 1,      /* the input ends inside an item */
	PA_CBOR_MALFORMED = 2,      /* not deterministic CBOR of the accepted kinds */
	PA_CBOR_TYPE = 3            /* valid CBOR, but not the type or range asked for */
} pa_cbor_status;

#define PA_CBOR_UINT 0
#define PA_CBOR_NINT 1
#define PA_CBOR_BSTR 2
#define PA_CBOR_TSTR 3
#define PA_CBOR_ARRAY 4
#define PA_CBOR_MAP 5
#define PA_CBOR_TAG 6
#define PA_CBOR_SIMPLE 7

typedef struct pa_cbor {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	int err;
} pa_cbor;

void pa_cbor_init(pa_cbor *r, const uint8_t *buf, size_t len);
/* Major type of the next item without consuming it, -1 at the end or on error. */
int pa_cbor_peek(pa_cbor *r);
/* Consume a head of major type `major`; its argument (count, length, value). */
uint64_t pa_cbor_head(pa_cbor *r, int major);
uint64_t pa_cbor_uint(pa_cbor *r, uint64_t max);
/* Integer of major 0 or 1 in [min, max]. */
int64_t pa_cbor_int(pa_cbor *r, int64_t min, int64_t max);
/* Byte or text string of min..max bytes; returns a pointer into the buffer. */
const uint8_t *pa_cbor_bytes(pa_cbor *r, int major, size_t min, size_t max, size_t *len);
int pa_cbor_bool(pa_cbor *r);
/* Set an error unless one is set (a parser's own TYPE verdicts). */
void pa_cbor_fail(pa_cbor *r, int err);
int pa_cbor_err(const pa_cbor *r);
/* 1 if every byte has been consumed without error. */
int pa_cbor_at_end(const pa_cbor *r);

#endif
