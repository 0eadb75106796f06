/* bundle_check.c - verifying and describing a bundle (see prov/bundle.h).
 *
 * The host-side reader of what bundle.c writes: the signature first, then every
 * payload field against schemas/bundle.cddl.  The device agent has its own,
 * heap-free reader (firmware-agent/); this one serves `prov inspect` and tests. */
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/bundle.h"
#include "prov/cbor.h"
#include "prov/escape.h"
#include "prov/template.h"
#include "prov/trust.h"
#include "prov/util.h"
#include "prov/x509.h"

#define SLOT_MAX 2147483647u

static int is_uint(const cbor_item_t *i, uint64_t max)
{
	return i != NULL && cbor_isa_uint(i) && cbor_get_int(i) <= max;
}

static int is_bytes(const cbor_item_t *i, size_t min, size_t max)
{
	return i != NULL && cbor_isa_bytestring(i) && cbor_bytestring_is_definite(i) &&
	       cbor_bytestring_length(i) >= min && cbor_bytestring_length(i) <= max;
}

static int is_text(const cbor_item_t *i, size_t min, size_t max)
{
	return i != NULL && cbor_isa_string(i) && cbor_string_is_definite(i) &&
	       cbor_string_length(i) >= min && cbor_string_length(i) <= max;
}

/* Every key of map is an unsigned integer in [lo, hi]. */
static int keys_within(const cbor_item_t *m, uint64_t lo, uint64_t hi, uint64_t *bad)
{
	struct cbor_pair *p = cbor_map_handle(m);

	for (size_t i = 0; i < cbor_map_size(m); i++)
		if (!cbor_isa_uint(p[i].key) || cbor_get_int(p[i].key) < lo || cbor_get_int(p[i].key) > hi) {
			*bad = cbor_isa_uint(p[i].key) ? cbor_get_int(p[i].key) : UINT64_MAX;
			return 0;
		}
	return 1;
}

static int is_cose_encrypt(const cbor_item_t *v)
{
	cbor_item_t *a;

	if (!cbor_isa_tag(v) || cbor_tag_value(v) != PROV_COSE_TAG_ENCRYPT)
		return 0;
	a = cbor_tag_item(v);
	{
		int ok = cbor_isa_array(a) && cbor_array_size(a) == 4;

		cbor_decref(&a);
		return ok;
	}
}

static prov_status check_entry(const cbor_item_t *m, size_t i, uint64_t *slot, uint64_t *type,
                               prov_err *e)
{
	cbor_item_t *v, *id;
	uint64_t bad = 0;
	int64_t alg;

	if (!cbor_isa_map(m) || !keys_within(m, PROV_EK_SLOT, PROV_EK_IDENTITY, &bad))
		return prov_err_set(e, PROV_E_INPUT, "entries[%zu]: not an entry map (key %llu)", i,
		                    (unsigned long long)bad);
	if (!is_uint(prov_cbor_map_get_int(m, PROV_EK_SLOT), SLOT_MAX))
		return prov_err_set(e, PROV_E_INPUT, "entries[%zu].slot: missing or out of range", i);
	if (!is_uint(prov_cbor_map_get_int(m, PROV_EK_TYPE), PROV_ENT_TRUST_STORE) ||
	    cbor_get_int(prov_cbor_map_get_int(m, PROV_EK_TYPE)) < PROV_ENT_CA_CERTS)
		return prov_err_set(e, PROV_E_INPUT, "entries[%zu].type: missing or unknown", i);
	*slot = cbor_get_int(prov_cbor_map_get_int(m, PROV_EK_SLOT));
	*type = cbor_get_int(prov_cbor_map_get_int(m, PROV_EK_TYPE));
	if ((v = prov_cbor_map_get_int(m, PROV_EK_ALG)) != NULL &&
	    (prov_cbor_get_int(v, &alg) != 0 ||
	     (alg != PROV_COSE_ALG_ES256 && alg != PROV_COSE_ALG_ES384 && alg != PROV_COSE_ALG_EDDSA)))
		return prov_err_set(e, PROV_E_INPUT, "entries[%zu].alg: not ES256, ES384 or EdDSA", i);
	if (!is_uint(prov_cbor_map_get_int(m, PROV_EK_USAGE), 15))
		return prov_err_set(e, PROV_E_INPUT, "entries[%zu].usage: missing or unknown bits", i);
	v = prov_cbor_map_get_int(m, PROV_EK_VALUE);
	if (v == NULL)
		return prov_err_set(e, PROV_E_INPUT, "entries[%zu].value: missing", i);
	if (*type == PROV_ENT_PRIVATE_KEY || *type == PROV_ENT_PSK) {
		if (!is_uint(v, PROV_BUNDLE_MAX_ENTRIES - 1))
			return prov_err_set(e, PROV_E_INPUT,
			                    "entries[%zu].value: a secret entry holds the index of its secret (0..%d)",
			                    i, PROV_BUNDLE_MAX_ENTRIES - 1);
	} else if (!is_bytes(v, 1, PROV_BUNDLE_MAX)) {
		return prov_err_set(e, PROV_E_INPUT, "entries[%zu].value: must be a byte string", i);
	} else if (*type == PROV_ENT_TRUST_STORE) {
		/* The device opens the store with the same rules (docs/truststore-format.md). */
		size_t n = 0;
		prov_err se;

		if (prov_trust_store_check(cbor_bytestring_handle(v), cbor_bytestring_length(v), NULL,
		                           &n, &se) != PROV_OK)
			return prov_err_set(e, PROV_E_INPUT, "entries[%zu].value (trust store): %s", i,
			                    se.msg);
	}
	id = prov_cbor_map_get_int(m, PROV_EK_IDENTITY);
	if ((*type == PROV_ENT_PSK) != (id != NULL))
		return prov_err_set(e, PROV_E_INPUT, "entries[%zu].identity: %s", i,
		                    id != NULL ? "only a psk entry has one" : "a psk entry needs one");
	if (id != NULL && !is_bytes(id, 1, PROV_PSK_IDENTITY_MAX))
		return prov_err_set(e, PROV_E_INPUT, "entries[%zu].identity: 1 to %d bytes", i,
		                    PROV_PSK_IDENTITY_MAX);
	return PROV_OK;
}

static prov_status check_tls(const cbor_item_t *m, prov_err *e)
{
	cbor_item_t *v;
	uint64_t bad = 0;

	if (!cbor_isa_map(m) || !keys_within(m, PROV_T_PROTOCOL, PROV_T_SERVER_NAME, &bad))
		return prov_err_set(e, PROV_E_INPUT, "tls: not a TLS profile map (key %llu)",
		                    (unsigned long long)bad);
	if (!is_text(prov_cbor_map_get_int(m, PROV_T_PROTOCOL), 1, 16))
		return prov_err_set(e, PROV_E_INPUT, "tls.protocol: missing");
	if ((v = prov_cbor_map_get_int(m, PROV_T_TRANSPORT)) != NULL && !is_uint(v, 1))
		return prov_err_set(e, PROV_E_INPUT, "tls.transport: 0 or 1");
	for (int k = PROV_T_VERSIONS; k <= PROV_T_SUITES; k++) {
		if ((v = prov_cbor_map_get_int(m, k)) == NULL)
			continue;
		if (!cbor_isa_array(v) || cbor_array_size(v) == 0 || cbor_array_size(v) > 16)
			return prov_err_set(e, PROV_E_INPUT, "tls.%s: 1 to 16 numbers",
			                    k == PROV_T_VERSIONS ? "versions" : "cipher_suites");
		for (size_t i = 0; i < cbor_array_size(v); i++) {
			cbor_item_t *x = cbor_array_get(v, i);
			int ok = is_uint(x, 0xffff);

			cbor_decref(&x);
			if (!ok)
				return prov_err_set(e, PROV_E_INPUT, "tls.%s[%zu]: not a 16-bit code",
				                    k == PROV_T_VERSIONS ? "versions" : "cipher_suites", i);
		}
	}
	if ((v = prov_cbor_map_get_int(m, PROV_T_RECORD_LIMIT)) != NULL &&
	    (!is_uint(v, 16385) || cbor_get_int(v) < 64))
		return prov_err_set(e, PROV_E_INPUT, "tls.record_size_limit: 64..16385");
	if ((v = prov_cbor_map_get_int(m, PROV_T_MAX_FRAG)) != NULL &&
	    (!is_uint(v, 4096) || (cbor_get_int(v) != 512 && cbor_get_int(v) != 1024 &&
	                           cbor_get_int(v) != 2048 && cbor_get_int(v) != 4096)))
		return prov_err_set(e, PROV_E_INPUT, "tls.max_fragment_length: 512, 1024, 2048 or 4096");
	if ((v = prov_cbor_map_get_int(m, PROV_T_RESUMPTION)) != NULL && !cbor_is_bool(v))
		return prov_err_set(e, PROV_E_INPUT, "tls.resumption: a boolean");
	if ((v = prov_cbor_map_get_int(m, PROV_T_TICKET_LIFETIME)) != NULL && !is_uint(v, 604800))
		return prov_err_set(e, PROV_E_INPUT, "tls.ticket_lifetime: 0..604800");
	if ((v = prov_cbor_map_get_int(m, PROV_T_TIME_CHECK)) != NULL && !is_uint(v, 2))
		return prov_err_set(e, PROV_E_INPUT, "tls.time_check: 0, 1 or 2");
	if ((v = prov_cbor_map_get_int(m, PROV_T_TIME_FLOOR)) != NULL && !is_uint(v, UINT64_MAX))
		return prov_err_set(e, PROV_E_INPUT, "tls.time_floor: seconds since the epoch");
	if ((v = prov_cbor_map_get_int(m, PROV_T_SERVER_NAME)) != NULL && !is_text(v, 1, 253))
		return prov_err_set(e, PROV_E_INPUT, "tls.server_name: 1..253 characters");
	return PROV_OK;
}

prov_status prov_bundle_check_payload(const cbor_item_t *p, prov_err *e)
{
	cbor_item_t *v, *ents;
	uint64_t bad = 0, prev_slot = 0, prev_type = 0;
	unsigned n_secrets = 0;
	int wipe = 0;
	prov_status st;

	if (!cbor_isa_map(p) || !keys_within(p, PROV_B_VERSION, PROV_B_WIPE, &bad))
		return prov_err_set(e, PROV_E_INPUT, "payload: not a bundle map (unknown key %llu)",
		                    (unsigned long long)bad);
	v = prov_cbor_map_get_int(p, PROV_B_VERSION);
	if (!is_uint(v, UINT64_MAX))
		return prov_err_set(e, PROV_E_INPUT, "payload.version: missing");
	if (cbor_get_int(v) != PROV_BUNDLE_VERSION)
		return prov_err_set(e, PROV_E_INPUT, "payload.version: %llu is not a known format version",
		                    (unsigned long long)cbor_get_int(v));
	v = prov_cbor_map_get_int(p, PROV_B_DEVICE);
	if (!is_text(v, 1, 64))
		return prov_err_set(e, PROV_E_INPUT, "payload.device: missing or longer than 64");
	v = prov_cbor_map_get_int(p, PROV_B_COUNTER);
	if (!is_uint(v, UINT64_MAX) || cbor_get_int(v) == 0)
		return prov_err_set(e, PROV_E_INPUT, "payload.counter: missing or zero");
	v = prov_cbor_map_get_int(p, PROV_B_NONCE);
	if (v != NULL && !is_bytes(v, PROV_NONCE_MIN, PROV_NONCE_MAX))
		return prov_err_set(e, PROV_E_INPUT, "payload.nonce: %d to %d bytes", PROV_NONCE_MIN,
		                    PROV_NONCE_MAX);
	if (!is_uint(prov_cbor_map_get_int(p, PROV_B_ISSUED_AT), UINT64_MAX))
		return prov_err_set(e, PROV_E_INPUT, "payload.issued_at: missing");
	v = prov_cbor_map_get_int(p, PROV_B_WIPE);
	if (v != NULL && !(cbor_is_bool(v) && cbor_get_bool(v)))
		return prov_err_set(e, PROV_E_INPUT, "payload.wipe: present only as true");
	wipe = v != NULL;
	ents = prov_cbor_map_get_int(p, PROV_B_ENTRIES);
	if (wipe) {
		/* A wipe bundle erases the credentials: it carries none. */
		if (ents == NULL || !cbor_isa_array(ents) || cbor_array_size(ents) != 0)
			return prov_err_set(e, PROV_E_INPUT, "payload.entries: a wipe bundle has none ([])");
		if (prov_cbor_map_get_int(p, PROV_B_TLS) != NULL || prov_cbor_map_get_int(p, PROV_B_SECRETS) != NULL)
			return prov_err_set(e, PROV_E_INPUT, "payload: a wipe bundle has no TLS profile and no secrets");
		return PROV_OK;
	}
	if (ents == NULL || !cbor_isa_array(ents) || cbor_array_size(ents) == 0 ||
	    cbor_array_size(ents) > PROV_BUNDLE_MAX_ENTRIES)
		return prov_err_set(e, PROV_E_INPUT, "payload.entries: 1 to %d entries",
		                    PROV_BUNDLE_MAX_ENTRIES);
	for (size_t i = 0; i < cbor_array_size(ents); i++) {
		cbor_item_t *m = cbor_array_get(ents, i);
		uint64_t slot = 0, type = 0;

		st = check_entry(m, i, &slot, &type, e);
		if (st == PROV_OK && i > 0 && (slot < prev_slot || (slot == prev_slot && type <= prev_type)))
			st = prov_err_set(e, PROV_E_INPUT,
			                  "entries[%zu]: not in strictly increasing (slot, type) order", i);
		if (st == PROV_OK && (type == PROV_ENT_PRIVATE_KEY || type == PROV_ENT_PSK)) {
			/* Secret i of the bundle is used by exactly one entry: the
			 * indices are 0, 1, ... in entry order. */
			if (cbor_get_int(prov_cbor_map_get_int(m, PROV_EK_VALUE)) != n_secrets)
				st = prov_err_set(e, PROV_E_INPUT,
				                  "entries[%zu].value: secret index %llu out of order (expected %u)", i,
				                  (unsigned long long)cbor_get_int(prov_cbor_map_get_int(m, PROV_EK_VALUE)),
				                  n_secrets);
			n_secrets++;
		}
		cbor_decref(&m);
		if (st != PROV_OK)
			return st;
		prev_slot = slot;
		prev_type = type;
	}
	v = prov_cbor_map_get_int(p, PROV_B_SECRETS);
	if ((v != NULL) != (n_secrets > 0))
		return prov_err_set(e, PROV_E_INPUT, "payload.secrets: %s",
		                    v != NULL ? "present but no entry uses a secret" : "missing for the secret entries");
	if (v != NULL && !is_cose_encrypt(v)) {
		/* Lab bundles only: the bare array of the secrets. */
		if (!cbor_isa_array(v) || !cbor_array_is_definite(v) || cbor_array_size(v) != n_secrets)
			return prov_err_set(e, PROV_E_INPUT,
			                    "payload.secrets: not a COSE_Encrypt, nor an array of %u secrets", n_secrets);
		for (size_t i = 0; i < cbor_array_size(v); i++) {
			cbor_item_t *x = cbor_array_get(v, i);
			int ok = is_bytes(x, 16, 64);

			cbor_decref(&x);
			if (!ok)
				return prov_err_set(e, PROV_E_INPUT, "payload.secrets[%zu]: 16 to 64 bytes", i);
		}
	}
	v = prov_cbor_map_get_int(p, PROV_B_TLS);
	if (v != NULL)
		return check_tls(v, e);
	return PROV_OK;
}

/* ---- description for prov inspect ---- */

static json_t *bytes_hex(const cbor_item_t *b)
{
	size_t n = cbor_bytestring_length(b);
	char *h = malloc(2 * n + 1);
	json_t *j;

	if (h == NULL)
		return NULL;
	prov_hex(cbor_bytestring_handle(b), n, h);
	j = json_string(h);
	free(h);
	return j;
}

static const char *alg_name(int64_t a)
{
	switch (a) {
	case PROV_COSE_ALG_ES256: return "ES256";
	case PROV_COSE_ALG_ES384: return "ES384";
	case PROV_COSE_ALG_EDDSA: return "EdDSA";
	case PROV_COSE_ALG_A128GCM: return "A128GCM";
	case PROV_COSE_ALG_AES_CCM_16_64_128: return "AES-CCM-16-64-128";
	case PROV_COSE_ALG_ECDH_ES_HKDF_256: return "ECDH-ES+HKDF-256";
	}
	return "unknown";
}

static json_t *describe_certs(const uint8_t *p, size_t len)
{
	json_t *a = json_array();

	while (a != NULL && len > 0) {
		const unsigned char *q = p;
		X509 *c = d2i_X509(NULL, &q, (long)len);
		ASN1_INTEGER *sn;
		BIGNUM *bn;
		char *subj, *serial, na[32];
		BIO *b;
		int n;

		if (c == NULL) {
			json_array_append_new(a, json_pack("{s:s}", "error", "not a DER certificate"));
			break;
		}
		subj = prov_x509_name_text(X509_get_subject_name(c));
		sn = X509_get_serialNumber(c);
		bn = ASN1_INTEGER_to_BN(sn, NULL);
		serial = bn != NULL ? BN_bn2hex(bn) : NULL;
		b = BIO_new(BIO_s_mem());
		na[0] = 0;
		if (b != NULL && ASN1_TIME_print(b, X509_get0_notAfter(c)) > 0) {
			n = BIO_read(b, na, sizeof(na) - 1);
			na[n > 0 ? n : 0] = 0;
		}
		json_array_append_new(a, json_pack("{s:o?, s:s?, s:s}", "subject",
		                                   subj != NULL ? prov_json_text(subj, strlen(subj)) : NULL,
		                                   "serial", serial, "not_after", na));
		BIO_free(b);
		OPENSSL_free(serial);
		BN_free(bn);
		free(subj);
		X509_free(c);
		len -= (size_t)(q - p);
		p = q;
	}
	return a;
}

static json_t *describe_encrypted(const cbor_item_t *v)
{
	cbor_item_t *a = cbor_tag_item(v), *prot, *rcpts, *r0, *ru, *kid, *alg;
	cbor_item_t *pm = NULL;
	json_t *j = json_pack("{s:b}", "encrypted", 1);
	int64_t x;

	prot = cbor_array_get(a, 0);
	if (prot != NULL && cbor_isa_bytestring(prot) &&
	    prov_cbor_decode(cbor_bytestring_handle(prot), cbor_bytestring_length(prot), &pm, NULL) == PROV_OK &&
	    cbor_isa_map(pm) && (alg = prov_cbor_map_get_int(pm, 1)) != NULL && prov_cbor_get_int(alg, &x) == 0)
		json_object_set_new(j, "content_alg", json_string(alg_name(x)));
	rcpts = cbor_array_get(a, 3);
	if (rcpts != NULL && cbor_isa_array(rcpts) && cbor_array_size(rcpts) == 1) {
		r0 = cbor_array_get(rcpts, 0);
		ru = r0 != NULL && cbor_isa_array(r0) && cbor_array_size(r0) == 3 ? cbor_array_get(r0, 1) : NULL;
		if (ru != NULL && cbor_isa_map(ru) && (kid = prov_cbor_map_get_int(ru, 4)) != NULL &&
		    cbor_isa_bytestring(kid))
			json_object_set_new(j, "recipient_kid", bytes_hex(kid));
		json_object_set_new(j, "key_agreement", json_string("ECDH-ES+HKDF-256"));
		if (ru != NULL)
			cbor_decref(&ru);
		if (r0 != NULL)
			cbor_decref(&r0);
	}
	if (pm != NULL)
		cbor_decref(&pm);
	if (prot != NULL)
		cbor_decref(&prot);
	if (rcpts != NULL)
		cbor_decref(&rcpts);
	cbor_decref(&a);
	return j;
}

static json_t *usage_names(uint64_t u)
{
	static const char *const names[] = {"sign", "derive", "trust", "present"};
	json_t *a = json_array();

	for (int b = 0; b < 4; b++)
		if (u & (1u << b))
			json_array_append_new(a, json_string(names[b]));
	return a;
}

static json_t *describe_entry(const cbor_item_t *m, int secrets_encrypted)
{
	uint64_t type = cbor_get_int(prov_cbor_map_get_int(m, PROV_EK_TYPE));
	cbor_item_t *v = prov_cbor_map_get_int(m, PROV_EK_VALUE), *x;
	json_t *j = json_pack("{s:I, s:s, s:o}", "slot",
	                      (json_int_t)cbor_get_int(prov_cbor_map_get_int(m, PROV_EK_SLOT)), "type",
	                      prov_entry_type_name((int)type), "usage",
	                      usage_names(cbor_get_int(prov_cbor_map_get_int(m, PROV_EK_USAGE))));
	int64_t alg;

	if ((x = prov_cbor_map_get_int(m, PROV_EK_ALG)) != NULL && prov_cbor_get_int(x, &alg) == 0)
		json_object_set_new(j, "alg", json_string(alg_name(alg)));
	if ((x = prov_cbor_map_get_int(m, PROV_EK_IDENTITY)) != NULL)
		json_object_set_new(j, "identity",
		                    prov_json_text(cbor_bytestring_handle(x), cbor_bytestring_length(x)));
	if (type == PROV_ENT_PRIVATE_KEY || type == PROV_ENT_PSK) {
		/* Never the value: where it is, and whether it is encrypted. */
		json_object_set_new(j, "secret_index", json_integer((json_int_t)cbor_get_int(v)));
		json_object_set_new(j, "encrypted", json_boolean(secrets_encrypted));
		if (!secrets_encrypted)
			json_object_set_new(j, "plaintext_secret", json_true());
		return j;
	}
	json_object_set_new(j, "size", json_integer((json_int_t)cbor_bytestring_length(v)));
	if (type == PROV_ENT_DEVICE_CERT || type == PROV_ENT_CA_CERTS) {
		json_object_set_new(j, "certificates",
		                    describe_certs(cbor_bytestring_handle(v), cbor_bytestring_length(v)));
	} else if (type == PROV_ENT_TRUST_STORE) {
		prov_trust_view *tv = NULL;
		size_t n = 0;
		prov_err se;

		/* checked before (check_entry); described as prov trust inspect does */
		if (prov_trust_store_check(cbor_bytestring_handle(v), cbor_bytestring_length(v), &tv, &n,
		                           &se) == PROV_OK) {
			json_t *d = prov_trust_store_describe(cbor_bytestring_handle(v),
			                                      cbor_bytestring_length(v), tv, n);

			json_object_set(j, "anchors", json_object_get(d, "anchors"));
			json_object_set(j, "pins", json_object_get(d, "pins"));
			json_decref(d);
		}
		free(tv);
	} else if (type == PROV_ENT_OWN_RPK || type == PROV_ENT_PEER_RPK) {
		uint8_t md[32];
		char hex[65];

		EVP_Digest(cbor_bytestring_handle(v), cbor_bytestring_length(v), md, NULL, EVP_sha256(), NULL);
		json_object_set_new(j, "spki_sha256", json_string(prov_hex(md, sizeof(md), hex)));
	}
	return j;
}

/* A time as ISO 8601, or null past 9999-12-31T23:59:59Z: a bundle may carry
 * any uint (schemas/bundle.cddl), and the caller gives the exact number beside
 * it ("..._seconds"), never a wrong date. */
static json_t *time_json(uint64_t t)
{
	char iso[21];

	return t <= (uint64_t)PROV_TIME_ISO_MAX ? json_string(prov_time_iso((int64_t)t, iso)) : json_null();
}

static json_t *describe_tls(const cbor_item_t *m)
{
	json_t *j = json_object();
	cbor_item_t *v;

	if ((v = prov_cbor_map_get_int(m, PROV_T_PROTOCOL)) != NULL)
		json_object_set_new(j, "protocol", prov_json_text(cbor_string_handle(v), cbor_string_length(v)));
	if ((v = prov_cbor_map_get_int(m, PROV_T_TRANSPORT)) != NULL)
		json_object_set_new(j, "transport", json_string(cbor_get_int(v) ? "dtls" : "tls"));
	if ((v = prov_cbor_map_get_int(m, PROV_T_VERSIONS)) != NULL) {
		json_t *a = json_array();

		for (size_t i = 0; i < cbor_array_size(v); i++) {
			cbor_item_t *x = cbor_array_get(v, i);
			uint64_t c = cbor_get_int(x);

			json_array_append_new(a, json_string(c == 0x0303 ? "1.2" : c == 0x0304 ? "1.3" : "unknown"));
			cbor_decref(&x);
		}
		json_object_set_new(j, "versions", a);
	}
	if ((v = prov_cbor_map_get_int(m, PROV_T_SUITES)) != NULL) {
		json_t *a = json_array();

		for (size_t i = 0; i < cbor_array_size(v); i++) {
			cbor_item_t *x = cbor_array_get(v, i);
			const char *n = prov_tls_suite_name((unsigned)cbor_get_int(x));
			char code[16];

			snprintf(code, sizeof(code), "0x%04X", (unsigned)cbor_get_int(x));
			json_array_append_new(a, json_string(n != NULL ? n : code));
			cbor_decref(&x);
		}
		json_object_set_new(j, "cipher_suites", a);
	}
	if ((v = prov_cbor_map_get_int(m, PROV_T_RECORD_LIMIT)) != NULL)
		json_object_set_new(j, "record_size_limit", json_integer((json_int_t)cbor_get_int(v)));
	if ((v = prov_cbor_map_get_int(m, PROV_T_MAX_FRAG)) != NULL)
		json_object_set_new(j, "max_fragment_length", json_integer((json_int_t)cbor_get_int(v)));
	if ((v = prov_cbor_map_get_int(m, PROV_T_RESUMPTION)) != NULL)
		json_object_set_new(j, "resumption", json_boolean(cbor_get_bool(v)));
	if ((v = prov_cbor_map_get_int(m, PROV_T_TICKET_LIFETIME)) != NULL)
		json_object_set_new(j, "ticket_lifetime", json_integer((json_int_t)cbor_get_int(v)));
	if ((v = prov_cbor_map_get_int(m, PROV_T_TIME_CHECK)) != NULL) {
		static const char *const tc[] = {"full", "skip", "floor"};

		json_object_set_new(j, "time_check", json_string(tc[cbor_get_int(v)]));
	}
	if ((v = prov_cbor_map_get_int(m, PROV_T_TIME_FLOOR)) != NULL) {
		json_object_set_new(j, "time_floor", time_json(cbor_get_int(v)));
		json_object_set_new(j, "time_floor_seconds", prov_json_u64(cbor_get_int(v)));
	}
	if ((v = prov_cbor_map_get_int(m, PROV_T_SERVER_NAME)) != NULL)
		json_object_set_new(j, "server_name", prov_json_text(cbor_string_handle(v), cbor_string_length(v)));
	return j;
}

static json_int_t count_secrets(const cbor_item_t *ents)
{
	json_int_t k = 0;

	for (size_t i = 0; i < cbor_array_size(ents); i++) {
		cbor_item_t *m = cbor_array_get(ents, i);
		uint64_t t = cbor_get_int(prov_cbor_map_get_int(m, PROV_EK_TYPE));

		k += t == PROV_ENT_PRIVATE_KEY || t == PROV_ENT_PSK;
		cbor_decref(&m);
	}
	return k;
}

static json_t *describe(const cbor_item_t *p)
{
	cbor_item_t *sec, *v = prov_cbor_map_get_int(p, PROV_B_DEVICE);
	uint64_t issued = cbor_get_int(prov_cbor_map_get_int(p, PROV_B_ISSUED_AT));
	json_t *j, *ents = json_array();

	/* Counter and time are any uint64 (schemas/bundle.cddl): prov_json_u64
	 * keeps them exact where jansson's signed integers would turn negative. */
	j = json_pack("{s:I, s:o, s:o, s:o, s:o}", "version",
	              (json_int_t)cbor_get_int(prov_cbor_map_get_int(p, PROV_B_VERSION)), "device",
	              prov_json_text(cbor_string_handle(v), cbor_string_length(v)), "counter",
	              prov_json_u64(cbor_get_int(prov_cbor_map_get_int(p, PROV_B_COUNTER))), "issued_at",
	              time_json(issued), "issued_at_seconds", prov_json_u64(issued));
	v = prov_cbor_map_get_int(p, PROV_B_NONCE);
	json_object_set_new(j, "nonce", v != NULL ? bytes_hex(v) : json_null());
	json_object_set_new(j, "wipe", json_boolean(prov_cbor_map_get_int(p, PROV_B_WIPE) != NULL));
	sec = prov_cbor_map_get_int(p, PROV_B_SECRETS);
	v = prov_cbor_map_get_int(p, PROV_B_ENTRIES);
	for (size_t i = 0; i < cbor_array_size(v); i++) {
		cbor_item_t *m = cbor_array_get(v, i);

		json_array_append_new(ents, describe_entry(m, sec != NULL && cbor_isa_tag(sec)));
		cbor_decref(&m);
	}
	json_object_set_new(j, "entries", ents);
	if (sec == NULL) {
		json_object_set_new(j, "secrets", json_null());
	} else if (cbor_isa_tag(sec)) {
		json_t *s = describe_encrypted(sec);

		json_object_set_new(s, "count", json_integer(count_secrets(v)));
		json_object_set_new(j, "secrets", s);
	} else {
		json_object_set_new(j, "secrets", json_pack("{s:b, s:I}", "encrypted", 0, "count",
		                                            (json_int_t)cbor_array_size(sec)));
	}
	v = prov_cbor_map_get_int(p, PROV_B_TLS);
	json_object_set_new(j, "tls", v != NULL ? describe_tls(v) : json_null());
	return j;
}

/* The payload bytes of a COSE_Sign1, without verifying (to describe a bundle
 * whose signature failed). */
static prov_status raw_payload(const uint8_t *buf, size_t len, cbor_item_t **msg,
                               const uint8_t **pl, size_t *pl_len, prov_err *e)
{
	cbor_item_t *a, *p;
	prov_status st = prov_cbor_decode(buf, len, msg, e);

	if (st != PROV_OK)
		return st;
	a = cbor_isa_tag(*msg) ? cbor_tag_item(*msg) : cbor_incref(*msg);
	if (!cbor_isa_array(a) || cbor_array_size(a) != 4 || !cbor_isa_bytestring(p = cbor_array_get(a, 2)) ||
	    !cbor_bytestring_is_definite(p)) {
		cbor_decref(&a);
		return prov_err_set(e, PROV_E_INPUT, "not a COSE_Sign1 message");
	}
	*pl = cbor_bytestring_handle(p);
	*pl_len = cbor_bytestring_length(p);
	cbor_decref(&p);
	cbor_decref(&a);
	return PROV_OK;
}

prov_status prov_bundle_inspect(const uint8_t *buf, size_t len, EVP_PKEY *const *signers,
                                size_t n_signers, json_t **out, prov_err *e)
{
	prov_cose_sign1_info info;
	cbor_item_t *msg = NULL, *payload = NULL;
	const uint8_t *pl = NULL;
	size_t pl_len = 0;
	prov_err verr;
	prov_status st, sig;
	json_t *j = NULL, *sj;

	*out = NULL;
	if (len > PROV_BUNDLE_MAX)
		return prov_err_set(e, PROV_E_INPUT, "bundle of %zu bytes exceeds the %d-byte limit", len,
		                    PROV_BUNDLE_MAX);
	memset(&verr, 0, sizeof(verr));
	sig = prov_cose_sign1_verify(signers, n_signers, buf, len, NULL, 0, 0, &info, &verr);
	if (sig == PROV_E_INPUT)
		return prov_err_set(e, PROV_E_INPUT, "not a bundle: %s", verr.msg);
	st = raw_payload(buf, len, &msg, &pl, &pl_len, e);
	if (st != PROV_OK)
		goto out;
	st = prov_cbor_decode(pl, pl_len, &payload, e);
	if (st == PROV_OK && !prov_cbor_is_deterministic(pl, pl_len))
		st = prov_err_set(e, PROV_E_INPUT, "payload is not deterministic CBOR (RFC 8949 4.2.1)");
	if (st == PROV_OK)
		st = prov_bundle_check_payload(payload, e);
	if (st != PROV_OK) {
		if (sig != PROV_OK) /* a broken payload under a bad signature: tampering */
			st = prov_err_set(e, PROV_E_VERIFY, "bundle signature does not verify (%s) and the payload is malformed",
			                  verr.msg);
		else
			prov_err_wrap(e, "bundle");
		goto out;
	}
	j = describe(payload);
	sj = json_pack("{s:s}", "status", sig == PROV_OK ? "valid" : "invalid");
	if (sig == PROV_OK) {
		char kid[2 * 32 + 1];

		json_object_set_new(sj, "alg", json_string(alg_name(info.alg)));
		if (info.kid != NULL && info.kid_len <= 32)
			json_object_set_new(sj, "kid", json_string(prov_hex(info.kid, info.kid_len, kid)));
	} else {
		json_object_set_new(sj, "error", json_string(verr.msg));
	}
	json_object_set_new(j, "signature", sj);
	json_object_set_new(j, "size", json_integer((json_int_t)len));
	*out = j;
	st = sig == PROV_OK ? PROV_OK
	                    : prov_err_set(e, PROV_E_VERIFY,
	                                   "bundle signature does not verify: tampered, or signed by another factory (%s)",
	                                   verr.msg);
out:
	if (payload != NULL)
		cbor_decref(&payload);
	if (msg != NULL)
		cbor_decref(&msg);
	return st;
}
