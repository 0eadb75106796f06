/* cmd_receipt.c - prov receipt verify: check a device's install receipt and
 * record the install. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "prov/db.h"
#include "prov/escape.h"
#include "prov/receipt.h"
#include "prov/util.h"

const char usage_receipt_verify[] =
	"usage: prov receipt verify FILE [--home DIR] [--json]\n"
	"\n"
	"Check an install receipt written by the device agent (docs/receipt-format.md):\n"
	"its signature with the device's registered key (the --recipient-key given at\n"
	"mint), then that the factory issued that device a bundle with that counter,\n"
	"whose manifest digest (SHA-256 of the bundle's payload) and nonce it names.\n"
	"Records the install (installs table, status 'installed', audit 'install') in\n"
	"one transaction.  A receipt recorded before is reported and adds nothing.\n"
	"Exit 0 recorded or already recorded; 3 not a receipt; 4 unknown device, no\n"
	"registered key, no such bundle, or a lab bundle that was not stored;\n"
	"7 another key, bad signature, or a digest or nonce that does not match.\n";

int cmd_receipt_verify(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	const char *file;
	prov_home *h = NULL;
	prov_receipt r;
	uint8_t *buf = NULL;
	size_t len = 0;
	char digest[2 * PROV_RECEIPT_DIGEST_LEN + 1], nonce[2 * sizeof(r.nonce) + 1], kid[17];
	prov_err e;
	prov_status st;
	int ch, rc = 0;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (argc - optind != 1)
		return cli_usage(c, "give one receipt file");
	file = argv[optind];
	if (prov_file_read(file, PROV_RECEIPT_MAX, &buf, &len, &e) != PROV_OK)
		return cli_fail(c, &e);
	rc = cli_open(c, 0, &h);
	if (rc != 0)
		goto out;
	st = prov_db_begin(h->db, &e);
	if (st == PROV_OK)
		st = prov_receipt_record(h, buf, len, &r, &e);
	if (st == PROV_OK)
		st = prov_db_commit(h->db, &e);
	if (st != PROV_OK) {
		prov_db_rollback(h->db);
		rc = cli_fail(c, &e);
		goto out;
	}
	prov_hex(r.digest, sizeof(r.digest), digest);
	prov_hex(r.nonce, r.nonce_len, nonce);
	prov_hex(r.kid, sizeof(r.kid), kid);
	if (c->json)
		rc = cli_json(c, json_pack("{s:o, s:s, s:o, s:s, s:s?, s:s, s:b, s:b, s:b}", "file",
		                           prov_json_text(file, strlen(file)), "device", r.device, "counter",
		                           prov_json_u64(r.counter), "digest",
		                           digest, "nonce", r.nonce_len ? nonce : NULL, "kid", kid,
		                           "recorded", !r.already, "already_recorded", r.already, "wipe",
		                           r.wipe));
	else if (r.already)
		cli_out("%s: install of bundle %llu on %s already recorded; nothing added\n", cli_esc(file),
		        r.counter, cli_esc(r.device));
	else
		cli_out("%s: valid; recorded install of %sbundle %llu on %s (digest %.16s...)\n", cli_esc(file),
		        r.wipe ? "wipe " : "", r.counter, cli_esc(r.device), digest);
out:
	free(buf);
	prov_home_close(h);
	return cli_finish(c, rc);
}
