#!/usr/bin/env bats
# inspect_range.bats - prov inspect on counters and times anywhere in the range
# schemas/bundle.cddl allows (uint, up to 2^64 - 1).  Bundles prov cannot make
# (its database counts in int64) are made by tests/py/resign_bundle.py with the
# factory's own signer key (python3-cbor2 + python3-cryptography), so they
# verify.  A counter prints exact, never negative; a time past 9999-12-31 prints
# as its number with a note, never a wrong date; --json keeps both exact.

bats_require_minimum_version 1.5.0
load helper

RESIGN="$REPO/tests/py/resign_bundle.py"

# A factory, device d1 (mqtt-mtls: its TLS profile has a time floor) and its bundle.
setup_bundle() {
	make_factory
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device d1 >/dev/null
	make_device_key dev
	"$PROV" bundle --device d1 --recipient-key "$T/dev.pub.pem" --out "$T/b.cbor" >/dev/null
}

# resign OUT KEY=VALUE...: the bundle with those payload fields, signed again.
resign() {
	local out=$1
	shift
	"$PY" "$RESIGN" "$PROV_HOME/signer.key" "$T/b.cbor" "$T/$out" "$@"
}

# The payload field $2 (3 counter, 5 issued_at, tls.9 time floor) of bundle $1, by cbor2.
field() {
	"$PY" - "$1" "$2" <<'EOF'
import cbor2, sys
p = cbor2.loads(cbor2.loads(open(sys.argv[1], "rb").read()).value[2])
k = sys.argv[2]
print(p[7][int(k[4:])] if k.startswith("tls.") else p[int(k)])
EOF
}

@test "counter 2^64-1, issued at 2^63, time floor 2^64-1: exact numbers, no date, exit 0" {
	setup_bundle
	resign max.cbor 3=18446744073709551615 5=9223372036854775808 tls.9=18446744073709551615
	[ "$(field "$T/max.cbor" 3)" = 18446744073709551615 ]
	run -0 "$PROV" inspect "$T/max.cbor"
	assert_output_has "signature: valid"
	assert_output_has $'\ncounter:   18446744073709551615\n'
	assert_output_has $'\nissued at: 9223372036854775808 (seconds since 1970; after 9999-12-31, not shown as a date)\n'
	assert_output_has '"time_floor":null,"time_floor_seconds":18446744073709551615'
	[[ "$output" != *"-1"$'\n'* ]]
	[[ "$output" != *1969* ]] && [[ "$output" != *1970-* ]]
	run -0 "$PROV" inspect "$T/max.cbor" --json
	# The digits as they are in the text (no float, no sign), and read back exact.
	assert_output_has '"counter": 18446744073709551615,'
	assert_output_has '"issued_at": null,'
	assert_output_has '"issued_at_seconds": 9223372036854775808,'
	"$PY" -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["counter"] == 2**64 - 1 and d["issued_at_seconds"] == 2**63 and d["issued_at"] is None, d
assert d["tls"]["time_floor"] is None and d["tls"]["time_floor_seconds"] == 2**64 - 1, d["tls"]
assert d["signature"]["status"] == "valid"' "$output"
}

@test "the edges: 2^63 - 1 and 2^63, the last second of 9999 and the one after" {
	setup_bundle
	local c t
	for c in 9223372036854775807 9223372036854775808; do
		for t in 253402300799 253402300800 18446744073709551615; do
			resign e.cbor 3=$c 5=$t tls.9=$t
			run -0 "$PROV" inspect "$T/e.cbor"
			assert_output_has $'\ncounter:   '"$c"$'\n'
			run -0 "$PROV" inspect "$T/e.cbor" --json
			"$PY" -c 'import json, sys
d = json.loads(sys.argv[1]); c, t = int(sys.argv[2]), int(sys.argv[3])
assert d["counter"] == c and d["issued_at_seconds"] == t and d["tls"]["time_floor_seconds"] == t, d
iso = "9999-12-31T23:59:59Z" if t == 253402300799 else None
assert d["issued_at"] == iso and d["tls"]["time_floor"] == iso, d' "$output" "$c" "$t"
		done
	done
	# The last second of 9999 is a date, in both places.
	resign e.cbor 5=253402300799
	run -0 "$PROV" inspect "$T/e.cbor"
	assert_output_has $'\nissued at: 9999-12-31T23:59:59Z\n'
}

@test "a bundle prov made: counter and times as before (ISO dates), seconds alongside in --json" {
	setup_bundle
	run -0 "$PROV" inspect "$T/b.cbor" --json
	"$PY" -c 'import json, sys, datetime
d = json.loads(sys.argv[1])
assert d["counter"] == 1
iso = datetime.datetime.fromtimestamp(d["issued_at_seconds"], datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
assert d["issued_at"] == iso, (d["issued_at"], iso)
assert d["tls"]["time_floor"] == "2026-01-01T00:00:00Z" and d["tls"]["time_floor_seconds"] == 1767225600' "$output"
	[ "$(field "$T/b.cbor" 5)" = "$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["issued_at_seconds"])' "$output")" ]
}

@test "trust inspect: a signed store's counter 2^64-1 and issued-at 2^63 print exact, never negative" {
	make_factory
	"$PROV" trust build --from "$REPO/templates/roots/iot-roots.pem" --all --out "$T/s.store" >/dev/null
	"$PROV" trust sign --store "$T/s.store" --out "$T/s.cose" >/dev/null
	# a signed store's payload uses the bundle's keys for counter (3) and issued-at (5)
	"$PY" "$RESIGN" "$PROV_HOME/signer.key" "$T/s.cose" "$T/max.cose" 3=18446744073709551615 5=9223372036854775808
	run -0 "$PROV" trust inspect "$T/max.cose"
	assert_output_has "signature: valid"
	assert_output_has $'\ncounter:   18446744073709551615\n'
	[[ "$output" != *"counter:   -"* ]] && [[ "$output" != *1969* ]]
	run -0 "$PROV" trust inspect "$T/max.cose" --json
	assert_output_has '"counter": 18446744073709551615,'
	"$PY" -c 'import json, sys
d = json.loads(sys.argv[1])
assert d["signed"]["counter"] == 2**64 - 1 and d["signed"]["status"] == "valid", d["signed"]' "$output"
}
