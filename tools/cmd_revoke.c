/* cmd_revoke.c - prov revoke: revoke a device's credentials; prov crl: the
 * certificate revocation list. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "prov/escape.h"
#include "prov/revoke.h"
#include "prov/util.h"
#include "prov/x509.h"

const char usage_revoke[] =
	"usage: prov revoke [--home DIR] --device ID [--reason REASON] [--wipe --out FILE] [--json]\n"
	"\n"
	"Revoke a device's current credentials: its certificates go on the next CRL\n"
	"(prov crl), its PSKs leave prov export psk-table, and it lists as revoked.\n"
	"Final and audited.  A later prov mint --rotate issues new credentials.\n"
	"\n"
	"  --reason R   RFC 5280 CRLReason: unspecified (default), keyCompromise,\n"
	"               cACompromise, affiliationChanged, superseded,\n"
	"               cessationOfOperation, privilegeWithdrawn, aACompromise\n"
	"  --wipe       also issue a signed wipe bundle (as prov bundle --wipe), written\n"
	"               to --out FILE: the device erases its credentials\n"
	"\n"
	"Exit: 0 revoked, 4 unknown device, 5 already revoked, 2 bad reason; 16/17\n"
	"a bundle signer in a PKCS#11 token that cannot be used (docs/cli.md).\n";

const char usage_crl[] =
	"usage: prov crl [--home DIR] [--out FILE] [--next-update DAYS] [--der] [--json]\n"
	"\n"
	"Issue the next certificate revocation list (X.509 v2, RFC 5280): every\n"
	"revoked device certificate, signed by the device CA (its key file or its\n"
	"PKCS#11 token), with a CRL number one above the last one issued.  PEM to\n"
	"standard output or --out FILE; --der for DER.  --next-update: days until the\n"
	"next one is due (default 7, at most 3650).  --json reports it on standard\n"
	"output (then --out is required).\n";

int cmd_revoke(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"device", required_argument, NULL, 'd'},
		{"reason", required_argument, NULL, 'r'},
		{"wipe", no_argument, NULL, 'W'},
		{"out", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0},
	};
	const char *dev = NULL, *reason = "unspecified", *out = NULL;
	prov_revoke_result res;
	prov_home *h = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	prov_err e;
	int ch, rc, wipe = 0;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'd': dev = optarg; break;
		case 'r': reason = optarg; break;
		case 'W': wipe = 1; break;
		case 'o': out = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (dev == NULL)
		return cli_usage(c, "--device is required");
	if (prov_crl_reason_parse(reason) < 0)
		return cli_usage(c, "--reason: \"%s\" is not one of %s", reason, prov_crl_reason_names());
	if (wipe != (out != NULL))
		return cli_usage(c, "--wipe and --out go together (the wipe bundle's file)");
	rc = cli_open(c, wipe ? PROV_NEED_SIGNER : 0, &h);
	if (rc != 0)
		return rc;
	if (prov_revoke_device(h, dev, reason, wipe, &buf, &len, &res, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	/* The revocation stands even if the file cannot be written: the wipe
	 * bundle is recorded, prov export --what bundle gives it again. */
	if (wipe && prov_file_write(out, buf, len, 0600, 0, &e) != PROV_OK) {
		prov_err_wrap(&e, "revoked, but the wipe bundle (counter %llu) was not written "
		              "(prov export --device %s --what bundle gives it)", res.wipe_counter, dev);
		rc = cli_fail(c, &e);
		goto out;
	}
	if (c->json)
		rc = cli_json(c, json_pack("{s:o, s:i, s:s, s:i, s:o}", "device", prov_json_text(dev, strlen(dev)),
		                           "generation", res.generation, "reason", reason, "certificates",
		                           res.certificates,
		                           "wipe_counter", wipe ? json_integer((json_int_t)res.wipe_counter)
		                                                : json_null()));
	else {
		cli_out("revoked %s (generation %d, %s): %d certificate%s for the next CRL\n", cli_esc(dev),
		        res.generation, reason, res.certificates, res.certificates == 1 ? "" : "s");
		if (wipe)
			cli_out("wrote %s: wipe bundle %llu for %s, %zu bytes\n", cli_esc(out), res.wipe_counter,
			        cli_esc(dev), len);
	}
out:
	free(buf);
	prov_home_close(h);
	return cli_finish(c, rc);
}

int cmd_crl(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"out", required_argument, NULL, 'o'},
		{"next-update", required_argument, NULL, 'n'},
		{"der", no_argument, NULL, 'D'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	prov_crl_info info;
	prov_home *h = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	prov_err e;
	long days = 7;
	int ch, rc, der = 0;
	char *end;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'o': out = optarg; break;
		case 'n':
			days = strtol(optarg, &end, 10);
			if (*optarg == 0 || *end != 0 || days < 1 || days > 3650)
				return cli_usage(c, "--next-update: \"%s\" is not a number of days 1..3650", optarg);
			break;
		case 'D': der = 1; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (c->json && out == NULL)
		return cli_usage(c, "--json reports on standard output: give --out FILE for the CRL");
	rc = cli_open(c, PROV_NEED_CA, &h);
	if (rc != 0)
		return rc;
	if (prov_crl_issue(h, (int)days, der, &buf, &len, &info, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	rc = cli_write_out(c, out, buf, len, 0644);
	if (rc == 0 && c->json)
		rc = cli_json(c, json_pack("{s:I, s:I, s:I, s:I, s:o, s:s}", "crl_number", (json_int_t)info.number,
		                           "entries", (json_int_t)info.entries, "this_update",
		                           (json_int_t)info.this_update, "next_update", (json_int_t)info.next_update,
		                           "file", prov_json_text(out, strlen(out)), "format", der ? "der" : "pem"));
	else if (rc == 0 && out != NULL)
		fprintf(stderr, "prov: crl: wrote %s: CRL %lld, %zu revoked certificate%s\n", cli_esc(out),
		        (long long)info.number, info.entries, info.entries == 1 ? "" : "s");
out:
	free(buf);
	prov_home_close(h);
	return cli_finish(c, rc);
}
