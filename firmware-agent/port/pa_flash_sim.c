/*
 * pa_flash_sim.c - the host NOR flash model (see pa_flash_sim.h).
 */
#include "port/pa_flash_sim.h"

#include <string.h>

static uint32_t next_rand(uint32_t *x)
{
	/* xorshift32: reproducible tears, not randomness */
	uint32_t v = *x != 0 ? *x : 0x9e3779b9u;

	v ^= v << 13;
	v ^= v >> 17;
	v ^= v << 5;
	*x = v;
	return v;
}

/* Count operation; 1 if it is the one the power is cut at. */
static int is_cut(pa_flash_sim *s)
{
	s->ops++;
	if (s->cut_at != 0 && s->ops == s->cut_at) {
		s->dead = 1;
		return 1;
	}
	return 0;
}

static int sim_read(void *ctx, uint32_t off, uint8_t *buf, uint32_t len)
{
	pa_flash_sim *s = ctx;
	uint32_t size = s->flash.sectors * s->flash.sector_size;

	if (s->dead)
		return PA_FLASH_POWER_LOST;
	if (s->read_fails || off > size || len > size - off)
		return PA_FLASH_IO;
	memcpy(buf, s->mem + off, len);
	return PA_FLASH_OK;
}

/* Program bits [0, nbits) of buf (byte 0 bit 0 first) into dst: AND. */
static void prog_bits(uint8_t *dst, const uint8_t *buf, uint32_t nbits)
{
	uint32_t i;

	for (i = 0; i < nbits; i++)
		if ((buf[i / 8] & (1u << (i % 8))) == 0)
			dst[i / 8] &= (uint8_t)~(1u << (i % 8));
}

static int sim_prog(void *ctx, uint32_t off, const uint8_t *buf, uint32_t len)
{
	pa_flash_sim *s = ctx;
	uint32_t p = s->flash.prog_size, ss = s->flash.sector_size;
	uint32_t size = s->flash.sectors * ss, units, done, u, i;
	uint32_t x = s->seed;

	if (s->dead)
		return PA_FLASH_POWER_LOST;
	if (len == 0 || off % p != 0 || len % p != 0 || off > size || len > size - off ||
	    off / ss != (off + len - 1) / ss)
		return PA_FLASH_IO;
	if (s->fail_at != 0 && s->ops + 1 == s->fail_at) {
		s->ops++;
		return PA_FLASH_IO;
	}
	units = len / p;
	for (u = 0; u < units; u++)
		for (i = 0; i < p; i++)
			if (s->mem[off + u * p + i] != 0xffu) {
				s->overwrites++;
				i = p;
			}
	s->programs++;
	s->bytes_programmed += len;
	if (!is_cut(s)) {
		prog_bits(s->mem + off, buf, len * 8);
		return PA_FLASH_OK;
	}
	switch (s->tear) {
	case PA_TEAR_AFTER:
		prog_bits(s->mem + off, buf, len * 8);
		break;
	case PA_TEAR_UNITS:
		done = units > 1 ? 1 + next_rand(&x) % (units - 1) : 0;
		prog_bits(s->mem + off, buf, done * p * 8);
		break;
	case PA_TEAR_BITS:
		done = next_rand(&x) % units;
		prog_bits(s->mem + off, buf, done * p * 8);
		prog_bits(s->mem + off + done * p, buf + done * p, 1 + next_rand(&x) % (p * 8 - 1));
		break;
	default:
		break;
	}
	return PA_FLASH_POWER_LOST;
}

static int sim_erase(void *ctx, uint32_t sector)
{
	pa_flash_sim *s = ctx;
	uint32_t ss = s->flash.sector_size, i, x = s->seed;
	uint8_t *m;

	if (s->dead)
		return PA_FLASH_POWER_LOST;
	if (sector >= s->flash.sectors)
		return PA_FLASH_IO;
	if (s->fail_at != 0 && s->ops + 1 == s->fail_at) {
		s->ops++;
		return PA_FLASH_IO;
	}
	m = s->mem + sector * ss;
	s->erases++;
	if (s->first_erase == 0)
		s->first_erase = s->ops + 1;
	if (sector < PA_FLASH_SIM_SECTORS_MAX)
		s->sector_erases[sector]++;
	if (!is_cut(s)) {
		memset(m, 0xff, ss);
		return PA_FLASH_OK;
	}
	switch (s->tear) {
	case PA_TEAR_AFTER:
		memset(m, 0xff, ss);
		break;
	case PA_TEAR_UNITS:
		memset(m, 0xff, 1 + next_rand(&x) % (ss - 1));
		break;
	case PA_TEAR_BITS:
		for (i = 0; i < ss; i++)
			m[i] = (uint8_t)next_rand(&x);
		break;
	default:
		break;
	}
	return PA_FLASH_POWER_LOST;
}

void pa_flash_sim_init(pa_flash_sim *s, uint8_t *mem, uint32_t sector_size, uint32_t sectors,
                       uint32_t prog_size)
{
	memset(s, 0, sizeof(*s));
	s->mem = mem;
	s->flash.ctx = s;
	s->flash.sector_size = sector_size;
	s->flash.sectors = sectors;
	s->flash.prog_size = prog_size;
	s->flash.read = sim_read;
	s->flash.prog = sim_prog;
	s->flash.erase = sim_erase;
	memset(mem, 0xff, (size_t)sector_size * sectors);
}

void pa_flash_sim_arm(pa_flash_sim *s, unsigned long cut_at, int tear, uint32_t seed)
{
	s->ops = 0;
	s->cut_at = cut_at;
	s->tear = tear;
	s->seed = seed;
	s->dead = 0;
	s->fail_at = 0;
	s->first_erase = 0;
}

void pa_flash_sim_reset_counts(pa_flash_sim *s)
{
	s->programs = s->bytes_programmed = s->erases = s->overwrites = 0;
	memset(s->sector_erases, 0, sizeof(s->sector_erases));
}
