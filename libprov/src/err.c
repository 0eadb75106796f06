/* err.c - prov_err helpers (see prov/err.h). */
#include "prov/err.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "prov/escape.h"

/* Room for a message before it is escaped: more than the message holds, so an
 * overlong one is always cut by prov_escape, with its mark. */
#define RAW_MAX 2048

/* Format into out (cap bytes) and escape the result (prov/escape.h): the
 * arguments carry outside text, and a message must stay one printable line. */
static void format_escaped(char *out, size_t cap, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void format_escaped(char *out, size_t cap, const char *fmt, va_list ap)
{
	char raw[RAW_MAX];
	int n = vsnprintf(raw, sizeof(raw), fmt, ap);
	size_t len = n < 0 ? 0 : (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw) - 1;

	prov_escape(out, cap, raw, len);
}

prov_status prov_err_set(prov_err *e, prov_status code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	va_start(ap, fmt);
	format_escaped(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

prov_status prov_err_ssl(prov_err *e, prov_status code, const char *fmt, ...)
{
	va_list ap;
	unsigned long l = ERR_peek_last_error();

	if (e != NULL) {
		size_t n;

		const char *r = l != 0 ? ERR_reason_error_string(l) : NULL;

		e->code = code;
		va_start(ap, fmt);
		format_escaped(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
		n = strlen(e->msg);
		if (l != 0 && n + 3 < sizeof(e->msg)) {
			char reason[256];

			prov_escape_str(reason, sizeof(reason), r != NULL ? r : "OpenSSL error");
			snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", reason);
		}
	}
	ERR_clear_error();
	return code;
}

prov_status prov_err_wrap(prov_err *e, const char *fmt, ...)
{
	char prefix[256], old[sizeof(e->msg)];
	va_list ap;

	if (e == NULL)
		return PROV_E_INTERNAL;
	va_start(ap, fmt);
	format_escaped(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	/* The old message was escaped when it was made: escaping it again would
	 * double its backslashes. */
	memcpy(old, e->msg, sizeof(old));
	old[sizeof(old) - 1] = 0;
	{
		/* prefix ": " old; an old message too long for the rest is cut at an
		 * escape boundary and marked, as prov_escape cuts. */
		size_t pl = strlen(prefix), ol = strlen(old), cap = sizeof(e->msg) - 1;

		memcpy(e->msg, prefix, pl); /* pl < sizeof(prefix) < cap - 2 */
		memcpy(e->msg + pl, ": ", 2);
		pl += 2;
		if (ol > cap - pl) {
			size_t keep = 0, cut = sizeof(PROV_ESCAPE_CUT) - 1;

			for (size_t i = 0; i < ol;) {
				size_t n = old[i] != '\\' ? 1 : old[i + 1] == 'x' ? 4 : 2;

				if (i + n + cut > cap - pl)
					break;
				i += n;
				keep = i;
			}
			memcpy(e->msg + pl, old, keep);
			memcpy(e->msg + pl + keep, PROV_ESCAPE_CUT, cut);
			e->msg[pl + keep + cut] = 0;
		} else {
			memcpy(e->msg + pl, old, ol);
			e->msg[pl + ol] = 0;
		}
	}
	return e->code;
}

const char *prov_status_name(prov_status s)
{
	switch (s) {
	case PROV_OK: return "ok";
	case PROV_E_INTERNAL: return "internal";
	case PROV_E_USAGE: return "usage";
	case PROV_E_INPUT: return "input";
	case PROV_E_NOTFOUND: return "not-found";
	case PROV_E_EXISTS: return "exists";
	case PROV_E_DB: return "database";
	case PROV_E_VERIFY: return "verify";
	case PROV_E_IO: return "io";
	case PROV_E_AUTH: return "auth";
	case PROV_E_BUSY: return "busy";
	case PROV_E_CRYPTO: return "crypto";
	}
	return "unknown";
}
