/*
 * test_x509.c - the certificate profile (prov/x509.h) and the key encodings it
 * relies on (prov/keys.h), checked with OpenSSL's own APIs.
 *
 * - Distinguished names: a table of DN texts, each parsed and printed back as
 *   RFC 2253, or rejected.
 * - Serials: 16 octets, positive, fixed length, fresh.
 * - Issuing: a fresh CA for each of p256/p384/ed25519, a leaf for each subject key
 *   type, each re-read from its DER and checked field by field (signature, CA
 *   flags, key usage, EKU, validity encodings, key identifiers, the subject key)
 *   and by OpenSSL's path validation.
 * - CSRs made with OpenSSL, good and with a flipped signature byte.
 * - prov_key_spki against i2d_PUBKEY, and the raw private key round trip.
 * - CRLs: every reason name, a CRL for each CA key type re-read from its DER
 *   (version, issuer, times, cRLNumber, authorityKeyIdentifier against the
 *   CA's subjectKeyIdentifier, each entry's serial, date and reasonCode, none
 *   for unspecified), its signature, OpenSSL's CRL check of a revoked and a
 *   good leaf, and a bad serial refused.
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "prov/keys.h"
#include "prov/util.h"
#include "prov/x509.h"

static const prov_key_type types[] = {PROV_KEY_P256, PROV_KEY_P384, PROV_KEY_ED25519};
#define NTYPES (sizeof(types) / sizeof(types[0]))

#define T2026 1767225600 /* 2026-01-01T00:00:00Z */
#define CA_DAYS 36500   /* a century: outlives the no-expiry checks in 2100 */

static char tmpdir[256];

static EVP_PKEY *gen(prov_key_type t)
{
	EVP_PKEY *k = NULL;
	prov_err e;

	if (prov_key_generate(t, &k, &e) != PROV_OK)
		fprintf(stderr, "keygen %s: %s\n", prov_key_type_name(t), e.msg);
	return k;
}

/* ---- distinguished names -------------------------------------------------------------- */

static const struct {
	const char *dn;
	const char *text; /* RFC 2253 text back, or NULL: rejected with PROV_E_INPUT */
} dn_cases[] = {
	{"CN=a,O=b", "CN=a,O=b"},
	{"CN=a", "CN=a"},
	{"CN=dev-1,O=provkit devices", "CN=dev-1,O=provkit devices"},
	{"CN=dev-1,OU=line 3,O=Acme,L=Berlin,ST=Berlin,C=DE", "CN=dev-1,OU=line 3,O=Acme,L=Berlin,ST=Berlin,C=DE"},
	{"CN=a\\,b,O=x", "CN=a\\,b,O=x"},            /* escaped comma stays one value */
	{"CN=a\\,,O=x", "CN=a\\,,O=x"},
	{"CN=a, O=b", "CN=a,O=b"},                 /* space after the comma */
	{"CN=x,serialNumber=1234", "CN=x,serialNumber=1234"},
	{"CN=J\xc3\xbcrgen", "CN=J\xc3\xbcrgen"},  /* UTF-8 kept as UTF-8 */
	{"CN=a=b", "CN=a=b"},                      /* '=' inside a value */
	{"", NULL},
	{"CN", NULL},
	{"=x", NULL},
	{"CN=", NULL},
	{"FOO=bar", NULL},
	{"CN=a,FOO=bar", NULL},
	{"CN=a,,O=b", NULL},
	{"CN=a,O", NULL},
	{"C=DEU", NULL},                           /* countryName is 2 letters */
};

static void test_names(void)
{
	for (size_t i = 0; i < sizeof(dn_cases) / sizeof(dn_cases[0]); i++) {
		X509_NAME *n = (X509_NAME *)1;
		prov_err e;
		prov_status st;

		memset(&e, 0, sizeof(e));
		st = prov_x509_name_parse(dn_cases[i].dn, &n, &e);
		if (dn_cases[i].text != NULL) {
			char *t = st == PROV_OK ? prov_x509_name_text(n) : NULL;

			CHECK_MSG(st == PROV_OK && t != NULL && strcmp(t, dn_cases[i].text) == 0,
			          "DN \"%s\": status %d, text \"%s\", want \"%s\" (%s)", dn_cases[i].dn, st,
			          t != NULL ? t : "(null)", dn_cases[i].text, st == PROV_OK ? "" : e.msg);
			free(t);
		} else {
			CHECK_MSG(st == PROV_E_INPUT && e.code == PROV_E_INPUT && n == NULL &&
			          e.msg[0] != 0, "DN \"%s\": status %d, want input error", dn_cases[i].dn, st);
		}
		if (st == PROV_OK)
			X509_NAME_free(n);
	}

	/* RFC 4514 text lists the most specific RDN first; DER holds the least
	 * specific first. */
	{
		X509_NAME *n = NULL;

		CHECK(prov_x509_name_parse("CN=dev-1,O=Acme,C=DE", &n, NULL) == PROV_OK);
		if (n != NULL) {
			CHECK(X509_NAME_entry_count(n) == 3);
			CHECK(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(n, 0))) == NID_countryName);
			CHECK(OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(n, 2))) == NID_commonName);
			X509_NAME_free(n);
		}
	}
}

/* ---- serials --------------------------------------------------------------------------- */

static void test_serials(void)
{
	uint8_t s[64][PROV_SERIAL_LEN];
	int shape = 0, dup = 0;

	for (int i = 0; i < 64; i++) {
		CHECK(prov_x509_serial_new(s[i], NULL) == PROV_OK);
		shape += (s[i][0] & 0x80) == 0 && (s[i][0] & 0x40) != 0;
		for (int j = 0; j < i; j++)
			dup += memcmp(s[i], s[j], PROV_SERIAL_LEN) == 0;
	}
	CHECK_MSG(shape == 64, "%d of 64 serials have the top bit clear and the second set", shape);
	CHECK_MSG(dup == 0, "%d repeated serials", dup);
	CHECK(PROV_SERIAL_LEN == 16);
}

/* ---- issuing ------------------------------------------------------------------------------ */

/* The certificate re-read from its DER: what a relying party sees. */
static X509 *reparse(X509 *c)
{
	uint8_t *der = NULL;
	size_t len = 0;
	const unsigned char *p;
	X509 *r = NULL;

	if (prov_x509_der(c, &der, &len, NULL) != PROV_OK)
		return NULL;
	p = der;
	r = d2i_X509(NULL, &p, (long)len);
	if (r != NULL && p != der + len) {
		X509_free(r);
		r = NULL;
	}
	OPENSSL_free(der);
	return r;
}

static int ext_critical(X509 *c, int nid)
{
	int i = X509_get_ext_by_NID(c, nid, -1);

	return i < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(c, i));
}

/* Dotted OIDs of the EKU extension joined with ",", "" if absent. */
static void eku_oids(X509 *c, char *out, size_t cap)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(c, NID_ext_key_usage, NULL, NULL);

	out[0] = 0;
	for (int i = 0; eku != NULL && i < sk_ASN1_OBJECT_num(eku); i++) {
		char o[80];

		OBJ_obj2txt(o, sizeof(o), sk_ASN1_OBJECT_value(eku, i), 1);
		if (i > 0)
			strncat(out, ",", cap - strlen(out) - 1);
		strncat(out, o, cap - strlen(out) - 1);
	}
	EXTENDED_KEY_USAGE_free(eku);
}

static int64_t asn1_time_unix(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (!ASN1_TIME_to_tm(t, &tm))
		return -1;
	return (int64_t)timegm(&tm);
}

/* OpenSSL's path validation of leaf under ca at time `at`; returns the error. */
static int path_verify(X509 *ca, X509 *leaf, int64_t at, int purpose)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int err = -1;

	if (st != NULL && ctx != NULL && X509_STORE_add_cert(st, ca) &&
	    X509_STORE_CTX_init(ctx, st, leaf, NULL)) {
		X509_STORE_CTX_set_time(ctx, 0, (time_t)at);
		if (purpose != 0)
			X509_STORE_CTX_set_purpose(ctx, purpose);
		err = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return err;
}

struct eku_case {
	const char *const *names;
	size_t n;
	const char *oids;  /* what the extension must hold */
	uint32_t xku;      /* X509_get_extended_key_usage */
};

static const char *const eku_client[] = {"clientAuth"};
static const char *const eku_both[] = {"clientAuth", "serverAuth"};
static const char *const eku_oid[] = {"1.3.6.1.5.5.7.3.8", "1.3.6.1.4.1.55555.1.2"};
static const struct eku_case eku_cases[] = {
	{eku_client, 1, "1.3.6.1.5.5.7.3.2", XKU_SSL_CLIENT},
	{eku_both, 2, "1.3.6.1.5.5.7.3.2,1.3.6.1.5.5.7.3.1", XKU_SSL_CLIENT | XKU_SSL_SERVER},
	{eku_oid, 2, "1.3.6.1.5.5.7.3.8,1.3.6.1.4.1.55555.1.2", XKU_TIMESTAMP},
	{NULL, 0, "", UINT32_MAX},
};

static void check_leaf(X509 *ca, EVP_PKEY *ca_key, EVP_PKEY *other, EVP_PKEY *subj,
                       const prov_cert_profile *p, const uint8_t *serial, X509 *issued,
                       const struct eku_case *ek, const char *what)
{
	X509 *c = reparse(issued);
	char oids[256], *subject = NULL;
	const ASN1_TIME *na;
	const ASN1_INTEGER *sn;
	const ASN1_OCTET_STRING *ski, *aki, *ca_ski;

	CHECK_MSG(c != NULL, "%s: DER does not read back", what);
	if (c == NULL)
		return;
	CHECK_MSG(X509_verify(c, ca_key) == 1, "%s: signature does not verify with the CA key", what);
	CHECK_MSG(X509_verify(c, other) != 1, "%s: verifies with an unrelated key", what);
	ERR_clear_error();
	CHECK(X509_get_version(c) == X509_VERSION_3);
	CHECK_MSG(X509_check_ca(c) == 0, "%s: leaf is a CA", what);
	CHECK_MSG(ext_critical(c, NID_basic_constraints) == 1, "%s: basicConstraints not critical", what);
	CHECK_MSG(X509_get_key_usage(c) == KU_DIGITAL_SIGNATURE, "%s: keyUsage %#x, want digitalSignature only",
	          what, (unsigned)X509_get_key_usage(c));
	CHECK_MSG(ext_critical(c, NID_key_usage) == 1, "%s: keyUsage not critical", what);
	eku_oids(c, oids, sizeof(oids));
	CHECK_MSG(strcmp(oids, ek->oids) == 0, "%s: EKU \"%s\", want \"%s\"", what, oids, ek->oids);
	CHECK_MSG(X509_get_extended_key_usage(c) == ek->xku, "%s: EKU flags %#x, want %#x", what,
	          (unsigned)X509_get_extended_key_usage(c), (unsigned)ek->xku);
	if (ek->n == 0)
		CHECK_MSG(X509_get_ext_by_NID(c, NID_ext_key_usage, -1) < 0, "%s: empty EKU present", what);

	/* Serial: exactly the 16 octets given, positive. */
	sn = X509_get0_serialNumber(c);
	CHECK_MSG(ASN1_STRING_type(sn) == V_ASN1_INTEGER && ASN1_STRING_length(sn) == PROV_SERIAL_LEN &&
	          memcmp(ASN1_STRING_get0_data(sn), serial, PROV_SERIAL_LEN) == 0, "%s: serial", what);

	/* Names. */
	subject = prov_x509_name_text(X509_get_subject_name(c));
	CHECK_MSG(subject != NULL && strcmp(subject, p->subject) == 0, "%s: subject \"%s\"", what,
	          subject != NULL ? subject : "(null)");
	free(subject);
	CHECK(X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(ca)) == 0);

	/* Validity. */
	CHECK(ASN1_STRING_type(X509_get0_notBefore(c)) == V_ASN1_UTCTIME);
	CHECK(asn1_time_unix(X509_get0_notBefore(c)) == p->not_before);
	na = X509_get0_notAfter(c);
	if (p->no_expiry) {
		CHECK_MSG(ASN1_STRING_type(na) == V_ASN1_GENERALIZEDTIME && ASN1_STRING_length(na) == 15 &&
		          memcmp(ASN1_STRING_get0_data(na), "99991231235959Z", 15) == 0,
		          "%s: notAfter \"%.*s\" type %d, want GeneralizedTime 99991231235959Z", what,
		          ASN1_STRING_length(na), (const char *)ASN1_STRING_get0_data(na), ASN1_STRING_type(na));
	} else {
		int days = -1, secs = -1;

		CHECK(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(c), na) && secs == 0 &&
		      days == (int)((p->not_after - p->not_before) / 86400));
		CHECK(asn1_time_unix(na) == p->not_after);
		/* RFC 5280 4.1.2.5: UTCTime through 2049. */
		CHECK(ASN1_STRING_type(na) ==
		      (p->not_after < 2524608000LL ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME));
	}

	/* The subject's key, and the key identifiers (RFC 5280 4.2.1.2 method 1). */
	CHECK_MSG(EVP_PKEY_eq(X509_get0_pubkey(c), subj) == 1, "%s: certificate holds another key", what);
	ski = X509_get0_subject_key_id(c);
	aki = X509_get0_authority_key_id(c);
	ca_ski = X509_get0_subject_key_id(ca);
	{
		const unsigned char *pk = NULL;
		int pklen = 0;
		unsigned char md[20];

		X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, X509_get_X509_PUBKEY(c));
		CHECK(pk != NULL && EVP_Digest(pk, (size_t)pklen, md, NULL, EVP_sha1(), NULL));
		CHECK_MSG(ski != NULL && ASN1_STRING_length(ski) == 20 &&
		          memcmp(ASN1_STRING_get0_data(ski), md, 20) == 0, "%s: subjectKeyIdentifier", what);
	}
	CHECK_MSG(aki != NULL && ca_ski != NULL && ASN1_OCTET_STRING_cmp(aki, ca_ski) == 0,
	          "%s: authorityKeyIdentifier is not the CA's subjectKeyIdentifier", what);

	/* Path validation, inside and outside the validity period. */
	CHECK_MSG(path_verify(ca, c, p->not_before + 86400, 0) == X509_V_OK, "%s: path validation", what);
	CHECK(path_verify(ca, c, p->not_before - 86400, 0) == X509_V_ERR_CERT_NOT_YET_VALID);
	if (!p->no_expiry)
		CHECK(path_verify(ca, c, p->not_after + 86400, 0) == X509_V_ERR_CERT_HAS_EXPIRED);
	else
		CHECK(path_verify(ca, c, 4102444800LL, 0) == X509_V_OK); /* 2100 */
	if (ek->xku & XKU_SSL_CLIENT)
		CHECK_MSG(path_verify(ca, c, p->not_before + 86400, X509_PURPOSE_SSL_CLIENT) == X509_V_OK,
		          "%s: not usable as a TLS client certificate", what);
	X509_free(c);
}

static void check_ca(X509 *ca, EVP_PKEY *key, int64_t now, int days, const char *what)
{
	X509 *c = reparse(ca);
	int d = -1, s = -1;
	char *t;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_MSG(X509_check_ca(c) == 1, "%s: X509_check_ca != 1", what);
	CHECK(X509_verify(c, key) == 1);
	CHECK(X509_get_pathlen(c) == 0);
	CHECK(ext_critical(c, NID_basic_constraints) == 1);
	CHECK(X509_get_key_usage(c) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
	CHECK(ext_critical(c, NID_key_usage) == 1);
	CHECK(X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(c)) == 0);
	CHECK(X509_get0_subject_key_id(c) != NULL);
	CHECK(asn1_time_unix(X509_get0_notBefore(c)) == now);
	CHECK(ASN1_TIME_diff(&d, &s, X509_get0_notBefore(c), X509_get0_notAfter(c)) && d == days && s == 0);
	CHECK(EVP_PKEY_eq(X509_get0_pubkey(c), key) == 1);
	t = prov_x509_name_text(X509_get_subject_name(c));
	CHECK(t != NULL && strcmp(t, "CN=Test CA,O=provkit test") == 0);
	free(t);
	{
		const ASN1_INTEGER *sn = X509_get0_serialNumber(c);

		CHECK(ASN1_STRING_length(sn) == PROV_SERIAL_LEN && (ASN1_STRING_get0_data(sn)[0] & 0xc0) == 0x40);
	}
	X509_free(c);
}

static void test_issue(void)
{
	int combos = 0;

	/* The CAs start at T2026: pin the clock inside their validity, so any check
	 * against "now" is deterministic. */
	setenv("PROV_NOW", "1767312000", 1); /* T2026 + 1 day */

	for (size_t ci = 0; ci < NTYPES; ci++) {
		EVP_PKEY *ca_key = gen(types[ci]), *other = gen(types[ci]);
		X509 *ca = NULL;
		prov_err e;
		char what[128];

		CHECK(ca_key != NULL && other != NULL);
		if (ca_key == NULL || other == NULL) {
			EVP_PKEY_free(ca_key);
			EVP_PKEY_free(other);
			continue;
		}
		CHECK_MSG(prov_x509_ca_create(ca_key, "CN=Test CA,O=provkit test", T2026, CA_DAYS, &ca, &e) ==
		          PROV_OK, "CA %s: %s", prov_key_type_name(types[ci]), e.msg);
		if (ca == NULL) {
			EVP_PKEY_free(ca_key);
			EVP_PKEY_free(other);
			continue;
		}
		snprintf(what, sizeof(what), "CA %s", prov_key_type_name(types[ci]));
		check_ca(ca, ca_key, T2026, CA_DAYS, what);
		CHECK(prov_x509_ca_check(ca, ca_key, &e) == PROV_OK);
		memset(&e, 0, sizeof(e));
		CHECK(prov_x509_ca_check(ca, other, &e) == PROV_E_INPUT && e.msg[0] != 0);

		for (size_t si = 0; si < NTYPES; si++) {
			EVP_PKEY *subj = gen(types[si]);
			const struct eku_case *ek = &eku_cases[(ci * NTYPES + si) % (sizeof(eku_cases) / sizeof(eku_cases[0]))];

			for (int no_expiry = 0; no_expiry <= 1 && subj != NULL; no_expiry++) {
				prov_cert_profile p = {
					.subject = "CN=dev-1,O=provkit devices",
					.not_before = T2026,
					.not_after = T2026 + 397LL * 86400,
					.no_expiry = no_expiry,
					.eku = ek->names,
					.n_eku = ek->n,
				};
				uint8_t serial[PROV_SERIAL_LEN];
				X509 *leaf = NULL;

				snprintf(what, sizeof(what), "CA %s, subject %s, %s, %zu EKUs",
				         prov_key_type_name(types[ci]), prov_key_type_name(types[si]),
				         no_expiry ? "no expiry" : "397 days", ek->n);
				CHECK(prov_x509_serial_new(serial, NULL) == PROV_OK);
				CHECK_MSG(prov_x509_issue(ca, ca_key, subj, &p, serial, &leaf, &e) == PROV_OK,
				          "%s: %s", what, e.msg);
				if (leaf == NULL)
					continue;
				check_leaf(ca, ca_key, other, subj, &p, serial, leaf, ek, what);
				combos++;
				/* The batch path (extensions prepared once) gives the same
				 * to-be-signed bytes as parsing them per certificate. */
				{
					prov_x509_exts *x = NULL;
					X509 *leaf2 = NULL;
					unsigned char *t1 = NULL, *t2 = NULL;
					int l1, l2;

					CHECK_MSG(prov_x509_exts_new(ca, ek->names, ek->n, &x, &e) == PROV_OK, "%s: %s", what, e.msg);
					CHECK(prov_x509_exts_match(x, ek->names, ek->n));
					CHECK(ek->n == 0 || !prov_x509_exts_match(x, ek->names, ek->n - 1));
					p.exts = x;
					CHECK(prov_x509_issue(ca, ca_key, subj, &p, serial, &leaf2, &e) == PROV_OK);
					p.exts = NULL;
					l1 = i2d_re_X509_tbs(leaf, &t1);
					l2 = leaf2 != NULL ? i2d_re_X509_tbs(leaf2, &t2) : -1;
					CHECK_MSG(l1 > 0 && l1 == l2 && memcmp(t1, t2, (size_t)l1) == 0,
					          "%s: prepared extensions change the certificate", what);
					OPENSSL_free(t1);
					OPENSSL_free(t2);
					X509_free(leaf2);
					prov_x509_exts_free(x);
				}
				/* A leaf cannot act as the device-issuing CA, even with its own key. */
				if (si == ci && no_expiry == 0) {
					memset(&e, 0, sizeof(e));
					CHECK(prov_x509_ca_check(leaf, subj, &e) == PROV_E_INPUT && e.msg[0] != 0);
				}
				X509_free(leaf);
			}
			EVP_PKEY_free(subj);
		}

		/* Bad profiles. */
		{
			static const char *const bad_eku[] = {"clientAuth", "notAnEKU"};
			prov_cert_profile p = {"CN=dev-1", T2026, T2026 + 86400, 0, bad_eku, 2, NULL, 0, PROV_KEY_NONE, NULL, NULL};
			uint8_t serial[PROV_SERIAL_LEN] = {0x40, 1};
			X509 *leaf = (X509 *)1;

			CHECK(prov_x509_issue(ca, ca_key, other, &p, serial, &leaf, &e) == PROV_E_INPUT && leaf == NULL);
			{
				prov_x509_exts *x = (prov_x509_exts *)1;

				memset(&e, 0, sizeof(e));
				CHECK(prov_x509_exts_new(ca, bad_eku, 2, &x, &e) == PROV_E_INPUT && x == NULL &&
				      strstr(e.msg, "notAnEKU") != NULL);
			}
			p.eku = NULL;
			p.n_eku = 0;
			p.subject = "FOO=bar";
			CHECK(prov_x509_issue(ca, ca_key, other, &p, serial, &leaf, &e) == PROV_E_INPUT && leaf == NULL);
		}
		X509_free(ca);
		EVP_PKEY_free(ca_key);
		EVP_PKEY_free(other);
	}
	unsetenv("PROV_NOW");
	printf("x509: %d certificates issued and checked\n", combos);
	CHECK(combos == (int)(NTYPES * NTYPES * 2));
}

/* A self-signed certificate with the given extensions, to feed prov_x509_ca_check. */
static X509 *self_signed(EVP_PKEY *k, const char *bc, const char *ku)
{
	X509 *c = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX ctx;
	int ok;

	ok = c != NULL && n != NULL && X509_set_version(c, X509_VERSION_3) &&
	     ASN1_INTEGER_set(X509_get_serialNumber(c), 7) &&
	     X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"odd CA", -1, -1, 0) &&
	     X509_set_subject_name(c, n) && X509_set_issuer_name(c, n) && X509_set_pubkey(c, k) &&
	     X509_gmtime_adj(X509_getm_notBefore(c), 0) && X509_gmtime_adj(X509_getm_notAfter(c), 86400);
	X509V3_set_ctx(&ctx, c, c, NULL, NULL, 0);
	if (ok && bc != NULL) {
		X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, bc);

		ok = ex != NULL && X509_add_ext(c, ex, -1);
		X509_EXTENSION_free(ex);
	}
	if (ok && ku != NULL) {
		X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, ku);

		ok = ex != NULL && X509_add_ext(c, ex, -1);
		X509_EXTENSION_free(ex);
	}
	ok = ok && X509_sign(c, k, EVP_sha256()) > 0;
	X509_NAME_free(n);
	if (!ok) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static void test_ca_check(void)
{
	EVP_PKEY *k = gen(PROV_KEY_P256);
	static const struct {
		const char *bc, *ku;
		int ok;
	} cases[] = {
		{"critical,CA:TRUE", "critical,keyCertSign", 1},
		{"critical,CA:TRUE", NULL, 1},                       /* no keyUsage: any use */
		{"critical,CA:TRUE", "critical,digitalSignature", 0}, /* CA without keyCertSign */
		{"critical,CA:FALSE", "critical,keyCertSign", 0},
		{NULL, "critical,digitalSignature", 0},              /* v3 without basicConstraints */
	};

	CHECK(k != NULL);
	for (size_t i = 0; k != NULL && i < sizeof(cases) / sizeof(cases[0]); i++) {
		X509 *c = self_signed(k, cases[i].bc, cases[i].ku);
		prov_err e;

		CHECK(c != NULL);
		if (c == NULL)
			continue;
		CHECK_MSG((prov_x509_ca_check(c, k, &e) == PROV_OK) == cases[i].ok,
		          "CA check of basicConstraints \"%s\", keyUsage \"%s\": want %s",
		          cases[i].bc ? cases[i].bc : "-", cases[i].ku ? cases[i].ku : "-",
		          cases[i].ok ? "accepted" : "refused");
		X509_free(c);
	}
	EVP_PKEY_free(k);
}

/* ---- CSRs ------------------------------------------------------------------------------------- */

static X509_REQ *make_csr(EVP_PKEY *k)
{
	X509_REQ *r = X509_REQ_new();
	X509_NAME *n = X509_NAME_new();
	int ok;

	ok = r != NULL && n != NULL && X509_REQ_set_version(r, 0) &&
	     X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"dev-7", -1, -1, 0) &&
	     X509_REQ_set_subject_name(r, n) && X509_REQ_set_pubkey(r, k) &&
	     X509_REQ_sign(r, k, EVP_PKEY_is_a(k, "ED25519") ? NULL : EVP_sha256()) > 0;
	X509_NAME_free(n);
	if (!ok) {
		X509_REQ_free(r);
		return NULL;
	}
	return r;
}

static int put_file(const char *path, const void *p, size_t n)
{
	return prov_file_write(path, p, n, 0600, 0, NULL) == PROV_OK ? 0 : -1;
}

static void test_csr(void)
{
	char path[512];

	for (size_t ti = 0; ti < NTYPES; ti++) {
		EVP_PKEY *k = gen(types[ti]);
		X509_REQ *r = k != NULL ? make_csr(k) : NULL, *got = NULL;
		unsigned char *der = NULL;
		int len = r != NULL ? i2d_X509_REQ(r, &der) : -1;
		const char *tn = prov_key_type_name(types[ti]);
		prov_err e;

		CHECK_MSG(len > 0, "%s: cannot build a CSR", tn);
		if (len <= 0) {
			X509_REQ_free(r);
			EVP_PKEY_free(k);
			continue;
		}
		/* DER, good. */
		snprintf(path, sizeof(path), "%s/csr-%s.der", tmpdir, tn);
		CHECK(put_file(path, der, (size_t)len) == 0);
		CHECK_MSG(prov_x509_csr_load(path, &got, &e) == PROV_OK, "%s DER CSR: %s", tn, e.msg);
		CHECK(got != NULL && EVP_PKEY_eq(X509_REQ_get0_pubkey(got), k) == 1);
		X509_REQ_free(got);
		got = NULL;

		/* PEM, good. */
		{
			BIO *b = BIO_new(BIO_s_mem());
			BUF_MEM *m = NULL;

			CHECK(b != NULL && PEM_write_bio_X509_REQ(b, r));
			BIO_get_mem_ptr(b, &m);
			snprintf(path, sizeof(path), "%s/csr-%s.pem", tmpdir, tn);
			CHECK(m != NULL && put_file(path, m->data, m->length) == 0);
			BIO_free(b);
			CHECK_MSG(prov_x509_csr_load(path, &got, &e) == PROV_OK, "%s PEM CSR: %s", tn, e.msg);
			X509_REQ_free(got);
			got = NULL;
		}

		/* The last byte of the DER lies in the signature: flipped, the CSR still
		 * parses but its self-signature no longer verifies. */
		{
			const unsigned char *p = der;
			X509_REQ *parsed;

			der[len - 1] ^= 0x01;
			parsed = d2i_X509_REQ(NULL, &p, len);
			CHECK_MSG(parsed != NULL, "%s: flipped CSR no longer parses", tn);
			X509_REQ_free(parsed);
			snprintf(path, sizeof(path), "%s/csr-%s-badsig.der", tmpdir, tn);
			CHECK(put_file(path, der, (size_t)len) == 0);
			memset(&e, 0, sizeof(e));
			got = (X509_REQ *)1;
			CHECK_MSG(prov_x509_csr_load(path, &got, &e) == PROV_E_VERIFY && e.code == PROV_E_VERIFY &&
			          got == NULL, "%s: flipped signature byte not PROV_E_VERIFY: \"%s\"", tn, e.msg);
			der[len - 1] ^= 0x01;
		}

		/* Truncated: not a CSR. */
		snprintf(path, sizeof(path), "%s/csr-%s-cut.der", tmpdir, tn);
		CHECK(put_file(path, der, (size_t)len / 2) == 0);
		CHECK(prov_x509_csr_load(path, &got, &e) == PROV_E_INPUT && got == NULL);

		OPENSSL_free(der);
		X509_REQ_free(r);
		EVP_PKEY_free(k);
	}

	snprintf(path, sizeof(path), "%s/not-a-csr.txt", tmpdir);
	CHECK(put_file(path, "hello, world\n", 13) == 0);
	CHECK(prov_x509_csr_load(path, &(X509_REQ *){NULL}, NULL) == PROV_E_INPUT);
	snprintf(path, sizeof(path), "%s/no-such-csr.der", tmpdir);
	CHECK(prov_x509_csr_load(path, &(X509_REQ *){NULL}, NULL) == PROV_E_NOTFOUND);
}

/* ---- key encodings -------------------------------------------------------------------------- */

static int spki_matches(EVP_PKEY *k, const char *what)
{
	uint8_t *mine = NULL;
	unsigned char *theirs = NULL;
	size_t ml = 0;
	int tl = i2d_PUBKEY(k, &theirs), ok;
	EVP_PKEY *back = NULL;

	ok = prov_key_spki(k, &mine, &ml, NULL) == PROV_OK && tl > 0 && (size_t)tl == ml &&
	     memcmp(mine, theirs, ml) == 0;
	if (!ok) {
		fprintf(stderr, "%s: prov_key_spki differs from i2d_PUBKEY\n", what);
		if (mine != NULL && tl > 0)
			CHECK_EQ_HEX(mine, ml, theirs, (size_t)tl);
	}
	if (mine != NULL) {
		ok = ok && prov_key_from_spki(mine, ml, &back, NULL) == PROV_OK && EVP_PKEY_eq(back, k) == 1;
		EVP_PKEY_free(back);
	}
	OPENSSL_free(mine);
	OPENSSL_free(theirs);
	return ok;
}

static void test_spki(void)
{
	int n = 0, good = 0;

	for (size_t ti = 0; ti < NTYPES; ti++)
		for (int i = 0; i < 16; i++) {
			EVP_PKEY *k = gen(types[ti]), *pub = NULL;
			unsigned char *der = NULL;
			const unsigned char *p;
			int len;
			char what[64];

			if (k == NULL) {
				CHECK(0);
				continue;
			}
			snprintf(what, sizeof(what), "%s key %d", prov_key_type_name(types[ti]), i);
			n++;
			good += spki_matches(k, what);
			/* The public half alone, as read from a DER SPKI. */
			len = i2d_PUBKEY(k, &der);
			p = der;
			pub = len > 0 ? d2i_PUBKEY(NULL, &p, len) : NULL;
			if (pub != NULL) {
				n++;
				good += spki_matches(pub, what);
			}
			EVP_PKEY_free(pub);
			OPENSSL_free(der);
			EVP_PKEY_free(k);
		}
	CHECK_MSG(good == n, "prov_key_spki == i2d_PUBKEY for %d of %d keys", good, n);
	printf("x509: prov_key_spki == i2d_PUBKEY for %d of %d keys\n", good, n);

	/* A point given compressed (RFC 5480 allows it) is re-encoded uncompressed,
	 * as the header promises for raw public keys; it is the same key. */
	{
		EVP_PKEY *k = gen(PROV_KEY_P256), *pub = NULL, *back = NULL;
		unsigned char *der = NULL;
		const unsigned char *p;
		uint8_t *mine = NULL, raw[133];
		size_t ml = 0, rl = 0;
		int len;

		CHECK(k != NULL && EVP_PKEY_set_utf8_string_param(k, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
		                                                   "compressed"));
		len = i2d_PUBKEY(k, &der);
		p = der;
		pub = len > 0 ? d2i_PUBKEY(NULL, &p, len) : NULL;
		CHECK(len == 59 && pub != NULL);
		CHECK(pub != NULL && prov_key_spki(pub, &mine, &ml, NULL) == PROV_OK && ml == 91);
		CHECK(mine != NULL && prov_key_from_spki(mine, ml, &back, NULL) == PROV_OK &&
		      EVP_PKEY_eq(back, k) == 1);
		CHECK(pub != NULL && prov_key_raw_public(pub, raw, sizeof(raw), &rl, NULL) == PROV_OK &&
		      rl == 65 && raw[0] == 0x04);
		OPENSSL_free(mine);
		OPENSSL_free(der);
		EVP_PKEY_free(back);
		EVP_PKEY_free(pub);
		EVP_PKEY_free(k);
	}

	/* Unsupported key types are refused, not mis-encoded. */
	{
		EVP_PKEY *x = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
		uint8_t *der = NULL;
		size_t l = 0;

		CHECK(x != NULL && prov_key_spki(x, &der, &l, NULL) == PROV_E_INPUT && der == NULL);
		EVP_PKEY_free(x);
	}
	/* Garbage and trailing bytes are not an SPKI. */
	{
		static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
		EVP_PKEY *k = gen(PROV_KEY_P256), *out = NULL;
		uint8_t *der = NULL, *longer;
		size_t l = 0;

		CHECK(prov_key_from_spki(junk, sizeof(junk), &out, NULL) == PROV_E_INPUT && out == NULL);
		CHECK(k != NULL && prov_key_spki(k, &der, &l, NULL) == PROV_OK);
		longer = malloc(l + 1);
		if (longer != NULL && der != NULL) {
			memcpy(longer, der, l);
			longer[l] = 0;
			CHECK(prov_key_from_spki(longer, l + 1, &out, NULL) == PROV_E_INPUT && out == NULL);
			CHECK(prov_key_from_spki(longer, l - 1, &out, NULL) == PROV_E_INPUT && out == NULL);
		}
		free(longer);
		OPENSSL_free(der);
		EVP_PKEY_free(k);
	}
}

static void test_raw_private(void)
{
	int n = 0, good = 0;

	for (size_t ti = 0; ti < NTYPES; ti++) {
		size_t want_len = types[ti] == PROV_KEY_P384 ? 48 : 32;

		for (int i = 0; i < 8; i++) {
			EVP_PKEY *k = gen(types[ti]), *back = NULL;
			uint8_t raw[64], raw2[64];
			size_t l = 0, l2 = 0;
			int ok;

			n++;
			ok = k != NULL && prov_key_raw_private(k, raw, sizeof(raw), &l, NULL) == PROV_OK &&
			     l == want_len &&
			     prov_key_from_raw_private(types[ti], raw, l, &back, NULL) == PROV_OK &&
			     EVP_PKEY_eq(back, k) == 1 && prov_key_type_of(back) == types[ti] &&
			     prov_key_raw_private(back, raw2, sizeof(raw2), &l2, NULL) == PROV_OK &&
			     l2 == l && memcmp(raw, raw2, l) == 0;
			/* The rebuilt key signs like the original. */
			if (ok) {
				EVP_MD_CTX *md = EVP_MD_CTX_new();
				const EVP_MD *h = types[ti] == PROV_KEY_ED25519 ? NULL : EVP_sha256();
				uint8_t sig[160];
				size_t sl = sizeof(sig);

				ok = md != NULL && EVP_DigestSignInit(md, NULL, h, NULL, back) == 1 &&
				     EVP_DigestSign(md, sig, &sl, (const uint8_t *)"msg", 3) == 1;
				EVP_MD_CTX_free(md);
				md = EVP_MD_CTX_new();
				ok = ok && md != NULL && EVP_DigestVerifyInit(md, NULL, h, NULL, k) == 1 &&
				     EVP_DigestVerify(md, sig, sl, (const uint8_t *)"msg", 3) == 1;
				EVP_MD_CTX_free(md);
			}
			good += ok;
			prov_wipe(raw, sizeof(raw));
			prov_wipe(raw2, sizeof(raw2));
			EVP_PKEY_free(back);
			EVP_PKEY_free(k);
		}

		/* A small scalar keeps its leading zero octets (padded to the curve size). */
		{
			uint8_t raw[48] = {0}, out[64];
			size_t l = 0;
			EVP_PKEY *k = NULL;

			raw[want_len - 1] = 5;
			if (types[ti] == PROV_KEY_ED25519)
				raw[0] = 1;
			CHECK(prov_key_from_raw_private(types[ti], raw, want_len, &k, NULL) == PROV_OK);
			CHECK(k != NULL && prov_key_raw_private(k, out, sizeof(out), &l, NULL) == PROV_OK &&
			      l == want_len && memcmp(out, raw, want_len) == 0);
			EVP_PKEY_free(k);
		}
		/* Wrong lengths. */
		{
			uint8_t raw[64] = {1, 2, 3};
			EVP_PKEY *k = NULL;

			CHECK(prov_key_from_raw_private(types[ti], raw, want_len - 1, &k, NULL) != PROV_OK && k == NULL);
			CHECK(prov_key_from_raw_private(types[ti], raw, want_len + 1, &k, NULL) != PROV_OK && k == NULL);
		}
		/* Too small an output buffer. */
		{
			EVP_PKEY *k = gen(types[ti]);
			uint8_t out[64];
			size_t l = 0;

			CHECK(k != NULL && prov_key_raw_private(k, out, want_len - 1, &l, NULL) != PROV_OK);
			EVP_PKEY_free(k);
		}
	}
	CHECK_MSG(good == n, "raw private key round trip: %d of %d keys", good, n);
	printf("x509: raw private key round trip for %d of %d keys\n", good, n);

	/* SEC1 3.2.1: an EC private key is an integer in [1, n-1].  Zero and values
	 * at or above the group order are not keys. */
	{
		static const uint8_t p256_n[32] = {
			0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
			0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
		uint8_t zero[48] = {0}, ones[32];
		EVP_PKEY *k = NULL;
		prov_status st;

		memset(ones, 0xff, sizeof(ones));
		st = prov_key_from_raw_private(PROV_KEY_P256, zero, 32, &k, NULL);
		CHECK_MSG(st != PROV_OK && k == NULL, "P-256 private scalar 0 accepted");
		EVP_PKEY_free(k);
		k = NULL;
		st = prov_key_from_raw_private(PROV_KEY_P384, zero, 48, &k, NULL);
		CHECK_MSG(st != PROV_OK && k == NULL, "P-384 private scalar 0 accepted");
		EVP_PKEY_free(k);
		k = NULL;
		st = prov_key_from_raw_private(PROV_KEY_P256, p256_n, 32, &k, NULL);
		CHECK_MSG(st != PROV_OK && k == NULL, "P-256 private scalar n (the group order) accepted");
		EVP_PKEY_free(k);
		k = NULL;
		st = prov_key_from_raw_private(PROV_KEY_P256, ones, 32, &k, NULL);
		CHECK_MSG(st != PROV_OK && k == NULL, "P-256 private scalar 2^256-1 (> n) accepted");
		EVP_PKEY_free(k);
	}
}

static void rm_tmpdir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* ---- CRLs ------------------------------------------------------------------------------ */

static int crl_reason_of(X509_REVOKED *r)
{
	int crit = 0;
	ASN1_ENUMERATED *en = X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
	int v = en != NULL ? (int)ASN1_ENUMERATED_get(en) : -1;

	ASN1_ENUMERATED_free(en);
	return v;
}

static void test_crl(void)
{
	static const char *const names[] = {"unspecified", "keyCompromise", "cACompromise",
	                                    "affiliationChanged", "superseded", "cessationOfOperation",
	                                    "privilegeWithdrawn", "aACompromise"};
	static const int codes[] = {0, 1, 2, 3, 4, 5, 9, 10}; /* RFC 5280 5.3.1 */
	prov_err e;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		CHECK_MSG(prov_crl_reason_parse(names[i]) == codes[i], "%s", names[i]);
	CHECK(prov_crl_reason_parse("certificateHold") == -1);
	CHECK(prov_crl_reason_parse("removeFromCRL") == -1);
	CHECK(prov_crl_reason_parse("KeyCompromise") == -1);
	CHECK(prov_crl_reason_parse(NULL) == -1);
	for (size_t t = 0; t < NTYPES; t++) {
		EVP_PKEY *ca_key = gen(types[t]), *leaf_key = gen(PROV_KEY_P256);
		X509 *ca = NULL, *leaf[2] = {NULL, NULL};
		X509_CRL *crl = NULL, *back = NULL;
		uint8_t serial[2][PROV_SERIAL_LEN];
		char hex[2][2 * PROV_SERIAL_LEN + 1];
		prov_crl_entry ent[2];
		unsigned char *der = NULL;
		const unsigned char *p;
		int len;

		CHECK(ca_key != NULL && leaf_key != NULL);
		CHECK(prov_x509_ca_create(ca_key, "CN=CRL CA", T2026, CA_DAYS, &ca, &e) == PROV_OK);
		for (int i = 0; i < 2; i++) {
			prov_cert_profile prof;

			memset(&prof, 0, sizeof(prof));
			prof.subject = i == 0 ? "CN=revoked" : "CN=good";
			prof.not_before = T2026;
			prof.not_after = T2026 + 86400 * 365;
			CHECK(prov_x509_serial_new(serial[i], &e) == PROV_OK);
			prov_hex(serial[i], PROV_SERIAL_LEN, hex[i]);
			CHECK(prov_x509_issue(ca, ca_key, leaf_key, &prof, serial[i], &leaf[i], &e) == PROV_OK);
			/* re-read from its DER: the issued object holds its key encoded only */
			{
				unsigned char *ld = NULL;
				const unsigned char *lp;
				int ll = i2d_X509(leaf[i], &ld);

				lp = ld;
				X509_free(leaf[i]);
				leaf[i] = ll > 0 ? d2i_X509(NULL, &lp, ll) : NULL;
				OPENSSL_free(ld);
				CHECK(leaf[i] != NULL);
			}
		}
		/* the revoked leaf with a reason; a made-up serial with unspecified */
		ent[0].serial_hex = hex[0];
		ent[0].reason = prov_crl_reason_parse("keyCompromise");
		ent[0].revoked_at = T2026 + 100;
		ent[1].serial_hex = "00ff";
		ent[1].reason = prov_crl_reason_parse("unspecified");
		ent[1].revoked_at = T2026 + 200;
		CHECK_MSG(prov_x509_crl_make(ca, ca_key, ent, 2, 42, T2026 + 300, T2026 + 300 + 86400, &crl,
		                             &e) == PROV_OK, "%s: %s", prov_key_type_name(types[t]), e.msg);
		len = i2d_X509_CRL(crl, &der);
		CHECK(len > 0);
		p = der;
		back = d2i_X509_CRL(NULL, &p, len);
		CHECK(back != NULL && p == der + len);
		if (back != NULL) {
			ASN1_INTEGER *num = X509_CRL_get_ext_d2i(back, NID_crl_number, NULL, NULL);
			AUTHORITY_KEYID *aki = X509_CRL_get_ext_d2i(back, NID_authority_key_identifier, NULL, NULL);
			const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(ca);
			STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(back);
			time_t when = T2026 + 300;

			CHECK(X509_CRL_get_version(back) == X509_CRL_VERSION_2);
			CHECK(X509_NAME_cmp(X509_CRL_get_issuer(back), X509_get_subject_name(ca)) == 0);
			CHECK(ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(back), when) == 0);
			CHECK(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(back), when + 86400) == 0);
			CHECK(num != NULL && ASN1_INTEGER_get(num) == 42);
			CHECK(aki != NULL && skid != NULL && aki->keyid != NULL &&
			      ASN1_OCTET_STRING_cmp(aki->keyid, skid) == 0);
			CHECK(X509_CRL_verify(back, X509_get0_pubkey(ca)) == 1);
			CHECK(sk_X509_REVOKED_num(revs) == 2);
			for (int i = 0; i < sk_X509_REVOKED_num(revs); i++) {
				X509_REVOKED *r = sk_X509_REVOKED_value(revs, i);
				BIGNUM *bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(r), NULL);
				char *h = bn != NULL ? BN_bn2hex(bn) : NULL;
				int mine = h != NULL && strcasecmp(h, hex[0]) == 0;

				CHECK(h != NULL && (mine || strcasecmp(h, "FF") == 0));
				CHECK(crl_reason_of(r) == (mine ? 1 : -1)); /* unspecified: no extension */
				CHECK(ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(r),
				                           mine ? T2026 + 100 : T2026 + 200) == 0);
				OPENSSL_free(h);
				BN_free(bn);
			}
			/* OpenSSL's path validation with the CRL: the revoked leaf fails, the other passes */
			for (int i = 0; i < 2; i++) {
				X509_STORE *st = X509_STORE_new();
				X509_STORE_CTX *ctx = X509_STORE_CTX_new();
				int ok;

				X509_STORE_add_cert(st, ca);
				X509_STORE_add_crl(st, back);
				X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK);
				X509_STORE_CTX_init(ctx, st, leaf[i], NULL);
				X509_STORE_CTX_set_time(ctx, 0, (time_t)(T2026 + 400));
				ok = X509_verify_cert(ctx);
				CHECK_MSG(i == 0 ? ok != 1 && X509_STORE_CTX_get_error(ctx) == X509_V_ERR_CERT_REVOKED
				                 : ok == 1,
				          "%s leaf %d: %s", prov_key_type_name(types[t]), i,
				          X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
				X509_STORE_CTX_free(ctx);
				X509_STORE_free(st);
			}
			ASN1_INTEGER_free(num);
			AUTHORITY_KEYID_free(aki);
		}
		/* a serial that is not hex is refused, not guessed */
		ent[0].serial_hex = "12xz";
		{
			X509_CRL *bad = NULL;

			CHECK(prov_x509_crl_make(ca, ca_key, ent, 1, 43, T2026, T2026 + 1, &bad, &e) == PROV_E_DB);
			CHECK(bad == NULL);
		}
		ERR_clear_error();
		OPENSSL_free(der);
		X509_CRL_free(crl);
		X509_CRL_free(back);
		X509_free(leaf[0]);
		X509_free(leaf[1]);
		X509_free(ca);
		EVP_PKEY_free(ca_key);
		EVP_PKEY_free(leaf_key);
	}
}

int main(void)
{
	const char *base = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_x509.XXXXXX", base != NULL && *base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_names();
	test_serials();
	test_issue();
	test_ca_check();
	test_csr();
	test_spki();
	test_raw_private();
	test_crl();
	rm_tmpdir();
	return check_done("test_x509");
}
