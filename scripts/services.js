#!/usr/bin/env node
'use strict';
/**
 * Starts a throwaway PostgreSQL, Redis, a Redis Sentinel monitoring it (master `mymaster`), a Redis
 * Cluster (two nodes), MariaDB, RabbitMQ, Kafka-protocol broker (librdkafka's mock cluster, run by kcat)
 * and NATS (with JetStream) on free 127.0.0.1 ports in temporary directories, and stops them. Servers that already exist
 * win: PGHOST/DATABASE_URL, REDIS_URL, REDIS_SENTINEL (`host:port`, master `mymaster`),
 * REDIS_CLUSTER_NODES (`host:port,…`), MYSQL_URL, AMQP_URL, KAFKA_BROKERS and NATS_URL are used as they are. Missing Debian packages (postgresql, redis-server, mariadb-server,
 * rabbitmq-server, kcat, nats-server) are installed with apt-get when running as root.
 *
 *   node scripts/services.js start   # prints the environment to use, as JSON
 *   node scripts/services.js stop
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

// Where `start` records what it started, for `stop` in another process (OTCH_SERVICES_STATE: elsewhere).
const STATE = process.env.OTCH_SERVICES_STATE || path.join(__dirname, '..', '.services', 'state.json');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function say(message) {
  process.stderr.write(`services: ${message}\n`);
}

/**
 * Runs a command to its end, within `timeout` ms: a command that hangs, or a daemon it leaves holding
 * its output, must not hold up the tests (spawnSync would otherwise wait for that output to close).
 */
function run(cmd, args, options = {}) {
  const { timeout = 120000, ...rest } = options;
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, killSignal: 'SIGKILL', stdio: ['ignore', 'pipe', 'pipe'], ...rest });
  if (r.error) throw new Error(`${cmd} ${r.error.code === 'ETIMEDOUT' ? `did not end within ${timeout / 1000} s` : `could not run: ${r.error.message}`}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr || r.stdout || '').trim().slice(-2000)}`);
  return r.stdout;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function waitForPort(port, ms) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(); });
      socket.once('error', () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listening on 127.0.0.1:${port} after ${ms} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

let aptUpdated = false;
function aptInstall(pkg) {
  if (!isRoot) throw new Error(`the Debian package "${pkg}" is missing and we are not root to install it (apt-get install ${pkg})`);
  say(`installing ${pkg} with apt-get…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  if (!aptUpdated) {
    run('apt-get', ['update', '-qq'], { env, timeout: 600000 });
    aptUpdated = true;
  }
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { env, timeout: 900000 });
}

function findPgBin() {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return undefined;
  const versions = fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? path.join(base, versions[0], 'bin') : undefined;
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8', timeout: 10000 });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

async function startPostgres(state) {
  let bin = findPgBin();
  if (bin === undefined) {
    aptInstall('postgresql');
    bin = findPgBin();
    if (bin === undefined) throw new Error('postgresql is installed but initdb was not found under /usr/lib/postgresql');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-pg-'));
  const data = path.join(dir, 'data');
  const port = await freePort();
  // initdb and postgres refuse to run as root: run them as the postgres user on a directory it owns.
  const asUser = isRoot ? ['runuser', '-u', 'postgres', '--'] : [];
  if (isRoot) run('chown', ['-R', 'postgres:postgres', dir]);
  const exec = (cmd, args) => (asUser.length ? run(asUser[0], [...asUser.slice(1), path.join(bin, cmd), ...args]) : run(path.join(bin, cmd), args));
  exec('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  exec('pg_ctl', ['-D', data, '-l', path.join(dir, 'postgres.log'), '-w', '-t', '60', '-o',
    `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`, 'start']);
  state.postgres = { dir, data, bin, port, asUser };
  state.env.PGHOST = '127.0.0.1';
  state.env.PGPORT = String(port);
  state.env.PGUSER = 'postgres';
  state.env.PGDATABASE = 'postgres';
  say(`PostgreSQL on 127.0.0.1:${port}`);
}

function redisServer() {
  let server = which('redis-server');
  if (server === undefined) {
    aptInstall('redis-server');
    server = which('redis-server');
    if (server === undefined) throw new Error('redis-server is installed but not on PATH');
  }
  return server;
}

/** One redis-server on a free port, its files in `dir`; resolves to its port and pid. */
async function spawnRedis(server, dir, extraArgs = [], leadingArgs = []) {
  const port = await freePort();
  const child = spawn(server, [...leadingArgs, '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', path.join(dir, 'redis.log'), ...extraArgs], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  await waitForPort(port, 15000);
  return { port, pid: child.pid };
}

async function startRedis(state) {
  const server = redisServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-redis-'));
  const { port, pid } = await spawnRedis(server, dir);
  state.redis = { dir, port, pid };
  state.env.REDIS_URL = `redis://127.0.0.1:${port}`;
  say(`Redis on 127.0.0.1:${port}`);
}

/**
 * A Redis Cluster of two masters, each with half of the slots (the cluster tests move a slot between
 * them to get a MOVED), set up with redis-cli as an operator would.
 */
async function startRedisCluster(state) {
  const server = redisServer();
  const cli = which('redis-cli');
  if (cli === undefined) throw new Error('redis-cli is missing (Debian package redis-tools)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-redis-cluster-'));
  const nodes = [];
  state.redisCluster = { dir, pids: [] };
  for (const name of ['a', 'b']) {
    const nodeDir = path.join(dir, name);
    fs.mkdirSync(nodeDir);
    nodes.push(await spawnRedis(server, nodeDir, ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(nodeDir, 'nodes.conf')]));
    state.redisCluster.pids = nodes.map((n) => n.pid);
  }
  const [a, b] = nodes;
  const redisCli = (port, ...args) => run(cli, ['-p', String(port), ...args], { timeout: 10000 }).trim();
  redisCli(a.port, 'cluster', 'addslotsrange', '0', '8191');
  redisCli(b.port, 'cluster', 'addslotsrange', '8192', '16383');
  redisCli(a.port, 'cluster', 'meet', '127.0.0.1', String(b.port));
  const deadline = Date.now() + 20000;
  while (!nodes.every((n) => redisCli(n.port, 'cluster', 'info').includes('cluster_state:ok'))) {
    if (Date.now() > deadline) throw new Error('the Redis Cluster did not reach cluster_state:ok within 20 s');
    spawnSync('sleep', ['0.1']);
  }
  state.env.REDIS_CLUSTER_NODES = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  say(`Redis Cluster on ${state.env.REDIS_CLUSTER_NODES}`);
}

function findMariadbd() {
  return which('mariadbd') ?? (fs.existsSync('/usr/sbin/mariadbd') ? '/usr/sbin/mariadbd' : undefined);
}

async function startMariadb(state) {
  if (findMariadbd() === undefined || which('mariadb-install-db') === undefined) aptInstall('mariadb-server');
  const server = findMariadbd();
  if (server === undefined) throw new Error('mariadb-server is installed but mariadbd was not found');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-mariadb-'));
  const data = path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const port = await freePort();
  const user = isRoot ? ['--user=mysql'] : [];
  if (isRoot) run('chown', ['-R', 'mysql:mysql', dir]);
  run('mariadb-install-db', [...user, `--datadir=${data}`, '--skip-test-db', '--auth-root-authentication-method=socket']);
  const child = spawn(server, [
    '--no-defaults', ...user, `--datadir=${data}`, `--socket=${socket}`, `--port=${port}`, '--bind-address=127.0.0.1',
    `--pid-file=${path.join(dir, 'mysqld.pid')}`, `--log-error=${path.join(dir, 'error.log')}`, '--skip-log-bin',
    '--innodb-buffer-pool-size=32M', '--innodb-log-file-size=8M', '--performance-schema=OFF',
  ], { detached: true, stdio: 'ignore' });
  child.unref();
  state.mariadb = { dir, port, pid: child.pid };
  await waitForPort(port, 60000);
  // Root logs in over the socket (as the OS user root); the tests use a password user over TCP.
  const sql = "CREATE DATABASE IF NOT EXISTS otch; CREATE USER IF NOT EXISTS 'otch'@'%' IDENTIFIED BY 'otch-pw'; GRANT ALL ON *.* TO 'otch'@'%'; FLUSH PRIVILEGES;";
  run(which('mariadb') ?? 'mysql', ['--no-defaults', `--socket=${socket}`, '-u', 'root', '-e', sql]);
  state.env.MYSQL_URL = `mysql://otch:otch-pw@127.0.0.1:${port}/otch`;
  say(`MariaDB on 127.0.0.1:${port}`);
}

/** A RabbitMQ command, run as the rabbitmq user when we are root (the server refuses root's cookie). */
function rabbitmqCommand(name, env) {
  const bin = fs.existsSync(`/usr/lib/rabbitmq/bin/${name}`) ? `/usr/lib/rabbitmq/bin/${name}` : which(name);
  if (bin === undefined) throw new Error(`${name} not found`);
  const vars = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  return isRoot ? ['runuser', ['-u', 'rabbitmq', '--', 'env', 'HOME=/var/lib/rabbitmq', ...vars, bin]] : ['env', [...vars, bin]];
}

async function startRabbitmq(state) {
  if (!fs.existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server') && which('rabbitmq-server') === undefined) aptInstall('rabbitmq-server');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-rabbitmq-'));
  const port = await freePort();
  const node = `otch${port}@localhost`;
  const env = {
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_DIST_PORT: String(await freePort()),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
  };
  fs.writeFileSync(env.RABBITMQ_ENABLED_PLUGINS_FILE, '[].\n');
  fs.chmodSync(dir, 0o755);
  if (isRoot) run('chown', ['-R', 'rabbitmq:rabbitmq', dir]);
  // Erlang starts the epmd daemon if none runs; stop it again afterwards in that case.
  const epmdBefore = epmdPids();
  const [cmd, args] = rabbitmqCommand('rabbitmq-server', env);
  const out = fs.openSync(path.join(dir, 'server.out'), 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out], cwd: dir });
  child.unref();
  fs.closeSync(out);
  state.rabbitmq = { dir, port, node, env, pid: child.pid, epmdBefore };
  // await_startup waits for a node that is booting, but fails at once for one not yet registered.
  const deadline = Date.now() + 90000;
  for (;;) {
    const [ctl, ctlArgs] = rabbitmqCommand('rabbitmqctl', env);
    const r = spawnSync(ctl, [...ctlArgs, '-n', node, 'await_startup', '--timeout', '60'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 75000, killSignal: 'SIGKILL' });
    if (r.status === 0) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      throw new Error(`RabbitMQ did not start: ${(r.stderr || r.stdout || '').trim().split('\n')[0]} (log: ${fs.readFileSync(path.join(dir, 'server.out'), 'utf8').slice(-500)})`);
    }
    spawnSync('sleep', ['0.5']);
  }
  state.env.AMQP_URL = `amqp://guest:guest@127.0.0.1:${port}`;
  say(`RabbitMQ on 127.0.0.1:${port}`);
}

/**
 * librdkafka's mock cluster, a real implementation of the Kafka protocol inside a kcat process that
 * consumes a placeholder topic forever: it lives as long as that process, and logs its address on stderr.
 */
async function startKafka(state) {
  let kcat = which('kcat');
  if (kcat === undefined) {
    aptInstall('kcat');
    kcat = which('kcat');
    if (kcat === undefined) throw new Error('kcat is installed but not on PATH');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-kafka-'));
  const logFile = path.join(dir, 'kcat.log');
  // The setting in a file of the throwaway directory, so that the process can be told by its command line.
  const config = path.join(dir, 'kcat.conf');
  fs.writeFileSync(config, 'test.mock.num.brokers=1\n');
  const log = fs.openSync(logFile, 'a');
  const child = spawn(kcat, ['-F', config, '-b', 'localhost:1', '-C', '-t', '_mock', '-q'], { detached: true, stdio: ['ignore', 'ignore', log] });
  child.unref();
  fs.closeSync(log);
  state.kafka = { dir, pid: child.pid };
  const deadline = Date.now() + 15000;
  let address;
  while (address === undefined) {
    address = /replaced with (127\.0\.0\.1:\d+)/.exec(fs.readFileSync(logFile, 'utf8'))?.[1];
    if (address !== undefined) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`kcat's mock cluster did not start: ${fs.readFileSync(logFile, 'utf8').slice(-500)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await waitForPort(Number(address.split(':')[1]), 15000);
  state.env.KAFKA_BROKERS = address;
  say(`Kafka (librdkafka mock cluster) on ${address}`);
}

async function startNats(state) {
  let server = which('nats-server') ?? (fs.existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : undefined);
  if (server === undefined) {
    aptInstall('nats-server');
    server = which('nats-server') ?? (fs.existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : undefined);
    if (server === undefined) throw new Error('nats-server is installed but was not found');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-nats-'));
  const port = await freePort();
  // JetStream on, its store in the throwaway directory.
  const child = spawn(server, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', path.join(dir, 'jetstream'), '-l', path.join(dir, 'nats.log')], { detached: true, stdio: 'ignore' });
  child.unref();
  state.nats = { dir, port, pid: child.pid };
  await waitForPort(port, 15000);
  state.env.NATS_URL = `nats://127.0.0.1:${port}`;
  say(`NATS (with JetStream) on 127.0.0.1:${port}`);
}

/**
 * Starts what is not already given; a service that fails is reported in env as OTCH_<KEY>_UNAVAILABLE.
 * `state` is filled as each service starts, so a caller that is interrupted can stop what is already up;
 * once `cancelled()` is true no further service is started.
 */
async function start({ state = { env: {} }, cancelled = () => false } = {}) {
  for (const service of SERVICES) {
    if (cancelled()) break;
    const given = service.given.filter((variable) => process.env[variable]);
    if (given.length > 0) {
      say(`using the ${service.name} server given by ${service.given.join('/')}`);
      continue;
    }
    try {
      await service.start(state);
    } catch (err) {
      state.env[`OTCH_${service.env ?? service.key.toUpperCase()}_UNAVAILABLE`] = err.message;
      say(`${service.name} could not be started: ${err.message}`);
    }
    // After each one, so that `stop` finds what is up even if this process is killed before the end.
    saveState(state);
  }
  return state;
}

function saveState(state) {
  fs.mkdirSync(path.dirname(STATE), { recursive: true });
  fs.writeFileSync(STATE, JSON.stringify(state, null, 2));
}

/** Whether `pid` still runs: a zombie (ended, and not yet reaped by this very process) does not. */
function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** SIGTERM, then up to `ms` for the process to end, then SIGKILL if it has not. */
function terminate(pid, ms) {
  try { process.kill(pid, 'SIGTERM'); } catch { return; /* already gone */ }
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && isAlive(pid)) spawnSync('sleep', ['0.05']);
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone, as it should be */ }
}

/** Stopping must never fail the command it wraps: a leftover temporary directory is only reported. */
function removeDir(target) {
  try {
    fs.rmSync(target, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch (err) {
    say(`could not remove ${target}: ${err.message}`);
  }
}

/** Stops a server that is one process with a throwaway directory (kcat's mock cluster, nats-server). */
function stopProcessIn({ pid, dir }) {
  terminate(pid, 3000);
  removeDir(dir);
}

function stopRedis({ pid, dir }) {
  // Redis may still be writing to its directory while it shuts down: wait for it, briefly.
  terminate(pid, 3000);
  removeDir(dir);
}

/** A Redis Sentinel that monitors the Redis above (or the one REDIS_URL names) as master `mymaster`. */
async function startRedisSentinel(state) {
  const server = redisServer();
  const master = new URL(state.env.REDIS_URL ?? process.env.REDIS_URL ?? '');
  if (master.port === '') throw new Error('no Redis to monitor');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-redis-sentinel-'));
  // Sentinel rewrites its configuration file: it lives in the throwaway directory.
  const config = path.join(dir, 'sentinel.conf');
  fs.writeFileSync(config, `sentinel monitor mymaster ${master.hostname} ${master.port} 1\n`);
  state.redisSentinel = { dir, pid: undefined };
  const { port, pid } = await spawnRedis(server, dir, [], [config, '--sentinel']);
  state.redisSentinel.pid = pid;
  state.env.REDIS_SENTINEL = `127.0.0.1:${port}`;
  say(`Redis Sentinel on 127.0.0.1:${port}`);
}

function stopRedisCluster({ pids, dir }) {
  for (const pid of pids) terminate(pid, 3000);
  removeDir(dir);
}

/** The pids of the epmd daemons running now. */
function epmdPids() {
  const r = spawnSync('pgrep', ['-x', 'epmd'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean).map(Number) : [];
}

/**
 * Whether an epmd running now was started by our RabbitMQ: one that was not there when it started. An epmd
 * that a previous run was stopping counts as running at start, and the one Erlang starts next is ours.
 */
function startedEpmd(before, now) {
  return now.some((pid) => !before.includes(pid));
}

function stopRabbitmq({ node, env, dir, pid, epmdBefore = [] }) {
  try {
    const [ctl, ctlArgs] = rabbitmqCommand('rabbitmqctl', env);
    run(ctl, [...ctlArgs, '-n', node, 'stop'], { timeout: 60000 });
  } catch (err) {
    say(`stopping RabbitMQ: ${err.message}`);
  }
  // The server runs in a process group of its own (detached): whatever of it is left goes now.
  try { process.kill(-pid, 'SIGKILL'); } catch { /* already gone */ }
  if (startedEpmd(epmdBefore, epmdPids())) spawnSync('epmd', ['-kill'], { stdio: 'ignore', timeout: 10000, killSignal: 'SIGKILL' });
  removeDir(dir);
}

function stopMariadb({ pid, dir }) {
  terminate(pid, 10000);
  removeDir(dir);
}

function stopPostgres({ bin, data, dir, asUser }) {
  try {
    const args = ['-D', data, '-m', 'immediate', '-w', 'stop'];
    if (asUser.length) run(asUser[0], [...asUser.slice(1), path.join(bin, 'pg_ctl'), ...args]);
    else run(path.join(bin, 'pg_ctl'), args);
  } catch (err) {
    say(`stopping PostgreSQL: ${err.message}`);
  }
  removeDir(dir);
}

/**
 * Every service the tests use, in start order: `key` names its slot in the state (and, upper-cased or
 * as `env` gives it, OTCH_<KEY>_UNAVAILABLE), `given` the variables that point to a server that already runs. A new server
 * is one entry here, with its start and stop; a hook whose library talks to a server listed here needs
 * nothing in this file.
 */
const SERVICES = [
  { key: 'postgres', name: 'PostgreSQL', given: ['PGHOST', 'DATABASE_URL'], start: startPostgres, stop: stopPostgres },
  { key: 'redis', name: 'Redis', given: ['REDIS_URL'], start: startRedis, stop: stopRedis },
  { key: 'redisSentinel', env: 'REDIS_SENTINEL', name: 'Redis Sentinel', given: ['REDIS_SENTINEL'], start: startRedisSentinel, stop: stopRedis },
  { key: 'redisCluster', env: 'REDIS_CLUSTER', name: 'Redis Cluster', given: ['REDIS_CLUSTER_NODES'], start: startRedisCluster, stop: stopRedisCluster },
  { key: 'mariadb', name: 'MariaDB', given: ['MYSQL_URL'], start: startMariadb, stop: stopMariadb },
  { key: 'rabbitmq', name: 'RabbitMQ', given: ['AMQP_URL'], start: startRabbitmq, stop: stopRabbitmq },
  { key: 'kafka', name: 'Kafka (librdkafka mock cluster)', given: ['KAFKA_BROKERS'], start: startKafka, stop: stopProcessIn },
  { key: 'nats', name: 'NATS', given: ['NATS_URL'], start: startNats, stop: stopProcessIn },
];

/** Stops what `start` started (read back from the state file when not given), last started first. */
function stop(state) {
  if (state === undefined) {
    if (!fs.existsSync(STATE)) return;
    state = JSON.parse(fs.readFileSync(STATE, 'utf8'));
  }
  const started = Date.now();
  for (const service of [...SERVICES].reverse()) {
    if (state[service.key]) service.stop(state[service.key]);
  }
  removeDir(STATE);
  say(`stopped in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

module.exports = { start, stop, startedEpmd };

if (require.main === module) {
  const command = process.argv[2];
  if (command === 'start') {
    start().then((state) => process.stdout.write(JSON.stringify(state.env, null, 2) + '\n'), (err) => { say(err.message); process.exit(1); });
  } else if (command === 'stop') {
    stop();
  } else {
    say('usage: node scripts/services.js start|stop');
    process.exit(2);
  }
}
