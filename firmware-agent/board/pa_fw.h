/*
 * pa_fw.h - the provisioning firmware's own pieces, shared by its files
 * (board-independent; docs/firmware.md).
 */
#ifndef PA_FW_H
#define PA_FW_H

#include <stddef.h>
#include <stdint.h>

#include "pa/pa_agent.h"

/* pa_fw_signers.c: the trusted bundle signers, compiled in (SIGNER_H). */
extern const pa_signer pa_fw_signers[];
extern const size_t pa_fw_n_signers;

/* pa_fw_measure.c: board ticks spent in the PSA operations a provisioning
 * costs, summed since the last pa_fw_measure_reset.  The image links the
 * agent with -Wl,--wrap for these functions, so the agent's calls (and only
 * those) are timed. */
enum pa_fw_op {
	PA_FW_VERIFY,        /* psa_verify_hash: the bundle's signature */
	PA_FW_ECDH,          /* psa_key_derivation_key_agreement: the secrets' ECDH */
	PA_FW_GENERATE,      /* psa_generate_key: identity and keygen keys */
	PA_FW_SIGN,          /* psa_sign_hash: CSR and receipt signatures */
	PA_FW_OPS
};
typedef struct pa_fw_measure {
	uint64_t ticks[PA_FW_OPS];
	uint32_t calls[PA_FW_OPS];
} pa_fw_measure;
extern pa_fw_measure pa_fw_measured;
void pa_fw_measure_reset(void);

/* pa_firmware.c: the Mbed TLS pool, its size and its high-water mark (bytes
 * ever touched since start: the allocator splits from the front). */
uint32_t pa_fw_pool_size(void);
uint32_t pa_fw_pool_used(void);

#endif
