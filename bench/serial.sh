#!/bin/sh
# serial.sh BUILD - provisioning over a serial line (issue 5), run by bench/run.sh.
#
# agent-sim on a pty behind tests/tools/lineshim.py throttled to 115200 baud
# (11,520 bytes/s each way, 8N1), template mqtt-mtls (key made on the device,
# CSR, certificate with its chain):
#   - one device, clean line: wall time of `prov install` (median of 3 devices),
#     useful bytes (the bundle) over bytes on the wire (both directions, framing,
#     SMP headers, CBOR, info/keygen/commit exchanges included);
#   - one device on a damaged line (1/1000 bytes dropped, 1/1000 flipped, a log
#     line every 100 ms): time, retries;
#   - eight devices on eight shims, one `prov install` command: wall time and
#     devices per second.
# Prints the table and writes it into docs/benchmarks.md between the
# bench:serial markers.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build="$top/$build" ;; esac
prov="$build/prov"
sim="$build/agent-sim"
shim="$top/tests/tools/lineshim.py"
tpl="$top/templates/mqtt-mtls.json"
work=$(mktemp -d)
# start() runs in a command substitution (a subshell): the shims' PIDs go to a
# file, not a variable.
cleanup() {
	if [ -f "$work/pids" ]; then
		while read -r p; do kill "$p" 2>/dev/null || true; done < "$work/pids"
		sleep 0.3
	fi
	rm -rf "$work"
}
trap cleanup EXIT
export PROV_HOME="$work/factory"
"$prov" init >/dev/null
"$prov" signer export > "$work/signer.pem"

# start NAME ARGS...: a device NAME behind a shim with ARGS; prints the port.
start() {
	name=$1
	shift
	"$sim" --storage "$work/$name" --device-id "$name" --signer "$work/signer.pem" --init >/dev/null
	/usr/bin/python3 "$shim" "$@" -- "$sim" --storage "$work/$name" --pty > "$work/$name.port" 2>/dev/null &
	echo $! >> "$work/pids"
	for _ in $(seq 100); do
		[ -s "$work/$name.port" ] && break
		sleep 0.05
	done
	head -n 1 "$work/$name.port"
}
field() { /usr/bin/python3 -c "import json,sys; j=json.loads(sys.stdin.readline()); print(j['$1'])"; }
median() { echo "$@" | tr ' ' '\n' | sort -n | sed -n 2p; }

times=""
for i in 1 2 3; do
	port=$(start "one-$i" --baud 115200)
	"$prov" install --port "$port" --template "$tpl" --json > "$work/one-$i.json"
	[ "$(field result < "$work/one-$i.json")" = installed ] || { echo "bench/serial.sh: install failed" >&2; exit 1; }
	times="$times $(field seconds < "$work/one-$i.json")"
done
t1=$(median $times)
bundle=$(field bundle_bytes < "$work/one-1.json")
wout=$(field wire_bytes_out < "$work/one-1.json")
win=$(field wire_bytes_in < "$work/one-1.json")

port=$(start dmg --baud 115200 --drop 0.001 --flip 0.001 --log-every 0.1 --seed 7)
"$prov" install --port "$port" --template "$tpl" --timeout 250 --json > "$work/dmg.json"
[ "$(field result < "$work/dmg.json")" = installed ] || { echo "bench/serial.sh: damaged install failed" >&2; exit 1; }
td=$(field seconds < "$work/dmg.json")
rd=$(field retries < "$work/dmg.json")

args=""
for i in 1 2 3 4 5 6 7 8; do
	args="$args --port $(start "many-$i" --baud 115200)"
done
a=$(date +%s.%N)
# shellcheck disable=SC2086
"$prov" install $args --template "$tpl" --json > "$work/many.json"
b=$(date +%s.%N)
ok8=$(grep -c '"result":"installed"' "$work/many.json")
[ "$ok8" = 8 ] || { echo "bench/serial.sh: $ok8 of 8 installed" >&2; exit 1; }

f() { awk -v x="$1" 'BEGIN { printf "%.2f", x }'; }
result=$(cat <<MD
Command: \`make bench\` ($(date -u +%Y-%m-%d), $(nproc) cores; agent-sim behind tests/tools/lineshim.py at 115200 baud, template mqtt-mtls)

| figure | value |
|---|---|
| one device, clean line (median of 3) | $(f "$t1") s |
| bundle | $bundle B |
| bytes on the wire, host to device / device to host | $wout B / $win B |
| useful bytes / bytes on the wire (both ways) | $(awk -v a="$bundle" -v b="$wout" -v c="$win" 'BEGIN { printf "%.0f%%", 100 * a / (b + c) }') |
| useful bytes / bytes host to device | $(awk -v a="$bundle" -v b="$wout" 'BEGIN { printf "%.0f%%", 100 * a / b }') |
| one device, damaged line (1/1000 dropped, 1/1000 flipped, log every 100 ms) | $(f "$td") s, $rd retries |
| eight devices, eight ports, one command | $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f s, %.1f devices/s", b - a, 8 / (b - a) }') |

The line at 115200 baud carries 11,520 bytes/s each way; base64 costs 4/3 and
the line framing 3 bytes per 127, so a bundle alone needs at least
$(awk -v a="$bundle" 'BEGIN { printf "%.0f ms", 1000 * a * 4 / 3 * 127 / 124 / 11520 }') on the wire.
MD
)
echo "$result"
doc="$top/docs/benchmarks.md"
if [ -f "$doc" ] && grep -q '<!-- bench:serial -->' "$doc"; then
	awk -v r="$result" '
		/<!-- bench:serial -->/ { print; print r; skip = 1; next }
		/<!-- \/bench:serial -->/ { skip = 0 }
		!skip { print }' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
fi
