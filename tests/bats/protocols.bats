#!/usr/bin/env bats
# Protocol templates: every shipped template checks, mints and bundles; the
# LwM2M Security object export, field by field against the database and an
# independent reading (openssl, python3-cryptography); --trust on mint and
# bundle; template rules for the protocol fields; bad inputs.

load helper

setup_file() {
	export SHIPPED="coaps-psk https-client lwm2m-cert lwm2m-psk lwm2m-rpk mqtt-mtls thread-joiner"
}

# inspect a bundle as JSON
insp() { "$PROV" inspect "$1" --json; }

@test "every shipped template checks, mints, bundles; the bundle carries its slots and TLS profile" {
	make_factory
	make_device_key dev
	for t in $SHIPPED; do
		run "$PROV" template check "$TPL/$t.json"
		assert_status 0
		run "$PROV" mint --template "$TPL/$t.json" --device "d-$t" --recipient-key "$T/dev.pub.pem"
		assert_status 0
		run "$PROV" bundle --device "d-$t" --out "$T/$t.cbor"
		assert_status 0
		run insp "$T/$t.cbor"
		assert_status 0
		echo "$output" > "$T/$t.json"
		# the profile in the bundle is the template's
		want=$(jq -c '[.tls.versions, .tls.cipher_suites]' "$TPL/$t.json")
		got=$(jq -c '[[.tls.versions[] | if . == 771 or . == "1.2" or . == "TLS 1.2" then "1.2" else "1.3" end], .tls.cipher_suites]' "$T/$t.json")
		[ "$got" = "$want" ] || { echo "$t: $got != $want" >&2; false; }
	done
	[ "$(jq -c '[.entries[] | [.slot, .type]]' "$T/lwm2m-psk.json")" = '[[10,"psk"]]' ]
	[ "$(jq -c '[.entries[] | [.slot, .type]]' "$T/lwm2m-rpk.json")" = '[[11,"private-key"],[11,"own-rpk"],[11,"peer-rpk"]]' ]
	[ "$(jq -c '[.entries[] | [.slot, .type]]' "$T/lwm2m-cert.json")" = '[[12,"device-cert"],[12,"private-key"],[12,"trust-store"]]' ]
	[ "$(jq -c '[.entries[] | [.slot, .type]]' "$T/https-client.json")" = '[[30,"trust-store"]]' ]
	[ "$(jq -c '[.entries[] | [.slot, .type]]' "$T/coaps-psk.json")" = '[[2,"psk"]]' ]
	# the shipped compact store of templates/roots/, described anchor by anchor
	[ "$(jq -r '.entries[0].anchors | length' "$T/https-client.json")" = 6 ]
	[ "$(jq -r '.entries[0].size' "$T/https-client.json")" = "$(stat -c %s "$TPL/roots/iot-roots.store")" ]
	[ "$(jq -c '.tls.transport' "$T/coaps-psk.json")" = '"dtls"' ]
}

@test "lwm2m-security, psk mode: resources against the database; the key only with --reveal, audited" {
	make_factory
	"$PROV" mint --template "$TPL/lwm2m-psk.json" --device ep-1 >/dev/null
	run "$PROV" export --device ep-1 --what lwm2m-security --json
	assert_status 0
	echo "$output" > "$T/s.json"
	[ "$(jq -c '.resources | [."0", ."1", ."2", ."10", ."16"]' "$T/s.json")" = '["coaps://lwm2m.example.com:5684",false,0,101,[49320]]' ]
	[ "$(jq -r '.resources."5"' "$T/s.json")" = null ]
	[ "$(jq -r '"\(.device) \(.template) \(.generation) \(.security_mode) \(.psk_identity)"' "$T/s.json")" = "ep-1 lwm2m-psk 1 psk ep-1" ]
	[ "$(jq -r '.resources."3"' "$T/s.json")" = "$(db "SELECT lower(hex(identity)) FROM psks WHERE device_id='ep-1'")" ]
	[ "$(db "SELECT count(*) FROM audit WHERE action='export'")" = 0 ]
	run "$PROV" export --device ep-1 --what lwm2m-security --json --reveal --out "$T/r.json"
	assert_status 0
	[ "$(stat -c %a "$T/r.json")" = 600 ]
	psk=$("$PROV" export --device ep-1 --what psk --reveal)
	[ "$(jq -r '.resources."5"' "$T/r.json")" = "${psk#*:}" ]
	[ "$(db "SELECT detail FROM audit WHERE action='export' ORDER BY seq LIMIT 1")" = '{"what":"lwm2m-security"}' ]
	# the plain form: one "ID VALUE" line per resource, in resource order
	run "$PROV" export --device ep-1 --what lwm2m-security
	assert_status 0
	[ "$(echo "$output" | cut -d' ' -f1 | tr '\n' ' ')" = "0 1 2 3 10 16 " ]
	# the identity in resource 3 is what the bundle carries
	"$PROV" bundle --device ep-1 --out "$T/b.cbor" --insecure-plaintext-secrets 2>/dev/null
	[ "$(insp "$T/b.cbor" | jq -r '.entries[0].identity')" = ep-1 ]
}

@test "lwm2m-security, rpk mode: 3 is the device SPKI, 4 the pinned server SPKI, 5 (host key) its PKCS#8" {
	make_factory
	make_device_key dk
	"$PROV" mint --template "$TPL/lwm2m-rpk.json" --device ep-r >/dev/null
	"$PROV" mint --template "$TPL/lwm2m-rpk.json" --device ep-d --pubkey "$T/dk.pub.pem" >/dev/null
	"$PROV" export --device ep-r --what lwm2m-security --json --reveal > "$T/r.json"
	[ "$(jq -r '.resources."2"' "$T/r.json")" = 1 ]
	[ "$(jq -c '.resources."16"' "$T/r.json")" = '[49326]' ]
	# 4: the template's server_spki, decoded independently
	[ "$(jq -r '.resources."4"' "$T/r.json")" = "$(jq -r '.credentials[0].server_spki' "$TPL/lwm2m-rpk.json" | base64 -d | od -An -v -tx1 | tr -d ' \n')" ]
	[ "$(jq -r '.resources."3"' "$T/r.json")" = "$(db "SELECT lower(hex(own_spki)) FROM raw_keys WHERE device_id='ep-r'")" ]
	# 5 is the private key of 3 (python3-cryptography)
	$PY - "$T/r.json" <<-'PY'
	import json, sys
	from cryptography.hazmat.primitives import serialization as s
	r = json.load(open(sys.argv[1]))["resources"]
	k = s.load_der_private_key(bytes.fromhex(r["5"]), None)
	spki = k.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
	assert spki.hex() == r["3"], "key mismatch"
	PY
	# a device-made key never left the device: no 5, and a note says so
	"$PROV" export --device ep-d --what lwm2m-security --json --reveal > "$T/d.json"
	[ "$(jq -r '.resources."5"' "$T/d.json")" = null ]
	[ "$(jq -r '.notes[0]' "$T/d.json")" = "resource 5: the private key was made on the device and never left it" ]
	[ "$(jq -r '.resources."3"' "$T/d.json")" = "$(openssl pkey -pubin -in "$T/dk.pub.pem" -outform DER | od -An -v -tx1 | tr -d ' \n')" ]
}

@test "lwm2m-security, certificate mode: 3 the device certificate, 4 the one pinned CA (15 = 2), else a note" {
	make_factory
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/srv-ca.key" \
		-subj "/CN=LwM2M Server CA" -days 30 -out "$T/srv-ca.pem" 2>/dev/null
	"$PROV" mint --template "$TPL/lwm2m-cert.json" --device ep-c --trust "$T/srv-ca.pem" >/dev/null
	"$PROV" export --device ep-c --what lwm2m-security --json > "$T/c.json"
	[ "$(jq -c '.resources | [."2", ."10", ."15", ."16"]' "$T/c.json")" = '[2,103,2,[49326,49195]]' ]
	[ "$(jq -r '.resources."4"' "$T/c.json")" = "$(openssl x509 -in "$T/srv-ca.pem" -outform DER | od -An -v -tx1 | tr -d ' \n')" ]
	$PY -c "import json,sys; sys.stdout.buffer.write(bytes.fromhex(json.load(open(sys.argv[1]))[\"resources\"][\"3\"]))" "$T/c.json" > "$T/dev.der"
	[ "$(openssl x509 -inform DER -in "$T/dev.der" -noout -subject -nameopt RFC2253)" = "subject=CN=ep-c,O=provkit devices" ]
	"$PROV" export --device ep-c --what cert --der --out "$T/dev2.der"
	cmp "$T/dev.der" "$T/dev2.der"
	"$PROV" mint --template "$TPL/lwm2m-cert.json" --device ep-6 >/dev/null
	"$PROV" export --device ep-6 --what lwm2m-security --json > "$T/6.json"
	[ "$(jq -r '.resources."4"' "$T/6.json")" = null ]
	[ "$(jq -r '.notes[0]' "$T/6.json")" = "resource 4: the trust slot holds 6 anchors as a compact store; give the server's CA alone with --trust to pin it" ]
}

@test "lwm2m-security: bad inputs" {
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device c1 >/dev/null
	run "$PROV" export --device c1 --what lwm2m-security
	assert_status 3
	[ "$output" = "prov: export: device c1 was minted with template coaps-psk, which fills no LwM2M Security object" ]
	run "$PROV" export --device nope --what lwm2m-security
	assert_status 4
	assert_output_has "unknown device nope"
	run "$PROV" export --device c1 --what lwm2m-security --der
	assert_status 2
	run "$PROV" export --device c1 --what lwm2m
	assert_status 2
	assert_output_has "is not cert, chain, pubkey, psk, key, bundle or lwm2m-security"
}

@test "--trust on mint: a PEM or a store replaces the template's anchors, in the bundle and the template record" {
	make_factory
	make_device_key dev
	"$PROV" trust build --from /etc/ssl/certs/ca-certificates.crt --select "ISRG Root X1" --out "$T/r.store" >/dev/null
	run "$PROV" mint --template "$TPL/https-client.json" --device h-store --trust "$T/r.store"
	assert_status 0
	"$PROV" bundle --device h-store --out "$T/s.cbor"
	insp "$T/s.cbor" > "$T/s.json"
	[ "$(jq -c '[.entries[] | [.slot, .type]]' "$T/s.json")" = '[[30,"trust-store"]]' ]
	[ "$(jq -r '.entries[0].size' "$T/s.json")" = "$(stat -c %s "$T/r.store")" ]
	$PY - "$T/s.cbor" "$T/r.store" <<-'PY'
	import sys, cbor2
	payload = cbor2.loads(cbor2.loads(open(sys.argv[1], "rb").read()).value[2])
	[e] = payload[6]
	assert (e[1], e[2], e[5]) == (30, 7, open(sys.argv[2], "rb").read()), (e[1], e[2])
	PY
	# the template recorded with the device names the file and its format
	[ "$(db "SELECT json_extract(t.json, '\$.credentials[0].format') || ' ' || json_extract(t.json, '\$.credentials[0].file') FROM templates t JOIN devices d ON d.template = t.digest WHERE d.id = 'h-store'")" = "store r.store" ]
	# a PEM root: the DER certificate; a template without a trust credential gets one in its certificate's slot
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device m1 --trust /etc/ssl/certs/ISRG_Root_X2.pem --recipient-key "$T/dev.pub.pem"
	assert_status 0
	"$PROV" bundle --device m1 --out "$T/m.cbor"
	insp "$T/m.cbor" > "$T/m.json"
	[ "$(jq -c '[.entries[] | [.slot, .type]]' "$T/m.json")" = '[[1,"ca-certs"],[1,"device-cert"],[1,"private-key"]]' ]
	[ "$(jq -r '.entries[0].certificates | map(.subject) | join(";")' "$T/m.json")" = "CN=ISRG Root X2,O=Internet Security Research Group,C=US" ]
	# without --trust the template's own six roots
	"$PROV" mint --template "$TPL/https-client.json" --device h-def >/dev/null
	[ "$(db "SELECT count(DISTINCT template) FROM devices WHERE id IN ('h-def', 'h-store')")" = 2 ]
}

@test "--trust on bundle: overrides the device's anchors and is kept for its later bundles" {
	make_factory
	"$PROV" mint --template "$TPL/https-client.json" --device h1 >/dev/null
	"$PROV" bundle --device h1 --out "$T/1.cbor"
	[ "$(insp "$T/1.cbor" | jq -r '.entries[0].anchors | length')" = 6 ]
	"$PROV" bundle --device h1 --out "$T/2.cbor" --trust /etc/ssl/certs/Amazon_Root_CA_1.pem
	insp "$T/2.cbor" > "$T/2.json"
	[ "$(jq -r '.entries[0].certificates | length' "$T/2.json")" = 1 ]
	[ "$(jq -r '.entries[0].certificates[0].subject' "$T/2.json")" = "CN=Amazon Root CA 1,O=Amazon,C=US" ]
	"$PROV" bundle --device h1 --out "$T/3.cbor"
	[ "$(insp "$T/3.cbor" | jq -r '.entries[0].value_sha256')" = "$(jq -r '.entries[0].value_sha256' "$T/2.json")" ]
	# the independent reader sees the same certificate in the signed payload
	$PY - "$T/3.cbor" /etc/ssl/certs/Amazon_Root_CA_1.pem <<-'PY'
	import sys, cbor2
	from cryptography import x509
	from cryptography.hazmat.primitives.serialization import Encoding
	msg = cbor2.loads(open(sys.argv[1], "rb").read())
	payload = cbor2.loads(msg.value[2])
	[e] = payload[6]
	want = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read()).public_bytes(Encoding.DER)
	assert (e[1], e[2], e[5]) == (30, 1, want), (e[1], e[2])
	PY
}

@test "--trust: bad inputs" {
	make_factory
	"$PROV" mint --template "$TPL/https-client.json" --device h1 >/dev/null
	run "$PROV" mint --template "$TPL/https-client.json" --device h2 --trust "$T/missing.pem"
	assert_status 4
	assert_output_has "trust file $T/missing.pem"
	echo "not a certificate" > "$T/junk.pem"
	run "$PROV" mint --template "$TPL/https-client.json" --device h2 --trust "$T/junk.pem"
	assert_status 3
	assert_output_has "trust file $T/junk.pem"
	[ "$(db "SELECT count(*) FROM devices WHERE id='h2'")" = 0 ]
	printf '\x83\x01\x40\x40' > "$T/bad.store"
	run "$PROV" bundle --device h1 --out "$T/x.cbor" --trust "$T/bad.store"
	assert_status 3
	[ ! -e "$T/x.cbor" ]
	[ "$(db "SELECT bundle_counter FROM devices WHERE id='h1'")" = 0 ]
	run "$PROV" bundle --device h1 --wipe --out "$T/w.cbor" --trust /etc/ssl/certs/ISRG_Root_X1.pem
	assert_status 2
	assert_output_has "--wipe carries no credentials: no --trust"
}

# A template variant: jq filter $1 applied to the shipped template $2, written to $T/v.json.
variant() {
	jq "$1" "$TPL/$2.json" > "$T/v.json"
	cp -r "$TPL/roots" "$T/" 2>/dev/null || true
}

@test "template rules for the protocol fields: each defect rejected with its path" {
	check() {
		run "$PROV" template check "$T/v.json"
		assert_status 3
		assert_output_has "$1"
	}
	variant '.lwm2m.short_server_id = 0' lwm2m-psk;     check '$.lwm2m.short_server_id'
	variant '.lwm2m.short_server_id = 65535' lwm2m-psk; check '$.lwm2m.short_server_id'
	variant 'del(.lwm2m.short_server_id)' lwm2m-psk;    check '$.lwm2m: missing property "short_server_id" (required unless bootstrap)'
	variant 'del(.lwm2m.short_server_id) | .lwm2m.bootstrap = true' lwm2m-psk
	run "$PROV" template check "$T/v.json"; assert_status 0
	variant '.lwm2m.server_uri = "coap://x:5683"' lwm2m-psk; check '$.lwm2m.server_uri'
	variant '.lwm2m.server_uri = "coaps+tcp://x"' lwm2m-psk; check '$.lwm2m.server_uri: coaps+tcp runs over tls, the TLS profile says dtls'
	variant '.lwm2m.security_mode = "rpk"' lwm2m-psk;   check '$.lwm2m.security_mode: "rpk" needs a rpk credential'
	variant 'del(.credentials[0].server_spki)' lwm2m-rpk; check '"rpk" needs the server'"'"'s key'
	variant 'del(.credentials[1])' lwm2m-cert;          check '"certificate" needs a trust credential'
	variant '.tls.cipher_suites = ["TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"]' lwm2m-psk; check '$.tls.cipher_suites: none for LwM2M security mode "psk"'
	variant '.protocol = "coaps"' lwm2m-psk;            check '$.lwm2m: only for protocol "lwm2m"'
	variant '.tls.versions = ["1.2"]' https-client;     check 'TLS_AES_128_GCM_SHA256 is a TLS 1.3 suite and versions lacks "1.3"'
	variant '.tls.cipher_suites = ["TLS_AES_128_GCM_SHA256"]' https-client; check '$.tls.versions: "1.2" without a TLS 1.2 cipher suite'
	variant '.tls.resumption = {"allowed": false, "ticket_lifetime": 10}' coaps-psk; check '$.tls.resumption.ticket_lifetime: only meaningful when resumption is allowed'
	variant '.credentials[0].bits = 264' thread-joiner; check 'a thread-pskd has at most 32 characters'
	variant 'del(.credentials[0].format)' thread-joiner; check 'TLS_ECJPAKE_WITH_AES_128_CCM_8 needs a psk credential of format thread-pskd'
	variant '.credentials[0].format = "thread-pskd"' coaps-psk; check 'a thread-pskd is a password, not a PSK'
	variant '.tls.record_size_limit = 63' https-client; check '$.tls.record_size_limit'
	variant '.tls.max_fragment_length = 1000' coaps-psk; check '$.tls.max_fragment_length'
	variant '.tls.resumption.ticket_lifetime = 604801' coaps-psk; check '$.tls.resumption.ticket_lifetime'
	variant '.tls.time_check = "floor"' coaps-psk;      check 'time_check "floor" needs a time_floor'
}

@test "inspect: a trust-store entry that is not a valid store is malformed (3), even signed by the factory" {
	make_factory
	"$PROV" mint --template "$TPL/https-client.json" --device h1 >/dev/null
	"$PROV" bundle --device h1 --out "$T/b.cbor"
	for defect in truncated version-3 bad-alg; do
		/usr/bin/python3 - "$T/b.cbor" "$PROV_HOME/signer.key" "$defect" "$T/bad.cbor" <<-'PY'
		import sys, cbor2
		from cryptography.hazmat.primitives import hashes, serialization
		from cryptography.hazmat.primitives.asymmetric import ec
		from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
		src, keyf, defect, out = sys.argv[1:]
		prot, unprot, payload, sig = cbor2.loads(open(src, "rb").read()).value
		p = cbor2.loads(payload)
		store = cbor2.loads(p[6][0][5])
		if defect == "truncated": p[6][0][5] = p[6][0][5][:-7]
		if defect == "version-3": p[6][0][5] = cbor2.dumps([3] + store[1:])
		if defect == "bad-alg":
		    rec = cbor2.loads(store[2])            # the first anchor record
		    n = len(cbor2.dumps(rec))
		    rec[0] = 9
		    p[6][0][5] = cbor2.dumps([store[0], store[1], cbor2.dumps(rec) + store[2][n:]] + store[3:])
		payload = cbor2.dumps(p, canonical=True)
		key = serialization.load_pem_private_key(open(keyf, "rb").read(), None)
		r, s = decode_dss_signature(key.sign(cbor2.dumps(["Signature1", prot, b"", payload]), ec.ECDSA(hashes.SHA256())))
		open(out, "wb").write(cbor2.dumps(cbor2.CBORTag(18, [prot, unprot, payload, r.to_bytes(32, "big") + s.to_bytes(32, "big")])))
		PY
		run "$PROV" inspect "$T/bad.cbor"
		echo "# $defect -> $status: $output" >&3
		assert_status 3
		assert_output_has "entries[0].value (trust store): "
	done
}
