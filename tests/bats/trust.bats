#!/usr/bin/env bats
# trust.bats - prov trust build | sign | inspect (issue 3).
#
# The test PKI is made once per run with the openssl CLI (setup_file): an old
# RSA-4096 root, a new P-256 root with a cross-certificate from the old one, an
# intermediate under the new root and a server leaf; chains as a server serves
# them (leaf, intermediate[, cross]).  Plus roots for the hygiene cases
# (short-lived, re-issued with the same name and key, Ed448, name constraints,
# RSA exponent 3) and two chains cross-signed by three small roots for the
# optimisation.  Every store written here is read back by
# tests/py/truststore_reader.py (python3-cbor2/cryptography), which recomputes
# the anchors from the certificates.
#
# Issue 10: certificates that are not CAs, made with openssl as x509-limbo makes
# the roots a TLS client must refuse (not a CA, no basicConstraints, keyUsage
# without keyCertSign, an unknown critical extension, a critical AKI or SKI, a
# version 1 root), are never anchors; pins (--pin) are a server's own key.

load helper
bats_require_minimum_version 1.5.0

RD="$BATS_TEST_DIRNAME/../py/truststore_reader.py"
DEB=/etc/ssl/certs/ca-certificates.crt

# mkkey NAME ALG: rsa4096 | rsa2048 | rsa-e3 | p256 | p384 | ed25519 | ed448
mkkey() {
	case $2 in
	rsa4096) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out "$P/$1.key" 2>/dev/null ;;
	rsa2048) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$P/$1.key" 2>/dev/null ;;
	rsa-e3) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -pkeyopt rsa_keygen_pubexp:3 -out "$P/$1.key" 2>/dev/null ;;
	p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/$1.key" ;;
	p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$P/$1.key" ;;
	*) openssl genpkey -algorithm "$2" -out "$P/$1.key" ;;
	esac
}

# mkroot NAME SUBJ DAYS [extra -addext]
mkroot() {
	openssl req -x509 -new -key "$P/$1.key" -subj "$2" -days "$3" -out "$P/$1.pem" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		${4:+-addext "$4"} 2>/dev/null
}

# mkself NAME SUBJ [-addext ...] [-version 1]: a self-signed certificate with
# exactly the extensions given (openssl adds subjectKeyIdentifier unless told
# otherwise), from a configuration without defaults; -version 1: a v1 certificate.
mkself() {
	local name=$1 subj=$2
	shift 2
	[ -f "$P/$name.key" ] || mkkey "$name" p256
	if [ "${1:-}" = -version ]; then
		openssl req -new -config "$P/min.cnf" -key "$P/$name.key" -subj "$subj" -out "$P/$name.csr"
		openssl x509 -req -in "$P/$name.csr" -key "$P/$name.key" -days 3650 -out "$P/$name.pem" 2>/dev/null
	else
		openssl req -x509 -new -config "$P/min.cnf" -key "$P/$name.key" -subj "$subj" -days 3650 \
			-out "$P/$name.pem" "$@"
	fi
}

# mkcert NAME SUBJ-KEY-NAME SUBJ ISSUER CA|LEAF
mkcert() {
	local ext="$P/ext-$5.cnf"
	openssl req -new -key "$P/$2.key" -subj "$3" -out "$P/$1.csr" 2>/dev/null
	openssl x509 -req -in "$P/$1.csr" -CA "$P/$4.pem" -CAkey "$P/$4.key" -CAcreateserial \
		-days 3650 -extfile "$ext" -out "$P/$1.pem" 2>/dev/null
}

setup_file() {
	export P="$BATS_FILE_TMPDIR/pki"
	mkdir -p "$P"
	printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' > "$P/ext-CA.cnf"
	printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:server.example\n' > "$P/ext-LEAF.cnf"
	mkkey old rsa4096; mkroot old "/O=provkit test/CN=Old Root" 7300
	mkkey new p256;    mkroot new "/O=provkit test/CN=New Root" 7300
	mkcert cross new "/O=provkit test/CN=New Root" old CA          # new root's key, signed by old
	mkkey int p256;    mkcert int int "/O=provkit test/CN=Intermediate" new CA
	mkkey leaf p256;   mkcert leaf leaf "/CN=server.example" int LEAF
	cat "$P/leaf.pem" "$P/int.pem" "$P/cross.pem" > "$P/chain-cross-signed.pem"
	cat "$P/leaf.pem" "$P/int.pem" > "$P/chain-new-only.pem"
	# an unrelated PKI: its chain no input root validates
	mkkey other p256;  mkroot other "/CN=Other Root" 7300
	mkkey oleaf p256;  mkcert oleaf oleaf "/CN=other.example" other LEAF
	cp "$P/oleaf.pem" "$P/chain-unreachable.pem"
	# hygiene
	mkkey short p256;  mkroot short "/CN=Short Root" 30
	mkkey sleaf p256;  mkcert sleaf sleaf "/CN=short.example" short LEAF
	cp "$P/sleaf.pem" "$P/chain-expired-root.pem"
	openssl req -x509 -new -key "$P/new.key" -subj "/O=provkit test/CN=New Root" -days 3650 \
		-set_serial 77 -out "$P/new-reissued.pem" 2>/dev/null
	mkkey e448 ed448;  mkroot e448 "/CN=Ed448 Root" 7300
	mkkey ed ed25519;  mkroot ed "/CN=Ed25519 Root" 7300
	mkkey p3 p384;     mkroot p3 "/CN=P384 NC Root" 7300 "nameConstraints=critical,permitted;DNS:.example.com"
	mkkey e3 rsa-e3;   mkroot e3 "/CN=Exponent3 Root" 7300
	# optimisation: chain A validated by R1 or R2, chain B by R2 or R3 (cross-signed
	# intermediates); R2 is RSA-2048, R1 and R3 are P-256: {R1, R3} is the smaller set
	mkkey r1 p256; mkroot r1 "/CN=R1" 7300
	mkkey r2 rsa2048; mkroot r2 "/CN=R2" 7300
	mkkey r3 p256; mkroot r3 "/CN=R3" 7300
	mkkey ia p256; mkcert ia-r1 ia "/CN=IA" r1 CA; mkcert ia-r2 ia "/CN=IA" r2 CA
	mkkey ib p256; mkcert ib-r2 ib "/CN=IB" r2 CA; mkcert ib-r3 ib "/CN=IB" r3 CA
	cp "$P/ia.key" "$P/ia-r1.key"; cp "$P/ib.key" "$P/ib-r3.key"
	mkkey la p256; mkcert la la "/CN=a.example" ia-r1 LEAF
	mkkey lb p256; mkcert lb lb "/CN=b.example" ib-r3 LEAF
	cat "$P/la.pem" "$P/ia-r1.pem" "$P/ia-r2.pem" > "$P/chain-a.pem"
	cat "$P/lb.pem" "$P/ib-r2.pem" "$P/ib-r3.pem" > "$P/chain-b.pem"
	cat "$P/old.pem" "$P/new.pem" "$P/other.pem" "$P/ed.pem" "$P/p3.pem" "$P/e3.pem" > "$P/bundle.pem"
	cat "$P/r1.pem" "$P/r2.pem" "$P/r3.pem" > "$P/opt-roots.pem"
	# issue 10: certificates that must never be anchors (x509-limbo's roots a TLS
	# client refuses), and a server certificate to pin
	printf '[req]\ndistinguished_name = dn\n[dn]\n' > "$P/min.cnf"
	mkself pin "/CN=broker.example" -addext "basicConstraints=critical,CA:FALSE" \
		-addext "keyUsage=critical,digitalSignature" -addext "subjectAltName=DNS:broker.example"
	mkself nobc "/CN=No Basic Constraints Root" -addext "keyUsage=critical,keyCertSign,cRLSign"
	mkself kunocertsign "/CN=No keyCertSign Root" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,digitalSignature,cRLSign"
	mkself critunknown "/CN=Unknown Critical Extension Root" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "1.3.6.1.4.1.55738.666.1=critical,DER:05:00"
	mkself critaki "/CN=Critical AKI Root" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "authorityKeyIdentifier=critical,keyid:always"
	mkself critski "/CN=Critical SKI Root" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "subjectKeyIdentifier=critical,hash"
	mkself v1 "/CN=Version One Root" -version 1
	mkself pathlen "/CN=Path Length Root" -addext "basicConstraints=critical,CA:TRUE,pathlen:1" \
		-addext "keyUsage=critical,keyCertSign"
	mkself noncritbc "/CN=Non-critical BC Root" -addext "basicConstraints=CA:TRUE"
	cat "$P/pin.pem" "$P/nobc.pem" "$P/kunocertsign.pem" "$P/critunknown.pem" "$P/critaki.pem" \
		"$P/critski.pem" "$P/v1.pem" > "$P/not-cas.pem"
	# the 12 typical IoT roots of issue 3
	export IOT="Amazon Root CA 1|Amazon Root CA 2|Amazon Root CA 3|Amazon Root CA 4|Starfield Services Root Certificate Authority - G2|ISRG Root X1|ISRG Root X2|GTS Root R1|GTS Root R2|GTS Root R3|GTS Root R4|GlobalSign Root CA"
}

# read back with the independent reader; extra args passed on
reader() {
	run "$PY" "$RD" "$@"
	if [ "$status" -ne 0 ]; then echo "$output" >&2; return 1; fi
}

fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//'; }

# ---- selection -------------------------------------------------------------

@test "--all: every root of the bundle, each anchor recomputed by the python reader" {
	run "$PROV" trust build --from "$P/bundle.pem" --all --out "$T/s.store"
	assert_status 0
	assert_output_has "wrote $T/s.store: 6 anchors"
	reader "$T/s.store" --certs "$P/bundle.pem" --exact --expect-count 6
}

@test "--select by common name" {
	run "$PROV" trust build --from "$P/bundle.pem" --select "New Root" --out "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.anchors[0].subject')" = "CN=New Root,O=provkit test" ]
	[ "$(echo "$output" | jq -r '.selectors[0].kind')" = cn ]
	reader "$T/s.store" --certs "$P/new.pem" --exact --expect-count 1
}

@test "--select by full DN: RFC 2253 and openssl's one-line form" {
	run "$PROV" trust build --from "$P/bundle.pem" --select "CN=Old Root,O=provkit test" --out "$T/a.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.selectors[0].kind')" = dn ]
	reader "$T/a.store" --certs "$P/old.pem" --exact --expect-count 1
	dn=$(openssl x509 -in "$P/ed.pem" -noout -subject | sed 's/^subject=//')
	run "$PROV" trust build --from "$P/bundle.pem" --select "$dn" --out "$T/b.store"
	assert_status 0
	reader "$T/b.store" --certs "$P/ed.pem" --exact --expect-count 1
}

@test "--select by SHA-256 fingerprint, with or without colons; several selectors as operands" {
	f=$(fp "$P/p3.pem")
	run "$PROV" trust build --from "$P/bundle.pem" --select "$f" --out "$T/a.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.selectors[0].kind')" = sha256 ]
	reader "$T/a.store" --certs "$P/p3.pem" --exact --expect-count 1
	f2=$(fp "$P/e3.pem" | tr -d : | tr A-F a-f)
	run "$PROV" trust build --from "$P/bundle.pem" --select "$f2" "Ed25519 Root" "P384 NC Root" --out "$T/b.store"
	assert_status 0
	reader "$T/b.store" --certs "$P/e3.pem" --certs "$P/ed.pem" --certs "$P/p3.pem" --exact --expect-count 3
}

@test "an unknown selector is an error naming it; nothing is written" {
	run "$PROV" trust build --from "$P/bundle.pem" --select "New Root" --select "No Such Root" --out "$T/s.store"
	assert_status 4
	assert_output_has 'prov: trust build: --select "No Such Root": no input certificate matches it (by common name)'
	[ ! -e "$T/s.store" ]
	run "$PROV" trust build --from "$P/bundle.pem" --select "CN=Nope" --out "$T/s.store"
	assert_status 4
	assert_output_has '"CN=Nope": no input certificate matches it (by subject DN)'
}

# ---- chains ----------------------------------------------------------------

@test "--chain cross-signed, only the old root given: it validates through the served cross-certificate" {
	run "$PROV" trust build --from "$P/old.pem" --chain "$P/chain-cross-signed.pem" --out "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.chains[0].covered_by[0].subject')" = "CN=Old Root,O=provkit test" ]
	[ "$(echo "$output" | jq -r '.chains[0].covered_by[0].path | length')" = 3 ]
	reader "$T/s.store" --certs "$P/old.pem" --exact --expect-count 1
}

@test "--chain: a self-signed root with the served cross-certificate's name and key is an alternative anchor" {
	run "$PROV" trust build --from "$P/new.pem" --chain "$P/chain-cross-signed.pem" --out "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.chains[0].covered_by[0].subject')" = "CN=New Root,O=provkit test" ]
	[ "$(echo "$output" | jq -r '.chains[0].covered_by[0].path | length')" = 2 ]
	reader "$T/s.store" --certs "$P/new.pem" --exact --expect-count 1
}

@test "--chain with both roots: the smaller one is chosen and the alternative is reported with its size" {
	run "$PROV" trust build --from "$P/bundle.pem" --chain "$P/chain-cross-signed.pem" --out "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq '.chains[0].covered_by | length')" = 2 ]
	new=$(fp "$P/new.pem" | tr -d : | tr A-F a-f)
	[ "$(echo "$output" | jq -r '.chains[0].chosen | join(",")')" = "$new" ]
	[ "$(echo "$output" | jq -r '.optimization.method')" = exact ]
	big=$(echo "$output" | jq '[.chains[0].covered_by[].size] | max')
	small=$(echo "$output" | jq '[.chains[0].covered_by[].size] | min')
	[ "$big" -gt 500 ]
	[ "$small" -lt 60 ]
	[ "$(echo "$output" | jq '.optimization.bytes')" = "$small" ]
	reader "$T/s.store" --certs "$P/new.pem" --exact --expect-count 1
	# the served chain without the cross-certificate: the old root alone cannot
	run "$PROV" trust build --from "$P/old.pem" --chain "$P/chain-new-only.pem" --out "$T/t.store"
	assert_status 7
	assert_output_has "--chain $P/chain-new-only.pem: no input root validates it"
	[ ! -e "$T/t.store" ]
}

@test "--chain sizes follow --format: DER picks by certificate size" {
	run "$PROV" trust build --from "$P/bundle.pem" --chain "$P/chain-cross-signed.pem" --format der --out "$T/s.der" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.chains[0].covered_by[] | select(.subject | startswith("CN=New")) | .size')" = "$(openssl x509 -in "$P/new.pem" -outform DER | wc -c)" ]
	cmp "$T/s.der" <(openssl x509 -in "$P/new.pem" -outform DER)
}

@test "--chain with two chains: the exact search finds the cheapest cover ({R1, R3}, not R2)" {
	run "$PROV" trust build --from "$P/opt-roots.pem" --chain "$P/chain-a.pem" "$P/chain-b.pem" --out "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.optimization.candidates')" = 3 ]
	[ "$(echo "$output" | jq -r '.optimization.chosen')" = 2 ]
	[ "$(echo "$output" | jq -r '[.anchors[].subject] | sort | join(",")')" = "CN=R1,CN=R3" ]
	[ "$(echo "$output" | jq -r '.chains[0].covered_by | length')" = 2 ]
	reader "$T/s.store" --certs "$P/r1.pem" --certs "$P/r3.pem" --exact --expect-count 2
}

@test "an unreachable chain is an error naming it; a chain only an expired root validates says so" {
	run "$PROV" trust build --from "$P/old.pem" --from "$P/new.pem" --chain "$P/chain-cross-signed.pem" "$P/chain-unreachable.pem" --out "$T/s.store"
	assert_status 7
	assert_output_has "prov: trust build: --chain $P/chain-unreachable.pem: no input root validates it"
	[ ! -e "$T/s.store" ]
	run "$PROV" trust build --from "$P/short.pem" --chain "$P/chain-expired-root.pem" --at 2040-01-01 --out "$T/s.store"
	assert_status 7
	assert_output_has "CN=Short Root would, but it expired"
	[ ! -e "$T/s.store" ]
}

# ---- hygiene ---------------------------------------------------------------

@test "roots expired at --at are dropped with a note" {
	cat "$P/short.pem" "$P/new.pem" > "$T/in.pem"
	run "$PROV" trust build --from "$T/in.pem" --all --at 2030-06-01 --out "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.dropped[0].reason')" = expired ]
	[ "$(echo "$output" | jq -r '.dropped[0].name')" = "CN=Short Root" ]
	[[ "$(echo "$output" | jq -r '.dropped[0].detail')" == "expired 20"* ]]
	reader "$T/s.store" --certs "$P/new.pem" --exact --expect-count 1
	# people read it on stderr
	run --separate-stderr "$PROV" trust build --from "$T/in.pem" --all --at 2030-06-01 --out "$T/s.store"
	assert_status 0
	[[ "$stderr" == *"prov: trust build: note: dropped CN=Short Root ("*"): expired 20"* ]]
	[[ "$output" != *"dropped"* ]]
	# today the short root is still valid
	run "$PROV" trust build --from "$T/in.pem" --all --out "$T/t.store"
	assert_status 0
	reader "$T/t.store" --certs "$T/in.pem" --exact --expect-count 2
}

@test "duplicates (same certificate twice, a re-issue with the same name and key) become one anchor" {
	cat "$P/new.pem" "$P/new.pem" "$P/new-reissued.pem" "$P/old.pem" > "$T/in.pem"
	run "$PROV" trust build --from "$T/in.pem" --all --out "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq '[.dropped[] | select(.reason == "duplicate")] | length')" = 2 ]
	[ "$(echo "$output" | jq -r '.output.count')" = 2 ]
	# the later notAfter is the one kept (the original: 20 years, the re-issue 10)
	[ "$(echo "$output" | jq -r '.anchors[] | select(.subject | startswith("CN=New")) | .sha256')" = "$(fp "$P/new.pem" | tr -d : | tr A-F a-f)" ]
	reader "$T/s.store" --certs "$T/in.pem" --exact --expect-count 2
}

@test "a root whose key no anchor can hold (Ed448) is dropped with a note, never silently" {
	cat "$P/e448.pem" "$P/new.pem" > "$T/in.pem"
	run "$PROV" trust build --from "$T/in.pem" --all --out "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.dropped[0].reason')" = unsupported-key ]
	[ "$(echo "$output" | jq -r '.dropped[0].detail')" = "unsupported key: ED448" ]
	run "$PROV" trust build --from "$P/e448.pem" --select "Ed448 Root" --out "$T/t.store"
	assert_status 3
	assert_output_has '--select "Ed448 Root": CN=Ed448 Root ('
	assert_output_has "cannot be an anchor: unsupported key: ED448"
	[ ! -e "$T/t.store" ]
}

@test "name constraints and a non-F4 RSA exponent travel in the anchor's ext" {
	run "$PROV" trust build --from "$P/bundle.pem" --select "P384 NC Root" "Exponent3 Root" --out "$T/s.store"
	assert_status 0
	run "$PROV" trust inspect "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq '[.anchors[] | select(.name_constraints)] | length')" = 1 ]
	[ "$(echo "$output" | jq '[.anchors[] | select(.alg == "rsa-exp") | .exponent] | .[0]')" = 3 ]
	reader "$T/s.store" --certs "$P/p3.pem" --certs "$P/e3.pem" --exact --expect-count 2
}

@test "an empty selection: everything expired at --at is an error, nothing written" {
	run "$PROV" trust build --from "$P/short.pem" --all --at 2040-01-01 --out "$T/s.store"
	assert_status 3
	assert_output_has "prov: trust build: nothing to write: no usable root is left (see the dropped certificates)"
	[ ! -e "$T/s.store" ]
}

# ---- only CAs become anchors (issue 10) ----------------------------------------

# sha256 fingerprint, lowercase hex without colons
fphex() { fp "$1" | tr -d : | tr A-F a-f; }

@test "a certificate that is not a CA never becomes an anchor: each x509-limbo-style root is dropped with its reason" {
	local row name code detail
	for row in "pin|not-ca|basicConstraints cA is FALSE" \
		"nobc|not-ca|no basicConstraints" \
		"kunocertsign|not-ca|keyUsage without keyCertSign" \
		"critunknown|critical-extension|critical extension 1.3.6.1.4.1.55738.666.1" \
		"critaki|critical-extension|critical authorityKeyIdentifier" \
		"critski|critical-extension|critical subjectKeyIdentifier" \
		"v1|v1|--allow-v1-roots"; do
		IFS='|' read -r name code detail <<< "$row"
		run "$PROV" trust build --from "$P/$name.pem" --all --out "$T/$name.store" --json
		assert_status 3
		[ ! -e "$T/$name.store" ]
		[ "$(echo "$output" | jq -r '.dropped | length')" = 1 ]
		[ "$(echo "$output" | jq -r '.dropped[0].reason')" = "$code" ]
		[ "$(echo "$output" | jq -r '.dropped[0].sha256')" = "$(fphex "$P/$name.pem")" ]
		[ "$(echo "$output" | jq -r '.dropped[0].name')" = \
		  "$(openssl x509 -in "$P/$name.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')" ]
		[[ "$(echo "$output" | jq -r '.dropped[0].detail')" == *"$detail"* ]]
		# people read it on stderr, then the error
		run --separate-stderr "$PROV" trust build --from "$P/$name.pem" --all --out "$T/$name.store"
		assert_status 3
		[[ "$stderr" == *"note: dropped CN="*"$detail"* ]]
		[[ "$stderr" == *"nothing to write"* ]]
		# named with --select: an error, nothing written
		run "$PROV" trust build --from "$P/$name.pem" --select "$(fphex "$P/$name.pem")" --out "$T/$name.store"
		assert_status 3
		assert_output_has "cannot be an anchor: "
		assert_output_has "$detail"
		[ ! -e "$T/$name.store" ]
	done
	# beside a good root, --all keeps the root and notes the rest
	cat "$P/not-cas.pem" "$P/new.pem" > "$T/mixed.pem"
	run "$PROV" trust build --from "$T/mixed.pem" --all --out "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.output.count')" = 1 ]
	[ "$(echo "$output" | jq -r '[.dropped[].reason] | sort | join(",")')" = \
	  "critical-extension,critical-extension,critical-extension,not-ca,not-ca,not-ca,v1" ]
	reader "$T/s.store" --certs "$P/new.pem" --exact --expect-count 1
	# the issue's reproduction: openssl refuses the same certificate as a CA
	mkkey evil p256
	openssl req -new -key "$P/evil.key" -subj "/CN=evil.example" -out "$T/evil.csr" 2>/dev/null
	openssl x509 -req -in "$T/evil.csr" -CA "$P/pin.pem" -CAkey "$P/pin.key" -set_serial 9 -days 30 \
		-out "$T/evil.pem" 2>/dev/null
	run openssl verify -CAfile "$P/pin.pem" "$T/evil.pem"
	[ "$status" -ne 0 ]
	assert_output_has "invalid CA certificate"
}

@test "a CA's path length travels in its anchor; non-critical basicConstraints is still a CA; --allow-v1-roots admits v1" {
	run "$PROV" trust build --from "$P/pathlen.pem" --from "$P/noncritbc.pem" --all --out "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.anchors[] | select(.subject == "CN=Path Length Root") | .path_len')" = 1 ]
	[ "$(echo "$output" | jq -r '.anchors[] | select(.subject == "CN=Non-critical BC Root") | .path_len')" = null ]
	reader "$T/s.store" --certs "$P/pathlen.pem" --certs "$P/noncritbc.pem" --exact --expect-count 2
	run "$PROV" trust inspect "$T/s.store" --json
	[ "$(echo "$output" | jq '[.anchors[].path_len] | sort | join(",")')" = '",1"' ]
	# byte for byte with the independent encoder
	cat "$P/pathlen.pem" "$P/noncritbc.pem" > "$T/two.pem"
	"$PY" "$BATS_TEST_DIRNAME/../py/truststore_encode.py" --out "$T/py.store" "$T/two.pem"
	cmp "$T/s.store" "$T/py.store"
	run "$PROV" trust build --from "$P/v1.pem" --all --allow-v1-roots --out "$T/v1.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.output.count')" = 1 ]
	reader "$T/v1.store" --certs "$P/v1.pem" --exact --expect-count 1
}

@test "--chain: a chain only a certificate that cannot be an anchor validates is an error saying why" {
	mkkey pleaf p256
	openssl req -new -key "$P/pleaf.key" -subj "/CN=served.example" -out "$T/pleaf.csr" 2>/dev/null
	openssl x509 -req -in "$T/pleaf.csr" -CA "$P/pin.pem" -CAkey "$P/pin.key" -set_serial 10 -days 30 \
		-out "$T/pleaf.pem" 2>/dev/null
	run "$PROV" trust build --from "$P/pin.pem" --chain "$T/pleaf.pem" --out "$T/s.store"
	assert_status 7
	assert_output_has "CN=broker.example would, but it cannot be an anchor: not a CA"
	[ ! -e "$T/s.store" ]
}

@test "names from certificates are escaped: no control byte of a subject reaches the terminal" {
	mkself esc "/CN=evil$(printf '\033]0;pwned\007\033[2J')x/O=a$(printf '\302\233')b" -utf8 \
		-addext "basicConstraints=critical,CA:FALSE"
	run "$PROV" trust build --from "$P/esc.pem" --all --out "$T/s.store"
	assert_status 3
	assert_output_has "note: dropped "
	assert_output_has 'evil\1B]0'
	assert_output_has '\xc2\x9b'
	[[ "$output" != *$'\e'* && "$output" != *$'\a'* && "$output" != *$'\302\233'* ]]
	run "$PROV" trust build --from "$P/esc.pem" --all --out "$T/s.store" --json
	[[ "$output" != *$'\e'* && "$output" != *$'\302\233'* ]]
	[[ "$(echo "$output" | jq -r '.dropped[0].name')" != *$'\e'* ]]
}

@test "--pin: a server's key, apart from the anchors in trust inspect (human and --json), read back by python" {
	run "$PROV" trust build --from "$P/bundle.pem" --select "New Root" --pin "$P/pin.pem" --out "$T/s.store" --json
	assert_status 0
	spki=$(openssl x509 -in "$P/pin.pem" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64)
	[ "$(echo "$output" | jq -r '.pins[0].spki_sha256')" = "$spki" ]
	[ "$(echo "$output" | jq -r '.pins[0].sha256')" = "$(fphex "$P/pin.pem")" ]
	[ "$(echo "$output" | jq -r '.output.count, .output.pins' | tr '\n' ' ')" = "1 1 " ]
	reader "$T/s.store" --certs "$P/new.pem" --exact --expect-count 1 --pins "$P/pin.pem" --expect-pins 1
	run "$PROV" trust inspect "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.count, .pin_count, .pins[0].spki_sha256' | tr '\n' ' ')" = "1 1 $spki " ]
	run "$PROV" trust inspect "$T/s.store"
	assert_status 0
	assert_output_has "trust store v2: 1 anchors, 1 pins"
	assert_output_has "anchors (CAs that may sign servers' certificates):"
	assert_output_has "pins (servers' own keys"
	assert_output_has "  $spki"
	# byte for byte with the independent encoder
	"$PY" "$BATS_TEST_DIRNAME/../py/truststore_encode.py" --pin "$P/pin.pem" --out "$T/py.store" "$P/new.pem"
	cmp "$T/s.store" "$T/py.store"
}

@test "--pin alone, a PEM public key, a CA pinned: pins only; --format der has no pins (usage)" {
	openssl x509 -in "$P/pin.pem" -pubkey -noout > "$T/pin.pub.pem"
	run "$PROV" trust build --pin "$P/pin.pem" --pin "$T/pin.pub.pem" --out "$T/s.store" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '.mode')" = pins ]
	[ "$(echo "$output" | jq -r '.pins | length')" = 2 ]
	[ "$(echo "$output" | jq -r '.pins[1].name')" = null ]
	[ "$(echo "$output" | jq -r '.pins[0].spki_sha256 == .pins[1].spki_sha256')" = true ]
	reader "$T/s.store" --expect-count 0 --pins "$P/pin.pem" --expect-pins 1
	[ "$(wc -c < "$T/s.store")" = $((4 + 2 + 32)) ]  # 84 02 40 40 58 20 <pin>
	# a CA may be pinned (a note says what that means)
	run "$PROV" trust build --pin "$P/new.pem" --out "$T/c.store"
	assert_status 0
	assert_output_has "is a CA certificate: the device trusts a server presenting this key, never a certificate it signed"
	run "$PROV" trust build --pin "$P/pin.pem" --format der --out "$T/s.der"
	assert_status 2
	assert_output_has "only a store"
	run "$PROV" trust build --pin "$P/pin.pem" --all --out "$T/s.store"
	assert_status 2
	printf -- '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' > "$T/k.pem"
	run "$PROV" trust build --pin "$T/k.pem" --out "$T/k.store"
	assert_status 3
	assert_output_has "neither CERTIFICATE nor PUBLIC KEY"
	[ ! -e "$T/k.store" ]
	run "$PROV" trust build --pin "$T/missing.pem" --out "$T/k.store"
	assert_status 4
}

@test "a store made before anchors had to be CAs (format v1) is refused by every reader: rebuild it" {
	"$PY" "$BATS_TEST_DIRNAME/../py/truststore_encode.py" --v1 --out "$T/old.store" "$P/pin.pem"
	[ "$(head -c 2 "$T/old.store" | xxd -p)" = 8301 ]
	run "$PROV" trust inspect "$T/old.store"
	assert_status 3
	assert_output_has "format version 1, made before anchors had to be CAs: rebuild it with prov trust build"
	run "$PY" "$RD" "$T/old.store"
	[ "$status" -eq 1 ]
	assert_output_has "rebuild it"
	# nor can it go into a bundle
	make_factory
	jq '.credentials = [(.credentials[] | select(.type != "trust")),
		{type: "trust", slot: 2, file: "old.store", format: "store"}]' "$TPL/mqtt-mtls.json" > "$T/tpl.json"
	run "$PROV" template check "$T/tpl.json"
	assert_status 3
	assert_output_has "rebuild"
}

# ---- output ----------------------------------------------------------------

@test "reproducible: inputs in any order, bundle or directory, give the same bytes and manifest" {
	mkdir -p "$T/dir"
	cp "$P/new.pem" "$T/dir/b.pem"; openssl x509 -in "$P/old.pem" -outform DER -out "$T/dir/a.der"
	cp "$P/ed.pem" "$T/dir/c.crt"; echo "not a certificate" > "$T/dir/README"
	cat "$P/ed.pem" "$P/old.pem" "$P/new.pem" > "$T/rev.pem"
	run "$PROV" trust build --from "$T/dir" --all --at 2026-01-01 --out "$T/1.store" --manifest "$T/1.json"
	assert_status 0
	assert_output_has "note: skipped $T/dir/README"
	run "$PROV" trust build --from "$T/rev.pem" --all --at 2026-01-01 --out "$T/2.store" --manifest "$T/2.json"
	assert_status 0
	cmp "$T/1.store" "$T/2.store"
	run "$PROV" trust build --from "$T/rev.pem" --all --at 2026-01-01 --out "$T/3.store" --manifest "$T/3.json"
	cmp "$T/2.store" "$T/3.store"
	diff <(jq -S 'del(.inputs, .notes, .file) | .anchors |= map(del(.source))' "$T/1.json") \
	     <(jq -S 'del(.inputs, .notes, .file) | .anchors |= map(del(.source))' "$T/2.json")
	diff <(jq -S 'del(.file)' "$T/2.json") <(jq -S 'del(.file)' "$T/3.json")
	reader "$T/1.store" --certs "$T/rev.pem" --exact --expect-count 3
}

@test "--format der and pem: the selected certificates, read back by openssl" {
	run "$PROV" trust build --from "$P/bundle.pem" --select "New Root" "Old Root" --format der --out "$T/s.der"
	assert_status 0
	run "$PROV" trust build --from "$P/bundle.pem" --select "New Root" "Old Root" --format pem --out "$T/s.pem"
	assert_status 0
	[ "$(openssl crl2pkcs7 -nocrl -certfile "$T/s.pem" | openssl pkcs7 -print_certs | grep -c '^subject=')" = 2 ]
	# the DER file is the PEM file's certificates, in the same order
	openssl crl2pkcs7 -nocrl -certfile "$T/s.pem" | openssl pkcs7 -print_certs > "$T/pp.pem"
	"$PY" -c 'import sys; from cryptography import x509; from cryptography.hazmat.primitives.serialization import Encoding
E = b"-----END CERTIFICATE-----"
pems = [b + E for b in open(sys.argv[1], "rb").read().split(E) if b"BEGIN" in b]
d = b"".join(x509.load_pem_x509_certificate(p).public_bytes(Encoding.DER) for p in pems)
assert len(pems) == 2 and d == open(sys.argv[2], "rb").read()' "$T/s.pem" "$T/s.der"
}

@test "--format c: a header whose array is the store, byte for byte (compiled and run)" {
	run "$PROV" trust build --from "$P/bundle.pem" --all --format c --out "$T/trust.h"
	assert_status 0
	run "$PROV" trust build --from "$P/bundle.pem" --all --out "$T/s.store"
	printf '#include <stdio.h>\n#include "trust.h"\nint main(void){fwrite(prov_trust_store,1,PROV_TRUST_STORE_LEN,stdout);return 0;}\n' > "$T/m.c"
	cc -std=c99 -Wall -Werror -o "$T/m" "$T/m.c"
	"$T/m" > "$T/from-c.store"
	cmp "$T/from-c.store" "$T/s.store"
	reader "$T/from-c.store" --certs "$P/bundle.pem" --exact
}

# ---- bad inputs and usage ---------------------------------------------------

@test "bad inputs: missing file, garbage PEM, not a certificate, empty file" {
	run "$PROV" trust build --from "$T/nope.pem" --all --out "$T/s.store"
	assert_status 4
	assert_output_has "cannot open $T/nope.pem"
	printf -- '-----BEGIN CERTIFICATE-----\nMIIB!!!!garbage\n-----END CERTIFICATE-----\n' > "$T/garbage.pem"
	run "$PROV" trust build --from "$P/new.pem" --from "$T/garbage.pem" --all --out "$T/s.store"
	assert_status 3
	assert_output_has "$T/garbage.pem: PEM block 1 is garbage"
	head -c 300 /dev/urandom > "$T/random.bin"; printf '\x00' >> "$T/random.bin"
	run "$PROV" trust build --from "$T/random.bin" --all --out "$T/s.store"
	assert_status 3
	assert_output_has "$T/random.bin: not a certificate file"
	: > "$T/empty.pem"
	run "$PROV" trust build --from "$T/empty.pem" --all --out "$T/s.store"
	assert_status 3
	assert_output_has "empty file"
	[ ! -e "$T/s.store" ]
	assert_no_tmp_files "$T"
}

@test "an unreadable input file is an I/O error" {
	[ "$(id -u)" != 0 ] || skip "root reads any file"
	cp "$P/new.pem" "$T/locked.pem"; chmod 000 "$T/locked.pem"
	run "$PROV" trust build --from "$T/locked.pem" --all --out "$T/s.store"
	assert_status 8
	[ ! -e "$T/s.store" ]
}

@test "an unwritable --out or --manifest leaves nothing behind" {
	run "$PROV" trust build --from "$P/bundle.pem" --all --out "$T/no/dir/s.store"
	assert_status 8
	run "$PROV" trust build --from "$P/bundle.pem" --all --out "$T/s.store" --manifest "$T/no/dir/m.json"
	assert_status 8
	[ ! -e "$T/s.store" ]
	assert_no_tmp_files "$T"
}

@test "usage errors: mode missing or twice, bad --format, bad --at, no --out" {
	run "$PROV" trust build --from "$P/bundle.pem" --out "$T/s"
	assert_status 2
	assert_output_has "give exactly one of --all, --select or --chain"
	run "$PROV" trust build --from "$P/bundle.pem" --all --select x --out "$T/s"
	assert_status 2
	run "$PROV" trust build --from "$P/bundle.pem" --all --format zip --out "$T/s"
	assert_status 2
	assert_output_has '--format: store, der, pem or c, not "zip"'
	run "$PROV" trust build --from "$P/bundle.pem" --all --at 2026-02-30 --out "$T/s"
	assert_status 2
	assert_output_has "--at: not YYYY-MM-DD"
	run "$PROV" trust build --from "$P/bundle.pem" --all
	assert_status 2
	[ ! -e "$T/s" ]
}

# ---- inspect -----------------------------------------------------------------

@test "trust inspect describes a store and rejects defective ones (exit 3)" {
	"$PROV" trust build --from "$P/bundle.pem" --select "New Root" "Ed25519 Root" --out "$T/s.store" >/dev/null
	run "$PROV" trust inspect "$T/s.store"
	assert_status 0
	assert_output_has "trust store v2: 2 anchors, 0 pins"
	assert_output_has "p256"
	assert_output_has "ed25519"
	n=$(wc -c < "$T/s.store")
	head -c $((n - 1)) "$T/s.store" > "$T/trunc.store"
	run "$PROV" trust inspect "$T/trunc.store"
	assert_status 3
	cp "$T/s.store" "$T/v3.store"; printf '\x03' | dd of="$T/v3.store" bs=1 seek=1 conv=notrunc 2>/dev/null
	run "$PROV" trust inspect "$T/v3.store"
	assert_status 3
	assert_output_has "version is not 2"
	{ cat "$T/s.store"; printf '\x00'; } > "$T/trail.store"
	run "$PROV" trust inspect "$T/trail.store"
	assert_status 3
	assert_output_has "trailing bytes"
	run "$PY" "$RD" "$T/trail.store"
	[ "$status" -ne 0 ]
}

# ---- sign ----------------------------------------------------------------------

@test "trust sign: a COSE_Sign1 by the factory signer, verified by python, counter grows; prov inspect refuses it" {
	make_factory
	"$PROV" trust build --from "$P/bundle.pem" --select "New Root" --out "$T/s.store" >/dev/null
	run "$PROV" trust sign --store "$T/s.store" --out "$T/s1.cose" --json
	assert_status 0
	[ "$(echo "$output" | jq .counter)" = 1 ]
	run "$PROV" trust sign --store "$T/s.store" --out "$T/s2.cose"
	assert_status 0
	assert_output_has "counter 2"
	reader "$T/s2.cose" --signed-by "$PROV_HOME/signer.pub.pem" --certs "$P/new.pem" --exact --json
	[ "$(echo "$output" | jq .signed.counter)" = 2 ]
	[ "$(echo "$output" | jq -r .signed.device)" = null ]
	run "$PROV" trust inspect "$T/s2.cose" --json
	assert_status 0
	[ "$(echo "$output" | jq -r .signed.status)" = valid ]
	[ "$(echo "$output" | jq .count)" = 1 ]
	# never confused with a credential bundle
	run "$PROV" inspect "$T/s2.cose"
	assert_status 3
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'trust-sign'")" = 2 ]
	# tampered: the last byte of the signature, one bit flipped (setting it to a
	# fixed value would leave it unchanged one time in 256)
	cp "$T/s2.cose" "$T/bad.cose"
	n=$(wc -c < "$T/bad.cose")
	b=$(tail -c 1 "$T/bad.cose" | xxd -p)
	printf "\\x$(printf '%02x' $((0x$b ^ 1)))" | dd of="$T/bad.cose" bs=1 seek=$((n - 1)) conv=notrunc 2>/dev/null
	run cmp -s "$T/s2.cose" "$T/bad.cose"
	[ "$status" -ne 0 ]
	run "$PROV" trust inspect "$T/bad.cose"
	assert_status 7
	assert_output_has "signature: invalid"
	# another factory's signer
	run "$PROV" trust inspect "$T/s2.cose" --home "$T/other"
	assert_status 4
}

@test "trust sign --device binds it to a known device; bad stores and devices are refused, nothing written" {
	make_factory
	make_device_key dev1
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device dev-1 --csr "$T/dev1.csr" >/dev/null
	"$PROV" trust build --from "$P/bundle.pem" --select "New Root" --out "$T/s.store" >/dev/null
	run "$PROV" trust sign --store "$T/s.store" --device dev-1 --out "$T/d.cose"
	assert_status 0
	assert_output_has "for dev-1"
	reader "$T/d.cose" --signed-by "$PROV_HOME/signer.pub.pem" --json
	[ "$(echo "$output" | jq -r .signed.device)" = dev-1 ]
	run "$PROV" trust sign --store "$T/s.store" --device dev-9 --out "$T/e.cose"
	assert_status 4
	assert_output_has "no such device: dev-9"
	[ ! -e "$T/e.cose" ]
	head -c 20 "$T/s.store" > "$T/trunc.store"
	run "$PROV" trust sign --store "$T/trunc.store" --out "$T/e.cose"
	assert_status 3
	assert_output_has "--store $T/trunc.store"
	[ ! -e "$T/e.cose" ]
	# the failures did not use up counter values
	run "$PROV" trust sign --store "$T/s.store" --out "$T/f.cose" --json
	[ "$(echo "$output" | jq .counter)" = 2 ]
}

# ---- template -------------------------------------------------------------------

@test "a template's trust credential may name a compact store: the bundle carries entry type 7" {
	make_factory
	"$PROV" trust build --from "$P/bundle.pem" --select "New Root" "Old Root" --out "$T/roots.store" >/dev/null
	# (mqtt-mtls's own trust credential, the IoT roots store, replaced by this one)
	jq '.credentials = [(.credentials[] | select(.type != "trust")),
		{type: "trust", slot: 2, file: "roots.store", format: "store"}]' \
		"$TPL/mqtt-mtls.json" > "$T/tpl.json"
	run "$PROV" template check "$T/tpl.json"
	assert_status 0
	make_device_key dev1
	"$PROV" mint --template "$T/tpl.json" --device dev-1 --csr "$T/dev1.csr" >/dev/null
	"$PROV" bundle --device dev-1 --out "$T/b.cbor"
	run "$PROV" inspect "$T/b.cbor" --json
	assert_status 0
	[ "$(echo "$output" | jq -r '[.entries[].type] | index("trust-store") != null')" = true ]
	[ "$(echo "$output" | jq -r '[.entries[].type] | index("ca-certs")')" = null ]
	"$PY" -c 'import sys, cbor2
b = cbor2.loads(open(sys.argv[1], "rb").read()).value
p = cbor2.loads(b[2])
v = [e[5] for e in p[6] if e[2] == 7]
assert v == [open(sys.argv[2], "rb").read()], "entry 7 is not the store"' "$T/b.cbor" "$T/roots.store"
	# a store file that is not a valid store
	head -c 30 "$T/roots.store" > "$T/roots.store"
	run "$PROV" template check "$T/tpl.json"
	assert_status 3
}

# ---- size targets (issue 3), on Debian's ca-certificates -------------------------

@test "size targets: the 12 IoT roots <= 3,300 bytes; all roots <= 48,000 bytes" {
	[ -f "$DEB" ] || skip "no $DEB"
	IFS='|' read -r -a sel <<< "$IOT"
	run "$PROV" trust build --from "$DEB" --select "${sel[@]}" --out "$T/12.store"
	assert_status 0
	n=$(wc -c < "$T/12.store")
	echo "12 roots: $n bytes" >&3
	[ "$n" -le 3300 ]
	reader "$T/12.store" --expect-count 12 --certs "$DEB"
	# every root of the bundle: at its release, before any of them expired
	run "$PROV" trust build --from "$DEB" --all --at 2023-03-01 --out "$T/all.store" --json
	assert_status 0
	n=$(wc -c < "$T/all.store")
	echo "all roots: $n bytes ($(echo "$output" | jq .output.count) anchors)" >&3
	[ "$n" -le 48000 ]
	reader "$T/all.store" --certs "$DEB" --exact
}

@test "cross-check: the same 12 roots give the same bytes as the independent python encoder" {
	[ -f "$DEB" ] || skip "no $DEB"
	enc="$BATS_TEST_DIRNAME/../py/truststore_encode.py"
	[ -f "$enc" ] || skip "no $enc"
	IFS='|' read -r -a sel <<< "$IOT"
	"$PROV" trust build --from "$DEB" --select "${sel[@]}" --format pem --out "$T/12.pem" >/dev/null
	"$PROV" trust build --from "$T/12.pem" --all --out "$T/12.store" >/dev/null
	"$PY" "$enc" "$T/12.pem" > "$T/py.store"
	cmp "$T/12.store" "$T/py.store"
}
