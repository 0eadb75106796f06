/*
 * pa_flash_sim.h - host NOR flash model for the flash store's tests (its/).
 *
 * A RAM array that obeys pa_flash.h's rules exactly (erase sets a sector to
 * 0xff; a program clears bits, ANDing into what is there; alignment and
 * sector bounds are checked) and can cut the power at the N-th program or
 * erase, tearing the operation in flight:
 *   - PA_TEAR_BEFORE  nothing of it happens;
 *   - PA_TEAR_AFTER   it completes, then the power goes;
 *   - PA_TEAR_UNITS   a program leaves a prefix of its units programmed, an
 *                     erase a prefix of the sector erased (the rest as it was);
 *   - PA_TEAR_BITS    a program leaves a prefix of its units and then a prefix
 *                     of the next unit's bits programmed; an erase leaves the
 *                     sector as garbage (pseudo-random bytes).
 * The prefix lengths come from the seed given when arming.  Once the power
 * is gone every call fails with PA_FLASH_POWER_LOST until the next arm (a
 * reboot).  Counts programs, bytes, erases (per sector) and "overwrites":
 * programs onto a unit that was not erased, which the store never does.
 * Host only.
 */
#ifndef PA_FLASH_SIM_H
#define PA_FLASH_SIM_H

#include <stdint.h>

#include "pa/pa_flash.h"

#define PA_FLASH_SIM_SECTORS_MAX 64

enum pa_flash_tear {
	PA_TEAR_BEFORE = 0,
	PA_TEAR_AFTER = 1,
	PA_TEAR_UNITS = 2,
	PA_TEAR_BITS = 3,
	PA_TEAR_COUNT = 4
};

typedef struct pa_flash_sim {
	pa_flash flash;             /* give &sim.flash to the store */
	uint8_t *mem;               /* sectors * sector_size bytes, caller-owned */
	unsigned long ops;          /* programs and erases since arming */
	unsigned long cut_at;       /* cut the power at operation cut_at (1-based); 0: never */
	int tear;                   /* how that operation is left (enum pa_flash_tear) */
	uint32_t seed;
	int dead;
	unsigned long fail_at;      /* operation fail_at returns PA_FLASH_IO, doing nothing */
	int read_fails;             /* reads return PA_FLASH_IO */
	unsigned long first_erase;  /* the operation number of the first erase since arming */
	unsigned long programs, bytes_programmed, erases, overwrites;
	unsigned long sector_erases[PA_FLASH_SIM_SECTORS_MAX];
} pa_flash_sim;

/* A model of sectors * sector_size bytes in mem (sectors <= 64), erased. */
void pa_flash_sim_init(pa_flash_sim *s, uint8_t *mem, uint32_t sector_size, uint32_t sectors,
                       uint32_t prog_size);
/* Power on: count operations from 0 and cut at cut_at (0: never). */
void pa_flash_sim_arm(pa_flash_sim *s, unsigned long cut_at, int tear, uint32_t seed);
/* Zero the counters. */
void pa_flash_sim_reset_counts(pa_flash_sim *s);

#endif
