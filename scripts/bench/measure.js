'use strict';
/** The orchestrator's side of each measurement: spawns the processes and collects their figures. */
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { REGISTER, callsFor } = require('./config');
const { processOptions } = require('./variants');
const proc = require('./proc');

const CHILD_CLIENT = path.join(__dirname, 'child-client.js');
const CHILD_SERVER = path.join(__dirname, 'child-server.js');
const LOADGEN = path.join(__dirname, 'loadgen.js');

/** Environment of every measured process: the sink as OTLP endpoint, whatever the variant. */
function baseEnv(ctx) {
  const env = { ...process.env, BENCH_EXPORT: ctx.settings.exportMode };
  delete env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${ctx.sinkPort}`;
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
  const job = { client, variant, exportMode: s.exportMode, echoPort: ctx.echoPort, calls, warmup, pairs: s.abPairs, concurrency: ctx.clients[client].concurrency };
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

async function startTracedServer(ctx, variant, mode, extra = {}, profileName) {
  const s = ctx.settings;
  const job = { mode, variant, exportMode: s.exportMode, echoPort: ctx.echoPort, ...extra };
  const { execArgv, env } = nodeArgs(ctx, variant, profileName);
  const server = proc.start(CHILD_SERVER, [JSON.stringify(job)], { execArgv, env, name: `server/${variant}` });
  const ready = await server.next(60000);
  if (!ready.ready) {
    await server.stop();
    throw new Error(`server/${variant}: ${ready.error}`);
  }
  const loadgen = proc.start(LOADGEN, [String(ready.port), String(ctx.clients.server.concurrency)], { name: 'loadgen' });
  await loadgen.next(30000);
  const drive = async (requests) => {
    loadgen.send({ cmd: 'run', requests });
    const r = await loadgen.next(Math.max(s.childTimeoutMs, requests * 5));
    if (r.errors > 0) throw new Error(`server/${variant}: ${r.errors} of ${requests} requests failed`);
    return r;
  };
  const ask = async (cmd) => {
    server.send({ cmd });
    return server.next(30000);
  };
  const stop = () => Promise.all([server.stop(), loadgen.stop()]);
  return { ready, drive, ask, stop };
}

/** The inbound scenario: CPU of the traced server process per request, wall per request at the load generator. */
async function serverRun(ctx, variant, round) {
  const s = ctx.settings;
  const { calls, warmup } = callsFor(s, 'server');
  const t = await startTracedServer(ctx, variant, 'inbound', {}, `server-${variant}-r${round + 1}`);
  try {
    await t.drive(warmup);
    await t.ask('start');
    const r = await t.drive(calls);
    const st = await t.ask('stop');
    if (st.failures > 0) throw new Error(`server/${variant}: ${st.failures} requests failed in the server: ${st.lastError}`);
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

/** Heap check: hooks + built-in tracer, http + pg + redis + ioredis per request, heap after gc at checkpoints. */
async function heapRun(ctx, heapClients, onProgress) {
  const s = ctx.settings;
  const total = s.heapRequests;
  const t = await startTracedServer(ctx, 'builtin', 'heap', { heapClients });
  const samples = [];
  const t0 = Date.now();
  try {
    await t.drive(Math.min(2000, Math.max(1, Math.floor(total / 10))));
    const first = await t.ask('heap');
    samples.push({ at: 'after warm-up', requests: 0, heapUsed: first.heapUsed, rss: first.rss });
    let done = 0;
    for (const fraction of [0.1, 0.25, 0.5, 0.75, 1]) {
      const target = Math.round(total * fraction);
      if (target > done) await t.drive(target - done);
      done = target;
      const h = await t.ask('heap');
      if (h.failures > 0) throw new Error(`heap server: ${h.failures} requests failed: ${h.lastError}`);
      samples.push({ at: `${Math.round(fraction * 100)}%`, requests: done, heapUsed: h.heapUsed, rss: h.rss });
      onProgress(samples[samples.length - 1]);
    }
  } finally {
    await t.stop();
  }
  const at10 = samples.find((x) => x.at === '10%');
  const last = samples[samples.length - 1];
  const growthMb = (last.heapUsed - at10.heapUsed) / 2 ** 20;
  return {
    requests: total,
    perRequest: ['http', ...heapClients],
    samples,
    growthMb,
    flat: Math.abs(growthMb) < s.heapFlatMb,
    thresholdMb: s.heapFlatMb,
    seconds: (Date.now() - t0) / 1000,
  };
}

/** Start-up: `node [-r register] -e 0`, alternated, wall ms per run, and the modules each loads. */
function startup(ctx, runs) {
  const env = { ...process.env };
  delete env.OT_TRACER;
  delete env.NODE_OPTIONS;
  const otlpEnv = { ...env, OT_TRACER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${ctx.sinkPort}` };
  const configs = [
    { key: 'plain', label: '`node -e 0`', args: ['-e', '0'], env },
    { key: 'register', label: '`node -r register -e 0`', args: ['-r', REGISTER, '-e', '0'], env },
    { key: 'registerOtlp', label: '`OT_TRACER=otlp node -r register -e 0`', args: ['-r', REGISTER, '-e', '0'], env: otlpEnv },
  ];
  const timeOne = (c) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, c.args, { cwd: ctx.root, env: c.env, stdio: 'ignore', timeout: 30000 });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`startup ${c.key}: exit ${r.status ?? r.signal}`);
    return ms;
  };
  for (const c of configs) timeOne(c); // disk cache, once each, not counted
  const times = Object.fromEntries(configs.map((c) => [c.key, []]));
  for (let i = 0; i < runs; i++) {
    for (let j = 0; j < configs.length; j++) {
      const c = configs[(i + j) % configs.length];
      times[c.key].push(timeOne(c));
    }
  }
  // Files in require.cache at exit, by package, and Node's own modules loaded (NativeModule entries).
  const count = `process.on('exit', () => {
    const byPackage = {};
    for (const f of Object.keys(require.cache)) {
      const i = f.lastIndexOf('/node_modules/');
      const rest = i === -1 ? '(app) ' + f : f.slice(i + 14);
      const name = i === -1 ? '(this package)' : rest.split('/').slice(0, rest.startsWith('@') ? 2 : 1).join('/');
      byPackage[name] = (byPackage[name] || 0) + 1;
    }
    const builtins = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).length;
    process.stdout.write(JSON.stringify({ files: Object.keys(require.cache).length, builtins, byPackage }));
  })`;
  const modules = {};
  for (const c of configs) {
    const args = [...c.args.slice(0, -2), '-e', count];
    const r = spawnSync(process.execPath, args, { cwd: ctx.root, env: c.env, encoding: 'utf8', timeout: 30000 });
    modules[c.key] = r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').pop()) : { files: NaN, builtins: NaN };
  }
  return { configs: configs.map(({ key, label }) => ({ key, label })), times, modules };
}

module.exports = { clientRun, serverRun, heapRun, startup };
