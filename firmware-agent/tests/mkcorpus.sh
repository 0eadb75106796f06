#!/bin/sh
# mkcorpus.sh [BUILD] - (re)make fuzz/corpus/agent_bundle/, the seeds of
# fuzz/fuzz_agent_bundle.c, from real bundles made by BUILD/prov (default build/).
#
# The bundles are for device "sensor-1", their secrets encrypted to the fuzz
# target's fixed device key (the scalar "provkit agent fuzz device key 01"), so
# seeds decrypt there.  For each bundle the corpus holds its payload (the target
# parses its input as a verified payload) and the bundle re-signed by that same
# key (the target's trusted signer), so the envelope check passes too.
set -eu
PY=/usr/bin/python3
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build="$top/$build" ;; esac
prov="$build/prov"
out="$top/fuzz/corpus/agent_bundle"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PROV_HOME="$work/factory" PROV_NOW=1795746918

"$PY" - "$work/dev.pem" <<'PY'
import sys
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
k = ec.derive_private_key(int.from_bytes(b"provkit agent fuzz device key 01", "big"), ec.SECP256R1())
open(sys.argv[1], "wb").write(k.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
PY
"$prov" init >/dev/null
t="$top/templates"
"$prov" mint --template "$t/mqtt-mtls.json" --device sensor-1 --recipient-key "$work/dev.pem" >/dev/null
"$prov" bundle --device sensor-1 --out "$work/mqtt.cbor" >/dev/null
"$prov" bundle --device sensor-1 --nonce 30313233343536373839616263646566 --out "$work/mqtt-nonce.cbor" >/dev/null
"$prov" mint --rotate --template "$t/coaps-psk.json" --device sensor-1 --recipient-key "$work/dev.pem" >/dev/null
"$prov" bundle --device sensor-1 --out "$work/psk.cbor" >/dev/null
"$prov" bundle --device sensor-1 --wipe --out "$work/wipe.cbor" >/dev/null

rm -rf "$out"
mkdir -p "$out"
"$PY" - "$work" "$out" <<'PY'
import cbor2, hashlib, os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
work, out = sys.argv[1:]
k = ec.derive_private_key(int.from_bytes(b"provkit agent fuzz device key 01", "big"), ec.SECP256R1())
spki = k.public_key().public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)
prot = cbor2.dumps({1: -7, 4: hashlib.sha256(spki).digest()[:8]})
for name in ("mqtt", "mqtt-nonce", "psk", "wipe"):
    b = cbor2.loads(open(os.path.join(work, name + ".cbor"), "rb").read())
    payload = b.value[2]
    open(os.path.join(out, name + "-payload.cbor"), "wb").write(payload)
    der = k.sign(cbor2.dumps(["Signature1", prot, b"", payload]), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    open(os.path.join(out, name + "-bundle.cbor"), "wb").write(
        cbor2.dumps(cbor2.CBORTag(18, [prot, {}, payload, sig])))
PY
ls "$out"
