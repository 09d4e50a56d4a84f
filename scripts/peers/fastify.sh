#!/usr/bin/env bash
# fastify's own unit suite (every test/**/*.test.{js,mjs} but the type tests, one `node --test` per file
# as borp runs them) without and with the hooks, compared test by test (issue 24).
#   scripts/peers/fastify.sh [5|4]     fastify 5.12.1 (default) or 4.29.1 (whose tap files are plain scripts
#                                      that node --test runs as well)
# SETUP_ONLY=1 only lays it out and installs; JOBS (default 2) files run at once.
source "$(dirname "$0")/frameworks-suite.sh"
MAJOR=${1:-5}
case "$MAJOR" in 5) TAG=v5.12.1 ;; 4) TAG=v4.29.1 ;; *) echo "usage: $0 [5|4]" >&2; exit 2 ;; esac
DIR=$PEERS_DIR/fastify$MAJOR/node_modules/fastify
prepare "$DIR" "${FASTIFY_GIT:-https://github.com/fastify/fastify.git}" "$TAG" . npm install --no-audit --no-fund --no-package-lock
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

run_suite() {
  local taps f
  taps=$(mktemp -d)
  find test -name '*.test.js' -o -name '*.test.mjs' | grep -v '^test/types/' | sort | \
    xargs -P "${JOBS:-2}" -I{} sh -c 'f={}; node --test --test-reporter=tap --test-timeout=60000 "$f" >"$0/$(echo "$f" | tr / _).tap" 2>&1' "$taps"
  for f in "$taps"/*.tap; do tap_results "$f" "$(basename "$f" .tap)"; done
  rm -rf "$taps"
}
run_twice "$PEERS_DIR/results/fastify$MAJOR" run_suite
