/*
 * fuzz_template.c - libFuzzer target for device templates: JSON text from a
 * file someone hands the factory.
 *
 * Each input is parsed with json_loadb (as prov_template_load does, rejecting
 * duplicate keys) and validated with prov_jsonschema_validate against the
 * template schema compiled into libprov (build-fuzz/gen/embedded.h); then the
 * same text goes through prov_template_from_db, which runs the schema and all of
 * provkit's own rules (template.c check_rules/check_cred: DNs, PSK identities,
 * base64 SPKIs, ...) without touching the file system (the trust anchors are a
 * fixed DER certificate made at startup).
 * Properties: the validator's verdict does not depend on the error pointer; a
 * template that from_db accepts passed the schema, and rebuilds from its own
 * canonical JSON with the same digest.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "prov/jsonschema.h"
#include "prov/keys.h"
#include "prov/template.h"
#include "prov/x509.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *schema;
static uint8_t *anchor;
static size_t anchor_len;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_template: %s: %s\n", what, why);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const uint8_t d[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
	                              17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
	EVP_PKEY *k = NULL;
	X509 *ca = NULL;
	json_error_t je;
	prov_err e;

	(void)argc;
	(void)argv;
	schema = json_loadb((const char *)prov_embedded_template_schema_json,
	                    prov_embedded_template_schema_json_len, 0, &je);
	if (schema == NULL)
		die("schema", je.text);
	if (prov_key_from_raw_private(PROV_KEY_P256, d, sizeof(d), &k, &e) != PROV_OK ||
	    prov_x509_ca_create(k, "CN=fuzz anchor", 1767225600, 365, &ca, &e) != PROV_OK ||
	    prov_x509_der(ca, &anchor, &anchor_len, &e) != PROV_OK)
		die("anchor", e.msg);
	X509_free(ca);
	EVP_PKEY_free(k);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	/* As prov_template_load reads a file (duplicate keys refused) ... */
	json_t *root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
	/* ... and as prov_template_from_db reads the database (they cannot occur). */
	json_t *lax = json_loadb((const char *)data, size, 0, &je);
	prov_status valid = PROV_E_INPUT, st;
	prov_template *t = NULL, *u = NULL;
	char *text;
	prov_err e;

	if (root != NULL) {
		valid = prov_jsonschema_validate(schema, root, &e);
		if (valid != PROV_OK && valid != PROV_E_INPUT)
			die("validate", e.msg);
		if (prov_jsonschema_validate(schema, root, NULL) != valid)
			die("validate", "verdict depends on the error pointer");
		json_decref(root);
	}
	if (lax != NULL) {
		valid = prov_jsonschema_validate(schema, lax, NULL);
		json_decref(lax);
	}

	/* from_db reads a NUL-terminated text. */
	text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	st = prov_template_from_db(text, anchor, anchor_len, &t, &e);
	if (st == PROV_OK) {
		if (valid != PROV_OK && strlen(text) == size)
			die("from_db", "accepted a template the schema rejects");
		if (prov_template_from_db(t->canonical, t->trust_der, t->trust_der_len, &u, &e) != PROV_OK)
			die("from_db of canonical", e.msg);
		if (memcmp(u->digest, t->digest, sizeof(t->digest)) != 0 || strcmp(u->canonical, t->canonical) != 0)
			die("from_db of canonical", "another digest");
		for (size_t i = 0; i < t->n_creds; i++) {
			const prov_tpl_cred *c = &t->creds[i];
			char *x = NULL;

			if (c->kind == PROV_CRED_CERT)
				x = prov_template_expand(c->subject, "dev-1");
			else if (c->kind == PROV_CRED_PSK)
				x = prov_template_expand(c->identity, "dev-1");
			free(x);
		}
		prov_template_free(u);
		prov_template_free(t);
	} else if (st != PROV_E_INPUT && st != PROV_E_DB) {
		fprintf(stderr, "fuzz_template: from_db: unexpected status %d: %s\n", st, e.msg);
		abort();
	}
	free(text);
	return 0;
}
