/*
 * pa_fw_mbedtls.c - what the firmware's Mbed TLS configuration
 * (mbedtls/mbedtls_config_m4.h) asks of the platform: the DRBG's entropy
 * source, the allocator's stop, and AES without its decryption direction.
 */
#include <mbedtls/aes.h>
#include <mbedtls/entropy_poll.h>
#include <mbedtls/platform.h>

#include "pa/pa_board.h"

/* The DRBG's entropy source (MBEDTLS_ENTROPY_HARDWARE_ALT): the board's. */
int mbedtls_hardware_poll(void *data, unsigned char *output, size_t len, size_t *olen)
{
	(void)data;
	*olen = 0;
	if (pa_board_entropy(output, len) != PA_BOARD_OK)
		return -1;
	*olen = len;
	return 0;
}

/* The allocator found its pool corrupted (MBEDTLS_PLATFORM_EXIT_MACRO). */
void pa_fw_mbedtls_exit(int status)
{
	(void)status;
	pa_board_log("[fw] fatal: Mbed TLS heap corrupted");
	pa_board_reset();
}

/* AES only ever runs forward: CCM and GCM (the secrets) decrypt with the
 * forward cipher in counter mode, and so does CTR_DRBG.  The inverse cipher's key schedule, round
 * function and tables (2.4 KB of flash) are left out through the _ALT hooks
 * (MBEDTLS_AES_SETKEY_DEC_ALT, MBEDTLS_AES_DECRYPT_ALT): these fail, and
 * nothing in the image calls them with a reason to succeed. */
int mbedtls_aes_setkey_dec(mbedtls_aes_context *ctx, const unsigned char *key,
                           unsigned int keybits)
{
	(void)ctx;
	(void)key;
	(void)keybits;
	return MBEDTLS_ERR_PLATFORM_FEATURE_UNSUPPORTED;
}

int mbedtls_internal_aes_decrypt(mbedtls_aes_context *ctx, const unsigned char input[16],
                                 unsigned char output[16])
{
	(void)ctx;
	(void)input;
	(void)output;
	return MBEDTLS_ERR_PLATFORM_FEATURE_UNSUPPORTED;
}
