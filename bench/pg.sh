#!/bin/sh
# pg.sh BUILD - make bench: batch minting with the records in PostgreSQL
# against SQLite, in the same run (issue 14).
#
#   1. one station, SQLite (prov.db) vs PostgreSQL: `prov mint --bundles
#      --count N` with bench/mint-bench.json (host-made P-256 key, certificate,
#      PSK, signed bundle with the secrets encrypted to a device key), a fresh
#      home and database each run, interleaved, 3 runs each, medians;
#   2. four stations on one PostgreSQL database, each minting N at the same
#      time (homes joined with --keys-from), against one station: devices/s
#      over the wall time of the slowest.
#   3. what bounds the four-station figure, measured: for each PostgreSQL run
#      the wall time, the CPU time (user + sys) of prov and of the server's
#      processes, and the machine's busy time (/proc/stat); from them the
#      cores one station keeps busy, the ceiling this machine allows four
#      stations (nproc / that) and the four stations' efficiency (their ratio
#      over min(4, ceiling)).  During the four-station runs a psql session
#      samples every 100 ms what the stations' server backends do
#      (pg_stat_activity: on the CPU, waiting for prov, or waiting on a lock,
#      an LWLock or I/O) and the locks not granted (pg_locks); with
#      log_lock_waits and deadlock_timeout 20 ms the server also logs every
#      lock wait longer than that; pg_stat_database gives the rollbacks and
#      deadlocks.  The control: the same four stations one after the other on
#      a fresh database (the database shared, the CPU not), for their CPU a
#      device.
#
# The cluster is throwaway (tests/tools/pg-cluster.sh) with fsync on and
# synchronous_commit off: a commit is durable once the OS has it, as SQLite's
# WAL with synchronous=NORMAL (which prov uses) is.  Nothing is pinned: the
# server needs a core of its own.  Results printed and written into
# docs/benchmarks.md between the bench:pg markers.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
prov="$top/$build/prov"
n=${BENCH_PG_N:-1000}
tpl="$top/bench/mint-bench.json"
work=$(mktemp -d)
pgdir=$(mktemp -d /tmp/provkit-bench-pg.XXXXXX)
cluster="$top/tests/tools/pg-cluster.sh"
trap 'sh "$cluster" stop "$pgdir"; rm -rf "$work"' EXIT INT TERM
# (log_lock_waits with a short deadlock_timeout: a lock wait of 20 ms or more
# is logged; it costs nothing while no one waits)
PG_OPTS="-c synchronous_commit=off -c log_lock_waits=on -c deadlock_timeout=20ms" \
	sh "$cluster" start "$pgdir" "$$" >/dev/null

now() { date +%s.%N; }
# CPU time (user + sys, in clock ticks) of this shell's waited-for children.
cpu() { awk '{ print $16 + $17 }' /proc/$$/stat; }
tck=$(getconf CLK_TCK)
# CPU ticks of the cluster: the postmaster, its children, and the children it
# has reaped (a session's backend ends with the session).
srv() {
	pm=$(head -n 1 "$pgdir/data/postmaster.pid")
	for p in $pm $(pgrep -P "$pm"); do
		if [ "$p" = "$pm" ]; then awk '{ print $14 + $15 + $16 + $17 }' /proc/$p/stat 2>/dev/null
		else awk '{ print $14 + $15 }' /proc/$p/stat 2>/dev/null; fi
	done | awk '{ s += $1 } END { print s + 0 }'
}
# The machine's busy and total clock ticks (all cores, every process: ours and
# the other builds'), from /proc/stat: user nice system idle iowait irq softirq steal.
machine() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
# ms of CPU a device: ticks, devices
cpu_ms() { awk -v t="$1" -v n="$2" -v h="$tck" 'BEGIN { printf "%.2f", 1000 * t / h / n }'; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }
median() { echo "$@" | tr ' ' '\n' | sort -n | sed -n 2p; }
# med FILE COLUMN-EXPRESSION: the median over the runs (lines) of FILE of an awk
# expression of its columns: wall s, prov ticks, server ticks, machine busy
# ticks, machine total ticks.
med() { median $(awk -v h="$tck" -v c="$(nproc)" -v n="$n" "{ printf \"%.6f \", $2 }" "$1"); }

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/device.key" 2>/dev/null
openssl pkey -in "$work/device.key" -pubout -out "$work/device.pub.pem"

# mint HOME PREFIX: one batch; its devices/s in $last, its CPU ticks added to
# the file $work/cpu.<HOME's basename> (not in a subshell: the ticks are this
# shell's children's).
mint() {
	kind=$(basename "$1" | tr -d 0-9)
	c0=$(cpu)
	s0=$(srv)
	m0=$(machine)
	t0=$(now)
	"$prov" mint --home "$1" --template "$tpl" --count "$n" --id-format "$2-%06d" --bundles \
		--recipient-key "$work/device.pub.pem" >/dev/null
	t1=$(now)
	c1=$(cpu) s1=$(srv) m1=$(machine)
	echo $((c1 - c0)) >> "$work/cpu.$kind"
	echo $((s1 - s0)) >> "$work/srv.$kind"
	[ "$kind" = pg ] && run_line "$t0" "$t1" $((c1 - c0)) $((s1 - s0)) $m0 $m1 >> "$work/runs.one"
	last=$(rate "$n" "$t0" "$t1")
}
# run_line T0 T1 PROV SERVER M0BUSY M0TOTAL M1BUSY M1TOTAL: one line of runs.*
run_line() {
	awk -v t0="$1" -v t1="$2" -v p="$3" -v s="$4" -v b0="$5" -v a0="$6" -v b1="$7" -v a1="$8" \
		'BEGIN { printf "%.3f %d %d %d %d\n", t1 - t0, p, s, b1 - b0, a1 - a0 }'
}
# The sampler's query: the other client backends of this database (the
# stations') by what they do, and the locks not granted in the whole cluster.
# Columns: not granted, waiting on a Lock, on the CPU (active, no wait event),
# waiting for the client (prov), LWLock, IO, anything else, backends, and the
# Lock waits' events (relation, extend, transactionid, tuple...; "-": none).
sample_sql="SELECT (SELECT count(*) FROM pg_locks WHERE NOT granted),
 count(*) FILTER (WHERE wait_event_type = 'Lock'),
 count(*) FILTER (WHERE state = 'active' AND wait_event_type IS NULL),
 count(*) FILTER (WHERE wait_event_type = 'Client'),
 count(*) FILTER (WHERE wait_event_type = 'LWLock'),
 count(*) FILTER (WHERE wait_event_type = 'IO'),
 count(*) FILTER (WHERE wait_event_type IS NOT NULL AND wait_event_type NOT IN ('Lock', 'Client', 'LWLock', 'IO')),
 count(*),
 coalesce(string_agg(wait_event, ',') FILTER (WHERE wait_event_type = 'Lock'), '-')
 FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
 AND backend_type = 'client backend';"
ticks() { awk '{ s += $1 } END { print s }' "$1"; }

# --- one station: SQLite vs PostgreSQL, interleaved --------------------------------
sq_runs="" pg_runs=""
for r in 1 2 3; do
	"$prov" init --home "$work/sq$r" >/dev/null
	mint "$work/sq$r" d
	sq_runs="$sq_runs $last"
	uri=$(sh "$cluster" createdb "$pgdir" "one$r")
	"$prov" init --home "$work/pg$r" --db "$uri" >/dev/null
	mint "$work/pg$r" d
	pg_runs="$pg_runs $last"
	[ "$(psql "$uri" -XAtq -c 'SELECT count(*) FROM bundles')" = "$n" ] || { echo "bench: PostgreSQL lost bundles" >&2; exit 1; }
	psql "$uri" -XAtq -F ' ' -c "SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database
		WHERE datname = current_database()" >> "$work/xact.one"
done
sq=$(median $sq_runs)
pg=$(median $pg_runs)
pct=$(awk -v a="$pg" -v b="$sq" 'BEGIN { printf "%.0f", 100 * a / b }')

# --- four stations at once vs one, on PostgreSQL -------------------------------------
four_runs=""
for r in 1 2 3; do
	uri=$(sh "$cluster" createdb "$pgdir" "four$r")
	"$prov" init --home "$work/f$r-s1" --db "$uri" --station s1 >/dev/null
	for s in s2 s3 s4; do
		"$prov" init --home "$work/f$r-$s" --db "$uri" --station "$s" --keys-from "$work/f$r-s1" >/dev/null
	done
	# the sampler: one psql session, a query every 100 ms until $work/stop
	rm -f "$work/stop"
	(while [ ! -e "$work/stop" ]; do echo "$sample_sql"; sleep 0.1; done) |
		psql "$uri" -XAtq -F ' ' > "$work/samples.$r" 2>&1 &
	sampler=$!
	logged=$(wc -l < "$pgdir/server.log")
	c0=$(cpu)
	s0=$(srv)
	m0=$(machine)
	t0=$(now)
	pids=""
	for s in s1 s2 s3 s4; do
		"$prov" mint --home "$work/f$r-$s" --template "$tpl" --count "$n" --id-format "$s-%06d" --bundles \
			--recipient-key "$work/device.pub.pem" >/dev/null &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p"; done
	t1=$(now)
	# (before the sampler ends: its CPU is not the stations')
	c1=$(cpu) s1=$(srv) m1=$(machine)
	touch "$work/stop"
	wait "$sampler"
	echo $((c1 - c0)) >> "$work/cpu.four"
	echo $((s1 - s0)) >> "$work/srv.four"
	run_line "$t0" "$t1" $((c1 - c0)) $((s1 - s0)) $m0 $m1 >> "$work/runs.four"
	tail -n +$((logged + 1)) "$pgdir/server.log" | grep -c 'still waiting for' >> "$work/lockwaits.logged" || true
	psql "$uri" -XAtq -F ' ' -c "SELECT xact_commit, xact_rollback, deadlocks FROM pg_stat_database
		WHERE datname = current_database()" >> "$work/xact.four"
	grep -Ev '^[0-9 ]+ [-a-z,]+$' "$work/samples.$r" >&2 && { echo "bench: the sampler failed" >&2; exit 1; }
	[ "$(psql "$uri" -XAtq -c 'SELECT count(DISTINCT device_id) FROM bundles')" = $((4 * n)) ] ||
		{ echo "bench: four stations lost devices" >&2; exit 1; }
	four_runs="$four_runs $(rate $((4 * n)) "$t0" "$t1")"
	# The control: the same four stations on a fresh database, one after the
	# other (the database shared, the CPU not): their CPU a device.
	uri=$(sh "$cluster" createdb "$pgdir" "turn$r")
	"$prov" init --home "$work/t$r-s1" --db "$uri" --station s1 >/dev/null
	for s in s2 s3 s4; do
		"$prov" init --home "$work/t$r-$s" --db "$uri" --station "$s" --keys-from "$work/t$r-s1" >/dev/null
	done
	c0=$(cpu) s0=$(srv) m0=$(machine) t0=$(now)
	for s in s1 s2 s3 s4; do
		"$prov" mint --home "$work/t$r-$s" --template "$tpl" --count "$n" --id-format "$s-%06d" --bundles \
			--recipient-key "$work/device.pub.pem" >/dev/null
	done
	t1=$(now)
	c1=$(cpu) s1=$(srv) m1=$(machine)
	run_line "$t0" "$t1" $((c1 - c0)) $((s1 - s0)) $m0 $m1 >> "$work/runs.turn"
done
four=$(median $four_runs)
x=$(awk -v a="$four" -v b="$pg" 'BEGIN { printf "%.2f", a / b }')
sq_cpu=$(cpu_ms "$(ticks "$work/cpu.sq")" $((3 * n)))
pg_cpu=$(cpu_ms "$(ticks "$work/cpu.pg")" $((3 * n)))
four_cpu=$(cpu_ms "$(ticks "$work/cpu.four")" $((12 * n)))
pg_srv=$(cpu_ms "$(ticks "$work/srv.pg")" $((3 * n)))
four_srv=$(cpu_ms "$(ticks "$work/srv.four")" $((12 * n)))
cores=$(nproc)

# --- what bounds four stations -----------------------------------------------------
# cores kept busy by prov + server (CPU s / wall s), CPU ms a device, the
# machine's busy cores (every process) and the others' (the machine's less ours)
busy1=$(med "$work/runs.one" '($2 + $3) / h / $1')
busy4=$(med "$work/runs.four" '($2 + $3) / h / $1')
wall1=$(med "$work/runs.one" '$1')
wall4=$(med "$work/runs.four" '$1')
prov1=$(med "$work/runs.one" '$2 / h')
prov4=$(med "$work/runs.four" '$2 / h')
srv1=$(med "$work/runs.one" '$3 / h')
srv4=$(med "$work/runs.four" '$3 / h')
dev1=$(med "$work/runs.one" '1000 * ($2 + $3) / h / n')
dev4=$(med "$work/runs.four" '1000 * ($2 + $3) / h / (4 * n)')
busyt=$(med "$work/runs.turn" '($2 + $3) / h / $1')
wallt=$(med "$work/runs.turn" '$1')
provt=$(med "$work/runs.turn" '$2 / h')
srvt=$(med "$work/runs.turn" '$3 / h')
devt=$(med "$work/runs.turn" '1000 * ($2 + $3) / h / (4 * n)')
macht=$(med "$work/runs.turn" 'c * $4 / $5')
othert=$(med "$work/runs.turn" 'c * $4 / $5 - ($2 + $3) / h / $1')
mach1=$(med "$work/runs.one" 'c * $4 / $5')
mach4=$(med "$work/runs.four" 'c * $4 / $5')
other1=$(med "$work/runs.one" 'c * $4 / $5 - ($2 + $3) / h / $1')
other4=$(med "$work/runs.four" 'c * $4 / $5 - ($2 + $3) / h / $1')
ceiling=$(awk -v c="$cores" -v b="$busy1" 'BEGIN { printf "%.2f", c / b }')
# the ratio taken apart: (cores busy, four / one) x (CPU a device, one / four)
coresx=$(awk -v a="$busy4" -v b="$busy1" 'BEGIN { printf "%.2f", a / b }')
costx=$(awk -v a="$dev1" -v b="$dev4" 'BEGIN { printf "%.2f", a / b }')
eff=$(awk -v x="$x" -v m="$ceiling" 'BEGIN { if (m > 4) m = 4; printf "%.0f", 100 * x / m }')
f2() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
# the samples of the three four-station runs, summed
read -r nsamp nwaitsamp lockbk cpubk clientbk lwbk iobk otherbk allbk <<EOF
$(cat "$work"/samples.* | awk '{ n++; if ($1 > 0) w++; l += $2; c += $3; cl += $4; lw += $5; io += $6; o += $7; a += $8 }
	END { print n + 0, w + 0, l + 0, c + 0, cl + 0, lw + 0, io + 0, o + 0, a + 0 }')
EOF
lockevents=$(cat "$work"/samples.* | awk '$9 != "-" { n = split($9, e, ","); for (i = 1; i <= n; i++) c[e[i]]++ }
	END { for (k in c) printf "%s%s %d", (s++ ? ", " : ""), k, c[k]; if (!s) printf "none" }')
pctb() { awk -v v="$1" -v a="$allbk" 'BEGIN { printf "%.1f", a ? 100 * v / a : 0 }'; }
logged_waits=$(ticks "$work/lockwaits.logged")
read -r rb4 dl4 <<EOF
$(awk '{ r += $2; d += $3 } END { print r + 0, d + 0 }' "$work/xact.four")
EOF
read -r rb1 dl1 <<EOF
$(awk '{ r += $2; d += $3 } END { print r + 0, d + 0 }' "$work/xact.one")
EOF

result=$(cat <<MD
Measured by \`make bench\` (bench/pg.sh), $n devices a station, 3 runs each, medians; PostgreSQL $(psql --version | awk '{print $3}') on the same $cores-core machine (a throwaway cluster, Unix socket, fsync on, synchronous_commit off).

| what | devices/s (median of 3) | runs | ratio | CPU a device: prov + server |
|---|---|---|---|---|
| one station, SQLite (prov.db) | $sq | $sq_runs | 1 | $sq_cpu ms |
| one station, PostgreSQL | $pg | $pg_runs | **${pct}%** of SQLite (target >= 70%) | $pg_cpu + $pg_srv ms |
| four stations at once on one PostgreSQL database (4 x $n) | $four | $four_runs | **${x}x** one station (target >= 3x) | $four_cpu + $four_srv ms |

What bounds four stations, measured in the same runs (medians of 3; CPU is user + sys of the prov processes and of the PostgreSQL server's processes; "machine" is every process on it, from /proc/stat):

| PostgreSQL | wall s | prov CPU s | server CPU s | cores busy: prov + server | CPU a device | cores busy: machine (others) |
|---|---|---|---|---|---|---|
| one station ($n) | $(f2 "$wall1") | $(f2 "$prov1") | $(f2 "$srv1") | **$(f2 "$busy1")** | $(f2 "$dev1") ms | $(f2 "$mach1") ($(f2 "$other1")) |
| four stations at once (4 x $n) | $(f2 "$wall4") | $(f2 "$prov4") | $(f2 "$srv4") | **$(f2 "$busy4")** | $(f2 "$dev4") ms | $(f2 "$mach4") ($(f2 "$other4")) |
| control: the four one after the other (4 x $n) | $(f2 "$wallt") | $(f2 "$provt") | $(f2 "$srvt") | $(f2 "$busyt") | $(f2 "$devt") ms | $(f2 "$macht") ($(f2 "$othert")) |

- The ceiling this $cores-core machine allows four stations: $cores cores / $(f2 "$busy1") cores one station keeps busy = **${ceiling}x** one station; measured **${x}x**: an efficiency of **${eff}%** of min(4, ceiling).  Taken apart, the ratio is the cores the four stations kept busy over one station's ($(f2 "$busy4") / $(f2 "$busy1") = ${coresx}x) times one station's CPU a device over theirs ($(f2 "$dev1") / $(f2 "$dev4") = ${costx}x): ${coresx} x ${costx} = $(awk -v a="$coresx" -v b="$costx" 'BEGIN { printf "%.2f", a * b }')x.
- Lock waits during the four-station runs: $nsamp samples of pg_stat_activity and pg_locks every 100 ms, $nwaitsamp with a lock not granted; of $allbk station-backend samples $lockbk waiting on a Lock ($(pctb "$lockbk")%; by wait event: $lockevents), $lwbk on an LWLock ($(pctb "$lwbk")%), $iobk on I/O ($(pctb "$iobk")%), $otherbk on anything else ($(pctb "$otherbk")%), $cpubk working ($(pctb "$cpubk")%: on a CPU or waiting for one) and $clientbk waiting for prov ($(pctb "$clientbk")%).  Lock waits of 20 ms or more in the server log: $logged_waits.  pg_stat_database, the three four-station databases: $rb4 rollbacks, $dl4 deadlocks (one station's three: $rb1 rollbacks, $dl1 deadlocks); prov retries nothing (a serialization failure or deadlock would end a station with exit 10, and the bench).

The load on the machine while it ran (1, 5, 15 minutes): $(cut -d' ' -f1-3 /proc/loadavg).
MD
)
echo "$result"
doc="$top/docs/benchmarks.md"
if [ -f "$doc" ] && grep -q '<!-- bench:pg -->' "$doc"; then
	awk -v r="$result" '
		/<!-- bench:pg -->/ { print; print r; skip = 1; next }
		/<!-- \/bench:pg -->/ { skip = 0 }
		!skip { print }' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
fi
