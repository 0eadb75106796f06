#!/usr/bin/env bats
# harness.bats - the test harnesses themselves can fail: tests/unit/check.h
# fails a program that ran no check, and tests/run.sh counts as failed (and
# shows the log of) a unit binary without its summary line or with no check, and
# a Bats file without a plan, with a plan of 0 tests or with fewer results than
# planned.  Each case next to a control that passes.  run.sh runs suites in
# parallel: they do overlap, their counts add up exactly, one failing suite or
# one whose runner dies fails the run, each line carries the suite's wall and
# CPU time; under the sanitizers the Cortex-M suites are skipped, and said so,
# and PROV_SUITES=unsanitized (make check's plain pass) runs only those.
# helper.bash's background processes: a PID is signalled only while it is the
# recorded process, and a teardown fails, naming it, on one that outlives
# SIGTERM.

bats_require_minimum_version 1.5.0
load helper

RUNSH="$REPO/tests/run.sh"

# run.sh runs Bats files below from a temporary PROV_BATS_DIR, never this
# directory; should a run.sh ignore it, the inner run finds this file again and
# PROV_HARNESS_INNER stops the recursion here.
outer_only() {
	[ -z "${PROV_HARNESS_INNER:-}" ] || skip "inside a harness test's own run.sh"
}

# inner_runsh ARGS...: run.sh for the Bats suites in $T/bats, in a clean
# environment (the outer bats's variables and its libexec in PATH would derail
# the inner one); PATH_FIRST, if set, goes before PATH.
inner_runsh() {
	local path
	path=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v bats-core | paste -sd:)
	run env -i PATH="${PATH_FIRST:+$PATH_FIRST:}$path" HOME="$HOME" TMPDIR="$T" \
		PROV_HARNESS_INNER=1 PROV_SUITES=bats PROV_BATS_DIR="$T/bats" sh "$RUNSH" "$T/build"
}

# inner_runsh_san: inner_runsh with PROV_SAN passed through (and PROV_SUITES from
# SUITES, default bats).
inner_runsh_san() {
	local path
	path=$(printf '%s' "$PATH" | tr ':' '\n' | grep -v bats-core | paste -sd:)
	run env -i PATH="$path" HOME="$HOME" TMPDIR="$T" PROV_SAN="$PROV_SAN" \
		PROV_HARNESS_INNER=1 PROV_SUITES="${SUITES:-bats}" PROV_BATS_DIR="$T/bats" sh "$RUNSH" "$T/build"
}

# cprog NAME BODY: a C program using check.h, built into $T/build/tests/NAME.
cprog() {
	mkdir -p "$T/build/tests"
	printf '#include "check.h"\nint main(void)\n{\n%s\n\treturn check_done("%s");\n}\n' "$2" "$1" \
		> "$T/$1.c"
	cc -std=c11 -Wall -Wextra -Werror -I"$REPO/tests/unit" -o "$T/build/tests/$1" "$T/$1.c"
}

# script NAME TEXT: an executable shell script $T/build/tests/NAME printing TEXT.
script() {
	mkdir -p "$T/build/tests"
	printf '#!/bin/sh\nprintf "%%s\\n" "%s"\nexit %s\n' "$2" "${3:-0}" > "$T/build/tests/$1"
	chmod +x "$T/build/tests/$1"
}

@test "check.h: no check ran -> exit 1 and 'no check ran'; one passing check -> 0; one failing -> 1" {
	cprog test_zero ''
	cprog test_one 'CHECK(1 + 1 == 2);'
	cprog test_bad 'CHECK(1 + 1 == 3);'
	run --separate-stderr "$T/build/tests/test_zero"
	assert_status 1
	[ "$output" = "test_zero: 0 passed, 1 failed" ]
	[ "$stderr" = "FAIL test_zero: no check ran" ]
	run "$T/build/tests/test_one"
	assert_status 0
	[ "$output" = "test_one: 1 passed, 0 failed" ]
	run "$T/build/tests/test_bad"
	assert_status 1
	assert_output_has "test_bad: 0 passed, 1 failed"
}

@test "run.sh: a unit binary exiting 0 without its summary line, or with no check, is a failure and its log is shown" {
	script test_nosummary "started, then left early"
	script test_oldzero "test_oldzero: 0 passed, 0 failed"
	cprog test_zero ''
	run env PROV_SUITES=unit sh "$RUNSH" "$T/build"
	[ "$status" -ne 0 ]
	assert_output_has "unit test_nosummary: 0 passed, 1 failed (no summary line, exit 0)"
	assert_output_has "started, then left early"
	assert_output_has "unit test_oldzero: 0 passed, 1 failed (no check ran)"
	assert_output_has "unit test_zero: 0 passed, 1 failed"
	[ "${lines[${#lines[@]} - 1]}" = "0 passed, 3 failed" ]
}

@test "run.sh: a unit binary that prints a clean summary but exits non-zero is a failure" {
	script test_liar "test_liar: 3 passed, 0 failed" 2
	run env PROV_SUITES=unit sh "$RUNSH" "$T/build"
	[ "$status" -ne 0 ]
	assert_output_has "unit test_liar: 3 passed, 1 failed (exit 2)"
}

@test "run.sh control: a unit binary with passing checks passes" {
	cprog test_one 'CHECK(1 + 1 == 2);'
	run env PROV_SUITES=unit sh "$RUNSH" "$T/build"
	assert_status 0
	[ "${#lines[@]}" -eq 2 ]
	[[ "${lines[0]}" =~ ^"unit test_one: 1 passed, 0 failed ("[0-9]+\.[0-9]" s, "[0-9]+\.[0-9]" s CPU)"$ ]]
	[ "${lines[1]}" = "1 passed, 0 failed" ]
}

# meet NAME OTHER: a unit script that passes only if OTHER runs at the same
# time (each waits up to 10 s for the other's mark), and takes 0.3 s at least.
meet() {
	mkdir -p "$T/build/tests"
	cat > "$T/build/tests/$1" <<-EOF
	#!/bin/sh
	touch "$T/mark-$1"
	i=0
	while [ ! -e "$T/mark-$2" ] && [ \$i -lt 200 ]; do sleep 0.05; i=\$((i + 1)); done
	sleep 0.3
	if [ -e "$T/mark-$2" ]; then echo "$1: 2 passed, 0 failed"; else echo "$1: 0 passed, 1 failed"; fi
	EOF
	chmod +x "$T/build/tests/$1"
}

@test "run.sh: suites run in parallel (PROV_JOBS), each line with its wall time, and the counts add up" {
	meet test_a test_b
	meet test_b test_a
	for n in 1 2 3 4 5 6 7; do
		script "test_n$n" "test_n$n: $n passed, 0 failed"
	done
	run env PROV_SUITES=unit PROV_JOBS=3 sh "$RUNSH" "$T/build"
	assert_status 0
	assert_output_has "unit test_a: 2 passed, 0 failed ("
	assert_output_has "unit test_b: 2 passed, 0 failed ("
	# 2 + 2 + (1 + ... + 7), over 9 suite lines and the total
	[ "${lines[${#lines[@]} - 1]}" = "32 passed, 0 failed" ]
	[ "$(printf '%s\n' "$output" | grep -Ec '^unit test_[a-z0-9]+: [0-9]+ passed, 0 failed \([0-9]+\.[0-9] s, [0-9]+\.[0-9] s CPU\)$')" -eq 9 ]
	# the meeting suites took 0.3 s at least, and say so
	printf '%s\n' "$output" | grep -E '^unit test_a: .* \((0\.[3-9]|[1-9][0-9]*\.[0-9]) s, [0-9]+\.[0-9] s CPU\)$'
}

@test "run.sh: in parallel, one failing suite among passing ones fails the run and the counts stay exact" {
	for n in 1 2 3 4 5; do
		script "test_n$n" "test_n$n: $n passed, 0 failed"
	done
	script test_bad "test_bad: 4 passed, 2 failed" 1
	script test_quiet "no summary here"
	run env PROV_SUITES=unit PROV_JOBS=4 sh "$RUNSH" "$T/build"
	[ "$status" -ne 0 ]
	assert_output_has "unit test_bad: 4 passed, 2 failed ("
	assert_output_has "unit test_quiet: 0 passed, 1 failed (no summary line, exit 0) ("
	assert_output_has "no summary here"
	[ "${lines[${#lines[@]} - 1]}" = "19 passed, 3 failed" ]
}

@test "run.sh: a suite whose runner dies leaves no result, and that is a failure" {
	script test_ok "test_ok: 3 passed, 0 failed"
	# kills the run.sh process that runs it (the one with --one), then reports success
	mkdir -p "$T/build/tests"
	cat > "$T/build/tests/test_killer" <<-'EOF'
	#!/bin/sh
	p=$PPID
	while [ "$p" -gt 1 ]; do
		if tr '\0' ' ' < /proc/$p/cmdline | grep -q -- '--one unit .*test_killer'; then kill -9 "$p"; break; fi
		p=$(awk '{ print $4 }' /proc/$p/stat)
	done
	echo "test_killer: 5 passed, 0 failed"
	EOF
	chmod +x "$T/build/tests/test_killer"
	run env PROV_SUITES=unit PROV_JOBS=1 sh "$RUNSH" "$T/build"
	[ "$status" -ne 0 ]
	assert_output_has "unit test_killer: 0 passed, 1 failed (no result: its runner died)"
	[[ "${lines[${#lines[@]} - 1]}" =~ ^[0-9]+" passed, "[1-9][0-9]*" failed"$ ]]
}

@test "run.sh: a Bats file with no tests is a failure; a passing one is not" {
	outer_only
	mkdir -p "$T/bats" "$T/build"
	printf '#!/usr/bin/env bats\n' > "$T/bats/empty.bats"
	printf '#!/usr/bin/env bats\n@test "one" {\n\t[ 1 -eq 1 ]\n}\n' > "$T/bats/one.bats"
	inner_runsh
	[ "$status" -ne 0 ]
	assert_output_has "bats empty.bats: 0 passed, 1 failed (no tests)"
	assert_output_has "bats one.bats: 1 passed, 0 failed"
	[ "${lines[${#lines[@]} - 1]}" = "1 passed, 1 failed" ]
}

@test "run.sh: Bats output without a plan, or with fewer results than planned, is a failure" {
	outer_only
	mkdir -p "$T/bats" "$T/build" "$T/bin"
	printf '#!/usr/bin/env bats\n@test "one" {\n\ttrue\n}\n' > "$T/bats/a.bats"
	# a bats that prints nothing and exits 0 (a broken install), then one that
	# stops after the first of two tests
	printf '#!/bin/sh\nexit 0\n' > "$T/bin/bats"
	chmod +x "$T/bin/bats"
	PATH_FIRST="$T/bin" inner_runsh
	[ "$status" -ne 0 ]
	assert_output_has "bats a.bats: 0 passed, 1 failed (no plan line, exit 0)"
	printf '#!/bin/sh\nprintf "1..2\\nok 1 one\\n"\nexit 0\n' > "$T/bin/bats"
	PATH_FIRST="$T/bin" inner_runsh
	[ "$status" -ne 0 ]
	assert_output_has "bats a.bats: 1 passed, 1 failed (died after 1 of 2)"
}

@test "run.sh: under the sanitizers the Cortex-M suites are skipped, and the run says which and why" {
	outer_only
	mkdir -p "$T/bats" "$T/build"
	# a failing firmware.bats: skipped under the sanitizers, run (and failing) without
	printf '#!/usr/bin/env bats\n@test "fw" {\n\tfalse\n}\n' > "$T/bats/firmware.bats"
	printf '#!/usr/bin/env bats\n@test "one" {\n\ttrue\n}\n' > "$T/bats/one.bats"
	PROV_SAN=1 inner_runsh_san
	assert_status 0
	assert_output_has "bats firmware.bats: skipped under the sanitizers: the Cortex-M4 image under QEMU, built without sanitizers"
	[ "${lines[${#lines[@]} - 1]}" = "1 passed, 0 failed" ]
	PROV_SAN=0 inner_runsh_san
	[ "$status" -ne 0 ]
	assert_output_has "bats firmware.bats: 0 passed, 1 failed ("
	run grep -c skipped <<< "$output"
	[ "$output" = 0 ]
}

@test "run.sh: PROV_SUITES=unsanitized (make check's plain pass) runs exactly the suites the sanitizer run skips" {
	outer_only
	mkdir -p "$T/bats" "$T/build/tests"
	printf '#!/usr/bin/env bats\n@test "fw" {\n\ttrue\n}\n' > "$T/bats/firmware.bats"
	printf '#!/usr/bin/env bats\n@test "h1" {\n\ttrue\n}\n@test "h2" {\n\ttrue\n}\n' > "$T/bats/harness.bats"
	# a host suite: the sanitizer pass runs it, this one must not (it would fail)
	printf '#!/usr/bin/env bats\n@test "host" {\n\tfalse\n}\n' > "$T/bats/mint.bats"
	PROV_SAN=0 SUITES=unsanitized inner_runsh_san
	assert_status 0
	assert_output_has "bats firmware.bats: 1 passed, 0 failed ("
	assert_output_has "bats harness.bats: 2 passed, 0 failed ("
	[[ "$output" != *mint.bats* ]]
	[ "${lines[${#lines[@]} - 1]}" = "3 passed, 0 failed" ]
	# the total, for make check's sum
	[ "$(cat "$T/build/tests/run-total")" = "3 passed, 0 failed" ]
	# control: the whole Bats run takes mint.bats, and fails on it
	PROV_SAN=0 SUITES=bats inner_runsh_san
	[ "$status" -ne 0 ]
	assert_output_has "bats mint.bats: 0 passed, 1 failed ("
	[ "$(cat "$T/build/tests/run-total")" = "3 passed, 1 failed" ]
}

@test "run.sh: an unknown PROV_SUITES word exits 2 naming it (escaped), before running anything" {
	script test_one "test_one: 1 passed, 0 failed"
	run --separate-stderr env PROV_SUITES="unit sanitised" sh "$RUNSH" "$T/build"
	assert_status 2
	[ "$stderr" = 'run.sh: PROV_SUITES: unknown kind "sanitised" (unit, bats or unsanitized)' ]
	[ -z "$output" ]
	run --separate-stderr env PROV_SUITES=$'\e[2Jx' sh "$RUNSH" "$T/build"
	assert_status 2
	[[ "$stderr" != *$'\e'* ]]
	[[ "$stderr" == *'unknown kind "??2Jx"'* ]]
	# control: the known word runs the suite
	run env PROV_SUITES=unit sh "$RUNSH" "$T/build"
	assert_status 0
	assert_output_has "unit test_one: 1 passed, 0 failed ("
}

@test "run.sh: each line carries the suite's CPU time: a busy suite shows it, a sleeping one does not" {
	mkdir -p "$T/build/tests"
	printf '#!/bin/sh\ni=0\nwhile [ $i -lt 600000 ]; do i=$((i + 1)); done\necho "test_busy: 1 passed, 0 failed"\n' \
		> "$T/build/tests/test_busy"
	printf '#!/bin/sh\nsleep 0.6\necho "test_idle: 1 passed, 0 failed"\n' > "$T/build/tests/test_idle"
	chmod +x "$T/build/tests/test_busy" "$T/build/tests/test_idle"
	run env PROV_SUITES=unit PROV_JOBS=1 sh "$RUNSH" "$T/build"
	assert_status 0
	busy=$(printf '%s\n' "$output" | sed -n 's/^unit test_busy: 1 passed, 0 failed (\([0-9.]*\) s, \([0-9.]*\) s CPU)$/\2/p')
	idle=$(printf '%s\n' "$output" | sed -n 's/^unit test_idle: 1 passed, 0 failed (\([0-9.]*\) s, \([0-9.]*\) s CPU)$/\1 \2/p')
	[ -n "$busy" ] && [ -n "$idle" ]
	echo "busy: $busy s CPU; idle: $idle (wall, CPU)"
	# the loop costs a few tenths of a second of CPU whatever the load; the sleep none
	awk -v b="$busy" 'BEGIN { exit !(b >= 0.15) }'
	echo "$idle" | awk '{ exit !($1 >= 0.6 && $2 <= 0.1) }'
}

# ---- helper.bash: background processes (bg_start, bg_kill, bg_stop_all) -------------
#
# A PID is signalled only while it is the process that was recorded.  The
# "other" process below stands for one that got a reused PID: a live process
# (a child of this test, so that we can see whether it was signalled) with
# PROV_BG_TAG removed from its environment, so it is nothing bg_stop_all's
# scan of the test's processes would claim either.

# other: start the stand-in, sets OTHER (its PID) and OTHER_START.
other() {
	env -u PROV_BG_TAG sleep 60 3>&- &
	OTHER=$!
	bg_stat "$OTHER"
	OTHER_START=$BG_START
}

# other_alive: the stand-in still runs, unsignalled (sleep ends on SIGTERM).
other_alive() {
	bg_stat "$OTHER" && [ "$BG_START" = "$OTHER_START" ] && [ "$BG_STATE" != Z ] || {
		echo "the unrelated process $OTHER was signalled" >&2
		return 1
	}
}

@test "bg_kill and bg_stop_all leave a PID alone whose start time is not the recorded one" {
	other
	BG_LIST="$T/h.list"
	# the PID recorded with the start time of an earlier process at that PID
	echo "$OTHER $((OTHER_START - 1)) agent-sim" > "$BG_LIST"
	run bg_alive "$OTHER"
	assert_status 1
	run bg_kill -KILL "$OTHER"
	assert_status 1
	run bg_kill "$OTHER"
	assert_status 1
	BG_STOP_TIMEOUT=1 run --separate-stderr bg_stop_all
	assert_status 0
	other_alive
	# the control: with its own start time it is ours, and it is stopped
	echo "$OTHER $OTHER_START sleep" > "$BG_LIST"
	run bg_alive "$OTHER"
	assert_status 0
	run bg_stop_all
	assert_status 0
	wait "$OTHER" || [ $? = 143 ]   # (SIGTERM)
	[ ! -e "$BG_LIST" ]
}

@test "bg_kill and bg_stop_all leave a PID alone that was recorded after its process had ended" {
	other
	BG_LIST="$T/h.list"
	# what bg_record writes for a process that had ended (and been reaped)
	# before it was recorded: no start time
	echo "$OTHER - s_server" > "$BG_LIST"
	run bg_kill "$OTHER"
	assert_status 1
	run bg_stop_all
	assert_status 0
	other_alive
	# a PID never recorded here is refused, naming it
	BG_LIST="$T/none.list"
	run --separate-stderr bg_kill "$OTHER"
	assert_status 1
	[ "$stderr" = "bg_kill: $OTHER is not a process this test recorded (bg_start): not signalled" ]
	other_alive
	# bg_record of a PID that is not a child of this shell: never signalled
	BG_LIST="$T/h.list"
	rm -f "$BG_LIST"
	bg_record init 1
	[ "$(cat "$BG_LIST")" = "1 - init" ]
	# the control: recorded as it is, it is stopped
	echo "$OTHER $OTHER_START sleep" > "$BG_LIST"
	run bg_stop_all
	assert_status 0
	wait "$OTHER" || [ $? = 143 ]
}

@test "bg_stop_all: a recorded process that survives SIGTERM is killed and fails the teardown, named" {
	BG_LIST="$T/h.list"
	bg_start stubborn-server sh -c 'trap "" TERM; while :; do sleep 0.1; done' 3>&-
	pid=$BG_PID
	start=$(sed -n "s/^$pid \([0-9]*\) stubborn-server\$/\1/p" "$BG_LIST")
	[ -n "$start" ]
	bg_alive "$pid"
	# (a nap so that the shell has set its trap)
	sleep 0.3
	BG_STOP_TIMEOUT=1 run --separate-stderr bg_stop_all
	assert_status 1
	[[ "$stderr" == *"background process stubborn-server (pid $pid) survived SIGTERM for 1 s: killed (SIGKILL)"* ]]
	for _ in $(seq 100); do bg_is "$pid" "$start" || break; sleep 0.05; done
	if bg_is "$pid" "$start"; then echo "stubborn-server still runs" >&2; false; fi
	# the control: one that ends on SIGTERM passes
	bg_start server sleep 60 3>&-
	run bg_stop_all
	assert_status 0
}

@test "bg_stop_all: what the test left running unrecorded (a run subshell's child) is stopped; one that outlives SIGTERM fails it" {
	BG_LIST="$T/h.list"
	# started in a `run` subshell: an orphan, never recorded, with the test's tag
	run sh -c 'sleep 60 >/dev/null 2>&1 3>&- & echo $!'
	left=$output
	bg_stat "$left"
	start=$BG_START
	run --separate-stderr bg_stop_all
	assert_status 0
	[[ "$stderr" == *"left running by the test: pid $left: sleep 60"* ]]
	for _ in $(seq 100); do bg_is "$left" "$start" || break; sleep 0.05; done
	if bg_is "$left" "$start"; then echo "the orphan still runs" >&2; false; fi
	run sh -c 'sh -c "trap \"\" TERM; while :; do sleep 0.1; done" >/dev/null 2>&1 3>&- & echo $!'
	left=$output
	sleep 0.3
	BG_STOP_TIMEOUT=1 run --separate-stderr bg_stop_all
	assert_status 1
	[[ "$stderr" == *"left running by the test: pid $left: sh -c trap"* ]]
	[[ "$stderr" == *"survived SIGTERM for 1 s: killed (SIGKILL)"* ]]
}
