#!/usr/bin/env bats
# tls.bats - proof by TLS (issue 6): a device provisioned by agent-sim (init, then
# --install of a bundle from prov mint/bundle) connects with agent-tls using only
# what the agent installed: the device key and PSK as opaque PSA keys, the trust
# store or CA certificates, the TLS profile.  Peers are real servers: openssl
# s_server (mutual TLS) and gnutls-serv (DTLS 1.2 PSK, echo mode, fed by
# `prov export psk-table --format gnutls --reveal`).
#
# agent-tls exit codes: 0 handshake ok, 4 slot/credentials/profile, 6 handshake
# failed, 7 server certificate refused (firmware-agent/tls/pa_tls_client.h).

load helper


SIM="$PROV_BUILD/agent-sim"

setup_file() {
	export PKI="$BATS_FILE_TMPDIR/pki"
	sh "$REPO/firmware-agent/trust/tests/mkpki.sh" "$PKI" >/dev/null
}

teardown() {
	bg_stop_all
}

# openssl s_server with the test PKI's server.test chain, asking for a client
# certificate from the CA in $2 (-Verify: one is required), echoing lines
# reversed (-rev).  $1: name.  Sets $T/$1.port.  LEAF: another server.test
# certificate of mkpki.sh (same key and intermediate) instead of leaf.pem;
# PRELOAD: an LD_PRELOAD object for s_server.
start_mtls_server() {
	local name=$1 ca=$2
	shift 2
	env ${PRELOAD:+LD_PRELOAD="$PRELOAD"} openssl s_server -accept 127.0.0.1:0 -cert "${LEAF:-$PKI/leaf.pem}" -key "$PKI/leaf.key" \
		-cert_chain "$PKI/chain.pem" -Verify 1 -CAfile "$ca" -verify_return_error -rev "$@" \
		</dev/null >"$T/$name.log" 2>&1 3>&- &
	bg_record "s_server-$name" $!
	wait_for "$T/$name.log" '^ACCEPT 127'
	sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$T/$name.log" >"$T/$name.port"
}

# A device D with storage $T/dev provisioned with template $1 (bundle installed).
provision() {
	[ -d "$PROV_HOME" ] || make_factory
	"$PROV" signer export >"$T/signer.pem"
	"$SIM" --storage "$T/dev" --device-id D --signer "$T/signer.pem" --init >"$T/dev.pub"
	"$PROV" mint --template "$1" --device D --recipient-key "$T/dev.pub" >/dev/null
	"$PROV" bundle --device D --out "$T/b.cbor" >/dev/null
	"$SIM" --storage "$T/dev" --install "$T/b.cbor" >/dev/null
}

# An mqtt-mtls-like template whose trust store (slot 1) holds the roots given.
mtls_template() {
	local resumption='{"allowed": true, "ticket_lifetime": 86400}'
	[ "${RESUME:-true}" = true ] || resumption='{"allowed": false}'
	cat "$@" >"$T/roots.pem"
	"$PROV" trust build --from "$T/roots.pem" --all --format store --out "$T/store.cbor" >/dev/null
	cat >"$T/mtls.json" <<EOF
{"name": "mqtt-mtls-test", "protocol": "mqtt",
 "device_key": {"type": "p256", "source": "device-or-host"},
 "credentials": [
  {"type": "certificate", "slot": 1, "subject": "CN={id},O=provkit devices",
   "validity": "no-expiry", "extended_key_usage": ["clientAuth"], "include_chain": true},
  {"type": "trust", "slot": 1, "file": "store.cbor", "format": "store"}],
 "tls": {"transport": "tls", "versions": ["1.2", "1.3"],
  "cipher_suites": ["TLS_AES_128_GCM_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                    "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"],
  "max_fragment_length": ${MFL:-4096}, "resumption": $resumption,
  "time_check": "floor", "time_floor": "2026-01-01T00:00:00Z"}}
EOF
}

connect() {
	run "$SIM" --storage "$T/dev" --tls-connect "127.0.0.1:$1" "${@:2}"
}

# ---- mutual TLS ------------------------------------------------------------------

@test "mutual TLS: device key by reference, server checked by the trust store; data echoed" {
	make_factory
	mtls_template "$PKI/new.pem"
	provision "$T/mtls.json"
	"$PROV" ca export >"$T/factory-ca.pem"
	start_mtls_server s "$T/factory-ca.pem"
	connect "$(cat "$T/s.port")" --send "hello broker"
	assert_status 0
	assert_output_has "slot 1: certificate (PSA key 0x2a0001"
	assert_output_has "server check: trust store in slot 1 (1 anchors)"
	assert_output_has "cipher suites: TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256 TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8"
	assert_output_has "connected: TLSv1.2, TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"
	assert_output_has "received: rekorb olleh"
	[ "${lines[-1]}" = "handshake ok" ]
	# the server saw the factory-issued certificate of device D
	grep -q "subject=CN = D, O = provkit devices" "$T/s.log" || grep -q "CN = D" "$T/s.log"
}

@test "mutual TLS: a server whose root the device does not trust is refused (exit 7)" {
	make_factory
	mtls_template "$PKI/other.pem"
	provision "$T/mtls.json"
	"$PROV" ca export >"$T/factory-ca.pem"
	start_mtls_server s "$T/factory-ca.pem"
	connect "$(cat "$T/s.port")" --send hi
	assert_status 7
	assert_output_has "agent-sim: server certificate refused: The certificate is not correctly signed by the trusted CA (flags 0x00000008)"
	[[ "$output" != *"handshake ok"* ]]
}

@test "mutual TLS: a server certificate for clients only (EKU clientAuth), or whose keyUsage lacks digitalSignature, is refused (exit 7)" {
	make_factory
	mtls_template "$PKI/new.pem"
	provision "$T/mtls.json"
	"$PROV" ca export >"$T/factory-ca.pem"
	# the chain is good (openssl says so): only the leaf's usage is wrong
	for c in clientauth kcs; do
		openssl verify -CAfile "$PKI/new.pem" -untrusted "$PKI/int.pem" "$PKI/leaf-$c.pem"
	done
	LEAF="$PKI/leaf-clientauth.pem" start_mtls_server eku "$T/factory-ca.pem"
	connect "$(cat "$T/eku.port")" --send hi
	assert_status 7
	assert_output_has "agent-sim: server certificate refused: Usage does not match the extendedKeyUsage extension (flags 0x00001000)"
	[[ "$output" != *"handshake ok"* && "$output" != *"received:"* ]]
	# the device ended it with unsupported_certificate (alert 43), before
	# sending its own certificate
	wait_for "$T/eku.log" 'alert unsupported certificate\|alert number 43'
	run grep -c "CN = D" "$T/eku.log"
	[ "$output" = 0 ]
	# keyUsage keyCertSign only: OpenSSL will not sign with that certificate
	# (no shared cipher) unless told its keyUsage allows it (openssl_ku.so);
	# then it serves it, and OpenSSL's own client refuses it too
	LEAF="$PKI/leaf-kcs.pem" PRELOAD="$PROV_BUILD/tests/openssl_ku.so" start_mtls_server ku "$T/factory-ca.pem"
	run openssl s_client -connect "127.0.0.1:$(cat "$T/ku.port")" -tls1_2 -CAfile "$PKI/new.pem" \
		-servername server.test </dev/null
	assert_output_has "ecc cert not for signing"
	connect "$(cat "$T/ku.port")" --send hi
	assert_status 7
	assert_output_has "agent-sim: server certificate refused: Usage does not match the keyUsage extension (flags 0x00000800)"
	[[ "$output" != *"handshake ok"* && "$output" != *"received:"* ]]
	wait_for "$T/ku.log" 'alert unsupported certificate\|alert number 43'
}

@test "mutual TLS: a server certificate without keyUsage and extendedKeyUsage, or with anyExtendedKeyUsage, is accepted (Mbed TLS 2.28's rule)" {
	make_factory
	mtls_template "$PKI/new.pem"
	provision "$T/mtls.json"
	"$PROV" ca export >"$T/factory-ca.pem"
	[ -z "$(openssl x509 -in "$PKI/leaf-noext.pem" -noout -ext keyUsage,extendedKeyUsage 2>/dev/null | grep Usage)" ]
	openssl x509 -in "$PKI/leaf-anyeku.pem" -noout -ext extendedKeyUsage | grep -q "Any Extended Key Usage"
	for c in noext anyeku; do
		LEAF="$PKI/leaf-$c.pem" start_mtls_server "$c" "$T/factory-ca.pem"
		connect "$(cat "$T/$c.port")" --send "usage $c"
		assert_status 0
		assert_output_has "received: $(echo "usage $c" | rev)"
		[ "${lines[-1]}" = "handshake ok" ]
	done
}

@test "mutual TLS: a server that does not trust the factory CA ends the handshake (exit 6)" {
	make_factory
	mtls_template "$PKI/new.pem"
	provision "$T/mtls.json"
	start_mtls_server s "$PKI/other.pem"
	connect "$(cat "$T/s.port")" --send hi
	assert_status 6
	assert_output_has "agent-sim: handshake failed: SSL - A fatal alert message was received from our peer"
	[[ "$output" != *"handshake ok"* ]]
	grep -qi "verify error\|certificate verify failed\|unable to get local issuer" "$T/s.log"
}

@test "mutual TLS: resumption by session ticket: the second handshake is abbreviated" {
	make_factory
	mtls_template "$PKI/new.pem"
	provision "$T/mtls.json"
	"$PROV" ca export >"$T/factory-ca.pem"
	start_mtls_server s "$T/factory-ca.pem"
	connect "$(cat "$T/s.port")" --send one --resume
	assert_status 0
	assert_output_has "resumption: allowed (session tickets)"
	assert_output_has "reconnecting with the saved session"
	assert_output_has "session: resumed (abbreviated handshake)"
	[ "${lines[-1]}" = "handshake ok" ]
}

@test "mutual TLS: a profile without resumption does not resume" {
	make_factory
	RESUME=false mtls_template "$PKI/new.pem"
	provision "$T/mtls.json"
	"$PROV" ca export >"$T/factory-ca.pem"
	start_mtls_server s "$T/factory-ca.pem"
	connect "$(cat "$T/s.port")" --resume
	assert_status 0
	assert_output_has "resumption: not allowed"
	assert_output_has "reconnecting: the profile does not allow resumption"
	[[ "$output" != *"session: resumed"* ]]
}

@test "max fragment length: the profile's 2048 is offered and echoed (client and server views)" {
	make_factory
	MFL=2048 mtls_template "$PKI/new.pem"
	provision "$T/mtls.json"
	"$PROV" ca export >"$T/factory-ca.pem"
	start_mtls_server s "$T/factory-ca.pem" -msg
	connect "$(cat "$T/s.port")" --send x
	assert_status 0
	assert_output_has "max fragment length: 2048 requested"
	assert_output_has "max fragment length: 2048 (negotiated: the server echoed the extension)"
	# server side: the ServerHello that s_server sent carries extension 1 = 3 (2^11)
	"$PY" - "$T/s.log" <<'EOF'
import re, sys
log = open(sys.argv[1]).read()
m = re.search(r">>> TLS 1\.2, Handshake \[length [0-9a-f]+\], ServerHello\n((?:\s+(?:[0-9a-f]{2} ?)+\n)+)", log)
assert m, "no ServerHello in the -msg output"
b = bytes.fromhex("".join(m.group(1).split()))
assert b[0] == 2
p = 4 + 2 + 32
p += 1 + b[p]            # session id
p += 2 + 1               # cipher suite, compression
end = p + 2 + int.from_bytes(b[p:p + 2], "big")
p += 2
exts = {}
while p < end:
    t, n = int.from_bytes(b[p:p + 2], "big"), int.from_bytes(b[p + 2:p + 4], "big")
    exts[t] = b[p + 4:p + 4 + n]
    p += 4 + n
assert exts.get(1) == b"\x03", exts
EOF
}

# ---- DTLS 1.2 PSK ------------------------------------------------------------------

# gnutls-serv, DTLS echo server with the factory's PSK table.  $1: table file.
start_psk_server() {
	local port
	port=$(free_port udp)
	gnutls-serv --udp --echo -p "$port" --pskpasswd "$1" \
		--priority 'NORMAL:+PSK:+AES-128-CCM-8:+VERS-DTLS1.2' </dev/null >"$T/g.log" 2>&1 3>&- &
	bg_record gnutls-serv $!
	wait_for "$T/g.log" 'UDP Echo Server listening on IPv4'
	echo "$port" >"$T/g.port"
}

@test "DTLS 1.2 PSK (TLS_PSK_WITH_AES_128_CCM_8) against gnutls-serv with the exported PSK table" {
	provision "$TPL/coaps-psk.json"
	"$PROV" export psk-table --format gnutls --reveal --out "$T/psk.txt" >/dev/null
	start_psk_server "$T/psk.txt"
	connect "$(cat "$T/g.port")" --dtls --send "coap ping"
	assert_status 0
	assert_output_has "slot 2: psk (PSA key 0x2a000100), protocol coaps over DTLS 1.2"
	assert_output_has "cipher suites: TLS-PSK-WITH-AES-128-CCM-8"
	assert_output_has "connected: DTLSv1.2, TLS-PSK-WITH-AES-128-CCM-8"
	assert_output_has "max fragment length: 1024 (negotiated: the server echoed the extension)"
	assert_output_has "received: coap ping"
	[ "${lines[-1]}" = "handshake ok" ]
	grep -q "Processing 9 bytes command: coap ping" "$T/g.log"
}

@test "DTLS 1.2 PSK: resumption allowed by coaps-psk is an abbreviated handshake" {
	provision "$TPL/coaps-psk.json"
	"$PROV" export psk-table --format gnutls --reveal --out "$T/psk.txt" >/dev/null
	start_psk_server "$T/psk.txt"
	connect "$(cat "$T/g.port")" --dtls --resume
	assert_status 0
	assert_output_has "session: resumed (abbreviated handshake)"
}

@test "DTLS 1.2 PSK: a wrong PSK fails the handshake (exit 6)" {
	provision "$TPL/coaps-psk.json"
	"$PROV" export psk-table --format gnutls --reveal --out "$T/psk.txt" >/dev/null
	# same identity, another key
	sed 's/:.*/:00112233445566778899aabbccddeeff/' "$T/psk.txt" >"$T/wrong.txt"
	start_psk_server "$T/wrong.txt"
	connect "$(cat "$T/g.port")" --dtls --send x --timeout 3000
	assert_status 6
	assert_output_has "agent-sim: handshake failed:"
	[[ "$output" != *"handshake ok"* ]]
}

@test "DTLS 1.2 PSK against openssl s_server -dtls1_2 -psk: the server reports the suite" {
	provision "$TPL/coaps-psk.json"
	key=$("$PROV" export --device D --what psk --reveal | cut -d: -f2)
	# (s_server ends at EOF on its stdin: keep it open for a while)
	sleep 15 3>&- | openssl s_server -dtls1_2 -accept 127.0.0.1:0 -nocert -psk "$key" -psk_identity D \
		-cipher PSK-AES128-CCM8 >"$T/o.log" 2>&1 3>&- &
	bg_record s_server-dtls $!
	wait_for "$T/o.log" '^ACCEPT 127'
	port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$T/o.log")
	"$SIM" --storage "$T/dev" --tls-connect "127.0.0.1:$port" --dtls --send "from D" --timeout 1000 \
		>"$T/c.out" 2>&1 || true
	grep -q "connected: DTLSv1.2, TLS-PSK-WITH-AES-128-CCM-8" "$T/c.out"
	wait_for "$T/o.log" 'from D'
	grep -q "CIPHER is PSK-AES128-CCM8" "$T/o.log"
}

@test "--dtls with a TLS profile, no device, and usage errors are refused" {
	make_factory
	mtls_template "$PKI/new.pem"
	provision "$T/mtls.json"
	connect 1 --dtls
	assert_status 4
	assert_output_has "agent-sim: slot 1: --dtls, but the installed profile says TLS"
	connect 1 --slot 7
	assert_status 4
	assert_output_has "agent-sim: slot 7: no TLS credential in that slot"
	run "$SIM" --storage "$T/nodev" --tls-connect 127.0.0.1:1
	assert_status 3
	assert_output_has "no device here"
	run "$SIM" --storage "$T/dev" --tls-connect nohostport
	assert_status 2
	assert_output_has "is not HOST:PORT"
	run "$SIM" --storage "$T/dev" --tls-connect 127.0.0.1:1 --slot -1
	assert_status 2
	# nothing listens: a clear reason
	connect "$(free_port tcp)"
	assert_status 5
	assert_output_has "agent-sim: connect:"
}

# ---- RPK: what can be shown ----------------------------------------------------------

@test "RPK: the installed key signs through PSA, and its SPKI is the one the server pins" {
	make_factory
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/server.key" 2>/dev/null
	server_spki=$(openssl pkey -in "$T/server.key" -pubout -outform DER | base64 -w0)
	cat >"$T/rpk.json" <<EOF
{"name": "rpk-test", "protocol": "lwm2m",
 "device_key": {"type": "p256", "source": "device-or-host"},
 "credentials": [{"type": "rpk", "slot": 3, "server_spki": "$server_spki"}],
 "tls": {"transport": "dtls", "versions": ["1.2"],
         "cipher_suites": ["TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"]}}
EOF
	provision "$T/rpk.json"
	printf 'challenge from the server' >"$T/msg"
	run "$SIM" --storage "$T/dev" --key-proof "$T/msg" --slot 3
	assert_status 0
	spki=$(echo "$output" | sed -n 's/^spki: //p')
	sig=$(echo "$output" | sed -n 's/^signature: //p')
	# the SPKI PSA gives is the device's public key the factory recorded (what
	# an LwM2M server pins as the client's RPK)
	"$PROV" export --device D --what pubkey --der >"$T/factory.spki"
	[ "$spki" = "$(xxd -p "$T/factory.spki" | tr -d '\n')" ]
	# and the signature made through PSA verifies under it (openssl)
	echo "$spki" | xxd -r -p >"$T/dev.spki"
	echo "$sig" | xxd -r -p >"$T/sig.der"
	openssl dgst -sha256 -verify "$T/dev.spki" -keyform DER -signature "$T/sig.der" "$T/msg"
	# a TLS connection with it is not possible: Mbed TLS 2.28 has no RFC 7250
	connect 1 --slot 3
	assert_status 4
	assert_output_has "agent-sim: slot 3: raw public keys (RFC 7250) are not supported by Mbed TLS 2.28"
}
