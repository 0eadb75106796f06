/*
 * pa_firmware.c - the provisioning firmware: the agent and its SMP console on
 * the board's UART, PSA Crypto over the flash store (docs/firmware.md).
 *
 * Board-independent: everything it needs from the hardware comes through
 * pa/pa_board.h.  Start: board, Mbed TLS's allocator on a static pool, the
 * flash store (pa_its_mount over the board's flash), the device ID (adopted
 * from the board's factory ID on first start and kept in storage), the agent
 * (identity key made inside PSA on first start, recovery), keygen, SMP.  Then
 * the loop: received bytes into the SMP console, idle when there are none.
 *
 * Log lines: on the UART after each SMP command ("[agent] smp commit: ok (0)",
 * as agent-sim writes them; hosts skip them), and on the board's debug
 * channel a "[stats]" line with the flash, RAM and crypto figures
 * (docs/firmware.md, bench/firmware.sh reads it).
 */
#include <string.h>

#include <mbedtls/memory_buffer_alloc.h>

#include "board/pa_fw.h"
#include "pa/pa_agent.h"
#include "pa/pa_board.h"
#include "pa/pa_its.h"
#include "pa/pa_keygen.h"
#include "pa/pa_smp.h"
#include "port/pa_port_its.h"
#if defined(PA_FW_TLS)
#include "board/pa_fw_tls.h"
#endif

/* the board's name comes from the build (FW_BOARD) */
#ifndef PA_FW_BOARD_NAME
#define PA_FW_BOARD_NAME "unknown board"
#endif
#if defined(PA_FW_TLS)
#define PA_FW_VERSION "provkit-agent 0.1 (" PA_FW_BOARD_NAME ", tls)"
#else
#define PA_FW_VERSION "provkit-agent 0.1 (" PA_FW_BOARD_NAME ")"
#endif

/* Mbed TLS's heap: a static pool, never the C library's (docs/firmware.md
 * gives its high-water mark; the image's link fails on malloc). */
#ifndef PA_FW_POOL
#define PA_FW_POOL 3840
#endif
#define POOL_PAINT 0x5au
#define POOL_HEAD 64   /* the allocator's first block header, written at init */

static unsigned char pool[PA_FW_POOL] __attribute__((aligned(8)));
static pa_agent agent;
static pa_smp smp;
static pa_its_port itsport;

/* ---- small text output (no printf in the image) ------------------------------ */

typedef struct line {
	char b[200];
	size_t n;
} line;

static void put_s(line *l, const char *s)
{
	while (*s != '\0' && l->n < sizeof(l->b) - 2)
		l->b[l->n++] = *s++;
	l->b[l->n] = '\0';
}

static void put_n(line *l, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && l->n < sizeof(l->b) - 2; i++)
		l->b[l->n++] = s[i];
	l->b[l->n] = '\0';
}

/* Decimal by subtracting powers of ten: no 64-bit division (libgcc's
 * __udivmoddi4 is 700 bytes of flash). */
static void put_u(line *l, uint64_t v)
{
	uint64_t p = 1;
	char d[2] = "0";
	int n = 1, i;

	while (n < 20 && v >= p * 10u) {   /* p <= 10^18 here: no overflow */
		p *= 10u;
		n++;
	}
	for (; n > 0; n--) {
		d[0] = '0';
		while (v >= p) {
			v -= p;
			d[0]++;
		}
		put_s(l, d);
		/* p / 10 without dividing: rebuild it */
		for (i = 1, p = 1; i < n - 1; i++)
			p *= 10u;
	}
}

static void put_i(line *l, int v)
{
	if (v < 0) {
		put_s(l, "-");
		put_u(l, (uint64_t)(-(int64_t)v));
	} else {
		put_u(l, (uint64_t)v);
	}
}

/* A log line on the SMP line (hosts skip anything that is not a frame). */
static void uart_line(line *l)
{
	l->b[l->n++] = '\n';
	(void)pa_board_uart_write((const uint8_t *)l->b, l->n);
	l->n--;
	l->b[l->n] = '\0';
}

/* ---- the Mbed TLS pool --------------------------------------------------------------- */

/* Bytes of the pool ever touched: the allocator splits from the front, so
 * the last byte that lost its paint bounds every allocation so far. */
static uint32_t pool_high_water(void)
{
	size_t i = sizeof(pool);

	while (i > POOL_HEAD && pool[i - 1] == POOL_PAINT)
		i--;
	return (uint32_t)i;
}

uint32_t pa_fw_pool_size(void)
{
	return (uint32_t)sizeof(pool);
}

uint32_t pa_fw_pool_used(void)
{
	return pool_high_water();
}

/* ---- the SMP line ---------------------------------------------------------------- */

static int line_write(void *ctx, const uint8_t *b, size_t n)
{
	(void)ctx;
	return pa_board_uart_write(b, n) == PA_BOARD_OK ? 0 : -1;
}

static void stats_line(const char *what, unsigned group, unsigned id, int rc)
{
	static const char *const ops[PA_FW_OPS] = { "verify", "ecdh", "generate", "sign" };
	pa_board_stats st;
	line l = { "", 0 };
	unsigned i;

	pa_board_stats_get(&st);
	put_s(&l, "[stats] ");
	put_s(&l, what);
	put_s(&l, " group=");
	put_u(&l, group);
	put_s(&l, " id=");
	put_u(&l, id);
	put_s(&l, " rc=");
	put_i(&l, rc);
	put_s(&l, " flash_ops=");
	put_u(&l, st.flash_ops);
	put_s(&l, " programmed=");
	put_u(&l, st.flash_programmed);
	put_s(&l, " erased=");
	put_u(&l, st.flash_erased);
	put_s(&l, " stack=");
	put_u(&l, st.stack_used);
	put_s(&l, "/");
	put_u(&l, st.stack_size);
	put_s(&l, " pool=");
	put_u(&l, pool_high_water());
	put_s(&l, "/");
	put_u(&l, sizeof(pool));
	put_s(&l, " overruns=");
	put_u(&l, st.uart_overruns);
	for (i = 0; i < PA_FW_OPS; i++) {
		put_s(&l, " ");
		put_s(&l, ops[i]);
		put_s(&l, "=");
		put_u(&l, pa_fw_measured.calls[i]);
		put_s(&l, "x");
		put_u(&l, pa_fw_measured.ticks[i]);
	}
	put_s(&l, " tick_hz=");
	put_u(&l, pa_board_tick_hz());
	pa_board_log(l.b);
	pa_fw_measure_reset();
}

static void on_event(void *ctx, unsigned group, unsigned id, int rc)
{
	static const char *const names[] = { "info", "keygen", "upload", "commit", "status",
#if defined(PA_FW_TLS)
	                                     "connect"
#endif
	};
	line l = { "", 0 };

	(void)ctx;
	put_s(&l, "[agent] smp ");
	if (group == PA_SMP_GROUP_PROV && id < sizeof(names) / sizeof(names[0])) {
		put_s(&l, names[id]);
	} else {
		put_s(&l, "group ");
		put_u(&l, group);
		put_s(&l, " command ");
		put_u(&l, id);
	}
	put_s(&l, rc == 0 ? ": ok (" : ": error (");
	put_i(&l, rc);
	put_s(&l, ")");
	uart_line(&l);
	stats_line("smp", group, id, rc);
}

static const pa_smp_io io = { NULL, line_write, on_event };

/* ---- start ------------------------------------------------------------------------ */

/* (not inlined, as calibrate below: start's frame would hold their lines) */
static void __attribute__((noinline)) fail(const char *what, int rc)
{
	line l = { "", 0 };

	put_s(&l, "[agent] start: ");
	put_s(&l, what);
	put_s(&l, " failed (");
	put_i(&l, rc);
	put_s(&l, ")");
	uart_line(&l);
	pa_board_log(l.b);
}

/* A loop of known length, timed with the board's counter: under QEMU's
 * -icount it tells how many instructions one tick is (docs/firmware.md). */
static void __attribute__((noinline)) calibrate(void)
{
	line l = { "", 0 };
	uint32_t n = 500000u;
	uint64_t t0 = pa_board_ticks(), t1;

	/* two instructions per iteration (subs, bne) */
	__asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n) : : "cc");
	t1 = pa_board_ticks();
	put_s(&l, "[stats] calibrate instructions=1000000 ticks=");
	put_u(&l, t1 - t0);
	pa_board_log(l.b);
}

/* Everything before the loop; 0 when the device serves.  Not inlined into
 * main: its line buffers and the device ID would stay on the stack under
 * every command the loop runs (LTO inlines a function called once). */
static int __attribute__((noinline)) start(void)
{
	char id[PA_DEVICE_ID_MAX];
	size_t id_len = 0;
	line l = { "", 0 };
	int rc;

	pa_board_init();
	calibrate();
	mbedtls_memory_buffer_alloc_init(pool, sizeof(pool));
	memset(pool + POOL_HEAD, POOL_PAINT, sizeof(pool) - POOL_HEAD);
	pa_fw_measure_reset();

	rc = (int)pa_its_mount(pa_board_flash());
	if (rc != PSA_SUCCESS) {
		fail("flash store mount", rc);
		return -1;
	}
	(void)pa_its_port_init(&itsport);
	/* first start: adopt the factory's ID; later the stored one is the ID */
	if (itsport.port.get(itsport.port.ctx, PA_UID_DEVICE_ID, NULL, 0, &id_len) != PA_PORT_OK &&
	    (pa_board_factory_id(id, sizeof(id), &id_len) != PA_BOARD_OK ||
	     pa_its_port_adopt_id(id, id_len) != PA_PORT_OK)) {
		fail("device ID", PA_A_IDENTITY);
		return -1;
	}
	rc = pa_agent_start(&agent, &itsport.port, pa_fw_signers, pa_fw_n_signers);
	if (rc == PA_OK)
		rc = pa_keygen_start(&agent);
	if (rc == PA_OK)
		rc = pa_smp_start(&smp, &agent, &io, PA_FW_VERSION);
	if (rc != PA_OK) {
		fail("agent", rc);
		return -1;
	}
#if defined(PA_FW_TLS)
	pa_fw_tls_start(&smp, &agent);   /* connect, on the second UART */
#endif
	put_s(&l, "[agent] " PA_FW_VERSION " up, device ");
	put_n(&l, agent.device_id, agent.device_id_len);
	put_s(&l, ", counter ");
	put_u(&l, agent.installed.counter);
	uart_line(&l);
	pa_board_log(l.b);
	stats_line("start", 0, 0, 0);
	return 0;
}

int main(void)
{
	uint8_t rx[128];

	if (start() != 0)
		goto idle;
	for (;;) {
		size_t n = pa_board_uart_read(rx, sizeof(rx));

		if (n > 0)
			pa_smp_push(&smp, rx, n);
		else
			pa_board_idle();
	}
idle:
	/* nothing to serve: stay up (the host sees the start line) */
	for (;;)
		pa_board_idle();
}
