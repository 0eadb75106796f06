/*
 * prov/receipt.h - install receipts: what a device signs after installing a
 * bundle, and how the factory checks and records it (schemas/receipt.cddl,
 * docs/receipt-format.md).
 *
 * A receipt is a COSE_Sign1 (tag 18, ES256) by the device's own key (the agent's
 * identity key, registered at mint as the device's recipient key) over a
 * deterministic-CBOR map: format version, device ID, the bundle's counter, the
 * manifest digest (SHA-256 of the bundle's payload bytes) and the bundle's nonce
 * when it had one.  The protected header is {1: -7, 4: kid}, kid = the first 8
 * bytes of SHA-256 over the device key's DER SubjectPublicKeyInfo.
 *
 * prov_receipt_record trusts nothing in a receipt before its signature has been
 * verified with the key the database holds for the device it names; then every
 * field must match a bundle the factory issued to that device.  Each failure has
 * its own message and status (docs/cli.md, `prov receipt verify`).  Reentrant;
 * a prov_home is used by one thread at a time.
 */
#ifndef PROV_RECEIPT_H
#define PROV_RECEIPT_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"
#include "prov/home.h"

#define PROV_RECEIPT_VERSION 1
/* Largest receipt accepted: 64-byte device ID, 32-byte digest and nonce, the
 * envelope and a 64-byte signature come to under 300 bytes. */
#define PROV_RECEIPT_MAX 1024
#define PROV_RECEIPT_DIGEST_LEN 32

/* Receipt payload map keys. */
enum {
	PROV_R_VERSION = 1,
	PROV_R_DEVICE = 2,
	PROV_R_COUNTER = 3,
	PROV_R_DIGEST = 4,
	PROV_R_NONCE = 5,
};

/* The fields of a receipt (filled as far as they were read). */
typedef struct prov_receipt {
	char device[65];
	unsigned long long counter;
	uint8_t digest[PROV_RECEIPT_DIGEST_LEN];
	uint8_t nonce[32];
	size_t nonce_len;          /* 0: no nonce */
	uint8_t kid[8];
	int wipe;                  /* the bundle it acknowledges was a wipe bundle */
	int already;               /* it had been recorded before: nothing added */
} prov_receipt;

/* The manifest digest of a bundle: SHA-256 of the payload bytes inside its
 * COSE_Sign1 (not verified here).  PROV_E_INPUT if it is not a COSE_Sign1. */
prov_status prov_receipt_manifest_digest(const uint8_t *bundle, size_t len,
                                         uint8_t digest[PROV_RECEIPT_DIGEST_LEN], prov_err *e);

/* Build a receipt as the agent does (tests, tools): signed with `device_key`
 * (P-256).  nonce may be NULL.  *out is malloc'd. */
prov_status prov_receipt_build(EVP_PKEY *device_key, const char *device_id,
                               unsigned long long counter,
                               const uint8_t digest[PROV_RECEIPT_DIGEST_LEN],
                               const uint8_t *nonce, size_t nonce_len, uint8_t **out,
                               size_t *out_len, prov_err *e);

/* The two steps of reading a receipt that need no factory (prov_receipt_record
 * runs them around its database lookups; fuzz/fuzz_receipt.c runs them on
 * anything):
 * - parse: the size limit and the envelope against schemas/receipt.cddl, and
 *   the device ID it names; fills r->kid and r->device only, neither trusted
 *   yet (they say which key must have signed).  PROV_E_INPUT if not a receipt.
 * - check: the same, then with the device's key: the kid (PROV_E_VERIFY
 *   another key), the ES256 signature (PROV_E_VERIFY), and only then every
 *   rule of the payload (PROV_E_INPUT); fills counter, digest and nonce. */
prov_status prov_receipt_parse(const uint8_t *buf, size_t len, prov_receipt *r, prov_err *e);
prov_status prov_receipt_check(EVP_PKEY *key, const uint8_t *buf, size_t len, prov_receipt *r,
                               prov_err *e);

/* Verify a receipt against the factory database and record the install, inside
 * the caller's transaction (prov_db_begin ... prov_db_commit): an installs row
 * (device, counter, digest, the receipt bytes), the device's status 'installed'
 * and an audit row "install".  A receipt recorded before is reported with
 * r->already = 1 and adds nothing.  Failures:
 *   PROV_E_INPUT     not a receipt (CBOR, COSE shape, payload against the CDDL)
 *   PROV_E_NOTFOUND  unknown device; no registered device key; no bundle with
 *                    that counter; the bundle was not stored (lab bundle)
 *   PROV_E_VERIFY    signed by another key (kid), bad signature, manifest digest
 *                    or nonce not those of the bundle
 */
prov_status prov_receipt_record(prov_home *h, const uint8_t *buf, size_t len, prov_receipt *r,
                                prov_err *e);

#endif
