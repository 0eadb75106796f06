/*
 * agent_support.c - see agent_support.h.
 */
#include "agent_support.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "prov/cbor.h"
#include "prov/cose.h"

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A snapshot that silently came out empty or short would make every "storage
 * unchanged" check pass: the test stops instead (no summary line, so
 * tests/run.sh counts it as failed). */
static int snap_fail(const char *what, const char *dir)
{
	fprintf(stderr, "FAIL %s: %s: cannot snapshot the device directory\n", what, dir);
	exit(2);
}

int snap_take(const char *dir, snap *s)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char *names[SNAP_MAX];
	size_t n = 0, i;
	int rc = 0;

	memset(s, 0, sizeof(*s));
	if (d == NULL)
		return snap_fail("snap_take", dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == SNAP_MAX || strlen(de->d_name) >= 64) {
			rc = -1;
			break;
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	for (i = 0; i < n; i++) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(s->name[i], sizeof(s->name[i]), "%s", names[i]);
		if (rc == 0 && load_file(path, &s->data[i], &s->len[i]) != 0)
			rc = -1;
		free(names[i]);
	}
	s->n = n;
	return rc == 0 ? 0 : snap_fail("snap_take", dir);
}

void snap_free(snap *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->data[i]);
	memset(s, 0, sizeof(*s));
}

int snap_equal(const snap *a, const snap *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->name[i], b->name[i]) != 0 || a->len[i] != b->len[i] ||
		    (a->len[i] > 0 && memcmp(a->data[i], b->data[i], a->len[i]) != 0))
			return 0;
	return 1;
}

int snap_restore(const char *dir, const snap *s)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4200];
	size_t i;

	if (d == NULL)
		return snap_fail("snap_restore", dir);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path) != 0)
			return snap_fail("snap_restore", dir);
	}
	closedir(d);
	for (i = 0; i < s->n; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", dir, s->name[i]);
		f = fopen(path, "wb");
		if (f == NULL || fwrite(s->data[i], 1, s->len[i], f) != s->len[i]) {
			if (f != NULL)
				fclose(f);
			return snap_fail("snap_restore", dir);
		}
		if (fclose(f) != 0)
			return snap_fail("snap_restore", dir);
	}
	return 0;
}

int run(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int make_device_dir(char *tmpl, char *devdir, size_t cap)
{
	char path[600];
	FILE *f;
	int ok;

	if (mkdtemp(tmpl) == NULL)
		return -1;
	snprintf(devdir, cap, "%s/dev", tmpl);
	snprintf(path, sizeof(path), "%s/device-id", devdir);
	if (mkdir(devdir, 0700) != 0 || (f = fopen(path, "w")) == NULL)
		return -1;
	ok = fputs("X", f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

int load_file(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;

	*buf = NULL;
	*len = 0;
	if (f == NULL)
		return -1;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return -1;
	}
	*buf = malloc((size_t)n + 1);
	if (*buf == NULL || fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(*buf);
		*buf = NULL;
		return -1;
	}
	fclose(f);
	*len = (size_t)n;
	return 0;
}

int signer_from_pem(const char *path, pa_signer *s)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *k = f != NULL ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL, md[32];
	size_t n = 0;
	int der_len, ok;

	if (f != NULL)
		fclose(f);
	if (k == NULL)
		return -1;
	ok = EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, s->pub,
	                                     sizeof(s->pub), &n) == 1 && n == sizeof(s->pub);
	der_len = i2d_PUBKEY(k, &der);
	ok = ok && der_len > 0 && EVP_Digest(der, (size_t)der_len, md, NULL, EVP_sha256(), NULL);
	if (ok)
		memcpy(s->kid, md, sizeof(s->kid));
	OPENSSL_free(der);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

/* The EVP key of a P-256 point 04 || x || y (NULL if it is none). */
static EVP_PKEY *pub_key(const uint8_t pub[65])
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;

	if (bld == NULL || ctx == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 65) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) != 1)
		k = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return k;
}

int receipt_names(const uint8_t *r, size_t n, const uint8_t pub[65], uint64_t counter,
                  const uint8_t digest[32])
{
	EVP_PKEY *k = pub_key(pub);
	prov_cose_sign1_info info;
	prov_err e;
	cbor_item_t *pl = NULL;
	const cbor_item_t *ctr, *dg;
	int64_t v;
	int ok = 0;

	memset(&e, 0, sizeof(e));
	if (k == NULL || n == 0 ||
	    prov_cose_sign1_verify(&k, 1, r, n, NULL, 0, 0, &info, &e) != PROV_OK ||
	    info.alg != -7 || prov_cbor_decode(info.payload, info.payload_len, &pl, &e) != PROV_OK ||
	    !cbor_isa_map(pl))
		goto out;
	ctr = prov_cbor_map_get_int(pl, 3);
	dg = prov_cbor_map_get_int(pl, 4);
	ok = ctr != NULL && prov_cbor_get_int(ctr, &v) == 0 && (uint64_t)v == counter && dg != NULL &&
	     cbor_isa_bytestring(dg) && cbor_bytestring_length(dg) == 32 &&
	     memcmp(cbor_bytestring_handle(dg), digest, 32) == 0;
out:
	if (pl != NULL)
		cbor_decref(&pl);
	EVP_PKEY_free(k);
	return ok;
}

int write_pub_pem(const char *path, const uint8_t pub[65])
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *k = NULL;
	FILE *f = fopen(path, "w");
	int ok = f != NULL && bld != NULL && ctx != NULL &&
	         OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
	         OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 65) &&
	         (params = OSSL_PARAM_BLD_to_param(bld)) != NULL &&
	         EVP_PKEY_fromdata_init(ctx) == 1 &&
	         EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params) == 1 &&
	         PEM_write_PUBKEY(f, k) == 1;

	if (f != NULL && fclose(f) != 0)
		ok = 0;
	EVP_PKEY_free(k);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return ok ? 0 : -1;
}

void psa_reboot(void)
{
	mbedtls_psa_crypto_free();
}
