/*
 * pa_keygen.c - keys made on the device: the pending pool, adoption at commit,
 * and PKCS#10 CSRs.  See pa/pa_keygen.h and docs/agent.md.
 */
#include <string.h>

#include <mbedtls/asn1write.h>

#include "pa/pa_keygen.h"

#define REC_LEN (1 + 4 * PA_KEYGEN_MAX)

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static int port_err(int st)
{
	return st == PA_PORT_OK ? PA_OK : st == PA_PORT_POWER_LOST ? PA_S_POWER : PA_S_IO;
}

/* the port's key_event around each persistent key write (power-cut tests) */
static int key_event(const pa_port *p, int done)
{
	return p->key_event != NULL && p->key_event(p->ctx, done) != 0 ? PA_S_POWER : PA_OK;
}

static int key_drop(const pa_port *p, psa_key_id_t id)
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	int found = psa_get_key_attributes(id, &at) == PSA_SUCCESS, rc;

	psa_reset_key_attributes(&at);
	if (!found)
		return PA_OK;
	rc = key_event(p, 0);
	if (rc == PA_OK)
		rc = psa_destroy_key(id) == PSA_SUCCESS ? key_event(p, 1) : PA_S_KEY;
	return rc;
}

static int held(const pa_agent *a, psa_key_id_t id)
{
	unsigned i;

	for (i = 0; i < a->installed.n; i++)
		if (a->installed.e[i].key_id == id)
			return 1;
	return 0;
}

/* Pending and held: adopted (the record is stale); neither: garbage. */
static int settle(pa_agent *a)
{
	unsigned j;
	int rc = PA_OK;

	for (j = 0; j < PA_KEYGEN_MAX && rc == PA_OK; j++) {
		if (held(a, PA_KEY_ID_KEYGEN(j)))
			a->kg_used &= (uint8_t)~(1u << j);
		else if (!(a->kg_used & (1u << j)))
			rc = key_drop(a->port, PA_KEY_ID_KEYGEN(j));
	}
	return rc;
}

/* The pending key a device-cert or own-rpk entry adopts, or -1: the entry
 * must carry the key's SubjectPublicKeyInfo and the bundle must have no
 * private-key entry for its slot. */
static int adoptee(const pa_agent *a, const pa_entry *e)
{
	uint8_t pub[65], spki[PA_SPKI_LEN];
	size_t len, k;
	unsigned j;

	for (j = 0; j < a->m.n; j++)
		if (a->m.e[j].slot == e->slot && a->m.e[j].type == PA_T_PRIVATE_KEY)
			return -1;
	for (j = 0; j < PA_KEYGEN_MAX; j++) {
		if (!(a->kg_used & (1u << j)) || a->kg_slot[j] != e->slot ||
		    psa_export_public_key(PA_KEY_ID_KEYGEN(j), pub, sizeof(pub), &len) != PSA_SUCCESS ||
		    len != sizeof(pub))
			continue;
		pa_spki_p256(pub, spki);
		for (k = 0; k + sizeof(spki) <= e->value_len; k++)
			if (memcmp(e->value + k, spki, sizeof(spki)) == 0)
				return (int)j;
	}
	return -1;
}

/* Write the pending record for mask (none: remove it). */
static int write_rec(pa_agent *a, unsigned mask)
{
	uint8_t rec[REC_LEN];
	unsigned j;
	int st;

	if (mask == 0) {
		st = a->port->remove(a->port->ctx, PA_UID_KEYGEN);
		return st == PA_PORT_NOT_FOUND ? PA_OK : port_err(st);
	}
	rec[0] = (uint8_t)mask;
	for (j = 0; j < PA_KEYGEN_MAX; j++)
		put32(rec + 1 + 4 * j, a->kg_slot[j]);
	return port_err(a->port->set(a->port->ctx, PA_UID_KEYGEN, rec, sizeof(rec)));
}

static int hook(pa_agent *a, int committed, pa_installed *next)
{
	unsigned i;
	int j, st;

	if (committed) {
		/* pending keys live until a commit: adopted now, or garbage */
		st = a->kg_used != 0 ? write_rec(a, 0) : PA_OK;
		a->kg_used = 0;
		return st == PA_OK ? settle(a) : st;
	}
	for (i = 0; i < a->m.n; i++) {
		const pa_entry *e = &a->m.e[i];
		pa_slot_entry *o;

		unsigned k, dup = 0;

		if ((e->type != PA_T_DEVICE_CERT && e->type != PA_T_OWN_RPK) || (j = adoptee(a, e)) < 0)
			continue;
		for (k = 0; k < next->n; k++)   /* a cert and an RPK of one slot adopt once */
			dup |= next->e[k].slot == e->slot && next->e[k].type == PA_T_PRIVATE_KEY;
		if (dup)
			continue;
		if (next->n >= PA_ENTRIES_MAX)
			return PA_V_LIMIT;
		o = &next->e[next->n++];
		memset(o, 0, sizeof(*o));
		o->slot = e->slot;
		o->type = PA_T_PRIVATE_KEY;
		o->usage = 1;   /* sign */
		o->alg = PA_ALG_ES256;
		o->key_id = PA_KEY_ID_KEYGEN(j);
	}
	return PA_OK;
}

int pa_keygen_start(pa_agent *a)
{
	uint8_t rec[REC_LEN];
	size_t len = 0;
	unsigned j;
	int st, rc;

	if (a == NULL || !a->started || a->n_signers == 0)   /* read-only: it writes */
		return PA_A_STATE;
	a->kg_used = 0;
	st = a->port->get(a->port->ctx, PA_UID_KEYGEN, rec, sizeof(rec), &len);
	if (st == PA_PORT_OK && len == sizeof(rec)) {
		a->kg_used = rec[0] & (uint8_t)((1u << PA_KEYGEN_MAX) - 1);
		for (j = 0; j < PA_KEYGEN_MAX; j++)
			a->kg_slot[j] = (uint32_t)rec[1 + 4 * j] | (uint32_t)rec[2 + 4 * j] << 8 |
			                (uint32_t)rec[3 + 4 * j] << 16 | (uint32_t)rec[4 + 4 * j] << 24;
	} else if (st != PA_PORT_OK && st != PA_PORT_NOT_FOUND && st != PA_PORT_TOO_BIG) {
		return port_err(st);
	}
	a->kg_hook = hook;
	st = a->kg_used;
	rc = settle(a);
	/* a commit cut short before it removed the record: finish it */
	if (rc == PA_OK && a->kg_used != st)
		rc = write_rec(a, a->kg_used);
	return rc;
}

int pa_keygen(pa_agent *a, uint32_t slot, psa_key_id_t *id)
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t got = 0;
	unsigned j, f = PA_KEYGEN_MAX;
	int rc;

	if (a == NULL || id == NULL || !a->started || a->kg_hook == NULL)
		return PA_A_STATE;
	for (j = 0; j < PA_KEYGEN_MAX; j++) {
		*id = PA_KEY_ID_KEYGEN(j);
		if (a->kg_used & (1u << j)) {
			if (a->kg_slot[j] == slot)
				return PA_OK;
		} else if (!held(a, *id) && f == PA_KEYGEN_MAX) {
			f = j;
		}
	}
	*id = 0;
	if (f == PA_KEYGEN_MAX)
		return PA_V_LIMIT;
	/* the key first: a cut before the record leaves a pool key nobody holds,
	 * which the next start removes */
	rc = key_drop(a->port, PA_KEY_ID_KEYGEN(f));
	if (rc == PA_OK)
		rc = key_event(a->port, 0);
	if (rc != PA_OK)
		return rc;
	psa_set_key_lifetime(&at, PSA_KEY_LIFETIME_PERSISTENT);
	psa_set_key_id(&at, PA_KEY_ID_KEYGEN(f));
	psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
	psa_set_key_bits(&at, 256);
	psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH);
	psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
	rc = psa_generate_key(&at, &got) == PSA_SUCCESS ? key_event(a->port, 1) : PA_S_KEY;
	psa_reset_key_attributes(&at);
	if (rc != PA_OK)
		return rc;
	a->kg_slot[f] = slot;
	rc = write_rec(a, a->kg_used | 1u << f);
	if (rc != PA_OK)
		return rc;
	a->kg_used = (uint8_t)(a->kg_used | 1u << f);
	*id = PA_KEY_ID_KEYGEN(f);
	return PA_OK;
}

/* ---- the CSR (RFC 2986), written backwards by Mbed TLS's ASN.1 writer ------------- */

/* Add a writer's result to *n; any error sticks in *n as (size_t)-1. */
static void acc(size_t *n, int r)
{
	if (*n == (size_t)-1 || r < 0)
		*n = (size_t)-1;
	else
		*n += (size_t)r;
}

/* Wrap the last n bytes written in a header of tag. */
static void wrap(unsigned char **p, unsigned char *start, size_t *n, unsigned char tag)
{
	size_t body = *n;

	if (body == (size_t)-1)
		return;
	acc(n, mbedtls_asn1_write_len(p, start, body));
	acc(n, mbedtls_asn1_write_tag(p, start, tag));
}

/* An unsigned big-endian 32-byte value as a DER INTEGER. */
static void put_uint(unsigned char **p, unsigned char *start, size_t *n, const uint8_t *v)
{
	size_t k = 0, m = 0;

	while (k < 31 && v[k] == 0)
		k++;
	acc(&m, mbedtls_asn1_write_raw_buffer(p, start, v + k, 32 - k));
	if (v[k] & 0x80) {
		static const uint8_t zero = 0;

		acc(&m, mbedtls_asn1_write_raw_buffer(p, start, &zero, 1));
	}
	wrap(p, start, &m, MBEDTLS_ASN1_INTEGER);
	acc(n, m == (size_t)-1 ? -1 : (int)m);
}

int pa_keygen_csr(psa_key_id_t id, const char *cn, size_t cn_len, uint8_t *out, size_t cap,
                  size_t *len)
{
	/* id-at-commonName (2.5.4.3) and ecdsa-with-SHA256 (1.2.840.10045.4.3.2), the
	 * values of MBEDTLS_OID_AT_CN and MBEDTLS_OID_ECDSA_SHA256 (mbedtls/oid.h
	 * drags in the whole PK layer) */
	static const char oid_cn[] = "\x55\x04\x03",
	                  oid_sig[] = "\x2a\x86\x48\xce\x3d\x04\x03\x02";
	uint8_t info[PA_CSR_MAX], pub[65], spki[PA_SPKI_LEN], hash[32], sig[64];
	unsigned char *p = info + sizeof(info), *q;
	size_t n = 0, name = 0, ilen, hl = 0, sl = 0, t = 0, s = 0;

	*len = 0;
	if (cn == NULL || cn_len == 0 || cn_len > 64 || out == NULL)
		return PA_A_ARGS;
	if (psa_export_public_key(id, pub, sizeof(pub), &hl) != PSA_SUCCESS || hl != sizeof(pub))
		return PA_S_NOT_FOUND;
	pa_spki_p256(pub, spki);
	/* CertificationRequestInfo ::= SEQUENCE { version 0, subject, spki, [0] {} } */
	acc(&n, mbedtls_asn1_write_len(&p, info, 0));
	acc(&n, mbedtls_asn1_write_tag(&p, info, MBEDTLS_ASN1_CONTEXT_SPECIFIC |
	                                          MBEDTLS_ASN1_CONSTRUCTED | 0));
	acc(&n, mbedtls_asn1_write_raw_buffer(&p, info, spki, sizeof(spki)));
	/* Name ::= SEQUENCE { SET { SEQUENCE { id-at-commonName, UTF8String } } } */
	acc(&name, mbedtls_asn1_write_utf8_string(&p, info, cn, cn_len));
	acc(&name, mbedtls_asn1_write_oid(&p, info, oid_cn, sizeof(oid_cn) - 1));
	wrap(&p, info, &name, MBEDTLS_ASN1_SEQUENCE | MBEDTLS_ASN1_CONSTRUCTED);
	wrap(&p, info, &name, MBEDTLS_ASN1_SET | MBEDTLS_ASN1_CONSTRUCTED);
	wrap(&p, info, &name, MBEDTLS_ASN1_SEQUENCE | MBEDTLS_ASN1_CONSTRUCTED);
	acc(&n, name == (size_t)-1 ? -1 : (int)name);
	acc(&n, mbedtls_asn1_write_int(&p, info, 0));
	wrap(&p, info, &n, MBEDTLS_ASN1_SEQUENCE | MBEDTLS_ASN1_CONSTRUCTED);
	if (n == (size_t)-1)
		return PA_A_ARGS;
	ilen = n;
	if (psa_hash_compute(PSA_ALG_SHA_256, p, ilen, hash, sizeof(hash), &hl) != PSA_SUCCESS ||
	    psa_sign_hash(id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, sizeof(hash), sig, sizeof(sig),
	                  &sl) != PSA_SUCCESS ||
	    sl != sizeof(sig))
		return PA_V_CRYPTO;
	/* CertificationRequest ::= SEQUENCE { info, AlgorithmIdentifier, BIT STRING } */
	q = out + cap;
	put_uint(&q, out, &s, sig + 32);
	put_uint(&q, out, &s, sig);
	wrap(&q, out, &s, MBEDTLS_ASN1_SEQUENCE | MBEDTLS_ASN1_CONSTRUCTED);
	{
		static const uint8_t unused_bits = 0;

		acc(&s, mbedtls_asn1_write_raw_buffer(&q, out, &unused_bits, 1));
	}
	wrap(&q, out, &s, MBEDTLS_ASN1_BIT_STRING);
	acc(&t, s == (size_t)-1 ? -1 : (int)s);
	s = 0;
	acc(&s, mbedtls_asn1_write_oid(&q, out, oid_sig, sizeof(oid_sig) - 1));
	wrap(&q, out, &s, MBEDTLS_ASN1_SEQUENCE | MBEDTLS_ASN1_CONSTRUCTED);
	acc(&t, s == (size_t)-1 ? -1 : (int)s);
	acc(&t, mbedtls_asn1_write_raw_buffer(&q, out, p, ilen));
	wrap(&q, out, &t, MBEDTLS_ASN1_SEQUENCE | MBEDTLS_ASN1_CONSTRUCTED);
	if (t == (size_t)-1)
		return PA_A_ARGS;
	memmove(out, q, t);
	*len = t;
	return PA_OK;
}
