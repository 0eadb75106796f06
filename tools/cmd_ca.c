/* cmd_ca.c - prov ca export: the device CA chain as PEM. */
#include <openssl/pem.h>
#include <string.h>

#include "commands.h"
#include "prov/db.h"

const char usage_ca_export[] =
	"usage: prov ca export [--home DIR] [--out FILE]\n"
	"\n"
	"Print the device-issuing CA certificate followed by its chain (PEM): what a\n"
	"server needs to verify device certificates (e.g. openssl s_server -CAfile).\n";

int cmd_ca_export(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"out", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL;
	prov_home *h = NULL;
	BIO *b = NULL;
	BUF_MEM *m;
	prov_err e;
	int ch, rc;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'o': out = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	rc = cli_open(c, PROV_NEED_CA_CERT, &h);
	if (rc != 0)
		return rc;
	b = BIO_new(BIO_s_mem());
	for (int i = 0; b != NULL && i < sk_X509_num(h->ca_chain); i++)
		PEM_write_bio_X509(b, sk_X509_value(h->ca_chain, i));
	if (b == NULL) {
		prov_err_set(&e, PROV_E_INTERNAL, "out of memory");
		rc = cli_fail(c, &e);
		goto out;
	}
	BIO_get_mem_ptr(b, &m);
	rc = cli_write_out(c, out, m->data, m->length, 0644);
	if (rc == 0)
		rc = cli_audit_public(c, h, "{\"what\":\"ca-chain\"}");
out:
	BIO_free(b);
	prov_home_close(h);
	return cli_finish(c, rc);
}
