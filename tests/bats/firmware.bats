#!/usr/bin/env bats
# The provisioning firmware on an emulated Cortex-M4 (QEMU mps2-an386,
# docs/firmware.md): provisioned over its UART on a pty by `prov install` and
# by tests/py/smp_client.py (our independent SMP client), power-cycled by
# stopping and starting QEMU (its flash persists in DIR/flash.bin), and cut at
# flash operations.  Each test builds the image for its own factory (the
# signer compiled in from `prov signer export --format c`: one object and a
# link).  What the device holds is read over SMP (status) and checked against
# the factory database and the stored bundle (python3-cbor2).

bats_require_minimum_version 1.5.0
load helper

QDEV="$REPO/scripts/qemu-device.sh"
SMPC="$REPO/tests/py/smp_client.py"
MQTT="$TPL/mqtt-mtls.json"
PSK="$TPL/coaps-psk.json"

setup() {
	T="$BATS_TEST_TMPDIR"
	bg_init
	export PROV_HOME="$T/factory"
	unset PROV_PASSPHRASE PROV_NOW
	command -v qemu-system-arm >/dev/null 2>&1 ||
		skip "qemu-system-arm is not installed (scripts/deps.sh installs it)"
	command -v arm-none-eabi-gcc >/dev/null 2>&1 ||
		skip "arm-none-eabi-gcc is not installed (scripts/deps.sh installs it)"
}

# Every runner still going gets SIGTERM (qemu-device.sh then stops QEMU), and
# must end (helper.bash: bg_stop_all).
teardown() {
	bg_stop_all
}

# A factory and its firmware image ($T/fw/provkit-an386.elf).
factory_and_image() {
	make_factory
	"$PROV" signer export --format c > "$T/signer.h"
	make -s -C "$REPO" -f firmware-agent/Makefile BUILD="$PROV_BUILD" firmware \
		SIGNER_H="$T/signer.h" FW_OUT="$T/fw/provkit-an386" > "$T/fw.log" 2>&1 ||
		{ cat "$T/fw.log" >&2; return 1; }
	[ -f "$T/fw/provkit-an386.elf" ]
}

# ups NAME: start lines on the device's debug channel (console.log accumulates
# over power cycles).
ups() {
	grep -c 'up, device' "$T/$1/console.log" 2>/dev/null || true
}

# start NAME [ARGS...]: QEMU with device directory $T/NAME; sets PORT.
start() {
	local name=$1 i before
	shift
	before=$(ups "$name")
	rm -f "$T/$name.port"
	sh "$QDEV" --image "$T/fw/provkit-an386.elf" "$@" "$T/$name" > "$T/$name.port" 2> "$T/$name.err" &
	mkdir -p "$T/$name"
	echo $! > "$T/$name/runner.pid"
	bg_record "qemu-device.sh-$name" $!
	for i in $(seq 200); do
		if head -n 1 "$T/$name.port" 2>/dev/null | grep -q '^/dev/'; then
			PORT=$(head -n 1 "$T/$name.port")
			# the firmware is up when its start line is on the debug channel
			for i in $(seq 200); do
				[ "$(ups "$name")" -gt "${before:-0}" ] && return 0
				sleep 0.02
			done
			break
		fi
		sleep 0.02
	done
	echo "device $name did not start: $(cat "$T/$name.err")" >&2
	return 1
}

# stop NAME: SIGTERM to qemu-device.sh (QEMU stops: a power cycle); status 0.
stop() {
	local pid
	pid=$(cat "$T/$1/runner.pid")
	bg_kill "$pid"
	wait "$pid"
	rm -f "$T/$1/runner.pid"
	[ ! -f "$T/$1/qemu.pid" ]
}

# smp NAME ARGS...: tests/py/smp_client.py on the device's port.  QEMU notices
# a newly opened pty within a second and reads nothing before: a short
# timeout resends the request (same sequence number) until it does.
smp() {
	local name=$1
	shift
	"$PY" "$SMPC" "$PORT" "$@" --timeout 0.25
}

# field JSON EXPR: a value of a JSON document.
field() {
	echo "$1" | "$PY" -c "import json,sys; print(json.load(sys.stdin)$2)"
}

# The manifest digest of device $1's bundle $2 as stored in the database, by cbor2.
bundle_digest() {
	db "SELECT hex(data) FROM bundles WHERE device_id='$1' AND counter=$2" | "$PY" -c '
import cbor2, hashlib, sys
b = bytes.fromhex(sys.stdin.read().strip())
print(hashlib.sha256(cbor2.loads(b).value[2]).hexdigest())'
}

# installed ID STATUS-JSON: the device's status agrees with the database.
installed() {
	local ctr dig
	ctr=$(field "$2" '["ctr"]')
	dig=$(field "$2" '["digest"]')
	[ "$ctr" -ge 1 ]
	[ "$(db "SELECT lower(hex(manifest_digest)) FROM installs WHERE device_id='$1' AND counter=$ctr")" = "$dig" ]
	[ "$(bundle_digest "$1" "$ctr")" = "$dig" ]
}

# What a status says about the installed set: counter, digest, (slot, type, key ID).
summary() {
	echo "$1" | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
print(s["ctr"], s["digest"], sorted((e["slot"], e["type"], e.get("kid", 0)) for e in s["slots"]))'
}

# A healthy run: no fault, no received byte lost, the painted stack kept at
# least 256 bytes untouched and the Mbed TLS pool at least 128 (its high-water
# moves with the lengths of signatures and certificates: 3,532 to 3,604 of
# 3,840 bytes seen, so 256 would fail on a valid run now and then).
healthy() {
	run grep -c '^\[fault\]\|fatal' "$T/$1/console.log"
	[ "$output" = 0 ]
	run grep -c 'overruns=[1-9]' "$T/$1/console.log"
	[ "$output" = 0 ]
	grep '^\[stats\]' "$T/$1/console.log" | tr ' ' '\n' | grep -E '^(stack|pool)=' | awk -F'[=/]' '
		{ n++; m = ($1 == "pool") ? 128 : 256
		  if ($3 - $2 < m) { print "high-water too close to the limit: " $0; bad = 1 } }
		END { exit (n == 0 || bad) }' >&2
}

# provision_and_power_cycle TEMPLATE: a fresh device provisioned by prov install,
# stopped and started, and prov install again; sets INSTALL (its JSON) and S1
# (the device's status after the install).
provision_and_power_cycle() {
	factory_and_image
	start dev-a --device-id fw-dev-1
	run --separate-stderr "$PROV" install --port "$PORT" --template "$1" --json
	assert_status 0
	INSTALL=$output
	[ "$(field "$INSTALL" '["result"]')" = installed ]
	[ "$(field "$INSTALL" '["device"]')" = fw-dev-1 ]
	[ "$(field "$INSTALL" '["counter"]')" = 1 ]
	S1=$(smp dev-a status)
	installed fw-dev-1 "$S1"
	[ -n "$(field "$S1" '["receipt"]')" ]
	# power cycle: QEMU stops, the flash file stays, QEMU starts on it
	stop dev-a
	[ "$(stat -c %s "$T/dev-a/flash.bin")" = 32768 ]
	start dev-a
	run --separate-stderr "$PROV" install --port "$PORT" --template "$1"
	assert_status 0
	assert_output_has "fw-dev-1 already provisioned: bundle 1 installed and recorded; nothing changed"
	s2=$(smp dev-a status)
	[ "$(summary "$s2")" = "$(summary "$S1")" ]
	[ "$(field "$s2" '["receipt"]')" = "$(field "$S1" '["receipt"]')" ]
	[ "$(db "SELECT count(*) FROM installs WHERE device_id='fw-dev-1'")" = 1 ]
	stop dev-a
	healthy dev-a
}

# has_key STATUS TYPE: an entry of that type held as a persistent PSA key.
has_key() {
	echo "$1" | "$PY" -c '
import json, sys
s = json.load(sys.stdin)
assert any(e["type"] == int(sys.argv[1]) and e.get("kid", 0) > 0 for e in s["slots"]), s' "$2"
}

@test "firmware: the image links without the C library's heap, with the factory's signer compiled in" {
	factory_and_image
	run arm-none-eabi-nm "$T/fw/provkit-an386.elf"
	assert_status 0
	# Mbed TLS's own allocator (its init is inlined by LTO; the calloc hook,
	# reached through a pointer, is not)
	assert_output_has "buffer_alloc_calloc"
	assert_output_has "Reset_Handler"
	heap=$(echo "$output" | awk '{ print $NF }' | grep -Ec '^(malloc|free|calloc|realloc|_malloc_r|_free_r|_sbrk)$' || true)
	[ "$heap" = 0 ]
	# the kid in the image is the factory's (the signer header's 8 bytes)
	kid=$(sed -n '/_KID {/,/}/p' "$T/signer.h" | grep -o '0x[0-9a-f][0-9a-f]' | tr -d '\n' | sed 's/0x//g')
	[ ${#kid} = 16 ]
	xxd -p "$T/fw/provkit-an386.bin" | tr -d '\n' | grep -q "$kid"
}

@test "firmware: mqtt-mtls over the UART: keygen and CSR on the device, install, receipt; a power cycle keeps it" {
	provision_and_power_cycle "$MQTT"
	[ "$(field "$INSTALL" '["key_origin"]')" = csr ]
	has_key "$S1" 3   # the private key made on the device, a PSA key ID
}

@test "firmware: coaps-psk over the UART (secrets by ECDH-ES to the device key); a power cycle keeps it" {
	provision_and_power_cycle "$PSK"
	has_key "$S1" 4   # the PSK imported into PSA, a persistent key ID
}

# refused NAME FILE CODE: smp_client uploads and commits FILE; the device
# answers error CODE (docs/agent.md) and neither its flash nor its status moved.
refused() {
	local before_flash before_status
	before_flash=$(sha256sum < "$T/$1/flash.bin")
	before_status=$(summary "$(smp "$1" status)")
	# (chunks that fit the image's 256-byte SMP requests with their header)
	run smp "$1" install "$2" --chunk 176
	[ "$status" -eq 1 ]
	[ "$(field "$output" '["err"]["rc"]')" = "$3" ]
	[ "$(sha256sum < "$T/$1/flash.bin")" = "$before_flash" ]
	[ "$(summary "$(smp "$1" status)")" = "$before_status" ]
}

@test "firmware: rotation, then bundles for another device, replayed and truncated are refused with storage unchanged; a wipe" {
	factory_and_image
	start dev-a --device-id fw-dev-1
	"$PROV" install --port "$PORT" --template "$MQTT" > /dev/null
	s1=$(smp dev-a status)
	# rotation: new credentials and a new device key, counter 2
	run --separate-stderr "$PROV" install --port "$PORT" --template "$MQTT" --rotate --json
	assert_status 0
	[ "$(field "$output" '["minted"]')" = rotated ]
	s2=$(smp dev-a status)
	[ "$(field "$s2" '["ctr"]')" = 2 ]
	installed fw-dev-1 "$s2"
	[ "$(summary "$s2")" != "$(summary "$s1")" ]
	nonce=$(field "$(smp dev-a info)" '["nonce"]')
	# a bundle for another device, bound to this session's nonce: 18
	make_device_key other
	"$PROV" mint --template "$MQTT" --device other-1 --csr "$T/other.csr" > /dev/null
	"$PROV" bundle --device other-1 --nonce "$nonce" --out "$T/other.cbor" > /dev/null
	refused dev-a "$T/other.cbor" 18
	# the installed bundle again: a replay, 19
	db "SELECT hex(data) FROM bundles WHERE device_id='fw-dev-1' AND counter=2" |
		"$PY" -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read().strip()))' > "$T/b2.cbor"
	refused dev-a "$T/b2.cbor" 19
	# a fresh bundle for this device and nonce, cut short by one byte: 11
	"$PROV" bundle --device fw-dev-1 --nonce "$nonce" --out "$T/b3.cbor" > /dev/null
	head -c "$(($(stat -c %s "$T/b3.cbor") - 1))" "$T/b3.cbor" > "$T/b3-short.cbor"
	refused dev-a "$T/b3-short.cbor" 11
	# PA_BUNDLE_MAX bytes of noise, in 440-byte chunks (full-size SMP packets on
	# the UART, no byte lost): not a COSE_Sign1, 12
	head -c 4096 /dev/urandom > "$T/noise.cbor"
	refused dev-a "$T/noise.cbor" 12
	# the session is still good: a signed wipe installs, the set is gone
	"$PROV" bundle --device fw-dev-1 --wipe --nonce "$nonce" --out "$T/wipe.cbor" > /dev/null
	run smp dev-a install "$T/wipe.cbor"
	assert_status 0
	s4=$(smp dev-a status)
	[ "$(field "$s4" '["ctr"]')" = 4 ]
	[ "$(field "$s4" '["slots"]')" = "[]" ]
	# and stays gone across a power cycle
	stop dev-a
	start dev-a
	[ "$(summary "$(smp dev-a status)")" = "$(summary "$s4")" ]
	stop dev-a
	healthy dev-a
}

# ec_ca CURVE NAME: a self-signed CA certificate on CURVE in $T/NAME.pem
ec_ca() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:"$1" -nodes -keyout "$T/$2.key" \
		-subj "/CN=$2" -days 3650 -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign -out "$T/$2.pem" 2>/dev/null
}

@test "firmware: P-384 and P-521 trust anchors checked on the device with p and b alone: on the curve installed, off it refused" {
	factory_and_image
	start dev-a --device-id fw-dev-1
	"$PROV" install --port "$PORT" --template "$MQTT" > /dev/null
	# a store with a P-384 and a P-521 root (the image has neither curve's
	# arithmetic: trust/pa_trust_check.c), through prov install --trust
	ec_ca P-384 root-384
	ec_ca P-521 root-521
	"$PROV" trust build --from "$T/root-384.pem" --from "$T/root-521.pem" --all --out "$T/ec.store" > /dev/null
	run "$PROV" trust inspect "$T/ec.store"
	assert_status 0
	assert_output_has p384
	assert_output_has p521
	run --separate-stderr "$PROV" install --port "$PORT" --template "$MQTT" --rotate --trust "$T/ec.store" --json
	assert_status 0
	[ "$(field "$output" '["counter"]')" = 2 ]
	installed fw-dev-1 "$(smp dev-a status)"
	# the same bundle with a point moved off its curve, signed by the factory:
	# refused by the device (22), storage unchanged
	nonce=$(field "$(smp dev-a info)" '["nonce"]')
	"$PROV" bundle --device fw-dev-1 --nonce "$nonce" --out "$T/base.cbor" > /dev/null
	for c in p384 p521; do
		"$PY" "$REPO/tests/py/truststore_bad.py" rebundle "$T/base.cbor" \
			"$REPO/tests/fixtures/truststore/$c-point-off-curve.store" "$PROV_HOME/signer.key" "$T/$c.cbor"
		refused dev-a "$T/$c.cbor" 22
	done
	# and the good store again, in a bundle of this session: installed
	"$PY" "$REPO/tests/py/truststore_bad.py" rebundle "$T/base.cbor" "$T/ec.store" \
		"$PROV_HOME/signer.key" "$T/good.cbor"
	run smp dev-a install "$T/good.cbor" --chunk 176
	assert_status 0
	[ "$(field "$(smp dev-a status)" '["ctr"]')" = 3 ]
	stop dev-a
	healthy dev-a
}

@test "firmware: four emulated devices on four ptys, one prov install" {
	factory_and_image
	ports=()
	for i in 1 2 3 4; do
		start "dev-$i" --device-id "fw-node-$i"
		ports+=(--port "$PORT")
	done
	run --separate-stderr "$PROV" install "${ports[@]}" --template "$MQTT" --json
	assert_status 0
	[ "$(echo "$output" | grep -c '"result":"installed"')" = 4 ]
	for i in 1 2 3 4; do
		PORT=$(head -n 1 "$T/dev-$i.port")
		installed "fw-node-$i" "$(smp "dev-$i" status)"
	done
	[ "$(db "SELECT count(*) FROM installs")" = 4 ]
	for i in 1 2 3 4; do
		stop "dev-$i"
		healthy "dev-$i"
	done
}

# flash_ops NAME PATTERN: flash operations since start at the last [stats] line
# matching PATTERN on the device's debug channel.
flash_ops() {
	grep "$2" "$T/$1/console.log" | tail -n 1 | tr ' ' '\n' | sed -n 's/^flash_ops=//p'
}

# FW_CUTS=all cuts at every flash operation of the rotation (about 4 minutes).
@test "firmware: power cuts at flash operations during a rotation over the UART: each restart holds the old set or the new one" {
	factory_and_image
	start dev-a --device-id fw-dev-1
	"$PROV" install --port "$PORT" --template "$MQTT" > /dev/null
	old=$(summary "$(smp dev-a status)")
	stop dev-a
	cp "$T/dev-a/flash.bin" "$T/flash-old.bin"
	cp -R "$PROV_HOME" "$T/factory-old"
	# the reference rotation: how many flash operations it takes after start
	start dev-a
	boot=$(flash_ops dev-a '^\[stats\] start')
	"$PROV" install --port "$PORT" --template "$MQTT" --rotate > /dev/null
	total=$(( $(flash_ops dev-a 'group=80 id=3 rc=0') - boot ))
	ref=$(summary "$(smp dev-a status)")
	stop dev-a
	[ "$total" -ge 4 ]
	# cut points: ten spread over the rotation's operations, every other one
	# torn; FW_CUTS=all: every operation, cut and torn (2 x total runs)
	specs=""
	case ${FW_CUTS:-} in
	'' | all) ;;
	*) echo "FW_CUTS=$FW_CUTS: only FW_CUTS=all (every operation) or unset (ten cuts)" >&2; return 1 ;;
	esac
	if [ "${FW_CUTS:-}" = all ]; then
		for n in $(seq $((boot + 1)) $((boot + total))); do specs="$specs $n $n:tear"; done
	else
		for k in 1 2 3 4 5 6 7 8 9 10; do
			n=$(( boot + 1 + (k - 1) * (total - 2) / 9 ))
			[ $((k % 2)) = 0 ] && n="$n:tear"
			specs="$specs $n"
		done
	fi
	tried=0 olds=0 news=0 lost=0 unreached=0
	for spec in $specs; do
		cp "$T/flash-old.bin" "$T/dev-a/flash.bin"
		rm -rf "$PROV_HOME" && cp -R "$T/factory-old" "$PROV_HOME"
		start dev-a --cut "$spec"
		"$PROV" install --port "$PORT" --template "$MQTT" --rotate > "$T/cut.out" 2>&1 &
		pi=$!
		bg_record prov-install "$pi"
		# the device stops at the cut: qemu-device.sh exits 86.  A rotation's
		# operation count varies by one or two (records of a few bytes more or
		# less take one program more or less), so a cut near the end may not be
		# reached: prov install then succeeds and the device runs on.
		rp=$(cat "$T/dev-a/runner.pid")
		for _ in $(seq 1500); do
			bg_alive "$rp" || break
			bg_alive "$pi" || { sleep 0.5; break; }
			sleep 0.02
		done
		bg_kill "$pi" 2>/dev/null || true
		wait "$pi" 2>/dev/null || true
		st=0
		bg_alive "$rp" && bg_kill "$rp"
		wait "$rp" || st=$?
		rm -f "$T/dev-a/runner.pid"
		if [ "$st" -eq 0 ] && grep -q '"result":"installed"\|installed: bundle' "$T/cut.out"; then
			unreached=$((unreached + 1))
			continue
		fi
		[ "$st" -eq 86 ] || { echo "cut $spec: device exit $st" >&2; return 1; }
		tried=$((tried + 1))
		# power back on: the set is wholly old or wholly new
		start dev-a
		s=$(smp dev-a status)
		if [ "$(summary "$s")" = "$old" ]; then
			olds=$((olds + 1))
		else
			[ "$(field "$s" '["ctr"]')" = 2 ] || { echo "cut $spec: $(summary "$s")" >&2; return 1; }
			[ "$(field "$s" '["digest"]')" = "$(bundle_digest fw-dev-1 2)" ]
			# the same entries and key IDs as the uncut rotation's
			[ "$(summary "$s" | cut -d' ' -f3-)" = "$(echo "$ref" | cut -d' ' -f3-)" ]
			news=$((news + 1))
		fi
		# whichever set it holds, it holds that set's receipt: the commit
		# record carries it (store/pa_store.c), so no cut separates the two.
		# A set without its receipt would leave prov nothing to record (exit 3,
		# "carries no receipt"): counted, and the test fails if there is any.
		if [ -z "$(field "$s" '["receipt"]' 2>/dev/null)" ]; then
			echo "cut $spec: counter $(field "$s" '["ctr"]') without its receipt" >&2
			lost=$((lost + 1))
			stop dev-a
			continue
		fi
		# and the factory brings it to a recorded install from either state: the
		# old set as it was recorded, or the new one's receipt recorded now
		run --separate-stderr "$PROV" install --port "$PORT" --template "$MQTT" --json
		assert_status 0
		case $(field "$output" '["result"]') in
		already-provisioned) [ "$(field "$output" '["counter"]')" = 1 ] ;;
		recorded) [ "$(field "$output" '["counter"]')" = 2 ] ;;
		*) echo "$output" >&2; return 1 ;;
		esac
		# what prov read from the device (status over SMP) is what it recorded
		installed fw-dev-1 "$(echo "$output" | "$PY" -c '
import json, sys
j = json.load(sys.stdin)
print(json.dumps({"ctr": j["counter"], "digest": j["digest"]}))')"
		stop dev-a
		healthy dev-a
	done
	echo "# power cuts on QEMU: $tried tried over the $total flash operations of a rotation: $olds old, $news new, $lost without their receipt, 0 inconsistent; $unreached past the end of a shorter rotation" >&3
	[ "$lost" = 0 ]
	[ $((tried + unreached)) = "$(echo $specs | wc -w)" ] && [ "$tried" -ge 8 ]
}

@test "firmware: the device ID is adopted once from the factory's file and kept in flash; an invalid one is refused" {
	factory_and_image
	mkdir -p "$T/dev-a"
	# 65 characters, then a character bundle.cddl does not allow: no start, nothing stored
	k=0
	for bad in "$(printf 'a%.0s' $(seq 65))" "dev 1"; do
		k=$((k + 1))
		printf '%s\n' "$bad" > "$T/dev-a/device-id"
		sh "$QDEV" --image "$T/fw/provkit-an386.elf" "$T/dev-a" > "$T/dev-a.port" 2>&1 &
		echo $! > "$T/dev-a/runner.pid"
		bg_record qemu-device.sh-dev-a $!
		for _ in $(seq 200); do
			[ "$(grep -c 'start: device ID failed (62)' "$T/dev-a/console.log" 2>/dev/null)" = "$k" ] && break
			sleep 0.02
		done
		stop dev-a
	done
	run grep -c 'start: device ID failed (62)' "$T/dev-a/console.log"
	[ "$output" = 2 ]
	run grep -c 'up, device' "$T/dev-a/console.log"
	[ "$output" = 0 ]
	printf 'fw-dev-9\n' > "$T/dev-a/device-id"
	start dev-a
	[ "$(field "$(smp dev-a info)" '["dev"]')" = fw-dev-9 ]
	stop dev-a
	# the host's file changes; the device's ID does not
	printf 'someone-else\n' > "$T/dev-a/device-id"
	start dev-a
	[ "$(field "$(smp dev-a info)" '["dev"]')" = fw-dev-9 ]
	stop dev-a
	healthy dev-a
}
