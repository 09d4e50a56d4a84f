'use strict';
/** The orchestrator's side of each measurement: spawns the processes and collects their figures. */
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { REGISTER, callsFor } = require('./config');
const { processOptions } = require('./variants');
const proc = require('./proc');

const CHILD_CLIENT = path.join(__dirname, 'child-client.js');
const CHILD_SERVER = path.join(__dirname, 'child-server.js');
const LOADGEN = path.join(__dirname, 'loadgen.js');

function psiTotalUs() {
  try {
    return Number(/some .*total=(\d+)/.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'))[1]);
  } catch {
    return undefined;
  }
}

/** Runs `fn` and adds to its result the CPU pressure (PSI "some", % of wall time) while it ran. */
async function withPressure(fn) {
  const p0 = psiTotalUs();
  const t0 = process.hrtime.bigint();
  const result = await fn();
  const p1 = psiTotalUs();
  if (p0 !== undefined && p1 !== undefined) result.psiPct = ((p1 - p0) / (Number(process.hrtime.bigint() - t0) / 1e3)) * 100;
  return result;
}

/** Environment of every measured process: the sink as OTLP endpoint, whatever the variant. */
function baseEnv(ctx) {
  const env = { ...process.env, BENCH_EXPORT: ctx.settings.exportMode };
  delete env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${ctx.sinkPort}`;
  // The peers' agents send everything (spans, metrics, telemetry) to the same sink.
  env.BENCH_SINK_URL = `http://127.0.0.1:${ctx.sinkPort}`;
  // The AWS SDK's credentials and region (the SQS stand-in of servers.js checks neither), so that it looks nowhere else.
  env.AWS_ACCESS_KEY_ID = 'bench';
  env.AWS_SECRET_ACCESS_KEY = 'bench';
  env.AWS_REGION = 'us-east-1';
  return env;
}

function nodeArgs(ctx, variant, profileName) {
  const { execArgv, env } = processOptions(variant, baseEnv(ctx));
  const args = ['--expose-gc', ...execArgv];
  if (ctx.settings.cpuProfDir && profileName) {
    args.push('--cpu-prof', `--cpu-prof-dir=${ctx.settings.cpuProfDir}`, `--cpu-prof-name=${profileName}.cpuprofile`);
  }
  return { execArgv: args, env };
}

/** One client process: warm-up, then `calls` measured calls. */
async function clientRun(ctx, client, variant, round) {
  const s = ctx.settings;
  const { calls, warmup } = callsFor(s, client);
  const job = { client, variant, exportMode: s.exportMode, ports: ctx.ports, calls, warmup, pairs: s.abPairs, concurrency: ctx.clients[client].concurrency };
  const { execArgv, env } = nodeArgs(ctx, variant, `${client}-${variant}-r${round + 1}`);
  const p = proc.start(CHILD_CLIENT, [JSON.stringify(job)], { execArgv, env, name: `${client}/${variant}` });
  try {
    const msg = await p.next(s.childTimeoutMs);
    if (!msg.ok) throw new Error(`${client}/${variant}: ${msg.error}`);
    return msg.result;
  } finally {
    await p.stop();
  }
}

/** A traced server of `client` (a CLIENTS entry with `server`: the app it runs) and its load generator. */
async function startTracedServer(ctx, client, variant, mode, extra = {}, profileName) {
  const s = ctx.settings;
  const { server: app, path: urlPath, concurrency } = ctx.clients[client];
  const job = { mode, variant, server: app, exportMode: s.exportMode, ports: ctx.ports, ...extra };
  const { execArgv, env } = nodeArgs(ctx, variant, profileName);
  const server = proc.start(CHILD_SERVER, [JSON.stringify(job)], { execArgv, env, name: `${client}/${variant}` });
  const ready = await server.next(60000);
  if (!ready.ready) {
    await server.stop();
    throw new Error(`${client}/${variant}: ${ready.error}`);
  }
  const loadgen = proc.start(LOADGEN, [String(ready.port), String(concurrency), ...(urlPath ? [urlPath] : [])], { name: 'loadgen' });
  await loadgen.next(30000);
  const drive = async (requests) => {
    loadgen.send({ cmd: 'run', requests });
    const r = await loadgen.next(Math.max(s.childTimeoutMs, requests * 5));
    if (r.errors > 0) throw new Error(`${client}/${variant}: ${r.errors} of ${requests} requests failed`);
    return r;
  };
  const ask = async (cmd) => {
    server.send({ cmd });
    return server.next(30000);
  };
  const stop = () => Promise.all([server.stop(), loadgen.stop()]);
  return { ready, drive, ask, stop };
}

/** An inbound scenario: CPU of the traced server process per request, wall per request at the load generator. */
async function serverRun(ctx, client, variant, round) {
  const s = ctx.settings;
  const { calls, warmup } = callsFor(s, client);
  const t = await startTracedServer(ctx, client, variant, 'inbound', {}, `${client}-${variant}-r${round + 1}`);
  try {
    await t.drive(warmup);
    await t.ask('start');
    const r = await t.drive(calls);
    const st = await t.ask('stop');
    if (st.failures > 0) throw new Error(`${client}/${variant}: ${st.failures} requests failed in the server: ${st.lastError}`);
    return {
      cpuUs: st.cpuUsTotal / calls,
      userUs: st.userUsTotal / calls,
      wallUs: r.wallNs / 1e3 / calls,
      spansPerCall: st.spans / (warmup + calls),
      otlpPatched: t.ready.otlpPatched,
      exportError: t.ready.exportError,
      installed: t.ready.installed,
      tracer: t.ready.tracer,
    };
  } finally {
    await t.stop();
  }
}

/**
 * Heap check: a traced server calling http, pg, node-redis and ioredis per request. At each checkpoint
 * the load pauses; heap used after gc is read at once ("hot": includes what in-flight timers still hold,
 * e.g. node-redis leaves a 5 s AbortSignal.timeout timer per command, which keeps the async context of
 * the call alive) and again after `settleMs` ("settled": what is left once those timers and the batch
 * processor's 5 s schedule have run). Flatness is judged on the settled figures.
 */
async function heapRun(ctx, variant, heapClients, onProgress) {
  const s = ctx.settings;
  const total = s.heapRequests;
  const t = await startTracedServer(ctx, 'server', variant, 'heap', { heapClients, snapshotDir: s.heapSnapshotDir });
  const samples = [];
  const t0 = Date.now();
  const sample = async (at, requests, rps) => {
    const hot = await t.ask('heap');
    await new Promise((resolve) => setTimeout(resolve, s.heapSettleMs));
    const h = await t.ask('heap');
    if (h.failures > 0) throw new Error(`heap server: ${h.failures} requests failed: ${h.lastError}`);
    samples.push({ at, requests, rps, hotHeapUsed: hot.heapUsed, heapUsed: h.heapUsed, rss: h.rss, snapshot: h.snapshot });
    onProgress(samples[samples.length - 1]);
  };
  try {
    const rate = (n, r) => n / (r.wallNs / 1e9);
    const warm = Math.min(2000, Math.max(1, Math.floor(total / 10)));
    await sample('warm-up', 0, rate(warm, await t.drive(warm)));
    let done = 0;
    for (const fraction of [0.1, 0.25, 0.5, 1]) {
      const target = Math.round(total * fraction);
      const r = target > done ? await t.drive(target - done) : undefined;
      const rps = r ? rate(target - done, r) : NaN;
      done = target;
      await sample(`${Math.round(fraction * 100)}%`, done, rps);
    }
  } finally {
    await t.stop();
  }
  const at10 = samples.find((x) => x.at === '10%');
  const last = samples[samples.length - 1];
  const growthMb = (last.heapUsed - at10.heapUsed) / 2 ** 20;
  return {
    variant,
    requests: total,
    perRequest: ['http', ...heapClients],
    settleMs: s.heapSettleMs,
    samples,
    growthMb,
    flat: Math.abs(growthMb) < s.heapFlatMb,
    thresholdMb: s.heapFlatMb,
    seconds: (Date.now() - t0) / 1000,
  };
}

/**
 * Start-up: `node [-r register] -e 0`, alternated, wall ms per process (spawn to exit, seen from here).
 * Then the same commands with a probe instead of `0`, alternated as well, which reports at exit the
 * process's own CPU time (user + system since it started, V8's background threads included) and the
 * modules loaded: CPU ms is far less sensitive than wall ms to other work on the machine. The same again
 * with an empty main file (`node [-r register] app.js`): with a main module the preload patches http and
 * https before it runs, so that pair shows what an app with a main module pays.
 */
function startup(ctx, runs) {
  const env = { ...process.env };
  delete env.OT_TRACER;
  delete env.NODE_OPTIONS;
  const otlpEnv = { ...env, OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${ctx.sinkPort}` };
  const configs = [
    { key: 'plain', label: '`node -e 0`', preload: [], env },
    { key: 'register', label: '`node -r register -e 0`', preload: ['-r', REGISTER], env },
    { key: 'registerOtlp', label: '`OT_TRACER=otlp node -r register -e 0`', preload: ['-r', REGISTER], env: otlpEnv },
    { key: 'appPlain', label: '`node app.js` (empty)', preload: [], env, main: true },
    { key: 'appRegister', label: '`node -r register app.js` (empty)', preload: ['-r', REGISTER], env, main: true },
  ];
  const probe = `process.on('exit', () => {
    const cpu = process.cpuUsage();
    const byPackage = {};
    for (const f of Object.keys(require.cache)) {
      const i = f.lastIndexOf('/node_modules/');
      const rest = f.slice(i + 14);
      const name = i === -1 ? '(this package)' : rest.split('/').slice(0, rest.startsWith('@') ? 2 : 1).join('/');
      byPackage[name] = (byPackage[name] || 0) + 1;
    }
    const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).length;
    process.stdout.write(JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, files: Object.keys(require.cache).length, builtins, byPackage }));
  })`;
  // A main module holding the script, for the configurations that run one (a new file per script).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'otch-bench-startup-'));
  const mains = new Map();
  const mainFor = (script) => {
    if (!mains.has(script)) {
      const file = path.join(dir, `app${mains.size}.js`);
      fs.writeFileSync(file, `${script}\n`);
      mains.set(script, file);
    }
    return mains.get(script);
  };
  const run = (c, script) => {
    const t0 = process.hrtime.bigint();
    const args = c.main ? [...c.preload, mainFor(script)] : [...c.preload, '-e', script];
    const r = spawnSync(process.execPath, args, { cwd: ctx.root, env: c.env, encoding: 'utf8', timeout: 30000 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`start-up ${c.key}: exit ${r.status ?? r.signal}: ${(r.stderr || '').trim().slice(-300)}`);
    return { ms, out: r.stdout };
  };
  for (const c of configs) run(c, '0'); // disk cache, once each, not counted
  const times = Object.fromEntries(configs.map((c) => [c.key, []]));
  const cpu = Object.fromEntries(configs.map((c) => [c.key, []]));
  const modules = {};
  for (let i = 0; i < runs; i++) {
    for (let j = 0; j < configs.length; j++) {
      const c = configs[(i + j) % configs.length];
      times[c.key].push(run(c, '0').ms);
    }
  }
  for (let i = 0; i < runs; i++) {
    for (let j = 0; j < configs.length; j++) {
      const c = configs[(i + j) % configs.length];
      const p = JSON.parse(run(c, probe).out.trim().split('\n').pop());
      cpu[c.key].push(p.cpuMs);
      modules[c.key] = { files: p.files, builtins: p.builtins, byPackage: p.byPackage };
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return { configs: configs.map(({ key, label }) => ({ key, label })), times, cpu, modules };
}

module.exports = {
  clientRun: (...a) => withPressure(() => clientRun(...a)),
  serverRun: (...a) => withPressure(() => serverRun(...a)),
  heapRun,
  startup,
};
