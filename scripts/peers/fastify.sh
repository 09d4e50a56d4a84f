#!/usr/bin/env bash
# fastify's own unit suite (every test/**/*.test.{js,mjs}, one `node --test` per file as borp runs them)
# without and with the hooks, compared test by test (issue 24).
#   scripts/peers/fastify.sh [5|4]     fastify 5.12.1 (default) or 4.29.1
# fastify 4's suite runs on tap; each of its files is run with plain node (tap's test files are scripts).
source "$(dirname "$0")/frameworks-suite.sh"
MAJOR=${1:-5}
case "$MAJOR" in 5) TAG=v5.12.1 ;; 4) TAG=v4.29.1 ;; *) echo "usage: $0 [5|4]" >&2; exit 2 ;; esac
DIR=$PEERS_DIR/fastify$MAJOR/node_modules/fastify
if [ ! -f "$DIR/.installed-$TAG" ]; then
  export_tag "${FASTIFY_GIT:-https://github.com/fastify/fastify.git}" "$TAG" . "$DIR"
  (cd "$DIR" && npm install --no-audit --no-fund --no-package-lock >"$DIR/../../install.log" 2>&1)
  touch "$DIR/.installed-$TAG"
fi
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

run_suite() {
  local taps
  taps=$(mktemp -d)
  find test -name '*.test.js' -o -name '*.test.mjs' | grep -v '^test/types/' | sort | \
    xargs -P "${JOBS:-2}" -I{} sh -c 'f={}; node --test --test-reporter=tap --test-timeout=60000 "$f" >"$0/$(echo "$f" | tr / _).tap" 2>&1' "$taps"
  : >"$RESULTS"
  for f in "$taps"/*.tap; do node "$ROOT/scripts/peers/tap-results.js" --prefix "$(basename "$f" .tap)" <"$f" >>"$RESULTS"; done
  rm -rf "$taps"
}
run_twice "$PEERS_DIR/results/fastify$MAJOR" run_suite
