/*
 * test_agent_flash.c - the agent on flash: its records (pa_its_port_*) and
 * PSA's persistent keys (psa_its_*, linked ahead of Mbed TLS's file backend)
 * in the log-structured store (its/) on the NOR flash model
 * (port/pa_flash_sim.c: 4 sectors of 4 KB, 8-byte program unit), with real
 * bundles made by the prov binary beside this test.
 *
 * A power cut at every flash program and erase, each six ways (nothing done,
 * all done, two prefixes of units or of the sector, two partial units or
 * garbage sectors), during:
 *   the first start (identity key made), a full install, a rotation (same
 *   template, and to coaps-psk), a wipe, an install after the wipe, a keygen,
 *   a keygen + install that adopts the key, a rotation to a new keygen key, and
 *   installs during which the store collects garbage (flash filled first).
 * After each cut: power on (mount), restart the agent (its recovery), then
 *   - the store holds exactly the old records or exactly the new ones, and
 *     the agent's set read through pa_lookup_* equals the old or the new set
 *     byte for byte (data, profiles, public keys, PSK derivations);
 *   - every PSA key the index names exists and works (sign and verify, derive);
 *   - the set's receipt is in storage: the old one as it was, or one that
 *     verifies with the device key (OpenSSL) and names the new set;
 *   - the store takes a further install.
 * With --bench: flash written per install and per rotation, and the erase
 * budget (docs/benchmarks.md, bench/flash.sh).
 */
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <errno.h>

#include "check.h"
#include "agent_support.h"
#include "pa/pa_its.h"
#include "pa/pa_keygen.h"
#include "port/pa_flash_sim.h"

#define SS 4096u
#define NSEC 4u
#define PSZ 8u
#define SIZE (SS * NSEC)

static uint8_t mem[SIZE];
static pa_flash_sim F;
static pa_agent A;
static pa_signer SIG[1];
static char work[PATH_MAX], devdir[PATH_MAX + 8], prov[PATH_MAX + 8], top[PATH_MAX];
static uint8_t receipt[PA_RECEIPT_MAX];
static size_t receipt_len;

typedef struct blob {
	uint8_t *p;
	size_t n;
} blob;

/* ---- the device: a port over the store, power, start, install ------------------------- */

static int port_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	while (len > 0) {
		ssize_t n = getrandom(buf, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return PA_PORT_IO;
		buf += n;
		len -= (size_t)n;
	}
	return PA_PORT_OK;
}

static int port_device_id(void *ctx, char *buf, size_t cap, size_t *len)
{
	(void)ctx;
	if (cap < 1)
		return PA_PORT_IO;
	buf[0] = 'X';
	*len = 1;
	return PA_PORT_OK;
}

static const pa_port P = { NULL, pa_its_port_get, pa_its_port_set, pa_its_port_remove,
	                   port_random, port_device_id, NULL };

/* Power on: no cut armed, mount. */
static int power_on(void)
{
	pa_flash_sim_arm(&F, 0, 0, 0);
	return pa_its_mount(&F.flash) == PSA_SUCCESS ? 0 : -1;
}

/* Start the agent (a reboot of PSA first). */
static int start(void)
{
	int rc;

	psa_reboot();
	rc = pa_agent_start(&A, &P, SIG, 1);
	return rc == PA_OK ? pa_keygen_start(&A) : rc;
}

static int install(const blob *b)
{
	size_t off;

	pa_install_begin(&A);
	for (off = 0; off < b->n; off += 100)   /* in pieces, as a transport delivers */
		pa_install_push(&A, b->p + off, b->n - off < 100 ? b->n - off : 100);
	return pa_install_finish(&A, receipt, sizeof(receipt), &receipt_len);
}

static blob load(const char *name)
{
	blob b = { NULL, 0 };
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", work, name);
	if (load_file(path, &b.p, &b.n) != 0)
		fprintf(stderr, "cannot read %s\n", path);
	return b;
}

/* ---- what the store holds: every record, byte for byte --------------------------------- */

#define LSNAP_MAX 64

typedef struct lsnap {
	size_t n;
	uint64_t uid[LSNAP_MAX];
	uint32_t flags[LSNAP_MAX];
	size_t len[LSNAP_MAX];
	uint8_t *data[LSNAP_MAX];
} lsnap;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void lsnap_free(lsnap *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->data[i]);
	memset(s, 0, sizeof(*s));
}

/* 0, or -1 if a record does not read back (corrupt, or too many). */
static int lsnap_take(lsnap *s)
{
	psa_storage_uid_t uid;
	size_t i, n;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	while (pa_its_list(s->n, &uid) == PSA_SUCCESS) {
		if (s->n == LSNAP_MAX)
			return -1;
		s->uid[s->n++] = uid;
	}
	qsort(s->uid, s->n, sizeof(s->uid[0]), cmp_u64);
	for (i = 0; i < s->n; i++) {
		struct psa_storage_info_t info;

		if (psa_its_get_info(s->uid[i], &info) != PSA_SUCCESS) {
			rc = -1;
			continue;
		}
		s->flags[i] = info.flags;
		s->len[i] = info.size;
		s->data[i] = malloc(info.size + 1);
		if (s->data[i] == NULL ||
		    psa_its_get(s->uid[i], 0, info.size, s->data[i], &n) != PSA_SUCCESS || n != info.size)
			rc = -1;
	}
	return rc;
}

static int lsnap_equal(const lsnap *a, const lsnap *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (a->uid[i] != b->uid[i] || a->flags[i] != b->flags[i] || a->len[i] != b->len[i] ||
		    (a->len[i] > 0 && memcmp(a->data[i], b->data[i], a->len[i]) != 0))
			return 0;
	return 1;
}

/* a and b hold the same records, but the receipt the commit record carries
 * (after its 48-byte head) may differ: ECDSA signs differently each time. */
static int lsnap_equal_but_receipt(const lsnap *a, const lsnap *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		if (a->uid[i] != b->uid[i] || a->flags[i] != b->flags[i])
			return 0;
		if (a->uid[i] == PA_UID_COMMIT ? a->len[i] <= 48 || b->len[i] <= 48 ||
		                                         memcmp(a->data[i], b->data[i], 48) != 0
		                               : a->len[i] != b->len[i] ||
		                                         (a->len[i] > 0 &&
		                                          memcmp(a->data[i], b->data[i], a->len[i]) != 0))
			return 0;
	}
	return 1;
}

/* The committed set's receipt is in storage (the commit record's tail): it
 * verifies with the device key and names the set the agent holds. */
static int stored_receipt_ok(void)
{
	uint8_t buf[48 + PA_RECEIPT_MAX + 1];
	size_t len = 0;

	return P.get(NULL, PA_UID_COMMIT, buf, sizeof(buf), &len) == PA_PORT_OK && len > 48 &&
	       len <= 48 + PA_RECEIPT_MAX &&
	       receipt_names(buf + 48, len - 48, A.pub, A.installed.counter, A.installed.digest);
}

/* ---- what the agent holds: its set through pa_lookup_*, keys used -------------------- */

typedef struct view {
	size_t n;
	uint8_t b[20000];
} view;

static void vput(view *v, const void *p, size_t n)
{
	if (v->n + n <= sizeof(v->b)) {
		memcpy(v->b + v->n, p, n);
		v->n += n;
	} else {
		v->n = sizeof(v->b) + 1;   /* overflow: never equal to a real view */
	}
}

/* The key exists, is persistent, and works: an ECC key pair signs (verified
 * with its exported public key), a PSK derives a TLS 1.2 master secret.
 * Appends its attributes, public key or derived secret. */
static int key_print(psa_key_id_t id, view *v)
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT, pat = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_derivation_operation_t d = PSA_KEY_DERIVATION_OPERATION_INIT;
	psa_key_id_t pub_id = 0;
	uint8_t pub[97], sig[96], hash[48] = { 7 }, ms[48];
	size_t plen = 0, slen = 0, hlen;
	psa_key_type_t t;
	psa_algorithm_t alg;
	int ok = 0;

	if (psa_get_key_attributes(id, &at) != PSA_SUCCESS ||
	    psa_get_key_lifetime(&at) != PSA_KEY_LIFETIME_PERSISTENT)
		goto out;
	t = psa_get_key_type(&at);
	alg = psa_get_key_algorithm(&at);
	vput(v, &t, sizeof(t));
	vput(v, &alg, sizeof(alg));
	{
		size_t bits = psa_get_key_bits(&at);
		psa_key_usage_t u = psa_get_key_usage_flags(&at);

		vput(v, &bits, sizeof(bits));
		vput(v, &u, sizeof(u));
	}
	if (PSA_KEY_TYPE_IS_ECC_KEY_PAIR(t)) {
		hlen = PSA_HASH_LENGTH(PSA_ALG_SIGN_GET_HASH(alg));
		if (psa_export_public_key(id, pub, sizeof(pub), &plen) != PSA_SUCCESS ||
		    psa_sign_hash(id, alg, hash, hlen, sig, sizeof(sig), &slen) != PSA_SUCCESS)
			goto out;
		psa_set_key_type(&pat, PSA_KEY_TYPE_PUBLIC_KEY_OF_KEY_PAIR(t));
		psa_set_key_usage_flags(&pat, PSA_KEY_USAGE_VERIFY_HASH);
		psa_set_key_algorithm(&pat, alg);
		if (psa_import_key(&pat, pub, plen, &pub_id) != PSA_SUCCESS ||
		    psa_verify_hash(pub_id, alg, hash, hlen, sig, slen) != PSA_SUCCESS)
			goto out;
		vput(v, pub, plen);
		ok = 1;
	} else if (t == PSA_KEY_TYPE_DERIVE) {
		ok = psa_key_derivation_setup(&d, alg) == PSA_SUCCESS &&
		     psa_key_derivation_input_bytes(&d, PSA_KEY_DERIVATION_INPUT_SEED,
		                                    (const uint8_t *)"seed", 4) == PSA_SUCCESS &&
		     psa_key_derivation_input_key(&d, PSA_KEY_DERIVATION_INPUT_SECRET, id) == PSA_SUCCESS &&
		     psa_key_derivation_input_bytes(&d, PSA_KEY_DERIVATION_INPUT_LABEL,
		                                    (const uint8_t *)"master secret", 13) == PSA_SUCCESS &&
		     psa_key_derivation_output_bytes(&d, ms, sizeof(ms)) == PSA_SUCCESS;
		if (ok)
			vput(v, ms, sizeof(ms));
	}
out:
	psa_key_derivation_abort(&d);
	if (pub_id != 0)
		psa_destroy_key(pub_id);
	psa_reset_key_attributes(&at);
	return ok ? 0 : -1;
}

/* The agent's committed set, serialised through the lookups: 0, or -1 if
 * any lookup fails or a key it names is missing or unusable. */
static int view_take(view *v)
{
	const pa_installed *in = &A.installed;
	uint8_t buf[4096];
	size_t i, n;
	pa_tls_profile prof;
	psa_key_id_t id;

	v->n = 0;
	vput(v, &in->counter, sizeof(in->counter));
	vput(v, &in->n, sizeof(in->n));
	vput(v, in->digest, sizeof(in->digest));
	for (i = 0; i < in->n; i++) {
		const pa_slot_entry *e = &in->e[i];

		vput(v, &e->slot, sizeof(e->slot));
		vput(v, &e->type, 1);
		vput(v, &e->usage, 1);
		vput(v, &e->alg, sizeof(e->alg));
		if (e->size > 0) {
			if (pa_lookup_data(&A, e->slot, e->type, buf, sizeof(buf), &n) != PA_OK ||
			    n != e->size)
				return -1;
			vput(v, buf, n);
		}
		if (e->key_id != 0) {
			if (pa_lookup_key(&A, e->slot, e->type, &id) != PA_OK || id != e->key_id ||
			    key_print(id, v) != 0)
				return -1;
		}
		memset(&prof, 0, sizeof(prof));
		if (pa_lookup_profile(&A, e->slot, &prof) == PA_OK)
			vput(v, &prof, sizeof(prof));
	}
	return 0;
}

static int view_equal(const view *a, const view *b)
{
	return a->n == b->n && a->n <= sizeof(a->b) && memcmp(a->b, b->b, a->n) == 0;
}

/* Keys made on the device: every pool key that exists is pending or held by
 * the committed set, and the other way round. */
static int pool_ok(void)
{
	unsigned j, i;

	for (j = 0; j < PA_KEYGEN_MAX; j++) {
		psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
		int exists = psa_get_key_attributes(PA_KEY_ID_KEYGEN(j), &at) == PSA_SUCCESS;
		int wanted = (A.kg_used >> j) & 1;

		psa_reset_key_attributes(&at);
		for (i = 0; i < A.installed.n; i++)
			if (A.installed.e[i].key_id == PA_KEY_ID_KEYGEN(j))
				wanted = 1;
		if (exists != wanted)
			return 0;
	}
	return 1;
}

/* The identity key exists and signs. */
static int identity_ok(void)
{
	view v;

	v.n = 0;
	return key_print(PA_KEY_ID_DEVICE, &v) == 0;
}

/* ---- scenarios: an operation from a flash image, cut everywhere ---------------------- */

enum { OP_START, OP_KEYGEN, OP_INSTALL };

typedef struct scen {
	const char *what;
	int op;
	const blob *b;              /* OP_INSTALL: the bundle */
	uint8_t *img;               /* the flash before */
	lsnap olds, news;           /* the store before and after a clean run */
	view oldv, newv;            /* the agent's set before and after */
	unsigned long nops;         /* flash operations of the clean run */
	pa_its_stats st;            /* and what the store did in it */
} scen;

static unsigned long cuts_tried, cuts_bad;

static int run_op(const scen *s)
{
	psa_key_id_t id = 0;
	int rc = start();

	if (rc != PA_OK || s->op == OP_START)
		return rc;
	if (s->op == OP_KEYGEN)
		return pa_keygen(&A, 1, &id);
	return install(s->b);
}

/* The clean run from the flash in mem: records old and new; leaves the new
 * image in mem and the agent started on it.  PA_OK or the failure. */
static int scen_prepare(scen *s, const char *what, int op, const blob *b)
{
	int rc;

	memset(s, 0, sizeof(*s));
	s->what = what;
	s->op = op;
	s->b = b;
	s->img = malloc(SIZE);
	if (s->img == NULL || power_on() != 0)
		return -1;
	memcpy(s->img, mem, SIZE);
	if (op != OP_START && (start() != PA_OK || view_take(&s->oldv) != 0))
		return -2;
	if (lsnap_take(&s->olds) != 0)
		return -3;
	memcpy(mem, s->img, SIZE);
	if (power_on() != 0)
		return -4;
	rc = run_op(s);
	s->nops = F.ops;
	pa_its_get_stats(&s->st);
	if (rc != PA_OK)
		return rc;
	if (power_on() != 0 || start() != PA_OK || lsnap_take(&s->news) != 0 ||
	    (op != OP_KEYGEN && view_take(&s->newv) != 0))
		return -5;
	return PA_OK;
}

static void scen_free(scen *s)
{
	free(s->img);
	lsnap_free(&s->olds);
	lsnap_free(&s->news);
}

/* After a cut: power on, restart, and the store, the set and the keys are
 * wholly old or wholly new; then a further install works. */
static int after_cut(const scen *s, const blob *further, const view *furtherv, char *why,
                     size_t cap)
{
	lsnap now;
	view *v = malloc(sizeof(*v));
	int rc, pre_ok = 1, is_old = 0, is_new = 0, ok = 0;

	memset(&now, 0, sizeof(now));
	if (v == NULL || power_on() != 0) {
		snprintf(why, cap, "mount failed");
		goto out;
	}
	if (s->op == OP_START) {   /* before the agent runs: no key, or the whole key */
		pre_ok = lsnap_take(&now) == 0 &&
		         (now.n == 0 || (now.n == 1 && now.uid[0] == PA_KEY_ID_DEVICE));
		lsnap_free(&now);
	}
	rc = start();
	if (rc != PA_OK || lsnap_take(&now) != 0) {
		snprintf(why, cap, "restart %d, or a record unreadable", rc);
		goto out;
	}
	switch (s->op) {
	case OP_START:
		is_new = pre_ok && now.n == 1 && identity_ok();
		break;
	case OP_KEYGEN:
		is_old = lsnap_equal(&now, &s->olds) && A.kg_used == 0 && pool_ok();
		is_new = !lsnap_equal(&now, &s->olds) && now.n == s->olds.n + 2 && A.kg_used != 0 &&
		         A.installed.n == 0 && pool_ok();
		break;
	default:
		if (view_take(v) != 0) {
			snprintf(why, cap, "a lookup or a key failed");
			goto out;
		}
		/* the old set with its receipt (byte for byte: the store as it
		 * was), or the new one with a receipt that names it */
		is_old = lsnap_equal(&now, &s->olds) && view_equal(v, &s->oldv) &&
		         (A.installed.counter == 0 || stored_receipt_ok());
		is_new = lsnap_equal_but_receipt(&now, &s->news) && view_equal(v, &s->newv) &&
		         pool_ok() && stored_receipt_ok();
		break;
	}
	if (is_old == is_new) {
		snprintf(why, cap, "old %d, new %d", is_old, is_new);
		goto out;
	}
	rc = install(further);
	if (rc != PA_OK || view_take(v) != 0 || !view_equal(v, furtherv)) {
		snprintf(why, cap, "further install: %d", rc);
		goto out;
	}
	ok = 1;
out:
	lsnap_free(&now);
	free(v);
	return ok;
}

/* Each flash operation is cut six ways: before it, after it, and torn with
 * two different prefixes of units (an erase: of the sector) and two partial
 * units (an erase: two garbage fillings). */
static const int tears[] = { PA_TEAR_BEFORE, PA_TEAR_AFTER, PA_TEAR_UNITS, PA_TEAR_UNITS,
	                     PA_TEAR_BITS, PA_TEAR_BITS };
#define TEARS (sizeof(tears) / sizeof(tears[0]))

static void campaign(scen *s, const blob *further, const view *furtherv)
{
	unsigned long c, bad = 0;
	size_t t;
	char why[128];

	for (c = 1; c <= s->nops; c++) {
		for (t = 0; t < TEARS; t++) {
			memcpy(mem, s->img, SIZE);
			if (power_on() != 0) {
				bad++;
				continue;
			}
			pa_flash_sim_arm(&F, c, tears[t], (uint32_t)(c * 2654435761u) ^ (uint32_t)(t * 40503u));
			(void)run_op(s);
			cuts_tried++;
			if (!after_cut(s, further, furtherv, why, sizeof(why))) {
				bad++;
				fprintf(stderr, "%s: cut at flash op %lu of %lu (tear %d): %s\n", s->what, c,
				        s->nops, tears[t], why);
			}
		}
	}
	cuts_bad += bad;
	CHECK_MSG(bad == 0, "%s: %lu of %lu cuts inconsistent", s->what, bad, s->nops * TEARS);
	printf("power cuts, %s: %lu flash operations (%" PRIu32 " B programmed, %" PRIu32
	       " erases, %" PRIu32 " collections), %lu cuts\n", s->what, s->nops,
	       s->st.bytes_programmed, s->st.sectors_erased, s->st.gc_runs, s->nops * TEARS);
	fflush(stdout);
}

/* Run the campaigns in two processes (each cut costs an install: ECDSA, ECDH),
 * adding up their counts and checks. */
static void campaigns(scen *const *sc, const blob *const *further, const view *const *fv, size_t n)
{
	struct { unsigned long tried, bad; int pass, fail; } r;
	int fds[2];
	pid_t pid;
	size_t i;
	int st = 0;

	if (pipe(fds) != 0 || (pid = fork()) < 0) {
		for (i = 0; i < n; i++)
			campaign(sc[i], further[i], fv[i]);
		return;
	}
	for (i = pid == 0 ? 1 : 0; i < n; i += 2)
		campaign(sc[i], further[i], fv[i]);
	CHECK_MSG(F.overwrites == 0, "%lu units programmed twice", F.overwrites);
	if (pid == 0) {
		r.tried = cuts_tried, r.bad = cuts_bad, r.pass = check_pass_, r.fail = check_fail_;
		fflush(stdout);
		_exit(write(fds[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(fds[1]);
	if (read(fds[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
		cuts_tried += r.tried, cuts_bad += r.bad;
		check_pass_ += r.pass, check_fail_ += r.fail;
	} else {
		check_fail_++;
		fprintf(stderr, "FAIL: the second campaign process died\n");
	}
	close(fds[0]);
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- bundles --------------------------------------------------------------------------- */

static int make_bundles(void)
{
	return run("set -e; cd '%s'; P='%s'; T='%s/templates'; exec >/dev/null 2>&1; "
	           "$P init --home f; $P signer export --home f > signer.pem; "
	           "$P mint --home f --template $T/mqtt-mtls.json --device X --recipient-key dev.pub; "
	           "$P bundle --home f --device X --out b1.cbor; "
	           "$P bundle --home f --device X --out b2.cbor; "
	           "$P mint --home f --rotate --template $T/coaps-psk.json --device X --recipient-key dev.pub; "
	           "$P bundle --home f --device X --out b3psk.cbor; "
	           "$P bundle --home f --device X --wipe --out b4wipe.cbor; "
	           "$P mint --home f --rotate --template $T/mqtt-mtls.json --device X --recipient-key dev.pub; "
	           "$P bundle --home f --device X --out b5.cbor", work, prov, top);
}

/* Keygen for slot 1 on the running agent, its CSR through prov: a rotation
 * of X with the device's key, bundled to `out`. */
static int keygen_bundle(const char *out)
{
	uint8_t csr[PA_CSR_MAX];
	size_t len = 0;
	psa_key_id_t id = 0;
	char path[PATH_MAX + 64];
	FILE *f;

	if (pa_keygen(&A, 1, &id) != PA_OK || pa_keygen_csr(id, "X", 1, csr, sizeof(csr), &len) != PA_OK)
		return -1;
	snprintf(path, sizeof(path), "%s/k.csr.der", work);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(csr, 1, len, f) != len || fclose(f) != 0)
		return -1;
	return run("set -e; cd '%s'; exec >/dev/null 2>&1; "
	           "openssl req -inform DER -in k.csr.der -verify -out k.csr.pem; "
	           "'%s' mint --home f --rotate --template '%s/templates/mqtt-mtls.json' "
	           "--device X --csr k.csr.pem --recipient-key dev.pub; "
	           "'%s' bundle --home f --device X --out %s", work, prov, top, prov, out);
}

/* A last mqtt-mtls bundle, with the highest counter: the further install. */
static int final_bundle(const char *out)
{
	return run("set -e; cd '%s'; P='%s'; exec >/dev/null 2>&1; "
	           "$P mint --home f --rotate --template '%s/templates/mqtt-mtls.json' --device X "
	           "--recipient-key dev.pub; $P bundle --home f --device X --out %s",
	           work, prov, top, out);
}

/* No key file of Mbed TLS's own ITS (psa_its_file.c) appeared in the
 * working directory: PSA stored its keys in the flash store. */
static int no_its_files(void)
{
	DIR *d = opendir(".");
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".psa_its") != NULL)
			n++;
	closedir(d);
	return n == 0;
}

/* ---- garbage collection during an install ------------------------------------------------ */

#define FILLER_UID 0x7000000000000001ull

/* From image s1 (a set installed), write and remove filler records until an
 * install of b collects garbage, and keep up to three such images whose
 * first erase falls early, midway and late in the install. */
static size_t gc_images(const uint8_t *s1, const blob *b, uint8_t *imgs[3])
{
	static uint8_t filler[300];
	uint8_t *img = malloc(SIZE);
	size_t found = 0, k;
	int have[3] = { 0, 0, 0 };

	memcpy(mem, s1, SIZE);
	if (img == NULL || power_on() != 0)
		return 0;
	memset(filler, 0x3c, sizeof(filler));
	for (k = 0; k < 300 && found < 3; k++) {
		pa_its_stats st;
		unsigned long first, nops;
		int bucket, rc;

		if (psa_its_set(FILLER_UID, (uint32_t)(k % 7) * 40 + 20, filler, 0) != PSA_SUCCESS ||
		    psa_its_remove(FILLER_UID) != PSA_SUCCESS)
			break;
		memcpy(img, mem, SIZE);
		/* a trial install from here */
		if (power_on() != 0)
			break;
		rc = start() == PA_OK ? install(b) : -1;
		first = F.first_erase;
		nops = F.ops;
		pa_its_get_stats(&st);
		memcpy(mem, img, SIZE);
		if (power_on() != 0 || rc != PA_OK)
			break;
		if (st.gc_runs == 0 || first == 0)
			continue;
		bucket = first * 3 < nops ? 0 : first * 3 < 2 * nops ? 1 : 2;
		if (have[bucket])
			continue;
		have[bucket] = 1;
		imgs[found] = malloc(SIZE);
		if (imgs[found] == NULL)
			break;
		memcpy(imgs[found++], img, SIZE);
	}
	free(img);
	return found;
}

/* ---- benchmark: flash written per install and per rotation -------------------------------- */

/* Install `rotations` bundles r0..r(n-1) one after the other on the store in
 * sim (already holding a first install), rebooting before each; *ok: how
 * many installed; bytes programmed summed into *bytes. */
static void rotate(pa_flash_sim *sim, unsigned rotations, unsigned *ok, unsigned long *bytes)
{
	pa_its_stats st;
	char name[64];
	unsigned i;

	*ok = 0;
	*bytes = 0;
	pa_flash_sim_reset_counts(sim);
	for (i = 0; i < rotations; i++) {
		blob b;

		snprintf(name, sizeof(name), "r%u.cbor", i);
		b = load(name);
		pa_flash_sim_arm(sim, 0, 0, 0);
		if (pa_its_mount(&sim->flash) == PSA_SUCCESS && start() == PA_OK && install(&b) == PA_OK)
			(*ok)++;
		pa_its_get_stats(&st);
		*bytes += st.bytes_programmed;
		free(b.p);
	}
}

static unsigned long most_erased(const pa_flash_sim *sim)
{
	unsigned long hi = 0;
	uint32_t s;

	for (s = 0; s < sim->flash.sectors; s++)
		hi = sim->sector_erases[s] > hi ? sim->sector_erases[s] : hi;
	return hi;
}

/* Figures as "name value" lines (bench/flash.sh reads them). */
static void bench(const scen *first, const scen *inst, const scen *rot, unsigned rotations)
{
	static uint8_t mem2[2 * 8192], key[512];
	struct psa_storage_info_t info;
	pa_flash_sim F2;
	unsigned ok, s;
	unsigned long bytes, hi;
	size_t klen = 0;
	blob b1 = load("b1.cbor");

	if (run("set -e; cd '%s'; P='%s'; exec >/dev/null 2>&1; i=0; "
	        "while [ $i -lt %u ]; do $P bundle --home f --device X --out r$i.cbor; i=$((i+1)); done",
	        work, prov, rotations) != 0 || b1.p == NULL) {
		printf("bench: cannot make the rotation bundles\n");
		return;
	}
	printf("flash.geometry %ux%u/%u\n", NSEC, SS, PSZ);
	printf("flash.bundle_bytes %zu\n", b1.n);
	printf("flash.first_start %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", first->st.bytes_programmed,
	       first->st.programs, first->st.sectors_erased);
	printf("flash.install %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", inst->st.bytes_programmed,
	       inst->st.programs, inst->st.sectors_erased);
	printf("flash.rotation %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", rot->st.bytes_programmed,
	       rot->st.programs, rot->st.sectors_erased);
	{
		size_t i, sum = 0, big = 0;

		for (i = 0; i < inst->news.n; i++) {
			sum += inst->news.len[i];
			big = inst->news.len[i] > big ? inst->news.len[i] : big;
		}
		printf("flash.records %zu %zu %zu\n", inst->news.n, sum, big);
	}
	/* steady state: rotations one after the other from the first install */
	memcpy(mem, inst->img, SIZE);
	if (power_on() != 0 || start() != PA_OK || install(&b1) != PA_OK)
		printf("bench: first install failed\n");
	rotate(&F, rotations, &ok, &bytes);
	hi = most_erased(&F);
	printf("flash.steady %u %u %.0f %.2f\n", ok, rotations, (double)bytes / rotations,
	       (double)F.erases / rotations);
	printf("flash.steady_sectors");
	for (s = 0; s < NSEC; s++)
		printf(" %lu", F.sector_erases[s]);
	printf("\nflash.endurance %.0f\n", hi > 0 ? 10000.0 * rotations / (double)hi : 0.0);
	/* a sector pair: two 8 KB sectors, the same identity key, the same bundles */
	if (psa_its_get_info(PA_KEY_ID_DEVICE, &info) == PSA_SUCCESS && info.size <= sizeof(key))
		(void)psa_its_get(PA_KEY_ID_DEVICE, 0, info.size, key, &klen);
	pa_flash_sim_init(&F2, mem2, 8192, 2, PSZ);
	if (klen == 0 || pa_its_mount(&F2.flash) != PSA_SUCCESS ||
	    psa_its_set(PA_KEY_ID_DEVICE, (uint32_t)klen, key, 0) != PSA_SUCCESS || start() != PA_OK ||
	    install(&b1) != PA_OK) {
		printf("bench: cannot set up the sector pair\n");
	} else {
		/* the first install's bundle again (counter 1) is a replay: start
		 * from the rotations, which the first one already counted */
		rotate(&F2, rotations, &ok, &bytes);
		hi = most_erased(&F2);
		printf("flash.pair %u %u %.0f %.2f %lu %lu\n", ok, rotations, (double)bytes / rotations,
		       (double)F2.erases / rotations, F2.sector_erases[0], F2.sector_erases[1]);
		printf("flash.pair_endurance %.0f\n", hi > 0 ? 10000.0 * rotations / (double)hi : 0.0);
	}
	pa_flash_sim_init(&F, mem, SS, NSEC, PSZ);
	free(b1.p);
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], build[PATH_MAX], path[PATH_MAX + 64];
	static scen s_start, s_inst, s_rot, s_psk, s_wipe, s_after, s_kg, s_kgi, s_kgr, s_gc[3];
	static view fv_next, fv_wipe;
	blob b1, b2, b3psk, b4wipe, b5, bk1, bk2, bn;
	uint8_t *s0 = malloc(SIZE), *s1 = malloc(SIZE), *gcimg[3] = { NULL, NULL, NULL };
	size_t ngc, i;
	int rc, bench_mode = argc > 1 && strcmp(argv[1], "--bench") == 0;
	struct psa_storage_info_t info;

	if (realpath(argv[0], self) == NULL || getcwd(top, sizeof(top)) == NULL || s0 == NULL ||
	    s1 == NULL)
		return 1;
	snprintf(build, sizeof(build), "%s", dirname(dirname(self)));
	snprintf(prov, sizeof(prov), "%s/prov", build);
	snprintf(work, sizeof(work), "/tmp/pa-flash-XXXXXX");
	if (make_device_dir(work, devdir, sizeof(devdir)) != 0 || chdir(devdir) != 0)
		return 1;
	pa_flash_sim_init(&F, mem, SS, NSEC, PSZ);
	memset(SIG, 0, sizeof(SIG));

	/* the first start on blank flash makes the identity key, in the store */
	rc = scen_prepare(&s_start, "first start", OP_START, NULL);
	CHECK_MSG(rc == PA_OK, "first start: %d", rc);
	CHECK(psa_its_get_info(PA_KEY_ID_DEVICE, &info) == PSA_SUCCESS && info.size > 32);
	memcpy(s0, mem, SIZE);
	snprintf(path, sizeof(path), "%s/dev.pub", work);
	CHECK(write_pub_pem(path, A.pub) == 0);
	CHECK(make_bundles() == 0);
	snprintf(path, sizeof(path), "%s/signer.pem", work);
	CHECK(signer_from_pem(path, &SIG[0]) == 0);
	b1 = load("b1.cbor"), b2 = load("b2.cbor"), b3psk = load("b3psk.cbor");
	b4wipe = load("b4wipe.cbor"), b5 = load("b5.cbor");
	if (b5.p == NULL)
		return check_done("test_agent_flash");

	/* the chain of states, each a clean run */
	memcpy(mem, s0, SIZE);
	rc = scen_prepare(&s_inst, "full install", OP_INSTALL, &b1);
	CHECK_MSG(rc == PA_OK, "install: %d", rc);
	CHECK(s_inst.newv.n > 0 && A.installed.n == 3 && A.installed.counter == 1);
	memcpy(s1, mem, SIZE);
	rc = scen_prepare(&s_rot, "rotation, same template", OP_INSTALL, &b2);
	CHECK_MSG(rc == PA_OK, "rotation: %d", rc);
	rc = scen_prepare(&s_psk, "rotation, mqtt-mtls to coaps-psk", OP_INSTALL, &b3psk);
	CHECK_MSG(rc == PA_OK && A.installed.n == 1, "coaps-psk: %d", rc);
	rc = scen_prepare(&s_wipe, "wipe", OP_INSTALL, &b4wipe);
	CHECK_MSG(rc == PA_OK && A.installed.n == 0 && A.installed.counter == 4, "wipe: %d", rc);
	rc = scen_prepare(&s_after, "install after wipe", OP_INSTALL, &b5);
	CHECK_MSG(rc == PA_OK && A.installed.n == 3, "after wipe: %d", rc);
	/* keys made on the device */
	memcpy(mem, s0, SIZE);
	rc = scen_prepare(&s_kg, "keygen", OP_KEYGEN, NULL);
	CHECK_MSG(rc == PA_OK && A.kg_used != 0, "keygen: %d", rc);
	CHECK(keygen_bundle("bk1.cbor") == 0);
	bk1 = load("bk1.cbor");
	rc = scen_prepare(&s_kgi, "keygen + install", OP_INSTALL, &bk1);
	CHECK_MSG(rc == PA_OK && A.kg_used == 0 && A.installed.n == 3, "keygen install: %d", rc);
	CHECK(keygen_bundle("bk2.cbor") == 0);   /* a new key pending: written now */
	bk2 = load("bk2.cbor");
	rc = scen_prepare(&s_kgr, "rotation to a new keygen key", OP_INSTALL, &bk2);
	CHECK_MSG(rc == PA_OK && A.kg_used == 0, "keygen rotation: %d", rc);
	/* the further install after each cut, and what it must leave */
	CHECK(final_bundle("bn.cbor") == 0);
	bn = load("bn.cbor");
	memcpy(mem, s1, SIZE);
	CHECK(power_on() == 0 && start() == PA_OK && install(&bn) == PA_OK && view_take(&fv_next) == 0);
	memcpy(mem, s_start.img, SIZE);
	CHECK(power_on() == 0 && start() == PA_OK && install(&b4wipe) == PA_OK &&
	      view_take(&fv_wipe) == 0);
	/* installs during which the store collects garbage */
	ngc = gc_images(s1, &b2, gcimg);
	CHECK_MSG(ngc >= 2, "%zu images where an install collects garbage", ngc);
	for (i = 0; i < ngc; i++) {
		static char what[3][64];

		snprintf(what[i], sizeof(what[i]), "rotation with a garbage collection (%zu)", i + 1);
		memcpy(mem, gcimg[i], SIZE);
		rc = scen_prepare(&s_gc[i], what[i], OP_INSTALL, &b2);
		CHECK_MSG(rc == PA_OK && s_gc[i].st.gc_runs > 0, "%s: %d", what[i], rc);
	}
	CHECK(no_its_files());   /* PSA's keys went to the flash store, not to files */

	if (bench_mode) {
		bench(&s_start, &s_inst, &s_rot, 60);
		return check_done("test_agent_flash");
	}

	{
		scen *sc[16] = { &s_start, &s_inst, &s_rot, &s_psk, &s_wipe, &s_after, &s_kg, &s_kgi,
		                 &s_kgr };
		const blob *fb[16];
		const view *fvs[16];
		size_t n = 9;

		for (i = 0; i < ngc; i++)
			sc[n++] = &s_gc[i];
		for (i = 0; i < n; i++) {
			fb[i] = i == 0 ? &b4wipe : &bn;
			fvs[i] = i == 0 ? &fv_wipe : &fv_next;
		}
		campaigns(sc, fb, fvs, n);
	}
	CHECK(no_its_files());
	printf("%lu cuts tried, %lu inconsistent\n", cuts_tried, cuts_bad);

	scen_free(&s_start), scen_free(&s_inst), scen_free(&s_rot), scen_free(&s_psk);
	scen_free(&s_wipe), scen_free(&s_after), scen_free(&s_kg), scen_free(&s_kgi);
	scen_free(&s_kgr);
	for (i = 0; i < ngc; i++) {
		scen_free(&s_gc[i]);
		free(gcimg[i]);
	}
	free(b1.p), free(b2.p), free(b3psk.p), free(b4wipe.p), free(b5.p), free(bk1.p), free(bk2.p);
	free(bn.p), free(s0), free(s1);
	psa_reboot();
	if (chdir(top) == 0)
		run("rm -rf '%s'", work);
	return check_done("test_agent_flash");
}
