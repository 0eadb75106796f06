#!/usr/bin/env bats
# jsonschema.bats - the JSON Schema vectors (tests/vectors/jsonschema/cases.json)
# agree with an implementation we did not write: Debian's python3-jsonschema.
# The exact messages are checked by the C unit test (tests/unit/test_jsonschema.c).

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
