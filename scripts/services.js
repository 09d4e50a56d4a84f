#!/usr/bin/env node
'use strict';
/**
 * Starts a throwaway PostgreSQL and Redis on free 127.0.0.1 ports in a temporary directory, and stops them.
 * Servers that already exist win: PGHOST/DATABASE_URL and REDIS_URL are used as they are.
 * Missing Debian packages (postgresql, redis-server) are installed with apt-get when running as root.
 *
 *   node scripts/services.js start   # prints the environment to use, as JSON
 *   node scripts/services.js stop
 */
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const STATE = path.join(__dirname, '..', '.services', 'state.json');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function say(message) {
  process.stderr.write(`services: ${message}\n`);
}

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...options });
  if (r.error) throw new Error(`${cmd} could not run: ${r.error.message}`);
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
    run('apt-get', ['update', '-qq'], { env });
    aptUpdated = true;
  }
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', pkg], { env });
}

function findPgBin() {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return undefined;
  const versions = fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions.length > 0 ? path.join(base, versions[0], 'bin') : undefined;
}

function which(cmd) {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
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

async function startRedis(state) {
  let server = which('redis-server');
  if (server === undefined) {
    aptInstall('redis-server');
    server = which('redis-server');
    if (server === undefined) throw new Error('redis-server is installed but not on PATH');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-redis-'));
  const port = await freePort();
  const child = spawn(server, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', path.join(dir, 'redis.log')], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  await waitForPort(port, 15000);
  state.redis = { dir, port, pid: child.pid };
  state.env.REDIS_URL = `redis://127.0.0.1:${port}`;
  say(`Redis on 127.0.0.1:${port}`);
}

/** Starts what is not already given; a service that fails is reported in env as OTCH_<NAME>_UNAVAILABLE. */
async function start() {
  const state = { env: {} };
  if (process.env.PGHOST || process.env.DATABASE_URL) {
    say('using the PostgreSQL server given by PGHOST/DATABASE_URL');
  } else {
    try {
      await startPostgres(state);
    } catch (err) {
      state.env.OTCH_POSTGRES_UNAVAILABLE = err.message;
      say(`PostgreSQL could not be started: ${err.message}`);
    }
  }
  if (process.env.REDIS_URL) {
    say('using the Redis server given by REDIS_URL');
  } else {
    try {
      await startRedis(state);
    } catch (err) {
      state.env.OTCH_REDIS_UNAVAILABLE = err.message;
      say(`Redis could not be started: ${err.message}`);
    }
  }
  fs.mkdirSync(path.dirname(STATE), { recursive: true });
  fs.writeFileSync(STATE, JSON.stringify(state, null, 2));
  return state;
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stopping must never fail the command it wraps: a leftover temporary directory is only reported. */
function removeDir(target) {
  try {
    fs.rmSync(target, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  } catch (err) {
    say(`could not remove ${target}: ${err.message}`);
  }
}

function stop(state) {
  if (state === undefined) {
    if (!fs.existsSync(STATE)) return;
    state = JSON.parse(fs.readFileSync(STATE, 'utf8'));
  }
  if (state.redis) {
    try { process.kill(state.redis.pid, 'SIGTERM'); } catch { /* already gone */ }
    // Redis may still be writing to its directory while it shuts down: wait for it, briefly.
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && isAlive(state.redis.pid)) spawnSync('sleep', ['0.05']);
    removeDir(state.redis.dir);
  }
  if (state.postgres) {
    const { bin, data, dir, asUser } = state.postgres;
    try {
      const args = ['-D', data, '-m', 'immediate', '-w', 'stop'];
      if (asUser.length) run(asUser[0], [...asUser.slice(1), path.join(bin, 'pg_ctl'), ...args]);
      else run(path.join(bin, 'pg_ctl'), args);
    } catch (err) {
      say(`stopping PostgreSQL: ${err.message}`);
    }
    removeDir(dir);
  }
  removeDir(STATE);
}

module.exports = { start, stop };

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
