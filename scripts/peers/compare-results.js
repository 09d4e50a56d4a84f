#!/usr/bin/env node
/**
 * Compares two runs of a library's own test suite, test by test: `compare-results.js plain hooked`, each
 * a file of `ok|not ok<TAB>test name` lines (what the peer scripts extract from the suite's reporter).
 * Prints the counts and the tests that fail only with the hooks; exits 1 when there are any.
 */
'use strict';
const fs = require('node:fs');

function read(file) {
  const results = new Map();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const tab = line.indexOf('\t');
    if (tab === -1) continue;
    const name = line.slice(tab + 1);
    // A name seen twice (same title in two places) fails if either fails.
    results.set(name, results.get(name) === 'not ok' ? 'not ok' : line.slice(0, tab));
  }
  return results;
}

const [plainFile, hookedFile] = process.argv.slice(2);
const plain = read(plainFile);
const hooked = read(hookedFile);
const failed = (m) => [...m].filter(([, r]) => r === 'not ok').map(([n]) => n);
const hookOnly = failed(hooked).filter((n) => plain.get(n) !== 'not ok');
const missing = [...plain.keys()].filter((n) => !hooked.has(n));
console.log(`tests: ${plain.size} without hooks, ${hooked.size} with hooks`);
console.log(`failures: ${failed(plain).length} without hooks, ${failed(hooked).length} with hooks, ${hookOnly.length} only with hooks`);
for (const n of failed(plain)) console.log(`  fails without hooks too: ${n}`);
for (const n of hookOnly) console.log(`  FAILS ONLY WITH HOOKS: ${n}`);
if (missing.length !== 0) {
  console.log(`${missing.length} test(s) did not run with hooks:`);
  for (const n of missing.slice(0, 20)) console.log(`  MISSING WITH HOOKS: ${n}`);
}
process.exitCode = hookOnly.length !== 0 || missing.length !== 0 ? 1 : 0;
