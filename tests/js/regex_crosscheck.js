// regex_crosscheck.js - check tests/vectors/jsonschema/regex.json with an
// ECMA-262 engine we did not write: V8 (Debian's nodejs).
//
// JSON Schema 2020-12 patterns are ECMA-262 regular expressions with the "u"
// flag, searched in the instance: new RegExp(pattern, "u").test(instance).
// Every case with a verdict must get the same verdict from V8.  A case refused
// with "syntax error" must be a SyntaxError for V8 too; one refused as "not
// supported" or "too large" must compile in V8 (it is valid ECMA-262 that
// libprov declines).  Exact messages are libprov's own and are checked by
// tests/unit/test_jsonschema.c.
//
// Run from anywhere: node tests/js/regex_crosscheck.js; prints
// "checked N cases, M differ" and exits 1 when any differs.
'use strict';
const fs = require('fs');
const path = require('path');

const file = path.join(__dirname, '..', 'vectors', 'jsonschema', 'regex.json');
const cases = JSON.parse(fs.readFileSync(file, 'utf8'));
const kinds = { verdict: 0, 'syntax error': 0, 'not supported': 0, 'too large': 0 };
let differ = 0;

for (const c of cases) {
  const pats = c.schema.pattern !== undefined ? [c.schema.pattern]
    : Object.keys(c.schema.patternProperties || {});
  if (pats.length !== 1) {
    console.log(`DIFFER ${c.name}: malformed case`);
    differ++;
    continue;
  }
  let re = null;
  try {
    re = new RegExp(pats[0], 'u');
  } catch (e) {
    if (!(e instanceof SyntaxError))
      throw e;
  }
  if (!c.schema_error) {
    if (re === null || typeof c.instance !== 'string' || re.test(c.instance) !== c.valid) {
      console.log(`DIFFER ${c.name}: V8 says ${re === null ? 'SyntaxError' : re.test(c.instance) ? 'valid' : 'invalid'}`);
      differ++;
    } else {
      kinds.verdict++;
    }
    continue;
  }
  const m = /: regular expression ".*"(?:\.\.\.)?: (syntax error|not supported|too large) at offset \d+: /.exec(c.error);
  if (m === null) {
    console.log(`DIFFER ${c.name}: the error names no kind of refusal`);
    differ++;
  } else if ((m[1] === 'syntax error') !== (re === null)) {
    console.log(`DIFFER ${c.name}: refused as ${m[1]}, but V8 ${re === null ? 'refuses' : 'compiles'} it`);
    differ++;
  } else {
    kinds[m[1]]++;
  }
}
console.log(`verdicts ${kinds.verdict}, syntax errors ${kinds['syntax error']}, ` +
            `not supported ${kinds['not supported']}, too large ${kinds['too large']}`);
console.log(`checked ${cases.length} cases, ${differ} differ`);
process.exit(differ ? 1 : 0);
