/*
 * pa_its_flash.c - the log-structured record store on NOR flash (pa/pa_its.h;
 * the format, and why every power cut is safe, in docs/flash-storage.md).
 *
 * A sector in use starts with a header (two copies) holding the sector's
 * sequence number.  Record data grow up from the header; fixed-size entry
 * slots grow down from the sector's end.  An entry names the record (uid,
 * sequence number, length, data offset, flags, CRC of the data) and carries
 * its own CRC, bound to the sector's sequence number and the slot's position;
 * the last unit of its slot is the retire mark.
 *
 * - A write programs the data, then the entry (the entry commits it), then
 *   the previous record's retire mark.  A remove writes a tombstone entry.
 * - Mount takes, for each uid, the valid entry with the highest sequence
 *   number; it is current if its data match their CRC and it is not retired,
 *   else the uid is corrupt (a record that was complete has decayed).
 * - One free sector is always kept.  When the active sector is full the next
 *   free one is erased and opened; if none is left free, the oldest sector's
 *   live records are copied into it and the oldest is erased.
 * - Every sector keeps one empty slot between its data and its entries, so
 *   walking the slots always stops at an erased one before reaching data,
 *   and records (not tombstones) leave room for one more slot, so a remove
 *   always finds room after at most one collection.
 */
#include <string.h>

#include "its/pa_its_log.h"

#if PA_ITS_BUF < 64 || PA_ITS_BUF % 32 != 0
#error "PA_ITS_BUF must be a multiple of 32, at least 64"
#endif

#define SECT_MAGIC 0x53544950u    /* "PITS" as stored (little-endian) */
#define FORMAT_VERSION 1u
#define HDR_LEN 16u               /* one header copy before padding */
#define ENT_LEN 32u               /* one entry before padding */
#define ENT_MAGIC 0xa5u
#define KIND_DATA 1u
#define KIND_TOMB 2u
#define NONE 0xffffffffu
#define NOT_FOUND ((size_t)-1)
#define SLOT_MAX 64u              /* largest slot: 32-byte entry + 32-byte retire unit */

/* An index entry's state (low bits) and flags. */
#define ST_LIVE 1u
#define ST_TOMB 2u
#define ST_CORRUPT 3u
#define ST_MASK 3u
#define ST_WRITE_ONCE 4u
#define ST_RETIRED 8u             /* corrupt only because it was retired (data good) */

/* What a slot holds. */
#define SLOT_EMPTY 0
#define SLOT_TORN 1               /* not erased, not a valid entry: skipped */
#define SLOT_VALID 2

typedef struct its_rec {
	uint64_t uid;
	uint32_t seq;
	uint32_t loc;                 /* flash address of its entry slot */
} its_rec;

typedef struct its_ent {
	uint64_t uid;
	uint32_t seq;
	uint32_t len;
	uint32_t off;                 /* data offset in the sector, 0 without data */
	uint32_t flags;
	uint32_t dcrc;
	uint8_t kind;
	uint8_t retired;
} its_ent;

static struct its_store {
	const pa_flash *fl;
	uint32_t ssz, nsec, psz;      /* sector size, sectors, program unit */
	uint32_t hcopy, hlen;         /* one header copy, both copies */
	uint32_t emain, eret, esz;    /* entry, retire unit, slot */
	int mounted;
	int failed;                   /* a write failed: unusable until the next mount */
	uint32_t sseq[PA_ITS_SECTORS_MAX];   /* sector sequence numbers, 0 = free */
	uint8_t erased[PA_ITS_SECTORS_MAX];  /* free and blank: no erase needed before use */
	uint32_t next_sseq;
	uint32_t next_seq;
	uint32_t active;              /* the sector appended to, or NONE */
	uint32_t data_top;            /* its first free data byte (offset in the sector) */
	uint32_t slots;               /* its used entry slots */
	size_t n;
	its_rec rec[PA_ITS_INDEX_MAX];
	uint8_t st[PA_ITS_INDEX_MAX];
	pa_its_stats stats;
} its;

/* ---- small helpers ------------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	while (n-- > 0)
		*v++ = 0;
}

static int all_ff(const uint8_t *p, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0xffu)
			return 0;
	return 1;
}

static uint32_t align_up(uint32_t v)
{
	return (v + its.psz - 1u) & ~(its.psz - 1u);
}

static unsigned log2_of(uint32_t v)
{
	unsigned n = 0;

	while (v > 1u) {
		v >>= 1;
		n++;
	}
	return n;
}

uint32_t pa_its_crc32(uint32_t crc, const void *p, size_t n)
{
	/* reflected polynomial 0xedb88320, four bits at a time */
	static const uint32_t t[16] = {
		0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
		0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
		0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu
	};
	const uint8_t *b = p;

	crc = ~crc;
	while (n-- > 0) {
		crc ^= *b++;
		crc = (crc >> 4) ^ t[crc & 15u];
		crc = (crc >> 4) ^ t[crc & 15u];
	}
	return ~crc;
}

/* ---- the flash, through the driver --------------------------------------------------- */

static psa_status_t fl_read(uint32_t addr, void *buf, uint32_t len)
{
	return its.fl->read(its.fl->ctx, addr, buf, len) == PA_FLASH_OK ? PSA_SUCCESS :
	                                                                  PSA_ERROR_STORAGE_FAILURE;
}

static psa_status_t fl_prog(uint32_t addr, const void *buf, uint32_t len)
{
	its.stats.programs++;
	its.stats.bytes_programmed += len;
	if (its.fl->prog(its.fl->ctx, addr, buf, len) != PA_FLASH_OK) {
		its.failed = 1;
		return PSA_ERROR_STORAGE_FAILURE;
	}
	return PSA_SUCCESS;
}

static psa_status_t fl_erase(uint32_t s)
{
	its.stats.sectors_erased++;
	its.erased[s] = 0;
	if (its.fl->erase(its.fl->ctx, s) != PA_FLASH_OK) {
		its.failed = 1;
		return PSA_ERROR_STORAGE_FAILURE;
	}
	its.erased[s] = 1;
	return PSA_SUCCESS;
}

/* ---- sector headers ----------------------------------------------------------------- */

static void hdr_encode(uint8_t *b, uint32_t seq)
{
	memset(b, 0xff, its.hcopy);
	put32(b, SECT_MAGIC);
	put32(b + 4, seq);
	b[8] = FORMAT_VERSION;
	b[9] = (uint8_t)log2_of(its.ssz);
	b[10] = (uint8_t)log2_of(its.psz);
	b[11] = 0;
	put32(b + 12, pa_its_crc32(0, b, 12));
}

static uint32_t hdr_decode(const uint8_t *b)
{
	uint32_t seq = get32(b + 4);

	if (get32(b) != SECT_MAGIC || b[8] != FORMAT_VERSION || b[9] != log2_of(its.ssz) ||
	    b[10] != log2_of(its.psz) || b[11] != 0 || get32(b + 12) != pa_its_crc32(0, b, 12) ||
	    seq == 0 || seq == NONE)
		return 0;
	return seq;
}

/* Sector s's sequence number, 0 if neither header copy is valid (a free sector). */
static psa_status_t hdr_read(uint32_t s, uint32_t *seq)
{
	uint8_t b[HDR_LEN];
	psa_status_t st;

	*seq = 0;
	st = fl_read(s * its.ssz, b, HDR_LEN);
	if (st == PSA_SUCCESS)
		*seq = hdr_decode(b);
	if (st == PSA_SUCCESS && *seq == 0) {
		st = fl_read(s * its.ssz + its.hcopy, b, HDR_LEN);
		if (st == PSA_SUCCESS)
			*seq = hdr_decode(b);
	}
	return st;
}

/* ---- entry slots -------------------------------------------------------------------- */

static uint32_t slot_addr(uint32_t s, uint32_t k)
{
	return s * its.ssz + its.ssz - (k + 1u) * its.esz;
}

static uint32_t sect_of(uint32_t loc)
{
	return loc / its.ssz;
}

static uint32_t slot_of(uint32_t loc)
{
	return (its.ssz - loc % its.ssz) / its.esz - 1u;
}

/* The entry's CRC covers the sector's sequence number and the slot, so an
 * entry is only valid where it was written. */
static uint32_t ent_crc(const uint8_t *b, uint32_t sseq, uint32_t k)
{
	uint8_t where[8];

	put32(where, sseq);
	put32(where + 4, k);
	return pa_its_crc32(pa_its_crc32(0, where, 8), b, ENT_LEN - 4u);
}

static void ent_encode(uint8_t *b, const its_ent *e, uint32_t sseq, uint32_t k)
{
	memset(b, 0xff, its.emain);
	b[0] = ENT_MAGIC;
	b[1] = e->kind;
	b[2] = (uint8_t)e->flags;
	b[3] = (uint8_t)(e->flags >> 8);
	put32(b + 4, (uint32_t)e->uid);
	put32(b + 8, (uint32_t)(e->uid >> 32));
	put32(b + 12, e->seq);
	put32(b + 16, e->len);
	put32(b + 20, e->off);
	put32(b + 24, e->dcrc);
	put32(b + 28, ent_crc(b, sseq, k));
}

/* Read slot k of sector s: empty (all 0xff), torn (anything else that is not
 * a valid entry) or a valid entry in *e.  A valid entry's data lie between
 * the header and its own slot. */
static psa_status_t slot_read(uint32_t s, uint32_t k, its_ent *e, int *what)
{
	uint8_t b[SLOT_MAX];
	uint32_t start = its.ssz - (k + 1u) * its.esz;
	psa_status_t st = fl_read(slot_addr(s, k), b, its.esz);

	*what = SLOT_TORN;
	if (st != PSA_SUCCESS)
		return st;
	if (all_ff(b, its.esz)) {
		*what = SLOT_EMPTY;
		return PSA_SUCCESS;
	}
	e->kind = b[1];
	e->flags = (uint32_t)b[2] | (uint32_t)b[3] << 8;
	e->uid = (uint64_t)get32(b + 4) | (uint64_t)get32(b + 8) << 32;
	e->seq = get32(b + 12);
	e->len = get32(b + 16);
	e->off = get32(b + 20);
	e->dcrc = get32(b + 24);
	e->retired = !all_ff(b + its.emain, its.eret);
	if (b[0] != ENT_MAGIC || get32(b + 28) != ent_crc(b, its.sseq[s], k) ||
	    (e->kind != KIND_DATA && e->kind != KIND_TOMB) || (e->flags & ~PA_ITS_FLAGS_KNOWN) != 0 ||
	    e->uid == 0 || e->seq == 0 || e->seq == NONE)
		return PSA_SUCCESS;
	if (e->len == 0) {
		if (e->off != 0 || e->dcrc != 0)
			return PSA_SUCCESS;
	} else if (e->kind != KIND_DATA || e->len > its.ssz || e->off < its.hlen ||
	           e->off % its.psz != 0 || e->off > start || align_up(e->len) > start - e->off) {
		return PSA_SUCCESS;
	}
	*what = SLOT_VALID;
	return PSA_SUCCESS;
}

/* CRC of len data bytes at addr; out (if not NULL) receives bytes [off, off +
 * cnt) of them.  Read through a stack buffer, wiped after. */
static psa_status_t data_scan(uint32_t addr, uint32_t len, uint32_t *crc, uint8_t *out,
                              uint32_t off, uint32_t cnt)
{
	uint8_t buf[PA_ITS_BUF];
	uint32_t pos = 0, c = 0, n, a, z;
	psa_status_t st = PSA_SUCCESS;

	while (pos < len) {
		n = len - pos < PA_ITS_BUF ? len - pos : PA_ITS_BUF;
		st = fl_read(addr + pos, buf, n);
		if (st != PSA_SUCCESS)
			break;
		c = pa_its_crc32(c, buf, n);
		if (out != NULL) {
			/* the overlap of [pos, pos + n) with [off, off + cnt) */
			a = pos > off ? pos : off;
			z = pos + n < off + cnt ? pos + n : off + cnt;
			if (a < z)
				memcpy(out + (a - off), buf + (a - pos), z - a);
		}
		pos += n;
	}
	wipe(buf, sizeof(buf));
	*crc = c;
	return st;
}

/* ---- the RAM index ------------------------------------------------------------------ */

static size_t idx_find(uint64_t uid)
{
	size_t i;

	for (i = 0; i < its.n; i++)
		if (its.rec[i].uid == uid)
			return i;
	return NOT_FOUND;
}

static void idx_drop(size_t i)
{
	its.n--;
	its.rec[i] = its.rec[its.n];
	its.st[i] = its.st[its.n];
}

/* How much an index entry's record can be trusted, for equal sequence numbers. */
static unsigned quality(uint8_t st)
{
	if ((st & ST_MASK) != ST_CORRUPT)
		return 2;
	return (st & ST_RETIRED) != 0 ? 1 : 0;
}

static int has_tombstones(void)
{
	size_t i;

	for (i = 0; i < its.n; i++)
		if ((its.st[i] & ST_MASK) == ST_TOMB)
			return 1;
	return 0;
}

static psa_status_t retire(uint32_t loc);

/* Mount: take the valid entry in slot k of sector s into the index if it is
 * the newest record of its uid seen so far.  The older of the two is retired
 * if a cut left it without its mark (between a write's entry and the mark):
 * from then on a decayed newer record reads corrupt, never the older value. */
static psa_status_t merge(uint32_t s, uint32_t k, const its_ent *e)
{
	uint32_t crc = 0;
	uint8_t state;
	size_t i;
	int good = 1;
	psa_status_t st;

	if (e->len > 0) {
		st = data_scan(s * its.ssz + e->off, e->len, &crc, NULL, 0, 0);
		if (st != PSA_SUCCESS)
			return st;
		good = crc == e->dcrc;
	}
	if (good && !e->retired)
		state = e->kind == KIND_TOMB ? ST_TOMB : ST_LIVE;
	else
		state = ST_CORRUPT | (good ? ST_RETIRED : 0);
	if ((e->flags & PSA_STORAGE_FLAG_WRITE_ONCE) != 0)
		state |= ST_WRITE_ONCE;
	i = idx_find(e->uid);
	if (i == NOT_FOUND) {
		if (its.n == PA_ITS_INDEX_MAX)
			return PSA_ERROR_INSUFFICIENT_MEMORY;
		i = its.n++;
		its.rec[i].uid = e->uid;
	} else if (e->seq < its.rec[i].seq) {
		return e->retired ? PSA_SUCCESS : retire(slot_addr(s, k));
	} else if (e->seq == its.rec[i].seq) {   /* a collection's copy */
		if (quality(state) <= quality(its.st[i]))
			return PSA_SUCCESS;
	} else {
		st = retire(its.rec[i].loc);
		if (st != PSA_SUCCESS)
			return st;
	}
	its.rec[i].seq = e->seq;
	its.rec[i].loc = slot_addr(s, k);
	its.st[i] = state;
	return PSA_SUCCESS;
}

/* ---- mount -------------------------------------------------------------------------- */

/* Walk sector s's slots from its end until an empty one (or the data): each
 * valid entry is merged into the index if `merging`.  *used: the slots before
 * the stop; *hwm: the end of the data the valid entries name. */
static psa_status_t walk(uint32_t s, int merging, uint32_t *used, uint32_t *hwm)
{
	uint32_t k, dh = its.hlen;
	its_ent e;
	int what;
	psa_status_t st = PSA_SUCCESS;

	for (k = 0; (k + 1u) * its.esz <= its.ssz - its.hlen; k++) {
		if (its.ssz - (k + 1u) * its.esz < dh)
			break;
		st = slot_read(s, k, &e, &what);
		if (st != PSA_SUCCESS || what == SLOT_EMPTY)
			break;
		if (what != SLOT_VALID)
			continue;
		if (e.len > 0 && e.off + align_up(e.len) > dh)
			dh = e.off + align_up(e.len);
		if (e.seq >= its.next_seq)
			its.next_seq = e.seq + 1u;   /* seq < NONE: at most NONE */
		if (merging) {
			st = merge(s, k, &e);
			if (st != PSA_SUCCESS)
				break;
		}
	}
	*used = k;
	*hwm = dh;
	return st;
}

/* The active sector's first free data byte: past the valid entries' data and
 * past anything programmed below its entry slots (data of a write the power
 * cut before its entry), so no unit is programmed twice. */
static psa_status_t find_top(uint32_t s, uint32_t bottom, uint32_t hwm, uint32_t *top)
{
	uint8_t buf[PA_ITS_BUF];
	uint32_t end = bottom, n, i;
	psa_status_t st = PSA_SUCCESS;

	*top = hwm;
	while (end > hwm) {
		n = end - hwm < PA_ITS_BUF ? end - hwm : PA_ITS_BUF;
		st = fl_read(s * its.ssz + end - n, buf, n);
		if (st != PSA_SUCCESS)
			break;
		for (i = n; i > 0; i--)
			if (buf[i - 1u] != 0xffu)
				break;
		if (i > 0) {
			*top = align_up(end - n + i);
			break;
		}
		end -= n;
	}
	wipe(buf, sizeof(buf));
	return st;
}

static uint32_t free_sectors(void)
{
	uint32_t s, n = 0;

	for (s = 0; s < its.nsec; s++)
		if (its.sseq[s] == 0)
			n++;
	return n;
}

/* Whether free sector s reads blank (all 0xff): a sector collected before the
 * last power-off, ready for use.  A torn erase leaves either a prefix of the
 * sector erased or garbage, never all of it blank. */
static psa_status_t blank(uint32_t s, uint8_t *yes)
{
	uint8_t buf[PA_ITS_BUF];
	uint32_t off;
	psa_status_t st = PSA_SUCCESS;

	*yes = 1;
	for (off = 0; off < its.ssz && *yes && st == PSA_SUCCESS; off += PA_ITS_BUF) {
		st = fl_read(s * its.ssz + off, buf, PA_ITS_BUF);
		*yes = st == PSA_SUCCESS && all_ff(buf, PA_ITS_BUF);
	}
	return st;
}

/* Read every header and every entry into a fresh index. */
static psa_status_t scan(void)
{
	uint32_t s, used, hwm, max = 0;
	psa_status_t st = PSA_SUCCESS;

	its.n = 0;
	its.next_seq = 1;
	its.active = NONE;
	for (s = 0; s < its.nsec && st == PSA_SUCCESS; s++) {
		st = hdr_read(s, &its.sseq[s]);
		its.erased[s] = 0;
		if (st == PSA_SUCCESS && its.sseq[s] == 0)
			st = blank(s, &its.erased[s]);
		if (its.sseq[s] > max) {
			max = its.sseq[s];
			its.active = s;
		}
	}
	for (s = 0; s < its.nsec && st == PSA_SUCCESS; s++)
		if (its.sseq[s] != 0)
			st = walk(s, 1, &used, &hwm);
	its.next_sseq = max + 1u;   /* max < NONE (hdr_decode) */
	return st;
}

psa_status_t pa_its_mount(const pa_flash *fl)
{
	uint32_t used = 0, hwm = 0;
	psa_status_t st = PSA_ERROR_INVALID_ARGUMENT;

	memset(&its, 0, sizeof(its));
	if (fl == NULL || fl->read == NULL || fl->prog == NULL || fl->erase == NULL ||
	    fl->sectors < 2 || fl->sectors > PA_ITS_SECTORS_MAX || fl->sector_size < 512 ||
	    fl->sector_size > 65536 || (fl->sector_size & (fl->sector_size - 1u)) != 0 ||
	    fl->prog_size == 0 || fl->prog_size > 32 || (fl->prog_size & (fl->prog_size - 1u)) != 0)
		goto out;
	its.fl = fl;
	its.ssz = fl->sector_size;
	its.nsec = fl->sectors;
	its.psz = fl->prog_size;
	its.hcopy = align_up(HDR_LEN);
	its.hlen = 2u * its.hcopy;
	its.emain = align_up(ENT_LEN);
	its.eret = its.psz > 4u ? its.psz : 4u;
	its.esz = its.emain + its.eret;
	/* Every sector has a valid header only when a power cut interrupted a
	 * garbage collection: the newest sector then holds nothing but copies of
	 * records that are still in the oldest one.  Erase it and read again. */
	st = scan();
	if (st == PSA_SUCCESS && free_sectors() == 0) {
		st = fl_erase(its.active);
		if (st == PSA_SUCCESS)
			st = scan();
		if (st == PSA_SUCCESS && free_sectors() == 0)
			st = PSA_ERROR_STORAGE_FAILURE;   /* the erase did not erase */
	}
	if (st == PSA_SUCCESS && its.active != NONE) {
		st = walk(its.active, 0, &used, &hwm);
		its.slots = used;
		if (st == PSA_SUCCESS)
			st = find_top(its.active, its.ssz - used * its.esz, hwm, &its.data_top);
	}
	if (st == PSA_SUCCESS) {
		its.failed = 0;
		its.mounted = 1;
	}
out:
	if (st != PSA_SUCCESS)
		memset(&its, 0, sizeof(its));
	return st;
}

uint32_t pa_its_record_max(void)
{
	return its.mounted ? its.ssz - its.hlen - 3u * its.esz : 0;
}

void pa_its_get_stats(pa_its_stats *st)
{
	if (st != NULL)
		*st = its.stats;
}

psa_status_t pa_its_list(size_t i, psa_storage_uid_t *uid)
{
	size_t j;

	if (uid == NULL)
		return PSA_ERROR_INVALID_ARGUMENT;
	for (j = 0; j < its.n; j++) {
		if ((its.st[j] & ST_MASK) == ST_TOMB)
			continue;
		if (i-- == 0) {
			*uid = its.rec[j].uid;
			return PSA_SUCCESS;
		}
	}
	return PSA_ERROR_DOES_NOT_EXIST;
}

/* ---- writing ------------------------------------------------------------------------ */

/* Data from RAM: whole units straight from the caller's buffer, the last
 * partial unit padded with 0xff. */
static psa_status_t prog_ram(uint32_t addr, const uint8_t *src, uint32_t len)
{
	uint8_t b[32];
	uint32_t bulk = len & ~(its.psz - 1u);
	psa_status_t st = PSA_SUCCESS;

	if (bulk > 0)
		st = fl_prog(addr, src, bulk);
	if (st == PSA_SUCCESS && bulk < len) {
		memset(b, 0xff, sizeof(b));
		memcpy(b, src + bulk, len - bulk);
		st = fl_prog(addr + bulk, b, its.psz);
		wipe(b, sizeof(b));
	}
	return st;
}

/* Data from another place in flash (garbage collection), a buffer at a time. */
static psa_status_t prog_copy(uint32_t dst, uint32_t src, uint32_t len)
{
	uint8_t buf[PA_ITS_BUF];
	uint32_t pos = 0, n;
	psa_status_t st = PSA_SUCCESS;

	while (pos < len && st == PSA_SUCCESS) {
		n = len - pos < PA_ITS_BUF ? len - pos : PA_ITS_BUF;
		st = fl_read(src + pos, buf, n);
		if (st != PSA_SUCCESS) {
			its.failed = 1;
			break;
		}
		memset(buf + n, 0xff, align_up(n) - n);
		st = fl_prog(dst + pos, buf, align_up(n));
		pos += n;
	}
	wipe(buf, sizeof(buf));
	return st;
}

/* Room in the active sector for dlen bytes of data, its slot and the empty
 * slot every sector keeps below its entries; a record (not a tombstone) also
 * leaves room for one more slot, the tombstone of a later remove. */
static int fits(uint32_t dlen, int tombstone)
{
	uint32_t bottom;

	if (its.active == NONE)
		return 0;
	bottom = its.ssz - its.slots * its.esz;
	return bottom >= its.data_top &&
	       bottom - its.data_top >= dlen + (tombstone ? 2u : 3u) * its.esz;
}

/* Append a record to the active sector (fits() checked): its data (from RAM
 * src, or from flash at `from`), then its entry.  *loc: the entry's slot. */
static psa_status_t append(its_ent *e, const uint8_t *src, uint32_t from, uint32_t *loc)
{
	uint8_t b[SLOT_MAX];
	uint32_t s = its.active, base = s * its.ssz, k = its.slots;
	psa_status_t st = PSA_SUCCESS;

	e->off = e->len > 0 ? its.data_top : 0;
	if (e->len > 0)
		st = src != NULL ? prog_ram(base + e->off, src, e->len) :
		                   prog_copy(base + e->off, from, e->len);
	its.data_top += align_up(e->len);
	if (st != PSA_SUCCESS)
		return st;
	ent_encode(b, e, its.sseq[s], k);
	its.slots++;
	*loc = slot_addr(s, k);
	return fl_prog(*loc, b, its.emain);
}

/* Program the retire mark of the entry at loc, unless it already carries one. */
static psa_status_t retire(uint32_t loc)
{
	uint8_t b[32];
	psa_status_t st = fl_read(loc + its.emain, b, its.eret);

	if (st != PSA_SUCCESS) {
		its.failed = 1;
		return st;
	}
	if (!all_ff(b, its.eret))
		return PSA_SUCCESS;
	memset(b, 0, its.eret);
	return fl_prog(loc + its.emain, b, its.eret);
}

/* Garbage collection, step 2: copy index entry i's record (in the oldest
 * sector) into the active one.  A corrupt record is copied as "poison": an
 * empty entry of the same uid and sequence number, retired, which mount
 * reads as corrupt again, so the corruption is not forgotten. */
static psa_status_t copy_rec(size_t i)
{
	its_ent e;
	uint32_t src = its.rec[i].loc, s = sect_of(src), loc = 0;
	int what = SLOT_TORN, poison = (its.st[i] & ST_MASK) == ST_CORRUPT;
	psa_status_t st;

	if (!poison) {
		st = slot_read(s, slot_of(src), &e, &what);
		if (st != PSA_SUCCESS) {
			its.failed = 1;
			return st;
		}
		poison = what != SLOT_VALID || e.uid != its.rec[i].uid || e.seq != its.rec[i].seq ||
		         e.retired;
	}
	if (poison) {
		memset(&e, 0, sizeof(e));
		e.uid = its.rec[i].uid;
		e.seq = its.rec[i].seq;
		e.kind = KIND_DATA;
		e.flags = (its.st[i] & ST_WRITE_ONCE) != 0 ? PSA_STORAGE_FLAG_WRITE_ONCE : 0;
	}
	if (!fits(align_up(e.len), 0)) {
		its.failed = 1;   /* cannot happen: the records came from one sector */
		return PSA_ERROR_STORAGE_FAILURE;
	}
	st = append(&e, NULL, s * its.ssz + e.off, &loc);
	if (st == PSA_SUCCESS && poison)
		st = retire(loc);
	if (st != PSA_SUCCESS)
		return st;
	its.rec[i].loc = loc;
	if (poison)
		its.st[i] = (uint8_t)(ST_CORRUPT | ST_RETIRED | (its.st[i] & ST_WRITE_ONCE));
	its.stats.records_copied++;
	return PSA_SUCCESS;
}

/* Garbage collection of the oldest sector into the active one (just opened):
 * copy what is current in it (tombstones are dropped: every older record of
 * their uid is in this sector too), then erase it. */
static psa_status_t gc_oldest(void)
{
	uint32_t v = NONE, s;
	size_t i;
	psa_status_t st = PSA_SUCCESS;

	for (s = 0; s < its.nsec; s++)
		if (its.sseq[s] != 0 && s != its.active && (v == NONE || its.sseq[s] < its.sseq[v]))
			v = s;
	if (v == NONE) {
		its.failed = 1;
		return PSA_ERROR_STORAGE_FAILURE;
	}
	for (i = 0; i < its.n && st == PSA_SUCCESS; i++)
		if (sect_of(its.rec[i].loc) == v && (its.st[i] & ST_MASK) != ST_TOMB)
			st = copy_rec(i);
	if (st == PSA_SUCCESS)
		st = fl_erase(v);
	if (st != PSA_SUCCESS)
		return st;
	its.sseq[v] = 0;
	for (i = 0; i < its.n;) {
		if (sect_of(its.rec[i].loc) == v)
			idx_drop(i);
		else
			i++;
	}
	its.stats.gc_runs++;
	return PSA_SUCCESS;
}

/* Open the next free sector (in ring order after the active one, so erases
 * go round all sectors) and, if none is left free, collect the oldest.  The
 * sector is erased first unless it is known blank (collected sectors are
 * erased at once, so their old records do not linger). */
static psa_status_t advance(void)
{
	uint8_t b[32];
	uint32_t s = its.active == NONE ? 0 : (its.active + 1u) % its.nsec, i;
	psa_status_t st;

	for (i = 0; i < its.nsec && its.sseq[s] != 0; i++)
		s = (s + 1u) % its.nsec;
	if (its.sseq[s] != 0 || its.next_sseq == NONE) {
		its.failed = 1;
		return PSA_ERROR_STORAGE_FAILURE;
	}
	st = its.erased[s] ? PSA_SUCCESS : fl_erase(s);
	its.erased[s] = 0;
	hdr_encode(b, its.next_sseq);
	if (st == PSA_SUCCESS)
		st = fl_prog(s * its.ssz, b, its.hcopy);
	if (st == PSA_SUCCESS)
		st = fl_prog(s * its.ssz + its.hcopy, b, its.hcopy);
	if (st != PSA_SUCCESS)
		return st;
	its.sseq[s] = its.next_sseq++;
	its.active = s;
	its.data_top = its.hlen;
	its.slots = 0;
	return free_sectors() == 0 ? gc_oldest() : PSA_SUCCESS;
}

/* Bytes the index's current records take (data and slot each). */
static uint32_t live_bytes(void)
{
	its_ent e;
	uint32_t sum = 0;
	size_t i;
	int what;

	for (i = 0; i < its.n; i++) {
		if ((its.st[i] & ST_MASK) == ST_TOMB)
			continue;
		sum += its.esz;
		if (slot_read(sect_of(its.rec[i].loc), slot_of(its.rec[i].loc), &e, &what) ==
		        PSA_SUCCESS && what == SLOT_VALID)
			sum += align_up(e.len);
	}
	return sum;
}

/* Make room for a record of uid with dlen bytes of data, or for its
 * tombstone: an index entry if uid is new, and space in the active sector. */
static psa_status_t room(uint64_t uid, uint32_t dlen, int tombstone)
{
	uint32_t tries;
	psa_status_t st;

	/* a removed uid keeps its index entry until its sector is collected */
	for (tries = 0; idx_find(uid) == NOT_FOUND && its.n == PA_ITS_INDEX_MAX; tries++) {
		if (tries >= its.nsec || !has_tombstones())
			return PSA_ERROR_INSUFFICIENT_STORAGE;
		st = advance();
		if (st != PSA_SUCCESS)
			return st;
	}
	/* what cannot fit even after collecting everything: refused before any
	 * erase (every sector but the spare, less its header and two slots) */
	if (!tombstone &&
	    live_bytes() + dlen + its.esz > (its.nsec - 1u) * (its.ssz - its.hlen - 2u * its.esz))
		return PSA_ERROR_INSUFFICIENT_STORAGE;
	for (tries = 0; !fits(dlen, tombstone); tries++) {
		if (tries > its.nsec)
			return PSA_ERROR_INSUFFICIENT_STORAGE;   /* fragmentation */
		st = advance();
		if (st != PSA_SUCCESS)
			return st;
	}
	return PSA_SUCCESS;
}

static int usable(void)
{
	return its.mounted && !its.failed;
}

psa_status_t pa_its_log_set(uint64_t uid, const uint8_t *data, uint32_t len, uint32_t flags)
{
	its_ent e;
	uint32_t loc = 0, old = NONE;
	size_t i;
	psa_status_t st;

	if (!usable())
		return PSA_ERROR_STORAGE_FAILURE;
	if (len > pa_its_record_max())
		return PSA_ERROR_INSUFFICIENT_STORAGE;
	i = idx_find(uid);
	if (i != NOT_FOUND && (its.st[i] & ST_MASK) != ST_TOMB && (its.st[i] & ST_WRITE_ONCE) != 0)
		return PSA_ERROR_NOT_PERMITTED;
	st = room(uid, align_up(len), 0);
	if (st != PSA_SUCCESS)
		return st;
	if (its.next_seq == NONE) {
		its.failed = 1;
		return PSA_ERROR_STORAGE_FAILURE;   /* 2^32 - 2 writes: docs/flash-storage.md */
	}
	memset(&e, 0, sizeof(e));
	e.uid = uid;
	e.seq = its.next_seq;
	e.len = len;
	e.flags = flags;
	e.kind = KIND_DATA;
	e.dcrc = len > 0 ? pa_its_crc32(0, data, len) : 0;
	st = append(&e, data, 0, &loc);
	if (st != PSA_SUCCESS)
		return st;
	its.next_seq++;
	i = idx_find(uid);   /* room() may have collected a tombstone of uid */
	if (i == NOT_FOUND) {
		i = its.n++;
		its.rec[i].uid = uid;
	} else {
		old = its.rec[i].loc;
	}
	its.rec[i].seq = e.seq;
	its.rec[i].loc = loc;
	its.st[i] = (uint8_t)(ST_LIVE | ((flags & PSA_STORAGE_FLAG_WRITE_ONCE) != 0 ? ST_WRITE_ONCE : 0));
	return old != NONE ? retire(old) : PSA_SUCCESS;
}

psa_status_t pa_its_log_remove(uint64_t uid)
{
	its_ent e;
	uint32_t loc = 0, old;
	size_t i;
	psa_status_t st;

	if (!usable())
		return PSA_ERROR_STORAGE_FAILURE;
	i = idx_find(uid);
	if (i == NOT_FOUND || (its.st[i] & ST_MASK) == ST_TOMB)
		return PSA_ERROR_DOES_NOT_EXIST;
	if ((its.st[i] & ST_WRITE_ONCE) != 0)
		return PSA_ERROR_NOT_PERMITTED;
	st = room(uid, 0, 1);
	if (st != PSA_SUCCESS)
		return st;
	if (its.next_seq == NONE) {
		its.failed = 1;
		return PSA_ERROR_STORAGE_FAILURE;
	}
	memset(&e, 0, sizeof(e));
	e.uid = uid;
	e.seq = its.next_seq;
	e.kind = KIND_TOMB;
	st = append(&e, NULL, 0, &loc);
	if (st != PSA_SUCCESS)
		return st;
	its.next_seq++;
	i = idx_find(uid);   /* still there: only tombstones are dropped by a collection */
	old = its.rec[i].loc;
	its.rec[i].seq = e.seq;
	its.rec[i].loc = loc;
	its.st[i] = ST_TOMB;
	return retire(old);
}

/* ---- reading ------------------------------------------------------------------------ */

/* uid's current record, its entry re-read and checked against the index. */
static psa_status_t lookup(uint64_t uid, its_ent *e, uint32_t *base)
{
	size_t i;
	int what;
	psa_status_t st;

	if (!usable())
		return PSA_ERROR_STORAGE_FAILURE;
	i = idx_find(uid);
	if (i == NOT_FOUND || (its.st[i] & ST_MASK) == ST_TOMB)
		return PSA_ERROR_DOES_NOT_EXIST;
	if ((its.st[i] & ST_MASK) == ST_CORRUPT)
		return PSA_ERROR_DATA_CORRUPT;
	st = slot_read(sect_of(its.rec[i].loc), slot_of(its.rec[i].loc), e, &what);
	if (st != PSA_SUCCESS)
		return st;
	if (what != SLOT_VALID || e->uid != uid || e->seq != its.rec[i].seq || e->retired ||
	    e->kind != KIND_DATA)
		return PSA_ERROR_DATA_CORRUPT;
	*base = sect_of(its.rec[i].loc) * its.ssz;
	return PSA_SUCCESS;
}

psa_status_t pa_its_log_get(uint64_t uid, uint32_t off, uint32_t len, uint8_t *out)
{
	its_ent e;
	uint32_t base = 0, crc = 0;
	psa_status_t st = lookup(uid, &e, &base);

	if (st != PSA_SUCCESS)
		return st;
	if (off > e.len || len > e.len - off)
		return PSA_ERROR_INVALID_ARGUMENT;
	if (e.len > 0)
		st = data_scan(base + e.off, e.len, &crc, out, off, len);
	if (st == PSA_SUCCESS && crc != e.dcrc)
		st = PSA_ERROR_DATA_CORRUPT;
	if (st != PSA_SUCCESS && len > 0)
		wipe(out, len);   /* never hand out bytes that failed their check */
	return st;
}

psa_status_t pa_its_log_info(uint64_t uid, uint32_t *size, uint32_t *flags)
{
	its_ent e;
	uint32_t base = 0, crc = 0;
	psa_status_t st = lookup(uid, &e, &base);

	if (st == PSA_SUCCESS && e.len > 0)
		st = data_scan(base + e.off, e.len, &crc, NULL, 0, 0);
	if (st == PSA_SUCCESS && crc != e.dcrc)
		st = PSA_ERROR_DATA_CORRUPT;
	if (st != PSA_SUCCESS)
		return st;
	*size = e.len;
	*flags = e.flags;
	return PSA_SUCCESS;
}
