/*
 * test_agent_install.c - the agent end to end on real bundles made by prov.
 *
 * Builds a factory and bundles with the prov binary beside this test, then, in
 * process, against a directory-backed port (PSA's ITS files live in the same
 * directory):
 * - installs, lookups (keys usable, public data and TLS profile as sent), and
 *   receipts verified with libprov's OpenSSL COSE code, not the agent's;
 * - each rejection with its code, storage byte-for-byte unchanged;
 * - every truncation and every single-bit flip of a real bundle;
 * - a power cut before and after every write (records and keys) of a full
 *   install, two rotations and a wipe: after each, a second opener (read-only)
 *   sees exactly the old or the new set and writes nothing, and a reboot must
 *   recover to exactly the old or exactly the new storage, with working lookups,
 *   and with that set's receipt in storage (the commit record carries it: the
 *   old set's byte for byte, or the new set's, verified with OpenSSL);
 * - two agents on one storage: a read-only opener never writes (no recovery,
 *   no identity key, no install); an agent whose view went stale (another
 *   writer committed since it read storage) never removes the generation the
 *   commit record names, in recovery or in an install.
 */
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <errno.h>

#include <cbor.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "check.h"
#include "agent_support.h"
#include "pa/pa_keygen.h"
#include "port/pa_port_dir.h"
#include "port/pa_port_fault.h"
#include "prov/cbor.h"
#include "prov/cose.h"
#include "prov/keys.h"

#define NONCE_HEX "00112233445566778899aabbccddeeff"

static char work[PATH_MAX], devdir[PATH_MAX + 8];
static pa_agent A;
static pa_dir_port DP;
static pa_fault_port FP;
static const pa_port *plain, *faulty;
static pa_signer SIG[2];
static size_t nsig = 1;
static uint8_t receipt[PA_RECEIPT_MAX];
static size_t receipt_len;

typedef struct blob {
	uint8_t *p;
	size_t n;
} blob;

static blob b1, b2, b3n, by, bf2, b4psk, b5other, b6wipe, b7;

static blob load(const char *name)
{
	blob b = { NULL, 0 };
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", work, name);
	if (load_file(path, &b.p, &b.n) != 0)
		fprintf(stderr, "cannot read %s\n", path);
	return b;
}

/* Start the agent on port (a reboot first) and install bytes. */
static int install_on(const pa_port *port, const uint8_t *p, size_t n)
{
	size_t off;
	int rc;

	psa_reboot();
	rc = pa_agent_start(&A, port, SIG, nsig);
	if (rc == PA_OK)
		rc = pa_keygen_start(&A);
	if (rc != PA_OK)
		return 1000 + rc;
	pa_install_begin(&A);
	for (off = 0; off < n; off += 100)   /* pushed in pieces, as a transport would */
		pa_install_push(&A, p + off, n - off < 100 ? n - off : 100);
	return pa_install_finish(&A, receipt, sizeof(receipt), &receipt_len);
}

/* Install on the running agent (no reboot). */
static int install_again(const uint8_t *p, size_t n)
{
	pa_install_begin(&A);
	pa_install_push(&A, p, n);
	return pa_install_finish(&A, receipt, sizeof(receipt), &receipt_len);
}

static int restart(void)
{
	int rc;

	psa_reboot();
	rc = pa_agent_start(&A, plain, SIG, nsig);
	return rc == PA_OK ? pa_keygen_start(&A) : rc;
}

/* Keys made on the device: every pool key that exists is pending or held by
 * the committed set, and the other way round (nothing leaks). */
static int pool_ok(void)
{
	unsigned j, i;

	for (j = 0; j < PA_KEYGEN_MAX; j++) {
		psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
		int exists = psa_get_key_attributes(PA_KEY_ID_KEYGEN(j), &at) == PSA_SUCCESS;
		int wanted = (A.kg_used >> j) & 1;

		psa_reset_key_attributes(&at);
		for (i = 0; i < A.installed.n; i++)
			if (A.installed.e[i].key_id == PA_KEY_ID_KEYGEN(j))
				wanted = 1;
		if (exists != wanted)
			return 0;
	}
	return 1;
}

/* The key of (slot 1, private-key) is a key made on the device. */
static int device_made_key(void)
{
	psa_key_id_t id = 0;

	return pa_lookup_key(&A, 1, PA_T_PRIVATE_KEY, &id) == PA_OK &&
	       id >= PA_KEY_ID_KEYGEN(0) && id < PA_KEY_ID_KEYGEN(PA_KEYGEN_MAX);
}

/* ---- checks on the installed set ---------------------------------------------------- */

/* The private key in (slot, private-key) signs, is not exportable, and is the
 * key of the certificate in (slot, device-cert). */
static int key_matches_cert(uint32_t slot)
{
	psa_key_id_t id = 0;
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	uint8_t cert[4096], pub[65], certpub[65], hash[32] = { 1 }, sig[64], raw[32];
	size_t clen = 0, plen = 0, cplen = 0, slen = 0;
	const uint8_t *q = cert;
	X509 *x = NULL;
	int ok = 0;

	if (pa_lookup_key(&A, slot, PA_T_PRIVATE_KEY, &id) != PA_OK ||
	    pa_lookup_data(&A, slot, PA_T_DEVICE_CERT, cert, sizeof(cert), &clen) != PA_OK)
		return 0;
	if (psa_get_key_attributes(id, &at) != PSA_SUCCESS ||
	    /* PSA 1.0 implies SIGN_MESSAGE from SIGN_HASH: nothing else is allowed */
	    (psa_get_key_usage_flags(&at) & ~(psa_key_usage_t)PSA_KEY_USAGE_SIGN_MESSAGE) !=
	        PSA_KEY_USAGE_SIGN_HASH ||
	    psa_get_key_lifetime(&at) != PSA_KEY_LIFETIME_PERSISTENT)
		goto out;
	if (psa_export_key(id, raw, sizeof(raw), &plen) != PSA_ERROR_NOT_PERMITTED)
		goto out;
	if (psa_export_public_key(id, pub, sizeof(pub), &plen) != PSA_SUCCESS ||
	    psa_sign_hash(id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, 32, sig, 64, &slen) !=
	        PSA_SUCCESS)
		goto out;
	x = d2i_X509(NULL, &q, (long)clen);   /* the first certificate of the chain */
	if (x == NULL ||
	    EVP_PKEY_get_octet_string_param(X509_get0_pubkey(x), OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
	                                    certpub, sizeof(certpub), &cplen) != 1)
		goto out;
	ok = cplen == plen && memcmp(pub, certpub, plen) == 0;
out:
	X509_free(x);
	psa_reset_key_attributes(&at);
	return ok;
}

static int psk_ok(uint32_t slot, const char *identity)
{
	psa_key_id_t id = 0;
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	uint8_t buf[128];
	size_t n = 0;
	int ok;

	ok = pa_lookup_key(&A, slot, PA_T_PSK, &id) == PA_OK &&
	     psa_get_key_attributes(id, &at) == PSA_SUCCESS &&
	     psa_get_key_type(&at) == PSA_KEY_TYPE_DERIVE &&
	     psa_get_key_usage_flags(&at) == PSA_KEY_USAGE_DERIVE &&
	     psa_get_key_bits(&at) == 128 &&
	     psa_export_key(id, buf, sizeof(buf), &n) == PSA_ERROR_NOT_PERMITTED &&
	     pa_lookup_data(&A, slot, PA_T_PSK, buf, sizeof(buf), &n) == PA_OK &&
	     n == strlen(identity) && memcmp(buf, identity, n) == 0;
	psa_reset_key_attributes(&at);
	return ok;
}

static char repo_top[PATH_MAX];   /* the checkout (the tests run from it) */

/* mqtt-mtls's broker roots: slot 1 holds the compact store of
 * templates/roots/iot-roots.store, byte for byte. */
static int broker_store_ok(void)
{
	static uint8_t want[4096], got[4096];
	char path[PATH_MAX + 64];
	size_t wn = 0, gn = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/templates/roots/iot-roots.store", repo_top);
	f = fopen(path, "rb");
	if (f == NULL)
		return 0;
	wn = fread(want, 1, sizeof(want), f);
	fclose(f);
	return wn > 1000 && pa_lookup_data(&A, 1, PA_T_TRUST_STORE, got, sizeof(got), &gn) == PA_OK &&
	       gn == wn && memcmp(got, want, wn) == 0;
}

/* What the agent holds now is set `which`: 0 nothing, 1 the mqtt-mtls set
 * (counter c), 4 the coaps-psk set, 6 wiped. */
static int state_is(int which, uint64_t counter)
{
	pa_tls_profile prof;
	psa_key_id_t id;

	if (A.installed.counter != counter)
		return 0;
	switch (which) {
	case 0:
		return A.installed.gen == PA_GEN_NONE && A.installed.n == 0;
	case 1:
		return A.installed.n == 3 && key_matches_cert(1) && broker_store_ok() &&
		       pa_lookup_profile(&A, 1, &prof) == PA_OK &&
		       strcmp(prof.protocol, "mqtt") == 0 && prof.max_fragment_len == 4096 &&
		       pa_lookup_key(&A, 2, PA_T_PSK, &id) == PA_S_NOT_FOUND;
	case 4:
		return A.installed.n == 1 && psk_ok(2, "X") &&
		       pa_lookup_profile(&A, 2, &prof) == PA_OK &&
		       strcmp(prof.protocol, "coaps") == 0 && prof.transport == 1 &&
		       pa_lookup_key(&A, 1, PA_T_PRIVATE_KEY, &id) == PA_S_NOT_FOUND;
	case 8:    /* the mqtt-mtls set with a key made on the device, nothing pending */
	case 10:   /* the same, and a new key pending */
		return A.installed.n == 3 && key_matches_cert(1) && broker_store_ok() && device_made_key() &&
		       pool_ok() && (A.kg_used != 0) == (which == 10);
	case 9:    /* nothing installed, a key pending for slot 1 */
		return A.installed.gen == PA_GEN_NONE && A.installed.n == 0 && pool_ok() &&
		       A.kg_used != 0;
	default:
		return A.installed.gen == PA_GEN_NONE && A.installed.n == 0 &&
		       pa_lookup_profile(&A, 2, &prof) == PA_S_NOT_FOUND;
	}
}

/* The receipt verifies with the device key (libprov, OpenSSL) and says what
 * was installed. */
static int receipt_ok(uint64_t counter, const blob *bundle, const char *nonce_hex)
{
	char path[PATH_MAX + 64];
	EVP_PKEY *dev = NULL;
	prov_cose_sign1_info info;
	prov_err e;
	cbor_item_t *pl = NULL, *b = NULL;
	uint8_t md[32], kid[8];
	unsigned mdlen = 0;
	int64_t v;
	int ok = 0;

	memset(&e, 0, sizeof(e));
	snprintf(path, sizeof(path), "%s/dev.pub", work);
	if (prov_key_load_public(path, &dev, &e) != PROV_OK ||
	    prov_cose_sign1_verify(&dev, 1, receipt, receipt_len, NULL, 0, 0, &info, &e) != PROV_OK ||
	    info.alg != -7 || info.kid_len != 8 || prov_key_kid(dev, kid, &e) != PROV_OK ||
	    memcmp(info.kid, kid, 8) != 0)
		goto out;
	/* the manifest digest: SHA-256 of the bundle's payload bstr content */
	if (prov_cbor_decode(bundle->p, bundle->n, &b, &e) != PROV_OK)
		goto out;
	{
		cbor_item_t *arr = cbor_tag_item(b), *payload = cbor_array_get(arr, 2);

		EVP_Digest(cbor_bytestring_handle(payload), cbor_bytestring_length(payload), md,
		           &mdlen, EVP_sha256(), NULL);
		cbor_decref(&payload);
		cbor_decref(&arr);
	}
	if (prov_cbor_decode(info.payload, info.payload_len, &pl, &e) != PROV_OK ||
	    !cbor_isa_map(pl) || cbor_map_size(pl) != (nonce_hex != NULL ? 5u : 4u))
		goto out;
	{
		const cbor_item_t *ver = prov_cbor_map_get_int(pl, 1), *id = prov_cbor_map_get_int(pl, 2);
		const cbor_item_t *ctr = prov_cbor_map_get_int(pl, 3), *dg = prov_cbor_map_get_int(pl, 4);
		const cbor_item_t *nn = prov_cbor_map_get_int(pl, 5);

		ok = prov_cbor_get_int(ver, &v) == 0 && v == 1 && cbor_isa_string(id) &&
		     cbor_string_length(id) == 1 && cbor_string_handle(id)[0] == 'X' &&
		     prov_cbor_get_int(ctr, &v) == 0 && (uint64_t)v == counter &&
		     cbor_isa_bytestring(dg) && cbor_bytestring_length(dg) == 32 &&
		     memcmp(cbor_bytestring_handle(dg), md, 32) == 0 &&
		     prov_cbor_is_deterministic(info.payload, info.payload_len);
		if (nonce_hex != NULL)
			ok = ok && cbor_isa_bytestring(nn) && cbor_bytestring_length(nn) == 16 &&
			     cbor_bytestring_handle(nn)[1] == 0x11 && cbor_bytestring_handle(nn)[15] == 0xff;
	}
out:
	if (pl != NULL)
		cbor_decref(&pl);
	if (b != NULL)
		cbor_decref(&b);
	EVP_PKEY_free(dev);
	return ok;
}


/* The receipt the commit record carries (its tail after the 48-byte head,
 * read through the port) into receipt/receipt_len; 0 if there is none. */
static int stored_receipt(void)
{
	uint8_t buf[48 + PA_RECEIPT_MAX + 1];
	size_t len = 0;

	receipt_len = 0;
	if (plain->get(plain->ctx, PA_UID_COMMIT, buf, sizeof(buf), &len) != PA_PORT_OK ||
	    len <= 48 || len > 48 + PA_RECEIPT_MAX)
		return 0;
	memcpy(receipt, buf + 48, len - 48);
	receipt_len = len - 48;
	return 1;
}

/* The stored receipt is the one the install of bundle (counter) signed. */
static int stored_receipt_ok(uint64_t counter, const blob *bundle)
{
	return stored_receipt() && receipt_ok(counter, bundle, NULL);
}

/* a and b hold the same files, byte for byte, but for the receipt in the
 * commit record (ECDSA signs differently each time): its head the same, and a
 * receipt in both. */
static int snap_equal_but_receipt(const snap *a, const snap *b)
{
	char commit[64];
	size_t i;

	snprintf(commit, sizeof(commit), "pa-%016" PRIx64 ".rec", (uint64_t)PA_UID_COMMIT);
	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++) {
		int is_commit = strcmp(a->name[i], commit) == 0;

		if (strcmp(a->name[i], b->name[i]) != 0 ||
		    (is_commit ? a->len[i] <= 48 || b->len[i] <= 48 || memcmp(a->data[i], b->data[i], 48)
		               : a->len[i] != b->len[i] ||
		                     (a->len[i] > 0 && memcmp(a->data[i], b->data[i], a->len[i]))))
			return 0;
	}
	return 1;
}

static void expect_reject(const char *what, const blob *b, int want);

/* ---- crafted payloads, signed by the factory's signer --------------------------------- */

static EVP_PKEY *signer_key, *dev_pub;

/* A copy of map m with key -> val (val NULL: key removed; owned). */
static cbor_item_t *map_with(const cbor_item_t *m, int64_t key, cbor_item_t *val)
{
	struct cbor_pair *p = cbor_map_handle(m);
	cbor_item_t *out = cbor_new_definite_map(cbor_map_size(m) + 1);
	size_t i;
	int found = 0;

	for (i = 0; i < cbor_map_size(m); i++) {
		int64_t k = 0;

		if (prov_cbor_get_int(p[i].key, &k) == 0 && k == key) {
			found = 1;
			if (val != NULL)
				prov_cbor_map_put(out, cbor_incref(p[i].key), val);
		} else {
			prov_cbor_map_put(out, cbor_incref(p[i].key), cbor_incref(p[i].value));
		}
	}
	if (!found && val != NULL)
		prov_cbor_map_put_int(out, key, val);
	return out;
}

static cbor_item_t *payload_of(const blob *b)
{
	cbor_item_t *bundle = NULL, *arr, *pl, *out = NULL;

	if (prov_cbor_decode(b->p, b->n, &bundle, NULL) != PROV_OK)
		return NULL;
	arr = cbor_tag_item(bundle);
	pl = cbor_array_get(arr, 2);
	prov_cbor_decode(cbor_bytestring_handle(pl), cbor_bytestring_length(pl), &out, NULL);
	cbor_decref(&pl);
	cbor_decref(&arr);
	cbor_decref(&bundle);
	return out;
}

/* Sign payload (consumed) as a bundle. */
static blob sign_payload(cbor_item_t *payload)
{
	blob b = { NULL, 0 };
	uint8_t *enc = NULL;
	size_t n = 0;

	if (prov_cbor_encode(payload, &enc, &n, NULL) == PROV_OK)
		prov_cose_sign1_create(signer_key, SIG[0].kid, 8, enc, n, &b.p, &b.n, NULL);
	free(enc);
	cbor_decref(&payload);
	return b;
}

/* Entries of base with entry i's key k set to val (NULL: removed). */
static cbor_item_t *entries_with(const cbor_item_t *pl, size_t idx, int64_t k, cbor_item_t *val)
{
	cbor_item_t *ents = prov_cbor_map_get_int(pl, 6), *out;
	size_t i, n = cbor_array_size(ents);

	out = cbor_new_definite_array(n);
	for (i = 0; i < n; i++) {
		cbor_item_t *e = cbor_array_get(ents, i);

		prov_cbor_array_push(out, i == idx ? map_with(e, k, val) : cbor_incref(e));
		cbor_decref(&e);
	}
	if (val != NULL && idx >= n)
		cbor_decref(&val);
	return out;
}

/* secrets: a new COSE_Encrypt (libprov) of the given secret-list to the device. */
static cbor_item_t *secrets_of(int alg, const uint8_t *const *sec, const size_t *len, size_t n)
{
	cbor_item_t *list = cbor_new_definite_array(n), *out = NULL;
	uint8_t *pt = NULL;
	size_t ptlen = 0, i;

	for (i = 0; i < n; i++)
		prov_cbor_array_push(list, prov_cbor_bytes(sec[i], len[i]));
	if (prov_cbor_encode(list, &pt, &ptlen, NULL) == PROV_OK)
		prov_cose_encrypt_ecdh_es(dev_pub, alg, A.kid, 8, pt, ptlen, NULL, 0, NULL, &out, NULL);
	free(pt);
	cbor_decref(&list);
	return out;
}

/* The bundle's COSE_Encrypt with one ciphertext bit flipped. */
static cbor_item_t *secrets_flipped(const cbor_item_t *pl)
{
	cbor_item_t *tag = prov_cbor_map_get_int(pl, 8), *arr = cbor_tag_item(tag);
	cbor_item_t *out = cbor_new_definite_array(4), *t;
	size_t i;

	for (i = 0; i < 4; i++) {
		cbor_item_t *it = cbor_array_get(arr, i);

		if (i == 2) {
			uint8_t buf[256];
			size_t n = cbor_bytestring_length(it);

			memcpy(buf, cbor_bytestring_handle(it), n);
			buf[0] ^= 1;
			prov_cbor_array_push(out, prov_cbor_bytes(buf, n));
			cbor_decref(&it);
		} else {
			prov_cbor_array_push(out, it);
		}
	}
	cbor_decref(&arr);
	t = cbor_build_tag(96, out);
	cbor_decref(&out);
	return t;
}

static void crafted(const snap *base_state)
{
	static const uint8_t bad_scalar[32] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff };
	static const uint8_t good_scalar[32] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
	                                         0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
	                                         0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
	                                         0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
	const uint8_t *sec[2] = { bad_scalar, good_scalar };
	size_t len[2] = { 32, 32 };
	cbor_item_t *pl = payload_of(&b2), *ents, *e17;
	char path[PATH_MAX + 64];
	struct { const char *what; cbor_item_t *payload; int want; } c[20];
	size_t n = 0, i;
	prov_err err;

	snprintf(path, sizeof(path), "%s/f/signer.key", work);
	CHECK(prov_key_load_private(path, NULL, &signer_key, &err) == PROV_OK);
	snprintf(path, sizeof(path), "%s/dev.pub", work);
	CHECK(prov_key_load_public(path, &dev_pub, &err) == PROV_OK);
	CHECK_MSG(pl != NULL, "crafted: cannot decode the payload of b2");
	if (pl == NULL || signer_key == NULL || dev_pub == NULL) {
		if (pl != NULL)
			cbor_decref(&pl);
		EVP_PKEY_free(signer_key);
		EVP_PKEY_free(dev_pub);
		return;   /* each missing piece is a failed check above */
	}
	c[n].what = "version 2";
	c[n].payload = map_with(pl, 1, prov_cbor_uint(2));
	c[n++].want = PA_V_VERSION;
	c[n].what = "unknown payload key";
	c[n].payload = map_with(pl, 10, prov_cbor_uint(0));
	c[n++].want = PA_V_BAD_PAYLOAD;
	c[n].what = "counter 0";
	c[n].payload = map_with(pl, 3, prov_cbor_uint(0));
	c[n++].want = PA_V_BAD_PAYLOAD;
	c[n].what = "no counter";
	c[n].payload = map_with(pl, 3, NULL);
	c[n++].want = PA_V_BAD_PAYLOAD;
	c[n].what = "device Z";
	c[n].payload = map_with(pl, 2, prov_cbor_text("Z"));
	c[n++].want = PA_V_WRONG_DEVICE;
	c[n].what = "EdDSA private key";
	c[n].payload = map_with(pl, 6, entries_with(pl, 1, 3, prov_cbor_int(-8)));
	c[n++].want = PA_V_UNSUPPORTED;
	c[n].what = "unknown entry key";
	c[n].payload = map_with(pl, 6, entries_with(pl, 0, 7, prov_cbor_uint(1)));
	c[n++].want = PA_V_BAD_ENTRY;
	c[n].what = "entry without usage";
	c[n].payload = map_with(pl, 6, entries_with(pl, 0, 4, NULL));
	c[n++].want = PA_V_BAD_ENTRY;
	c[n].what = "entries out of order";
	c[n].payload = map_with(pl, 6, entries_with(pl, 0, 1, prov_cbor_uint(9)));
	c[n++].want = PA_V_BAD_ENTRY;
	c[n].what = "secret index 1 first";
	c[n].payload = map_with(pl, 6, entries_with(pl, 1, 5, prov_cbor_uint(1)));
	c[n++].want = PA_V_BAD_ENTRY;
	ents = prov_cbor_map_get_int(pl, 6);
	e17 = cbor_new_definite_array(17);
	for (i = 0; i < 17; i++) {
		cbor_item_t *e0 = cbor_array_get(ents, 0), *t = map_with(e0, 1, prov_cbor_uint(100 + i));

		prov_cbor_array_push(e17, map_with(t, 5, prov_cbor_bytes("cert", 4)));
		cbor_decref(&t);
		cbor_decref(&e0);
	}
	c[n].what = "17 entries";
	c[n].payload = map_with(pl, 6, e17);
	c[n++].want = PA_V_BAD_PAYLOAD;
	c[n].what = "secret entry, no secrets";
	c[n].payload = map_with(pl, 8, NULL);
	c[n++].want = PA_V_BAD_PAYLOAD;
	c[n].what = "wipe flag on a set";
	c[n].payload = map_with(pl, 9, cbor_build_bool(true));
	c[n++].want = PA_V_BAD_PAYLOAD;
	c[n].what = "max_fragment_length 1000";
	c[n].payload = map_with(pl, 7, map_with(prov_cbor_map_get_int(pl, 7), 5, prov_cbor_uint(1000)));
	c[n++].want = PA_V_BAD_PAYLOAD;
	{
		cbor_item_t *list = cbor_new_definite_array(1);

		prov_cbor_array_push(list, prov_cbor_bytes(good_scalar, 32));
		c[n].what = "plaintext secrets";
		c[n].payload = map_with(pl, 8, list);
		c[n++].want = PA_V_PLAINTEXT;
	}
	c[n].what = "ciphertext bit flipped";
	c[n].payload = map_with(pl, 8, secrets_flipped(pl));
	c[n++].want = PA_V_DECRYPT;
	c[n].what = "private key out of range";
	c[n].payload = map_with(pl, 8, secrets_of(10, sec, len, 1));
	c[n++].want = PA_V_BAD_KEY;
	c[n].what = "two secrets for one entry";
	c[n].payload = map_with(pl, 8, secrets_of(10, sec, len, 2));
	c[n++].want = PA_V_BAD_SECRETS;
	c[n].what = "A128GCM secrets (accepted)";
	c[n].payload = map_with(pl, 8, secrets_of(1, sec + 1, len + 1, 1));
	c[n++].want = PA_OK;
	for (i = 0; i < n; i++) {
		blob b = sign_payload(c[i].payload);

		snap_restore(devdir, base_state);
		CHECK(restart() == PA_OK);
		if (c[i].want == PA_OK) {
			int rc = install_again(b.p, b.n);

			CHECK_MSG(rc == PA_OK, "%s: %d", c[i].what, rc);
		} else {
			expect_reject(c[i].what, &b, c[i].want);
		}
		free(b.p);
	}
	printf("crafted payloads: %zu cases, each with its code\n", n);
	snap_restore(devdir, base_state);
	cbor_decref(&pl);
	EVP_PKEY_free(signer_key);
	EVP_PKEY_free(dev_pub);
}

/* ---- scenarios ----------------------------------------------------------------------- */

/* A rejected bundle: the code, and not one byte of storage changed. */
/* The bundle buffer, where the secrets are decrypted in place, holds nothing
 * once an install has finished, whatever its outcome. */
static int bundle_wiped(void)
{
	size_t i;

	for (i = 0; i < sizeof(A.bundle); i++)
		if (A.bundle[i] != 0)
			return 0;
	return A.bundle_len == 0;
}

static void expect_reject(const char *what, const blob *b, int want)
{
	snap before, after;
	int rc;

	snap_take(devdir, &before);
	rc = install_again(b->p, b->n);
	snap_take(devdir, &after);
	CHECK_MSG(rc == want, "%s: got %d, want %d", what, rc, want);
	CHECK_MSG(snap_equal(&before, &after), "%s: storage changed", what);
	CHECK_MSG(bundle_wiped(), "%s: bundle buffer not wiped", what);
	snap_free(&before);
	snap_free(&after);
}

struct flip_result {
	unsigned long flips, bad, hist[64];
};

static void exhaustive(const blob *b)
{
	snap before, after;
	unsigned long trunc = 0, trunc_bad = 0, flips = 0, flips_bad = 0, changed = 0;
	unsigned long hist[64] = { 0 };
	uint8_t *m = malloc(b->n);
	size_t i;
	int bit, rc, fds[4][2];
	long nw, w;
	pid_t pid[4];

	CHECK_MSG(m != NULL, "exhaustive: out of memory");
	if (m == NULL)
		return;
	snap_take(devdir, &before);
	for (i = 0; i < b->n; i++) {   /* every proper prefix */
		rc = install_again(b->p, i);
		trunc++;
		if (rc != PA_V_TRUNCATED)
			trunc_bad++;
	}
	/* every bit flip: each one costs an ECDSA verify, so the work is split
	 * over a few processes (storage is only read when a bundle is refused) */
	nw = sysconf(_SC_NPROCESSORS_ONLN);
	nw = nw < 1 ? 1 : nw > 4 ? 4 : nw;
	for (w = 0; w < nw; w++) {
		if (pipe(fds[w]) != 0) {
			CHECK_MSG(0, "exhaustive: pipe: %s", strerror(errno));
			break;
		}
		if ((pid[w] = fork()) < 0) {
			CHECK_MSG(0, "exhaustive: fork: %s", strerror(errno));
			close(fds[w][0]);
			close(fds[w][1]);
			break;
		}
		if (pid[w] == 0) {
			struct flip_result res;

			memset(&res, 0, sizeof(res));
			memcpy(m, b->p, b->n);
			for (i = (size_t)w; i < b->n; i += (size_t)nw) {
				for (bit = 0; bit < 8; bit++) {
					m[i] ^= (uint8_t)(1u << bit);
					rc = install_again(m, b->n);
					m[i] ^= (uint8_t)(1u << bit);
					res.flips++;
					/* only envelope and signature verdicts: no payload
					 * field was read */
					if (rc < PA_V_TOO_LARGE || rc > PA_V_BAD_SIGNATURE)
						res.bad++;
					res.hist[rc >= 0 && rc < 64 ? rc : 0]++;
				}
			}
			if (write(fds[w][1], &res, sizeof(res)) != (ssize_t)sizeof(res))
				_exit(1);
			_exit(0);
		}
		close(fds[w][1]);
	}
	nw = w;   /* the workers that started (a failure above is a failed check; the
	           * flip count below then fails too) */
	for (w = 0; w < nw; w++) {
		struct flip_result res;
		int st = 0;
		int j;

		if (read(fds[w][0], &res, sizeof(res)) != (ssize_t)sizeof(res))
			flips_bad++;
		else {
			flips += res.flips;
			flips_bad += res.bad;
			for (j = 0; j < 64; j++)
				hist[j] += res.hist[j];
		}
		close(fds[w][0]);
		if (waitpid(pid[w], &st, 0) != pid[w] || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			flips_bad++;
	}
	CHECK_MSG(flips == 8 * b->n, "%lu flips of %zu", flips, 8 * b->n);
	snap_take(devdir, &after);
	if (!snap_equal(&before, &after))
		changed++;
	CHECK_MSG(trunc_bad == 0, "%lu of %lu truncations not rejected as truncated", trunc_bad, trunc);
	CHECK_MSG(flips_bad == 0, "%lu of %lu bit flips not rejected before the payload", flips_bad,
	          flips);
	CHECK_MSG(changed == 0, "storage changed by bad input");
	printf("bad input: %lu truncations (all TRUNCATED), %lu single-bit flips rejected "
	       "(MALFORMED %lu, TRUNCATED %lu, BAD_HEADER %lu, UNKNOWN_SIGNER %lu, BAD_SIGNATURE %lu), "
	       "storage unchanged\n", trunc, flips, hist[PA_V_MALFORMED], hist[PA_V_TRUNCATED],
	       hist[PA_V_BAD_HEADER], hist[PA_V_UNKNOWN_SIGNER], hist[PA_V_BAD_SIGNATURE]);
	snap_free(&before);
	snap_free(&after);
	free(m);
}

static unsigned long cuts_tried, cuts_bad, readers_tried, readers_bad;

/* What a read-only opener sees is set `which` (state_is) at counter; for the
 * sets with keys made on the device without the pool (a reader loads no
 * pending keys). */
static int reader_sees(int which, uint64_t counter)
{
	if (which == 8 || which == 10)
		return A.installed.counter == counter && A.installed.n == 3 && key_matches_cert(1) &&
		       broker_store_ok() && device_made_key();
	if (which == 9)
		return A.installed.counter == counter && A.installed.gen == PA_GEN_NONE &&
		       A.installed.n == 0;
	return state_is(which, counter);
}

/* A second opener, read-only, on storage as it is now (after a power cut,
 * before the recovering boot): through the counting port it makes no write,
 * storage stays byte for byte, and it sees exactly the old or the new set. */
static void second_opener(const char *what, unsigned long k, int after, int old_set,
                          uint64_t old_ctr, int new_set, uint64_t new_ctr)
{
	snap before, now;
	int rc, is_old, is_new;

	snap_take(devdir, &before);
	psa_reboot();
	pa_fault_port_arm(&FP, 0, 0);
	rc = pa_agent_open_readonly(&A, faulty);
	is_old = rc == PA_OK && reader_sees(old_set, old_ctr);
	is_new = rc == PA_OK && reader_sees(new_set, new_ctr);
	snap_take(devdir, &now);
	readers_tried++;
	if (rc != PA_OK || FP.writes != 0 || !snap_equal(&before, &now) || is_old == is_new) {
		readers_bad++;
		fprintf(stderr, "%s: cut %s write %lu: read-only open %d, %lu writes, storage %s, "
		        "old %d, new %d\n", what, after ? "after" : "before", k, rc, FP.writes,
		        snap_equal(&before, &now) ? "kept" : "CHANGED", is_old, is_new);
	}
	snap_free(&before);
	snap_free(&now);
}

/* Cut the power before and after every write of installing b over `old`;
 * after a reboot storage must be exactly `old` or exactly the clean result. */
static void power_cuts(const char *what, const snap *old, const blob *b, int old_set,
                       uint64_t old_ctr, int new_set, uint64_t new_ctr)
{
	snap clean, now;
	unsigned long writes, k;
	int after, rc;

	snap_restore(devdir, old);
	pa_fault_port_arm(&FP, 0, 0);
	rc = install_on(faulty, b->p, b->n);
	writes = FP.writes;
	CHECK_MSG(rc == PA_OK, "%s: clean install: %d", what, rc);
	snap_take(devdir, &clean);
	for (k = 1; k <= writes; k++) {
		for (after = 0; after <= 1; after++) {
			int is_old, is_new;

			snap_restore(devdir, old);
			pa_fault_port_arm(&FP, k, after);
			rc = install_on(faulty, b->p, b->n);
			/* power back: a reader opens first, then the agent starts
			 * again on the plain port, which recovers */
			second_opener(what, k, after, old_set, old_ctr, new_set, new_ctr);
			rc = restart();
			snap_take(devdir, &now);
			/* the old set with its receipt (the commit record unchanged,
			 * so byte for byte), or the new one with the receipt of b */
			is_old = snap_equal(&now, old) && state_is(old_set, old_ctr) &&
			         (old_ctr == 0 || stored_receipt());
			is_new = snap_equal_but_receipt(&now, &clean) && state_is(new_set, new_ctr) &&
			         stored_receipt_ok(new_ctr, b);
			cuts_tried++;
			if (rc != PA_OK || is_old == is_new) {
				cuts_bad++;
				fprintf(stderr, "%s: cut %s write %lu of %lu: start %d, old %d, new %d\n",
				        what, after ? "after" : "before", k, writes, rc, is_old, is_new);
			}
			snap_free(&now);
		}
	}
	printf("power cuts, %s: %lu writes, %lu cuts\n", what, writes, 2 * writes);
	snap_free(&clean);
}

/* Cut the power before and after every write of a keygen on `old` (nothing
 * pending): after a reboot either nothing is pending and storage is `old`, or
 * a key is pending; no pool key leaks either way. */
static void keygen_cuts(const snap *old)
{
	snap now;
	unsigned long writes, k;
	psa_key_id_t id = 0;
	int after, rc;

	snap_restore(devdir, old);
	pa_fault_port_arm(&FP, 0, 0);
	psa_reboot();
	rc = pa_agent_start(&A, faulty, SIG, nsig);
	rc = rc ? rc : pa_keygen_start(&A);
	rc = rc ? rc : pa_keygen(&A, 1, &id);
	writes = FP.writes;
	CHECK_MSG(rc == PA_OK && writes >= 2, "keygen: %d, %lu writes", rc, writes);
	for (k = 1; k <= writes; k++) {
		for (after = 0; after <= 1; after++) {
			int is_old, is_new;

			snap_restore(devdir, old);
			pa_fault_port_arm(&FP, k, after);
			psa_reboot();
			if (pa_agent_start(&A, faulty, SIG, nsig) == PA_OK && pa_keygen_start(&A) == PA_OK)
				(void)pa_keygen(&A, 1, &id);
			rc = restart();
			snap_take(devdir, &now);
			is_old = snap_equal(&now, old) && state_is(0, 0) && A.kg_used == 0 && pool_ok();
			is_new = !snap_equal(&now, old) && state_is(9, 0);
			cuts_tried++;
			if (rc != PA_OK || is_old == is_new) {
				cuts_bad++;
				fprintf(stderr, "keygen: cut %s write %lu of %lu: start %d, old %d, new %d\n",
				        after ? "after" : "before", k, writes, rc, is_old, is_new);
			}
			snap_free(&now);
		}
	}
	printf("power cuts, keygen: %lu writes, %lu cuts\n", writes, 2 * writes);
}

/* ---- two agents on one storage ------------------------------------------------------ */

/* A port through which another writer commits at a chosen moment: right after
 * the first read of record race_uid, storage becomes *race_to (what that
 * writer leaves).  Everything else is the plain port. */
static pa_port racing;
static uint64_t race_uid;
static const snap *race_to;
static int race_fired;

static int racing_get(void *ctx, uint64_t uid, uint8_t *buf, size_t cap, size_t *len)
{
	int st = plain->get(plain->ctx, uid, buf, cap, len);

	(void)ctx;
	if (!race_fired && uid == race_uid) {
		race_fired = 1;
		CHECK(snap_restore(devdir, race_to) == 0);
	}
	return st;
}

/* The rule of store/pa_store.c clean(): an agent whose view of storage is
 * stale never removes the generation the commit record names.  s1: b1
 * committed in generation 0; s2, what another writer leaves: b2 committed in
 * generation 1 (b1's generation 0 removed). */
static void stale_views(const snap *s1)
{
	snap s2, now;
	int rc;

	snap_restore(devdir, s1);
	CHECK(restart() == PA_OK && A.installed.gen == 0 && state_is(1, 1));
	CHECK(install_again(b2.p, b2.n) == PA_OK && A.installed.gen == 1 && state_is(1, 2));
	snap_take(devdir, &s2);

	/* recovery: the other writer commits generation 1 just after recovery
	 * read the commit record and generation 0's index (its view) */
	racing = *plain;
	racing.get = racing_get;
	race_uid = PA_UID_SET(0, PA_UID_REC_INDEX);
	race_to = &s2;
	race_fired = 0;
	snap_restore(devdir, s1);
	psa_reboot();
	rc = pa_agent_start(&A, &racing, SIG, nsig);
	snap_take(devdir, &now);
	CHECK_MSG(race_fired, "stale recovery: recovery never read generation 0's index");
	CHECK_MSG(rc == PA_S_CHANGED, "stale recovery: start %d, want %d", rc, PA_S_CHANGED);
	CHECK_MSG(snap_equal(&now, &s2), "stale recovery: the committed generation 1 was touched");
	snap_free(&now);
	rc = restart();
	CHECK_MSG(rc == PA_OK && state_is(1, 2), "after a stale recovery: start %d", rc);

	/* install: an agent started on s1 (generation 0 current, counter 1), then
	 * the other writer commits b2 in generation 1; this agent's install of
	 * b4psk would write generation 1 */
	snap_restore(devdir, s1);
	CHECK(restart() == PA_OK && state_is(1, 1));
	CHECK(snap_restore(devdir, &s2) == 0);
	rc = install_again(b4psk.p, b4psk.n);
	snap_take(devdir, &now);
	CHECK_MSG(rc == PA_S_CHANGED, "stale install: %d, want %d", rc, PA_S_CHANGED);
	CHECK_MSG(snap_equal(&now, &s2), "stale install: the committed generation 1 was touched");
	snap_free(&now);
	rc = restart();
	CHECK_MSG(rc == PA_OK && state_is(1, 2), "after a stale install: start %d", rc);

	snap_free(&s2);
	snap_restore(devdir, s1);
	CHECK(restart() == PA_OK && state_is(1, 1));
}

/* A read-only opener (pa_agent_open_readonly) writes nothing: s1 with a
 * leftover of generation 1 (a cut install's first record) keeps it, lookups
 * work, keygen and install are refused; no identity key is made. */
static void readonly_opener(const snap *s1)
{
	static const char identity_file[] = "000000002a000001.psa_its";   /* PSA ITS: key 0x2a000001 */
	snap before, now;
	psa_key_id_t id = 0;
	struct stat sb;
	int rc;

	snap_restore(devdir, s1);
	CHECK(plain->set(plain->ctx, PA_UID_SET(1, 0), (const uint8_t *)"left", 4) == PA_PORT_OK);
	snap_take(devdir, &before);
	CHECK(before.n == s1->n + 1);
	psa_reboot();
	pa_fault_port_arm(&FP, 0, 0);
	rc = pa_agent_open_readonly(&A, faulty);
	CHECK_MSG(rc == PA_OK, "read-only open: %d", rc);
	CHECK(state_is(1, 1));   /* keys, records and profile of the committed set */
	CHECK(pa_keygen_start(&A) == PA_A_STATE);
	CHECK(pa_keygen(&A, 1, &id) == PA_A_STATE && id == 0);
	rc = install_again(b2.p, b2.n);
	CHECK_MSG(rc == PA_V_UNKNOWN_SIGNER, "read-only install: %d", rc);
	snap_take(devdir, &now);
	CHECK_MSG(FP.writes == 0, "read-only opener: %lu writes", FP.writes);
	CHECK_MSG(snap_equal(&before, &now), "read-only opener changed storage");
	snap_free(&now);
	/* the agent that writes removes the leftover at its start */
	CHECK(restart() == PA_OK && state_is(1, 1));
	snap_take(devdir, &now);
	CHECK(snap_equal(&now, s1));
	snap_free(&now);
	snap_free(&before);

	/* without an identity key a read-only open fails and makes none */
	CHECK(unlink(identity_file) == 0);
	snap_take(devdir, &before);
	psa_reboot();
	rc = pa_agent_open_readonly(&A, plain);
	CHECK_MSG(rc == PA_A_IDENTITY, "read-only open without identity: %d", rc);
	CHECK(stat(identity_file, &sb) != 0);
	snap_take(devdir, &now);
	CHECK(snap_equal(&before, &now));
	snap_free(&now);
	snap_free(&before);
	CHECK(pa_agent_start(&A, plain, NULL, 1) == PA_A_ARGS);   /* no signers but a count */
	snap_restore(devdir, s1);
	CHECK(restart() == PA_OK && state_is(1, 1));
}

/* Keygen for slot 1 on the running agent, its CSR through prov: a rotation of
 * X with the device's key, bundled to `out`. */
static int keygen_bundle(const char *prov, const char *top, const char *out)
{
	uint8_t csr[PA_CSR_MAX];
	size_t len = 0;
	psa_key_id_t id = 0;
	char path[PATH_MAX + 64];
	FILE *f;

	if (pa_keygen(&A, 1, &id) != PA_OK ||
	    pa_keygen_csr(id, "X", 1, csr, sizeof(csr), &len) != PA_OK)
		return -1;
	snprintf(path, sizeof(path), "%s/k.csr.der", work);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(csr, 1, len, f) != len || fclose(f) != 0)
		return -1;
	return run("set -e; cd '%s'; exec >/dev/null 2>&1; "
	           "openssl req -inform DER -in k.csr.der -verify -out k.csr.pem; "
	           "'%s' mint --home f --rotate --template '%s/templates/mqtt-mtls.json' "
	           "--device X --csr k.csr.pem --recipient-key dev.pub; "
	           "'%s' bundle --home f --device X --out %s", work, prov, top, prov, out);
}

static int make_bundles(const char *prov, const char *top)
{
	return run("set -e; cd '%s'; P='%s'; T='%s/templates'; "
	           "$P init --home f >/dev/null; $P init --home f2 >/dev/null; "
	           "$P signer export --home f > signer.pem; $P signer export --home f2 > signer2.pem; "
	           "openssl ecparam -name prime256v1 -genkey -noout -out other.key 2>/dev/null; "
	           "openssl ec -in other.key -pubout -out other.pub 2>/dev/null; "
	           "exit 0", work, prov, top) ||
	       run("set -e; cd '%s'; P='%s'; T='%s/templates'; exec >/dev/null; "
	           "$P mint --home f --template $T/mqtt-mtls.json --device X --recipient-key dev.pub; "
	           "$P bundle --home f --device X --out b1.cbor; "
	           "$P bundle --home f --device X --out b2.cbor; "
	           "$P bundle --home f --device X --nonce " NONCE_HEX " --out b3n.cbor; "
	           "$P mint --home f --template $T/mqtt-mtls.json --device Y --recipient-key dev.pub; "
	           "$P bundle --home f --device Y --out by.cbor; "
	           "$P mint --home f2 --template $T/mqtt-mtls.json --device X --recipient-key dev.pub; "
	           "$P bundle --home f2 --device X --out bf2.cbor; "
	           "$P mint --home f --rotate --template $T/coaps-psk.json --device X --recipient-key dev.pub; "
	           "$P bundle --home f --device X --out b4psk.cbor; "
	           "$P mint --home f --rotate --template $T/mqtt-mtls.json --device X --recipient-key other.pub; "
	           "$P bundle --home f --device X --out b5other.cbor; "
	           "$P bundle --home f --device X --wipe --out b6wipe.cbor; "
	           "$P mint --home f --rotate --template $T/mqtt-mtls.json --device X --recipient-key dev.pub; "
	           "$P bundle --home f --device X --out b7.cbor", work, prov, top);
}

int main(int argc, char **argv)
{
	char self[PATH_MAX], build[PATH_MAX], prov[PATH_MAX + 8], top[PATH_MAX], path[PATH_MAX + 64];
	snap s0, s1, s3, s4, s6, sk0, sk1;
	blob bk1, bk2, bw;
	pa_signer wrong;
	uint8_t pad[PA_BUNDLE_MAX + 1];
	blob big;
	int rc;

	(void)argc;
	if (realpath(argv[0], self) == NULL || getcwd(top, sizeof(top)) == NULL)
		return 1;
	memcpy(repo_top, top, sizeof(repo_top));
	snprintf(build, sizeof(build), "%s", dirname(dirname(self)));
	snprintf(prov, sizeof(prov), "%s/prov", build);
	snprintf(work, sizeof(work), "/tmp/pa-test-XXXXXX");
	if (make_device_dir(work, devdir, sizeof(devdir)) != 0)
		return 1;

	/* the device first: its identity key receives the bundles' secrets */
	if (chdir(devdir) != 0)
		return 1;
	plain = pa_dir_port_init(&DP, ".");
	DP.no_sync = 1;   /* power cuts are simulated; fsync only costs time here */
	faulty = pa_fault_port_init(&FP, plain);
	memset(SIG, 0, sizeof(SIG));
	rc = pa_agent_start(&A, plain, SIG, 1);
	CHECK_MSG(rc == PA_OK, "first start: %d", rc);
	snprintf(path, sizeof(path), "%s/dev.pub", work);
	CHECK(write_pub_pem(path, A.pub) == 0);
	CHECK(make_bundles(prov, top) == 0);
	snprintf(path, sizeof(path), "%s/signer.pem", work);
	CHECK(signer_from_pem(path, &SIG[0]) == 0);
	snprintf(path, sizeof(path), "%s/signer2.pem", work);
	CHECK(signer_from_pem(path, &wrong) == 0);
	b1 = load("b1.cbor"), b2 = load("b2.cbor"), b3n = load("b3n.cbor"), by = load("by.cbor");
	bf2 = load("bf2.cbor"), b4psk = load("b4psk.cbor"), b5other = load("b5other.cbor");
	b6wipe = load("b6wipe.cbor"), b7 = load("b7.cbor");
	CHECK_MSG(b7.p != NULL, "the bundles prov made are missing");
	if (b7.p == NULL)
		return check_done("test_agent_install");   /* a failed check: exits 1 */

	/* fresh device */
	CHECK(restart() == PA_OK);
	CHECK(state_is(0, 0));
	snap_take(devdir, &s0);

	/* a full install, then lookups and the receipt */
	rc = install_on(plain, b1.p, b1.n);
	CHECK_MSG(rc == PA_OK, "install b1: %d", rc);
	CHECK(state_is(1, 1));
	CHECK(receipt_ok(1, &b1, NULL));
	{
		/* committed with the set: storage holds the receipt returned,
		 * byte for byte, and keeps it over a reboot */
		uint8_t got[PA_RECEIPT_MAX];
		size_t got_len = receipt_len;

		memcpy(got, receipt, receipt_len);
		CHECK(restart() == PA_OK && state_is(1, 1));   /* survives a reboot */
		CHECK(stored_receipt() && receipt_len == got_len && memcmp(receipt, got, got_len) == 0);
	}
	snap_take(devdir, &s1);

	/* rejections, storage unchanged */
	expect_reject("replay", &b1, PA_V_REPLAY);
	expect_reject("wrong device", &by, PA_V_WRONG_DEVICE);
	expect_reject("wrong signer", &bf2, PA_V_UNKNOWN_SIGNER);
	expect_reject("secrets for another key", &b5other, PA_V_WRONG_RECIPIENT);
	expect_reject("empty", &(blob){ b2.p, 0 }, PA_V_TRUNCATED);
	memcpy(pad, b2.p, b2.n);
	memset(pad + b2.n, 0, sizeof(pad) - b2.n);
	big.p = pad;
	big.n = sizeof(pad);
	expect_reject("oversized", &big, PA_V_TOO_LARGE);
	big.n = b2.n + 1;
	expect_reject("trailing byte", &big, PA_V_MALFORMED);
	CHECK(pa_agent_set_nonce(&A, (const uint8_t *)"0123456789abcdef", 16) == PA_OK);
	expect_reject("wrong nonce", &b3n, PA_V_NONCE);
	expect_reject("no nonce in a session", &b2, PA_V_NONCE);
	CHECK(pa_agent_set_nonce(&A, NULL, 0) == PA_OK);
	/* a key with the trusted kid but another key: the signature fails */
	memcpy(wrong.kid, SIG[0].kid, 8);
	SIG[1] = SIG[0];
	SIG[0] = wrong;
	expect_reject("kid of a trusted signer, other key", &b2, PA_V_BAD_SIGNATURE);
	SIG[0] = SIG[1];
	exhaustive(&b2);
	crafted(&s1);
	readonly_opener(&s1);
	stale_views(&s1);
	CHECK(restart() == PA_OK && state_is(1, 1));

	/* a session nonce, then rollback */
	{
		static const uint8_t n[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
		                               0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };

		CHECK(pa_agent_set_nonce(&A, n, sizeof(n)) == PA_OK);
		rc = install_again(b3n.p, b3n.n);
		CHECK_MSG(rc == PA_OK, "install b3n: %d", rc);
		CHECK(receipt_ok(3, &b3n, NONCE_HEX));
		CHECK(A.nonce_len == 0);
	}
	CHECK(state_is(1, 3));
	expect_reject("rollback", &b2, PA_V_ROLLBACK);
	snap_take(devdir, &s3);

	/* rotation to another template: the old slot and its key are gone */
	{
		psa_key_id_t old = A.installed.e[1].key_id;
		psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;

		rc = install_again(b4psk.p, b4psk.n);
		CHECK_MSG(rc == PA_OK, "install b4psk: %d", rc);
		CHECK_MSG(bundle_wiped(), "b4psk: the decrypted PSK left in the bundle buffer");
		CHECK(state_is(4, 4));
		CHECK(receipt_ok(4, &b4psk, NULL));
		CHECK(psa_get_key_attributes(old, &at) != PSA_SUCCESS);
		psa_reset_key_attributes(&at);
	}
	snap_take(devdir, &s4);

	/* wipe: keys and records gone, the counter kept */
	rc = install_again(b6wipe.p, b6wipe.n);
	CHECK_MSG(rc == PA_OK, "install wipe: %d", rc);
	CHECK(state_is(6, 6));
	CHECK(receipt_ok(6, &b6wipe, NULL));
	CHECK(restart() == PA_OK && state_is(6, 6));
	snap_take(devdir, &s6);
	CHECK_MSG(s6.n == 3, "after a wipe: %zu files (device-id, identity key, commit)", s6.n);
	expect_reject("replay after wipe", &b4psk, PA_V_ROLLBACK);
	rc = install_again(b7.p, b7.n);
	CHECK_MSG(rc == PA_OK, "install after wipe: %d", rc);
	CHECK(state_is(1, 7));

	/* power cuts */
	power_cuts("full install", &s0, &b1, 0, 0, 1, 1);
	power_cuts("rotation, same template", &s1, &b2, 1, 1, 1, 2);
	power_cuts("rotation, mqtt-mtls to coaps-psk", &s3, &b4psk, 1, 3, 4, 4);
	power_cuts("wipe", &s4, &b6wipe, 4, 4, 6, 6);
	power_cuts("install after wipe", &s6, &b7, 6, 6, 1, 7);
	/* keys made on the device: a keygen, a keygen + install that adopts the
	 * key, and a rotation to a new device-made key */
	keygen_cuts(&s0);
	snap_restore(devdir, &s0);
	CHECK(restart() == PA_OK);
	CHECK(keygen_bundle(prov, top, "bk1.cbor") == 0);
	CHECK(state_is(9, 0));
	snap_take(devdir, &sk0);
	bk1 = load("bk1.cbor");
	power_cuts("keygen + install", &sk0, &bk1, 9, 0, 8, 8);
	snap_restore(devdir, &sk0);
	rc = install_on(plain, bk1.p, bk1.n);
	CHECK_MSG(rc == PA_OK && state_is(8, 8), "keygen install: %d", rc);
	CHECK(receipt_ok(8, &bk1, NULL));
	CHECK(keygen_bundle(prov, top, "bk2.cbor") == 0);
	CHECK(state_is(10, 8));
	snap_take(devdir, &sk1);
	bk2 = load("bk2.cbor");
	power_cuts("rotation with a new keygen", &sk1, &bk2, 10, 8, 8, 9);
	/* a pending key no set adopts goes at the next commit: a wipe */
	snap_restore(devdir, &sk1);
	CHECK(restart() == PA_OK && state_is(10, 8));
	rc = install_again(b6wipe.p, b6wipe.n);
	CHECK_MSG(rc == PA_V_ROLLBACK, "old wipe: %d", rc);   /* counter 6 < 8 */
	CHECK(restart() == PA_OK && state_is(10, 8));         /* refused: still pending */
	CHECK(run("cd '%s' && '%s' bundle --home f --device X --wipe --out bw.cbor >/dev/null",
	          work, prov) == 0);
	bw = load("bw.cbor");
	rc = install_again(bw.p, bw.n);
	CHECK_MSG(rc == PA_OK, "wipe: %d", rc);
	CHECK(A.kg_used == 0 && pool_ok() && A.installed.n == 0);
	CHECK(restart() == PA_OK && pool_ok() && A.kg_used == 0);
	snap_free(&sk0);
	snap_free(&sk1);
	free(bk1.p), free(bk2.p), free(bw.p);

	CHECK_MSG(cuts_bad == 0, "%lu inconsistent", cuts_bad);
	CHECK_MSG(readers_tried > 0 && readers_bad == 0,
	          "second opener: %lu of %lu wrong", readers_bad, readers_tried);
	printf("%lu cuts tried, %lu inconsistent; a read-only second opener at %lu of them: "
	       "%lu wrote or saw a mixed set\n", cuts_tried, cuts_bad, readers_tried, readers_bad);

	snap_free(&s0);
	snap_free(&s1);
	snap_free(&s3);
	snap_free(&s4);
	snap_free(&s6);
	free(b1.p), free(b2.p), free(b3n.p), free(by.p), free(bf2.p), free(b4psk.p);
	free(b5other.p), free(b6wipe.p), free(b7.p);
	psa_reboot();
	run("rm -rf '%s'", work);
	return check_done("test_agent_install");
}
