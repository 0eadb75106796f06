#!/bin/sh
# qemu-device.sh - one emulated device: the provisioning firmware on QEMU's
# mps2-an386 (Cortex-M4), its console UART on a pseudo-terminal.
#
#   sh scripts/qemu-device.sh [--image ELF] [--device-id ID] [--icount]
#                             [--cut N[:tear]] [--net] DIR
#
# DIR is the device: flash.bin (its storage flash, 8 sectors of 4 KB, made
# erased on first start and written through on every program and erase, so the
# device keeps its credentials from one run to the next), device-id (the ID the
# factory gives it, read on first start only: --device-id writes it; without
# one the firmware makes "an386-" and 12 hex digits), console.log (the board's
# debug channel: start line, "[stats]" lines, faults; appended to run after
# run), qemu.pid while it runs.
#
# Prints the pty's path as the first line of stdout (as agent-sim --pty does),
# then runs until QEMU ends or SIGTERM/SIGINT stops it (QEMU is killed, the pid
# file removed; exit 0).  Give the path to `prov install --port`.
#   --image ELF     the firmware (default build/firmware/provkit-an386.elf)
#   --net           a second UART (UART1, QEMU's second -serial) on its own
#                   pty, printed as the second line: the TLS image's link
#                   (docs/firmware.md; tests/tools/uart_bridge.py connects it
#                   to a TCP or UDP server)
#   --icount        QEMU's -icount shift=0: virtual time follows executed
#                   instructions (measurements, bench/firmware.sh; slower)
#   --cut N[:tear]  power-cut test: the Nth flash program or erase since start
#                   is cut (with :tear, half done) and the device stops; written
#                   to DIR/flash-cut, which the firmware reads at start (without
#                   --cut the file is removed)
# Exit status: 0 stopped by a signal or QEMU ended normally; 86 the injected
# power cut happened; 70 the firmware faulted (the report is in console.log); 2 usage; 3 a device already runs in DIR; 4 no firmware
# image; 77 qemu-system-arm is missing (scripts/deps.sh installs it); otherwise
# QEMU's.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
image="$top/build/firmware/provkit-an386.elf"
id="" icount="" cut="" dir="" net=""

usage() {
	echo "usage: qemu-device.sh [--image ELF] [--device-id ID] [--icount] [--cut N[:tear]] [--net] DIR" >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--image) [ $# -ge 2 ] || usage; image=$2; shift 2 ;;
	--device-id) [ $# -ge 2 ] || usage; id=$2; shift 2 ;;
	--icount) icount=1; shift ;;
	--net) net=1; shift ;;
	--cut) [ $# -ge 2 ] || usage; cut=$2; shift 2 ;;
	-h | --help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) usage ;;
	*) [ -z "$dir" ] || usage; dir=$1; shift ;;
	esac
done
[ -n "$dir" ] || usage
if [ -n "$cut" ] && ! printf '%s' "$cut" | grep -Eq '^[1-9][0-9]{0,8}(:tear)?$'; then
	echo "qemu-device.sh: --cut: N or N:tear, N >= 1" >&2
	exit 2
fi
if [ -n "$id" ] && ! printf '%s' "$id" | grep -Eq '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'; then
	echo "qemu-device.sh: --device-id: 1..64 of [A-Za-z0-9._:-], starting alphanumeric" >&2
	exit 2
fi
command -v qemu-system-arm >/dev/null 2>&1 || {
	echo "qemu-device.sh: qemu-system-arm is missing (scripts/deps.sh installs it)" >&2
	exit 77
}
[ -f "$image" ] || { echo "qemu-device.sh: no firmware image $image (make firmware)" >&2; exit 4; }
case $image in /*) ;; *) image="$(pwd)/$image" ;; esac

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# a pid file left by a killed run may name a pid reused since: only QEMU counts
if [ -f "$dir/qemu.pid" ] && kill -0 "$(cat "$dir/qemu.pid")" 2>/dev/null &&
	grep -q qemu-system-arm "/proc/$(cat "$dir/qemu.pid")/cmdline" 2>/dev/null; then
	echo "qemu-device.sh: a device already runs in $dir (pid $(cat "$dir/qemu.pid"))" >&2
	exit 3
fi
if [ -n "$id" ]; then
	if [ -f "$dir/flash.bin" ] && [ -f "$dir/device-id" ] && [ "$(cat "$dir/device-id")" != "$id" ]; then
		echo "qemu-device.sh: $dir holds a device already; its ID stays what it adopted" >&2
	else
		printf '%s\n' "$id" >"$dir/device-id"
	fi
fi
rm -f "$dir/flash-cut"
if [ -n "$cut" ]; then
	case $cut in *:tear) printf '%s tear\n' "${cut%:tear}" ;; *) printf '%s\n' "$cut" ;; esac >"$dir/flash-cut"
fi

qemu="" npty=""
stop() {
	trap - TERM INT
	if [ -n "$qemu" ]; then
		kill "$qemu" 2>/dev/null || true
		wait "$qemu" 2>/dev/null || true
	fi
	rm -f "$dir/qemu.pid"
	exit 0
}
trap stop TERM INT

# QEMU runs in DIR: the firmware's semihosting paths (flash.bin, device-id,
# flash-cut) are relative to it.  -no-reboot: a reset (a fault report ends in
# one) stops QEMU rather than starting over unseen.
cd "$dir"
: >"$dir/qemu.err"
# shellcheck disable=SC2086
qemu-system-arm -M mps2-an386 -display none -monitor none -serial pty ${net:+-serial pty} -no-reboot \
	-chardev file,id=dbg,path=console.log,append=on -semihosting-config enable=on,target=native,chardev=dbg \
	${icount:+-icount shift=0} -kernel "$image" </dev/null >"$dir/qemu.err" 2>&1 &
qemu=$!
echo "$qemu" >"$dir/qemu.pid"
pty=""
i=0
while [ $i -lt 200 ]; do
	pty=$(sed -n 's|^char device redirected to \(/dev/[^ ]*\) (label serial0).*|\1|p' "$dir/qemu.err" | head -n 1)
	npty=$(sed -n 's|^char device redirected to \(/dev/[^ ]*\) (label serial1).*|\1|p' "$dir/qemu.err" | head -n 1)
	[ -n "$pty" ] && { [ -z "$net" ] || [ -n "$npty" ]; } && break
	kill -0 "$qemu" 2>/dev/null || break
	sleep 0.02
	i=$((i + 1))
done
if [ -z "$pty" ] || { [ -n "$net" ] && [ -z "$npty" ]; }; then
	echo "qemu-device.sh: QEMU did not start: $(head -c 400 "$dir/qemu.err")" >&2
	kill "$qemu" 2>/dev/null || true
	rm -f "$dir/qemu.pid"
	exit 1
fi
echo "$pty"
[ -z "$net" ] || echo "$npty"
rc=0
wait "$qemu" || rc=$?
# a signal to us interrupts wait: stop() ran and exited already
qemu=""
rm -f "$dir/qemu.pid"
if [ "$rc" -eq 86 ]; then
	echo "qemu-device.sh: $dir: power cut at the injected flash operation" >&2
elif [ "$rc" -eq 70 ]; then
	echo "qemu-device.sh: $dir: the firmware faulted: $(grep '^\[fault\]' "$dir/console.log" | tail -n 1)" >&2
fi
exit "$rc"
