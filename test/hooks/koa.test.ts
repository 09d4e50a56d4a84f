import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { currentSpan, installPatches, traced, uninstallAllPatches } from '../../src';
import type { HooksConfig } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { readBody, startServer, TestServer } from '../helpers/servers';

/** koa 3 and 2 (npm alias `koa2`), each with both routers. */
const COMBOS: Array<[label: string, koa: string, router: string]> = [
  ['koa@3 + @koa/router', 'koa', '@koa/router'],
  ['koa@3 + koa-router', 'koa', 'koa-router'],
  ['koa@2 + @koa/router', 'koa2', '@koa/router'],
  ['koa@2 + koa-router', 'koa2', 'koa-router'],
];

function get(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject)).on('error', reject);
  });
}

function fetchBack(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (r) => readBody(r).then(resolve, reject)).on('error', reject);
  });
}

const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const server = (tracer: RecordingTracer, name: string): RecordedSpan[] => tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.operationName === name);

for (const [label, koaModule, routerModule] of COMBOS) {
  describe(`koa hook (${label})`, function () {
    this.timeout(30000);
    const tracer = new RecordingTracer();
    let back: TestServer;
    const seen: Record<string, unknown> = {};
    const load = (): { Koa: any; Router: any } => ({ Koa: require(koaModule), Router: require(routerModule) });

    function install(config: HooksConfig = {}, names: Parameters<typeof installPatches>[0] = ['httpServer', 'http', 'koa']): void {
      installPatches(names, { tracer, aliases: { koa2: 'koa' }, ...config });
    }

    /** The app: a prefixed router with a nested router, params, a thrown and an async error, traced/untraced routes. */
    function makeApp(extra?: (app: any, Router: any) => void): any {
      const { Koa, Router } = load();
      const app = new Koa();
      app.silent = true;
      extra?.(app, Router);
      const api = new Router({ prefix: '/api' });
      const v1 = new Router();
      v1.get('/users/:id', async function getUser(ctx: any) {
        await delay(2);
        seen.afterAwait = currentSpan();
        await new Promise<void>((resolve) =>
          setTimeout(() => {
            seen.inTimeout = currentSpan();
            fetchBack(`${back.url}/user/${ctx.params.id}`).then(() => resolve());
          }, 1),
        );
        ctx.body = { id: ctx.params.id };
      });
      v1.get('/async-boom', async () => {
        await delay(2);
        throw new Error('async kaput');
      });
      api.use('/v1', v1.routes());
      api.get('/boom', () => {
        throw new Error('kaput');
      });
      app.use(api.routes());
      const admin = new Router({ prefix: '/admin' });
      admin.get('/orgs/:org/items/:item', (ctx: any) => {
        ctx.body = `${ctx.params.org}/${ctx.params.item}`;
      });
      app.use(admin.routes());
      const root = new Router();
      root.get('/plain', (ctx: any) => {
        ctx.body = 'plain';
      });
      root.get('/traced', traced(), (ctx: any) => {
        seen.tracedActive = currentSpan();
        ctx.body = 't';
      });
      root.get('/untraced', async (ctx: any) => {
        seen.untracedActive = currentSpan();
        await fetchBack(`${back.url}/from-untraced`);
        ctx.body = 'u';
      });
      root.get('/tag', (ctx: any) => {
        currentSpan()?.setTag('user.tier', 'gold');
        ctx.body = 'ok';
      });
      app.use(root.routes());
      return app;
    }

    let app: { url: string; close(): Promise<void> } | undefined;
    async function start(config?: HooksConfig, names?: Parameters<typeof installPatches>[0], extra?: (app: any, Router: any) => void): Promise<string> {
      install(config, names);
      const s = http.createServer(makeApp(extra).callback());
      await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
      app = { url, close: () => new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve()))) };
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

    it('names the server span after the route with the router prefixes joined, sets http.route, one server span only', async () => {
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
      it(`an error koa turns into its 500 page (${path}): error=true with the error logged`, async () => {
        const url = await start();
        const reply = await get(`${url}${path}`);
        assert.equal(reply.status, 500);
        const [span] = await tracer.waitFor(1);
        assert.equal(span.operationName, route);
        assert.equal(span.tags.error, true);
        assert.equal(span.tags['http.status_code'], 500);
        assert.equal(span.errorLog()?.fields.message, message);
      });
    }

    it('an error an error middleware catches and answers with its own 500 page: error=true with the error logged', async () => {
      const url = await start(undefined, undefined, (a) =>
        a.use(async function errorPage(ctx: any, next: any) {
          try {
            await next();
          } catch (err) {
            ctx.status = 500;
            ctx.body = `handled: ${(err as Error).message}`;
          }
        }),
      );
      const reply = await get(`${url}/api/v1/async-boom`);
      assert.equal(reply.status, 500);
      assert.equal(reply.body, 'handled: async kaput');
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'GET /api/v1/async-boom');
      assert.equal(span.tags.error, true);
      assert.equal(span.errorLog()?.fields.message, 'async kaput');
      assert.equal(span.logs.filter((l) => 'error.object' in l.fields).length, 1, 'logged once');
    });

    it('a client error (ctx.throw(400)) is not an error of the server span', async () => {
      const url = await start(undefined, undefined, (a, Router) => {
        const r = new Router();
        r.get('/bad', (ctx: any) => ctx.throw(400, 'bad input'));
        a.use(r.routes());
      });
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

    it('traceAllRequests: false traces only routes with traced(); the others pass the incoming context on', async () => {
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

    it('traced() as app middleware traces every request after it', async () => {
      const url = await start({ hooks: { httpServer: { traceAllRequests: false } } }, undefined, (a) => a.use(traced()));
      await get(`${url}/admin/orgs/a/items/b`);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'GET /admin/orgs/:org/items/:item');
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

    it('middlewareSpans: one child span per middleware and handler, named after the function', async () => {
      const url = await start({ hooks: { koa: { middlewareSpans: true } } }, undefined, (a) =>
        a.use(async function stamp(_ctx: any, next: any) {
          await next();
          seen.afterNext = currentSpan();
        }),
      );
      await get(`${url}/api/v1/users/3`);
      await tracer.waitFor(4);
      await tracer.settle();
      const root = server(tracer, 'GET /api/v1/users/:id')[0];
      const children = tracer.finished.filter((s) => s.parentId === root.id);
      const names = children.map((s) => s.operationName);
      assert.ok(names.includes('stamp'), names.join(','));
      assert.ok(names.includes('getUser'), names.join(','));
      assert.ok(children.every((s) => s.tags.component === 'koa'), JSON.stringify(children.map((s) => [s.operationName, s.tags])));
      assert.equal((seen.afterNext as RecordedSpan | undefined)?.operationName, 'stamp', 'the middleware runs under its own span');
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'].startsWith(back.url)) as RecordedSpan;
      assert.equal(client.parentId, children.find((s) => s.operationName === 'getUser')?.id, 'the handler’s outbound call is under its span');
    });

    it('middlewareSpans: an anonymous handler is <anonymous>', async () => {
      const url = await start({ hooks: { koa: { middlewareSpans: true } } });
      await get(`${url}/plain`);
      await tracer.waitFor(2);
      await tracer.settle();
      const root = tracer.finished.find((s) => s.tags['span.kind'] === 'server') as RecordedSpan;
      assert.deepEqual(tracer.finished.filter((s) => s.parentId === root.id).map((s) => s.operationName), ['<anonymous>']);
    });

    it('no middleware spans by default', async () => {
      const url = await start();
      await get(`${url}/admin/orgs/a/items/b`);
      await tracer.waitFor(1);
      await tracer.settle();
      assert.deepEqual(tracer.finished.filter((s) => s.tags['span.kind'] !== 'client').map((s) => s.operationName), ['GET /admin/orgs/:org/items/:item']);
    });

    it('toggles: koa off keeps HTTP GET; httpServer off makes no span at all', async () => {
      let url = await start({ hooks: { koa: false } });
      await get(`${url}/api/v1/users/1`);
      await tracer.waitFor(4);
      await tracer.settle();
      assert.deepEqual(tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.tags['http.url'].startsWith(url)).map((s) => s.operationName), ['HTTP GET']);
      url = await restart({ hooks: { httpServer: false } });
      assert.equal((await get(`${url}/admin/orgs/a/items/b`)).body, 'a/b');
      await get(`${url}/api/boom`);
      await tracer.settle(100);
      assert.deepEqual(tracer.finished.filter((s) => s.tags['span.kind'] !== 'client').map((s) => s.operationName), [], 'no server span, no koa span');
    });
  });
}
