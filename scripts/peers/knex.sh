#!/usr/bin/env bash
# knex's own suites (3.3.0) without and with the hooks, compared test by test: its unit tests (db-less and
# CLI), its mocha integration tests and its tape tests over PostgreSQL (pg) and MariaDB (mysql, mysql2),
# and over SQLite (sqlite3, better-sqlite3), which knex traces without a driver hook. Each run starts on
# a fresh `knex_test` database. Needs the servers:
#   node scripts/with-services.js bash scripts/peers/knex.sh
# KNEX_GIT may name a local clone; KNEX_DBS the dialects (default: postgres mysql mysql2 sqlite3 better-sqlite3).
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/knex/node_modules/knex
: "${PGHOST:?run under scripts/with-services.js}" "${MYSQL_URL:?run under scripts/with-services.js}"

install_knex() {
  npm install --no-audit --no-fund --no-package-lock
  # npm 11 runs no dependency's install script unless approved: the SQLite drivers are native builds.
  npm install-scripts approve sqlite3 better-sqlite3 && npm rebuild sqlite3 better-sqlite3 || echo "SQLite drivers not built: their tests fail with and without the hooks"
}
prepare "$DIR" "${KNEX_GIT:-https://github.com/knex/knex.git}" 3.3.0 . install_knex
cd "$DIR"

# knex's test config (KNEX_TEST) pointed at the service script's servers and users.
export KNEX_TEST=$PEERS_DIR/knex/knex-test-config.js
cat >"$KNEX_TEST" <<'EOF'
const u = new URL(process.env.MYSQL_URL);
module.exports = {
  mysql: { host: u.hostname, port: Number(u.port), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: 'knex_test', charset: 'utf8' },
  postgres: { adapter: 'postgresql', host: process.env.PGHOST, port: Number(process.env.PGPORT), user: process.env.PGUSER, database: 'knex_test' },
};
EOF

fresh_databases() {
  NODE_OPTIONS="" NODE_PATH="$ROOT/node_modules" node -e "
    (async () => {
      const pg = new (require('pg').Client)({ database: 'postgres' });
      await pg.connect();
      await pg.query('DROP DATABASE IF EXISTS knex_test WITH (FORCE)');
      await pg.query('CREATE DATABASE knex_test');
      await pg.end();
      const my = await require('mysql2/promise').createConnection(process.env.MYSQL_URL);
      await my.query('DROP DATABASE IF EXISTS knex_test');
      await my.query('CREATE DATABASE knex_test');
      await my.end();
    })().catch((err) => { console.error('fresh databases:', err.message); process.exit(1); });"
  rm -f test/test.sqlite3
}

run_suite() {
  local tap db
  tap=$(mktemp)
  fresh_databases
  node_modules/.bin/mocha --exit -t 10000 --config test/mocha-unit-config-test.js --reporter tap >"$tap" 2>/dev/null || true
  tap_results "$tap" unit
  for db in ${KNEX_DBS:-postgres mysql mysql2 sqlite3 better-sqlite3}; do
    fresh_databases
    DB=$db node_modules/.bin/mocha --exit -t 10000 --config test/mocha-integration-config-test.js --reporter tap >"$tap" 2>/dev/null || true
    tap_results "$tap" "$db"
    fresh_databases
    DB=$db timeout 900 node test/tape/index.js >"$tap" 2>/dev/null || true
    tap_results "$tap" "tape $db"
  done
  rm -f "$tap"
}
run_twice "$PEERS_DIR/results/knex" run_suite
