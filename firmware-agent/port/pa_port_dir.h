/*
 * pa_port_dir.h - host port: storage as one file per uid in a directory.
 *
 * Records are files "pa-<uid as 16 hex digits>.rec"; a set writes a temporary
 * file ("pa-<uid>.rec.tmp"), fsyncs it and renames it over the record, so each
 * set is atomic as PSA ITS promises.  One writer per directory: the temporary's
 * name is per uid, not per process.  The device ID is the file "device-id" in the same
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

/* Remove the temporaries a set() cut short left behind (a process killed
 * between creating "pa-<uid>.rec.tmp" and renaming it): nothing else, and only
 * names of exactly that form.  Call it only while no other process can write
 * the directory (agent-sim holds the directory's lock), never beside a writer,
 * whose temporary it would remove mid-write.  The number removed, or -1 if the
 * directory cannot be read or a temporary cannot be removed. */
int pa_dir_port_sweep(const pa_dir_port *p);

#endif
