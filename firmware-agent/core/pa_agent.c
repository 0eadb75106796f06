/*
 * pa_agent.c - the agent's entry points: start (identity, recovery), session
 * nonce, install (push, verify, store, receipt).  See pa/pa_agent.h.
 */
#include <string.h>

#include "pa/pa_agent.h"
#include "receipt/pa_receipt.h"
#include "store/pa_store.h"
#include "verify/pa_verify.h"

/* DER SubjectPublicKeyInfo of a P-256 key, up to the 65-byte point
 * (RFC 5480: id-ecPublicKey, secp256r1, BIT STRING). */
static const uint8_t spki_p256_prefix[] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00
};

void pa_spki_p256(const uint8_t pub[65], uint8_t spki[PA_SPKI_LEN])
{
	memcpy(spki, spki_p256_prefix, sizeof(spki_p256_prefix));
	memcpy(spki + sizeof(spki_p256_prefix), pub, 65);
}

/* The identity key: made inside PSA on first start, never exported.  It signs
 * receipts (ECDSA) and receives secrets (ECDH, its enrollment algorithm). */
static int identity(pa_agent *a)
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;
	uint8_t spki[PA_SPKI_LEN], hash[32];
	size_t len = 0;
	int rc = PA_A_IDENTITY;

	if (psa_get_key_attributes(PA_KEY_ID_DEVICE, &at) != PSA_SUCCESS) {
		if (a->n_signers == 0)   /* read-only: never makes the key */
			goto out;
		psa_reset_key_attributes(&at);
		psa_set_key_lifetime(&at, PSA_KEY_LIFETIME_PERSISTENT);
		psa_set_key_id(&at, PA_KEY_ID_DEVICE);
		psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
		psa_set_key_bits(&at, 256);
		psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_DERIVE);
		psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
		psa_set_key_enrollment_algorithm(&at, PSA_ALG_ECDH);
		if (psa_generate_key(&at, &id) != PSA_SUCCESS)
			goto out;
	}
	if (psa_export_public_key(PA_KEY_ID_DEVICE, a->pub, sizeof(a->pub), &len) != PSA_SUCCESS ||
	    len != sizeof(a->pub))
		goto out;
	pa_spki_p256(a->pub, spki);
	if (psa_hash_compute(PSA_ALG_SHA_256, spki, sizeof(spki), hash, sizeof(hash), &len) !=
	    PSA_SUCCESS)
		goto out;
	memcpy(a->kid, hash, sizeof(a->kid));
	rc = PA_OK;
out:
	psa_reset_key_attributes(&at);
	return rc;
}

int pa_agent_start(pa_agent *a, const pa_port *port, const pa_signer *signers, size_t n)
{
	int rc = PA_A_ARGS;

	if (a == NULL)
		return rc;
	memset(a, 0, sizeof(*a));
	if (port == NULL || port->get == NULL || port->set == NULL || port->remove == NULL ||
	    port->device_id == NULL || (signers == NULL && n != 0))
		goto out;
	a->port = port;
	a->signers = signers;
	a->n_signers = n;
	rc = PA_A_PSA;
	if (psa_crypto_init() != PSA_SUCCESS)
		goto out;
	rc = PA_A_IDENTITY;
	if (port->device_id(port->ctx, a->device_id, PA_DEVICE_ID_MAX, &a->device_id_len) !=
	        PA_PORT_OK ||
	    a->device_id_len == 0 || a->device_id_len > PA_DEVICE_ID_MAX)
		goto out;
	a->device_id[a->device_id_len] = '\0';
	rc = identity(a);
	if (rc != PA_OK)
		goto out;
	rc = pa_store_recover(a);
	if (rc != PA_OK)
		goto out;
	a->started = 1;
out:
	return rc;
}

int pa_agent_public_key(const pa_agent *a, uint8_t pub[65], uint8_t kid[8])
{
	if (a == NULL || !a->started)
		return PA_A_STATE;
	if (pub != NULL)
		memcpy(pub, a->pub, sizeof(a->pub));
	if (kid != NULL)
		memcpy(kid, a->kid, sizeof(a->kid));
	return PA_OK;
}

int pa_agent_set_nonce(pa_agent *a, const uint8_t *nonce, size_t len)
{
	if (a == NULL || (len != 0 && (nonce == NULL || len < PA_NONCE_MIN || len > PA_NONCE_MAX)))
		return PA_A_ARGS;
	if (len > 0)
		memcpy(a->nonce, nonce, len);
	a->nonce_len = len;
	return PA_OK;
}

int pa_agent_new_nonce(pa_agent *a, size_t len)
{
	if (a == NULL || !a->started || a->port->random == NULL)
		return PA_A_STATE;
	if (len != 0 && (len < PA_NONCE_MIN || len > PA_NONCE_MAX))
		return PA_A_ARGS;
	a->nonce_len = 0;
	if (len > 0 && a->port->random(a->port->ctx, a->nonce, len) != PA_PORT_OK)
		return PA_S_IO;
	a->nonce_len = len;
	return PA_OK;
}

void pa_install_begin(pa_agent *a)
{
#if PA_ALLOW_PLAINTEXT_SECRETS
	/* An upload left unfinished may hold a lab bundle's secrets in the clear. */
	pa_wipe(a->bundle, a->bundle_len);
#endif
	a->bundle_len = 0;
	a->push_err = PA_OK;
}

int pa_install_push(pa_agent *a, const uint8_t *buf, size_t len)
{
	if (a->push_err != PA_OK)
		return a->push_err;
	if (!a->started || (buf == NULL && len > 0))
		a->push_err = !a->started ? PA_A_STATE : PA_A_ARGS;
	else if (len > PA_BUNDLE_MAX - a->bundle_len)
		a->push_err = PA_V_TOO_LARGE;
	if (a->push_err != PA_OK)
		return a->push_err;
	if (len > 0)
		memcpy(a->bundle + a->bundle_len, buf, len);
	a->bundle_len += len;
	return PA_OK;
}

int pa_install_finish(pa_agent *a, uint8_t *receipt, size_t cap, size_t *receipt_len)
{
	const uint8_t *payload = NULL;
	size_t plen = 0, dlen = 0, rlen;
	uint8_t digest[32];
	pa_check chk;
	int rc = a->push_err;

	*receipt_len = 0;
	if (rc == PA_OK && !a->started)
		rc = PA_A_STATE;
	if (rc != PA_OK)
		goto out;
	/* verify, then parse: nothing of the payload is read before this */
	rc = pa_sign1_check(a->bundle, a->bundle_len, a->signers, a->n_signers, &payload, &plen);
	if (rc != PA_OK)
		goto out;
	chk.device_id = a->device_id;
	chk.device_id_len = a->device_id_len;
	chk.installed = a->installed.counter;
	chk.nonce = a->nonce_len > 0 ? a->nonce : NULL;
	chk.nonce_len = a->nonce_len;
	rc = pa_payload_check(payload, plen, &chk, &a->m);
	if (rc != PA_OK)
		goto out;
	/* the digest first: the secrets are decrypted in place, in the payload */
	rc = PA_V_CRYPTO;
	if (psa_hash_compute(PSA_ALG_SHA_256, payload, plen, digest, sizeof(digest), &dlen) !=
	    PSA_SUCCESS)
		goto out;
	rc = pa_secrets_open(&a->m, PA_KEY_ID_DEVICE, a->kid, a->bundle, a->bundle_len);
	if (rc != PA_OK)
		goto out;
	rc = pa_keys_check(&a->m);
	if (rc != PA_OK)
		goto out;
	/* the receipt before the commit: the commit record carries it, so a power
	 * cut leaves the old set with its receipt or the new one with this one */
	rc = pa_receipt_make(a, digest, receipt, cap, &rlen);
	if (rc != PA_OK)
		goto out;
	/* everything checked and signed: the only step that writes */
	rc = pa_store_install(a, digest, receipt, rlen);
	if (rc != PA_OK)
		goto out;
	*receipt_len = rlen;
	a->nonce_len = 0;   /* a session nonce serves one install */
out:
	pa_wipe(&a->m, sizeof(a->m));
	/* The secrets were decrypted in the bundle buffer (and a lab bundle
	 * carries them in the clear): none stay behind, whatever the outcome. */
	pa_wipe(a->bundle, a->bundle_len);
	a->bundle_len = 0;
	a->push_err = PA_OK;
	return rc;
}
