#!/usr/bin/env node
'use strict';
/**
 * Per-span CPU cost of the built-in tracer, beside what it replaced and the raw OpenTelemetry SDK:
 *
 *   shim  the previous built-in tracer: @opentelemetry/shim-opentracing over the SDK's Tracer (with the
 *         span.kind → SpanKind wrapper it had)
 *   lean  the built-in tracer now (src/tracer/lean.ts)
 *   sdk   the SDK's own tracer.startSpan/setAttribute/end, explicit parent context (for reference)
 *
 * Each behind the SDK's BatchSpanProcessor and an exporter that drops the batches. Per span: start (with
 * span.kind) + 6 tags + finish; as a root, as a child of a long-lived parent, and as a child that is also
 * injected into a header map (what an HTTP client hook does). Each variant runs in its own process; the
 * runs alternate; CPU time (user+system) per span, median of the rounds.
 *
 *   npm run build && node scripts/bench-tracer.js        BENCH_SPANS=200000 BENCH_ROUNDS=5
 *
 * With --e2e, per call on real calls instead (client-process CPU per call; HTTP on 127.0.0.1 with its
 * server in the same process, PostgreSQL, node-redis, ioredis), with the same BatchSpanProcessor + dropping
 * exporter behind: uninstrumented; our hooks with a no-op tracer, with the shim tracer, with the lean
 * tracer; OpenTelemetry's own instrumentation with the SDK (and an AsyncLocalStorage context manager, as
 * an app registers). Needs the services:
 *
 *   node scripts/with-services.js node scripts/bench-tracer.js --e2e    BENCH_ITERATIONS=4000 BENCH_ROUNDS=5
 *
 * The modes run side by side (one process each) and take turns by blocks of calls, so that the load of a
 * shared machine falls on each alike.
 */
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const SPANS = Number(process.env.BENCH_SPANS || 200000);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const VARIANTS = ['shim', 'lean', 'sdk'];
const SCENARIOS = ['root', 'child', 'child+inject'];
const CHUNK = 100; // spans between event-loop turns, so that the batch processor exports as in an app

let exportedSpans = 0;
const droppingExporter = {
  export: (spans, done) => {
    exportedSpans += spans.length;
    done({ code: 0 });
  },
  shutdown: () => Promise.resolve(),
};

function tags(i) {
  return [
    ['component', 'bench'],
    ['http.method', 'GET'],
    ['http.url', 'http://127.0.0.1:8080/bench?x=1'],
    ['peer.hostname', '127.0.0.1'],
    ['peer.port', 8080],
    ['http.status_code', 200 + (i & 1)],
  ];
}

function leanTracer() {
  const lean = require('../dist/tracer/lean');
  const { batchSpanProcessor } = require('../dist/tracer');
  const { createPropagation, propagatorFor } = require('../dist/tracer/propagation');
  return new lean.LeanTracer({
    processor: batchSpanProcessor(droppingExporter, {}),
    resource: new lean.FixedResource({ 'service.name': 'bench' }),
    limits: lean.limitsFromEnv({}),
    propagation: () => createPropagation(propagatorFor({})),
  });
}

function sdkProvider() {
  const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  return new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'bench' }),
    spanProcessors: [new BatchSpanProcessor(droppingExporter)],
  });
}

/** The previous built-in tracer, as src/tracer/index.ts built it: the shim over the SDK, span.kind → SpanKind. */
function shimTracer(otelTracer) {
  const api = require('@opentelemetry/api');
  const { W3CTraceContextPropagator, CompositePropagator } = require('@opentelemetry/core');
  const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator()] });
  const { TracerShim } = require('@opentelemetry/shim-opentracing');
  let pendingKind;
  const KINDS = { client: api.SpanKind.CLIENT, server: api.SpanKind.SERVER, producer: api.SpanKind.PRODUCER, consumer: api.SpanKind.CONSUMER };
  const kindAware = {
    startSpan: (name, options, context) => otelTracer.startSpan(name, pendingKind === undefined ? options : { ...options, kind: pendingKind }, context),
    startActiveSpan: otelTracer.startActiveSpan.bind(otelTracer),
  };
  class KindAwareShim extends TracerShim {
    startSpan(name, options = {}) {
      const kind = options.tags?.['span.kind'];
      pendingKind = typeof kind === 'string' ? KINDS[kind] : undefined;
      try {
        return super.startSpan(name, options);
      } finally {
        pendingKind = undefined;
      }
    }
  }
  return new KindAwareShim(kindAware, { textMapPropagator: propagator, httpHeadersPropagator: propagator });
}

/** A uniform interface over the three: start(name, kind, parent) → handle; tag; finish; inject. */
function setup(variant) {
  if (variant === 'lean') {
    const tracer = leanTracer();
    return {
      start: (name, parent) => tracer.startSpan(name, { childOf: parent, tags: { 'span.kind': 'client' } }),
      tag: (span, k, v) => span.setTag(k, v),
      finish: (span) => span.finish(),
      inject: (span, carrier) => tracer.inject(span.context(), 'http_headers', carrier),
    };
  }
  const api = require('@opentelemetry/api');
  const otelTracer = sdkProvider().getTracer('opentracing-client-hooks');
  if (variant === 'sdk') {
    const { W3CTraceContextPropagator, CompositePropagator } = require('@opentelemetry/core');
    const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator()] });
    return {
      start: (name, parent) =>
        otelTracer.startSpan(name, { kind: api.SpanKind.CLIENT, attributes: { 'span.kind': 'client' } }, parent ? api.trace.setSpan(api.ROOT_CONTEXT, parent) : api.ROOT_CONTEXT),
      tag: (span, k, v) => span.setAttribute(k, v),
      finish: (span) => span.end(),
      inject: (span, carrier) => propagator.inject(api.trace.setSpan(api.ROOT_CONTEXT, span), carrier, api.defaultTextMapSetter),
    };
  }
  const shim = shimTracer(otelTracer);
  return {
    start: (name, parent) => shim.startSpan(name, { childOf: parent, tags: { 'span.kind': 'client' } }),
    tag: (span, k, v) => span.setTag(k, v),
    finish: (span) => span.finish(),
    inject: (span, carrier) => shim.inject(span.context(), 'http_headers', carrier),
  };
}

async function child(variant, scenario) {
  const t = setup(variant);
  const parent = scenario === 'root' ? undefined : t.start('parent', undefined);
  const inject = scenario === 'child+inject';
  const TAGS = [tags(0), tags(1)];
  const one = (i) => {
    const span = t.start('HTTP GET', parent);
    for (const [k, v] of TAGS[i & 1]) t.tag(span, k, v);
    if (inject) t.inject(span, {});
    t.finish(span);
  };
  const run = async (n) => {
    for (let i = 0; i < n; i += CHUNK) {
      for (let j = 0; j < CHUNK; j++) one(i + j);
      await new Promise(setImmediate);
    }
  };
  await run(Math.min(50000, SPANS)); // warm-up
  if (global.gc) global.gc();
  const cpu = process.cpuUsage();
  const wall = process.hrtime.bigint();
  await run(SPANS);
  const used = process.cpuUsage(cpu);
  const elapsed = Number(process.hrtime.bigint() - wall) / 1e3;
  process.stdout.write(JSON.stringify({ cpuUs: (used.user + used.system) / SPANS, wallUs: elapsed / SPANS }) + '\n');
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function main() {
  const results = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      for (const variant of VARIANTS) {
        const r = spawnSync(process.execPath, ['--expose-gc', __filename, '--child', variant, scenario], { cwd: path.join(__dirname, '..'), encoding: 'utf8' });
        const key = `${scenario}/${variant}`;
        results[key] ??= [];
        try {
          results[key].push(JSON.parse(r.stdout.trim().split('\n').pop()));
        } catch {
          process.stderr.write(`bench ${key} failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}\n`);
        }
      }
    }
  }
  const rows = [['scenario', ...VARIANTS.map((v) => `${v} µs/span (cpu)`), 'lean vs shim', 'lean vs sdk']];
  for (const scenario of SCENARIOS) {
    const cpu = Object.fromEntries(VARIANTS.map((v) => [v, median((results[`${scenario}/${v}`] ?? [{ cpuUs: NaN }]).map((x) => x.cpuUs))]));
    rows.push([scenario, ...VARIANTS.map((v) => cpu[v].toFixed(2)), `×${(cpu.shim / cpu.lean).toFixed(1)} less`, `×${(cpu.sdk / cpu.lean).toFixed(1)} less`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join('  ') + '\n');
  process.stdout.write(`\n${SPANS} spans per run (start with span.kind + 6 tags + finish), median of ${ROUNDS} runs; BatchSpanProcessor + dropping exporter behind each.\n`);
}

// ------------------------------------------------------------------------------------------ --e2e

const ITERATIONS = Number(process.env.BENCH_ITERATIONS || 4000);
const E2E_SCENARIOS = (process.env.BENCH_SCENARIOS || 'http,pg,redis,ioredis').split(',');
const E2E_MODES = ['baseline', 'hooks-noop', 'hooks-shim', 'hooks-lean', 'otel-sdk'];

function e2eSetup(mode, scenario) {
  if (mode === 'baseline') return;
  if (mode.startsWith('hooks-')) {
    const tracer = mode === 'hooks-lean' ? leanTracer() : mode === 'hooks-shim' ? shimTracer(sdkProvider().getTracer('opentracing-client-hooks')) : new (require('opentracing').Tracer)();
    require('../dist').installAllPatches({ tracer });
    return;
  }
  const api = require('@opentelemetry/api');
  const provider = sdkProvider();
  api.trace.setGlobalTracerProvider(provider);
  api.context.setGlobalContextManager(asyncLocalStorageContextManager(api));
  const { registerInstrumentations } = require('@opentelemetry/instrumentation');
  const instrumentation =
    scenario === 'http' ? new (require('@opentelemetry/instrumentation-http').HttpInstrumentation)()
    : scenario === 'pg' ? new (require('@opentelemetry/instrumentation-pg').PgInstrumentation)()
    : scenario === 'redis' ? new (require('@opentelemetry/instrumentation-redis').RedisInstrumentation)()
    : new (require('@opentelemetry/instrumentation-ioredis').IORedisInstrumentation)({ requireParentSpan: false }); // a span per call, as ours
  registerInstrumentations({ instrumentations: [instrumentation], tracerProvider: provider });
}

/**
 * What @opentelemetry/context-async-hooks' AsyncLocalStorageContextManager does (NodeTracerProvider.register()
 * and NodeSDK install it; the package is not among our dependencies), written here to the same behaviour:
 * the active context in an AsyncLocalStorage; bind() wraps a function, or patches an EventEmitter's
 * listener methods so that its listeners run in the bound context (instrumentation-http binds req and res).
 */
function asyncLocalStorageContextManager(api) {
  const { AsyncLocalStorage } = require('node:async_hooks');
  const { EventEmitter } = require('node:events');
  const storage = new AsyncLocalStorage();
  const PATCHED = Symbol('bench listeners');
  const bindFunction = (context, target) => {
    const bound = function (...args) {
      return manager.with(context, () => target.apply(this, args));
    };
    Object.defineProperty(bound, 'length', { configurable: true, value: target.length });
    return bound;
  };
  const bindEmitter = (context, ee) => {
    if (ee[PATCHED] !== undefined) return ee;
    ee[PATCHED] = Object.create(null);
    for (const method of ['addListener', 'on', 'once', 'prependListener', 'prependOnceListener']) {
      const original = ee[method];
      if (typeof original !== 'function') continue;
      ee[method] = function (event, listener) {
        const byEvent = (ee[PATCHED][event] ??= new WeakMap());
        const bound = manager.bind(context, listener);
        byEvent.set(listener, bound);
        return original.call(this, event, bound);
      };
    }
    for (const method of ['removeListener', 'off']) {
      const original = ee[method];
      if (typeof original !== 'function') continue;
      ee[method] = function (event, listener) {
        return original.call(this, event, ee[PATCHED][event]?.get(listener) ?? listener);
      };
    }
    const removeAll = ee.removeAllListeners;
    if (typeof removeAll === 'function') {
      ee.removeAllListeners = function (event) {
        if (arguments.length === 0) ee[PATCHED] = Object.create(null);
        else delete ee[PATCHED][event];
        return removeAll.apply(this, arguments);
      };
    }
    return ee;
  };
  const manager = {
    active: () => storage.getStore() ?? api.ROOT_CONTEXT,
    with: (context, fn, thisArg, ...args) => storage.run(context, thisArg == null ? fn : fn.bind(thisArg), ...args),
    bind: (context, target) => (target instanceof EventEmitter ? bindEmitter(context, target) : typeof target === 'function' ? bindFunction(context, target) : target),
    enable: () => manager,
    disable: () => {
      storage.disable();
      return manager;
    },
  };
  return manager;
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
  if (scenario === 'redis') {
    // node-redis 4 (@redis/client 1.x), which OpenTelemetry's instrumentation-redis covers.
    const client = require('redis4').createClient({ url: process.env.REDIS_URL });
    await client.connect();
    await client.set('bench:key', 'v');
    return { call: () => client.get('bench:key'), close: () => client.quit() };
  }
  const Redis = require('ioredis');
  const client = new Redis(process.env.REDIS_URL);
  await client.set('bench:key', 'v');
  return { call: () => client.get('bench:key'), close: () => client.quit() };
}

/**
 * One mode of one scenario, driven by e2eMain over IPC: warms up, then runs the blocks of calls it is sent
 * and answers with the CPU each took.
 */
async function e2eWorker(mode, scenario) {
  e2eSetup(mode, scenario);
  const { call, close } = await makeCall(scenario);
  for (let i = 0; i < 1000; i++) await call(); // warm-up
  process.on('message', async (message) => {
    if (message.close) {
      await close();
      process.disconnect();
      return;
    }
    const spans = exportedSpans;
    const before = process.cpuUsage();
    for (let i = 0; i < message.run; i++) await call();
    const used = process.cpuUsage(before);
    process.send({ cpuUs: (used.user + used.system) / message.run, spans: exportedSpans - spans });
  });
  process.send({ ready: true });
}

const BLOCK = Number(process.env.BENCH_BLOCK || 200);

/**
 * Per scenario and round, one process per mode, all alive at once; blocks of BLOCK calls go to each in
 * turn, so that a shared machine's changing load falls on every mode alike. A round's figure per mode is
 * its median block; the result is the median of the rounds (fresh processes each round).
 */
async function e2eMain() {
  const { fork } = require('node:child_process');
  const perRound = {};
  const spans = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const scenario of E2E_SCENARIOS) {
      const workers = {};
      for (const mode of E2E_MODES) {
        const worker = fork(__filename, ['--e2e-worker', mode, scenario], { cwd: path.join(__dirname, '..'), execArgv: ['--expose-gc'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
        await new Promise((resolve, reject) => {
          worker.once('message', resolve);
          worker.once('exit', (code) => reject(new Error(`${scenario}/${mode} exited (${code})`)));
        });
        workers[mode] = worker;
      }
      const ask = (mode) => new Promise((resolve) => { workers[mode].once('message', resolve); workers[mode].send({ run: BLOCK }); });
      const blocks = {};
      for (let i = 0; i < Math.ceil(ITERATIONS / BLOCK); i++) {
        for (const mode of i % 2 ? [...E2E_MODES].reverse() : E2E_MODES) {
          const r = await ask(mode);
          (blocks[mode] ??= []).push(r.cpuUs);
          spans[`${scenario}/${mode}`] = (spans[`${scenario}/${mode}`] ?? 0) + r.spans / BLOCK / Math.ceil(ITERATIONS / BLOCK) / ROUNDS;
        }
      }
      for (const mode of E2E_MODES) {
        workers[mode].send({ close: true });
        (perRound[`${scenario}/${mode}`] ??= []).push(median(blocks[mode]));
      }
    }
  }
  const fmt = (v) => (Number.isFinite(v) ? v.toFixed(1) : 'n/a');
  const rows = [['scenario', 'baseline µs/call', ...E2E_MODES.slice(1).map((m) => `${m} +µs`), 'lean/otel', 'spans/call (lean, otel)']];
  for (const scenario of E2E_SCENARIOS) {
    const base = median(perRound[`${scenario}/baseline`] ?? [NaN]);
    // The added cost per round (against that round's baseline process), then the median of the rounds.
    const added = Object.fromEntries(E2E_MODES.slice(1).map((m) => [m, median((perRound[`${scenario}/${m}`] ?? [NaN]).map((v, i) => v - perRound[`${scenario}/baseline`][i]))]));
    rows.push([scenario, fmt(base), ...E2E_MODES.slice(1).map((m) => fmt(added[m])), (added['hooks-lean'] / added['otel-sdk']).toFixed(2), `${(spans[`${scenario}/hooks-lean`] ?? NaN).toFixed(2)}, ${(spans[`${scenario}/otel-sdk`] ?? NaN).toFixed(2)}`]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join('  ') + '\n');
  process.stdout.write(`\nClient-process CPU per call (user+system). Per round, one process per mode side by side taking turns by blocks of ${BLOCK} calls (${Math.ceil(ITERATIONS / BLOCK)} blocks each, median block); median of ${ROUNDS} rounds. "+µs" is added to the uninstrumented process. BatchSpanProcessor + dropping exporter behind every tracer. Target: lean/otel <= 0.5.\n`);
}

if (process.argv[2] === '--child') {
  child(process.argv[3], process.argv[4]).catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
} else if (process.argv[2] === '--e2e-worker') {
  e2eWorker(process.argv[3], process.argv[4]).catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
} else if (process.argv[2] === '--e2e') {
  e2eMain().catch((err) => {
    process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
} else {
  main();
}
