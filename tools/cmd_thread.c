/* cmd_thread.c - prov thread pskc / pskd: Thread network and joiner credentials. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "prov/thread.h"
#include "prov/util.h"

const char usage_thread_pskc[] =
	"usage: prov thread pskc --passphrase P --network-name NAME --xpanid HEX [--json]\n"
	"\n"
	"Print the Thread PSKc (hex, 16 bytes) of a commissioning passphrase: PBKDF2\n"
	"with AES-CMAC-PRF-128 (RFC 4615), 16384 iterations, salt \"Thread\" || xpanid\n"
	"|| network name (Thread specification 8.4.1.2.2).\n"
	"\n"
	"  --passphrase P       6 to 255 bytes\n"
	"  --network-name NAME  1 to 16 bytes\n"
	"  --xpanid HEX         the extended PAN ID, exactly 8 bytes (16 hex digits)\n"
	"Out-of-range values exit 2 with the reason.\n";

const char usage_thread_pskd[] =
	"usage: prov thread pskd [--length N] [--json]\n"
	"       prov thread pskd --check VALUE [--json]\n"
	"\n"
	"Generate a Thread joiner credential (PSKd) from the CSPRNG: N characters\n"
	"(6 to 32, default 16) from 0-9 and A-Z without I, O, Q and Z.  With --check,\n"
	"validate one instead: exit 0 when valid, 3 with the reason when not.\n";

int cmd_thread_pskc(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"passphrase", required_argument, NULL, 'p'},
		{"network-name", required_argument, NULL, 'n'},
		{"xpanid", required_argument, NULL, 'x'},
		{NULL, 0, NULL, 0},
	};
	const char *pass = NULL, *name = NULL, *xhex = NULL;
	uint8_t xpanid[PROV_THREAD_XPANID_LEN + 1], pskc[PROV_THREAD_PSKC_LEN];
	char hex[2 * PROV_THREAD_PSKC_LEN + 1];
	size_t xl = 0;
	prov_err e;
	int ch, rc;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'p': pass = optarg; break;
		case 'n': name = optarg; break;
		case 'x': xhex = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (pass == NULL || name == NULL || xhex == NULL)
		return cli_usage(c, "--passphrase, --network-name and --xpanid are required");
	if (prov_unhex(xhex, xpanid, sizeof(xpanid), &xl) != 0 || xl != PROV_THREAD_XPANID_LEN) {
		prov_err_set(&e, PROV_E_USAGE, "--xpanid: not exactly %d bytes of hex: %s",
		             PROV_THREAD_XPANID_LEN, xhex);
		return cli_fail(c, &e);
	}
	if (prov_thread_pskc(pass, name, xpanid, pskc, &e) != PROV_OK) {
		prov_err_wrap(&e, "%s", e.code == PROV_E_USAGE ? "bad input" : "PSKc");
		return cli_fail(c, &e);
	}
	prov_hex(pskc, sizeof(pskc), hex);
	if (c->json)
		rc = cli_json(c, json_pack("{s:s, s:s, s:s, s:i}", "pskc", hex, "network_name", name,
		                           "xpanid", xhex, "iterations", PROV_THREAD_PSKC_ITERATIONS));
	else {
		cli_out("%s\n", hex);
		rc = 0;
	}
	prov_wipe(pskc, sizeof(pskc));
	prov_wipe(hex, sizeof(hex));
	return cli_finish(c, rc);
}

int cmd_thread_pskd(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"length", required_argument, NULL, 'l'},
		{"check", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	const char *check = NULL, *lstr = NULL;
	char pskd[PROV_THREAD_PSKD_MAX + 1];
	long len = 16;
	prov_err e;
	int ch, rc;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'l': lstr = optarg; break;
		case 'c': check = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (check != NULL) {
		prov_status st;

		if (lstr != NULL)
			return cli_usage(c, "--length applies to generating, not to --check");
		st = prov_thread_pskd_check(check, &e);
		if (c->json)
			return cli_finish(c, st == PROV_OK ? cli_json(c, json_pack("{s:b}", "valid", 1))
			                                   : (cli_json(c, json_pack("{s:b, s:s}", "valid", 0, "reason", e.msg)),
			                                      (int)st));
		if (st != PROV_OK) {
			prov_err_wrap(&e, "invalid PSKd");
			return cli_finish(c, cli_fail(c, &e));
		}
		cli_out("valid\n");
		return cli_finish(c, 0);
	}
	if (lstr != NULL) {
		char *end;

		len = strtol(lstr, &end, 10);
		if (*end != 0 || *lstr == 0 || len < PROV_THREAD_PSKD_MIN || len > PROV_THREAD_PSKD_MAX)
			return cli_usage(c, "--length: not %d to %d: %s", PROV_THREAD_PSKD_MIN,
			                 PROV_THREAD_PSKD_MAX, lstr);
	}
	if (prov_thread_pskd_generate(pskd, (size_t)len, &e) != PROV_OK)
		return cli_fail(c, &e);
	if (c->json)
		rc = cli_json(c, json_pack("{s:s}", "pskd", pskd));
	else {
		cli_out("%s\n", pskd);
		rc = 0;
	}
	prov_wipe(pskd, sizeof(pskd));
	return cli_finish(c, rc);
}
