/*
 * pa_board.h - what a board gives the provisioning firmware (docs/firmware.md).
 *
 * The firmware (firmware-agent/board/pa_firmware.c) is the agent, its SMP
 * console, PSA Crypto and the flash store; everything it needs from the
 * hardware goes through the functions below, which one folder per board
 * implements (firmware-agent/board/an386/ for QEMU's mps2-an386).  A second
 * board implements this header, its start-up code and its linker script, and
 * nothing else changes.
 *
 * Contract: single-threaded; pa_board_init runs first, before anything else
 * of this header; no function allocates memory.  The UART receive path is
 * the only part that runs in interrupt context (inside the board).
 */
#ifndef PA_BOARD_H
#define PA_BOARD_H

#include <stddef.h>
#include <stdint.h>

#include "pa/pa_flash.h"

typedef enum pa_board_status {
	PA_BOARD_OK = 0,
	PA_BOARD_IO = 1        /* the source or device refused */
} pa_board_status;

/* Clocks, console UART (receive interrupt on), storage flash, entropy. */
void pa_board_init(void);

/* ---- the console UART (the SMP line) --------------------------------------- */
/* Up to cap received bytes, without waiting; the count.  Bytes arrive in
 * interrupt context into a ring buffer, so none is lost while the firmware is
 * busy (an overrun is counted, see pa_board_stats). */
size_t pa_board_uart_read(uint8_t *buf, size_t cap);
/* Write len bytes; a byte the line does not take within a few milliseconds is
 * dropped, as on a UART nobody listens to.  PA_BOARD_OK if all went out. */
int pa_board_uart_write(const uint8_t *buf, size_t len);

/* ---- the application's link: a second UART (optional) ---------------------
 * Images with a network application (the TLS image, board/pa_fw_tls.c) carry
 * its traffic on a second UART, so the console stays free for SMP; only they
 * link these (an386: net/uart1.c).  The same contract as the console's:
 * received bytes are kept in a ring by the receive interrupt; when the ring is
 * full the next byte is left in the UART (the line is held, as RTS/CTS would)
 * rather than dropped. */
void pa_board_net_init(void);
size_t pa_board_net_read(uint8_t *buf, size_t cap);
int pa_board_net_write(const uint8_t *buf, size_t len);

/* ---- storage ---------------------------------------------------------------- */
/* The flash area given to secure storage (pa/pa_flash.h rules). */
const pa_flash *pa_board_flash(void);

/* ---- entropy ---------------------------------------------------------------- */
/* len bytes of full entropy for the DRBG's seed.  THE function a real board
 * replaces with its TRNG; on an emulated board it asks the host. */
int pa_board_entropy(uint8_t *buf, size_t len);

/* ---- identity ---------------------------------------------------------------- */
/* The device ID to adopt on first start (1..cap bytes of [A-Za-z0-9._:-]):
 * what the factory programmed (a serial number, a unique ID).  The firmware
 * stores it in secure storage once and never asks again. */
int pa_board_factory_id(char *buf, size_t cap, size_t *len);

/* ---- time, idle, reset --------------------------------------------------------- */
/* Milliseconds since start (wraps after 49 days). */
uint32_t pa_board_ms(void);
/* A fine-grained monotonic counter and its rate (measurements: under QEMU's
 * -icount it follows executed instructions, docs/firmware.md). */
uint64_t pa_board_ticks(void);
uint32_t pa_board_tick_hz(void);
/* POSIX seconds of the board's real-time clock, 0 if it has none (the TLS
 * profile's time policy decides what a certificate's dates are checked
 * against; docs/tls.md). */
uint64_t pa_board_time(void);
/* Sleep until the next interrupt (a received byte, the tick). */
void pa_board_idle(void);
/* Reset the device; does not return. */
void pa_board_reset(void) __attribute__((noreturn));

/* ---- diagnostics ----------------------------------------------------------------- */
/* A line of text on the board's debug channel (not the SMP line): a debug
 * UART, RTT, or on QEMU the semihosting console. */
void pa_board_log(const char *text);

typedef struct pa_board_stats {
	uint32_t flash_ops;        /* programs and erases since start */
	uint32_t flash_programmed; /* bytes programmed */
	uint32_t flash_erased;     /* sectors erased */
	uint32_t uart_overruns;    /* received bytes lost (ring full) */
	uint32_t stack_size;       /* bytes reserved for the stack */
	uint32_t stack_used;       /* its high-water mark (painted at start) */
} pa_board_stats;
void pa_board_stats_get(pa_board_stats *st);
/* Paint the stack below the caller's frame again: the next stats report the
 * high-water mark reached since (a measurement of one operation). */
void pa_board_stack_mark(void);

#endif
