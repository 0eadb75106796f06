/* cmd_list.c - prov list: the factory's devices. */
#include <string.h>

#include "commands.h"
#include "prov/escape.h"
#include "prov/records.h"
#include "prov/util.h"

const char usage_list[] =
	"usage: prov list [--home DIR] [--status minted|bundled|installed|pending|revoked]\n"
	"                 [--station NAME] [--json]\n"
	"\n"
	"List devices: ID, status, credential generation, bundle counter, template.\n"
	"--status pending: devices whose newest bundle is issued but not installed\n"
	"(a `prov install` interrupted, or a bundle not yet delivered).\n"
	"--status revoked: devices whose current generation is revoked (prov revoke);\n"
	"such a device lists as revoked whatever else it is.\n"
	"--station NAME: devices minted at that station (its audit row names it).\n"
	"--json prints {\"count\": N, \"devices\": [{\"id\", \"status\", \"generation\",\n"
	"\"bundle_counter\", \"template\", \"created_at\", \"updated_at\"}]}.\n";

/* A text column as JSON: database rows are outside data too; text that is not
 * valid UTF-8 is given escaped rather than dropping the row (prov_json_text). */
static json_t *text_json(const char *t, size_t n)
{
	return t != NULL ? prov_json_text(t, n) : json_null();
}

struct list_ctx {
	cli *c;
	json_t *arr;
	size_t n;
};

static prov_status one(void *ctx, const prov_rec_listed *d, prov_err *e)
{
	struct list_ctx *l = ctx;
	char ca[21], ua[21];

	(void)e;
	l->n++;
	if (l->c->json)
		json_array_append_new(l->arr, json_pack("{s:o, s:o, s:I, s:I, s:o, s:s, s:s}", "id",
		                                        text_json(d->id, d->id_len), "status",
		                                        text_json(d->status, d->status_len), "generation",
		                                        (json_int_t)d->generation, "bundle_counter",
		                                        (json_int_t)d->bundle_counter, "template",
		                                        text_json(d->template_name, d->template_name_len),
		                                        "created_at", prov_time_iso(d->created_at, ca),
		                                        "updated_at", prov_time_iso(d->updated_at, ua)));
	else
		/* For people: cli_escn, every byte, a NUL included. */
		cli_out("%-24s %-10s %4lld %8lld  %s\n", cli_escn(d->id, d->id != NULL ? d->id_len : 0),
		        cli_escn(d->status, d->status != NULL ? d->status_len : 0), (long long)d->generation,
		        (long long)d->bundle_counter,
		        cli_escn(d->template_name, d->template_name != NULL ? d->template_name_len : 0));
	return PROV_OK;
}

int cmd_list(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"status", required_argument, NULL, 's'},
		{"station", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0},
	};
	const char *status = NULL, *station = NULL;
	prov_home *h = NULL;
	struct list_ctx l = {c, NULL, 0};
	prov_err e;
	int ch, rc;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 's': status = optarg; break;
		case 'S': station = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (status != NULL && strcmp(status, "minted") != 0 && strcmp(status, "bundled") != 0 &&
	    strcmp(status, "installed") != 0 && strcmp(status, "pending") != 0 &&
	    strcmp(status, "revoked") != 0)
		return cli_usage(c, "--status: \"%s\" is not minted, bundled, installed, pending or revoked", status);
	rc = cli_open(c, 0, &h);
	if (rc != 0)
		return rc;
	l.arr = json_array();
	if (!c->json)
		cli_out("%-24s %-10s %4s %8s  %s\n", "DEVICE", "STATUS", "GEN", "BUNDLES", "TEMPLATE");
	if (prov_records_devices(h->db, status, station, one, &l, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	if (c->json)
		rc = cli_json(c, json_pack("{s:I, s:O}", "count", (json_int_t)l.n, "devices", l.arr));
out:
	json_decref(l.arr);
	prov_home_close(h);
	return cli_finish(c, rc);
}
