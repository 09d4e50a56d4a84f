/**
 * express 5 and 4: what is particular to express. The shared framework tests (route names, errors, 404,
 * traced(), tracedAttributes, hooks, toggles) run for express in test/frameworks/contract.test.ts.
 */
import assert from 'node:assert/strict';
import type { RecordedSpan } from '../helpers/tracer';
import { frameworkSuite, get } from '../frameworks/harness';
import { expressDrivers } from '../frameworks/drivers/express';

for (const driver of expressDrivers) {
  describe(`express hook (${driver.label})`, function () {
    this.timeout(30000);
    const { tracer, start } = frameworkSuite(driver);

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
  });
}
