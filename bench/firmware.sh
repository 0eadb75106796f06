#!/bin/sh
# firmware.sh BUILD - figures of the provisioning firmware on QEMU's
# mps2-an386 (docs/firmware.md), into docs/benchmarks.md (bench:firmware).
#
#   - the image: arm-none-eabi-size (text, data, bss; sections), and its parts
#     from the link map (bench/fw_map.py);
#   - RAM used: the static data, the stack's high-water mark (painted at start)
#     and Mbed TLS's pool high-water mark, the largest the firmware reported on
#     its debug channel ("[stats]" lines, console.log) over every run below;
#   - flash written per install and per rotation (bytes programmed, sectors
#     erased, from the board driver's counters), and the wear that implies;
#   - the device's crypto per install in executed instructions: QEMU with
#     -icount shift=0 (one instruction = 1 ns of virtual time; the SysTick
#     counter the firmware reads runs at 25 MHz, so a tick is 40 instructions,
#     checked by the firmware's calibration loop at every start), and the time
#     that implies at 64 MHz with one instruction per cycle (an estimate);
#   - the wall time of `prov install` into one emulated device (informative:
#     QEMU is not cycle-accurate).
# Skipped, with the reason, when qemu-system-arm or arm-none-eabi-gcc is missing.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
prov="$top/$build/prov"
PY=/usr/bin/python3
# rotations measured after a warm-up that fills the 32 KB area a few times over
# (erases only start once the log wraps)
WARMUP=${BENCH_FW_WARMUP:-10}
ROTATIONS=${BENCH_FW_ROTATIONS:-30}
for tool in qemu-system-arm arm-none-eabi-gcc; do
	command -v "$tool" >/dev/null 2>&1 || { echo "bench/firmware.sh: skipped: no $tool (scripts/deps.sh)"; exit 0; }
done
work=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
export PROV_HOME="$work/factory"
"$prov" init >/dev/null
"$prov" signer export --format c >"$work/signer.h"
make -s -C "$top" -f firmware-agent/Makefile BUILD="$build" firmware SIGNER_H="$work/signer.h" \
	FW_OUT="$work/fw/provkit-an386" >"$work/make.log" 2>&1 || { cat "$work/make.log" >&2; exit 1; }
elf="$work/fw/provkit-an386.elf"

# start NAME ARGS...: a device in $work/NAME; sets port
start() {
	name=$1
	shift
	sh "$top/scripts/qemu-device.sh" --image "$elf" "$@" "$work/$name" >"$work/$name.port" 2>"$work/$name.err" &
	pids="$pids $!"
	i=0
	while [ $i -lt 500 ]; do
		grep -q 'up, device' "$work/$name/console.log" 2>/dev/null && break   # a new device each time
		sleep 0.02
		i=$((i + 1))
	done
	port=$(head -n 1 "$work/$name.port")
	case $port in /dev/*) ;; *) echo "bench/firmware.sh: $name did not start: $(cat "$work/$name.err")" >&2; exit 1 ;; esac
}
# stat_of LINE KEY: a number from a [stats] line (KEY=N, or KEY=CALLSxTICKS: the ticks)
stat_of() {
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | sed 's/^[0-9]*x//; s|/.*||'
}
lines() { grep -c '' "$1"; }

# --- one device: install, then rotations (flash written) ---------------------------
start plain --device-id bench-1
"$prov" install --port "$port" --template "$top/templates/mqtt-mtls.json" --json >"$work/install.json"
grep -q '"result":"installed"' "$work/install.json" || { cat "$work/install.json" >&2; exit 1; }
wall=$("$PY" -c 'import json,sys; print("%.2f" % json.load(open(sys.argv[1]))["seconds"])' "$work/install.json")
bundle=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bundle_bytes"])' "$work/install.json")
log="$work/plain/console.log"
first_commit=$(grep 'group=80 id=3 rc=0' "$log" | tail -n 1)
start_line=$(grep '^\[stats\] start' "$log" | tail -n 1)
ins_prog=$(( $(stat_of "$first_commit" programmed) - $(stat_of "$start_line" programmed) ))
ins_erase=$(( $(stat_of "$first_commit" erased) - $(stat_of "$start_line" erased) ))
rotate() {
	"$prov" install --port "$port" --template "$top/templates/mqtt-mtls.json" --rotate --json >"$work/rot.json"
	grep -q '"result":"installed"' "$work/rot.json" || { cat "$work/rot.json" >&2; exit 1; }
}
r=0
while [ $r -lt "$WARMUP" ]; do
	rotate
	r=$((r + 1))
done
before=$(grep 'group=80 id=3 rc=0' "$log" | tail -n 1)
r=0
while [ $r -lt "$ROTATIONS" ]; do
	rotate
	r=$((r + 1))
done
last_commit=$(grep 'group=80 id=3 rc=0' "$log" | tail -n 1)
rot_prog=$(( ($(stat_of "$last_commit" programmed) - $(stat_of "$before" programmed)) / ROTATIONS ))
rot_erase100=$(( ($(stat_of "$last_commit" erased) - $(stat_of "$before" erased)) * 100 / ROTATIONS ))

# --- instruction counts: mqtt-mtls (keygen, CSR, verify, receipt) and coaps-psk
# (verify, ECDH, receipt) on devices under -icount ---------------------------------
start icount-m --device-id bench-2 --icount
"$prov" install --port "$port" --template "$top/templates/mqtt-mtls.json" --json >"$work/im.json"
start icount-p --device-id bench-3 --icount
"$prov" install --port "$port" --template "$top/templates/coaps-psk.json" --json >"$work/ip.json"
grep -q '"result":"installed"' "$work/im.json" "$work/ip.json" ||
	{ cat "$work/im.json" "$work/ip.json" >&2; exit 1; }
cal=$(sed -n 's/^\[stats\] calibrate instructions=1000000 ticks=//p' "$work/icount-m/console.log" | head -n 1)
kg=$(grep 'group=80 id=1 rc=0' "$work/icount-m/console.log" | tail -n 1)
cm=$(grep 'group=80 id=3 rc=0' "$work/icount-m/console.log" | tail -n 1)
cp_=$(grep 'group=80 id=3 rc=0' "$work/icount-p/console.log" | tail -n 1)
# instructions = ticks * 1e6 / calibration ticks
ins() { awk -v t="$1" -v c="$cal" 'BEGIN { printf "%.0f", t * 1000000 / c }'; }
i_gen=$(ins "$(stat_of "$kg" generate)")
i_csr=$(ins "$(stat_of "$kg" sign)")
i_ver=$(ins "$(stat_of "$cm" verify)")
i_rcp=$(ins "$(stat_of "$cm" sign)")
i_ecdh=$(ins "$(stat_of "$cp_" ecdh)")
i_verp=$(ins "$(stat_of "$cp_" verify)")

# --- RAM: the largest high-water marks any run reported ------------------------------
maxof() { cat "$work"/*/console.log | grep '^\[stats\]' | tr ' ' '\n' | sed -n "s/^$1=//p" | cut -d/ -f1 | sort -n | tail -n 1; }
stack_hw=$(maxof stack)
pool_hw=$(maxof pool)
overruns=$(maxof overruns)
pool_size=$(grep '^\[stats\]' "$log" | head -n 1 | tr ' ' '\n' | sed -n 's/^pool=[0-9]*\///p' | head -n 1)
[ -n "$pool_size" ] || pool_size=$(grep '^\[stats\] start' "$log" | tr ' ' '\n' | sed -n 's/^pool=[0-9]*\///p')

# --- the image ------------------------------------------------------------------------
set -- $(arm-none-eabi-size -B "$elf" | awk 'NR == 2 { print $1, $2, $3 }')
text=$1 data=$2 bss=$3
sec() { arm-none-eabi-size -A "$elf" | awk -v s="$1" '$1 == s { print $2 }'; }
s_stack=$(sec .stack)
s_storage=$(sec .storage)
s_bss=$(sec .bss)
s_data=$(sec .data)
flash_img=$((text + data))
static=$((s_data + s_bss))
ram_used=$((static - pool_size + pool_hw + stack_hw))
ram_resv=$((static + s_stack))
"$PY" "$top/bench/fw_map.py" "$work/fw/provkit-an386.map" >"$work/map.json"
parts=$("$PY" -c '
import json, sys
m = json.load(open(sys.argv[1]))
for name, fl, ram in sorted(m["parts"], key=lambda p: -p[1]):
    print("| %s | %d | %d |" % (name, fl, ram))' "$work/map.json")
largest=$("$PY" -c '
import json, sys
m = json.load(open(sys.argv[1]))
import re
def name(s):   # a section of the map (.text.f) or an LTO symbol (f.constprop.0)
    s = re.sub(r"^\.(text|rodata|data|bss)\.", "", s)
    return re.sub(r"\.(lto_priv|constprop|isra|part)(\.\d+)*$|\.\d+$", "", s)
print(", ".join("%s %d" % (name(s), n) for s, n, p in m["largest"][:8]))' "$work/map.json")

k() { awk -v x="$1" 'BEGIN { printf "%.1f KB", x / 1024 }'; }
m64() { awk -v x="$1" 'BEGIN { printf "%.0f ms", x / 64000 }'; }
mi() { awk -v x="$1" 'BEGIN { printf "%.2f M", x / 1000000 }'; }
wear() { awk -v e="$1" -v s="$2" 'BEGIN { if (e == 0) print "n/a"; else printf "%.0f", s * 10000 * 100 / e }'; }
total_crypto=$((i_gen + i_csr + i_ver + i_rcp))
result=$(cat <<MD
Command: \`make bench\` ($(date -u +%Y-%m-%d), $(qemu-system-arm --version | head -n 1 | sed 's/ *(.*//'), $(arm-none-eabi-gcc --version | head -n 1 | sed 's/.*) //'), Mbed TLS $(cat "$top/build-mbedtls-m4/version" 2>/dev/null | sed 's/mbedtls-//'); image \`build/firmware/provkit-an386.elf\`, mqtt-mtls)

| the image | bytes |
|---|---|
| \`arm-none-eabi-size\`: text / data / bss | $text / $data / $bss |
| flash: code, read-only data, .data's initial values | **$flash_img** ($(k "$flash_img")) |
| RAM reserved: .data + .bss $static (Mbed TLS pool $pool_size of it) + stack with its 128-byte MPU guard $s_stack | **$ram_resv** ($(k "$ram_resv")) |
| RAM used: static without the pool's unused part + stack high-water $stack_hw + pool high-water $pool_hw | **$ram_used** ($(k "$ram_used")) |
| (not counted above: the storage sectors, flash the store owns) | $s_storage |

| part (from the link map; an LTO image: from its symbols, inlined code where it was inlined to) | flash | RAM |
|---|---|---|
$parts

Largest sections (an LTO image: symbols): $largest.

| flash written (board driver's counters) | value |
|---|---|
| first install (mqtt-mtls: keygen, bundle $bundle B, receipt) | $ins_prog B programmed, $ins_erase sectors erased |
| per rotation (mean of $ROTATIONS \`--rotate\` installs after $WARMUP unmeasured ones) | $rot_prog B programmed, $(awk -v x="$rot_erase100" 'BEGIN { printf "%.2f", x / 100 }') sectors erased |
| installs per sector pair at 10,000 erase cycles (2 x 10,000 / erases per rotation) | $(wear "$rot_erase100" 2) |
| installs the whole area ($(($s_storage / 4096)) sectors, wear spread by the log) survives | $(wear "$rot_erase100" $(($s_storage / 4096))) |

| device crypto per install (QEMU -icount, instructions) | instructions | at 64 MHz, 1 instruction/cycle (estimate) |
|---|---|---|
| key generation (keygen, P-256) | $(mi "$i_gen") | $(m64 "$i_gen") |
| CSR signature (ECDSA P-256) | $(mi "$i_csr") | $(m64 "$i_csr") |
| bundle signature check (ECDSA verify) | $(mi "$i_ver") | $(m64 "$i_ver") |
| receipt signature (ECDSA P-256) | $(mi "$i_rcp") | $(m64 "$i_rcp") |
| ECDH for the secrets (coaps-psk; its verify: $(mi "$i_verp")) | $(mi "$i_ecdh") | $(m64 "$i_ecdh") |
| mqtt-mtls install, all four above | $(mi "$total_crypto") | $(m64 "$total_crypto") |

Calibration: the firmware's 1,000,000-instruction loop took $cal ticks of the 25 MHz SysTick under -icount
(1 tick = 40 instructions).  Received bytes lost (UART ring overruns), every run: $overruns.
Wall time of \`prov install\` into one emulated device over its pty: $wall s (informative only).
MD
)
echo "$result"
doc="$top/docs/benchmarks.md"
if [ -f "$doc" ] && grep -q '<!-- bench:firmware -->' "$doc"; then
	awk -v r="$result" '
		/<!-- bench:firmware -->/ { print; print r; skip = 1; next }
		/<!-- \/bench:firmware -->/ { skip = 0 }
		!skip { print }' "$doc" >"$doc.tmp" && mv "$doc.tmp" "$doc"
fi
