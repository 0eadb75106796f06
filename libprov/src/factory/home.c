/* home.c - creating and opening a factory home (see prov/home.h). */
#include "prov/home.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "prov/db.h"
#include "prov/p11.h"
#include "prov/records.h"
#include "prov/util.h"
#include "prov/vault.h"
#include "prov/x509.h"

#include "db_rows.h"

#define SALT_LEN 16
/* What the database records of keys in a token (never the PIN). */
#define META_CA_URI "ca_key_uri"
#define META_SIGNER_URI "signer_key_uri"
#define META_MODULE "pkcs11_module"
#define PROV_EMPTY_PASSPHRASE_MSG \
	"PROV_PASSPHRASE is set but empty: unset it for a factory without a passphrase, or set the passphrase"

/* The files a home may hold; init cleans exactly these up on failure. */
static const char *const home_files[] = {
	"prov.db", "prov.db-wal", "prov.db-shm", "prov.db-journal",
	"ca.pem", "ca.key", "signer.key", "signer.pub.pem", "kek", "db", "station",
};

const char *prov_home_dir(const char *opt)
{
	const char *env = getenv("PROV_HOME");

	if (opt != NULL && *opt != 0)
		return opt;
	if (env != NULL && *env != 0)
		return env;
	return PROV_HOME_DEFAULT;
}

static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

char *prov_home_path(const prov_home *h, const char *name)
{
	return path_join(h->dir, name);
}

/* 1 if `dir` exists and is not an empty directory. */
static int home_exists(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *ent;
	int busy = 0;

	if (d == NULL)
		return errno != ENOENT;
	while ((ent = readdir(d)) != NULL)
		if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0) {
			busy = 1;
			break;
		}
	closedir(d);
	return busy;
}

static prov_status write_pem_certs(const char *path, STACK_OF(X509) *chain, prov_err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m;
	prov_status st;

	if (b == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	for (int i = 0; i < sk_X509_num(chain); i++)
		if (!PEM_write_bio_X509(b, sk_X509_value(chain, i))) {
			BIO_free(b);
			return prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode certificate");
		}
	BIO_get_mem_ptr(b, &m);
	st = prov_file_write(path, m->data, m->length, 0644, 1, e);
	BIO_free(b);
	return st;
}

static prov_status init_kek(prov_db *db, const char *tmp, const char *pass, prov_err *e)
{
	prov_kek *kek = OPENSSL_secure_zalloc(sizeof(*kek)); /* see prov/secret.h */
	uint8_t salt[SALT_LEN];
	uint8_t check[PROV_VAULT_CHECK_LEN];
	char *path = NULL;
	prov_status st;

	if (kek == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (pass != NULL) {
		st = prov_random(salt, sizeof(salt), 0, e);
		if (st == PROV_OK)
			st = prov_kek_derive(pass, salt, sizeof(salt), kek, e);
		if (st == PROV_OK)
			st = prov_records_meta_set(db, "kek_mode", "passphrase", 10, e);
		if (st == PROV_OK)
			st = prov_records_meta_set(db, "kek_salt", salt, sizeof(salt), e);
	} else {
		st = prov_random(kek->key, sizeof(kek->key), 1, e);
		path = path_join(tmp, "kek");
		if (st == PROV_OK && path == NULL)
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		if (st == PROV_OK)
			st = prov_file_write(path, kek->key, sizeof(kek->key), 0600, 1, e);
		if (st == PROV_OK)
			st = prov_records_meta_set(db, "kek_mode", "file", 4, e);
	}
	if (st == PROV_OK)
		st = prov_vault_check_seal(kek, check, e);
	/* Added, never replaced: two first stations racing for one database
	 * cannot both set the factory's KEK (the second fails on the key). */
	if (st == PROV_OK)
		st = prov_records_meta_add(db, "kek_check", check, sizeof(check), e);
	prov_kek_wipe(kek);
	OPENSSL_secure_clear_free(kek, sizeof(*kek));
	free(path);
	return st;
}


/* 1 if priv is the private half of home_pub: by the token's public key when
 * it holds one, else by a signature made in the token and checked here. */
static int same_key(EVP_PKEY *priv, EVP_PKEY *tok_pub, EVP_PKEY *home_pub)
{
	static const unsigned char msg[] = "provkit: is this the home's key?";
	unsigned char sig[160];
	size_t sl = sizeof(sig);
	EVP_MD_CTX *m, *v;
	int ok;

	if (tok_pub != NULL)
		return EVP_PKEY_eq(tok_pub, home_pub) == 1;
	/* two contexts: one reused after a legacy (libp11) signing does not verify */
	m = EVP_MD_CTX_new();
	v = EVP_MD_CTX_new();
	ok = m != NULL && v != NULL && EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, priv) == 1 &&
	     EVP_DigestSign(m, sig, &sl, msg, sizeof(msg)) == 1 &&
	     EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, home_pub) == 1 &&
	     EVP_DigestVerify(v, sig, sl, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_free(m);
	EVP_MD_CTX_free(v);
	ERR_clear_error();
	return ok;
}

/* The token context of an init or an open, made once (one login per token). */
static prov_status token_open(prov_p11 **p, const char *module, const char *pin_file, prov_err *e)
{
	char *pin = NULL;
	prov_status st;

	if (*p != NULL)
		return PROV_OK;
	st = prov_p11_pin_read(pin_file, &pin, e);
	if (st == PROV_OK)
		st = prov_p11_open(module, pin, p, e);
	prov_p11_pin_free(pin);
	return st;
}

/* The CA: a key (a file or a token's) and its certificate (imported, or made). */
static prov_status init_ca(const prov_init_opts *o, prov_p11 **p11, const char *module,
                           const char *ca_uri, STACK_OF(X509) **chain, EVP_PKEY **key, prov_err *e)
{
	X509 *ca = NULL;
	EVP_PKEY *pub = NULL;
	prov_status st;

	*chain = NULL;
	*key = NULL;
	if (ca_uri != NULL) {
		st = token_open(p11, module, o->pin_file, e);
		if (st == PROV_OK)
			st = prov_p11_key(*p11, ca_uri, PROV_P11_P256 | PROV_P11_P384, key, &pub, e);
		if (st != PROV_OK)
			goto out;
		if (o->ca_cert != NULL) {
			st = prov_x509_load_certs(o->ca_cert, chain, e);
			if (st == PROV_OK && !same_key(*key, pub, X509_get0_pubkey(sk_X509_value(*chain, 0))))
				st = prov_err_set(e, PROV_E_INPUT, "the token's key %s does not match the CA "
				                  "certificate", ca_uri);
			if (st == PROV_OK)
				st = prov_x509_ca_check(sk_X509_value(*chain, 0), X509_get0_pubkey(sk_X509_value(*chain, 0)), e);
			if (st == PROV_OK)
				st = prov_x509_chain_check(*chain, e);
			if (st != PROV_OK)
				prov_err_wrap(e, "cannot import CA %s", o->ca_cert);
			goto out;
		}
		if (pub == NULL) {
			st = prov_err_set(e, PROV_E_TOKEN, "key not found: the token holds no public key or "
			                  "certificate beside %s (store its public key with the same id, or give "
			                  "--ca-cert)", ca_uri);
			goto out;
		}
		st = prov_x509_ca_create_pub(*key, pub, o->ca_subject != NULL ? o->ca_subject
		                                                              : PROV_CA_SUBJECT_DEFAULT,
		                             prov_now(), PROV_CA_DAYS_DEFAULT, &ca, e);
	} else if (o->ca_cert != NULL || o->ca_key != NULL) {
		if (o->ca_cert == NULL || o->ca_key == NULL)
			return prov_err_set(e, PROV_E_USAGE, "--ca-cert and --ca-key go together");
		st = prov_x509_load_certs(o->ca_cert, chain, e);
		if (st == PROV_OK)
			st = prov_key_load_private(o->ca_key, o->passphrase, key, e);
		if (st == PROV_OK)
			st = prov_x509_ca_check(sk_X509_value(*chain, 0), *key, e);
		if (st == PROV_OK)
			st = prov_x509_chain_check(*chain, e);
		if (st != PROV_OK) {
			prov_err_wrap(e, "cannot import CA %s", o->ca_cert);
			return st;
		}
		if (prov_key_type_of(*key) == PROV_KEY_NONE)
			return prov_err_set(e, PROV_E_INPUT,
			                    "cannot import CA %s: key type not supported (p256, p384, ed25519)",
			                    o->ca_cert);
		return PROV_OK;
	} else {
		st = prov_key_generate(o->key_type != PROV_KEY_NONE ? o->key_type : PROV_KEY_P256, key, e);
		if (st == PROV_OK)
			st = prov_x509_ca_create(*key, o->ca_subject != NULL ? o->ca_subject
			                                                     : PROV_CA_SUBJECT_DEFAULT,
			                         prov_now(), PROV_CA_DAYS_DEFAULT, &ca, e);
	}
	if (st != PROV_OK)
		goto out;
	*chain = sk_X509_new_null();
	if (*chain == NULL || !sk_X509_push(*chain, ca)) {
		X509_free(ca);
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	st = PROV_OK;
out:
	EVP_PKEY_free(pub);
	return st;
}

/* The bundle signer: a new key file, an imported one, or a token's (P-256:
 * devices verify ES256, docs/bundle-format.md).  *pub: its public key. */
static prov_status init_signer(const prov_init_opts *o, prov_p11 **p11, const char *module,
                               const char *uri, EVP_PKEY **key, EVP_PKEY **pub, prov_err *e)
{
	prov_status st;

	*key = *pub = NULL;
	if (uri != NULL) {
		st = token_open(p11, module, o->pin_file, e);
		if (st == PROV_OK)
			st = prov_p11_key(*p11, uri, PROV_P11_P256, key, pub, e);
		if (st == PROV_OK && *pub == NULL)
			st = prov_err_set(e, PROV_E_TOKEN, "key not found: the token holds no public key "
			                  "beside %s (store its public key with the same id)", uri);
		return st;
	}
	if (o->signer_key != NULL) {
		st = prov_key_load_private(o->signer_key, o->passphrase, key, e);
		if (st == PROV_OK && prov_key_type_of(*key) != PROV_KEY_P256)
			st = prov_err_set(e, PROV_E_INPUT, "--signer-key %s: the bundle signer must be a "
			                  "P-256 key (devices verify ES256)", o->signer_key);
	} else {
		st = prov_key_generate(PROV_KEY_P256, key, e);
	}
	if (st == PROV_OK) {
		*pub = *key;
		EVP_PKEY_up_ref(*pub);
	}
	return st;
}

int prov_station_name_valid(const char *name)
{
	size_t n = name != NULL ? strlen(name) : 0;

	if (n == 0 || n > PROV_DB_STATION_MAX || name[0] == '.' || name[0] == '_' || name[0] == '-')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* The public halves a joining station's keys must match, recorded at init:
 * the CA certificate (DER) and the signer's SubjectPublicKeyInfo. */
static prov_status record_public(prov_db *db, X509 *ca, EVP_PKEY *signer, prov_err *e)
{
	uint8_t *der = NULL, *spki = NULL;
	size_t spki_len = 0;
	int n = i2d_X509(ca, &der);
	prov_status st;

	if (n <= 0)
		return prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode the CA certificate");
	st = prov_records_meta_set(db, "ca_cert", der, (size_t)n, e);
	OPENSSL_free(der);
	if (st == PROV_OK)
		st = prov_key_spki(signer, &spki, &spki_len, e);
	if (st == PROV_OK)
		st = prov_records_meta_set(db, "signer_spki", spki, spki_len, e);
	OPENSSL_free(spki);
	return st;
}

/* A meta value equals these bytes (a missing one is PROV_E_DB: a factory from
 * before stations; `prov db migrate` records them). */
static prov_status meta_matches(prov_db *db, const char *key, const uint8_t *v, size_t n, int *same,
                                prov_err *e)
{
	uint8_t *m = NULL;
	size_t len = 0;
	prov_status st = prov_records_meta_get(db, key, &m, &len, e);

	*same = st == PROV_OK && len == n && memcmp(m, v, n) == 0;
	free(m);
	return st;
}

/* Read DIR/name of a joining station's key material. */
static char *from_path(const prov_init_opts *o, const char *name)
{
	return path_join(o->keys_from, name);
}

/* A joining station: its CA, signer and KEK from o->keys_from, checked against
 * what the factory database records, copied into the new home `tmp`. */
static prov_status join_keys(const prov_init_opts *o, prov_db *db, const char *tmp, STACK_OF(X509) **chain,
                             EVP_PKEY **signer, prov_err *e)
{
	static const struct {
		const char *name;
		mode_t mode;
	} files[] = {{"ca.pem", 0644}, {"ca.key", 0600}, {"signer.key", 0600}, {"signer.pub.pem", 0644}};
	EVP_PKEY *ca_key = NULL, *pub = NULL;
	uint8_t *der = NULL, *spki = NULL, *mode = NULL, *check = NULL, *buf = NULL;
	size_t spki_len = 0, mode_len = 0, check_len = 0, len = 0;
	prov_kek *kek = NULL;
	char *p = NULL, *q = NULL;
	int n, same = 0;
	prov_status st;

	*chain = NULL;
	*signer = NULL;
	p = from_path(o, "ca.pem");
	st = p != NULL ? prov_x509_load_certs(p, chain, e) : prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	free(p);
	p = from_path(o, "ca.key");
	if (st == PROV_OK)
		st = prov_key_load_private(p, o->passphrase, &ca_key, e);
	if (st == PROV_OK)
		st = prov_x509_ca_check(sk_X509_value(*chain, 0), ca_key, e);
	if (st != PROV_OK)
		goto out;
	n = i2d_X509(sk_X509_value(*chain, 0), &der);
	if (n <= 0) {
		st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode the CA certificate");
		goto out;
	}
	st = meta_matches(db, "ca_cert", der, (size_t)n, &same, e);
	if (st == PROV_OK && !same)
		st = prov_err_set(e, PROV_E_VERIFY, "%s/ca.pem is not this factory's CA (the database records "
		                  "another): bring the CA of the station that made the factory", o->keys_from);
	if (st != PROV_OK)
		goto out;
	free(p);
	p = from_path(o, "signer.key");
	st = prov_key_load_private(p, o->passphrase, signer, e);
	if (st == PROV_OK)
		st = prov_key_spki(*signer, &spki, &spki_len, e);
	if (st == PROV_OK)
		st = meta_matches(db, "signer_spki", spki, spki_len, &same, e);
	if (st == PROV_OK && !same)
		st = prov_err_set(e, PROV_E_VERIFY, "%s/signer.key is not this factory's bundle signer (the "
		                  "database records another)", o->keys_from);
	free(q);
	q = from_path(o, "signer.pub.pem");
	if (st == PROV_OK)
		st = prov_key_load_public(q, &pub, e);
	if (st == PROV_OK && EVP_PKEY_eq(pub, *signer) != 1)
		st = prov_err_set(e, PROV_E_VERIFY, "%s/signer.pub.pem is not signer.key's public key", o->keys_from);
	if (st != PROV_OK)
		goto out;
	/* The KEK: the factory's file, or the passphrase it is derived from. */
	st = prov_records_meta_get(db, "kek_mode", &mode, &mode_len, e);
	if (st == PROV_OK)
		st = prov_records_meta_get(db, "kek_check", &check, &check_len, e);
	if (st != PROV_OK)
		goto out;
	kek = OPENSSL_secure_zalloc(sizeof(*kek));
	if (kek == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	if (strcmp((char *)mode, "passphrase") == 0) {
		uint8_t *salt = NULL;
		size_t salt_len = 0;

		if (o->passphrase == NULL) {
			st = prov_err_set(e, PROV_E_AUTH, "this factory's secrets are protected by a passphrase: "
			                  "set PROV_PASSPHRASE");
			goto out;
		}
		st = prov_records_meta_get(db, "kek_salt", &salt, &salt_len, e);
		if (st == PROV_OK)
			st = prov_kek_derive(o->passphrase, salt, salt_len, kek, e);
		free(salt);
	} else {
		free(p);
		p = from_path(o, "kek");
		st = prov_file_read(p, 64, &buf, &len, e);
		if (st == PROV_OK && len != PROV_KEK_LEN)
			st = prov_err_set(e, PROV_E_AUTH, "%s: not a key-encryption key (%zu bytes)", p, len);
		if (st == PROV_OK)
			memcpy(kek->key, buf, PROV_KEK_LEN);
	}
	if (st == PROV_OK && prov_vault_check_open(kek, check, check_len, NULL) != PROV_OK)
		st = prov_err_set(e, PROV_E_AUTH, "wrong %s: it does not open this factory's secrets",
		                  buf == NULL ? "passphrase (PROV_PASSPHRASE)" : "key-encryption key (kek file)");
	if (st == PROV_OK && buf != NULL) {
		free(q);
		q = path_join(tmp, "kek");
		st = q != NULL ? prov_file_write(q, buf, len, 0600, 1, e) : prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	}
	/* The checked files, byte for byte. */
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && st == PROV_OK; i++) {
		uint8_t *f = NULL;
		size_t flen = 0;

		free(p);
		free(q);
		p = from_path(o, files[i].name);
		q = path_join(tmp, files[i].name);
		if (p == NULL || q == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
			break;
		}
		st = prov_file_read(p, 1 << 20, &f, &flen, e);
		if (st == PROV_OK)
			st = prov_file_write(q, f, flen, files[i].mode, 1, e);
		if (f != NULL)
			prov_wipe(f, flen);
		free(f);
	}
out:
	if (st != PROV_OK)
		prov_err_wrap(e, "joining the factory with the keys of %s", o->keys_from);
	if (buf != NULL)
		prov_wipe(buf, len);
	free(buf);
	if (kek != NULL) {
		prov_kek_wipe(kek);
		OPENSSL_secure_clear_free(kek, sizeof(*kek));
	}
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(pub);
	OPENSSL_free(der);
	OPENSSL_free(spki);
	free(mode);
	free(check);
	free(p);
	free(q);
	return st;
}

/* A one-line text file in the home. */
static prov_status write_line(const char *tmp, const char *name, const char *text, mode_t mode, prov_err *e)
{
	char *p = path_join(tmp, name), *line = NULL;
	size_t n = strlen(text) + 2;
	prov_status st;

	line = malloc(n);
	if (p == NULL || line == NULL) {
		free(p);
		free(line);
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	}
	snprintf(line, n, "%s\n", text);
	st = prov_file_write(p, line, n - 1, mode, 1, e);
	free(p);
	free(line);
	return st;
}

prov_status prov_home_init(const prov_init_opts *o, prov_err *e)
{
	char tmp[PATH_MAX], dir[PATH_MAX], *p = NULL;
	const char *station = o->station != NULL ? o->station : "main";
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *ca_key = NULL, *signer = NULL, *signer_pub = NULL;
	prov_p11 *p11 = NULL;
	prov_db *db = NULL;
	char *pem = NULL, *made_uris[2] = {NULL, NULL}, *pin = NULL;
	const char *ca_uri = prov_p11_is_uri(o->ca_key) ? o->ca_key : NULL;
	const char *signer_uri = prov_p11_is_uri(o->signer_key) ? o->signer_key : NULL;
	const char *module = prov_p11_module_choose(o->pkcs11_module, NULL);
	uint8_t kid[8];
	char kidhex[17];
	long long stations = 0;
	int made = 0, in_tx = 0, join = 0;
	prov_status st;

	if (o->passphrase != NULL && *o->passphrase == 0)
		return prov_err_set(e, PROV_E_USAGE, PROV_EMPTY_PASSPHRASE_MSG);
	if (o->pkcs11_generate && (ca_uri == NULL || signer_uri == NULL || o->ca_cert != NULL))
		return prov_err_set(e, PROV_E_USAGE, "--pkcs11-generate makes the keys --ca-key and "
		                    "--signer-key name (pkcs11: URIs with object=LABEL); no --ca-cert");
	if (o->key_type != PROV_KEY_NONE && ca_uri != NULL)
		return prov_err_set(e, PROV_E_USAGE, "--key-type is for a new CA key file; a token's key "
		                    "is what it is");
	if (!prov_station_name_valid(station))
		return prov_err_set(e, PROV_E_USAGE, "bad station name \"%s\": 1 to %d characters from A-Z a-z "
		                    "0-9 . _ -, starting with a letter or digit", station, PROV_DB_STATION_MAX);
	if (o->db != NULL && !prov_db_is_server(o->db))
		return prov_err_set(e, PROV_E_USAGE, "--db takes a postgresql:// URI (without it the factory "
		                    "is prov.db in the home)");
	if (o->db != NULL && prov_db_name_has_password(o->db))
		return prov_err_set(e, PROV_E_USAGE, "the database URI carries a password, which the home "
		                    "would store: put it in PGPASSFILE or ~/.pgpass (or PGPASSWORD) instead");
	if (o->keys_from != NULL && o->db == NULL)
		return prov_err_set(e, PROV_E_USAGE, "--keys-from joins a factory database shared by stations: "
		                    "it needs --db");
	if (o->keys_from != NULL && (ca_uri != NULL || signer_uri != NULL || o->pkcs11_generate))
		return prov_err_set(e, PROV_E_USAGE, "a joining station takes the factory's keys from "
		                    "--keys-from (key files); keys in a token are for a factory's first station");
	prov_secure_heap_init();
	/* "factory/" names the same home as "factory"; without the slashes the
	 * temporary sibling is "factory.init.XXXXXX", not a file inside it. */
	if ((size_t)snprintf(dir, sizeof(dir), "%s", o->dir) >= sizeof(dir))
		return prov_err_set(e, PROV_E_USAGE, "home path too long");
	for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
		dir[n - 1] = 0;
	if (home_exists(dir))
		return prov_err_set(e, PROV_E_EXISTS,
		                    "%s already exists and is not empty; init never touches an existing home",
		                    o->dir);
	if (o->pkcs11_generate) {
		const char *uris[2] = {ca_uri, signer_uri};

		st = prov_p11_pin_read(o->pin_file, &pin, e);
		if (st == PROV_OK)
			st = prov_p11_generate(module, pin, uris, 2, made_uris, e);
		prov_p11_pin_free(pin);
		if (st != PROV_OK)
			return st;
		ca_uri = made_uris[0];
		signer_uri = made_uris[1];
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.init.XXXXXX", dir) >= sizeof(tmp))
		return prov_err_set(e, PROV_E_USAGE, "home path too long");
	if (mkdtemp(tmp) == NULL)
		return prov_err_set(e, PROV_E_IO, "cannot create %s: %s", o->dir, strerror(errno));
	made = 1;
#define JOIN(name) (free(p), p = path_join(tmp, name))
	if (o->db != NULL) {
		/* A shared database: the first station makes the factory in it,
		 * every later one joins it. */
		st = prov_db_open(o->db, PROV_DB_CREATE, PROV_DB_BUSY_MS_DEFAULT, &db, e);
		if (st == PROV_OK)
			st = prov_records_station_count(db, NULL, &stations, e);
		if (st != PROV_OK)
			goto out;
		join = stations > 0;
		if (join && o->keys_from == NULL) {
			st = prov_err_set(e, PROV_E_EXISTS, "the database already holds a factory (%lld station%s): "
			                  "join it with --station NAME --keys-from DIR", stations, stations == 1 ? "" : "s");
			goto out;
		}
		if (!join && o->keys_from != NULL) {
			st = prov_err_set(e, PROV_E_NOTFOUND, "the database holds no factory yet to join: make it "
			                  "without --keys-from");
			goto out;
		}
		if (join && o->ca_cert != NULL) {
			st = prov_err_set(e, PROV_E_USAGE, "a joining station uses the factory's CA (--keys-from), "
			                  "not --ca-cert");
			goto out;
		}
		prov_db_set_station(db, station);
	}
	if (join) {
		st = join_keys(o, db, tmp, &chain, &signer, e);
		if (st != PROV_OK)
			goto out;
		if (EVP_PKEY_up_ref(signer) != 1) goto oom;
		signer_pub = signer;
	} else {
		st = init_ca(o, &p11, module, ca_uri, &chain, &ca_key, e);
		if (st == PROV_OK)
			st = init_signer(o, &p11, module, signer_uri, &signer, &signer_pub, e);
		if (st != PROV_OK)
			goto out;
		if (JOIN("ca.pem") == NULL) goto oom;
		st = write_pem_certs(p, chain, e);
		if (st != PROV_OK) goto out;
		/* A token's key stays in the token (its URI goes to the database below). */
		if (ca_uri == NULL) {
			if (JOIN("ca.key") == NULL) goto oom;
			st = prov_key_save_private(p, ca_key, o->passphrase, e);
			if (st != PROV_OK) goto out;
		}
		if (signer_uri == NULL) {
			if (JOIN("signer.key") == NULL) goto oom;
			st = prov_key_save_private(p, signer, o->passphrase, e);
			if (st != PROV_OK) goto out;
		}
		st = prov_key_public_pem(signer_pub, &pem, e);
		if (st != PROV_OK) goto out;
		if (JOIN("signer.pub.pem") == NULL) goto oom;
		st = prov_file_write(p, pem, strlen(pem), 0644, 1, e);
		if (st != PROV_OK) goto out;
	}
	if (o->db == NULL) {
		if (JOIN("prov.db") == NULL) goto oom;
		st = prov_db_open(p, PROV_DB_CREATE, PROV_DB_BUSY_MS_DEFAULT, &db, e);
		if (st != PROV_OK) goto out;
		prov_db_set_station(db, station);
	} else {
		st = write_line(tmp, "db", o->db, 0600, e);
		if (st != PROV_OK) goto out;
	}
	if (o->station != NULL && (st = write_line(tmp, "station", station, 0644, e)) != PROV_OK)
		goto out;
	/* Everything the database learns at init, at once (a shared database
	 * never holds half a factory or half a station). */
	st = prov_db_begin(db, e);
	if (st != PROV_OK) goto out;
	in_tx = 1;
	st = prov_records_station_count(db, station, &stations, e);
	if (st == PROV_OK && stations > 0)
		st = prov_err_set(e, PROV_E_EXISTS, "the factory already has a station \"%s\": choose another "
		                  "--station name", station);
	if (st == PROV_OK && !join)
		st = init_kek(db, tmp, o->passphrase, e);
	/* A token's key stays in the token: the database records its URI. */
	if (st == PROV_OK && ca_uri != NULL)
		st = prov_records_meta_set(db, META_CA_URI, ca_uri, strlen(ca_uri), e);
	if (st == PROV_OK && signer_uri != NULL)
		st = prov_records_meta_set(db, META_SIGNER_URI, signer_uri, strlen(signer_uri), e);
	if (st == PROV_OK && p11 != NULL)
		st = prov_records_meta_set(db, META_MODULE, module, strlen(module), e);
	if (st == PROV_OK)
		st = prov_key_kid(signer_pub, kid, e);
	if (st != PROV_OK) goto out;
	prov_hex(kid, sizeof(kid), kidhex);
	{
		char detail[256];
		char *subj = prov_x509_name_text(X509_get_subject_name(sk_X509_value(chain, 0)));

		/* where the keys are, when not the files init makes (the shape of a
		 * plain init's detail is unchanged) */
		if (ca_uri == NULL && signer_uri == NULL && o->signer_key == NULL)
			snprintf(detail, sizeof(detail), "{\"ca_imported\":%s,\"signer_kid\":\"%s\"}",
			         o->ca_cert != NULL ? "true" : "false", kidhex);
		else
			snprintf(detail, sizeof(detail),
			         "{\"ca_imported\":%s,\"signer_kid\":\"%s\",\"ca_key\":\"%s\",\"signer_key\":\"%s\"}",
			         o->ca_cert != NULL ? "true" : "false", kidhex,
			         ca_uri == NULL ? "file" : o->pkcs11_generate ? "token-generated" : "token",
			         signer_uri == NULL ? (o->signer_key != NULL ? "file-imported" : "file")
			                            : o->pkcs11_generate ? "token-generated" : "token");
		if (!join)
			st = prov_records_meta_set(db, "ca_subject", subj != NULL ? subj : "", subj ? strlen(subj) : 0, e);
		if (st == PROV_OK && !join)
			st = record_public(db, sk_X509_value(chain, 0), signer_pub, e);
		free(subj);
		if (st == PROV_OK)
			st = prov_records_station_add(db, station, join ? "{\"joined\":true}" : "{\"joined\":false}", e);
		if (st == PROV_OK)
			st = prov_records_audit(db, join ? "join" : "init", NULL, detail, e);
	}
	if (st == PROV_OK)
		st = prov_db_commit(db, e);
	if (st != PROV_OK) goto out;
	in_tx = 0;
	prov_db_close(db);
	db = NULL;
	if (rename(tmp, dir) != 0) {
		st = prov_err_set(e, errno == ENOTEMPTY || errno == EEXIST ? PROV_E_EXISTS : PROV_E_IO,
		                  "cannot create %s: %s", o->dir, strerror(errno));
		goto out;
	}
	made = 0;
	st = PROV_OK;
	goto out;
#undef JOIN
oom:
	st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
out:
	if (in_tx)
		prov_db_rollback(db);
	prov_db_close(db);
	if (made) {
		for (size_t i = 0; i < sizeof(home_files) / sizeof(home_files[0]); i++) {
			char *f = path_join(tmp, home_files[i]);

			if (f != NULL)
				unlink(f);
			free(f);
		}
		rmdir(tmp);
	}
	free(p);
	free(pem);
	sk_X509_pop_free(chain, X509_free);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(signer);
	EVP_PKEY_free(signer_pub);
	prov_p11_close(p11);   /* after its keys */
	free(made_uris[0]);
	free(made_uris[1]);
	return st;
}

/* The URI the database records under key, or *uri NULL when the key is a file. */
static prov_status recorded(prov_db *db, const char *key, char **uri, prov_err *e)
{
	uint8_t *v = NULL;
	size_t n = 0;
	prov_status st = prov_records_meta_get(db, key, &v, &n, e);

	*uri = NULL;
	if (st == PROV_E_NOTFOUND)
		return PROV_OK;
	if (st == PROV_OK)
		*uri = (char *)v;
	return st;
}

/* A key of the home held in a token: loaded through the home's token context
 * and checked against the public key the home holds for it. */
static prov_status open_token_key(prov_home *h, const char *uri, unsigned types, EVP_PKEY *home_pub,
                                  const char *what, EVP_PKEY **out, prov_err *e)
{
	EVP_PKEY *pub = NULL;
	char *mod = NULL;
	prov_status st = PROV_OK;

	if (h->p11 == NULL) {
		st = recorded(h->db, META_MODULE, &mod, e);
		if (st == PROV_OK)
			st = token_open(&h->p11, prov_p11_module_choose(h->token.module, mod),
			                h->token.pin_file, e);
		free(mod);
	}
	if (st == PROV_OK)
		st = prov_p11_key(h->p11, uri, types, out, &pub, e);
	if (st == PROV_OK && !same_key(*out, pub, home_pub)) {
		EVP_PKEY_free(*out);
		*out = NULL;
		st = prov_err_set(e, PROV_E_TOKEN, "the token's key %s is not the %s this home was made "
		                  "with", uri, what);
	}
	EVP_PKEY_free(pub);
	return st;
}

/* The first line of a small file in the home (*out NULL when there is none). */
static prov_status read_line(const prov_home *h, const char *name, char **out, prov_err *e)
{
	char *p = prov_home_path(h, name);
	uint8_t *buf = NULL;
	size_t len = 0;
	prov_status st;

	*out = NULL;
	if (p == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (access(p, F_OK) != 0) {
		free(p);
		return PROV_OK;
	}
	st = prov_file_read(p, 4096, &buf, &len, e);
	if (st == PROV_OK) {
		buf[strcspn((char *)buf, "\r\n")] = 0;
		if (buf[0] == 0 || strlen((char *)buf) != strcspn((char *)buf, "\r\n"))
			st = prov_err_set(e, PROV_E_INPUT, "%s: empty", p);
	}
	if (st == PROV_OK)
		*out = (char *)buf;
	else
		free(buf);
	free(p);
	return st;
}

static prov_status open_kek(prov_home *h, prov_err *e)
{
	uint8_t *mode = NULL, *salt = NULL, *check = NULL, *file = NULL;
	size_t mode_len, salt_len, check_len, file_len = 0;
	char *path = NULL;
	prov_status st;

	st = prov_records_meta_get(h->db, "kek_mode", &mode, &mode_len, e);
	if (st == PROV_OK)
		st = prov_records_meta_get(h->db, "kek_check", &check, &check_len, e);
	if (st != PROV_OK)
		goto out;
	if (strcmp((char *)mode, "passphrase") == 0) {
		if (h->passphrase == NULL) {
			st = prov_err_set(e, PROV_E_AUTH,
			                  "this factory's secrets are protected by a passphrase: set PROV_PASSPHRASE");
			goto out;
		}
		st = prov_records_meta_get(h->db, "kek_salt", &salt, &salt_len, e);
		if (st == PROV_OK)
			st = prov_kek_derive(h->passphrase, salt, salt_len, &h->kek, e);
	} else {
		path = prov_home_path(h, "kek");
		st = prov_file_read(path, 64, &file, &file_len, e);
		if (st == PROV_OK && file_len != PROV_KEK_LEN)
			st = prov_err_set(e, PROV_E_AUTH, "%s: not a key-encryption key (%zu bytes)", path,
			                  file_len);
		if (st == PROV_OK)
			memcpy(h->kek.key, file, PROV_KEK_LEN);
	}
	if (st != PROV_OK)
		goto out;
	if (prov_vault_check_open(&h->kek, check, check_len, NULL) != PROV_OK) {
		st = prov_err_set(e, PROV_E_AUTH, "wrong %s: it does not open this factory's secrets",
		                  h->passphrase != NULL && salt != NULL ? "passphrase (PROV_PASSPHRASE)"
		                                                        : "key-encryption key (kek file)");
		prov_kek_wipe(&h->kek);
		goto out;
	}
	/* From now on a sealed row that does not open is damaged, not a wrong KEK. */
	h->kek.checked = 1;
	h->have_kek = 1;
out:
	free(mode);
	free(salt);
	free(check);
	if (file != NULL)
		prov_wipe(file, file_len);
	free(file);
	free(path);
	return st;
}

prov_status prov_home_open(const char *dir, unsigned need, int busy_ms, prov_home **out,
                           prov_err *e)
{
	return prov_home_open_with(dir, need, busy_ms, NULL, out, e);
}

prov_status prov_home_open_with(const char *dir, unsigned need, int busy_ms,
                                const prov_token_opts *t, prov_home **out, prov_err *e)
{
	char *uri = NULL;
	const char *pass = getenv("PROV_PASSPHRASE");
	prov_home *h;
	char *p = NULL;
	prov_status st;

	*out = NULL;
	if (pass != NULL && *pass == 0)
		return prov_err_set(e, PROV_E_USAGE, PROV_EMPTY_PASSPHRASE_MSG);
	/* The home holds the KEK: in the secure heap (prov/secret.h). */
	prov_secure_heap_init();
	h = OPENSSL_secure_zalloc(sizeof(*h));
	if (h == NULL || (h->dir = strdup(dir)) == NULL) {
		OPENSSL_secure_free(h);
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	}
	if (pass != NULL) {
		size_t n = strlen(pass) + 1;

		h->passphrase = OPENSSL_secure_malloc(n);
		if (h->passphrase == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
			goto out;
		}
		memcpy(h->passphrase, pass, n);
	}
	if (t != NULL)
		h->token = *t;
	/* The database: DIR/db names a server, else DIR/prov.db. */
	st = read_line(h, "db", &h->db_name, e);
	if (st == PROV_OK && h->db_name == NULL) {
		h->db_name = prov_home_path(h, "prov.db");
		if (h->db_name == NULL || access(h->db_name, F_OK) != 0) {
			st = prov_err_set(e, PROV_E_NOTFOUND, "no factory home at %s (create one with prov init)", dir);
			goto out;
		}
	}
	if (st == PROV_OK) {
		char *station = NULL;

		st = read_line(h, "station", &station, e);
		snprintf(h->station, sizeof(h->station), "%s", station != NULL ? station : "main");
		if (st == PROV_OK && !prov_station_name_valid(h->station))
			st = prov_err_set(e, PROV_E_INPUT, "%s/station: not a station name", dir);
		free(station);
	}
	if (st != PROV_OK)
		goto out;
	st = prov_db_open(h->db_name, need & PROV_OPEN_READONLY ? PROV_DB_READONLY
	                     : need & PROV_OPEN_READ_MOSTLY ? PROV_DB_READ_MOSTLY : PROV_DB_OPEN,
	                  busy_ms, &h->db, e);
	if (st != PROV_OK)
		goto out;
	prov_db_set_station(h->db, h->station);
	free(p);
	p = prov_home_path(h, "signer.pub.pem");
	st = prov_key_load_public(p, &h->signer, e);
	if (st == PROV_OK)
		st = prov_key_kid(h->signer, h->signer_kid, e);
	if (st != PROV_OK)
		goto out;
	if (need & (PROV_NEED_CA | PROV_NEED_CA_CERT)) {
		free(p);
		p = prov_home_path(h, "ca.pem");
		st = prov_x509_load_certs(p, &h->ca_chain, e);
		if (st != PROV_OK)
			goto out;
		h->ca = sk_X509_value(h->ca_chain, 0);
	}
	if (need & PROV_NEED_CA) {
		st = recorded(h->db, META_CA_URI, &uri, e);
		if (st == PROV_OK && uri != NULL) {
			st = open_token_key(h, uri, PROV_P11_P256 | PROV_P11_P384, X509_get0_pubkey(h->ca),
			                    "CA key", &h->ca_key, e);
		} else if (st == PROV_OK) {
			free(p);
			p = prov_home_path(h, "ca.key");
			st = prov_key_load_private(p, h->passphrase, &h->ca_key, e);
		}
		free(uri);
		uri = NULL;
		if (st != PROV_OK)
			goto out;
	}
	if (need & PROV_NEED_SIGNER) {
		EVP_PKEY *k = NULL;

		st = recorded(h->db, META_SIGNER_URI, &uri, e);
		if (st == PROV_OK && uri != NULL) {
			st = open_token_key(h, uri, PROV_P11_P256, h->signer, "bundle signer", &k, e);
		} else if (st == PROV_OK) {
			free(p);
			p = prov_home_path(h, "signer.key");
			st = prov_key_load_private(p, h->passphrase, &k, e);
		}
		free(uri);
		uri = NULL;
		if (st != PROV_OK)
			goto out;
		EVP_PKEY_free(h->signer);
		h->signer = k;
	}
	if (need & PROV_NEED_KEK) {
		st = open_kek(h, e);
		if (st != PROV_OK)
			goto out;
	}
	*out = h;
	h = NULL;
out:
	free(p);
	prov_home_close(h);
	return st;
}

void prov_home_close(prov_home *h)
{
	if (h == NULL)
		return;
	if (h->cache.free_fn != NULL)
		h->cache.free_fn(h->cache.p);
	prov_keygen_free(&h->keygen);
	prov_cose_signer_free(&h->bundle_signer);
	EVP_MD_CTX_free(h->ca_sign);
	prov_x509_exts_free(h->cert_exts);
	prov_db_close(h->db);
	free(h->db_name);
	sk_X509_pop_free(h->ca_chain, X509_free);
	EVP_PKEY_free(h->ca_key);
	EVP_PKEY_free(h->signer);
	prov_p11_close(h->p11);   /* after the keys it handed out */
	prov_kek_wipe(&h->kek);
	if (h->passphrase != NULL)
		OPENSSL_secure_clear_free(h->passphrase, strlen(h->passphrase) + 1);
	free(h->dir);
	OPENSSL_secure_clear_free(h, sizeof(*h));
}

prov_status prov_home_migrate(prov_home *h, const char *uri, prov_rec_copied *out, size_t *n_out,
                              prov_err *e)
{
	prov_db *dst = NULL;
	char *path = NULL;
	long long stations = 0;
	uint8_t *m = NULL;
	size_t mlen = 0;
	int in_tx = 0;
	prov_status st;

	if (!prov_db_is_server(uri))
		return prov_err_set(e, PROV_E_USAGE, "--to takes a postgresql:// URI");
	if (prov_db_name_has_password(uri))
		return prov_err_set(e, PROV_E_USAGE, "the database URI carries a password, which the home "
		                    "would store: put it in PGPASSFILE or ~/.pgpass (or PGPASSWORD) instead");
	if (prov_db_is_server(h->db_name))
		return prov_err_set(e, PROV_E_USAGE, "this home's records are on a database server already");
	path = prov_home_path(h, "db");
	if (path == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	st = prov_db_open(uri, PROV_DB_CREATE, PROV_DB_BUSY_MS_DEFAULT, &dst, e);
	if (st == PROV_OK)
		st = prov_records_station_count(dst, NULL, &stations, e);
	if (st == PROV_OK && stations > 0)
		st = prov_err_set(e, PROV_E_EXISTS, "the database already holds a factory (%lld station%s): a "
		                  "factory moves only into an empty one", stations, stations == 1 ? "" : "s");
	if (st != PROV_OK)
		goto out;
	prov_db_set_station(dst, h->station);
	st = prov_db_begin(dst, e);
	in_tx = st == PROV_OK;
	if (st == PROV_OK)
		st = prov_records_copy(h->db, dst, out, n_out, e);
	/* A factory from before stations lacks the public halves joining stations
	 * are checked against: recorded from the home's files. */
	if (st == PROV_OK && prov_records_meta_get(dst, "ca_cert", &m, &mlen, NULL) != PROV_OK)
		st = record_public(dst, h->ca, h->signer, e);
	if (st == PROV_OK)
		st = prov_records_audit(dst, "migrate", NULL, "{\"from\":\"sqlite\"}", e);
	if (st == PROV_OK)
		st = prov_db_commit(dst, e);
	if (st != PROV_OK)
		goto out;
	in_tx = 0;
	/* From now on the home's records are the server's; prov.db stays as it was. */
	{
		size_t n = strlen(uri) + 2;
		char *line = malloc(n);

		if (line == NULL) {
			st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
			goto out;
		}
		snprintf(line, n, "%s\n", uri);
		st = prov_file_write(path, line, n - 1, 0600, 1, e);
		free(line);
	}
out:
	if (in_tx)
		prov_db_rollback(dst);
	prov_db_close(dst);
	free(m);
	free(path);
	return st;
}
