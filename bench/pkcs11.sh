#!/bin/sh
# pkcs11.sh BUILD - batch minting with the CA and bundle-signer keys in a
# PKCS#11 token (SoftHSM 2, through libp11) against the same with key files,
# in the same invocation (issue 15).
#
# Each device as in bench/run.sh (host-made P-256 key, certificate, PSK, signed
# bundle with the secrets encrypted to a device key, all recorded): two
# signatures per device go to the token (the certificate by the CA, the bundle
# by the signer).  BENCH_P11_N devices (default 1000) per run; the two setups
# alternate, 3 runs each, pinned to one core; medians reported.  Each run also
# counts the PKCS#11 calls of one short mint through OpenSC's pkcs11-spy.
# Results are printed and written into docs/benchmarks.md between the
# bench:pkcs11 markers.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
prov="$top/$build/prov"
n=${BENCH_P11_N:-1000}
softhsm=/usr/lib/softhsm/libsofthsm2.so
spy=/usr/lib/x86_64-linux-gnu/pkcs11/pkcs11-spy.so
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pin="taskset -c 0"
command -v taskset >/dev/null 2>&1 || pin=""
[ -e "$softhsm" ] || { echo "bench: pkcs11: softhsm2 not installed (scripts/deps.sh)" >&2; exit 1; }

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }
median() { echo "$@" | tr ' ' '\n' | sort -n | sed -n 2p; }

mkdir -p "$work/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$work/tokens" >"$work/softhsm2.conf"
export SOFTHSM2_CONF="$work/softhsm2.conf" PROV_PKCS11_MODULE="$softhsm" PROV_PKCS11_PIN=bench-pin
softhsm2-util --init-token --free --label bench --pin bench-pin --so-pin bench-so-pin >/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/device.key" 2>/dev/null
openssl pkey -in "$work/device.key" -pubout -out "$work/device.pub.pem"

one() { # $1 file|token, $2 run: prints the rate
	home="$work/$1-$2"
	if [ "$1" = token ]; then
		"$prov" init --home "$home" --pkcs11-generate --ca-key "pkcs11:token=bench;object=ca-$2" \
			--signer-key "pkcs11:token=bench;object=signer-$2" >/dev/null
	else
		"$prov" init --home "$home" >/dev/null
	fi
	t0=$(now)
	$pin "$prov" mint --home "$home" --template "$top/bench/mint-bench.json" --count "$n" \
		--id-format 'dev-%06d' --chunk 1000 --recipient-key "$work/device.pub.pem" --bundles >/dev/null
	t1=$(now)
	got=$(sqlite3 "$home/prov.db" "SELECT count(*) FROM bundles WHERE length(data) > 0")
	[ "$got" = "$n" ] || { echo "bench: pkcs11: expected $n bundles, got $got" >&2; exit 1; }
	rate "$n" "$t0" "$t1"
}

load=$(cut -d' ' -f1 /proc/loadavg)
file_runs="" token_runs=""
for r in 1 2 3; do
	file_runs="$file_runs $(one file "$r")"
	token_runs="$token_runs $(one token "$r")"
done
file_rate=$(median $file_runs)
token_rate=$(median $token_runs)
share=$(awk -v a="$token_rate" -v b="$file_rate" 'BEGIN { printf "%.0f", 100 * a / b }')
per_dev=$(awk -v a="$token_rate" -v b="$file_rate" 'BEGIN { printf "%.0f", 1e6 / a - 1e6 / b }')

# Instructions per device (valgrind --tool=callgrind, not moved by the machine's
# load): a mint of 50 and of 150 devices in fresh homes of each kind, the
# difference over 100 devices (start-up, init of the token context and login
# cancel out).  SoftHSM runs in the process, so its instructions count too.
instr=""
if command -v valgrind >/dev/null 2>&1; then
	ir() { # $1 file|token, $2 count: total instructions of one mint
		home="$work/vg-$1-$2"
		if [ "$1" = token ]; then
			"$prov" init --home "$home" --pkcs11-generate --ca-key "pkcs11:token=bench;object=vca-$2" \
				--signer-key "pkcs11:token=bench;object=vsigner-$2" >/dev/null
		else
			"$prov" init --home "$home" >/dev/null
		fi
		valgrind --tool=callgrind --callgrind-out-file=/dev/null "$prov" mint --home "$home" \
			--template "$top/bench/mint-bench.json" --count "$2" --id-format 'dev-%06d' \
			--recipient-key "$work/device.pub.pem" --bundles 2>&1 >/dev/null |
			sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
	}
	per() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 100 / 1e6 }'; }
	f_ir=$(per "$(ir file 50)" "$(ir file 150)")
	t_ir=$(per "$(ir token 50)" "$(ir token 150)")
	instr="Instructions per device (callgrind, the difference of 150 and 50 devices): files $f_ir M,
token $t_ir M ($(awk -v a="$t_ir" -v b="$f_ir" 'BEGIN { printf "+%.2f M, %.0f%%", a - b, 100 * a / b }') of files)."
fi

# The PKCS#11 calls of a 10-device mint through the spy: one login, and the
# signing calls per device.
calls=""
if [ -e "$spy" ]; then
	PKCS11SPY="$softhsm" PKCS11SPY_OUTPUT="$work/spy.log" \
		"$prov" mint --home "$work/token-1" --pkcs11-module "$spy" --template "$top/bench/mint-bench.json" \
		--count 10 --id-format 'spy-%d' --recipient-key "$work/device.pub.pem" --bundles >/dev/null
	count() { grep -cE "^[0-9]+: $1\$" "$work/spy.log" || true; }
	calls="PKCS#11 calls of a 10-device \`prov mint --bundles\` (counted by OpenSC's pkcs11-spy):
$(count C_Login) C_Login, $(count C_SignInit) C_SignInit and $(count C_Sign) C_Sign (two per device),
$(count C_FindObjectsInit) object searches, $(count C_GetAttributeValue) attribute reads (opening the keys, once)."
fi

result=$(cat <<MD
Command: \`make bench\` ($(date -u +%Y-%m-%d), softhsm2 $(dpkg-query -W -f='${Version}' softhsm2 2>/dev/null || echo '?'), libp11 $(dpkg-query -W -f='${Version}' libp11-3 2>/dev/null || echo '?'), pinned to one core with taskset; load average $load on $(nproc) cores at the start: the ratio, from one run with the setups alternating, is the figure to read)

| keys | devices | devices/s (median of 3) | vs. files |
|---|---|---|---|
| CA and signer in key files | $n | $file_rate (runs:$file_runs) | 100% |
| CA and signer in SoftHSM 2 (PKCS#11, libp11) | $n | $token_rate (runs:$token_runs) | **$share%** |

The token costs about $per_dev µs per device (two signatures through PKCS#11).
$instr
$calls
MD
)
echo "$result"
doc="$top/docs/benchmarks.md"
if [ -f "$doc" ] && grep -q '<!-- bench:pkcs11 -->' "$doc"; then
	awk -v r="$result" '
		/<!-- bench:pkcs11 -->/ { print; print r; skip = 1; next }
		/<!-- \/bench:pkcs11 -->/ { skip = 0 }
		!skip { print }' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
fi
