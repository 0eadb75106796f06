/*
 * pa_smp.c - the agent's SMP server: header, dispatch, the OS group's echo and
 * the provisioning group (pa/pa_smp.h, docs/serial-protocol.md).
 */
#include <string.h>

#include "pa/pa_keygen.h"
#include "pa/pa_smp.h"
#include "smp/pa_cbw.h"
#include "verify/pa_cbor.h"
#include "verify/pa_verify.h"

#define HDR 8
#define COMMIT_HEAD 48   /* the commit record's head (store/pa_store.c); the receipt follows */
#define SHA_REC 40       /* PA_UID_RECEIPT: bundle SHA-256, counter (u64 LE) */

/* ---- request bodies: a map with text keys, read with the agent's reader --- */

static void skip(pa_cbor *r)
{
	size_t l;
	int m = pa_cbor_peek(r);

	if (m == PA_CBOR_BSTR || m == PA_CBOR_TSTR)
		(void)pa_cbor_bytes(r, m, 0, (size_t)-1, &l);
	else if (m == PA_CBOR_UINT || m == PA_CBOR_NINT || m == PA_CBOR_SIMPLE)
		(void)pa_cbor_head(r, m);
	else
		pa_cbor_fail(r, m < 0 ? PA_CBOR_TRUNCATED : PA_CBOR_TYPE);
}

/* Position r at the value of key k: 1 found, 0 absent, -1 the body is not a
 * flat map of text keys (an empty body is the empty map). */
static int field(const uint8_t *b, size_t n, const char *k, pa_cbor *r)
{
	size_t kl = k != NULL ? strlen(k) : 0, l;
	uint64_t cnt, i;
	const uint8_t *key;

	pa_cbor_init(r, b, n);
	if (n == 0)
		return 0;
	cnt = pa_cbor_head(r, PA_CBOR_MAP);
	for (i = 0; i < cnt && pa_cbor_err(r) == PA_CBOR_OK; i++) {
		key = pa_cbor_bytes(r, PA_CBOR_TSTR, 0, 64, &l);
		if (k != NULL && pa_cbor_err(r) == PA_CBOR_OK && l == kl && memcmp(key, k, kl) == 0)
			return 1;
		skip(r);
	}
	return pa_cbor_at_end(r) ? 0 : -1;
}

typedef struct req {
	const uint8_t *b;
	size_t n;
	int bad;
} req;

/* uint field: its value, or `dflt` if absent; a wrong type marks bad. */
static uint64_t get_uint(req *q, const char *k, uint64_t max, uint64_t dflt, int *found)
{
	pa_cbor r;
	uint64_t v;
	int f = field(q->b, q->n, k, &r);

	if (found != NULL)
		*found = f == 1;
	if (f != 1)
		return dflt;
	v = pa_cbor_uint(&r, max);
	if (pa_cbor_err(&r) != PA_CBOR_OK)
		q->bad = 1;
	return v;
}

/* string field of min..max bytes, or NULL if absent (bad if malformed). */
static const uint8_t *get_str(req *q, const char *k, int major, size_t min, size_t max,
                              size_t *len)
{
	pa_cbor r;
	const uint8_t *p;

	*len = 0;
	if (field(q->b, q->n, k, &r) != 1)
		return NULL;
	p = pa_cbor_bytes(&r, major, min, max, len);
	if (pa_cbor_err(&r) != PA_CBOR_OK) {
		q->bad = 1;
		return NULL;
	}
	return p;
}

/* ---- the receipt of the installed set, kept in storage ------------------------ */

/* The receipt is the commit record's tail (store/pa_store.c: it is written
 * with the set it belongs to, in the one write that commits both).  This
 * server's own record keeps only the SHA-256 of the bundle it came from, with
 * the counter, to answer a repeated commit; written after the commit, so a cut
 * between the two loses only that (status still carries the receipt). */
static void load_receipt(pa_smp *s)
{
	uint8_t buf[COMMIT_HEAD + PA_RECEIPT_MAX];
	size_t len = 0, i;
	uint64_t ctr = 0;
	const pa_port *p = s->a->port;

	s->receipt_len = 0;
	if (s->a->installed.counter == 0 ||
	    p->get(p->ctx, PA_UID_COMMIT, buf, sizeof(buf), &len) != PA_PORT_OK ||
	    len <= COMMIT_HEAD)
		return;
	memcpy(s->receipt, buf + COMMIT_HEAD, len - COMMIT_HEAD);
	s->receipt_len = len - COMMIT_HEAD;
	if (p->get(p->ctx, PA_UID_RECEIPT, buf, SHA_REC, &len) != PA_PORT_OK || len != SHA_REC)
		return;
	for (i = 0; i < 8; i++)
		ctr |= (uint64_t)buf[32 + i] << (8 * i);
	if (ctr == s->a->installed.counter)
		memcpy(s->last_sha, buf, 32);
}

static void store_sha(pa_smp *s)
{
	uint8_t buf[SHA_REC];
	size_t i;
	const pa_port *p = s->a->port;

	memcpy(buf, s->last_sha, 32);
	for (i = 0; i < 8; i++)
		buf[32 + i] = (uint8_t)(s->a->installed.counter >> (8 * i));
	/* best effort: without it a repeated commit after a restart is refused
	 * (PA_A_STATE); status answers the receipt either way */
	(void)p->set(p->ctx, PA_UID_RECEIPT, buf, SHA_REC);
}

/* ---- commands ----------------------------------------------------------------- */

static int echo(pa_smp *s, req *q, pa_cbw *w)
{
	size_t n;
	const uint8_t *d = get_str(q, "d", PA_CBOR_TSTR, 0, PA_SMP_MTU, &n);

	(void)s;
	if (d == NULL)
		return PA_SMP_EINVAL;
	pa_cbw_head(w, PA_CBOR_MAP, 1);
	pa_cbw_key(w, "r");
	pa_cbw_str(w, PA_CBOR_TSTR, d, n);
	return PA_OK;
}

static int info(pa_smp *s, req *q, pa_cbw *w)
{
	uint8_t spki[PA_SPKI_LEN];
	const pa_agent *a = s->a;

	(void)q;
	pa_spki_p256(a->pub, spki);
	pa_cbw_head(w, PA_CBOR_MAP, 8);
	pa_cbw_key(w, "dev");
	pa_cbw_str(w, PA_CBOR_TSTR, a->device_id, a->device_id_len);
	pa_cbw_key(w, "ver");
	pa_cbw_key(w, s->version);
	pa_cbw_key(w, "mtu");
	pa_cbw_head(w, PA_CBOR_UINT, PA_SMP_MTU);
	pa_cbw_key(w, "max");
	pa_cbw_head(w, PA_CBOR_UINT, PA_BUNDLE_MAX);
	pa_cbw_key(w, "slots");
	pa_cbw_head(w, PA_CBOR_UINT, PA_ENTRIES_MAX);
	pa_cbw_key(w, "pub");
	pa_cbw_str(w, PA_CBOR_BSTR, spki, sizeof(spki));
	pa_cbw_key(w, "nonce");
	pa_cbw_str(w, PA_CBOR_BSTR, a->nonce, a->nonce_len);
	pa_cbw_key(w, "ctr");
	pa_cbw_head(w, PA_CBOR_UINT, a->installed.counter);
	return PA_OK;
}

static int keygen(pa_smp *s, req *q, pa_cbw *w)
{
	uint8_t csr[PA_CSR_MAX];
	size_t cn_len, len = 0;
	int found;
	uint64_t slot = get_uint(q, "slot", 0xffffffffu, 0, &found);
	const uint8_t *cn = get_str(q, "cn", PA_CBOR_TSTR, 1, 64, &cn_len);
	psa_key_id_t id = 0;
	int rc;

	if (q->bad || !found || cn == NULL)
		return PA_A_ARGS;
	rc = pa_keygen(s->a, (uint32_t)slot, &id);
	if (rc == PA_OK)
		rc = pa_keygen_csr(id, (const char *)cn, cn_len, csr, sizeof(csr), &len);
	if (rc != PA_OK)
		return rc;
	pa_cbw_head(w, PA_CBOR_MAP, 2);
	pa_cbw_key(w, "slot");
	pa_cbw_head(w, PA_CBOR_UINT, slot);
	pa_cbw_key(w, "csr");
	pa_cbw_str(w, PA_CBOR_BSTR, csr, len);
	return PA_OK;
}

static int upload(pa_smp *s, req *q, pa_cbw *w)
{
	pa_agent *a = s->a;
	size_t dlen, slen, have, same;
	int has_off, has_len;
	uint64_t off = get_uint(q, "off", PA_BUNDLE_MAX, 0, &has_off);
	uint64_t total = get_uint(q, "len", 0xffffffffu, 0, &has_len);
	const uint8_t *data = get_str(q, "data", PA_CBOR_BSTR, 0, PA_SMP_MTU, &dlen);
	const uint8_t *sha = get_str(q, "sha", PA_CBOR_BSTR, 32, 32, &slen);

	if (q->bad || !has_off || data == NULL || (off == 0 && (!has_len || sha == NULL)))
		return PA_A_ARGS;
	if (off == 0 &&
	    (s->up_len != total || memcmp(s->up_sha, sha, 32) != 0 || a->bundle_len < dlen ||
	     memcmp(a->bundle, data, dlen) != 0)) {
		/* a new upload (not a retransmission of this one's first chunk) */
		if (total == 0 || total > PA_BUNDLE_MAX)
			return PA_V_TOO_LARGE;
		s->up_len = (size_t)total;
		memcpy(s->up_sha, sha, 32);
		pa_install_begin(a);
	}
	have = a->bundle_len;
	if (s->up_len == 0 || off > have)
		return PA_A_STATE;
	if (off + dlen > s->up_len)
		return PA_V_TOO_LARGE;
	same = have - off < dlen ? have - off : dlen;
	if (memcmp(a->bundle + off, data, same) != 0)
		return PA_A_ARGS;   /* other bytes at an offset already held */
	if (dlen > same && pa_install_push(a, data + same, dlen - same) != PA_OK)
		return PA_V_TOO_LARGE;
	pa_cbw_head(w, PA_CBOR_MAP, 1);
	pa_cbw_key(w, "off");
	pa_cbw_head(w, PA_CBOR_UINT, a->bundle_len);
	return PA_OK;
}

static void commit_answer(pa_smp *s, pa_cbw *w)
{
	pa_cbw_head(w, PA_CBOR_MAP, 3);
	pa_cbw_key(w, "ctr");
	pa_cbw_head(w, PA_CBOR_UINT, s->a->installed.counter);
	pa_cbw_key(w, "digest");
	pa_cbw_str(w, PA_CBOR_BSTR, s->a->installed.digest, 32);
	pa_cbw_key(w, "receipt");
	pa_cbw_str(w, PA_CBOR_BSTR, s->receipt, s->receipt_len);
}

static int commit(pa_smp *s, req *q, pa_cbw *w)
{
	pa_agent *a = s->a;
	uint8_t got[32];
	size_t slen, hl = 0;
	const uint8_t *sha = get_str(q, "sha", PA_CBOR_BSTR, 32, 32, &slen);
	int rc;

	if (q->bad || sha == NULL)
		return PA_A_ARGS;
	if (s->up_len == 0) {
		/* a repeated commit: the same answer, nothing installed */
		if (s->receipt_len > 0 && memcmp(sha, s->last_sha, 32) == 0) {
			commit_answer(s, w);
			return PA_OK;
		}
		if (s->fail_rc != 0 && memcmp(sha, s->fail_sha, 32) == 0)
			return s->fail_rc;
		return PA_A_STATE;
	}
	if (a->bundle_len != s->up_len)
		return PA_A_STATE;   /* incomplete: keep uploading */
	if (memcmp(sha, s->up_sha, 32) != 0)
		return PA_A_ARGS;
	s->up_len = 0;
	if (psa_hash_compute(PSA_ALG_SHA_256, a->bundle, a->bundle_len, got, sizeof(got), &hl) !=
	        PSA_SUCCESS ||
	    memcmp(got, sha, 32) != 0) {
		pa_install_begin(a);
		return PA_A_ARGS;   /* the bytes held are not the announced bundle */
	}
	rc = pa_install_finish(a, s->receipt, sizeof(s->receipt), &s->receipt_len);
	if (rc != PA_OK) {
		/* nothing committed: the installed set and its receipt as they were
		 * (finish signs into s->receipt before it commits) */
		load_receipt(s);
		memcpy(s->fail_sha, sha, 32);
		s->fail_rc = rc;
		return rc;
	}
	/* committed, with its receipt */
	s->fail_rc = 0;
	memcpy(s->last_sha, sha, 32);
	store_sha(s);
	(void)pa_agent_new_nonce(a, PA_SMP_NONCE_LEN);
	commit_answer(s, w);
	return PA_OK;
}

static int status(pa_smp *s, req *q, pa_cbw *w)
{
	const pa_installed *in = &s->a->installed;
	unsigned i;

	(void)q;
	pa_cbw_head(w, PA_CBOR_MAP, s->receipt_len > 0 ? 5 : 4);
	pa_cbw_key(w, "dev");
	pa_cbw_str(w, PA_CBOR_TSTR, s->a->device_id, s->a->device_id_len);
	pa_cbw_key(w, "ctr");
	pa_cbw_head(w, PA_CBOR_UINT, in->counter);
	pa_cbw_key(w, "digest");
	pa_cbw_str(w, PA_CBOR_BSTR, in->digest, in->counter > 0 ? 32 : 0);
	if (s->receipt_len > 0) {
		pa_cbw_key(w, "receipt");
		pa_cbw_str(w, PA_CBOR_BSTR, s->receipt, s->receipt_len);
	}
	pa_cbw_key(w, "slots");
	pa_cbw_head(w, PA_CBOR_ARRAY, in->n);
	for (i = 0; i < in->n; i++) {
		const pa_slot_entry *e = &in->e[i];

		pa_cbw_head(w, PA_CBOR_MAP, e->key_id != 0 ? 4 : 3);
		pa_cbw_key(w, "slot");
		pa_cbw_head(w, PA_CBOR_UINT, e->slot);
		pa_cbw_key(w, "type");
		pa_cbw_head(w, PA_CBOR_UINT, e->type);
		pa_cbw_key(w, "size");
		pa_cbw_head(w, PA_CBOR_UINT, e->size);
		if (e->key_id != 0) {
			pa_cbw_key(w, "kid");
			pa_cbw_head(w, PA_CBOR_UINT, e->key_id);
		}
	}
	return PA_OK;
}

#if PA_SMP_HAS_CONNECT
/* connect: parsed here, run by the application (pa_smp_set_app).  The
 * application's RAM is the bundle buffer's while it runs (docs/tls.md, "On the
 * device"): an upload in progress is abandoned. */
static int connect(pa_smp *s, req *q, pa_cbw *w)
{
	pa_smp_connect_req c;
	int has_echo, has_to, has_fresh;
	pa_cbor r;
	uint64_t v;

	if (s->app == NULL || s->app->connect == NULL)
		return PA_SMP_ENOTSUP;
	memset(&c, 0, sizeof(c));
	v = get_uint(q, "slot", 0xffffffffu, 0, &c.has_slot);
	c.slot = (uint32_t)v;
	c.send = get_str(q, "send", PA_CBOR_TSTR, 0, PA_SMP_MTU, &c.send_len);
	c.echo = (uint32_t)get_uint(q, "echo", PA_SMP_CONNECT_ECHO_MAX, 0, &has_echo);
	c.timeout_ms = (uint32_t)get_uint(q, "timeout", 600000u, 0, &has_to);
	c.id = get_str(q, "id", PA_CBOR_BSTR, 1, PA_SMP_CONNECT_ID_MAX, &c.id_len);
	has_fresh = field(q->b, q->n, "fresh", &r);
	if (has_fresh == 1) {
		c.fresh = pa_cbor_bool(&r);
		if (pa_cbor_err(&r) != PA_CBOR_OK)
			q->bad = 1;
	}
	if (q->bad || (c.send != NULL && has_echo))
		return PA_A_ARGS;
	s->up_len = 0;
	pa_install_begin(s->a);
	return s->app->connect(s->app->ctx, &c, w);
}
#endif

/* ---- dispatch ----------------------------------------------------------------- */

typedef int (*handler)(pa_smp *s, req *q, pa_cbw *w);

static const struct {
	uint16_t group;
	uint8_t id;
	uint8_t write;   /* 1: a write request (op 2), 0: a read (op 0) */
	handler fn;
} commands[] = {
	{ PA_SMP_GROUP_OS, PA_SMP_OS_ECHO, 1, echo },
	{ PA_SMP_GROUP_PROV, PA_SMP_INFO, 0, info },
	{ PA_SMP_GROUP_PROV, PA_SMP_KEYGEN, 1, keygen },
	{ PA_SMP_GROUP_PROV, PA_SMP_UPLOAD, 1, upload },
	{ PA_SMP_GROUP_PROV, PA_SMP_COMMIT, 1, commit },
	{ PA_SMP_GROUP_PROV, PA_SMP_STATUS, 0, status },
#if PA_SMP_HAS_CONNECT
	{ PA_SMP_GROUP_PROV, PA_SMP_CONNECT, 1, connect },
#endif
};

static int line_write(void *ctx, const uint8_t *b, size_t n)
{
	const pa_smp_io *io = ctx;

	return io->write(io->ctx, b, n);
}

int pa_smp_handle(pa_smp *s, const uint8_t *pkt, size_t len)
{
	unsigned op, group, id, i;
	pa_cbw w;
	req q;
	int rc = PA_SMP_ENOTSUP;

	if (len < HDR)
		return -1;
	op = pkt[0] & 7u;
	group = (unsigned)pkt[4] << 8 | pkt[5];
	id = pkt[7];
	if ((op != 0 && op != 2) || (pkt[0] & 0xe0u) != 0 || ((size_t)pkt[2] << 8 | pkt[3]) != len - HDR)
		return -1;   /* not a request, or a header that does not hold together */
	q.b = pkt + HDR;
	q.n = len - HDR;
	q.bad = 0;
	pa_cbw_init(&w, s->out + HDR, sizeof(s->out) - HDR);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (commands[i].group != group || commands[i].id != id || commands[i].write != op / 2)
			continue;
		if (field(q.b, q.n, NULL, &(pa_cbor){ 0 }) != 0)
			rc = group == PA_SMP_GROUP_OS ? PA_SMP_EINVAL : PA_A_ARGS;
		else
			rc = commands[i].fn(s, &q, &w);
		break;
	}
	if (rc == PA_OK && w.err)
		rc = group == PA_SMP_GROUP_OS ? PA_SMP_EINVAL : PA_A_ARGS;
	if (rc != PA_OK) {
		pa_cbw_init(&w, s->out + HDR, sizeof(s->out) - HDR);
		if ((pkt[0] & 0x18u) == 0) {   /* SMP v1: {"rc": rc} */
			pa_cbw_head(&w, PA_CBOR_MAP, 1);
		} else {                       /* SMP v2: {"err": {"group": g, "rc": rc}} */
			pa_cbw_head(&w, PA_CBOR_MAP, 1);
			pa_cbw_key(&w, "err");
			pa_cbw_head(&w, PA_CBOR_MAP, 2);
			pa_cbw_key(&w, "group");
			pa_cbw_head(&w, PA_CBOR_UINT, group);
		}
		pa_cbw_key(&w, "rc");
		pa_cbw_head(&w, PA_CBOR_UINT, (uint64_t)rc);
	}
	s->out[0] = (uint8_t)((pkt[0] & 0x18u) | (op + 1));
	s->out[1] = 0;
	s->out[2] = (uint8_t)(w.len >> 8);
	s->out[3] = (uint8_t)w.len;
	memcpy(s->out + 4, pkt + 4, 4);   /* group, sequence, command */
	(void)pa_console_send(s->out, HDR + w.len, line_write, (void *)s->io);
	if (s->io->event != NULL)
		s->io->event(s->io->ctx, group, id, rc);
	return 0;
}

static void deliver(void *ctx, const uint8_t *pkt, size_t len)
{
	(void)pa_smp_handle(ctx, pkt, len);
}

void pa_smp_push(pa_smp *s, const uint8_t *b, size_t n)
{
	pa_console_push(&s->rx, b, n, deliver, s);
}

void pa_smp_set_app(pa_smp *s, const pa_smp_app *app)
{
	s->app = app;
}

int pa_smp_start(pa_smp *s, pa_agent *a, const pa_smp_io *io, const char *version)
{
	if (s == NULL || a == NULL || io == NULL || io->write == NULL || !a->started)
		return PA_A_STATE;
	memset(s, 0, sizeof(*s));
	s->a = a;
	s->io = io;
	s->version = version != NULL ? version : "0";
	pa_console_init(&s->rx, s->rx_buf, sizeof(s->rx_buf));
	load_receipt(s);
	return pa_agent_new_nonce(a, PA_SMP_NONCE_LEN);
}
