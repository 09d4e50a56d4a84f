#!/usr/bin/env bash
# @grpc/grpc-js's own mocha suite (1.14.3) without and with the hooks, compared test by test (issue 24).
# As its gulp `test` task: every build/test/*.js with GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION=true, then
# test-resolver again with GRPC_NODE_USE_ALTERNATIVE_RESOLVER=true. The xDS protos that its `prepare`
# copies from git submodules are not fetched: the ORCA tests fail in both runs alike.
source "$(dirname "$0")/frameworks-suite.sh"
TAG=@grpc/grpc-js@1.14.3
BASE=$PEERS_DIR/grpc-js/node_modules/@grpc
DIR=$BASE/grpc-js
if [ ! -f "$DIR/.installed" ]; then
  export_tag "${GRPC_GIT:-https://github.com/grpc/grpc-node.git}" "$TAG" packages/grpc-js "$DIR"
  (
    cd "$DIR"
    # Its proto-loader devDependency is the monorepo sibling (file:../proto-loader): take the published one.
    npm pkg set 'devDependencies.@grpc/proto-loader=^0.8.0'
    npm install --no-audit --no-fund --no-package-lock --ignore-scripts
    node_modules/.bin/tsc -p . || true
    mkdir -p build/test && cp -r test/fixtures build/test/
  ) >"$PEERS_DIR/grpc-js/install.log" 2>&1
  touch "$DIR/.installed"
fi
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

run_suite() {
  local tap
  tap=$(mktemp)
  GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION=true node_modules/.bin/mocha --reporter tap --require ts-node/register 'build/test/**/*.js' >"$tap" 2>/dev/null || true
  node "$ROOT/scripts/peers/tap-results.js" <"$tap" >"$RESULTS"
  GRPC_NODE_USE_ALTERNATIVE_RESOLVER=true node_modules/.bin/mocha --reporter tap --require ts-node/register build/test/test-resolver.js >"$tap" 2>/dev/null || true
  node "$ROOT/scripts/peers/tap-results.js" --prefix alternative-resolver <"$tap" >>"$RESULTS"
  rm -f "$tap"
}
run_twice "$PEERS_DIR/results/grpc-js" run_suite
