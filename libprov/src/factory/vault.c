/* vault.c - secrets sealed for their rows (see prov/vault.h).  The one place
 * that knows how a sealed value is bound to its database row. */
#include "prov/vault.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "prov/escape.h"
#include "prov/util.h"

/* The AAD of each kind of sealed row (docs/database.md "Secrets at rest").
 * Never change one: every sealed value in every factory is bound to it. */
#define AAD_PSK "psk|%s|%" PRId64 "|%" PRId64  /* device, generation, slot */
#define AAD_KEY "key|%s|%" PRId64              /* device, generation */
#define AAD_CHECK "provkit-kek-check"
#define CHECK_TEXT "provkit key-encryption key v1"

_Static_assert(sizeof(CHECK_TEXT) - 1 + PROV_SEAL_OVERHEAD == PROV_VAULT_CHECK_LEN,
               "PROV_VAULT_CHECK_LEN is the sealed check text");

/* Device IDs are at most 64 characters; the AAD of a longer one (a damaged
 * row) still fits, so the AAD never silently becomes another row's. */
#define AAD_MAX (4 * 64 + 64)
#define NAME_MAX_ (4 * 64 + 8 + 96)

/* "the PSK of device "D" (generation G, slot S)", D escaped. */
static const char *name_psk(char *out, size_t cap, const char *device, int64_t gen, int64_t slot)
{
	char dev[4 * 64 + 8];

	snprintf(out, cap, "the PSK of device \"%s\" (generation %" PRId64 ", slot %" PRId64 ")",
	         prov_escape_str(dev, sizeof(dev), device), gen, slot);
	return out;
}

static const char *name_key(char *out, size_t cap, const char *device, int64_t gen)
{
	char dev[4 * 64 + 8];

	snprintf(out, cap, "the private key of device \"%s\" (generation %" PRId64 ")",
	         prov_escape_str(dev, sizeof(dev), device), gen);
	return out;
}

/* The AAD, or an error when it does not fit (a device ID far beyond 64). */
static prov_status aad_psk(char *aad, const char *device, int64_t gen, int64_t slot, prov_err *e)
{
	int n = snprintf(aad, AAD_MAX, AAD_PSK, device, gen, slot);
	char name[NAME_MAX_];

	if (n < 0 || n >= AAD_MAX)
		return prov_err_set(e, PROV_E_DB, "%s is damaged: its device ID is too long",
		                    name_psk(name, sizeof(name), device, gen, slot));
	return PROV_OK;
}

static prov_status aad_key(char *aad, const char *device, int64_t gen, prov_err *e)
{
	int n = snprintf(aad, AAD_MAX, AAD_KEY, device, gen);
	char name[NAME_MAX_];

	if (n < 0 || n >= AAD_MAX)
		return prov_err_set(e, PROV_E_DB, "%s is damaged: its device ID is too long",
		                    name_key(name, sizeof(name), device, gen));
	return PROV_OK;
}

prov_status prov_vault_seal_psk(const prov_kek *k, const char *device, int64_t gen, int64_t slot,
                                const uint8_t *psk, size_t n, uint8_t *out, prov_err *e)
{
	char aad[AAD_MAX];
	prov_status st;

	if (n > PROV_VAULT_PSK_MAX)
		return prov_err_set(e, PROV_E_INTERNAL, "a PSK of %zu bytes (at most %d)", n, PROV_VAULT_PSK_MAX);
	st = aad_psk(aad, device, gen, slot, e);
	return st == PROV_OK ? prov_seal(k, aad, psk, n, out, e) : st;
}

/* Open a row's sealed value into out (cap bytes of secret at most); name says
 * which row in messages, kind what a secret of its kind is ("PSK"). */
static prov_status open_row(const prov_kek *k, const char *aad, const char *name, const char *kind,
                            size_t cap, const uint8_t *sealed, size_t len, uint8_t *out, size_t *n,
                            prov_err *e)
{
	if (len > cap + PROV_SEAL_OVERHEAD)
		return prov_err_set(e, PROV_E_DB,
		                    "%s is damaged: its sealed value is malformed (%zu bytes, more than the %zu "
		                    "of a %zu-byte %s)", name, len, cap + PROV_SEAL_OVERHEAD, cap, kind);
	return prov_open_named(k, aad, name, sealed != NULL ? sealed : (const uint8_t *)"", sealed != NULL ? len : 0,
	                       out, n, e);
}

prov_status prov_vault_open_psk(const prov_kek *k, const char *device, int64_t gen, int64_t slot,
                                const uint8_t *sealed, size_t len, uint8_t *psk, size_t *n,
                                prov_err *e)
{
	char aad[AAD_MAX], name[NAME_MAX_];
	prov_status st = aad_psk(aad, device, gen, slot, e);

	*n = 0;
	return st != PROV_OK ? st
	                     : open_row(k, aad, name_psk(name, sizeof(name), device, gen, slot), "PSK",
	                                PROV_VAULT_PSK_MAX, sealed, len, psk, n, e);
}

prov_status prov_vault_seal_key(const prov_kek *k, const char *device, int64_t gen, const uint8_t *raw,
                                size_t n, uint8_t *out, prov_err *e)
{
	char aad[AAD_MAX];
	prov_status st;

	if (n > PROV_VAULT_KEY_MAX)
		return prov_err_set(e, PROV_E_INTERNAL, "a private key of %zu bytes (at most %d)", n,
		                    PROV_VAULT_KEY_MAX);
	st = aad_key(aad, device, gen, e);
	return st == PROV_OK ? prov_seal(k, aad, raw, n, out, e) : st;
}

prov_status prov_vault_open_key(const prov_kek *k, const char *device, int64_t gen,
                                const uint8_t *sealed, size_t len, uint8_t *raw, size_t *n,
                                prov_err *e)
{
	char aad[AAD_MAX], name[NAME_MAX_];
	prov_status st = aad_key(aad, device, gen, e);

	*n = 0;
	return st != PROV_OK ? st
	                     : open_row(k, aad, name_key(name, sizeof(name), device, gen), "private key",
	                                PROV_VAULT_KEY_MAX, sealed, len, raw, n, e);
}

prov_status prov_vault_check_seal(const prov_kek *k, uint8_t out[PROV_VAULT_CHECK_LEN], prov_err *e)
{
	return prov_seal(k, AAD_CHECK, (const uint8_t *)CHECK_TEXT, sizeof(CHECK_TEXT) - 1, out, e);
}

prov_status prov_vault_check_open(const prov_kek *k, const uint8_t *v, size_t len, prov_err *e)
{
	uint8_t text[sizeof(CHECK_TEXT) + 64];
	size_t n = 0;
	/* Any failure here is the KEK's, never a damaged row's. */
	int ok = len <= sizeof(text) + PROV_SEAL_OVERHEAD &&
	         prov_open(k, AAD_CHECK, v, len, text, &n, NULL) == PROV_OK;

	prov_wipe(text, sizeof(text));
	return ok ? PROV_OK
	          : prov_err_set(e, PROV_E_AUTH, "the key-encryption key does not open this factory's check value");
}
