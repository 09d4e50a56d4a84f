/**
 * koa 2 and 3, with `@koa/router` or `koa-router`: names the server span that httpServer opened after
 * the matched route, records the errors thrown or rejected in any middleware, and, with
 * `middlewareSpans`, adds a child span per middleware and router handler. The span logic is in
 * ../tracing/koa, loaded when koa or a router is.
 */
import type { FrameworkHookOptions } from '../cores/http-server';
import { defineHook, lazyModule } from '../registry/define';
import type { HookTarget } from '../registry/define';

export type KoaOptions = FrameworkHookOptions;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const tracing = lazyModule(() => require('../tracing/koa') as typeof import('../tracing/koa'));

export const koaHook = defineHook<'koa', KoaOptions>({
  name: 'koa',
  summary: 'koa 2/3 with @koa/router or koa-router: names the httpServer span after the route, records errors',
  targets: [
    { module: 'koa', versions: '>=2 <4', patch: (exports, ctx) => tracing().patchKoa(exports, ctx) },
    ...['@koa/router', 'koa-router'].map((module): HookTarget<KoaOptions, undefined> => ({
      module,
      versions: '>=8',
      patch: (exports, ctx) => tracing().patchRouter(exports, ctx),
    })),
  ],
});
