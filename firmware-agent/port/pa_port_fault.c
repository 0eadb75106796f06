/*
 * pa_port_fault.c - power cuts at the k-th write (see pa_port_fault.h).
 */
#include "port/pa_port_fault.h"

#include <string.h>

/* Called before a write: 1 if the write must not happen (power gone). */
static int cut_before(pa_fault_port *f)
{
	if (f->dead)
		return 1;
	f->writes++;
	if (f->cut_at != 0 && f->writes == f->cut_at && !f->after) {
		f->dead = 1;
		return 1;
	}
	return 0;
}

/* Called after a write completed: 1 if the power goes now. */
static int cut_after(pa_fault_port *f)
{
	if (f->cut_at != 0 && f->writes == f->cut_at && f->after)
		f->dead = 1;
	return f->dead;
}

static int f_get(void *ctx, uint64_t uid, uint8_t *buf, size_t cap, size_t *len)
{
	pa_fault_port *f = ctx;

	if (f->dead) {
		*len = 0;
		return PA_PORT_POWER_LOST;
	}
	return f->inner->get(f->inner->ctx, uid, buf, cap, len);
}

static int f_set(void *ctx, uint64_t uid, const uint8_t *buf, size_t len)
{
	pa_fault_port *f = ctx;
	int st;

	if (cut_before(f))
		return PA_PORT_POWER_LOST;
	st = f->inner->set(f->inner->ctx, uid, buf, len);
	return cut_after(f) ? PA_PORT_POWER_LOST : st;
}

static int f_remove(void *ctx, uint64_t uid)
{
	pa_fault_port *f = ctx;
	int st;

	if (cut_before(f))
		return PA_PORT_POWER_LOST;
	st = f->inner->remove(f->inner->ctx, uid);
	return cut_after(f) ? PA_PORT_POWER_LOST : st;
}

static int f_random(void *ctx, uint8_t *buf, size_t len)
{
	pa_fault_port *f = ctx;

	return f->inner->random(f->inner->ctx, buf, len);
}

static int f_device_id(void *ctx, char *buf, size_t cap, size_t *len)
{
	pa_fault_port *f = ctx;

	return f->inner->device_id(f->inner->ctx, buf, cap, len);
}

static int f_key_event(void *ctx, int done)
{
	pa_fault_port *f = ctx;

	return done ? cut_after(f) : cut_before(f);
}

const pa_port *pa_fault_port_init(pa_fault_port *f, const pa_port *inner)
{
	memset(f, 0, sizeof(*f));
	f->inner = inner;
	f->port.ctx = f;
	f->port.get = f_get;
	f->port.set = f_set;
	f->port.remove = f_remove;
	f->port.random = f_random;
	f->port.device_id = f_device_id;
	f->port.key_event = f_key_event;
	return &f->port;
}

void pa_fault_port_arm(pa_fault_port *f, unsigned long cut_at, int after)
{
	f->writes = 0;
	f->cut_at = cut_at;
	f->after = after;
	f->dead = 0;
}
