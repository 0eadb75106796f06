/*
 * prov/records.h - the factory's records: every SQL statement of provkit lives
 * behind these functions (libprov/src/factory/records.c), and nothing else
 * speaks SQL.  Callers ask for what they mean (a device, its key of a
 * generation, the next bundle) and never see a row or a statement; a second
 * database engine (prov/db.h, docs/database.md) serves the same functions.
 *
 * Ownership.  A getter fills a prov_rec_* the caller owns: its pointers are
 * malloc'd (free with the matching prov_rec_*_free, also after a failure or a
 * "not found"), its text NUL-terminated.  An iterator hands its callback a
 * row whose pointers are borrowed until the callback returns; the callback
 * may call other records functions, not the same iterator.  Arguments are
 * only read.  Sealed values (prov/vault.h) pass through as they are stored:
 * the records layer never opens one.
 *
 * Transactions are the caller's (prov_db_begin .. prov_db_commit): a writer
 * that must be atomic with others runs inside one.  Statements are cached per
 * connection, so a batch prepares each once.  Failures are mapped by the
 * engine (prov/db.h) and say what was being done ("recording the PSK: ...").
 * What a row says is outside data: text may be any bytes (lengths are given),
 * and callers check sizes before they trust them.
 */
#ifndef PROV_RECORDS_H
#define PROV_RECORDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "prov/db.h"
#include "prov/err.h"

/* ---- settings and the audit log ----------------------------------------------- */

/* Key/value settings (the meta table).  get: PROV_E_NOTFOUND if absent; *val
 * is malloc'd and NUL-terminated (not counted in *len). */
prov_status prov_records_meta_set(prov_db *db, const char *key, const void *val, size_t len,
                                  prov_err *e);
/* The same for a setting that must not exist yet (PROV_E_EXISTS if it does). */
prov_status prov_records_meta_add(prov_db *db, const char *key, const void *val, size_t len,
                                  prov_err *e);
prov_status prov_records_meta_get(prov_db *db, const char *key, uint8_t **val, size_t *len,
                                  prov_err *e);

/* Append to the audit log (append-only).  detail: a JSON text or NULL. */
prov_status prov_records_audit(prov_db *db, const char *action, const char *device,
                               const char *detail, prov_err *e);

/* ---- stations (issue 14) ------------------------------------------------------- */

/* Register a station of the factory (a duplicate name is PROV_E_EXISTS from
 * the constraint: look first with prov_records_station_count). */
prov_status prov_records_station_add(prov_db *db, const char *name, const char *detail, prov_err *e);
/* How many stations are registered (name NULL), or whether `name` is (0/1). */
prov_status prov_records_station_count(prov_db *db, const char *name, long long *n, prov_err *e);

/* ---- templates ------------------------------------------------------------------ */

/* A template as minted devices keep it: its digest (hex of SHA-256 over the
 * canonical JSON and the trust anchors), name, canonical JSON, anchors. */
typedef struct prov_rec_template {
	const char *digest;
	const char *name;
	const char *json;
	const uint8_t *trust_der;  /* NULL: none */
	size_t trust_len;
} prov_rec_template;

/* Record it unless a template with its digest is there. */
prov_status prov_records_template_add(prov_db *db, const prov_rec_template *t, prov_err *e);
/* The JSON and anchors of a recorded template (malloc'd; *trust NULL when it
 * has none).  A missing one is PROV_E_DB: a device names it. */
prov_status prov_records_template(prov_db *db, const char *digest, char **json, uint8_t **trust,
                                  size_t *trust_len, prov_err *e);

/* ---- devices -------------------------------------------------------------------- */

typedef struct prov_rec_device {
	char template_digest[65];
	int generation;
	unsigned long long bundle_counter;
	uint8_t *recipient_spki;      /* NULL: no registered key */
	size_t recipient_spki_len;
} prov_rec_device;
void prov_rec_device_free(prov_rec_device *d);

/* A device; PROV_E_NOTFOUND "unknown device ID" if none. */
prov_status prov_records_device(prov_db *db, const char *id, prov_rec_device *d, prov_err *e);
/* Its current generation, 0 if the device is not registered. */
prov_status prov_records_device_generation(prov_db *db, const char *id, int *gen, prov_err *e);
/* Inside a transaction: look up the generations of n devices at once (a
 * batch's chunk), so prov_records_device_generation answers for them until
 * the transaction ends.  Outside one, nothing. */
prov_status prov_records_device_generations(prov_db *db, char *const *ids, size_t n, prov_err *e);

/* Register a new device (generation 1, status minted) with its template and
 * the key its secrets are encrypted to (NULL: none). */
prov_status prov_records_device_add(prov_db *db, const char *id, const char *template_digest,
                                    const uint8_t *recipient_spki, size_t spki_len, prov_err *e);
/* Re-issue: the next generation, status minted, this template; the
 * recipient key replaced when one is given.  *gen: the new generation. */
prov_status prov_records_device_rotate(prov_db *db, const char *id, const char *template_digest,
                                       const uint8_t *recipient_spki, size_t spki_len, int *gen,
                                       prov_err *e);
/* A bundle was issued: the counter (only grows: the database refuses less)
 * and status bundled (an installed device stays installed). */
prov_status prov_records_device_bundled(prov_db *db, const char *id, unsigned long long counter,
                                        prov_err *e);
/* The device's template becomes this one (a --trust override). */
prov_status prov_records_device_set_template(prov_db *db, const char *id,
                                             const char *template_digest, prov_err *e);
/* An install was recorded: status installed. */
prov_status prov_records_device_installed(prov_db *db, const char *id, prov_err *e);

/* One line of `prov list`: text columns as stored (any bytes, with lengths). */
typedef struct prov_rec_listed {
	const char *id, *status, *template_name;
	size_t id_len, status_len, template_name_len;
	int64_t generation, bundle_counter, created_at, updated_at;
} prov_rec_listed;

/* Every device in ID order, or those with a status (minted, bundled,
 * installed, revoked, or "pending": a bundle issued and not installed).  A
 * device whose current generation is revoked lists as "revoked".  cb returns
 * PROV_OK to go on; another status stops and is returned. */
prov_status prov_records_devices(prov_db *db, const char *status, const char *station,
                                 prov_status (*cb)(void *ctx, const prov_rec_listed *d, prov_err *e),
                                 void *ctx, prov_err *e);

/* Everything recorded about a device, every generation, as `prov show --json`
 * prints it (docs/cli.md): its row, then "keys", "certificates", "psks",
 * "raw_keys", "bundles", "installs", "revocations", "audit".  No secret is read.  Times are
 * ISO 8601; public blobs hex (over 128 bytes: their SHA-256 and size); text
 * that is not UTF-8 escaped.  Unknown device: PROV_E_NOTFOUND. */
prov_status prov_records_device_report(prov_db *db, const char *id, json_t **out, prov_err *e);

/* ---- credentials ---------------------------------------------------------------- */

/* A device key of one generation.  sealed: the host-made private key, sealed
 * (prov/vault.h), NULL for a key made on the device. */
typedef struct prov_rec_key {
	int generation;
	char key_type[32];
	char origin[32];              /* csr, pubkey or host */
	uint8_t *spki;
	size_t spki_len;
	uint8_t *sealed;
	size_t sealed_len;
} prov_rec_key;
void prov_rec_key_free(prov_rec_key *k);

prov_status prov_records_key_add(prov_db *db, const char *id, int gen, const char *key_type,
                                 const char *origin, const uint8_t *spki, size_t spki_len,
                                 const uint8_t *sealed, size_t sealed_len, prov_err *e);
/* The key of generation gen (gen 0: the newest key, of whatever generation);
 * *found 0 when there is none. */
prov_status prov_records_key(prov_db *db, const char *id, int gen, prov_rec_key *k, int *found,
                             prov_err *e);

typedef struct prov_rec_cert {
	const char *device;
	int generation;
	int64_t slot;
	const char *serial;           /* lower-case hex: UNIQUE */
	const char *subject;
	const char *not_before, *not_after;
	const uint8_t *der;
	size_t der_len;
} prov_rec_cert;

/* PROV_E_EXISTS when the serial is taken (draw another). */
prov_status prov_records_cert_add(prov_db *db, const prov_rec_cert *c, prov_err *e);
/* The DER of the certificate in a slot (slot < 0: the lowest); *found 0 if none. */
prov_status prov_records_cert(prov_db *db, const char *id, int gen, int64_t slot, uint8_t **der,
                              size_t *der_len, int *found, prov_err *e);

typedef struct prov_rec_psk {
	int64_t slot;
	int bits;
	uint8_t *identity;            /* as stored (bytes) */
	size_t identity_len;
	uint8_t *sealed;              /* prov/vault.h */
	size_t sealed_len;
} prov_rec_psk;
void prov_rec_psk_free(prov_rec_psk *p);

prov_status prov_records_psk_add(prov_db *db, const char *id, int gen, int64_t slot,
                                 const uint8_t *identity, size_t identity_len, int bits,
                                 const uint8_t *sealed, size_t sealed_len, prov_err *e);
/* The PSK in a slot (slot < 0: the first issued); *found 0 if none. */
prov_status prov_records_psk(prov_db *db, const char *id, int gen, int64_t slot, prov_rec_psk *p,
                             int *found, prov_err *e);

/* One row of the PSK table: a device's current PSK, borrowed. */
typedef struct prov_rec_psk_row {
	const char *device;           /* NULL when the row has none */
	int64_t generation, slot;
	const uint8_t *identity;
	size_t identity_len;
	const uint8_t *sealed;
	size_t sealed_len;
} prov_rec_psk_row;

/* Every device's current-generation PSKs, by identity. */
prov_status prov_records_current_psks(prov_db *db,
                                      prov_status (*cb)(void *ctx, const prov_rec_psk_row *r,
                                                        prov_err *e),
                                      void *ctx, prov_err *e);

typedef struct prov_rec_rpk {
	uint8_t *own_spki;
	size_t own_len;
	uint8_t *peer_spki;           /* NULL: no pinned server key */
	size_t peer_len;
} prov_rec_rpk;
void prov_rec_rpk_free(prov_rec_rpk *r);

prov_status prov_records_rpk_add(prov_db *db, const char *id, int gen, int64_t slot,
                                 const uint8_t *own_spki, size_t own_len, const uint8_t *peer_spki,
                                 size_t peer_len, prov_err *e);
/* The raw public keys in a slot (slot < 0: the first issued); *found 0 if none. */
prov_status prov_records_rpk(prov_db *db, const char *id, int gen, int64_t slot, prov_rec_rpk *r,
                             int *found, prov_err *e);

/* ---- bundles and installs ------------------------------------------------------- */

typedef struct prov_rec_bundle {
	unsigned long long counter;
	int generation;
	uint8_t *nonce;               /* NULL: none */
	size_t nonce_len;
	const char *sha256;           /* hex (add only) */
	uint8_t *data;                /* the bundle; empty: a lab bundle, not kept */
	size_t data_len;
} prov_rec_bundle;
void prov_rec_bundle_free(prov_rec_bundle *b);

/* Record an issued bundle (the counter is UNIQUE per device).  data NULL: a
 * lab bundle with plaintext secrets, recorded without its bytes. */
prov_status prov_records_bundle_add(prov_db *db, const char *id, const prov_rec_bundle *b,
                                    size_t size, prov_err *e);
/* A device's bundle with this counter (0: the newest); *found 0 if none. */
prov_status prov_records_bundle(prov_db *db, const char *id, unsigned long long counter,
                                prov_rec_bundle *b, int *found, prov_err *e);

/* Whether an install of this counter is recorded. */
prov_status prov_records_install_has(prov_db *db, const char *id, unsigned long long counter,
                                     int *has, prov_err *e);
prov_status prov_records_install_add(prov_db *db, const char *id, unsigned long long counter,
                                     const uint8_t *digest, size_t digest_len,
                                     const uint8_t *receipt, size_t receipt_len, prov_err *e);
/* The newest recorded install (largest counter) and its manifest digest
 * (*digest_len 0 when the row has none, or not 32 bytes); *found 0 if none. */
prov_status prov_records_install_newest(prov_db *db, const char *id, unsigned long long *counter,
                                        uint8_t digest[32], size_t *digest_len, int *found,
                                        prov_err *e);

/* ---- revocation and CRLs ------------------------------------------------------------ */

/* Whether the device's generation gen is revoked. */
prov_status prov_records_revoked(prov_db *db, const char *id, int gen, int *revoked, prov_err *e);
/* Revoke generation gen of a device: every certificate of it, or (none) the
 * generation itself; reason: an RFC 5280 CRLReason name.  *n_certs: the
 * certificates revoked.  Final: the database refuses to change or remove it. */
prov_status prov_records_revoke(prov_db *db, const char *id, int gen, const char *reason,
                                int *n_certs, prov_err *e);

/* One revoked certificate, borrowed. */
typedef struct prov_rec_revoked {
	const char *serial;           /* lower-case hex */
	size_t serial_len;
	const char *reason;
	size_t reason_len;
	int64_t revoked_at;
} prov_rec_revoked;

/* Every revoked certificate, in the order revoked. */
prov_status prov_records_revoked_certs(prov_db *db,
                                       prov_status (*cb)(void *ctx, const prov_rec_revoked *r,
                                                         prov_err *e),
                                       void *ctx, prov_err *e);

/* The next CRL number: one more than the largest issued (1 for the first). */
prov_status prov_records_crl_next(prov_db *db, int64_t *number, prov_err *e);
/* Record an issued CRL (the number must exceed every earlier one). */
prov_status prov_records_crl_add(prov_db *db, int64_t number, int64_t this_update,
                                 int64_t next_update, int64_t entries, const char *sha256,
                                 prov_err *e);
/* ---- copying a factory (prov db migrate) --------------------------------------- */

typedef struct prov_rec_copied {
	const char *table;
	long long rows;
} prov_rec_copied;

/* Copy every row of the factory in src into dst, a PostgreSQL database with
 * the current schema and no rows (in the caller's transaction on dst), with
 * the same ids; then count each table on both sides: a difference is
 * PROV_E_DB.  out (*n_out entries) receives each table's count. */
prov_status prov_records_copy(prov_db *src, prov_db *dst, prov_rec_copied *out, size_t *n_out, prov_err *e);

#endif
