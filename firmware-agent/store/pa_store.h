/*
 * pa_store.h - where a verified bundle is stored (internal).
 *
 * Two generations of records (storage uids PA_UID_SET(gen, n)) and of PSA
 * persistent keys (PA_KEY_ID_SET(gen, i)); one commit record (PA_UID_COMMIT:
 * generation, counter, manifest digest, then the install's receipt) says which
 * generation is current, so set and receipt change together.  A
 * new set is written into the other generation and becomes current only when
 * the commit record is replaced, which the port does atomically.  Recovery at
 * start removes whatever the non-current generation holds.  docs/agent.md has
 * the record layouts.
 */
#ifndef PA_STORE_H
#define PA_STORE_H

#include "pa/pa_agent.h"

/* Read the commit record and the current index into a->installed, then remove
 * leftovers of the other generation (not for a read-only agent: no signers).
 * Nothing is ever removed from a generation the commit record on storage names
 * when the removal starts (PA_S_CHANGED instead; pa_store.c, clean). */
int pa_store_recover(pa_agent *a);
/* Install a->m (already verified; secrets decrypted) as the new current set,
 * or, for a wipe, commit "no set" with the new counter; the commit record
 * carries receipt (receipt_len <= PA_RECEIPT_MAX bytes, signed before).  On an error before
 * the commit, storage is rolled back to the old set (best effort; recovery at
 * the next start finishes it). */
int pa_store_install(pa_agent *a, const uint8_t digest[32], const uint8_t *receipt,
                      size_t receipt_len);

#endif
