/* p11.c - signing keys in a PKCS#11 token (see prov/p11.h): URIs by p11-kit,
 * the token by libp11, key generation by GnuTLS. */
#include "prov/p11.h"

#include <dlfcn.h>
#include <errno.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs11.h>
#include <libp11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prov/secret.h"
#include "prov/util.h"

/* A PIN longer than this is not a PIN (PKCS#11 tokens take up to 255 bytes). */
#define PIN_MAX 255
/* Random CKA_ID of a generated key pair: 16 bytes. */
#define GEN_ID_LEN 16

struct prov_p11 {
	PKCS11_CTX *ctx;
	PKCS11_SLOT *slots;
	unsigned n_slots;
	char *pin;                 /* secure heap, or NULL */
	char *module;
	/* Tokens logged into by this context (one attempt each, PKCS#11 v2.40
	 * section 5.6: the login state belongs to the application), and the
	 * token whose login failed, with the error every later key gets. */
	PKCS11_SLOT *logged[8];
	unsigned n_logged;
	PKCS11_SLOT *failed;
	prov_err failed_err;
	unsigned refs;
};

/* One context per module per process: homes opened at once (prov install,
 * one per port and thread) share its module, sessions and login, so a
 * command still logs in once.  The lock also serialises prov_p11_key:
 * libp11's slot and key lists are not for concurrent use.  (Signing with
 * the keys needs no lock: libp11 takes a session from its pool per call.) */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static prov_p11 *shared;

int prov_p11_is_uri(const char *s)
{
	return s != NULL && strncmp(s, "pkcs11:", 7) == 0;
}

const char *prov_p11_module_choose(const char *opt, const char *recorded)
{
	const char *env = getenv("PROV_PKCS11_MODULE");

	if (opt != NULL && *opt != 0)
		return opt;
	if (env != NULL && *env != 0)
		return env;
	return recorded != NULL && *recorded != 0 ? recorded : NULL;
}

static char *secure_strndup(const char *s, size_t n)
{
	char *p = OPENSSL_secure_malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

void prov_p11_pin_free(char *pin)
{
	if (pin != NULL)
		OPENSSL_secure_clear_free(pin, strlen(pin) + 1);
}

prov_status prov_p11_pin_read(const char *pin_file, char **pin, prov_err *e)
{
	const char *env = getenv("PROV_PKCS11_PIN");
	uint8_t *buf = NULL;
	size_t len = 0, n;
	prov_status st;

	*pin = NULL;
	if (env != NULL) {
		if (*env == 0)
			return prov_err_set(e, PROV_E_PIN, "PROV_PKCS11_PIN is set but empty");
		if (strlen(env) > PIN_MAX)
			return prov_err_set(e, PROV_E_PIN, "PROV_PKCS11_PIN: longer than %d bytes", PIN_MAX);
		*pin = secure_strndup(env, strlen(env));
		return *pin != NULL ? PROV_OK : prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	}
	if (pin_file == NULL)
		return PROV_OK;
	st = prov_file_read(pin_file, 4096, &buf, &len, e);
	if (st != PROV_OK) {
		prov_err_wrap(e, "--pin-file");
		return st;
	}
	/* the first line, without its end */
	for (n = 0; n < len && buf[n] != '\n' && buf[n] != '\r'; n++)
		;
	if (n == 0 || n > PIN_MAX || memchr(buf, 0, n) != NULL)
		st = prov_err_set(e, PROV_E_PIN, "--pin-file %s: %s", pin_file,
		                  n == 0 ? "the first line is empty" : n > PIN_MAX ? "the PIN is too long"
		                                                                  : "a NUL byte in the PIN");
	else if ((*pin = secure_strndup((const char *)buf, n)) == NULL)
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	prov_wipe(buf, len);
	free(buf);
	return st;
}

/* ---- URIs (p11-kit) ---------------------------------------------------------------- */

static prov_status uri_parse(const char *uri, P11KitUri **out, prov_err *e)
{
	P11KitUri *u = p11_kit_uri_new();
	int rc;

	*out = NULL;
	if (u == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	rc = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_ANY, u);
	if (rc != P11_KIT_URI_OK) {
		p11_kit_uri_free(u);
		return prov_err_set(e, PROV_E_USAGE, "not a PKCS#11 URI (RFC 7512): %s: %s", uri,
		                    p11_kit_uri_message(rc));
	}
	/* The PIN comes from the environment or a file, never from the command line. */
	if (p11_kit_uri_get_pin_value(u) != NULL || p11_kit_uri_get_pin_source(u) != NULL) {
		p11_kit_uri_free(u);
		return prov_err_set(e, PROV_E_USAGE, "%s: a PIN in the URI is refused "
		                    "(use PROV_PKCS11_PIN or --pin-file)", uri);
	}
	*out = u;
	return PROV_OK;
}

/* The URI's object label and id; at least one must be given. */
static prov_status uri_object(P11KitUri *u, const char *uri, CK_ATTRIBUTE **label,
                              CK_ATTRIBUTE **id, prov_err *e)
{
	CK_ATTRIBUTE *cls = p11_kit_uri_get_attribute(u, CKA_CLASS);

	*label = p11_kit_uri_get_attribute(u, CKA_LABEL);
	*id = p11_kit_uri_get_attribute(u, CKA_ID);
	if (cls != NULL && cls->ulValueLen == sizeof(CK_OBJECT_CLASS) &&
	    *(CK_OBJECT_CLASS *)cls->pValue != CKO_PRIVATE_KEY)
		return prov_err_set(e, PROV_E_USAGE, "%s: names an object that is not a private key "
		                    "(type=private or no type)", uri);
	if (*label == NULL && *id == NULL)
		return prov_err_set(e, PROV_E_USAGE, "%s: names no key (give object=LABEL or id=ID)", uri);
	return PROV_OK;
}

/* Space-padded fixed field of CK_TOKEN_INFO from libp11's trimmed string. */
static void pad(unsigned char *dst, size_t cap, const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	memset(dst, ' ', cap);
	memcpy(dst, s != NULL ? s : "", n < cap ? n : cap);
}

static int token_matches(P11KitUri *u, const PKCS11_TOKEN *t)
{
	CK_TOKEN_INFO ti;

	memset(&ti, 0, sizeof(ti));
	pad(ti.label, sizeof(ti.label), t->label);
	pad(ti.manufacturerID, sizeof(ti.manufacturerID), t->manufacturer);
	pad(ti.model, sizeof(ti.model), t->model);
	pad(ti.serialNumber, sizeof(ti.serialNumber), t->serialnr);
	return p11_kit_uri_match_token_info(u, &ti);
}

/* ---- the token (libp11) ------------------------------------------------------------ */

/* The newest error libp11 left on OpenSSL's queue as a PKCS#11 return value
 * (CKR_*), or 0; clears the queue. */
static unsigned long ckr_of_last_error(void)
{
	unsigned long l = ERR_peek_last_error(), rv = 0;

	if (l != 0 && ERR_GET_LIB(l) == ERR_get_CKR_code())
		rv = ERR_GET_REASON(l);
	ERR_clear_error();
	return rv;
}

/* A module was named and can be read: checked before libp11 or GnuTLS load it,
 * which would only say "unable to load", after dlopen's own message on stderr. */
static prov_status module_present(const char *module, prov_err *e)
{
	if (module == NULL)
		return prov_err_set(e, PROV_E_TOKEN, "no PKCS#11 module: give --pkcs11-module or set "
		                    "PROV_PKCS11_MODULE");
	if (access(module, R_OK) != 0)
		return prov_err_set(e, PROV_E_TOKEN, "PKCS#11 module not found: %s: %s", module,
		                    strerror(errno));
	return PROV_OK;
}

static prov_status p11_open(const char *module, const char *pin, prov_p11 **out, prov_err *e);
static void p11_free(prov_p11 *p);

prov_status prov_p11_open(const char *module, const char *pin, prov_p11 **out, prov_err *e)
{
	prov_status st = PROV_OK;

	*out = NULL;
	pthread_mutex_lock(&shared_lock);
	if (shared != NULL && module != NULL && strcmp(shared->module, module) == 0) {
		shared->refs++;
		*out = shared;
	} else {
		st = p11_open(module, pin, out, e);
		if (st == PROV_OK && shared == NULL)
			shared = *out;
	}
	pthread_mutex_unlock(&shared_lock);
	return st;
}

static prov_status p11_open(const char *module, const char *pin, prov_p11 **out, prov_err *e)
{
	prov_p11 *p;

	*out = NULL;
	{
		prov_status st = module_present(module, e);

		if (st != PROV_OK)
			return st;
	}
	/* Also first: a file that is not a shared object with C_GetFunctionList
	 * (PKCS#11 v2.40 section 5.2) gets our message, not libp11's stderr line. */
	{
		void *so = dlopen(module, RTLD_NOW | RTLD_LOCAL);
		const char *why = so == NULL ? dlerror() : NULL;
		int has = so != NULL && dlsym(so, "C_GetFunctionList") != NULL;

		if (so != NULL)
			dlclose(so);
		if (!has)
			return prov_err_set(e, PROV_E_TOKEN, "cannot load PKCS#11 module %s: %s", module,
			                    why != NULL ? why : "no C_GetFunctionList: not a PKCS#11 module");
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL || (p->module = strdup(module)) == NULL ||
	    (pin != NULL && (p->pin = secure_strndup(pin, strlen(pin))) == NULL) ||
	    (p->ctx = PKCS11_CTX_new()) == NULL) {
		p11_free(p);
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	}
	p->refs = 1;
	if (PKCS11_CTX_load(p->ctx, module) != 0) {
		ERR_clear_error();
		PKCS11_CTX_free(p->ctx);
		p->ctx = NULL;
		p11_free(p);
		return prov_err_set(e, PROV_E_TOKEN, "cannot load PKCS#11 module %s: not a PKCS#11 "
		                    "module, or its C_Initialize failed", module);
	}
	if (PKCS11_enumerate_slots(p->ctx, &p->slots, &p->n_slots) != 0) {
		ERR_clear_error();
		p11_free(p);
		return prov_err_set(e, PROV_E_TOKEN, "PKCS#11 module %s: cannot list its slots", module);
	}
	*out = p;
	return PROV_OK;
}

void prov_p11_close(prov_p11 *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&shared_lock);
	if (--p->refs > 0) {
		pthread_mutex_unlock(&shared_lock);
		return;
	}
	if (shared == p)
		shared = NULL;
	pthread_mutex_unlock(&shared_lock);
	p11_free(p);
}

static void p11_free(prov_p11 *p)
{
	if (p == NULL)
		return;
	if (p->ctx != NULL) {
		if (p->slots != NULL)
			PKCS11_release_all_slots(p->ctx, p->slots, p->n_slots);
		PKCS11_CTX_unload(p->ctx);
		PKCS11_CTX_free(p->ctx);
	}
	prov_p11_pin_free(p->pin);
	free(p->module);
	free(p);
}

/* The one initialised token the URI names. */
static prov_status find_token(prov_p11 *p, P11KitUri *u, const char *uri, PKCS11_SLOT **out,
                              prov_err *e)
{
	unsigned n = 0;

	*out = NULL;
	for (unsigned i = 0; i < p->n_slots; i++) {
		PKCS11_SLOT *s = &p->slots[i];

		if (s->token == NULL || !s->token->initialized || !token_matches(u, s->token))
			continue;
		if (n++ == 0)
			*out = s;
	}
	if (n == 0)
		return prov_err_set(e, PROV_E_TOKEN, "token absent: no token in %s matches %s", p->module,
		                    uri);
	if (n > 1)
		return prov_err_set(e, PROV_E_TOKEN, "%u tokens in %s match %s: name one (token=, "
		                    "serial=)", n, p->module, uri);
	return PROV_OK;
}

/* Log into the slot's token once: a failure is final for this context. */
static prov_status login(prov_p11 *p, PKCS11_SLOT *s, prov_err *e)
{
	PKCS11_TOKEN *t = s->token;
	unsigned long rv;

	for (unsigned i = 0; i < p->n_logged; i++)
		if (p->logged[i] == s)
			return PROV_OK;
	if (p->failed == s) {
		if (e != NULL)
			*e = p->failed_err;
		return p->failed_err.code;
	}
	if (!t->loginRequired)
		return PROV_OK;
	if (t->userPinLocked)
		return prov_err_set(e, PROV_E_PIN, "token \"%s\": its user PIN is locked (too many wrong "
		                    "PINs): the token's security officer must unblock it", t->label);
	if (p->pin == NULL)
		return prov_err_set(e, PROV_E_PIN, "token \"%s\" needs a PIN: set PROV_PKCS11_PIN or "
		                    "give --pin-file", t->label);
	if (p->n_logged == sizeof(p->logged) / sizeof(p->logged[0]))
		return prov_err_set(e, PROV_E_TOKEN, "too many tokens");
	/* One attempt: libp11 calls C_Login once and never retries. */
	if (PKCS11_login(s, 0, p->pin) != 0) {
		rv = ckr_of_last_error();
		if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE)
			return prov_err_set(e, PROV_E_PIN, "token \"%s\": wrong PIN (not retried)%s", t->label,
			                    t->userPinFinalTry ? "; the next wrong PIN locks it" : "");
		if (rv == CKR_PIN_LOCKED)
			return prov_err_set(e, PROV_E_PIN, "token \"%s\": its user PIN is locked", t->label);
		if (rv == CKR_PIN_EXPIRED)
			return prov_err_set(e, PROV_E_PIN, "token \"%s\": the PIN has expired", t->label);
		return prov_err_set(e, PROV_E_TOKEN, "token \"%s\": login failed (CKR 0x%lx)", t->label, rv);
	}
	p->logged[p->n_logged++] = s;
	return PROV_OK;
}

static int attr_eq(const CK_ATTRIBUTE *a, const void *v, size_t n)
{
	return a->ulValueLen == n && (n == 0 || memcmp(a->pValue, v, n) == 0);
}

/* An ordinary OpenSSL copy of a public key (DER round trip): no libp11 method. */
static EVP_PKEY *plain_public(EVP_PKEY *k)
{
	unsigned char *der = NULL;
	const unsigned char *q;
	EVP_PKEY *out = NULL;
	int n = i2d_PUBKEY(k, &der);

	if (n > 0) {
		q = der;
		out = d2i_PUBKEY(NULL, &q, n);
	}
	OPENSSL_free(der);
	ERR_clear_error();
	return out;
}

static const char *type_name(unsigned types)
{
	return types == PROV_P11_P256 ? "EC P-256" : "EC P-256 or P-384";
}

prov_status prov_p11_key(prov_p11 *p, const char *uri, unsigned types, EVP_PKEY **priv,
                         EVP_PKEY **pub, prov_err *e)
{
	P11KitUri *u = NULL;
	CK_ATTRIBUTE *label, *id;
	PKCS11_SLOT *slot;
	PKCS11_KEY *keys = NULL, *key = NULL;
	unsigned nk = 0, matched = 0;
	EVP_PKEY *k = NULL;
	char group[64];
	size_t gl = 0;
	prov_status st;

	*priv = NULL;
	if (pub != NULL)
		*pub = NULL;
	pthread_mutex_lock(&shared_lock);
	st = uri_parse(uri, &u, e);
	if (st == PROV_OK)
		st = uri_object(u, uri, &label, &id, e);
	if (st == PROV_OK)
		st = find_token(p, u, uri, &slot, e);
	if (st == PROV_OK) {
		st = login(p, slot, e);
		if (st != PROV_OK && p->failed == NULL) {
			/* no second attempt by a later key or another port's home */
			p->failed = slot;
			prov_err_set(&p->failed_err, st, "%s", e != NULL ? e->msg : "login failed");
		}
	}
	if (st != PROV_OK)
		goto out;
	if (PKCS11_enumerate_keys(slot->token, &keys, &nk) != 0) {
		ERR_clear_error();
		st = prov_err_set(e, PROV_E_TOKEN, "token \"%s\": cannot list its keys", slot->token->label);
		goto out;
	}
	for (unsigned i = 0; i < nk; i++) {
		PKCS11_KEY *c = &keys[i];

		if (!c->isPrivate)
			continue;
		if (label != NULL && !attr_eq(label, c->label, c->label != NULL ? strlen(c->label) : 0))
			continue;
		if (id != NULL && !attr_eq(id, c->id, c->id_len))
			continue;
		if (matched++ == 0)
			key = c;
	}
	if (matched == 0) {
		st = prov_err_set(e, PROV_E_TOKEN, "key not found: token \"%s\" holds no private key that "
		                  "matches %s", slot->token->label, uri);
		goto out;
	}
	if (matched > 1) {
		st = prov_err_set(e, PROV_E_TOKEN, "%u private keys in token \"%s\" match %s: add id= to "
		                  "name one", matched, slot->token->label, uri);
		goto out;
	}
	if (PKCS11_get_key_type(key) != EVP_PKEY_EC) {
		st = prov_err_set(e, PROV_E_TOKEN, "key of the wrong type: %s is %s; needs %s", uri,
		                  PKCS11_get_key_type(key) == EVP_PKEY_RSA ? "an RSA key" : "not an EC key",
		                  type_name(types));
		goto out;
	}
	k = PKCS11_get_private_key(key);
	if (k == NULL || !EVP_PKEY_get_group_name(k, group, sizeof(group), &gl)) {
		ERR_clear_error();
		st = prov_err_set(e, PROV_E_TOKEN, "%s: cannot read the key's curve from the token", uri);
		goto out;
	}
	if (!((types & PROV_P11_P256) && strcmp(group, "prime256v1") == 0) &&
	    !((types & PROV_P11_P384) && strcmp(group, "secp384r1") == 0)) {
		st = prov_err_set(e, PROV_E_TOKEN, "key of the wrong type: %s is EC %s; needs %s", uri,
		                  group, type_name(types));
		goto out;
	}
	/* The public key: libp11 puts the EC point of the public key object or
	 * certificate stored beside the private key (same CKA_ID) into the
	 * private key's EC_KEY; without one there is none (NULL).  Not
	 * PKCS11_get_public_key: in libp11 0.4.12 it leaks its key object, and
	 * asked of a private key without a public one beside it, it crashes. */
	if (pub != NULL)
		*pub = plain_public(k);
	/* libp11 leaves the attributes a module does not have (CKA_EC_POINT on a
	 * private key) on OpenSSL's queue: not errors of a later operation. */
	ERR_clear_error();
	*priv = k;
	k = NULL;
out:
	pthread_mutex_unlock(&shared_lock);
	EVP_PKEY_free(k);
	p11_kit_uri_free(u);
	return st;
}

/* ---- key generation (GnuTLS) ------------------------------------------------------- */

struct gen_pin {
	const char *pin;
	int calls, wrong;
};

/* GnuTLS asks again after a wrong PIN (attempt > 0): refuse, so that one
 * command makes one login attempt. */
static int gen_pin_cb(void *userdata, int attempt, const char *token_url, const char *token_label,
                      unsigned int flags, char *pin, size_t pin_max)
{
	struct gen_pin *g = userdata;
	size_t n;

	(void)token_url;
	(void)token_label;
	g->calls++;
	if (attempt > 0 || (flags & GNUTLS_PIN_WRONG)) {
		g->wrong = 1;
		return GNUTLS_E_PKCS11_PIN_ERROR;
	}
	if (g->pin == NULL || (n = strlen(g->pin)) >= pin_max)
		return GNUTLS_E_PKCS11_PIN_ERROR;
	memcpy(pin, g->pin, n + 1);
	return 0;
}

/* One key to generate: its URI parsed, its label, the token alone and the
 * object as GnuTLS takes them. */
struct gen_key {
	P11KitUri *u;
	char *label, *tok_url, *obj_url;
	unsigned char id[GEN_ID_LEN];
};

static void gen_key_free(struct gen_key *k)
{
	p11_kit_uri_free(k->u);
	free(k->label);
	free(k->tok_url);
	free(k->obj_url);
}

static prov_status gen_key_parse(const char *uri, struct gen_key *k, prov_err *e)
{
	CK_ATTRIBUTE *label, *id;
	P11KitUri *tok = NULL;
	prov_status st;

	st = uri_parse(uri, &k->u, e);
	if (st == PROV_OK)
		st = uri_object(k->u, uri, &label, &id, e);
	if (st != PROV_OK)
		return st;
	if (label == NULL || id != NULL)
		return prov_err_set(e, PROV_E_USAGE, "%s: a key to generate is named by object=LABEL "
		                    "alone (its id is made)", uri);
	if ((k->label = strndup(label->pValue, label->ulValueLen)) == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (strlen(k->label) != label->ulValueLen)
		return prov_err_set(e, PROV_E_USAGE, "%s: a NUL byte in object=", uri);
	if ((tok = p11_kit_uri_new()) == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	memcpy(p11_kit_uri_get_token_info(tok), p11_kit_uri_get_token_info(k->u), sizeof(CK_TOKEN_INFO));
	if (p11_kit_uri_format(tok, P11_KIT_URI_FOR_TOKEN, &k->tok_url) != P11_KIT_URI_OK ||
	    p11_kit_uri_format(k->u, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &k->obj_url) != P11_KIT_URI_OK)
		st = prov_err_set(e, PROV_E_INTERNAL, "cannot format a PKCS#11 URI");
	p11_kit_uri_free(tok);
	return st;
}

/* Whether a private key with k's label is in its token (this logs in once). */
static prov_status gen_key_free_label(struct gen_key *k, const char *module, const char *uri,
                                      struct gen_pin *g, prov_err *e)
{
	gnutls_pkcs11_obj_t *objs = NULL;
	unsigned n = 0;
	int rc = gnutls_pkcs11_obj_list_import_url4(&objs, &n, k->obj_url,
	                                            GNUTLS_PKCS11_OBJ_FLAG_LOGIN |
	                                            GNUTLS_PKCS11_OBJ_FLAG_PRIVKEY);
	prov_status st = PROV_OK;

	if (rc == GNUTLS_E_PKCS11_PIN_ERROR || g->wrong)
		st = prov_err_set(e, PROV_E_PIN, "%s: %s", k->tok_url,
		                  g->wrong ? "wrong PIN (not retried)"
		                  : g->pin == NULL ? "the token needs a PIN: set PROV_PKCS11_PIN or give --pin-file"
		                                   : "PIN refused");
	else if (rc == GNUTLS_E_PKCS11_REQUESTED_OBJECT_NOT_AVAILBLE || rc == GNUTLS_E_PKCS11_TOKEN_ERROR)
		st = prov_err_set(e, PROV_E_TOKEN, "token absent: no token in %s matches %s", module, uri);
	else if (rc < 0)
		st = prov_err_set(e, PROV_E_TOKEN, "%s: cannot list the token's keys: %s", uri,
		                  gnutls_strerror(rc));
	else if (n > 0)
		st = prov_err_set(e, PROV_E_EXISTS, "the token already holds a private key labelled \"%s\": "
		                  "generate never replaces a key (use it with --ca-key/--signer-key, or "
		                  "choose another object=)", k->label);
	for (unsigned i = 0; i < n; i++)
		gnutls_pkcs11_obj_deinit(objs[i]);
	gnutls_free(objs);
	return st;
}

prov_status prov_p11_generate(const char *module, const char *pin, const char *const *uris,
                              size_t n, char **key_uris, prov_err *e)
{
	struct gen_key keys[2];
	struct gen_pin g = {pin, 0, 0};
	int inited = 0, rc;
	prov_status st = PROV_OK;

	memset(keys, 0, sizeof(keys));
	for (size_t i = 0; i < n; i++)
		key_uris[i] = NULL;
	if (n > sizeof(keys) / sizeof(keys[0]))
		return prov_err_set(e, PROV_E_INTERNAL, "too many keys to generate");
	st = module_present(module, e);
	if (st != PROV_OK)
		return st;
	for (size_t i = 0; i < n && st == PROV_OK; i++) {
		st = gen_key_parse(uris[i], &keys[i], e);
		for (size_t j = 0; j < i && st == PROV_OK; j++)
			if (strcmp(keys[i].label, keys[j].label) == 0 &&
			    strcmp(keys[i].tok_url, keys[j].tok_url) == 0)
				st = prov_err_set(e, PROV_E_USAGE, "%s and %s name the same key", uris[j], uris[i]);
	}
	if (st != PROV_OK)
		goto out;
	/* GnuTLS loads only this module (no p11-kit configuration). */
	if (gnutls_pkcs11_init(GNUTLS_PKCS11_FLAG_MANUAL, NULL) < 0 ||
	    (inited = 1, gnutls_pkcs11_add_provider(module, NULL)) < 0) {
		st = prov_err_set(e, PROV_E_TOKEN, "cannot load PKCS#11 module %s", module);
		goto out;
	}
	gnutls_pkcs11_set_pin_function(gen_pin_cb, &g);
	/* Every label must be free first: a second key of a name would make the
	 * URI ambiguous, and nothing is made unless all can be. */
	for (size_t i = 0; i < n && st == PROV_OK; i++)
		st = gen_key_free_label(&keys[i], module, uris[i], &g, e);
	for (size_t i = 0; i < n && st == PROV_OK; i++) {
		gnutls_datum_t cid = {keys[i].id, GEN_ID_LEN};
		CK_ATTRIBUTE new_id = {CKA_ID, keys[i].id, GEN_ID_LEN};

		st = prov_random(keys[i].id, GEN_ID_LEN, 0, e);
		if (st != PROV_OK)
			break;
		/* Not GNUTLS_PKCS11_OBJ_FLAG_MARK_EXTRACTABLE: CKA_EXTRACTABLE is false. */
		rc = gnutls_pkcs11_privkey_generate3(keys[i].tok_url, GNUTLS_PK_ECDSA,
		                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1),
		                                     keys[i].label, &cid, GNUTLS_X509_FMT_DER, NULL,
		                                     GNUTLS_KEY_DIGITAL_SIGNATURE,
		                                     GNUTLS_PKCS11_OBJ_FLAG_LOGIN |
		                                     GNUTLS_PKCS11_OBJ_FLAG_MARK_SENSITIVE |
		                                     GNUTLS_PKCS11_OBJ_FLAG_MARK_PRIVATE);
		if (rc < 0) {
			st = prov_err_set(e, g.wrong ? PROV_E_PIN : PROV_E_TOKEN,
			                  "%s: cannot generate a P-256 key in the token: %s%s", uris[i],
			                  g.wrong ? "wrong PIN (not retried)" : gnutls_strerror(rc),
			                  i > 0 ? " (the keys made before it stay in the token)" : "");
			break;
		}
		if (p11_kit_uri_set_attribute(keys[i].u, &new_id) != P11_KIT_URI_OK ||
		    p11_kit_uri_format(keys[i].u, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &key_uris[i]) !=
		            P11_KIT_URI_OK)
			st = prov_err_set(e, PROV_E_INTERNAL, "cannot format a PKCS#11 URI");
	}
out:
	if (inited)
		gnutls_pkcs11_deinit();
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		gen_key_free(&keys[i]);
	if (st != PROV_OK)
		for (size_t i = 0; i < n; i++) {
			free(key_uris[i]);
			key_uris[i] = NULL;
		}
	return st;
}
