#!/bin/sh
# deps.sh - install the Debian packages provkit builds and tests with, if missing.
# Non-interactive; does nothing when everything is present (so it is cheap to run
# before every demo and check).
set -eu
pkgs="build-essential pkg-config libssl-dev openssl libcbor-dev libjansson-dev nodejs
libsqlite3-dev sqlite3 libpq-dev postgresql bats python3 python3-cbor2 python3-cryptography clang libclang-rt-14-dev
python3-jsonschema libgnutls28-dev gnutls-bin xxd jq libmbedtls-dev ca-certificates gcc-arm-none-eabi libnewlib-arm-none-eabi
qemu-system-arm zlib1g-dev strace
libp11-dev libp11-kit-dev softhsm2 opensc-pkcs11"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages and not root; run as root or install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing
