#!/bin/sh
# layers.sh - libprov's folders are layers: a file may include the headers of its
# own folder and of the folders below it, never of one above (no module cycles;
# README "Layout").  Prints every include that breaks the order and exits 1 if any.
#
#   sh scripts/layers.sh
#
# The order, bottom up, and the public headers (libprov/include/prov/) each folder
# owns.  A header's own includes obey the same order; tools/ sits above every folder.
# Besides the order: statements and rows stay in factory/ (its db_rows.h).
set -eu
cd "$(dirname "$0")/.."

LAYERS='
base     err escape util
crypto   algs keys x509 secret p11
codec    cbor cose jsonschema jsregex
factory  db home records vault
trust    trust
template template
bundle   bundle receipt
issue    mint lwm2m thread issue revoke
serial   smp install
'

owner_rank() { # header name -> "rank folder", or nothing
	echo "$LAYERS" | awk -v h="$1" 'NF { for (i = 2; i <= NF; i++) if ($i == h) { print NR, $1; exit } }'
}
folder_rank() {
	echo "$LAYERS" | awk -v f="$1" 'NF && $1 == f { print NR; exit }'
}

bad=0
check() { # file rank
	f=$1 r=$2
	for h in $(sed -n 's/^#include "prov\/\([a-z_0-9]*\)\.h".*/\1/p' "$f"); do
		o=$(owner_rank "$h")
		if [ -z "$o" ]; then
			echo "layers: $f: prov/$h.h belongs to no folder (add it to scripts/layers.sh)"
			bad=1
		elif [ "${o% *}" -gt "$r" ]; then
			echo "layers: $f includes prov/$h.h of ${o#* }/, a layer above"
			bad=1
		fi
	done
}

for d in libprov/src/*/; do
	folder=$(basename "$d")
	r=$(folder_rank "$folder")
	if [ -z "$r" ]; then
		echo "layers: libprov/src/$folder/ is not a layer (add it to scripts/layers.sh)"
		bad=1
		continue
	fi
	for f in "$d"*.c "$d"*.h; do
		[ -f "$f" ] && check "$f" "$r"
	done
done
for f in libprov/include/prov/*.h; do
	o=$(owner_rank "$(basename "$f" .h)")
	if [ -z "$o" ]; then
		echo "layers: $f belongs to no folder (add it to scripts/layers.sh)"
		bad=1
	else
		check "$f" "${o% *}"
	fi
done
for f in libprov/src/*.c; do
	[ -f "$f" ] && { echo "layers: $f: every source lives in a layer's folder"; bad=1; }
done
# The host reads the device's answers with the agent's own headers, and only
# these (C99, no other dependency); the device agent never includes libprov.
for f in $(grep -rl '#include "pa/' libprov 2>/dev/null); do
	for h in $(sed -n 's/^#include "pa\/\([a-z_0-9]*\.h\)".*/\1/p' "$f"); do
		case $h in pa_status.h | pa_console.h) ;;
		*) echo "layers: $f includes pa/$h: libprov may use pa/pa_status.h and pa/pa_console.h only"; bad=1 ;;
		esac
	done
done
for f in $(grep -rl '#include "prov/' firmware-agent 2>/dev/null | grep -v '^firmware-agent/tests/'); do
	echo "layers: $f includes libprov: the agent depends on nothing of the host"
	bad=1
done
# Statements and rows are factory/'s alone (libprov/src/factory/db_rows.h, not
# installed): the records layer asks for rows and answers every other caller
# with what it means (prov/records.h).  Outside factory/, only its unit test
# (tests/unit/test_db.c) includes that header or calls the row API.
ROWS='(^|[^A-Za-z0-9_])(prov_db_(exec|prepare|stmt_count|bind_[a-z]+|step|done|reset|col_[a-z]+)[[:space:]]*\(|prov_db_stmt([^A-Za-z0-9_]|$))'
for f in $(grep -rlE --include='*.c' --include='*.h' -e "$ROWS" -e '^[[:space:]]*#[[:space:]]*include[[:space:]]*".*db_rows\.h"' \
		libprov tools tests fuzz bench 2>/dev/null); do
	case $f in libprov/src/factory/* | tests/unit/test_db.c) continue ;; esac
	if grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*".*db_rows\.h"' "$f"; then
		echo "layers: $f includes factory/db_rows.h: statements and rows are factory/'s alone (ask prov/records.h)"
	fi
	for n in $(grep -oE "$ROWS" "$f" | sed 's/^[^p]*//; s/[^A-Za-z0-9_].*//' | sort -u); do
		echo "layers: $f uses $n: statements and rows are factory/'s alone (ask prov/records.h)"
	done
	bad=1
done
[ "$bad" = 0 ] && echo "layers: $(ls -d libprov/src/*/ | wc -l) folders in order, no include upward"
exit "$bad"
