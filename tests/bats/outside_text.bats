#!/usr/bin/env bats
# outside_text.bats - text from outside (what a device sends, arguments, file
# names, template values, database rows) never reaches the terminal raw:
# every byte that is not printable ASCII is escaped (\xHH, \n, \r, \t, \\;
# prov/escape.h), an error stays one line, and over-long text is cut with
# "...".  JSON output stays valid UTF-8 and never loses a member to invalid
# UTF-8.  docs/cli.md, "Outside text".

bats_require_minimum_version 1.5.0
load helper

FAKE="$REPO/tests/tools/fake_device.py"

teardown() {
	bg_stop_all
}

# No ESC, BEL, CR, DEL or byte above 0x7f in a file; $2 lines exactly.
assert_tame() {
	if LC_ALL=C grep -q $'[\x01-\x09\x0b-\x1f\x7f\x80-\xff]' "$1"; then
		echo "raw control or non-ASCII bytes in $1:" >&2
		od -c "$1" >&2
		return 1
	fi
	if [ "$(wc -l <"$1")" -ne "$2" ]; then
		echo "expected $2 lines in $1:" >&2
		cat "$1" >&2
		return 1
	fi
}

# fake NAME HEX: a device on a pty whose info answers ID bytes HEX; sets PORT.
fake() {
	"$PY" "$FAKE" --dev-hex "$2" >"$T/$1.pty" 2>"$T/$1.log" 3>&- &
	bg_record "fake_device-$1" $!
	for _ in $(seq 100); do
		PORT=$(head -n 1 "$T/$1.pty" 2>/dev/null)
		case "$PORT" in /dev/*) return 0 ;; esac
		sleep 0.05
	done
	cat "$T/$1.log" >&2
	return 1
}

hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

# out EXPECTED-STATUS COMMAND...: run it with stdout in $T/out, stderr in $T/err.
out() {
	local want=$1 rc
	shift
	"$@" >"$T/out" 2>"$T/err" && rc=0 || rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "expected status $want, got $rc: $*" >&2
		cat "$T/err" >&2
		return 1
	fi
}

@test "a device whose ID retitles and clears the terminal and forges a line: one escaped line on stderr" {
	make_factory
	id=$'\e]0;pwned\a\e[2J\ninstalled OK'
	fake dev "$(hex "$id")"
	out 3 "$PROV" install --port "$PORT" --template "$TPL/mqtt-mtls.json" --timeout 300 --tries 3
	[ ! -s "$T/out" ]
	assert_tame "$T/err" 1
	[ "$(cat "$T/err")" = "prov: install: $PORT: device info: the device reports a bad ID \"\\x1b]0;pwned\\x07\\x1b[2J\\ninstalled OK\"" ]
	# --json: one line of valid JSON, the error escaped the same way, no device.
	out 3 "$PROV" install --port "$PORT" --template "$TPL/mqtt-mtls.json" --timeout 300 --tries 3 --json
	[ ! -s "$T/err" ]
	assert_tame "$T/out" 1
	"$PY" -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert d["device"] is None and d["result"] == "failed" and d["status"] == "input", d
assert d["error"].endswith("bad ID \"\\x1b]0;pwned\\x07\\x1b[2J\\ninstalled OK\""), d["error"]' "$T/out"
	[ "$(db 'SELECT count(*) FROM devices')" -eq 0 ]
}

@test "a device ID with a C1 CSI and a bidi override (UTF-8), or not UTF-8 at all: nothing raw reaches stderr" {
	make_factory
	fake c1 "$(hex $'dev-\xc2\x9b31m\xe2\x80\xae')"
	out 3 "$PROV" install --port "$PORT" --template "$TPL/coaps-psk.json" --timeout 300 --tries 3
	assert_tame "$T/err" 1
	grep -qF 'bad ID "dev-\xc2\x9b31m\xe2\x80\xae"' "$T/err"
	run -3 "$PROV" install --port "$PORT" --template "$TPL/coaps-psk.json" --timeout 300 --tries 3 --json
	"$PY" -c 'import json, sys; d = json.loads(sys.argv[1]); assert "dev-\\xc2\\x9b31m\\xe2\\x80\\xae" in d["error"], d' "$output"
	# Text that is not UTF-8 is not a CBOR text string: a malformed answer (exit
	# 3) that says so, its bytes escaped, on one line.
	fake ff "$(hex $'dev-\xff\x1b[2J')"
	out 3 "$PROV" install --port "$PORT" --template "$TPL/coaps-psk.json" --timeout 100 --tries 2
	assert_tame "$T/err" 1
	grep -qF "device info: port $PORT: the device's answer (group 80 command 0) is malformed: its body is not CBOR: cbor decode: text string at byte " "$T/err"
	grep -qF ' is not UTF-8 (byte 4 of it: "dev-\xff\x1b[2J")' "$T/err"
	[ "$(db 'SELECT count(*) FROM devices')" -eq 0 ]
}

@test "prov mint --device \$'a\\nb', prov show \$'\\e[31mx': the ID escaped, one line" {
	make_factory
	out 3 "$PROV" mint --template "$TPL/coaps-psk.json" --device $'a\nb'
	[ ! -s "$T/out" ]
	assert_tame "$T/err" 1
	grep -qF 'prov: mint: bad device ID "a\nb": ' "$T/err"
	out 4 "$PROV" show $'\e[31mx'
	assert_tame "$T/err" 1
	[ "$(cat "$T/err")" = 'prov: show: unknown device \x1b[31mx' ]
	# In a message a backslash stays one (messages quote escaped text; escaping
	# them is idempotent); in human output it is doubled (tested below).
	out 4 "$PROV" show 'a\x1b'
	[ "$(cat "$T/err")" = 'prov: show: unknown device a\x1b' ]
	[ "$(db 'SELECT count(*) FROM devices')" -eq 0 ]
}

@test "arguments, options and commands that are not prov's: escaped in usage errors" {
	make_factory
	out 2 "$PROV" list $'x\e[2J\ny'
	head -n 1 "$T/err" >"$T/first"
	assert_tame "$T/first" 1
	[ "$(cat "$T/first")" = 'prov: list: unexpected argument "x\x1b[2J\ny"' ]
	out 2 "$PROV" list $'--bad\e]0;x\a'
	head -n 1 "$T/err" >"$T/first"
	[ "$(cat "$T/first")" = "prov: list: unrecognized or ambiguous option '--bad\\x1b]0;x\\x07'" ]
	out 2 "$PROV" list --json=$'\e'
	[ "$(head -n 1 "$T/err")" = "prov: list: option '--json=\\x1b' does not take an argument" ]
	out 2 "$PROV" show --home
	[ "$(head -n 1 "$T/err")" = "prov: show: option '--home' requires an argument" ]
	out 2 "$PROV" $'\e[2Jmint'
	assert_tame "$T/err" 1
	[ "$(cat "$T/err")" = "prov: '\\x1b[2Jmint' is not a prov command; see 'prov help'" ]
	out 2 "$PROV" help $'\a'
	[ "$(cat "$T/err")" = 'prov: help: no such command: \x07' ]
	out 2 "$PROV" list --busy-timeout $'1\r'
	[ "$(head -n 1 "$T/err")" = 'prov: list: --busy-timeout: not a number of milliseconds: 1\r' ]
}

@test "over-long outside text is cut with a visible '...' and the message keeps its end" {
	make_factory
	long=$(printf 'A%.0s' $(seq 1 5000))
	out 4 "$PROV" show "$long"$'\e'
	assert_tame "$T/err" 1
	n=$(wc -c <"$T/err")
	[ "$n" -lt 800 ]
	grep -q '^prov: show: unknown device AAAA*\.\.\.AAAA*\\x1b$' "$T/err"
	# A usage error keeps its reason after a 3000-character argument.
	out 2 "$PROV" signer export --format c --name "$(printf 'S%.0s' $(seq 1 3000))"
	head -n 1 "$T/err" | grep -q '\.\.\.S*" is not an upper-case C identifier of at most 63 characters$'
}

# A template whose certificate subject carries terminal controls, C1, DEL, a
# bidi override: prov takes it (it is a valid DN) and must show it tamed.
evil_template() {
	mkdir -p "$T/tpl"
	ln -s "$TPL/roots" "$T/tpl/roots"
	"$PY" - "$TPL/mqtt-mtls.json" "$T/tpl/evil.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
for c in t["credentials"]:
    if c.get("type") == "certificate":
        c["subject"] = "CN={id},O=evil\u001b[2J\ninstalled OK\u0007\u007f\u009b31m\u202e"
t["name"] = "evil-mtls"
json.dump(t, open(sys.argv[2], "w"))
EOF
}

@test "a certificate subject with control bytes: prov show and prov inspect escape it; --json keeps it exact" {
	make_factory
	evil_template
	"$PROV" mint --template "$T/tpl/evil.json" --device e1 >/dev/null
	make_device_key dev
	"$PROV" bundle --device e1 --recipient-key "$T/dev.pub.pem" --out "$T/e1.cbor" >/dev/null
	want='CN=e1,O=evil\x1b[2J\ninstalled OK\x07\x7f\xc2\x9b31m\xe2\x80\xae'
	"$PROV" show e1 >"$T/show"
	assert_tame "$T/show" "$(wc -l <"$T/show")"
	grep -qF "cert:       gen 1 slot 1 serial " "$T/show"
	grep -qF " $want until " "$T/show"
	"$PROV" inspect "$T/e1.cbor" >"$T/inspect"
	assert_tame "$T/inspect" "$(wc -l <"$T/inspect")"
	# From the certificate itself prov renders the name as OpenSSL does (RFC
	# 2253, controls as \XX), and escapes that: the backslashes doubled.
	grep -qF '             CN=e1,O=evil\\1B[2J\\0Ainstalled OK\\07\\7F\xc2\x9b31m\xe2\x80\xae, serial ' "$T/inspect"
	# --json: the subject as it is (JSON escapes the controls), read back
	# exactly: the database's text in show, OpenSSL's RFC 2253 text in inspect.
	"$PROV" show e1 --json >"$T/show.json"
	"$PROV" inspect "$T/e1.cbor" --json >"$T/inspect.json"
	"$PROV" export --device e1 --what cert |
		openssl x509 -noout -subject -nameopt RFC2253,-esc_msb | sed 's/^subject=//' >"$T/openssl.subject"
	"$PY" - "$T/show.json" "$T/inspect.json" "$T/openssl.subject" <<'EOF'
import json, sys
want = "CN=e1,O=evil\x1b[2J\ninstalled OK\x07\x7f\x9b31m\u202e"
assert json.load(open(sys.argv[1]))["certificates"][0]["subject"] == want
ent = [e for e in json.load(open(sys.argv[2]))["entries"] if e["type"] == "device-cert"][0]
got = ent["certificates"][0]["subject"]
assert got == open(sys.argv[3], encoding="utf-8").read().rstrip("\n"), got
assert got == "CN=e1,O=evil\\1B[2J\\0Ainstalled OK\\07\\7F\x9b31m\u202e", got
EOF
}

@test "JSON never loses a member to invalid UTF-8: file names, database rows" {
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p1 >/dev/null
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p2 >/dev/null
	make_device_key dev
	bad=$'b\xff\xfe'
	"$PROV" bundle --device p1 --recipient-key "$T/dev.pub.pem" --out "$T/$bad.cbor" --json >"$T/b.json"
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["file"].endswith("b\\xff\\xfe.cbor"), d' "$T/b.json"
	run -0 "$PROV" inspect "$T/$bad.cbor" --json
	"$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["file"].endswith("/b\\xff\\xfe.cbor"), d' "$output"
	cp "$TPL/coaps-psk.json" "$T/$bad.json"
	run -0 "$PROV" template check "$T/$bad.json" --json
	"$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); assert len(d) == 1 and d[0]["file"].endswith("b\\xff\\xfe.json") and d[0]["valid"], d' "$output"
	"$PROV" template check "$T/$bad.json" >"$T/check"
	assert_tame "$T/check" 1
	# A database row that is not UTF-8 (a damaged or hostile database): the
	# device is still listed, its template name escaped; people see it tamed.
	# Human output doubles a backslash, so it reads back unambiguously.
	db "UPDATE templates SET name = 'back\slash'"
	"$PROV" list >"$T/list"
	grep -qF 'back\\slash' "$T/list"
	db "UPDATE templates SET name = CAST(X'6576696cff1b5b324a' AS TEXT)"
	run -0 "$PROV" list --json
	"$PY" -c 'import json,sys
d = json.loads(sys.argv[1])
assert d["count"] == 2 and len(d["devices"]) == 2, d
assert all(x["template"] == "evil\\xff\\x1b[2J" for x in d["devices"]), d' "$output"
	"$PROV" list >"$T/list"
	assert_tame "$T/list" 3
	grep -qF 'evil\xff\x1b[2J' "$T/list"
	run -0 "$PROV" show p1 --json
	"$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["template"] == "evil\\xff\\x1b[2J", d' "$output"
}
