#!/usr/bin/env bash
# ioredis's own mocha suite (v6.0.0) without and with the hooks, compared test by test: what its `test:js`
# runs (test/helpers, test/unit, test/functional; the cluster and sentinel tests there use its in-process
# MockServer). Not run: `test:cluster` and test/scenario (a Docker Redis cluster, a fault injector) and
# `test:tsd` (types only). Its tests import ../../lib/*.ts, which the hooks never see (they match
# node_modules/ioredis/built/...): lib/ is compiled to built/ once and every built/**/*.js gets a symlink at
# the same path under lib/, so that those imports load built/ by its real path.
# The functional tests talk to a Redis at 127.0.0.1:6379, hard-coded (and FLUSHALL after every test): each
# run starts its own throwaway redis-server there, so 6379 must be free. Run it under the service script
# (which installs redis-server if missing): node scripts/with-services.js bash scripts/peers/ioredis.sh
# Fails if the run with the hooks recorded no ioredis span.
# IOREDIS_GIT may name a local clone, IOREDIS_TAG another tag. SETUP_ONLY=1 only lays it out, installs
# and compiles.
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/ioredis/node_modules/ioredis
TAG=${IOREDIS_TAG:-v6.0.0}

# From a local clone, docs/ is left out (the tests do not use it; git may still name a missing docs/ blob
# on stderr, and exits 0).
EXPORT_EXCLUDE=docs

install_ioredis() {
  npm ci --no-audit --no-fund --ignore-scripts
  rm -rf built && node_modules/.bin/tsc -p tsconfig.json --declaration false
  local f
  find built -name '*.js' | while read -r f; do ln -sr "$f" "lib/${f#built/}"; done
}
prepare "$DIR" "${IOREDIS_GIT:-https://github.com/redis/ioredis.git}" "$TAG" . install_ioredis
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

require_redis ioredis

# ts-node (the suite's mocha config) compiles the tests, not lib/ (built/ is loaded instead), nor the
# dev dependencies, nor the hooks' build.
export TS_NODE_IGNORE='(?:^|/)node_modules/,^lib/,^\.\./' TS_NODE_TRANSPILE_ONLY=true NODE_ENV=test
# Its `test:js` passes --no-experimental-strip-types, which node before 22.6 rejects.
STRIP=$(node -e 'process.exit(process.allowedNodeEnvironmentFlags.has("--no-experimental-strip-types") ? 0 : 1)' && echo --no-experimental-strip-types || true)

run_suite() {
  local tap
  # The TAP output (with each failure's message) is kept beside the results.
  tap=${RESULTS%.results}.tap
  # A fresh Redis on 6379 for each run.
  start_redis
  timeout 1800 node_modules/.bin/mocha $STRIP --reporter tap \
    "test/helpers/*.ts" "test/unit/**/*.ts" "test/functional/**/*.ts" >"$tap" 2>/dev/null || true
  tap_results "$tap"
  stop_redis
}
OUT=$PEERS_DIR/results/ioredis
status=0
run_twice "$OUT" run_suite || status=$?

# The hooks were active: the run with them recorded the client's commands.
require_spans "$OUT" ioredis "ioredis's built/Redis" || exit 1
exit "$status"
