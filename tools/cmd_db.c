/* cmd_db.c - prov db migrate: move a factory's records into PostgreSQL. */
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "prov/escape.h"
#include "prov/home.h"
#include "prov/records.h"

const char usage_db_migrate[] =
	"usage: prov db migrate --to postgresql://... [--home DIR] [--json]\n"
	"\n"
	"Move the home's factory from prov.db (SQLite) into an empty PostgreSQL\n"
	"database, so several stations can share it (prov init --db ... --station\n"
	"NAME --keys-from DIR): every row with its ids, in one transaction, each\n"
	"table counted on both sides afterwards.  Nothing is re-issued.  prov.db is\n"
	"only read and stays as it was; from then on the home uses the server (its\n"
	"file db names it).  The URI carries no password (PGPASSFILE, ~/.pgpass).\n"
	"--json prints {\"database\": \"postgresql\", \"tables\": {TABLE: ROWS, ...}}.\n"
	"\n"
	"Exit: 0 moved, 5 the database already holds a factory, 6 it holds other\n"
	"tables, 13 login refused, 14 server unreachable, 2 usage.\n";

int cmd_db_migrate(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"to", required_argument, NULL, 't'},
		{NULL, 0, NULL, 0},
	};
	prov_rec_copied counts[16];
	size_t n = sizeof(counts) / sizeof(counts[0]);
	const char *to = NULL;
	prov_home *h = NULL;
	prov_err e;
	int ch, rc;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 't': to = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (to == NULL)
		return cli_usage(c, "--to postgresql://... is required");
	rc = cli_open(c, PROV_NEED_CA_CERT, &h);
	if (rc != 0)
		return rc;
	if (prov_home_migrate(h, to, counts, &n, &e) != PROV_OK) {
		prov_home_close(h);
		return cli_fail(c, &e);
	}
	if (c->json) {
		json_t *t = json_object();

		for (size_t i = 0; i < n; i++)
			json_object_set_new(t, counts[i].table, json_integer((json_int_t)counts[i].rows));
		rc = cli_json(c, json_pack("{s:s, s:o}", "database", "postgresql", "tables", t));
	} else {
		cli_out("moved the factory of %s into PostgreSQL; rows per table (checked on both sides):\n",
		        cli_esc(h->dir));
		for (size_t i = 0; i < n; i++)
			cli_out("  %-13s %lld\n", counts[i].table, counts[i].rows);
		cli_out("the home now uses the server; prov.db is left as it was\n");
	}
	prov_home_close(h);
	return cli_finish(c, rc);
}
