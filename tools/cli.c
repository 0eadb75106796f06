/* cli.c - shared plumbing of the prov subcommands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/db.h"
#include "prov/records.h"
#include "prov/escape.h"
#include "prov/keys.h"
#include "prov/util.h"

/* Set once an error has been printed, so a failing flush at the end does not
 * report the same failure a second time. */
static int reported;

int cli_getopt(cli *c, int argc, char **argv, const struct option *opts)
{
	/* ":" first: a missing argument is ':' rather than '?', so the message
	 * (ours, escaped: getopt would print the option as typed) can say which. */
	char shortopts[] = ":h";
	int ch;

	/* Short forms: only -h; everything else is a long option.  Options and
	 * operands may mix (GNU permutation): `prov inspect FILE --json`. */
	opterr = 0;
	ch = getopt_long(argc, argv, shortopts, opts, NULL);
	switch (ch) {
	case '?':
	case ':': {
		/* The option as typed: a long one is argv[optind - 1] (optopt is
		 * its value, or 0 when unknown); a short one is optopt. */
		char opt[3] = {'-', (char)optopt, 0};
		const char *last = optind > 0 && optind <= argc ? argv[optind - 1] : NULL;
		int is_long = last != NULL && strncmp(last, "--", 2) == 0;
		const char *word = is_long ? last : optopt != 0 ? opt : "?";

		fflush(stdout);
		fprintf(stderr, ch == ':'                 ? "prov: %s: option '%s' requires an argument\n"
		                : is_long && optopt != 0 ? "prov: %s: option '%s' does not take an argument\n"
		                                         : "prov: %s: unrecognized or ambiguous option '%s'\n",
		        c->cmd, cli_esc(word));
		return '?';
	}
	case CLI_OPT_HOME:
		c->home = optarg;
		return 0;
	case CLI_OPT_JSON:
		c->json = 1;
		return 0;
	case CLI_OPT_PKCS11_MODULE:
		c->token.module = optarg;
		return 0;
	case CLI_OPT_PIN_FILE:
		c->token.pin_file = optarg;
		return 0;
	case CLI_OPT_BUSY: {
		char *end;
		long v = strtol(optarg, &end, 10);

		if (*end != 0 || v < 0 || v > INT_MAX) {
			fprintf(stderr, "prov: %s: --busy-timeout: not a number of milliseconds: %s\n", c->cmd,
			        cli_esc(optarg));
			return '?';
		}
		c->busy_ms = (int)v;
		return 0;
	}
	default:
		return ch;
	}
}

int cli_fail(cli *c, const prov_err *e)
{
	fflush(stdout);
	fprintf(stderr, "prov: %s: %s\n", c->cmd, e->msg);
	reported = 1;
	return e->code != PROV_OK ? (int)e->code : PROV_E_INTERNAL;
}

int cli_usage(cli *c, const char *fmt, ...)
{
	prov_err e;
	va_list ap;

	/* The arguments are often what the user typed: made like every error
	 * message (escaped, cut in the middle when too long). */
	va_start(ap, fmt);
	prov_err_vset(&e, PROV_E_USAGE, fmt, ap);
	va_end(ap);
	fflush(stdout);
	fprintf(stderr, "prov: %s: %s\n\n%s", c->cmd, e.msg, c->usage);
	reported = 1;
	return PROV_E_USAGE;
}

int cli_help(cli *c)
{
	fputs(c->usage, stdout);
	return cli_finish(c, 0);
}

int cli_open(cli *c, unsigned need, prov_home **h)
{
	prov_err e;

	if (prov_home_open_with(prov_home_dir(c->home), need | c->open, c->busy_ms, &c->token, h, &e) !=
	    PROV_OK)
		return cli_fail(c, &e);
	return 0;
}

int cli_signer(cli *c, const char *path, prov_home **h, EVP_PKEY **signer)
{
	prov_err e;
	int rc;

	if (path != NULL)
		return prov_key_load_public(path, signer, &e) == PROV_OK ? 0 : cli_fail(c, &e);
	rc = cli_open(c, 0, h);
	if (rc != 0)
		return rc;
	*signer = (*h)->signer;
	EVP_PKEY_up_ref(*signer);
	return 0;
}

int cli_json(cli *c, json_t *j)
{
	char *s;
	int rc;

	if (j == NULL) {
		fprintf(stderr, "prov: %s: out of memory building JSON\n", c->cmd);
		return PROV_E_INTERNAL;
	}
	/* prov_json_dump: numbers above 2^63 (prov_json_u64) stay exact. */
	s = prov_json_dump(j, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (s == NULL) {
		fprintf(stderr, "prov: %s: cannot encode the JSON output\n", c->cmd);
		return PROV_E_INTERNAL;
	}
	rc = fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF ? PROV_E_IO : 0;
	free(s);
	return rc;
}

void cli_out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static const char *esc_slot(const void *p, size_t len)
{
	static _Thread_local char ring[CLI_ESC_SLOTS][CLI_ESC_MAX];
	static _Thread_local unsigned next;
	char *out = ring[next++ % CLI_ESC_SLOTS];

	return prov_escape(out, CLI_ESC_MAX, p, len);
}

const char *cli_esc(const char *s)
{
	return s == NULL ? "-" : esc_slot(s, strlen(s));
}

const char *cli_escn(const void *p, size_t len)
{
	return p == NULL ? "-" : esc_slot(p, len);
}

int cli_audit_public(cli *c, prov_home *h, const char *detail)
{
	prov_err e;

	if (prov_db_readonly(h->db)) {
		fprintf(stderr, "prov: %s: note: not recorded in the audit log: the factory database is read-only\n",
		        c->cmd);
		return 0;
	}
	if (prov_records_audit(h->db, "export", NULL, detail, &e) != PROV_OK)
		return cli_fail(c, &e);
	return 0;
}

int cli_finish(cli *c, int status)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (!reported)
			fprintf(stderr, "prov: %s: cannot write output: %s\n", c->cmd, strerror(errno));
		return status != 0 ? status : PROV_E_IO;
	}
	return status;
}

int cli_write_out(cli *c, const char *path, const void *data, size_t len, unsigned mode)
{
	prov_err e;

	if (path == NULL) {
		if (prov_stream_write(stdout, data, len, "standard output", &e) != PROV_OK)
			return cli_fail(c, &e);
		return 0;
	}
	if (prov_file_write(path, data, len, (mode_t)mode, 0, &e) != PROV_OK)
		return cli_fail(c, &e);
	return 0;
}
