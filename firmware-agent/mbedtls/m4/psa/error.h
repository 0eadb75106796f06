/*
 * psa/error.h - the platform's PSA status codes, for a target Mbed TLS build
 * without MBEDTLS_PSA_ITS_FILE_C (mbedtls_config_m4.h): psa_crypto_storage.c
 * then includes this and psa/internal_trusted_storage.h from the platform.
 * The codes are Mbed TLS's own (psa/crypto_values.h), so ITS and crypto agree.
 */
#ifndef PROVKIT_PSA_ERROR_H
#define PROVKIT_PSA_ERROR_H

#include <psa/crypto_types.h>
#include <psa/crypto_values.h>

#endif
