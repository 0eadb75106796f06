/*
 * psa_its.c - the PSA Internal Trusted Storage API over the flash store
 * (its/psa/internal_trusted_storage.h says what each call promises).
 * Arguments are checked here; the log (pa_its_flash.c) does the rest.
 */
#include "its/pa_its_log.h"

psa_status_t psa_its_set(psa_storage_uid_t uid, uint32_t data_length, const void *p_data,
                         psa_storage_create_flags_t create_flags)
{
	if (uid == 0 || (p_data == NULL && data_length > 0))
		return PSA_ERROR_INVALID_ARGUMENT;
	if ((create_flags & ~(psa_storage_create_flags_t)PA_ITS_FLAGS_KNOWN) != 0)
		return PSA_ERROR_NOT_SUPPORTED;
	return pa_its_log_set(uid, p_data, data_length, create_flags);
}

psa_status_t psa_its_get(psa_storage_uid_t uid, uint32_t data_offset, uint32_t data_length,
                         void *p_data, size_t *p_data_length)
{
	psa_status_t st;

	if (p_data_length != NULL)
		*p_data_length = 0;
	if (uid == 0 || (p_data == NULL && data_length > 0))
		return PSA_ERROR_INVALID_ARGUMENT;
	st = pa_its_log_get(uid, data_offset, data_length, p_data);
	if (st == PSA_SUCCESS && p_data_length != NULL)
		*p_data_length = data_length;
	return st;
}

psa_status_t psa_its_get_info(psa_storage_uid_t uid, struct psa_storage_info_t *p_info)
{
	uint32_t size = 0, flags = 0;
	psa_status_t st;

	if (uid == 0 || p_info == NULL)
		return PSA_ERROR_INVALID_ARGUMENT;
	st = pa_its_log_info(uid, &size, &flags);
	p_info->size = st == PSA_SUCCESS ? size : 0;
	p_info->flags = st == PSA_SUCCESS ? flags : 0;
	return st;
}

psa_status_t psa_its_remove(psa_storage_uid_t uid)
{
	if (uid == 0)
		return PSA_ERROR_INVALID_ARGUMENT;
	return pa_its_log_remove(uid);
}
