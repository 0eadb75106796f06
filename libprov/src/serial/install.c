/* install.c - provisioning one device over SMP (see prov/install.h). */
#include "prov/install.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pa/pa_status.h"   /* the agent's codes the host reacts to (docs/agent.md) */
#include "prov/bundle.h"
#include "prov/cbor.h"
#include "prov/db.h"
#include "prov/home.h"
#include "prov/issue.h"
#include "prov/keys.h"
#include "prov/receipt.h"
#include "prov/records.h"
#include "prov/smp.h"
#include "prov/template.h"
#include "prov/util.h"

/* Sessions per device (info .. commit): a reset device has a new nonce, so its
 * session starts over with a new bundle. */
#define SESSIONS_MAX 4
/* Uploads restarted from offset 0 within one session. */
#define RESTARTS_MAX 4
/* What an upload request adds around its data: header 8, map head 1, "off" 4 +
 * uint 3, "data" 5 + bstr head 3, "len" 4 + uint 3, "sha" 4 + 34; rounded up. */
#define UPLOAD_OVERHEAD 80
/* The smallest chunk an upload shrinks to on a noisy line. */
#define UPLOAD_CHUNK_MIN 64

/* What the device reports in its info answer (prov/smp.h). */
typedef prov_smp_info dev_info;

typedef struct db_dev {
	int exists;
	uint8_t spki[256];
	size_t spki_len;
	unsigned long long bundle_counter;
	int installed;                     /* an install is recorded */
	unsigned long long inst_counter;
	uint8_t inst_digest[32];
	uint8_t key_spki[256];             /* the newest device key, if any */
	size_t key_spki_len;
	char key_origin[16];
} db_dev;

const char *prov_install_outcome_name(prov_install_outcome o)
{
	switch (o) {
	case PROV_INSTALL_INSTALLED: return "installed";
	case PROV_INSTALL_ALREADY: return "already-provisioned";
	case PROV_INSTALL_RECORDED: return "recorded";
	default: return "failed";
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress(const prov_install_opts *o, prov_install_result *r, const char *stage,
                     size_t done, size_t total)
{
	if (o->progress != NULL)
		o->progress(o->ctx, r->port, r->device, stage, done, total);
}

/* One request; a device error becomes PROV_E_VERIFY unless the caller wants
 * the rc (dev_rc != NULL). */
static prov_status request(prov_smp_port *p, unsigned op, unsigned id, cbor_item_t *body,
                           cbor_item_t **resp, int *dev_rc, const char *what, prov_err *e)
{
	int rc = 0;
	prov_status st;

	*resp = NULL;
	if (body == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	st = prov_smp_request(p, op, PROV_SMP_GROUP_PROV, id, body, resp, &rc, e);
	if (st != PROV_OK)
		return prov_err_wrap(e, "%s", what);
	if (dev_rc != NULL) {
		*dev_rc = rc;
		return PROV_OK;
	}
	if (rc != 0) {
		cbor_decref(resp);
		return prov_err_set(e, rc == PROV_SMP_RC_NOT_SUPPORTED ? PROV_E_INPUT : PROV_E_VERIFY,
		                    "%s: the device answered error %d", what, rc);
	}
	return PROV_OK;
}

static prov_status get_info(prov_smp_port *p, dev_info *d, prov_err *e)
{
	cbor_item_t *body = cbor_new_definite_map(0), *resp = NULL;
	prov_status st;

	memset(d, 0, sizeof(*d));
	st = request(p, PROV_SMP_OP_READ, PROV_SMP_P_INFO, body, &resp, NULL, "device info", e);
	if (body != NULL)
		cbor_decref(&body);
	if (st != PROV_OK)
		return st;
	st = prov_smp_info_parse(resp, d, e);
	if (st == PROV_OK && (d->mtu < UPLOAD_OVERHEAD + 64 || d->max == 0))
		st = prov_err_set(e, PROV_E_INPUT, "device info: mtu %llu or largest bundle %llu too small",
		                  (unsigned long long)d->mtu, (unsigned long long)d->max);
	cbor_decref(&resp);
	return st;
}

static prov_status load_db_dev(prov_home *h, const char *id, db_dev *d, prov_err *e)
{
	prov_rec_device dev;
	prov_rec_key key;
	size_t n = 0;
	int found = 0;
	prov_status st;

	memset(d, 0, sizeof(*d));
	st = prov_records_device(h->db, id, &dev, e);
	if (st == PROV_E_NOTFOUND)
		return PROV_OK;
	if (st != PROV_OK)
		return st;
	d->exists = 1;
	d->bundle_counter = dev.bundle_counter;
	if (dev.recipient_spki != NULL && dev.recipient_spki_len > 0 && dev.recipient_spki_len <= sizeof(d->spki)) {
		memcpy(d->spki, dev.recipient_spki, dev.recipient_spki_len);
		d->spki_len = dev.recipient_spki_len;
	}
	prov_rec_device_free(&dev);
	st = prov_records_install_newest(h->db, id, &d->inst_counter, d->inst_digest, &n, &found, e);
	if (st != PROV_OK)
		return st;
	d->installed = found && n == 32;
	if (!d->installed)
		d->inst_counter = 0;
	st = prov_records_key(h->db, id, 0, &key, &found, e);
	if (st == PROV_OK && found) {
		if (key.spki != NULL && key.spki_len > 0 && key.spki_len <= sizeof(d->key_spki)) {
			memcpy(d->key_spki, key.spki, key.spki_len);
			d->key_spki_len = key.spki_len;
		}
		snprintf(d->key_origin, sizeof(d->key_origin), "%.15s", key.origin);
	}
	prov_rec_key_free(&key);
	return st;
}

/* Record a receipt in its own transaction. */
static prov_status record_receipt(prov_home *h, const uint8_t *rc_buf, size_t rc_len,
                                  prov_receipt *rec, prov_err *e)
{
	prov_status st = prov_db_begin(h->db, e);

	if (st == PROV_OK)
		st = prov_receipt_record(h, rc_buf, rc_len, rec, e);
	if (st == PROV_OK)
		st = prov_db_commit(h->db, e);
	if (st != PROV_OK) {
		prov_db_rollback(h->db);
		prov_err_wrap(e, "recording the receipt");
	}
	return st;
}

/* The device's status: counter, digest and the receipt of its installed set. */
static prov_status get_status(prov_smp_port *p, uint64_t *ctr, uint8_t digest[32], int *has_digest,
                              uint8_t **receipt, size_t *receipt_len, prov_err *e)
{
	cbor_item_t *body = cbor_new_definite_map(0), *resp = NULL;
	prov_smp_status ds;
	prov_status st;

	*receipt = NULL;
	*receipt_len = 0;
	*has_digest = 0;
	st = request(p, PROV_SMP_OP_READ, PROV_SMP_P_STATUS, body, &resp, NULL, "device status", e);
	if (body != NULL)
		cbor_decref(&body);
	if (st != PROV_OK)
		return st;
	st = prov_smp_status_parse(resp, &ds, e);
	if (st != PROV_OK)
		goto out;
	*ctr = ds.ctr;
	if (ds.has_digest) {
		memcpy(digest, ds.digest, 32);
		*has_digest = 1;
	}
	if (ds.receipt != NULL) {
		*receipt = malloc(ds.receipt_len);
		if (*receipt == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
			goto out;
		}
		memcpy(*receipt, ds.receipt, ds.receipt_len);
		*receipt_len = ds.receipt_len;
	}
out:
	cbor_decref(&resp);
	return st;
}

/* The certificate slot whose key the device makes, or -1 (host-made keys or
 * no device key at all). */
static long device_key_slot(const prov_template *t)
{
	if (t->key_type == PROV_KEY_NONE || t->key_source == PROV_KEYSRC_HOST)
		return -1;
	for (size_t i = 0; i < t->n_creds; i++)
		if (t->creds[i].kind == PROV_CRED_CERT || t->creds[i].kind == PROV_CRED_RPK)
			return (long)t->creds[i].slot;
	return -1;
}

/* keygen on the device: its CSR (DER) into a temporary file for mint. */
static prov_status keygen(prov_smp_port *p, long slot, const char *id, char *csr_path, size_t cap,
                          uint8_t *spki, size_t *spki_len, int *unsupported, prov_err *e)
{
	cbor_item_t *body = cbor_new_definite_map(2), *resp = NULL;
	const uint8_t *b;
	size_t n;
	int rc = 0, fd;
	prov_status st;

	*unsupported = 0;
	csr_path[0] = 0;
	if (body != NULL && (prov_smp_put(body, "slot", prov_cbor_uint((uint64_t)slot)) != 0 ||
	                     prov_smp_put(body, "cn", prov_cbor_text(id)) != 0)) {
		cbor_decref(&body);
		body = NULL;
	}
	st = request(p, PROV_SMP_OP_WRITE, PROV_SMP_P_KEYGEN, body, &resp, &rc, "key generation", e);
	if (body != NULL)
		cbor_decref(&body);
	if (st != PROV_OK)
		return st;
	if (rc == PROV_SMP_RC_NOT_SUPPORTED) {
		*unsupported = 1;
		st = prov_err_set(e, PROV_E_INPUT, "key generation: the device cannot make keys");
		goto out;
	}
	if (rc != 0) {
		st = prov_err_set(e, PROV_E_VERIFY, "key generation: the device answered error %d", rc);
		goto out;
	}
	st = prov_smp_keygen_parse(resp, &b, &n, spki, spki_len, e);
	if (st != PROV_OK)
		goto out;
	snprintf(csr_path, cap, "%s/prov-csr-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(csr_path);
	if (fd < 0 || write(fd, b, n) != (ssize_t)n) {
		st = prov_err_set(e, PROV_E_IO, "cannot write the device's CSR to %s", csr_path);
		if (fd >= 0) {
			close(fd);
			unlink(csr_path);
		}
		csr_path[0] = 0;
		goto out;
	}
	close(fd);
	st = PROV_OK;
out:
	cbor_decref(&resp);
	return st;
}

/* Upload the bundle: chunks at offsets, resumed from the device's own count. */
static prov_status upload(prov_smp_port *p, const prov_install_opts *o, prov_install_result *r,
                          const dev_info *di, const uint8_t *bundle, size_t len,
                          const uint8_t sha[32], prov_err *e)
{
	size_t full = (size_t)(di->mtu > PROV_SMP_PKT_MAX ? PROV_SMP_PKT_MAX : di->mtu) - UPLOAD_OVERHEAD;
	size_t chunk = full, off = 0;
	unsigned restarts = 0, fails = 0, good = 0, tries = p->tries ? p->tries : 1;

	while (off < len) {
		size_t k = len - off < chunk ? len - off : chunk;
		cbor_item_t *body = cbor_new_definite_map(4), *resp = NULL;
		uint64_t got = 0;
		int rc = 0, bad = body == NULL;
		prov_status st;

		if (!bad) {
			bad |= prov_smp_put(body, "off", prov_cbor_uint(off));
			bad |= prov_smp_put(body, "data", prov_cbor_bytes(bundle + off, k));
			if (off == 0) {
				bad |= prov_smp_put(body, "len", prov_cbor_uint(len));
				bad |= prov_smp_put(body, "sha", prov_cbor_bytes(sha, 32));
			}
		}
		if (bad) {
			if (body != NULL)
				cbor_decref(&body);
			return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		}
		/* One send per try here, not the exchange's own retries: a chunk that
		 * went unanswered is sent again at half the size.  On a noisy line a
		 * long packet rarely arrives whole; the chunk grows back after a run of
		 * answers.  A resent chunk overlaps what the device may already hold,
		 * which it accepts (same bytes at the same offset). */
		p->tries = 1;
		st = request(p, PROV_SMP_OP_WRITE, PROV_SMP_P_UPLOAD, body, &resp, &rc, "upload", e);
		p->tries = tries;
		cbor_decref(&body);
		if (st == PROV_E_IO && resp == NULL && ++fails < tries) {
			p->retries++;
			chunk = chunk / 2 < UPLOAD_CHUNK_MIN ? UPLOAD_CHUNK_MIN : chunk / 2;
			good = 0;
			continue;
		}
		if (st == PROV_E_IO && resp == NULL)
			return prov_err_set(e, st,
			                    "upload: port %s: no answer from the device at offset %zu: timed out after %u tries",
			                    p->path, off, tries);
		if (st != PROV_OK)
			return st;
		fails = 0;
		if (++good >= 4 && chunk < full) {
			chunk = chunk * 2 > full ? full : chunk * 2;
			good = 0;
		}
		if (rc == 0 && prov_smp_upload_parse(resp, &got, NULL) == PROV_OK && got <= len) {
			/* The device's own count: normally off + k; less when it lost
			 * something (then resend from there, off 0 restarting). */
			if (got <= off && ++restarts > RESTARTS_MAX)
				goto refused;
			off = (size_t)got;
		} else if (off > 0) {
			/* Refused mid-way: a device that reset lost the upload.  Start over. */
			if (++restarts > RESTARTS_MAX)
				goto refused;
			off = 0;
		} else {
			cbor_decref(&resp);
			return prov_err_set(e, PROV_E_VERIFY,
			                    "upload: the device refused the bundle's first chunk (error %d)", rc);
		}
		cbor_decref(&resp);
		progress(o, r, "upload", off, len);
		continue;
refused:
		cbor_decref(&resp);
		return prov_err_set(e, PROV_E_IO, "upload: restarted %u times, giving up", RESTARTS_MAX);
	}
	return PROV_OK;
}

/* Mint (when asked) and build the bundle for this session: the one issue path. */
static prov_status issue(prov_home *h, const prov_template *t, const dev_info *di, int mint,
                         int rotate, const char *csr_path, const char *trust_file, uint8_t **bundle, size_t *len,
                         prov_bundle_info *bi, prov_err *e)
{
	EVP_PKEY *pub = NULL;
	prov_issue_req r;
	prov_mint_result mres;
	prov_status st;

	st = prov_key_from_spki(di->pub, di->pub_len, &pub, e);
	if (st != PROV_OK)
		return prov_err_wrap(e, "the device's public key");
	memset(&r, 0, sizeof(r));
	r.mint = mint;
	r.m.device_id = di->id;
	r.m.csr_path = csr_path != NULL && csr_path[0] ? csr_path : NULL;
	r.m.recipient = pub;
	r.m.recipient_spki = di->pub;
	r.m.recipient_spki_len = di->pub_len;
	r.m.rotate = rotate;
	r.bundle = 1;
	r.b.recipient = pub;
	r.b.nonce = di->nonce;
	r.b.nonce_len = di->nonce_len;
	/* A new mint carries the anchors in its template already. */
	r.b.trust_file = mint ? NULL : trust_file;
	st = prov_issue_device(h, t, &r, &mres, bi, bundle, len, e);
	EVP_PKEY_free(pub);
	return st;
}

static prov_status commit(prov_smp_port *p, const uint8_t sha[32], uint8_t **receipt,
                          size_t *receipt_len, int *dev_rc, prov_err *e)
{
	cbor_item_t *body = cbor_new_definite_map(1), *resp = NULL;
	const uint8_t *b;
	size_t n;
	prov_status st;

	*receipt = NULL;
	*receipt_len = 0;
	if (body != NULL && prov_smp_put(body, "sha", prov_cbor_bytes(sha, 32)) != 0) {
		cbor_decref(&body);
		body = NULL;
	}
	st = request(p, PROV_SMP_OP_WRITE, PROV_SMP_P_COMMIT, body, &resp, dev_rc, "commit", e);
	if (body != NULL)
		cbor_decref(&body);
	if (st != PROV_OK || *dev_rc != 0)
		goto out;
	st = prov_smp_commit_parse(resp, &b, &n, e);
	if (st != PROV_OK)
		goto out;
	*receipt = malloc(n);
	if (*receipt == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(*receipt, b, n);
	*receipt_len = n;
out:
	if (resp != NULL)
		cbor_decref(&resp);
	return st;
}

/* One session: info .. commit.  *again: start another session (new nonce). */
static prov_status session(prov_home *h, const prov_template *t, prov_smp_port *p,
                           const prov_install_opts *o, prov_install_result *r, int *claimed,
                           int *again, prov_err *e)
{
	dev_info di;
	db_dev dd;
	char csr_path[512] = "";
	uint8_t key_spki[256], *bundle = NULL, *receipt = NULL, sha[32];
	size_t key_spki_len = 0, bundle_len = 0, receipt_len = 0;
	prov_bundle_info bi;
	prov_receipt rec;
	int mint = 0, rotate = 0, unsupported = 0, dev_rc = 0;
	long slot;
	prov_status st;

	*again = 0;
	progress(o, r, "info", 0, 0);
	st = get_info(p, &di, e);
	if (st != PROV_OK)
		return st;
	snprintf(r->device, sizeof(r->device), "%s", di.id);
	if (!*claimed && o->claim != NULL && o->claim(o->ctx, r->port, di.id) != 0)
		return prov_err_set(e, PROV_E_EXISTS,
		                    "device ID conflict: another port's device also reports ID %s", di.id);
	*claimed = 1;
	st = load_db_dev(h, di.id, &dd, e);
	if (st != PROV_OK)
		return st;
	if (dd.exists && (dd.spki_len != di.pub_len || memcmp(dd.spki, di.pub, di.pub_len) != 0))
		return prov_err_set(e, PROV_E_EXISTS,
		                    "device ID conflict: %s is registered with another device key; "
		                    "this device's key is not the one the factory knows", di.id);
	/* The device is ahead of the database: it committed and the host never
	 * recorded it (a crash, a pulled cable).  Record it from its status. */
	if (dd.exists && di.ctr > 0 && (!dd.installed || di.ctr > dd.inst_counter)) {
		uint64_t sctr = 0;
		uint8_t sdig[32];
		int has = 0;

		progress(o, r, "status", 0, 0);
		st = get_status(p, &sctr, sdig, &has, &receipt, &receipt_len, e);
		if (st != PROV_OK)
			return st;
		if (receipt == NULL) {
			st = prov_err_set(e, PROV_E_INPUT,
			                  "device %s holds counter %llu the factory has not recorded, and its status carries no receipt",
			                  di.id, (unsigned long long)sctr);
			goto out;
		}
		st = record_receipt(h, receipt, receipt_len, &rec, e);
		if (st != PROV_OK)
			goto out;
		free(receipt);
		receipt = NULL;
		r->outcome = PROV_INSTALL_RECORDED;
		r->counter = rec.counter;
		prov_hex(rec.digest, 32, r->digest);
		st = load_db_dev(h, di.id, &dd, e);
		if (st != PROV_OK)
			goto out;
	}
	if (dd.exists && dd.installed && di.ctr == dd.inst_counter && !o->rotate) {
		uint64_t sctr = 0;
		uint8_t sdig[32];
		int has = 0;

		if (r->outcome == PROV_INSTALL_RECORDED)
			return PROV_OK;
		st = get_status(p, &sctr, sdig, &has, &receipt, &receipt_len, e);
		if (st != PROV_OK)
			return st;
		if (sctr != dd.inst_counter || !has || memcmp(sdig, dd.inst_digest, 32) != 0) {
			st = prov_err_set(e, PROV_E_VERIFY,
			                  "device %s: its installed set (counter %llu) is not the one the factory recorded",
			                  di.id, (unsigned long long)sctr);
			goto out;
		}
		r->outcome = PROV_INSTALL_ALREADY;
		r->counter = dd.inst_counter;
		prov_hex(dd.inst_digest, 32, r->digest);
		goto out;
	}
	if (dd.exists && di.ctr < dd.inst_counter) {
		st = prov_err_set(e, PROV_E_VERIFY,
		                  "device %s: counter %llu is below the recorded install %llu (a replaced or rolled-back device)",
		                  di.id, (unsigned long long)di.ctr, dd.inst_counter);
		goto out;
	}
	/* What to issue: a new device is minted; --rotate re-issues once; a pending
	 * device keeps its credentials unless the device's key is not theirs. */
	mint = !dd.exists;
	if (dd.exists && o->rotate && dd.installed && !r->minted) {
		mint = 1;
		rotate = 1;
	}
	slot = device_key_slot(t);
	if (!dd.exists || mint || strcmp(dd.key_origin, "csr") == 0) {
		if (slot >= 0) {
			progress(o, r, "keygen", 0, 0);
			st = keygen(p, slot, di.id, csr_path, sizeof(csr_path), key_spki, &key_spki_len,
			            &unsupported, e);
			if (st != PROV_OK && !(unsupported && t->key_source == PROV_KEYSRC_EITHER))
				goto out;
			st = PROV_OK;
		}
		if (dd.exists && !mint && strcmp(dd.key_origin, "csr") == 0 &&
		    (key_spki_len != dd.key_spki_len || memcmp(key_spki, dd.key_spki, key_spki_len) != 0)) {
			/* The device holds another key than the one certified (it reset
			 * before adopting it): certify the key it has. */
			mint = 1;
			rotate = 1;
		}
	}
	progress(o, r, "mint", 0, 0);
	st = issue(h, t, &di, mint, rotate, csr_path, o->trust_file, &bundle, &bundle_len, &bi, e);
	if (st != PROV_OK)
		goto out;
	if (mint) {
		r->minted = rotate ? 2 : 1;
		r->key_origin = csr_path[0] ? "csr" : (t->key_type != PROV_KEY_NONE ? "host" : NULL);
	}
	r->bundle_len = bundle_len;
	if (bundle_len > di.max) {
		st = prov_err_set(e, PROV_E_INPUT, "bundle of %zu bytes is larger than the device takes (%llu)",
		                  bundle_len, (unsigned long long)di.max);
		goto out;
	}
	memcpy(sha, bi.sha256, 32);
	progress(o, r, "upload", 0, bundle_len);
	st = upload(p, o, r, &di, bundle, bundle_len, sha, e);
	if (st != PROV_OK)
		goto out;
	progress(o, r, "commit", 0, 0);
	st = commit(p, sha, &receipt, &receipt_len, &dev_rc, e);
	if (st != PROV_OK)
		goto out;
	if (dev_rc != 0) {
		/* A device that reset in between has a new nonce and no upload: a new
		 * session gets it a new bundle.  Anything else is a refusal. */
		if (dev_rc == PA_V_NONCE || dev_rc == PA_A_STATE || dev_rc == PA_A_ARGS) {
			*again = 1;
			st = prov_err_set(e, PROV_E_VERIFY, "commit: the device answered error %d", dev_rc);
		} else {
			st = prov_err_set(e, PROV_E_VERIFY, "commit: the device refused the bundle: error %d",
			                  dev_rc);
		}
		goto out;
	}
	progress(o, r, "record", 0, 0);
	st = record_receipt(h, receipt, receipt_len, &rec, e);
	if (st != PROV_OK)
		goto out;
	r->outcome = PROV_INSTALL_INSTALLED;
	r->counter = rec.counter;
	prov_hex(rec.digest, 32, r->digest);
out:
	if (csr_path[0])
		unlink(csr_path);
	if (bundle != NULL)
		prov_wipe(bundle, bundle_len);
	free(bundle);
	free(receipt);
	return st;
}

prov_status prov_install_port(const prov_install_opts *o, const char *port,
                              prov_install_result *r)
{
	prov_home *h = NULL;
	prov_template *t = NULL;
	prov_smp_port p;
	double t0 = now_s();
	int claimed = 0, again = 0;
	prov_err *e = &r->err;
	prov_status st;

	memset(r, 0, sizeof(*r));
	memset(&p, 0, sizeof(p));
	p.fd = -1;
	snprintf(r->port, sizeof(r->port), "%s", port);
	st = prov_smp_port_open(&p, port, o->baud, e);
	if (st != PROV_OK)
		goto out;
	if (o->timeout_ms)
		p.timeout_ms = o->timeout_ms;
	if (o->tries)
		p.tries = o->tries;
	st = prov_template_load(o->template_path, &t, e);
	if (st == PROV_OK && o->trust_file != NULL)
		st = prov_template_set_trust(t, o->trust_file, e);
	if (st == PROV_OK) {
		/* Keys in a token: the ports share one token context and one login
		 * (prov/p11.h). */
		prov_token_opts tk = {o->pkcs11_module, o->pin_file};

		st = prov_home_open_with(prov_home_dir(o->home_dir),
		                         PROV_NEED_CA | PROV_NEED_SIGNER | PROV_NEED_KEK,
		                         o->busy_ms ? o->busy_ms : PROV_DB_BUSY_MS_DEFAULT, &tk, &h, e);
	}
	if (st != PROV_OK)
		goto out;
	do {
		r->attempts++;
		st = session(h, t, &p, o, r, &claimed, &again, e);
	} while (st != PROV_OK && again && r->attempts < SESSIONS_MAX);
out:
	if (st != PROV_OK) {
		r->outcome = PROV_INSTALL_FAILED;
		prov_err_wrap(e, "%s", port);
	} else {
		r->err.code = PROV_OK;
		r->err.msg[0] = 0;
	}
	progress(o, r, st == PROV_OK ? prov_install_outcome_name(r->outcome) : "failed", 0, 0);
	r->bytes_out = p.bytes_out;
	r->bytes_in = p.bytes_in;
	r->requests = p.requests;
	r->retries = p.retries;
	r->seconds = now_s() - t0;
	prov_smp_port_close(&p);
	prov_home_close(h);
	prov_template_free(t);
	return st;
}
