/* cmd_template.c - prov template check: validate a device template. */
#include <string.h>

#include "commands.h"
#include "prov/escape.h"
#include "prov/template.h"
#include "prov/util.h"

const char usage_template_check[] =
	"usage: prov template check FILE... [--json]\n"
	"\n"
	"Validate templates against schemas/template.schema.json and provkit's own\n"
	"rules (docs/template-format.md).  Errors name the JSON path of the problem,\n"
	"e.g. \"$.credentials[0].slot: must be >= 0\".  Exit 0 when all are valid,\n"
	"3 when one is not.\n";

static const char *kind_name(prov_cred_kind k)
{
	switch (k) {
	case PROV_CRED_CERT: return "certificate";
	case PROV_CRED_PSK: return "psk";
	case PROV_CRED_RPK: return "rpk";
	case PROV_CRED_TRUST: return "trust";
	}
	return "?";
}

int cmd_template_check(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{NULL, 0, NULL, 0},
	};
	json_t *all = json_array();
	int ch, rc = 0;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'h': json_decref(all); return cli_help(c);
		default: json_decref(all); return cli_usage(c, "bad option");
		}
	}
	if (optind == argc) {
		json_decref(all);
		return cli_usage(c, "no template given");
	}
	for (int i = optind; i < argc; i++) {
		prov_template *t = NULL;
		prov_err e;

		if (prov_template_load(argv[i], &t, &e) != PROV_OK) {
			if (c->json)
				json_array_append_new(all, json_pack("{s:o, s:b, s:s}", "file",
				                                     prov_json_text(argv[i], strlen(argv[i])), "valid", 0,
				                                     "error", e.msg));
			else
				fprintf(stderr, "prov: %s: %s\n", c->cmd, e.msg);
			if (rc == 0)
				rc = e.code;
			continue;
		}
		if (c->json) {
			json_t *creds = json_array();
			char hex[65];

			for (size_t k = 0; k < t->n_creds; k++)
				json_array_append_new(creds, json_pack("{s:s, s:I}", "type", kind_name(t->creds[k].kind),
				                                       "slot", (json_int_t)t->creds[k].slot));
			json_array_append_new(all, json_pack("{s:o, s:b, s:s, s:s, s:o, s:s}", "file",
			                                     prov_json_text(argv[i], strlen(argv[i])),
			                                     "valid", 1, "name", t->name, "protocol", t->protocol,
			                                     "credentials", creds, "digest",
			                                     prov_hex(t->digest, sizeof(t->digest), hex)));
		} else {
			cli_out("%s: ok (%s, %s, %zu credential%s)\n", cli_esc(argv[i]), cli_esc(t->name),
			        cli_esc(t->protocol), t->n_creds,
			        t->n_creds == 1 ? "" : "s");
		}
		prov_template_free(t);
	}
	if (c->json) {
		int jr = cli_json(c, all);

		return cli_finish(c, rc != 0 ? rc : jr);
	}
	json_decref(all);
	return cli_finish(c, rc);
}
