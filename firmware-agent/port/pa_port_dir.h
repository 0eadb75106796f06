/*
 * pa_port_dir.h - host port: storage as one file per uid in a directory.
 *
 * Records are files "pa-<uid as 16 hex digits>.rec"; a set writes a temporary
 * file, fsyncs it and renames it over the record, so each set is atomic as
 * PSA ITS promises.  The device ID is the file "device-id" in the same
 * directory; randomness comes from getrandom(2).  Host only (POSIX).
 */
#ifndef PA_PORT_DIR_H
#define PA_PORT_DIR_H

#include "pa/pa_port.h"

typedef struct pa_dir_port {
	pa_port port;
	char dir[512];
	int no_sync;       /* tests: skip fsync (a power cut is simulated, not real) */
} pa_dir_port;

/* Fill p for directory dir (not copied beyond 511 bytes); returns p->port. */
const pa_port *pa_dir_port_init(pa_dir_port *p, const char *dir);

#endif
