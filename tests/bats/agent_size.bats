#!/usr/bin/env bats
# firmware-agent/size/size.sh: the Cortex-M4 size line of the device agent.
# Skipped (with the reason) when the cross compiler is absent and cannot be
# installed (size.sh exits 77).  The stack figure is checked against the
# -fstack-usage frames of a small tree whose call graph is known; the flags are
# the firmware image's (common.mk's WARN, the project's M4 Mbed TLS).

load helper

SIZE="$REPO/firmware-agent/size/size.sh"

# run size.sh, skipping the test if the cross compiler cannot be had
run_size() {
	run sh "$SIZE" "$@"
	if [ "$status" -eq 77 ]; then
		skip "no arm-none-eabi-gcc and it cannot be installed here: $output"
	fi
}

# A tiny tree laid out like firmware-agent/: two entry points, one calling a
# static helper with a large frame, one calling the other through the port.
make_tree() {
	mkdir -p "$T/agent/include/pa" "$T/agent/core" "$T/agent/port"
	cat > "$T/agent/include/pa/pa_agent.h" <<-'H'
	#include <stddef.h>
	#include <stdint.h>
	#define PA_BUNDLE_MAX 1024
	typedef struct pa_agent { uint8_t bundle[PA_BUNDLE_MAX]; int (*cb)(int); } pa_agent;
	int pa_one(pa_agent *a, int n);
	int pa_two(pa_agent *a, const uint8_t *p, size_t n);
	H
	cat > "$T/agent/core/one.c" <<-'C'
	#include "pa/pa_agent.h"
	int pa_table[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	int pa_one(pa_agent *a, int n) { pa_table[n & 7]++; return a->cb(n) + pa_table[0]; }
	C
	cat > "$T/agent/core/two.c" <<-'C'
	#include "pa/pa_agent.h"
	__attribute__((noinline)) static int big(const uint8_t *p, size_t n)
	{ volatile uint8_t t[400]; t[0] = p[0]; return t[n % 400]; }
	int pa_two(pa_agent *a, const uint8_t *p, size_t n) { volatile int k[10]; k[1] = big(p, n); return k[n % 10] + pa_one(a, 3); }
	C
	# not agent logic: must not be measured
	echo 'int port_only(void) { static char huge[100000]; return huge[5]; }' > "$T/agent/port/p.c"
}

@test "size.sh: the real agent gives exactly one line 'agent text=N data=N bss=N stack=N'" {
	run_size "$T/out"
	echo "$output" | sed 's/^/# /' >&3
	assert_status 0
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 1 ]
	echo "$output" | grep -Eq '^agent text=[0-9]+ data=[0-9]+ bss=[0-9]+ stack=[0-9]+$'
	# the figures agree with the report and with arm-none-eabi-size of the link
	[ "$(head -n 1 "$T/out/report.txt")" = "$output" ]
	set -- $(arm-none-eabi-size -B "$T/out/agent.o" | awk 'NR == 2 { print $1, $2, $3 }')
	echo "$output" | grep -q "text=$1 data=$2 bss=$3 "
	# no heap in what was kept
	# (not "! cmd": bash's errexit ignores a negated command, so it could never fail)
	[ -z "$(arm-none-eabi-nm -u "$T/out/agent.o" | grep -E ' (malloc|calloc|realloc|free)$')" ]
}

@test "size.sh: compiles with the firmware's flags (common.mk's WARN) against the project's M4 Mbed TLS" {
	run_size "$T/out"
	assert_status 0
	m4=$(make -s --no-print-directory -C "$REPO" -f firmware-agent/Makefile print-m4-cflags)
	grep -qF -- "flags: $m4 -fstack-usage" "$T/out/report.txt"
	# one definition of the warnings: common.mk's, errors included
	warn=$(make -s --no-print-directory -C "$REPO" -f firmware-agent/Makefile --eval 'pw: ; @echo $(WARN)' pw)
	echo "$m4" | grep -qF -- "$warn"
	echo "$warn" | grep -q -- -Werror
	echo "$m4" | grep -qF -- "-I$REPO/build-mbedtls-m4/include "
	echo "$m4" | grep -qF -- '-DMBEDTLS_CONFIG_FILE="mbedtls_config_m4.h"'
	[ -f "$REPO/build-mbedtls-m4/stamp" ]
	# nothing from Debian's Mbed TLS
	run grep -q /usr/include "$T/out/report.txt"
	[ "$status" -eq 1 ]
}

@test "size.sh: the agent stays within issue 4's budget (text 8 KB, data+bss 512 B, stack 2 KB)" {
	run_size "$T/out"
	assert_status 0
	text=$(echo "$output" | sed 's/.*text=\([0-9]*\).*/\1/')
	data=$(echo "$output" | sed 's/.*data=\([0-9]*\).*/\1/')
	bss=$(echo "$output" | sed 's/.*bss=\([0-9]*\).*/\1/')
	stack=$(echo "$output" | sed 's/.*stack=\([0-9]*\).*/\1/')
	echo "# text=$text data+bss=$((data + bss)) stack=$stack" >&3
	[ "$text" -le 8192 ]
	[ $((data + bss)) -le 512 ]
	[ "$stack" -le 2048 ]
}

@test "size.sh: stack = the worst path's frames; port/ is not measured" {
	make_tree
	SIZE_AGENT_DIR="$T/agent" run_size "$T/out"
	assert_status 0
	echo "$output" | grep -Eq '^agent text=[0-9]+ data=32 bss=0 stack=[0-9]+$'
	# frames from -fstack-usage: pa_two -> big is the deepest path
	# (a static function may carry a suffix: big.isra)
	frame() { awk -F'\t' -v f="$1" '{ n = split($1, a, ":"); if (a[n] == f || index(a[n], f ".") == 1) print $2 }' "$T"/out/obj/*.su; }
	two=$(frame pa_two) big=$(frame big) one=$(frame pa_one)
	[ -n "$two" ]
	[ -n "$big" ]
	[ -n "$one" ]
	want=$((two + (big > one ? big : one)))
	echo "# pa_two $two, big $big, pa_one $one -> $want" >&3
	[ "$output" = "$(echo "$output" | sed "s/stack=[0-9]*$/stack=$want/")" ]
	grep -Eq "worst path: pa_two\\($two\\) -> core/two.c:big[.a-z0-9]*\\($big\\)$" "$T/out/report.txt"
	grep -q "caller-owned context: sizeof(struct pa_agent) = 1028 bytes" "$T/out/report.txt"
	grep -q "bundle buffer: none static" "$T/out/report.txt"
	run grep -q port_only "$T/out/report.txt"
	[ "$status" -eq 1 ]
}

@test "size.sh: recursion and heap use fail; a static bundle buffer is reported apart" {
	make_tree
	SIZE_AGENT_DIR="$T/agent" run_size "$T/out"
	assert_status 0
	cat > "$T/agent/core/rec.c" <<-'C'
	int pa_walk(const unsigned char *p, int n);
	int pa_walk(const unsigned char *p, int n)
	{ if (n <= 0) return 0; int a = pa_walk(p + 1, n - 1); int b = pa_walk(p + 2, n - 2); return a * p[0] + b; }
	C
	SIZE_AGENT_DIR="$T/agent" run_size "$T/out"
	assert_status 1
	assert_output_has "recursion: pa_walk -> pa_walk"
	rm "$T/agent/core/rec.c"
	# a warning is an error, as in every other build of the agent
	echo 'int pa_unused(int n); int pa_unused(int n) { int x; return n; }' > "$T/agent/core/warn.c"
	SIZE_AGENT_DIR="$T/agent" run_size "$T/out"
	assert_status 1
	assert_output_has "size: cannot compile core/warn.c for Cortex-M4"
	rm "$T/agent/core/warn.c"
	cat > "$T/agent/core/heap.c" <<-'C'
	#include <stdlib.h>
	#include "pa/pa_agent.h"
	int pa_one_heap(int n);
	int pa_one_heap(int n) { char *p = malloc((size_t)n); int r = p != 0; free(p); return r; }
	C
	echo 'int pa_one_heap(int n);' >> "$T/agent/include/pa/pa_agent.h"
	SIZE_AGENT_DIR="$T/agent" run_size "$T/out"
	assert_status 1
	assert_output_has "the agent uses the heap: free malloc"
	rm "$T/agent/core/heap.c"
	cat > "$T/agent/core/buf.c" <<-'C'
	#include "pa/pa_agent.h"
	static uint8_t bundle_buf[PA_BUNDLE_MAX];
	int pa_buf(size_t i);
	int pa_buf(size_t i) { bundle_buf[i % PA_BUNDLE_MAX]++; return bundle_buf[0]; }
	C
	echo 'int pa_buf(size_t i);' >> "$T/agent/include/pa/pa_agent.h"
	SIZE_AGENT_DIR="$T/agent" run_size "$T/out"
	assert_status 0
	echo "$output" | grep -Eq ' bss=1024 '
	grep -q "bundle buffer: static, 1024 bytes" "$T/out/report.txt"
	grep -q "data+bss besides the bundle buffer  32 bytes" "$T/out/report.txt"
}
