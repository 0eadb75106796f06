/*
 * pa_port_fault.h - host test port: wraps another port and cuts the power at
 * the k-th write (storage set or remove, persistent key import or destroy).
 *
 * "Before" cuts the power just before write k (it does not happen); "after"
 * lets write k complete and cuts the power right after it.  Once the power is
 * gone every call fails with PA_PORT_POWER_LOST, until the test "reboots" by
 * re-arming.  With cut_at 0 it only counts writes.
 */
#ifndef PA_PORT_FAULT_H
#define PA_PORT_FAULT_H

#include "pa/pa_port.h"

typedef struct pa_fault_port {
	pa_port port;
	const pa_port *inner;
	unsigned long writes;      /* writes started since arming */
	unsigned long cut_at;      /* 0: never */
	int after;                 /* cut after write cut_at instead of before */
	int dead;
} pa_fault_port;

const pa_port *pa_fault_port_init(pa_fault_port *f, const pa_port *inner);
void pa_fault_port_arm(pa_fault_port *f, unsigned long cut_at, int after);

#endif
