#!/usr/bin/env bash
# bunyan's own suite (what its `npm test` runs: `tap test/*.test.js`, the dtrace tests skipped as there;
# default: the tag of the bunyan in this repository's node_modules) without and with the hooks, compared
# test by test. Each file is a plain tap (node-tap 9) script: it runs in its own node process, as tap runs
# them, and its TAP is read test by test (tap's ` # time=` suffixes removed, which differ from run to run).
# BUNYAN_GIT may name a local clone, BUNYAN_TAG another tag. SETUP_ONLY=1 only lays it out.
#
# The bunyan hook makes no span (it adds the active span's ids to each record logged inside a span), so
# require_spans cannot show that it applied: prove_hooked runs a small script under the same preload that
# checks that Logger.prototype._emit is our wrapper (its layer symbol), that a record logged inside a span
# has trace_id and span_id, and that one logged outside has neither; it fails otherwise. It also runs that
# script without the preload, where it must report the hook absent (so the check can fail).
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/bunyan/node_modules/bunyan
TAG=${BUNYAN_TAG:-$(node -p "require('$ROOT/node_modules/bunyan/package.json').version")}

prepare "$DIR" "${BUNYAN_GIT:-https://github.com/trentm/node-bunyan.git}" "$TAG" . \
  npm install --no-audit --no-fund --no-package-lock --ignore-scripts
echo "bunyan $(node -p "require('$DIR/package.json').version") at $DIR"
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

OUT=$PEERS_DIR/results/bunyan
run_suite() {
  local taps f tap
  taps=${RESULTS%.results}.taps
  rm -rf "$taps" && mkdir -p "$taps"
  for f in test/*.test.js; do
    tap=$taps/$(basename "$f").tap
    timeout 600 node "$f" >"$tap" 2>"${tap%.tap}.stderr" || echo "not ok 9999 - $f exited with status $?" >>"$tap"
    # Its assertion names carry the run's time and (cli.test.js) a stderr whose lines come in any order.
    sed -i -E -e 's/ # time=[0-9.]+m?s$//' -e 's/, stderr=".*$//' "$tap"
    tap_results "$tap" "$f"
  done
}

# prove_hooked <results dir>: the proof described above; its script is written to the results dir.
prove_hooked() {
  local out=$1
  cat >"$out/proof.js" <<'EOF'
'use strict';
// node proof.js <bunyan dir> <agent dir>: exit 0 only if the hook wrapped bunyan and adds ids inside a span only.
const path = require('node:path');
const [dir, agent] = process.argv.slice(2);
const bunyan = require(dir);
const records = [];
const logger = bunyan.createLogger({ name: 'proof', streams: [{ type: 'raw', stream: { write: (r) => records.push(r) } }] });
const wrapped = Object.getOwnPropertySymbols(bunyan.prototype._emit).some((s) => s.description === 'opentracing-client-hooks.layer');
let inside = false;
try {
  require(path.join(agent, 'dist', 'index.js')).startActiveSpan('proof', {}, () => logger.info({ a: 1 }, 'inside'));
  inside = typeof records[0]?.trace_id === 'string' && typeof records[0]?.span_id === 'string';
} catch (err) {
  console.log(`no span: ${err.message}`);
}
logger.child({ c: 1 }).info('outside');
const outside = records.at(-1).trace_id !== undefined || records.at(-1).span_id !== undefined;
console.log(`bunyan Logger.prototype._emit wrapped: ${wrapped}; ids in a record logged inside a span: ${inside}; ids outside a span: ${outside}`);
process.exitCode = wrapped && inside && !outside ? 0 : 1;
EOF
  require_proof "$out" bunyan "$DIR"
}

status=0
run_twice "$OUT" run_suite || status=$?
prove_hooked "$OUT" || exit 1
echo "spans recorded with hooks: $(wc -l <"$OUT/traces.jsonl" 2>/dev/null || echo 0) ($OUT/traces.jsonl)"
exit "$status"
