/*
 * pa_tls_client.c - connect with one slot's installed credentials and profile
 * (the device application of issue 6; agent-sim --tls-connect).
 */
#include "tls/pa_tls_client.h"

#include <string.h>
#include <time.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/timing.h>
#include <mbedtls/debug.h>

#include "tls/pa_tls.h"

/* What Mbed TLS's own debug output tells about the handshake in progress. */
typedef struct {
	int mfl_echoed;     /* the server answered our max_fragment_length */
	int resumed;        /* the server accepted the offered session */
} hs_seen;

static void debug_cb(void *ctx, int level, const char *file, int line, const char *str)
{
	hs_seen *s = ctx;

	(void)level;
	(void)file;
	(void)line;
	if (strstr(str, "found max_fragment_length extension") != NULL)
		s->mfl_echoed = 1;
	if (strstr(str, "a session has been resumed") != NULL)
		s->resumed = 1;
}

static void print_mbedtls_err(FILE *err, const char *what, int rc)
{
	char buf[160];

	mbedtls_strerror(rc, buf, sizeof(buf));
	fprintf(err, "agent-sim: %s: %s (-0x%04x)\n", what, buf, (unsigned)-rc);
}

static const char *mode_name(int mode)
{
	return mode == PA_TLS_MODE_CERT ? "certificate" : mode == PA_TLS_MODE_PSK ? "psk" : "none";
}

static void print_config(const pa_tls *t, FILE *out)
{
	const pa_tls_profile *p = &t->prof;
	size_t i;

	if (t->mode == PA_TLS_MODE_NONE)
		fprintf(out, "slot %u: no client credential (server authentication only), "
		        "protocol %s over %s\n", (unsigned)t->slot, p->protocol,
		        t->conf.transport == MBEDTLS_SSL_TRANSPORT_DATAGRAM ? "DTLS 1.2" : "TLS 1.2");
	else
		fprintf(out, "slot %u: %s (PSA key 0x%08x), protocol %s over %s\n", (unsigned)t->slot,
		        mode_name(t->mode), (unsigned)t->key_id, p->protocol,
		        t->conf.transport == MBEDTLS_SSL_TRANSPORT_DATAGRAM ? "DTLS 1.2" : "TLS 1.2");
	if (t->trust == PA_TLS_TRUST_STORE)
		fprintf(out, "server check: trust store in slot %u (%u anchors)\n",
		        (unsigned)t->trust_slot, (unsigned)pa_trust_count(&t->store));
	else if (t->trust == PA_TLS_TRUST_CA)
		fprintf(out, "server check: CA certificates in slot %u\n", (unsigned)t->trust_slot);
	else
		fprintf(out, "server check: the PSK\n");
	fprintf(out, "cipher suites:");
	for (i = 0; i < t->n_suites; i++)
		fprintf(out, " %s", mbedtls_ssl_get_ciphersuite_name(t->ciphersuites[i]));
	fprintf(out, "%s\n", t->n_suites == 0 ? " (Mbed TLS defaults)" : "");
	if (t->mfl != 0)
		fprintf(out, "max fragment length: %u requested\n", (unsigned)t->mfl);
	fprintf(out, "resumption: %s\n", (p->present & (1u << 6)) && p->resumption
	        ? "allowed (session tickets)" : "not allowed");
	fprintf(out, "time check: %s\n", t->now == 0 ? "none (no trustworthy clock)" : "dates checked");
}

/* One connection.  session_in: offer it (resumption); session_out: save the
 * new session into it.  Returns a status. */
static int one_connection(pa_tls *t, const pa_tls_connect_opts *o, mbedtls_ssl_session *session_in,
                          mbedtls_ssl_session *session_out, FILE *out, FILE *err)
{
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	mbedtls_timing_delay_context timer;
	hs_seen seen;
	int rc, status = PA_TLS_EXIT_OK, dtls = t->conf.transport == MBEDTLS_SSL_TRANSPORT_DATAGRAM;
	uint32_t flags;

	memset(&seen, 0, sizeof(seen));
	mbedtls_net_init(&net);
	mbedtls_ssl_init(&ssl);
	mbedtls_ssl_conf_dbg(&t->conf, debug_cb, &seen);

	rc = mbedtls_net_connect(&net, o->host, o->port,
	                         dtls ? MBEDTLS_NET_PROTO_UDP : MBEDTLS_NET_PROTO_TCP);
	if (rc != 0) {
		print_mbedtls_err(err, "connect", rc);
		status = PA_TLS_EXIT_CONNECT;
		goto out;
	}
	if ((rc = mbedtls_ssl_setup(&ssl, &t->conf)) != 0 ||
	    (rc = pa_tls_set_hostname(t, &ssl)) != 0 ||
	    (session_in != NULL && (rc = mbedtls_ssl_set_session(&ssl, session_in)) != 0)) {
		print_mbedtls_err(err, "ssl setup", rc);
		status = PA_TLS_EXIT_INTERNAL;
		goto out;
	}
	mbedtls_ssl_set_bio(&ssl, &net, mbedtls_net_send, NULL, mbedtls_net_recv_timeout);
	if (dtls)
		mbedtls_ssl_set_timer_cb(&ssl, &timer, mbedtls_timing_set_delay,
		                         mbedtls_timing_get_delay);

	while ((rc = mbedtls_ssl_handshake(&ssl)) != 0) {
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		flags = mbedtls_ssl_get_verify_result(&ssl);
		/* the chain (VERIFY_FAILED), or the certificate's keyUsage /
		 * extendedKeyUsage or curve (BAD_HS_CERTIFICATE, with its flag) */
		if ((rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || rc == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE) &&
		    flags != 0 && flags != (uint32_t)-1) {
			char info[512];

			mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
			info[strcspn(info, "\n")] = '\0';
			fprintf(err, "agent-sim: server certificate refused: %s (flags 0x%08x)\n",
			        info, (unsigned)flags);
			status = PA_TLS_EXIT_VERIFY;
		} else {
			print_mbedtls_err(err, "handshake failed", rc);
			status = PA_TLS_EXIT_HANDSHAKE;
		}
		goto out;
	}
	fprintf(out, "connected: %s, %s\n", mbedtls_ssl_get_version(&ssl),
	        mbedtls_ssl_get_ciphersuite(&ssl));
	if (t->mfl != 0)
		fprintf(out, "max fragment length: %u %s\n", (unsigned)t->mfl,
		        seen.mfl_echoed ? "(negotiated: the server echoed the extension)"
		        : seen.resumed ? "(the resumed session's: not repeated by the server)"
		                       : "(not negotiated: the server ignored the extension)");
	if (session_in != NULL)
		fprintf(out, "session: %s\n", seen.resumed ? "resumed (abbreviated handshake)"
		                                           : "not resumed (full handshake)");
	if (session_out != NULL && (rc = mbedtls_ssl_get_session(&ssl, session_out)) != 0) {
		print_mbedtls_err(err, "cannot save the session", rc);
		status = PA_TLS_EXIT_INTERNAL;
		goto out;
	}

	if (o->send != NULL) {
		unsigned char buf[2048];
		size_t len = strlen(o->send), off = 0, got = 0;

		while (off < len + 1) {
			const unsigned char *p = off < len ? (const unsigned char *)o->send + off
			                                   : (const unsigned char *)"\n";
			size_t n = off < len ? len - off : 1;

			rc = mbedtls_ssl_write(&ssl, p, n);
			if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
				continue;
			if (rc < 0) {
				print_mbedtls_err(err, "write", rc);
				status = PA_TLS_EXIT_IO;
				goto out;
			}
			off += (size_t)rc;
		}
		fprintf(out, "sent: %s\n", o->send);
		/* read until a full line, the peer closes, or the timeout */
		while (got < sizeof(buf) - 1 && memchr(buf, '\n', got) == NULL) {
			rc = mbedtls_ssl_read(&ssl, buf + got, sizeof(buf) - 1 - got);
			if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
				continue;
			if (rc <= 0)
				break;
			got += (size_t)rc;
		}
		if (got == 0) {
			if (rc == MBEDTLS_ERR_SSL_TIMEOUT)
				fprintf(err, "agent-sim: no answer within %u ms\n", (unsigned)o->timeout_ms);
			else if (rc < 0)
				print_mbedtls_err(err, "read", rc);
			else
				fprintf(err, "agent-sim: the server closed without answering\n");
			status = PA_TLS_EXIT_IO;
			goto out;
		}
		buf[got] = '\0';
		buf[strcspn((char *)buf, "\r\n")] = '\0';
		fprintf(out, "received: %s\n", (char *)buf);
	}
	mbedtls_ssl_close_notify(&ssl);
out:
	mbedtls_ssl_free(&ssl);
	mbedtls_net_free(&net);
	mbedtls_ssl_conf_dbg(&t->conf, NULL, NULL);
	return status;
}

static int resolve_slot(const pa_agent *a, int64_t want, uint32_t *slot, FILE *err)
{
	if (want >= 0) {
		*slot = (uint32_t)want;
		return 0;
	}
	if (pa_tls_find_slot(a, slot) != PA_TLS_OK) {
		fprintf(err, "agent-sim: %s: name one with --slot\n",
		        a->installed.gen == PA_GEN_NONE ? "nothing installed"
		                                        : "not exactly one slot with TLS credentials");
		return -1;
	}
	return 0;
}

typedef struct {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
} rng_ctx;

static int rng_init(rng_ctx *r)
{
	static const unsigned char pers[] = "provkit agent-sim";

	mbedtls_entropy_init(&r->entropy);
	mbedtls_ctr_drbg_init(&r->drbg);
	return mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy, pers,
	                             sizeof(pers) - 1);
}

static void rng_free(rng_ctx *r)
{
	mbedtls_ctr_drbg_free(&r->drbg);
	mbedtls_entropy_free(&r->entropy);
}

int pa_tls_connect(const pa_agent *a, const pa_tls_connect_opts *o, FILE *out, FILE *err)
{
	static pa_tls t;   /* ~1 KB, and its work buffer: not on the stack */
	static uint8_t work[PA_BUNDLE_MAX];
	rng_ctx rng;
	mbedtls_ssl_session session;
	uint32_t slot = 0;
	int rc, detail = 0, status;
	time_t first = 0;
	uint32_t timeout = o->timeout_ms != 0 ? o->timeout_ms : 5000;

	if (resolve_slot(a, o->slot, &slot, err) != 0)
		return PA_TLS_EXIT_CONFIG;
	if (rng_init(&rng) != 0) {
		rng_free(&rng);
		fprintf(err, "agent-sim: no randomness\n");
		return PA_TLS_EXIT_INTERNAL;
	}
	rc = pa_tls_setup(&t, a, slot, work, sizeof(work), mbedtls_ctr_drbg_random, &rng.drbg,
	                  (uint64_t)time(NULL), &detail);
	if (rc != PA_TLS_OK) {
		fprintf(err, "agent-sim: slot %u: %s", (unsigned)slot, pa_tls_strerror(rc));
		if (detail < 0) {
			char buf[128];

			mbedtls_strerror(detail, buf, sizeof(buf));
			fprintf(err, " (%s)", buf);
		} else if (detail > 0) {
			fprintf(err, " (code %d)", detail);
		}
		fputc('\n', err);
		rng_free(&rng);
		return PA_TLS_EXIT_CONFIG;
	}
	if (o->dtls && t.conf.transport != MBEDTLS_SSL_TRANSPORT_DATAGRAM) {
		fprintf(err, "agent-sim: slot %u: --dtls, but the installed profile says TLS\n",
		        (unsigned)slot);
		status = PA_TLS_EXIT_CONFIG;
		goto done;
	}
	mbedtls_ssl_conf_read_timeout(&t.conf, timeout);
	if (t.conf.transport == MBEDTLS_SSL_TRANSPORT_DATAGRAM)
		mbedtls_ssl_conf_handshake_timeout(&t.conf, 500, timeout);
	mbedtls_debug_set_threshold(3);   /* debug_cb only picks facts out of it */
	print_config(&t, out);

	mbedtls_ssl_session_init(&session);
	first = time(NULL);
	status = one_connection(&t, o, NULL, o->resume ? &session : NULL, out, err);
	if (status == PA_TLS_EXIT_OK && o->resume) {
		int allowed = (t.prof.present & (1u << 6)) && t.prof.resumption;
		int fresh = !(t.prof.present & (1u << 7)) ||
		            (uint64_t)(time(NULL) - first) <= t.prof.ticket_lifetime;

		if (!allowed)
			fprintf(out, "reconnecting: the profile does not allow resumption\n");
		else if (!fresh)
			fprintf(out, "reconnecting: the session is older than the ticket lifetime\n");
		else
			fprintf(out, "reconnecting with the saved session\n");
		status = one_connection(&t, o, allowed && fresh ? &session : NULL, NULL, out, err);
	}
	mbedtls_ssl_session_free(&session);
	if (status == PA_TLS_EXIT_OK)
		fprintf(out, "handshake ok\n");
done:
	pa_tls_free(&t);
	rng_free(&rng);
	return status;
}

static void print_hex(FILE *out, const char *label, const uint8_t *p, size_t n)
{
	size_t i;

	fprintf(out, "%s: ", label);
	for (i = 0; i < n; i++)
		fprintf(out, "%02x", p[i]);
	fputc('\n', out);
}

int pa_tls_key_proof(const pa_agent *a, int64_t want, const uint8_t *msg, size_t len,
                     FILE *out, FILE *err)
{
	uint8_t spki[256], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
	size_t spki_len = 0, sig_len = 0;
	uint32_t slot = 0;
	rng_ctx rng;
	int rc;

	if (resolve_slot(a, want, &slot, err) != 0)
		return PA_TLS_EXIT_CONFIG;
	if (rng_init(&rng) != 0) {
		rng_free(&rng);
		return PA_TLS_EXIT_INTERNAL;
	}
	rc = pa_tls_key_spki(a, slot, spki, sizeof(spki), &spki_len);
	if (rc == PA_TLS_OK)
		rc = pa_tls_key_sign(a, slot, msg, len, sig, sizeof(sig), &sig_len,
		                     mbedtls_ctr_drbg_random, &rng.drbg);
	rng_free(&rng);
	if (rc != PA_TLS_OK) {
		fprintf(err, "agent-sim: slot %u: %s\n", (unsigned)slot, pa_tls_strerror(rc));
		return PA_TLS_EXIT_CONFIG;
	}
	print_hex(out, "spki", spki, spki_len);
	print_hex(out, "signature", sig, sig_len);
	return PA_TLS_EXIT_OK;
}
