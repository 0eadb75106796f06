/*
 * pa_port_its.c - the agent's port over PSA ITS (see pa_port_its.h).
 */
#include <psa/crypto.h>
#include <psa/internal_trusted_storage.h>

#include "port/pa_port_its.h"

static int status_of(psa_status_t st)
{
	return st == PSA_SUCCESS ? PA_PORT_OK : st == PSA_ERROR_DOES_NOT_EXIST ? PA_PORT_NOT_FOUND :
	       PA_PORT_IO;
}

static int its_get(void *ctx, uint64_t uid, uint8_t *buf, size_t cap, size_t *len)
{
	struct psa_storage_info_t info;
	size_t got = 0;
	int rc;

	(void)ctx;
	*len = 0;
	rc = status_of(psa_its_get_info(uid, &info));
	if (rc != PA_PORT_OK)
		return rc;
	*len = info.size;
	if (buf == NULL && cap == 0)
		return PA_PORT_OK;
	if (info.size > cap)
		return PA_PORT_TOO_BIG;
	rc = status_of(psa_its_get(uid, 0, info.size, buf, &got));
	if (rc == PA_PORT_OK && got != info.size)
		rc = PA_PORT_IO;
	return rc;
}

static int its_set(void *ctx, uint64_t uid, const uint8_t *buf, size_t len)
{
	(void)ctx;
	if (len > 0xffffffffu)
		return PA_PORT_IO;
	return status_of(psa_its_set(uid, (uint32_t)len, buf, PSA_STORAGE_FLAG_NONE));
}

static int its_remove(void *ctx, uint64_t uid)
{
	(void)ctx;
	return status_of(psa_its_remove(uid));
}

static int its_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	return psa_generate_random(buf, len) == PSA_SUCCESS ? PA_PORT_OK : PA_PORT_IO;
}

static int its_device_id(void *ctx, char *buf, size_t cap, size_t *len)
{
	return its_get(ctx, PA_UID_DEVICE_ID, (uint8_t *)buf, cap, len);
}

static int valid_id(const char *id, size_t len)
{
	size_t i;

	if (len == 0 || len > PA_DEVICE_ID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = id[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != ':' && c != '-')))
			return 0;
	}
	return 1;
}

int pa_its_port_adopt_id(const char *id, size_t len)
{
	struct psa_storage_info_t info;
	psa_status_t st = psa_its_get_info(PA_UID_DEVICE_ID, &info);

	if (st == PSA_SUCCESS)
		return PA_PORT_OK;
	if (st != PSA_ERROR_DOES_NOT_EXIST || !valid_id(id, len))
		return PA_PORT_IO;
	return status_of(psa_its_set(PA_UID_DEVICE_ID, (uint32_t)len, id, PSA_STORAGE_FLAG_NONE));
}

const pa_port *pa_its_port_init(pa_its_port *p)
{
	p->port.ctx = p;
	p->port.get = its_get;
	p->port.set = its_set;
	p->port.remove = its_remove;
	p->port.random = its_random;
	p->port.device_id = its_device_id;
	p->port.key_event = NULL;
	return &p->port;
}
