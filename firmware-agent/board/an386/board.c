/*
 * board.c - pa/pa_board.h for QEMU's mps2-an386: SysTick, entropy and the
 * factory device ID from the host by semihosting, the debug channel, reset,
 * and the stack's high-water mark.
 */
#include <string.h>

#include "pa/pa_board.h"
#include "an386.h"
#include "semihost.h"

#define TICKS_PER_MS (AN386_SYSCLK_HZ / 1000u)

extern uint32_t __stack_bottom[], __stack_top[];

static volatile uint32_t ms;
static int urandom = -1;

void SysTick_Handler(void);
void SysTick_Handler(void)
{
	ms++;
}

void pa_board_init(void)
{
	AN386_REG(SYST_RVR) = TICKS_PER_MS - 1u;
	AN386_REG(SYST_CVR) = 0;
	AN386_REG(SYST_CSR) = 7u;   /* processor clock, interrupt, enable */
	an386_uart_init();
	an386_flash_init();
}

uint32_t pa_board_ms(void)
{
	return ms;
}

/* SysTick cycles since start: ms * cycles per ms + the current count.  A
 * wrap between the reads shows as a change of ms: read again. */
uint64_t pa_board_ticks(void)
{
	uint32_t m, v;

	do {
		m = ms;
		v = AN386_REG(SYST_CVR);
	} while (m != ms);
	return (uint64_t)m * TICKS_PER_MS + (TICKS_PER_MS - 1u - v);
}

uint32_t pa_board_tick_hz(void)
{
	return AN386_SYSCLK_HZ;
}

/* Interrupts masked between the check and the wait, so a byte that arrives
 * in between still wakes the core (WFI wakes on a pending interrupt). */
void pa_board_idle(void)
{
	__asm__ volatile("cpsid i" ::: "memory");
	if (!an386_uart_pending())
		__asm__ volatile("wfi");
	__asm__ volatile("cpsie i" ::: "memory");
}

void pa_board_reset(void)
{
	__asm__ volatile("dsb");
	AN386_REG(SCB_AIRCR) = (0x05fau << 16) | (1u << 2);   /* SYSRESETREQ */
	__asm__ volatile("dsb");
	for (;;)
		__asm__ volatile("wfi");
}

/* ---- entropy: the one function a real board replaces with its TRNG ------------
 * The emulated board has no TRNG: it reads the host's /dev/urandom through
 * semihosting.  On hardware this is the TRNG driver (and a health test). */
int pa_board_entropy(uint8_t *buf, size_t len)
{
	if (urandom < 0)
		urandom = sh_open("/dev/urandom", SH_RB);
	if (urandom < 0 || sh_read(urandom, buf, len) != 0)
		return PA_BOARD_IO;
	return PA_BOARD_OK;
}

/* The ID programmed at the factory: on the emulated board the file device-id
 * in the device's directory (scripts/qemu-device.sh --device-id), else one
 * made from entropy, "an386-" and 12 hex digits.  Read on first start only;
 * the firmware keeps it in secure storage from then on. */
int pa_board_factory_id(char *buf, size_t cap, size_t *len)
{
	static const char hx[] = "0123456789abcdef";
	char tmp[128];
	int f = sh_open("device-id", SH_RB);
	long n = -1;
	uint8_t r[6];
	size_t i;

	*len = 0;
	if (f >= 0) {
		/* the whole file: a longer ID is refused, never cut to fit */
		n = sh_read_some(f, tmp, sizeof(tmp));
		(void)sh_close(f);
		while (n > 0 && (tmp[n - 1] == '\n' || tmp[n - 1] == '\r'))
			n--;
		if (n <= 0 || (size_t)n > cap)
			return PA_BOARD_IO;
		memcpy(buf, tmp, (size_t)n);
		*len = (size_t)n;
		return PA_BOARD_OK;
	}
	if (cap < 18 || pa_board_entropy(r, sizeof(r)) != PA_BOARD_OK)
		return PA_BOARD_IO;
	memcpy(buf, "an386-", 6);
	for (i = 0; i < sizeof(r); i++) {
		buf[6 + 2 * i] = hx[r[i] >> 4];
		buf[7 + 2 * i] = hx[r[i] & 15u];
	}
	*len = 18;
	return PA_BOARD_OK;
}

/* ---- diagnostics: the semihosting console ---------------------------------- */
void pa_board_log(const char *text)
{
	sh_write0(text);
	sh_write0("\n");
}

void an386_fatal(const char *what)
{
	char line[96] = "[board] fatal: ";
	size_t n = strlen(line), i;

	for (i = 0; what[i] != '\0' && n < sizeof(line) - 1; i++)
		line[n++] = what[i];
	line[n] = '\0';
	an386_uart_panic_write(line);
	pa_board_log(line);
	sh_exit(1);
}

/* The emulated board's real-time clock is the host's (semihosting SYS_TIME);
 * a board without an RTC returns 0. */
uint64_t pa_board_time(void)
{
	long t = sh_time();

	return t > 0 ? (uint64_t)t : 0;
}

/* Up to 64 bytes below the current stack pointer, as at reset.  An interrupt
 * taken meanwhile pushes its frame below the stack pointer and is gone again
 * when we paint there. */
void pa_board_stack_mark(void)
{
	uint32_t *p, *end, sp;

	__asm__ volatile("mov %0, sp" : "=r"(sp));
	end = (uint32_t *)((sp - 64u) & ~3u);
	for (p = __stack_bottom; p < end; p++)
		*p = AN386_STACK_PAINT;
}

void pa_board_stats_get(pa_board_stats *st)
{
	const uint32_t *p = __stack_bottom;

	an386_flash_stats(&st->flash_ops, &st->flash_programmed, &st->flash_erased);
	st->uart_overruns = an386_uart_overruns();
	st->stack_size = (uint32_t)((uintptr_t)__stack_top - (uintptr_t)__stack_bottom);
	while (p < __stack_top && *p == AN386_STACK_PAINT)
		p++;
	st->stack_used = (uint32_t)((uintptr_t)__stack_top - (uintptr_t)p);
}
