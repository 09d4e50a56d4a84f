#!/usr/bin/env node
'use strict';
/**
 * `npm run bench`: per-call overhead of the hooks on real calls (HTTP on 127.0.0.1, PostgreSQL, Redis),
 * as a ratio to an uninstrumented run and beside OpenTelemetry's own instrumentation, both without an
 * SDK (no-op tracer), so that what is measured is the instrumentation itself. Each scenario and mode
 * runs in its own process; the runs alternate and the median is reported.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const ITERATIONS = Number(process.env.BENCH_ITERATIONS || 4000);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const SCENARIOS = ['http', 'pg', 'ioredis'];
const MODES = ['baseline', 'hooks', 'otel'];

function setup(mode, scenario) {
  if (mode === 'hooks') {
    require('../dist').installAllPatches();
  } else if (mode === 'otel') {
    const { registerInstrumentations } = require('@opentelemetry/instrumentation');
    const instrumentation =
      scenario === 'http' ? new (require('@opentelemetry/instrumentation-http').HttpInstrumentation)()
      : scenario === 'pg' ? new (require('@opentelemetry/instrumentation-pg').PgInstrumentation)()
      : new (require('@opentelemetry/instrumentation-ioredis').IORedisInstrumentation)();
    registerInstrumentations({ instrumentations: [instrumentation] });
  }
}

async function makeCall(scenario) {
  if (scenario === 'http') {
    const http = require('node:http');
    const server = http.createServer((req, res) => res.end('ok'));
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const url = `http://127.0.0.1:${server.address().port}/bench?x=1`;
    return {
      call: () => new Promise((resolve, reject) => http.get(url, { agent }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject)),
      close: () => { agent.destroy(); server.close(); },
    };
  }
  if (scenario === 'pg') {
    const pg = require('pg');
    const client = new pg.Client();
    await client.connect();
    return { call: () => client.query('SELECT $1::int AS n', [1]), close: () => client.end() };
  }
  const Redis = require('ioredis');
  const client = new Redis(process.env.REDIS_URL);
  await client.set('bench:key', 'v');
  return { call: () => client.get('bench:key'), close: () => client.quit() };
}

async function child(mode, scenario) {
  setup(mode, scenario);
  const { call, close } = await makeCall(scenario);
  for (let i = 0; i < Math.min(1000, ITERATIONS); i++) await call(); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) await call();
  const elapsed = Number(process.hrtime.bigint() - start) / 1e3;
  await close();
  process.stdout.write(JSON.stringify({ usPerCall: elapsed / ITERATIONS }) + '\n');
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function main() {
  const results = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      for (const mode of MODES) {
        const r = spawnSync(process.execPath, [__filename, '--child', mode, scenario], { cwd: path.join(__dirname, '..'), encoding: 'utf8', env: process.env });
        const key = `${scenario}/${mode}`;
        results[key] ??= [];
        try {
          results[key].push(JSON.parse(r.stdout.trim().split('\n').pop()).usPerCall);
        } catch {
          process.stderr.write(`bench ${key} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}\n`);
        }
      }
    }
  }
  const rows = [['scenario', 'uninstrumented µs/call', 'hooks µs/call', 'hooks overhead', 'OpenTelemetry µs/call', 'OpenTelemetry overhead']];
  for (const scenario of SCENARIOS) {
    const base = median(results[`${scenario}/baseline`] ?? [NaN]);
    const hooks = median(results[`${scenario}/hooks`] ?? [NaN]);
    const otel = median(results[`${scenario}/otel`] ?? [NaN]);
    const fmt = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
    const over = (v) => (Number.isFinite(v) ? `${v - base >= 0 ? '+' : ''}${(v - base).toFixed(1)} µs (×${(v / base).toFixed(3)})` : 'n/a');
    rows.push([scenario, fmt(base), fmt(hooks), over(hooks), fmt(otel), over(otel)]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join('  ') + '\n');
  process.stdout.write(`\n${ITERATIONS} sequential calls per run, median of ${ROUNDS} runs, no SDK behind either (no-op tracer).\n`);
}

if (process.argv[2] === '--child') {
  child(process.argv[3], process.argv[4]).catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
} else {
  main();
}
