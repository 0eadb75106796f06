/*
 * prov/lwm2m.h - a device's LwM2M Security object (object 0) instance, for the
 * bootstrap or management server (prov export --what lwm2m-security).
 *
 * Built from the device's current generation in the database and the template
 * it was minted with (its "lwm2m" object): resources 0 server URI, 1 bootstrap
 * flag, 2 security mode, 3 public key or identity, 4 server public key,
 * 5 secret key (only when asked for, and only when the secret exists on the
 * host; given apart from the JSON), 10 short server ID, 15 certificate usage (certificate mode with one
 * pinned anchor), 16 ciphersuites (IANA code points).  Opaque values are hex;
 * see docs/protocols/lwm2m.md for each mode's encodings.
 */
#ifndef PROV_LWM2M_H
#define PROV_LWM2M_H

#include <jansson.h>

#include "prov/err.h"
#include "prov/home.h"

/* Resource 5, the secret key: the PSK, or the host-made private key as PKCS#8
 * DER.  Kept out of the JSON tree (jansson frees what it holds unwiped); the
 * caller writes it where it belongs and wipes it (prov_wipe) when done. */
#define PROV_LWM2M_SECRET_MAX 512
typedef struct prov_lwm2m_secret {
	uint8_t bytes[PROV_LWM2M_SECRET_MAX];
	size_t len;
	int present; /* 0: no secret on the host (a note says why) */
} prov_lwm2m_secret;

/* *out: {"device", "template", "generation", "security_mode", "resources":
 * {"0": ..., ...}, optional "psk_identity", "notes": [...]}, never resource 5.
 * With `secret` (reveal; the home opened with PROV_NEED_KEK) resource 5 goes
 * there.  A device whose template has no "lwm2m" object -> PROV_E_INPUT;
 * unknown device -> PROV_E_NOTFOUND. */
prov_status prov_lwm2m_security(prov_home *h, const char *device_id, prov_lwm2m_secret *secret,
                                json_t **out, prov_err *e);

#endif
