/*
 * psa/internal_trusted_storage.h - the PSA Internal Trusted Storage API (PSA
 * Certified Secure Storage API 1.0, section 5.2) as the platform provides it
 * to a target Mbed TLS build (mbedtls_config_m4.h: no MBEDTLS_PSA_ITS_FILE_C).
 *
 * The firmware's implementation is the flash store (firmware-agent/its/, over
 * the board's pa_flash driver, mounted with pa_its_mount); PSA keeps its
 * persistent keys there (uid = key ID, below 2^32) and the agent its records
 * (uids above 2^32, pa_config.h) through port/pa_port_its.c.  Each set()
 * replaces a record atomically, across a power cut too.
 */
#ifndef PROVKIT_PSA_ITS_H
#define PROVKIT_PSA_ITS_H

#include <stddef.h>
#include <stdint.h>

#include "psa/error.h"

typedef uint32_t psa_storage_create_flags_t;
typedef uint64_t psa_storage_uid_t;

#define PSA_STORAGE_FLAG_NONE 0u
#define PSA_STORAGE_FLAG_WRITE_ONCE (1u << 0)

struct psa_storage_info_t {
	uint32_t size;
	psa_storage_create_flags_t flags;
};

#define PSA_ITS_API_VERSION_MAJOR 1
#define PSA_ITS_API_VERSION_MINOR 0

/* Create or replace uid atomically. */
psa_status_t psa_its_set(psa_storage_uid_t uid, uint32_t data_length, const void *p_data,
                         psa_storage_create_flags_t create_flags);
/* Copy data_length bytes from data_offset of uid into p_data; *p_data_length
 * the number copied.  PSA_ERROR_DOES_NOT_EXIST if there is no such uid. */
psa_status_t psa_its_get(psa_storage_uid_t uid, uint32_t data_offset, uint32_t data_length,
                         void *p_data, size_t *p_data_length);
/* Size and flags of uid. */
psa_status_t psa_its_get_info(psa_storage_uid_t uid, struct psa_storage_info_t *p_info);
/* Remove uid atomically. */
psa_status_t psa_its_remove(psa_storage_uid_t uid);

#endif
