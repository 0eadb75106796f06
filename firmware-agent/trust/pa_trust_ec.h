/*
 * pa_trust_ec.h - the curve arithmetic the trust module needs beside Mbed TLS
 * 2.28, which reads no compressed points: the TLS glue's (pa_trust_mbedtls.c).
 * The store check (pa_trust_check.c) solves for y with the same code from p
 * and b alone, without an ECP group.  Bignum and ECP only.
 */
#ifndef PA_TRUST_EC_H
#define PA_TRUST_EC_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/ecp.h>

/* The Mbed TLS curve of a store's EC alg (MBEDTLS_ECP_DP_NONE for the others). */
mbedtls_ecp_group_id pa_trust_alg_group(unsigned alg);

/* SEC1 compressed point (0x02/0x03 || x) to Q on grp (a NIST curve, p = 3 mod 4):
 * y = (x^3 - 3x + b)^((p+1)/4) mod p, checked by squaring.  0 or an Mbed TLS error. */
int pa_trust_ec_decompress(const mbedtls_ecp_group *grp, mbedtls_ecp_point *q,
                           const uint8_t *buf, size_t len);

#endif
