#!/usr/bin/env bats
# concurrency.bats - many `prov mint` processes against one factory home.  The
# database is WAL with writers taking the lock up front (BEGIN IMMEDIATE), so
# parallel writers queue on the busy timeout instead of failing or deadlocking;
# sqlite3 reads the result back.

load helper

# run_parallel NAME CMD...: start CMD in the background, logging to $T/NAME.*
# (fd 3 closed: bats waits on it).  It waits for release_all() so that all start together.
run_parallel() {
	local name=$1
	shift
	sh -c 'while [ ! -e "$1" ]; do sleep 0.01; done; shift; exec "$@"' sh "$T/go" "$@" \
		>"$T/$name.out" 2>"$T/$name.err" 3>&- &
	pids="$pids $!"
	names="$names $name"
}

release_all() {
	touch "$T/go"
}

# Wait for every process started by run_parallel; fail if one did not exit 0.
wait_all() {
	local bad=0 i=1 pid name
	for pid in $pids; do
		name=$(echo $names | cut -d' ' -f$i)
		if wait "$pid"; then
			:
		else
			echo "$name exited $?:" >&2
			cat "$T/$name.err" >&2
			bad=1
		fi
		i=$((i + 1))
	done
	pids="" names=""
	return $bad
}

json_sum() { # FIELD FILE...: sum a field of the batch summaries
	local field=$1
	shift
	"$PY" -c 'import json, sys; print(sum(json.load(open(f))[sys.argv[1]] for f in sys.argv[2:]))' "$field" "$@"
}

@test "4 batch processes at once (100 devices each, --chunk 20): all exit 0, 400 devices, 400 distinct serials" {
	make_factory
	pids="" names=""
	for p in a b c d; do
		run_parallel "$p" "$PROV" mint --template "$TPL/mqtt-mtls.json" --count 100 \
			--id-format "$p-%04d" --chunk 20 --json
	done
	release_all
	wait_all
	for p in a b c d; do
		[ "$("$PY" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(d["minted"], d["failed"])' "$T/$p.out")" = "100 None" ]
		[ "$(db "SELECT count(*) FROM devices WHERE id LIKE '$p-%'")" -eq 100 ]
	done
	[ "$(db 'SELECT count(*) FROM devices')" -eq 400 ]
	[ "$(db 'SELECT count(*) FROM certificates')" -eq 400 ]
	[ "$(db 'SELECT count(DISTINCT serial) FROM certificates')" -eq 400 ]
	[ "$(db 'SELECT count(*) FROM device_keys')" -eq 400 ]
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'mint'")" -eq 400 ]
	[ "$(db 'SELECT count(*) FROM templates')" -eq 1 ]
	db_integrity
	# Every certificate still verifies (a sample from each process).
	for id in a-0001 b-0050 c-0099 d-0100; do
		db "SELECT hex(der) FROM certificates WHERE device_id = '$id'" | xxd -r -p >"$T/$id.der"
		openssl x509 -inform DER -in "$T/$id.der" -out "$T/$id.pem"
		openssl verify -CAfile "$PROV_HOME/ca.pem" "$T/$id.pem"
	done
}

@test "4 processes minting single devices in a loop: all exit 0, every device once" {
	make_factory
	pids="" names=""
	for p in a b c d; do
		run_parallel "$p" sh -c '
			for i in $(seq 1 25); do
				"$1" mint --template "$2" --device "$3-$i" || exit 1
			done' sh "$PROV" "$TPL/mqtt-mtls.json" "single-$p"
	done
	release_all
	wait_all
	[ "$(db 'SELECT count(*) FROM devices')" -eq 100 ]
	[ "$(db 'SELECT count(DISTINCT serial) FROM certificates')" -eq 100 ]
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'mint'")" -eq 100 ]
	db_integrity
}

@test "4 overlapping batches with --skip-existing: each device minted exactly once" {
	make_factory
	pids="" names=""
	for p in a b c d; do
		run_parallel "$p" "$PROV" mint --template "$TPL/coaps-psk.json" --count 100 \
			--id-format 'shared-%03d' --chunk 10 --skip-existing --json
	done
	release_all
	wait_all
	[ "$(json_sum minted "$T"/[abcd].out)" -eq 100 ]
	[ "$(json_sum skipped "$T"/[abcd].out)" -eq 300 ]
	[ "$(db 'SELECT count(*) FROM devices')" -eq 100 ]
	[ "$(db 'SELECT max(generation) FROM devices')" -eq 1 ]
	[ "$(db 'SELECT count(*) FROM psks')" -eq 100 ]
	[ "$(db "SELECT count(*) FROM audit WHERE action = 'mint'")" -eq 100 ]
	db_integrity
}

@test "4 processes rotating one device: generations 1..21 without a gap, one row each" {
	make_factory
	run "$PROV" mint --template "$TPL/mqtt-mtls.json" --device hot
	[ "$status" -eq 0 ]
	pids="" names=""
	for p in a b c d; do
		run_parallel "$p" sh -c '
			for i in 1 2 3 4 5; do
				"$1" mint --template "$2" --device hot --rotate || exit 1
			done' sh "$PROV" "$TPL/mqtt-mtls.json"
	done
	release_all
	wait_all
	[ "$(db "SELECT generation FROM devices WHERE id = 'hot'")" -eq 21 ]
	[ "$(db "SELECT group_concat(generation, ',') FROM (SELECT generation FROM certificates WHERE device_id = 'hot' ORDER BY generation) AS q")" = \
	  "$(seq -s, 1 21)" ]
	[ "$(db "SELECT count(DISTINCT serial) FROM certificates WHERE device_id = 'hot'")" -eq 21 ]
	[ "$(db "SELECT count(*) FROM device_keys WHERE device_id = 'hot'")" -eq 21 ]
	[ "$(db "SELECT count(*) FROM audit WHERE device_id = 'hot' AND action = 'rotate'")" -eq 20 ]
	db_integrity
}

@test "a long batch does not lock out other processes: single mints get their turn between chunks" {
	make_factory
	"$PROV" mint --template "$TPL/coaps-psk.json" --count 6000 --id-format 'long-%05d' --chunk 20 \
		--json > "$T/batch.out" &
	batch=$!
	bg_record prov-mint-batch "$batch"
	# wait until the batch is committing chunks
	for i in $(seq 1 200); do
		[ "$(db 'SELECT count(*) FROM devices' 2>/dev/null || echo 0)" -gt 40 ] && break
		sleep 0.05
	done
	ok=0
	for i in 1 2 3 4 5; do
		"$PROV" mint --template "$TPL/coaps-psk.json" --device "short-$i" --busy-timeout 1500 >/dev/null && ok=$((ok + 1))
	done
	# the batch was still running when the singles went through
	running=0
	bg_alive "$batch" && running=1
	wait "$batch"
	echo "# 5 single mints during the batch: $ok succeeded (batch still running: $running)" >&3
	[ "$ok" -eq 5 ]
	[ "$running" -eq 1 ]
	[ "$(db "SELECT count(*) FROM devices WHERE id LIKE 'long-%'")" -eq 6000 ]
	[ "$(db "SELECT count(*) FROM devices WHERE id LIKE 'short-%'")" -eq 5 ]
}
