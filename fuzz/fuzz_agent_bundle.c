/*
 * fuzz_agent_bundle.c - libFuzzer target for the device agent's bundle decoder
 * (firmware-agent/verify/): the bytes as a whole bundle (COSE_Sign1 envelope,
 * signature check against a fixed signer), and the same bytes as an already
 * verified payload, so the payload, entry, TLS-profile and secrets parsers and
 * the COSE_Encrypt opening all run on arbitrary input.
 *
 * The device key is a fixed P-256 scalar (volatile PSA key, nothing is stored),
 * so crashes reproduce and the seeds in fuzz/corpus/agent_bundle/ (payloads of
 * real prov bundles whose secrets are encrypted to this key, made by
 * firmware-agent/tests/mkcorpus.sh) get through decryption.
 *
 * Checks besides "no crash, no leak, no UB": an accepted payload's entries,
 * profile and secrets lie inside the input; decrypted secrets lie inside the
 * output buffer and have the sizes schemas/bundle.cddl allows.
 *
 * Build: this file plus the agent sources (PA_AGENT_SRC in
 * firmware-agent/sources.mk), -Ifirmware-agent/include -Ifirmware-agent,
 * against the project's Mbed TLS (common.mk's MBEDTLS_CFLAGS and
 * MBEDTLS_LIBS: build-mbedtls/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pa/pa_agent.h"
#include "verify/pa_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The fixed device key (also in firmware-agent/tests/mkcorpus.sh). */
static const uint8_t device_scalar[32] = {
	0x70, 0x72, 0x6f, 0x76, 0x6b, 0x69, 0x74, 0x20, 0x61, 0x67, 0x65, 0x6e, 0x74, 0x20, 0x66,
	0x75, 0x7a, 0x7a, 0x20, 0x64, 0x65, 0x76, 0x69, 0x63, 0x65, 0x20, 0x6b, 0x65, 0x79, 0x20,
	0x30, 0x31 };   /* "provkit agent fuzz device key 01" */

static psa_key_id_t device_key;
static uint8_t device_kid[8];
static pa_signer signer;   /* a point that verifies nothing: envelope paths only */

static const uint8_t spki_prefix[] = {
	0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00
};

static void setup(void)
{
	psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
	uint8_t spki[sizeof(spki_prefix) + 65], hash[32];
	size_t n = 0;

	if (psa_crypto_init() != PSA_SUCCESS)
		abort();
	psa_set_key_type(&at, PSA_KEY_TYPE_ECC_KEY_PAIR(PSA_ECC_FAMILY_SECP_R1));
	psa_set_key_bits(&at, 256);
	psa_set_key_usage_flags(&at, PSA_KEY_USAGE_SIGN_HASH | PSA_KEY_USAGE_DERIVE);
	psa_set_key_algorithm(&at, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
	psa_set_key_enrollment_algorithm(&at, PSA_ALG_ECDH);
	if (psa_import_key(&at, device_scalar, sizeof(device_scalar), &device_key) != PSA_SUCCESS)
		abort();
	memcpy(spki, spki_prefix, sizeof(spki_prefix));
	if (psa_export_public_key(device_key, spki + sizeof(spki_prefix), 65, &n) != PSA_SUCCESS ||
	    psa_hash_compute(PSA_ALG_SHA_256, spki, sizeof(spki), hash, sizeof(hash), &n) !=
	        PSA_SUCCESS)
		abort();
	memcpy(device_kid, hash, 8);
	/* the signer: the device's own point under a kid seeds may carry */
	memcpy(signer.pub, spki + sizeof(spki_prefix), 65);
	memcpy(signer.kid, device_kid, 8);
}

static int inside(const uint8_t *p, size_t n, const uint8_t *base, size_t len)
{
	return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static pa_manifest m;
	static uint8_t secrets[PA_SECRETS_BUF];
	static const char dev[] = "sensor-1";
	const uint8_t *payload = NULL;
	size_t plen = 0, i;
	pa_check chk;
	int rc;

	if (!ready) {
		setup();
		ready = 1;
	}
	/* 1. the whole bundle: envelope, kid, signature */
	rc = pa_sign1_check(data, size, &signer, 1, &payload, &plen);
	if (rc == PA_OK && !inside(payload, plen, data, size))
		abort();

	/* 2. the bytes as a verified payload, for a device "sensor-1" with counter 0
	 * and, on odd sizes, a session nonce (so both nonce paths run) */
	chk.device_id = dev;
	chk.device_id_len = sizeof(dev) - 1;
	chk.installed = 0;
	chk.nonce = size % 2 ? (const uint8_t *)"0123456789abcdef" : NULL;
	chk.nonce_len = size % 2 ? 16 : 0;
	rc = pa_payload_check(data, size, &chk, &m);
	if (rc != PA_OK)
		return 0;
	if (m.n > PA_ENTRIES_MAX || m.n_secrets > m.n ||
	    (m.profile != NULL && !inside(m.profile, m.profile_len, data, size)) ||
	    (m.secrets != NULL && !inside(m.secrets, m.secrets_len, data, size)))
		abort();
	for (i = 0; i < m.n; i++)
		if ((m.e[i].value != NULL && !inside(m.e[i].value, m.e[i].value_len, data, size)) ||
		    (m.e[i].ident != NULL && !inside(m.e[i].ident, m.e[i].ident_len, data, size)))
			abort();
	if (m.profile != NULL) {
		pa_tls_profile prof;
		pa_cbor r;

		pa_cbor_init(&r, m.profile, m.profile_len);
		pa_profile_read(&r, &prof);
		if (!pa_cbor_at_end(&r) || prof.n_versions > 16 || prof.n_suites > 16)
			abort();
	}
	rc = pa_secrets_open(&m, device_key, device_kid, secrets, sizeof(secrets));
	if (rc == PA_OK) {
		for (i = 0; i < m.n_secrets; i++)
			if (!inside(m.secret[i], m.secret_len[i], secrets, sizeof(secrets)) ||
			    m.secret_len[i] < 16 || m.secret_len[i] > PA_SECRET_MAX)
				abort();
		(void)pa_keys_check(&m);
	}
	pa_wipe(secrets, sizeof(secrets));
	return 0;
}
