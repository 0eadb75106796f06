/*
 * test_agent_its.c - the flash store (its/) alone, on the NOR flash model
 * (port/pa_flash_sim.c):
 * - CRC-32 against zlib's;
 * - every API path and PSA error code, data_offset reads, WRITE_ONCE,
 *   records of every size 0..max on several geometries, full storage, a full
 *   RAM index;
 * - long random workloads against a model, with remounts, forcing garbage
 *   collection many times (wear spread across sectors, no unit programmed twice);
 * - corruption: bit flips in data, entries and retire marks are reported
 *   DATA_CORRUPT or read as absent (the documented rule), never returned;
 *   driver errors stick until the next mount;
 * - a power cut at every program and erase of a workload that replaces,
 *   removes and collects, torn four ways, and again at every write of the
 *   recovering mount: every record reads back old or new, the store stays usable;
 * - robustness: mount on garbage, and every single-bit flip of a populated
 *   image: never a crash, never a wrong value returned.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "check.h"
#include "pa/pa_its.h"
#include "port/pa_flash_sim.h"

#define MEM_MAX (64u * 4096u)
#define UIDS_MAX 64

static uint8_t mem[MEM_MAX];
static pa_flash_sim F;

/* ---- a model of what the store must hold -------------------------------------------- */

typedef struct rec {
	uint64_t uid;
	int present;
	uint32_t len;
	uint32_t ver;       /* the data are pattern(uid, ver, i) */
	uint32_t flags;
} rec;

typedef struct model {
	size_t n;
	rec r[UIDS_MAX];
} model;

static uint8_t pattern(uint64_t uid, uint32_t ver, uint32_t i)
{
	uint32_t x = (uint32_t)uid * 2654435761u ^ ver * 40503u ^ i * 2246822519u;

	x ^= x >> 15;
	return (uint8_t)(x * 2654435761u >> 24);
}

static void fill(uint8_t *buf, uint64_t uid, uint32_t ver, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(uid, ver, i);
}

static rec *model_get(model *m, uint64_t uid)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->r[i].uid == uid)
			return &m->r[i];
	if (m->n == UIDS_MAX)
		return NULL;
	memset(&m->r[m->n], 0, sizeof(m->r[0]));
	m->r[m->n].uid = uid;
	return &m->r[m->n++];
}

static psa_status_t put(model *m, uint64_t uid, uint32_t ver, uint32_t len, uint32_t flags)
{
	static uint8_t buf[65536];
	psa_status_t st;
	rec *r;

	fill(buf, uid, ver, len);
	st = psa_its_set(uid, len, buf, flags);
	if (st == PSA_SUCCESS && m != NULL && (r = model_get(m, uid)) != NULL) {
		r->present = 1;
		r->len = len;
		r->ver = ver;
		r->flags = flags;
	}
	return st;
}

static psa_status_t del(model *m, uint64_t uid)
{
	psa_status_t st = psa_its_remove(uid);
	rec *r;

	if (st == PSA_SUCCESS && m != NULL && (r = model_get(m, uid)) != NULL)
		r->present = 0;
	return st;
}

/* What the store says about r: 1 the model's value exactly, 0 absent,
 * -1 DATA_CORRUPT, -2 anything else (a wrong value or status). */
static int probe(const rec *r)
{
	static uint8_t buf[65536], want[65536];
	struct psa_storage_info_t info;
	size_t n = 0;
	psa_status_t st = psa_its_get_info(r->uid, &info), st2;

	if (st == PSA_ERROR_DOES_NOT_EXIST)
		return psa_its_get(r->uid, 0, 0, buf, &n) == PSA_ERROR_DOES_NOT_EXIST ? 0 : -2;
	if (st == PSA_ERROR_DATA_CORRUPT)
		return psa_its_get(r->uid, 0, 0, buf, &n) == PSA_ERROR_DATA_CORRUPT ? -1 : -2;
	if (st != PSA_SUCCESS || !r->present || info.size != r->len || info.flags != r->flags)
		return -2;
	memset(buf, 0x5a, r->len);
	st2 = psa_its_get(r->uid, 0, r->len, buf, &n);
	if (st2 == PSA_ERROR_DATA_CORRUPT)
		return -1;
	fill(want, r->uid, r->ver, r->len);
	return st2 == PSA_SUCCESS && n == r->len && memcmp(buf, want, r->len) == 0 ? 1 : -2;
}

/* Every record of m is exactly as modelled (and nothing else is stored). */
static int model_ok(const model *m)
{
	psa_storage_uid_t uid;
	size_t i, listed = 0, present = 0;

	for (i = 0; i < m->n; i++) {
		int p = probe(&m->r[i]);

		if (p != (m->r[i].present ? 1 : 0))
			return 0;
		present += m->r[i].present;
	}
	while (pa_its_list(listed, &uid) == PSA_SUCCESS)
		listed++;
	return listed == present;
}

static psa_status_t mount(void)
{
	return pa_its_mount(&F.flash);
}

static void fresh(uint32_t ss, uint32_t n, uint32_t p)
{
	pa_flash_sim_init(&F, mem, ss, n, p);
	CHECK(mount() == PSA_SUCCESS);
}

/* ---- CRC-32 ------------------------------------------------------------------------- */

static void test_crc(void)
{
	static uint8_t buf[5000];
	uint32_t seed = 1, i, bad = 0;

	CHECK(pa_its_crc32(0, "123456789", 9) == 0xcbf43926u);
	CHECK(pa_its_crc32(0, "", 0) == 0);
	for (i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (uint8_t)(seed >> 16);
	}
	for (i = 0; i < sizeof(buf); i += 97)   /* zlib: an implementation we did not write */
		if (pa_its_crc32(0, buf, i) != (uint32_t)crc32(0, buf, (uInt)i) ||
		    pa_its_crc32(pa_its_crc32(0, buf, i / 2), buf + i / 2, i - i / 2) !=
		        (uint32_t)crc32(0, buf, (uInt)i))
			bad++;
	CHECK_MSG(bad == 0, "%" PRIu32 " CRCs differ from zlib's", bad);
}

/* ---- geometry and the unmounted store ------------------------------------------------ */

static void test_geometry(void)
{
	static const uint32_t bad[][3] = {
		{ 4096, 1, 8 }, { 4096, PA_ITS_SECTORS_MAX + 1, 8 }, { 256, 4, 8 }, { 3000, 4, 8 },
		{ 131072, 2, 8 }, { 4096, 4, 0 }, { 4096, 4, 3 }, { 4096, 4, 64 }
	};
	struct psa_storage_info_t info;
	pa_flash fl;
	uint8_t b[4];
	size_t i, n = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pa_flash_sim_init(&F, mem, 4096, 4, 8);
		F.flash.sector_size = bad[i][0];
		F.flash.sectors = bad[i][1];
		F.flash.prog_size = bad[i][2];
		CHECK_MSG(mount() == PSA_ERROR_INVALID_ARGUMENT, "geometry %zu", i);
	}
	CHECK(pa_its_mount(NULL) == PSA_ERROR_INVALID_ARGUMENT);
	pa_flash_sim_init(&F, mem, 4096, 4, 8);
	fl = F.flash;
	fl.erase = NULL;
	CHECK(pa_its_mount(&fl) == PSA_ERROR_INVALID_ARGUMENT);
	/* a failed mount leaves the store unmounted */
	CHECK(psa_its_set(1, 1, "x", 0) == PSA_ERROR_STORAGE_FAILURE);
	CHECK(psa_its_get(1, 0, 0, b, &n) == PSA_ERROR_STORAGE_FAILURE);
	CHECK(psa_its_get_info(1, &info) == PSA_ERROR_STORAGE_FAILURE);
	CHECK(psa_its_remove(1) == PSA_ERROR_STORAGE_FAILURE);
	CHECK(pa_its_record_max() == 0);
}

/* ---- the API, path by path ----------------------------------------------------------- */

static void test_api(void)
{
	static uint8_t buf[8192], want[8192];
	struct psa_storage_info_t info = { 7, 7 };
	psa_storage_uid_t uid = 0;
	model m;
	size_t n = 99, i, bad = 0, listed = 0;
	uint32_t off, len, max;

	memset(&m, 0, sizeof(m));
	fresh(4096, 4, 8);
	max = pa_its_record_max();
	CHECK_MSG(max == 4096 - 32 - 3 * 40, "record max %" PRIu32, max);
	/* absent */
	CHECK(psa_its_get(5, 0, 0, buf, &n) == PSA_ERROR_DOES_NOT_EXIST && n == 0);
	CHECK(psa_its_get_info(5, &info) == PSA_ERROR_DOES_NOT_EXIST && info.size == 0);
	CHECK(psa_its_remove(5) == PSA_ERROR_DOES_NOT_EXIST);
	CHECK(pa_its_list(0, &uid) == PSA_ERROR_DOES_NOT_EXIST);
	/* arguments */
	CHECK(psa_its_set(0, 1, "x", 0) == PSA_ERROR_INVALID_ARGUMENT);
	CHECK(psa_its_get(0, 0, 0, buf, &n) == PSA_ERROR_INVALID_ARGUMENT);
	CHECK(psa_its_get_info(0, &info) == PSA_ERROR_INVALID_ARGUMENT);
	CHECK(psa_its_remove(0) == PSA_ERROR_INVALID_ARGUMENT);
	CHECK(psa_its_set(5, 1, NULL, 0) == PSA_ERROR_INVALID_ARGUMENT);
	CHECK(psa_its_get_info(5, NULL) == PSA_ERROR_INVALID_ARGUMENT);
	CHECK(psa_its_get(5, 0, 1, NULL, &n) == PSA_ERROR_INVALID_ARGUMENT);
	CHECK(psa_its_set(5, 1, "x", 1u << 3) == PSA_ERROR_NOT_SUPPORTED);
	CHECK(psa_its_set(5, 1, "x", 0x80000000u) == PSA_ERROR_NOT_SUPPORTED);
	CHECK(pa_its_list(0, NULL) == PSA_ERROR_INVALID_ARGUMENT);
	CHECK(psa_its_get_info(5, &info) == PSA_ERROR_DOES_NOT_EXIST);   /* nothing was stored */
	/* an empty record (no data pointer needed) */
	CHECK(psa_its_set(6, 0, NULL, 0) == PSA_SUCCESS);
	model_get(&m, 6)->present = 1;
	CHECK(psa_its_get_info(6, &info) == PSA_SUCCESS && info.size == 0 && info.flags == 0);
	CHECK(psa_its_get(6, 0, 0, NULL, &n) == PSA_SUCCESS && n == 0);
	CHECK(psa_its_get(6, 1, 0, buf, &n) == PSA_ERROR_INVALID_ARGUMENT);
	/* set, get, get_info, flags */
	CHECK(put(&m, 7, 1, 100, 0) == PSA_SUCCESS);
	CHECK(put(&m, 8, 1, 33, PSA_STORAGE_FLAG_NO_CONFIDENTIALITY |
	                            PSA_STORAGE_FLAG_NO_REPLAY_PROTECTION) == PSA_SUCCESS);
	CHECK(psa_its_get_info(8, &info) == PSA_SUCCESS && info.size == 33 &&
	      info.flags == (PSA_STORAGE_FLAG_NO_CONFIDENTIALITY | PSA_STORAGE_FLAG_NO_REPLAY_PROTECTION));
	CHECK(psa_its_get(7, 0, 100, buf, NULL) == PSA_SUCCESS);   /* p_data_length may be NULL */
	/* every data_offset and length of a 100-byte record */
	fill(want, 7, 1, 100);
	for (off = 0; off <= 100; off++)
		for (len = 0; off + len <= 100; len++) {
			memset(buf, 0xee, sizeof(buf));
			if (psa_its_get(7, off, len, buf, &n) != PSA_SUCCESS || n != len ||
			    memcmp(buf, want + off, len) != 0 || buf[len] != 0xee)
				bad++;
		}
	CHECK_MSG(bad == 0, "%zu offset reads wrong", bad);
	CHECK(psa_its_get(7, 0, 101, buf, &n) == PSA_ERROR_INVALID_ARGUMENT && n == 0);
	CHECK(psa_its_get(7, 50, 51, buf, &n) == PSA_ERROR_INVALID_ARGUMENT);
	CHECK(psa_its_get(7, 101, 0, buf, &n) == PSA_ERROR_INVALID_ARGUMENT);
	CHECK(psa_its_get(7, 0xfffffff0u, 0x20u, buf, &n) == PSA_ERROR_INVALID_ARGUMENT);
	CHECK(psa_its_get(7, 1, 0xffffffffu, buf, &n) == PSA_ERROR_INVALID_ARGUMENT);
	/* replace, remove */
	CHECK(put(&m, 7, 2, 3000, 0) == PSA_SUCCESS);
	CHECK(model_ok(&m));
	CHECK(del(&m, 7) == PSA_SUCCESS);
	CHECK(psa_its_remove(7) == PSA_ERROR_DOES_NOT_EXIST);
	CHECK(psa_its_get(7, 0, 0, buf, &n) == PSA_ERROR_DOES_NOT_EXIST);
	CHECK(put(&m, 7, 3, 10, 0) == PSA_SUCCESS);   /* again after a remove */
	CHECK(model_ok(&m));
	/* the largest record, and one byte more */
	CHECK(put(&m, 9, 1, max, 0) == PSA_SUCCESS);
	CHECK(put(&m, 10, 1, max + 1, 0) == PSA_ERROR_INSUFFICIENT_STORAGE);
	CHECK(psa_its_get_info(10, &info) == PSA_ERROR_DOES_NOT_EXIST);
	CHECK(model_ok(&m));
	/* WRITE_ONCE: neither replaced nor removed, across remounts and collections */
	CHECK(put(&m, 11, 1, 20, PSA_STORAGE_FLAG_WRITE_ONCE) == PSA_SUCCESS);
	CHECK(put(&m, 11, 2, 20, 0) == PSA_ERROR_NOT_PERMITTED);
	CHECK(put(&m, 11, 2, 20, PSA_STORAGE_FLAG_WRITE_ONCE) == PSA_ERROR_NOT_PERMITTED);
	CHECK(psa_its_remove(11) == PSA_ERROR_NOT_PERMITTED);
	CHECK(psa_its_get_info(11, &info) == PSA_SUCCESS && info.flags == PSA_STORAGE_FLAG_WRITE_ONCE);
	for (i = 0; i < 40; i++)
		CHECK(put(&m, 12, (uint32_t)i, 1500, 0) == PSA_SUCCESS);
	CHECK(mount() == PSA_SUCCESS);
	CHECK(put(&m, 11, 3, 20, 0) == PSA_ERROR_NOT_PERMITTED);
	CHECK(psa_its_remove(11) == PSA_ERROR_NOT_PERMITTED);
	CHECK(model_ok(&m));
	CHECK(F.erases > 4);   /* collections ran */
	/* list: every stored uid once */
	while (pa_its_list(listed, &uid) == PSA_SUCCESS)
		listed++;
	CHECK_MSG(listed == 6, "%zu listed", listed);   /* 6, 7, 8, 9, 11, 12 */
	CHECK(F.overwrites == 0);
}

/* ---- every size, several geometries --------------------------------------------------- */

static void test_sizes(void)
{
	static const uint32_t geo[][3] = {
		{ 512, 4, 1 }, { 1024, 3, 4 }, { 2048, 2, 16 }, { 4096, 4, 8 }, { 4096, 2, 32 },
		{ 8192, 3, 2 }
	};
	size_t g;

	for (g = 0; g < sizeof(geo) / sizeof(geo[0]); g++) {
		model m;
		uint32_t len, max, bad = 0;

		memset(&m, 0, sizeof(m));
		fresh(geo[g][0], geo[g][1], geo[g][2]);
		max = pa_its_record_max();
		for (len = 0; len <= max; len++) {
			/* one record at a time (two uids in turn, each removed after):
			 * tombstones pile up, collections follow */
			if (put(&m, 100 + len % 2, len, len, 0) != PSA_SUCCESS ||
			    probe(model_get(&m, 100 + len % 2)) != 1)
				bad++;
			if (len % 97 == 0 && (mount() != PSA_SUCCESS || !model_ok(&m)))
				bad++;
			if (del(&m, 100 + len % 2) != PSA_SUCCESS)
				bad++;
		}
		CHECK(mount() == PSA_SUCCESS && model_ok(&m));
		CHECK_MSG(bad == 0 && F.overwrites == 0, "geometry %" PRIu32 "x%" PRIu32 "/%" PRIu32
		          ": %" PRIu32 " bad, %lu overwrites", geo[g][1], geo[g][0], geo[g][2], bad,
		          F.overwrites);
		CHECK(F.erases > 2 * geo[g][1]);
	}
}

/* ---- random workloads against the model -------------------------------------------------- */

static uint32_t rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void test_random(void)
{
	static const uint32_t geo[][5] = {   /* sector size, sectors, prog, uids, remounts */
		{ 4096, 4, 8, 20, 0 }, { 4096, 4, 8, 20, 1 }, { 1024, 8, 4, 12, 1 }, { 2048, 3, 32, 6, 1 },
		{ 512, 16, 1, 16, 0 }
	};
	size_t g;

	for (g = 0; g < sizeof(geo) / sizeof(geo[0]); g++) {
		model m;
		uint32_t x = 12345u + (uint32_t)g, op, bad = 0, full = 0, maxlen;
		unsigned long lo = ~0ul, hi = 0;
		uint32_t s;
		pa_its_stats st;

		memset(&m, 0, sizeof(m));
		fresh(geo[g][0], geo[g][1], geo[g][2]);
		maxlen = (geo[g][0] * (geo[g][1] - 1) / 2) / geo[g][3];   /* half the space live */
		if (maxlen > pa_its_record_max())
			maxlen = pa_its_record_max();
		for (op = 0; op < 20000; op++) {
			uint64_t uid = 1000 + rnd(&x) % geo[g][3];
			uint32_t r = rnd(&x) % 10;
			psa_status_t e;
			rec *mr = model_get(&m, uid);
			int was = mr->present;

			if (r < 7) {
				e = put(&m, uid, op, rnd(&x) % (maxlen + 1), 0);
				if (e == PSA_ERROR_INSUFFICIENT_STORAGE)
					full++;
				else if (e != PSA_SUCCESS)
					bad++;
			} else if (r < 9) {
				e = del(&m, uid);
				if (e != (was ? PSA_SUCCESS : PSA_ERROR_DOES_NOT_EXIST))
					bad++;
			} else if (geo[g][4] && op % 7 == 0) {
				if (mount() != PSA_SUCCESS)
					bad++;
			}
			if (probe(mr) != (mr->present ? 1 : 0))
				bad++;
			if (op % 1000 == 999 && !model_ok(&m))
				bad++;
		}
		pa_its_get_stats(&st);
		for (s = 0; s < geo[g][1]; s++) {
			lo = F.sector_erases[s] < lo ? F.sector_erases[s] : lo;
			hi = F.sector_erases[s] > hi ? F.sector_erases[s] : hi;
		}
		CHECK(mount() == PSA_SUCCESS && model_ok(&m));
		CHECK_MSG(bad == 0 && full == 0, "random %zu: %" PRIu32 " bad, %" PRIu32 " full", g, bad, full);
		CHECK_MSG(F.overwrites == 0, "random %zu: %lu units programmed twice", g, F.overwrites);
		/* collections go round every sector, evenly, remounts or not */
		CHECK_MSG(lo > 20 && hi - lo <= 1,
		          "random %zu: erases per sector %lu..%lu", g, lo, hi);
	}
}

/* ---- full storage, full index --------------------------------------------------------- */

static void test_full(void)
{
	model m;
	uint64_t uid;
	unsigned long erases;
	psa_status_t e = PSA_SUCCESS;
	size_t i;

	memset(&m, 0, sizeof(m));
	fresh(1024, 4, 8);
	for (uid = 1; uid < UIDS_MAX && e == PSA_SUCCESS; uid++)
		e = put(&m, uid, 1, 200, 0);
	CHECK_MSG(e == PSA_ERROR_INSUFFICIENT_STORAGE && uid > 8, "filled %" PRIu64 ": %d", uid, (int)e);
	CHECK(model_ok(&m));
	/* a record that cannot fit is refused before any erase */
	erases = F.erases;
	CHECK(put(&m, 200, 1, 900, 0) == PSA_ERROR_INSUFFICIENT_STORAGE && F.erases == erases);
	/* replacing an existing record needs room for both copies at once */
	CHECK(mount() == PSA_SUCCESS && model_ok(&m));
	CHECK(del(&m, 1) == PSA_SUCCESS && del(&m, 2) == PSA_SUCCESS);
	CHECK(put(&m, 300, 1, 200, 0) == PSA_SUCCESS);
	CHECK(mount() == PSA_SUCCESS && model_ok(&m));
	/* full again, with one record of the largest size: every remove still
	 * finds room for its tombstone */
	for (uid = 400, e = PSA_SUCCESS; e == PSA_SUCCESS; uid++)
		e = put(&m, uid, 1, 150, 0);
	CHECK(e == PSA_ERROR_INSUFFICIENT_STORAGE);
	for (i = 0, e = PSA_SUCCESS; i < m.n && e == PSA_SUCCESS; i++)
		if (m.r[i].present)
			e = del(&m, m.r[i].uid);
	CHECK_MSG(e == PSA_SUCCESS, "remove on a full store: %d", (int)e);
	CHECK(mount() == PSA_SUCCESS && model_ok(&m));
	CHECK(put(&m, 500, 1, pa_its_record_max(), 0) == PSA_SUCCESS);
	CHECK(put(&m, 501, 1, 8, 0) == PSA_SUCCESS);
	CHECK(del(&m, 500) == PSA_SUCCESS && del(&m, 501) == PSA_SUCCESS);
	CHECK(mount() == PSA_SUCCESS && model_ok(&m));

	/* the RAM index: PA_ITS_INDEX_MAX uids; a removed uid keeps its entry until
	 * its sector is collected, which a new uid then forces */
	memset(&m, 0, sizeof(m));
	fresh(4096, 4, 8);
	for (i = 0; i < PA_ITS_INDEX_MAX; i++)
		CHECK(psa_its_set(5000 + i, 0, NULL, 0) == PSA_SUCCESS);
	CHECK(psa_its_set(9999, 0, NULL, 0) == PSA_ERROR_INSUFFICIENT_STORAGE);
	CHECK(psa_its_remove(5000) == PSA_SUCCESS);
	CHECK(psa_its_set(9999, 0, NULL, 0) == PSA_SUCCESS);
	CHECK(psa_its_set(9998, 0, NULL, 0) == PSA_ERROR_INSUFFICIENT_STORAGE);
	CHECK(mount() == PSA_SUCCESS);
	CHECK(psa_its_get_info(9999, &(struct psa_storage_info_t){ 0, 0 }) == PSA_SUCCESS);
	CHECK(psa_its_get_info(5000, &(struct psa_storage_info_t){ 0, 0 }) == PSA_ERROR_DOES_NOT_EXIST);
	CHECK(F.overwrites == 0);
}

/* ---- corruption ----------------------------------------------------------------------- */

/* Offset in flash of a record's data (its first 16 bytes found in mem). */
static long find_data(uint64_t uid, uint32_t ver, uint32_t len)
{
	uint8_t want[16];
	size_t size = (size_t)F.flash.sectors * F.flash.sector_size, i;

	fill(want, uid, ver, 16);
	for (i = 0; i + len <= size; i++)
		if (memcmp(mem + i, want, 16) == 0)
			return (long)i;
	(void)len;
	return -1;
}

/* Offset in flash of the entry slot that names uid with length len. */
static long find_entry(uint64_t uid, uint32_t len)
{
	size_t size = (size_t)F.flash.sectors * F.flash.sector_size, i;
	long last = -1;

	for (i = 0; i + 32 <= size; i += F.flash.prog_size)
		if (mem[i] == 0xa5 && (uint32_t)(mem[i + 4] | mem[i + 5] << 8 | mem[i + 6] << 16 |
		                                 (uint32_t)mem[i + 7] << 24) == (uint32_t)uid &&
		    (uint32_t)(mem[i + 16] | mem[i + 17] << 8) == len)
			last = (long)i;
	return last;
}

static void test_corrupt(void)
{
	static uint8_t buf[512];
	struct psa_storage_info_t info;
	model m;
	long at;
	size_t n = 0, i;
	int zeroed = 1;

	memset(&m, 0, sizeof(m));
	fresh(4096, 4, 8);
	CHECK(put(&m, 1, 1, 100, 0) == PSA_SUCCESS);
	CHECK(put(&m, 2, 1, 50, 0) == PSA_SUCCESS);
	/* a flipped data bit: caught at once (get re-checks) and after a remount */
	at = find_data(1, 1, 100);
	CHECK(at > 0);
	mem[at + 40] ^= 0x10;
	memset(buf, 0x77, sizeof(buf));
	CHECK(psa_its_get(1, 0, 100, buf, &n) == PSA_ERROR_DATA_CORRUPT && n == 0);
	for (i = 0; i < 100; i++)
		zeroed &= buf[i] == 0;
	CHECK_MSG(zeroed, "the output of a corrupt read is wiped");
	CHECK(psa_its_get_info(1, &info) == PSA_ERROR_DATA_CORRUPT);
	CHECK(psa_its_get(1, 0, 10, buf, &n) == PSA_ERROR_DATA_CORRUPT);   /* a part too */
	CHECK(mount() == PSA_SUCCESS);
	CHECK(psa_its_get(1, 0, 100, buf, &n) == PSA_ERROR_DATA_CORRUPT);
	CHECK(pa_its_list(1, &(psa_storage_uid_t){ 0 }) == PSA_SUCCESS);   /* still listed */
	CHECK(probe(&m.r[1]) == 1);   /* the other record is fine */
	/* it stays corrupt through collections (copied as poison) ... */
	for (i = 0; i < 30; i++)
		CHECK(put(&m, 3, (uint32_t)i, 1500, 0) == PSA_SUCCESS);
	CHECK(F.erases >= 4 && find_data(1, 1, 100) < 0);   /* its sector was erased */
	CHECK(psa_its_get(1, 0, 100, buf, &n) == PSA_ERROR_DATA_CORRUPT);
	CHECK(mount() == PSA_SUCCESS && psa_its_get_info(1, &info) == PSA_ERROR_DATA_CORRUPT);
	/* ... until it is written again or removed */
	CHECK(put(&m, 1, 2, 100, 0) == PSA_SUCCESS && probe(&m.r[0]) == 1);
	mem[find_data(1, 2, 100) + 3] ^= 1;
	CHECK(del(&m, 1) == PSA_SUCCESS && probe(&m.r[0]) == 0);
	CHECK(mount() == PSA_SUCCESS && model_ok(&m));

	/* a flipped bit in the entry of a replaced record: the older value is
	 * retired, so the uid reads corrupt, not old */
	CHECK(put(&m, 4, 1, 60, 0) == PSA_SUCCESS && put(&m, 4, 2, 61, 0) == PSA_SUCCESS);
	at = find_entry(4, 61);
	CHECK(at > 0);
	mem[at + 13] ^= 0x04;
	CHECK(mount() == PSA_SUCCESS && psa_its_get_info(4, &info) == PSA_ERROR_DATA_CORRUPT);
	/* in the entry of a first record: indistinguishable from a write the power
	 * cut before its entry, so the record is absent (documented) */
	CHECK(put(&m, 5, 1, 70, 0) == PSA_SUCCESS);
	at = find_entry(5, 70);
	mem[at + 20] ^= 0x80;
	CHECK(mount() == PSA_SUCCESS && psa_its_get_info(5, &info) == PSA_ERROR_DOES_NOT_EXIST);
	/* in the retire mark of a current record */
	CHECK(put(&m, 6, 1, 80, 0) == PSA_SUCCESS);
	at = find_entry(6, 80);
	mem[at + 32] ^= 0x01;
	CHECK(mount() == PSA_SUCCESS && psa_its_get_info(6, &info) == PSA_ERROR_DATA_CORRUPT);
	/* a WRITE_ONCE record whose data decayed is still not replaceable */
	CHECK(put(&m, 7, 1, 90, PSA_STORAGE_FLAG_WRITE_ONCE) == PSA_SUCCESS);
	mem[find_data(7, 1, 90) + 89] ^= 0x40;
	CHECK(mount() == PSA_SUCCESS && psa_its_get_info(7, &info) == PSA_ERROR_DATA_CORRUPT);
	CHECK(put(&m, 7, 2, 90, 0) == PSA_ERROR_NOT_PERMITTED);
	CHECK(psa_its_remove(7) == PSA_ERROR_NOT_PERMITTED);
	CHECK(probe(&m.r[1]) == 1);
	CHECK(F.overwrites == 0);
}

/* ---- garbage and driver errors --------------------------------------------------------- */

static void test_garbage_and_errors(void)
{
	static uint8_t buf[4096];
	model m;
	uint32_t x = 99, i, seed, bad = 0, stored = 0;
	psa_storage_uid_t uid;
	size_t n;

	/* all zeros, random bytes: an empty store that works */
	pa_flash_sim_init(&F, mem, 2048, 4, 8);
	memset(mem, 0, 4 * 2048);
	CHECK(mount() == PSA_SUCCESS && pa_its_list(0, &uid) == PSA_ERROR_DOES_NOT_EXIST);
	CHECK(put(NULL, 1, 1, 500, 0) == PSA_SUCCESS);
	CHECK(F.overwrites == 0);
	for (seed = 1; seed <= 300; seed++) {
		pa_flash_sim_init(&F, mem, 1024, 4, 4);
		x = seed;
		for (i = 0; i < 4 * 1024; i++)
			mem[i] = (uint8_t)rnd(&x);
		if (mount() != PSA_SUCCESS) {
			bad++;
			continue;
		}
		if (pa_its_list(0, &uid) == PSA_SUCCESS)
			stored++;
		F.overwrites = 0;
		if (put(NULL, 1, 1, 300, 0) != PSA_SUCCESS || psa_its_get(1, 0, 300, buf, &n) != PSA_SUCCESS ||
		    F.overwrites != 0)
			bad++;
	}
	CHECK_MSG(bad == 0 && stored == 0, "garbage: %" PRIu32 " bad, %" PRIu32 " with records",
	          bad, stored);

	/* a program or erase the driver refuses, at each operation of a write that
	 * collects garbage: that write fails, and every call after it until the
	 * next mount; then the record reads old or new, the others as they were */
	memset(&m, 0, sizeof(m));
	fresh(1024, 3, 8);
	for (i = 0;; i++) {
		static uint8_t img[3 * 1024];
		unsigned long erases = F.erases, k, nops;
		model before = m, after = m;

		memcpy(img, mem, sizeof(img));
		pa_flash_sim_arm(&F, 0, 0, 0);
		CHECK(put(&after, 1 + i % 3, i, 300, 0) == PSA_SUCCESS);
		nops = F.ops;
		m = after;
		if (F.erases == erases || i < 6)
			continue;
		for (k = 1; k <= nops; k++) {
			rec *r = model_get(&before, 1 + i % 3);
			int p;

			memcpy(mem, img, sizeof(img));
			CHECK(mount() == PSA_SUCCESS);
			pa_flash_sim_arm(&F, 0, 0, 0);
			F.fail_at = k;
			if (put(NULL, 1 + i % 3, i, 300, 0) != PSA_ERROR_STORAGE_FAILURE ||
			    psa_its_get(1, 0, 0, buf, &n) != PSA_ERROR_STORAGE_FAILURE)
				bad++;
			F.fail_at = 0;
			if (mount() != PSA_SUCCESS) {
				bad++;
				continue;
			}
			p = probe(r);
			if (p != 1 && probe(model_get(&after, 1 + i % 3)) != 1)
				bad++;
			*r = p == 1 ? *r : *model_get(&after, 1 + i % 3);
			if (!model_ok(&before))
				bad++;
		}
		CHECK_MSG(bad == 0, "%" PRIu32 " refused operations mishandled (of %lu)", bad, nops);
		break;
	}
	/* reads refused: mount and get fail, nothing is written */
	F.read_fails = 1;
	CHECK(mount() == PSA_ERROR_STORAGE_FAILURE);
	F.read_fails = 0;
	CHECK(mount() == PSA_SUCCESS);
	F.read_fails = 1;
	CHECK(psa_its_get(1, 0, 0, buf, &n) == PSA_ERROR_STORAGE_FAILURE);
	F.read_fails = 0;
	CHECK(F.overwrites == 0);
}

/* ---- power cuts at every flash operation --------------------------------------------------- */

typedef struct wop {
	int remove;
	uint64_t uid;
	uint32_t len;
	uint32_t flags;
} wop;

static unsigned long cuts, cut_bad, remount_cuts;

/* After a cut in op w (from model before to model after): every record reads
 * as before, w's record as before or after; then the store takes more writes. */
static int after_cut(const model *before, const model *after, const wop *w, uint32_t ver)
{
	model now = *before;
	size_t i;
	int ok = 1, p;

	for (i = 0; i < before->n; i++) {
		const rec *b = &before->r[i], *a = &after->r[i];

		p = probe(b);
		if (b->uid != w->uid) {
			ok &= p == (b->present ? 1 : 0);
		} else if (p != (b->present ? 1 : 0)) {
			ok &= probe(a) == (a->present ? 1 : 0);
			now.r[i] = *a;
		}
	}
	if (after->n > before->n) {   /* w wrote a new uid */
		p = probe(&after->r[before->n]);
		if (p == 1)
			now.r[now.n++] = after->r[before->n];
		else
			ok &= p == 0;
	}
	/* usable: more writes, one of them a new uid, then enough to go round
	 * every sector twice (collections and the spare must work), a remount */
	ok &= put(&now, w->uid, ver + 1000000u, w->len % 64 + 1, 0) == PSA_SUCCESS ||
	      (w->flags & PSA_STORAGE_FLAG_WRITE_ONCE) != 0;
	for (i = 0; ok && i * 200 < 2u * F.flash.sectors * F.flash.sector_size; i++)
		ok &= put(&now, 777777, ver + (uint32_t)i, 160, 0) == PSA_SUCCESS;
	ok &= mount() == PSA_SUCCESS && model_ok(&now);
	return ok;
}

static void cut_campaign(uint32_t ss, uint32_t nsec, uint32_t psz, const wop *ops, size_t nops)
{
	static uint8_t img[MEM_MAX], cut_img[MEM_MAX];
	size_t size = (size_t)ss * nsec, j;
	model before, after;
	unsigned long nflash, c, gc_ops = 0, mops, m2;
	uint32_t ver = 1;
	int tear, t2;

	memset(&before, 0, sizeof(before));
	fresh(ss, nsec, psz);
	for (j = 0; j < nops; j++, ver++) {
		const wop *w = &ops[j];
		pa_its_stats st;

		memcpy(img, mem, size);
		after = before;
		/* the clean run: how many flash operations op j takes */
		CHECK(mount() == PSA_SUCCESS);
		pa_flash_sim_arm(&F, 0, 0, 0);
		{
			psa_status_t e = w->remove ? del(&after, w->uid) :
			                             put(&after, w->uid, ver, w->len, w->flags);

			CHECK_MSG(e == PSA_SUCCESS, "op %zu: %d", j, (int)e);
		}
		nflash = F.ops;
		pa_its_get_stats(&st);
		if (st.sectors_erased > 0)
			gc_ops += nflash;
		for (c = 1; c <= nflash; c++) {
			for (tear = 0; tear < PA_TEAR_COUNT; tear++) {
				uint32_t seed = (uint32_t)(c * 7919u + (unsigned long)tear * 104729u + j);

				memcpy(mem, img, size);
				CHECK(mount() == PSA_SUCCESS);
				pa_flash_sim_arm(&F, c, tear, seed);
				if (w->remove)
					(void)psa_its_remove(w->uid);
				else
					(void)put(NULL, w->uid, ver, w->len, w->flags);
				pa_flash_sim_arm(&F, 0, 0, 0);
				cuts++;
				memcpy(cut_img, mem, size);
				if (mount() != PSA_SUCCESS || !after_cut(&before, &after, w, ver)) {
					cut_bad++;
					fprintf(stderr, "cut: op %zu (%s uid %" PRIu64 " len %" PRIu32
					        "), flash op %lu of %lu, tear %d\n", j,
					        w->remove ? "remove" : "set", w->uid, w->len, c, nflash, tear);
				}
				/* and a second cut at each write of the recovering mount (the
				 * erase of a half-collected sector, retire marks a cut left
				 * out), before the next op runs */
				memcpy(mem, cut_img, size);
				pa_flash_sim_arm(&F, 0, 0, 0);
				(void)mount();
				mops = F.ops;
				for (m2 = 1; m2 <= mops; m2++) {
					for (t2 = 0; t2 < PA_TEAR_COUNT; t2++) {
						memcpy(mem, cut_img, size);
						pa_flash_sim_arm(&F, m2, t2, seed ^ 0x5555u);
						(void)mount();
						pa_flash_sim_arm(&F, 0, 0, 0);
						remount_cuts++;
						if (mount() != PSA_SUCCESS || !after_cut(&before, &after, w, ver)) {
							cut_bad++;
							fprintf(stderr, "cut in mount after op %zu flash op %lu tear %d, "
							        "mount op %lu tear %d\n", j, c, tear, m2, t2);
						}
					}
				}
			}
		}
		/* go on from the clean result */
		memcpy(mem, img, size);
		CHECK(mount() == PSA_SUCCESS);
		pa_flash_sim_arm(&F, 0, 0, 0);
		if (w->remove)
			CHECK(del(&before, w->uid) == PSA_SUCCESS);
		else
			CHECK(put(&before, w->uid, ver, w->len, w->flags) == PSA_SUCCESS);
	}
	CHECK(F.overwrites == 0);
	CHECK_MSG(gc_ops > 0, "the workload collected garbage (%lu flash ops in collections)", gc_ops);
}

static void test_power_cuts(void)
{
	wop w[64];
	size_t n = 0, i;

	/* small sectors: collections every few writes */
	for (i = 0; i < 12; i++) {
		w[n++] = (wop){ 0, 1 + i % 3, (uint32_t)(40 + i * 23), 0 };
		if (i % 3 == 2)
			w[n++] = (wop){ 1, 1 + (i + 1) % 3, 0, 0 };
	}
	w[n++] = (wop){ 0, 9, 0, 0 };                                /* empty record */
	w[n++] = (wop){ 0, 10, 200, PSA_STORAGE_FLAG_WRITE_ONCE };
	w[n++] = (wop){ 1, 9, 0, 0 };
	w[n++] = (wop){ 1, 2, 0, 0 };
	w[n++] = (wop){ 1, 3, 0, 0 };
	w[n++] = (wop){ 0, 11, 860, 0 };                             /* near the largest */
	w[n++] = (wop){ 0, 11, 872, 0 };                             /* the largest, replacing it */
	cut_campaign(1024, 4, 8, w, n);
	/* two 4 KB sectors (one of them the spare), a 4-byte program unit */
	n = 0;
	for (i = 0; i < 10; i++)
		w[n++] = (wop){ 0, 0x2a000001u + i % 2, (uint32_t)(200 + i * 97), 0 };
	w[n++] = (wop){ 1, 0x2a000001u, 0, 0 };
	w[n++] = (wop){ 1, 0x2a000002u, 0, 0 };
	w[n++] = (wop){ 0, 0x5041000000001001ull, 3500, 0 };   /* alone in its sector */
	w[n++] = (wop){ 1, 0x5041000000001001ull, 0, 0 };
	cut_campaign(4096, 2, 4, w, n);
	CHECK_MSG(cut_bad == 0, "%lu of %lu cuts inconsistent", cut_bad, cuts + remount_cuts);
	printf("power cuts (store): %lu cuts at every program and erase, torn 4 ways, "
	       "%lu more at every write of the recovering mount, %lu inconsistent\n", cuts,
	       remount_cuts, cut_bad);
}

/* ---- every single-bit flip of a populated image ------------------------------------------ */

static void test_bit_flips(void)
{
	static uint8_t img[4 * 1024];
	model m;
	size_t size = sizeof(img), byte, i;
	unsigned long flips = 0, intact = 0, corrupt = 0, absent = 0, wrong = 0, unusable = 0;
	int bit;

	memset(&m, 0, sizeof(m));
	fresh(1024, 4, 8);
	/* records replaced, removed and collected, so the image holds retired
	 * records, tombstones, a collected sector and a spare */
	for (i = 0; i < 14; i++)
		CHECK(put(&m, 1 + i % 5, (uint32_t)i, (uint32_t)(20 + i * 29), i == 3 ? PSA_STORAGE_FLAG_WRITE_ONCE : 0) ==
		          PSA_SUCCESS ||
		      i % 5 == 3);
	CHECK(del(&m, 2) == PSA_SUCCESS);
	CHECK(put(&m, 6, 1, 0, 0) == PSA_SUCCESS);
	CHECK(F.erases > 0 && model_ok(&m));
	memcpy(img, mem, size);
	for (byte = 0; byte < size; byte++) {
		for (bit = 0; bit < 8; bit++) {
			size_t k, listed = 0, found = 0;
			psa_storage_uid_t uid;

			memcpy(mem, img, size);
			mem[byte] ^= (uint8_t)(1u << bit);
			flips++;
			if (mount() != PSA_SUCCESS) {
				unusable++;
				continue;
			}
			for (k = 0; k < m.n; k++) {
				int p = probe(&m.r[k]);

				if (p == (m.r[k].present ? 1 : 0))
					intact++;
				else if (p == -1)
					corrupt++;
				else if (p == 0)
					absent++;
				else
					wrong++;
				found += p == 1 || p == -1;
			}
			while (pa_its_list(listed, &uid) == PSA_SUCCESS)
				listed++;
			if (listed > found)
				wrong++;   /* a record nobody wrote */
			/* still takes a write, without programming any unit twice */
			F.overwrites = 0;
			if (put(NULL, 99, 1, 64, 0) != PSA_SUCCESS || F.overwrites != 0)
				unusable++;
		}
	}
	CHECK_MSG(wrong == 0 && unusable == 0, "%lu wrong values, %lu unusable of %lu flips", wrong,
	          unusable, flips);
	CHECK(flips == 8 * size);
	printf("bit flips: %lu single-bit flips of a %zu-byte image, %zu records each: "
	       "%lu reads intact, %lu DATA_CORRUPT, %lu absent, %lu wrong\n", flips, size, m.n,
	       intact, corrupt, absent, wrong);
}

int main(void)
{
	test_crc();
	test_geometry();
	test_api();
	test_sizes();
	test_random();
	test_full();
	test_corrupt();
	test_garbage_and_errors();
	test_power_cuts();
	test_bit_flips();
	return check_done("test_agent_its");
}
