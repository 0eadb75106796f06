#!/bin/sh
# mkcorpus-device.sh [BUILD] - (re)make the seeds of the host's parsers of device
# bytes from a real session with the device agent: fuzz/corpus/smp_answer/ (what
# BUILD/agent-sim wrote on its pty in answer to echo, info, keygen, upload,
# commit, status and bad requests, its heartbeat lines included, and each
# answer's bare packet) and
# fuzz/corpus/receipt/ (the receipt it signed, receipts signed with
# fuzz_receipt's fixed device key by tests/py/make_receipt.py in every variant
# tests/bats/receipt.bats uses, and their payloads).  The client is
# tests/py/smp_client.py (written from docs/serial-protocol.md).  Needs
# python3-cbor2, python3-cryptography and openssl.
set -eu
PY=/usr/bin/python3   # Debian's, with python3-cbor2 and python3-cryptography
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build="$top/$build" ;; esac
prov="$build/prov"
sim="$build/agent-sim"
answers="$top/fuzz/corpus/smp_answer"
receipts="$top/fuzz/corpus/receipt"
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
export PROV_HOME="$work/factory" PROV_NOW=1795746918

"$prov" init >/dev/null
"$prov" signer export >"$work/signer.pem"
"$sim" --storage "$work/dev" --device-id D1 --signer "$work/signer.pem" --init >"$work/dev.pub"
"$sim" --storage "$work/dev" --pty >"$work/pty.txt" 2>"$work/sim.err" &
pid=$!
for _ in $(seq 100); do [ -s "$work/pty.txt" ] && break; sleep 0.05; done
pty=$(head -n 1 "$work/pty.txt")

rm -rf "$answers" "$receipts"
mkdir -p "$answers" "$receipts"

# The session; between keygen and upload the factory mints from the device's CSR
# and builds a bundle for its nonce (the shell commands the script is given).
"$PY" - "$top/tests/py" "$pty" "$answers" "$work" "$prov" <<'PY'
import os, subprocess, sys, time, select
sys.path.insert(0, sys.argv[1])
import smp_client as m
pty, out, work, prov = sys.argv[2:6]
c = m.Client(pty)
real_read, seen = os.read, bytearray()

def capture(fd, n):
    b = real_read(fd, n)
    if fd == c.fd:
        seen.extend(b)
    return b

m.os.read = capture

def seed(name, call):
    seen.clear()
    try:
        result = call()
    except m.SmpError as e:
        result = e.body
    open(os.path.join(out, name), "wb").write(bytes(seen))
    return result

def idle(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if select.select([c.fd], [], [], 0.1)[0]:
            capture(c.fd, 4096)

seed("echo", lambda: c.echo("hello, device"))
info = seed("info", c.info)
csr = seed("keygen", lambda: c.keygen(1, "D1"))["csr"]
open(os.path.join(work, "csr.der"), "wb").write(csr)
subprocess.run(["openssl", "req", "-inform", "DER", "-in", os.path.join(work, "csr.der"),
                "-out", os.path.join(work, "csr.pem")], check=True)
subprocess.run([prov, "mint", "--template", os.path.join(os.path.dirname(os.path.dirname(sys.argv[1])),
                "templates", "mqtt-mtls.json"), "--device", "D1", "--csr", os.path.join(work, "csr.pem"),
                "--recipient-key", os.path.join(work, "dev.pub")], check=True, stdout=subprocess.DEVNULL)
subprocess.run([prov, "bundle", "--device", "D1", "--nonce", info["nonce"].hex(), "--out",
                os.path.join(work, "b1.cbor")], check=True, stdout=subprocess.DEVNULL)
bundle = open(os.path.join(work, "b1.cbor"), "rb").read()
sha = seed("upload", lambda: c.upload(bundle, 200))
receipt = seed("commit", lambda: c.commit(sha))["receipt"]
open(os.path.join(work, "receipt.cbor"), "wb").write(receipt)
seed("commit-again", lambda: c.commit(sha))
seed("status", c.status)
seed("err-unknown-command", lambda: c.request(80, 9, 0, {}))
seed("err-not-a-map", lambda: c.request(0, 0, 2, None, raw_body=b"\x01"))
seed("err-commit-refused", lambda: c.commit(b"\x00" * 32))
seen.clear()
idle(1.2)
open(os.path.join(out, "heartbeat"), "wb").write(bytes(seen))
seed("heartbeat-then-info", lambda: (idle(1.2), c.info())[1])
c.close()
# and each answer as the bare packet (header + CBOR body), which the target also
# decodes as if its frame had been valid: mutations of these reach every field
for name in sorted(os.listdir(out)):
    d = m.Deframer()
    for i, pkt in enumerate(d.feed(open(os.path.join(out, name), "rb").read())):
        open(os.path.join(out, "packet-%s-%d" % (name, i)), "wb").write(pkt)
PY

# Receipts: the device's own, then the fixed key's (fuzz/fuzz_receipt.c).
cp "$work/receipt.cbor" "$receipts/agent-sim.cbor"
"$PY" - "$work/fuzzkey.pem" "$work/otherkey.pem" <<'PY'
import sys
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
for path, scalar in ((sys.argv[1], b"provkit receipt fuzz device key\0"), (sys.argv[2], b"another device key, not the fuzz")):
    k = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    open(path, "wb").write(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
PY
mk() { # NAME OPTIONS...
	name=$1
	shift
	"$PY" "$top/tests/py/make_receipt.py" "$work/fuzzkey.pem" "$work/b1.cbor" "$receipts/$name.cbor" "$@"
}
mk fuzzkey
mk fuzzkey-no-nonce --no-nonce
mk fuzzkey-extra-key --extra-key
mk fuzzkey-version-2 --version 2
mk fuzzkey-wide-counter --wide-counter
mk fuzzkey-counter-0 --counter 0
mk fuzzkey-untagged --untagged
mk fuzzkey-flip-sig --flip-sig
mk fuzzkey-other-kid --kid-key "$work/otherkey.pem"
# their payloads: fuzz_receipt signs a map input itself
"$PY" - "$receipts" <<'PY'
import glob, os, sys, cbor2
d = sys.argv[1]
for path in sorted(glob.glob(os.path.join(d, "*.cbor"))):
    msg = cbor2.loads(open(path, "rb").read())
    arr = msg.value if isinstance(msg, cbor2.CBORTag) else msg
    open(os.path.join(d, "payload-" + os.path.basename(path)), "wb").write(arr[2])
PY

chmod 0644 "$answers"/* "$receipts"/*
echo "smp_answer: $(ls "$answers" | wc -l) seeds; receipt: $(ls "$receipts" | wc -l) seeds"
