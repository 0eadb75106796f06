#!/usr/bin/env bats
# tls_profiles.bats - every shipped template that carries TLS, proven end to end
# (issue 6): a fresh agent-sim is provisioned OVER A PTY by `prov install` (SMP,
# docs/serial-protocol.md), the simulator is stopped, and then the device's
# application, `agent-sim --tls-connect`, talks to a real peer using nothing but
# what was installed (keys by reference in PSA, the trust store or CA
# certificates, the template's TLS profile).
#
#   mqtt-mtls     mutual TLS vs openssl s_server -Verify 1 -CAfile <prov ca export>
#   coaps-psk     DTLS 1.2 PSK vs gnutls-serv --pskpasswd <prov export psk-table>
#   lwm2m-psk     DTLS 1.2 PSK vs openssl s_server -dtls1_2 -psk <the exported key>
#   lwm2m-cert    DTLS 1.2 with certificates vs openssl s_server -dtls1_2 -Verify 1
#   https-client  server authentication only vs openssl s_server -www
#   lwm2m-rpk     the RPK gap: key proof through PSA, SPKI as pinned, no handshake
#
# The test PKI (server.test, P-256, under "New Root CA") comes from
# firmware-agent/trust/tests/mkpki.sh.  agent-sim --tls-connect exits 0 handshake
# ok, 4 slot/credentials/profile, 6 handshake failed, 7 server certificate
# refused (docs/agent.md).

bats_require_minimum_version 1.5.0
load helper

SIM="$PROV_BUILD/agent-sim"

setup_file() {
	export PKI="$BATS_FILE_TMPDIR/pki"
	sh "$REPO/firmware-agent/trust/tests/mkpki.sh" "$PKI" >/dev/null
}

# Every background process of the test (helper.bash: bg_record, bg_stop_all).
teardown() {
	bg_stop_all
}

# provision TEMPLATE [prov install options...]: a fresh device D (storage $T/dev)
# served on a pty by agent-sim, provisioned by prov install, then stopped.
provision() {
	local tpl=$1 i pty=
	shift
	[ -d "$PROV_HOME" ] || make_factory
	"$PROV" signer export >"$T/signer.pem"
	"$SIM" --storage "$T/dev" --device-id D --signer "$T/signer.pem" --init >/dev/null
	"$SIM" --storage "$T/dev" --pty >"$T/sim.pty" 2>"$T/sim.log" 3>&- &
	local sim=$!
	bg_record agent-sim $sim
	for i in $(seq 100); do
		pty=$(head -n 1 "$T/sim.pty" 2>/dev/null)
		[ -n "$pty" ] && break
		sleep 0.05
	done
	[ -n "$pty" ]
	run --separate-stderr "$PROV" install --port "$pty" --template "$tpl" "$@"
	if [ "$status" -ne 0 ]; then
		echo "prov install: exit $status: $stderr" >&2
		return 1
	fi
	[[ "$output" == "$pty: D installed: bundle 1 "* ]]
	bg_kill "$sim"
	wait "$sim" || true
}

connect() {
	run "$SIM" --storage "$T/dev" --tls-connect "127.0.0.1:$1" "${@:2}"
}

# start_server NAME ARGS...: openssl s_server on a free port with ARGS; sets $PORT.
start_server() {
	local name=$1
	shift
	openssl s_server -accept 127.0.0.1:0 "$@" </dev/null >"$T/$name.log" 2>&1 3>&- &
	bg_record "s_server-$name" $!
	wait_for "$T/$name.log" '^ACCEPT 127'
	PORT=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$T/$name.log")
}

# The test PKI's server.test, asking for a client certificate from the CA in $1.
SERVER_CERT=()
server_cert() {
	SERVER_CERT=(-cert "$PKI/leaf.pem" -key "$PKI/leaf.key" -cert_chain "$PKI/chain.pem")
}

# The broker's trust store as an operator makes it: the fewest roots of a bundle
# that validate the chain the broker serves.
broker_store() {
	cat "$PKI/other.pem" "$PKI/new.pem" >"$T/roots.pem"
	cat "$PKI/leaf.pem" "$PKI/chain.pem" >"$T/served.pem"
	"$PROV" trust build --from "$T/roots.pem" --chain "$T/served.pem" --out "$T/broker.store" >/dev/null
}

# ---- mqtt-mtls: mutual TLS ------------------------------------------------------------

@test "mqtt-mtls over a pty, --trust broker store: mutual TLS, data, resumption abbreviated, MFL 4096" {
	make_factory
	broker_store
	provision "$TPL/mqtt-mtls.json" --trust "$T/broker.store"
	"$PROV" ca export >"$T/factory-ca.pem"
	server_cert
	start_server s "${SERVER_CERT[@]}" -Verify 1 -CAfile "$T/factory-ca.pem" -verify_return_error -rev
	connect "$PORT" --send "hello broker" --resume
	assert_status 0
	assert_output_has "slot 1: certificate (PSA key 0x2a0001"
	assert_output_has "protocol mqtt over TLS 1.2"
	assert_output_has "server check: trust store in slot 1 (1 anchors)"
	assert_output_has "connected: TLSv1.2, TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"
	assert_output_has "max fragment length: 4096 (negotiated: the server echoed the extension)"
	assert_output_has "received: rekorb olleh"
	assert_output_has "reconnecting with the saved session"
	assert_output_has "session: resumed (abbreviated handshake)"
	[ "${lines[-1]}" = "handshake ok" ]
	# the server saw device D's factory certificate; its side of the resumption:
	# two connections, but the client's chain was verified (depth 1 and 0) only in
	# the first: the second handshake carried no Certificate message
	grep -q "^Peer certificate: O = provkit devices, CN = D" "$T/s.log"
	[ "$(grep -c '^CONNECTION ESTABLISHED' "$T/s.log")" = 2 ]
	[ "$(grep -c '^verify return:1' "$T/s.log")" = 2 ]
}

@test "mqtt-mtls without --trust: the shipped IoT roots store is installed, and refuses a test-PKI broker (exit 7)" {
	make_factory
	provision "$TPL/mqtt-mtls.json"
	"$SIM" --storage "$T/dev" --status --json >"$T/st.json"
	"$PY" - "$T/st.json" "$TPL/roots/iot-roots.store" <<'PY'
import json, os, sys
st = json.load(open(sys.argv[1]))
[slot] = st["slots"]
store = [e for e in slot["entries"] if e["type"] == "trust-store"]
assert len(store) == 1 and store[0]["size"] == os.path.getsize(sys.argv[2]), slot
PY
	"$PROV" ca export >"$T/factory-ca.pem"
	server_cert
	start_server s "${SERVER_CERT[@]}" -Verify 1 -CAfile "$T/factory-ca.pem" -rev
	connect "$PORT" --send hi
	assert_status 7
	assert_output_has "server check: trust store in slot 1 (6 anchors)"
	assert_output_has "agent-sim: server certificate refused: The certificate is not correctly signed by the trusted CA"
	[[ "$output" != *"handshake ok"* ]]
}

@test "mqtt-mtls: a broker that does not trust the factory CA ends the handshake (exit 6)" {
	make_factory
	broker_store
	provision "$TPL/mqtt-mtls.json" --trust "$T/broker.store"
	server_cert
	start_server s "${SERVER_CERT[@]}" -Verify 1 -CAfile "$PKI/other.pem" -verify_return_error -rev
	connect "$PORT" --send hi
	assert_status 6
	assert_output_has "agent-sim: handshake failed: SSL - A fatal alert message was received from our peer"
	[[ "$output" != *"handshake ok"* ]]
}

# ---- coaps-psk and lwm2m-psk: DTLS 1.2 PSK ----------------------------------------------

# gnutls-serv, DTLS echo server with a PSK table ($1); sets $PORT.
start_gnutls() {
	PORT=$(free_port udp)
	gnutls-serv --udp --echo -p "$PORT" --pskpasswd "$1" \
		--priority 'NORMAL:+PSK:+AES-128-CCM-8:+VERS-DTLS1.2' </dev/null >"$T/g.log" 2>&1 3>&- &
	bg_record gnutls-serv $!
	wait_for "$T/g.log" 'UDP Echo Server listening on IPv4'
}

@test "coaps-psk over a pty: DTLS 1.2 PSK-AES128-CCM8 vs gnutls-serv with the exported table; MFL 1024; resumed" {
	provision "$TPL/coaps-psk.json"
	"$PROV" export psk-table --format gnutls --reveal --out "$T/psk.txt" >/dev/null
	[ "$(cut -d: -f1 "$T/psk.txt")" = D ]
	start_gnutls "$T/psk.txt"
	connect "$PORT" --dtls --send "coap ping" --resume
	assert_status 0
	assert_output_has "slot 2: psk (PSA key 0x2a0001"
	assert_output_has "protocol coaps over DTLS 1.2"
	assert_output_has "connected: DTLSv1.2, TLS-PSK-WITH-AES-128-CCM-8"
	assert_output_has "max fragment length: 1024 (negotiated: the server echoed the extension)"
	assert_output_has "received: coap ping"
	assert_output_has "session: resumed (abbreviated handshake)"
	[ "${lines[-1]}" = "handshake ok" ]
	grep -q "Processing 9 bytes command: coap ping" "$T/g.log"
}

@test "coaps-psk: a server with another key for the identity fails the handshake (exit 6)" {
	provision "$TPL/coaps-psk.json"
	"$PROV" export psk-table --format gnutls --reveal --out "$T/psk.txt" >/dev/null
	sed 's/:.*/:00112233445566778899aabbccddeeff/' "$T/psk.txt" >"$T/wrong.txt"
	start_gnutls "$T/wrong.txt"
	connect "$PORT" --dtls --send x --timeout 2000
	assert_status 6
	assert_output_has "agent-sim: handshake failed:"
	[[ "$output" != *"handshake ok"* ]]
}

@test "lwm2m-psk over a pty: DTLS 1.2 PSK vs a server fed from the LwM2M Security object export" {
	provision "$TPL/lwm2m-psk.json"
	# what an LwM2M server is given: Security object resources 3 (identity) and 5 (key)
	"$PROV" export --device D --what lwm2m-security --json --reveal >"$T/sec.json"
	"$PY" - "$T/sec.json" >"$T/psk.txt" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
r = s["resources"]
assert s["security_mode"] == "psk" and r["2"] == 0 and r["10"] == 101, s
assert bytes.fromhex(r["3"]) == s["psk_identity"].encode() == b"D", s
assert len(bytes.fromhex(r["5"])) == 16
print("%s:%s" % (s["psk_identity"], r["5"]))
PY
	# the same key as the psk-table export
	"$PROV" export psk-table --format gnutls --reveal --out "$T/table.txt" >/dev/null
	[ "$(tr A-F a-f <"$T/psk.txt")" = "$(tr A-F a-f <"$T/table.txt")" ]
	start_gnutls "$T/psk.txt"
	connect "$PORT" --dtls --send "</rd>;ep=D" --timeout 3000
	assert_status 0
	assert_output_has "slot 10: psk (PSA key 0x2a0001"
	assert_output_has "protocol lwm2m over DTLS 1.2"
	assert_output_has "connected: DTLSv1.2, TLS-PSK-WITH-AES-128-CCM-8"
	assert_output_has "max fragment length: 1024 (negotiated: the server echoed the extension)"
	assert_output_has "received: </rd>;ep=D"
	[ "${lines[-1]}" = "handshake ok" ]
}

# ---- lwm2m-cert: DTLS 1.2 with certificates ------------------------------------------------

@test "lwm2m-cert over a pty, --trust the server's root: DTLS 1.2 mutual auth vs gnutls-serv; MFL 2048" {
	make_factory
	provision "$TPL/lwm2m-cert.json" --trust "$PKI/new.pem"
	"$PROV" ca export >"$T/factory-ca.pem"
	# (openssl s_server cannot echo over DTLS: gnutls-serv, requiring and verifying
	# a client certificate from the factory CA)
	cat "$PKI/leaf.pem" "$PKI/chain.pem" >"$T/server-chain.pem"
	PORT=$(free_port udp)
	gnutls-serv --udp --echo -p "$PORT" --x509certfile "$T/server-chain.pem" \
		--x509keyfile "$PKI/leaf.key" --x509cafile "$T/factory-ca.pem" \
		--require-client-cert --verify-client-cert \
		--priority 'NORMAL:+AES-128-CCM-8:+VERS-DTLS1.2' </dev/null >"$T/s.log" 2>&1 3>&- &
	bg_record gnutls-serv $!
	wait_for "$T/s.log" 'UDP Echo Server listening on IPv4'
	connect "$PORT" --dtls --send "lwm2m" --timeout 3000
	assert_status 0
	assert_output_has "slot 12: certificate (PSA key 0x2a0001"
	assert_output_has "server check: CA certificates in slot 12"
	assert_output_has "connected: DTLSv1.2, TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8"
	assert_output_has "max fragment length: 2048 (negotiated: the server echoed the extension)"
	assert_output_has "received: lwm2m"
	[ "${lines[-1]}" = "handshake ok" ]
	grep -q "Processing 5 bytes command: lwm2m" "$T/s.log"
}

# ---- https-client: server authentication only ---------------------------------------------------

@test "https-client over a pty, --trust the server's root: GET vs openssl s_server -www; no client certificate" {
	make_factory
	provision "$TPL/https-client.json" --trust "$PKI/new.pem"
	server_cert
	start_server w "${SERVER_CERT[@]}" -www
	connect "$PORT" --send "GET / HTTP/1.0"
	assert_status 0
	assert_output_has "server check: CA certificates in slot 30"
	assert_output_has "connected: TLSv1.2, TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256"
	# record_size_limit 4096 without max_fragment_length: the largest MFL under it
	assert_output_has "max fragment length: 4096"
	assert_output_has "received: HTTP/1.0 200 ok"
	[ "${lines[-1]}" = "handshake ok" ]
	# and a server under a root the device does not hold is refused
	start_server x -cert "$PKI/other.pem" -key "$PKI/other.key" -www
	connect "$PORT" --send "GET / HTTP/1.0"
	[ "$status" -eq 7 ] || [ "$status" -eq 6 ]
	[[ "$output" != *"handshake ok"* ]]
}

# ---- lwm2m-rpk: the gap ------------------------------------------------------------------------

@test "lwm2m-rpk over a pty: the key signs through PSA, its SPKI is the factory's; no RFC 7250 handshake (exit 4)" {
	make_factory
	# The shipped template ("device-or-host"): prov install has the device make
	# the key (keygen over SMP) and the bundle's own-rpk entry adopts it.
	provision "$TPL/lwm2m-rpk.json"
	run "$SIM" --storage "$T/dev" --status --json
	assert_status 0
	# the private key of slot 11 is the device-made one (a keygen pool key ID)
	[ "$(echo "$output" | jq '[.slots[] | select(.slot == 11) | .entries[] | select(.type == "private-key")] | length')" = 1 ]
	"$PROV" show D | grep -q "from csr"
	printf 'server challenge' >"$T/msg"
	run "$SIM" --storage "$T/dev" --key-proof "$T/msg"
	assert_status 0
	spki=$(echo "$output" | sed -n 's/^spki: //p')
	sig=$(echo "$output" | sed -n 's/^signature: //p')
	# the SPKI PSA gives is what the factory recorded, i.e. what the LwM2M server
	# pins (Security object resource 3), and openssl verifies the PSA signature
	"$PROV" export --device D --what pubkey --der >"$T/factory.spki"
	[ "$spki" = "$(xxd -p "$T/factory.spki" | tr -d '\n')" ]
	"$PROV" export --device D --what lwm2m-security --json >"$T/sec.json"
	[ "$(jq -r '.resources["3"]' "$T/sec.json")" = "$spki" ]
	echo "$sig" | xxd -r -p >"$T/sig.der"
	openssl dgst -sha256 -verify "$T/factory.spki" -keyform DER -signature "$T/sig.der" "$T/msg"
	# the only TLS slot is the RPK one: --slot may be left out, and it is refused
	connect 1 --dtls
	assert_status 4
	assert_output_has "agent-sim: slot 11: raw public keys (RFC 7250) are not supported by Mbed TLS 2.28"
}
