/*
 * pa_payload.c - the signed payload against schemas/bundle.cddl and the device.
 *
 * Runs only on a payload whose signature has been verified.  Keys are read in
 * their deterministic order (1..9, strictly increasing), so the checks happen in
 * the order docs/agent.md lists: version, device ID, counter, nonce, entries;
 * the secrets are opened afterwards (pa_secrets.c).  Every map key not in the
 * CDDL is an error.  A trust-store entry's value must be a store the device
 * can use: the trust module checks it (trust/pa_trust_check.h), by the rules
 * the host checks it by.  Fills *m with pointers into the payload.
 */
#include <string.h>

#include "trust/pa_trust_check.h"
#include "verify/pa_verify.h"

enum {
	P_VERSION = 1, P_DEVICE = 2, P_COUNTER = 3, P_NONCE = 4, P_ISSUED = 5,
	P_ENTRIES = 6, P_TLS = 7, P_SECRETS = 8, P_WIPE = 9
};
enum { E_SLOT = 1, E_TYPE = 2, E_ALG = 3, E_USAGE = 4, E_VALUE = 5, E_IDENT = 6 };

#define FORMAT_VERSION 1
#define SLOT_MAX 2147483647u
#define USAGE_MAX 15u
#define VALUE_MAX 65536u
#define IDENT_MAX 128u
#define SECRET_INDEX_MAX 15u
#define REQUIRED_ENTRY ((1u << E_SLOT) | (1u << E_TYPE) | (1u << E_USAGE) | (1u << E_VALUE))
#define REQUIRED_PAYLOAD ((1u << P_VERSION) | (1u << P_DEVICE) | (1u << P_COUNTER) | \
                          (1u << P_ISSUED) | (1u << P_ENTRIES))

static int is_secret_type(unsigned t)
{
	return t == PA_T_PRIVATE_KEY || t == PA_T_PSK;
}

/* One entry map; `secrets` counts the secret entries so far (indices must run
 * 0, 1, 2, ... in entry order). */
static int read_entry(pa_cbor *r, pa_entry *e, uint8_t *secrets)
{
	uint64_t n, i, last = 0;
	unsigned seen = 0;
	int secret_value = 0;

	n = pa_cbor_head(r, PA_CBOR_MAP);
	if (n > 6)
		pa_cbor_fail(r, PA_CBOR_TYPE);
	for (i = 0; i < n && pa_cbor_err(r) == PA_CBOR_OK; i++) {
		uint64_t key = pa_cbor_uint(r, E_IDENT);

		if (pa_cbor_err(r) != PA_CBOR_OK || key <= last) {
			pa_cbor_fail(r, PA_CBOR_TYPE);   /* unknown, repeated or unsorted */
			break;
		}
		last = key;
		seen |= 1u << key;
		switch (key) {
		case E_SLOT:
			e->slot = (uint32_t)pa_cbor_uint(r, SLOT_MAX);
			break;
		case E_TYPE:
			e->type = (uint8_t)pa_cbor_uint(r, PA_T_TRUST_STORE);
			if (e->type == 0)
				pa_cbor_fail(r, PA_CBOR_TYPE);
			break;
		case E_ALG:
			e->alg = (int16_t)pa_cbor_int(r, PA_ALG_ES384, PA_ALG_ES256);
			if (e->alg != PA_ALG_ES256 && e->alg != PA_ALG_ES384 && e->alg != PA_ALG_EDDSA)
				pa_cbor_fail(r, PA_CBOR_TYPE);
			break;
		case E_USAGE:
			e->usage = (uint8_t)pa_cbor_uint(r, USAGE_MAX);
			break;
		case E_VALUE:
			if (pa_cbor_peek(r) == PA_CBOR_UINT) {
				secret_value = 1;
				e->secret = (uint8_t)pa_cbor_uint(r, SECRET_INDEX_MAX);
			} else {
				e->value = pa_cbor_bytes(r, PA_CBOR_BSTR, 1, VALUE_MAX, &e->value_len);
			}
			break;
		default: /* E_IDENT */
			e->ident = pa_cbor_bytes(r, PA_CBOR_BSTR, 1, IDENT_MAX, &e->ident_len);
			break;
		}
	}
	if (pa_cbor_err(r) != PA_CBOR_OK || (seen & REQUIRED_ENTRY) != REQUIRED_ENTRY ||
	    secret_value != is_secret_type(e->type) ||
	    ((seen >> E_IDENT) & 1u) != (e->type == PA_T_PSK))
		return PA_V_BAD_ENTRY;
	if (secret_value) {
		if (e->secret != *secrets)
			return PA_V_BAD_ENTRY;
		(*secrets)++;
	}
	if (e->type == PA_T_PRIVATE_KEY) {
		if (!((seen >> E_ALG) & 1u))
			return PA_V_BAD_ENTRY;   /* needed to import the key */
		if (e->alg == PA_ALG_EDDSA)
			return PA_V_UNSUPPORTED; /* no Ed25519 in this PSA */
	}
	return PA_OK;
}

static int read_entries(pa_cbor *r, pa_manifest *m)
{
	uint64_t n = pa_cbor_head(r, PA_CBOR_ARRAY);
	unsigned i; /* n <= 16 below: a narrow index keeps room for the trust-store check */
	int rc;

	if (pa_cbor_err(r) != PA_CBOR_OK || n > 16)
		return PA_V_BAD_PAYLOAD;
	if (n > PA_ENTRIES_MAX)
		return PA_V_LIMIT;
	for (i = 0; i < n; i++) {
		pa_entry *e = &m->e[i];

		rc = read_entry(r, e, &m->n_secrets);
		/* a trust store (a byte string, checked above) the device can use */
		if (rc == PA_OK && e->type == PA_T_TRUST_STORE && pa_trust_check(e->value, e->value_len) != 0)
			rc = PA_V_BAD_ENTRY;
		if (rc != PA_OK)
			return rc;
		/* sorted by (slot, type), strictly increasing */
		if (i > 0 && (e->slot < e[-1].slot ||
		              (e->slot == e[-1].slot && e->type <= e[-1].type)))
			return PA_V_BAD_ENTRY;
	}
	m->n = (uint8_t)n;
	return PA_OK;
}

static int check_nonce(const pa_check *c, const pa_manifest *m)
{
	if (c->nonce == NULL)
		return PA_OK;
	if (m->nonce == NULL || m->nonce_len != c->nonce_len ||
	    memcmp(m->nonce, c->nonce, c->nonce_len) != 0)
		return PA_V_NONCE;
	return PA_OK;
}

int pa_payload_check(const uint8_t *p, size_t len, const pa_check *c, pa_manifest *m)
{
	pa_cbor r;
	uint64_t n, i, last = 0, v;
	unsigned seen = 0;
	int rc = PA_V_BAD_PAYLOAD;
	size_t start, dlen;
	const uint8_t *d;

	memset(m, 0, sizeof(*m));
	pa_cbor_init(&r, p, len);
	n = pa_cbor_head(&r, PA_CBOR_MAP);
	if (pa_cbor_err(&r) != PA_CBOR_OK || n > P_WIPE)
		goto out;
	for (i = 0; i < n; i++) {
		uint64_t key = pa_cbor_uint(&r, P_WIPE);

		rc = PA_V_BAD_PAYLOAD;
		if (pa_cbor_err(&r) != PA_CBOR_OK || key <= last)
			goto out;   /* unknown, repeated or unsorted key */
		last = key;
		seen |= 1u << key;
		start = r.pos;
		switch (key) {
		case P_VERSION:
			v = pa_cbor_uint(&r, UINT64_MAX);
			if (pa_cbor_err(&r) == PA_CBOR_OK && v != FORMAT_VERSION)
				rc = PA_V_VERSION;
			break;
		case P_DEVICE:
			d = pa_cbor_bytes(&r, PA_CBOR_TSTR, 1, PA_DEVICE_ID_MAX, &dlen);
			if (pa_cbor_err(&r) == PA_CBOR_OK &&
			    (dlen != c->device_id_len || memcmp(d, c->device_id, dlen) != 0))
				rc = PA_V_WRONG_DEVICE;
			break;
		case P_COUNTER:
			m->counter = pa_cbor_uint(&r, UINT64_MAX);
			if (pa_cbor_err(&r) != PA_CBOR_OK)
				break;
			if (m->counter == 0)
				pa_cbor_fail(&r, PA_CBOR_TYPE);
			else if (m->counter == c->installed)
				rc = PA_V_REPLAY;
			else if (m->counter < c->installed)
				rc = PA_V_ROLLBACK;
			break;
		case P_NONCE:
			m->nonce = pa_cbor_bytes(&r, PA_CBOR_BSTR, PA_NONCE_MIN, PA_NONCE_MAX,
			                         &m->nonce_len);
			break;
		case P_ISSUED:
			/* required, and right after the optional nonce: where the
			 * nonce is checked, before any entry */
			(void)pa_cbor_uint(&r, UINT64_MAX);
			if (pa_cbor_err(&r) == PA_CBOR_OK && check_nonce(c, m) != PA_OK)
				rc = PA_V_NONCE;
			break;
		case P_ENTRIES:
			rc = read_entries(&r, m);
			if (rc != PA_OK)
				goto out;
			rc = PA_V_BAD_PAYLOAD;
			break;
		case P_TLS:
			pa_profile_read(&r, NULL);
			m->profile = p + start;
			m->profile_len = r.pos - start;
			if (pa_cbor_err(&r) == PA_CBOR_OK && m->profile_len > PA_PROFILE_MAX)
				rc = PA_V_LIMIT;
			break;
		case P_SECRETS:
			/* the last key a payload with secrets can have (9 is for wipes,
			 * which have none): the item runs to the end, and is checked
			 * item by item when opened */
			if (i + 1 != n)
				goto out;
			if (pa_cbor_peek(&r) == PA_CBOR_ARRAY && !PA_ALLOW_PLAINTEXT_SECRETS)
				rc = PA_V_PLAINTEXT;
			else if (pa_cbor_peek(&r) < 0)
				goto out;
			m->secrets = p + start;
			m->secrets_len = len - start;
			r.pos = len;
			break;
		default: /* P_WIPE */
			if (!pa_cbor_bool(&r))
				pa_cbor_fail(&r, PA_CBOR_TYPE);
			m->wipe = 1;
			break;
		}
		if (pa_cbor_err(&r) != PA_CBOR_OK) {
			rc = PA_V_BAD_PAYLOAD;
			goto out;
		}
		if (rc != PA_V_BAD_PAYLOAD)
			goto out;   /* a verdict on a well-formed field */
	}
	rc = PA_V_BAD_PAYLOAD;
	if (!pa_cbor_at_end(&r) || (seen & REQUIRED_PAYLOAD) != REQUIRED_PAYLOAD)
		goto out;
	/* a wipe has no entries, every other bundle 1..16; secrets present iff a
	 * secret entry is */
	if ((m->wipe != 0) != (m->n == 0) || (m->secrets != NULL) != (m->n_secrets > 0) ||
	    (m->wipe && m->profile != NULL))
		goto out;
	rc = PA_OK;
out:
	return rc;
}
