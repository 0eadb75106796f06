/*
 * prov/install.h - provisioning one device over a serial line (SMP, prov/smp.h,
 * docs/serial-protocol.md section 5): the flow behind `prov install`.
 *
 * Per port: info -> register the device under the ID it reports (its identity
 * key is the recipient of its secrets and the key of its receipts) -> key
 * generation and CSR on the device when the template lets the device make its
 * key (else host-made keys) -> mint -> a bundle bound to the device's session
 * nonce -> upload in chunks sized to the device's mtu -> commit -> verify the
 * receipt and record the install.
 *
 * Crash consistency: the mint and the bundle are one transaction, the recorded
 * install another.  In between the device shows as pending (an issued bundle
 * with no install).  A rerun reads the device's counter first: a device that
 * committed while the host was away is recorded from the receipt its status
 * answer carries; a device still short of the DB's bundle gets a new bundle for
 * its new nonce; a device whose counter and digest equal the recorded install
 * is "already provisioned" and nothing changes unless rotate is set.
 *
 * prov_install_port opens its own factory home (its own SQLite connection), so
 * several calls may run at once in different threads, one port each.
 */
#ifndef PROV_INSTALL_H
#define PROV_INSTALL_H

#include <stddef.h>

#include "prov/err.h"

typedef struct prov_install_opts {
	const char *home_dir;          /* NULL: prov_home_dir(NULL) */
	int busy_ms;
	const char *pkcs11_module;     /* keys in a token (prov/home.h prov_token_opts): */
	const char *pin_file;          /* NULL for the environment's */
	const char *template_path;     /* the template new devices are minted from */
	const char *trust_file;        /* --trust: anchors for the trust slot (prov/template.h) */
	unsigned baud;                 /* 0: leave the line's speed alone */
	unsigned timeout_ms;           /* first answer timeout (0: default) */
	unsigned tries;                /* sends per request (0: default) */
	int rotate;                    /* re-issue even if the device is provisioned */
	/* Claim a device ID for this run: 0 if free, -1 if another port holds it
	 * (two devices reporting one ID).  May be NULL. */
	int (*claim)(void *ctx, const char *port, const char *device_id);
	/* Progress: stage is a short word ("info", "mint", "upload", ...); done and
	 * total count bytes for the upload, 0 otherwise.  Called from the port's
	 * thread.  May be NULL. */
	void (*progress)(void *ctx, const char *port, const char *device_id, const char *stage,
	                 size_t done, size_t total);
	void *ctx;
} prov_install_opts;

typedef enum prov_install_outcome {
	PROV_INSTALL_FAILED = 0,
	PROV_INSTALL_INSTALLED,        /* a bundle was uploaded, committed and recorded */
	PROV_INSTALL_ALREADY,          /* the device holds the recorded install: nothing done */
	PROV_INSTALL_RECORDED,         /* the device had committed; its receipt is now recorded */
} prov_install_outcome;

const char *prov_install_outcome_name(prov_install_outcome o);

typedef struct prov_install_result {
	char port[256];
	char device[65];               /* "" until the device answered info */
	prov_install_outcome outcome;
	prov_err err;                  /* err.code PROV_OK unless failed */
	unsigned long long counter;    /* the installed bundle's counter */
	char digest[65];               /* its manifest digest, hex */
	int minted;                    /* credentials were issued (1), re-issued (2) or reused (0) */
	const char *key_origin;        /* "csr" (made on the device), "host", or NULL */
	size_t bundle_len;             /* bytes of the last bundle uploaded */
	unsigned attempts;             /* sessions (info .. commit) it took */
	unsigned long long bytes_out, bytes_in;
	unsigned long requests, retries;
	double seconds;
} prov_install_result;

/* Provision the device on one port; the result says what happened (r->err holds
 * the failure).  Returns r->err.code. */
prov_status prov_install_port(const prov_install_opts *o, const char *port,
                              prov_install_result *r);

#endif
