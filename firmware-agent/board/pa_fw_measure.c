/*
 * pa_fw_measure.c - time the PSA operations the agent calls (see pa_fw.h).
 *
 * Link-time wrappers (-Wl,--wrap=psa_verify_hash and the others): the
 * agent's reference to psa_X resolves to __wrap_psa_X here, which reads the
 * board's tick counter around the real __real_psa_X.  The provisioning
 * image, linked with LTO (which resolves calls before --wrap would apply),
 * renames instead at compile time: its callers are built with
 * -Dpsa_X=__wrap_psa_X and this file with -D__real_psa_X=psa_X
 * (firmware-agent/Makefile, FW_RENAME and FW_UNWRAP).  Under QEMU's -icount
 * the counter follows executed instructions (docs/firmware.md), so the sums
 * are instruction counts up to the counter's granularity.
 */
#include <psa/crypto.h>

#include "board/pa_fw.h"
#include "pa/pa_board.h"

pa_fw_measure pa_fw_measured;

void pa_fw_measure_reset(void)
{
	unsigned i;

	for (i = 0; i < PA_FW_OPS; i++) {
		pa_fw_measured.ticks[i] = 0;
		pa_fw_measured.calls[i] = 0;
	}
}

static void add(enum pa_fw_op op, uint64_t t0)
{
	pa_fw_measured.ticks[op] += pa_board_ticks() - t0;
	pa_fw_measured.calls[op]++;
}

psa_status_t __real_psa_verify_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash,
                                    size_t hash_length, const uint8_t *signature,
                                    size_t signature_length);
psa_status_t __wrap_psa_verify_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash,
                                    size_t hash_length, const uint8_t *signature,
                                    size_t signature_length);
psa_status_t __wrap_psa_verify_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash,
                                    size_t hash_length, const uint8_t *signature,
                                    size_t signature_length)
{
	uint64_t t0 = pa_board_ticks();
	psa_status_t st = __real_psa_verify_hash(key, alg, hash, hash_length, signature,
	                                         signature_length);

	add(PA_FW_VERIFY, t0);
	return st;
}

psa_status_t __real_psa_key_derivation_key_agreement(psa_key_derivation_operation_t *op,
                                                     psa_key_derivation_step_t step,
                                                     psa_key_id_t private_key,
                                                     const uint8_t *peer_key,
                                                     size_t peer_key_length);
psa_status_t __wrap_psa_key_derivation_key_agreement(psa_key_derivation_operation_t *op,
                                                     psa_key_derivation_step_t step,
                                                     psa_key_id_t private_key,
                                                     const uint8_t *peer_key,
                                                     size_t peer_key_length);
psa_status_t __wrap_psa_key_derivation_key_agreement(psa_key_derivation_operation_t *op,
                                                     psa_key_derivation_step_t step,
                                                     psa_key_id_t private_key,
                                                     const uint8_t *peer_key,
                                                     size_t peer_key_length)
{
	uint64_t t0 = pa_board_ticks();
	psa_status_t st = __real_psa_key_derivation_key_agreement(op, step, private_key, peer_key,
	                                                          peer_key_length);

	add(PA_FW_ECDH, t0);
	return st;
}

psa_status_t __real_psa_generate_key(const psa_key_attributes_t *attributes, psa_key_id_t *key);
psa_status_t __wrap_psa_generate_key(const psa_key_attributes_t *attributes, psa_key_id_t *key);
psa_status_t __wrap_psa_generate_key(const psa_key_attributes_t *attributes, psa_key_id_t *key)
{
	uint64_t t0 = pa_board_ticks();
	psa_status_t st = __real_psa_generate_key(attributes, key);

	add(PA_FW_GENERATE, t0);
	return st;
}

psa_status_t __real_psa_sign_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash,
                                  size_t hash_length, uint8_t *signature,
                                  size_t signature_size, size_t *signature_length);
psa_status_t __wrap_psa_sign_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash,
                                  size_t hash_length, uint8_t *signature,
                                  size_t signature_size, size_t *signature_length);
psa_status_t __wrap_psa_sign_hash(psa_key_id_t key, psa_algorithm_t alg, const uint8_t *hash,
                                  size_t hash_length, uint8_t *signature,
                                  size_t signature_size, size_t *signature_length)
{
	uint64_t t0 = pa_board_ticks();
	psa_status_t st = __real_psa_sign_hash(key, alg, hash, hash_length, signature,
	                                       signature_size, signature_length);

	add(PA_FW_SIGN, t0);
	return st;
}
