#!/usr/bin/env bats
# agent-sim: the device agent on the host, driven end to end with real bundles
# from prov.  The command contract (docs/agent.md): --init, --pubkey, --install
# [--nonce] [--receipt], --status --json; exit codes are the agent's error codes.
# Independent checks: openssl reads the public key, python3-cbor2/cryptography
# recompute the manifest digest and verify the receipt.  One device, one
# writer: a second agent-sim that would write is refused (exit 9), readers
# (--status, --pubkey) work beside the writer and never recover.

bats_require_minimum_version 1.5.0
load helper

SIM="$PROV_BUILD/agent-sim"

# Every background process of the test (helper.bash: bg_start, bg_stop_all).
teardown() {
	bg_stop_all
}

# one_generation DIR: the records of at most one generation are on storage.
one_generation() {
	[ "$(ls "$1" | grep -c '^pa-504100000000100..rec$')" -eq 0 ] ||
		[ "$(ls "$1" | grep -c '^pa-504100000000110..rec$')" -eq 0 ]
}

# serve: agent-sim --pty on $T/dev in the background; sets SIMPID and PTY.
serve() {
	local i
	PTY=
	rm -f "$T/pty"
	bg_start agent-sim "$SIM" --storage "$T/dev" --pty > "$T/pty" 2>> "$T/sim.log" 3>&-
	SIMPID=$BG_PID
	for i in $(seq 100); do
		PTY=$(head -n 1 "$T/pty" 2>/dev/null)
		[ -n "$PTY" ] && return 0
		sleep 0.05
	done
	echo "agent-sim --pty printed no path" >&2
	return 1
}

# A factory, a device D (mqtt-mtls, secrets to the simulator's key).
setup_device() {
	make_factory
	"$PROV" signer export > "$T/signer.pem"
	"$SIM" --storage "$T/dev" --device-id "${1:-D}" --signer "$T/signer.pem" --init > "$T/dev.pub"
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device "${1:-D}" \
		--recipient-key "$T/dev.pub" >/dev/null
}

# SHA-256 over every file of the storage directory (names and contents).
storage_digest() {
	(cd "$1" && find . -type f | LC_ALL=C sort | while read -r f; do
		echo "$f"; sha256sum < "$f"; done) | sha256sum
}

@test "init prints a P-256 public key; --pubkey prints it again; storage is self-contained" {
	setup_device
	run openssl pkey -pubin -in "$T/dev.pub" -noout -text
	assert_status 0
	assert_output_has "prime256v1"
	run "$SIM" --storage "$T/dev" --pubkey
	assert_status 0
	[ "$output" = "$(cat "$T/dev.pub")" ]
	[ -f "$T/dev/device-id" ]
	[ -f "$T/dev/signers.pem" ]
	ls "$T/dev"/*.psa_its >/dev/null   # PSA's ITS files live in the storage dir
	[ ! -e ./000000002a000001.psa_its ]
}

@test "init refuses an existing device (exit 5) and keeps its key" {
	setup_device
	before=$(storage_digest "$T/dev")
	run "$SIM" --storage "$T/dev" --device-id D --signer "$T/signer.pem" --init
	assert_status 5
	assert_output_has "a device exists already"
	[ "$(storage_digest "$T/dev")" = "$before" ]
}

@test "usage and setup errors: exit 2 for usage, 3 for no device or a bad signer key" {
	run "$SIM" --pubkey
	assert_status 2
	run "$SIM" --storage "$T/none" --pubkey
	assert_status 3
	assert_output_has "no device here"
	echo "not a key" > "$T/bad.pem"
	run "$SIM" --storage "$T/x" --device-id D --signer "$T/bad.pem" --init
	assert_status 3
	make_factory
	"$PROV" signer export > "$T/signer.pem"
	run "$SIM" --storage "$T/x" --device-id "-bad" --signer "$T/signer.pem" --init
	assert_status 2
	run "$SIM" --storage "$T/x" --device-id D --init
	assert_status 2
}

@test "install: exit 0; status shows counter, manifest digest, slots and key IDs, no secrets" {
	setup_device
	"$PROV" bundle --device D --out "$T/b1.cbor" >/dev/null
	run "$SIM" --storage "$T/dev" --install "$T/b1.cbor" --receipt "$T/r1.cbor"
	assert_status 0
	assert_output_has "counter 1, 3 entries"
	"$SIM" --storage "$T/dev" --status --json > "$T/status.json"
	$PY - "$T/status.json" "$T/b1.cbor" "$TPL/roots/iot-roots.store" <<'PY'
import cbor2, hashlib, json, sys
st = json.load(open(sys.argv[1]))
b = cbor2.loads(open(sys.argv[2], "rb").read())
assert b.tag == 18
payload = b.value[2]
assert st["device_id"] == "D", st
assert st["counter"] == 1, st
assert st["manifest_digest"] == hashlib.sha256(payload).hexdigest(), st
assert st["generation"] in (0, 1)
[slot] = st["slots"]
assert slot["slot"] == 1
types = {e["type"]: e for e in slot["entries"]}
assert set(types) == {"device-cert", "private-key", "trust-store"}, types
cert = [e for e in cbor2.loads(payload)[6] if e[2] == 2][0][5]
assert types["device-cert"]["size"] == len(cert)
# mqtt-mtls's broker roots: the compact store, byte for byte the template's file
store = [e for e in cbor2.loads(payload)[6] if e[2] == 7][0][5]
assert store == open(sys.argv[3], "rb").read()
assert types["trust-store"]["size"] == len(store) and types["trust-store"]["usage"] == ["trust"]
assert types["private-key"]["key_id"] > 0 and "size" not in types["private-key"]
assert types["private-key"]["usage"] == ["sign"]
assert st["tls"]["protocol"] == "mqtt"
PY
	# the host-made private key never shows: no long hex string but the digest
	run grep -Eo '[0-9a-f]{40,}' "$T/status.json"
	assert_status 0
	[ "$output" = "$(jq -r .manifest_digest "$T/status.json")" ]
}

@test "receipt: COSE_Sign1 by the device key over device, counter, digest, nonce (python3 verifies; prov records)" {
	setup_device
	"$PROV" bundle --device D --nonce 00112233445566778899aabbccddeeff --out "$T/b.cbor" >/dev/null
	run "$SIM" --storage "$T/dev" --install "$T/b.cbor" --nonce 00112233445566778899aabbccddeeff \
		--receipt "$T/r.cbor"
	assert_status 0
	$PY - "$T/r.cbor" "$T/dev.pub" "$T/b.cbor" <<'PY'
import cbor2, hashlib, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
r = cbor2.loads(open(sys.argv[1], "rb").read())
pub = serialization.load_pem_public_key(open(sys.argv[2], "rb").read())
bundle = cbor2.loads(open(sys.argv[3], "rb").read())
assert r.tag == 18 and len(r.value) == 4
prot, unprot, payload, sig = r.value
spki = pub.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
assert cbor2.loads(prot) == {1: -7, 4: hashlib.sha256(spki).digest()[:8]}
assert unprot == {} and len(sig) == 64
tbs = cbor2.dumps(["Signature1", prot, b"", payload])
pub.verify(utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")),
           tbs, ec.ECDSA(hashes.SHA256()))
p = cbor2.loads(payload)
assert p == {1: 1, 2: "D", 3: 1, 4: hashlib.sha256(bundle.value[2]).digest(),
             5: bytes.fromhex("00112233445566778899aabbccddeeff")}, p
PY
	run "$PROV" receipt verify "$T/r.cbor"
	assert_status 0
}

@test "rejections keep storage unchanged: replay 19, rollback 20, wrong device 18, wrong signer 14, nonce 21" {
	setup_device
	"$PROV" bundle --device D --out "$T/b1.cbor" >/dev/null
	"$PROV" bundle --device D --out "$T/b2.cbor" >/dev/null
	"$PROV" bundle --device D --nonce 0102030405060708 --out "$T/b3n.cbor" >/dev/null
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device E --recipient-key "$T/dev.pub" >/dev/null
	"$PROV" bundle --device E --out "$T/e.cbor" >/dev/null
	PROV_HOME="$T/f2" "$PROV" init >/dev/null
	PROV_HOME="$T/f2" "$PROV" mint --template "$TPL/mqtt-mtls.json" --device D \
		--recipient-key "$T/dev.pub" >/dev/null
	PROV_HOME="$T/f2" "$PROV" bundle --device D --out "$T/other.cbor" >/dev/null
	"$SIM" --storage "$T/dev" --install "$T/b2.cbor" >/dev/null
	before=$(storage_digest "$T/dev")
	run "$SIM" --storage "$T/dev" --install "$T/b2.cbor"
	assert_status 19
	assert_output_has "replay"
	run "$SIM" --storage "$T/dev" --install "$T/b1.cbor"
	assert_status 20
	run "$SIM" --storage "$T/dev" --install "$T/e.cbor"
	assert_status 18
	run "$SIM" --storage "$T/dev" --install "$T/other.cbor"
	assert_status 14
	run "$SIM" --storage "$T/dev" --install "$T/b3n.cbor" --nonce 0807060504030201
	assert_status 21
	run "$SIM" --storage "$T/dev" --install "$T/b3n.cbor" --nonce 01020304
	assert_status 2
	[ "$(storage_digest "$T/dev")" = "$before" ]
	run "$SIM" --storage "$T/dev" --install "$T/b3n.cbor" --nonce 0102030405060708
	assert_status 0
}

@test "bad files: truncated 11, oversized 10, a flipped signature bit 15, not a file 8" {
	setup_device
	"$PROV" bundle --device D --out "$T/b.cbor" >/dev/null
	before=$(storage_digest "$T/dev")
	head -c 700 "$T/b.cbor" > "$T/trunc.cbor"
	run "$SIM" --storage "$T/dev" --install "$T/trunc.cbor"
	assert_status 11
	head -c 5000 /dev/zero > "$T/big.cbor"
	run "$SIM" --storage "$T/dev" --install "$T/big.cbor"
	assert_status 10
	$PY -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 1; open(sys.argv[2], "wb").write(b)' \
		"$T/b.cbor" "$T/flip.cbor"
	run "$SIM" --storage "$T/dev" --install "$T/flip.cbor"
	assert_status 15
	run "$SIM" --storage "$T/dev" --install "$T/missing.cbor"
	assert_status 8
	[ "$(storage_digest "$T/dev")" = "$before" ]
}

@test "rotation to a PSK template, then a signed wipe: keys and records erased, counter kept" {
	setup_device
	"$PROV" bundle --device D --out "$T/b1.cbor" >/dev/null
	"$SIM" --storage "$T/dev" --install "$T/b1.cbor" >/dev/null
	"$PROV" mint --rotate --template "$TPL/coaps-psk.json" --device D --recipient-key "$T/dev.pub" >/dev/null
	"$PROV" bundle --device D --out "$T/b2.cbor" >/dev/null
	run "$SIM" --storage "$T/dev" --install "$T/b2.cbor"
	assert_status 0
	run "$SIM" --storage "$T/dev" --status --json
	assert_status 0
	echo "$output" | $PY -c '
import json, sys
st = json.load(sys.stdin)
[slot] = st["slots"]
[e] = slot["entries"]
assert slot["slot"] == 2 and e["type"] == "psk" and e["usage"] == ["derive"], st
assert e["identity_size"] == 1 and e["key_id"] > 0, e
assert st["tls"]["protocol"] == "coaps" and st["tls"]["transport"] == "dtls", st'
	"$PROV" bundle --device D --wipe --out "$T/w.cbor" >/dev/null
	run "$SIM" --storage "$T/dev" --install "$T/w.cbor"
	assert_status 0
	assert_output_has "(wiped)"
	run "$SIM" --storage "$T/dev" --status --json
	assert_status 0
	echo "$output" | $PY -c '
import json, sys
st = json.load(sys.stdin)
assert st["counter"] == 3 and st["slots"] == [] and st["generation"] is None, st'
	# only the identity key is left in PSA, only the commit record in storage
	[ "$(ls "$T/dev"/*.psa_its | wc -l)" -eq 1 ]
	[ "$(ls "$T/dev"/pa-*.rec | wc -l)" -eq 1 ]
	run "$SIM" --storage "$T/dev" --install "$T/b2.cbor"
	assert_status 20
}

# A device image: the agent with the factory signer compiled in from
# `prov signer export --format c` (as firmware would), the directory port, the
# trust module (which checks a trust-store entry at install) and the project's
# Mbed TLS.  It installs one bundle and prints the agent's code.
build_image() { # $1: signer header, $2: output binary
	cat > "$T/image.c" <<-'C'
	#include <stdio.h>
	#include <stdlib.h>
	#include <unistd.h>
	#include "pa/pa_agent.h"
	#include "port/pa_port_dir.h"
	#include "signer.h"

	static const pa_signer signers[] = {{PROV_SIGNER_KID, PROV_SIGNER_PUBKEY}};
	static pa_agent agent;

	int main(int argc, char **argv)
	{
	    static uint8_t bundle[PA_BUNDLE_MAX + 1], receipt[512];
	    pa_dir_port dport;
	    size_t n, rlen = 0;
	    FILE *f;
	    int rc;

	    if (argc != 3 || (f = fopen(argv[2], "rb")) == NULL)
	        return 100;
	    n = fread(bundle, 1, sizeof(bundle), f);
	    fclose(f);
	    if (chdir(argv[1]) != 0)
	        return 101;
	    rc = pa_agent_start(&agent, pa_dir_port_init(&dport, "."), signers, 1);
	    if (rc == PA_OK) {
	        pa_install_push(&agent, bundle, n);
	        rc = pa_install_finish(&agent, receipt, sizeof(receipt), &rlen);
	    }
	    printf("%d\n", rc);
	    return 0;
	}
	C
	cp "$1" "$T/signer.h"
	# the sanitizer build's objects need the sanitizer runtimes at link time
	local san=
	nm "$PROV_BUILD/agent/libpa.a" 2>/dev/null | grep -q __asan_ && san="-fsanitize=address,undefined"
	cc $san -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -I"$T" -I"$REPO/firmware-agent/include" \
		-I"$REPO/firmware-agent" -I"$REPO/build-mbedtls/include" -I"$REPO/firmware-agent/mbedtls" \
		-DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' -o "$2" "$T/image.c" \
		"$PROV_BUILD/agent/port/pa_port_dir.o" "$PROV_BUILD/agent/libpa.a" \
		"$PROV_BUILD/agent/tls/trust/pa_trust.o" "$PROV_BUILD/agent/tls/trust/pa_trust_check.o" "$PROV_BUILD/agent/tls/trust/pa_trust_mbedtls.o" \
		"$REPO/build-mbedtls/lib/libmbedtls.a" "$REPO/build-mbedtls/lib/libmbedx509.a" \
		"$REPO/build-mbedtls/lib/libmbedcrypto.a"
}

@test "a device image with the signer compiled in from 'prov signer export --format c' installs its factory's bundles only" {
	setup_device
	"$PROV" bundle --device D --out "$T/b.cbor" >/dev/null
	"$PROV" signer export --format c > "$T/ours.h"
	build_image "$T/ours.h" "$T/image"
	# another factory's header: the same bundle names an unknown signer (14), storage untouched
	PROV_HOME="$T/other" "$PROV" init >/dev/null
	PROV_HOME="$T/other" "$PROV" signer export --format c > "$T/theirs.h"
	build_image "$T/theirs.h" "$T/image-other"
	before=$(storage_digest "$T/dev")
	run "$T/image-other" "$T/dev" "$T/b.cbor"
	assert_status 0
	[ "$output" = 14 ]
	[ "$(storage_digest "$T/dev")" = "$before" ]
	run "$T/image" "$T/dev" "$T/b.cbor"
	assert_status 0
	[ "$output" = 0 ]
	run "$SIM" --storage "$T/dev" --status --json
	assert_status 0
	[ "$(echo "$output" | jq .counter)" = 1 ]
}

@test "one device, two processes: --pty serves 30 rotations while a --status --json loop runs beside it" {
	# The pair of commands the README shows.  Before the lock, the status loop's
	# recovery removed the generation the server had just committed: storage
	# corrupt (41) for good, while every prov install reported success.
	make_factory
	"$PROV" signer export > "$T/signer.pem"
	"$SIM" --storage "$T/dev" --device-id D --signer "$T/signer.pem" --init > "$T/dev.pub"
	serve
	(
		while [ ! -e "$T/stop" ]; do
			rc=0
			"$SIM" --storage "$T/dev" --status --json > "$T/st.json" 2>> "$T/status.err" || rc=$?
			echo "$rc $(sed -n 's/.*"counter":\([0-9]*\),.*/\1/p' "$T/st.json")" >> "$T/status.log"
		done
	) 3>&- &
	local loop=$! i
	bg_record status-loop "$loop"
	run "$PROV" install --port "$PTY" --template "$TPL/mqtt-mtls.json"
	assert_status 0
	for i in $(seq 2 30); do
		run "$PROV" install --port "$PTY" --template "$TPL/mqtt-mtls.json" --rotate
		assert_status 0
	done
	touch "$T/stop"
	wait "$loop"
	bg_kill "$SIMPID"
	wait "$SIMPID"
	# every status beside the server answered (exit 0), its counter never went back
	echo "# $(wc -l < "$T/status.log") status runs beside 30 installs" >&3
	[ "$(wc -l < "$T/status.log")" -ge 5 ]
	run awk '$1 != 0 { bad++ } $2 < last { back++ } { last = $2 }
		END { print bad + 0, back + 0 }' "$T/status.log"
	assert_status 0
	[ "$output" = "0 0" ] || { cat "$T/status.err" >&2; false; }
	# the device starts again, holds counter 30 in exactly one generation ...
	run "$SIM" --storage "$T/dev" --status --json
	assert_status 0
	[ "$(echo "$output" | jq .counter)" = 30 ]
	one_generation "$T/dev"
	# ... and can be provisioned again
	serve
	run "$PROV" install --port "$PTY" --template "$TPL/mqtt-mtls.json" --rotate
	assert_status 0
	bg_kill "$SIMPID"
	wait "$SIMPID"
	run "$SIM" --storage "$T/dev" --status --json
	assert_status 0
	[ "$(echo "$output" | jq .counter)" = 31 ]
}

@test "a second writer is refused at once (exit 9, one line); readers work beside the writer; kill -9 frees the lock" {
	setup_device
	"$PROV" bundle --device D --out "$T/b1.cbor" >/dev/null
	serve
	before=$(storage_digest "$T/dev")
	run --separate-stderr "$SIM" --storage "$T/dev" --install "$T/b1.cbor"
	assert_status 9
	[ "$stderr" = "agent-sim: $T/dev: in use: another agent-sim writes this device (one writer per storage; --status reads beside it)" ]
	# (timeout: a second server that is not refused would serve for ever)
	run timeout 10 "$SIM" --storage "$T/dev" --pty
	assert_status 9
	run timeout 10 "$SIM" --storage "$T/dev" --device-id D --signer "$T/signer.pem" --init
	assert_status 9
	[ "$(storage_digest "$T/dev")" = "$before" ]
	run "$SIM" --storage "$T/dev" --status --json
	assert_status 0
	[ "$(echo "$output" | jq .counter)" = 0 ]
	run --separate-stderr "$SIM" --storage "$T/dev" --pubkey
	assert_status 0
	[ "$output" = "$(cat "$T/dev.pub")" ]
	[ "$(storage_digest "$T/dev")" = "$before" ]
	# the kernel drops the lock with the process, however it ends
	bg_kill -KILL "$SIMPID"
	wait "$SIMPID" 2>/dev/null || true
	run "$SIM" --storage "$T/dev" --install "$T/b1.cbor"
	assert_status 0
}

@test "--status and --pubkey read without recovering: a leftover stays until a writer starts" {
	setup_device
	"$PROV" bundle --device D --out "$T/b1.cbor" >/dev/null
	"$SIM" --storage "$T/dev" --install "$T/b1.cbor" >/dev/null
	run "$SIM" --storage "$T/dev" --status --json
	assert_status 0
	[ "$(echo "$output" | jq .generation)" = 0 ]
	# what an install cut before its commit leaves: a record of generation 1
	printf 'left' > "$T/dev/pa-5041000000001100.rec"
	before=$(storage_digest "$T/dev")
	run "$SIM" --storage "$T/dev" --status --json
	assert_status 0
	[ "$(echo "$output" | jq .counter)" = 1 ]
	run "$SIM" --storage "$T/dev" --pubkey
	assert_status 0
	[ "$(storage_digest "$T/dev")" = "$before" ]
	# a writer's start recovers, even for a bundle it then refuses (replay)
	run "$SIM" --storage "$T/dev" --install "$T/b1.cbor"
	assert_status 19
	[ ! -e "$T/dev/pa-5041000000001100.rec" ]
	run "$SIM" --storage "$T/dev" --status --json
	assert_status 0
	[ "$(echo "$output" | jq .counter)" = 1 ]
}

@test "start-up removes what a killed writer left (pa-*.rec.tmp, tempfile.psa_its), nothing else; readers leave it" {
	setup_device
	"$PROV" bundle --device D --out "$T/b1.cbor" >/dev/null
	"$SIM" --storage "$T/dev" --install "$T/b1.cbor" >/dev/null
	printf 'half' > "$T/dev/pa-5041000000000001.rec.tmp"
	printf 'half' > "$T/dev/pa-5041000000001005.rec.tmp"
	printf 'half' > "$T/dev/tempfile.psa_its"
	printf 'mine' > "$T/dev/notes.rec.tmp"
	printf 'mine' > "$T/dev/pa-504100000000100G.rec.tmp"
	run "$SIM" --storage "$T/dev" --status
	assert_status 0
	[ -e "$T/dev/pa-5041000000000001.rec.tmp" ]
	[ -e "$T/dev/tempfile.psa_its" ]
	run "$SIM" --storage "$T/dev" --install "$T/b1.cbor"
	assert_status 19
	[ ! -e "$T/dev/pa-5041000000000001.rec.tmp" ]
	[ ! -e "$T/dev/pa-5041000000001005.rec.tmp" ]
	[ ! -e "$T/dev/tempfile.psa_its" ]
	[ -e "$T/dev/notes.rec.tmp" ]
	[ -e "$T/dev/pa-504100000000100G.rec.tmp" ]
}

@test "kill -9 of the server in the middle of installs, 8 times: each restart recovers, no temporary left" {
	setup_device
	local i left=0
	serve
	run "$PROV" install --port "$PTY" --template "$TPL/mqtt-mtls.json"
	assert_status 0
	for i in 1 2 3 4 5 6 7 8; do
		bg_start prov-install "$PROV" install --port "$PTY" --template "$TPL/mqtt-mtls.json" --rotate \
			--timeout 200 --tries 2 > /dev/null 2>&1 3>&-
		local inst=$BG_PID
		sleep "0.0$((i * 7 % 10))"
		bg_kill -KILL "$SIMPID"
		wait "$SIMPID" 2>/dev/null || true
		ls "$T/dev" | grep -q '\.tmp$' && left=$((left + 1))
		wait "$inst" || true
		serve   # prints its pty once started: recovered
		run "$SIM" --storage "$T/dev" --status --json
		assert_status 0
		[ "$(echo "$output" | jq .counter)" -ge 1 ]
		[ -z "$(ls "$T/dev" | grep '\.tmp$')" ]
		one_generation "$T/dev"
	done
	echo "# $left of 8 kills left a temporary behind" >&3
	# (whether prov then installs again depends on where the kill fell: after a
	# commit whose receipt was never recorded it refuses, as docs/cli.md says)
	bg_kill "$SIMPID"
	wait "$SIMPID"
}
