'use strict';
/**
 * Settings of `npm run bench`, all from the environment (see the Performance section of README.md), and the
 * names shared by the orchestrator and its child processes.
 */
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
/** The package's public entry points, as a user reaches them. */
const DIST = path.join(ROOT, 'dist', 'index.js');
const REGISTER = path.join(ROOT, 'register.js');

/**
 * Warm-up calls of every process, whatever BENCH_SCALE: V8 keeps compiling each library's code (and ours, and
 * the peers') for the first 10,000 to 17,500 calls, on its worker threads too, which process.cpuUsage()
 * counts; a traced process has more code to compile, so a window inside that tail inflates its added cost
 * (see docs/performance.md, "5 December, evening"). Measured only after.
 */
const MIN_WARMUP = 15000;

/** Client scenarios: the measured process makes `concurrency` calls at a time. */
const CLIENTS = {
  http: { label: 'http client (keep-alive, other-process server)', concurrency: 16, calls: 12000, needs: [] },
  fetch: { label: 'fetch (global, undici)', concurrency: 16, calls: 4000, needs: [] },
  axios: { label: 'axios (keep-alive)', concurrency: 16, calls: 3000, needs: [] },
  pg: { label: 'pg `SELECT 1`, pool of 8', concurrency: 8, calls: 15000, needs: ['pg'] },
  redis: { label: 'node-redis `GET`', concurrency: 8, calls: 20000, needs: ['redis'] },
  ioredis: { label: 'ioredis `GET`', concurrency: 8, calls: 30000, needs: ['redis'] },
  'kafkajs-send': { label: 'kafkajs `send` of one message', concurrency: 8, calls: 8000, needs: ['kafka'] },
  'kafkajs-consume': { label: 'kafkajs one message sent and handled by `eachMessage`', concurrency: 8, calls: 4000, needs: ['kafka'] },
  graphql: { label: 'graphql `execute` (parsed query, one async resolver)', concurrency: 16, calls: 20000, needs: [] },
  mongodb: { label: 'mongodb `findOne` (wire-protocol stand-in in another process, or MONGODB_URL)', concurrency: 8, calls: 8000, needs: [] },
  mysql2: { label: 'mysql2 `pool.query(\'SELECT 1\')` (promise API), pool of 8', concurrency: 8, calls: 10000, needs: ['mysql'] },
  knex: { label: 'knex `raw(\'select 1\')` on pg, pool of 8', concurrency: 8, calls: 6000, needs: ['pg'] },
  amqplib: { label: 'amqplib `sendToQueue` of one message, handled by the same process\'s consumer', concurrency: 8, calls: 8000, needs: ['amqp'] },
  grpc: { label: '@grpc/grpc-js unary call (other-process server)', concurrency: 16, calls: 4000, needs: [] },
  'aws-sdk': { label: 'AWS SDK v3 SQS `SendMessage` (other-process stand-in)', concurrency: 16, calls: 2000, needs: [] },
  bullmq: {
    label: 'bullmq `queue.add` of one job, processed by the same process\'s worker',
    concurrency: 8,
    calls: 2000,
    needs: ['redis'],
    // Their spans here are of bullmq's ioredis commands, not of bullmq: the report must not take them for it.
    notInstrumentedBy: { otel: 'no bullmq instrumentation', elastic: 'no bullmq instrumentation' },
  },
  nats: { label: 'nats `publish` of one message, handled by the same process\'s subscription', concurrency: 8, calls: 30000, needs: ['nats'] },
  server: { label: 'inbound http server + 1 outbound http call', concurrency: 16, calls: 8000, needs: [], server: 'http' },
  express: { label: 'inbound express 5, route `/users/:id` + 1 outbound http call', concurrency: 16, calls: 6000, needs: [], server: 'express', path: '/users/42' },
  koa: { label: 'inbound koa 3 + @koa/router, route `/users/:id` + 1 outbound http call', concurrency: 16, calls: 6000, needs: [], server: 'koa', path: '/users/42' },
  fastify: { label: 'inbound fastify 5, route `/users/:id` + 1 outbound http call', concurrency: 16, calls: 6000, needs: [], server: 'fastify', path: '/users/42' },
  hapi: { label: 'inbound @hapi/hapi 21, route `/users/{id}` + 1 outbound http call', concurrency: 16, calls: 6000, needs: [], server: 'hapi', path: '/users/42' },
};

/** Inbound scenarios (`server`: the app, `path`: what loadgen.js asks for): the measured process is a traced server driven by loadgen.js. */
const isServer = (client) => CLIENTS[client].server !== undefined;

/** Clients that also get the in-process A/B measurement of the hooks without tracer (variant `ab`). */
const AB_CLIENTS = ['http', 'pg', 'redis', 'ioredis'];

/**
 * In-process A/B measurements, each of the variant it switches on and off: `ab` on AB_CLIENTS, the traced
 * ones (BENCH_AB_TRACED) on every client scenario (not the inbound ones, whose CPU is another process's).
 */
const AB_VARIANTS = { ab: 'hooks', 'ab-builtin': 'builtin', 'ab-shim': 'shim', 'ab-otel': 'otel' };
const AB_TRACED = ['ab-builtin', 'ab-shim', 'ab-otel'];

const VARIANTS = {
  baseline: 'baseline (no hooks)',
  hooks: 'hooks, no tracer (opentracing no-op)',
  builtin: 'hooks + built-in tracer (OT_TRACER=otlp)',
  shim: 'hooks + your OTel SDK via shim-opentracing',
  otel: "OpenTelemetry's own instrumentations",
  ddtrace: 'dd-trace (`tracer.init()` defaults, agent URL at the sink)',
  elastic: 'elastic-apm-node (`start()` with `serverUrl` at the sink; a transaction per client call)',
};

/** Peers: other vendors' agents, which always export for real (to the sink). */
const PEERS = ['otel', 'ddtrace', 'elastic'];

/** Labels of measurements that are not variants of their own in the tables. */
const EXTRA_LABELS = {
  ab: 'hooks, no tracer, in-process A/B (uninstall/install alternated)',
};

function int(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name}=${raw}: expected a whole number ≥ 0`);
  return value;
}

function list(name, known, fallback) {
  const raw = process.env[name] ?? fallback;
  if (raw === undefined || raw.trim() === '') return Object.keys(known);
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(n in known)) throw new Error(`${name}: unknown "${n}"; known: ${Object.keys(known).join(', ')}`);
  }
  return Object.keys(known).filter((n) => names.includes(n));
}

function number(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${raw}: expected a number > 0`);
  return value;
}

/** Measured and warm-up calls of one process of `client`: BENCH_CALLS, else the client's default × BENCH_SCALE (warm-up: half of that, at least MIN_WARMUP; BENCH_WARMUP overrides). */
function callsFor(s, client) {
  const calls = s.calls ?? Math.max(100, Math.round(CLIENTS[client].calls * s.scale));
  const warmup = s.warmup ?? Math.max(Math.round(calls / 2), MIN_WARMUP);
  return { calls, warmup };
}

/** `npm run bench -- --runs 3` (the same as BENCH_RUNS=3). */
function runsArg() {
  const i = process.argv.indexOf('--runs');
  if (i === -1) return undefined;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--runs ${process.argv[i + 1]}: expected a whole number ≥ 1`);
  return value;
}

function settings() {
  const exportMode = (process.env.BENCH_EXPORT || 'noop').trim();
  if (exportMode !== 'noop' && exportMode !== 'sink') throw new Error(`BENCH_EXPORT=${exportMode}: expected noop or sink`);
  const clients = list('BENCH_CLIENTS', CLIENTS);
  const variants = list('BENCH_VARIANTS', VARIANTS);
  if (!variants.includes('baseline')) variants.unshift('baseline'); // every added cost is against it
  return {
    calls: process.env.BENCH_CALLS ? Math.max(1, int('BENCH_CALLS', 0)) : undefined,
    warmup: process.env.BENCH_WARMUP ? int('BENCH_WARMUP', 0) : undefined,
    scale: number('BENCH_SCALE', 1),
    ab: int('BENCH_AB', 1) > 0,
    abPairs: Math.max(2, int('BENCH_AB_PAIRS', 10)),
    abTraced: int('BENCH_AB_TRACED', 1) > 0,
    rounds: int('BENCH_ROUNDS', 5), // 0: start-up and heap only
    runs: Math.max(1, runsArg() ?? int('BENCH_RUNS', 1)), // consecutive runs whose verdicts must agree
    clients,
    variants,
    startupRuns: int('BENCH_STARTUP_RUNS', 21),
    heapRequests: int('BENCH_HEAP_REQUESTS', 50000),
    heapFlatMb: number('BENCH_HEAP_FLAT_MB', 2),
    heapSettleMs: int('BENCH_HEAP_SETTLE_MS', 6000),
    exportMode,
    out: path.resolve(ROOT, process.env.BENCH_OUT || 'bench-results.json'),
    heapVariants: list('BENCH_HEAP_VARIANTS', { baseline: 1, builtin: 1, hooks: 1, shim: 1, otel: 1 }, 'baseline,builtin'),
    heapSnapshotDir: process.env.BENCH_HEAP_SNAPSHOTS ? path.resolve(ROOT, process.env.BENCH_HEAP_SNAPSHOTS) : undefined,
    cpuProfDir: process.env.BENCH_CPU_PROF ? path.resolve(ROOT, process.env.BENCH_CPU_PROF) : undefined,
    childTimeoutMs: int('BENCH_CHILD_TIMEOUT_MS', 180000),
  };
}

module.exports = { ROOT, DIST, REGISTER, MIN_WARMUP, PEERS, CLIENTS, isServer, AB_CLIENTS, AB_VARIANTS, AB_TRACED, VARIANTS, EXTRA_LABELS, callsFor, settings };
