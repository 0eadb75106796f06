/*
 * pa_fw_tls.c - the TLS image's application: connect (pa_fw_tls.h).
 *
 * The link is the board's second UART: a byte stream for TLS, datagrams in
 * SLIP frames (RFC 1055, link/pa_slip.h) for DTLS; the host's bridge
 * (tests/tools/uart_bridge.py) carries them to a TCP or UDP server.  Mbed TLS
 * reads and writes through the callbacks below, with the read timeout and,
 * for DTLS, the retransmission timer on the board's millisecond tick.
 *
 * What a connection reports (docs/serial-protocol.md, connect): handshake
 * result, version and suite, whether a saved session was offered and
 * resumed, the max fragment length the server agreed to (read from its
 * ServerHello: Mbed TLS 2.28 has no API for it, see server_hello_mfl), bytes
 * on the link, the answer, and RAM: the stack's high-water mark (painted
 * before the handshake and again before the data) and the Mbed TLS pool's.
 */
#include <string.h>

#include <mbedtls/platform_util.h>
#include <mbedtls/psa_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>

#include "board/pa_fw.h"
#include "board/pa_fw_tls.h"
#include "link/pa_slip.h"
#include "pa/pa_board.h"
#include "smp/pa_cbw.h"
#include "tls/pa_tls.h"
#include "verify/pa_cbor.h"

#define REPLY_MAX 128          /* bytes of the answer reported */
#define CHUNK 256              /* application data per read / write call */
#define DTLS_RETRANSMIT_MS 1000u   /* RFC 6347 4.2.4.1: initial timer 1 s */
#define NAME_MAX_LEN 48
#define CLOSE_WAIT_MS 500u     /* for the peer's close_notify after ours */
#define QUIET_MS 100u          /* the link is quiet: nothing for this long */
#define QUIET_MAX_MS 2000u     /* ... or the flush gives up waiting for it */

typedef struct result {
	uint8_t res;               /* enum pa_fw_tls_res */
	int32_t tls;               /* Mbed TLS's error, 0 if none */
	uint32_t flags;            /* X.509 verification flags */
	uint8_t mode;              /* enum pa_tls_mode */
	uint8_t dtls;
	uint32_t kid;              /* PSA key ID used (device key or PSK), 0 none */
	char version[NAME_MAX_LEN];
	char suite[NAME_MAX_LEN];
	uint8_t resumable;         /* the profile allows resumption */
	uint8_t offered;           /* a saved session was offered */
	uint8_t resumed;           /* ... and the server took it */
	uint16_t mfl_req;          /* max fragment length asked for, 0 none */
	uint16_t mfl;              /* agreed to by the server (or the session's), 0 none */
	uint32_t hs_tx, hs_rx;     /* link bytes during the handshake */
	uint32_t tx, rx;           /* link bytes of the whole connection */
	uint32_t sent, got;        /* application bytes */
	uint8_t reply[REPLY_MAX];
	size_t reply_len;
	uint32_t hs_ms;
	uint64_t hs_ticks;         /* the handshake's board ticks, waits included */
	uint64_t hs_busy;          /* ... without the waits for the peer (under QEMU's
	                              -icount: the device's instructions / 40) */
	uint32_t stack_hs, stack_data, pool_hs, pool;
	uint32_t stale;            /* bytes of an earlier connection flushed first */
} result;

static struct app {
	pa_agent *agent;
	pa_smp_app smp;
	pa_tls t;
	mbedtls_ssl_context ssl;
	/* the session of the last handshake, for the next connect */
	mbedtls_ssl_session session;
	int have_session;
	uint32_t session_slot;
	uint64_t session_counter;  /* the installed set it was made with */
	uint32_t session_ms;       /* when */
	uint16_t session_mfl;
	/* the last answer, for a retransmitted request (same id) */
	result last;
	uint8_t last_id[PA_SMP_CONNECT_ID_MAX];
	size_t last_id_len;
} app;

/* ---- the link ------------------------------------------------------------------ */

static struct link {
	uint32_t tx, rx;           /* record bytes (TLS) or datagram bytes (DTLS) */
	uint64_t waited;           /* ticks spent waiting for bytes */
	pa_slip_rx slip;
	uint32_t timer_start, timer_int, timer_fin;
} lk;

static int uart_write(void *ctx, const uint8_t *b, size_t n)
{
	(void)ctx;
	return pa_board_net_write(b, n) == PA_BOARD_OK ? 0 : -1;
}

static int stream_send(void *ctx, const unsigned char *buf, size_t len)
{
	(void)ctx;
	if (uart_write(NULL, buf, len) != 0)
		return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	lk.tx += (uint32_t)len;
	return (int)len;
}

/* Wait for bytes up to timeout ms (0: Mbed TLS's "no timeout" is never
 * asked for here: the read timeout is always set). */
static int stream_recv(void *ctx, unsigned char *buf, size_t len, uint32_t timeout)
{
	uint32_t t0 = pa_board_ms();
	uint64_t k0 = pa_board_ticks();
	int rc;

	(void)ctx;
	for (;;) {
		size_t n = pa_board_net_read(buf, len);

		if (n > 0) {
			lk.rx += (uint32_t)n;
			rc = (int)n;
			break;
		}
		if (pa_board_ms() - t0 >= timeout) {
			rc = MBEDTLS_ERR_SSL_TIMEOUT;
			break;
		}
		pa_board_idle();
	}
	lk.waited += pa_board_ticks() - k0;
	return rc;
}

static int dgram_send(void *ctx, const unsigned char *buf, size_t len)
{
	(void)ctx;
	if (pa_slip_send(buf, len, uart_write, NULL) != 0)
		return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	lk.tx += (uint32_t)len;
	return (int)len;
}

/* One datagram into buf: SLIP decoded byte by byte, so a frame's end is
 * never read past.  A frame longer than buf is dropped whole (pa_slip.h). */
static int dgram_recv(void *ctx, unsigned char *buf, size_t len, uint32_t timeout)
{
	uint32_t t0 = pa_board_ms();
	uint64_t k0 = pa_board_ticks();
	uint8_t b;
	int rc = 0;

	(void)ctx;
	if (lk.slip.buf != buf || lk.slip.cap != len)
		pa_slip_rx_init(&lk.slip, buf, len);
	while (rc == 0) {
		while (rc == 0 && pa_board_net_read(&b, 1) == 1) {
			if (pa_slip_rx_byte(&lk.slip, b) == PA_SLIP_FRAME) {
				lk.rx += (uint32_t)lk.slip.len;
				rc = (int)lk.slip.len;   /* > 0: a frame is never empty */
			}
		}
		if (rc == 0 && pa_board_ms() - t0 >= timeout)
			rc = MBEDTLS_ERR_SSL_TIMEOUT;
		else if (rc == 0)
			pa_board_idle();
	}
	lk.waited += pa_board_ticks() - k0;
	return rc;
}

/* DTLS's timer (mbedtls_ssl_set_timer_cb) on the board's milliseconds. */
static void timer_set(void *ctx, uint32_t int_ms, uint32_t fin_ms)
{
	(void)ctx;
	lk.timer_start = pa_board_ms();
	lk.timer_int = int_ms;
	lk.timer_fin = fin_ms;
}

static int timer_get(void *ctx)
{
	uint32_t el = pa_board_ms() - lk.timer_start;

	(void)ctx;
	if (lk.timer_fin == 0)
		return -1;
	if (el >= lk.timer_fin)
		return 2;
	return el >= lk.timer_int ? 1 : 0;
}

/* ---- facts about the handshake ----------------------------------------------- */

/* The max fragment length the server's ServerHello agreed to (its extension 1,
 * RFC 6066), 0 if it has none.  Called right after the step that parsed the
 * ServerHello: in_msg still holds it, and Mbed TLS has checked its shape and
 * that an echoed length is the one asked for.  Lengths are checked again. */
static uint16_t server_hello_mfl(const mbedtls_ssl_context *ssl, int dtls)
{
	size_t hl = dtls ? 12u : 4u, n;
	const uint8_t *p = ssl->in_msg, *end;

	if (p == NULL || ssl->in_hslen < hl + 38u || p[0] != MBEDTLS_SSL_HS_SERVER_HELLO)
		return 0;
	end = p + ssl->in_hslen;
	p += hl + 34u;                    /* version, random */
	n = *p++;                         /* session ID */
	if ((size_t)(end - p) < n + 3u)
		return 0;
	p += n + 3u;                      /* cipher suite, compression */
	if (end - p < 2)
		return 0;                     /* no extensions */
	n = (size_t)p[0] << 8 | p[1];
	p += 2;
	if ((size_t)(end - p) < n)
		return 0;
	end = p + n;
	while (end - p >= 4) {
		unsigned type = (unsigned)p[0] << 8 | p[1];
		size_t len = (size_t)p[2] << 8 | p[3];

		p += 4;
		if ((size_t)(end - p) < len)
			return 0;
		if (type == 1 && len == 1 && p[0] >= 1 && p[0] <= 4)
			return (uint16_t)(256u << p[0]);   /* 1: 2^9 .. 4: 2^12 */
		p += len;
	}
	return 0;
}

static void copy_name(char *dst, const char *src)
{
	size_t i;

	for (i = 0; src != NULL && src[i] != '\0' && i < NAME_MAX_LEN - 1; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

static uint32_t stack_now(void)
{
	pa_board_stats st;

	pa_board_stats_get(&st);
	return st.stack_used;
}

/* ---- one connection -------------------------------------------------------------- */

static int offer_session(const pa_tls *t, uint32_t slot, int fresh)
{
	const pa_tls_profile *p = &t->prof;

	if (fresh || !app.have_session || app.session_slot != slot ||
	    app.session_counter != app.agent->installed.counter)
		return 0;
	/* the profile's ticket lifetime, by the board's clock since it was saved */
	if ((p->present & (1u << 7)) && (pa_board_ms() - app.session_ms) / 1000u > p->ticket_lifetime)
		return 0;
	return 1;
}

static void drop_session(void)
{
	if (app.have_session)
		mbedtls_ssl_session_free(&app.session);
	mbedtls_ssl_session_init(&app.session);
	app.have_session = 0;
}

static void save_session(uint32_t slot, uint16_t mfl)
{
	drop_session();
	if (mbedtls_ssl_get_session(&app.ssl, &app.session) != 0) {
		drop_session();
		return;
	}
	app.have_session = 1;
	app.session_slot = slot;
	app.session_counter = app.agent->installed.counter;
	app.session_ms = pa_board_ms();
	app.session_mfl = mfl;
}

static int handshake(result *r, uint32_t slot, uint32_t timeout)
{
	uint32_t t0 = pa_board_ms();
	uint64_t k0 = pa_board_ticks();
	int rc = 0, before;

	while (app.ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
		before = app.ssl.state;
		rc = mbedtls_ssl_handshake_step(&app.ssl);
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
			rc = 0;
			/* DTLS retransmits inside; bounded by our own deadline too */
			if (pa_board_ms() - t0 > 2u * timeout) {
				rc = MBEDTLS_ERR_SSL_TIMEOUT;
				break;
			}
			continue;
		}
		if (rc != 0)
			break;
		if (before == MBEDTLS_SSL_SERVER_HELLO && app.ssl.state != MBEDTLS_SSL_SERVER_HELLO &&
		    app.ssl.state != MBEDTLS_SSL_CLIENT_HELLO) {
			/* a resumed session goes straight to the server's
			 * ChangeCipherSpec (ssl_cli.c, ssl_parse_server_hello) */
			r->resumed = app.ssl.state == MBEDTLS_SSL_SERVER_CHANGE_CIPHER_SPEC;
			r->mfl = server_hello_mfl(&app.ssl, r->dtls);
			if (r->resumed && r->mfl == 0)
				r->mfl = app.session_mfl;   /* the resumed session's */
		}
	}
	r->hs_ms = pa_board_ms() - t0;
	r->hs_ticks = pa_board_ticks() - k0;
	r->hs_busy = r->hs_ticks - lk.waited;
	r->hs_tx = lk.tx;
	r->hs_rx = lk.rx;
	if (rc == 0) {
		copy_name(r->version, mbedtls_ssl_get_version(&app.ssl));
		copy_name(r->suite, mbedtls_ssl_get_ciphersuite(&app.ssl));
		if (r->resumable)
			save_session(slot, r->mfl);
		return PA_FW_TLS_OK;
	}
	r->tls = rc;
	if (r->offered)
		drop_session();   /* it did not work once: start afresh next time */
	if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || rc == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE) {
		/* the chain, or the server certificate's keyUsage / extendedKeyUsage
		 * (BAD_HS_CERTIFICATE with 0x800 / 0x1000); BAD_HS_CERTIFICATE
		 * without a flag is a malformed Certificate message */
		uint32_t flags = mbedtls_ssl_get_verify_result(&app.ssl);

		if (rc == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || (flags != 0 && flags != (uint32_t)-1)) {
			r->flags = flags;
			return PA_FW_TLS_VERIFY;
		}
	}
	return rc == MBEDTLS_ERR_SSL_TIMEOUT && lk.rx == 0 ? PA_FW_TLS_LINK : PA_FW_TLS_HANDSHAKE;
}

/* The data: the request's text and a newline, or a generated line of `echo`
 * bytes (a newline last); then read until a newline came back (text), as
 * many bytes as were sent (echo), the peer closed, or the timeout. */
static int exchange(result *r, const pa_smp_connect_req *q)
{
	uint8_t buf[CHUNK];
	uint32_t want = q->send != NULL ? (uint32_t)q->send_len + 1u : q->echo;
	uint32_t off = 0;
	int rc = 0, nl = 0;

	while (off < want) {
		size_t n = want - off < CHUNK ? want - off : CHUNK, i;

		for (i = 0; i < n; i++) {
			uint32_t at = off + (uint32_t)i;

			buf[i] = at + 1 == want ? '\n' :
			         q->send != NULL ? q->send[at] : (uint8_t)('a' + at % 26u);
		}
		rc = mbedtls_ssl_write(&app.ssl, buf, n);
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (rc < 0)
			break;
		off += (uint32_t)rc;   /* a partial write: at most a record */
	}
	r->sent = off;
	if (rc < 0) {
		r->tls = rc;
		return PA_FW_TLS_IO;
	}
	while (q->send != NULL ? !nl : r->got < want) {
		rc = mbedtls_ssl_read(&app.ssl, buf, sizeof(buf));
		if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (rc <= 0)
			break;
		if (r->reply_len < REPLY_MAX) {
			size_t n = (size_t)rc < REPLY_MAX - r->reply_len ? (size_t)rc : REPLY_MAX - r->reply_len;

			memcpy(r->reply + r->reply_len, buf, n);
			r->reply_len += n;
		}
		nl = memchr(buf, '\n', (size_t)rc) != NULL;
		r->got += (uint32_t)rc;
	}
	if (r->got == 0 || (q->send == NULL && r->got < want)) {
		r->tls = rc < 0 ? rc : 0;
		return PA_FW_TLS_IO;
	}
	return PA_FW_TLS_OK;
}

/* Ours, then the peer's close_notify (RFC 5246 7.2.1), so its alert does not
 * meet the next connection on the link; not waited for past CLOSE_WAIT_MS. */
static void close_connection(void)
{
	uint8_t b[16];
	int rc;

	if (mbedtls_ssl_close_notify(&app.ssl) != 0)
		return;
	mbedtls_ssl_conf_read_timeout(&app.t.conf, CLOSE_WAIT_MS);
	do
		rc = mbedtls_ssl_read(&app.ssl, b, sizeof(b));
	while (rc > 0 || rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE);
}

/* Bytes a previous connection left on the link are not this connection's: a
 * late alert, or the rest of a flight a refused handshake stopped reading
 * (the host still holds it: QEMU hands the UART one byte at a time).  Read
 * until the link has been quiet for QUIET_MS. */
static uint32_t flush_link(void)
{
	uint8_t b[32];
	uint32_t t0 = pa_board_ms(), last = t0, n, dropped = 0;

	while (pa_board_ms() - last < QUIET_MS && pa_board_ms() - t0 < QUIET_MAX_MS) {
		n = (uint32_t)pa_board_net_read(b, sizeof(b));
		if (n > 0) {
			dropped += n;
			last = pa_board_ms();
		} else {
			pa_board_idle();
		}
	}
	return dropped;
}

static int run(result *r, const pa_smp_connect_req *q)
{
	pa_tls *t = &app.t;
	uint32_t slot = q->slot, timeout = q->timeout_ms != 0 ? q->timeout_ms : PA_FW_TLS_TIMEOUT_MS;
	int rc, detail = 0;

	if (!q->has_slot && pa_tls_find_slot(app.agent, &slot) != PA_TLS_OK)
		return PA_TLS_E_NO_SLOT;
	/* the work buffer: the agent's bundle buffer, idle outside an install
	 * (pa_smp.c abandoned any upload before calling us) */
	rc = pa_tls_setup(t, app.agent, slot, app.agent->bundle, sizeof(app.agent->bundle),
	                  mbedtls_psa_get_random, MBEDTLS_PSA_RANDOM_STATE, pa_board_time(), &detail);
	if (rc != PA_TLS_OK)
		return rc;
	r->mode = (uint8_t)t->mode;
	r->kid = t->key_id;
	r->dtls = t->conf.transport == MBEDTLS_SSL_TRANSPORT_DATAGRAM;
	r->mfl_req = t->mfl;
	r->resumable = (t->prof.present & (1u << 6)) && t->prof.resumption;
	mbedtls_ssl_conf_read_timeout(&t->conf, timeout);
	if (r->dtls)
		mbedtls_ssl_conf_handshake_timeout(&t->conf, DTLS_RETRANSMIT_MS,
		                                   timeout > DTLS_RETRANSMIT_MS ? timeout : DTLS_RETRANSMIT_MS);
	r->stale = flush_link();
	memset(&lk, 0, sizeof(lk));
	mbedtls_ssl_init(&app.ssl);
	r->offered = r->resumable && offer_session(t, slot, q->fresh);
	if ((rc = mbedtls_ssl_setup(&app.ssl, &t->conf)) != 0 ||
	    (rc = pa_tls_set_hostname(t, &app.ssl)) != 0 ||
	    (r->offered && (rc = mbedtls_ssl_set_session(&app.ssl, &app.session)) != 0)) {
		r->tls = rc;
		r->res = PA_FW_TLS_HANDSHAKE;
		goto out;
	}
	if (r->dtls) {
		mbedtls_ssl_set_bio(&app.ssl, NULL, dgram_send, NULL, dgram_recv);
		mbedtls_ssl_set_timer_cb(&app.ssl, NULL, timer_set, timer_get);
	} else {
		mbedtls_ssl_set_bio(&app.ssl, NULL, stream_send, NULL, stream_recv);
	}
	r->res = (uint8_t)handshake(r, slot, timeout);
	r->stack_hs = stack_now();
	r->pool_hs = pa_fw_pool_used();
	if (r->res == PA_FW_TLS_OK && (q->send != NULL || q->echo > 0)) {
		pa_board_stack_mark();
		r->res = (uint8_t)exchange(r, q);
		r->stack_data = stack_now();
	}
	if (r->res == PA_FW_TLS_OK)
		close_connection();
out:
	r->tx = lk.tx;
	r->rx = lk.rx;
	mbedtls_ssl_free(&app.ssl);
	pa_tls_free(t);
	r->pool = pa_fw_pool_used();
	return PA_OK;
}

/* ---- the answer ---------------------------------------------------------------------- */

/* Each field is written (w != NULL) or counted (w == NULL): one function
 * gives both the map's size and its entries. */
static void k_uint(pa_cbw *w, unsigned *n, const char *k, uint64_t v)
{
	(*n)++;
	if (w != NULL) {
		pa_cbw_key(w, k);
		pa_cbw_head(w, PA_CBOR_UINT, v);
	}
}

static void k_int(pa_cbw *w, unsigned *n, const char *k, int32_t v)
{
	(*n)++;
	if (w != NULL) {
		pa_cbw_key(w, k);
		if (v < 0)
			pa_cbw_head(w, PA_CBOR_NINT, (uint64_t)(-1 - (int64_t)v));
		else
			pa_cbw_head(w, PA_CBOR_UINT, (uint64_t)v);
	}
}

static void k_bool(pa_cbw *w, unsigned *n, const char *k, int v)
{
	(*n)++;
	if (w != NULL) {
		pa_cbw_key(w, k);
		pa_cbw_head(w, PA_CBOR_SIMPLE, v ? 21u : 20u);
	}
}

static void k_str(pa_cbw *w, unsigned *n, const char *k, int major, const void *p, size_t len)
{
	(*n)++;
	if (w != NULL) {
		pa_cbw_key(w, k);
		pa_cbw_str(w, major, p, len);
	}
}

static void fields(const result *r, pa_cbw *w, unsigned *n)
{
	static const char *const modes[] = { "none", "cert", "psk" };

	*n = 0;
	k_uint(w, n, "res", r->res);
	if (r->tls != 0)
		k_int(w, n, "tls", r->tls);
	if (r->flags != 0)
		k_uint(w, n, "flags", r->flags);
	k_str(w, n, "mode", PA_CBOR_TSTR, modes[r->mode < 3 ? r->mode : 0],
	      strlen(modes[r->mode < 3 ? r->mode : 0]));
	if (r->kid != 0)
		k_uint(w, n, "kid", r->kid);
	k_str(w, n, "transport", PA_CBOR_TSTR, r->dtls ? "dtls" : "tls", r->dtls ? 4 : 3);
	if (r->version[0] != '\0')
		k_str(w, n, "ver", PA_CBOR_TSTR, r->version, strlen(r->version));
	if (r->suite[0] != '\0')
		k_str(w, n, "suite", PA_CBOR_TSTR, r->suite, strlen(r->suite));
	k_bool(w, n, "resumable", r->resumable);
	k_bool(w, n, "offered", r->offered);
	k_bool(w, n, "resumed", r->resumed);
	k_uint(w, n, "mfl_req", r->mfl_req);
	k_uint(w, n, "mfl", r->mfl);
	k_uint(w, n, "hs_tx", r->hs_tx);
	k_uint(w, n, "hs_rx", r->hs_rx);
	k_uint(w, n, "tx", r->tx);
	k_uint(w, n, "rx", r->rx);
	k_uint(w, n, "sent", r->sent);
	k_uint(w, n, "got", r->got);
	if (r->reply_len > 0)
		k_str(w, n, "reply", PA_CBOR_BSTR, r->reply, r->reply_len);
	k_uint(w, n, "hs_ms", r->hs_ms);
	k_uint(w, n, "hs_ticks", r->hs_ticks);
	k_uint(w, n, "hs_busy", r->hs_busy);
	if (r->stale != 0)
		k_uint(w, n, "stale", r->stale);
	k_uint(w, n, "content", MBEDTLS_SSL_IN_CONTENT_LEN);
	k_uint(w, n, "stack_hs", r->stack_hs);
	k_uint(w, n, "stack_data", r->stack_data);
	k_uint(w, n, "pool_hs", r->pool_hs);
	k_uint(w, n, "pool", r->pool);
	k_uint(w, n, "pool_size", pa_fw_pool_size());
}

static void answer(const result *r, pa_cbw *w)
{
	unsigned n;

	fields(r, NULL, &n);
	pa_cbw_head(w, PA_CBOR_MAP, n);
	fields(r, w, &n);
}

static int connect(void *ctx, const pa_smp_connect_req *q, struct pa_cbw *w)
{
	int rc;

	(void)ctx;
	/* a retransmission of the last request: its answer again, nothing run */
	if (q->id != NULL && q->id_len == app.last_id_len && app.last_id_len > 0 &&
	    memcmp(q->id, app.last_id, q->id_len) == 0) {
		answer(&app.last, w);
		return PA_OK;
	}
	memset(&app.last, 0, sizeof(app.last));
	app.last_id_len = 0;
	pa_board_stack_mark();
	rc = run(&app.last, q);
	/* the work buffer held public data only; leave nothing of it */
	mbedtls_platform_zeroize(app.agent->bundle, sizeof(app.agent->bundle));
	if (rc != PA_OK)
		return rc;
	if (q->id != NULL) {
		memcpy(app.last_id, q->id, q->id_len);
		app.last_id_len = q->id_len;
	}
	answer(&app.last, w);
	return PA_OK;
}

void pa_fw_tls_start(pa_smp *s, pa_agent *a)
{
	memset(&app, 0, sizeof(app));
	app.agent = a;
	mbedtls_ssl_session_init(&app.session);
	app.smp.ctx = NULL;
	app.smp.connect = connect;
	pa_board_net_init();
	pa_smp_set_app(s, &app.smp);
}
