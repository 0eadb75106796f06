#!/usr/bin/python3
"""jsonschema_crosscheck.py - check tests/vectors/jsonschema/cases.json with an
implementation we did not write.

Every case not marked "schema_error" is validated with Debian's python3-jsonschema
(Draft202012Validator, format not asserted, as in libprov); its verdict must equal
the case's "valid".  The schema must also pass the 2020-12 meta-schema.  Exact error
messages are libprov's own and are checked by tests/unit/test_jsonschema.c only.

Run with /usr/bin/python3 from anywhere; prints "checked N cases, M differ" and
exits 1 when any verdict differs or a case is malformed.
"""
import json
import os
import sys

import jsonschema

CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     "..", "vectors", "jsonschema", "cases.json")


def main():
    with open(CASES, encoding="utf-8") as f:
        cases = json.load(f)
    checked = 0
    problems = []
    names = set()
    for i, case in enumerate(cases):
        name = case.get("name", "case %d" % i)
        if name in names:
            problems.append("%s: duplicate case name" % name)
        names.add(name)
        if not isinstance(case.get("valid"), bool) or "schema" not in case or "instance" not in case:
            problems.append("%s: malformed case" % name)
            continue
        if not case["valid"] and not isinstance(case.get("error"), str):
            problems.append("%s: invalid case without an \"error\"" % name)
        if case.get("schema_error"):
            continue
        try:
            jsonschema.Draft202012Validator.check_schema(case["schema"])
            got = jsonschema.Draft202012Validator(case["schema"]).is_valid(case["instance"])
        except Exception as exc:  # a schema python cannot use is a difference too
            problems.append("%s: python-jsonschema raised %s: %s" % (name, type(exc).__name__, exc))
            continue
        checked += 1
        if got != case["valid"]:
            problems.append("%s: python-jsonschema says %s, cases.json says %s\n  schema:   %s\n  instance: %s"
                            % (name, "valid" if got else "invalid", "valid" if case["valid"] else "invalid",
                               json.dumps(case["schema"]), json.dumps(case["instance"])))
    for p in problems:
        print("DIFFER " + p)
    print("checked %d cases, %d differ" % (checked, len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
