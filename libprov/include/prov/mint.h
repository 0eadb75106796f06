/*
 * prov/mint.h - registering devices and issuing their credentials.
 *
 * prov_mint_one runs inside the caller's transaction (prov_db_begin) and writes
 * every row of one device or nothing (the caller rolls back on failure).
 * prov_mint_batch commits in chunks: each chunk is one transaction, so a crash or
 * an error loses at most the chunk in progress, never leaves half a device, and
 * re-running the batch with skip_existing finishes it.
 * Secrets (PSKs, host-made private keys) are sealed before they reach the database
 * and wiped from memory after use.
 */
#ifndef PROV_MINT_H
#define PROV_MINT_H

#include <openssl/evp.h>
#include <stddef.h>

#include "prov/err.h"
#include "prov/home.h"
#include "prov/template.h"
#include "prov/x509.h"

typedef struct prov_mint_req {
	const char *device_id;
	const char *csr_path;      /* the device's CSR, or NULL */
	const char *pubkey_path;   /* the device's public key, or NULL */
	EVP_PKEY *recipient;       /* key secrets are encrypted to (else the device key) */
	const uint8_t *recipient_spki; /* its DER SPKI when the caller has it (batches) */
	size_t recipient_spki_len;
	int rotate;                /* re-issue for an existing device */
} prov_mint_req;

typedef struct prov_mint_result {
	char device_id[65];
	int generation;
	int rotated;
	int skipped;                       /* existed and skip_existing was set */
	int existed;                       /* the device was already registered */
	int has_cert;
	char serial[2 * PROV_SERIAL_LEN + 1];
	const char *key_origin;            /* "csr", "pubkey", "host" or NULL */
	char psk_identity[PROV_PSK_IDENTITY_MAX + 1];
	char bundle_path[4096];            /* batch with bundle_dir */
	unsigned long long bundle_counter;
} prov_mint_result;

/* Record the template in the database if it is not there yet. */
prov_status prov_template_store(prov_home *h, const prov_template *t, prov_err *e);

/* Mint one device (needs PROV_NEED_CA | PROV_NEED_KEK).  Existing device without
 * rotate -> PROV_E_EXISTS. */
prov_status prov_mint_one(prov_home *h, const prov_template *t, const prov_mint_req *r,
                          prov_mint_result *res, prov_err *e);

typedef struct prov_batch_opts {
	size_t chunk;               /* devices per transaction (0: 256) */
	int rotate;
	int skip_existing;
	int bundles;                /* build and record each device's bundle */
	const char *bundle_dir;     /* ... and write it to DIR/<id>.cbor (implies bundles) */
	EVP_PKEY *recipient;        /* for the bundles' secrets */
	const uint8_t *recipient_spki; /* filled by prov_mint_batch */
	size_t recipient_spki_len;
	const uint8_t *recipient_kid;
	int insecure_plaintext;
	/* Called after each committed chunk, per device, in order. */
	void (*on_result)(void *ctx, const prov_mint_result *r);
	void (*on_progress)(void *ctx, size_t done, size_t total);
	void *ctx;
} prov_batch_opts;

typedef struct prov_batch_summary {
	size_t requested, minted, rotated, skipped;
	const char *failed_id;      /* the device that stopped the batch, or NULL */
} prov_batch_summary;

prov_status prov_mint_batch(prov_home *h, const prov_template *t, char *const *ids, size_t n,
                            const prov_batch_opts *o, prov_batch_summary *sum, prov_err *e);

#endif
