/*
 * pa_fw_tls.h - the TLS image's application (docs/tls.md, "On the device"):
 * one (D)TLS 1.2 connection at a time for an installed slot, on the board's
 * second UART (pa_board_net_*), started by the SMP command connect
 * (docs/serial-protocol.md) and answered on the console.
 *
 * Contract: board-independent, heap-free (Mbed TLS allocates from the
 * firmware's pool); credentials only by reference (pa_tls.h: opaque PSA keys,
 * the trust store's verify callback); the SMP answer carries no secret.  While
 * a connection runs, the agent's bundle buffer is the TLS adapter's work
 * buffer (an upload in progress is abandoned: smp/pa_smp.c).  The session of
 * the last full handshake is kept in RAM for the next connect of the same
 * slot, when the installed profile allows resumption.
 */
#ifndef PA_FW_TLS_H
#define PA_FW_TLS_H

#include "pa/pa_agent.h"
#include "pa/pa_smp.h"

/* Results of a connection that ran ("res" in the answer; the same numbers as
 * agent-sim --tls-connect's exit statuses, docs/tls.md). */
enum pa_fw_tls_res {
	PA_FW_TLS_OK = 0,
	PA_FW_TLS_LINK = 5,        /* nothing came back on the link (bridge, server) */
	PA_FW_TLS_HANDSHAKE = 6,   /* the handshake failed (alert, wrong PSK, timeout) */
	PA_FW_TLS_VERIFY = 7,      /* the server's certificate was refused */
	PA_FW_TLS_IO = 8           /* after the handshake: write or read failed */
};

/* Default time a connection waits for the peer (connect's "timeout"). */
#ifndef PA_FW_TLS_TIMEOUT_MS
#define PA_FW_TLS_TIMEOUT_MS 8000u
#endif

/* After pa_smp_start: serve connect on s for the agent a. */
void pa_fw_tls_start(pa_smp *s, pa_agent *a);

#endif
