/*
 * pa_its.h - PSA Internal Trusted Storage on a NOR flash: a log-structured
 * record store (firmware-agent/its/, format and proofs in
 * docs/flash-storage.md).
 *
 * On a Cortex-M without a secure partition this is where PSA's persistent
 * keys (uid = key ID) and the agent's own records (through the pa_port
 * functions below) live.  A board calls pa_its_mount once at start with its
 * flash driver (pa_flash.h); from then on psa_its_get/set/remove/get_info
 * (its/psa/internal_trusted_storage.h) work on that flash, and Mbed TLS built
 * without MBEDTLS_PSA_ITS_FILE_C links them for its key storage.
 *
 * Promises:
 * - Each set or remove is atomic across a power cut at any flash operation
 *   (the program or erase in flight may be torn): afterwards the record reads
 *   back as its old or its new value, never a mix and never lost; a record
 *   whose stored bytes fail their checksum is reported PSA_ERROR_DATA_CORRUPT,
 *   never returned.  The checksums (CRC-32) catch torn writes and decayed
 *   bits; they are not a MAC and do not protect against someone who can
 *   rewrite the flash.
 * - pa_its_mount recovers from any interrupted operation (a set, a garbage
 *   collection, an erase) and is itself safe to cut: its only writes are the
 *   erase of a half-filled sector and retire marks a cut left out, which the
 *   next mount redoes if they are cut.
 * - No heap; RAM is this module's static state (the index below, a few
 *   counters) plus stack buffers of PA_ITS_BUF bytes; never a sector in RAM.
 * - One store per image (the PSA ITS API has no context argument); not
 *   thread-safe.  The flash driver is borrowed and must outlive the store.
 */
#ifndef PA_ITS_H
#define PA_ITS_H

#include <stddef.h>
#include <stdint.h>

#include "its/psa/internal_trusted_storage.h"
#include "pa/pa_flash.h"

/* Entries of the RAM index: one per distinct uid the flash holds (live,
 * corrupt, or removed but not yet garbage-collected).  16 bytes + 1 each.
 * The agent with mqtt-mtls sets uses under 20 (both generations, keygen keys
 * and records included); bundles with 16 entries
 * in both generations need about 110 (docs/flash-storage.md). */
#ifndef PA_ITS_INDEX_MAX
#define PA_ITS_INDEX_MAX 64
#endif

/* Most sectors a store may span (4 bytes of RAM each). */
#ifndef PA_ITS_SECTORS_MAX
#define PA_ITS_SECTORS_MAX 32
#endif

/* Stack buffer for reading and copying records, in bytes (a multiple of 32,
 * the largest program unit). */
#ifndef PA_ITS_BUF
#define PA_ITS_BUF 64
#endif

typedef struct pa_its_stats {
	uint32_t programs;          /* program operations since mount */
	uint32_t bytes_programmed;  /* bytes they programmed */
	uint32_t sectors_erased;    /* erase operations since mount */
	uint32_t gc_runs;           /* sectors garbage-collected */
	uint32_t records_copied;    /* records the collections moved */
} pa_its_stats;

/* Mount the store on fl: read every sector, rebuild the index, finish or
 * undo what a power cut interrupted.  Blank or garbage flash mounts as an
 * empty store (sectors are erased when first used).  Returns PSA_SUCCESS, or
 * PSA_ERROR_INVALID_ARGUMENT (geometry: fewer than 2 or more than
 * PA_ITS_SECTORS_MAX sectors, sector_size not a power of two from 512 to
 * 65536, prog_size not a power of two up to 32),
 * PSA_ERROR_INSUFFICIENT_MEMORY (more distinct uids on flash than
 * PA_ITS_INDEX_MAX) or PSA_ERROR_STORAGE_FAILURE (the driver failed).  May be
 * called again at any time (a remount); a failed mount leaves the store
 * unmounted. */
psa_status_t pa_its_mount(const pa_flash *fl);

/* Largest record the mounted geometry holds, in bytes: sector_size - 2 *
 * header copy - 3 * entry slot (docs/flash-storage.md; 3,944 for 4 KB sectors
 * programmed 8 bytes at a time).  Replacing a record needs room for both
 * copies at once, so on two sectors only records up to about half of that can
 * be replaced. */
uint32_t pa_its_record_max(void);

/* Counters since the last mount (flash wear, for benchmarks and tests). */
void pa_its_get_stats(pa_its_stats *st);

/* The i-th stored uid (i = 0, 1, ...; order unspecified, stable until the
 * next write): PSA_SUCCESS, or PSA_ERROR_DOES_NOT_EXIST past the last.
 * Lists every record a get would find or report corrupt. */
psa_status_t pa_its_list(size_t i, psa_storage_uid_t *uid);

/* CRC-32 (ISO-HDLC: the zlib/Ethernet one; crc32("123456789") = 0xcbf43926);
 * start with crc = 0 and chain. */
uint32_t pa_its_crc32(uint32_t crc, const void *p, size_t n);

/* The agent's storage over ITS: functions with the signatures of pa_port's
 * get, set and remove (pa_port.h; ctx is unused), for a board to put in its
 * pa_port beside its randomness and device ID. */
int pa_its_port_get(void *ctx, uint64_t uid, uint8_t *buf, size_t cap, size_t *len);
int pa_its_port_set(void *ctx, uint64_t uid, const uint8_t *buf, size_t len);
int pa_its_port_remove(void *ctx, uint64_t uid);

#endif
