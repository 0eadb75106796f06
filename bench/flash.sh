#!/bin/sh
# flash.sh BUILD - the flash store's figures (issue 11), run by bench/run.sh.
#
# BUILD/tests/test_agent_flash --bench: the agent on the NOR flash model (4
# sectors of 4 KB, 8-byte program unit) with real mqtt-mtls bundles made by
# prov: bytes programmed and sectors erased by the first start, a first install
# and a rotation; then 60 rotations in a row (a reboot before each) for the
# steady state and the erases each sector took, hence how many rotations the
# most-erased sector allows at 10,000 erase cycles; the same on a sector pair
# (2 x 8 KB).  And the store's size on a Cortex-M4 (firmware-agent/size/size.sh
# on its/, like make size-its).  Prints the block and writes it into
# docs/benchmarks.md between the bench:flash markers.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build="$top/$build" ;; esac
t="$build/tests/test_agent_flash"
[ -x "$t" ] || { echo "bench/flash.sh: no $t (run make first)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$top" && "$t" --bench) > "$work/out" 2>"$work/err" ||
	{ cat "$work/err" >&2; echo "bench/flash.sh: $t --bench failed" >&2; exit 1; }
# field N of the line named $1
f() { awk -v k="$1" -v n="$2" '$1 == k { print $(n + 1) }' "$work/out"; }
[ -n "$(f flash.pair_endurance 1)" ] || { cat "$work/out" >&2; echo "bench/flash.sh: figures missing" >&2; exit 1; }

if its=$(SIZE_DIRS=its SIZE_NAME=its SIZE_HEADERS="$top/firmware-agent/its/psa/internal_trusted_storage.h" \
	sh "$top/firmware-agent/size/size.sh" "$work/its-size" 2>"$work/size.err"); then
	size_note="worst path: $(sed -n 's/^worst path: //p' "$work/its-size/report.txt")"
else
	its="not measured: $(tail -n 1 "$work/size.err")"
	size_note=""
fi

result=$(cat <<MD
Command: \`make bench\` ($(date -u +%Y-%m-%d); \`build/tests/test_agent_flash --bench\`, the agent on the
NOR flash model, $(f flash.geometry 1 | sed 's|x| sectors of |; s|/| B, program unit |') B; mqtt-mtls bundles of $(f flash.bundle_bytes 1) B)

| operation | bytes programmed | programs | sectors erased |
|---|---|---|---|
| first start (identity key made) | $(f flash.first_start 1) | $(f flash.first_start 2) | $(f flash.first_start 3) |
| first install (mqtt-mtls) | $(f flash.install 1) | $(f flash.install 2) | $(f flash.install 3) |
| rotation (mqtt-mtls over mqtt-mtls) | $(f flash.rotation 1) | $(f flash.rotation 2) | $(f flash.rotation 3) |
| steady state, per rotation ($(f flash.steady 1) of $(f flash.steady 2) rotations, a reboot before each) | $(f flash.steady 3) | | $(f flash.steady 4) |
| a sector pair (2 x 8 KB), per rotation ($(f flash.pair 1) of $(f flash.pair 2)) | $(f flash.pair 3) | | $(f flash.pair 4) |

After the first install the store holds $(f flash.records 1) records of $(f flash.records 2) B (the largest $(f flash.records 3) B,
the broker trust store); during a rotation both sets are stored at once.

Erases per sector over the $(f flash.steady 2) rotations: $(awk '$1 == "flash.steady_sectors" { $1 = ""; print }' "$work/out" | sed 's/^ //; s/ /, /g')
(the sector pair: $(f flash.pair 5) and $(f flash.pair 6)).  At 10,000 erase cycles the most-erased sector
allows **$(f flash.endurance 1) rotations** on 4 x 4 KB and **$(f flash.pair_endurance 1) on a sector pair** (2 x 8 KB).

Store size on a Cortex-M4 (\`make -s -C firmware-agent size-its\`: its/ with the PSA
ITS functions and the pa_port adapter, -Os; bss is the RAM index of 64 uids and
the sector table; stack excludes the flash driver):

\`\`\`
$its
\`\`\`
$size_note
MD
)
echo "$result"
doc="$top/docs/benchmarks.md"
if [ -f "$doc" ] && grep -q '<!-- bench:flash -->' "$doc"; then
	awk -v r="$result" '
		/<!-- bench:flash -->/ { print; print r; skip = 1; next }
		/<!-- \/bench:flash -->/ { skip = 0 }
		!skip { print }' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
fi
