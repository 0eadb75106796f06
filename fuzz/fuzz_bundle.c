/*
 * fuzz_bundle.c - libFuzzer target for the bundle reader (prov_bundle_inspect)
 * and the COSE_Sign1 verifier under it (prov_cose_sign1_verify).
 *
 * The signer is a fixed P-256 key (a constant scalar, so a crash reproduces with
 * the same key).  Each input is used twice:
 *   1. as a whole bundle: inspected against the signer, and verified directly
 *      (tagged only; untagged allowed with an external AAD) against the signer, a
 *      P-384 and an Ed25519 key, which exercises the alg/key matching;
 *   2. when it decodes to a CBOR map, as a bundle *payload*: signed here with the
 *      fixed signer, then inspected, so the payload checks (schemas/bundle.cddl)
 *      and the JSON description run behind a valid signature too.
 * Properties: inspect returns PROV_OK only with a description whose signature
 * status is "valid"; a bundle signed here always verifies and names our kid.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/bundle.h"
#include "prov/cbor.h"
#include "prov/cose.h"
#include "prov/keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t signer_d[32] = {
	0x70, 0x72, 0x6f, 0x76, 0x6b, 0x69, 0x74, 0x20, 0x66, 0x75, 0x7a, 0x7a, 0x20, 0x73, 0x69, 0x67,
	0x6e, 0x65, 0x72, 0x20, 0x6b, 0x65, 0x79, 0x2c, 0x20, 0x6e, 0x6f, 0x74, 0x20, 0x73, 0x65, 0x63,
}; /* "provkit fuzz signer key, not sec" */
static const uint8_t p384_d[48] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
	0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30,
};
static const uint8_t ed_seed[32] = {
	0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
	0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
}; /* RFC 8032 test 1 */

static EVP_PKEY *keys[3]; /* signer (P-256), P-384, Ed25519 */
static uint8_t signer_kid[8];

static void die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_bundle: %s: %s\n", what, why);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	prov_err e;

	(void)argc;
	(void)argv;
	if (prov_key_from_raw_private(PROV_KEY_P256, signer_d, sizeof(signer_d), &keys[0], &e) != PROV_OK ||
	    prov_key_from_raw_private(PROV_KEY_P384, p384_d, sizeof(p384_d), &keys[1], &e) != PROV_OK ||
	    prov_key_from_raw_private(PROV_KEY_ED25519, ed_seed, sizeof(ed_seed), &keys[2], &e) != PROV_OK ||
	    prov_key_kid(keys[0], signer_kid, &e) != PROV_OK)
		die("keys", e.msg);
	return 0;
}

static void inspect(const uint8_t *buf, size_t len, int must_verify)
{
	json_t *j = NULL;
	prov_err e;
	prov_status st = prov_bundle_inspect(buf, len, keys, 1, &j, &e);

	if (st == PROV_OK) {
		json_t *sig = json_object_get(j, "signature");
		const char *status = json_string_value(json_object_get(sig, "status"));

		if (j == NULL || status == NULL || strcmp(status, "valid") != 0)
			die("inspect", "PROV_OK without a valid signature in the description");
		/* The description must serialise (it is what `prov inspect --json` prints). */
		{
			char *s = json_dumps(j, JSON_COMPACT);

			if (s == NULL)
				die("inspect", "description does not serialise");
			free(s);
		}
	} else if (st == PROV_E_VERIFY) {
		if (must_verify)
			die("inspect", "our own signature does not verify");
	} else if (st != PROV_E_INPUT) {
		fprintf(stderr, "fuzz_bundle: inspect: unexpected status %d: %s\n", st, e.msg);
		abort();
	}
	json_decref(j);
}

static void verify(const uint8_t *buf, size_t len)
{
	prov_cose_sign1_info info;
	prov_err e;
	prov_status st;

	st = prov_cose_sign1_verify(keys, 3, buf, len, NULL, 0, 0, &info, &e);
	if (st == PROV_OK && (info.key_index >= 3 || info.payload == NULL || info.payload < buf ||
	                      info.payload + info.payload_len > buf + len))
		die("verify", "info points outside the message");
	st = prov_cose_sign1_verify(keys, 3, buf, len, (const uint8_t *)"aad", 3, 1, &info, &e);
	(void)st;
}

/* Sign the input as a payload with the fixed signer and inspect the result. */
static void as_payload(const uint8_t *data, size_t size)
{
	cbor_item_t *item = NULL;
	uint8_t *msg = NULL;
	size_t msg_len = 0;
	prov_cose_sign1_info info;
	prov_err e;
	int is_map;

	if (size > PROV_BUNDLE_MAX - 200 || prov_cbor_decode(data, size, &item, NULL) != PROV_OK)
		return;
	is_map = cbor_isa_map(item);
	cbor_decref(&item);
	if (!is_map)
		return;
	if (prov_cose_sign1_create(keys[0], signer_kid, sizeof(signer_kid), data, size, &msg, &msg_len, &e) !=
	    PROV_OK)
		die("sign", e.msg);
	if (prov_cose_sign1_verify(keys, 1, msg, msg_len, NULL, 0, 0, &info, &e) != PROV_OK ||
	    info.kid_len != sizeof(signer_kid) || memcmp(info.kid, signer_kid, sizeof(signer_kid)) != 0 ||
	    info.payload_len != size || memcmp(info.payload, data, size) != 0)
		die("verify own", e.msg);
	inspect(msg, msg_len, 1);
	free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	inspect(data, size, 0);
	verify(data, size);
	as_payload(data, size);
	return 0;
}
