#!/usr/bin/env bats
# pkcs11.bats - the CA and bundle-signer keys in a PKCS#11 token (issue 15):
# SoftHSM 2 with its token directory in the test's temporary directory
# (SOFTHSM2_CONF), keys generated in the token by prov init --pkcs11-generate
# or imported with p11tool; every signing path (device certificates one by one
# and in batches, bundles, signed trust stores, CRLs) checked by readers we did
# not write: openssl (verify, crl -verify, s_server -crl_check), p11tool (the
# keys' flags in the token) and the agent (agent-sim --install verifies the
# bundle's signature); a grep of the home for key material and the PIN;
# errors with exit 16 (module, token, key, key type) and 17 (PIN), counting
# C_Login calls with OpenSC's pkcs11-spy between prov and SoftHSM.

bats_require_minimum_version 1.5.0
load helper

SIM="$PROV_BUILD/agent-sim"
SOFTHSM=/usr/lib/softhsm/libsofthsm2.so
SPY=/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so
PIN=factory-pin-4821
CA_URI='pkcs11:token=factory;object=ca'
SIGNER_URI='pkcs11:token=factory;object=signer'

# A fresh SoftHSM token "factory" in $T/tokens, its PIN in the environment.
token_init() {
	mkdir -p "$T/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$T/tokens" >"$T/softhsm2.conf"
	export SOFTHSM2_CONF="$T/softhsm2.conf"
	softhsm2-util --init-token --free --label factory --pin "$PIN" --so-pin 87654321 >/dev/null
	export PROV_PKCS11_MODULE=$SOFTHSM PROV_PKCS11_PIN=$PIN
}

# p11tool (GnuTLS, not libp11) logged into the token.
p11() {
	GNUTLS_PIN=$PIN p11tool --provider "$SOFTHSM" --login "$@"
}

# A command through OpenSC's pkcs11-spy, which logs every PKCS#11 call to
# $T/spy.log.  The spy (a test tool) leaks a little at unload: under ASan leak
# checks are off for these commands (the other tests run the same paths
# without it, leak-checked).
spied() {
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" PKCS11SPY=$SOFTHSM \
		PKCS11SPY_OUTPUT="$T/spy.log" "$@"
}

token_home() {
	"$PROV" init --pkcs11-generate --ca-key "$CA_URI" --signer-key "$SIGNER_URI" >/dev/null
}

# A private key (and with $4 = pub, its public key) from a PEM file into the token.
token_import() {
	local pem=$1 label=$2 id=$3
	p11 --write --load-privkey "$pem" --label "$label" --id "$id" --mark-private \
		'pkcs11:token=factory' >/dev/null 2>&1
	if [ "${4:-}" = pub ]; then
		openssl pkey -in "$pem" -pubout -out "$T/$label.import.pub"
		p11 --write --load-pubkey "$T/$label.import.pub" --label "$label" --id "$id" \
			'pkcs11:token=factory' >/dev/null 2>&1
	fi
}

# No byte of a secret in a home ($2, default $PROV_HOME): $1 the secret as hex;
# searched raw, as lower- and upper-case hex, and inside every PEM block
# (base64 decoded) of every file.
home_has_hex() {
	"$PY" - "$1" "${2:-$PROV_HOME}" <<'PYEOF'
import base64, os, re, sys
needle = bytes.fromhex(sys.argv[1])
forms = [needle, sys.argv[1].lower().encode(), sys.argv[1].upper().encode()]
for root, _, files in os.walk(sys.argv[2]):
    for name in files:
        data = open(os.path.join(root, name), "rb").read()
        blobs = [data] + [base64.b64decode(b"".join(m.split()))
                          for m in re.findall(rb"-----BEGIN [^-]+-----(.*?)-----END", data, re.S)]
        if any(f in b for f in forms for b in blobs):
            print("key material in", os.path.join(root, name))
            sys.exit(0)
sys.exit(1)
PYEOF
}

assert_home_lacks_hex() {
	if home_has_hex "$@"; then
		return 1
	fi
}

# The private scalar of an EC key file, as hex.
scalar_hex() {
	openssl pkey -in "$1" -text -noout | sed -n '/^priv:/,/^pub:/p' | sed '1d;$d' | tr -d ' :\n'
}

# A device D with storage $T/$1 provisioned by agent-sim (the agent checks
# the bundle's signature against the factory's signer) with template $2.
provision() {
	local d=$1 tpl=$2
	"$PROV" signer export >"$T/signer.pem"
	"$SIM" --storage "$T/$d" --device-id "$d" --signer "$T/signer.pem" --init >"$T/$d.pub"
	"$PROV" mint --template "$tpl" --device "$d" --recipient-key "$T/$d.pub" >/dev/null
	"$PROV" bundle --device "$d" --out "$T/$d.cbor" >/dev/null
	"$SIM" --storage "$T/$d" --install "$T/$d.cbor" >/dev/null
}

teardown() {
	bg_stop_all
}

# ---- keys made in the token ---------------------------------------------------------

@test "pkcs11: init --pkcs11-generate: P-256 keys in the token, sensitive and never extractable; the home has URIs, no key, no PIN" {
	token_init
	run --separate-stderr "$PROV" init --pkcs11-generate --ca-key "$CA_URI" --signer-key "$SIGNER_URI" --json
	assert_status 0
	[ ! -e "$PROV_HOME/ca.key" ] && [ ! -e "$PROV_HOME/signer.key" ]
	# the token, read by GnuTLS's p11tool: two private keys, each with its public key
	p11 --list-privkeys 'pkcs11:token=factory' >"$T/priv.txt"
	cat "$T/priv.txt"
	[ "$(grep -c 'Type: Private key (EC/ECDSA-SECP256R1)' "$T/priv.txt")" = 2 ]
	[ "$(grep -c 'CKA_SENSITIVE' "$T/priv.txt")" = 2 ]
	[ "$(grep -c 'CKA_NEVER_EXTRACTABLE' "$T/priv.txt")" = 2 ]
	if grep -q 'CKA_EXTRACTABLE' "$T/priv.txt"; then false; fi
	# the home records where the keys are, never the PIN
	uri=$(db "SELECT value FROM meta WHERE key = 'ca_key_uri'")
	[[ "$uri" == "pkcs11:token=factory;id=%"*";object=ca" ]]
	[[ "$(db "SELECT value FROM meta WHERE key = 'signer_key_uri'")" == *";object=signer" ]]
	[ "$(db "SELECT value FROM meta WHERE key = 'pkcs11_module'")" = "$SOFTHSM" ]
	[ -z "$(grep -rlaF "$PIN" "$PROV_HOME")" ]
	[ -z "$(grep -rlaE 'PRIVATE KEY' "$PROV_HOME")" ]
	# the CA certificate carries the token's key and is signed by it
	openssl verify -CAfile "$PROV_HOME/ca.pem" "$PROV_HOME/ca.pem"
	p11 --export-pubkey "$uri" >"$T/ca-token.pub" 2>/dev/null
	openssl x509 -in "$PROV_HOME/ca.pem" -pubkey -noout >"$T/ca-cert.pub"
	[ "$(openssl pkey -pubin -in "$T/ca-token.pub" -outform DER | sha256sum)" = \
	  "$(openssl pkey -pubin -in "$T/ca-cert.pub" -outform DER | sha256sum)" ]
	[[ "$(db "SELECT detail FROM audit WHERE action = 'init'")" == *'"ca_key":"token-generated","signer_key":"token-generated"'* ]]
}

@test "pkcs11: --pkcs11-generate never replaces a key: a label in use is refused (5), nothing made" {
	token_init
	token_home
	n=$(p11 --list-privkeys 'pkcs11:token=factory' | grep -c 'Type: Private key')
	run --separate-stderr "$PROV" init --home "$T/second" --pkcs11-generate --ca-key "$CA_URI" \
		--signer-key 'pkcs11:token=factory;object=other'
	echo "$stderr"
	assert_status 5
	[[ "$stderr" == *'already holds a private key labelled "ca"'* ]]
	[ ! -e "$T/second" ]
	[ "$(p11 --list-privkeys 'pkcs11:token=factory' | grep -c 'Type: Private key')" = "$n" ]
}

@test "pkcs11: token keys sign device certificates (one and a batch), bundles and trust stores; openssl and the agent verify" {
	token_init
	token_home
	make_device_key d1
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device d1 --csr "$T/d1.csr"
	assert_status 0
	"$PROV" export --device d1 --what cert --out "$T/d1.pem"
	openssl verify -CAfile "$PROV_HOME/ca.pem" "$T/d1.pem"
	# a batch, with bundles
	mkdir "$T/bundles"
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --count 20 --id-format 'b-%02d' \
		--bundle-dir "$T/bundles" --recipient-key "$T/d1.pub.pem"
	assert_status 0
	[ "$(ls "$T/bundles" | wc -l)" = 20 ]
	for i in 01 07 20; do
		"$PROV" export --device "b-$i" --what cert --out "$T/b-$i.pem"
		openssl verify -CAfile "$PROV_HOME/ca.pem" "$T/b-$i.pem"
		run "$PROV" inspect "$T/bundles/b-$i.cbor"
		assert_status 0
		assert_output_has "signature: valid (ES256"
	done
	# the agent verifies a token-signed bundle and installs it
	provision dev "$TPL/mqtt-mtls.json"
	run "$SIM" --storage "$T/dev" --status
	assert_status 0
	assert_output_has "counter"
	# a tampered bundle is refused by the agent (the signature is what it checks)
	"$PROV" bundle --device dev --out "$T/dev2.cbor" >/dev/null
	"$PY" -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[-5] ^= 1; open(sys.argv[1], "wb").write(b)' "$T/dev2.cbor"
	run "$SIM" --storage "$T/dev" --install "$T/dev2.cbor"
	[ "$status" -ne 0 ]
	# a trust store signed in the token verifies against the signer's public key
	"$PROV" trust build --from "$TPL/roots/iot-roots.pem" --all --format store --out "$T/store.cbor" >/dev/null
	run --separate-stderr "$PROV" trust sign --store "$T/store.cbor" --out "$T/store.signed"
	assert_status 0
	run --separate-stderr "$PROV" trust inspect "$T/store.signed" --signer "$T/signer.pem"
	assert_status 0
	[ -z "$(grep -rlaF "$PIN" "$PROV_HOME")" ]
}

# ---- keys imported into the token ---------------------------------------------------

@test "pkcs11: imported keys (CA with its certificate, signer with its public key): signing works, no byte of either key in the home" {
	token_init
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/ca.key" 2>/dev/null
	openssl req -new -x509 -key "$T/ca.key" -subj "/CN=Imported CA" -days 3650 -out "$T/ca.pem" \
		-addext 'basicConstraints=critical,CA:TRUE,pathlen:0' -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/signer.key" 2>/dev/null
	# the CA key alone (no public key object: prov checks it by a signature)
	token_import "$T/ca.key" ca 01
	token_import "$T/signer.key" signer 02 pub
	ca_hex=$(scalar_hex "$T/ca.key")
	signer_hex=$(scalar_hex "$T/signer.key")
	[ ${#ca_hex} -eq 64 ] && [ ${#signer_hex} -eq 64 ]
	run --separate-stderr "$PROV" init --ca-key "$CA_URI" --ca-cert "$T/ca.pem" --signer-key "$SIGNER_URI"
	echo "$stderr"
	assert_status 0
	cmp <(openssl x509 -in "$T/ca.pem" -outform DER) <(openssl x509 -in "$PROV_HOME/ca.pem" -outform DER)
	[ "$(openssl pkey -in "$T/signer.key" -pubout | sha256sum)" = "$(sha256sum <"$PROV_HOME/signer.pub.pem")" ]
	make_device_key d1
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device d1 --csr "$T/d1.csr" >/dev/null
	"$PROV" export --device d1 --what cert --out "$T/d1.pem"
	openssl verify -CAfile "$T/ca.pem" "$T/d1.pem"
	provision dev "$TPL/mqtt-mtls.json"
	"$PROV" revoke --device d1 >/dev/null
	"$PROV" crl --out "$T/crl.pem" 2>/dev/null
	openssl crl -in "$T/crl.pem" -noout -verify -CAfile "$T/ca.pem"
	# the test's own copies were the only ones outside the token
	assert_home_lacks_hex "$ca_hex"
	assert_home_lacks_hex "$signer_hex"
	# (the search finds the same key in a home that keeps it in a file)
	"$PROV" init --home "$T/filehome" --ca-key "$T/ca.key" --ca-cert "$T/ca.pem" >/dev/null
	home_has_hex "$ca_hex" "$T/filehome"
	[ -z "$(grep -rlaF "$PIN" "$PROV_HOME")" ]
	# a CA certificate that is not the token key's is refused
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/other.key" 2>/dev/null
	openssl req -new -x509 -key "$T/other.key" -subj "/CN=Other CA" -days 3650 -out "$T/other.pem" \
		-addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign' 2>/dev/null
	run --separate-stderr "$PROV" init --home "$T/h2" --ca-key "$CA_URI" --ca-cert "$T/other.pem"
	assert_status 3
	[[ "$stderr" == *"does not match the CA certificate"* ]]
	[ ! -e "$T/h2" ]
}

# ---- errors -------------------------------------------------------------------------

@test "pkcs11: module not found, token absent, key not found, wrong key type: exit 16, clear message, no home" {
	token_init
	p11 --generate-privkey rsa --bits 2048 --label rsa 'pkcs11:token=factory' >/dev/null 2>&1
	run --separate-stderr "$PROV" init --ca-key "$CA_URI" --pkcs11-module /nonexistent/libp11mod.so
	assert_status 16
	[ "$stderr" = "prov: init: PKCS#11 module not found: /nonexistent/libp11mod.so: No such file or directory" ]
	run --separate-stderr "$PROV" init --ca-key "$CA_URI" --pkcs11-module /etc/passwd
	assert_status 16
	[ "$stderr" = "prov: init: cannot load PKCS#11 module /etc/passwd: /etc/passwd: invalid ELF header" ]
	run --separate-stderr "$PROV" init --ca-key "$CA_URI" --pkcs11-module /lib/x86_64-linux-gnu/libz.so.1
	assert_status 16
	[ "$stderr" = "prov: init: cannot load PKCS#11 module /lib/x86_64-linux-gnu/libz.so.1: no C_GetFunctionList: not a PKCS#11 module" ]
	run --separate-stderr "$PROV" init --ca-key 'pkcs11:token=absent;object=ca'
	assert_status 16
	[ "$stderr" = "prov: init: token absent: no token in $SOFTHSM matches pkcs11:token=absent;object=ca" ]
	run --separate-stderr "$PROV" init --ca-key 'pkcs11:token=factory;object=nope'
	assert_status 16
	[ "$stderr" = 'prov: init: key not found: token "factory" holds no private key that matches pkcs11:token=factory;object=nope' ]
	run --separate-stderr "$PROV" init --ca-key 'pkcs11:token=factory;object=rsa'
	assert_status 16
	[ "$stderr" = "prov: init: key of the wrong type: pkcs11:token=factory;object=rsa is an RSA key; needs EC P-256 or P-384" ]
	# the signer must be P-256: a P-384 key is the wrong type for it
	p11 --generate-privkey ecdsa --curve secp384r1 --label p384 'pkcs11:token=factory' >/dev/null 2>&1
	token_home_dir=$PROV_HOME
	run --separate-stderr "$PROV" init --ca-key 'pkcs11:token=factory;object=p384' \
		--signer-key 'pkcs11:token=factory;object=p384'
	assert_status 16
	[[ "$stderr" == *"key of the wrong type: pkcs11:token=factory;object=p384 is EC secp384r1; needs EC P-256" ]]
	[ ! -e "$token_home_dir" ]
	# a PIN in the URI is refused: the PIN never goes on the command line
	run --separate-stderr "$PROV" init --ca-key 'pkcs11:token=factory;object=ca?pin-value=1234'
	assert_status 2
	[[ "$stderr" == *"a PIN in the URI is refused"* ]]
	[ ! -e "$PROV_HOME" ]
	[ -z "$(ls -d "$T"/*.init.* 2>/dev/null)" ]
}

@test "pkcs11: a wrong PIN is exit 17 after exactly one C_Login (pkcs11-spy), at init and for a signing command" {
	token_init
	token_home
	make_device_key d1
	# init with a wrong PIN: one login attempt, nothing made
	run --separate-stderr spied env PROV_PKCS11_PIN=000000 "$PROV" init --home "$T/h2" --pkcs11-module "$SPY" \
		--pkcs11-generate --ca-key 'pkcs11:token=factory;object=ca2' --signer-key 'pkcs11:token=factory;object=s2'
	echo "$stderr"
	assert_status 17
	[[ "$stderr" == *"wrong PIN (not retried)"* ]]
	[ "$(grep -c 'C_Login' "$T/spy.log")" = 1 ]
	[ ! -e "$T/h2" ]
	# a mint with the PIN from a wrong --pin-file: one attempt, nothing recorded
	rm -f "$T/spy.log"
	echo 000000 >"$T/pin"
	run --separate-stderr spied env -u PROV_PKCS11_PIN "$PROV" mint --pkcs11-module "$SPY" --pin-file "$T/pin" \
		--template "$TPL/mqtt-mtls.json" --device d1 --csr "$T/d1.csr"
	echo "$stderr"
	assert_status 17
	[ "$stderr" = 'prov: mint: token "factory": wrong PIN (not retried)' ]
	[ "$(grep -c 'C_Login' "$T/spy.log")" = 1 ]
	[ "$(db 'SELECT count(*) FROM devices')" = 0 ]
	# the right PIN from --pin-file works, and a command that signs twice
	# (CA and signer in one token) logs in once
	rm -f "$T/spy.log"
	echo "$PIN" >"$T/pin"
	run --separate-stderr spied env -u PROV_PKCS11_PIN "$PROV" mint --pkcs11-module "$SPY" --pin-file "$T/pin" \
		--template "$TPL/mqtt-mtls.json" --device d1 --csr "$T/d1.csr" --recipient-key "$T/d1.pub.pem"
	assert_status 0
	run --separate-stderr spied env -u PROV_PKCS11_PIN "$PROV" mint --pkcs11-module "$SPY" --pin-file "$T/pin" \
		--template "$TPL/mqtt-mtls.json" --count 3 --id-format 'x-%d' --bundles --recipient-key "$T/d1.pub.pem"
	assert_status 0
	[ "$(grep -c 'C_Login' "$T/spy.log")" = 2 ]
	# no PIN at all: 17 before any login
	rm -f "$T/spy.log"
	run --separate-stderr spied env -u PROV_PKCS11_PIN "$PROV" bundle --pkcs11-module "$SPY" --device d1 --out "$T/b.cbor"
	assert_status 17
	[[ "$stderr" == *'needs a PIN: set PROV_PKCS11_PIN or give --pin-file' ]]
	[ "$(grep -c 'C_Login' "$T/spy.log")" = 0 ]
}

@test "pkcs11: the token's key must be the one the home was made with (16)" {
	token_init
	token_home
	# another home's keys in the same token, swapped in by editing the record
	"$PROV" init --home "$T/h2" --pkcs11-generate --ca-key 'pkcs11:token=factory;object=ca2' \
		--signer-key 'pkcs11:token=factory;object=s2' >/dev/null
	other=$(sqlite3 "$T/h2/prov.db" "SELECT value FROM meta WHERE key = 'ca_key_uri'")
	db "UPDATE meta SET value = '$other' WHERE key = 'ca_key_uri'"
	make_device_key d1
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device d1 --csr "$T/d1.csr"
	assert_status 16
	[[ "$stderr" == *"is not the CA key this home was made with" ]]
	[ "$(db 'SELECT count(*) FROM devices')" = 0 ]
}

@test "pkcs11: after init: the recorded module serves, --pkcs11-module overrides it; a missing module or token is 16" {
	token_init
	token_home
	make_device_key d1
	# no PROV_PKCS11_MODULE: the module recorded at init
	run --separate-stderr env -u PROV_PKCS11_MODULE "$PROV" mint --template "$TPL/mqtt-mtls.json" \
		--device d1 --csr "$T/d1.csr"
	assert_status 0
	run --separate-stderr env -u PROV_PKCS11_MODULE "$PROV" crl --pkcs11-module /nonexistent/mod.so
	assert_status 16
	[ "$stderr" = "prov: crl: PKCS#11 module not found: /nonexistent/mod.so: No such file or directory" ]
	# the token gone (another token directory, empty)
	mkdir "$T/empty"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$T/empty" >"$T/empty.conf"
	run --separate-stderr env SOFTHSM2_CONF="$T/empty.conf" "$PROV" bundle --device d1 --out "$T/b.cbor"
	assert_status 16
	[[ "$stderr" == "prov: bundle: token absent: no token in $SOFTHSM matches pkcs11:token=factory;id=%"*";object=signer" ]]
	[ ! -e "$T/b.cbor" ]
	# commands that do not sign never open the token
	run --separate-stderr env SOFTHSM2_CONF="$T/empty.conf" "$PROV" list
	assert_status 0
	run --separate-stderr env SOFTHSM2_CONF="$T/empty.conf" "$PROV" export --device d1 --what cert
	assert_status 0
}

# ---- revocation and CRLs ------------------------------------------------------------

@test "pkcs11 CRL: s_server -crl_check accepts a good device and refuses a revoked one; openssl crl -verify accepts the CRL" {
	token_init
	token_home
	export PKI="$T/pki"
	sh "$REPO/firmware-agent/trust/tests/mkpki.sh" "$PKI" >/dev/null
	cat >"$T/mtls.json" <<EOF
{"name": "mqtt-mtls-crl", "protocol": "mqtt",
 "device_key": {"type": "p256", "source": "device-or-host"},
 "credentials": [
  {"type": "certificate", "slot": 1, "subject": "CN={id},O=provkit devices",
   "validity": "no-expiry", "extended_key_usage": ["clientAuth"], "include_chain": true},
  {"type": "trust", "slot": 1, "file": "store.cbor", "format": "store"}],
 "tls": {"transport": "tls", "versions": ["1.2"],
  "cipher_suites": ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
  "max_fragment_length": 4096, "resumption": {"allowed": false},
  "time_check": "floor", "time_floor": "2026-01-01T00:00:00Z"}}
EOF
	"$PROV" trust build --from "$PKI/new.pem" --all --format store --out "$T/store.cbor" >/dev/null
	provision good "$T/mtls.json"
	provision bad "$T/mtls.json"
	run --separate-stderr "$PROV" revoke --device bad --reason keyCompromise --json
	assert_status 0
	[ "$(jq -r .certificates <<<"$output")" = 1 ]
	run --separate-stderr "$PROV" crl --out "$T/crl.pem" --next-update 2
	assert_status 0
	"$PROV" ca export >"$T/ca.pem"
	# the CRL, read by openssl: signed by the CA, v2, number 1, the bad device's serial
	openssl crl -in "$T/crl.pem" -noout -verify -CAfile "$T/ca.pem"
	openssl crl -in "$T/crl.pem" -noout -text >"$T/crl.txt"
	grep -q 'Version 2 (0x1)' "$T/crl.txt"
	grep -q 'Key Compromise' "$T/crl.txt"
	[ "$(openssl crl -in "$T/crl.pem" -noout -crlnumber)" = "crlNumber=0x01" ]
	bad_serial=$(db "SELECT upper(serial) FROM certificates WHERE device_id = 'bad'")
	good_serial=$(db "SELECT upper(serial) FROM certificates WHERE device_id = 'good'")
	grep -q "Serial Number: $bad_serial" "$T/crl.txt"
	if grep -q "$good_serial" "$T/crl.txt"; then false; fi
	# a server that checks the CRL: the devices connect with only their installed credentials
	openssl s_server -accept 127.0.0.1:0 -cert "$PKI/leaf.pem" -key "$PKI/leaf.key" \
		-cert_chain "$PKI/chain.pem" -Verify 1 -CAfile "$T/ca.pem" -CRL "$T/crl.pem" -crl_check \
		-verify_return_error -rev </dev/null >"$T/s.log" 2>&1 3>&- &
	bg_record s_server $!
	wait_for "$T/s.log" '^ACCEPT 127'
	port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$T/s.log")
	run "$SIM" --storage "$T/good" --tls-connect "127.0.0.1:$port" --send "hello"
	assert_status 0
	assert_output_has "received: olleh"
	run "$SIM" --storage "$T/bad" --tls-connect "127.0.0.1:$port" --send "hello"
	assert_status 6
	[[ "$output" != *"handshake ok"* ]]
	wait_for "$T/s.log" 'certificate revoked'
	# and the good one still connects afterwards
	run "$SIM" --storage "$T/good" --tls-connect "127.0.0.1:$port" --send "again"
	assert_status 0
}

@test "revoke: audited, final, psk-table leaves the device out, list --status revoked, --wipe issues a wipe bundle, no other bundle" {
	make_factory
	make_device_key r
	"$PROV" mint --template "$TPL/coaps-psk.json" --count 3 --id-format 'p-%d' --recipient-key "$T/r.pub.pem" >/dev/null
	"$PROV" export psk-table --format csv --reveal --out "$T/before.csv"
	grep -q '^p-2,' "$T/before.csv" || grep -q 'p-2' "$T/before.csv"
	run --separate-stderr "$PROV" revoke --device p-2 --reason cessationOfOperation --wipe --out "$T/wipe.cbor"
	assert_status 0
	assert_output_has "revoked p-2 (generation 1, cessationOfOperation): 0 certificates"
	run "$PROV" inspect "$T/wipe.cbor" --json
	assert_status 0
	[ "$(jq -r '.payload.wipe // .wipe' <<<"$output")" = true ]
	"$PROV" export psk-table --format csv --reveal --out "$T/after.csv"
	grep -q 'p-1' "$T/after.csv" && grep -q 'p-3' "$T/after.csv"
	if grep -q 'p-2' "$T/after.csv"; then false; fi
	[ "$(( $(wc -l <"$T/before.csv") - $(wc -l <"$T/after.csv") ))" = 1 ]
	run "$PROV" list --status revoked
	assert_status 0
	[ "$(grep -c '^p-' <<<"$output")" = 1 ]
	assert_output_has "p-2"
	[ "$(db "SELECT detail FROM audit WHERE action = 'revoke' AND device_id = 'p-2'")" = \
	  '{"generation":1,"reason":"cessationOfOperation","certificates":0}' ]
	# its credentials are not bundled again; a wipe bundle is
	run --separate-stderr "$PROV" bundle --device p-2 --out "$T/again.cbor"
	assert_status 2
	[[ "$stderr" == *"device p-2 is revoked (generation 1): only a wipe bundle"* ]]
	[ ! -e "$T/again.cbor" ]
	run --separate-stderr "$PROV" bundle --device p-2 --wipe --out "$T/wipe2.cbor"
	assert_status 0
	# after mint --rotate the new generation is not revoked: it bundles, and is in the table again
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p-2 --rotate --recipient-key "$T/r.pub.pem" >/dev/null
	run --separate-stderr "$PROV" bundle --device p-2 --out "$T/again.cbor"
	assert_status 0
	"$PROV" export psk-table --format csv --reveal --out "$T/rotated.csv"
	grep -q 'p-2' "$T/rotated.csv"
	"$PROV" revoke --device p-2 >/dev/null
	# again: already revoked (5); unknown device (4); unknown reason (2)
	run --separate-stderr "$PROV" revoke --device p-2
	assert_status 5
	run --separate-stderr "$PROV" revoke --device nope
	assert_status 4
	run --separate-stderr "$PROV" revoke --device p-1 --reason certificateHold
	assert_status 2
	# the database keeps a revocation and refuses to take it back
	run sqlite3 "$PROV_HOME/prov.db" "DELETE FROM revocations"
	[ "$status" -ne 0 ]
	[[ "$output" == *"a revocation is final"* ]]
}

@test "CRL number only grows; --rotate supersedes without revoking unless --revoke-previous" {
	make_factory
	make_device_key a
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device a --csr "$T/a.csr" >/dev/null
	old=$(db "SELECT upper(serial) FROM certificates WHERE device_id = 'a' AND generation = 1")
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device a --csr "$T/a.csr" --rotate >/dev/null
	"$PROV" crl --out "$T/c1.pem" 2>/dev/null
	[ "$(openssl crl -in "$T/c1.pem" -noout -crlnumber)" = "crlNumber=0x01" ]
	if openssl crl -in "$T/c1.pem" -noout -text | grep -q "$old"; then false; fi
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device a --csr "$T/a.csr" --rotate --revoke-previous >/dev/null
	mid=$(db "SELECT upper(serial) FROM certificates WHERE device_id = 'a' AND generation = 2")
	"$PROV" crl --der --out "$T/c2.der" 2>/dev/null
	openssl crl -inform DER -in "$T/c2.der" -noout -text >"$T/c2.txt"
	[ "$(openssl crl -inform DER -in "$T/c2.der" -noout -crlnumber)" = "crlNumber=0x02" ]
	grep -q "Serial Number: $mid" "$T/c2.txt"
	grep -q 'Superseded' "$T/c2.txt"
	if grep -q "$old" "$T/c2.txt"; then false; fi
	# the device's current generation is not revoked
	run "$PROV" list --status revoked
	if grep -q '^a ' <<<"$output"; then false; fi
	# a lower or equal CRL number is refused by the database
	run sqlite3 "$PROV_HOME/prov.db" "INSERT INTO crls VALUES (2, 0, 0, 0, 'x', 0)"
	[ "$status" -ne 0 ]
	[[ "$output" == *"CRL number only grows"* ]]
	run --separate-stderr "$PROV" crl --next-update 0
	assert_status 2
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device a --revoke-previous
	assert_status 2
}

# ---- prov install: ports in threads, one token ----------------------------------------

@test "pkcs11: prov install provisions two agent-sims on ptys at once with token keys: one C_Login for both" {
	token_init
	token_home
	"$PROV" signer export >"$T/signer.pem"
	args=()
	for i in 1 2; do
		"$SIM" --storage "$T/d$i" --device-id "node-$i" --signer "$T/signer.pem" --init >/dev/null
		"$SIM" --storage "$T/d$i" --pty >"$T/d$i.pty" 2>"$T/d$i.log" 3>&- &
		bg_record "agent-sim-d$i" $!
		for _ in $(seq 100); do
			[ -s "$T/d$i.pty" ] && break
			sleep 0.05
		done
		args+=(--port "$(head -n 1 "$T/d$i.pty")")
	done
	run --separate-stderr spied "$PROV" install "${args[@]}" --pkcs11-module "$SPY" \
		--template "$TPL/mqtt-mtls.json" --json
	echo "$stderr"
	assert_status 0
	[ "$(grep -c '"result":"installed"' <<<"$output")" = 2 ]
	[ "$(grep -c 'C_Login' "$T/spy.log")" = 1 ]
	for i in 1 2; do
		"$PROV" export --device "node-$i" --what cert --out "$T/n$i.pem"
		openssl verify -CAfile "$PROV_HOME/ca.pem" "$T/n$i.pem"
	done
}
