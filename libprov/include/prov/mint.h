/*
 * prov/mint.h - registering a device and issuing its credentials.
 *
 * prov_mint_one runs inside the caller's transaction (prov_db_begin) and writes
 * every row of one device or nothing (the caller rolls back on failure).  The
 * whole issue of a device (template, mint, bundle, commit) and batches are
 * prov/issue.h.  Secrets (PSKs, host-made private keys) are sealed by the
 * vault (prov/vault.h) before they reach the records, and wiped from memory
 * after use.
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
	int revoke_previous;       /* ... and revoke the generation it supersedes
	                            * (reason superseded; prov/revoke.h) */
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

/* Mint one device (needs PROV_NEED_CA | PROV_NEED_KEK).  Existing device without
 * rotate -> PROV_E_EXISTS. */
prov_status prov_mint_one(prov_home *h, const prov_template *t, const prov_mint_req *r,
                          prov_mint_result *res, prov_err *e);

#endif
