/*
 * pa_tls.c - the Mbed TLS adapter: mbedtls_ssl_config from a slot's installed
 * credentials (by reference: opaque PSA keys) and the set's TLS profile.
 * Needs Mbed TLS built with MBEDTLS_USE_PSA_CRYPTO (firmware-agent/mbedtls/).
 */
#include "tls/pa_tls.h"

#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/ecp.h>
#include <mbedtls/sha256.h>
#include <mbedtls/ssl_ciphersuites.h>

#if !defined(MBEDTLS_USE_PSA_CRYPTO)
#error "pa_tls needs Mbed TLS with MBEDTLS_USE_PSA_CRYPTO (firmware-agent/mbedtls/mbedtls_config.h)"
#endif

#define TLS12 0x0303u
#define DATE_FLAGS (MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE)

/* profile key 8 */
enum { TIME_FULL = 0, TIME_SKIP = 1, TIME_FLOOR = 2 };

const char *pa_tls_strerror(int err)
{
	switch (err) {
	case PA_TLS_OK: return "ok";
	case PA_TLS_E_ARGS: return "invalid argument";
	case PA_TLS_E_NO_SLOT: return "no TLS credential in that slot";
	case PA_TLS_E_NO_PROFILE: return "no TLS profile installed";
	case PA_TLS_E_PROFILE: return "the TLS profile asks for what this build cannot do";
	case PA_TLS_E_STORE: return "storage lookup failed";
	case PA_TLS_E_CERT: return "an installed certificate does not parse";
	case PA_TLS_E_KEY: return "the installed key is not usable for the certificate";
	case PA_TLS_E_NO_TRUST: return "no trust store or CA certificates to check the server";
	case PA_TLS_E_TRUST_STORE: return "the installed trust store does not open";
	case PA_TLS_E_MBEDTLS: return "Mbed TLS refused the configuration";
	case PA_TLS_E_RPK_KEY: return "the installed raw public key is not the public half of any key on this device";
	case PA_TLS_E_RPK: return "raw public keys (RFC 7250) are not supported by Mbed TLS 2.28 (docs/tls.md)";
	default: return "unknown error";
	}
}

static int has_entry(const pa_agent *a, uint32_t slot, unsigned type)
{
	unsigned i;

	if (a->installed.gen == PA_GEN_NONE)
		return 0;
	for (i = 0; i < a->installed.n; i++)
		if (a->installed.e[i].slot == slot && a->installed.e[i].type == type)
			return 1;
	return 0;
}

/* pass 0: a slot with the device's own credential (certificate, key, PSK, raw
 * public key); pass 1: a slot with only something to check the server with
 * (server authentication only, e.g. an HTTPS client). */
static int is_tls_slot(const pa_agent *a, uint32_t slot, int pass)
{
	if (pass == 0)
		return has_entry(a, slot, PA_T_DEVICE_CERT) || has_entry(a, slot, PA_T_PRIVATE_KEY) ||
		       has_entry(a, slot, PA_T_PSK) || has_entry(a, slot, PA_T_OWN_RPK);
	return has_entry(a, slot, PA_T_TRUST_STORE) || has_entry(a, slot, PA_T_CA_CERTS);
}

int pa_tls_find_slot(const pa_agent *a, uint32_t *slot)
{
	unsigned i;
	int found = 0, pass;

	if (a == NULL || slot == NULL)
		return PA_TLS_E_ARGS;
	if (a->installed.gen == PA_GEN_NONE)
		return PA_TLS_E_NO_SLOT;
	/* slots with the device's credentials first; only a set without any is
	 * looked at for a server-authentication-only slot */
	for (pass = 0; pass < 2 && !found; pass++) {
		for (i = 0; i < a->installed.n; i++) {
			uint32_t s = a->installed.e[i].slot;

			if (!is_tls_slot(a, s, pass) || (found && s == *slot))
				continue;
			if (found)
				return PA_TLS_E_NO_SLOT;   /* several: the caller must name one */
			*slot = s;
			found = 1;
		}
	}
	return found ? PA_TLS_OK : PA_TLS_E_NO_SLOT;
}

/* DER certificates, concatenated, into chain (each one's length from its
 * outer SEQUENCE). */
static int parse_der_list(mbedtls_x509_crt *chain, const uint8_t *buf, size_t len)
{
	const uint8_t *p = buf, *end = buf + len;

	if (len == 0)
		return -1;
	while (p < end) {
		unsigned char *q = (unsigned char *)(uintptr_t)p;
		size_t n;

		if (mbedtls_asn1_get_tag(&q, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0)
			return -1;
		n += (size_t)(q - p);
		if (mbedtls_x509_crt_parse_der(chain, p, n) != 0)
			return -1;
		p += n;
	}
	return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int64_t x509_time_posix(const mbedtls_x509_time *t)
{
	return days_from_civil(t->year, (unsigned)t->mon, (unsigned)t->day) * 86400 +
	       (int64_t)t->hour * 3600 + t->min * 60 + t->sec;
}

/* Dates by the profile's clock (t->now; 0 = do not check), in place of Mbed
 * TLS's own check against the system clock; then the trust store's callback. */
static int verify_cb(void *p, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	pa_tls *t = p;

	*flags &= ~(uint32_t)DATE_FLAGS;
	if (t->now != 0) {
		if ((int64_t)t->now > x509_time_posix(&crt->valid_to))
			*flags |= MBEDTLS_X509_BADCERT_EXPIRED;
		if ((int64_t)t->now < x509_time_posix(&crt->valid_from))
			*flags |= MBEDTLS_X509_BADCERT_FUTURE;
	}
	if (t->trust == PA_TLS_TRUST_STORE)
		return pa_trust_mbedtls_verify_cb(&t->tm, crt, depth, flags);
	return 0;
}

/* EC public key of crt as 04 || x || y. */
static int crt_point(const mbedtls_x509_crt *crt, uint8_t *out, size_t cap, size_t *len)
{
	const mbedtls_ecp_keypair *ec;

	if (!mbedtls_pk_can_do(&crt->pk, MBEDTLS_PK_ECKEY))
		return -1;
	ec = mbedtls_pk_ec(crt->pk);
	return mbedtls_ecp_point_write_binary(&ec->grp, &ec->Q, MBEDTLS_ECP_PF_UNCOMPRESSED, len,
	                                      out, cap) == 0 ? 0 : -1;
}

/* The PSA key of the slot for signing: its private-key entry, else the
 * identity key (a certificate issued for the device's own key). */
static int slot_key(const pa_agent *a, uint32_t slot, psa_key_id_t *id)
{
	if (pa_lookup_key(a, slot, PA_T_PRIVATE_KEY, id) == PA_OK)
		return 0;
	*id = PA_KEY_ID_DEVICE;
	return 0;
}

static int setup_cert(pa_tls *t, int *detail)
{
	uint8_t pub[PSA_EXPORT_PUBLIC_KEY_MAX_SIZE], cpub[133];
	size_t len = 0, plen = 0, clen = 0;
	int rc;

	rc = pa_lookup_data(t->agent, t->slot, PA_T_DEVICE_CERT, t->buf, t->buf_cap, &len);
	if (rc != PA_OK) {
		*detail = rc;
		return PA_TLS_E_STORE;
	}
	if (parse_der_list(&t->own_chain, t->buf, len) != 0)
		return PA_TLS_E_CERT;
	slot_key(t->agent, t->slot, &t->key_id);
	/* the key must be the certificate's: compare PSA's public half */
	if (psa_export_public_key(t->key_id, pub, sizeof(pub), &plen) != PSA_SUCCESS ||
	    crt_point(&t->own_chain, cpub, sizeof(cpub), &clen) != 0 || clen != plen ||
	    memcmp(pub, cpub, plen) != 0)
		return PA_TLS_E_KEY;
	rc = mbedtls_pk_setup_opaque(&t->own_key, t->key_id);
	if (rc != 0) {
		*detail = rc;
		return PA_TLS_E_KEY;
	}
	rc = mbedtls_ssl_conf_own_cert(&t->conf, &t->own_chain, &t->own_key);
	if (rc != 0) {
		*detail = rc;
		return PA_TLS_E_MBEDTLS;
	}
	return PA_TLS_OK;
}

static int setup_psk(pa_tls *t, int *detail)
{
	int rc;

	if (pa_lookup_key(t->agent, t->slot, PA_T_PSK, &t->key_id) != PA_OK)
		return PA_TLS_E_STORE;
	rc = pa_lookup_data(t->agent, t->slot, PA_T_PSK, t->psk_identity, sizeof(t->psk_identity),
	                    &t->psk_identity_len);
	if (rc != PA_OK) {
		*detail = rc;
		return PA_TLS_E_STORE;
	}
	rc = mbedtls_ssl_conf_psk_opaque(&t->conf, t->key_id, t->psk_identity, t->psk_identity_len);
	if (rc != 0) {
		*detail = rc;
		return PA_TLS_E_MBEDTLS;
	}
	return PA_TLS_OK;
}

/* The slot holding entry type, this slot first. */
static int find_trust_slot(const pa_agent *a, uint32_t slot, unsigned type, uint32_t *out)
{
	unsigned i;

	if (has_entry(a, slot, type)) {
		*out = slot;
		return 1;
	}
	for (i = 0; i < a->installed.n; i++)
		if (a->installed.e[i].type == type) {
			*out = a->installed.e[i].slot;
			return 1;
		}
	return 0;
}

static int setup_trust(pa_tls *t, int *detail)
{
	size_t len = 0;
	int rc;

	if (find_trust_slot(t->agent, t->slot, PA_T_TRUST_STORE, &t->trust_slot)) {
		/* (after the device certificate: the work buffer is the store's now) */
		rc = pa_lookup_data(t->agent, t->trust_slot, PA_T_TRUST_STORE, t->buf, t->buf_cap,
		                    &len);
		if (rc != PA_OK) {
			*detail = rc;
			return PA_TLS_E_STORE;
		}
		rc = pa_trust_open(&t->store, t->buf, len);
		if (rc != PA_TRUST_OK) {
			*detail = rc;
			return PA_TLS_E_TRUST_STORE;
		}
		pa_trust_mbedtls_init(&t->tm, &t->store);
		pa_trust_mbedtls_set_time(&t->tm, t->now);
		pa_trust_mbedtls_conf(&t->tm, &t->conf);
		t->trust = PA_TLS_TRUST_STORE;
	} else if (find_trust_slot(t->agent, t->slot, PA_T_CA_CERTS, &t->trust_slot)) {
		rc = pa_lookup_data(t->agent, t->trust_slot, PA_T_CA_CERTS, t->buf, t->buf_cap, &len);
		if (rc != PA_OK) {
			*detail = rc;
			return PA_TLS_E_STORE;
		}
		if (parse_der_list(&t->ca, t->buf, len) != 0)
			return PA_TLS_E_CERT;
		mbedtls_ssl_conf_ca_chain(&t->conf, &t->ca, NULL);
		mbedtls_ssl_conf_authmode(&t->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
		t->trust = PA_TLS_TRUST_CA;
	} else {
		return t->mode == PA_TLS_MODE_PSK ? PA_TLS_OK : PA_TLS_E_NO_TRUST;
	}
	/* ours wraps the trust store's callback: the profile's clock first */
	mbedtls_ssl_conf_verify(&t->conf, verify_cb, t);
	return PA_TLS_OK;
}

/* The curves offered, secp256r1 first (RFC 7925 4.4.3, 4.4.4).  Mbed TLS's
 * default list is largest first, and a server that follows the client's
 * order (OpenSSL's default) then runs ECDHE on P-521: on the Cortex-M4 about
 * three times the instructions and more RAM (docs/benchmarks.md).  The others
 * stay for servers whose certificates use them (Mbed TLS checks a server key's
 * curve against this list too). */
static const mbedtls_ecp_group_id curves[] = {
	MBEDTLS_ECP_DP_SECP256R1,
#if defined(MBEDTLS_ECP_DP_SECP384R1_ENABLED)
	MBEDTLS_ECP_DP_SECP384R1,
#endif
#if defined(MBEDTLS_ECP_DP_SECP521R1_ENABLED)
	MBEDTLS_ECP_DP_SECP521R1,
#endif
	MBEDTLS_ECP_DP_NONE
};

static unsigned char mfl_code(uint16_t len)
{
	switch (len) {
	case 512: return MBEDTLS_SSL_MAX_FRAG_LEN_512;
	case 1024: return MBEDTLS_SSL_MAX_FRAG_LEN_1024;
	case 2048: return MBEDTLS_SSL_MAX_FRAG_LEN_2048;
	case 4096: return MBEDTLS_SSL_MAX_FRAG_LEN_4096;
	default: return MBEDTLS_SSL_MAX_FRAG_LEN_NONE;
	}
}

static int setup_profile(pa_tls *t, int *detail)
{
	const pa_tls_profile *p = &t->prof;
	int tls12 = 0, rc;
	unsigned i;

	/* versions: Mbed TLS 2.28 speaks (D)TLS 1.2 only; 1.3 in a list is skipped */
	if (p->present & (1u << 2)) {
		for (i = 0; i < p->n_versions; i++)
			tls12 |= p->versions[i] == TLS12;
		if (!tls12)
			return PA_TLS_E_PROFILE;
	}
	mbedtls_ssl_conf_min_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(&t->conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);

	/* cipher suites, in the profile's order, those this build has and the
	 * slot's key exchange can use */
	t->n_suites = 0;
	for (i = 0; (p->present & (1u << 3)) && i < p->n_suites; i++) {
		const mbedtls_ssl_ciphersuite_t *cs = mbedtls_ssl_ciphersuite_from_id(p->suites[i]);
		int psk;

		if (cs == NULL || cs->min_minor_ver > MBEDTLS_SSL_MINOR_VERSION_3 ||
		    cs->max_minor_ver < MBEDTLS_SSL_MINOR_VERSION_3)
			continue;
		psk = cs->key_exchange == MBEDTLS_KEY_EXCHANGE_PSK;
		if (psk != (t->mode == PA_TLS_MODE_PSK))
			continue;
		if (!psk && cs->key_exchange != MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA)
			continue;
		t->ciphersuites[t->n_suites++] = cs->id;
	}
	if ((p->present & (1u << 3)) && t->n_suites == 0)
		return PA_TLS_E_PROFILE;
	t->ciphersuites[t->n_suites] = 0;
	if (t->n_suites > 0)
		mbedtls_ssl_conf_ciphersuites(&t->conf, t->ciphersuites);
	mbedtls_ssl_conf_curves(&t->conf, curves);

	/* max fragment length; a record size limit (RFC 8449, not in Mbed TLS
	 * 2.28) becomes the largest fragment length that fits under it */
	t->mfl = 0;
	if (p->present & (1u << 5)) {
		t->mfl = p->max_fragment_len;
	} else if (p->present & (1u << 4)) {
		uint16_t l;

		for (l = 4096; l >= 512 && t->mfl == 0; l /= 2)
			if (p->record_size_limit >= l)
				t->mfl = l;
	}
	if (t->mfl != 0) {
		rc = mbedtls_ssl_conf_max_frag_len(&t->conf, mfl_code(t->mfl));
		if (rc != 0) {
			*detail = rc;
			return PA_TLS_E_PROFILE;
		}
	}

	/* resumption: session tickets only where the profile allows it */
	mbedtls_ssl_conf_session_tickets(&t->conf, (p->present & (1u << 6)) && p->resumption
	                                 ? MBEDTLS_SSL_SESSION_TICKETS_ENABLED
	                                 : MBEDTLS_SSL_SESSION_TICKETS_DISABLED);
	return PA_TLS_OK;
}

int pa_tls_setup(pa_tls *t, const pa_agent *a, uint32_t slot, uint8_t *buf, size_t cap,
                 int (*rng)(void *, unsigned char *, size_t), void *p_rng, uint64_t now,
                 int *detail)
{
	int rc, dummy = 0, transport;

	if (detail == NULL)
		detail = &dummy;
	*detail = 0;
	if (t == NULL || a == NULL || rng == NULL || buf == NULL)
		return PA_TLS_E_ARGS;
	memset(t, 0, sizeof(*t));
	t->agent = a;
	t->slot = slot;
	t->buf = buf;
	t->buf_cap = cap;
	mbedtls_ssl_config_init(&t->conf);
	mbedtls_x509_crt_init(&t->own_chain);
	mbedtls_pk_init(&t->own_key);
	mbedtls_x509_crt_init(&t->ca);
	pa_trust_mbedtls_init(&t->tm, NULL);

	if (has_entry(a, slot, PA_T_DEVICE_CERT))
		t->mode = PA_TLS_MODE_CERT;
	else if (has_entry(a, slot, PA_T_PSK))
		t->mode = PA_TLS_MODE_PSK;
	else if (has_entry(a, slot, PA_T_OWN_RPK)) {
		rc = PA_TLS_E_RPK;
		goto fail;
	} else if (is_tls_slot(a, slot, 1)) {
		t->mode = PA_TLS_MODE_NONE;   /* server authentication only */
	} else {
		rc = PA_TLS_E_NO_SLOT;
		goto fail;
	}
	if (pa_lookup_profile(a, slot, &t->prof) != PA_OK) {
		rc = PA_TLS_E_NO_PROFILE;
		goto fail;
	}
	/* time policy: full = the clock; skip = no date checks; floor = never
	 * earlier than the floor (a device whose clock reset to 1970 still checks) */
	switch ((t->prof.present & (1u << 8)) ? t->prof.time_check : TIME_FULL) {
	case TIME_SKIP:
		t->now = 0;
		break;
	case TIME_FLOOR:
		t->now = now > t->prof.time_floor ? now : t->prof.time_floor;
		break;
	default:
		t->now = now;
		break;
	}
	transport = (t->prof.present & (1u << 1)) && t->prof.transport == 1
	            ? MBEDTLS_SSL_TRANSPORT_DATAGRAM : MBEDTLS_SSL_TRANSPORT_STREAM;
	rc = mbedtls_ssl_config_defaults(&t->conf, MBEDTLS_SSL_IS_CLIENT, transport,
	                                 MBEDTLS_SSL_PRESET_DEFAULT);
	if (rc != 0) {
		*detail = rc;
		rc = PA_TLS_E_MBEDTLS;
		goto fail;
	}
	mbedtls_ssl_conf_rng(&t->conf, rng, p_rng);
	rc = t->mode == PA_TLS_MODE_CERT ? setup_cert(t, detail) :
	     t->mode == PA_TLS_MODE_PSK ? setup_psk(t, detail) : PA_TLS_OK;
	if (rc == PA_TLS_OK)
		rc = setup_trust(t, detail);
	if (rc == PA_TLS_OK)
		rc = setup_profile(t, detail);
	if (rc == PA_TLS_OK)
		return PA_TLS_OK;
fail:
	pa_tls_free(t);
	return rc;
}

int pa_tls_set_hostname(const pa_tls *t, mbedtls_ssl_context *ssl)
{
	if (t->prof.present & (1u << 10))
		return mbedtls_ssl_set_hostname(ssl, t->prof.server_name);
	return 0;
}

void pa_tls_free(pa_tls *t)
{
	if (t == NULL)
		return;
	mbedtls_ssl_config_free(&t->conf);
	mbedtls_x509_crt_free(&t->own_chain);
	mbedtls_pk_free(&t->own_key);   /* the PSA key itself stays */
	mbedtls_x509_crt_free(&t->ca);
	pa_trust_mbedtls_free(&t->tm);
	mbedtls_platform_zeroize(t->psk_identity, sizeof(t->psk_identity));
	t->buf = NULL;
	t->buf_cap = 0;
}

int pa_tls_key_spki(const pa_agent *a, uint32_t slot, uint8_t *buf, size_t cap, size_t *len)
{
	mbedtls_pk_context pk;
	psa_key_id_t id;
	int n;

	if (a == NULL || buf == NULL || len == NULL)
		return PA_TLS_E_ARGS;
	slot_key(a, slot, &id);
	mbedtls_pk_init(&pk);
	if (mbedtls_pk_setup_opaque(&pk, id) != 0) {
		mbedtls_pk_free(&pk);
		return PA_TLS_E_KEY;
	}
	n = mbedtls_pk_write_pubkey_der(&pk, buf, cap);   /* written at the end of buf */
	mbedtls_pk_free(&pk);
	if (n <= 0)
		return PA_TLS_E_KEY;
	memmove(buf, buf + cap - (size_t)n, (size_t)n);
	*len = (size_t)n;
	/* a raw-public-key slot: the key must be the one its own-rpk entry names
	 * (else the device would prove a key the server does not pin) */
	if (has_entry(a, slot, PA_T_OWN_RPK)) {
		static uint8_t rpk[256];
		size_t rlen = 0;

		if (pa_lookup_data(a, slot, PA_T_OWN_RPK, rpk, sizeof(rpk), &rlen) != PA_OK ||
		    rlen != *len || memcmp(rpk, buf, rlen) != 0)
			return PA_TLS_E_RPK_KEY;
	}
	return PA_TLS_OK;
}

int pa_tls_key_sign(const pa_agent *a, uint32_t slot, const uint8_t *msg, size_t msg_len,
                    uint8_t *sig, size_t cap, size_t *sig_len,
                    int (*rng)(void *, unsigned char *, size_t), void *p_rng)
{
	mbedtls_pk_context pk;
	unsigned char hash[32];
	psa_key_id_t id;
	int rc;

	if (a == NULL || sig == NULL || sig_len == NULL || (msg == NULL && msg_len > 0))
		return PA_TLS_E_ARGS;
	slot_key(a, slot, &id);
	if (mbedtls_sha256_ret(msg, msg_len, hash, 0) != 0)
		return PA_TLS_E_MBEDTLS;
	mbedtls_pk_init(&pk);
	rc = mbedtls_pk_setup_opaque(&pk, id);
	if (rc == 0 && cap < MBEDTLS_PK_SIGNATURE_MAX_SIZE)
		rc = -1;
	if (rc == 0)
		rc = mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, sizeof(hash), sig, sig_len, rng, p_rng);
	mbedtls_pk_free(&pk);
	return rc == 0 ? PA_TLS_OK : PA_TLS_E_KEY;
}
