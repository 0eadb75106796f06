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
PG_OPTS="-c synchronous_commit=off" sh "$cluster" start "$pgdir" "$$" >/dev/null

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
# ms of CPU a device: ticks, devices
cpu_ms() { awk -v t="$1" -v n="$2" -v h="$tck" 'BEGIN { printf "%.2f", 1000 * t / h / n }'; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }
median() { echo "$@" | tr ' ' '\n' | sort -n | sed -n 2p; }

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/device.key" 2>/dev/null
openssl pkey -in "$work/device.key" -pubout -out "$work/device.pub.pem"

# mint HOME PREFIX: one batch; its devices/s in $last, its CPU ticks added to
# the file $work/cpu.<HOME's basename> (not in a subshell: the ticks are this
# shell's children's).
mint() {
	c0=$(cpu)
	s0=$(srv)
	t0=$(now)
	"$prov" mint --home "$1" --template "$tpl" --count "$n" --id-format "$2-%06d" --bundles \
		--recipient-key "$work/device.pub.pem" >/dev/null
	t1=$(now)
	echo $(($(cpu) - c0)) >> "$work/cpu.$(basename "$1" | tr -d 0-9)"
	echo $(($(srv) - s0)) >> "$work/srv.$(basename "$1" | tr -d 0-9)"
	last=$(rate "$n" "$t0" "$t1")
}
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
	c0=$(cpu)
	s0=$(srv)
	t0=$(now)
	pids=""
	for s in s1 s2 s3 s4; do
		"$prov" mint --home "$work/f$r-$s" --template "$tpl" --count "$n" --id-format "$s-%06d" --bundles \
			--recipient-key "$work/device.pub.pem" >/dev/null &
		pids="$pids $!"
	done
	for p in $pids; do wait "$p"; done
	t1=$(now)
	echo $(($(cpu) - c0)) >> "$work/cpu.four"
	echo $(($(srv) - s0)) >> "$work/srv.four"
	[ "$(psql "$uri" -XAtq -c 'SELECT count(DISTINCT device_id) FROM bundles')" = $((4 * n)) ] ||
		{ echo "bench: four stations lost devices" >&2; exit 1; }
	four_runs="$four_runs $(rate $((4 * n)) "$t0" "$t1")"
done
four=$(median $four_runs)
x=$(awk -v a="$four" -v b="$pg" 'BEGIN { printf "%.2f", a / b }')
sq_cpu=$(cpu_ms "$(ticks "$work/cpu.sq")" $((3 * n)))
pg_cpu=$(cpu_ms "$(ticks "$work/cpu.pg")" $((3 * n)))
four_cpu=$(cpu_ms "$(ticks "$work/cpu.four")" $((12 * n)))
pg_srv=$(cpu_ms "$(ticks "$work/srv.pg")" $((3 * n)))
four_srv=$(cpu_ms "$(ticks "$work/srv.four")" $((12 * n)))
cores=$(nproc)

result=$(cat <<MD
Measured by \`make bench\` (bench/pg.sh), $n devices a station, 3 runs each, medians; PostgreSQL $(psql --version | awk '{print $3}') on the same $cores-core machine (a throwaway cluster, Unix socket, fsync on, synchronous_commit off).

| what | devices/s (median of 3) | runs | ratio | CPU a device: prov + server |
|---|---|---|---|---|
| one station, SQLite (prov.db) | $sq | $sq_runs | 1 | $sq_cpu ms |
| one station, PostgreSQL | $pg | $pg_runs | **${pct}%** of SQLite (target >= 70%) | $pg_cpu + $pg_srv ms |
| four stations at once on one PostgreSQL database (4 x $n) | $four | $four_runs | **${x}x** one station (target >= 3x) | $four_cpu + $four_srv ms |

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
