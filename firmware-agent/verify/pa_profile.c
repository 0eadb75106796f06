/*
 * pa_profile.c - the tls-profile map of schemas/bundle.cddl: validated when a
 * bundle is checked (out NULL) and decoded when the TLS layer looks it up.
 */
#include <string.h>

#include "verify/pa_verify.h"

#define TLS12 0x0303u
#define TLS13 0x0304u
#define RSL_MIN 64u      /* RFC 8449 */
#define RSL_MAX 16385u
#define TICKET_MAX 604800u
#define PROTO_MAX 16u
#define SNI_MAX 253u
#define LIST_MAX 16u

/* [1*16 uint] into out (may be NULL); versions: only 1.2/1.3, ascending. */
static uint8_t read_list(pa_cbor *r, uint16_t *out, int versions)
{
	uint64_t n = pa_cbor_head(r, PA_CBOR_ARRAY), i;
	uint16_t prev = 0;

	if (n == 0 || n > LIST_MAX) {
		pa_cbor_fail(r, PA_CBOR_TYPE);
		return 0;
	}
	for (i = 0; i < n; i++) {
		uint16_t v = (uint16_t)pa_cbor_uint(r, 0xffffu);

		if (versions && ((v != TLS12 && v != TLS13) || v <= prev))
			pa_cbor_fail(r, PA_CBOR_TYPE);
		prev = v;
		if (out != NULL)
			out[i] = v;
	}
	return (uint8_t)n;
}

static void read_text(pa_cbor *r, char *out, size_t max)
{
	size_t n;
	const uint8_t *s = pa_cbor_bytes(r, PA_CBOR_TSTR, 1, max, &n);

	if (out != NULL && s != NULL) {
		memcpy(out, s, n);
		out[n] = '\0';
	}
}

void pa_profile_read(pa_cbor *r, pa_tls_profile *out)
{
	pa_tls_profile *o = out;
	uint64_t n, i, v;
	int last = -1;

	if (o != NULL)
		memset(o, 0, sizeof(*o));
	n = pa_cbor_head(r, PA_CBOR_MAP);
	if (n == 0 || n > 11)
		pa_cbor_fail(r, PA_CBOR_TYPE);
	for (i = 0; i < n && pa_cbor_err(r) == PA_CBOR_OK; i++) {
		uint64_t key = pa_cbor_uint(r, 10);

		if (pa_cbor_err(r) != PA_CBOR_OK || (int)key <= last) {
			pa_cbor_fail(r, PA_CBOR_TYPE);
			break;
		}
		if (i == 0 && key != 0)
			pa_cbor_fail(r, PA_CBOR_TYPE);   /* protocol is required */
		last = (int)key;
		switch (key) {
		case 0:
			read_text(r, o != NULL ? o->protocol : NULL, PROTO_MAX);
			break;
		case 1:
			v = pa_cbor_uint(r, 1);
			if (o != NULL)
				o->transport = (uint8_t)v;
			break;
		case 2:
			v = read_list(r, o != NULL ? o->versions : NULL, 1);
			if (o != NULL)
				o->n_versions = (uint8_t)v;
			break;
		case 3:
			v = read_list(r, o != NULL ? o->suites : NULL, 0);
			if (o != NULL)
				o->n_suites = (uint8_t)v;
			break;
		case 4:
			v = pa_cbor_uint(r, RSL_MAX);
			if (v < RSL_MIN)
				pa_cbor_fail(r, PA_CBOR_TYPE);
			if (o != NULL)
				o->record_size_limit = (uint16_t)v;
			break;
		case 5:
			v = pa_cbor_uint(r, 4096);
			if (v != 512 && v != 1024 && v != 2048 && v != 4096)
				pa_cbor_fail(r, PA_CBOR_TYPE);
			if (o != NULL)
				o->max_fragment_len = (uint16_t)v;
			break;
		case 6:
			v = (uint64_t)pa_cbor_bool(r);
			if (o != NULL)
				o->resumption = (uint8_t)v;
			break;
		case 7:
			v = pa_cbor_uint(r, TICKET_MAX);
			if (o != NULL)
				o->ticket_lifetime = (uint32_t)v;
			break;
		case 8:
			v = pa_cbor_uint(r, 2);
			if (o != NULL)
				o->time_check = (uint8_t)v;
			break;
		case 9:
			v = pa_cbor_uint(r, UINT64_MAX);
			if (o != NULL)
				o->time_floor = v;
			break;
		default: /* 10 */
			read_text(r, o != NULL ? o->server_name : NULL, SNI_MAX);
			break;
		}
		if (o != NULL)
			o->present |= (uint16_t)(1u << key);
	}
}
