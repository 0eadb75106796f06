/*
 * test_jsonschema.c - prov_jsonschema_validate against the vectors in
 * tests/vectors/jsonschema/cases.json (run from the repository root).
 *
 * Each case is {"name", "schema", "instance", "valid", "error", "schema_error"}:
 * a valid case must give PROV_OK; an invalid one PROV_E_INPUT with exactly
 * "error"; a schema_error one PROV_E_INTERNAL with exactly "error".  Every case
 * also runs with a NULL error pointer and must give the same status.  The
 * verdicts of the non-schema_error cases are cross-checked by
 * tests/py/jsonschema_crosscheck.py with python3-jsonschema.
 *
 * tests/vectors/jsonschema/regex.json has the same form, for "pattern": the
 * ECMA-262 meaning of each escape and class, and the patterns refused with their
 * messages.  Python's re is not ECMA-262, so its verdicts are cross-checked with
 * V8 instead (tests/bats/jsonschema.bats).  Each of its patterns also runs as a
 * patternProperties key, which must match the same strings.
 *
 * tests/vectors/jsonschema/suite/ holds files of the JSON-Schema-Test-Suite
 * (see the README there): every case must get the suite's verdict, or its schema
 * must be refused as "not supported"; the counts are pinned.
 *
 * A few cases a JSON file cannot carry well (nesting limits, NULL arguments)
 * are built here.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "prov/jsonschema.h"

#include "check.h"

#define CASES_PATH "tests/vectors/jsonschema/cases.json"
#define REGEX_PATH "tests/vectors/jsonschema/regex.json"
#define SUITE_DIR "tests/vectors/jsonschema/suite/"

struct counts {
	int valid, invalid, schema_errors;
};

static const char *status_str(prov_status st)
{
	return prov_status_name(st);
}

/* Whether a message is the expected one.  The vectors hold outside text raw (a
 * pattern "é*"); a message may show each byte outside printable ASCII as \xHH,
 * as prov_err_set does where it escapes outside text. */
static int msg_equal(const char *got, const char *want)
{
	for (; *want != '\0'; want++) {
		unsigned char c = (unsigned char)*want;
		char esc[8];

		if (*got == *want) {
			got++;
			continue;
		}
		if (c < 0x80)
			return 0;
		snprintf(esc, sizeof(esc), "\\x%02x", c);
		if (strncmp(got, esc, 4) != 0)
			return 0;
		got += 4;
	}
	return *got == '\0';
}

static void run_case(const json_t *c, size_t idx, struct counts *n)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const json_t *schema = json_object_get(c, "schema");
	const json_t *instance = json_object_get(c, "instance");
	const json_t *valid = json_object_get(c, "valid");
	const char *want = json_string_value(json_object_get(c, "error"));
	int schema_error = json_is_true(json_object_get(c, "schema_error"));
	prov_status want_st, st;
	prov_err e;

	if (name == NULL || schema == NULL || instance == NULL || !json_is_boolean(valid) ||
	    (!json_is_true(valid) && want == NULL) || (schema_error && json_is_true(valid))) {
		CHECK_MSG(0, "case %zu (%s): malformed vector", idx, name != NULL ? name : "?");
		return;
	}
	if (schema_error) {
		want_st = PROV_E_INTERNAL;
		n->schema_errors++;
	} else if (json_is_true(valid)) {
		want_st = PROV_OK;
		n->valid++;
	} else {
		want_st = PROV_E_INPUT;
		n->invalid++;
	}

	memset(&e, 0, sizeof(e));
	st = prov_jsonschema_validate(schema, instance, &e);
	if (want_st == PROV_OK) {
		CHECK_MSG(st == PROV_OK, "%s: got %s \"%s\", want valid", name, status_str(st), e.msg);
	} else {
		CHECK_MSG(st == want_st && e.code == want_st && msg_equal(e.msg, want),
		          "%s:\n  got  %s \"%s\"\n  want %s \"%s\"", name, status_str(st),
		          st == PROV_OK ? "" : e.msg, status_str(want_st), want);
	}
	CHECK_MSG(prov_jsonschema_validate(schema, instance, NULL) == st,
	          "%s: different status without an error pointer", name);
}

/* A regex.json case again with its pattern as a patternProperties key, the
 * instance string as a member name: {"patternProperties": {P: false}} refuses
 * exactly the members whose name the pattern matches. */
static void run_regex_as_key(const json_t *c)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const json_t *pat = json_object_get(json_object_get(c, "schema"), "pattern");
	const json_t *inst = json_object_get(c, "instance");
	int schema_error = json_is_true(json_object_get(c, "schema_error"));
	json_t *schema = json_object(), *pats = json_object(), *obj = json_object();
	const char *want = json_string_value(json_object_get(c, "error"));
	prov_status st;
	prov_err e;

	CHECK_MSG(json_is_string(pat) && json_is_string(inst) && name != NULL,
	          "%s: a regex case has a string pattern and instance", name != NULL ? name : "?");
	if (!json_is_string(pat) || !json_is_string(inst) || name == NULL) {
		json_decref(schema);
		json_decref(pats);
		json_decref(obj);
		return;
	}
	json_object_setn_new(pats, json_string_value(pat), json_string_length(pat), json_false());
	json_object_set_new(schema, "patternProperties", pats);
	json_object_setn_new(obj, json_string_value(inst), json_string_length(inst), json_integer(0));
	st = prov_jsonschema_validate(schema, obj, &e);
	if (schema_error) {
		/* The same reason, after the key's own schema path. */
		const char *tail = strstr(want, ": regular expression ");
		const char *got = strstr(e.msg, ": regular expression ");

		CHECK_MSG(st == PROV_E_INTERNAL && tail != NULL && got != NULL && msg_equal(got, tail) &&
		          strncmp(e.msg, "schema #/patternProperties/", 27) == 0,
		          "%s as a key: got %s \"%s\"", name, prov_status_name(st), e.msg);
	} else if (json_is_true(json_object_get(c, "valid"))) {
		CHECK_MSG(st == PROV_E_INPUT && strncmp(e.msg, "$: unexpected property ", 23) == 0,
		          "%s as a key: the name should match: got %s \"%s\"", name, prov_status_name(st),
		          st == PROV_OK ? "" : e.msg);
	} else {
		CHECK_MSG(st == PROV_OK, "%s as a key: the name should not match: got %s \"%s\"", name,
		          prov_status_name(st), e.msg);
	}
	json_decref(schema);
	json_decref(obj);
}

static void run_vector_file(const char *path, int as_keys, size_t min_cases)
{
	json_error_t jerr;
	/* JSON_ALLOW_NUL: some vectors hold "\u0000" inside strings. */
	json_t *cases = json_load_file(path, JSON_ALLOW_NUL, &jerr);
	struct counts n = { 0, 0, 0 };
	size_t keys = 0;

	CHECK_MSG(json_is_array(cases), "%s:%d: %s", path, jerr.line, jerr.text);
	for (size_t i = 0; i < json_array_size(cases); i++) {
		const json_t *c = json_array_get(cases, i);

		run_case(c, i, &n);
		if (as_keys && json_object_get(json_object_get(c, "schema"), "pattern") != NULL) {
			run_regex_as_key(c);
			keys++;
		}
	}
	printf("%s: %zu cases (%d valid, %d invalid, %d schema errors)", path,
	       json_array_size(cases), n.valid, n.invalid, n.schema_errors);
	if (as_keys)
		printf(", %zu again as patternProperties keys", keys);
	printf("\n");
	CHECK_MSG(json_array_size(cases) >= min_cases, "%s: only %zu cases", path, json_array_size(cases));
	CHECK_MSG(!as_keys || keys >= min_cases, "%s: only %zu cases as keys", path, keys);
	json_decref(cases);
}

/* One file of the JSON-Schema-Test-Suite: [{"description", "schema", "tests":
 * [{"description", "data", "valid"}]}].  A case is right when our verdict is the
 * suite's, refused when its schema is refused with "not supported" (a construct
 * outside our documented subset), wrong otherwise. */
static void run_suite_file(const char *file, int want_right, int want_refused)
{
	char path[256];
	json_error_t jerr;
	json_t *groups;
	int right = 0, refused = 0, wrong = 0;

	snprintf(path, sizeof(path), "%s%s", SUITE_DIR, file);
	groups = json_load_file(path, JSON_ALLOW_NUL, &jerr);
	CHECK_MSG(json_is_array(groups) && json_array_size(groups) > 0, "%s:%d: %s", path, jerr.line,
	          jerr.text);
	for (size_t g = 0; g < json_array_size(groups); g++) {
		const json_t *group = json_array_get(groups, g);
		const json_t *schema = json_object_get(group, "schema");
		const json_t *tests = json_object_get(group, "tests");
		const char *gdesc = json_string_value(json_object_get(group, "description"));

		for (size_t i = 0; i < json_array_size(tests); i++) {
			const json_t *t = json_array_get(tests, i);
			const json_t *valid = json_object_get(t, "valid");
			const char *tdesc = json_string_value(json_object_get(t, "description"));
			prov_status st;
			prov_err e;

			memset(&e, 0, sizeof(e));
			st = prov_jsonschema_validate(schema, json_object_get(t, "data"), &e);
			if (st == PROV_E_INTERNAL && strstr(e.msg, ": regular expression ") != NULL &&
			    strstr(e.msg, ": not supported at offset ") != NULL) {
				refused++;
			} else if (json_is_boolean(valid) &&
			           (json_is_true(valid) ? st == PROV_OK : st == PROV_E_INPUT)) {
				right++;
			} else {
				wrong++;
				CHECK_MSG(0, "%s: %s / %s: suite says %s, got %s \"%s\"", file,
				          gdesc != NULL ? gdesc : "?", tdesc != NULL ? tdesc : "?",
				          json_is_true(valid) ? "valid" : "invalid", prov_status_name(st),
				          st == PROV_OK ? "" : e.msg);
			}
		}
	}
	printf("JSON-Schema-Test-Suite %s: %d right, %d refused, %d wrong\n", file, right, refused,
	       wrong);
	CHECK(wrong == 0);
	CHECK_MSG(right == want_right && refused == want_refused,
	          "%s: %d right and %d refused, expected %d and %d", file, right, refused, want_right,
	          want_refused);
	json_decref(groups);
}

/* [[[...[0]...]]] nested `depth` deep. */
static json_t *nested_arrays(int depth)
{
	json_t *v = json_integer(0);

	for (int i = 0; i < depth && v != NULL; i++) {
		json_t *a = json_array();

		if (a == NULL || json_array_append_new(a, v) != 0) {
			json_decref(a);
			return NULL;
		}
		v = a;
	}
	return v;
}

static void test_limits(void)
{
	json_t *schema = json_pack("{s:{s:s}}", "items", "$ref", "#");
	json_t *shallow = nested_arrays(100), *deep = nested_arrays(200);
	prov_err e;

	CHECK(schema != NULL && shallow != NULL && deep != NULL);
	if (schema != NULL && shallow != NULL && deep != NULL) {
		CHECK(prov_jsonschema_validate(schema, shallow, &e) == PROV_OK);
		CHECK(prov_jsonschema_validate(schema, deep, &e) == PROV_E_INPUT);
		CHECK_MSG(strstr(e.msg, ": nested too deeply (limit 128 levels)") != NULL &&
		          strncmp(e.msg, "$[0][0][0]", 10) == 0, "got \"%s\"", e.msg);
		/* Even inside "not", the limit is an error rather than "no match". */
		json_object_set_new(schema, "items", json_pack("{s:{s:s}}", "not", "$ref", "#"));
		CHECK(prov_jsonschema_validate(schema, deep, &e) == PROV_E_INPUT);
	}
	json_decref(schema);
	json_decref(shallow);
	json_decref(deep);

	CHECK(prov_jsonschema_validate(NULL, json_null(), &e) == PROV_E_INTERNAL);
	CHECK(prov_jsonschema_validate(json_true(), NULL, NULL) == PROV_E_INTERNAL);
}

/* A long enum is cut in the message, and the message stays bounded. */
static void test_long_message(void)
{
	json_t *schema = json_object(), *list = json_array(), *inst = json_string("none");
	char word[64];
	prov_err e;

	for (int i = 0; i < 200; i++) {
		snprintf(word, sizeof(word), "value-number-%03d", i);
		json_array_append_new(list, json_string(word));
	}
	json_object_set_new(schema, "enum", list);
	CHECK(prov_jsonschema_validate(schema, inst, &e) == PROV_E_INPUT);
	CHECK_MSG(strncmp(e.msg, "$: must be one of \"value-number-000\", ", 38) == 0 &&
	          strlen(e.msg) < 400 && strcmp(e.msg + strlen(e.msg) - 5, ", ...") == 0,
	          "got \"%s\"", e.msg);
	json_decref(schema);
	json_decref(inst);
}

int main(void)
{
	run_vector_file(CASES_PATH, 0, 120);
	run_vector_file(REGEX_PATH, 1, 170);
	/* Refused: the groups using \p{...} (14 + 3 + 2 cases). */
	run_suite_file("ecmascript-regex.json", 60, 14);
	run_suite_file("non-bmp-regex.json", 12, 0);
	run_suite_file("pattern.json", 9, 3);
	run_suite_file("patternProperties.json", 23, 2);

	/* Expected messages match raw or with \xHH escapes, and nothing else. */
	CHECK(msg_equal("p \"\\xc3\\xa9*\"", "p \"\xc3\xa9*\"") && msg_equal("p \"\xc3\xa9*\"", "p \"\xc3\xa9*\""));
	CHECK(!msg_equal("p \"\\xc3\\xa8*\"", "p \"\xc3\xa9*\"") && !msg_equal("p \"e*\"", "p \"\xc3\xa9*\"") &&
	      !msg_equal("p \"\xc3\xa9*\" x", "p \"\xc3\xa9*\""));

	test_limits();
	test_long_message();
	return check_done("test_jsonschema");
}
