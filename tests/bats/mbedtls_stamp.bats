#!/usr/bin/env bats
# scripts/mbedtls.sh's stamp: the same configuration, script, compiler and
# Debian source version build nothing; another libmbedtls-dev version (a
# security update) fetches that source and rebuilds; the Cortex-M build copies
# the host's unpacked source only when it is that version.  Offline: apt-get,
# dpkg-query and make are stand-ins in PATH that log what they are asked
# (apt-get source unpacks a two-file tree named after the version, make
# writes the libraries it is asked for).

load helper

MBT="$REPO/scripts/mbedtls.sh"

setup() {
	T="$BATS_TEST_TMPDIR"
	mkdir -p "$T/bin"
	# dpkg-query -W -f=... libmbedtls-dev: the version in $T/version
	cat > "$T/bin/dpkg-query" <<-EOF
	#!/bin/sh
	cat "$T/version"
	EOF
	# apt-get [OPTIONS] update | source mbedtls=V: logged; source unpacks mbedtls-V/
	cat > "$T/bin/apt-get" <<-EOF
	#!/bin/sh
	for a; do last=\$a; done
	echo "\$*" | grep -o ' \\(update\\|source [^ ]*\\)\$' >> "$T/apt.log"
	case \$last in
	mbedtls=*)
		v=\${last#mbedtls=}
		mkdir -p "mbedtls-\$v/library" "mbedtls-\$v/include/mbedtls" "mbedtls-\$v/3rdparty"
		echo "all:" > "mbedtls-\$v/library/Makefile"
		echo "/* \$v */" > "mbedtls-\$v/include/mbedtls/version.h"
		;;
	esac
	EOF
	# make -s -C DIR [-jN] [VAR=...] LIB...: writes each lib into DIR; logged
	cat > "$T/bin/make" <<-EOF
	#!/bin/sh
	dir=
	while [ \$# -gt 0 ]; do
		case \$1 in
		-C) dir=\$2; shift ;;
		lib*.a) echo "\$1" > "\$dir/\$1"; echo "built \$1 in \$dir" >> "$T/make.log" ;;
		esac
		shift
	done
	EOF
	chmod +x "$T/bin/"*
	export PATH="$T/bin:$PATH" MBEDTLS_MIRROR=http://mirror.invalid/debian
}

# mbt ARGS...: the script; status and output in $status/$output
mbt() {
	run sh "$MBT" "$@"
}

@test "mbedtls.sh: same version builds once; a new libmbedtls-dev version fetches its source and rebuilds" {
	echo 2.28.3-1 > "$T/version"
	mbt "$T/host"
	assert_status 0
	assert_output_has "fetching mbedtls=2.28.3-1"
	[ "$(cat "$T/host/src/debian-version")" = 2.28.3-1 ]
	[ -f "$T/host/lib/libmbedcrypto.a" ] && [ -f "$T/host/lib/libmbedtls.a" ]
	stamp1=$(cat "$T/host/stamp")
	[ "$(grep -c '^ source mbedtls=2.28.3-1$' "$T/apt.log")" = 1 ]
	# again: nothing fetched, nothing built, the stamp file untouched
	touch -d '2000-01-01' "$T/host/stamp"
	mbt "$T/host"
	assert_status 0
	[ -z "$output" ]
	[ "$(grep -c 'source' "$T/apt.log")" = 1 ]
	[ "$(stat -c %Y "$T/host/stamp")" = "$(date -d '2000-01-01' +%s)" ]
	# a security update: the new source is fetched, the libraries rebuilt, the stamp changes
	echo 2.28.3-1+deb12u1 > "$T/version"
	mbt "$T/host"
	assert_status 0
	assert_output_has "fetching mbedtls=2.28.3-1+deb12u1"
	[ "$(grep -c '^ source mbedtls=2.28.3-1+deb12u1$' "$T/apt.log")" = 1 ]
	[ "$(cat "$T/host/src/debian-version")" = 2.28.3-1+deb12u1 ]
	[ -n "$(cat "$T/host/stamp")" ] && [ "$(cat "$T/host/stamp")" != "$stamp1" ]
	[ "$(stat -c %Y "$T/host/stamp")" != "$(date -d '2000-01-01' +%s)" ]
	# its private sources list names the security suite, where such an update lives first
	grep -q ' bookworm-security main$' "$T/host/apt/sources.list"
}

@test "mbedtls.sh --target m4: copies the host's source of the same version, fetches its own otherwise" {
	echo 2.28.3-1 > "$T/version"
	mbt "$T/host"
	assert_status 0
	[ "$(grep -c source "$T/apt.log")" = 1 ]
	CC_M4=cc AR_M4=ar MBEDTLS_HOST_DIR="$T/host" mbt --target m4 "$T/m4"
	assert_status 0
	[ "$(grep -c source "$T/apt.log")" = 1 ]
	[ "$(cat "$T/m4/src/debian-version")" = 2.28.3-1 ]
	[ -f "$T/m4/lib/libmbedcrypto.a" ]
	# the host's source is now older than the installed version: the m4 build fetches
	echo 2.28.3-1+deb12u1 > "$T/version"
	CC_M4=cc AR_M4=ar MBEDTLS_HOST_DIR="$T/host" mbt --target m4 "$T/m4"
	assert_status 0
	assert_output_has "fetching mbedtls=2.28.3-1+deb12u1"
	[ "$(cat "$T/m4/src/debian-version")" = 2.28.3-1+deb12u1 ]
}

@test "mbedtls.sh: a version whose source cannot be fetched fails naming it, and keeps the old libraries" {
	echo 2.28.3-1 > "$T/version"
	mbt "$T/host"
	assert_status 0
	stamp1=$(cat "$T/host/stamp")
	# apt-get source fails for this one
	echo 9.9.9-1 > "$T/version"
	sed -i 's/^case \$last in$/[ "$last" != mbedtls=9.9.9-1 ] || { echo "E: no such version" >\&2; exit 100; }\ncase $last in/' "$T/bin/apt-get"
	mbt "$T/host"
	[ "$status" -eq 1 ]
	assert_output_has "'apt-get source mbedtls=9.9.9-1' failed"
	[ "$(cat "$T/host/stamp")" = "$stamp1" ]
	[ -f "$T/host/lib/libmbedcrypto.a" ]
}
