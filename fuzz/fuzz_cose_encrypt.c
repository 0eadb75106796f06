/*
 * fuzz_cose_encrypt.c - libFuzzer target for COSE_Encrypt decryption
 * (prov_cose_decrypt_ecdh_es): how secrets reach a device, parsed from bytes an
 * attacker may have rewritten.
 *
 * The input is decoded with prov_cbor_decode and decrypted with a fixed P-256
 * recipient key: the one of the cose-wg example p256-hkdf-256-01
 * ("meriadoc.brandybuck@buckland.example"), so the seed vectors and bundles
 * minted to that key decrypt and the fuzzer starts past the authentication
 * check.  A message that decrypts is decoded again as CBOR (a bundle's secrets
 * are a CBOR array).  Output buffers of several sizes check the bounds logic.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/cbor.h"
#include "prov/cose.h"
#include "prov/keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* d of the example's recipient key (base64url r_kHyZ-a06rmxM3yESK84r1otSg-aQcVStkRhA-iCM8). */
static const uint8_t recipient_d[32] = {
	0xaf, 0xf9, 0x07, 0xc9, 0x9f, 0x9a, 0xd3, 0xaa, 0xe6, 0xc4, 0xcd, 0xf2, 0x11, 0x22, 0xbc, 0xe2,
	0xbd, 0x68, 0xb5, 0x28, 0x3e, 0x69, 0x07, 0x15, 0x4a, 0xd9, 0x11, 0x84, 0x0f, 0xa2, 0x08, 0xcf,
};

static EVP_PKEY *recipient;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	prov_err e;

	(void)argc;
	(void)argv;
	if (prov_key_from_raw_private(PROV_KEY_P256, recipient_d, sizeof(recipient_d), &recipient, &e) !=
	    PROV_OK) {
		fprintf(stderr, "fuzz_cose_encrypt: recipient key: %s\n", e.msg);
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t caps[] = {0, 16, 4096};
	cbor_item_t *msg = NULL;
	uint8_t *pt = malloc(4096);
	prov_err e;

	if (pt == NULL || prov_cbor_decode(data, size, &msg, NULL) != PROV_OK) {
		free(pt);
		return 0;
	}
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		size_t pt_len = 12345;
		prov_status st;

		/* A NULL buffer is allowed for capacity 0. */
		st = prov_cose_decrypt_ecdh_es(recipient, msg, NULL, 0, caps[i] ? pt : NULL, caps[i],
		                               &pt_len, &e);
		if (st != PROV_OK) {
			if (pt_len != 0) {
				fprintf(stderr, "fuzz_cose_encrypt: failed (%s) but *pt_len = %zu\n", e.msg, pt_len);
				abort();
			}
			continue;
		}
		if (pt_len > caps[i]) {
			fprintf(stderr, "fuzz_cose_encrypt: %zu bytes into a %zu-byte buffer\n", pt_len, caps[i]);
			abort();
		}
		if (pt_len > 0) {
			cbor_item_t *secrets = NULL;

			if (prov_cbor_decode(pt, pt_len, &secrets, NULL) == PROV_OK)
				cbor_decref(&secrets);
		}
		/* With an external AAD it was not made with, it must not open. */
		if (prov_cose_decrypt_ecdh_es(recipient, msg, (const uint8_t *)"aad", 3, pt, caps[i], &pt_len,
		                              NULL) == PROV_OK) {
			fprintf(stderr, "fuzz_cose_encrypt: opened with and without external AAD\n");
			abort();
		}
	}
	cbor_decref(&msg);
	free(pt);
	return 0;
}
