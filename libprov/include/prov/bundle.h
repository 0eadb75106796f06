/*
 * prov/bundle.h - the signed credential bundle (schemas/bundle.cddl,
 * docs/bundle-format.md).
 *
 * A bundle is a COSE_Sign1 (tag 18, ES256) by the factory signer over a
 * deterministic-CBOR payload: format version, device ID, a per-device counter that
 * only grows (anti-rollback), an optional device nonce (freshness), issued-at,
 * the credential entries sorted by (slot, type), and the template's TLS profile.
 * Secrets travel together in one COSE_Encrypt (ECDH-ES + HKDF-256,
 * AES-CCM-16-64-128) to the device's key, so host and device each do one ECDH per
 * bundle; a secret entry's value is the index of its secret in that array.  Never
 * in the clear unless the caller insists (lab use).
 */
#ifndef PROV_BUNDLE_H
#define PROV_BUNDLE_H

#include <cbor.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "prov/cose.h"
#include "prov/err.h"
#include "prov/home.h"

#define PROV_BUNDLE_VERSION 1
#define PROV_BUNDLE_MAX (64 * 1024)
#define PROV_BUNDLE_MAX_ENTRIES 16
#define PROV_NONCE_MIN 8
#define PROV_NONCE_MAX 32

/* Payload map keys. */
enum {
	PROV_B_VERSION = 1,
	PROV_B_DEVICE = 2,
	PROV_B_COUNTER = 3,
	PROV_B_NONCE = 4,
	PROV_B_ISSUED_AT = 5,
	PROV_B_ENTRIES = 6,
	PROV_B_TLS = 7,
	PROV_B_SECRETS = 8,      /* COSE_Encrypt of [+ bstr]: the secret entries' values */
	PROV_B_WIPE = 9,         /* true: a wipe bundle (no entries): erase the credentials */
};

/* Entry map keys. */
enum {
	PROV_EK_SLOT = 1,
	PROV_EK_TYPE = 2,
	PROV_EK_ALG = 3,
	PROV_EK_USAGE = 4,
	PROV_EK_VALUE = 5,
	PROV_EK_IDENTITY = 6,
};

/* Entry types (numbered like Zephyr's tls_credential_type where they overlap). */
typedef enum prov_entry_type {
	PROV_ENT_CA_CERTS = 1,     /* trust anchors: DER certificates concatenated */
	PROV_ENT_DEVICE_CERT = 2,  /* the device certificate, then its chain: DER concatenated */
	PROV_ENT_PRIVATE_KEY = 3,  /* host-made key: raw private key (a secret) */
	PROV_ENT_PSK = 4,          /* pre-shared key (a secret); identity in key 6 */
	PROV_ENT_OWN_RPK = 5,      /* the device's SubjectPublicKeyInfo (RFC 7250) */
	PROV_ENT_PEER_RPK = 6,     /* the server's pinned SubjectPublicKeyInfo */
	PROV_ENT_TRUST_STORE = 7,  /* compact trust store (docs/truststore-format.md) */
} prov_entry_type;

/* Usage bits. */
enum {
	PROV_USE_SIGN = 1,       /* sign with it (device private key) */
	PROV_USE_DERIVE = 2,     /* key derivation (PSK) */
	PROV_USE_TRUST = 4,      /* verify peers against it */
	PROV_USE_PRESENT = 8,    /* send to the peer as our identity */
};

/* TLS profile map keys. */
enum {
	PROV_T_PROTOCOL = 0,
	PROV_T_TRANSPORT = 1,       /* 0 TLS, 1 DTLS */
	PROV_T_VERSIONS = 2,        /* [+ uint]: 0x0303 TLS 1.2, 0x0304 TLS 1.3 */
	PROV_T_SUITES = 3,          /* [+ uint]: IANA code points */
	PROV_T_RECORD_LIMIT = 4,    /* RFC 8449 record_size_limit */
	PROV_T_MAX_FRAG = 5,        /* RFC 6066 max_fragment_length, in bytes */
	PROV_T_RESUMPTION = 6,      /* bool */
	PROV_T_TICKET_LIFETIME = 7, /* seconds */
	PROV_T_TIME_CHECK = 8,      /* 0 full, 1 skip, 2 floor */
	PROV_T_TIME_FLOOR = 9,      /* seconds since the epoch */
	PROV_T_SERVER_NAME = 10,
};

const char *prov_entry_type_name(int type);

typedef struct prov_bundle_opts {
	EVP_PKEY *recipient;            /* overrides the device's registered key */
	const uint8_t *recipient_kid;   /* its kid (8 bytes) when the caller has it */
	const uint8_t *nonce;           /* PROV_NONCE_MIN..MAX bytes, or NULL */
	size_t nonce_len;
	int insecure_plaintext;         /* carry secrets unencrypted (lab only) */
	int wipe;                       /* a wipe bundle: 9 => true, no entries */
	const char *trust_file;         /* --trust: anchors for the trust slot, replacing the
	                                 * template's (prov_template_set_trust); the device's
	                                 * template record becomes the overridden one, so its
	                                 * later bundles keep these anchors */
} prov_bundle_opts;

typedef struct prov_bundle_info {
	unsigned long long counter;
	size_t n_entries;
	int n_secrets;
	int plaintext_secrets;
	uint8_t sha256[32];
} prov_bundle_info;

/* Build and sign the next bundle of a device (needs PROV_NEED_SIGNER |
 * PROV_NEED_KEK) inside the caller's transaction: bumps the device's counter and
 * records the bundle.  *out is malloc'd. */
prov_status prov_bundle_build(prov_home *h, const char *device_id, const prov_bundle_opts *o,
                              uint8_t **out, size_t *out_len, prov_bundle_info *info,
                              prov_err *e);

/* Verify a bundle against the given signer keys, check its payload against
 * schemas/bundle.cddl and describe it as JSON (secrets shown only as encrypted, or
 * as "plaintext" with their size).  Returns PROV_E_VERIFY for a bad signature
 * (*out still describes what could be decoded, with "signature": "invalid"),
 * PROV_E_INPUT for a malformed bundle. */
prov_status prov_bundle_inspect(const uint8_t *buf, size_t len, EVP_PKEY *const *signers,
                                size_t n_signers, json_t **out, prov_err *e);

/* Check a decoded payload against the CDDL (keys, types, sizes, order). */
prov_status prov_bundle_check_payload(const cbor_item_t *payload, prov_err *e);

#endif
