/*
 * pa_slip.c - SLIP framing (RFC 1055), see pa_slip.h.
 */
#include "link/pa_slip.h"

void pa_slip_rx_init(pa_slip_rx *r, uint8_t *buf, size_t cap)
{
	r->buf = buf;
	r->cap = cap;
	r->len = 0;
	r->esc = 0;
	r->bad = 0;
	r->done = 0;
	r->frames = 0;
	r->dropped = 0;
}

static void put(pa_slip_rx *r, uint8_t b)
{
	if (r->bad)
		return;
	if (r->len >= r->cap) {   /* longer than the caller's buffer: dropped at END */
		r->bad = 1;
		return;
	}
	r->buf[r->len++] = b;
}

int pa_slip_rx_byte(pa_slip_rx *r, uint8_t b)
{
	if (r->done) {   /* the previous byte completed a frame: start over */
		r->done = 0;
		r->len = 0;
	}
	if (b == PA_SLIP_END) {
		int res = PA_SLIP_MORE;

		if (r->bad || r->esc) {   /* too long, or ESC END: a violation */
			r->dropped++;
			res = PA_SLIP_DROPPED;
		} else if (r->len > 0) {
			r->frames++;
			r->done = 1;
			return PA_SLIP_FRAME;   /* buf[0..len) until the next byte */
		}
		r->len = 0;
		r->esc = 0;
		r->bad = 0;
		return res;
	}
	if (r->esc) {
		r->esc = 0;
		if (b == PA_SLIP_ESC_END)
			put(r, PA_SLIP_END);
		else if (b == PA_SLIP_ESC_ESC)
			put(r, PA_SLIP_ESC);
		else
			r->bad = 1;   /* RFC 1055 leaves it undefined: drop the frame */
		return PA_SLIP_MORE;
	}
	if (b == PA_SLIP_ESC)
		r->esc = 1;
	else
		put(r, b);
	return PA_SLIP_MORE;
}

int pa_slip_send(const uint8_t *p, size_t n, pa_slip_write write, void *ctx)
{
	static const uint8_t end[1] = { PA_SLIP_END };
	static const uint8_t esc_end[2] = { PA_SLIP_ESC, PA_SLIP_ESC_END };
	static const uint8_t esc_esc[2] = { PA_SLIP_ESC, PA_SLIP_ESC_ESC };
	size_t i = 0, run;
	int rc = write(ctx, end, 1);

	while (rc == 0 && i < n) {
		for (run = 0; i + run < n && p[i + run] != PA_SLIP_END && p[i + run] != PA_SLIP_ESC; run++)
			;
		if (run > 0) {
			rc = write(ctx, p + i, run);
			i += run;
		} else {
			rc = write(ctx, p[i] == PA_SLIP_END ? esc_end : esc_esc, 2);
			i++;
		}
	}
	if (rc == 0)
		rc = write(ctx, end, 1);
	return rc;
}

size_t pa_slip_framed_len(const uint8_t *p, size_t n)
{
	size_t i, len = n + 2;

	for (i = 0; i < n; i++)
		len += p[i] == PA_SLIP_END || p[i] == PA_SLIP_ESC;
	return len;
}
