/* thread.c - Thread PSKc and joiner PSKd (see prov/thread.h). */
#include "prov/thread.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/util.h"

/* 0-9 and A-Z without I, O, Q, Z: 32 symbols, so one random byte's low five
 * bits pick one without bias. */
static const char pskd_alphabet[] = "0123456789ABCDEFGHJKLMNPRSTUVWXY";

/* A CMAC context over AES-128 keyed with the 16-byte key. */
static EVP_MAC_CTX *cmac_new(const uint8_t key[16], prov_err *e)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "CMAC", NULL);
	EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[2];

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)"AES-128-CBC", 0);
	params[1] = OSSL_PARAM_construct_end();
	EVP_MAC_free(mac);
	if (ctx == NULL || !EVP_MAC_init(ctx, key, 16, params)) {
		EVP_MAC_CTX_free(ctx);
		prov_err_ssl(e, PROV_E_CRYPTO, "cannot set up AES-CMAC");
		return NULL;
	}
	return ctx;
}

/* One CMAC of msg under the context's key; the context is restarted first. */
static int cmac_run(EVP_MAC_CTX *ctx, int restart, const uint8_t *msg, size_t len, uint8_t out[16])
{
	size_t ol = 0;

	if (restart && !EVP_MAC_init(ctx, NULL, 0, NULL))
		return 0;
	return EVP_MAC_update(ctx, msg, len) && EVP_MAC_final(ctx, out, &ol, 16) && ol == 16;
}

/* RFC 4615 2: K' = K when 16 bytes long, else AES-CMAC(0^128, K). */
static prov_status prf_key(const uint8_t *key, size_t key_len, uint8_t kp[16], prov_err *e)
{
	static const uint8_t zero[16];
	EVP_MAC_CTX *z;
	int ok;

	if (key_len == 16) {
		memcpy(kp, key, 16);
		return PROV_OK;
	}
	z = cmac_new(zero, e);
	if (z == NULL)
		return PROV_E_CRYPTO;
	ok = cmac_run(z, 0, key, key_len, kp);
	EVP_MAC_CTX_free(z);
	return ok ? PROV_OK : prov_err_ssl(e, PROV_E_CRYPTO, "AES-CMAC failed");
}

prov_status prov_aes_cmac_prf128(const uint8_t *key, size_t key_len, const uint8_t *msg,
                                 size_t msg_len, uint8_t out[16], prov_err *e)
{
	uint8_t kp[16];
	EVP_MAC_CTX *ctx = NULL;
	prov_status st = prf_key(key, key_len, kp, e);

	if (st == PROV_OK && (ctx = cmac_new(kp, e)) == NULL)
		st = PROV_E_CRYPTO;
	if (st == PROV_OK && !cmac_run(ctx, 0, msg, msg_len, out))
		st = prov_err_ssl(e, PROV_E_CRYPTO, "AES-CMAC failed");
	EVP_MAC_CTX_free(ctx);
	prov_wipe(kp, sizeof(kp));
	return st;
}

prov_status prov_pbkdf2_aes_cmac_prf128(const uint8_t *pass, size_t pass_len, const uint8_t *salt,
                                        size_t salt_len, unsigned iterations, uint8_t *out,
                                        size_t out_len, prov_err *e)
{
	uint8_t kp[16], u[16], t[16], *msg = NULL;
	EVP_MAC_CTX *ctx = NULL;
	prov_status st;

	if (iterations == 0 || out_len == 0 || salt_len > SIZE_MAX - 4)
		return prov_err_set(e, PROV_E_USAGE, "PBKDF2: no iterations or no output");
	st = prf_key(pass, pass_len, kp, e);
	if (st == PROV_OK && (ctx = cmac_new(kp, e)) == NULL)
		st = PROV_E_CRYPTO;
	if (st == PROV_OK && (msg = malloc(salt_len + 4)) == NULL)
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (st != PROV_OK)
		goto out;
	if (salt_len > 0)
		memcpy(msg, salt, salt_len);
	/* RFC 8018 5.2: T_i = U_1 ^ ... ^ U_c, U_1 = PRF(P, S || INT(i)), U_j = PRF(P, U_{j-1}). */
	for (uint32_t blk = 1; out_len > 0; blk++) {
		size_t n = out_len < 16 ? out_len : 16;

		msg[salt_len] = (uint8_t)(blk >> 24);
		msg[salt_len + 1] = (uint8_t)(blk >> 16);
		msg[salt_len + 2] = (uint8_t)(blk >> 8);
		msg[salt_len + 3] = (uint8_t)blk;
		if (!cmac_run(ctx, 1, msg, salt_len + 4, u)) {
			st = prov_err_ssl(e, PROV_E_CRYPTO, "AES-CMAC failed");
			goto out;
		}
		memcpy(t, u, 16);
		for (unsigned it = 1; it < iterations; it++) {
			if (!cmac_run(ctx, 1, u, 16, u)) {
				st = prov_err_ssl(e, PROV_E_CRYPTO, "AES-CMAC failed");
				goto out;
			}
			for (int k = 0; k < 16; k++)
				t[k] ^= u[k];
		}
		memcpy(out, t, n);
		out += n;
		out_len -= n;
	}
out:
	EVP_MAC_CTX_free(ctx);
	free(msg);
	prov_wipe(kp, sizeof(kp));
	prov_wipe(u, sizeof(u));
	prov_wipe(t, sizeof(t));
	return st;
}

prov_status prov_thread_pskc(const char *passphrase, const char *network_name,
                             const uint8_t xpanid[PROV_THREAD_XPANID_LEN],
                             uint8_t out[PROV_THREAD_PSKC_LEN], prov_err *e)
{
	uint8_t salt[6 + PROV_THREAD_XPANID_LEN + PROV_THREAD_NETWORK_NAME_MAX];
	size_t pl = strlen(passphrase), nl = strlen(network_name);

	if (pl < PROV_THREAD_PASSPHRASE_MIN || pl > PROV_THREAD_PASSPHRASE_MAX)
		return prov_err_set(e, PROV_E_USAGE, "passphrase of %zu bytes: must be %d to %d bytes", pl,
		                    PROV_THREAD_PASSPHRASE_MIN, PROV_THREAD_PASSPHRASE_MAX);
	if (nl < 1 || nl > PROV_THREAD_NETWORK_NAME_MAX)
		return prov_err_set(e, PROV_E_USAGE, "network name of %zu bytes: must be 1 to %d bytes", nl,
		                    PROV_THREAD_NETWORK_NAME_MAX);
	memcpy(salt, "Thread", 6);
	memcpy(salt + 6, xpanid, PROV_THREAD_XPANID_LEN);
	memcpy(salt + 6 + PROV_THREAD_XPANID_LEN, network_name, nl);
	return prov_pbkdf2_aes_cmac_prf128((const uint8_t *)passphrase, pl, salt,
	                                   6 + PROV_THREAD_XPANID_LEN + nl, PROV_THREAD_PSKC_ITERATIONS,
	                                   out, PROV_THREAD_PSKC_LEN, e);
}

prov_status prov_thread_pskd_generate(char *out, size_t len, prov_err *e)
{
	uint8_t r[PROV_THREAD_PSKD_MAX];
	prov_status st;

	if (len < PROV_THREAD_PSKD_MIN || len > PROV_THREAD_PSKD_MAX)
		return prov_err_set(e, PROV_E_USAGE, "PSKd length %zu: must be %d to %d characters", len,
		                    PROV_THREAD_PSKD_MIN, PROV_THREAD_PSKD_MAX);
	st = prov_random(r, len, 1, e);
	if (st != PROV_OK)
		return st;
	for (size_t i = 0; i < len; i++)
		out[i] = pskd_alphabet[r[i] & 31];
	out[len] = 0;
	prov_wipe(r, sizeof(r));
	return PROV_OK;
}

prov_status prov_thread_pskd_check(const char *pskd, prov_err *e)
{
	size_t n = strlen(pskd);

	if (n < PROV_THREAD_PSKD_MIN || n > PROV_THREAD_PSKD_MAX)
		return prov_err_set(e, PROV_E_INPUT, "%zu characters: a PSKd has %d to %d", n,
		                    PROV_THREAD_PSKD_MIN, PROV_THREAD_PSKD_MAX);
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)pskd[i];

		if (ch == 0 || strchr(pskd_alphabet, ch) == NULL) {
			const char *why = ch >= 'a' && ch <= 'z' ? "lower case"
			                  : ch == 'I' || ch == 'O' || ch == 'Q' || ch == 'Z'
			                      ? "I, O, Q and Z are excluded"
			                      : "only 0-9 and A-Z";

			if (ch >= 0x21 && ch <= 0x7e)
				return prov_err_set(e, PROV_E_INPUT, "character %zu '%c' is not allowed (%s)",
				                    i + 1, ch, why);
			return prov_err_set(e, PROV_E_INPUT, "character %zu (byte 0x%02x) is not allowed (%s)",
			                    i + 1, ch, why);
		}
	}
	return PROV_OK;
}
