/* cmd_show.c - prov show: one device, its credentials and their history. */
#include <openssl/evp.h>
#include <string.h>

#include "commands.h"
#include "prov/db.h"
#include "prov/escape.h"
#include "prov/util.h"

const char usage_show[] =
	"usage: prov show ID [--home DIR] [--json]\n"
	"\n"
	"Show a device: status, template, key, certificates, PSK identities (never\n"
	"the keys), raw public keys, bundles, installs and its audit trail, every\n"
	"generation included (\"current\": true marks the one in force).\n"
	"Exit 4 for an unknown device.\n";

static json_t *col_json(sqlite3_stmt *s, int i)
{
	switch (sqlite3_column_type(s, i)) {
	case SQLITE_INTEGER: return json_integer((json_int_t)sqlite3_column_int64(s, i));
	case SQLITE_TEXT: {
		/* Rows are outside data too: invalid UTF-8 is given escaped, not lost. */
		const unsigned char *t = sqlite3_column_text(s, i);

		return prov_json_text(t, (size_t)sqlite3_column_bytes(s, i));
	}
	case SQLITE_NULL: return json_null();
	default: {
		/* Blobs are public data here (SPKI, identity, digests): show a digest or hex. */
		int n = sqlite3_column_bytes(s, i);
		const unsigned char *p = sqlite3_column_blob(s, i);
		char hex[2 * 128 + 1];

		if (n <= 128)
			return json_string(prov_hex(p, (size_t)n, hex));
		{
			unsigned char md[32];

			EVP_Digest(p, (size_t)n, md, NULL, EVP_sha256(), NULL);
			return json_pack("{s:s, s:i}", "sha256", prov_hex(md, 32, hex), "size", n);
		}
	}
	}
}

/* Run a query bound to the device ID and return its rows as objects. */
static prov_status rows(sqlite3 *db, const char *sql, const char *id, json_t **out, prov_err *e)
{
	sqlite3_stmt *s = NULL;
	prov_status st = prov_db_prepare(db, sql, &s, e);
	int rc;

	*out = json_array();
	if (st != PROV_OK)
		return st;
	sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		json_t *o = json_object();

		for (int i = 0; i < sqlite3_column_count(s); i++) {
			const char *name = sqlite3_column_name(s, i);

			if (strcmp(name, "identity") == 0 && sqlite3_column_type(s, i) == SQLITE_BLOB) {
				const void *b = sqlite3_column_blob(s, i);

				json_object_set_new(o, name, prov_json_text(b, (size_t)sqlite3_column_bytes(s, i)));
			} else if (strcmp(name, "detail") == 0 && sqlite3_column_type(s, i) == SQLITE_TEXT) {
				json_t *d = json_loads((const char *)sqlite3_column_text(s, i), 0, NULL);

				json_object_set_new(o, name, d != NULL ? d : col_json(s, i));
			} else if (strcmp(name, "current") == 0 || strcmp(name, "has_recipient_key") == 0 ||
			           strcmp(name, "has_receipt") == 0) {
				json_object_set_new(o, name, json_boolean(sqlite3_column_int(s, i)));
			} else if (strstr(name, "_at") != NULL && sqlite3_column_type(s, i) == SQLITE_INTEGER) {
				char iso[21];

				json_object_set_new(o, name, json_string(prov_time_iso(sqlite3_column_int64(s, i), iso)));
			} else {
				json_object_set_new(o, name, col_json(s, i));
			}
		}
		json_array_append_new(*out, o);
	}
	if (rc != SQLITE_DONE)
		st = prov_db_fail(db, rc, "reading the device", e);
	sqlite3_finalize(s);
	return st;
}

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
	static const struct {
		const char *key, *sql;
	} parts[] = {
		{"device",
		 "SELECT d.id, d.status, d.generation, d.bundle_counter, t.name AS template, "
		 "d.recipient_spki IS NOT NULL AS has_recipient_key, d.created_at, d.updated_at, "
		 "(SELECT MAX(b.counter) FROM bundles b WHERE b.device_id = d.id AND b.counter > "
		 "COALESCE((SELECT MAX(i.counter) FROM installs i WHERE i.device_id = d.id), 0)) AS pending_bundle "
		 "FROM devices d JOIN templates t ON t.digest = d.template WHERE d.id = ?1"},
		{"keys",
		 "SELECT k.generation, k.key_type, k.origin, k.spki, k.created_at, "
		 "k.generation = d.generation AS current "
		 "FROM device_keys k JOIN devices d ON d.id = k.device_id WHERE k.device_id = ?1 ORDER BY k.generation"},
		{"certificates",
		 "SELECT c.generation, c.slot, c.serial, c.subject, c.not_before, c.not_after, c.created_at, "
		 "c.generation = d.generation AS current "
		 "FROM certificates c JOIN devices d ON d.id = c.device_id WHERE c.device_id = ?1 ORDER BY c.id"},
		{"psks",
		 "SELECT p.generation, p.slot, p.identity, p.bits, p.created_at, p.generation = d.generation AS current "
		 "FROM psks p JOIN devices d ON d.id = p.device_id WHERE p.device_id = ?1 ORDER BY p.id"},
		{"raw_keys",
		 "SELECT r.generation, r.slot, r.own_spki, r.peer_spki, r.created_at, r.generation = d.generation AS current "
		 "FROM raw_keys r JOIN devices d ON d.id = r.device_id WHERE r.device_id = ?1 ORDER BY r.id"},
		{"bundles",
		 "SELECT counter, generation, nonce, sha256, size, created_at FROM bundles WHERE device_id = ?1 ORDER BY counter"},
		{"installs",
		 "SELECT counter, manifest_digest, installed_at, receipt IS NOT NULL AS has_receipt, "
		 "length(receipt) AS receipt_size FROM installs WHERE device_id = ?1 ORDER BY id"},
		{"audit", "SELECT seq, at AS logged_at, action, detail FROM audit WHERE device_id = ?1 ORDER BY seq"},
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
	out = json_object();
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		json_t *r = NULL;

		if (rows(h->db, parts[i].sql, argv[optind], &r, &e) != PROV_OK) {
			json_decref(r);
			rc = cli_fail(c, &e);
			goto out;
		}
		if (i == 0) {
			if (json_array_size(r) == 0) {
				json_decref(r);
				prov_err_set(&e, PROV_E_NOTFOUND, "unknown device %s", argv[optind]);
				rc = cli_fail(c, &e);
				goto out;
			}
			json_object_update(out, json_array_get(r, 0));
			json_decref(r);
		} else {
			json_object_set_new(out, parts[i].key, r);
		}
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
