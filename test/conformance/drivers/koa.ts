import http from 'node:http';
import type { Driver } from '../driver';
import { arrivedSlow, frameworkDriver, listen } from './framework';

/** `Router` of `@koa/router` (15: a CommonJS build whose export is the class) or `koa-router`. */
function routerClass(exports: any): any {
  return typeof exports === 'function' ? exports : (exports.default ?? exports.Router);
}

function koaDriver(label: string, koaModule: string, routerModule: string): Driver {
  return frameworkDriver({
    name: label,
    hook: 'koa',
    config: koaModule === 'koa2' ? { aliases: { koa2: 'koa' } } : undefined,
    targets: () => {
      const Koa = require(koaModule);
      const Router = routerClass(require(routerModule));
      return [[Koa.prototype, 'handleRequest'], [Koa.prototype, 'callback'], [Router.prototype, 'register']];
    },
    async start() {
      const Koa = require(koaModule);
      const Router = routerClass(require(routerModule));
      const app = new Koa();
      app.silent = true;
      const conf = new Router({ prefix: '/conf' });
      conf.get('/items/:id', async (ctx: any) => {
        if (ctx.params.id === 'destroy') {
          ctx.respond = false;
          ctx.req.socket.destroy();
          return;
        }
        if (ctx.params.id === 'slow') {
          arrivedSlow();
          await new Promise((resolve) => setTimeout(resolve, 30));
        }
        ctx.body = 'ok';
      });
      app.use(conf.routes());
      return listen(http.createServer(app.callback()));
    },
    // OpenTelemetry patches the module named `koa` (not the `koa2` alias): koa@3 only.
    otel: koaModule === 'koa' ? { module: '@opentelemetry/instrumentation-koa', export: 'KoaInstrumentation', reload: [require.resolve('./otel-parent'), 'http', koaModule, routerModule] } : undefined,
  });
}

export const koaDrivers: Driver[] = [koaDriver('koa@3', 'koa', '@koa/router'), koaDriver('koa@2', 'koa2', 'koa-router')];
