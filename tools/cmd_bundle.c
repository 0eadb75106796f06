/* cmd_bundle.c - prov bundle: build a device's signed credential bundle. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "prov/escape.h"
#include "prov/bundle.h"
#include "prov/db.h"
#include "prov/util.h"

const char usage_bundle[] =
	"usage: prov bundle --device ID --out FILE [--recipient-key PUB.pem] [--nonce HEX]\n"
	"                   [--insecure-plaintext-secrets] [--trust FILE] [--json]\n"
	"       prov bundle --device ID --wipe --out FILE [--nonce HEX] [--json]\n"
	"\n"
	"Write the device's credentials as a COSE_Sign1 bundle signed by the factory\n"
	"signer (docs/bundle-format.md).  Each bundle gets the next value of the\n"
	"device's counter, so a device refuses older ones.  Secrets (PSK, host-made\n"
	"key) are encrypted to the device's key: the one registered at mint, or\n"
	"--recipient-key.  Without one, a bundle with secrets is refused unless\n"
	"--insecure-plaintext-secrets (lab only; prints a warning).\n"
	"\n"
	"  --nonce HEX   bind the bundle to the device's session nonce (8-32 bytes)\n"
	"  --wipe        a signed wipe bundle: no credentials; the device erases its own\n"
	"  --trust FILE  trust anchors for the template's trust slot (a store from prov\n"
	"                trust build, or PEM/DER roots), replacing the device's; recorded,\n"
	"                so its later bundles keep them\n"
	"  --out FILE    written atomically, mode 0600\n";

int cmd_bundle(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"device", required_argument, NULL, 'd'},
		{"out", required_argument, NULL, 'o'},
		{"recipient-key", required_argument, NULL, 'r'},
		{"nonce", required_argument, NULL, 'n'},
		{"insecure-plaintext-secrets", no_argument, NULL, 'I'},
		{"wipe", no_argument, NULL, 'W'},
		{"trust", required_argument, NULL, 'T'},
		{NULL, 0, NULL, 0},
	};
	const char *dev = NULL, *out = NULL, *recip = NULL, *nonce_hex = NULL;
	uint8_t nonce[PROV_NONCE_MAX], *buf = NULL;
	size_t len = 0;
	prov_bundle_opts o;
	prov_bundle_info info;
	prov_home *h = NULL;
	prov_err e;
	prov_status st;
	char hex[65];
	int ch, rc;

	memset(&o, 0, sizeof(o));
	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'd': dev = optarg; break;
		case 'o': out = optarg; break;
		case 'r': recip = optarg; break;
		case 'n': nonce_hex = optarg; break;
		case 'I': o.insecure_plaintext = 1; break;
		case 'W': o.wipe = 1; break;
		case 'T': o.trust_file = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (dev == NULL || out == NULL)
		return cli_usage(c, "--device and --out are required");
	if (nonce_hex != NULL) {
		if (prov_unhex(nonce_hex, nonce, sizeof(nonce), &o.nonce_len) != 0 ||
		    o.nonce_len < PROV_NONCE_MIN)
			return cli_usage(c, "--nonce: not %d to %d bytes of hex: %s", PROV_NONCE_MIN,
			                 PROV_NONCE_MAX, nonce_hex);
		o.nonce = nonce;
	}
	if (o.wipe && o.trust_file != NULL)
		return cli_usage(c, "--wipe carries no credentials: no --trust");
	if (o.wipe && (recip != NULL || o.insecure_plaintext))
		return cli_usage(c, "--wipe carries no secrets: no --recipient-key or --insecure-plaintext-secrets");
	if (recip != NULL && o.insecure_plaintext)
		return cli_usage(c, "--recipient-key and --insecure-plaintext-secrets exclude each other");
	if (recip != NULL && prov_key_load_public(recip, &o.recipient, &e) != PROV_OK)
		return cli_fail(c, &e);
	rc = cli_open(c, o.wipe ? PROV_NEED_SIGNER : PROV_NEED_SIGNER | PROV_NEED_KEK | PROV_NEED_CA_CERT, &h);
	if (rc != 0)
		goto out;
	st = prov_db_begin(h->db, &e);
	if (st == PROV_OK)
		st = prov_bundle_build(h, dev, &o, &buf, &len, &info, &e);
	/* The file first, then the commit: a failed write rolls the counter back;
	 * a failed commit removes the file. */
	if (st == PROV_OK)
		st = prov_file_write(out, buf, len, 0600, 0, &e);
	if (st == PROV_OK && (st = prov_db_commit(h->db, &e)) != PROV_OK)
		remove(out);
	if (st != PROV_OK) {
		prov_db_rollback(h->db);
		rc = cli_fail(c, &e);
		goto out;
	}
	if (info.plaintext_secrets)
		fprintf(stderr, "prov: %s: warning: %d secret%s of %s stored UNENCRYPTED in %s (lab use only)\n",
		        c->cmd, info.n_secrets, info.n_secrets == 1 ? "" : "s", cli_esc(dev), cli_esc(out));
	prov_hex(info.sha256, sizeof(info.sha256), hex);
	if (c->json)
		rc = cli_json(c, json_pack("{s:s, s:o, s:I, s:I, s:I, s:i, s:b, s:s, s:b}", "device", dev, "file",
		                           prov_json_text(out, strlen(out)),
		                           "counter", (json_int_t)info.counter, "size", (json_int_t)len,
		                           "entries", (json_int_t)info.n_entries, "secrets", info.n_secrets,
		                           "plaintext_secrets", info.plaintext_secrets, "sha256", hex,
		                           "wipe", o.wipe));
	else if (o.wipe)
		cli_out("wrote %s: wipe bundle %llu for %s, %zu bytes\n", cli_esc(out), info.counter, cli_esc(dev), len);
	else
		cli_out("wrote %s: bundle %llu for %s, %zu entries, %zu bytes\n", cli_esc(out), info.counter,
		        cli_esc(dev), info.n_entries, len);
out:
	if (buf != NULL)
		prov_wipe(buf, len); /* a lab bundle carries plaintext secrets */
	free(buf);
	EVP_PKEY_free(o.recipient);
	prov_home_close(h);
	return cli_finish(c, rc);
}
