#!/usr/bin/env bats
# secrets_wiped.bats - no heap block freed by prov holds a secret (issue 10,
# section 3).  Every command that handles a PSK or a private key runs under
# tests/tools/freescan.so (an LD_PRELOAD free() that scans each block it frees):
# export --reveal in every format, mint with host-made keys and PSKs (one device
# and batches, with lab bundles), bundle (encrypted, lab, and a lab bundle over
# 8 KB), install into agent-sim over a pty.  Secrets known beforehand are given
# to the scanner; those a command makes itself are looked for afterwards in a
# dump of every block it freed.  The scanner is shown to find what it should
# (a helper that frees a secret unwiped), and the lab agent's bundle buffer is
# checked the same way after every install path.
#
# Under an AddressSanitizer build the scanner sits in front of ASan's allocator
# (ASAN_OPTIONS=verify_asan_link_order=0); the self-test then runs a helper
# built with ASan too, so it is shown to work there as well.

bats_require_minimum_version 1.5.0
load helper

FS="$PROV_BUILD/tests/freescan.so"
SIM="$PROV_BUILD/agent-sim"

setup() {
	T="$BATS_TEST_TMPDIR"
	bg_init
	export PROV_HOME="$T/factory"
	unset PROV_PASSPHRASE PROV_NOW FREESCAN_SECRETS FREESCAN_SECRETS_FILE FREESCAN_OUT FREESCAN_DUMP
	[ -f "$FS" ] || { echo "missing $FS (make all builds it)" >&2; return 1; }
	SAN_CFLAGS=""
	if nm "$PROV" 2>/dev/null | grep -q '__asan_init'; then
		SAN_CFLAGS="-fsanitize=address"
		export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
	fi
}

teardown() {
	bg_stop_all
}

# scanned SECRETS CMD...: CMD under the scanner, looking for SECRETS (hex, comma
# separated; kept in a file, not the environment).  Its stdout in $T/out, stderr
# in $T/err, the report in $T/rep; $status its exit status.
scanned() {
	printf '%s\n' "$1" > "$T/secrets"
	shift
	rm -f "$T/rep"
	status=0
	FREESCAN_SECRETS_FILE="$T/secrets" FREESCAN_OUT="$T/rep" LD_PRELOAD="$FS" "$@" >"$T/out" 2>"$T/err" ||
		status=$?
}

# clean WHAT: the last scanned command ran to its end under the scanner (its
# summary line, with thousands of frees seen) and no freed block held a secret.
clean() {
	local blocks
	blocks=$(sed -n 's/^freescan: pid=[0-9]* blocks=\([0-9]*\) .*/\1/p' "$T/rep")
	echo "$1: $(tail -n 1 "$T/rep")"
	if grep -q '^freescan: hit' "$T/rep"; then
		echo "$1: freed blocks held a secret:" >&2
		grep '^freescan: hit' "$T/rep" >&2
		return 1
	fi
	[ "$(grep -c '^freescan: pid=' "$T/rep")" = 1 ]
	[ "$blocks" -gt 1000 ]
	grep -q ' hits=0$' "$T/rep"
}

# dump_hits DUMP SECRETS [MIN]: how many blocks of a FREESCAN_DUMP file hold one
# of the secrets (raw, lower- or upper-case hex); the count on stdout, where on
# stderr.  Fails if the dump has fewer than MIN blocks (1000).
dump_hits() {
	"$PY" - "$1" "$2" "${3:-1000}" <<-'EOF'
	import sys
	data = open(sys.argv[1], "rb").read()
	forms = []
	for h in sys.argv[2].split(","):
	    raw = bytes.fromhex(h)
	    assert len(raw) >= 16, "not a secret: %r" % h
	    forms += [raw, raw.hex().encode(), raw.hex().upper().encode()]
	i = blocks = hits = 0
	while i < len(data):
	    n = int.from_bytes(data[i:i + 8], "little")
	    block = data[i + 8:i + 8 + n]
	    assert len(block) == n, "truncated dump"
	    blocks += 1
	    for f in forms:
	        if f in block:
	            hits += 1
	            print("hit: block of %d bytes at offset %d" % (n, block.index(f)), file=sys.stderr)
	    i += 8 + n
	assert blocks >= int(sys.argv[3]), "only %d blocks dumped" % blocks
	print(hits)
	EOF
}

psk_of() {
	local line
	line=$("$PROV" export --device "$1" --what psk --reveal)
	echo "${line##*:}"
}

# The private scalar of a host-made key, per openssl.
scalar_of() {
	"$PROV" export --device "$1" --what key --reveal |
		openssl pkey -noout -text | awk '/^priv:/ { f = 1; next } /^pub:/ { f = 0 } f' | tr -d ' :\n'
}

# A factory with PSK devices (coaps-psk p1, lwm2m-psk l1) and host-made keys
# (mqtt-mtls h1, lwm2m-rpk r1, lwm2m-cert c1); SECRETS lists them all.
make_devices() {
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p1 >/dev/null
	"$PROV" mint --template "$TPL/lwm2m-psk.json" --device l1 >/dev/null
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device h1 >/dev/null
	"$PROV" mint --template "$TPL/lwm2m-rpk.json" --device r1 >/dev/null
	"$PROV" mint --template "$TPL/lwm2m-cert.json" --device c1 >/dev/null
	P1=$(psk_of p1)
	L1=$(psk_of l1)
	H1=$(scalar_of h1)
	R1=$(scalar_of r1)
	C1=$(scalar_of c1)
	for s in "$P1" "$L1"; do [[ "$s" =~ ^[0-9a-f]{32}$ ]]; done
	for s in "$H1" "$R1" "$C1"; do [[ "$s" =~ ^[0-9a-f]{64}$ ]]; done
	SECRETS="$P1,$L1,$H1,$R1,$C1"
}

@test "freescan finds a secret in a freed block: freed as it is, or moved by realloc; not once wiped" {
	cat >"$T/leak.c" <<-'CEOF'
	/* leak MODE HEX: put the secret into a heap block and free it:
	 * plain (as it is), realloc (the block moves, its old copy is freed),
	 * hex (as hex text), wiped (zeroed first: no hit). */
	#include <stdlib.h>
	#include <string.h>
	static int nib(char c)
	{
		return c <= '9' ? c - '0' : c - 'a' + 10;
	}
	static void fill(unsigned char *p, const char *hex, size_t n)
	{
		for (size_t i = 0; i < n; i++)
			p[i] = (unsigned char)(nib(hex[2 * i]) << 4 | nib(hex[2 * i + 1]));
	}
	int main(int argc, char **argv)
	{
		size_t n = strlen(argv[2]) / 2;
		unsigned char *p = malloc(100);
		volatile unsigned char *vp;
		if (argc != 3 || p == NULL)
			return 2;
		memset(p, 0x5a, 100);
		if (strcmp(argv[1], "hex") == 0)
			memcpy(p + 13, argv[2], 2 * n);
		else
			fill(p + 13, argv[2], n);
		if (strcmp(argv[1], "realloc") == 0) {
			p = realloc(p, 1 << 20); /* moves: the old block is freed */
			if (p == NULL)
				return 2;
			memset(p, 0, 100); /* the new copy is wiped: only the old one holds it */
		}
		if (strcmp(argv[1], "wiped") == 0)
			for (vp = p; vp < p + 100; vp++)
				*vp = 0;
		free(p);
		return 0;
	}
	CEOF
	cc -std=c11 -Wall -Werror $SAN_CFLAGS -o "$T/leak" "$T/leak.c"
	secret=00112233445566778899aabbccddeeff
	for mode in plain realloc hex; do
		scanned "$secret" "$T/leak" "$mode" "$secret"
		cat "$T/rep"
		[ "$status" -eq 0 ]
		[ "$(grep -c '^freescan: hit secret=0 ' "$T/rep")" = 1 ]
		grep -q ' hits=1$' "$T/rep"
	done
	# malloc(100): glibc's usable size is 104, ASan's 100.
	scanned "$secret" "$T/leak" plain "$secret"
	grep -Eqx 'freescan: hit secret=0 form=raw size=10[04] offset=13' "$T/rep"
	scanned "$secret" "$T/leak" hex "$secret"
	grep -Eqx 'freescan: hit secret=0 form=hex size=10[04] offset=13' "$T/rep"
	scanned "$secret" "$T/leak" wiped "$secret"
	cat "$T/rep"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^freescan: hit' "$T/rep")" = 0 ]
	grep -q ' hits=0$' "$T/rep"
	# Another secret is not reported; a second one in the list is.
	scanned "ffeeddccbbaa99887766554433221100" "$T/leak" plain "$secret"
	grep -q ' hits=0$' "$T/rep"
	scanned "ffeeddccbbaa99887766554433221100,$secret" "$T/leak" plain "$secret"
	grep -q '^freescan: hit secret=1 form=raw' "$T/rep"
	# The dump holds the block, for secrets known only afterwards.
	for mode in plain realloc hex wiped; do
		rm -f "$T/dump"
		FREESCAN_DUMP="$T/dump" FREESCAN_OUT="$T/rep" LD_PRELOAD="$FS" "$T/leak" "$mode" "$secret"
		run --separate-stderr dump_hits "$T/dump" "$secret" 1
		echo "dump, $mode: $output $stderr"
		assert_status 0
		[ "$output" = "$([ $mode = wiped ] && echo 0 || echo 1)" ]
	done
}

@test "export --reveal, every format and --out: no freed block holds the PSK or private key" {
	make_devices
	n=0
	while read -r args; do
		# shellcheck disable=SC2086
		scanned "$SECRETS" "$PROV" export $args
		[ "$status" -eq 0 ] || { cat "$T/err"; false; }
		clean "export $args"
		n=$((n + 1))
	done <<-EOF
	--device p1 --what psk --reveal
	--device p1 --what psk --reveal --out $T/p1.psk
	--device h1 --what key --reveal
	--device h1 --what key --reveal --der
	--device h1 --what key --reveal --out $T/h1.key
	psk-table --format gnutls --reveal
	psk-table --format csv --reveal
	psk-table --format json --reveal
	psk-table --format json --reveal --out $T/table.json
	--device l1 --what lwm2m-security --reveal
	--device l1 --what lwm2m-security --reveal --json
	--device r1 --what lwm2m-security --reveal
	--device r1 --what lwm2m-security --reveal --json
	--device c1 --what lwm2m-security --reveal
	--device c1 --what lwm2m-security --reveal --json --out $T/c1.json
	EOF
	[ "$n" = 15 ]
	# The scanner looked for what was really there: the outputs hold the secrets.
	grep -q "$P1" "$T/p1.psk"
	grep -q "$L1" "$T/table.json"
	[ "$(openssl pkey -in "$T/h1.key" -noout -text | awk '/^priv:/ { f = 1; next } /^pub:/ { f = 0 } f' | tr -d ' :\n')" = "$H1" ]
	grep -q "$C1" "$T/c1.json"
}

@test "export --reveal output is what it was: lwm2m JSON is jansson's layout (python), psk-table JSON too" {
	make_devices
	for d in l1 r1 c1; do
		"$PROV" export --device "$d" --what lwm2m-security --json >"$T/$d.pub.json"
		"$PROV" export --device "$d" --what lwm2m-security --json --reveal >"$T/$d.json"
		# With the secret removed, the revealed text is byte for byte the one
		# jansson writes without it; and it is json.dumps(indent=2, sort_keys).
		run "$PY" - "$T/$d.json" "$T/$d.pub.json" <<-'EOF'
		import json, sys
		text = open(sys.argv[1]).read()
		public = open(sys.argv[2]).read()
		doc = json.loads(text)
		secret = doc["resources"].pop("5")
		assert len(secret) >= 32 and set(secret) <= set("0123456789abcdef"), secret
		assert json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n" == text
		lines = text.split("\n")
		i = [n for n, l in enumerate(lines) if l.startswith('    "5": ')]
		assert len(i) == 1, i
		i = i[0]
		assert lines[i - 1].endswith(","), lines[i - 1]
		stripped = lines[:i - 1] + [lines[i - 1][:-1]] + lines[i + 1:]
		assert "\n".join(stripped) == public, "differs from jansson's text"
		print("ok", len(text))
		EOF
		echo "$d: $output"
		assert_status 0
	done
	"$PROV" export psk-table --format json --reveal >"$T/t.json"
	run "$PY" - "$T/t.json" <<-'EOF'
	import json, sys
	text = open(sys.argv[1]).read()
	rows = json.loads(text)
	assert [list(r) for r in rows] == [["identity", "key_hex", "device"]] * 2, rows
	assert json.dumps(rows, indent=2, ensure_ascii=False) + "\n" == text
	EOF
	assert_status 0
}

@test "mint with host-made keys and PSKs, one device and batches, lab bundles: no freed block holds them" {
	make_factory
	"$PROV" signer export >"$T/signer.pem"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/dev.key" 2>/dev/null
	openssl pkey -in "$T/dev.key" -pubout -out "$T/dev.pub"
	mkdir "$T/lab"
	i=0
	while read -r args; do
		i=$((i + 1))
		rm -f "$T/dump.$i"
		# shellcheck disable=SC2086
		FREESCAN_DUMP="$T/dump.$i" LD_PRELOAD="$FS" "$PROV" mint $args >/dev/null 2>"$T/err" ||
			{ cat "$T/err"; false; }
	done <<-EOF
	--template $TPL/coaps-psk.json --device m-psk
	--template $TPL/mqtt-mtls.json --device m-key
	--template $TPL/lwm2m-rpk.json --count 4 --id-format rpk-%02d
	--template $TPL/lwm2m-psk.json --count 4 --id-format lab-%02d --bundles --insecure-plaintext-secrets --bundle-dir $T/lab
	--template $TPL/coaps-psk.json --count 4 --id-format enc-%02d --bundles --recipient-key $T/dev.pub
	EOF
	[ "$i" = 5 ]
	secrets="$(psk_of m-psk),$(scalar_of m-key)"
	for d in rpk-01 rpk-04; do secrets="$secrets,$(scalar_of $d)"; done
	for d in lab-01 lab-04 enc-01 enc-04; do secrets="$secrets,$(psk_of $d)"; done
	# The lab bundles really carry the PSKs in the clear (so the dump would show them).
	"$PY" -c 'import sys; assert bytes.fromhex(sys.argv[2]) in open(sys.argv[1], "rb").read()' \
		"$T/lab/lab-04.cbor" "$(psk_of lab-04)"
	for run_no in 1 2 3 4 5; do
		run --separate-stderr dump_hits "$T/dump.$run_no" "$secrets"
		echo "mint run $run_no: $output hits ${stderr}"
		assert_status 0
		[ "$output" = 0 ]
	done
}

@test "bundle: encrypted, lab, and a lab bundle over 8 KB: no freed block holds a secret" {
	make_devices
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/dev.key" 2>/dev/null
	openssl pkey -in "$T/dev.key" -pubout -out "$T/dev.pub"
	# 12 of the shipped roots: trust anchors enough for a payload over 8 KB.
	awk '/BEGIN CERT/ { n++ } n <= 12' /etc/ssl/certs/ca-certificates.crt >"$T/roots.pem"
	[ "$(grep -c 'BEGIN CERT' "$T/roots.pem")" = 12 ]
	while read -r args; do
		# shellcheck disable=SC2086
		scanned "$SECRETS" "$PROV" bundle $args
		[ "$status" -eq 0 ] || { cat "$T/err"; false; }
		clean "bundle $args"
	done <<-EOF
	--device p1 --recipient-key $T/dev.pub --out $T/enc.cbor
	--device p1 --insecure-plaintext-secrets --out $T/lab-psk.cbor
	--device h1 --insecure-plaintext-secrets --out $T/lab-key.cbor
	--device c1 --insecure-plaintext-secrets --trust $T/roots.pem --out $T/lab-big.cbor
	--device l1 --insecure-plaintext-secrets --trust $T/roots.pem --out $T/lab-big2.cbor
	EOF
	# What was scanned for is in the lab bundles; the big ones are over 8 KB.
	for f in "lab-psk:$P1" "lab-key:$H1" "lab-big:$C1" "lab-big2:$L1"; do
		"$PY" -c 'import sys; assert bytes.fromhex(sys.argv[2]) in open(sys.argv[1], "rb").read()' \
			"$T/${f%%:*}.cbor" "${f#*:}"
	done
	[ "$(stat -c %s "$T/lab-big.cbor")" -gt 8192 ]
	[ "$(stat -c %s "$T/lab-big2.cbor")" -gt 8192 ]
}

@test "install into agent-sim over a pty: no freed block of prov holds the PSK it made" {
	make_factory
	"$PROV" signer export >"$T/signer.pem"
	"$SIM" --storage "$T/dev" --device-id ins-1 --signer "$T/signer.pem" --init >/dev/null
	"$SIM" --storage "$T/dev" --pty >"$T/dev.pty" 2>"$T/dev.log" 3>&- &
	bg_record agent-sim $!
	for _ in $(seq 100); do
		head -n 1 "$T/dev.pty" 2>/dev/null | grep -q '^/dev/' && break
		sleep 0.05
	done
	port=$(head -n 1 "$T/dev.pty")
	FREESCAN_DUMP="$T/dump" FREESCAN_OUT="$T/rep" LD_PRELOAD="$FS" \
		"$PROV" install --port "$port" --template "$TPL/coaps-psk.json" >"$T/out" 2>"$T/err" ||
		{ cat "$T/err" "$T/dev.log"; false; }
	cat "$T/out"
	grep -q "ins-1 installed" "$T/out"
	psk=$(psk_of ins-1)
	[[ "$psk" =~ ^[0-9a-f]{32}$ ]]
	run --separate-stderr dump_hits "$T/dump" "$psk"
	echo "install: $output hits ${stderr}"
	assert_status 0
	[ "$output" = 0 ]
}

@test "lab agent (PA_ALLOW_PLAINTEXT_SECRETS): the bundle buffer is wiped after install, failure and an abandoned upload" {
	[ -f "$REPO/build-mbedtls/lib/libmbedcrypto.a" ] || skip "build-mbedtls not built (make all builds it)"
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device lab-1 >/dev/null
	"$PROV" bundle --device lab-1 --insecure-plaintext-secrets --out "$T/lab.cbor" 2>/dev/null
	"$PROV" signer export --format c >"$T/signer.h"
	"$PROV" signer export >"$T/signer.pem"
	"$SIM" --storage "$T/dev" --device-id lab-1 --signer "$T/signer.pem" --init >/dev/null
	psk=$(psk_of lab-1)
	cat >"$T/lab_agent.c" <<-'CEOF'
	/* lab_agent DEVDIR BUNDLE PSKHEX: the agent built with plaintext secrets
	 * allowed; after each install path, does the agent still hold the PSK? */
	#include <stdio.h>
	#include <stdlib.h>
	#include <string.h>
	#include <unistd.h>
	#include "pa/pa_agent.h"
	#include "port/pa_port_dir.h"
	#include "signer.h"

	static pa_agent a;
	static uint8_t psk[64], bundle[PA_BUNDLE_MAX + 1], receipt[512];
	static size_t psk_len, blen;

	static int holds(void)
	{
		return memmem(&a, sizeof(a), psk, psk_len) != NULL;
	}

	int main(int argc, char **argv)
	{
		static const pa_signer signer = {PROV_SIGNER_KID, PROV_SIGNER_PUBKEY};
		pa_dir_port dp;
		size_t rl = 0;
		FILE *f;
		int rc;

		if (argc != 4)
			return 2;
		for (psk_len = 0; argv[3][2 * psk_len] != 0; psk_len++) {
			unsigned v;
			if (sscanf(argv[3] + 2 * psk_len, "%2x", &v) != 1)
				return 2;
			psk[psk_len] = (uint8_t)v;
		}
		f = fopen(argv[2], "rb");
		if (f == NULL)
			return 2;
		blen = fread(bundle, 1, sizeof(bundle), f);
		fclose(f);
		if (chdir(argv[1]) != 0)
			return 2;
		rc = pa_agent_start(&a, pa_dir_port_init(&dp, "."), &signer, 1);
		printf("start %d\n", rc);
		pa_install_begin(&a);
		pa_install_push(&a, bundle, blen);
		printf("pushed holds=%d\n", holds());
		pa_install_begin(&a);
		printf("abandoned holds=%d\n", holds());
		pa_install_push(&a, bundle, blen - 1);
		rc = pa_install_finish(&a, receipt, sizeof(receipt), &rl);
		printf("truncated finish=%d holds=%d\n", rc, holds());
		pa_install_begin(&a);
		pa_install_push(&a, bundle, blen);
		rc = pa_install_finish(&a, receipt, sizeof(receipt), &rl);
		printf("install finish=%d holds=%d\n", rc, holds());
		pa_install_begin(&a);
		pa_install_push(&a, bundle, blen);
		rc = pa_install_finish(&a, receipt, sizeof(receipt), &rl);
		printf("replay finish=%d holds=%d\n", rc, holds());
		return 0;
	}
	CEOF
	cc -std=c11 -D_GNU_SOURCE -DPA_ALLOW_PLAINTEXT_SECRETS=1 -w -I"$T" \
		-I"$REPO/build-mbedtls/include" -I"$REPO/firmware-agent/mbedtls" -DMBEDTLS_CONFIG_FILE='"mbedtls_config.h"' \
		-I"$REPO/firmware-agent/include" -I"$REPO/firmware-agent" -o "$T/lab_agent" "$T/lab_agent.c" \
		"$REPO"/firmware-agent/core/*.c "$REPO"/firmware-agent/verify/*.c "$REPO"/firmware-agent/store/*.c \
		"$REPO"/firmware-agent/receipt/*.c "$REPO/firmware-agent/port/pa_port_dir.c" \
		"$REPO"/firmware-agent/trust/pa_trust.c "$REPO"/firmware-agent/trust/pa_trust_check.c \
		"$REPO/build-mbedtls/lib/libmbedtls.a" "$REPO/build-mbedtls/lib/libmbedx509.a" \
		"$REPO/build-mbedtls/lib/libmbedcrypto.a"
	run "$T/lab_agent" "$T/dev" "$T/lab.cbor" "$psk"
	echo "$output"
	assert_status 0
	[ "$output" = "start 0
pushed holds=1
abandoned holds=0
truncated finish=11 holds=0
install finish=0 holds=0
replay finish=19 holds=0" ]
	# The device has the PSK now: the lab build installed it.
	"$SIM" --storage "$T/dev" --status --json | "$PY" -c 'import json,sys; d = json.load(sys.stdin); assert d["counter"] == 1, d'
}
