/*
 * prov/escape.h - outside text and numbers made safe to print.
 *
 * Text from outside (arguments, files, database rows, what a device sends) is
 * escaped before it reaches a terminal, a log or a one-line error, by one rule:
 *
 *   - printable ASCII, 0x20..0x7e, stays as it is, except the backslash;
 *   - "\\" for a backslash, "\n", "\r", "\t" for those controls;
 *   - every other byte, UTF-8 included, becomes "\xHH" (lower-case hex).
 *
 * So the result is one line of printable ASCII that reads back unambiguously
 * (C escapes), whatever the input held.
 *
 * Error messages (prov_escape_msg) keep a backslash as it is: a message quotes
 * text that is escaped already (a JSON value in jsonschema's messages, another
 * message wrapped in a new one), and escaping is then idempotent instead of
 * doubling every backslash at each level.  The cost: in a message, a literal
 * "\x1b" typed by someone reads like an escaped ESC; the safety (one line of
 * printable ASCII) is the same.  Non-ASCII is escaped, not kept: to a
 * terminal that is not in UTF-8 mode the bytes 0x80..0x9f are C1 controls
 * (0x9b is CSI), and even valid UTF-8 carries bidi overrides and invisible
 * characters that make a line read other than it is.  Device IDs are ASCII
 * by definition (prov_device_id_valid), so only unusual text is affected.
 *
 * Length: text longer than the room for it is cut at escape boundaries (never
 * inside "\xHH") and marked "...", so a cut is always visible: a value loses
 * its end (prov_escape); a message loses its middle (prov_escape_msg), so that
 * what comes after a long argument, the reason, stays.
 *
 * libprov's error messages go through this rule when they are made
 * (prov_err_set and friends, err.c); the tools escape what they print of
 * outside text themselves.  JSON output is escaped by jansson; the helpers
 * below make sure invalid UTF-8 never makes a JSON string vanish, and that
 * unsigned 64-bit values stay exact.
 *
 * No state; every function is thread-safe.
 */
#ifndef PROV_ESCAPE_H
#define PROV_ESCAPE_H

#include <stddef.h>
#include <stdint.h>

/* The longest escape of one input byte: "\xHH". */
#define PROV_ESCAPE_MAX 4
/* The mark of a cut: three full stops. */
#define PROV_ESCAPE_CUT "..."

/* Escape len bytes of `in` into out (cap bytes, always NUL-terminated when cap
 * > 0), cutting with "..." when it does not fit in cap - 1 bytes.  Returns
 * out, for use as a printf argument. */
char *prov_escape(char *out, size_t cap, const void *in, size_t len);

/* For a whole message ("<what>: <why>") that may hold a long argument: the
 * same escapes but a backslash is kept (see above), and a cut takes out the
 * middle rather than the end, so the reason stays. */
char *prov_escape_msg(char *out, size_t cap, const void *in, size_t len);

/* prov_escape for a C string; NULL is written as "(null)". */
char *prov_escape_str(char *out, size_t cap, const char *s);

struct json_t;

/* A JSON string for len bytes of outside text: the bytes themselves when they
 * are valid UTF-8 without NUL (jansson escapes controls in its output), else
 * the text escaped by the rule above, so it is never missing from the output.
 * NULL only for lack of memory. */
struct json_t *prov_json_text(const void *in, size_t len);

/* A JSON number for any uint64.  jansson's integers are signed 64-bit: values
 * up to INT64_MAX are plain integers; larger ones are a marked string (a NUL
 * then "u64:" and the decimal digits; no other string in our JSON holds a NUL,
 * prov_json_text escapes it) that prov_json_dump writes as the exact number.
 * NULL only for lack of memory. */
struct json_t *prov_json_u64(uint64_t v);

/* The value of a JSON integer >= 0 or a prov_json_u64 marker: 0 and *v set,
 * -1 for anything else. */
int prov_json_get_u64(const struct json_t *j, uint64_t *v);

/* json_dumps(j, flags), with every prov_json_u64 marker written as its number.
 * malloc'd text (free()), NULL on failure. */
char *prov_json_dump(const struct json_t *j, size_t flags);

#endif
