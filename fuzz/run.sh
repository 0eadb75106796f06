#!/bin/sh
# fuzz/run.sh SECONDS TARGET... - run each libFuzzer target for SECONDS from its
# seeds (make fuzz, make fuzz-smoke; fuzz/README.md), FUZZ_JOBS at a time
# (default: the machine's cores; each target is one process on one core).
#
# Target T eats fuzz/corpus/NAME (NAME: T without fuzz_, read only) and writes
# what it finds to FUZZ_BUILD/corpus/NAME, crashes to FUZZ_BUILD/artifacts/T-*,
# its log to FUZZ_BUILD/T.log; fuzz/dict/NAME.dict is used if present.  One
# line per target when it ends (libFuzzer's final line and stats); then the
# last 60 log lines of each target that failed (a crash, a leak, UB, an input
# over 10 s); exits non-zero if any did.
set -u
secs=$1
shift
build=${FUZZ_BUILD:-build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}

if [ "${FUZZ_ONE:-}" = 1 ]; then
	t=$1
	name=${t#fuzz_}
	mkdir -p "$build/corpus/$name" "$build/artifacts"
	dict=
	[ ! -f "fuzz/dict/$name.dict" ] || dict="-dict=fuzz/dict/$name.dict"
	# -timeout: one input taking more than 10 s is a bug (a hang) and fails the
	# run like a crash; -max_total_time ends a run that found nothing.
	# shellcheck disable=SC2086
	if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$build/$t" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -max_total_time="$secs" \
		-artifact_prefix="$build/artifacts/$t-" $dict "$build/corpus/$name" "fuzz/corpus/$name" \
		>"$build/$t.log" 2>&1; then
		echo "== $t: $secs s: $(grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+.*DONE)' \
			"$build/$t.log" | tr -s ' \t' ' ' | tr '\n' ' ')"
	else
		echo "== $t: FAILED (log: $build/$t.log)"
		touch "$build/$t.failed"
	fi
	exit 0
fi

for t in "$@"; do
	rm -f "$build/$t.failed"
done
bad=0
# (a runner that dies, killed say, fails the run too)
printf '%s\n' "$@" | FUZZ_ONE=1 FUZZ_BUILD=$build xargs -P "$jobs" -I{} sh "$0" "$secs" {} || bad=1
for t in "$@"; do
	[ -f "$build/$t.failed" ] || continue
	echo "---- $t: the last 60 lines of $build/$t.log"
	tail -n 60 "$build/$t.log"
	bad=1
done
exit $bad
