/*
 * test_time_iso.c - prov_time_iso (prov/util.h) never shows a wrong date:
 * inside years 1000..9999 the ISO 8601 text (checked against a date computed
 * here from the days since the epoch, not by gmtime), outside them the number.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "prov/util.h"

static const struct {
	int64_t t;
	const char *want;
} rows[] = {
	{0, "1970-01-01T00:00:00Z"},
	{1767225600, "2026-01-01T00:00:00Z"},
	{951782400, "2000-02-29T00:00:00Z"},
	{PROV_TIME_ISO_MAX, "9999-12-31T23:59:59Z"},
	{PROV_TIME_ISO_MAX + 1, "253402300800"},
	{PROV_TIME_ISO_MIN, "1000-01-01T00:00:00Z"},
	{PROV_TIME_ISO_MIN - 1, "-30610224001"},
	{INT64_MAX, "9223372036854775807"},   /* a uint64 2^63 - 1 */
	{INT64_MIN, "-9223372036854775808"},  /* 2^63 read as int64: never 1969 */
	{-1, "1969-12-31T23:59:59Z"},
};

/* Civil date of a day number (days since 1970-01-01), H. Hinnant's algorithm. */
static void civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int main(void)
{
	char out[21], want[96];
	int sampled = 0;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		prov_time_iso(rows[i].t, out);
		CHECK_MSG(strcmp(out, rows[i].want) == 0, "%lld: got %s, want %s", (long long)rows[i].t, out,
		          rows[i].want);
	}
	/* Every 600,011th second across the whole ISO range (a step that walks
	 * through every time of day): the same as computed here. */
	for (int64_t t = PROV_TIME_ISO_MIN; t <= PROV_TIME_ISO_MAX; t += 600011) {
		int64_t days = (t >= 0 ? t : t - 86399) / 86400, y, s = t - days * 86400;
		unsigned m, d;

		civil(days, &y, &m, &d);
		snprintf(want, sizeof(want), "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", (long long)y, m, d,
		         (long long)(s / 3600), (long long)(s / 60 % 60), (long long)(s % 60));
		prov_time_iso(t, out);
		if (strcmp(out, want) != 0) {
			CHECK_MSG(0, "%lld: got %s, want %s", (long long)t, out, want);
			break;
		}
		sampled++;
	}
	CHECK(sampled > 470000);
	printf("time_iso: %d sampled seconds from year 1000 to 9999\n", sampled);
	return check_done("test_time_iso");
}
