#!/usr/bin/env bash
# node-postgres's own suites without and with the hooks, compared test by test: `packages/pg`'s
# `make test-unit` and `make test-integration` (every test/unit and test/integration `*-tests.js` run by
# itself with `node <file> postgres://`, as the Makefile's xargs does; the files are plain scripts whose
# runner, test/suite.js, exits on the first failing test, so a file is a test, its exit status the
# result), and `packages/pg-pool`'s mocha suite (test/*.js, TAP, test by test). Not run: `test-native`
# (needs pg-native, a libpq build), `test-worker` (Cloudflare's workerd via vitest/wrangler), the SCRAM
# tests (they need password roles; the service script's PostgreSQL trusts every local login, so
# SCRAM_TEST_* stays unset and they skip) and the SSL tests (PGTESTNOSSL=true, as upstream's CI: the server
# has no certificate).
# The packages are taken from the monorepo tag (default: pg@<the version in this repository's
# node_modules>, or PG_TAG), laid out side by side at real node_modules/pg/ and node_modules/pg-pool/ paths
# (what the hooks match: pg's lib/client, pg-pool's entry; the tests require ../../lib and ../ by path),
# their dependencies installed beside them from npm. Needs PostgreSQL: the service script's (PGHOST,
# PGPORT, PGUSER, PGDATABASE), on a fresh `pg_test` database each run:
#   node scripts/with-services.js bash scripts/peers/pg.sh
# PG_GIT may name a local clone. PG_DIST may name an installed pg package (e.g. this repository's
# node_modules/pg) whose lib/, esm/ and package.json replace the tag's (the tag's tests then run against
# it). PG_PARTS picks parts (default: unit integration pool). SETUP_ONLY=1 only lays it out and installs.
# Fails if the run with the hooks recorded no pg span (it prints their count).
source "$(dirname "$0")/frameworks-suite.sh"
PG_VERSION=$(node -p "require('$ROOT/node_modules/pg/package.json').version")
TAG=${PG_TAG:-pg@$PG_VERSION}
SRC=${PG_GIT:-https://github.com/brianc/node-postgres.git}
BASE=$PEERS_DIR/pg
if [ -z "${PG_TAG:-}" ] && [ -d "$SRC" ] && ! git --git-dir="$SRC" rev-parse -q --verify "$TAG^{commit}" >/dev/null; then
  # The mirror may lack the npm version's tag: the newest tag of the same minor version, said aloud.
  TAG=$(git --git-dir="$SRC" tag -l "pg@${PG_VERSION%.*}.*" | sort -V | tail -1)
  echo "no tag pg@$PG_VERSION in $SRC: using $TAG (PG_DIST=$ROOT/node_modules/pg runs its tests against $PG_VERSION)" >&2
fi
MARKER="$BASE/.prepared-$(tr -c 'A-Za-z0-9.\n' _ <<<"$TAG")"

# The pg-pool tag the pg tag was published with: the newest pg-pool@ tag reachable from it.
pool_tag() {
  if [ -d "$SRC" ]; then git --git-dir="$SRC" describe --tags --abbrev=0 --match 'pg-pool@*' "$TAG"
  else echo "$TAG"; fi
}

if [ ! -f "$MARKER" ]; then
  rm -rf "$BASE" && mkdir -p "$BASE"
  export_tag "$SRC" "$TAG" packages/pg "$BASE/node_modules/pg"
  export_tag "$SRC" "$(pool_tag)" packages/pg-pool "$BASE/node_modules/pg-pool"
  # The packages' dependencies and the tests' dev dependencies, but not the Cloudflare worker test's
  # (wrangler, vitest, workerd) nor typescript; pg-cursor for pg-pool's Submittable test.
  (cd "$BASE" && node -e "
    const pg = require('./node_modules/pg/package.json'), pool = require('./node_modules/pg-pool/package.json');
    const deps = { ...pg.dependencies, ...pg.devDependencies, ...pool.devDependencies, 'pg-cursor': '^2' };
    for (const n of Object.keys(deps)) if (/cloudflare|wrangler|vitest|typescript|^pg-pool$/.test(n)) delete deps[n];
    require('fs').writeFileSync('package.json', JSON.stringify({ name: 'pg-peer-suite', private: true, dependencies: deps }, null, 2));")
  mv "$BASE/node_modules" "$BASE/packages"
  (cd "$BASE" && npm install --no-audit --no-fund --ignore-scripts --no-package-lock --legacy-peer-deps) >"$BASE.prepare.log" 2>&1
  # npm leaves no package it did not install: the two packages go in after it.
  rm -rf "$BASE/node_modules/pg" "$BASE/node_modules/pg-pool"
  mv "$BASE/packages/pg" "$BASE/packages/pg-pool" "$BASE/node_modules/" && rmdir "$BASE/packages"
  touch "$MARKER"
fi
RESULTS_NAME=pg
if [ -n "${PG_DIST:-}" ]; then
  # A second layout: the tag's tests and everything else, the given package's lib/, esm/ and package.json.
  DIST_BASE=$PEERS_DIR/pg-dist
  rm -rf "$DIST_BASE" && cp -a "$BASE" "$DIST_BASE"
  rm -rf "$DIST_BASE/node_modules/pg/lib" "$DIST_BASE/node_modules/pg/esm"
  cp -R "$PG_DIST/lib" "$PG_DIST/package.json" "$DIST_BASE/node_modules/pg/"
  [ ! -d "$PG_DIST/esm" ] || cp -R "$PG_DIST/esm" "$DIST_BASE/node_modules/pg/"
  BASE=$DIST_BASE
  RESULTS_NAME=pg-dist
fi
DIR=$BASE/node_modules/pg
echo "pg $(node -p "require('$DIR/package.json').version"), pg-pool $(node -p "require('$BASE/node_modules/pg-pool/package.json').version") at $BASE/node_modules; tests of $TAG"
[ -z "${SETUP_ONLY:-}" ] || exit 0
: "${PGHOST:?run under scripts/with-services.js}"

# The service script's server; upstream CI's settings for what it lacks (no SSL, no SCRAM roles).
export PGDATABASE=pg_test PGTESTNOSSL=true
unset PGPASSWORD PGSSLMODE PGPASSFILE PGAPPNAME SCRAM_TEST_PGUSER SCRAM_TEST_PGPASSWORD SCRAM_TEST_PGUSER_UNICODE \
  SCRAM_TEST_PGPASSWORD_UNICODE SCRAM_TEST_PGHOST SCRAM_TEST_PGPORT SCRAM_TEST_PGDATABASE PG_CLIENT_CERT_TEST

# A fresh pg_test database (with the package itself, without the hooks).
fresh_database() {
  NODE_OPTIONS="" node -e "
    (async () => {
      const c = new (require('$DIR/lib').Client)({ database: 'postgres' });
      await c.connect();
      await c.query('DROP DATABASE IF EXISTS pg_test WITH (FORCE)');
      await c.query('CREATE DATABASE pg_test');
      await c.end();
    })().catch((err) => { console.error('fresh database:', err.message); process.exit(1); });"
}

# Each file by itself, as the Makefile's `xargs -n 1 node file postgres://`; its output kept in logs/.
run_files() {
  local part=$1 logs=$2 f log
  while read -r f; do
    log=$logs/$(tr / _ <<<"$f").log
    if timeout 300 node "$f" postgres:// >"$log" 2>&1; then printf 'ok\t%s\n' "$f"
    else printf 'not ok\t%s\n' "$f"; fi >>"$RESULTS"
  done < <(find "test/$part" -name '*-tests.js' | sort)
}

run_suite() {
  local logs part tap
  logs=${RESULTS%.results}-logs
  rm -rf "$logs" && mkdir -p "$logs"
  fresh_database
  for part in ${PG_PARTS:-unit integration pool}; do
    case $part in
      unit) (cd "$DIR" && chmod 600 test/unit/client/pgpass.file && run_files unit "$logs") ;;
      integration) (cd "$DIR" && run_files integration "$logs") ;;
      pool)
        tap=${RESULTS%.results}.pool.tap
        (cd "$BASE/node_modules/pg-pool" && timeout 900 "$BASE/node_modules/.bin/mocha" --reporter tap >"$tap" 2>&1) || true
        tap_results "$tap" pg-pool ;;
    esac
  done
}
OUT=$PEERS_DIR/results/$RESULTS_NAME
status=0
run_twice "$OUT" run_suite || status=$?
for f in "$OUT"/plain.results "$OUT"/hooked.results; do echo "$(basename "$f"): $(grep -c '^ok' "$f") ok, $(grep -c '^not ok' "$f") not ok"; done

# The hooks were active: the run with them recorded the driver's queries.
require_spans "$OUT" pg "node_modules/pg/lib/client" || exit 1
exit "$status"
