/**
 * express 5 and 4: what is particular to express. The shared framework tests (route names, errors, 404,
 * traced(), tracedAttributes, hooks, toggles) run for express in test/frameworks/contract.test.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { installPatches, uninstallAllPatches } from '../../src';
import { RecordingTracer } from '../helpers/tracer';
import type { RecordedSpan } from '../helpers/tracer';
import { childrenOf, frameworkSuite, get } from '../frameworks/harness';
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

    it('middlewareSpans: no span for a layer express skips (an error middleware on a request without error, a plain middleware after an error)', async () => {
      const url = await start({ hooks: { express: { middlewareSpans: true } } }, undefined, (a) => {
        a.get('/fails', function fails(_req: any, _res: any, next: any) {
          next(new Error('nope'));
        });
        a.use(function plain(_req: any, _res: any, next: any) {
          next();
        });
        a.use(function errorPage(err: any, _req: any, res: any, _next: any) {
          res.status(500).send(`handled: ${err.message}`);
        });
      });
      assert.equal((await get(`${url}/plain`)).body, 'plain');
      assert.equal((await get(`${url}/fails`)).body, 'handled: nope');
      await tracer.waitFor(2);
      await tracer.settle();
      const count = (route: string, name: string): number => childrenOf(tracer, route).filter((s) => s.operationName === name).length;
      assert.deepEqual([count('GET /plain', 'plain'), count('GET /plain', 'errorPage')], [1, 0], 'a request without error: the error middleware is skipped');
      assert.deepEqual([count('GET /fails', 'fails'), count('GET /fails', 'plain'), count('GET /fails', 'errorPage')], [1, 0, 1], 'after an error: the plain middleware is skipped');
    });
  });
}

describe('express 4: an app built before install', function () {
  this.timeout(30000);
  const tracer = new RecordingTracer();
  afterEach(() => {
    uninstallAllPatches();
    tracer.reset();
  });

  it("names a route under a RegExp mount after the pattern, never the URL's text; a string mount with a parameter as registered", async () => {
    const express = require('express4');
    const app = express();
    const files = express.Router();
    files.get('/download', (_req: any, res: any) => res.end('ok'));
    app.use(/^\/share\/[^/]+/, files);
    const items = express.Router();
    items.get('/items', (_req: any, res: any) => res.end('ok'));
    app.use('/orgs/:org', items);
    installPatches(['httpServer', 'express'], { tracer, aliases: { express4: 'express' } });
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      await get(`${url}/share/tok-SECRET-9f8e7d/download`);
      await get(`${url}/orgs/acme/items`);
      await tracer.waitFor(2);
      assert.deepEqual(
        tracer.finished.map((s) => [s.operationName, s.tags['http.route']]),
        [
          ['GET /^\\/share\\/[^/]+/download', '/^\\/share\\/[^/]+/download'],
          ['GET /orgs/:org/items', '/orgs/:org/items'],
        ],
      );
    } finally {
      server.close();
    }
  });
});
