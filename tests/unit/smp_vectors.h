/*
 * smp_vectors.h - the SMP console framing's line vectors, one table for both
 * sides: tests/fixtures/smp-console/vectors.txt (made by tests/py/smp_vectors.py
 * from Python's base64 and binascii.crc_hqx) is read here and run against a
 * decoder the test supplies: libprov's (tests/unit/test_smp.c, what the host
 * reads from a device) and the agent's (firmware-agent/tests/test_agent_smp.c,
 * what a device reads from the host).
 *
 * Each vector's wire is pushed whole, one byte at a time, and split in two at
 * every position; every way must deliver exactly the vector's packets, in
 * order, and count its drops.  Include after check.h; the test runs from the
 * repository's top directory (tests/run.sh does).
 */
#ifndef PROV_TEST_SMP_VECTORS_H
#define PROV_TEST_SMP_VECTORS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SMPV_FILE "tests/fixtures/smp-console/vectors.txt"
#define SMPV_WIRE_MAX 1024
#define SMPV_PKTS_MAX 4
#define SMPV_PKT_MAX 512

/* What a decoder delivered: the runner appends with smpv_got(). */
typedef struct smpv_out {
	uint8_t pkt[SMPV_PKTS_MAX][SMPV_PKT_MAX];
	size_t len[SMPV_PKTS_MAX];
	int n;
	int overflow;             /* more packets, or longer, than room for */
	unsigned long drops;      /* the decoder's drop counter at the end */
} smpv_out;

static void smpv_got(smpv_out *o, const uint8_t *p, size_t n)
{
	if (o->n >= SMPV_PKTS_MAX || n > SMPV_PKT_MAX) {
		o->overflow = 1;
		return;
	}
	memcpy(o->pkt[o->n], p, n);
	o->len[o->n++] = n;
}

/* A fresh decoder fed `wire` in pieces ending at cuts[0..ncuts) (ascending, the
 * last = len); fills out (smpv_got for each packet, then drops). */
typedef void (*smpv_runner)(const uint8_t *wire, size_t len, const size_t *cuts, size_t ncuts,
                            smpv_out *out);
/* The side's encoder: the framed lines of one packet into out (cap bytes);
 * returns their length, or 0 on failure. */
typedef size_t (*smpv_encoder)(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap);

static int smpv_hex(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Unescape a wire field (\n \r \\ \xHH); -1 on a malformed escape. */
static long smpv_unescape(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;

	for (; *s != '\0'; s++) {
		int c = (unsigned char)*s;

		if (c == '\\') {
			s++;
			if (*s == 'n')
				c = '\n';
			else if (*s == 'r')
				c = '\r';
			else if (*s == '\\')
				c = '\\';
			else if (*s == 'x' && smpv_hex(s[1]) >= 0 && smpv_hex(s[2]) >= 0) {
				c = smpv_hex(s[1]) << 4 | smpv_hex(s[2]);
				s += 2;
			} else
				return -1;
		}
		if (n >= cap)
			return -1;
		out[n++] = (uint8_t)c;
	}
	return (long)n;
}

/* Expected packets: "-" or hex strings separated by ','. */
static int smpv_packets(const char *s, smpv_out *want)
{
	memset(want, 0, sizeof(*want));
	if (strcmp(s, "-") == 0)
		return 0;
	for (;;) {
		size_t n = 0;

		if (want->n >= SMPV_PKTS_MAX)
			return -1;
		while (smpv_hex(s[0]) >= 0 && smpv_hex(s[1]) >= 0 && n < SMPV_PKT_MAX) {
			want->pkt[want->n][n++] = (uint8_t)(smpv_hex(s[0]) << 4 | smpv_hex(s[1]));
			s += 2;
		}
		want->len[want->n++] = n;
		if (*s == '\0')
			return n > 0 ? 0 : -1;
		if (*s++ != ',')
			return -1;
	}
}

static int smpv_same(const smpv_out *a, const smpv_out *b)
{
	if (a->overflow || b->overflow || a->n != b->n || a->drops != b->drops)
		return 0;
	for (int i = 0; i < a->n; i++)
		if (a->len[i] != b->len[i] || memcmp(a->pkt[i], b->pkt[i], a->len[i]) != 0)
			return 0;
	return 1;
}

/* Run every vector of the file through `run`, each whole, byte by byte and
 * split in two at every position, and the vectors marked "sent" through
 * `encode` (their wire is exactly the packets' frames).  Prints the first
 * failing way of each failing vector; *vectors and *runs count what ran.
 * Returns the number of failing vectors, or -1 if the file cannot be read or
 * is malformed. */
static int smpv_run_all(smpv_runner run, smpv_encoder encode, int *vectors, long *runs)
{
	static uint8_t wire[SMPV_WIRE_MAX], enc[SMPV_WIRE_MAX];
	static smpv_out want, got;
	static char line[8192];
	FILE *f = fopen(SMPV_FILE, "r");
	int bad = 0;

	*vectors = 0;
	*runs = 0;
	if (f == NULL) {
		fprintf(stderr, "%s: cannot open\n", SMPV_FILE);
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *name, *w, *p, *d, *sent, *save = NULL, *end;
		size_t cuts[SMPV_WIRE_MAX], len;
		long wl;
		int failed = 0;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		line[strcspn(line, "\n")] = '\0';
		name = strtok_r(line, "\t", &save);
		w = strtok_r(NULL, "\t", &save);
		p = strtok_r(NULL, "\t", &save);
		d = strtok_r(NULL, "\t", &save);
		sent = strtok_r(NULL, "\t", &save);
		if (name == NULL || w == NULL || p == NULL || d == NULL || sent == NULL ||
		    (wl = smpv_unescape(w, wire, sizeof(wire))) <= 0 || smpv_packets(p, &want) != 0) {
			fprintf(stderr, "%s: malformed vector %s\n", SMPV_FILE, name ? name : "?");
			fclose(f);
			return -1;
		}
		want.drops = strtoul(d, &end, 10);
		if (*end != '\0') {
			fprintf(stderr, "%s: %s: drops is not a number\n", SMPV_FILE, name);
			fclose(f);
			return -1;
		}
		len = (size_t)wl;
		(*vectors)++;
		/* k = 0: whole; k = 1: byte by byte; k >= 2: split before byte k - 1 */
		for (size_t k = 0; k <= len + 1 && !failed; k++) {
			size_t nc = 0;

			if (k == 1) {
				for (size_t i = 1; i <= len; i++)
					cuts[nc++] = i;
			} else {
				if (k >= 2)
					cuts[nc++] = k - 1;
				cuts[nc++] = len;
			}
			memset(&got, 0, sizeof(got));
			run(wire, len, cuts, nc, &got);
			(*runs)++;
			if (!smpv_same(&got, &want)) {
				fprintf(stderr, "vector %s (%s): %d packet(s), %lu drop(s); want %d, %lu\n", name,
				        k == 0 ? "whole" : k == 1 ? "byte by byte" : "split", got.n, got.drops,
				        want.n, want.drops);
				failed = 1;
			}
		}
		if (!failed && strcmp(sent, "sent") == 0) {
			size_t el = 0;

			for (int i = 0; i < want.n && el <= len; i++)
				el += encode(want.pkt[i], want.len[i], enc + el, sizeof(enc) - el);
			(*runs)++;
			if (el != len || memcmp(enc, wire, len) != 0) {
				fprintf(stderr, "vector %s: the encoder wrote other bytes\n", name);
				failed = 1;
			}
		}
		bad += failed;
	}
	fclose(f);
	return *vectors > 0 ? bad : -1;
}

#endif
