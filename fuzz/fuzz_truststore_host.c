/*
 * fuzz_truststore_host.c - libFuzzer target for the host's trust store reader
 * (prov_trust_store_check, prov_trust_store_describe) and the signed-store
 * reader (prov_trust_signed_inspect), which `prov trust inspect` runs on files
 * from outside.  The device's reader has its own target (fuzz_trust_store.c).
 *
 * The signer is a fixed P-256 key (a constant scalar, so a crash reproduces).
 * Properties: a store that passes the check describes itself with the same
 * anchor count, and every view points inside the input; a signed store is
 * reported valid only if it passed the signature check (it never can here
 * unless the input carries a signature by the fixed key).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/keys.h"
#include "prov/trust.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t signer_d[32] = {
	0x70, 0x72, 0x6f, 0x76, 0x6b, 0x69, 0x74, 0x20, 0x74, 0x72, 0x75, 0x73, 0x74, 0x20, 0x66, 0x75,
	0x7a, 0x7a, 0x20, 0x73, 0x69, 0x67, 0x6e, 0x65, 0x72, 0x2c, 0x20, 0x6e, 0x6f, 0x74, 0x20, 0x73,
}; /* "provkit trust fuzz signer, not s" */

static EVP_PKEY *signer;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	prov_err e;

	(void)argc;
	(void)argv;
	if (prov_key_from_raw_private(PROV_KEY_P256, signer_d, sizeof(signer_d), &signer, &e) != PROV_OK)
		abort();
	return 0;
}

static void check_store(const uint8_t *data, size_t size)
{
	prov_trust_view *v = NULL;
	size_t n = 0;
	prov_err e;

	if (prov_trust_store_check(data, size, &v, &n, &e) != PROV_OK) {
		if (e.msg[0] == '\0')
			abort(); /* every rejection names its defect */
		free(v);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (v[i].key < data || v[i].key + v[i].key_len > data + size)
			abort();
		if (v[i].record < data || v[i].record + v[i].record_len > data + size)
			abort();
	}
	json_t *j = prov_trust_store_describe(data, size, v, n);
	if (j == NULL || json_integer_value(json_object_get(j, "count")) != (json_int_t)n)
		abort();
	json_decref(j);
	free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = NULL;
	prov_err e;

	check_store(data, size);
	if (prov_trust_is_signed(data, size)) {
		prov_status st = prov_trust_signed_inspect(data, size, &signer, 1, &j, &e);
		if (st == PROV_OK) {
			json_t *s = json_object_get(json_object_get(j, "signed"), "status");
			if (!json_is_string(s) || strcmp(json_string_value(s), "valid") != 0)
				abort();
		}
		json_decref(j);
	}
	return 0;
}
