/*
 * pa_tls_client.h - the device's application on the host: connect to a server
 * with one slot's installed credentials and profile (pa_tls.h), send a text,
 * print the answer.  Used by agent-sim --tls-connect and --key-proof
 * (firmware-agent/sim/agent-sim.c).  Host only (sockets through mbedtls_net).
 */
#ifndef PA_TLS_CLIENT_H
#define PA_TLS_CLIENT_H

#include <stdint.h>
#include <stdio.h>

#include "pa/pa_agent.h"

/* Exit statuses of pa_tls_connect (and agent-sim --tls-connect). */
enum pa_tls_client_status {
	PA_TLS_EXIT_OK = 0,
	PA_TLS_EXIT_INTERNAL = 1,
	PA_TLS_EXIT_USAGE = 2,
	PA_TLS_EXIT_NODEV = 3,      /* no device / agent start failed */
	PA_TLS_EXIT_CONFIG = 4,     /* slot, credentials or profile unusable */
	PA_TLS_EXIT_CONNECT = 5,    /* no connection to HOST:PORT */
	PA_TLS_EXIT_HANDSHAKE = 6,  /* the handshake failed (alert, timeout, PSK) */
	PA_TLS_EXIT_VERIFY = 7,     /* the server's certificate was refused */
	PA_TLS_EXIT_IO = 8          /* after the handshake: write or read failed */
};

typedef struct pa_tls_connect_opts {
	const char *host;
	const char *port;
	int64_t slot;          /* -1: the set's only TLS slot */
	int dtls;              /* 1: the caller expects DTLS (the profile must say so) */
	const char *send;      /* text to send (a newline is added), or NULL */
	int resume;            /* reconnect once offering the saved session */
	uint32_t timeout_ms;   /* handshake and read timeout (0: 5000) */
} pa_tls_connect_opts;

/* Run one connection (two with resume).  Progress and the server's answer go
 * to out, reasons for failure to err; the last line on success is
 * "handshake ok".  Returns an enum pa_tls_client_status. */
int pa_tls_connect(const pa_agent *a, const pa_tls_connect_opts *o, FILE *out, FILE *err);

/* RPK evidence: print the slot key's SubjectPublicKeyInfo and an ECDSA
 * signature (SHA-256, DER) over msg made through PSA, both in hex. */
int pa_tls_key_proof(const pa_agent *a, int64_t slot, const uint8_t *msg, size_t len,
                     FILE *out, FILE *err);

#endif
