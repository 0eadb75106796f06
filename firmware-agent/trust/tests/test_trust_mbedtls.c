/*
 * test_trust_mbedtls.c - the Mbed TLS glue: EC point decompression against Mbed
 * TLS's own points, pa_trust_check (the agent's install-time check: EC points on
 * their curves), and the verify callback on chains made here with Mbed TLS's
 * certificate writer (old root RSA-2048, new root P-256 with a cross-certificate,
 * intermediate, leaf, impostor), verified by mbedtls_x509_crt_verify() exactly as
 * a handshake does (placeholder CA list + callback): anchors, pins (a pinned
 * server is accepted, a certificate signed by its key is not), path lengths.
 *
 * Built with the project's Mbed TLS (firmware-agent/mbedtls/mbedtls_config.h):
 * PSA is initialised first (MBEDTLS_USE_PSA_CRYPTO: PK verifies ECDSA there),
 * and the RSA-2048 key is made by `openssl genpkey` (that configuration has no
 * RSA key generation), read from its standard output.
 */
#include "pa_trust.h"
#include "pa_trust_check.h"
#include "pa_trust_mbedtls.h"

#include "check.h"
#include "store_builder.h"

#include <stdio.h>
#include <string.h>

#include <psa/crypto.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>
#include <mbedtls/x509_crt.h>

/* A deterministic "RNG" for key generation and ECDSA nonces: fine for tests. */
static uint32_t lcg = 99;
static int test_rng(void *ctx, unsigned char *out, size_t n)
{
	size_t i;

	(void)ctx;
	for (i = 0; i < n; i++) {
		lcg = lcg * 1103515245u + 12345u;
		out[i] = (unsigned char)(lcg >> 16);
	}
	return 0;
}

static void test_decompress(void)
{
	static const mbedtls_ecp_group_id ids[] = { MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_SECP384R1,
	                                            MBEDTLS_ECP_DP_SECP521R1 };
	size_t c, i, same = 0, total = 0, on_curve = 0, off_curve = 0, tried = 0;

	for (c = 0; c < 3; c++) {
		mbedtls_ecp_group grp;
		unsigned char pt[67], bad[67];
		size_t olen, plen;

		mbedtls_ecp_group_init(&grp);
		CHECK(mbedtls_ecp_group_load(&grp, ids[c]) == 0);
		plen = mbedtls_mpi_size(&grp.P);
		for (i = 0; i < 16; i++) {
			mbedtls_ecp_keypair kp;
			mbedtls_ecp_point q;

			mbedtls_ecp_keypair_init(&kp);
			mbedtls_ecp_point_init(&q);
			CHECK(mbedtls_ecp_gen_key(ids[c], &kp, test_rng, NULL) == 0);
			CHECK(mbedtls_ecp_point_write_binary(&kp.grp, &kp.Q, MBEDTLS_ECP_PF_COMPRESSED, &olen, pt,
			                                     sizeof(pt)) == 0 && olen == plen + 1);
			total++;
			same += pa_trust_ec_decompress(&grp, &q, pt, olen) == 0 && mbedtls_ecp_point_cmp(&q, &kp.Q) == 0;
			/* the other parity is the negated point, also valid, not equal */
			pt[0] ^= 1;
			CHECK(pa_trust_ec_decompress(&grp, &q, pt, olen) == 0 && mbedtls_ecp_point_cmp(&q, &kp.Q) != 0);
			pt[0] = 0x04;
			CHECK(pa_trust_ec_decompress(&grp, &q, pt, olen) == MBEDTLS_ERR_ECP_BAD_INPUT_DATA);
			pt[0] = 0x02;
			CHECK(pa_trust_ec_decompress(&grp, &q, pt, olen - 1) == MBEDTLS_ERR_ECP_BAD_INPUT_DATA);
			mbedtls_ecp_point_free(&q);
			mbedtls_ecp_keypair_free(&kp);
		}
		/* small x: about half are not on the curve; whatever is accepted is */
		for (i = 1; i <= 40; i++) {
			mbedtls_ecp_point q;

			mbedtls_ecp_point_init(&q);
			memset(bad, 0, sizeof(bad));
			bad[0] = 0x02;
			bad[plen] = (unsigned char)i;
			tried++;
			if (pa_trust_ec_decompress(&grp, &q, bad, plen + 1) == 0)
				on_curve += mbedtls_ecp_check_pubkey(&grp, &q) == 0;
			else
				off_curve++;
			mbedtls_ecp_point_free(&q);
		}
		/* x = p is out of range */
		memset(bad, 0, sizeof(bad));
		bad[0] = 0x03;
		CHECK(mbedtls_mpi_write_binary(&grp.P, bad + 1, plen) == 0);
		{
			mbedtls_ecp_point q;

			mbedtls_ecp_point_init(&q);
			CHECK(pa_trust_ec_decompress(&grp, &q, bad, plen + 1) == MBEDTLS_ERR_ECP_INVALID_KEY);
			mbedtls_ecp_point_free(&q);
		}
		mbedtls_ecp_group_free(&grp);
	}
	CHECK_MSG(same == total, "%zu of %zu points decompressed to Mbed TLS's own", same, total);
	CHECK(on_curve + off_curve == tried && off_curve > tried / 4 && on_curve > tried / 4);
	printf("decompress: %zu points equal Mbed TLS's; small x: %zu on the curve, %zu refused\n", same,
	       on_curve, off_curve);
}

/* ---- a PKI made with Mbed TLS's writer ---- */

typedef struct {
	mbedtls_pk_context key;
	const char *dn;
} ident;

static int gen_ec(ident *id, const char *dn)
{
	mbedtls_pk_init(&id->key);
	id->dn = dn;
	return mbedtls_pk_setup(&id->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) ||
	       mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(id->key), test_rng, NULL);
}

/* An RSA-2048 key (e = 65537) from openssl, PEM on its standard output. */
static int gen_rsa(ident *id, const char *dn)
{
	static unsigned char pem[8192];
	FILE *p;
	size_t n;
	int st;

	mbedtls_pk_init(&id->key);
	id->dn = dn;
	p = popen("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null", "r");
	if (p == NULL)
		return -1;
	n = fread(pem, 1, sizeof(pem) - 1, p);
	st = pclose(p);
	if (st != 0 || n == 0 || n == sizeof(pem) - 1)
		return -1;
	pem[n] = '\0';
	return mbedtls_pk_parse_key(&id->key, pem, n + 1, NULL, 0) != 0 ||
	       mbedtls_pk_get_type(&id->key) != MBEDTLS_PK_RSA ||
	       mbedtls_pk_get_bitlen(&id->key) != 2048;
}

/* Append to chain a certificate for subj issued by iss (path length pl, -1 none). */
static int issue_pl(mbedtls_x509_crt *chain, ident *subj, ident *iss, int ca, int pl, int serial,
                    const char *nb, const char *na)
{
	mbedtls_x509write_cert w;
	mbedtls_mpi sn;
	unsigned char der[4096];
	int len, ret;

	mbedtls_x509write_crt_init(&w);
	mbedtls_mpi_init(&sn);
	mbedtls_mpi_lset(&sn, serial);
	mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&w, &subj->key);
	mbedtls_x509write_crt_set_issuer_key(&w, &iss->key);
	ret = mbedtls_x509write_crt_set_subject_name(&w, subj->dn) ||
	      mbedtls_x509write_crt_set_issuer_name(&w, iss->dn) ||
	      mbedtls_x509write_crt_set_serial(&w, &sn) ||
	      mbedtls_x509write_crt_set_validity(&w, nb, na) ||
	      mbedtls_x509write_crt_set_basic_constraints(&w, ca, pl) ||
	      (ca && mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN));
	len = ret ? -1 : mbedtls_x509write_crt_der(&w, der, sizeof(der), test_rng, NULL);
	ret = len > 0 ? mbedtls_x509_crt_parse_der(chain, der + sizeof(der) - len, (size_t)len) : -1;
	mbedtls_mpi_free(&sn);
	mbedtls_x509write_crt_free(&w);
	return ret;
}

static int issue(mbedtls_x509_crt *chain, ident *subj, ident *iss, int ca, int serial,
                 const char *nb, const char *na)
{
	return issue_pl(chain, subj, iss, ca, -1, serial, nb, na);
}

#define NB "20200101000000"
#define NA "20491231235959"

/* The anchor of a parsed certificate, as the host writer makes it. */
typedef struct {
	sb_anchor a;
	unsigned char key[600];
} anchor_buf;

static void anchor_of(anchor_buf *ab, const mbedtls_x509_crt *c, int has_na, uint64_t na)
{
	memset(ab, 0, sizeof(*ab));
	pa_trust_mbedtls_name_key(c->subject_raw.p, c->subject_raw.len, ab->a.nk);
	if (mbedtls_pk_get_type(&c->pk) == MBEDTLS_PK_RSA) {
		const mbedtls_rsa_context *rsa = mbedtls_pk_rsa(c->pk);

		ab->a.alg = PA_TRUST_ALG_RSA_F4;
		ab->a.key_len = mbedtls_mpi_size(&rsa->N);
		mbedtls_mpi_write_binary(&rsa->N, ab->key, ab->a.key_len);
	} else {
		ab->a.alg = PA_TRUST_ALG_P256;
		mbedtls_ecp_point_write_binary(&mbedtls_pk_ec(c->pk)->grp, &mbedtls_pk_ec(c->pk)->Q,
		                               MBEDTLS_ECP_PF_COMPRESSED, &ab->a.key_len, ab->key, sizeof(ab->key));
	}
	ab->a.key = ab->key;
	ab->a.has_na = has_na;
	ab->a.na = na;
}

static uint8_t store_buf[8192];

/* The pin of a certificate: SHA-256 of its SubjectPublicKeyInfo. */
static void pin_of(const mbedtls_x509_crt *c, uint8_t out[32])
{
	CHECK(mbedtls_sha256_ret(c->pk_raw.p, c->pk_raw.len, out, 0) == 0);
}

/* Verify chain against a store of the given anchors (and the pins set with
 * sb_pins); returns the flags. */
static uint32_t verify(mbedtls_x509_crt *chain, anchor_buf **abs, size_t n, uint64_t now,
                       int *match, int *depth)
{
	sb_anchor as[8];
	pa_trust_store st;
	pa_trust_mbedtls tm;
	uint32_t flags = 0xffffffffu;
	size_t i, len;
	int ret;

	for (i = 0; i < n; i++)
		as[i] = abs[i]->a;
	len = sb_store(as, n, store_buf, sizeof(store_buf));
	if (pa_trust_check(store_buf, len) != PA_TRUST_OK)
		return 0xfffffffbu;
	if (pa_trust_open(&st, store_buf, len) != PA_TRUST_OK)
		return 0xfffffffeu;
	pa_trust_mbedtls_init(&tm, &st);
	pa_trust_mbedtls_set_time(&tm, now);
	ret = mbedtls_x509_crt_verify(chain, &tm.placeholder, NULL, NULL, &flags, pa_trust_mbedtls_verify_cb, &tm);
	if (ret != 0 && ret != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
		flags = 0xfffffffdu;
	if (ret == 0 && flags != 0)
		flags = 0xfffffffcu; /* the two verdicts must agree */
	if (match != NULL)
		*match = tm.match;
	if (depth != NULL)
		*depth = tm.match_depth;
	pa_trust_mbedtls_free(&tm);
	return flags;
}

#define NOW 1750000000u /* 2025-06-15 */

static void test_chains(void)
{
	ident oldr, newr, inter, leaf, imp, other;
	mbedtls_x509_crt c_old, c_new, c_imp, c_other, served, served_root, bad, c_newexp;
	anchor_buf a_old, a_new, a_imp, a_other, a_newexp, a_new_nc, a_int, a_old_exp;
	anchor_buf *set[4];
	int m = -1, d = -1;
	static const uint8_t nc[] = { 0x30, 0x00 };

	CHECK(gen_rsa(&oldr, "O=provkit test,CN=Old Root CA") == 0);
	CHECK(gen_ec(&newr, "O=provkit test,CN=New Root CA") == 0);
	CHECK(gen_ec(&inter, "O=provkit test,CN=Intermediate CA") == 0);
	CHECK(gen_ec(&leaf, "CN=server.test") == 0);
	CHECK(gen_ec(&imp, "O=provkit test,CN=New Root CA") == 0);
	CHECK(gen_ec(&other, "O=provkit test,CN=Other Root CA") == 0);

	mbedtls_x509_crt_init(&c_old);
	mbedtls_x509_crt_init(&c_new);
	mbedtls_x509_crt_init(&c_imp);
	mbedtls_x509_crt_init(&c_other);
	mbedtls_x509_crt_init(&c_newexp);
	mbedtls_x509_crt_init(&served);
	mbedtls_x509_crt_init(&served_root);
	mbedtls_x509_crt_init(&bad);
	CHECK(issue(&c_old, &oldr, &oldr, 1, 1, NB, NA) == 0);
	CHECK(issue(&c_new, &newr, &newr, 1, 2, NB, NA) == 0);
	CHECK(issue(&c_imp, &imp, &imp, 1, 3, NB, NA) == 0);
	CHECK(issue(&c_other, &other, &other, 1, 4, NB, NA) == 0);
	CHECK(issue(&c_newexp, &newr, &newr, 1, 5, "20000101000000", "20010101000000") == 0);
	/* served: leaf, intermediate, cross-certificate */
	CHECK(issue(&served, &leaf, &inter, 0, 10, NB, NA) == 0);
	CHECK(issue(&served, &inter, &newr, 1, 11, NB, NA) == 0);
	CHECK(issue(&served, &newr, &oldr, 1, 12, NB, NA) == 0);
	/* served_root: the same and the old root on top */
	CHECK(issue(&served_root, &leaf, &inter, 0, 10, NB, NA) == 0);
	CHECK(issue(&served_root, &inter, &newr, 1, 11, NB, NA) == 0);
	CHECK(issue(&served_root, &newr, &oldr, 1, 12, NB, NA) == 0);
	CHECK(issue(&served_root, &oldr, &oldr, 1, 1, NB, NA) == 0);
	/* bad: an intermediate claiming the new root but signed by the impostor */
	CHECK(issue(&bad, &leaf, &inter, 0, 10, NB, NA) == 0);
	CHECK(issue(&bad, &inter, &imp, 1, 13, NB, NA) == 0);
	CHECK(issue(&bad, &newr, &oldr, 1, 12, NB, NA) == 0);

	anchor_of(&a_old, &c_old, 1, 2208988800u);
	anchor_of(&a_old_exp, &c_old, 1, 978307200u);
	anchor_of(&a_new, &c_new, 0, 0);
	anchor_of(&a_newexp, &c_newexp, 1, 978307200u);
	anchor_of(&a_imp, &c_imp, 1, 2208988800u);
	anchor_of(&a_other, &c_other, 1, 2208988800u);
	anchor_of(&a_new_nc, &c_new, 0, 0);
	a_new_nc.a.nc = nc;
	a_new_nc.a.nc_len = sizeof(nc);
	anchor_of(&a_int, served.next, 1, 2208988800u);
	CHECK(memcmp(a_new.a.nk, a_imp.a.nk, 4) == 0 && memcmp(a_new.key, a_imp.key, 33) != 0);

	/* (a) old root: the cross-certificate's issuer */
	set[0] = &a_old;
	CHECK(verify(&served, set, 1, NOW, &m, &d) == 0);
	CHECK(m == PA_TRUST_MATCH_ISSUER && d == 2);
	/* (b) new root: the cross-certificate is its name and key */
	set[0] = &a_new;
	CHECK(verify(&served, set, 1, NOW, &m, &d) == 0);
	CHECK(m == PA_TRUST_MATCH_SELF && d == 2);
	/* both, and an unrelated one */
	set[0] = &a_other;
	set[1] = &a_old;
	set[2] = &a_new;
	CHECK(verify(&served, set, 3, NOW, NULL, NULL) == 0);
	/* neither; empty */
	set[0] = &a_other;
	CHECK(verify(&served, set, 1, NOW, &m, NULL) == MBEDTLS_X509_BADCERT_NOT_TRUSTED && m == PA_TRUST_MATCH_NONE);
	CHECK(verify(&served, set, 0, NOW, NULL, NULL) == MBEDTLS_X509_BADCERT_NOT_TRUSTED);
	/* the collision: wrong key alone fails, beside the right one passes */
	set[0] = &a_imp;
	CHECK(verify(&served, set, 1, NOW, NULL, NULL) == MBEDTLS_X509_BADCERT_NOT_TRUSTED);
	set[1] = &a_new;
	CHECK(verify(&served, set, 2, NOW, &m, NULL) == 0 && m == PA_TRUST_MATCH_SELF);
	/* expiry: an expired anchor fails with EXPIRED, unless there is no clock or
	 * a current copy */
	set[0] = &a_newexp;
	CHECK(verify(&served, set, 1, NOW, NULL, NULL) == MBEDTLS_X509_BADCERT_EXPIRED);
	CHECK(verify(&served, set, 1, 0, NULL, NULL) == 0);
	CHECK(verify(&served, set, 1, 978307200u, NULL, NULL) == 0);
	CHECK(verify(&served, set, 1, 978307201u, NULL, NULL) == MBEDTLS_X509_BADCERT_EXPIRED);
	set[1] = &a_new;
	CHECK(verify(&served, set, 2, NOW, NULL, NULL) == 0);
	set[0] = &a_old_exp;
	CHECK(verify(&served, set, 1, NOW, &m, NULL) == MBEDTLS_X509_BADCERT_EXPIRED && m == PA_TRUST_MATCH_ISSUER);
	/* name constraints: not enforceable here, so the anchor is not used */
	set[0] = &a_new_nc;
	CHECK(verify(&served, set, 1, NOW, NULL, NULL) == MBEDTLS_X509_BADCERT_NOT_TRUSTED);
	/* an intermediate as the anchor */
	set[0] = &a_int;
	CHECK(verify(&served, set, 1, NOW, &m, &d) == 0 && m == PA_TRUST_MATCH_SELF && d == 1);
	/* the old root served on top: anchored at it, or lower at the cross-cert */
	set[0] = &a_old;
	CHECK(verify(&served_root, set, 1, NOW, &m, &d) == 0 && m == PA_TRUST_MATCH_SELF && d == 3);
	set[0] = &a_new;
	CHECK(verify(&served_root, set, 1, NOW, &m, &d) == 0 && m == PA_TRUST_MATCH_SELF && d == 2);
	set[0] = &a_other;
	CHECK(verify(&served_root, set, 1, NOW, NULL, NULL) == MBEDTLS_X509_BADCERT_NOT_TRUSTED);
	/* an anchor does not excuse a bad signature below it */
	set[0] = &a_old;
	set[1] = &a_new;
	CHECK(verify(&bad, set, 2, NOW, NULL, NULL) == MBEDTLS_X509_BADCERT_NOT_TRUSTED);
	/* the callback's state survives back-to-back verifications with one context */
	{
		sb_anchor as[1];
		pa_trust_store st;
		pa_trust_mbedtls tm;
		uint32_t f1 = 1, f2 = 1, f3 = 0;
		size_t len;

		as[0] = a_new.a;
		len = sb_store(as, 1, store_buf, sizeof(store_buf));
		CHECK(pa_trust_open(&st, store_buf, len) == PA_TRUST_OK);
		pa_trust_mbedtls_init(&tm, &st);
		mbedtls_x509_crt_verify(&served, &tm.placeholder, NULL, NULL, &f1, pa_trust_mbedtls_verify_cb, &tm);
		mbedtls_x509_crt_verify(&bad, &tm.placeholder, NULL, NULL, &f3, pa_trust_mbedtls_verify_cb, &tm);
		mbedtls_x509_crt_verify(&served_root, &tm.placeholder, NULL, NULL, &f2, pa_trust_mbedtls_verify_cb, &tm);
		CHECK(f1 == 0 && f2 == 0 && f3 == MBEDTLS_X509_BADCERT_NOT_TRUSTED);
		/* without the callback, the placeholder trusts nothing */
		f1 = 0;
		CHECK(mbedtls_x509_crt_verify(&served, &tm.placeholder, NULL, NULL, &f1, NULL, NULL) ==
		      MBEDTLS_ERR_X509_CERT_VERIFY_FAILED && f1 == MBEDTLS_X509_BADCERT_NOT_TRUSTED);
		pa_trust_mbedtls_free(&tm);
	}
	/* pins: the leaf's own key; never what it signs */
	{
		ident pinned, evil;
		mbedtls_x509_crt self, signed_by_pin;
		uint8_t pins[64];

		CHECK(gen_ec(&pinned, "CN=server.test") == 0);
		CHECK(gen_ec(&evil, "CN=evil.test") == 0);
		mbedtls_x509_crt_init(&self);
		mbedtls_x509_crt_init(&signed_by_pin);
		/* a server's self-signed certificate, not a CA (the issue's broker) */
		CHECK(issue(&self, &pinned, &pinned, 0, 20, NB, NA) == 0);
		/* another server's certificate signed with the pinned key */
		CHECK(issue(&signed_by_pin, &evil, &pinned, 0, 21, NB, NA) == 0);
		pin_of(&self, pins);
		sb_pins = pins;
		sb_n_pins = 1;
		CHECK(verify(&self, set, 0, NOW, &m, &d) == 0 && m == PA_TRUST_MATCH_PIN && d == 0);
		CHECK(verify(&signed_by_pin, set, 0, NOW, &m, NULL) == MBEDTLS_X509_BADCERT_NOT_TRUSTED &&
		      m == PA_TRUST_MATCH_NONE);
		/* the leaf of a served chain, pinned: accepted whoever issued it */
		pin_of(&served, pins);
		CHECK(verify(&served, set, 0, NOW, &m, &d) == 0 && m == PA_TRUST_MATCH_PIN && d == 0);
		/* a pin of the intermediate's key does not make its leaf trusted */
		pin_of(served.next, pins);
		CHECK(verify(&served, set, 0, NOW, NULL, NULL) == MBEDTLS_X509_BADCERT_NOT_TRUSTED);
		sb_pins = NULL;
		sb_n_pins = 0;
		/* an anchor is never the leaf itself: a server certificate with an
		 * anchor's name and key, issued by someone else, is not trusted (a pin
		 * is how to trust one server's key) */
		{
			anchor_buf a_self;
			mbedtls_x509_crt as_leaf;

			mbedtls_x509_crt_init(&as_leaf);
			CHECK(issue(&as_leaf, &pinned, &other, 0, 22, NB, NA) == 0);
			anchor_of(&a_self, &self, 1, 2208988800u);
			set[0] = &a_self;
			CHECK(verify(&as_leaf, set, 1, NOW, &m, NULL) == MBEDTLS_X509_BADCERT_NOT_TRUSTED &&
			      m == PA_TRUST_MATCH_NONE);
			mbedtls_x509_crt_free(&as_leaf);
		}
		mbedtls_x509_crt_free(&self);
		mbedtls_x509_crt_free(&signed_by_pin);
		mbedtls_pk_free(&pinned.key);
		mbedtls_pk_free(&evil.key);
	}
	/* path length of the anchor: non-self-issued intermediates below it */
	{
		anchor_buf a_new_pl, a_old_pl;
		ident inter2;
		mbedtls_x509_crt longer;

		anchor_of(&a_new_pl, &c_new, 0, 0);
		a_new_pl.a.has_pl = 1;
		anchor_of(&a_old_pl, &c_old, 1, 2208988800u);
		a_old_pl.a.has_pl = 1;
		/* new root matched at the cross-certificate (depth 2): one intermediate below */
		set[0] = &a_new_pl;
		a_new_pl.a.pl = 0;
		CHECK(verify(&served, set, 1, NOW, &m, &d) == MBEDTLS_X509_BADCERT_NOT_TRUSTED && m == PA_TRUST_MATCH_SELF);
		a_new_pl.a.pl = 1;
		CHECK(verify(&served, set, 1, NOW, NULL, NULL) == 0);
		/* old root signed the cross-certificate (depth 2): two intermediates below */
		set[0] = &a_old_pl;
		a_old_pl.a.pl = 1;
		CHECK(verify(&served, set, 1, NOW, &m, NULL) == MBEDTLS_X509_BADCERT_NOT_TRUSTED && m == PA_TRUST_MATCH_ISSUER);
		a_old_pl.a.pl = 2;
		CHECK(verify(&served, set, 1, NOW, NULL, NULL) == 0);
		/* a self-issued intermediate (same name, new key) does not count */
		CHECK(gen_ec(&inter2, "O=provkit test,CN=Intermediate CA") == 0);
		mbedtls_x509_crt_init(&longer);
		CHECK(issue(&longer, &leaf, &inter2, 0, 30, NB, NA) == 0);
		CHECK(issue(&longer, &inter2, &inter, 1, 31, NB, NA) == 0);
		CHECK(issue(&longer, &inter, &newr, 1, 11, NB, NA) == 0);
		CHECK(issue(&longer, &newr, &oldr, 1, 12, NB, NA) == 0);
		set[0] = &a_new_pl;
		a_new_pl.a.pl = 1;
		CHECK(verify(&longer, set, 1, NOW, &m, &d) == 0 && m == PA_TRUST_MATCH_SELF && d == 3);
		a_new_pl.a.pl = 0;
		CHECK(verify(&longer, set, 1, NOW, NULL, NULL) == MBEDTLS_X509_BADCERT_NOT_TRUSTED);
		/* the leaf signed directly by a path-length-0 anchor is fine */
		{
			mbedtls_x509_crt direct;
			anchor_buf a_int0;

			mbedtls_x509_crt_init(&direct);
			CHECK(issue(&direct, &leaf, &inter, 0, 40, NB, NA) == 0);
			anchor_of(&a_int0, served.next, 1, 2208988800u);
			a_int0.a.has_pl = 1;
			a_int0.a.pl = 0;
			set[0] = &a_int0;
			CHECK(verify(&direct, set, 1, NOW, &m, &d) == 0 && m == PA_TRUST_MATCH_ISSUER && d == 0);
			mbedtls_x509_crt_free(&direct);
		}
		mbedtls_x509_crt_free(&longer);
		mbedtls_pk_free(&inter2.key);
	}
	/* signatures directly: the old root's anchor verifies the cross-cert, not
	 * the intermediate; the same-key test */
	{
		pa_trust_store st;
		pa_trust_anchor a;
		sb_anchor as[1];
		size_t len;

		as[0] = a_old.a;
		len = sb_store(as, 1, store_buf, sizeof(store_buf));
		CHECK(pa_trust_open(&st, store_buf, len) == PA_TRUST_OK && pa_trust_get(&st, 0, &a) == PA_TRUST_OK);
		CHECK(pa_trust_mbedtls_check_signature(&a, served.next->next) == PA_TRUST_SIG_OK);
		CHECK(pa_trust_mbedtls_check_signature(&a, served.next) == PA_TRUST_SIG_MISMATCH);
		CHECK(pa_trust_mbedtls_check_signature(&a, &c_old) == PA_TRUST_SIG_OK);
		CHECK(pa_trust_mbedtls_same_key(&a, &c_old) == PA_TRUST_SIG_OK);
		CHECK(pa_trust_mbedtls_same_key(&a, &c_new) == PA_TRUST_SIG_MISMATCH);
		as[0] = a_new.a;
		len = sb_store(as, 1, store_buf, sizeof(store_buf));
		CHECK(pa_trust_open(&st, store_buf, len) == PA_TRUST_OK && pa_trust_get(&st, 0, &a) == PA_TRUST_OK);
		CHECK(pa_trust_mbedtls_check_signature(&a, served.next) == PA_TRUST_SIG_OK);
		CHECK(pa_trust_mbedtls_check_signature(&a, bad.next) == PA_TRUST_SIG_BAD);
		CHECK(pa_trust_mbedtls_check_signature(&a, served.next->next) == PA_TRUST_SIG_MISMATCH);
		CHECK(pa_trust_mbedtls_same_key(&a, served.next->next) == PA_TRUST_SIG_OK);
		CHECK(pa_trust_mbedtls_same_key(&a, &c_imp) == PA_TRUST_SIG_MISMATCH);
	}

	mbedtls_x509_crt_free(&c_old);
	mbedtls_x509_crt_free(&c_new);
	mbedtls_x509_crt_free(&c_imp);
	mbedtls_x509_crt_free(&c_other);
	mbedtls_x509_crt_free(&c_newexp);
	mbedtls_x509_crt_free(&served);
	mbedtls_x509_crt_free(&served_root);
	mbedtls_x509_crt_free(&bad);
	mbedtls_pk_free(&oldr.key);
	mbedtls_pk_free(&newr.key);
	mbedtls_pk_free(&inter.key);
	mbedtls_pk_free(&leaf.key);
	mbedtls_pk_free(&imp.key);
	mbedtls_pk_free(&other.key);
}

/* pa_trust_check: open()'s rules, then every EC point on its curve. */
static void test_check(void)
{
	static const mbedtls_ecp_group_id ids[] = { MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_SECP384R1,
	                                            MBEDTLS_ECP_DP_SECP521R1 };
	static const unsigned algs[] = { PA_TRUST_ALG_P256, PA_TRUST_ALG_P384, PA_TRUST_ALG_P521 };
	size_t c, good = 0, refused = 0;

	for (c = 0; c < 3; c++) {
		mbedtls_ecp_keypair kp;
		unsigned char pt[67];
		size_t olen = 0, len;
		sb_anchor a;
		int i;

		mbedtls_ecp_keypair_init(&kp);
		CHECK(mbedtls_ecp_gen_key(ids[c], &kp, test_rng, NULL) == 0);
		CHECK(mbedtls_ecp_point_write_binary(&kp.grp, &kp.Q, MBEDTLS_ECP_PF_COMPRESSED, &olen, pt, sizeof(pt)) == 0);
		memset(&a, 0, sizeof(a));
		a.alg = algs[c];
		a.key = pt;
		a.key_len = olen;
		len = sb_store(&a, 1, store_buf, sizeof(store_buf));
		good += pa_trust_check(store_buf, len) == PA_TRUST_OK;
		/* x + i for small i: a well-formed store with a point off the curve
		 * about half the time; open() cannot tell, pa_trust_check must, from
		 * its own p and b, as Mbed TLS's group does (the TLS glue's) */
		for (i = 1; i <= 64; i++) {
			mbedtls_ecp_group grp;
			mbedtls_ecp_point q;
			int on;

			pt[olen - 1] = (unsigned char)(pt[olen - 1] + 1);
			mbedtls_ecp_group_init(&grp);
			mbedtls_ecp_point_init(&q);
			mbedtls_ecp_group_load(&grp, ids[c]);
			on = pa_trust_ec_decompress(&grp, &q, pt, olen) == 0;
			len = sb_store(&a, 1, store_buf, sizeof(store_buf));
			{
				pa_trust_store st;

				CHECK(pa_trust_open(&st, store_buf, len) == PA_TRUST_OK);
			}
			CHECK(pa_trust_check(store_buf, len) == (on ? PA_TRUST_OK : PA_TRUST_ERR_KEY));
			refused += !on;
			mbedtls_ecp_point_free(&q);
			mbedtls_ecp_group_free(&grp);
		}
		mbedtls_ecp_keypair_free(&kp);
	}
	CHECK(good == 3 && refused > 0);
	/* structure errors come through unchanged */
	CHECK(pa_trust_check((const uint8_t *)"\x83\x01\x40\x40", 4) == PA_TRUST_ERR_VERSION);
	CHECK(pa_trust_check(NULL, 0) == PA_TRUST_ERR_ARG);
	printf("check: 3 curves' points accepted, %zu of 192 moved points refused as off the curve "
	       "(as by Mbed TLS's groups)\n", refused);
}

/* The malformed stores of tests/fixtures/truststore/ (the list the host's test and
 * trust_install.bats read): pa_trust_check, what the agent runs at install,
 * refuses each with the error expect.txt names; the good one passes. */
static void test_fixtures(void)
{
	static const struct {
		const char *name;
		int err;
	} errs[] = {
		{ "PA_TRUST_ERR_TRUNCATED", PA_TRUST_ERR_TRUNCATED }, { "PA_TRUST_ERR_CBOR", PA_TRUST_ERR_CBOR },
		{ "PA_TRUST_ERR_VERSION", PA_TRUST_ERR_VERSION },     { "PA_TRUST_ERR_INDEX", PA_TRUST_ERR_INDEX },
		{ "PA_TRUST_ERR_ORDER", PA_TRUST_ERR_ORDER },         { "PA_TRUST_ERR_OFFSET", PA_TRUST_ERR_OFFSET },
		{ "PA_TRUST_ERR_TRAILING", PA_TRUST_ERR_TRAILING },   { "PA_TRUST_ERR_ALG", PA_TRUST_ERR_ALG },
		{ "PA_TRUST_ERR_KEY", PA_TRUST_ERR_KEY },             { "PA_TRUST_ERR_EXT", PA_TRUST_ERR_EXT },
	};
	FILE *f = fopen("tests/fixtures/truststore/expect.txt", "r");
	char line[512], path[600];
	static uint8_t buf[1 << 16];
	size_t n = 0, len, i;
	FILE *g;

	CHECK_MSG(f != NULL, "tests/fixtures/truststore/expect.txt (run from the repository root)");
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		char *name = line, *dev;
		int want = -1, got;

		if (line[0] == '#' || line[0] == '\n')
			continue;
		dev = strrchr(line, '\t');
		CHECK_MSG(dev != NULL && strchr(line, '\t') != dev, "expect.txt: %s", line);
		if (dev == NULL)
			continue;
		*strchr(line, '\t') = 0;
		dev++;
		dev[strcspn(dev, "\n")] = 0;
		for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
			if (strcmp(dev, errs[i].name) == 0)
				want = errs[i].err;
		CHECK_MSG(want >= 0, "%s: unknown error %s", name, dev);
		snprintf(path, sizeof(path), "tests/fixtures/truststore/%s.store", name);
		g = fopen(path, "rb");
		len = g != NULL ? fread(buf, 1, sizeof(buf), g) : 0;
		if (g != NULL)
			fclose(g);
		CHECK_MSG(len > 0, "%s", path);
		got = pa_trust_check(buf, len);
		CHECK_MSG(got == want, "%s: pa_trust_check %d (%s), want %s", name, got, pa_trust_strerror(got), dev);
		n++;
	}
	if (f != NULL)
		fclose(f);
	g = fopen("tests/fixtures/truststore/good.store", "rb");
	len = g != NULL ? fread(buf, 1, sizeof(buf), g) : 0;
	if (g != NULL)
		fclose(g);
	CHECK(len > 0 && pa_trust_check(buf, len) == PA_TRUST_OK);
	CHECK_MSG(n >= 40, "%zu fixtures", n);
	printf("fixtures: %zu malformed stores refused by pa_trust_check with the expected error; good.store passes\n", n);
}

int main(void)
{
	psa_status_t ps = psa_crypto_init();

	CHECK_MSG(ps == PSA_SUCCESS, "psa_crypto_init: %d", (int)ps);
	test_decompress();
	test_fixtures();
	test_check();
	test_chains();
	mbedtls_psa_crypto_free();
	return check_done("test_trust_mbedtls");
}
