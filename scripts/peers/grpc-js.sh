#!/usr/bin/env bash
# @grpc/grpc-js's own mocha suite (1.14.3) without and with the hooks, compared test by test (issue 24).
# As its gulp `test` task: every build/test/*.js with GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION=true, then
# test-resolver again with GRPC_NODE_USE_ALTERNATIVE_RESOLVER=true. Its `prepare` (protos copied from git
# submodules) is skipped: the generated code is in the repository, and the ORCA tests, which need those
# protos, fail in both runs alike. SETUP_ONLY=1 only lays it out, installs and compiles.
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/grpc-js/node_modules/@grpc/grpc-js

install_grpc_js() {
  # Its proto-loader devDependency is the monorepo sibling (file:../proto-loader): take the published one.
  npm pkg set 'devDependencies.@grpc/proto-loader=^0.8.0'
  npm install --no-audit --no-fund --no-package-lock --ignore-scripts
  node_modules/.bin/tsc -p . || true
  mkdir -p build/test && cp -r test/fixtures build/test/
}
prepare "$DIR" "${GRPC_GIT:-https://github.com/grpc/grpc-node.git}" @grpc/grpc-js@1.14.3 packages/grpc-js install_grpc_js
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

run_suite() {
  local tap
  tap=$(mktemp)
  GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION=true node_modules/.bin/mocha --reporter tap --require ts-node/register 'build/test/**/*.js' >"$tap" 2>/dev/null || true
  tap_results "$tap"
  GRPC_NODE_USE_ALTERNATIVE_RESOLVER=true node_modules/.bin/mocha --reporter tap --require ts-node/register build/test/test-resolver.js >"$tap" 2>/dev/null || true
  tap_results "$tap" alternative-resolver
  rm -f "$tap"
}
run_twice "$PEERS_DIR/results/grpc-js" run_suite
