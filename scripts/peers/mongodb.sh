#!/usr/bin/env bash
# The MongoDB Node driver's own unit suite (mocha, test/unit; default v7.6.0) without and with the hooks,
# compared test by test. Its tests import ../src/*.ts, which the hooks never see (they match
# node_modules/mongodb/lib/...): lib/ is compiled once and every lib/**/*.js gets a symlink at the same
# path under src/, so that those imports load lib/ by its real path. No server: the unit tests use the
# driver's in-process mock server. Fails if the run with the hooks recorded no mongodb span.
# MONGODB_GIT may name a local clone, MONGODB_TAG another tag or commit. SETUP_ONLY=1 only lays it out,
# installs and compiles.
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/mongodb/node_modules/mongodb
TAG=${MONGODB_TAG:-v7.6.0}

# From a local clone, docs/ and test/benchmarks/ are left out (the unit tests use neither).
EXPORT_EXCLUDE="docs test/benchmarks"

install_driver() {
  npm ci --no-audit --no-fund --ignore-scripts
  node_modules/.bin/tsc -p tsconfig.json --declaration false --declarationMap false
  # What its check:unit builds first (build:bundle), without the type bundle: the nodeless tests' driver bundle.
  local script f
  for script in bundle:driver build:runtime-barrel; do
    if npm pkg get "scripts.$script" | grep -q node; then npm run "$script"; fi
  done
  find lib -name '*.js' | while read -r f; do ln -sr "$f" "src/${f#lib/}"; done
}
prepare "$DIR" "${MONGODB_GIT:-https://github.com/mongodb/node-mongodb-native.git}" "$TAG" . install_driver
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

# ts-node (the suite's .mocharc.js) compiles the tests, not lib/ nor the hooks' build.
export TS_NODE_IGNORE='(?:^|/)node_modules/,^lib/,^\.\./'

# mocha's TAP reporter, its lines written to the file MOCHA_TAP_FILE names: the driver's tests stub
# process.stdout.write and its loggers write to stdout, which swallows or garbles TAP lines on stdout.
REPORTER=$PEERS_DIR/mongodb/tap-file-reporter.js
cat >"$REPORTER" <<'EOF'
'use strict';
const fs = require('node:fs');
const { reporters } = require(require.resolve('mocha', { paths: [process.cwd()] }));
module.exports = function TapFile(runner, options) {
  const fd = fs.openSync(process.env.MOCHA_TAP_FILE, 'w');
  const toFile = (chunk) => (fs.writeSync(fd, String(chunk)), true);
  const emit = runner.emit;
  runner.emit = function (...args) {
    const own = Object.prototype.hasOwnProperty.call(process.stdout, 'write');
    const write = process.stdout.write;
    process.stdout.write = toFile;
    try {
      return emit.apply(this, args);
    } finally {
      if (own) process.stdout.write = write;
      else delete process.stdout.write;
    }
  };
  return new reporters.TAP(runner, options);
};
EOF

run_suite() {
  local tap
  tap=$(mktemp)
  # Both need native modules (mongodb-client-encryption, snappy/zstd) that are not built: they fail at load.
  MOCHA_TAP_FILE=$tap timeout 1800 node_modules/.bin/mocha test/unit --reporter "$REPORTER" \
    --exclude test/unit/client-side-encryption/auto_encrypter.test.ts \
    --exclude test/unit/cmap/wire_protocol/compression.test.ts 2>&1 || true
  tap_results "$tap"
  rm -f "$tap"
}
OUT=$PEERS_DIR/results/mongodb
status=0
run_twice "$OUT" run_suite || status=$?

# The hooks were active: the run with them recorded the driver's commands against the mock server.
require_spans "$OUT" mongodb "the driver's lib/cmap/connection" || exit 1
exit "$status"
