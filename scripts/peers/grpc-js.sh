#!/usr/bin/env bash
# @grpc/grpc-js's own mocha suite (1.14.3) without and with the hooks, compared test by test (issue 24).
# As its gulp `test` task: every build/test/*.js with GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION=true, then
# test-resolver again with GRPC_NODE_USE_ALTERNATIVE_RESOLVER=true. Its `prepare` is replaced by what it
# needs of it: the generated code is in the repository; the ORCA protos it copies from grpc-js-xds's git
# submodules are taken from those repositories at the pinned commits (XDS_GIT, PGV_GIT may name local
# clones). The DNS tests need the internet. SETUP_ONLY=1 only lays it out, installs and compiles.
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

# submodule_file <git dir or URL> <commit> <path> <destination>
submodule_file() {
  local src=$1 commit=$2 file=$3 dest=$4 tmp
  mkdir -p "$(dirname "$dest")"
  if [ -d "$src" ]; then
    git --git-dir="$src" show "$commit:$file" >"$dest"
  else
    tmp=$(mktemp -d)
    git -C "$tmp" init -q && git -C "$tmp" fetch -q --depth 1 "$src" "$commit" && git -C "$tmp" show "FETCH_HEAD:$file" >"$dest"
    rm -rf "$tmp"
  fi
}
if [ ! -f proto/xds/xds/service/orca/v3/orca.proto ]; then
  XDS=${XDS_GIT:-https://github.com/cncf/xds.git} XDS_COMMIT=3a472e524827f72d1ad621c4983dd5af54c46776
  PGV=${PGV_GIT:-https://github.com/envoyproxy/protoc-gen-validate.git} PGV_COMMIT=0af61d9dc28712dc0e6f8e1a940855a2ee0cb9ed
  submodule_file "$PGV" $PGV_COMMIT LICENSE proto/protoc-gen-validate/LICENSE
  submodule_file "$PGV" $PGV_COMMIT validate/validate.proto proto/protoc-gen-validate/validate/validate.proto
  submodule_file "$XDS" $XDS_COMMIT LICENSE proto/xds/LICENSE
  submodule_file "$XDS" $XDS_COMMIT xds/data/orca/v3/orca_load_report.proto proto/xds/xds/data/orca/v3/orca_load_report.proto
  submodule_file "$XDS" $XDS_COMMIT xds/service/orca/v3/orca.proto proto/xds/xds/service/orca/v3/orca.proto
fi
[ -z "${SETUP_ONLY:-}" ] || exit 0

run_suite() {
  local tap
  tap=$(mktemp)
  GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION=true node_modules/.bin/mocha --reporter tap --require ts-node/register 'build/test/**/*.js' >"$tap" 2>"$tap.err" || true
  # A suite that cannot even load shows in the log, not as zero tests.
  cat "$tap.err" >&2 && rm -f "$tap.err"
  tap_results "$tap"
  GRPC_NODE_USE_ALTERNATIVE_RESOLVER=true node_modules/.bin/mocha --reporter tap --require ts-node/register build/test/test-resolver.js >"$tap" 2>/dev/null || true
  tap_results "$tap" alternative-resolver
  rm -f "$tap"
}
run_twice "$PEERS_DIR/results/grpc-js" run_suite
