/*
 * check.h - the unit tests' tiny harness.
 *
 * CHECK(cond) records a pass or a failure (with file:line and the condition);
 * CHECK_EQ_HEX compares byte strings and prints both in hex on mismatch.
 * check_done() prints "<name>: N passed, N failed" and returns the exit status:
 * 0 only if at least one check ran and none failed.  A test that ran no check
 * proved nothing, so it fails ("no check ran", counted as one failure); and
 * tests/run.sh counts a binary that exits without this line as failed.
 */
#ifndef PROV_TEST_CHECK_H
#define PROV_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_pass_, check_fail_;

#define CHECK(cond) \
	do { \
		if (cond) { \
			check_pass_++; \
		} else { \
			check_fail_++; \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		} \
	} while (0)

#define CHECK_MSG(cond, ...) \
	do { \
		if (cond) { \
			check_pass_++; \
		} else { \
			check_fail_++; \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__); \
			fputc('\n', stderr); \
		} \
	} while (0)

static inline void check_hex_(const char *what, const unsigned char *p, size_t n)
{
	fprintf(stderr, "  %s (%zu): ", what, n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "%02x", p[i]);
	fputc('\n', stderr);
}

#define CHECK_EQ_HEX(got, got_len, want, want_len) \
	do { \
		if ((got_len) == (want_len) && memcmp((got), (want), (want_len)) == 0) { \
			check_pass_++; \
		} else { \
			check_fail_++; \
			fprintf(stderr, "FAIL %s:%d: %s != %s\n", __FILE__, __LINE__, #got, #want); \
			check_hex_("got ", (const unsigned char *)(got), (got_len)); \
			check_hex_("want", (const unsigned char *)(want), (want_len)); \
		} \
	} while (0)

static inline int check_done(const char *name)
{
	if (check_pass_ + check_fail_ == 0) {
		fprintf(stderr, "FAIL %s: no check ran\n", name);
		check_fail_ = 1;
	}
	printf("%s: %d passed, %d failed\n", name, check_pass_, check_fail_);
	return check_fail_ == 0 ? 0 : 1;
}

#endif
