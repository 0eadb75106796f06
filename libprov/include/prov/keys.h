/*
 * prov/keys.h - key pairs and public keys: generate, load, save, describe.
 *
 * Keys are OpenSSL EVP_PKEYs; the caller frees what these functions return with
 * EVP_PKEY_free.  Private keys are written only as PEM files of mode 0600
 * (PKCS#8; under PROV_PASSPHRASE when one is set, EncryptedPrivateKeyInfo with
 * PBES2: scrypt N=2^14, r=8, p=2 and AES-256-CBC).
 *
 * Why those scrypt parameters: the same work as the key-encryption key's scrypt
 * (N*r*p = 2^18, prov/secret.h), so a passphrase is no cheaper to guess through a
 * key file than through the database.  The memory is 16 MiB rather than the KEK's
 * 32: OpenSSL 3.0 refuses, when writing and when reading a PKCS#8 file, scrypt
 * parameters needing more than 32 MiB (N=2^15, r=8 needs 32 MiB + 2 KiB), and
 * the files must stay readable by `openssl pkey`.  Files written before (PBKDF2,
 * 2,048 iterations) are still read; they are not re-encrypted (README.md,
 * "Security notes", gives the openssl command that does it).
 */
#ifndef PROV_KEYS_H
#define PROV_KEYS_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"

typedef enum prov_key_type {
	PROV_KEY_NONE = 0,
	PROV_KEY_P256,
	PROV_KEY_P384,
	PROV_KEY_ED25519,
} prov_key_type;

/* "p256" | "p384" | "ed25519" <-> enum.  Parse returns PROV_KEY_NONE if unknown. */
prov_key_type prov_key_type_parse(const char *s);
const char *prov_key_type_name(prov_key_type t);
/* The type of a key, PROV_KEY_NONE if it is none of the supported ones. */
prov_key_type prov_key_type_of(EVP_PKEY *k);

prov_status prov_key_generate(prov_key_type t, EVP_PKEY **out, prov_err *e);

/* Key generation contexts kept for reuse: many keys of one type (a batch) pay
 * the provider lookup and setup once.  Zero-initialise; free with
 * prov_keygen_free.  prov_keygen_ctx returns the context for a type (owned by g). */
typedef struct prov_keygen {
	EVP_PKEY_CTX *ctx[PROV_KEY_ED25519 + 1];
} prov_keygen;
prov_status prov_keygen_ctx(prov_keygen *g, prov_key_type t, EVP_PKEY_CTX **ctx, prov_err *e);
prov_status prov_keygen_run(prov_keygen *g, prov_key_type t, EVP_PKEY **out, prov_err *e);
void prov_keygen_free(prov_keygen *g);

/* Load a private key from a PEM file; `pass` may be NULL.  A wrong passphrase is
 * PROV_E_AUTH. */
prov_status prov_key_load_private(const char *path, const char *pass, EVP_PKEY **out,
                                  prov_err *e);
/* Load a public key from a PEM ("PUBLIC KEY") or DER SubjectPublicKeyInfo file. */
prov_status prov_key_load_public(const char *path, EVP_PKEY **out, prov_err *e);
#define PROV_KEY_SCRYPT_N (1u << 14)
#define PROV_KEY_SCRYPT_R 8
#define PROV_KEY_SCRYPT_P 2
#define PROV_KEY_PBE_SALT_LEN 16

/* Save a private key as PEM PKCS#8, mode 0600, atomically, refusing to overwrite;
 * encrypted (above) when pass is not NULL. */
prov_status prov_key_save_private(const char *path, EVP_PKEY *k, const char *pass,
                                  prov_err *e);

/* Set an X509_PUBKEY (e.g. a certificate's) to the key's public key. */
prov_status prov_key_set_x509_pubkey(EVP_PKEY *k, X509_PUBKEY *pk, prov_err *e);
/* The same two from a raw public key (prov_key_raw_public) of a known type, so a
 * caller that needs both converts the point once. */
prov_status prov_pub_to_x509_pubkey(prov_key_type t, const uint8_t *pub, size_t n,
                                    X509_PUBKEY *pk, prov_err *e);
prov_status prov_pub_to_spki(prov_key_type t, const uint8_t *pub, size_t n, uint8_t **der,
                             size_t *len, prov_err *e);
/* DER SubjectPublicKeyInfo of a key (OPENSSL_malloc'd, free with OPENSSL_free). */
prov_status prov_key_spki(EVP_PKEY *k, uint8_t **der, size_t *len, prov_err *e);
/* Public key from DER SubjectPublicKeyInfo. */
prov_status prov_key_from_spki(const uint8_t *der, size_t len, EVP_PKEY **out, prov_err *e);
/* PEM of the public key ("-----BEGIN PUBLIC KEY-----"), malloc'd NUL-terminated. */
prov_status prov_key_public_pem(EVP_PKEY *k, char **pem, prov_err *e);

/* The raw private key as a device imports it into PSA: the big-endian scalar d
 * padded to the curve size for ECC, the 32-byte seed for Ed25519.  Wipe after use. */
prov_status prov_key_raw_private(EVP_PKEY *k, uint8_t *out, size_t cap, size_t *len,
                                 prov_err *e);
/* Key pair from a raw private key of the given type (inverse of the above). */
prov_status prov_key_from_raw_private(prov_key_type t, const uint8_t *raw, size_t len,
                                      EVP_PKEY **out, prov_err *e);
/* The public key as PSA exports it: SEC1 uncompressed point for ECC, 32 bytes for
 * Ed25519. */
prov_status prov_key_raw_public(EVP_PKEY *k, uint8_t *out, size_t cap, size_t *len,
                                prov_err *e);

/* Key identifier: the first 8 bytes of SHA-256 over the DER SubjectPublicKeyInfo. */
prov_status prov_key_kid(EVP_PKEY *k, uint8_t kid[8], prov_err *e);

#endif
