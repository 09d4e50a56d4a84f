import assert from 'node:assert/strict';
import http from 'node:http';
import { currentSpan, installPatches, traced, uninstallAllPatches } from '../../src';
import type { HooksConfig } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { readBody, startServer, TestServer } from '../helpers/servers';

const Boom = require('@hapi/boom');

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

describe('hapi hook (@hapi/hapi@21)', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  let back: TestServer;
  const seen: Record<string, unknown> = {};
  const load = (): any => require('@hapi/hapi');

  function install(config: HooksConfig = {}, names: Parameters<typeof installPatches>[0] = ['httpServer', 'http', 'hapi']): void {
    installPatches(names, { tracer, ...config });
  }

  /** The app: nested plugins with prefixes, params, a thrown and an async error, Boom errors, a payload. */
  async function makeApp(extra?: (app: any) => void): Promise<any> {
    const app = load().server({ port: 0, host: '127.0.0.1', debug: false });
    extra?.(app);
    const v1 = {
      name: 'v1',
      register: async (s: any) => {
        s.route({
          method: 'GET',
          path: '/users/{id}',
          handler: async function getUser(req: any) {
            await delay(2);
            seen.afterAwait = currentSpan();
            await new Promise<void>((resolve) =>
              setTimeout(() => {
                seen.inTimeout = currentSpan();
                fetchBack(`${back.url}/user/${req.params.id}`).then(() => resolve());
              }, 1),
            );
            return { id: req.params.id };
          },
        });
        s.route({
          method: 'GET',
          path: '/async-boom',
          handler: async () => {
            await delay(2);
            throw new Error('async kaput');
          },
        });
      },
    };
    const api = {
      name: 'api',
      register: async (s: any) => {
        await s.register(v1, { routes: { prefix: '/v1' } });
        s.route({
          method: 'GET',
          path: '/boom',
          handler: () => {
            throw new Error('kaput');
          },
        });
        s.route({ method: 'GET', path: '/unavailable', handler: () => Boom.serverUnavailable('down for now') });
        s.route({
          method: 'POST',
          path: '/echo',
          handler: (req: any) => {
            seen.inPayloadHandler = currentSpan();
            return req.payload;
          },
        });
      },
    };
    await app.register(api, { routes: { prefix: '/api' } });
    await app.register({ name: 'admin', register: async (s: any) => s.route({ method: 'GET', path: '/orgs/{org}/items/{item}', handler: (req: any) => `${req.params.org}/${req.params.item}` }) }, { routes: { prefix: '/admin' } });
    app.route({ method: 'GET', path: '/plain', handler: () => 'plain' });
    app.route({ method: 'GET', path: '/bad', handler: () => Boom.badRequest('bad input') });
    app.route({
      method: 'GET',
      path: '/traced',
      options: {
        ext: { onPreHandler: { method: traced() } },
        handler: () => {
          seen.tracedActive = currentSpan();
          return 't';
        },
      },
    });
    app.route({
      method: 'GET',
      path: '/untraced',
      handler: async () => {
        seen.untracedActive = currentSpan();
        await fetchBack(`${back.url}/from-untraced`);
        return 'u';
      },
    });
    app.route({
      method: 'GET',
      path: '/tag',
      handler: () => {
        currentSpan()?.setTag('user.tier', 'gold');
        return 'ok';
      },
    });
    return app;
  }

  let app: { url: string; close(): Promise<void> } | undefined;
  async function start(config?: HooksConfig, names?: Parameters<typeof installPatches>[0], extra?: (app: any) => void): Promise<string> {
    install(config, names);
    const made = await makeApp(extra);
    await made.start();
    const url = `http://127.0.0.1:${made.info.port}`;
    app = { url, close: () => made.stop() };
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
    assert.equal(span.operationName, 'GET /api/v1/users/{id}');
    assert.equal(span.tags['http.route'], '/api/v1/users/{id}');
    assert.equal(span.tags['http.status_code'], 200);
    assert.equal(span.parentId, '0123456789abcdef');
    assert.equal(seen.afterAwait, span, 'currentSpan() after await in the handler is the server span');
    assert.equal(seen.inTimeout, span, 'currentSpan() in a callback of the handler is the server span');
    const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'].startsWith(back.url)) as RecordedSpan;
    assert.equal(client.parentId, span.id, 'the outbound call made in the handler is a child of the server span');
  });

  it('the route name is set before the handler runs; a handler behind the payload parser runs in the request context', async () => {
    const url = await start(undefined, undefined, (a) =>
      a.route({
        method: 'GET',
        path: '/name/{x}',
        handler: () => (currentSpan() as RecordedSpan | undefined)?.operationName ?? 'none',
      }),
    );
    assert.equal((await get(`${url}/name/1`)).body, 'GET /name/{x}');
    assert.equal((await request(`${url}/api/echo`, { 'content-type': 'application/json' }, '{"a":1}')).body, '{"a":1}');
    await tracer.waitFor(2);
    await tracer.settle();
    assert.equal(seen.inPayloadHandler, server(tracer, 'POST /api/echo')[0]);
  });

  it('several params under a prefix', async () => {
    const url = await start();
    assert.equal((await get(`${url}/admin/orgs/a/items/b`)).body, 'a/b');
    const [span] = await tracer.waitFor(1);
    assert.equal(span.operationName, 'GET /admin/orgs/{org}/items/{item}');
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

  for (const [path, message, route, status] of [
    ['/api/boom', 'kaput', 'GET /api/boom', 500],
    ['/api/v1/async-boom', 'async kaput', 'GET /api/v1/async-boom', 500],
    ['/api/unavailable', 'down for now', 'GET /api/unavailable', 503],
  ] as const) {
    for (const custom of [false, true]) {
      it(`a server error (${path}) hapi turns into ${custom ? 'an onPreResponse 500 page' : 'its Boom reply'}: error=true with the error logged`, async () => {
        const url = await start(undefined, undefined, custom ? (a) => a.ext('onPreResponse', (req: any, h: any) => (req.response.isBoom ? h.response(`handled: ${req.response.message}`).code(500) : h.continue)) : undefined);
        const reply = await get(`${url}${path}`);
        assert.equal(reply.status, custom ? 500 : status);
        if (custom) assert.equal(reply.body, `handled: ${message}`);
        const [span] = await tracer.waitFor(1);
        assert.equal(span.operationName, route);
        assert.equal(span.tags.error, true);
        assert.equal(span.errorLog()?.fields.message, message);
      });
    }
  }

  it('a client error (Boom.badRequest) is not an error of the server span', async () => {
    const url = await start();
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
    const users = server(tracer, 'GET /api/v1/users/{id}');
    const items = server(tracer, 'GET /admin/orgs/{org}/items/{item}');
    assert.equal(users.length, n / 2);
    assert.equal(items.length, n / 2);
    for (const span of items) assert.match(span.tags['http.url'], /\/admin\/orgs\/o\d+\/items\/\d+$/);
    for (const span of users) {
      const id = span.tags['http.url'].split('/').pop();
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'].endsWith(`/user/${id}`));
      assert.equal(client?.parentId, span.id, `request ${id}: its outbound call under its own server span`);
    }
  });

  it('traceAllRequests: false traces only routes with traced() (route extension); the others pass the incoming context on', async () => {
    const url = await start({ hooks: { httpServer: { traceAllRequests: false } } });
    const parent = '00-0123456789abcdef0123456789abcdef-00000000000000aa-01';
    await get(`${url}/traced`, { traceparent: parent });
    await get(`${url}/untraced`, { traceparent: parent });
    await get(`${url}/plain`);
    await tracer.waitFor(2);
    await tracer.settle();
    const servers = tracer.finished.filter((s) => s.tags['span.kind'] === 'server');
    assert.deepEqual(servers.map((s) => s.operationName), ['GET /traced']);
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
    const anonymous = (() => () => 'anon')();
    const url = await start({ hooks: { hapi: { middlewareSpans: true } } }, undefined, (a) => a.route({ method: 'GET', path: '/anon', handler: anonymous }));
    await get(`${url}/api/v1/users/3`);
    await get(`${url}/plain`);
    await get(`${url}/anon`);
    await tracer.waitFor(8);
    await tracer.settle();
    const childrenOf = (route: string): RecordedSpan[] => tracer.finished.filter((s) => s.parentId === server(tracer, route)[0].id);
    const users = childrenOf('GET /api/v1/users/{id}');
    assert.deepEqual(users.map((s) => [s.operationName, s.tags.component]), [['getUser', 'hapi']]);
    assert.equal(seen.afterAwait, users[0], 'the handler runs under its span');
    const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'] === `${back.url}/user/3`);
    assert.equal(client?.parentId, users[0].id);
    // An arrow function in `{ handler: () => ... }` is named `handler` by JavaScript.
    assert.deepEqual(childrenOf('GET /plain').map((s) => s.operationName), ['handler']);
    assert.deepEqual(childrenOf('GET /anon').map((s) => s.operationName), ['<anonymous>']);
  });

  it('no middleware spans by default', async () => {
    const url = await start();
    await get(`${url}/admin/orgs/a/items/b`);
    await tracer.waitFor(1);
    await tracer.settle();
    assert.deepEqual(tracer.finished.filter((s) => s.tags['span.kind'] !== 'client').map((s) => s.operationName), ['GET /admin/orgs/{org}/items/{item}']);
  });

  it('a server made under one install is named again after uninstall and install', async () => {
    const url = await start();
    uninstallAllPatches();
    await get(`${url}/plain`);
    install();
    await get(`${url}/admin/orgs/a/items/b`);
    await tracer.waitFor(1);
    await tracer.settle();
    assert.deepEqual(tracer.finished.filter((s) => s.tags['span.kind'] === 'server').map((s) => s.operationName), ['GET /admin/orgs/{org}/items/{item}']);
  });

  it('toggles: hapi off keeps HTTP GET; httpServer off makes no span at all', async () => {
    let url = await start({ hooks: { hapi: false } });
    await get(`${url}/api/v1/users/1`);
    await tracer.waitFor(4);
    await tracer.settle();
    assert.deepEqual(tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.tags['http.url'].startsWith(url)).map((s) => s.operationName), ['HTTP GET']);
    url = await restart({ hooks: { httpServer: false } });
    assert.equal((await get(`${url}/admin/orgs/a/items/b`)).body, 'a/b');
    await get(`${url}/api/boom`);
    await tracer.settle(100);
    assert.deepEqual(tracer.finished.filter((s) => s.tags['span.kind'] !== 'client').map((s) => s.operationName), [], 'no server span, no hapi span');
  });
});
