/* cmd_init.c - prov init: create a factory home. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "prov/escape.h"
#include "prov/home.h"
#include "prov/p11.h"
#include "prov/util.h"
#include "prov/x509.h"

const char usage_init[] =
	"usage: prov init [--home DIR] [--ca-subject DN] [--key-type p256|p384|ed25519]\n"
	"                 [--ca-cert FILE --ca-key FILE] [--signer-key FILE] [--db postgresql://...]\n"
	"                 [--station NAME] [--keys-from DIR] [--json]\n"
	"       prov init [--home DIR] --ca-key pkcs11:URI [--ca-cert FILE | --ca-subject DN]\n"
	"                 [--signer-key pkcs11:URI|FILE] [--pkcs11-generate]\n"
	"                 [--pkcs11-module PATH] [--pin-file FILE] [--db postgresql://...] [--json]\n"
	"\n"
	"Create a factory home (default $PROV_HOME, else ./factory): the database\n"
	"prov.db, a device-issuing CA, a separate bundle-signing key (P-256) and a\n"
	"key-encryption key for secrets at rest.  With PROV_PASSPHRASE set, the\n"
	"private keys are encrypted with it and the key-encryption key is derived\n"
	"from it (scrypt); every later command that needs a secret needs it too.\n"
	"An empty PROV_PASSPHRASE is refused (exit 2), not taken for none.\n"
	"\n"
	"  --ca-subject DN    subject of a new self-signed CA (RFC 4514 order, e.g.\n"
	"                     \"CN=Acme Device CA,O=Acme\")\n"
	"  --key-type T       the new CA's key type (default p256)\n"
	"  --ca-cert FILE     import an existing CA certificate (PEM, may be followed\n"
	"                     by its chain) instead of making one ...\n"
	"  --ca-key FILE      ... with its private key; they must match\n"
	"  --ca-key pkcs11:URI  the CA's key in a PKCS#11 token (RFC 7512 URI, e.g.\n"
	"                     'pkcs11:token=factory;object=ca'): a new CA certificate\n"
	"                     is made with it, or --ca-cert is checked against it\n"
	"  --signer-key pkcs11:URI|FILE  the bundle signer's P-256 key in a token, or\n"
	"                     from a key file (default: a new key file)\n"
	"  --pkcs11-generate  make both keys in the token (P-256, sensitive, not\n"
	"                     extractable), labelled with the URIs' object=\n"
	"  --pkcs11-module PATH  the token's PKCS#11 module (default\n"
	"                     $PROV_PKCS11_MODULE); recorded in the home\n"
	"  --pin-file FILE    the token's user PIN, first line (default\n"
	"                     $PROV_PKCS11_PIN; never on the command line)\n"
	"  --db URI           keep the records in PostgreSQL (a libpq URI, no password\n"
	"                     in it: PGPASSFILE or ~/.pgpass), shared by stations;\n"
	"                     default $PROV_DB, else prov.db in the home (SQLite)\n"
	"  --station NAME     this station's name, in every audit row (default main)\n"
	"  --keys-from DIR    join the factory already in --db: its ca.pem, ca.key,\n"
	"                     signer.key, signer.pub.pem and kek, copied from DIR (the\n"
	"                     first station's home, carried over by hand), checked\n"
	"                     against the database; keys never go through it\n"
	"\n"
	"A token's key never leaves it: the home records its URI and the module,\n"
	"not the PIN (docs/pkcs11.md).  Exit 16: module not found, token absent,\n"
	"key not found or of the wrong type; 17: PIN missing, wrong or locked (one\n"
	"login attempt, never retried).\n"
	"Refuses to touch an existing, non-empty directory (exit 5).\n";

int cmd_init(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"ca-subject", required_argument, NULL, 's'},
		{"key-type", required_argument, NULL, 'k'},
		{"ca-cert", required_argument, NULL, 'c'},
		{"ca-key", required_argument, NULL, 'K'},
		{"signer-key", required_argument, NULL, 'S'},
		{"pkcs11-generate", no_argument, NULL, 'G'},
		{"db", required_argument, NULL, 'D'},
		{"station", required_argument, NULL, 'T'},
		{"keys-from", required_argument, NULL, 'F'},
		{NULL, 0, NULL, 0},
	};
	prov_init_opts o;
	prov_home *h = NULL;
	prov_err e;
	char kid[17];
	int ch, rc;
	const char *pass = getenv("PROV_PASSPHRASE");

	memset(&o, 0, sizeof(o));
	o.key_type = PROV_KEY_NONE;
	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 's': o.ca_subject = optarg; break;
		case 'k':
			o.key_type = prov_key_type_parse(optarg);
			if (o.key_type == PROV_KEY_NONE)
				return cli_usage(c, "--key-type: unknown key type \"%s\" (p256, p384, ed25519)", optarg);
			break;
		case 'c': o.ca_cert = optarg; break;
		case 'K': o.ca_key = optarg; break;
		case 'S': o.signer_key = optarg; break;
		case 'G': o.pkcs11_generate = 1; break;
		case 'D': o.db = optarg; break;
		case 'T': o.station = optarg; break;
		case 'F': o.keys_from = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (o.ca_cert != NULL && o.ca_key == NULL)
		return cli_usage(c, "--ca-cert and --ca-key go together");
	if (o.ca_key != NULL && o.ca_cert == NULL && !prov_p11_is_uri(o.ca_key))
		return cli_usage(c, "--ca-cert and --ca-key go together (or --ca-key pkcs11:URI)");
	if (o.ca_cert != NULL && o.ca_subject != NULL)
		return cli_usage(c, "--ca-subject makes a new CA; it does not apply with --ca-cert");
	if (o.pkcs11_generate && (!prov_p11_is_uri(o.ca_key) || !prov_p11_is_uri(o.signer_key)))
		return cli_usage(c, "--pkcs11-generate needs --ca-key and --signer-key as pkcs11: URIs "
		                    "(object=LABEL)");
	o.pkcs11_module = c->token.module;
	o.pin_file = c->token.pin_file;
	if (o.db == NULL && getenv("PROV_DB") != NULL && *getenv("PROV_DB") != 0)
		o.db = getenv("PROV_DB");
	o.dir = prov_home_dir(c->home);
	o.passphrase = pass; /* "" is refused by prov_home_init, not taken for none */
	if (prov_home_init(&o, &e) != PROV_OK)
		return cli_fail(c, &e);
	rc = cli_open(c, PROV_NEED_CA_CERT, &h);
	if (rc != 0)
		return rc;
	prov_hex(h->signer_kid, sizeof(h->signer_kid), kid);
	{
		char *subj = prov_x509_name_text(X509_get_subject_name(h->ca));

		if (c->json)
			rc = cli_json(c, json_pack("{s:o, s:o?, s:s, s:b, s:b, s:s, s:s, s:b}", "home",
			                           prov_json_text(o.dir, strlen(o.dir)),
			                           "ca_subject", subj != NULL ? prov_json_text(subj, strlen(subj)) : NULL,
			                           "signer_kid", kid, "ca_imported", o.ca_cert != NULL,
			                           "passphrase", o.passphrase != NULL, "station", h->station,
			                           "database", prov_db_engine_name(h->db), "joined", o.keys_from != NULL));
		else
			cli_out("%s factory home %s\n  CA:     %s%s\n  signer: kid %s\n  secrets: %s\n"
			        "  records: %s, station %s\n",
			        o.keys_from != NULL ? "joined the factory: station home" : "created", cli_esc(o.dir),
			        subj != NULL ? cli_esc(subj) : "?", o.ca_cert != NULL ? " (imported)" : "", kid,
			        o.passphrase != NULL ? "key derived from PROV_PASSPHRASE" : "key file kek (0600)",
			        o.db != NULL ? "PostgreSQL" : "prov.db (SQLite)", h->station);
		free(subj);
	}
	prov_home_close(h);
	return cli_finish(c, rc);
}
