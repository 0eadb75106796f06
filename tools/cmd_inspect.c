/* cmd_inspect.c - prov inspect: verify and decode a bundle. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "prov/bundle.h"
#include "prov/escape.h"
#include "prov/keys.h"
#include "prov/util.h"

const char usage_inspect[] =
	"usage: prov inspect FILE [--signer PEM] [--json]\n"
	"\n"
	"Verify a bundle's signature (against this factory's signer, or --signer)\n"
	"and its payload against schemas/bundle.cddl, then print its contents.\n"
	"Secrets are shown as encrypted (recipient key ID and algorithm), never in\n"
	"the clear.  Exit 0 when valid, 7 when the signature does not verify\n"
	"(tampered, or from another factory), 3 when it is not a well-formed bundle.\n";

/* A string member for people: escaped (cli_esc), "-" when absent. */
static const char *str(json_t *o, const char *k)
{
	return cli_esc(json_string_value(json_object_get(o, k)));
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* "SECONDS" of a time, then its date, or a note when no date can show it. */
static void print_time(const char *label, json_t *o, const char *iso_key, const char *sec_key)
{
	uint64_t t = 0;

	if (json_is_string(json_object_get(o, iso_key)))
		cli_out("%s%s\n", label, str(o, iso_key));
	else if (prov_json_get_u64(json_object_get(o, sec_key), &t) == 0)
		cli_out("%s%llu (seconds since 1970; after 9999-12-31, not shown as a date)\n", label,
		        (unsigned long long)t);
	else
		cli_out("%s-\n", label);
}

/* The same facts as --json, for people: every string from the bundle escaped. */
static void print_human(json_t *j)
{
	json_t *sig = json_object_get(j, "signature"), *ents = json_object_get(j, "entries"), *en;
	json_t *tls = json_object_get(j, "tls"), *sec = json_object_get(j, "secrets");
	uint64_t counter = 0;
	size_t i;

	cli_out("signature: %s", str(sig, "status"));
	if (json_object_get(sig, "kid") != NULL)
		cli_out(" (%s, kid %s)", str(sig, "alg"), str(sig, "kid"));
	prov_json_get_u64(json_object_get(j, "counter"), &counter);
	cli_out("\ndevice:    %s\ncounter:   %llu\n", str(j, "device"), (unsigned long long)counter);
	print_time("issued at: ", j, "issued_at", "issued_at_seconds");
	cli_out("nonce:     %s\nsize:      %lld bytes\n", str(j, "nonce"), num(j, "size"));
	if (json_is_true(json_object_get(j, "wipe")))
		cli_out("wipe:      yes: installing it erases the device's credentials\n");
	json_array_foreach(ents, i, en) {
		json_t *certs = json_object_get(en, "certificates"), *ce;
		size_t k;

		cli_out("entry:     slot %lld %s", num(en, "slot"), str(en, "type"));
		if (json_object_get(en, "alg") != NULL)
			cli_out(" %s", str(en, "alg"));
		if (json_object_get(en, "identity") != NULL)
			cli_out(" identity \"%s\"", str(en, "identity"));
		if (json_is_true(json_object_get(en, "encrypted")))
			cli_out(" [secret %lld, encrypted]", num(en, "secret_index"));
		else if (json_is_true(json_object_get(en, "plaintext_secret")))
			cli_out(" [secret %lld, PLAINTEXT]", num(en, "secret_index"));
		else if (json_is_array(json_object_get(en, "anchors")))
			cli_out(" (%lld bytes, %zu anchors)", num(en, "size"), json_array_size(json_object_get(en, "anchors")));
		else
			cli_out(" (%lld bytes)", num(en, "size"));
		cli_out("\n");
		json_array_foreach(certs, k, ce)
			cli_out("             %s, serial %s, until %s\n", str(ce, "subject"), str(ce, "serial"),
			        str(ce, "not_after"));
	}
	if (json_is_object(sec) && json_is_true(json_object_get(sec, "encrypted")))
		cli_out("secrets:   %lld, encrypted %s (%s) to kid %s\n", num(sec, "count"), str(sec, "content_alg"),
		        str(sec, "key_agreement"), str(sec, "recipient_kid"));
	else if (json_is_object(sec))
		cli_out("secrets:   %lld, NOT ENCRYPTED (lab bundle)\n", num(sec, "count"));
	if (json_is_object(tls)) {
		/* The profile as compact JSON (ASCII only), escaped like any outside text. */
		char *t = prov_json_dump(tls, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		size_t n = t != NULL ? strlen(t) : 0;
		char *esc = t != NULL ? malloc(n * PROV_ESCAPE_MAX + 1) : NULL;

		cli_out("tls:       %s\n", esc != NULL ? prov_escape(esc, n * PROV_ESCAPE_MAX + 1, t, n) : "?");
		free(esc);
		free(t);
	}
}

int cmd_inspect(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"signer", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	const char *signer_path = NULL, *file;
	EVP_PKEY *signer = NULL;
	prov_home *h = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *j = NULL;
	prov_err e;
	prov_status st;
	int ch, rc = 0;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 's': signer_path = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (argc - optind != 1)
		return cli_usage(c, "give one bundle file");
	file = argv[optind];
	rc = cli_signer(c, signer_path, &h, &signer);
	if (rc != 0)
		return rc;
	if (prov_file_read(file, PROV_BUNDLE_MAX + 1, &buf, &len, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	st = prov_bundle_inspect(buf, len, &signer, 1, &j, &e);
	if (j != NULL) {
		json_object_set_new(j, "file", prov_json_text(file, strlen(file)));
		if (c->json) {
			rc = cli_json(c, j);
			j = NULL;
		} else {
			print_human(j);
		}
	}
	if (st != PROV_OK)
		rc = cli_fail(c, &e);
out:
	json_decref(j);
	free(buf);
	EVP_PKEY_free(signer);
	prov_home_close(h);
	return cli_finish(c, rc);
}
