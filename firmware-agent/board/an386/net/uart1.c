/*
 * uart1.c - the application's link on mps2-an386: CMSDK APB UART1 (QEMU's
 * second -serial), only in the TLS image (pa/pa_board.h, pa_board_net_*).
 *
 * Reception runs in the RX interrupt into a ring the TLS layer drains, as on
 * the console (uart.c), with one difference: a byte that finds the ring full
 * is left in the UART and the interrupt is masked until the reader has made
 * room, so nothing is dropped.  The UART then holds the line: QEMU's UART
 * takes no further byte from the host while one is held, which is the host
 * side waiting; on a real board this is the place for RTS/CTS (or a ring as
 * large as the largest flight of records the peer sends at once).
 * Transmission is polled, like the console's.
 */
#include "pa/pa_board.h"
#include "an386.h"

#ifndef AN386_NET_RING
#define AN386_NET_RING 256u   /* a power of two */
#endif
#define AN386_NET_TX_WAIT_MS 20u
#define RX_INT (1u << 3)

static uint8_t ring[AN386_NET_RING];
static volatile uint32_t head;   /* written by the interrupt (and by read, masked) */
static volatile uint32_t tail;   /* written by the reader */

#define U(r) AN386_REG(UART1_BASE + (r))
#define CTRL_ON ((1u << 0) | (1u << 1))   /* TX and RX enabled */

void pa_board_net_init(void)
{
	head = tail = 0;
	U(UART_BAUDDIV) = AN386_SYSCLK_HZ / 115200u;
	U(UART_CTRL) = CTRL_ON | RX_INT;
	AN386_REG(NVIC_ISER0) = 1u << AN386_IRQ_UART1RX;
}

/* Move what the UART holds into the ring while there is room; with the ring
 * full, mask the interrupt (the byte stays in the UART). */
static void drain(void)
{
	uint32_t h = head;

	while ((U(UART_STATE) & 2u) && h - tail < AN386_NET_RING) {
		ring[h % AN386_NET_RING] = (uint8_t)U(UART_DATA);
		h++;
	}
	head = h;
	U(UART_CTRL) = (U(UART_STATE) & 2u) ? CTRL_ON : CTRL_ON | RX_INT;
}

void UART1RX_Handler(void);
void UART1RX_Handler(void)
{
	U(UART_INTCLEAR) = 2u | 8u;   /* before the drain: see uart.c */
	drain();
}

size_t pa_board_net_read(uint8_t *buf, size_t cap)
{
	uint32_t t = tail, h = head;
	size_t n = 0;

	while (t != h && n < cap) {
		buf[n++] = ring[t % AN386_NET_RING];
		t++;
	}
	tail = t;
	/* room again: take what the UART held back (masked: the interrupt also
	 * writes head) */
	__asm__ volatile("cpsid i" ::: "memory");
	drain();
	__asm__ volatile("cpsie i" ::: "memory");
	return n;
}

int pa_board_net_write(const uint8_t *buf, size_t len)
{
	int rc = PA_BOARD_OK;
	size_t i;

	for (i = 0; i < len; i++) {
		uint32_t t0 = pa_board_ms();

		while (U(UART_STATE) & 1u) {
			if (pa_board_ms() - t0 > AN386_NET_TX_WAIT_MS) {
				rc = PA_BOARD_IO;
				break;
			}
		}
		if (!(U(UART_STATE) & 1u))
			U(UART_DATA) = buf[i];
	}
	return rc;
}
