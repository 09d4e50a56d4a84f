#!/usr/bin/env node
/**
 * TAP (node --test's nested TAP, lab's and mocha's flat TAP) to the `ok|not ok<TAB>name` lines that
 * compare-results.js reads: `tap-results.js [--prefix P] < file.tap`. A nested test is named with its
 * parents (`suite > test`); skipped and todo tests count as passing.
 */
'use strict';
const fs = require('node:fs');

const args = process.argv.slice(2);
const prefix = args[0] === '--prefix' ? `${args[1]} > ` : '';
const parents = [];
const out = [];
for (const line of fs.readFileSync(0, 'utf8').split('\n')) {
  const subtest = /^(\s*)# Subtest: (.*)$/.exec(line);
  if (subtest) {
    parents.length = subtest[1].length / 4;
    parents.push(subtest[2]);
    continue;
  }
  const result = /^(\s*)(not ok|ok) \d+(?: -)? ?(.*?)(?:\s+#\s*(SKIP|TODO)\b.*)?$/i.exec(line);
  if (!result) continue;
  const depth = result[1].length / 4;
  const name = [...parents.slice(0, depth), result[3]].join(' > ');
  parents.length = depth;
  // lab numbers its tests ("(12) suite test"): the number is not part of the name.
  out.push(`${result[2] === 'ok' || result[4] ? 'ok' : 'not ok'}\t${prefix}${name.replace(/^\(\d+\) /, "")}`);
}
process.stdout.write(out.join('\n') + (out.length ? '\n' : ''));
