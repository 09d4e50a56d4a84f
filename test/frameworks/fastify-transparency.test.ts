/**
 * fastify's own introspection sees the app it saw untraced (issue 24): no hook of ours in an instance
 * (printPlugins, printRoutes({ includeHooks }), the instance's hook lists), and an app's onRoute hook
 * sees the very handler it registered. Route names, errors and the active span still work.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { currentSpan, installPatches, uninstallAllPatches } from '../../src';
import { RecordingTracer } from '../helpers/tracer';
import { getReply } from '../helpers/servers';

const MAJORS: Array<[label: string, module: string]> = [
  ['fastify@5', 'fastify'],
  ['fastify@4', 'fastify4'],
];


for (const [label, moduleName] of MAJORS) {
  describe(`fastify transparency (${label})`, function () {
    this.timeout(30000);
    const tracer = new RecordingTracer();
     
    const { kHooks } = require(`${moduleName}/lib/symbols`);

    async function getUser(request: any, _reply: any): Promise<unknown> {
      return { id: request.params.id, active: currentSpan() !== undefined };
    }
    const shorthand = async (): Promise<string> => 'short';

    /** An app as fastify's own tests build them, and what it tells about itself. */
    async function build(): Promise<{ app: any; seen: any[]; view: Record<string, unknown> }> {
       
      const app = require(moduleName)();
      const seen: any[] = [];
      app.addHook('onRoute', (route: any) => seen.push(route));
      app.get('/users/:id', getUser);
      app.get('/short', { config: { x: 1 } }, shorthand);
      app.register(async (child: any) => {
        child.addHook('onRequest', async () => undefined);
        child.get('/child', async () => 'child');
      });
      await app.ready();
      const view = {
        // Without the load times, which vary.
        plugins: app.printPlugins().replace(/\d+ ms/g, 'N ms'),
        routes: app.printRoutes({ includeHooks: true, includeMeta: true }),
        onRequest: app[kHooks].onRequest.length,
        onError: app[kHooks].onError.length,
        onRoute: app[kHooks].onRoute.length,
      };
      return { app, seen, view };
    }

    afterEach(() => {
      uninstallAllPatches();
      tracer.reset();
    });

    it('adds no hook an app can see: printPlugins, printRoutes({ includeHooks }) and hook counts as untraced', async () => {
      const untraced = await build();
      await untraced.app.close();
      installPatches(['httpServer', 'fastify'], { tracer, aliases: { fastify4: 'fastify' } });
      const traced = await build();
      await traced.app.close();
      assert.deepEqual(traced.view, untraced.view);
    });

    it("an app's onRoute sees the handler it registered, identical (also a shorthand route's)", async () => {
      installPatches(['httpServer', 'fastify'], { tracer, aliases: { fastify4: 'fastify' } });
      const { app, seen } = await build();
      await app.close();
      const users = seen.find((r) => r.url === '/users/:id' && r.method === 'GET');
      assert.equal(users.handler, getUser);
      assert.equal(users.handler.length, 2);
      const short = seen.find((r) => r.url === '/short' && r.method === 'GET');
      assert.equal(short.handler, shorthand);
    });

    it('request.routeOptions.handler has the name and length fastify gives it untraced; the route is named, the span active', async () => {
      installPatches(['httpServer', 'fastify'], { tracer, aliases: { fastify4: 'fastify' } });
       
      const app = require(moduleName)();
      let handler: any;
      app.get('/h/:id', function named(request: any, reply: any) {
        handler = request.routeOptions.handler;
        reply.send({ active: currentSpan() !== undefined });
      });
      app.get('/boom', async () => {
        throw new Error('kaput');
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      try {
        assert.equal((await getReply(`${url}/h/1`)).body, '{"active":true}');
        assert.equal(handler.name, 'bound named');
        assert.equal(handler.length, 2);
        assert.equal((await getReply(`${url}/boom`)).status, 500);
        await tracer.waitFor(2);
        const names = tracer.finished.map((s) => s.operationName).sort();
        assert.deepEqual(names, ['GET /boom', 'GET /h/:id']);
        const boom = tracer.finished.find((s) => s.operationName === 'GET /boom')!;
        assert.equal(boom.tags.error, true);
        assert.equal(boom.errorLog()?.fields.message, 'kaput');
      } finally {
        await app.close();
      }
    });

    it('an error thrown in an onRequest hook is recorded, and the route named', async () => {
      installPatches(['httpServer', 'fastify'], { tracer, aliases: { fastify4: 'fastify' } });
       
      const app = require(moduleName)();
      app.get('/guarded/:id', { onRequest: async () => Promise.reject(new Error('hook kaput')) }, async () => 'never');
      await app.listen({ port: 0, host: '127.0.0.1' });
      const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      try {
        assert.equal((await getReply(`${url}/guarded/1`)).status, 500);
        const [span] = await tracer.waitFor(1);
        assert.equal(span.operationName, 'GET /guarded/:id');
        assert.equal(span.errorLog()?.fields.message, 'hook kaput');
      } finally {
        await app.close();
      }
    });
  });
}
