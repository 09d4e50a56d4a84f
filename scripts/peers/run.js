#!/usr/bin/env node
'use strict';
/**
 * Runs a library's own test suite twice, without and with the hooks (`NODE_OPTIONS=-r <repo>/register.js`,
 * `OT_TRACER=jsonl`, a recording tracer), and compares the outcomes test by test:
 *
 *   node scripts/peers/run.js <suite> <library-dir> [plain|hooks|both]
 *
 * <suite> is one of the keys of SUITES below. <library-dir> is the library's source checkout with its dev
 * dependencies installed (`npm install`), and it must sit at a real `node_modules/<name>/` path (the hooks
 * match modules by that path), e.g. /work/peers/express5/node_modules/express. This script fetches nothing:
 * get the source (git checkout of the tag, or `npm pack` + untar) and install it yourself.
 * mysql2 needs MariaDB (MYSQL_URL) and amqplib RabbitMQ (AMQP_URL); run those under
 * `node scripts/with-services.js node scripts/peers/run.js ...`. mysql2's tests are TypeScript: they run
 * with its own dev dependency tsx (`node --import tsx`), as Node refuses to strip types under node_modules/.
 * PEERS_NODE picks another node binary.
 * Exit status 1 when a test fails only with the hooks.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..', '..');
const NODE = process.env.PEERS_NODE || process.execPath;

function mocha(args) {
  return (dir) => [[NODE, [path.join(dir, 'node_modules', 'mocha', 'bin', 'mocha'), '--reporter', path.join(__dirname, 'mocha-reporter.js'), ...args]]];
}

/** mysql2's suite is poku's: one process per test file; a file is a test (as poku counts them). */
function mysql2Files(dir) {
  const files = [];
  const walk = (sub) => {
    for (const entry of fs.readdirSync(path.join(dir, sub), { withFileTypes: true })) {
      const rel = path.join(sub, entry.name);
      if (entry.isDirectory()) walk(rel);
      else if (/\.test\.(c|m)?(j|t)s$/.test(entry.name)) files.push(rel);
    }
  };
  // test/global needs a privileged user (poku's config skips it otherwise), as here.
  walk('test/unit');
  walk('test/integration');
  return files.sort();
}

const SUITES = {
  // express 4.22 and 5.2: its package.json `test` script, without --bail.
  express: { run: mocha(['--require', 'test/support/env', '--check-leaks', 'test/', 'test/acceptance/']) },
  // koa 3.2: `node --test`.
  koa: { run: () => [[NODE, ['--test', `--test-reporter=${path.join(__dirname, 'node-test-reporter.mjs')}`, '--test-reporter-destination=stdout']]] },
  // amqplib 0.10: `make test`.
  amqplib: { run: mocha(['--check-leaks', '-u', 'tdd', '--exit', 'test/']), env: (env) => ({ URL: env.AMQP_URL }) },
  mysql2: { files: mysql2Files, nodeArgs: ['--import', 'tsx'], env: mysqlEnv },
};

function mysqlEnv(env) {
  if (!env.MYSQL_URL) throw new Error('mysql2 needs MYSQL_URL (run under scripts/with-services.js)');
  const url = new URL(env.MYSQL_URL);
  return {
    MYSQL_HOST: url.hostname,
    MYSQL_PORT: url.port || '3306',
    MYSQL_USER: decodeURIComponent(url.username),
    MYSQL_PASSWORD: decodeURIComponent(url.password),
    MYSQL_DATABASE: url.pathname.slice(1),
    CI: '1', // mysql2's tests pass MYSQL_PASSWORD only under CI
  };
}

function exec(cmd, args, options, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const timer = timeoutMs ? setTimeout(() => child.kill('SIGKILL'), timeoutMs) : undefined;
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

async function runOnce(name, dir, withHooks) {
  const suite = SUITES[name];
  const results = path.join(os.tmpdir(), `peers-${name}-${process.pid}-${withHooks ? 'hooks' : 'plain'}.jsonl`);
  fs.rmSync(results, { force: true });
  const env = { ...process.env, ...(suite.env ? suite.env(process.env) : {}), PEERS_RESULTS: results };
  delete env.NODE_OPTIONS;
  if (withHooks) {
    env.NODE_OPTIONS = `-r ${path.join(ROOT, 'register.js')}`;
    env.OT_TRACER = 'jsonl';
    env.OT_TRACER_FILE = path.join(os.tmpdir(), `peers-${name}-${process.pid}-traces.jsonl`);
  }
  const outcomes = new Map();
  if (suite.files) {
    const files = suite.files(dir);
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const file = files[next++];
        const { code, signal, output } = await exec(NODE, [...(suite.nodeArgs ?? []), file], { cwd: dir, env }, 120000);
        const state = code === 0 ? 'passed' : 'failed';
        outcomes.set(file, { state, error: state === 'failed' ? `exit ${code ?? signal}: ${output.slice(-400)}` : undefined });
      }
    };
    await Promise.all(Array.from({ length: Number(process.env.PEERS_CONCURRENCY || 3) }, worker));
  } else {
    for (const [cmd, args] of suite.run(dir)) {
      const { output } = await exec(cmd, args, { cwd: dir, env }, 30 * 60000);
      fs.writeFileSync(`${results}.log`, output);
    }
    const lines = fs.existsSync(results) ? fs.readFileSync(results, 'utf8').split('\n').filter(Boolean) : [];
    for (const line of lines) {
      const { title, state, error } = JSON.parse(line);
      // A title seen twice (a hook failing after its test passed) keeps its worst outcome.
      let key = title;
      if (outcomes.has(key) && outcomes.get(key).state !== 'passed') continue;
      outcomes.set(key, { state: outcomes.get(key)?.state === 'passed' && state === 'failed' ? 'failed' : state, error });
    }
  }
  return outcomes;
}

function count(outcomes, state) {
  return [...outcomes.values()].filter((o) => o.state === state).length;
}

async function main() {
  const [name, dirArg, mode = 'both'] = process.argv.slice(2);
  if (!SUITES[name] || !dirArg) throw new Error(`usage: node scripts/peers/run.js <${Object.keys(SUITES).join('|')}> <library-dir> [plain|hooks|both]`);
  const dir = path.resolve(dirArg);
  if (!dir.split(path.sep).includes('node_modules')) throw new Error(`${dir} is not under a node_modules/ folder: the hooks would not match it`);
  const runs = {};
  if (mode !== 'hooks') runs.plain = await runOnce(name, dir, false);
  if (mode !== 'plain') runs.hooks = await runOnce(name, dir, true);
  for (const [label, outcomes] of Object.entries(runs)) {
    console.log(`${name} ${label}: ${outcomes.size} tests, ${count(outcomes, 'passed')} passed, ${count(outcomes, 'failed')} failed, ${count(outcomes, 'pending')} pending`);
    for (const [title, o] of outcomes) if (o.state === 'failed') console.log(`  ${label} failed: ${title}`);
  }
  if (!runs.plain || !runs.hooks) return;
  const hookOnly = [...runs.hooks].filter(([title, o]) => o.state === 'failed' && runs.plain.get(title)?.state !== 'failed');
  const plainOnly = [...runs.plain].filter(([title, o]) => o.state === 'failed' && runs.hooks.get(title)?.state !== 'failed');
  const missing = [...runs.plain.keys()].filter((title) => !runs.hooks.has(title));
  console.log(`${name}: ${hookOnly.length} hook-only failures, ${plainOnly.length} failing only without hooks, ${missing.length} tests not run with hooks`);
  for (const [title, o] of hookOnly) console.log(`  hook-only: ${title}\n    ${String(o.error).replace(/\n/g, '\n    ')}`);
  for (const [title] of plainOnly) console.log(`  plain-only: ${title}`);
  for (const title of missing.slice(0, 20)) console.log(`  not run with hooks: ${title}`);
  if (hookOnly.length > 0 || missing.length > 0) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(2);
});
