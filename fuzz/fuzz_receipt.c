/*
 * fuzz_receipt.c - libFuzzer target for the reader behind `prov receipt verify`
 * (libprov/src/bundle/receipt.c), without the factory database:
 * prov_receipt_parse (size limit, COSE_Sign1 envelope against
 * schemas/receipt.cddl, the device ID) and prov_receipt_check (kid, ES256
 * signature, then every payload rule) with a fixed P-256 device key (a constant
 * scalar, so a crash reproduces).  The lookups prov_receipt_record adds around
 * them (the device's key, the issued bundle, the install row) are SQL with bound
 * values, tested in tests/bats/receipt.bats.
 *
 * An input that decodes to a CBOR map is also signed here by that key as a
 * receipt payload, so the payload rules run behind a valid signature.
 *
 * Checks besides "no crash, no leak, no UB": check never accepts what parse
 * refuses, and both read the same device and kid; an accepted receipt names a
 * valid device ID, a counter above 0 and a nonce of 0 or 8..32 bytes, and
 * carries the fixed key's kid; refusals are one line of printable ASCII.
 * Seeds: fuzz/corpus/receipt/ (fuzz/mkcorpus-device.sh): a receipt agent-sim
 * signed, receipts signed with the fixed key by tests/py/make_receipt.py (every
 * variant receipt.bats uses), and their payloads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prov/bundle.h"
#include "prov/cbor.h"
#include "prov/cose.h"
#include "prov/keys.h"
#include "prov/receipt.h"
#include "prov/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t device_d[32] = "provkit receipt fuzz device key";   /* 31 bytes and a NUL */

static EVP_PKEY *device;
static uint8_t device_kid[8];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	prov_err e;

	(void)argc;
	(void)argv;
	if (prov_key_from_raw_private(PROV_KEY_P256, device_d, sizeof(device_d), &device, &e) != PROV_OK ||
	    prov_key_kid(device, device_kid, &e) != PROV_OK)
		abort();
	return 0;
}

static void tame(const prov_err *e)
{
	if (e->msg[0] == '\0')
		abort();
	for (const char *p = e->msg; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			abort();
}

static void read_receipt(const uint8_t *buf, size_t len)
{
	prov_receipt p, c;
	prov_err e;
	prov_status ps = prov_receipt_parse(buf, len, &p, &e);

	if (ps != PROV_OK)
		tame(&e);
	if (prov_receipt_check(device, buf, len, &c, &e) != PROV_OK) {
		tame(&e);
		return;
	}
	if (ps != PROV_OK || strcmp(p.device, c.device) != 0 || memcmp(p.kid, c.kid, 8) != 0 ||
	    memcmp(c.kid, device_kid, 8) != 0 || !prov_device_id_valid(c.device) || c.counter == 0 ||
	    (c.nonce_len != 0 && (c.nonce_len < PROV_NONCE_MIN || c.nonce_len > PROV_NONCE_MAX)))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cbor_item_t *item = NULL;
	uint8_t *signed_ = NULL;
	size_t signed_len = 0;

	read_receipt(data, size);
	/* a map: the payload of a receipt the device key signs */
	if (size <= PROV_RECEIPT_MAX && prov_cbor_decode(data, size, &item, NULL) == PROV_OK &&
	    cbor_isa_map(item) &&
	    prov_cose_sign1_create(device, device_kid, sizeof(device_kid), data, size, &signed_,
	                           &signed_len, NULL) == PROV_OK)
		read_receipt(signed_, signed_len);
	free(signed_);
	if (item != NULL)
		cbor_decref(&item);
	return 0;
}
