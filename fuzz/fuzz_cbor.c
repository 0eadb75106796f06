/*
 * fuzz_cbor.c - libFuzzer target for the CBOR layer (prov/cbor.h): every byte a
 * bundle, a COSE message or a device's reply carries goes through it first.
 *
 * For each input:
 *   - prov_cbor_item_len and prov_cbor_decode must agree: a decoded item spans
 *     the whole input;
 *   - prov_cbor_is_deterministic must not crash, and an input it accepts must be
 *     exactly what prov_cbor_encode makes of its decoding;
 *   - whatever decodes and re-encodes (prov_cbor_encode refuses floats,
 *     indefinite lengths, duplicate keys and unusual simple values) must decode
 *     again, be deterministic, and re-encode to the same bytes (idempotence).
 * A broken property aborts, so libFuzzer saves the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/cbor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond)                                                                     \
	do {                                                                                  \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "fuzz_cbor: property broken: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                                      \
		}                                                                                 \
	} while (0)

/* Walk the tree with the lookup helpers the COSE and bundle code use. */
static void touch(const cbor_item_t *it, int depth)
{
	int64_t v;

	if (it == NULL || depth > 80)
		return;
	(void)prov_cbor_get_int(it, &v);
	if (cbor_isa_map(it)) {
		struct cbor_pair *p = cbor_map_handle(it);

		(void)prov_cbor_map_get_int(it, 1);
		(void)prov_cbor_map_get_int(it, -1);
		for (size_t i = 0; i < cbor_map_size(it); i++) {
			touch(p[i].key, depth + 1);
			touch(p[i].value, depth + 1);
		}
	} else if (cbor_isa_array(it)) {
		cbor_item_t **a = cbor_array_handle(it);

		for (size_t i = 0; i < cbor_array_size(it); i++)
			touch(a[i], depth + 1);
	} else if (cbor_isa_tag(it)) {
		cbor_item_t *in = cbor_tag_item(it);

		touch(in, depth + 1);
		cbor_decref(&in);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cbor_item_t *item = NULL, *again = NULL;
	uint8_t *enc = NULL, *enc2 = NULL;
	size_t enc_len = 0, enc2_len = 0, item_len = 0;
	prov_status st, lst;
	int det;

	lst = prov_cbor_item_len(data, size, &item_len, NULL);
	st = prov_cbor_decode(data, size, &item, NULL);
	det = prov_cbor_is_deterministic(data, size);
	if (st != PROV_OK) {
		REQUIRE(item == NULL);
		REQUIRE(!det);
		return 0;
	}
	REQUIRE(item != NULL);
	REQUIRE(lst == PROV_OK && item_len == size);
	touch(item, 0);

	if (prov_cbor_encode(item, &enc, &enc_len, NULL) == PROV_OK) {
		REQUIRE(enc != NULL && enc_len > 0);
		if (det)
			REQUIRE(enc_len == size && memcmp(enc, data, size) == 0);
		/* What we encode, we decode. */
		REQUIRE(prov_cbor_decode(enc, enc_len, &again, NULL) == PROV_OK);
		REQUIRE(prov_cbor_is_deterministic(enc, enc_len));
		REQUIRE(prov_cbor_encode(again, &enc2, &enc2_len, NULL) == PROV_OK);
		REQUIRE(enc2_len == enc_len && memcmp(enc2, enc, enc_len) == 0);
	} else {
		REQUIRE(!det);
	}
	free(enc);
	free(enc2);
	if (again != NULL)
		cbor_decref(&again);
	cbor_decref(&item);
	return 0;
}
