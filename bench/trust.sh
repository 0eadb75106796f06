#!/bin/sh
# trust.sh BUILD - trust store sizes (issue 3), run by bench/run.sh.
#
# On Debian's /etc/ssl/certs/ca-certificates.crt: every root of the bundle and
# the 12 roots of a typical IoT device, side by side as PEM text, DER
# certificates, the ESP-IDF v5.4 certificate bundle (computed here, in this run,
# with the layout of its gen_crt_bundle.py: a table of n little-endian uint32
# offsets, then per certificate, sorted by subject DER, a little-endian uint16
# name length and uint16 key length, the subject Name DER and the
# SubjectPublicKeyInfo DER) and prov's compact store.  "All roots" are taken at
# --at 2023-03-01, the bundle's release, before any of them expired, so the
# figures cover the same certificates; the store holds one anchor fewer because
# one root appears twice with the same name and key.  Prints the table and
# writes it into docs/benchmarks.md between the bench:trust markers.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build="$top/$build" ;; esac
prov="$build/prov"
bundle=${TRUST_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -f "$bundle" ] || { echo "bench/trust.sh: no $bundle" >&2; exit 1; }

"$prov" trust build --from "$bundle" --select "Amazon Root CA 1" "Amazon Root CA 2" "Amazon Root CA 3" \
	"Amazon Root CA 4" "Starfield Services Root Certificate Authority - G2" "ISRG Root X1" "ISRG Root X2" \
	"GTS Root R1" "GTS Root R2" "GTS Root R3" "GTS Root R4" "GlobalSign Root CA" \
	--format pem --out "$work/12.pem" >/dev/null
for f in store c; do
	"$prov" trust build --from "$work/12.pem" --all --format $f --out "$work/12.$f" >/dev/null
	"$prov" trust build --from "$bundle" --all --at 2023-03-01 --format $f --out "$work/all.$f" >/dev/null
done
/usr/bin/python3 - "$bundle" "$work/12.pem" > "$work/sizes" <<'PY'
import struct, sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization

END = b"-----END CERTIFICATE-----"

def certs(path):
    data = open(path, "rb").read()
    return [x509.load_pem_x509_certificate(b[b.index(b"-----BEGIN CERTIFICATE-----"):] + END + b"\n")
            for b in data.split(END) if b"-----BEGIN CERTIFICATE-----" in b]

def esp_idf_v54(cs):
    """ESP-IDF v5.4 gen_crt_bundle.py layout, written from its description."""
    cs = sorted(cs, key=lambda c: c.subject.public_bytes())
    body, offsets = b"", []
    for c in cs:
        name = c.subject.public_bytes()
        spki = c.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
        offsets.append(4 * len(cs) + len(body))
        body += struct.pack("<HH", len(name), len(spki)) + name + spki
    return struct.pack("<%dL" % len(cs), *offsets) + body

for path in sys.argv[1:]:
    cs = certs(path)
    pem = sum(len(c.public_bytes(serialization.Encoding.PEM)) for c in cs)
    der = sum(len(c.public_bytes(serialization.Encoding.DER)) for c in cs)
    print(len(cs), pem, der, len(esp_idf_v54(cs)))
PY
set -- $(sed -n 1p "$work/sizes"); n_all=$1 pem_all=$2 der_all=$3 esp_all=$4
set -- $(sed -n 2p "$work/sizes"); n_12=$1 pem_12=$2 der_12=$3 esp_12=$4
st_all=$(wc -c < "$work/all.store"); st_12=$(wc -c < "$work/12.store")
c_all=$(wc -c < "$work/all.c"); c_12=$(wc -c < "$work/12.c")
anchors_all=$("$prov" trust inspect "$work/all.store" --json | sed -n 's/^  "count": \([0-9]*\),*/\1/p')
ok() { [ "$1" -le "$2" ] && echo "met" || echo "**NOT met**"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
result=$(cat <<MD
Command: \`make bench\` ($(date -u +%Y-%m-%d), $(basename "$bundle") of ca-certificates $(dpkg-query -W -f='${Version}' ca-certificates 2>/dev/null || echo '?'))

| format | all roots ($n_all certificates) | 12 IoT roots* |
|---|---|---|
| PEM text (certificates only) | $pem_all B | $pem_12 B |
| DER certificates | $der_all B | $der_12 B |
| ESP-IDF v5.4 certificate bundle (computed in this run) | $esp_all B | $esp_12 B |
| **prov compact store** | **$st_all B** ($anchors_all anchors) | **$st_12 B** |
| prov store vs. ESP-IDF | $(pct "$st_all" "$esp_all") | $(pct "$st_12" "$esp_12") |
| (the same store as a C header, source text) | $c_all B | $c_12 B |

Targets: 12 roots <= 3,300 B: $(ok "$st_12" 3300); all roots <= 48,000 B: $(ok "$st_all" 48000).

*Amazon Root CA 1-4, Starfield Services Root Certificate Authority - G2, ISRG
Root X1 and X2, GTS Root R1-R4, GlobalSign Root CA.  All roots at --at
2023-03-01; the store has one anchor fewer than certificates because one root
appears twice with the same name and key.
MD
)
echo "$result"
doc="$top/docs/benchmarks.md"
if [ -f "$doc" ] && grep -q '<!-- bench:trust -->' "$doc"; then
	awk -v r="$result" '
		/<!-- bench:trust -->/ { print; print r; skip = 1; next }
		/<!-- \/bench:trust -->/ { skip = 0 }
		!skip { print }' "$doc" > "$doc.tmp" && mv "$doc.tmp" "$doc"
fi
