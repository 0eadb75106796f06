/*
 * prov/home.h - the factory home: one directory holding a factory's state.
 *
 *   DIR/prov.db          the database (prov/db.h)
 *   DIR/ca.pem           the device-issuing CA certificate, then its chain
 *   DIR/ca.key           the CA's private key            (0600)
 *   DIR/signer.key       the bundle-signing key, P-256   (0600)
 *                        (either key may instead live in a PKCS#11 token,
 *                        prov/p11.h: then its file is absent and the database
 *                        records its URI and the module, never the PIN)
 *   DIR/signer.pub.pem   its public key
 *   DIR/kek              the key-encryption key          (0600; absent when the
 *                        KEK is derived from PROV_PASSPHRASE)
 *   DIR/db               instead of prov.db: the PostgreSQL URI of a factory
 *                        database shared by several stations (one line, no
 *                        password: libpq's PGPASSFILE / ~/.pgpass hold it)
 *   DIR/station          the station's name (one line; absent: "main")
 *
 * The directory is created with mode 0700.  prov_home_init builds the whole home
 * in a temporary sibling directory and renames it into place, so a failed init
 * leaves nothing behind and an existing home is never touched.
 * A prov_home is used by one thread at a time.
 */
#ifndef PROV_HOME_H
#define PROV_HOME_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "prov/cose.h"
#include "prov/db.h"
#include "prov/err.h"
#include "prov/keys.h"
#include "prov/secret.h"

#define PROV_HOME_DEFAULT "factory"
#define PROV_CA_SUBJECT_DEFAULT "CN=provkit Device CA,O=provkit factory"
#define PROV_CA_DAYS_DEFAULT 9125 /* 25 years */

typedef struct prov_init_opts {
	const char *dir;
	const char *ca_subject;   /* new CA; NULL for the default */
	const char *ca_cert;      /* import: certificate (+ chain) file ... */
	const char *ca_key;       /* ... and its private key file */
	prov_key_type key_type;   /* new CA's key type (default p256) */
	const char *passphrase;   /* PROV_PASSPHRASE or NULL; "" is refused (PROV_E_USAGE) */
	/* Keys in a PKCS#11 token (prov/p11.h).  ca_key may be a pkcs11: URI (then
	 * ca_cert is optional: without it a new CA is made with the token's key);
	 * signer_key a key file or a pkcs11: URI (NULL: a new signer key file). */
	const char *signer_key;
	int pkcs11_generate;      /* make the keys ca_key and signer_key name in the token */
	const char *pkcs11_module;/* NULL: $PROV_PKCS11_MODULE */
	const char *pin_file;     /* NULL: $PROV_PKCS11_PIN only */
	const char *db;           /* a postgresql:// URI, or NULL for prov.db in the home */
	const char *station;      /* this station's name, NULL for "main" */
	/* Join the factory already in `db`: its CA (ca.pem, ca.key), bundle signer
	 * (signer.key, signer.pub.pem) and, for a KEK file, kek, read from this
	 * directory (a copy of the first station's home brought over by hand);
	 * checked against what the database records.  Keys never travel through
	 * the database. */
	const char *keys_from;
} prov_init_opts;

/* How a home opened with keys in a token reaches them (NULLs: the environment,
 * then what the home recorded). */
typedef struct prov_token_opts {
	const char *module;       /* --pkcs11-module */
	const char *pin_file;     /* --pin-file */
} prov_token_opts;

/* What an open needs beyond the database. */
enum {
	PROV_NEED_CA = 1,       /* CA certificate, chain and private key */
	PROV_NEED_SIGNER = 2,   /* bundle-signing private key */
	PROV_NEED_KEK = 4,      /* key-encryption key (secrets) */
	PROV_NEED_CA_CERT = 8,  /* CA certificate and chain only */
	/* How the database is opened (prov/db.h): only to read (a command that
	 * never writes), or writable where it can be (one that audits some reads). */
	PROV_OPEN_READONLY = 16,
	PROV_OPEN_READ_MOSTLY = 32,
};

typedef struct prov_home {
	char *dir;
	char *db_name;            /* the database: DIR/prov.db, or the URI in DIR/db */
	char station[PROV_DB_STATION_MAX + 1];
	prov_db *db;              /* the records (prov/records.h), prepared statements cached */
	X509 *ca;                 /* PROV_NEED_CA / _CA_CERT */
	STACK_OF(X509) *ca_chain; /* the CA first, then its issuers */
	EVP_PKEY *ca_key;         /* PROV_NEED_CA */
	EVP_PKEY *signer;         /* PROV_NEED_SIGNER: private; otherwise public */
	uint8_t signer_kid[8];
	prov_kek kek;             /* PROV_NEED_KEK */
	int have_kek;
	char *passphrase;         /* copy of PROV_PASSPHRASE (secure heap), wiped on close */
	prov_keygen keygen;       /* reused key generation contexts */
	prov_cose_signer bundle_signer; /* h->signer prepared for many bundles */
	EVP_MD_CTX *ca_sign;      /* h->ca_key prepared for many certificates (ECDSA) */
	struct prov_x509_exts *cert_exts; /* h->ca's fixed extensions, for the last EKU list */
	struct prov_p11 *p11;     /* the token of a key held in one (closed after the keys) */
	prov_token_opts token;    /* how to reach it (borrowed from the caller) */
	/* What a layer above keeps for the life of the home (bundle/: the last
	 * template read from the database, by digest).  The home never looks
	 * inside; prov_home_close calls free_fn(p). */
	struct {
		void *p;
		void (*free_fn)(void *p);
	} cache;
} prov_home;

/* The home directory to use: `opt` if given, else $PROV_HOME, else ./factory. */
const char *prov_home_dir(const char *opt);

prov_status prov_home_init(const prov_init_opts *o, prov_err *e);

/* Open an existing home.  A missing home is PROV_E_NOTFOUND; a wrong passphrase
 * PROV_E_AUTH; PROV_PASSPHRASE set but empty PROV_E_USAGE.  busy_ms: the database
 * busy timeout.  The prov_home (with its KEK and passphrase) is allocated from
 * OpenSSL's secure heap (prov/secret.h); free it only with prov_home_close. */
prov_status prov_home_open(const char *dir, unsigned need, int busy_ms, prov_home **out,
                           prov_err *e);
/* The same with the token's module and PIN file given (t may be NULL).  A key
 * in a token costs one login per command (prov/p11.h): PROV_E_TOKEN,
 * PROV_E_PIN as prov_p11_key says, and PROV_E_TOKEN when the token's key is
 * not the one the home was made with. */
prov_status prov_home_open_with(const char *dir, unsigned need, int busy_ms,
                                const prov_token_opts *t, prov_home **out, prov_err *e);
void prov_home_close(prov_home *h);

/* 1 if a station name is valid: 1 to 64 of A-Z a-z 0-9 . _ -, starting with a
 * letter or digit. */
int prov_station_name_valid(const char *name);

struct prov_rec_copied;

/* Move the factory of a home whose records are in prov.db (opened, with its
 * CA certificate: PROV_NEED_CA_CERT) into the empty PostgreSQL database `uri`:
 * every row with its ids in one transaction, each table counted on both sides
 * (out: the counts, *n_out entries), then the home's DIR/db names the server.
 * prov.db is only read, and left as it was. */
prov_status prov_home_migrate(prov_home *h, const char *uri, struct prov_rec_copied *out, size_t *n_out,
                              prov_err *e);

/* Path of a file in the home, malloc'd. */
char *prov_home_path(const prov_home *h, const char *name);

#endif
