/*
 * prov.c - the prov command: a table of subcommands, like git's commands[].
 *
 * A subcommand may be two words ("ca export"); argv is shifted so each command
 * sees "prov <name>" as argv[0].  `prov help [COMMAND]` prints usage.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "prov/err.h"
#include "prov/escape.h"
#include "prov/secret.h"

/* How a command opens the factory database (see cli.h, cli_open). */
#define WRITES 0                       /* read-write; a read-only home is an error */
#define READS PROV_OPEN_READONLY       /* never writes: works on a read-only home */
#define AUDITS PROV_OPEN_READ_MOSTLY   /* reads, and records some reads (secrets) */

struct command {
	const char *name;      /* "mint", or "ca" for two-word commands */
	const char *sub;       /* "export", or NULL */
	int (*fn)(int argc, char **argv, cli *c);
	const char *usage;
	const char *summary;
	unsigned open;         /* WRITES, READS or AUDITS */
};

static const struct command commands[] = {
	{"init", NULL, cmd_init, usage_init, "create a factory home: database, CA, bundle signer", WRITES},
	{"ca", "export", cmd_ca_export, usage_ca_export, "print the device CA chain (PEM)", AUDITS},
	{"signer", "export", cmd_signer_export, usage_signer_export, "print the bundle signer's public key (PEM or C header)", AUDITS},
	{"template", "check", cmd_template_check, usage_template_check, "validate a device template", READS},
	{"mint", NULL, cmd_mint, usage_mint, "register devices and issue their credentials", WRITES},
	{"list", NULL, cmd_list, usage_list, "list devices", READS},
	{"show", NULL, cmd_show, usage_show, "show one device: credentials, bundles, history", READS},
	{"export", NULL, cmd_export, usage_export, "export a device's certificate, keys or PSK; PSK tables", AUDITS},
	{"bundle", NULL, cmd_bundle, usage_bundle, "build a device's signed credential bundle", WRITES},
	{"inspect", NULL, cmd_inspect, usage_inspect, "verify and decode a bundle", READS},
	{"trust", "build", cmd_trust_build, usage_trust_build, "cut a root bundle down to a minimal trust store", READS},
	{"trust", "sign", cmd_trust_sign, usage_trust_sign, "sign a trust store for a roots-only device update", WRITES},
	{"trust", "inspect", cmd_trust_inspect, usage_trust_inspect, "check and describe a trust store or a signed one", READS},
	{"receipt", "verify", cmd_receipt_verify, usage_receipt_verify, "check a device's install receipt and record the install", WRITES},
	{"install", NULL, cmd_install, usage_install, "provision devices over serial ports (SMP), many at once", WRITES},
	{"thread", "pskc", cmd_thread_pskc, usage_thread_pskc, "derive a Thread network's PSKc from its passphrase", READS},
	{"db", "migrate", cmd_db_migrate, usage_db_migrate, "move the factory's records into PostgreSQL (stations share it)", READS},
	{"thread", "pskd", cmd_thread_pskd, usage_thread_pskd, "generate or check a Thread joiner credential (PSKd)", READS},
	{"revoke", NULL, cmd_revoke, usage_revoke, "revoke a device's credentials (CRL, PSK table), optionally with a wipe bundle", WRITES},
	{"crl", NULL, cmd_crl, usage_crl, "issue the next certificate revocation list (X.509 v2, signed by the CA)", WRITES},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void overview(FILE *f)
{
	fprintf(f, "usage: prov [--version] <command> [<args>]\n\n"
	           "Credential provisioning for IoT devices (provkit %s).\n\ncommands:\n",
	        PROV_VERSION);
	for (size_t i = 0; i < N_COMMANDS; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%s%s%s", commands[i].name, commands[i].sub ? " " : "",
		         commands[i].sub ? commands[i].sub : "");
		fprintf(f, "  %-16s %s\n", name, commands[i].summary);
	}
	fprintf(f, "\nEvery command takes --home DIR (default $PROV_HOME, else ./factory),\n"
	           "--json where it reports, and --busy-timeout MS for the database lock;\n"
	           "with keys in a PKCS#11 token, --pkcs11-module PATH and --pin-file FILE\n"
	           "(or PROV_PKCS11_MODULE, PROV_PKCS11_PIN).\n"
	           "`prov help COMMAND` or `prov COMMAND --help` shows a command's usage;\n"
	           "`prov help --all` shows every command's.  Exit status: 0 ok, 1 internal,\n"
	           "2 usage, 3 bad input, 4 not found, 5 exists, 6 database, 7 verification\n"
	           "failed, 8 I/O, 9 wrong passphrase/key, 10 database busy, 11 crypto,\n"
	           "12 partial, 16 PKCS#11 token or key, 17 PKCS#11 PIN.\n");
}

static const struct command *find(int argc, char **argv, int *used)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(argv[0], commands[i].name) != 0)
			continue;
		if (commands[i].sub == NULL) {
			*used = 1;
			return &commands[i];
		}
		if (argc > 1 && strcmp(argv[1], commands[i].sub) == 0) {
			*used = 2;
			return &commands[i];
		}
	}
	return NULL;
}

/* Flush stdout; a write error is reported like every command's (tools/cli.c). */
static int finish(const char *what)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "prov: %s: cannot write output: %s\n", what, strerror(errno));
		return PROV_E_IO;
	}
	return 0;
}

static int help(int argc, char **argv)
{
	const struct command *cmd;
	int used;

	if (argc < 1) {
		overview(stdout);
	} else if (strcmp(argv[0], "--all") == 0) {
		overview(stdout);
		for (size_t i = 0; i < N_COMMANDS; i++)
			printf("\n%s", commands[i].usage);
	} else if ((cmd = find(argc, argv, &used)) != NULL) {
		fputs(cmd->usage, stdout);
	} else {
		char esc[256];

		fprintf(stderr, "prov: help: no such command: %s\n", prov_escape_str(esc, sizeof(esc), argv[0]));
		return PROV_E_USAGE;
	}
	return finish("help");
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	char name[64], label[80];
	cli c;
	int used = 0;

#ifdef __GLIBC__
	/* A batch mint allocates and frees many small OpenSSL, libcbor and SQLite
	 * objects per device.  With glibc's default 128 KiB trim threshold the heap
	 * top went back to the kernel about 3 times per device (3,063 brk calls and
	 * their page faults for 1,000 devices, ~3% of the run in perf); keep it. */
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_TOP_PAD, 4 << 20);
#endif
	/* Before OpenSSL allocates anything: its frees wipe, secure heap for the KEK. */
	prov_memory_init();
	if (argc < 2) {
		overview(stderr);
		return PROV_E_USAGE;
	}
	if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return help(argc - 2, argv + 2);
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("prov %s\n", PROV_VERSION);
		return finish("version");
	}
	cmd = find(argc - 1, argv + 1, &used);
	if (cmd == NULL) {
		char w1[256], w2[256];

		fprintf(stderr, "prov: '%s%s%s' is not a prov command; see 'prov help'\n",
		        prov_escape_str(w1, sizeof(w1), argv[1]), argc > 2 && argv[2][0] != '-' ? " " : "",
		        argc > 2 && argv[2][0] != '-' ? prov_escape_str(w2, sizeof(w2), argv[2]) : "");
		return PROV_E_USAGE;
	}
	snprintf(name, sizeof(name), "%s%s%s", cmd->name, cmd->sub ? " " : "", cmd->sub ? cmd->sub : "");
	/* getopt prefixes its own messages ("unrecognized option") with argv[0]:
	 * make that the documented "prov: <command>" rather than the bare name word. */
	snprintf(label, sizeof(label), "prov: %s", name);
	argv[used] = label;
	memset(&c, 0, sizeof(c));
	c.cmd = name;
	c.usage = cmd->usage;
	c.busy_ms = 30000;
	c.open = cmd->open;
	/* The command sees "prov <name>" as argv[0]. */
	return cmd->fn(argc - used, argv + used, &c);
}
