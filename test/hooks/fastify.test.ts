import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { currentSpan, installPatches, traced, uninstallAllPatches } from '../../src';
import type { HooksConfig } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { readBody, startServer, TestServer } from '../helpers/servers';

/** fastify 5 and 4 (npm alias `fastify4`). */
const MAJORS: Array<[label: string, module: string]> = [
  ['fastify@5', 'fastify'],
  ['fastify@4', 'fastify4'],
];

function request(url: string, headers: http.OutgoingHttpHeaders = {}, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: body === undefined ? 'GET' : 'POST', headers }, (res) => readBody(res).then((text) => resolve({ status: res.statusCode ?? 0, body: text }), reject));
    req.on('error', reject);
    req.end(body);
  });
}
const get = (url: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> => request(url, headers);

function fetchBack(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (r) => readBody(r).then(resolve, reject)).on('error', reject);
  });
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const server = (tracer: RecordingTracer, name: string): RecordedSpan[] => tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.operationName === name);

for (const [label, moduleName] of MAJORS) {
  describe(`fastify hook (${label})`, function () {
    this.timeout(30000);
    const tracer = new RecordingTracer();
    let back: TestServer;
    const seen: Record<string, unknown> = {};

    function install(config: HooksConfig = {}, names: Parameters<typeof installPatches>[0] = ['httpServer', 'http', 'fastify']): void {
      installPatches(names, { tracer, aliases: { fastify4: 'fastify' }, ...config });
    }

    /** The app: nested plugins with prefixes, params, a thrown and an async error, a callback handler, a body. */
    function makeApp(extra?: (app: any) => void): any {
      const app = require(moduleName)();
      extra?.(app);
      app.register(
        async (api: any) => {
          api.register(
            async (v1: any) => {
              v1.get('/users/:id', async function getUser(req: any) {
                await delay(2);
                seen.afterAwait = currentSpan();
                await new Promise<void>((resolve) =>
                  setTimeout(() => {
                    seen.inTimeout = currentSpan();
                    fetchBack(`${back.url}/user/${req.params.id}`).then(() => resolve());
                  }, 1),
                );
                return { id: req.params.id };
              });
              v1.get('/async-boom', async () => {
                await delay(2);
                throw new Error('async kaput');
              });
            },
            { prefix: '/v1' },
          );
          api.get('/boom', () => {
            throw new Error('kaput');
          });
          api.get('/cb/:id', function callbackStyle(req: any, reply: any) {
            setTimeout(() => {
              seen.inCallback = currentSpan();
              fetchBack(`${back.url}/cb/${req.params.id}`).then(() => reply.send(`cb ${req.params.id}`));
            }, 1);
          });
          api.post('/echo', async (req: any) => {
            seen.inBodyHandler = currentSpan();
            return req.body;
          });
        },
        { prefix: '/api' },
      );
      app.register(
        async (admin: any) => {
          admin.get('/orgs/:org/items/:item', async (req: any) => `${req.params.org}/${req.params.item}`);
        },
        { prefix: '/admin' },
      );
      app.get('/plain', async () => 'plain');
      app.get('/traced', { onRequest: traced() }, async () => {
        seen.tracedActive = currentSpan();
        return 't';
      });
      app.register(async (scope: any) => {
        scope.addHook('onRequest', traced());
        scope.get('/hooked', async () => 'h');
      });
      app.get('/untraced', async () => {
        seen.untracedActive = currentSpan();
        await fetchBack(`${back.url}/from-untraced`);
        return 'u';
      });
      app.get('/tag', async () => {
        currentSpan()?.setTag('user.tier', 'gold');
        return 'ok';
      });
      return app;
    }

    let app: { url: string; close(): Promise<void> } | undefined;
    async function start(config?: HooksConfig, names?: Parameters<typeof installPatches>[0], extra?: (app: any) => void): Promise<string> {
      install(config, names);
      const made = makeApp(extra);
      await made.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(made.server.address() as AddressInfo).port}`;
      app = { url, close: () => made.close() };
      return url;
    }
    async function restart(config?: HooksConfig): Promise<string> {
      await app!.close();
      uninstallAllPatches();
      tracer.reset();
      return start(config);
    }

    before(async () => {
      back = await startServer((_req, res) => res.end('back'));
    });
    after(() => back.close());
    afterEach(async () => {
      await app?.close();
      app = undefined;
      await tracer.settle();
      uninstallAllPatches();
      tracer.reset();
      for (const key of Object.keys(seen)) delete seen[key];
    });

    it('names the server span after the route with the plugin prefixes joined, sets http.route, one server span only', async () => {
      const url = await start();
      const parent = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
      assert.equal((await get(`${url}/api/v1/users/42?x=1`, { traceparent: parent })).body, '{"id":"42"}');
      await tracer.waitFor(2);
      await tracer.settle();
      const servers = tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.tags['http.url']?.startsWith(url));
      assert.equal(servers.length, 1, 'one server span per request');
      const [span] = servers;
      assert.equal(span.operationName, 'GET /api/v1/users/:id');
      assert.equal(span.tags['http.route'], '/api/v1/users/:id');
      assert.equal(span.tags['http.status_code'], 200);
      assert.equal(span.parentId, '0123456789abcdef');
      assert.equal(seen.afterAwait, span, 'currentSpan() after await in the handler is the server span');
      assert.equal(seen.inTimeout, span, 'currentSpan() in a callback of the handler is the server span');
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'].startsWith(back.url)) as RecordedSpan;
      assert.equal(client.parentId, span.id, 'the outbound call made in the handler is a child of the server span');
    });

    it('a callback-style handler (reply.send later) and a handler behind the body parser run in the request context', async () => {
      const url = await start();
      assert.equal((await get(`${url}/api/cb/5`)).body, 'cb 5');
      assert.equal((await request(`${url}/api/echo`, { 'content-type': 'application/json' }, '{"a":1}')).body, '{"a":1}');
      await tracer.waitFor(3);
      await tracer.settle();
      const [cb] = server(tracer, 'GET /api/cb/:id');
      const [echo] = server(tracer, 'POST /api/echo');
      assert.equal(seen.inCallback, cb);
      assert.equal(seen.inBodyHandler, echo);
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'] === `${back.url}/cb/5`);
      assert.equal(client?.parentId, cb.id);
    });

    it('several params under a prefix', async () => {
      const url = await start();
      assert.equal((await get(`${url}/admin/orgs/a/items/b`)).body, 'a/b');
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'GET /admin/orgs/:org/items/:item');
    });

    it('a request that matches no route keeps HTTP GET, or GET 404 with notFoundAs404', async () => {
      const url = await start();
      assert.equal((await get(`${url}/nope`)).status, 404);
      assert.equal((await tracer.waitFor(1))[0].operationName, 'HTTP GET');
      const url2 = await restart({ hooks: { httpServer: { notFoundAs404: true } } });
      assert.equal((await get(`${url2}/api/nope`)).status, 404);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'GET 404');
      assert.equal(span.tags['http.route'], undefined);
      assert.equal(span.tags.error, undefined);
    });

    for (const [path, message, route] of [
      ['/api/boom', 'kaput', 'GET /api/boom'],
      ['/api/v1/async-boom', 'async kaput', 'GET /api/v1/async-boom'],
    ]) {
      for (const custom of [false, true]) {
        it(`an error fastify turns into ${custom ? 'the setErrorHandler 500 page' : 'its 500 reply'} (${path}): error=true with the error logged`, async () => {
          const url = await start(undefined, undefined, custom ? (a) => a.setErrorHandler((err: Error, _req: any, reply: any) => reply.status(500).send(`handled: ${err.message}`)) : undefined);
          const reply = await get(`${url}${path}`);
          assert.equal(reply.status, 500);
          if (custom) assert.equal(reply.body, `handled: ${message}`);
          const [span] = await tracer.waitFor(1);
          assert.equal(span.operationName, route);
          assert.equal(span.tags.error, true);
          assert.equal(span.errorLog()?.fields.message, message);
        });
      }
    }

    it('a client error (statusCode 400) is not an error of the server span', async () => {
      const url = await start(undefined, undefined, (a) =>
        a.get('/bad', async () => {
          throw Object.assign(new Error('bad input'), { statusCode: 400 });
        }),
      );
      assert.equal((await get(`${url}/bad`)).status, 400);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'GET /bad');
      assert.equal(span.tags.error, undefined);
    });

    it('concurrent requests keep their own route names and parents', async () => {
      const url = await start();
      const n = 40;
      await Promise.all(Array.from({ length: n }, (_, i) => (i % 2 === 0 ? get(`${url}/api/v1/users/${i}`) : get(`${url}/admin/orgs/o${i}/items/${i}`))));
      await tracer.waitFor(n + n / 2);
      await tracer.settle();
      const users = server(tracer, 'GET /api/v1/users/:id');
      const items = server(tracer, 'GET /admin/orgs/:org/items/:item');
      assert.equal(users.length, n / 2);
      assert.equal(items.length, n / 2);
      for (const span of items) assert.match(span.tags['http.url'], /\/admin\/orgs\/o\d+\/items\/\d+$/);
      for (const span of users) {
        const id = span.tags['http.url'].split('/').pop();
        const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'].endsWith(`/user/${id}`));
        assert.equal(client?.parentId, span.id, `request ${id}: its outbound call under its own server span`);
      }
    });

    it('traceAllRequests: false traces only routes with traced() (route option or hook); the others pass the incoming context on', async () => {
      const url = await start({ hooks: { httpServer: { traceAllRequests: false } } });
      const parent = '00-0123456789abcdef0123456789abcdef-00000000000000aa-01';
      await get(`${url}/traced`, { traceparent: parent });
      await get(`${url}/hooked`);
      await get(`${url}/untraced`, { traceparent: parent });
      await get(`${url}/plain`);
      await tracer.waitFor(3);
      await tracer.settle();
      const servers = tracer.finished.filter((s) => s.tags['span.kind'] === 'server');
      assert.deepEqual(servers.map((s) => s.operationName), ['GET /traced', 'GET /hooked']);
      assert.equal(servers[0].tags['http.route'], '/traced');
      assert.equal(servers[0].parentId, '00000000000000aa');
      assert.equal(seen.tracedActive, servers[0]);
      assert.equal(seen.untracedActive, undefined, 'no span in an untraced request');
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'].startsWith(back.url)) as RecordedSpan;
      assert.equal(client.traceId, '0123456789abcdef0123456789abcdef', 'the outbound call continues the incoming trace');
      assert.equal(client.parentId, '00000000000000aa');
    });

    it('tracedAttributes: the listed attributes as tags, never authorization or cookie', async () => {
      const url = await start({ hooks: { httpServer: { tracedAttributes: ['method', 'path', 'headers.user-agent', 'remoteAddress', 'headers.authorization', 'headers.cookie', 'body'] } } });
      await get(`${url}/plain?q=secret`, { 'user-agent': 'ua/1', authorization: 'Bearer s3cret', cookie: 'sid=s3cret' });
      const [span] = await tracer.waitFor(1);
      assert.equal(span.tags.method, 'GET');
      assert.equal(span.tags.path, '/plain');
      assert.equal(span.tags['headers.user-agent'], 'ua/1');
      assert.equal(span.tags.remoteAddress, '127.0.0.1');
      assert.ok(!JSON.stringify(span.tags).includes('s3cret'));
      assert.ok(!('headers.authorization' in span.tags) && !('headers.cookie' in span.tags) && !('body' in span.tags));
    });

    it('requestHook and responseHook see the span; what they throw is contained', async () => {
      const url = await start({
        hooks: {
          httpServer: {
            requestHook: (span, req) => {
              span.setTag('req.hook', req.url);
              throw new Error('user bug');
            },
            responseHook: (span, res) => {
              span.setTag('res.hook', res.statusCode);
              throw new Error('user bug');
            },
          },
        },
      });
      assert.equal((await get(`${url}/plain`)).body, 'plain');
      const [span] = await tracer.waitFor(1);
      assert.equal(span.tags['req.hook'], '/plain');
      assert.equal(span.tags['res.hook'], 200);
      assert.equal(span.operationName, 'GET /plain');
    });

    it('currentSpan() in a handler is the request span: a tag added there is on it', async () => {
      const url = await start();
      await get(`${url}/tag`);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'GET /tag');
      assert.equal(span.tags['user.tier'], 'gold');
    });

    it('middlewareSpans: one child span per route handler, named after the function (or <anonymous>)', async () => {
      const url = await start({ hooks: { fastify: { middlewareSpans: true } } });
      await get(`${url}/api/v1/users/3`);
      await get(`${url}/plain`);
      await get(`${url}/api/cb/4`);
      await tracer.waitFor(8);
      await tracer.settle();
      const childrenOf = (route: string): RecordedSpan[] => tracer.finished.filter((s) => s.parentId === server(tracer, route)[0].id);
      const users = childrenOf('GET /api/v1/users/:id');
      assert.deepEqual(users.map((s) => [s.operationName, s.tags.component]), [['getUser', 'fastify']]);
      assert.equal(seen.afterAwait, users[0], 'the handler runs under its span');
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'] === `${back.url}/user/3`);
      assert.equal(client?.parentId, users[0].id);
      assert.deepEqual(childrenOf('GET /plain').map((s) => s.operationName), ['<anonymous>']);
      assert.deepEqual(childrenOf('GET /api/cb/:id').map((s) => s.operationName), ['callbackStyle']);
    });

    it('no middleware spans by default', async () => {
      const url = await start();
      await get(`${url}/admin/orgs/a/items/b`);
      await tracer.waitFor(1);
      await tracer.settle();
      assert.deepEqual(tracer.finished.filter((s) => s.tags['span.kind'] !== 'client').map((s) => s.operationName), ['GET /admin/orgs/:org/items/:item']);
    });

    it('toggles: fastify off keeps HTTP GET; httpServer off makes no span at all', async () => {
      let url = await start({ hooks: { fastify: false } });
      await get(`${url}/api/v1/users/1`);
      await tracer.waitFor(4);
      await tracer.settle();
      assert.deepEqual(tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.tags['http.url'].startsWith(url)).map((s) => s.operationName), ['HTTP GET']);
      url = await restart({ hooks: { httpServer: false } });
      assert.equal((await get(`${url}/admin/orgs/a/items/b`)).body, 'a/b');
      await get(`${url}/api/boom`);
      await tracer.settle(100);
      assert.deepEqual(tracer.finished.filter((s) => s.tags['span.kind'] !== 'client').map((s) => s.operationName), [], 'no server span, no fastify span');
    });
  });
}
