#!/usr/bin/env bats
# trust_install.bats - host and device agree on a trust store (issue 10, section
# 4): every malformed store of tests/fixtures/truststore/ (expect.txt: one per
# rule of "What a reader rejects", docs/truststore-format.md) is refused by
# `prov trust inspect`, by `prov inspect` inside a factory-signed bundle, and by
# the agent when that bundle is installed (agent-sim --install: exit 22
# PA_V_BAD_ENTRY, storage unchanged).  The bundles are the factory's own,
# their trust-store entry replaced and signed again with the factory's signer
# (tests/py/truststore_bad.py rebundle), as a factory that signed a bad store
# would send them; the same bundle with a good store installs.

bats_require_minimum_version 1.5.0
load helper

FX="$REPO/tests/fixtures/truststore"
BAD="$REPO/tests/py/truststore_bad.py"
SIM="$PROV_BUILD/agent-sim"

# SHA-256 over every file of the storage directory (names and contents).
storage_digest() {
	(cd "$1" && find . -type f | LC_ALL=C sort | while read -r f; do
		echo "$f"; sha256sum < "$f"; done) | sha256sum
}

setup() {
	T="$BATS_TEST_TMPDIR"
	export PROV_HOME="$T/factory"
	unset PROV_PASSPHRASE PROV_NOW
	make_factory
	"$PROV" signer export > "$T/signer.pem"
	"$SIM" --storage "$T/dev" --device-id D --signer "$T/signer.pem" --init > "$T/dev.pub"
	"$PROV" mint --template "$TPL/https-client.json" --device D --recipient-key "$T/dev.pub" >/dev/null
	"$PROV" bundle --device D --out "$T/base.cbor" >/dev/null
}

@test "every malformed store is refused by prov and by the agent at install, storage unchanged" {
	local name host dev n=0 before
	before=$(storage_digest "$T/dev")
	while IFS=$'\t' read -r name host dev; do
		case $name in '#'* | '') continue ;; esac
		n=$((n + 1))
		# the host, on the store alone
		run "$PROV" trust inspect "$FX/$name.store"
		[ "$status" -eq 3 ] || { echo "$name: prov trust inspect exit $status: $output" >&2; return 1; }
		[[ "$output" == *"$host"* ]] || { echo "$name: prov said: $output" >&2; return 1; }
		# in a factory-signed bundle: prov inspect, then the device
		"$PY" "$BAD" rebundle "$T/base.cbor" "$FX/$name.store" "$PROV_HOME/signer.key" "$T/$name.cbor"
		run "$PROV" inspect "$T/$name.cbor"
		[ "$status" -eq 3 ] || { echo "$name: prov inspect exit $status: $output" >&2; return 1; }
		[[ "$output" == *"(trust store): "*"$host"* ]] || { echo "$name: prov inspect said: $output" >&2; return 1; }
		run "$SIM" --storage "$T/dev" --install "$T/$name.cbor"
		[ "$status" -eq 22 ] || { echo "$name: agent-sim --install exit $status: $output" >&2; return 1; }
		[ "$(storage_digest "$T/dev")" = "$before" ] || { echo "$name: storage changed" >&2; return 1; }
	done < "$FX/expect.txt"
	echo "$n malformed stores: refused by prov trust inspect, prov inspect and agent-sim --install" >&3
	[ "$n" -ge 40 ]
	# the control: the same bundle with a good store (anchors and pins) installs
	run "$PROV" trust inspect "$FX/good.store"
	assert_status 0
	"$PY" "$BAD" rebundle "$T/base.cbor" "$FX/good.store" "$PROV_HOME/signer.key" "$T/good.cbor"
	run "$PROV" inspect "$T/good.cbor" --json
	assert_status 0
	[ "$(echo "$output" | jq '[.entries[] | select(.type == "trust-store") | .pins | length] | .[0]')" = 2 ]
	run "$SIM" --storage "$T/dev" --install "$T/good.cbor"
	assert_status 0
	[ "$(storage_digest "$T/dev")" != "$before" ]
}

@test "the fixtures are what tests/py/truststore_bad.py makes (deterministic, nothing hand-edited)" {
	"$PY" "$BAD" make "$T/fx" >/dev/null
	diff -r "$FX" "$T/fx"
}
