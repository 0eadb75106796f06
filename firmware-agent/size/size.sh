#!/bin/sh
# size.sh [OUTDIR] - the device agent's size on a Cortex-M4, in one line:
#
#   agent text=N data=N bss=N stack=N
#
# Cross-compiles every .c of the agent's logic (firmware-agent/*/ except port/,
# sim/, tests/, trust/, fuzz/, size/ and include/) with arm-none-eabi-gcc and the
# flags the firmware image compiles the same sources with (firmware-agent/Makefile
# FW_M4_CFLAGS: -mcpu=cortex-m4 -mthumb -Os, common.mk's WARN with -Werror, the
# project's Mbed TLS for the M4 built by `make mbedtls-m4`, whose headers and
# configuration mbedtls_config_m4.h / psa_config_m4.h the agent sees), links them
# partially (ld -r --gc-sections, kept from the public entry points declared in
# include/pa/*.h), and reports:
#   text, data, bss  arm-none-eabi-size of that link (text includes rodata);
#   stack            the worst-case stack depth from the entry points, from
#                    -fstack-usage frames over the -fcallgraph-info call graph
#                    (stack.py); calls out of the agent (PSA, libc, the port's
#                    callbacks through function pointers) count as 0 bytes.
# Fails on recursion, on an unbounded dynamic frame, and on heap use (malloc,
# calloc, realloc or free referenced by the agent).  Details (per object, the
# worst call path, the caller-owned context and the bundle buffer, the targets)
# go to OUTDIR/report.txt; stdout carries only the line.  OUTDIR defaults to
# build/agent-size under the top directory.  SIZE_CFLAGS adds flags (for
# example -DPA_BUNDLE_MAX=2048).  See firmware-agent/size/README.md.
#
# The cross compiler comes from Debian (gcc-arm-none-eabi, libnewlib-arm-none-eabi)
# and is installed here if missing, non-interactively, like scripts/deps.sh.  If it
# cannot be installed (not root, no network) the script exits 77.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$(dirname "$here")")
# SIZE_AGENT_DIR: measure another tree laid out like firmware-agent/ (tests).
agent=${SIZE_AGENT_DIR:-$(dirname "$here")}
out=${1:-$top/build/${SIZE_NAME:-agent}-size}
case $out in /*) ;; *) out="$(pwd)/$out" ;; esac
PY=/usr/bin/python3
CROSS=arm-none-eabi-

# Targets (issue 4).
TEXT_MAX=8192
RAM_MAX=512
STACK_MAX=2048

need_pkgs() {
	for p in gcc-arm-none-eabi libnewlib-arm-none-eabi; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
	done
}
missing=$(need_pkgs | tr '\n' ' ')
if [ -n "${missing% }" ]; then
	echo "size: installing:$missing" >&2
	if [ "$(id -u)" != 0 ]; then
		echo "size: the cross compiler is missing and this is not root; install: $missing" >&2
		exit 77
	fi
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } >&2; then
		echo "size: cannot install the cross compiler ($missing)" >&2
		exit 77
	fi
fi

rm -rf "$out"
mkdir -p "$out/obj"
# The project's Mbed TLS for the Cortex-M4 (built if missing or stale: its stamp in
# build-mbedtls-m4/, as for `make firmware`) and the flags, from make: one
# definition (firmware-agent/Makefile, common.mk).  make's output goes to
# OUTDIR/make.log, shown only if it fails, so stdout and stderr stay the line.
mk() { make -s --no-print-directory -C "$top" -f firmware-agent/Makefile "$@"; }
if ! mk mbedtls-m4 >"$out/make.log" 2>&1 || ! CFLAGS_M4=$(mk print-m4-cflags 2>>"$out/make.log"); then
	cat "$out/make.log" >&2
	echo "size: cannot build the project's Mbed TLS for the Cortex-M4 or read its flags (make -f firmware-agent/Makefile mbedtls-m4)" >&2
	exit 1
fi
CFLAGS_ARM="$CFLAGS_M4 -fstack-usage -fcallgraph-info=su"
INC="-I$agent -I$agent/include"

# The agent's logic: every .c under its module directories but those that are not
# agent logic (ports, simulator, tests, the trust store of issue 3, fuzzing, this,
# the firmware image board/ (docs/firmware.md),
# the optional serial layer smp/ and device keygen keygen/).  SIZE_DIRS="smp keygen"
# measures those directories instead (SIZE_NAME names the line: make size-smp); the
# agent's objects are then linked in as well (-r, undefined references to them stay).
srcs=""
for d in "$agent"/*/; do
	name=$(basename "$d")
	if [ -n "${SIZE_DIRS:-}" ]; then
		case " $SIZE_DIRS " in *" $name "*) ;; *) continue ;; esac
	else
		case $name in port | sim | tests | trust | fuzz | size | include | smp | keygen | tls | mbedtls | its | board) continue ;; esac
	fi
	for f in $(find "$d" -name '*.c' | sort); do
		srcs="$srcs $f"
	done
done
[ -n "$srcs" ] || { echo "size: no agent sources under $agent" >&2; exit 1; }

objs=""
for f in $srcs; do
	rel=${f#"$agent"/}
	o="$out/obj/$(echo "$rel" | tr / _).o"
	# -dumpbase names the .su/.ci files after the object; run from the agent
	# directory so the call graph names files relatively.
	# shellcheck disable=SC2086
	(cd "$agent" && ${CROSS}gcc $CFLAGS_ARM $INC ${SIZE_CFLAGS:-} -c "$rel" -o "$o") >&2 ||
		{ echo "size: cannot compile $rel for Cortex-M4" >&2; exit 1; }
	objs="$objs $o"
done

# Public entry points: the pa_* functions the agent's headers declare (and the
# psa_its_* ones the flash store implements, SIZE_HEADERS adding its header).
# shellcheck disable=SC2086
cat "$agent"/include/pa/*.h ${SIZE_HEADERS:-} | tr '\n' ' ' | grep -o '[A-Za-z_][A-Za-z0-9_]* *(' |
	sed 's/ *($//' | grep -E '^(pa_|psa_its_)' | sort -u > "$out/entries.all"
# shellcheck disable=SC2086
${CROSS}nm --defined-only -g $objs | awk '$2 == "T" { print $3 }' | sort -u > "$out/defined"
comm -12 "$out/entries.all" "$out/defined" > "$out/entries"
[ -s "$out/entries" ] || { echo "size: no entry point of include/pa/*.h is defined in the agent" >&2; exit 1; }
keep=$(sed 's/^/-u /' "$out/entries" | tr '\n' ' ')
# shellcheck disable=SC2086
${CROSS}ld -r --gc-sections $keep -o "$out/agent.o" $objs

# No heap: the contract of include/pa/pa_agent.h, checked on what the link kept.
heap=$(${CROSS}nm -u "$out/agent.o" | awk '{ print $2 }' | grep -E '^(malloc|calloc|realloc|free)$' || true)
if [ -n "$heap" ]; then
	echo "size: the agent uses the heap: $(echo "$heap" | tr '\n' ' ')" >&2
	exit 1
fi

set -- $(${CROSS}size -B "$out/agent.o" | awk 'NR == 2 { print $1, $2, $3 }')
text=$1 data=$2 bss=$3

stackout=$("$PY" "$here/stack.py" "$out/entries" "$out"/obj/*.ci) || exit 1
stack=$(echo "$stackout" | sed -n 's/^stack=//p')
path=$(echo "$stackout" | sed -n 's/^path=//p')

# The caller-owned context and the bundle buffer, measured as the target
# compiler lays them out: arrays of their sizes, read back with nm.
cat > "$out/sizes.c" <<'C'
#include "pa/pa_agent.h"
char pa_size_agent[sizeof(pa_agent)];
char pa_size_bundle[PA_BUNDLE_MAX];
C
ctx="" bundle_max=""
# shellcheck disable=SC2086
if ${CROSS}gcc $CFLAGS_M4 $INC ${SIZE_CFLAGS:-} \
	-c "$out/sizes.c" -o "$out/sizes.o" 2>"$out/sizes.log"; then
	ctx=$(${CROSS}nm -S -t d "$out/sizes.o" | awk '$4 == "pa_size_agent" { print $2 + 0 }')
	bundle_max=$(${CROSS}nm -S -t d "$out/sizes.o" | awk '$4 == "pa_size_bundle" { print $2 + 0 }')
fi
# A static object at least as large as the bundle buffer is the bundle buffer.
static_bundle=0
if [ -n "$bundle_max" ]; then
	static_bundle=$(${CROSS}nm -S -t d "$out/agent.o" |
		awk -v m="$bundle_max" 'NF == 4 && $3 ~ /^[bBdD]$/ { s = $2 + 0; if (s >= m && s > b) b = s }
		END { print b + 0 }')
fi
ram=$((data + bss - static_bundle))

verdict() { # value max
	if [ "$1" -le "$2" ]; then echo "ok (<= $2)"; else echo "OVER the target of $2"; fi
}
{
	echo "${SIZE_NAME:-agent} text=$text data=$data bss=$bss stack=$stack"
	echo
	echo "sources:$(echo "$srcs" | sed "s|$agent/||g")"
	echo "compiler: $(${CROSS}gcc --version | head -n 1)"
	echo "flags: $CFLAGS_ARM ${SIZE_CFLAGS:-}"
	echo "entry points kept: $(tr '\n' ' ' < "$out/entries")"
	echo
	echo "text  $text bytes: $(verdict "$text" $TEXT_MAX)"
	if [ "$static_bundle" -gt 0 ]; then
		echo "bundle buffer: static, $static_bundle bytes (PA_BUNDLE_MAX $bundle_max)"
	else
		echo "bundle buffer: none static (PA_BUNDLE_MAX ${bundle_max:-?} bytes, inside the caller's struct pa_agent)"
	fi
	echo "data+bss besides the bundle buffer  $ram bytes: $(verdict "$ram" $RAM_MAX)"
	echo "stack  $stack bytes: $(verdict "$stack" $STACK_MAX)"
	echo "worst path: $path"
	echo "caller-owned context: sizeof(struct pa_agent) = ${ctx:-?} bytes"
	echo
	echo "per object (before --gc-sections):"
	# shellcheck disable=SC2086
	${CROSS}size $objs | sed "s|$out/obj/||"
	echo
	echo "largest functions kept (bytes):"
	${CROSS}nm -S -t d --size-sort "$out/agent.o" | awk '$3 ~ /^[tT]$/ { printf "  %6d %s\n", $2 + 0, $4 }' |
		sort -rn | head -n 12
	echo
	echo "largest frames (bytes, -fstack-usage):"
	cat "$out"/obj/*.su | awk -F'\t' '{ n = split($1, a, ":"); printf "  %6d %s\n", $2, a[n] }' | sort -rn | head -n 8
} > "$out/report.txt"
echo "${SIZE_NAME:-agent} text=$text data=$data bss=$bss stack=$stack"
