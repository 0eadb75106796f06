/*
 * semihost.c - Arm semihosting calls (see semihost.h).
 */
#include <string.h>

#include "semihost.h"

enum {
	SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE0 = 0x04, SYS_WRITE = 0x05,
	SYS_READ = 0x06, SYS_SEEK = 0x0a, SYS_FLEN = 0x0c, SYS_REMOVE = 0x0e, SYS_TIME = 0x11,
	SYS_EXIT = 0x18, SYS_EXIT_EXTENDED = 0x20
};
#define ADP_STOPPED_APPLICATIONEXIT 0x20026u

static long call(uint32_t op, const void *arg)
{
	register uint32_t r0 __asm__("r0") = op;
	register const void *r1 __asm__("r1") = arg;

	__asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
	return (long)(int32_t)r0;
}

int sh_open(const char *path, int mode)
{
	uint32_t a[3] = { (uint32_t)(uintptr_t)path, (uint32_t)mode, (uint32_t)strlen(path) };

	return (int)call(SYS_OPEN, a);
}

int sh_close(int fd)
{
	uint32_t a[1] = { (uint32_t)fd };

	return call(SYS_CLOSE, a) == 0 ? 0 : -1;
}

/* SYS_WRITE and SYS_READ return the number of bytes NOT transferred. */
int sh_write(int fd, const void *buf, size_t len)
{
	uint32_t a[3] = { (uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len };

	return call(SYS_WRITE, a) == 0 ? 0 : -1;
}

long sh_read_some(int fd, void *buf, size_t len)
{
	uint32_t a[3] = { (uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len };
	long left = call(SYS_READ, a);

	return left < 0 || (size_t)left > len ? -1 : (long)(len - (size_t)left);
}

int sh_read(int fd, void *buf, size_t len)
{
	return sh_read_some(fd, buf, len) == (long)len ? 0 : -1;
}

int sh_seek(int fd, uint32_t off)
{
	uint32_t a[2] = { (uint32_t)fd, off };

	return call(SYS_SEEK, a) == 0 ? 0 : -1;
}

long sh_flen(int fd)
{
	uint32_t a[1] = { (uint32_t)fd };

	return call(SYS_FLEN, a);
}

int sh_remove(const char *path)
{
	uint32_t a[2] = { (uint32_t)(uintptr_t)path, (uint32_t)strlen(path) };

	return call(SYS_REMOVE, a) == 0 ? 0 : -1;
}

void sh_write0(const char *s)
{
	(void)call(SYS_WRITE0, s);
}

void sh_exit(int status)
{
	uint32_t a[2] = { ADP_STOPPED_APPLICATIONEXIT, (uint32_t)status };

	/* SYS_EXIT_EXTENDED carries the status on AArch32 (QEMU supports it) */
	(void)call(SYS_EXIT_EXTENDED, a);
	(void)call(SYS_EXIT, (const void *)(uintptr_t)ADP_STOPPED_APPLICATIONEXIT);
	for (;;)
		__asm__ volatile("wfi");
}

long sh_time(void)
{
	return call(SYS_TIME, NULL);
}
