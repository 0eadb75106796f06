/*
 * fuzz_smp_answer.c - libFuzzer target for what `prov install` reads from a
 * device: the console framing (prov_smp_decoder, the agent's pa_console.c
 * compiled into libprov), the SMP header against the request it answers and the
 * CBOR body (prov_smp_answer_decode), and every provisioning answer's fields
 * (prov_smp_info_parse, _status_parse, _keygen_parse, _commit_parse,
 * _upload_parse: libprov/src/serial/answer.c).
 *
 * The input is what a device writes on the line, pushed in two pieces (the first
 * byte chooses the cut).  Each packet that comes out is decoded as the answer
 * to the request it claims to answer, so its body is always read, and once as
 * an answer to another request, which must be ignored.  The whole input is also
 * decoded as one packet, as if its frame had been valid (the fuzzer rarely
 * makes a CRC), the way fuzz_agent_smp feeds the device's dispatcher.
 *
 * Checks besides "no crash, no leak, no UB": a packet lies inside the decoder's
 * buffer, is at least a header and at most PROV_SMP_PKT_MAX bytes long, and
 * frames again into lines that decode back to the same bytes; every refusal is
 * one line of printable ASCII (the device's text escaped); every accepted
 * answer keeps the bounds the host relies on (a valid device ID, key and nonce
 * sizes, receipts and CSRs of 1..limit bytes, a CSR's key of at most 256).
 * Seeds: fuzz/corpus/smp_answer/, what agent-sim answered to a real session
 * (fuzz/mkcorpus-device.sh).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prov/receipt.h"
#include "prov/smp.h"
#include "prov/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One line of printable ASCII, not empty. */
static void tame(const prov_err *e)
{
	if (e->msg[0] == '\0')
		abort();
	for (const char *p = e->msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			abort();
}

static void fields(const cbor_item_t *body)
{
	prov_smp_info info;
	prov_smp_status status;
	const uint8_t *b;
	uint8_t spki[256];
	size_t n, sl;
	uint64_t off;
	prov_err e;

	if (prov_smp_info_parse(body, &info, &e) == PROV_OK) {
		if (!prov_device_id_valid(info.id) || info.pub_len == 0 || info.pub_len > sizeof(info.pub) ||
		    info.nonce_len < PROV_NONCE_MIN || info.nonce_len > PROV_NONCE_MAX ||
		    memchr(info.ver, 0, sizeof(info.ver)) == NULL)
			abort();
	} else {
		tame(&e);
	}
	if (prov_smp_status_parse(body, &status, &e) == PROV_OK) {
		if ((status.receipt == NULL) != (status.receipt_len == 0) ||
		    status.receipt_len > PROV_RECEIPT_MAX)
			abort();
	} else {
		tame(&e);
	}
	if (prov_smp_keygen_parse(body, &b, &n, spki, &sl, &e) == PROV_OK) {
		if (b == NULL || n == 0 || n > PROV_SMP_CSR_MAX || sl == 0 || sl > sizeof(spki))
			abort();
	} else {
		tame(&e);
		if (b != NULL || n != 0)
			abort();
	}
	if (prov_smp_commit_parse(body, &b, &n, &e) == PROV_OK) {
		if (b == NULL || n == 0 || n > PROV_RECEIPT_MAX)
			abort();
	} else {
		tame(&e);
	}
	if (prov_smp_upload_parse(body, &off, &e) != PROV_OK)
		tame(&e);
}

/* The packet as an answer to what it claims to answer, then to another request. */
static void answer(const uint8_t *pkt, size_t len)
{
	prov_smp_hdr req, other;
	cbor_item_t *body = NULL;
	int rc = 0;
	prov_err e;

	if (len < PROV_SMP_HDR_LEN) {
		memset(&req, 0, sizeof(req));
		if (prov_smp_answer_decode(pkt, len, &req, &body, &rc, &e) != PROV_OK || body != NULL)
			abort();   /* no header: nobody's answer */
		return;
	}
	prov_smp_hdr_get(pkt, &req);
	req.op = (req.op - 1) & 7;
	other = req;
	other.seq = (req.seq + 1) & 0xff;
	if (prov_smp_answer_decode(pkt, len, &other, &body, &rc, &e) != PROV_OK || body != NULL)
		abort();   /* another sequence number: ignored */
	if (prov_smp_answer_decode(pkt, len, &req, &body, &rc, &e) != PROV_OK) {
		tame(&e);
		if (body != NULL)
			abort();
		return;
	}
	if (body == NULL) {
		if ((pkt[0] & 7) != 0)
			abort();   /* only op 0 answers no request (7 + 1 is not an op) */
		return;
	}
	if (!cbor_isa_map(body) || rc < 0)
		abort();
	fields(body);
	cbor_decref(&body);
}

/* A packet frames again into lines that decode to the same bytes. */
static void round_trip(const uint8_t *pkt, size_t len)
{
	static prov_smp_decoder d2;
	uint8_t *f = NULL;
	size_t fl = 0, pos = 0;
	const uint8_t *p2 = NULL;
	size_t l2 = 0;
	prov_err e;

	if (prov_smp_frame_encode(pkt, len, &f, &fl, &e) != PROV_OK)
		abort();
	prov_smp_decoder_init(&d2);
	while (pos < fl && p2 == NULL)
		pos += prov_smp_decoder_push(&d2, f + pos, fl - pos, &p2, &l2);
	if (p2 == NULL || pos != fl || l2 != len || memcmp(p2, pkt, len) != 0)
		abort();
	free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static prov_smp_decoder d;
	size_t cut = size > 0 ? data[0] % (size + 1) : 0, pos = 0;

	prov_smp_decoder_init(&d);
	while (pos < size) {
		size_t end = pos < cut ? cut : size;
		const uint8_t *pkt;
		size_t len;

		pos += prov_smp_decoder_push(&d, data + pos, end - pos, &pkt, &len);
		if (pkt == NULL)
			continue;
		if (pkt < d.buf || pkt + len > d.buf + sizeof(d.buf) || len < PROV_SMP_HDR_LEN ||
		    len > PROV_SMP_PKT_MAX)
			abort();
		answer(pkt, len);
		round_trip(pkt, len);
	}
	answer(data, size);
	return 0;
}
