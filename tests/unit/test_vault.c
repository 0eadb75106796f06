/*
 * test_vault.c - secrets sealed for their rows (prov/vault.h).
 *
 * The format existing factories hold: a vault-sealed PSK or key opens with
 * prov_open under the AAD docs/database.md documents ("psk|D|G|S",
 * "key|D|G"), and a blob sealed that way opens through the vault; the check
 * value is "provkit key-encryption key v1" under "provkit-kek-check".  A
 * value moved to another row (device, generation, slot, kind) does not open.
 * A checked KEK names the damaged row (device escaped, generation, slot):
 * PROV_E_DB; an unchecked one blames the KEK: PROV_E_AUTH.  Sizes: a sealed
 * value shorter than an empty one, of another version, or longer than the
 * largest secret of its kind is damaged, and nothing is written out.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "prov/secret.h"
#include "prov/util.h"
#include "prov/vault.h"

#define SENTINEL 0xA5

static int printable(const char *m)
{
	for (; *m; m++)
		if ((unsigned char)*m < 0x20 || (unsigned char)*m >= 0x7f)
			return 0;
	return 1;
}

static void test_format(const prov_kek *k)
{
	uint8_t psk[32], blob[32 + PROV_SEAL_OVERHEAD], out[PROV_VAULT_PSK_MAX], check[PROV_VAULT_CHECK_LEN];
	uint8_t text[64];
	size_t n = 0;
	prov_err e;

	for (size_t i = 0; i < sizeof(psk); i++)
		psk[i] = (uint8_t)(i * 7 + 3);
	/* Sealed by the vault, opened by the documented AAD ... */
	CHECK(prov_vault_seal_psk(k, "dev-1", 3, 7, psk, sizeof(psk), blob, &e) == PROV_OK);
	CHECK(prov_open(k, "psk|dev-1|3|7", blob, sizeof(blob), out, &n, &e) == PROV_OK);
	CHECK_EQ_HEX(out, n, psk, sizeof(psk));
	CHECK(prov_vault_seal_key(k, "dev-1", 12, psk, 32, blob, &e) == PROV_OK);
	CHECK(prov_open(k, "key|dev-1|12", blob, sizeof(blob), out, &n, &e) == PROV_OK);
	CHECK_EQ_HEX(out, n, psk, 32);
	/* ... and what a factory made before the vault opens through it. */
	CHECK(prov_seal(k, "psk|node-000042|1|2", psk, 16, blob, &e) == PROV_OK);
	memset(out, SENTINEL, sizeof(out));
	CHECK(prov_vault_open_psk(k, "node-000042", 1, 2, blob, 16 + PROV_SEAL_OVERHEAD, out, &n, &e) == PROV_OK);
	CHECK_EQ_HEX(out, n, psk, 16);
	CHECK(prov_seal(k, "key|node-000042|2", psk, 32, blob, &e) == PROV_OK);
	CHECK(prov_vault_open_key(k, "node-000042", 2, blob, sizeof(blob), out, &n, &e) == PROV_OK);
	CHECK_EQ_HEX(out, n, psk, 32);
	/* The check value. */
	CHECK(prov_vault_check_seal(k, check, &e) == PROV_OK);
	CHECK(prov_vault_check_open(k, check, sizeof(check), &e) == PROV_OK);
	CHECK(prov_open(k, "provkit-kek-check", check, sizeof(check), text, &n, &e) == PROV_OK);
	CHECK(n == 29 && memcmp(text, "provkit key-encryption key v1", 29) == 0);
}

/* Sealed for one row, it opens for that row only. */
static void test_bound_to_row(const prov_kek *k)
{
	static const struct {
		const char *dev;
		int64_t gen, slot;
	} other[] = {
		{"dev-2", 1, 2}, {"dev-1", 2, 2}, {"dev-1", 1, 3}, {"dev-1 ", 1, 2}, {"dev-", 11, 2}, {"dev-1|1", 2, 0},
	};
	uint8_t psk[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	uint8_t blob[16 + PROV_SEAL_OVERHEAD], out[PROV_VAULT_PSK_MAX];
	size_t n = 0;
	prov_err e;

	CHECK(prov_vault_seal_psk(k, "dev-1", 1, 2, psk, sizeof(psk), blob, &e) == PROV_OK);
	CHECK(prov_vault_open_psk(k, "dev-1", 1, 2, blob, sizeof(blob), out, &n, &e) == PROV_OK && n == 16);
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		memset(out, SENTINEL, sizeof(out));
		CHECK_MSG(prov_vault_open_psk(k, other[i].dev, other[i].gen, other[i].slot, blob, sizeof(blob), out,
		                              &n, &e) == PROV_E_AUTH,
		          "a PSK of (dev-1, 1, 2) opened as (%s, %lld, %lld)", other[i].dev,
		          (long long)other[i].gen, (long long)other[i].slot);
		for (size_t j = 0; j < sizeof(psk); j++)
			CHECK(out[j] != psk[j]);
	}
	/* A PSK is not a key of the same device and generation, nor the reverse. */
	CHECK(prov_vault_open_key(k, "dev-1", 1, blob, sizeof(blob), out, &n, &e) == PROV_E_AUTH);
	CHECK(prov_vault_seal_key(k, "dev-1", 1, psk, sizeof(psk), blob, &e) == PROV_OK);
	CHECK(prov_vault_open_psk(k, "dev-1", 1, 0, blob, sizeof(blob), out, &n, &e) == PROV_E_AUTH);
	CHECK(prov_vault_open_key(k, "dev-1", 2, blob, sizeof(blob), out, &n, &e) == PROV_E_AUTH);
	CHECK(prov_vault_open_key(k, "dev-1", 1, blob, sizeof(blob), out, &n, &e) == PROV_OK);
	/* The check value opens as no row. */
	{
		uint8_t check[PROV_VAULT_CHECK_LEN];

		CHECK(prov_vault_check_seal(k, check, &e) == PROV_OK);
		CHECK(prov_vault_open_psk(k, "provkit-kek-check", 0, 0, check, sizeof(check), out, &n, &e) != PROV_OK);
		CHECK(prov_vault_check_open(k, blob, sizeof(blob), &e) == PROV_E_AUTH);
	}
}

/* A checked KEK names the damaged row; an unchecked one blames the KEK. */
static void test_damaged_row(const prov_kek *k)
{
	static const struct {
		const char *dev;
		int64_t gen, slot;           /* slot < 0: the private key */
		const char *want;
	} rows[] = {
		{"dev-1", 3, 7, "the PSK of device \"dev-1\" (generation 3, slot 7) is damaged: "},
		{"dev-1", 12, -1, "the private key of device \"dev-1\" (generation 12) is damaged: "},
		{"a|b", 4, 2, "the PSK of device \"a|b\" (generation 4, slot 2) is damaged: "},
		{"\x1b]0;x\x07\n", 1, 2, "the PSK of device \"\\x1b]0;x\\x07\\n\" (generation 1, slot 2) is damaged: "},
	};
	prov_kek checked = *k, unchecked = *k;
	uint8_t pt[16], blob[16 + PROV_SEAL_OVERHEAD], big[200], out[PROV_VAULT_PSK_MAX];
	size_t got = 0;
	prov_err e;

	checked.checked = 1;
	unchecked.checked = 0;
	memset(pt, 0x5a, sizeof(pt));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int psk = rows[i].slot >= 0;

#define OPEN(kek, b, n) \
	(psk ? prov_vault_open_psk(kek, rows[i].dev, rows[i].gen, rows[i].slot, b, n, out, &got, &e) \
	     : prov_vault_open_key(kek, rows[i].dev, rows[i].gen, b, n, out, &got, &e))
		CHECK((psk ? prov_vault_seal_psk(k, rows[i].dev, rows[i].gen, rows[i].slot, pt, sizeof(pt), blob, &e)
		           : prov_vault_seal_key(k, rows[i].dev, rows[i].gen, pt, sizeof(pt), blob, &e)) == PROV_OK);
		/* It opens either way while intact. */
		CHECK(OPEN(&checked, blob, sizeof(blob)) == PROV_OK);
		CHECK(OPEN(&unchecked, blob, sizeof(blob)) == PROV_OK);
		blob[20] ^= 0x40;
		memset(&e, 0, sizeof(e));
		CHECK(OPEN(&checked, blob, sizeof(blob)) == PROV_E_DB);
		CHECK_MSG(strncmp(e.msg, rows[i].want, strlen(rows[i].want)) == 0, "message: %s", e.msg);
		CHECK_MSG(strstr(e.msg, "does not open under this factory's key-encryption key") != NULL,
		          "message: %s", e.msg);
		CHECK_MSG(printable(e.msg), "message with raw bytes: %s", e.msg);
		memset(&e, 0, sizeof(e));
		CHECK(OPEN(&unchecked, blob, sizeof(blob)) == PROV_E_AUTH);
		CHECK_MSG(strstr(e.msg, "wrong key-encryption key or passphrase") != NULL, "message: %s", e.msg);
		/* Malformed: damaged whatever the KEK. */
		CHECK(OPEN(&unchecked, blob, PROV_SEAL_OVERHEAD - 1) == PROV_E_DB);
		CHECK_MSG(strncmp(e.msg, rows[i].want, strlen(rows[i].want)) == 0 &&
		          strstr(e.msg, "its sealed value is malformed (28 bytes, less than the 29 of an empty one)") != NULL,
		          "message: %s", e.msg);
		CHECK(OPEN(&unchecked, NULL, 0) == PROV_E_DB);
		CHECK_MSG(strstr(e.msg, "malformed (0 bytes") != NULL, "message: %s", e.msg);
		blob[0] = 7;
		CHECK(OPEN(&checked, blob, sizeof(blob)) == PROV_E_DB);
		CHECK_MSG(strstr(e.msg, "malformed (version 7, not 1)") != NULL, "message: %s", e.msg);
		/* Longer than any secret of its kind: never opened into the buffer. */
		memset(big, 1, sizeof(big));
		memset(out, SENTINEL, sizeof(out));
		CHECK(OPEN(&checked, big, sizeof(big)) == PROV_E_DB);
		CHECK_MSG(strncmp(e.msg, rows[i].want, strlen(rows[i].want)) == 0 &&
		          strstr(e.msg, psk ? "malformed (200 bytes, more than the 93 of a 64-byte PSK)"
		                            : "malformed (200 bytes, more than the 93 of a 64-byte private key)") != NULL,
		          "message: %s", e.msg);
		for (size_t j = 0; j < sizeof(out); j++)
			CHECK(out[j] == SENTINEL);
#undef OPEN
	}
	prov_kek_wipe(&checked);
	prov_kek_wipe(&unchecked);
}

/* Secrets larger than the vault's bound are refused before anything is sealed. */
static void test_bounds(const prov_kek *k)
{
	uint8_t big[PROV_VAULT_PSK_MAX + 1], blob[sizeof(big) + PROV_SEAL_OVERHEAD];
	prov_err e;

	memset(big, 3, sizeof(big));
	CHECK(prov_vault_seal_psk(k, "d", 1, 1, big, sizeof(big), blob, &e) == PROV_E_INTERNAL);
	CHECK(prov_vault_seal_key(k, "d", 1, big, sizeof(big), blob, &e) == PROV_E_INTERNAL);
	CHECK(prov_vault_seal_psk(k, "d", 1, 1, big, PROV_VAULT_PSK_MAX, blob, &e) == PROV_OK);
}

int main(void)
{
	prov_kek k;
	prov_err e;

	CHECK(prov_random(k.key, sizeof(k.key), 1, &e) == PROV_OK);
	k.checked = 0;
	test_format(&k);
	test_bound_to_row(&k);
	test_damaged_row(&k);
	test_bounds(&k);
	prov_kek_wipe(&k);
	return check_done("test_vault");
}
