#!/usr/bin/env bats
# pg.bats - the factory database on PostgreSQL (issue 14; docs/database.md).
#
# One throwaway cluster for the file (tests/tools/pg-cluster.sh: initdb into a
# temporary directory as an unprivileged user, its socket there, a free port;
# stopped in teardown_file, and by a watchdog if bats itself dies).  psql is
# the independent reader.  The mint, bundle, export, concurrency and serial
# install suites run again with PROV_TEST_DB (helper.bash: a fresh database
# per test as PROV_DB); then four stations on one database mint and install at
# the same time.

bats_require_minimum_version 1.5.0
load helper

SIM="$PROV_BUILD/agent-sim"
MQTT="$TPL/mqtt-mtls.json"
CLUSTER="$REPO/tests/tools/pg-cluster.sh"

setup_file() {
	PG_DIR=$(mktemp -d /tmp/provkit-pg.XXXXXX)
	export PG_DIR
	PG_OPTS="-c fsync=off -c synchronous_commit=off" sh "$CLUSTER" start "$PG_DIR" "$$" >/dev/null
}

teardown_file() {
	sh "$CLUSTER" stop "$PG_DIR"
}

teardown() {
	bg_stop_all
}

# newdb NAME: a fresh database; prints its URI.
newdb() {
	sh "$CLUSTER" createdb "$PG_DIR" "$1"
}

# q URI SQL: psql's answer, unaligned.
q() {
	psql "$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"
}

# suite NAME: run tests/bats/NAME.bats on PostgreSQL; every test passes or is
# skipped as SQLite-only (at most MAX_SKIP of them).
suite() {
	local log="$T/$1.tap"
	PROV_TEST_DB="$PG_DIR" bats --tap "$REPO/tests/bats/$1.bats" > "$log" 2>&1 || true
	planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | head -n 1)
	ok=$(grep -c '^ok ' "$log" || true)
	skipped=$(grep -c '^ok .* # skip' "$log" || true)
	echo "# $1 on PostgreSQL: $ok of $planned ok ($skipped skipped as SQLite-only)" >&3
	if grep -q '^not ok' "$log" || [ "${planned:-0}" -eq 0 ] || [ "$ok" -ne "$planned" ]; then
		grep -A 30 '^not ok' "$log" >&2 || cat "$log" >&2
		return 1
	fi
	[ "$skipped" -le "$2" ]
}

# --- the suites, again ------------------------------------------------------------

@test "pg: the mint suite passes on PostgreSQL" {
	suite mint 3
}

@test "pg: the bundle suite passes on PostgreSQL" {
	suite bundle 0
}

@test "pg: the export suite passes on PostgreSQL" {
	suite export 3
}

@test "pg: the concurrency suite passes on PostgreSQL" {
	suite concurrency 0
}

@test "pg: the serial install suite passes on PostgreSQL" {
	suite install_serial 0
}

# --- init, stations -----------------------------------------------------------------

@test "pg: init makes the factory in the database (psql: schema 3, tables, station, init row); the home names it, no password" {
	U=$(newdb f1)
	run --separate-stderr "$PROV" init --db "$U" --station line-1 --json
	assert_status 0
	echo "$output" | "$PY" -c '
import json, sys
j = json.load(sys.stdin)
assert j["database"] == "postgresql" and j["station"] == "line-1" and j["joined"] is False, j'
	[ "$(q "$U" 'SELECT version FROM provkit_schema')" = 3 ]
	tables=$(q "$U" "SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'")
	[ "$tables" = "audit bundles certificates crls device_keys devices installs meta provkit_schema psks raw_keys revocations stations templates" ]
	[ "$(q "$U" 'SELECT name FROM stations')" = line-1 ]
	[ "$(q "$U" "SELECT action || '|' || station || '|' || coalesce(device_id, 'NULL') FROM audit")" = "init|line-1|NULL" ]
	[ "$(q "$U" "SELECT count(*) FROM meta WHERE key IN ('kek_check', 'ca_cert', 'signer_spki')")" = 3 ]
	# The home: keys and the URI, no prov.db.
	[ "$(cd "$PROV_HOME" && ls -A | sort | tr '\n' ' ')" = "ca.key ca.pem db kek signer.key signer.pub.pem station " ]
	[ "$(cat "$PROV_HOME/db")" = "$U" ]
	[ "$(stat -c %a "$PROV_HOME/db")" = 600 ]
	# No key material in the database: the CA and signer private keys are not in its dump.
	pg_dump --data-only "$U" > "$T/dump"
	for k in ca.key signer.key; do
		d=$("$PY" -c 'import sys
from cryptography.hazmat.primitives import serialization
k = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
print(k.private_numbers().private_value.to_bytes(32, "big").hex())' "$PROV_HOME/$k")
		if tr -d '\n' < "$T/dump" | grep -qi "$d"; then echo "$k in the database" >&2; false; fi
	done
	grep -q "$(q "$U" "SELECT encode(value, 'hex') FROM meta WHERE key = 'kek_check'")" "$T/dump"
	# A URI with a password is refused before anything is made (exit 2).
	run --separate-stderr "$PROV" init --home "$T/pw" --db "postgresql://prov:secret@127.0.0.1/x"
	assert_status 2
	[[ "$stderr" == *"carries a password"* ]]
	[[ "$stderr" != *secret* ]]
	[ ! -e "$T/pw" ]
}

@test "pg: a second station joins with the first one's keys; wrong keys, no keys, a taken name are refused" {
	U=$(newdb f2)
	"$PROV" init --home "$T/s1" --db "$U" --station s1 >/dev/null
	# Without --keys-from: the factory is there already (5), nothing made.
	run --separate-stderr "$PROV" init --home "$T/s2" --db "$U" --station s2
	assert_status 5
	[[ "$stderr" == *"already holds a factory (1 station)"* ]]
	[ ! -e "$T/s2" ]
	# Another factory's keys: the CA does not match what the database records (7).
	"$PROV" init --home "$T/other" >/dev/null
	run --separate-stderr "$PROV" init --home "$T/s2" --db "$U" --station s2 --keys-from "$T/other"
	assert_status 7
	[[ "$stderr" == *"is not this factory's CA"* ]]
	[ ! -e "$T/s2" ]
	# Its own CA but a wrong kek file (9).
	mkdir "$T/mixed" && cp "$T/s1"/ca.* "$T/s1"/signer.* "$T/mixed/" && cp "$T/other/kek" "$T/mixed/"
	run --separate-stderr "$PROV" init --home "$T/s2" --db "$U" --station s2 --keys-from "$T/mixed"
	assert_status 9
	[ ! -e "$T/s2" ]
	# The right keys: joined; the name s1 is taken (5).
	run --separate-stderr "$PROV" init --home "$T/s1b" --db "$U" --station s1 --keys-from "$T/s1"
	assert_status 5
	[[ "$stderr" == *'already has a station "s1"'* ]]
	run --separate-stderr "$PROV" init --home "$T/s2" --db "$U" --station s2 --keys-from "$T/s1" --json
	assert_status 0
	[[ "$output" == *'"joined": true'* ]]
	for f in ca.pem ca.key signer.key signer.pub.pem kek; do cmp "$T/s1/$f" "$T/s2/$f"; done
	[ "$(q "$U" 'SELECT string_agg(name, $$,$$ ORDER BY name) FROM stations')" = "s1,s2" ]
	[ "$(q "$U" "SELECT string_agg(action || ':' || station, ',' ORDER BY seq) FROM audit")" = "init:s1,join:s2" ]
	# Both issue into the one factory; list --station tells them apart.
	"$PROV" mint --home "$T/s1" --template "$TPL/coaps-psk.json" --count 3 --id-format 'a-%d' >/dev/null
	"$PROV" mint --home "$T/s2" --template "$TPL/coaps-psk.json" --count 2 --id-format 'b-%d' >/dev/null
	[ "$("$PROV" list --home "$T/s2" --station s1 --json | jq -r '[.devices[].id] | join(",")')" = "a-1,a-2,a-3" ]
	[ "$("$PROV" list --home "$T/s1" --station s2 --json | jq -r '[.devices[].id] | join(",")')" = "b-1,b-2" ]
	[ "$("$PROV" list --home "$T/s1" --json | jq .count)" = 5 ]
	# A secret minted at one station opens at the other (one KEK).
	[ "$("$PROV" export --home "$T/s1" --device b-1 --what psk --reveal)" = \
	  "$("$PROV" export --home "$T/s2" --device b-1 --what psk --reveal)" ]
}

@test "pg: audit rows cannot be updated, deleted or truncated, nor a counter lowered, even by psql as the owner" {
	U=$(newdb f3)
	PROV_DB="$U" make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device d1 >/dev/null
	"$PROV" bundle --device d1 --insecure-plaintext-secrets --out "$T/b.cbor" 2>/dev/null
	before=$(q "$U" 'SELECT count(*) FROM audit')
	for sql in "UPDATE audit SET station = 'forged'" "DELETE FROM audit" "TRUNCATE audit" \
		"UPDATE devices SET bundle_counter = 0 WHERE id = 'd1'"; do
		run q "$U" "$sql"
		echo "$sql -> $status $output"
		[ "$status" -ne 0 ]
		[[ "$output" == *"append-only"* || "$output" == *"only grows"* ]]
	done
	[ "$(q "$U" 'SELECT count(*) FROM audit')" = "$before" ]
	[ "$(q "$U" "SELECT count(*) FROM audit WHERE station = 'forged'")" = 0 ]
	[ "$(q "$U" "SELECT bundle_counter FROM devices WHERE id = 'd1'")" = 1 ]
}

# --- faults -------------------------------------------------------------------------

@test "pg: refused credentials 13, unreachable server 14, no such database 4, wrong schema version 15" {
	U=$(newdb f4)
	PROV_DB="$U" make_factory
	port=$(cat "$PG_DIR/port")
	# Over TCP the server wants a password (SCRAM): a wrong one is refused.
	printf 'postgresql://prov@127.0.0.1:%s/f4\n' "$port" > "$PROV_HOME/db"
	PGPASSWORD=wrong run --separate-stderr "$PROV" list
	assert_status 13
	[[ "$stderr" == "prov: list: the PostgreSQL server 127.0.0.1 port $port, database f4 refused the login: "*"password authentication failed"* ]]
	[[ "$stderr" != *wrong* ]]
	PGPASSWORD=prov-test-pw run --separate-stderr "$PROV" list --json
	assert_status 0
	# Nothing listens on a closed port.
	closed=$(free_port tcp)
	printf 'postgresql://prov@127.0.0.1:%s/f4\n' "$closed" > "$PROV_HOME/db"
	run --separate-stderr "$PROV" list
	assert_status 14
	[[ "$stderr" == *"cannot reach the PostgreSQL server 127.0.0.1 port $closed, database f4"* ]]
	printf '%s\n' "${U/f4/nosuch}" > "$PROV_HOME/db"
	run --separate-stderr "$PROV" list
	assert_status 4
	[[ "$stderr" == *"no such database"* ]]
	# A schema from a newer prov: refused, untouched.
	printf '%s\n' "$U" > "$PROV_HOME/db"
	q "$U" 'UPDATE provkit_schema SET version = 99'
	run --separate-stderr "$PROV" mint --template "$TPL/coaps-psk.json" --device x
	assert_status 15
	[[ "$stderr" == *"schema version 99 is newer than this prov supports (3)"* ]]
	[ "$(q "$U" 'SELECT count(*) FROM devices')" = 0 ]
	[ "$(q "$U" 'SELECT version FROM provkit_schema')" = 99 ]
	# A database that is someone else's: not made a factory.
	O=$(newdb f4other)
	q "$O" 'CREATE TABLE inventory (item text)'
	run --separate-stderr "$PROV" init --home "$T/o" --db "$O"
	assert_status 6
	[[ "$stderr" == *"holds tables that are not provkit's"* ]]
	[ "$(q "$O" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" = 1 ]
}

# all_complete URI PREFIX N: devices PREFIX-0001.. are each complete: a key, a
# certificate, a bundle, mint and bundle audit rows; no other device is half there.
all_complete() {
	[ "$(q "$1" "SELECT count(*) FROM devices WHERE id LIKE '$2-%'")" = "$3" ]
	[ "$(q "$1" "SELECT count(*) FROM devices d WHERE id LIKE '$2-%' AND
		(SELECT count(*) FROM device_keys k WHERE k.device_id = d.id) = 1 AND
		(SELECT count(*) FROM certificates c WHERE c.device_id = d.id) = 1 AND
		(SELECT count(*) FROM bundles b WHERE b.device_id = d.id) = 1 AND d.bundle_counter = 1 AND
		(SELECT count(*) FROM audit a WHERE a.device_id = d.id AND a.action = 'mint') = 1 AND
		(SELECT count(*) FROM audit a WHERE a.device_id = d.id AND a.action = 'bundle') = 1")" = "$3" ]
	# Nothing of any device outside the devices table.
	[ "$(q "$1" "SELECT (SELECT count(*) FROM device_keys) + (SELECT count(*) FROM certificates) +
		(SELECT count(*) FROM bundles) - 3 * (SELECT count(*) FROM devices)")" = 0 ]
}

@test "pg: the server restarted mid-batch: exit 14 naming the server, committed chunks kept, a rerun --skip-existing finishes" {
	U=$(newdb f5)
	PROV_DB="$U" make_factory
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/dev.key" 2>/dev/null
	openssl pkey -in "$T/dev.key" -pubout -out "$T/dev.pub"
	"$PROV" mint --template "$MQTT" --count 6000 --id-format 'r-%04d' --chunk 100 --bundles \
		--recipient-key "$T/dev.pub" > "$T/run1.out" 2> "$T/run1.err" &
	pid=$!
	bg_record prov-mint "$pid"
	for _ in $(seq 200); do
		[ "$(q "$U" 'SELECT count(*) FROM devices')" -ge 200 ] && break
		sleep 0.05
	done
	sh "$CLUSTER" restart "$PG_DIR"
	rc=0
	wait "$pid" || rc=$?
	cat "$T/run1.err"
	[ "$rc" -eq 14 ]
	grep -q "lost the connection to the PostgreSQL server socket $PG_DIR port $(cat "$PG_DIR/port"), database f5" "$T/run1.err"
	n=$(q "$U" 'SELECT count(*) FROM devices')
	echo "committed before the restart: $n"
	[ "$n" -ge 200 ] && [ "$n" -lt 6000 ]
	[ $((n % 100)) -eq 0 ]
	all_complete "$U" r "$n"
	run "$PROV" mint --template "$MQTT" --count 6000 --id-format 'r-%04d' --chunk 100 --bundles \
		--recipient-key "$T/dev.pub" --skip-existing --json
	assert_status 0
	[ "$(echo "$output" | jq .skipped)" = "$n" ]
	[ "$(echo "$output" | jq .minted)" = $((6000 - n)) ]
	all_complete "$U" r 6000
}

@test "pg: a station killed mid-batch leaves no half-issued device; a rerun --skip-existing finishes" {
	U=$(newdb f6)
	PROV_DB="$U" make_factory
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/dev.key" 2>/dev/null
	openssl pkey -in "$T/dev.key" -pubout -out "$T/dev.pub"
	"$PROV" mint --template "$MQTT" --count 4000 --id-format 'k-%04d' --chunk 64 --bundles \
		--recipient-key "$T/dev.pub" >/dev/null 2>&1 &
	pid=$!
	bg_record prov-mint "$pid"
	for _ in $(seq 200); do
		[ "$(q "$U" 'SELECT count(*) FROM devices')" -ge 128 ] && break
		sleep 0.05
	done
	bg_kill -KILL "$pid"
	wait "$pid" || true
	# The server notices the dead client and rolls its chunk back.
	for _ in $(seq 100); do
		[ "$(q "$U" "SELECT count(*) FROM pg_stat_activity WHERE datname = 'f6' AND pid <> pg_backend_pid()")" = 0 ] && break
		sleep 0.05
	done
	n=$(q "$U" 'SELECT count(*) FROM devices')
	echo "committed before the kill: $n"
	[ "$n" -ge 128 ] && [ "$n" -lt 4000 ] && [ $((n % 64)) -eq 0 ]
	all_complete "$U" k "$n"
	run "$PROV" mint --template "$MQTT" --count 4000 --id-format 'k-%04d' --chunk 64 --bundles \
		--recipient-key "$T/dev.pub" --skip-existing --json
	assert_status 0
	[ "$(echo "$output" | jq .skipped)" = "$n" ]
	all_complete "$U" k 4000
}

# revocation_scans URI DB: how often the server has read the revocations table
# (pg_stat_user_tables), once the last prov session's backend is gone (it
# reports its counts as it ends).
revocation_scans() {
	for _ in $(seq 100); do
		[ "$(q "$1" "SELECT count(*) FROM pg_stat_activity WHERE datname = '$2' AND pid <> pg_backend_pid()")" = 0 ] && break
		sleep 0.05
	done
	q "$1" "SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) FROM pg_stat_user_tables WHERE relname = 'revocations'"
}

@test "pg: a batch with bundles waits for the server once a chunk, not once a device (strace's reads; no revocation lookup for a device it registers)" {
	U=$(newdb f10)
	"$PROV" init --db "$U" --station s1 >/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/dev.key" 2>/dev/null
	openssl pkey -in "$T/dev.key" -pubout -out "$T/dev.pub"
	before=$(revocation_scans "$U" f10)
	echo "revocation scans after init: $before"
	# (LeakSanitizer cannot run under ptrace: off for this one traced command
	# of an ASan build; the same batch runs with it in the tests above)
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
		strace -f -qq -e trace=recvfrom -o "$T/trace" "$PROV" mint --template "$MQTT" --count 200 --chunk 50 \
		--id-format 'r-%04d' --bundles --recipient-key "$T/dev.pub" >/dev/null
	reads=$(grep -c 'recvfrom(' "$T/trace")
	echo "# 200 devices with bundles, 4 chunks: $reads reads from the server" >&3
	[ "$reads" -lt 100 ]
	[ "$(q "$U" 'SELECT count(*) FROM devices')" = 200 ]
	[ "$(q "$U" 'SELECT count(*) FROM bundles')" = 200 ]
	[ "$(revocation_scans "$U" f10)" = "$before" ]
	# Control: bundling a device minted before asks the database, and a revoked one is refused.
	"$PROV" bundle --device r-0001 --out "$T/b1.cbor" >/dev/null
	[ "$(revocation_scans "$U" f10)" -gt "$before" ]
	"$PROV" revoke --device r-0002 --reason keyCompromise >/dev/null
	run --separate-stderr "$PROV" bundle --device r-0002 --out "$T/b2.cbor"
	assert_status 2
	[[ "$stderr" == *"is revoked"* ]]
	[ ! -e "$T/b2.cbor" ]
}

@test "pg: a row lock held elsewhere: exit 10 after --busy-timeout, nothing written" {
	U=$(newdb f7)
	PROV_DB="$U" make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --device d1 >/dev/null
	mkfifo "$T/lock.fifo"
	psql "$U" -Xq < "$T/lock.fifo" > "$T/lock.out" 2>&1 3>&- &
	locker=$!
	bg_record psql-locker "$locker"
	exec 5> "$T/lock.fifo"
	echo "BEGIN; SELECT 1 FROM devices WHERE id = 'd1' FOR UPDATE; \\! touch $T/locked" >&5
	for _ in $(seq 100); do [ -e "$T/locked" ] && break; sleep 0.05; done
	[ -e "$T/locked" ]
	run --separate-stderr "$PROV" bundle --busy-timeout 300 --device d1 --insecure-plaintext-secrets --out "$T/b.cbor"
	echo 'ROLLBACK;' >&5
	exec 5>&-
	wait "$locker"
	echo "$stderr"
	assert_status 10
	[[ "$stderr" == *"locked by another station or process"* ]]
	[ ! -e "$T/b.cbor" ]
	[ "$(q "$U" "SELECT bundle_counter FROM devices WHERE id = 'd1'")" = 0 ]
}

# --- four stations ------------------------------------------------------------------

@test "pg: four stations on one database mint 500 each and install into agent-sims at once: every device once, serials unique, counters monotonic, audit complete and attributed" {
	U=$(newdb f8)
	"$PROV" init --home "$T/s1" --db "$U" --station s1 >/dev/null
	for s in s2 s3 s4; do
		"$PROV" init --home "$T/$s" --db "$U" --station "$s" --keys-from "$T/s1" >/dev/null
	done
	"$PROV" signer export --home "$T/s1" > "$T/signer.pem"
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/dev.key" 2>/dev/null
	openssl pkey -in "$T/dev.key" -pubout -out "$T/dev.pub"
	# A device on a pty per station, and one shared device every station bundles.
	"$PROV" mint --home "$T/s1" --template "$TPL/coaps-psk.json" --device shared --recipient-key "$T/dev.pub" >/dev/null
	for s in s1 s2 s3 s4; do
		"$SIM" --storage "$T/sim-$s" --device-id "sim-$s" --signer "$T/signer.pem" --init > /dev/null
		"$SIM" --storage "$T/sim-$s" --pty > "$T/sim-$s.pty" 2> "$T/sim-$s.log" 3>&- &
		bg_record "agent-sim-$s" $!
	done
	for s in s1 s2 s3 s4; do
		for _ in $(seq 100); do head -n 1 "$T/sim-$s.pty" 2>/dev/null | grep -q '^/dev/' && break; sleep 0.05; done
	done
	pids=""
	for s in s1 s2 s3 s4; do
		"$PROV" mint --home "$T/$s" --template "$MQTT" --count 500 --id-format "$s-%04d" --chunk 50 --bundles \
			--recipient-key "$T/dev.pub" --json > "$T/$s.mint" 2> "$T/$s.minterr" 3>&- &
		pids="$pids $!"
		"$PROV" install --home "$T/$s" --port "$(head -n 1 "$T/sim-$s.pty")" --template "$MQTT" --json \
			> "$T/$s.install" 2> "$T/$s.installerr" 3>&- &
		pids="$pids $!"
		sh -c 'for i in 1 2 3 4 5; do "$1" bundle --home "$2" --device shared --out "$3.$i.cbor" || exit 1; done' \
			sh "$PROV" "$T/$s" "$T/$s.shared" > /dev/null 2> "$T/$s.bundleerr" 3>&- &
		pids="$pids $!"
	done
	bad=0
	for p in $pids; do wait "$p" || bad=1; done
	cat "$T"/*.minterr "$T"/*.installerr "$T"/*.bundleerr >&2
	[ "$bad" -eq 0 ]
	for s in s1 s2 s3 s4; do
		[ "$(jq .minted "$T/$s.mint")" = 500 ]
		[ "$(jq -r .result "$T/$s.install")" = installed ]
	done
	# Every device once: 4 x 500 batch devices, 4 installed, the shared one.
	[ "$(q "$U" 'SELECT count(*) FROM devices')" = 2005 ]
	for s in s1 s2 s3 s4; do all_complete_batch "$U" "$s"; done
	# Serials unique (the constraint, and counted).
	[ "$(q "$U" 'SELECT count(*) || $$/$$ || count(DISTINCT serial) FROM certificates')" = "2004/2004" ]
	# Counters monotonic: each device's bundles are 1..counter without a gap or a
	# repeat; the shared device got 20 bundles from four stations in turn.
	[ "$(q "$U" 'SELECT count(*) FROM devices d WHERE bundle_counter <> (SELECT count(*) FROM bundles b WHERE b.device_id = d.id)
		OR bundle_counter <> (SELECT coalesce(max(counter), 0) FROM bundles b WHERE b.device_id = d.id)')" = 0 ]
	[ "$(q "$U" "SELECT bundle_counter FROM devices WHERE id = 'shared'")" = 20 ]
	[ "$(q "$U" "SELECT string_agg(CAST(counter AS text), ',' ORDER BY id) FROM bundles WHERE device_id = 'shared'")" = "$(seq -s, 1 20)" ]
	[ "$(q "$U" "SELECT string_agg(station || ':' || n, ',' ORDER BY station) FROM (SELECT station, count(*) AS n FROM audit WHERE device_id = 'shared' AND action = 'bundle' GROUP BY station) AS x")" = "s1:5,s2:5,s3:5,s4:5" ]
	# Installs: each station's device, recorded with the counter the device holds.
	for s in s1 s2 s3 s4; do
		ctr=$("$SIM" --storage "$T/sim-$s" --status --json | jq .counter)
		[ "$(q "$U" "SELECT status || '/' || bundle_counter FROM devices WHERE id = 'sim-$s'")" = "installed/$ctr" ]
		[ "$(q "$U" "SELECT count(*) FROM installs WHERE device_id = 'sim-$s' AND counter = $ctr")" = 1 ]
		[ "$(q "$U" "SELECT station FROM audit WHERE device_id = 'sim-$s' AND action = 'install'")" = "$s" ]
	done
	# Audit complete and attributed: every row names a registered station, and
	# the one that did it.
	[ "$(q "$U" 'SELECT count(*) FROM audit WHERE station NOT IN (SELECT name FROM stations)')" = 0 ]
	[ "$(q "$U" "SELECT count(*) FROM audit WHERE action = 'mint' AND device_id LIKE 's_-%' AND station <> substr(device_id, 1, 2)")" = 0 ]
	[ "$(q "$U" "SELECT count(*) FROM audit WHERE action IN ('mint', 'bundle')")" = \
	  "$(q "$U" 'SELECT (SELECT count(*) FROM devices) + (SELECT count(*) FROM bundles)')" ]
	# The seq of the log has no repeat.
	[ "$(q "$U" 'SELECT count(*) - count(DISTINCT seq) FROM audit')" = 0 ]
	PROV_TEST_DB="$PG_DIR" PROV_DB="$U" db_integrity
}

# all_complete_batch URI STATION: the station's 500 devices, each whole and minted there.
all_complete_batch() {
	[ "$(q "$1" "SELECT count(*) FROM devices d WHERE id LIKE '$2-%' AND
		(SELECT count(*) FROM certificates c WHERE c.device_id = d.id) = 1 AND
		(SELECT count(*) FROM bundles b WHERE b.device_id = d.id) = 1 AND
		(SELECT station FROM audit a WHERE a.device_id = d.id AND a.action = 'mint') = '$2' AND
		(SELECT station FROM audit a WHERE a.device_id = d.id AND a.action = 'bundle') = '$2'")" = 500 ]
}

# --- prov db migrate ----------------------------------------------------------------

@test "pg: db migrate moves a SQLite factory (counts checked by sqlite3 and psql, prov.db untouched); every command answers the same after" {
	make_factory
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/dev.key" 2>/dev/null
	openssl pkey -in "$T/dev.key" -pubout -out "$T/dev.pub"
	"$PROV" mint --template "$MQTT" --count 40 --id-format 'm-%02d' --bundles --recipient-key "$T/dev.pub" >/dev/null
	"$PROV" mint --template "$TPL/coaps-psk.json" --count 10 --id-format 'p-%02d' --bundles --recipient-key "$T/dev.pub" >/dev/null
	"$PROV" mint --template "$MQTT" --device m-01 --rotate >/dev/null
	"$PROV" bundle --device p-03 --out "$T/p3.cbor" >/dev/null
	# What the commands say before (SQLite).
	# (the exports first: they add audit rows, which show prints)
	for args in "export --device p-03 --what psk --reveal" "export --device m-01 --what cert" \
		"export --device p-03 --what bundle" "list --json" "list --status bundled --json" "show m-01 --json" \
		"show p-03 --json"; do
		"$PROV" $args > "$T/before.$(echo "$args" | tr ' /' '__')"
	done
	sum=$(sha256sum < "$PROV_HOME/prov.db")
	tables="meta templates devices device_keys certificates psks raw_keys bundles installs stations audit"
	U=$(newdb m1)
	run --separate-stderr "$PROV" db migrate --to "$U" --json
	assert_status 0
	echo "$output"
	for t in $tables; do
		lite=$(sqlite3 "$PROV_HOME/prov.db" "SELECT count(*) FROM $t")
		[ "$(echo "$output" | jq ".tables.$t")" = "$lite" ]
		[ "$(q "$U" "SELECT count(*) FROM $t")" = "$([ "$t" = audit ] && echo $((lite + 1)) || echo "$lite")" ]
	done
	[ "$(echo "$output" | jq '.tables.devices')" = 50 ]
	# prov.db is only read; the home now names the server.
	[ "$(sha256sum < "$PROV_HOME/prov.db")" = "$sum" ]
	[ "$(cat "$PROV_HOME/db")" = "$U" ]
	# Rows kept their ids, the log its order; the copy is audited.
	[ "$(sqlite3 "$PROV_HOME/prov.db" "SELECT group_concat(seq || action, ',') FROM (SELECT seq, action FROM audit ORDER BY seq)")" = \
	  "$(q "$U" "SELECT string_agg(seq || action, ',' ORDER BY seq) FROM audit WHERE action <> 'migrate'")" ]
	[ "$(sqlite3 "$PROV_HOME/prov.db" "SELECT group_concat(id || serial, ',') FROM (SELECT id, serial FROM certificates ORDER BY id)")" = \
	  "$(q "$U" "SELECT string_agg(id || serial, ',' ORDER BY id) FROM certificates")" ]
	[ "$(sqlite3 "$PROV_HOME/prov.db" "SELECT hex(group_concat(hex(key_sealed), ',')) FROM (SELECT key_sealed FROM psks ORDER BY id)")" = \
	  "$(q "$U" "SELECT upper(encode(convert_to(string_agg(upper(encode(key_sealed, 'hex')), ',' ORDER BY id), 'UTF8'), 'hex')) FROM psks")" ]
	# The same answers from PostgreSQL.
	# (the shows first, before the exports add rows again)
	for args in "list --json" "list --status bundled --json" "show m-01 --json" "show p-03 --json" \
		"export --device p-03 --what psk --reveal" "export --device m-01 --what cert" "export --device p-03 --what bundle"; do
		"$PROV" $args > "$T/after"
		diff "$T/before.$(echo "$args" | tr ' /' '__')" "$T/after"
	done
	# New ids continue after the copied ones; counters go on growing.
	"$PROV" bundle --device p-03 --out "$T/p3b.cbor" >/dev/null
	[ "$(q "$U" "SELECT bundle_counter FROM devices WHERE id = 'p-03'")" = 3 ]
	"$PROV" mint --template "$MQTT" --device after-1 >/dev/null
	[ "$(q "$U" "SELECT count(*) FROM audit WHERE seq > (SELECT seq FROM audit WHERE action = 'migrate')")" -ge 2 ]
	# A second station can join the moved factory.
	run --separate-stderr "$PROV" init --home "$T/s2" --db "$U" --station s2 --keys-from "$PROV_HOME"
	assert_status 0
	# A database that holds a factory already is refused (5), and a home on a server (2).
	make_factory_in() { PROV_HOME="$1" PROV_DB= "$PROV" init >/dev/null; }
	make_factory_in "$T/other"
	run --separate-stderr "$PROV" db migrate --home "$T/other" --to "$U"
	assert_status 5
	[[ "$stderr" == *"already holds a factory (2 stations)"* ]]
	[ ! -e "$T/other/db" ]
	run --separate-stderr "$PROV" db migrate --to "$U"
	assert_status 2
}

@test "pg: revocation on PostgreSQL: revoke, crl, list --status revoked, psk-table; revocations and issued CRLs are final (psql); db migrate carries both" {
	U=$(newdb r1)
	PROV_DB="$U" make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --count 3 --id-format 'r-%d' >/dev/null
	run --separate-stderr "$PROV" revoke --device r-2 --reason keyCompromise
	assert_status 0
	"$PROV" crl --out "$T/crl1.pem" 2>/dev/null
	"$PROV" crl --out "$T/crl2.pem" 2>/dev/null
	openssl crl -in "$T/crl2.pem" -noout -CAfile "$PROV_HOME/ca.pem" 2>&1 | grep -q 'verify OK'
	[ "$(openssl crl -in "$T/crl2.pem" -noout -crlnumber)" = "crlNumber=0x02" ]
	[ "$("$PROV" list --status revoked --json | jq -r '[.devices[].id] | join(",")')" = r-2 ]
	"$PROV" export psk-table --format csv --reveal > "$T/psk.csv" 2>/dev/null
	grep -q 'r-1' "$T/psk.csv"
	grep -q 'r-3' "$T/psk.csv"
	run grep -c 'r-2' "$T/psk.csv"
	[ "$output" = 0 ]
	[ "$(q "$U" "SELECT device_id || ':' || reason FROM revocations")" = "r-2:keyCompromise" ]
	[ "$(q "$U" "SELECT string_agg(crl_number::text, ',' ORDER BY crl_number) FROM crls")" = "1,2" ]
	for sql in "UPDATE revocations SET reason = 'superseded'" "DELETE FROM revocations" "TRUNCATE revocations" \
		"UPDATE crls SET entries = 0" "DELETE FROM crls" \
		"INSERT INTO crls (crl_number, this_update, next_update, entries, sha256, created_at) VALUES (1, 0, 0, 0, 'x', 0)"; do
		run q "$U" "$sql"
		echo "$sql -> $status $output"
		[ "$status" -ne 0 ]
		[[ "$output" == *"final"* || "$output" == *"history"* || "$output" == *"only grows"* || "$output" == *"duplicate"* ]]
	done
	[ "$(q "$U" 'SELECT count(*) FROM revocations')" = 1 ]
	[ "$(q "$U" 'SELECT count(*) FROM crls')" = 2 ]
	# A SQLite factory with a revocation and a CRL moves with both.
	PROV_HOME="$T/lite" "$PROV" init --home "$T/lite" >/dev/null 2>&1
	PROV_HOME="$T/lite" "$PROV" mint --home "$T/lite" --template "$TPL/coaps-psk.json" --device s-1 >/dev/null
	PROV_HOME="$T/lite" "$PROV" revoke --home "$T/lite" --device s-1 >/dev/null
	PROV_HOME="$T/lite" "$PROV" crl --home "$T/lite" --out "$T/lite.crl" >/dev/null 2>&1
	U2=$(newdb r2)
	run --separate-stderr "$PROV" db migrate --home "$T/lite" --to "$U2" --json
	assert_status 0
	[ "$(echo "$output" | jq '.tables.revocations')" = 1 ]
	[ "$(echo "$output" | jq '.tables.crls')" = 1 ]
	[ "$(q "$U2" 'SELECT device_id FROM revocations')" = s-1 ]
	[ "$("$PROV" list --home "$T/lite" --status revoked --json | jq -r '[.devices[].id] | join(",")')" = s-1 ]
	# the next CRL number continues from the copied one
	"$PROV" crl --home "$T/lite" --out "$T/lite2.crl" 2>/dev/null
	[ "$(openssl crl -in "$T/lite2.crl" -noout -crlnumber)" = "crlNumber=0x02" ]
}
