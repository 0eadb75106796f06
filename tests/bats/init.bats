#!/usr/bin/env bats
# init.bats - prov init and what it leaves behind: the factory home's files and
# modes (prov/home.h), its database (read with sqlite3), its CA (read with
# openssl), CA import, passphrase protection, and the exports of the CA chain
# and the bundle signer (the C header is compiled and compared with openssl).

load helper

bats_require_minimum_version 1.5.0

# Every file under $1 with its mode and SHA-256, for before/after comparisons.
snapshot() {
	(cd "$1" && find . -printf '%p %m %s\n' | sort && find . -type f -exec sha256sum {} + | sort)
}

# The home and any temporary sibling of a failed init are gone.
assert_no_home() {
	if [ -e "$PROV_HOME" ]; then
		echo "$PROV_HOME exists after a failed init" >&2
		return 1
	fi
	left=$(find "$(dirname "$PROV_HOME")" -maxdepth 1 -name "$(basename "$PROV_HOME").init.*")
	if [ -n "$left" ]; then
		echo "temporary init directory left: $left" >&2
		return 1
	fi
}

# A two-level PKI made with openssl: $T/root.{key,pem} and $T/int.{key,pem}
# (CA:TRUE, keyCertSign), $T/chain.pem = intermediate then root.
make_pki() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/root.key" -out "$T/root.pem" -subj "/CN=Test Root CA" -days 30 \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/int.key" -out "$T/int.csr" -subj "/CN=Test Intermediate CA/O=Test" 2>/dev/null
	printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" \
		"keyUsage=critical,keyCertSign,cRLSign" "subjectKeyIdentifier=hash" \
		"authorityKeyIdentifier=keyid" >"$T/int.ext"
	openssl x509 -req -in "$T/int.csr" -CA "$T/root.pem" -CAkey "$T/root.key" \
		-set_serial 0x1001 -days 30 -extfile "$T/int.ext" -out "$T/int.pem" 2>/dev/null
	cat "$T/int.pem" "$T/root.pem" >"$T/chain.pem"
}

# A certificate signed by the root with extensions $2, key in $1.key, cert $1.pem.
make_issued() {
	local name=$1 ext=$2
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/$name.key" -out "$T/$name.csr" -subj "/CN=$name" 2>/dev/null
	printf '%b\n' "$ext" >"$T/$name.ext"
	openssl x509 -req -in "$T/$name.csr" -CA "$T/root.pem" -CAkey "$T/root.key" \
		-set_serial 0x2002 -days 30 -extfile "$T/$name.ext" -out "$T/$name.pem" 2>/dev/null
}

# The SubjectPublicKeyInfo of a certificate / private key, as openssl prints it.
cert_pub() { openssl x509 -in "$1" -noout -pubkey; }
key_pub() { openssl pkey -in "$1" -pubout ${2:+-passin "pass:$2"}; }

@test "init: the home holds exactly the files of prov/home.h, keys and kek 0600, directory 0700" {
	umask 000
	run "$PROV" init
	assert_status 0
	assert_output_has "created factory home $PROV_HOME"
	[ "$(stat -c %a "$PROV_HOME")" = 700 ]
	[ "$(cd "$PROV_HOME" && ls -A | sort | tr '\n' ' ')" = "ca.key ca.pem kek prov.db signer.key signer.pub.pem " ]
	for f in ca.key signer.key kek prov.db; do
		echo "$f: $(stat -c %a "$PROV_HOME/$f")"
		[ "$(stat -c %a "$PROV_HOME/$f")" = 600 ]
	done
	[ "$(stat -c %a "$PROV_HOME/ca.pem")" = 644 ]
	[ "$(stat -c %a "$PROV_HOME/signer.pub.pem")" = 644 ]
	[ "$(stat -c %s "$PROV_HOME/kek")" = 32 ]
	# Unencrypted PEM keys, the CA's P-256 by default; the signer always P-256.
	openssl pkey -in "$PROV_HOME/ca.key" -noout -text | grep -q 'ASN1 OID: prime256v1'
	openssl pkey -in "$PROV_HOME/signer.key" -noout -text | grep -q 'ASN1 OID: prime256v1'
	[ "$(key_pub "$PROV_HOME/signer.key")" = "$(cat "$PROV_HOME/signer.pub.pem")" ]
	[ "$(key_pub "$PROV_HOME/ca.key")" = "$(cert_pub "$PROV_HOME/ca.pem")" ]
	assert_no_tmp_files "$PROV_HOME"
}

@test "init: without --home or PROV_HOME the home is ./factory; --home wins over PROV_HOME" {
	cd "$T"
	run env -u PROV_HOME "$PROV" init
	assert_status 0
	[ -f "$T/factory/prov.db" ]
	PROV_HOME="$T/from-env" run "$PROV" init --home "$T/from-option"
	assert_status 0
	[ -f "$T/from-option/prov.db" ]
	[ ! -e "$T/from-env" ]
}

@test "init --json: shape, and signer_kid is SHA-256 of the signer's DER SubjectPublicKeyInfo" {
	run --separate-stderr "$PROV" init --json
	assert_status 0
	kid=$(openssl pkey -pubin -in "$PROV_HOME/signer.pub.pem" -outform DER | sha256sum | cut -c1-16)
	echo "$output" | HOME_DIR="$PROV_HOME" KID="$kid" $PY -c '
import json, os, sys
j = json.load(sys.stdin)
assert set(j) == {"home", "ca_subject", "ca_imported", "signer_kid", "passphrase", "station", "database", "joined"}, j
assert j["station"] == "main" and j["database"] == "sqlite" and j["joined"] is False, j
assert j["home"] == os.environ["HOME_DIR"], j
assert j["ca_subject"] == "CN=provkit Device CA,O=provkit factory", j
assert j["ca_imported"] is False and j["passphrase"] is False, j
assert j["signer_kid"] == os.environ["KID"], (j, os.environ["KID"])
'
}

@test "init: the new CA is a self-signed CA certificate per openssl, with the subject asked for" {
	run "$PROV" init --ca-subject "CN=Acme Device CA,O=Acme,C=DE"
	assert_status 0
	ca="$PROV_HOME/ca.pem"
	[ "$(openssl x509 -in "$ca" -noout -subject -nameopt RFC2253)" = "subject=CN=Acme Device CA,O=Acme,C=DE" ]
	[ "$(openssl x509 -in "$ca" -noout -issuer -nameopt RFC2253)" = "issuer=CN=Acme Device CA,O=Acme,C=DE" ]
	run openssl x509 -in "$ca" -noout -ext basicConstraints,keyUsage
	assert_output_has "critical"
	assert_output_has "CA:TRUE"
	assert_output_has "Certificate Sign"
	run openssl verify -x509_strict -CAfile "$ca" "$ca"
	assert_status 0
	# One certificate only: a new CA has no chain.
	[ "$(grep -c 'BEGIN CERTIFICATE' "$ca")" = 1 ]
}

@test "init: a bad --ca-subject is refused (3) and leaves nothing" {
	run "$PROV" init --ca-subject "not a distinguished name"
	assert_status 3
	assert_output_has "prov: init: bad distinguished name"
	assert_no_home
}

@test "init --key-type p384: the CA key and certificate are P-384 (openssl)" {
	make_factory --key-type p384
	openssl pkey -in "$PROV_HOME/ca.key" -noout -text | grep -q 'NIST CURVE: P-384'
	run openssl x509 -in "$PROV_HOME/ca.pem" -noout -text
	assert_output_has "NIST CURVE: P-384"
	assert_output_has "Signature Algorithm: ecdsa-with-SHA384"
	# The bundle signer stays P-256 (ES256).
	openssl pkey -pubin -in "$PROV_HOME/signer.pub.pem" -noout -text | grep -q 'ASN1 OID: prime256v1'
}

@test "init --key-type ed25519: the CA key and certificate are Ed25519 (openssl)" {
	make_factory --key-type ed25519
	openssl pkey -in "$PROV_HOME/ca.key" -noout -text | grep -q 'ED25519 Private-Key'
	run openssl x509 -in "$PROV_HOME/ca.pem" -noout -text
	assert_output_has "Public Key Algorithm: ED25519"
	assert_output_has "Signature Algorithm: ED25519"
	run openssl verify -CAfile "$PROV_HOME/ca.pem" "$PROV_HOME/ca.pem"
	assert_status 0
}

@test "init --key-type: an unknown type is a usage error (2) and leaves nothing" {
	for kt in rsa P256 p-256 ""; do
		run "$PROV" init --key-type "$kt"
		assert_status 2
		assert_output_has "prov: init: --key-type: unknown key type \"$kt\""
		assert_no_home
	done
}

@test "init: refuses an existing factory home (5) and leaves it untouched" {
	make_factory
	make_device_key d1
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device d1 --csr "$T/d1.csr" >/dev/null
	before=$(snapshot "$PROV_HOME")
	for args in "" "--key-type p384" "--ca-subject CN=Other"; do
		run "$PROV" init $args
		assert_status 5
		assert_output_has "prov: init: $PROV_HOME already exists and is not empty"
	done
	[ "$(snapshot "$PROV_HOME")" = "$before" ]
	[ -z "$(find "$T" -maxdepth 1 -name 'factory.init.*')" ]
}

@test "init: refuses a non-empty directory that is not a home, and a regular file (5)" {
	mkdir -m 0755 "$PROV_HOME"
	echo "operator notes" >"$PROV_HOME/notes.txt"
	before=$(snapshot "$PROV_HOME")
	run "$PROV" init
	assert_status 5
	[ "$(snapshot "$PROV_HOME")" = "$before" ]
	[ "$(stat -c %a "$PROV_HOME")" = 755 ]

	echo "not a directory" >"$T/plain"
	run "$PROV" init --home "$T/plain"
	assert_status 5
	[ "$(cat "$T/plain")" = "not a directory" ]
}

@test "init: an existing empty directory becomes the home (mode 0700)" {
	mkdir -m 0755 "$PROV_HOME"
	run "$PROV" init
	assert_status 0
	[ "$(stat -c %a "$PROV_HOME")" = 700 ]
	[ -f "$PROV_HOME/prov.db" ]
}

@test "init: prov.db per sqlite3: user_version 2, WAL, every table, and the init audit row" {
	run --separate-stderr "$PROV" init --json
	assert_status 0
	kid=$(echo "$output" | $PY -c 'import json,sys; print(json.load(sys.stdin)["signer_kid"])')
	[ "$(db 'PRAGMA user_version')" = 3 ]
	[ "$(db 'PRAGMA journal_mode')" = wal ]
	tables=$(db "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name" | tr '\n' ' ')
	echo "tables: $tables"
	for t in audit bundles certificates device_keys devices installs meta psks raw_keys stations templates; do
		case " $tables" in *" $t "*) ;; *) echo "missing table $t" >&2; return 1 ;; esac
	done
	[ "$(db 'SELECT count(*) FROM devices')" = 0 ]
	[ "$(db "SELECT action || '|' || ifnull(device_id, 'NULL') FROM audit")" = "init|NULL" ]
	detail=$(db "SELECT detail FROM audit WHERE action = 'init'")
	[ "$detail" = "{\"ca_imported\":false,\"signer_kid\":\"$kid\"}" ]
	[ "$(db "SELECT value FROM meta WHERE key = 'kek_mode'")" = file ]
	run sqlite3 "$PROV_HOME/prov.db" 'PRAGMA integrity_check'
	[ "$output" = ok ]
}

@test "init: the audit log is append-only (sqlite3 UPDATE and DELETE fail)" {
	make_factory
	"$PROV" ca export >/dev/null
	before=$(db 'SELECT seq, at, action, device_id, detail FROM audit ORDER BY seq')
	[ "$(db 'SELECT count(*) FROM audit')" = 2 ]
	run db "UPDATE audit SET action = 'forged' WHERE seq = 1"
	[ "$status" -ne 0 ]
	assert_output_has "audit log is append-only"
	run db 'DELETE FROM audit'
	[ "$status" -ne 0 ]
	assert_output_has "audit log is append-only"
	run db 'DELETE FROM audit WHERE seq = 2'
	[ "$status" -ne 0 ]
	[ "$(db 'SELECT seq, at, action, device_id, detail FROM audit ORDER BY seq')" = "$before" ]
}

@test "init --ca-cert/--ca-key: imports an intermediate CA; minted certificates verify up to the root" {
	make_pki
	run --separate-stderr "$PROV" init --ca-cert "$T/chain.pem" --ca-key "$T/int.key" --json
	assert_status 0
	echo "$output" | $PY -c '
import json, sys
j = json.load(sys.stdin)
assert j["ca_imported"] is True, j
assert j["ca_subject"] == "O=Test,CN=Test Intermediate CA", j
'
	# The home's CA is the intermediate, followed by its chain, with the same key.
	cmp "$PROV_HOME/ca.pem" <(openssl x509 -in "$T/int.pem"; openssl x509 -in "$T/root.pem")
	[ "$(key_pub "$PROV_HOME/ca.key")" = "$(cert_pub "$T/int.pem")" ]
	[ "$(stat -c %a "$PROV_HOME/ca.key")" = 600 ]
	[ "$(db "SELECT detail LIKE '{\"ca_imported\":true,%' FROM audit WHERE action = 'init'")" = 1 ]

	make_device_key d1
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device d1 --csr "$T/d1.csr"
	assert_status 0
	"$PROV" export --device d1 --what cert --out "$T/d1.pem"
	run openssl verify -CAfile "$T/root.pem" -untrusted "$T/int.pem" "$T/d1.pem"
	assert_status 0
	assert_output_has "d1.pem: OK"
	# Without the intermediate the leaf does not verify: it really is issued by it.
	run openssl verify -CAfile "$T/root.pem" "$T/d1.pem"
	[ "$status" -ne 0 ]
	[ "$(openssl x509 -in "$T/d1.pem" -noout -issuer -nameopt RFC2253)" = "issuer=O=Test,CN=Test Intermediate CA" ]
	# ca export hands the same chain to servers.
	run --separate-stderr "$PROV" ca export
	assert_status 0
	[ "$output" = "$(cat "$PROV_HOME/ca.pem")" ]
}

@test "init --ca-key: a key that does not match the certificate is refused (3), nothing left" {
	make_pki
	run "$PROV" init --ca-cert "$T/int.pem" --ca-key "$T/root.key"
	assert_status 3
	assert_output_has "prov: init: cannot import CA $T/int.pem: CA key does not match the CA certificate"
	assert_no_home
}

@test "init --ca-cert: a certificate that cannot issue certificates is refused (3), nothing left" {
	make_pki
	make_issued leaf "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature"
	make_issued nosign "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature"
	make_issued nobc "keyUsage=critical,digitalSignature"
	for c in leaf nosign nobc; do
		run "$PROV" init --ca-cert "$T/$c.pem" --ca-key "$T/$c.key"
		assert_status 3
		assert_output_has "cannot import CA $T/$c.pem: certificate cannot issue certificates"
		assert_no_home
	done
}

@test "init --ca-cert/--ca-key: missing files are not found (4), nothing left" {
	make_pki
	run "$PROV" init --ca-cert "$T/nope.pem" --ca-key "$T/int.key"
	assert_status 4
	assert_output_has "cannot open $T/nope.pem"
	assert_no_home
	run "$PROV" init --ca-cert "$T/int.pem" --ca-key "$T/nope.key"
	assert_status 4
	assert_output_has "cannot open $T/nope.key"
	assert_no_home
}

@test "init --ca-cert/--ca-key: files that are not a certificate or not a key are bad input (3)" {
	make_pki
	echo "garbage" >"$T/garbage"
	run "$PROV" init --ca-cert "$T/garbage" --ca-key "$T/int.key"
	assert_status 3
	assert_output_has "holds no certificate"
	assert_no_home
	run "$PROV" init --ca-cert "$T/int.pem" --ca-key "$T/int.pem"
	assert_status 3
	assert_output_has "is not a PEM private key"
	assert_no_home
}

@test "init --ca-cert/--ca-key: an RSA CA is refused (3): key type not supported" {
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/rsa.key" -out "$T/rsa.pem" \
		-subj "/CN=RSA CA" -days 30 -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign" 2>/dev/null
	run "$PROV" init --ca-cert "$T/rsa.pem" --ca-key "$T/rsa.key"
	assert_status 3
	assert_output_has "key type not supported"
	assert_no_home
}

@test "init: --ca-cert and --ca-key go together; --ca-subject does not apply to an import (2)" {
	make_pki
	run "$PROV" init --ca-cert "$T/int.pem"
	assert_status 2
	assert_output_has "--ca-cert and --ca-key go together"
	assert_no_home
	run "$PROV" init --ca-key "$T/int.key"
	assert_status 2
	assert_output_has "--ca-cert and --ca-key go together"
	assert_no_home
	run "$PROV" init --ca-cert "$T/int.pem" --ca-key "$T/int.key" --ca-subject "CN=x"
	assert_status 2
	assert_no_home
	run "$PROV" init stray-argument
	assert_status 2
	assert_no_home
}

@test "init --ca-key: an encrypted CA key is opened with PROV_PASSPHRASE (wrong: 9, nothing left)" {
	make_pki
	openssl pkcs8 -topk8 -v2 aes-256-cbc -in "$T/int.key" -passout pass:s3cret -out "$T/int.enc.key"
	PROV_PASSPHRASE=wrong run "$PROV" init --ca-cert "$T/chain.pem" --ca-key "$T/int.enc.key"
	assert_status 9
	assert_output_has "PROV_PASSPHRASE"
	assert_no_home
	run "$PROV" init --ca-cert "$T/chain.pem" --ca-key "$T/int.enc.key"
	assert_status 9
	assert_no_home
	PROV_PASSPHRASE=s3cret run "$PROV" init --ca-cert "$T/chain.pem" --ca-key "$T/int.enc.key"
	assert_status 0
	[ "$(key_pub "$PROV_HOME/ca.key" s3cret)" = "$(cert_pub "$T/int.pem")" ]
}

@test "init with PROV_PASSPHRASE: keys are encrypted PKCS#8, no kek file, secrets need the passphrase" {
	export PROV_PASSPHRASE='correct horse'
	run --separate-stderr "$PROV" init --json
	assert_status 0
	echo "$output" | $PY -c 'import json,sys; assert json.load(sys.stdin)["passphrase"] is True'
	[ "$(cd "$PROV_HOME" && ls -A | sort | tr '\n' ' ')" = "ca.key ca.pem prov.db signer.key signer.pub.pem " ]
	[ "$(db "SELECT value FROM meta WHERE key = 'kek_mode'")" = passphrase ]
	for k in ca.key signer.key; do
		[ "$(head -n 1 "$PROV_HOME/$k")" = "-----BEGIN ENCRYPTED PRIVATE KEY-----" ]
		[ "$(stat -c %a "$PROV_HOME/$k")" = 600 ]
		run openssl pkey -in "$PROV_HOME/$k" -noout -passin pass:wrong
		[ "$status" -ne 0 ]
		openssl pkey -in "$PROV_HOME/$k" -noout -passin "pass:$PROV_PASSPHRASE"
	done
	[ "$(key_pub "$PROV_HOME/signer.key" "$PROV_PASSPHRASE")" = "$(cat "$PROV_HOME/signer.pub.pem")" ]

	# Minting needs the CA key; exporting a PSK needs the key-encryption key.
	PROV_PASSPHRASE=wrong run "$PROV" mint --template "$TPL/coaps-psk.json" --device p1
	assert_status 9
	assert_output_has "PROV_PASSPHRASE"
	PROV_PASSPHRASE='' run "$PROV" mint --template "$TPL/coaps-psk.json" --device p1
	assert_status 2
	assert_output_has "PROV_PASSPHRASE is set but empty"
	[ "$(db 'SELECT count(*) FROM devices')" = 0 ]
	run "$PROV" mint --template "$TPL/coaps-psk.json" --device p1
	assert_status 0
	run env -u PROV_PASSPHRASE "$PROV" export --device p1 --what psk --reveal
	assert_status 9
	assert_output_has "protected by a passphrase: set PROV_PASSPHRASE"
	PROV_PASSPHRASE='' run "$PROV" export --device p1 --what psk --reveal
	assert_status 2
	PROV_PASSPHRASE=wrong run "$PROV" export --device p1 --what psk --reveal
	assert_status 9
	assert_output_has "wrong passphrase"
	PROV_PASSPHRASE=wrong run "$PROV" export psk-table --format csv --reveal
	assert_status 9
	run --separate-stderr "$PROV" export --device p1 --what psk --reveal
	assert_status 0
	[[ "$output" =~ ^p1:[0-9a-f]{32}$ ]]
	# Public material needs no passphrase.
	run env -u PROV_PASSPHRASE "$PROV" ca export
	assert_status 0
	run env -u PROV_PASSPHRASE "$PROV" list
	assert_status 0
}

@test "init: an empty PROV_PASSPHRASE is refused (2), not taken for no passphrase; nothing created" {
	PROV_PASSPHRASE='' run --separate-stderr "$PROV" init
	assert_status 2
	[ "$stderr" = "prov: init: PROV_PASSPHRASE is set but empty: unset it for a factory without a passphrase, or set the passphrase" ]
	[ -z "$output" ]
	assert_no_home
	# A home without a passphrase: an empty one is refused by every command too.
	make_factory
	for args in "list" "ca export" "mint --template $TPL/coaps-psk.json --device p1" \
		"export psk-table --format csv --reveal"; do
		# shellcheck disable=SC2086
		PROV_PASSPHRASE='' run --separate-stderr "$PROV" $args
		echo "$args -> $status: $stderr"
		assert_status 2
		[[ "$stderr" == *": PROV_PASSPHRASE is set but empty: unset it for a factory without a passphrase, or set the passphrase" ]]
	done
	[ "$(db 'SELECT count(*) FROM devices')" = 0 ]
	run "$PROV" list
	assert_status 0
}

# pbe PEM: the key file's encryption per openssl asn1parse, one line:
# "PBES2 scrypt N r p saltbytes cipher" or "PBES2 PBKDF2 iterations prf cipher".
pbe() {
	openssl asn1parse -in "$1" | "$PY" -c '
import re, sys
objs, ints, octs = [], [], []
for line in sys.stdin:
    m = re.search(r"prim: (OBJECT|INTEGER|OCTET STRING) *(?:\[HEX DUMP\])?:(.*)$", line)
    if not m:
        continue
    (objs if m.group(1) == "OBJECT" else ints if m.group(1) == "INTEGER" else octs).append(m.group(2).strip())
if objs[1] == "scrypt":
    print(objs[0], objs[1], *(int(i, 16) for i in ints), len(octs[0]) // 2, objs[2])
else:
    print(objs[0], objs[1], int(ints[0], 16), objs[2], objs[3])'
}

@test "init with PROV_PASSPHRASE: ca.key and signer.key are PBES2 with scrypt at the KEK's work (openssl)" {
	export PROV_PASSPHRASE='correct horse'
	make_factory
	for k in ca.key signer.key; do
		run pbe "$PROV_HOME/$k"
		echo "$k: $output"
		assert_status 0
		# N=16384 r=8 p=2: N*r*p = 2^18, as the KEK's N=32768 r=8 p=1; 16-byte salt.
		[ "$output" = "PBES2 scrypt 16384 8 2 16 aes-256-cbc" ]
		openssl pkey -in "$PROV_HOME/$k" -noout -passin "pass:$PROV_PASSPHRASE"
		run openssl pkey -in "$PROV_HOME/$k" -noout -passin pass:wrong
		[ "$status" -ne 0 ]
		# An independent reader: python3-cryptography opens it with the passphrase only.
		"$PY" -c '
import sys
from cryptography.hazmat.primitives.serialization import load_pem_private_key
data = open(sys.argv[1], "rb").read()
load_pem_private_key(data, sys.argv[2].encode())
try:
    load_pem_private_key(data, b"wrong")
except ValueError:
    pass
else:
    raise SystemExit("opened with a wrong passphrase")' "$PROV_HOME/$k" "$PROV_PASSPHRASE"
	done
	[ "$(key_pub "$PROV_HOME/signer.key" "$PROV_PASSPHRASE")" = "$(cat "$PROV_HOME/signer.pub.pem")" ]
	# The KEK's own parameters are what the comparison assumes (prov/secret.h).
	grep -q 'define PROV_KEK_SCRYPT_N (1u << 15)' "$REPO/libprov/include/prov/secret.h"
	grep -q 'define PROV_KEK_SCRYPT_R 8' "$REPO/libprov/include/prov/secret.h"
	grep -q 'define PROV_KEK_SCRYPT_P 1' "$REPO/libprov/include/prov/secret.h"
}

@test "a home made before, its keys PBKDF2 at 2,048 iterations, still opens; its key files stay as they are" {
	export PROV_PASSPHRASE='correct horse'
	make_factory
	# The key files as prov wrote them before: PBES2, PBKDF2-HMAC-SHA256, 2,048
	# iterations, AES-256-CBC.
	for k in ca.key signer.key; do
		openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 2048 -in "$PROV_HOME/$k" \
			-passin env:PROV_PASSPHRASE -passout env:PROV_PASSPHRASE -out "$T/$k"
		chmod 600 "$T/$k"
		mv "$T/$k" "$PROV_HOME/$k"
		[ "$(pbe "$PROV_HOME/$k")" = "PBES2 PBKDF2 2048 hmacWithSHA256 aes-256-cbc" ]
	done
	before=$(sha256sum "$PROV_HOME/ca.key" "$PROV_HOME/signer.key")
	run "$PROV" mint --template "$TPL/coaps-psk.json" --device p1
	assert_status 0
	run "$PROV" bundle --device p1 --insecure-plaintext-secrets --out "$T/p1.cbor"
	assert_status 0
	PROV_PASSPHRASE=wrong run "$PROV" mint --template "$TPL/coaps-psk.json" --device p2
	assert_status 9
	[ "$(sha256sum "$PROV_HOME/ca.key" "$PROV_HOME/signer.key")" = "$before" ]
	# README's upgrade: re-encrypting with openssl gives what prov writes now.
	for k in ca.key signer.key; do
		openssl pkcs8 -topk8 -scrypt -scrypt_N 16384 -scrypt_r 8 -scrypt_p 2 \
			-in "$PROV_HOME/$k" -passin env:PROV_PASSPHRASE -passout env:PROV_PASSPHRASE -out "$T/$k"
		chmod 600 "$T/$k"
		mv "$T/$k" "$PROV_HOME/$k"
		# (openssl pkcs8 takes an 8-byte salt; prov writes 16)
		[ "$(pbe "$PROV_HOME/$k")" = "PBES2 scrypt 16384 8 2 8 aes-256-cbc" ]
	done
	run "$PROV" mint --template "$TPL/coaps-psk.json" --device p3
	assert_status 0
}

@test "init: a replaced or damaged kek file is refused (9) when secrets are opened" {
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p1 >/dev/null
	head -c 32 /dev/urandom >"$PROV_HOME/kek"
	run "$PROV" export --device p1 --what psk --reveal
	assert_status 9
	assert_output_has "wrong key-encryption key"
	head -c 31 /dev/urandom >"$PROV_HOME/kek"
	run "$PROV" export --device p1 --what psk --reveal
	assert_status 9
	assert_output_has "not a key-encryption key"
}

@test "ca export: equals ca.pem and is a CA certificate per openssl; --out is 0644" {
	make_factory
	run --separate-stderr "$PROV" ca export
	assert_status 0
	[ "$output" = "$(cat "$PROV_HOME/ca.pem")" ]
	"$PROV" ca export >"$T/ca.pem"
	cmp "$T/ca.pem" "$PROV_HOME/ca.pem"
	openssl x509 -in "$T/ca.pem" -noout -ext basicConstraints | grep -q 'CA:TRUE'
	run openssl verify -CAfile "$T/ca.pem" "$T/ca.pem"
	assert_status 0
	umask 077
	run "$PROV" ca export --out "$T/out/ca.pem"
	assert_status 8
	mkdir "$T/out"
	run "$PROV" ca export --out "$T/out/ca.pem"
	assert_status 0
	cmp "$T/out/ca.pem" "$PROV_HOME/ca.pem"
	[ "$(stat -c %a "$T/out/ca.pem")" = 644 ]
	assert_no_tmp_files "$T"
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'export' AND detail = '{\"what\":\"ca-chain\"}'")" = 3 ]
}

@test "signer export: the PEM equals signer.pub.pem, a P-256 public key per openssl" {
	make_factory
	run --separate-stderr "$PROV" signer export
	assert_status 0
	[ "$output" = "$(cat "$PROV_HOME/signer.pub.pem")" ]
	run --separate-stderr "$PROV" signer export --format pem
	[ "$output" = "$(cat "$PROV_HOME/signer.pub.pem")" ]
	"$PROV" signer export --out "$T/signer.pem"
	cmp "$T/signer.pem" "$PROV_HOME/signer.pub.pem"
	[ "$(stat -c %a "$T/signer.pem")" = 644 ]
	openssl pkey -pubin -in "$T/signer.pem" -noout -text | grep -q 'ASN1 OID: prime256v1'
	[ "$(db "SELECT count(*) FROM audit WHERE detail = '{\"what\":\"signer\"}'")" = 3 ]
}

@test "signer export --format c: the header compiles; KID and PUBKEY match openssl's reading of the PEM" {
	make_factory
	"$PROV" signer export --format c --out "$T/prov_signer.h"
	[ "$(stat -c %a "$T/prov_signer.h")" = 644 ]
	cat >"$T/main.c" <<-'EOF'
	#include <stdio.h>
	#include "prov_signer.h"
	static const unsigned char kid[] = PROV_SIGNER_KID;
	static const unsigned char pub[] = PROV_SIGNER_PUBKEY;
	static void hex(const unsigned char *p, size_t n)
	{
		for (size_t i = 0; i < n; i++)
			printf("%02x", p[i]);
		printf("\n");
	}
	int main(void)
	{
		if (sizeof(kid) != PROV_SIGNER_KID_LEN || sizeof(pub) != PROV_SIGNER_PUBKEY_LEN)
			return 1;
		hex(kid, sizeof(kid));
		hex(pub, sizeof(pub));
		return 0;
	}
	EOF
	cc -std=c99 -pedantic -Wall -Wextra -Werror -I"$T" -o "$T/kid" "$T/main.c"
	run "$T/kid"
	assert_status 0
	got_kid=${lines[0]}
	got_pub=${lines[1]}
	# Independent: openssl's DER SubjectPublicKeyInfo and its own decoding of the point.
	openssl pkey -pubin -in "$PROV_HOME/signer.pub.pem" -outform DER -out "$T/spki.der"
	want_kid=$(sha256sum "$T/spki.der" | cut -c1-16)
	want_pub=$(openssl pkey -pubin -in "$PROV_HOME/signer.pub.pem" -noout -text |
		sed -n '/^pub:/,/^ASN1 OID/p' | grep -v -e '^pub:' -e '^ASN1' | tr -d ' :\n')
	echo "kid $got_kid / $want_kid"
	echo "pub $got_pub / $want_pub"
	[ "$got_kid" = "$want_kid" ]
	[ "$got_pub" = "$want_pub" ]
	[ "${#got_pub}" = 130 ]
	[ "${got_pub:0:2}" = 04 ]
	# The point is also the tail of the DER (P-256 SPKI: 91 bytes).
	[ "$(stat -c %s "$T/spki.der")" = 91 ]
	[ "$(tail -c 65 "$T/spki.der" | od -An -v -tx1 | tr -d ' \n')" = "$want_pub" ]
	# The kid in the header comment and in the init audit row agree.
	grep -q "Factory bundle signer $want_kid" "$T/prov_signer.h"
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'init' AND detail LIKE '%$want_kid%'")" = 1 ]
}

@test "signer export --format c --name: two signers' headers coexist in one translation unit" {
	make_factory
	"$PROV" signer export --format c >"$T/new.h"
	make_factory --home "$T/old"
	"$PROV" signer export --format c --name OLD_SIGNER_2 --home "$T/old" >"$T/old.h"
	grep -q '#define OLD_SIGNER_2_PUBKEY_LEN 65' "$T/old.h"
	printf '%s\n' '#include "new.h"' '#include "old.h"' '#include "new.h"' \
		'static const unsigned char a[] = PROV_SIGNER_PUBKEY, b[] = OLD_SIGNER_2_PUBKEY;' \
		'int main(void) { return sizeof(a) == sizeof(b) && a[1] != b[1] ? 0 : 1; }' >"$T/two.c"
	cc -std=c99 -pedantic -Wall -Wextra -Werror -I"$T" -o "$T/two" "$T/two.c"
	"$T/two"
}

@test "signer export: bad --format or --name is a usage error (2)" {
	make_factory
	run "$PROV" signer export --format der
	assert_status 2
	assert_output_has "--format: \"der\" is neither pem nor c"
	for n in lower 9LEAD BAD-NAME ""; do
		run "$PROV" signer export --format c --name "$n"
		assert_status 2
		assert_output_has "is not an upper-case C identifier"
	done
	run "$PROV" signer export extra
	assert_status 2
}

@test "signer export --format c --name: 63 characters work, longer names are refused (2), not truncated" {
	make_factory
	long63=$(printf 'S%.0s' $(seq 1 63))
	"$PROV" signer export --format c --name "$long63" --out "$T/s63.h"
	tail -n 1 "$T/s63.h" | grep -qx '#endif'
	printf '#include "s63.h"\nstatic const unsigned char k[] = %s_PUBKEY;\nint main(void) { return sizeof(k) == %s_PUBKEY_LEN ? 0 : 1; }\n' \
		"$long63" "$long63" >"$T/s63.c"
	cc -std=c99 -Wall -Werror -I"$T" -o "$T/s63" "$T/s63.c"
	"$T/s63"
	for n in 64 700 3000; do
		run --separate-stderr "$PROV" signer export --format c --name "$(printf 'S%.0s' $(seq 1 $n))" --out "$T/long.h"
		assert_status 2
		[ -z "$output" ]
		[[ "$stderr" == *"is not an upper-case C identifier of at most 63 characters"* ]]
		[ ! -e "$T/long.h" ]
	done
}

@test "init --home DIR/: a trailing slash names the same home (new, and an existing empty directory)" {
	run "$PROV" init --home "$T/fac/"
	assert_status 0
	[ -f "$T/fac/prov.db" ]
	[ "$(stat -c %a "$T/fac")" = 700 ]
	run "$PROV" list --home "$T/fac/"
	assert_status 0
	mkdir "$T/empty"
	run "$PROV" init --home "$T/empty//"
	assert_status 0
	[ -f "$T/empty/ca.pem" ]
	[ -z "$(find "$T" -name '*.init.*')" ]
	run "$PROV" init --home "$T/fac/"
	assert_status 5
}

@test "init --ca-cert: an expired CA, and a chain whose links do not verify, are refused (3), nothing created" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/r.key" \
		-subj /CN=root -days 30 -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign -out "$T/r.pem" 2>/dev/null
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/o.key" \
		-subj /CN=stranger -days 30 -out "$T/o.pem" 2>/dev/null
	# 40 days on, the 30-day CA has expired
	PROV_NOW=$(( $(date +%s) + 40 * 86400 )) run "$PROV" init --ca-cert "$T/r.pem" --ca-key "$T/r.key"
	assert_status 3
	assert_output_has "CA certificate has expired"
	[ ! -e "$PROV_HOME" ]
	# the "chain" after the CA is a certificate that did not issue it
	cat "$T/r.pem" "$T/o.pem" > "$T/chain.pem"
	run "$PROV" init --ca-cert "$T/chain.pem" --ca-key "$T/r.key"
	assert_status 3
	assert_output_has "CA chain broken: certificate 1 is not issued by certificate 2"
	[ ! -e "$PROV_HOME" ]
	[ -z "$(ls -d "$T"/*.init.* 2>/dev/null)" ]
	# the CA alone is fine
	run "$PROV" init --ca-cert "$T/r.pem" --ca-key "$T/r.key"
	assert_status 0
}

@test "init --keys-from with a token key: refused (2) before any connection, nothing created" {
	# The database URI names a port nobody listens on: the refusal comes first.
	for key in --ca-key --signer-key; do
		run --separate-stderr "$PROV" init --home "$T/join" --db postgresql://nobody@127.0.0.1:1/x \
			--keys-from "$T" $key 'pkcs11:token=a;object=b'
		assert_status 2
		[[ "$stderr" == "prov: init: a joining station takes the factory's keys from --keys-from"* ]]
		[ ! -e "$T/join" ]
	done
}
