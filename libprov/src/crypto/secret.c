/* secret.c - sealing secrets at rest, and the memory they live in (see prov/secret.h). */
#include "prov/algs.h"
#include "prov/secret.h"
#include "prov/escape.h"

#include <malloc.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/util.h"

#define SEAL_VERSION 1
#define NONCE_LEN 12
#define TAG_LEN 16

/* ---- memory --------------------------------------------------------------------- */

/* OpenSSL's allocator, wiping each block's whole usable size before it is freed.
 * A block realloc'd within its usable size stays where it is; a larger one is
 * copied and the old one wiped, so no copy is left behind. */
static void *wipe_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void wipe_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, malloc_usable_size(p));
	free(p);
}

static void *wipe_realloc(void *p, size_t n, const char *file, int line)
{
	size_t have;
	void *q;

	if (p == NULL)
		return malloc(n);
	if (n == 0) {
		wipe_free(p, file, line);
		return NULL;
	}
	have = malloc_usable_size(p);
	if (n <= have)
		return p;
	q = malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, p, have);
	wipe_free(p, file, line);
	return q;
}

static pthread_once_t heap_once = PTHREAD_ONCE_INIT;
static int heap_state;

static void heap_setup(void)
{
	/* 1: mlock'd and MADV_DONTDUMP; 2: usable, but mlock or madvise failed. */
	heap_state = CRYPTO_secure_malloc_init(PROV_SECURE_HEAP_SIZE, PROV_SECURE_HEAP_MIN);
}

int prov_secure_heap_init(void)
{
	pthread_once(&heap_once, heap_setup);
	return heap_state;
}

int prov_memory_init(void)
{
	int wiping = CRYPTO_set_mem_functions(wipe_malloc, wipe_realloc, wipe_free);
	int heap = prov_secure_heap_init();

	return wiping ? heap : -1;
}

/* ---- naming a sealed value in messages ------------------------------------------ */

/* The caller's name for the blob, else "sealed secret "AAD"", the AAD
 * escaped (the vault, prov/vault.h, names its rows itself). */
static void describe(const char *aad, const char *name, char *out, size_t cap)
{
	char esc[4 * 128 + 8];

	if (name != NULL)
		snprintf(out, cap, "%s", name);
	else
		snprintf(out, cap, "sealed secret \"%s\"", prov_escape(esc, sizeof(esc), aad, strlen(aad)));
}

prov_status prov_kek_derive(const char *passphrase, const uint8_t *salt, size_t salt_len,
                            prov_kek *out, prov_err *e)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	EVP_KDF_CTX *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
	uint64_t n = PROV_KEK_SCRYPT_N;
	uint32_t r = PROV_KEK_SCRYPT_R, p = PROV_KEK_SCRYPT_P;
	OSSL_PARAM params[6];
	prov_status st = PROV_OK;

	out->checked = 0; /* a new KEK: not yet checked against a factory */
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
	k->checked = 0;
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
	return prov_open_named(k, aad, NULL, in, len, pt, pt_len, e);
}

prov_status prov_open_named(const prov_kek *k, const char *aad, const char *name, const uint8_t *in,
                            size_t len, uint8_t *pt, size_t *pt_len, prov_err *e)
{
	EVP_CIPHER_CTX *c = NULL;
	int n = 0, f = 0;
	size_t ct_len;
	char what[600];
	prov_status st;

	if (len < PROV_SEAL_OVERHEAD || in[0] != SEAL_VERSION) {
		describe(aad, name, what, sizeof(what));
		if (len < PROV_SEAL_OVERHEAD)
			return prov_err_set(e, PROV_E_DB, "%s is damaged: its sealed value is malformed (%zu bytes, "
			                    "less than the %d of an empty one)", what, len, PROV_SEAL_OVERHEAD);
		return prov_err_set(e, PROV_E_DB, "%s is damaged: its sealed value is malformed (version %u, not %d)",
		                    what, in[0], SEAL_VERSION);
	}
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
		ERR_clear_error();
		describe(aad, name, what, sizeof(what));
		if (k->checked)
			st = prov_err_set(e, PROV_E_DB,
			                  "%s is damaged: its sealed value does not open under this factory's "
			                  "key-encryption key, which is right (it opens the factory's check value)",
			                  what);
		else
			st = prov_err_set(e, PROV_E_AUTH,
			                  "cannot open %s: wrong key-encryption key or passphrase", what);
		goto out;
	}
	*pt_len = ct_len;
	st = PROV_OK;
out:
	EVP_CIPHER_CTX_free(c);
	return st;
}
