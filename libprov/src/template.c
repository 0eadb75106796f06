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
	size_t n = 0;
	prov_status st = prov_file_read(path, PROV_TRUST_STORE_MAX, buf, len, e);

	if (st == PROV_OK && (st = prov_trust_store_check(*buf, *len, NULL, &n, e)) == PROV_OK && n == 0)
		st = prov_err_set(e, PROV_E_INPUT, "the trust store holds no anchor");
	if (st != PROV_OK) {
		free(*buf);
		*buf = NULL;
		return st;
	}
	*count = (int)n;
	return PROV_OK;
}

static int count_store(const uint8_t *p, size_t len)
{
	size_t n = 0;

	return prov_trust_store_check(p, len, NULL, &n, NULL) == PROV_OK ? (int)n : -1;
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

static prov_status check_rules(prov_template *t, const char *base_dir, const uint8_t *trust_der,
                               size_t trust_len, prov_err *e)
{
	json_t *creds = json_object_get(t->root, "credentials");
	json_t *dk = json_object_get(t->root, "device_key");
	int seen[PROV_CRED_TRUST + 1] = {0};
	int need_key = 0, have_psk = 0;
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
		have_psk |= t->creds[i].kind == PROV_CRED_PSK;
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

			if ((strncmp(s, "TLS_PSK_", 8) == 0 || strncmp(s, "TLS_ECDHE_PSK_", 14) == 0) && !have_psk)
				return prov_err_set(e, PROV_E_INPUT,
				                    "$.tls.cipher_suites[%zu]: %s needs a psk credential", i, s);
		}
	}
	return PROV_OK;
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
