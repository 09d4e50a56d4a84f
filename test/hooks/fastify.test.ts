/**
 * fastify 5 and 4: what is particular to fastify. The shared framework tests (route names, errors, 404,
 * traced() as route option and scope hook, tracedAttributes, hooks, handler spans, toggles) run for
 * fastify in test/frameworks/contract.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { currentSpan, installPatches } from '../../src';
import { h2request } from '../helpers/http2';
import { readBody } from '../helpers/servers';
import { RecordingTracer } from '../helpers/tracer';
import { next, until } from '../helpers/waits';
import { childrenOf, fetchBack, frameworkSuite, get, request, requestLifecycle, serverSpans } from '../frameworks/harness';
import { fastifyDrivers } from '../frameworks/drivers/fastify';

for (const driver of fastifyDrivers) {
  describe(`fastify hook (${driver.label})`, function () {
    this.timeout(30000);
    const { tracer, seen, back, start, events } = frameworkSuite(driver);

    it('a callback-style handler (reply.send later) and a handler behind the body parser run in the request context', async () => {
      const url = await start();
      assert.equal((await get(`${url}/api/cb/5`)).body, 'cb 5');
      assert.equal((await request(`${url}/api/echo`, { 'content-type': 'application/json' }, '{"a":1}')).body, '{"a":1}');
      await tracer.waitFor(3);
      await tracer.settle();
      const [cb] = serverSpans(tracer, 'GET /api/cb/:id');
      const [echo] = serverSpans(tracer, 'POST /api/echo');
      assert.equal(seen.inCallback, cb);
      assert.equal(seen.inBodyHandler, echo);
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'] === `${back().url}/cb/5`);
      assert.equal(client?.parentId, cb.id);
    });

    it('a request the client leaves in a slow preHandler hook, or while its body is read, is named after its route: finished once, as an abort', async () => {
      const url = await start(undefined, undefined, (app) => {
        app.get('/users/:id', { preHandler: async (_req: any, reply: any) => (events.emit('waiting'), await once(reply.raw, 'close')) }, async () => 'late');
        // A body parser that waits for the body: the client leaves before it has sent it all.
        app.addContentTypeParser('application/x-slow', (_req: any, _payload: unknown, _done: unknown) => events.emit('waiting'));
        app.post('/uploads/:id', async () => 'stored');
      });
      const leave = async (client: http.ClientRequest): Promise<void> => {
        client.on('error', () => undefined);
        await next(events, 'waiting');
        client.destroy();
      };
      await leave(http.get(`${url}/users/7`));
      const upload = http.request(`${url}/uploads/1`, { method: 'POST', headers: { 'content-type': 'application/x-slow', 'content-length': 100 } });
      upload.write('part of it');
      await leave(upload);
      const serverOf = (path: string) => tracer.ofKind('server').filter((s) => s.tags['http.url'] === `${url}${path}`);
      await until(() => serverOf('/users/7').length + serverOf('/uploads/1').length === 2, 'both server spans to finish');
      await tracer.settle();
      for (const [path, name, route] of [
        ['/users/7', 'GET /users/:id', '/users/:id'],
        ['/uploads/1', 'POST /uploads/:id', '/uploads/:id'],
      ]) {
        const [span] = serverOf(path);
        assert.equal(span.operationName, name);
        assert.equal(span.tags['http.route'], route);
        assert.equal(span.finishCount, 1);
        assert.equal(span.tags.error, true);
        assert.deepEqual(span.logs.map((l) => l.fields.event), ['abort']);
      }
    });

    it('middlewareSpans: the reply (preSerialization, onSend, onError and onResponse hooks) runs with the request span active; the handler under its own', async () => {
      const active: Record<string, Record<string, unknown>> = {};
      const responded: Record<string, () => void> = {};
      const paths = ['/api/v1/users/3', '/plain', '/api/cb/4', '/api/v1/async-boom'];
      const done = paths.map((p) => new Promise<void>((resolve) => (responded[p] = resolve)));
      const note = (req: any, hook: string): void => {
        (active[req.url] ??= {})[hook] = currentSpan();
      };
      const url = await start({ hooks: { fastify: { middlewareSpans: true } } }, undefined, (app) => {
        app.addHook('preSerialization', async (req: any, _reply: any, payload: unknown) => (note(req, 'preSerialization'), payload));
        app.addHook('onSend', async (req: any, _reply: any, payload: unknown) => (note(req, 'onSend'), payload));
        app.addHook('onError', async (req: any) => note(req, 'onError'));
        app.addHook('onResponse', async (req: any) => {
          note(req, 'onResponse');
          responded[req.url]?.();
        });
      });
      for (const p of paths) await get(`${url}${p}`);
      // onResponse runs once the response has gone: the last of the reply.
      await Promise.all(done);
      await tracer.settle();
      const expected = {
        '/api/v1/users/3': ['GET /api/v1/users/:id', ['preSerialization', 'onSend', 'onResponse']],
        '/plain': ['GET /plain', ['onSend', 'onResponse']],
        '/api/cb/4': ['GET /api/cb/:id', ['onSend', 'onResponse']],
        '/api/v1/async-boom': ['GET /api/v1/async-boom', ['onError', 'onSend', 'onResponse']],
      } as const;
      for (const [p, [name, hooks]] of Object.entries(expected)) {
        const [server] = serverSpans(tracer, name);
        assert.equal(childrenOf(tracer, name).length, 1, `${name}: its handler's span`);
        assert.deepEqual(Object.keys(active[p]).sort(), [...hooks].sort(), p);
        for (const hook of hooks) assert.equal(active[p][hook], server, `${p}: ${hook} runs with the request span active`);
      }
      assert.equal(seen.afterAwait, childrenOf(tracer, 'GET /api/v1/users/:id')[0], 'the handler runs under its span');
    });
  });
}

for (const [label, moduleName] of [
  ['fastify@5', 'fastify'],
  ['fastify@4', 'fastify4'],
] as const) {
  describe(`fastify hook (${label}), apps of their own`, function () {
    this.timeout(30000);
    const tracer = new RecordingTracer();
    const back = requestLifecycle(tracer, {}, async () => undefined);
    const install = (): void => installPatches(['httpServer', 'http', 'fastify'], { tracer, aliases: moduleName === 'fastify4' ? { fastify4: 'fastify' } : undefined });

    it('{ http2: true }: the server span of an HTTP/2 (h2c) request is named after its route, active in the handler', async () => {
      install();
      const app = require(moduleName)({ http2: true });
      let active: unknown;
      app.get('/users/:id', async (req: any) => {
        await new Promise((r) => setTimeout(r, 1));
        active = currentSpan();
        return `user ${req.params.id} over ${req.raw.httpVersion}`;
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      try {
        const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
        assert.deepEqual(await h2request(url, '/users/7?x=1', { traceparent: '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01' }), { status: 200, body: 'user 7 over 2.0' });
        await tracer.settle();
        // The server's span, and the test's http2 client request's.
        assert.deepEqual(tracer.finished.map((s) => s.tags.component).sort(), ['http', 'http2']);
        const [span] = tracer.ofKind('server');
        assert.equal(span.operationName, 'GET /users/:id');
        assert.equal(span.tags['http.route'], '/users/:id');
        assert.equal(span.tags['http.url'], `${url}/users/7`);
        assert.equal(span.tags['http.status_code'], 200);
        assert.equal(span.parentId, '0123456789abcdef');
        assert.equal(active, span);
      } finally {
        await app.close();
      }
    });

    it('an onTimeout hook runs in the span of the request that timed out: the second one of a keep-alive connection', async () => {
      install();
      const app = require(moduleName)({ connectionTimeout: 300 });
      const sockets: unknown[] = [];
      let active: unknown;
      let timedOut: (url: string) => void;
      const hookDone = new Promise<string>((resolve) => (timedOut = resolve));
      app.addHook('onTimeout', async (req: any) => {
        active = currentSpan();
        await fetchBack(`${back().url}/timeout${req.url}`);
        timedOut(req.url);
      });
      app.get('/quick', async (req: any) => (sockets.push(req.raw.socket), 'quick'));
      app.get('/never', (req: any) => (sockets.push(req.raw.socket), new Promise(() => undefined)));
      await app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const quick = await new Promise<string>((resolve, reject) => http.get(`${url}/quick`, { agent }, (res) => readBody(res).then(resolve, reject)).on('error', reject));
        assert.equal(quick, 'quick');
        const never = http.get(`${url}/never`, { agent });
        const reset = next(never, 'error');
        // The hook ran and its call finished (fetchBack resolves once the response has ended).
        assert.equal(await hookDone, '/never');
        await reset;
        await tracer.settle();
        assert.equal(sockets.length, 2);
        assert.equal(sockets[0], sockets[1], 'both requests came on one connection');
        const server = (path: string) => tracer.ofKind('server').find((s) => s.tags['http.url'] === `${url}${path}`)!;
        assert.equal(active, server('/never'), 'the hook runs with the span of the request that timed out active');
        const call = tracer.ofKind('client').find((s) => s.tags['http.url'] === `${back().url}/timeout/never`);
        assert.equal(call?.parentId, server('/never').id, 'the call the hook made is a child of that request');
        assert.notEqual(call?.parentId, server('/quick').id);
      } finally {
        agent.destroy();
        await app.close();
      }
    });
  });
}
