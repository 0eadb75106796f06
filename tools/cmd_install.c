/* cmd_install.c - prov install: provision devices over serial lines (SMP), one
 * thread per port. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "prov/escape.h"
#include "prov/install.h"
#include "prov/smp.h"

const char usage_install[] =
	"usage: prov install --port DEV [--port DEV...] --template FILE [--baud N]\n"
	"                    [--rotate] [--trust FILE] [--timeout MS] [--tries N]\n"
	"                    [--home DIR] [--json]\n"
	"\n"
	"Provision the device on each serial port over SMP (docs/serial-protocol.md),\n"
	"all ports at once: device info, register the device under the ID it reports\n"
	"(its identity key receives its secrets and signs its receipt), key generation\n"
	"and CSR on the device when the template lets the device make its key, mint,\n"
	"a bundle bound to the device's nonce, upload, commit, then the receipt is\n"
	"verified and the install recorded.  A device that already holds its recorded\n"
	"install is reported \"already provisioned\" and left alone unless --rotate.\n"
	"A device left pending by a crash or a pulled cable is finished by a rerun.\n"
	"\n"
	"  --port DEV     a tty or pty; repeat for more devices (at most 64)\n"
	"  --template F   the template new devices are minted from\n"
	"  --baud N       line speed (default: leave it as it is)\n"
	"  --rotate       issue new credentials even to a provisioned device\n"
	"  --trust FILE   trust anchors for the template's trust slot, replacing its\n"
	"                 own: a store from prov trust build, or PEM/DER roots\n"
	"  --timeout MS   first wait for an answer (default 1000; doubles per retry)\n"
	"  --tries N      sends per request before giving up (default 8)\n"
	"\n"
	"One progress line per port on a terminal (stderr); then one line per device,\n"
	"or with --json one JSON object per line: {\"port\", \"device\", \"result\":\n"
	"installed|already-provisioned|recorded|failed, \"counter\", \"digest\",\n"
	"\"minted\", \"key_origin\", \"bundle_bytes\", \"wire_bytes_out\", \"wire_bytes_in\",\n"
	"\"requests\", \"retries\", \"sessions\", \"seconds\", \"error\", \"status\"}.\n"
	"Exit 0 only if every device succeeded; else the status of the first failed\n"
	"port in command-line order: 3 not a terminal or a bad answer, 4 no such port\n"
	"or factory, 5 device ID conflict, 7 the device refused or does not hold what\n"
	"was recorded, 8 no answer (timeout) or line error.\n";

#define PORTS_MAX 64

typedef struct run {
	prov_install_opts o;
	pthread_mutex_t lock;
	const char *ports[PORTS_MAX];
	char claimed[PORTS_MAX][65];
	char lines[PORTS_MAX][160];
	size_t n;
	int tty;
	int drawn;
} run;

typedef struct job {
	run *r;
	size_t i;
	prov_install_result res;
} job;

static int claim(void *ctx, const char *port, const char *id)
{
	run *r = ctx;
	int rc = 0;

	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++) {
		if (strcmp(r->ports[i], port) == 0) {
			continue;
		}
		if (strcmp(r->claimed[i], id) == 0)
			rc = -1;
	}
	if (rc == 0)
		for (size_t i = 0; i < r->n; i++)
			if (strcmp(r->ports[i], port) == 0)
				snprintf(r->claimed[i], sizeof(r->claimed[i]), "%s", id);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* Redraw the progress block: one line per port, in place. */
static void draw(run *r)
{
	if (r->drawn)
		fprintf(stderr, "\033[%zuA", r->n);
	for (size_t i = 0; i < r->n; i++)
		fprintf(stderr, "\r\033[K%s\n", r->lines[i]);
	fflush(stderr);
	r->drawn = 1;
}

static void on_progress(void *ctx, const char *port, const char *id, const char *stage,
                        size_t done, size_t total)
{
	run *r = ctx;

	if (!r->tty)
		return;
	pthread_mutex_lock(&r->lock);
	for (size_t i = 0; i < r->n; i++) {
		char p[21], d[17];

		if (strcmp(r->ports[i], port) != 0)
			continue;
		/* Escaped and cut to the columns at escape boundaries (prov/escape.h):
		 * a port name or a device ID must not draw on the terminal. */
		prov_escape_str(p, sizeof(p), port);
		prov_escape_str(d, sizeof(d), id[0] ? id : "?");
		if (total > 0)
			snprintf(r->lines[i], sizeof(r->lines[i]), "%-20s %-16s %-8s %5zu/%zu bytes", p, d, stage,
			         done, total);
		else
			snprintf(r->lines[i], sizeof(r->lines[i]), "%-20s %-16s %s", p, d, stage);
	}
	draw(r);
	pthread_mutex_unlock(&r->lock);
}

static void *worker(void *arg)
{
	job *j = arg;

	prov_install_port(&j->r->o, j->r->ports[j->i], &j->res);
	return NULL;
}

static int parse_uint(const char *s, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	v = strtoul(s, &end, 10);
	if (*end != 0 || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static void print_result(cli *c, const prov_install_result *res)
{
	if (c->json) {
		/* The port and the device's counter are outside values: kept valid
		 * UTF-8 and exact (prov/escape.h). */
		json_t *j = json_pack("{s:o, s:o?, s:s, s:o, s:s?, s:s, s:s?, s:I, s:I, s:I, s:I, s:I, s:i, "
		                      "s:f, s:s?, s:s?}",
		                      "port", prov_json_text(res->port, strlen(res->port)), "device",
		                      res->device[0] ? prov_json_text(res->device, strlen(res->device)) : NULL,
		                      "result", prov_install_outcome_name(res->outcome), "counter",
		                      prov_json_u64(res->counter), "digest", res->digest[0] ? res->digest : NULL,
		                      "minted", res->minted == 2 ? "rotated" : res->minted ? "new" : "reused",
		                      "key_origin", res->key_origin, "bundle_bytes", (json_int_t)res->bundle_len,
		                      "wire_bytes_out", (json_int_t)res->bytes_out, "wire_bytes_in",
		                      (json_int_t)res->bytes_in, "requests", (json_int_t)res->requests,
		                      "retries", (json_int_t)res->retries, "sessions", (int)res->attempts,
		                      "seconds", res->seconds, "error",
		                      res->err.code != PROV_OK ? res->err.msg : NULL, "status",
		                      res->err.code != PROV_OK ? prov_status_name(res->err.code) : NULL);
		char *s = j != NULL ? prov_json_dump(j, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

		if (s != NULL)
			cli_out("%s\n", s);
		free(s);
		json_decref(j);
		return;
	}
	switch (res->outcome) {
	case PROV_INSTALL_INSTALLED:
		cli_out("%s: %s installed: bundle %llu (%zu bytes, digest %.16s...), %.2f s, %lu retries\n",
		        cli_esc(res->port), cli_esc(res->device), res->counter, res->bundle_len, res->digest,
		        res->seconds, res->retries);
		break;
	case PROV_INSTALL_ALREADY:
		cli_out("%s: %s already provisioned: bundle %llu installed and recorded; nothing changed\n",
		        cli_esc(res->port), cli_esc(res->device), res->counter);
		break;
	case PROV_INSTALL_RECORDED:
		cli_out("%s: %s had installed bundle %llu; its receipt is now recorded\n", cli_esc(res->port),
		        cli_esc(res->device), res->counter);
		break;
	default:
		break;
	}
}

int cmd_install(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"port", required_argument, NULL, 'p'},
		{"template", required_argument, NULL, 't'},
		{"baud", required_argument, NULL, 'b'},
		{"rotate", no_argument, NULL, 'r'},
		{"timeout", required_argument, NULL, 'T'},
		{"tries", required_argument, NULL, 'n'},
		{"trust", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0},
	};
	run *r = NULL;
	job *jobs = NULL;
	pthread_t *th = NULL;
	int ch, rc = 0;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return cli_finish(c, PROV_E_INTERNAL);
	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'h': free(r); return cli_help(c);
		case 'p':
			if (r->n == PORTS_MAX) {
				free(r);
				return cli_usage(c, "at most %d ports", PORTS_MAX);
			}
			r->ports[r->n++] = optarg;
			break;
		case 't': r->o.template_path = optarg; break;
		case 'b':
			if (parse_uint(optarg, 4000000, &r->o.baud) != 0 || !prov_smp_baud_valid(r->o.baud)) {
				free(r);
				return cli_usage(c, "--baud: \"%s\" is not a supported line speed", optarg);
			}
			break;
		case 'r': r->o.rotate = 1; break;
		case 'S': r->o.trust_file = optarg; break;
		case 'T':
			if (parse_uint(optarg, 600000, &r->o.timeout_ms) != 0 || r->o.timeout_ms == 0) {
				free(r);
				return cli_usage(c, "--timeout: \"%s\" is not 1..600000 milliseconds", optarg);
			}
			break;
		case 'n':
			if (parse_uint(optarg, 100, &r->o.tries) != 0 || r->o.tries == 0) {
				free(r);
				return cli_usage(c, "--tries: \"%s\" is not 1..100", optarg);
			}
			break;
		default: free(r); return cli_usage(c, "bad option");
		}
	}
	if (optind != argc) {
		free(r);
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	}
	if (r->n == 0 || r->o.template_path == NULL) {
		free(r);
		return cli_usage(c, "give --port (one or more) and --template");
	}
	for (size_t i = 0; i < r->n; i++)
		for (size_t k = 0; k < i; k++)
			if (strcmp(r->ports[i], r->ports[k]) == 0) {
				const char *dup = r->ports[i];

				free(r);
				return cli_usage(c, "port %s given twice", dup);
			}
	r->o.home_dir = c->home;
	r->o.busy_ms = c->busy_ms;
	r->o.pkcs11_module = c->token.module;
	r->o.pin_file = c->token.pin_file;
	r->o.claim = claim;
	r->o.progress = on_progress;
	r->o.ctx = r;
	r->tty = !c->json && isatty(STDERR_FILENO);
	pthread_mutex_init(&r->lock, NULL);
	for (size_t i = 0; i < r->n; i++) {
		char p[21];

		snprintf(r->lines[i], sizeof(r->lines[i]), "%-20s %-16s waiting",
		         prov_escape_str(p, sizeof(p), r->ports[i]), "?");
	}
	jobs = calloc(r->n, sizeof(*jobs));
	th = calloc(r->n, sizeof(*th));
	if (jobs == NULL || th == NULL) {
		rc = PROV_E_INTERNAL;
		goto out;
	}
	for (size_t i = 0; i < r->n; i++) {
		jobs[i].r = r;
		jobs[i].i = i;
	}
	if (r->n == 1) {
		worker(&jobs[0]);
	} else {
		size_t started = 0;

		for (; started < r->n; started++)
			if (pthread_create(&th[started], NULL, worker, &jobs[started]) != 0)
				break;
		/* A thread that could not start runs here, after the others. */
		for (size_t i = 0; i < started; i++)
			pthread_join(th[i], NULL);
		for (size_t i = started; i < r->n; i++)
			worker(&jobs[i]);
	}
	for (size_t i = 0; i < r->n; i++) {
		const prov_install_result *res = &jobs[i].res;

		if (res->err.code != PROV_OK) {
			if (!c->json) /* escaped when made (prov/err.h) */
				fprintf(stderr, "prov: %s: %s\n", c->cmd, res->err.msg);
			if (rc == 0)
				rc = res->err.code;
		}
		print_result(c, res);
	}
out:
	pthread_mutex_destroy(&r->lock);
	free(jobs);
	free(th);
	free(r);
	return cli_finish(c, rc);
}
