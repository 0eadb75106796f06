#!/usr/bin/env bats
# mint.bats - `prov mint` and the factory database, read back by tools we did not
# write: openssl (certificates, ASN.1), sqlite3 (the database) and Debian's python3
# with cryptography and cbor2 ($PY).  Fixtures with defects: tests/fixtures/mint/.

load helper

bats_require_minimum_version 1.5.0

FIX="$BATS_TEST_DIRNAME/../fixtures/mint"

# --- helpers ---------------------------------------------------------------

assert_stderr_has() {
	case "$stderr" in
	*"$1"*) return 0 ;;
	esac
	echo "expected stderr to contain: $1" >&2
	echo "got: $stderr" >&2
	return 1
}

# Evaluate a python expression over the JSON on stdin (bound to d).
json() {
	"$PY" -c 'import json, sys; d = json.load(sys.stdin); v = eval(sys.argv[1]); print(json.dumps(v) if isinstance(v, (dict, list, tuple, bool)) or v is None else v)' "$1"
}

# Every row that names a device, over all tables that hold device data.
device_rows() {
	db "SELECT (SELECT count(*) FROM devices WHERE id = '$1')
	         + (SELECT count(*) FROM device_keys WHERE device_id = '$1')
	         + (SELECT count(*) FROM certificates WHERE device_id = '$1')
	         + (SELECT count(*) FROM psks WHERE device_id = '$1')
	         + (SELECT count(*) FROM raw_keys WHERE device_id = '$1')
	         + (SELECT count(*) FROM bundles WHERE device_id = '$1')
	         + (SELECT count(*) FROM audit WHERE device_id = '$1')"
}

assert_device_absent() {
	local n
	n=$(device_rows "$1")
	if [ "$n" != 0 ]; then
		echo "device $1 left $n rows behind" >&2
		db "SELECT 'devices', * FROM devices WHERE id = '$1'; SELECT 'audit', * FROM audit WHERE device_id = '$1'" >&2
		return 1
	fi
}

# The whole database as text: equal digests mean nothing was written.
db_digest() {
	db .dump | sha256sum
}

assert_db_unchanged() {
	local now
	now=$(db_digest)
	if [ "$now" != "$1" ]; then
		echo "database changed" >&2
		return 1
	fi
}

# The device's certificate of generation $2 (default: the newest) as $T/<id>.pem,
# straight from the database.
cert_from_db() {
	local id=$1 gen=${2:-} where
	where="device_id = '$id'"
	[ -n "$gen" ] && where="$where AND generation = $gen"
	db "SELECT hex(der) FROM certificates WHERE $where ORDER BY generation DESC LIMIT 1" |
		xxd -r -p >"$T/$id.der"
	[ -s "$T/$id.der" ] || { echo "no certificate for $id" >&2; return 1; }
	openssl x509 -inform DER -in "$T/$id.der" -out "$T/$id.pem"
}

# A certificate template: cert_template FILE KEYTYPE SOURCE VALIDITY-JSON [EKU-JSON]
cert_template() {
	local eku=""
	[ -n "${5:-}" ] && eku=", \"extended_key_usage\": $5"
	cat >"$1" <<EOF
{
  "name": "test-$2-$3",
  "protocol": "mqtt",
  "device_key": {"type": "$2", "source": "$3"},
  "credentials": [
    {"type": "certificate", "slot": 1, "subject": "CN={id},OU=line 4,O=provkit test",
     "validity": $4$eku}
  ]
}
EOF
}

psk_template() { # FILE BITS IDENTITY
	cat >"$1" <<EOF
{
  "name": "psk-$2",
  "protocol": "coaps",
  "credentials": [{"type": "psk", "slot": 7, "bits": $2, "identity": "$3"}]
}
EOF
}

# The RFC 5280 profile of a device certificate, checked by python3-cryptography:
# check_profile CERT.pem SUBJECT EKU-OIDS(comma-separated) KEYTYPE
check_profile() {
	"$PY" - "$1" "$PROV_HOME/ca.pem" "$2" "$3" "$4" <<'EOF'
import sys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

cert = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
ca = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
subject, ekus, keytype = sys.argv[3], sys.argv[4].split(","), sys.argv[5]
bad = []

def need(ok, what):
    if not ok:
        bad.append(what)

need(cert.version == x509.Version.v3, "version is not v3")
sn = cert.serial_number
need(sn > 0, "serial is not positive")
octets = sn.bit_length() // 8 + 1          # DER INTEGER content length
need(octets <= 20, "serial longer than 20 octets (RFC 5280 4.1.2.2)")
need(octets == 16, "serial is %d octets, profile says 16" % octets)
need(cert.subject.rfc4514_string() == subject,
     "subject %r != %r" % (cert.subject.rfc4514_string(), subject))
need(cert.issuer == ca.subject, "issuer is not the CA's subject")
key = cert.public_key()
kind = {"p256": (ec.EllipticCurvePublicKey, "secp256r1"),
        "p384": (ec.EllipticCurvePublicKey, "secp384r1"),
        "ed25519": (ed25519.Ed25519PublicKey, None)}[keytype]
need(isinstance(key, kind[0]), "key is %s, want %s" % (type(key).__name__, keytype))
if kind[1]:
    need(key.curve.name == kind[1], "curve %s, want %s" % (key.curve.name, kind[1]))

exts = cert.extensions
need(sorted(e.oid.dotted_string for e in exts) == sorted([
    "2.5.29.19", "2.5.29.15", "2.5.29.37", "2.5.29.14", "2.5.29.35"]),
    "extensions: %s" % [e.oid._name for e in exts])
bc = exts.get_extension_for_class(x509.BasicConstraints)
need(bc.critical and bc.value.ca is False and bc.value.path_length is None,
     "basicConstraints is not critical CA:FALSE")
ku = exts.get_extension_for_class(x509.KeyUsage)
v = ku.value
need(ku.critical, "keyUsage is not critical")
need(v.digital_signature and not (v.content_commitment or v.key_encipherment or
     v.data_encipherment or v.key_agreement or v.key_cert_sign or v.crl_sign),
     "keyUsage is not digitalSignature only")
eku = exts.get_extension_for_class(x509.ExtendedKeyUsage)
need([o.dotted_string for o in eku.value] == ekus,
     "EKU %s != %s" % ([o.dotted_string for o in eku.value], ekus))
ski = exts.get_extension_for_class(x509.SubjectKeyIdentifier)
want = x509.SubjectKeyIdentifier.from_public_key(key).digest   # SHA-1 of the key bits
need(not ski.critical and ski.value.digest == want,
     "SKI %s != SHA-1(subjectPublicKey) %s" % (ski.value.digest.hex(), want.hex()))
aki = exts.get_extension_for_class(x509.AuthorityKeyIdentifier)
ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
need(aki.value.key_identifier == ca_ski,
     "AKI %s != CA SKI %s" % (aki.value.key_identifier and aki.value.key_identifier.hex(), ca_ski.hex()))
for b in bad:
    print("profile:", b)
sys.exit(1 if bad else 0)
EOF
}

CLIENT_AUTH=1.3.6.1.5.5.7.3.2
SERVER_AUTH=1.3.6.1.5.5.7.3.1
TIME_STAMPING=1.3.6.1.5.5.7.3.8

# --- certificates ------------------------------------------------------------

@test "mqtt-mtls: the certificate verifies against the factory CA and follows the profile" {
	make_factory
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device dev-1 --json
	assert_status 0
	[ "$(echo "$output" | json 'd["key_origin"]')" = host ]
	[ "$(echo "$output" | json 'd["generation"]')" = 1 ]
	serial=$(echo "$output" | json 'd["serial"]')

	cert_from_db dev-1
	run openssl verify -CAfile "$PROV_HOME/ca.pem" "$T/dev-1.pem"
	assert_status 0
	assert_output_has "$T/dev-1.pem: OK"

	run openssl x509 -in "$T/dev-1.pem" -noout -text
	assert_output_has "Version: 3 (0x2)"
	run openssl x509 -in "$T/dev-1.pem" -noout -subject -nameopt RFC2253
	[ "$output" = "subject=CN=dev-1,O=provkit devices" ]
	run openssl x509 -in "$T/dev-1.pem" -noout -ext keyUsage
	[ "$(echo "$output" | sed -n 1p)" = "X509v3 Key Usage: critical" ]
	[ "$(echo "$output" | sed -n 2p | tr -d ' ')" = "DigitalSignature" ]
	run openssl x509 -in "$T/dev-1.pem" -noout -ext extendedKeyUsage
	[ "$(echo "$output" | sed -n 2p | sed 's/^ *//')" = "TLS Web Client Authentication" ]
	run openssl x509 -in "$T/dev-1.pem" -noout -ext basicConstraints
	[ "$(echo "$output" | sed -n 1p)" = "X509v3 Basic Constraints: critical" ]
	[ "$(echo "$output" | sed -n 2p | tr -d ' ')" = "CA:FALSE" ]
	run openssl x509 -in "$T/dev-1.pem" -noout -serial
	[ "$output" = "serial=$(echo "$serial" | tr a-f A-F)" ]

	run check_profile "$T/dev-1.pem" "CN=dev-1,O=provkit devices" "$CLIENT_AUTH" p256
	echo "$output"
	assert_status 0
	# The database row agrees with the certificate.
	[ "$(db "SELECT serial || '|' || subject || '|' || not_after FROM certificates WHERE device_id = 'dev-1'")" = \
	  "$serial|CN=dev-1,O=provkit devices|9999-12-31T23:59:59Z" ]
}

@test "SKI is SHA-1 of the key and AKI the CA's SKI, for p256, p384 and ed25519 (host-made and from a CSR)" {
	make_factory
	for kt in p256 p384 ed25519; do
		cert_template "$T/$kt.json" "$kt" device-or-host '"no-expiry"'
		case $kt in
		p256) curve=P-256 ;; p384) curve=P-384 ;; ed25519) curve=ed25519 ;;
		esac
		make_device_key "csr-$kt" "$curve"
		run "$PROV" mint --template "$T/$kt.json" --device "host-$kt"
		assert_status 0
		run "$PROV" mint --template "$T/$kt.json" --device "csr-$kt" --csr "$T/csr-$kt.csr"
		assert_status 0
		for id in "host-$kt" "csr-$kt"; do
			cert_from_db "$id"
			run openssl verify -CAfile "$PROV_HOME/ca.pem" "$T/$id.pem"
			assert_status 0
			run check_profile "$T/$id.pem" "CN=$id,OU=line 4,O=provkit test" "$CLIENT_AUTH" "$kt"
			echo "$id: $output"
			assert_status 0
			[ "$(db "SELECT key_type FROM device_keys WHERE device_id = '$id'")" = "$kt" ]
			# The certificate's SubjectPublicKeyInfo is byte for byte the recorded device key.
			[ "$(openssl x509 -in "$T/$id.pem" -noout -pubkey | openssl pkey -pubin -outform DER | xxd -p | tr -d '\n' | tr a-f A-F)" = \
			  "$(db "SELECT hex(spki) FROM device_keys WHERE device_id = '$id'")" ]
		done
		# ... and for a CSR, the CSR's key.
		[ "$(openssl x509 -in "$T/csr-$kt.pem" -noout -pubkey)" = "$(cat "$T/csr-$kt.pub.pem")" ]
		# --pubkey with the same key type works too.
		run "$PROV" mint --template "$T/$kt.json" --device "pub-$kt" --pubkey "$T/csr-$kt.pub.pem"
		assert_status 0
		cert_from_db "pub-$kt"
		[ "$(openssl x509 -in "$T/pub-$kt.pem" -noout -pubkey)" = "$(cat "$T/csr-$kt.pub.pem")" ]
		# openssl's own view of the SKI matches python's (both from the same bits).
		ski_ossl=$(openssl x509 -in "$T/csr-$kt.pem" -noout -ext subjectKeyIdentifier | sed -n 2p | tr -d ' :' | tr A-F a-f)
		ski_py=$("$PY" -c 'import sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
k = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
print(x509.SubjectKeyIdentifier.from_public_key(k).digest.hex())' "$T/csr-$kt.pub.pem")
		[ "$ski_ossl" = "$ski_py" ]
	done
}

@test "a p384 CA signs with ecdsa-with-SHA384, an ed25519 CA with Ed25519; both verify" {
	for pair in p384:ecdsa-with-SHA384 ed25519:ED25519; do
		kt=${pair%%:*} alg=${pair#*:}
		export PROV_HOME="$T/factory-$kt"
		make_factory --key-type "$kt"
		run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device "under-$kt"
		assert_status 0
		cert_from_db "under-$kt"
		run openssl verify -CAfile "$PROV_HOME/ca.pem" "$T/under-$kt.pem"
		assert_status 0
		[ "$(openssl x509 -in "$T/under-$kt.pem" -noout -text | grep -m1 'Signature Algorithm' | sed 's/.*: //')" = "$alg" ]
		run check_profile "$T/under-$kt.pem" "CN=under-$kt,O=provkit devices" "$CLIENT_AUTH" p256
		echo "$output"
		assert_status 0
	done
}

@test "extended_key_usage: the listed purposes in order; absent means clientAuth" {
	make_factory
	cert_template "$T/eku.json" p256 host '"no-expiry"' '["serverAuth", "clientAuth", "1.3.6.1.5.5.7.3.8"]'
	cert_template "$T/default.json" p256 host '"no-expiry"'
	run "$PROV" mint --template "$T/eku.json" --device eku-1
	assert_status 0
	run "$PROV" mint --template "$T/default.json" --device eku-2
	assert_status 0
	cert_from_db eku-1
	cert_from_db eku-2
	run check_profile "$T/eku-1.pem" "CN=eku-1,OU=line 4,O=provkit test" "$SERVER_AUTH,$CLIENT_AUTH,$TIME_STAMPING" p256
	echo "$output"
	assert_status 0
	run check_profile "$T/eku-2.pem" "CN=eku-2,OU=line 4,O=provkit test" "$CLIENT_AUTH" p256
	echo "$output"
	assert_status 0
	run openssl x509 -in "$T/eku-1.pem" -noout -ext extendedKeyUsage
	[ "$(echo "$output" | sed -n 2p | sed 's/^ *//')" = \
	  "TLS Web Server Authentication, TLS Web Client Authentication, Time Stamping" ]
}

@test "no-expiry: notAfter is GeneralizedTime 99991231235959Z (RFC 5280 4.1.2.5)" {
	make_factory
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device dev-1
	assert_status 0
	cert_from_db dev-1
	# Validity is the first SEQUENCE of two times; nothing else in the certificate is a time.
	times=$(openssl asn1parse -in "$T/dev-1.pem" | grep -E 'UTCTIME|GENERALIZEDTIME')
	echo "$times"
	[ "$(echo "$times" | wc -l)" -eq 2 ]
	echo "$times" | sed -n 2p | grep -Eq 'prim: GENERALIZEDTIME +:99991231235959Z$'
	run openssl x509 -in "$T/dev-1.pem" -noout -enddate
	[ "$output" = "notAfter=Dec 31 23:59:59 9999 GMT" ]
}

@test "validity {days: N}: notAfter is exactly notBefore + N days at PROV_NOW; UTCTime before 2050, GeneralizedTime after" {
	make_factory
	now=$(date +%s)
	cert_template "$T/d30.json" p256 host '{"days": 30}'
	cert_template "$T/d36500.json" p256 host '{"days": 36500}'
	PROV_NOW=$now run "$PROV" mint --template "$T/d30.json" --device d30
	assert_status 0
	PROV_NOW=$now run "$PROV" mint --template "$T/d36500.json" --device d36500
	assert_status 0
	for n in 30 36500; do
		cert_from_db "d$n"
		run "$PY" - "$T/d$n.pem" "$now" "$n" <<'EOF'
import calendar, sys
from cryptography import x509
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
nb = calendar.timegm(c.not_valid_before.utctimetuple())
na = calendar.timegm(c.not_valid_after.utctimetuple())
now, days = int(sys.argv[2]), int(sys.argv[3])
print(nb, na)
sys.exit(0 if nb == now and na == now + days * 86400 else 1)
EOF
		echo "$output"
		assert_status 0
		run openssl verify -CAfile "$PROV_HOME/ca.pem" "$T/d$n.pem"
		assert_status 0
	done
	times=$(openssl asn1parse -in "$T/d30.pem" | grep -E 'UTCTIME|GENERALIZEDTIME')
	[ "$(echo "$times" | grep -c UTCTIME)" -eq 2 ]
	times=$(openssl asn1parse -in "$T/d36500.pem" | grep -E 'UTCTIME|GENERALIZEDTIME')
	echo "$times" | sed -n 1p | grep -q UTCTIME
	echo "$times" | sed -n 2p | grep -q GENERALIZEDTIME
	# The database records the same instants.
	[ "$(db "SELECT not_before || ' ' || not_after FROM certificates WHERE device_id = 'd30'")" = \
	  "$(date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ) $(date -u -d "@$((now + 30 * 86400))" +%Y-%m-%dT%H:%M:%SZ)" ]
}

@test "serials are positive, 16 octets, unique, and match the database" {
	make_factory
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --count 20 --id-format 's-%02d' --json
	assert_status 0
	[ "$(db "SELECT count(DISTINCT serial) FROM certificates")" -eq 20 ]
	for id in s-01 s-07 s-20; do
		cert_from_db "$id"
		line=$(openssl asn1parse -in "$T/$id.pem" | grep -m1 'd=2 .*prim: INTEGER')
		echo "$line"
		echo "$line" | grep -Eq 'd=2 +hl=2 l= *16 prim: INTEGER +:[0-7][0-9A-F]{31}$'
		[ "$(openssl x509 -in "$T/$id.pem" -noout -serial | tr A-F a-f)" = \
		  "serial=$(db "SELECT serial FROM certificates WHERE device_id = '$id'")" ]
	done
	[ "$(echo "$output" | json 'len({x["serial"] for x in d["devices"]})')" -eq 20 ]
}

# --- device key sources --------------------------------------------------------

@test "--csr: the certificate carries the CSR's key; key_origin csr; no private key kept" {
	make_factory
	make_device_key dev
	openssl req -in "$T/dev.csr" -outform DER -out "$T/dev.csr.der"
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device pem-csr --csr "$T/dev.csr" --json
	assert_status 0
	[ "$(echo "$output" | json 'd["key_origin"]')" = csr ]
	make_device_key dev2
	openssl req -in "$T/dev2.csr" -outform DER -out "$T/dev2.csr.der"
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device der-csr --csr "$T/dev2.csr.der"
	assert_status 0
	for pair in pem-csr:dev der-csr:dev2; do
		id=${pair%%:*} k=${pair#*:}
		cert_from_db "$id"
		[ "$(openssl x509 -in "$T/$id.pem" -noout -pubkey)" = "$(openssl req -in "$T/$k.csr" -noout -pubkey)" ]
		[ "$(db "SELECT origin || '|' || CAST((private_sealed IS NULL) AS INTEGER) FROM device_keys WHERE device_id = '$id'")" = "csr|1" ]
		# The subject comes from the template, not from the CSR.
		[ "$(openssl x509 -in "$T/$id.pem" -noout -subject -nameopt RFC2253)" = "subject=CN=$id,O=provkit devices" ]
	done
}

@test "--csr with a compressed P-256 point: the certificate holds the same key, uncompressed (RFC 5480 2.2)" {
	make_factory
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/c.key" 2>/dev/null
	openssl ec -in "$T/c.key" -conv_form compressed -out "$T/cc.key" 2>/dev/null
	openssl req -new -key "$T/cc.key" -subj /CN=compressed -out "$T/cc.csr"
	# The CSR really carries a 33-byte compressed point.
	openssl req -in "$T/cc.csr" -noout -text | grep -A1 'pub:' | tail -1 | grep -Eq '^ +0[23]:'
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device comp --csr "$T/cc.csr"
	assert_status 0
	cert_from_db comp
	run openssl verify -CAfile "$PROV_HOME/ca.pem" "$T/comp.pem"
	assert_status 0
	run "$PY" - "$T/comp.pem" "$T/cc.csr" <<'PYEOF'
import sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization as s
c = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
r = x509.load_pem_x509_csr(open(sys.argv[2], "rb").read())
assert c.public_key().public_numbers() == r.public_key().public_numbers()
pt = c.public_key().public_bytes(s.Encoding.X962, s.PublicFormat.UncompressedPoint)
assert pt in c.public_bytes(s.Encoding.DER), "certificate key is not the uncompressed point"
PYEOF
	assert_status 0
}

@test "--pubkey: PEM and DER SubjectPublicKeyInfo; key_origin pubkey" {
	make_factory
	make_device_key pk
	openssl pkey -pubin -in "$T/pk.pub.pem" -outform DER -out "$T/pk.pub.der"
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device pem-key --pubkey "$T/pk.pub.pem" --json
	assert_status 0
	[ "$(echo "$output" | json 'd["key_origin"]')" = pubkey ]
	make_device_key pk2
	openssl pkey -pubin -in "$T/pk2.pub.pem" -outform DER -out "$T/pk2.pub.der"
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device der-key --pubkey "$T/pk2.pub.der" --json
	assert_status 0
	[ "$(echo "$output" | json 'd["key_origin"]')" = pubkey ]
	for pair in pem-key:pk der-key:pk2; do
		id=${pair%%:*} k=${pair#*:}
		cert_from_db "$id"
		[ "$(openssl x509 -in "$T/$id.pem" -noout -pubkey)" = "$(cat "$T/$k.pub.pem")" ]
		[ "$(db "SELECT hex(spki) FROM device_keys WHERE device_id = '$id'")" = \
		  "$(xxd -p "$T/$k.pub.der" | tr -d '\n' | tr a-f A-F)" ]
	done
}

@test "host-made key (mqtt-mtls allows it): key_origin host, sealed in the database, exportable with --reveal" {
	make_factory
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device host-1 --json
	assert_status 0
	[ "$(echo "$output" | json 'd["key_origin"]')" = host ]
	[ "$(db "SELECT origin || '|' || CAST((private_sealed IS NOT NULL) AS INTEGER) FROM device_keys WHERE device_id = 'host-1'")" = "host|1" ]
	run --separate-stderr "$PROV" export --device host-1 --what key --reveal
	assert_status 0
	echo "$output" >"$T/host-1.key"
	cert_from_db host-1
	[ "$(openssl pkey -in "$T/host-1.key" -pubout)" = "$(openssl x509 -in "$T/host-1.pem" -noout -pubkey)" ]
	# The private scalar is not in the database in the clear (the file: SQLite;
	# pg.bats looks at PostgreSQL's dump).
	[ -n "${PROV_TEST_DB:-}" ] || "$PY" - "$PROV_HOME/prov.db" "$T/host-1.key" <<'EOF'
import sqlite3, sys
from cryptography.hazmat.primitives import serialization
k = serialization.load_pem_private_key(open(sys.argv[2], "rb").read(), None)
raw = k.private_numbers().private_value.to_bytes(32, "big")
blob = sqlite3.connect(sys.argv[1]).execute(
    "SELECT private_sealed FROM device_keys WHERE device_id = 'host-1'").fetchone()[0]
assert len(blob) == 32 + 29, len(blob)
assert raw not in blob
with open(sys.argv[1], "rb") as f:
    assert raw not in f.read()
EOF
}

@test "source device without --csr/--pubkey: exit 2, nothing registered" {
	make_factory
	cert_template "$T/dev.json" p256 device '"no-expiry"'
	before=$(db_digest)
	run --separate-stderr "$PROV" mint --template "$T/dev.json" --device need-key
	assert_status 2
	assert_stderr_has "--csr or --pubkey"
	assert_device_absent need-key
	assert_db_unchanged "$before"
}

@test "source host with --csr (or --pubkey): exit 2, nothing registered" {
	make_factory
	cert_template "$T/host.json" p256 host '"no-expiry"'
	make_device_key dev
	before=$(db_digest)
	run --separate-stderr "$PROV" mint --template "$T/host.json" --device hk --csr "$T/dev.csr"
	assert_status 2
	assert_stderr_has "on the host"
	run --separate-stderr "$PROV" mint --template "$T/host.json" --device hk --pubkey "$T/dev.pub.pem"
	assert_status 2
	assert_device_absent hk
	assert_db_unchanged "$before"
}

@test "--csr and --pubkey together: exit 2, nothing registered" {
	make_factory
	make_device_key dev
	before=$(db_digest)
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device both --csr "$T/dev.csr" --pubkey "$T/dev.pub.pem"
	assert_status 2
	assert_device_absent both
	assert_db_unchanged "$before"
}

@test "fixture csr-bad-self-signature.der: parseable, only the signature is wrong" {
	run "$PY" - "$FIX/csr-bad-self-signature.der" <<'EOF'
import sys
from cryptography import x509
csr = x509.load_der_x509_csr(open(sys.argv[1], "rb").read())
print(csr.subject.rfc4514_string(), csr.is_signature_valid)
sys.exit(0 if not csr.is_signature_valid else 1)
EOF
	assert_status 0
	[ "$output" = "CN=tampered False" ]
}

@test "CSR with a bad self-signature: exit 7 \"self-signature\", nothing registered" {
	make_factory
	before=$(db_digest)
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device tampered --csr "$FIX/csr-bad-self-signature.der"
	assert_status 7
	assert_stderr_has "self-signature"
	assert_device_absent tampered
	assert_db_unchanged "$before"
}

@test "CSR with the wrong key type (P-384 on a p256 template): exit 3 naming both types" {
	make_factory
	before=$(db_digest)
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device wrong-type --csr "$FIX/csr-p384-on-p256-template.pem"
	assert_status 3
	assert_stderr_has "p384"
	assert_stderr_has "p256"
	assert_device_absent wrong-type
	assert_db_unchanged "$before"
}

@test "files that are not CSRs (text, a certificate, a truncated DER CSR): exit 3, nothing registered" {
	make_factory
	before=$(db_digest)
	for f in csr-not-asn1.txt csr-is-a-certificate.pem csr-truncated.der; do
		run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device not-csr --csr "$FIX/$f"
		echo "$f: $stderr"
		assert_status 3
		assert_stderr_has "not a certificate signing request"
	done
	assert_device_absent not-csr
	assert_db_unchanged "$before"
}

@test "missing CSR file: exit 4, nothing registered" {
	make_factory
	before=$(db_digest)
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device no-csr --csr "$T/nowhere.csr"
	assert_status 4
	assert_stderr_has "nowhere.csr"
	assert_device_absent no-csr
	assert_db_unchanged "$before"
}

# --- PSKs and raw public keys -------------------------------------------------------

# check_psk ID IDENTITY BITS: the export, the row and the sealed blob.
check_psk() {
	local id=$1 ident=$2 bits=$3 line hex
	run --separate-stderr "$PROV" export --device "$id" --what psk --reveal
	assert_status 0
	line=$output
	[ "${line%:*}" = "$ident" ] || { echo "identity ${line%:*} != $ident" >&2; return 1; }
	hex=${line##*:}
	echo "$hex" | grep -Eq "^[0-9a-f]{$((bits / 4))}\$" || { echo "bad key $hex" >&2; return 1; }
	[ "$(db "SELECT bits || '|' || hex(identity) || '|' || length(key_sealed) FROM psks WHERE device_id = '$id'")" = \
	  "$bits|$(printf '%s' "$ident" | xxd -p -u | tr -d '\n')|$((bits / 8 + 29))" ]
	[ -n "${PROV_TEST_DB:-}" ] || "$PY" - "$PROV_HOME/prov.db" "$id" "$hex" <<'EOF'
import sqlite3, sys
key = bytes.fromhex(sys.argv[3])
blob = sqlite3.connect(sys.argv[1]).execute(
    "SELECT key_sealed FROM psks WHERE device_id = ?", (sys.argv[2],)).fetchone()[0]
assert len(blob) == len(key) + 29, len(blob)   # version, nonce, ciphertext, tag
assert blob[0] == 1, blob[0]
assert key not in blob, "PSK in the clear in the sealed blob"
assert key[:8] not in blob and key[-8:] not in blob
with open(sys.argv[1], "rb") as f:
    assert key not in f.read(), "PSK in the clear in prov.db"
EOF
}

@test "coaps-psk: 128-bit PSK, identity {id}, sealed (bits/8 + 29 bytes), not in the clear" {
	make_factory
	run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --device psk-1 --json
	assert_status 0
	[ "$(echo "$output" | json 'd["psk_identity"]')" = psk-1 ]
	[ "$(echo "$output" | json '"serial" in d or "key_origin" in d')" = false ]
	check_psk psk-1 psk-1 128
	[ "$(db "SELECT count(*) FROM certificates; SELECT count(*) FROM device_keys")" = "$(printf '0\n0')" ]
}

@test "PSK of 256 bits with an identity pattern" {
	make_factory
	psk_template "$T/psk256.json" 256 'node-{id}.psk.example'
	run --separate-stderr "$PROV" mint --template "$T/psk256.json" --device p-9 --json
	assert_status 0
	[ "$(echo "$output" | json 'd["psk_identity"]')" = node-p-9.psk.example ]
	check_psk p-9 node-p-9.psk.example 256
	[ "$(db "SELECT slot FROM psks WHERE device_id = 'p-9'")" = 7 ]
}

@test "a sealed PSK moved to another device's row does not open (AAD names the row): that row is damaged, exit 6" {
	make_factory
	run "$PROV" mint --template "$TPL/coaps-psk.json" --count 2 --id-format 'm-%d'
	assert_status 0
	db "UPDATE psks SET key_sealed = (SELECT key_sealed FROM psks WHERE device_id = 'm-1') WHERE device_id = 'm-2'"
	run --separate-stderr "$PROV" export --device m-2 --what psk --reveal
	assert_status 6
	[ -z "$output" ]
	[[ "$stderr" == 'prov: export: the PSK of device "m-2" (generation 1, slot 2) is damaged: '* ]]
	run "$PROV" export --device m-1 --what psk --reveal
	assert_status 0
}

@test "PSKs differ across devices" {
	make_factory
	run "$PROV" mint --template "$TPL/coaps-psk.json" --count 10 --id-format 'u-%d'
	assert_status 0
	for i in $(seq 1 10); do
		"$PROV" export --device "u-$i" --what psk --reveal
	done >"$T/psks"
	[ "$(wc -l <"$T/psks")" -eq 10 ]
	[ "$(cut -d: -f2 "$T/psks" | sort -u | wc -l)" -eq 10 ]
	[ "$(db "SELECT count(DISTINCT key_sealed) FROM psks")" -eq 10 ]
}

@test "rpk: own_spki is the device's SPKI, peer_spki the pinned server key" {
	make_factory
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/server.key" 2>/dev/null
	openssl pkey -in "$T/server.key" -pubout -outform DER -out "$T/server.der"
	cat >"$T/rpk.json" <<EOF
{
  "name": "rpk-test",
  "protocol": "coaps",
  "device_key": {"type": "p256", "source": "device-or-host"},
  "credentials": [{"type": "rpk", "slot": 5, "server_spki": "$(base64 -w0 "$T/server.der")"}]
}
EOF
	make_device_key dev
	run "$PROV" mint --template "$T/rpk.json" --device rpk-dev --pubkey "$T/dev.pub.pem"
	assert_status 0
	run "$PROV" mint --template "$T/rpk.json" --device rpk-host
	assert_status 0
	server=$(xxd -p "$T/server.der" | tr -d '\n' | tr a-f A-F)
	dev=$(openssl pkey -pubin -in "$T/dev.pub.pem" -outform DER | xxd -p | tr -d '\n' | tr a-f A-F)
	[ "$(db "SELECT hex(own_spki) FROM raw_keys WHERE device_id = 'rpk-dev'")" = "$dev" ]
	[ "$(db "SELECT hex(peer_spki) FROM raw_keys WHERE device_id = 'rpk-dev'")" = "$server" ]
	[ "$(db "SELECT slot FROM raw_keys WHERE device_id = 'rpk-dev'")" = 5 ]
	# A host-made key: own_spki is the key prov made, exported by an outside reader.
	"$PROV" export --device rpk-host --what pubkey >"$T/host.pub.pem"
	host=$(openssl pkey -pubin -in "$T/host.pub.pem" -outform DER | xxd -p | tr -d '\n' | tr a-f A-F)
	[ "$(db "SELECT hex(own_spki) FROM raw_keys WHERE device_id = 'rpk-host'")" = "$host" ]
	[ "$(db "SELECT hex(peer_spki) FROM raw_keys WHERE device_id = 'rpk-host'")" = "$server" ]
	[ "$host" != "$dev" ]
	[ "$(db "SELECT count(*) FROM certificates")" -eq 0 ]
}

# --- duplicates and rotation ---------------------------------------------------------

@test "minting an existing device: exit 5 \"already minted\", nothing changed" {
	make_factory
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device dup-1
	assert_status 0
	before=$(db_digest)
	counts=$(db "SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM certificates), (SELECT count(*) FROM device_keys), (SELECT count(*) FROM audit)")
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device dup-1
	assert_status 5
	assert_stderr_has "already minted"
	make_device_key dev
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device dup-1 --csr "$T/dev.csr"
	assert_status 5
	run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --device dup-1
	assert_status 5
	[ "$(db "SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM certificates), (SELECT count(*) FROM device_keys), (SELECT count(*) FROM audit)")" = "$counts" ]
	assert_db_unchanged "$before"
}

@test "--rotate: generation 2, a new certificate and serial, history kept, audit mint then rotate, show marks current" {
	make_factory
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device rot-1 --json
	assert_status 0
	s1=$(echo "$output" | json 'd["serial"]')
	cert_from_db rot-1 1
	cp "$T/rot-1.pem" "$T/gen1.pem"
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device rot-1 --rotate --json
	assert_status 0
	[ "$(echo "$output" | json 'd["generation"]')" = 2 ]
	[ "$(echo "$output" | json 'd["rotated"]')" = true ]
	s2=$(echo "$output" | json 'd["serial"]')
	[ "$s1" != "$s2" ]
	[ "$(db "SELECT generation FROM devices WHERE id = 'rot-1'")" = 2 ]
	[ "$(db "SELECT group_concat(generation || ':' || serial, ' ') FROM (SELECT * FROM certificates WHERE device_id = 'rot-1' ORDER BY generation) AS q")" = "1:$s1 2:$s2" ]
	[ "$(db "SELECT count(*) FROM device_keys WHERE device_id = 'rot-1'")" = 2 ]
	[ "$(db "SELECT group_concat(action, ',') FROM (SELECT action FROM audit WHERE device_id = 'rot-1' ORDER BY seq) AS q")" = "mint,rotate" ]
	# The old certificate is untouched and both verify.
	cert_from_db rot-1 1
	cmp "$T/gen1.pem" "$T/rot-1.pem"
	cert_from_db rot-1 2
	run openssl verify -CAfile "$PROV_HOME/ca.pem" "$T/rot-1.pem"
	assert_status 0
	[ "$(openssl x509 -in "$T/gen1.pem" -noout -pubkey)" != "$(openssl x509 -in "$T/rot-1.pem" -noout -pubkey)" ]
	run --separate-stderr "$PROV" show rot-1 --json
	assert_status 0
	[ "$(echo "$output" | json 'd["generation"]')" = 2 ]
	[ "$(echo "$output" | json '[(c["generation"], c["serial"], c["current"]) for c in sorted(d["certificates"], key=lambda c: c["generation"])]')" = \
	  "[[1, \"$s1\", false], [2, \"$s2\", true]]" ]
	[ "$(echo "$output" | json '[(k["generation"], k["current"]) for k in sorted(d["keys"], key=lambda k: k["generation"])]')" = \
	  "[[1, false], [2, true]]" ]
	# export gives the current one.
	[ "$("$PROV" export --device rot-1 --what cert | openssl x509 -noout -serial | tr A-F a-f)" = "serial=$s2" ]
}

@test "--rotate of a PSK device: a new key under the same identity, the old row kept" {
	make_factory
	run "$PROV" mint --template "$TPL/coaps-psk.json" --device rp
	assert_status 0
	k1=$("$PROV" export --device rp --what psk --reveal)
	run "$PROV" mint --template "$TPL/coaps-psk.json" --device rp --rotate
	assert_status 0
	k2=$("$PROV" export --device rp --what psk --reveal)
	[ "${k1%:*}" = rp ]
	[ "${k2%:*}" = rp ]
	[ "${k1#*:}" != "${k2#*:}" ]
	[ "$(db "SELECT group_concat(generation, ',') FROM (SELECT generation FROM psks WHERE device_id = 'rp' ORDER BY generation) AS q")" = "1,2" ]
}

@test "--rotate keeps the registered recipient key when none is given, replaces it when one is" {
	make_factory
	make_device_key dev
	make_device_key other
	dev=$(openssl pkey -pubin -in "$T/dev.pub.pem" -outform DER | xxd -p | tr -d '\n' | tr a-f A-F)
	other=$(openssl pkey -pubin -in "$T/other.pub.pem" -outform DER | xxd -p | tr -d '\n' | tr a-f A-F)
	# The CSR's key is the recipient by default.
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device rk --csr "$T/dev.csr"
	assert_status 0
	[ "$(db "SELECT hex(recipient_spki) FROM devices WHERE id = 'rk'")" = "$dev" ]
	# Rotating to a host-made key names no recipient: the registered one stays.
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device rk --rotate
	assert_status 0
	[ "$(db "SELECT hex(recipient_spki) || '|' || generation FROM devices WHERE id = 'rk'")" = "$dev|2" ]
	# PSK device with an explicit recipient, rotated twice without one.
	run "$PROV" mint --template "$TPL/coaps-psk.json" --device rk2 --recipient-key "$T/dev.pub.pem"
	assert_status 0
	run "$PROV" mint --template "$TPL/coaps-psk.json" --device rk2 --rotate
	assert_status 0
	[ "$(db "SELECT hex(recipient_spki) FROM devices WHERE id = 'rk2'")" = "$dev" ]
	# An explicit key on rotation replaces it.
	run "$PROV" mint --template "$TPL/coaps-psk.json" --device rk2 --rotate --recipient-key "$T/other.pub.pem"
	assert_status 0
	[ "$(db "SELECT hex(recipient_spki) || '|' || generation FROM devices WHERE id = 'rk2'")" = "$other|3" ]
}

# --- device IDs and templates -----------------------------------------------------------

@test "bad device IDs (empty, 65 chars, leading '-', '/', space): exit 3, nothing registered" {
	make_factory
	before=$(db_digest)
	long=$(printf 'a%.0s' $(seq 65))
	for id in "" "$long" "-dev" "a/b" "a b" ".dev" "dev\$1"; do
		run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device "$id"
		echo "[$id] $status $stderr"
		assert_status 3
		assert_stderr_has "bad device ID"
	done
	assert_db_unchanged "$before"
	[ "$(db "SELECT count(*) FROM devices")" -eq 0 ]
	# The limits themselves are accepted.
	max=$(printf 'b%.0s' $(seq 64))
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device "$max"
	assert_status 0
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device "A.b_c:d-9"
	assert_status 0
	[ "$(db "SELECT count(*) FROM devices")" -eq 2 ]
}

@test "unknown --template file: exit 4" {
	make_factory
	before=$(db_digest)
	run --separate-stderr "$PROV" mint --template "$T/nowhere.json" --device dev-1
	assert_status 4
	assert_stderr_has "nowhere.json"
	assert_device_absent dev-1
	assert_db_unchanged "$before"
}

@test "invalid templates: exit 3 naming the problem, nothing registered" {
	make_factory
	before=$(db_digest)
	while read -r f want; do
		run --separate-stderr "$PROV" mint --template "$FIX/$f" --device dev-1
		echo "$f: $stderr"
		assert_status 3
		assert_stderr_has "$want"
	done <<'EOF'
template-not-json.json not valid JSON
template-negative-slot.json $.credentials[0].slot
template-psk-bits-not-multiple-of-8.json $.credentials[0].bits
template-certificate-without-device-key.json device_key
EOF
	assert_device_absent dev-1
	assert_db_unchanged "$before"
}

# --- batches ---------------------------------------------------------------------------

@test "batch --count 50 --id-format: summary, 50 devices, 50 distinct serials" {
	make_factory
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --count 50 --id-format 'dev-%04d' --json
	assert_status 0
	[ "$(echo "$output" | json '[d["requested"], d["minted"], d["rotated"], d["skipped"], d["failed"]]')" = "[50, 50, 0, 0, null]" ]
	[ "$(echo "$output" | json 'len(d["devices"])')" = 50 ]
	[ "$(echo "$output" | json 'd["devices"][0]["device"] + " " + d["devices"][-1]["device"]')" = "dev-0001 dev-0050" ]
	[ "$(db "SELECT count(*) || ' ' || min(id) || ' ' || max(id) FROM devices")" = "50 dev-0001 dev-0050" ]
	[ "$(db "SELECT count(DISTINCT serial) FROM certificates")" = 50 ]
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'mint'")" = 50 ]
	# 50 host-made keys, all different, each sealed under its own nonce.
	[ "$(db "SELECT count(DISTINCT spki) || ' ' || count(DISTINCT private_sealed) || ' ' || count(DISTINCT substr(private_sealed, 2, 12)) FROM device_keys WHERE origin = 'host'")" = "50 50 50" ]
	# The summary's serials are the database's.
	echo "$output" | json '"\n".join(sorted(x["serial"] for x in d["devices"]))' >"$T/json.serials"
	db "SELECT serial FROM certificates ORDER BY serial" >"$T/db.serials"
	cmp "$T/json.serials" "$T/db.serials"
}

@test "batch --start: IDs from the start number" {
	make_factory
	run "$PROV" mint --template "$TPL/coaps-psk.json" --count 5 --start 98 --id-format 'n-%03d'
	assert_status 0
	[ "$(db "SELECT group_concat(id, ' ') FROM (SELECT id FROM devices ORDER BY id) AS q")" = "n-098 n-099 n-100 n-101 n-102" ]
}

@test "bad --id-format (two %d, %s, none): exit 2, nothing minted" {
	make_factory
	before=$(db_digest)
	for fmt in 'dev-%d-%d' 'dev-%s' 'dev' 'dev-%' 'dev-%ld'; do
		run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --count 3 --id-format "$fmt"
		echo "[$fmt] $status"
		assert_status 2
		assert_stderr_has "--id-format"
	done
	assert_db_unchanged "$before"
}

@test "batch --devices FILE: blank lines, whitespace and comments are skipped" {
	make_factory
	printf '# production run 7\n\nalpha-1\n   \n  beta-2  \n# gamma-3\n\r\ndelta-4\r\n\n' >"$T/ids"
	run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --devices "$T/ids" --json
	assert_status 0
	[ "$(echo "$output" | json '[x["device"] for x in d["devices"]]')" = '["alpha-1", "beta-2", "delta-4"]' ]
	[ "$(db "SELECT group_concat(id, ' ') FROM (SELECT id FROM devices ORDER BY id) AS q")" = "alpha-1 beta-2 delta-4" ]
}

@test "batch --devices: a bad ID on line N -> exit 3 naming line N, nothing minted" {
	make_factory
	before=$(db_digest)
	printf '# header\n\nok-1\n\n\n   \nok-2\n-bad\nok-3\n' >"$T/ids"
	run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --devices "$T/ids" --chunk 1
	assert_status 3
	assert_stderr_has "line 8"
	assert_stderr_has '"-bad"'
	assert_db_unchanged "$before"
	[ "$(db "SELECT count(*) FROM devices")" -eq 0 ]
}

@test "batch --devices: a NUL byte on line N -> exit 3 naming line N, nothing minted (no ID after it dropped)" {
	make_factory
	before=$(db_digest)
	# The NUL used to end the text: n-3 and n-4 were dropped, 2 of 4 minted, exit 0.
	printf 'n-1\nn-2\0\nn-3\nn-4\n' >"$T/ids"
	run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --devices "$T/ids"
	assert_status 3
	[ -z "$output" ]
	assert_stderr_has "ids line 2: a NUL byte"
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	assert_db_unchanged "$before"
	[ "$(db "SELECT count(*) FROM devices")" -eq 0 ]
	# On the last line without a newline, and in the middle of a line: the same.
	for body in 'n-1\nn-2\nn-3\0' 'n-1\nn\0-2\nn-3\n' '\0'; do
		printf "$body" >"$T/ids"
		run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --devices "$T/ids" --json
		assert_status 3
		[ -z "$output" ]
		assert_stderr_has "a NUL byte"
		assert_db_unchanged "$before"
	done
	# Without the NUL, all four are minted: the file is read to its end.
	printf 'n-1\nn-2\nn-3\nn-4' >"$T/ids"
	run "$PROV" mint --template "$TPL/coaps-psk.json" --devices "$T/ids"
	assert_status 0
	[ "$(db "SELECT group_concat(id) FROM (SELECT id FROM devices ORDER BY id) AS q")" = "n-1,n-2,n-3,n-4" ]
}

@test "--trust PEM/DER: a broken certificate after a good one is an error, never a shorter anchor list" {
	make_factory
	for i in 1 2 3; do
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k$i.pem" \
			-subj "/CN=root$i" -days 30 -out "$T/c$i.pem" 2>/dev/null
		openssl x509 -in "$T/c$i.pem" -outform DER -out "$T/c$i.der"
	done
	# A NUL inside the second certificate's base64: it used to end the reading
	# quietly, so the device got one anchor of three.
	$PY -c 'import sys
c = [open(sys.argv[i], "rb").read() for i in (1, 2, 3)]
open(sys.argv[4], "wb").write(c[0] + c[1][:40] + b"\0" + c[1][40:] + c[2])' \
		"$T/c1.pem" "$T/c2.pem" "$T/c3.pem" "$T/nul.pem"
	before=$(db_digest)
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device t-1 --trust "$T/nul.pem"
	assert_status 3
	assert_stderr_has "certificate 2 is garbage"
	assert_db_unchanged "$before"
	# DER back to back with a trailing byte: refused (it used to keep the first only).
	cat "$T/c1.der" "$T/c2.der" >"$T/two.der"
	{ cat "$T/two.der"; printf 'x'; } >"$T/tail.der"
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device t-1 --trust "$T/tail.der"
	assert_status 3
	assert_stderr_has "not a DER certificate at byte $(($(stat -c %s "$T/two.der")))"
	assert_db_unchanged "$before"
	# openssl refuses the first file too.
	run openssl crl2pkcs7 -nocrl -certfile "$T/nul.pem"
	[ "$status" -ne 0 ]
	# Text between PEM blocks (a NUL in it included) is skipped as PEM allows:
	# all three anchors, as openssl counts them; two DER certificates: both.
	{ cat "$T/c1.pem"; printf 'note\0here\n'; cat "$T/c2.pem" "$T/c3.pem"; } >"$T/notes.pem"
	[ "$(openssl crl2pkcs7 -nocrl -certfile "$T/notes.pem" | openssl pkcs7 -print_certs -noout | grep -c '^subject')" -eq 3 ]
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device t-1 --trust "$T/notes.pem"
	assert_status 0
	want=$(cat "$T/c1.der" "$T/c2.der" "$T/c3.der" | wc -c)
	[ "$(db "SELECT length(trust_der) FROM templates t JOIN devices d ON d.template = t.digest WHERE d.id = 't-1'")" -eq "$want" ]
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device t-2 --trust "$T/two.der"
	assert_status 0
	want=$(wc -c <"$T/two.der")
	[ "$(db "SELECT length(trust_der) FROM templates t JOIN devices d ON d.template = t.digest WHERE d.id = 't-2'")" -eq "$want" ]
}

@test "batch --devices: a duplicated ID -> exit 3, nothing minted" {
	make_factory
	before=$(db_digest)
	printf 'a-1\na-2\na-3\na-2\n' >"$T/ids"
	run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --devices "$T/ids" --chunk 1
	assert_status 3
	assert_stderr_has '"a-2"'
	assert_db_unchanged "$before"
}

@test "batch hitting an existing device: exit 5, failed.device names it, its chunk rolled back; --skip-existing finishes" {
	make_factory
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device dev-0025 --json
	assert_status 0
	s25=$(echo "$output" | json 'd["serial"]')
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --count 40 --id-format 'dev-%04d' --chunk 10 --json
	assert_status 5
	[ "$(echo "$output" | json 'd["failed"]["device"]')" = dev-0025 ]
	[ "$(echo "$output" | json 'd["failed"]["exit"]')" = 5 ]
	[ "$(echo "$output" | json '[d["requested"], d["minted"], d["skipped"], len(d["devices"])]')" = "[40, 20, 0, 20]" ]
	# Chunks 1-10 and 11-20 committed; 21-30 (holding dev-0025) rolled back whole; 31-40 never ran.
	[ "$(db "SELECT count(*) FROM devices")" -eq 21 ]
	[ "$(db "SELECT count(*) FROM devices WHERE id BETWEEN 'dev-0001' AND 'dev-0020'")" -eq 20 ]
	[ "$(db "SELECT group_concat(id) FROM devices WHERE id BETWEEN 'dev-0021' AND 'dev-0040'")" = dev-0025 ]
	for id in dev-0021 dev-0024 dev-0026 dev-0030 dev-0031 dev-0040; do
		assert_device_absent "$id"
	done
	[ "$(db "SELECT count(*) FROM certificates")" -eq 21 ]
	[ "$(db "SELECT count(*) FROM device_keys")" -eq 21 ]
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'mint'")" -eq 21 ]

	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --count 40 --id-format 'dev-%04d' --chunk 10 --skip-existing --json
	assert_status 0
	[ "$(echo "$output" | json '[d["requested"], d["minted"], d["skipped"], d["rotated"], d["failed"]]')" = "[40, 19, 21, 0, null]" ]
	[ "$(echo "$output" | json '[x["device"] for x in d["devices"] if x["skipped"]][-1]')" = dev-0025 ]
	[ "$(db "SELECT count(*) FROM devices")" -eq 40 ]
	[ "$(db "SELECT count(DISTINCT serial) FROM certificates")" -eq 40 ]
	[ "$(db "SELECT max(generation) FROM devices")" -eq 1 ]
	# The skipped device kept its certificate.
	[ "$(db "SELECT serial FROM certificates WHERE device_id = 'dev-0025'")" = "$s25" ]
}

@test "batch --rotate: existing devices rotated, new ones minted" {
	make_factory
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --count 5 --id-format 'r-%02d'
	assert_status 0
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --count 8 --id-format 'r-%02d' --rotate --chunk 3 --json
	assert_status 0
	[ "$(echo "$output" | json '[d["requested"], d["minted"], d["rotated"], d["skipped"]]')" = "[8, 3, 5, 0]" ]
	[ "$(echo "$output" | json '[x["generation"] for x in d["devices"]]')" = "[2, 2, 2, 2, 2, 1, 1, 1]" ]
	[ "$(db "SELECT group_concat(generation, '') FROM (SELECT generation FROM devices ORDER BY id) AS q")" = 22222111 ]
	[ "$(db "SELECT count(*) FROM certificates")" -eq 13 ]
	[ "$(db "SELECT count(DISTINCT serial) FROM certificates")" -eq 13 ]
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'rotate'")" -eq 5 ]
}

# check_bundle FILE ID: a COSE_Sign1 (tag 18) signed by the factory signer, for ID,
# with its PSK encrypted (the bundle's secrets: one COSE_Encrypt, tag 96, key 8).
check_bundle() {
	"$PY" - "$1" "$2" "$PROV_HOME/signer.pub.pem" <<'EOF'
import sys, cbor2
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
t = cbor2.loads(open(sys.argv[1], "rb").read())
assert isinstance(t, cbor2.CBORTag) and t.tag == 18, "not COSE_Sign1"
protected, unprotected, payload, sig = t.value
assert cbor2.loads(protected)[1] == -7                      # ES256
pub = serialization.load_pem_public_key(open(sys.argv[3], "rb").read())
der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
pub.verify(der, cbor2.dumps(["Signature1", protected, b"", payload]), ec.ECDSA(hashes.SHA256()))
p = cbor2.loads(payload)
assert p[2] == sys.argv[2], p[2]
assert p[3] == 1, p[3]
psk = [e for e in p[6] if 6 in e]
assert len(psk) == 1 and psk[0][5] == 0, "PSK entry does not refer to secret 0"
assert isinstance(p[8], cbor2.CBORTag) and p[8].tag == 96, "PSK not encrypted"
EOF
}

@test "batch --bundle-dir --recipient-key: DIR/<id>.cbor per device; a failing chunk leaves none of its bundles" {
	make_factory
	make_device_key rk
	mkdir "$T/bundles"
	run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --count 4 --id-format 'b-%d' \
		--bundle-dir "$T/bundles" --recipient-key "$T/rk.pub.pem" --json
	assert_status 0
	[ "$(ls "$T/bundles" | tr '\n' ' ')" = "b-1.cbor b-2.cbor b-3.cbor b-4.cbor " ]
	[ "$(echo "$output" | json '[(x["bundle"], x["bundle_counter"]) for x in d["devices"]][1]')" = "[\"$T/bundles/b-2.cbor\", 1]" ]
	for i in 1 4; do
		run check_bundle "$T/bundles/b-$i.cbor" "b-$i"
		echo "$output"
		assert_status 0
	done
	[ "$(db "SELECT count(*) FROM bundles")" -eq 4 ]
	assert_no_tmp_files "$T/bundles"
	# Every device registers the batch's recipient key.
	rk=$(openssl pkey -pubin -in "$T/rk.pub.pem" -outform DER | xxd -p | tr -d '\n' | tr a-f A-F)
	[ "$(db "SELECT DISTINCT hex(recipient_spki) FROM devices")" = "$rk" ]

	# c-5 exists: the chunk c-4..c-6 fails and leaves no bundle file behind.
	mkdir "$T/b2"
	run "$PROV" mint --template "$TPL/coaps-psk.json" --device c-5
	assert_status 0
	run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --count 9 --id-format 'c-%d' --chunk 3 \
		--bundle-dir "$T/b2" --recipient-key "$T/rk.pub.pem" --json
	assert_status 5
	[ "$(echo "$output" | json 'd["failed"]["device"]')" = c-5 ]
	[ "$(ls "$T/b2" | tr '\n' ' ')" = "c-1.cbor c-2.cbor c-3.cbor " ]
	assert_no_tmp_files "$T/b2"
	assert_device_absent c-4
	[ "$(db "SELECT count(*) FROM bundles WHERE device_id LIKE 'c-%'")" -eq 3 ]
}

@test "batch failing in its first chunk (missing --bundle-dir, device-key template): nothing minted" {
	make_factory
	make_device_key rk
	run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --count 5 --id-format 'x-%d' \
		--bundle-dir "$T/no-such-dir" --recipient-key "$T/rk.pub.pem" --json
	assert_status 8
	[ "$(echo "$output" | json '[d["minted"], d["failed"]["device"], d["failed"]["exit"]]')" = '[0, "x-1", 8]' ]
	[ "$(db "SELECT count(*) FROM devices")" -eq 0 ]
	[ "$(db "SELECT count(*) FROM audit WHERE action <> 'init'")" -eq 0 ]
	[ ! -e "$T/no-such-dir" ]
	cert_template "$T/dev.json" p256 device '"no-expiry"'
	run --separate-stderr "$PROV" mint --template "$T/dev.json" --count 5 --id-format 'y-%d'
	assert_status 2
	[ "$(db "SELECT count(*) FROM devices")" -eq 0 ]
	[ "$(db "SELECT count(*) FROM audit WHERE action <> 'init'")" -eq 0 ]
}

@test "batch progress bar: absent when stderr is not a terminal, present on one" {
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --count 5 --id-format 'p-%d' >"$T/out" 2>"$T/err"
	[ ! -s "$T/err" ]
	grep -q '^5 of 5 devices done: 5 minted' "$T/out"
	if ! command -v script >/dev/null; then
		skip "no script(1) to give the batch a terminal"
	fi
	script -qec "'$PROV' mint --template '$TPL/coaps-psk.json' --count 5 --id-format 'q-%d'" /dev/null >"$T/tty" 2>&1
	grep -q 'minting \[#*\] 5/5' "$T/tty"
}

# --- the database ---------------------------------------------------------------------

@test "database: WAL journal, PRAGMA user_version 2, integrity ok after minting" {
	sqlite_only "WAL and PRAGMAs"
	make_factory
	[ "$(db 'PRAGMA journal_mode')" = wal ]
	[ "$(db 'PRAGMA user_version')" = 3 ]
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --count 5 --id-format 'w-%d'
	assert_status 0
	[ "$(db 'PRAGMA journal_mode')" = wal ]
	[ "$(db 'PRAGMA user_version')" = 3 ]
	[ "$(db 'PRAGMA integrity_check')" = ok ]
	[ -z "$(db 'PRAGMA foreign_key_check')" ]
}

# Poll until another connection holds the write lock (BEGIN IMMEDIATE fails at once).
wait_locked() {
	for _ in $(seq 100); do
		if ! sqlite3 "$PROV_HOME/prov.db" 'BEGIN IMMEDIATE; ROLLBACK;' 2>/dev/null; then
			return 0
		fi
		sleep 0.05
	done
	echo "the locker never took the lock" >&2
	return 1
}

@test "locked database: exit 10 \"locked\" after --busy-timeout, nothing written" {
	sqlite_only "a lock held by the sqlite3 shell (pg.bats: a row lock held by psql)"
	make_factory
	before=$(db_digest)
	mkfifo "$T/lock.fifo"
	sqlite3 "$PROV_HOME/prov.db" <"$T/lock.fifo" >"$T/lock.out" 2>&1 3>&- &
	locker=$!
	exec 5>"$T/lock.fifo"
	echo 'BEGIN EXCLUSIVE;' >&5
	wait_locked
	t0=$(date +%s%N)
	run --separate-stderr "$PROV" mint --busy-timeout 200 --template "$TPL/mqtt-mtls.json" --device dev-1
	t1=$(date +%s%N)
	run2_status=$status run2_stderr=$stderr
	run --separate-stderr "$PROV" mint --busy-timeout 200 --template "$TPL/coaps-psk.json" --count 5 --id-format 'l-%d'
	echo 'ROLLBACK;' >&5
	exec 5>&-
	wait "$locker"
	echo "single: $run2_status $run2_stderr; batch: $status $stderr"
	[ "$run2_status" -eq 10 ]
	case "$run2_stderr" in *locked*) ;; *) false ;; esac
	assert_status 10
	assert_stderr_has "locked"
	ms=$(((t1 - t0) / 1000000))
	echo "waited ${ms} ms"
	[ "$ms" -ge 150 ]
	[ "$ms" -lt 5000 ]
	assert_db_unchanged "$before"
	# Once the lock is gone the same command works.
	run "$PROV" mint --busy-timeout 200 --template "$TPL/mqtt-mtls.json" --device dev-1
	assert_status 0
}

@test "corrupt database, not a database: exit 6; newer schema: exit 15" {
	sqlite_only "a damaged file (pg.bats: the schema version)"
	make_factory
	cp -a "$PROV_HOME" "$T/pristine"
	# A damaged first page (the schema's b-tree).
	"$PY" -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(100); f.write(b"\xff" * 200)' "$PROV_HOME/prov.db"
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device dev-1
	echo "$stderr"
	assert_status 6
	# Not an SQLite file at all.
	rm -rf "$PROV_HOME" && cp -a "$T/pristine" "$PROV_HOME"
	head -c 8192 /dev/zero | tr '\0' 'x' >"$PROV_HOME/prov.db"
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device dev-1
	echo "$stderr"
	assert_status 6
	assert_stderr_has "not a provkit database"
	# A schema from a newer prov.
	rm -rf "$PROV_HOME" && cp -a "$T/pristine" "$PROV_HOME"
	db 'PRAGMA user_version = 99'
	before=$(db_digest)
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device dev-1
	echo "$stderr"
	assert_status 15
	assert_stderr_has "newer"
	assert_db_unchanged "$before"
}

@test "passphrase home: wrong or missing PROV_PASSPHRASE -> exit 9, nothing written" {
	PROV_PASSPHRASE='correct horse' make_factory
	before=$(db_digest)
	PROV_PASSPHRASE='wrong horse' run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --device pp-1
	assert_status 9
	assert_stderr_has "passphrase"
	run --separate-stderr "$PROV" mint --template "$TPL/mqtt-mtls.json" --device pp-1
	assert_status 9
	assert_db_unchanged "$before"
	assert_device_absent pp-1
	PROV_PASSPHRASE='correct horse' run "$PROV" mint --template "$TPL/coaps-psk.json" --device pp-1
	assert_status 0
	PROV_PASSPHRASE='correct horse' run "$PROV" export --device pp-1 --what psk --reveal
	assert_status 0
	echo "$output" | grep -Eq '^pp-1:[0-9a-f]{32}$'
}
