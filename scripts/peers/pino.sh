#!/usr/bin/env bash
# pino's own suite (what its `borp` runs: every test/**/*.test.{js,mjs} but the type tests, one `node --test`
# per file, as borp runs them) without and with the hooks, compared test by test. Default: the tag of the
# pino in this repository's node_modules. Not run: eslint, the type tests (tsc, tstyche/tsd, attw), jest's
# test/jest and the browser tests' airtap pass (their node:test files do run), nor
# test/transport/core.transpiled.test.ts (borp runs it with ts-node; node 20 cannot load .ts).
# PINO_GIT may name a local clone, PINO_TAG another tag. PINO_DIST may name an installed pino package (e.g.
# this repository's node_modules/pino): pino publishes its test/ directory, so that package is tested with
# its own tests (the exact version, when the clone has no tag for it). SETUP_ONLY=1 only lays it out.
#
# The pino hook makes no span (it adds the active span's ids to each line logged inside a span), so
# require_spans cannot show that it applied: prove_hooked runs a small script under the same preload that
# checks that the loggers' shared asJson is our wrapper (its layer symbol), that a line logged inside a span
# has trace_id and span_id, and that one logged outside has neither; it fails otherwise. It also runs that
# script without the preload, where it must report the hook absent (so the check can fail).
source "$(dirname "$0")/frameworks-suite.sh"
TAG=${PINO_TAG:-v$(node -p "require('$ROOT/node_modules/pino/package.json').version")}

install_pino() {
  # Tools of the tests that are not run (lint, browsers, docs, type checks) are not installed.
  npm pkg delete devDependencies.airtap devDependencies.docsify-cli devDependencies.@arethetypeswrong/cli \
    devDependencies.eslint devDependencies.eslint-plugin-import devDependencies.eslint-plugin-n \
    devDependencies.eslint-plugin-node devDependencies.eslint-plugin-promise devDependencies.neostandard \
    devDependencies.jest devDependencies.tsd devDependencies.tstyche devDependencies.midnight-smoker
  npm install --no-audit --no-fund --no-package-lock --ignore-scripts
  # What its `transpile` script makes: the compiled TypeScript transport fixtures some transport tests load.
  PATH=$PWD/node_modules/.bin:$PATH node test/fixtures/ts/transpile.cjs
}

if [ -n "${PINO_DIST:-}" ]; then
  DIR=$PEERS_DIR/pino-dist/node_modules/pino
  RESULTS_NAME=pino-dist
  marker="$DIR/.prepared-$(node -p "require('$PINO_DIST/package.json').version")"
  if [ ! -f "$marker" ]; then
    rm -rf "$DIR" && mkdir -p "$DIR"
    (cd "$PINO_DIST" && tar -c --exclude=./node_modules .) | tar -x -C "$DIR"
    (cd "$DIR" && install_pino) >"$DIR.prepare.log" 2>&1
    touch "$marker"
  fi
else
  DIR=$PEERS_DIR/pino/node_modules/pino
  RESULTS_NAME=pino
  prepare "$DIR" "${PINO_GIT:-https://github.com/pinojs/pino.git}" "$TAG" . install_pino
fi
echo "pino $(node -p "require('$DIR/package.json').version") at $DIR"
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

OUT=$PEERS_DIR/results/$RESULTS_NAME
run_suite() {
  local taps f
  taps=$(mktemp -d)
  find test -name '*.test.js' -o -name '*.test.mjs' | grep -v -e '^test/types/' -e '^test/jest/' | sort | \
    xargs -P "${JOBS:-2}" -I{} sh -c 'f={}; timeout 600 node --test --test-reporter=tap --test-timeout=60000 "$f" >"$0/$(echo "$f" | tr / _).tap" 2>&1' "$taps"
  for f in "$taps"/*.tap; do tap_results "$f" "$(basename "$f" .tap)"; done
  cp -R "$taps" "${RESULTS%.results}.taps"
  rm -rf "$taps"
}

# prove_hooked <results dir>: the proof described above; its script is written to the results dir.
prove_hooked() {
  local out=$1
  cat >"$out/proof.js" <<'EOF'
'use strict';
// node proof.js <pino dir> <agent dir>: exit 0 only if the hook wrapped pino and adds ids inside a span only.
const path = require('node:path');
const [dir, agent] = process.argv.slice(2);
const pino = require(dir);
const { asJsonSym } = require(path.join(dir, 'lib', 'symbols'));
const lines = [];
const stream = { write: (s) => lines.push(JSON.parse(s)) };
const logger = pino({}, stream);
const fn = Object.getPrototypeOf(logger)[asJsonSym];
const wrapped = Object.getOwnPropertySymbols(fn).some((s) => s.description === 'opentracing-client-hooks.layer');
let inside = false;
try {
  require(path.join(agent, 'dist', 'index.js')).startActiveSpan('proof', {}, () => logger.info({ a: 1 }, 'inside'));
  inside = typeof lines[0]?.trace_id === 'string' && typeof lines[0]?.span_id === 'string';
} catch (err) {
  console.log(`no span: ${err.message}`);
}
logger.child({ c: 1 }).info('outside');
const outside = lines.at(-1).trace_id !== undefined || lines.at(-1).span_id !== undefined;
console.log(`pino asJson wrapped: ${wrapped}; ids in a line logged inside a span: ${inside}; ids outside a span: ${outside}`);
process.exitCode = wrapped && inside && !outside ? 0 : 1;
EOF
  require_proof "$out" pino "$DIR"
}

status=0
run_twice "$OUT" run_suite || status=$?
prove_hooked "$OUT" || exit 1
# Logging makes no span: the spans the suite's run recorded (its http tests' requests), for the record.
echo "spans recorded with hooks: $(wc -l <"$OUT/traces.jsonl" 2>/dev/null || echo 0) ($OUT/traces.jsonl)"
exit "$status"
