#!/usr/bin/env node
'use strict';
/**
 * `npm run demo`: starts PostgreSQL, Redis, MariaDB and RabbitMQ, then a front and a back service (with a
 * BullMQ worker), each under
 * `node -r ./register` with OT_TRACER=jsonl, sends a few requests, and prints each cross-service
 * trace as one waterfall assembled from the jsonl output. Stops everything it started.
 */
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const services = require('./services');

const root = path.join(__dirname, '..');
const requests = Number(process.env.DEMO_REQUESTS || 3);

function fail(message) {
  process.stderr.write(`demo: ${message}\n`);
  process.exitCode = 1;
}

function startService(name, script, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', './register', script], {
      cwd: root,
      env: { ...process.env, ...env, OT_SERVICE_NAME: name },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      const m = /listening (\d+)/.exec(String(d));
      if (m) resolve({ child, url: `http://127.0.0.1:${m[1]}` });
    });
    child.on('exit', (code) => reject(new Error(`${name} service exited (${code}): ${stderr.trim()}`)));
  });
}

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    }).on('error', reject);
  });
}

function stop(proc) {
  return new Promise((resolve) => {
    if (!proc || proc.exitCode !== null) return resolve();
    proc.once('exit', resolve);
    proc.kill('SIGTERM');
    setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
  });
}

async function main() {
  if (!fs.existsSync(path.join(root, 'dist', 'register.js'))) throw new Error('dist/ is missing: run `npm install` (it builds) or `npm run build`');
  const { renderTrace } = require('../dist/tracer/waterfall');
  const state = await services.start();
  const problems = ['OTCH_POSTGRES_UNAVAILABLE', 'OTCH_REDIS_UNAVAILABLE', 'OTCH_MARIADB_UNAVAILABLE', 'OTCH_RABBITMQ_UNAVAILABLE']
    .filter((k) => state.env[k])
    .map((k) => state.env[k]);
  let front;
  let back;
  const traceFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'otch-demo-')), 'traces.jsonl');
  try {
    if (problems.length) throw new Error(`a service could not start:\n  ${problems.join('\n  ')}`);
    const env = { ...state.env, OT_TRACER: 'jsonl', OT_TRACER_FILE: traceFile };
    back = await startService('back', 'scripts/demo/back.js', env);
    front = await startService('front', 'scripts/demo/front.js', { ...env, BACK_URL: back.url });
    process.stdout.write(`front ${front.url}  ->  back ${back.url}  (PostgreSQL, MariaDB, Redis, RabbitMQ, BullMQ on 127.0.0.1)\n\n`);
    for (let i = 1; i <= requests; i++) {
      const res = await get(`${front.url}/checkout/${i}`);
      process.stdout.write(`GET /checkout/${i} -> ${res.status} ${res.body}\n`);
    }
    // The back service consumes one event and runs one receipt job per order: wait until it has, so
    // their spans are in the file.
    const deadline = Date.now() + 15000;
    while (Number((await get(`${back.url}/consumed`)).body) < requests) {
      if (Date.now() > deadline) throw new Error('the back service did not consume its order events and run their receipt jobs');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    await stop(front?.child);
    await stop(back?.child);
    services.stop(state);
  }
  const records = fs.existsSync(traceFile) ? fs.readFileSync(traceFile, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)) : [];
  fs.rmSync(path.dirname(traceFile), { recursive: true, force: true });
  const traces = new Map();
  for (const r of records) {
    const list = traces.get(r.traceId) || [];
    list.push(r);
    traces.set(r.traceId, list);
  }
  const color = process.stdout.isTTY === true;
  process.stdout.write(`\n${records.length} spans in ${traces.size} traces (from both services' jsonl output)\n\n`);
  for (const list of traces.values()) {
    if (list.length < 2) continue; // the back service's start-up queries are traces of their own
    process.stdout.write(renderTrace(list, { color }) + '\n');
  }
}

main().catch((err) => fail(err.message));
