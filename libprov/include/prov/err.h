/*
 * prov/err.h - error reporting for libprov.
 *
 * Every fallible libprov function takes a `prov_err *` as its last argument and
 * returns a prov_status.  On failure it fills the error with a status and a
 * message of the form "<what went wrong>: <why>"; the tools print it as
 * "prov: <command>: <message>" and exit with the status as exit code, so the
 * numeric values below are the documented exit codes of `prov` (docs/cli.md).
 * A NULL error pointer is allowed and discards the message.
 *
 * A message is made safe when it is made: the formatted text is escaped by
 * prov_escape_msg (prov/escape.h: printable ASCII kept, every other byte a C
 * escape) and cut in its middle with "..." to fit, so outside text passed
 * through "%s" can neither reach a terminal raw nor add a line.  Escaping a
 * message is idempotent: prov_err_wrap and a message quoted in another stay
 * as they are.
 */
#ifndef PROV_ERR_H
#define PROV_ERR_H

#include <stdarg.h>
#include <stddef.h>

typedef enum prov_status {
	PROV_OK = 0,
	PROV_E_INTERNAL = 1,  /* a bug or an unexpected library failure */
	PROV_E_USAGE = 2,     /* bad command line */
	PROV_E_INPUT = 3,     /* invalid input file: template, CSR, key, bundle syntax */
	PROV_E_NOTFOUND = 4,  /* unknown device, missing file or factory home */
	PROV_E_EXISTS = 5,    /* device already minted (without --rotate), home exists */
	PROV_E_DB = 6,        /* database corrupt, not a database, wrong schema */
	PROV_E_VERIFY = 7,    /* signature or authentication failure: tampered, foreign */
	PROV_E_IO = 8,        /* cannot write output, cannot read a file */
	PROV_E_AUTH = 9,      /* wrong passphrase or key-encryption key */
	PROV_E_BUSY = 10,     /* database locked beyond the busy timeout */
	PROV_E_CRYPTO = 11,   /* a cryptographic operation failed (not a verification) */
	PROV_E_PARTIAL = 12,  /* output written without some damaged rows (each named) */
	PROV_E_DBAUTH = 13,   /* the database server refused our credentials */
	PROV_E_DBCONN = 14,   /* the database server is unreachable, or went away (restarted) */
	PROV_E_SCHEMA = 15,   /* the database's schema version is not this build's */
	PROV_E_TOKEN = 16,    /* PKCS#11: module not loaded, token absent, key not found or of the wrong type */
	PROV_E_PIN = 17,      /* PKCS#11: PIN missing, wrong or locked (one login attempt, never retried) */
} prov_status;

typedef struct prov_err {
	prov_status code;
	char msg[768];
} prov_err;

/* Set the error and return `code`.  printf-style. */
prov_status prov_err_set(prov_err *e, prov_status code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The same with a va_list. */
prov_status prov_err_vset(prov_err *e, prov_status code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* Like prov_err_set, appending ": " and the newest OpenSSL error reason (if any),
 * then clearing OpenSSL's error queue. */
prov_status prov_err_ssl(prov_err *e, prov_status code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefix the existing message with "<prefix>: " (keeps the code).  Returns the
 * code, or PROV_E_INTERNAL when e is NULL: callers keep their own status. */
prov_status prov_err_wrap(prov_err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Short stable name of a status ("input", "not-found", ...), used in --json. */
const char *prov_status_name(prov_status s);

#endif
