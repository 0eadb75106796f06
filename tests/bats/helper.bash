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
	bg_init
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

# ---- background processes ---------------------------------------------------------
#
# A test's background processes (servers, simulators, QEMU runners) are
# signalled only while they are provably still the process the test started:
# bg_start records NAME, PID and the start time the kernel gives that PID
# (/proc/PID/stat field 22, clock ticks since boot).  A PID whose process has
# ended may be reaped at once (bash reaps its children as they end) and given
# to an unrelated process: on a machine where several test runs overlap, a
# `kill $(cat x.pid)` in a teardown is the suspected sender of a SIGTERM that
# ended a make check run.  So nothing here signals a PID whose start time is
# not the recorded one.  (What is left is the moment between reading the
# start time and kill(); closing it needs pidfd_send_signal, which bash lacks.)
#
#   bg_start NAME CMD...  run CMD in the background (redirections on the call
#                         apply to it); sets BG_PID; NAME names it in errors
#   bg_record NAME PID    record a PID this shell started itself (`( ... ) &`)
#   bg_alive PID          the recorded process still runs (not ended, not reused)
#   bg_kill [-SIG] PID    signal it if bg_alive; status 1 (and nothing sent) if
#                         it has ended, like kill on a reaped PID
#   bg_stop_all           (teardowns) SIGTERM to every recorded process still
#                         running, newest first; each must end within
#                         BG_STOP_TIMEOUT seconds (default 10), or it gets
#                         SIGKILL and the teardown fails naming it.  Then any
#                         other process that carries this test's PROV_BG_TAG in
#                         its environment (a child of a recorded process, one
#                         started in a `run` subshell) gets the same treatment.
#
# The registry is $BG_LIST: per test in $BATS_TEST_TMPDIR, in setup_file and
# teardown_file the file's ($BATS_FILE_TMPDIR).  A process that starts a
# server of the whole file without bg_start (pg-cluster.sh) removes
# PROV_BG_TAG from that server's environment.

# bg_init: this scope's registry and tag (setup() calls it; bg_start does when
# the scope changed).
bg_init() {
	BG_SCOPE=${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}
	BG_LIST="$BG_SCOPE/bg.list"
	export PROV_BG_TAG="$BG_SCOPE"
}

# bg_stat PID: sets BG_STATE (one letter), BG_PPID and BG_START from
# /proc/PID/stat; status 1 when there is no such process.  (The name, field 2,
# may hold spaces and parentheses: the fields after its last ')' are split.)
bg_stat() {
	local line f
	read -r line 2>/dev/null < "/proc/$1/stat" || return 1
	read -r -a f <<< "${line##*) }"
	BG_STATE=${f[0]} BG_PPID=${f[1]} BG_START=${f[19]}
	[ -n "$BG_START" ]
}

bg_start() {
	local name=$1
	shift
	[ "${BG_SCOPE:-}" = "${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}" ] || bg_init
	"$@" &
	BG_PID=$!
	bg_record "$name" "$BG_PID"
}

bg_record() {
	local name=$1 pid=$2
	[ "${BG_SCOPE:-}" = "${BATS_TEST_TMPDIR:-$BATS_FILE_TMPDIR}" ] || bg_init
	# A child of this shell cannot be reaped behind our back before we read
	# its start time only if it still runs; one that ended already is
	# recorded with no start time, and never signalled.
	if bg_stat "$pid" && [ "$BG_PPID" = "$BASHPID" ]; then
		echo "$pid $BG_START $name" >> "$BG_LIST"
	else
		echo "$pid - $name" >> "$BG_LIST"
	fi
}

# bg_recorded PID: sets BG_REC_START from the newest entry for PID; status 1
# when the PID was never recorded here.
bg_recorded() {
	local pid start name
	BG_REC_START=''
	[ -f "${BG_LIST:-}" ] || return 1
	while read -r pid start name; do
		[ "$pid" = "$1" ] && BG_REC_START=$start
	done < "$BG_LIST"
	[ -n "$BG_REC_START" ]
}

# bg_is PID START: the process at PID is the one that started at START and
# has not ended (a zombie has ended: only its exit status is left).
bg_is() {
	[ "$2" != - ] && bg_stat "$1" && [ "$BG_START" = "$2" ] && [ "$BG_STATE" != Z ] && [ "$BG_STATE" != X ]
}

bg_alive() {
	bg_recorded "$1" && bg_is "$1" "$BG_REC_START"
}

bg_kill() {
	local sig=-TERM
	case $1 in -*) sig=$1; shift ;; esac
	if ! bg_recorded "$1"; then
		echo "bg_kill: $1 is not a process this test recorded (bg_start): not signalled" >&2
		return 1
	fi
	bg_is "$1" "$BG_REC_START" || return 1
	kill "$sig" "$1"
}

# bg_end PID START NAME: SIGTERM, then wait up to BG_STOP_TIMEOUT; SIGKILL and
# status 1 (naming it) when it did not end.
bg_end() {
	local pid=$1 start=$2 name=$3 i limit
	bg_is "$pid" "$start" || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	limit=$(( ${BG_STOP_TIMEOUT:-10} * 20 ))
	for ((i = 0; i < limit; i++)); do
		bg_is "$pid" "$start" || return 0
		sleep 0.05
	done
	bg_is "$pid" "$start" && kill -KILL "$pid" 2>/dev/null
	echo "background process $name (pid $pid) survived SIGTERM for ${BG_STOP_TIMEOUT:-10} s: killed (SIGKILL)" >&2
	return 1
}

bg_stop_all() {
	local pid start name rc=0 entries=() e cmd
	[ -n "${BG_LIST:-}" ] || bg_init
	if [ -f "$BG_LIST" ]; then
		while read -r pid start name; do entries=("$pid $start $name" "${entries[@]}"); done < "$BG_LIST"
		for e in "${entries[@]}"; do
			read -r pid start name <<< "$e"
			bg_end "$pid" "$start" "$name" || rc=1
		done
		# reap the test's own children (others are not ours to wait for)
		for e in "${entries[@]}"; do
			read -r pid start name <<< "$e"
			wait "$pid" 2>/dev/null || true
		done
	fi
	# Anything else the test started that is still running.  (grep itself is
	# run without the tag; its own entry is gone when it has ended.)
	for pid in $(env -u PROV_BG_TAG grep -lzxF "PROV_BG_TAG=$PROV_BG_TAG" /proc/[0-9]*/environ 2>/dev/null |
		sed -n 's|^/proc/\([0-9]*\)/environ$|\1|p'); do
		[ "$pid" = "$BASHPID" ] || [ "$pid" = "$$" ] && continue
		bg_stat "$pid" || continue
		start=$BG_START
		cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)
		bg_is "$pid" "$start" || continue
		echo "left running by the test: pid $pid: $cmd" >&2
		bg_end "$pid" "$start" "'$cmd'" || rc=1
	done
	rm -f "$BG_LIST"
	return "$rc"
}

# Suites with no teardown of their own stop what their tests left.
teardown() {
	bg_stop_all
}
