/*
 * an386.h - registers of QEMU's mps2-an386 that the board code uses, and the
 * board's internal functions (not part of pa/pa_board.h).
 *
 * Cortex-M4 system control block, SysTick and NVIC (Armv7-M ARM, B3.2); CMSDK
 * APB UART0 (Arm CoreLink SDK, Cortex-M System Design Kit: UART), as QEMU's
 * mps2-an386 maps it: base 0x40004000, receive interrupt 0.  The system clock
 * is 25 MHz (QEMU's mps2 SYSCLK), which SysTick counts.
 */
#ifndef AN386_H
#define AN386_H

#include <stdint.h>

#define AN386_REG(a) (*(volatile uint32_t *)(uintptr_t)(a))

#define SCB_CCR 0xe000ed14u
#define SCB_SHCSR 0xe000ed24u
#define SCB_CFSR 0xe000ed28u
#define SCB_HFSR 0xe000ed2cu
#define SCB_MMFAR 0xe000ed34u
#define SCB_BFAR 0xe000ed38u
#define SCB_AIRCR 0xe000ed0cu
#define SYST_CSR 0xe000e010u
#define SYST_RVR 0xe000e014u
#define SYST_CVR 0xe000e018u
#define NVIC_ISER0 0xe000e100u
#define MPU_CTRL 0xe000ed94u
#define MPU_RNR 0xe000ed98u
#define MPU_RBAR 0xe000ed9cu
#define MPU_RASR 0xe000eda0u

#define AN386_SYSCLK_HZ 25000000u
#define AN386_IRQ_UART0RX 0
#define AN386_IRQ_UART1RX 2
/* The vector table ends with the last interrupt an image enables: UART0 RX,
 * and in the TLS image UART1 RX (its link, net/uart1.c). */
#if defined(PA_FW_TLS)
#define AN386_IRQS 3
#else
#define AN386_IRQS 1
#endif

#define UART0_BASE 0x40004000u
#define UART1_BASE 0x40005000u    /* QEMU's second -serial */
#define UART_DATA 0x00u
#define UART_STATE 0x04u      /* bit 0 TX full, bit 1 RX full, 2/3 overruns */
#define UART_CTRL 0x08u       /* bit 0 TX enable, 1 RX enable, 3 RX interrupt */
#define UART_INTCLEAR 0x0cu   /* write 1s: bit 1 RX, bit 3 RX overrun */
#define UART_BAUDDIV 0x10u

#define AN386_STACK_PAINT 0xa5c3a5c3u
#define AN386_STACK_GUARD 128u
#define AN386_FAULT_EXIT 70   /* QEMU's exit status after a fault report */

/* uart.c */
void an386_uart_init(void);
void an386_uart_panic_write(const char *s);   /* polled, from a fault handler */
uint32_t an386_uart_overruns(void);
int an386_uart_pending(void);                 /* received bytes not yet read */
/* flash.c: open or create the flash image, read the fault-injection setting */
void an386_flash_init(void);
void an386_flash_stats(uint32_t *ops, uint32_t *programmed, uint32_t *erased);
/* board.c: a fatal board error on the debug channel, then stop */
void an386_fatal(const char *what) __attribute__((noreturn));

#endif
