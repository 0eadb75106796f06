/* issue.c - the one issue path (see prov/issue.h). */
#include "prov/issue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prov/db.h"
#include "prov/records.h"
#include "prov/util.h"

/* The sequence every issue runs, inside the caller's transaction: mint (when
 * asked), then the bundle (when asked), then its file (when path is given; not
 * synced: the caller syncs the directory before it commits).  *bundle keeps
 * the bundle when bundle is not NULL, else it is wiped here. */
static prov_status issue_one(prov_home *h, const prov_template *t, const prov_issue_req *r,
                             const char *path, prov_mint_result *res, prov_bundle_info *info,
                             uint8_t **bundle, size_t *bundle_len, prov_err *e)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	prov_status st = PROV_OK;

	memset(info, 0, sizeof(*info));
	if (r->mint)
		st = prov_mint_one(h, t, &r->m, res, e);
	if (st == PROV_OK && r->bundle)
		st = prov_bundle_build(h, r->m.device_id, &r->b, &buf, &len, info, e);
	if (st == PROV_OK && r->bundle && path != NULL)
		st = prov_file_write_nosync(path, buf, len, 0600, e);
	if (st == PROV_OK && bundle != NULL) {
		*bundle = buf;
		*bundle_len = len;
		return PROV_OK;
	}
	if (buf != NULL)
		prov_wipe(buf, len); /* lab bundles carry plaintext secrets */
	free(buf);
	return st;
}

/* How often a transaction that collided with another station's runs again
 * (prov_db_conflict: PostgreSQL only). */
#define ISSUE_RETRIES 8

static prov_status issue_device_once(prov_home *h, const prov_template *t, const prov_issue_req *r,
                                     prov_mint_result *res, prov_bundle_info *info, uint8_t **bundle,
                                     size_t *bundle_len, prov_err *e);

prov_status prov_issue_device(prov_home *h, const prov_template *t, const prov_issue_req *r,
                              prov_mint_result *res, prov_bundle_info *info, uint8_t **bundle,
                              size_t *bundle_len, prov_err *e)
{
	prov_status st;
	int tries = 0;

	prov_db_conflict(h->db);
	do
		st = issue_device_once(h, t, r, res, info, bundle, bundle_len, e);
	while (st != PROV_OK && prov_db_conflict(h->db) && ++tries < ISSUE_RETRIES);
	return st;
}

static prov_status issue_device_once(prov_home *h, const prov_template *t, const prov_issue_req *r,
                                     prov_mint_result *res, prov_bundle_info *info, uint8_t **bundle,
                                     size_t *bundle_len, prov_err *e)
{
	prov_bundle_info bi;
	prov_status st;

	if (bundle != NULL) {
		*bundle = NULL;
		*bundle_len = 0;
	}
	st = prov_db_begin(h->db, e);
	if (st != PROV_OK)
		return st;
	if (r->mint)
		st = prov_template_store(h, t, e);
	if (st == PROV_OK)
		st = issue_one(h, t, r, NULL, res, info != NULL ? info : &bi, bundle, bundle_len, e);
	if (st == PROV_OK)
		st = prov_db_commit(h->db, e);
	if (st == PROV_OK)
		return PROV_OK;
	prov_db_rollback(h->db);
	if (bundle != NULL && *bundle != NULL) {
		prov_wipe(*bundle, *bundle_len);
		free(*bundle);
		*bundle = NULL;
		*bundle_len = 0;
	}
	return st;
}

/* One chunk: a transaction of up to o->chunk devices. */
static prov_status issue_chunk(prov_home *h, const prov_template *t, char *const *ids, size_t n,
                               const prov_batch_opts *o, prov_mint_result *res, char **written,
                               prov_batch_summary *sum, prov_err *e)
{
	prov_status st;

	memset(written, 0, n * sizeof(*written));
	st = prov_db_begin(h->db, e);
	/* Which of the chunk's devices exist: one lookup for all (a round trip
	 * a chunk, not a device, on a database server). */
	if (st == PROV_OK)
		st = prov_records_device_generations(h->db, ids, n, e);
	if (st != PROV_OK) {
		prov_db_rollback(h->db);
		return st;
	}
	for (size_t i = 0; i < n; i++) {
		prov_issue_req r;
		prov_bundle_info bi;
		char path[sizeof(res[i].bundle_path)];

		memset(&r, 0, sizeof(r));
		r.mint = 1;
		r.m.device_id = ids[i];
		r.m.rotate = o->rotate;
		r.m.revoke_previous = o->revoke_previous;
		r.m.recipient = o->recipient;
		r.m.recipient_spki = o->recipient_spki;
		r.m.recipient_spki_len = o->recipient_spki_len;
		r.bundle = o->bundles || o->bundle_dir != NULL;
		r.b.recipient = o->recipient;
		r.b.recipient_kid = o->recipient != NULL ? o->recipient_kid : NULL;
		r.b.insecure_plaintext = o->insecure_plaintext;
		if (o->bundle_dir != NULL)
			snprintf(path, sizeof(path), "%s/%s.cbor", o->bundle_dir, ids[i]);
		st = issue_one(h, t, &r, o->bundle_dir != NULL ? path : NULL, &res[i], &bi, NULL, NULL, e);
		if (st == PROV_E_EXISTS && res[i].existed && o->skip_existing) {
			memset(&res[i], 0, sizeof(res[i]));
			snprintf(res[i].device_id, sizeof(res[i].device_id), "%s", ids[i]);
			res[i].skipped = 1;
			continue;
		}
		if (st != PROV_OK) {
			sum->failed_id = ids[i];
			goto fail;
		}
		if (o->bundle_dir != NULL) {
			memcpy(res[i].bundle_path, path, sizeof(path));
			written[i] = res[i].bundle_path;
		}
		if (r.bundle)
			res[i].bundle_counter = bi.counter;
	}
	/* The chunk's bundle files reach the disk before the database says so. */
	if (o->bundle_dir != NULL && (st = prov_dir_sync(o->bundle_dir, e)) != PROV_OK)
		goto fail;
	st = prov_db_commit(h->db, e);
	if (st == PROV_OK)
		return PROV_OK;
fail:
	prov_db_rollback(h->db);
	/* Nothing of a rolled-back chunk may remain: remove its bundle files. */
	for (size_t i = 0; i < n; i++)
		if (written[i] != NULL)
			remove(written[i]);
	return st;
}

prov_status prov_issue_batch(prov_home *h, const prov_template *t, char *const *ids, size_t n,
                             const prov_batch_opts *o, prov_batch_summary *sum, prov_err *e)
{
	size_t chunk = o->chunk != 0 ? o->chunk : 256;
	prov_mint_result *res = calloc(chunk, sizeof(*res));
	char **written = calloc(chunk, sizeof(*written));
	prov_status st = PROV_OK;
	prov_batch_opts oo = *o;
	uint8_t *spki = NULL, kid[8];
	size_t spki_len = 0;

	memset(sum, 0, sizeof(*sum));
	sum->requested = n;
	if (res == NULL || written == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	/* One recipient for the whole batch: encode it once, not per device. */
	if (o->recipient != NULL) {
		st = prov_key_spki(o->recipient, &spki, &spki_len, e);
		if (st == PROV_OK)
			st = prov_key_kid(o->recipient, kid, e);
		if (st != PROV_OK)
			goto out;
		oo.recipient_spki = spki;
		oo.recipient_spki_len = spki_len;
		oo.recipient_kid = kid;
	}
	o = &oo;
	st = prov_db_begin(h->db, e);
	if (st == PROV_OK)
		st = prov_template_store(h, t, e);
	if (st == PROV_OK)
		st = prov_db_commit(h->db, e);
	if (st != PROV_OK) {
		prov_db_rollback(h->db);
		goto out;
	}
	for (size_t base = 0; base < n; base += chunk) {
		size_t m = n - base < chunk ? n - base : chunk;

		int tries = 0;

		/* A chunk that collided with another station's (a device ID it
		 * registered first, say) runs again and then sees it. */
		prov_db_conflict(h->db);
		do {
			memset(res, 0, m * sizeof(*res));
			sum->failed_id = NULL;
			st = issue_chunk(h, t, ids + base, m, o, res, written, sum, e);
		} while (st != PROV_OK && prov_db_conflict(h->db) && ++tries < ISSUE_RETRIES);
		if (st != PROV_OK)
			goto out;
		for (size_t i = 0; i < m; i++) {
			if (res[i].skipped)
				sum->skipped++;
			else if (res[i].rotated)
				sum->rotated++;
			else
				sum->minted++;
			if (o->on_result != NULL)
				o->on_result(o->ctx, &res[i]);
		}
		if (o->on_progress != NULL)
			o->on_progress(o->ctx, base + m, n);
		/* Leave the write lock free for a moment between chunks, so other prov
		 * processes (polling every millisecond) get their turn. */
		if (base + m < n) {
			const struct timespec pause = {0, 2000000};

			nanosleep(&pause, NULL);
		}
	}
out:
	OPENSSL_free(spki);
	free(res);
	free(written);
	return st;
}
