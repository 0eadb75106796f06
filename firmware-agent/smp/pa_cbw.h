/*
 * pa_cbw.h - a bounded CBOR writer for SMP responses (internal): definite
 * lengths, shortest heads, the first overflow sticks (err), nothing past cap.
 */
#ifndef PA_CBW_H
#define PA_CBW_H

#include <stddef.h>
#include <stdint.h>

typedef struct pa_cbw {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
} pa_cbw;

void pa_cbw_init(pa_cbw *w, uint8_t *buf, size_t cap);
void pa_cbw_head(pa_cbw *w, int major, uint64_t v);
/* A byte (major 2) or text (3) string. */
void pa_cbw_str(pa_cbw *w, int major, const void *p, size_t n);
/* A text key (NUL-terminated). */
void pa_cbw_key(pa_cbw *w, const char *k);

#endif
