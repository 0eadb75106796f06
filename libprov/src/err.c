/* err.c - prov_err helpers (see prov/err.h). */
#include "prov/err.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

prov_status prov_err_set(prov_err *e, prov_status code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

prov_status prov_err_ssl(prov_err *e, prov_status code, const char *fmt, ...)
{
	va_list ap;
	unsigned long l = ERR_peek_last_error();

	if (e != NULL) {
		size_t n;

		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
		va_end(ap);
		n = strlen(e->msg);
		if (l != 0 && n < sizeof(e->msg)) {
			const char *r = ERR_reason_error_string(l);
			snprintf(e->msg + n, sizeof(e->msg) - n, ": %s",
			         r != NULL ? r : "OpenSSL error");
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
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, e->msg, sizeof(old));
	old[sizeof(old) - 1] = 0;
	{
		/* prefix ": " old, truncated to fit */
		size_t pl = strlen(prefix), ol = strlen(old), cap = sizeof(e->msg) - 1;

		if (pl > cap)
			pl = cap;
		memcpy(e->msg, prefix, pl);
		if (pl + 2 <= cap) {
			memcpy(e->msg + pl, ": ", 2);
			pl += 2;
		}
		if (ol > cap - pl)
			ol = cap - pl;
		memcpy(e->msg + pl, old, ol);
		e->msg[pl + ol] = 0;
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
	}
	return "unknown";
}
