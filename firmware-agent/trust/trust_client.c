/*
 * trust_client.c - a TLS client on Mbed TLS that trusts only a compact store.
 *
 *   trust-client --store FILE [--connect HOST:PORT | --verify-chain PEM]
 *                [--servername NAME] [--now SECS]
 *
 * Host-side test program for the end-to-end tests (tests/bats/trust_tls.bats,
 * trust_limbo.bats), on the project's Mbed TLS (build-mbedtls/); on a device the store is a const array in flash, here it is
 * read from a file.  The store is opened as the agent checks it at install
 * (pa_trust_check: structure, and EC points on their curves).  Without
 * --connect or --verify-chain it only lists the anchors and pins.
 *
 * --connect: a TLS handshake.  --now sets the anchors' time policy (POSIX
 *   seconds; 0 = no clock, expiry not checked; default the system clock); the
 *   served certificates' dates are Mbed TLS's, against the system clock.
 * --verify-chain: no socket; the certificates of PEM (the server's, leaf first,
 *   then what it would serve, in any order) are verified as the device's TLS
 *   adapter verifies a server (firmware-agent/tls/pa_tls.c): Mbed TLS's chain
 *   building with the default profile and --servername (an empty one: no name
 *   is checked), every date against
 *   --now (0: no date is checked), the store's verify callback, then the usage
 *   a TLS client asks of an ECDHE server (keyUsage digitalSignature, extended
 *   key usage serverAuth, where present).  A chain Mbed TLS cannot parse is
 *   refused, as the handshake would refuse it.
 *
 * Exit status: 0 handshake done / chain accepted (or store listed), 2 usage,
 * 3 store rejected, 4 certificate verification failed, 5 any other TLS or
 * network failure.
 */
#include "pa_trust.h"
#include "pa_trust_mbedtls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>
#include <psa/crypto.h>

#include "pa_trust_check.h"

enum {
	EXIT_OK = 0,
	EXIT_USAGE = 2,
	EXIT_STORE = 3,
	EXIT_CERT = 4,
	EXIT_TLS = 5
};

#define STORE_MAX (1u << 20)
#define DATE_FLAGS (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)

static void usage(void)
{
	fprintf(stderr, "usage: trust-client --store FILE [--connect HOST:PORT | --verify-chain PEM] "
	                "[--servername NAME] [--now SECS]\n");
}

static const char *match_name(int m)
{
	switch (m) {
	case PA_TRUST_MATCH_SELF: return "subject and key";
	case PA_TRUST_MATCH_ISSUER: return "issuer signature";
	case PA_TRUST_MATCH_PIN: return "pinned key";
	default: return "nothing";
	}
}

static unsigned char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = malloc(STORE_MAX + 1);
	if (buf != NULL) {
		n = fread(buf, 1, STORE_MAX + 1, f);
		if (ferror(f) || n > STORE_MAX) {
			free(buf);
			buf = NULL;
		} else {
			*len = n;
		}
	}
	fclose(f);
	return buf;
}

static void print_anchors(const pa_trust_store *st)
{
	size_t i;

	printf("anchors: %zu\n", pa_trust_count(st));
	printf("pins: %zu\n", pa_trust_pin_count(st));
	for (i = 0; i < pa_trust_count(st); i++) {
		pa_trust_anchor a;

		if (pa_trust_get(st, i, &a) != PA_TRUST_OK)
			continue;
		printf("%02x%02x%02x%02x alg %u key %zu bytes", a.name_key[0], a.name_key[1],
		       a.name_key[2], a.name_key[3], a.alg, a.key_len);
		if (a.has_not_after)
			printf(" not-after %llu", (unsigned long long)a.not_after);
		else
			printf(" not-after none");
		if (a.has_path_len)
			printf(" path-len %llu", (unsigned long long)a.path_len);
		if (a.name_constraints != NULL)
			printf(" name-constraints");
		printf("\n");
	}
}

/* ---- --verify-chain: the device's checks without a socket ---- */

/* Days from 1970-01-01 to a civil date (proleptic Gregorian). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

static long long x509_time_posix(const mbedtls_x509_time *t)
{
	return days_from_civil(t->year, (unsigned)t->mon, (unsigned)t->day) * 86400 +
	       (long long)t->hour * 3600 + t->min * 60 + t->sec;
}

typedef struct {
	pa_trust_mbedtls *tm;
	unsigned long long now;
} dated;

/* Dates against --now in place of Mbed TLS's system clock, then the store's
 * callback: what pa_tls.c's verify_cb does with a profile's clock. */
static int dated_cb(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	dated *d = p;

	*flags &= ~(uint32_t)DATE_FLAGS;
	if (d->now != 0) {
		if ((long long)d->now > x509_time_posix(&crt->valid_to))
			*flags |= MBEDTLS_X509_BADCERT_EXPIRED;
		if ((long long)d->now < x509_time_posix(&crt->valid_from))
			*flags |= MBEDTLS_X509_BADCERT_FUTURE;
	}
	return pa_trust_mbedtls_verify_cb(d->tm, crt, depth, flags);
}

static int verify_chain(pa_trust_mbedtls *tm, const char *path, const char *servername,
                        unsigned long long now)
{
	mbedtls_x509_crt chain;
	dated d;
	uint32_t flags = 0;
	char info[512];
	int ret, rc = EXIT_CERT;

	mbedtls_x509_crt_init(&chain);
	ret = mbedtls_x509_crt_parse_file(&chain, path);
	if (ret != 0) {
		mbedtls_strerror(ret, info, sizeof(info));
		fprintf(stderr, "trust-client: certificate verification failed: the chain does not parse: %s\n",
		        ret > 0 ? "a certificate Mbed TLS refuses" : info);
		goto out;
	}
	d.tm = tm;
	d.now = now;
	ret = mbedtls_x509_crt_verify_with_profile(&chain, &tm->placeholder, NULL,
	                                           &mbedtls_x509_crt_profile_default,
	                                           servername[0] != '\0' ? servername : NULL, &flags, dated_cb, &d);
	/* what mbedtls_ssl checks of a server's certificate for ECDHE suites */
	if (mbedtls_x509_crt_check_key_usage(&chain, MBEDTLS_X509_KU_DIGITAL_SIGNATURE) != 0)
		flags |= MBEDTLS_X509_BADCERT_KEY_USAGE;
	if (mbedtls_x509_crt_check_extended_key_usage(&chain, MBEDTLS_OID_SERVER_AUTH,
	                                              MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) != 0)
		flags |= MBEDTLS_X509_BADCERT_EXT_KEY_USAGE;
	if (ret != 0 || flags != 0) {
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		info[strcspn(info, "\n")] = '\0';
		fprintf(stderr, "trust-client: certificate verification failed: %s (flags 0x%08x)%s\n",
		        flags != 0 ? info : "error", (unsigned)flags,
		        tm->path_len_exceeded ? "; the anchor's path length is exceeded" : "");
		goto out;
	}
	printf("chain ok: anchor found by %s at depth %d\n", match_name(tm->match), tm->match_depth);
	rc = EXIT_OK;
out:
	mbedtls_x509_crt_free(&chain);
	return rc;
}

static int handshake(pa_trust_mbedtls *tm, const char *hostport, const char *servername)
{
	mbedtls_net_context net;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	char host[256], err[200];
	const char *colon = strrchr(hostport, ':');
	int ret, rc = EXIT_TLS;
	uint32_t flags;

	mbedtls_net_init(&net);
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	mbedtls_ssl_config_init(&conf);
	mbedtls_ssl_init(&ssl);

	if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host)) {
		fprintf(stderr, "trust-client: --connect wants HOST:PORT\n");
		rc = EXIT_USAGE;
		goto out;
	}
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';

	if ((ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
	                                 (const unsigned char *)"trust-client", 12)) != 0 ||
	    (ret = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
	                                       MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
		goto tls_error;
	mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
	pa_trust_mbedtls_conf(tm, &conf);
	if ((ret = mbedtls_ssl_setup(&ssl, &conf)) != 0 ||
	    (ret = mbedtls_ssl_set_hostname(&ssl, servername)) != 0)
		goto tls_error;
	if ((ret = mbedtls_net_connect(&net, host, colon + 1, MBEDTLS_NET_PROTO_TCP)) != 0)
		goto tls_error;
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, mbedtls_net_recv, NULL);

	do {
		ret = mbedtls_ssl_handshake(&ssl);
	} while (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE);

	flags = mbedtls_ssl_get_verify_result(&ssl);
	if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || (ret != 0 && flags != 0 && flags != (uint32_t)-1)) {
		char info[512];

		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		info[strcspn(info, "\n")] = '\0';
		fprintf(stderr, "trust-client: certificate verification failed: %s (flags 0x%08x)\n",
		        info, (unsigned)flags);
		rc = EXIT_CERT;
		goto out;
	}
	if (ret != 0)
		goto tls_error;
	printf("handshake ok: %s, %s; anchor found by %s at depth %d\n", mbedtls_ssl_get_version(&ssl),
	       mbedtls_ssl_get_ciphersuite(&ssl), match_name(tm->match), tm->match_depth);
	mbedtls_ssl_close_notify(&ssl);
	rc = EXIT_OK;
	goto out;

tls_error:
	mbedtls_strerror(ret, err, sizeof(err));
	fprintf(stderr, "trust-client: TLS: %s (-0x%04x)\n", err, (unsigned)-ret);
out:
	mbedtls_net_free(&net);
	mbedtls_ssl_free(&ssl);
	mbedtls_ssl_config_free(&conf);
	mbedtls_ctr_drbg_free(&drbg);
	mbedtls_entropy_free(&entropy);
	return rc;
}

int main(int argc, char **argv)
{
	const char *store_path = NULL, *connect = NULL, *chain = NULL, *servername = "server.test";
	unsigned long long now = (unsigned long long)time(NULL);
	unsigned char *buf = NULL;
	size_t len = 0;
	pa_trust_store st;
	pa_trust_mbedtls tm;
	int i, err, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
			store_path = argv[++i];
		} else if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc) {
			connect = argv[++i];
		} else if (strcmp(argv[i], "--verify-chain") == 0 && i + 1 < argc) {
			chain = argv[++i];
		} else if (strcmp(argv[i], "--servername") == 0 && i + 1 < argc) {
			servername = argv[++i];
		} else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
			char *end;

			now = strtoull(argv[++i], &end, 10);
			if (*end != '\0' || argv[i][0] == '\0' || argv[i][0] == '-') {
				usage();
				return EXIT_USAGE;
			}
		} else {
			usage();
			return EXIT_USAGE;
		}
	}
	if (store_path == NULL || (connect != NULL && chain != NULL)) {
		usage();
		return EXIT_USAGE;
	}
	buf = read_file(store_path, &len);
	if (buf == NULL) {
		fprintf(stderr, "trust-client: %s: cannot read (or larger than %u bytes)\n", store_path,
		        STORE_MAX);
		return EXIT_STORE;
	}
	/* as the agent checks it at install, then as the TLS layer opens it */
	err = pa_trust_check(buf, len);
	if (err == PA_TRUST_OK)
		err = pa_trust_open(&st, buf, len);
	if (err != PA_TRUST_OK) {
		fprintf(stderr, "trust-client: store rejected: %s\n", pa_trust_strerror(err));
		free(buf);
		return EXIT_STORE;
	}
	if (connect == NULL && chain == NULL) {
		print_anchors(&st);
		free(buf);
		return fflush(stdout) == 0 ? EXIT_OK : EXIT_TLS;
	}
	/* the project's Mbed TLS has MBEDTLS_USE_PSA_CRYPTO: PK's ECDSA
	 * verification and the handshake's key exchange run in PSA */
	if (psa_crypto_init() != PSA_SUCCESS) {
		fprintf(stderr, "trust-client: psa_crypto_init failed\n");
		free(buf);
		return EXIT_TLS;
	}
	pa_trust_mbedtls_init(&tm, &st);
	pa_trust_mbedtls_set_time(&tm, now);
	rc = chain != NULL ? verify_chain(&tm, chain, servername, now) : handshake(&tm, connect, servername);
	pa_trust_mbedtls_free(&tm);
	mbedtls_psa_crypto_free();
	free(buf);
	if (fflush(stdout) != 0)
		rc = EXIT_TLS;
	return rc;
}
