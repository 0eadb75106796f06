#!/usr/bin/env bats
# layers.bats - the host library's architecture, checked on the source tree:
# its folders are layers with no include upward (scripts/layers.sh); one module
# speaks SQL (factory/records.c, the schema in factory/schema.c); one file
# calls SQLite (factory/db_sqlite.c), one libpq (factory/db_pg.c), and no
# public header or tool names either; only factory/ asks for rows (its private
# db_rows.h: prov_db_prepare, _step, _exec, _col_* ...); one file knows how a sealed secret is
# bound to its row (factory/vault.c); one function issues (issue/issue.c's
# issue_txn: the only transaction of the issue path, for one device and for a
# batch's chunk alike).  Each check also runs on a copy with one violation
# planted, and must find it.

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

@test "layers: only factory/ asks for rows (db_rows.h, prov_db_prepare/_step/_exec/_col_*); the installed prov/db.h declares none" {
	run sh "$REPO/scripts/layers.sh"
	[ "$status" -eq 0 ]
	# The row API is there, used by the records layer and its unit test ...
	grep -q 'prov_db_prepare(' "$REPO/libprov/src/factory/db_rows.h"
	grep -q 'prov_db_col_text(' "$REPO/libprov/src/factory/records.c"
	grep -q 'prov_db_step(' "$REPO/tests/unit/test_db.c"
	# ... and not in the public header.
	run grep -E 'prov_db_(exec|prepare|bind_[a-z]+|step|done|reset|col_[a-z]+)\(|prov_db_stmt' "$REPO/libprov/include/prov/db.h"
	[ "$status" -eq 1 ]
	# A tool that prepares a statement, a folder above that includes the
	# header, and the public header declaring a row function are each found.
	copy_tree
	printf 'static int rows(prov_db *db) { prov_db_stmt *s; return prov_db_prepare(db, "x", &s, NULL); }\n' >> "$T/tree/tools/cmd_list.c"
	printf '#include "../factory/db_rows.h"\n' >> "$T/tree/libprov/src/issue/revoke.c"
	printf 'int prov_db_col_count(void *st);\n' >> "$T/tree/libprov/include/prov/db.h"
	run sh "$T/tree/scripts/layers.sh"
	[ "$status" -eq 1 ]
	[[ "$output" == *"layers: tools/cmd_list.c uses prov_db_prepare: statements and rows are factory/'s alone"* ]]
	[[ "$output" == *"layers: tools/cmd_list.c uses prov_db_stmt:"* ]]
	[[ "$output" == *"layers: libprov/src/issue/revoke.c includes factory/db_rows.h:"* ]]
	[[ "$output" == *"layers: libprov/include/prov/db.h uses prov_db_col_count:"* ]]
	[ "$(grep -c '^layers: ' <<<"$output")" -eq 4 ]
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

# The calls in one C file of the functions whose names match a pattern, each
# as "caller callee": the caller is the definition the call sits in (its
# first line starts in column 0, a prototype's ends with ";").
calls_in() { # file pattern
	awk -v pat="$2" '
		/^[A-Za-z].*\(/ && !/;[[:space:]]*$/ { fn = $0; sub(/\(.*/, "", fn); sub(/.*[ *]/, "", fn) }
		/^[ \t]/ {
			s = $0
			while (match(s, "(^|[^A-Za-z0-9_])(" pat ")\\(")) {
				c = substr(s, RSTART, RLENGTH - 1)
				sub(/^[^A-Za-z_]/, "", c)
				print fn, c
				s = substr(s, RSTART + RLENGTH)
			}
		}' "$1"
}

issue_checks() { # root
	local f="$1/libprov/src/issue/issue.c"

	# One function opens, commits and rolls back the issue transaction ...
	[ "$(calls_in "$f" 'prov_db_[a-z_]+')" = "$(printf 'issue_txn prov_db_conflict\nissue_txn prov_db_begin\nissue_txn prov_db_commit\nissue_txn prov_db_rollback\nissue_txn prov_db_conflict')" ] ||
		{ echo "issue: more than one transaction in issue/issue.c:"; calls_in "$f" 'prov_db_[a-z_]+'; return 1; }
	# ... and runs every step inside it ...
	[ "$(calls_in "$f" 'prov_(template_store|records_[a-z_]+|mint_one|bundle_build|file_write[a-z_]*|dir_sync)')" = \
	  "$(printf 'issue_one prov_mint_one\nissue_one prov_bundle_build\nissue_one prov_file_write_nosync\nissue_txn prov_template_store\nissue_txn prov_records_device_generations\nissue_txn prov_dir_sync')" ] ||
		{ echo "issue: a step outside the transaction function"; return 1; }
	# ... for one device (prov mint --device, prov install), and a batch's
	# template and then its chunks.
	[ "$(calls_in "$f" 'issue_txn')" = "$(printf 'prov_issue_device issue_txn\nprov_issue_batch issue_txn\nprov_issue_batch issue_txn')" ] ||
		{ echo "issue: prov_issue_device and prov_issue_batch do not both call issue_txn"; return 1; }
	# Nothing else mints: the tools and install issue through prov/issue.h.
	[ "$(cd "$1" && grep -rlE '(^|[^a-z_])prov_mint_one\(' libprov/src tools | sort)" = \
	  "$(printf 'libprov/src/issue/issue.c\nlibprov/src/issue/mint.c')" ] ||
		{ echo "issue: prov_mint_one called outside the issue path"; return 1; }
	[ "$(cd "$1" && grep -lE 'prov_issue_(device|batch)\(' tools/*.c libprov/src/serial/*.c | sort)" = \
	  "$(printf 'libprov/src/serial/install.c\ntools/cmd_mint.c')" ] ||
		{ echo "issue: prov mint or prov install does not issue through prov/issue.h"; return 1; }
}

@test "layers: one issue transaction (issue/issue.c issue_txn), called by prov_issue_device and by prov_issue_batch for its template and each chunk" {
	run issue_checks "$REPO"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	# A second transaction (the batch storing its template on its own) is found ...
	copy_tree
	sed -i 's|^\thow.bundle_dir = o->bundle_dir;|\tst = prov_db_begin(h->db, e);\n\tif (st == PROV_OK)\n\t\tst = prov_template_store(h, t, e);\n\tif (st == PROV_OK)\n\t\tst = prov_db_commit(h->db, e);\n&|' \
		"$T/tree/libprov/src/issue/issue.c"
	run issue_checks "$T/tree"
	[ "$status" -eq 1 ]
	[[ "$output" == "issue: more than one transaction in issue/issue.c:"*"prov_issue_batch prov_db_begin"*"prov_issue_batch prov_db_commit"* ]]
	# ... and so is a tool that mints on its own.
	copy_tree
	printf 'static int m(prov_home *h) { prov_mint_result r; return prov_mint_one(h, NULL, NULL, &r, NULL); }\n' \
		>> "$T/tree/tools/cmd_bundle.c"
	run issue_checks "$T/tree"
	[ "$status" -eq 1 ]
	[ "$output" = "issue: prov_mint_one called outside the issue path" ]
}
