#!/bin/sh
# demo.sh BUILD - the factory flow end to end on built-in defaults:
# init a factory, mint devices from the shipped templates, build their bundles,
# inspect them.  The "device" keys are made with openssl here; the device agent
# (firmware-agent/, agent-sim) takes that role when it exists.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
prov="$top/$build/prov"
demo="$top/$build/demo"
rm -rf "$demo"
mkdir -p "$demo"
export PROV_HOME="$demo/factory"

step() { printf '\n== %s\n' "$*"; }

step "prov init: a factory home with a device CA and a bundle signer"
"$prov" init

step "the device makes its key pair and a CSR (simulated with openssl)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$demo/device-1.key" 2>/dev/null
openssl pkey -in "$demo/device-1.key" -pubout -out "$demo/device-1.pub.pem"
openssl req -new -key "$demo/device-1.key" -subj "/CN=device-1" -out "$demo/device-1.csr"

step "prov template check"
"$prov" template check "$top/templates/mqtt-mtls.json" "$top/templates/coaps-psk.json"

step "prov mint: certificate for device-1 from its CSR (mqtt-mtls)"
"$prov" mint --template "$top/templates/mqtt-mtls.json" --device device-1 --csr "$demo/device-1.csr"
openssl verify -CAfile "$PROV_HOME/ca.pem" "$(sh -c "'$prov' export --device device-1 --what cert --out '$demo/device-1.crt' && echo '$demo/device-1.crt'")"

step "prov mint: a PSK for sensor-1 (coaps-psk), secrets encrypted to the device's key"
"$prov" mint --template "$top/templates/coaps-psk.json" --device sensor-1 --recipient-key "$demo/device-1.pub.pem"

step "prov mint: a batch of 100 devices with bundles"
"$prov" mint --template "$top/templates/coaps-psk.json" --count 100 --id-format 'node-%04d' \
	--recipient-key "$demo/device-1.pub.pem" --bundle-dir "$demo"

step "prov bundle"
"$prov" bundle --device device-1 --out "$demo/device-1.cbor"
"$prov" bundle --device sensor-1 --out "$demo/sensor-1.cbor" --nonce 00112233445566778899aabbccddeeff

step "prov inspect"
"$prov" inspect "$demo/device-1.cbor"
"$prov" inspect "$demo/sensor-1.cbor"

step "prov list"
"$prov" list | head -n 5
echo "... $("$prov" list --json | grep -c '"id"') devices"
echo
echo "demo ok: factory in $PROV_HOME"
