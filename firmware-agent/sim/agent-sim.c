/*
 * agent-sim - the provisioning agent built for the host, storage in a directory.
 *
 *   agent-sim --storage DIR --device-id ID --signer PEM [--signer PEM...] --init
 *   agent-sim --storage DIR --pubkey
 *   agent-sim --storage DIR --install FILE [--nonce HEX] [--receipt FILE]
 *   agent-sim --storage DIR --status [--json]
 *   agent-sim --storage DIR --pty | --serial PATH [--baud N]
 *   agent-sim --storage DIR --tls-connect HOST:PORT [--slot N] [--dtls] [--send TEXT]
 *             [--resume] [--timeout MS]
 *   agent-sim --storage DIR --key-proof FILE [--slot N]
 *
 * --pty makes a pseudo-terminal (raw), prints its path as the first line of
 * stdout and serves SMP (docs/serial-protocol.md) on it until SIGTERM/SIGINT;
 * --serial serves on an existing terminal device.  Like firmware it writes log
 * lines on the same line: a heartbeat every 250 ms and one per command.  The
 * host may close and reopen the terminal at any time.
 *
 * --tls-connect is the device's application (docs/tls.md): Mbed TLS configured
 * from one slot's installed credentials (PSA keys by reference) and the set's
 * TLS profile, connect, send TEXT and a newline, print the first line that comes
 * back, end with "handshake ok".  --key-proof signs SHA-256(FILE) with the slot's
 * key through PSA and prints the key's SPKI and the signature (the RPK evidence).
 *
 * The directory is self-contained: the simulator chdirs into it, so PSA's
 * file-backed ITS (the identity and credential keys) lives there beside the
 * agent's records (pa-*.rec), the device ID (device-id) and the trusted
 * signers (signers.pem, the stand-in for the compiled-in keys).
 *
 * A directory is one device, and a device has one agent that writes.  --init,
 * --install, --pty and --serial may write: each holds agent.lock (flock,
 * exclusive) for its whole life, and a second one is refused at once (exit 9).
 * Under that lock, start-up removes what a killed writer left (pa-*.rec.tmp,
 * PSA's tempfile.psa_its) and recovers.  --status, --pubkey, --tls-connect and
 * --key-proof only read: they open the storage read-only (no recovery, no
 * write) beside a writer.  So that a reader never sees half a change, a writer
 * holds agent.view.lock exclusively while it changes storage (its start; each
 * chunk --pty/--serial serve; all of --install) and a reader holds it shared
 * while it reads (--tls-connect and --key-proof for their whole run: they use
 * the set's keys).
 *
 * Exit status: 0 ok, 1 internal, 2 usage, 3 no device in DIR or bad signer
 * key, 5 a device exists already, 8 I/O, 9 another agent-sim writes this
 * device; an agent error exits with its code (10..63, docs/agent.md).  --tls-connect and --key-proof: 0 handshake ok, 1 internal,
 * 2 usage, 3 no device, 4 slot/credentials/profile unusable, 5 no connection,
 * 6 handshake failed, 7 server certificate refused, 8 I/O after the handshake
 * (enum pa_tls_client_status, firmware-agent/tls/pa_tls_client.h).
 */
#define _XOPEN_SOURCE 700   /* posix_openpt, grantpt, unlockpt, ptsname */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "pa/pa_agent.h"
#include "pa/pa_keygen.h"
#include "pa/pa_smp.h"
#include "port/pa_port_dir.h"
#include "tls/pa_tls_client.h"

#define EXIT_INTERNAL 1
#define EXIT_USAGE 2
#define EXIT_NODEV 3
#define EXIT_EXISTS 5
#define EXIT_IO 8
#define EXIT_BUSY 9
#define WRITER_LOCK "agent.lock"
#define VIEW_LOCK "agent.view.lock"
#define PSA_ITS_TEMP "tempfile.psa_its"   /* Mbed TLS psa_its_file.c's temporary */
#define MAX_SIGNERS 8
#define MAX_FILE (PA_BUNDLE_MAX + 1)
#define PUSH_CHUNK 256   /* push in pieces, as a serial transport would */

static const char usage_text[] =
	"usage: agent-sim --storage DIR --device-id ID --signer PEM [--signer PEM...] --init\n"
	"       agent-sim --storage DIR --pubkey\n"
	"       agent-sim --storage DIR --install FILE [--nonce HEX] [--receipt FILE]\n"
	"       agent-sim --storage DIR --status [--json]\n"
	"       agent-sim --storage DIR --pty | --serial PATH [--baud N]\n"
	"       agent-sim --storage DIR --tls-connect HOST:PORT [--slot N] [--dtls] [--send TEXT]\n"
	"                 [--resume] [--timeout MS]\n"
	"       agent-sim --storage DIR --key-proof FILE [--slot N]\n";

static pa_agent agent;   /* about 6 KB: static rather than on the stack */
static pa_smp smp;
static volatile sig_atomic_t stop;

#define AGENT_VERSION "provkit-agent 0.1"

static const char *err_name(int rc)
{
	static const struct { int code; const char *name; } names[] = {
		{ PA_V_TOO_LARGE, "bundle too large" }, { PA_V_TRUNCATED, "truncated" },
		{ PA_V_MALFORMED, "malformed COSE_Sign1" }, { PA_V_BAD_HEADER, "bad COSE header" },
		{ PA_V_UNKNOWN_SIGNER, "unknown signer" }, { PA_V_BAD_SIGNATURE, "bad signature" },
		{ PA_V_BAD_PAYLOAD, "malformed payload" }, { PA_V_VERSION, "unknown format version" },
		{ PA_V_WRONG_DEVICE, "bundle for another device" },
		{ PA_V_REPLAY, "replay: counter already installed" },
		{ PA_V_ROLLBACK, "rollback: counter below the installed one" },
		{ PA_V_NONCE, "nonce mismatch" }, { PA_V_BAD_ENTRY, "malformed entry" },
		{ PA_V_LIMIT, "over this device's limits" },
		{ PA_V_UNSUPPORTED, "unsupported key algorithm" },
		{ PA_V_BAD_SECRETS, "malformed secrets" },
		{ PA_V_WRONG_RECIPIENT, "secrets encrypted to another key" },
		{ PA_V_DECRYPT, "secrets do not authenticate" },
		{ PA_V_PLAINTEXT, "plaintext secrets refused" }, { PA_V_BAD_KEY, "invalid key" },
		{ PA_V_CRYPTO, "crypto failure" }, { PA_S_IO, "storage I/O error" },
		{ PA_S_CORRUPT, "storage corrupt" }, { PA_S_KEY, "key storage error" },
		{ PA_S_POWER, "power lost" }, { PA_S_NOT_FOUND, "not found" },
		{ PA_S_BUFFER, "buffer too small" },
		{ PA_S_CHANGED, "storage changed under the agent (another writer)" }, { PA_R_BUFFER, "receipt buffer too small" },
		{ PA_R_SIGN, "receipt signing failed" }, { PA_A_ARGS, "invalid argument" },
		{ PA_A_PSA, "PSA initialisation failed" }, { PA_A_IDENTITY, "device identity unusable" },
		{ PA_A_STATE, "call out of order" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == rc)
			return names[i].name;
	return "unknown error";
}

static const char *type_name(unsigned t)
{
	static const char *const n[] = { "?", "ca-certs", "device-cert", "private-key", "psk",
	                                 "own-rpk", "peer-rpk", "trust-store" };

	return t < sizeof(n) / sizeof(n[0]) ? n[t] : "?";
}

static const char *alg_name(int alg)
{
	return alg == PA_ALG_ES256 ? "ES256" : alg == PA_ALG_ES384 ? "ES384" :
	       alg == PA_ALG_EDDSA ? "EdDSA" : NULL;
}

static int read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");

	*len = 0;
	if (f == NULL)
		return -1;
	*len = fread(buf, 1, cap, f);
	if (ferror(f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

static int write_file(const char *path, const uint8_t *buf, size_t len)
{
	char tmp[4200];
	FILE *f;
	int ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return -1;
	f = fopen(tmp, "wb");
	if (f == NULL)
		return -1;
	ok = fwrite(buf, 1, len, f) == len;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* One P-256 public key -> pa_signer (point, and kid over its DER SPKI). */
static int signer_from_pkey(EVP_PKEY *k, pa_signer *s)
{
	unsigned char *der = NULL, md[32];
	size_t n = 0;
	char group[32];
	int der_len, ok;

	if (!EVP_PKEY_is_a(k, "EC") ||
	    EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
	                                   &n) != 1 || strcmp(group, "prime256v1") != 0)
		return -1;
	if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, s->pub,
	                                    sizeof(s->pub), &n) != 1 || n != sizeof(s->pub))
		return -1;
	der_len = i2d_PUBKEY(k, &der);
	ok = der_len > 0 && EVP_Digest(der, (size_t)der_len, md, NULL, EVP_sha256(), NULL) == 1;
	OPENSSL_free(der);
	if (!ok)
		return -1;
	memcpy(s->kid, md, sizeof(s->kid));
	return 0;
}

/* Every PEM public key in path; appends to s[*n]. */
static int load_signers(const char *path, pa_signer *s, size_t *n)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k;
	size_t before = *n;
	int rc = 0;

	if (f == NULL)
		return -1;
	while ((k = PEM_read_PUBKEY(f, NULL, NULL, NULL)) != NULL) {
		if (*n == MAX_SIGNERS || signer_from_pkey(k, &s[*n]) != 0)
			rc = -1;
		else
			(*n)++;
		EVP_PKEY_free(k);
	}
	fclose(f);
	return rc == 0 && *n > before ? 0 : -1;
}

static int print_pubkey(const uint8_t pub[65])
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	int ok = bld != NULL && ctx != NULL &&
	         OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
	         OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 65) &&
	         (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
	         EVP_PKEY_fromdata_init(ctx) == 1 &&
	         EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) == 1 &&
	         PEM_write_PUBKEY(stdout, k) == 1;

	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return ok ? 0 : -1;
}

static int absolutize(const char **path, char *buf, size_t cap)
{
	char cwd[4096];

	if ((*path)[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    snprintf(buf, cap, "%s/%s", cwd, *path) >= (int)cap)
		return -1;
	*path = buf;
	return 0;
}

static int valid_device_id(const char *id)
{
	size_t i, n = strlen(id);

	if (n == 0 || n > PA_DEVICE_ID_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = id[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != ':' && c != '-')))
			return 0;
	}
	return 1;
}

static int parse_hex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(s), i;

	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", s[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", s[2 * i + 1]))
			return -1;
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return 0;
}

static void print_hex(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static void print_usage_bits(unsigned u)
{
	static const char *const names[] = { "sign", "derive", "trust", "present" };
	unsigned i;
	int first = 1;

	putchar('[');
	for (i = 0; i < 4; i++) {
		if (u & (1u << i)) {
			printf("%s\"%s\"", first ? "" : ",", names[i]);
			first = 0;
		}
	}
	putchar(']');
}

static void status_json(const pa_agent *a)
{
	const pa_installed *in = &a->installed;
	const pa_slot_entry *prev = NULL;
	pa_tls_profile prof;
	unsigned i, j, k;
	int first_slot = 1;

	printf("{\"device_id\":\"%s\",\"key_kid\":\"", a->device_id);
	print_hex(a->kid, sizeof(a->kid));
	printf("\",\"counter\":%" PRIu64 ",\"manifest_digest\":", in->counter);
	if (in->counter == 0) {
		printf("null");
	} else {
		putchar('"');
		print_hex(in->digest, sizeof(in->digest));
		putchar('"');
	}
	if (in->gen == PA_GEN_NONE)
		printf(",\"generation\":null");
	else
		printf(",\"generation\":%u", in->gen);
	printf(",\"slots\":[");
	for (k = 0; k < in->n; k++) {
		/* in (slot, type) order: keys made on the device come last in the index */
		const pa_slot_entry *e = NULL;

		for (i = 0; i < in->n; i++) {
			const pa_slot_entry *c = &in->e[i];

			if ((prev == NULL || c->slot > prev->slot ||
			     (c->slot == prev->slot && c->type > prev->type)) &&
			    (e == NULL || c->slot < e->slot || (c->slot == e->slot && c->type < e->type)))
				e = c;
		}
		if (e == NULL)
			break;
		if (prev == NULL || prev->slot != e->slot) {
			printf("%s{\"slot\":%" PRIu32 ",\"entries\":[", first_slot ? "" : "]},", e->slot);
			first_slot = 0;
		} else {
			putchar(',');
		}
		prev = e;
		printf("{\"type\":\"%s\",\"usage\":", type_name(e->type));
		print_usage_bits(e->usage);
		if (alg_name(e->alg) != NULL)
			printf(",\"alg\":\"%s\"", alg_name(e->alg));
		if (e->size > 0)
			printf(",\"%s\":%" PRIu32, e->type == PA_T_PSK ? "identity_size" : "size",
			       e->size);
		if (e->key_id != 0)
			printf(",\"key_id\":%" PRIu32, (uint32_t)e->key_id);
		putchar('}');
	}
	printf("%s]", first_slot ? "" : "]}");
	if (in->n > 0 && pa_lookup_profile(a, in->e[0].slot, &prof) == PA_OK) {
		printf(",\"tls\":{\"protocol\":\"%s\"", prof.protocol);
		if (prof.present & (1u << 1))
			printf(",\"transport\":\"%s\"", prof.transport ? "dtls" : "tls");
		if (prof.present & (1u << 2)) {
			printf(",\"versions\":[");
			for (j = 0; j < prof.n_versions; j++)
				printf("%s%u", j ? "," : "", prof.versions[j]);
			putchar(']');
		}
		if (prof.present & (1u << 3)) {
			printf(",\"cipher_suites\":[");
			for (j = 0; j < prof.n_suites; j++)
				printf("%s%u", j ? "," : "", prof.suites[j]);
			putchar(']');
		}
		if (prof.present & (1u << 5))
			printf(",\"max_fragment_length\":%u", prof.max_fragment_len);
		if (prof.present & (1u << 4))
			printf(",\"record_size_limit\":%u", prof.record_size_limit);
		putchar('}');
	} else {
		printf(",\"tls\":null");
	}
	printf("}\n");
}

static void status_text(const pa_agent *a)
{
	const pa_installed *in = &a->installed;
	unsigned i;

	printf("device:  %s\ncounter: %" PRIu64 "\n", a->device_id, in->counter);
	if (in->counter > 0) {
		printf("digest:  ");
		print_hex(in->digest, sizeof(in->digest));
		putchar('\n');
	}
	if (in->counter > 0 && in->gen == PA_GEN_NONE)
		printf("set:     wiped\n");
	for (i = 0; i < in->n; i++) {
		const pa_slot_entry *e = &in->e[i];

		printf("entry:   slot %" PRIu32 " %s", e->slot, type_name(e->type));
		if (e->size > 0)
			printf(" (%" PRIu32 " bytes)", e->size);
		if (e->key_id != 0)
			printf(" key 0x%08" PRIx32, (uint32_t)e->key_id);
		putchar('\n');
	}
}

static int finish_stdout(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "agent-sim: writing to stdout: %s\n", strerror(errno));
		return rc == 0 ? EXIT_IO : rc;
	}
	return rc;
}

/* ---- one device, one writer ---------------------------------------------------- */

static int writer_fd = -1, view_fd = -1;

/* flock, waiting, but not past a stop signal */
static int lock_wait(int fd, int op)
{
	while (flock(fd, op) != 0)
		if (errno != EINTR || stop)
			return -1;
	return 0;
}

/* In DIR (the current directory).  A reader: the view lock shared, if it can
 * be had at all (a read-only file system has no writer to wait for).  A writer:
 * the writer lock, or EXIT_BUSY at once; then the view lock exclusively; then
 * remove what a killed writer left.  Both locks go with the process. */
static int lock_storage(const char *dir, int writer)
{
	int n;

	view_fd = open(VIEW_LOCK, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	if (!writer) {
		if (view_fd >= 0 && lock_wait(view_fd, LOCK_SH) != 0) {
			close(view_fd);
			view_fd = -1;
		}
		return 0;
	}
	writer_fd = open(WRITER_LOCK, O_RDONLY | O_CREAT | O_CLOEXEC, 0600);
	if (writer_fd < 0 || view_fd < 0) {
		fprintf(stderr, "agent-sim: %s: cannot create its lock files: %s\n", dir, strerror(errno));
		return EXIT_IO;
	}
	if (flock(writer_fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK) {
			fprintf(stderr, "agent-sim: %s: in use: another agent-sim writes this device "
			        "(one writer per storage; --status reads beside it)\n", dir);
			return EXIT_BUSY;
		}
		fprintf(stderr, "agent-sim: %s: cannot lock: %s\n", dir, strerror(errno));
		return EXIT_IO;
	}
	if (lock_wait(view_fd, LOCK_EX) != 0) {
		fprintf(stderr, "agent-sim: %s: cannot lock: %s\n", dir, strerror(errno));
		return EXIT_IO;
	}
	n = pa_dir_port_sweep(&(pa_dir_port){ .dir = "." });
	if (n < 0 || (unlink(PSA_ITS_TEMP) != 0 && errno != ENOENT)) {
		fprintf(stderr, "agent-sim: %s: cannot remove stale temporary files: %s\n", dir,
		        strerror(errno));
		return EXIT_IO;
	}
	return 0;
}

/* ---- serving SMP on a terminal (--pty, --serial) ------------------------------- */

static int line_fd = -1;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Everything goes out whole or not at all as far as the caller cares: a
 * host that is not reading (or not there) loses bytes, as on a real UART. */
static int line_write(void *ctx, const uint8_t *b, size_t n)
{
	int waited = 0;

	(void)ctx;
	while (n > 0) {
		ssize_t w = write(line_fd, b, n);

		if (w > 0) {
			b += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && errno == EAGAIN && waited++ < 20) {
			struct pollfd p = { line_fd, POLLOUT, 0 };

			(void)poll(&p, 1, 10);
		} else {
			return -1;
		}
	}
	return 0;
}

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
	char buf[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)line_write(NULL, (const uint8_t *)buf, (size_t)n);
}

static void on_event(void *ctx, unsigned group, unsigned id, int rc)
{
	static const char *const names[] = { "info", "keygen", "upload", "commit", "status" };

	(void)ctx;
	if (group == PA_SMP_GROUP_PROV && id < 5)
		log_line("[agent] smp %s: %s (%d)", names[id], rc == 0 ? "ok" : err_name(rc), rc);
	else
		log_line("[agent] smp group %u command %u: %d", group, id, rc);
}

static speed_t baud_speed(long b)
{
	static const struct { long b; speed_t s; } t[] = {
		{ 9600, B9600 }, { 19200, B19200 }, { 38400, B38400 }, { 57600, B57600 },
		{ 115200, B115200 }, { 230400, B230400 }, { 460800, B460800 },
		{ 921600, B921600 }, { 1000000, B1000000 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i].b == b)
			return t[i].s;
	return (speed_t)0;
}

static int make_raw(int fd, speed_t speed)
{
	struct termios tio;

	if (tcgetattr(fd, &tio) != 0)
		return -1;
	cfmakeraw(&tio);
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (speed != 0 && (cfsetispeed(&tio, speed) != 0 || cfsetospeed(&tio, speed) != 0))
		return -1;
	return tcsetattr(fd, TCSANOW, &tio);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Serve until SIGTERM/SIGINT.  With a pty we keep the slave side open
 * ourselves, so the host closing it never hangs the line up (no EIO/HUP). */
static int serve(const char *serial, long baud)
{
	static const pa_smp_io io = { NULL, line_write, on_event };
	struct sigaction sa;
	int keep = -1, rc;
	long last = 0, beats = 0;
	uint8_t buf[512];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (serial == NULL) {
		const char *name;

		line_fd = posix_openpt(O_RDWR | O_NOCTTY);
		if (line_fd < 0 || grantpt(line_fd) != 0 || unlockpt(line_fd) != 0 ||
		    (name = ptsname(line_fd)) == NULL) {
			fprintf(stderr, "agent-sim: pty: %s\n", strerror(errno));
			return EXIT_IO;
		}
		keep = open(name, O_RDWR | O_NOCTTY);
		if (keep < 0 || make_raw(keep, 0) != 0) {
			fprintf(stderr, "agent-sim: pty %s: %s\n", name, strerror(errno));
			return EXIT_IO;
		}
		printf("%s\n", name);
	} else {
		line_fd = open(serial, O_RDWR | O_NOCTTY);
		if (line_fd < 0) {
			fprintf(stderr, "agent-sim: %s: %s\n", serial, strerror(errno));
			return EXIT_IO;
		}
		if (isatty(line_fd) && make_raw(line_fd, baud_speed(baud)) != 0) {
			fprintf(stderr, "agent-sim: %s: cannot set raw mode at %ld baud: %s\n", serial,
			        baud, strerror(errno));
			return EXIT_IO;
		}
		printf("%s\n", serial);
	}
	if (fflush(stdout) != 0)
		return EXIT_IO;
	(void)fcntl(line_fd, F_SETFL, fcntl(line_fd, F_GETFL) | O_NONBLOCK);
	rc = pa_smp_start(&smp, &agent, &io, AGENT_VERSION);
	if (rc != PA_OK) {
		fprintf(stderr, "agent-sim: smp: %s (code %d)\n", err_name(rc), rc);
		return rc;
	}
	log_line("[agent] %s up, device %s, counter %" PRIu64, AGENT_VERSION, agent.device_id,
	         agent.installed.counter);
	/* started: readers may look in between the chunks we serve */
	(void)flock(view_fd, LOCK_UN);
	while (!stop) {
		struct pollfd p = { line_fd, POLLIN, 0 };
		long t = now_ms();
		int n;

		if (t - last >= 250) {
			last = t;
			log_line("[agent] heartbeat %ld", beats++);
		}
		n = poll(&p, 1, 250);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (p.revents & POLLIN) {
			ssize_t r = read(line_fd, buf, sizeof(buf));

			if (r > 0) {
				/* a chunk may end a commit or a keygen: storage changes
				 * only under the view lock */
				if (lock_wait(view_fd, LOCK_EX) != 0)
					break;
				pa_smp_push(&smp, buf, (size_t)r);
				(void)flock(view_fd, LOCK_UN);
			}
			else if (r < 0 && errno != EAGAIN && errno != EINTR && errno != EIO)
				break;
			else if (r <= 0)
				usleep(20000);   /* EIO/EOF: nobody on the other side yet */
		} else {
			usleep(20000);      /* HUP without data: wait for the host to come back */
		}
	}
	if (keep >= 0)
		close(keep);
	close(line_fd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *device_id = NULL, *install = NULL, *nonce_hex = NULL;
	const char *receipt_path = NULL, *signer_paths[MAX_SIGNERS], *serial = NULL, *baud_s = NULL;
	const char *connect = NULL, *proof = NULL, *slot_s = NULL, *timeout_s = NULL;
	int init = 0, pubkey = 0, status = 0, json = 0, pty = 0, nsp = 0, writer, i, rc;
	pa_tls_connect_opts topt;
	static char hostbuf[256], proof_abs[8192];
	long baud = 0;
	pa_signer signers[MAX_SIGNERS];
	size_t nsigners = 0;
	pa_dir_port dport;
	const pa_port *port;
	struct stat sb;
	static uint8_t pem[MAX_SIGNERS * 4096];
	static char install_abs[8192], receipt_abs[8192];
	size_t pem_len = 0;

	memset(&topt, 0, sizeof(topt));
	topt.slot = -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **val = NULL;

		if (strcmp(a, "--storage") == 0)
			val = &dir;
		else if (strcmp(a, "--device-id") == 0)
			val = &device_id;
		else if (strcmp(a, "--install") == 0)
			val = &install;
		else if (strcmp(a, "--nonce") == 0)
			val = &nonce_hex;
		else if (strcmp(a, "--receipt") == 0)
			val = &receipt_path;
		else if (strcmp(a, "--signer") == 0 && nsp < MAX_SIGNERS)
			val = &signer_paths[nsp++];
		else if (strcmp(a, "--init") == 0)
			init = 1;
		else if (strcmp(a, "--pubkey") == 0)
			pubkey = 1;
		else if (strcmp(a, "--status") == 0)
			status = 1;
		else if (strcmp(a, "--json") == 0)
			json = 1;
		else if (strcmp(a, "--pty") == 0)
			pty = 1;
		else if (strcmp(a, "--serial") == 0)
			val = &serial;
		else if (strcmp(a, "--baud") == 0)
			val = &baud_s;
		else if (strcmp(a, "--tls-connect") == 0)
			val = &connect;
		else if (strcmp(a, "--key-proof") == 0)
			val = &proof;
		else if (strcmp(a, "--slot") == 0)
			val = &slot_s;
		else if (strcmp(a, "--send") == 0)
			val = &topt.send;
		else if (strcmp(a, "--timeout") == 0)
			val = &timeout_s;
		else if (strcmp(a, "--dtls") == 0)
			topt.dtls = 1;
		else if (strcmp(a, "--resume") == 0)
			topt.resume = 1;
		else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage_text, stdout);
			return finish_stdout(0);
		} else {
			fprintf(stderr, "agent-sim: unknown option '%s'\n%s", a, usage_text);
			return EXIT_USAGE;
		}
		if (val != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "agent-sim: %s needs a value\n%s", a, usage_text);
				return EXIT_USAGE;
			}
			*val = argv[++i];
		}
	}
	if (baud_s != NULL) {
		char *end = NULL;

		errno = 0;
		baud = strtol(baud_s, &end, 10);
		if (errno != 0 || end == baud_s || *end != '\0' || baud_speed(baud) == 0) {
			fprintf(stderr, "agent-sim: --baud: one of 9600 19200 38400 57600 115200 "
			        "230400 460800 921600 1000000\n");
			return EXIT_USAGE;
		}
	}
	if (dir == NULL || init + pubkey + status + (install != NULL) + pty + (serial != NULL) +
	                   (connect != NULL) + (proof != NULL) != 1 ||
	    (baud_s != NULL && serial == NULL) ||
	    (slot_s != NULL && connect == NULL && proof == NULL) ||
	    ((topt.send != NULL || timeout_s != NULL || topt.dtls || topt.resume) && connect == NULL) ||
	    (init && (device_id == NULL || nsp == 0)) || (!init && (device_id != NULL || nsp > 0)) ||
	    ((nonce_hex != NULL || receipt_path != NULL) && install == NULL) ||
	    (json && !status)) {
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}

	/* the modes that may write the device's storage; the others only read */
	writer = init || install != NULL || pty || serial != NULL;
	if (slot_s != NULL) {
		char *end = NULL;
		long long s;

		errno = 0;
		s = strtoll(slot_s, &end, 10);
		if (errno != 0 || end == slot_s || *end != '\0' || s < 0 || s > 2147483647LL ||
		    slot_s[0] == '-' || slot_s[0] == '+') {
			fprintf(stderr, "agent-sim: --slot: '%s' is not a slot (0..2147483647)\n", slot_s);
			return EXIT_USAGE;
		}
		topt.slot = s;
	}
	if (timeout_s != NULL) {
		char *end = NULL;
		unsigned long t;

		errno = 0;
		t = strtoul(timeout_s, &end, 10);
		if (errno != 0 || end == timeout_s || *end != '\0' || t == 0 || t > 600000 ||
		    timeout_s[0] == '-') {
			fprintf(stderr, "agent-sim: --timeout: '%s' is not 1..600000 ms\n", timeout_s);
			return EXIT_USAGE;
		}
		topt.timeout_ms = (uint32_t)t;
	}
	if (connect != NULL) {
		const char *colon = strrchr(connect, ':');
		char *end = NULL;
		unsigned long port_n;

		if (strlen(connect) >= sizeof(hostbuf) || colon == NULL || colon == connect ||
		    colon[1] == '\0') {
			fprintf(stderr, "agent-sim: --tls-connect: '%s' is not HOST:PORT\n", connect);
			return EXIT_USAGE;
		}
		memcpy(hostbuf, connect, strlen(connect) + 1);
		hostbuf[colon - connect] = '\0';
		topt.host = hostbuf;
		topt.port = hostbuf + (colon - connect) + 1;
		errno = 0;
		port_n = strtoul(topt.port, &end, 10);
		if (errno != 0 || *end != '\0' || port_n == 0 || port_n > 65535 ||
		    !strchr("0123456789", topt.port[0])) {
			fprintf(stderr, "agent-sim: --tls-connect: '%s' is not HOST:PORT\n", connect);
			return EXIT_USAGE;
		}
	}

	/* paths given relative to the caller's directory stay valid after chdir */
	if ((install != NULL && absolutize(&install, install_abs, sizeof(install_abs)) != 0) ||
	    (proof != NULL && absolutize(&proof, proof_abs, sizeof(proof_abs)) != 0) ||
	    (receipt_path != NULL && absolutize(&receipt_path, receipt_abs, sizeof(receipt_abs)) != 0)) {
		fprintf(stderr, "agent-sim: path too long\n");
		return EXIT_USAGE;
	}
	if (init) {
		if (!valid_device_id(device_id)) {
			fprintf(stderr, "agent-sim: init: invalid device ID '%s': 1..%d of "
			        "[A-Za-z0-9._:-], starting alphanumeric\n", device_id, PA_DEVICE_ID_MAX);
			return EXIT_USAGE;
		}
		pem_len = 0;
		for (i = 0; i < nsp; i++) {
			size_t n = 0;

			if (load_signers(signer_paths[i], signers, &nsigners) != 0 ||
			    read_file(signer_paths[i], pem + pem_len, sizeof(pem) - pem_len - 1, &n) != 0) {
				fprintf(stderr, "agent-sim: init: %s: not a P-256 public key (PEM)\n",
				        signer_paths[i]);
				return EXIT_NODEV;
			}
			pem_len += n;
			if (pem_len > 0 && pem[pem_len - 1] != '\n')
				pem[pem_len++] = '\n';
		}
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "agent-sim: init: %s: %s\n", dir, strerror(errno));
			return EXIT_IO;
		}
		if (chdir(dir) != 0) {
			fprintf(stderr, "agent-sim: init: %s: %s\n", dir, strerror(errno));
			return EXIT_IO;
		}
		rc = lock_storage(dir, 1);
		if (rc != 0)
			return rc;
		if (stat("device-id", &sb) == 0) {
			fprintf(stderr, "agent-sim: init: %s: a device exists already\n", dir);
			return EXIT_EXISTS;
		}
		if (write_file("signers.pem", pem, pem_len) != 0 ||
		    write_file("device-id", (const uint8_t *)device_id, strlen(device_id)) != 0) {
			fprintf(stderr, "agent-sim: init: %s: cannot write: %s\n", dir, strerror(errno));
			return EXIT_IO;
		}
	} else {
		if (chdir(dir) != 0 || stat("device-id", &sb) != 0) {
			fprintf(stderr, "agent-sim: %s: no device here (agent-sim --init makes one)\n",
			        dir);
			return EXIT_NODEV;
		}
		rc = lock_storage(dir, writer);
		if (rc != 0)
			return rc;
		if (writer && load_signers("signers.pem", signers, &nsigners) != 0) {
			fprintf(stderr, "agent-sim: %s/signers.pem: no usable signer key\n", dir);
			return EXIT_NODEV;
		}
	}

	/* a reader starts read-only: no recovery, no keygen settling, no write */
	port = pa_dir_port_init(&dport, ".");
	rc = writer ? pa_agent_start(&agent, port, signers, nsigners)
	            : pa_agent_open_readonly(&agent, port);
	if (rc != PA_OK) {
		fprintf(stderr, "agent-sim: start: %s (code %d)\n", err_name(rc), rc);
		return rc;
	}
	rc = writer ? pa_keygen_start(&agent) : PA_OK;
	if (rc != PA_OK) {
		fprintf(stderr, "agent-sim: start: keygen: %s (code %d)\n", err_name(rc), rc);
		return rc;
	}
	if (pty || serial != NULL)
		return serve(serial, baud);
	if (connect != NULL || proof != NULL) {
		if (proof != NULL) {
			static uint8_t msg[65536];
			size_t mlen = 0;

			if (read_file(proof, msg, sizeof(msg), &mlen) != 0 || mlen == sizeof(msg)) {
				fprintf(stderr, "agent-sim: --key-proof: cannot read %s (at most %zu bytes)\n",
				        proof, sizeof(msg) - 1);
				return EXIT_USAGE;
			}
			rc = pa_tls_key_proof(&agent, topt.slot, msg, mlen, stdout, stderr);
		} else {
			rc = pa_tls_connect(&agent, &topt, stdout, stderr);
		}
		mbedtls_psa_crypto_free();
		return finish_stdout(rc);
	}
	if (init || pubkey) {
		if (print_pubkey(agent.pub) != 0) {
			fprintf(stderr, "agent-sim: cannot encode the public key\n");
			return EXIT_INTERNAL;
		}
		return finish_stdout(0);
	}
	if (status) {
		if (json)
			status_json(&agent);
		else
			status_text(&agent);
		return finish_stdout(0);
	}

	/* --install */
	{
		static uint8_t bundle[MAX_FILE];
		uint8_t nonce[PA_NONCE_MAX], receipt[PA_RECEIPT_MAX];
		size_t blen = 0, nlen = 0, rlen = 0, off;

		if (nonce_hex != NULL && (parse_hex(nonce_hex, nonce, sizeof(nonce), &nlen) != 0 ||
		                          pa_agent_set_nonce(&agent, nonce, nlen) != PA_OK)) {
			fprintf(stderr, "agent-sim: install: --nonce: %d..%d bytes in hex\n",
			        PA_NONCE_MIN, PA_NONCE_MAX);
			return EXIT_USAGE;
		}
		if (read_file(install, bundle, sizeof(bundle), &blen) != 0) {
			fprintf(stderr, "agent-sim: install: %s: %s\n", install, strerror(errno));
			return EXIT_IO;
		}
		pa_install_begin(&agent);
		for (off = 0; off < blen; off += PUSH_CHUNK)
			pa_install_push(&agent, bundle + off, blen - off < PUSH_CHUNK ? blen - off : PUSH_CHUNK);
		rc = pa_install_finish(&agent, receipt, sizeof(receipt), &rlen);
		if (rc != PA_OK) {
			fprintf(stderr, "agent-sim: install: %s: rejected: %s (code %d)\n", install,
			        err_name(rc), rc);
			return rc;
		}
		if (receipt_path != NULL && write_file(receipt_path, receipt, rlen) != 0) {
			fprintf(stderr, "agent-sim: install: %s: %s\n", receipt_path, strerror(errno));
			return EXIT_IO;
		}
		printf("installed %s: counter %" PRIu64 ", %u entries%s\n", install,
		       agent.installed.counter, agent.installed.n,
		       agent.installed.gen == PA_GEN_NONE ? " (wiped)" : "");
		return finish_stdout(0);
	}
}
