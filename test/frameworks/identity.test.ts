/**
 * The contract for the functions an app hands a framework (issue 24): wherever the framework hands one
 * back to the app, it is the very function the app wrote, traced or not; and every wrapper of ours of an
 * app's function (callbacks, middleware) has its name and length.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { installPatches, uninstallAllPatches } from '../../src';
import { asWrapperOf } from '../../src/registry/wrap';
import { RecordingTracer } from '../helpers/tracer';

 

interface Framework {
  name: string;
  hook: 'express' | 'koa' | 'fastify' | 'hapi';
  /** Registers `fn` as a route handler or middleware, starts serving, and returns what the framework hands back for it. */
  handBack(fn: (...args: any[]) => any): Promise<unknown>;
}

function expressFramework(name: string, moduleName: string): Framework {
  return {
    name,
    hook: 'express',
    async handBack(fn) {
      const app = require(moduleName)();
      app.get('/x', fn);
      const server = app.listen(0);
      server.close();
      const router = moduleName === 'express4' ? app._router : app.router;
      const layer = router.stack.find((l: any) => l.route?.path === '/x');
      return layer.route.stack[0].handle;
    },
  };
}

function koaFramework(name: string, moduleName: string): Framework {
  return {
    name,
    hook: 'koa',
    async handBack(fn) {
      const Koa = require(moduleName);
      const app = new Koa();
      app.use(fn);
      http.createServer(app.callback());
      return app.middleware[0];
    },
  };
}

function fastifyFramework(name: string, moduleName: string): Framework {
  return {
    name,
    hook: 'fastify',
    async handBack(fn) {
      const app = require(moduleName)();
      let seen: unknown;
      app.addHook('onRoute', (route: any) => {
        if (route.method === 'GET') seen = route.handler;
      });
      app.get('/x', fn);
      await app.ready();
      await app.close();
      return seen;
    },
  };
}

const hapi: Framework = {
  name: '@hapi/hapi@21',
  hook: 'hapi',
  async handBack(fn) {
    const server = require('@hapi/hapi').server();
    server.route({ method: 'GET', path: '/x', handler: fn });
    return server.table()[0].settings.handler;
  },
};

const FRAMEWORKS: Framework[] = [
  expressFramework('express@5', 'express'),
  expressFramework('express@4', 'express4'),
  koaFramework('koa@3', 'koa'),
  koaFramework('koa@2', 'koa2'),
  fastifyFramework('fastify@5', 'fastify'),
  fastifyFramework('fastify@4', 'fastify4'),
  hapi,
];

describe('app functions handed back by the frameworks', function () {
  this.timeout(20000);
  const tracer = new RecordingTracer();
  afterEach(() => uninstallAllPatches());

  for (const framework of FRAMEWORKS) {
    for (const middlewareSpans of [false, true]) {
      it(`${framework.name} (middlewareSpans: ${middlewareSpans}): the very function the app registered`, async () => {
        installPatches(['httpServer', framework.hook], { tracer, aliases: { express4: 'express', koa2: 'koa', fastify4: 'fastify' }, hooks: { [framework.hook]: { middlewareSpans } } });
        // Arity 2 fits a handler of every one of them (koa middleware, express, fastify and hapi handlers).
        async function appHandler(_a: unknown, _b: unknown): Promise<string> {
          return 'ok';
        }
        const back = await framework.handBack(appHandler);
        assert.equal(back, appHandler);
      });
    }
  }

  it('asWrapperOf: a wrapper has the name and length of what it wraps', () => {
    function onMessage(_a: unknown, _b: unknown, _c: unknown): void {}
    const wrapper = asWrapperOf(onMessage, function (this: unknown) {
      return onMessage.apply(this, arguments as unknown as [unknown, unknown, unknown]);
    });
    assert.equal(wrapper.name, 'onMessage');
    assert.equal(wrapper.length, 3);
    const anonymous = asWrapperOf(
      () => undefined,
      (x: unknown) => x,
    );
    assert.equal(anonymous.length, 0);
  });
});
