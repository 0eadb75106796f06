/*
 * startup.c - reset, vector table and fault reports of the mps2-an386 image.
 *
 * Reset paints the stack (all but the little the reset handler itself uses)
 * with a pattern, copies .data, clears .bss, turns on the configurable fault
 * handlers and calls main.  A fault prints the faulting PC, LR and fault
 * status registers on the console UART and on the debug channel, then resets
 * the device (QEMU started with -no-reboot exits instead, so a test sees it).
 */
#include <stdint.h>

#include "pa/pa_board.h"
#include "an386.h"

extern uint32_t __stack_bottom[], __stack_top[], __data_start[], __data_end[], __data_load[];
extern uint32_t __bss_start[], __bss_end[];
int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void SysTick_Handler(void);
void UART0RX_Handler(void);

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

/* Called by the naked handlers below with the stacked exception frame. */
void an386_fault(const uint32_t *frame, uint32_t exc);
void an386_fault(const uint32_t *frame, uint32_t exc)
{
	static const char *const names[] = { "HardFault", "MemManage", "BusFault", "UsageFault" };
	char line[] = "[fault] ?????????? pc=00000000 lr=00000000 cfsr=00000000 hfsr=00000000 "
	              "addr=00000000";
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
	pa_board_reset();
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

/* The table ends with the last interrupt the image enables (UART0 RX). */
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
};
