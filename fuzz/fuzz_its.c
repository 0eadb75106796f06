/*
 * fuzz_its.c - libFuzzer target for the device's flash store (firmware-agent/its/)
 * on the NOR flash model (firmware-agent/port/pa_flash_sim.c).
 *
 * The input is a script run against a model of what the store must hold:
 * byte 0 picks a geometry, then 3-byte commands:
 *   0-3  set uid (1..6) to a fresh value of 0..1020 bytes (SUCCESS or
 *        INSUFFICIENT_STORAGE);
 *   4    remove uid;
 *   5    power off and on (mount);
 *   6    cut the power at the k-th flash operation of the next set or remove,
 *        torn one of four ways, then mount: that record reads old or new;
 *   7    flip one bit anywhere in the flash, then mount: from then on a record
 *        may also read corrupt or absent, or (several flips can undo one
 *        another) a value it had before, never a value it never had.
 * Checks besides "no crash, no UB": every record reads back as the model says
 * (exact bytes and size); mount always succeeds; no stored uid is unknown; a
 * successful set reads back at once; no program unit is ever programmed
 * twice.  A violation aborts.
 *
 * Build: this file, the .c files of firmware-agent/its/ and port/pa_flash_sim.c,
 * -Ifirmware-agent/include -Ifirmware-agent (PSA types from Debian's Mbed TLS
 * headers; nothing of Mbed TLS is linked).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pa/pa_its.h"
#include "port/pa_flash_sim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UIDS 6

typedef struct val {
	int present;
	uint32_t len;
	uint32_t ver;
} val;

static uint8_t mem[4 * 4096];
static uint8_t buf[4096], want[4096];
static pa_flash_sim F;
static val model[UIDS + 1], maybe[UIDS + 1];   /* maybe: the other value a cut allows */
static int uncertain[UIDS + 1], damaged;
static val history[UIDS + 1][1400];             /* every value each uid was given */
static size_t nhist[UIDS + 1];

static void fill(uint8_t *p, unsigned uid, uint32_t ver, uint32_t len)
{
	uint32_t i, x = uid * 2654435761u ^ ver * 40503u;

	for (i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

static void check(int ok)
{
	if (!ok)
		abort();
}

/* The store's answer for uid equals v: 1, or 0. */
static int reads_as(unsigned uid, const val *v)
{
	struct psa_storage_info_t info;
	size_t n = 0;
	psa_status_t st = psa_its_get_info(uid, &info);

	if (!v->present)
		return st == PSA_ERROR_DOES_NOT_EXIST;
	if (st != PSA_SUCCESS || info.size != v->len || info.flags != 0)
		return 0;
	if (psa_its_get(uid, 0, v->len, buf, &n) != PSA_SUCCESS || n != v->len)
		return 0;
	fill(want, uid, v->ver, v->len);
	return memcmp(buf, want, v->len) == 0;
}

/* After flips: uid reads corrupt, absent, or one of the values it was given. */
static int reads_as_damaged(unsigned uid)
{
	struct psa_storage_info_t info;
	psa_status_t st = psa_its_get_info(uid, &info);
	size_t i;

	if (st == PSA_ERROR_DATA_CORRUPT || st == PSA_ERROR_DOES_NOT_EXIST)
		return 1;
	for (i = 0; i < nhist[uid]; i++)
		if (reads_as(uid, &history[uid][i]))
			return 1;
	return 0;
}

/* Every uid reads as the model (or, after a cut, as the other value, which
 * then becomes the model; after a flip, see reads_as_damaged). */
static void verify(void)
{
	struct psa_storage_info_t info;
	psa_storage_uid_t uid;
	unsigned u;
	size_t i;

	for (u = 1; u <= UIDS; u++) {
		if (reads_as(u, &model[u])) {
			uncertain[u] = 0;
			continue;
		}
		if (uncertain[u] && reads_as(u, &maybe[u])) {
			model[u] = maybe[u];
			uncertain[u] = 0;
			continue;
		}
		check(damaged && reads_as_damaged(u));
		/* unknown from now on: removed */
		if (psa_its_get_info(u, &info) != PSA_ERROR_DOES_NOT_EXIST)
			check(psa_its_remove(u) == PSA_SUCCESS);
		model[u].present = 0;
		uncertain[u] = 0;
	}
	for (i = 0; pa_its_list(i, &uid) == PSA_SUCCESS; i++)
		check(uid >= 1 && uid <= UIDS);
	check(F.overwrites == 0);
}

static void power_cycle(void)
{
	pa_flash_sim_arm(&F, 0, 0, 0);
	check(pa_its_mount(&F.flash) == PSA_SUCCESS);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t geo[4][3] = { { 1024, 4, 8 }, { 512, 8, 4 }, { 2048, 2, 16 },
		                            { 4096, 3, 1 } };
	uint32_t ver = 1, cut_at = 0, tear = 0, seed = 0;
	size_t i;
	unsigned u;

	if (size < 1)
		return 0;
	pa_flash_sim_init(&F, mem, geo[data[0] % 4][0], geo[data[0] % 4][1], geo[data[0] % 4][2]);
	memset(model, 0, sizeof(model));
	memset(uncertain, 0, sizeof(uncertain));
	memset(nhist, 0, sizeof(nhist));
	damaged = 0;
	power_cycle();
	for (i = 1; i + 3 <= size; i += 3) {
		unsigned cmd = data[i] % 8, a = data[i + 1], b = data[i + 2];
		uint32_t len;
		psa_status_t st;

		u = 1 + a % UIDS;
		switch (cmd) {
		case 4:
			maybe[u] = model[u];
			maybe[u].present = 0;
			if (cut_at != 0)
				pa_flash_sim_arm(&F, cut_at, (int)tear, seed);
			st = psa_its_remove(u);
			if (cut_at != 0) {
				power_cycle();
				uncertain[u] = 1;
				cut_at = 0;
			} else if (!damaged) {
				check(st == (model[u].present ? PSA_SUCCESS : PSA_ERROR_DOES_NOT_EXIST));
				model[u].present = 0;
			} else if (st == PSA_SUCCESS || st == PSA_ERROR_DOES_NOT_EXIST) {
				model[u].present = 0;
			}
			break;
		case 5:
			power_cycle();
			break;
		case 6:
			cut_at = 1 + a % 12;
			tear = b % PA_TEAR_COUNT;
			seed = (uint32_t)a << 8 | b;
			continue;   /* armed for the next set or remove */
		case 7:
			mem[((size_t)a << 8 | b) % ((size_t)F.flash.sectors * F.flash.sector_size)] ^=
				(uint8_t)(1u << (a % 8));
			damaged = 1;
			power_cycle();
			break;
		default:
			len = (uint32_t)b * (1 + (a / UIDS) % 4);
			if (len > pa_its_record_max())
				len = pa_its_record_max();
			fill(buf, u, ver, len);
			maybe[u] = (val){ 1, len, ver };
			if (nhist[u] < sizeof(history[u]) / sizeof(history[u][0]))
				history[u][nhist[u]++] = maybe[u];
			if (cut_at != 0)
				pa_flash_sim_arm(&F, cut_at, (int)tear, seed);
			st = psa_its_set(u, len, buf, 0);
			if (cut_at != 0) {
				power_cycle();
				uncertain[u] = 1;
				cut_at = 0;
			} else {
				check(st == PSA_SUCCESS || st == PSA_ERROR_INSUFFICIENT_STORAGE);
				if (st == PSA_SUCCESS) {
					model[u] = maybe[u];
					check(reads_as(u, &model[u]));
				}
			}
			ver++;
			break;
		}
		verify();
	}
	power_cycle();
	verify();
	return 0;
}
