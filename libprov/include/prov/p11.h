/*
 * prov/p11.h - signing keys held in a PKCS#11 token (an HSM, a smart card,
 * SoftHSM), named by RFC 7512 URIs ("pkcs11:token=factory;object=ca").
 *
 * What does what.  URIs are parsed and matched by p11-kit (p11_kit_uri_*);
 * the module is loaded, the token logged into and keys used through libp11,
 * whose EVP_PKEY signs inside the token behind OpenSSL's EVP interface (an
 * EC_KEY_METHOD; OpenSSL 3 keeps such a "foreign" key on its legacy path), so
 * every signing path of libprov (X509_sign, COSE_Sign1, CRLs) works with it
 * unchanged; Debian 12's libp11 0.4.12 cannot generate EC keys, so
 * prov_p11_generate uses GnuTLS's PKCS#11 API for that one step.
 *
 * Promises.  No private key material ever leaves the token: the private
 * EVP_PKEY holds a handle, never a scalar.  The PIN is read from
 * PROV_PKCS11_PIN or a file (never argv), kept in OpenSSL's secure heap and
 * wiped.  One C_Login per token per prov_p11 (a command opens one): a wrong
 * PIN is reported at once, never retried, so a command costs the token's
 * lockout counter at most one attempt.
 *
 * Errors: PROV_E_TOKEN (module not found or not loadable, token absent, key
 * not found, key of the wrong type), PROV_E_PIN (no PIN given, wrong PIN, PIN
 * locked), PROV_E_USAGE (a URI that does not parse, names no object, or
 * carries a PIN).  A prov_p11 is used by one thread at a time; the keys it
 * hands out live until prov_p11_close, which must come after they are freed.
 */
#ifndef PROV_P11_H
#define PROV_P11_H

#include <openssl/evp.h>

#include "prov/err.h"

typedef struct prov_p11 prov_p11;

/* Key types a caller accepts (prov_p11_key). */
enum {
	PROV_P11_P256 = 1,
	PROV_P11_P384 = 2,
};

/* 1 if s is a PKCS#11 URI (starts with "pkcs11:"). */
int prov_p11_is_uri(const char *s);

/* The module to load: opt (--pkcs11-module) if given, else
 * $PROV_PKCS11_MODULE, else recorded (what the home recorded; may be NULL). */
const char *prov_p11_module_choose(const char *opt, const char *recorded);

/* The PIN: $PROV_PKCS11_PIN if set, else the first line of pin_file (if not
 * NULL), else *pin NULL (not an error here: a token may need no login).
 * Secure heap; free with prov_p11_pin_free. */
prov_status prov_p11_pin_read(const char *pin_file, char **pin, prov_err *e);
void prov_p11_pin_free(char *pin);

/* Load the module (path) and list its tokens.  pin: copied (may be NULL). */
prov_status prov_p11_open(const char *module, const char *pin, prov_p11 **out, prov_err *e);
void prov_p11_close(prov_p11 *p);

/* The private key the URI names (one private key object of one token),
 * logging into its token first if it needs it (once).  types: the
 * PROV_P11_* it may be.  *priv signs in the token; *pub (if pub is not NULL)
 * is its public key as an ordinary OpenSSL key, or NULL when the token holds
 * no public key or certificate beside it.  Both the caller's to free. */
prov_status prov_p11_key(prov_p11 *p, const char *uri, unsigned types, EVP_PKEY **priv,
                         EVP_PKEY **pub, prov_err *e);

/* Make a P-256 key pair in the token each URI names (n <= 2), labelled with
 * its object= (which must be free in that token; nothing is made unless all
 * are): the private key CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, not
 * CKA_EXTRACTABLE, with a random 16-byte CKA_ID, and its public key beside it.
 * key_uris[i]: uris[i] with its id= added (malloc'd).  Run before
 * prov_p11_open on the same module (GnuTLS loads and unloads it); its one
 * login serves every key. */
prov_status prov_p11_generate(const char *module, const char *pin, const char *const *uris,
                              size_t n, char **key_uris, prov_err *e);

#endif
