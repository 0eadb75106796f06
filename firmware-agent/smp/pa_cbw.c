/*
 * pa_cbw.c - bounded CBOR writer (smp/pa_cbw.h); heads come from the agent's
 * own head writer (verify/pa_cose.c).
 */
#include <string.h>

#include "smp/pa_cbw.h"
#include "verify/pa_verify.h"

void pa_cbw_init(pa_cbw *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->err = 0;
}

static void put(pa_cbw *w, const void *p, size_t n)
{
	if (w->err || n > w->cap - w->len) {
		w->err = 1;
		return;
	}
	if (n > 0)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

void pa_cbw_head(pa_cbw *w, int major, uint64_t v)
{
	uint8_t h[9];

	put(w, h, pa_cbor_put_head(h, major, v));
}

void pa_cbw_str(pa_cbw *w, int major, const void *p, size_t n)
{
	pa_cbw_head(w, major, n);
	put(w, p, n);
}

void pa_cbw_key(pa_cbw *w, const char *k)
{
	pa_cbw_str(w, 3, k, strlen(k));
}
