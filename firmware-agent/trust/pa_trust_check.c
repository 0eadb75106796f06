/*
 * pa_trust_check.c - is this a trust store the device can use?  The structure
 * rules (pa_trust_open) and the one rule that needs arithmetic: every EC anchor's
 * compressed point decompressed onto its curve.  Mbed TLS bignum only: the
 * check needs p and b of each curve (y^2 = x^3 - 3x + b mod p), not the curve
 * arithmetic, so a firmware that installs bundles links this beside pa_trust.c
 * without ECP support for P-384 and P-521 (docs/firmware.md, "Size").  The
 * TLS glue (pa_trust_mbedtls.c) decompresses with the same code onto Mbed
 * TLS's groups, so the store check and the TLS image agree on every point.
 */
#include "pa_trust_check.h"
#include "pa_trust_ec.h"
#include "pa_trust.h"

#include <mbedtls/bignum.h>

/* p and b of the NIST curves a store may name (SEC 2 v2.0, sections 2.4.2,
 * 2.5.1 and 2.6.1; a = -3 on all three), big-endian. */
static const uint8_t p256_p[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};
static const uint8_t p256_b[32] = {
	0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55,
	0x76, 0x98, 0x86, 0xbc, 0x65, 0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6,
	0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b
};
static const uint8_t p384_p[48] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff
};
static const uint8_t p384_b[48] = {
	0xb3, 0x31, 0x2f, 0xa7, 0xe2, 0x3e, 0xe7, 0xe4, 0x98, 0x8e, 0x05, 0x6b,
	0xe3, 0xf8, 0x2d, 0x19, 0x18, 0x1d, 0x9c, 0x6e, 0xfe, 0x81, 0x41, 0x12,
	0x03, 0x14, 0x08, 0x8f, 0x50, 0x13, 0x87, 0x5a, 0xc6, 0x56, 0x39, 0x8d,
	0x8a, 0x2e, 0xd1, 0x9d, 0x2a, 0x85, 0xc8, 0xed, 0xd3, 0xec, 0x2a, 0xef
};
static const uint8_t p521_p[66] = {
	0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff
};
static const uint8_t p521_b[66] = {
	0x00, 0x51, 0x95, 0x3e, 0xb9, 0x61, 0x8e, 0x1c, 0x9a, 0x1f, 0x92, 0x9a,
	0x21, 0xa0, 0xb6, 0x85, 0x40, 0xee, 0xa2, 0xda, 0x72, 0x5b, 0x99, 0xb3,
	0x15, 0xf3, 0xb8, 0xb4, 0x89, 0x91, 0x8e, 0xf1, 0x09, 0xe1, 0x56, 0x19,
	0x39, 0x51, 0xec, 0x7e, 0x93, 0x7b, 0x16, 0x52, 0xc0, 0xbd, 0x3b, 0xb1,
	0xbf, 0x07, 0x35, 0x73, 0xdf, 0x88, 0x3d, 0x2c, 0x34, 0xf1, 0xef, 0x45,
	0x1f, 0xd4, 0x6b, 0x50, 0x3f, 0x00
};
typedef struct curve {
	unsigned alg;
	size_t len;
	const uint8_t *p, *b;
} curve;
static const curve curves[] = {
	{ PA_TRUST_ALG_P256, sizeof(p256_p), p256_p, p256_b },
	{ PA_TRUST_ALG_P384, sizeof(p384_p), p384_p, p384_b },
	{ PA_TRUST_ALG_P521, sizeof(p521_p), p521_p, p521_b },
};

mbedtls_ecp_group_id pa_trust_alg_group(unsigned alg)
{
	switch (alg) {
	case PA_TRUST_ALG_P256: return MBEDTLS_ECP_DP_SECP256R1;
	case PA_TRUST_ALG_P384: return MBEDTLS_ECP_DP_SECP384R1;
	case PA_TRUST_ALG_P521: return MBEDTLS_ECP_DP_SECP521R1;
	default: return MBEDTLS_ECP_DP_NONE;
	}
}

/* SEC1 compressed point (0x02/0x03 || x) to (x, y) on y^2 = x^3 + a x + b mod p,
 * a = -3 when A is NULL; p = 3 mod 4.  0, MBEDTLS_ERR_ECP_BAD_INPUT_DATA (not a
 * compressed point of this size), MBEDTLS_ERR_ECP_INVALID_KEY (x >= p, or no
 * y), or an Mbed TLS error (out of memory). */
static int ec_solve(const mbedtls_mpi *P, const mbedtls_mpi *A, const mbedtls_mpi *B,
                    const uint8_t *buf, size_t len, mbedtls_mpi *x, mbedtls_mpi *y)
{
	mbedtls_mpi rhs, e, t;
	mbedtls_mpi_uint p_mod4;
	size_t plen = mbedtls_mpi_size(P);
	int ret;

	if (len != plen + 1 || (buf[0] != 0x02 && buf[0] != 0x03))
		return MBEDTLS_ERR_ECP_BAD_INPUT_DATA;
	mbedtls_mpi_init(&rhs);
	mbedtls_mpi_init(&e);
	mbedtls_mpi_init(&t);

	MBEDTLS_MPI_CHK(mbedtls_mpi_read_binary(x, buf + 1, plen));
	if (mbedtls_mpi_cmp_mpi(x, P) >= 0) {
		ret = MBEDTLS_ERR_ECP_INVALID_KEY;
		goto cleanup;
	}
	/* The square root below is a single exponentiation only when p = 3 mod 4
	 * (true of P-256, P-384 and P-521). */
	MBEDTLS_MPI_CHK(mbedtls_mpi_mod_int(&p_mod4, P, 4));
	if (p_mod4 != 3) {
		ret = MBEDTLS_ERR_ECP_FEATURE_UNAVAILABLE;
		goto cleanup;
	}

	/* rhs = x^3 + a x + b mod p */
	MBEDTLS_MPI_CHK(mbedtls_mpi_mul_mpi(&t, x, x));
	MBEDTLS_MPI_CHK(mbedtls_mpi_mod_mpi(&t, &t, P));
	MBEDTLS_MPI_CHK(mbedtls_mpi_mul_mpi(&rhs, &t, x));
	if (A == NULL) {
		MBEDTLS_MPI_CHK(mbedtls_mpi_mul_int(&t, x, 3));
		MBEDTLS_MPI_CHK(mbedtls_mpi_sub_mpi(&rhs, &rhs, &t));
	} else {
		MBEDTLS_MPI_CHK(mbedtls_mpi_mul_mpi(&t, x, A));
		MBEDTLS_MPI_CHK(mbedtls_mpi_add_mpi(&rhs, &rhs, &t));
	}
	MBEDTLS_MPI_CHK(mbedtls_mpi_add_mpi(&rhs, &rhs, B));
	MBEDTLS_MPI_CHK(mbedtls_mpi_mod_mpi(&rhs, &rhs, P));

	/* y = rhs^((p+1)/4) mod p, a square root if rhs is a square */
	MBEDTLS_MPI_CHK(mbedtls_mpi_add_int(&e, P, 1));
	MBEDTLS_MPI_CHK(mbedtls_mpi_shift_r(&e, 2));
	MBEDTLS_MPI_CHK(mbedtls_mpi_exp_mod(y, &rhs, &e, P, NULL));

	/* not a square: x is not on the curve */
	MBEDTLS_MPI_CHK(mbedtls_mpi_mul_mpi(&t, y, y));
	MBEDTLS_MPI_CHK(mbedtls_mpi_mod_mpi(&t, &t, P));
	if (mbedtls_mpi_cmp_mpi(&t, &rhs) != 0) {
		ret = MBEDTLS_ERR_ECP_INVALID_KEY;
		goto cleanup;
	}
	/* pick the root with the parity the prefix names */
	if ((unsigned)mbedtls_mpi_get_bit(y, 0) != (unsigned)(buf[0] & 1u)) {
		if (mbedtls_mpi_cmp_int(y, 0) == 0) {
			ret = MBEDTLS_ERR_ECP_INVALID_KEY; /* y = 0 has no odd twin */
			goto cleanup;
		}
		MBEDTLS_MPI_CHK(mbedtls_mpi_sub_mpi(y, P, y));
	}
	ret = 0;

cleanup:
	mbedtls_mpi_free(&rhs);
	mbedtls_mpi_free(&e);
	mbedtls_mpi_free(&t);
	return ret;
}

int pa_trust_ec_decompress(const mbedtls_ecp_group *grp, mbedtls_ecp_point *q,
                           const uint8_t *buf, size_t len)
{
	mbedtls_mpi x, y;
	int ret;

	mbedtls_mpi_init(&x);
	mbedtls_mpi_init(&y);
	MBEDTLS_MPI_CHK(ec_solve(&grp->P, grp->A.p == NULL ? NULL : &grp->A, &grp->B, buf, len,
	                         &x, &y));
	MBEDTLS_MPI_CHK(mbedtls_mpi_copy(&q->X, &x));
	MBEDTLS_MPI_CHK(mbedtls_mpi_copy(&q->Y, &y));
	MBEDTLS_MPI_CHK(mbedtls_mpi_lset(&q->Z, 1));
	ret = mbedtls_ecp_check_pubkey(grp, q);

cleanup:
	mbedtls_mpi_free(&x);
	mbedtls_mpi_free(&y);
	return ret;
}

/* 0 if the compressed point is on the curve of alg (a NIST curve the store
 * names), else non-zero (out of memory included). */
static int on_curve(const curve *c, const uint8_t *buf, size_t len)
{
	mbedtls_mpi P, B, x, y;
	int ret;

	mbedtls_mpi_init(&P);
	mbedtls_mpi_init(&B);
	mbedtls_mpi_init(&x);
	mbedtls_mpi_init(&y);
	MBEDTLS_MPI_CHK(mbedtls_mpi_read_binary(&P, c->p, c->len));
	MBEDTLS_MPI_CHK(mbedtls_mpi_read_binary(&B, c->b, c->len));
	ret = ec_solve(&P, NULL, &B, buf, len, &x, &y);

cleanup:
	mbedtls_mpi_free(&P);
	mbedtls_mpi_free(&B);
	mbedtls_mpi_free(&x);
	mbedtls_mpi_free(&y);
	return ret;
}

int pa_trust_check(const uint8_t *buf, size_t len)
{
	pa_trust_store st;
	pa_trust_anchor a;
	size_t i, j;
	int err = pa_trust_open(&st, buf, len);

	/* the rule open() cannot check without arithmetic: EC points on their curve */
	for (i = 0; err == PA_TRUST_OK && i < pa_trust_count(&st); i++) {
		err = pa_trust_get(&st, i, &a);
		for (j = 0; err == PA_TRUST_OK && j < sizeof(curves) / sizeof(curves[0]); j++)
			if (curves[j].alg == a.alg && on_curve(&curves[j], a.key, a.key_len) != 0)
				err = PA_TRUST_ERR_KEY; /* fail closed, out of memory included */
	}
	return err;
}
