'use strict';
/**
 * One measurement process: `node --expose-gc [preloads] child-client.js '<json>'`, spawned by index.js
 * with an IPC channel. Sets up its variant, opens its client, warms up, then measures `calls` calls
 * (`concurrency` at a time): process.cpuUsage() (user + system, all threads of this process) and
 * wall time around the measured loop only. Sends one result message and exits.
 *
 * In-process A/B variants (`ab` for the hooks without tracer, `ab-builtin`, `ab-shim`, `ab-otel`): the
 * variant is set up before the client library loads, then switched off and on again (our
 * `uninstallAllPatches()` / `installAllPatches()`, OpenTelemetry's `disable()` / `enable()`) between
 * blocks of calls on the same connections (ABBA order), so each pair of blocks shares the process, its
 * JIT state and its connections. Finer than comparing processes; it slightly favours the added cost
 * downwards if the swaps leave call sites polymorphic in both blocks.
 */
const { setup } = require('./variants');
const { AB_VARIANTS } = require('./config');
const { FACTORIES, runCalls } = require('./clients');
const counter = require('./export-counter');

async function measured(call, calls, concurrency) {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await runCalls(call, calls, concurrency);
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / calls, userUs: cpu.user / calls, wallUs: wallNs / 1e3 / calls };
}

async function abRun(job, call, { on, off }) {
  const block = Math.max(1, Math.round(job.calls / job.pairs));
  const warmupBlock = Math.max(1, Math.round(job.warmup / 4));
  let onCalls = 0;
  for (let i = 0; i < 8; i++) {
    // Warm-up: both states, so that the JIT has seen both before anything is measured.
    if (i % 2 === 0) off();
    else {
      on();
      onCalls += warmupBlock;
    }
    await runCalls(call, warmupBlock, job.concurrency);
  }
  const pairs = [];
  for (let p = 0; p < job.pairs; p++) {
    const hooksFirst = p % 2 === 1; // ABBA: drift within the process cancels out
    const r = {};
    for (const state of hooksFirst ? ['hooks', 'base'] : ['base', 'hooks']) {
      if (state === 'hooks') {
        on();
        onCalls += block;
      } else off();
      r[state] = await measured(call, block, job.concurrency);
    }
    pairs.push({ baseCpuUs: r.base.cpuUs, hooksCpuUs: r.hooks.cpuUs, addedCpuUs: r.hooks.cpuUs - r.base.cpuUs, addedWallUs: r.hooks.wallUs - r.base.wallUs });
  }
  off();
  return { pairs, block, onCalls };
}

async function main() {
  const job = JSON.parse(process.argv[2]);
  const switched = AB_VARIANTS[job.variant];
  const info = setup(switched ?? job.variant);
  const client = await FACTORIES[job.client](job.ports);
  const call = info.wrapCall ? info.wrapCall(client.call) : client.call;
  const close = client.close;
  const spans0 = counter.spans;
  let result;
  let tracedCalls;
  if (switched !== undefined) {
    result = await abRun(job, call, info);
    tracedCalls = result.onCalls;
  } else {
    await runCalls(call, job.warmup, job.concurrency);
    // No forced GC here: the thousands of calls after one run up to twice as slow (more so in a
    // process with a larger heap: a traced one), which would be charged to the measured calls.
    result = await measured(call, job.calls, job.concurrency);
    tracedCalls = job.warmup + job.calls;
    result.installed = info.installed;
    result.tracer = info.tracer;
    result.otlpPatched = counter.otlpPatched;
  }
  // Spans per call made with the instrumentation on (warm-up included), once the batch processor has
  // handed everything over.
  await info.flush();
  result.spansPerCall = (counter.spans - spans0) / tracedCalls;
  result.exportError = counter.error;
  await Promise.race([Promise.resolve().then(close), new Promise((r) => setTimeout(r, 2000).unref())]).catch(() => undefined);
  return result;
}

main().then(
  (result) => process.send({ ok: true, result }, () => process.exit(0)),
  (err) => process.send({ ok: false, error: err && err.stack ? err.stack : String(err) }, () => process.exit(1)),
);
