/**
 * @hapi/hapi 21: what is particular to hapi. The shared framework tests (route names, errors and Boom
 * replies, 404, traced() as a route extension, tracedAttributes, hooks, handler spans, toggles) run for
 * hapi in test/frameworks/contract.test.ts.
 */
import assert from 'node:assert/strict';
import { currentSpan, uninstallAllPatches } from '../../src';
import type { RecordedSpan } from '../helpers/tracer';
import { frameworkSuite, get, request, serverSpans } from '../frameworks/harness';
import { hapiDriver } from '../frameworks/drivers/hapi';

const Boom = require('@hapi/boom');

describe('hapi hook (@hapi/hapi@21)', function () {
  this.timeout(30000);
  const { tracer, seen, start, install } = frameworkSuite(hapiDriver);

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
    assert.equal(seen.inPayloadHandler, serverSpans(tracer, 'POST /api/echo')[0]);
  });

  it("the error logged is the one hapi answers with, when the app's own onPreResponse (which runs after ours) fails or answers a 5xx Boom", async () => {
    const url = await start(undefined, undefined, (a) => {
      a.ext('onPreResponse', (req: any, h: any) => {
        if (req.path === '/render-fails') throw new Error('error page renderer failed');
        if (req.path === '/to-boom') return Boom.badImplementation('made a 500 in onPreResponse');
        if (req.path === '/to-ok') return h.response('friendly page').code(200);
        return h.continue;
      });
      a.route({ method: 'GET', path: '/render-fails', handler: () => Boom.notFound('no such item') });
      a.route({ method: 'GET', path: '/to-boom', handler: () => 'fine' });
      a.route({ method: 'GET', path: '/to-ok', handler: () => Boom.badGateway('upstream down') });
    });
    assert.equal((await get(`${url}/render-fails`)).status, 500);
    assert.equal((await get(`${url}/to-boom`)).status, 500);
    assert.equal((await get(`${url}/to-ok`)).status, 200);
    await tracer.waitFor(3);
    await tracer.settle();
    const logged = (name: string): unknown[] => serverSpans(tracer, name).flatMap((s) => [s.tags.error, ...s.logs.map((l) => l.fields.message)]);
    assert.deepEqual(logged('GET /render-fails'), [true, 'error page renderer failed']);
    assert.deepEqual(logged('GET /to-boom'), [true, 'made a 500 in onPreResponse']);
    assert.deepEqual(logged('GET /to-ok'), [undefined], 'a server error the app answered 200 is none');
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
});
