#!/bin/sh
# mkcorpus.sh [BUILD] - (re)make the seed corpora in fuzz/corpus/ from real data:
# bundles made by BUILD/prov (default build/) in a throwaway factory, their
# payloads and COSE_Encrypt items, the cose-wg vectors in tests/vectors/cose, and
# the shipped and fixture templates.  Needs python3-cbor2 and openssl.
#
# Secrets in the bundles are encrypted to the recipient key of the cose-wg example
# p256-hkdf-256-01 (meriadoc.brandybuck@buckland.example), the fixed key of
# fuzz_cose_encrypt, so those seeds decrypt there.
set -eu
PY=/usr/bin/python3   # Debian's, with python3-cbor2 and python3-cryptography
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build="$top/$build" ;; esac
prov="$build/prov"
corpus="$top/fuzz/corpus"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PROV_HOME="$work/factory" PROV_NOW=1795746918

rm -rf "$corpus/bundle" "$corpus/cbor" "$corpus/cose_encrypt" "$corpus/template"
mkdir -p "$corpus/bundle" "$corpus/cbor" "$corpus/cose_encrypt" "$corpus/template"

# The example recipient's public key as PEM.
"$PY" - "$work/meriadoc.pem" <<'PY'
import base64, sys
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import serialization
b = lambda s: int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")
pub = ec.EllipticCurvePublicNumbers(b("Ze2loSV3wrroKUN_4zhwGhCqo3Xhu1td4QjeQ5wIVR0"),
                                    b("HlLtdXARY_f55A3fnzQbPcm6hgr34Mp8p-nuzQCE0Zw"),
                                    ec.SECP256R1()).public_key()
open(sys.argv[1], "wb").write(pub.public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo))
PY

"$prov" init >/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/dev.key" 2>/dev/null
openssl req -new -key "$work/dev.key" -subj "/CN=device-1" -out "$work/dev.csr"
fix="$top/tests/fixtures/templates"
cp "$fix/valid-full.json" "$fix/anchor.pem" "$work/"

"$prov" mint --template "$top/templates/coaps-psk.json" --device sensor-1 --recipient-key "$work/meriadoc.pem" >/dev/null
"$prov" mint --template "$top/templates/mqtt-mtls.json" --device device-1 --csr "$work/dev.csr" >/dev/null
"$prov" mint --template "$top/templates/mqtt-mtls.json" --device host-1 --recipient-key "$work/meriadoc.pem" >/dev/null
"$prov" mint --template "$work/valid-full.json" --device full-1 --recipient-key "$work/meriadoc.pem" >/dev/null
"$prov" bundle --device sensor-1 --out "$corpus/bundle/psk-nonce.cbor" --nonce 00112233445566778899aabbccddeeff >/dev/null
"$prov" bundle --device device-1 --out "$corpus/bundle/cert-csr.cbor" >/dev/null
"$prov" bundle --device host-1 --out "$corpus/bundle/cert-host-key.cbor" >/dev/null
"$prov" bundle --device full-1 --out "$corpus/bundle/full.cbor" >/dev/null
"$prov" bundle --device sensor-1 --out "$corpus/bundle/psk-plaintext.cbor" --insecure-plaintext-secrets >/dev/null 2>&1

# Payloads (fuzz_bundle signs a map input itself), and the COSE_Encrypt items.
"$PY" - "$corpus" <<'PY'
import glob, os, sys, cbor2
corpus = sys.argv[1]
for path in sorted(glob.glob(os.path.join(corpus, "bundle", "*.cbor"))):
    name = os.path.basename(path)[:-5]
    msg = cbor2.loads(open(path, "rb").read())
    payload = msg.value[2]
    open(os.path.join(corpus, "bundle", "payload-" + name + ".cbor"), "wb").write(payload)
    items = cbor2.loads(payload)
    enc = items.get(8)
    if isinstance(enc, cbor2.CBORTag) and enc.tag == 96:
        open(os.path.join(corpus, "cose_encrypt", "bundle-" + name + ".cbor"), "wb").write(cbor2.dumps(enc))
PY

# The cose-wg vectors: every message to the CBOR and bundle seeds, the encrypted ones
# to fuzz_cose_encrypt.
"$PY" - "$top/tests/vectors/cose" "$corpus" <<'PY'
import glob, json, os, sys
vec, corpus = sys.argv[1], sys.argv[2]
for path in sorted(glob.glob(os.path.join(vec, "*.json"))):
    name = os.path.basename(path)[:-5]
    j = json.load(open(path))
    data = bytes.fromhex(j["output"]["cbor"])
    open(os.path.join(corpus, "cbor", "cose-" + name + ".cbor"), "wb").write(data)
    if data[:2] == bytes.fromhex("d860"):
        open(os.path.join(corpus, "cose_encrypt", "cose-" + name + ".cbor"), "wb").write(data)
    elif "sign" in name:
        open(os.path.join(corpus, "bundle", "cose-" + name + ".cbor"), "wb").write(data)
PY

# CBOR: the bundle seeds, plus one of each major type and the awkward corners.
cp "$corpus"/bundle/*.cbor "$corpus/cbor/"
"$PY" - "$corpus/cbor" <<'PY'
import os, sys
d = sys.argv[1]
items = {
    "uint-max": "1bffffffffffffffff", "negint-min": "3bffffffffffffffff",
    "uint-nonshortest": "1900ff", "bstr-empty": "40", "tstr-utf8": "63e282ac",
    "indef-bstr": "5f42010243030405ff", "indef-tstr": "7f61616162ff",
    "indef-array": "9f0102ff", "indef-map": "bf01020304ff",
    "map-unsorted": "a2020301 04".replace(" ", ""), "map-dup": "a201020103",
    "tag-18": "d28440a04040", "tag-96-2byte": "d8608440a04080", "tag-big": "dbffffffffffffffff00",
    "float-half": "f93c00", "float-double": "fb3ff0000000000000",
    "simple-false": "f4", "simple-undef": "f7", "simple-16": "f0", "simple-255": "f8ff",
    "nested": "818181818181818181818100", "break-alone": "ff",
    "array-liar": "9bffffffffffffffff", "map-liar": "bb7fffffffffffffff",
}
for name, h in items.items():
    open(os.path.join(d, name + ".cbor"), "wb").write(bytes.fromhex(h))
PY

# Templates: the shipped ones and every fixture.
cp "$top"/templates/*.json "$corpus/template/"
for f in "$fix"/*.json; do cp "$f" "$corpus/template/fixture-$(basename "$f")"; done

chmod 0644 "$corpus"/*/*
for t in bundle cbor cose_encrypt template; do
	echo "$t: $(ls "$corpus/$t" | wc -l) seeds"
done
