/*
 * openssl_ku.c - an LD_PRELOAD object that makes `openssl s_server` use an
 * ECDSA certificate whose keyUsage lacks digitalSignature.
 *
 * OpenSSL will not serve such a certificate itself: for TLS 1.2 it drops the
 * ECDSA suites when its own certificate's keyUsage has no digitalSignature
 * (ssl_set_masks reads X509_get_key_usage), and the handshake ends with "no
 * shared cipher".  A TLS client must refuse that certificate (RFC 5246
 * 7.4.2, RFC 5280 4.2.1.3); to show that the device does, its server has to
 * send it (tests/bats/tls.bats).  This object adds digitalSignature to what
 * X509_get_key_usage returns in the process it is loaded into; the
 * certificate on the wire is unchanged (and `openssl s_client` against the
 * same server refuses it: "ecc cert not for signing").  Test use only.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>

#include <openssl/x509v3.h>

uint32_t X509_get_key_usage(X509 *x)
{
	uint32_t (*real)(X509 *) = (uint32_t (*)(X509 *))dlsym(RTLD_NEXT, "X509_get_key_usage");

	return real == NULL ? UINT32_MAX : real(x) | X509v3_KU_DIGITAL_SIGNATURE;
}
