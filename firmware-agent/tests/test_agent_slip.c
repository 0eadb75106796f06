/*
 * test_agent_slip.c - SLIP framing (link/pa_slip.h, RFC 1055): the encoding
 * byte for byte (the RFC's escapes; every byte value), round trips of
 * datagrams of every length up to 300 and of random ones up to 2 KB, several
 * frames in one stream, empty frames, line noise before a frame, and what is
 * dropped whole: a frame longer than the buffer (every length around it), an
 * ESC followed by anything but ESC_END / ESC_ESC (every such byte), ESC END.
 * Every drop is followed by a good frame that must come through intact.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "link/pa_slip.h"

static uint8_t out[8192];
static size_t out_len;
static int fail_after = -1;   /* the writer fails on this call (-1: never) */
static int writes;

static int collect(void *ctx, const uint8_t *b, size_t n)
{
	(void)ctx;
	if (fail_after >= 0 && writes++ >= fail_after)
		return 7;
	if (n > sizeof(out) - out_len)
		return -1;
	memcpy(out + out_len, b, n);
	out_len += n;
	return 0;
}

static void encode(const uint8_t *p, size_t n)
{
	out_len = 0;
	writes = 0;
	fail_after = -1;
	CHECK(pa_slip_send(p, n, collect, NULL) == 0);
}

/* Push s[0..n) into r; the frames delivered (at most 8, their lengths and a
 * copy of each), and how many PA_SLIP_DROPPED results came. */
typedef struct got {
	int frames, dropped;
	size_t len[8];
	uint8_t data[8][2100];
} got;

static void decode(pa_slip_rx *r, const uint8_t *s, size_t n, got *g)
{
	size_t i;

	memset(g, 0, sizeof(*g));
	for (i = 0; i < n; i++) {
		int res = pa_slip_rx_byte(r, s[i]);

		if (res == PA_SLIP_FRAME && g->frames < 8) {
			g->len[g->frames] = r->len;
			memcpy(g->data[g->frames], r->buf, r->len);
			g->frames++;
		} else if (res == PA_SLIP_DROPPED) {
			g->dropped++;
		}
	}
}

static void encoding(void)
{
	static const uint8_t dgram[] = { 0x01, 0xc0, 0x02, 0xdb, 0x03 };
	static const uint8_t wire[] = { 0xc0, 0x01, 0xdb, 0xdc, 0x02, 0xdb, 0xdd, 0x03, 0xc0 };
	uint8_t all[256];
	size_t i, k;
	int ok = 1;

	encode(dgram, sizeof(dgram));
	CHECK(out_len == sizeof(wire) && memcmp(out, wire, sizeof(wire)) == 0);
	CHECK(pa_slip_framed_len(dgram, sizeof(dgram)) == sizeof(wire));
	/* every byte value: two of them escaped, the rest as they are */
	for (i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	encode(all, sizeof(all));
	CHECK(out_len == 256 + 2 + 2 && pa_slip_framed_len(all, 256) == out_len);
	for (i = 0, k = 1; i < 256; i++) {
		if (i == 0xc0)
			ok &= out[k] == 0xdb && out[k + 1] == 0xdc, k += 2;
		else if (i == 0xdb)
			ok &= out[k] == 0xdb && out[k + 1] == 0xdd, k += 2;
		else
			ok &= out[k++] == i;
	}
	CHECK(ok && out[0] == 0xc0 && out[out_len - 1] == 0xc0 && k == out_len - 1);
	/* an empty datagram is two ENDs (receivers ignore it) */
	encode(NULL, 0);
	CHECK(out_len == 2 && out[0] == 0xc0 && out[1] == 0xc0);
	/* a writer that fails: its error, at every call */
	for (i = 0; i < 6; i++) {
		out_len = 0;
		writes = 0;
		fail_after = (int)i;
		CHECK_MSG(pa_slip_send(dgram, sizeof(dgram), collect, NULL) == 7, "write %zu fails", i);
	}
	fail_after = -1;
}

static void round_trips(void)
{
	static uint8_t d[2048], buf[2100];
	pa_slip_rx r;
	got g;
	size_t n, i;
	int bad = 0, t;

	srand(13);
	pa_slip_rx_init(&r, buf, sizeof(buf));
	for (n = 1; n <= 300; n++) {
		for (i = 0; i < n; i++)   /* dense in the two special bytes */
			d[i] = (uint8_t)(i % 3 == 0 ? 0xc0 : i % 5 == 0 ? 0xdb : rand());
		encode(d, n);
		decode(&r, out, out_len, &g);
		bad += !(g.frames == 1 && g.dropped == 0 && g.len[0] == n && memcmp(g.data[0], d, n) == 0);
	}
	CHECK_MSG(bad == 0, "%d of 300 lengths", bad);
	for (t = 0, bad = 0; t < 200; t++) {
		n = 1 + (size_t)rand() % sizeof(d);
		for (i = 0; i < n; i++)
			d[i] = (uint8_t)rand();
		encode(d, n);
		decode(&r, out, out_len, &g);
		bad += !(g.frames == 1 && g.len[0] == n && memcmp(g.data[0], d, n) == 0);
	}
	CHECK_MSG(bad == 0, "%d of 200 random datagrams", bad);
	CHECK(r.frames == 500 && r.dropped == 0);
}

static void streams(void)
{
	/* three frames, empty frames between, noise in front */
	static const uint8_t s[] = { 'n', 'o', 0xc0, 0xc0, 0x01, 0x02, 0xc0, 0xc0, 0xc0,
	                             0xdb, 0xdd, 0xc0, 0x03, 0xc0 };
	uint8_t buf[16];
	pa_slip_rx r;
	got g;

	pa_slip_rx_init(&r, buf, sizeof(buf));
	decode(&r, s, sizeof(s), &g);
	/* RFC 1055: the leading END ends whatever noise came before, which comes
	 * out as a frame of its own (the datagram layer above discards it) */
	CHECK(g.frames == 4 && g.dropped == 0);
	CHECK(g.len[0] == 2 && memcmp(g.data[0], "no", 2) == 0);
	CHECK(g.len[1] == 2 && g.data[1][0] == 0x01 && g.data[1][1] == 0x02);
	CHECK(g.len[2] == 1 && g.data[2][0] == 0xdb);
	CHECK(g.len[3] == 1 && g.data[3][0] == 0x03);
	/* the frame stays in the buffer until the next byte */
	CHECK(r.len == 1 && buf[0] == 0x03);
	CHECK(pa_slip_rx_byte(&r, 0x42) == PA_SLIP_MORE && r.len == 1 && buf[0] == 0x42);
}

/* A bad frame, then a good one: the bad one is dropped whole, the good one
 * comes through. */
static int drop_then_good(pa_slip_rx *r, const uint8_t *bad, size_t n)
{
	static const uint8_t good[] = { 0xc0, 0x11, 0x22, 0xc0 };
	uint8_t s[64];
	got g;

	memcpy(s, bad, n);
	memcpy(s + n, good, sizeof(good));
	decode(r, s, n + sizeof(good), &g);
	return g.dropped == 1 && g.frames == 1 && g.len[0] == 2 && g.data[0][0] == 0x11 &&
	       g.data[0][1] == 0x22;
}

static void drops(void)
{
	uint8_t buf[16], s[64], d[32];
	pa_slip_rx r;
	got g;
	size_t n, i;
	int bad = 0;
	unsigned b;

	/* every length around the buffer's: up to 16 delivered, above dropped */
	pa_slip_rx_init(&r, buf, sizeof(buf));
	for (n = 12; n <= 20; n++) {
		for (i = 0; i < n; i++)
			d[i] = (uint8_t)(0xc0 + i);   /* escapes too */
		encode(d, n);
		if (n <= sizeof(buf)) {
			decode(&r, out, out_len, &g);
			bad += !(g.frames == 1 && g.len[0] == n && memcmp(g.data[0], d, n) == 0);
		} else {
			bad += !drop_then_good(&r, out, out_len);
		}
	}
	CHECK_MSG(bad == 0, "%d lengths around the buffer", bad);
	/* ESC followed by each byte but ESC_END and ESC_ESC (and END: below) */
	for (b = 0, bad = 0; b < 256; b++) {
		if (b == 0xdc || b == 0xdd || b == 0xc0)
			continue;
		s[0] = 0xc0, s[1] = 0x01, s[2] = 0xdb, s[3] = (uint8_t)b, s[4] = 0x02, s[5] = 0xc0;
		bad += !drop_then_good(&r, s, 6);
	}
	CHECK_MSG(bad == 0, "%d undefined escapes", bad);
	/* ESC END */
	s[0] = 0xc0, s[1] = 0x01, s[2] = 0xdb, s[3] = 0xc0;
	CHECK(drop_then_good(&r, s, 4));
	CHECK(r.dropped == 4 + 253 + 1);
}

int main(void)
{
	encoding();
	round_trips();
	streams();
	drops();
	return check_done("test_agent_slip");
}
