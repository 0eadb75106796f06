/*
 * startup.c - reset, vector table and fault reports of the mps2-an386 image.
 *
 * Reset paints the stack (all but the little the reset handler itself uses)
 * with a pattern, copies .data, clears .bss, makes the 128 bytes below the
 * stack a no-access MPU region (an overflow faults instead of running into
 * memory QEMU's board silently ignores), turns on the configurable fault
 * handlers and calls main.  A fault prints the faulting PC, LR and fault
 * status registers on the console UART and on the debug channel, then stops
 * the emulation with exit status 70 (a board on hardware resets there).
 * HardFault runs with the MPU off (HFNMIENA clear), so after an overflow it
 * has the guard's 128 bytes to report in.
 */
#include <stdint.h>

#include "pa/pa_board.h"
#include "an386.h"
#include "semihost.h"

extern uint32_t __stack_guard[], __stack_bottom[], __stack_top[], __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];
int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void);
void UART0RX_Handler(void);
void UART1RX_Handler(void);

void Reset_Handler(void)
{
	uint32_t *p, *end, sp;
	const uint32_t *src;

	__asm__ volatile("mov %0, sp" : "=r"(sp));
	/* paint up to 64 bytes below the current stack pointer */
	end = (uint32_t *)((sp - 64u) & ~3u);
	for (p = __stack_bottom; p < end; p++)
		*p = AN386_STACK_PAINT;
	for (p = __data_start, src = __data_load; p < __data_end; p++, src++)
		*p = *src;
	for (p = __bss_start; p < __bss_end; p++)
		*p = 0;
	/* the stack guard: region 0, no access, never executed; the default
	 * memory map elsewhere (PRIVDEFENA) */
	AN386_REG(MPU_RNR) = 0;
	AN386_REG(MPU_RBAR) = (uint32_t)(uintptr_t)__stack_guard;
	AN386_REG(MPU_RASR) = (1u << 28) | (0u << 24) | ((7u - 1u) << 1) | 1u;   /* XN, AP 0, 2^7 B */
	AN386_REG(MPU_CTRL) = (1u << 2) | 1u;
	__asm__ volatile("dsb\n isb" ::: "memory");
	/* MemManage, BusFault and UsageFault get their own report; divide by zero
	 * traps */
	AN386_REG(SCB_SHCSR) |= (1u << 16) | (1u << 17) | (1u << 18);
	AN386_REG(SCB_CCR) |= 1u << 4;
	(void)main();
	pa_board_reset();
}

static void put_hex(char *p, uint32_t v)
{
	static const char hx[] = "0123456789abcdef";
	int i;

	for (i = 7; i >= 0; i--, v >>= 4)
		p[i] = hx[v & 15u];
}

/* Called by the naked handlers below with the stacked exception frame (from
 * assembly: `used` keeps the link-time optimiser from dropping it). */
void an386_fault(const uint32_t *frame, uint32_t exc) __attribute__((used));
void an386_fault(const uint32_t *frame, uint32_t exc)
{
	static const char *const names[] = { "HardFault", "MemManage", "BusFault", "UsageFault" };
	/* static: after a stack overflow only the guard's 128 bytes are left */
	static char line[] = "[fault] ?????????? pc=00000000 lr=00000000 cfsr=00000000 "
	                     "hfsr=00000000 addr=00000000";
	const char *n = exc >= 3 && exc <= 6 ? names[exc - 3] : "Exception";
	uint32_t cfsr = AN386_REG(SCB_CFSR), i;

	for (i = 0; i < 10 && n[i] != '\0'; i++)
		line[8 + i] = n[i];
	for (; i < 10; i++)
		line[8 + i] = ' ';
	put_hex(line + 22, frame[6]);
	put_hex(line + 34, frame[5]);
	put_hex(line + 48, cfsr);
	put_hex(line + 62, AN386_REG(SCB_HFSR));
	put_hex(line + 76, (cfsr & 0x8000u) ? AN386_REG(SCB_BFAR) : AN386_REG(SCB_MMFAR));
	an386_uart_panic_write(line);
	pa_board_log(line);
	sh_exit(AN386_FAULT_EXIT);
}

/* Which stack holds the frame (EXC_RETURN bit 2), then the report. */
__attribute__((naked)) void HardFault_Handler(void)
{
	__asm__ volatile(
		"tst lr, #4\n"
		"ite eq\n"
		"mrseq r0, msp\n"
		"mrsne r0, psp\n"
		"mrs r1, ipsr\n"
		"b an386_fault\n");
}

void Default_Handler(void)
{
	HardFault_Handler();
}

typedef void (*vector)(void);

/* The table ends with the last interrupt the image enables (UART0 RX; in the
 * TLS image UART1 RX). */
__attribute__((section(".isr_vector"), used)) static const vector vectors[16 + AN386_IRQS] = {
	(vector)(uintptr_t)__stack_top,
	Reset_Handler,
	Default_Handler,   /* NMI */
	HardFault_Handler,
	HardFault_Handler, /* MemManage */
	HardFault_Handler, /* BusFault */
	HardFault_Handler, /* UsageFault */
	0, 0, 0, 0,
	Default_Handler,   /* SVCall */
	Default_Handler,   /* DebugMonitor */
	0,
	Default_Handler,   /* PendSV */
	SysTick_Handler,
	[16 + AN386_IRQ_UART0RX] = UART0RX_Handler,
#if AN386_IRQS > AN386_IRQ_UART1RX
	[16 + AN386_IRQ_UART1RX] = UART1RX_Handler,
#endif
};
