#!/usr/bin/env bash
# node-redis's client package (@redis/client) own mocha suite without and with the hooks, compared test by test:
# what its `test` runs (`mocha -r tsx --exit './lib/**/*.spec.ts'`), without the type check. Default tag
# redis@6.2.1 (the mirror's newest; REDIS_TAG another); REDIS_DIST an installed @redis/client whose dist/ is
# tested instead of the tag's own build (e.g. this repository's node_modules/@redis/client).
# The monorepo's workspaces are installed and built; packages/client is then moved to the real
# node_modules/@redis/client path the hooks match (packages/client becomes a link to it), and each source
# built to dist/ is replaced by a symlink to its dist/**/*.js, so that the tests' `./index`, `../errors`...
# load dist/ by its real path (the hooks match node_modules/@redis/client/dist/lib/client/...).
# Its test utilities (@redis/test-utils) start Redis servers in docker (redislabs/client-libs-test, Redis 8
# with modules), which is not available here: dockers.ts is patched, in the exported copy, to start a local
# `redis-server` for each server, cluster node and sentinel it would have started, and the suite is told the
# server's version (`--redis-version`, which skips the tests that need a newer one). What needs docker
# itself (TLS certificates, `docker stop` of a sentinel's master, Redis modules) fails with and without the hooks.
# Run it under the service script (which installs redis-server if missing):
#   node scripts/with-services.js bash scripts/peers/redis.sh
# Fails if the run with the hooks recorded no redis span. REDIS_GIT may name a local clone. SETUP_ONLY=1 only
# lays it out, installs and compiles.
source "$(dirname "$0")/frameworks-suite.sh"
TAG=${REDIS_TAG:-redis@6.2.1}
DIST=${REDIS_DIST:-}
NAME=node-redis${DIST:+-dist}
REPO=$PEERS_DIR/$NAME/repo
DIR=$REPO/node_modules/@redis/client

EXPORT_EXCLUDE="docs doctests examples benchmark"

# dockers.ts: `docker run` of a server becomes a local redis-server (its pid is the "docker id", which
# `docker rm -f` then kills); each pid is written to $PEERS_REDIS_PIDS so that the script stops them all.
patch_dockers() {
  node - packages/test-utils/lib/dockers.ts <<'EOF'
const fs = require('fs');
const file = process.argv[2];
let s = fs.readFileSync(file, 'utf8');
const replace = (from, to) => {
  if (!s.includes(from)) { console.error(`dockers.ts: not found: ${from.slice(0, 80)}`); process.exit(1); }
  s = s.replace(from, to);
};
replace(`  const { stdout, stderr } = await execAsync('docker', dockerArgs);

  if (!stdout) {
    throw new Error(\`docker run error - \${stderr}\`);
  }
`, `  const { stdout, stderr } = await peersLocalRedis(options, portStr, serverArguments);

  if (!stdout) {
    throw new Error(\`redis-server error - \${stderr}\`);
  }
`);
replace(`async function dockerRemove(dockerId: string): Promise<void> {`, `async function dockerRemove(dockerId: string): Promise<void> {
  if (/^\\d+$/.test(dockerId)) {
    try { process.kill(Number(dockerId)); } catch {}
    return;
  }`);
s += `
// peers: a local redis-server where the suite would have run a docker container.
async function peersLocalRedis(options: RedisServerDockerOptions, port: string, serverArguments: Array<string>): Promise<{ stdout: string; stderr: string }> {
  const { spawn } = require('node:child_process');
  const dir = fs.mkdtempSync(path.join(process.env.PEERS_REDIS_TMP || os.tmpdir(), 'redis-'));
  let args: Array<string>;
  if (options.mode === 'sentinel') {
    const conf = path.join(dir, 'sentinel.conf');
    const source = options.mounts[0].split(':')[0];
    while (!fs.existsSync(source) || fs.readFileSync(source, 'utf8') === '') await setTimeout(10);
    fs.copyFileSync(source, conf);
    args = [conf, '--sentinel', '--port', port, '--dir', dir];
  } else {
    args = ['--port', port, '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...serverArguments];
  }
  const child = spawn(process.env.REDIS_SERVER || 'redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  let exited = false;
  child.on('exit', () => (exited = true));
  child.unref();
  (child.stderr as any).unref?.();
  if (process.env.PEERS_REDIS_PIDS) fs.appendFileSync(process.env.PEERS_REDIS_PIDS, child.pid + '\\n');
  for (let i = 0; i < 200 && !exited && await isPortAvailable(Number(port)); i++) await setTimeout(50);
  if (exited) return { stdout: '', stderr: stderr || 'redis-server exited: ' + args.join(' ') };
  return { stdout: String(child.pid), stderr: '' };
}
`;
fs.writeFileSync(file, s);
EOF
}

install_redis() {
  npm ci --no-audit --no-fund --ignore-scripts
  patch_dockers
  node_modules/.bin/tsc --build packages/client packages/test-utils packages/bloom
  [ -z "$DIST" ] || { rm -rf packages/client/dist && cp -r "$DIST/dist" packages/client/dist; }
  # The client at a real node_modules/@redis/client path, packages/client a link to it.
  rm -f node_modules/@redis/client
  mv packages/client node_modules/@redis/client
  ln -s ../node_modules/@redis/client packages/client
  # tsx resolves a TS file's `./errors` to errors.ts before errors.js: the sources built to dist/ go, so
  # that every import of them loads dist/ (the specs and the test utilities stay TypeScript).
  (cd node_modules/@redis/client && find dist -name '*.js' | while read -r f; do
    f=${f#dist/}; rm -f "${f%.js}.ts"; ln -sfr "dist/$f" "$f"
  done)
}
prepare "$REPO" "${REDIS_GIT:-https://github.com/redis/node-redis.git}" "$TAG" . install_redis
cd "$DIR"
[ -z "${SETUP_ONLY:-}" ] || exit 0

export REDIS_SERVER=$(command -v redis-server) || { echo "redis-server not found: run under scripts/with-services.js" >&2; exit 2; }
# The local server's version, for the suite's version gates (e.g. 7.0).
REDIS_VERSION=$("$REDIS_SERVER" --version | sed -E 's/.* v=([0-9]+\.[0-9]+).*/\1/')
export PEERS_REDIS_PIDS=$PEERS_DIR/$NAME/redis.pids
stop_servers() {
  local pid
  [ -f "$PEERS_REDIS_PIDS" ] || return 0
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$PEERS_REDIS_PIDS"
  rm -f "$PEERS_REDIS_PIDS"
}
trap stop_servers EXIT

run_suite() {
  local tap
  tap=${RESULTS%.results}.tap
  # Fresh servers for each run (test-utils starts its own; the ports it picks start at 6379).
  export PEERS_REDIS_TMP
  PEERS_REDIS_TMP=$(mktemp -d)
  # Left out: the OpenTelemetry metrics tests (most need Redis 8 here): their cluster pub/sub test spun
  # without end once (busy, which no mocha timeout stops).
  timeout 2400 ../../.bin/mocha -r tsx --exit --reporter tap './lib/**/*.spec.ts' \
    --exclude lib/opentelemetry/metrics.spec.ts \
    --redis-version="$REDIS_VERSION" >"$tap" 2>"${RESULTS%.results}.stderr" || true
  tap_results "$tap"
  stop_servers
  rm -rf "$PEERS_REDIS_TMP"
}
OUT=$PEERS_DIR/results/$NAME
status=0
run_twice "$OUT" run_suite || status=$?

# The hooks were active: the run with them recorded the client's commands.
require_spans "$OUT" redis "@redis/client's dist/lib/client" || exit 1
exit "$status"
