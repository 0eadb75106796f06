#!/bin/sh
# demo.sh BUILD - the factory flow end to end on built-in defaults:
# init a factory, mint devices from the shipped templates, build their bundles,
# inspect them; cut a minimal trust store for a broker; then provision a
# simulated device (agent-sim: the firmware agent built for the host) over a
# pty with `prov install`, which records its signed receipt; the same agent as
# Cortex-M4 firmware on QEMU, provisioned over its UART, and its TLS image's
# handshake with a local broker over its second UART; and last agent-sim's
# own TLS: mutual TLS with that broker (openssl s_server) using only what was
# installed.
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

step "prov trust build: the broker's roots from Debian's 144, in the compact store format"
"$prov" trust build --from /etc/ssl/certs/ca-certificates.crt \
	--select "ISRG Root X1" --select "ISRG Root X2" --out "$demo/broker-roots.store"
"$prov" trust inspect "$demo/broker-roots.store"

step "a local broker (P-256 root and server certificate) and the store that validates its chain"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
	-subj "/O=demo broker/CN=Demo Broker Root" -keyout "$demo/broker-root.key" \
	-out "$demo/broker-root.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=broker.local" \
	-keyout "$demo/broker.key" -out "$demo/broker.csr" 2>/dev/null
printf 'subjectAltName=DNS:broker.local\nextendedKeyUsage=serverAuth\n' > "$demo/broker.ext"
openssl x509 -req -in "$demo/broker.csr" -CA "$demo/broker-root.pem" -CAkey "$demo/broker-root.key" \
	-CAcreateserial -days 365 -extfile "$demo/broker.ext" -out "$demo/broker.pem" 2>/dev/null
# Debian's roots and the broker's: the fewest that validate the chain it serves
"$prov" trust build --from /etc/ssl/certs/ca-certificates.crt --from "$demo/broker-root.pem" \
	--chain "$demo/broker.pem" --out "$demo/broker.store"

step "the device: agent-sim makes its identity key inside PSA and trusts the factory signer"
"$prov" signer export > "$demo/signer.pem"
"$top/$build/agent-sim" --storage "$demo/device-2" --device-id device-2 --signer "$demo/signer.pem" \
	--init > "$demo/device-2.id.pem"
cat "$demo/device-2.id.pem"

step "prov install over a pty: agent-sim serves SMP on a pseudo-terminal, as on a UART"
"$top/$build/agent-sim" --storage "$demo/device-2" --pty > "$demo/device-2.port" 2> "$demo/device-2.log" &
sim=$!
trap 'kill $sim 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$demo/device-2.port" ] && break; sleep 0.05; done
port=$(head -n 1 "$demo/device-2.port")
echo "device-2 on $port"
# info, register under the ID the device reports, keygen + CSR on the device,
# mint, a bundle bound to its nonce, upload, commit, receipt verified and recorded.
# mqtt-mtls ships the usual IoT roots; --trust puts this broker's store in their place
"$prov" install --port "$port" --template "$top/templates/mqtt-mtls.json" \
	--trust "$demo/broker.store" --baud 115200

step "prov install again: the device holds what the factory recorded, nothing changes"
"$prov" install --port "$port" --template "$top/templates/mqtt-mtls.json" --trust "$demo/broker.store"
kill $sim
wait $sim 2>/dev/null || true
trap - EXIT

step "inspect: the device's view (key IDs, never secrets) and the factory's record"
"$top/$build/agent-sim" --storage "$demo/device-2" --status
"$prov" show device-2 | grep -E '^(device|status|key|cert|bundle|install|pending)'

step "the same agent as firmware: a Cortex-M4 image on QEMU's mps2-an386, provisioned over its UART"
# the image trusts this factory's signer, compiled in (prov signer export --format c)
"$prov" signer export --format c > "$demo/signer.h"
make -s -C "$top" -f firmware-agent/Makefile BUILD="$build" firmware SIGNER_H="$demo/signer.h" \
	FW_OUT="$demo/fw/provkit-an386"
sh "$top/scripts/qemu-device.sh" --image "$demo/fw/provkit-an386.elf" --device-id device-3 \
	"$demo/device-3" > "$demo/device-3.port" &
qdev=$!
trap 'kill $qdev 2>/dev/null || true' EXIT
for _ in $(seq 200); do grep -q 'up, device' "$demo/device-3/console.log" 2>/dev/null && break; sleep 0.02; done
qport=$(head -n 1 "$demo/device-3.port")
echo "device-3 (emulated Cortex-M4) on $qport"
"$prov" install --port "$qport" --template "$top/templates/mqtt-mtls.json"
kill $qdev
wait $qdev 2>/dev/null || true
echo "power cycle: QEMU stopped; its flash stays in $demo/device-3/flash.bin"
sh "$top/scripts/qemu-device.sh" --image "$demo/fw/provkit-an386.elf" "$demo/device-3" \
	> "$demo/device-3.port" &
qdev=$!
for _ in $(seq 200); do [ "$(grep -c 'up, device' "$demo/device-3/console.log")" -ge 2 ] && break; sleep 0.02; done  # console.log accumulates
"$prov" install --port "$(head -n 1 "$demo/device-3.port")" --template "$top/templates/mqtt-mtls.json"
kill $qdev
wait $qdev 2>/dev/null || true
trap - EXIT
grep '^\[stats\] smp group=80 id=3' "$demo/device-3/console.log" | head -n 1

step "TLS from the emulated device: the TLS image, its second UART (UART1) bridged to the broker"
# the provisioning firmware plus Mbed TLS's (D)TLS client (docs/tls.md, "On the device")
make -s -C "$top" -f firmware-agent/Makefile BUILD="$build" firmware-tls SIGNER_H="$demo/signer.h" \
	FW_TLS_OUT="$demo/fw/provkit-an386-tls"
"$prov" ca export > "$demo/factory-ca.pem"
openssl s_server -accept 127.0.0.1:0 -cert "$demo/broker.pem" -key "$demo/broker.key" \
	-Verify 1 -CAfile "$demo/factory-ca.pem" -verify_return_error -rev \
	< /dev/null > "$demo/qbroker.log" 2>&1 &
qsrv=$!
sh "$top/scripts/qemu-device.sh" --image "$demo/fw/provkit-an386-tls.elf" --device-id device-4 --net \
	"$demo/device-4" > "$demo/device-4.ports" &
qdev=$!
trap 'kill $qdev $qsrv 2>/dev/null || true' EXIT
for _ in $(seq 500); do
	grep -q 'up, device' "$demo/device-4/console.log" 2>/dev/null &&
		[ "$(grep -c '^/dev/' "$demo/device-4.ports")" = 2 ] && break
	sleep 0.02
done
for _ in $(seq 200); do grep -q '^ACCEPT' "$demo/qbroker.log" && break; sleep 0.02; done
qport=$(sed -n 1p "$demo/device-4.ports")
"$prov" install --port "$qport" --template "$top/templates/mqtt-mtls.json" --trust "$demo/broker.store"
/usr/bin/python3 "$top/tests/tools/uart_bridge.py" tcp "$(sed -n 2p "$demo/device-4.ports")" \
	"127.0.0.1:$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$demo/qbroker.log")" \
	> "$demo/device-4.bridge" &
qbr=$!
trap 'kill $qbr $qdev $qsrv 2>/dev/null || true' EXIT
for _ in $(seq 200); do grep -q '^ready' "$demo/device-4.bridge" 2>/dev/null && break; sleep 0.02; done
# SMP connect on the console: the device handshakes on UART1 with its PSA key,
# sends the line, reads the broker's answer; a second connect resumes
for what in "hello from the Cortex-M4" "hello again"; do
	/usr/bin/python3 "$top/tests/py/smp_client.py" "$qport" connect 1 --send "$what" |
		/usr/bin/python3 -c 'import json, sys
r = json.load(sys.stdin)
print("device-4 connect: %s, %s, max fragment length %d, %s; sent %r, got %r; handshake %d B out, %d B in; RAM: stack %d B, Mbed TLS pool %d B" % (
    "ok" if r["res"] == 0 else "failed (%d)" % r["res"], r.get("suite"), r["mfl"],
    "resumed" if r["resumed"] else "full handshake", sys.argv[1], bytes.fromhex(r.get("reply", "")).decode().strip(),
    r["hs_tx"], r["hs_rx"], r["stack_hs"], r["pool_hs"]))' "$what"
done
kill $qbr $qdev $qsrv
wait $qbr $qdev $qsrv 2>/dev/null || true
trap - EXIT
echo "broker saw: $(grep -m1 '^Peer certificate' "$demo/qbroker.log")"

step "the device's TLS: mutual TLS with the broker, only installed credentials (keys stay in PSA)"
"$prov" ca export > "$demo/factory-ca.pem"
# the broker requires a client certificate from the factory CA and echoes lines reversed
openssl s_server -accept 127.0.0.1:0 -cert "$demo/broker.pem" -key "$demo/broker.key" \
	-Verify 1 -CAfile "$demo/factory-ca.pem" -verify_return_error -rev \
	< /dev/null > "$demo/broker.log" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
for _ in $(seq 200); do grep -q '^ACCEPT' "$demo/broker.log" && break; sleep 0.02; done
bport=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$demo/broker.log")
"$top/$build/agent-sim" --storage "$demo/device-2" --tls-connect "127.0.0.1:$bport" \
	--send "hello broker" --resume
kill $srv
wait $srv 2>/dev/null || true
trap - EXIT
echo "broker saw: $(grep -m1 '^Peer certificate' "$demo/broker.log")"

step "prov list"
"$prov" list | head -n 5
echo "... $("$prov" list --json | grep -c '"id"') devices"
echo
echo "demo ok: factory in $PROV_HOME"
