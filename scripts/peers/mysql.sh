#!/usr/bin/env bash
# The mysql driver's own suite (mysqljs/mysql, default v2.18.1) without and with the hooks, compared test
# by test: what its `npm test` runs (test/run.js: urun runs every test/**/test-*.js in its own node
# process, and a file is a test). The unit tests talk to the suite's in-process FakeServer (port 32893
# and test/fake_server.sock); the integration tests need a MySQL: run it under the service script, whose
# MariaDB (MYSQL_URL) is handed to the suite as MYSQL_HOST/PORT/USER/PASSWORD, with CI=1 so that a refused
# connection fails instead of silently skipping, on a fresh `node_mysql` database each run:
#   node scripts/with-services.js bash scripts/peers/mysql.sh
# Without MYSQL_URL only test/unit runs. The tests require ../lib/*.js from the package itself, laid out
# at a real node_modules/mysql/ path, which is what the hooks match. Fails if the run with the hooks
# recorded no mysql span (it prints their count).
# MYSQL_GIT may name a local clone, MYSQL_TAG another tag. SETUP_ONLY=1 only lays it out and installs.
source "$(dirname "$0")/frameworks-suite.sh"
DIR=$PEERS_DIR/mysql/node_modules/mysql
TAG=${MYSQL_TAG:-v2.18.1}

install_mysql() {
  npm install --no-audit --no-fund --ignore-scripts --no-package-lock
}
prepare "$DIR" "${MYSQL_GIT:-https://github.com/mysqljs/mysql.git}" "$TAG" . install_mysql
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

export NODE_ENV=test
unset FILTER
if [ -n "${MYSQL_URL:-}" ]; then
  eval "$(node -e '
    const u = new URL(process.env.MYSQL_URL);
    const q = (s) => "\x27" + s.replace(/\x27/g, "\x27\\\x27\x27") + "\x27";
    console.log(`export MYSQL_HOST=${q(u.hostname)} MYSQL_PORT=${q(u.port || "3306")}`);
    console.log(`export MYSQL_USER=${q(decodeURIComponent(u.username))} MYSQL_PASSWORD=${q(decodeURIComponent(u.password))}`);')"
  export MYSQL_DATABASE=node_mysql CI=1
  unset MYSQL_SOCKET
else
  echo "MYSQL_URL not set: only test/unit runs (run under scripts/with-services.js for the integration tests)" >&2
  export FILTER='/unit/.*test-'
fi

# A fresh node_mysql database (with the package itself, without the hooks).
fresh_database() {
  [ -n "${MYSQL_URL:-}" ] || return 0
  NODE_OPTIONS="" node -e "
    const c = require('./index').createConnection({ host: process.env.MYSQL_HOST, port: +process.env.MYSQL_PORT,
      user: process.env.MYSQL_USER, password: process.env.MYSQL_PASSWORD });
    c.query('DROP DATABASE IF EXISTS node_mysql');
    c.query('CREATE DATABASE node_mysql', (err) => { if (err) { console.error('fresh database:', err.message); process.exit(1); } });
    c.end();"
}

run_suite() {
  local tap
  # The whole TAP output (each failing file's output under its line) is kept beside the results.
  tap=${RESULTS%.results}.tap
  rm -f test/fake_server.sock
  fresh_database
  VERBOSE=0 timeout 1800 node test/run.js >"$tap" 2>&1 || true
  # Only urun's own lines (one per file): a file's output, indented below it, may hold TAP lines too.
  tap_results <(grep -E '^(not )?ok [0-9]+ ' "$tap")
}
OUT=$PEERS_DIR/results/mysql
status=0
run_twice "$OUT" run_suite || status=$?

# The hooks were active: the run with them recorded the driver's queries.
require_spans "$OUT" mysql "node_modules/mysql/lib/Connection" || exit 1
exit "$status"
