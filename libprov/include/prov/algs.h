/*
 * prov/algs.h - the algorithm implementations libprov uses on hot paths,
 * fetched from OpenSSL's providers once per process.
 *
 * With OpenSSL 3.0, passing EVP_sha256() or EVP_aes_256_gcm() to an init call
 * makes it look the implementation up again every time (a locked search of
 * the method store: "implicit fetching"); a batch mint did that several times
 * per device.  These return explicitly fetched objects instead (OpenSSL's
 * advice, crypto(7) "Explicit fetching"), made on first use under
 * pthread_once and kept until exit.  If a fetch fails they fall back to the
 * implicit objects, so behaviour never depends on them.  Thread-safe.
 */
#ifndef PROV_ALGS_H
#define PROV_ALGS_H

#include <openssl/evp.h>
#include <openssl/kdf.h>

const EVP_MD *prov_md_sha256(void);
const EVP_MD *prov_md_sha384(void);
const EVP_CIPHER *prov_cipher_aes_256_gcm(void);
const EVP_CIPHER *prov_cipher_aes_128_gcm(void);
const EVP_CIPHER *prov_cipher_aes_128_ccm(void);
/* HKDF, or NULL if no provider has it (the caller then fetches its own).
 * Never free the returned object. */
EVP_KDF *prov_kdf_hkdf(void);

#endif
