/*
 * test_template.c - device templates (prov/template.h).
 *
 * - The shipped templates (the *.json files under templates/, read from the repository root) load
 *   and fill the struct as their text says.
 * - Defaults (extended key usage, PSK bits), key types and sources, trust
 *   anchors and pinned server keys, read back from the struct.
 * - A table of bad templates, one defect each, written to files: each is
 *   rejected with its status and exactly the expected message start (the JSON
 *   path first), and with the same status when no error pointer is given.  The
 *   table covers schema errors and every rule of check_rules/check_cred.
 * - prov_template_from_db gives back the same template (digest, canonical JSON);
 *   the digest is SHA-256(canonical || trust DER), recomputed here.
 * - prov_template_expand, and the TLS suite table against the schema's list.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "embedded.h"
#include "prov/keys.h"
#include "prov/template.h"
#include "prov/util.h"
#include "prov/x509.h"

static char tmpdir[256];

/* Two trust anchors, PEM in anchors.pem (and the first alone in anchor1.pem), and
 * the server key's SPKI in base64. */
static uint8_t *anchors_der;
static size_t anchors_der_len;
static char spki_b64[256];
static size_t spki_der_len;

static char *tpath(const char *name)
{
	static char buf[4][600];
	static int k;
	char *p = buf[k++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", tmpdir, name);
	return p;
}

static int put(const char *name, const char *text)
{
	return prov_file_write(tpath(name), text, strlen(text), 0600, 0, NULL) == PROV_OK ? 0 : -1;
}

static int make_fixtures(void)
{
	EVP_PKEY *k1 = NULL, *k2 = NULL;
	X509 *c1 = NULL, *c2 = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m = NULL;
	uint8_t *spki = NULL;
	int ok;

	ok = b != NULL && prov_key_generate(PROV_KEY_P256, &k1, NULL) == PROV_OK &&
	     prov_key_generate(PROV_KEY_P384, &k2, NULL) == PROV_OK &&
	     prov_x509_ca_create(k1, "CN=Broker Root 1", 1767225600, 3650, &c1, NULL) == PROV_OK &&
	     prov_x509_ca_create(k2, "CN=Broker Root 2", 1767225600, 3650, &c2, NULL) == PROV_OK &&
	     PEM_write_bio_X509(b, c1);
	if (ok) {
		BIO_get_mem_ptr(b, &m);
		ok = prov_file_write(tpath("anchor1.pem"), m->data, m->length, 0600, 0, NULL) == PROV_OK &&
		     PEM_write_bio_X509(b, c2);
	}
	if (ok) {
		BIO_get_mem_ptr(b, &m);
		ok = prov_file_write(tpath("anchors.pem"), m->data, m->length, 0600, 0, NULL) == PROV_OK;
	}
	if (ok) {
		int l1 = i2d_X509(c1, NULL), l2 = i2d_X509(c2, NULL);
		unsigned char *p;

		anchors_der = malloc((size_t)(l1 + l2));
		p = anchors_der;
		ok = anchors_der != NULL && l1 > 0 && l2 > 0 && i2d_X509(c1, &p) == l1 && i2d_X509(c2, &p) == l2;
		anchors_der_len = (size_t)(l1 + l2);
	}
	ok = ok && put("junk.pem", "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n") == 0;
	if (ok && prov_key_spki(k2, &spki, &spki_der_len, NULL) == PROV_OK) {
		EVP_EncodeBlock((unsigned char *)spki_b64, spki, (int)spki_der_len);
		OPENSSL_free(spki);
	} else {
		ok = 0;
	}
	BIO_free(b);
	X509_free(c1);
	X509_free(c2);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	return ok;
}

/* SHA-256(canonical || trust_der), computed here. */
static int digest_ok(const prov_template *t)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t d[32];
	int ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
	         EVP_DigestUpdate(md, t->canonical, strlen(t->canonical)) &&
	         (t->trust_der == NULL || EVP_DigestUpdate(md, t->trust_der, t->trust_der_len)) &&
	         EVP_DigestFinal_ex(md, d, NULL) && memcmp(d, t->digest, 32) == 0;

	EVP_MD_CTX_free(md);
	return ok;
}

/* The canonical JSON is the document itself: same value, compact, keys sorted. */
static int canonical_ok(const prov_template *t)
{
	json_t *back = json_loads(t->canonical, 0, NULL);
	char *again = back != NULL ? json_dumps(back, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	int ok = back != NULL && json_equal(back, t->root) && again != NULL &&
	         strcmp(again, t->canonical) == 0 && strchr(t->canonical, '\n') == NULL;

	free(again);
	json_decref(back);
	return ok;
}

/* from_db(canonical, trust) is the same template. */
static void check_from_db(const prov_template *t, const char *what)
{
	prov_template *u = NULL;
	prov_err e;

	CHECK_MSG(prov_template_from_db(t->canonical, t->trust_der, t->trust_der_len, &u, &e) == PROV_OK,
	          "%s: from_db: %s", what, e.msg);
	if (u == NULL)
		return;
	CHECK_MSG(memcmp(u->digest, t->digest, 32) == 0 && strcmp(u->canonical, t->canonical) == 0,
	          "%s: from_db gives another digest", what);
	CHECK(u->n_creds == t->n_creds && u->key_type == t->key_type && u->key_source == t->key_source);
	for (size_t i = 0; i < u->n_creds && i < t->n_creds; i++) {
		const prov_tpl_cred *a = &t->creds[i], *b = &u->creds[i];

		CHECK_MSG(a->kind == b->kind && a->slot == b->slot && a->bits == b->bits &&
		          a->validity_days == b->validity_days && a->no_expiry == b->no_expiry &&
		          a->n_eku == b->n_eku && a->include_chain == b->include_chain &&
		          a->n_anchors == b->n_anchors && a->server_spki_len == b->server_spki_len,
		          "%s: credential %zu differs after from_db", what, i);
	}
	CHECK(u->trust_der_len == t->trust_der_len &&
	      (t->trust_der == NULL || memcmp(u->trust_der, t->trust_der, t->trust_der_len) == 0));
	prov_template_free(u);
}

/* ---- the shipped templates ------------------------------------------------------------- */

static void test_shipped(void)
{
	prov_template *t = NULL;
	prov_err e;
	const prov_tpl_cred *c;

	CHECK_MSG(prov_template_load("templates/coaps-psk.json", &t, &e) == PROV_OK, "%s", e.msg);
	if (t != NULL) {
		CHECK(strcmp(t->name, "coaps-psk") == 0 && strcmp(t->protocol, "coaps") == 0);
		CHECK(t->key_type == PROV_KEY_NONE && t->key_source == PROV_KEYSRC_NONE);
		CHECK(t->n_creds == 1);
		c = prov_template_find(t, PROV_CRED_PSK);
		CHECK(c != NULL && c->slot == 2 && c->bits == 128 && strcmp(c->identity, "{id}") == 0);
		CHECK(prov_template_find(t, PROV_CRED_CERT) == NULL);
		CHECK(t->tls != NULL &&
		      strcmp(json_string_value(json_object_get(t->tls, "transport")), "dtls") == 0);
		CHECK(t->trust_der == NULL && t->trust_der_len == 0);
		CHECK(digest_ok(t) && canonical_ok(t));
		check_from_db(t, "coaps-psk");
		prov_template_free(t);
		t = NULL;
	}

	CHECK_MSG(prov_template_load("templates/mqtt-mtls.json", &t, &e) == PROV_OK, "%s", e.msg);
	if (t != NULL) {
		CHECK(strcmp(t->name, "mqtt-mtls") == 0 && strcmp(t->protocol, "mqtt") == 0);
		CHECK(t->key_type == PROV_KEY_P256 && t->key_source == PROV_KEYSRC_EITHER);
		CHECK(t->n_creds == 2);
		/* the broker's roots: a compact store in the certificate's slot */
		c = prov_template_find(t, PROV_CRED_TRUST);
		CHECK(c != NULL && c->slot == 1 && c->store == 1);
		/* templates/roots/iot-roots.store: [2, keys, anchors, pins], 6 anchors in 1464 bytes */
		CHECK(t->trust_der != NULL && t->trust_der_len == 1464 &&
		      memcmp(t->trust_der, "\x84\x02", 2) == 0);
		c = prov_template_find(t, PROV_CRED_CERT);
		CHECK(c != NULL && c->kind == PROV_CRED_CERT && c->slot == 1 &&
		      strcmp(c->subject, "CN={id},O=provkit devices") == 0 && c->no_expiry == 1 &&
		      c->n_eku == 1 && strcmp(c->eku[0], "clientAuth") == 0 && c->include_chain == 1);
		CHECK(prov_template_find(t, PROV_CRED_PSK) == NULL);
		CHECK(t->tls != NULL &&
		      strcmp(json_string_value(json_object_get(t->tls, "time_floor")), "2026-01-01T00:00:00Z") == 0);
		CHECK(digest_ok(t) && canonical_ok(t));
		check_from_db(t, "mqtt-mtls");
		prov_template_free(t);
	}
}

/* ---- accepted templates, field by field ------------------------------------------------------ */

#define HEAD "{\"name\":\"t\",\"protocol\":\"mqtt\","
#define DK(type, src) "\"device_key\":{\"type\":\"" type "\",\"source\":\"" src "\"},"
#define CERT "{\"type\":\"certificate\",\"slot\":1,\"subject\":\"CN={id}\",\"validity\":\"no-expiry\"}"
#define PSK "{\"type\":\"psk\",\"slot\":2,\"identity\":\"{id}\"}"
#define RPK "{\"type\":\"rpk\",\"slot\":3}"
#define TRUST "{\"type\":\"trust\",\"slot\":4,\"file\":\"anchors.pem\"}"

static prov_template *load_text(const char *name, const char *text, prov_err *e)
{
	prov_template *t = NULL;

	if (put(name, text) != 0)
		return NULL;
	if (prov_template_load(tpath(name), &t, e) != PROV_OK)
		return NULL;
	return t;
}

static void test_accepted(void)
{
	prov_template *t;
	prov_err e;
	char text[2048];
	const prov_tpl_cred *c;

	/* Defaults: extended key usage clientAuth, PSK 128 bits; validity in days. */
	t = load_text("defaults.json",
	              HEAD DK("p384", "host") "\"credentials\":["
	              "{\"type\":\"certificate\",\"slot\":0,\"subject\":\"CN={id},O=x\",\"validity\":{\"days\":365}},"
	              PSK "]}", &e);
	CHECK_MSG(t != NULL, "defaults: %s", e.msg);
	if (t != NULL) {
		CHECK(t->key_type == PROV_KEY_P384 && t->key_source == PROV_KEYSRC_HOST && t->tls == NULL);
		c = prov_template_find(t, PROV_CRED_CERT);
		CHECK(c != NULL && c->slot == 0 && c->validity_days == 365 && c->no_expiry == 0 &&
		      c->n_eku == 1 && strcmp(c->eku[0], "clientAuth") == 0 && c->include_chain == 0);
		c = prov_template_find(t, PROV_CRED_PSK);
		CHECK(c != NULL && c->bits == 128);
		check_from_db(t, "defaults");
		prov_template_free(t);
	}

	/* Everything: four kinds, explicit EKUs, 256-bit PSK, a pinned server key, two
	 * anchors, a TLS profile that uses the PSK. */
	snprintf(text, sizeof(text),
	         HEAD DK("ed25519", "device-or-host") "\"credentials\":["
	         "{\"type\":\"certificate\",\"slot\":1,\"subject\":\"CN={id}\",\"validity\":\"no-expiry\","
	         "\"extended_key_usage\":[\"clientAuth\",\"serverAuth\",\"1.3.6.1.4.1.99.1\"],\"include_chain\":true},"
	         "{\"type\":\"psk\",\"slot\":2147483647,\"bits\":256,\"identity\":\"psk-{id}\"},"
	         "{\"type\":\"rpk\",\"slot\":3,\"server_spki\":\"%s\"}," TRUST "],"
	         "\"tls\":{\"cipher_suites\":[\"TLS_PSK_WITH_AES_128_CCM_8\"],\"time_check\":\"floor\","
	         "\"time_floor\":\"2026-01-01T00:00:00Z\"}}", spki_b64);
	t = load_text("full.json", text, &e);
	CHECK_MSG(t != NULL, "full: %s", e.msg);
	if (t != NULL) {
		CHECK(t->n_creds == 4 && t->key_type == PROV_KEY_ED25519 && t->key_source == PROV_KEYSRC_EITHER);
		c = prov_template_find(t, PROV_CRED_CERT);
		CHECK(c != NULL && c->n_eku == 3 && strcmp(c->eku[1], "serverAuth") == 0 &&
		      strcmp(c->eku[2], "1.3.6.1.4.1.99.1") == 0 && c->include_chain == 1);
		c = prov_template_find(t, PROV_CRED_PSK);
		CHECK(c != NULL && c->bits == 256 && c->slot == 2147483647u);
		c = prov_template_find(t, PROV_CRED_RPK);
		CHECK(c != NULL && c->slot == 3 && c->server_spki != NULL && c->server_spki_len == spki_der_len);
		if (c != NULL && c->server_spki != NULL) {
			EVP_PKEY *k = NULL;

			CHECK(prov_key_from_spki(c->server_spki, c->server_spki_len, &k, NULL) == PROV_OK &&
			      prov_key_type_of(k) == PROV_KEY_P384);
			EVP_PKEY_free(k);
		}
		c = prov_template_find(t, PROV_CRED_TRUST);
		CHECK(c != NULL && c->n_anchors == 2);
		CHECK_EQ_HEX(t->trust_der, t->trust_der_len, anchors_der, anchors_der_len);
		CHECK(digest_ok(t) && canonical_ok(t));
		check_from_db(t, "full");
		prov_template_free(t);
	}

	/* An rpk without a pinned key; a trust file with one anchor; p256 device key. */
	t = load_text("rpk.json",
	              HEAD DK("p256", "device") "\"credentials\":[" RPK ","
	              "{\"type\":\"trust\",\"slot\":4,\"file\":\"anchor1.pem\"}]}", &e);
	CHECK_MSG(t != NULL, "rpk: %s", e.msg);
	if (t != NULL) {
		CHECK(t->key_source == PROV_KEYSRC_DEVICE);
		c = prov_template_find(t, PROV_CRED_RPK);
		CHECK(c != NULL && c->server_spki == NULL && c->server_spki_len == 0);
		c = prov_template_find(t, PROV_CRED_TRUST);
		CHECK(c != NULL && c->n_anchors == 1 && t->trust_der_len < anchors_der_len &&
		      memcmp(t->trust_der, anchors_der, t->trust_der_len) == 0);
		check_from_db(t, "rpk");
		prov_template_free(t);
	}

	/* A PSK identity of exactly 128 bytes for a 64-character ID is allowed. */
	t = load_text("id128.json",
	              HEAD "\"credentials\":[{\"type\":\"psk\",\"slot\":0,\"identity\":\"{id}{id}\"}]}", &e);
	CHECK_MSG(t != NULL, "identity of 128 bytes: %s", e.msg);
	prov_template_free(t);

	/* The same template text with keys in another order has the same digest. */
	{
		prov_template *a = load_text("order-a.json", "{\"name\":\"t\",\"protocol\":\"coaps\",\"credentials\":[" PSK "]}", &e);
		prov_template *b = load_text("order-b.json", "{\"credentials\":[{\"identity\":\"{id}\",\"slot\":2,\"type\":\"psk\"}],\n  \"protocol\":\"coaps\",\"name\":\"t\"}", &e);

		CHECK(a != NULL && b != NULL && memcmp(a->digest, b->digest, 32) == 0);
		prov_template_free(a);
		prov_template_free(b);
	}
}

/* ---- rejected templates ------------------------------------------------------------------------ */

static const struct bad_case {
	const char *name;
	const char *json;
	prov_status st;
	const char *msg; /* start of the message after "template PATH: "; @ is the template's directory */
} bad_cases[] = {
	/* not JSON */
	{"empty", "", PROV_E_INPUT, "not valid JSON: line 1 column 0"},
	{"truncated", "{\"name\":", PROV_E_INPUT, "not valid JSON: line 1 column "},
	{"duplicate-key", "{\"name\":\"a\",\"name\":\"b\"}", PROV_E_INPUT, "not valid JSON: line 1 column "},
	/* schema */
	{"root-array", "[]", PROV_E_INPUT, "$: must be an object"},
	{"name-missing", "{\"protocol\":\"mqtt\",\"credentials\":[" PSK "]}", PROV_E_INPUT,
	 "$: missing required property \"name\""},
	{"unknown-property", "{\"name\":\"t\",\"protocol\":\"coaps\",\"colour\":1,\"credentials\":[" PSK "]}",
	 PROV_E_INPUT, "$: unexpected property \"colour\""},
	{"name-uppercase", "{\"name\":\"T\",\"protocol\":\"coaps\",\"credentials\":[" PSK "]}", PROV_E_INPUT,
	 "$.name: must match pattern"},
	{"protocol-unknown", "{\"name\":\"t\",\"protocol\":\"ftp\",\"credentials\":[" PSK "]}", PROV_E_INPUT,
	 "$.protocol: must be one of \"mqtt\", \"coaps\""},
	{"credentials-empty", HEAD "\"credentials\":[]}", PROV_E_INPUT, "$.credentials: must have at least 1 item"},
	{"credentials-17", HEAD "\"credentials\":[" PSK "," PSK "," PSK "," PSK "," PSK "," PSK "," PSK "," PSK
	                   "," PSK "," PSK "," PSK "," PSK "," PSK "," PSK "," PSK "," PSK "," PSK "]}",
	 PROV_E_INPUT, "$.credentials: must have at most 16 items"},
	{"slot-negative", HEAD "\"credentials\":[{\"type\":\"psk\",\"slot\":-1,\"identity\":\"x\"}]}", PROV_E_INPUT,
	 "$.credentials[0].slot: must be >= 0"},
	{"slot-2^31", HEAD "\"credentials\":[{\"type\":\"psk\",\"slot\":2147483648,\"identity\":\"x\"}]}",
	 PROV_E_INPUT, "$.credentials[0].slot: must be <= 2147483647"},
	{"psk-bits-130", HEAD "\"credentials\":[{\"type\":\"psk\",\"slot\":0,\"bits\":130,\"identity\":\"x\"}]}",
	 PROV_E_INPUT, "$.credentials[0].bits: must be a multiple of 8"},
	{"psk-bits-520", HEAD "\"credentials\":[{\"type\":\"psk\",\"slot\":0,\"bits\":520,\"identity\":\"x\"}]}",
	 PROV_E_INPUT, "$.credentials[0].bits: must be <= 512"},
	{"validity-0-days", HEAD DK("p256", "device") "\"credentials\":[{\"type\":\"certificate\",\"slot\":1,"
	                    "\"subject\":\"CN={id}\",\"validity\":{\"days\":0}}]}",
	 PROV_E_INPUT, "$.credentials[0].validity.days: must be >= 1"},
	{"eku-unknown", HEAD DK("p256", "device") "\"credentials\":[{\"type\":\"certificate\",\"slot\":1,"
	                "\"subject\":\"CN={id}\",\"validity\":\"no-expiry\",\"extended_key_usage\":[\"bogus\"]}]}",
	 PROV_E_INPUT, "$.credentials[0].extended_key_usage[0]: must match pattern"},
	{"device-key-rsa", HEAD DK("rsa", "device") "\"credentials\":[" CERT "]}", PROV_E_INPUT,
	 "$.device_key.type: must be one of \"p256\", \"p384\", \"ed25519\""},
	{"tls-1.1", HEAD "\"credentials\":[" PSK "],\"tls\":{\"versions\":[\"1.1\"]}}", PROV_E_INPUT,
	 "$.tls.versions[0]: must be one of \"1.2\", \"1.3\""},
	{"mfl-100", HEAD "\"credentials\":[" PSK "],\"tls\":{\"max_fragment_length\":100}}", PROV_E_INPUT,
	 "$.tls.max_fragment_length: must be one of 512, 1024, 2048, 4096"},
	/* rule 1: at most one credential of each type */
	{"psk-twice", HEAD "\"credentials\":[" PSK "," PSK "]}", PROV_E_INPUT,
	 "$.credentials[1]: a template holds at most one psk credential"},
	{"certificate-twice", HEAD DK("p256", "device") "\"credentials\":[" CERT "," CERT "]}", PROV_E_INPUT,
	 "$.credentials[1]: a template holds at most one certificate credential"},
	{"rpk-twice", HEAD DK("p256", "device") "\"credentials\":[" RPK "," PSK "," RPK "]}", PROV_E_INPUT,
	 "$.credentials[2]: a template holds at most one rpk credential"},
	{"trust-twice", HEAD "\"credentials\":[" PSK "," TRUST "," TRUST "]}", PROV_E_INPUT,
	 "$.credentials[2]: a template holds at most one trust credential"},
	/* rule 2: device_key exactly when a certificate or rpk needs it */
	{"device-key-missing-cert", HEAD "\"credentials\":[" CERT "]}", PROV_E_INPUT,
	 "$: missing property \"device_key\" (required by certificate and rpk credentials)"},
	{"device-key-missing-rpk", HEAD "\"credentials\":[" PSK "," RPK "]}", PROV_E_INPUT,
	 "$: missing property \"device_key\" (required by certificate and rpk credentials)"},
	{"device-key-unused", HEAD DK("p256", "host") "\"credentials\":[" PSK "," TRUST "]}", PROV_E_INPUT,
	 "$.device_key: no certificate or rpk credential uses it"},
	/* rule 3: the subject gives a DN */
	{"subject-not-type-value", HEAD DK("p256", "device") "\"credentials\":[{\"type\":\"certificate\","
	                           "\"slot\":1,\"subject\":\"CN={id},provkit\",\"validity\":\"no-expiry\"}]}",
	 PROV_E_INPUT,
	 "$.credentials[0].subject: bad distinguished name \"CN=dev-1,provkit\": \"provkit\" is not TYPE=value"},
	{"subject-unknown-attribute", HEAD DK("p256", "device") "\"credentials\":[{\"type\":\"certificate\","
	                              "\"slot\":1,\"subject\":\"XYZZY={id}\",\"validity\":\"no-expiry\"}]}",
	 PROV_E_INPUT, "$.credentials[0].subject: bad distinguished name \"XYZZY=dev-1\": attribute \"XYZZY\""},
	{"subject-empty-value", HEAD DK("p256", "device") "\"credentials\":[{\"type\":\"certificate\","
	                        "\"slot\":1,\"subject\":\"CN={id},O=\",\"validity\":\"no-expiry\"}]}",
	 PROV_E_INPUT, "$.credentials[0].subject: bad distinguished name \"CN=dev-1,O=\""},
	/* rule 4: the PSK identity fits 128 bytes for a 64-character ID, printable ASCII */
	{"identity-129", HEAD "\"credentials\":[{\"type\":\"psk\",\"slot\":0,\"identity\":\"{id}{id}x\"}]}",
	 PROV_E_INPUT, "$.credentials[0].identity: longer than 128 bytes for a 64-character device ID"},
	{"identity-3-ids", HEAD "\"credentials\":[{\"type\":\"psk\",\"slot\":0,\"identity\":\"{id}{id}{id}\"}]}",
	 PROV_E_INPUT, "$.credentials[0].identity: longer than 128 bytes for a 64-character device ID"},
	{"identity-tab", HEAD "\"credentials\":[{\"type\":\"psk\",\"slot\":0,\"identity\":\"a\\t{id}\"}]}",
	 PROV_E_INPUT, "$.credentials[0].identity: only printable ASCII characters"},
	{"identity-utf8", HEAD "\"credentials\":[{\"type\":\"psk\",\"slot\":0,\"identity\":\"\xc3\xa9-{id}\"}]}",
	 PROV_E_INPUT, "$.credentials[0].identity: only printable ASCII characters"},
	/* rule 5: server_spki is a DER SubjectPublicKeyInfo */
	{"spki-not-spki", HEAD DK("p256", "device") "\"credentials\":[{\"type\":\"rpk\",\"slot\":3,"
	                  "\"server_spki\":\"QUJDRA==\"}]}",
	 PROV_E_INPUT, "$.credentials[0].server_spki: not a base64 DER SubjectPublicKeyInfo"},
	{"spki-bad-length", HEAD DK("p256", "device") "\"credentials\":[{\"type\":\"rpk\",\"slot\":3,"
	                    "\"server_spki\":\"QUJDR\"}]}",
	 PROV_E_INPUT, "$.credentials[0].server_spki: not a base64 DER SubjectPublicKeyInfo"},
	/* rule 6: time_check floor <-> time_floor */
	{"floor-without-time", HEAD "\"credentials\":[" PSK "],\"tls\":{\"time_check\":\"floor\"}}",
	 PROV_E_INPUT, "$.tls: time_check \"floor\" needs a time_floor"},
	{"time-without-floor", HEAD "\"credentials\":[" PSK "],\"tls\":{\"time_floor\":\"2026-01-01T00:00:00Z\"}}",
	 PROV_E_INPUT, "$.tls.time_floor: only meaningful with time_check \"floor\""},
	{"time-with-full", HEAD "\"credentials\":[" PSK "],\"tls\":{\"time_check\":\"full\","
	                   "\"time_floor\":\"2026-01-01T00:00:00Z\"}}",
	 PROV_E_INPUT, "$.tls.time_floor: only meaningful with time_check \"floor\""},
	/* rule 7: a PSK cipher suite needs a psk credential */
	{"psk-suite-without-psk", HEAD DK("p256", "device") "\"credentials\":[" CERT "],\"tls\":{\"cipher_suites\":"
	                          "[\"TLS_AES_128_GCM_SHA256\",\"TLS_PSK_WITH_AES_128_CCM_8\"]}}",
	 PROV_E_INPUT, "$.tls.cipher_suites[1]: TLS_PSK_WITH_AES_128_CCM_8 needs a psk credential"},
	{"ecdhe-psk-suite-without-psk", HEAD DK("p256", "device") "\"credentials\":[" CERT "],\"tls\":{"
	                                "\"cipher_suites\":[\"TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256\"]}}",
	 PROV_E_INPUT, "$.tls.cipher_suites[0]: TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256 needs a psk credential"},
	/* rule 8: the trust file holds certificates */
	{"trust-file-missing", HEAD "\"credentials\":[" PSK ",{\"type\":\"trust\",\"slot\":4,\"file\":\"nope.pem\"}]}",
	 PROV_E_NOTFOUND, "$.credentials[1].file: cannot open @/nope.pem: No such file or directory"},
	{"trust-file-junk", HEAD "\"credentials\":[" PSK ",{\"type\":\"trust\",\"slot\":4,\"file\":\"junk.pem\"}]}",
	 PROV_E_INPUT, "$.credentials[1].file: @/junk.pem: certificate 1 is garbage (bad base64, a NUL byte or no END line)"},
	{"trust-file-is-json", HEAD "\"credentials\":[" PSK ",{\"type\":\"trust\",\"slot\":4,\"file\":\"psk-twice.json\"}]}",
	 PROV_E_INPUT, "$.credentials[1].file: @/psk-twice.json holds no certificate"},
};

/* s with every '@' replaced by dir. */
static void expand_at(char *out, size_t cap, const char *s, const char *dir)
{
	size_t o = 0;

	for (; *s != 0 && o + 1 < cap; s++) {
		if (*s == '@') {
			size_t l = strlen(dir);

			if (o + l >= cap)
				break;
			memcpy(out + o, dir, l);
			o += l;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = 0;
}

static void test_rejected(void)
{
	int n = 0;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char file[64], want[1024], msg[800];
		prov_template *t = (prov_template *)1;
		prov_err e;
		prov_status st, st_null;
		const char *path;

		snprintf(file, sizeof(file), "%s.json", c->name);
		path = tpath(file);
		if (put(file, c->json) != 0) {
			CHECK_MSG(0, "%s: cannot write", c->name);
			continue;
		}
		expand_at(msg, sizeof(msg), c->msg, tmpdir);
		snprintf(want, sizeof(want), "template %s: %s", path, msg);
		memset(&e, 0, sizeof(e));
		st = prov_template_load(path, &t, &e);
		CHECK_MSG(st == c->st && e.code == c->st && t == NULL && strncmp(e.msg, want, strlen(want)) == 0,
		          "%s:\n  got  %s \"%s\"\n  want %s \"%s...\"", c->name, prov_status_name(st), e.msg,
		          prov_status_name(c->st), want);
		if (st == PROV_OK)
			prov_template_free(t);
		/* A NULL error pointer discards the message, not the status (prov/err.h). */
		t = (prov_template *)1;
		st_null = prov_template_load(path, &t, NULL);
		CHECK_MSG(st_null == c->st && t == NULL, "%s: without an error pointer: %s, want %s", c->name,
		          prov_status_name(st_null), prov_status_name(c->st));
		if (st_null == PROV_OK)
			prov_template_free(t);
		n++;
	}
	printf("template: %d bad templates, each rejected\n", n);

	/* A missing template file. */
	{
		prov_template *t = (prov_template *)1;
		prov_err e;
		const char *path = tpath("no-such-template.json");
		char want[700];

		snprintf(want, sizeof(want), "template: cannot open %s: No such file or directory", path);
		CHECK(prov_template_load(path, &t, &e) == PROV_E_NOTFOUND && t == NULL && strcmp(e.msg, want) == 0);
		t = (prov_template *)1;
		CHECK_MSG(prov_template_load(path, &t, NULL) == PROV_E_NOTFOUND && t == NULL,
		          "missing template without an error pointer: not PROV_E_NOTFOUND");
	}
}

static void test_from_db_errors(void)
{
	prov_template *t = (prov_template *)1;
	prov_err e;
	static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
	const char *with_trust = "{\"credentials\":[" PSK "," TRUST "],\"name\":\"t\",\"protocol\":\"mqtt\"}";

	CHECK(prov_template_from_db("{not json", NULL, 0, &t, &e) == PROV_E_DB && t == NULL);
	t = (prov_template *)1;
	CHECK(prov_template_from_db(with_trust, NULL, 0, &t, &e) == PROV_E_DB && t == NULL);
	t = (prov_template *)1;
	CHECK(prov_template_from_db(with_trust, junk, sizeof(junk), &t, &e) == PROV_E_DB && t == NULL);
	/* A stored template must still pass today's checks. */
	t = (prov_template *)1;
	CHECK(prov_template_from_db("{\"name\":\"t\"}", NULL, 0, &t, &e) == PROV_E_INPUT && t == NULL);
	/* Two trust credentials: refused (one of each type), and nothing leaks on
	 * the way (both would take the stored anchors). */
	t = (prov_template *)1;
	CHECK(prov_template_from_db("{\"credentials\":[" TRUST "," TRUST "],\"name\":\"t\",\"protocol\":\"mqtt\"}",
	                            anchors_der, anchors_der_len, &t, &e) == PROV_E_INPUT && t == NULL);
	/* The stored anchors are used, not a file (none exists relative to "."). */
	t = NULL;
	CHECK(prov_template_from_db(with_trust, anchors_der, anchors_der_len, &t, &e) == PROV_OK);
	if (t != NULL) {
		const prov_tpl_cred *c = prov_template_find(t, PROV_CRED_TRUST);

		CHECK(c != NULL && c->n_anchors == 2 && digest_ok(t));
		prov_template_free(t);
	}
}

/* ---- expand ----------------------------------------------------------------------------------------- */

static const struct {
	const char *pattern, *id, *want;
} expand_cases[] = {
	{"{id}", "dev-1", "dev-1"},
	{"CN={id},O=x", "dev-1", "CN=dev-1,O=x"},
	{"{id}.{id}.{id}", "a", "a.a.a"},
	{"{id}{id}", "ab", "abab"},
	{"no placeholder", "dev-1", "no placeholder"},
	{"", "dev-1", ""},
	{"{id}", "", ""},
	{"{i", "x", "{i"},
	{"{id", "x", "{id"},
	{"id}", "x", "id}"},
	{"{ID}", "x", "{ID}"},
	{"{{id}}", "x", "{x}"},
	{"{id}}", "x", "x}"},
	{"{i{id}d}", "x", "{ixd}"},
	{"psk-{id}-end", "00:11:22:33:44:55", "psk-00:11:22:33:44:55-end"},
	{"{id}", "{id}", "{id}"}, /* substituted text is not expanded again */
};

static void test_expand(void)
{
	char id64[65], *want, *got;

	for (size_t i = 0; i < sizeof(expand_cases) / sizeof(expand_cases[0]); i++) {
		got = prov_template_expand(expand_cases[i].pattern, expand_cases[i].id);
		CHECK_MSG(got != NULL && strcmp(got, expand_cases[i].want) == 0,
		          "expand(\"%s\", \"%s\") = \"%s\", want \"%s\"", expand_cases[i].pattern,
		          expand_cases[i].id, got != NULL ? got : "(null)", expand_cases[i].want);
		free(got);
	}
	/* Long: 2 x 64 characters. */
	memset(id64, 'z', 64);
	id64[64] = 0;
	got = prov_template_expand("{id}{id}", id64);
	want = malloc(129);
	if (want != NULL) {
		memset(want, 'z', 128);
		want[128] = 0;
	}
	CHECK(got != NULL && want != NULL && strcmp(got, want) == 0);
	free(got);
	free(want);
}

/* ---- TLS suites ----------------------------------------------------------------------------------------- */

static void test_suites(void)
{
	static const struct {
		const char *name;
		unsigned code;
	} rfc7925[] = {
		{"TLS_PSK_WITH_AES_128_CCM_8", 0xC0A8},         /* RFC 7925 4.2 */
		{"TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", 0xC0AE}, /* RFC 7925 4.4 (and 4.3, RPK) */
		{"TLS_ECJPAKE_WITH_AES_128_CCM_8", 0xC0FF},     /* Thread commissioning */
		{"TLS_AES_128_CCM_8_SHA256", 0x1305},           /* RFC 8446 B.4 */
		{"TLS_AES_128_GCM_SHA256", 0x1301},
		{"TLS_PSK_WITH_AES_128_GCM_SHA256", 0x00A8},    /* RFC 5487 */
	};
	json_t *schema, *list;
	size_t i;
	int n = 0;

	for (i = 0; i < sizeof(rfc7925) / sizeof(rfc7925[0]); i++) {
		const char *nm = prov_tls_suite_name(rfc7925[i].code);

		CHECK_MSG(prov_tls_suite_code(rfc7925[i].name) == rfc7925[i].code, "%s: code %#x", rfc7925[i].name,
		          prov_tls_suite_code(rfc7925[i].name));
		CHECK_MSG(nm != NULL && strcmp(nm, rfc7925[i].name) == 0, "%#x: name %s", rfc7925[i].code,
		          nm != NULL ? nm : "(null)");
	}
	CHECK(prov_tls_suite_code("TLS_NULL_WITH_NULL_NULL") == 0);
	CHECK(prov_tls_suite_code("") == 0);
	CHECK(prov_tls_suite_code("tls_psk_with_aes_128_ccm_8") == 0);
	CHECK(prov_tls_suite_name(0) == NULL);
	CHECK(prov_tls_suite_name(0xFFFF) == NULL);

	/* Every suite the schema admits has a code point, and the table is a
	 * bijection on them. */
	schema = json_loadb((const char *)prov_embedded_template_schema_json,
	                    prov_embedded_template_schema_json_len, 0, NULL);
	list = json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(json_object_get(
	           schema, "$defs"), "tls"), "properties"), "cipher_suites"), "items"), "enum");
	CHECK(json_array_size(list) >= 10);
	for (i = 0; i < json_array_size(list); i++) {
		const char *s = json_string_value(json_array_get(list, i));
		unsigned code = prov_tls_suite_code(s);
		const char *back = prov_tls_suite_name(code);

		CHECK_MSG(code != 0 && back != NULL && strcmp(back, s) == 0, "schema suite %s: code %#x", s, code);
		n++;
	}
	printf("template: %d schema cipher suites map to code points and back\n", n);
	json_decref(schema);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	char cmd[300];

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_template.XXXXXX", base != NULL && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	CHECK_MSG(make_fixtures(), "cannot make the trust anchor fixtures");
	test_shipped();
	test_accepted();
	test_rejected();
	test_from_db_errors();
	test_expand();
	test_suites();
	free(anchors_der);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return check_done("test_template");
}
