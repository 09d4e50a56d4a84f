#!/usr/bin/env bash
# undici's own node:test suite (default: the tag of the undici in this repository's node_modules) without
# and with the hooks, compared test by test. Runs, one `node --test` process per file as borp runs them,
# the JavaScript parts of its `test:javascript:no-jest`: test:unit (test/*.js, with --expose-gc),
# test:fetch (test/fetch/*.js one file at a time, with --expose-gc; then test/webidl and test/busboy),
# test:node-fetch, test:infra, test:cache, test:cache-interceptor, test:interceptors, test:cookies,
# test:eventsource, test:subresource-integrity, test:websocket and test:node-test.
# Not run: test:wpt and test:cache-tests (git submodules of other repositories, fetched from the
# internet), test:jest and test:typescript (types, and jest's wasm/browser checks), test:fuzzing and the
# autobahn WebSocket suite (docker), and the benchmarks.
# Its tests require('..') / require('../..'), the repository root: the copy lies at a real
# node_modules/undici/ path, where the hooks match undici's index.js. No service: the tests start their own
# servers. Fails if the run with the hooks recorded no span of component `undici` or `fetch`.
# UNDICI_GIT may name a local clone, UNDICI_TAG another tag. UNDICI_DIST may name an installed undici
# package (e.g. this repository's node_modules/undici) whose index.js, index-fetch.js, lib/, types/ and
# package.json replace the tag's (test files the two versions disagree on then fail with and without the
# hooks alike). UNDICI_PARTS picks parts (space-separated, from: unit fetch webidl busboy node-fetch infra
# cache cache-interceptor interceptors cookie eventsource subresource-integrity websocket node-test).
# JOBS (default 2) files run at once (test/fetch: one). SETUP_ONLY=1 only lays it out and installs;
# UNDICI_RECHECK=1 compares the last runs' results again and redoes only the pass without trace headers.
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/undici/node_modules/undici
TAG=${UNDICI_TAG:-v$(node -p "require('$ROOT/node_modules/undici/package.json').version")}

# From a local clone, the benchmarks and the submodules' paths are left out (no test of those run here;
# test/examples.js runs docs/examples).
EXPORT_EXCLUDE="benchmarks test/web-platform-tests/wpt test/fixtures/cache-tests"

install_undici() {
  npm install --no-audit --no-fund --no-package-lock --ignore-scripts
  # What test:javascript:no-jest runs first: the test certificates, and (test:fetch) the undici-fetch.js bundle.
  node scripts/generate-pem.js
  npm run build:node
}
prepare "$DIR" "${UNDICI_GIT:-https://github.com/nodejs/undici.git}" "$TAG" . install_undici
# A dev dependency (borp's GitHub reporter, through @actions/http-client) brings undici 6 to
# node_modules/undici, where require('undici') from the tests (below) would find it: it moves beneath
# its dependent.
if [ -d "$DIR/node_modules/undici" ] && [ ! -L "$DIR/node_modules/undici" ]; then
  mkdir -p "$DIR/node_modules/@actions/http-client/node_modules"
  mv "$DIR/node_modules/undici" "$DIR/node_modules/@actions/http-client/node_modules/"
fi
RESULTS_NAME=undici
if [ -n "${UNDICI_DIST:-}" ]; then
  # A second layout: the tag's tests and dev dependencies, the given package's sources (undici has no
  # dependencies), and its undici-fetch.js bundle rebuilt from them.
  DIST_DIR=$PEERS_DIR/undici-dist/node_modules/undici
  rm -rf "$DIST_DIR" && mkdir -p "$DIST_DIR/node_modules"
  (cd "$DIR" && tar -c --exclude=./node_modules --exclude=./lib --exclude=./types --exclude=./index.js \
    --exclude=./index-fetch.js --exclude=./undici-fetch.js --exclude=./package.json --exclude='./.prepared-*' .) | tar -x -C "$DIST_DIR"
  cp -R "$UNDICI_DIST/lib" "$UNDICI_DIST/types" "$UNDICI_DIST/index.js" "$UNDICI_DIST/index-fetch.js" "$DIST_DIR/"
  # Its package.json (version, exports), with the tag's scripts (build:node).
  node -e "
    const fs = require('fs');
    const dist = JSON.parse(fs.readFileSync(process.argv[1] + '/package.json', 'utf8'));
    const tag = JSON.parse(fs.readFileSync(process.argv[2] + '/package.json', 'utf8'));
    dist.scripts = tag.scripts;
    fs.writeFileSync(process.argv[3] + '/package.json', JSON.stringify(dist, null, 2));" "$UNDICI_DIST" "$DIR" "$DIST_DIR"
  for f in "$DIR"/node_modules/* "$DIR"/node_modules/.bin; do ln -s "$f" "$DIST_DIR/node_modules/"; done
  (cd "$DIST_DIR" && npm run build:node) >"$DIST_DIR.prepare.log" 2>&1
  DIR=$DIST_DIR
  RESULTS_NAME=undici-dist
fi
# The tests load the package by its path (require('..'), require('../..'), '../../index.js'...), which the
# hooks take for a file inside undici, not its entry: they would see undici's diagnostics channels only,
# never its fetch/request entry points. Those requires become require('undici') (resolved from
# node_modules/undici/test/..., that is this same index.js).
REWRITE=$PEERS_DIR/undici/require-undici.js
cat >"$REWRITE" <<'EOF'
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const root = process.argv[2];
const entries = new Set([root, path.join(root, 'index'), path.join(root, 'index.js')]);
let files = 0;
let requires = 0;
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const f = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules') walk(f);
      continue;
    }
    if (!e.name.endsWith('.js')) continue;
    const text = fs.readFileSync(f, 'utf8');
    const out = text.replace(/require\((["'])((?:\.\.\/)*\.\.(?:\/index(?:\.js)?)?\/?)\1\)/g, (m, q, spec) => {
      if (!entries.has(path.resolve(path.dirname(f), spec))) return m;
      requires++;
      return "require('undici')";
    });
    if (out !== text) {
      fs.writeFileSync(f, out);
      files++;
    }
  }
})(path.join(root, 'test'));
if (files !== 0) console.log(`require(<package root>) -> require('undici'): ${requires} in ${files} test files`);
EOF
node "$REWRITE" "$DIR"
echo "undici $(node -p "require('$DIR/package.json').version") at $DIR; tests of $TAG"
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

# part name, node flags, file pattern (as the package's scripts name them, borp's globs).
PARTS=${UNDICI_PARTS:-unit fetch webidl busboy node-fetch infra cache cache-interceptor interceptors cookie eventsource subresource-integrity websocket node-test}
part_files() {
  case "$1" in
    unit) ls test/*.js ;;
    node-fetch | websocket | node-test) find "test/$1" -name '*.js' -not -path '*/fixtures/*' | sort ;;
    *) ls "test/$1"/*.js 2>/dev/null || true ;;
  esac
}
part_flags() {
  case "$1" in unit | fetch | eventsource) echo --expose-gc ;; esac
}
export -f part_flags

run_suite() {
  local taps part jobs f
  taps=${RESULTS%.results}.taps
  rm -rf "$taps" && mkdir -p "$taps"
  for part in $PARTS; do
    jobs=${JOBS:-2}
    [ "$part" = fetch ] && jobs=1
    # One process per file, as borp (--timeout 180000) runs them; the file's TAP kept beside the results.
    # ONLY_FILES (a file of paths) narrows the run to those files.
    part_files "$part" | { if [ -n "${ONLY_FILES:-}" ]; then grep -Fxf "$ONLY_FILES" || true; else cat; fi; } | \
      xargs -r -P "$jobs" -I{} sh -c \
      'f={}; timeout 600 node $1 --test --test-reporter=tap --test-timeout=180000 "$f" >"$0/$(echo "$f" | tr / _).tap" 2>&1' \
      "$taps" "$(part_flags "$part")"
  done
  for f in "$taps"/*.tap; do [ -e "$f" ] && tap_results "$f" "$(basename "$f" .tap)"; done
  return 0
}
OUT=$PEERS_DIR/results/$RESULTS_NAME
status=0
if [ -n "${UNDICI_RECHECK:-}" ] && [ -s "$OUT/hooked.results" ]; then
  # UNDICI_RECHECK=1: the last two runs' results again, and the pass below.
  node "$ROOT/scripts/peers/compare-results.js" "$OUT/plain.results" "$OUT/hooked.results" || status=$?
else
  run_twice "$OUT" run_suite || status=$?
fi

# Several tests assert the exact headers a request sent or a server received, which the trace headers
# (traceparent...) the hooks add change: the expected effect of propagation. The files of the tests that
# failed only with the hooks run once more with the hooks but no trace headers (OT_PROPAGATION=none: the
# built-in tracer injects nothing). A test that passes then failed because of the trace headers alone
# (listed, not counted against the hooks); one that still fails is a finding (status 1).
if [ "$status" -ne 0 ]; then
  node -e '
    const fs = require("fs");
    const read = (f) => { const m = new Map(); for (const l of fs.readFileSync(f, "utf8").split("\n").filter(Boolean)) { const n = l.slice(l.indexOf("\t") + 1); if (m.get(n) !== "not ok") m.set(n, l.slice(0, l.indexOf("\t"))); } return m; };
    const plain = read(process.argv[1]), hooked = read(process.argv[2]);
    for (const [n, r] of hooked) if (r === "not ok" && plain.get(n) !== "not ok") console.log(n);' \
    "$OUT/plain.results" "$OUT/hooked.results" >"$OUT/hook-only.txt"
  : >"$OUT/hook-only-files.txt"
  for part in $PARTS; do
    part_files "$part" | while read -r f; do
      sed 's/ > .*//' "$OUT/hook-only.txt" | grep -qxF "$(echo "$f" | tr / _)" && echo "$f" >>"$OUT/hook-only-files.txt" || true
    done
  done
  if [ -s "$OUT/hook-only-files.txt" ]; then
    echo "== with hooks, no trace headers (OT_PROPAGATION=none): $(wc -l <"$OUT/hook-only-files.txt") file(s)"
    : >"$OUT/nopropagation.results"
    ONLY_FILES="$OUT/hook-only-files.txt" RESULTS="$OUT/nopropagation.results" OT_TRACER=jsonl \
      OT_TRACER_FILE="$OUT/traces-nopropagation.jsonl" OT_PROPAGATION=none \
      NODE_OPTIONS="-r $OUT/agent/register.js" run_suite >"$OUT/nopropagation.log" 2>&1 || true
  else
    : >"$OUT/nopropagation.results"
  fi
  node -e '
    const fs = require("fs");
    const read = (f) => { const m = new Map(); for (const l of fs.readFileSync(f, "utf8").split("\n").filter(Boolean)) { const n = l.slice(l.indexOf("\t") + 1); if (m.get(n) !== "not ok") m.set(n, l.slice(0, l.indexOf("\t"))); } return m; };
    const plain = read(process.argv[1]), hooked = read(process.argv[2]), noprop = read(process.argv[3]);
    const hookOnly = fs.readFileSync(process.argv[4], "utf8").split("\n").filter(Boolean);
    // A file-level entry (its name the file: a file that timed out after a failed test) absent from
    // the rerun of its file is a file that did not fail then.
    const ran = new Set([...noprop.keys()].map((n) => n.split(" > ")[0]));
    const passed = (n) => noprop.get(n) === "ok" || (!noprop.has(n) && ran.has(n.split(" > ")[0]));
    const headers = hookOnly.filter(passed);
    const still = hookOnly.filter((n) => !passed(n));
    const missing = [...plain.keys()].filter((n) => !hooked.has(n));
    console.log(`only with hooks: ${hookOnly.length}; of those ${headers.length} pass with the hooks but no trace headers, ${still.length} fail then too`);
    for (const n of headers) console.log(`  trace headers only: ${n}`);
    for (const n of still) console.log(`  FAILS WITH HOOKS, EVEN WITHOUT TRACE HEADERS: ${n}`);
    process.exitCode = still.length !== 0 || missing.length !== 0 ? 1 : 0;' \
    "$OUT/plain.results" "$OUT/hooked.results" "$OUT/nopropagation.results" "$OUT/hook-only.txt" && status=0 || status=1
fi

# The hooks were active: the run with them recorded the suite's requests (undici.request, Client and
# Dispatcher requests: component undici; undici.fetch: component fetch).
require_spans "$OUT" undici "node_modules/undici/index.js (request, Dispatcher#request) and its diagnostics channels" || exit 1
require_spans "$OUT" fetch "node_modules/undici/index.js (fetch)" || exit 1
exit "$status"
