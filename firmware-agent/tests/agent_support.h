/*
 * agent_support.h - helpers shared by the agent's host tests: storage
 * snapshots (every file of the device directory, to prove "storage
 * unchanged" and "exactly the old or the new set"), running prov, keys.
 */
#ifndef PA_TEST_SUPPORT_H
#define PA_TEST_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "pa/pa_agent.h"

#define SNAP_MAX 128

typedef struct snap {
	size_t n;
	char name[SNAP_MAX][64];
	uint8_t *data[SNAP_MAX];
	size_t len[SNAP_MAX];
} snap;

/* Every file of dir (names not starting with '.').  0; if the directory or a
 * file cannot be read the test exits (status 2, a FAIL line): an empty
 * snapshot would make "unchanged" checks pass. */
int snap_take(const char *dir, snap *s);
void snap_free(snap *s);
int snap_equal(const snap *a, const snap *b);
/* Make dir hold exactly the files of s.  0; exits the test as snap_take does
 * if it cannot. */
int snap_restore(const char *dir, const snap *s);

/* system() of a formatted shell command; its exit status (-1 if it died). */
int run(const char *fmt, ...);
int load_file(const char *path, uint8_t **buf, size_t *len);
int signer_from_pem(const char *path, pa_signer *s);
int write_pub_pem(const char *path, const uint8_t pub[65]);
/* r (n bytes) is a receipt that verifies with the P-256 key pub (libprov's
 * OpenSSL COSE code, not the agent's) and names counter and digest: 1, else 0. */
int receipt_names(const uint8_t *r, size_t n, const uint8_t pub[65], uint64_t counter,
                  const uint8_t digest[32]);
/* A test's work directory (mkdtemp of tmpl, "/tmp/pa-...-XXXXXX", rewritten in
 * place) holding a device directory "dev" whose device ID is "X"; devdir gets
 * its path.  0 on success. */
int make_device_dir(char *tmpl, char *devdir, size_t cap);
/* Power off PSA: forget volatile state and cached keys (a reboot). */
void psa_reboot(void);

#endif
