/* cmd_export.c - prov export: a device's credentials, and PSK tables for servers.
 *
 * Revealed secrets never pass through jansson (whose buffers are freed unwiped)
 * or stdio (whose stdout buffer keeps a copy until exit): text that holds one is
 * built in an OpenSSL memory BIO (grown with BUF_MEM_grow_clean, freed with
 * OPENSSL_clear_free) and written to stdout with write(2).  JSON that holds one is
 * written by jw_* below in exactly jansson's layout, every other value formatted
 * by jansson itself. */
#include <errno.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "prov/escape.h"
#include "prov/keys.h"
#include "prov/lwm2m.h"
#include "prov/records.h"
#include "prov/template.h"
#include "prov/util.h"
#include "prov/vault.h"

const char usage_export[] =
	"usage: prov export --device ID --what cert|chain|pubkey|psk|key|bundle [--reveal] [--der]\n"
	"                   [--out FILE]\n"
	"       prov export --device ID --what lwm2m-security [--reveal] [--json] [--out FILE]\n"
	"       prov export psk-table --format gnutls|json|csv --reveal [--out FILE]\n"
	"\n"
	"Print a device's current credentials (stdout unless --out):\n"
	"  cert     its certificate (PEM, or DER with --der)\n"
	"  chain    its certificate followed by the CA chain (PEM)\n"
	"  pubkey   its public key (PEM, or DER with --der)\n"
	"  psk      IDENTITY:HEXKEY (secret: needs --reveal)\n"
	"  key      a host-made private key, PKCS#8 (secret: needs --reveal; a key\n"
	"           made on the device never left it and cannot be exported)\n"
	"  bundle   its latest bundle (prov bundle, prov mint --bundles), as written\n"
	"  lwm2m-security  its LwM2M Security object instance for the server (resources\n"
	"           0 1 2 3 4 10 16, opaque values in hex; 5, the secret key, only with\n"
	"           --reveal); --json for the JSON, else one \"ID VALUE\" line each\n"
	"psk-table prints every device's current PSK for a server: gnutls\n"
	"(identity:hexkey lines, as gnutls-serv --pskpasswd reads; #HEX for an\n"
	"identity with ':'), json or csv (identity,key_hex,device; a cell starting\n"
	"with = + - @ TAB or CR gets a leading ' so that a spreadsheet does not run\n"
	"it as a formula).  A damaged row is left out with a note on stderr, the\n"
	"others are written, and the exit status is 12.\n"
	"Secrets need --reveal, are written with mode 0600 under --out, and every\n"
	"export of one is recorded in the audit log.\n";

enum what { W_CERT, W_CHAIN, W_PUBKEY, W_PSK, W_KEY, W_BUNDLE, W_LWM2M };

/* Secret bytes to stdout: straight to the descriptor, never into stdio's buffer. */
static int write_stdout(cli *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	prov_err e;

	if (fflush(stdout) != 0) {
		prov_err_set(&e, PROV_E_IO, "cannot write standard output: %s", strerror(errno));
		return cli_fail(c, &e);
	}
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			prov_err_set(&e, PROV_E_IO, "cannot write standard output: %s",
			             w < 0 ? strerror(errno) : "short write");
			return cli_fail(c, &e);
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static int emit(cli *c, const char *out, const void *p, size_t n, int secret)
{
	if (secret && out == NULL)
		return write_stdout(c, p, n);
	return cli_write_out(c, out, p, n, secret ? 0600 : 0644);
}

/* ---- text holding secrets, in a wiped memory BIO --------------------------------- */

static int put(BIO *b, const void *p, size_t n)
{
	return n == 0 || BIO_write(b, p, (int)n) == (int)n ? 0 : -1;
}

static int puts_(BIO *b, const char *s)
{
	return put(b, s, strlen(s));
}

/* Lower-case hex of a secret, through a stack buffer that is wiped. */
static int put_hex(BIO *b, const uint8_t *p, size_t n)
{
	char hex[2 * 32 + 1];
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0; i += 32) {
		size_t k = n - i < 32 ? n - i : 32;

		rc = put(b, prov_hex(p + i, k, hex), 2 * k);
	}
	prov_wipe(hex, sizeof(hex));
	return rc;
}

/* A JSON value (never a secret) as jansson writes it, compact. */
static int jw_scalar(BIO *b, const json_t *v)
{
	char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc = t != NULL ? puts_(b, t) : -1;

	free(t);
	return rc;
}

/* Newline and two spaces per level: jansson's JSON_INDENT(2). */
static int jw_indent(BIO *b, int depth)
{
	int rc = put(b, "\n", 1);

	for (int i = 0; i < depth && rc == 0; i++)
		rc = put(b, "  ", 2);
	return rc;
}

/* A member added to one object of a tree as it is written: "key": "HEX". */
struct jw_secret {
	const json_t *obj;
	const char *key;
	const uint8_t *bytes;
	size_t len;
};

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* v as json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS) writes it, plus x's member
 * in its sorted place. */
static int jw_value(BIO *b, const json_t *v, int depth, const struct jw_secret *x)
{
	if (json_is_array(v)) {
		size_t n = json_array_size(v);
		int rc = put(b, "[", 1);

		if (n == 0)
			return rc == 0 ? put(b, "]", 1) : -1;
		for (size_t i = 0; i < n && rc == 0; i++) {
			rc = jw_indent(b, depth + 1);
			if (rc == 0)
				rc = jw_value(b, json_array_get(v, i), depth + 1, x);
			if (rc == 0 && i + 1 < n)
				rc = put(b, ",", 1);
		}
		if (rc == 0)
			rc = jw_indent(b, depth);
		return rc == 0 ? put(b, "]", 1) : -1;
	}
	if (json_is_object(v)) {
		int extra = x != NULL && x->obj == v && json_object_get(v, x->key) == NULL;
		size_t n = json_object_size(v) + (size_t)extra, i = 0;
		const char **keys = calloc(n + 1, sizeof(*keys));
		const char *k;
		json_t *m;
		int rc;

		if (keys == NULL)
			return -1;
		json_object_foreach((json_t *)v, k, m)
			keys[i++] = k;
		if (extra)
			keys[i++] = x->key;
		qsort(keys, n, sizeof(*keys), key_cmp);
		rc = put(b, "{", 1);
		if (n == 0)
			rc = rc == 0 ? put(b, "}", 1) : -1;
		for (i = 0; i < n && rc == 0; i++) {
			json_t *kj = json_string(keys[i]);

			rc = jw_indent(b, depth + 1);
			if (rc == 0)
				rc = kj != NULL ? jw_scalar(b, kj) : -1;
			json_decref(kj);
			if (rc == 0)
				rc = put(b, ": ", 2);
			if (rc == 0 && extra && keys[i] == x->key) {
				rc = put(b, "\"", 1);
				if (rc == 0)
					rc = put_hex(b, x->bytes, x->len);
				if (rc == 0)
					rc = put(b, "\"", 1);
			} else if (rc == 0) {
				rc = jw_value(b, json_object_get(v, keys[i]), depth + 1, x);
			}
			if (rc == 0 && i + 1 < n)
				rc = put(b, ",", 1);
		}
		if (rc == 0 && n > 0)
			rc = jw_indent(b, depth);
		if (rc == 0 && n > 0)
			rc = put(b, "}", 1);
		free(keys);
		return rc;
	}
	return jw_scalar(b, v);
}

static int audit(cli *c, prov_home *h, const char *dev, const char *what)
{
	char detail[128];
	prov_err e;

	snprintf(detail, sizeof(detail), "{\"what\":\"%s\"}", what);
	if (prov_records_audit(h->db, "export", dev, detail, &e) != PROV_OK)
		return cli_fail(c, &e);
	return 0;
}

/* Whether gnutls reads the identity as written in a PSK password file: it takes
 * everything up to the first ':' as the name and a leading '#' as hex
 * (gnutls_psk_set_server_credentials_file(3)).  Device IDs may hold ':'. */
static int gnutls_plain_identity(const char *id, int n)
{
	if (n > 0 && id[0] == '#')
		return 0;
	for (int i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)id[i];

		if (ch == ':' || ch < 0x20 || ch == 0x7f)
			return 0;
	}
	return 1;
}

/* A record the device lacks: PROV_E_NOTFOUND saying which. */
static int missing(cli *c, const char *what)
{
	prov_err e;

	prov_err_set(&e, PROV_E_NOTFOUND, "%s", what);
	return cli_fail(c, &e);
}

static int export_cert(cli *c, prov_home *h, const char *dev, int gen, enum what w, int der,
                       const char *out)
{
	uint8_t *cert = NULL;
	size_t n = 0;
	X509 *x = NULL;
	BIO *b = NULL;
	BUF_MEM *m;
	const unsigned char *p;
	prov_err e;
	int rc, found = 0;

	if (prov_records_cert(h->db, dev, gen, -1, &cert, &n, &found, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	if (!found) {
		rc = missing(c, "the device has no certificate");
		goto out;
	}
	/* Never hand out a damaged certificate, in DER or PEM: parse it first. */
	p = cert;
	x = d2i_X509(NULL, &p, (long)n);
	if (x == NULL || p != cert + n) {
		prov_err_set(&e, PROV_E_DB, "stored certificate of %s is corrupt", dev);
		rc = cli_fail(c, &e);
		goto out;
	}
	if (der && w == W_CERT) {
		rc = emit(c, out, cert, n, 0);
		goto out;
	}
	b = BIO_new(BIO_s_mem());
	if (b == NULL || !PEM_write_bio_X509(b, x)) {
		prov_err_ssl(&e, PROV_E_INTERNAL, "cannot encode the certificate of %s", dev);
		rc = cli_fail(c, &e);
		goto out;
	}
	for (int i = 0; w == W_CHAIN && i < sk_X509_num(h->ca_chain); i++)
		PEM_write_bio_X509(b, sk_X509_value(h->ca_chain, i));
	BIO_get_mem_ptr(b, &m);
	rc = emit(c, out, m->data, m->length, 0);
out:
	BIO_free(b);
	X509_free(x);
	free(cert);
	return rc;
}

/* The device's key of generation gen; 0, or the exit status of the failure. */
static int device_key(cli *c, prov_home *h, const char *dev, int gen, prov_rec_key *key)
{
	prov_err e;
	int found = 0;

	if (prov_records_key(h->db, dev, gen, key, &found, &e) != PROV_OK)
		return cli_fail(c, &e);
	return found ? 0 : missing(c, "the device has no key pair (its template issues none)");
}

static int export_pubkey(cli *c, prov_home *h, const char *dev, int gen, int der, const char *out)
{
	prov_rec_key key;
	EVP_PKEY *k = NULL;
	char *pem = NULL;
	prov_err e;
	int rc = device_key(c, h, dev, gen, &key);

	if (rc != 0)
		goto out;
	if (prov_key_from_spki(key.spki, key.spki_len, &k, &e) != PROV_OK) {
		prov_err_set(&e, PROV_E_DB, "stored public key of %s is corrupt", dev);
		rc = cli_fail(c, &e);
		goto out;
	}
	if (der) {
		rc = emit(c, out, key.spki, key.spki_len, 0);
		goto out;
	}
	if (prov_key_public_pem(k, &pem, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	rc = emit(c, out, pem, strlen(pem), 0);
out:
	free(pem);
	EVP_PKEY_free(k);
	prov_rec_key_free(&key);
	return rc;
}

static int export_psk(cli *c, prov_home *h, const char *dev, int gen, const char *out)
{
	prov_rec_psk psk;
	uint8_t key[PROV_VAULT_PSK_MAX];
	char line[128 + 1 + 128 + 2], hex[129];
	size_t n = 0;
	prov_err e;
	int rc, found = 0;

	if (prov_records_psk(h->db, dev, gen, -1, &psk, &found, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	if (!found) {
		rc = missing(c, "the device has no PSK");
		goto out;
	}
	if (prov_vault_open_psk(&h->kek, dev, gen, psk.slot, psk.sealed, psk.sealed_len, key, &n, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	snprintf(line, sizeof(line), "%.*s:%s\n", (int)psk.identity_len, (const char *)psk.identity,
	         prov_hex(key, n, hex));
	rc = audit(c, h, dev, "psk");
	if (rc == 0)
		rc = emit(c, out, line, strlen(line), 1);
out:
	prov_wipe(key, sizeof(key));
	prov_wipe(hex, sizeof(hex));
	prov_wipe(line, sizeof(line));
	prov_rec_psk_free(&psk);
	return rc;
}

static int export_key(cli *c, prov_home *h, const char *dev, int gen, int der, const char *out)
{
	prov_rec_key key;
	EVP_PKEY *k = NULL;
	BIO *b = NULL;
	BUF_MEM *m;
	uint8_t raw[PROV_VAULT_KEY_MAX];
	size_t n = 0;
	prov_err e;
	int rc = device_key(c, h, dev, gen, &key);

	if (rc != 0)
		goto out;
	if (key.sealed == NULL) {
		prov_err_set(&e, PROV_E_NOTFOUND,
		             "the private key of %s was made on the device (from its %s) and never left it",
		             dev, key.origin);
		rc = cli_fail(c, &e);
		goto out;
	}
	if (prov_vault_open_key(&h->kek, dev, gen, key.sealed, key.sealed_len, raw, &n, &e) != PROV_OK ||
	    prov_key_from_raw_private(prov_key_type_parse(key.key_type), raw, n, &k, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	b = BIO_new(BIO_s_secmem());
	if (b == NULL || !(der ? i2d_PKCS8PrivateKey_bio(b, k, NULL, NULL, 0, NULL, NULL)
	                       : PEM_write_bio_PKCS8PrivateKey(b, k, NULL, NULL, 0, NULL, NULL))) {
		prov_err_ssl(&e, PROV_E_CRYPTO, "cannot encode the private key of %s", dev);
		rc = cli_fail(c, &e);
		goto out;
	}
	BIO_get_mem_ptr(b, &m);
	rc = audit(c, h, dev, "key");
	if (rc == 0)
		rc = emit(c, out, m->data, m->length, 1);
out:
	prov_wipe(raw, sizeof(raw));
	BIO_free(b);
	EVP_PKEY_free(k);
	prov_rec_key_free(&key);
	return rc;
}

/* The device's latest recorded bundle, as `prov bundle` wrote it. */
static int export_bundle(cli *c, prov_home *h, const char *dev, const char *out)
{
	prov_rec_bundle b;
	prov_err e;
	int rc, found = 0;

	if (prov_records_bundle(h->db, dev, 0, &b, &found, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	if (!found) {
		rc = missing(c, "the device has no bundle yet (prov bundle, or prov mint --bundles)");
		goto out;
	}
	if (b.data_len == 0) {
		prov_err_set(&e, PROV_E_NOTFOUND,
		             "bundle %llu of %s carried plaintext secrets (lab) and was not recorded; build a new one",
		             b.counter, dev);
		rc = cli_fail(c, &e);
		goto out;
	}
	rc = emit(c, out, b.data, b.data_len, 1);
out:
	prov_rec_bundle_free(&b);
	return rc;
}

/* The LwM2M Security object (prov/lwm2m.h); secret resource 5 only with --reveal. */
static int export_lwm2m(cli *c, prov_home *h, const char *dev, int reveal, const char *out)
{
	prov_lwm2m_secret *sec = NULL;
	json_t *o = NULL, *res, *v;
	BIO *b = NULL;
	BUF_MEM *m;
	prov_err e;
	int rc = 0, bad = 0;

	if (reveal && (sec = OPENSSL_secure_zalloc(sizeof(*sec))) == NULL) {
		prov_err_set(&e, PROV_E_INTERNAL, "out of memory");
		return cli_fail(c, &e);
	}
	if (prov_lwm2m_security(h, dev, sec, &o, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	res = json_object_get(o, "resources");
	if (sec != NULL && sec->present && (rc = audit(c, h, dev, "lwm2m-security")) != 0)
		goto out;
	b = BIO_new(BIO_s_secmem());
	if (b == NULL) {
		bad = 1;
	} else if (c->json && (sec == NULL || !sec->present)) {
		/* Nothing secret in it: jansson writes it all. */
		char *t = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);

		bad = t == NULL || puts_(b, t) != 0 || put(b, "\n", 1) != 0;
		free(t);
	} else if (c->json) {
		struct jw_secret x = {res, "5", sec->bytes, sec->len};

		bad = jw_value(b, o, 0, &x) != 0 || put(b, "\n", 1) != 0;
	} else {
		/* "ID VALUE" lines in resource order. */
		static const char *const ids[] = {"0", "1", "2", "3", "4", "5", "10", "15", "16"};
		char text[4 * 1024 + 8];

		for (size_t i = 0; !bad && i < sizeof(ids) / sizeof(ids[0]); i++) {
			if (strcmp(ids[i], "5") == 0) {
				if (sec != NULL && sec->present)
					bad = puts_(b, "5 ") != 0 || put_hex(b, sec->bytes, sec->len) != 0 ||
					      put(b, "\n", 1) != 0;
				continue;
			}
			if ((v = json_object_get(res, ids[i])) == NULL)
				continue;
			/* string resources (URI, identity) come from the template and the
			 * database: escaped like all outside text in human output */
			bad = puts_(b, ids[i]) != 0 || put(b, " ", 1) != 0 ||
			      (json_is_string(v)
			           ? puts_(b, prov_escape(text, sizeof(text), json_string_value(v),
			                                  json_string_length(v)))
			           : jw_scalar(b, v)) != 0 ||
			      put(b, "\n", 1) != 0;
		}
	}
	if (bad) {
		prov_err_set(&e, PROV_E_INTERNAL, "out of memory");
		rc = cli_fail(c, &e);
		goto out;
	}
	BIO_get_mem_ptr(b, &m);
	rc = emit(c, out, m->data, m->length, reveal);
out:
	BIO_free(b); /* secure memory BIO: wiped as it is freed */
	if (sec != NULL)
		OPENSSL_secure_clear_free(sec, sizeof(*sec));
	json_decref(o);
	return rc;
}

/* One CSV cell of outside text.  Quoted as RFC 4180 requires ("" for "); always
 * when `quote`, else only when it must be.  A cell that a spreadsheet would run
 * as a formula (first character = + - @ TAB CR; OWASP "CSV Injection") gets a
 * leading ' and quotes. */
static int csv_cell(BIO *b, const char *s, size_t n, int quote)
{
	int formula = n > 0 && strchr("=+-@\t\r", s[0]) != NULL;
	int rc = 0;

	for (size_t i = 0; i < n && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
	quote |= formula;
	if (quote)
		rc = put(b, formula ? "\"'" : "\"", formula ? 2 : 1);
	for (size_t i = 0, from = 0; i <= n && rc == 0; i++)
		if (i == n || s[i] == '"') {
			rc = put(b, s + from, i - from);
			if (rc == 0 && i < n)
				rc = put(b, "\"\"", 2);
			from = i + 1;
		}
	if (quote && rc == 0)
		rc = put(b, "\"", 1);
	return rc;
}

/* A row of the PSK table that cannot be written: a note on stderr. */
static void left_out(cli *c, const prov_err *e)
{
	fflush(stdout);
	fprintf(stderr, "prov: %s: psk-table: row left out: %s\n", c->cmd, e->msg);
}

/* One row in `format`; 1 if it is left out (damaged: a note is printed), -1 on
 * an error that ends the export (*e set). */
static int psk_row(cli *c, prov_home *h, const prov_rec_psk_row *r, const char *format, int first,
                   BIO *b, prov_err *e)
{
	const char *dev = r->device != NULL ? r->device : "";
	const char *ident = (const char *)r->identity;
	int il = (int)r->identity_len, rc = 0;
	uint8_t key[PROV_VAULT_PSK_MAX];
	size_t n = 0;
	char db[300];
	prov_status st;

	st = prov_vault_open_psk(&h->kek, dev, r->generation, r->slot, r->sealed, r->sealed_len, key, &n, e);
	if (st != PROV_OK) {
		if (st != PROV_E_DB)
			return -1;
		left_out(c, e);
		return 1;
	}
	if (strcmp(format, "gnutls") == 0) {
		char idhex[2 * PROV_PSK_IDENTITY_MAX + 1];

		if (gnutls_plain_identity(ident, il)) {
			rc = put(b, ident, (size_t)il);
		} else if (il <= PROV_PSK_IDENTITY_MAX) {
			rc = put(b, "#", 1);
			if (rc == 0)
				rc = puts_(b, prov_hex((const uint8_t *)ident, (size_t)il, idhex));
		} else {
			prov_err_set(e, PROV_E_DB, "the PSK identity of device \"%s\" is damaged: %d bytes, more than %d",
			             prov_escape_str(db, sizeof(db), dev), il, PROV_PSK_IDENTITY_MAX);
			left_out(c, e);
			rc = 1;
			goto out;
		}
		if (rc == 0)
			rc = put(b, ":", 1);
		if (rc == 0)
			rc = put_hex(b, key, n);
		if (rc == 0)
			rc = put(b, "\n", 1);
	} else if (strcmp(format, "csv") == 0) {
		/* Identities come from a template pattern: always quoted, as before. */
		rc = csv_cell(b, ident, (size_t)il, 1);
		if (rc == 0)
			rc = put(b, ",", 1);
		if (rc == 0)
			rc = put_hex(b, key, n);
		if (rc == 0)
			rc = put(b, ",", 1);
		if (rc == 0)
			rc = csv_cell(b, dev, strlen(dev), 0);
		if (rc == 0)
			rc = put(b, "\n", 1);
	} else {
		/* As json_dumps(JSON_INDENT(2)) wrote [{"identity", "key_hex", "device"}...];
		 * the strings formatted by jansson (which also checks they are UTF-8). */
		json_t *ji = json_stringn(ident != NULL ? ident : "", ident != NULL ? (size_t)il : 0);
		json_t *jd = json_string(dev);

		if (ji == NULL || jd == NULL) {
			prov_err_set(e, PROV_E_DB, "the PSK row of device \"%s\" is damaged: its identity or "
			             "device ID is not UTF-8", prov_escape_str(db, sizeof(db), dev));
			left_out(c, e);
			rc = 1;
		} else if (puts_(b, first ? "\n  {\n    \"identity\": " : ",\n  {\n    \"identity\": ") != 0 ||
		           jw_scalar(b, ji) != 0 || puts_(b, ",\n    \"key_hex\": \"") != 0 ||
		           put_hex(b, key, n) != 0 || puts_(b, "\",\n    \"device\": ") != 0 ||
		           jw_scalar(b, jd) != 0 || puts_(b, "\n  }") != 0) {
			rc = -1;
		}
		json_decref(ji);
		json_decref(jd);
	}
out:
	prov_wipe(key, sizeof(key));
	if (rc < 0 && e != NULL)
		prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	return rc;
}

struct table {
	cli *c;
	prov_home *h;
	const char *format;
	BIO *b;
	size_t count, skipped;
	int failed;                   /* psk_row ended the export (*e set) */
};

static prov_status table_row(void *ctx, const prov_rec_psk_row *r, prov_err *e)
{
	struct table *t = ctx;
	int rc = psk_row(t->c, t->h, r, t->format, t->count == 0, t->b, e);

	if (rc < 0) {
		t->failed = 1;
		return e != NULL ? e->code : PROV_E_INTERNAL;
	}
	if (rc > 0)
		t->skipped++;
	else
		t->count++;
	return PROV_OK;
}

static int export_psk_table(cli *c, prov_home *h, const char *format, const char *out)
{
	/* Not BIO_s_secmem: the secure heap is 1 MiB, a factory's table is larger.
	 * A memory BIO's buffer is grown with BUF_MEM_grow_clean and freed with
	 * OPENSSL_clear_free: wiped, though not locked. */
	struct table t = {c, h, format, BIO_new(BIO_s_mem()), 0, 0, 0};
	BUF_MEM *m;
	char detail[128];
	prov_err e;
	int rc = 0, json = strcmp(format, "json") == 0;

	if (t.b == NULL) {
		prov_err_set(&e, PROV_E_INTERNAL, "out of memory");
		rc = cli_fail(c, &e);
		goto out;
	}
	if (strcmp(format, "csv") == 0)
		rc = puts_(t.b, "identity,key_hex,device\n");
	if (json)
		rc = puts_(t.b, "[");
	if (rc != 0) {
		prov_err_set(&e, PROV_E_INTERNAL, "out of memory");
		rc = cli_fail(c, &e);
		goto out;
	}
	if (prov_records_current_psks(h->db, table_row, &t, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	if (json && puts_(t.b, t.count > 0 ? "\n]\n" : "]\n") != 0) {
		prov_err_set(&e, PROV_E_INTERNAL, "out of memory");
		rc = cli_fail(c, &e);
		goto out;
	}
	if (t.skipped > 0)
		snprintf(detail, sizeof(detail), "{\"count\":%zu,\"format\":\"%s\",\"left_out\":%zu,\"what\":\"psk-table\"}",
		         t.count, format, t.skipped);
	else
		snprintf(detail, sizeof(detail), "{\"count\":%zu,\"format\":\"%s\",\"what\":\"psk-table\"}", t.count,
		         format);
	if (prov_records_audit(h->db, "export", NULL, detail, &e) != PROV_OK) {
		rc = cli_fail(c, &e);
		goto out;
	}
	BIO_get_mem_ptr(t.b, &m);
	rc = emit(c, out, m->data, m->length, 1);
	if (rc == 0 && t.skipped > 0) {
		prov_err_set(&e, PROV_E_PARTIAL, "psk-table: %zu damaged row%s left out (named above); %zu row%s written",
		             t.skipped, t.skipped == 1 ? "" : "s", t.count, t.count == 1 ? "" : "s");
		rc = cli_fail(c, &e);
	}
out:
	BIO_free(t.b); /* wiped as it is freed */
	return rc;
}

int cmd_export(int argc, char **argv, cli *c)
{
	static const struct option opts[] = {
		CLI_COMMON_OPTIONS,
		{"device", required_argument, NULL, 'd'},
		{"what", required_argument, NULL, 'w'},
		{"reveal", no_argument, NULL, 'r'},
		{"der", no_argument, NULL, 'D'},
		{"out", required_argument, NULL, 'o'},
		{"format", required_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	static const char *const names[] = {"cert", "chain", "pubkey", "psk", "key", "bundle", "lwm2m-security"};
	const char *dev = NULL, *what = NULL, *out = NULL, *format = NULL;
	int reveal = 0, der = 0, ch, rc, table = 0, gen = 0;
	enum what w = W_CERT;
	prov_home *h = NULL;

	while ((ch = cli_getopt(c, argc, argv, opts)) != -1) {
		switch (ch) {
		case 0: break;
		case 'd': dev = optarg; break;
		case 'w': what = optarg; break;
		case 'r': reveal = 1; break;
		case 'D': der = 1; break;
		case 'o': out = optarg; break;
		case 'f': format = optarg; break;
		case 'h': return cli_help(c);
		default: return cli_usage(c, "bad option");
		}
	}
	if (argc - optind == 1 && strcmp(argv[optind], "psk-table") == 0)
		table = 1;
	else if (optind != argc)
		return cli_usage(c, "unexpected argument \"%s\"", argv[optind]);
	if (table) {
		if (dev != NULL || what != NULL || der)
			return cli_usage(c, "psk-table takes --format, --reveal and --out");
		if (format == NULL || (strcmp(format, "gnutls") != 0 && strcmp(format, "json") != 0 &&
		                       strcmp(format, "csv") != 0))
			return cli_usage(c, "psk-table needs --format gnutls, json or csv");
		if (!reveal)
			return cli_usage(c, "a PSK table holds secrets: add --reveal (the export is audited)");
		rc = cli_open(c, PROV_NEED_KEK, &h);
		if (rc == 0)
			rc = export_psk_table(c, h, format, out);
		prov_home_close(h);
		return cli_finish(c, rc);
	}
	if (dev == NULL || what == NULL)
		return cli_usage(c, "--device and --what are required");
	if (format != NULL)
		return cli_usage(c, "--format applies to psk-table");
	for (w = W_CERT; w <= W_LWM2M; w++)
		if (strcmp(what, names[w]) == 0)
			break;
	if (w > W_LWM2M)
		return cli_usage(c, "--what: \"%s\" is not cert, chain, pubkey, psk, key, bundle or lwm2m-security", what);
	if ((w == W_PSK || w == W_KEY) && !reveal)
		return cli_usage(c, "the %s is a secret: add --reveal (the export is audited)", what);
	if (der && (w == W_CHAIN || w == W_PSK || w == W_BUNDLE || w == W_LWM2M))
		return cli_usage(c, "--der applies to cert, pubkey and key");
	rc = cli_open(c, w == W_CHAIN ? PROV_NEED_CA_CERT : (w == W_PSK || w == W_KEY || (w == W_LWM2M && reveal)) ? PROV_NEED_KEK : 0, &h);
	if (rc != 0)
		return rc;
	{
		prov_err e;

		if (prov_records_device_generation(h->db, dev, &gen, &e) != PROV_OK) {
			rc = cli_fail(c, &e);
			goto out;
		}
		if (gen == 0) {
			prov_err_set(&e, PROV_E_NOTFOUND, "unknown device %s", dev);
			rc = cli_fail(c, &e);
			goto out;
		}
	}
	switch (w) {
	case W_CERT:
	case W_CHAIN: rc = export_cert(c, h, dev, gen, w, der, out); break;
	case W_PUBKEY: rc = export_pubkey(c, h, dev, gen, der, out); break;
	case W_PSK: rc = export_psk(c, h, dev, gen, out); break;
	case W_KEY: rc = export_key(c, h, dev, gen, der, out); break;
	case W_BUNDLE: rc = export_bundle(c, h, dev, out); break;
	case W_LWM2M: rc = export_lwm2m(c, h, dev, reveal, out); break;
	}
out:
	prov_home_close(h);
	return cli_finish(c, rc);
}
