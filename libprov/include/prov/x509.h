/*
 * prov/x509.h - the certificates provkit issues, and the CSRs it accepts.
 *
 * All X.509 and ASN.1 work is OpenSSL's; this module only fixes the profile:
 * - device certificates (RFC 5280): v3, random positive 16-octet serial, the
 *   template's subject and validity ("no expiry" is GeneralizedTime
 *   99991231235959Z, RFC 5280 4.1.2.5), basicConstraints CA:FALSE,
 *   keyUsage digitalSignature (critical), extendedKeyUsage from the template,
 *   subject key identifier (SHA-1 of the public key, RFC 5280 4.2.1.2 method 1)
 *   and authority key identifier (the CA's subject key identifier);
 * - the factory's self-signed device CA: CA:TRUE pathlen 0, keyCertSign+cRLSign.
 * Returned objects belong to the caller (X509_free, X509_NAME_free, ...).
 */
#ifndef PROV_X509_H
#define PROV_X509_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"
#include "prov/keys.h"

#define PROV_SERIAL_LEN 16
#define PROV_NO_EXPIRY "99991231235959Z"

/* Parse an RFC 4514-style DN ("CN=dev-1,O=Acme"; "\," escapes a comma; attribute
 * names OpenSSL knows, e.g. CN, O, OU, C, L, ST, serialNumber). */
prov_status prov_x509_name_parse(const char *dn, X509_NAME **out, prov_err *e);
/* The RFC 2253 text of a name, malloc'd. */
char *prov_x509_name_text(const X509_NAME *n);

typedef struct prov_cert_profile {
	const char *subject;        /* DN text, device ID already substituted */
	int64_t not_before;         /* UNIX time */
	int64_t not_after;          /* UNIX time; ignored when no_expiry */
	int no_expiry;
	const char *const *eku;     /* "clientAuth", "serverAuth", or dotted OIDs */
	size_t n_eku;
	/* optional: the subject key's raw public key (prov_key_raw_public) and type,
	 * when the caller has it already */
	const uint8_t *pub;
	size_t pub_len;
	prov_key_type pub_type;
	/* optional: a digest-sign context already set up with the CA key, copied
	 * for each certificate (see prov_x509_sign_ctx_new) */
	const EVP_MD_CTX *sign_ctx;
	/* optional: the extensions that do not depend on the subject, made once for
	 * many certificates by prov_x509_exts_new with the same CA and EKU list */
	const struct prov_x509_exts *exts;
} prov_cert_profile;

/* A device certificate's extensions that depend only on the CA and the EKU
 * list (basicConstraints, keyUsage, authorityKeyIdentifier, extendedKeyUsage),
 * encoded once: a batch copies them instead of parsing them from text for
 * every certificate.  The certificates are byte for byte the same. */
typedef struct prov_x509_exts prov_x509_exts;
prov_status prov_x509_exts_new(X509 *ca, const char *const *eku, size_t n_eku,
                               prov_x509_exts **out, prov_err *e);
/* True if x was made for this EKU list (the CA is the caller's to keep fixed). */
int prov_x509_exts_match(const prov_x509_exts *x, const char *const *eku, size_t n_eku);
void prov_x509_exts_free(prov_x509_exts *x);

/* A signing context for many certificates by one ECDSA CA key, or NULL (then
 * each certificate sets one up itself, as Ed25519 needs). */
EVP_MD_CTX *prov_x509_sign_ctx_new(EVP_PKEY *ca_key);

/* Issue a device certificate for `subject_key`, signed by the CA.  `serial` is
 * PROV_SERIAL_LEN bytes with the top bit clear (see prov_x509_serial_new).  The
 * subject key goes in as its encoded SubjectPublicKeyInfo only (the fast path):
 * use the certificate's DER (prov_x509_der), not X509_get0_pubkey on *out. */
prov_status prov_x509_issue(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *subject_key,
                            const prov_cert_profile *p, const uint8_t *serial,
                            X509 **out, prov_err *e);

/* A fresh random positive serial of PROV_SERIAL_LEN octets. */
prov_status prov_x509_serial_new(uint8_t serial[PROV_SERIAL_LEN], prov_err *e);

/* A self-signed CA certificate valid for `days` from `now`. */
prov_status prov_x509_ca_create(EVP_PKEY *key, const char *subject, int64_t now, int days,
                                X509 **out, prov_err *e);
/* The same with the certificate's public key given apart from the key that
 * signs it (a key in a PKCS#11 token, prov/p11.h: pub is its public half). */
prov_status prov_x509_ca_create_pub(EVP_PKEY *key, EVP_PKEY *pub, const char *subject, int64_t now,
                                    int days, X509 **out, prov_err *e);

/* Check that an imported certificate can act as the device-issuing CA with this
 * key: key matches, basicConstraints CA:TRUE, keyCertSign allowed. */
prov_status prov_x509_ca_check(X509 *ca, EVP_PKEY *key, prov_err *e);

/* The chain as given (the CA first, then its issuers): each is issued by the next. */
prov_status prov_x509_chain_check(STACK_OF(X509) *chain, prov_err *e);

/* Load every certificate of a PEM or DER file (PEM may hold several). */
prov_status prov_x509_load_certs(const char *path, STACK_OF(X509) **out, prov_err *e);

/* Load a CSR (PEM or DER) and check its self-signature. Bad signature ->
 * PROV_E_VERIFY; unparseable -> PROV_E_INPUT. */
prov_status prov_x509_csr_load(const char *path, X509_REQ **out, prov_err *e);

/* DER of a certificate, malloc'd with OPENSSL_malloc (free with OPENSSL_free). */
prov_status prov_x509_der(X509 *c, uint8_t **der, size_t *len, prov_err *e);

/* ---- certificate revocation lists (RFC 5280 section 5) ---------------------------- */

/* CRLReason (RFC 5280 5.3.1) by name: unspecified, keyCompromise, cACompromise,
 * affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn,
 * aACompromise; -1 for any other (certificateHold and removeFromCRL are not
 * offered: a revocation here is final). */
int prov_crl_reason_parse(const char *name);
/* The names prov_crl_reason_parse takes, comma-separated (for messages). */
const char *prov_crl_reason_names(void);

typedef struct prov_crl_entry {
	const char *serial_hex;       /* lower-case hex, as the certificates table keeps it */
	int reason;                   /* prov_crl_reason_parse's value */
	int64_t revoked_at;
} prov_crl_entry;

/* An X.509 v2 CRL issued by ca, signed with ca_key (a file's key or a token's):
 * thisUpdate, nextUpdate, the entries (serial, revocationDate, a reasonCode
 * extension unless unspecified, which RFC 5280 says to leave out), and the
 * cRLNumber and authorityKeyIdentifier extensions. */
prov_status prov_x509_crl_make(X509 *ca, EVP_PKEY *ca_key, const prov_crl_entry *ent, size_t n,
                               int64_t number, int64_t this_update, int64_t next_update,
                               X509_CRL **out, prov_err *e);

#endif
