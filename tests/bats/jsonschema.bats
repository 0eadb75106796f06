#!/usr/bin/env bats
# jsonschema.bats - the JSON Schema vectors agree with implementations we did not
# write: tests/vectors/jsonschema/cases.json with Debian's python3-jsonschema, and
# the regular expressions of tests/vectors/jsonschema/regex.json with V8 (nodejs),
# since Python's re is not ECMA-262 (\d, \s, $ differ); and libprov's regex
# translation with V8 on random patterns and strings.
# The exact messages are checked by the C unit test (tests/unit/test_jsonschema.c).

load helper

setup() {
	cd "$BATS_TEST_DIRNAME/../.."
}

@test "python3-jsonschema agrees with every vector's verdict" {
	run /usr/bin/python3 tests/py/jsonschema_crosscheck.py
	echo "$output"
	[ "$status" -eq 0 ]
	n=$(printf '%s\n' "$output" | sed -n 's/^checked \([0-9]*\) cases, 0 differ$/\1/p')
	[ -n "$n" ]
	[ "$n" -gt 100 ]
}

@test "V8 agrees with every regex vector: verdicts, and which refusals are ECMA-262 syntax errors" {
	run node tests/js/regex_crosscheck.js
	echo "$output"
	[ "$status" -eq 0 ]
	n=$(printf '%s\n' "$output" | sed -n 's/^checked \([0-9]*\) cases, 0 differ$/\1/p')
	[ -n "$n" ]
	[ "$n" -gt 170 ]
	v=$(printf '%s\n' "$output" | sed -n 's/^verdicts \([0-9]*\), syntax errors \([0-9]*\), not supported \([0-9]*\), .*/\1 \2 \3/p')
	set -- $v
	[ "$1" -gt 120 ]
	[ "$2" -gt 20 ]
	[ "$3" -gt 10 ]
}

@test "V8 and libprov agree on 20,000 random patterns (four strings each), or libprov declines" {
	run node tests/js/regex_differential.js "$PROV_BUILD" 20000
	echo "$output" | tail -25
	[ "$status" -eq 0 ]
	n=$(printf '%s\n' "$output" | sed -n 's/^checked \([0-9]*\) strings, 0 differ$/\1/p')
	[ -n "$n" ]
	[ "$n" -gt 50000 ]
	same=$(printf '%s\n' "$output" | sed -n 's/^same verdict \([0-9]*\),.*/\1/p')
	[ "$same" -gt 40000 ]
}
