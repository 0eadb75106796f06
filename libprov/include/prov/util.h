/*
 * prov/util.h - small file, hex and memory helpers shared by libprov and prov.
 *
 * File writes are all-or-nothing: data goes to a temporary file in the target's
 * directory, is flushed and fsync'd, gets its final mode, and is renamed over the
 * target, so a reader never sees a partial file and a failure leaves no file.
 */
#ifndef PROV_UTIL_H
#define PROV_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "prov/err.h"

/* Read a whole file (at most max bytes) into a malloc'd buffer, NUL-terminated for
 * convenience (the NUL is not counted in *len).  Missing file -> PROV_E_NOTFOUND.
 * Unbuffered (read(2), no stdio), and every buffer it outgrows is wiped: fit for
 * key files, as long as the caller wipes *buf before freeing it too. */
prov_status prov_file_read(const char *path, size_t max, uint8_t **buf, size_t *len,
                           prov_err *e);

/* Atomically create or replace `path` with `len` bytes, final mode `mode`.  With
 * `exclusive`, fail with PROV_E_EXISTS if path exists. */
prov_status prov_file_write(const char *path, const void *data, size_t len, mode_t mode,
                            int exclusive, prov_err *e);

/* The same, without the per-file fsync: for many files in one directory, made
 * durable together by prov_dir_sync before the caller commits. */
prov_status prov_file_write_nosync(const char *path, const void *data, size_t len, mode_t mode,
                                   prov_err *e);
/* Flush every file written in dir's file system, and the directory itself. */
prov_status prov_dir_sync(const char *dir, prov_err *e);

/* Write all bytes to a stdio stream and flush; a short write -> PROV_E_IO. */
prov_status prov_stream_write(void *fp, const void *data, size_t len, const char *what,
                              prov_err *e);

/* Lower-case hex of n bytes into out (2n+1 bytes). Returns out. */
char *prov_hex(const uint8_t *p, size_t n, char *out);
/* Parse hex (even length, no separators) into out (cap bytes). -1 on bad input. */
int prov_unhex(const char *s, uint8_t *out, size_t cap, size_t *n);

/* Fill with CSPRNG bytes (OpenSSL RAND_priv_bytes for secrets). */
prov_status prov_random(uint8_t *p, size_t n, int secret, prov_err *e);

/* Zero memory that held secrets (not optimised away). */
void prov_wipe(void *p, size_t n);

/* "YYYY-MM-DDTHH:MM:SSZ" for a UNIX time; out must hold 21 bytes.  Outside
 * years 1000..9999 (PROV_TIME_ISO_MIN..MAX) the number of seconds in decimal,
 * never a wrong date. */
#define PROV_TIME_ISO_MIN (-30610224000LL) /* 1000-01-01T00:00:00Z */
#define PROV_TIME_ISO_MAX 253402300799LL   /* 9999-12-31T23:59:59Z */
char *prov_time_iso(int64_t t, char *out);

/* Current time; PROV_NOW (seconds since the epoch) overrides it for tests. */
int64_t prov_now(void);

/* Device IDs: 1..64 characters from [A-Za-z0-9._:-], starting with a letter or
 * digit.  They appear in file names, certificate subjects and PSK identities. */
int prov_device_id_valid(const char *id);

#endif
