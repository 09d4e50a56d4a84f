/**
 * fastify 5 and 4: what is particular to fastify. The shared framework tests (route names, errors, 404,
 * traced() as route option and scope hook, tracedAttributes, hooks, handler spans, toggles) run for
 * fastify in test/frameworks/contract.test.ts.
 */
import assert from 'node:assert/strict';
import { frameworkSuite, get, request, serverSpans } from '../frameworks/harness';
import { fastifyDrivers } from '../frameworks/drivers/fastify';

for (const driver of fastifyDrivers) {
  describe(`fastify hook (${driver.label})`, function () {
    this.timeout(30000);
    const { tracer, seen, back, start } = frameworkSuite(driver);

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
  });
}
