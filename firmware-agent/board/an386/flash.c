/*
 * flash.c - the storage flash of the emulated board: pa_flash over a RAM copy
 * of the sectors (memory-mapped, as on-chip flash reads are) that persists in
 * a host file, and a power-cut injector for tests.
 *
 * The file, flash.bin in QEMU's working directory (the device's DIR), holds
 * AN386_FLASH_SECTORS sectors of AN386_SECTOR bytes.  At start it is read
 * into the .storage section (created all 0xFF, erased, on first start); every
 * program and erase is applied to the copy under NOR rules (a program ANDs:
 * it only clears bits; an erase sets the sector to 0xFF) and written through
 * to the file at once, so stopping QEMU at any moment is a power cut that
 * keeps every completed operation.
 *
 * Fault injection (tests): a file flash-cut in the same directory, read once
 * at start, "N" or "N tear": the Nth program or erase since start (1-based)
 * is cut: not done at all, or with "tear" done for its first half (the first
 * half of a program's bytes and the high 4 bits of the next byte; the first
 * half of an erased sector), written through, and the emulation ends with
 * exit status AN386_CUT_EXIT: the power is gone.
 */
#include <string.h>

#include "pa/pa_board.h"
#include "an386.h"
#include "semihost.h"

#ifndef AN386_FLASH_SECTORS
#define AN386_FLASH_SECTORS 8u
#endif
#define AN386_SECTOR 4096u
#define AN386_PROG 4u
#define AN386_FLASH_SIZE (AN386_FLASH_SECTORS * AN386_SECTOR)
#define AN386_CUT_EXIT 86

static uint8_t store[AN386_FLASH_SIZE] __attribute__((section(".storage"), aligned(4)));
static int fd = -1;
static uint32_t ops, programmed, erased;
static uint32_t cut_at;   /* 0: no cut */
static int cut_tear;

static int fl_read(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
	(void)ctx;
	if (off > AN386_FLASH_SIZE || len > AN386_FLASH_SIZE - off)
		return PA_FLASH_IO;
	memcpy(buf, store + off, len);
	return PA_FLASH_OK;
}

static void write_through(uint32_t off, uint32_t len)
{
	if (sh_seek(fd, off) != 0 || sh_write(fd, store + off, len) != 0)
		an386_fatal("flash: writing flash.bin failed");
}

/* The Nth operation: cut, maybe after tearing it (see the top comment). */
static int cut_now(void)
{
	return cut_at != 0 && ops == cut_at;
}

static void power_lost(void)
{
	pa_board_log("[flash] power cut");
	sh_exit(AN386_CUT_EXIT);
}

static int fl_prog(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len)
{
	uint32_t i, n = len;

	(void)ctx;
	if (off % AN386_PROG != 0 || len % AN386_PROG != 0 || off > AN386_FLASH_SIZE ||
	    len > AN386_FLASH_SIZE - off ||
	    (len > 0 && off / AN386_SECTOR != (off + len - 1) / AN386_SECTOR))
		return PA_FLASH_IO;
	ops++;
	if (cut_now()) {
		if (!cut_tear)
			power_lost();
		n = len / 2;
		if (n < len)
			store[off + n] &= (uint8_t)(buf[n] | 0x0fu);
	}
	for (i = 0; i < n; i++)
		store[off + i] &= buf[i];
	write_through(off, len);
	if (cut_now())
		power_lost();
	programmed += len;
	return PA_FLASH_OK;
}

static int fl_erase(void *ctx, uint32_t s)
{
	uint32_t n = AN386_SECTOR;

	(void)ctx;
	if (s >= AN386_FLASH_SECTORS)
		return PA_FLASH_IO;
	ops++;
	if (cut_now()) {
		if (!cut_tear)
			power_lost();
		n = AN386_SECTOR / 2;
	}
	memset(store + s * AN386_SECTOR, 0xff, n);
	write_through(s * AN386_SECTOR, AN386_SECTOR);
	if (cut_now())
		power_lost();
	erased++;
	return PA_FLASH_OK;
}

static const pa_flash flash = {
	NULL, AN386_SECTOR, AN386_FLASH_SECTORS, AN386_PROG, fl_read, fl_prog, fl_erase
};

const pa_flash *pa_board_flash(void)
{
	return &flash;
}

static void read_cut(void)
{
	char buf[32] = "";
	long n;
	int f = sh_open("flash-cut", SH_RB), i;

	if (f < 0)
		return;
	n = sh_read_some(f, buf, sizeof(buf) - 1);
	(void)sh_close(f);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (i = 0; buf[i] >= '0' && buf[i] <= '9' && cut_at < 100000000u; i++)
		cut_at = cut_at * 10u + (uint32_t)(buf[i] - '0');
	for (; buf[i] == ' '; i++)
		;
	cut_tear = memcmp(buf + i, "tear", 4) == 0;
	pa_board_log(cut_tear ? "[flash] power cut armed (tear)" : "[flash] power cut armed");
}

void an386_flash_init(void)
{
	long len;

	fd = sh_open("flash.bin", SH_RPB);
	if (fd < 0) {
		uint32_t s;

		/* first start: a new, erased part */
		fd = sh_open("flash.bin", SH_WPB);
		if (fd < 0)
			an386_fatal("flash: cannot create flash.bin");
		memset(store, 0xff, sizeof(store));
		for (s = 0; s < AN386_FLASH_SECTORS; s++)
			write_through(s * AN386_SECTOR, AN386_SECTOR);
	} else {
		len = sh_flen(fd);
		if (len != (long)AN386_FLASH_SIZE)
			an386_fatal("flash: flash.bin is not this board's flash size");
		if (sh_seek(fd, 0) != 0 || sh_read(fd, store, sizeof(store)) != 0)
			an386_fatal("flash: reading flash.bin failed");
	}
	read_cut();
}

void an386_flash_stats(uint32_t *o, uint32_t *p, uint32_t *e)
{
	*o = ops;
	*p = programmed;
	*e = erased;
}
