/*
 * pa_slip.h - SLIP (RFC 1055) framing of datagrams on a byte stream: how the
 * TLS image carries DTLS over its second UART (docs/firmware.md, "The link").
 *
 * A frame is END, the datagram with END and ESC escaped (END -> ESC ESC_END,
 * ESC -> ESC ESC_ESC), END.  The leading END (RFC 1055's advice) flushes
 * whatever line noise came before.
 *
 * Heap-free and push-style: the decoder takes received bytes one at a time
 * and writes the datagram into a buffer the caller owns.  Empty frames (END
 * END) are ignored, as RFC 1055 says.  A frame longer than the buffer, or
 * with ESC followed by anything but ESC_END / ESC_ESC (which RFC 1055 leaves
 * undefined), is dropped whole at its END: never delivered cut or guessed.
 */
#ifndef PA_SLIP_H
#define PA_SLIP_H

#include <stddef.h>
#include <stdint.h>

#define PA_SLIP_END 0xc0u
#define PA_SLIP_ESC 0xdbu
#define PA_SLIP_ESC_END 0xdcu
#define PA_SLIP_ESC_ESC 0xddu

/* pa_slip_rx_byte results */
enum pa_slip_rx_result {
	PA_SLIP_MORE = 0,     /* inside a frame, or between frames */
	PA_SLIP_FRAME = 1,    /* a datagram is complete: buf[0..len) */
	PA_SLIP_DROPPED = 2   /* a frame ended that was too long or malformed */
};

typedef struct pa_slip_rx {
	uint8_t *buf;
	size_t cap;
	size_t len;           /* bytes of the frame so far */
	uint8_t esc;          /* the previous byte was ESC */
	uint8_t bad;          /* this frame is dropped at its END */
	uint8_t done;         /* buf holds a completed frame (until the next byte) */
	unsigned long frames;
	unsigned long dropped;
} pa_slip_rx;

void pa_slip_rx_init(pa_slip_rx *r, uint8_t *buf, size_t cap);
/* One received byte.  After PA_SLIP_FRAME the caller takes buf[0..len)
 * before pushing the next byte (which starts over). */
int pa_slip_rx_byte(pa_slip_rx *r, uint8_t b);

/* Bytes out; non-zero means the write failed. */
typedef int (*pa_slip_write)(void *ctx, const uint8_t *buf, size_t len);
/* Frame and write one datagram (runs of plain bytes in one write each).
 * 0, or the first non-zero the writer returned. */
int pa_slip_send(const uint8_t *p, size_t n, pa_slip_write write, void *ctx);
/* The framed size of a datagram (both ENDs included). */
size_t pa_slip_framed_len(const uint8_t *p, size_t n);

#endif
