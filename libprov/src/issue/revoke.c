/* revoke.c - revoking devices, issuing CRLs (see prov/revoke.h). */
#include "prov/revoke.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/bundle.h"
#include "prov/db.h"
#include "prov/records.h"
#include "prov/util.h"
#include "prov/x509.h"

/* Reasons go into the audit detail as JSON text: they are the fixed names. */
prov_status prov_revoke_generation(prov_home *h, const char *id, int gen, const char *reason,
                                   int *n_certs, prov_err *e)
{
	char detail[160];
	int revoked = 0;
	prov_status st;

	if (prov_crl_reason_parse(reason) < 0)
		return prov_err_set(e, PROV_E_USAGE, "--reason: \"%s\" is not one of %s", reason,
		                    prov_crl_reason_names());
	st = prov_records_revoked(h->db, id, gen, &revoked, e);
	if (st == PROV_OK && revoked)
		st = prov_err_set(e, PROV_E_EXISTS, "device %s: generation %d is already revoked", id, gen);
	if (st == PROV_OK)
		st = prov_records_revoke(h->db, id, gen, reason, n_certs, e);
	if (st != PROV_OK)
		return st;
	snprintf(detail, sizeof(detail), "{\"generation\":%d,\"reason\":\"%s\",\"certificates\":%d}", gen,
	         reason, *n_certs);
	return prov_records_audit(h->db, "revoke", id, detail, e);
}

prov_status prov_revoke_device(prov_home *h, const char *id, const char *reason, int wipe,
                               uint8_t **bundle, size_t *bundle_len, prov_revoke_result *res,
                               prov_err *e)
{
	prov_bundle_opts bo;
	prov_bundle_info bi;
	prov_status st;
	int gen = 0;

	memset(res, 0, sizeof(*res));
	*bundle = NULL;
	*bundle_len = 0;
	if (prov_crl_reason_parse(reason) < 0)
		return prov_err_set(e, PROV_E_USAGE, "--reason: \"%s\" is not one of %s", reason,
		                    prov_crl_reason_names());
	st = prov_db_begin(h->db, e);
	if (st != PROV_OK)
		return st;
	st = prov_records_device_generation(h->db, id, &gen, e);
	if (st == PROV_OK && gen == 0)
		st = prov_err_set(e, PROV_E_NOTFOUND, "unknown device ID \"%s\"", id);
	if (st == PROV_OK)
		st = prov_revoke_generation(h, id, gen, reason, &res->certificates, e);
	if (st == PROV_OK && wipe) {
		memset(&bo, 0, sizeof(bo));
		bo.wipe = 1;
		st = prov_bundle_build(h, id, &bo, bundle, bundle_len, &bi, e);
		if (st == PROV_OK)
			res->wipe_counter = bi.counter;
	}
	if (st == PROV_OK)
		st = prov_db_commit(h->db, e);
	if (st != PROV_OK) {
		prov_db_rollback(h->db);
		free(*bundle);
		*bundle = NULL;
		*bundle_len = 0;
		return st;
	}
	res->generation = gen;
	return PROV_OK;
}

/* ---- CRLs ---------------------------------------------------------------------------- */

struct crl_rows {
	prov_crl_entry *ent;
	char **serials;
	size_t n, cap;
};

static prov_status crl_row(void *ctx, const prov_rec_revoked *r, prov_err *e)
{
	struct crl_rows *c = ctx;
	char reason[40];

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		prov_crl_entry *ent = realloc(c->ent, cap * sizeof(*ent));
		char **ser;

		if (ent == NULL)
			return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		c->ent = ent;
		ser = realloc(c->serials, cap * sizeof(*ser));
		if (ser == NULL)
			return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		c->serials = ser;
		c->cap = cap;
	}
	/* rows are outside data: a serial is hex of a sane length, a reason a name */
	if (r->serial == NULL || r->serial_len == 0 || r->serial_len > 40 ||
	    strspn(r->serial, "0123456789abcdef") != r->serial_len)
		return prov_err_set(e, PROV_E_DB, "revocations: a row's serial is not a certificate serial");
	snprintf(reason, sizeof(reason), "%.*s", (int)(r->reason_len < sizeof(reason) ? r->reason_len : 0),
	         r->reason != NULL ? r->reason : "");
	if ((c->serials[c->n] = strndup(r->serial, r->serial_len)) == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	c->ent[c->n].serial_hex = c->serials[c->n];
	c->ent[c->n].reason = prov_crl_reason_parse(reason);
	c->ent[c->n].revoked_at = r->revoked_at;
	c->n++;
	if (c->ent[c->n - 1].reason < 0)
		return prov_err_set(e, PROV_E_DB, "revocations: serial %s has an unknown reason",
		                    c->serials[c->n - 1]);
	return PROV_OK;
}

prov_status prov_crl_issue(prov_home *h, int days, int der, uint8_t **out, size_t *out_len,
                           prov_crl_info *info, prov_err *e)
{
	struct crl_rows rows = {NULL, NULL, 0, 0};
	X509_CRL *crl = NULL;
	BIO *b = NULL;
	BUF_MEM *m;
	unsigned char *d = NULL, md[32];
	char hex[65], detail[160];
	int dl;
	prov_status st;

	*out = NULL;
	*out_len = 0;
	memset(info, 0, sizeof(*info));
	if (days < 1 || days > 3650)
		return prov_err_set(e, PROV_E_USAGE, "--next-update: %d days is not 1..3650", days);
	st = prov_db_begin(h->db, e);
	if (st != PROV_OK)
		return st;
	st = prov_records_crl_next(h->db, &info->number, e);
	if (st == PROV_OK)
		st = prov_records_revoked_certs(h->db, crl_row, &rows, e);
	if (st != PROV_OK)
		goto out;
	info->this_update = prov_now();
	info->next_update = info->this_update + (int64_t)days * 86400;
	info->entries = rows.n;
	st = prov_x509_crl_make(h->ca, h->ca_key, rows.ent, rows.n, info->number, info->this_update,
	                        info->next_update, &crl, e);
	if (st != PROV_OK)
		goto out;
	if ((dl = i2d_X509_CRL(crl, &d)) <= 0) {
		st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode the CRL");
		goto out;
	}
	EVP_Digest(d, (size_t)dl, md, NULL, EVP_sha256(), NULL);
	prov_hex(md, sizeof(md), hex);
	st = prov_records_crl_add(h->db, info->number, info->this_update, info->next_update,
	                          (int64_t)rows.n, hex, e);
	if (st == PROV_OK) {
		snprintf(detail, sizeof(detail), "{\"crl_number\":%lld,\"entries\":%zu,\"sha256\":\"%s\"}",
		         (long long)info->number, rows.n, hex);
		st = prov_records_audit(h->db, "crl", NULL, detail, e);
	}
	if (st != PROV_OK)
		goto out;
	if (der) {
		*out = malloc((size_t)dl);
		if (*out == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
			goto out;
		}
		memcpy(*out, d, (size_t)dl);
		*out_len = (size_t)dl;
	} else {
		if ((b = BIO_new(BIO_s_mem())) == NULL || !PEM_write_bio_X509_CRL(b, crl)) {
			st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode the CRL");
			goto out;
		}
		BIO_get_mem_ptr(b, &m);
		*out = malloc(m->length);
		if (*out == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
			goto out;
		}
		memcpy(*out, m->data, m->length);
		*out_len = m->length;
	}
	st = prov_db_commit(h->db, e);
out:
	if (st != PROV_OK) {
		prov_db_rollback(h->db);
		free(*out);
		*out = NULL;
		*out_len = 0;
	}
	BIO_free(b);
	OPENSSL_free(d);
	X509_CRL_free(crl);
	for (size_t i = 0; i < rows.n; i++)
		free(rows.serials[i]);
	free(rows.serials);
	free(rows.ent);
	return st;
}
