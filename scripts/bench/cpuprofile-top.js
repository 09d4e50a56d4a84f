#!/usr/bin/env node
'use strict';
/**
 * Summarises V8 CPU profiles (`--cpu-prof`, e.g. from `BENCH_CPU_PROF=prof npm run bench`):
 *   node scripts/bench/cpuprofile-top.js prof/ioredis-builtin-r1.cpuprofile [more.cpuprofile…] [--top 25]
 * Prints the frames with the most self time, then self time by origin (this package's dist/ files,
 * each node_modules package, Node internals, GC, idle). Several files are added together.
 */
const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
let top = 25;
const files = [];
const baseFiles = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (args[i] === '--diff') baseFiles.push(args[++i]);
  else files.push(args[i]);
}
if (files.length === 0) {
  process.stderr.write('usage: node scripts/bench/cpuprofile-top.js <file.cpuprofile>… [--diff <baseline.cpuprofile>]… [--top N]\n');
  process.exit(2);
}
process.stdout.on('error', () => process.exit(0)); // e.g. piped into head

const root = path.resolve(__dirname, '..', '..');

function origin(url, functionName) {
  if (!url) {
    if (functionName === '(garbage collector)') return '(gc)';
    if (functionName === '(idle)' || functionName === '(program)') return functionName;
    return `(native) ${functionName}`;
  }
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = file.slice(nm + 14).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (file.startsWith(path.join(root, 'dist'))) return `dist/${path.relative(path.join(root, 'dist'), file)}`;
  if (file.startsWith('node:')) return 'node internals';
  return path.relative(root, file);
}

/** Self time (µs) by frame and by origin, idle excluded, summed over the files. */
function load(list) {
  const byFrame = new Map();
  const byOrigin = new Map();
  let total = 0;
  for (const file of list) {
    const profile = JSON.parse(fs.readFileSync(file, 'utf8'));
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map();
    for (let i = 0; i < profile.samples.length; i++) {
      const dt = profile.timeDeltas[i + 1] ?? 0; // the delta after a sample is the time spent in it
      self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + dt);
    }
    for (const [id, us] of self) {
      const { functionName, url, lineNumber } = nodes.get(id).callFrame;
      const o = origin(url, functionName);
      if (o === '(idle)') continue;
      total += us;
      const key = url ? `${functionName || '(anonymous)'}  ${o}:${lineNumber + 1}` : o;
      byFrame.set(key, (byFrame.get(key) ?? 0) + us);
      byOrigin.set(o, (byOrigin.get(o) ?? 0) + us);
    }
  }
  return { byFrame, byOrigin, total };
}

const ms = (us) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
const cur = load(files);
if (baseFiles.length === 0) {
  const pct = (us) => `${((us / cur.total) * 100).toFixed(1).padStart(5)}%`;
  process.stdout.write(`${files.length} profile(s), ${(cur.total / 1000).toFixed(0)} ms of samples (idle excluded)\n\nTop frames by self time:\n`);
  for (const [key, us] of [...cur.byFrame].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(us)} ${ms(us)}  ${key}\n`);
  process.stdout.write('\nSelf time by origin:\n');
  for (const [key, us] of [...cur.byOrigin].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(us)} ${ms(us)}  ${key}\n`);
} else {
  // Same calls in both runs (same bench settings): the differences are what the variant adds.
  const base = load(baseFiles);
  const diff = (a, b) => {
    const keys = new Set([...a.keys(), ...b.keys()]);
    return [...keys].map((k) => [k, (a.get(k) ?? 0) - (b.get(k) ?? 0)]).sort((x, y) => y[1] - x[1]);
  };
  const added = cur.total - base.total;
  process.stdout.write(`${(cur.total / 1000).toFixed(0)} ms vs ${(base.total / 1000).toFixed(0)} ms of samples: ${ms(added).trim()} added\n\nFrames adding the most self time:\n`);
  for (const [key, us] of diff(cur.byFrame, base.byFrame).slice(0, top)) process.stdout.write(`${ms(us)}  ${key}\n`);
  process.stdout.write('\nAdded self time by origin:\n');
  for (const [key, us] of diff(cur.byOrigin, base.byOrigin).slice(0, top)) process.stdout.write(`${ms(us)}  ${key}\n`);
}
