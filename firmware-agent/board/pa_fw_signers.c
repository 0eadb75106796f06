/*
 * pa_fw_signers.c - the bundle signers the image trusts: compiled in from the
 * factory's `prov signer export --format c` header (make firmware
 * SIGNER_H=FILE copies it to signer.h beside this object).  The only root of
 * trust for bundles; nothing the host sends at run time can add to it.
 */
#include "board/pa_fw.h"
#include "signer.h"

/* the header's sizes are the agent's (a mismatch fails the build) */
typedef char pa_fw_kid_len_is_8[PROV_SIGNER_KID_LEN == 8 ? 1 : -1];
typedef char pa_fw_pub_len_is_65[PROV_SIGNER_PUBKEY_LEN == 65 ? 1 : -1];

const pa_signer pa_fw_signers[] = { { PROV_SIGNER_KID, PROV_SIGNER_PUBKEY } };
const size_t pa_fw_n_signers = sizeof(pa_fw_signers) / sizeof(pa_fw_signers[0]);
