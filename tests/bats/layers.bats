#!/usr/bin/env bats
# layers.bats - the host library's architecture, checked on the source tree:
# its folders are layers with no include upward (scripts/layers.sh); one module
# speaks SQL (factory/records.c, the schema in factory/schema.c); one file
# calls SQLite (factory/db_sqlite.c), one libpq (factory/db_pg.c), and no
# public header or tool names either; one file knows how a sealed secret is
# bound to its row (factory/vault.c).  Each check also runs on a copy with one
# violation planted, and must find it.

bats_require_minimum_version 1.5.0
load helper

# A string literal that is SQL: it starts with a statement, or a continuation
# line of one starts with a clause.  Prints file:line for each.
sql_literals() { # root
	(cd "$1" && grep -rnE --include='*.c' --include='*.h' \
		-e '"(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|REPLACE|WITH) [A-Za-z0-9_(*]' \
		-e '^[[:space:]]*"(FROM|WHERE|VALUES|JOIN|SET|ORDER BY|GROUP BY|ON CONFLICT|RETURNING|LIMIT) ' \
		libprov tools)
}

# The files that hold SQL, one per line, sorted.
sql_files() { # root
	sql_literals "$1" | cut -d: -f1 | sort -u
}

sqlite_files() { # root
	(cd "$1" && grep -rlE 'sqlite3_|<sqlite3\.h>' libprov tools | sort)
}

# The AADs of sealed rows (a string literal starting "psk|" or "key|") and of
# the check value.
aad_files() { # root
	(cd "$1" && grep -rlF -e '"psk|' -e '"key|' -e 'provkit-kek-check' libprov tools | sort)
}

copy_tree() {
	mkdir -p "$T/tree"
	cp -r "$REPO/libprov" "$REPO/tools" "$REPO/scripts" "$T/tree/"
}

@test "layers: no libprov file includes a header of a folder above its own" {
	run sh "$REPO/scripts/layers.sh"
	[ "$status" -eq 0 ]
	[[ "$output" == "layers: "*" folders in order, no include upward" ]]
	# The check finds an upward include: bundle/ including issue/'s mint.h.
	copy_tree
	sed -i 's|#include "prov/cbor.h"|#include "prov/cbor.h"\n#include "prov/mint.h"|' "$T/tree/libprov/src/bundle/build.c"
	run sh "$T/tree/scripts/layers.sh"
	[ "$status" -eq 1 ]
	[[ "$output" == *"libprov/src/bundle/build.c includes prov/mint.h of issue/, a layer above"* ]]
}

@test "layers: SQL only in the records layer (factory/records.c) and the schema (factory/schema.c)" {
	run sql_files "$REPO"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'libprov/src/factory/records.c\nlibprov/src/factory/schema.c')" ]
	# Both hold many statements (the check sees them), and tools/ none.
	[ "$(sql_literals "$REPO" | grep -c '^libprov/src/factory/records.c:')" -gt 40 ]
	[ "$(sql_literals "$REPO" | grep -c '^libprov/src/factory/schema.c:')" -gt 10 ]
	# A statement elsewhere is found, and so is a clause on a continuation line.
	copy_tree
	printf 'static const char q[] = "SELECT id FROM devices";\n' >> "$T/tree/tools/cmd_list.c"
	printf 'static const char r[] =\n\t"SELECT 1 "\n\t"FROM audit";\n' >> "$T/tree/libprov/src/bundle/receipt.c"
	run sql_files "$T/tree"
	[ "$output" = "$(printf 'libprov/src/bundle/receipt.c\nlibprov/src/factory/records.c\nlibprov/src/factory/schema.c\ntools/cmd_list.c')" ]
	run sql_literals "$T/tree"
	[[ "$output" == *"libprov/src/bundle/receipt.c:"*'"FROM audit"'* ]]
}

@test "layers: only factory/db_sqlite.c calls SQLite; no public header or tool includes sqlite3.h" {
	run sqlite_files "$REPO"
	[ "$status" -eq 0 ]
	[ "$output" = "libprov/src/factory/db_sqlite.c" ]
	run grep -rl 'sqlite3' "$REPO/libprov/include" "$REPO/tools"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	copy_tree
	printf '#include <sqlite3.h>\n' >> "$T/tree/libprov/include/prov/home.h"
	printf 'int f(void *d) { return sqlite3_db_readonly(d, "main"); }\n' >> "$T/tree/tools/cli.c"
	run sqlite_files "$T/tree"
	[ "$output" = "$(printf 'libprov/include/prov/home.h\nlibprov/src/factory/db_sqlite.c\ntools/cli.c')" ]
}

# Files that call libpq: a PQ function or PG type, or its header.
libpq_files() { # root
	(cd "$1" && grep -rlE '\<PQ[a-z][A-Za-z]*\(|\<PG(conn|result)\>|<libpq-fe\.h>' libprov tools | sort)
}

@test "layers: only factory/db_pg.c calls libpq; no public header or tool includes libpq-fe.h" {
	run libpq_files "$REPO"
	[ "$status" -eq 0 ]
	[ "$output" = "libprov/src/factory/db_pg.c" ]
	run grep -rlE 'libpq-fe|\<PQ[a-z][A-Za-z]*\(' "$REPO/libprov/include" "$REPO/tools"
	[ "$status" -eq 1 ]
	copy_tree
	printf '#include <libpq-fe.h>\n' >> "$T/tree/libprov/include/prov/db.h"
	printf 'int g(void *c) { return PQstatus(c); }\n' >> "$T/tree/libprov/src/factory/records.c"
	run libpq_files "$T/tree"
	[ "$output" = "$(printf 'libprov/include/prov/db.h\nlibprov/src/factory/db_pg.c\nlibprov/src/factory/records.c')" ]
}

@test "layers: the AAD that binds a sealed secret to its row is written in one file (factory/vault.c)" {
	run aad_files "$REPO"
	[ "$status" -eq 0 ]
	[ "$output" = "libprov/src/factory/vault.c" ]
	copy_tree
	printf 'static const char a[] = "psk|%%s|%%d|%%u";\n' >> "$T/tree/tools/cmd_export.c"
	printf '#define K "key|%%s|%%d"\n' >> "$T/tree/libprov/src/issue/lwm2m.c"
	run aad_files "$T/tree"
	[ "$output" = "$(printf 'libprov/src/factory/vault.c\nlibprov/src/issue/lwm2m.c\ntools/cmd_export.c')" ]
}
