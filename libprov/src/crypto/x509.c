/* x509.c - certificate profile and CSR handling (see prov/x509.h). */
#define _GNU_SOURCE /* memmem */
#include "prov/algs.h"
#include "prov/x509.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prov/keys.h"
#include "prov/util.h"

#define CERT_FILE_MAX (4 * 1024 * 1024)

/* Append the RDNs of an RFC 4514-style DN to n (which may be a certificate's own). */
static prov_status name_parse_into(X509_NAME *n, const char *dn, prov_err *e)
{
	size_t len = strlen(dn);
	char *buf = malloc(len + 1);
	prov_status st = PROV_E_INPUT;
	const char *p = dn;

	if (buf == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (len == 0) {
		st = prov_err_set(e, PROV_E_INPUT, "empty distinguished name");
		goto out;
	}
	while (*p != 0) {
		size_t bl = 0;
		char *eq, *val;

		/* One RDN: up to an unescaped comma. */
		while (*p != 0 && *p != ',') {
			if (*p == '\\' && p[1] != 0)
				p++;
			buf[bl++] = *p++;
		}
		buf[bl] = 0;
		if (*p == ',')
			p++;
		eq = strchr(buf, '=');
		if (eq == NULL || eq == buf || eq[1] == 0) {
			st = prov_err_set(e, PROV_E_INPUT, "bad distinguished name \"%s\": \"%s\" is not TYPE=value",
			                  dn, buf);
			goto out;
		}
		*eq = 0;
		val = eq + 1;
		while (*buf == ' ')
			memmove(buf, buf + 1, strlen(buf));
		/* RFC 4514 lists the most specific RDN first: prepend (loc 0). */
		if (!X509_NAME_add_entry_by_txt(n, buf, MBSTRING_UTF8, (const unsigned char *)val, -1, 0, 0)) {
			st = prov_err_ssl(e, PROV_E_INPUT, "bad distinguished name \"%s\": attribute \"%s\"",
			                  dn, buf);
			goto out;
		}
	}
	st = PROV_OK;
out:
	free(buf);
	return st;
}

prov_status prov_x509_name_parse(const char *dn, X509_NAME **out, prov_err *e)
{
	X509_NAME *n = X509_NAME_new();
	prov_status st;

	*out = NULL;
	if (n == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	st = name_parse_into(n, dn, e);
	if (st != PROV_OK) {
		X509_NAME_free(n);
		return st;
	}
	*out = n;
	return PROV_OK;
}

char *prov_x509_name_text(const X509_NAME *n)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m;
	char *s = NULL;

	if (b == NULL)
		return NULL;
	if (X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		BIO_get_mem_ptr(b, &m);
		s = malloc(m->length + 1);
		if (s != NULL) {
			if (m->length > 0) /* an empty Name prints nothing: no data pointer */
				memcpy(s, m->data, m->length);
			s[m->length] = 0;
		}
	}
	BIO_free(b);
	return s;
}

prov_status prov_x509_serial_new(uint8_t serial[PROV_SERIAL_LEN], prov_err *e)
{
	prov_status st = prov_random(serial, PROV_SERIAL_LEN, 0, e);

	/* Positive (top bit clear) and of fixed length (second bit set), RFC 5280
	 * 4.1.2.2: at most 20 octets. */
	serial[0] = (uint8_t)((serial[0] & 0x3f) | 0x40);
	return st;
}

static int add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ex != NULL && X509_add_ext(cert, ex, -1);

	X509_EXTENSION_free(ex);
	return ok;
}

static const EVP_MD *sig_md(EVP_PKEY *k)
{
	if (EVP_PKEY_is_a(k, "ED25519"))
		return NULL; /* pure EdDSA */
	return EVP_PKEY_get_bits(k) > 256 ? prov_md_sha384() : prov_md_sha256();
}

static int set_validity(X509 *c, int64_t nb, int64_t na, int no_expiry)
{
	if (ASN1_TIME_set(X509_getm_notBefore(c), (time_t)nb) == NULL)
		return 0;
	if (no_expiry) {
		ASN1_GENERALIZEDTIME *g = ASN1_GENERALIZEDTIME_new();
		int ok = g != NULL && ASN1_GENERALIZEDTIME_set_string(g, PROV_NO_EXPIRY) &&
		         X509_set1_notAfter(c, g);

		ASN1_GENERALIZEDTIME_free(g);
		return ok;
	}
	return ASN1_TIME_set(X509_getm_notAfter(c), (time_t)na) != NULL;
}

EVP_MD_CTX *prov_x509_sign_ctx_new(EVP_PKEY *ca_key)
{
	EVP_MD_CTX *m;

	if (EVP_PKEY_is_a(ca_key, "ED25519"))
		return NULL;
	m = EVP_MD_CTX_new();
	if (m != NULL && EVP_DigestSignInit(m, NULL, sig_md(ca_key), NULL, ca_key) != 1) {
		EVP_MD_CTX_free(m);
		m = NULL;
	}
	return m;
}

/* Version 3, serial, subject (parsed straight into the certificate) and issuer
 * (NULL: self-issued). */
static prov_status start_cert(X509 *c, const uint8_t *serial, const char *subject,
                              const X509_NAME *issuer, prov_err *e)
{
	BIGNUM *bn = BN_bin2bn(serial, PROV_SERIAL_LEN, NULL);
	ASN1_INTEGER *sn = bn != NULL ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	prov_status st = PROV_OK;

	if (sn == NULL || !X509_set_version(c, X509_VERSION_3) || !X509_set_serialNumber(c, sn))
		st = prov_err_ssl(e, PROV_E_INTERNAL, "cannot set the serial number");
	if (st == PROV_OK)
		st = name_parse_into(X509_get_subject_name(c), subject, e);
	if (st == PROV_OK &&
	    !X509_set_issuer_name(c, issuer != NULL ? issuer : X509_get_subject_name(c)))
		st = prov_err_ssl(e, PROV_E_INTERNAL, "cannot set the issuer");
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	return st;
}

struct prov_x509_exts {
	char eku[512];               /* the EKU list as X509V3 text: the cache key */
	X509_EXTENSION *bc, *ku, *akid, *eku_ext; /* eku_ext NULL: no EKU */
};

/* The EKU list as one X509V3 value ("clientAuth,serverAuth"); 0 if too long. */
static int eku_text(const char *const *eku, size_t n, char *buf, size_t cap)
{
	size_t len = 0;

	buf[0] = 0;
	for (size_t i = 0; i < n; i++) {
		int k = snprintf(buf + len, cap - len, "%s%s", i ? "," : "", eku[i]);

		if (k < 0 || (size_t)k >= cap - len)
			return 0;
		len += (size_t)k;
	}
	return 1;
}

void prov_x509_exts_free(prov_x509_exts *x)
{
	if (x == NULL)
		return;
	X509_EXTENSION_free(x->bc);
	X509_EXTENSION_free(x->ku);
	X509_EXTENSION_free(x->akid);
	X509_EXTENSION_free(x->eku_ext);
	free(x);
}

prov_status prov_x509_exts_new(X509 *ca, const char *const *eku, size_t n_eku,
                               prov_x509_exts **out, prov_err *e)
{
	prov_x509_exts *x = calloc(1, sizeof(*x));
	X509V3_CTX ctx;

	*out = NULL;
	if (x == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (!eku_text(eku, n_eku, x->eku, sizeof(x->eku))) {
		prov_x509_exts_free(x);
		return prov_err_set(e, PROV_E_INPUT, "extendedKeyUsage list too long");
	}
	/* the issuer is all the authority key identifier needs */
	X509V3_set_ctx(&ctx, ca, NULL, NULL, NULL, 0);
	x->bc = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:FALSE");
	x->ku = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,digitalSignature");
	x->akid = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	if (x->bc == NULL || x->ku == NULL || x->akid == NULL) {
		prov_x509_exts_free(x);
		return prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode the certificate extensions");
	}
	if (n_eku > 0 &&
	    (x->eku_ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, x->eku)) == NULL) {
		prov_err_ssl(e, PROV_E_INPUT, "bad extendedKeyUsage \"%s\"", x->eku);
		prov_x509_exts_free(x);
		return PROV_E_INPUT;
	}
	*out = x;
	return PROV_OK;
}

int prov_x509_exts_match(const prov_x509_exts *x, const char *const *eku, size_t n_eku)
{
	char t[sizeof(x->eku)];

	return x != NULL && eku_text(eku, n_eku, t, sizeof(t)) && strcmp(t, x->eku) == 0;
}

prov_status prov_x509_issue(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *subject_key,
                            const prov_cert_profile *p, const uint8_t *serial,
                            X509 **out, prov_err *e)
{
	X509 *c = X509_new();
	X509V3_CTX ctx;
	char eku[512];
	size_t el = 0;
	prov_status st;

	*out = NULL;
	if (c == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	st = start_cert(c, serial, p->subject, X509_get_subject_name(ca), e);
	if (st != PROV_OK)
		goto out;
	if ((p->pub != NULL ? prov_pub_to_x509_pubkey(p->pub_type, p->pub, p->pub_len, X509_get_X509_PUBKEY(c), NULL)
	                    : prov_key_set_x509_pubkey(subject_key, X509_get_X509_PUBKEY(c), NULL)) != PROV_OK ||
	    !set_validity(c, p->not_before, p->not_after, p->no_expiry))
		goto fail;
	eku[0] = 0;
	for (size_t i = 0; i < p->n_eku; i++) {
		int n = snprintf(eku + el, sizeof(eku) - el, "%s%s", i ? "," : "", p->eku[i]);

		if (n < 0 || (size_t)n >= sizeof(eku) - el) {
			st = prov_err_set(e, PROV_E_INPUT, "extendedKeyUsage list too long");
			goto out;
		}
		el += (size_t)n;
	}
	X509V3_set_ctx(&ctx, ca, c, NULL, NULL, 0);
	if (p->exts != NULL) {
		/* the same extensions in the same order, copied instead of parsed */
		if (!X509_add_ext(c, p->exts->bc, -1) || !X509_add_ext(c, p->exts->ku, -1) ||
		    !add_ext(c, &ctx, NID_subject_key_identifier, "hash") ||
		    !X509_add_ext(c, p->exts->akid, -1) ||
		    (p->exts->eku_ext != NULL && !X509_add_ext(c, p->exts->eku_ext, -1)))
			goto fail;
	} else if (!add_ext(c, &ctx, NID_basic_constraints, "critical,CA:FALSE") ||
	           !add_ext(c, &ctx, NID_key_usage, "critical,digitalSignature") ||
	           !add_ext(c, &ctx, NID_subject_key_identifier, "hash") ||
	           !add_ext(c, &ctx, NID_authority_key_identifier, "keyid:always")) {
		goto fail;
	}
	if (p->exts == NULL && p->n_eku > 0 && !add_ext(c, &ctx, NID_ext_key_usage, eku)) {
		st = prov_err_ssl(e, PROV_E_INPUT, "bad extendedKeyUsage \"%s\"", eku);
		goto out;
	}
	if (p->sign_ctx != NULL) {
		EVP_MD_CTX *m = EVP_MD_CTX_new();
		int ok = m != NULL && EVP_MD_CTX_copy_ex(m, p->sign_ctx) && X509_sign_ctx(c, m) > 0;

		EVP_MD_CTX_free(m);
		if (!ok)
			goto fail;
	} else if (X509_sign(c, ca_key, sig_md(ca_key)) <= 0) {
		goto fail;
	}
	*out = c;
	c = NULL;
	st = PROV_OK;
	goto out;
fail:
	st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot issue certificate for \"%s\"", p->subject);
out:
	X509_free(c);
	return st;
}

prov_status prov_x509_ca_create(EVP_PKEY *key, const char *subject, int64_t now, int days,
                                X509 **out, prov_err *e)
{
	return prov_x509_ca_create_pub(key, key, subject, now, days, out, e);
}

prov_status prov_x509_ca_create_pub(EVP_PKEY *key, EVP_PKEY *pub, const char *subject, int64_t now,
                                    int days, X509 **out, prov_err *e)
{
	X509 *c = X509_new();
	uint8_t serial[PROV_SERIAL_LEN];
	X509V3_CTX ctx;
	prov_status st;

	*out = NULL;
	if (c == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	st = prov_x509_serial_new(serial, e);
	if (st == PROV_OK)
		st = start_cert(c, serial, subject, NULL, e);
	if (st != PROV_OK)
		goto out;
	/* X509_set_pubkey, not the faster prov_key_set_x509_pubkey: the CA object is
	 * used in memory, and only this way does it keep its key for verification. */
	if (!X509_set_pubkey(c, pub) ||
	    !set_validity(c, now, now + (int64_t)days * 86400, 0))
		goto fail;
	X509V3_set_ctx(&ctx, c, c, NULL, NULL, 0);
	if (!add_ext(c, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    !add_ext(c, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    !add_ext(c, &ctx, NID_subject_key_identifier, "hash") ||
	    !add_ext(c, &ctx, NID_authority_key_identifier, "keyid:always"))
		goto fail;
	if (X509_sign(c, key, sig_md(key)) <= 0)
		goto fail;
	*out = c;
	c = NULL;
	st = PROV_OK;
	goto out;
fail:
	st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot create CA certificate \"%s\"", subject);
out:
	X509_free(c);
	return st;
}

prov_status prov_x509_ca_check(X509 *ca, EVP_PKEY *key, prov_err *e)
{
	if (!X509_check_private_key(ca, key))
		return prov_err_ssl(e, PROV_E_INPUT, "CA key does not match the CA certificate");
	/* X509_check_ca: 1 = CA:TRUE with keyCertSign (if keyUsage present). */
	if (X509_check_ca(ca) != 1)
		return prov_err_set(e, PROV_E_INPUT,
		                    "certificate cannot issue certificates: it needs basicConstraints CA:TRUE and keyUsage keyCertSign");
	{
		time_t now = (time_t)prov_now();

		if (X509_cmp_time(X509_get0_notAfter(ca), &now) <= 0)
			return prov_err_set(e, PROV_E_INPUT, "CA certificate has expired");
		if (X509_cmp_time(X509_get0_notBefore(ca), &now) > 0)
			return prov_err_set(e, PROV_E_INPUT, "CA certificate is not valid yet");
	}
	return PROV_OK;
}

prov_status prov_x509_chain_check(STACK_OF(X509) *chain, prov_err *e)
{
	/* Each certificate is issued by the next: names link and signatures verify. */
	for (int i = 0; i + 1 < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i), *up = sk_X509_value(chain, i + 1);
		EVP_PKEY *k = X509_get0_pubkey(up);

		if (X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(up)) != 0 ||
		    k == NULL || X509_verify(c, k) != 1)
			return prov_err_ssl(e, PROV_E_INPUT,
			                    "CA chain broken: certificate %d is not issued by certificate %d",
			                    i + 1, i + 2);
	}
	return PROV_OK;
}

#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----"

prov_status prov_x509_load_certs(const char *path, STACK_OF(X509) **out, prov_err *e)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	STACK_OF(X509) *sk = sk_X509_new_null();
	BIO *b = NULL;
	prov_status st;

	*out = NULL;
	if (sk == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	st = prov_file_read(path, CERT_FILE_MAX, &buf, &len, e);
	if (st != PROV_OK)
		goto out;
	b = BIO_new_mem_buf(buf, (int)len);
	if (b == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	/* Every certificate or an error: a block that does not parse must not end
	 * the reading quietly, dropping it and every later one.  memmem, not
	 * strstr: a NUL byte must not hide the rest of the file. */
	if (memmem(buf, len, PEM_CERT_BEGIN, sizeof(PEM_CERT_BEGIN) - 1) != NULL) {
		X509 *c;

		for (int blk = 1;; blk++) {
			unsigned long err;

			c = PEM_read_bio_X509(b, NULL, NULL, NULL);
			if (c == NULL) {
				err = ERR_peek_last_error();
				ERR_clear_error();
				if (ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)
					break; /* no further block: the end of the input */
				st = prov_err_set(e, PROV_E_INPUT,
				                  "%s: certificate %d is garbage (bad base64, a NUL byte or no END line)",
				                  path, blk);
				goto out;
			}
			if (!sk_X509_push(sk, c)) {
				X509_free(c);
				st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
				goto out;
			}
		}
	} else {
		/* DER certificates back to back, to the last byte. */
		for (const unsigned char *p = buf; p < buf + len;) {
			X509 *c = d2i_X509(NULL, &p, (long)(buf + len - p));

			if (c == NULL) {
				st = sk_X509_num(sk) == 0
				         ? prov_err_ssl(e, PROV_E_INPUT, "%s holds no certificate (PEM or DER)", path)
				         : prov_err_ssl(e, PROV_E_INPUT, "%s: not a DER certificate at byte %zu", path,
				                        (size_t)(p - buf));
				goto out;
			}
			if (!sk_X509_push(sk, c)) {
				X509_free(c);
				st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
				goto out;
			}
		}
	}
	if (sk_X509_num(sk) == 0) {
		st = prov_err_ssl(e, PROV_E_INPUT, "%s holds no certificate (PEM or DER)", path);
		goto out;
	}
	*out = sk;
	sk = NULL;
	st = PROV_OK;
out:
	sk_X509_pop_free(sk, X509_free);
	BIO_free(b);
	free(buf);
	return st;
}

prov_status prov_x509_csr_load(const char *path, X509_REQ **out, prov_err *e)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	X509_REQ *r = NULL;
	EVP_PKEY *k;
	prov_status st;

	*out = NULL;
	st = prov_file_read(path, CERT_FILE_MAX, &buf, &len, e);
	if (st != PROV_OK)
		return st;
	if (strstr((char *)buf, "-----BEGIN") != NULL) {
		BIO *b = BIO_new_mem_buf(buf, (int)len);

		if (b != NULL)
			r = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
		BIO_free(b);
	} else {
		const unsigned char *p = buf;

		r = d2i_X509_REQ(NULL, &p, (long)len);
	}
	if (r == NULL) {
		st = prov_err_ssl(e, PROV_E_INPUT, "%s is not a certificate signing request (PEM or DER)", path);
		goto out;
	}
	k = X509_REQ_get0_pubkey(r);
	if (k == NULL || X509_REQ_verify(r, k) != 1) {
		st = prov_err_ssl(e, PROV_E_VERIFY, "CSR %s: self-signature does not verify", path);
		goto out;
	}
	*out = r;
	r = NULL;
	st = PROV_OK;
out:
	X509_REQ_free(r);
	free(buf);
	return st;
}

prov_status prov_x509_der(X509 *c, uint8_t **der, size_t *len, prov_err *e)
{
	unsigned char *p = NULL;
	int n = i2d_X509(c, &p);

	if (n <= 0)
		return prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode certificate");
	*der = p;
	*len = (size_t)n;
	return PROV_OK;
}

/* ---- certificate revocation lists -------------------------------------------------- */

static const struct {
	const char *name;
	int code;
} crl_reasons[] = {
	{"unspecified", CRL_REASON_UNSPECIFIED},
	{"keyCompromise", CRL_REASON_KEY_COMPROMISE},
	{"cACompromise", CRL_REASON_CA_COMPROMISE},
	{"affiliationChanged", CRL_REASON_AFFILIATION_CHANGED},
	{"superseded", CRL_REASON_SUPERSEDED},
	{"cessationOfOperation", CRL_REASON_CESSATION_OF_OPERATION},
	{"privilegeWithdrawn", CRL_REASON_PRIVILEGE_WITHDRAWN},
	{"aACompromise", CRL_REASON_AA_COMPROMISE},
};

int prov_crl_reason_parse(const char *name)
{
	for (size_t i = 0; name != NULL && i < sizeof(crl_reasons) / sizeof(crl_reasons[0]); i++)
		if (strcmp(name, crl_reasons[i].name) == 0)
			return crl_reasons[i].code;
	return -1;
}

const char *prov_crl_reason_names(void)
{
	return "unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, "
	       "cessationOfOperation, privilegeWithdrawn, aACompromise";
}

static int crl_add_entry(X509_CRL *crl, const prov_crl_entry *en)
{
	X509_REVOKED *r = X509_REVOKED_new();
	BIGNUM *bn = NULL;
	ASN1_INTEGER *sn = NULL;
	ASN1_TIME *t = NULL;
	ASN1_ENUMERATED *reason = NULL;
	int ok = 0;

	if (r == NULL || BN_hex2bn(&bn, en->serial_hex) != (int)strlen(en->serial_hex) ||
	    (sn = BN_to_ASN1_INTEGER(bn, NULL)) == NULL || !X509_REVOKED_set_serialNumber(r, sn) ||
	    (t = ASN1_TIME_set(NULL, (time_t)en->revoked_at)) == NULL ||
	    !X509_REVOKED_set_revocationDate(r, t))
		goto out;
	/* RFC 5280 5.3.1: "the reason code CRL entry extension SHOULD be absent
	 * instead of using the unspecified (0) reasonCode value". */
	if (en->reason != CRL_REASON_UNSPECIFIED &&
	    ((reason = ASN1_ENUMERATED_new()) == NULL || !ASN1_ENUMERATED_set(reason, en->reason) ||
	     !X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0)))
		goto out;
	if (!X509_CRL_add0_revoked(crl, r))
		goto out;
	r = NULL;
	ok = 1;
out:
	X509_REVOKED_free(r);
	BN_free(bn);
	ASN1_INTEGER_free(sn);
	ASN1_TIME_free(t);
	ASN1_ENUMERATED_free(reason);
	return ok;
}

prov_status prov_x509_crl_make(X509 *ca, EVP_PKEY *ca_key, const prov_crl_entry *ent, size_t n,
                               int64_t number, int64_t this_update, int64_t next_update,
                               X509_CRL **out, prov_err *e)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *tu = NULL, *nu = NULL;
	ASN1_INTEGER *num = NULL;
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	prov_status st = PROV_E_CRYPTO;

	*out = NULL;
	if (crl == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	/* version 2 (the value 1): extensions follow */
	if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
	    (tu = ASN1_TIME_set(NULL, (time_t)this_update)) == NULL ||
	    (nu = ASN1_TIME_set(NULL, (time_t)next_update)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, tu) || !X509_CRL_set1_nextUpdate(crl, nu))
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (!crl_add_entry(crl, &ent[i])) {
			st = prov_err_ssl(e, PROV_E_DB, "CRL entry: serial \"%s\" is not a certificate serial",
			                  ent[i].serial_hex);
			goto out;
		}
	if (!X509_CRL_sort(crl))
		goto fail;
	/* RFC 5280 5.2.3: cRLNumber, a monotonically increasing sequence number. */
	if ((num = ASN1_INTEGER_new()) == NULL || !ASN1_INTEGER_set_int64(num, number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0))
		goto fail;
	/* RFC 5280 5.2.1: authorityKeyIdentifier, the CA's subjectKeyIdentifier. */
	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	if ((aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always")) == NULL ||
	    !X509_CRL_add_ext(crl, aki, -1))
		goto fail;
	if (X509_CRL_sign(crl, ca_key, sig_md(ca_key)) <= 0)
		goto fail;
	*out = crl;
	crl = NULL;
	st = PROV_OK;
	goto out;
fail:
	st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot issue the CRL");
out:
	X509_CRL_free(crl);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(nu);
	ASN1_INTEGER_free(num);
	X509_EXTENSION_free(aki);
	return st;
}
