/* answer.c - what the host reads from a device: a packet against the request it
 * answers, its CBOR body, and each provisioning command's fields (see
 * prov/smp.h, docs/serial-protocol.md sections 2 and 4).  Pure functions of the
 * bytes: fuzz/fuzz_smp_answer.c runs them on anything. */
#include "prov/smp.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "prov/cbor.h"
#include "prov/escape.h"
#include "prov/keys.h"
#include "prov/receipt.h"
#include "prov/util.h"

/* The rc of an error answer: SMP v2 {"err": {"group": g, "rc": rc}}, or v1
 * {"rc": rc}; 0 for a success.  -1 if "err" has no uint "rc". */
static int answer_rc(const cbor_item_t *body)
{
	cbor_item_t *err = prov_smp_get(body, "err");
	uint64_t rc = 0;

	if (err != NULL) {
		if (prov_smp_get_uint(err, "rc", &rc) != 0)
			return -1;
		return rc == 0 ? 0 : (int)(rc > 0x7fff ? 0x7fff : rc);
	}
	if (prov_smp_get_uint(body, "rc", &rc) == 0)     /* SMP v1 style */
		return (int)(rc > 0x7fff ? 0x7fff : rc);
	return 0;
}

prov_status prov_smp_answer_decode(const uint8_t *pkt, size_t len, const prov_smp_hdr *req,
                                   cbor_item_t **body, int *dev_rc, prov_err *e)
{
	prov_smp_hdr h;
	cbor_item_t *item = NULL;
	prov_err ce;
	int rc;

	*body = NULL;
	*dev_rc = 0;
	if (len < PROV_SMP_HDR_LEN)
		return PROV_OK;      /* no header: nobody's answer */
	prov_smp_hdr_get(pkt, &h);
	if (h.op != req->op + 1 || h.group != req->group || h.id != req->id || h.seq != req->seq)
		return PROV_OK;      /* a stale or foreign answer */
	if (h.len != len - PROV_SMP_HDR_LEN)
		return prov_err_set(e, PROV_E_INPUT,
		                    "its header announces %u body bytes, the packet holds %zu", h.len,
		                    len - PROV_SMP_HDR_LEN);
	if (prov_cbor_decode(pkt + PROV_SMP_HDR_LEN, h.len, &item, &ce) != PROV_OK)
		return prov_err_set(e, PROV_E_INPUT, "its body is not CBOR: %s", ce.msg);
	if (!cbor_isa_map(item)) {
		cbor_decref(&item);
		return prov_err_set(e, PROV_E_INPUT, "its body is not a CBOR map");
	}
	rc = answer_rc(item);
	if (rc < 0) {
		cbor_decref(&item);
		return prov_err_set(e, PROV_E_INPUT, "its \"err\" carries no uint \"rc\"");
	}
	*body = item;
	*dev_rc = rc;
	return PROV_OK;
}

prov_status prov_smp_info_parse(const cbor_item_t *body, prov_smp_info *d, prov_err *e)
{
	const uint8_t *b;
	size_t n;

	memset(d, 0, sizeof(*d));
	if (prov_smp_get_text(body, "dev", d->id, sizeof(d->id)) != 0 ||
	    prov_smp_get_uint(body, "mtu", &d->mtu) != 0 || prov_smp_get_uint(body, "max", &d->max) != 0 ||
	    prov_smp_get_uint(body, "ctr", &d->ctr) != 0)
		goto malformed;
	prov_smp_get_uint(body, "slots", &d->slots);
	if (prov_smp_get_text(body, "ver", d->ver, sizeof(d->ver)) != 0)
		d->ver[0] = 0;
	b = prov_smp_get_bytes(body, "pub", &n);
	if (b == NULL || n == 0 || n > sizeof(d->pub))
		goto malformed;
	memcpy(d->pub, b, n);
	d->pub_len = n;
	b = prov_smp_get_bytes(body, "nonce", &n);
	if (b == NULL || n < PROV_NONCE_MIN || n > PROV_NONCE_MAX)
		goto malformed;
	memcpy(d->nonce, b, n);
	d->nonce_len = n;
	if (!prov_device_id_valid(d->id)) {
		char shown[4 * sizeof(d->id)];

		prov_escape_str(shown, sizeof(shown), d->id);
		return prov_err_set(e, PROV_E_INPUT, "device info: the device reports a bad ID \"%s\"",
		                    shown);
	}
	return PROV_OK;
malformed:
	memset(d, 0, sizeof(*d));
	return prov_err_set(e, PROV_E_INPUT, "device info: malformed answer");
}

prov_status prov_smp_status_parse(const cbor_item_t *body, prov_smp_status *s, prov_err *e)
{
	const uint8_t *b;
	size_t n;

	memset(s, 0, sizeof(*s));
	if (prov_smp_get_uint(body, "ctr", &s->ctr) != 0)
		return prov_err_set(e, PROV_E_INPUT, "device status: malformed answer");
	b = prov_smp_get_bytes(body, "digest", &n);
	if (b != NULL && n == sizeof(s->digest)) {
		memcpy(s->digest, b, n);
		s->has_digest = 1;
	}
	b = prov_smp_get_bytes(body, "receipt", &n);
	if (b != NULL && n > 0 && n <= PROV_RECEIPT_MAX) {
		s->receipt = b;
		s->receipt_len = n;
	}
	return PROV_OK;
}

prov_status prov_smp_keygen_parse(const cbor_item_t *body, const uint8_t **csr, size_t *csr_len,
                                  uint8_t spki[256], size_t *spki_len, prov_err *e)
{
	const uint8_t *b, *q;
	X509_REQ *req = NULL;
	EVP_PKEY *k = NULL;
	uint8_t *der = NULL;
	size_t n = 0, dl = 0;
	prov_status st;

	*csr = NULL;
	*csr_len = 0;
	*spki_len = 0;
	b = prov_smp_get_bytes(body, "csr", &n);
	q = b;
	if (b == NULL || n == 0 || n > PROV_SMP_CSR_MAX || (req = d2i_X509_REQ(NULL, &q, (long)n)) == NULL ||
	    q != b + n || (k = X509_REQ_get_pubkey(req)) == NULL || X509_REQ_verify(req, k) != 1) {
		st = prov_err_set(e, PROV_E_INPUT, "key generation: the device's CSR is not a valid PKCS#10 request");
		goto out;
	}
	st = prov_key_spki(k, &der, &dl, e);
	if (st != PROV_OK)
		goto out;
	if (dl > 256) {
		st = prov_err_set(e, PROV_E_INPUT, "key generation: the device's key is too large");
		goto out;
	}
	memcpy(spki, der, dl);
	*spki_len = dl;
	*csr = b;
	*csr_len = n;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	X509_REQ_free(req);
	return st;
}

prov_status prov_smp_commit_parse(const cbor_item_t *body, const uint8_t **receipt, size_t *len,
                                  prov_err *e)
{
	const uint8_t *b;
	size_t n = 0;

	*receipt = NULL;
	*len = 0;
	b = prov_smp_get_bytes(body, "receipt", &n);
	if (b == NULL || n == 0 || n > PROV_RECEIPT_MAX)
		return prov_err_set(e, PROV_E_INPUT, "commit: the answer carries no receipt");
	*receipt = b;
	*len = n;
	return PROV_OK;
}

prov_status prov_smp_upload_parse(const cbor_item_t *body, uint64_t *off, prov_err *e)
{
	*off = 0;
	if (prov_smp_get_uint(body, "off", off) != 0)
		return prov_err_set(e, PROV_E_INPUT, "upload: the answer carries no \"off\"");
	return PROV_OK;
}
