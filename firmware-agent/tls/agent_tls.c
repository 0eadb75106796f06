/*
 * agent_tls.c - agent-tls: the device's TLS application on the host, over the
 * storage agent-sim provisioned (docs/tls.md).
 *
 *   agent-tls --storage DIR --tls-connect HOST:PORT [--slot N] [--dtls] [--send TEXT]
 *             [--resume] [--timeout MS]
 *   agent-tls --storage DIR --key-proof FILE [--slot N]
 *
 * Exit: 0 handshake ok, 2 usage, 3 no device, 4 slot/credentials/profile, 5 no
 * connection, 6 handshake failed, 7 server certificate refused, 8 I/O after the
 * handshake, 1 internal (enum pa_tls_client_status).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "pa/pa_agent.h"
#include "port/pa_port_dir.h"
#include "tls/pa_tls_client.h"

#define MAX_SIGNERS 8

static const char usage_text[] =
	"usage: agent-tls --storage DIR --tls-connect HOST:PORT [--slot N] [--dtls]\n"
	"                 [--send TEXT] [--resume] [--timeout MS]\n"
	"       agent-tls --storage DIR --key-proof FILE [--slot N]\n";

static pa_agent agent;

/* Every PEM public key in signers.pem (as agent-sim --init wrote it). */
static int load_signers(const char *path, pa_signer *s, size_t *n)
{
	static char pem[MAX_SIGNERS * 4096 + 1];
	static const char end_marker[] = "-----END PUBLIC KEY-----";
	FILE *f = fopen(path, "rb");
	size_t len;
	char *p;

	*n = 0;
	if (f == NULL)
		return -1;
	len = fread(pem, 1, sizeof(pem) - 1, f);
	fclose(f);
	pem[len] = '\0';
	for (p = pem; *n < MAX_SIGNERS && (p = strstr(p, "-----BEGIN PUBLIC KEY-----")) != NULL;) {
		char *e = strstr(p, end_marker), save;
		unsigned char der[200], md[32];
		mbedtls_pk_context pk;
		size_t olen = 0;
		int dl, ok;

		if (e == NULL)
			break;
		e += sizeof(end_marker) - 1;
		save = *e;
		*e = '\0';
		mbedtls_pk_init(&pk);
		ok = mbedtls_pk_parse_public_key(&pk, (const unsigned char *)p, (size_t)(e - p) + 1) == 0 &&
		     mbedtls_pk_can_do(&pk, MBEDTLS_PK_ECKEY) &&
		     mbedtls_pk_ec(pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
		*e = save;
		if (ok) {
			const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pk);

			dl = mbedtls_pk_write_pubkey_der(&pk, der, sizeof(der));
			ok = dl > 0 &&
			     mbedtls_sha256_ret(der + sizeof(der) - dl, (size_t)dl, md, 0) == 0 &&
			     mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_UNCOMPRESSED,
			                                    &olen, s[*n].pub, sizeof(s[*n].pub)) == 0 &&
			     olen == sizeof(s[*n].pub);
			if (ok) {
				memcpy(s[*n].kid, md, sizeof(s[*n].kid));
				(*n)++;
			}
		}
		mbedtls_pk_free(&pk);
		p = e;
	}
	return *n > 0 ? 0 : -1;
}

static int read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");

	if (f == NULL)
		return -1;
	*len = fread(buf, 1, cap, f);
	if (ferror(f) || !feof(f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *connect = NULL, *proof = NULL;
	static char hostbuf[256];
	static uint8_t msg[65536];
	pa_tls_connect_opts o;
	pa_signer signers[MAX_SIGNERS];
	size_t nsigners = 0, msg_len = 0;
	pa_dir_port dport;
	struct stat sb;
	char *colon, *end;
	int i, rc;

	memset(&o, 0, sizeof(o));
	o.slot = -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage_text, stdout);
			return 0;
		} else if (strcmp(a, "--dtls") == 0) {
			o.dtls = 1;
			takes = 0;
		} else if (strcmp(a, "--resume") == 0) {
			o.resume = 1;
			takes = 0;
		} else if (v == NULL && (strcmp(a, "--storage") == 0 || strcmp(a, "--tls-connect") == 0 ||
		                         strcmp(a, "--slot") == 0 || strcmp(a, "--send") == 0 ||
		                         strcmp(a, "--timeout") == 0 || strcmp(a, "--key-proof") == 0)) {
			fprintf(stderr, "agent-tls: %s needs a value\n%s", a, usage_text);
			return PA_TLS_EXIT_USAGE;
		} else if (strcmp(a, "--storage") == 0) {
			dir = v;
		} else if (strcmp(a, "--tls-connect") == 0) {
			connect = v;
		} else if (strcmp(a, "--key-proof") == 0) {
			proof = v;
		} else if (strcmp(a, "--send") == 0) {
			o.send = v;
		} else if (strcmp(a, "--slot") == 0) {
			long long s;

			errno = 0;
			s = strtoll(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || s < 0 || s > 2147483647LL) {
				fprintf(stderr, "agent-tls: --slot: '%s' is not a slot (0..2147483647)\n", v);
				return PA_TLS_EXIT_USAGE;
			}
			o.slot = s;
		} else if (strcmp(a, "--timeout") == 0) {
			unsigned long t;

			errno = 0;
			t = strtoul(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || t == 0 || t > 600000) {
				fprintf(stderr, "agent-tls: --timeout: '%s' is not 1..600000 ms\n", v);
				return PA_TLS_EXIT_USAGE;
			}
			o.timeout_ms = (uint32_t)t;
		} else {
			fprintf(stderr, "agent-tls: unknown option '%s'\n%s", a, usage_text);
			return PA_TLS_EXIT_USAGE;
		}
		i += takes;
	}
	if (dir == NULL || (connect == NULL) == (proof == NULL) ||
	    (proof != NULL && (o.dtls || o.send != NULL || o.resume || o.timeout_ms != 0))) {
		fputs(usage_text, stderr);
		return PA_TLS_EXIT_USAGE;
	}
	if (connect != NULL) {
		if (strlen(connect) >= sizeof(hostbuf) || (colon = strrchr(connect, ':')) == NULL ||
		    colon == connect || colon[1] == '\0') {
			fprintf(stderr, "agent-tls: --tls-connect: '%s' is not HOST:PORT\n", connect);
			return PA_TLS_EXIT_USAGE;
		}
		strcpy(hostbuf, connect);
		hostbuf[colon - connect] = '\0';
		o.host = hostbuf;
		o.port = hostbuf + (colon - connect) + 1;
		strtoul(o.port, &end, 10);
		if (*end != '\0') {
			fprintf(stderr, "agent-tls: --tls-connect: '%s' is not HOST:PORT\n", connect);
			return PA_TLS_EXIT_USAGE;
		}
	}
	if (proof != NULL && read_file(proof, msg, sizeof(msg), &msg_len) != 0) {
		fprintf(stderr, "agent-tls: --key-proof: cannot read %s\n", proof);
		return PA_TLS_EXIT_USAGE;
	}
	/* the device's storage: PSA's ITS files live in DIR, as under agent-sim */
	if (chdir(dir) != 0 || stat("device-id", &sb) != 0) {
		fprintf(stderr, "agent-tls: %s: no device here (agent-sim --init makes one)\n", dir);
		return PA_TLS_EXIT_NODEV;
	}
	if (load_signers("signers.pem", signers, &nsigners) != 0) {
		fprintf(stderr, "agent-tls: %s/signers.pem: no usable signer key\n", dir);
		return PA_TLS_EXIT_NODEV;
	}
	rc = pa_agent_start(&agent, pa_dir_port_init(&dport, "."), signers, nsigners);
	if (rc != PA_OK) {
		fprintf(stderr, "agent-tls: agent start failed (code %d)\n", rc);
		return PA_TLS_EXIT_NODEV;
	}
	if (proof != NULL)
		rc = pa_tls_key_proof(&agent, o.slot, msg, msg_len, stdout, stderr);
	else
		rc = pa_tls_connect(&agent, &o, stdout, stderr);
	mbedtls_psa_crypto_free();
	if (fflush(stdout) != 0 && rc == 0)
		rc = PA_TLS_EXIT_INTERNAL;
	return rc;
}
