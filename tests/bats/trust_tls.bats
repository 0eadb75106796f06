#!/usr/bin/env bats
# trust_tls.bats - end to end: an Mbed TLS client that holds only a compact trust
# store (firmware-agent/trust) completes, or refuses, a real TLS handshake with
# `openssl s_server`.
#
# The PKI (firmware-agent/trust/tests/mkpki.sh, openssl only): an old RSA-4096
# root, a new P-256 root with a cross-certificate from the old one, an
# intermediate under the new root and a server leaf; plus expired copies of both
# roots (same name and key), an impostor (the new root's name, another key) and an
# unrelated root.  Two servers: one serves leaf, intermediate, cross-certificate;
# the other also serves the old root's self-signed certificate on top.
#
# Stores are made by `prov trust build --all` when this build has it, checked byte
# for byte against tests/py/truststore_encode.py (an independent encoder); stores
# that hold expired roots, which prov rightly drops, come from the Python encoder.
#
# Issue 10: a server's own certificate (not a CA) is never an anchor; pinned, the
# device accepts that server and refuses a certificate signed by its key (with
# trust-client and with agent-sim --tls-connect from an installed bundle); an
# anchor's path length is enforced; a store made before this change is refused.
#
# trust-client exit codes: 0 handshake, 3 store rejected, 4 certificate error.

bats_require_minimum_version 1.5.0
load helper

CLIENT="$PROV_BUILD/trust-client"
ENCODE="$REPO/tests/py/truststore_encode.py"

# Start `openssl s_server` on a free port (port 0: the kernel picks one) and wait,
# polling, until it prints that it listens.  $1: name, $2: served chain (after
# the leaf).  Writes $PKI/$1.port (helper.bash: bg_record).  LEAF: another
# server.test certificate of mkpki.sh (same key) instead of leaf.pem.
start_server() {
	local name=$1 chain=$2 port="" i
	openssl s_server -accept 127.0.0.1:0 -cert "${LEAF:-$PKI/leaf.pem}" -key "$PKI/leaf.key" \
		-cert_chain "$chain" -www </dev/null >"$PKI/$name.log" 2>&1 3>&- &
	bg_record "s_server-$name" $!
	for i in $(seq 1 200); do
		port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$PKI/$name.log")
		[ -n "$port" ] && break
		sleep 0.02
	done
	[ -n "$port" ] || { cat "$PKI/$name.log" >&2; return 1; }
	echo "$port" >"$PKI/$name.port"
}

setup_file() {
	export PKI="$BATS_FILE_TMPDIR/pki"
	sh "$REPO/firmware-agent/trust/tests/mkpki.sh" "$PKI" >/dev/null
	# served: leaf + intermediate + cross-certificate (the usual served chain)
	start_server served "$PKI/chain.pem"
	# served-root: the same, and the old root's self-signed certificate on top
	cat "$PKI/int.pem" "$PKI/cross.pem" "$PKI/old.pem" >"$PKI/chain-root.pem"
	start_server served-root "$PKI/chain-root.pem"
	# issue 10: server.test with its own (pinned) certificate, and with one signed by its key
	start_cert_server pinned "$PKI/pin.pem" "$PKI/pin.key"
	start_cert_server bypin "$PKI/bypin.pem" "$PKI/bypin.key"
}

teardown_file() {
	bg_stop_all
}

# start_cert_server NAME CERT KEY: openssl s_server (-www) presenting CERT alone.
start_cert_server() {
	local name=$1 port="" i
	openssl s_server -accept 127.0.0.1:0 -cert "$2" -key "$3" -www </dev/null >"$PKI/$name.log" 2>&1 3>&- &
	bg_record "s_server-$name" $!
	for i in $(seq 1 200); do
		port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$PKI/$name.log")
		[ -n "$port" ] && break
		sleep 0.02
	done
	[ -n "$port" ] || { cat "$PKI/$name.log" >&2; return 1; }
	echo "$port" >"$PKI/$name.port"
}

have_prov_trust() {
	"$PROV" trust build --help >/dev/null 2>&1
}

# store OUT CERT...: the store of those roots (see the header).
store() {
	local out=$1
	shift
	"$PY" "$ENCODE" --out "$out.py" "$@"
	if have_prov_trust; then
		cat "$@" >"$out.bundle.pem"
		"$PROV" trust build --from "$out.bundle.pem" --all --format store --out "$out" >/dev/null
		cmp "$out" "$out.py"
	else
		cp "$out.py" "$out"
	fi
}

# connect STORE SERVER [client options]
connect() {
	local st=$1 srv=$2
	shift 2
	run "$CLIENT" --store "$st" --connect "127.0.0.1:$(cat "$PKI/$srv.port")" "$@"
}

@test "old root only: the chain reaches it through the served cross-certificate" {
	store "$T/s" "$PKI/old.pem"
	connect "$T/s" served
	assert_status 0
	assert_output_has "handshake ok: TLSv1.2"
	assert_output_has "anchor found by issuer signature at depth 2"
}

@test "new root only: the alternative path, the cross-certificate is the anchor's name and key" {
	store "$T/s" "$PKI/new.pem"
	connect "$T/s" served
	assert_status 0
	assert_output_has "anchor found by subject and key at depth 2"
}

@test "both roots (and an unrelated one): handshake" {
	store "$T/s" "$PKI/old.pem" "$PKI/new.pem" "$PKI/other.pem"
	connect "$T/s" served
	assert_status 0
	assert_output_has "handshake ok"
}

@test "neither root: certificate error, no handshake" {
	store "$T/s" "$PKI/other.pem"
	connect "$T/s" served
	assert_status 4
	assert_output_has "certificate verification failed: The certificate is not correctly signed by the trusted CA (flags 0x00000008)"
	[[ "$output" != *"handshake ok"* ]]
}

@test "an empty store trusts nothing" {
	"$PY" "$ENCODE" --out "$T/s"
	[ "$(xxd -p "$T/s")" = 8402404040 ]
	connect "$T/s" served
	assert_status 4
	assert_output_has "(flags 0x00000008)"
}

@test "served root on top: old root, new root, neither" {
	store "$T/old" "$PKI/old.pem"
	connect "$T/old" served-root
	assert_status 0
	assert_output_has "at depth 3"
	# the old root's certificate is served but not trusted: the path is
	# anchored lower, at the cross-certificate
	store "$T/new" "$PKI/new.pem"
	connect "$T/new" served-root
	assert_status 0
	assert_output_has "anchor found by subject and key at depth 2"
	store "$T/none" "$PKI/other.pem"
	connect "$T/none" served-root
	assert_status 4
	assert_output_has "(flags 0x00000008)"
}

@test "expired anchors: refused with an expiry error; a current copy wins" {
	"$PY" "$ENCODE" --out "$T/newexp" "$PKI/new-expired.pem"
	connect "$T/newexp" served
	assert_status 4
	assert_output_has "The certificate validity has expired (flags 0x00000001)"
	"$PY" "$ENCODE" --out "$T/oldexp" "$PKI/old-expired.pem"
	connect "$T/oldexp" served
	assert_status 4
	assert_output_has "The certificate validity has expired (flags 0x00000001)"
	# expired and current copy of the same root (same name-key): the current one
	"$PY" "$ENCODE" --out "$T/both" "$PKI/new-expired.pem" "$PKI/new.pem"
	run "$CLIENT" --store "$T/both"
	assert_output_has "anchors: 2"
	connect "$T/both" served
	assert_status 0
}

@test "expired anchor on a device without a clock (--now 0): accepted, as documented" {
	"$PY" "$ENCODE" --out "$T/newexp" "$PKI/new-expired.pem"
	connect "$T/newexp" served --now 0
	assert_status 0
	# and a clock set before the anchor's expiry accepts it too
	connect "$T/newexp" served --now 946684800
	assert_status 0
	connect "$T/newexp" served --now 978307201
	assert_status 4
}

@test "name-key collision with the wrong key: refused; with the right anchor beside it: handshake" {
	# same subject DN, so the same name-key
	[ "$("$PY" "$ENCODE" --name-key-of "$PKI/impostor.pem")" = "$("$PY" "$ENCODE" --name-key-of "$PKI/new.pem")" ]
	store "$T/imp" "$PKI/impostor.pem"
	connect "$T/imp" served
	assert_status 4
	assert_output_has "(flags 0x00000008)"
	store "$T/both" "$PKI/impostor.pem" "$PKI/new.pem"
	run "$CLIENT" --store "$T/both"
	assert_status 0
	[ "$(grep -c "^$("$PY" "$ENCODE" --name-key-of "$PKI/new.pem") alg 3" <<<"$output")" = 2 ]
	connect "$T/both" served
	assert_status 0
}

@test "the server's name is still checked" {
	store "$T/s" "$PKI/new.pem"
	connect "$T/s" served --servername other.test
	assert_status 4
	assert_output_has "The certificate Common Name (CN) does not match with the expected CN"
}

@test "truncated stores are rejected cleanly" {
	local n i
	store "$T/s" "$PKI/old.pem" "$PKI/new.pem"
	n=$(stat -c %s "$T/s")
	for i in 0 1 2 5 9 $((n / 2)) $((n - 40)) $((n - 1)); do
		head -c "$i" "$T/s" >"$T/t"
		connect "$T/t" served
		assert_status 3
		assert_output_has "trust-client: store rejected: truncated"
	done
	# one byte too many
	{ cat "$T/s"; printf '\0'; } >"$T/t"
	connect "$T/t" served
	assert_status 3
	assert_output_has "store rejected: trailing bytes"
}

@test "corrupted stores: structure rejected; a corrupted key verifies nothing" {
	store "$T/s" "$PKI/new.pem"
	# version 2 -> 3
	"$PY" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[1]=3; open(sys.argv[2],"wb").write(b)' "$T/s" "$T/t"
	connect "$T/t" served
	assert_status 3
	assert_output_has "store rejected: unsupported format version"
	# the anchor's alg 3 -> 7
	"$PY" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); i=b.index(bytes([0x83,0x03,0x58,0x21])); b[i+1]=7; open(sys.argv[2],"wb").write(b)' "$T/s" "$T/t"
	connect "$T/t" served
	assert_status 3
	assert_output_has "store rejected: unknown key algorithm"
	# the index offset off by one
	"$PY" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[8]^=1; open(sys.argv[2],"wb").write(b)' "$T/s" "$T/t"
	connect "$T/t" served
	assert_status 3
	assert_output_has "store rejected: offset not at the start of a record"
	# one bit of the key's x coordinate: still a well-formed store, but the key is
	# no longer the cross-certificate's: off the curve, the store is refused as
	# the agent refuses it at install (pa_trust_check); on it, it verifies nothing
	"$PY" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); i=b.index(bytes([0x83,0x03,0x58,0x21])); b[i+20]^=0x10; open(sys.argv[2],"wb").write(b)' "$T/s" "$T/t"
	run "$CLIENT" --store "$T/t"
	if [ "$status" -eq 3 ]; then
		assert_output_has "store rejected: key of the wrong length or form"
		run "$PROV" trust inspect "$T/t"
		assert_status 3
		assert_output_has "key is not a point on the p256 curve"
	else
		assert_status 0
		connect "$T/t" served
		assert_status 4
		assert_output_has "(flags 0x00000008)"
	fi
}

@test "the device reader lists what the Python encoder wrote" {
	store "$T/s" "$PKI/old.pem" "$PKI/new.pem" "$PKI/other.pem"
	run "$CLIENT" --store "$T/s"
	assert_status 0
	assert_output_has "anchors: 3"
	assert_output_has "$("$PY" "$ENCODE" --name-key-of "$PKI/old.pem") alg 1 key 512 bytes not-after $(date -d "$(openssl x509 -in "$PKI/old.pem" -noout -enddate | cut -d= -f2)" +%s)"
	assert_output_has "$("$PY" "$ENCODE" --name-key-of "$PKI/new.pem") alg 3 key 33 bytes"
}

@test "prov trust build and the Python encoder agree byte for byte" {
	have_prov_trust || skip "this build has no 'prov trust build'"
	local f
	for f in old new other impostor e3 p384nc p521 ed25519; do
		store "$T/$f" "$PKI/$f.pem"
	done
	store "$T/all" "$PKI/old.pem" "$PKI/new.pem" "$PKI/impostor.pem" "$PKI/other.pem" \
		"$PKI/e3.pem" "$PKI/p384nc.pem" "$PKI/p521.pem" "$PKI/ed25519.pem"
	# and the device reads every key type back
	run "$CLIENT" --store "$T/all"
	assert_status 0
	assert_output_has "anchors: 8"
	for f in "alg 1 key 512" "alg 2 key 256" "alg 3 key 33" "alg 4 key 49" "alg 5 key 67" "alg 6 key 32" "name-constraints"; do
		assert_output_has "$f"
	done
}

# ---- issue 10: anchors are CAs, pins are servers ------------------------------------

@test "the issue's reproduction: a server's own certificate is no anchor; a v1 store holding one is refused at handshake time" {
	# prov refuses to make it an anchor
	run "$PROV" trust build --from "$PKI/pin.pem" --all --out "$T/s.store"
	assert_status 3
	assert_output_has "not a CA: basicConstraints cA is FALSE"
	[ ! -e "$T/s.store" ]
	# what prov wrote before (format v1, the certificate as an anchor): before
	# this change the device completed this handshake; now it refuses the store
	"$PY" "$ENCODE" --v1 --out "$T/old.store" "$PKI/pin.pem"
	connect "$T/old.store" bypin
	assert_status 3
	assert_output_has "store rejected: unsupported format version (not 2; a version 1 store must be rebuilt)"
	[[ "$output" != *"handshake ok"* ]]
	# plain Mbed TLS semantics (openssl here): the certificate is no CA
	run openssl verify -CAfile "$PKI/pin.pem" "$PKI/bypin.pem"
	[ "$status" -ne 0 ]
	assert_output_has "invalid CA certificate"
}

@test "a pin (prov trust build --pin): the pinned server's handshake completes; a certificate signed by its key is refused" {
	run "$PROV" trust build --pin "$PKI/pin.pem" --out "$T/pin.store"
	assert_status 0
	"$PY" "$ENCODE" --pin "$PKI/pin.pem" --out "$T/pin.py"
	cmp "$T/pin.store" "$T/pin.py"
	run "$CLIENT" --store "$T/pin.store"
	assert_status 0
	assert_output_has "anchors: 0"
	assert_output_has "pins: 1"
	connect "$T/pin.store" pinned
	assert_status 0
	assert_output_has "handshake ok: TLSv1"
	assert_output_has "anchor found by pinned key at depth 0"
	connect "$T/pin.store" bypin
	assert_status 4
	assert_output_has "certificate verification failed: The certificate is not correctly signed by the trusted CA (flags 0x00000008)"
	[[ "$output" != *"handshake ok"* ]]
	# the pin does not bypass the name check
	connect "$T/pin.store" pinned --servername other.test
	assert_status 4
	assert_output_has "Common Name (CN) does not match"
	# a store with roots and the pin: the roots' servers and the pinned one
	run "$PROV" trust build --from "$PKI/new.pem" --all --pin "$PKI/pin.pem" --out "$T/both.store"
	assert_status 0
	connect "$T/both.store" served
	assert_status 0
	assert_output_has "anchor found by subject and key at depth 2"
	connect "$T/both.store" pinned
	assert_status 0
	connect "$T/both.store" bypin
	assert_status 4
	# and the same verdicts without a socket
	run "$CLIENT" --store "$T/pin.store" --verify-chain "$PKI/pin.pem" --now "$(date +%s)"
	assert_status 0
	assert_output_has "chain ok: anchor found by pinned key at depth 0"
	run "$CLIENT" --store "$T/pin.store" --verify-chain "$PKI/bypin.pem" --now "$(date +%s)"
	assert_status 4
}

@test "agent-sim: a bundle whose trust store holds a pin connects to the pinned server and refuses one signed by its key" {
	local sim="$PROV_BUILD/agent-sim"
	make_factory
	"$PROV" trust build --pin "$PKI/pin.pem" --out "$T/pin.store" >/dev/null
	"$PROV" signer export >"$T/signer.pem"
	"$sim" --storage "$T/dev" --device-id D --signer "$T/signer.pem" --init >"$T/dev.pub"
	"$PROV" mint --template "$TPL/https-client.json" --device D --recipient-key "$T/dev.pub" --trust "$T/pin.store" >/dev/null
	"$PROV" bundle --device D --out "$T/b.cbor" >/dev/null
	run "$sim" --storage "$T/dev" --install "$T/b.cbor"
	assert_status 0
	run "$sim" --storage "$T/dev" --tls-connect "127.0.0.1:$(cat "$PKI/pinned.port")" --send "GET / HTTP/1.0"
	assert_status 0
	assert_output_has "server check: trust store in slot 30 (0 anchors)"
	assert_output_has "received: HTTP/1.0 200 ok"
	[ "${lines[-1]}" = "handshake ok" ]
	run "$sim" --storage "$T/dev" --tls-connect "127.0.0.1:$(cat "$PKI/bypin.port")" --send "GET / HTTP/1.0"
	assert_status 7
	assert_output_has "server certificate refused: The certificate is not correctly signed by the trusted CA (flags 0x00000008)"
	[[ "$output" != *"handshake ok"* ]]
}

@test "an anchor's path length is enforced by the device, as openssl enforces it" {
	run "$PROV" trust build --from "$PKI/plroot0.pem" --all --out "$T/pl0.store" --json
	assert_status 0
	[ "$(echo "$output" | jq '.anchors[0].path_len')" = 0 ]
	run "$PROV" trust build --from "$PKI/plroot1.pem" --all --out "$T/pl1.store"
	assert_status 0
	run "$CLIENT" --store "$T/pl0.store"
	assert_output_has "path-len 0"
	run "$CLIENT" --store "$T/pl0.store" --verify-chain "$PKI/plchain.pem" --now "$(date +%s)"
	assert_status 4
	assert_output_has "(flags 0x00000008); the anchor's path length is exceeded"
	run openssl verify -CAfile "$PKI/plroot0.pem" -untrusted "$PKI/plint.pem" "$PKI/plleaf.pem"
	[ "$status" -ne 0 ]
	assert_output_has "path length constraint exceeded"
	run "$CLIENT" --store "$T/pl1.store" --verify-chain "$PKI/plchain.pem" --now "$(date +%s)"
	assert_status 0
	assert_output_has "chain ok: anchor found by issuer signature at depth 1"
	run openssl verify -CAfile "$PKI/plroot1.pem" -untrusted "$PKI/plint.pem" "$PKI/plleaf.pem"
	assert_status 0
}

@test "the server certificate's usage: clientAuth only is refused in the handshake and by --verify-chain (exit 4); the project's Mbed TLS checks it" {
	store "$T/s" "$PKI/new.pem"
	LEAF="$PKI/leaf-clientauth.pem" start_server eku "$PKI/chain.pem"
	connect "$T/s" eku
	assert_status 4
	assert_output_has "trust-client: certificate verification failed: Usage does not match the extendedKeyUsage extension (flags 0x00001000)"
	[[ "$output" != *"handshake ok"* ]]
	cat "$PKI/leaf-clientauth.pem" "$PKI/chain.pem" >"$T/eku-chain.pem"
	run "$CLIENT" --store "$T/s" --verify-chain "$T/eku-chain.pem"
	assert_status 4
	assert_output_has "Usage does not match the extendedKeyUsage extension (flags 0x00001000)"
	# the same chain with the serverAuth leaf passes both ways
	connect "$T/s" served
	assert_status 0
}
