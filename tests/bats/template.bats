#!/usr/bin/env bats
# template.bats - prov template check against the shipped templates and the
# fixtures in tests/fixtures/templates (one defect each, expectations in
# expect.txt), cross-checked with Debian's python3-jsonschema.

load helper

bats_require_minimum_version 1.5.0

FIX="$REPO/tests/fixtures/templates"
SCHEMA="$REPO/schemas/template.schema.json"

# expect.txt as tab-separated FILE, EXIT, FRAGMENT (shell-style quoting undone).
expectations() {
	$PY -c '
import shlex, sys
for line in open(sys.argv[1], encoding="utf-8"):
    if line.strip() and not line.lstrip().startswith("#"):
        f, code, msg = shlex.split(line)
        print(f, code, msg, sep="\t")
' "$FIX/expect.txt"
}

@test "template check: both shipped templates are valid" {
	run --separate-stderr "$PROV" template check "$TPL/mqtt-mtls.json" "$TPL/coaps-psk.json"
	assert_status 0
	[ "${lines[0]}" = "$TPL/mqtt-mtls.json: ok (mqtt-mtls, mqtt, 2 credentials)" ]
	[ "${lines[1]}" = "$TPL/coaps-psk.json: ok (coaps-psk, coaps, 1 credential)" ]
	[ "${#lines[@]}" = 2 ]
	[ -z "$stderr" ]
}

@test "template check --json: the documented shape; digest is SHA-256 of the canonical JSON" {
	run --separate-stderr "$PROV" template check --json "$TPL/mqtt-mtls.json" "$TPL/coaps-psk.json"
	assert_status 0
	echo "$output" | $PY -c '
import hashlib, json, os, sys
arr = json.load(sys.stdin)
files = sys.argv[1:]
assert [o["file"] for o in arr] == files, arr
for o, path in zip(arr, files):
    assert set(o) == {"file", "valid", "name", "protocol", "digest", "credentials"}, o
    src = json.load(open(path))
    assert o["valid"] is True
    assert o["name"] == src["name"] and o["protocol"] == src["protocol"], o
    assert o["credentials"] == [{"type": c["type"], "slot": c["slot"]} for c in src["credentials"]], o
    canon = json.dumps(src, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    # a compact trust store (mqtt-mtls: the broker roots) enters the digest as is
    trust = b""
    for c in src["credentials"]:
        if c["type"] == "trust":
            assert c["format"] == "store", c
            trust = open(os.path.join(os.path.dirname(path), c["file"]), "rb").read()
            assert trust[:1] and len(trust) > 1000, len(trust)
    assert (trust != b"") == (src["name"] == "mqtt-mtls"), src["name"]
    assert o["digest"] == hashlib.sha256(canon.encode() + trust).hexdigest(), (o["digest"], canon)
print("ok", len(arr))
' "$TPL/mqtt-mtls.json" "$TPL/coaps-psk.json"
}

@test "template: the shipped templates validate with python3-jsonschema (Draft 2020-12)" {
	run $PY -c '
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)
for path in sys.argv[2:]:
    errors = [e.json_path + ": " + e.message for e in v.iter_errors(json.load(open(path)))]
    assert not errors, (path, errors)
    print("valid", path)
' "$SCHEMA" "$TPL"/*.json
	echo "$output"
	assert_status 0
	[ "$(echo "$output" | grep -c '^valid ')" = "$(ls "$TPL"/*.json | wc -l)" ]
	[ "$(ls "$TPL"/*.json | wc -l)" -ge 7 ]
}

@test "template fixtures: every fixture has an expectation, every expectation a fixture" {
	listed=$(expectations | cut -f1 | sort)
	present=$(cd "$FIX" && ls -- *.json | sort)
	diff <(echo "$listed") <(echo "$present")
	[ "$(echo "$listed" | wc -l)" -ge 45 ]
	[ -z "$(echo "$listed" | uniq -d)" ]
}

@test "template fixtures: each is accepted or rejected with its exit code and message (expect.txt)" {
	cd "$FIX"
	n=0 bad=0
	while IFS=$'\t' read -r file code msg; do
		n=$((n + 1))
		run --separate-stderr "$PROV" template check "$file"
		if [ "$code" = 0 ]; then
			want="$file: $msg"
			got=$output
			[ -z "$stderr" ] || got="$got / stderr: $stderr"
		else
			want="prov: template check: template $file: $msg"
			got=$stderr
			[ -z "$output" ] || got="$got / stdout: $output"
		fi
		case "$got" in
		"$want"*) ok=1 ;;
		*) ok=0 ;;
		esac
		if [ "$status" != "$code" ] || [ "$ok" = 0 ] || [ "$(printf '%s\n' "$got" | wc -l)" != 1 ]; then
			echo "FAIL $file: want exit $code and \"$want\"" >&2
			echo "     got  exit $status and \"$got\"" >&2
			bad=$((bad + 1))
		fi
	done < <(expectations)
	echo "checked $n fixtures, $bad wrong"
	[ "$n" -ge 45 ]
	[ "$bad" = 0 ]
}

@test "template fixtures: python3-jsonschema agrees: same verdict and same JSON path" {
	run $PY -c '
import json, shlex, sys
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
fix, schema = sys.argv[1], json.load(open(sys.argv[2]))
v = Draft202012Validator(schema)
schema_bad = rule_bad = accepted = 0
problems = []
for line in open(fix + "/expect.txt", encoding="utf-8"):
    if not line.strip() or line.lstrip().startswith("#"):
        continue
    f, code, msg = shlex.split(line)
    if msg.startswith("not valid JSON"):
        continue
    errors = list(v.iter_errors(json.load(open(fix + "/" + f, encoding="utf-8"))))
    if code == "0":
        accepted += 1
        if errors:
            problems.append("%s: prov accepts, python rejects: %s" % (f, best_match(errors).message))
    elif errors:
        schema_bad += 1
        path = best_match(errors).json_path
        if code != "3" or not msg.startswith(path + ": "):
            problems.append("%s: python says %s, expect.txt says %s %s" % (f, path, code, msg))
    else:
        # Schema-valid: only provkit own rules can reject it.
        rule_bad += 1
print("accepted %d, schema errors %d (paths agree), rule errors %d" % (accepted, schema_bad, rule_bad))
print("\n".join(problems))
sys.exit(1 if problems or schema_bad < 25 or rule_bad < 12 or accepted < 4 else 0)
' "$FIX" "$SCHEMA"
	echo "$output"
	assert_status 0
}

@test "template check: a missing file is not found (4)" {
	run --separate-stderr "$PROV" template check "$T/nope.json"
	assert_status 4
	[ "$stderr" = "prov: template check: template: cannot open $T/nope.json: No such file or directory" ]
	run --separate-stderr "$PROV" template check --json "$T/nope.json"
	assert_status 4
	echo "$output" | $PY -c '
import json, sys
[o] = json.load(sys.stdin)
assert set(o) == {"file", "valid", "error"} and o["valid"] is False, o
assert "cannot open" in o["error"], o
'
}

@test "template check: several files, one bad: exit 3, the good ones still reported ok" {
	run --separate-stderr "$PROV" template check "$FIX/slot-negative.json" "$TPL/coaps-psk.json" "$FIX/valid-cert.json"
	assert_status 3
	[ "$output" = "$TPL/coaps-psk.json: ok (coaps-psk, coaps, 1 credential)
$FIX/valid-cert.json: ok (fx-cert, mqtt, 1 credential)" ]
	[ "$stderr" = "prov: template check: template $FIX/slot-negative.json: \$.credentials[0].slot: must be >= 0" ]

	run --separate-stderr "$PROV" template check --json "$TPL/coaps-psk.json" "$FIX/psk-twice.json"
	assert_status 3
	echo "$output" | $PY -c '
import json, sys
good, bad = json.load(sys.stdin)
assert good["valid"] is True and good["name"] == "coaps-psk", good
assert set(bad) == {"file", "valid", "error"} and bad["valid"] is False, bad
assert bad["error"].endswith("$.credentials[1]: a template holds at most one psk credential"), bad
'
}

@test "template check: trust files are read relative to the template, and enter the digest" {
	cd "$T"
	run --separate-stderr "$PROV" template check --json "$FIX/valid-full.json"
	assert_status 0
	echo "$output" | $PY -c '
import hashlib, json, sys
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
[o] = json.load(sys.stdin)
src = json.load(open(sys.argv[1]))
der = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read()).public_bytes(Encoding.DER)
canon = json.dumps(src, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
assert o["digest"] == hashlib.sha256(canon + der).hexdigest(), o
assert o["digest"] != hashlib.sha256(canon).hexdigest()
' "$FIX/valid-full.json" "$FIX/anchor.pem"
	# Copied away from its anchor the same template no longer checks.
	cp "$FIX/valid-full.json" "$T/"
	run "$PROV" template check "$T/valid-full.json"
	assert_status 4
	assert_output_has "\$.credentials[3].file: cannot open $T/anchor.pem"
}

@test "template check: every truncation of a valid template is rejected (3), none crashes" {
	src="$FIX/valid-cert.json"
	size=$(stat -c %s "$src")
	n=0
	for ((i = 0; i < size - 1; i++)); do
		head -c "$i" "$src" >"$T/cut.json"
		st=0
		out=$("$PROV" template check "$T/cut.json" 2>&1) || st=$?
		case "$st:$out" in
		"3:prov: template check: template $T/cut.json: not valid JSON: line "*" column "*) ;;
		*) echo "truncated to $i bytes: status $st: $out" >&2; return 1 ;;
		esac
		n=$((n + 1))
	done
	echo "$n truncations rejected"
	[ "$n" -gt 200 ]
}

@test "template check: needs no factory home; usage errors (2)" {
	export PROV_HOME="$T/no-home"
	run "$PROV" template check "$TPL/coaps-psk.json"
	assert_status 0
	[ ! -e "$PROV_HOME" ]
	run "$PROV" template check
	assert_status 2
	assert_output_has "prov: template check: no template given"
	run "$PROV" template check --frobnicate "$TPL/coaps-psk.json"
	assert_status 2
	run "$PROV" template
	assert_status 2
}
