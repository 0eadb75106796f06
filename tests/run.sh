#!/bin/sh
# run.sh BUILD - run every test suite against the binaries in BUILD.
#
# Suites: the C unit tests (BUILD/tests/test_*) and the Bats suites
# (tests/bats/*.bats; PROV_BATS_DIR names another directory).  PROV_SUITES=unit
# or =bats restricts the run; =unsanitized runs only the Bats suites that the
# sanitizer run skips (SAN_SKIP below: make check runs them on the plain build
# and every other suite under the sanitizers); any other word exits 2, named.
# Ends with one line "N passed, N failed" over all suites and exits non-zero on
# any failure.
#
# Suites run in parallel, PROV_JOBS at a time (default: the machine's cores,
# nproc), the longest first (by their wall time in the last run, kept in
# BUILD/tests/run-times; else tests/run-times.ref, or tests/run-times-san.ref
# under the sanitizers, the times of a reference run, so a clean checkout
# starts its longest suites first; a suite in none of them: Bats files before
# unit binaries, larger first).  The order changes nothing but the wall time.
# Each suite's line "KIND NAME: N passed, N failed (S s, C s CPU)" is printed
# when it ends, with its wall time and the CPU time (user + system) of the
# processes it waited for; the logs of failed
# suites follow once all have ended, then the total.  Every suite's counts are
# read from its own result file: a suite that leaves none (its runner died)
# has failed.
#
# A suite that cannot show it passed has failed, and its log is shown: a unit
# binary without its summary line "<name>: N passed, N failed" (it died, or
# exited 0 without running its harness), or one that ran no check, or that
# exits non-zero; a Bats file without its plan line "1..N", with a plan of 0
# tests, with fewer results than planned, or with a non-zero exit.
#
# The suites whose device QEMU emulates in real time (RT_SUITES below) run
# before the others for the CPU: under `nice -n -10` as root, else the others
# under `nice -n 10` while one of them runs in this run: an emulated Cortex-M
# that waits for a core while the host keeps sending loses bytes on its UART
# (firmware.bats counts the overruns and fails).
#
# Under the sanitizers (BUILD's prov carries AddressSanitizer; PROV_SAN=1 or 0
# says so instead), the suites whose outcome they cannot change are skipped, and
# the run says which and why (SAN_SKIP below): they check Cortex-M code built
# without sanitizers, and the plain run runs them.
set -u
RT_SUITES="firmware.bats firmware_tls.bats"

# ---- one suite (run by the parallel loop below, in its own process) ---------------
# run.sh --one KIND PATH: run it, print its line, write "P F" to $RUN_WORK/res/NAME,
# its log to $RUN_WORK/log/NAME, its wall time to $RUN_WORK/time/NAME.
if [ "${1:-}" = --one ]; then
	kind=$2 t=$3
	name=$(basename "$t")
	log="$RUN_WORK/log/$kind-$name"
	nice=
	case " $RT_SUITES " in
	*" $name "*) [ "$(id -u)" != 0 ] || nice="nice -n -10" ;;
	*) [ "$(id -u)" = 0 ] || [ "$RUN_RT" = 0 ] || nice="nice -n 10" ;;
	esac
	start=$(date +%s.%N)
	case $kind in
	unit)
		if (cd "$RUN_TOP" && $nice "$t") >"$log" 2>&1; then rc=0; else rc=$?; fi
		line=$(grep -E '^[a-z_0-9]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
		p=$(echo "$line" | sed -n 's/.*: \([0-9]*\) passed.*/\1/p')
		f=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed$/\1/p')
		p=${p:-0}; f=${f:-0}; why=
		if [ -z "$line" ]; then
			why=" (no summary line, exit $rc)"; f=$((f + 1))
		elif [ $((p + f)) -eq 0 ]; then
			why=" (no check ran)"; f=1
		elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
			why=" (exit $rc)"; f=1
		fi
		;;
	bats)
		if PROV_BUILD="$RUN_BUILD" $nice bats --tap "$t" >"$log" 2>&1; then rc=0; else rc=$?; fi
		p=$(grep -c '^ok ' "$log")
		f=$(grep -c '^not ok ' "$log")
		planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | head -n 1)
		why=
		if [ -z "$planned" ]; then
			why=" (no plan line, exit $rc)"; f=$((f + 1))
		elif [ "$planned" -eq 0 ]; then
			why=" (no tests)"; f=$((f + 1))
		elif [ $((p + f)) -lt "$planned" ]; then
			why=" (died after $((p + f)) of $planned)"
			f=$((f + planned - p - f))
		elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
			why=" (exit $rc)"; f=1
		fi
		;;
	esac
	secs=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')
	# CPU: user + system of the suite's processes that were waited for (the
	# shell's `times`, second line; a daemon it started, a PostgreSQL server
	# say, is not counted), written to a file: `times` in $(...) would report
	# the subshell's own children.
	times >"$RUN_WORK/cpu-$kind-$name"
	cpu=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
		printf "%.1f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$RUN_WORK/cpu-$kind-$name")
	echo "$secs" >"$RUN_WORK/time/$kind-$name"
	echo "$p $f" >"$RUN_WORK/res/$kind-$name"
	echo "$kind $name: $p passed, $f failed$why ($secs s, ${cpu:-0.0} s CPU)"
	exit 0
fi

build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build="$top/$build" ;; esac
suites=${PROV_SUITES:-unit bats}
for s in $suites; do
	case $s in
	unit | bats | unsanitized) ;;
	*)
		printf 'run.sh: PROV_SUITES: unknown kind "%s" (unit, bats or unsanitized)\n' "$(printf '%s' "$s" | tr -c '[:alnum:]_.-' '?')" >&2
		exit 2
		;;
	esac
done
bats_dir=${PROV_BATS_DIR:-$top/tests/bats}
jobs=${PROV_JOBS:-$(nproc 2>/dev/null || echo 1)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/res" "$work/log" "$work/time"

# Suites the sanitizers cannot change: what they check is built for the
# Cortex-M4 by arm-none-eabi-gcc, without sanitizers (the host programs that
# drive the firmware, prov install over a pty, prov export and trust build, run
# under the sanitizers in install_serial.bats, agent_smp.bats and tls*.bats),
# or uses nothing of BUILD at all.
SAN_SKIP="agent_size.bats:the agent's Cortex-M4 size and stack, cross-compiled without sanitizers
firmware.bats:the Cortex-M4 image under QEMU, built without sanitizers
firmware_tls.bats:the Cortex-M4 TLS image under QEMU, built without sanitizers
harness.bats:tests/run.sh and check.h on programs it compiles itself, nothing of BUILD"
san=${PROV_SAN:-}
if [ -z "$san" ]; then
	san=0
	nm "$build/prov" 2>/dev/null | grep -q __asan_init && san=1
fi

# The suites, each "SECONDS KIND PATH" (SECONDS: the last run's wall time, for
# the order), longest first.
times="$build/tests/run-times"
[ -f "$times" ] || times="$top/tests/run-times$([ "$san" = 0 ] || echo -san).ref"
for s in $suites; do
	case $s in
	unit)
		for t in "$build"/tests/test_*; do
			[ -x "$t" ] && [ -f "$t" ] && echo "unit $t"
		done
		;;
	bats | unsanitized)
		for b in "$bats_dir"/*.bats; do
			[ -f "$b" ] || continue
			why=$(printf '%s\n' "$SAN_SKIP" | sed -n "s/^$(basename "$b"):\(.*\)/\1/p")
			if [ "$san" = 1 ] && [ -n "$why" ]; then
				echo "bats $(basename "$b"): skipped under the sanitizers: $why; the plain run checks it" >&2
				continue
			fi
			[ "$s" = bats ] || [ -n "$why" ] || continue
			echo "bats $b"
		done
		;;
	esac
done | while read -r kind t; do
	name=$(basename "$t")
	secs=$(awk -v k="$kind-$name" '$2 == k { s = $1 } END { print s + 0 }' "$times" 2>/dev/null)
	# unknown: Bats files first, larger first (bytes / 1e6: below any measured time)
	if [ "${secs:-0}" = 0 ]; then
		if [ "$kind" = bats ]; then secs=$(wc -c <"$t" | awk '{ printf "%.6f", $1 / 1e6 }'); else secs=0; fi
	fi
	echo "$secs $kind $t"
done | sort -k1,1gr -k3,3 >"$work/order"

# Run them, `jobs` at a time; each prints its own line when it ends.
RUN_RT=0
for r in $RT_SUITES; do
	grep -q "/$r\$" "$work/order" && RUN_RT=1
done
RUN_WORK=$work RUN_TOP=$top RUN_BUILD=$build
export RUN_WORK RUN_TOP RUN_BUILD RUN_RT
cut -d' ' -f2- "$work/order" | xargs -P "$jobs" -L 1 sh "$top/tests/run.sh" --one

# The total, suite by suite from the result files: none is a failure.
pass=0
fail=0
while read -r _ kind t; do
	name=$(basename "$t")
	if read -r p f <"$work/res/$kind-$name" 2>/dev/null && [ -n "${f:-}" ]; then
		[ "$f" = 0 ] || { echo "---- $kind $name: log"; cat "$work/log/$kind-$name"; }
	else
		p=0 f=1
		echo "$kind $name: 0 passed, 1 failed (no result: its runner died)"
		[ ! -f "$work/log/$kind-$name" ] || cat "$work/log/$kind-$name"
	fi
	pass=$((pass + p)); fail=$((fail + f))
	echo "$(cat "$work/time/$kind-$name" 2>/dev/null || echo 0) $kind-$name" >>"$work/run-times"
done <"$work/order"
# this run's times, for the next run's order (not when a subset ran)
if [ -z "${PROV_SUITES:-}" ] && [ -d "$build/tests" ]; then
	cp "$work/run-times" "$build/tests/run-times" 2>/dev/null || true
fi
# (and the total, for make check's sum of its passes)
[ ! -d "$build/tests" ] || echo "$pass passed, $fail failed" >"$build/tests/run-total"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
