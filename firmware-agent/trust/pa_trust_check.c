/*
 * pa_trust_check.c - is this a trust store the device can use?  The structure
 * rules (pa_trust_open) and the one rule that needs arithmetic: every EC anchor's
 * compressed point decompressed onto its curve.  Only Mbed TLS bignum and ECP:
 * a firmware that installs bundles links this beside pa_trust.c without the
 * X.509 and TLS glue of pa_trust_mbedtls.c.
 */
#include "pa_trust_check.h"
#include "pa_trust_ec.h"
#include "pa_trust.h"

#include <mbedtls/bignum.h>

mbedtls_ecp_group_id pa_trust_alg_group(unsigned alg)
{
	switch (alg) {
	case PA_TRUST_ALG_P256: return MBEDTLS_ECP_DP_SECP256R1;
	case PA_TRUST_ALG_P384: return MBEDTLS_ECP_DP_SECP384R1;
	case PA_TRUST_ALG_P521: return MBEDTLS_ECP_DP_SECP521R1;
	default: return MBEDTLS_ECP_DP_NONE;
	}
}

int pa_trust_ec_decompress(const mbedtls_ecp_group *grp, mbedtls_ecp_point *q,
                           const uint8_t *buf, size_t len)
{
	mbedtls_mpi x, rhs, y, e, t;
	mbedtls_mpi_uint p_mod4;
	size_t plen = mbedtls_mpi_size(&grp->P);
	int ret;

	if (len != plen + 1 || (buf[0] != 0x02 && buf[0] != 0x03))
		return MBEDTLS_ERR_ECP_BAD_INPUT_DATA;
	mbedtls_mpi_init(&x);
	mbedtls_mpi_init(&rhs);
	mbedtls_mpi_init(&y);
	mbedtls_mpi_init(&e);
	mbedtls_mpi_init(&t);

	MBEDTLS_MPI_CHK(mbedtls_mpi_read_binary(&x, buf + 1, plen));
	if (mbedtls_mpi_cmp_mpi(&x, &grp->P) >= 0) {
		ret = MBEDTLS_ERR_ECP_INVALID_KEY;
		goto cleanup;
	}
	/* The square root below is a single exponentiation only when p = 3 mod 4
	 * (true of P-256, P-384 and P-521). */
	MBEDTLS_MPI_CHK(mbedtls_mpi_mod_int(&p_mod4, &grp->P, 4));
	if (p_mod4 != 3) {
		ret = MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE;
		goto cleanup;
	}

	/* rhs = x^3 + a x + b mod p, with a = -3 when Mbed TLS leaves A unset */
	MBEDTLS_MPI_CHK(mbedtls_mpi_mul_mpi(&t, &x, &x));
	MBEDTLS_MPI_CHK(mbedtls_mpi_mod_mpi(&t, &t, &grp->P));
	MBEDTLS_MPI_CHK(mbedtls_mpi_mul_mpi(&rhs, &t, &x));
	if (grp->A.p == NULL) {
		MBEDTLS_MPI_CHK(mbedtls_mpi_mul_int(&t, &x, 3));
		MBEDTLS_MPI_CHK(mbedtls_mpi_sub_mpi(&rhs, &rhs, &t));
	} else {
		MBEDTLS_MPI_CHK(mbedtls_mpi_mul_mpi(&t, &x, &grp->A));
		MBEDTLS_MPI_CHK(mbedtls_mpi_add_mpi(&rhs, &rhs, &t));
	}
	MBEDTLS_MPI_CHK(mbedtls_mpi_add_mpi(&rhs, &rhs, &grp->B));
	MBEDTLS_MPI_CHK(mbedtls_mpi_mod_mpi(&rhs, &rhs, &grp->P));

	/* y = rhs^((p+1)/4) mod p, a square root if rhs is a square */
	MBEDTLS_MPI_CHK(mbedtls_mpi_add_int(&e, &grp->P, 1));
	MBEDTLS_MPI_CHK(mbedtls_mpi_shift_r(&e, 2));
	MBEDTLS_MPI_CHK(mbedtls_mpi_exp_mod(&y, &rhs, &e, &grp->P, NULL));

	/* not a square: x is not on the curve */
	MBEDTLS_MPI_CHK(mbedtls_mpi_mul_mpi(&t, &y, &y));
	MBEDTLS_MPI_CHK(mbedtls_mpi_mod_mpi(&t, &t, &grp->P));
	if (mbedtls_mpi_cmp_mpi(&t, &rhs) != 0) {
		ret = MBEDTLS_ERR_ECP_INVALID_KEY;
		goto cleanup;
	}
	/* pick the root with the parity the prefix names */
	if ((unsigned)mbedtls_mpi_get_bit(&y, 0) != (unsigned)(buf[0] & 1u)) {
		if (mbedtls_mpi_cmp_int(&y, 0) == 0) {
			ret = MBEDTLS_ERR_ECP_INVALID_KEY; /* y = 0 has no odd twin */
			goto cleanup;
		}
		MBEDTLS_MPI_CHK(mbedtls_mpi_sub_mpi(&y, &grp->P, &y));
	}
	MBEDTLS_MPI_CHK(mbedtls_mpi_copy(&q->X, &x));
	MBEDTLS_MPI_CHK(mbedtls_mpi_copy(&q->Y, &y));
	MBEDTLS_MPI_CHK(mbedtls_mpi_lset(&q->Z, 1));
	ret = mbedtls_ecp_check_pubkey(grp, q);

cleanup:
	mbedtls_mpi_free(&x);
	mbedtls_mpi_free(&rhs);
	mbedtls_mpi_free(&y);
	mbedtls_mpi_free(&e);
	mbedtls_mpi_free(&t);
	return ret;
}

int pa_trust_check(const uint8_t *buf, size_t len)
{
	pa_trust_store st;
	pa_trust_anchor a;
	mbedtls_ecp_group grp;
	mbedtls_ecp_point q;
	size_t i;
	int err = pa_trust_open(&st, buf, len);

	/* the rule open() cannot check without arithmetic: EC points on their curve */
	for (i = 0; err == PA_TRUST_OK && i < pa_trust_count(&st); i++) {
		err = pa_trust_get(&st, i, &a);
		if (err != PA_TRUST_OK || pa_trust_alg_group(a.alg) == MBEDTLS_ECP_DP_NONE)
			continue;
		mbedtls_ecp_group_init(&grp);
		mbedtls_ecp_point_init(&q);
		if (mbedtls_ecp_group_load(&grp, pa_trust_alg_group(a.alg)) != 0 ||
		    pa_trust_ec_decompress(&grp, &q, a.key, a.key_len) != 0)
			err = PA_TRUST_ERR_KEY; /* fail closed, out of memory included */
		mbedtls_ecp_point_free(&q);
		mbedtls_ecp_group_free(&grp);
	}
	return err;
}
