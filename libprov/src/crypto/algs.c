/*
 * algs.c - algorithm implementations fetched once (see prov/algs.h).
 */
#include <pthread.h>

#include "prov/algs.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256, *sha384;
static EVP_CIPHER *aes256gcm, *aes128gcm, *aes128ccm;
static EVP_KDF *hkdf;

static void fetch_all(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	sha384 = EVP_MD_fetch(NULL, "SHA2-384", NULL);
	aes256gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	aes128gcm = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
	aes128ccm = EVP_CIPHER_fetch(NULL, "AES-128-CCM", NULL);
	hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

const EVP_MD *prov_md_sha256(void)
{
	pthread_once(&once, fetch_all);
	return sha256 != NULL ? sha256 : EVP_sha256();
}

const EVP_MD *prov_md_sha384(void)
{
	pthread_once(&once, fetch_all);
	return sha384 != NULL ? sha384 : EVP_sha384();
}

const EVP_CIPHER *prov_cipher_aes_256_gcm(void)
{
	pthread_once(&once, fetch_all);
	return aes256gcm != NULL ? aes256gcm : EVP_aes_256_gcm();
}

const EVP_CIPHER *prov_cipher_aes_128_gcm(void)
{
	pthread_once(&once, fetch_all);
	return aes128gcm != NULL ? aes128gcm : EVP_aes_128_gcm();
}

const EVP_CIPHER *prov_cipher_aes_128_ccm(void)
{
	pthread_once(&once, fetch_all);
	return aes128ccm != NULL ? aes128ccm : EVP_aes_128_ccm();
}

EVP_KDF *prov_kdf_hkdf(void)
{
	pthread_once(&once, fetch_all);
	return hkdf;
}
