/* cmd_list.c - prov list: the factory's devices. */
#include <string.h>

#include "commands.h"
#include "prov/db.h"
#include "prov/escape.h"
#include "prov/util.h"

const char usage_list[] =
	"usage: prov list [--home DIR] [--status minted|bundled|installed|pending] [--json]\n"
	"\n"
	"List devices: ID, status, credential generation, bundle counter, template.\n"
	"--status pending: devices whose newest bundle is issued but not installed\n"
	"(a `prov install` interrupted, or a bundle not yet delivered).\n"
	"--json prints {\"count\": N, \"devices\": [{\"id\", \"status\", \"generation\",\n"
	"\"bundle_counter\", \"template\", \"created_at\", \"updated_at\"}]}.\n";

/* A text column as JSON: database rows are outside data too; text that is not
 * valid UTF-8 is given escaped rather than dropping the row (prov_json_text). */
static json_t *text_json(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t != NULL ? prov_json_text(t, (size_t)sqlite3_column_bytes(s, i)) : json_null();
}

/* The same for people (cli_escn: every byte, a NUL included). */
static const char *col_esc(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return cli_escn(t, t != NULL ? (size_t)sqlite3_column_bytes(s, i) : 0);
}

int cmd_list(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"status", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	static const char sql[] =
		"SELECT d.id, d.status, d.generation, d.bundle_counter, t.name, d.created_at, d.updated_at "
		"FROM devices d JOIN templates t ON t.digest = d.template "
		"WHERE ?1 IS NULL OR d.status = ?1 OR (?1 = 'pending' AND d.bundle_counter > "
		"COALESCE((SELECT MAX(i.counter) FROM installs i WHERE i.device_id = d.id), 0)) ORDER BY d.id";
	const char *status = NULL;
	prov_home *h = NULL;
	sqlite3_stmt *s = NULL;
	json_t *arr = NULL;
	prov_err e;
	int ch, rc, sr;
	size_t n = 0;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 's': status = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (status != NULL && strcmp(status, "minted") != 0 && strcmp(status, "bundled") != 0 &&
	    strcmp(status, "installed") != 0 && strcmp(status, "pending") != 0)
		return cli_usage(c, "--status: \"%s\" is not minted, bundled or installed (or pending)", status);
	rc = cli_open(c, 0, &h);
	if (rc != 0)
		return rc;
	if (prov_db_prepare(h->db, sql, &s, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
	arr = json_array();
	if (!c->json)
		cli_out("%-24s %-10s %4s %8s  %s\n", "DEVICE", "STATUS", "GEN", "BUNDLES", "TEMPLATE");
	while ((sr = sqlite3_step(s)) == SQLITE_ROW) {
		char ca[21], ua[21];

		n++;
		if (c->json)
			json_array_append_new(arr, json_pack("{s:o, s:o, s:I, s:I, s:o, s:s, s:s}", "id", text_json(s, 0),
			                                     "status", text_json(s, 1), "generation",
			                                     (json_int_t)sqlite3_column_int64(s, 2), "bundle_counter",
			                                     (json_int_t)sqlite3_column_int64(s, 3), "template",
			                                     text_json(s, 4), "created_at",
			                                     prov_time_iso(sqlite3_column_int64(s, 5), ca), "updated_at",
			                                     prov_time_iso(sqlite3_column_int64(s, 6), ua)));
		else
			cli_out("%-24s %-10s %4lld %8lld  %s\n", col_esc(s, 0), col_esc(s, 1),
			        (long long)sqlite3_column_int64(s, 2), (long long)sqlite3_column_int64(s, 3), col_esc(s, 4));
	}
	if (sr != SQLITE_DONE) {
		prov_db_fail(h->db, sr, "listing devices", &e);
		rc = cli_fail(c, &e);
		goto out;
	}
	if (c->json) {
		rc = cli_json(c, json_pack("{s:I, s:O}", "count", (json_int_t)n, "devices", arr));
	}
out:
	json_decref(arr);
	sqlite3_finalize(s);
	prov_home_close(h);
	return cli_finish(c, rc);
}
