/* test_cose_signer.c - prov_cose_signer: a prepared signer gives the same
 * messages as prov_cose_sign1_create, for every supported key type, and each
 * verifies on its own (the prepared context is copied, never consumed). */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "prov/cose.h"
#include "prov/keys.h"

static void one_type(prov_key_type t)
{
	EVP_PKEY *k = NULL;
	prov_cose_signer s;
	prov_err e;
	uint8_t *m[3] = {NULL, NULL, NULL}, *plain = NULL;
	size_t n[3] = {0, 0, 0}, plain_len = 0;
	static const uint8_t kid[8] = {1, 2, 3, 4, 5, 6, 7, 8};

	CHECK(prov_key_generate(t, &k, &e) == PROV_OK);
	CHECK(prov_cose_signer_init(&s, k, &e) == PROV_OK);
	CHECK(s.alg == prov_cose_sign_alg_for_key(k));
	CHECK((s.tmpl == NULL) == (t == PROV_KEY_ED25519));
	for (int i = 0; i < 3; i++) {
		uint8_t payload[16];
		prov_cose_sign1_info info;

		memset(payload, 'a' + i, sizeof(payload));
		CHECK(prov_cose_sign1_create_with(&s, kid, sizeof(kid), payload, sizeof(payload), &m[i], &n[i],
		                                  &e) == PROV_OK);
		CHECK_MSG(prov_cose_sign1_verify(&k, 1, m[i], n[i], NULL, 0, 0, &info, &e) == PROV_OK,
		          "%s message %d: %s", prov_key_type_name(t), i, e.msg);
		CHECK(info.payload_len == sizeof(payload) && memcmp(info.payload, payload, sizeof(payload)) == 0);
		CHECK(info.kid_len == sizeof(kid) && memcmp(info.kid, kid, sizeof(kid)) == 0);
		/* a flipped payload byte fails: the signature covers it */
		m[i][n[i] - 70] ^= 1;
		CHECK(prov_cose_sign1_verify(&k, 1, m[i], n[i], NULL, 0, 0, &info, &e) != PROV_OK);
		m[i][n[i] - 70] ^= 1;
	}
	/* same layout as the one-off signer: equal except the signature bytes */
	CHECK(prov_cose_sign1_create(k, kid, sizeof(kid), (const uint8_t *)"cccccccccccccccc", 16, &plain,
	                             &plain_len, &e) == PROV_OK);
	{
		size_t sig_len = t == PROV_KEY_P384 ? 96 : 64;

		CHECK_MSG(plain_len == n[2] && memcmp(plain, m[2], plain_len - sig_len) == 0,
		          "%s: layout differs", prov_key_type_name(t));
	}
	for (int i = 0; i < 3; i++)
		free(m[i]);
	free(plain);
	prov_cose_signer_free(&s);
	CHECK(s.tmpl == NULL && s.key == NULL);
	EVP_PKEY_free(k);
}

int main(void)
{
	prov_cose_signer s;
	EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	prov_err e;

	one_type(PROV_KEY_P256);
	one_type(PROV_KEY_P384);
	one_type(PROV_KEY_ED25519);
	/* an unsupported key is refused up front */
	CHECK(prov_cose_signer_init(&s, rsa, &e) == PROV_E_INPUT && s.tmpl == NULL);
	EVP_PKEY_free(rsa);
	return check_done("test_cose_signer");
}
