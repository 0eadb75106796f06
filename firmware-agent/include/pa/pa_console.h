/*
 * pa_console.h - SMP over a console line, the MCUmgr convention
 * (docs/serial-protocol.md section 1): a replaceable framing layer under the
 * SMP dispatcher (pa_smp.h), heap-free, bytes pushed as they arrive.  The one
 * implementation of the framing and its CRC: the host (libprov, prov/smp.h)
 * compiles this same code to read the device's answers and write its requests.
 *
 * A packet travels as base64(length || packet || CRC-16/XMODEM(packet)) cut
 * into lines that start with 0x06 0x09 (first) or 0x04 0x14 (continuation) and
 * end with '\n', at most PA_CONSOLE_LINE bytes each.  The decoder skips all
 * other text (boot messages, logs), decodes each framed line on its own (as
 * Zephyr does), and drops a packet on bad base64, an overlong or broken line, a
 * length outside 10..cap-2, more bytes than announced, or a CRC mismatch; a
 * first-frame marker always starts over.  A marker pair starts a frame line
 * wherever it appears, also after text on the same line (docs/serial-protocol.md
 * section 1, "A marker in the middle of a line"); a marker inside a frame line
 * breaks that line.  '\r' is ignored inside a frame line and before a marker.
 *
 * The caller owns the context and the packet buffer (cap bytes, at least
 * PA_CONSOLE_BUF(largest packet)); neither may move while in use.
 */
#ifndef PA_CONSOLE_H
#define PA_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

/* Largest SMP packet (8-byte header + body) this device takes. */
#ifndef PA_SMP_MTU
#define PA_SMP_MTU 512
#endif
/* Longest line: 2 marker bytes + 124 base64 characters + '\n'. */
#define PA_CONSOLE_LINE 127
#define PA_CONSOLE_B64 (PA_CONSOLE_LINE - 3)
/* The buffer for packets of up to mtu bytes: length, packet, CRC. */
#define PA_CONSOLE_BUF(mtu) (2 + (mtu) + 2)

/* A complete, CRC-checked packet (SMP header + body), valid until the next push. */
typedef void (*pa_console_deliver)(void *ctx, const uint8_t *pkt, size_t len);
/* Bytes out on the line; non-zero means the write failed. */
typedef int (*pa_console_write)(void *ctx, const uint8_t *buf, size_t len);

typedef struct pa_console {
	uint8_t *buf;           /* the caller's: length, packet, CRC */
	size_t cap;
	size_t have;            /* decoded bytes of the current packet */
	uint8_t state;          /* where in a line the decoder is */
	uint8_t active;         /* a packet is being received */
	uint8_t col;            /* base64 characters on this line */
	uint8_t nq;             /* characters in quad[] */
	uint8_t pad;            /* '=' seen on this line */
	uint8_t quad[4];
	unsigned long packets;  /* delivered */
	unsigned long drops;    /* dropped (bad base64, length, CRC, overlong or broken line) */
	unsigned long skipped;  /* lines of other text (logs, boot messages) */
} pa_console;

/* Start with an empty line; packets are assembled in buf[0..cap), cap >= 14
 * (PA_CONSOLE_BUF(8)); a packet takes up to cap - 4 bytes. */
void pa_console_init(pa_console *c, uint8_t *buf, size_t cap);
/* Push n received bytes; deliver is called for each complete packet. */
void pa_console_push(pa_console *c, const uint8_t *b, size_t n, pa_console_deliver deliver,
                     void *ctx);
/* Frame and write one packet of len bytes (below 65534), line by line. */
int pa_console_send(const uint8_t *pkt, size_t len, pa_console_write write, void *ctx);
/* CRC-16/XMODEM (poly 0x1021, init 0, no reflection, no final xor). */
uint16_t pa_crc16(uint16_t crc, const uint8_t *p, size_t n);

#endif
