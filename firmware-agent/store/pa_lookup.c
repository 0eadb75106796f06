/*
 * pa_lookup.c - what the TLS layer asks of the committed set: (slot, type) to
 * a PSA key ID, public data copied into the caller's buffer (ITS storage is
 * not memory-mapped), and the set's TLS profile.
 */
#include "store/pa_store.h"
#include "verify/pa_verify.h"

static int find(const pa_agent *a, uint32_t slot, unsigned type)
{
	unsigned i;

	if (!a->started || a->installed.gen == PA_GEN_NONE)
		return -1;
	for (i = 0; i < a->installed.n; i++)
		if (a->installed.e[i].slot == slot && (type == 0 || a->installed.e[i].type == type))
			return (int)i;
	return -1;
}

int pa_lookup_key(const pa_agent *a, uint32_t slot, unsigned type, psa_key_id_t *id)
{
	int i = find(a, slot, type);

	*id = 0;
	if (i < 0 || type == 0 || a->installed.e[i].key_id == 0)
		return PA_S_NOT_FOUND;
	*id = a->installed.e[i].key_id;
	return PA_OK;
}

int pa_lookup_data(const pa_agent *a, uint32_t slot, unsigned type, uint8_t *buf,
                   size_t cap, size_t *len)
{
	int i = find(a, slot, type), st;

	*len = 0;
	if (i < 0 || type == 0 || a->installed.e[i].size == 0)
		return PA_S_NOT_FOUND;
	st = a->port->get(a->port->ctx, PA_UID_SET(a->installed.gen, (unsigned)i), buf, cap, len);
	if (st == PA_PORT_TOO_BIG)
		return PA_S_BUFFER;
	if (st == PA_PORT_NOT_FOUND || (st == PA_PORT_OK && *len != a->installed.e[i].size))
		return PA_S_CORRUPT;
	return st == PA_PORT_OK ? PA_OK : PA_S_IO;
}

int pa_lookup_profile(const pa_agent *a, uint32_t slot, pa_tls_profile *prof)
{
	uint8_t buf[PA_PROFILE_MAX];
	size_t len = 0;
	pa_cbor r;
	int st;

	if (find(a, slot, 0) < 0 || !a->installed.has_profile)
		return PA_S_NOT_FOUND;
	st = a->port->get(a->port->ctx, PA_UID_SET(a->installed.gen, PA_UID_REC_PROFILE), buf,
	                  sizeof(buf), &len);
	if (st != PA_PORT_OK)
		return st == PA_PORT_IO ? PA_S_IO : PA_S_CORRUPT;
	pa_cbor_init(&r, buf, len);
	pa_profile_read(&r, prof);
	return pa_cbor_at_end(&r) ? PA_OK : PA_S_CORRUPT;
}
