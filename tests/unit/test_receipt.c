/*
 * test_receipt.c - install receipts (prov/receipt.h) against a real factory home:
 * a device minted with an agent key, bundles issued to it (with and without a
 * nonce, and a wipe bundle), receipts signed with that key.  Checks the accepted
 * case and the install it records (read back over a second, plain SQLite
 * connection), that a repeat adds nothing, then exhaustively: every truncation and
 * every single-bit flip of a valid receipt is rejected (with 3, 4 or 7, never 0)
 * and leaves the installs table as it was.  The manifest digest is computed
 * independently here (SHA-256 of the payload found by walking the CBOR bytes).
 */
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "prov/bundle.h"
#include "prov/db.h"
#include "prov/home.h"
#include "prov/keys.h"
#include "prov/mint.h"
#include "prov/receipt.h"
#include "prov/template.h"
#include "prov/util.h"

static char tmpdir[256];

static long long q_int(const char *sql)
{
	char path[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	long long v = -999;

	snprintf(path, sizeof(path), "%s/f/prov.db", tmpdir);
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

/* SHA-256 of the payload of a COSE_Sign1 made by prov: 0xD2 0x84, the protected
 * bstr (short header 0x40+n, n < 24), the empty map 0xA0, then the payload bstr
 * (0x58 n or 0x59 nn nn).  Written out by hand so it does not share code with
 * prov_receipt_manifest_digest. */
static int payload_digest(const uint8_t *b, size_t len, uint8_t md[32])
{
	size_t i = 2, n;

	if (len < 8 || b[0] != 0xd2 || b[1] != 0x84 || b[i] < 0x40 || b[i] > 0x57)
		return -1;
	i += 1 + (size_t)(b[i] - 0x40);
	if (b[i++] != 0xa0)
		return -1;
	if (b[i] == 0x58) {
		n = b[i + 1];
		i += 2;
	} else if (b[i] == 0x59) {
		n = (size_t)b[i + 1] << 8 | b[i + 2];
		i += 3;
	} else {
		return -1;
	}
	if (i + n > len)
		return -1;
	return EVP_Digest(b + i, n, md, NULL, EVP_sha256(), NULL) == 1 ? 0 : -1;
}

/* Record in a transaction (committed on success, rolled back otherwise). */
static prov_status record(prov_home *h, const uint8_t *buf, size_t len, prov_receipt *r, prov_err *e)
{
	prov_status st = prov_db_begin(h->db, e);

	if (st == PROV_OK)
		st = prov_receipt_record(h, buf, len, r, e);
	if (st == PROV_OK)
		return prov_db_commit(h->db, e);
	prov_db_rollback(h->db);
	return st;
}

static prov_status bundle(prov_home *h, const char *id, const uint8_t *nonce, size_t nonce_len,
                          int wipe, uint8_t **out, size_t *len)
{
	prov_bundle_opts o;
	prov_bundle_info info;
	prov_err e;
	prov_status st;

	memset(&o, 0, sizeof(o));
	o.nonce = nonce;
	o.nonce_len = nonce_len;
	o.wipe = wipe;
	st = prov_db_begin(h->db, &e);
	if (st == PROV_OK)
		st = prov_bundle_build(h, id, &o, out, len, &info, &e);
	if (st == PROV_OK)
		st = prov_db_commit(h->db, &e);
	else
		prov_db_rollback(h->db);
	if (st != PROV_OK)
		fprintf(stderr, "bundle: %s\n", e.msg);
	return st;
}

int main(void)
{
	static const uint8_t nonce[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
	char home[300], pubpath[300];
	prov_init_opts io;
	prov_home *h = NULL;
	prov_template *t = NULL;
	prov_mint_req mr;
	prov_mint_result res;
	EVP_PKEY *agent = NULL, *other = NULL;
	uint8_t *b1 = NULL, *b2 = NULL, *bw = NULL, *rc = NULL, *x = NULL, md[32], d1[32], d2[32];
	size_t b1_len = 0, b2_len = 0, bw_len = 0, rc_len = 0;
	prov_receipt r;
	prov_err e;
	prov_status st;
	char *pem = NULL;
	long long installs;
	size_t flips = 0, flips_ok = 0, truncs = 0, truncs_ok = 0;
	FILE *f;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_receipt.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	snprintf(home, sizeof(home), "%s/f", tmpdir);
	memset(&io, 0, sizeof(io));
	io.dir = home;
	CHECK(prov_home_init(&io, &e) == PROV_OK);
	CHECK(prov_home_open(home, PROV_NEED_CA | PROV_NEED_SIGNER | PROV_NEED_KEK, 5000, &h, &e) == PROV_OK);
	CHECK(prov_template_load("templates/coaps-psk.json", &t, &e) == PROV_OK);
	CHECK(prov_key_generate(PROV_KEY_P256, &agent, &e) == PROV_OK);
	CHECK(prov_key_generate(PROV_KEY_P256, &other, &e) == PROV_OK);
	if (h == NULL || t == NULL || agent == NULL || other == NULL)
		return check_done("test_receipt");
	/* The agent's identity key becomes the device's recipient key at mint. */
	snprintf(pubpath, sizeof(pubpath), "%s/agent.pub.pem", tmpdir);
	CHECK(prov_key_public_pem(agent, &pem, &e) == PROV_OK);
	f = fopen(pubpath, "w");
	CHECK(f != NULL && fputs(pem, f) >= 0 && fclose(f) == 0);
	free(pem);
	memset(&mr, 0, sizeof(mr));
	mr.device_id = "node-1";
	CHECK(prov_key_load_public(pubpath, &mr.recipient, &e) == PROV_OK);
	CHECK(prov_template_store(h, t, &e) == PROV_OK);
	CHECK(prov_db_begin(h->db, &e) == PROV_OK);
	st = prov_mint_one(h, t, &mr, &res, &e);
	CHECK_MSG(st == PROV_OK, "%s", e.msg);
	CHECK(prov_db_commit(h->db, &e) == PROV_OK);
	EVP_PKEY_free(mr.recipient);

	CHECK(bundle(h, "node-1", NULL, 0, 0, &b1, &b1_len) == PROV_OK);
	CHECK(bundle(h, "node-1", nonce, sizeof(nonce), 0, &b2, &b2_len) == PROV_OK);
	CHECK(bundle(h, "node-1", NULL, 0, 1, &bw, &bw_len) == PROV_OK);
	CHECK(payload_digest(b1, b1_len, d1) == 0);
	CHECK(payload_digest(b2, b2_len, d2) == 0);
	CHECK(prov_receipt_manifest_digest(b1, b1_len, md, &e) == PROV_OK);
	CHECK_EQ_HEX(md, 32, d1, 32);

	/* Counter 1, no nonce: recorded once. */
	CHECK(prov_receipt_build(agent, "node-1", 1, d1, NULL, 0, &rc, &rc_len, &e) == PROV_OK);
	st = record(h, rc, rc_len, &r, &e);
	CHECK_MSG(st == PROV_OK, "%s", e.msg);
	CHECK(r.already == 0 && r.counter == 1 && strcmp(r.device, "node-1") == 0 && r.nonce_len == 0);
	CHECK(q_int("SELECT count(*) FROM installs WHERE device_id = 'node-1' AND counter = 1") == 1);
	CHECK(q_int("SELECT count(*) FROM devices WHERE id = 'node-1' AND status = 'installed'") == 1);
	CHECK(q_int("SELECT count(*) FROM audit WHERE action = 'install'") == 1);
	CHECK(q_int("SELECT length(receipt) FROM installs") == (long long)rc_len);
	CHECK(record(h, rc, rc_len, &r, &e) == PROV_OK && r.already == 1);
	CHECK(q_int("SELECT count(*) FROM installs") == 1);
	CHECK(q_int("SELECT count(*) FROM audit WHERE action = 'install'") == 1);

	/* Every truncation and every single-bit flip: rejected, nothing recorded. */
	installs = q_int("SELECT count(*) FROM installs");
	x = malloc(rc_len);
	for (size_t n = 0; x != NULL && n < rc_len; n++) {
		st = record(h, rc, n, &r, &e);
		truncs++;
		truncs_ok += st == PROV_E_INPUT;
	}
	for (size_t i = 0; x != NULL && i < rc_len * 8; i++) {
		memcpy(x, rc, rc_len);
		x[i / 8] ^= (uint8_t)(1u << (i % 8));
		st = record(h, x, rc_len, &r, &e);
		flips++;
		flips_ok += st == PROV_E_INPUT || st == PROV_E_NOTFOUND || st == PROV_E_VERIFY;
		if (st == PROV_OK)
			fprintf(stderr, "flip of bit %zu accepted\n", i);
	}
	CHECK_MSG(truncs_ok == truncs, "%zu of %zu truncations rejected as input", truncs_ok, truncs);
	CHECK_MSG(flips_ok == flips, "%zu of %zu bit flips rejected", flips_ok, flips);
	CHECK(q_int("SELECT count(*) FROM installs") == installs);
	printf("receipt of %zu bytes: %zu truncations, %zu bit flips, all rejected\n", rc_len, truncs, flips);
	free(x);
	free(rc);

	/* Counter 2 was bound to a nonce: the receipt must carry the same. */
	CHECK(prov_receipt_build(agent, "node-1", 2, d2, NULL, 0, &rc, &rc_len, &e) == PROV_OK);
	CHECK(record(h, rc, rc_len, &r, &e) == PROV_E_VERIFY && strstr(e.msg, "nonce does not match") != NULL);
	free(rc);
	CHECK(prov_receipt_build(agent, "node-1", 2, d1, nonce, sizeof(nonce), &rc, &rc_len, &e) == PROV_OK);
	CHECK(record(h, rc, rc_len, &r, &e) == PROV_E_VERIFY && strstr(e.msg, "manifest digest") != NULL);
	free(rc);
	CHECK(prov_receipt_build(other, "node-1", 2, d2, nonce, sizeof(nonce), &rc, &rc_len, &e) == PROV_OK);
	CHECK(record(h, rc, rc_len, &r, &e) == PROV_E_VERIFY && strstr(e.msg, "another key") != NULL);
	free(rc);
	CHECK(prov_receipt_build(agent, "node-1", 9, d2, nonce, sizeof(nonce), &rc, &rc_len, &e) == PROV_OK);
	CHECK(record(h, rc, rc_len, &r, &e) == PROV_E_NOTFOUND && strstr(e.msg, "no bundle with counter 9") != NULL);
	free(rc);
	CHECK(prov_receipt_build(agent, "node-2", 2, d2, nonce, sizeof(nonce), &rc, &rc_len, &e) == PROV_OK);
	CHECK(record(h, rc, rc_len, &r, &e) == PROV_E_NOTFOUND && strstr(e.msg, "unknown device node-2") != NULL);
	free(rc);
	CHECK(q_int("SELECT count(*) FROM installs") == 1);
	CHECK(prov_receipt_build(agent, "node-1", 2, d2, nonce, sizeof(nonce), &rc, &rc_len, &e) == PROV_OK);
	st = record(h, rc, rc_len, &r, &e);
	CHECK_MSG(st == PROV_OK, "%s", e.msg);
	CHECK(r.nonce_len == sizeof(nonce) && memcmp(r.nonce, nonce, sizeof(nonce)) == 0 && !r.wipe);
	free(rc);

	/* The wipe bundle (counter 3) is acknowledged like any other. */
	CHECK(prov_receipt_manifest_digest(bw, bw_len, md, &e) == PROV_OK);
	CHECK(prov_receipt_build(agent, "node-1", 3, md, NULL, 0, &rc, &rc_len, &e) == PROV_OK);
	st = record(h, rc, rc_len, &r, &e);
	CHECK_MSG(st == PROV_OK && r.wipe == 1, "%s", e.msg);
	CHECK(q_int("SELECT count(*) FROM audit WHERE action = 'install' AND detail LIKE '%\"wipe\":true%'") == 1);
	CHECK(q_int("SELECT count(*) FROM installs") == 3);
	free(rc);

	/* Over the size limit: input error before anything else. */
	x = calloc(1, PROV_RECEIPT_MAX + 1);
	CHECK(x != NULL && record(h, x, PROV_RECEIPT_MAX + 1, &r, &e) == PROV_E_INPUT);
	free(x);

	free(b1);
	free(b2);
	free(bw);
	EVP_PKEY_free(agent);
	EVP_PKEY_free(other);
	prov_template_free(t);
	prov_home_close(h);
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdir);
	}
	return check_done("test_receipt");
}
