/*
 * semihost.h - Arm semihosting calls (Arm "Semihosting for AArch32 and
 * AArch64", version 2.0): the emulated board reaches host files through them
 * (the flash image, host entropy, the debug console).  QEMU serves them with
 * -semihosting-config enable=on,target=native; paths are relative to QEMU's
 * working directory, which scripts/qemu-device.sh sets to the device's DIR.
 *
 * Direct calls (bkpt 0xab), not newlib's rdimon: a few hundred bytes instead of
 * stdio.  On a board without a debugger attached they would fault: only the
 * emulated board uses them.
 */
#ifndef AN386_SEMIHOST_H
#define AN386_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

/* SYS_OPEN modes (ISO C fopen modes in the order the specification lists). */
enum { SH_RB = 1, SH_RPB = 3, SH_WPB = 7, SH_AB = 9 };

/* A handle (>= 0) or -1. */
int sh_open(const char *path, int mode);
int sh_close(int fd);
/* 0 when everything was written / read, else -1. */
int sh_write(int fd, const void *buf, size_t len);
int sh_read(int fd, void *buf, size_t len);
/* Bytes actually read (0..len), or -1. */
long sh_read_some(int fd, void *buf, size_t len);
int sh_seek(int fd, uint32_t off);
long sh_flen(int fd);
int sh_remove(const char *path);
/* The host's clock: seconds since 1970 (SYS_TIME), or -1. */
long sh_time(void);
/* A NUL-terminated string on the semihosting console. */
void sh_write0(const char *s);
/* End the emulation with an exit status (QEMU exits with it). */
void sh_exit(int status) __attribute__((noreturn));

#endif
