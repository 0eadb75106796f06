#!/usr/bin/env bats
# trust_limbo.bats - x509-limbo's cases (tests/vectors/limbo/) through the
# device's whole path: prov trust build over each case's trusted certificates,
# then trust-client --verify-chain (Mbed TLS and the store's verify callback, as
# firmware-agent/tls/pa_tls.c verifies a server).  Every case must come out as
# x509-limbo expects, or be listed out of scope with its reason; the counts go to
# the test output.

load helper

V="$REPO/tests/vectors/limbo"

@test "x509-limbo: every selected case as expected or out of scope with a reason" {
	run "$PY" "$REPO/tests/py/truststore_limbo.py" run "$V/limbo-anchors.json" "$V/out-of-scope.txt" \
		"$PROV" "$PROV_BUILD/trust-client" "$T/work" --json "$T/limbo.json"
	echo "${lines[-1]}" >&3
	if [ "$status" -ne 0 ]; then
		printf '%s\n' "$output" | grep -v '^pass \|^out-of-scope ' >&2
		return 1
	fi
	# the counts are those README.md gives; every case ran
	[ "$(jq '.counts.cases' "$T/limbo.json")" = 77 ]
	[ "$(jq '.counts.passed' "$T/limbo.json")" = 57 ]
	[ "$(jq '.counts.out_of_scope' "$T/limbo.json")" = 20 ]
	[ "$(jq '[.results[] | select(.status == "FAIL" or .status == "STALE")] | length' "$T/limbo.json")" = 0 ]
	# the roots the issue names are refused by prov trust build itself
	for id in rfc5280::root-missing-basic-constraints rfc5280::root-inconsistent-ca-extensions \
		rfc5280::unknown-critical-extension-root rfc5280::aki::critical-aki rfc5280::ski::critical-ski; do
		[ "$(jq -r --arg id "$id" '.results[] | select(.id == $id) | .how' "$T/limbo.json" | cut -c1-15)" = "build: no ancho" ]
	done
}

@test "x509-limbo runner: a wrong answer fails the run, and so does a stale out-of-scope entry" {
	# a case expected to be refused, claimed to succeed
	jq '.testcases |= map(select(.id == "rfc5280::aki::critical-aki") | .expected_result = "SUCCESS")' \
		"$V/limbo-anchors.json" > "$T/flipped.json"
	: > "$T/none.txt"
	run "$PY" "$REPO/tests/py/truststore_limbo.py" run "$T/flipped.json" "$T/none.txt" "$PROV" \
		"$PROV_BUILD/trust-client" "$T/w1"
	[ "$status" -eq 1 ]
	assert_output_has "FAIL "
	# an out-of-scope entry for a case that comes out as expected
	jq '.testcases |= map(select(.id == "rfc5280::aki::critical-aki"))' "$V/limbo-anchors.json" > "$T/one.json"
	printf 'rfc5280::aki::critical-aki\tnot really\n' > "$T/stale.txt"
	run "$PY" "$REPO/tests/py/truststore_limbo.py" run "$T/one.json" "$T/stale.txt" "$PROV" \
		"$PROV_BUILD/trust-client" "$T/w2"
	[ "$status" -eq 1 ]
	assert_output_has "STALE"
}
