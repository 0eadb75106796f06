# helper.bash - shared setup for the Bats suites.
#
# PROV_BUILD (set by tests/run.sh) points at the build directory; the suites use
# $PROV (the binary), $T (a fresh directory per test) and $REPO (the checkout).
# Independent readers: openssl, sqlite3, and Debian's python3 ($PY) with cbor2
# and cryptography.

REPO="$(cd "$BATS_TEST_DIRNAME/../.." && pwd)"
PROV_BUILD="${PROV_BUILD:-$REPO/build}"
case $PROV_BUILD in /*) ;; *) PROV_BUILD="$REPO/$PROV_BUILD" ;; esac
PROV="$PROV_BUILD/prov"
PY=/usr/bin/python3
TPL="$REPO/templates"

setup() {
	T="$BATS_TEST_TMPDIR"
	export PROV_HOME="$T/factory"
	unset PROV_PASSPHRASE PROV_NOW
}

# A fresh factory in $PROV_HOME.
make_factory() {
	"$PROV" init "$@" >/dev/null
}

# A device key pair: $1.key (private, P-256 unless $2), $1.pub.pem, $1.csr.
make_device_key() {
	local name=$1 curve=${2:-P-256}
	if [ "$curve" = ed25519 ]; then
		openssl genpkey -algorithm ed25519 -out "$T/$name.key" 2>/dev/null
	else
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:"$curve" -out "$T/$name.key" 2>/dev/null
	fi
	openssl pkey -in "$T/$name.key" -pubout -out "$T/$name.pub.pem"
	openssl req -new -key "$T/$name.key" -subj "/CN=$name" -out "$T/$name.csr" 2>/dev/null
}

# sqlite3 query against the factory database.
db() {
	sqlite3 "$PROV_HOME/prov.db" "$@"
}

# Assert exit status and that stderr/stdout ($output) contains a string.
assert_status() {
	if [ "$status" -ne "$1" ]; then
		echo "expected status $1, got $status; output:" >&2
		echo "$output" >&2
		return 1
	fi
}

assert_output_has() {
	case "$output" in
	*"$1"*) return 0 ;;
	esac
	echo "expected output to contain: $1" >&2
	echo "got: $output" >&2
	return 1
}

# No temporary or partial file left in a directory.
assert_no_tmp_files() {
	local left
	left=$(find "$1" -name '*.tmp.*' 2>/dev/null)
	if [ -n "$left" ]; then
		echo "temporary files left: $left" >&2
		return 1
	fi
}

# For the TLS suites: a free port on 127.0.0.1 ($1: tcp or udp).
free_port() {
	"$PY" -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"
}

# wait_for LOG PATTERN: poll until a server's log shows it (it listens, say).
wait_for() {
	local i
	for i in $(seq 1 250); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.02
	done
	cat "$1" >&2
	return 1
}
