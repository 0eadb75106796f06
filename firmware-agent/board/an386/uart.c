/*
 * uart.c - the console UART: CMSDK APB UART0 of mps2-an386, 115200 baud
 * (BAUDDIV = SYSCLK / 115200).
 *
 * The hardware holds one received byte: a byte that arrives before the
 * previous one is read overruns it.  So reception runs in the RX interrupt,
 * which moves each byte into a ring buffer the main loop drains
 * (pa_board_uart_read); the firmware may be busy in a signature check for
 * many byte times while a request arrives.  The ring holds more than the
 * largest SMP request (PA_SMP_MTU as base64 lines, docs/serial-protocol.md),
 * and the host sends the next request only after the answer.  A byte that
 * finds the ring full is counted (pa_board_stats.uart_overruns), as is one
 * the hardware lost (RX overrun flag).
 *
 * Transmission is polled: the main loop is the only writer.  A byte the line
 * does not take within AN386_TX_WAIT_MS is dropped, as when nobody reads.
 */
#include "pa/pa_board.h"
#include "an386.h"

#ifndef AN386_UART_RING
#define AN386_UART_RING 256u   /* a power of two */
#endif
#define AN386_TX_WAIT_MS 20u

static uint8_t ring[AN386_UART_RING];
static volatile uint32_t head;   /* written by the interrupt */
static volatile uint32_t tail;   /* written by the main loop */
static volatile uint32_t overruns;

#define U(r) AN386_REG(UART0_BASE + (r))

void an386_uart_init(void)
{
	U(UART_BAUDDIV) = AN386_SYSCLK_HZ / 115200u;
	U(UART_CTRL) = (1u << 0) | (1u << 1) | (1u << 3);
	AN386_REG(NVIC_ISER0) = 1u << AN386_IRQ_UART0RX;
}

/* The interrupt is level-triggered on the RX status bit, which a new byte
 * sets: clear it first, then drain, so a byte that lands while we drain
 * raises the interrupt again (clearing after the drain could drop that
 * byte's interrupt while the hardware holds it, and it would hold it - and
 * refuse every later byte - forever). */
static void drain(void)
{
	uint32_t h = head;

	while (U(UART_STATE) & 2u) {
		uint8_t b = (uint8_t)U(UART_DATA);

		if (h - tail < AN386_UART_RING) {
			ring[h % AN386_UART_RING] = b;
			h++;
		} else {
			overruns++;
		}
	}
	head = h;
	if (U(UART_STATE) & 8u) {   /* the hardware overran before we ran */
		overruns++;
		U(UART_STATE) = 8u;
	}
}

void UART0RX_Handler(void);
void UART0RX_Handler(void)
{
	U(UART_INTCLEAR) = 2u | 8u;
	drain();
}

size_t pa_board_uart_read(uint8_t *buf, size_t cap)
{
	uint32_t t = tail, h = head;
	size_t n = 0;

	while (t != h && n < cap) {
		buf[n++] = ring[t % AN386_UART_RING];
		t++;
	}
	tail = t;
	return n;
}

int pa_board_uart_write(const uint8_t *buf, size_t len)
{
	int rc = PA_BOARD_OK;
	size_t i;

	for (i = 0; i < len; i++) {
		uint32_t t0 = pa_board_ms();

		while (U(UART_STATE) & 1u) {
			if (pa_board_ms() - t0 > AN386_TX_WAIT_MS) {
				rc = PA_BOARD_IO;
				break;
			}
		}
		if (!(U(UART_STATE) & 1u))
			U(UART_DATA) = buf[i];
	}
	return rc;
}

void an386_uart_panic_write(const char *s)
{
	uint32_t spin;

	for (; *s != '\0'; s++) {
		for (spin = 0; (U(UART_STATE) & 1u) && spin < 1000000u; spin++)
			;
		U(UART_DATA) = (uint8_t)*s;
	}
	for (spin = 0; (U(UART_STATE) & 1u) && spin < 1000000u; spin++)
		;
	U(UART_DATA) = '\n';
}

/* With interrupts masked (pa_board_idle): bytes in the ring, or one the
 * hardware holds (moved into the ring now). */
int an386_uart_pending(void)
{
	if (U(UART_STATE) & 2u)
		drain();
	return head != tail;
}

uint32_t an386_uart_overruns(void)
{
	return overruns;
}
