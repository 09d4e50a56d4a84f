'use strict';
/**
 * A traced server process: `node --expose-gc [preloads] child-server.js '<json>'`, spawned by index.js
 * with an IPC channel, driven by loadgen.js (another process).
 *  - job.mode 'inbound': each request makes one outbound keep-alive http call to the echo server, in the
 *    app of job.server: a plain http server, or express, koa (@koa/router), fastify or hapi with one
 *    route `/users/:id` (so that route naming runs).
 *  - job.mode 'heap': each request calls http (echo), then pg, node-redis and ioredis (those available).
 * IPC: sends `{ ready, port }`; answers `start` (CPU baseline), `stop` (CPU since start), `heap`
 * (heap used after global.gc()), `exit`.
 */
const http = require('node:http');
const { setup } = require('./variants');
const { FACTORIES } = require('./clients');
const counter = require('./export-counter');

function listen(server) {
  server.keepAliveTimeout = 120000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: server.address().port, close: () => server.close() })));
}

/**
 * The inbound apps, each loaded after the variant is set up; `work()` resolves true when the request's
 * calls succeeded, false when one failed (answered with a 500).
 */
const APPS = {
  http: (work) =>
    listen(
      http.createServer((req, res) => {
        req.resume();
        work().then((ok) => {
          res.writeHead(ok ? 200 : 500, { 'content-type': 'text/plain', 'content-length': '2' });
          res.end('ok');
        });
      }),
    ),
  express: (work) => {
    const app = require('express')();
    app.get('/users/:id', (req, res) => work().then((ok) => res.status(ok ? 200 : 500).send('ok')));
    return listen(http.createServer(app));
  },
  koa: (work) => {
    const Koa = require('koa');
    const { Router } = require('@koa/router');
    const app = new Koa();
    const router = new Router();
    router.get('/users/:id', async (ctx) => {
      ctx.status = (await work()) ? 200 : 500;
      ctx.body = 'ok';
    });
    app.use(router.routes());
    return listen(http.createServer(app.callback()));
  },
  fastify: async (work) => {
    const app = require('fastify')({ keepAliveTimeout: 120000 });
    app.get('/users/:id', async (req, reply) => {
      reply.code((await work()) ? 200 : 500);
      return 'ok';
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { port: app.server.address().port, close: () => app.close() };
  },
  hapi: async (work) => {
    const server = require('@hapi/hapi').server({ port: 0, host: '127.0.0.1' });
    server.route({ method: 'GET', path: '/users/{id}', handler: async (req, h) => h.response('ok').code((await work()) ? 200 : 500) });
    server.listener.keepAliveTimeout = 120000;
    await server.start();
    return { port: server.info.port, close: () => server.stop() };
  },
};

async function main() {
  const job = JSON.parse(process.argv[2]);
  const info = setup(job.variant);
  const calls = [(await FACTORIES.http(job.ports)).call];
  if (job.mode === 'heap') {
    for (const name of job.heapClients) calls.push((await FACTORIES[name]()).call);
  }
  let failures = 0;
  let lastError;
  const work = async () => {
    try {
      for (const call of calls) await call();
      return true;
    } catch (err) {
      failures += 1;
      lastError = String(err && err.message);
      return false;
    }
  };
  const server = await APPS[job.server ?? 'http'](work);

  let cpu0;
  const spans0 = counter.spans;
  process.on('message', (msg) => {
    if (msg.cmd === 'start') {
      // No forced GC (see child-client.js).
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
  process.send({ ready: true, port: server.port, installed: info.installed, tracer: info.tracer, otlpPatched: counter.otlpPatched, exportError: counter.error });
}

main().catch((err) => {
  process.send({ ready: false, error: err && err.stack ? err.stack : String(err) }, () => process.exit(1));
});
