#!/bin/sh
# run.sh BUILD - run every test suite against the binaries in BUILD.
#
# Suites: the C unit tests (BUILD/tests/test_*) and the Bats suites
# (tests/bats/*.bats).  PROV_SUITES=unit or =bats restricts the run.  Ends with one
# line "N passed, N failed" over all suites and exits non-zero on any failure.
set -u
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build="$top/$build" ;; esac
suites=${PROV_SUITES:-unit bats}
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
			p=${p:-0}; f=${f:-0}
			if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi   # crashed before its summary
			[ "$f" != 0 ] && cat "$log"
			echo "unit $(basename "$t"): $p passed, $f failed"
			pass=$((pass + p)); fail=$((fail + f))
		done
		;;
	bats)
		for b in "$top"/tests/bats/*.bats; do
			[ -f "$b" ] || continue
			PROV_BUILD="$build" bats --tap "$b" >"$log" 2>&1
			p=$(grep -c '^ok ' "$log")
			f=$(grep -c '^not ok ' "$log")
			planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | head -n 1)
			if [ -n "$planned" ] && [ $((p + f)) -lt "$planned" ]; then
				f=$((f + planned - p - f))   # the suite died part way
			fi
			[ "$f" != 0 ] && cat "$log"
			echo "bats $(basename "$b"): $p passed, $f failed"
			pass=$((pass + p)); fail=$((fail + f))
		done
		;;
	esac
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
