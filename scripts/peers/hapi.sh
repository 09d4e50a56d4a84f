#!/usr/bin/env bash
# @hapi/hapi's own lab suite (v21.4.7) without and with the hooks, compared test by test (issue 24).
# Runs lab as its `npm test` does, without the coverage threshold, lint and types steps.
# SETUP_ONLY=1 only lays it out and installs.
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/hapi/node_modules/@hapi/hapi
prepare "$DIR" "${HAPI_GIT:-https://github.com/hapijs/hapi.git}" v21.4.7 . npm install --no-audit --no-fund --no-package-lock
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

run_suite() {
  local tap
  tap=$(mktemp)
  node_modules/.bin/lab -a @hapi/code -m 5000 -r tap -o "$tap" || true
  tap_results "$tap"
  rm -f "$tap"
}
run_twice "$PEERS_DIR/results/hapi" run_suite
