/**
 * koa 3 and 2 with @koa/router and koa-router: what is particular to koa. The shared framework tests
 * (route names, errors, 404, traced(), tracedAttributes, hooks, handler spans, toggles) run for koa in
 * test/frameworks/contract.test.ts.
 */
import assert from 'node:assert/strict';
import { currentSpan, traced } from '../../src';
import type { RecordedSpan } from '../helpers/tracer';
import { childrenOf, frameworkSuite, get, serverSpans } from '../frameworks/harness';
import { koaDrivers } from '../frameworks/drivers/koa';

for (const driver of koaDrivers) {
  describe(`koa hook (${driver.label})`, function () {
    this.timeout(30000);
    const { tracer, seen, back, start } = frameworkSuite(driver);

    it('traced() as app middleware traces every request after it', async () => {
      const url = await start({ hooks: { httpServer: { traceAllRequests: false } } }, undefined, (a) => a.use(traced()));
      await get(`${url}/admin/orgs/a/items/b`);
      const [span] = await tracer.waitFor(1);
      assert.equal(span.operationName, 'GET /admin/orgs/:org/items/:item');
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
      const root = serverSpans(tracer, 'GET /api/v1/users/:id')[0];
      const children = tracer.finished.filter((s) => s.parentId === root.id);
      const names = children.map((s) => s.operationName);
      assert.ok(names.includes('stamp'), names.join(','));
      assert.ok(names.includes('getUser'), names.join(','));
      assert.ok(children.every((s) => s.tags.component === 'koa'), JSON.stringify(children.map((s) => [s.operationName, s.tags])));
      assert.equal((seen.afterNext as RecordedSpan | undefined)?.operationName, 'stamp', 'the middleware runs under its own span');
      const client = tracer.finished.find((s) => s.tags['span.kind'] === 'client' && s.tags['http.url'].startsWith(back().url)) as RecordedSpan;
      assert.equal(client.parentId, children.find((s) => s.operationName === 'getUser')?.id, 'the handler’s outbound call is under its span');
    });

    it('middlewareSpans: a handler registered for an array of paths has one span per request', async () => {
      const url = await start({ hooks: { koa: { middlewareSpans: true } } }, undefined, (a) => {
        const router = new (driver.routerClass())();
        router.get(['/multi-a', '/multi-b'], async function multi(ctx: any) {
          ctx.body = 'multi';
        });
        a.use(router.routes());
      });
      assert.equal((await get(`${url}/multi-a`)).body, 'multi');
      assert.equal((await get(`${url}/multi-b`)).body, 'multi');
      await tracer.waitFor(2);
      await tracer.settle();
      for (const route of ['GET /multi-a', 'GET /multi-b']) assert.deepEqual(childrenOf(tracer, route).map((s) => s.operationName), ['multi'], route);
    });
  });
}
