/*
 * test_agent_smp.c - the agent's SMP layer: the console framing (every split
 * of a packet across pushes, garbage between lines, bad CRC and base64,
 * truncated, oversized and overlong, markers mid-line, every single-byte
 * deletion), then the dispatcher on a real agent (each command, duplicates,
 * retransmissions, upload resume, commit repeated before and after a reboot,
 * errors) and keygen's CSR checked with OpenSSL; connect's request as the
 * application receives it (every field, every refusal).  Responses are read
 * with libcbor, the framing is checked against OpenSSL's base64.
 */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cbor.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "check.h"
#include "smp_vectors.h"
#include "agent_support.h"
#include "pa/pa_keygen.h"
#include "pa/pa_smp.h"
#include "port/pa_port_dir.h"
#include "smp/pa_cbw.h"

/* ---- framing ------------------------------------------------------------------------ */

static uint8_t wire[8192];
static size_t wire_len;

static int collect(void *ctx, const uint8_t *b, size_t n)
{
	(void)ctx;
	if (n > sizeof(wire) - wire_len)
		return -1;
	memcpy(wire + wire_len, b, n);
	wire_len += n;
	return 0;
}

static uint8_t got[PA_SMP_MTU];
static uint8_t cbuf[PA_CONSOLE_BUF(PA_SMP_MTU)];   /* the decoders' packet buffer */
static size_t got_len;
static int delivered;

static void on_packet(void *ctx, const uint8_t *p, size_t n)
{
	(void)ctx;
	delivered++;
	got_len = n;
	memcpy(got, p, n);
}

static void push(pa_console *c, const void *b, size_t n)
{
	pa_console_push(c, b, n, on_packet, NULL);
}

static int delivered_is(const uint8_t *p, size_t n)
{
	return delivered == 1 && got_len == n && memcmp(got, p, n) == 0;
}

static void framing(void)
{
	static const uint8_t check[] = "123456789";
	uint8_t pkt[PA_SMP_MTU], raw[PA_SMP_MTU + 4], b64[1024];
	char *line, *save = NULL, text[8192];
	pa_console c;
	size_t n, i, k, lines = 0;
	int ok, bad;

	CHECK(pa_crc16(0, check, 9) == 0x31c3);
	for (i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7 + 3);

	/* the wire form against OpenSSL's base64 of length || packet || CRC */
	for (n = 10; n <= PA_SMP_MTU; n += n < 100 ? 1 : 37) {
		uint16_t crc = pa_crc16(0, pkt, n);
		size_t blen;

		wire_len = 0;
		CHECK(pa_console_send(pkt, n, collect, NULL) == 0);
		raw[0] = (uint8_t)((n + 2) >> 8), raw[1] = (uint8_t)(n + 2);
		memcpy(raw + 2, pkt, n);
		raw[n + 2] = (uint8_t)(crc >> 8), raw[n + 3] = (uint8_t)crc;
		blen = (size_t)EVP_EncodeBlock(b64, raw, (int)(n + 4));
		/* lines: marker, at most 124 characters (a multiple of 4 but the last), \n */
		memcpy(text, wire, wire_len);
		text[wire_len] = '\0';
		ok = wire[wire_len - 1] == '\n';
		k = 0;
		for (line = strtok_r(text, "\n", &save), i = 0; line != NULL;
		     line = strtok_r(NULL, "\n", &save), i++) {
			size_t len = strlen(line) - 2;

			ok &= (unsigned char)line[0] == (i == 0 ? 0x06 : 0x04);
			ok &= (unsigned char)line[1] == (i == 0 ? 0x09 : 0x14);
			ok &= len <= 124 && (len == 124 || k + len == blen);
			ok &= memcmp(line + 2, b64 + k, len) == 0;
			k += len;
			lines++;
		}
		CHECK_MSG(ok && k == blen, "wire form of a %zu-byte packet", n);
		/* every split into two pushes, and byte by byte */
		bad = 0;
		for (k = 0; k <= wire_len; k += n < 100 ? 1 : 13) {
			pa_console_init(&c, cbuf, sizeof(cbuf));
			delivered = 0;
			push(&c, wire, k);
			push(&c, wire + k, wire_len - k);
			bad += !delivered_is(pkt, n);
		}
		pa_console_init(&c, cbuf, sizeof(cbuf));
		delivered = 0;
		for (k = 0; k < wire_len; k++)
			push(&c, wire + k, 1);
		bad += !delivered_is(pkt, n);
		CHECK_MSG(bad == 0, "%zu-byte packet: %d splits failed", n, bad);
	}
	CHECK(lines > 0);

	/* log lines before, between (inside a multi-line packet) and after */
	wire_len = 0;
	CHECK(pa_console_send(pkt, 300, collect, NULL) == 0);
	{
		static const char logs[] = "boot: v1.2\r\n[00:01] heartbeat\n\n\x01\x02garbage\x06\n";
		uint8_t *nl = memchr(wire, '\n', wire_len);

		pa_console_init(&c, cbuf, sizeof(cbuf));
		delivered = 0;
		push(&c, logs, sizeof(logs) - 1);
		push(&c, wire, (size_t)(nl - wire) + 1);
		push(&c, logs, sizeof(logs) - 1);
		push(&c, nl + 1, wire_len - (size_t)(nl + 1 - wire));
		push(&c, logs, sizeof(logs) - 1);
		CHECK(delivered_is(pkt, 300));
	}

	/* damage: each of these drops the packet silently, the next one gets through */
	{
		uint8_t w[8192];
		size_t wl;
		int cases = 0, fails = 0;

		wire_len = 0;
		CHECK(pa_console_send(pkt, 200, collect, NULL) == 0);
		memcpy(w, wire, wire_len);
		wl = wire_len;
		for (k = 0; k < 8; k++) {
			uint8_t d[8192];
			size_t dl = wl, before;

			memcpy(d, w, wl);
			switch (k) {
			case 0: d[10] = d[10] == 'A' ? 'B' : 'A'; break;        /* a changed character: CRC */
			case 1: d[10] = '*'; break;                              /* not base64 */
			case 2: dl = (size_t)((uint8_t *)memchr(d, '\n', dl) - d) + 1; break;   /* truncated */
			case 3: d[5] = '='; break;                               /* padding mid-line */
			case 4: memmove(d + 2, d, dl); d[0] = 'x'; d[1] = ' '; dl += 2; break;  /* marker mid-line */
			case 5: d[0] = 0x04; d[1] = 0x14; break;                 /* continuation first */
			case 6: {                                                /* an overlong line */
				uint8_t *nl = memchr(d, '\n', dl);

				memmove(nl + 4, nl, dl - (size_t)(nl - d));
				memcpy(nl, "AAAA", 4);
				dl += 4;
				break;
			}
			default: {                                               /* length above the MTU */
				uint8_t big[PA_SMP_MTU + 1];

				memset(big, 1, sizeof(big));
				wire_len = 0;
				(void)pa_console_send(big, sizeof(big), collect, NULL);
				memcpy(d, wire, wire_len);
				dl = wire_len;
				break;
			}
			}
			pa_console_init(&c, cbuf, sizeof(cbuf));
			delivered = 0;
			push(&c, d, dl);
			before = c.drops;
			/* a marker after text on its line still starts the frame
			 * (docs/serial-protocol.md section 1): that one is taken */
			fails += k == 4 ? !delivered_is(pkt, 200) : delivered != 0;
			delivered = 0;
			/* resync: the next packet is whole */
			push(&c, w, wl);
			fails += !delivered_is(pkt, 200);
			(void)before;
			cases++;
		}
		CHECK_MSG(fails == 0, "%d of %d damage cases", fails, cases);

		/* every single-byte deletion: never a wrong packet */
		fails = 0;
		for (k = 0; k < wl; k++) {
			uint8_t d[8192];

			memcpy(d, w, k);
			memcpy(d + k, w + k + 1, wl - k - 1);
			pa_console_init(&c, cbuf, sizeof(cbuf));
			delivered = 0;
			push(&c, d, wl - 1);
			fails += delivered != 0 && !delivered_is(pkt, 200);
			fails += delivered != 0 && k < wl - 1;   /* only the final newline may go... */
		}
		CHECK_MSG(fails == 0, "%d of %zu deletions delivered something", fails, wl);
		printf("framing: %d damage cases, %zu deletions, drops counted\n", cases, wl);
	}
}

/* The line vectors both sides share (tests/unit/smp_vectors.h): the agent's
 * decoder with the agent's buffer size, and its encoder. */
static void vec_packet(void *ctx, const uint8_t *p, size_t n)
{
	smpv_got(ctx, p, n);
}

static void agent_run(const uint8_t *w, size_t len, const size_t *cuts, size_t nc, smpv_out *o)
{
	pa_console c;
	size_t i, start = 0;

	(void)len;
	pa_console_init(&c, cbuf, sizeof(cbuf));
	for (i = 0; i < nc; i++) {
		pa_console_push(&c, w + start, cuts[i] - start, vec_packet, o);
		start = cuts[i];
	}
	o->drops = c.drops;
}

static size_t agent_encode(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	wire_len = 0;
	if (pa_console_send(pkt, len, collect, NULL) != 0 || wire_len > cap)
		return 0;
	memcpy(out, wire, wire_len);
	return wire_len;
}

static void line_vectors(void)
{
	int vectors;
	long runs;
	int bad = smpv_run_all(agent_run, agent_encode, &vectors, &runs);

	CHECK_MSG(bad == 0 && vectors >= 30, "%d of %d line vectors failed", bad, vectors);
	printf("line vectors: %d, %ld decodes and encodes, %d failed\n", vectors, runs, bad);
}

/* ---- the dispatcher on a real agent ------------------------------------------------- */

static char work[PATH_MAX], devdir[PATH_MAX + 8];
static pa_agent A;
static pa_smp S;
static pa_dir_port DP;
static pa_signer SIG;
static uint8_t seq;
static const uint8_t nonce[16] = { 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                                   0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
#define NONCE_HEX "00112233445566778899aabbccddeeff"

static const pa_smp_io IO = { NULL, collect, NULL };

/* Send one request (header + CBOR body) through the line; the decoded answer. */
static cbor_item_t *ask(unsigned op, unsigned group, unsigned id, const uint8_t *body, size_t n,
                        int resend)
{
	uint8_t pkt[PA_SMP_MTU];
	pa_console c;
	struct cbor_load_result res;

	if (!resend)
		seq++;
	pkt[0] = (uint8_t)(0x08 | op), pkt[1] = 0;
	pkt[2] = (uint8_t)(n >> 8), pkt[3] = (uint8_t)n;
	pkt[4] = (uint8_t)(group >> 8), pkt[5] = (uint8_t)group, pkt[6] = seq, pkt[7] = (uint8_t)id;
	if (n > 0)
		memcpy(pkt + 8, body, n);
	wire_len = 0;
	if (pa_console_send(pkt, 8 + n, collect, NULL) != 0)
		return NULL;
	{
		uint8_t in[8192];
		size_t in_len = wire_len;

		memcpy(in, wire, in_len);
		wire_len = 0;
		pa_smp_push(&S, in, in_len);
	}
	pa_console_init(&c, cbuf, sizeof(cbuf));
	delivered = 0;
	pa_console_push(&c, wire, wire_len, on_packet, NULL);
	if (delivered != 1 || got_len < 8 || got[0] != (0x08 | (op + 1)) || got[6] != seq ||
	    got[7] != id || ((size_t)got[2] << 8 | got[3]) != got_len - 8)
		return NULL;
	return cbor_load(got + 8, got_len - 8, &res);
}

static cbor_item_t *get(cbor_item_t *map, const char *key)
{
	size_t i;

	if (map == NULL || !cbor_isa_map(map))
		return NULL;
	for (i = 0; i < cbor_map_size(map); i++) {
		struct cbor_pair p = cbor_map_handle(map)[i];

		if (cbor_isa_string(p.key) && cbor_string_length(p.key) == strlen(key) &&
		    memcmp(cbor_string_handle(p.key), key, strlen(key)) == 0)
			return p.value;
	}
	return NULL;
}

static long uint_of(cbor_item_t *v)
{
	return v != NULL && cbor_isa_uint(v) ? (long)cbor_get_int(v) : -1;
}

/* The rc of an error answer {"err": {"group": g, "rc": rc}}, -1 if none. */
static long err_rc(cbor_item_t *r, unsigned group)
{
	cbor_item_t *e = get(r, "err");

	return e != NULL && uint_of(get(e, "group")) == (long)group ? uint_of(get(e, "rc")) : -1;
}

/* CBOR request bodies built with libcbor. */
static size_t body(uint8_t *out, size_t cap, cbor_item_t *map)
{
	size_t n = cbor_serialize(map, out, cap);

	cbor_decref(&map);
	return n;
}

static void put_kv(cbor_item_t *m, const char *k, cbor_item_t *v)
{
	(void)cbor_map_add(m, (struct cbor_pair){ cbor_move(cbor_build_string(k)), cbor_move(v) });
}

/* shortest form, as the agent's reader insists */
static cbor_item_t *uint_item(size_t v)
{
	return v < 256 ? cbor_build_uint8((uint8_t)v) : v < 65536 ? cbor_build_uint16((uint16_t)v)
	                                                         : cbor_build_uint32((uint32_t)v);
}

static cbor_item_t *upload_req(size_t off, const uint8_t *d, size_t n, size_t total,
                               const uint8_t *sha)
{
	cbor_item_t *m = cbor_new_definite_map(sha != NULL ? 4 : 2);

	put_kv(m, "off", uint_item(off));
	put_kv(m, "data", cbor_build_bytestring(d, n));
	if (sha != NULL) {
		put_kv(m, "len", uint_item(total));
		put_kv(m, "sha", cbor_build_bytestring(sha, 32));
	}
	return m;
}

static long upload(const uint8_t *d, size_t off, size_t n, size_t total, const uint8_t *sha)
{
	uint8_t b[PA_SMP_MTU];
	size_t bl = body(b, sizeof(b), upload_req(off, d + off, n, total, off == 0 ? sha : NULL));
	cbor_item_t *r = ask(2, 80, 2, b, bl, 0);
	long v = get(r, "off") != NULL ? uint_of(get(r, "off")) : -err_rc(r, 80);

	if (r != NULL)
		cbor_decref(&r);
	return v;
}

static cbor_item_t *commit(const uint8_t *sha)
{
	uint8_t b[64];
	cbor_item_t *m = cbor_new_definite_map(1);

	put_kv(m, "sha", cbor_build_bytestring(sha, 32));
	return ask(2, 80, 3, b, body(b, sizeof(b), m), 0);
}

static int bytes_eq(cbor_item_t *v, const uint8_t *p, size_t n)
{
	return v != NULL && cbor_isa_bytestring(v) && cbor_bytestring_length(v) == n &&
	       memcmp(cbor_bytestring_handle(v), p, n) == 0;
}

static int start(void)
{
	int rc;

	psa_reboot();
	rc = pa_agent_start(&A, &DP.port, &SIG, 1);
	rc = rc ? rc : pa_keygen_start(&A);
	rc = rc ? rc : pa_smp_start(&S, &A, &IO, "test 1");
	/* the bundles are made for a known nonce */
	return rc ? rc : pa_agent_set_nonce(&A, nonce, sizeof(nonce));
}

static int csr_ok(cbor_item_t *csr, const char *cn, uint8_t pub[65])
{
	const unsigned char *q;
	X509_REQ *req;
	char name[80] = "";
	size_t plen = 0;
	int ok;

	if (csr == NULL || !cbor_isa_bytestring(csr))
		return 0;
	q = cbor_bytestring_handle(csr);
	req = d2i_X509_REQ(NULL, &q, (long)cbor_bytestring_length(csr));
	ok = req != NULL && q == cbor_bytestring_handle(csr) + cbor_bytestring_length(csr) &&
	     X509_REQ_verify(req, X509_REQ_get0_pubkey(req)) == 1 &&
	     X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, name,
	                               sizeof(name)) > 0 &&
	     strcmp(name, cn) == 0 &&
	     EVP_PKEY_get_octet_string_param(X509_REQ_get0_pubkey(req), "encoded-pub-key", pub, 65,
	                                     &plen) == 1 && plen == 65;
	X509_REQ_free(req);
	return ok;
}

static void dispatcher(const char *prov, const char *top)
{
	uint8_t b[PA_SMP_MTU], pub1[65], pub2[65], sha[32], receipt[PA_RECEIPT_MAX];
	uint8_t *bundle = NULL, *old = NULL, *csr_file = NULL;
	size_t blen = 0, olen = 0, rlen = 0, n, off;
	char path[PATH_MAX + 64];
	cbor_item_t *r, *m;
	unsigned int sl = 0;
	FILE *f;

	CHECK(start() == PA_OK);

	/* echo, then what is not there */
	m = cbor_new_definite_map(1);
	put_kv(m, "d", cbor_build_string("ping"));
	n = body(b, sizeof(b), m);
	r = ask(2, 0, 0, b, n, 0);
	CHECK(r != NULL && get(r, "r") != NULL && cbor_string_length(get(r, "r")) == 4 &&
	      memcmp(cbor_string_handle(get(r, "r")), "ping", 4) == 0);
	cbor_decref(&r);
	r = ask(2, 0, 0, b, n, 1);   /* the same request again: the same answer */
	CHECK(r != NULL && get(r, "r") != NULL);
	cbor_decref(&r);
	r = ask(0, 0, 0, b, n, 0);   /* echo is a write */
	CHECK(err_rc(r, 0) == PA_SMP_ENOTSUP);
	cbor_decref(&r);
	r = ask(0, 80, 9, NULL, 0, 0);
	CHECK(err_rc(r, 80) == PA_SMP_ENOTSUP);
	cbor_decref(&r);
	r = ask(2, 0, 0, (const uint8_t *)"\x01", 1, 0);   /* not a map */
	CHECK(err_rc(r, 0) == PA_SMP_EINVAL);
	cbor_decref(&r);

	/* info: twice, the same nonce */
	r = ask(0, 80, 0, NULL, 0, 0);
	CHECK(r != NULL && uint_of(get(r, "mtu")) == PA_SMP_MTU &&
	      uint_of(get(r, "max")) == PA_BUNDLE_MAX && uint_of(get(r, "ctr")) == 0 &&
	      bytes_eq(get(r, "nonce"), nonce, 16) && get(r, "pub") != NULL &&
	      cbor_bytestring_length(get(r, "pub")) == PA_SPKI_LEN &&
	      memcmp(cbor_bytestring_handle(get(r, "pub")) + 26, A.pub, 65) == 0);
	cbor_decref(&r);

	/* keygen: a CSR that verifies, the same key when repeated */
	m = cbor_new_definite_map(2);
	put_kv(m, "slot", cbor_build_uint8(1));
	put_kv(m, "cn", cbor_build_string("X"));
	n = body(b, sizeof(b), m);
	r = ask(2, 80, 1, b, n, 0);
	CHECK(uint_of(get(r, "slot")) == 1 && csr_ok(get(r, "csr"), "X", pub1));
	if (r != NULL && get(r, "csr") != NULL) {
		snprintf(path, sizeof(path), "%s/k.csr.der", work);
		f = fopen(path, "wb");
		fwrite(cbor_bytestring_handle(get(r, "csr")), 1, cbor_bytestring_length(get(r, "csr")), f);
		fclose(f);
	}
	cbor_decref(&r);
	r = ask(2, 80, 1, b, n, 0);
	CHECK(csr_ok(get(r, "csr"), "X", pub2) && memcmp(pub1, pub2, 65) == 0);
	cbor_decref(&r);
	m = cbor_new_definite_map(1);
	put_kv(m, "slot", cbor_build_uint8(1));
	r = ask(2, 80, 1, b, body(b, sizeof(b), m), 0);
	CHECK(err_rc(r, 80) == PA_A_ARGS);
	cbor_decref(&r);

	/* the factory: a bundle for this key and nonce, and an older one */
	CHECK(run("set -e; cd '%s'; exec >/dev/null 2>&1; P='%s'; "
	          "$P init --home f; $P signer export --home f > signer.pem; "
	          "openssl req -inform DER -in k.csr.der -out k.csr.pem; "
	          "$P mint --home f --template '%s/templates/mqtt-mtls.json' --device X "
	          "--csr k.csr.pem --recipient-key dev.pub; "
	          "$P bundle --home f --device X --out old.cbor; "
	          "$P bundle --home f --device X --nonce " NONCE_HEX " --out b.cbor",
	          work, prov, top) == 0);
	snprintf(path, sizeof(path), "%s/signer.pem", work);
	CHECK(signer_from_pem(path, &SIG) == 0);
	snprintf(path, sizeof(path), "%s/b.cbor", work);
	CHECK(load_file(path, &bundle, &blen) == 0);
	snprintf(path, sizeof(path), "%s/old.cbor", work);
	CHECK(load_file(path, &old, &olen) == 0);
	if (bundle == NULL || old == NULL)
		goto out;
	CHECK(start() == PA_OK);   /* with the factory's signer; the key is still pending */
	CHECK(A.kg_used != 0);

	/* upload: chunks, a retransmitted first chunk, an overlap, errors, resume */
	EVP_Digest(bundle, blen, sha, &sl, EVP_sha256(), NULL);
	{ long v_ = upload(bundle, 0, 300, blen, sha); CHECK_MSG(v_ == 300, "first: %ld drops %lu", v_, S.rx.drops); }
	CHECK(upload(bundle, 0, 300, blen, sha) == 300);
	{ long v_ = upload(bundle, 100, 300, blen, sha); CHECK_MSG(v_ == 400, "overlap: %ld drops %lu", v_, S.rx.drops); }
	CHECK(upload(bundle, 500, 10, blen, sha) == -PA_A_STATE);
	r = commit(sha);
	CHECK(err_rc(r, 80) == PA_A_STATE);   /* incomplete */
	cbor_decref(&r);
	for (off = 400; off < blen; off += 250)
		CHECK(upload(bundle, off, blen - off < 250 ? blen - off : 250, blen, sha) ==
		      (long)(blen - off < 250 ? blen : off + 250));
	r = commit(sha);
	CHECK(r != NULL && uint_of(get(r, "ctr")) == 2 && bytes_eq(get(r, "digest"), A.installed.digest, 32));
	if (r != NULL && get(r, "receipt") != NULL) {
		rlen = cbor_bytestring_length(get(r, "receipt"));
		memcpy(receipt, cbor_bytestring_handle(get(r, "receipt")), rlen);
	}
	cbor_decref(&r);
	/* the device's key adopted; cert, key and mqtt-mtls's broker store in slot 1 */
	CHECK(A.installed.n == 3 && A.kg_used == 0);
	r = commit(sha);                                 /* repeated: the same receipt */
	CHECK(r != NULL && bytes_eq(get(r, "receipt"), receipt, rlen));
	cbor_decref(&r);
	r = ask(0, 80, 0, NULL, 0, 0);                  /* a new session nonce */
	CHECK(r != NULL && get(r, "nonce") != NULL && !bytes_eq(get(r, "nonce"), nonce, 16) &&
	      uint_of(get(r, "ctr")) == 2);
	cbor_decref(&r);

	/* status, then a reboot: the receipt comes from storage */
	r = ask(0, 80, 4, NULL, 0, 0);
	CHECK(r != NULL && uint_of(get(r, "ctr")) == 2 && bytes_eq(get(r, "receipt"), receipt, rlen) &&
	      get(r, "slots") != NULL && cbor_array_size(get(r, "slots")) == 3);
	cbor_decref(&r);
	CHECK(start() == PA_OK);
	r = ask(0, 80, 4, NULL, 0, 0);
	CHECK(r != NULL && bytes_eq(get(r, "receipt"), receipt, rlen) &&
	      bytes_eq(get(r, "digest"), A.installed.digest, 32));
	cbor_decref(&r);
	r = commit(sha);
	CHECK(r != NULL && bytes_eq(get(r, "receipt"), receipt, rlen));
	cbor_decref(&r);

	/* an older bundle: refused with the agent's code, again when repeated */
	EVP_Digest(old, olen, sha, &sl, EVP_sha256(), NULL);
	CHECK(upload(old, 0, olen < 400 ? olen : 400, olen, sha) == (long)(olen < 400 ? olen : 400));
	for (off = 400; off < olen; off += 400)
		(void)upload(old, off, olen - off < 400 ? olen - off : 400, olen, sha);
	r = commit(sha);
	CHECK(err_rc(r, 80) == PA_V_ROLLBACK);
	cbor_decref(&r);
	r = commit(sha);
	CHECK(err_rc(r, 80) == PA_V_ROLLBACK);
	cbor_decref(&r);
	CHECK(A.installed.counter == 2);
	CHECK(upload(old, 0, 10, PA_BUNDLE_MAX + 1, sha) == -PA_V_TOO_LARGE);
	CHECK_MSG(S.rx.drops == 0 && S.rx.packets >= 8, "%lu drops, %lu packets", S.rx.drops, S.rx.packets);
out:
	free(bundle);
	free(old);
	free(csr_file);
}

/* ---- connect: the request as the application sees it ---------------------------------- */

static pa_smp_connect_req seen;
static uint8_t seen_send[PA_SMP_MTU], seen_id[PA_SMP_CONNECT_ID_MAX];
static int app_calls, app_rc;

static int fake_connect(void *ctx, const pa_smp_connect_req *q, struct pa_cbw *w)
{
	(void)ctx;
	app_calls++;
	seen = *q;
	if (q->send != NULL)
		memcpy(seen_send, q->send, q->send_len);
	if (q->id != NULL)
		memcpy(seen_id, q->id, q->id_len);
	if (app_rc != PA_OK)
		return app_rc;
	pa_cbw_head(w, 5, 1);   /* {"res": 0} */
	pa_cbw_key(w, "res");
	pa_cbw_head(w, 0, 0);
	return PA_OK;
}

static const pa_smp_app APP = { NULL, fake_connect };

/* One connect request from hex CBOR: the answer's rc (0: {"res": 0}), the
 * calls it made to the application. */
static long connect_hex(const char *hex, int *calls)
{
	uint8_t b[PA_SMP_MTU];
	size_t n = strlen(hex) / 2, i;
	cbor_item_t *r;
	long rc;

	for (i = 0; i < n; i++)
		sscanf(hex + 2 * i, "%2hhx", &b[i]);
	app_calls = 0;
	r = ask(2, 80, 5, b, n, 0);
	rc = r == NULL ? -1 : get(r, "res") != NULL ? uint_of(get(r, "res")) : err_rc(r, 80);
	if (r != NULL)
		cbor_decref(&r);
	*calls = app_calls;
	return rc;
}

static void connect_requests(void)
{
	static const struct {
		const char *hex, *what;
	} bad[] = {
		{ "a26473656e646178646563686f01", "send and echo together" },
		{ "a1646563686f194001", "echo 16385" },
		{ "a1646563686f1a00010000", "echo 65536" },
		{ "a16566726573680f", "fresh a number" },
		{ "a162696440", "an empty id" },
		{ "a1626964510102030405060708090a0b0c0d0e0f1011", "a 17-byte id" },
		{ "a164736c6f746131", "slot as text" },
		{ "a16774696d656f75741a000927c1", "timeout above 600000" },
		{ "a16473656e644168", "send as bytes" },
		{ "a164736c6f7420", "slot negative" },
		{ "a164736c6f741b0000000100000000", "slot above 2^32 - 1" },
		{ "a164736c6f7418", "a truncated slot" },
		{ "a2647365", "a truncated map" },
		{ "01", "not a map" },
	};
	uint8_t sha[32], data[64];
	int calls;
	size_t i;

	CHECK(start() == PA_OK);
	/* no application (agent-sim, the provisioning firmware): not supported */
	CHECK(connect_hex("a164736c6f7401", &calls) == PA_SMP_ENOTSUP);
	pa_smp_set_app(&S, &APP);
	/* {"slot": 3, "send": "hi", "fresh": true, "timeout": 1500, "id": h'01'} */
	CHECK(connect_hex("a564736c6f74036473656e64626869656672657368f56774696d656f75741905dc"
	                  "6269644101", &calls) == 0 && calls == 1);
	CHECK(seen.has_slot && seen.slot == 3 && seen.send_len == 2 && memcmp(seen_send, "hi", 2) == 0 &&
	      seen.echo == 0 && seen.fresh == 1 && seen.timeout_ms == 1500 && seen.id_len == 1 &&
	      seen_id[0] == 1);
	/* {}: the only TLS slot, nothing to send, defaults */
	CHECK(connect_hex("a0", &calls) == 0 && calls == 1);
	CHECK(!seen.has_slot && seen.send == NULL && seen.echo == 0 && !seen.fresh &&
	      seen.timeout_ms == 0 && seen.id == NULL);
	/* {"echo": 2048, "fresh": false} */
	CHECK(connect_hex("a2646563686f190800656672657368f4", &calls) == 0 && seen.echo == 2048 &&
	      !seen.fresh);
	/* {"echo": 16384}, the largest */
	CHECK(connect_hex("a1646563686f194000", &calls) == 0 && seen.echo == 16384);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long rc = connect_hex(bad[i].hex, &calls);

		CHECK_MSG(rc == PA_A_ARGS && calls == 0, "%s: rc %ld, %d calls", bad[i].what, rc, calls);
	}
	/* the application's own refusal is the answer's rc */
	app_rc = 71;
	CHECK(connect_hex("a164736c6f7407", &calls) == 71 && calls == 1);
	app_rc = PA_OK;
	/* connect takes the bundle buffer: an upload in progress is abandoned, and
	 * a chunk that continues it is refused (63) */
	memset(data, 0x5a, sizeof(data));
	memset(sha, 0, sizeof(sha));
	CHECK(upload(data, 0, 32, 64, sha) == 32);
	CHECK(connect_hex("a0", &calls) == 0);
	CHECK(upload(data, 32, 32, 64, sha) == -PA_A_STATE);
	CHECK(A.bundle_len == 0);
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], build[PATH_MAX], prov[PATH_MAX + 8], top[PATH_MAX], path[PATH_MAX + 64];

	(void)argc;
	framing();
	line_vectors();
	if (realpath(argv[0], self) == NULL || getcwd(top, sizeof(top)) == NULL)
		return 1;
	snprintf(build, sizeof(build), "%s", dirname(dirname(self)));
	snprintf(prov, sizeof(prov), "%s/prov", build);
	snprintf(work, sizeof(work), "/tmp/pa-smp-XXXXXX");
	if (make_device_dir(work, devdir, sizeof(devdir)) != 0)
		return 1;
	if (chdir(devdir) != 0)
		return 1;
	pa_dir_port_init(&DP, ".");
	DP.no_sync = 1;
	memset(&SIG, 0, sizeof(SIG));
	CHECK(start() == PA_OK);
	snprintf(path, sizeof(path), "%s/dev.pub", work);
	CHECK(write_pub_pem(path, A.pub) == 0);
	dispatcher(prov, top);
	connect_requests();
	psa_reboot();
	run("rm -rf '%s'", work);
	return check_done("test_agent_smp");
}
