#!/bin/sh
# mbedtls.sh - Mbed TLS built from Debian's source package with provkit's own
# configuration (firmware-agent/mbedtls/mbedtls_config.h).
#
#   sh scripts/mbedtls.sh [DIR]                (default DIR: build-mbedtls)
#   sh scripts/mbedtls.sh --target m4 [DIR]    (default DIR: build-mbedtls-m4)
#
# Debian's libmbedtls is built without MBEDTLS_USE_PSA_CRYPTO, which the device's
# TLS adapter needs (opaque PSA keys in TLS).  This script:
#   1. fetches the source package with `apt-get source`, through a PRIVATE apt
#      configuration under DIR/apt (its own sources.list with one deb-src line for
#      bookworm main from the mirror this machine already uses, its own lists and
#      cache); the system's apt configuration is read, never written;
#      the version is the installed libmbedtls-dev's, so PSA key files written by
#      Debian's library (agent-sim) and by this build are the same format;
#   2. builds the three static libraries with MBEDTLS_CONFIG_FILE set to the
#      project's configuration into DIR/lib (headers: DIR/include).
# The unpacked source and the libraries are cached in DIR, shared by every BUILD
# (plain and ASan link the same, uninstrumented, libraries).  A second run with
# the same configuration, script, compiler and Debian source version does
# nothing; when libmbedtls-dev is upgraded (a security update), the stamp no
# longer matches and the new source package is fetched and built (the unpacked
# source records its version in DIR/src/debian-version).  Concurrent runs serialise on
# DIR/.lock.  Environment: MBEDTLS_MIRROR overrides the mirror, CC the compiler.
#
# --target m4-tls: the TLS image's (docs/tls.md, "On the device"): the same
# cross-compilation with -DPA_FW_TLS=1 (mbedtls_config_m4.h then adds
# mbedtls_config_m4_tls.h, the TLS client) and the three libraries; MBEDTLS_DEFS
# adds its measurement variants' options (-DPA_TLS_CONTENT_LEN=N,
# -DPA_TLS_RSA=1, -DPA_TLS_VARBUF=1), default DIR build-mbedtls-m4-tls.
#
# --target m4: the same source package cross-compiled for the firmware image
# (docs/firmware.md): libmbedcrypto.a only, with firmware-agent/mbedtls/
# mbedtls_config_m4.h and the flash store's PSA ITS headers (firmware-agent/its/
# psa/), by arm-none-eabi-gcc for a Cortex-M4 (Thumb-2, soft
# float, -Os, one section per function and object so the image's
# --gc-sections keeps only what it calls).  The source is copied from the host
# build's DIR (build-mbedtls/src, MBEDTLS_HOST_DIR) when that has it, else
# fetched as above.  The stamp covers the configuration, this script and the
# cross compiler's version.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=host
if [ "${1:-}" = --target ]; then
	TARGET=${2:-}
	shift 2 || true
fi
case $TARGET in
host)
	DIR=${1:-build-mbedtls}
	CONFIG="$ROOT/firmware-agent/mbedtls/mbedtls_config.h"
	CC=${CC:-cc}
	AR=ar
	LIBS="libmbedcrypto.a libmbedx509.a libmbedtls.a"
	TFLAGS="-O2 -g"
	TINC=""
	;;
m4 | m4-tls)
	CONFIG="$ROOT/firmware-agent/mbedtls/mbedtls_config_m4.h"
	CC=${CC_M4:-arm-none-eabi-gcc}
	AR=${AR_M4:-arm-none-eabi-ar}
	TFLAGS="-mcpu=cortex-m4 -mthumb -mfloat-abi=soft -Os -g -ffunction-sections -fdata-sections -fno-common"
	if [ "$TARGET" = m4 ]; then
		DIR=${1:-build-mbedtls-m4}
		LIBS="libmbedcrypto.a"
		# link-time optimisation: the image's link (-flto) then inlines and
		# drops across Mbed TLS and the agent; gcc-ar indexes LTO objects
		TFLAGS="$TFLAGS -flto"
		AR=${AR_M4:-arm-none-eabi-gcc-ar}
	else
		DIR=${1:-build-mbedtls-m4-tls}
		LIBS="libmbedcrypto.a libmbedx509.a libmbedtls.a"
		TFLAGS="$TFLAGS -DPA_FW_TLS=1 ${MBEDTLS_DEFS:-}"
	fi
	# the platform's psa/error.h and psa/internal_trusted_storage.h: the
	# flash store's (firmware-agent/its/psa/); the provisioning image's PSA
	# configuration (firmware-agent/mbedtls/psa_config_m4.h)
	TINC="-I$ROOT/firmware-agent/its -I$ROOT/firmware-agent/mbedtls"
	;;
*)
	echo "mbedtls.sh: --target: m4 or m4-tls (or none: the host)" >&2
	exit 2
	;;
esac
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

die() {
	echo "mbedtls.sh: $*" >&2
	exit 1
}

[ -f "$CONFIG" ] || die "missing $CONFIG"
[ -f "$DIR/.gitignore" ] || echo '*' >"$DIR/.gitignore"

# The Debian source version to build: the installed libmbedtls-dev's (empty if
# it is not installed: then the newest source package).
VERSION=$(dpkg-query -W -f='${Version}' libmbedtls-dev 2>/dev/null || true)

# What the libraries depend on: the configuration, this script, the compiler,
# the source package's version.
stamp_of() {
	{ cat "$CONFIG" "$ROOT/scripts/mbedtls.sh" "$ROOT"/firmware-agent/its/psa/*.h
	  [ "$TARGET" != m4 ] || cat "$ROOT/firmware-agent/mbedtls/psa_config_m4.h"; echo "$TARGET $TFLAGS"; "$CC" --version 2>/dev/null | head -n 1
	  echo "source mbedtls $VERSION"
	  [ "$TARGET" != m4-tls ] || cat "$ROOT/firmware-agent/mbedtls/mbedtls_config_m4_tls.h"; } |
		sha256sum | cut -c1-64
}

built() {
	[ -f "$DIR/stamp" ] && [ "$(cat "$DIR/stamp")" = "$(stamp_of)" ] || return 1
	for l in $LIBS; do
		[ -f "$DIR/lib/$l" ] || return 1
	done
	[ -d "$DIR/include/mbedtls" ]
}

# Fast path, without the lock.
built && exit 0

exec 9>"$DIR/.lock"
flock 9
built && exit 0   # another run finished it while we waited

# ---- 1. the source package --------------------------------------------------------

# The mirror the machine uses for bookworm main: deb822 .sources stanzas or
# one-line .list entries.
find_mirror() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk '
			function flush() {
				if (uris != "" && (" " suites " ") ~ / bookworm / && (" " comps " ") ~ / main /) {
					split(uris, u, " "); print u[1]; found = 1; exit
				}
				uris = ""; suites = ""; comps = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
			/^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
			/^Components:/ { sub(/^Components:[ \t]*/, ""); comps = $0 }
			END { if (!found) flush() }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 == "bookworm" { for (i = 4; i <= NF; i++) if ($i == "main") { print $2; exit } }'
	done
}

# an unpacked source tree under $1/src of the wanted version, or nothing
cached_src() {
	[ -z "$VERSION" ] || [ "$(cat "$1/src/debian-version" 2>/dev/null)" = "$VERSION" ] || return 0
	ls -d "$1"/src/mbedtls-*/ 2>/dev/null | head -n 1 || true
}
# The machine's mirror for bookworm-security, the same two ways.
find_security() {
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		awk 'BEGIN { RS = ""; FS = "\n" }
			/(^|\n)Suites:[^\n]*[ \t]bookworm-security([ \t\n]|$)/ && /(^|\n)Components:[^\n]*[ \t]main/ {
				for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, " "); print u[1]; exit } }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && $3 == "bookworm-security" { for (i = 4; i <= NF; i++) if ($i == "main") { print $2; exit } }'
	done
}

SRC_DIR=$(cached_src "$DIR")
HOST_SRC=$(cached_src "${MBEDTLS_HOST_DIR:-$ROOT/build-mbedtls}")
if [ "$TARGET" != host ] && { [ -z "$SRC_DIR" ] || [ ! -f "$SRC_DIR/library/Makefile" ]; } &&
	[ -n "$HOST_SRC" ] && [ -f "$HOST_SRC/library/Makefile" ]; then
	# the host build's unpacked source package: its own copy, built in place
	rm -rf "$DIR/src"
	mkdir -p "$DIR/src"
	# under the host build's lock: a host build running beside this one (make -j)
	# cleans and rebuilds in that tree, and a copy taken meanwhile is torn
	HOST_DIR=$(cd "${HOST_SRC%/}/../.." && pwd)
	# (only what the library build reads: the TLS image's variants each have
	# a copy, and the tests' data would make each 36 MB instead of 10)
	flock "$HOST_DIR/.lock" sh -c 'mkdir -p "$1" && cp -R "$2/library" "$2/include" "$2/3rdparty" "$1/" &&
		{ [ ! -f "$3" ] || cp "$3" "$1/../debian-version"; }' \
		sh "$DIR/src/$(basename "${HOST_SRC%/}")" "${HOST_SRC%/}" "$HOST_DIR/src/debian-version"
	SRC_DIR=$(ls -d "$DIR"/src/mbedtls-*/ | head -n 1)
fi
if [ -z "$SRC_DIR" ] || [ ! -f "$SRC_DIR/library/Makefile" ]; then
	MIRROR=${MBEDTLS_MIRROR:-$(find_mirror | head -n 1)}
	[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
	# a security update's source is only in bookworm-security until the next
	# point release: that suite too, from the machine's security mirror
	SECURITY=$(find_security | head -n 1)
	[ -n "$SECURITY" ] || SECURITY=http://deb.debian.org/debian-security
	PKG=mbedtls${VERSION:+=$VERSION}
	APT="$DIR/apt"
	rm -rf "$APT" "$DIR/src"
	mkdir -p "$APT/sources.list.d" "$APT/lists/partial" "$APT/cache/archives/partial" "$DIR/src"
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	signed=""
	[ -f "$keyring" ] && signed=" [signed-by=$keyring]"
	{ echo "deb-src$signed $MIRROR bookworm main"
	  echo "deb-src$signed $SECURITY bookworm-security main"; } >"$APT/sources.list"
	set -- -o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=$APT/sources.list.d" \
		-o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache" \
		-o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "Debug::NoLocking=1" \
		-o "APT::Sandbox::User=root"
	echo "mbedtls.sh: fetching $PKG from $MIRROR (deb-src bookworm main, private apt lists in $APT)"
	if ! apt-get -qq "$@" update >"$APT/update.log" 2>&1 ||
		grep -q '^\(E:\|Err:\|W: Failed to fetch\|W: Some index files failed\)' "$APT/update.log"; then
		cat "$APT/update.log" >&2
		die "cannot fetch Debian's mbedtls source: 'apt-get update' of deb-src $MIRROR bookworm main failed (network? set MBEDTLS_MIRROR)"
	fi
	if ! (cd "$DIR/src" && apt-get -qq "$@" source "$PKG") >"$APT/source.log" 2>&1; then
		cat "$APT/source.log" >&2
		die "cannot fetch Debian's mbedtls source: 'apt-get source $PKG' failed"
	fi
	SRC_DIR=$(ls -d "$DIR"/src/mbedtls-*/ 2>/dev/null | head -n 1 || true)
	[ -n "$SRC_DIR" ] && [ -f "$SRC_DIR/library/Makefile" ] ||
		die "apt-get source $PKG did not unpack an Mbed TLS tree under $DIR/src"
	echo "$VERSION" >"$DIR/src/debian-version"
fi
SRC_DIR=${SRC_DIR%/}

# ---- 2. the libraries -------------------------------------------------------------

echo "mbedtls.sh: building $(basename "$SRC_DIR") ($TARGET) with $CONFIG"
command -v "$CC" >/dev/null 2>&1 || die "no compiler '$CC' (scripts/deps.sh installs it)"
start=$(date +%s)
rm -rf "$DIR/lib" "$DIR/include" "$DIR/stamp"
make -s -C "$SRC_DIR/library" clean >/dev/null 2>&1 || true
jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -le 2 ] || jobs=2
# shellcheck disable=SC2086
if ! make -s -C "$SRC_DIR/library" -j"$jobs" CC="$CC" AR="$AR" \
	CFLAGS="$TFLAGS $TINC -DMBEDTLS_CONFIG_FILE='\"$CONFIG\"'" \
	$LIBS >"$DIR/build.log" 2>&1; then
	tail -n 40 "$DIR/build.log" >&2
	die "building Mbed TLS failed (log: $DIR/build.log)"
fi
mkdir -p "$DIR/lib"
for l in $LIBS; do
	cp "$SRC_DIR/library/$l" "$DIR/lib/"
done
cp -R "$SRC_DIR/include" "$DIR/include"
cp "$CONFIG" "$DIR/include/provkit_$(basename "$CONFIG")"
[ "$TARGET" != m4-tls ] || cp "$ROOT/firmware-agent/mbedtls/mbedtls_config_m4_tls.h" "$DIR/include/provkit_mbedtls_config_m4_tls.h"
echo "$(basename "$SRC_DIR")" >"$DIR/version"
stamp_of >"$DIR/stamp"
echo "mbedtls.sh: built in $(( $(date +%s) - start )) s: $(echo "$LIBS" | sed "s|[^ ]*|$DIR/lib/&|g")"
