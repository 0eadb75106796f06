/*
 * prov/revoke.h - revoking a device and issuing certificate revocation lists.
 *
 * A revocation is of a device's credential generation: every certificate of
 * it goes on the CRL, its PSKs leave `prov export psk-table`, and the device
 * lists as revoked.  It is final (the database refuses to change or remove
 * it) and audited.  A later `prov mint --rotate` issues a new, unrevoked
 * generation; `--revoke-previous` there revokes the one it supersedes.
 *
 * A CRL (RFC 5280 section 5, X.509 v2) lists every revoked certificate, is
 * signed with the CA's key (a file's or a token's, prov/p11.h) and carries a
 * cRLNumber one above the last one issued, kept in the database (the database
 * refuses a number that does not grow).
 */
#ifndef PROV_REVOKE_H
#define PROV_REVOKE_H

#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"
#include "prov/home.h"

typedef struct prov_revoke_result {
	int generation;                 /* the generation revoked */
	int certificates;               /* its certificates now on the CRL */
	unsigned long long wipe_counter; /* the wipe bundle's counter (0: none) */
} prov_revoke_result;

/* Revoke a device's current generation (reason: an RFC 5280 name,
 * prov_crl_reason_parse) in one transaction with its audit row, and with
 * wipe a signed wipe bundle for it (needs PROV_NEED_SIGNER; *bundle
 * malloc'd).  An unknown device is PROV_E_NOTFOUND; one already revoked
 * PROV_E_EXISTS; an unknown reason PROV_E_USAGE. */
prov_status prov_revoke_device(prov_home *h, const char *id, const char *reason, int wipe,
                               uint8_t **bundle, size_t *bundle_len, prov_revoke_result *res,
                               prov_err *e);

/* Revoke generation gen of a device inside the caller's transaction, with its
 * audit row (a rotation's --revoke-previous). */
prov_status prov_revoke_generation(prov_home *h, const char *id, int gen, const char *reason,
                                   int *n_certs, prov_err *e);

typedef struct prov_crl_info {
	int64_t number;
	int64_t this_update, next_update;
	size_t entries;
} prov_crl_info;

/* Issue the next CRL (needs PROV_NEED_CA), valid for days (1..3650), PEM or
 * DER into *out (malloc'd), recorded with its number and audited. */
prov_status prov_crl_issue(prov_home *h, int days, int der, uint8_t **out, size_t *out_len,
                           prov_crl_info *info, prov_err *e);

#endif
