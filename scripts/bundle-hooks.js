#!/usr/bin/env node
'use strict';
/**
 * Part of `npm run build`: bundles the hooks' declarations (dist/hooks/*.js, one small file per hook)
 * into dist/hooks/index.js. The preload loads every declaration at start-up, and one file loads about
 * 5 ms sooner than 27 (resolving, reading and compiling each; docs/performance.md). What they import from outside
 * dist/hooks (the registry, the logger, each hook's span logic, loaded with its library) stays a
 * require of its own file, so module state is never duplicated. The per-hook files are removed:
 * nothing else loads them, and a second copy of a declaration would be a second hook.
 */
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const dir = path.join(__dirname, '..', 'dist', 'hooks');
const entry = path.join(dir, 'index.js');

/** Everything outside dist/hooks (`../…`) is loaded from its own file, as without the bundle. */
const outsideHooksExternal = {
  name: 'outside-hooks-external',
  setup(build) {
    build.onResolve({ filter: /^\.\.\// }, (args) => ({ path: args.path, external: true }));
  },
};

async function main() {
  await esbuild.build({
    entryPoints: [entry],
    outfile: entry,
    allowOverwrite: true,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    plugins: [outsideHooksExternal],
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  for (const file of fs.readdirSync(dir)) {
    if (!file.startsWith('index.') && (file.endsWith('.js') || file.endsWith('.js.map'))) fs.rmSync(path.join(dir, file));
  }
}

main().catch((err) => {
  process.stderr.write(`bundle-hooks: ${err.message}\n`);
  process.exitCode = 1;
});
