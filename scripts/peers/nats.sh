#!/usr/bin/env bash
# The nats client's own ava suite (github:nats-io/nats.node, tag v<version of the nats in this repository's
# node_modules>, default v2.29.3; the nats.js repository holds only v3) without and with the hooks,
# compared test by test. What its `npm test` runs (`ava --verbose -T 60000`, test/**/*.js), in child
# processes (`--no-worker-threads`, so that NODE_OPTIONS' preload reaches every test file), with TAP output.
# Its lib/ is built from nats.deno sources by a Deno script (`npm run stage`), which cannot run here: the
# tag's tests run against the npm package's own build of that version (NATS_DIST, default this
# repository's node_modules/nats, whose lib/ is copied in; the tag's package.json must be the package's).
# The tests require ../lib/src/mod, which then loads node_modules/nats/lib/... by its real path (what
# the hooks match). They start their own nats-server processes (`nats-server` on PATH, writing ports files
# to TMPDIR); the script puts the directory of the service script's nats-server (Debian's, 2.9) first on
# PATH. Most of them talk to the public demo.nats.io:4222: those references are rewritten to a throwaway
# nats-server (with JetStream) that the script starts on a free port for each run. Not run: the three
# tests that need demo.nats.io's TLS port 4443 (the internet) or `handshake_first` (nats-server 2.10+);
# they fail with and without the hooks.
# nats-server missing: run it under the service script, which installs it:
#   node scripts/with-services.js bash scripts/peers/nats.sh
# Fails if the run with the hooks recorded no nats span.
# NATS_GIT may name a local clone (e.g. the mirror of nats-io/nats.node), NATS_TAG another tag.
# SETUP_ONLY=1 only lays it out and installs.
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/nats/node_modules/nats
NATS_DIST=${NATS_DIST:-$ROOT/node_modules/nats}
VERSION=$(node -p "require('$NATS_DIST/package.json').version")
TAG=${NATS_TAG:-v$VERSION}

install_nats() {
  cp -R "$NATS_DIST/lib" .
  npm ci --no-audit --no-fund --ignore-scripts
  # demo.nats.io:4222 (also named as "demo.nats.io") becomes the run's own server.
  sed -i -E 's#"demo\.nats\.io(:4222)?"#process.env.NATS_DEMO_SERVER#g' test/*.js
}
prepare "$DIR" "${NATS_GIT:-https://github.com/nats-io/nats.node.git}" "$TAG" . install_nats
cd "$DIR"
if [ "$(node -p "require('./package.json').version")" != "$VERSION" ]; then
  echo "the tag's package.json is not version $VERSION (NATS_DIST's lib/ was copied in)" >&2
fi
[ -z "${SETUP_ONLY:-}" ] || exit 0

NATS_SERVER=$(command -v nats-server || { [ -x /usr/sbin/nats-server ] && echo /usr/sbin/nats-server; }) ||
  { echo "nats-server not found: run under scripts/with-services.js (it installs Debian's)" >&2; exit 2; }
export PATH="$(dirname "$NATS_SERVER"):$PATH"
echo "nats $VERSION (lib/ from $NATS_DIST), tests of $TAG; $("$NATS_SERVER" --version)"
# basics - connect default starts a server on 4222 itself.
if (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  echo "127.0.0.1:4222 is in use: 'basics - connect default' will fail in both runs" >&2
fi

DEMO_PID=
stop_demo() {
  [ -n "$DEMO_PID" ] || return 0
  kill "$DEMO_PID" 2>/dev/null && wait "$DEMO_PID" 2>/dev/null || true
  DEMO_PID=
}
trap stop_demo EXIT

run_suite() {
  local tap tmp port i
  tap=${RESULTS%.results}.tap
  tmp=$(mktemp -d)
  port=$(NODE_OPTIONS="" node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
  "$NATS_SERVER" -a 127.0.0.1 -p "$port" -js -sd "$tmp/js" -l "$tmp/demo.log" &
  DEMO_PID=$!
  for i in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  mkdir -p "$tmp/ports"
  NATS_DEMO_SERVER=127.0.0.1:$port TMPDIR="$tmp/ports" \
    timeout 1800 node_modules/.bin/ava --tap --no-worker-threads -T 60000 >"$tap" 2>"${tap%.tap}.stderr" || true
  tap_results "$tap"
  stop_demo
  rm -rf "$tmp"
}
OUT=$PEERS_DIR/results/nats
status=0
run_twice "$OUT" run_suite || status=$?

# The hooks were active: the run with them recorded the suite's publishes, requests and deliveries.
require_spans "$OUT" nats "node_modules/nats/lib/nats-base-client/{nats,protocol,queued_iterator}.js" || exit 1
exit "$status"
