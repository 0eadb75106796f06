/*
 * psa/internal_trusted_storage.h - the PSA Internal Trusted Storage API
 * (PSA Certified Secure Storage API 1.0, ITS part), as Mbed TLS 2.28's PSA
 * core calls it for persistent keys, implemented by the flash store in this
 * directory's parent (firmware-agent/its/, docs/flash-storage.md).
 *
 * The declarations are the ones Mbed TLS 2.28 uses internally
 * (library/psa_crypto_its.h, which it does not install): same types, flags
 * and signatures, so the library's psa_crypto_storage.c links against these
 * functions when built without MBEDTLS_PSA_ITS_FILE_C.
 *
 * Behaviour (the PSA ITS contract, with the choices the specification leaves
 * open):
 * - psa_its_set creates or replaces uid atomically: after a power cut at any
 *   point a later get returns the old value or the new one, never a mix.
 * - uid 0 is invalid everywhere (PSA_ERROR_INVALID_ARGUMENT).
 * - create_flags: PSA_STORAGE_FLAG_WRITE_ONCE is honoured (a later set or
 *   remove is PSA_ERROR_NOT_PERMITTED); NO_CONFIDENTIALITY and
 *   NO_REPLAY_PROTECTION are accepted and only recorded (this storage gives
 *   neither property against someone who can read or rewrite the flash);
 *   any other bit is PSA_ERROR_NOT_SUPPORTED.
 * - psa_its_get copies exactly data_length bytes from data_offset;
 *   data_offset + data_length beyond the record is PSA_ERROR_INVALID_ARGUMENT
 *   (as Mbed TLS's file backend does).  p_data_length may be NULL.
 * - PSA_ERROR_DATA_CORRUPT: the record exists but its stored bytes fail their
 *   checksum (nothing is copied: the output is zeroed).
 * - PSA_ERROR_STORAGE_FAILURE: the store is not mounted (pa_its_mount), or the
 *   flash failed; after a failed write every call returns it until the next
 *   pa_its_mount.
 * - PSA_ERROR_INSUFFICIENT_STORAGE: no room for the record (or a record larger
 *   than pa_its_record_max(), or no free entry in the RAM index).
 * Not thread-safe: one caller at a time.
 */
#ifndef PSA_INTERNAL_TRUSTED_STORAGE_H
#define PSA_INTERNAL_TRUSTED_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include <psa/crypto.h>

#ifndef PSA_CRYPTO_ITS_H   /* Mbed TLS's private copy of the same declarations */
typedef uint32_t psa_storage_create_flags_t;
typedef uint64_t psa_storage_uid_t;

#define PSA_STORAGE_FLAG_NONE        0u
#define PSA_STORAGE_FLAG_WRITE_ONCE  (1u << 0)

struct psa_storage_info_t {
	uint32_t size;                      /* bytes of data stored under the uid */
	psa_storage_create_flags_t flags;   /* the flags it was created with */
};

#define PSA_ITS_API_VERSION_MAJOR 1
#define PSA_ITS_API_VERSION_MINOR 1

psa_status_t psa_its_set(psa_storage_uid_t uid, uint32_t data_length, const void *p_data,
                         psa_storage_create_flags_t create_flags);
psa_status_t psa_its_get(psa_storage_uid_t uid, uint32_t data_offset, uint32_t data_length,
                         void *p_data, size_t *p_data_length);
psa_status_t psa_its_get_info(psa_storage_uid_t uid, struct psa_storage_info_t *p_info);
psa_status_t psa_its_remove(psa_storage_uid_t uid);
#endif

/* The other flags of the PSA Secure Storage API 1.0 (protected storage). */
#ifndef PSA_STORAGE_FLAG_NO_CONFIDENTIALITY
#define PSA_STORAGE_FLAG_NO_CONFIDENTIALITY    (1u << 1)
#endif
#ifndef PSA_STORAGE_FLAG_NO_REPLAY_PROTECTION
#define PSA_STORAGE_FLAG_NO_REPLAY_PROTECTION  (1u << 2)
#endif

#endif
