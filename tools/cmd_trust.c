/* cmd_trust.c - prov trust build | sign | inspect: minimal trust stores. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "prov/escape.h"
#include "prov/db.h"
#include "prov/keys.h"
#include "prov/trust.h"
#include "prov/util.h"

#define TRUST_FILE_MAX (PROV_TRUST_STORE_MAX + 4096)

const char usage_trust_build[] =
	"usage: prov trust build [--from FILE... (--all | --select SEL... | --chain FILE...)]\n"
	"                        [--pin CERT...] [--allow-v1-roots] [--at DATE]\n"
	"                        [--format store|der|pem|c] --out FILE [--manifest FILE] [--json]\n"
	"\n"
	"Cut a root bundle down to what a device needs (docs/trust.md).  Inputs are\n"
	"PEM bundles, DER files, or directories of them.  Only a CA by RFC 5280 becomes\n"
	"an anchor (version 3, basicConstraints cA, keyCertSign if keyUsage is there,\n"
	"no critical extension the device does not process); duplicates (same name\n"
	"and key) and roots expired at --at are dropped too.  Every certificate\n"
	"dropped is named on stderr with the reason.\n"
	"\n"
	"  --all            every usable root (the others are dropped with a note)\n"
	"  --select SEL     by subject common name, full subject DN (RFC 2253, as\n"
	"                   `openssl x509 -subject -nameopt RFC2253` prints it) or\n"
	"                   SHA-256 fingerprint (hex, colons allowed); a selector\n"
	"                   that matches nothing is an error (exit 4), one that names\n"
	"                   a certificate that cannot be an anchor too (exit 3)\n"
	"  --chain FILE     a server's chain as served (leaf first, PEM or DER): keep\n"
	"                   the fewest bytes of roots that validate every chain given\n"
	"                   (exit 7 naming a chain no root validates)\n"
	"  --pin CERT       pin a server: its certificate (PEM or DER) or PEM public key;\n"
	"                   the device accepts a server presenting that key and never a\n"
	"                   certificate signed by it (repeatable; --from is then optional)\n"
	"  --allow-v1-roots admit version 1 roots (they cannot say they are CAs)\n"
	"  --at DATE        YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or now (default)\n"
	"  --format F       store (compact, docs/truststore-format.md; default), der\n"
	"                   (certificates concatenated), pem, or c (a C header)\n"
	"  --manifest FILE  every decision as JSON (the --json report)\n"
	"\n"
	"Extra operands after --select or --chain are more selectors or chains.\n"
	"The same inputs give the same bytes.  On failure nothing is written.\n";

const char usage_trust_sign[] =
	"usage: prov trust sign --store FILE --out FILE [--device ID] [--json]\n"
	"\n"
	"Sign a compact trust store with the factory's bundle signer, so a device's\n"
	"roots can be updated without a new credential bundle.  Each signed store\n"
	"takes the next value of the factory-wide trust counter; a device refuses a\n"
	"counter it has already passed.  --device binds it to one device.\n";

const char usage_trust_inspect[] =
	"usage: prov trust inspect FILE [--signer PEM] [--json]\n"
	"\n"
	"Check a compact trust store against every rule of its format, or verify a\n"
	"signed one (against this factory's signer, or --signer) and then its store,\n"
	"and describe its anchors (CAs that may sign servers) and pins (servers'\n"
	"own keys).  Exit 0 when valid, 3 when malformed (a version 1 store: rebuild\n"
	"it), 7 when the signature does not verify.\n";

/* --at: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ, or now. */
static int parse_at(const char *s, int64_t *out)
{
	struct tm tm, back;
	int y, mo, d, h = 0, mi = 0, se = 0, used = 0;
	time_t t;

	if (strcmp(s, "now") == 0) {
		*out = prov_now();
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3)
		return -1;
	if (s[used] != 0) {
		int u2 = 0;

		if (sscanf(s + used, "T%2d:%2d:%2dZ%n", &h, &mi, &se, &u2) != 3 || s[used + u2] != 0)
			return -1;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t == (time_t)-1 || gmtime_r(&t, &back) == NULL || back.tm_mday != d || back.tm_mon != mo - 1 ||
	    back.tm_hour != h || back.tm_min != mi || back.tm_sec != se)
		return -1;
	*out = (int64_t)t;
	return 0;
}

static int push(const char ***list, size_t *n, const char *v)
{
	const char **p = realloc(*list, (*n + 1) * sizeof(*p));

	if (p == NULL)
		return -1;
	p[(*n)++] = v;
	*list = p;
	return 0;
}

/* Every dropped certificate, on stderr: a note with --all, what made a --select
 * fail otherwise (its error follows).  Names are the report's safe text.  With
 * --json the report's "dropped" says the same and stderr stays for errors. */
static void print_dropped(const cli *c, const json_t *r)
{
	const json_t *x;
	size_t i;

	fflush(stdout);
	json_array_foreach(json_object_get(r, "dropped"), i, x)
		fprintf(stderr, "prov: %s: note: dropped %s (%.16s...): %s\n", c->cmd,
		        json_string_value(json_object_get(x, "name")), json_string_value(json_object_get(x, "sha256")),
		        json_string_value(json_object_get(x, "detail")));
}

static void print_build(const json_t *r, const char *out)
{
	json_t *x, *y;
	size_t i, k;

	cli_out("wrote %s: %lld anchors, %lld pins, %lld bytes (%s)\n", cli_esc(out),
	        (long long)json_integer_value(json_object_get(json_object_get(r, "output"), "count")),
	        (long long)json_integer_value(json_object_get(json_object_get(r, "output"), "pins")),
	        (long long)json_integer_value(json_object_get(json_object_get(r, "output"), "size")),
	        json_string_value(json_object_get(r, "format")));
	json_array_foreach(json_object_get(r, "chains"), i, x) {
		cli_out("chain %s:", cli_esc(json_string_value(json_object_get(x, "file"))));
		json_array_foreach(json_object_get(x, "covered_by"), k, y)
			cli_out("%s %s (%lld B)%s", k > 0 ? ";" : "", json_string_value(json_object_get(y, "subject")),
			        (long long)json_integer_value(json_object_get(y, "size")),
			        json_array_size(json_object_get(x, "chosen")) > 0 &&
			                strcmp(json_string_value(json_object_get(y, "sha256")),
			                       json_string_value(json_array_get(json_object_get(x, "chosen"), 0))) == 0
			            ? " [chosen]" : "");
		cli_out("\n");
	}
	if ((x = json_object_get(r, "optimization")) != NULL)
		cli_out("choice: %s over %lld candidates, %lld bytes\n",
		        json_string_value(json_object_get(x, "method")),
		        (long long)json_integer_value(json_object_get(x, "candidates")),
		        (long long)json_integer_value(json_object_get(x, "bytes")));
	json_array_foreach(json_object_get(r, "notes"), i, x)
		cli_out("note: %s\n", json_string_value(x));
}

int cmd_trust_build(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"from", required_argument, NULL, 'f'},
		{"all", no_argument, NULL, 'a'},
		{"select", required_argument, NULL, 's'},
		{"chain", required_argument, NULL, 'c'},
		{"pin", required_argument, NULL, 'p'},
		{"allow-v1-roots", no_argument, NULL, '1'},
		{"at", required_argument, NULL, 't'},
		{"format", required_argument, NULL, 'F'},
		{"out", required_argument, NULL, 'o'},
		{"manifest", required_argument, NULL, 'm'},
		{NULL, 0, NULL, 0},
	};
	prov_trust_build_opts o;
	const char **from = NULL, **sel = NULL, **chains = NULL, **pins = NULL, *out = NULL, *manifest = NULL,
	           *at = NULL;
	size_t nfrom = 0, nsel = 0, nchains = 0, npins = 0, len = 0;
	uint8_t *buf = NULL;
	json_t *report = NULL;
	char *mtext = NULL;
	prov_err e;
	prov_status st;
	int ch, rc = 0, fmt = PROV_TRUST_FMT_STORE, oom = 0;

	memset(&o, 0, sizeof(o));
	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'f': oom |= push(&from, &nfrom, optarg); break;
		case 'a': o.all = 1; break;
		case 's': oom |= push(&sel, &nsel, optarg); break;
		case 'c': oom |= push(&chains, &nchains, optarg); break;
		case 'p': oom |= push(&pins, &npins, optarg); break;
		case '1': o.allow_v1 = 1; break;
		case 't': at = optarg; break;
		case 'F':
			if ((fmt = prov_trust_format_parse(optarg)) < 0) {
				rc = cli_usage(c, "--format: store, der, pem or c, not \"%s\"", optarg);
				goto out;
			}
			break;
		case 'o': out = optarg; break;
		case 'm': manifest = optarg; break;
		case 'h': rc = cli_help(c); goto out;
		default: rc = cli_usage(c, "bad option"); goto out;
		}
	}
	for (; optind < argc; optind++) {
		if (nsel > 0 && nchains == 0)
			oom |= push(&sel, &nsel, argv[optind]);
		else if (nchains > 0 && nsel == 0)
			oom |= push(&chains, &nchains, argv[optind]);
		else {
			rc = cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
			goto out;
		}
	}
	if (oom) {
		rc = cli_usage(c, "out of memory");
		goto out;
	}
	if ((nfrom == 0 && npins == 0) || out == NULL) {
		rc = cli_usage(c, "--from (or --pin) and --out are required");
		goto out;
	}
	if (nfrom > 0 && (o.all != 0) + (nsel > 0) + (nchains > 0) != 1) {
		rc = cli_usage(c, "give exactly one of --all, --select or --chain");
		goto out;
	}
	if (nfrom == 0 && (o.all != 0) + (nsel > 0) + (nchains > 0) != 0) {
		rc = cli_usage(c, "--all, --select and --chain choose among --from inputs: give --from");
		goto out;
	}
	if (npins > 0 && fmt != PROV_TRUST_FMT_STORE && fmt != PROV_TRUST_FMT_C) {
		rc = cli_usage(c, "--pin: only a store (--format store or c) holds pins");
		goto out;
	}
	if (nchains > PROV_TRUST_MAX_CHAINS) {
		rc = cli_usage(c, "at most %d --chain files", PROV_TRUST_MAX_CHAINS);
		goto out;
	}
	o.at = prov_now();
	if (at != NULL && parse_at(at, &o.at) != 0) {
		rc = cli_usage(c, "--at: not YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or now: %s", at);
		goto out;
	}
	o.from = from;
	o.n_from = nfrom;
	o.select = sel;
	o.n_select = nsel;
	o.chains = chains;
	o.n_chains = nchains;
	o.pins = pins;
	o.n_pins = npins;
	o.format = (prov_trust_format)fmt;
	st = prov_trust_build(&o, &buf, &len, &report, &e);
	if (report != NULL && !c->json)
		print_dropped(c, report); /* --json: in the report's "dropped" */
	if (st == PROV_OK && manifest != NULL) {
		json_object_set_new(report, "file", prov_json_text(out, strlen(out)));
		mtext = json_dumps(report, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (mtext == NULL)
			st = prov_err_set(&e, PROV_E_INTERNAL, "out of memory");
	}
	if (st == PROV_OK)
		st = prov_file_write(out, buf, len, 0644, 0, &e);
	if (st == PROV_OK && manifest != NULL) {
		size_t ml = strlen(mtext);

		mtext[ml] = '\n'; /* json_dumps leaves room for the NUL: reuse it, write ml + 1 */
		st = prov_file_write(manifest, mtext, ml + 1, 0644, 0, &e);
		mtext[ml] = 0;
		if (st != PROV_OK)
			remove(out); /* both or neither */
	}
	if (st != PROV_OK) {
		if (c->json && report != NULL) {
			cli_json(c, report);
			report = NULL;
		}
		rc = cli_fail(c, &e);
		goto out;
	}
	json_object_set_new(report, "file", prov_json_text(out, strlen(out)));
	if (manifest != NULL)
		json_object_set_new(report, "manifest", prov_json_text(manifest, strlen(manifest)));
	if (c->json) {
		rc = cli_json(c, report);
		report = NULL;
	} else {
		print_build(report, out);
	}
out:
	free(from);
	free(sel);
	free(chains);
	free(pins);
	free(buf);
	free(mtext);
	json_decref(report);
	return cli_finish(c, rc);
}

int cmd_trust_sign(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"store", required_argument, NULL, 's'},
		{"out", required_argument, NULL, 'o'},
		{"device", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	const char *store = NULL, *out = NULL, *dev = NULL;
	uint8_t *in = NULL, *buf = NULL, md[32];
	size_t in_len = 0, len = 0;
	prov_trust_sign_info info;
	prov_home *h = NULL;
	prov_err e;
	prov_status st;
	char hex[65];
	int ch, rc;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 's': store = optarg; break;
		case 'o': out = optarg; break;
		case 'd': dev = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (store == NULL || out == NULL)
		return cli_usage(c, "--store and --out are required");
	if (prov_file_read(store, TRUST_FILE_MAX, &in, &in_len, &e) != PROV_OK)
		return cli_finish(c, cli_fail(c, &e));
	rc = cli_open(c, PROV_NEED_SIGNER, &h);
	if (rc != 0)
		goto out;
	st = prov_db_begin(h->db, &e);
	if (st == PROV_OK) {
		st = prov_trust_sign(h, in, in_len, dev, &buf, &len, &info, &e);
		if (st != PROV_OK && e.code == PROV_E_INPUT && strncmp(e.msg, "not a valid device", 18) != 0)
			prov_err_wrap(&e, "--store %s", store);
	}
	/* The file first, then the commit: a failed write rolls the counter back. */
	if (st == PROV_OK)
		st = prov_file_write(out, buf, len, 0644, 0, &e);
	if (st == PROV_OK && (st = prov_db_commit(h->db, &e)) != PROV_OK)
		remove(out);
	if (st != PROV_OK) {
		prov_db_rollback(h->db);
		rc = cli_fail(c, &e);
		goto out;
	}
	EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL);
	prov_hex(md, sizeof(md), hex);
	if (c->json)
		rc = cli_json(c, json_pack("{s:o, s:o, s:o, s:I, s:I, s:I, s:s}", "file", prov_json_text(out, strlen(out)),
		                           "counter", prov_json_u64(info.counter), "device",
		                           dev != NULL ? prov_json_text(dev, strlen(dev)) : json_null(),
		                           "anchors", (json_int_t)info.n_anchors, "pins", (json_int_t)info.n_pins, "size",
		                           (json_int_t)len, "sha256", hex));
	else
		cli_out("wrote %s: signed trust store, counter %llu, %zu anchors, %zu pins, %zu bytes, for %s\n",
		        cli_esc(out), (unsigned long long)info.counter, info.n_anchors, info.n_pins, len,
		        dev != NULL ? cli_esc(dev) : "any device");
out:
	free(in);
	free(buf);
	prov_home_close(h);
	return cli_finish(c, rc);
}

static void print_store(const json_t *j)
{
	json_t *s = json_object_get(j, "signed"), *a;
	size_t i;

	if (s != NULL) {
		cli_out("signature: %s", json_string_value(json_object_get(s, "status")));
		if (json_object_get(s, "kid") != NULL) {
			uint64_t counter = 0;

			prov_json_get_u64(json_object_get(s, "counter"), &counter);
			cli_out(" (%s, kid %s)\ncounter:   %llu\nissued at: %s\ndevice:    %s\n",
			        json_string_value(json_object_get(s, "alg")), json_string_value(json_object_get(s, "kid")),
			        (unsigned long long)counter, json_string_value(json_object_get(s, "issued_at")),
			        json_is_string(json_object_get(s, "device"))
			            ? cli_esc(json_string_value(json_object_get(s, "device")))
			            : "any");
		} else {
			cli_out("\n");
		}
	}
	if (json_object_get(j, "count") == NULL)
		return;
	cli_out("trust store v%lld: %lld anchors, %lld pins, %lld bytes\n",
	        (long long)json_integer_value(json_object_get(j, "version")),
	        (long long)json_integer_value(json_object_get(j, "count")),
	        (long long)json_integer_value(json_object_get(j, "pin_count")),
	        (long long)json_integer_value(json_object_get(j, "size")));
	if (json_array_size(json_object_get(j, "anchors")) > 0) {
		cli_out("anchors (CAs that may sign servers' certificates):\n");
		cli_out("  %-8s  %-7s  %5s  %-20s  %-8s  %s\n", "name-key", "alg", "bits", "not after", "path len",
		        "name constraints");
	}
	json_array_foreach(json_object_get(j, "anchors"), i, a) {
		char pl[24] = "-";

		if (json_is_integer(json_object_get(a, "path_len")))
			snprintf(pl, sizeof(pl), "%lld", (long long)json_integer_value(json_object_get(a, "path_len")));
		cli_out("  %-8s  %-7s  %5lld  %-20s  %-8s  %s\n", json_string_value(json_object_get(a, "name_key")),
		        json_string_value(json_object_get(a, "alg")),
		        (long long)json_integer_value(json_object_get(a, "key_bits")),
		        json_is_string(json_object_get(a, "not_after")) ? json_string_value(json_object_get(a, "not_after"))
		                                                         : "none",
		        pl, json_is_true(json_object_get(a, "name_constraints")) ? "yes (the device skips it)" : "-");
	}
	if (json_array_size(json_object_get(j, "pins")) > 0)
		cli_out("pins (servers' own keys, SHA-256 of the SubjectPublicKeyInfo; they sign nothing):\n");
	json_array_foreach(json_object_get(j, "pins"), i, a)
		cli_out("  %s\n", json_string_value(json_object_get(a, "spki_sha256")));
}

int cmd_trust_inspect(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"signer", required_argument, NULL, 's'},
		{NULL, 0, NULL, 0},
	};
	const char *signer_path = NULL, *file;
	EVP_PKEY *signer = NULL;
	prov_home *h = NULL;
	prov_trust_view *v = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, n = 0;
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
		return cli_usage(c, "give one store file");
	file = argv[optind];
	if (prov_file_read(file, TRUST_FILE_MAX, &buf, &len, &e) != PROV_OK)
		return cli_finish(c, cli_fail(c, &e));
	if (prov_trust_is_signed(buf, len)) {
		rc = cli_signer(c, signer_path, &h, &signer);
		if (rc != 0)
			goto out;
		st = prov_trust_signed_inspect(buf, len, &signer, 1, &j, &e);
	} else {
		st = prov_trust_store_check(buf, len, &v, &n, &e);
		if (st == PROV_OK)
			j = prov_trust_store_describe(buf, len, v, n);
	}
	if (j != NULL) {
		json_object_set_new(j, "file", prov_json_text(file, strlen(file)));
		if (c->json) {
			rc = cli_json(c, j);
			j = NULL;
		} else {
			print_store(j);
		}
	}
	if (st != PROV_OK)
		rc = cli_fail(c, &e);
out:
	json_decref(j);
	free(v);
	free(buf);
	EVP_PKEY_free(signer);
	prov_home_close(h);
	return cli_finish(c, rc);
}
