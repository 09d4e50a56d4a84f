#!/usr/bin/env bash
# @hapi/hapi's own lab suite (v21.4.7) without and with the hooks, compared test by test (issue 24).
# Runs lab as `npm test` does, without the coverage threshold, lint and types steps.
source "$(dirname "$0")/frameworks-suite.sh"
TAG=v21.4.7
DIR=$PEERS_DIR/hapi/node_modules/@hapi/hapi
if [ ! -f "$DIR/.installed-$TAG" ]; then
  export_tag "${HAPI_GIT:-https://github.com/hapijs/hapi.git}" "$TAG" . "$DIR"
  (cd "$DIR" && npm install --no-audit --no-fund --no-package-lock >"$PEERS_DIR/hapi/install.log" 2>&1)
  touch "$DIR/.installed-$TAG"
fi
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

run_suite() {
  local tap
  tap=$(mktemp)
  node_modules/.bin/lab -a @hapi/code -m 5000 -r tap -o "$tap" || true
  node "$ROOT/scripts/peers/tap-results.js" <"$tap" >"$RESULTS"
  rm -f "$tap"
}
run_twice "$PEERS_DIR/results/hapi" run_suite
