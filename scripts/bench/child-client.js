'use strict';
/**
 * One measurement process: `node --expose-gc [preloads] child-client.js '<json>'`, spawned by index.js
 * with an IPC channel. Sets up its variant, opens its client, warms up, then measures `calls` calls
 * (`concurrency` at a time): process.cpuUsage() (user + system, all threads of this process) and
 * wall time around the measured loop only. Sends one result message and exits.
 */
const { setup } = require('./variants');
const { FACTORIES, runCalls } = require('./clients');
const counter = require('./export-counter');

async function main() {
  const job = JSON.parse(process.argv[2]);
  const info = setup(job.variant, job.exportMode);
  const { call, close } = await FACTORIES[job.client]({ echoPort: job.echoPort });
  await runCalls(call, job.warmup, job.concurrency);
  global.gc();
  const spans0 = counter.spans;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await runCalls(call, job.calls, job.concurrency);
  const wallNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  const spans = counter.spans - spans0;
  await Promise.race([Promise.resolve().then(close), new Promise((r) => setTimeout(r, 2000).unref())]).catch(() => undefined);
  return {
    cpuUs: (cpu.user + cpu.system) / job.calls,
    userUs: cpu.user / job.calls,
    wallUs: wallNs / 1e3 / job.calls,
    spansPerCall: spans / job.calls,
    otlpPatched: counter.otlpPatched,
    exportError: counter.error,
    installed: info.installed,
    tracer: info.tracer,
  };
}

main().then(
  (result) => process.send({ ok: true, result }, () => process.exit(0)),
  (err) => process.send({ ok: false, error: err && err.stack ? err.stack : String(err) }, () => process.exit(1)),
);
