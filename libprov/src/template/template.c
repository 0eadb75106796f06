/* template.c - loading and checking device templates (see prov/template.h). */
#include "prov/template.h"

#include <libgen.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "prov/jsonschema.h"
#include "prov/records.h"
#include "prov/trust.h"
#include "prov/util.h"
#include "prov/x509.h"

#define TEMPLATE_FILE_MAX (256 * 1024)

static const struct {
	const char *name;
	unsigned code;
} suites[] = {
	/* IANA TLS Cipher Suites registry code points. */
	{"TLS_PSK_WITH_AES_128_GCM_SHA256", 0x00A8},
	{"TLS_AES_128_GCM_SHA256", 0x1301},
	{"TLS_AES_256_GCM_SHA384", 0x1302},
	{"TLS_CHACHA20_POLY1305_SHA256", 0x1303},
	{"TLS_AES_128_CCM_SHA256", 0x1304},
	{"TLS_AES_128_CCM_8_SHA256", 0x1305},
	{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", 0xC02B},
	{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", 0xC02C},
	{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC02F},
	{"TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", 0xC037},
	{"TLS_PSK_WITH_AES_128_CCM", 0xC0A4},
	{"TLS_PSK_WITH_AES_128_CCM_8", 0xC0A8},        /* RFC 7925 PSK profile */
	{"TLS_ECDHE_ECDSA_WITH_AES_128_CCM", 0xC0AC},
	{"TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", 0xC0AE}, /* RFC 7925 cert/RPK profile */
	{"TLS_ECJPAKE_WITH_AES_128_CCM_8", 0xC0FF},     /* Thread commissioning */
};

unsigned prov_tls_suite_code(const char *name)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (strcmp(suites[i].name, name) == 0)
			return suites[i].code;
	return 0;
}

const char *prov_tls_suite_name(unsigned code)
{
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		if (suites[i].code == code)
			return suites[i].name;
	return NULL;
}

char *prov_template_expand(const char *pattern, const char *device_id)
{
	size_t n = 1, il = strlen(device_id);
	const char *p;
	char *out, *o;

	for (p = pattern; *p != 0; p++)
		n += strncmp(p, "{id}", 4) == 0 ? (p += 3, il) : 1;
	out = malloc(n);
	if (out == NULL)
		return NULL;
	for (p = pattern, o = out; *p != 0; p++) {
		if (strncmp(p, "{id}", 4) == 0) {
			memcpy(o, device_id, il);
			o += il;
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = 0;
	return out;
}

const prov_tpl_cred *prov_template_find(const prov_template *t, prov_cred_kind kind)
{
	for (size_t i = 0; i < t->n_creds; i++)
		if (t->creds[i].kind == kind)
			return &t->creds[i];
	return NULL;
}

void prov_template_free(prov_template *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n_creds; i++)
		free(t->creds[i].server_spki);
	json_decref(t->root);
	free(t->canonical);
	free(t->trust_der);
	free(t);
}

static prov_status load_schema(json_t **schema, prov_err *e)
{
	json_error_t je;

	*schema = json_loadb((const char *)prov_embedded_template_schema_json,
	                     prov_embedded_template_schema_json_len, 0, &je);
	if (*schema == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "built-in template schema: %s", je.text);
	return PROV_OK;
}

/* Read trust anchors (PEM or DER) and concatenate their DER encodings. */
static prov_status read_anchors(const char *path, uint8_t **der, size_t *len, int *count,
                                prov_err *e)
{
	STACK_OF(X509) *sk = NULL;
	uint8_t *buf = NULL;
	size_t n = 0;
	prov_status st = prov_x509_load_certs(path, &sk, e);

	if (st != PROV_OK)
		return st;
	for (int i = 0; i < sk_X509_num(sk); i++) {
		int l = i2d_X509(sk_X509_value(sk, i), NULL);
		uint8_t *nb, *p;

		if (l <= 0 || (nb = realloc(buf, n + (size_t)l)) == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "cannot encode trust anchor");
			goto out;
		}
		buf = nb;
		p = buf + n;
		i2d_X509(sk_X509_value(sk, i), &p);
		n += (size_t)l;
	}
	*count = sk_X509_num(sk);
	*der = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	sk_X509_pop_free(sk, X509_free);
	return st;
}

/* A compact trust store file (prov trust build), checked like a device would. */
static prov_status read_store(const char *path, uint8_t **buf, size_t *len, int *count, prov_err *e)
{
	size_t n = 0, np = 0;
	const uint8_t *pins = NULL;
	prov_status st = prov_file_read(path, PROV_TRUST_STORE_MAX, buf, len, e);

	/* anchors, pins or both: a store that trusts nothing is a mistake */
	if (st == PROV_OK && (st = prov_trust_store_check(*buf, *len, NULL, &n, e)) == PROV_OK && n == 0 &&
	    (prov_trust_store_pins(*buf, *len, &pins, &np) != 0 || np == 0))
		st = prov_err_set(e, PROV_E_INPUT, "the trust store holds no anchor and no pin");
	if (st != PROV_OK) {
		free(*buf);
		*buf = NULL;
		return st;
	}
	*count = (int)(n + np); /* what it trusts: anchors and pins */
	return PROV_OK;
}

/* Anchors and pins of a stored store, -1 if it is not one. */
static int count_store(const uint8_t *p, size_t len)
{
	size_t n = 0, np = 0;
	const uint8_t *pins = NULL;

	if (prov_trust_store_check(p, len, NULL, &n, NULL) != PROV_OK || prov_trust_store_pins(p, len, &pins, &np) != 0)
		return -1;
	return (int)(n + np);
}

static int count_der_certs(const uint8_t *p, size_t len)
{
	int n = 0;

	while (len > 0) {
		const unsigned char *q = p;
		X509 *c = d2i_X509(NULL, &q, (long)len);

		if (c == NULL)
			return -1;
		X509_free(c);
		len -= (size_t)(q - p);
		p = q;
		n++;
	}
	return n;
}

static prov_status check_cred(prov_template *t, size_t i, json_t *c, const char *base_dir,
                              const uint8_t *trust_der, size_t trust_len, prov_err *e)
{
	prov_tpl_cred *cr = &t->creds[i];
	const char *type = json_string_value(json_object_get(c, "type"));
	json_t *v;
	char *x = NULL;
	prov_status st = PROV_OK;

	cr->slot = (uint32_t)json_integer_value(json_object_get(c, "slot"));
	if (strcmp(type, "certificate") == 0) {
		X509_NAME *n = NULL;

		cr->kind = PROV_CRED_CERT;
		cr->subject = json_string_value(json_object_get(c, "subject"));
		v = json_object_get(c, "validity");
		if (json_is_string(v))
			cr->no_expiry = 1;
		else
			cr->validity_days = (int)json_integer_value(json_object_get(v, "days"));
		v = json_object_get(c, "extended_key_usage");
		if (v == NULL) {
			cr->eku[0] = "clientAuth";
			cr->n_eku = 1;
		} else {
			for (size_t k = 0; k < json_array_size(v) && k < PROV_TPL_MAX_EKU; k++)
				cr->eku[cr->n_eku++] = json_string_value(json_array_get(v, k));
		}
		cr->include_chain = json_is_true(json_object_get(c, "include_chain"));
		x = prov_template_expand(cr->subject, "dev-1");
		st = x == NULL ? prov_err_set(e, PROV_E_INTERNAL, "out of memory")
		               : prov_x509_name_parse(x, &n, e);
		if (st != PROV_OK) {
			prov_err_wrap(e, "$.credentials[%zu].subject", i);
			goto out;
		}
		X509_NAME_free(n);
	} else if (strcmp(type, "psk") == 0) {
		char id64[65];

		cr->kind = PROV_CRED_PSK;
		v = json_object_get(c, "bits");
		cr->bits = v != NULL ? (int)json_integer_value(v) : 128;
		cr->identity = json_string_value(json_object_get(c, "identity"));
		v = json_object_get(c, "format");
		cr->pskd = v != NULL && strcmp(json_string_value(v), "thread-pskd") == 0;
		if (cr->pskd && cr->bits > 256) {
			st = prov_err_set(e, PROV_E_INPUT,
			                  "$.credentials[%zu].bits: a thread-pskd has at most 32 characters (bits <= 256)", i);
			goto out;
		}
		memset(id64, 'x', 64);
		id64[64] = 0;
		for (const char *p = cr->identity; *p != 0; p++)
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
				/* Identities end up in server PSK files and logs, line-based. */
				st = prov_err_set(e, PROV_E_INPUT,
				                  "$.credentials[%zu].identity: only printable ASCII characters", i);
				goto out;
			}
		x = prov_template_expand(cr->identity, id64);
		if (x == NULL || strlen(x) > PROV_PSK_IDENTITY_MAX) {
			st = prov_err_set(e, PROV_E_INPUT,
			                  "$.credentials[%zu].identity: longer than %d bytes for a 64-character device ID",
			                  i, PROV_PSK_IDENTITY_MAX);
			goto out;
		}
	} else if (strcmp(type, "rpk") == 0) {
		const char *b64 = json_string_value(json_object_get(c, "server_spki"));

		cr->kind = PROV_CRED_RPK;
		if (b64 != NULL) {
			size_t bl = strlen(b64);
			EVP_PKEY *k = NULL;
			int n;

			cr->server_spki = malloc(bl);
			n = cr->server_spki != NULL && bl % 4 == 0
			        ? EVP_DecodeBlock(cr->server_spki, (const unsigned char *)b64, (int)bl)
			        : -1;
			if (n > 0) {
				/* EVP_DecodeBlock counts '=' padding as zero bytes. */
				for (size_t p = bl; p > 0 && b64[p - 1] == '='; p--)
					n--;
				cr->server_spki_len = (size_t)n;
			}
			if (n <= 0 || prov_key_from_spki(cr->server_spki, cr->server_spki_len, &k, e) != PROV_OK) {
				/* Not counted in t->n_creds yet: prov_template_free would miss it. */
				free(cr->server_spki);
				cr->server_spki = NULL;
				st = prov_err_set(e, PROV_E_INPUT,
				                  "$.credentials[%zu].server_spki: not a base64 DER SubjectPublicKeyInfo", i);
				goto out;
			}
			EVP_PKEY_free(k);
		}
	} else {
		const char *fmt = json_string_value(json_object_get(c, "format"));

		cr->kind = PROV_CRED_TRUST;
		cr->store = fmt != NULL && strcmp(fmt, "store") == 0;
		if (t->trust_der != NULL) {
			/* checked here, before the anchors are read, not to lose the first */
			st = prov_err_set(e, PROV_E_INPUT,
			                  "$.credentials[%zu]: a template holds at most one trust credential", i);
			goto out;
		}
		if (trust_der != NULL) {
			t->trust_der = malloc(trust_len);
			if (t->trust_der == NULL) {
				st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
				goto out;
			}
			memcpy(t->trust_der, trust_der, trust_len);
			t->trust_der_len = trust_len;
			cr->n_anchors = cr->store ? count_store(trust_der, trust_len) : count_der_certs(trust_der, trust_len);
			if (cr->n_anchors <= 0) {
				st = prov_err_set(e, PROV_E_DB, "stored trust anchors of template %s are corrupt", t->name);
				goto out;
			}
		} else {
			const char *f = json_string_value(json_object_get(c, "file"));
			size_t pl = strlen(base_dir) + strlen(f) + 2;

			x = malloc(pl);
			if (x == NULL) {
				st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
				goto out;
			}
			if (f[0] == '/')
				snprintf(x, pl, "%s", f);
			else
				snprintf(x, pl, "%s/%s", base_dir, f);
			st = cr->store ? read_store(x, &t->trust_der, &t->trust_der_len, &cr->n_anchors, e)
			               : read_anchors(x, &t->trust_der, &t->trust_der_len, &cr->n_anchors, e);
			if (st != PROV_OK) {
				prov_err_wrap(e, "$.credentials[%zu].file", i);
				goto out;
			}
		}
	}
out:
	free(x);
	return st;
}

static int is_tls13_suite(const char *s)
{
	return strncmp(s, "TLS_AES_", 8) == 0 || strncmp(s, "TLS_CHACHA20_", 13) == 0;
}

static int is_psk_suite(const char *s)
{
	return strncmp(s, "TLS_PSK_", 8) == 0 || strncmp(s, "TLS_ECDHE_PSK_", 14) == 0;
}

/* The TLS profile's own consistency: versions against suites, resumption. */
static prov_status check_tls(const prov_template *t, prov_err *e)
{
	json_t *vers = json_object_get(t->tls, "versions");
	json_t *suites_j = json_object_get(t->tls, "cipher_suites");
	json_t *res = json_object_get(t->tls, "resumption");
	int has12 = 0, has13 = 0, s12 = 0, s13 = 0;

	for (size_t i = 0; i < json_array_size(vers); i++) {
		has12 |= strcmp(json_string_value(json_array_get(vers, i)), "1.2") == 0;
		has13 |= strcmp(json_string_value(json_array_get(vers, i)), "1.3") == 0;
	}
	for (size_t i = 0; i < json_array_size(suites_j); i++) {
		const char *s = json_string_value(json_array_get(suites_j, i));

		if (is_tls13_suite(s))
			s13 = 1;
		else
			s12 = 1;
		if (vers != NULL && is_tls13_suite(s) && !has13)
			return prov_err_set(e, PROV_E_INPUT,
			                    "$.tls.cipher_suites[%zu]: %s is a TLS 1.3 suite and versions lacks \"1.3\"", i, s);
		if (vers != NULL && !is_tls13_suite(s) && !has12)
			return prov_err_set(e, PROV_E_INPUT,
			                    "$.tls.cipher_suites[%zu]: %s is a TLS 1.2 suite and versions lacks \"1.2\"", i, s);
	}
	if (suites_j != NULL && has12 && !s12)
		return prov_err_set(e, PROV_E_INPUT, "$.tls.versions: \"1.2\" without a TLS 1.2 cipher suite");
	if (suites_j != NULL && has13 && !s13)
		return prov_err_set(e, PROV_E_INPUT, "$.tls.versions: \"1.3\" without a TLS 1.3 cipher suite");
	if (res != NULL && !json_is_true(json_object_get(res, "allowed")) &&
	    json_object_get(res, "ticket_lifetime") != NULL)
		return prov_err_set(e, PROV_E_INPUT,
		                    "$.tls.resumption.ticket_lifetime: only meaningful when resumption is allowed");
	return PROV_OK;
}

/* "lwm2m": the Security object instance, against the credentials and TLS profile. */
static prov_status check_lwm2m(prov_template *t, prov_err *e)
{
	json_t *l = json_object_get(t->root, "lwm2m");
	json_t *suites_j = t->tls != NULL ? json_object_get(t->tls, "cipher_suites") : NULL;
	const char *mode, *transport;
	const prov_tpl_cred *c;
	int tcp, suite_ok = 0;

	t->lwm2m_mode = PROV_LWM2M_NONE;
	/* Optional for protocol lwm2m (a template may leave the Security object to
	 * the bootstrap server), meaningless for the others. */
	if (l != NULL && strcmp(t->protocol, "lwm2m") != 0)
		return prov_err_set(e, PROV_E_INPUT, "$.lwm2m: only for protocol \"lwm2m\"");
	if (l == NULL)
		return PROV_OK;
	mode = json_string_value(json_object_get(l, "security_mode"));
	t->lwm2m_uri = json_string_value(json_object_get(l, "server_uri"));
	t->lwm2m_bootstrap = json_is_true(json_object_get(l, "bootstrap"));
	t->lwm2m_ssid = (int)json_integer_value(json_object_get(l, "short_server_id"));
	t->lwm2m_mode = strcmp(mode, "psk") == 0 ? PROV_LWM2M_PSK
	                : strcmp(mode, "rpk") == 0 ? PROV_LWM2M_RPK : PROV_LWM2M_CERT;
	if (!t->lwm2m_bootstrap && t->lwm2m_ssid == 0)
		return prov_err_set(e, PROV_E_INPUT,
		                    "$.lwm2m: missing property \"short_server_id\" (required unless bootstrap)");
	c = prov_template_find(t, t->lwm2m_mode == PROV_LWM2M_PSK ? PROV_CRED_PSK
	                          : t->lwm2m_mode == PROV_LWM2M_RPK ? PROV_CRED_RPK : PROV_CRED_CERT);
	if (c == NULL)
		return prov_err_set(e, PROV_E_INPUT, "$.lwm2m.security_mode: \"%s\" needs a %s credential", mode,
		                    t->lwm2m_mode == PROV_LWM2M_CERT ? "certificate" : mode);
	if (t->lwm2m_mode == PROV_LWM2M_PSK && c->pskd)
		return prov_err_set(e, PROV_E_INPUT, "$.lwm2m.security_mode: a thread-pskd is no LwM2M PSK");
	if (t->lwm2m_mode == PROV_LWM2M_RPK && c->server_spki == NULL)
		return prov_err_set(e, PROV_E_INPUT,
		                    "$.lwm2m.security_mode: \"rpk\" needs the server's key (server_spki of the rpk credential)");
	if (t->lwm2m_mode == PROV_LWM2M_CERT && prov_template_find(t, PROV_CRED_TRUST) == NULL)
		return prov_err_set(e, PROV_E_INPUT,
		                    "$.lwm2m.security_mode: \"certificate\" needs a trust credential (the server's CA)");
	tcp = strncmp(t->lwm2m_uri, "coaps+tcp://", 12) == 0;
	transport = t->tls != NULL ? json_string_value(json_object_get(t->tls, "transport")) : NULL;
	if (transport != NULL && strcmp(transport, tcp ? "tls" : "dtls") != 0)
		return prov_err_set(e, PROV_E_INPUT, "$.lwm2m.server_uri: %s runs over %s, the TLS profile says %s",
		                    tcp ? "coaps+tcp" : "coaps", tcp ? "tls" : "dtls", transport);
	for (size_t i = 0; i < json_array_size(suites_j); i++) {
		const char *s = json_string_value(json_array_get(suites_j, i));

		suite_ok |= is_tls13_suite(s) ||
		            (t->lwm2m_mode == PROV_LWM2M_PSK ? is_psk_suite(s)
		                                             : strncmp(s, "TLS_ECDHE_ECDSA_", 16) == 0);
	}
	if (suites_j != NULL && !suite_ok)
		return prov_err_set(e, PROV_E_INPUT, "$.tls.cipher_suites: none for LwM2M security mode \"%s\"", mode);
	return PROV_OK;
}

static prov_status check_rules(prov_template *t, const char *base_dir, const uint8_t *trust_der,
                               size_t trust_len, prov_err *e)
{
	json_t *creds = json_object_get(t->root, "credentials");
	json_t *dk = json_object_get(t->root, "device_key");
	int seen[PROV_CRED_TRUST + 1] = {0};
	int need_key = 0, have_psk = 0, have_pskd = 0;
	json_t *suites_j;
	prov_status st;

	t->name = json_string_value(json_object_get(t->root, "name"));
	t->protocol = json_string_value(json_object_get(t->root, "protocol"));
	t->tls = json_object_get(t->root, "tls");
	for (size_t i = 0; i < json_array_size(creds); i++) {
		st = check_cred(t, i, json_array_get(creds, i), base_dir, trust_der, trust_len, e);
		if (st != PROV_OK)
			return st;
		t->n_creds++;
		if (seen[t->creds[i].kind]++)
			return prov_err_set(e, PROV_E_INPUT,
			                    "$.credentials[%zu]: a template holds at most one %s credential", i,
			                    json_string_value(json_object_get(json_array_get(creds, i), "type")));
		need_key |= t->creds[i].kind == PROV_CRED_CERT || t->creds[i].kind == PROV_CRED_RPK;
		have_psk |= t->creds[i].kind == PROV_CRED_PSK && !t->creds[i].pskd;
		have_pskd |= t->creds[i].kind == PROV_CRED_PSK && t->creds[i].pskd;
	}
	if (need_key && dk == NULL)
		return prov_err_set(e, PROV_E_INPUT,
		                    "$: missing property \"device_key\" (required by certificate and rpk credentials)");
	if (!need_key && dk != NULL)
		return prov_err_set(e, PROV_E_INPUT,
		                    "$.device_key: no certificate or rpk credential uses it");
	if (dk != NULL) {
		const char *src = json_string_value(json_object_get(dk, "source"));

		t->key_type = prov_key_type_parse(json_string_value(json_object_get(dk, "type")));
		t->key_source = strcmp(src, "device") == 0 ? PROV_KEYSRC_DEVICE
		                : strcmp(src, "host") == 0 ? PROV_KEYSRC_HOST
		                                           : PROV_KEYSRC_EITHER;
	}
	if (t->tls != NULL) {
		const char *tc = json_string_value(json_object_get(t->tls, "time_check"));
		int floor_given = json_object_get(t->tls, "time_floor") != NULL;

		if (tc != NULL && strcmp(tc, "floor") == 0 && !floor_given)
			return prov_err_set(e, PROV_E_INPUT,
			                    "$.tls: time_check \"floor\" needs a time_floor");
		if (floor_given && (tc == NULL || strcmp(tc, "floor") != 0))
			return prov_err_set(e, PROV_E_INPUT,
			                    "$.tls.time_floor: only meaningful with time_check \"floor\"");
		suites_j = json_object_get(t->tls, "cipher_suites");
		for (size_t i = 0; i < json_array_size(suites_j); i++) {
			const char *s = json_string_value(json_array_get(suites_j, i));

			if (is_psk_suite(s) && !have_psk)
				return prov_err_set(e, PROV_E_INPUT,
				                    have_pskd ? "$.tls.cipher_suites[%zu]: %s needs a psk credential (a thread-pskd is a password, not a PSK)"
				                              : "$.tls.cipher_suites[%zu]: %s needs a psk credential", i, s);
			if (strcmp(s, "TLS_ECJPAKE_WITH_AES_128_CCM_8") == 0 && !have_pskd)
				return prov_err_set(e, PROV_E_INPUT,
				                    "$.tls.cipher_suites[%zu]: %s needs a psk credential of format thread-pskd", i, s);
		}
		if ((st = check_tls(t, e)) != PROV_OK)
			return st;
	}
	return check_lwm2m(t, e);
}

static prov_status finish(prov_template *t, prov_err *e)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	prov_status st = PROV_OK;

	t->canonical = json_dumps(t->root, JSON_COMPACT | JSON_SORT_KEYS);
	if (t->canonical == NULL || md == NULL ||
	    !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(md, t->canonical, strlen(t->canonical)) ||
	    (t->trust_der != NULL && !EVP_DigestUpdate(md, t->trust_der, t->trust_der_len)) ||
	    !EVP_DigestFinal_ex(md, t->digest, NULL))
		st = prov_err_set(e, PROV_E_INTERNAL, "cannot digest template");
	EVP_MD_CTX_free(md);
	return st;
}

static prov_status parse(json_t *root, const char *base_dir, const uint8_t *trust_der,
                         size_t trust_len, prov_template **out, prov_err *e)
{
	prov_template *t = calloc(1, sizeof(*t));
	json_t *schema = NULL;
	prov_status st;

	*out = NULL;
	if (t == NULL) {
		json_decref(root);
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	}
	t->root = root;
	st = load_schema(&schema, e);
	if (st == PROV_OK)
		st = prov_jsonschema_validate(schema, root, e);
	if (st == PROV_OK)
		st = check_rules(t, base_dir, trust_der, trust_len, e);
	if (st == PROV_OK)
		st = finish(t, e);
	json_decref(schema);
	if (st != PROV_OK) {
		prov_template_free(t);
		return st;
	}
	*out = t;
	return PROV_OK;
}

prov_status prov_template_load(const char *path, prov_template **out, prov_err *e)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	json_error_t je;
	json_t *root;
	char *dircopy = NULL;
	prov_status st;

	*out = NULL;
	st = prov_file_read(path, TEMPLATE_FILE_MAX, &buf, &len, e);
	if (st != PROV_OK) {
		prov_err_wrap(e, "template");
		return st;
	}
	root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	if (root == NULL)
		return prov_err_set(e, PROV_E_INPUT, "template %s: not valid JSON: line %d column %d: %s",
		                    path, je.line, je.column, je.text);
	dircopy = strdup(path);
	if (dircopy == NULL) {
		json_decref(root);
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	}
	st = parse(root, dirname(dircopy), NULL, 0, out, e);
	free(dircopy);
	if (st != PROV_OK)
		prov_err_wrap(e, "template %s", path);
	return st;
}

prov_status prov_template_from_db(const char *json, const uint8_t *trust_der,
                                  size_t trust_len, prov_template **out, prov_err *e)
{
	json_error_t je;
	json_t *root = json_loads(json, 0, &je);

	*out = NULL;
	if (root == NULL)
		return prov_err_set(e, PROV_E_DB, "stored template is not valid JSON: %s", je.text);
	if (json_object_get(root, "credentials") != NULL && trust_der == NULL) {
		/* A stored template with a trust credential always has its anchors. */
		json_t *c;
		size_t i;

		json_array_foreach(json_object_get(root, "credentials"), i, c)
			if (json_is_string(json_object_get(c, "type")) &&
			    strcmp(json_string_value(json_object_get(c, "type")), "trust") == 0) {
				json_decref(root);
				return prov_err_set(e, PROV_E_DB, "stored template lacks its trust anchors");
			}
	}
	return parse(root, ".", trust_der, trust_len, out, e);
}

prov_status prov_template_store(prov_home *h, const prov_template *t, prov_err *e)
{
	prov_rec_template r;
	char hex[65];

	prov_hex(t->digest, sizeof(t->digest), hex);
	r.digest = hex;
	r.name = t->name;
	r.json = t->canonical;
	r.trust_der = t->trust_der;
	r.trust_len = t->trust_der_len;
	return prov_records_template_add(h->db, &r, e);
}

/* The home's cache of the last recorded template (prov_home.cache). */
typedef struct recorded {
	char digest[65];
	prov_template *t;
} recorded;

static void recorded_free(void *p)
{
	recorded *r = p;

	if (r != NULL)
		prov_template_free(r->t);
	free(r);
}

prov_status prov_template_recorded(prov_home *h, const char *digest, const prov_template **t,
                                   prov_err *e)
{
	recorded *r = h->cache.p;
	char *json = NULL;
	uint8_t *trust = NULL;
	size_t trust_len = 0;
	prov_status st;

	*t = NULL;
	if (r != NULL && h->cache.free_fn == recorded_free && r->t != NULL && strcmp(r->digest, digest) == 0) {
		*t = r->t;
		return PROV_OK;
	}
	if (h->cache.free_fn != NULL)
		h->cache.free_fn(h->cache.p);
	h->cache.p = r = calloc(1, sizeof(*r));
	h->cache.free_fn = recorded_free;
	if (r == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	st = prov_records_template(h->db, digest, &json, &trust, &trust_len, e);
	if (st == PROV_OK)
		st = prov_template_from_db(json, trust, trust_len, &r->t, e);
	free(json);
	free(trust);
	if (st != PROV_OK)
		return st;
	snprintf(r->digest, sizeof(r->digest), "%s", digest);
	*t = r->t;
	return PROV_OK;
}

prov_status prov_trust_file_read(const char *path, uint8_t **buf, size_t *len, int *is_store,
                                 int *count, prov_err *e)
{
	uint8_t *raw = NULL;
	size_t n = 0;
	prov_status st;

	*buf = NULL;
	*len = 0;
	/* A compact store is the CBOR array [2, index, anchors, pins] (0x84 0x02,
	 * docs/truststore-format.md; 0x83 0x01 is a version 1 store, which the
	 * store reader refuses with "rebuild it"); anything else is read as
	 * certificates (a DER certificate starts with a SEQUENCE, PEM with text). */
	st = prov_file_read(path, PROV_TRUST_STORE_MAX, &raw, &n, e);
	if (st == PROV_E_INPUT || (st == PROV_OK && !(n >= 2 && ((raw[0] == 0x84 && raw[1] == 0x02) ||
	                                                       (raw[0] == 0x83 && raw[1] == 0x01))))) {
		free(raw);
		*is_store = 0;
		st = read_anchors(path, buf, len, count, e);
	} else if (st == PROV_OK) {
		free(raw);
		*is_store = 1;
		st = read_store(path, buf, len, count, e);
	}
	if (st != PROV_OK)
		prov_err_wrap(e, "trust file %s", path);
	return st;
}

prov_status prov_template_dup(const prov_template *t, prov_template **out, prov_err *e)
{
	json_t *root = json_deep_copy(t->root);

	*out = NULL;
	if (root == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	return parse(root, ".", t->trust_der, t->trust_der_len, out, e);
}

prov_status prov_template_set_trust(prov_template *t, const char *path, prov_err *e)
{
	json_t *creds = json_object_get(t->root, "credentials"), *c = NULL, *nc = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, idx = 0;
	int is_store = 0, count = 0;
	uint32_t slot = 0;
	prov_tpl_cred *cr = NULL;
	const char *base = strrchr(path, '/');
	char *old_canon = t->canonical;
	uint8_t old_digest[32];
	prov_status st;

	st = prov_trust_file_read(path, &buf, &len, &is_store, &count, e);
	if (st != PROV_OK)
		return st;
	for (size_t i = 0; i < t->n_creds; i++)
		if (t->creds[i].kind == PROV_CRED_TRUST) {
			cr = &t->creds[i];
			idx = i;
		}
	if (cr == NULL) {
		/* No trust slot yet: one beside the credential the TLS layer presents. */
		static const prov_cred_kind order[] = {PROV_CRED_CERT, PROV_CRED_RPK, PROV_CRED_PSK};
		const prov_tpl_cred *k = NULL;

		for (size_t i = 0; i < 3 && k == NULL; i++)
			k = prov_template_find(t, order[i]);
		if (k == NULL || t->n_creds == PROV_TPL_MAX_CREDS) {
			free(buf);
			return prov_err_set(e, PROV_E_INPUT, "template %s has no slot to put trust anchors in", t->name);
		}
		slot = k->slot;
		nc = json_pack("{s:s, s:I}", "type", "trust", "slot", (json_int_t)slot);
		if (nc == NULL || json_array_append(creds, nc) != 0) {
			json_decref(nc);
			free(buf);
			return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		}
		idx = json_array_size(creds) - 1;
	}
	c = json_array_get(creds, idx);
	if (json_object_set_new(c, "file", json_string(base != NULL ? base + 1 : path)) != 0 ||
	    json_object_set_new(c, "format", json_string(is_store ? "store" : "certificates")) != 0) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto fail;
	}
	memcpy(old_digest, t->digest, sizeof(old_digest));
	t->canonical = NULL;
	{
		uint8_t *old_der = t->trust_der;
		size_t old_len = t->trust_der_len;

		t->trust_der = buf;
		t->trust_der_len = len;
		st = finish(t, e);
		if (st != PROV_OK) {
			free(t->canonical);
			t->canonical = old_canon;
			t->trust_der = old_der;
			t->trust_der_len = old_len;
			memcpy(t->digest, old_digest, sizeof(old_digest));
			goto fail;
		}
		free(old_der);
	}
	free(old_canon);
	if (cr == NULL) {
		cr = &t->creds[t->n_creds++];
		memset(cr, 0, sizeof(*cr));
		cr->kind = PROV_CRED_TRUST;
		cr->slot = slot;
	}
	cr->store = is_store;
	cr->n_anchors = count;
	json_decref(nc);
	return PROV_OK;
fail:
	if (nc != NULL)
		json_array_remove(creds, idx);
	json_decref(nc);
	free(buf);
	return st;
}
