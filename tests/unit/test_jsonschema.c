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
 * A few cases a JSON file cannot carry well (nesting limits, NULL arguments)
 * are built here.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "prov/jsonschema.h"

#include "check.h"

#define CASES_PATH "tests/vectors/jsonschema/cases.json"

struct counts {
	int valid, invalid, schema_errors;
};

static const char *status_str(prov_status st)
{
	return prov_status_name(st);
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
		CHECK_MSG(st == want_st && e.code == want_st && strcmp(e.msg, want) == 0,
		          "%s:\n  got  %s \"%s\"\n  want %s \"%s\"", name, status_str(st),
		          st == PROV_OK ? "" : e.msg, status_str(want_st), want);
	}
	CHECK_MSG(prov_jsonschema_validate(schema, instance, NULL) == st,
	          "%s: different status without an error pointer", name);
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
	json_error_t jerr;
	/* JSON_ALLOW_NUL: some vectors hold "\u0000" inside strings. */
	json_t *cases = json_load_file(CASES_PATH, JSON_ALLOW_NUL, &jerr);
	struct counts n = { 0, 0, 0 };

	CHECK_MSG(json_is_array(cases), "%s:%d: %s", CASES_PATH, jerr.line, jerr.text);
	for (size_t i = 0; i < json_array_size(cases); i++)
		run_case(json_array_get(cases, i), i, &n);
	printf("jsonschema vectors: %zu cases (%d valid, %d invalid, %d schema errors)\n",
	       json_array_size(cases), n.valid, n.invalid, n.schema_errors);
	CHECK(json_array_size(cases) >= 120);
	json_decref(cases);

	test_limits();
	test_long_message();
	return check_done("test_jsonschema");
}
