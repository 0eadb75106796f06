/*
 * psa/error.h - PSA status codes, for Mbed TLS 2.28 built without
 * MBEDTLS_PSA_ITS_FILE_C.
 *
 * Its library/psa_crypto_storage.c then includes "psa/error.h" and
 * "psa/internal_trusted_storage.h" from the platform (this directory: a board
 * adds -Ifirmware-agent/its to Mbed TLS's compile).  Mbed TLS 2.28 already
 * defines psa_status_t and every PSA_ERROR_* code in psa/crypto.h, so this
 * header only includes that one (the next psa/ directory on the include path,
 * Mbed TLS's own).
 */
#ifndef PA_PSA_ERROR_H
#define PA_PSA_ERROR_H

#include <psa/crypto.h>

#endif
