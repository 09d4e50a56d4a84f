#!/usr/bin/env bash
# winston's own suite (what its `jest` runs: test/unit and test/integration, every *.test.js; default: the
# tag of the winston in this repository's node_modules) without and with the hooks, compared test by test.
# Not run: eslint and the TypeScript definitions check.
# jest loads a test's modules through its own module registry (vm scripts), which no require hook sees:
# under jest the hooks would never patch winston. Its tests are mocha-style (describe/it/beforeEach with
# `assume`), so each file runs in its own mocha process instead, as jest isolates files, with a small
# stand-in (written beside the copy) for the few jest APIs they use: it.each/describe.each, it.todo,
# jest.setTimeout (mocha's --timeout is used instead), jest.spyOn/resetAllMocks (jest 29's semantics: a reset spy returns undefined) and
# expect(spy).toHaveBeenCalledTimes/With. What jest's globalSetup does (removing old test logs) is done
# before each run.
# WINSTON_GIT may name a local clone, WINSTON_TAG another tag. SETUP_ONLY=1 only lays it out.
#
# The winston hook makes no span (it adds the active span's ids to each record logged inside a span), so
# require_spans cannot show that it applied: prove_hooked runs a small script under the same preload that
# checks that Logger.prototype.write is our wrapper (its layer symbol), that a record logged inside a span
# has trace_id and span_id, and that one logged outside has neither; it fails otherwise. It also runs that
# script without the preload, where it must report the hook absent (so the check can fail).
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/winston/node_modules/winston
TAG=${WINSTON_TAG:-v$(node -p "require('$ROOT/node_modules/winston/package.json').version")}

install_winston() {
  npm ci --no-audit --no-fund --ignore-scripts
  npm install --no-save --no-audit --no-fund --ignore-scripts mocha@10
}
prepare "$DIR" "${WINSTON_GIT:-https://github.com/winstonjs/winston.git}" "$TAG" . install_winston
echo "winston $(node -p "require('$DIR/package.json').version") at $DIR"
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

OUT=$PEERS_DIR/results/winston
SHIM=$PEERS_DIR/winston/jest-shim.js
cat >"$SHIM" <<'EOF'
'use strict';
// The jest APIs winston's tests use, for mocha (jest 29's semantics).
const spies = [];
function spyOn(obj, name) {
  const original = obj[name];
  let impl = original;
  const spy = function (...args) {
    spy.mock.calls.push(args);
    return impl === undefined ? undefined : impl.apply(this, args);
  };
  spy.mock = { calls: [] };
  spy.mockImplementation = (fn) => ((impl = fn), spy);
  spy.mockReset = () => ((spy.mock.calls = []), (impl = undefined), spy);
  spy.mockRestore = () => { obj[name] = original; };
  obj[name] = spy;
  spies.push(spy);
  return spy;
}
global.jest = {
  setTimeout() {},
  spyOn,
  resetAllMocks() { for (const s of spies) s.mockReset(); },
};
// it.each/describe.each (test titles formatted as jest-each does: printf placeholders, `$key` for object
// rows) and it.todo, added to mocha's globals as its BDD interface defines them before each file loads.
const util = require('node:util');
function title(template, row, index) {
  if (!Array.isArray(row) && row !== null && typeof row === 'object' && template.includes('$')) {
    return template.replace(/\$([A-Za-z_][\w.]*)/g, (m, key) => util.inspect(key.split('.').reduce((o, k) => (o == null ? o : o[k]), row), { depth: 0 }).replace(/^'(.*)'$/, '$1'));
  }
  const args = Array.isArray(row) ? [...row] : [row];
  return template.replace(/%([spdijfo#%])/g, (m, c) => {
    if (c === '%') return '%';
    if (c === '#') return String(index);
    if (args.length === 0) return m;
    const v = args.shift();
    if (c === 'p' || c === 'o') return util.inspect(v, { depth: 1 });
    if (c === 'j') return JSON.stringify(v);
    if (c === 'd' || c === 'i') return String(Math.trunc(Number(v)));
    if (c === 'f') return String(Number(v));
    return typeof v === 'string' ? v : util.format('%s', v);
  });
}
function addEach(fn, isSuite) {
  if (typeof fn !== 'function' || fn.each) return;
  fn.each = (table) => (template, body, timeout) => table.forEach((row, i) => {
    const args = Array.isArray(row) ? row : [row];
    const run = isSuite || body.length <= args.length
      ? function () { return body.apply(this, args); }
      : function (done) { return body.apply(this, [...args, done]); };
    const t = fn(title(template, row, i), run);
    if (!isSuite && timeout && t && t.timeout) t.timeout(timeout);
  });
  if (!isSuite) fn.todo = (name) => fn(name);
}
for (const [name, isSuite] of [['it', false], ['test', false], ['describe', true]]) {
  let value;
  Object.defineProperty(global, name, { configurable: true, enumerable: true, get: () => value, set: (fn) => { value = fn; addEach(fn, isSuite); } });
}
const assert = require('node:assert');
global.expect = (spy) => ({
  toHaveBeenCalledTimes: (n) => assert.strictEqual(spy.mock.calls.length, n),
  toHaveBeenCalledWith: (...args) => assert.ok(spy.mock.calls.some((c) => { try { assert.deepStrictEqual(c, args); return true; } catch { return false; } }), `not called with ${JSON.stringify(args)}`),
});
EOF

run_suite() {
  local taps f
  taps=${RESULTS%.results}.taps
  rm -rf "$taps" && mkdir -p "$taps"
  # jest's globalSetup.
  rm -f test/fixtures/logs/*log*
  find test/unit test/integration -name '*.test.js' | sort | while read -r f; do
    timeout 600 node_modules/.bin/mocha --require "$SHIM" --timeout 30000 --exit --reporter tap "$f" \
      >"$taps/$(echo "$f" | tr / _).tap" 2>&1 || true
    tap_results "$taps/$(echo "$f" | tr / _).tap" "$f"
  done
}

# prove_hooked <results dir>: the proof described above; its script is written to the results dir.
prove_hooked() {
  local out=$1
  cat >"$out/proof.js" <<'EOF'
'use strict';
// node proof.js <winston dir> <agent dir>: exit 0 only if the hook wrapped winston and adds ids inside a span only.
const path = require('node:path');
const { Writable } = require('node:stream');
const [dir, agent] = process.argv.slice(2);
const winston = require(dir);
const Logger = require(path.join(dir, 'lib', 'winston', 'logger'));
const lines = [];
const stream = new Writable({ write: (chunk, enc, cb) => (lines.push(JSON.parse(chunk)), cb()) });
const logger = winston.createLogger({ format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] });
const wrapped = Object.getOwnPropertySymbols(Logger.prototype.write).some((s) => s.description === 'opentracing-client-hooks.layer');
let inside = false;
try {
  require(path.join(agent, 'dist', 'index.js')).startActiveSpan('proof', {}, () => logger.info('inside', { a: 1 }));
} catch (err) {
  console.log(`no span: ${err.message}`);
}
logger.child({ c: 1 }).info('outside');
setImmediate(() => {
  inside = typeof lines[0]?.trace_id === 'string' && typeof lines[0]?.span_id === 'string';
  const outside = lines.at(-1).trace_id !== undefined || lines.at(-1).span_id !== undefined;
  console.log(`winston Logger.prototype.write wrapped: ${wrapped}; ids in a record logged inside a span: ${inside}; ids outside a span: ${outside}`);
  process.exitCode = wrapped && inside && !outside ? 0 : 1;
});
EOF
  require_proof "$out" winston "$DIR"
}

status=0
run_twice "$OUT" run_suite || status=$?
prove_hooked "$OUT" || exit 1
# Logging makes no span: the spans the suite's run recorded (its http transport tests' requests), for the record.
echo "spans recorded with hooks: $(wc -l <"$OUT/traces.jsonl" 2>/dev/null || echo 0) ($OUT/traces.jsonl)"
exit "$status"
