#!/usr/bin/env bats
# cli.bats - the prov command line as docs/cli.md fixes it: usage and help,
# exit codes, the "prov: <command>: ..." error format, checked output (a full
# disk, a closed stdout), a missing home, and databases that are not, or no
# longer, provkit databases.

load helper

bats_require_minimum_version 1.5.0

# Every command, as `prov help` lists it.
COMMANDS=(init "ca export" "signer export" "template check" mint list show export bundle inspect
	"trust build" "trust sign" "trust inspect" "receipt verify" "thread pskc" "thread pskd" install revoke crl "db migrate")

# Each stderr line of an error must be in the documented format.
assert_error_format() {
	local cmd=$1 line
	[ -n "$stderr" ] || { echo "no error message" >&2; return 1; }
	while IFS= read -r line; do
		[ -z "$line" ] && break # the usage text follows a blank line
		case "$line" in
		"prov: $cmd: "*) ;;
		*) echo "not in the error format \"prov: $cmd: ...\": $line" >&2; return 1 ;;
		esac
	done <<<"$stderr"
}

# A home with a few devices: p1, p2 (PSK), d1 (certificate, host key).
make_devices() {
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p2 >/dev/null
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p1 >/dev/null
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device d1 >/dev/null
}

# prov with its stdout on a full device / closed (for `run`, which captures stdout).
prov_to_full() { "$PROV" "$@" >/dev/full; }
prov_closed_stdout() { "$PROV" "$@" >&-; }

# Overwrite page $2 (1-based) of $1 with 0xA5 bytes; $3 pages (default 1).
clobber_pages() {
	$PY -c '
import sys
path, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "r+b") as f:
    size = f.seek(0, 2)
    ps = int.from_bytes(open(path, "rb").read(18)[16:18], "big")
    end = min(size, (first - 1 + count) * ps)
    f.seek((first - 1) * ps)
    f.write(b"\xa5" * (end - (first - 1) * ps))
' "$1" "$2" "${3:-1}"
}

@test "cli: prov alone is a usage error (2), the overview on stderr" {
	run --separate-stderr "$PROV"
	assert_status 2
	[ -z "$output" ]
	case "$stderr" in "usage: prov [--version] <command> [<args>]"*) ;; *) false ;; esac
	for c in "${COMMANDS[@]}"; do
		grep -q "^  $c  " <<<"$stderr"
	done
}

@test "cli: an unknown command is a usage error (2)" {
	for args in frob "ca" "ca frob" "signer" "template frob" "Init" "--frob"; do
		run --separate-stderr "$PROV" $args
		assert_status 2
		[ -z "$output" ]
		[ "$stderr" = "prov: '$args' is not a prov command; see 'prov help'" ]
	done
	run --separate-stderr "$PROV" help frob
	assert_status 2
	[ "$stderr" = "prov: help: no such command: frob" ]
}

@test "cli: prov help, help --all and --version exit 0 on stdout" {
	run --separate-stderr "$PROV" help
	assert_status 0
	[ -z "$stderr" ]
	case "$output" in "usage: prov [--version] <command> [<args>]"*) ;; *) false ;; esac
	overview=$output
	run --separate-stderr "$PROV" --help
	assert_status 0
	[ "$output" = "$overview" ]
	run --separate-stderr "$PROV" help --all
	assert_status 0
	for c in "${COMMANDS[@]}"; do
		grep -q "^usage: prov $c" <<<"$output"
	done
	[ "$(grep -c '^usage: prov ' <<<"$output")" = $((${#COMMANDS[@]} + 1)) ]
	run --separate-stderr "$PROV" --version
	assert_status 0
	version=$(sed -n 's/^VERSION *:= *//p' "$REPO/Makefile")
	[ -n "$version" ]
	[ "$output" = "prov $version" ]
}

@test "cli: prov CMD --help, -h and prov help CMD print the command's usage (0) for every command" {
	for c in "${COMMANDS[@]}"; do
		run --separate-stderr "$PROV" $c --help
		assert_status 0
		[ -z "$stderr" ]
		case "$output" in "usage: prov $c "*) ;; *) echo "$c --help: $output" >&2; false ;; esac
		usage=$output
		run --separate-stderr "$PROV" $c -h
		assert_status 0
		[ "$output" = "$usage" ]
		run --separate-stderr "$PROV" help $c
		assert_status 0
		[ "$output" = "$usage" ]
		# --help never needs a home.
		[ ! -e "$PROV_HOME" ]
	done
}

@test "cli: an unknown option is a usage error (2) for every command, reported as prov: CMD:" {
	for c in "${COMMANDS[@]}"; do
		run --separate-stderr "$PROV" $c --no-such-option
		assert_status 2
		[ -z "$output" ]
		assert_error_format "$c"
		grep -q -- "--no-such-option" <<<"$stderr"
		grep -q "^usage: prov $c" <<<"$stderr"
	done
	[ ! -e "$PROV_HOME" ]
}

@test "cli: a missing option value and a bad --busy-timeout are usage errors (2)" {
	make_factory
	run --separate-stderr "$PROV" list --home
	assert_status 2
	assert_error_format list
	run --separate-stderr "$PROV" list --busy-timeout soon
	assert_status 2
	assert_error_format list
	grep -q -- "--busy-timeout: not a number of milliseconds: soon" <<<"$stderr"
	run --separate-stderr "$PROV" list --status retired
	assert_status 2
	grep -q -- '--status: "retired" is not minted, bundled, installed, pending or revoked' <<<"$stderr"
}

@test "cli: output to a full device is an I/O error (8): cannot write, said once" {
	make_devices
	for args in "ca export" "signer export" "signer export --format c" "list" "list --json" \
		"show d1" "show d1 --json" "export --device d1 --what cert" "export --device d1 --what chain" \
		"template check $TPL/coaps-psk.json" "help --all" "--version"; do
		run --separate-stderr prov_to_full $args
		echo "prov $args -> $status: $stderr"
		assert_status 8
		[[ "$stderr" == *"cannot write"*"No space left on device"* ]]
		[ "$(grep -c '^prov: ' <<<"$stderr")" = 1 ]
	done
}

@test "cli: a closed stdout is an I/O error (8)" {
	make_devices
	for args in "ca export" "list" "export --device p1 --what psk --reveal" "help"; do
		run --separate-stderr prov_closed_stdout $args
		echo "prov $args -> $status: $stderr"
		assert_status 8
		[[ "$stderr" == *"cannot write"* ]]
	done
	# The database was not handed the closed descriptor: it is intact.
	[ "$(db 'PRAGMA integrity_check')" = ok ]
	[ "$(db 'SELECT count(*) FROM devices')" = 3 ]
}

@test "cli: every command needing a home says no factory home (4) and creates none" {
	echo x >"$T/bundle.cbor"
	for cmd_args in "ca export|ca export" "signer export|signer export" "list|list" "show|show d1" \
		"export|export --device d1 --what cert" "export|export psk-table --format gnutls --reveal" \
		"mint|mint --template $TPL/coaps-psk.json --device d1" \
		"bundle|bundle --device d1 --out $T/out.cbor" "inspect|inspect $T/bundle.cbor"; do
		c=${cmd_args%%|*}
		run --separate-stderr "$PROV" ${cmd_args#*|}
		assert_status 4
		[ "$stderr" = "prov: $c: no factory home at $PROV_HOME (create one with prov init)" ]
		[ ! -e "$PROV_HOME" ]
	done
	[ ! -e "$T/out.cbor" ]
	# A directory without prov.db is no home either.
	mkdir "$PROV_HOME"
	run "$PROV" list
	assert_status 4
	[ -z "$(ls -A "$PROV_HOME")" ]
}

@test "cli: show on an unknown device is not found (4); show --json of a known one" {
	make_devices
	run --separate-stderr "$PROV" show nope
	assert_status 4
	[ "$stderr" = "prov: show: unknown device nope" ]
	[ -z "$output" ]
	# has_recipient_key is a boolean: true for a device that gave its key (CSR).
	make_device_key c1
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device c1 --csr "$T/c1.csr" >/dev/null
	for d in c1:True d1:False; do
		run --separate-stderr "$PROV" show ${d%:*} --json
		assert_status 0
		echo "$output" | $PY -c "import json,sys; j = json.load(sys.stdin); assert j['has_recipient_key'] is ${d#*:}, j"
	done
	run --separate-stderr "$PROV" show p1 --json
	assert_status 0
	echo "$output" | $PY -c '
import json, sys
j = json.load(sys.stdin)
for k in ("id", "status", "generation", "bundle_counter", "template", "has_recipient_key",
          "created_at", "updated_at", "keys", "certificates", "psks", "raw_keys", "bundles",
          "installs", "audit"):
    assert k in j, k
assert j["id"] == "p1" and j["template"] == "coaps-psk" and j["status"] == "minted", j
assert j["has_recipient_key"] is False, j  # a PSK device registered no key
[psk] = j["psks"]
assert psk["identity"] == "p1" and psk["current"] is True and psk["generation"] == 1, psk
assert set(psk) == {"bits", "created_at", "current", "generation", "identity", "slot"}, psk
assert "sealed" not in json.dumps(j), "show must not print sealed secrets"
'
}

@test "cli: list --json: count and devices in the documented shape, ordered by id" {
	make_devices
	run --separate-stderr "$PROV" list --json
	assert_status 0
	echo "$output" | $PY -c '
import json, re, sys
j = json.load(sys.stdin)
assert set(j) == {"count", "devices"}, j
assert j["count"] == 3 == len(j["devices"]), j
assert [d["id"] for d in j["devices"]] == ["d1", "p1", "p2"], j
iso = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
for d in j["devices"]:
    assert set(d) == {"id", "status", "generation", "bundle_counter", "template", "created_at", "updated_at"}, d
    assert d["status"] == "minted" and d["generation"] == 1 and d["bundle_counter"] == 0, d
    assert iso.match(d["created_at"]) and iso.match(d["updated_at"]), d
assert {d["id"]: d["template"] for d in j["devices"]} == {"d1": "mqtt-mtls", "p1": "coaps-psk", "p2": "coaps-psk"}
'
	run --separate-stderr "$PROV" list --status bundled --json
	assert_status 0
	echo "$output" | $PY -c 'import json,sys; assert json.load(sys.stdin) == {"count": 0, "devices": []}'
	# The same devices for people: a header and one line each.
	run --separate-stderr "$PROV" list
	assert_status 0
	[ "${#lines[@]}" = 4 ]
	[[ "${lines[0]}" == DEVICE*STATUS*GEN*BUNDLES*TEMPLATE ]]
	[[ "${lines[1]}" == "d1 "*minted*mqtt-mtls ]]
}

@test "cli: a file that is not a database as prov.db is a database error (6)" {
	make_factory
	printf 'this is not an SQLite database, just text\n%.0s' {1..200} >"$PROV_HOME/prov.db"
	for cmd_args in "list|list" "show|show x" "ca export|ca export" \
		"export|export psk-table --format csv --reveal"; do
		run --separate-stderr "$PROV" ${cmd_args#*|}
		assert_status 6
		assert_error_format "${cmd_args%%|*}"
		[[ "$stderr" == *": not a provkit database (file is not a database)" ]]
	done
}

@test "cli: an empty prov.db (truncated to zero) is a database error (6), not a new database" {
	make_devices
	: >"$PROV_HOME/prov.db"
	run --separate-stderr "$PROV" list
	echo "$stderr"
	assert_status 6
	[ "$(stat -c %s "$PROV_HOME/prov.db")" = 0 ]
}

@test "cli: another application's SQLite database as prov.db is refused (6) and left unchanged" {
	make_factory
	rm "$PROV_HOME/prov.db"
	sqlite3 "$PROV_HOME/prov.db" 'CREATE TABLE inventory (item TEXT); INSERT INTO inventory VALUES ("widget")'
	before=$(sha256sum <"$PROV_HOME/prov.db")
	run --separate-stderr "$PROV" list
	echo "$stderr"
	assert_status 6
	[ "$(sha256sum <"$PROV_HOME/prov.db")" = "$before" ]
	[ "$(db "SELECT group_concat(name) FROM sqlite_master")" = inventory ]
}

@test "cli: a database from a newer prov is refused (15)" {
	make_devices
	db 'PRAGMA user_version = 99'
	run --separate-stderr "$PROV" list
	assert_status 15
	[[ "$stderr" == "prov: list: "*"schema version 99 is newer than this prov supports (3)"* ]]
	[ "$(db 'PRAGMA user_version')" = 99 ]
}

@test "cli: a corrupted devices table is reported cleanly (6), no crash" {
	make_devices
	page=$(db "SELECT rootpage FROM sqlite_master WHERE name = 'devices'")
	clobber_pages "$PROV_HOME/prov.db" "$page"
	for args in list "show p1" "export --device p1 --what psk --reveal" "list --json" \
		"mint --template $TPL/coaps-psk.json --device p9"; do
		run --separate-stderr "$PROV" $args
		echo "prov $args -> $status: $stderr"
		assert_status 6
		[[ "$stderr" == *"database disk image is malformed"* ]]
		assert_error_format "${args%% [a-z-]*}"
	done
}

@test "cli: bytes overwritten in the middle of prov.db: every command reports 6, none crashes" {
	make_devices
	size=$(stat -c %s "$PROV_HOME/prov.db")
	pages=$((size / 4096))
	[ "$pages" -gt 4 ]
	# Everything but the first page (the header and schema): every table is gone.
	clobber_pages "$PROV_HOME/prov.db" 2 $((pages - 1))
	for args in list "show p1" "ca export" "export --device d1 --what cert" \
		"export psk-table --format gnutls --reveal" "mint --template $TPL/coaps-psk.json --device p9"; do
		run --separate-stderr "$PROV" $args
		echo "prov $args -> $status: $stderr"
		assert_status 6
		[[ "$stderr" == *"malformed"* ]]
	done
}

@test "cli: a prov.db truncated to its first two pages is reported cleanly (6)" {
	make_devices
	truncate -s 8192 "$PROV_HOME/prov.db"
	for args in list "show p1" "export --device p1 --what psk --reveal"; do
		run --separate-stderr "$PROV" $args
		assert_status 6
		[[ "$stderr" == *"malformed"* ]]
	done
}

@test "show: the human form lists each generation's credentials and the audit trail" {
	make_factory
	make_device_key dev
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device s1 --csr "$T/dev.csr" >/dev/null
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device s1 --csr "$T/dev.csr" --rotate >/dev/null
	run "$PROV" show s1
	assert_status 0
	assert_output_has "generation: 2"
	[ "$(echo "$output" | grep -c '^cert: ')" = 2 ]
	[ "$(echo "$output" | grep -c '(current)')" = 2 ]   # the key and the certificate of gen 2
	assert_output_has "$(db "SELECT serial FROM certificates WHERE generation = 2")"
	[ "$(echo "$output" | grep -c '^audit: ')" = 2 ]
}

@test "cli: malformed numbers are usage errors (2) and nothing is created" {
	make_factory
	for args in "--busy-timeout abc" "--busy-timeout -5" "--count 0 --id-format d-%d" \
		"--count x --id-format d-%d" "--count 5 --id-format d-%d --chunk 0" \
		"--count 5 --id-format d-%d --start -1"; do
		# shellcheck disable=SC2086
		run "$PROV" mint --template "$TPL/coaps-psk.json" $args
		assert_status 2
		assert_output_has "prov: mint: "
	done
	[ "$(db 'SELECT count(*) FROM devices')" = 0 ]
}
