#!/usr/bin/env bats
# prov install: provisioning over a serial line (SMP, docs/serial-protocol.md)
# into agent-sim on a pty, directly or through tests/tools/lineshim.py (throttled,
# damaged, a device reset).  What the device holds (agent-sim --status --json)
# is checked against the factory database, and the manifest digest against the
# stored bundle recomputed by python3-cbor2.

bats_require_minimum_version 1.5.0
load helper

SIM="$PROV_BUILD/agent-sim"
SHIM="$REPO/tests/tools/lineshim.py"
MQTT="$TPL/mqtt-mtls.json"

teardown() {
	bg_stop_all
}

# new_device NAME ID: storage $T/NAME with a device that trusts the factory signer.
new_device() {
	[ -f "$T/signer.pem" ] || "$PROV" signer export > "$T/signer.pem"
	"$SIM" --storage "$T/$1" --device-id "$2" --signer "$T/signer.pem" --init > "$T/$1.pub"
}

# wait_path FILE: the first line a background process printed.
wait_path() {
	for _ in $(seq 100); do
		[ -s "$1" ] && head -n 1 "$1" | grep -q '^/dev/' && { head -n 1 "$1"; return 0; }
		sleep 0.05
	done
	echo "no path in $1" >&2
	return 1
}

# serve NAME: agent-sim on a pty for storage NAME; sets PORT and DEV_PID.
serve() {
	bg_start "agent-sim-$1" "$SIM" --storage "$T/$1" --pty > "$T/$1.pty" 2> "$T/$1.log" 3>&-
	DEV_PID=$BG_PID
	PORT=$(wait_path "$T/$1.pty")
}

# shim NAME ARGS...: agent-sim NAME behind lineshim.py with ARGS; sets PORT and
# DEV_PID (the shim's).
shim() {
	local name=$1
	shift
	bg_start "lineshim-$name" "$PY" "$SHIM" "$@" --stats "$T/$name.stats" -- "$SIM" --storage "$T/$name" --pty \
		> "$T/$name.shim" 2> "$T/$name.shimlog" 3>&-
	DEV_PID=$BG_PID
	PORT=$(wait_path "$T/$name.shim")
}

# status NAME FIELD: a field of agent-sim --status --json.
status() {
	"$SIM" --storage "$T/$1" --status --json | "$PY" -c "import json,sys; print(json.load(sys.stdin)$2)"
}

# The manifest digest of the stored bundle of device $1 with counter $2, by cbor2.
bundle_digest() {
	db "SELECT hex(data) FROM bundles WHERE device_id='$1' AND counter=$2" |
		"$PY" -c '
import cbor2, hashlib, sys
b = bytes.fromhex(sys.stdin.read().strip())
print(hashlib.sha256(cbor2.loads(b).value[2]).hexdigest())'
}

# check_installed NAME ID: device and database agree on counter and digest.
check_installed() {
	local ctr dig
	ctr=$(status "$1" '["counter"]')
	dig=$(status "$1" '["manifest_digest"]')
	[ "$ctr" -ge 1 ]
	[ "$(db "SELECT lower(hex(manifest_digest)) FROM installs WHERE device_id='$2' AND counter=$ctr")" = "$dig" ]
	[ "$(bundle_digest "$2" "$ctr")" = "$dig" ]
	[ "$(db "SELECT status FROM devices WHERE id='$2'")" = installed ]
}

@test "install over a pty: a fresh agent-sim is provisioned, recorded with its receipt, keys by ID" {
	make_factory
	new_device d1 dev-1
	serve d1
	run --separate-stderr "$PROV" install --port "$PORT" --template "$MQTT" --json
	assert_status 0
	echo "$output" | "$PY" -c '
import json, sys
lines = sys.stdin.read().splitlines()
assert len(lines) == 1, lines
j = json.loads(lines[0])
assert j["result"] == "installed" and j["device"] == "dev-1" and j["counter"] == 1, j
assert j["minted"] == "new" and j["key_origin"] == "csr" and j["error"] is None, j
assert j["bundle_bytes"] > 900 and j["wire_bytes_out"] > j["bundle_bytes"], j'
	bg_kill "$DEV_PID"; wait "$DEV_PID" 2>/dev/null || true
	check_installed d1 dev-1
	# The private key was made on the device (PSA key ID), its certificate minted here.
	[ "$(status d1 '["slots"][0]["entries"][1]["type"]')" = private-key ]
	[ "$(status d1 '["slots"][0]["entries"][1]["key_id"]')" -gt 0 ]
	run "$PROV" show dev-1
	assert_status 0
	assert_output_has "status:     installed"
	assert_output_has "key:        gen 1 p256 from csr"
	assert_output_has "install:    counter 1 at"
	assert_output_has "receipt"
	[[ "$output" != *"pending:"* ]]
	# The recorded receipt verifies again (already recorded, nothing added).
	db "SELECT hex(receipt) FROM installs WHERE device_id='dev-1'" |
		"$PY" -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))' > "$T/r.cbor"
	run "$PROV" receipt verify "$T/r.cbor"
	assert_status 0
	assert_output_has "already recorded"
}

@test "rerun: already provisioned changes nothing; --rotate installs new credentials" {
	make_factory
	new_device d1 dev-1
	serve d1
	"$PROV" install --port "$PORT" --template "$MQTT" >/dev/null
	before=$(db "SELECT (SELECT count(*) FROM audit)||'/'||(SELECT count(*) FROM bundles)||'/'||(SELECT count(*) FROM installs)")
	run "$PROV" install --port "$PORT" --template "$MQTT"
	assert_status 0
	assert_output_has "dev-1 already provisioned: bundle 1 installed and recorded; nothing changed"
	[ "$(db "SELECT (SELECT count(*) FROM audit)||'/'||(SELECT count(*) FROM bundles)||'/'||(SELECT count(*) FROM installs)")" = "$before" ]
	run "$PROV" install --port "$PORT" --template "$MQTT" --rotate --json
	assert_status 0
	assert_output_has '"minted":"rotated"'
	assert_output_has '"counter":2'
	bg_kill "$DEV_PID"; wait "$DEV_PID" 2>/dev/null || true
	check_installed d1 dev-1
	[ "$(db "SELECT max(generation) FROM device_keys WHERE device_id='dev-1'")" = 2 ]
}

@test "damaged line: 115200 baud, 1/1000 bytes dropped and flipped, logs every 100 ms, a reset mid-upload" {
	make_factory
	new_device d1 dev-1
	shim d1 --baud 115200 --drop 0.001 --flip 0.001 --log-every 0.1 --reset-after 800 --seed 3
	run --separate-stderr "$PROV" install --port "$PORT" --template "$MQTT" --timeout 250 --json
	assert_status 0
	assert_output_has '"result":"installed"'
	bg_kill "$DEV_PID"; wait "$DEV_PID" 2>/dev/null || true
	"$PY" -c '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["resets"] == 1 and s["logs"] > 5 and s["dropped"] + s["flipped"] > 5, s' "$T/d1.stats"
	# The reset cost a session: the device's new nonce needed a new bundle.
	echo "$output" | "$PY" -c 'import json,sys; j=json.loads(sys.stdin.read()); assert j["sessions"] >= 2 and j["retries"] > 0, j'
	check_installed d1 dev-1
	# Nothing wrong installed: only bundles the factory issued, the newest one.
	[ "$(status d1 '["counter"]')" = "$(db "SELECT max(counter) FROM bundles WHERE device_id='dev-1'")" ]
}

@test "eight agent-sims on eight ptys, provisioned concurrently by one command" {
	make_factory
	args=()
	for i in 1 2 3 4 5 6 7 8; do
		new_device "d$i" "node-$i"
		serve "d$i"
		args+=(--port "$PORT")
	done
	run --separate-stderr "$PROV" install "${args[@]}" --template "$MQTT" --json
	assert_status 0
	[ "$(echo "$output" | grep -c '"result":"installed"')" = 8 ]
	bg_stop_all
	for i in 1 2 3 4 5 6 7 8; do check_installed "d$i" "node-$i"; done
	[ "$("$PROV" list --status installed --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["count"])')" = 8 ]
	[ "$(db "SELECT count(DISTINCT device_id) FROM installs")" = 8 ]
}

@test "bad inputs: usage, no such port, not a terminal, a device that does not answer" {
	make_factory
	run --separate-stderr "$PROV" install --port /dev/null
	assert_status 2
	run --separate-stderr "$PROV" install --port /dev/null --template "$MQTT" --baud 12345
	assert_status 2
	[[ "$stderr" == *"--baud: \"12345\" is not a supported line speed"* ]]
	run --separate-stderr "$PROV" install --port "$T/none" --template "$MQTT"
	assert_status 4
	[[ "$stderr" == "prov: install: $T/none: port $T/none: No such file or directory" ]]
	run --separate-stderr "$PROV" install --port /dev/null --template "$MQTT"
	assert_status 3
	[[ "$stderr" == *"port /dev/null: not a terminal"* ]]
	new_device d1 dev-1
	shim d1 --drop 1.0
	run --separate-stderr "$PROV" install --port "$PORT" --template "$MQTT" --timeout 100 --tries 3
	assert_status 8
	[[ "$stderr" == *"device info: port $PORT: no answer from the device (group 80 command 0): timed out after 3 tries over 0.7 s"* ]]
	[ "$(db "SELECT count(*) FROM devices")" = 0 ]
	# Several ports: the first failure's status; the good port is still provisioned.
	new_device d2 dev-2
	serve d2
	run --separate-stderr "$PROV" install --port "$T/none" --port "$PORT" --template "$MQTT"
	assert_status 4
	assert_output_has "dev-2 installed: bundle 1"
}

@test "device ID conflicts: two devices with one ID, and a device the factory knows by another key" {
	make_factory
	new_device a same-id
	new_device b same-id
	serve a; pa=$PORT
	serve b; pb=$PORT
	run --separate-stderr "$PROV" install --port "$pa" --port "$pb" --template "$MQTT" --json
	assert_status 5
	[ "$(echo "$output" | grep -c '"result":"installed"')" = 1 ]
	assert_output_has "device ID conflict"
	# Alone, one is provisioned already and the other is not the device the
	# factory registered under that ID.
	codes=""
	for p in "$pa" "$pb"; do
		run --separate-stderr "$PROV" install --port "$p" --template "$MQTT"
		codes="$codes$status"
		[ "$status" = 0 ] || [[ "$stderr" == *"device ID conflict: same-id is registered with another device key"* ]]
	done
	[ "$codes" = 05 ] || [ "$codes" = 50 ]
	[ "$(db "SELECT count(*) FROM installs")" = 1 ]
}

@test "prov killed (-9) mid-upload: the device shows pending; a rerun finishes it" {
	make_factory
	new_device d1 dev-1
	shim d1 --baud 9600
	bg_start prov-install "$PROV" install --port "$PORT" --template "$MQTT" > "$T/out" 2>&1 3>&-
	pid=$BG_PID
	for _ in $(seq 200); do
		[ "$(db "SELECT count(*) FROM bundles" 2>/dev/null)" = 1 ] && break
		sleep 0.02
	done
	sleep 0.3
	bg_kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	[ "$(db "SELECT count(*) FROM installs")" = 0 ]
	run "$PROV" list --status pending
	assert_status 0
	assert_output_has "dev-1"
	run "$PROV" show dev-1
	assert_output_has "pending:    bundle 1 issued, not installed"
	run --separate-stderr "$PROV" install --port "$PORT" --template "$MQTT" --json
	assert_status 0
	assert_output_has '"result":"installed"'
	assert_output_has '"minted":"reused"'
	run "$PROV" list --status pending
	assert_status 0
	[ "${#lines[@]}" = 1 ]
	[[ "${lines[0]}" == "DEVICE "* ]]   # the header, no device
	bg_kill "$DEV_PID"; wait "$DEV_PID" 2>/dev/null || true
	check_installed d1 dev-1
}

@test "committed on the device, never recorded: the rerun records it from the status receipt" {
	make_factory
	new_device d1 dev-1
	serve d1
	"$PROV" install --port "$PORT" --template "$MQTT" >/dev/null
	# The host crashed between the device's commit and the record.
	db "DELETE FROM installs; UPDATE devices SET status = 'bundled'"
	run "$PROV" show dev-1
	assert_output_has "pending:    bundle 1 issued, not installed"
	run --separate-stderr "$PROV" install --port "$PORT" --template "$MQTT"
	assert_status 0
	assert_output_has "dev-1 had installed bundle 1; its receipt is now recorded"
	[ "$(db "SELECT count(*) FROM bundles")" = 1 ]
	bg_kill "$DEV_PID"; wait "$DEV_PID" 2>/dev/null || true
	check_installed d1 dev-1
}

@test "--trust: the device gets the store's anchors in the trust slot; a missing file is exit 4" {
	make_factory
	"$PROV" trust build --from /etc/ssl/certs/ca-certificates.crt --select "ISRG Root X1" \
		--out "$T/roots.store" >/dev/null
	new_device d1 dev-1
	serve d1
	run --separate-stderr "$PROV" install --port "$PORT" --template "$MQTT" --trust "$T/none.store"
	assert_status 4
	[[ "$stderr" == *"trust file $T/none.store: "* ]]
	[ "$(db "SELECT count(*) FROM devices")" = 0 ]
	run --separate-stderr "$PROV" install --port "$PORT" --template "$MQTT" --trust "$T/roots.store"
	assert_status 0
	bg_kill "$DEV_PID"; wait "$DEV_PID" 2>/dev/null || true
	check_installed d1 dev-1
	[ "$(status d1 '["slots"][0]["entries"][2]["type"]')" = trust-store ]
	[ "$(status d1 '["slots"][0]["entries"][2]["size"]')" = "$(stat -c %s "$T/roots.store")" ]
}

@test "a port name with terminal controls: escaped in the progress lines on a terminal, the result and --json" {
	if ! command -v script >/dev/null; then
		skip "no script(1) to give prov install a terminal"
	fi
	make_factory
	new_device d1 dev-1
	serve d1
	# A name that retitles the terminal, rings, and breaks the line.
	export HOSTILE_PORT="$T/port"$'\e]0;pwned\a\nX'
	ln -s "$PORT" "$HOSTILE_PORT"
	export PROV MQTT
	script -qec 'exec "$PROV" install --port "$HOSTILE_PORT" --template "$MQTT"' /dev/null >"$T/tty" 2>&1
	# The progress block was drawn (its own cursor controls), the name escaped in it.
	grep -aqF $'\e[K' "$T/tty"
	grep -aqF 'port\x1b]0;pwned\x07\nX' "$T/tty"
	grep -aqF 'port\x1b]0;pwned\x07\nX: dev-1 installed: bundle 1' "$T/tty"
	# Nothing of the name reached the terminal raw: no OSC, no BEL.
	run grep -acF $'\e]' "$T/tty"
	[ "$output" = 0 ]
	run grep -acF $'\a' "$T/tty"
	[ "$output" = 0 ]
	run -0 "$PROV" install --port "$HOSTILE_PORT" --template "$MQTT" --json
	"$PY" -c 'import json, sys
j = json.loads(sys.argv[1])
assert j["port"].endswith("port\x1b]0;pwned\x07\nX") and j["result"] == "already-provisioned", j' "$output"
}
