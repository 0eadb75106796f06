/*
 * pa_status.h - the numbers the agent answers with, in one place for both sides
 * of the wire: its result codes (every pa_* function, agent-sim's exit status,
 * the rc of an SMP error answer in the provisioning group) and the SMP group,
 * command and MCUmgr error numbers it serves (docs/serial-protocol.md).
 *
 * C99 with no other dependency (no PSA, no configuration): the host library
 * includes this header to read the device's answers (libprov/src/serial/), so a
 * code has one definition.  The agent never includes anything of libprov.
 * Every code is documented in docs/agent.md ("Error codes").
 */
#ifndef PA_STATUS_H
#define PA_STATUS_H

#define PA_OK 0

/* Bundle verification (verify/), in the order the checks run. */
typedef enum pa_verify_err {
	PA_V_TOO_LARGE = 10,        /* more than PA_BUNDLE_MAX bytes */
	PA_V_TRUNCATED = 11,        /* the COSE_Sign1 ends early */
	PA_V_MALFORMED = 12,        /* not a tagged COSE_Sign1 in valid CBOR */
	PA_V_BAD_HEADER = 13,       /* headers other than {1: -7, 4: kid} / {} */
	PA_V_UNKNOWN_SIGNER = 14,   /* kid names no trusted signer */
	PA_V_BAD_SIGNATURE = 15,    /* ES256 signature does not verify */
	PA_V_BAD_PAYLOAD = 16,      /* signed payload is not a bundle.cddl payload */
	PA_V_VERSION = 17,          /* unknown format version */
	PA_V_WRONG_DEVICE = 18,     /* for another device */
	PA_V_REPLAY = 19,           /* counter equal to the installed one */
	PA_V_ROLLBACK = 20,         /* counter below the installed one */
	PA_V_NONCE = 21,            /* nonce missing or not the session's */
	PA_V_BAD_ENTRY = 22,        /* an entry breaks bundle.cddl */
	PA_V_LIMIT = 23,            /* more entries or bytes than this build holds */
	PA_V_UNSUPPORTED = 24,      /* a key algorithm this device cannot import */
	PA_V_BAD_SECRETS = 25,      /* secrets container malformed */
	PA_V_WRONG_RECIPIENT = 26,  /* secrets encrypted to another key (kid) */
	PA_V_DECRYPT = 27,          /* secrets do not authenticate */
	PA_V_PLAINTEXT = 28,        /* plaintext secrets (lab bundle) refused */
	PA_V_BAD_KEY = 29,          /* a secret is not a valid key of its type */
	PA_V_CRYPTO = 30            /* a PSA operation failed unexpectedly */
} pa_verify_err;

/* Storage and keys (store/). */
typedef enum pa_store_err {
	PA_S_IO = 40,               /* storage refused a read or write */
	PA_S_CORRUPT = 41,          /* committed records are not readable as ours */
	PA_S_KEY = 42,              /* PSA refused a persistent key operation */
	PA_S_POWER = 43,            /* the port reported a power cut (host tests) */
	PA_S_NOT_FOUND = 44,        /* lookup: no such (slot, type) or no data */
	PA_S_BUFFER = 45,           /* lookup: caller buffer too small */
	PA_S_CHANGED = 46           /* the commit record names the generation the agent
	                               was about to remove: another writer committed
	                               since it read storage; nothing removed */
} pa_store_err;

/* Receipts (receipt/). */
typedef enum pa_receipt_err {
	PA_R_BUFFER = 50,           /* receipt buffer smaller than the receipt */
	PA_R_SIGN = 51              /* signing with the device key failed */
} pa_receipt_err;

/* The agent itself (core/). */
typedef enum pa_agent_err {
	PA_A_ARGS = 60,             /* invalid argument (NULL, bad length) */
	PA_A_PSA = 61,              /* psa_crypto_init failed */
	PA_A_IDENTITY = 62,         /* device ID or identity key unusable */
	PA_A_STATE = 63             /* call out of order (e.g. finish before start) */
} pa_agent_err;

/* SMP over the console (smp/, docs/serial-protocol.md): the groups and commands
 * the agent serves, and the MCUmgr MGMT_ERR codes it answers in the OS group and
 * to a request it does not know. */
#define PA_SMP_GROUP_OS 0
#define PA_SMP_OS_ECHO 0
#define PA_SMP_GROUP_PROV 80
enum { PA_SMP_INFO = 0, PA_SMP_KEYGEN = 1, PA_SMP_UPLOAD = 2, PA_SMP_COMMIT = 3,
       PA_SMP_STATUS = 4, PA_SMP_CONNECT = 5 };
#define PA_SMP_EINVAL 3             /* MGMT_ERR_EINVAL: a malformed request */
#define PA_SMP_ENOTSUP 8            /* MGMT_ERR_ENOTSUP: unknown group, command or op */

#endif
