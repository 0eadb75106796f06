/*
 * cli.h - what every prov subcommand shares: the common options, error printing,
 * and checked output.  A subcommand is `int cmd_x(int argc, char **argv, cli *c)`
 * returning the exit status; tools/prov.c holds the table.
 *
 * Errors go to stderr as "prov: <command>: <what went wrong>: <why>" and the exit
 * status is the prov_status (docs/cli.md lists them).  Output is flushed and
 * checked before exit: a short write is an error, never a silent success.
 */
#ifndef PROV_CLI_H
#define PROV_CLI_H

#include <getopt.h>
#include <jansson.h>

#include "prov/err.h"
#include "prov/home.h"

typedef struct cli {
	const char *cmd;       /* "mint", "ca export", ... */
	const char *usage;     /* the command's usage text */
	const char *home;      /* --home, NULL for the default */
	int json;              /* --json */
	int busy_ms;           /* --busy-timeout */
	prov_token_opts token; /* --pkcs11-module, --pin-file: keys in a token */
	unsigned open;         /* how cli_open opens the database: 0 read-write,
	                          PROV_OPEN_READONLY or PROV_OPEN_READ_MOSTLY
	                          (the command table in prov.c) */
} cli;

/* Options every command takes; put CLI_COMMON_OPTIONS first in each table. */
#define CLI_OPT_HOME 0x100
#define CLI_OPT_JSON 0x101
#define CLI_OPT_BUSY 0x102
#define CLI_OPT_PKCS11_MODULE 0x103
#define CLI_OPT_PIN_FILE 0x104
/* --pkcs11-module and --pin-file: a home whose keys are in a PKCS#11 token
 * (docs/pkcs11.md); every command that signs may need them. */
#define CLI_COMMON_OPTIONS \
	{"home", required_argument, NULL, CLI_OPT_HOME}, \
	{"pkcs11-module", required_argument, NULL, CLI_OPT_PKCS11_MODULE}, \
	{"pin-file", required_argument, NULL, CLI_OPT_PIN_FILE}, \
	{"json", no_argument, NULL, CLI_OPT_JSON}, \
	{"busy-timeout", required_argument, NULL, CLI_OPT_BUSY}, \
	{"help", no_argument, NULL, 'h'}

/* getopt_long over argv with the command's options.  Returns the option, -1 at
 * the end; handles the common options itself (returns 0 for them) and turns
 * --help into printing usage and 'h'. Unknown options -> '?'. */
int cli_getopt(cli *c, int argc, char **argv, const struct option *opts);

/* Print an error and return its status. */
int cli_fail(cli *c, const prov_err *e);
/* A usage error: message, then the usage text; returns PROV_E_USAGE. */
int cli_usage(cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print usage to stdout and return 0 (for --help). */
int cli_help(cli *c);

/* Open the factory home (prov_home_dir(c->home)), its database as c->open
 * says: a command that only reads works on a read-only home. */
int cli_open(cli *c, unsigned need, prov_home **h);

/* The bundle signer a signature is checked against: --signer PEM when given
 * (path not NULL), else the factory home's, opened into *h.  *signer is the
 * caller's to free.  0, or the exit status of a printed error. */
int cli_signer(cli *c, const char *path, prov_home **h, EVP_PKEY **signer);

/* Record an export of public material (detail: JSON text) in the audit log.
 * On a read-only home (c->open PROV_OPEN_READ_MOSTLY) it cannot be recorded:
 * a note on stderr says so and the export stands (nothing secret left).
 * Exports of secrets audit with prov_records_audit before they print, and fail. */
int cli_audit_public(cli *c, prov_home *h, const char *detail);

/* Write JSON (indented, sorted keys, newline) to stdout; takes the reference. */
int cli_json(cli *c, json_t *j);
/* printf to stdout; output errors are caught by cli_finish. */
void cli_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Outside text for human output: escaped and cut to one line by the rule of
 * prov/escape.h (at most CLI_ESC_MAX - 1 characters).  The result lives in one
 * of CLI_ESC_SLOTS buffers of the calling thread, reused round-robin: enough
 * for the arguments of one cli_out.  NULL gives "-". */
#define CLI_ESC_MAX 256
#define CLI_ESC_SLOTS 8
const char *cli_esc(const char *s);
/* The same for len bytes that may hold anything, NUL included. */
const char *cli_escn(const void *p, size_t len);
/* Flush stdout; a write error turns status into PROV_E_IO with a message. */
int cli_finish(cli *c, int status);

/* Write bytes to --out FILE (atomic, mode) or stdout when path is NULL. */
int cli_write_out(cli *c, const char *path, const void *data, size_t len, unsigned mode);

#endif
