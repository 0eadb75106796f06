/*
 * test_trust.c - the compact trust store (prov/trust.h): the anchor and store
 * encoders against hand-written expected bytes (format v2: pins, path length),
 * anchors from certificates made here with OpenSSL (RSA F4 and other exponent,
 * P-256, P-384, P-521, Ed25519, no-expiry, name constraints, path length, an
 * unsupported Ed448 key), order independence, which certificates may be anchors
 * (one certificate per RFC 5280 defect), pins against OpenSSL's SPKI, and the
 * strict reader: one case per defect (each named after it), every truncation,
 * and every single-bit flip of a store (never a crash; a flip that still passes
 * must describe a valid store again).
 */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prov/cbor.h"
#include "prov/trust.h"
#include "prov/util.h"

/* ---- helpers ---- */

/* A self-signed certificate: version (0 = v1, 2 = v3), CN (NULL: empty
 * subject and issuer), and extensions as OpenSSL config pairs "name", "value"
 * (NULL-terminated list; "critical," in a value marks it critical). */
static X509 *cert_with(EVP_PKEY *k, long version, const char *cn, const char *not_after,
                       const char *const *exts)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	const EVP_MD *md = EVP_PKEY_get_base_id(k) == EVP_PKEY_ED25519 || EVP_PKEY_get_base_id(k) == EVP_PKEY_ED448
	                       ? NULL : EVP_sha256();

	X509_set_version(x, version);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	if (cn != NULL)
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_NAME_free(n);
	ASN1_TIME_set_string(X509_getm_notBefore(x), "20200101000000Z");
	ASN1_TIME_set_string_X509(X509_getm_notAfter(x), not_after);
	X509_set_pubkey(x, k);
	for (size_t i = 0; exts != NULL && exts[i] != NULL; i += 2) {
		X509V3_CTX ctx;
		X509_EXTENSION *ext;

		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_nconf(NULL, &ctx, exts[i], exts[i + 1]);
		CHECK_MSG(ext != NULL, "extension %s = %s", exts[i], exts[i + 1]);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, k, md);
	return x;
}

/* A root as prov trust build admits it: v3, basicConstraints critical cA,
 * keyUsage keyCertSign; name constraints nc when not NULL. */
static X509 *self_signed(EVP_PKEY *k, const char *cn, const char *not_after, const char *nc)
{
	const char *exts[] = {"basicConstraints", "critical,CA:TRUE", "keyUsage", "critical,keyCertSign,cRLSign",
	                      nc != NULL ? "nameConstraints" : NULL, nc, NULL};

	return cert_with(k, 2, cn, not_after, exts);
}

static EVP_PKEY *rsa_key(unsigned bits, unsigned e)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	BIGNUM *bn = BN_new();
	EVP_PKEY *k = NULL;

	BN_set_word(bn, e);
	if (EVP_PKEY_keygen_init(c) <= 0 || EVP_PKEY_CTX_set_rsa_keygen_bits(c, (int)bits) <= 0 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(c, bn) <= 0 || EVP_PKEY_keygen(c, &k) <= 0)
		k = NULL;
	BN_free(bn);
	EVP_PKEY_CTX_free(c);
	return k;
}

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;

	for (; s[0] != 0 && s[1] != 0; s += 2) {
		if (s[0] == ' ') {
			s--;
			continue;
		}
		sscanf(s, "%2hhx", &out[n++]);
	}
	return n;
}

/* A store [version, index, anchors, pins] from raw parts (tests may write what
 * the encoder never would); pins NULL: a version 1 store's three items. */
static size_t mkstore_pins(uint64_t version, const uint8_t *idx, size_t il, const uint8_t *an, size_t al,
                           const uint8_t *pins, size_t pl, uint8_t *out)
{
	cbor_item_t *a = cbor_new_definite_array(pins != NULL ? 4 : 3);
	uint8_t *buf = NULL;
	size_t n = 0;

	prov_cbor_array_push(a, prov_cbor_uint(version));
	prov_cbor_array_push(a, prov_cbor_bytes(idx, il));
	prov_cbor_array_push(a, prov_cbor_bytes(an, al));
	if (pins != NULL)
		prov_cbor_array_push(a, prov_cbor_bytes(pins, pl));
	if (prov_cbor_encode(a, &buf, &n, NULL) == PROV_OK)
		memcpy(out, buf, n);
	free(buf);
	cbor_decref(&a);
	return n;
}

static size_t mkstore(uint64_t version, const uint8_t *idx, size_t il, const uint8_t *an, size_t al,
                      uint8_t *out)
{
	return mkstore_pins(version, idx, il, an, al, (const uint8_t *)"", 0, out);
}

/* One anchor record from hex, put in a one-anchor store with name-key 01020304. */
static size_t store1(const char *rec_hex, uint8_t *out)
{
	uint8_t rec[2048], idx[6] = {1, 2, 3, 4, 0, 0};
	char h[4096];
	size_t o = 0, rl;

	/* "K" stands for a 32-byte key of 0x11 */
	for (const char *p = rec_hex; *p != 0 && o < sizeof(h) - 70; p++) {
		if (*p == 'K') {
			memset(h + o, '1', 64);
			o += 64;
		} else {
			h[o++] = *p;
		}
	}
	h[o] = 0;
	rl = unhex(h, rec);

	return mkstore(2, idx, 6, rec, rl, out);
}

static char ed_rec[200];  /* 83 06 5820 11..11 f6: a valid Ed25519 anchor, no expiry */

/* ---- encoder ---- */

static void test_anchor_vectors(void)
{
	uint8_t key[128], exp3[1] = {3}, nc[2] = {0x30, 0x00}, want[300];
	prov_trust_anchor a;
	size_t wl;

	memset(&a, 0, sizeof(a));
	memset(key, 0x11, 32);
	a.alg = PROV_TRUST_ED25519;
	a.key = key;
	a.key_len = 32;
	a.not_after = 1700000000; /* 0x6553f100 */
	CHECK(prov_trust_anchor_encode(&a, NULL) == PROV_OK);
	wl = unhex("8306 5820 1111111111111111111111111111111111111111111111111111111111111111 1a6553f100", want);
	CHECK_EQ_HEX(a.record, a.record_len, want, wl);
	a.no_expiry = 1;
	CHECK(prov_trust_anchor_encode(&a, NULL) == PROV_OK);
	wl = unhex("8306 5820 1111111111111111111111111111111111111111111111111111111111111111 f6", want);
	CHECK_EQ_HEX(a.record, a.record_len, want, wl);
	a.no_expiry = 0;
	a.not_after = 4294967296LL; /* 2106: needs the 8-byte form */
	CHECK(prov_trust_anchor_encode(&a, NULL) == PROV_OK);
	wl = unhex("8306 5820 1111111111111111111111111111111111111111111111111111111111111111 1b0000000100000000", want);
	CHECK_EQ_HEX(a.record, a.record_len, want, wl);
	/* alg 2 with exponent and name constraints: ext keys in order 1, 2 */
	memset(key, 0xc1, 128);
	a.alg = PROV_TRUST_RSA_EXP;
	a.key_len = 128;
	a.not_after = 0;
	a.exponent = exp3;
	a.exponent_len = 1;
	a.name_constraints = nc;
	a.nc_len = 2;
	CHECK(prov_trust_anchor_encode(&a, NULL) == PROV_OK);
	CHECK(a.record_len == 1 + 1 + 2 + 128 + 1 + 1 + (1 + 2) + (1 + 3));
	CHECK(a.record[0] == 0x84 && a.record[1] == 0x02 && a.record[2] == 0x58 && a.record[3] == 0x80);
	wl = unhex("00 a2 0141 03 0242 3000", want);
	CHECK_EQ_HEX(a.record + 132, a.record_len - 132, want, wl);
	/* and a path length: ext key 3, a uint */
	a.has_path_len = 1;
	a.path_len = 24;
	CHECK(prov_trust_anchor_encode(&a, NULL) == PROV_OK);
	wl = unhex("00 a3 0141 03 0242 3000 031818", want);
	CHECK_EQ_HEX(a.record + 132, a.record_len - 132, want, wl);
	free(a.record);
	{
		int o = snprintf(ed_rec, sizeof(ed_rec), "83065820");

		for (int k = 0; k < 32; k++)
			o += snprintf(ed_rec + o, sizeof(ed_rec) - (size_t)o, "11");
		snprintf(ed_rec + o, sizeof(ed_rec) - (size_t)o, "f6");
	}
}

static void test_store_vector(void)
{
	uint8_t key[32], want[200], *out = NULL;
	prov_trust_anchor a, b, c;
	const prov_trust_anchor *list[3];
	size_t wl, n = 0;

	memset(key, 0x22, sizeof(key));
	memset(&a, 0, sizeof(a));
	a.alg = PROV_TRUST_ED25519;
	a.key = key;
	a.key_len = 32;
	a.no_expiry = 1;
	b = a;
	memcpy(a.name_key, "\xbb\x00\x00\x01", 4);
	memcpy(b.name_key, "\xaa\x00\x00\x02", 4);
	CHECK(prov_trust_anchor_encode(&a, NULL) == PROV_OK);
	CHECK(prov_trust_anchor_encode(&b, NULL) == PROV_OK);
	c = a; /* the same record under the same name-key: written once */
	list[0] = &a;
	list[1] = &b;
	list[2] = &c;
	CHECK(prov_trust_store_encode(list, 3, NULL, 0, &out, &n, NULL) == PROV_OK);
	wl = unhex("8402 4c aa0000020000 bb0000010025 584a"
	           "83065820 2222222222222222222222222222222222222222222222222222222222222222 f6"
	           "83065820 2222222222222222222222222222222222222222222222222222222222222222 f6 40", want);
	CHECK_EQ_HEX(out, n, want, wl);
	CHECK(prov_trust_store_check(out, n, NULL, &wl, NULL) == PROV_OK && wl == 2);
	free(out);
	/* pins: sorted, written once; a store of pins only */
	{
		uint8_t pins[96], *p = NULL;
		const uint8_t *got = NULL;
		size_t np = 0;

		memset(pins, 0x99, 32);
		memset(pins + 32, 0x11, 32);
		memset(pins + 64, 0x99, 32);
		CHECK(prov_trust_store_encode(NULL, 0, pins, 3, &out, &n, NULL) == PROV_OK);
		wl = unhex("8402 40 40 5840"
		           "1111111111111111111111111111111111111111111111111111111111111111"
		           "9999999999999999999999999999999999999999999999999999999999999999", want);
		CHECK_EQ_HEX(out, n, want, wl);
		CHECK(prov_trust_store_check(out, n, NULL, &wl, NULL) == PROV_OK && wl == 0);
		CHECK(prov_trust_store_pins(out, n, &got, &np) == 0 && np == 2 && got == out + 6);
		p = malloc((PROV_TRUST_PINS_MAX + 1) * 32);
		for (size_t i = 0; p != NULL && i <= PROV_TRUST_PINS_MAX; i++) {
			memset(p + i * 32, 0, 32);
			p[i * 32] = (uint8_t)(i >> 8);
			p[i * 32 + 1] = (uint8_t)i;
		}
		free(out);
		out = NULL;
		CHECK(prov_trust_store_encode(NULL, 0, p, PROV_TRUST_PINS_MAX, &out, &n, NULL) == PROV_OK);
		CHECK(prov_trust_store_check(out, n, NULL, &wl, NULL) == PROV_OK);
		free(out);
		out = NULL;
		CHECK(prov_trust_store_encode(NULL, 0, p, PROV_TRUST_PINS_MAX + 1, &out, &n, NULL) == PROV_E_INPUT);
		free(p);
		free(out);
	}
	free(a.record);
	free(b.record);
}

/* ---- anchors from certificates ---- */

static prov_trust_anchor from_cert(X509 *x, prov_status want)
{
	prov_trust_anchor a;
	prov_err e;
	prov_status st = prov_trust_anchor_from_cert(x, &a, &e);

	CHECK_MSG(st == want, "status %d, want %d: %s", st, want, st != PROV_OK ? e.msg : "");
	return a;
}

static void test_from_certs(void)
{
	EVP_PKEY *f4 = rsa_key(1024, 65537), *e3 = rsa_key(1024, 3);
	EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	EVP_PKEY *ed448 = EVP_PKEY_Q_keygen(NULL, NULL, "ED448");
	X509 *certs[7];
	prov_trust_anchor a[7];
	const prov_trust_anchor *list[7], *rev[7];
	uint8_t *s1 = NULL, *s2 = NULL, md[32];
	const unsigned char *der;
	size_t der_len, l1 = 0, l2 = 0, n = 0;
	prov_trust_view *v = NULL;

	CHECK(f4 != NULL && e3 != NULL && p256 != NULL && p384 != NULL && p521 != NULL && ed != NULL && ed448 != NULL);
	certs[0] = self_signed(f4, "F4 Root", "20300101000000Z", NULL);
	certs[1] = self_signed(e3, "E3 Root", "20300101000000Z", NULL);
	certs[2] = self_signed(p256, "P256 Root", "99991231235959Z", NULL);
	certs[3] = self_signed(p384, "P384 Root", "20300101000000Z", "permitted;DNS:.example.com");
	certs[4] = self_signed(p521, "P521 Root", "20300101000000Z", NULL);
	certs[5] = self_signed(ed, "Ed Root", "20300101000000Z", NULL);
	certs[6] = self_signed(ed448, "Ed448 Root", "20300101000000Z", NULL);
	for (int i = 0; i < 6; i++)
		a[i] = from_cert(certs[i], PROV_OK);
	a[6] = from_cert(certs[6], PROV_E_INPUT);
	CHECK(a[0].alg == PROV_TRUST_RSA && a[0].key_len == 128 && a[0].exponent == NULL);
	CHECK(a[1].alg == PROV_TRUST_RSA_EXP && a[1].exponent_len == 1 && a[1].exponent[0] == 3);
	CHECK(a[2].alg == PROV_TRUST_P256 && a[2].key_len == 33 && (a[2].key[0] == 2 || a[2].key[0] == 3));
	CHECK(a[2].no_expiry == 1 && a[2].record[a[2].record_len - 1] == 0xf6);
	CHECK(a[3].alg == PROV_TRUST_P384 && a[3].key_len == 49 && a[3].name_constraints != NULL);
	CHECK(a[4].alg == PROV_TRUST_P521 && a[4].key_len == 67);
	CHECK(a[5].alg == PROV_TRUST_ED25519 && a[5].key_len == 32);
	CHECK(a[0].not_after == 1893456000 && !a[0].no_expiry); /* 2030-01-01 */
	/* name-key: SHA-256 of the subject's DER, first 4 bytes */
	X509_NAME_get0_der(X509_get_subject_name(certs[0]), &der, &der_len);
	EVP_Digest(der, der_len, md, NULL, EVP_sha256(), NULL);
	CHECK(memcmp(md, a[0].name_key, 4) == 0);
	/* the same anchors in any order give the same bytes */
	for (int i = 0; i < 6; i++) {
		list[i] = &a[i];
		rev[i] = &a[5 - i];
	}
	CHECK(prov_trust_store_encode(list, 6, NULL, 0, &s1, &l1, NULL) == PROV_OK);
	CHECK(prov_trust_store_encode(rev, 6, NULL, 0, &s2, &l2, NULL) == PROV_OK);
	CHECK_EQ_HEX(s1, l1, s2, l2);
	CHECK(prov_trust_store_check(s1, l1, &v, &n, NULL) == PROV_OK && n == 6);
	for (size_t i = 0; v != NULL && i < n; i++) {
		int found = 0;

		for (int k = 0; k < 6; k++)
			found |= memcmp(v[i].name_key, a[k].name_key, 4) == 0 && v[i].key_len == a[k].key_len &&
			         memcmp(v[i].key, a[k].key, a[k].key_len) == 0 && v[i].alg == a[k].alg;
		CHECK(found);
	}
	free(v);
	free(s1);
	free(s2);
	for (int i = 0; i < 7; i++) {
		prov_trust_anchor_clear(&a[i]);
		X509_free(certs[i]);
	}
	EVP_PKEY_free(f4);
	EVP_PKEY_free(e3);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(ed);
	EVP_PKEY_free(ed448);
}

/* ---- the reader: one case per defect ---- */

static void expect(const char *name, const uint8_t *buf, size_t len, int ok)
{
	size_t n = 0;
	prov_err e;
	prov_status st = prov_trust_store_check(buf, len, NULL, &n, &e);

	if (getenv("TEST_VERBOSE") != NULL)
		printf("%-40s %s\n", name, st == PROV_OK ? "accepted" : e.msg);
	CHECK_MSG((st == PROV_OK) == ok, "%s: got %s (%s)", name, st == PROV_OK ? "accepted" : "rejected",
	          st == PROV_OK ? "" : e.msg);
	if (!ok)
		CHECK_MSG(st == PROV_E_INPUT, "%s: status %d", name, st);
}

static void test_reader_defects(void)
{
	static const struct {
		const char *name;
		const char *rec;  /* one anchor record, hex */
		int ok;
	} recs[] = {
		{"anchor-ed25519-valid", NULL, 1},
		{"anchor-alg-0", "83005820Kf6", 0},
		{"anchor-alg-7", "83075820Kf6", 0},
		{"anchor-ed25519-31-bytes", "830658 1f 11111111111111111111111111111111111111111111111111111111111111 f6", 0},
		{"anchor-not-after-text", "83065820K6161", 0},
		{"anchor-alg-not-shortest", "83180658 20 K f6", 0},
		{"anchor-array-of-2", "82065820 K", 0},
		{"anchor-array-of-5", "85065820Kf6 a0 00", 0},
		{"anchor-ext-empty", "84065820 K f6 a0", 0},
		{"anchor-ext-unknown-key", "84065820 K f6 a1 03 41 00", 0},
		{"anchor-nc-valid", "84065820 K f6 a1 02 42 3000", 1},
		{"anchor-nc-empty", "84065820 K f6 a1 02 40", 0},
		{"anchor-path-len-0", "84065820 K f6 a1 03 00", 1},
		{"anchor-path-len-big", "84065820 K f6 a1 03 1b ffffffffffffffff", 1},
		{"anchor-path-len-not-shortest", "84065820 K f6 a1 03 18 05", 0},
		{"anchor-path-len-bstr", "84065820 K f6 a1 03 41 00", 0},
		{"anchor-path-len-negative", "84065820 K f6 a1 03 20", 0},
		{"anchor-nc-and-path-len", "84065820 K f6 a2 02 42 3000 03 01", 1},
		{"anchor-ext-keys-unsorted", "84065820 K f6 a2 03 01 02 42 3000", 0},
		{"anchor-ext-key-4", "84065820 K f6 a1 04 00", 0},
		{"anchor-exponent-on-alg-6", "84065820 K f6 a1 01 41 03", 0},
		{"anchor-p256-not-on-curve", "83035821 02ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff f6", 0},
		{"anchor-p256-bad-prefix", "83035821 04ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff f6", 0},
		{"anchor-not-an-array", "a0", 0},
	};
	uint8_t buf[4096], rec[2048], idx[12], an[4096];
	size_t n, rl;

	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		n = store1(recs[i].rec != NULL ? recs[i].rec : ed_rec, buf);
		expect(recs[i].name, buf, n, recs[i].ok);
	}
	/* RSA records: modulus 128 bytes of 0xc1 (the reader does not factor) */
	{
		char h[600];
		int o;

		o = snprintf(h, sizeof(h), "8301 5880");
		for (int k = 0; k < 128; k++)
			o += snprintf(h + o, sizeof(h) - (size_t)o, "c1");
		snprintf(h + o, sizeof(h) - (size_t)o, "f6");
		expect("anchor-rsa-valid", buf, store1(h, buf), 1);
		h[3] = '2'; /* alg 2 without exponent */
		expect("anchor-rsa-exp-without-exponent", buf, store1(h, buf), 0);
		snprintf(h + o, sizeof(h) - (size_t)o, "f6 a1 01 41 03");
		h[1] = '4', h[3] = '2';
		expect("anchor-rsa-exp-3", buf, store1(h, buf), 1);
		snprintf(h + o, sizeof(h) - (size_t)o, "f6 a1 01 43 010001");
		expect("anchor-rsa-exp-65537-is-alg-1", buf, store1(h, buf), 0);
		snprintf(h + o, sizeof(h) - (size_t)o, "f6 a1 01 41 04");
		expect("anchor-rsa-exp-even", buf, store1(h, buf), 0);
		h[1] = '4', h[3] = '1';
		snprintf(h + o, sizeof(h) - (size_t)o, "f6 a1 01 41 03");
		expect("anchor-rsa-f4-with-exponent", buf, store1(h, buf), 0);
		o = snprintf(h, sizeof(h), "8301 5880 00");
		for (int k = 0; k < 127; k++)
			o += snprintf(h + o, sizeof(h) - (size_t)o, "c1");
		snprintf(h + o, sizeof(h) - (size_t)o, "f6");
		expect("anchor-rsa-leading-zero", buf, store1(h, buf), 0);
	}
	/* store-level defects around two valid Ed25519 anchors */
	rl = unhex(ed_rec, rec);
	memcpy(an, rec, rl);
	memcpy(an + rl, rec, rl);
	an[rl + 4] = 0x22; /* second record: another key */
	memcpy(idx, "\x01\x02\x03\x04\x00\x00\x05\x06\x07\x08\x00", 11);
	idx[11] = (uint8_t)rl;
	expect("store-two-valid", buf, mkstore(2, idx, 12, an, 2 * rl, buf), 1);
	expect("store-version-3", buf, mkstore(3, idx, 12, an, 2 * rl, buf), 0);
	expect("store-index-length-5", buf, mkstore(2, idx, 5, an, rl, buf), 0);
	expect("store-index-empty-anchors-not", buf, mkstore(2, idx, 0, an, rl, buf), 0);
	expect("store-anchor-trailing-bytes", buf, mkstore(2, idx, 6, an, rl + 1, buf), 0);
	n = mkstore(2, idx, 12, an, 2 * rl, buf);
	buf[n] = 0;
	expect("store-trailing-byte", buf, n + 1, 0);
	/* version 1 (before anchors had to be CAs): refused, and the error says rebuild */
	{
		prov_err e;

		n = mkstore_pins(1, idx, 12, an, 2 * rl, NULL, 0, buf);
		CHECK(prov_trust_store_check(buf, n, NULL, &rl, &e) == PROV_E_INPUT && strstr(e.msg, "rebuild") != NULL);
		rl = unhex(ed_rec, rec);
	}
	/* pins: a multiple of 32 bytes, strictly ascending */
	{
		uint8_t pins[96];

		memset(pins, 0x11, 32);
		memset(pins + 32, 0x22, 32);
		memset(pins + 64, 0x22, 32);
		expect("store-pins-two-valid", buf, mkstore_pins(2, idx, 12, an, 2 * rl, pins, 64, buf), 1);
		expect("store-pins-only", buf, mkstore_pins(2, idx, 0, an, 0, pins, 64, buf), 1);
		expect("store-pins-31-bytes", buf, mkstore_pins(2, idx, 12, an, 2 * rl, pins, 31, buf), 0);
		expect("store-pins-duplicate", buf, mkstore_pins(2, idx, 12, an, 2 * rl, pins + 32, 64, buf), 0);
		memcpy(pins + 64, pins, 32);
		expect("store-pins-unsorted", buf, mkstore_pins(2, idx, 12, an, 2 * rl, pins + 32, 64, buf), 0);
	}
	idx[11] = (uint8_t)(rl + 1);
	expect("store-offset-not-at-anchor", buf, mkstore(2, idx, 12, an, 2 * rl, buf), 0);
	idx[11] = (uint8_t)rl;
	memcpy(idx + 6, "\x01\x02\x03\x04", 4);
	expect("store-same-name-key-in-record-order", buf, mkstore(2, idx, 12, an, 2 * rl, buf), 1);
	memcpy(an, an + rl, rl);
	memcpy(an + rl, rec, rl);
	expect("store-same-name-key-records-unordered", buf, mkstore(2, idx, 12, an, 2 * rl, buf), 0);
	memcpy(idx + 6, "\x00\x02\x03\x04", 4);
	expect("store-index-unsorted", buf, mkstore(2, idx, 12, an, 2 * rl, buf), 0);
	memcpy(idx + 6, idx, 6);
	expect("store-index-duplicate", buf, mkstore(2, idx, 12, an, 2 * rl, buf), 0);
	n = unhex("a3 00 00 01 00 02 00", buf);
	expect("store-is-a-map", buf, n, 0);
	n = unhex("83 02 40 40", buf);
	expect("store-v2-array-of-3", buf, n, 0);
	n = unhex("85 02 40 40 40 00", buf);
	expect("store-array-of-5", buf, n, 0);
	n = unhex("84 02 40 40 40", buf);
	expect("store-empty-v2", buf, n, 1);
	n = unhex("84 02 60 40 40", buf);
	expect("store-index-is-text", buf, n, 0);
	n = unhex("84 02 40 40 60", buf);
	expect("store-pins-is-text", buf, n, 0);
	expect("store-empty-input", buf, 0, 0);
}

/* The malformed stores of tests/fixtures/truststore/ (the same list the device's
 * test and trust_install.bats read): each refused, the message naming the
 * defect as expect.txt says. */
static void test_fixtures(void)
{
	FILE *f = fopen("tests/fixtures/truststore/expect.txt", "r");
	char line[512];
	size_t n = 0;

	CHECK_MSG(f != NULL, "tests/fixtures/truststore/expect.txt (run from the repository root)");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *name = line, *host, *dev, path[600];
		uint8_t *buf = NULL;
		size_t len = 0, na = 0;
		prov_err e;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		host = strchr(name, '\t');
		dev = host != NULL ? strchr(host + 1, '\t') : NULL;
		CHECK_MSG(dev != NULL, "expect.txt: %s", line);
		if (dev == NULL)
			continue;
		*host++ = 0;
		*dev = 0;
		snprintf(path, sizeof(path), "tests/fixtures/truststore/%s.store", name);
		CHECK_MSG(prov_file_read(path, 1 << 20, &buf, &len, &e) == PROV_OK, "%s: %s", path, e.msg);
		CHECK_MSG(prov_trust_store_check(buf, len, NULL, &na, &e) == PROV_E_INPUT && strstr(e.msg, host) != NULL,
		          "%s: want \"%s\", got \"%s\"", name, host, e.msg);
		free(buf);
		n++;
	}
	if (f != NULL)
		fclose(f);
	CHECK_MSG(n >= 40, "%zu fixtures", n);
	printf("test_trust: %zu malformed stores of tests/fixtures/truststore refused, each naming its defect\n", n);
}

/* ---- which certificates may be anchors ---- */

static void ca_case(EVP_PKEY *k, const char *name, long version, const char *cn, const char *const *exts,
                    int allow_v1, prov_trust_refusal want, const char *why_has)
{
	X509 *x = cert_with(k, version, cn, "20400101000000Z", exts);
	char why[256] = "";
	prov_trust_refusal got = prov_trust_ca_check(x, allow_v1, why, sizeof(why));

	if (getenv("TEST_VERBOSE") != NULL)
		printf("%-36s %s: %s\n", name, prov_trust_refusal_name(got), why);
	CHECK_MSG(got == want && strstr(why, why_has) != NULL, "%s: %s (%s), want %s with \"%s\"", name,
	          prov_trust_refusal_name(got), why, prov_trust_refusal_name(want), why_has);
	X509_free(x);
}

static void test_ca_check(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	const char *ca[] = {"basicConstraints", "critical,CA:TRUE", "keyUsage", "critical,keyCertSign", NULL};
	const char *ca_noncrit[] = {"basicConstraints", "CA:TRUE", NULL};
	const char *ca_pathlen[] = {"basicConstraints", "critical,CA:TRUE,pathlen:0", NULL};
	const char *ca_nc[] = {"basicConstraints", "critical,CA:TRUE", "nameConstraints",
	                       "critical,permitted;DNS:.example.com", NULL};
	const char *leaf[] = {"basicConstraints", "critical,CA:FALSE", "keyUsage", "critical,digitalSignature", NULL};
	const char *no_bc[] = {"keyUsage", "critical,keyCertSign", NULL};
	const char *ku_no_certsign[] = {"basicConstraints", "critical,CA:TRUE", "keyUsage", "critical,cRLSign", NULL};
	const char *unknown_crit[] = {"basicConstraints", "critical,CA:TRUE", "1.3.6.1.4.1.55738.666.1",
	                              "critical,DER:05:00", NULL};
	const char *unknown_noncrit[] = {"basicConstraints", "critical,CA:TRUE", "1.3.6.1.4.1.55738.666.1",
	                                 "DER:05:00", NULL};
	const char *crit_aki[] = {"basicConstraints", "critical,CA:TRUE", "subjectKeyIdentifier", "hash",
	                          "authorityKeyIdentifier", "critical,keyid:always", NULL};
	const char *crit_ski[] = {"basicConstraints", "critical,CA:TRUE", "subjectKeyIdentifier", "critical,hash",
	                          NULL};
	const char *crit_eku[] = {"basicConstraints", "critical,CA:TRUE", "extendedKeyUsage", "critical,serverAuth",
	                          NULL};

	CHECK(k != NULL);
	ca_case(k, "ca-ok", 2, "CA", ca, 0, PROV_TRUST_CA_OK, "ok");
	ca_case(k, "ca-noncritical-basic-constraints", 2, "CA", ca_noncrit, 0, PROV_TRUST_CA_OK, "ok");
	ca_case(k, "ca-path-len-0", 2, "CA", ca_pathlen, 0, PROV_TRUST_CA_OK, "ok");
	ca_case(k, "ca-name-constraints", 2, "CA", ca_nc, 0, PROV_TRUST_CA_OK, "ok");
	ca_case(k, "ca-unknown-noncritical-ext", 2, "CA", unknown_noncrit, 0, PROV_TRUST_CA_OK, "ok");
	ca_case(k, "leaf-ca-false", 2, "Leaf", leaf, 0, PROV_TRUST_NOT_CA, "cA is FALSE");
	ca_case(k, "no-basic-constraints", 2, "CA", no_bc, 0, PROV_TRUST_NOT_CA, "no basicConstraints");
	ca_case(k, "v3-no-extensions", 2, "CA", NULL, 0, PROV_TRUST_NOT_CA, "no basicConstraints");
	ca_case(k, "ku-without-keycertsign", 2, "CA", ku_no_certsign, 0, PROV_TRUST_NOT_CA, "keyCertSign");
	ca_case(k, "unknown-critical-ext", 2, "CA", unknown_crit, 0, PROV_TRUST_CRITICAL_EXT, "1.3.6.1.4.1.55738.666.1");
	ca_case(k, "critical-aki", 2, "CA", crit_aki, 0, PROV_TRUST_CRITICAL_EXT, "4.2.1.1");
	ca_case(k, "critical-ski", 2, "CA", crit_ski, 0, PROV_TRUST_CRITICAL_EXT, "4.2.1.2");
	ca_case(k, "critical-eku", 2, "CA", crit_eku, 0, PROV_TRUST_CRITICAL_EXT, "extendedKeyUsage");
	ca_case(k, "v1-refused", 0, "V1", NULL, 0, PROV_TRUST_V1, "--allow-v1-roots");
	ca_case(k, "v1-allowed", 0, "V1", NULL, 1, PROV_TRUST_CA_OK, "ok");
	ca_case(k, "v2", 1, "V2", NULL, 1, PROV_TRUST_NOT_CA, "version 2");
	ca_case(k, "empty-subject", 2, NULL, ca, 0, PROV_TRUST_MALFORMED, "empty subject");
	EVP_PKEY_free(k);
}

/* A pin is SHA-256 over the DER SubjectPublicKeyInfo, as OpenSSL writes it. */
static void test_pin(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	unsigned char *der = NULL;
	uint8_t pin[32], md[32];
	int l = i2d_PUBKEY(k, &der);

	CHECK(l > 0);
	prov_trust_pin(der, (size_t)l, pin);
	EVP_Digest(der, (size_t)l, md, NULL, EVP_sha256(), NULL);
	CHECK(memcmp(pin, md, 32) == 0);
	OPENSSL_free(der);
	EVP_PKEY_free(k);
}

/* Every truncation is rejected; every single-bit flip is rejected or still a
 * store that the reader accepts on a second look (no crash, no over-read:
 * the sanitizer run checks that). */
static void test_exhaustive(void)
{
	EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *f4 = rsa_key(1024, 65537);
	X509 *c1 = self_signed(p256, "Flip Root 1", "20300101000000Z", "permitted;DNS:.example.com");
	X509 *c2 = self_signed(f4, "Flip Root 2", "99991231235959Z", NULL);
	prov_trust_anchor a[2];
	const prov_trust_anchor *list[2] = {&a[0], &a[1]};
	uint8_t *s = NULL, *t;
	size_t len = 0, n, trunc_ok = 0, flips = 0, rejected = 0;

	a[0] = from_cert(c1, PROV_OK);
	a[1] = from_cert(c2, PROV_OK);
	CHECK(prov_trust_store_encode(list, 2, NULL, 0, &s, &len, NULL) == PROV_OK);
	t = malloc(len);
	for (size_t l = 0; l < len; l++) {
		memcpy(t, s, l);
		trunc_ok += prov_trust_store_check(t, l, NULL, &n, NULL) == PROV_OK;
	}
	CHECK_MSG(trunc_ok == 0, "%zu truncations accepted", trunc_ok);
	for (size_t i = 0; i < len; i++)
		for (int b = 0; b < 8; b++) {
			prov_status st;

			memcpy(t, s, len);
			t[i] ^= (uint8_t)(1u << b);
			st = prov_trust_store_check(t, len, NULL, &n, NULL);
			flips++;
			if (st != PROV_OK)
				rejected++;
			else if (n != 2)
				CHECK_MSG(0, "flip at %zu bit %d accepted with %zu anchors", i, b, n);
		}
	printf("test_trust: %zu truncations all rejected; %zu bit flips, %zu rejected, %zu still valid stores\n",
	       len, flips, rejected, flips - rejected);
	CHECK(rejected > 0);
	free(t);
	free(s);
	prov_trust_anchor_clear(&a[0]);
	prov_trust_anchor_clear(&a[1]);
	X509_free(c1);
	X509_free(c2);
	EVP_PKEY_free(p256);
	EVP_PKEY_free(f4);
}

static void test_c_header(void)
{
	uint8_t store[3] = {0x84, 0x02, 0xff};
	char *h = NULL;
	size_t n = 0;

	CHECK(prov_trust_c_header(store, 3, 1, &h, &n, NULL) == PROV_OK);
	CHECK(h != NULL && strlen(h) == n && strstr(h, "PROV_TRUST_STORE_LEN 3u") != NULL &&
	      strstr(h, "0x84, 0x02, 0xff,") != NULL);
	free(h);
}

int main(void)
{
	test_anchor_vectors();
	test_store_vector();
	test_from_certs();
	test_reader_defects();
	test_fixtures();
	test_ca_check();
	test_pin();
	test_exhaustive();
	test_c_header();
	return check_done("test_trust");
}
