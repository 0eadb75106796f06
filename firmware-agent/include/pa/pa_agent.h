/*
 * pa_agent.h - the provisioning agent: verify a credential bundle and install it
 * atomically into PSA secure storage.
 *
 * Contract:
 * - No dynamic allocation.  The caller owns struct pa_agent (it holds the bundle
 *   buffer, PA_BUNDLE_MAX bytes, in which the secrets are decrypted in place
 *   while an install runs); every size is a compile-time macro in pa_config.h.  A link-time
 *   check keeps malloc, calloc, realloc and free out of the agent's objects.
 * - Crypto only through the PSA Crypto API; the caller need not initialise it
 *   (pa_agent_start calls psa_crypto_init, which is idempotent).
 * - One agent per storage; not thread-safe.  Only one agent that may write
 *   (started with signers) may run on a storage at a time: recovery removes what
 *   the current commit does not name.  Readers beside it open the storage
 *   read-only (pa_agent_open_readonly), which never writes.
 * - Bytes are pushed as they arrive (pa_install_push) and errors stick: the
 *   first error is what pa_install_finish reports.
 * - Fail closed: every function returns 0 (PA_OK) only on success; any other
 *   value is one of the codes of pa_status.h, and an install that fails leaves
 *   storage as it was.  The codes are unique across modules and documented, with
 *   the host simulator's exit statuses (the same numbers), in docs/agent.md.
 */
#ifndef PA_AGENT_H
#define PA_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include <psa/crypto.h>

#include "pa/pa_config.h"
#include "pa/pa_port.h"
#include "pa/pa_status.h"

/* Entry types, usage bits and key algorithms (schemas/bundle.cddl). */
enum pa_entry_type {
	PA_T_CA_CERTS = 1, PA_T_DEVICE_CERT = 2, PA_T_PRIVATE_KEY = 3, PA_T_PSK = 4,
	PA_T_OWN_RPK = 5, PA_T_PEER_RPK = 6, PA_T_TRUST_STORE = 7
};
#define PA_ALG_ES256 (-7)
#define PA_ALG_ES384 (-35)
#define PA_ALG_EDDSA (-8)

/* A trusted bundle signer: kid (first 8 bytes of SHA-256 over its DER
 * SubjectPublicKeyInfo) and P-256 public point 04 || x || y, exactly the two
 * arrays `prov signer export --format c` prints. */
typedef struct pa_signer {
	uint8_t kid[8];
	uint8_t pub[65];
} pa_signer;

/* The TLS profile of the installed set (bundle.cddl tls-profile); fields the
 * bundle omits have their bit clear in `present` (bit n = CDDL key n). */
typedef struct pa_tls_profile {
	uint16_t present;
	char protocol[17];          /* key 0, NUL-terminated */
	uint8_t transport;          /* key 1: 0 TLS, 1 DTLS */
	uint8_t n_versions;         /* key 2 */
	uint16_t versions[16];
	uint8_t n_suites;           /* key 3 */
	uint16_t suites[16];
	uint16_t record_size_limit; /* key 4 */
	uint16_t max_fragment_len;  /* key 5 */
	uint8_t resumption;         /* key 6 */
	uint8_t time_check;         /* key 8 */
	uint32_t ticket_lifetime;   /* key 7 */
	uint64_t time_floor;        /* key 9 */
	char server_name[254];      /* key 10, NUL-terminated */
} pa_tls_profile;

/* One installed entry, as the index record keeps it. */
typedef struct pa_slot_entry {
	uint32_t slot;
	uint8_t type;               /* enum pa_entry_type */
	uint8_t usage;              /* bit set: 1 sign, 2 derive, 4 trust, 8 present */
	int16_t alg;                /* COSE alg, 0 if none */
	uint32_t size;              /* bytes of public data (PSK: its identity) */
	psa_key_id_t key_id;        /* persistent PSA key, 0 if none */
} pa_slot_entry;

#define PA_GEN_NONE 0xffu

/* What is committed: the current generation and its index. */
typedef struct pa_installed {
	uint8_t gen;                /* 0 or 1, or PA_GEN_NONE (nothing / wiped) */
	uint64_t counter;           /* last installed bundle's counter, 0 if none */
	uint8_t digest[32];         /* SHA-256 of its payload (manifest digest) */
	uint8_t has_profile;
	uint8_t n;                  /* entries in e[] */
	pa_slot_entry e[PA_ENTRIES_MAX];
} pa_installed;

/* A validated, not yet installed entry: pointers into the bundle buffer. */
typedef struct pa_entry {
	uint32_t slot;
	uint8_t type;
	uint8_t usage;
	int16_t alg;
	const uint8_t *value;       /* public value, or NULL for a secret */
	size_t value_len;
	uint8_t secret;             /* secret index for private-key / psk */
	const uint8_t *ident;       /* PSK identity */
	size_t ident_len;
} pa_entry;

/* The parsed, validated payload (verify/pa_payload.c). */
typedef struct pa_manifest {
	uint64_t counter;
	const uint8_t *nonce;
	size_t nonce_len;
	uint8_t wipe;
	uint8_t n;
	uint8_t n_secrets;
	pa_entry e[PA_ENTRIES_MAX];
	const uint8_t *profile;     /* the tls-profile map's bytes */
	size_t profile_len;
	const uint8_t *secrets;     /* payload key 8's item */
	size_t secrets_len;
	const uint8_t *secret[PA_ENTRIES_MAX];   /* after decryption: into pa_agent.bundle */
	uint8_t secret_len[PA_ENTRIES_MAX];
} pa_manifest;

/* Caller-owned context.  Fields are read-only for the caller except through
 * the functions below; `installed` may be read for status reports. */
typedef struct pa_agent {
	const pa_port *port;
	const pa_signer *signers;
	size_t n_signers;
	char device_id[PA_DEVICE_ID_MAX + 1];
	size_t device_id_len;
	uint8_t pub[65];            /* device identity public key */
	uint8_t kid[8];             /* its kid: SHA-256(DER SPKI)[0..8] */
	uint8_t nonce[PA_NONCE_MAX];
	size_t nonce_len;           /* 0: no session nonce */
	int started;
	int push_err;
	size_t bundle_len;
	pa_installed installed;
	/* Keys made on the device (keygen/, optional): NULL unless pa_keygen_start
	 * ran.  The install calls it with committed = 0 after writing a->m's
	 * entries into next, before the index and the commit (it appends the
	 * private-key entries of the keys the set adopts: PA_OK or an error), and
	 * with committed = 1 once the commit is done. */
	int (*kg_hook)(struct pa_agent *a, int committed, pa_installed *next);
	uint8_t kg_used;            /* bit j: pool key PA_KEY_ID_KEYGEN(j) is pending */
	uint32_t kg_slot[PA_KEYGEN_MAX];   /* its slot */
	pa_manifest m;
	uint8_t bundle[PA_BUNDLE_MAX];   /* also the decrypted secrets, during an install */
} pa_agent;

/* Start: read the device ID, create the identity key on first start (P-256
 * inside PSA, persistent, not exportable; its public half is), recover storage
 * to the last committed generation and remove leftovers of the other one.
 * `signers` (n >= 1) must outlive the agent.
 *
 * With no signers (NULL, 0) the agent is read-only, the same start without a
 * single write: the identity key must exist already (PA_A_IDENTITY if not), the
 * committed set is read but nothing is recovered or removed, and it can never
 * install (no bundle has a trusted signer: PA_V_UNKNOWN_SIGNER before anything
 * is read or written).  Lookups work as usual.  This is how a second reader
 * (a status display beside the agent that writes) opens the same storage. */
int pa_agent_start(pa_agent *a, const pa_port *port, const pa_signer *signers, size_t n);

static inline int pa_agent_open_readonly(pa_agent *a, const pa_port *port)
{
	return pa_agent_start(a, port, NULL, 0);
}

/* The identity public key, 04 || x || y (65 bytes), and its kid (8 bytes). */
int pa_agent_public_key(const pa_agent *a, uint8_t pub[65], uint8_t kid[8]);

/* DER SubjectPublicKeyInfo of a P-256 point (RFC 5480), PA_SPKI_LEN bytes. */
#define PA_SPKI_LEN 91
void pa_spki_p256(const uint8_t pub[65], uint8_t spki[PA_SPKI_LEN]);

/* Session nonce: set one (PA_NONCE_MIN..PA_NONCE_MAX bytes) that the next
 * bundle must carry; new_nonce draws a fresh one from the port (len bytes);
 * len 0 clears.  A successful install clears it. */
int pa_agent_set_nonce(pa_agent *a, const uint8_t *nonce, size_t len);
int pa_agent_new_nonce(pa_agent *a, size_t len);

/* Install: begin, push the bundle's bytes in any chunks, finish.  finish
 * verifies everything before storing anything, signs the receipt (COSE_Sign1
 * by the device key, docs/agent.md) into receipt (required; cap >=
 * PA_RECEIPT_MAX recommended), then installs atomically: the commit record
 * carries the receipt, so the set and its receipt are committed together.
 * *receipt_len is non-zero only if the install committed.  Secrets are wiped
 * from the context on return. */
void pa_install_begin(pa_agent *a);
int pa_install_push(pa_agent *a, const uint8_t *buf, size_t len);
int pa_install_finish(pa_agent *a, uint8_t *receipt, size_t cap, size_t *receipt_len);

/* Lookups for the TLS layer on the committed set.
 * - key: the persistent PSA key ID of (slot, type) for private-key and psk.
 * - data: public data copied into buf (storage is not memory-mapped): the value
 *   of a ca-certs / device-cert / rpk / trust-store entry, or a psk's identity.
 * - profile: the set's TLS profile, if (slot) holds any entry. */
int pa_lookup_key(const pa_agent *a, uint32_t slot, unsigned type, psa_key_id_t *id);
int pa_lookup_data(const pa_agent *a, uint32_t slot, unsigned type, uint8_t *buf,
                   size_t cap, size_t *len);
int pa_lookup_profile(const pa_agent *a, uint32_t slot, pa_tls_profile *p);

#endif
