/*
 * prov/issue.h - the one issue path: store the template, mint a device, build
 * and record its bundle, commit.
 *
 * `prov mint` (one device), `prov mint --count/--devices` (a batch) and
 * `prov install` (a device on a serial port) all issue through here; the
 * steps themselves are prov_template_store (prov/template.h), prov_mint_one
 * (prov/mint.h) and prov_bundle_build (prov/bundle.h).
 *
 * One transaction function (issue_txn in issue/issue.c) does it all: begin,
 * store the template, mint and bundle each device, commit; or roll back and
 * leave nothing of them; and run again after a collision with another
 * station.  prov_issue_device calls it for one device, so every row of the
 * device and its bundle is recorded, or nothing.  prov_issue_batch calls it
 * once for the template (so stations starting a batch at the same time do not
 * wait for each other's first chunk), then for each chunk of devices, so a crash or an error loses at most the chunk
 * in progress, never leaves half a device, and re-running the batch with
 * skip_existing finishes it; a chunk looks its devices up at once, and its
 * bundle files reach the disk before it commits and are removed when it
 * rolls back.  The statements of the records layer are prepared once and
 * reused by every device.  Needs a home opened with PROV_NEED_CA |
 * PROV_NEED_KEK, and PROV_NEED_SIGNER for bundles.
 */
#ifndef PROV_ISSUE_H
#define PROV_ISSUE_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "prov/bundle.h"
#include "prov/err.h"
#include "prov/home.h"
#include "prov/mint.h"
#include "prov/template.h"

typedef struct prov_issue_req {
	int mint;                  /* mint the device (rotate: re-issue); 0: it keeps its credentials */
	prov_mint_req m;           /* the device and how to mint it (m.device_id is the device) */
	int bundle;                /* build, sign and record its next bundle ... */
	prov_bundle_opts b;        /* ... with these options */
} prov_issue_req;

/* Issue one device in its own transaction.  res (when minting) as
 * prov_mint_one fills it; with r->bundle, *info describes the bundle and
 * *bundle (malloc'd; the caller wipes and frees it) holds it when bundle is
 * not NULL.  On failure nothing of it is recorded. */
prov_status prov_issue_device(prov_home *h, const prov_template *t, const prov_issue_req *r,
                              prov_mint_result *res, prov_bundle_info *info, uint8_t **bundle,
                              size_t *bundle_len, prov_err *e);

typedef struct prov_batch_opts {
	size_t chunk;               /* devices per transaction (0: 256) */
	int rotate;
	int revoke_previous;        /* with rotate: revoke each superseded generation */
	int skip_existing;
	int bundles;                /* build and record each device's bundle */
	const char *bundle_dir;     /* ... and write it to DIR/<id>.cbor (implies bundles) */
	EVP_PKEY *recipient;        /* for the bundles' secrets */
	const uint8_t *recipient_spki; /* filled by prov_issue_batch */
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

prov_status prov_issue_batch(prov_home *h, const prov_template *t, char *const *ids, size_t n,
                             const prov_batch_opts *o, prov_batch_summary *sum, prov_err *e);

#endif
