/*
 * pa_its_log.h - inside the flash store: the log (pa_its_flash.c) as the PSA
 * ITS functions (psa_its.c) and the port adapter (pa_its_port.c) call it.
 * Arguments are checked by the callers (uid != 0, pointers, flag bits); every
 * function returns a PSA status (pa/pa_its.h says which).
 */
#ifndef PA_ITS_LOG_H
#define PA_ITS_LOG_H

#include "pa/pa_its.h"

/* The flags a record may carry (its/psa/internal_trusted_storage.h). */
#define PA_ITS_FLAGS_KNOWN (PSA_STORAGE_FLAG_WRITE_ONCE | PSA_STORAGE_FLAG_NO_CONFIDENTIALITY | \
                            PSA_STORAGE_FLAG_NO_REPLAY_PROTECTION)

psa_status_t pa_its_log_set(uint64_t uid, const uint8_t *data, uint32_t len, uint32_t flags);
/* Copy len bytes from offset off of uid's data into out. */
psa_status_t pa_its_log_get(uint64_t uid, uint32_t off, uint32_t len, uint8_t *out);
psa_status_t pa_its_log_info(uint64_t uid, uint32_t *size, uint32_t *flags);
psa_status_t pa_its_log_remove(uint64_t uid);

#endif
