/* cmd_mint.c - prov mint: register devices and issue their credentials. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "prov/escape.h"
#include "prov/issue.h"
#include "prov/util.h"

const char usage_mint[] =
	"usage: prov mint --template FILE --device ID [--csr FILE | --pubkey FILE]\n"
	"                 [--recipient-key FILE] [--rotate [--revoke-previous]] [--trust FILE] [--json]\n"
	"       prov mint --template FILE (--devices FILE | --count N --id-format FMT [--start N])\n"
	"                 [--chunk N] [--rotate [--revoke-previous] | --skip-existing] [--bundles | --bundle-dir DIR]\n"
	"                 [--recipient-key FILE | --insecure-plaintext-secrets] [--trust FILE] [--json]\n"
	"\n"
	"Register a device and issue what its template asks for: a certificate from\n"
	"the factory CA, a PSK, raw public keys.  The device key comes from the device\n"
	"(--csr, whose self-signature is checked, or --pubkey) or is made here when\n"
	"the template allows it.  Secrets are stored sealed; none is printed.\n"
	"\n"
	"  --recipient-key FILE  P-256 public key the device receives secrets with\n"
	"                        (default: the device's own key from --csr/--pubkey)\n"
	"  --rotate              re-issue for an existing device (history is kept; the\n"
	"                        old credentials stay valid: superseded, not revoked)\n"
	"  --revoke-previous     with --rotate: also revoke the superseded generation\n"
	"                        (reason superseded: its certificates go on the CRL)\n"
	"  --trust FILE          trust anchors for the template's trust slot, replacing\n"
	"                        its own: a store from prov trust build, or PEM/DER roots\n"
	"\n"
	"Batches: --devices FILE (one ID per line; blank lines and # comments\n"
	"skipped) or --count N --id-format 'dev-%06d' [--start 1].  Committed in\n"
	"chunks of --chunk devices (default 256); a progress bar on a terminal; a\n"
	"summary at the end.  --skip-existing skips devices already minted, so a\n"
	"re-run finishes an interrupted batch.  --bundles also builds each device's\n"
	"signed bundle and records it in the database (prov export --what bundle\n"
	"fetches it); --bundle-dir DIR (an existing\n"
	"directory) also writes each device's bundle to DIR/ID.cbor; a chunk's\n"
	"files are flushed to disk before the chunk commits.\n"
	"\n"
	"Exit: 0 ok, 5 device already minted (without --rotate), 3 bad template, CSR\n"
	"or key, 2 usage; see prov help.\n";

struct mint_ctx {
	cli *c;
	json_t *devices;
	int tty;
	time_t last;
};

static json_t *result_json(const prov_mint_result *r)
{
	json_t *j = json_pack("{s:s, s:i, s:b, s:b}", "device", r->device_id, "generation", r->generation,
	                      "rotated", r->rotated, "skipped", r->skipped);

	if (r->has_cert)
		json_object_set_new(j, "serial", json_string(r->serial));
	if (r->key_origin != NULL)
		json_object_set_new(j, "key_origin", json_string(r->key_origin));
	/* The identity comes from a template, the path from --bundle-dir: never
	 * dropped for invalid UTF-8 (prov_json_text). */
	if (r->psk_identity[0] != 0)
		json_object_set_new(j, "psk_identity", prov_json_text(r->psk_identity, strlen(r->psk_identity)));
	if (r->bundle_path[0] != 0)
		json_object_set_new(j, "bundle", prov_json_text(r->bundle_path, strlen(r->bundle_path)));
	if (r->bundle_counter != 0)
		json_object_set_new(j, "bundle_counter", json_integer((json_int_t)r->bundle_counter));
	return j;
}

static void on_result(void *ctx, const prov_mint_result *r)
{
	struct mint_ctx *m = ctx;

	if (m->devices != NULL)
		json_array_append_new(m->devices, result_json(r));
}

static void on_progress(void *ctx, size_t done, size_t total)
{
	struct mint_ctx *m = ctx;
	int width = 40, fill = total ? (int)((double)done / (double)total * width) : width;

	if (!m->tty)
		return;
	fprintf(stderr, "\rminting [%.*s%*s] %zu/%zu", fill,
	        "########################################", width - fill, "", done, total);
	if (done == total)
		fputc('\n', stderr);
}

/* 1 if fmt holds exactly one %d conversion (optionally %0Nd) and nothing else. */
static int id_format_ok(const char *fmt)
{
	int conv = 0;

	for (const char *p = fmt; *p; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p == '%')
			continue;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p != 'd')
			return 0;
		conv++;
	}
	return conv == 1;
}

static void free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read and check IDs before anything is minted; duplicates are an error. */
static prov_status read_ids(const char *path, char ***out, size_t *n, prov_err *e)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0, line = 0;
	char **ids = NULL, **sorted = NULL;
	prov_status st = prov_file_read(path, 64u << 20, &buf, &len, e);

	*out = NULL;
	*n = 0;
	if (st != PROV_OK)
		return st;
	/* Split by hand over all len bytes, not with strtok or strchr: strtok
	 * swallows empty lines (the messages must give the real line number), and
	 * a NUL byte would end the text early, silently dropping every later ID. */
	for (size_t at = 0; at < len;) {
		char *s = (char *)buf + at, *end, *nl = memchr(s, '\n', len - at);
		size_t n_line = nl != NULL ? (size_t)(nl - s) : len - at;

		at += n_line + 1;
		line++;
		if (memchr(s, 0, n_line) != NULL) {
			st = prov_err_set(e, PROV_E_INPUT, "%s line %zu: a NUL byte: not a text file of device IDs",
			                  path, line);
			goto out;
		}
		s[n_line] = 0; /* the newline, or the NUL prov_file_read puts after the end */
		while (isspace((unsigned char)*s))
			s++;
		end = s + strlen(s);
		while (end > s && isspace((unsigned char)end[-1]))
			*--end = 0;
		if (*s == 0 || *s == '#')
			continue;
		if (!prov_device_id_valid(s)) {
			st = prov_err_set(e, PROV_E_INPUT, "%s line %zu: bad device ID \"%s\"", path, line, s);
			goto out;
		}
		if (*n == cap) {
			char **ni = realloc(ids, (cap = cap ? cap * 2 : 256) * sizeof(*ids));

			if (ni == NULL)
				goto oom;
			ids = ni;
		}
		if ((ids[*n] = strdup(s)) == NULL)
			goto oom;
		(*n)++;
	}
	if (*n == 0) {
		st = prov_err_set(e, PROV_E_INPUT, "%s: no device IDs", path);
		goto out;
	}
	sorted = malloc(*n * sizeof(*sorted));
	if (sorted == NULL)
		goto oom;
	memcpy(sorted, ids, *n * sizeof(*sorted));
	qsort(sorted, *n, sizeof(*sorted), cmp_str);
	for (size_t i = 1; i < *n; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0) {
			st = prov_err_set(e, PROV_E_INPUT, "%s: device ID \"%s\" appears twice", path, sorted[i]);
			goto out;
		}
	*out = ids;
	ids = NULL;
	goto out;
oom:
	st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
out:
	free(sorted);
	if (ids != NULL)
		free_ids(ids, *n);
	if (st != PROV_OK)
		*n = 0;
	free(buf);
	return st;
}

static int mint_single(cli *c, prov_home *h, prov_template *t, prov_mint_req *r)
{
	prov_issue_req ir;
	prov_mint_result res;
	prov_err e;

	memset(&ir, 0, sizeof(ir));
	ir.mint = 1;
	ir.m = *r;
	if (prov_issue_device(h, t, &ir, &res, NULL, NULL, NULL, &e) != PROV_OK)
		return cli_fail(c, &e);
	if (c->json)
		return cli_json(c, result_json(&res));
	cli_out("%s %s (generation %d)", res.rotated ? "rotated" : "minted", res.device_id, res.generation);
	if (res.has_cert)
		cli_out(", certificate %s", res.serial);
	if (res.key_origin != NULL)
		cli_out(", key from %s", res.key_origin);
	if (res.psk_identity[0] != 0)
		cli_out(", PSK identity %s", cli_esc(res.psk_identity));
	cli_out("\n");
	return 0;
}

int cmd_mint(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"template", required_argument, NULL, 't'},
		{"device", required_argument, NULL, 'd'},
		{"devices", required_argument, NULL, 'D'},
		{"count", required_argument, NULL, 'n'},
		{"id-format", required_argument, NULL, 'f'},
		{"start", required_argument, NULL, 's'},
		{"csr", required_argument, NULL, 'c'},
		{"pubkey", required_argument, NULL, 'p'},
		{"recipient-key", required_argument, NULL, 'r'},
		{"rotate", no_argument, NULL, 'R'},
		{"revoke-previous", no_argument, NULL, 'P'},
		{"skip-existing", no_argument, NULL, 'S'},
		{"chunk", required_argument, NULL, 'C'},
		{"bundle-dir", required_argument, NULL, 'b'},
		{"bundles", no_argument, NULL, 'B'},
		{"insecure-plaintext-secrets", no_argument, NULL, 'I'},
		{"trust", required_argument, NULL, 'T'},
		{NULL, 0, NULL, 0},
	};
	const char *tpl = NULL, *devfile = NULL, *idfmt = NULL, *recip = NULL, *trust = NULL;
	long long count = -1, start = 1, chunk = 256;
	prov_mint_req req;
	prov_batch_opts bo;
	prov_template *t = NULL;
	prov_home *h = NULL;
	char **ids = NULL;
	size_t n = 0;
	prov_err e;
	int ch, rc = 0;

	memset(&req, 0, sizeof(req));
	memset(&bo, 0, sizeof(bo));
	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		char *end = NULL;

		switch (ch) {
		case 0: break;
		case 't': tpl = optarg; break;
		case 'd': req.device_id = optarg; break;
		case 'D': devfile = optarg; break;
		case 'n':
			count = strtoll(optarg, &end, 10);
			if (*end != 0 || count < 1 || count > 10000000)
				return cli_usage(c, "--count: not a number from 1 to 10000000: %s", optarg);
			break;
		case 'f': idfmt = optarg; break;
		case 's':
			start = strtoll(optarg, &end, 10);
			if (*end != 0 || start < 0 || start > 1000000000)
				return cli_usage(c, "--start: not a number from 0 to 1000000000: %s", optarg);
			break;
		case 'c': req.csr_path = optarg; break;
		case 'p': req.pubkey_path = optarg; break;
		case 'r': recip = optarg; break;
		case 'R': req.rotate = bo.rotate = 1; break;
		case 'P': req.revoke_previous = bo.revoke_previous = 1; break;
		case 'S': bo.skip_existing = 1; break;
		case 'C':
			chunk = strtoll(optarg, &end, 10);
			if (*end != 0 || chunk < 1 || chunk > 100000)
				return cli_usage(c, "--chunk: not a number from 1 to 100000: %s", optarg);
			break;
		case 'b': bo.bundle_dir = optarg; break;
		case 'B': bo.bundles = 1; break;
		case 'I': bo.insecure_plaintext = 1; break;
		case 'T': trust = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (tpl == NULL)
		return cli_usage(c, "--template is required");
	if ((req.device_id != NULL) + (devfile != NULL) + (count > 0 || idfmt != NULL) != 1)
		return cli_usage(c, "give one of --device, --devices or --count with --id-format");
	if ((count > 0) != (idfmt != NULL))
		return cli_usage(c, "--count and --id-format go together");
	if (idfmt != NULL && !id_format_ok(idfmt))
		return cli_usage(c, "--id-format: needs exactly one %%d conversion (e.g. 'dev-%%06d'): %s", idfmt);
	if (req.device_id == NULL && (req.csr_path != NULL || req.pubkey_path != NULL))
		return cli_usage(c, "--csr and --pubkey apply to a single --device");
	if (req.device_id != NULL && (bo.bundle_dir != NULL || bo.bundles || bo.skip_existing))
		return cli_usage(c, "--bundles, --bundle-dir and --skip-existing apply to batches; use prov bundle");
	if (bo.bundle_dir != NULL)
		bo.bundles = 1;
	if (bo.revoke_previous && !bo.rotate)
		return cli_usage(c, "--revoke-previous goes with --rotate");
	if (bo.rotate && bo.skip_existing)
		return cli_usage(c, "--rotate and --skip-existing exclude each other");
	if (bo.insecure_plaintext && (!bo.bundles || recip != NULL))
		return cli_usage(c, "--insecure-plaintext-secrets applies to --bundles/--bundle-dir without --recipient-key");

	if (prov_template_load(tpl, &t, &e) != PROV_OK ||
	    (trust != NULL && prov_template_set_trust(t, trust, &e) != PROV_OK)) {
		rc = cli_fail(c, &e);
		goto out;
	}
	if (recip != NULL && prov_key_load_public(recip, &req.recipient, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	bo.recipient = req.recipient;
	if (devfile != NULL && read_ids(devfile, &ids, &n, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	if (count > 0) {
		ids = calloc((size_t)count, sizeof(*ids));
		if (ids == NULL) {
			rc = PROV_E_INTERNAL;
			goto out;
		}
		for (n = 0; n < (size_t)count; n++) {
			char buf[128];

			/* idfmt was checked by id_format_ok: one %d, nothing else. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
			snprintf(buf, sizeof(buf), idfmt, (int)(start + (long long)n));
#pragma GCC diagnostic pop
			if (!prov_device_id_valid(buf)) {
				rc = cli_usage(c, "--id-format makes a bad device ID \"%s\"", buf);
				goto out;
			}
			if ((ids[n] = strdup(buf)) == NULL) {
				rc = PROV_E_INTERNAL;
				goto out;
			}
		}
	}
	rc = cli_open(c, PROV_NEED_CA | PROV_NEED_KEK | (bo.bundles ? PROV_NEED_SIGNER : 0), &h);
	if (rc != 0)
		goto out;
	if (req.device_id != NULL) {
		rc = mint_single(c, h, t, &req);
	} else {
		struct mint_ctx m = {c, c->json ? json_array() : NULL, isatty(2), 0};
		prov_batch_summary sum;
		prov_status st;

		bo.chunk = (size_t)chunk;
		bo.on_result = on_result;
		bo.on_progress = on_progress;
		bo.ctx = &m;
		st = prov_issue_batch(h, t, ids, n, &bo, &sum, &e);
		if (st != PROV_OK) {
			if (m.tty)
				fputc('\n', stderr);
			rc = cli_fail(c, &e);
		}
		if (c->json) {
			json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:o}", "requested", (json_int_t)sum.requested,
			                      "minted", (json_int_t)sum.minted, "rotated", (json_int_t)sum.rotated,
			                      "skipped", (json_int_t)sum.skipped, "devices", m.devices);

			json_object_set_new(j, "failed", st == PROV_OK ? json_null()
			                                  : json_pack("{s:s?, s:s, s:i}", "device", sum.failed_id,
			                                              "error", e.msg, "exit", (int)st));
			int jr = cli_json(c, j);

			if (rc == 0)
				rc = jr;
		} else {
			cli_out("%zu of %zu devices done: %zu minted, %zu rotated, %zu skipped%s\n",
			        sum.minted + sum.rotated + sum.skipped, sum.requested, sum.minted, sum.rotated,
			        sum.skipped, st == PROV_OK ? "" : " (stopped by an error)");
		}
	}
out:
	if (ids != NULL)
		free_ids(ids, n);
	EVP_PKEY_free(req.recipient);
	prov_template_free(t);
	prov_home_close(h);
	return cli_finish(c, rc);
}
