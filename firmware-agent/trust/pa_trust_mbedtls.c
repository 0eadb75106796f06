/*
 * pa_trust_mbedtls.c - the compact trust store behind Mbed TLS 2.28's verify
 * callback.  README.md explains the flow through Mbed TLS's chain building.
 */
#include "pa_trust_mbedtls.h"
#include "pa_trust_check.h"

#include <string.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/sha256.h>

#if defined(MBEDTLS_RSA_C)
#define RSA_F4_BYTES 3
static const uint8_t rsa_f4[RSA_F4_BYTES] = { 0x01, 0x00, 0x01 };
#endif

/* Largest compressed point (P-521): 1 + 66 bytes. */
#define EC_POINT_MAX 67

/* Flags that describe how a certificate above the leaf was issued (by the
 * certificate above it) and its own dates: meaningless when the certificate
 * itself is taken as the anchor, whose own dates apply instead.  (BAD_PK and
 * BAD_KEY on a certificate are about its issuer's algorithm and key.) */
#define ISSUANCE_FLAGS_CA (MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_EXPIRED | \
                           MBEDTLS_X509_BADCERT_FUTURE | MBEDTLS_X509_BADCERT_BAD_MD | \
                           MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY)

static int alg_is_rsa(unsigned alg)
{
	return alg == PA_TRUST_ALG_RSA_F4 || alg == PA_TRUST_ALG_RSA;
}

int pa_trust_mbedtls_name_key(const unsigned char *name_der, size_t len,
                              uint8_t out[PA_TRUST_NAME_KEY_LEN])
{
	unsigned char h[32];
	int ret = mbedtls_sha256_ret(name_der, len, h, 0);

	if (ret == 0)
		memcpy(out, h, PA_TRUST_NAME_KEY_LEN);
	return ret;
}

/* A build without RSA (the TLS firmware image, docs/tls.md) has no RSA
 * certificates either: an RSA anchor then verifies nothing and matches no key
 * (fail closed: the chain is not trusted). */
#if defined(MBEDTLS_RSA_C)
static int check_rsa(const pa_trust_anchor *a, const mbedtls_x509_crt *crt,
                     const unsigned char *hash, size_t hash_len)
{
	mbedtls_rsa_context rsa;
	const uint8_t *e = a->alg == PA_TRUST_ALG_RSA ? a->rsa_e : rsa_f4;
	size_t e_len = a->alg == PA_TRUST_ALG_RSA ? a->rsa_e_len : RSA_F4_BYTES;
	int res = PA_TRUST_SIG_ERROR, ret;

	mbedtls_rsa_init(&rsa, MBEDTLS_RSA_PKCS_V15, 0);
	if (mbedtls_rsa_import_raw(&rsa, a->key, a->key_len, NULL, 0, NULL, 0, NULL, 0, e, e_len) != 0 ||
	    mbedtls_rsa_complete(&rsa) != 0 || mbedtls_rsa_check_pubkey(&rsa) != 0) {
		res = PA_TRUST_SIG_BAD_KEY;
		goto out;
	}
	if (mbedtls_rsa_get_len(&rsa) * 8 < PA_TRUST_RSA_MIN_BITS) {
		res = PA_TRUST_SIG_WEAK;
		goto out;
	}
	/* the signature must be exactly the modulus size */
	if (crt->sig.len != mbedtls_rsa_get_len(&rsa)) {
		res = PA_TRUST_SIG_BAD;
		goto out;
	}
	if (crt->sig_pk == MBEDTLS_PK_RSASSA_PSS) {
		const mbedtls_pk_rsassa_pss_options *o = crt->sig_opts;

		if (o == NULL)
			goto out;
		ret = mbedtls_rsa_rsassa_pss_verify_ext(&rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, crt->sig_md,
		                                        (unsigned)hash_len, hash, o->mgf1_hash_id,
		                                        o->expected_salt_len, crt->sig.p);
	} else {
		ret = mbedtls_rsa_pkcs1_verify(&rsa, NULL, NULL, MBEDTLS_RSA_PUBLIC, crt->sig_md,
		                               (unsigned)hash_len, hash, crt->sig.p);
	}
	res = ret == 0 ? PA_TRUST_SIG_OK : PA_TRUST_SIG_BAD;
out:
	mbedtls_rsa_free(&rsa);
	return res;
}
#else
static int check_rsa(const pa_trust_anchor *a, const mbedtls_x509_crt *crt,
                     const unsigned char *hash, size_t hash_len)
{
	(void)a;
	(void)crt;
	(void)hash;
	(void)hash_len;
	return PA_TRUST_SIG_MISMATCH;
}
#endif

static int check_ecdsa(const pa_trust_anchor *a, const mbedtls_x509_crt *crt,
                       const unsigned char *hash, size_t hash_len)
{
	mbedtls_ecdsa_context ec;
	int res = PA_TRUST_SIG_ERROR;

	mbedtls_ecdsa_init(&ec);
	if (mbedtls_ecp_group_load(&ec.grp, pa_trust_alg_group(a->alg)) != 0)
		goto out;
	if (pa_trust_ec_decompress(&ec.grp, &ec.Q, a->key, a->key_len) != 0) {
		res = PA_TRUST_SIG_BAD_KEY;
		goto out;
	}
	res = mbedtls_ecdsa_read_signature(&ec, hash, hash_len, crt->sig.p, crt->sig.len) == 0
	          ? PA_TRUST_SIG_OK : PA_TRUST_SIG_BAD;
out:
	mbedtls_ecdsa_free(&ec);
	return res;
}

int pa_trust_mbedtls_check_signature(const pa_trust_anchor *a, const mbedtls_x509_crt *crt)
{
	unsigned char hash[MBEDTLS_MD_MAX_SIZE];
	const mbedtls_md_info_t *md;
	size_t hash_len;

	if (a == NULL || crt == NULL)
		return PA_TRUST_SIG_ERROR;
	if (alg_is_rsa(a->alg)) {
		if (crt->sig_pk != MBEDTLS_PK_RSA && crt->sig_pk != MBEDTLS_PK_RSASSA_PSS)
			return PA_TRUST_SIG_MISMATCH;
	} else if (pa_trust_alg_group(a->alg) != MBEDTLS_ECP_DP_NONE) {
		if (crt->sig_pk != MBEDTLS_PK_ECDSA)
			return PA_TRUST_SIG_MISMATCH;
	} else {
		return PA_TRUST_SIG_MISMATCH; /* Ed25519: no such certificates in Mbed TLS 2.28 */
	}
	md = mbedtls_md_info_from_type(crt->sig_md);
	if (md == NULL)
		return PA_TRUST_SIG_MISMATCH;
	hash_len = mbedtls_md_get_size(md);
	if (mbedtls_md(md, crt->tbs.p, crt->tbs.len, hash) != 0)
		return PA_TRUST_SIG_ERROR;
	return alg_is_rsa(a->alg) ? check_rsa(a, crt, hash, hash_len)
	                          : check_ecdsa(a, crt, hash, hash_len);
}

int pa_trust_mbedtls_same_key(const pa_trust_anchor *a, const mbedtls_x509_crt *crt)
{
	int res = PA_TRUST_SIG_MISMATCH;

	if (a == NULL || crt == NULL)
		return PA_TRUST_SIG_ERROR;
	if (alg_is_rsa(a->alg)) {
#if defined(MBEDTLS_RSA_C)
		const mbedtls_rsa_context *rsa;
		mbedtls_mpi n, e;

		if (mbedtls_pk_get_type(&crt->pk) != MBEDTLS_PK_RSA)
			return PA_TRUST_SIG_MISMATCH;
		rsa = mbedtls_pk_rsa(crt->pk);
		mbedtls_mpi_init(&n);
		mbedtls_mpi_init(&e);
		if (mbedtls_mpi_read_binary(&n, a->key, a->key_len) == 0 &&
		    (a->alg == PA_TRUST_ALG_RSA ? mbedtls_mpi_read_binary(&e, a->rsa_e, a->rsa_e_len)
		                                : mbedtls_mpi_read_binary(&e, rsa_f4, RSA_F4_BYTES)) == 0 &&
		    mbedtls_mpi_cmp_mpi(&n, &rsa->N) == 0 && mbedtls_mpi_cmp_mpi(&e, &rsa->E) == 0)
			res = PA_TRUST_SIG_OK;
		mbedtls_mpi_free(&n);
		mbedtls_mpi_free(&e);
#endif
	} else if (pa_trust_alg_group(a->alg) != MBEDTLS_ECP_DP_NONE) {
		const mbedtls_ecp_keypair *ec;
		unsigned char pt[EC_POINT_MAX];
		size_t olen = 0;

		if (!mbedtls_pk_can_do(&crt->pk, MBEDTLS_PK_ECKEY))
			return PA_TRUST_SIG_MISMATCH;
		ec = mbedtls_pk_ec(crt->pk);
		if (ec->grp.id != pa_trust_alg_group(a->alg))
			return PA_TRUST_SIG_MISMATCH;
		/* compare in the anchor's form: the certificate's point, compressed */
		if (mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_COMPRESSED, &olen,
		                                   pt, sizeof(pt)) == 0 &&
		    olen == a->key_len && memcmp(pt, a->key, olen) == 0)
			res = PA_TRUST_SIG_OK;
	}
	return res;
}

/* Look for an anchor filed under name's name-key that passes the test (SELF: same
 * key; ISSUER: verifies crt's signature) into *found.  Prefers an unexpired
 * anchor; *expired says whether the one found is expired.  Anchors with name
 * constraints are skipped. */
static int find_anchor(const pa_trust_mbedtls *tm, const mbedtls_x509_buf *name,
                       const mbedtls_x509_crt *crt, int self, pa_trust_anchor *found, int *expired,
                       int *weak)
{
	uint8_t key[PA_TRUST_NAME_KEY_LEN];
	pa_trust_iter it;
	pa_trust_anchor a;
	int tries, ok = 0;

	*expired = 0;
	*weak = 0;
	if (pa_trust_mbedtls_name_key(name->p, name->len, key) != 0)
		return 0;
	if (pa_trust_find(tm->store, key, &it) != PA_TRUST_OK)
		return 0;
	for (tries = 0; tries < PA_TRUST_MAX_CANDIDATES && pa_trust_next(&it, &a) == PA_TRUST_OK; tries++) {
		int r;

		if (a.name_constraints != NULL)
			continue; /* cannot be enforced here: fail closed */
		r = self ? pa_trust_mbedtls_same_key(&a, crt) : pa_trust_mbedtls_check_signature(&a, crt);
		if (r == PA_TRUST_SIG_WEAK) {
			*weak = 1;
			continue;
		}
		if (r != PA_TRUST_SIG_OK)
			continue;
		*found = a;
		ok = 1;
		if (!pa_trust_anchor_expired(&a, tm->now)) {
			*expired = 0;
			return 1;
		}
		*expired = 1; /* expired: keep looking for a current one */
	}
	return ok;
}

/* Is the certificate's own key pinned? */
static int pinned(const pa_trust_mbedtls *tm, const mbedtls_x509_crt *crt)
{
	unsigned char h[32];

	if (pa_trust_pin_count(tm->store) == 0 || mbedtls_sha256_ret(crt->pk_raw.p, crt->pk_raw.len, h, 0) != 0)
		return 0;
	return pa_trust_pinned(tm->store, h);
}

/* RFC 5280 4.2.1.9: self-issued certificates do not count against a path length. */
static int self_issued(const mbedtls_x509_crt *crt)
{
	return crt->subject_raw.len == crt->issuer_raw.len &&
	       memcmp(crt->subject_raw.p, crt->issuer_raw.p, crt->issuer_raw.len) == 0;
}

int pa_trust_mbedtls_verify_cb(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	pa_trust_mbedtls *tm = p;
	pa_trust_anchor a;
	int expired = 0, weak = 0;

	if (tm == NULL || crt == NULL || flags == NULL)
		return MBEDTLS_ERR_X509_BAD_INPUT_DATA;

	/* Mbed TLS calls from the top of the chain (depth len-1) down to the leaf
	 * (depth 0); a call that does not continue that countdown starts a new
	 * verification. */
	if (depth != tm->expect_depth) {
		tm->anchored = 0;
		tm->pending = 0;
		tm->match = PA_TRUST_MATCH_NONE;
		tm->match_depth = -1;
		tm->anchor_expired = 0;
		tm->has_path_len = 0;
		tm->path_len = 0;
		tm->below = 0;
		tm->path_len_exceeded = 0;
	}
	tm->expect_depth = depth - 1;

	if (!tm->anchored && tm->store != NULL) {
		memset(&a, 0, sizeof(a));
		if (depth > 0 && find_anchor(tm, &crt->subject_raw, crt, 1, &a, &expired, &weak)) {
			/* (b) the certificate is an anchor: how it was issued is irrelevant,
			 * the anchor's own dates apply instead.  Never the leaf: an anchor
			 * signs servers, it is not one (that is what a pin is for). */
			*flags &= ~(uint32_t)ISSUANCE_FLAGS_CA;
			tm->match = PA_TRUST_MATCH_SELF;
		} else if (find_anchor(tm, &crt->issuer_raw, crt, 0, &a, &expired, &weak)) {
			/* (a) an anchor signed it; itself, if not the leaf, is the first
			 * intermediate below the anchor */
			*flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_NOT_TRUSTED;
			tm->match = PA_TRUST_MATCH_ISSUER;
			if (depth > 0 && !self_issued(crt))
				tm->below = 1;
		} else if (depth == 0 && pinned(tm, crt)) {
			/* (c) the server's own key is pinned: its signature, whoever made
			 * it, is not relied on; its dates, name and usage still are */
			*flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_NOT_TRUSTED | MBEDTLS_X509_BADCERT_BAD_MD |
			                      MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY);
			tm->match = PA_TRUST_MATCH_PIN;
		}
		if (tm->match != PA_TRUST_MATCH_NONE) {
			tm->anchored = 1;
			tm->match_depth = depth;
			tm->anchor_expired = expired;
			tm->has_path_len = tm->match != PA_TRUST_MATCH_PIN && a.has_path_len;
			tm->path_len = a.path_len;
			if (expired)
				*flags |= MBEDTLS_X509_BADCERT_EXPIRED;
		} else {
			/* above any anchor so far: park the flags; they are dropped if a
			 * certificate below turns out to be an anchor, restored if not */
			tm->pending |= *flags;
			*flags = 0;
			if (weak)
				tm->pending |= MBEDTLS_X509_BADCERT_BAD_KEY;
		}
	} else if (tm->anchored && depth > 0 && !self_issued(crt)) {
		tm->below++; /* an intermediate between the anchor and the leaf */
	}

	if (depth <= 0) {
		if (!tm->anchored) {
			*flags |= tm->pending | MBEDTLS_X509_BADCERT_NOT_TRUSTED;
		} else if (tm->has_path_len && tm->below > tm->path_len) {
			/* as Mbed TLS marks a path length exceeded below a CA it holds */
			*flags |= MBEDTLS_X509_BADCERT_NOT_TRUSTED;
			tm->path_len_exceeded = 1;
		}
		tm->expect_depth = -1;
	}
	return 0;
}

void pa_trust_mbedtls_init(pa_trust_mbedtls *tm, const pa_trust_store *st)
{
	memset(tm, 0, sizeof(*tm));
	tm->store = st;
	tm->expect_depth = -1;
	tm->match_depth = -1;
	mbedtls_x509_crt_init(&tm->placeholder);
}

void pa_trust_mbedtls_set_time(pa_trust_mbedtls *tm, uint64_t now)
{
	tm->now = now;
}

void pa_trust_mbedtls_conf(pa_trust_mbedtls *tm, mbedtls_ssl_config *conf)
{
	/* Mbed TLS 2.28 refuses VERIFY_REQUIRED without a CA list ("got no CA
	 * chain"); an empty, never-parsed certificate is a list that matches no
	 * issuer, so every chain ends NOT_TRUSTED for the callback to judge. */
	mbedtls_ssl_conf_ca_chain(conf, &tm->placeholder, NULL);
	mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	mbedtls_ssl_conf_verify(conf, pa_trust_mbedtls_verify_cb, tm);
}

void pa_trust_mbedtls_free(pa_trust_mbedtls *tm)
{
	mbedtls_x509_crt_free(&tm->placeholder);
	memset(tm, 0, sizeof(*tm));
	tm->expect_depth = -1;
}
