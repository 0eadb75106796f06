#!/usr/bin/env bats
# readonly_home.bats - a factory home on a read-only file system (a real one:
# a tmpfs remounted read-only, so the test needs root; without it every test
# is reported skipped, not passed).  Commands that only read work and print
# what they print on a writable home; commands that write, and exports of
# secrets (which must be audited), fail with exit 8 and one line saying why,
# printing nothing.  docs/cli.md, "Read-only homes".

load helper

bats_require_minimum_version 1.5.0

MNT=
PERM=

setup() {
	T="$BATS_TEST_TMPDIR"
	unset PROV_PASSPHRASE PROV_NOW
	if [ "$(id -u)" -ne 0 ]; then
		skip "needs root to mount a tmpfs read-only"
	fi
	mkdir -p "$T/mnt"
	if ! mount -t tmpfs -o size=32m tmpfs "$T/mnt" 2>/dev/null; then
		skip "cannot mount a tmpfs here"
	fi
	MNT="$T/mnt"
	export PROV_HOME="$MNT/factory"
}

teardown() {
	if [ -n "$PERM" ]; then
		chmod -R u+w "$PERM"
		rm -rf "$PERM"
	fi
	if [ -n "$MNT" ]; then
		umount "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
}

ro() { mount -o remount,ro "$MNT"; }
rw() { mount -o remount,rw "$MNT"; }

# A home with a PSK device, a certificate device with a bundle, a signed store.
make_home() {
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device p1 >/dev/null
	"$PROV" mint --template "$TPL/mqtt-mtls.json" --device d1 >/dev/null
	"$PROV" mint --template "$TPL/lwm2m-psk.json" --device l1 >/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/dev.key" 2>/dev/null
	openssl pkey -in "$T/dev.key" -pubout -out "$T/dev.pub.pem"
	"$PROV" bundle --device d1 --recipient-key "$T/dev.pub.pem" --out "$T/d1.cbor" >/dev/null
	"$PROV" trust build --from "$TPL/roots/iot-roots.pem" --all --out "$T/roots.store" >/dev/null 2>&1
	"$PROV" trust sign --store "$T/roots.store" --out "$T/roots.signed" >/dev/null
}

# The read commands, one per line (word-split; no argument has a space).
READS=(
	"list" "list --json" "list --status pending"
	"show p1" "show d1 --json"
	"export --device d1 --what cert" "export --device d1 --what chain"
	"export --device d1 --what pubkey" "export --device d1 --what bundle"
	"export --device l1 --what lwm2m-security"
	"inspect T/d1.cbor" "inspect T/d1.cbor --json"
	"trust inspect T/roots.signed"
)

@test "read-only home: list, show, export (public), inspect, trust inspect print what they print on a writable home" {
	make_home
	# (not $i: bats's run changes it)
	local k=0 cmd
	for cmd in "${READS[@]}"; do
		# shellcheck disable=SC2086
		"$PROV" ${cmd//T\//$T/} >"$T/want.$k"
		k=$((k + 1))
	done
	ls -la --time-style=+ "$PROV_HOME" >"$T/files.before"
	ro
	k=0
	for cmd in "${READS[@]}"; do
		# shellcheck disable=SC2086
		"$PROV" ${cmd//T\//$T/} >"$T/got" 2>"$T/err" || { echo "prov $cmd: exit $?"; cat "$T/err"; false; }
		[ ! -s "$T/err" ]
		cmp "$T/got" "$T/want.$k"
		k=$((k + 1))
	done
	rw
	ls -la --time-style=+ "$PROV_HOME" >"$T/files.after"
	diff "$T/files.before" "$T/files.after"
	sqlite3 "$PROV_HOME/prov.db" 'PRAGMA integrity_check' | grep -qx ok
}

@test "read-only home: ca export and signer export print the same; a note says the export is not in the audit log" {
	make_home
	"$PROV" ca export >"$T/ca.want"
	"$PROV" signer export >"$T/signer.want"
	audits=$(sqlite3 "$PROV_HOME/prov.db" "SELECT count(*) FROM audit")
	ro
	for what in ca signer; do
		run --separate-stderr "$PROV" $what export
		assert_status 0
		[ "$output" = "$(cat "$T/$what.want")" ]
		[ "$stderr" = "prov: $what export: note: not recorded in the audit log: the factory database is read-only" ]
	done
	# The same text openssl reads.
	"$PROV" ca export | openssl x509 -noout -subject | grep -q "provkit Device CA"
	rw
	[ "$(sqlite3 "$PROV_HOME/prov.db" "SELECT count(*) FROM audit")" -eq "$audits" ]
}

@test "read-only home: writers and audited secret exports fail with exit 8, one line, nothing printed" {
	make_home
	ro
	local cmd
	for cmd in \
		"mint --template $TPL/coaps-psk.json --device p9" \
		"bundle --device d1 --recipient-key $T/dev.pub.pem --out $T/x.cbor" \
		"trust sign --store $T/roots.store --out $T/x.signed" \
		"export --device p1 --what psk --reveal" \
		"export --device d1 --what key --reveal" \
		"export --device l1 --what lwm2m-security --reveal" \
		"export psk-table --format json --reveal"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$PROV" $cmd
		echo "prov $cmd: $status: $stderr"
		assert_status 8
		[ -z "$output" ]
		[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
		case "$stderr" in
		"prov: "*"read-only"*) ;;
		*) false ;;
		esac
	done
	[ ! -e "$T/x.cbor" ] && [ ! -e "$T/x.signed" ]
	# The writers' message names the file and the reason.
	run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --device p9
	[ "$stderr" = "prov: mint: $PROV_HOME/prov.db: cannot be written: it is on a read-only file system, and this command writes to the database" ]
	rw
	[ "$(sqlite3 "$PROV_HOME/prov.db" "SELECT count(*) FROM devices WHERE id = 'p9'")" -eq 0 ]
}

# A writer killed after a commit leaves its change in prov.db-wal (and
# prov.db-shm); SQLite applies it when the database is next opened.
kill_a_writer() {
	$PY - "$PROV_HOME/prov.db" <<'EOF'
import os, signal, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("PRAGMA wal_autocheckpoint = 0")
c.execute("UPDATE devices SET updated_at = 12345 WHERE id = 'p1'")
c.commit()
os.kill(os.getpid(), signal.SIGKILL)
EOF
}

@test "read-only home with a write-ahead log: read with its -shm; refused without it, never read stale" {
	make_home
	run kill_a_writer
	[ -s "$PROV_HOME/prov.db-wal" ] && [ -e "$PROV_HOME/prov.db-shm" ]
	ro
	# -wal and -shm there: SQLite reads through them and sees the change.
	run "$PROV" list --json
	assert_status 0
	[ "$($PY -c 'import json,sys; d=json.load(sys.stdin); print([x["updated_at"] for x in d["devices"] if x["id"]=="p1"][0])' <<<"$output")" = "1970-01-01T03:25:45Z" ]
	# Without the -shm SQLite cannot apply the log on a read-only file system,
	# and an immutable open would show the stale main file: refused.
	rw
	rm "$PROV_HOME/prov.db-shm"
	ro
	run --separate-stderr "$PROV" show p1
	assert_status 8
	[ -z "$output" ]
	[ "$stderr" = "prov: show: $PROV_HOME/prov.db: cannot be read on this read-only file system: its write-ahead log $PROV_HOME/prov.db-wal holds changes that SQLite applies only through a $PROV_HOME/prov.db-shm file, which it cannot create here; checkpoint the log where the home is writable (PRAGMA wal_checkpoint)" ]
	# Checkpointed where it can be written, the log is in the file; read-only again, it reads.
	rw
	sqlite3 "$PROV_HOME/prov.db" 'PRAGMA wal_checkpoint(TRUNCATE)' >/dev/null
	[ ! -s "$PROV_HOME/prov.db-wal" ]
	ro
	run "$PROV" show p1 --json
	assert_status 0
	assert_output_has '"updated_at": "1970-01-01T03:25:45Z"'
}

@test "home readable but not writable by this user (permissions, not a read-only mount): a clear refusal, exit 8" {
	make_home
	# A directory the user nobody can reach (the test's own is private).
	PERM=$(mktemp -d /tmp/prov-perm.XXXXXX)
	chmod 755 "$PERM"
	cp -a "$PROV_HOME" "$PERM/home"
	chmod -R a+rX,a-w "$PERM/home"
	# WAL needs prov.db-shm beside the file; without write access to the
	# directory SQLite cannot make it, and immutable is unsafe where the
	# owner may write: refused, naming the reason.
	run --separate-stderr runuser -u nobody -- env PROV_HOME="$PERM/home" "$PROV" list
	assert_status 8
	[ "$stderr" = "prov: list: $PERM/home/prov.db: cannot be read without write access to its directory: SQLite makes a -shm file beside a WAL database to read it" ]
	run --separate-stderr runuser -u nobody -- env PROV_HOME="$PERM/home" "$PROV" mint --template "$TPL/coaps-psk.json" --device p9
	assert_status 8
	[ "$stderr" = "prov: mint: $PERM/home/prov.db: cannot be written: the file is not writable, and this command writes to the database" ]
}
