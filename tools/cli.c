/* cli.c - shared plumbing of the prov subcommands (see cli.h). */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/db.h"
#include "prov/keys.h"
#include "prov/util.h"

/* Set once an error has been printed, so a failing flush at the end does not
 * report the same failure a second time. */
static int reported;

int cli_getopt(cli *c, int argc, char **argv, const struct option *opts)
{
	char shortopts[] = "h";
	int ch;

	/* Short forms: only -h; everything else is a long option.  Options and
	 * operands may mix (GNU permutation): `prov inspect FILE --json`. */
	ch = getopt_long(argc, argv, shortopts, opts, NULL);
	switch (ch) {
	case CLI_OPT_HOME:
		c->home = optarg;
		return 0;
	case CLI_OPT_JSON:
		c->json = 1;
		return 0;
	case CLI_OPT_BUSY: {
		char *end;
		long v = strtol(optarg, &end, 10);

		if (*end != 0 || v < 0 || v > INT_MAX) {
			fprintf(stderr, "prov: %s: --busy-timeout: not a number of milliseconds: %s\n", c->cmd,
			        optarg);
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
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "prov: %s: ", c->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n\n%s", c->usage);
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

	if (prov_home_open(prov_home_dir(c->home), need, c->busy_ms, h, &e) != PROV_OK)
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
	int rc;

	(void)c;
	if (j == NULL) {
		fprintf(stderr, "prov: %s: out of memory building JSON\n", c->cmd);
		return PROV_E_INTERNAL;
	}
	rc = json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(j);
	if (rc != 0 || fputc('\n', stdout) == EOF)
		return PROV_E_IO;
	return 0;
}

void cli_out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
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
