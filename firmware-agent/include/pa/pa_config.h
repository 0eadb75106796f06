/*
 * pa_config.h - compile-time sizes and identifiers of the provisioning agent.
 *
 * Every buffer the agent uses is sized here, at compile time; a port may
 * override any value with -D.  Nothing is allocated at run time (see pa_agent.h).
 */
#ifndef PA_CONFIG_H
#define PA_CONFIG_H

/* Largest bundle accepted, in bytes: the size of the caller-owned bundle buffer
 * inside struct pa_agent.  A bundle that does not fit is PA_V_TOO_LARGE. */
#ifndef PA_BUNDLE_MAX
#define PA_BUNDLE_MAX 4096
#endif

/* Most credential entries in one bundle (schemas/bundle.cddl allows 16). */
#ifndef PA_ENTRIES_MAX
#define PA_ENTRIES_MAX 16
#endif

/* Secrets: at most PA_ENTRIES_MAX of at most 64 bytes each (bundle.cddl), so the
 * decrypted secret-list fits 3 + 16 * (2 + 64) bytes: the largest ciphertext
 * taken (less its tag; it is decrypted in place, in the bundle buffer). */
#define PA_SECRET_MAX 64
#define PA_SECRETS_BUF (3 + PA_ENTRIES_MAX * (2 + PA_SECRET_MAX))

/* Largest TLS profile map kept (a full bundle.cddl tls-profile is < 450). */
#define PA_PROFILE_MAX 512

/* A function whose large locals (crypto operation contexts) must not join its
 * caller's frame: a link-time optimiser inlines a function called once, and
 * its frame then stays on the stack under everything else the caller calls
 * (docs/firmware.md, "Size").  Empty for compilers without the attribute. */
#if defined(__GNUC__)
#define PA_NOINLINE __attribute__((noinline))
#else
#define PA_NOINLINE
#endif

/* Device ID: 1..64 bytes of [A-Za-z0-9._:-] (bundle.cddl). */
#define PA_DEVICE_ID_MAX 64
/* Session nonce: 8..32 bytes (bundle.cddl key 4). */
#define PA_NONCE_MIN 8
#define PA_NONCE_MAX 32

/* A receipt: COSE_Sign1 over at most 64 + 32 + 32 + 9 bytes of fields. */
#define PA_RECEIPT_MAX 256

/* Accept a lab bundle whose secrets travel in plaintext (prov bundle
 * --insecure-plaintext-secrets).  Off: such a bundle is PA_V_PLAINTEXT. */
#ifndef PA_ALLOW_PLAINTEXT_SECRETS
#define PA_ALLOW_PLAINTEXT_SECRETS 0
#endif

/* PSA persistent key IDs (user range 1..0x3fffffff).  The device identity key,
 * then two generations of credential keys: PA_KEY_ID_SET(gen, entry). */
#ifndef PA_KEY_ID_DEVICE
#define PA_KEY_ID_DEVICE 0x2a000001u
#endif
#ifndef PA_KEY_ID_SET_BASE
#define PA_KEY_ID_SET_BASE 0x2a000100u
#endif
#define PA_KEY_ID_SET(gen, i) (PA_KEY_ID_SET_BASE + (uint32_t)(gen) * 0x40u + (uint32_t)(i))
/* Keys made on the device (keygen, pa_agent_keygen): a pool of PA_KEYGEN_MAX
 * persistent key IDs beside the two generations; a key is pending until a
 * committed set adopts it (docs/agent.md, "Keys made on the device"). */
#ifndef PA_KEYGEN_MAX
#define PA_KEYGEN_MAX 4
#endif
#define PA_KEY_ID_KEYGEN(j) (PA_KEY_ID_SET_BASE + 0x80u + (uint32_t)(j))

/* Storage uids.  Above 2^32, so they never meet the uids PSA uses for its own
 * persistent keys (uid = key ID) when the port is the platform's ITS. */
#ifndef PA_UID_BASE
#define PA_UID_BASE 0x5041000000000000ull
#endif
#define PA_UID_COMMIT (PA_UID_BASE + 0x01u)
#define PA_UID_KEYGEN (PA_UID_BASE + 0x02u)   /* pending keygen keys: mask, slots */
#define PA_UID_RECEIPT (PA_UID_BASE + 0x03u)  /* smp/: SHA-256 of the bundle of the last commit */
#define PA_UID_REC_PROFILE 0x20u   /* the set's TLS profile */
#define PA_UID_REC_INDEX 0x21u     /* the set's index of entries */
#define PA_UID_RECS 0x22u          /* record numbers 0..PA_UID_RECS-1 per generation */
#define PA_UID_SET(gen, rec) (PA_UID_BASE + 0x1000u + (uint64_t)(gen) * 0x100u + (uint64_t)(rec))

#endif
