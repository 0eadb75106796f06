/* smp.c - SMP console framing, CRC-16/XMODEM, the SMP header and CBOR body
 * helpers (see prov/smp.h, docs/serial-protocol.md).  Base64 is OpenSSL's. */
#include "prov/smp.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "prov/cbor.h"

/* Line markers (MCUmgr's console transport, SHELL_NLIP). */
#define MARK_FIRST_0 0x06
#define MARK_FIRST_1 0x09
#define MARK_CONT_0 0x04
#define MARK_CONT_1 0x14

uint16_t prov_smp_crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0;

	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

void prov_smp_hdr_put(const prov_smp_hdr *h, uint8_t out[PROV_SMP_HDR_LEN])
{
	out[0] = (uint8_t)(((h->version & 3) << 3) | (h->op & 7));
	out[1] = (uint8_t)h->flags;
	out[2] = (uint8_t)(h->len >> 8);
	out[3] = (uint8_t)h->len;
	out[4] = (uint8_t)(h->group >> 8);
	out[5] = (uint8_t)h->group;
	out[6] = (uint8_t)h->seq;
	out[7] = (uint8_t)h->id;
}

void prov_smp_hdr_get(const uint8_t in[PROV_SMP_HDR_LEN], prov_smp_hdr *h)
{
	h->op = in[0] & 7;
	h->version = (in[0] >> 3) & 3;
	h->flags = in[1];
	h->len = (unsigned)in[2] << 8 | in[3];
	h->group = (unsigned)in[4] << 8 | in[5];
	h->seq = in[6];
	h->id = in[7];
}

prov_status prov_smp_frame_encode(const uint8_t *pkt, size_t n, uint8_t **out, size_t *out_len,
                                  prov_err *e)
{
	uint8_t *raw = NULL, *b64 = NULL, *o = NULL;
	size_t raw_len, b64_len, lines, pos = 0;

	*out = NULL;
	*out_len = 0;
	if (n == 0 || n > PROV_SMP_PKT_MAX)
		return prov_err_set(e, PROV_E_INPUT, "SMP packet of %zu bytes: 1 to %d allowed", n,
		                    PROV_SMP_PKT_MAX);
	raw_len = n + 4;
	raw = malloc(raw_len);
	b64 = malloc(4 * ((raw_len + 2) / 3) + 1);
	if (raw == NULL || b64 == NULL)
		goto oom;
	/* length = packet + CRC, big-endian; then the packet; then its CRC. */
	raw[0] = (uint8_t)((n + 2) >> 8);
	raw[1] = (uint8_t)(n + 2);
	memcpy(raw + 2, pkt, n);
	{
		uint16_t crc = prov_smp_crc16(pkt, n);

		raw[2 + n] = (uint8_t)(crc >> 8);
		raw[3 + n] = (uint8_t)crc;
	}
	b64_len = (size_t)EVP_EncodeBlock(b64, raw, (int)raw_len);
	lines = (b64_len + PROV_SMP_B64_PER_LINE - 1) / PROV_SMP_B64_PER_LINE;
	o = malloc(b64_len + 3 * lines);
	if (o == NULL)
		goto oom;
	for (size_t i = 0; i < b64_len; i += PROV_SMP_B64_PER_LINE) {
		size_t k = b64_len - i < PROV_SMP_B64_PER_LINE ? b64_len - i : PROV_SMP_B64_PER_LINE;

		o[pos++] = i == 0 ? MARK_FIRST_0 : MARK_CONT_0;
		o[pos++] = i == 0 ? MARK_FIRST_1 : MARK_CONT_1;
		memcpy(o + pos, b64 + i, k);
		pos += k;
		o[pos++] = '\n';
	}
	free(raw);
	free(b64);
	*out = o;
	*out_len = pos;
	return PROV_OK;
oom:
	free(raw);
	free(b64);
	free(o);
	return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
}

void prov_smp_decoder_init(prov_smp_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

static int b64_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
	       c == '/';
}

/* Strict base64 of one line: a multiple of 4 characters, padding only at the
 * end.  Returns the decoded length or -1. */
static long b64_decode(const uint8_t *s, size_t n, uint8_t *out)
{
	size_t pad = 0;
	int r;

	if (n == 0 || n % 4 != 0)
		return -1;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < n - pad; i++)
		if (!b64_char(s[i]))
			return -1;
	r = EVP_DecodeBlock(out, s, (int)n);
	if (r < 0)
		return -1;
	return (long)r - (long)pad;
}

/* A complete line (without its '\n') of the framing, or anything else. */
static int take_line(prov_smp_decoder *d)
{
	uint8_t tmp[PROV_SMP_LINE_MAX];
	const uint8_t *s = d->line;
	size_t n = d->line_len;
	long got;
	size_t want;

	if (n >= 1 && s[n - 1] == '\r')   /* a console that adds CR */
		n--;
	if (n < 2 || !((s[0] == MARK_FIRST_0 && s[1] == MARK_FIRST_1) ||
	               (s[0] == MARK_CONT_0 && s[1] == MARK_CONT_1))) {
		d->skipped_lines++;
		return 0;
	}
	if (s[0] == MARK_FIRST_0) {       /* a first frame always starts over */
		d->active = 1;
		d->raw_len = 0;
	} else if (!d->active) {
		d->skipped_lines++;
		return 0;
	}
	got = b64_decode(s + 2, n - 2, tmp);
	if (got < 0) {
		d->bad_base64++;
		d->active = 0;
		return 0;
	}
	if (d->raw_len + (size_t)got > sizeof(d->raw)) {
		d->overflow++;
		d->active = 0;
		return 0;
	}
	memcpy(d->raw + d->raw_len, tmp, (size_t)got);
	d->raw_len += (size_t)got;
	if (d->raw_len < 2)
		return 0;
	/* The announced length counts the packet and the CRC; it is the sender's
	 * word, so bound it before using it. */
	want = ((size_t)d->raw[0] << 8 | d->raw[1]) + 2;
	if (want < 2 + 2 + PROV_SMP_HDR_LEN || want > sizeof(d->raw) || d->raw_len > want) {
		d->overflow++;
		d->active = 0;
		return 0;
	}
	if (d->raw_len < want)
		return 0;
	d->active = 0;
	{
		size_t plen = want - 4;
		uint16_t crc = (uint16_t)(d->raw[want - 2] << 8 | d->raw[want - 1]);

		if (prov_smp_crc16(d->raw + 2, plen) != crc) {
			d->bad_crc++;
			return 0;
		}
		d->pkt_len = plen;
	}
	d->packets++;
	return 1;
}

size_t prov_smp_decoder_push(prov_smp_decoder *d, const uint8_t *buf, size_t n,
                             const uint8_t **pkt, size_t *pkt_len)
{
	*pkt = NULL;
	*pkt_len = 0;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = buf[i];

		if (c != '\n') {
			/* A marker in the middle of a line (a log line without its newline, a
			 * frame line whose newline was lost) starts a new line there: the
			 * marker bytes are control characters no text or base64 holds. */
			if (d->line_len >= 2 && ((c == MARK_FIRST_1 && d->line[d->line_len - 1] == MARK_FIRST_0) ||
			                         (c == MARK_CONT_1 && d->line[d->line_len - 1] == MARK_CONT_0))) {
				if (d->line_len - 1 >= 2 && (d->line[0] == MARK_FIRST_0 || d->line[0] == MARK_CONT_0))
					d->active = 0;   /* the broken line was part of a frame */
				d->skipped_lines++;
				d->line[0] = d->line[d->line_len - 1];
				d->line_len = 1;
				d->overlong = 0;
			}
			if (d->line_len < sizeof(d->line))
				d->line[d->line_len++] = c;
			else
				d->overlong = 1;
			continue;
		}
		if (d->overlong) {
			d->skipped_lines++;
			/* An overlong line may have been a damaged frame line. */
			if (d->line_len >= 2 && (d->line[0] == MARK_FIRST_0 || d->line[0] == MARK_CONT_0))
				d->active = 0;
		} else if (take_line(d)) {
			d->line_len = 0;
			d->overlong = 0;
			*pkt = d->raw + 2;
			*pkt_len = d->pkt_len;
			return i + 1;
		}
		d->line_len = 0;
		d->overlong = 0;
	}
	return n;
}

/* ---- CBOR bodies: maps with text keys ------------------------------------- */

cbor_item_t *prov_smp_get(const cbor_item_t *map, const char *key)
{
	size_t kl = strlen(key);
	struct cbor_pair *p;

	if (map == NULL || !cbor_isa_map(map) || !cbor_map_is_definite(map))
		return NULL;
	p = cbor_map_handle(map);
	for (size_t i = 0; i < cbor_map_size(map); i++) {
		cbor_item_t *k = p[i].key;

		if (cbor_isa_string(k) && cbor_string_is_definite(k) && cbor_string_length(k) == kl &&
		    memcmp(cbor_string_handle(k), key, kl) == 0)
			return p[i].value;
	}
	return NULL;
}

int prov_smp_get_uint(const cbor_item_t *map, const char *key, uint64_t *v)
{
	cbor_item_t *i = prov_smp_get(map, key);

	if (i == NULL || !cbor_isa_uint(i))
		return -1;
	*v = cbor_get_int(i);
	return 0;
}

const uint8_t *prov_smp_get_bytes(const cbor_item_t *map, const char *key, size_t *len)
{
	cbor_item_t *i = prov_smp_get(map, key);

	if (i == NULL || !cbor_isa_bytestring(i) || !cbor_bytestring_is_definite(i))
		return NULL;
	*len = cbor_bytestring_length(i);
	/* An empty byte string may have no handle: give a valid pointer anyway. */
	return cbor_bytestring_handle(i) != NULL ? cbor_bytestring_handle(i) : (const uint8_t *)"";
}

int prov_smp_get_text(const cbor_item_t *map, const char *key, char *out, size_t cap)
{
	cbor_item_t *i = prov_smp_get(map, key);
	size_t n;

	if (i == NULL || !cbor_isa_string(i) || !cbor_string_is_definite(i))
		return -1;
	n = cbor_string_length(i);
	if (n + 1 > cap || (n > 0 && memchr(cbor_string_handle(i), 0, n) != NULL))
		return -1;
	if (n > 0)
		memcpy(out, cbor_string_handle(i), n);
	out[n] = 0;
	return 0;
}

int prov_smp_put(cbor_item_t *map, const char *key, cbor_item_t *value)
{
	return prov_cbor_map_put(map, prov_cbor_text(key), value);
}
