/*
 * pa_store.c - atomic install of a credential set, commit record, recovery.
 *
 * Every write (storage set/remove, persistent key import/destroy) goes through
 * the functions at the top, so a test port can cut the power at any of them.
 */
#include <string.h>

#include "store/pa_store.h"
#include "verify/pa_verify.h"

#define COMMIT_LEN 48   /* the commit record's head; the install's receipt follows it */
#define COMMIT_MAX (COMMIT_LEN + PA_RECEIPT_MAX)
#define INDEX_HEAD 8
#define INDEX_ENTRY 16
#define INDEX_MAX (INDEX_HEAD + PA_ENTRIES_MAX * INDEX_ENTRY)
/* one buffer per frame serves the commit record, the index and clean() */
#define BUF_MAX (COMMIT_MAX > INDEX_MAX ? COMMIT_MAX : INDEX_MAX)

#if PA_UID_REC_INDEX != PA_UID_RECS - 1
#error "clean() removes records from the highest number down: the index must be the last"
#endif

/* "PAC1" and "PAI1", the records' first four bytes, as get32 reads them */
#define COMMIT_MAGIC 0x31434150u
#define INDEX_MAGIC 0x31494150u

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static int port_err(int st)
{
	return st == PA_PORT_OK ? PA_OK : st == PA_PORT_POWER_LOST ? PA_S_POWER : PA_S_IO;
}

/* ---- the writes ------------------------------------------------------------------- */

static int key_event(const pa_port *p, int done)
{
	if (p->key_event == NULL)
		return PA_OK;
	return p->key_event(p->ctx, done) != 0 ? PA_S_POWER : PA_OK;
}

static int key_exists(psa_key_id_t id)
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	int found = psa_get_key_attributes(id, &at) == PSA_SUCCESS;

	psa_reset_key_attributes(&at);
	return found;
}

static int key_import(const pa_port *p, psa_key_attributes_t *at, psa_key_id_t id,
                      const uint8_t *data, size_t len)
{
	psa_key_id_t got = 0;
	int rc = key_event(p, 0);

	if (rc != PA_OK)
		return rc;
	psa_set_key_lifetime(at, PSA_KEY_LIFETIME_PERSISTENT);
	psa_set_key_id(at, id);
	if (psa_import_key(at, data, len, &got) != PSA_SUCCESS)
		return PA_S_KEY;
	return key_event(p, 1);
}

static int key_destroy_if_present(const pa_port *p, psa_key_id_t id)
{
	int rc;

	if (!key_exists(id))
		return PA_OK;
	rc = key_event(p, 0);
	if (rc != PA_OK)
		return rc;
	if (psa_destroy_key(id) != PSA_SUCCESS)
		return PA_S_KEY;
	return key_event(p, 1);
}

static int rec_set(const pa_port *p, uint64_t uid, const uint8_t *buf, size_t len)
{
	return port_err(p->set(p->ctx, uid, buf, len));
}

static int rec_remove_if_present(const pa_port *p, uint64_t uid)
{
	size_t len = 0;
	int st = p->get(p->ctx, uid, NULL, 0, &len);

	if (st == PA_PORT_NOT_FOUND)
		return PA_OK;
	if (st != PA_PORT_OK && st != PA_PORT_TOO_BIG)
		return port_err(st);
	st = p->remove(p->ctx, uid);
	return st == PA_PORT_NOT_FOUND ? PA_OK : port_err(st);
}

/*
 * Remove every record and key generation g may hold, but never the generation
 * the commit record on storage names.  c is the caller's scratch buffer
 * (COMMIT_MAX bytes) for reading the commit record: the callers' own buffers,
 * free by then, so the record's receipt tail costs no second frame.
 *
 * Every removal of a generation goes through here (recovery's cleanup, an
 * install's clearing of its target and retiring of the old set), and each
 * caller chose g from its view of storage: a->installed, read at start.  That
 * view is stale if anything committed since (another process on the same
 * storage, or a view kept across a reboot of the storage).  Removing a
 * generation is the one step that can turn a consistent storage into a corrupt
 * one (a commit record naming a generation that is gone), so the decision is
 * not taken on the view: the commit record is read again here, immediately
 * before the first removal, and if it names g, or is too short to name a
 * generation, nothing is removed and the caller gets PA_S_CHANGED (if it cannot
 * be read: the port's error, and nothing removed either).  The agent's own
 * writes cannot trip this: it commits g only after its last removal in g, and
 * removes the old generation only after committing the new one.
 *
 * What this cannot do is make "read, then remove" atomic: a writer that commits
 * between this read and the removals below still loses.  That window is closed
 * only by the contract that one agent owns a storage (pa_agent.h): on a device
 * there is one agent; on the host agent-sim takes an exclusive lock on the
 * directory before it starts any agent that may write, and its readers start
 * read-only (no recovery, no removal).  The re-read makes a stale view fail
 * closed instead of destroying the committed set.
 */
static int clean(const pa_port *p, unsigned g, uint8_t c[BUF_MAX])
{
	size_t len = 0;
	unsigned i;
	int rc, st;

	c[4] = (uint8_t)g;   /* a record too short to name a generation names g */
	st = p->get(p->ctx, PA_UID_COMMIT, c, COMMIT_MAX, &len);
	if (st != PA_PORT_NOT_FOUND && (st != PA_PORT_OK || c[4] == g))
		return st == PA_PORT_OK ? PA_S_CHANGED : port_err(st);
	/* the index first (the highest record number, pa_config.h): a
	 * half-cleaned generation has no index at all */
	rc = PA_OK;
	for (i = PA_UID_RECS; i-- > 0 && rc == PA_OK;)
		rc = rec_remove_if_present(p, PA_UID_SET(g, i));
	for (i = 0; i < PA_ENTRIES_MAX && rc == PA_OK; i++)
		rc = key_destroy_if_present(p, PA_KEY_ID_SET(g, i));
	return rc;
}

/* ---- records ---------------------------------------------------------------------- */

static int read_index(const pa_port *p, pa_installed *in, uint8_t buf[BUF_MAX])
{
	size_t len = 0, i;
	int st = p->get(p->ctx, PA_UID_SET(in->gen, PA_UID_REC_INDEX), buf, INDEX_MAX, &len);

	if (st != PA_PORT_OK)
		return st == PA_PORT_NOT_FOUND || st == PA_PORT_TOO_BIG ? PA_S_CORRUPT : port_err(st);
	if (len < INDEX_HEAD || get32(buf) != INDEX_MAGIC || buf[4] > PA_ENTRIES_MAX ||
	    len != INDEX_HEAD + (size_t)buf[4] * INDEX_ENTRY)
		return PA_S_CORRUPT;
	in->n = buf[4];
	in->has_profile = buf[5];
	for (i = 0; i < in->n; i++) {
		const uint8_t *q = buf + INDEX_HEAD + i * INDEX_ENTRY;
		pa_slot_entry *e = &in->e[i];

		e->slot = get32(q);
		e->type = q[4];
		e->usage = q[5];
		e->alg = (int16_t)(uint16_t)(q[6] | q[7] << 8);
		e->size = get32(q + 8);
		e->key_id = get32(q + 12);
	}
	return PA_OK;
}

static size_t write_index(const pa_installed *in, uint8_t *buf)
{
	size_t i;

	put32(buf, INDEX_MAGIC);
	put32(buf + 4, in->n | (uint32_t)in->has_profile << 8);   /* n, has-profile, 2 zero bytes */
	for (i = 0; i < in->n; i++) {
		uint8_t *q = buf + INDEX_HEAD + i * INDEX_ENTRY;
		const pa_slot_entry *e = &in->e[i];

		put32(q, e->slot);
		q[4] = e->type;
		q[5] = e->usage;
		q[6] = (uint8_t)((uint16_t)e->alg & 0xffu);
		q[7] = (uint8_t)((uint16_t)e->alg >> 8);
		put32(q + 8, e->size);
		put32(q + 12, e->key_id);
	}
	return INDEX_HEAD + in->n * INDEX_ENTRY;
}

int pa_store_recover(pa_agent *a)
{
	const pa_port *p = a->port;
	pa_installed *in = &a->installed;
	uint8_t buf[BUF_MAX];   /* the commit record, then the index, then clean()'s */
	size_t len = 0;
	unsigned g;
	int st, rc;

	memset(in, 0, sizeof(*in));
	in->gen = PA_GEN_NONE;
	st = p->get(p->ctx, PA_UID_COMMIT, buf, sizeof(buf), &len);
	if (st == PA_PORT_OK) {
		if (len < COMMIT_LEN || get32(buf) != COMMIT_MAGIC ||
		    (buf[4] > 1 && buf[4] != PA_GEN_NONE))
			return PA_S_CORRUPT;
		in->gen = buf[4];
		in->counter = get32(buf + 8) | (uint64_t)get32(buf + 12) << 32;
		memcpy(in->digest, buf + 16, 32);
	} else if (st != PA_PORT_NOT_FOUND) {
		return st == PA_PORT_TOO_BIG ? PA_S_CORRUPT : port_err(st);
	}
	if (in->gen != PA_GEN_NONE) {
		rc = read_index(p, in, buf);
		if (rc != PA_OK)
			return rc;
	}
	/* read-only (no signers): the committed view only, nothing removed */
	for (g = 0; g < 2 && a->n_signers != 0; g++) {
		if (g == in->gen)
			continue;
		rc = clean(p, g, buf);   /* the commit record is read: buf is free */
		if (rc != PA_OK)
			return rc;
	}
	return PA_OK;
}

/* Write entry i's record and key into generation g; fill its index entry. */
static int write_entry(pa_agent *a, unsigned g, unsigned i, pa_slot_entry *out)
{
	const pa_entry *e = &a->m.e[i];
	const uint8_t *data = e->value != NULL ? e->value : e->ident;
	size_t len = e->value != NULL ? e->value_len : e->ident_len;
	psa_key_attributes_t at;
	int rc = PA_OK;

	out->slot = e->slot;
	out->type = e->type;
	out->usage = e->usage;
	out->alg = e->alg;
	out->size = (uint32_t)(data != NULL ? len : 0);
	out->key_id = 0;
	if (data != NULL)
		rc = rec_set(a->port, PA_UID_SET(g, i), data, len);
	if (rc == PA_OK && e->value == NULL) {
		rc = pa_key_attributes(e, a->m.secret_len[e->secret], &at);
		if (rc == PA_OK)
			rc = key_import(a->port, &at, PA_KEY_ID_SET(g, i), a->m.secret[e->secret],
			                a->m.secret_len[e->secret]);
		psa_reset_key_attributes(&at);
		out->key_id = PA_KEY_ID_SET(g, i);
	}
	return rc;
}

PA_NOINLINE int pa_store_install(pa_agent *a, const uint8_t digest[32], const uint8_t *receipt,
                                 size_t receipt_len)
{
	const pa_port *p = a->port;
	const pa_manifest *m = &a->m;
	pa_installed next;
	uint8_t buf[BUF_MAX];   /* also clean()'s */
	unsigned old = a->installed.gen, g = old == 0 ? 1u : 0u, i;
	size_t len;
	int rc;

	memset(&next, 0, sizeof(next));
	next.gen = m->wipe ? PA_GEN_NONE : (uint8_t)g;
	next.counter = m->counter;
	memcpy(next.digest, digest, 32);
	rc = clean(p, g, buf);   /* normally a no-op: recovery removed leftovers */
	if (rc != PA_OK)
		goto fail;
	if (!m->wipe) {
		next.n = m->n;
		for (i = 0; i < m->n && rc == PA_OK; i++)
			rc = write_entry(a, g, i, &next.e[i]);
		/* keygen/ appends the private-key entries of keys made on the device */
		if (rc == PA_OK && a->kg_hook != NULL)
			rc = a->kg_hook(a, 0, &next);
		if (rc == PA_OK && m->profile != NULL) {
			next.has_profile = 1;
			rc = rec_set(p, PA_UID_SET(g, PA_UID_REC_PROFILE), m->profile, m->profile_len);
		}
		if (rc == PA_OK) {
			len = write_index(&next, buf);
			rc = rec_set(p, PA_UID_SET(g, PA_UID_REC_INDEX), buf, len);
		}
		if (rc != PA_OK)
			goto fail;
	}
	/* the one write that makes the new set, and its receipt, current */
	put32(buf, COMMIT_MAGIC);
	put32(buf + 4, next.gen);   /* generation, 3 zero bytes */
	put32(buf + 8, (uint32_t)next.counter);
	put32(buf + 12, (uint32_t)(next.counter >> 32));
	memcpy(buf + 16, next.digest, 32);
	memcpy(buf + COMMIT_LEN, receipt, receipt_len);
	rc = rec_set(p, PA_UID_COMMIT, buf, COMMIT_LEN + receipt_len);
	if (rc != PA_OK)
		goto fail;
	a->installed = next;
	/* the old set is garbage now; if this is cut short, the next start
	 * (or the next install's clean) finishes it */
	if (old != PA_GEN_NONE)
		(void)clean(p, old, buf);
	if (a->kg_hook != NULL)   /* keys made on the device: adopted now, or garbage */
		(void)a->kg_hook(a, 1, &next);
	return PA_OK;
fail:
	if (rc != PA_S_POWER)
		(void)clean(p, g, buf);
	return rc;
}
