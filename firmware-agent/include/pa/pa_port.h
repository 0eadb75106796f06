/*
 * pa_port.h - what the platform gives the agent: storage, randomness, device ID.
 *
 * Storage has PSA Internal Trusted Storage semantics: records addressed by a
 * 64-bit uid; each set() replaces a record atomically (old or new contents,
 * never a mix, even across a power cut); a sequence of several set() calls is
 * not atomic, which is why the agent commits a credential set through one final
 * record (docs/agent.md).  On a device the functions map onto psa_its_get/
 * set/remove; on the host, port/pa_port_dir.c keeps one file per uid.
 *
 * Every function returns a pa_port_status.  The port is borrowed: the agent
 * keeps the pointer and never frees anything.
 */
#ifndef PA_PORT_H
#define PA_PORT_H

#include <stddef.h>
#include <stdint.h>

typedef enum pa_port_status {
	PA_PORT_OK = 0,
	PA_PORT_NOT_FOUND = 1,   /* get/remove: no such record */
	PA_PORT_TOO_BIG = 2,     /* get: the record is larger than the buffer */
	PA_PORT_IO = 3,          /* anything else the storage refused */
	PA_PORT_POWER_LOST = 4   /* the fault-injecting test port cut the power */
} pa_port_status;

typedef struct pa_port {
	void *ctx;
	/* Copy record uid into buf (cap bytes) and set *len to its size.  With
	 * buf NULL and cap 0 only the size is reported (existence test). */
	int (*get)(void *ctx, uint64_t uid, uint8_t *buf, size_t cap, size_t *len);
	/* Create or replace record uid atomically. */
	int (*set)(void *ctx, uint64_t uid, const uint8_t *buf, size_t len);
	/* Remove record uid atomically (PA_PORT_NOT_FOUND if absent). */
	int (*remove)(void *ctx, uint64_t uid);
	/* len bytes from a random source (session nonces). */
	int (*random)(void *ctx, uint8_t *buf, size_t len);
	/* This device's ID: 1..PA_DEVICE_ID_MAX bytes, no terminator. */
	int (*device_id)(void *ctx, char *buf, size_t cap, size_t *len);
	/* Optional, NULL on a device: called before (done = 0) and after (done = 1)
	 * each persistent PSA key import or destroy, so a host test can cut the
	 * power at a key write too.  Non-zero means the power is gone. */
	int (*key_event)(void *ctx, int done);
} pa_port;

#endif
