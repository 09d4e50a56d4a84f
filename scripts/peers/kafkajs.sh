#!/usr/bin/env bash
# kafkajs's own jest suite (tag v<version of the kafkajs in this repository's node_modules>, default v2.2.4),
# its broker-less part, without and with the hooks, compared test by test. kafkajs's `test` runs jest
# against a docker-compose Kafka cluster (scripts/testWithKafka.sh), which cannot run here: the spec files
# that use the cluster helpers (createCluster, createConnectionPool, createConnectionBuilder, createTopic,
# *Brokers(), addPartitions, new Kafka()) are left out (93 of 357); src/network/connection.spec.js and
# connectionPool.spec.js, which connect to localhost:9092/9093 themselves, fail with and without the hooks.
# Two things make the hooks see what the tests load:
#  - jest ignores test files under a node_modules/ folder: the config names kafkajs in
#    haste.providesModuleNodeModules (its own node_modules/ stays ignored);
#  - jest loads modules in its own registry, which Node's require hooks (require-in-the-middle) never see:
#    a runtime of ours (jest's `moduleLoader`) loads kafkajs's own files (index.js, src/ but for tests and
#    fixtures) with Node's require, from their real node_modules/kafkajs/ path, in both runs. Tests that
#    need them in jest's registry (jest.mock of a kafkajs module, or toEqual/toThrow across the two
#    realms) then fail with and without the hooks alike (35, besides the 15 that fail in a stock jest run
#    here too: 14 connect to localhost:9092/9093, and a gzip fixture differs under Node 20's zlib).
# Not run: the broker tests against librdkafka's mock cluster: their createTopic (admin.createTopics)
# fails there with "Broker 0 not found in the cached metadata" (0 of 20 consumeMessages tests, 11 of 50
# producer tests passed).
# KAFKAJS_GIT may name a local clone, KAFKAJS_TAG another tag. SETUP_ONLY=1 only lays it out and installs.
# KAFKAJS_SPECS may name the spec files to run (paths under the package). Fails if the run with the hooks
# recorded no kafkajs span (runner.spec.js and index.spec.js go through the hooked Runner and client).
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/kafkajs/node_modules/kafkajs
TAG=${KAFKAJS_TAG:-v$(node -p "require('$ROOT/node_modules/kafkajs/package.json').version")}

install_kafkajs() {
  npm install --no-audit --no-fund --ignore-scripts --no-package-lock
  cat >jest.peers.config.js <<'EOF'
// kafkajs's jest.config.js as laid out at a real node_modules/kafkajs/ path (see scripts/peers/kafkajs.sh).
const base = require('./jest.config.js')
module.exports = {
  ...base,
  haste: { providesModuleNodeModules: ['kafkajs'] },
  testPathIgnorePatterns: ['<rootDir>/node_modules/'],
  transformIgnorePatterns: ['<rootDir>/node_modules/'],
  reporters: ['default'],
  moduleLoader: require.resolve('./peers-runtime.js'),
}
EOF
  cat >peers-runtime.js <<'EOF'
// A jest runtime that loads kafkajs's own files (index.js, src/ but for tests and fixtures) with Node's
// require, as an application does, instead of in jest's module registry, which Node's require hooks never
// see. A module a test mocks (jest.mock) is still given to that test; kafkajs's own files load the real one.
'use strict'
const path = require('path')
const { createRequire } = require('module')
const Runtime = require('jest-runtime')

const ROOT = __dirname + path.sep
const isLibraryFile = file =>
  (file === ROOT + 'index.js' || file.startsWith(ROOT + 'src' + path.sep)) &&
  !/(\.spec\.js|\.json)$/.test(file) &&
  !/[\\/](__tests__|__mocks__|fixtures)[\\/]/.test(file)

class NodeRequireRuntime extends Runtime {
  requireModuleOrMock(from, moduleName) {
    if (moduleName !== '@jest/globals' && !this._shouldMock(from, moduleName)) {
      let file
      try {
        file = this._resolveModule(from, moduleName)
      } catch (e) {
        file = undefined
      }
      if (file !== undefined && isLibraryFile(file)) return createRequire(from)(file)
    }
    return super.requireModuleOrMock(from, moduleName)
  }
}
module.exports = NodeRequireRuntime
EOF
}
prepare "$DIR" "${KAFKAJS_GIT:-https://github.com/tulios/kafkajs.git}" "$TAG" . install_kafkajs
cd "$DIR"
echo "kafkajs $(node -p "require('./package.json').version") at $DIR (tag $TAG)"
[ -z "${SETUP_ONLY:-}" ] || exit 0

if [ -n "${KAFKAJS_SPECS:-}" ]; then
  SPECS=$KAFKAJS_SPECS
else
  SPECS=$(find src -name '*.spec.js' | sort | xargs grep -LE 'createCluster|createConnectionPool|createConnectionBuilder|createTopic|Brokers\(|addPartitions|new Kafka\(')
fi
echo "$(wc -w <<<"$SPECS") spec files"

run_suite() {
  local json
  json=${RESULTS%.results}.json
  rm -f "$json"
  KAFKA_VERSION=2.4 NODE_ENV=test KAFKAJS_DEBUG_PROTOCOL_BUFFERS=1 KAFKAJS_NO_PARTITIONER_WARNING=1 \
    timeout 1800 node_modules/.bin/jest -c jest.peers.config.js --ci --maxWorkers=2 --forceExit \
    --json --outputFile="$json" $SPECS >"${json%.json}.jest.log" 2>&1 || true
  jest_results "$json" "$DIR" || echo "no jest results in $json" >&2
}
OUT=$PEERS_DIR/results/kafkajs
status=0
run_twice "$OUT" run_suite || status=$?

# The hooks were active: the run with them traced the Runner's eachMessage/eachBatch calls.
require_spans "$OUT" kafkajs "node_modules/kafkajs/{index.js,src/consumer/runner.js}" || exit 1
exit "$status"
