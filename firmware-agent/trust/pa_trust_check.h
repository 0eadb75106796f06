/*
 * pa_trust_check.h - the one question the agent asks the trust module: is this
 * a trust store the device can use?
 *
 * The agent (verify/pa_payload.c) calls pa_trust_check() on the value of every
 * trust-store entry of a bundle, after the signature and before anything is
 * stored, so that the device refuses exactly what the host refuses
 * (docs/truststore-format.md, "What a reader rejects"): pa_trust_open()'s
 * structure rules, then every EC anchor's point decompressed and checked to be on
 * its curve.  The reader and the curve arithmetic (Mbed TLS bignum) stay in the
 * trust module, outside the agent's size budget; this prototype is the whole
 * interface, and a firmware that installs bundles links the module
 * (firmware-agent/trust/pa_trust.c and pa_trust_check.c: Mbed TLS bignum and
 * ECP only).
 *
 * Returns PA_TRUST_OK (0) or the first defect (enum pa_trust_err).  No heap in
 * this code (Mbed TLS's bignum allocates internally); reentrant.
 */
#ifndef PA_TRUST_CHECK_H
#define PA_TRUST_CHECK_H

#include <stddef.h>
#include <stdint.h>

int pa_trust_check(const uint8_t *buf, size_t len);

#endif
