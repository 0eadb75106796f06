/* util.c - file, hex and memory helpers (see prov/util.h). */
#define _GNU_SOURCE /* syncfs */
#include "prov/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Files read here may hold secrets (the kek file, private keys): they are read
 * with read(2), never through a stdio buffer that would be freed unwiped, and a
 * buffer outgrown is wiped before it is freed. */
prov_status prov_file_read(const char *path, size_t max, uint8_t **buf, size_t *len,
                           prov_err *e)
{
	int fd = -1;
	uint8_t *b = NULL;
	size_t n = 0, cap = 4096;
	prov_status st = PROV_E_INTERNAL;

	*buf = NULL;
	*len = 0;
	do
		fd = open(path, O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		st = prov_err_set(e, errno == ENOENT ? PROV_E_NOTFOUND : PROV_E_IO,
		                  "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if (cap > max)
		cap = max;
	b = malloc(cap + 1);
	if (b == NULL)
		goto oom;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			uint8_t *nb, probe;

			if (cap >= max) {
				/* Full at the limit: only more data makes it too large. */
				do
					r = read(fd, &probe, 1);
				while (r < 0 && errno == EINTR);
				if (r == 0)
					break;
				if (r < 0)
					goto io;
				st = prov_err_set(e, PROV_E_INPUT, "%s: larger than %zu bytes", path, max);
				goto out;
			}
			cap = cap * 2 > max ? max : cap * 2;
			nb = malloc(cap + 1);
			if (nb == NULL)
				goto oom;
			memcpy(nb, b, n);
			prov_wipe(b, n);
			free(b);
			b = nb;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto io;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	b[n] = 0;
	*buf = b;
	*len = n;
	b = NULL;
	st = PROV_OK;
	goto out;
io:
	st = prov_err_set(e, PROV_E_IO, "cannot read %s: %s", path, strerror(errno));
	goto out;
oom:
	st = prov_err_set(e, PROV_E_INTERNAL, "out of memory reading %s", path);
out:
	if (b != NULL) {
		prov_wipe(b, n);
		free(b);
	}
	if (fd >= 0)
		close(fd);
	return st;
}

static prov_status file_write(const char *path, const void *data, size_t len, mode_t mode,
                              int exclusive, int sync, prov_err *e)
{
	char *tmp = NULL;
	int fd = -1;
	prov_status st = PROV_E_INTERNAL;
	const uint8_t *p = data;
	size_t left = len;
	size_t n = strlen(path) + 32;

	tmp = malloc(n);
	if (tmp == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	snprintf(tmp, n, "%s.tmp.XXXXXX", path);
	if (exclusive && access(path, F_OK) == 0) {
		st = prov_err_set(e, PROV_E_EXISTS, "cannot write %s: file exists", path);
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		st = prov_err_set(e, PROV_E_IO, "cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	if (fchmod(fd, mode) != 0)
		goto io;
	while (left > 0) {
		ssize_t w = write(fd, p, left);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			goto io;
		}
		p += w;
		left -= (size_t)w;
	}
	if (sync && fsync(fd) != 0)
		goto io;
	if (close(fd) != 0) {
		fd = -1;
		goto io;
	}
	fd = -1;
	if (exclusive) {
		/* link() fails if the target appeared meanwhile: no overwrite race. */
		if (link(tmp, path) != 0) {
			st = prov_err_set(e, errno == EEXIST ? PROV_E_EXISTS : PROV_E_IO,
			                  "cannot write %s: %s", path, strerror(errno));
			goto out;
		}
		unlink(tmp);
	} else if (rename(tmp, path) != 0) {
		goto io;
	}
	free(tmp);
	return PROV_OK;
io:
	st = prov_err_set(e, PROV_E_IO, "cannot write %s: %s", path, strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	return st;
}

prov_status prov_stream_write(void *fp, const void *data, size_t len, const char *what,
                              prov_err *e)
{
	FILE *f = fp;

	if ((len > 0 && fwrite(data, 1, len, f) != len) || fflush(f) != 0 || ferror(f))
		return prov_err_set(e, PROV_E_IO, "cannot write %s: %s", what,
		                    errno != 0 ? strerror(errno) : "short write");
	return PROV_OK;
}

prov_status prov_file_write(const char *path, const void *data, size_t len, mode_t mode,
                            int exclusive, prov_err *e)
{
	return file_write(path, data, len, mode, exclusive, 1, e);
}

prov_status prov_file_write_nosync(const char *path, const void *data, size_t len, mode_t mode,
                                   prov_err *e)
{
	return file_write(path, data, len, mode, 0, 0, e);
}

prov_status prov_dir_sync(const char *dir, prov_err *e)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	int ok = fd >= 0 && syncfs(fd) == 0 && fsync(fd) == 0;
	prov_status st = ok ? PROV_OK
	                    : prov_err_set(e, PROV_E_IO, "cannot flush %s: %s", dir, strerror(errno));

	if (fd >= 0)
		close(fd);
	return st;
}

char *prov_hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
	return out;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int prov_unhex(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	size_t l = strlen(s);

	if (l % 2 != 0 || l / 2 > cap)
		return -1;
	for (size_t i = 0; i < l / 2; i++) {
		int h = hexval((unsigned char)s[2 * i]), lo = hexval((unsigned char)s[2 * i + 1]);

		if (h < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(h << 4 | lo);
	}
	*n = l / 2;
	return 0;
}

prov_status prov_random(uint8_t *p, size_t n, int secret, prov_err *e)
{
	int ok = secret ? RAND_priv_bytes(p, (int)n) : RAND_bytes(p, (int)n);

	if (ok != 1)
		return prov_err_ssl(e, PROV_E_CRYPTO, "random generator failed");
	return PROV_OK;
}

void prov_wipe(void *p, size_t n)
{
	if (p != NULL)
		OPENSSL_cleanse(p, n);
}

char *prov_time_iso(int64_t t, char *out)
{
	struct tm tm;
	time_t tt = (time_t)t;

	/* Years 1000..9999 only: four digits; beyond, gmtime fails or strftime
	 * overflows the 21 bytes, and a wrong date must never be shown: the number. */
	if (t < PROV_TIME_ISO_MIN || t > PROV_TIME_ISO_MAX || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 21, "%lld", (long long)t);
	return out;
}

int64_t prov_now(void)
{
	const char *s = getenv("PROV_NOW");

	if (s != NULL && *s != 0) {
		char *end;
		long long v = strtoll(s, &end, 10);

		if (*end == 0 && v > 0)
			return v;
	}
	return (int64_t)time(NULL);
}

int prov_device_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)id[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != ':' && c != '-')))
			return 0;
	}
	return 1;
}
