/* keys.c - key generation, loading and encoding (see prov/keys.h). */
#include "prov/algs.h"
#include "prov/keys.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "prov/util.h"

#define KEY_FILE_MAX (64 * 1024)

prov_key_type prov_key_type_parse(const char *s)
{
	if (strcmp(s, "p256") == 0)
		return PROV_KEY_P256;
	if (strcmp(s, "p384") == 0)
		return PROV_KEY_P384;
	if (strcmp(s, "ed25519") == 0)
		return PROV_KEY_ED25519;
	return PROV_KEY_NONE;
}

const char *prov_key_type_name(prov_key_type t)
{
	switch (t) {
	case PROV_KEY_P256: return "p256";
	case PROV_KEY_P384: return "p384";
	case PROV_KEY_ED25519: return "ed25519";
	case PROV_KEY_NONE: break;
	}
	return "unsupported";
}

prov_key_type prov_key_type_of(EVP_PKEY *k)
{
	char group[64];
	size_t gl = 0;

	if (k == NULL)
		return PROV_KEY_NONE;
	if (EVP_PKEY_is_a(k, "ED25519"))
		return PROV_KEY_ED25519;
	if (!EVP_PKEY_is_a(k, "EC"))
		return PROV_KEY_NONE;
	if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group,
	                                    sizeof(group), &gl))
		return PROV_KEY_NONE;
	if (strcmp(group, "prime256v1") == 0)
		return PROV_KEY_P256;
	if (strcmp(group, "secp384r1") == 0)
		return PROV_KEY_P384;
	return PROV_KEY_NONE;
}

static size_t curve_bytes(prov_key_type t)
{
	return t == PROV_KEY_P384 ? 48 : 32;
}

prov_status prov_key_generate(prov_key_type t, EVP_PKEY **out, prov_err *e)
{
	*out = NULL;
	switch (t) {
	case PROV_KEY_P256: *out = EVP_EC_gen("P-256"); break;
	case PROV_KEY_P384: *out = EVP_EC_gen("P-384"); break;
	case PROV_KEY_ED25519: *out = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"); break;
	case PROV_KEY_NONE: return prov_err_set(e, PROV_E_INTERNAL, "no key type");
	}
	if (*out == NULL)
		return prov_err_ssl(e, PROV_E_CRYPTO, "cannot generate %s key", prov_key_type_name(t));
	return PROV_OK;
}

prov_status prov_keygen_ctx(prov_keygen *g, prov_key_type t, EVP_PKEY_CTX **ctx, prov_err *e)
{
	EVP_PKEY_CTX *c;

	*ctx = NULL;
	if (t <= PROV_KEY_NONE || t > PROV_KEY_ED25519)
		return prov_err_set(e, PROV_E_INTERNAL, "no key type");
	if (g->ctx[t] != NULL) {
		*ctx = g->ctx[t];
		return PROV_OK;
	}
	c = EVP_PKEY_CTX_new_from_name(NULL, t == PROV_KEY_ED25519 ? "ED25519" : "EC", NULL);
	if (c == NULL || EVP_PKEY_keygen_init(c) <= 0 ||
	    (t != PROV_KEY_ED25519 &&
	     EVP_PKEY_CTX_set_group_name(c, t == PROV_KEY_P384 ? "P-384" : "P-256") <= 0)) {
		EVP_PKEY_CTX_free(c);
		return prov_err_ssl(e, PROV_E_CRYPTO, "cannot set up %s key generation",
		                    prov_key_type_name(t));
	}
	g->ctx[t] = c;
	*ctx = c;
	return PROV_OK;
}

prov_status prov_keygen_run(prov_keygen *g, prov_key_type t, EVP_PKEY **out, prov_err *e)
{
	EVP_PKEY_CTX *c;
	prov_status st = prov_keygen_ctx(g, t, &c, e);

	*out = NULL;
	if (st != PROV_OK)
		return st;
	if (EVP_PKEY_generate(c, out) <= 0)
		return prov_err_ssl(e, PROV_E_CRYPTO, "cannot generate %s key", prov_key_type_name(t));
	return PROV_OK;
}

void prov_keygen_free(prov_keygen *g)
{
	for (size_t i = 0; i < sizeof(g->ctx) / sizeof(g->ctx[0]); i++) {
		EVP_PKEY_CTX_free(g->ctx[i]);
		g->ctx[i] = NULL;
	}
}

static int pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
	const char *p = u;
	size_t n;

	(void)rwflag;
	if (p == NULL)
		return 0;
	n = strlen(p);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, p, n);
	return (int)n;
}

prov_status prov_key_load_private(const char *path, const char *pass, EVP_PKEY **out,
                                  prov_err *e)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	prov_status st;

	*out = NULL;
	st = prov_file_read(path, KEY_FILE_MAX, &buf, &len, e);
	if (st != PROV_OK)
		return st;
	b = BIO_new_mem_buf(buf, (int)len);
	if (b == NULL) {
		st = prov_err_ssl(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	*out = PEM_read_bio_PrivateKey(b, NULL, pem_pass_cb, (void *)pass);
	if (*out == NULL) {
		/* An encrypted PEM that does not open means the passphrase is wrong. */
		int bad_pass = strstr((char *)buf, "ENCRYPTED") != NULL;

		st = prov_err_ssl(e, bad_pass ? PROV_E_AUTH : PROV_E_INPUT,
		                  bad_pass ? "cannot decrypt private key %s: wrong or missing passphrase (PROV_PASSPHRASE)"
		                           : "%s is not a PEM private key", path);
		goto out;
	}
	st = PROV_OK;
out:
	BIO_free(b);
	prov_wipe(buf, len);
	free(buf);
	return st;
}

prov_status prov_key_from_spki(const uint8_t *der, size_t len, EVP_PKEY **out, prov_err *e)
{
	const unsigned char *p = der;

	*out = d2i_PUBKEY(NULL, &p, (long)len);
	if (*out == NULL || p != der + len) {
		EVP_PKEY_free(*out);
		*out = NULL;
		return prov_err_ssl(e, PROV_E_INPUT, "not a DER SubjectPublicKeyInfo");
	}
	return PROV_OK;
}

prov_status prov_key_load_public(const char *path, EVP_PKEY **out, prov_err *e)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	prov_status st;

	*out = NULL;
	st = prov_file_read(path, KEY_FILE_MAX, &buf, &len, e);
	if (st != PROV_OK)
		return st;
	if (strstr((char *)buf, "-----BEGIN PUBLIC KEY-----") != NULL) {
		b = BIO_new_mem_buf(buf, (int)len);
		if (b != NULL)
			*out = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
		st = *out != NULL ? PROV_OK
		                  : prov_err_ssl(e, PROV_E_INPUT, "%s: bad PEM public key", path);
	} else {
		st = prov_key_from_spki(buf, len, out, e);
		if (st != PROV_OK)
			prov_err_set(e, PROV_E_INPUT,
			             "%s is not a public key (PEM \"PUBLIC KEY\" or DER SubjectPublicKeyInfo)",
			             path);
	}
	BIO_free(b);
	free(buf);
	return st;
}

/* PKCS#8 EncryptedPrivateKeyInfo, PBES2 with scrypt and AES-256-CBC (RFC 8018,
 * RFC 7914 section 7), through OpenSSL's own PKCS#8 code. */
static int write_encrypted_pkcs8(BIO *b, EVP_PKEY *k, const char *pass)
{
	PKCS8_PRIV_KEY_INFO *p8 = EVP_PKEY2PKCS8(k);
	X509_ALGOR *pbe = NULL;
	X509_SIG *sig = NULL;
	int ok = 0;

	if (p8 == NULL)
		goto out;
	pbe = PKCS5_pbe2_set_scrypt(EVP_aes_256_cbc(), NULL, PROV_KEY_PBE_SALT_LEN, NULL,
	                            PROV_KEY_SCRYPT_N, PROV_KEY_SCRYPT_R, PROV_KEY_SCRYPT_P);
	if (pbe == NULL)
		goto out;
	sig = PKCS8_set0_pbe(pass, (int)strlen(pass), p8, pbe);
	if (sig == NULL)
		goto out;
	pbe = NULL; /* sig owns it now */
	ok = PEM_write_bio_PKCS8(b, sig);
out:
	X509_ALGOR_free(pbe);
	X509_SIG_free(sig);
	PKCS8_PRIV_KEY_INFO_free(p8); /* cleanses the key it held */
	return ok;
}

prov_status prov_key_save_private(const char *path, EVP_PKEY *k, const char *pass,
                                  prov_err *e)
{
	BIO *b = BIO_new(BIO_s_secmem());
	BUF_MEM *m = NULL;
	prov_status st;
	int ok;

	if (b == NULL)
		return prov_err_ssl(e, PROV_E_INTERNAL, "out of memory");
	if (pass != NULL)
		ok = write_encrypted_pkcs8(b, k, pass);
	else
		ok = PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	if (!ok) {
		st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode private key");
		goto out;
	}
	BIO_get_mem_ptr(b, &m);
	st = prov_file_write(path, m->data, m->length, 0600, 1, e);
out:
	BIO_free(b); /* secure memory BIO: freed buffers are cleansed */
	return st;
}

prov_status prov_pub_to_x509_pubkey(prov_key_type t, const uint8_t *pub, size_t n,
                                    X509_PUBKEY *pk, prov_err *e)
{
	unsigned char *copy;
	int ok;

	/* The SubjectPublicKeyInfo from its parts (RFC 5480 section 2, RFC 8410
	 * section 4) through OpenSSL's own ASN.1 types: OpenSSL 3.0's generic path
	 * (i2d_PUBKEY, X509_set_pubkey) runs an encoder and a decoder per key and
	 * dominated batch minting. */
	if (t == PROV_KEY_NONE)
		return prov_err_set(e, PROV_E_INPUT, "unsupported key type");
	copy = OPENSSL_memdup(pub, n);
	if (copy == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	if (t == PROV_KEY_ED25519)
		ok = X509_PUBKEY_set0_param(pk, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL, copy, (int)n);
	else
		ok = X509_PUBKEY_set0_param(pk, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
		                            OBJ_nid2obj(t == PROV_KEY_P384 ? NID_secp384r1 : NID_X9_62_prime256v1),
		                            copy, (int)n);
	if (!ok) {
		OPENSSL_free(copy);
		return prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode public key");
	}
	return PROV_OK;
}

prov_status prov_key_set_x509_pubkey(EVP_PKEY *k, X509_PUBKEY *pk, prov_err *e)
{
	unsigned char pub[133];
	size_t n = 0;
	prov_status st = prov_key_raw_public(k, pub, sizeof(pub), &n, e);

	return st == PROV_OK ? prov_pub_to_x509_pubkey(prov_key_type_of(k), pub, n, pk, e) : st;
}

prov_status prov_pub_to_spki(prov_key_type t, const uint8_t *pub, size_t n, uint8_t **der,
                             size_t *len, prov_err *e)
{
	X509_PUBKEY *pk = X509_PUBKEY_new();
	unsigned char *p = NULL;
	prov_status st;
	int dl;

	if (pk == NULL)
		return prov_err_set(e, PROV_E_INTERNAL, "out of memory");
	st = prov_pub_to_x509_pubkey(t, pub, n, pk, e);
	if (st == PROV_OK) {
		dl = i2d_X509_PUBKEY(pk, &p);
		if (dl <= 0) {
			st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode public key");
		} else {
			*der = p;
			*len = (size_t)dl;
		}
	}
	X509_PUBKEY_free(pk);
	return st;
}

prov_status prov_key_spki(EVP_PKEY *k, uint8_t **der, size_t *len, prov_err *e)
{
	unsigned char pub[133];
	size_t n = 0;
	prov_status st = prov_key_raw_public(k, pub, sizeof(pub), &n, e);

	return st == PROV_OK ? prov_pub_to_spki(prov_key_type_of(k), pub, n, der, len, e) : st;
}

prov_status prov_key_public_pem(EVP_PKEY *k, char **pem, prov_err *e)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m = NULL;
	prov_status st = PROV_OK;

	*pem = NULL;
	if (b == NULL || !PEM_write_bio_PUBKEY(b, k)) {
		st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot encode public key");
		goto out;
	}
	BIO_get_mem_ptr(b, &m);
	*pem = malloc(m->length + 1);
	if (*pem == NULL) {
		st = prov_err_set(e, PROV_E_INTERNAL, "out of memory");
		goto out;
	}
	memcpy(*pem, m->data, m->length);
	(*pem)[m->length] = 0;
out:
	BIO_free(b);
	return st;
}

prov_status prov_key_raw_private(EVP_PKEY *k, uint8_t *out, size_t cap, size_t *len,
                                 prov_err *e)
{
	prov_key_type t = prov_key_type_of(k);
	BIGNUM *d = NULL;
	prov_status st = PROV_OK;

	if (t == PROV_KEY_ED25519) {
		size_t n = cap;

		if (cap < 32 || !EVP_PKEY_get_raw_private_key(k, out, &n))
			return prov_err_ssl(e, PROV_E_CRYPTO, "cannot export Ed25519 private key");
		*len = n;
		return PROV_OK;
	}
	if (t == PROV_KEY_NONE)
		return prov_err_set(e, PROV_E_INPUT, "unsupported key type");
	if (cap < curve_bytes(t) || !EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_PRIV_KEY, &d) ||
	    BN_bn2binpad(d, out, (int)curve_bytes(t)) < 0) {
		st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot export EC private key");
		goto out;
	}
	*len = curve_bytes(t);
out:
	BN_clear_free(d);
	return st;
}

prov_status prov_key_from_raw_private(prov_key_type t, const uint8_t *raw, size_t len,
                                      EVP_PKEY **out, prov_err *e)
{
	EC_GROUP *g = NULL;
	EC_POINT *pt = NULL;
	BIGNUM *d = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	unsigned char pub[133];
	size_t publen;
	const char *gname = t == PROV_KEY_P384 ? "secp384r1" : "prime256v1";
	prov_status st = PROV_E_CRYPTO;

	*out = NULL;
	if (t == PROV_KEY_ED25519) {
		*out = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw, len);
		return *out != NULL ? PROV_OK : prov_err_ssl(e, PROV_E_INPUT, "bad Ed25519 private key");
	}
	if (t == PROV_KEY_NONE || len != curve_bytes(t))
		return prov_err_set(e, PROV_E_INPUT, "bad raw private key length %zu", len);
	g = EC_GROUP_new_by_curve_name(t == PROV_KEY_P384 ? NID_secp384r1 : NID_X9_62_prime256v1);
	d = BN_secure_new();
	pt = g != NULL ? EC_POINT_new(g) : NULL;
	if (pt == NULL || d == NULL || BN_bin2bn(raw, (int)len, d) == NULL)
		goto fail;
	/* A private scalar is in [1, n-1] (SEC 1, 3.2.1). */
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(g)) >= 0) {
		st = prov_err_set(e, PROV_E_INPUT, "raw %s private key is out of range (0 or >= the group order)",
		                  prov_key_type_name(t));
		goto out;
	}
	if (!EC_POINT_mul(g, pt, d, NULL, NULL, NULL))
		goto fail;
	publen = EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub), NULL);
	bld = OSSL_PARAM_BLD_new();
	if (publen == 0 || bld == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, gname, 0) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, publen))
		goto fail;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_KEYPAIR, params) <= 0)
		goto fail;
	st = PROV_OK;
	goto out;
fail:
	st = prov_err_ssl(e, PROV_E_CRYPTO, "cannot build %s key", prov_key_type_name(t));
out:
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	BN_clear_free(d);
	return st;
}

prov_status prov_key_raw_public(EVP_PKEY *k, uint8_t *out, size_t cap, size_t *len,
                                prov_err *e)
{
	size_t n = cap;

	if (prov_key_type_of(k) == PROV_KEY_ED25519) {
		if (!EVP_PKEY_get_raw_public_key(k, out, &n))
			return prov_err_ssl(e, PROV_E_CRYPTO, "cannot export public key");
	} else if (!EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
	                                            out, cap, &n)) {
		return prov_err_ssl(e, PROV_E_CRYPTO, "cannot export public key");
	}
	*len = n;
	return PROV_OK;
}

prov_status prov_key_kid(EVP_PKEY *k, uint8_t kid[8], prov_err *e)
{
	uint8_t *der = NULL, md[32];
	size_t len = 0;
	prov_status st = prov_key_spki(k, &der, &len, e);

	if (st != PROV_OK)
		return st;
	if (!EVP_Digest(der, len, md, NULL, prov_md_sha256(), NULL))
		st = prov_err_ssl(e, PROV_E_CRYPTO, "SHA-256 failed");
	else
		memcpy(kid, md, 8);
	OPENSSL_free(der);
	return st;
}
