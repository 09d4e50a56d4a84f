#!/usr/bin/env bash
# bullmq's own vitest suite (5.x) without and with the hooks, compared test by test: its `test` (vitest.config.ts,
# the adapter-agnostic suite over ioredis) and its `test:ioredis` (connection, cluster, sandboxed processors).
# Default tag v5.81.3 (the mirror's newest 5.x tag); BULLMQ_TAG another; BULLMQ_DIST an installed bullmq
# package whose dist/ is tested instead of the tag's own build (e.g. this repository's node_modules/bullmq).
# Its tests import ../src/*.ts, which the hooks never see (they match node_modules/bullmq/dist/cjs/index.js):
# src/ is compiled to dist/cjs once (as its `build` does) and every dist/cjs/**/*.js gets a symlink at the same
# path under src/, so that those imports load dist/cjs/ by its real path; vitest loads those natively (they are
# under node_modules/), and a setup file requires the package's entry first, as an app would, so that the
# hooks patch its classes. Its tests talk to a Redis at REDIS_HOST (localhost), port 6379 in places: each run
# starts its own throwaway redis-server there, so 6379 must be free. Run it under the service script (which
# installs redis-server if missing): node scripts/with-services.js bash scripts/peers/bullmq.sh
# Fails if the run with the hooks recorded no bullmq span.
# BULLMQ_GIT may name a local clone. SETUP_ONLY=1 only lays it out, installs and compiles.
source "$(dirname "$0")/frameworks-suite.sh"
TAG=${BULLMQ_TAG:-v5.81.3}
DIST=${BULLMQ_DIST:-}
NAME=bullmq${DIST:+-dist}
DIR=$PEERS_DIR/$NAME/node_modules/bullmq

# From a local clone, only what the tests need (the other languages' ports and docs are left out).
EXPORT_EXCLUDE="docs python elixir php rust"

install_bullmq() {
  # yarn.lock only: npm resolves the dev dependencies afresh.
  npm install --no-audit --no-fund --no-package-lock --ignore-scripts
  if [ -n "$DIST" ]; then
    rm -rf dist && cp -r "$DIST/dist" dist
  else
    # Its `build`, CommonJS part: the Lua scripts made into src/scripts, then tsc, then the Lua files.
    npm run clean:scripts && npm run generate:raw:scripts && npm run transform:commands
    node_modules/.bin/tsc -p tsconfig-cjs.json
    mkdir -p dist/cjs/commands/includes
    cp src/commands/*.lua dist/cjs/commands/ && cp src/commands/includes/*.lua dist/cjs/commands/includes/
  fi
  local f
  find dist/cjs -name '*.js' | while read -r f; do mkdir -p "$(dirname "src/${f#dist/cjs/}")"; ln -sfr "$f" "src/${f#dist/cjs/}"; done
}
prepare "$DIR" "${BULLMQ_GIT:-https://github.com/taskforcesh/bullmq.git}" "$TAG" . install_bullmq
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

require_redis bullmq
export REDIS_HOST=127.0.0.1 REDIS_PORT=6379

# The setup file of both configs, preceded by one that requires the package's entry (by its real path,
# node_modules/bullmq/dist/cjs/index.js), as an app would: the classes the tests import from ../src are the
# same modules.
cat >vitest.peers-entry.ts <<'EOF'
import { createRequire } from 'node:module';
createRequire(__filename)('bullmq');
EOF
for config in vitest.config.ts vitest.ioredis.config.ts; do
  sed "s#setupFiles: \['./vitest.setup.ts'\]#setupFiles: ['./vitest.peers-entry.ts', './vitest.setup.ts']#" "$config" >"peers.$config"
  grep -q vitest.peers-entry "peers.$config" || { echo "$config: no setupFiles line to extend" >&2; exit 2; }
done

run_suite() {
  local config json
  # A fresh Redis on 6379 for each run.
  start_redis
  for config in vitest.config.ts vitest.ioredis.config.ts; do
    json=${RESULTS%.results}.${config%.ts}.json
    # What `test` and `test:ioredis` run: --no-file-parallelism.
    timeout 2400 node_modules/.bin/vitest run --no-file-parallelism --config "peers.$config" \
      --reporter=verbose --reporter=json --outputFile.json="$json" >"${RESULTS%.results}.${config%.ts}.log" 2>&1 || true
    # Failure messages stay in the json.
    jest_results "$json" "$DIR" || printf "not ok\t%s\n" "$config (no results)" >>"$RESULTS"
  done
  stop_redis
}
OUT=$PEERS_DIR/results/$NAME
status=0
run_twice "$OUT" run_suite || status=$?

# The hooks were active: the run with them recorded the jobs added and processed.
require_spans "$OUT" bullmq "bullmq's dist/cjs classes" || exit 1
exit "$status"
