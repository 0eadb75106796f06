/*
 * prov/template.h - device templates: what a device gets, in which slots.
 *
 * A template is JSON validated against schemas/template.schema.json (compiled into
 * libprov) and then against the rules JSON Schema cannot say (listed in
 * docs/template-format.md: one device key for certificate and rpk, unique
 * (slot, kind), a parseable subject, identities that fit 128 bytes, ...).  Every
 * error names the JSON path of the problem.  A parsed template owns all its
 * memory; free it with prov_template_free.
 *
 * When a device is minted, the template's canonical JSON and its trust anchors are
 * stored in the database (templates table), so later bundles are built from
 * exactly what was minted even if the file changes.
 */
#ifndef PROV_TEMPLATE_H
#define PROV_TEMPLATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"
#include "prov/home.h"
#include "prov/keys.h"

#define PROV_TPL_MAX_CREDS 16
#define PROV_TPL_MAX_EKU 8
#define PROV_PSK_IDENTITY_MAX 128

typedef enum prov_key_source {
	PROV_KEYSRC_NONE = 0,
	PROV_KEYSRC_DEVICE,
	PROV_KEYSRC_HOST,
	PROV_KEYSRC_EITHER,
} prov_key_source;

typedef enum prov_cred_kind {
	PROV_CRED_CERT = 1,
	PROV_CRED_PSK,
	PROV_CRED_RPK,
	PROV_CRED_TRUST,
} prov_cred_kind;

typedef struct prov_tpl_cred {
	prov_cred_kind kind;
	uint32_t slot;
	/* certificate */
	const char *subject;          /* pattern with {id} */
	int validity_days;
	int no_expiry;
	const char *eku[PROV_TPL_MAX_EKU];
	size_t n_eku;
	int include_chain;
	/* psk */
	int bits;
	const char *identity;         /* pattern with {id} */
	int pskd;                     /* format "thread-pskd": bits/8 PSKd characters */
	/* rpk */
	uint8_t *server_spki;         /* DER, NULL if none */
	size_t server_spki_len;
	/* trust: the anchors, DER certificates concatenated, or a compact store */
	int n_anchors;
	int store;                    /* format "store": trust_der holds a compact trust store */
} prov_tpl_cred;

/* LwM2M Security object modes (resource 2). */
enum { PROV_LWM2M_NONE = -1, PROV_LWM2M_PSK = 0, PROV_LWM2M_RPK = 1, PROV_LWM2M_CERT = 2 };

typedef struct prov_template {
	json_t *root;
	const char *name;
	const char *protocol;
	prov_key_type key_type;       /* PROV_KEY_NONE when no device key */
	prov_key_source key_source;
	prov_tpl_cred creds[PROV_TPL_MAX_CREDS];
	size_t n_creds;
	const json_t *tls;            /* borrowed from root, NULL if absent */
	char *canonical;              /* compact JSON, keys sorted */
	uint8_t *trust_der;           /* anchors of the trust credential (or its store), or NULL */
	size_t trust_der_len;
	uint8_t digest[32];           /* SHA-256(canonical || trust_der) */
	/* "lwm2m" (protocol lwm2m): the Security object instance it fills */
	int lwm2m_mode;               /* PROV_LWM2M_*, PROV_LWM2M_NONE without "lwm2m" */
	const char *lwm2m_uri;        /* resource 0 */
	int lwm2m_bootstrap;          /* resource 1 */
	int lwm2m_ssid;               /* resource 10, 0 when absent (bootstrap) */
} prov_template;

/* Load and check a template file.  Trust files are read relative to its directory. */
prov_status prov_template_load(const char *path, prov_template **out, prov_err *e);

/* Rebuild a template stored in the database (canonical JSON and trust anchors). */
prov_status prov_template_from_db(const char *json, const uint8_t *trust_der,
                                  size_t trust_len, prov_template **out, prov_err *e);

void prov_template_free(prov_template *t);

/* Record the template in the factory's records if it is not there yet
 * (prov/records.h), inside the caller's transaction. */
prov_status prov_template_store(prov_home *h, const prov_template *t, prov_err *e);

/* The template recorded under a digest (hex), rebuilt (prov_template_from_db).
 * The home keeps the last one asked for: *t is borrowed until the next call
 * or prov_home_close.  An unknown digest is PROV_E_DB. */
prov_status prov_template_recorded(prov_home *h, const char *digest, const prov_template **t,
                                   prov_err *e);

/* Read a trust file: a compact trust store (prov trust build, checked like a
 * device would) or certificates (PEM or DER, any number).  *buf is malloc'd:
 * the store as is, or the DER certificates concatenated; *is_store says which. */
prov_status prov_trust_file_read(const char *path, uint8_t **buf, size_t *len, int *is_store,
                                 int *count, prov_err *e);

/* --trust FILE (prov mint, prov bundle, prov install): put the trust anchors of
 * FILE (prov_trust_file_read) into the template's trust slot, replacing the
 * template's own.  A template without a trust credential gets one, in the slot
 * of its certificate credential (else its rpk, else its psk).  The template's
 * JSON records the override ("file" is FILE's base name, "format" store or
 * certificates), and canonical and digest are recomputed, so a device minted
 * with it is bound to exactly these anchors in the database.  On error t is
 * unchanged. */
prov_status prov_template_set_trust(prov_template *t, const char *path, prov_err *e);

/* A deep copy (for overriding a template the caller does not own). */
prov_status prov_template_dup(const prov_template *t, prov_template **out, prov_err *e);

/* Substitute the device ID for every "{id}" in pattern; malloc'd. */
char *prov_template_expand(const char *pattern, const char *device_id);

/* The credential of a kind, or NULL. */
const prov_tpl_cred *prov_template_find(const prov_template *t, prov_cred_kind kind);

/* TLS cipher suite name -> IANA code point, 0 if unknown. */
unsigned prov_tls_suite_code(const char *name);
const char *prov_tls_suite_name(unsigned code);

#endif
