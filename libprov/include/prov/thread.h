/*
 * prov/thread.h - Thread network credentials: the PSKc and the joiner's PSKd.
 *
 * PSKc (Thread 1.1 specification 8.4.1.2.2): PBKDF2 (RFC 8018) with
 * AES-CMAC-PRF-128 (RFC 4615) as its PRF, 16384 iterations, salt
 * "Thread" || extended PAN ID (8 bytes) || network name, 16 bytes out.  OpenSSL's
 * PBKDF2 KDF takes only HMAC digests, so PBKDF2 is composed here from OpenSSL's
 * CMAC (EVP_MAC "CMAC" over AES-128-CBC): the standard construction, no
 * primitive of our own.
 *
 * PSKd (the joiner credential): 6 to 32 characters from 0-9 and A-Z without
 * I, O, Q and Z (32 symbols, 5 bits each).
 */
#ifndef PROV_THREAD_H
#define PROV_THREAD_H

#include <stddef.h>
#include <stdint.h>

#include "prov/err.h"

#define PROV_THREAD_PSKC_LEN 16
#define PROV_THREAD_PSKC_ITERATIONS 16384
#define PROV_THREAD_PASSPHRASE_MIN 6
#define PROV_THREAD_PASSPHRASE_MAX 255
#define PROV_THREAD_NETWORK_NAME_MAX 16
#define PROV_THREAD_XPANID_LEN 8
#define PROV_THREAD_PSKD_MIN 6
#define PROV_THREAD_PSKD_MAX 32

/* AES-CMAC-PRF-128 (RFC 4615): a key of any length (0 < n); 16 bytes out. */
prov_status prov_aes_cmac_prf128(const uint8_t *key, size_t key_len, const uint8_t *msg,
                                 size_t msg_len, uint8_t out[16], prov_err *e);

/* PBKDF2 (RFC 8018 5.2) with AES-CMAC-PRF-128; any out_len > 0. */
prov_status prov_pbkdf2_aes_cmac_prf128(const uint8_t *pass, size_t pass_len, const uint8_t *salt,
                                        size_t salt_len, unsigned iterations, uint8_t *out,
                                        size_t out_len, prov_err *e);

/* The Thread PSKc.  Passphrase 6..255 bytes, network name 1..16 bytes,
 * xpanid 8 bytes; anything else is PROV_E_USAGE with the reason. */
prov_status prov_thread_pskc(const char *passphrase, const char *network_name,
                             const uint8_t xpanid[PROV_THREAD_XPANID_LEN],
                             uint8_t out[PROV_THREAD_PSKC_LEN], prov_err *e);

/* A random PSKd of len characters (6..32) from the CSPRNG into out (len + 1
 * bytes, NUL-terminated). */
prov_status prov_thread_pskd_generate(char *out, size_t len, prov_err *e);

/* Check a PSKd; PROV_OK when valid, else PROV_E_INPUT naming the defect (length,
 * or the first bad character and its position). */
prov_status prov_thread_pskd_check(const char *pskd, prov_err *e);

#endif
