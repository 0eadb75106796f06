#!/bin/sh
# run.sh BUILD - run every test suite against the binaries in BUILD.
#
# Suites: the C unit tests (BUILD/tests/test_*) and the Bats suites
# (tests/bats/*.bats; PROV_BATS_DIR names another directory).  PROV_SUITES=unit
# or =bats restricts the run.  Ends with one line "N passed, N failed" over all
# suites and exits non-zero on any failure.
#
# A suite that cannot show it passed has failed, and its log is shown: a unit
# binary without its summary line "<name>: N passed, N failed" (it died, or
# exited 0 without running its harness), or one that ran no check, or that
# exits non-zero; a Bats file without its plan line "1..N", with a plan of 0
# tests, with fewer results than planned, or with a non-zero exit.
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build="$top/$build" ;; esac
suites=${PROV_SUITES:-unit bats}
bats_dir=${PROV_BATS_DIR:-$top/tests/bats}
pass=0
fail=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for s in $suites; do
	case $s in
	unit)
		for t in "$build"/tests/test_*; do
			[ -x "$t" ] || continue
			if (cd "$top" && "$t") >"$log" 2>&1; then rc=0; else rc=$?; fi
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
			[ "$f" != 0 ] && cat "$log"
			echo "unit $(basename "$t"): $p passed, $f failed$why"
			pass=$((pass + p)); fail=$((fail + f))
		done
		;;
	bats)
		for b in "$bats_dir"/*.bats; do
			[ -f "$b" ] || continue
			if PROV_BUILD="$build" bats --tap "$b" >"$log" 2>&1; then rc=0; else rc=$?; fi
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
			[ "$f" != 0 ] && cat "$log"
			echo "bats $(basename "$b"): $p passed, $f failed$why"
			pass=$((pass + p)); fail=$((fail + f))
		done
		;;
	esac
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
