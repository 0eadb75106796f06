/* smp.c - SMP over a console on the host: the framing is the agent's own
 * (pa/pa_console.h, firmware-agent/smp/pa_console.c compiled into libprov), the
 * SMP header and CBOR body helpers are here (see prov/smp.h,
 * docs/serial-protocol.md). */
#include "prov/smp.h"

#include <stdlib.h>
#include <string.h>

#include "prov/cbor.h"

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

/* pa_console_send's line writer: appends to a buffer sized for the whole frame. */
typedef struct frame_out {
	uint8_t *p;
	size_t len, cap;
} frame_out;

static int frame_write(void *ctx, const uint8_t *b, size_t n)
{
	frame_out *o = ctx;

	if (n > o->cap - o->len)
		return -1;
	memcpy(o->p + o->len, b, n);
	o->len += n;
	return 0;
}

prov_status prov_smp_frame_encode(const uint8_t *pkt, size_t n, uint8_t **out, size_t *out_len,
                                  prov_err *e)
{
	size_t b64, lines;
	frame_out o = {NULL, 0, 0};

	*out = NULL;
	*out_len = 0;
	if (n == 0 || n > PROV_SMP_PKT_MAX)
		return prov_err_set(e, PROV_E_INPUT, "SMP packet of %zu bytes: 1 to %d allowed", n,
		                    PROV_SMP_PKT_MAX);
	/* base64 of length || packet || CRC, cut into lines of a marker, at most
	 * PA_CONSOLE_B64 characters and a newline */
	b64 = 4 * ((n + 4 + 2) / 3);
	lines = (b64 + PA_CONSOLE_B64 - 1) / PA_CONSOLE_B64;
	o.cap = b64 + 3 * lines;
	o.p = malloc(o.cap);
	if (o.p == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (pa_console_send(pkt, n, frame_write, &o) != 0) {
		free(o.p);
		return prov_err_set(e, PROV_E_INTERNAL, "SMP framing of %zu bytes failed", n);
	}
	*out = o.p;
	*out_len = o.len;
	return PROV_OK;
}

void prov_smp_decoder_init(prov_smp_decoder *d)
{
	memset(d, 0, sizeof(*d));
	pa_console_init(&d->con, d->buf, sizeof(d->buf));
}

static void on_packet(void *ctx, const uint8_t *pkt, size_t len)
{
	prov_smp_decoder *d = ctx;

	d->pkt = pkt;
	d->pkt_len = len;
}

size_t prov_smp_decoder_push(prov_smp_decoder *d, const uint8_t *buf, size_t n,
                             const uint8_t **pkt, size_t *pkt_len)
{
	size_t pos = 0;

	*pkt = NULL;
	*pkt_len = 0;
	/* A packet completes only at the end of a line: push line by line and stop
	 * after the line that completed one, so the caller reads it before the
	 * decoder goes on (a next first frame reuses the buffer). */
	while (pos < n) {
		const uint8_t *nl = memchr(buf + pos, '\n', n - pos);
		size_t k = nl != NULL ? (size_t)(nl - (buf + pos)) + 1 : n - pos;

		d->pkt = NULL;
		pa_console_push(&d->con, buf + pos, k, on_packet, d);
		pos += k;
		if (d->pkt != NULL) {
			*pkt = d->pkt;
			*pkt_len = d->pkt_len;
			return pos;
		}
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
