// regex_differential.js - random ECMA-262 patterns and strings, libprov's
// verdicts (build/tests/test_jsregex --eval) against V8's, an engine we did not
// write: new RegExp(pattern, "u").test(string), the search JSON Schema asks for.
//
// Two generators, seeded so that a failure reproduces: one over the whole
// syntax (escapes, classes, groups, quantifiers, and malformed pieces), one over
// anchors and repetition on a tiny alphabet (a, b, \n, \r, é, 🐲, U+0000, ...).
// For each pattern:
//   - V8 compiles it: libprov gives the same verdict on every string, or refuses
//     it as "not supported" or "too large" (a documented limit), never as a
//     "syntax error";
//   - V8 throws a SyntaxError: libprov refuses it too.
//
// Usage: node tests/js/regex_differential.js BUILD_DIR [PATTERNS [SEED]]
// Prints the counts and "checked N strings, M differ"; exits 1 when any differ.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');

const build = process.argv[2] || 'build';
const patterns = +(process.argv[3] || 3000);
let seed = +(process.argv[4] || 20260822);

function rnd(n) {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
}
function pick(a) { return a[rnd(a.length)]; }

// ---- the whole syntax ----
const wideChars = ['a', 'b', 'c', '0', '9', '_', ' ', '\t', '\n', '\r', '\u000b', '\f', '\u00a0',
  '\ufeff', '\u1680', '\u2000', '\u200a', '\u200b', '\u2028', '\u2029', '\u202f', '\u205f',
  '\u3000', '\u180e', '\u0085', 'é', 'É', '\u07c0', '\u09ea', '🐲', '🐉', '\u0000', '\u0001',
  '\u007f', '\u0080', '\u07ff', '\u0800', '\uffff', '\u{10000}', '\u{10ffff}', '-', ']', '[',
  '^', '$', '\\', '.', '*', '+', '?', '(', ')', '{', '}', '|', '/', ':', '=', '!', '<', '>', ',',
  'A', 'Z', 'z', '\u0100', '\ud7ff', '\ue000'];
const wideAtoms = ['a', 'b', '.', '\\d', '\\D', '\\w', '\\W', '\\s', '\\S', '\\t', '\\n', '\\r',
  '\\v', '\\f', '\\0', '\\cA', '\\cj', '\\x41', '\\x00', '\\xe9', '\\u00e9', '\\u{1F432}',
  '\\ud83d\\udc32', '\\ud83d', '\\.', '\\\\', '\\/', '\\-', '\\]', '\\}', '\\{', '\\a', '\\e',
  '\\q', '\\1', '\\b', '\\B', '\\p{L}', '\\k<x>', 'é', '🐲', '\u2028', '\u0000', ' ', '-', ',',
  '=', ':', '!', '<', '>', '/', ']', '}', '{', '\\c', '\\c1', '\\x4', '\\u12', '\\u{110000}',
  '\\u{}', '\\00', '\\01'];
function wideClass() {
  let s = '[' + (rnd(3) === 0 ? '^' : '');
  const n = rnd(5);
  for (let i = 0; i < n; i++) {
    const k = rnd(10);
    if (k < 3)
      s += pick(['a', 'b', 'z', '0', '9', 'é', '🐲', '\u2028', '\u0000', '^', '[', '.', ':', '=',
                 '\\', '-', ' ']);
    else if (k < 5)
      s += pick(['\\d', '\\D', '\\w', '\\W', '\\s', '\\S', '\\b', '\\-', '\\]', '\\\\', '\\^',
                 '\\B', '\\1', '\\0', '\\x7f', '\\u0100', '\\u{10FFFF}', '\\cZ', '\\n', '\\t',
                 '\\[', '\\.', '\\/', '\\q']);
    else
      s += pick(['a', '0', 'A', '\\x00', '\\u0080', '\\u07ff', '\\u0800', '\\uD7FF', '\\uE000',
                 '\\uFFFF', '\\u{10000}', 'é', '!', '-', '[']) + '-' +
           pick(['z', '9', 'Z', '\\x7f', '\\u07ff', '\\u0800', '\\uffff', '\\u{10ffff}', 'é', '🐲',
                 '-', '\\d', ']', '~']);
  }
  return s + (rnd(15) === 0 ? '' : ']');
}
function wideQuant() {
  let q = pick(['', '', '', '', '', '*', '+', '?', '{2}', '{1,3}', '{0,}', '{3,1}', '{,2}', '{']);
  if (q && rnd(4) === 0)
    q += '?';
  if (rnd(30) === 0)
    q += '*';
  return q;
}
function wideTerm(d) {
  const k = rnd(20);
  if (k === 0)
    return '^';
  if (k === 1)
    return '$';
  if (k < 4 && d < 3)
    return pick(['(', '(?:', '(?:', '(?=', '(?<n>']) + wideDisj(d + 1) + (rnd(12) === 0 ? '' : ')') +
           wideQuant();
  if (k < 7)
    return wideClass() + wideQuant();
  return pick(wideAtoms) + wideQuant();
}
function wideAlt(d) { let s = ''; const n = rnd(4); for (let i = 0; i < n; i++) s += wideTerm(d); return s; }
function wideDisj(d) { let s = wideAlt(d); while (rnd(5) === 0) s += '|' + wideAlt(d); return s; }

// ---- anchors and repetition ----
const tinyChars = ['a', 'b', '\n', 'é', ' ', '_', '🐲', '\u0000', '\r'];
function tinyQuant() {
  return pick(['', '', '', '*', '+', '?', '{2}', '{0,2}', '{1,}', '{0}', '{2,3}', '*?', '+?', '{3}']);
}
function tinyAtom(d) {
  const k = rnd(16);
  if (k < 2 && d < 4)
    return pick(['(', '(?:']) + tinyDisj(d + 1) + ')';
  if (k < 4)
    return pick(['[ab]', '[^a]', '[\\s\\S]', '[^\\n]', '\\w', '\\W', '\\s', '\\d', '.', '[]', '[^]']);
  return pick(['a', 'b', '\\n', 'é', '_', ' ', '🐲', '\\0']);
}
function tinyTerm(d) {
  const k = rnd(12);
  if (k === 0)
    return pick(['^', '$']);
  if (k === 1)
    return pick(['^', '$']) + pick(['^', '$']);
  return tinyAtom(d) + tinyQuant();
}
function tinyAlt(d) { let s = ''; const n = 1 + rnd(4); for (let i = 0; i < n; i++) s += tinyTerm(d); return s; }
function tinyDisj(d) { let s = tinyAlt(d); while (rnd(4) === 0) s += '|' + tinyAlt(d); return s; }

function subject(chars, max) {
  let s = '';
  const n = rnd(max);
  for (let i = 0; i < n; i++)
    s += pick(chars);
  return s;
}

const pairs = [], want = [];
for (let i = 0; i < patterns; i++) {
  const wide = i % 2 === 0;
  const p = wide ? wideDisj(0) : tinyDisj(0);
  let re = null;
  try {
    re = new RegExp(p, 'u');
  } catch (e) {
    if (!(e instanceof SyntaxError))
      throw e;
  }
  for (let j = 0; j < 4; j++) {
    const s = subject(wide ? wideChars : tinyChars, wide ? 7 : 9);
    pairs.push([p, s]);
    want.push(re === null ? 'syntax' : re.test(s) ? '1' : '0');
    if (re === null)
      break;
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'regex-differential-'));
const file = path.join(tmp, 'pairs.json');
let got;
try {
  fs.writeFileSync(file, JSON.stringify(pairs));
  got = execFileSync(path.join(build, 'tests', 'test_jsregex'), ['--eval', file],
                     { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n');
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

const n = { same: 0, v8_syntax_we_refuse: 0, we_decline: 0 };
let differ = 0;
for (let i = 0; i < pairs.length; i++) {
  const g = got[i] || '';
  let ok;
  if (want[i] === 'syntax') {
    ok = g.startsWith('refused: ');
    if (ok)
      n.v8_syntax_we_refuse++;
  } else if (g.startsWith('refused: not supported ') || g.startsWith('refused: too large ')) {
    ok = true;
    n.we_decline++;
  } else {
    ok = g === want[i];
    if (ok)
      n.same++;
  }
  if (!ok) {
    differ++;
    if (differ <= 20)
      console.log('DIFFER ' + JSON.stringify({ pattern: pairs[i][0], string: pairs[i][1], v8: want[i], libprov: g }));
  }
}
console.log(`same verdict ${n.same}, SyntaxError refused ${n.v8_syntax_we_refuse}, ` +
            `valid ECMA-262 declined ${n.we_decline}`);
console.log(`checked ${pairs.length} strings, ${differ} differ`);
process.exit(differ ? 1 : 0);
