/* test_smp.c - SMP console framing, CRC, header and the request exchange.
 *
 * Vectors were computed independently with Python (binascii.crc_hqx is
 * CRC-16/XMODEM, base64.b64encode), not with this code.  The exchange runs over a
 * real pty (openpty) with a fake device thread on the other side. */
#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "prov/cbor.h"
#include "prov/smp.h"
#include "smp_vectors.h"

/* Decode a whole buffer; returns the number of packets, the last one copied. */
static int decode_all(prov_smp_decoder *d, const uint8_t *buf, size_t n, uint8_t *last,
                      size_t *last_len)
{
	int count = 0;
	size_t pos = 0;

	while (pos < n) {
		const uint8_t *pkt;
		size_t pl;

		pos += prov_smp_decoder_push(d, buf + pos, n - pos, &pkt, &pl);
		if (pkt != NULL) {
			count++;
			if (last != NULL) {
				memcpy(last, pkt, pl);
				*last_len = pl;
			}
		}
	}
	return count;
}

static void test_crc_and_header(void)
{
	static const uint8_t h_want[8] = {0x0a, 0x00, 0x01, 0x02, 0x00, 0x50, 0x2a, 0x03};
	prov_smp_hdr h = {PROV_SMP_OP_WRITE, 1, 0, 0x102, 80, 0x2a, 3}, g;
	uint8_t out[8];

	CHECK(prov_smp_crc16((const uint8_t *)"123456789", 9) == 0x31C3);
	CHECK(prov_smp_crc16(NULL, 0) == 0);
	prov_smp_hdr_put(&h, out);
	CHECK_EQ_HEX(out, 8, h_want, 8);
	prov_smp_hdr_get(out, &g);
	CHECK(g.op == 2 && g.version == 1 && g.len == 0x102 && g.group == 80 && g.seq == 0x2a && g.id == 3);
}

static void test_vectors(void)
{
	/* Echo {"d": "hello"}, write, seq 0x2a. */
	static const uint8_t pkt[] = {0x0a, 0x00, 0x00, 0x09, 0x00, 0x00, 0x2a, 0x00, 0xa1, 0x61, 0x64,
	                              0x65, 0x68, 0x65, 0x6c, 0x6c, 0x6f};
	static const char want[] = "\x06\x09" "ABMKAAAJAAAqAKFhZGVoZWxsbwo4\n";
	static const uint8_t sha200[32] = {
		0xce, 0x02, 0xd0, 0x66, 0x2a, 0x87, 0xed, 0x15, 0x3b, 0x87, 0xb9, 0x8a, 0x40, 0xae, 0x58, 0x4a,
		0xa0, 0x76, 0x52, 0x5e, 0xc8, 0x8e, 0x8e, 0x8a, 0x2d, 0xed, 0xac, 0xf2, 0x76, 0xe1, 0x81, 0x7d};
	uint8_t big[200], *out = NULL, md[32];
	size_t n = 0, lines = 0;

	CHECK(prov_smp_frame_encode(pkt, sizeof(pkt), &out, &n, NULL) == PROV_OK);
	CHECK_EQ_HEX(out, n, (const uint8_t *)want, sizeof(want) - 1);
	free(out);
	/* 200 bytes: 3 lines of 124, 124 and 24 base64 characters. */
	for (int i = 0; i < 200; i++)
		big[i] = (uint8_t)i;
	CHECK(prov_smp_frame_encode(big, sizeof(big), &out, &n, NULL) == PROV_OK);
	EVP_Digest(out, n, md, NULL, EVP_sha256(), NULL);
	CHECK_EQ_HEX(md, 32, sha200, 32);
	for (size_t i = 0; i < n; i++)
		lines += out[i] == '\n';
	CHECK(lines == 3 && n == 3 * 3 + 124 + 124 + 24);
	CHECK(out[0] == 0x06 && out[1] == 0x09 && out[127] == 0x04 && out[128] == 0x14);
	free(out);
	CHECK(prov_smp_frame_encode(big, 0, &out, &n, NULL) == PROV_E_INPUT);
	CHECK(prov_smp_frame_encode(big, PROV_SMP_PKT_MAX + 1, &out, &n, NULL) == PROV_E_INPUT);
}

/* Every size from 9 to 1200 bytes: framed lines keep the limits and decode back. */
static void test_round_trips(void)
{
	static uint8_t pkt[1200], got[PROV_SMP_PKT_MAX];
	prov_smp_decoder d;
	int ok = 0, limits = 1, total = 0;

	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = PROV_SMP_HDR_LEN + 1; n <= sizeof(pkt); n++) {
		uint8_t *out = NULL;
		size_t len = 0, gl = 0, line = 0;

		if (prov_smp_frame_encode(pkt, n, &out, &len, NULL) != PROV_OK)
			continue;
		for (size_t i = 0; i < len; i++) {
			line++;
			if (out[i] == '\n') {
				limits &= line <= PROV_SMP_LINE_MAX;
				line = 0;
			}
		}
		prov_smp_decoder_init(&d);
		if (decode_all(&d, out, len, got, &gl) == 1 && gl == n && memcmp(got, pkt, n) == 0)
			ok++;
		total++;
		free(out);
	}
	CHECK_MSG(ok == total, "%d of %d sizes round-trip", ok, total);
	CHECK(limits);
}

/* Log lines, boot noise, CR LF and a half packet around real packets. */
static void test_resync(void)
{
	static const uint8_t pkt[] = {0x0a, 0x00, 0x00, 0x09, 0x00, 0x00, 0x2a, 0x00, 0xa1, 0x61, 0x64,
	                              0x65, 0x68, 0x65, 0x6c, 0x6c, 0x6f};
	uint8_t big[300], *f1 = NULL, *f2 = NULL, buf[4096], got[PROV_SMP_PKT_MAX];
	size_t l1, l2, n = 0, gl = 0;
	prov_smp_decoder d;

	for (int i = 0; i < 300; i++)
		big[i] = (uint8_t)(255 - i);
	prov_smp_frame_encode(pkt, sizeof(pkt), &f1, &l1, NULL);
	prov_smp_frame_encode(big, sizeof(big), &f2, &l2, NULL);
#define ADD(p, k) do { memcpy(buf + n, (p), (k)); n += (k); } while (0)
	ADD("*** Booting Zephyr OS ***\n[00:00:01.000] <inf> agent: started\n", 62);
	ADD(f2, 140);                      /* the first line and a bit of the next: cut off */
	ADD("\n[00:00:01.100] <wrn> log in the middle\n", 40);
	ADD(f1, l1);                       /* a new first frame starts over */
	ADD("\x04\x14QUFB\n", 7);          /* a continuation with nothing open: skipped */
	ADD(f2, l2);
	prov_smp_decoder_init(&d);
	CHECK(decode_all(&d, buf, n, got, &gl) == 2);
	CHECK_EQ_HEX(got, gl, big, sizeof(big));
	CHECK(d.con.skipped >= 3);
	/* One byte at a time gives the same. */
	prov_smp_decoder_init(&d);
	{
		int count = 0;

		for (size_t i = 0; i < n; i++) {
			const uint8_t *p;
			size_t pl;

			prov_smp_decoder_push(&d, buf + i, 1, &p, &pl);
			count += p != NULL;
		}
		CHECK(count == 2);
	}
	/* CR LF line ends (a console that translates). */
	{
		uint8_t crlf[64];
		size_t k = 0;

		for (size_t i = 0; i < l1; i++) {
			if (f1[i] == '\n')
				crlf[k++] = '\r';
			crlf[k++] = f1[i];
		}
		prov_smp_decoder_init(&d);
		CHECK(decode_all(&d, crlf, k, got, &gl) == 1);
	}
	/* An overlong line, then a good packet. */
	{
		uint8_t lng[400];

		memset(lng, 'A', sizeof(lng));
		lng[0] = 0x06;
		lng[1] = 0x09;
		lng[sizeof(lng) - 1] = '\n';
		prov_smp_decoder_init(&d);
		CHECK(decode_all(&d, lng, sizeof(lng), NULL, NULL) == 0);
		CHECK(decode_all(&d, f1, l1, got, &gl) == 1);
	}
#undef ADD
	free(f1);
	free(f2);
}

/* Damage: every single-bit flip and every dropped byte of a 2-line frame is
 * either rejected or (never) a wrong packet; the next intact frame decodes. */
static void test_damage(void)
{
	uint8_t pkt[150], *f = NULL, buf[512], got[PROV_SMP_PKT_MAX];
	size_t fl, gl = 0;
	int wrong = 0, recovered = 0, cases = 0, none = 0;
	prov_smp_decoder d;

	for (int i = 0; i < 150; i++)
		pkt[i] = (uint8_t)(i ^ 0x5a);
	prov_smp_frame_encode(pkt, sizeof(pkt), &f, &fl, NULL);
	for (size_t i = 0; i < fl; i++) {
		for (int b = -1; b < 8; b++) {     /* b = -1: drop byte i */
			size_t n = 0;
			int c;

			if (b < 0) {
				memcpy(buf, f, i);
				memcpy(buf + i, f + i + 1, fl - i - 1);
				n = fl - 1;
			} else {
				memcpy(buf, f, fl);
				buf[i] ^= (uint8_t)(1 << b);
				n = fl;
			}
			prov_smp_decoder_init(&d);
			c = decode_all(&d, buf, n, got, &gl);
			if (c > 0 && (gl != sizeof(pkt) || memcmp(got, pkt, gl) != 0))
				wrong++;
			none += c == 0;
			/* The next intact frame always comes through. */
			if (decode_all(&d, f, fl, got, &gl) == 1 && gl == sizeof(pkt) && memcmp(got, pkt, gl) == 0)
				recovered++;
			cases++;
		}
	}
	CHECK_MSG(wrong == 0, "%d of %d damaged frames decoded to a wrong packet", wrong, cases);
	CHECK_MSG(recovered == cases, "%d of %d recovered", recovered, cases);
	printf("damage: %d single-byte drops and bit flips, %d rejected, %d wrong\n", cases, none, wrong);
	free(f);
}

/* The line vectors both sides share (tests/unit/smp_vectors.h): libprov's
 * decoder, as the port feeds it, and its encoder. */
static void host_run(const uint8_t *w, size_t len, const size_t *cuts, size_t nc, smpv_out *o)
{
	static prov_smp_decoder d;
	size_t start = 0;

	(void)len;
	prov_smp_decoder_init(&d);
	for (size_t i = 0; i < nc; i++) {
		size_t pos = start;

		while (pos < cuts[i]) {
			const uint8_t *pkt;
			size_t pl;

			pos += prov_smp_decoder_push(&d, w + pos, cuts[i] - pos, &pkt, &pl);
			if (pkt != NULL)
				smpv_got(o, pkt, pl);
		}
		start = cuts[i];
	}
	o->drops = d.con.drops;
}

static size_t host_encode(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	uint8_t *f = NULL;
	size_t n = 0;

	if (prov_smp_frame_encode(pkt, len, &f, &n, NULL) != PROV_OK || n > cap)
		n = 0;
	else
		memcpy(out, f, n);
	free(f);
	return n;
}

static void test_line_vectors(void)
{
	int vectors;
	long runs;
	int bad = smpv_run_all(host_run, host_encode, &vectors, &runs);

	CHECK_MSG(bad == 0 && vectors >= 30, "%d of %d line vectors failed", bad, vectors);
	printf("line vectors: %d, %ld decodes and encodes, %d failed\n", vectors, runs, bad);
}

/* ---- the exchange over a pty ------------------------------------------------ */

typedef struct fake {
	int fd;
	int drop_first;        /* ignore the first request */
	int stale_first;       /* answer with a wrong seq before the right one */
	int silent;            /* never answer */
	int garbage;           /* answer with text that is not UTF-8 */
	int seen;
} fake;

static void *fake_device(void *arg)
{
	fake *f = arg;
	prov_smp_decoder d;
	uint8_t buf[256];

	prov_smp_decoder_init(&d);
	for (;;) {
		struct pollfd pf = {f->fd, POLLIN, 0};
		ssize_t r;
		size_t pos = 0;

		if (poll(&pf, 1, 3000) <= 0)
			return NULL;
		r = read(f->fd, buf, sizeof(buf));
		if (r <= 0)
			return NULL;
		while (pos < (size_t)r) {
			const uint8_t *pkt;
			size_t pl;
			prov_smp_hdr h;
			cbor_item_t *body = NULL, *ans;
			uint8_t *cb = NULL, out[256], *fr = NULL;
			size_t cl = 0, fl = 0;

			pos += prov_smp_decoder_push(&d, buf + pos, (size_t)r - pos, &pkt, &pl);
			if (pkt == NULL)
				continue;
			f->seen++;
			if (f->silent || (f->drop_first && f->seen == 1))
				continue;
			prov_smp_hdr_get(pkt, &h);
			prov_cbor_decode(pkt + 8, pl - 8, &body, NULL);
			ans = cbor_new_definite_map(1);
			if (f->garbage) {
				/* {"r": "ok\xff\x1b[2J"}: a text string that is not UTF-8 */
				static const uint8_t bad[] = {0xa1, 0x61, 'r', 0x67, 'o', 'k', 0xff, 0x1b, '[', '2', 'J'};
				prov_smp_hdr rh = h;

				rh.op = h.op + 1;
				rh.len = sizeof(bad);
				prov_smp_hdr_put(&rh, out);
				memcpy(out + 8, bad, sizeof(bad));
				prov_smp_frame_encode(out, 8 + sizeof(bad), &fr, &fl, NULL);
				if (write(f->fd, fr, fl) < 0)
					f->seen = -100;
				free(fr);
				fr = NULL;
				cbor_decref(&ans);
				cbor_decref(&body);
				continue;
			}
			if (h.group == 0)
				prov_smp_put(ans, "r", cbor_incref(prov_smp_get(body, "d")));
			else {
				cbor_item_t *err = cbor_new_definite_map(2);

				prov_smp_put(err, "group", prov_cbor_uint(h.group));
				prov_smp_put(err, "rc", prov_cbor_uint(8));
				prov_smp_put(ans, "err", err);
			}
			prov_cbor_encode(ans, &cb, &cl, NULL);
			for (int k = f->stale_first ? 0 : 1; k < 2; k++) {
				prov_smp_hdr rh = h;

				rh.op = h.op + 1;
				rh.len = (unsigned)cl;
				if (k == 0)
					rh.seq = (h.seq + 1) & 0xff;
				prov_smp_hdr_put(&rh, out);
				memcpy(out + 8, cb, cl);
				prov_smp_frame_encode(out, cl + 8, &fr, &fl, NULL);
				if (write(f->fd, "log: noise\n", 11) < 0 || write(f->fd, fr, fl) < 0)
					break;
				free(fr);
				fr = NULL;
			}
			free(fr);
			free(cb);
			cbor_decref(&ans);
			cbor_decref(&body);
		}
	}
}

static int exchange(fake *f, const char *text, int *rc, char *echoed, size_t cap, prov_err *e,
                    prov_smp_port *p)
{
	int master, slave;
	char name[128];
	pthread_t th;
	cbor_item_t *body = cbor_new_definite_map(1), *resp = NULL;
	prov_status st;

	if (openpty(&master, &slave, name, NULL, NULL) != 0)
		return -1;
	f->fd = master;
	prov_smp_put(body, "d", prov_cbor_text(text));
	st = prov_smp_port_open(p, name, 115200, e);
	if (st == PROV_OK) {
		p->timeout_ms = 100;
		p->tries = 3;
		pthread_create(&th, NULL, fake_device, f);
		st = prov_smp_request(p, PROV_SMP_OP_WRITE, 0, 0, body, &resp, rc, e);
		if (st == PROV_OK && prov_smp_get_text(resp, "r", echoed, cap) != 0)
			echoed[0] = 0;
		prov_smp_port_close(p);
		close(slave);
		pthread_join(th, NULL);
		/* A second exchange on a group the fake does not know: rc 8. */
	} else {
		close(slave);
	}
	if (resp != NULL)
		cbor_decref(&resp);
	cbor_decref(&body);
	close(master);
	return st;
}

static void test_exchange(void)
{
	prov_smp_port p;
	prov_err e;
	fake f;
	char echoed[64];
	int rc = -1;

	memset(&f, 0, sizeof(f));
	CHECK(exchange(&f, "hello", &rc, echoed, sizeof(echoed), &e, &p) == PROV_OK);
	CHECK(rc == 0 && strcmp(echoed, "hello") == 0);
	CHECK(p.retries == 0 && p.requests == 1);
	/* A lost request: answered after one retransmission with the same seq. */
	memset(&f, 0, sizeof(f));
	f.drop_first = 1;
	CHECK(exchange(&f, "again", &rc, echoed, sizeof(echoed), &e, &p) == PROV_OK);
	CHECK(strcmp(echoed, "again") == 0 && p.retries == 1 && f.seen == 2);
	/* A stale answer (another seq) first: ignored. */
	memset(&f, 0, sizeof(f));
	f.stale_first = 1;
	CHECK(exchange(&f, "stale", &rc, echoed, sizeof(echoed), &e, &p) == PROV_OK);
	CHECK(strcmp(echoed, "stale") == 0 && p.retries == 0);
	/* No answer: a timeout after every try, with a clear message. */
	memset(&f, 0, sizeof(f));
	f.silent = 1;
	CHECK(exchange(&f, "silent", &rc, echoed, sizeof(echoed), &e, &p) == PROV_E_IO);
	CHECK(strstr(e.msg, "no answer from the device") != NULL && strstr(e.msg, "timed out after 3 tries over 0.") != NULL);
	CHECK(f.seen == 3);
	/* An answer whose text is not UTF-8: the device's word (its CRC holds), so
	 * no retry; the message says what is wrong, the text escaped, one line. */
	memset(&f, 0, sizeof(f));
	f.garbage = 1;
	CHECK(exchange(&f, "utf8", &rc, echoed, sizeof(echoed), &e, &p) == PROV_E_INPUT);
	CHECK_MSG(strstr(e.msg, "the device's answer (group 0 command 0) is malformed: its body is not CBOR: "
	                        "cbor decode: text string at byte 3 is not UTF-8 (byte 2 of it: "
	                        "\"ok\\xff\\x1b[2J\")") != NULL && strchr(e.msg, '\n') == NULL &&
	          strchr(e.msg, 0x1b) == NULL, "%s", e.msg);
	CHECK(f.seen == 1 && p.retries == 0);
	/* Port errors. */
	CHECK(prov_smp_port_open(&p, "/nonexistent/tty", 0, &e) == PROV_E_NOTFOUND);
	CHECK(prov_smp_port_open(&p, "/dev/null", 0, &e) == PROV_E_INPUT);
	CHECK(strstr(e.msg, "not a terminal") != NULL);
	CHECK(prov_smp_port_open(&p, "/etc/hostname", 0, &e) == PROV_E_INPUT);
	CHECK(prov_smp_baud_valid(115200) && !prov_smp_baud_valid(115201));
}

static void test_bodies(void)
{
	cbor_item_t *m = cbor_new_definite_map(4);
	uint64_t v = 0;
	size_t n = 0;
	char t[8];

	prov_smp_put(m, "off", prov_cbor_uint(512));
	prov_smp_put(m, "data", prov_cbor_bytes("", 0));
	prov_smp_put(m, "dev", prov_cbor_text("D-1"));
	prov_smp_put(m, "long", prov_cbor_text("0123456789"));
	CHECK(prov_smp_get_uint(m, "off", &v) == 0 && v == 512);
	CHECK(prov_smp_get_uint(m, "dev", &v) == -1);
	CHECK(prov_smp_get_bytes(m, "data", &n) != NULL && n == 0);
	CHECK(prov_smp_get_text(m, "dev", t, sizeof(t)) == 0 && strcmp(t, "D-1") == 0);
	CHECK(prov_smp_get_text(m, "long", t, sizeof(t)) == -1);
	CHECK(prov_smp_get(m, "of") == NULL && prov_smp_get(NULL, "off") == NULL);
	cbor_decref(&m);
}

int main(void)
{
	test_crc_and_header();
	test_vectors();
	test_round_trips();
	test_resync();
	test_damage();
	test_line_vectors();
	test_exchange();
	test_bodies();
	return check_done("test_smp");
}
