/*
 * test_thread.c - Thread credentials (prov/thread.h).
 *
 * - AES-CMAC-PRF-128 against the three test vectors of RFC 4615 section 4
 *   (keys of 18, 16 and 10 bytes).
 * - PBKDF2-AES-CMAC-PRF-128: one iteration equals the PRF of salt || INT(1);
 *   a 20-byte output's second block is PRF-chained from salt || INT(2).
 * - The PSKc example of the Thread specification, byte for byte, and the
 *   bounds: passphrase 6..255 bytes, network name 1..16 bytes.
 * - PSKd: generated ones are valid, of the asked length, use only the alphabet
 *   and (over 200 draws) all 32 symbols; bad lengths are refused; the checker
 *   accepts the edges and rejects I O Q Z, lower case, space, and bad lengths
 *   with the reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prov/thread.h"
#include "prov/util.h"

static void unhex(const char *s, uint8_t *out, size_t *n)
{
	CHECK(prov_unhex(s, out, 64, n) == 0);
}

static void rfc4615(void)
{
	static const struct {
		const char *key, *out;
	} v[] = {
		{"000102030405060708090a0b0c0d0e0fedcb", "84a348a4a45d235babfffc0d2b4da09a"},
		{"000102030405060708090a0b0c0d0e0f", "980ae87b5f4c9c5214f5b6a8455e4c2d"},
		{"00010203040506070809", "290d9e112edb09ee141fcf64c0b72f3d"},
	};
	uint8_t msg[64], key[64], want[64], got[16];
	size_t ml = 0, kl = 0, wl = 0;

	unhex("000102030405060708090a0b0c0d0e0f10111213", msg, &ml);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		unhex(v[i].key, key, &kl);
		unhex(v[i].out, want, &wl);
		CHECK(prov_aes_cmac_prf128(key, kl, msg, ml, got, NULL) == PROV_OK);
		CHECK_EQ_HEX(got, sizeof(got), want, wl);
	}
}

static void pbkdf2(void)
{
	const uint8_t pass[] = "passphrase", salt[] = "salty";
	uint8_t m[9], u1[16], u2[16], out[20];

	memcpy(m, salt, 5);
	memcpy(m + 5, "\0\0\0\1", 4);
	CHECK(prov_aes_cmac_prf128(pass, 10, m, 9, u1, NULL) == PROV_OK);
	CHECK(prov_pbkdf2_aes_cmac_prf128(pass, 10, salt, 5, 1, out, 16, NULL) == PROV_OK);
	CHECK_EQ_HEX(out, 16, u1, 16);
	/* two iterations: U1 ^ PRF(P, U1) */
	CHECK(prov_aes_cmac_prf128(pass, 10, u1, 16, u2, NULL) == PROV_OK);
	for (int i = 0; i < 16; i++)
		u2[i] ^= u1[i];
	CHECK(prov_pbkdf2_aes_cmac_prf128(pass, 10, salt, 5, 2, out, 16, NULL) == PROV_OK);
	CHECK_EQ_HEX(out, 16, u2, 16);
	/* 20 bytes: block 2 starts at byte 16 */
	m[8] = 2;
	CHECK(prov_aes_cmac_prf128(pass, 10, m, 9, u1, NULL) == PROV_OK);
	CHECK(prov_pbkdf2_aes_cmac_prf128(pass, 10, salt, 5, 1, out, 20, NULL) == PROV_OK);
	CHECK_EQ_HEX(out + 16, 4, u1, 4);
	CHECK(prov_pbkdf2_aes_cmac_prf128(pass, 10, salt, 5, 0, out, 16, NULL) == PROV_E_USAGE);
}

static void pskc(void)
{
	const uint8_t xp[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	uint8_t want[16], got[16];
	size_t wl = 0;
	char long_pass[257], name17[18];
	prov_err e;

	unhex("c3f59368445a1b6106be420a706d4cc9", want, &wl);
	CHECK(prov_thread_pskc("12SECRETPASSWORD34", "Test Network", xp, got, &e) == PROV_OK);
	CHECK_EQ_HEX(got, sizeof(got), want, wl);
	/* a different xpanid or name gives another key */
	CHECK(prov_thread_pskc("12SECRETPASSWORD34", "Test Networl", xp, got, NULL) == PROV_OK);
	CHECK(memcmp(got, want, 16) != 0);
	CHECK(prov_thread_pskc("12345", "n", xp, got, &e) == PROV_E_USAGE);
	CHECK(strcmp(e.msg, "passphrase of 5 bytes: must be 6 to 255 bytes") == 0);
	CHECK(prov_thread_pskc("123456", "n", xp, got, NULL) == PROV_OK);
	memset(long_pass, 'p', 256);
	long_pass[256] = 0;
	CHECK(prov_thread_pskc(long_pass, "n", xp, got, &e) == PROV_E_USAGE);
	CHECK(strcmp(e.msg, "passphrase of 256 bytes: must be 6 to 255 bytes") == 0);
	long_pass[255] = 0;
	CHECK(prov_thread_pskc(long_pass, "n", xp, got, NULL) == PROV_OK);
	CHECK(prov_thread_pskc("123456", "", xp, got, &e) == PROV_E_USAGE);
	CHECK(strcmp(e.msg, "network name of 0 bytes: must be 1 to 16 bytes") == 0);
	memset(name17, 'n', 17);
	name17[17] = 0;
	CHECK(prov_thread_pskc("123456", name17, xp, got, &e) == PROV_E_USAGE);
	CHECK(strcmp(e.msg, "network name of 17 bytes: must be 1 to 16 bytes") == 0);
	name17[16] = 0;
	CHECK(prov_thread_pskc("123456", name17, xp, got, NULL) == PROV_OK);
}

static void pskd(void)
{
	static const char alphabet[] = "0123456789ABCDEFGHJKLMNPRSTUVWXY";
	char buf[PROV_THREAD_PSKD_MAX + 1];
	int seen[256] = {0}, all = 1;
	prov_err e;

	for (int i = 0; i < 200; i++) {
		size_t len = 6 + (size_t)(i % 27);
		int ok = 1;

		CHECK(prov_thread_pskd_generate(buf, len, NULL) == PROV_OK);
		ok &= strlen(buf) == len;
		for (size_t k = 0; k < len; k++) {
			ok &= strchr(alphabet, buf[k]) != NULL;
			seen[(unsigned char)buf[k]]++;
		}
		ok &= prov_thread_pskd_check(buf, NULL) == PROV_OK;
		CHECK_MSG(ok, "%s", buf);
	}
	for (const char *p = alphabet; *p != 0; p++)
		all &= seen[(unsigned char)*p] > 0;
	CHECK(all);
	CHECK(prov_thread_pskd_generate(buf, 5, &e) == PROV_E_USAGE);
	CHECK(prov_thread_pskd_generate(buf, 33, &e) == PROV_E_USAGE);

	CHECK(prov_thread_pskd_check("J01NME", NULL) == PROV_OK);
	CHECK(prov_thread_pskd_check("0123456789ABCDEFGHJKLMNPRSTUVWXY", NULL) == PROV_OK);
	CHECK(prov_thread_pskd_check("J01NM", &e) == PROV_E_INPUT);
	CHECK(strcmp(e.msg, "5 characters: a PSKd has 6 to 32") == 0);
	CHECK(prov_thread_pskd_check("0123456789ABCDEFGHJKLMNPRSTUVWXY0", &e) == PROV_E_INPUT);
	CHECK(strcmp(e.msg, "33 characters: a PSKd has 6 to 32") == 0);
	CHECK(prov_thread_pskd_check("ABCDEI", &e) == PROV_E_INPUT);
	CHECK(strcmp(e.msg, "character 6 'I' is not allowed (I, O, Q and Z are excluded)") == 0);
	CHECK(prov_thread_pskd_check("OBCDEF", &e) == PROV_E_INPUT);
	CHECK(prov_thread_pskd_check("ABQDEF", &e) == PROV_E_INPUT);
	CHECK(prov_thread_pskd_check("ABCZEF", &e) == PROV_E_INPUT);
	CHECK(strcmp(e.msg, "character 4 'Z' is not allowed (I, O, Q and Z are excluded)") == 0);
	CHECK(prov_thread_pskd_check("abcdef", &e) == PROV_E_INPUT);
	CHECK(strcmp(e.msg, "character 1 'a' is not allowed (lower case)") == 0);
	CHECK(prov_thread_pskd_check("ABC DEF", &e) == PROV_E_INPUT);
	CHECK(strcmp(e.msg, "character 4 (byte 0x20) is not allowed (only 0-9 and A-Z)") == 0);
	CHECK(prov_thread_pskd_check("ABC-DEF", &e) == PROV_E_INPUT);
	CHECK(strcmp(e.msg, "character 4 '-' is not allowed (only 0-9 and A-Z)") == 0);
}

int main(void)
{
	rfc4615();
	pbkdf2();
	pskc();
	pskd();
	return check_done("test_thread");
}
