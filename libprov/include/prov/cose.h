/*
 * prov/cose.h - the COSE structures provkit uses (RFC 9052, RFC 9053).
 *
 * - COSE_Sign1 (tag 18) with ES256 (-7), ES384 (-35) or EdDSA (-8; Ed25519),
 *   protected header {1: alg, 4: kid} ... kid only when given; signatures are the
 *   raw r||s form COSE requires (converted from OpenSSL's DER).
 * - COSE_Encrypt (tag 96) with one recipient using direct key agreement
 *   ECDH-ES + HKDF-256 (-25) on P-256, content AES-CCM-16-64-128 (10) or
 *   A128GCM (1).  This is how secrets travel to a device.
 *
 * Keys are OpenSSL EVP_PKEYs owned by the caller.  Output buffers are malloc'd and
 * owned by the caller.  All functions are reentrant.  Decrypted plaintext is written
 * to a caller buffer; intermediate key material is wiped (OPENSSL_cleanse).
 */
#ifndef PROV_COSE_H
#define PROV_COSE_H

#include <cbor.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"

#define PROV_COSE_TAG_SIGN1 18
#define PROV_COSE_TAG_ENCRYPT 96
#define PROV_COSE_ALG_ES256 (-7)
#define PROV_COSE_ALG_ES384 (-35)
#define PROV_COSE_ALG_EDDSA (-8)
#define PROV_COSE_ALG_ECDH_ES_HKDF_256 (-25)
#define PROV_COSE_ALG_A128GCM 1
#define PROV_COSE_ALG_AES_CCM_16_64_128 10

/* COSE alg for signing with this key (ES256 for P-256, ES384 for P-384, EdDSA for
 * Ed25519), or 0 if the key type is not supported. */
int prov_cose_sign_alg_for_key(EVP_PKEY *key);

/* Build a tagged COSE_Sign1 over `payload` with empty external AAD. */
prov_status prov_cose_sign1_create(EVP_PKEY *signer, const uint8_t *kid, size_t kid_len,
                                   const uint8_t *payload, size_t payload_len,
                                   uint8_t **out, size_t *out_len, prov_err *e);

/* What a verified COSE_Sign1 held.  Pointers point into the caller's message. */
typedef struct prov_cose_sign1_info {
	int alg;
	const uint8_t *kid;        /* NULL if absent */
	size_t kid_len;
	const uint8_t *payload;
	size_t payload_len;
	size_t key_index;          /* which of the keys verified it */
} prov_cose_sign1_info;

/* Many messages by one key: the algorithm and a digest-sign context set up once
 * and copied per message.  The key stays the caller's; free with
 * prov_cose_signer_free. */
typedef struct prov_cose_signer {
	EVP_PKEY *key;
	int alg;
	EVP_MD_CTX *tmpl;          /* NULL for EdDSA: set up per message */
} prov_cose_signer;

prov_status prov_cose_signer_init(prov_cose_signer *s, EVP_PKEY *key, prov_err *e);
void prov_cose_signer_free(prov_cose_signer *s);
/* prov_cose_sign1_create with a prepared signer. */
prov_status prov_cose_sign1_create_with(const prov_cose_signer *s, const uint8_t *kid,
                                        size_t kid_len, const uint8_t *payload,
                                        size_t payload_len, uint8_t **out, size_t *out_len,
                                        prov_err *e);

/* Verify a COSE_Sign1 (tagged with 18, or untagged when `allow_untagged`) against
 * any of `keys`.  Structural problems -> PROV_E_INPUT; a signature that no key
 * verifies, an alg that does not fit the key, or alg outside the protected
 * header -> PROV_E_VERIFY.  `info` is filled only on success. */
prov_status prov_cose_sign1_verify(EVP_PKEY *const *keys, size_t nkeys,
                                   const uint8_t *msg, size_t msg_len,
                                   const uint8_t *external_aad, size_t aad_len,
                                   int allow_untagged, prov_cose_sign1_info *info,
                                   prov_err *e);

/* Options, all optional (NULL fields, or a NULL pointer for none):
 * - test hooks: a fixed ephemeral private key (P-256 scalar, 32 bytes) and IV, so
 *   the output can be compared with published vectors; in production both come
 *   from the CSPRNG;
 * - keygen: a P-256 key generation context (EVP_PKEY_keygen_init done, group set)
 *   to reuse across many messages: setting one up costs as much as the key. */
typedef struct prov_cose_enc_fixed {
	const uint8_t *eph_priv;   /* 32 bytes */
	const uint8_t *iv;         /* 13 bytes for CCM, 12 for GCM */
	EVP_PKEY_CTX *keygen;
} prov_cose_enc_fixed;

/* Encrypt `pt` to `recipient` (P-256 public key) as a tagged COSE_Encrypt item,
 * ready to embed in a larger CBOR structure (caller decrefs).  `kid` (optional)
 * goes into the recipient's unprotected header (label 4). */
prov_status prov_cose_encrypt_ecdh_es(EVP_PKEY *recipient, int content_alg,
                                      const uint8_t *kid, size_t kid_len,
                                      const uint8_t *pt, size_t pt_len,
                                      const uint8_t *external_aad, size_t aad_len,
                                      const prov_cose_enc_fixed *fixed,
                                      cbor_item_t **out, prov_err *e);

/* Decrypt a COSE_Encrypt item made as above with the recipient's private key.
 * Writes at most pt_cap bytes to pt and the length to *pt_len.  Authentication
 * failure -> PROV_E_VERIFY; malformed -> PROV_E_INPUT. */
prov_status prov_cose_decrypt_ecdh_es(EVP_PKEY *recipient_priv, const cbor_item_t *msg,
                                      const uint8_t *external_aad, size_t aad_len,
                                      uint8_t *pt, size_t pt_cap, size_t *pt_len,
                                      prov_err *e);

#endif
