/* err.c - prov_err helpers (see prov/err.h). */
#include "prov/err.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prov/escape.h"

/* Room for most messages before they are escaped; a longer one is formatted
 * into the heap, so that its end (the reason) survives the cut. */
#define RAW_MAX 2048

/* Format into out (cap bytes) and escape the result (prov/escape.h): the
 * arguments carry outside text, and a message must stay one printable line. */
static void format_escaped(char *out, size_t cap, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void format_escaped(char *out, size_t cap, const char *fmt, va_list ap)
{
	char raw[RAW_MAX], *big = NULL;
	va_list again;
	int n;

	va_copy(again, ap);
	n = vsnprintf(raw, sizeof(raw), fmt, ap);
	if (n >= (int)sizeof(raw) && (big = malloc((size_t)n + 1)) != NULL)
		n = vsnprintf(big, (size_t)n + 1, fmt, again);
	va_end(again);
	if (n < 0)
		n = 0;
	else if (big == NULL && n >= (int)sizeof(raw))
		n = sizeof(raw) - 1; /* no memory: the start of it */
	prov_escape_msg(out, cap, big != NULL ? big : raw, (size_t)n);
	free(big);
}

prov_status prov_err_vset(prov_err *e, prov_status code, const char *fmt, va_list ap)
{
	if (e == NULL)
		return code;
	e->code = code;
	format_escaped(e->msg, sizeof(e->msg), fmt, ap);
	return code;
}

prov_status prov_err_set(prov_err *e, prov_status code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	prov_err_vset(e, code, fmt, ap);
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
	/* The old message was escaped when it was made. */
	memcpy(old, e->msg, sizeof(old));
	old[sizeof(old) - 1] = 0;
	{
		/* prefix ": " old; an old message too long for the rest loses its
		 * middle at escape boundaries, marked, as prov_escape_msg cuts. */
		size_t pl = strlen(prefix), ol = strlen(old), cap = sizeof(e->msg) - 1;

		memcpy(e->msg, prefix, pl); /* pl < sizeof(prefix) < cap - 2 */
		memcpy(e->msg + pl, ": ", 2);
		pl += 2;
		if (ol > cap - pl) {
			size_t cut = sizeof(PROV_ESCAPE_CUT) - 1, room = cap - pl - cut, head = 0, tail;

			/* head: whole escapes from the start, up to half the room */
			for (size_t i = 0; i < ol;) {
				size_t n = old[i] != '\\' ? 1 : old[i + 1] == 'x' ? 4 : 2;

				if (i + n > room / 2)
					break;
				i += n;
				head = i;
			}
			/* tail: from the first escape boundary that leaves it short enough */
			tail = ol;
			for (size_t i = head; i < ol;) {
				size_t n = old[i] != '\\' ? 1 : old[i + 1] == 'x' ? 4 : 2;

				if (ol - i <= room - head) {
					tail = i;
					break;
				}
				i += n;
			}
			memcpy(e->msg + pl, old, head);
			memcpy(e->msg + pl + head, PROV_ESCAPE_CUT, cut);
			memcpy(e->msg + pl + head + cut, old + tail, ol - tail);
			e->msg[pl + head + cut + ol - tail] = 0;
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
	case PROV_E_PARTIAL: return "partial";
	case PROV_E_TOKEN: return "token";
	case PROV_E_PIN: return "pin";
	case PROV_E_DBAUTH: return "db-auth";
	case PROV_E_DBCONN: return "db-unreachable";
	case PROV_E_SCHEMA: return "db-schema";
	}
	return "unknown";
}
