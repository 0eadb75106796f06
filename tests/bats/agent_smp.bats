#!/usr/bin/env bats
# agent-sim --pty / --serial: the agent's SMP server (docs/serial-protocol.md)
# driven by tests/py/smp_client.py, a client written from the specification
# that shares no code with the agent.  Provisioning end to end with prov (mint
# --csr from the device's CSR, bundle --nonce, upload + commit, prov receipt
# verify), idempotent commands, the host closing and reopening the line,
# status over SMP against agent-sim --status --json.

load helper

SIM="$PROV_BUILD/agent-sim"
CLIENT="$REPO/tests/py/smp_client.py"

# A factory and a device D1 served on a pty: $PTY, $SIM_PID.
start_device() {
	make_factory
	"$PROV" signer export > "$T/signer.pem"
	"$SIM" --storage "$T/dev" --device-id "${1:-D1}" --signer "$T/signer.pem" --init > "$T/dev.pub"
	bg_start agent-sim "$SIM" --storage "$T/dev" --pty > "$T/pty.txt" 2> "$T/sim.err"
	SIM_PID=$BG_PID
	for _ in $(seq 50); do [ -s "$T/pty.txt" ] && break; sleep 0.05; done
	PTY=$(head -n 1 "$T/pty.txt")
	[ -c "$PTY" ]
}

smp() {
	$PY "$CLIENT" "$PTY" "$@"
}

stop_device() {
	bg_kill -TERM "$SIM_PID"
	wait "$SIM_PID"
}

jget() {   # jget KEY < json
	$PY -c 'import json,sys; v=json.load(sys.stdin)[sys.argv[1]]; print(v)' "$1"
}

@test "echo over the pty from an independent client; heartbeat log lines on the line are skipped" {
	start_device
	run smp echo "hello, device"
	assert_status 0
	[ "$output" = '{"r": "hello, device"}' ]
	# the raw line carries the agent's log lines beside the frames
	$PY - "$PTY" <<'PY'
import os, sys, time, select, tty
fd = os.open(sys.argv[1], os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
buf, end = b"", time.monotonic() + 1.0
while time.monotonic() < end:
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        buf += os.read(fd, 4096)
assert buf.count(b"[agent] heartbeat") >= 2, buf
PY
	# unknown group and command: {"err": {"group": g, "rc": 8}}
	run smp raw 80 9 0 a0
	assert_status 1
	[ "$output" = '{"err": {"group": 80, "rc": 8}}' ]
	run smp raw 77 0 2 a0
	assert_status 1
	[ "$output" = '{"err": {"group": 77, "rc": 8}}' ]
	# a body that is not a map of text keys
	run smp raw 0 0 2 01
	assert_status 1
	[ "$output" = '{"err": {"group": 0, "rc": 3}}' ]
	stop_device
}

@test "provisioning over the pty: keygen CSR, mint --csr, bundle --nonce, upload, commit, receipt" {
	start_device D1
	smp info > "$T/info.json"
	[ "$(jget dev < "$T/info.json")" = D1 ]
	[ "$(jget mtu < "$T/info.json")" = 512 ]
	[ "$(jget ctr < "$T/info.json")" = 0 ]
	nonce=$(jget nonce < "$T/info.json")
	[ ${#nonce} = 32 ]
	# pub is the identity key's DER SPKI: the same key --init printed
	$PY -c 'import json,sys; open(sys.argv[2],"wb").write(bytes.fromhex(json.load(open(sys.argv[1]))["pub"]))' \
		"$T/info.json" "$T/pub.der"
	[ "$(openssl pkey -pubin -inform DER -in "$T/pub.der")" = "$(cat "$T/dev.pub")" ]
	# info does not change the nonce
	[ "$(smp info | jget nonce)" = "$nonce" ]

	smp keygen 1 D1 --out "$T/csr.der" >/dev/null
	run openssl req -inform DER -in "$T/csr.der" -verify -noout -subject
	assert_status 0
	assert_output_has "verify OK"
	assert_output_has "CN = D1"
	# a repeated keygen answers a CSR for the same key
	smp keygen 1 D1 --out "$T/csr2.der" >/dev/null
	[ "$(openssl req -inform DER -in "$T/csr2.der" -noout -pubkey)" = \
	  "$(openssl req -inform DER -in "$T/csr.der" -noout -pubkey)" ]

	openssl req -inform DER -in "$T/csr.der" -out "$T/csr.pem"
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device D1 --csr "$T/csr.pem" \
		--recipient-key "$T/dev.pub" >/dev/null
	"$PROV" bundle --device D1 --nonce "$nonce" --out "$T/b1.cbor" >/dev/null
	run smp install "$T/b1.cbor" --chunk 200 --receipt "$T/r1.cbor"
	assert_status 0
	[ "$(echo "$output" | jget ctr)" = 1 ]
	run "$PROV" receipt verify "$T/r1.cbor"
	assert_status 0
	assert_output_has "valid"
	# a repeated commit answers the same receipt and installs nothing
	run smp commit "$T/b1.cbor" --receipt "$T/r1b.cbor"
	assert_status 0
	cmp "$T/r1.cbor" "$T/r1b.cbor"
	# a new session nonce after the commit
	[ "$(smp info | jget nonce)" != "$nonce" ]

	smp status > "$T/smp-status.json"
	stop_device
	"$SIM" --storage "$T/dev" --status --json > "$T/sim-status.json"
	$PY - "$T/smp-status.json" "$T/sim-status.json" "$T/r1.cbor" "$T/csr.der" <<'PY'
import json, sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
smp, sim = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert smp["dev"] == sim["device_id"] and smp["ctr"] == sim["counter"] == 1
assert smp["digest"] == sim["manifest_digest"]
assert bytes.fromhex(smp["receipt"]) == open(sys.argv[3], "rb").read()
types = {"device-cert": 2, "private-key": 3, "trust-store": 7}
flat = sorted((s["slot"], types[e["type"]], e.get("size", 0), e.get("key_id"))
              for s in sim["slots"] for e in s["entries"])
mine = sorted((e["slot"], e["type"], e["size"], e.get("kid")) for e in smp["slots"])
assert flat == mine, (flat, mine)
# mqtt-mtls: the device certificate, its key and the broker's trust store in slot 1
assert sorted(t for _, t, _, _ in flat) == [2, 3, 7], flat
# the device-made key was adopted: slot 1 has a private key, in the keygen pool
keys = [e for e in smp["slots"] if e["type"] == 3]
assert len(keys) == 1 and keys[0]["kid"] == 0x2a000180, keys
PY
}

@test "upload resumes from the device's offset; a retransmitted chunk is harmless; bad requests" {
	start_device D1
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device D1 --recipient-key "$T/dev.pub" >/dev/null
	nonce=$(smp info | jget nonce)
	"$PROV" bundle --device D1 --nonce "$nonce" --out "$T/b1.cbor" >/dev/null
	$PY - "$CLIENT" "$PTY" "$T/b1.cbor" <<'PY'
import hashlib, importlib.util, sys
spec = importlib.util.spec_from_file_location("smp_client", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
c = m.Client(sys.argv[2])
data = open(sys.argv[3], "rb").read()
sha = hashlib.sha256(data).digest()
first = {"off": 0, "data": data[:300], "len": len(data), "sha": sha}
assert c.request(80, 2, 2, first) == {"off": 300}
assert c.request(80, 2, 2, first) == {"off": 300}          # retransmission: no restart
assert c.request(80, 2, 2, {"off": 100, "data": data[100:400]}) == {"off": 400}   # overlap
def err(req, rc, cmd=2):
    try:
        c.request(80, cmd, 2, req)
    except m.SmpError as e:
        assert e.body == {"err": {"group": 80, "rc": rc}}, e.body
    else:
        raise AssertionError("accepted %r" % req)
err({"off": 500, "data": data[500:600]}, 63)             # past the received end
err({"off": 0, "data": b"x"}, 60)                        # off 0 without len and sha
err({"off": 200, "data": b"\x00" * 10}, 60)              # other bytes at a held offset
err({"sha": sha}, 63, cmd=3)                             # commit before the upload is complete
# a new host (or the same after a crash) asks where to resume: re-send the
# first chunk, the device answers how much it holds
off = c.request(80, 2, 2, first)["off"]
assert off == 400, off
while off < len(data):
    off = c.request(80, 2, 2, {"off": off, "data": data[off:off + 250]})["off"]
err({"sha": hashlib.sha256(b"other").digest()}, 60, cmd=3)
r = c.request(80, 3, 2, {"sha": sha})
assert r["ctr"] == 1 and len(r["digest"]) == 32, r
assert c.request(80, 3, 2, {"sha": sha}) == r             # commit repeated
err({"slot": 1}, 60, cmd=1)                              # keygen without cn
c.close()
PY
	stop_device
}

@test "the host closes and reopens the pty; SIGTERM ends the simulator cleanly" {
	start_device
	for i in 1 2 3; do
		run smp echo "round $i"
		assert_status 0
		[ "$output" = "{\"r\": \"round $i\"}" ]
	done
	bg_kill -TERM "$SIM_PID"
	rc=0
	wait "$SIM_PID" || rc=$?
	[ "$rc" = 0 ]
}

@test "--serial serves on an existing terminal at --baud; usage errors exit 2" {
	make_factory
	"$PROV" signer export > "$T/signer.pem"
	"$SIM" --storage "$T/dev" --device-id S1 --signer "$T/signer.pem" --init > /dev/null
	$PY - "$CLIENT" "$SIM" "$T/dev" <<'PY'
import importlib.util, os, subprocess, sys, tty
spec = importlib.util.spec_from_file_location("smp_client", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
master, slave = os.openpty()
tty.setraw(master)
p = subprocess.Popen([sys.argv[2], "--storage", sys.argv[3], "--serial", os.ttyname(slave),
                      "--baud", "115200"], stdout=subprocess.PIPE)
assert p.stdout.readline().decode().strip() == os.ttyname(slave)
c = m.Client(None, fd=master)
assert c.echo("over serial") == {"r": "over serial"}
assert c.info()["dev"] == "S1"
p.terminate()
assert p.wait(5) == 0
PY
	run "$SIM" --storage "$T/dev" --pty --status
	assert_status 2
	run "$SIM" --storage "$T/dev" --pty --baud 115200
	assert_status 2
	run "$SIM" --storage "$T/dev" --serial /dev/null --baud 12345
	assert_status 2
	run "$SIM" --storage "$T/none" --pty
	assert_status 3
}
