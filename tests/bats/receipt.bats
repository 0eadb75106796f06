#!/usr/bin/env bats
# prov receipt verify, and prov bundle --wipe.  Receipts are signed here by an
# independent writer (tests/py/make_receipt.py: python3-cbor2 + cryptography)
# with the device agent's key, the one given to prov mint as --recipient-key.
# The end-to-end test runs the real agent (agent-sim) when it is built.

load helper

mkr() {
	"$PY" "$REPO/tests/py/make_receipt.py" "$@"
}

json_get() {
	"$PY" -c "import json,sys; d=json.load(sys.stdin); print($1)"
}

# A factory, an agent key ($T/agent.key) registered for psk-1, and bundle 1.
setup_device() {
	make_factory
	make_device_key agent
	"$PROV" mint --template "$TPL/coaps-psk.json" --device psk-1 --recipient-key "$T/agent.pub.pem" >/dev/null
	"$PROV" bundle --device psk-1 --out "$T/b1.cbor" >/dev/null
}

@test "receipt: a valid receipt is recorded: installs row, status installed, audit, show" {
	setup_device
	mkr "$T/agent.key" "$T/b1.cbor" "$T/r1.cbor"
	[ "$(db "SELECT status FROM devices WHERE id = 'psk-1'")" = bundled ]
	run "$PROV" receipt verify "$T/r1.cbor"
	assert_status 0
	assert_output_has "recorded install of bundle 1 on psk-1"
	[ "$(db "SELECT status FROM devices WHERE id = 'psk-1'")" = installed ]
	[ "$(db "SELECT count(*) FROM installs WHERE device_id = 'psk-1' AND counter = 1")" = 1 ]
	# the receipt's bytes, and the digest of the bundle's payload computed here
	[ "$(db "SELECT hex(receipt) FROM installs")" = "$(xxd -p -u "$T/r1.cbor" | tr -d '\n')" ]
	want=$("$PY" -c "import cbor2,hashlib,sys; print(hashlib.sha256(cbor2.loads(open(sys.argv[1],'rb').read()).value[2]).hexdigest())" "$T/b1.cbor")
	[ "$(db "SELECT lower(hex(manifest_digest)) FROM installs")" = "$want" ]
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'install' AND device_id = 'psk-1'")" = 1 ]
	run "$PROV" show psk-1
	assert_output_has "status:     installed"
	assert_output_has "install:    counter 1"
	run "$PROV" show psk-1 --json
	[ "$(echo "$output" | json_get '[i["counter"] for i in d["installs"]]')" = "[1]" ]
}

@test "receipt: --json shape; verifying the same receipt again adds nothing (exit 0)" {
	setup_device
	mkr "$T/agent.key" "$T/b1.cbor" "$T/r1.cbor"
	run "$PROV" receipt verify "$T/r1.cbor" --json
	assert_status 0
	echo "$output" > "$T/j"
	[ "$(json_get '(d["device"], d["counter"], d["recorded"], d["already_recorded"], d["nonce"], d["wipe"])' < "$T/j")" = "('psk-1', 1, True, False, None, False)" ]
	[ "$(json_get 'len(d["digest"]), len(d["kid"])' < "$T/j")" = "64 16" ]
	run "$PROV" receipt verify "$T/r1.cbor"
	assert_status 0
	assert_output_has "already recorded; nothing added"
	run "$PROV" receipt verify "$T/r1.cbor" --json
	[ "$(echo "$output" | json_get '(d["recorded"], d["already_recorded"])')" = "(False, True)" ]
	[ "$(db "SELECT count(*) FROM installs")" = 1 ]
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'install'")" = 1 ]
}

@test "receipt: nonce of the bundle must be in the receipt, and the same" {
	setup_device
	"$PROV" bundle --device psk-1 --nonce 00112233445566778899aabbccddeeff --out "$T/b2.cbor" >/dev/null
	mkr "$T/agent.key" "$T/b2.cbor" "$T/bad1.cbor" --no-nonce
	run "$PROV" receipt verify "$T/bad1.cbor"
	assert_status 7
	assert_output_has "prov: receipt verify: nonce does not match bundle 2 of psk-1: receipt has none"
	mkr "$T/agent.key" "$T/b2.cbor" "$T/bad2.cbor" --nonce ffeeddccbbaa99887766554433221100
	run "$PROV" receipt verify "$T/bad2.cbor"
	assert_status 7
	assert_output_has "nonce does not match"
	# a nonce in the receipt of a bundle that had none
	mkr "$T/agent.key" "$T/b1.cbor" "$T/bad3.cbor" --nonce 0011223344556677
	run "$PROV" receipt verify "$T/bad3.cbor"
	assert_status 7
	assert_output_has "the bundle had none"
	[ "$(db "SELECT count(*) FROM installs")" = 0 ]
	mkr "$T/agent.key" "$T/b2.cbor" "$T/ok.cbor"
	run "$PROV" receipt verify "$T/ok.cbor" --json
	assert_status 0
	[ "$(echo "$output" | json_get 'd["nonce"]')" = 00112233445566778899aabbccddeeff ]
}

@test "receipt: bad signature, another device key, unknown counter, digest mismatch: nothing recorded" {
	setup_device
	make_device_key intruder
	mkr "$T/agent.key" "$T/b1.cbor" "$T/flip.cbor" --flip-sig
	run "$PROV" receipt verify "$T/flip.cbor"
	assert_status 7
	assert_output_has "receipt signature does not verify with the key of psk-1"
	# signed by another key with its own kid: named as another key
	mkr "$T/intruder.key" "$T/b1.cbor" "$T/other.cbor"
	run "$PROV" receipt verify "$T/other.cbor"
	assert_status 7
	assert_output_has "receipt for psk-1 is signed by another key"
	# another key claiming the device key's kid: the signature fails
	mkr "$T/intruder.key" "$T/b1.cbor" "$T/other2.cbor" --kid-key "$T/agent.key"
	run "$PROV" receipt verify "$T/other2.cbor"
	assert_status 7
	assert_output_has "does not verify"
	mkr "$T/agent.key" "$T/b1.cbor" "$T/ctr.cbor" --counter 5
	run "$PROV" receipt verify "$T/ctr.cbor"
	assert_status 4
	assert_output_has "no bundle with counter 5 was issued to psk-1"
	mkr "$T/agent.key" "$T/b1.cbor" "$T/dig.cbor" --digest "$(printf '%064d' 0)"
	run "$PROV" receipt verify "$T/dig.cbor"
	assert_status 7
	assert_output_has "manifest digest does not match bundle 1 of psk-1"
	[ "$(db "SELECT count(*) FROM installs")" = 0 ]
	[ "$(db "SELECT status FROM devices WHERE id = 'psk-1'")" = bundled ]
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'install'")" = 0 ]
}

@test "receipt: unknown device, device without a registered key, lab bundle (4)" {
	setup_device
	mkr "$T/agent.key" "$T/b1.cbor" "$T/unk.cbor" --device nobody
	run "$PROV" receipt verify "$T/unk.cbor"
	assert_status 4
	assert_output_has "unknown device nobody"
	"$PROV" mint --template "$TPL/coaps-psk.json" --device lab >/dev/null
	"$PROV" bundle --device lab --insecure-plaintext-secrets --out "$T/lab.cbor" 2>/dev/null
	mkr "$T/agent.key" "$T/lab.cbor" "$T/lab-r.cbor"
	run "$PROV" receipt verify "$T/lab-r.cbor"
	assert_status 4
	assert_output_has "device lab has no registered key"
	"$PROV" mint --template "$TPL/coaps-psk.json" --device lab2 --recipient-key "$T/agent.pub.pem" >/dev/null
	"$PROV" bundle --device lab2 --insecure-plaintext-secrets --out "$T/lab2.cbor" 2>/dev/null
	[ "$(db "SELECT length(data) FROM bundles WHERE device_id = 'lab2'")" = 0 ]
	mkr "$T/agent.key" "$T/lab2.cbor" "$T/lab2-r.cbor"
	run "$PROV" receipt verify "$T/lab2-r.cbor"
	assert_status 4
	assert_output_has "was not stored (a lab bundle with plaintext secrets)"
}

@test "receipt: malformed receipts are input errors (3); missing file (4); usage (2)" {
	setup_device
	mkr "$T/agent.key" "$T/b1.cbor" "$T/r.cbor"
	for n in 0 1 2 20 60 100; do
		head -c "$n" "$T/r.cbor" > "$T/t.cbor"
		run "$PROV" receipt verify "$T/t.cbor"
		assert_status 3
		assert_output_has "not a receipt"
	done
	printf 'garbage, not CBOR at all' > "$T/g.cbor"
	run "$PROV" receipt verify "$T/g.cbor"
	assert_status 3
	# a bundle has a receipt's envelope, but the factory signer's kid
	run "$PROV" receipt verify "$T/b1.cbor"
	assert_status 7
	assert_output_has "signed by another key"
	mkr "$T/agent.key" "$T/b1.cbor" "$T/u.cbor" --untagged
	run "$PROV" receipt verify "$T/u.cbor"
	assert_status 3
	# signed by the right key but breaking schemas/receipt.cddl
	for defect in --extra-key "--version 2" --wide-counter "--counter 0"; do
		# shellcheck disable=SC2086
		mkr "$T/agent.key" "$T/b1.cbor" "$T/d.cbor" $defect
		run "$PROV" receipt verify "$T/d.cbor"
		echo "# $defect -> $status: $output" >&3
		assert_status 3
		assert_output_has "receipt payload"
	done
	head -c 2000 /dev/zero > "$T/big.cbor"
	run "$PROV" receipt verify "$T/big.cbor"
	assert_status 3
	run "$PROV" receipt verify "$T/missing.cbor"
	assert_status 4
	run "$PROV" receipt verify
	assert_status 2
	run "$PROV" receipt verify "$T/r.cbor" "$T/r.cbor"
	assert_status 2
	[ "$(db "SELECT count(*) FROM installs")" = 0 ]
}

@test "bundle --wipe: signed, counted, no entries; inspect and the CDDL reader accept it" {
	setup_device
	run "$PROV" bundle --device psk-1 --wipe --nonce 0011223344556677 --out "$T/w.cbor" --json
	assert_status 0
	[ "$(echo "$output" | json_get '(d["counter"], d["entries"], d["secrets"], d["wipe"])')" = "(2, 0, 0, True)" ]
	run "$PROV" inspect "$T/w.cbor" --json
	assert_status 0
	[ "$(echo "$output" | json_get '(d["wipe"], d["entries"], d["tls"], d["secrets"], d["nonce"], d["counter"])')" = "(True, [], None, None, '0011223344556677', 2)" ]
	run "$PROV" inspect "$T/b1.cbor" --json
	[ "$(echo "$output" | json_get 'd["wipe"]')" = False ]
	# the payload, read independently: exactly keys 1..6 and 9, 6 => [], 9 => true
	run "$PY" -c "import cbor2,sys; m=cbor2.loads(open(sys.argv[1],'rb').read()); p=cbor2.loads(m.value[2]); print(sorted(p), p[6], p[9] is True)" "$T/w.cbor"
	[ "$output" = "[1, 2, 3, 4, 5, 6, 9] [] True" ]
	run "$PY" "$REPO/tests/py/bundle_cddl.py" "$T/w.cbor"
	assert_status 0
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'wipe' AND device_id = 'psk-1'")" = 1 ]
	[ "$(db "SELECT count(*) FROM bundles WHERE device_id = 'psk-1' AND counter = 2")" = 1 ]
	# a receipt for the wipe is recorded like any install
	mkr "$T/agent.key" "$T/w.cbor" "$T/wr.cbor"
	run "$PROV" receipt verify "$T/wr.cbor"
	assert_status 0
	assert_output_has "recorded install of wipe bundle 2"
	# wipe takes no secrets options; unknown device is 4
	run "$PROV" bundle --device psk-1 --wipe --recipient-key "$T/agent.pub.pem" --out "$T/x.cbor"
	assert_status 2
	run "$PROV" bundle --device ghost --wipe --out "$T/x.cbor"
	assert_status 4
	[ ! -e "$T/x.cbor" ]
}

@test "bundle --wipe: payloads re-signed by the factory that break the wipe rules are malformed (3)" {
	setup_device
	"$PROV" bundle --device psk-1 --wipe --out "$T/w.cbor" >/dev/null
	for defect in wipe-false wipe-with-entry wipe-with-tls wipe-as-1; do
		"$PY" - "$T/w.cbor" "$T/b1.cbor" "$PROV_HOME/signer.key" "$defect" "$T/bad.cbor" <<-'PY'
		import sys, cbor2
		from cryptography.hazmat.primitives import hashes, serialization
		from cryptography.hazmat.primitives.asymmetric import ec
		from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
		src, full, keyf, defect, out = sys.argv[1:]
		prot, unprot, payload, sig = cbor2.loads(open(src, "rb").read()).value
		p = cbor2.loads(payload)
		q = cbor2.loads(cbor2.loads(open(full, "rb").read()).value[2])
		if defect == "wipe-false": p[9] = False
		if defect == "wipe-with-entry": p[6] = q[6]
		if defect == "wipe-with-tls": p[7] = q[7]
		if defect == "wipe-as-1": p[9] = 1
		payload = cbor2.dumps(p, canonical=True)
		key = serialization.load_pem_private_key(open(keyf, "rb").read(), None)
		der = key.sign(cbor2.dumps(["Signature1", prot, b"", payload]), ec.ECDSA(hashes.SHA256()))
		r, s = decode_dss_signature(der)
		open(out, "wb").write(cbor2.dumps(cbor2.CBORTag(18, [prot, unprot, payload,
		                                                     r.to_bytes(32, "big") + s.to_bytes(32, "big")])))
		PY
		run "$PROV" inspect "$T/bad.cbor"
		echo "# $defect -> $status: $output" >&3
		assert_status 3
		run "$PY" "$REPO/tests/py/bundle_cddl.py" "$T/bad.cbor"
		[ "$status" -eq 1 ]
	done
}

@test "end to end: prov mint + bundle -> agent-sim --install --receipt -> prov receipt verify -> installed" {
	sim="$PROV_BUILD/agent-sim"
	[ -x "$sim" ] || skip "agent-sim not built ($sim)"
	make_factory
	"$PROV" signer export > "$T/signer.pem"
	"$sim" --storage "$T/dev" --device-id node-7 --signer "$T/signer.pem" --init > "$T/agent.pub.pem"
	"$PROV" mint --template "$TPL/coaps-psk.json" --device node-7 --recipient-key "$T/agent.pub.pem" >/dev/null
	"$PROV" bundle --device node-7 --nonce 0102030405060708 --out "$T/b.cbor" >/dev/null
	run "$sim" --storage "$T/dev" --install "$T/b.cbor" --nonce 0102030405060708 --receipt "$T/r.cbor"
	assert_status 0
	run "$PROV" receipt verify "$T/r.cbor" --json
	assert_status 0
	[ "$(echo "$output" | json_get '(d["device"], d["counter"], d["recorded"], d["nonce"])')" = "('node-7', 1, True, '0102030405060708')" ]
	run "$PROV" show node-7
	assert_output_has "status:     installed"
	assert_output_has "install:    counter 1"
	# then a wipe, acknowledged the same way
	"$PROV" bundle --device node-7 --wipe --out "$T/w.cbor" >/dev/null
	run "$sim" --storage "$T/dev" --install "$T/w.cbor" --receipt "$T/wr.cbor"
	assert_status 0
	run "$PROV" receipt verify "$T/wr.cbor"
	assert_status 0
	assert_output_has "wipe bundle 2"
}
