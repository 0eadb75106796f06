/*
 * pa_flash.h - the flash driver a board gives the device's secure storage.
 *
 * NOR flash rules, which every driver and the host's flash model obey and which
 * the storage layer (its/) must survive:
 *   - erase works on whole sectors and sets every byte of the sector to 0xFF;
 *   - program works on aligned units of prog_size bytes and can only clear bits
 *     (1 -> 0): programming a unit twice ANDs the values;
 *   - a program or erase cut by a power loss may leave any prefix of its bits
 *     done (a torn unit reads back as a mix of old and new bits), so nothing may
 *     trust what it reads back without a checksum.
 * The area given to storage is sectors * sector_size bytes, addressed from 0.
 *
 * This is the only storage function a board implements (docs/agent.md): the
 * board's driver maps it onto its flash controller, the host tests onto a RAM
 * model that cuts the power at any operation.  The driver is borrowed: storage
 * keeps the pointer and never frees anything.
 */
#ifndef PA_FLASH_H
#define PA_FLASH_H

#include <stdint.h>

typedef enum pa_flash_status {
	PA_FLASH_OK = 0,
	PA_FLASH_IO = 1,         /* the controller refused, or out of range/alignment */
	PA_FLASH_POWER_LOST = 2  /* a test driver cut the power: nothing more is done */
} pa_flash_status;

typedef struct pa_flash {
	void *ctx;
	uint32_t sector_size;   /* erase unit in bytes (a power of two) */
	uint32_t sectors;       /* sectors in the storage area (at least 2) */
	uint32_t prog_size;     /* program unit in bytes (a power of two, <= 32) */
	/* Copy len bytes at off into buf. */
	int (*read)(void *ctx, uint32_t off, uint8_t *buf, uint32_t len);
	/* Program len bytes at off: off and len multiples of prog_size, inside one
	 * sector. */
	int (*prog)(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len);
	/* Erase sector number s (0 .. sectors-1) to 0xFF. */
	int (*erase)(void *ctx, uint32_t s);
} pa_flash;

#endif
