/* secret.c - sealing secrets at rest (see prov/secret.h). */
#include "prov/algs.h"
#include "prov/secret.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <string.h>

#include "prov/util.h"

#define SEAL_VERSION 1
#define NONCE_LEN 12
#define TAG_LEN 16

prov_status prov_kek_derive(const char *passphrase, const uint8_t *salt, size_t salt_len,
                            prov_kek *out, prov_err *e)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = 1u << 15;
	uint32_t r = 8, p = 1;
	OSSL_PARAM params[6];
	prov_status st = PROV_OK;

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)passphrase,
	                                              strlen(passphrase));
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	params[5] = OSSL_PARAM_construct_end();
	if (ctx == NULL || EVP_KDF_derive(ctx, out->key, sizeof(out->key), params) <= 0)
		st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot derive key from passphrase");
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return st;
}

void prov_kek_wipe(prov_kek *k)
{
	prov_wipe(k->key, sizeof(k->key));
}

prov_status prov_seal(const prov_kek *k, const char *aad, const uint8_t *pt, size_t len,
                      uint8_t *out, prov_err *e)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, f = 0;
	prov_status st;

	if (c == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	out[0] = SEAL_VERSION;
	st = prov_random(out + 1, NONCE_LEN, 0, e);
	if (st != PROV_OK)
		goto out;
	if (!EVP_EncryptInit_ex2(c, prov_cipher_aes_256_gcm(), k->key, out + 1, NULL) ||
	    !EVP_EncryptUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) ||
	    !EVP_EncryptUpdate(c, out + 1 + NONCE_LEN, &n, pt, (int)len) ||
	    !EVP_EncryptFinal_ex(c, out + 1 + NONCE_LEN + n, &f) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + 1 + NONCE_LEN + len)) {
		st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot seal secret");
		goto out;
	}
	st = PROV_OK;
out:
	EVP_CIPHER_CTX_free(c);
	return st;
}

prov_status prov_open(const prov_kek *k, const char *aad, const uint8_t *in, size_t len,
                      uint8_t *pt, size_t *pt_len, prov_err *e)
{
	EVP_CIPHER_CTX *c = NULL;
	int n = 0, f = 0;
	size_t ct_len;
	prov_status st;

	if (len < PROV_SEAL_OVERHEAD || in[0] != SEAL_VERSION)
		return prov_err_set(e, PROV_E_DB, "sealed secret (%s) is malformed", aad);
	ct_len = len - PROV_SEAL_OVERHEAD;
	c = EVP_CIPHER_CTX_new();
	if (c == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (!EVP_DecryptInit_ex2(c, prov_cipher_aes_256_gcm(), k->key, in + 1, NULL) ||
	    !EVP_DecryptUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) ||
	    !EVP_DecryptUpdate(c, pt, &n, in + 1 + NONCE_LEN, (int)ct_len) ||
	    !EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, (void *)(in + len - TAG_LEN)) ||
	    EVP_DecryptFinal_ex(c, pt + n, &f) <= 0) {
		prov_wipe(pt, ct_len);
		st = prov_err_ssl(e, PROV_E_AUTH,
		                  "cannot open sealed secret (%s): wrong key-encryption key or passphrase",
		                  aad);
		goto out;
	}
	*pt_len = ct_len;
	st = PROV_OK;
out:
	EVP_CIPHER_CTX_free(c);
	return st;
}
