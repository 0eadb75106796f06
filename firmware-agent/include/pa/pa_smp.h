/*
 * pa_smp.h - the agent's SMP server (docs/serial-protocol.md): the OS group's
 * echo and the provisioning group (80): info, keygen, upload, commit, status,
 * and connect, which the device's application serves (pa_smp_set_app: the
 * TLS image's board/pa_fw_tls.c; without one it is not supported).
 *
 * Heap-free and push-style: the caller owns struct pa_smp, feeds received
 * line bytes to pa_smp_push (console framing, pa_console.h) or whole SMP
 * packets to pa_smp_handle (another framing), and gives a narrow port that
 * writes bytes out.  Every command is idempotent (a retransmission gets the
 * same answer and changes nothing).  The session nonce is drawn from the
 * agent's port at pa_smp_start and after each successful commit.
 */
#ifndef PA_SMP_H
#define PA_SMP_H

#include "pa/pa_agent.h"
#include "pa/pa_console.h"

/* Groups, commands and MCUmgr error codes: pa_status.h (via pa_agent.h). */
/* Largest response packet (status with 16 entries and a receipt fits). */
#ifndef PA_SMP_OUT_MAX
#define PA_SMP_OUT_MAX 1024
#endif
#define PA_SMP_NONCE_LEN 16

typedef struct pa_smp_io {
	void *ctx;
	/* bytes out on the line (framed responses); non-zero: failed (ignored) */
	int (*write)(void *ctx, const uint8_t *buf, size_t len);
	/* optional: after each request, its group, command and result (0 or rc) */
	void (*event)(void *ctx, unsigned group, unsigned id, int rc);
} pa_smp_io;

/* connect (provisioning group, command 5) is served by an application
 * (pa_smp_set_app); a build that has none may leave its parsing out
 * (-DPA_SMP_HAS_CONNECT=0, the provisioning firmware): it is then answered as an
 * unknown command, "not supported", as it is without an application. */
#ifndef PA_SMP_HAS_CONNECT
#define PA_SMP_HAS_CONNECT 1
#endif

/* connect: what the host asked for.  Strings
 * point into the request (valid during the call). */
#define PA_SMP_CONNECT_ECHO_MAX 16384   /* largest generated echo */
#define PA_SMP_CONNECT_ID_MAX 16
typedef struct pa_smp_connect_req {
	uint32_t slot;
	int has_slot;                    /* 0: the set's only TLS slot */
	const uint8_t *send;             /* text to send (a newline is added), or NULL */
	size_t send_len;
	uint32_t echo;                   /* or: a generated line of this many bytes */
	int fresh;                       /* 1: do not offer a saved session */
	uint32_t timeout_ms;             /* 0: the application's default */
	const uint8_t *id;               /* retransmission id (0..16 bytes), or NULL */
	size_t id_len;
} pa_smp_connect_req;

struct pa_cbw;
typedef struct pa_smp_app {
	void *ctx;
	/* Run the connection and write the answer (a CBOR map) with w; PA_OK, or
	 * an error code for the SMP error answer. */
	int (*connect)(void *ctx, const pa_smp_connect_req *req, struct pa_cbw *w);
} pa_smp_app;

typedef struct pa_smp {
	pa_agent *a;
	const pa_smp_io *io;
	const pa_smp_app *app;           /* NULL: connect is not supported */
	const char *version;
	pa_console rx;
	uint8_t rx_buf[PA_CONSOLE_BUF(PA_SMP_MTU)];   /* rx's packet buffer */
	size_t up_len;                   /* announced size of the upload, 0: none */
	uint8_t up_sha[32];
	uint8_t last_sha[32];            /* the bundle of the receipt below */
	uint8_t fail_sha[32];            /* the last bundle a commit refused */
	int fail_rc;                     /* and why (0: none) */
	size_t receipt_len;              /* 0: no receipt for the installed set */
	uint8_t receipt[PA_RECEIPT_MAX];
	uint8_t out[PA_SMP_OUT_MAX];
} pa_smp;

/* After pa_agent_start and pa_keygen_start: a fresh session nonce, the stored
 * receipt of the installed set (the tail of the commit record, PA_UID_COMMIT). */
int pa_smp_start(pa_smp *s, pa_agent *a, const pa_smp_io *io, const char *version);
/* After pa_smp_start: the application that serves connect (NULL: none). */
void pa_smp_set_app(pa_smp *s, const pa_smp_app *app);
/* Received line bytes, any chunking. */
void pa_smp_push(pa_smp *s, const uint8_t *b, size_t n);
/* One SMP packet (header + body); the response goes out through the console
 * framing.  Returns 0 if answered, -1 if ignored (not a request, bad header). */
int pa_smp_handle(pa_smp *s, const uint8_t *pkt, size_t len);

#endif
