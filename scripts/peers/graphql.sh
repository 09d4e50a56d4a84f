#!/usr/bin/env bash
# graphql-js's own mocha suite (src/**/__tests__/**/*-test.ts; default: the tag of the graphql in this
# repository's node_modules) without and with the hooks, compared test by test. Its tests import ../*.ts,
# which the hooks never see (they match node_modules/graphql/execution/execute.js and the like): the
# package is built (`npm run build:npm`, npmDist), laid out at a real node_modules/graphql/ path beside
# the repository, and every built *.js gets a symlink at the same path under src/, so that the tests'
# imports load the built package by its real path (Node tries .js before .ts). Fails if the run with the
# hooks recorded no graphql span.
# GRAPHQL_GIT may name a local clone, GRAPHQL_TAG another tag. GRAPHQL_DIST may name an already built
# graphql package (e.g. this repository's node_modules/graphql) to run the tests against instead of the
# tag's own build (test files the two versions disagree on then fail with and without the hooks alike).
# SETUP_ONLY=1 only lays it out, installs and builds.
source "$(dirname "$0")/frameworks-suite.sh"
BASE=$PEERS_DIR/graphql
TAG=${GRAPHQL_TAG:-v$(node -p "require('$ROOT/node_modules/graphql/package.json').version")}
SRC=$BASE/graphql-js-${TAG}
DIST=$BASE/node_modules/graphql

install_graphql() {
  npm ci --no-audit --no-fund --ignore-scripts
  npm run build:npm
}
prepare "$SRC" "${GRAPHQL_GIT:-https://github.com/graphql/graphql-js.git}" "$TAG" . install_graphql

# The build at a real node_modules/graphql/ path, and src/**/*.js symlinks to it (renewed each run).
rm -rf "$DIST" && mkdir -p "$DIST"
cp -R "${GRAPHQL_DIST:-$SRC/npmDist}/." "$DIST/"
find "$SRC/src" -name '*.js' -type l -delete
(cd "$DIST" && find . -path ./node_modules -prune -o -name '*.js' -print) | while read -r f; do
  f=${f#./}
  [ -d "$SRC/src/$(dirname "$f")" ] && ln -s "$DIST/$f" "$SRC/src/$f"
done
echo "graphql $(node -p "require('$DIST/package.json').version") at $DIST; tests of $TAG from $SRC"
cd "$SRC"
[ -z "${SETUP_ONLY:-}" ] || exit 0

run_suite() {
  local tap
  tap=$(mktemp)
  # `npm run testonly` (.mocharc.yml: babel's ts register, --check-leaks, --throw-deprecation), TAP out.
  timeout 1200 node_modules/.bin/mocha --reporter tap 'src/**/__tests__/**/*-test.ts' >"$tap" 2>/dev/null || true
  tap_results "$tap"
  rm -f "$tap"
}
OUT=$PEERS_DIR/results/graphql
status=0
run_twice "$OUT" run_suite || status=$?

# The hooks were active: the run with them recorded the suite's operations.
require_spans "$OUT" graphql "node_modules/graphql/execution/execute.js" || exit 1
exit "$status"
