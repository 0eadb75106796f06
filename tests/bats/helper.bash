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

# PROV_TEST_DB=DIR (a cluster from tests/tools/pg-cluster.sh, as pg.bats runs
# the suites): every test gets a fresh PostgreSQL database as PROV_DB, which
# `prov init` uses, and db() reads it with psql (see pg_compat).
setup() {
	T="$BATS_TEST_TMPDIR"
	export PROV_HOME="$T/factory"
	unset PROV_PASSPHRASE PROV_NOW
	if [ -n "${PROV_TEST_DB:-}" ]; then
		pg_fresh_db
	else
		unset PROV_DB
	fi
}

pg_fresh_db() {
	PROV_DB=$(sh "$REPO/tests/tools/pg-cluster.sh" createdb "$PROV_TEST_DB" "t$(date +%s%N)$$")
	export PROV_DB
	pg_compat
}

# The suites' sqlite3 reads, on PostgreSQL: hex() of a blob as SQLite prints
# it, group_concat, ifnull, json_extract and zeroblob.  (Helpers of the test database, not the factory's.)
pg_compat() {
	psql "$PROV_DB" -Xq -v ON_ERROR_STOP=1 >/dev/null <<-'SQL'
	CREATE FUNCTION hex(bytea) RETURNS text IMMUTABLE LANGUAGE sql AS $$SELECT upper(encode($1, 'hex'))$$;
	CREATE FUNCTION hex(text) RETURNS text IMMUTABLE LANGUAGE sql AS $$SELECT upper(encode(convert_to($1, 'UTF8'), 'hex'))$$;
	CREATE FUNCTION ifnull(anyelement, anyelement) RETURNS anyelement IMMUTABLE LANGUAGE sql AS $$SELECT coalesce($1, $2)$$;
	CREATE FUNCTION gc_step(text, anyelement, text) RETURNS text IMMUTABLE LANGUAGE sql AS
	  $$SELECT CASE WHEN $2 IS NULL THEN $1 WHEN $1 IS NULL THEN CAST($2 AS text) ELSE $1 || $3 || CAST($2 AS text) END$$;
	CREATE FUNCTION gc_step1(text, anyelement) RETURNS text IMMUTABLE LANGUAGE sql AS $$SELECT gc_step($1, $2, ',')$$;
	CREATE AGGREGATE group_concat(anyelement, text) (SFUNC = gc_step, STYPE = text);
	CREATE AGGREGATE group_concat(anyelement) (SFUNC = gc_step1, STYPE = text);
	CREATE FUNCTION zeroblob(integer) RETURNS bytea IMMUTABLE LANGUAGE sql AS $$SELECT decode(repeat('00', $1), 'hex')$$;
	CREATE FUNCTION json_extract(text, text) RETURNS text IMMUTABLE LANGUAGE sql AS $$
	  SELECT CASE jsonb_typeof(v) WHEN 'boolean' THEN CASE WHEN v = 'true' THEN '1' ELSE '0' END ELSE v #>> '{}' END
	  FROM (SELECT CAST($1 AS jsonb) #> string_to_array(substr($2, 3), '.') AS v) AS x$$;
	SQL
}

# On PostgreSQL (PROV_TEST_DB), skip a test about SQLite's file itself.
sqlite_only() {
	if [ -n "${PROV_TEST_DB:-}" ]; then
		skip "SQLite file specifics: ${1:-the prov.db file}"
	fi
}

# The database passes its engine's own integrity check: SQLite's
# integrity_check and foreign_key_check; PostgreSQL's amcheck (pg_amcheck,
# every table and index).
db_integrity() {
	if [ -n "${PROV_TEST_DB:-}" ]; then
		psql "$PROV_DB" -Xq -c 'CREATE EXTENSION IF NOT EXISTS amcheck' >/dev/null &&
			"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_amcheck" --heapallindexed \
				"$PROV_DB" >&2
	else
		[ "$(db 'PRAGMA integrity_check')" = ok ] && [ -z "$(db 'PRAGMA foreign_key_check')" ]
	fi
}

# A fresh factory in $PROV_HOME (on PostgreSQL, in a fresh database).
make_factory() {
	if [ -n "${PROV_TEST_DB:-}" ] && [ -n "$(psql "$PROV_DB" -XAtq -c "SELECT to_regclass('provkit_schema')")" ]; then
		pg_fresh_db
	fi
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

# sqlite3 query against the factory database (psql on PostgreSQL; ".dump" is
# pg_dump's data there).
db() {
	if [ -n "${PROV_TEST_DB:-}" ]; then
		if [ "$1" = .dump ]; then
			# (less pg_dump's random \restrict key)
			pg_dump --data-only --no-owner "$PROV_DB" | grep -Ev '^\\(un)?restrict '
		else
			# SQLite's blob literal X'..' is decode('..', 'hex') there.
			psql "$PROV_DB" -XAtq -v ON_ERROR_STOP=1 -c "$(printf '%s' "$*" | sed "s/X'\([0-9A-Fa-f]*\)'/decode('\1', 'hex')/g")"
		fi
	else
		sqlite3 "$PROV_HOME/prov.db" "$@"
	fi
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
