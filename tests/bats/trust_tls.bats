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
# trust-client exit codes: 0 handshake, 3 store rejected, 4 certificate error.

load helper

CLIENT="$PROV_BUILD/trust-client"
ENCODE="$REPO/tests/py/truststore_encode.py"

# Start `openssl s_server` on a free port (port 0: the kernel picks one) and wait,
# polling, until it prints that it listens.  $1: name, $2: served chain (after
# the leaf).  Writes $PKI/$1.port and $PKI/$1.pid.
start_server() {
	local name=$1 chain=$2 port="" i
	openssl s_server -accept 127.0.0.1:0 -cert "$PKI/leaf.pem" -key "$PKI/leaf.key" \
		-cert_chain "$chain" -www </dev/null >"$PKI/$name.log" 2>&1 3>&- &
	echo $! >"$PKI/$name.pid"
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
}

teardown_file() {
	local f
	for f in "$PKI"/*.pid; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	return 0
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
	[ "$(xxd -p "$T/s")" = 83014040 ]
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
	# version 1 -> 2
	"$PY" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[1]=2; open(sys.argv[2],"wb").write(b)' "$T/s" "$T/t"
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
	# no longer the cross-certificate's (nor, most likely, on the curve)
	"$PY" -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); i=b.index(bytes([0x83,0x03,0x58,0x21])); b[i+20]^=0x10; open(sys.argv[2],"wb").write(b)' "$T/s" "$T/t"
	run "$CLIENT" --store "$T/t"
	assert_status 0
	connect "$T/t" served
	assert_status 4
	assert_output_has "(flags 0x00000008)"
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
