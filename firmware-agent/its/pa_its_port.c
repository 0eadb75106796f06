/*
 * pa_its_port.c - the agent's storage (pa_port get/set/remove) over PSA ITS,
 * for a board's pa_port (pa/pa_its.h).  The agent's uids are above 2^32
 * (pa_config.h), PSA's key files below: one store holds both.
 */
#include "its/pa_its_log.h"
#include "pa/pa_port.h"

static int port_status(psa_status_t st)
{
	if (st == PSA_SUCCESS)
		return PA_PORT_OK;
	return st == PSA_ERROR_DOES_NOT_EXIST ? PA_PORT_NOT_FOUND : PA_PORT_IO;
}

int pa_its_port_get(void *ctx, uint64_t uid, uint8_t *buf, size_t cap, size_t *len)
{
	struct psa_storage_info_t info = { 0, 0 };
	psa_status_t st;

	(void)ctx;
	*len = 0;
	st = psa_its_get_info(uid, &info);
	if (st != PSA_SUCCESS)
		return port_status(st);
	*len = info.size;
	if (buf == NULL && cap == 0)
		return PA_PORT_OK;
	if (info.size > cap)
		return PA_PORT_TOO_BIG;
	return port_status(psa_its_get(uid, 0, info.size, buf, NULL));
}

int pa_its_port_set(void *ctx, uint64_t uid, const uint8_t *buf, size_t len)
{
	(void)ctx;
	if (len != (uint32_t)len)
		return PA_PORT_IO;
	return port_status(psa_its_set(uid, (uint32_t)len, buf, PSA_STORAGE_FLAG_NONE));
}

int pa_its_port_remove(void *ctx, uint64_t uid)
{
	(void)ctx;
	return port_status(psa_its_remove(uid));
}
