#!/usr/bin/env bash
# socket.io's own server suite (the monorepo's packages/socket.io: what its `test:unit` runs, mocha
# --import=tsx test/index.ts, without nyc and --bail; default tag socket.io@<the version in this
# repository's node_modules>) without and with the hooks, compared test by test. Not run: prettier and the
# type tests (tsd), nor test/uws.ts (its uWebSockets.js is a GitHub binary dependency, not installed here:
# its line is taken out of test/index.ts, which would otherwise fail to load at all).
# The package is laid out at a real node_modules/socket.io/ path and compiled (tsc, its `compile`): the
# tests import `..`, i.e. dist/index.js, which the hooks match (dist/typed-events, dist/socket,
# dist/broadcast-operator, dist/client). The monorepo's other packages its tests use (socket.io-client, engine.io,
# socket.io-adapter, socket.io-parser) come from npm, at the versions its package.json and the root's dev
# dependencies ask for. From a local clone, test/fixtures/big.{json,jpg} are left out (a mirror may lack
# their blobs) and replaced by generated stand-ins of about the same size (the two "very large" tests only
# round-trip them). SOCKETIO_GIT may name a local clone, SOCKETIO_TAG another tag. SOCKETIO_DIST may name an
# installed socket.io package (e.g. this repository's node_modules/socket.io) whose dist/ and package.json
# replace the compiled ones, its dependencies taken from beside it. SETUP_ONLY=1 only lays it out.
# Fails if the run with the hooks recorded no socket.io span.
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/socket.io/node_modules/socket.io
TAG=${SOCKETIO_TAG:-socket.io@$(node -p "require('$ROOT/node_modules/socket.io/package.json').version")}
EXPORT_EXCLUDE="packages/socket.io/test/fixtures/big.jpg packages/socket.io/test/fixtures/big.json"

install_socketio() {
  local client
  client=$(node -p "require('./package.json').version")
  # The root package.json's dev dependencies that the server tests import (the workspace's client as
  # published at the same version).
  node -e '
    const fs = require("fs"), pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
    Object.assign((pkg.devDependencies ??= {}), {
      "socket.io-client": process.argv[1], mocha: "^10.6.0", tsx: "~4.20.6", "expect.js": "^0.3.1",
      supertest: "^7.0.0", superagent: "^9.0.2", "socket.io-client-v2": "npm:socket.io-client@^2.5.0",
      typescript: "^5.5.3", "@types/node": "18.15.3", "@types/mocha": "^10.0.7", "@types/expect.js": "^0.3.32",
    });
    fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2) + "\n");' "$client"
  npm install --no-audit --no-fund --no-package-lock --ignore-scripts
  # tsc emits dist/ despite two type errors here (lib/uws.ts without uWebSockets.js, a declaration naming
  # engine.io's nested path): only a missing dist/ is fatal.
  node_modules/.bin/tsc || test -f dist/typed-events.js
  sed -i '/require("\.\/uws");/d' test/index.ts
  # Stand-ins for the fixtures a mirror may lack: any large JSON and any large binary do.
  [ -f test/fixtures/big.json ] || node -e '
    const rows = []; for (let i = 0; i < 20000; i++) rows.push({ id: i, name: "row " + i, tags: ["a", "b", "c"], value: i * 1.5 });
    require("fs").writeFileSync("test/fixtures/big.json", JSON.stringify({ rows }));'
  [ -f test/fixtures/big.jpg ] || head -c 1500000 /dev/urandom >test/fixtures/big.jpg
}
prepare "$DIR" "${SOCKETIO_GIT:-https://github.com/socketio/socket.io.git}" "$TAG" packages/socket.io install_socketio
RESULTS_NAME=socket.io
if [ -n "${SOCKETIO_DIST:-}" ]; then
  # A second layout: the tag's tests and dev dependencies, the given package's dist/ and dependencies.
  DIST_DIR=$PEERS_DIR/socket.io-dist/node_modules/socket.io
  rm -rf "$DIST_DIR" && mkdir -p "$DIST_DIR/node_modules"
  (cd "$DIR" && tar -c --exclude=./node_modules --exclude=./dist --exclude=./package.json .) | tar -x -C "$DIST_DIR"
  cp -R "$SOCKETIO_DIST/dist" "$SOCKETIO_DIST/package.json" "$DIST_DIR/"
  for f in "$DIR"/node_modules/* "$DIR"/node_modules/.bin; do ln -s "$f" "$DIST_DIR/node_modules/"; done
  link_dist_dependencies "$SOCKETIO_DIST" "$DIST_DIR/node_modules"
  DIR=$DIST_DIR
  RESULTS_NAME=socket.io-dist
fi
echo "socket.io $(node -p "require('$DIR/package.json').version") at $DIR; tests of $TAG"
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

OUT=$PEERS_DIR/results/$RESULTS_NAME
run_suite() {
  local tap
  tap=${RESULTS%.results}.tap
  timeout 1800 node_modules/.bin/mocha --import=tsx --reporter tap --slow 200 --timeout 10000 --exit test/index.ts \
    >"$tap" 2>"${tap%.tap}.stderr" || true
  tap_results "$tap"
}
status=0
run_twice "$OUT" run_suite || status=$?

# The hooks were active: the run with them recorded the suite's emits and received events.
require_spans "$OUT" socket.io "node_modules/socket.io/dist/{typed-events,socket,broadcast-operator}" || exit 1
exit "$status"
