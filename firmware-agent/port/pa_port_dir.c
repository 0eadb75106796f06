/*
 * pa_port_dir.c - directory-backed storage port (see pa_port_dir.h).
 */
#include "port/pa_port_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

static int path_of(const pa_dir_port *p, uint64_t uid, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/pa-%016" PRIx64 ".rec", p->dir, uid);

	return n > 0 && (size_t)n < cap ? 0 : -1;
}

static int dir_get(void *ctx, uint64_t uid, uint8_t *buf, size_t cap, size_t *len)
{
	const pa_dir_port *p = ctx;
	char path[600];
	struct stat sb;
	int fd, st = PA_PORT_IO;
	size_t got = 0;

	*len = 0;
	if (path_of(p, uid, path, sizeof(path)) != 0)
		return PA_PORT_IO;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? PA_PORT_NOT_FOUND : PA_PORT_IO;
	if (fstat(fd, &sb) != 0 || sb.st_size < 0)
		goto out;
	*len = (size_t)sb.st_size;
	if (buf == NULL && cap == 0) {
		st = PA_PORT_OK;
		goto out;
	}
	if ((size_t)sb.st_size > cap) {
		st = PA_PORT_TOO_BIG;
		goto out;
	}
	while (got < *len) {
		ssize_t r = read(fd, buf + got, *len - got);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			goto out;
		}
		got += (size_t)r;
	}
	st = PA_PORT_OK;
out:
	close(fd);
	return st;
}

static int dir_set(void *ctx, uint64_t uid, const uint8_t *buf, size_t len)
{
	const pa_dir_port *p = ctx;
	char path[600], tmp[620];
	size_t off = 0;
	int fd, ok = 0;

	if (path_of(p, uid, path, sizeof(path)) != 0 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return PA_PORT_IO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return PA_PORT_IO;
	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	ok = off == len && (p->no_sync || fsync(fd) == 0);
	if (close(fd) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return PA_PORT_IO;
	}
	return PA_PORT_OK;
}

static int dir_remove(void *ctx, uint64_t uid)
{
	const pa_dir_port *p = ctx;
	char path[600];

	if (path_of(p, uid, path, sizeof(path)) != 0)
		return PA_PORT_IO;
	if (unlink(path) != 0)
		return errno == ENOENT ? PA_PORT_NOT_FOUND : PA_PORT_IO;
	return PA_PORT_OK;
}

static int dir_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	while (len > 0) {
		ssize_t n = getrandom(buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return PA_PORT_IO;
		buf += n;
		len -= (size_t)n;
	}
	return PA_PORT_OK;
}

static int dir_device_id(void *ctx, char *buf, size_t cap, size_t *len)
{
	const pa_dir_port *p = ctx;
	char path[600];
	FILE *f;
	size_t n;

	*len = 0;
	if (snprintf(path, sizeof(path), "%s/device-id", p->dir) >= (int)sizeof(path))
		return PA_PORT_IO;
	f = fopen(path, "r");
	if (f == NULL)
		return errno == ENOENT ? PA_PORT_NOT_FOUND : PA_PORT_IO;
	n = fread(buf, 1, cap, f);
	fclose(f);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	*len = n;
	return PA_PORT_OK;
}

/* "pa-" 16 lowercase hex digits ".rec.tmp": what dir_set names a temporary */
static int is_temporary(const char *name)
{
	size_t i;

	if (strlen(name) != 27 || strncmp(name, "pa-", 3) != 0 || strcmp(name + 19, ".rec.tmp") != 0)
		return 0;
	for (i = 3; i < 19; i++)
		if (!strchr("0123456789abcdef", name[i]))
			return 0;
	return 1;
}

int pa_dir_port_sweep(const pa_dir_port *p)
{
	DIR *d = opendir(p->dir);
	struct dirent *e;
	char path[600];
	int n = 0;

	if (d == NULL)
		return -1;
	while (n >= 0 && (e = readdir(d)) != NULL) {
		if (!is_temporary(e->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", p->dir, e->d_name) >= (int)sizeof(path) ||
		    (unlink(path) != 0 && errno != ENOENT))
			n = -1;
		else
			n++;
	}
	closedir(d);
	return n;
}

const pa_port *pa_dir_port_init(pa_dir_port *p, const char *dir)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->dir, sizeof(p->dir), "%s", dir);
	p->port.ctx = p;
	p->port.get = dir_get;
	p->port.set = dir_set;
	p->port.remove = dir_remove;
	p->port.random = dir_random;
	p->port.device_id = dir_device_id;
	p->port.key_event = NULL;
	return &p->port;
}
