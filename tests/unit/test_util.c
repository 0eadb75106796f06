/*
 * test_util.c - prov/util.h: hex, device IDs, atomic file writes, bounded file
 * reads, ISO times and the PROV_NOW override.
 *
 * Data-driven where it fits: each table row is one case with its expectation.
 * File tests work in a fresh directory under $TMPDIR (or /tmp) and remove it.
 * The "unwritable directory" case needs a process that permissions apply to:
 * when run as root it forks and drops to uid/gid 65534 in the child.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "prov/util.h"

/* ---- temporary directory helpers ---------------------------------------------------- */

static char tmpdir[256];

static void make_tmpdir(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_util.XXXXXX",
	         base != NULL && *base != 0 ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		exit(2);
	}
}

static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

/* Number of directory entries other than . and .., and whether any is a leftover
 * temporary file ("*.tmp.*"). */
static int dir_count(const char *dir, int *temps)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	*temps = 0;
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n++;
		if (strstr(de->d_name, ".tmp.") != NULL)
			(*temps)++;
	}
	closedir(d);
	return n;
}

/* Remove a directory tree (only files and directories; what the tests make). */
static void rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char sub[1024];

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		path_in(sub, sizeof(sub), path, de->d_name);
		rm_rf(sub);
	}
	closedir(d);
	chmod(path, 0700);
	rmdir(path);
}

static int write_plain(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok = f != NULL && fwrite(p, 1, n, f) == n;

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	return ok ? 0 : -1;
}

/* ---- hex ------------------------------------------------------------------------------ */

static const struct unhex_case {
	const char *in;
	size_t cap;
	int ok;
	const char *want; /* bytes, as a C string literal with escapes */
	size_t want_len;
} unhex_cases[] = {
	{"", 0, 1, "", 0},
	{"", 4, 1, "", 0},
	{"00", 1, 1, "\x00", 1},
	{"ff", 1, 1, "\xff", 1},
	{"FF", 1, 1, "\xff", 1},
	{"aB", 1, 1, "\xab", 1},
	{"0123456789abcdef", 8, 1, "\x01\x23\x45\x67\x89\xab\xcd\xef", 8},
	{"0123456789ABCDEF", 8, 1, "\x01\x23\x45\x67\x89\xab\xcd\xef", 8},
	{"DeAdBeEf", 4, 1, "\xde\xad\xbe\xef", 4},
	/* odd length */
	{"0", 4, 0, NULL, 0},
	{"abc", 4, 0, NULL, 0},
	/* bad characters, in either nibble and at the end */
	{"0g", 4, 0, NULL, 0},
	{"g0", 4, 0, NULL, 0},
	{"00zz", 4, 0, NULL, 0},
	{"0x00", 4, 0, NULL, 0},
	{" 0", 4, 0, NULL, 0},
	{"00 ", 4, 0, NULL, 0},
	{"0-", 4, 0, NULL, 0},
	{"\xc3\xa9", 4, 0, NULL, 0},
	{"0:", 4, 0, NULL, 0},
	{"@0", 4, 0, NULL, 0},
	{"G0", 4, 0, NULL, 0},
	{"/0", 4, 0, NULL, 0},
	/* capacity: exactly enough, one short, none */
	{"0011", 2, 1, "\x00\x11", 2},
	{"0011", 1, 0, NULL, 0},
	{"00", 0, 0, NULL, 0},
	{"00112233445566778899", 9, 0, NULL, 0},
};

static void test_unhex(void)
{
	for (size_t i = 0; i < sizeof(unhex_cases) / sizeof(unhex_cases[0]); i++) {
		const struct unhex_case *c = &unhex_cases[i];
		uint8_t out[16];
		size_t n = 999;
		int r;

		/* out is bigger than cap: a write past cap would go unnoticed by ASan, so
		 * check the guard bytes too. */
		memset(out, 0xA5, sizeof(out));
		r = prov_unhex(c->in, out, c->cap, &n);
		if (c->ok) {
			CHECK_MSG(r == 0, "unhex(\"%s\", cap %zu) = %d, want 0", c->in, c->cap, r);
			if (r == 0)
				CHECK_EQ_HEX(out, n, (const uint8_t *)c->want, c->want_len);
		} else {
			CHECK_MSG(r == -1, "unhex(\"%s\", cap %zu) = %d, want -1", c->in, c->cap, r);
		}
		for (size_t k = c->cap; k < sizeof(out); k++)
			if (out[k] != 0xA5) {
				CHECK_MSG(0, "unhex(\"%s\", cap %zu) wrote out[%zu]", c->in, c->cap, k);
				break;
			}
	}
}

static void test_hex_round_trip(void)
{
	uint8_t all[256], back[256], rnd[97];
	char hex[2 * 256 + 1], upper[2 * 256 + 1];
	size_t n = 0;

	for (int i = 0; i < 256; i++)
		all[i] = (uint8_t)i;
	CHECK(prov_hex(all, sizeof(all), hex) == hex);
	CHECK(strlen(hex) == 512);
	CHECK(strncmp(hex, "000102030405060708090a0b0c0d0e0f10", 34) == 0);
	CHECK(strcmp(hex + 500, "fafbfcfdfeff") == 0);
	CHECK(prov_unhex(hex, back, sizeof(back), &n) == 0);
	CHECK_EQ_HEX(back, n, all, sizeof(all));

	/* Upper case reads back the same. */
	for (size_t i = 0; hex[i] != 0; i++)
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 32 : hex[i]);
	upper[512] = 0;
	memset(back, 0, sizeof(back));
	CHECK(prov_unhex(upper, back, sizeof(back), &n) == 0);
	CHECK_EQ_HEX(back, n, all, sizeof(all));

	/* Every length 0..97 of random bytes; the output is always lower case. */
	CHECK(prov_random(rnd, sizeof(rnd), 0, NULL) == PROV_OK);
	for (size_t len = 0; len <= sizeof(rnd); len++) {
		int lower = 1;

		prov_hex(rnd, len, hex);
		for (size_t i = 0; hex[i] != 0; i++)
			if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
				lower = 0;
		CHECK_MSG(strlen(hex) == 2 * len && lower, "prov_hex length %zu: \"%s\"", len, hex);
		CHECK_MSG(prov_unhex(hex, back, len, &n) == 0 && n == len &&
		          memcmp(back, rnd, len) == 0, "round trip of %zu bytes", len);
	}
}

/* ---- device IDs ----------------------------------------------------------------------- */

static const struct {
	const char *id;
	int valid;
} id_cases[] = {
	{"a", 1},
	{"Z", 1},
	{"0", 1},
	{"dev-1", 1},
	{"DEV_01", 1},
	{"sensor.kitchen:3", 1},
	{"a-._:", 1},
	{"9..", 1},
	{"00:11:22:33:44:55", 1},
	{"", 0},
	{"-dev", 0},
	{".dev", 0},
	{"_dev", 0},
	{":dev", 0},
	{"dev/1", 0},
	{"/dev", 0},
	{"../etc", 0},
	{"dev 1", 0},
	{" dev", 0},
	{"dev ", 0},
	{"dev\t1", 0},
	{"dev\n", 0},
	{"dev\\1", 0},
	{"dev$1", 0},
	{"dev@x", 0},
	{"dev,O=x", 0},
	{"dev=1", 0},
	{"dev{id}", 0},
	{"dev\x7f", 0},
	{"d\xc3\xa9v", 0},        /* UTF-8 e-acute */
	{"\xc3\xa9", 0},
	{"\xce\xa9mega", 0},      /* UTF-8 capital omega first */
	{"dev\xef\xbc\x8d" "1", 0}, /* UTF-8 fullwidth hyphen-minus */
};

static void test_device_id(void)
{
	char id64[65], id65[66], id64dash[65];

	for (size_t i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++)
		CHECK_MSG(prov_device_id_valid(id_cases[i].id) == id_cases[i].valid,
		          "prov_device_id_valid(\"%s\") != %d", id_cases[i].id, id_cases[i].valid);

	memset(id64, 'a', 64);
	id64[64] = 0;
	memset(id65, 'a', 65);
	id65[65] = 0;
	memset(id64dash, '-', 64);
	id64dash[0] = '7';
	id64dash[64] = 0;
	CHECK_MSG(prov_device_id_valid(id64) == 1, "64 characters must be valid");
	CHECK_MSG(prov_device_id_valid(id64dash) == 1, "64 characters, first a digit");
	CHECK_MSG(prov_device_id_valid(id65) == 0, "65 characters must be invalid");
}

/* ---- atomic writes --------------------------------------------------------------------- */

static void test_file_write_modes(void)
{
	static const mode_t modes[] = {0600, 0644, 0400, 0640, 0666};
	char dir[512], p[600];
	struct stat sb;
	prov_err e;
	int temps;
	mode_t old = umask(022);

	path_in(dir, sizeof(dir), tmpdir, "modes");
	CHECK(mkdir(dir, 0700) == 0);
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		uint8_t *buf = NULL;
		size_t len = 0;
		char name[32];

		snprintf(name, sizeof(name), "f%04o", (unsigned)modes[i]);
		path_in(p, sizeof(p), dir, name);
		CHECK(prov_file_write(p, "hello", 5, modes[i], 1, &e) == PROV_OK);
		/* The final mode is exactly `mode`, whatever the umask. */
		CHECK_MSG(stat(p, &sb) == 0 && (sb.st_mode & 07777) == modes[i],
		          "%s: mode %04o, want %04o", p, (unsigned)(sb.st_mode & 07777),
		          (unsigned)modes[i]);
		CHECK(prov_file_read(p, 100, &buf, &len, &e) == PROV_OK && len == 5 &&
		      memcmp(buf, "hello", 5) == 0);
		free(buf);
	}
	/* An empty file is a file. */
	path_in(p, sizeof(p), dir, "empty");
	CHECK(prov_file_write(p, "", 0, 0600, 0, &e) == PROV_OK);
	CHECK(stat(p, &sb) == 0 && sb.st_size == 0);
	CHECK_MSG(dir_count(dir, &temps) == 6 && temps == 0, "leftover files in %s", dir);
	/* The nosync variant too. */
	path_in(p, sizeof(p), dir, "nosync");
	CHECK(prov_file_write_nosync(p, "x", 1, 0640, &e) == PROV_OK);
	CHECK(stat(p, &sb) == 0 && (sb.st_mode & 07777) == 0640 && sb.st_size == 1);
	CHECK(prov_dir_sync(dir, &e) == PROV_OK);
	umask(old);
}

static void test_file_write_replace(void)
{
	char dir[512], p[600], got[64];
	struct stat before, after;
	prov_err e;
	int fd, temps;
	ssize_t r;

	path_in(dir, sizeof(dir), tmpdir, "replace");
	CHECK(mkdir(dir, 0700) == 0);
	path_in(p, sizeof(p), dir, "target");
	CHECK(prov_file_write(p, "old contents", 12, 0600, 0, &e) == PROV_OK);
	CHECK(stat(p, &before) == 0);
	fd = open(p, O_RDONLY);
	CHECK(fd >= 0);

	/* Replacing is a rename of a new file: a reader that had the old file open
	 * still sees the old bytes, never a truncated or half-written file. */
	CHECK(prov_file_write(p, "new", 3, 0644, 0, &e) == PROV_OK);
	CHECK(stat(p, &after) == 0);
	CHECK_MSG(before.st_ino != after.st_ino, "replaced in place (same inode)");
	CHECK((after.st_mode & 07777) == 0644 && after.st_size == 3);
	r = fd >= 0 ? read(fd, got, sizeof(got)) : -1;
	CHECK(r == 12 && memcmp(got, "old contents", 12) == 0);
	if (fd >= 0)
		close(fd);

	/* Exclusive: refuses an existing file and leaves it as it was. */
	memset(&e, 0, sizeof(e));
	CHECK(prov_file_write(p, "clobber!", 8, 0600, 1, &e) == PROV_E_EXISTS);
	CHECK(e.code == PROV_E_EXISTS && strstr(e.msg, p) != NULL);
	CHECK(stat(p, &after) == 0 && (after.st_mode & 07777) == 0644 && after.st_size == 3);
	fd = open(p, O_RDONLY);
	r = fd >= 0 ? read(fd, got, sizeof(got)) : -1;
	CHECK(r == 3 && memcmp(got, "new", 3) == 0);
	if (fd >= 0)
		close(fd);
	CHECK_MSG(dir_count(dir, &temps) == 1 && temps == 0, "leftover files in %s", dir);

	/* Exclusive on a path that is a symlink (even a dangling one) also refuses. */
	{
		char link_path[600], dangling[600];

		path_in(link_path, sizeof(link_path), dir, "link");
		path_in(dangling, sizeof(dangling), dir, "nowhere");
		CHECK(symlink(dangling, link_path) == 0);
		CHECK(prov_file_write(link_path, "x", 1, 0600, 1, &e) == PROV_E_EXISTS);
		CHECK(access(dangling, F_OK) != 0);
		unlink(link_path);
	}
}

/* prov_file_write into a directory the process cannot write: PROV_E_IO, nothing
 * left behind.  Returns the status (in a child when root). */
static int write_unwritable(const char *dir)
{
	char p[600];
	prov_err e;

	path_in(p, sizeof(p), dir, "f");
	return (int)prov_file_write(p, "data", 4, 0600, 0, &e);
}

static void test_file_write_failures(void)
{
	char dir[512], p[600], sub[600];
	prov_err e;
	int temps, st = -1;

	/* A directory we cannot write to. */
	path_in(dir, sizeof(dir), tmpdir, "ro");
	CHECK(mkdir(dir, 0755) == 0);
	CHECK(chmod(tmpdir, 0755) == 0);
	CHECK(chmod(dir, 0555) == 0);
	if (geteuid() == 0) {
		pid_t pid = fork();

		if (pid == 0) {
			if (setgid(65534) != 0 || setuid(65534) != 0)
				_exit(100);
			_exit(write_unwritable(dir));
		}
		if (pid > 0) {
			int ws = 0;

			waitpid(pid, &ws, 0);
			st = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
		}
		CHECK_MSG(st != 100, "cannot drop privileges to test an unwritable directory");
	} else {
		st = write_unwritable(dir);
	}
	CHECK_MSG(st == PROV_E_IO, "write into read-only directory: status %d, want %d", st,
	          PROV_E_IO);
	CHECK_MSG(dir_count(dir, &temps) == 0, "read-only directory not left empty");
	chmod(dir, 0700);
	chmod(tmpdir, 0700);

	/* A directory that does not exist. */
	path_in(p, sizeof(p), tmpdir, "no/such/dir/f");
	memset(&e, 0, sizeof(e));
	CHECK(prov_file_write(p, "data", 4, 0600, 0, &e) == PROV_E_IO);
	CHECK(e.code == PROV_E_IO && strstr(e.msg, p) != NULL);

	/* The temporary file is made but the rename fails (the target is a
	 * directory): PROV_E_IO and the temporary file is removed. */
	path_in(dir, sizeof(dir), tmpdir, "isdir");
	CHECK(mkdir(dir, 0700) == 0);
	path_in(sub, sizeof(sub), dir, "target");
	CHECK(mkdir(sub, 0700) == 0);
	CHECK(prov_file_write(sub, "data", 4, 0600, 0, &e) == PROV_E_IO);
	CHECK_MSG(dir_count(dir, &temps) == 1 && temps == 0, "temporary file left in %s", dir);
	/* Exclusive onto an existing directory: exists, nothing left. */
	CHECK(prov_file_write(sub, "data", 4, 0600, 1, &e) == PROV_E_EXISTS);
	CHECK_MSG(dir_count(dir, &temps) == 1 && temps == 0, "temporary file left in %s", dir);
}

/* ---- bounded reads ---------------------------------------------------------------------- */

static void test_file_read(void)
{
	/* Accept a file iff size <= max ("at most max bytes"), at and around the
	 * reader's 4096-byte growth steps. */
	static const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 8191, 8192, 8193, 10000};
	static const size_t maxes[] = {0, 100, 4095, 4096, 4097, 8192, 10000};
	char p[600];
	uint8_t *data = malloc(10000), *buf = NULL;
	size_t len = 0;
	prov_err e;
	int cases = 0;

	CHECK(data != NULL);
	if (data == NULL)
		return;
	for (size_t i = 0; i < 10000; i++)
		data[i] = (uint8_t)(i * 7 + 3);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		char name[32];

		snprintf(name, sizeof(name), "read-%zu", sizes[s]);
		path_in(p, sizeof(p), tmpdir, name);
		CHECK(write_plain(p, data, sizes[s]) == 0);
		for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
			prov_status st;

			buf = (uint8_t *)"sentinel";
			len = 12345;
			memset(&e, 0, sizeof(e));
			st = prov_file_read(p, maxes[m], &buf, &len, &e);
			cases++;
			if (sizes[s] <= maxes[m]) {
				CHECK_MSG(st == PROV_OK && len == sizes[s] &&
				          memcmp(buf, data, sizes[s]) == 0 && buf[len] == 0,
				          "read %zu-byte file with max %zu: status %d \"%s\"", sizes[s],
				          maxes[m], st, st == PROV_OK ? "" : e.msg);
			} else {
				CHECK_MSG(st == PROV_E_INPUT && e.code == PROV_E_INPUT && buf == NULL &&
				          len == 0, "read %zu-byte file with max %zu: status %d, want input",
				          sizes[s], maxes[m], st);
			}
			if (st == PROV_OK)
				free(buf);
		}
		unlink(p);
	}
	printf("util: %d file size/limit cases\n", cases);
	free(data);

	/* Missing file. */
	path_in(p, sizeof(p), tmpdir, "missing");
	memset(&e, 0, sizeof(e));
	CHECK(prov_file_read(p, 100, &buf, &len, &e) == PROV_E_NOTFOUND);
	CHECK(e.code == PROV_E_NOTFOUND && strstr(e.msg, p) != NULL && buf == NULL);
	CHECK(prov_file_read(p, 100, &buf, &len, NULL) == PROV_E_NOTFOUND);

	/* A directory is not a readable file. */
	CHECK(prov_file_read(tmpdir, 100, &buf, &len, &e) == PROV_E_IO);
	CHECK(buf == NULL);
}

/* ---- time ------------------------------------------------------------------------------- */

static const struct {
	int64_t t;
	const char *iso;
} time_cases[] = {
	{0, "1970-01-01T00:00:00Z"},
	{1, "1970-01-01T00:00:01Z"},
	{-1, "1969-12-31T23:59:59Z"},
	{951782400, "2000-02-29T00:00:00Z"},
	{1767225600, "2026-01-01T00:00:00Z"},
	{2147483647, "2038-01-19T03:14:07Z"},
	{2147483648LL, "2038-01-19T03:14:08Z"},
	{4102444799LL, "2099-12-31T23:59:59Z"},
	{253402300799LL, "9999-12-31T23:59:59Z"},
};

static void test_time(void)
{
	char out[32];
	int64_t now;

	for (size_t i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
		memset(out, 'x', sizeof(out));
		CHECK(prov_time_iso(time_cases[i].t, out) == out);
		CHECK_MSG(strcmp(out, time_cases[i].iso) == 0, "prov_time_iso(%lld) = \"%.21s\", want \"%s\"",
		          (long long)time_cases[i].t, out, time_cases[i].iso);
	}

	/* PROV_NOW overrides the clock when it is a positive decimal number. */
	setenv("PROV_NOW", "1767225600", 1);
	CHECK(prov_now() == 1767225600);
	setenv("PROV_NOW", "1", 1);
	CHECK(prov_now() == 1);
	{
		static const char *const ignored[] = {"", "0", "-5", "abc", "123x", "1.5", "5 "};

		for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
			time_t lo, hi;

			setenv("PROV_NOW", ignored[i], 1);
			lo = time(NULL);
			now = prov_now();
			hi = time(NULL);
			CHECK_MSG(now >= lo && now <= hi, "PROV_NOW=\"%s\" gave %lld", ignored[i],
			          (long long)now);
		}
	}
	unsetenv("PROV_NOW");
	{
		time_t lo = time(NULL);

		now = prov_now();
		CHECK(now >= lo && now <= time(NULL));
	}
}

/* ---- misc -------------------------------------------------------------------------------- */

static void test_random_wipe(void)
{
	uint8_t a[32], b[32], z[32] = {0};

	CHECK(prov_random(a, sizeof(a), 1, NULL) == PROV_OK);
	CHECK(prov_random(b, sizeof(b), 0, NULL) == PROV_OK);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK(memcmp(a, z, sizeof(a)) != 0);
	prov_wipe(a, sizeof(a));
	CHECK(memcmp(a, z, sizeof(a)) == 0);
	prov_wipe(NULL, 10); /* allowed */
}

static void test_stream_write(void)
{
	FILE *f = fopen("/dev/full", "w");
	prov_err e;

	/* A full device: the short write is reported, not swallowed. */
	if (f != NULL) {
		CHECK(prov_stream_write(f, "abc", 3, "output", &e) == PROV_E_IO);
		CHECK(strstr(e.msg, "output") != NULL);
		fclose(f);
	}
	f = tmpfile();
	CHECK(f != NULL);
	if (f != NULL) {
		char got[8] = {0};

		CHECK(prov_stream_write(f, "abc", 3, "tmp", &e) == PROV_OK);
		rewind(f);
		CHECK(fread(got, 1, sizeof(got), f) == 3 && strcmp(got, "abc") == 0);
		fclose(f);
	}
}

int main(void)
{
	make_tmpdir();
	test_unhex();
	test_hex_round_trip();
	test_device_id();
	test_file_write_modes();
	test_file_write_replace();
	test_file_write_failures();
	test_file_read();
	test_time();
	test_random_wipe();
	test_stream_write();
	rm_rf(tmpdir);
	return check_done("test_util");
}
