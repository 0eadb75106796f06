/* issue.c - the one issue path (see prov/issue.h).  One function, issue_txn,
 * owns the transaction: begin, store the template, look the devices up, mint
 * and bundle each, sync its bundle files, commit; on any failure roll back
 * and leave nothing behind; run again after a collision with another
 * station.  prov_issue_device calls it for one device, prov_issue_batch for
 * the batch's template and then for each chunk. */
#include "prov/issue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prov/db.h"
#include "prov/records.h"
#include "prov/util.h"

/* One device, inside issue_txn's transaction: mint (when asked), then the
 * bundle (when asked), then its file (when path is given; not synced:
 * issue_txn syncs the directory before it commits).  *bundle keeps the bundle
 * when bundle is not NULL, else it is wiped here. */
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

/* A device of an issue transaction: what to do, and where its results go. */
typedef struct issue_item {
	prov_issue_req r;          /* the device (r.m.device_id) and what to do */
	prov_mint_result *res;     /* as prov_mint_one fills it, and the bundle's counter and file */
	prov_bundle_info *info;    /* with r.bundle: the bundle's description (NULL: not wanted) */
	uint8_t **bundle;          /* with r.bundle: the bundle, for the caller to wipe and free (NULL: wiped) */
	size_t *bundle_len;
	int written;               /* its bundle file is on disk (removed if the transaction rolls back) */
} issue_item;

/* What a transaction does around its devices. */
typedef struct issue_how {
	char *const *ids;          /* look up these (the items') devices at once: a batch's chunk; or NULL */
	const char *bundle_dir;    /* write each bundle to DIR/<id>.cbor, synced before the commit; or NULL */
	int skip_existing;         /* a device that exists is skipped (res->skipped), not a failure */
	int store_template;        /* store the template first (an upsert) */
} issue_how;

/* The one issue transaction, for n devices: begin, store the template
 * (how->store_template), look up the devices' generations in one go (how->ids: a
 * round trip a chunk, not a device, on a database server), mint and bundle
 * each (issue_one), sync the bundle directory, commit.  On any failure it
 * rolls back, removes the bundle files it wrote and wipes the bundles it
 * kept, so nothing of it remains; *failed_id is then the device that failed
 * (NULL: the transaction itself).  A transaction that collided with another
 * station's (a device ID it registered first, say) runs again and then sees
 * it. */
static prov_status issue_txn(prov_home *h, const prov_template *t, issue_item *it, size_t n,
                             const issue_how *how, const char **failed_id, prov_err *e)
{
	prov_status st;
	int tries = 0;

	prov_db_conflict(h->db);
again:
	*failed_id = NULL;
	for (size_t i = 0; i < n; i++) {
		if (it[i].res != NULL)
			memset(it[i].res, 0, sizeof(*it[i].res));
		it[i].written = 0;
		if (it[i].bundle != NULL) {
			*it[i].bundle = NULL;
			*it[i].bundle_len = 0;
		}
	}
	st = prov_db_begin(h->db, e);
	if (st == PROV_OK && how->store_template)
		st = prov_template_store(h, t, e);
	if (st == PROV_OK && how->ids != NULL)
		st = prov_records_device_generations(h->db, how->ids, n, e);
	for (size_t i = 0; i < n && st == PROV_OK; i++) {
		issue_item *d = &it[i];
		const char *id = d->r.m.device_id;
		prov_bundle_info bi, *info = d->info != NULL ? d->info : &bi;
		char path[sizeof(d->res->bundle_path)];

		if (how->bundle_dir != NULL)
			snprintf(path, sizeof(path), "%s/%s.cbor", how->bundle_dir, id);
		st = issue_one(h, t, &d->r, how->bundle_dir != NULL ? path : NULL, d->res, info, d->bundle,
		               d->bundle_len, e);
		if (st == PROV_E_EXISTS && how->skip_existing && d->res->existed) {
			memset(d->res, 0, sizeof(*d->res));
			snprintf(d->res->device_id, sizeof(d->res->device_id), "%s", id);
			d->res->skipped = 1;
			st = PROV_OK;
			continue;
		}
		if (st != PROV_OK) {
			*failed_id = id;
			break;
		}
		if (how->bundle_dir != NULL) {
			memcpy(d->res->bundle_path, path, sizeof(path));
			d->written = 1;
		}
		if (d->r.bundle && d->res != NULL)
			d->res->bundle_counter = info->counter;
	}
	/* The bundle files reach the disk before the database says so. */
	if (st == PROV_OK && how->bundle_dir != NULL)
		st = prov_dir_sync(how->bundle_dir, e);
	if (st == PROV_OK)
		st = prov_db_commit(h->db, e);
	if (st == PROV_OK)
		return PROV_OK;
	prov_db_rollback(h->db);
	/* Nothing of a rolled-back transaction may remain: remove its bundle
	 * files, wipe the bundles it kept. */
	for (size_t i = 0; i < n; i++) {
		if (it[i].written)
			remove(it[i].res->bundle_path);
		if (it[i].bundle != NULL && *it[i].bundle != NULL) {
			prov_wipe(*it[i].bundle, *it[i].bundle_len);
			free(*it[i].bundle);
			*it[i].bundle = NULL;
			*it[i].bundle_len = 0;
		}
	}
	if (prov_db_conflict(h->db) && ++tries < ISSUE_RETRIES)
		goto again;
	return st;
}

prov_status prov_issue_device(prov_home *h, const prov_template *t, const prov_issue_req *r,
                              prov_mint_result *res, prov_bundle_info *info, uint8_t **bundle,
                              size_t *bundle_len, prov_err *e)
{
	issue_item it = {*r, res, info, bundle, bundle_len, 0};
	const issue_how how = {NULL, NULL, 0, r->mint};
	const char *failed_id;

	return issue_txn(h, t, &it, 1, &how, &failed_id, e);
}

prov_status prov_issue_batch(prov_home *h, const prov_template *t, char *const *ids, size_t n,
                             const prov_batch_opts *o, prov_batch_summary *sum, prov_err *e)
{
	size_t chunk = o->chunk != 0 ? o->chunk : 256;
	prov_mint_result *res = calloc(chunk, sizeof(*res));
	issue_item *it = calloc(chunk, sizeof(*it));
	prov_status st = PROV_OK;
	prov_issue_req r;
	issue_how how;
	uint8_t *spki = NULL, kid[8];
	size_t spki_len = 0;

	memset(sum, 0, sizeof(*sum));
	sum->requested = n;
	if (res == NULL || it == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	/* Every device the same way, with one recipient for the whole batch:
	 * encode it once, not per device. */
	memset(&r, 0, sizeof(r));
	r.mint = 1;
	r.m.rotate = o->rotate;
	r.m.revoke_previous = o->revoke_previous;
	r.m.recipient = o->recipient;
	r.m.recipient_spki = o->recipient_spki;
	r.m.recipient_spki_len = o->recipient_spki_len;
	r.bundle = o->bundles || o->bundle_dir != NULL;
	r.b.recipient = o->recipient;
	r.b.recipient_kid = o->recipient != NULL ? o->recipient_kid : NULL;
	r.b.insecure_plaintext = o->insecure_plaintext;
	if (o->recipient != NULL) {
		st = prov_key_spki(o->recipient, &spki, &spki_len, e);
		if (st == PROV_OK)
			st = prov_key_kid(o->recipient, kid, e);
		if (st != PROV_OK)
			goto out;
		r.m.recipient_spki = spki;
		r.m.recipient_spki_len = spki_len;
		r.b.recipient_kid = kid;
	}
	/* The template first, in a transaction of its own: the chunks find it
	 * committed.  Stored by each chunk instead, a new template would make
	 * every other station's first chunk wait (on PostgreSQL) for this one's
	 * first chunk to commit: the upsert waits for the row another
	 * transaction inserted (bench/pg.sh saw 9% of the four stations' samples
	 * waiting on a lock, and 1.10x one station instead of 1.19x). */
	memset(&how, 0, sizeof(how));
	how.store_template = 1;
	st = issue_txn(h, t, NULL, 0, &how, &sum->failed_id, e);
	if (st != PROV_OK)
		goto out;
	how.store_template = 0;
	how.bundle_dir = o->bundle_dir;
	how.skip_existing = o->skip_existing;
	for (size_t base = 0; base < n; base += chunk) {
		size_t m = n - base < chunk ? n - base : chunk;

		for (size_t i = 0; i < m; i++) {
			memset(&it[i], 0, sizeof(it[i]));
			it[i].r = r;
			it[i].r.m.device_id = ids[base + i];
			it[i].res = &res[i];
		}
		how.ids = ids + base;
		st = issue_txn(h, t, it, m, &how, &sum->failed_id, e);
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
	free(it);
	return st;
}
