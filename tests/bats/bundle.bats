#!/usr/bin/env bats
# prov bundle and prov inspect, read back by tests/py/bundle_reader.py
# (python3-cbor2 + python3-cryptography: its own Sig_structure, its own ECDH-ES,
# HKDF and AES-CCM).

load helper

reader() {
	"$PY" "$REPO/tests/py/bundle_reader.py" "$@"
}

# jq-free JSON field access: json_get FILE|- EXPR (python expression on `d`)
json_get() {
	"$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

setup_psk_device() {
	make_factory
	make_device_key dev
	"$PROV" mint --template "$TPL/coaps-psk.json" --device psk-1 --recipient-key "$T/dev.pub.pem" >/dev/null
}

@test "bundle: PSK travels encrypted to the device key and decrypts to the minted PSK" {
	setup_psk_device
	run "$PROV" bundle --device psk-1 --out "$T/b.cbor"
	assert_status 0
	run reader "$T/b.cbor" "$PROV_HOME/signer.pub.pem" "$T/dev.key"
	assert_status 0
	echo "$output" > "$T/r.json"
	[ "$(json_get 'd["device"]' < "$T/r.json")" = psk-1 ]
	[ "$(json_get 'd["counter"]' < "$T/r.json")" = 1 ]
	[ "$(json_get 'd["entries"][0]["type"]' < "$T/r.json")" = 4 ]
	[ "$(json_get '(d["recipient_kid_ok"], d["secrets_encrypted"])' < "$T/r.json")" = "(True, True)" ]
	secret=$(json_get 'd["entries"][0]["secret_hex"]' < "$T/r.json")
	ident=$(json_get 'd["entries"][0]["identity"]' < "$T/r.json")
	[ "$("$PROV" export --device psk-1 --what psk --reveal)" = "$ident:$secret" ]
	# the TLS profile of coaps-psk: DTLS, 0xC0A8
	[ "$(json_get 'd["tls"]["3"]' < "$T/r.json")" = "[49320]" ]
	[ "$(json_get 'd["tls"]["1"]' < "$T/r.json")" = 1 ]
	# mode 0600, no temporary files
	[ "$(stat -c %a "$T/b.cbor")" = 600 ]
	assert_no_tmp_files "$T"
}

@test "bundle: the PSK's bytes do not appear in the bundle file" {
	setup_psk_device
	"$PROV" bundle --device psk-1 --out "$T/b.cbor" >/dev/null
	hex=$("$PROV" export --device psk-1 --what psk --reveal | cut -d: -f2)
	run "$PY" -c "import sys; sys.exit(bytes.fromhex('$hex') in open('$T/b.cbor','rb').read())"
	assert_status 0
}

@test "bundle: device certificate from a CSR, then the CA chain; no secret, no recipient needed" {
	make_factory
	make_device_key d1
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device d1 --csr "$T/d1.csr" >/dev/null
	run "$PROV" bundle --device d1 --out "$T/b.cbor" --json
	assert_status 0
	[ "$(echo "$output" | json_get 'd["secrets"]')" = 0 ]
	run reader "$T/b.cbor" "$PROV_HOME/signer.pub.pem"
	assert_status 0
	echo "$output" > "$T/r.json"
	[ "$(json_get 'd["entries"][0]["type"]' < "$T/r.json")" = 2 ]
	[ "$(json_get 'd["entries"][0]["alg"]' < "$T/r.json")" = -7 ]
	# value = certificate DER || CA DER, checked against openssl's DER
	"$PROV" export --device d1 --what cert --der --out "$T/c.der"
	openssl x509 -in "$PROV_HOME/ca.pem" -outform DER -out "$T/ca.der"
	want=$(cat "$T/c.der" "$T/ca.der" | sha256sum | cut -d' ' -f1)
	[ "$(json_get 'd["entries"][0]["value_sha256"]' < "$T/r.json")" = "$want" ]
}

@test "bundle: host-made key and PSK travel in one COSE_Encrypt; the key matches the certificate" {
	make_factory
	make_device_key rcpt
	"$PROV" mint --template "$REPO/bench/mint-bench.json" --device h1 --recipient-key "$T/rcpt.pub.pem" >/dev/null
	"$PROV" bundle --device h1 --out "$T/b.cbor" >/dev/null
	run reader "$T/b.cbor" "$PROV_HOME/signer.pub.pem" "$T/rcpt.key"
	assert_status 0
	echo "$output" > "$T/r.json"
	# entries sorted by (slot, type): slot 1 device-cert (2), private-key (3); slot 2 psk (4)
	[ "$(json_get '[(e["slot"], e["type"]) for e in d["entries"]]' < "$T/r.json")" = "[(1, 2), (1, 3), (2, 4)]" ]
	# secret indices follow entry order; one encrypted container for both
	[ "$(json_get '[e.get("secret_index") for e in d["entries"]]' < "$T/r.json")" = "[None, 0, 1]" ]
	[ "$("$PY" -c "import cbor2,sys; p=cbor2.loads(cbor2.loads(open(sys.argv[1],'rb').read()).value[2]); print(p[8].tag, len(p[8].value[3]))" "$T/b.cbor")" = "96 1" ]
	scalar=$(json_get 'd["entries"][1]["secret_hex"]' < "$T/r.json")
	"$PROV" export --device h1 --what key --reveal --out "$T/h1.key"
	want=$("$PY" -c "
from cryptography.hazmat.primitives import serialization
k = serialization.load_pem_private_key(open('$T/h1.key','rb').read(), None)
print('%064x' % k.private_numbers().private_value)")
	[ "$scalar" = "$want" ]
	# and that key is the certificate's
	"$PROV" export --device h1 --what cert --out "$T/h1.pem"
	[ "$(openssl x509 -in "$T/h1.pem" -noout -pubkey)" = "$(openssl pkey -in "$T/h1.key" -pubout)" ]
	psk=$(json_get 'd["entries"][2]["secret_hex"]' < "$T/r.json")
	[ "$("$PROV" export --device h1 --what psk --reveal)" = "h1:$psk" ]
}

@test "bundle: the counter grows with every bundle and is recorded" {
	setup_psk_device
	for i in 1 2 3; do
		"$PROV" bundle --device psk-1 --out "$T/b$i.cbor" >/dev/null
		[ "$(reader "$T/b$i.cbor" "$PROV_HOME/signer.pub.pem" | json_get 'd["counter"]')" = "$i" ]
	done
	[ "$(db "SELECT bundle_counter, status FROM devices WHERE id = 'psk-1'")" = "3|bundled" ]
	[ "$(db "SELECT group_concat(counter) FROM bundles WHERE device_id = 'psk-1'")" = "1,2,3" ]
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'bundle' AND device_id = 'psk-1'")" = 3 ]
	# the recorded digest is the file's
	[ "$(db 'SELECT sha256 FROM bundles WHERE counter = 3')" = "$(sha256sum "$T/b3.cbor" | cut -d' ' -f1)" ]
	# the database refuses a counter that does not grow
	run db "UPDATE devices SET bundle_counter = 2 WHERE id = 'psk-1'"
	[ "$status" -ne 0 ]
}

@test "bundle: --nonce is bound into the payload; bad nonces are usage errors" {
	setup_psk_device
	"$PROV" bundle --device psk-1 --out "$T/b.cbor" --nonce 0102030405060708 >/dev/null
	[ "$(reader "$T/b.cbor" "$PROV_HOME/signer.pub.pem" | json_get 'd["nonce"]')" = 0102030405060708 ]
	for bad in 01020304 zz02030405060708 010203040506070 \
		00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00; do
		run "$PROV" bundle --device psk-1 --out "$T/x.cbor" --nonce "$bad"
		assert_status 2
		assert_output_has "--nonce"
	done
	[ ! -e "$T/x.cbor" ]
	[ "$(db 'SELECT bundle_counter FROM devices')" = 1 ]
}

@test "bundle: secrets without a recipient key are refused; nothing written, counter unchanged" {
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p2 >/dev/null
	run "$PROV" bundle --device p2 --out "$T/b.cbor"
	assert_status 2
	assert_output_has "no recipient key"
	[ ! -e "$T/b.cbor" ]
	[ "$(db 'SELECT bundle_counter FROM devices')" = 0 ]
	[ "$(db 'SELECT count(*) FROM bundles')" = 0 ]
}

@test "bundle: --insecure-plaintext-secrets warns and inspect flags the plaintext" {
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p3 >/dev/null
	run "$PROV" bundle --device p3 --out "$T/b.cbor" --insecure-plaintext-secrets
	assert_status 0
	assert_output_has "UNENCRYPTED"
	run "$PROV" inspect "$T/b.cbor" --json
	assert_status 0
	[ "$(echo "$output" | json_get 'd["entries"][0]["plaintext_secret"]')" = True ]
	# the JSON does not print the secret
	hex=$("$PROV" export --device p3 --what psk --reveal | cut -d: -f2)
	case "$output" in *"$hex"*) false ;; esac
	[ "$(db "SELECT json_extract(detail, '\$.plaintext_secrets') FROM audit WHERE action = 'bundle'")" = 1 ]
}

@test "bundle: --recipient-key at bundle time overrides the registered key" {
	setup_psk_device
	make_device_key other
	"$PROV" bundle --device psk-1 --out "$T/b.cbor" --recipient-key "$T/other.pub.pem" >/dev/null
	run reader "$T/b.cbor" "$PROV_HOME/signer.pub.pem" "$T/other.key"
	assert_status 0
	run reader "$T/b.cbor" "$PROV_HOME/signer.pub.pem" "$T/dev.key"
	[ "$status" -ne 0 ]
	# a P-384 recipient cannot do ECDH-ES on P-256
	make_device_key big P-384
	run "$PROV" bundle --device psk-1 --out "$T/c.cbor" --recipient-key "$T/big.pub.pem"
	assert_status 3
	assert_output_has "P-256"
	[ ! -e "$T/c.cbor" ]
}

@test "bundle: unknown device (4), unwritable output (8): nothing recorded" {
	setup_psk_device
	run "$PROV" bundle --device nobody --out "$T/b.cbor"
	assert_status 4
	assert_output_has "unknown device nobody"
	run "$PROV" bundle --device psk-1 --out "$T/no/such/dir/b.cbor"
	assert_status 8
	assert_output_has "cannot write"
	[ "$(db 'SELECT bundle_counter FROM devices')" = 0 ]
	[ "$(db 'SELECT count(*) FROM bundles')" = 0 ]
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'bundle'")" = 0 ]
	run "$PROV" bundle --device psk-1
	assert_status 2
}

@test "bundle: a bundle over the size limit is refused (3), nothing written" {
	make_factory
	cat > "$T/big.json" <<-JSON
	{"name": "big", "protocol": "https",
	 "credentials": [{"type": "trust", "slot": 1, "file": "/etc/ssl/certs/ca-certificates.crt"}]}
	JSON
	"$PROV" mint --template "$T/big.json" --device b1 >/dev/null
	run "$PROV" bundle --device b1 --out "$T/b.cbor"
	assert_status 3
	assert_output_has "exceeds"
	[ ! -e "$T/b.cbor" ]
	[ "$(db 'SELECT bundle_counter FROM devices')" = 0 ]
}

@test "bundle: a trust credential carries exactly the template's anchors" {
	make_factory
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/r1.key" \
		-subj /CN=root1 -days 30 -out "$T/r1.pem" 2>/dev/null
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/r2.key" \
		-subj /CN=root2 -days 30 -out "$T/r2.pem" 2>/dev/null
	cat "$T/r1.pem" "$T/r2.pem" > "$T/roots.pem"
	cat > "$T/t.json" <<-JSON
	{"name": "trusty", "protocol": "https",
	 "credentials": [{"type": "trust", "slot": 5, "file": "roots.pem"}]}
	JSON
	"$PROV" mint --template "$T/t.json" --device t1 >/dev/null
	"$PROV" bundle --device t1 --out "$T/b.cbor" >/dev/null
	openssl x509 -in "$T/r1.pem" -outform DER -out "$T/r1.der"
	openssl x509 -in "$T/r2.pem" -outform DER -out "$T/r2.der"
	want=$(cat "$T/r1.der" "$T/r2.der" | sha256sum | cut -d' ' -f1)
	run reader "$T/b.cbor" "$PROV_HOME/signer.pub.pem"
	assert_status 0
	[ "$(echo "$output" | json_get '(d["entries"][0]["slot"], d["entries"][0]["type"], d["entries"][0]["value_sha256"])')" = "(5, 1, '$want')" ]
	# the anchors were stored at mint: removing the file does not change later bundles
	rm "$T/roots.pem"
	"$PROV" bundle --device t1 --out "$T/b2.cbor" >/dev/null
	[ "$(reader "$T/b2.cbor" "$PROV_HOME/signer.pub.pem" | json_get 'd["entries"][0]["value_sha256"]')" = "$want" ]
}

@test "bundle: rpk template carries the device SPKI and the pinned server SPKI" {
	make_factory
	make_device_key dev
	make_device_key server
	spki=$(openssl pkey -pubin -in "$T/server.pub.pem" -outform DER | base64 -w0)
	cat > "$T/rpk.json" <<-JSON
	{"name": "rpk", "protocol": "coaps", "device_key": {"type": "p256", "source": "device"},
	 "credentials": [{"type": "rpk", "slot": 3, "server_spki": "$spki"}]}
	JSON
	"$PROV" mint --template "$T/rpk.json" --device r1 --pubkey "$T/dev.pub.pem" >/dev/null
	"$PROV" bundle --device r1 --out "$T/b.cbor" >/dev/null
	run reader "$T/b.cbor" "$PROV_HOME/signer.pub.pem"
	assert_status 0
	own=$(openssl pkey -pubin -in "$T/dev.pub.pem" -outform DER | sha256sum | cut -d' ' -f1)
	peer=$(openssl pkey -pubin -in "$T/server.pub.pem" -outform DER | sha256sum | cut -d' ' -f1)
	[ "$(echo "$output" | json_get '[(e["type"], e["value_sha256"]) for e in d["entries"]]')" = "[(5, '$own'), (6, '$peer')]" ]
}

@test "inspect: valid bundle, JSON shape and human form" {
	setup_psk_device
	"$PROV" bundle --device psk-1 --out "$T/b.cbor" --nonce 0011223344556677 >/dev/null
	run "$PROV" inspect "$T/b.cbor" --json
	assert_status 0
	echo "$output" > "$T/i.json"
	[ "$(json_get '(d["signature"]["status"], d["signature"]["alg"])' < "$T/i.json")" = "('valid', 'ES256')" ]
	[ "$(json_get 'd["signature"]["kid"]' < "$T/i.json")" = "$(openssl pkey -pubin -in "$PROV_HOME/signer.pub.pem" -outform DER | sha256sum | cut -c1-16)" ]
	[ "$(json_get '(d["entries"][0]["encrypted"], d["entries"][0]["secret_index"])' < "$T/i.json")" = "(True, 0)" ]
	[ "$(json_get '(d["secrets"]["content_alg"], d["secrets"]["count"])' < "$T/i.json")" = "('AES-CCM-16-64-128', 1)" ]
	[ "$(json_get 'd["secrets"]["recipient_kid"]' < "$T/i.json")" = "$(openssl pkey -pubin -in "$T/dev.pub.pem" -outform DER | sha256sum | cut -c1-16)" ]
	[ "$(json_get 'd["tls"]["cipher_suites"]' < "$T/i.json")" = "['TLS_PSK_WITH_AES_128_CCM_8']" ]
	[ "$(json_get '(d["nonce"], d["counter"], d["device"])' < "$T/i.json")" = "('0011223344556677', 1, 'psk-1')" ]
	run "$PROV" inspect "$T/b.cbor"
	assert_status 0
	assert_output_has "signature: valid"
	assert_output_has "secret 0, encrypted"
	assert_output_has "encrypted AES-CCM-16-64-128"
}

@test "inspect: every byte of a bundle with one bit flipped is rejected" {
	setup_psk_device
	"$PROV" bundle --device psk-1 --out "$T/b.cbor" >/dev/null
	size=$(stat -c %s "$T/b.cbor")
	"$PY" - "$T/b.cbor" "$T/flip" <<-'PY'
	import sys
	b = open(sys.argv[1], "rb").read()
	for i in range(len(b)):
	    m = bytearray(b); m[i] ^= 1 << (i % 8)
	    open("%s-%04d" % (sys.argv[2], i), "wb").write(m)
	PY
	accepted=0 crashed=0
	for f in "$T"/flip-*; do
		"$PROV" inspect "$f" >/dev/null 2>&1 && rc=0 || rc=$?
		case $rc in 0) accepted=$((accepted + 1)) ;; 3|7) ;; *) crashed=$((crashed + 1)) ;; esac
	done
	echo "# $size flips: $accepted accepted, $crashed other exits" >&3
	[ "$accepted" = 0 ]
	[ "$crashed" = 0 ]
}

@test "inspect: truncations, garbage and another factory's bundle" {
	setup_psk_device
	"$PROV" bundle --device psk-1 --out "$T/b.cbor" >/dev/null
	for n in 0 1 2 10 100 200; do
		head -c "$n" "$T/b.cbor" > "$T/t.cbor"
		run "$PROV" inspect "$T/t.cbor"
		assert_status 3
	done
	printf 'not a bundle at all' > "$T/g.cbor"
	run "$PROV" inspect "$T/g.cbor"
	assert_status 3
	assert_output_has "not a bundle"
	run "$PROV" inspect "$T/missing.cbor"
	assert_status 4
	# another factory: signature does not verify (7); with --signer of the right factory, 0
	PROV_DB= "$PROV" init --home "$T/other" >/dev/null
	run "$PROV" inspect --home "$T/other" "$T/b.cbor"
	assert_status 7
	assert_output_has "does not verify"
	run "$PROV" inspect --home "$T/other" --signer "$PROV_HOME/signer.pub.pem" "$T/b.cbor"
	assert_status 0
}

@test "inspect: a payload re-signed by the right key but breaking the CDDL is malformed (3)" {
	setup_psk_device
	"$PROV" bundle --device psk-1 --out "$T/b.cbor" >/dev/null
	# Re-sign with the factory's own signer key payloads that violate bundle.cddl.
	for defect in unknown-key version-2 no-entries entries-unsorted psk-without-identity counter-zero \
		secret-index-wrong secrets-missing secret-as-bytes; do
		"$PY" - "$T/b.cbor" "$PROV_HOME/signer.key" "$defect" "$T/bad.cbor" <<-'PY'
		import sys, cbor2
		from cryptography.hazmat.primitives import hashes, serialization
		from cryptography.hazmat.primitives.asymmetric import ec
		from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
		src, keyf, defect, out = sys.argv[1:]
		m = cbor2.loads(open(src, "rb").read())
		prot, unprot, payload, sig = m.value
		p = cbor2.loads(payload)
		if defect == "unknown-key": p[9] = 1
		if defect == "version-2": p[1] = 2
		if defect == "no-entries": p[6] = []
		if defect == "entries-unsorted": p[6] = [{**p[6][0], 1: 9}, p[6][0]]
		if defect == "psk-without-identity": del p[6][0][6]
		if defect == "counter-zero": p[3] = 0
		if defect == "secret-index-wrong": p[6][0][5] = 1
		if defect == "secrets-missing": del p[8]
		if defect == "secret-as-bytes": p[6][0][5] = b"0123456789abcdef"
		payload = cbor2.dumps(p, canonical=True)
		key = serialization.load_pem_private_key(open(keyf, "rb").read(), None)
		der = key.sign(cbor2.dumps(["Signature1", prot, b"", payload]), ec.ECDSA(hashes.SHA256()))
		r, s = decode_dss_signature(der)
		sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
		open(out, "wb").write(cbor2.dumps(cbor2.CBORTag(18, [prot, unprot, payload, sig])))
		PY
		run "$PROV" inspect "$T/bad.cbor"
		echo "# $defect -> $status: $output" >&3
		assert_status 3
		# and the independent CDDL reader refuses it too
		run "$PY" "$REPO/tests/py/bundle_cddl.py" "$T/bad.cbor"
		[ "$status" -eq 1 ]
	done
}

@test "mint --bundles records each bundle; export --what bundle returns it byte for byte" {
	make_factory
	make_device_key dev
	run "$PROV" mint --template "$REPO/bench/mint-bench.json" --count 5 --id-format 'db-%02d' \
		--recipient-key "$T/dev.pub.pem" --bundles --json
	assert_status 0
	[ "$(echo "$output" | json_get '[d["bundle_counter"] for d in d["devices"]]')" = "[1, 1, 1, 1, 1]" ]
	[ "$(db 'SELECT count(*) FROM bundles WHERE length(data) = size')" = 5 ]
	"$PROV" export --device db-03 --what bundle --out "$T/b.cbor"
	[ "$(stat -c %a "$T/b.cbor")" = 600 ]
	[ "$(sha256sum < "$T/b.cbor" | cut -d' ' -f1)" = "$(db "SELECT sha256 FROM bundles WHERE device_id = 'db-03'")" ]
	run reader "$T/b.cbor" "$PROV_HOME/signer.pub.pem" "$T/dev.key"
	assert_status 0
	[ "$(echo "$output" | json_get 'd["device"]')" = db-03 ]
	# a later prov bundle becomes the latest
	"$PROV" bundle --device db-03 --out "$T/b2.cbor" --recipient-key "$T/dev.pub.pem" >/dev/null
	"$PROV" export --device db-03 --what bundle > "$T/latest.cbor"
	cmp "$T/b2.cbor" "$T/latest.cbor"
	# --bundles is for batches; a device without a bundle has none to export
	run "$PROV" mint --template "$TPL/coaps-psk.json" --device single --bundles
	assert_status 2
	"$PROV" mint --template "$TPL/coaps-psk.json" --device nob --recipient-key "$T/dev.pub.pem" >/dev/null
	run "$PROV" export --device nob --what bundle
	assert_status 4
	assert_output_has "no bundle yet"
}

@test "a lab bundle with plaintext secrets is never stored in the database" {
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device lab >/dev/null
	"$PROV" bundle --device lab --out "$T/lab.cbor" --insecure-plaintext-secrets 2>/dev/null
	[ "$(db "SELECT length(data) FROM bundles WHERE device_id = 'lab'")" = 0 ]
	run "$PROV" export --device lab --what bundle
	assert_status 4
	assert_output_has "plaintext secrets"
	# the PSK bytes appear nowhere in the database files (main and WAL)
	hex=$("$PROV" export --device lab --what psk --reveal | cut -d: -f2)
	if [ -n "${PROV_TEST_DB:-}" ]; then db .dump > "$T/all-db"; else cat "$PROV_HOME"/prov.db* > "$T/all-db"; fi
	[ "$(stat -c %s "$T/all-db")" -gt 0 ]
	run "$PY" -c "import sys; sys.exit(bytes.fromhex('$hex') in open('$T/all-db','rb').read())"
	assert_status 0
}

@test "every kind of bundle conforms to schemas/bundle.cddl (independent python reader)" {
	make_factory
	make_device_key dev
	make_device_key server
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/r.key" \
		-subj /CN=root -days 30 -out "$T/roots.pem" 2>/dev/null
	spki=$(openssl pkey -pubin -in "$T/server.pub.pem" -outform DER | base64 -w0)
	cat > "$T/all.json" <<-JSON
	{"name": "all", "protocol": "lwm2m", "device_key": {"type": "p256", "source": "device-or-host"},
	 "credentials": [
	  {"type": "certificate", "slot": 1, "subject": "CN={id}", "validity": {"days": 30}, "include_chain": true},
	  {"type": "rpk", "slot": 1, "server_spki": "$spki"},
	  {"type": "psk", "slot": 2, "bits": 256, "identity": "id-{id}"},
	  {"type": "trust", "slot": 3, "file": "roots.pem"}],
	 "tls": {"transport": "dtls", "versions": ["1.2"], "cipher_suites": ["TLS_PSK_WITH_AES_128_CCM_8"],
	         "record_size_limit": 512, "resumption": {"allowed": false}, "time_check": "floor",
	         "time_floor": "2026-01-01T00:00:00Z", "server_name": "lwm2m.example"}}
	JSON
	"$PROV" mint --template "$T/all.json" --device host-made --recipient-key "$T/dev.pub.pem" >/dev/null
	"$PROV" mint --template "$T/all.json" --device from-csr --csr "$T/dev.csr" >/dev/null
	"$PROV" mint --template "$TPL/coaps-psk.json" --device psk --recipient-key "$T/dev.pub.pem" >/dev/null
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device mqtt --csr "$T/dev.csr" >/dev/null
	"$PROV" mint --template "$TPL/coaps-psk.json" --device lab >/dev/null
	"$PROV" bundle --device host-made --out "$T/1.cbor" >/dev/null
	"$PROV" bundle --device from-csr --out "$T/2.cbor" --nonce 00112233445566778899aabbccddeeff >/dev/null
	"$PROV" bundle --device psk --out "$T/3.cbor" >/dev/null
	"$PROV" bundle --device mqtt --out "$T/4.cbor" >/dev/null
	"$PROV" bundle --device lab --out "$T/5.cbor" --insecure-plaintext-secrets 2>/dev/null
	run "$PY" "$REPO/tests/py/bundle_cddl.py" "$T"/[1-5].cbor
	echo "$output" | sed 's/^/# /' >&3
	assert_status 0
	[ "$(echo "$output" | grep -c '^ok ')" = 5 ]
	# the host-made one carries every entry type but the compact store, with two secrets
	run reader "$T/1.cbor" "$PROV_HOME/signer.pub.pem" "$T/dev.key"
	assert_status 0
	[ "$(echo "$output" | json_get '[(e["slot"], e["type"]) for e in d["entries"]]')" = \
	  "[(1, 2), (1, 3), (1, 5), (1, 6), (2, 4), (3, 1)]" ]
	[ "$(echo "$output" | json_get 'len(d["entries"][4]["secret_hex"])')" = 64 ]
}
