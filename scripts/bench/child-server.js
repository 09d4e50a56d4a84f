'use strict';
/**
 * A traced server process: `node --expose-gc [preloads] child-server.js '<json>'`, spawned by index.js
 * with an IPC channel, driven by loadgen.js (another process).
 *  - job.mode 'inbound': each request makes one outbound keep-alive http call to the echo server.
 *  - job.mode 'heap': each request calls http (echo), then pg, node-redis and ioredis (those available).
 * IPC: sends `{ ready, port }`; answers `start` (CPU baseline), `stop` (CPU since start), `heap`
 * (heap used after global.gc()), `exit`.
 */
const http = require('node:http');
const { setup } = require('./variants');
const { FACTORIES } = require('./clients');
const counter = require('./export-counter');

async function main() {
  const job = JSON.parse(process.argv[2]);
  const info = setup(job.variant, job.exportMode);
  const calls = [(await FACTORIES.http({ echoPort: job.echoPort })).call];
  if (job.mode === 'heap') {
    for (const name of job.heapClients) calls.push((await FACTORIES[name]()).call);
  }
  const handle = async () => {
    for (const call of calls) await call();
  };
  let failures = 0;
  let lastError;
  const server = http.createServer((req, res) => {
    req.resume();
    handle().then(
      () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
        res.end('ok');
      },
      (err) => {
        failures += 1;
        lastError = String(err && err.message);
        res.writeHead(500);
        res.end();
      },
    );
  });
  server.keepAliveTimeout = 120000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  let cpu0;
  const spans0 = counter.spans;
  process.on('message', (msg) => {
    if (msg.cmd === 'start') {
      global.gc();
      cpu0 = process.cpuUsage();
      process.send({ started: true });
    } else if (msg.cmd === 'stop') {
      const cpu = process.cpuUsage(cpu0);
      // Spans since the server was ready (warm-up + measured requests), counted after a flush.
      info.flush().then(() => {
        process.send({ cpuUsTotal: cpu.user + cpu.system, userUsTotal: cpu.user, spans: counter.spans - spans0, failures, lastError });
      });
    } else if (msg.cmd === 'heap') {
      global.gc();
      global.gc();
      const m = process.memoryUsage();
      let snapshot;
      if (job.snapshotDir) {
        snapshot = require('node:path').join(job.snapshotDir, `heap-${job.variant}-${Date.now()}.heapsnapshot`);
        require('node:v8').writeHeapSnapshot(snapshot);
      }
      process.send({ heapUsed: m.heapUsed, rss: m.rss, external: m.external, failures, lastError, snapshot });
    } else if (msg.cmd === 'exit') {
      server.close();
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true, port: server.address().port, installed: info.installed, tracer: info.tracer, otlpPatched: counter.otlpPatched, exportError: counter.error });
}

main().catch((err) => {
  process.send({ ready: false, error: err && err.stack ? err.stack : String(err) }, () => process.exit(1));
});
