#!/usr/bin/env node
'use strict';
/**
 * Fails on any import cycle in src/, and on any import that points up (docs/development.md, "Shape of the
 * code"). The graph is madge's (settings in .madgerc): `import type`, `typeof import()` and the lazy
 * `require()` calls count as imports, so a cycle that only types or a lazy load close is found too.
 *
 *   npm run check:cycles
 */
const fs = require('node:fs');
const path = require('node:path');
const madge = require('madge');

/** Leaves and cores of the span side: they import no hook half, and not the registry's machinery. */
const SPAN_SIDE = /^(cores\/|context\/|spans\.ts$|apply-args\.ts$|hook-tracer\.ts$|active-copy\.ts$|export-targets\.ts$|sql\.ts$|redis-statement\.ts$|url\.ts$|matchers\.ts$|logger\.ts$)/;

/** [importer, imported, why]: an import from a file matching the first to one matching the second is refused. */
const RULES = [
  [/^registry\//, /^(?!registry\/|logger\.ts$|apply-args\.ts$)/, 'the registry only patches: it imports itself and the leaves logger and apply-args, nothing span-side'],
  [/^tracing\//, /^hooks\//, 'span logic never imports a declaration (its options are in src/options/)'],
  [/^options\//, /^(hooks|tracing)\//, 'a hook\'s options sit below both of its halves'],
  [SPAN_SIDE, /^(hooks|tracing|options)\/|^registry\/index\.ts$/, 'the span side imports no hook and not the registry\'s machinery'],
  [/^tracer\//, /^(cores|hooks|tracing|registry)\//, 'the built-in tracer reaches the hooks\' side through leaves (export-targets)'],
];

async function main() {
  const root = path.join(__dirname, '..');
  const config = JSON.parse(fs.readFileSync(path.join(root, '.madgerc'), 'utf8'));
  const result = await madge(path.join(root, 'src'), { ...config, tsConfig: path.join(root, config.tsConfig) });
  const problems = [];
  for (const cycle of result.circular()) problems.push(`cycle: ${cycle.join(' -> ')} -> ${cycle[0]}`);
  const graph = result.obj();
  for (const [from, imports] of Object.entries(graph)) {
    for (const to of imports) {
      for (const [importer, imported, why] of RULES) {
        if (importer.test(from) && imported.test(to)) problems.push(`${from} -> ${to}: ${why}`);
      }
    }
  }
  const files = Object.keys(graph).length;
  if (problems.length > 0) {
    process.stderr.write(`check:cycles: ${problems.length} problem(s) in the imports of src/ (${files} files):\n${problems.map((p) => `  ${p}\n`).join('')}`);
    process.exit(1);
  }
  process.stdout.write(`check:cycles: no import cycle and no upward import in src/ (${files} files)\n`);
}

main().catch((err) => {
  process.stderr.write(`check:cycles: ${err.stack || err.message}\n`);
  process.exit(1);
});
