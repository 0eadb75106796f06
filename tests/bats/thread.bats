#!/usr/bin/env bats
# prov thread pskc / pskd: the Thread PSKc (specification example, bounds) and
# joiner credentials (generation, validation with the reason); the thread-joiner
# template's PSKd minted, exported and carried in a bundle.

load helper

pskc() { "$PROV" thread pskc "$@"; }

@test "thread pskc: the specification's example, byte for byte, and --json" {
	run pskc --passphrase 12SECRETPASSWORD34 --network-name "Test Network" --xpanid 0001020304050607
	assert_status 0
	[ "$output" = c3f59368445a1b6106be420a706d4cc9 ]
	run pskc --passphrase 12SECRETPASSWORD34 --network-name "Test Network" --xpanid 0001020304050607 --json
	assert_status 0
	[ "$(echo "$output" | jq -r '[.pskc, .iterations, .xpanid, .network_name] | join(" ")')" = \
	  "c3f59368445a1b6106be420a706d4cc9 16384 0001020304050607 Test Network" ]
}

@test "thread pskc: independent PBKDF2 with AES-CMAC-PRF-128 (python cryptography) agrees" {
	run pskc --passphrase "correct horse" --network-name OpenThread --xpanid dead00beef00cafe
	assert_status 0
	want=$($PY - <<-'PY'
	from cryptography.hazmat.primitives.cmac import CMAC
	from cryptography.hazmat.primitives.ciphers import algorithms
	def cmac(k, m):
	    c = CMAC(algorithms.AES(k)); c.update(m); return c.finalize()
	def prf(k, m):
	    return cmac(k if len(k) == 16 else cmac(bytes(16), k), m)
	p = b"correct horse"
	s = b"Thread" + bytes.fromhex("dead00beef00cafe") + b"OpenThread"
	u = prf(p, s + b"\0\0\0\1"); t = bytearray(u)
	for _ in range(16383):
	    u = prf(p, u); t = bytearray(a ^ b for a, b in zip(t, u))
	print(bytes(t).hex())
	PY
	)
	[ "$output" = "$want" ]
}

@test "thread pskc: out-of-range inputs exit 2 with the reason" {
	x=0001020304050607
	run pskc --passphrase 12345 --network-name n --xpanid $x
	assert_status 2
	[ "$output" = "prov: thread pskc: bad input: passphrase of 5 bytes: must be 6 to 255 bytes" ]
	run pskc --passphrase "$(printf 'p%.0s' $(seq 256))" --network-name n --xpanid $x
	assert_status 2
	assert_output_has "passphrase of 256 bytes: must be 6 to 255 bytes"
	run pskc --passphrase "$(printf 'p%.0s' $(seq 255))" --network-name n --xpanid $x
	assert_status 0
	run pskc --passphrase 123456 --network-name "" --xpanid $x
	assert_status 2
	assert_output_has "network name of 0 bytes: must be 1 to 16 bytes"
	run pskc --passphrase 123456 --network-name 12345678901234567 --xpanid $x
	assert_status 2
	assert_output_has "network name of 17 bytes: must be 1 to 16 bytes"
	run pskc --passphrase 123456 --network-name 1234567890123456 --xpanid $x
	assert_status 0
	for bad in 00010203040506 000102030405060708 0001020304050g07 ""; do
		run pskc --passphrase 123456 --network-name n --xpanid "$bad"
		assert_status 2
		[ "$output" = "prov: thread pskc: --xpanid: not exactly 8 bytes of hex: $bad" ]
	done
	run pskc --passphrase 123456 --network-name n
	assert_status 2
	assert_output_has "--passphrase, --network-name and --xpanid are required"
}

@test "thread pskd: generated credentials are valid, of the asked length and alphabet, and differ" {
	run "$PROV" thread pskd
	assert_status 0
	[[ "$output" =~ ^[0-9A-HJ-NPR-Y]{16}$ ]]
	first=$output
	run "$PROV" thread pskd
	assert_status 0
	[[ "$output" =~ ^[0-9A-HJ-NPR-Y]{16}$ ]]
	[ "$output" != "$first" ]
	for n in 6 32; do
		run "$PROV" thread pskd --length $n --json
		assert_status 0
		v=$(echo "$output" | jq -r .pskd)
		[[ "$v" =~ ^[0-9A-HJ-NPR-Y]{$n}$ ]]
		run "$PROV" thread pskd --check "$v"
		assert_status 0
		[ "$output" = valid ]
	done
	for n in 5 33 x ""; do
		run "$PROV" thread pskd --length "$n"
		assert_status 2
		assert_output_has "--length: not 6 to 32: $n"
	done
}

@test "thread pskd --check: exit 0 valid, 3 invalid with the reason" {
	run "$PROV" thread pskd --check J01NME
	assert_status 0
	run "$PROV" thread pskd --check 0123456789ABCDEFGHJKLMNPRSTUVWXY
	assert_status 0
	run "$PROV" thread pskd --check J01NM
	assert_status 3
	[ "$output" = "prov: thread pskd: invalid PSKd: 5 characters: a PSKd has 6 to 32" ]
	run "$PROV" thread pskd --check 0123456789ABCDEFGHJKLMNPRSTUVWXY0
	assert_status 3
	assert_output_has "33 characters: a PSKd has 6 to 32"
	for c in I O Q Z; do
		run "$PROV" thread pskd --check "J01NM$c"
		assert_status 3
		[ "$output" = "prov: thread pskd: invalid PSKd: character 6 '$c' is not allowed (I, O, Q and Z are excluded)" ]
	done
	run "$PROV" thread pskd --check j01nme
	assert_status 3
	assert_output_has "character 1 'j' is not allowed (lower case)"
	run "$PROV" thread pskd --check "J01 NME"
	assert_status 3
	assert_output_has "character 4 (byte 0x20) is not allowed (only 0-9 and A-Z)"
	run "$PROV" thread pskd --check J01NMO --json
	assert_status 3
	[ "$(echo "$output" | jq -r '"\(.valid) \(.reason)"')" = "false character 6 'O' is not allowed (I, O, Q and Z are excluded)" ]
	run "$PROV" thread pskd --check J01NME --length 8
	assert_status 2
}

@test "thread-joiner: each device gets its own PSKd; exported for the commissioner, carried as the slot's secret" {
	make_factory
	make_device_key dev
	run "$PROV" mint --template "$TPL/thread-joiner.json" --count 3 --id-format 'j-%d' --recipient-key "$T/dev.pub.pem"
	assert_status 0
	for i in 1 2 3; do
		line=$("$PROV" export --device j-$i --what psk --reveal)
		[ "${line%%:*}" = j-$i ]
		pskd=$($PY -c "import sys; print(bytes.fromhex(sys.argv[1]).decode())" "${line#*:}")
		[[ "$pskd" =~ ^[0-9A-HJ-NPR-Y]{16}$ ]]
		"$PROV" thread pskd --check "$pskd" >/dev/null
		echo "$pskd" >> "$T/all"
	done
	[ "$(sort -u "$T/all" | wc -l)" = 3 ]
	"$PROV" bundle --device j-1 --out "$T/j1.cbor" --insecure-plaintext-secrets 2>/dev/null
	run "$PROV" inspect "$T/j1.cbor" --json
	assert_status 0
	[ "$(echo "$output" | jq -c '[.entries[] | [.slot, .type, .identity]]')" = '[[20,"psk","j-1"]]' ]
	[ "$(echo "$output" | jq -c '.tls.cipher_suites')" = '["TLS_ECJPAKE_WITH_AES_128_CCM_8"]' ]
}
