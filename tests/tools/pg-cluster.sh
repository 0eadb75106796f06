#!/bin/sh
# pg-cluster.sh - a throwaway PostgreSQL cluster for the tests and the bench.
#
#   pg-cluster.sh start DIR [PID]  initdb into DIR/data and start it; prints
#                             "PG_DIR=DIR PG_PORT=N PG_BIN=..." (eval it).  With
#                             PID, a watchdog stops the cluster once PID is gone
#                             (a test run killed before its teardown)
#   pg-cluster.sh stop DIR    stop it (immediately) and remove DIR
#   pg-cluster.sh restart DIR stop it (fast: sessions are cut) and start it again
#   pg-cluster.sh createdb DIR NAME   a fresh database; prints its URI
#
# The cluster belongs to an unprivileged user (PostgreSQL refuses to run as
# root, and CI runs as root: then the user is "nobody", via runuser); its only
# socket is in DIR (listen also on 127.0.0.1 at a free port, for the password
# test).  The superuser is "prov": trusted on the socket, SCRAM password over
# TCP (PG_PASSWORD, default "prov-test-pw").  Extra server settings:
# PG_OPTS (e.g. "-c fsync=off" for the tests).  --no-locale: text sorts by
# bytes, as in SQLite (docs/database.md).
set -eu
cmd=${1:?usage: pg-cluster.sh start|stop|restart|createdb DIR [NAME]}
dir=${2:?usage: pg-cluster.sh start|stop|restart|createdb DIR [NAME]}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || { echo "pg-cluster: no PostgreSQL server (apt-get install postgresql)" >&2; exit 1; }
as=""
if [ "$(id -u)" = 0 ]; then
	as="runuser -u nobody --"
fi

free_port() {
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pgctl_start() {
	port=$(cat "$dir/port")
	# (without the test's PROV_BG_TAG, tests/bats/helper.bash: the server
	# belongs to the file, not to the test that restarted it)
	# shellcheck disable=SC2086
	env -u PROV_BG_TAG $as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c max_connections=60 ${PG_OPTS:-}" start >/dev/null
}

case $cmd in
start)
	mkdir -p "$dir"
	[ -n "$as" ] && chown nobody "$dir"
	chmod 755 "$dir"
	free_port > "$dir/port"
	pw="$dir/pw"
	printf '%s\n' "${PG_PASSWORD:-prov-test-pw}" > "$pw"
	[ -n "$as" ] && chown nobody "$pw"
	$as "$bin/initdb" -D "$dir/data" -U prov --pwfile="$pw" --auth-local=trust \
		--auth-host=scram-sha-256 --no-locale -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	pgctl_start || { cat "$dir/server.log" >&2; exit 1; }
	if [ -n "${3:-}" ]; then
		self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
		# PID is watched by its start time (/proc/PID/stat field 22), not by
		# kill -0: a PID reused by another process is not the test run.  A
		# cluster stopped already (DIR gone) is left alone.
		setsid sh -c 'st() { sed "s/.*) //" "/proc/$1/stat" 2>/dev/null | cut -d" " -f20; }
			s0=$(st "$1")
			while [ -n "$s0" ] && [ "$(st "$1")" = "$s0" ]; do
				[ -d "$3" ] || exit 0
				sleep 2
			done
			sh "$2" stop "$3"' \
			sh "$3" "$self" "$dir" </dev/null >/dev/null 2>&1 3>&- &
	fi
	echo "PG_DIR=$dir PG_PORT=$(cat "$dir/port") PG_BIN=$bin"
	;;
stop)
	if [ -f "$dir/data/postmaster.pid" ]; then
		$as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
	;;
restart)
	$as "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
	pgctl_start
	;;
createdb)
	name=${3:?createdb needs a NAME}
	"$bin/createdb" -h "$dir" -p "$(cat "$dir/port")" -U prov "$name"
	echo "postgresql://prov@/$name?host=$dir&port=$(cat "$dir/port")"
	;;
*)
	echo "pg-cluster: unknown command $cmd" >&2
	exit 2
	;;
esac
