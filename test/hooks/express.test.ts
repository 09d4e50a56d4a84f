import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { currentSpan, installPatches, traced, uninstallAllPatches } from '../../src';
import type { HooksConfig } from '../../src';
import { RecordedSpan, RecordingTracer } from '../helpers/tracer';
import { readBody, startServer, TestServer } from '../helpers/servers';

const MAJORS: Array<[string, any]> = [['express@5', require('express')], ['express@4', require('express4')]];

function get(url: string, headers: http.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers }, (res) => readBody(res).then((body) => resolve({ status: res.statusCode ?? 0, body }), reject)).on('error', reject);
  });
}

async function listen(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) };
}

const server = (tracer: RecordingTracer, name: string): RecordedSpan[] => tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.operationName === name);

for (const [label, express] of MAJORS) {
  describe(`express hook (${label})`, function () {
    this.timeout(30000);
    const tracer = new RecordingTracer();
    let back: TestServer;
    const seen: Record<string, unknown> = {};

    function install(config: HooksConfig = {}, names: Parameters<typeof installPatches>[0] = ['httpServer', 'http', 'express']): void {
      installPatches(names, { tracer, aliases: { express4: 'express' }, ...config });
    }

    /** The app: nested routers and a sub-app, params, a thrown and an async error, an error middleware. */
    function makeApp(extra?: (app: any) => void): any {
      const app = express();
      extra?.(app);
      const api = express.Router();
      const v1 = express.Router();
      v1.get('/users/:id', function getUser(req: any, res: any) {
        setTimeout(() => {
          seen.inTimeout = currentSpan();
          http.get(`${back.url}/user/${req.params.id}`, (r) => readBody(r).then(() => res.json({ id: req.params.id })));
        }, 2);
      });
      v1.get('/async-boom', async function asyncBoom(_req: any, _res: any, next: any) {
        await new Promise((r) => setTimeout(r, 2));
        const err = new Error('async kaput');
        if (label === 'express@4') return next(err); // express 4 does not catch rejections
        throw err;
      });
      api.use('/v1', v1);
      api.get('/boom', () => {
        throw new Error('kaput');
      });
      app.use('/api', api);
      const admin = express();
      admin.get('/orgs/:org/items/:item', (req: any, res: any) => res.send(`${req.params.org}/${req.params.item}`));
      app.use('/admin', admin);
      app.get('/plain', (_req: any, res: any) => res.send('plain'));
      app.get('/traced', traced(), (_req: any, res: any) => {
        seen.tracedActive = currentSpan();
        res.send('t');
      });
      app.get('/untraced', (_req: any, res: any) => {
        seen.untracedActive = currentSpan();
        http.get(`${back.url}/from-untraced`, (r) => readBody(r).then(() => res.send('u')));
      });
      app.use(function errorHandler(err: any, _req: any, res: any, _next: any) {
        res.status(500).send(`handled: ${err.message}`);
      });
      return app;
    }

    let app: { url: string; close(): Promise<void> } | undefined;
    async function start(config?: HooksConfig, names?: Parameters<typeof installPatches>[0], extra?: (app: any) => void): Promise<string> {
      install(config, names);
      app = await listen(makeApp(extra));
      return app.url;
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

    it('names the server span after the route with the mount paths joined, sets http.route, one server span only', async () => {
      const url = await start();
      const parent = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
      assert.equal((await get(`${url}/api/v1/users/42?x=1`, { traceparent: parent })).body, '{"id":"42"}');
      await tracer.waitFor(3);
      await tracer.settle();
      const servers = tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.tags['http.url']?.startsWith(url));
      assert.equal(servers.length, 1, 'one server span per request');
      const [span] = servers;
      assert.equal(span.operationName, 'GET /api/v1/users/:id');
      assert.equal(span.tags['http.route'], '/api/v1/users/:id');
      assert.equal(span.parentId, '0123456789abcdef');
      assert.equal(seen.inTimeout, span, 'currentSpan() in a callback of the handler is the server span');
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'].startsWith(back.url)) as RecordedSpan;
      assert.equal(client.parentId, span.id, 'the outbound call made in the handler is a child of the server span');
    });

    it('sub-apps and several params', async () => {
      const url = await start();
      assert.equal((await get(`${url}/admin/orgs/a/items/b`)).body, 'a/b');
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'GET /admin/orgs/:org/items/:item');
    });

    it('a request that matches no route keeps HTTP GET, or GET 404 with notFoundAs404', async () => {
      const url = await start();
      assert.equal((await get(`${url}/nope`)).status, 404);
      assert.equal((await tracer.waitFor(1))[0].operationName, 'HTTP GET');
      await app!.close();
      uninstallAllPatches();
      tracer.reset();
      const url2 = await start({ hooks: { httpServer: { notFoundAs404: true } } });
      assert.equal((await get(`${url2}/api/nope`)).status, 404);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'GET 404');
      assert.equal(span.tags['http.route'], undefined);
    });

    for (const [path, message, route] of [
      ['/api/boom', 'kaput', 'GET /api/boom'],
      ['/api/v1/async-boom', 'async kaput', 'GET /api/v1/async-boom'],
    ]) {
      it(`an error the error middleware turns into a 500 page (${path}): error=true with the error logged`, async () => {
        const url = await start();
        const reply = await get(`${url}${path}`);
        assert.equal(reply.status, 500);
        assert.equal(reply.body, `handled: ${message}`);
        const [span] = await tracer.waitFor(1);
        assert.equal(span.operationName, route);
        assert.equal(span.tags.error, true);
        assert.equal(span.errorLog()?.fields.message, message);
      });
    }

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
    });

    it('currentSpan() in a handler is the request span: a tag added there is on it', async () => {
      const url = await start(undefined, undefined, (a) =>
        a.get('/tag', (_req: any, res: any) => {
          currentSpan()?.setTag('user.tier', 'gold');
          res.send('ok');
        }),
      );
      await get(`${url}/tag`);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'GET /tag');
      assert.equal(span.tags['user.tier'], 'gold');
    });

    it('middlewareSpans: one child span per middleware and handler, named after the function', async () => {
      const url = await start({ hooks: { express: { middlewareSpans: true } } }, undefined, (a) => a.use(function stamp(_req: any, _res: any, next: any) { next(); }));
      await get(`${url}/admin/orgs/a/items/b`);
      await tracer.waitFor(3);
      await tracer.settle();
      const root = tracer.finished.find((s) => s.tags['span.kind'] === 'server') as RecordedSpan;
      const names = tracer.finished.filter((s) => s.parentId === root.id).map((s) => s.operationName);
      assert.ok(names.includes('stamp'), names.join(','));
      assert.ok(names.includes('<anonymous>'), names.join(','));
      assert.ok(!names.includes('router') && !names.includes('mounted_app'), names.join(','));
    });

    it('no middleware spans by default', async () => {
      const url = await start();
      await get(`${url}/admin/orgs/a/items/b`);
      await tracer.waitFor(1);
      await tracer.settle();
      assert.equal(tracer.finished.filter((s) => s.tags['span.kind'] === undefined || s.tags['span.kind'] === 'server' || s.tags.component === 'express').length, 1);
    });

    it('toggles: express off keeps HTTP GET; httpServer off makes no span at all', async () => {
      let url = await start({ hooks: { express: false } });
      await get(`${url}/api/v1/users/1`);
      await tracer.waitFor(2);
      assert.equal(tracer.finished.find((s) => s.tags['span.kind'] === 'server')?.operationName, 'HTTP GET');
      await app!.close();
      uninstallAllPatches();
      tracer.reset();
      url = await start({ hooks: { httpServer: false } });
      assert.equal((await get(`${url}/admin/orgs/a/items/b`)).body, 'a/b');
      await tracer.settle(100);
      assert.equal(tracer.finished.filter((s) => s.tags['span.kind'] === 'server').length, 0);
    });
  });
}
