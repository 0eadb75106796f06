/*
 * pa_port_its.h - the agent's port (pa/pa_port.h) over PSA Internal Trusted
 * Storage: what any device with a PSA platform uses (a flash store such as
 * firmware-agent/its/, TF-M's ITS service, a secure element's).
 *
 * get/set/remove map onto psa_its_get_info/get/set/remove (the agent's uids
 * are above 2^32, PSA's persistent keys below); random draws from PSA's DRBG
 * (psa_generate_random: psa_crypto_init must have run, which pa_agent_start
 * does before it needs randomness); the device ID is the ITS record
 * PA_UID_DEVICE_ID, written once at first start by the firmware
 * (pa_its_port_adopt_id) from what the factory programmed.  key_event is NULL.
 */
#ifndef PA_PORT_ITS_H
#define PA_PORT_ITS_H

#include "pa/pa_config.h"
#include "pa/pa_port.h"

/* The device ID record (beside the agent's uids in pa_config.h). */
#define PA_UID_DEVICE_ID (PA_UID_BASE + 0x10u)

typedef struct pa_its_port {
	pa_port port;
} pa_its_port;

const pa_port *pa_its_port_init(pa_its_port *p);

/* First start: store id (1..PA_DEVICE_ID_MAX bytes of [A-Za-z0-9._:-],
 * starting alphanumeric, bundle.cddl) as the device ID unless one is stored.
 * PA_PORT_OK if a device ID is stored now (the old one is kept: the ID never
 * changes), PA_PORT_IO if id is not a valid ID or the write failed. */
int pa_its_port_adopt_id(const char *id, size_t len);

#endif
