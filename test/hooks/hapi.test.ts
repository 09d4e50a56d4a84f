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
