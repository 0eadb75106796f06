/* cmd_show.c - prov show: one device, its credentials and their history. */
#include <string.h>

#include "commands.h"
#include "prov/escape.h"
#include "prov/records.h"

const char usage_show[] =
	"usage: prov show ID [--home DIR] [--json]\n"
	"\n"
	"Show a device: status, template, key, certificates, PSK identities (never\n"
	"the keys), raw public keys, bundles, installs and its audit trail, every\n"
	"generation included (\"current\": true marks the one in force).\n"
	"Exit 4 for an unknown device.\n";

/* A string member for people: escaped (cli_esc), "-" when absent. */
static const char *str(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? cli_escn(json_string_value(v), json_string_length(v)) : "-";
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

/* The same facts as --json, laid out for people; no secret is among them. */
static void print_human(json_t *d)
{
	json_t *row;
	size_t i;

	cli_out("device:     %s\nstatus:     %s\ntemplate:   %s\ngeneration: %lld\n"
	        "bundles:    %lld (counter)\nrecipient:  %s\ncreated:    %s\nupdated:    %s\n",
	        str(d, "id"), str(d, "status"), str(d, "template"), num(d, "generation"),
	        num(d, "bundle_counter"),
	        json_is_true(json_object_get(d, "has_recipient_key")) ? "registered" : "none",
	        str(d, "created_at"), str(d, "updated_at"));
	json_array_foreach(json_object_get(d, "keys"), i, row)
		cli_out("key:        gen %lld %s from %s%s\n", num(row, "generation"), str(row, "key_type"),
		        str(row, "origin"), json_is_true(json_object_get(row, "current")) ? " (current)" : "");
	json_array_foreach(json_object_get(d, "certificates"), i, row)
		cli_out("cert:       gen %lld slot %lld serial %s %s until %s%s\n", num(row, "generation"),
		        num(row, "slot"), str(row, "serial"), str(row, "subject"), str(row, "not_after"),
		        json_is_true(json_object_get(row, "current")) ? " (current)" : "");
	json_array_foreach(json_object_get(d, "psks"), i, row)
		cli_out("psk:        gen %lld slot %lld identity \"%s\" %lld bits%s\n", num(row, "generation"),
		        num(row, "slot"), str(row, "identity"), num(row, "bits"),
		        json_is_true(json_object_get(row, "current")) ? " (current)" : "");
	json_array_foreach(json_object_get(d, "raw_keys"), i, row)
		cli_out("rpk:        gen %lld slot %lld%s%s\n", num(row, "generation"), num(row, "slot"),
		        json_is_null(json_object_get(row, "peer_spki")) ? "" : ", server key pinned",
		        json_is_true(json_object_get(row, "current")) ? " (current)" : "");
	json_array_foreach(json_object_get(d, "bundles"), i, row)
		cli_out("bundle:     %lld  %lld bytes  sha256 %.16s...  %s\n", num(row, "counter"),
		        num(row, "size"), str(row, "sha256"), str(row, "created_at"));
	json_array_foreach(json_object_get(d, "installs"), i, row) {
		cli_out("install:    counter %lld at %s", num(row, "counter"), str(row, "installed_at"));
		if (json_is_true(json_object_get(row, "has_receipt")))
			cli_out(", receipt %lld bytes (verified)", num(row, "receipt_size"));
		cli_out("\n");
	}
	json_array_foreach(json_object_get(d, "revocations"), i, row)
		cli_out("revoked:    gen %lld %s%s %s at %s%s\n", num(row, "generation"),
		        json_is_null(json_object_get(row, "serial")) ? "" : "serial ",
		        json_is_null(json_object_get(row, "serial")) ? "(no certificate)" : str(row, "serial"),
		        str(row, "reason"), str(row, "revoked_at"),
		        json_is_true(json_object_get(row, "current")) ? " (current)" : "");
	if (json_is_integer(json_object_get(d, "pending_bundle")))
		cli_out("pending:    bundle %lld issued, not installed\n", num(d, "pending_bundle"));
	json_array_foreach(json_object_get(d, "audit"), i, row) {
		/* The detail as compact JSON (ASCII only), escaped like any outside text. */
		char *detail = json_dumps(json_object_get(row, "detail"),
		                          JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);

		cli_out("audit:      %s %-7s %s\n", str(row, "logged_at"), str(row, "action"),
		        detail != NULL ? cli_esc(detail) : "");
		free(detail);
	}
}

int cmd_show(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	prov_home *h = NULL;
	json_t *out = NULL;
	prov_err e;
	int ch, rc;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (argc - optind != 1)
		return cli_usage(c, "give one device ID");
	rc = cli_open(c, 0, &h);
	if (rc != 0)
		return rc;
	if (prov_records_device_report(h->db, argv[optind], &out, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	if (c->json) {
		rc = cli_json(c, out);
		out = NULL;
	} else {
		print_human(out);
	}
out:
	json_decref(out);
	prov_home_close(h);
	return cli_finish(c, rc);
}
