/*
 * freescan.c - an LD_PRELOAD object that looks into every heap block a process
 * frees, for secrets that should have been wiped first.
 *
 *   FREESCAN_SECRETS=HEX[,HEX...]  secrets to look for: each as its raw bytes and
 *                                  as its hex text (lower and upper case), the
 *                                  forms prov holds a PSK or key in
 *   FREESCAN_SECRETS_FILE=FILE     the same list read from FILE (commas, spaces
 *                                  or newlines between): a secret kept out of
 *                                  the environment, which a program may copy
 *   FREESCAN_OUT=FILE              report file (appended; default stderr)
 *   FREESCAN_DUMP=FILE             also append every freed block to FILE as
 *                                  [8-byte little-endian size][bytes], to look
 *                                  for secrets that are only known afterwards
 *                                  (keys a command makes itself)
 *   FREESCAN_ABORT=N               abort() at the Nth hit (to find it in gdb)
 *
 * free(), realloc() and reallocarray() are wrapped (realloc's implicit free of a
 * moved block is a free too; glibc's reallocarray does not go through realloc).
 * The block's whole usable size (malloc_usable_size) is scanned, not only what
 * the caller asked for.  Report lines, no backtraces:
 *   freescan: hit secret=N form=raw|hex|HEX size=S offset=O
 *   freescan: pid=P blocks=B bytes=Y hits=H          (at exit)
 * The exit line shows the scanner ran: a test that sees it with hits=0 saw every
 * free of the process (until exit) and none held a secret.
 *
 * OPENSSL_clear_free and OPENSSL_secure_clear_free wipe before they call free(),
 * so what they release scans clean; OpenSSL's secure heap (when initialised) is
 * its own mmap'd arena and never reaches free() at all.
 *
 * The real allocator is reached through dlsym(RTLD_NEXT): glibc's, or an
 * AddressSanitizer runtime's when the program is built with it (then ASan must
 * accept not being first: ASAN_OPTIONS=verify_asan_link_order=0).  Nothing here
 * allocates: reports are formatted by hand and written with write(2).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_SECRETS 16
#define MAX_SECRET_LEN 256

struct needle {
	unsigned char raw[MAX_SECRET_LEN];
	char hex[2 * MAX_SECRET_LEN];
	char uhex[2 * MAX_SECRET_LEN];
	size_t len;
};

static struct needle needles[MAX_SECRETS];
static int n_needles;
static int out_fd = 2, dump_fd = -1;
static unsigned long n_blocks, n_bytes, n_hits;
static int ready;
static unsigned long abort_at;

static void (*real_free)(void *);
static void *(*real_malloc)(size_t);
static void *(*real_realloc)(void *, size_t);
static size_t (*real_usable)(void *);

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

static void put(char **p, const char *s)
{
	while (*s)
		*(*p)++ = *s++;
}

static void put_num(char **p, unsigned long v)
{
	char d[24];
	int n = 0;

	do
		d[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*(*p)++ = d[--n];
}

static void say(const char *line, size_t n)
{
	while (n > 0) {
		ssize_t w = write(out_fd, line, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		line += w;
		n -= (size_t)w;
	}
}

#define say_lit(s) say(s, sizeof(s) - 1)

static void report(int which, const char *form, size_t size, size_t off)
{
	char line[160], *p = line;

	put(&p, "freescan: hit secret=");
	put_num(&p, (unsigned long)which);
	put(&p, " form=");
	put(&p, form);
	put(&p, " size=");
	put_num(&p, size);
	put(&p, " offset=");
	put_num(&p, off);
	put(&p, "\n");
	say(line, (size_t)(p - line));
}

static void scan(void *ptr)
{
	size_t size;
	const unsigned char *b = ptr;

	if (ptr == NULL || !ready)
		return;
	size = real_usable(ptr);
	__atomic_add_fetch(&n_blocks, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&n_bytes, size, __ATOMIC_RELAXED);
	if (dump_fd >= 0) {
		/* One writev per block: O_APPEND keeps the threads' records whole. */
		unsigned char le[8];
		struct iovec iov[2] = {{le, sizeof(le)}, {ptr, size}};

		for (int i = 0; i < 8; i++)
			le[i] = (unsigned char)(size >> (8 * i));
		if (writev(dump_fd, iov, 2) != (ssize_t)(sizeof(le) + size))
			say_lit("freescan: short write to FREESCAN_DUMP\n");
	}
	for (int i = 0; i < n_needles; i++) {
		const struct needle *nd = &needles[i];
		const struct {
			const void *bytes;
			size_t len;
			const char *name;
		} forms[3] = {
			{nd->raw, nd->len, "raw"},
			{nd->hex, 2 * nd->len, "hex"},
			{nd->uhex, 2 * nd->len, "HEX"},
		};

		for (int f = 0; f < 3; f++) {
			const unsigned char *at = b, *hit;
			size_t left = size;

			while (left >= forms[f].len &&
			       (hit = memmem(at, left, forms[f].bytes, forms[f].len)) != NULL) {
				unsigned long nth = __atomic_add_fetch(&n_hits, 1, __ATOMIC_RELAXED);

				report(i, forms[f].name, size, (size_t)(hit - b));
				if (abort_at != 0 && nth == abort_at)
					abort();
				left -= (size_t)(hit - at) + 1;
				at = hit + 1;
			}
		}
	}
}

static void parse_secrets(const char *s)
{
	static const char d[] = "0123456789abcdef", ud[] = "0123456789ABCDEF";

	while (s != NULL && *s != 0 && n_needles < MAX_SECRETS) {
		struct needle *nd = &needles[n_needles];
		size_t n = 0;

		while (*s == ',' || *s == ' ' || *s == '\n')
			s++;
		while (hexval(s[0]) >= 0 && hexval(s[1]) >= 0 && n < MAX_SECRET_LEN) {
			nd->raw[n++] = (unsigned char)(hexval(s[0]) << 4 | hexval(s[1]));
			s += 2;
		}
		while (*s != 0 && *s != ',' && *s != ' ' && *s != '\n')
			s++; /* the rest of a malformed entry */
		if (n == 0)
			continue;
		nd->len = n;
		for (size_t i = 0; i < n; i++) {
			nd->hex[2 * i] = d[nd->raw[i] >> 4];
			nd->hex[2 * i + 1] = d[nd->raw[i] & 15];
			nd->uhex[2 * i] = ud[nd->raw[i] >> 4];
			nd->uhex[2 * i + 1] = ud[nd->raw[i] & 15];
		}
		n_needles++;
	}
}

/* The allocator after this object: glibc's, or an ASan runtime's.  dlsym may
 * allocate and free on the way; a free it makes meanwhile is skipped (leaked). */
static void resolve(void)
{
	static volatile int busy; /* re-entered through dlsym -> free */

	if (busy || real_usable != NULL)
		return;
	busy = 1;
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_usable = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
	busy = 0;
}

__attribute__((constructor)) static void freescan_init(void)
{
	const char *out = getenv("FREESCAN_OUT"), *dump = getenv("FREESCAN_DUMP");

	resolve();
	if (out != NULL && *out != 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		if (fd >= 0)
			out_fd = fd;
	}
	if (dump != NULL && *dump != 0)
		dump_fd = open(dump, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	parse_secrets(getenv("FREESCAN_SECRETS"));
	if (getenv("FREESCAN_SECRETS_FILE") != NULL) {
		static char text[MAX_SECRETS * (2 * MAX_SECRET_LEN + 2) + 1];
		int fd = open(getenv("FREESCAN_SECRETS_FILE"), O_RDONLY | O_CLOEXEC);
		size_t n = 0;
		ssize_t r;

		while (fd >= 0 && n < sizeof(text) - 1 &&
		       (r = read(fd, text + n, sizeof(text) - 1 - n)) != 0) {
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				break;
			n += (size_t)r;
		}
		if (fd >= 0)
			close(fd);
		text[n] = 0;
		parse_secrets(text);
	}
	if (getenv("FREESCAN_ABORT") != NULL)
		abort_at = strtoul(getenv("FREESCAN_ABORT"), NULL, 10);
	ready = real_free != NULL && real_malloc != NULL && real_realloc != NULL && real_usable != NULL;
	if (!ready)
		say_lit("freescan: cannot find the real allocator\n");
}

__attribute__((destructor)) static void freescan_fini(void)
{
	char line[160], *p = line;

	put(&p, "freescan: pid=");
	put_num(&p, (unsigned long)getpid());
	put(&p, " blocks=");
	put_num(&p, __atomic_load_n(&n_blocks, __ATOMIC_RELAXED));
	put(&p, " bytes=");
	put_num(&p, __atomic_load_n(&n_bytes, __ATOMIC_RELAXED));
	put(&p, " hits=");
	put_num(&p, __atomic_load_n(&n_hits, __ATOMIC_RELAXED));
	put(&p, ready ? "\n" : " (not ready)\n");
	say(line, (size_t)(p - line));
}

void free(void *ptr)
{
	if (ptr == NULL)
		return;
	if (real_free == NULL)
		resolve();
	if (real_free == NULL)
		return; /* inside dlsym, before the allocator is known */
	scan(ptr);
	real_free(ptr);
}

/* realloc as malloc + copy + (scanned) free, so a moved block is scanned whole;
 * a block that still fits is kept as it is. */
void *realloc(void *ptr, size_t n)
{
	void *q;
	size_t have;

	if (real_realloc == NULL)
		resolve();
	if (!ready) {
		extern void *__libc_realloc(void *, size_t);

		return real_realloc != NULL ? real_realloc(ptr, n) : __libc_realloc(ptr, n);
	}
	if (ptr == NULL)
		return real_malloc(n);
	if (n == 0) {
		free(ptr);
		return NULL;
	}
	have = real_usable(ptr);
	if (n <= have)
		return ptr;
	q = real_malloc(n);
	if (q == NULL)
		return NULL;
	memcpy(q, ptr, have);
	free(ptr);
	return q;
}

void *reallocarray(void *ptr, size_t nmemb, size_t size)
{
	size_t n;

	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(ptr, n);
}
