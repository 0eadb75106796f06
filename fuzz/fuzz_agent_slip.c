/*
 * fuzz_agent_slip.c - libFuzzer target for the device's SLIP decoder
 * (firmware-agent/link/pa_slip.c): the bytes the TLS image reads from its
 * link UART in DTLS mode.  The first input byte picks the receive buffer's
 * size (1..64 bytes), the rest is pushed one byte at a time.
 *
 * Checks besides "no crash, no UB": a frame's length never exceeds the
 * buffer and is never 0; each delivered frame, encoded again by pa_slip_send,
 * decodes to the same bytes through a second decoder, and is exactly
 * pa_slip_framed_len long; the counters count what was returned.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "link/pa_slip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t enc[2 * 64 + 2];
static size_t enc_len;

static int collect(void *ctx, const uint8_t *b, size_t n)
{
	(void)ctx;
	if (n > sizeof(enc) - enc_len)
		abort();
	memcpy(enc + enc_len, b, n);
	enc_len += n;
	return 0;
}

static void again(const uint8_t *frame, size_t n)
{
	uint8_t buf[64];
	pa_slip_rx r;
	size_t i, got = 0;

	enc_len = 0;
	if (pa_slip_send(frame, n, collect, NULL) != 0 || enc_len != pa_slip_framed_len(frame, n))
		abort();
	pa_slip_rx_init(&r, buf, sizeof(buf));
	for (i = 0; i < enc_len; i++) {
		int res = pa_slip_rx_byte(&r, enc[i]);

		if (res == PA_SLIP_DROPPED || (res == PA_SLIP_FRAME && (r.len != n || memcmp(buf, frame, n) != 0)))
			abort();
		got += res == PA_SLIP_FRAME;
	}
	if (got != 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t buf[64];
	pa_slip_rx r;
	unsigned long frames = 0, dropped = 0;
	size_t cap, i;

	if (size == 0)
		return 0;
	cap = 1 + data[0] % sizeof(buf);
	pa_slip_rx_init(&r, buf, cap);
	for (i = 1; i < size; i++) {
		int res = pa_slip_rx_byte(&r, data[i]);

		if (r.len > cap)
			abort();
		if (res == PA_SLIP_FRAME) {
			if (r.len == 0)
				abort();
			frames++;
			again(buf, r.len);
		} else if (res == PA_SLIP_DROPPED) {
			dropped++;
		} else if (res != PA_SLIP_MORE) {
			abort();
		}
	}
	if (r.frames != frames || r.dropped != dropped)
		abort();
	return 0;
}
