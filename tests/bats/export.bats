#!/usr/bin/env bats
# export.bats - prov export: certificates, chains, public keys, PSKs, host-made
# private keys and PSK tables, read back with openssl, sqlite3 and python; file
# modes of --out, the audit trail of every secret, and secrets at rest.

load helper

bats_require_minimum_version 1.5.0

# A factory with: c1 (mqtt-mtls, key from its CSR $T/c1.csr), h1 (mqtt-mtls, key
# made by prov), p1 and p2 (coaps-psk).
make_devices() {
	make_factory
	make_device_key c1
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device c1 --csr "$T/c1.csr" >/dev/null
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device h1 >/dev/null
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p1 >/dev/null
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p2 >/dev/null
}

audit_count() {
	db "SELECT count(*) FROM audit WHERE action = 'export' $1"
}

@test "export cert: PEM and --der are the same certificate, issued by the CA to the CSR's key" {
	make_devices
	"$PROV" export --device c1 --what cert >"$T/c1.pem"
	"$PROV" export --device c1 --what cert --der >"$T/c1.der"
	[ "$(grep -c 'BEGIN CERTIFICATE' "$T/c1.pem")" = 1 ]
	openssl x509 -in "$T/c1.pem" -outform DER | cmp - "$T/c1.der"
	openssl x509 -inform DER -in "$T/c1.der" -noout
	[ "$(openssl x509 -in "$T/c1.pem" -noout -subject -nameopt RFC2253)" = "subject=CN=c1,O=provkit devices" ]
	[ "$(openssl x509 -in "$T/c1.pem" -noout -pubkey)" = "$(openssl req -in "$T/c1.csr" -noout -pubkey)" ]
	run openssl verify -CAfile "$PROV_HOME/ca.pem" "$T/c1.pem"
	assert_status 0
	# The serial is the one the database holds for the current generation.
	serial=$(openssl x509 -in "$T/c1.pem" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f')
	[ "$(db "SELECT serial FROM certificates WHERE device_id = 'c1'")" = "$serial" ]
	# Public material is not audited as a secret export.
	[ "$(audit_count "AND device_id = 'c1'")" = 0 ]
}

@test "export chain: the certificate then the CA chain; verifies against the CA" {
	make_devices
	"$PROV" export --device h1 --what chain >"$T/chain.pem"
	[ "$(grep -c 'BEGIN CERTIFICATE' "$T/chain.pem")" = 2 ]
	awk -v dir="$T" '/BEGIN CERT/ { n++ } { print > (dir "/part" n ".pem") }' "$T/chain.pem"
	"$PROV" export --device h1 --what cert | cmp - "$T/part1.pem"
	cmp "$T/part2.pem" "$PROV_HOME/ca.pem"
	run openssl verify -CAfile "$T/part2.pem" "$T/part1.pem"
	assert_status 0
	run openssl verify -CAfile "$PROV_HOME/ca.pem" -untrusted "$T/chain.pem" "$T/chain.pem"
	assert_status 0
	run "$PROV" export --device h1 --what chain --der
	assert_status 2
	assert_output_has "--der applies to cert, pubkey and key"
}

@test "export pubkey: PEM and DER equal the key the device signed its CSR with" {
	make_devices
	run --separate-stderr "$PROV" export --device c1 --what pubkey
	assert_status 0
	[ "$output" = "$(cat "$T/c1.pub.pem")" ]
	"$PROV" export --device c1 --what pubkey --der >"$T/c1.pub.der"
	openssl pkey -in "$T/c1.key" -pubout -outform DER | cmp - "$T/c1.pub.der"
	# A PSK-only device has no key pair.
	run --separate-stderr "$PROV" export --device p1 --what pubkey
	assert_status 4
	[ "$stderr" = "prov: export: the device has no key pair (its template issues none)" ]
	run "$PROV" export --device p1 --what cert
	assert_status 4
	assert_output_has "the device has no certificate"
}

@test "export psk: needs --reveal (2); with it IDENTITY:32 hex digits and an audit row" {
	make_devices
	before=$(db 'SELECT count(*) FROM audit')
	run --separate-stderr "$PROV" export --device p1 --what psk
	assert_status 2
	[ -z "$output" ]
	[[ "$stderr" == "prov: export: the psk is a secret: add --reveal (the export is audited)"* ]]
	[ "$(db 'SELECT count(*) FROM audit')" = "$before" ]

	run --separate-stderr "$PROV" export --device p1 --what psk --reveal
	assert_status 0
	[[ "$output" =~ ^p1:[0-9a-f]{32}$ ]]
	[ "$(db 'SELECT count(*) FROM audit')" = $((before + 1)) ]
	[ "$(db "SELECT action || '|' || device_id || '|' || detail FROM audit ORDER BY seq DESC LIMIT 1")" = 'export|p1|{"what":"psk"}' ]
	# The same key each time; another device has another.
	first=$output
	run --separate-stderr "$PROV" export --device p1 --what psk --reveal
	[ "$output" = "$first" ]
	run --separate-stderr "$PROV" export --device p2 --what psk --reveal
	[[ "$output" =~ ^p2:[0-9a-f]{32}$ ]]
	[ "${output#p2:}" != "${first#p1:}" ]
	[ "$(audit_count "AND detail = '{\"what\":\"psk\"}'")" = 3 ]
	# A device without a PSK.
	run "$PROV" export --device c1 --what psk --reveal
	assert_status 4
	assert_output_has "the device has no PSK"
}

@test "export psk: the raw key bytes never appear in the factory's files" {
	sqlite_only "the prov.db file (pg.bats: the dump)"
	make_devices
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p1 --rotate >/dev/null
	keys=""
	for d in p1 p2; do
		line=$("$PROV" export --device $d --what psk --reveal)
		keys="$keys ${line#*:}"
	done
	# The rotated-away key of p1 from generation 1 is in the database too (sealed).
	[ "$(db "SELECT count(*) FROM psks WHERE device_id = 'p1'")" = 2 ]
	run $PY -c '
import glob, sys
home, keys = sys.argv[1], sys.argv[2].split()
files = glob.glob(home + "/*")
assert any(f.endswith("prov.db") for f in files), files
blob = b"".join(open(f, "rb").read() for f in files)
for k in keys:
    raw = bytes.fromhex(k)
    assert len(raw) == 16, k
    assert raw not in blob, "PSK bytes found in the home: " + k
    assert k.encode() not in blob and k.upper().encode() not in blob, "PSK hex found: " + k
print("checked %d keys in %d files (%d bytes)" % (len(keys), len(files), len(blob)))
' "$PROV_HOME" "$keys"
	echo "$output"
	assert_status 0
	# Stored sealed: 16 key bytes plus the AEAD overhead, never 16 bytes.
	[ "$(db "SELECT count(*) FROM psks WHERE length(key_sealed) <= 16")" = 0 ]
}

@test "export key: a host-made key is PKCS#8 whose public key is the certificate's (openssl)" {
	make_devices
	run --separate-stderr "$PROV" export --device h1 --what key
	assert_status 2
	[[ "$stderr" == "prov: export: the key is a secret: add --reveal"* ]]
	"$PROV" export --device h1 --what key --reveal >"$T/h1.key"
	[ "$(head -n 1 "$T/h1.key")" = "-----BEGIN PRIVATE KEY-----" ]
	openssl pkey -in "$T/h1.key" -noout -text | grep -q 'ASN1 OID: prime256v1'
	"$PROV" export --device h1 --what cert >"$T/h1.pem"
	[ "$(openssl pkey -in "$T/h1.key" -pubout)" = "$(openssl x509 -in "$T/h1.pem" -noout -pubkey)" ]
	# --der: the same key as DER PKCS#8.
	"$PROV" export --device h1 --what key --reveal --der >"$T/h1.key.der"
	openssl pkcs8 -topk8 -nocrypt -in "$T/h1.key" -outform DER | cmp - "$T/h1.key.der"
	# It really is the private half: sign with it, verify with the certificate.
	echo "challenge" >"$T/msg"
	openssl dgst -sha256 -sign "$T/h1.key" -out "$T/sig" "$T/msg"
	openssl x509 -in "$T/h1.pem" -noout -pubkey >"$T/h1.pub"
	openssl dgst -sha256 -verify "$T/h1.pub" -signature "$T/sig" "$T/msg"
	[ "$(audit_count "AND device_id = 'h1' AND detail = '{\"what\":\"key\"}'")" = 2 ]
}

@test "export key: a key made on the device never left it (4)" {
	make_devices
	run --separate-stderr "$PROV" export --device c1 --what key --reveal
	assert_status 4
	[ -z "$output" ]
	[ "$stderr" = "prov: export: the private key of c1 was made on the device (from its csr) and never left it" ]
	[ "$(audit_count "AND device_id = 'c1'")" = 0 ]
	run "$PROV" export --device p1 --what key --reveal
	assert_status 4
	assert_output_has "the device has no key pair"
}

@test "export --out: secrets 0600, public material 0644, whatever the umask; no temp files" {
	make_devices
	umask 000
	mkdir "$T/out"
	for spec in "cert:644" "chain:644" "pubkey:644"; do
		w=${spec%%:*}
		"$PROV" export --device h1 --what "$w" --out "$T/out/h1.$w"
		[ "$(stat -c %a "$T/out/h1.$w")" = "${spec#*:}" ]
	done
	"$PROV" export --device h1 --what key --reveal --out "$T/out/h1.key"
	"$PROV" export --device p1 --what psk --reveal --out "$T/out/p1.psk"
	"$PROV" export psk-table --format gnutls --reveal --out "$T/out/table"
	for f in h1.key p1.psk table; do
		echo "$f $(stat -c %a "$T/out/$f")"
		[ "$(stat -c %a "$T/out/$f")" = 600 ]
	done
	# The files hold what stdout would have.
	"$PROV" export --device h1 --what cert | cmp - "$T/out/h1.cert"
	"$PROV" export --device p1 --what psk --reveal | cmp - "$T/out/p1.psk"
	# Replacing a world-readable file with a secret leaves a 0600 file.
	echo "old" >"$T/out/loose"
	chmod 0666 "$T/out/loose"
	"$PROV" export --device p1 --what psk --reveal --out "$T/out/loose"
	[ "$(stat -c %a "$T/out/loose")" = 600 ]
	assert_no_tmp_files "$T"
	[ "$(ls -A "$T/out" | wc -l)" = 7 ]
}

@test "export --out: an unwritable destination is an I/O error (8), nothing left behind" {
	make_devices
	echo "a file" >"$T/file"
	mkdir "$T/dir"
	for out in "$T/missing/x.pem" "$T/file/x.pem" "$T/dir"; do
		run --separate-stderr "$PROV" export --device h1 --what cert --out "$out"
		assert_status 8
		[[ "$stderr" == "prov: export: cannot write $out: "* ]]
		run --separate-stderr "$PROV" export --device p1 --what psk --reveal --out "$out"
		assert_status 8
		run --separate-stderr "$PROV" export psk-table --format csv --reveal --out "$out"
		assert_status 8
	done
	if [ "$(id -u)" != 0 ]; then
		# Permissions only bind a non-root user.
		mkdir -m 0500 "$T/ro"
		run "$PROV" export --device h1 --what cert --out "$T/ro/x.pem"
		assert_status 8
		[ -z "$(ls -A "$T/ro")" ]
	fi
	assert_no_tmp_files "$T"
	[ "$(cat "$T/file")" = "a file" ]
	[ -z "$(ls -A "$T/dir")" ]
}

@test "export psk-table: one line per device with a current PSK, in gnutls, json and csv" {
	make_devices
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p1 --rotate >/dev/null
	p1=$("$PROV" export --device p1 --what psk --reveal)
	p2=$("$PROV" export --device p2 --what psk --reveal)
	before=$(audit_count "AND detail LIKE '%psk-table%'")

	run --separate-stderr "$PROV" export psk-table --format gnutls --reveal
	assert_status 0
	[ "$output" = "$p1
$p2" ]

	run --separate-stderr "$PROV" export psk-table --format json --reveal
	assert_status 0
	echo "$output" | $PY -c '
import json, sys
rows = json.load(sys.stdin)
want = [dict(zip(("identity", "key_hex"), a.split(":")), device=a.split(":")[0]) for a in sys.argv[1:]]
assert rows == want, (rows, want)
' "$p1" "$p2"

	run --separate-stderr "$PROV" export psk-table --format csv --reveal
	assert_status 0
	[ "${lines[0]}" = "identity,key_hex,device" ]
	echo "$output" | $PY -c '
import csv, sys
rows = list(csv.DictReader(sys.stdin))
assert [(r["identity"], r["key_hex"], r["device"]) for r in rows] == \
    [(a.split(":")[0], a.split(":")[1], a.split(":")[0]) for a in sys.argv[1:]], rows
' "$p1" "$p2"

	# Each table export is audited with its count and format.
	[ "$(audit_count "AND detail LIKE '%psk-table%'")" = $((before + 3)) ]
	[ "$(db "SELECT detail FROM audit ORDER BY seq DESC LIMIT 1")" = '{"count":2,"format":"csv","what":"psk-table"}' ]
}

@test "export psk-table: a factory without PSKs gives an empty table (csv: the header)" {
	make_factory
	run --separate-stderr "$PROV" export psk-table --format gnutls --reveal
	assert_status 0
	[ -z "$output" ]
	run --separate-stderr "$PROV" export psk-table --format csv --reveal
	[ "$output" = "identity,key_hex,device" ]
	run --separate-stderr "$PROV" export psk-table --format json --reveal
	echo "$output" | $PY -c 'import json,sys; assert json.load(sys.stdin) == []'
}

@test "export psk-table: needs --reveal and a known --format (2), audits nothing then" {
	make_devices
	before=$(db 'SELECT count(*) FROM audit')
	for args in "--format gnutls" "--format json" "--format csv" "--reveal" "--format xml --reveal" \
		"--format csv --reveal --device p1" "--format csv --reveal --what psk" "--format csv --reveal --der"; do
		run --separate-stderr "$PROV" export psk-table $args
		echo "psk-table $args -> $status"
		assert_status 2
		[ -z "$output" ]
	done
	run --separate-stderr "$PROV" export psk-table --format csv
	[[ "$stderr" == "prov: export: a PSK table holds secrets: add --reveal"* ]]
	[ "$(db 'SELECT count(*) FROM audit')" = "$before" ]
}

@test "export: an unknown device is not found (4), whatever is asked" {
	make_devices
	for w in cert chain pubkey "psk --reveal" "key --reveal" "cert --der"; do
		run --separate-stderr "$PROV" export --device nope --what $w
		assert_status 4
		[ "$stderr" = "prov: export: unknown device nope" ]
		[ -z "$output" ]
	done
	run "$PROV" export --device nope --what cert --out "$T/nope.pem"
	assert_status 4
	[ ! -e "$T/nope.pem" ]
	assert_no_tmp_files "$T"
	[ "$(audit_count "AND device_id = 'nope'")" = 0 ]
}

@test "export: usage errors (2)" {
	make_devices
	for args in "--device h1" "--what cert" "--device h1 --what private" "--device h1 --what cert --format csv" \
		"--device h1 --what psk --der --reveal" "--device h1 --what cert extra" "psk-table extra --format csv --reveal"; do
		run --separate-stderr "$PROV" export $args
		echo "export $args -> $status: ${stderr%%$'\n'*}"
		assert_status 2
		[[ "$stderr" == "prov: export: "* ]]
	done
}

@test "export: damaged stored credentials are a database error (6), said, never handed out" {
	make_devices
	db "UPDATE certificates SET der = X'3003020100' WHERE device_id = 'h1'"
	db "UPDATE device_keys SET spki = X'300100' WHERE device_id = 'c1'"
	db "UPDATE psks SET key_sealed = X'00112233' WHERE device_id = 'p1'"
	for args in "h1 --what cert" "h1 --what cert --der" "h1 --what chain" "c1 --what pubkey" \
		"c1 --what pubkey --der" "p1 --what psk --reveal"; do
		run --separate-stderr "$PROV" export --device $args --out "$T/out"
		echo "export --device $args -> $status: $stderr"
		assert_status 6
		[[ "$stderr" == "prov: export: stored "*" of ${args%% *} "*" corrupt" ]] ||
			[ "$stderr" = 'prov: export: the PSK of device "p1" (generation 1, slot 2) is damaged: its sealed value is malformed (4 bytes, less than the 29 of an empty one)' ]
		[ ! -e "$T/out" ]
	done
	# The PSK table leaves the damaged row out and says so (12); p2's row is written.
	run --separate-stderr "$PROV" export psk-table --format gnutls --reveal --out "$T/out"
	assert_status 12
	[ "$(cut -d: -f1 "$T/out")" = p2 ]
	assert_no_tmp_files "$T"
}

# flip_sealed DEVICE: flip one bit of the ciphertext of DEVICE's sealed PSK.
flip_sealed() {
	if [ -n "${PROV_TEST_DB:-}" ]; then
		db "UPDATE psks SET key_sealed = set_byte(key_sealed, 14, get_byte(key_sealed, 14) # 16) WHERE device_id = '$1'"
		return
	fi
	$PY - "$PROV_HOME/prov.db" "$1" <<-'EOF'
	import sqlite3, sys
	db = sqlite3.connect(sys.argv[1])
	(blob,) = db.execute("SELECT key_sealed FROM psks WHERE device_id = ?", (sys.argv[2],)).fetchone()
	b = bytearray(blob)
	b[14] ^= 0x10
	db.execute("UPDATE psks SET key_sealed = ? WHERE device_id = ?", (bytes(b), sys.argv[2]))
	db.commit()
	EOF
}

@test "export: a corrupted sealed row is named as damaged (6), not blamed on the key (9); psk-table writes the rest (12)" {
	make_factory
	for d in p1 p2 p3 p4 p5; do
		"$PROV" mint --template "$TPL/coaps-psk.json" --device $d >/dev/null
	done
	p1=$("$PROV" export --device p1 --what psk --reveal)
	p4=$("$PROV" export --device p4 --what psk --reveal)
	damaged=", which is right (it opens the factory's check value)"
	flip_sealed p2
	# p3's row gets p1's sealed PSK: it opens only as p1's (the AAD names the row).
	db "UPDATE psks SET key_sealed = (SELECT key_sealed FROM psks WHERE device_id = 'p1') WHERE device_id = 'p3'"
	db "UPDATE psks SET key_sealed = zeroblob(200) WHERE device_id = 'p5'"
	run --separate-stderr "$PROV" export --device p2 --what psk --reveal
	assert_status 6
	[ -z "$output" ]
	[ "$stderr" = "prov: export: the PSK of device \"p2\" (generation 1, slot 2) is damaged: its sealed value does not open under this factory's key-encryption key$damaged" ]
	run --separate-stderr "$PROV" export --device p3 --what psk --reveal
	assert_status 6
	[[ "$stderr" == *'the PSK of device "p3" (generation 1, slot 2) is damaged'* ]]
	run --separate-stderr "$PROV" export --device p1 --what psk --reveal
	assert_status 0
	[ "$output" = "$p1" ]
	before=$(audit_count "AND detail LIKE '%psk-table%'")
	for f in gnutls csv json; do
		run --separate-stderr "$PROV" export psk-table --format $f --reveal --out "$T/table.$f"
		echo "$f -> $status"
		echo "$stderr"
		assert_status 12
		[ "$(stat -c %a "$T/table.$f")" = 600 ]
		[ "$(echo "$stderr" | wc -l)" = 4 ]
		[ "$(echo "$stderr" | sed -n 1p)" = "prov: export: psk-table: row left out: the PSK of device \"p2\" (generation 1, slot 2) is damaged: its sealed value does not open under this factory's key-encryption key$damaged" ]
		[[ "$(echo "$stderr" | sed -n 2p)" == 'prov: export: psk-table: row left out: the PSK of device "p3" (generation 1, slot 2) is damaged: '* ]]
		[ "$(echo "$stderr" | sed -n 3p)" = 'prov: export: psk-table: row left out: the PSK of device "p5" (generation 1, slot 2) is damaged: its sealed value is malformed (200 bytes, more than the 93 of a 64-byte PSK)' ]
		[ "$(echo "$stderr" | sed -n 4p)" = "prov: export: psk-table: 3 damaged rows left out (named above); 2 rows written" ]
	done
	[ "$(cat "$T/table.gnutls")" = "$p1
$p4" ]
	$PY - "$T/table.csv" "$T/table.json" "$p1" "$p4" <<-'EOF'
	import csv, json, sys
	want = [(a.split(":")[0], a.split(":")[1], a.split(":")[0]) for a in sys.argv[3:]]
	rows = list(csv.DictReader(open(sys.argv[1], newline="")))
	assert [(r["identity"], r["key_hex"], r["device"]) for r in rows] == want, rows
	rows = json.load(open(sys.argv[2]))
	assert [(r["identity"], r["key_hex"], r["device"]) for r in rows] == want, rows
	EOF
	# Stdout too, and the audit records what was left out.
	run --separate-stderr "$PROV" export psk-table --format gnutls --reveal
	assert_status 12
	[ "$output" = "$p1
$p4" ]
	[ "$(audit_count "AND detail LIKE '%psk-table%'")" = $((before + 4)) ]
	[ "$(db "SELECT detail FROM audit ORDER BY seq DESC LIMIT 1")" = '{"count":2,"format":"gnutls","left_out":3,"what":"psk-table"}' ]
}

@test "export: a damaged row's device ID is escaped in the message, whatever the database holds" {
	sqlite_only "rows rewritten with python's sqlite3"
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p1 >/dev/null
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p2 >/dev/null
	# The ID in the database (not one prov would mint) no longer matches the
	# sealed row's AAD: the row is damaged, and named with its bytes escaped.
	$PY - "$PROV_HOME/prov.db" <<-'EOF'
	import sqlite3, sys
	db = sqlite3.connect(sys.argv[1])
	bad = "p2\x1b]0;owned\x07\nprov: installed OK"
	db.execute("UPDATE devices SET id = ? WHERE id = 'p2'", (bad,))
	db.execute("UPDATE psks SET device_id = ? WHERE device_id = 'p2'", (bad,))
	db.commit()
	EOF
	run --separate-stderr "$PROV" export psk-table --format csv --reveal
	assert_status 12
	echo "$stderr"
	[ "$(echo "$stderr" | wc -l)" = 2 ]
	[[ "$(echo "$stderr" | sed -n 1p)" == 'prov: export: psk-table: row left out: the PSK of device "p2\x1b]0;owned\x07\nprov: installed OK" (generation 1, slot 2) is damaged: '* ]]
	[ "$(printf '%s' "$stderr" | tr -d '\n' | LC_ALL=C tr -d '[:print:]' | wc -c)" = 0 ]
	[ "${lines[0]}" = "identity,key_hex,device" ]
	[ "${#lines[@]}" = 2 ]
}

@test "export psk-table --format csv: identities a spreadsheet would run as formulas are neutralised (python csv)" {
	sqlite_only "rows read with python's sqlite3"
	make_factory
	for pfx in '=' '+' '-' '@' ''; do
		$PY - "$TPL/coaps-psk.json" "$T/tpl.json" "$pfx" <<-'EOF'
		import json, sys
		t = json.load(open(sys.argv[1]))
		t["credentials"][0]["identity"] = sys.argv[3] + "{id}"
		json.dump(t, open(sys.argv[2], "w"))
		EOF
		"$PROV" mint --template "$T/tpl.json" --device "d$(printf '%s' "$pfx" | od -An -tx1 | tr -d ' ')" >/dev/null
	done
	# Tab and CR cannot come from a template (printable ASCII); put them in a row.
	"$PROV" mint --template "$TPL/coaps-psk.json" --device dtab >/dev/null
	"$PROV" mint --template "$TPL/coaps-psk.json" --device dcr >/dev/null
	db "UPDATE psks SET identity = char(9) || 'SUM(1)' WHERE device_id = 'dtab'"
	db "UPDATE psks SET identity = char(13) || '=1+1' WHERE device_id = 'dcr'"
	"$PROV" export psk-table --format gnutls --reveal >"$T/g"
	"$PROV" export psk-table --format csv --reveal >"$T/t.csv"
	cat "$T/t.csv"
	grep -qx "\"'=d3d\",[0-9a-f]\{32\},d3d" "$T/t.csv"
	grep -qx '"d",[0-9a-f]\{32\},d' "$T/t.csv"
	run $PY - "$T/t.csv" "$PROV_HOME/prov.db" <<-'EOF'
	import csv, sqlite3, sys
	rows = list(csv.DictReader(open(sys.argv[1], newline="")))
	db = sqlite3.connect(sys.argv[2])
	want = {}
	for dev, ident in db.execute("SELECT device_id, CAST(identity AS TEXT) FROM psks"):
	    want[dev] = ("'" + ident) if ident[:1] in ("=", "+", "-", "@", "\t", "\r") else ident
	assert len(rows) == 7 == len(want), (rows, want)
	for r in rows:
	    assert r["identity"] == want[r["device"]], (r, want[r["device"]])
	    for cell in r.values():
	        assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), r
	    assert len(r["key_hex"]) == 32
	print("%d rows, %d neutralised" % (len(rows), sum(r["identity"].startswith("'") for r in rows)))
	EOF
	echo "$output"
	assert_status 0
	[ "$output" = "7 rows, 6 neutralised" ]
	# Only CSV is for spreadsheets: gnutls and JSON keep the identity as it is.
	grep -q '^=d3d:' "$T/g"
	"$PROV" export psk-table --format json --reveal | $PY -c '
import json, sys
assert "=d3d" in [r["identity"] for r in json.load(sys.stdin)]'
}

# A TLS 1.2 PSK handshake between a gnutls client (identity, hex key) and a
# gnutls server that reads a PSK password file, over a socketpair: gnutls, not
# we, decides whether the file prov wrote holds that identity with that key.
build_psk_handshake() {
	cat >"$T/psk_handshake.c" <<-'CEOF'
	/* psk_handshake PSKFILE IDENTITY HEXKEY: a TLS 1.2 PSK handshake between a
	 * gnutls client (IDENTITY, HEXKEY) and a gnutls server reading PSKFILE, over a
	 * socketpair.  Exit 0 when both sides complete it. */
	#include <gnutls/gnutls.h>
	#include <signal.h>
	#include <stdio.h>
	#include <string.h>
	#include <sys/socket.h>
	#include <sys/wait.h>
	#include <unistd.h>

	#define PRIO "NORMAL:-VERS-ALL:+VERS-TLS1.2:-KX-ALL:+PSK"

	static int side(int fd, int server, char **argv)
	{
		gnutls_session_t s;
		gnutls_psk_server_credentials_t sc = NULL;
		gnutls_psk_client_credentials_t cc = NULL;
		int rc;

		if (gnutls_init(&s, server ? GNUTLS_SERVER : GNUTLS_CLIENT) < 0)
			return 2;
		gnutls_priority_set_direct(s, PRIO, NULL);
		if (server) {
			gnutls_psk_allocate_server_credentials(&sc);
			if (gnutls_psk_set_server_credentials_file(sc, argv[1]) < 0)
				return 3;
			gnutls_credentials_set(s, GNUTLS_CRD_PSK, sc);
		} else {
			gnutls_datum_t key = {(unsigned char *)argv[3], (unsigned)strlen(argv[3])};
			gnutls_psk_allocate_client_credentials(&cc);
			if (gnutls_psk_set_client_credentials(cc, argv[2], &key, GNUTLS_PSK_KEY_HEX) < 0)
				return 4;
			gnutls_credentials_set(s, GNUTLS_CRD_PSK, cc);
		}
		gnutls_transport_set_int(s, fd);
		do
			rc = gnutls_handshake(s);
		while (rc < 0 && gnutls_error_is_fatal(rc) == 0);
		if (rc < 0)
			fprintf(stderr, "%s: %s\n", server ? "server" : "client", gnutls_strerror(rc));
		else if (server)
			printf("server saw identity %s\n", gnutls_psk_server_get_username(s));
		fflush(stdout);
		if (rc == 0)
			gnutls_bye(s, GNUTLS_SHUT_WR);
		close(fd);
		return rc < 0 ? 1 : 0;
	}

	int main(int argc, char **argv)
	{
		int sv[2], st = 0, rc;
		pid_t pid;

		signal(SIGPIPE, SIG_IGN);
		if (argc != 4 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
			return 2;
		pid = fork();
		if (pid == 0) {
			close(sv[1]);
			_exit(side(sv[0], 1, argv));
		}
		close(sv[0]);
		rc = side(sv[1], 0, argv);
		waitpid(pid, &st, 0);
		return rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
	}
	CEOF
	cc -std=c99 -Wall -Werror -o "$T/psk_handshake" "$T/psk_handshake.c" -lgnutls
}

@test "export psk-table --format gnutls: gnutls itself accepts every device's key, ':' identities included" {
	[ -e /usr/include/gnutls/gnutls.h ] || skip "libgnutls28-dev not installed"
	make_factory
	for d in p1 urn:imei:356938035643809 p2; do
		"$PROV" mint --template "$TPL/coaps-psk.json" --device "$d" >/dev/null
	done
	"$PROV" export psk-table --format gnutls --reveal --out "$T/passwd.psk"
	cat "$T/passwd.psk"
	[ "$(wc -l <"$T/passwd.psk")" = 3 ]
	# An identity with ':' is written hex-encoded after '#', as gnutls reads it.
	grep -qx "#$(printf 'urn:imei:356938035643809' | od -An -v -tx1 | tr -d ' \n'):[0-9a-f]\{32\}" "$T/passwd.psk"
	build_psk_handshake
	for d in p1 urn:imei:356938035643809 p2; do
		line=$("$PROV" export --device "$d" --what psk --reveal)
		run "$T/psk_handshake" "$T/passwd.psk" "$d" "${line##*:}"
		echo "$d: $output"
		assert_status 0
		assert_output_has "server saw identity $d"
		# With another key the handshake fails: the check can fail.
		run "$T/psk_handshake" "$T/passwd.psk" "$d" 00112233445566778899aabbccddeeff
		[ "$status" -ne 0 ]
	done
}
