/*
 * fuzz_agent_smp.c - libFuzzer target for the agent's SMP layer
 * (firmware-agent/smp/, keygen/): the input pushed as line bytes into the
 * console decoder and dispatcher (in two pieces, split at its first byte's
 * value), and the same bytes handed to the dispatcher as one SMP packet, so
 * the header checks, the request-map reader and every command handler run on
 * arbitrary input without needing a valid CRC.  connect (the TLS image's
 * command) goes to a stand-in application that checks what it is handed.
 *
 * The agent runs on an in-memory port in a fresh temporary directory (PSA's
 * file-backed ITS keeps the identity key and keygen keys there).  Checks
 * besides "no crash, no UB": every answer is framed as the console layer
 * promises (lines of at most 127 bytes, each starting with a marker).
 *
 * Build: this file plus PA_AGENT_SRC and PA_SMP_SRC (firmware-agent/sources.mk),
 * -Ifirmware-agent/include -Ifirmware-agent, against the project's Mbed TLS
 * (common.mk's MBEDTLS_CFLAGS and MBEDTLS_LIBS: build-mbedtls/).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pa/pa_keygen.h"
#include "pa/pa_smp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RECS 24
#define REC_MAX (PA_BUNDLE_MAX + 64)

static struct { uint64_t uid; size_t len; int used; uint8_t b[REC_MAX]; } recs[RECS];

static int r_find(uint64_t uid)
{
	int i;

	for (i = 0; i < RECS; i++)
		if (recs[i].used && recs[i].uid == uid)
			return i;
	return -1;
}

static int r_get(void *ctx, uint64_t uid, uint8_t *buf, size_t cap, size_t *len)
{
	int i = r_find(uid);

	(void)ctx;
	if (i < 0)
		return PA_PORT_NOT_FOUND;
	*len = recs[i].len;
	if (buf == NULL && cap == 0)
		return PA_PORT_OK;
	if (recs[i].len > cap)
		return PA_PORT_TOO_BIG;
	memcpy(buf, recs[i].b, recs[i].len);
	return PA_PORT_OK;
}

static int r_set(void *ctx, uint64_t uid, const uint8_t *buf, size_t len)
{
	int i = r_find(uid), j;

	(void)ctx;
	if (len > REC_MAX)
		return PA_PORT_IO;
	for (j = 0; i < 0 && j < RECS; j++)
		if (!recs[j].used)
			i = j;
	if (i < 0)
		return PA_PORT_IO;
	recs[i].used = 1;
	recs[i].uid = uid;
	recs[i].len = len;
	memcpy(recs[i].b, buf, len);
	return PA_PORT_OK;
}

static int r_remove(void *ctx, uint64_t uid)
{
	int i = r_find(uid);

	(void)ctx;
	if (i < 0)
		return PA_PORT_NOT_FOUND;
	recs[i].used = 0;
	return PA_PORT_OK;
}

static int r_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	memset(buf, 0x5a, len);   /* reproducible */
	return PA_PORT_OK;
}

static int r_device_id(void *ctx, char *buf, size_t cap, size_t *len)
{
	(void)ctx;
	if (cap < 4)
		return PA_PORT_IO;
	memcpy(buf, "FUZZ", 4);
	*len = 4;
	return PA_PORT_OK;
}

static const pa_port port = { NULL, r_get, r_set, r_remove, r_random, r_device_id, NULL };
static pa_signer signer;   /* verifies nothing: bundles stop at the signature */
static pa_agent agent;
static pa_smp smp;

/* Answers: framed lines, each at most 127 bytes and starting with a marker. */
static int out_write(void *ctx, const uint8_t *b, size_t n)
{
	(void)ctx;
	if (n == 0 || n > PA_CONSOLE_LINE || b[n - 1] != '\n' ||
	    !((b[0] == 0x06 && b[1] == 0x09) || (b[0] == 0x04 && b[1] == 0x14)))
		abort();
	return 0;
}

static const pa_smp_io io = { NULL, out_write, NULL };

/* connect: what the dispatcher hands the application is within the limits
 * pa_smp.h promises, its strings inside the packet being handled. */
static const uint8_t *pkt_lo, *pkt_hi;

static int inside(const uint8_t *p, size_t n)
{
	return p >= pkt_lo && p <= pkt_hi && n <= (size_t)(pkt_hi - p);
}

static int app_connect(void *ctx, const pa_smp_connect_req *q, struct pa_cbw *w)
{
	(void)ctx;
	(void)w;
	if ((q->send != NULL && (q->echo != 0 || q->send_len > PA_SMP_MTU)) ||
	    (q->send == NULL && q->send_len != 0) || q->echo > PA_SMP_CONNECT_ECHO_MAX ||
	    q->timeout_ms > 600000u || (q->id != NULL && (q->id_len == 0 || q->id_len > PA_SMP_CONNECT_ID_MAX)) ||
	    (pkt_lo != NULL && ((q->send != NULL && !inside(q->send, q->send_len)) ||
	                        (q->id != NULL && !inside(q->id, q->id_len)))))
		abort();
	return PA_A_STATE;   /* answered as an error: the dispatcher's own path */
}

static const pa_smp_app app = { NULL, app_connect };

static int home, work;   /* directory fds: the caller's, and PSA's ITS files' */
static char work_path[] = "/tmp/fuzz-agent-smp-XXXXXX";

/* at exit: the work directory goes */
static void cleanup(void)
{
	DIR *d = opendir(work_path);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			(void)unlinkat(dirfd(d), e->d_name, 0);
	if (d != NULL)
		closedir(d);
	(void)rmdir(work_path);
}

static void setup(void)
{
	home = open(".", O_RDONLY | O_DIRECTORY);
	if (home < 0 || mkdtemp(work_path) == NULL || chdir(work_path) != 0)
		abort();
	atexit(cleanup);
	work = open(".", O_RDONLY | O_DIRECTORY);
	if (work < 0)
		abort();
	memset(signer.pub, 0, sizeof(signer.pub));
	if (pa_agent_start(&agent, &port, &signer, 1) != PA_OK || pa_keygen_start(&agent) != PA_OK ||
	    pa_smp_start(&smp, &agent, &io, "fuzz") != PA_OK)
		abort();
	pa_smp_set_app(&smp, &app);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	size_t cut;

	/* in the work directory while the agent runs: libFuzzer reads its corpus
	 * relative to the caller's */
	if (!ready) {
		setup();
		ready = 1;
	} else if (fchdir(work) != 0) {
		abort();
	}
	pa_console_init(&smp.rx, smp.rx_buf, sizeof(smp.rx_buf));
	cut = size > 0 ? data[0] % (size + 1) : 0;
	pkt_lo = NULL;   /* (packets the console layer decoded live in its buffer) */
	pa_smp_push(&smp, data, cut);
	pa_smp_push(&smp, data + cut, size - cut);
	pkt_lo = data;
	pkt_hi = data + size;
	(void)pa_smp_handle(&smp, data, size);
	if (fchdir(home) != 0)
		abort();
	return 0;
}
