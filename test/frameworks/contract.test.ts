/**
 * The contract every web-framework hook keeps (express, koa, fastify, hapi), run through a driver per
 * framework and major version (drivers/): the server span that httpServer opened is named after the route
 * and is the active span in the handler; errors, 404s, traced(), tracedAttributes, request/response hooks,
 * middleware spans, the toggles, and the app's functions handed back to it unchanged.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { uninstallAllPatches } from '../../src';
import type { RecordedSpan } from '../helpers/tracer';
import { childrenOf, frameworkSuite, get, serverSpans } from './harness';
import { FRAMEWORKS } from './drivers';

const PARENT = '00-0123456789abcdef0123456789abcdef-0123456789abcdef-01';
const TRACED_PARENT = '00-0123456789abcdef0123456789abcdef-00000000000000aa-01';

for (const driver of FRAMEWORKS) {
  describe(`framework contract (${driver.label})`, function () {
    this.timeout(30000);
    const { tracer, seen, events, back, start, restart, install } = frameworkSuite(driver);
    const route = (template: string): string => `GET ${driver.route(template)}`;
    const nonClient = (): string[] => tracer.finished.filter((s) => s.tags['span.kind'] !== 'client').map((s) => s.operationName);
    const clientOf = (url: string): RecordedSpan | undefined => tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'] === url);
    /** GETs `url`, leaves once the app signals `waiting`, and resolves once it signals `signal`. */
    const leaveWhileWaiting = async (url: string, signal: string): Promise<void> => {
      const waiting = once(events, 'waiting');
      const done = once(events, signal);
      const client = http.get(url);
      client.on('error', () => undefined);
      await waiting;
      client.destroy();
      await done;
    };

    it('names the server span after the route with the mount paths joined, sets http.route, one server span only', async () => {
      const url = await start();
      assert.equal((await get(`${url}/api/v1/users/42?x=1`, { traceparent: PARENT })).body, '{"id":"42"}');
      await tracer.waitFor(3);
      await tracer.settle();
      const servers = tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.tags['http.url']?.startsWith(url));
      assert.equal(servers.length, 1, 'one server span per request');
      const [span] = servers;
      assert.equal(span.operationName, route('/api/v1/users/:id'));
      assert.equal(span.tags['http.route'], driver.route('/api/v1/users/:id'));
      assert.equal(span.tags['http.status_code'], 200);
      assert.equal(span.parentId, '0123456789abcdef');
      assert.equal(seen.afterAwait, span, 'currentSpan() after await in the handler is the server span');
      assert.equal(seen.inTimeout, span, 'currentSpan() in a callback of the handler is the server span');
      assert.equal(clientOf(`${back().url}/user/42`)?.parentId, span.id, 'the outbound call made in the handler is a child of the server span');
    });

    it('several params under a prefix (sub-app, router or plugin)', async () => {
      const url = await start();
      assert.equal((await get(`${url}/admin/orgs/a/items/b`)).body, 'a/b');
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, route('/admin/orgs/:org/items/:item'));
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

    const serverErrors = [['/api/boom', 'kaput', '/api/boom', 500], ['/api/v1/async-boom', 'async kaput', '/api/v1/async-boom', 500], ...(driver.moreServerErrors ?? [])] as const;
    for (const [path, message, template, status] of serverErrors) {
      for (const errorPage of driver.ownErrorReply ? [false, true] : [true]) {
        it(`a server error (${path}) the ${errorPage ? 'app’s error page' : 'framework'} answers: error=true with the error logged once`, async () => {
          const url = await start(undefined, undefined, errorPage ? driver.errorPage : undefined);
          const reply = await get(`${url}${path}`);
          assert.equal(reply.status, errorPage ? 500 : status);
          if (errorPage) assert.equal(reply.body, `handled: ${message}`);
          const [span] = await tracer.waitFor(1);
          assert.equal(span.operationName, route(template));
          assert.equal(span.tags.error, true);
          assert.equal(span.tags['http.status_code'], reply.status);
          assert.equal(span.errorLog()?.fields.message, message);
          assert.equal(span.logs.filter((l) => 'error.object' in l.fields).length, 1, 'logged once');
        });
      }
    }

    if (driver.clientError !== undefined) {
      it('a client error (400) is not an error of the server span', async () => {
        const url = await start(undefined, undefined, driver.clientError);
        assert.equal((await get(`${url}/bad`)).status, 400);
        const [span] = await tracer.waitFor(1);
        assert.equal(span.operationName, 'GET /bad');
        assert.equal(span.tags.error, undefined);
      });

      it('a client error (400) the app’s error page answers 500: error=true with that error logged once', async () => {
        const url = await start(undefined, undefined, (app) => {
          driver.errorPage(app);
          driver.clientError!(app);
        });
        const reply = await get(`${url}/bad`);
        assert.deepEqual(reply, { status: 500, body: 'handled: bad input' });
        const [span] = await tracer.waitFor(1);
        assert.equal(span.tags.error, true);
        assert.equal(span.tags['http.status_code'], 500);
        assert.equal(span.errorLog()?.fields.message, 'bad input');
        assert.equal(span.logs.filter((l) => 'error.object' in l.fields).length, 1, 'logged once');
      });
    }

    it('an error the app answers 404 (NotFound, no status of its own) is not an error of the server span', async () => {
      const url = await start(undefined, undefined, driver.notFound);
      const reply = await get(`${url}/missing`);
      assert.deepEqual(reply, { status: 404, body: 'not found: user 42 not found' });
      for (const [path] of driver.moreNotFound ?? []) assert.equal((await get(`${url}${path}`)).status, 404, path);
      // A server span and the test client's span per request.
      await tracer.waitFor(2 * (1 + (driver.moreNotFound?.length ?? 0)));
      await tracer.settle();
      const spans = tracer.ofKind('server');
      const templates = ['/missing', ...(driver.moreNotFound ?? []).map(([, template]) => template)];
      assert.deepEqual(spans.map((s) => s.operationName), templates.map(route));
      for (const span of spans) {
        assert.equal(span.tags['http.status_code'], 404, span.operationName);
        assert.equal(span.tags.error, undefined, `${span.operationName}: no error tag`);
        assert.deepEqual(span.logs, [], `${span.operationName}: no error logged`);
      }
    });

    it('work after the response (an await, then an outbound call) stays under the finished server span', async () => {
      const url = await start();
      const done = once(events, 'afterResponse');
      assert.equal((await get(`${url}/after-response`, { traceparent: PARENT })).body, 'sent');
      await done;
      await tracer.settle();
      const [server] = serverSpans(tracer, route('/after-response'));
      assert.ok(server.endTime !== undefined, 'the server span finished');
      assert.equal(server.parentId, '0123456789abcdef');
      const client = clientOf(`${back().url}/after-response`) as RecordedSpan;
      assert.ok(client.startTime >= server.endTime!, 'the call was made after the response');
      assert.equal(client.parentId, server.id, 'the call after the response is a child of the request’s server span');
      assert.equal(client.traceId, server.traceId);
      assert.equal(seen.afterResponse, server, 'currentSpan() after the response is still the request’s span (log correlation)');
    });

    for (const traceAllRequests of [false, true]) {
      it(`traced() after the client has gone starts no span${traceAllRequests ? ' (traceAllRequests: the aborted request’s span finished once, named after its route, the abort logged, no status)' : ' (traceAllRequests: false)'}`, async () => {
        const url = await start({ hooks: { httpServer: { traceAllRequests } } });
        await leaveWhileWaiting(`${url}/slow-traced`, 'lateTraced');
        await tracer.settle();
        const servers = tracer.started.filter((s) => s.tags['span.kind'] === 'server');
        if (!traceAllRequests) {
          assert.deepEqual(servers, [], 'no server span started after the abort');
          return;
        }
        assert.equal(servers.length, 1, 'no second server span after the abort');
        const [span] = servers;
        assert.equal(span.finishCount, 1);
        // The client left in the route's slow middleware (fastify: an onRequest hook), after the route matched.
        assert.equal(span.operationName, route('/slow-traced'));
        assert.equal(span.tags['http.route'], driver.route('/slow-traced'));
        assert.equal(span.tags.error, true);
        assert.equal('http.status_code' in span.tags, false, 'no response was sent');
        assert.deepEqual(span.logs.map((l) => [l.fields.event, l.fields.message]), [['abort', 'connection closed before the response was sent']]);
      });
    }

    it('the framework’s notice that the client left (fastify onRequestAbort, hapi disconnect, req close) runs with the request’s span active', async () => {
      const url = await start();
      await leaveWhileWaiting(`${url}/abort-notice`, 'clientGone');
      await tracer.settle();
      const servers = tracer.ofKind('server').filter((s) => s.tags['http.url'] === `${url}/abort-notice`);
      assert.equal(servers.length, 1);
      assert.equal(seen.clientGone, servers[0]);
      // Named after its route though it ended first (koa names a span once its middleware is done).
      assert.equal(servers[0].operationName, route('/abort-notice'));
      assert.equal(servers[0].tags['http.route'], driver.route('/abort-notice'));
    });

    it('concurrent requests keep their own route names and parents', async () => {
      const url = await start();
      const n = 40;
      await Promise.all(Array.from({ length: n }, (_, i) => (i % 2 === 0 ? get(`${url}/api/v1/users/${i}`) : get(`${url}/admin/orgs/o${i}/items/${i}`))));
      await tracer.waitFor(n + n / 2);
      await tracer.settle();
      const users = serverSpans(tracer, route('/api/v1/users/:id'));
      const items = serverSpans(tracer, route('/admin/orgs/:org/items/:item'));
      assert.equal(users.length, n / 2);
      assert.equal(items.length, n / 2);
      for (const span of items) assert.match(span.tags['http.url'], /\/admin\/orgs\/o\d+\/items\/\d+$/);
      for (const span of users) {
        const id = span.tags['http.url'].split('/').pop();
        assert.equal(clientOf(`${back().url}/user/${id}`)?.parentId, span.id, `request ${id}: its outbound call under its own server span`);
      }
    });

    it('traceAllRequests: false traces only routes with traced(); the others pass the incoming context on', async () => {
      const alsoTraced = driver.alsoTraced ?? [];
      const url = await start({ hooks: { httpServer: { traceAllRequests: false } } });
      await get(`${url}/traced`, { traceparent: TRACED_PARENT });
      for (const path of alsoTraced) await get(`${url}${path}`);
      await get(`${url}/untraced`, { traceparent: TRACED_PARENT });
      await get(`${url}/plain`);
      await tracer.waitFor(2 + alsoTraced.length);
      await tracer.settle();
      const servers = tracer.finished.filter((s) => s.tags['span.kind'] === 'server');
      assert.deepEqual(servers.map((s) => s.operationName), ['GET /traced', ...alsoTraced.map((path) => `GET ${path}`)]);
      assert.equal(servers[0].tags['http.route'], '/traced');
      assert.equal(servers[0].parentId, '00000000000000aa');
      assert.equal(seen.tracedActive, servers[0]);
      assert.equal(seen.untracedActive, undefined, 'no span in an untraced request');
      const client = clientOf(`${back().url}/from-untraced`) as RecordedSpan;
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

    const handlerSpans = driver.handlerSpans;
    if (handlerSpans !== undefined) {
      it('middlewareSpans: one child span per route handler, named after the function (or <anonymous>)', async () => {
        const url = await start({ hooks: { [driver.hook]: { middlewareSpans: true } } }, undefined, handlerSpans.extra);
        for (const path of handlerSpans.paths) await get(`${url}${path}`);
        await tracer.waitFor(8);
        await tracer.settle();
        const users = childrenOf(tracer, route('/api/v1/users/:id'));
        assert.deepEqual(users.map((s) => [s.operationName, s.tags.component]), [['getUser', driver.hook]]);
        assert.equal(seen.afterAwait, users[0], 'the handler runs under its span');
        assert.equal(clientOf(`${back().url}/user/3`)?.parentId, users[0].id);
        for (const [name, children] of Object.entries(handlerSpans.children)) assert.deepEqual(childrenOf(tracer, name).map((s) => s.operationName), children);
      });
    }

    it('no middleware spans by default', async () => {
      const url = await start();
      await get(`${url}/admin/orgs/a/items/b`);
      await tracer.waitFor(1);
      await tracer.settle();
      assert.deepEqual(nonClient(), [route('/admin/orgs/:org/items/:item')]);
    });

    it(`toggles: ${driver.hook} off keeps HTTP GET; httpServer off makes no span at all`, async () => {
      let url = await start({ hooks: { [driver.hook]: false } });
      await get(`${url}/api/v1/users/1`);
      await tracer.waitFor(4);
      await tracer.settle();
      assert.deepEqual(tracer.finished.filter((s) => s.tags['span.kind'] === 'server' && s.tags['http.url'].startsWith(url)).map((s) => s.operationName), ['HTTP GET']);
      url = await restart({ hooks: { httpServer: false } });
      assert.equal((await get(`${url}/admin/orgs/a/items/b`)).body, 'a/b');
      await get(`${url}/api/boom`);
      await tracer.settle(100);
      assert.deepEqual(nonClient(), [], `no server span, no ${driver.hook} span`);
    });

    for (const middlewareSpans of [false, true]) {
      it(`a handler or middleware the app registered is handed back to the app with its name and length${middlewareSpans ? ' (middlewareSpans)' : ''}`, async () => {
        install({ hooks: { [driver.hook]: { middlewareSpans } } });
        const appHandler = function appHandler(_a: unknown, _b: unknown, next?: () => void): void {
          next?.();
        };
        const handedBack = (await driver.handedBack(appHandler)) as Array<((...args: unknown[]) => unknown) | undefined>;
        uninstallAllPatches();
        const kept = handedBack.map((fn) => [fn?.name, fn?.length]);
        const expected = handedBack.map(() => [appHandler.name, appHandler.length]);
        assert.deepEqual(kept, expected);
      });
    }
  });
}
