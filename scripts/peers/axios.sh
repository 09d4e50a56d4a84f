#!/usr/bin/env bash
# axios's own mocha suite (what its `test:mocha` runs: test/unit/**/*.js; default: the tag of the axios in
# this repository's node_modules) without and with the hooks, compared test by test. Not run: `test:karma`
# (a browser), `test:dtslint` (types only), `test:exports` (packs and npm-installs the package) and eslint.
# Its tests import ../../../index.js and ../../../lib/*.js, ES modules that only the ES-module loader sees,
# and it hooks a package entry only when it is imported by the package's name: the tests' imports of
# ../../../index.js are rewritten to `axios` (a self-reference, which Node resolves to the same index.js
# through the package's exports), the copy lies at a real node_modules/axios/ path, and the run with the
# hooks preloads register.mjs (`--import`, as an ES-module app would; with `-r` register.js alone no ES
# import is hooked) instead of run_twice's `-r register.js`. No service: the tests start their own servers
# (some call out to the internet: they fail with and without the hooks when offline).
# Fails if the run with the hooks recorded no axios span.
# AXIOS_GIT may name a local clone, AXIOS_TAG another tag. AXIOS_DIST may name an installed axios package
# (e.g. this repository's node_modules/axios) whose index.js, lib/ and package.json replace the tag's, its
# dependencies taken from beside it (test files the two versions disagree on then fail with and without
# the hooks alike). SETUP_ONLY=1 only lays it out and installs.
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/axios/node_modules/axios
TAG=${AXIOS_TAG:-v$(node -p "require('$ROOT/node_modules/axios/package.json').version")}

install_axios() {
  npm ci --no-audit --no-fund --ignore-scripts
  local f
  grep -rl "'../../../index.js'" test/unit | while read -r f; do
    sed -i "s#from '../../../index.js'#from 'axios'#" "$f"
  done
}
prepare "$DIR" "${AXIOS_GIT:-https://github.com/axios/axios.git}" "$TAG" . install_axios
RESULTS_NAME=axios
if [ -n "${AXIOS_DIST:-}" ]; then
  # A second layout: the tag's tests and dev dependencies, the given package's sources and dependencies.
  DIST_DIR=$PEERS_DIR/axios-dist/node_modules/axios
  rm -rf "$DIST_DIR" && mkdir -p "$DIST_DIR/node_modules"
  (cd "$DIR" && tar -c --exclude=./node_modules --exclude=./lib --exclude=./index.js --exclude=./package.json .) | tar -x -C "$DIST_DIR"
  cp -R "$AXIOS_DIST/lib" "$AXIOS_DIST/index.js" "$AXIOS_DIST/package.json" "$DIST_DIR/"
  for f in "$DIR"/node_modules/* "$DIR"/node_modules/.bin; do ln -s "$f" "$DIST_DIR/node_modules/"; done
  link_dist_dependencies "$AXIOS_DIST" "$DIST_DIR/node_modules"
  DIR=$DIST_DIR
  RESULTS_NAME=axios-dist
fi
echo "axios $(node -p "require('$DIR/package.json').version") at $DIR; tests of $TAG"
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

OUT=$PEERS_DIR/results/$RESULTS_NAME
run_suite() {
  local tap
  tap=${RESULTS%.results}.tap
  # The hooks' ES-module preload (it installs the hooks as `-r register.js` does, and the loader first).
  if [ -n "${NODE_OPTIONS:-}" ]; then
    cp "$ROOT/register.mjs" "$OUT/agent/"
    NODE_OPTIONS="--import $OUT/agent/register.mjs"
  fi
  # What bin/ssl_hotfix.js adds on Node > 16 (it would replace NODE_OPTIONS, so it is not used).
  NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--openssl-legacy-provider" \
    timeout 1800 node_modules/.bin/mocha 'test/unit/**/*.js' --timeout 30000 --exit --reporter tap >"$tap" 2>"${tap%.tap}.stderr" || true
  tap_results "$tap"
}
status=0
run_twice "$OUT" run_suite || status=$?

# The hooks were active: the run with them recorded the suite's requests.
require_spans "$OUT" axios "node_modules/axios/index.js" || exit 1
exit "$status"
