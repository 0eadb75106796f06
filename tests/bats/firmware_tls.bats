#!/usr/bin/env bats
# firmware_tls.bats - TLS from the emulated device (issue 13; docs/tls.md "On
# the device"): the TLS image (build/firmware/provkit-an386-tls.elf, QEMU
# mps2-an386) is provisioned over its console (UART0) by `prov install`, then
# the SMP command connect (tests/py/smp_client.py) makes it run a (D)TLS
# handshake with nothing but what it installed, on its second UART (UART1),
# which tests/tools/uart_bridge.py carries to a real server on 127.0.0.1: a
# byte stream for TLS, SLIP frames for DTLS.  The console goes through the
# bridge's tap, so every byte both ways is logged.
#
#   mqtt-mtls   mutual TLS vs openssl s_server -Verify 1 -CAfile <prov ca export>
#   coaps-psk   DTLS 1.2 PSK vs gnutls-serv --pskpasswd <prov export psk-table>
#   lwm2m-psk   the same, fed from the LwM2M Security object export
#
# connect's answer (docs/serial-protocol.md): res 0 ok, 5 nothing came back on
# the link, 6 handshake failed, 7 server certificate refused, 8 I/O after the
# handshake; smp_client exits 4 when res is not 0.

bats_require_minimum_version 1.5.0
load helper

QDEV="$REPO/scripts/qemu-device.sh"
SMPC="$REPO/tests/py/smp_client.py"
BRIDGE="$REPO/tests/tools/uart_bridge.py"
SCAN="$REPO/tests/py/secret_scan.py"

setup_file() {
	export PKI="$BATS_FILE_TMPDIR/pki"
	sh "$REPO/firmware-agent/trust/tests/mkpki.sh" "$PKI" >/dev/null
}

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

# Every background process of the test, newest first (bridges before the
# device they serve); qemu-device.sh stops QEMU on SIGTERM.  Each must end
# (helper.bash: bg_stop_all).
teardown() {
	exec 7>&- 2>/dev/null || true
	bg_stop_all
}

# bg PID NAME: a background process of the test (helper.bash: bg_record).
bg() {
	bg_record "$2" "$1"
}

# A factory and its TLS image ($T/fw/provkit-an386-tls.elf).
factory_and_image() {
	make_factory
	"$PROV" signer export --format c >"$T/signer.h"
	make -s -C "$REPO" -f firmware-agent/Makefile BUILD="$PROV_BUILD" firmware-tls \
		SIGNER_H="$T/signer.h" FW_TLS_OUT="$T/fw/provkit-an386-tls" >"$T/fw.log" 2>&1 ||
		{ cat "$T/fw.log" >&2; return 1; }
	[ -f "$T/fw/provkit-an386-tls.elf" ]
}

# start ID: the device $T/ID with both UARTs; the console through the logging
# tap.  Sets CON (the tap's pty: the console for prov and smp_client) and NET
# (UART1's pty).
start() {
	local id=$1 i
	sh "$QDEV" --image "$T/fw/provkit-an386-tls.elf" --device-id "$id" --net "$T/$id" \
		>"$T/$id.ports" 2>"$T/$id.err" 3>&- &
	bg $! "qemu-device.sh-$id"
	for i in $(seq 1500); do   # (first start: the identity key is made; a loaded host)
		grep -q 'up, device' "$T/$id/console.log" 2>/dev/null &&
			[ "$(grep -c '^/dev/' "$T/$id.ports")" = 2 ] && break
		sleep 0.02
	done
	grep -q "(an386, tls) up, device $id" "$T/$id/console.log" ||
		{ cat "$T/$id.err" "$T/$id/console.log" "$T/$id/qemu.err" >&2; return 1; }
	NET=$(sed -n 2p "$T/$id.ports")
	[[ "$NET" == /dev/* ]]
	"$PY" "$BRIDGE" tap "$(sed -n 1p "$T/$id.ports")" --log "$T/$id-console" \
		>"$T/$id.tap" 2>&1 3>&- &
	local tap=$!
	bg $tap "uart_bridge-tap-$id"
	for i in $(seq 1000); do
		CON=$(head -n 1 "$T/$id.tap" 2>/dev/null || true)   # (not there yet: keep waiting)
		[[ "$CON" == /dev/* ]] && return 0
		sleep 0.02
	done
	echo "the console's tap did not start: $(cat "$T/$id.tap")" \
		"(state: $(cat /proc/$tap/wchan 2>/dev/null) $(cut -d' ' -f3 /proc/$tap/stat 2>/dev/null))" >&2
	return 1
}

# link MODE HOST:PORT: UART1 to a TCP (tcp) or UDP (udp) server; its bytes in
# $T/net.to-dev and $T/net.from-dev.  unlink: stop that bridge.
link() {
	"$PY" "$BRIDGE" "$1" "$NET" "$2" --log "$T/net" --stats "$T/net.json" >"$T/bridge.out" 2>&1 3>&- &
	BRIDGE_PID=$!
	bg $BRIDGE_PID uart_bridge-net
	wait_for "$T/bridge.out" '^ready'
}

unlink() {
	bg_kill "$BRIDGE_PID"
	wait "$BRIDGE_PID" || true
}

provision() {
	run --separate-stderr "$PROV" install --port "$CON" "$@"
	if [ "$status" -ne 0 ]; then
		echo "prov install: exit $status: $stderr" >&2
		return 1
	fi
}

# connect ARGS...: smp_client's connect on the console; $output is its JSON.
connect() {
	run --separate-stderr "$PY" "$SMPC" "$CON" connect "$@" --wait 60
}

# j EXPR: a value of $output (jq).
j() {
	echo "$output" | jq -r "$1"
}

# The reply as text.
reply() {
	j .reply | xxd -r -p
}

# The PSA key ID the device's status shows for entry type $2 of slot $1.
status_kid() {
	"$PY" "$SMPC" "$CON" status | jq -r ".slots[] | select(.slot == $1 and .type == $2) | .kid"
}

# openssl s_server on a free port with ARGS; sets PORT.  Its stdin stays open
# (a fifo held by fd 7): in its default mode it ends at end of input.
start_s_server() {
	local name=$1
	shift
	mkfifo "$T/$name.in"
	openssl s_server -accept 127.0.0.1:0 "$@" <"$T/$name.in" >"$T/$name.log" 2>&1 3>&- &
	bg $! "s_server-$name"
	exec 7>"$T/$name.in"
	wait_for "$T/$name.log" '^ACCEPT 127'
	PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$T/$name.log")
}

broker_store() {
	cat "$PKI/other.pem" "$PKI/new.pem" >"$T/roots.pem"
	cat "$PKI/leaf.pem" "$PKI/chain.pem" >"$T/served.pem"
	"$PROV" trust build --from "$T/roots.pem" --chain "$T/served.pem" --out "$T/broker.store" >/dev/null
}

SERVER_CERT=()
server_cert() {
	SERVER_CERT=(-cert "$PKI/leaf.pem" -key "$PKI/leaf.key" -cert_chain "$PKI/chain.pem")
}

# start_gnutls TABLE [LOG]: gnutls-serv, DTLS echo with a PSK table, its log in
# $T/LOG (default g.log); debug level 4 shows which handshake messages it sends
# and receives.  Sets PORT.
start_gnutls() {
	local log="$T/${2:-g.log}"
	PORT=$(free_port udp)
	gnutls-serv -d 4 --udp --echo -p "$PORT" --pskpasswd "$1" \
		--priority 'NORMAL:+PSK:+AES-128-CCM-8:+VERS-DTLS1.2' </dev/null >"$log" 2>&1 3>&- &
	bg $! gnutls-serv
	wait_for "$log" 'UDP Echo Server listening on IPv4'
}

# A healthy run of device $1: no fault, no received byte lost on the console,
# and the painted stack and the Mbed TLS pool each kept 256 bytes untouched.
healthy() {
	run grep -c '^\[fault\]\|fatal' "$T/$1/console.log"
	[ "$output" = 0 ]
	run grep -c 'overruns=[1-9]' "$T/$1/console.log"
	[ "$output" = 0 ]
	grep '^\[stats\]' "$T/$1/console.log" | tr ' ' '\n' | grep -E '^(stack|pool)=' | awk -F'[=/]' '
		{ n++; if ($3 - $2 < 256) { print "high-water too close to the limit: " $0; bad = 1 } }
		END { exit (n == 0 || bad) }' >&2
}

@test "firmware-tls: the image has the TLS client, no heap, no way to export a key; the provisioning image has none of it" {
	factory_and_image
	make -s -C "$REPO" -f firmware-agent/Makefile BUILD="$PROV_BUILD" firmware \
		SIGNER_H="$T/signer.h" FW_OUT="$T/fw/provkit-an386" >"$T/fw2.log" 2>&1
	run arm-none-eabi-nm "$T/fw/provkit-an386-tls.elf"
	assert_status 0
	tls_syms=$output
	for s in mbedtls_ssl_handshake_step mbedtls_pk_setup_opaque mbedtls_ssl_conf_psk_opaque \
		pa_trust_mbedtls_verify_cb pa_board_net_read pa_slip_send UART1RX_Handler; do
		echo "$tls_syms" | awk '{ print $NF }' | grep -qx "$s"
	done
	# no heap, and nothing that could read a key's bytes out of PSA
	heap=$(echo "$tls_syms" | awk '{ print $NF }' |
		grep -Ec '^(malloc|free|calloc|realloc|_malloc_r|_free_r|_sbrk|psa_export_key)$' || true)
	[ "$heap" = 0 ]
	run arm-none-eabi-nm "$T/fw/provkit-an386.elf"
	assert_status 0
	prov_tls=$(echo "$output" | awk '{ print $NF }' | grep -Ec '^(mbedtls_ssl_|pa_board_net_|UART1RX)' || true)
	[ "$prov_tls" = 0 ]
	# the TLS image's vector table reaches UART1's interrupt (IRQ 2), the
	# provisioning image's stops at UART0's
	[ "$(arm-none-eabi-size -A "$T/fw/provkit-an386-tls.elf" | awk '$1 == ".isr_vector" { print $2 }')" = 76 ]
	[ "$(arm-none-eabi-size -A "$T/fw/provkit-an386.elf" | awk '$1 == ".isr_vector" { print $2 }')" = 68 ]
}

@test "firmware-tls mqtt-mtls: mutual TLS on UART1 vs openssl s_server -Verify with the factory CA: echoed, MFL 4096, device key by PSA ID" {
	factory_and_image
	broker_store
	start tls-dev-1
	provision --template "$TPL/mqtt-mtls.json" --trust "$T/broker.store"
	"$PROV" ca export >"$T/factory-ca.pem"
	server_cert
	start_s_server s "${SERVER_CERT[@]}" -Verify 1 -CAfile "$T/factory-ca.pem" -verify_return_error -rev
	link tcp "127.0.0.1:$PORT"
	connect 1 --send "hello broker"
	assert_status 0
	[ "$(j .res)" = 0 ]
	[ "$(j .mode)" = cert ]
	[ "$(j .transport)" = tls ]
	[ "$(j .ver)" = TLSv1.2 ]
	[ "$(j .suite)" = TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256 ]
	[ "$(j .mfl_req)" = 4096 ]
	[ "$(j .mfl)" = 4096 ]
	[ "$(j .resumed)" = false ]
	[ "$(reply)" = "rekorb olleh" ]
	# the key it signed with is the private-key entry's PSA key (made by keygen
	# on the device, never outside it)
	kid=$(j .kid)
	[ "$kid" = "$(status_kid 1 3)" ]
	[ "$kid" -gt 0 ]
	# the server's view: the device's certificate, verified against the factory
	# CA, and the line it echoed
	grep -q "^Peer certificate: O = provkit devices, CN = tls-dev-1" "$T/s.log"
	grep -q "^Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256" "$T/s.log"
	# the device offers secp256r1 first (RFC 7925), so s_server, which follows
	# the client's order, does its ECDHE on P-256 rather than P-521
	grep -q "^Supported groups: secp256r1:" "$T/s.log"
	# the bytes the device counted on the link are what the bridge carried
	[ "$(j .tx)" -gt "$(j .hs_tx)" ] && [ "$(j .hs_tx)" -gt 500 ] && [ "$(j .hs_rx)" -gt 1000 ]
	[ "$(j .pool_hs)" -le "$(j .pool_size)" ] && [ "$(j .stack_hs)" -gt 1024 ]
	[ "$(stat -c %s "$T/net.from-dev")" = "$(j .tx)" ]
	[ "$(stat -c %s "$T/net.to-dev")" = "$(j .rx)" ]
	healthy tls-dev-1
}

@test "firmware-tls mqtt-mtls: the second connect resumes the session (abbreviated; s_server: Reused session-id); --fresh does not" {
	factory_and_image
	broker_store
	start tls-dev-2
	provision --template "$TPL/mqtt-mtls.json" --trust "$T/broker.store"
	"$PROV" ca export >"$T/factory-ca.pem"
	server_cert
	# s_server's default mode reports a resumed session as "Reused session-id"
	start_s_server s "${SERVER_CERT[@]}" -Verify 1 -CAfile "$T/factory-ca.pem" -verify_return_error
	link tcp "127.0.0.1:$PORT"
	connect 1
	assert_status 0
	[ "$(j .resumable)" = true ] && [ "$(j .offered)" = false ] && [ "$(j .resumed)" = false ]
	full_tx=$(j .hs_tx) full_rx=$(j .hs_rx)
	connect 1
	assert_status 0
	[ "$(j .offered)" = true ] && [ "$(j .resumed)" = true ]
	# the abbreviated handshake: no certificates, no key exchange
	[ "$(j .hs_rx)" -lt $((full_rx / 4)) ]
	[ "$(j .mfl)" = 4096 ]
	connect 1 --fresh
	assert_status 0
	[ "$(j .offered)" = false ] && [ "$(j .resumed)" = false ]
	# a full handshake again (its signatures' DER lengths vary by a few bytes)
	[ "$(j .hs_tx)" -gt $((full_tx - 8)) ] && [ "$(j .hs_rx)" -gt $((full_rx - 8)) ]
	# the server: three handshakes, the device's chain verified in two, the
	# second one resumed
	[ "$(grep -c '^Reused session-id' "$T/s.log")" = 1 ]
	[ "$(grep -c '^depth=0 O = provkit devices, CN = tls-dev-2' "$T/s.log")" = 2 ]
	[ "$(grep -c '^CIPHER is ECDHE-ECDSA-AES128-GCM-SHA256' "$T/s.log")" = 3 ]
	awk '/^CIPHER is/ { n++ } /^Reused session-id/ { print n }' "$T/s.log" | grep -qx 2
	healthy tls-dev-2
}

@test "firmware-tls mqtt-mtls: a server under a root the device does not trust, or whose certificate is for clients only, is refused (res 7); a broker that refuses the device ends it (res 6)" {
	factory_and_image
	broker_store
	start tls-dev-3
	provision --template "$TPL/mqtt-mtls.json" --trust "$T/broker.store"
	"$PROV" ca export >"$T/factory-ca.pem"
	# server.test with a certificate of its own (P-256, self-signed): a root
	# the device's store does not hold
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=server.test \
		-addext subjectAltName=DNS:server.test -days 2 -keyout "$T/rogue.key" -out "$T/rogue.pem" 2>/dev/null
	start_s_server x -cert "$T/rogue.pem" -key "$T/rogue.key" -Verify 1 -CAfile "$T/factory-ca.pem" -rev
	link tcp "127.0.0.1:$PORT"
	connect 1 --send hi
	[ "$status" -eq 4 ]
	[ "$(j .res)" = 7 ]
	[ "$(j .tls)" = "$((-0x2700))" ]   # MBEDTLS_ERR_X509_CERT_VERIFY_FAILED
	[ $(( $(j .flags) & 0x08 )) -ne 0 ]   # MBEDTLS_X509_BADCERT_NOT_TRUSTED
	[ "$(j .reply)" = null ]
	# the server got no certificate from the device: it stopped at the chain
	run grep -c '^Peer certificate' "$T/x.log"
	[ "$output" = 0 ]
	# a good chain under the trusted root, but the server's certificate has
	# extendedKeyUsage clientAuth only (MBEDTLS_X509_CHECK_EXTENDED_KEY_USAGE)
	unlink
	start_s_server u -cert "$PKI/leaf-clientauth.pem" -key "$PKI/leaf.key" -cert_chain "$PKI/chain.pem" \
		-Verify 1 -CAfile "$T/factory-ca.pem" -rev
	link tcp "127.0.0.1:$PORT"
	connect 1 --send hi
	[ "$status" -eq 4 ]
	[ "$(j .res)" = 7 ]
	[ "$(j .tls)" = "$((-0x7A00))" ]   # MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE
	[ "$(j .flags)" = "$((0x1000))" ]  # MBEDTLS_X509_BADCERT_EXT_KEY_USAGE, and nothing else
	[ "$(j .reply)" = null ]
	run grep -c '^Peer certificate' "$T/u.log"
	[ "$output" = 0 ]
	# a broker trusting another CA refuses the device's certificate
	server_cert
	unlink
	start_s_server y "${SERVER_CERT[@]}" -Verify 1 -CAfile "$PKI/other.pem" -verify_return_error -rev
	link tcp "127.0.0.1:$PORT"
	connect 1 --send hi
	[ "$status" -eq 4 ]
	[ "$(j .res)" = 6 ]
	[ "$(j .tls)" = "$((-0x7780))" ]   # MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE
	healthy tls-dev-3
}

# scan_psk DEVICE: the device's PSK (from the factory, revealed here only) is
# nowhere in the console's bytes (both ways, and in the SMP packets they
# carried) nor in UART1's (both ways, and in the datagrams).  First the
# scanner is shown to find it where it is.
scan_psk() {
	local psk
	psk=$(cut -d: -f2 "$T/psk.txt" | tr 'A-F' 'a-f')
	[ ${#psk} = 32 ]
	"$PY" -c '
import sys
sys.path.insert(0, sys.argv[2])
from smp_client import frame
body = b"\xa1\x63key\x50" + bytes.fromhex(sys.argv[1])
hdr = bytes([0x0a, 0]) + len(body).to_bytes(2, "big") + bytes([0, 80, 1, 5])
open(sys.argv[3], "wb").write(b"log line\n" + frame(hdr + body))
' "$psk" "$REPO/tests/py" "$T/planted.console"
	run "$PY" "$SCAN" "$psk" --console "$T/planted.console"
	[ "$status" -eq 1 ]
	[[ "$output" == *"raw in packet 0"* ]]
	run "$PY" "$SCAN" "$psk" --console "$T/$1-console.to-dev" --console "$T/$1-console.from-dev" \
		--slip "$T/net.to-dev" --slip "$T/net.from-dev"
	echo "$output" >&2
	assert_status 0
	# what was scanned: the provisioning (bundle upload) and the connects
	[ "$(stat -c %s "$T/$1-console.to-dev")" -gt 500 ]
	[ "$(stat -c %s "$T/net.from-dev")" -gt 100 ]
}

@test "firmware-tls coaps-psk: DTLS 1.2 PSK-AES128-CCM8 on UART1 (SLIP) vs gnutls-serv with the exported table; resumed; nothing secret on either UART" {
	factory_and_image
	start tls-dev-4
	provision --template "$TPL/coaps-psk.json"
	"$PROV" export psk-table --format gnutls --reveal --out "$T/psk.txt" >/dev/null
	[ "$(cut -d: -f1 "$T/psk.txt")" = tls-dev-4 ]
	start_gnutls "$T/psk.txt"
	link udp "127.0.0.1:$PORT"
	connect --send "coap ping"
	assert_status 0
	[ "$(j .res)" = 0 ]
	[ "$(j .mode)" = psk ]
	[ "$(j .transport)" = dtls ]
	[ "$(j .ver)" = DTLSv1.2 ]
	[ "$(j .suite)" = TLS-PSK-WITH-AES-128-CCM-8 ]
	[ "$(j .mfl)" = 1024 ]
	[ "$(reply)" = "coap ping" ]
	[ "$(j .kid)" = "$(status_kid 2 4)" ]   # the PSK, used by its PSA key ID
	grep -q "Processing 10 bytes command: coap ping" "$T/g.log"
	connect --send "coap ping 2"
	assert_status 0
	[ "$(j .offered)" = true ] && [ "$(j .resumed)" = true ]
	[ "$(reply)" = "coap ping 2" ]
	# the server's side: two ServerHellos, but the key exchange (ServerHelloDone,
	# then the client's ClientKeyExchange) only in the first
	[ "$(grep -c 'SERVER HELLO was queued' "$T/g.log")" = 2 ]
	[ "$(grep -c 'SERVER HELLO DONE was queued' "$T/g.log")" = 1 ]
	[ "$(grep -c 'CLIENT KEY EXCHANGE (16) was received' "$T/g.log")" = 1 ]
	scan_psk tls-dev-4
	healthy tls-dev-4
}

@test "firmware-tls coaps-psk: a profile without resumption never offers the session; another key for the identity fails (res 6)" {
	factory_and_image
	start tls-dev-5
	# coaps-psk with "resumption": {"allowed": false}
	jq '.tls.resumption = {"allowed": false}' "$TPL/coaps-psk.json" >"$T/no-resume.json"
	provision --template "$T/no-resume.json"
	"$PROV" export psk-table --format gnutls --reveal --out "$T/psk.txt" >/dev/null
	start_gnutls "$T/psk.txt"
	link udp "127.0.0.1:$PORT"
	connect --send one
	assert_status 0
	[ "$(j .resumable)" = false ] && [ "$(j .offered)" = false ] && [ "$(j .resumed)" = false ]
	connect --send two
	assert_status 0
	[ "$(j .resumable)" = false ] && [ "$(j .offered)" = false ] && [ "$(j .resumed)" = false ]
	[ "$(grep -c 'SERVER HELLO DONE was queued' "$T/g.log")" = 2 ]
	# the profile also turns session tickets off: the device asks for none
	run grep -c "Parsing extension 'Session Ticket/35'" "$T/g.log"
	[ "$output" = 0 ]
	unlink
	sed 's/:.*/:00112233445566778899aabbccddeeff/' "$T/psk.txt" >"$T/wrong.txt"
	start_gnutls "$T/wrong.txt" wrong.log
	link udp "127.0.0.1:$PORT"
	connect --send x --tls-timeout 3000
	[ "$status" -eq 4 ]
	[ "$(j .res)" = 6 ]
	[ "$(j .reply)" = null ]
	[ "$(j .hs_rx)" -gt 0 ]   # the server answered: not a dead link
	run grep -c 'Processing' "$T/wrong.log"
	[ "$output" = 0 ]
	healthy tls-dev-5
}

@test "firmware-tls lwm2m-psk: DTLS 1.2 PSK vs gnutls-serv fed from the LwM2M Security object export; nothing secret on either UART" {
	factory_and_image
	start tls-dev-6
	provision --template "$TPL/lwm2m-psk.json"
	"$PROV" export --device tls-dev-6 --what lwm2m-security --json --reveal >"$T/sec.json"
	"$PY" - "$T/sec.json" >"$T/psk.txt" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
r = s["resources"]
assert s["security_mode"] == "psk" and r["2"] == 0, s
assert bytes.fromhex(r["3"]) == s["psk_identity"].encode() == b"tls-dev-6", s
print("%s:%s" % (s["psk_identity"], r["5"]))
PY
	# the same key as the psk-table export
	"$PROV" export psk-table --format gnutls --reveal --out "$T/table.txt" >/dev/null
	[ "$(tr A-F a-f <"$T/psk.txt")" = "$(tr A-F a-f <"$T/table.txt")" ]
	start_gnutls "$T/psk.txt"
	link udp "127.0.0.1:$PORT"
	connect 10 --send "</rd>;ep=tls-dev-6"
	assert_status 0
	[ "$(j .res)" = 0 ]
	[ "$(j .suite)" = TLS-PSK-WITH-AES-128-CCM-8 ]
	[ "$(j .mfl)" = 1024 ]
	[ "$(reply)" = "</rd>;ep=tls-dev-6" ]
	[ "$(j .kid)" = "$(status_kid 10 4)" ]
	scan_psk tls-dev-6
	healthy tls-dev-6
}

@test "firmware-tls connect: a retransmission (same id) gets the same answer without a second handshake; bad requests are refused" {
	factory_and_image
	start tls-dev-7
	provision --template "$TPL/coaps-psk.json"
	"$PROV" export psk-table --format gnutls --reveal --out "$T/psk.txt" >/dev/null
	start_gnutls "$T/psk.txt"
	link udp "127.0.0.1:$PORT"
	# {"id": h'0102030405060708', "send": "once"} twice, then another id
	body=a26269644801020304050607086473656e64646f6e6365
	run "$PY" "$SMPC" "$CON" raw 80 5 2 "$body" --timeout 30
	assert_status 0
	first=$output
	[ "$(j .res)" = 0 ]
	run "$PY" "$SMPC" "$CON" raw 80 5 2 "$body" --timeout 30
	assert_status 0
	[ "$output" = "$first" ]
	[ "$(grep -c 'SERVER HELLO was queued' "$T/g.log")" = 1 ]
	[ "$(grep -c 'Processing 5 bytes command: once' "$T/g.log")" = 1 ]
	run "$PY" "$SMPC" "$CON" raw 80 5 2 a262696448ffffffffffffffff6473656e64646f6e6365 --timeout 30
	assert_status 0
	[ "$(grep -c 'Processing 5 bytes command: once' "$T/g.log")" = 2 ]
	# a slot without TLS credentials: the adapter's code (71, docs/tls.md)
	run "$PY" "$SMPC" "$CON" connect 7
	[ "$status" -eq 1 ]
	[ "$(j .err.rc)" = 71 ]
	# send and echo together, an echo above 16384, a text key of the wrong type: 60
	run "$PY" "$SMPC" "$CON" raw 80 5 2 a26473656e646178646563686f01
	[ "$status" -eq 1 ] && [ "$(j .err.rc)" = 60 ]
	run "$PY" "$SMPC" "$CON" raw 80 5 2 a1646563686f1a00010000
	[ "$status" -eq 1 ] && [ "$(j .err.rc)" = 60 ]
	run "$PY" "$SMPC" "$CON" raw 80 5 2 a164736c6f746131
	[ "$status" -eq 1 ] && [ "$(j .err.rc)" = 60 ]
	healthy tls-dev-7
}
